"""Sphinx configuration of the bayesgmm documentation.

Build (warnings are errors)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

Notebooks (``../notebooks/*.ipynb``, reached through the ``docs/notebooks``
symlink) are rendered with their stored outputs: they are never executed here
(the test suite executes them separately).  Three pages are completed at build
time so that they cannot go stale:

* ``notebooks.md`` gets a toctree of the notebooks that exist;
* ``gallery.md`` gets a figure for every PNG in ``docs/gallery/``;
* ``cli.md`` gets the ``--help`` text of every command of :mod:`bayesgmm.cli`.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import bayesgmm  # noqa: E402

project = "bayesgmm"
author = "The bayesgmm developers"
copyright = "The bayesgmm developers"
release = bayesgmm.__version__
version = release

extensions = [
    "myst_nb",  # Markdown (MyST) pages and notebooks; includes myst_parser
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
# Only the notebooks themselves are pages; anything else in notebooks/ is not.
_nb_dir = DOCS / "notebooks"
if _nb_dir.is_dir():
    for _p in sorted(_nb_dir.rglob("*")):
        if _p.is_file() and _p.suffix != ".ipynb":
            exclude_patterns.append(str(_p.relative_to(DOCS)))

# --- MyST / myst-nb
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # notebooks are executed by the test suite, not by the build
nb_merge_streams = True
# Widget state (e.g. progress bars) has no static rendering; it is not an error.
suppress_warnings = ["mystnb.unknown_mime_type"]

# --- autodoc / numpydoc
autosummary_generate = False  # pages are written by hand; autosummary only makes tables
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc docstrings document the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# --- HTML
html_theme = "furo"
html_title = f"bayesgmm {release}"
html_static_path = []
html_theme_options = {"source_repository": "https://github.com/bayesgmm/bayesgmm/",
                      "source_branch": "main", "source_directory": "docs/"}


# --------------------------------------------------------------------------- generated parts
def _notebook_toctree() -> str:
    names = sorted(p.stem for p in _nb_dir.glob("*.ipynb")) if _nb_dir.is_dir() else []
    if not names:
        return ("The notebooks have not been added to this version yet; they will be listed "
                "here automatically once they are in the repository's `notebooks/` folder.\n")
    entries = "\n".join(f"notebooks/{n}" for n in names)
    return f"```{{toctree}}\n:maxdepth: 1\n\n{entries}\n```\n"


_GALLERY_KINDS = ("clusters", "membership_entropy", "membership_probability", "coclustering",
                  "compare_em", "trace", "rank", "pair", "selection")


# Sections that appear only when their PNGs exist.
_OPTIONAL_HEADINGS = {
    "selection": "## Component selection\n\n{func}`bayesgmm.plots.selection` on a "
                 "{func}`~bayesgmm.select_components` result.\n",
    "other": "## More plots\n",
}


def _gallery_kind(stem: str) -> str:
    for kind in sorted(_GALLERY_KINDS, key=len, reverse=True):
        if stem == kind or stem.startswith(kind + "_"):
            return kind
    return "other"


def _caption(stem: str) -> str:
    m = re.search(r"_k(\d+)$", stem)
    return f"Old Faithful, K={m.group(1)}" if m else stem.replace("_", " ")


def _gallery_figures(kind: str) -> str:
    pngs = sorted((DOCS / "gallery").glob("*.png"))
    chosen = [p for p in pngs if _gallery_kind(p.stem) == kind]
    if not chosen:
        return ""
    blocks = [_OPTIONAL_HEADINGS[kind]] if kind in _OPTIONAL_HEADINGS else []
    for p in chosen:
        blocks.append(f"```{{figure}} gallery/{p.name}\n:alt: {p.stem}\n:width: 90%\n\n"
                      f"{_caption(p.stem)} (`{p.name}`)\n```\n")
    return "\n".join(blocks)


def _cli_help(command: str) -> str:
    from bayesgmm.cli import _parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "90"
    try:
        parser = _parser()
        if command == "main":
            text = parser.format_help()
        else:
            sub = next(a for a in parser._subparsers._group_actions)
            text = sub.choices[command].format_help()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return f"```text\n{text.rstrip()}\n```\n"


_MARKER = re.compile(r"<!--\s*(notebooks|gallery|cli-help):?([\w-]*)\s*-->")


def _fill(app, docname, source):
    def repl(m):
        what, arg = m.group(1), m.group(2)
        if what == "notebooks":
            return _notebook_toctree()
        if what == "gallery":
            return _gallery_figures(arg)
        return _cli_help(arg)

    source[0] = _MARKER.sub(repl, source[0])


def _always_reread(app, env, added, changed, removed):
    # The generated parts depend on files Sphinx does not track (notebooks/, the
    # gallery PNGs, the CLI): re-read these pages on every (incremental) build.
    return ["notebooks", "gallery", "cli"]


def setup(app):
    app.connect("source-read", _fill)
    app.connect("env-get-outdated", _always_reread)
