"""The exponential of the compiled kernels: vectorisable, within about 1 ulp.

numba compiles ``math.exp`` in a loop to a call of libm's scalar ``exp`` per element,
which costs more than the rest of a likelihood evaluation and keeps the loop from
vectorising. The functions here are inlined into the callers' loops (``inline="always"``)
and vectorise: ``exp(t) = 2^n exp(r)`` with ``n = round(t / log 2)`` and ``|r| <= log(2) /
2`` (Cody-Waite reduction, ``log 2`` in two parts so ``n log_hi 2`` is exact), ``2^n`` put
into the exponent bits by a bitcast, and ``exp(r) = 1 + r + r^2 Q(r)`` with ``Q`` of degree
9 (a Chebyshev fit of ``(e^r - 1 - r) / r^2`` on ``|r| <= 0.3467``: relative error 1.6e-17
with the float64 coefficients) as five pairs ``Q_i + Q_{i+1} r`` and Horner's scheme in
``r^2`` over them. The loops are bound by throughput, not latency, so the fewest
operations win: Estrin's scheme (``r^4`` and ``r^8`` formed, two products more) took 0.70
ns a value against 0.63 (``benchmarks/exp_table_probe.py --rev 52a8d33``), and the
likelihood kernel at ``D = 2`` about 4 % longer (0.98-1.06, median 1.045, against an
identical-code control's 0.98-1.01; ``benchmarks/kernel_ab.py``,
``benchmarks/README.md``). 1 product and 10 multiply-adds for the polynomial, 3
multiply-adds for the reduction, 1 product for the scaling. The scaling stays a product:
adding ``n`` to the result's exponent bits as integers was 2-7 % faster alone but no
faster in the kernel (0.98-1.02), and turns a NaN with a payload into a number. Against an
80-bit ``exp`` on ``[-708, 0]``: at most 1.04 ulp (1.07 with multiply-adds fused), mean
0.27; numpy's own: 0.70 and 0.25 (``benchmarks/exp_accuracy.py``, ``tests/test_exp.py``).

Callers: the compiled posterior density (:mod:`bayesgmm._compiled`, the sampler's
responsibilities) and the diagonal EM kernel (:mod:`bayesgmm.covariance._fused`). Layer
1: imports numba and llvmlite only. The callers' cached machine code contains this
code, and numba's cache only notices changes to a function's own file: after editing
this one, clear the cache (``__pycache__/*.nbi``, ``*.nbc`` beside the callers, or
``NUMBA_CACHE_DIR``).

The reduction relies on the order of its operations (``(t log2 e + 1.5 2^52) - 1.5 2^52``
rounds to an integer): callers may compile with ``fastmath`` ``contract``, ``nsz`` or
``reassoc``, not with all of ``reassoc`` and ``nsz`` together (LLVM may then fold the
rounding away); the tests compile the loop with each caller's flags.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["EXP_FLUSH", "exp_nonpositive", "exp_reduced"]


@intrinsic
def _as_float(typingctx, bits):
    """The float64 whose bits are the int64 ``bits`` (a bitcast, no conversion: loops with it vectorise)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _as_int(typingctx, value):
    """The int64 whose bits are the float64 ``value`` (a bitcast)."""
    if value != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # log(2) to 32 bits: n * _LN2_HI is exact for |n| < 2^21
_LN2_LO = 1.9082149292705877e-10  # log(2) - _LN2_HI
_ROUND = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer kept in the low bits
_ROUND_BITS = 0x4338000000000000  # the bits of _ROUND
#: ``exp_nonpositive(v)`` is 0 for ``v`` below this (no subnormal results: each operation
#: on a subnormal number costs ~100 times more)
EXP_FLUSH = -600.0
# Q(r) = (e^r - 1 - r) / r^2 = 1/2 + r/6 + ...: Chebyshev interpolation of degree 9 on
# |r| <= 1.0005 log(2) / 2 (computed in 80-bit arithmetic, rounded to float64:
# ``python benchmarks/exp_accuracy.py --coefficients`` recomputes them)
_Q0, _Q1, _Q2, _Q3, _Q4 = (0.5000000000000001, 0.16666666666666669, 0.041666666666624,
                           0.008333333333330036, 0.0013888888917279946)
_Q5, _Q6, _Q7, _Q8, _Q9 = (0.0001984126986316285, 2.480152119183358e-05, 2.755726829438213e-06,
                           2.7620138327857954e-07, 2.5100464382838972e-08)


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"}, inline="always")
def exp_reduced(t):  # pragma: no cover - compiled
    """``exp(t)`` for ``t`` in ``[-708, 0]`` (a normal result); NaN gives NaN."""
    kf = t * _LOG2E + _ROUND
    nf = kf - _ROUND
    r = (t - nf * _LN2_HI) - nf * _LN2_LO
    r2 = r * r
    q = (_Q6 + _Q7 * r) + (_Q8 + _Q9 * r) * r2
    q = (_Q4 + _Q5 * r) + q * r2
    q = (_Q2 + _Q3 * r) + q * r2
    q = (_Q0 + _Q1 * r) + q * r2
    p = 1.0 + (r + q * r2)
    return p * _as_float((_as_int(kf) - _ROUND_BITS + 1023) << 52)


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"}, inline="always")
def exp_nonpositive(v):  # pragma: no cover - compiled
    """``exp(v)`` for ``v <= 0``: 0 below :data:`EXP_FLUSH`, NaN stays NaN."""
    e = exp_reduced(max(v, -708.0))
    e = 0.0 if v < EXP_FLUSH else e
    return e if v == v else v
