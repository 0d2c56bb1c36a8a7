"""``full``: each component has its own general covariance matrix (mclust's VVV)."""

from __future__ import annotations

import numpy as np

from bayesgmm.covariance._base import (
    CovarianceModel,
    matrix_precision_cholesky,
    matrix_precision_cholesky_from_precisions,
)


class Full(CovarianceModel):
    """Each component has its own general covariance matrix: layout ``(K, D, D)``.

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("full").n_parameters(3, 2)
    17
    """

    name = "full"
    description = "each component has its own general covariance matrix"
    is_matrix = True
    has_correlations = True
    shared = False

    # -------------------------------------------------------------------- layout
    def covariance_shape(self, n_components, n_features):
        return (int(n_components), int(n_features), int(n_features))

    def n_covariance_parameters(self, n_components, n_features):
        k, d = int(n_components), int(n_features)
        return k * d * (d + 1) / 2.0

    def to_full(self, covariances, n_components, n_features=None):
        c = np.asarray(covariances, dtype=np.float64)
        k = int(n_components)
        if c.ndim < 3 or c.shape[-3] != k:
            raise ValueError(
                f"`covariances` for 'full' must have shape (..., {k}, D, D); got {c.shape}."
            )
        return c.copy()

    def from_full(self, full):
        return np.array(full, dtype=np.float64, copy=True)

    # -------------------------------------------------------- precision factors
    def precision_cholesky(self, covariances):
        c = np.asarray(covariances, dtype=np.float64)
        if c.ndim < 3 or c.shape[-1] != c.shape[-2]:
            raise ValueError(
                "`covariances` for covariance_type='full' must have shape "
                f"(..., n_components, n_features, n_features); got {c.shape}."
            )
        return matrix_precision_cholesky(c, "component")

    def precision_cholesky_from_precisions(self, precisions):
        return matrix_precision_cholesky_from_precisions(np.asarray(precisions, dtype=np.float64))

    def precisions_from_cholesky(self, precisions_chol):
        p = np.asarray(precisions_chol, dtype=np.float64)
        return p @ np.swapaxes(p, -1, -2)

    def covariances_from_precisions(self, precisions):
        return np.linalg.inv(np.asarray(precisions, dtype=np.float64))

    def log_det_cholesky(self, precisions_chol, n_features):
        p = np.asarray(precisions_chol, dtype=np.float64)
        return np.sum(np.log(np.diagonal(p, axis1=-2, axis2=-1)), axis=-1)

    # ============================================================ EM (E/M-steps)

    # ============================================================ Bayesian model
