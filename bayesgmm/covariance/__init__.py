"""Covariance parameterisations: one class per type, one registry.

Each type is a :class:`CovarianceModel` subclass in its own module
(:mod:`~bayesgmm.covariance.full`, :mod:`~bayesgmm.covariance.tied`,
:mod:`~bayesgmm.covariance.diag`, :mod:`~bayesgmm.covariance.spherical`) that
owns everything specific to it: parameter layout and shapes, free-parameter
count, conversions to and from full matrices, precision factors, the EM
E-step operands and M-step, the PyMC prior block and the numpy unconstrained
transform. Everything else looks the type up here and calls its methods.

Shared code lives beside them: :mod:`~bayesgmm.covariance._families`
(``MatrixCovariance`` for types made of general matrices, ``VarianceCovariance``
for types made of axis variances: the methods identical within a family),
``_em`` (EM building blocks) and ``_blocks`` (the prior blocks, PyMC and numpy
forms side by side).

mclust's other ten models (:mod:`~bayesgmm.covariance.decomposed`) are
subclasses of the type whose layout they share, with their own M-step
(:mod:`~bayesgmm.covariance._decomposition`); of them only EII and EEI have a
Bayesian model (``has_bayesian_model``, :data:`BAYESIAN_COVARIANCE_TYPES`). The registry accepts every type under its name and
under its mclust name.

To add a parameterisation: write a subclass (of :class:`CovarianceModel`, or of
a family class when it shares that family's layout) in a new module and add it
to ``_TYPES`` below.

Examples
--------
>>> from bayesgmm.covariance import get_covariance_type
>>> ct = get_covariance_type("diag")
>>> ct.n_parameters(n_components=3, n_features=2)
14
>>> ct.covariance_shape(3, 2)
(3, 2)
"""

from __future__ import annotations

from bayesgmm.covariance._base import CovarianceModel
from bayesgmm.covariance.decomposed import EEI, EEV, EII, EVE, EVI, EVV, VEE, VEI, VEV, VVE
from bayesgmm.covariance.diag import Diag
from bayesgmm.covariance.full import Full
from bayesgmm.covariance.spherical import Spherical
from bayesgmm.covariance.tied import Tied

__all__ = [
    "BAYESIAN_COVARIANCE_TYPES",
    "CONJUGATE_PRIOR_TYPES",
    "COVARIANCE_TYPES",
    "EM_COVARIANCE_TYPES",
    "FULL_MATRICES",
    "MCLUST_MODELS",
    "CovarianceModel",
    "CovarianceType",
    "get_covariance_type",
]

#: Kept for compatibility: the base class's earlier name.
CovarianceType = CovarianceModel

_TYPES: tuple[type[CovarianceModel], ...] = (
    Full, Tied, Diag, Spherical, EII, EEI, VEI, EVI, VEE, EVE, VVE, EEV, VEV, EVV,
)
_INSTANCES: tuple[CovarianceModel, ...] = tuple(cls() for cls in _TYPES)
# every type under its name and its mclust name: "VVV" is the same object as "full"
_REGISTRY: dict[str, CovarianceModel] = {
    key: ct for ct in _INSTANCES for key in dict.fromkeys((ct.name, ct.mclust_name))
}

#: The type whose layout is plain full matrices ``(K, D, D)``: posterior draws and
#: every full-matrix stack are evaluated with it, whatever the fitted type.
FULL_MATRICES: CovarianceModel = _REGISTRY["full"]

#: scikit-learn's four covariance type names, in its order.
COVARIANCE_TYPES: tuple[str, ...] = tuple(ct.name for ct in _INSTANCES[:4])

#: The types with a Bayesian model (``BayesianGMM``, the posterior selection
#: methods): scikit-learn's four and mclust's EII and EEI.
BAYESIAN_COVARIANCE_TYPES: tuple[str, ...] = tuple(ct.name for ct in _INSTANCES if ct.has_bayesian_model)

#: The types whose EM offers the conjugate (MAP) prior (``GaussianMixture(prior=...)``):
#: scikit-learn's four and mclust's EII and EEI.
CONJUGATE_PRIOR_TYPES: tuple[str, ...] = tuple(ct.name for ct in _INSTANCES if ct.has_conjugate_prior)

#: mclust's fourteen model names, in mclust's order (``mclust.options("emModelNames")``);
#: VVV, EEE, VVI and VII are the same objects as ``full``, ``tied``, ``diag``, ``spherical``.
MCLUST_MODELS: tuple[str, ...] = (
    "EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
    "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV",
)

#: Every name EM accepts (``GaussianMixture``, ``select_components`` with BIC/ICL):
#: scikit-learn's four, then mclust's fourteen.
EM_COVARIANCE_TYPES: tuple[str, ...] = COVARIANCE_TYPES + MCLUST_MODELS


def get_covariance_type(name) -> CovarianceModel:
    """Look up a covariance type by name.

    Parameters
    ----------
    name : str or CovarianceModel
        One of :data:`EM_COVARIANCE_TYPES`: scikit-learn's ``"full"``,
        ``"tied"``, ``"diag"``, ``"spherical"`` or one of mclust's fourteen
        names (:data:`MCLUST_MODELS`; ``"VVV"``, ``"EEE"``, ``"VVI"``, ``"VII"``
        give the same objects as the first four), or a type object (returned
        as is).

    Returns
    -------
    CovarianceModel

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones).

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("tied").n_parameters(3, 2)
    11
    """
    if isinstance(name, CovarianceModel):
        return name
    if isinstance(name, str) and name in _REGISTRY:
        return _REGISTRY[name]
    raise ValueError(
        f"`covariance_type` must be one of {list(COVARIANCE_TYPES)} or mclust's "
        f"{list(MCLUST_MODELS)}; got {name!r}."
    )
