"""``full``: each component has its own general covariance matrix (mclust's VVV)."""

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

#: ``full`` E/M-steps switch from the D(D+1)/2 moment features to per-component
#: products when ``D >= _PER_COMPONENT_RATIO * K`` (see :meth:`Full.per_component`).
_PER_COMPONENT_RATIO = 5


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
    # x P_k - mu_k P_k is formed before squaring, so the error grows only
    # linearly with an offset of the data; left uncentred so that results do
    # not depend on which components share a call.
    centre_log_density = False

    def mahalanobis_plan(self, means, precisions_chol):
        k, d = means.shape
        # W = [P_1 | ... | P_K]  (D, K*D);  b = [mu_k @ P_k]_k (K*D,)
        W = np.ascontiguousarray(np.transpose(precisions_chol, (1, 0, 2)).reshape(d, k * d))
        b = np.einsum("kd,kde->ke", means, precisions_chol).reshape(k * d)

        def mahalanobis(X):
            y = X @ W
            y -= b
            np.square(y, out=y)
            return np.add.reduce(y.reshape(X.shape[0], k, d), axis=2)

        return mahalanobis

    def n_moment_features(self, n_features):
        return n_features * (n_features + 1) // 2

    def expansion_conditioning(self, precisions_chol):
        return cholesky_conditioning(precisions_chol)

    def second_moment_features(self, xt, out):
        upper_moment_features(xt, out)

    def expansion_operands(self, means, precisions_chol, const):
        prec = precisions_chol @ np.swapaxes(precisions_chol, -1, -2)
        return matrix_expansion_operands(prec, means, const)

    def second_moments(self, compact, n_features):
        return expand_upper(compact, n_features)

    def per_component(self, n_features, n_components):
        # The moment-feature form (one (K, D(D+1)/2) product per chunk) does
        # half the arithmetic of the per-component form, but each of its
        # feature values is used only 2K times, so with many features and few
        # components it is limited by memory traffic; the per-component
        # products reuse each row D times. Measured crossover
        # (benchmarks/em.py, 2 cores): about D = 5 K (per-component 0.8-1.4x
        # the speed there; 3x at D = 50, K = 3).
        return n_features >= _PER_COMPONENT_RATIO * n_components

    def reuse_moment_features(self):
        return False

    def m_step(self, stats, reg_covar):
        nk, means = counts_and_means(stats)
        cov = stats.sxx / nk[:, None, None] - means[:, :, None] * means[:, None, :]
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
        d = cov.shape[-1]
        cov[:, np.arange(d), np.arange(d)] += reg_covar
        return nk, located(stats, means), cov

    def check_precisions(self, precisions, name="precisions_init"):
        check_spd_precisions(precisions, self.name, name)

    def collapsed(self, covariances, candidates, reg_covar, spread, floor):
        lam, vec = np.linalg.eigh(covariances)
        v = vec[:, :, 0]  # (K, D) direction of least variance
        dvar = np.einsum("kd,de,ke->k", v, spread.cov, v)
        return (lam[:, 0] - reg_covar <= 1e-10 * dvar) & (dvar > floor) & candidates

    def reseed_covariance(self, covariances, component, good, variance):
        if good.size:
            covariances[component] = covariances[good].mean(axis=0)
        else:
            covariances[component] = np.diag(np.full(covariances.shape[-1], variance))

    def sample(self, rng, means, covariances, counts):
        return sample_multivariate_normal(rng, means, covariances, counts)

    def random_covariances(self, rng, n_components, n_features, scale=1.0):
        return np.stack([random_spd(rng, n_features, scale) for _ in range(n_components)])

    # ============================================================ Bayesian model
