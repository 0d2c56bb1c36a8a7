"""``spherical``: each component has its own single variance (mclust's VII)."""

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


class Spherical(VarianceCovariance):
    """Each component has its own single variance: layout ``(K,)``.

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("spherical").n_parameters(3, 2)
    11
    """

    name = "spherical"
    mclust_name = "VII"
    description = "each component has its own single variance"
    shared = False
    singular_on_ties = "row"
    has_conjugate_prior = True

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

    def m_step(self, stats, reg_covar, prior=None):
        # sxx holds sum_n w r |x|^2: the mean of the diagonal variances
        nk, means = counts_and_means(stats)
        d = means.shape[1]
        if prior is not None:
            post, scatter, denom = self._map_scatter(stats, nk, means, prior)
            return nk, located(stats, post), scatter / denom
        cov = (stats.sxx[:, 0] / nk - np.sum(means**2, axis=1)) / d + reg_covar
        return nk, located(stats, means), cov

    @staticmethod
    def _map_scatter(stats, nk, means, prior):
        """MAP means, per-component scatter plus prior terms, and the per-component
        count of the posterior mode (mclust's meviip): sigma2_k = (varsigma +
        tr W_k + c_k |dev_k|^2) / (D n_k + nu + 2 + D [kappa > 0])."""
        d = means.shape[1]
        post, dev, c = map_means(stats, nk, means, prior)
        scatter = stats.sxx[:, 0] - nk * np.sum(means**2, axis=1) + c * np.sum(dev**2, axis=1)
        scatter += prior.scale
        return post, scatter, d * nk + prior.dof + 2 + d * mean_prior_count(prior)

    def log_conjugate_prior(self, means, covariances, prior):
        d = np.shape(means)[1]
        return log_normal_inverse_gamma(means, covariances, np.repeat(covariances[:, None], d, 1), prior)

    def collapsed(self, covariances, candidates, reg_covar, spread, floor):
        dvar = float(np.mean(spread.var))
        return (covariances - reg_covar <= 1e-10 * dvar) & (dvar > floor) & candidates

    def random_covariances(self, rng, n_components, n_features, scale=1.0):
        return scale**2 * rng.uniform(0.3, 1.0, size=n_components)

    # ============================================================ Bayesian model
    def pymc_prior(self, n_components, n_features, priors):
        """One half-normal standard deviation per component.

        PyMC form (value variable ``sd_log__``)::

            sd[k] ~ HalfNormal(sd_sigma_spherical)   dims (component,)
            Sigma_k = sd[k]**2 I

        with ``sd_sigma_spherical`` the root mean square of ``sd_sigma``.
        Numpy form: the log-sd half-normal block of
        :mod:`bayesgmm.covariance._blocks` on ``u = log sd``; its likelihood
        gradient is the sum over the diagonal.
        """
        import pymc as pm
        import pytensor.tensor as pt

        sd = pm.HalfNormal("sd", sigma=priors.sd_sigma_spherical, dims="component")
        return sd[:, None, None] * pt.eye(int(n_features))[None, :, :]

    def unconstrained_blocks(self, n_components, n_features):
        return [("sd_log__", (int(n_components),))]

    def pymc_initvals(self, chol):
        return {"sd": np.asarray(chol, dtype=np.float64)[:, 0, 0].copy()}

    def chol_from_unconstrained(self, u, n_components, n_features):
        K, D = int(n_components), int(n_features)
        return chol_from_sds(np.exp(np.asarray(u, dtype=np.float64))[:, None], K, D)

    def log_prior_constant(self, n_components, n_features, priors):
        return int(n_components) * float(HALFNORMAL_CONST - np.log(priors.sd_sigma_spherical))

    def log_prior_and_grad(self, chol, dchol, priors):
        K, D = chol.shape[0], chol.shape[-1]
        s = chol.reshape(K, D * D)[:, 0]
        g = dchol.reshape(K, D * D)[:, :: D + 1].sum(axis=-1) * s
        return log_sd_log_prior_and_grad(s, g, priors.sd_sigma_spherical**2)

    def compiled_block(self, n_components, n_features, priors):
        return CompiledBlock(LOG_SD, int(n_components), np.array([float(priors.sd_sigma_spherical) ** 2]), True)

