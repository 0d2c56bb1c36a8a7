"""Compiled log posterior density of the Gaussian mixture: numba, without the GIL.

:class:`CompiledDensity` evaluates the same posterior as
:class:`bayesgmm._logdensity.MixtureDensity` (same unconstrained vector,
priors, constants and Jacobians; tests check them equal to 1e-10) in one
numba-compiled function that holds no Python objects, so the sampler's chains
can call it from several threads at once. It is what the default ``nutpie``
sampler calls (:mod:`bayesgmm.inference._nutpie`): nutpie receives the address
of a C callback (:attr:`CompiledDensity.logp_address`) and a pointer to one
float64 buffer holding the data and constants, as nutpie's own numba backend
does for PyMC models.

Likelihood, per component and always centred (the accurate form of
``MixtureDensity._loglik_stats_centred``, with no cancellation at any offset or
scale): with ``A_k = L_k^{-1}`` and ``y_nk = A_k (x_n - mu_k)``, blocked over
observations (:func:`_block_rows` rows at a time, transposed so the inner loops run
over observations and vectorise; each pass over a block does as much as it can:
all rows of ``y`` at ``D <= 3``, four rows or statistics at a time otherwise; with
a diagonal covariance, and with a full one at ``D <= 3``, ``y`` is recomputed for the
statistics instead of stored)::

    log p(x_n | k) = log w_k - sum log diag(L_k) - D/2 log(2 pi) - |y_nk|^2 / 2
    r_nk = softmax_k(...),  R_k = sum_n r_nk,  S_k = sum_n r_nk y_nk,
    M_k = sum_n r_nk y_nk y_nk^T
    d/d mu_k = A_k^T S_k,   d/d L_k = tril(A_k^T M_k) - R_k diag(1 / L_k,ii)

``sum_n log sum_k`` is taken as the log of products of the per-observation sums (each
in ``[1, K]``) over runs short enough not to overflow: one logarithm per run, not
per observation. Exponentials below ``exp(-600)`` relative to an observation's
largest term are 0 (:func:`bayesgmm._exp.exp_nonpositive`), so no responsibility, and no product
with one, is subnormal (each operation on a subnormal number costs ~100 times more).

With the uniform noise component (``MixtureDensity(noise_hypervolume=V)``: ``V`` in
the buffer's header, ``K + 1`` weights with the noise's last), the noise is one more
row ``log w_0 - log V`` of the responsibilities, and ``R_0`` its only statistic.

The buffer: a header of :data:`_HEADER` float64 fields (``N, D, K``, the
covariance block's kind, factor and parameter counts, ``ndim``, the expanded
size, the correlation and diagonal flags, the constant; slot 11
``_H_RESCALED``: 1 when the sampler's coordinates are rescaled, slot 12
``_H_NOISE``: the noise hypervolume ``V``, 0 without a noise component), then
the block's parameters, ``mean_loc``, ``mean_sd``, ``alpha`` (``K``, or
``K + 1`` with the noise), ``X^T`` (``D, N``) and, if rescaled, ``shift`` and
``scale`` (``ndim`` each; the mass-matrix warm start,
``CompiledDensity(dens, shift, scale)``).

The covariance type's transform and prior are the compiled blocks of
:mod:`bayesgmm.covariance._compiled`, described by the type's
:meth:`~bayesgmm.covariance.CovarianceModel.compiled_block`.

Everything is compiled with ``cache=True``: the first use on a machine
compiles (about 20-25 s of CPU time) and stores the machine code in numba's cache
(``__pycache__`` beside this file, or ``NUMBA_CACHE_DIR``); later processes
load it. The functions take the model from the buffer, not from closures, so
a second model in the same process compiles nothing.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types

from bayesgmm._exp import exp_nonpositive
from bayesgmm.covariance._compiled import chol_from_unconstrained, log_prior_and_grad

__all__ = ["BLOCK", "CompiledDensity", "compile_density"]

#: Observations per block of the likelihood: :func:`_block_rows`. With a full covariance
#: and ``D > 3`` (many passes over ``Y``, which must stay in cache) :data:`BLOCK`; otherwise
#: (one or two passes per component) the largest power of two up to :data:`BLOCK_MAX`
#: whose temporaries (the log densities, maximum and sum, ``8 (K + 3)`` bytes per
#: observation) take at most :data:`BLOCK_BYTES`, at least :data:`BLOCK`: a pass's
#: fixed cost (its array views) is then spread over more observations. Measured on a
#: 2-core Xeon (``benchmarks/sampling.py --sections grad``): 256 rows were best for
#: full ``D = 10``; 1024-4096 rows took 25-40 % less time than 256 when diagonal.
BLOCK = 256
BLOCK_MAX = 4096
BLOCK_BYTES = 1 << 20

_LOG_2PI = math.log(2.0 * math.pi)

# header of the buffer: indices of the int-valued fields (stored as float64)
_H_N, _H_D, _H_K, _H_KIND, _H_NF, _H_NP, _H_NDIM, _H_NEXP, _H_CORR, _H_DIAG, _H_CONST = range(11)
_H_RESCALED = 11  # 1: the sampler's coordinates are rescaled (shift, scale at the buffer's end); 0: not
_H_NOISE = 12  # the noise component's hypervolume V (0: no noise component)
# header length; then params, mean_loc, mean_sd, alpha (K, or K + 1 with the noise),
# X^T (D, N)[, shift, scale (ndim each) if rescaled]
_HEADER = 13


_njit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract", "reassoc"})


@_njit
def _buffer_length(head):
    kw = int(head[_H_K]) + (1 if head[_H_NOISE] > 0.0 else 0)
    n = _HEADER + int(head[_H_NP]) + 2 * int(head[_H_D]) + kw + int(head[_H_D]) * int(head[_H_N])
    if head[_H_RESCALED] != 0.0:
        n += 2 * int(head[_H_NDIM])
    return n



@_njit
def _block_rows(K, D, diagonal):
    """Observations per block of the likelihood (see :data:`BLOCK`)."""
    if not diagonal and D > 3:
        return BLOCK
    per_row = 8 * (K + 3)  # the log densities, maximum and sum (``y`` is not stored)
    blk = BLOCK
    while 2 * blk <= BLOCK_MAX and 2 * blk * per_row <= BLOCK_BYTES:
        blk *= 2
    return blk


@_njit
def _layout(buf):
    N = int(buf[_H_N])
    D = int(buf[_H_D])
    K = int(buf[_H_K])
    NP = int(buf[_H_NP])
    o = _HEADER
    params = buf[o : o + NP]
    o += NP
    mean_loc = buf[o : o + D]
    o += D
    mean_sd = buf[o : o + D]
    o += D
    kw = K + (1 if buf[_H_NOISE] > 0.0 else 0)  # the weights: the noise's last
    alpha = buf[o : o + kw]
    o += kw
    XT = buf[o : o + D * N].reshape((D, N))
    return N, D, K, params, mean_loc, mean_sd, alpha, XT


@_njit
def _weights(x, K):
    v = np.empty(K)
    s = 0.0
    for k in range(K - 1):
        v[k] = x[k]
        s += x[k]
    v[K - 1] = -s
    m = v.max()
    se = 0.0
    for k in range(K):
        v[k] -= m
        se += math.exp(v[k])
    lse = math.log(se)
    logw = v - lse
    w = np.exp(v) / se
    return logw, w


@_njit
def _diag_rows(left):
    """Rows per pass of the diagonal kernels: 4, 2 or 1 (of ``left`` rows)."""
    return 4 if left >= 4 else (2 if left >= 2 else 1)


@_njit
def _rows_diag(XT, start, e0, nb, k, i, n, mu, A, ck, first, lpk):
    """Diagonal covariance, ``n`` (1, 2 or 4) rows from ``i``: ``lp -= |y|^2 / 2`` with
    ``y_j = a_jj (x_j - mu_j)``, or ``lp = ck - |y|^2 / 2`` if ``first`` (no pass to fill
    ``lp`` with ``ck``); ``y`` is not stored."""
    x0 = XT[i, start:e0]
    a0, m0 = A[k, i, i], mu[k, i]
    if n == 1:
        for b in range(nb):
            y0 = a0 * (x0[b] - m0)
            lpk[b] = (ck if first else lpk[b]) - 0.5 * (y0 * y0)
        return
    x1 = XT[i + 1, start:e0]
    a1, m1 = A[k, i + 1, i + 1], mu[k, i + 1]
    if n == 2:
        for b in range(nb):
            y0 = a0 * (x0[b] - m0)
            y1 = a1 * (x1[b] - m1)
            lpk[b] = (ck if first else lpk[b]) - 0.5 * (y0 * y0 + y1 * y1)
        return
    x2 = XT[i + 2, start:e0]
    a2, m2 = A[k, i + 2, i + 2], mu[k, i + 2]
    x3 = XT[i + 3, start:e0]
    a3, m3 = A[k, i + 3, i + 3], mu[k, i + 3]
    for b in range(nb):
        y0 = a0 * (x0[b] - m0)
        y1 = a1 * (x1[b] - m1)
        y2 = a2 * (x2[b] - m2)
        y3 = a3 * (x3[b] - m3)
        lpk[b] = (ck if first else lpk[b]) - 0.5 * ((y0 * y0 + y1 * y1) + (y2 * y2 + y3 * y3))


@_njit
def _stats_diag(XT, start, e0, nb, k, i, n, mu, A, lpk, sm, R, S, M):
    """Diagonal covariance, ``n`` (1, 2 or 4) rows from ``i``: ``S_j += sum r y_j``,
    ``M_jj += sum r y_j^2`` with ``r = lp * sm`` (and ``R_k += sum r`` when ``i == 0``)."""
    x0 = XT[i, start:e0]
    a0, m0 = A[k, i, i], mu[k, i]
    s0 = q0 = rs = 0.0
    if n == 1:
        for b in range(nb):
            r = lpk[b] * sm[b]
            rs += r
            t0 = r * (a0 * (x0[b] - m0))
            s0 += t0
            q0 += t0 * (a0 * (x0[b] - m0))
    else:
        x1 = XT[i + 1, start:e0]
        a1, m1 = A[k, i + 1, i + 1], mu[k, i + 1]
        s1 = q1 = 0.0
        if n == 2:
            for b in range(nb):
                r = lpk[b] * sm[b]
                rs += r
                y0 = a0 * (x0[b] - m0)
                y1 = a1 * (x1[b] - m1)
                t0 = r * y0
                t1 = r * y1
                s0 += t0
                q0 += t0 * y0
                s1 += t1
                q1 += t1 * y1
        else:  # n == 4
            x2 = XT[i + 2, start:e0]
            a2, m2 = A[k, i + 2, i + 2], mu[k, i + 2]
            s2 = q2 = 0.0
            x3 = XT[i + 3, start:e0]
            a3, m3 = A[k, i + 3, i + 3], mu[k, i + 3]
            s3 = q3 = 0.0
            for b in range(nb):
                r = lpk[b] * sm[b]
                rs += r
                y0 = a0 * (x0[b] - m0)
                y1 = a1 * (x1[b] - m1)
                y2 = a2 * (x2[b] - m2)
                y3 = a3 * (x3[b] - m3)
                t0 = r * y0
                t1 = r * y1
                t2 = r * y2
                t3 = r * y3
                s0 += t0
                q0 += t0 * y0
                s1 += t1
                q1 += t1 * y1
                s2 += t2
                q2 += t2 * y2
                s3 += t3
                q3 += t3 * y3
            S[k, i + 3] += s3
            M[k, i + 3, i + 3] += q3
            S[k, i + 2] += s2
            M[k, i + 2, i + 2] += q2
        S[k, i + 1] += s1
        M[k, i + 1, i + 1] += q1
    S[k, i] += s0
    M[k, i, i] += q0
    if i == 0:
        R[k] += rs


@_njit
def _rows_full(XT, start, e0, nb, k, D, mu, A, ck, Y, lpk):
    """Full covariance: ``lp = c_k - |y|^2 / 2`` with ``y = A_k (x - mu_k)`` (``A_k``
    lower triangular). ``D <= 3``: one pass per block (all rows at once), ``y`` not
    stored (:func:`_stats_full_small` recomputes it: 1.02-1.20x faster than storing
    and loading it, 2 Dec 2026); larger ``D``: the rows of ``y`` into ``Y[k]``, centred,
    transformed in place from the last row up with four lower terms per pass, then the
    squares."""
    x0 = XT[0, start:e0]
    a00, m0 = A[k, 0, 0], mu[k, 0]
    if D == 1:
        for b in range(nb):
            y0 = a00 * (x0[b] - m0)
            lpk[b] = ck - 0.5 * (y0 * y0)
        return
    x1 = XT[1, start:e0]
    a10, a11, m1 = A[k, 1, 0], A[k, 1, 1], mu[k, 1]
    if D == 2:
        for b in range(nb):
            c0 = x0[b] - m0
            y0 = a00 * c0
            y1 = a11 * (x1[b] - m1) + a10 * c0
            lpk[b] = ck - 0.5 * (y0 * y0 + y1 * y1)
        return
    if D == 3:
        x2 = XT[2, start:e0]
        a20, a21, a22, m2 = A[k, 2, 0], A[k, 2, 1], A[k, 2, 2], mu[k, 2]
        for b in range(nb):
            c0 = x0[b] - m0
            c1 = x1[b] - m1
            y0 = a00 * c0
            y1 = a11 * c1 + a10 * c0
            y2 = a22 * (x2[b] - m2) + (a20 * c0 + a21 * c1)
            lpk[b] = ck - 0.5 * ((y0 * y0 + y1 * y1) + y2 * y2)
        return
    for i in range(D):
        Yi = Y[k, i]
        xi = XT[i, start:e0]
        m = mu[k, i]
        for b in range(nb):
            Yi[b] = xi[b] - m
    for i in range(D - 1, -1, -1):
        Yi = Y[k, i]
        a = A[k, i, i]
        for b in range(nb):
            Yi[b] *= a
        j = 0
        while j + 4 <= i:  # four rows per pass: one load and store of Yi per 4 FMAs
            a0, a1, a2, a3 = A[k, i, j], A[k, i, j + 1], A[k, i, j + 2], A[k, i, j + 3]
            Z0, Z1, Z2, Z3 = Y[k, j], Y[k, j + 1], Y[k, j + 2], Y[k, j + 3]
            for b in range(nb):
                Yi[b] += (a0 * Z0[b] + a1 * Z1[b]) + (a2 * Z2[b] + a3 * Z3[b])
            j += 4
        while j < i:
            a = A[k, i, j]
            Zj = Y[k, j]
            for b in range(nb):
                Yi[b] += a * Zj[b]
            j += 1
    for b in range(nb):
        lpk[b] = ck
    for i in range(D):
        Yi = Y[k, i]
        for b in range(nb):
            lpk[b] -= 0.5 * (Yi[b] * Yi[b])


@_njit
def _stats_full_small(XT, start, e0, nb, k, D, mu, A, lpk, sm, R, S, M):
    """Full covariance, ``D <= 3``: ``R_k, S_k, M_k`` as :func:`_stats_full`, with ``y``
    recomputed from ``x`` (cheaper than storing and loading it at this size)."""
    x0 = XT[0, start:e0]
    a00, m0 = A[k, 0, 0], mu[k, 0]
    rs = s0 = q00 = 0.0
    if D == 1:
        for b in range(nb):
            r = lpk[b] * sm[b]
            y0 = a00 * (x0[b] - m0)
            rs += r
            t0 = r * y0
            s0 += t0
            q00 += t0 * y0
        R[k] += rs
        S[k, 0] += s0
        M[k, 0, 0] += q00
        return
    x1 = XT[1, start:e0]
    a10, a11, m1 = A[k, 1, 0], A[k, 1, 1], mu[k, 1]
    s1 = q10 = q11 = 0.0
    if D == 2:
        for b in range(nb):
            r = lpk[b] * sm[b]
            c0 = x0[b] - m0
            y0 = a00 * c0
            y1 = a11 * (x1[b] - m1) + a10 * c0
            rs += r
            t0 = r * y0
            t1 = r * y1
            s0 += t0
            s1 += t1
            q00 += t0 * y0
            q10 += t1 * y0
            q11 += t1 * y1
    else:
        x2 = XT[2, start:e0]
        a20, a21, a22, m2 = A[k, 2, 0], A[k, 2, 1], A[k, 2, 2], mu[k, 2]
        s2 = q20 = q21 = q22 = 0.0
        for b in range(nb):
            r = lpk[b] * sm[b]
            c0 = x0[b] - m0
            c1 = x1[b] - m1
            y0 = a00 * c0
            y1 = a11 * c1 + a10 * c0
            y2 = a22 * (x2[b] - m2) + (a20 * c0 + a21 * c1)
            rs += r
            t0 = r * y0
            t1 = r * y1
            t2 = r * y2
            s0 += t0
            s1 += t1
            s2 += t2
            q00 += t0 * y0
            q10 += t1 * y0
            q11 += t1 * y1
            q20 += t2 * y0
            q21 += t2 * y1
            q22 += t2 * y2
        S[k, 2] += s2
        M[k, 2, 0] += q20
        M[k, 2, 1] += q21
        M[k, 2, 2] += q22
    R[k] += rs
    S[k, 0] += s0
    S[k, 1] += s1
    M[k, 0, 0] += q00
    M[k, 1, 0] += q10
    M[k, 1, 1] += q11


@_njit
def _stats_full(nb, k, D, Y, lpk, sm, R, S, M):
    """Full covariance, ``D > 3`` (``y`` stored in ``Y[k]``): ``R_k += sum r``, ``S_k +=
    sum r y``, ``M_k += sum r y y^T`` (lower triangle) with ``r = lp * sm``: rows 0 and 1
    in one pass, then per row a pass with ``S_i`` and ``M_i0..M_i2`` and passes of four
    further columns."""
    Y0 = Y[k, 0]
    rs = s0 = q00 = 0.0
    Y1 = Y[k, 1]
    s1 = q10 = q11 = 0.0
    for b in range(nb):
        r = lpk[b] * sm[b]
        rs += r
        y0 = Y0[b]
        y1 = Y1[b]
        t0 = r * y0
        t1 = r * y1
        s0 += t0
        s1 += t1
        q00 += t0 * y0
        q10 += t1 * y0
        q11 += t1 * y1
    R[k] += rs
    S[k, 0] += s0
    S[k, 1] += s1
    M[k, 0, 0] += q00
    M[k, 1, 0] += q10
    M[k, 1, 1] += q11
    RY = Y[k, D]  # scratch row: r * y_i
    Y2 = Y[k, 2]
    for i in range(2, D):
        Yi = Y[k, i]
        si = c0 = c1 = c2 = 0.0
        for b in range(nb):
            t = (lpk[b] * sm[b]) * Yi[b]
            RY[b] = t
            si += t
            c0 += t * Y0[b]
            c1 += t * Y1[b]
            c2 += t * Y2[b]
        S[k, i] += si
        M[k, i, 0] += c0
        M[k, i, 1] += c1
        M[k, i, 2] += c2
        j = 3
        while j + 4 <= i + 1:  # four sums per pass over RY
            Z0, Z1, Z2, Z3 = Y[k, j], Y[k, j + 1], Y[k, j + 2], Y[k, j + 3]
            c0 = c1 = c2 = c3 = 0.0
            for b in range(nb):
                t = RY[b]
                c0 += t * Z0[b]
                c1 += t * Z1[b]
                c2 += t * Z2[b]
                c3 += t * Z3[b]
            M[k, i, j] += c0
            M[k, i, j + 1] += c1
            M[k, i, j + 2] += c2
            M[k, i, j + 3] += c3
            j += 4
        while j <= i:
            Zj = Y[k, j]
            acc = 0.0
            for b in range(nb):
                acc += RY[b] * Zj[b]
            M[k, i, j] += acc
            j += 1


@_njit
def _loglik_block(XT, start, nb, K, D, mu, A, c, diagonal, Y, LP, W, R, S, M, nk):
    """Add one block's log-likelihood (returned) and statistics ``R, S, M``.

    ``nk = K + 1``: the uniform noise component, the constant ``c[K]`` (``log w_0 -
    log V``), is row ``K`` of ``LP``; only its responsibility sum ``R[K]`` is kept.
    Every loop runs over the block's observations and vectorises; each pass over the
    block does as much as it can (several rows of ``y``, several statistics). At
    ``D = 2`` one fully fused loop for ``K = 3`` (tried) was no faster on a Zen 4, and
    about a third of the time is the exponentials (``benchmarks/README.md``). Folding
    both the fill of ``lp`` and the maximum into the diagonal rows' pass (tried, 2 Dec
    2026) was 0.81-0.87x as fast compiled afresh; folding the fill alone (the first
    rows' pass sets ``lp``) and taking two components per maximum and exponential
    pass were each a few per cent faster at ``D = 2`` (scratch A/Bs, both compiled
    afresh; with the other changes of that day 1.1-1.3x, ``benchmarks/README.md``)."""
    e0 = start + nb
    for k in range(K):
        lpk = LP[k]
        if diagonal:  # y = A (x - mu) is recomputed in the statistics, not stored
            i = 0
            while i < D:
                n = _diag_rows(D - i)
                _rows_diag(XT, start, e0, nb, k, i, n, mu, A, c[k], i == 0, lpk)
                i += n
        else:
            _rows_full(XT, start, e0, nb, k, D, mu, A, c[k], Y, lpk)
    if nk > K:
        lpk = LP[K]
        ck = c[K]
        for b in range(nb):
            lpk[b] = ck
    # responsibilities: max over components, exp, normalise; two components per pass
    # (one load and store of mx or sm per two; see the docstring)
    mx = W[0]
    sm = W[1]
    l0 = LP[0]
    if nk == 1:
        for b in range(nb):
            mx[b] = l0[b]
    else:
        l1 = LP[1]
        for b in range(nb):
            mx[b] = max(l0[b], l1[b])
    k = 2
    while k + 1 < nk:
        l0 = LP[k]
        l1 = LP[k + 1]
        for b in range(nb):
            mx[b] = max(mx[b], max(l0[b], l1[b]))
        k += 2
    if k < nk:
        l0 = LP[k]
        for b in range(nb):
            mx[b] = max(mx[b], l0[b])
    l0 = LP[0]
    if nk == 1:
        for b in range(nb):
            ea = exp_nonpositive(l0[b] - mx[b])
            l0[b] = ea
            sm[b] = ea
    else:
        l1 = LP[1]
        for b in range(nb):
            m = mx[b]
            ea = exp_nonpositive(l0[b] - m)
            eb = exp_nonpositive(l1[b] - m)
            l0[b] = ea
            l1[b] = eb
            sm[b] = ea + eb
    k = 2
    while k + 1 < nk:
        l0 = LP[k]
        l1 = LP[k + 1]
        for b in range(nb):
            m = mx[b]
            ea = exp_nonpositive(l0[b] - m)
            eb = exp_nonpositive(l1[b] - m)
            l0[b] = ea
            l1[b] = eb
            sm[b] += ea + eb
        k += 2
    if k < nk:
        l0 = LP[k]
        for b in range(nb):
            ea = exp_nonpositive(l0[b] - mx[b])
            l0[b] = ea
            sm[b] += ea
    # log-likelihood: sum of mx + log(sm), the logs summed as the log of products of
    # sm (each in [1, nk]: the largest term is exp(0)) over runs short enough not to overflow
    total = 0.0
    for b in range(nb):
        total += mx[b]
    # (and sm replaced by its reciprocal in the same pass; the run is a view, so its index
    # is known non-negative: indexing sm itself from s compiled to gathers, 5-8 % of the
    # time at N = 1e4, D = 2, K = 3 in scratch A/Bs)
    run = max(1, int(1000.0 / math.log2(max(nk, 2))))
    for s in range(0, nb, run):
        seg = sm[s : min(nb, s + run)]
        prod = 1.0
        for b in range(seg.shape[0]):
            v = seg[b]
            prod *= v
            seg[b] = 1.0 / v
        total += math.log(prod)
    if nk > K:
        acc = 0.0
        lpk = LP[K]
        for b in range(nb):
            acc += lpk[b] * sm[b]
        R[K] += acc
    for k in range(K):
        lpk = LP[k]
        if diagonal:
            i = 0
            while i < D:
                n = _diag_rows(D - i)
                _stats_diag(XT, start, e0, nb, k, i, n, mu, A, lpk, sm, R, S, M)
                i += n
        else:
            if D <= 3:
                _stats_full_small(XT, start, e0, nb, k, D, mu, A, lpk, sm, R, S, M)
            else:
                _stats_full(nb, k, D, Y, lpk, sm, R, S, M)
    return total


@_njit
def _logp_grad(buf, x, grad):
    """Log posterior density at ``x``; fills ``grad``. ``-inf`` (and a zero gradient) if not finite."""
    N, D, K, params, mean_loc, mean_sd, alpha, XT = _layout(buf)
    kind = int(buf[_H_KIND])
    nf = int(buf[_H_NF])
    diagonal = buf[_H_DIAG] != 0.0
    kw = alpha.shape[0]  # K, or K + 1 with the noise component (its weight last)
    nw = kw - 1
    nmu = K * D
    logw, w = _weights(x, kw)
    mu = np.empty((K, D))
    for k in range(K):
        for i in range(D):
            mu[k, i] = x[nw + k * D + i]
    L = np.zeros((K, D, D))
    if not chol_from_unconstrained(kind, nf, params, x[nw + nmu :], L):
        grad[:] = 0.0
        return -np.inf
    # A = L^{-1} by forward substitution, and the constants of the components
    A = np.zeros((K, D, D))
    c = np.empty(kw)
    if kw > K:
        c[K] = logw[K] - math.log(buf[_H_NOISE])
    for k in range(K):
        logdet = 0.0
        for i in range(D):
            logdet += math.log(L[k, i, i])
            A[k, i, i] = 1.0 / L[k, i, i]
            if not diagonal:
                for j in range(i):
                    s = 0.0
                    for m in range(j, i):
                        s += L[k, i, m] * A[k, m, j]
                    A[k, i, j] = -s / L[k, i, i]
        c[k] = logw[k] - logdet - 0.5 * D * _LOG_2PI
    R = np.zeros(kw)
    S = np.zeros((K, D))
    M = np.zeros((K, D, D))
    blk = min(N, _block_rows(K, D, diagonal))
    Y = np.empty((K, 1 if diagonal or D <= 3 else D + 1, blk))  # y, stored only for full D > 3
    LP = np.empty((kw, blk))
    W = np.empty((2, blk))
    ll = 0.0
    for start in range(0, N, blk):
        nb = min(blk, N - start)
        ll += _loglik_block(XT, start, nb, K, D, mu, A, c, diagonal, Y, LP, W, R, S, M, kw)

    lp = buf[_H_CONST] + ll
    # weights: Dirichlet + simplex Jacobian = const + sum alpha log w
    cws = 0.0
    for k in range(kw):
        lp += alpha[k] * logw[k]
        cws += alpha[k] + R[k]
    glast = alpha[kw - 1] + R[kw - 1] - cws * w[kw - 1]
    for k in range(kw - 1):
        grad[k] = alpha[k] + R[k] - cws * w[k] - glast
    # means: d/d mu_k = A_k^T S_k - (mu - loc) / sd^2
    for k in range(K):
        for i in range(D):
            dm = (mu[k, i] - mean_loc[i]) / mean_sd[i]
            lp -= 0.5 * dm * dm
            g = -dm / mean_sd[i]
            for l in range(i, D):
                g += A[k, l, i] * S[k, l]
            grad[nw + k * D + i] = g
    # covariance: d/d L_k = tril(A_k^T M_k) - R_k diag(1 / L_ii), M_k symmetric (lower stored)
    dL = np.zeros((K, D, D))
    for k in range(K):
        for i in range(D):
            j0 = i if diagonal else 0
            for j in range(j0, i + 1):
                g = 0.0
                for l in range(i, D):
                    mlj = M[k, l, j] if l >= j else M[k, j, l]
                    g += A[k, l, i] * mlj
                dL[k, i, j] = g
            dL[k, i, i] -= R[k] / L[k, i, i]
    lp += log_prior_and_grad(kind, nf, params, L, dL, grad[nw + nmu :])
    if not np.isfinite(lp):
        grad[:] = 0.0
        return -np.inf
    for i in range(grad.shape[0]):
        if not np.isfinite(grad[i]):
            grad[:] = 0.0
            return -np.inf
    return lp


@_njit
def _expand(buf, x, out):
    """The draw's ``weights, means, covariances, sds[, correlations][, noise_weight]`` into ``out``, flattened."""
    N, D, K, params, mean_loc, mean_sd, alpha, XT = _layout(buf)
    kind = int(buf[_H_KIND])
    nf = int(buf[_H_NF])
    kw = alpha.shape[0]
    nw = kw - 1
    logw, w = _weights(x, kw)
    L = np.zeros((K, D, D))
    chol_from_unconstrained(kind, nf, params, x[nw + K * D :], L)
    o = 0
    for k in range(K):
        out[o] = w[k]
        o += 1
    for k in range(K * D):
        out[o] = x[nw + k]
        o += 1
    cov = np.zeros((K, D, D))
    for k in range(K):
        for i in range(D):
            for j in range(D):
                s = 0.0
                for m in range(min(i, j) + 1):
                    s += L[k, i, m] * L[k, j, m]
                cov[k, i, j] = s
    for k in range(K):
        for i in range(D):
            for j in range(D):
                out[o] = cov[k, i, j]
                o += 1
    sds = np.empty((K, D))
    for k in range(K):
        for i in range(D):
            sds[k, i] = math.sqrt(cov[k, i, i])
            out[o] = sds[k, i]
            o += 1
    if buf[_H_CORR] != 0.0:
        for k in range(K):
            for i in range(D):
                for j in range(D):
                    out[o] = cov[k, i, j] / (sds[k, i] * sds[k, j])
                    o += 1
    if kw > K:  # noise_weight last
        out[o] = w[K]


@_njit
def _to_x(buf, z):
    """The model's unconstrained point of the sampler's ``z``: ``shift + scale * z`` if rescaled, else ``z``."""
    if buf[_H_RESCALED] == 0.0:
        return z
    ndim = int(buf[_H_NDIM])
    o = _buffer_length(buf) - 2 * ndim
    x = np.empty(ndim)
    for i in range(ndim):
        x[i] = buf[o + i] + buf[o + ndim + i] * z[i]
    return x


@_njit
def _logp_grad_z(buf, z, grad):
    """:func:`_logp_grad` in the sampler's coordinates (``x = shift + scale * z``; gradient times ``scale``)."""
    lp = _logp_grad(buf, _to_x(buf, z), grad)
    if buf[_H_RESCALED] != 0.0:
        ndim = int(buf[_H_NDIM])
        o = _buffer_length(buf) - ndim
        for i in range(ndim):
            grad[i] *= buf[o + i]
    return lp


@_njit
def _expand_z(buf, z, out):
    """:func:`_expand` of the sampler's ``z``."""
    _expand(buf, _to_x(buf, z), out)


_LOGP_SIG = types.int64(
    types.uint64, types.CPointer(types.double), types.CPointer(types.double), types.CPointer(types.double), types.voidptr
)
_EXPAND_SIG = types.int64(
    types.uint64, types.uint64, types.CPointer(types.double), types.CPointer(types.double), types.voidptr
)


def _logp_c(dim, x_, out_, logp_, user_data_):
    """nutpie's C logp callback: ``user_data_`` is the density's buffer; 0 on success."""
    head = numba.carray(user_data_, (_HEADER,), np.float64)
    ndim = int(head[_H_NDIM])
    if dim != ndim:
        return -1
    buf = numba.carray(user_data_, (_buffer_length(head),), np.float64)
    lp = _logp_grad_z(buf, numba.carray(x_, (ndim,)), numba.carray(out_, (ndim,)))
    logp_[0] = lp
    if not np.isfinite(lp):
        return 4  # recoverable for nutpie: the step diverges
    return 0


def _expand_c(dim, expanded, x_, out_, user_data_):
    """nutpie's C expand callback: the posterior variables of one draw; 0 on success."""
    head = numba.carray(user_data_, (_HEADER,), np.float64)
    ndim = int(head[_H_NDIM])
    if dim != ndim or expanded != int(head[_H_NEXP]):
        return -1
    buf = numba.carray(user_data_, (_buffer_length(head),), np.float64)
    _expand_z(buf, numba.carray(x_, (ndim,)), numba.carray(out_, (int(expanded),)))
    return 0


_CFUNCS = {}


def _cfuncs():
    """The two C callbacks (compiled, or loaded from numba's cache, on first use)."""
    if not _CFUNCS:
        _CFUNCS["logp"] = numba.cfunc(_LOGP_SIG, cache=True, nogil=True)(_logp_c)
        _CFUNCS["expand"] = numba.cfunc(_EXPAND_SIG, cache=True, nogil=True)(_expand_c)
    return _CFUNCS


class CompiledDensity:
    """The compiled twin of a :class:`~bayesgmm._logdensity.MixtureDensity`.

    Same unconstrained vector, same value of the log density and gradient
    (to rounding), evaluated by numba-compiled code that releases the GIL.

    Parameters
    ----------
    dens : MixtureDensity
        The numpy density whose data, priors and covariance type are compiled.
    shift, scale : array-like of shape (ndim,), optional
        Rescaled sampler coordinates (the mass-matrix warm start of
        :mod:`bayesgmm.inference._nutpie`): the C callbacks, :meth:`logp_and_grad_z`
        and :meth:`expand_z` take ``z`` with ``x = shift + scale * z`` (the
        gradient in ``z`` is ``scale`` times the one in ``x``; the Jacobian is
        constant, so the posterior is the same). ``scale`` must be positive and
        finite. Both or neither.

    Raises
    ------
    NotImplementedError
        If the covariance type has no compiled form
        (:meth:`~bayesgmm.covariance.CovarianceModel.compiled_block` is ``None``).

    Attributes not listed here are the numpy density's (``pack``, ``unpack``,
    ``names``, ...).

    Attributes
    ----------
    ndim : int
        Length of the unconstrained vector (as ``dens.ndim``).
    n_expanded : int
        Length of one expanded draw (:meth:`expand`).
    expanded_names, expanded_shapes : list, dict
        The posterior variables of :meth:`expand` and their shapes.
    buffer : ndarray of float64
        Header, constants and transposed data; its address is the ``user_data``
        pointer of the C callbacks.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._logdensity import MixtureDensity
    >>> from bayesgmm._compiled import CompiledDensity
    >>> dens = MixtureDensity(np.random.default_rng(0).normal(size=(50, 2)), 2, "diag")
    >>> cd = CompiledDensity(dens)
    >>> x = np.zeros(dens.ndim)
    >>> bool(np.isclose(cd.logp_and_grad(x)[0], dens.logp_and_grad(x)[0], rtol=1e-12))
    True
    """

    def __init__(self, dens, shift=None, scale=None):
        K, D = dens.n_components, dens.n_features
        block = dens._cov.compiled_block(K, D, dens.priors)
        if block is None:
            raise NotImplementedError(f"covariance_type={dens.covariance_type!r} has no compiled density.")
        self.dens = dens
        self.ndim = dens.ndim
        self.with_correlations = bool(dens._cov.has_correlations)
        noise = dens.noise_hypervolume is not None  # the uniform noise component
        self.expanded_names = ["weights", "means", "covariances", "sds"] + (
            ["correlations"] if self.with_correlations else []
        ) + (["noise_weight"] if noise else [])
        self.expanded_shapes = {"weights": (K,), "means": (K, D), "covariances": (K, D, D), "sds": (K, D),
                                "correlations": (K, D, D), "noise_weight": ()}
        self.n_expanded = int(sum(math.prod(self.expanded_shapes[n]) for n in self.expanded_names))
        pr = dens.priors
        params = np.asarray(block.params, dtype=np.float64).ravel()
        N = dens.X.shape[0]
        head = np.zeros(_HEADER)
        head[_H_N], head[_H_D], head[_H_K] = N, D, K
        head[_H_KIND], head[_H_NF], head[_H_NP] = block.kind, block.n_factors, params.size
        head[_H_NDIM], head[_H_NEXP] = self.ndim, self.n_expanded
        head[_H_CORR], head[_H_DIAG] = float(self.with_correlations), float(block.diagonal)
        head[_H_CONST] = dens._const
        if (shift is None) != (scale is None):
            raise ValueError("shift and scale of the rescaled coordinates: pass both or neither.")
        self.shift = self.scale = None
        if scale is not None:
            self.shift = np.array(shift, dtype=np.float64).reshape(self.ndim)
            self.scale = np.array(scale, dtype=np.float64).reshape(self.ndim)
            if not (np.all(np.isfinite(self.shift)) and np.all(np.isfinite(self.scale)) and np.all(self.scale > 0)):
                raise ValueError("scale of the rescaled coordinates must be positive and finite, shift finite.")
            head[_H_RESCALED] = 1.0
        head[_H_NOISE] = dens.noise_hypervolume if noise else 0.0
        parts = [
            head,
            params,
            np.broadcast_to(np.asarray(pr.mean_loc, dtype=np.float64), (D,)),
            np.broadcast_to(np.asarray(pr.mean_sd, dtype=np.float64), (D,)),
            np.asarray(dens._alpha, dtype=np.float64).reshape(K + noise),
            dens.X.T.ravel(),
        ]
        if self.scale is not None:
            parts += [self.shift, self.scale]
        # writeable, as the C callbacks see it: one compiled specialisation serves both
        self.buffer = np.ascontiguousarray(np.concatenate(parts))

    def __getattr__(self, name):
        # everything else (pack, unpack, names, n_components, ...) is the numpy density's
        if name == "dens":
            raise AttributeError(name)
        return getattr(self.dens, name)

    def logp_and_grad(self, x, X=None, scale=1.0):
        """Log posterior density and gradient at ``x`` (``-inf`` and zeros where not finite).

        Other data ``X`` or a ``scale`` (minibatches) are evaluated by the numpy
        density (:meth:`MixtureDensity.logp_and_grad`).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm._logdensity import MixtureDensity
        >>> from bayesgmm._compiled import CompiledDensity
        >>> cd = CompiledDensity(MixtureDensity(np.arange(6.0).reshape(3, 2), 1, "full"))
        >>> cd.logp_and_grad(np.zeros(cd.ndim))[1].shape
        (5,)
        """
        if X is not None or scale != 1.0:
            return self.dens.logp_and_grad(x, X=X, scale=scale)
        x = self.dens._check_x(x)
        grad = np.empty(self.ndim)
        lp = _logp_grad(self.buffer, np.ascontiguousarray(x), grad)
        return float(lp), grad

    def logp(self, x) -> float:
        """Log posterior density only."""
        return self.logp_and_grad(x)[0]

    def rescaled(self, shift, scale) -> CompiledDensity:
        """The same density in the sampler coordinates ``z`` with ``x = shift + scale * z``."""
        return CompiledDensity(self.dens, shift, scale)

    def logp_and_grad_z(self, z):
        """Log density and gradient in the sampler's coordinates, as the C callback computes them.

        ``z`` is ``x`` itself unless the density was built with ``shift`` and ``scale``.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm._logdensity import MixtureDensity
        >>> from bayesgmm._compiled import CompiledDensity
        >>> dens = MixtureDensity(np.arange(6.0).reshape(3, 2), 1, "diag")
        >>> cd = CompiledDensity(dens, shift=np.zeros(dens.ndim), scale=np.full(dens.ndim, 2.0))
        >>> bool(np.allclose(cd.logp_and_grad_z(np.ones(4))[1], 2 * cd.logp_and_grad(np.full(4, 2.0))[1]))
        True
        """
        z = np.ascontiguousarray(self.dens._check_x(z))
        grad = np.empty(self.ndim)
        lp = _logp_grad_z(self.buffer, z, grad)
        return float(lp), grad

    def to_z(self, x) -> np.ndarray:
        """Sampler coordinates of the model's unconstrained ``x``."""
        x = np.asarray(x, dtype=np.float64)
        return x.copy() if self.scale is None else (x - self.shift) / self.scale

    def from_z(self, z) -> np.ndarray:
        """The model's unconstrained point of the sampler's ``z``."""
        z = np.asarray(z, dtype=np.float64)
        return z.copy() if self.scale is None else self.shift + self.scale * z

    def expand(self, x) -> dict:
        """The posterior variables of one unconstrained draw, as :meth:`MixtureDensity.unpack` names them.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm._logdensity import MixtureDensity
        >>> from bayesgmm._compiled import CompiledDensity
        >>> cd = CompiledDensity(MixtureDensity(np.arange(6.0).reshape(3, 2), 2, "spherical"))
        >>> cd.expand(np.zeros(cd.ndim))["weights"]
        array([0.5, 0.5])
        """
        x = self.dens._check_x(x)
        out = np.empty(self.n_expanded)
        _expand(self.buffer, np.ascontiguousarray(x), out)
        res, o = {}, 0
        for n in self.expanded_names:
            size = math.prod(self.expanded_shapes[n])
            res[n] = out[o : o + size].reshape(self.expanded_shapes[n])
            o += size
        return res

    @property
    def logp_address(self) -> int:
        """Address of the C logp callback (nutpie's ``LogpFunc`` signature)."""
        return _cfuncs()["logp"].address

    @property
    def expand_address(self) -> int:
        """Address of the C expand callback (nutpie's ``ExpandFunc`` signature)."""
        return _cfuncs()["expand"].address

    @property
    def buffer_address(self) -> int:
        """Address of :attr:`buffer`, the callbacks' ``user_data``."""
        return self.buffer.ctypes.data


def compile_density(dens) -> CompiledDensity:
    """A :class:`CompiledDensity` of ``dens``, its kernels compiled (or loaded from the cache).

    Raises
    ------
    NotImplementedError
        The covariance type has no compiled form.
    Exception
        Whatever numba raises if compilation fails (the sampler then falls back
        to the numpy density).
    """
    cd = CompiledDensity(dens)
    cd.logp_and_grad(np.zeros(cd.ndim))  # compiles or loads the njit kernels
    _cfuncs()
    return cd
