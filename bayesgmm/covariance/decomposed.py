"""mclust's volume/shape/orientation models beyond scikit-learn's four.

Celeux & Govaert (1995) write each component covariance as
``Sigma_k = lambda_k D_k A_k D_k^T``: volume ``lambda_k``, shape ``A_k``
(diagonal, ``det A_k = 1``) and orientation ``D_k`` (orthogonal), each Equal
across components, Variable, or the Identity; mclust names a model by these
three letters. scikit-learn's four are VVV (``full``), EEE (``tied``), VVI
(``diag``) and VII (``spherical``), in their own modules; the other ten are
here, each a subclass of the type whose layout it shares, with its own M-step
(:mod:`bayesgmm.covariance._decomposition`) and free-parameter count (mclust's
``nMclustParams``):

=====  ============================  ====================================  ==============
model  layout (as)                   covariance parameters                 M-step
=====  ============================  ====================================  ==============
EII    ``(K,)`` (spherical), equal   ``1``                                 closed form
EEI    ``(K, D)`` (diag), equal      ``D``                                 closed form
VEI    ``(K, D)`` (diag)             ``K + D - 1``                         iterative
EVI    ``(K, D)`` (diag)             ``1 + K (D - 1)``                     closed form
VEE    ``(K, D, D)`` (full)          ``K + (D + 2)(D - 1) / 2``            iterative
EVE    ``(K, D, D)`` (full)          ``1 + K (D - 1) + D (D - 1) / 2``     iterative (MM)
VVE    ``(K, D, D)`` (full)          ``K D + D (D - 1) / 2``               iterative (MM)
EEV    ``(K, D, D)`` (full)          ``D + K D (D - 1) / 2``               closed form
VEV    ``(K, D, D)`` (full)          ``K + D - 1 + K D (D - 1) / 2``       iterative
EVV    ``(K, D, D)`` (full)          ``K D (D + 1) / 2 - (K - 1)``         closed form
=====  ============================  ====================================  ==============

EII and EEI have a Bayesian model (one half-normal standard deviation shared
by all components, or one per feature: the priors of ``spherical`` and
``diag`` with the components tied). The other eight are EM models: no
Bayesian model (PyMC prior and unconstrained transform) is offered for them,
and their Bayesian methods raise ``NotImplementedError`` naming the types that
have one.
"""

from __future__ import annotations

import numpy as np

from bayesgmm.covariance import _decomposition as dec
from bayesgmm.covariance._blocks import (
    HALFNORMAL_CONST,
    chol_from_sds,
    log_sd_from_variances,
    log_sd_log_prior_and_grad,
)
from bayesgmm.covariance._em import (
    counts_and_means,
    located,
    log_normal_inverse_gamma,
    map_means,
    mean_prior_count,
)
from bayesgmm.covariance.diag import Diag
from bayesgmm.covariance.full import Full
from bayesgmm.covariance.spherical import Spherical

__all__ = ["EEI", "EEV", "EII", "EVE", "EVI", "EVV", "VEE", "VEI", "VEV", "VVE"]

class _EMOnly:
    """Mixin: the Bayesian methods raise a ``NotImplementedError`` naming the types that have one."""

    has_bayesian_model = False
    has_conjugate_prior = False

    def _no_bayesian_model(self, *args, **kwargs):
        from bayesgmm.covariance import BAYESIAN_COVARIANCE_TYPES

        raise NotImplementedError(
            f"covariance_type={self.name!r} (mclust's {self.mclust_name}) is available for EM "
            "(GaussianMixture, select_components with method='bic' or 'icl') but has no "
            f"Bayesian model; the Bayesian model supports {list(BAYESIAN_COVARIANCE_TYPES)}."
        )

    def random_covariances(self, rng, n_components, n_features, scale=1.0):
        # the parent layout's random covariances, projected onto this model
        # (their maximum-likelihood member)
        cov = super().random_covariances(rng, n_components, n_features, scale)
        return self.from_full(self.to_full(cov, n_components, n_features))

    def compiled_block(self, n_components, n_features, priors):
        # the parent layout's compiled block is the parent's model, not this one:
        # no compiled form (the numpy density samples the types that have a
        # Bayesian model, EII and EEI)
        return None

    pymc_prior = _no_bayesian_model
    unconstrained_blocks = _no_bayesian_model
    pymc_initvals = _no_bayesian_model
    chol_from_unconstrained = _no_bayesian_model
    _unconstrained_from_layout = _no_bayesian_model
    log_prior_constant = _no_bayesian_model
    log_prior_and_grad = _no_bayesian_model


