"""``tied``: all components share one general covariance matrix (mclust's EEE)."""

from __future__ import annotations

import numpy as np

from bayesgmm.covariance._base import (
    CovarianceModel,
    matrix_precision_cholesky,
    matrix_precision_cholesky_from_precisions,
)
from bayesgmm.covariance._em import (
    check_spd_precisions,
    cholesky_conditioning,
    counts_and_means,
    located,
    expand_upper,
    matrix_expansion_operands,
    random_spd,
    sample_multivariate_normal,
    upper_moment_features,
)


class Tied(CovarianceModel):
    """All components share one general covariance matrix: layout ``(D, D)``.

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("tied").n_parameters(3, 2)
    11
    """

    name = "tied"
    description = "all components share one general covariance matrix"
    is_matrix = True
    has_correlations = True
    shared = True

    # -------------------------------------------------------------------- layout
    def covariance_shape(self, n_components, n_features):
        return (int(n_features), int(n_features))

    def n_covariance_parameters(self, n_components, n_features):
        d = int(n_features)
        return d * (d + 1) / 2.0

    def to_full(self, covariances, n_components, n_features=None):
        c = np.asarray(covariances, dtype=np.float64)
        k = int(n_components)
        if c.ndim < 2 or c.shape[-1] != c.shape[-2]:
            raise ValueError(
                f"`covariances` for 'tied' must have shape (..., D, D); got {c.shape}."
            )
        return np.broadcast_to(c[..., None, :, :], (*c.shape[:-2], k, *c.shape[-2:])).copy()

    def from_full(self, full):
        return np.array(np.asarray(full, dtype=np.float64)[..., 0, :, :], copy=True)

    # -------------------------------------------------------- precision factors
    def precision_cholesky(self, covariances):
        c = np.asarray(covariances, dtype=np.float64)
        if c.ndim != 2 or c.shape[0] != c.shape[1]:
            raise ValueError(
                "`covariances` for covariance_type='tied' must have shape "
                f"(n_features, n_features); got {c.shape}."
            )
        return matrix_precision_cholesky(c, "the tied covariance")

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
    def mahalanobis_plan(self, means, precisions_chol):
        P = precisions_chol
        mP = means @ P  # (K, D)
        mP_sq = np.sum(mP**2, axis=1)

        def mahalanobis(X):
            y = X @ P
            return np.sum(y * y, axis=1)[:, None] - 2.0 * (y @ mP.T) + mP_sq

        return mahalanobis

    def n_moment_features(self, n_features):
        return n_features * (n_features + 1) // 2

    def expansion_conditioning(self, precisions_chol):
        return cholesky_conditioning(precisions_chol)

    def component_precision_cholesky(self, precisions_chol, k):
        return precisions_chol  # shared by all components

    def second_moment_features(self, xt, out):
        upper_moment_features(xt, out)

    def expansion_operands(self, means, precisions_chol, const):
        k, d = means.shape
        prec = np.broadcast_to(precisions_chol @ precisions_chol.T, (k, d, d))
        return matrix_expansion_operands(prec, means, const)

    def second_moments(self, compact, n_features):
        return expand_upper(compact, n_features).sum(axis=0)

    def reuse_moment_features(self):
        return False

    def m_step(self, stats, reg_covar):
        nk, means = counts_and_means(stats)
        cov = stats.sxx - (nk[:, None] * means).T @ means
        cov /= nk.sum()
        cov = 0.5 * (cov + cov.T)
        cov[np.diag_indices_from(cov)] += reg_covar
        return nk, located(stats, means), cov

    def check_precisions(self, precisions, name="precisions_init"):
        check_spd_precisions(precisions, self.name, name)

    def collapsed(self, covariances, candidates, reg_covar, spread, floor):
        # one covariance estimated from all the data: it cannot collapse onto
        # a single observation
        return np.zeros_like(candidates)

    def reseed_covariance(self, covariances, component, good, variance):
        pass  # shared by all components: nothing to re-seed

    def sample(self, rng, means, covariances, counts):
        return sample_multivariate_normal(rng, means, [covariances] * len(means), counts)

    def random_covariances(self, rng, n_components, n_features, scale=1.0):
        return random_spd(rng, n_features, scale)

    # ============================================================ Bayesian model
