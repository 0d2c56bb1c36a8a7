"""Helpers shared by the EM sections of the covariance classes.

Matrix layouts (``full``, ``tied``) share their moment features, their
expansion of the log-density and their sampling; variance layouts (``diag``,
``spherical``) share their checks and sampling. Each function does exactly
what the classes did inline, so results are unchanged bit for bit.
"""

from __future__ import annotations

import numpy as np


def counts_and_means(stats):
    """M-step ``nk`` and means from sufficient statistics.

    ``nk`` gets ``10 * eps`` added, as in scikit-learn, so that an empty
    component's mean stays finite. The means are relative to the statistics'
    ``centre`` where they have one (the covariance formulas are the same
    about any centre); :func:`located` adds it back.
    """
    nk = stats.nk + 10 * np.finfo(np.float64).eps
    return nk, stats.sx / nk[:, None]


def located(stats, means):
    """The M-step's means in the statistics' coordinates: ``means`` plus their ``centre``."""
    return means if stats.centre is None else stats.centre + means


def upper_moment_features(xt: np.ndarray, out: np.ndarray) -> None:
    """``out`` (D(D+1)/2, n) = the upper triangle of ``x x^T`` (row-major) of ``xt`` (D, n)."""
    d = xt.shape[0]
    off = 0
    for i in range(d):
        np.multiply(xt[i], xt[i:], out=out[off : off + d - i])
        off += d - i


def expand_upper(compact: np.ndarray, d: int) -> np.ndarray:
    """(K, D(D+1)/2) upper triangles -> (K, D, D) symmetric matrices."""
    iu, ju = np.triu_indices(d)
    full = np.zeros((compact.shape[0], d, d))
    full[:, iu, ju] = compact
    full[:, ju, iu] = compact
    return full


def matrix_expansion_operands(prec: np.ndarray, means: np.ndarray, const: np.ndarray):
    """:meth:`~bayesgmm.covariance.CovarianceModel.expansion_operands` for precision
    matrices ``prec`` (K, D, D)."""
    d = means.shape[1]
    iu, ju = np.triu_indices(d)
    coef = prec[:, iu, ju] * np.where(iu == ju, 1.0, 2.0)  # (K, m2)
    lm = np.einsum("kde,ke->kd", prec, means)  # (K, D): Lambda_k mu_k
    A = np.concatenate([-0.5 * coef, lm], axis=1).T
    c = const - 0.5 * np.einsum("kd,kd->k", lm, means)
    return A, c


def cholesky_conditioning(precisions_chol: np.ndarray) -> np.ndarray:
    """:meth:`~bayesgmm.covariance.CovarianceModel.expansion_conditioning` of
    precision factors ``(..., D, D)``: ``max_i |P_i|^2 / P_ii^2`` over the rows."""
    p = np.asarray(precisions_chol, dtype=np.float64)
    diag = np.diagonal(p, axis1=-2, axis2=-1)
    return np.max(np.einsum("...ij,...ij->...i", p, p) / (diag * diag), axis=-1)


def check_spd_precisions(precisions: np.ndarray, type_name: str, name: str) -> None:
    """Symmetric positive-definite matrices ``(..., D, D)``, or a ``ValueError``."""
    d = precisions.shape[-1]
    mats = precisions.reshape(-1, d, d)
    if not np.allclose(mats, np.swapaxes(mats, 1, 2)) or np.any(np.linalg.eigvalsh(mats) <= 0):
        raise ValueError(
            f"`{name}` ({type_name}) must be symmetric positive-definite "
            "matrices (inverse covariances)."
        )


def check_spd_scale(scale, d: int, type_name: str) -> np.ndarray:
    """A conjugate prior's scale for general matrices: (D, D) symmetric positive definite."""
    s = np.asarray(scale, dtype=np.float64)
    if s.ndim == 0:
        s = float(s) * np.eye(d)
    if (s.shape != (d, d) or not np.all(np.isfinite(s)) or not np.allclose(s, s.T)
            or np.any(np.linalg.eigvalsh(s) <= 0)):
        raise ValueError(
            f"the prior's `scale` for covariance_type={type_name!r} must be a symmetric "
            f"positive-definite ({d}, {d}) matrix (or a positive number, times the identity); "
            f"got an array of shape {np.shape(scale)}."
        )
    return s


def check_positive_precisions(precisions: np.ndarray, type_name: str, name: str) -> None:
    """Positive variances' precisions, or a ``ValueError``."""
    if np.any(precisions <= 0):
        raise ValueError(f"`{name}` ({type_name}) must be positive.")


def sample_multivariate_normal(rng, means, covariances, counts) -> np.ndarray:
    """``counts[k]`` draws of ``N(means[k], covariances[k])`` for each ``k``, stacked."""
    return np.vstack([
        rng.multivariate_normal(m, c, int(s)) for m, c, s in zip(means, covariances, counts)
    ])


def sample_scaled_normal(rng, means, variances, counts) -> np.ndarray:
    """``counts[k]`` draws of ``means[k] + sqrt(variances[k]) * N(0, I)`` for each ``k``, stacked."""
    d = means.shape[1]
    return np.vstack([
        m + rng.standard_normal(size=(s, d)) * np.sqrt(c)
        for m, c, s in zip(means, variances, counts)
    ])


def random_spd(rng, d: int, scale: float) -> np.ndarray:
    """A random covariance ``Q diag(ev) Q^T``, ``ev`` in ``scale**2 * [0.3, 1)``."""
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    ev = scale**2 * rng.uniform(0.3, 1.0, size=d)
    return (Q * ev) @ Q.T


