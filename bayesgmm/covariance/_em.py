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
