"""The layers: no module imports from a higher layer, nothing outside the
covariance package switches on a covariance type name.

The layer of every room (a top-level module or package of ``bayesgmm``) is
listed in :data:`LAYERS`; ``docs/developer/architecture.md`` draws the same
picture. A new room must be added here (the test fails for an unknown one),
which is the moment to decide where it belongs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "bayesgmm"

#: room -> layer; a room may import rooms of its own layer or below.
LAYERS = {
    # 0: foundations every layer may use
    "exceptions": 0,
    "_data": 0,
    "_validation": 0,  # import-compatibility shim of _data
    "_estimator": 0,
    # 1: numpy kernels, and the numba kernels' exponential
    "_kernels": 1,
    "_exp": 1,
    # 2: covariance parameterisations (the registry)
    "covariance": 2,
    # 3: EM, bundled/synthetic data, the DataTree layout and storage
    "em": 3,
    "datasets": 3,
    "_datatree": 3,
    # 4: the model: priors, the PyMC model, the fast numpy density
    "priors": 4,
    "model": 4,
    "_logdensity": 4,
    "_compiled": 4,  # the numba twin of _logdensity
    # 5: inference (NUTS, VI, chain starts)
    "inference": 5,
    # 6: posterior post-processing (relabelling, memberships, comparison)
    "posterior": 6,
    # 7: diagnostics of a fit
    "diagnostics": 7,
    # 8: the user-facing Bayesian estimator composing the layers below
    "bayesian": 8,
    # 9: component-count selection (fits EM and Bayesian models)
    "selection": 9,
    # 9: tasks built on the estimators: classification, anomalies, k-means comparison
    "classification": 9,
    "anomaly": 9,
    "kmeans": 9,
    # 10: plots (draw precomputed results)
    "plots": 10,
    # 11: command line
    "cli": 11,
}

#: Names a module may import from the package root itself.
ROOT_NAMES = {"__version__"}


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        room = rel.parts[0].removesuffix(".py")
        if room == "__init__":
            continue  # the package root: lazy public names, above every layer
        yield path, room


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "bayesgmm":
                for alias in node.names:
                    yield node.lineno, alias.name, True
            elif node.module.startswith("bayesgmm."):
                yield node.lineno, node.module.split(".")[1], False
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            # relative imports inside a package stay in the room; from the
            # package root they name a room
            if node.level == 1 and path.parent == PKG and node.module:
                yield node.lineno, node.module.split(".")[0], False
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("bayesgmm."):
                    yield node.lineno, alias.name.split(".")[1], False


def test_every_room_has_a_layer():
    rooms = {room for _, room in _modules()}
    unknown = sorted(rooms - set(LAYERS))
    assert not unknown, (
        f"rooms without a layer: {unknown}; add them to LAYERS in {Path(__file__).name} "
        "and to docs/developer/architecture.md"
    )


@pytest.mark.parametrize("path,room", list(_modules()), ids=lambda v: str(v) if isinstance(v, str) else v.name)
def test_no_import_from_a_higher_layer(path, room):
    if room not in LAYERS:
        pytest.skip("reported by test_every_room_has_a_layer")
    bad = []
    for line, name, from_root in _imports(path):
        if from_root:
            if name in ROOT_NAMES:
                continue
            target = name  # `from bayesgmm import posterior` names a room
        else:
            target = name
        if target == room:
            continue
        if target not in LAYERS:
            bad.append(f"line {line}: unknown room {target!r}")
        elif LAYERS[target] > LAYERS[room]:
            bad.append(
                f"line {line}: {room} (layer {LAYERS[room]}) imports {target} "
                f"(layer {LAYERS[target]})"
            )
    assert not bad, f"{path.relative_to(ROOT)}:\n" + "\n".join(bad)


_TYPE_NAMES = {"full", "tied", "diag", "spherical"}


def _type_switches(path: Path):
    """Comparisons with a type name (``ct == "full"``, ``ct in ("full", "tied")``)
    and dicts keyed by several type names (``{"full": ..., "diag": ...}[ct]``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for comp in [node.left, *node.comparators]:
                for sub in ast.walk(comp):
                    if isinstance(sub, ast.Constant) and sub.value in _TYPE_NAMES:
                        yield f"line {node.lineno}: compares with {sub.value!r}"
        elif isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if len(keys & _TYPE_NAMES) >= 2:
                yield f"line {node.lineno}: a dict keyed by {sorted(keys & _TYPE_NAMES)}"


@pytest.mark.parametrize(
    "path",
    [p for p, room in _modules() if room != "covariance"],
    ids=lambda p: str(p.relative_to(PKG)),
)
def test_no_switch_on_a_covariance_type_name(path):
    """Outside ``bayesgmm/covariance``, no comparison against a type name:
    type-specific behaviour is a method of the type's class."""
    hits = list(_type_switches(path))
    assert not hits, (
        f"{path.relative_to(ROOT)} switches on a covariance type name:\n" + "\n".join(hits)
        + "\nmove the type-specific code into its class in bayesgmm/covariance/"
    )
