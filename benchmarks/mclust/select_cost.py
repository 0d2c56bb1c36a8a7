"""What the split-and-merge moves cost in ``select_components`` on mclust's data sets.

``select_components(X, n_components=range(1, 10), covariance_types=["full", "diag"],
random_state=0)`` at the default ``tol``, with each ``split_merge`` of ``--settings``
(default ``0,auto``: the starts only and the default), alternately, ``--repeats`` times
each; prints the times, their medians and each median's ratio to the first setting's.
On these data ``split_merge=120`` is the ``"auto"`` of before 581d556 (six moves per
start, 20 starts; since then ``"auto"`` tries 168 moves at K=8 and 252 at K=9).

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
    p.add_argument("--settings", default="0,auto",
                   help="comma-separated split_merge values; ratios are to the first")
    args = p.parse_args()
    settings = [v if v == "auto" else int(v) for v in args.settings.split(",")]
    for name in args.datasets.split(","):
        X = load_data(name)
        times = {sm: [] for sm in settings}
        for _ in range(args.repeats):
            for sm, runs in times.items():
                t = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    select_components(X, n_components=range(1, 10),
                                      covariance_types=["full", "diag"], random_state=0,
                                      progressbar=False, split_merge=sm)
                runs.append(time.perf_counter() - t)
        m0 = statistics.median(times[settings[0]])
        parts = [f"split_merge={sm!r}: {', '.join(f'{t:.2f}' for t in runs)} s"
                 + ("" if sm == settings[0] else f" (median ratio {statistics.median(runs) / m0:.2f})")
                 for sm, runs in times.items()]
        print(f"{name:9s} " + " | ".join(parts), flush=True)


if __name__ == "__main__":
    main()
