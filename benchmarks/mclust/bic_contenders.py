"""Refit the cells that could change a data set's BIC choice, from their log-likelihoods on file.

Reads the per-cell log-likelihoods of earlier ``compare.py`` runs (``--files``, later
files win, as ``combine.py``), computes each cell's BIC (mclust's sign:
``2 loglik - p log n``) and refits, with this tree's default (``compare.py``'s
settings: ``tol=1e-8``, ``max_iter=2000``, ``random_state=0``), every cell whose BIC
on file is within ``--margin`` of the data set's best. A change of the default that
can only raise a cell's log-likelihood (such as extra rounds of starts whose result
is kept only when better) can change the BIC choice only through a cell whose gain
exceeds half its BIC gap to the best, so with a margin of twice the largest gain
these refits decide the choice. Prints each refitted cell's old and new
log-likelihood and BIC, and the choice before and after.

Usage (repository root)::

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/mclust/bic_contenders.py --margin 60 \\
        --files benchmarks/mclust/results/after_scatter_rule_faithful14.txt ...
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare as C
from combine import SIZES, read

from bayesgmm.covariance import get_covariance_type


def load(files):
    """``{((name, n, d), covariance type, G): log-likelihood}`` of ``compare.py`` outputs
    (``combine.read``: later files win)."""
    return {
        ((name, *SIZES[name]), get_covariance_type(model).name, g): loglik
        for name, cells in read(files).items()
        for (model, g), (_, loglik, _, _) in cells.items()
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", nargs="+", required=True)
    ap.add_argument("--margin", type=float, default=60.0)
    ap.add_argument("--min-gap", type=float, default=0.0,
                    help="refit only cells at least this far below the best (to split a run)")
    ap.add_argument("--datasets", default=None, help="comma-separated; default: all on file")
    args = ap.parse_args()
    cells = load(args.files)
    fit_args = types.SimpleNamespace(init_params=None, n_init=None, split_merge=None, prior=False,
                                     tol=1e-8, max_iter=2000, seed=0)
    for ds in sorted({c[0] for c in cells}):
        name, n, d = ds
        if args.datasets and name not in args.datasets.split(","):
            continue
        mine = {(ct, g): ll for (dd, ct, g), ll in cells.items() if dd == ds}
        bic = {c: 2 * ll - get_covariance_type(c[0]).n_parameters(c[1], d) * math.log(n)
               for c, ll in mine.items()}
        best = max(bic, key=bic.get)
        near = sorted((c for c in bic if bic[best] - args.margin <= bic[c] <= bic[best] - args.min_gap
                       or c == best), key=lambda c: -bic[c])
        print(f"\n== {name}: {len(mine)} cells on file, best BIC {best[0]} {best[1]} "
              f"({bic[best]:.3f}); {len(near)} within {args.margin}", flush=True)
        X = C.load_data(name)
        new = dict(bic)
        for ct, g in near:
            t0 = time.perf_counter()
            gm, _ = C.fit_ours(X, g, ct, fit_args)
            ll = float(gm.score(X)) * n
            new[(ct, g)] = 2 * ll - get_covariance_type(ct).n_parameters(g, d) * math.log(n)
            print(f"{ct:>9} {g:2d}  loglik {mine[(ct, g)]:11.3f} -> {ll:11.3f}  BIC {bic[(ct, g)]:10.3f} -> "
                  f"{new[(ct, g)]:10.3f}  n_init_ {gm.n_init_}  {time.perf_counter() - t0:.1f}s", flush=True)
        after = max(new, key=new.get)
        print(f"choice on file: {best[0]} {best[1]}; after the refits: {after[0]} {after[1]} "
              f"({new[after]:.3f})", flush=True)


if __name__ == "__main__":
    main()
