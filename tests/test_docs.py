"""The documentation builds without warnings (Sphinx ``-W``), from the docstrings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    out = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stderr[-6000:]}"
    assert "WARNING" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr

    pages = {p.relative_to(out).as_posix() for p in out.rglob("*.html")}
    for page in ("index.html", "getting-started.html", "user-guide/model.html",
                 "user-guide/label-switching.html", "user-guide/choosing-components.html",
                 "user-guide/diagnostics.html", "user-guide/em-vs-posterior.html", "user-guide/large-data.html",
                 "user-guide/saving.html",
                 "api/estimators.html", "api/posterior.html", "api/plots.html",
                 "api/selection.html", "api/datasets.html", "cli.html", "gallery.html",
                 "notebooks.html", "developer/contracts.html"):
        assert page in pages, page

    # the API reference is generated from the docstrings
    api = (out / "api/estimators.html").read_text()
    for name in ("bayesgmm.GaussianMixture", "bayesgmm.BayesianGMM.fit", "bayesgmm.build_model",
                 "bayesgmm.Priors"):
        assert f'id="{name}"' in api, name
    posterior_api = (out / "api/posterior.html").read_text()
    import bayesgmm.posterior

    for name in bayesgmm.posterior.__all__:
        assert f'id="bayesgmm.posterior.{name}"' in posterior_api, name
    plots_api = (out / "api/plots.html").read_text()
    import bayesgmm.plots

    for name in bayesgmm.plots.__all__:
        assert f'id="bayesgmm.plots.{name}"' in plots_api, name
    assert 'id="bayesgmm.select_components"' in (out / "api/selection.html").read_text()

    # every gallery PNG is embedded, and the CLI page has every command's --help
    gallery = (out / "gallery.html").read_text()
    for png in (DOCS / "gallery").glob("*.png"):
        assert png.name in gallery and (out / "_images" / png.name).exists(), png.name
    cli = (out / "cli.html").read_text()
    for command in ("demo", "fit", "select", "report"):
        assert f"usage: bayesgmm {command}" in cli, command

    # every notebook in notebooks/ is a page, rendered from its stored outputs
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        assert f"notebooks/{nb.stem}.html" in pages, nb.name
    # the model page renders its math
    assert 'class="math' in (out / "user-guide/model.html").read_text()
