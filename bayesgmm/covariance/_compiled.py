"""Compiled (numba) forms of the prior blocks of :mod:`bayesgmm.covariance._blocks`.

The compiled log density (:mod:`bayesgmm._compiled`) runs without the GIL, so
it cannot call the covariance classes' numpy methods. Each class instead
describes its Bayesian block as a :class:`CompiledBlock` (its
:meth:`~bayesgmm.covariance.CovarianceModel.compiled_block`): which of the two
prior blocks it uses, how many factors it has and the block's constants. The
two njit functions here, :func:`chol_from_unconstrained` and
:func:`log_prior_and_grad`, are the compiled counterparts of the classes'
``chol_from_unconstrained`` and ``log_prior_and_grad`` for any such
description; ``tests/test_compiled_density.py`` checks them equal.

Block kinds
    :data:`PACKED_CHOLESKY`
        ``n_factors`` LKJ-Cholesky blocks (row-major packed lower factors with
        log-diagonal); component ``k`` uses factor ``k`` when
        ``n_factors == K``, else factor 0 (a factor shared by all).
        ``params = [lkj_eta, sd_sigma_0**2, ..., sd_sigma_{D-1}**2]``.
    :data:`LOG_SD`
        Log standard deviations, ``n_factors`` rows of ``E = len(params)``
        numbers; a row's ``E`` numbers are the ``D`` diagonal entries
        (``E == D``) or one shared by all of them (``E == 1``).
        ``params`` the squared half-normal scales.
"""

from __future__ import annotations

import math

import numpy as np

from bayesgmm.covariance._blocks import LOG_SD, PACKED_CHOLESKY, CompiledBlock

__all__ = ["LOG_SD", "PACKED_CHOLESKY", "CompiledBlock", "chol_from_unconstrained", "log_prior_and_grad"]


def _njit(fn):
    import numba

    return numba.njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")(fn)


def _chol_from_unconstrained(kind, n_factors, params, u, L):
    """Fill the zeroed lower factors ``L`` (K, D, D) from the block ``u``; False if not finite."""
    K, D = L.shape[0], L.shape[1]
    if kind == 0:
        P = D * (D + 1) // 2
        for k in range(K):
            f = k if n_factors == K else 0
            p = f * P
            for i in range(D):
                for j in range(i + 1):
                    v = u[p]
                    L[k, i, j] = math.exp(v) if i == j else v
                    p += 1
    else:
        E = params.shape[0]
        for k in range(K):
            f = k if n_factors == K else 0
            for i in range(D):
                L[k, i, i] = math.exp(u[f * E + (i if E == D else 0)])
    for k in range(K):
        for i in range(D):
            d = L[k, i, i]
            if not (d > 0.0 and d < np.inf):
                return False
            for j in range(i):
                if not np.isfinite(L[k, i, j]):
                    return False
    return True


def _log_prior_and_grad(kind, n_factors, params, L, dL, grad):
    """Log prior of the block (without its constant) and ``grad`` (the block's part of the
    gradient): ``dL`` (K, D, D) the gradient of the likelihood with respect to the lower
    entries of ``L``, carried through the transform, plus the prior's gradient."""
    K, D = L.shape[0], L.shape[1]
    lp = 0.0
    grad[:] = 0.0
    if kind == 0:
        P = D * (D + 1) // 2
        eta = params[0]
        b = 2.0 * eta - 2.0 + D
        # likelihood gradient, summed over the components sharing a factor
        for k in range(K):
            f = k if n_factors == K else 0
            p = f * P
            for i in range(D):
                for j in range(i + 1):
                    grad[p] += dL[k, i, j]
                    p += 1
        for f in range(n_factors):
            p = f * P
            for i in range(D):
                sd2 = 0.0
                for j in range(i + 1):
                    sd2 += L[f, i, j] * L[f, i, j]
                sig2 = params[1 + i]
                a = 2.0 * eta - 1.0 + (D - i)
                dii = L[f, i, i]
                lp += a * math.log(dii) - 0.5 * b * math.log(sd2) - 0.5 * sd2 / sig2
                c = b / sd2 + 1.0 / sig2
                for j in range(i + 1):
                    grad[p] -= c * L[f, i, j]
                    if j == i:
                        grad[p] = (grad[p] + a / dii) * dii  # chain rule for the log-diagonal
                    p += 1
    else:
        E = params.shape[0]
        for k in range(K):
            f = k if n_factors == K else 0
            for i in range(D):
                e = f * E + (i if E == D else 0)
                grad[e] += dL[k, i, i] * L[k, i, i]
        for f in range(n_factors):
            for e in range(E):
                s = L[f, e, e]  # E == 1: every diagonal entry of factor f is s
                r = s * s / params[e]
                lp += math.log(s) - 0.5 * r
                grad[f * E + e] += 1.0 - r
    return lp


chol_from_unconstrained = _njit(_chol_from_unconstrained)
log_prior_and_grad = _njit(_log_prior_and_grad)
