"""Extended-precision (``np.longdouble``) references for the EM kernels' accuracy tests.

Everything is evaluated per component on rows centred on that component's
mean and whitened by its own Cholesky factor (computed here in extended
precision: numpy's linalg has no ``longdouble``), so nothing cancels however
far the components lie from each other or from the origin. On x86-64 a
``longdouble`` has a 64-bit significand (~1e-19), far below the float64
errors the tests bound.
"""

from __future__ import annotations

import numpy as np

LD = np.longdouble


def cholesky(a):
    """Lower Cholesky factor of one symmetric positive-definite (D, D) matrix."""
    d = a.shape[0]
    L = np.zeros((d, d), dtype=LD)
    for j in range(d):
        s = a[j, j] - np.sum(L[j, :j] ** 2)
        L[j, j] = np.sqrt(s)
        for i in range(j + 1, d):
            L[i, j] = (a[i, j] - np.sum(L[i, :j] * L[j, :j])) / L[j, j]
    return L


def _log_gauss(X, mean, cov):
    """``log N(x_n | mean, cov)`` for the rows of ``X`` (all ``longdouble``)."""
    d = X.shape[1]
    L = cholesky(cov)
    r = (X - mean).T  # (D, n)
    y = np.empty_like(r)
    for i in range(d):  # forward substitution L y = x - mean
        y[i] = (r[i] - L[i, :i] @ y[:i]) / L[i, i]
    logdet = 2 * np.sum(np.log(np.diagonal(L)))
    return -0.5 * (d * np.log(2 * LD(np.pi)) + logdet + np.sum(y * y, axis=0))


def log_prob(X, weights, means, covs_full):
    """``log w_k + log N(x_n | mu_k, Sigma_k)`` (n, K) in extended precision."""
    X = np.asarray(X).astype(LD)
    return np.stack([
        np.log(LD(w)) + _log_gauss(X, np.asarray(m).astype(LD), np.asarray(c).astype(LD))
        for w, m, c in zip(weights, means, covs_full)
    ], axis=1)


def score(X, weights, means, covs_full):
    """Mean log-likelihood per row of the mixture, in extended precision."""
    lp = log_prob(X, weights, means, covs_full)
    m = lp.max(axis=1, keepdims=True)
    return np.mean(m[:, 0] + np.log(np.exp(lp - m).sum(axis=1)))


def em_step(X, weights, means, covs_full, covariance_type, reg_covar):
    """One exact EM step: ``(weights, means, covariances in the type's layout)``.

    The M-step of scikit-learn's ``_estimate_gaussian_parameters`` (without
    its ``10 * eps`` on the counts): each component's moments are taken
    about its new mean.
    """
    X = np.asarray(X).astype(LD)
    lp = log_prob(X, weights, means, covs_full)
    lp -= lp.max(axis=1, keepdims=True)
    r = np.exp(lp)
    r /= r.sum(axis=1, keepdims=True)
    nk = r.sum(axis=0)
    mu = (r.T @ X) / nk[:, None]
    d = X.shape[1]
    cov = np.stack([((X - m).T * rk) @ (X - m) / n for m, rk, n in zip(mu, r.T, nk)])
    eye = np.eye(d, dtype=LD)
    if covariance_type == "full":
        out = cov + reg_covar * eye
    elif covariance_type == "tied":
        out = np.einsum("k,kde->de", nk, cov) / nk.sum() + reg_covar * eye
    elif covariance_type == "diag":
        out = np.diagonal(cov, axis1=1, axis2=2) + reg_covar
    else:
        out = np.trace(cov, axis1=1, axis2=2) / d + reg_covar
    return nk / nk.sum(), mu, out
