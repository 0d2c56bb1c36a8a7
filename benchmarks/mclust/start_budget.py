"""One cell's default fit with the ``n_init="auto"`` start budget raised: does more search reach mclust's maximum?

Sets :data:`bayesgmm.em._init.AUTO_MAX_STARTS` (20 by default; the size of each
round of starts) and, with ``--extra``, :data:`~bayesgmm.em._init.AUTO_EXTRA_STARTS`
(40 by default: the starts of the later rounds a rugged fit may run) for this
process only and fits the cell with this benchmark's settings (``tol=1e-8``,
``max_iter=2000``, default starts and split-and-merge moves) for a few seeds;
prints the final log-likelihood, the starts run and the time.

Usage (repository root)::

    PYTHONPATH=. python benchmarks/mclust/start_budget.py banknote VEV 4 --starts 20 40 --seeds 0 1 2
    PYTHONPATH=. python benchmarks/mclust/start_budget.py banknote EVE 8 --starts 20 --extra 20 40 --seeds 0
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from bayesgmm import GaussianMixture
from bayesgmm.em import _estimator, _init

DATA = Path(__file__).resolve().parent / "data"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dataset")
    p.add_argument("model")
    p.add_argument("G", type=int)
    p.add_argument("--starts", type=int, nargs="+", default=[20, 40])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--extra", type=int, nargs="+", default=None,
                   help="AUTO_EXTRA_STARTS values to try (default: the package's)")
    args = p.parse_args(argv)
    X = np.genfromtxt(DATA / f"{args.dataset}.csv", delimiter=",", skip_header=1)
    default, default_extra = _init.AUTO_MAX_STARTS, _init.AUTO_EXTRA_STARTS
    try:
        for starts, extra in [(s, e) for s in args.starts for e in (args.extra or [default_extra])]:
            # the estimator's round size is its own import of AUTO_MAX_STARTS
            _init.AUTO_MAX_STARTS = _estimator.AUTO_MAX_STARTS = starts
            _init.AUTO_EXTRA_STARTS = extra
            for seed in args.seeds:
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    gm = GaussianMixture(args.G, covariance_type=args.model, tol=1e-8, max_iter=2000,
                                         random_state=seed).fit(X)
                print(f"{args.dataset} {args.model} {args.G}: rounds of {starts} starts, at most "
                      f"{extra} more, seed {seed}: "
                      f"log-likelihood {gm.score(X) * len(X):.3f}, {gm.n_init_} starts, "
                      f"{time.perf_counter() - t0:.1f} s", flush=True)
    finally:
        _init.AUTO_MAX_STARTS = _estimator.AUTO_MAX_STARTS = default
        _init.AUTO_EXTRA_STARTS = default_extra


if __name__ == "__main__":
    main()
