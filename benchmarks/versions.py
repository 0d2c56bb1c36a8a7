"""Before/after: the same measurements on two (or more) source trees, interleaved in one run.

A refactor must not slow anything down, and on a shared 2-core machine only
figures measured in the same run, interleaved, can be compared. This script
runs a worker subprocess per tree and round (``PYTHONPATH=<tree>``), in the
order A B A B ..., and prints per-tree medians and the ratio of each tree to
the first.

Measured by each worker (what users run, plus the kernels under them):

* ``em_default_<type>``: ``GaussianMixture(10, covariance_type=type, random_state=r).fit(X)``,
  the default call with its k-means start, N=1e5, D=10, K=10;
* ``em_10iter_<type>``: 10 EM iterations (``tol=0``) from one fixed start, same data;
* ``grad_<N>_<D>_<K>_<type>``: one ``MixtureDensity.logp_and_grad`` call (median
  of 300) at the EM estimate;
* ``nuts_1000_2_3``: ``run_inference`` (nutpie, 2 chains x (500 tune + 500
  draws)) at N=1000, D=2, K=3, EM start given (wall time, setup included).

BLAS is limited to one thread in the gradient and NUTS measurements (as the
sampler does); EM runs with the library's own thread handling.

Usage::

    git worktree add /tmp/before <rev>            # the tree to compare against
    python benchmarks/versions.py --tree before=/tmp/before --tree after=. --rounds 3

Only public or long-standing names are used (``bayesgmm.GaussianMixture``,
``bayesgmm._logdensity.MixtureDensity``, ``bayesgmm.inference.run_inference``),
so older trees can be measured too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def _data(N, D, K, seed):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4.0, size=(K, D))
    z = rng.integers(K, size=N)
    A = rng.normal(scale=0.4, size=(K, D, D)) + np.eye(D)
    return means[z] + np.einsum("nij,nj->ni", A[z], rng.normal(size=(N, D)))


def _median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def worker(args) -> dict:
    import warnings

    from threadpoolctl import threadpool_limits

    warnings.simplefilter("ignore")
    from bayesgmm import GaussianMixture
    from bayesgmm._logdensity import MixtureDensity

    out = {}
    X = _data(100_000, 10, 10, 0)
    for ct in ("full", "diag"):
        seeds = iter(range(1000))
        out[f"em_default_{ct}"] = _median_time(
            lambda: GaussianMixture(10, covariance_type=ct, random_state=next(seeds)).fit(X),
            args.repeats,
        )
        start = GaussianMixture(10, covariance_type=ct, max_iter=2, random_state=0).fit(X)
        fixed = dict(
            weights_init=start.weights_, means_init=start.means_,
            precisions_init=start.precisions_, max_iter=10, tol=0.0,
        )
        out[f"em_10iter_{ct}"] = _median_time(
            lambda: GaussianMixture(10, covariance_type=ct, **fixed).fit(X), args.repeats
        )
    with threadpool_limits(1):
        for N, D, K in ((1000, 2, 3), (10_000, 5, 4)):
            Xs = _data(N, D, K, 1)
            for ct in ("full", "diag"):
                em = GaussianMixture(K, covariance_type=ct, n_init=2, random_state=0).fit(Xs)
                dens = MixtureDensity(Xs, K, ct)
                x = dens.pack(em.weights_, em.means_, em.covariances_)
                dens.logp_and_grad(x)
                ts = []
                for _ in range(300):
                    t = time.perf_counter()
                    dens.logp_and_grad(x)
                    ts.append(time.perf_counter() - t)
                out[f"grad_{N}_{D}_{K}_{ct}"] = float(np.median(ts))
    if not args.skip_nuts:
        from bayesgmm.inference import run_inference

        Xs = _data(1000, 2, 3, 2)
        em = GaussianMixture(3, n_init=2, random_state=0).fit(Xs)
        t = time.perf_counter()
        run_inference(Xs, 3, "full", None, em, draws=500, tune=500, chains=2, random_seed=0)
        out["nuts_1000_2_3"] = time.perf_counter() - t
    return out


def _fmt(v):
    return f"{v * 1e3:.3f} ms" if v < 1 else f"{v:.3f} s"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tree", action="append", default=[], metavar="NAME=PATH",
                   help="a source tree to measure (repeat; the first is the reference)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per tree")
    p.add_argument("--repeats", type=int, default=3, help="EM fits per measurement (median)")
    p.add_argument("--skip-nuts", action="store_true", help="skip the NUTS wall-time measurement")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    if len(args.tree) < 2:
        p.error("give at least two trees: --tree before=PATH --tree after=PATH")
    trees = []
    for spec in args.tree:
        name, sep, path = spec.partition("=")
        if not sep or not os.path.isdir(os.path.join(path, "bayesgmm")):
            p.error(f"--tree must be NAME=PATH with PATH/bayesgmm a package; got {spec!r}")
        trees.append((name, os.path.abspath(path)))
    print(f"# load average at start: {os.getloadavg()}", flush=True)
    results = {name: [] for name, _ in trees}
    for r in range(args.rounds):
        for name, path in trees:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--repeats", str(args.repeats)]
            if args.skip_nuts:
                cmd.append("--skip-nuts")
            env = dict(os.environ, PYTHONPATH=path)
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=path)
            if proc.returncode:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            results[name].append(res)
            print(f"round {r + 1} {name}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in res.items()),
                  flush=True)
    print(f"# load average at end: {os.getloadavg()}")
    ref = trees[0][0]
    keys = list(results[ref][0])
    head = f"{'measurement':<24}" + "".join(f"{n:>14}" for n, _ in trees) + "".join(
        f"{n + '/' + ref:>16}" for n, _ in trees[1:])
    print("\nmedians over rounds\n" + head)
    for k in keys:
        med = {n: float(np.median([r[k] for r in results[n]])) for n, _ in trees}
        print(f"{k:<24}" + "".join(f"{_fmt(med[n]):>14}" for n, _ in trees)
              + "".join(f"{med[n] / med[ref]:>16.3f}" for n, _ in trees[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
