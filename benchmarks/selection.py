"""Recovery rate of the true number of components by each selection method.

On synthetic well-separated data (``bayesgmm.datasets.make_mixture``) with 1 to 5
true components and several seeds each, run :func:`bayesgmm.select_components`
and count how often the selected number equals the truth. Targets: >= 90% for
BIC and LOO, and for ``sparse`` the posterior mode of the number of occupied
components equal to the truth >= 90%.

Usage (from the repository root)::

    .venv/bin/python benchmarks/selection.py                       # everything
    .venv/bin/python benchmarks/selection.py --methods bic icl     # EM only (fast)
    .venv/bin/python benchmarks/selection.py --methods loo --true-k 2 3 --seeds 3
    .venv/bin/python benchmarks/selection.py --methods sparse --csv sparse.csv

Each run prints one line per data set as it goes and the table at the end;
``--csv`` also writes the per-data-set rows.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd

import bayesgmm as bg

ALL_METHODS = ("bic", "icl", "loo", "waic", "sparse")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", nargs="+", default=list(ALL_METHODS), choices=ALL_METHODS)
    p.add_argument("--true-k", nargs="+", type=int, default=[1, 2, 3, 4, 5],
                   help="true numbers of components (default 1 2 3 4 5)")
    p.add_argument("--seeds", type=int, default=10, help="data sets per true K (default 10)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--n-per-component", type=int, default=100,
                   help="observations per true component (default 100)")
    p.add_argument("--n-features", type=int, default=2)
    p.add_argument("--separation", type=float, default=6.0,
                   help="min distance between means in units of the largest sd (default 6)")
    p.add_argument("--covariance-type", default="full")
    p.add_argument("--k-max", type=int, default=7,
                   help="candidates 1..k_max (default 7); sparse uses K_max = k_max")
    p.add_argument("--window", type=int, default=None,
                   help="candidates max(1, K-w)..K+w around the true K instead of 1..k_max "
                        "(cheaper for the Bayesian methods)")
    p.add_argument("--n-init", type=int, default=5)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--n-jobs", type=int, default=1, help="worker processes per selection")
    p.add_argument("--csv", default=None, help="write the per-data-set rows to this CSV")
    return p.parse_args(argv)


def run_one(method, X, args, seed, true_k):
    if args.window is not None and method != "sparse":
        cand = range(max(1, true_k - args.window), true_k + args.window + 1)
    else:
        cand = range(1, args.k_max + 1)
    kw = dict(
        n_components=cand,
        covariance_types=(args.covariance_type,),
        method=method,
        n_init=args.n_init,
        random_state=seed,
        progressbar=False,
        n_jobs=args.n_jobs,
    )
    if method in ("loo", "waic", "sparse"):
        kw.update(draws=args.draws, tune=args.tune, chains=args.chains)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = bg.select_components(X, **kw)
    return res, rec


def main(argv=None):
    args = parse_args(argv)
    rows = []
    t_start = time.perf_counter()
    for method in args.methods:
        # seeds outer, true K inner: an interrupted run still covers every K
        for s in range(args.first_seed, args.first_seed + args.seeds):
            for k in args.true_k:
                data = bg.datasets.make_mixture(
                    args.n_per_component * k, n_components=k, n_features=args.n_features,
                    covariance_type=args.covariance_type, separation=args.separation,
                    random_state=1000 * k + s,
                )
                t0 = time.perf_counter()
                try:
                    res, rec = run_one(method, data.X, args, seed=s, true_k=k)
                    selected = int(res.n_components)
                    extra = ""
                    if method == "sparse":
                        p = res.table["probability"].isel(covariance_type=0).to_numpy()
                        extra = f"P(K+={k})={p[k - 1]:.2f}" if k <= len(p) else ""
                    elif method == "loo":
                        nk = int(res.table["n_high_pareto_k"].clip(min=0).sum())
                        extra = f"high_k={nk}"
                    n_warn = len(rec)
                    error = ""
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as err:  # noqa: BLE001 - record and go on
                    selected, extra, n_warn, error = -1, "", 0, f"{type(err).__name__}: {err}"
                sec = time.perf_counter() - t0
                rows.append(dict(method=method, true_k=k, seed=s, selected=selected,
                                 correct=selected == k, seconds=sec, warnings=n_warn,
                                 note=extra, error=error))
                print(f"{method:6s} K={k} seed={s:2d} -> {selected:2d} "
                      f"{'ok ' if selected == k else 'MISS'} {sec:7.1f} s  {extra} {error}",
                      flush=True)
    df = pd.DataFrame(rows)
    if args.csv:
        df.to_csv(args.csv, index=False)
    table = df.pivot_table(index="method", columns="true_k", values="correct", aggfunc="mean")
    table["all"] = df.groupby("method")["correct"].mean()
    table["mean s/selection"] = df.groupby("method")["seconds"].mean()
    table = table.reindex([m for m in args.methods])
    print()
    print(f"Recovery rate of the true number of components "
          f"({args.seeds} seeds per K, {args.n_per_component} obs per component, "
          f"D={args.n_features}, separation={args.separation}, {args.covariance_type}, "
          f"candidates {'1..' + str(args.k_max) if args.window is None else f'K-{args.window}..K+{args.window}'}"
          f" (sparse: K_max={args.k_max}); Bayesian: {args.chains} chains x "
          f"({args.tune} tune + {args.draws} draws)):")
    with pd.option_context("display.float_format", "{:.2f}".format, "display.width", 120):
        print(table)
    print(f"total {time.perf_counter() - t_start:.0f} s")
    return table


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
