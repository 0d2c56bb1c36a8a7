"""``diag``: each component has its own diagonal covariance matrix (mclust's VVI)."""

from __future__ import annotations

import numpy as np

from bayesgmm.covariance._blocks import (
    HALFNORMAL_CONST,
    LOG_SD,
    CompiledBlock,
    chol_from_sds,
    log_sd_log_prior_and_grad,
)
from bayesgmm.covariance._em import (
    counts_and_means,
    located,
    log_normal_inverse_gamma,
    map_means,
    mean_prior_count,
)
from bayesgmm.covariance._families import VarianceCovariance


class Diag(VarianceCovariance):
    """Each component has its own diagonal covariance: layout ``(K, D)`` variances.

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("diag").n_parameters(3, 2)
    14
    """

    name = "diag"
    mclust_name = "VVI"
    description = "each component has its own diagonal covariance matrix"
    shared = False
    has_conjugate_prior = True

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

    def fused_statistics(self, n_features):
        from bayesgmm.covariance._fused import diag_statistics

        return diag_statistics

    def reuse_moment_features(self):
        # the fused kernel reads the rows themselves: no features to keep
        return False

    def second_moment_features(self, xt, out):
        np.multiply(xt, xt, out=out)

    def expansion_operands(self, means, precisions_chol, const):
        prec = precisions_chol**2
        A = np.concatenate([-0.5 * prec, prec * means], axis=1).T
        c = const - 0.5 * np.sum(prec * means**2, axis=1)
        return A, c

    def m_step(self, stats, reg_covar, prior=None):
        nk, means = counts_and_means(stats)
        if prior is not None:
            # mclust's mevvip: sigma2_kj = (varsigma + W_kj + c_k dev_kj^2)
            # / (n_k + nu + 2 + [kappa > 0])
            post, dev, c = map_means(stats, nk, means, prior)
            scatter = stats.sxx - nk[:, None] * means**2 + c[:, None] * dev**2 + prior.scale
            cov = scatter / (nk + prior.dof + 2 + mean_prior_count(prior))[:, None]
            return nk, located(stats, post), cov
        cov = stats.sxx / nk[:, None] - means**2 + reg_covar
        return nk, located(stats, means), cov

    def log_conjugate_prior(self, means, covariances, prior):
        return log_normal_inverse_gamma(means, covariances, covariances, prior)

    def collapsed(self, covariances, candidates, reg_covar, spread, floor):
        dvar = spread.var
        per_feature = (covariances - reg_covar <= 1e-10 * dvar) & (dvar > floor)
        return np.any(per_feature, axis=1) & candidates

    def random_covariances(self, rng, n_components, n_features, scale=1.0):
        return scale**2 * rng.uniform(0.3, 1.0, size=(n_components, n_features))

    # ============================================================ Bayesian model
    def pymc_prior(self, n_components, n_features, priors):
        """Half-normal standard deviations, one per component and feature.

        PyMC form (value variable ``sds_log__``)::

            sds[k, d] ~ HalfNormal(sd_sigma[d])      dims (component, feature)
            Sigma_k = diag(sds[k]**2)

        Numpy form: the log-sd half-normal block of
        :mod:`bayesgmm.covariance._blocks` on ``u = log sds``.
        """
        import pymc as pm
        import pytensor.tensor as pt

        sds = pm.HalfNormal("sds", sigma=priors.sd_sigma, dims=("component", "feature"))
        return sds[:, :, None] * pt.eye(int(n_features))[None, :, :]

    def unconstrained_blocks(self, n_components, n_features):
        return [("sds_log__", (int(n_components), int(n_features)))]

    def pymc_initvals(self, chol):
        return {"sds": np.diagonal(np.asarray(chol, dtype=np.float64), axis1=-2, axis2=-1).copy()}

    def chol_from_unconstrained(self, u, n_components, n_features):
        K, D = int(n_components), int(n_features)
        return chol_from_sds(np.exp(np.asarray(u, dtype=np.float64)).reshape(K, D), K, D)

    def log_prior_constant(self, n_components, n_features, priors):
        return int(n_components) * float(np.sum(HALFNORMAL_CONST - np.log(priors.sd_sigma)))

    def log_prior_and_grad(self, chol, dchol, priors):
        K, D = chol.shape[0], chol.shape[-1]
        s = chol.reshape(K, D * D)[:, :: D + 1]  # the diagonals
        lp, grad = log_sd_log_prior_and_grad(s, dchol.reshape(K, D * D)[:, :: D + 1] * s, priors.sd_sigma**2)
        return lp, grad.ravel()

    def compiled_block(self, n_components, n_features, priors):
        return CompiledBlock(LOG_SD, int(n_components), np.asarray(priors.sd_sigma, dtype=np.float64) ** 2, True)

