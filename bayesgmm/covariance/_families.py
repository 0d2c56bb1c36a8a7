"""The two families the four scikit-learn types fall into, and what each family shares.

``full`` and ``tied`` are made of general ``D x D`` matrices; ``diag`` and
``spherical`` of variances on the axes. The methods here are identical within a
family; everything that differs stays in the type's own module.
"""

from __future__ import annotations

import numpy as np

from bayesgmm.covariance._base import (
    CovarianceModel,
    matrix_precision_cholesky_from_precisions,
    vector_precision_cholesky,
)
from bayesgmm.covariance._blocks import log_sd_from_variances
from bayesgmm.covariance._em import (
    check_positive_precisions,
    check_spd_scale,
    check_spd_precisions,
    cholesky_conditioning,
    sample_scaled_normal,
    upper_moment_features,
)

__all__ = ["MatrixCovariance", "VarianceCovariance"]


class MatrixCovariance(CovarianceModel):
    """A covariance made of general ``D x D`` matrices (``full``, ``tied``): the precision
    factors, moment features and checks they share."""

    is_matrix = True
    has_correlations = True

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

    def n_moment_features(self, n_features):
        return n_features * (n_features + 1) // 2

    def second_moment_features(self, xt, out):
        upper_moment_features(xt, out)

    def matrix_moment_features(self, matrices):
        d = matrices.shape[-1]
        iu, ju = np.triu_indices(d)  # row-major, as upper_moment_features
        return np.asarray(matrices, dtype=np.float64)[:, iu, ju]


    def expansion_conditioning(self, precisions_chol):
        return cholesky_conditioning(precisions_chol)
    def reuse_moment_features(self):
        return False

    def check_precisions(self, precisions, name="precisions_init"):
        check_spd_precisions(precisions, self.name, name)

    def conjugate_prior_scale(self, scale, data_covariance, n_components):
        d = np.shape(data_covariance)[-1]
        if scale is None:
            return np.asarray(data_covariance, dtype=np.float64) * float(n_components) ** (-2.0 / d)
        return check_spd_scale(scale, d, self.name)


class VarianceCovariance(CovarianceModel):
    """A covariance made of variances on the axes (``diag``, ``spherical``): the precision
    factors, checks, re-seeding, sampling and log-sd transform they share."""

    is_matrix = False
    has_correlations = False

    def precision_cholesky(self, covariances):
        return vector_precision_cholesky(np.asarray(covariances, dtype=np.float64))

    def precision_cholesky_from_precisions(self, precisions):
        return np.sqrt(np.asarray(precisions, dtype=np.float64))

    def precisions_from_cholesky(self, precisions_chol):
        return np.asarray(precisions_chol, dtype=np.float64) ** 2

    def covariances_from_precisions(self, precisions):
        return 1.0 / np.asarray(precisions, dtype=np.float64)

    def second_moments(self, compact, n_features):
        return compact

    def matrix_moment_features(self, matrices):
        diag = np.diagonal(np.asarray(matrices, dtype=np.float64), axis1=-2, axis2=-1)
        if self.n_moment_features(diag.shape[-1]) == diag.shape[-1]:  # x*x per feature
            return diag.copy()
        return diag.sum(axis=-1, keepdims=True)  # |x|^2

    def reuse_moment_features(self):
        return True

    def check_precisions(self, precisions, name="precisions_init"):
        check_positive_precisions(precisions, self.name, name)

    def conjugate_prior_scale(self, scale, data_covariance, n_components):
        d = np.shape(data_covariance)[-1]
        if scale is None:
            var = float(np.trace(np.asarray(data_covariance, dtype=np.float64))) / d
            return var * float(n_components) ** (-2.0 / d)
        s = np.asarray(scale, dtype=np.float64)
        if s.ndim != 0 or not np.isfinite(s) or not s > 0:
            raise ValueError(
                f"the prior's `scale` for covariance_type={self.name!r} must be one positive "
                f"number (a variance); got {scale!r}."
            )
        return float(s)

    def reseed_covariance(self, covariances, component, good, variance):
        covariances[component] = covariances[good].mean(axis=0) if good.size else variance

    def sample(self, rng, means, covariances, counts):
        return sample_scaled_normal(rng, means, covariances, counts)

    def _unconstrained_from_layout(self, covariances, n_features):
        return log_sd_from_variances(covariances)
