"""Cost of the starts at N=1e5, D=10, K=10: whole default ``fit`` with
``init_params="kmeans"`` (the default) against ``init_params="hc"``, and the
agglomeration alone; median of 3 repetitions, one BLAS thread.

Usage (repository root)::

    PYTHONPATH=. python benchmarks/mclust/start_cost.py
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from bayesgmm import GaussianMixture
from bayesgmm.em._hierarchical import MAX_ROWS, agglomerate, transform


def median_time(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def main():
    rng = np.random.RandomState(0)
    n, d, k = 100_000, 10, 10
    centers = rng.randn(k, d) * 3
    X = centers[rng.randint(k, size=n)] + rng.randn(n, d)
    print(f"N={n}, D={d}, K={k}; median of 3; one BLAS thread")
    with threadpool_limits(1):
        for ct in ("full", "diag"):
            for ip in ("kmeans", "hc"):
                t, gm = median_time(lambda: GaussianMixture(
                    k, covariance_type=ct, init_params=ip, random_state=0).fit(X))
                print(f"  fit {ct:>5} init_params={ip!r:>9}: {t:6.2f} s, "
                      f"mean log-likelihood {gm.score(X):.4f}, n_iter {gm.n_iter_}")
        sub = X[rng.choice(n, MAX_ROWS, replace=False)]
        t, _ = median_time(lambda: agglomerate(transform(sub), k))
        print(f"  agglomeration alone on {MAX_ROWS} rows: {t:.2f} s")


if __name__ == "__main__":
    main()
