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
from bayesgmm.covariance.diag import Diag
from bayesgmm.covariance.full import Full
from bayesgmm.covariance.spherical import Spherical
from bayesgmm.covariance.tied import Tied

__all__ = ["COVARIANCE_TYPES", "CovarianceModel", "CovarianceType", "get_covariance_type"]

#: Kept for compatibility: the base class's earlier name.
CovarianceType = CovarianceModel

_TYPES: tuple[type[CovarianceModel], ...] = (Full, Tied, Diag, Spherical)
_REGISTRY: dict[str, CovarianceModel] = {cls.name: cls() for cls in _TYPES}

#: The valid covariance type names, in scikit-learn's order.
COVARIANCE_TYPES: tuple[str, ...] = tuple(_REGISTRY)


def get_covariance_type(name) -> CovarianceModel:
    """Look up a covariance type by name.

    Parameters
    ----------
    name : str or CovarianceModel
        One of :data:`COVARIANCE_TYPES` (``"full"``, ``"tied"``, ``"diag"``,
        ``"spherical"``), or a type object (returned as is).

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
        f"`covariance_type` must be one of {list(COVARIANCE_TYPES)}; got {name!r}."
    )
