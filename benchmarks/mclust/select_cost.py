"""What the split-and-merge moves cost in ``select_components`` on mclust's data sets.

``select_components(X, n_components=range(1, 10), covariance_types=["full", "diag"],
random_state=0)`` at the default ``tol``, with ``split_merge=0`` (the starts only) and
with the default ``split_merge="auto"``, alternately, ``--repeats`` times each; prints
the times, their medians and the ratio.

Usage (repository root)::

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/mclust/select_cost.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import load_data

from bayesgmm import select_components


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="faithful,iris,banknote,diabetes")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    for name in args.datasets.split(","):
        X = load_data(name)
        times = {0: [], "auto": []}
        for _ in range(args.repeats):
            for sm, runs in times.items():
                t = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    select_components(X, n_components=range(1, 10),
                                      covariance_types=["full", "diag"], random_state=0,
                                      progressbar=False, split_merge=sm)
                runs.append(time.perf_counter() - t)
        m0, m1 = statistics.median(times[0]), statistics.median(times["auto"])
        print(f"{name:9s} split_merge=0: {', '.join(f'{t:.2f}' for t in times[0])} s | "
              f"'auto': {', '.join(f'{t:.2f}' for t in times['auto'])} s | "
              f"median ratio {m1 / m0:.2f}", flush=True)


if __name__ == "__main__":
    main()
