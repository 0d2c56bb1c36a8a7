"""``diag``: each component has its own diagonal covariance matrix (mclust's VVI)."""

from __future__ import annotations

import numpy as np

from bayesgmm.covariance._base import CovarianceModel, vector_precision_cholesky


class Diag(CovarianceModel):
    """Each component has its own diagonal covariance: layout ``(K, D)`` variances.

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("diag").n_parameters(3, 2)
    14
    """

    name = "diag"
    description = "each component has its own diagonal covariance matrix"
    is_matrix = False
    has_correlations = False
    shared = False

    # -------------------------------------------------------------------- layout
    def covariance_shape(self, n_components, n_features):
        return (int(n_components), int(n_features))

    def n_covariance_parameters(self, n_components, n_features):
        return float(int(n_components) * int(n_features))

    def to_full(self, covariances, n_components, n_features=None):
        c = np.asarray(covariances, dtype=np.float64)
        k = int(n_components)
        if c.ndim < 2 or c.shape[-2] != k:
            raise ValueError(
                f"`covariances` for 'diag' must have shape (..., {k}, D); got {c.shape}."
            )
        d = c.shape[-1]
        out = np.zeros((*c.shape, d))
        idx = np.arange(d)
        out[..., idx, idx] = c
        return out

    def from_full(self, full):
        return np.diagonal(np.asarray(full, dtype=np.float64), axis1=-2, axis2=-1).copy()

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
        return np.sum(np.log(np.asarray(precisions_chol, dtype=np.float64)), axis=-1)

    # ============================================================ EM (E/M-steps)

    # ============================================================ Bayesian model
