"""How fast can an exponential be on this CPU? A hand-written 512-bit one, against the package's.

A probe for the flop-limit target at ``D = 2`` (``benchmarks/README.md``, "What the ``D = 2``
cells are made of"): the compiled density's exponential (:mod:`bayesgmm._exp`: a
degree-11 polynomial on ``|r| <= log(2) / 2``, 13 multiplications and multiply-adds,
vectorised by LLVM from scalar code) against the fastest exponential within about 1 ulp
that this probe's author could write for an AVX-512 CPU: LLVM IR with explicit
``<8 x double>`` vectors, compiled by llvmlite, called through ctypes. Not package code
(numba's loops cannot emit it, and it would tie the package to one instruction set).

The table exponential: ``exp(t) = 2^(m / 16) exp(r)`` with ``m = round(16 t / log 2)``
(the ``1.5 2^52`` rounding trick, so the integer is in the low bits), ``|r| <= log(2) / 32``
(Cody-Waite, ``log(2) / 16`` in two parts), ``2^(j / 16)`` for ``j = m mod 16`` from a
16-entry table held in two registers (one ``vpermt2pd``, which reads the index's low four
bits), ``exp(r) = 1 + r + r^2 Q(r)`` with ``Q`` of degree 4 (Chebyshev fit), the
result ``T + T (r + r^2 Q)`` and ``m >> 4`` added to its exponent bits; clamped to
``[-708, 0]``, 0 below ``-600`` and NaN kept, as :func:`bayesgmm._exp.exp_nonpositive`.
10 multiplications and multiply-adds per 8 values instead of 17.

Prints, for each, the error in ulps against an 80-bit ``exp`` on ``[-600, 0]`` and the time
per value (minimum thread CPU time over repeats of a loop writing ``--n`` results, the
protocol of ``sampling.py``'s ``exp_throughput``; median over ``--rounds`` rounds), and
numpy's ``np.exp``. With ``--project FILE`` (a ``kernel_ab.py --probe no-exp`` results
file) it also projects each of that file's cells: the kernel's ``x limit`` if its
exponentials took the table exponential's share of their time,
``x_noexp + (x_kernel - x_noexp) * t_table / t_package`` (an optimistic bound: the
kernel's exponential pass is not bound by its multiply-adds alone)::

    python benchmarks/exp_table_probe.py [--n 100000] [--rounds 5] [--degree 4] [--rev 52a8d33]
        [--project benchmarks/results/kernel_probe_no-exp_2026-12-03_epyc_horner.txt]

``--rev`` also measures ``bayesgmm/_exp.py`` as it was at that commit (compiled afresh), for
an A/B of a change to the package's exponential.

Needs an x86-64 CPU with AVX-512F and an 80-bit ``long double`` (x86-64 Linux).
"""

from __future__ import annotations

import argparse
import ctypes
import math
import statistics
import struct
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

_ROUND = 6755399441055744.0  # 1.5 * 2**52
_ROUND_BITS = 0x4338000000000000


def _bits(v):
    return "0x%016X" % struct.unpack("<Q", struct.pack("<d", float(v)))[0]


def _vec(values):
    return "<" + ", ".join(f"double {_bits(v)}" for v in values) + ">"


def _splat(v):
    return _vec([v] * 8)


def _isplat(v):
    return "<" + ", ".join(f"i64 {v}" for _ in range(8)) + ">"


def coefficients(degree):
    """``Q(r) = (e^r - 1 - r) / r^2`` on ``|r| <= 1.0005 log(2) / 32``: Chebyshev interpolation of
    degree ``degree`` (``exp_accuracy.py``'s :func:`chebyshev_q`), float64 monomial coefficients;
    and the largest relative error of ``1 + r + r^2 Q`` with them (:func:`q_error`)."""
    from exp_accuracy import chebyshev_q, q_error

    h = np.longdouble("0.693147180559945309417232121458176568") / 32 * np.longdouble(1.0005)
    coef = [float(v) for v in chebyshev_q(h, degree + 1)]
    return coef, q_error(h, coef)


def _poly_ir(coef):
    """IR lines computing ``%q = Q(%r)`` (``%r2 = r^2`` available): pairs ``c_i + c_{i+1} r`` by
    multiply-adds, then Horner's scheme in ``r^2`` over the pairs (the loop is bound by
    throughput, so the fewest operations: ``len(coef) - 1`` multiply-adds)."""
    lines, pairs = [], []
    for i in range(0, len(coef), 2):
        if i + 1 < len(coef):
            lines.append(f"  %p{i} = call <8 x double> @llvm.fma.v8f64(<8 x double> %r, <8 x double> "
                         f"{_splat(coef[i + 1])}, <8 x double> {_splat(coef[i])})")
            pairs.append(f"%p{i}")
        else:
            pairs.append(_splat(coef[i]))  # a lone last coefficient: a constant
    acc = pairs[-1]
    for j in range(len(pairs) - 2, -1, -1):
        name = f"%h{j}"
        lines.append(f"  {name} = call <8 x double> @llvm.fma.v8f64(<8 x double> %r2, <8 x double> {acc}, "
                     f"<8 x double> {pairs[j]})")
        acc = name
    lines.append(f"  %q = fadd <8 x double> {acc}, {_splat(-0.0)}")  # (x + -0 is x: folded)
    return lines


