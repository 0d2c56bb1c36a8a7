"""Covariance types: one registry entry per type (``full``, ``tied``, ``diag``, ``spherical``).

Each :class:`CovarianceType` knows its parameter shapes, how many free
parameters the whole mixture has (for BIC/AIC/ICL), how to expand its
covariances to full matrices, and its EM M-step. The Bayesian side keys its
prior pieces by the same names (:data:`COVARIANCE_TYPES`), so EM and the
Bayesian model cannot disagree on what a type means.

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

from dataclasses import dataclass
from typing import Callable

import numpy as np

from bayesgmm import _kernels

__all__ = ["COVARIANCE_TYPES", "CovarianceType", "get_covariance_type"]


def _cov_params_full(k: int, d: int) -> float:
    return k * d * (d + 1) / 2.0


def _cov_params_tied(k: int, d: int) -> float:
    return d * (d + 1) / 2.0


def _cov_params_diag(k: int, d: int) -> float:
    return k * d


def _cov_params_spherical(k: int, d: int) -> float:
    return k


def _shape_full(k: int, d: int) -> tuple[int, ...]:
    return (k, d, d)


def _shape_tied(k: int, d: int) -> tuple[int, ...]:
    return (d, d)


def _shape_diag(k: int, d: int) -> tuple[int, ...]:
    return (k, d)


def _shape_spherical(k: int, d: int) -> tuple[int, ...]:
    return (k,)


@dataclass(frozen=True)
class CovarianceType:
    """One covariance parameterisation of a Gaussian mixture.

    Attributes
    ----------
    name : str
        ``"full"``, ``"tied"``, ``"diag"`` or ``"spherical"``.
    description : str
        One-line meaning.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("spherical").to_full(np.array([1.0, 4.0]), 2, n_features=2)[1]
    array([[4., 0.],
           [0., 4.]])
    """

    name: str
    description: str
    _cov_params: Callable[[int, int], float]
    _shape: Callable[[int, int], tuple[int, ...]]

    def covariance_shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        """Shape of ``covariances_`` / ``precisions_`` in scikit-learn's layout.

        Examples
        --------
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("full").covariance_shape(3, 2)
        (3, 2, 2)
        """
        return self._shape(int(n_components), int(n_features))

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters of the whole mixture (weights, means, covariances).

        Same count as scikit-learn's ``GaussianMixture._n_parameters``:
        ``(K - 1) + K * D + covariance parameters``.

        Examples
        --------
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("full").n_parameters(2, 2)
        11
        """
        k, d = int(n_components), int(n_features)
        return int(self._cov_params(k, d) + k * d + k - 1)

    def to_full(self, covariances, n_components: int, n_features: int | None = None) -> np.ndarray:
        """Expand covariances (scikit-learn layout, any leading batch dims) to ``(..., K, D, D)``.

        Parameters
        ----------
        covariances : array-like
            ``full`` (..., K, D, D); ``tied`` (..., D, D); ``diag`` (..., K, D);
            ``spherical`` (..., K).
        n_components : int
            Number of components ``K``.
        n_features : int, optional
            Needed for ``spherical`` only (its layout has no feature axis).

        Returns
        -------
        ndarray of shape (..., K, D, D)

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("tied").to_full(np.eye(2), 3).shape
        (3, 2, 2)
        """
        c = np.asarray(covariances, dtype=np.float64)
        k = int(n_components)
        if self.name == "full":
            if c.ndim < 3 or c.shape[-3] != k:
                raise ValueError(
                    f"`covariances` for 'full' must have shape (..., {k}, D, D); got {c.shape}."
                )
            return c.copy()
        if self.name == "tied":
            if c.ndim < 2 or c.shape[-1] != c.shape[-2]:
                raise ValueError(
                    f"`covariances` for 'tied' must have shape (..., D, D); got {c.shape}."
                )
            return np.broadcast_to(c[..., None, :, :], (*c.shape[:-2], k, *c.shape[-2:])).copy()
        if self.name == "diag":
            if c.ndim < 2 or c.shape[-2] != k:
                raise ValueError(
                    f"`covariances` for 'diag' must have shape (..., {k}, D); got {c.shape}."
                )
            d = c.shape[-1]
            out = np.zeros((*c.shape, d))
            idx = np.arange(d)
            out[..., idx, idx] = c
            return out
        if n_features is None:
            raise ValueError(
                "`n_features` is required to expand 'spherical' covariances to full "
                "matrices; pass n_features=D."
            )
        if c.ndim < 1 or c.shape[-1] != k:
            raise ValueError(
                f"`covariances` for 'spherical' must have shape (..., {k}); got {c.shape}."
            )
        d = int(n_features)
        return c[..., None, None] * np.eye(d)

    def m_step(self, stats: _kernels.SufficientStatistics, reg_covar: float):
        """EM M-step: ``(nk, means, covariances)`` from sufficient statistics.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm._kernels import accumulate_statistics
        >>> from bayesgmm.covariance import get_covariance_type
        >>> st = accumulate_statistics(np.array([[0.0], [2.0]]), "full", resp=np.ones((2, 1)))
        >>> get_covariance_type("full").m_step(st, 0.0)[2]
        array([[[1.]]])
        """
        return _kernels.estimate_parameters(stats, self.name, reg_covar)

    def precision_cholesky(self, covariances) -> np.ndarray:
        """Cholesky factors of the precisions (see :func:`bayesgmm._kernels.compute_precision_cholesky`).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("diag").precision_cholesky(np.array([[4.0]]))
        array([[0.5]])
        """
        return _kernels.compute_precision_cholesky(covariances, self.name)


_REGISTRY: dict[str, CovarianceType] = {
    "full": CovarianceType(
        "full", "each component has its own general covariance matrix",
        _cov_params_full, _shape_full,
    ),
    "tied": CovarianceType(
        "tied", "all components share one general covariance matrix",
        _cov_params_tied, _shape_tied,
    ),
    "diag": CovarianceType(
        "diag", "each component has its own diagonal covariance matrix",
        _cov_params_diag, _shape_diag,
    ),
    "spherical": CovarianceType(
        "spherical", "each component has its own single variance",
        _cov_params_spherical, _shape_spherical,
    ),
}

#: The valid covariance type names, in scikit-learn's order.
COVARIANCE_TYPES: tuple[str, ...] = tuple(_REGISTRY)


def get_covariance_type(name) -> CovarianceType:
    """Look up a covariance type by name.

    Parameters
    ----------
    name : str or CovarianceType
        One of ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"``.

    Returns
    -------
    CovarianceType

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
    if isinstance(name, CovarianceType):
        return name
    if isinstance(name, str) and name in _REGISTRY:
        return _REGISTRY[name]
    raise ValueError(
        f"`covariance_type` must be one of {list(COVARIANCE_TYPES)}; got {name!r}."
    )
