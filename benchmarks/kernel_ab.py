"""Interleaved A/B of the compiled likelihood kernel: this checkout against an earlier commit.

Loads ``bayesgmm/_compiled.py`` as it was at ``--rev`` (``git show``) and as it is in
this checkout, each as a separate module compiled afresh in this process (neither
from numba's cache: the load path alone moved one kernel's time by 30 %), and times
both gradients alternately (minimum thread CPU time over repeats), so that load on
the machine affects both alike; also prints how far apart their log densities and
gradients are. Code placement still differs between the two modules: repeat a run,
and for the time users see after the first run (code loaded from the cache) compare
``benchmarks/sampling.py --sections grad --cells ...`` run twice with the same
``NUMBA_CACHE_DIR`` in each version's checkout::

    python benchmarks/kernel_ab.py --rev b20ba86 [--n 10000] [--d 1 3]
    python benchmarks/kernel_ab.py --rev 01a1e4e --em-diag   # the diagonal EM kernel instead

Each version uses its own exponential (``bayesgmm/_exp.py`` at that commit, also compiled
afresh), so a change to the exponential alone is an A/B too. The old module imports
the current ``bayesgmm.covariance._compiled``; use a revision whose buffer layout and
covariance blocks are those of this checkout.

``--probe no-exp`` and ``--probe one-exp-fewer`` are timing probes, not A/Bs of two
commits: "old" is this checkout's kernel, "new" the same kernel with its exponentials
replaced by a multiply-add (``no-exp``: what the rest of the kernel costs) or with the
first component's exponential left out (``one-exp-fewer``: one exponential fewer per
observation, for free: a bound on what any scheme computing ``K - 1`` exponentials could
gain). Their results are wrong by design (the last two columns say how wrong)::

    python benchmarks/kernel_ab.py --probe no-exp --n 10000 100000 --d 2

``--em-diag`` compares ``bayesgmm/covariance/_fused.py`` (the diagonal EM kernel,
:func:`~bayesgmm.covariance._fused.diag_statistics`: one E-step and its statistics) the
same way, on standard normal data with random means and precisions, for a few
``(N, D, K)``.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sampling import expansion_flops, grad_cells, matmul_gflops  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _module(src, name):
    """``src`` (a module's source) as a module of its own, compiled afresh in this process
    (a new folder, so numba's cache has nothing for it)."""
    d = Path(tempfile.mkdtemp(prefix="kernel_ab_"))
    path = d / f"{name}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_EXP_IMPORT = "from bayesgmm._exp import "


def _source(rev, relpath):
    """The text of ``relpath`` at ``rev`` (``None``: this checkout)."""
    if rev is None:
        return (ROOT / relpath).read_text()
    return subprocess.run(["git", "show", f"{rev}:{relpath}"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def rev_tag(rev):
    """``rev`` as part of a module name (which an ``import`` must be able to spell):
    ``"v1.2-rc"`` -> ``"v1_2_rc"``."""
    return "".join(c if c.isalnum() else "_" for c in rev)


def _kernel(rev, relpath, name):
    """The module at ``relpath`` as it is at ``rev`` (``None``: this checkout), compiled afresh
    (:func:`_module`), with the exponential (``bayesgmm/_exp.py``) of the same version: the
    kernels inline it, so an A/B of a change to it needs each version's own."""
    src = _source(rev, relpath)
    if _EXP_IMPORT in src:
        exp_name = f"exp_for_{name}"
        sys.modules[exp_name] = _module(_source(rev, "bayesgmm/_exp.py"), exp_name)
        src = src.replace(_EXP_IMPORT, f"from {exp_name} import ")
    return _module(src, name)


def _versions(rev, relpath, name):
    """The module at ``relpath`` as it was at ``rev`` and as it is in this checkout, both
    compiled afresh (:func:`_kernel`): the same machine code ran 53 us loaded from numba's
    cache and 68-90 us compiled in the process (N=1e4, D=2, K=3, diag; placement in
    memory, 2 Dec 2026), so the two versions must come the same way."""
    return _kernel(rev, relpath, f"{name}_{rev_tag(rev)}"), _kernel(None, relpath, f"{name}_checkout")


#: ``--probe``: (text in the kernel's exponential passes, its replacement, how many times
#: it must occur); a probe fails loudly when the kernel no longer has that text. The first
#: pair's pass (``sm[b] = ea + eb``, where later pairs add) is where ``one-exp-fewer``
#: sets component 0's exponential to 1.
_FIRST_PAIR = ("            ea = exp_nonpositive(l0[b] - m)\n"
               "            eb = exp_nonpositive(l1[b] - m)\n"
               "            l0[b] = ea\n"
               "            l1[b] = eb\n"
               "            sm[b] = ea + eb")
_PROBES = {
    "no-exp": ("exp_nonpositive(", "(0.5 + 1e-3 * ", 6),
    "one-exp-fewer": (_FIRST_PAIR, _FIRST_PAIR.replace("exp_nonpositive(l0[b] - m)", "1.0"), 1),
}


def _probe(name):
    """This checkout's kernel and the probe ``name`` of it (:data:`_PROBES`), both compiled afresh."""
    src = (ROOT / "bayesgmm/_compiled.py").read_text()
    head, body = src.split("def _loglik_block", 1)
    find, repl, count = _PROBES[name]
    if body.count(find) != count:
        raise SystemExit(f"--probe {name}: the kernel's exponential passes changed "
                         f"({body.count(find)} matches of the probe's text, expected {count})")
    probe = head + "def _loglik_block" + body.replace(find, repl)
    return _module(src, "compiled_checkout"), _module(probe, f"compiled_{name.replace('-', '_')}")


def _alternate(run_old, run_new, repeats):
    """Minimum thread CPU time of each of two calls, timed alternately ``repeats`` times
    (load on the machine affects both alike)."""
    to, tn = [], []
    for _ in range(repeats):
        t = time.thread_time()
        run_old()
        to.append(time.thread_time() - t)
        t = time.thread_time()
        run_new()
        tn.append(time.thread_time() - t)
    return min(to), min(tn)


def em_diag(rev):
    """A/B of the diagonal EM kernel (``covariance/_fused.py``) at ``rev`` and in this checkout."""
    old, new = _versions(rev, "bayesgmm/covariance/_fused.py", "fused")
    print(f"diagonal EM kernel (diag_statistics); old = {rev}, new = this checkout")
    print("N | D | K | old ms | new ms | old / new | |dloglik| rel | |dstats| rel")
    rng = np.random.default_rng(0)
    for n, d, k in [(100_000, 2, 3), (100_000, 10, 10), (20_000, 5, 30), (1_000_000, 10, 3)]:
        X = rng.normal(size=(n, d))
        means = rng.normal(size=(k, d))
        pc = rng.uniform(0.5, 2.0, size=(k, d))
        const = np.log(np.full(k, 1.0 / k)) - 0.5 * d * np.log(2 * np.pi) + np.log(pc).sum(1)
        ro = old.diag_statistics(X, None, means, pc, const)
        rn = new.diag_statistics(X, None, means, pc, const)
        a, b = _alternate(lambda: old.diag_statistics(X, None, means, pc, const),
                          lambda: new.diag_statistics(X, None, means, pc, const), max(5, int(3e6 / n)))
        print(f"{n} | {d} | {k} | {a * 1e3:.2f} | {b * 1e3:.2f} | {a / b:.2f} | "
              f"{abs(ro[2] - rn[2]) / abs(ro[2]):.1e} | {np.abs(ro[0] - rn[0]).max() / np.abs(ro[0]).max():.1e}",
              flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", help="the earlier commit")
    ap.add_argument("--probe", choices=sorted(_PROBES),
                    help="instead of --rev: this checkout against a timing probe of it")
    ap.add_argument("--n", type=int, nargs="*", default=[1000, 10000, 100000])
    ap.add_argument("--d", type=int, nargs="*", default=[2, 10], help="dimensions (default 2 10)")
    ap.add_argument("--em-diag", action="store_true", help="compare the diagonal EM kernel instead")
    args = ap.parse_args()
    if (args.rev is None) == (args.probe is None):
        ap.error("give either --rev (an A/B against that commit) or --probe")
    if args.em_diag:
        if args.rev is None:
            ap.error("--em-diag compares against --rev")
        em_diag(args.rev)
        return
    if args.probe:
        old, new = _probe(args.probe)
        label = f"old = this checkout, new = probe {args.probe} (wrong results by design)"
    else:
        old, new = _versions(args.rev, "bayesgmm/_compiled.py", "compiled")
        label = f"old = {args.rev}, new = this checkout"
    gf = matmul_gflops()
    print(f"one-thread matrix product {gf:.1f} GFLOP/s; {label}")
    print("N | D | K | cov | old us | new us | old / new | x limit old | x limit new | |dlogp| rel | |dgrad| rel")
    for N, D, K, ct, dens, x in grad_cells(args.n, tuple(args.d)):
        co, cn = old.compile_density(dens), new.compile_density(dens)
        go, gn = np.empty(dens.ndim), np.empty(dens.ndim)
        lo = old._logp_grad(co.buffer, x, go)
        ln = new._logp_grad(cn.buffer, x, gn)
        a, b = _alternate(lambda: old._logp_grad(co.buffer, x, go), lambda: new._logp_grad(cn.buffer, x, gn),
                          max(5, int(2e6 / N)))
        lim = expansion_flops(N, D, K, ct) / (gf * 1e9)
        print(f"{N} | {D} | {K} | {ct} | {a * 1e6:.1f} | {b * 1e6:.1f} | {a / b:.2f} | {a / lim:.1f} | "
              f"{b / lim:.1f} | {abs(lo - ln) / abs(lo):.1e} | {np.abs(go - gn).max() / np.abs(go).max():.1e}",
              flush=True)


if __name__ == "__main__":
    main()
