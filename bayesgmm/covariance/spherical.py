"""``spherical``: each component has its own single variance (mclust's VII)."""

from __future__ import annotations

import numpy as np

from bayesgmm.covariance._base import CovarianceModel, vector_precision_cholesky
from bayesgmm.covariance._em import (
    check_positive_precisions,
    counts_and_means,
    located,
    sample_scaled_normal,
)


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
    def mahalanobis_plan(self, means, precisions_chol):
        prec = precisions_chol**2  # (K,)
        means_T = np.ascontiguousarray(means.T)
        c = np.sum(means**2, axis=1) * prec

        def mahalanobis(X):
            sq = np.einsum("nd,nd->n", X, X)
            maha = np.multiply.outer(sq, prec)
            maha -= 2.0 * (X @ means_T) * prec
            maha += c
            return maha

        return mahalanobis

    def n_moment_features(self, n_features):
        return 1

    def second_moment_features(self, xt, out):
        np.einsum("dn,dn->n", xt, xt, out=out[0])

    def expansion_operands(self, means, precisions_chol, const):
        prec = precisions_chol**2
        A = np.concatenate([-0.5 * prec[:, None], prec[:, None] * means], axis=1).T
        c = const - 0.5 * prec * np.sum(means**2, axis=1)
        return A, c

    def second_moments(self, compact, n_features):
        return compact

    def reuse_moment_features(self):
        return True

    def m_step(self, stats, reg_covar):
        # sxx holds sum_n w r |x|^2: the mean of the diagonal variances
        nk, means = counts_and_means(stats)
        d = means.shape[1]
        cov = (stats.sxx[:, 0] / nk - np.sum(means**2, axis=1)) / d + reg_covar
        return nk, located(stats, means), cov

    def check_precisions(self, precisions, name="precisions_init"):
        check_positive_precisions(precisions, self.name, name)

    def collapsed(self, covariances, candidates, reg_covar, spread, floor):
        dvar = float(np.mean(spread.var))
        return (covariances - reg_covar <= 1e-10 * dvar) & (dvar > floor) & candidates

    def reseed_covariance(self, covariances, component, good, variance):
        covariances[component] = covariances[good].mean(axis=0) if good.size else variance

    def sample(self, rng, means, covariances, counts):
        return sample_scaled_normal(rng, means, covariances, counts)

    def random_covariances(self, rng, n_components, n_features, scale=1.0):
        return scale**2 * rng.uniform(0.3, 1.0, size=n_components)

    # ============================================================ Bayesian model
