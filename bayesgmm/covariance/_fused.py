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

__all__ = ["diag_statistics"]


#: Rows per tile: the inner loops run over the rows of a tile (contiguous,
#: SIMD), the tile's ``(K, T)`` log-densities stay in L1/L2 cache.
_TILE = 128


_LOG2E = 1.4426950408889634
_LN2_HI = 0.693147180369123816490  # Cody-Waite split of log(2): kf * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_SHIFTER = 6755399441055744.0  # 1.5 * 2**52: the low bits of SHIFTER + kf hold the integer kf
_SHIFTER_BITS = 0x4338000000000000
_INV_FACT = tuple(1.0 / math.factorial(i) for i in range(14))


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"nsz", "contract"})
def _exp_tile(lp, mx, nt, tot, tb, ib):  # pragma: no cover - compiled
    """``lp[j, i] <- exp(max(lp[j, i], mx[i] - 700) - mx[i])``, ``tot[i] += lp[j, i]``.

    A branch-free exp the compiler vectorises (libm's is scalar): ``v = kf
    log 2 + r`` with ``|r| <= log(2) / 2``, ``e^r`` by its Taylor series to
    degree 13 (truncation below 1e-17), ``2**kf`` from its exponent bits
    (``v`` in ``[-700, 0]``: ``kf >= -1010``, no subnormals); a few ulps from
    libm's. No reassociation: the Cody-Waite reduction relies on the order.
    ``tb``/``ib``: one scratch tile seen as float64 and as int64.
    """
    c = _INV_FACT
    for j in range(lp.shape[0]):
        row = lp[j]
        for i in range(nt):
            v = max(row[i], mx[i] - 700.0) - mx[i]
            kf = math.floor(v * _LOG2E + 0.5)
            r = (v - kf * _LN2_HI) - kf * _LN2_LO
            p = c[13]
            p = p * r + c[12]
            p = p * r + c[11]
            p = p * r + c[10]
            p = p * r + c[9]
            p = p * r + c[8]
            p = p * r + c[7]
            p = p * r + c[6]
            p = p * r + c[5]
            p = p * r + c[4]
            p = p * r + c[3]
            p = p * r + c[2]
            p = p * r + 1.0
            p = p * r + 1.0
            row[i] = p
            tb[i] = kf + _SHIFTER
        for i in range(nt):
            ib[i] = (ib[i] - _SHIFTER_BITS + 1023) << 52
        for i in range(nt):
            e = row[i] * tb[i]
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
    tb = np.empty(T)
    ib = tb.view(np.int64)
    loglik = 0.0
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
        _exp_tile(lp, mx, nt, tot, tb, ib)
        for i in range(nt):
            ln = mx[i] + math.log(tot[i])
            log_norm[s0 + i] = ln
            wi = w[s0 + i] if has_w else 1.0
            loglik += wi * ln
            tot[i] = wi / tot[i]
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
