"""One default ``select_components`` call on one of mclust's data sets, timed; for comparing checkouts.

``select_components(X, n_components=range(1, 10), covariance_types=["full", "diag"],
random_state=0)`` at the default ``tol`` and ``n_init``; prints the data set, the
seconds and the chosen model. Run it in a fresh process per call, alternately
against two checkouts, to compare what a change costs::

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=/path/to/checkout python benchmarks/mclust/select_one.py iris
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import load_data

from bayesgmm import select_components


def main(argv=None):
    name = (argv or sys.argv[1:] or ["faithful"])[0]
    X = load_data(name)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = select_components(X, n_components=range(1, 10), covariance_types=["full", "diag"],
                                random_state=0)
    print(name, f"{time.perf_counter() - t:.2f}", getattr(res, "best_", ""), flush=True)


if __name__ == "__main__":
    main()
