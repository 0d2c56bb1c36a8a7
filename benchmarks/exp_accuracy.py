"""Accuracy of the compiled kernels' exponential (``bayesgmm._exp``) against an 80-bit ``exp``.

Prints, in ulps of the float64 result, the largest and the mean error of
:func:`bayesgmm._exp.exp_reduced` over ``[-708, 0]`` (uniform, uniform on ``[-2, 0]``
and log-spaced from ``-1e-300``: every scale of argument), compiled in a loop with
no ``fastmath`` flags (no multiply-adds fused: as on a CPU without them), with
each flag set a caller uses and, to show why callers must not, with ``reassoc`` and
``nsz`` together; then numpy's ``exp`` on the same arguments; with
``--rev`` also the exponential of ``bayesgmm/_compiled.py`` at that commit (before
2 Dec 2026 it had its own, ``_exp_nonpositive``), on ``[-600, 0]`` where that one is
defined::

    python benchmarks/exp_accuracy.py [--rev 01a1e4e] [--n 2000000]
    python benchmarks/exp_accuracy.py --coefficients   # recompute the polynomial

Needs an x87 80-bit ``long double`` (x86-64 Linux) for the reference.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bayesgmm._exp import exp_reduced  # noqa: E402

FLAGS = {
    "none (as on a CPU without fused multiply-add)": set(),
    "own {contract}": {"contract"},
    "compiled density {contract, reassoc}": {"contract", "reassoc"},
    "EM diag {nsz, contract}": {"nsz", "contract"},
    "not allowed {reassoc, nsz}": {"reassoc", "nsz"},
}


def arguments(lo, n):
    rng = np.random.default_rng(3)
    return -np.concatenate([rng.random(n) * -lo, rng.random(n) * 2.0, np.logspace(-300, np.log10(-lo), 5000), [0.0]])


def ulps(out, v):
    ref = np.exp(v.astype(np.longdouble))
    err = np.abs(out.astype(np.longdouble) - ref) / np.spacing(ref.astype(np.float64))
    return float(err.max()), float(err.mean())


def loop(fn, flags):
    @numba.njit(fastmath=flags)
    def run(v, out):
        for b in range(v.shape[0]):
            out[b] = fn(v[b])

    return run


def chebyshev_q(h, n):
    """Interpolation of ``Q(r) = (e^r - 1 - r) / r^2`` at the ``n`` Chebyshev nodes of ``|r| <= h``
    (a long double): its ``n`` monomial coefficients, solved in float64 and refined in 80-bit
    arithmetic, as long doubles."""
    L = np.longdouble

    def q(r):  # the series sum_j r^j / (j + 2)!
        s, t, j = L(0), L(0.5), 0
        while abs(t) > L(1e-25):
            s += t
            j += 1
            t = t * r / L(j + 2)
        return s

    nodes = [h * L(np.cos(np.pi * (2 * k + 1) / (2 * n))) for k in range(n)]
    A = np.array([[x**j for j in range(n)] for x in nodes], dtype=L)
    b = np.array([q(x) for x in nodes], dtype=L)
    c = np.linalg.solve(A.astype(np.float64), b.astype(np.float64)).astype(L)
    for _ in range(5):
        c = c + np.linalg.solve(A.astype(np.float64), (b - A.dot(c)).astype(np.float64)).astype(L)
    return c


def q_error(h, coef):
    """The largest relative error of ``1 + r + r^2 Q(r)`` on ``|r| <= h``, ``Q`` the float64
    coefficients ``coef`` (constant first) evaluated in 80 bits."""
    L = np.longdouble
    xs = np.linspace(-h, h, 20001, dtype=L)
    poly = np.zeros_like(xs)
    for cj in coef[::-1]:
        poly = poly * xs + L(cj)
    return float((np.abs((1 + xs + xs * xs * poly) - np.exp(xs)) / np.exp(xs)).max())


def coefficients():
    """Recompute ``bayesgmm._exp``'s ``Q``: :func:`chebyshev_q` at 10 nodes of ``|r| <= 1.0005
    log(2) / 2``; prints them beside the module's and the largest relative error of ``1 + r +
    r^2 Q(r)`` with the module's coefficients (:func:`q_error`)."""
    from bayesgmm import _exp

    h = np.longdouble("0.693147180559945309417232121458176568") / 2 * np.longdouble(1.0005)
    n = 10
    c = chebyshev_q(h, n)
    mine = np.array([getattr(_exp, f"_Q{j}") for j in range(n)])
    print("Q coefficients, recomputed | bayesgmm._exp")
    for j in range(n):
        print(f"  Q{j}: {float(c[j])!r} | {float(mine[j])!r}")
    print(f"max relative error of 1 + r + r^2 Q(r) on |r| <= {float(h):.4f}: {q_error(h, mine):.2e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", help="also the exponential of bayesgmm/_compiled.py at this commit")
    ap.add_argument("--n", type=int, default=2_000_000, help="uniform arguments per range (default 2e6)")
    ap.add_argument("--coefficients", action="store_true", help="recompute the polynomial's coefficients")
    args = ap.parse_args()
    if np.finfo(np.longdouble).nmant < 63:
        sys.exit("needs an 80-bit long double for the reference")
    if args.coefficients:
        coefficients()
        return
    v = arguments(-708.0, args.n)
    out = np.empty_like(v)
    print(f"{v.size} arguments in [-708, 0]; error in ulps of the float64 result against 80-bit exp")
    for label, flags in FLAGS.items():
        loop(exp_reduced, flags)(v, out)
        mx, mean = ulps(out, v)
        print(f"bayesgmm._exp.exp_reduced, fastmath {label}: max {mx:.3g}, mean {mean:.3g}")
    mx, mean = ulps(np.exp(v), v)
    print(f"numpy.exp: max {mx:.3g}, mean {mean:.3g}")
    if args.rev:
        src = subprocess.run(["git", "show", f"{args.rev}:bayesgmm/_compiled.py"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        path = Path(tempfile.mkdtemp(prefix="exp_accuracy_")) / "old_compiled.py"
        path.write_text(src)
        spec = importlib.util.spec_from_file_location("old_compiled", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        w = arguments(-600.0, args.n)
        o = np.empty_like(w)
        loop(mod._exp_nonpositive, {"contract", "reassoc"})(w, o)
        mx, mean = ulps(o, w)
        print(f"{args.rev}'s _compiled._exp_nonpositive on [-600, 0], fastmath {{contract, reassoc}}: "
              f"max {mx:.3g}, mean {mean:.3g}")
        loop(exp_reduced, {"contract", "reassoc"})(w, o)
        mx, mean = ulps(o, w)
        print(f"bayesgmm._exp.exp_reduced on the same [-600, 0] arguments: max {mx:.3g}, mean {mean:.3g}")


if __name__ == "__main__":
    main()
