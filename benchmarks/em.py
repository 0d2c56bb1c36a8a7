"""Benchmark: bayesgmm.GaussianMixture vs scikit-learn's GaussianMixture (EM).

Both libraries fit the same data from the same initial parameters
(``weights_init``, ``means_init``, ``precisions_init``) for the same number of
iterations (``tol=0``, ``max_iter``), so they do the same EM work. For every
cell of the grid the script prints

* the median fit time of each library at 1 and at 2 BLAS threads
  (``threadpoolctl``); each library is scored at its better thread setting and
  the ratio ``sklearn / bayesgmm`` is printed (> 1: bayesgmm faster). For
  small per-chunk products bayesgmm runs BLAS single-threaded and spreads its
  row blocks over that many threads instead (see ``GaussianMixture``'s notes),
  so "@2" is two threads for both libraries;
* the median CPU time (``time.process_time``) of the 1-thread fits and its
  ratio: on a shared, loaded machine this is steadier than wall time;
* the peak memory of one fit of each library, measured in a fresh
  subprocess with :mod:`tracemalloc` (numpy reports its array allocations to
  tracemalloc, so this is the peak of *extra* array memory allocated during
  ``fit``: the input ``X`` itself is excluded, BLAS-internal buffers are not
  counted for either library), plus the subprocess's peak RSS
  (``resource.getrusage``, input included) as an absolute figure;
* for full / N=1e5 / D=10 / K=10, the GFLOP/s of one bayesgmm EM iteration
  vs the machine's matrix-product throughput (a large ``A @ B`` timed in the
  same run).

Usage::

    python benchmarks/em.py --quick            # N in {1e4, 1e5}, D in {2, 10}
    python benchmarks/em.py --target           # N=1e5, D=10, K=10 only
    python benchmarks/em.py                    # the whole grid (long: N=1e6)
    python benchmarks/em.py --cells 1e6,50,10,full --repeats 1 --threads 2
    python benchmarks/em.py --repeats 5 --time-budget 20   # grid, slow cells fewer repeats
    python benchmarks/em.py --end-to-end       # default fit (start included) vs sklearn's
    python benchmarks/em.py --spin-check       # threads left busy-waiting after each fit
    python benchmarks/em.py --mclust-models    # per-iteration time of mclust's 14 models, ours and R's

``--end-to-end`` times the whole default ``fit`` instead (default
``init_params="kmeans"``, default ``tol`` and ``max_iter``, initialisation
included) of both libraries at N=1e5, D=10, K=10, full and diag, over
``random_state`` = 0..9 on the same data: per seed each library's better time at
1 and 2 threads; the median time ratio (scikit-learn / bayesgmm) and each
library's mean final log-likelihood per row (``score(X)``).

See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

GRID_N = [10_000, 100_000, 1_000_000]
GRID_D = [2, 10, 50]
GRID_K = [3, 10]
GRID_CT = ["full", "diag"]


def make_data(n, d, k, seed=0):
    """K well-separated Gaussian clusters with random covariances (float64)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 4.0
    scales = rng.uniform(0.5, 2.0, size=(k, d))
    labels = rng.integers(0, k, size=n)
    X = rng.standard_normal(size=(n, d))
    X *= scales[labels]
    X += centers[labels]
    return X


