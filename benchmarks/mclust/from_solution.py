"""Our EM started at R mclust's own solution, every model and cell.

Reads ``benchmarks/mclust/solutions_all_cells.csv`` and
``benchmarks/mclust/solutions_all.csv.gz`` (made by ``solutions_all.R``:
mclust 6.0's ``me`` from its default hierarchical start, tight tolerance, on
Old Faithful, ``iris[, 1:4]``, ``banknote[, -1]``, ``diabetes[, -1]``, all
fourteen models, G = 1..9) and, for every cell where mclust's EM returned a
solution, fits :class:`bayesgmm.GaussianMixture` with the matching
``covariance_type`` (mclust's name), ``weights_init``/``means_init``/
``precisions_init`` at mclust's parameters, ``reg_covar=0`` and a tight
tolerance. Per cell it prints

* ``ll0 - mclust``: our log-likelihood at mclust's parameters minus mclust's
  (the same density: should be ~1e-12 relative);
* ``ours - mclust``: our final log-likelihood minus mclust's, and the same
  relative to ``1 + |mclust|`` (mclust's own convergence measure;
  its default ``emControl`` tolerance is 1e-5);
* ``dSigma``: the largest change of a covariance entry, relative to the data's
  scale;
* ``member``: how far projecting our final covariances onto the model
  (``from_full``) moves them (relative to the data's scale; ~0: a member);
* ``releig``: the smallest variance of a component in some direction relative
  to the data's (smallest generalised eigenvalue against the data covariance),
  mclust's solution > ours (below 1e-4: near-singular);
* ``p`` and ``nMclustParams``; our iterations and whether we converged;
  the warnings raised.

Then a summary: cells within mclust's tolerance (relative 1e-5) and within
1e-7 relative, the worst differences per model, the cells that move away.

Usage (repository root)::

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/mclust/from_solution.py \
        > benchmarks/mclust/results/from_solution.txt
"""

from __future__ import annotations

import argparse
import csv
import gzip
import math
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import scipy.linalg

from bayesgmm import GaussianMixture
from bayesgmm.covariance import MCLUST_MODELS, get_covariance_type

HERE = Path(__file__).resolve().parent
MCLUST_TOL = 1e-5  # mclust's default emControl()$tol[1]: |l - l_old| / (1 + |l|)
TIGHT = 1e-7


def load_cells():
    with open(HERE / "solutions_all_cells.csv") as f:
        return list(csv.DictReader(f))


def load_solutions():
    vals = defaultdict(lambda: defaultdict(list))
    with gzip.open(HERE / "solutions_all.csv.gz", "rt") as f:
        for r in csv.DictReader(f):
            vals[(r["dataset"], r["model"], int(r["G"]))][r["what"]].append(float(r["value"]))
    out = {}
    for key, v in vals.items():
        G = key[2]
        pro = np.array(v["pro"])
        mean = np.array(v["mean"]).reshape(G, -1)  # R's column-major d x G
        d = mean.shape[1]
        sigma = np.swapaxes(np.array(v["sigma"]).reshape(G, d, d), 1, 2)
        out[key] = (pro, mean, sigma)
    return out


def load_data(name):
    return np.loadtxt(HERE / "data" / f"{name}.csv", delimiter=",", skiprows=1)


def run_cell(X, model, G, pro, mean, sigma, args):
    ct = get_covariance_type(model)
    init = ct.covariances_from_precisions(ct.from_full(sigma))  # precisions, our layout
    gm = GaussianMixture(
        n_components=G, covariance_type=model, weights_init=pro, means_init=mean,
        precisions_init=init, reg_covar=0.0, tol=args.tol, max_iter=args.max_iter,
    )
    n = X.shape[0]
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        gm.fit(X)
        ll = gm.score(X) * n
    secs = time.perf_counter() - t0
    full = ct.to_full(gm.covariances_, G, X.shape[1])
    scale = np.sqrt(np.outer(X.var(0), X.var(0)))
    dsigma = float(np.max(np.abs(full - sigma) / scale))
    # our final covariances are members of the model: projecting them onto it
    # (from_full) keeps them (relative to the data's scale)
    data_cov = np.cov(X.T, bias=True)
    releig = [min_relative_eigenvalue(S, data_cov) for S in (sigma, full)]
    member = float(np.max(np.abs(ct.to_full(ct.from_full(full), G, X.shape[1]) - full) / scale))
    # our log-likelihood at mclust's parameters, before any EM step
    ll0 = start_log_likelihood(X, pro, mean, sigma)
    warns = sorted({type(w.message).__name__ for w in rec})
    return {"ll": ll, "ll0": ll0, "n_iter": gm.n_iter_, "converged": gm.converged_,
                "p": gm._n_parameters(), "dsigma": dsigma, "member": member, "releig": releig, "warnings": warns, "secs": secs}


def min_relative_eigenvalue(full, data_cov):
    """Smallest generalised eigenvalue of a component covariance vs the data's."""
    return float(min(scipy.linalg.eigh(c, data_cov, eigvals_only=True)[0] for c in full))


