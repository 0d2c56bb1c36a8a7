"""bayesgmm: Bayesian Gaussian mixture models.

EM point estimates (:class:`GaussianMixture`), a PyMC posterior started from them
(:class:`BayesianGMM`), cluster memberships with uncertainty, and component-count
selection (:func:`select_components`).
"""

# No ``from __future__ import annotations`` and only private helper names here:
# ``dir(bayesgmm)`` lists the public API and nothing else (tested).
import importlib as _importlib
import importlib.metadata as _metadata

try:
    __version__ = _metadata.version("bayesgmm")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

# Public names and the module that defines each.  Imported lazily so that
# ``import bayesgmm`` stays fast (pymc and pytensor are heavy) and the EM layer
# can be used without touching PyMC at all.
_LAZY = {
    "GaussianMixture": "bayesgmm.em",
    "ConjugatePrior": "bayesgmm.em",
    "BayesianGMM": "bayesgmm.bayesian",
    "build_model": "bayesgmm.model",
    "Priors": "bayesgmm.priors",
    "select_components": "bayesgmm.selection",
    "datasets": "bayesgmm.datasets",
    "plots": "bayesgmm.plots",
    "posterior": "bayesgmm.posterior",
    "diagnostics": "bayesgmm.diagnostics",
    "GaussianMixtureClassifier": "bayesgmm.classification",
    "detect_anomalies": "bayesgmm.anomaly",
    "compare_kmeans": "bayesgmm.kmeans",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    try:
        module_name = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'bayesgmm' has no attribute {name!r}") from None
    module = _importlib.import_module(module_name)
    value = module if module_name.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    # the public API only (submodules imported along the way are reachable, not listed)
    return sorted(__all__)
