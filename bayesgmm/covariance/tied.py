"""``tied``: all components share one general covariance matrix (mclust's EEE)."""

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


class Tied(MatrixCovariance):
    """All components share one general covariance matrix: layout ``(D, D)``.

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("tied").n_parameters(3, 2)
    11
    """

    name = "tied"
    mclust_name = "EEE"
    description = "all components share one general covariance matrix"
    shared = True
    singular_on_ties = None
    has_conjugate_prior = True

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

    # ============================================================ EM (E/M-steps)
    def mahalanobis_plan(self, means, precisions_chol):
        P = precisions_chol
        mP = means @ P  # (K, D)
        mP_sq = np.sum(mP**2, axis=1)

        def mahalanobis(X):
            y = X @ P
            return np.sum(y * y, axis=1)[:, None] - 2.0 * (y @ mP.T) + mP_sq

        return mahalanobis

    def component_precision_cholesky(self, precisions_chol, k):
        return precisions_chol  # shared by all components

    def expansion_operands(self, means, precisions_chol, const):
        k, d = means.shape
        prec = np.broadcast_to(precisions_chol @ precisions_chol.T, (k, d, d))
        return matrix_expansion_operands(prec, means, const)

    def second_moments(self, compact, n_features):
        return expand_upper(compact, n_features).sum(axis=0)

    def m_step(self, stats, reg_covar, prior=None):
        nk, means = counts_and_means(stats)
        if prior is not None:
            # mclust's meeeep: Sigma = (Lambda + sum_k (W_k + c_k dev dev^T))
            # / (n + nu + D + 1 + G [kappa > 0])
            post, dev, c = map_means(stats, nk, means, prior)
            d = means.shape[1]
            scatter = stats.sxx - (nk[:, None] * means).T @ means + (c[:, None] * dev).T @ dev
            scatter = scatter + prior.scale
            scatter = 0.5 * (scatter + scatter.T)
            cov = scatter / (nk.sum() + prior.dof + d + 1 + len(nk) * mean_prior_count(prior))
            return nk, located(stats, post), cov
        cov = stats.sxx - (nk[:, None] * means).T @ means
        cov /= nk.sum()
        cov = 0.5 * (cov + cov.T)
        cov[np.diag_indices_from(cov)] += reg_covar
        return nk, located(stats, means), cov

    def log_conjugate_prior(self, means, covariances, prior):
        return log_normal_inverse_wishart(means, covariances, prior, shared=True)

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
    def pymc_prior(self, n_components, n_features, priors):
        """One LKJ correlation and half-normal standard deviations shared by all components.

        PyMC form (value variable ``chol_cov_cholesky-cov-packed__``)::

            chol_cov ~ LKJCholeskyCov(eta=lkj_eta, n=D, sd_dist=HalfNormal(sd_sigma))
            Sigma_k = L L^T for every k,  L = expand_packed_triangular(chol_cov)

        For ``D = 1``: a scalar ``sd ~ HalfNormal(sd_sigma_0)``, value variable
        ``sd_log__`` (see :meth:`bayesgmm.covariance.full.Full.pymc_prior`).

        Numpy form: one LKJ-Cholesky block of :mod:`bayesgmm.covariance._blocks`;
        its likelihood gradient is the sum over the components.
        """
        import pymc as pm
        import pytensor.tensor as pt

        K, D = int(n_components), int(n_features)
        if D == 1:
            sd = pm.HalfNormal("sd", sigma=priors.sd_sigma[0])
            return pt.broadcast_to(sd[None, None, None], (K, 1, 1))
        chol = lkj_cholesky_pymc("chol_cov", D, priors)
        return pt.broadcast_to(chol[None, :, :], (K, D, D))

    def unconstrained_blocks(self, n_components, n_features):
        D = int(n_features)
        if D == 1:
            return [("sd_log__", ())]
        return [("chol_cov_cholesky-cov-packed__", (D * (D + 1) // 2,))]

    def pymc_initvals(self, chol):
        chol = np.asarray(chol, dtype=np.float64)
        if chol.shape[-1] == 1:
            return {"sd": np.asarray(chol[0, 0, 0])}
        lay = packed_layout(chol.shape[-1])
        return {"chol_cov": chol[0][lay.rows, lay.cols]}

    def chol_from_unconstrained(self, u, n_components, n_features):
        D = int(n_features)
        L = chol_from_packed(np.asarray(u, dtype=np.float64), 1, D)
        return np.broadcast_to(L, (int(n_components), D, D))

    def _unconstrained_from_layout(self, covariances, n_features):
        return packed_from_covariances(covariances[None])

    def log_prior_constant(self, n_components, n_features, priors):
        return lkj_cholesky_constant(1, int(n_features), priors)

    def log_prior_and_grad(self, chol, dchol, priors):
        K, D = chol.shape[0], chol.shape[-1]
        G = dchol.reshape(K, D * D)[:, packed_layout(D).tril_flat].sum(axis=0, keepdims=True)
        lp, G = lkj_cholesky_log_prior_and_grad(chol[:1], G, priors)
        return lp, G.ravel()

    def compiled_block(self, n_components, n_features, priors):
        params = np.concatenate([[priors.lkj_eta], np.asarray(priors.sd_sigma, dtype=np.float64) ** 2])
        return CompiledBlock(PACKED_CHOLESKY, 1, params, False)