def make_init(X, k, ct, seed=1):
    """Shared initial parameters: K random rows, identity-like precisions."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    means = X[rng.choice(n, size=k, replace=False)].copy()
    var = X[: min(n, 10_000)].var(axis=0).mean()
    prec = {
        "full": np.tile(np.eye(d) / var, (k, 1, 1)),
        "tied": np.eye(d) / var,
        "diag": np.full((k, d), 1.0 / var),
        "spherical": np.full(k, 1.0 / var),
    }[ct]
    return dict(weights_init=np.full(k, 1.0 / k), means_init=means, precisions_init=prec)


def estimator(lib, k, ct, init, max_iter):
    if lib == "sklearn":
        from sklearn.mixture import GaussianMixture
    else:
        from bayesgmm import GaussianMixture
    return GaussianMixture(k, covariance_type=ct, tol=0.0, max_iter=max_iter, **init)


def time_fit(lib, X, k, ct, init, max_iter, threads, repeats, cpu=None, budget=None):
    """``(median wall time, number of fits timed)`` of up to ``repeats`` fits
    (and, into ``cpu``, the median CPU time).

    ``budget`` (seconds): stop repeating once the fits so far took longer
    (at least one fit is always timed), so slow cells of the grid get fewer
    repeats.
    """
    from threadpoolctl import threadpool_limits

    times, cpus = [], []
    with threadpool_limits(limits=threads, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeats):
            est = estimator(lib, k, ct, init, max_iter)
            c0, t0 = time.process_time(), time.perf_counter()
            est.fit(X)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            if budget is not None and sum(times) > budget:
                break
    if cpu is not None:
        cpu.append(float(np.median(cpus)))
    return float(np.median(times)), len(times)


def memory_child(lib, n, d, k, ct, max_iter, threads):
    """Run in a fresh process: peak traced allocation of one fit, and peak RSS."""
    import tracemalloc

    from threadpoolctl import threadpool_limits

    X = make_data(n, d, k)
    init = make_init(X, k, ct)
    est = estimator(lib, k, ct, init, max_iter)
    with threadpool_limits(limits=threads, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracemalloc.start()
        est.fit(X)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(json.dumps({"peak_traced": peak, "max_rss": rss, "x_bytes": X.nbytes}))


def measure_memory(lib, n, d, k, ct, max_iter, threads):
    cmd = [
        sys.executable, os.path.abspath(__file__), "--_memory-child",
        lib, str(n), str(d), str(k), ct, str(max_iter), str(threads),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def matmul_gflops(threads, size=2000, repeats=5):
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(size, size)), rng.normal(size=(size, size))
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ b
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            ts.append(time.perf_counter() - t0)
    return 2 * size**3 / np.median(ts) / 1e9


def em_iteration_flops(n, d, k, ct):
    """Floating-point operations of the two per-chunk matrix products of one
    bayesgmm EM iteration (E-step ``A.T @ Z.T``, M-step ``R @ Z``)."""
    m = {"full": d * (d + 1) // 2 + d, "tied": d * (d + 1) // 2 + d,
         "diag": 2 * d, "spherical": 1 + d}[ct]
    return 2 * 2 * n * m * k


def fmt_bytes(b):
    return f"{b / 2**20:8.1f}"


def parse_cells(args):
    if args.cells:
        cells = []
        for spec in args.cells:
            n, d, k, ct = spec.split(",")
            cells.append((int(float(n)), int(d), int(k), ct))
        return cells
    if args.target:
        return [(100_000, 10, 10, "full"), (100_000, 10, 10, "diag")]
    ns = [10_000, 100_000] if args.quick else GRID_N
    ds = [2, 10] if args.quick else GRID_D
    return list(itertools.product(ns, ds, GRID_K, GRID_CT))


def end_to_end(threads, seeds=10, n=100_000, d=10, k=10, types=("full", "diag"), pause=0.3):
    """Default ``fit`` of both libraries, start included: per type, per seed the
    better time over ``threads`` and ``score(X)``; prints the medians and means.

    ``pause``: seconds of idle before each timed fit. OpenBLAS's worker threads
    busy-wait for a while after a multithreaded call (and OpenMP's may too), so
    without a pause the fit that runs next is charged for the previous fit's
    spinning threads: a default diag fit of ours right after scikit-learn's at two
    threads took 0.100 s wall and 0.163 s CPU, after a 0.15 s pause 0.078 s and
    0.113 s (median of 12, 30 Nov 2026)."""
    from sklearn.mixture import GaussianMixture as SkGM
    from threadpoolctl import threadpool_limits

    from bayesgmm import GaussianMixture as BgGM

    X = make_data(n, d, k)
    print(f"# default fit (init_params='kmeans', tol=1e-3, max_iter=100), N={n:.0e}, D={d}, "
          f"K={k}, random_state 0..{seeds - 1}; time = each library's better of "
          f"{threads} threads per seed, {pause:g} s idle before each timed fit; "
          "ll = score(X), mean log-likelihood per row")
    print(f"{'type':>5} {'seed':>4} | {'sk s':>7} {'bg s':>7} {'ratio':>6} | {'sk cpu':>7} "
          f"{'bg cpu':>7} | {'sk ll':>9} {'bg ll':>9} | {'sk it':>5} {'bg it':>5}")
    summary = {}
    for ct in types:
        rows = []
        for seed in range(seeds):
            res = {}
            for name, cls in (("sk", SkGM), ("bg", BgGM)):
                best = None
                for t in threads:  # interleaved: both libraries see the same load
                    with threadpool_limits(limits=t, user_api="blas"), warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        est = cls(k, covariance_type=ct, random_state=seed)
                        time.sleep(pause)  # the previous fit's spinning threads go idle
                        c0, t0 = time.process_time(), time.perf_counter()
                        est.fit(X)
                        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                    if best is None or wall < best[0]:
                        best = (wall, cpu, float(est.score(X)), int(est.n_iter_))
                res[name] = best
            ratio = res["sk"][0] / res["bg"][0]
            rows.append((res["sk"], res["bg"], ratio))
            print(f"{ct:>5} {seed:>4} | {res['sk'][0]:7.3f} {res['bg'][0]:7.3f} {ratio:6.1f} | "
                  f"{res['sk'][1]:7.3f} {res['bg'][1]:7.3f} | {res['sk'][2]:9.4f} "
                  f"{res['bg'][2]:9.4f} | {res['sk'][3]:5d} {res['bg'][3]:5d}", flush=True)
        sk = np.array([r[0] for r in rows])
        bg = np.array([r[1] for r in rows])
        ratios = np.array([r[2] for r in rows])
        summary[ct] = {
            "median_time_sklearn": float(np.median(sk[:, 0])),
            "median_time_bayesgmm": float(np.median(bg[:, 0])),
            "median_ratio": float(np.median(ratios)),
            "mean_ll_sklearn": float(np.mean(sk[:, 2])),
            "mean_ll_bayesgmm": float(np.mean(bg[:, 2])),
        }
    for ct, v in summary.items():
        print(f"# {ct}: median time sklearn {v['median_time_sklearn']:.3f} s, bayesgmm "
              f"{v['median_time_bayesgmm']:.3f} s, median ratio {v['median_ratio']:.1f}x; mean "
              f"log-likelihood per row sklearn {v['mean_ll_sklearn']:.4f}, bayesgmm "
              f"{v['mean_ll_bayesgmm']:.4f} (difference {v['mean_ll_bayesgmm'] - v['mean_ll_sklearn']:+.4f})")
    return summary


def spin_check(n=100_000, d=10, k=10, windows=(0.05, 0.1, 0.2)):
    """CPU the process uses while it sleeps right after a fit (or a large product):
    the worker threads a library leaves busy-waiting, which ``--end-to-end`` would
    charge to the next fit without its pause."""
    from sklearn.mixture import GaussianMixture as SkGM
    from threadpoolctl import threadpool_limits

    from bayesgmm import GaussianMixture as BgGM

    X = make_data(n, d, k)
    big = np.ones((2000, 2000))
    jobs = [
        ("scikit-learn default diag fit", lambda: SkGM(k, covariance_type="diag", random_state=0).fit(X)),
        ("bayesgmm default diag fit", lambda: BgGM(k, covariance_type="diag", random_state=0).fit(X)),
        ("numpy 2000 x 2000 matrix product", lambda: big @ big),
    ]
    print(f"# CPUs: {os.cpu_count()}; load average: {os.getloadavg()}; two BLAS threads")
    with warnings.catch_warnings(), threadpool_limits(limits=2, user_api="blas"):
        warnings.simplefilter("ignore")
        for name, job in jobs:
            job()  # warm-up
            for win in windows:
                job()
                c0 = time.process_time()
                time.sleep(win)
                print(f"{name}: CPU used during {win:.2f} s of sleep right after: "
                      f"{time.process_time() - c0:.3f} s", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="N in {1e4, 1e5}, D in {2, 10}")
    p.add_argument("--target", action="store_true", help="only N=1e5, D=10, K=10")
    p.add_argument("--cells", nargs="*", help="explicit cells 'N,D,K,type'")
    p.add_argument("--repeats", type=int, default=3, help="timed fits per setting (median)")
    p.add_argument("--time-budget", type=float, default=None,
                   help="seconds per library and thread setting after which a cell "
                        "stops repeating (slow N=1e6 cells then get fewer repeats)")
    p.add_argument("--max-iter", type=int, default=10)
    p.add_argument("--threads", default="1,2", help="BLAS thread settings to try")
    p.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    p.add_argument("--libs", default="sklearn,bayesgmm")
    p.add_argument("--end-to-end", action="store_true",
                   help="default fit (start included) vs scikit-learn's, 10 seeds")
    p.add_argument("--seeds", type=int, default=10, help="random_state values (--end-to-end)")
    p.add_argument("--spin-check", action="store_true",
                   help="CPU used while sleeping right after each library's fit (busy-waiting "
                        "worker threads; why --end-to-end pauses)")
    p.add_argument("--pause", type=float, default=0.3,
                   help="--end-to-end: seconds idle before each timed fit, so that the previous "
                        "fit's busy-waiting BLAS/OpenMP threads are not charged to the next")
    p.add_argument("--mclust-models", action="store_true",
                   help="per-iteration EM time of each of mclust's fourteen models at N=1e5, "
                        "D=10, K=10, ours and R mclust's (when Rscript is on the PATH); "
                        "runs benchmarks/mclust/em_speed.py, whose options follow '--'")
    p.add_argument("--_memory-child", nargs=7, help=argparse.SUPPRESS)
    args, rest = p.parse_known_args(argv)
    if rest and not args.mclust_models:
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    if args._memory_child:
        lib, n, d, k, ct, it, th = args._memory_child
        memory_child(lib, int(n), int(d), int(k), ct, int(it), int(th))
        return

    from threadpoolctl import threadpool_info

    if args.mclust_models:
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parent / "mclust"))
        from em_speed import main as mclust_models_main

        print(f"# CPUs: {os.cpu_count()}; load average: {os.getloadavg()}")
        return mclust_models_main([a for a in rest if a != "--"])
    threads = [int(t) for t in args.threads.split(",")]
    if args.spin_check:
        return spin_check()
    if args.end_to_end:
        print(f"# CPUs: {os.cpu_count()}; load average: {os.getloadavg()}")
        return end_to_end(threads, seeds=args.seeds, pause=args.pause)
    libs = args.libs.split(",")
    blas = [
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, "
        f"{i.get('num_threads')} threads)"
        for i in threadpool_info() if i.get("user_api") == "blas"
    ]
    print(f"# BLAS: {'; '.join(blas)}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}")
    print(f"# CPUs: {os.cpu_count()}; load average: {os.getloadavg()}")
    mm = {t: matmul_gflops(t) for t in sorted(set(threads) | {1})}
    print("# matmul throughput (2000x2000 @ 2000x2000): "
          + ", ".join(f"{t} thread(s) {g:.1f} GFLOP/s" for t, g in mm.items()))
    print(f"# {args.max_iter} EM iterations (tol=0), same initial parameters; median of "
          f"{args.repeats}; time in s; memory = peak traced MiB during fit (fresh process)")
    header = (f"{'N':>8} {'D':>3} {'K':>3} {'type':>5} | "
              + " ".join(f"{lib[:7]}@{t}" .rjust(10) for lib in libs for t in threads)
              + " | best sk  best bg  speedup | cpu sk  cpu bg  speedup | mem sk  mem bg  ratio | rss bg MiB")
    print(header)
    print("-" * len(header))
    rows = []
    for n, d, k, ct in parse_cells(args):
        X = make_data(n, d, k)
        init = make_init(X, k, ct)
        res, cpu, reps = {}, {}, []
        for lib in libs:
            for t in threads:
                c = []
                res[(lib, t)], n_timed = time_fit(lib, X, k, ct, init, args.max_iter, t,
                                                  args.repeats, c, args.time_budget)
                reps.append(n_timed)
                if t == 1:
                    cpu[lib] = c[0]
        best = {lib: min(res[(lib, t)] for t in threads) for lib in libs}
        line = f"{n:>8} {d:>3} {k:>3} {ct:>5} | " + " ".join(
            f"{res[(lib, t)]:10.3f}" for lib in libs for t in threads)
        row = {"n": n, "d": d, "k": k, "type": ct, "times": {f"{a}@{b}": v for (a, b), v in res.items()}}
        if {"sklearn", "bayesgmm"} <= set(libs):
            sp = best["sklearn"] / best["bayesgmm"]
            line += f" | {best['sklearn']:7.3f} {best['bayesgmm']:8.3f} {sp:7.1f}x"
            row["speedup"] = sp
            if len(cpu) == 2:
                cs = cpu["sklearn"] / cpu["bayesgmm"]
                line += f" | {cpu['sklearn']:6.3f} {cpu['bayesgmm']:7.3f} {cs:6.1f}x"
                row["cpu_speedup"] = cs
        if not args.no_memory:
            mem = {}
            for lib in libs:
                t_best = min(threads, key=lambda t: res[(lib, t)])
                mem[lib] = measure_memory(lib, n, d, k, ct, args.max_iter, t_best)
            if {"sklearn", "bayesgmm"} <= set(libs):
                ms, mb = mem["sklearn"]["peak_traced"], mem["bayesgmm"]["peak_traced"]
                line += f" | {fmt_bytes(ms)} {fmt_bytes(mb)} {mb / ms:5.2f}"
            if "bayesgmm" in mem:
                line += f" | {mem['bayesgmm']['max_rss'] / 2**20:9.1f}"
            row["memory"] = mem
        if min(reps) < args.repeats:
            line += f" | repeats {min(reps)}-{max(reps)}"
        print(line, flush=True)
        rows.append(row)
        if (n, d, k, ct) == (100_000, 10, 10, "full") and "bayesgmm" in libs:
            wall, cpu_it = _per_iteration(X, k, ct, init, args.max_iter)
            fl = em_iteration_flops(n, d, k, ct)
            print(f"#   full N=1e5 D=10 K=10, 1 BLAS thread: one bayesgmm EM iteration takes "
                  f"{cpu_it * 1e3:.1f} ms CPU ({wall * 1e3:.1f} ms wall); its matrix products do "
                  f"{fl / 1e9:.2f} GFLOP -> {fl / cpu_it / 1e9:.1f} GFLOP/s = "
                  f"{fl / cpu_it / 1e9 / mm[1]:.0%} of the measured 1-thread matmul throughput "
                  f"({mm[1]:.1f} GFLOP/s); the matrix products alone would take "
                  f"{fl / mm[1] / 1e6:.1f} ms", flush=True)
    return rows


def _per_iteration(X, k, ct, init, max_iter):
    """(wall, CPU) seconds per EM iteration at 1 BLAS thread: the difference of
    fits with ``max_iter`` and with 0 iterations, divided by ``max_iter``."""
    c_full, c_zero = [], []
    t_full, _ = time_fit("bayesgmm", X, k, ct, init, max_iter, 1, 5, c_full)
    t_zero, _ = time_fit("bayesgmm", X, k, ct, init, 0, 1, 5, c_zero)
    return (max(t_full - t_zero, 1e-9) / max_iter, max(c_full[0] - c_zero[0], 1e-9) / max_iter)


if __name__ == "__main__":
    main()