def table_exp_ir(coef):
    """LLVM IR of ``void table_exp(double *src, double *dst, i64 n)`` (``n`` a multiple of 8)."""
    log2e16 = 16.0 / math.log(2.0)
    ln2_16 = float(np.longdouble("0.693147180559945309417232121458176568") / 16)
    hi_bits = struct.unpack("<q", struct.pack("<d", ln2_16))[0] & ~((1 << 20) - 1)  # 32 significant bits
    hi = struct.unpack("<d", struct.pack("<q", hi_bits))[0]
    lo = float(np.longdouble("0.693147180559945309417232121458176568") / 16 - np.longdouble(hi))
    table = [float(np.exp2(np.longdouble(j) / 16)) for j in range(16)]
    body = "\n".join(_poly_ir(coef))
    return f"""
declare <8 x double> @llvm.x86.avx512.vpermi2var.pd.512(<8 x double>, <8 x i64>, <8 x double>)
declare <8 x double> @llvm.fma.v8f64(<8 x double>, <8 x double>, <8 x double>)
declare <8 x double> @llvm.maxnum.v8f64(<8 x double>, <8 x double>)

define void @table_exp(ptr %src, ptr %dst, i64 %n) {{
entry:
  %none = icmp sle i64 %n, 0
  br i1 %none, label %exit, label %loop
loop:
  %i = phi i64 [0, %entry], [%inext, %loop]
  %ps = getelementptr double, ptr %src, i64 %i
  %t0 = load <8 x double>, ptr %ps, align 8
  %t = call <8 x double> @llvm.maxnum.v8f64(<8 x double> %t0, <8 x double> {_splat(-708.0)})
  %kf = call <8 x double> @llvm.fma.v8f64(<8 x double> %t, <8 x double> {_splat(log2e16)}, <8 x double> {_splat(_ROUND)})
  %nf = fsub <8 x double> %kf, {_splat(_ROUND)}
  %r1 = call <8 x double> @llvm.fma.v8f64(<8 x double> %nf, <8 x double> {_splat(-hi)}, <8 x double> %t)
  %r = call <8 x double> @llvm.fma.v8f64(<8 x double> %nf, <8 x double> {_splat(-lo)}, <8 x double> %r1)
  %kb = bitcast <8 x double> %kf to <8 x i64>
  %T = call <8 x double> @llvm.x86.avx512.vpermi2var.pd.512(<8 x double> {_vec(table[:8])}, <8 x i64> %kb, <8 x double> {_vec(table[8:])})
  %r2 = fmul <8 x double> %r, %r
{body}
  %p = call <8 x double> @llvm.fma.v8f64(<8 x double> %q, <8 x double> %r2, <8 x double> %r)
  %y = call <8 x double> @llvm.fma.v8f64(<8 x double> %T, <8 x double> %p, <8 x double> %T)
  %m = sub <8 x i64> %kb, {_isplat(_ROUND_BITS)}
  %e = ashr <8 x i64> %m, {_isplat(4)}
  %e52 = shl <8 x i64> %e, {_isplat(52)}
  %yb = bitcast <8 x double> %y to <8 x i64>
  %zb = add <8 x i64> %yb, %e52
  %z = bitcast <8 x i64> %zb to <8 x double>
  %small = fcmp olt <8 x double> %t0, {_splat(-600.0)}
  %z1 = select <8 x i1> %small, <8 x double> zeroinitializer, <8 x double> %z
  %nan = fcmp uno <8 x double> %t0, %t0
  %z2 = select <8 x i1> %nan, <8 x double> %t0, <8 x double> %z1
  %pd = getelementptr double, ptr %dst, i64 %i
  store <8 x double> %z2, ptr %pd, align 8
  %inext = add i64 %i, 8
  %more = icmp slt i64 %inext, %n
  br i1 %more, label %loop, label %exit
exit:
  ret void
}}
"""


def compile_table_exp(coef, show_asm=False):
    """The compiled table exponential as ``f(src, dst)`` on float64 arrays (sizes multiples of 8)."""
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    features = llvm.get_host_cpu_features()
    if not features.get("avx512f", False):
        sys.exit("this probe needs a CPU with AVX-512F (this one: %s)" % llvm.get_host_cpu_name())
    mod = llvm.parse_assembly(table_exp_ir(coef))
    mod.verify()
    tm = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=features.flatten(), opt=3)
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(mod, pb)
    if show_asm:
        asm = tm.emit_assembly(mod)
        start = asm.index("table_exp:")
        print(asm[start:asm.index("ret", start) + 3])
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    cfn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)(
        engine.get_function_address("table_exp"))

    def run(src, dst):
        if src.size % 8 or dst.size != src.size or src.dtype != np.float64 or not src.flags.c_contiguous:
            raise ValueError("src, dst: contiguous float64 arrays of one size, a multiple of 8")
        cfn(src.ctypes.data, dst.ctypes.data, src.size)

    run.engine = engine  # keep the machine code alive
    return run