def _project(solver, arr, tail: int):
    """Apply an M-step solver with unit counts to each block of the last ``tail`` dims."""
    arr = np.asarray(arr, dtype=np.float64)
    shape = arr.shape[arr.ndim - tail :]
    flat = arr.reshape(-1, *shape)
    if flat.shape[0] == 0 or shape[0] == 0:
        return arr.copy()
    # the zero matrix is its own projection (the limit of the model's members)
    return np.stack([
        solver(np.ones(shape[0]), block) if np.any(block) else block for block in flat
    ]).reshape(arr.shape)


# ----------------------------------------------------------------- spherical
class EII(_EMOnly, Spherical):
    """Equal spherical covariances ``Sigma_k = lambda I`` (mclust's EII): layout ``(K,)``, all equal.

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("EII").n_parameters(3, 2)
    9
    """

    name = "EII"
    mclust_name = "EII"
    description = "one single variance shared by all components"

    def n_covariance_parameters(self, n_components, n_features):
        return 1.0

    def from_full(self, full):
        var = super().from_full(full)
        return np.broadcast_to(var.mean(axis=-1, keepdims=True), var.shape).copy()

    def m_step(self, stats, reg_covar, prior=None):
        nk, means = counts_and_means(stats)
        d = means.shape[1]
        if prior is not None:
            # one inverse-gamma variance, G normal means: sigma2 = (varsigma +
            # sum_k (tr W_k + c_k |dev_k|^2)) / (D n + nu + 2 + D G [kappa > 0])
            # (mclust's meeiip leaves varsigma out of the numerator)
            post, scatter, denom = self._map_scatter(stats, nk, means, prior)
            pooled = (np.sum(scatter - prior.scale) + prior.scale) / (
                np.sum(denom - prior.dof - 2) + prior.dof + 2)
            return nk, located(stats, post), np.full(len(nk), pooled)
        var = (stats.sxx[:, 0] / nk - np.sum(means**2, axis=1)) / d + reg_covar
        pooled = np.sum(nk * var) / np.sum(nk)
        return nk, located(stats, means), np.full(len(nk), pooled)

    def log_conjugate_prior(self, means, covariances, prior):
        d = np.shape(means)[1]
        cov = np.asarray(covariances, dtype=np.float64)
        return log_normal_inverse_gamma(means, cov[:1], np.repeat(cov[:, None], d, 1), prior)

    has_conjugate_prior = True

    # ============================================================ Bayesian model
    has_bayesian_model = True

    def pymc_prior(self, n_components, n_features, priors):
        """One half-normal standard deviation shared by all components.

        PyMC form (value variable ``sd_log__``)::

            sd ~ HalfNormal(sd_sigma_spherical)      (a scalar)
            Sigma_k = sd**2 I for every k

        Numpy form: the log-sd half-normal block of
        :mod:`bayesgmm.covariance._blocks` on ``u = log sd``; its likelihood
        gradient is the sum over the components and the diagonal.
        """
        import pymc as pm
        import pytensor.tensor as pt

        sd = pm.HalfNormal("sd", sigma=priors.sd_sigma_spherical)
        eye = pt.eye(int(n_features))[None, :, :]
        return sd * pt.ones((int(n_components), 1, 1)) * eye

    def unconstrained_blocks(self, n_components, n_features):
        return [("sd_log__", ())]

    def pymc_initvals(self, chol):
        return {"sd": np.asarray(np.asarray(chol, dtype=np.float64)[0, 0, 0])}

    def chol_from_unconstrained(self, u, n_components, n_features):
        sd = float(np.exp(np.asarray(u, dtype=np.float64).reshape(-1)[0]))
        return chol_from_sds(sd, int(n_components), int(n_features))

    def _unconstrained_from_layout(self, covariances, n_features):
        return log_sd_from_variances(self.from_full(self.to_full(
            covariances, covariances.shape[-1], n_features))[:1])

    def log_prior_constant(self, n_components, n_features, priors):
        return float(HALFNORMAL_CONST - np.log(priors.sd_sigma_spherical))

    def log_prior_and_grad(self, chol, dchol, priors):
        K, D = chol.shape[0], chol.shape[-1]
        s = np.array([chol[0, 0, 0]])
        g = np.array([dchol.reshape(K, D * D)[:, :: D + 1].sum() * s[0]])
        return log_sd_log_prior_and_grad(s, g, priors.sd_sigma_spherical**2)


# ----------------------------------------------------------------- diagonal
class _DiagonalModel(_EMOnly, Diag):
    """Diagonal covariances with constrained volume and shape: layout ``(K, D)`` variances."""

    def _solve(self, nk, s, previous=None):
        """The constrained variances from counts and per-component variances;
        ``previous`` (K, D), where given, may start an iterative solver."""
        raise NotImplementedError

    def from_full(self, full):
        return _project(self._solve, super().from_full(full), 2)

    def m_step(self, stats, reg_covar):
        return self.m_step_from(stats, reg_covar, None)

    def m_step_from(self, stats, reg_covar, previous, prior=None):
        if prior is not None:  # the MAP M-step (EEI) is closed-form: no warm start
            return self.m_step(stats, reg_covar, prior=prior)
        nk, means = counts_and_means(stats)
        s = stats.sxx / nk[:, None] - means**2 + reg_covar
        return nk, located(stats, means), self._solve(nk, s, previous)


