"""``diag``: each component has its own diagonal covariance matrix (mclust's VVI)."""

from __future__ import annotations

import numpy as np

from bayesgmm.covariance._base import CovarianceModel, vector_precision_cholesky
from bayesgmm.covariance._em import (
    check_positive_precisions,
    counts_and_means,
    located,
    sample_scaled_normal,
)


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
    def mahalanobis_plan(self, means, precisions_chol):
        prec = precisions_chol**2  # (K, D)
        prec_T = np.ascontiguousarray(prec.T)
        mp_T = np.ascontiguousarray((means * prec).T)
        c = np.sum(means**2 * prec, axis=1)

        def mahalanobis(X):
            maha = (X * X) @ prec_T
            maha -= 2.0 * (X @ mp_T)
            maha += c
            return maha

        return mahalanobis

    def n_moment_features(self, n_features):
        return n_features

    def second_moment_features(self, xt, out):
        np.multiply(xt, xt, out=out)

    def expansion_operands(self, means, precisions_chol, const):
        prec = precisions_chol**2
        A = np.concatenate([-0.5 * prec, prec * means], axis=1).T
        c = const - 0.5 * np.sum(prec * means**2, axis=1)
        return A, c

    def second_moments(self, compact, n_features):
        return compact

    def reuse_moment_features(self):
        return True

    def m_step(self, stats, reg_covar):
        nk, means = counts_and_means(stats)
        cov = stats.sxx / nk[:, None] - means**2 + reg_covar
        return nk, located(stats, means), cov

    def check_precisions(self, precisions, name="precisions_init"):
        check_positive_precisions(precisions, self.name, name)

    def collapsed(self, covariances, candidates, reg_covar, spread, floor):
        dvar = spread.var
        per_feature = (covariances - reg_covar <= 1e-10 * dvar) & (dvar > floor)
        return np.any(per_feature, axis=1) & candidates

    def reseed_covariance(self, covariances, component, good, variance):
        covariances[component] = covariances[good].mean(axis=0) if good.size else variance

    def sample(self, rng, means, covariances, counts):
        return sample_scaled_normal(rng, means, covariances, counts)

    def random_covariances(self, rng, n_components, n_features, scale=1.0):
        return scale**2 * rng.uniform(0.3, 1.0, size=(n_components, n_features))

    # ============================================================ Bayesian model
