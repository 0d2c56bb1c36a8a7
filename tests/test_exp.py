"""The compiled kernels' exponential (:mod:`bayesgmm._exp`) against an 80-bit reference.

Compiled in loops with each caller's ``fastmath`` flags: its range reduction relies on
the order of operations, so a caller's flags could break it where the function alone is
fine.
"""

import numba
import numpy as np
import pytest

from bayesgmm._exp import EXP_FLUSH, exp_nonpositive, exp_reduced

#: the flags of the callers' loops: the function's own, the compiled density's
#: (``bayesgmm._compiled._njit``) and the diagonal EM kernel's (``covariance._fused._exp_tile``)
CALLER_FLAGS = {"own": {"contract"}, "density": {"contract", "reassoc"}, "em-diag": {"nsz", "contract"},
                "no-fma": set()}  # the last: nothing fused, as on a CPU without multiply-adds

EXTENDED = np.finfo(np.longdouble).nmant >= 63  # x87 80-bit long double (x86-64 Linux)


def _loop(fn, flags):
    @numba.njit(fastmath=flags)
    def run(v, out):
        for b in range(v.shape[0]):
            out[b] = fn(v[b])

    return run


def _arguments(lo):
    """Arguments in ``[lo, 0]`` at every scale: uniform over the range, over ``[-2, 0]``
    (the responsibilities that matter), and log-spaced from ``-1e-300``."""
    rng = np.random.default_rng(3)
    return -np.concatenate([rng.random(200_000) * -lo, rng.random(200_000) * 2.0,
                            np.logspace(-300, np.log10(-lo), 3000), [0.0]])


def _ulps(out, v):
    """Error of ``out`` in units of the last place of ``exp(v)`` in float64, against an
    80-bit ``exp`` where the platform has it (else numpy's float64 ``exp``, itself within
    about 0.5-1 ulp, and so a looser bound in the tests)."""
    if EXTENDED:
        ref = np.exp(v.astype(np.longdouble))
        return np.asarray(np.abs(out.astype(np.longdouble) - ref) / np.spacing(ref.astype(np.float64)),
                          dtype=np.float64)
    ref = np.exp(v)
    return np.abs(out - ref) / np.spacing(ref)


@pytest.mark.parametrize("caller", sorted(CALLER_FLAGS))
def test_exp_reduced_within_about_one_ulp_on_its_range(caller):
    v = _arguments(-708.0)
    out = np.empty_like(v)
    _loop(exp_reduced, CALLER_FLAGS[caller])(v, out)
    err = _ulps(out, v)
    # measured 3 Dec 2026 (Zen 4; benchmarks/exp_accuracy.py, 4e6 arguments): at most 1.04 ulp
    # without fused multiply-adds, 1.07 with (each caller's flags; 1.08 in Estrin's scheme),
    # mean 0.27 (numpy's own: 0.70 and 0.25; the density's exponential before 2 Dec 2026: 2.11
    # and 0.47). The bound leaves room for another CPU's code generation (which operations are
    # fused).
    assert err.max() <= (1.5 if EXTENDED else 2.0)
    if EXTENDED:  # numpy's float64 exp as the reference would add its own mean error
        assert err.mean() <= 0.35
    assert out[-1] == 1.0
    # NaN stays NaN, payload bits included (the scaling is a product, not an integer addition
    # to the exponent bits, which would carry a payload's low bits into sign and exponent)
    nan = np.array([0x7FF8000000000000, 0x7FF8000000000001, 0x7FF80000000ABCDE, 0xFFF8000000000FFF],
                   dtype=np.uint64).view(np.float64)
    _loop(exp_reduced, CALLER_FLAGS[caller])(nan, nan)
    assert np.isnan(nan).all()


@pytest.mark.parametrize("caller", sorted(CALLER_FLAGS))
def test_exp_nonpositive_flushes_below_minus_600_and_keeps_nan(caller):
    run = _loop(exp_nonpositive, CALLER_FLAGS[caller])
    v = _arguments(EXP_FLUSH)
    out = np.empty_like(v)
    run(v, out)
    assert _ulps(out, v).max() <= (1.5 if EXTENDED else 2.0)
    assert (out >= np.finfo(np.float64).tiny).all()  # no subnormal result above the flush
    w = np.array([EXP_FLUSH - 1e-9, -700.0, -708.5, -1e300, -np.inf, np.nan])
    o = np.empty_like(w)
    run(w, o)
    np.testing.assert_array_equal(o[:5], 0.0)
    assert np.isnan(o[5])


def test_exp_at_exact_points():
    """exp(0) = 1, and powers of two at small multiples of log 2 (the float64 argument
    ``-n log 2`` is off by up to ``n`` times log 2's rounding error, 2.3e-17)."""
    run = _loop(exp_reduced, CALLER_FLAGS["own"])
    v = np.array([0.0, -np.log(2.0), -10 * np.log(2.0)])
    out = np.empty_like(v)
    run(v, out)
    assert out[0] == 1.0
    np.testing.assert_allclose(out[1:], [0.5, 2.0**-10], rtol=5e-16)
