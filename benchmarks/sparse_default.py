"""The sparse method's default call on Old Faithful and iris: time, P(K+), R-hat of the count.

What a user runs: ``select_components(X, n_components=range(1, 7), method="sparse",
random_state=seed)``, with everything else at its default (Gibbs sampling,
``thin=SPARSE_GIBBS_THIN``, ``split_merge=SPARSE_SPLIT_MERGE``, 4 chains of 1000 warm-up
sweeps and 1000 kept draws); ``--units`` adds ``resolution=`` in the data's recording
units (Old Faithful: eruptions to the second, 1/60 min, waiting to the minute; iris: 0.1
cm), without which tied values make the posterior improper::

    OPENBLAS_NUM_THREADS=1 python benchmarks/sparse_default.py --units --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--units", action="store_true", help="resolution= the recording units")
    ap.add_argument("--cases", nargs="+", default=["faithful", "iris"], choices=["faithful", "iris"])
    args = ap.parse_args()
    import arviz_stats as azs
    import xarray as xr
    from sklearn.datasets import load_iris

    import bayesgmm as bg
    from bayesgmm.selection import SPARSE_GIBBS_THIN, SPARSE_SPLIT_MERGE

    data = {"faithful": (bg.datasets.load_old_faithful(), [1 / 60, 1.0]),
            "iris": (load_iris(as_frame=True).data, [0.1] * 4)}
    print(f"# thin {SPARSE_GIBBS_THIN}, split_merge {SPARSE_SPLIT_MERGE}, units {args.units}, "
          f"load {os.getloadavg()}", flush=True)
    for name in args.cases:
        X, units = data[name]
        for seed in args.seeds:
            kw = {"resolution": units} if args.units else {}
            t = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = bg.select_components(X, n_components=range(1, 7), method="sparse", random_state=seed,
                                           progressbar=False, **kw)
            el = time.perf_counter() - t
            tab = res.table
            occ = tab["occupied"].isel(covariance_type=0)
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                rh = float(azs.rhat(xr.Dataset({"o": occ.astype(float)}), sample_dims=("chain", "draw"))["o"])
            changes = [int(np.sum(np.diff(c) != 0)) for c in occ.to_numpy()]
            sc = res.best_model.idata_.attrs["sampler_config"]
            inf = (json.loads(sc) if isinstance(sc, str) else sc)["inference"]
            c = inf.get("split_merge_counts")
            moves = f"; split-merge accepted {c[1] + c[3]} of {c[0] + c[2]}" if c else ""
            sel = sum(type(w.message).__name__ == "SelectionWarning" for w in caught)
            prob = np.round(tab["probability"].isel(covariance_type=0).to_numpy(), 3).tolist()
            print(f"{name} seed {seed}: {el:.0f} s, P(K+=1..6) {prob}, R-hat of the count {rh:.3f}, "
                  f"selected {res.n_components}, count changes per chain {changes}{moves}; "
                  f"SelectionWarnings {sel} [load {os.getloadavg()[0]:.2f}]", flush=True)


if __name__ == "__main__":
    main()