def _ulps(out, v):
    ref = np.exp(v.astype(np.longdouble))
    ok = v >= -600.0
    err = np.abs(out[ok].astype(np.longdouble) - ref[ok]) / np.spacing(ref[ok].astype(np.float64))
    return float(err.max()), float(err.mean()), bool(np.all(out[~ok] == 0.0))


def project(path, ratio):
    """Rows of a ``kernel_ab.py --probe no-exp`` results file, projected (see the module's docstring)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 10 or not parts[0].isdigit():
            continue
        N, D, K, cov = int(parts[0]), int(parts[1]), int(parts[2]), parts[3]
        x_kernel, x_noexp = float(parts[7]), float(parts[8])
        rows.append((N, D, K, cov, x_kernel, x_noexp, x_noexp + (x_kernel - x_noexp) * ratio))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="values per timed loop (default 1e5, rounded to 8)")
    ap.add_argument("--rounds", type=int, default=5, help="timing rounds, median reported (default 5)")
    ap.add_argument("--degree", type=int, default=4, help="degree of Q (default 4)")
    ap.add_argument("--asm", action="store_true", help="print the table exponential's machine code")
    ap.add_argument("--project", metavar="FILE", help="a kernel_ab.py --probe no-exp results file")
    ap.add_argument("--rev", help="also bayesgmm/_exp.py as it was at this commit (compiled afresh)")
    args = ap.parse_args()
    if np.finfo(np.longdouble).nmant < 63:
        sys.exit("needs an 80-bit long double for the reference")
    from bayesgmm._exp import exp_nonpositive
    from exp_accuracy import FLAGS, arguments, loop
    from sampling import _min_cpu

    coef, fit_err = coefficients(args.degree)
    print(f"Q of degree {args.degree} on |r| <= log(2)/32: {coef}; 1 + r + r^2 Q within {fit_err:.2e} (relative)")
    density_flags = FLAGS["compiled density {contract, reassoc}"]
    package = "bayesgmm._exp.exp_nonpositive"
    candidates = {"table exponential": compile_table_exp(coef, args.asm),
                  package: loop(exp_nonpositive, density_flags)}
    if args.rev:
        from kernel_ab import _module, _source, rev_tag

        old = _module(_source(args.rev, "bayesgmm/_exp.py"), f"exp_{rev_tag(args.rev)}")
        candidates[f"{package} at {args.rev}"] = loop(old.exp_nonpositive, density_flags)
    candidates["numpy.exp"] = lambda a, out: np.exp(a, out=out)

    v = arguments(-708.0, 1_000_000)
    v = np.ascontiguousarray(v[: v.size // 8 * 8])
    out = np.empty_like(v)
    print(f"{v.size} arguments in [-708, 0] (as exp_accuracy.py); error in ulps against 80-bit exp on [-600, 0]")
    for label, run in candidates.items():
        run(v, out)
        mx, mean, flush = _ulps(out, v)
        print(f"{label}: max {mx:.3g}, mean {mean:.3g}; 0 below -600: {flush}")

    n = args.n // 8 * 8
    a = -30.0 * np.random.default_rng(0).random(n)
    o = np.empty(n)
    times = {label: [] for label in candidates}
    for _ in range(args.rounds):  # interleaved, so that load affects each alike
        for label, run in candidates.items():
            times[label].append(_min_cpu(lambda: run(a, o), 0.5) / n)
    med = {k: statistics.median(t) * 1e9 for k, t in times.items()}
    print(f"time per value, one thread, median of {args.rounds} rounds of the minimum over repeats "
          f"({n} values of -30 U(0, 1)):")
    for label, t in times.items():
        print(f"  {label}: {med[label]:.3f} ns (rounds: {', '.join(f'{x * 1e9:.3f}' for x in t)})")
    print(f"time / {package}'s: "
          + ", ".join(f"{label} {med[label] / med[package]:.2f}" for label in candidates if label != package))
    ratio = med["table exponential"] / med[package]
    if args.project:
        print(f"projection from {args.project}: x limit if the kernel's exponentials took {ratio:.2f} of their time")
        print("N | D | K | cov | x limit kernel | x limit no-exp | x limit projected")
        for N, D, K, cov, xk, xn, xp in project(args.project, ratio):
            print(f"{N} | {D} | {K} | {cov} | {xk:.1f} | {xn:.1f} | {xp:.2f}")


if __name__ == "__main__":
    main()
