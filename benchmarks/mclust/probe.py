"""The probe of ``n_init="auto"`` on Old Faithful, EVV with three components (issue 15).

Two tables, at ``tol=1e-8`` (as ``compare.py``):

* per start strategy, the end points of ``--starts`` single starts (``n_init``
  starts of one strategy, ``split_merge=0``): raw k-means, random partitions,
  random observations and k-means on the standardised features;
* per seed (``random_state`` 0 .. ``--seeds`` - 1), the default fit's
  log-likelihood and ``n_init_`` with ``--probe`` probe starts (the default
  first; 0: no probe), and how many seeds reach mclust's best (-1124.127)
  within 0.05.

::

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/mclust/probe.py --seeds 20 --probe 4,6,0
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import load_data

from bayesgmm import GaussianMixture
from bayesgmm.em import _estimator, _init

MCLUST_BEST = -1124.127  # reference.csv: faithful, EVV, 3 (its hc-STD start)


def strategies(X, n_starts):
    real = _estimator.strategy
    try:
        for kind in ("kmeans", "random_partition", "random_from_data", "standardised_kmeans"):
            _estimator.strategy = lambda p, i, auto=False, kind=kind: kind
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gm = GaussianMixture(3, covariance_type="EVV", n_init=n_starts, split_merge=0,
                                     tol=1e-8, max_iter=2000, random_state=0).fit(X)
            ends = np.array([r["lower_bound"] * len(X) for r in gm._restarts])
            print(f"{kind:>20}: {np.sum(ends > MCLUST_BEST - 0.05):2d} of {ends.size} at mclust's best;"
                  f" best {ends.max():.3f}; ends {np.round(np.sort(ends)[::-1], 2).tolist()}")
    finally:
        _estimator.strategy = real


def seeds(X, n_seeds, probe):
    real = _estimator.AUTO_PROBE_STARTS
    _estimator.AUTO_PROBE_STARTS = probe
    try:
        hits, secs = 0, []
        for seed in range(n_seeds):
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gm = GaussianMixture(3, covariance_type="EVV", tol=1e-8, max_iter=2000,
                                     random_state=seed).fit(X)
            secs.append(time.perf_counter() - t)
            ll = gm.score(X) * len(X)
            hits += ll > MCLUST_BEST - 0.05
            print(f"  probe {probe}  seed {seed:2d}  loglik {ll:.3f}  n_init_ {gm.n_init_}"
                  f"  {secs[-1]:.1f}s", flush=True)
        print(f"probe {probe}: {hits} of {n_seeds} seeds reach mclust's best;"
              f" median {np.median(secs):.1f}s a fit")
    finally:
        _estimator.AUTO_PROBE_STARTS = real


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--starts", type=int, default=20)
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--probe", default=str(_init.AUTO_PROBE_STARTS),
                   help="comma-separated numbers of probe starts (0: none)")
    args = p.parse_args(argv)
    X = load_data("faithful")
    print(f"Old Faithful, EVV, G=3, tol=1e-8; mclust's best {MCLUST_BEST}")
    strategies(X, args.starts)
    for probe in (int(v) for v in args.probe.split(",")):
        seeds(X, args.seeds, probe)


if __name__ == "__main__":
    main()