class EEI(_DiagonalModel):
    """One diagonal covariance shared by all components (mclust's EEI).

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("EEI").n_parameters(3, 2)
    10
    """

    name = "EEI"
    mclust_name = "EEI"
    description = "one diagonal covariance shared by all components"

    def n_covariance_parameters(self, n_components, n_features):
        return float(int(n_features))

    def _solve(self, nk, s, previous=None):
        return dec.diag_equal_shape(nk, s, equal_volume=True)

    # ====================================================== conjugate prior
    has_conjugate_prior = True

    def m_step(self, stats, reg_covar, prior=None):
        if prior is None:
            return super().m_step(stats, reg_covar)
        # one inverse-gamma variance per feature, G normal means: sigma2_j =
        # (varsigma + sum_k (W_kj + c_k dev_kj^2)) / (n + nu + 2 + G [kappa > 0])
        # (mclust's meeeip divides by n + nu + 2 + [kappa > 0])
        nk, means = counts_and_means(stats)
        post, dev, c = map_means(stats, nk, means, prior)
        scatter = np.sum(stats.sxx - nk[:, None] * means**2 + c[:, None] * dev**2, axis=0)
        var = (scatter + prior.scale) / (nk.sum() + prior.dof + 2 + len(nk) * mean_prior_count(prior))
        return nk, located(stats, post), np.broadcast_to(var, means.shape).copy()

    def log_conjugate_prior(self, means, covariances, prior):
        cov = np.asarray(covariances, dtype=np.float64)
        return log_normal_inverse_gamma(means, cov[0], cov, prior)

    # ============================================================ Bayesian model
    has_bayesian_model = True

    def pymc_prior(self, n_components, n_features, priors):
        """Half-normal standard deviations, one per feature, shared by all components.

        PyMC form (value variable ``sds_log__``)::

            sds[d] ~ HalfNormal(sd_sigma[d])      dims (feature,)
            Sigma_k = diag(sds**2) for every k

        Numpy form: the log-sd half-normal block of
        :mod:`bayesgmm.covariance._blocks` on ``u = log sds``; its likelihood
        gradient is the sum over the components.
        """
        import pymc as pm
        import pytensor.tensor as pt

        sds = pm.HalfNormal("sds", sigma=priors.sd_sigma, dims="feature")
        one = sds[:, None] * pt.eye(int(n_features))
        return pt.ones((int(n_components), 1, 1)) * one[None, :, :]

    def unconstrained_blocks(self, n_components, n_features):
        return [("sds_log__", (int(n_features),))]

    def pymc_initvals(self, chol):
        return {"sds": np.diagonal(np.asarray(chol, dtype=np.float64)[0]).copy()}

    def chol_from_unconstrained(self, u, n_components, n_features):
        sds = np.exp(np.asarray(u, dtype=np.float64))[None, :]
        return chol_from_sds(sds, int(n_components), int(n_features))

    def _unconstrained_from_layout(self, covariances, n_features):
        return log_sd_from_variances(self.from_full(self.to_full(
            covariances, covariances.shape[0], n_features))[0])

    def log_prior_constant(self, n_components, n_features, priors):
        return float(np.sum(HALFNORMAL_CONST - np.log(priors.sd_sigma)))

    def log_prior_and_grad(self, chol, dchol, priors):
        K, D = chol.shape[0], chol.shape[-1]
        s = chol.reshape(K, D * D)[0, :: D + 1]
        g = dchol.reshape(K, D * D)[:, :: D + 1].sum(axis=0) * s
        return log_sd_log_prior_and_grad(s, g, priors.sd_sigma**2)


class VEI(_DiagonalModel):
    """Diagonal covariances of one shape, each its own volume (mclust's VEI; iterative M-step).

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("VEI").n_parameters(3, 2)
    12
    """

    name = "VEI"
    mclust_name = "VEI"
    description = "diagonal covariances of one shape, each component its own volume"

    def n_covariance_parameters(self, n_components, n_features):
        return float(int(n_components) + int(n_features) - 1)

    def _solve(self, nk, s, previous=None):
        return dec.diag_equal_shape(nk, s, equal_volume=False, start=dec.volumes_of(previous, len(nk)))


class EVI(_DiagonalModel):
    """Diagonal covariances of one volume, each its own shape (mclust's EVI).

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("EVI").n_parameters(3, 2)
    12
    """

    name = "EVI"
    mclust_name = "EVI"
    description = "diagonal covariances of one volume, each component its own shape"

    def n_covariance_parameters(self, n_components, n_features):
        return float(1 + int(n_components) * (int(n_features) - 1))

    def _solve(self, nk, s, previous=None):
        return dec.diag_equal_volume_variable_shape(nk, s)