# ------------------------------------------------------------------ conjugate (MAP) prior
# The M-steps of the conjugate prior of Fraley & Raftery (2007), mclust's
# ``priorControl()``: ``prior`` is a resolved prior with attributes
# ``shrinkage`` (kappa), ``mean`` (D,) in the statistics' shifted coordinates,
# ``dof`` (nu) and ``scale`` (Lambda: (D, D) for matrix types, a float for
# variance types).

def map_means(stats, nk, means, prior):
    """The MAP means and what the mean prior adds to the scatter.

    With ``mu_k | Sigma_k ~ N(mu_P, Sigma_k / kappa)``, the posterior mode of
    the mean is ``(n_k xbar_k + kappa mu_P) / (n_k + kappa)``, and the
    scatter about it gains ``c_k (xbar_k - mu_P)(xbar_k - mu_P)^T`` with
    ``c_k = kappa n_k / (n_k + kappa)``.

    Returns ``(means, dev, c)``: the MAP means (relative to the statistics'
    ``centre``, like ``means``), ``dev = xbar_k - mu_P`` (K, D) and ``c`` (K,).
    """
    pm = prior.mean if stats.centre is None else prior.mean - stats.centre
    pm = np.broadcast_to(pm, means.shape)
    kappa = float(prior.shrinkage)
    dev = means - pm
    c = nk * kappa / (nk + kappa)
    post = (nk[:, None] * means + kappa * pm) / (nk + kappa)[:, None]
    return post, dev, c


def mean_prior_count(prior) -> float:
    """1 if the means have a proper normal prior (``shrinkage > 0``), else 0: the
    mean prior's power of ``det(Sigma)^(-1/2)`` per component (and feature, for
    variances) in the posterior mode's denominator."""
    return 1.0 if prior.shrinkage > 0 else 0.0


def _log_normal_means(means, prec_quad, log_det_cov, prior, n_features):
    """``sum_k log N(mu_k | mu_P, Sigma_k / kappa)`` from the quadratic forms
    ``(mu_k - mu_P)^T Sigma_k^{-1} (mu_k - mu_P)`` and ``log det Sigma_k``."""
    kappa = float(prior.shrinkage)
    if kappa <= 0:
        return 0.0
    k = len(prec_quad)
    return float(
        -0.5 * k * n_features * (np.log(2.0 * np.pi) - np.log(kappa))
        - 0.5 * np.sum(log_det_cov) - 0.5 * kappa * np.sum(prec_quad)
    )


def log_normal_inverse_wishart(means, covariances, prior, shared=False):
    """Log density of the conjugate prior at general covariance matrices.

    ``Sigma ~ InverseWishart(nu, Lambda)`` (density proportional to
    ``det(Sigma)^{-(nu + D + 1)/2} exp(-tr(Lambda Sigma^{-1}) / 2)``), once
    (``shared``: ``covariances`` is (D, D)) or per component ((K, D, D));
    ``mu_k | Sigma_k ~ N(mu_P, Sigma_k / kappa)`` for every component.
    ``means`` (K, D) in the coordinates of ``prior.mean``.
    """
    from scipy.special import multigammaln

    means = np.asarray(means, dtype=np.float64)
    k, d = means.shape
    covs = np.asarray(covariances, dtype=np.float64)
    covs = covs[None] if shared else covs
    L = np.linalg.cholesky(covs)  # (m, D, D)
    log_det = 2.0 * np.sum(np.log(np.diagonal(L, axis1=-2, axis2=-1)), axis=-1)  # (m,)
    nu = float(prior.dof)
    lam = np.asarray(prior.scale, dtype=np.float64)
    lam_logdet = np.linalg.slogdet(lam)[1]
    inv_cov = np.linalg.inv(covs)
    m = covs.shape[0]
    lp = m * (0.5 * nu * lam_logdet - 0.5 * nu * d * np.log(2.0) - multigammaln(0.5 * nu, d))
    lp += float(np.sum(-0.5 * (nu + d + 1) * log_det - 0.5 * np.einsum("ij,mji->m", lam, inv_cov)))
    dev = means - np.asarray(prior.mean, dtype=np.float64)
    inv_k = np.broadcast_to(inv_cov, (k, d, d))
    quad = np.einsum("ki,kij,kj->k", dev, inv_k, dev)
    return lp + _log_normal_means(means, quad, np.broadcast_to(log_det, (k,)), prior, d)


def log_normal_inverse_gamma(means, free, per_component, prior):
    """Log density of the conjugate prior at axis variances.

    Each distinct variance ``~ InverseGamma(nu / 2, varsigma / 2)`` (density
    proportional to ``s^{-(nu/2 + 1)} exp(-varsigma / (2 s))``);
    ``mu_k | Sigma_k ~ N(mu_P, Sigma_k / kappa)``. ``free`` are the distinct
    free variances (any shape); ``per_component`` (K, D) the diagonal of
    each component's covariance, for the mean prior.
    """
    from scipy.special import gammaln

    free = np.asarray(free, dtype=np.float64)
    per_component = np.asarray(per_component, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    d = means.shape[1]
    a, b = 0.5 * float(prior.dof), 0.5 * float(prior.scale)
    lp = float(np.sum(a * np.log(b) - gammaln(a) - (a + 1.0) * np.log(free) - b / free))
    dev = means - np.asarray(prior.mean, dtype=np.float64)
    quad = np.sum(dev * dev / per_component, axis=1)
    log_det = np.sum(np.log(per_component), axis=1)
    return lp + _log_normal_means(means, quad, log_det, prior, d)