def start_log_likelihood(X, pro, mean, sigma):
    from bayesgmm import _kernels
    from bayesgmm.covariance import FULL_MATRICES

    return float(_kernels.mixture_log_likelihood(
        X, mean, FULL_MATRICES.precision_cholesky(sigma), FULL_MATRICES, np.log(pro)
    ).sum())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tol", type=float, default=1e-10, help="ours: tol (per observation)")
    p.add_argument("--max-iter", type=int, default=1000)
    p.add_argument("--datasets", nargs="*", default=None)
    p.add_argument("--models", nargs="*", default=None)
    args = p.parse_args()

    cells = load_cells()
    sols = load_solutions()
    data = {}
    print(f"# our EM from mclust's solution (tol={args.tol}, max_iter={args.max_iter}, "
          "reg_covar=0); rel = (ours - mclust) / (1 + |mclust|)")
    print(f"{'data':9s} {'model':5s} {'G':>2s} {'mclust':>14s} {'ll0-mclust':>11s} "
          f"{'ours-mclust':>12s} {'rel':>9s} {'dSigma':>8s} {'p':>4s} {'nMcl':>4s} "
          f"{'it':>5s} {'conv':>4s} {'s':>6s} {'member':>7s} {'releig':>15s}  warnings")
    res = []
    t_all = time.perf_counter()
    for c in cells:
        name, model, G = c["dataset"], c["model"], int(c["G"])
        if args.datasets and name not in args.datasets:
            continue
        if args.models and model not in args.models:
            continue
        ll_m = float(c["loglik"]) if c["loglik"] not in ("NA", "") else math.nan
        if math.isnan(ll_m):
            print(f"{name:9s} {model:5s} {G:2d} {'NA':>14s}  mclust's me failed: "
                  f"returnCode {c['returnCode']}, {c['warning'] or '(no message)'}")
            res.append({"name": name, "model": model, "G": G, "failed": True, "c": c})
            continue
        if name not in data:
            data[name] = load_data(name)
        X = data[name]
        pro, mean, sigma = sols[(name, model, G)]
        r = run_cell(X, model, G, pro, mean, sigma, args)
        diff = r["ll"] - ll_m
        rel = diff / (1 + abs(ll_m))
        r.update(name=name, model=model, G=G, failed=False, mclust=ll_m, diff=diff, rel=rel,
                 nmclust=int(c["n_parameters"]), d0=r["ll0"] - ll_m, c=c)
        res.append(r)
        print(f"{name:9s} {model:5s} {G:2d} {ll_m:14.6f} {r['d0']:11.2e} {diff:12.3e} "
              f"{rel:9.1e} {r['dsigma']:8.1e} {r['p']:4d} {r['nmclust']:4d} {r['n_iter']:5d} "
              f"{'y' if r['converged'] else 'N':>4s} {r['secs']:6.2f} {r['member']:7.0e} "
              f"{r['releig'][0]:7.1e}>{r['releig'][1]:7.1e}  "
              f"{','.join(r['warnings'])}", flush=True)
    total = time.perf_counter() - t_all

    ok = [r for r in res if not r["failed"]]
    failed = [r for r in res if r["failed"]]
    print()
    print(f"# summary: {len(res)} cells, mclust's me failed (NA loglik) in {len(failed)}, "
          f"our EM run from {len(ok)}; fit time {total:.1f} s")
    same = sum(get_covariance_type(r["model"]).n_parameters(r["G"], int(r["c"]["d"]))
               == int(r["c"]["n_parameters"]) for r in res)
    print(f"#   fitted p (GaussianMixture._n_parameters) == nMclustParams: "
          f"{sum(r['p'] == r['nmclust'] for r in ok)} / {len(ok)} cells run; "
          f"n_parameters(G, d) == nMclustParams: {same} / {len(res)} cells of the table")
    within = [r for r in ok if abs(r["rel"]) <= MCLUST_TOL]
    tight = [r for r in ok if abs(r["rel"]) <= TIGHT]
    print(f"#   |ours - mclust| / (1 + |mclust|) <= {MCLUST_TOL:g} (mclust's default tol): "
          f"{len(within)} / {len(ok)};  <= {TIGHT:g}: {len(tight)} / {len(ok)}")
    up = [r for r in ok if r["rel"] > MCLUST_TOL]
    down = [r for r in ok if r["rel"] < -MCLUST_TOL]
    print(f"#   moved away up (ours higher): {len(up)};  down (ours lower): {len(down)}")
    print(f"#   our final covariances members of the model (projection moves them by at most "
          f"{max(r['member'] for r in ok):.1e} of the data's scale)")
    wr = [r for r in ok if r["warnings"]]
    print(f"#   cells with warnings: {len(wr)}: " + "; ".join(
        f"{r['name']} {r['model']} {r['G']} {','.join(r['warnings'])}" for r in wr))
    print(f"#   |ll0 - mclust| (our density at mclust's parameters) max: "
          f"{max(abs(r['d0']) for r in ok):.2e}")
    print("#   per model: cells run, within mclust's tol, within 1e-7, up, down, "
          "max |ours - mclust| among the cells within tol")
    for m in MCLUST_MODELS:
        rs = [r for r in ok if r["model"] == m]
        if not rs:
            continue
        w = [r for r in rs if abs(r["rel"]) <= MCLUST_TOL]
        print(f"#   {m}: {len(rs):3d} {len(w):3d} {sum(abs(r['rel']) <= TIGHT for r in rs):3d} "
              f"{sum(r['rel'] > MCLUST_TOL for r in rs):3d} "
              f"{sum(r['rel'] < -MCLUST_TOL for r in rs):3d}  "
              f"{max((abs(r['diff']) for r in w), default=0):.2e}")
    print("#   worst 10 |ours - mclust|:")
    for r in sorted(ok, key=lambda r: -abs(r["diff"]))[:10]:
        print(f"#     {r['name']} {r['model']} {r['G']}: {r['diff']:+.4g} (rel {r['rel']:+.1e}, "
              f"{r['n_iter']} it, conv {r['converged']}, dSigma {r['dsigma']:.1e}, "
              f"{','.join(r['warnings']) or '-'})")
    if failed:
        print("#   mclust's me failed:")
        for r in failed:
            c = r["c"]
            print(f"#     {r['name']} {r['model']} {r['G']}: returnCode {c['returnCode']}, "
                  f"{c['warning'] or '(no message)'}")


if __name__ == "__main__":
    main()