# ----------------------------------------------------------------- general matrices
class _MatrixModel(_EMOnly, Full):
    """General covariance matrices with constrained volume, shape or orientation: layout ``(K, D, D)``."""

    def _solve(self, nk, S, previous=None):
        """The constrained covariances from counts and per-component covariances;
        ``previous`` (K, D, D), where given, may start an iterative solver."""
        raise NotImplementedError

    def from_full(self, full):
        return _project(self._solve, full, 3)

    def m_step(self, stats, reg_covar):
        nk, located_means, S = Full.m_step(self, stats, reg_covar)
        return nk, located_means, self._solve(nk, S)

    def m_step_from(self, stats, reg_covar, previous, prior=None):
        if prior is not None:  # no type of this family has a conjugate prior: m_step says so
            return self.m_step(stats, reg_covar, prior=prior)
        nk, located_means, S = Full.m_step(self, stats, reg_covar)
        return nk, located_means, self._solve(nk, S, previous)


class VEE(_MatrixModel):
    """One shape and orientation, each component its own volume (mclust's VEE; iterative).

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("VEE").n_parameters(3, 2)
    13
    """

    name = "VEE"
    mclust_name = "VEE"
    description = "covariances of one shape and orientation, each component its own volume"

    def n_covariance_parameters(self, n_components, n_features):
        k, d = int(n_components), int(n_features)
        return float(k + (d + 2) * (d - 1) // 2)

    def _solve(self, nk, S, previous=None):
        return dec.equal_shape_orientation(nk, S, start=dec.volumes_of(previous, len(nk)))


class EVE(_MatrixModel):
    """One volume and orientation, each component its own shape (mclust's EVE; MM iterations).

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("EVE").n_parameters(3, 2)
    13
    """

    name = "EVE"
    mclust_name = "EVE"
    description = "covariances of one volume and orientation, each component its own shape"

    def n_covariance_parameters(self, n_components, n_features):
        k, d = int(n_components), int(n_features)
        return float(1 + k * (d - 1) + d * (d - 1) // 2)

    def _solve(self, nk, S, previous=None):
        return dec.common_orientation(nk, S, equal_volume=True, start=dec.orientation_of(previous))


class VVE(_MatrixModel):
    """One orientation, each component its own volume and shape (mclust's VVE; MM iterations).

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("VVE").n_parameters(3, 2)
    15
    """

    name = "VVE"
    mclust_name = "VVE"
    description = "covariances of one orientation, each component its own volume and shape"

    def n_covariance_parameters(self, n_components, n_features):
        k, d = int(n_components), int(n_features)
        return float(k * d + d * (d - 1) // 2)

    def _solve(self, nk, S, previous=None):
        return dec.common_orientation(nk, S, equal_volume=False, start=dec.orientation_of(previous))


class EEV(_MatrixModel):
    """One volume and shape, each component its own orientation (mclust's EEV).

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("EEV").n_parameters(3, 2)
    13
    """

    name = "EEV"
    mclust_name = "EEV"
    description = "covariances of one volume and shape, each component its own orientation"

    def n_covariance_parameters(self, n_components, n_features):
        k, d = int(n_components), int(n_features)
        return float(d + k * d * (d - 1) // 2)

    def _solve(self, nk, S, previous=None):
        return dec.variable_orientation_equal_shape(nk, S, equal_volume=True)


class VEV(_MatrixModel):
    """One shape, each component its own volume and orientation (mclust's VEV; iterative).

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("VEV").n_parameters(3, 2)
    15
    """

    name = "VEV"
    mclust_name = "VEV"
    description = "covariances of one shape, each component its own volume and orientation"

    def n_covariance_parameters(self, n_components, n_features):
        k, d = int(n_components), int(n_features)
        return float(k + d - 1 + k * d * (d - 1) // 2)

    def _solve(self, nk, S, previous=None):
        return dec.variable_orientation_equal_shape(nk, S, equal_volume=False, start=dec.volumes_of(previous, len(nk)))


class EVV(_MatrixModel):
    """One volume, each component its own shape and orientation (mclust's EVV).

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> get_covariance_type("EVV").n_parameters(3, 2)
    15
    """

    name = "EVV"
    mclust_name = "EVV"
    description = "covariances of one volume, each component its own shape and orientation"

    def n_covariance_parameters(self, n_components, n_features):
        k, d = int(n_components), int(n_features)
        return float(k * d * (d + 1) // 2 - (k - 1))

    def _solve(self, nk, S, previous=None):
        return dec.equal_volume_variable_shape_orientation(nk, S)
