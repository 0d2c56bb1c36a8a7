"""``full``: each component has its own general covariance matrix (mclust's VVV)."""

from __future__ import annotations

import numpy as np

from bayesgmm.covariance._base import (
    matrix_precision_cholesky,
)
from bayesgmm.covariance._blocks import (
    PACKED_CHOLESKY,
    CompiledBlock,
    chol_from_packed,
    lkj_cholesky_constant,
    lkj_cholesky_log_prior_and_grad,
    lkj_cholesky_pymc,
    packed_from_covariances,
    packed_layout,
)
from bayesgmm.covariance._em import (
    counts_and_means,
    located,
    log_normal_inverse_wishart,
    map_means,
    mean_prior_count,
    expand_upper,
    matrix_expansion_operands,
    random_spd,
    sample_multivariate_normal,
)
from bayesgmm.covariance._families import MatrixCovariance

#: ``full`` E/M-steps switch from the D(D+1)/2 moment features to per-component
#: products when ``D >= _PER_COMPONENT_RATIO * K`` (see :meth:`Full.per_component`).
_PER_COMPONENT_RATIO = 5


class Full(MatrixCovariance):
    """Each component has its own general covariance matrix: layout ``(K, D, D)``.

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("full").n_parameters(3, 2)
    17
    """

    name = "full"
    mclust_name = "VVV"
    description = "each component has its own general covariance matrix"
    shared = False
    has_conjugate_prior = True

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

    def m_step(self, stats, reg_covar, prior=None):
        nk, means = counts_and_means(stats)
        if prior is not None:
            return self._map_step(stats, nk, means, prior)
        cov = stats.sxx / nk[:, None, None] - means[:, :, None] * means[:, None, :]
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
        d = cov.shape[-1]
        cov[:, np.arange(d), np.arange(d)] += reg_covar
        return nk, located(stats, means), cov

    def _map_step(self, stats, nk, means, prior):
        # Fraley & Raftery (2007), mclust's msvvvp: Sigma_k = (Lambda + W_k +
        # c_k dev dev^T) / (n_k + nu + D + 1 + [kappa > 0])
        post, dev, c = map_means(stats, nk, means, prior)
        d = means.shape[1]
        scatter = stats.sxx - nk[:, None, None] * means[:, :, None] * means[:, None, :]
        scatter += c[:, None, None] * dev[:, :, None] * dev[:, None, :]
        scatter += prior.scale
        scatter = 0.5 * (scatter + np.swapaxes(scatter, 1, 2))
        cov = scatter / (nk + prior.dof + d + 1 + mean_prior_count(prior))[:, None, None]
        return nk, located(stats, post), cov

    def log_conjugate_prior(self, means, covariances, prior):
        return log_normal_inverse_wishart(means, covariances, prior)

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
    def pymc_prior(self, n_components, n_features, priors):
        """Per component an LKJ correlation and half-normal standard deviations.

        PyMC form (value variables ``chol_cov_{k}_cholesky-cov-packed__``)::

            chol_cov_k ~ LKJCholeskyCov(eta=lkj_eta, n=D, sd_dist=HalfNormal(sd_sigma))
            Sigma_k = L_k L_k^T,  L_k = expand_packed_triangular(chol_cov_k)

        that is ``Sigma_k = diag(sd_k) C_k diag(sd_k)``, ``C_k ~ LKJ(lkj_eta)``,
        ``sd_kd ~ HalfNormal(sd_sigma_d)``. For ``D = 1`` (where
        ``pm.LKJCholeskyCov`` fails and the 1 x 1 correlation is fixed):
        ``sd ~ HalfNormal(sd_sigma_0)`` (component), value variable ``sd_log__``.

        Numpy form: per component the LKJ-Cholesky block of
        :mod:`bayesgmm.covariance._blocks` (packed ``L_k`` with log-diagonal;
        the same formula covers ``D = 1``).
        """
        import pymc as pm
        import pytensor.tensor as pt

        K, D = int(n_components), int(n_features)
        if D == 1:
            sd = pm.HalfNormal("sd", sigma=priors.sd_sigma[0], dims="component")
            return sd[:, None, None] * pt.ones((1, 1, 1))
        return pt.stack([lkj_cholesky_pymc(f"chol_cov_{k}", D, priors) for k in range(K)])

    def unconstrained_blocks(self, n_components, n_features):
        K, D = int(n_components), int(n_features)
        if D == 1:
            return [("sd_log__", (K,))]
        return [(f"chol_cov_{k}_cholesky-cov-packed__", (D * (D + 1) // 2,)) for k in range(K)]

    def pymc_initvals(self, chol):
        chol = np.asarray(chol, dtype=np.float64)
        if chol.shape[-1] == 1:
            return {"sd": chol[:, 0, 0].copy()}
        lay = packed_layout(chol.shape[-1])
        return {f"chol_cov_{k}": chol[k][lay.rows, lay.cols] for k in range(chol.shape[0])}

    def chol_from_unconstrained(self, u, n_components, n_features):
        return chol_from_packed(np.asarray(u, dtype=np.float64), int(n_components), int(n_features))

    def _unconstrained_from_layout(self, covariances, n_features):
        return packed_from_covariances(covariances)

    def log_prior_constant(self, n_components, n_features, priors):
        return lkj_cholesky_constant(int(n_components), int(n_features), priors)

    def log_prior_and_grad(self, chol, dchol, priors):
        K, D = chol.shape[0], chol.shape[-1]
        G = dchol.reshape(K, D * D)[:, packed_layout(D).tril_flat]
        lp, G = lkj_cholesky_log_prior_and_grad(chol, G, priors)
        return lp, G.ravel()

    def compiled_block(self, n_components, n_features, priors):
        params = np.concatenate([[priors.lkj_eta], np.asarray(priors.sd_sigma, dtype=np.float64) ** 2])
        return CompiledBlock(PACKED_CHOLESKY, int(n_components), params, False)

