"""Compiled one-pass E-step and sufficient statistics for diagonal covariances.

numba (``cache=True``, ``nogil=True``): the chunk engine runs it on its row
blocks in parallel threads. For each row it computes the weighted
log-densities of all components from ``x - mu_k`` directly (no moment
expansion), their log-sum-exp, the responsibilities and adds them to the
statistics ``[r x*x | r x | r]`` of every component: one pass over the rows
instead of a matrix product, the several ``(K, n)`` passes of the
normalisation and a second product for the statistics. Imported only when a
``diag`` fit runs (:meth:`bayesgmm.covariance.diag.Diag.fused_statistics`).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from bayesgmm._exp import exp_reduced

__all__ = ["diag_statistics"]


#: Rows per tile: the inner loops run over the rows of a tile (contiguous,
#: SIMD), the tile's ``(K, T)`` log-densities stay in L1/L2 cache.
_TILE = 128


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"nsz", "contract"})
def _exp_tile(lp, mx, nt, tot):  # pragma: no cover - compiled
    """``lp[j, i] <- exp(max(lp[j, i], mx[i] - 700) - mx[i])``, ``tot[i] += lp[j, i]``.

    The package's vectorising exponential (:func:`bayesgmm._exp.exp_reduced`, within about
    1 ulp); its argument is in ``[-700, 0]``, so no result is subnormal. No
    reassociation here: the exponential's range reduction relies on the order.
    """
    for j in range(lp.shape[0]):
        row = lp[j]
        for i in range(nt):
            e = exp_reduced(max(row[i], mx[i] - 700.0) - mx[i])
            row[i] = e
            tot[i] += e


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"nsz", "contract", "reassoc"})
def _diag_statistics(X, shift, means, prec_chol, const, w, log_norm, srz):  # pragma: no cover
    n, d = X.shape
    k = means.shape[0]
    has_w = w.shape[0] > 0
    T = _TILE
    xt = np.empty((d, T))
    lp = np.empty((k, T))
    mx = np.empty(T)
    tot = np.empty(T)
    for s0 in range(0, n, T):
        nt = min(T, n - s0)
        for i in range(nt):
            for f in range(d):
                xt[f, i] = X[s0 + i, f] - shift[f]
        for i in range(nt):
            mx[i] = -np.inf
        for j in range(k):
            row = lp[j]
            for i in range(nt):
                row[i] = 0.0
            for f in range(d):
                mu = means[j, f]
                p = prec_chol[j, f]
                xf = xt[f]
                for i in range(nt):
                    v = (xf[i] - mu) * p
                    row[i] += v * v
            c = const[j]
            for i in range(nt):
                v = c - 0.5 * row[i]
                row[i] = v
                mx[i] = max(mx[i], v)
        for i in range(nt):
            if not math.isfinite(mx[i]):
                mx[i] = 0.0
            tot[i] = 0.0
        # as _kernels._normalise_columns: clip at max - 700 (exp's slow
        # subnormal path); responsibilities below ~1e-304 are zero anyway
        _exp_tile(lp, mx, nt, tot)
        for i in range(nt):
            log_norm[s0 + i] = mx[i] + math.log(tot[i])
            tot[i] = (w[s0 + i] if has_w else 1.0) / tot[i]
        for j in range(k):
            row = lp[j]
            a = 0.0
            for i in range(nt):
                r = row[i] * tot[i]
                row[i] = r
                a += r
            srz[j, 2 * d] += a
            for f in range(d):
                xf = xt[f]
                a1 = 0.0
                a2 = 0.0
                for i in range(nt):
                    rx = row[i] * xf[i]
                    a1 += rx
                    a2 += rx * xf[i]
                srz[j, d + f] += a1
                srz[j, f] += a2
    # the log-likelihood in a loop that only reads, after all the tiles: a loop that
    # also stores runs its vector or its scalar version (two orders of the sum) by a
    # run-time check of the arrays' addresses, so summed in the tiles' loop above its
    # last bits changed from call to call with where the allocator had put the arrays
    # (CI once saw two identical fits keep different starts)
    loglik = 0.0
    if has_w:
        for i in range(n):
            loglik += w[i] * log_norm[i]
    else:
        for i in range(n):
            loglik += log_norm[i]
    return loglik


def diag_statistics(X, shift, means, prec_chol, const, sample_weight=None):
    """E-step and statistics of ``X`` (rows, ``shift`` subtracted) in one pass.

    ``means``, ``prec_chol`` (K, D) in the shifted coordinates, ``const``
    (K,): ``log w_k - D/2 log(2 pi) + log det P_k``. Returns ``(srz,
    log_norm, loglik)``: ``srz`` (K, 2D + 1) the sums ``[r x*x | r x | r]``
    (weighted by ``sample_weight``), ``log_norm`` (n,) each row's log
    mixture density, ``loglik`` their (weighted) sum.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.covariance._fused import diag_statistics
    >>> srz, log_norm, ll = diag_statistics(
    ...     np.array([[0.0], [2.0]]), np.zeros(1), np.zeros((1, 1)), np.ones((1, 1)),
    ...     np.array([-0.5 * np.log(2 * np.pi)]))
    >>> srz
    array([[4., 2., 2.]])
    >>> bool(np.isclose(ll, -np.log(2 * np.pi) - 2.0))
    True
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = means.shape[0]
    shift = np.zeros(d) if shift is None else np.ascontiguousarray(shift, dtype=np.float64)
    w = np.empty(0) if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=np.float64)
    srz = np.zeros((k, 2 * d + 1))
    log_norm = np.empty(n)
    loglik = _diag_statistics(
        X, shift, np.ascontiguousarray(means, dtype=np.float64),
        np.ascontiguousarray(prec_chol, dtype=np.float64),
        np.ascontiguousarray(const, dtype=np.float64) + np.zeros(k), w, log_norm, srz,
    )
    return srz, log_norm, float(loglik)
