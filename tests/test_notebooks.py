"""Execute every notebook in ``notebooks/`` with reduced settings.

Each notebook reads ``BAYESGMM_NOTEBOOK_QUICK=1`` from the environment and then
uses small data, few draws and few optimisation steps (see the parameter cell at
its top). A fresh copy is executed in a temporary directory with nbclient on the
``python3`` kernel, which jupyter_client starts with the interpreter running the
tests (so the environment needs only ``ipykernel``). Any cell error fails the
test, with the failing cell and its traceback in the message.

Marked ``slow``: the five notebooks take about 70 s together on an idle 2-core
machine, up to about 3 minutes on a busy one. The unmarked tests check that the
committed notebooks are saved executed, without error outputs, and small.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds per cell


def test_notebooks_are_present():
    names = [p.name for p in NOTEBOOKS]
    assert names == [
        "01_quickstart.ipynb",
        "02_uncertainty_aware_clustering.ipynb",
        "03_how_many_components.ipynb",
        "04_em_vs_posterior.ipynb",
        "05_scaling_up.ipynb",
        "06_kmeans_vs_mixture.ipynb",
        "07_anomalies.ipynb",
        "08_classification.ipynb",
        "09_wine_13_features.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_saved_executed(path):
    """The committed notebooks carry their outputs and have no error cells."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code cells"
    assert all(c.get("execution_count") for c in code), f"{path.name} is not executed"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name} was saved with an error output: {errors[0].get('ename')}"
    assert path.stat().st_size < 2 * 2**20, f"{path.name} is larger than 2 MiB"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESGMM_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # look for the "python3" kernelspec of this environment first, so that a user-level
    # kernelspec of another interpreter cannot take its place
    monkeypatch.setenv("JUPYTER_PATH", os.path.join(sys.prefix, "share", "jupyter"))
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    nb = nbformat.read(copy, as_version=4)
    for cell in nb.cells:  # execute from a clean state
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:  # pragma: no cover - failure path
        pytest.fail(f"{path.name} failed in QUICK mode:\n{exc}", pytrace=False)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    executed = sum(bool(c.get("execution_count")) for c in nb.cells if c.cell_type == "code")
    assert executed == n_code
