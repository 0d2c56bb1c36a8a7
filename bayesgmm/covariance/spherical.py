"""``spherical``: each component has its own single variance (mclust's VII)."""

from __future__ import annotations

import numpy as np

from bayesgmm.covariance._base import CovarianceModel, vector_precision_cholesky


class Spherical(CovarianceModel):
    """Each component has its own single variance: layout ``(K,)``.

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("spherical").n_parameters(3, 2)
    11
    """

    name = "spherical"
    description = "each component has its own single variance"
    is_matrix = False
    has_correlations = False
    shared = False

    # -------------------------------------------------------------------- layout
    def covariance_shape(self, n_components, n_features):
        return (int(n_components),)

    def n_covariance_parameters(self, n_components, n_features):
        return float(int(n_components))

    def to_full(self, covariances, n_components, n_features=None):
        c = np.asarray(covariances, dtype=np.float64)
        k = int(n_components)
        if n_features is None:
            raise ValueError(
                "`n_features` is required to expand 'spherical' covariances to full "
                "matrices; pass n_features=D."
            )
        if c.ndim < 1 or c.shape[-1] != k:
            raise ValueError(
                f"`covariances` for 'spherical' must have shape (..., {k}); got {c.shape}."
            )
        return c[..., None, None] * np.eye(int(n_features))

    def from_full(self, full):
        d = np.diagonal(np.asarray(full, dtype=np.float64), axis1=-2, axis2=-1)
        # exact on matrices of this type (the mean of D equal values can round)
        return np.where((d == d[..., :1]).all(axis=-1), d[..., 0], d.mean(-1))

    # -------------------------------------------------------- precision factors
    def precision_cholesky(self, covariances):
        return vector_precision_cholesky(np.asarray(covariances, dtype=np.float64))

    def precision_cholesky_from_precisions(self, precisions):
        return np.sqrt(np.asarray(precisions, dtype=np.float64))

    def precisions_from_cholesky(self, precisions_chol):
        return np.asarray(precisions_chol, dtype=np.float64) ** 2

    def covariances_from_precisions(self, precisions):
        return 1.0 / np.asarray(precisions, dtype=np.float64)

    def log_det_cholesky(self, precisions_chol, n_features):
        return int(n_features) * np.log(np.asarray(precisions_chol, dtype=np.float64))

    # ============================================================ EM (E/M-steps)

    # ============================================================ Bayesian model
