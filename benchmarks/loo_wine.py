"""LOO selection on raw and standardised wine: the same K once PSIS failures are refitted.

scikit-learn's wine data (178 x 13). Before issue 14, cells whose PSIS-LOO had a
Pareto k above 1 were skipped: raw wine chose K=1 or 2, standardised wine K=1.
Now the flagged observations are refitted exactly (one at a time, or 10-fold for
a cell with more than 10), and both scalings should choose the same K (their elpd
differ by the log-Jacobian of the scaling, a constant).

Usage (from the repository root; scikit-learn is a benchmark dependency)::

    .venv/bin/python benchmarks/loo_wine.py                         # K=1..4, diag, both
    .venv/bin/python benchmarks/loo_wine.py --ks 1 2 3 --draws 200 --data raw

Prints the selected K, the time, and per K: elpd, se, p, max Pareto k before
(``max_pareto_k_psis``) and after the refits, and the number of refits.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def main(argv=None):
    from sklearn.datasets import load_wine

    import bayesgmm as bg

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--draws", type=int, default=200, help="draws and tune per chain")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--covariance-type", default="diag")
    ap.add_argument("--data", nargs="+", default=["raw", "std"], choices=["raw", "std"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    X = load_wine().data
    data = {"raw": X, "std": (X - X.mean(0)) / X.std(0)}
    for name in args.data:
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = bg.select_components(
                data[name], n_components=args.ks, method="loo", covariance_types=[args.covariance_type],
                random_state=args.seed, progressbar=False, draws=args.draws, tune=args.draws,
                chains=args.chains,
            )
        print(f"{name}: K={res.n_components} in {time.perf_counter() - t:.0f} s", flush=True)
        tab = res.table.sel(covariance_type=args.covariance_type)
        for v in ("elpd", "se", "p", "max_pareto_k_psis", "max_pareto_k", "n_refits", "seconds"):
            print(f"  {v:>18}: {np.round(tab[v].values, 2).tolist()}", flush=True)


if __name__ == "__main__":
    main()
