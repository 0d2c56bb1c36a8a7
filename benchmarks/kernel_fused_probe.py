"""Probe: is the compiled density at D=2 bound by its passes over memory or by arithmetic?

Times, on one thread and on the grad grid's cell N=1e4, D=2, K=3, diag
(:func:`sampling.grad_cells`):

- ``kernel``: the compiled log density and gradient (``bayesgmm._compiled._logp_grad``);
- ``fused``: one loop over the observations doing everything for K=3 hard-coded
  (the three components' densities, their maximum, exponentials, sum, logarithm and
  the responsibility-weighted statistics the gradient needs), all in registers, no
  pass over memory but the data's; an experiment, not the package's code;
- ``fused, exp stand-in``: the same loop with the exponential replaced by a
  multiply-add (wrong values; it times everything but the exponentials).

If ``fused`` is not clearly faster than ``kernel``, the kernel's passes are not what
sets its time. Everything is compiled afresh in the process (``NUMBA_CACHE_DIR`` is
set to a new folder unless given): code loaded from numba's cache can run at another
speed than the same code compiled in the process (``benchmarks/kernel_ab.py``).
Usage::

    python benchmarks/kernel_fused_probe.py
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="fused_probe_"))

import numba  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sampling import _min_cpu, grad_cells  # noqa: E402

from bayesgmm._compiled import _logp_grad, compile_density  # noqa: E402
from bayesgmm._exp import exp_nonpositive  # noqa: E402

_FM = {"contract", "reassoc"}


def _make(exp):
    @numba.njit(fastmath=_FM, error_model="numpy")
    def fused3(X0, X1, c, mu, a, stats):
        n = X0.shape[0]
        c0, c1, c2 = c[0], c[1], c[2]
        m00, m01, m10, m11, m20, m21 = mu[0, 0], mu[0, 1], mu[1, 0], mu[1, 1], mu[2, 0], mu[2, 1]
        a00, a01, a10, a11, a20, a21 = a[0, 0], a[0, 1], a[1, 0], a[1, 1], a[2, 0], a[2, 1]
        total = 0.0
        R0 = R1 = R2 = S00 = S01 = S10 = S11 = S20 = S21 = Q00 = Q01 = Q10 = Q11 = Q20 = Q21 = 0.0
        for s0 in range(0, n, 512):
            prod = 1.0
            for b in range(s0, min(n, s0 + 512)):
                x0 = X0[b]
                x1 = X1[b]
                y00 = a00 * (x0 - m00)
                y01 = a01 * (x1 - m01)
                y10 = a10 * (x0 - m10)
                y11 = a11 * (x1 - m11)
                y20 = a20 * (x0 - m20)
                y21 = a21 * (x1 - m21)
                l0 = c0 - 0.5 * (y00 * y00 + y01 * y01)
                l1 = c1 - 0.5 * (y10 * y10 + y11 * y11)
                l2 = c2 - 0.5 * (y20 * y20 + y21 * y21)
                m = max(l0, max(l1, l2))
                e0 = exp(l0 - m)
                e1 = exp(l1 - m)
                e2 = exp(l2 - m)
                sm = e0 + e1 + e2
                total += m
                prod *= sm
                inv = 1.0 / sm
                r0 = e0 * inv
                r1 = e1 * inv
                r2 = e2 * inv
                R0 += r0
                R1 += r1
                R2 += r2
                t = r0 * y00
                S00 += t
                Q00 += t * y00
                t = r0 * y01
                S01 += t
                Q01 += t * y01
                t = r1 * y10
                S10 += t
                Q10 += t * y10
                t = r1 * y11
                S11 += t
                Q11 += t * y11
                t = r2 * y20
                S20 += t
                Q20 += t * y20
                t = r2 * y21
                S21 += t
                Q21 += t * y21
            total += math.log(prod)
        stats[:] = (R0, R1, R2, S00, S01, S10, S11, S20, S21, Q00, Q01, Q10, Q11, Q20, Q21)
        return total

    return fused3


@numba.njit(inline="always")
def _stand_in(v):
    return 1.0 + 1e-3 * v


def main():
    cell = next(c for c in grad_cells([10000]) if c[1:4] == (2, 3, "diag"))
    N, D, K, ct, dens, x = cell
    cd = compile_density(dens)
    g = np.empty(dens.ndim)
    X = np.ascontiguousarray(dens.X.T)  # (D, N), as the kernel stores it
    rng = np.random.default_rng(0)
    c = np.array([-1.0, -1.5, -2.0])
    mu = rng.normal(size=(3, 2))
    a = rng.random((3, 2)) + 0.5
    stats = np.empty(15)
    fused, stand_in = _make(exp_nonpositive), _make(_stand_in)
    fused(X[0], X[1], c, mu, a, stats)
    stand_in(X[0], X[1], c, mu, a, stats)
    t_k = _min_cpu(lambda: _logp_grad(cd.buffer, x, g), 1.0)
    t_f = _min_cpu(lambda: fused(X[0], X[1], c, mu, a, stats), 1.0)
    t_s = _min_cpu(lambda: stand_in(X[0], X[1], c, mu, a, stats), 1.0)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; N={N}, D={D}, K={K}, {ct}, one thread, min thread CPU time")
    print(f"kernel (_logp_grad):             {t_k * 1e6:7.1f} us")
    print(f"fused loop:                      {t_f * 1e6:7.1f} us  ({t_k / t_f:.2f}x the kernel's speed)")
    print(f"fused loop, exp stand-in:        {t_s * 1e6:7.1f} us  (the exponentials: {(t_f - t_s) * 1e6:.1f} us)")


if __name__ == "__main__":
    main()
