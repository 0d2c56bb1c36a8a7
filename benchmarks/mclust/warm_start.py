"""Warm starts of the alternating M-steps of VEI, VEE and VEV: cold against warm.

The solvers of ``bayesgmm.covariance._decomposition`` for VEI, VEE and VEV
alternate volumes and shape (and orientation); since the 30 Nov 2026 change they
start at the previous EM iteration's volumes (``volumes_of(previous)``) instead
of ``tr(S_k) / D``. This script fits the same data with the same start both
ways (cold: ``volumes_of`` patched to return None) and reports, per model and
K: the EM iterations, the inner (M-step) iterations, the CPU time (best of
``--repeat``) and the largest difference of the fitted parameters and the
log-likelihood. Usage::

    PYTHONPATH=. python benchmarks/mclust/warm_start.py [--data iris banknote] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bayesgmm.covariance import _decomposition as dec
from bayesgmm.em import GaussianMixture

DATA = Path(__file__).resolve().parent / "data"


def _fit(X, k, model, warm, repeat):
    counter = {"inner": 0}
    real_converged, real_volumes = dec._converged, dec.volumes_of

    def counting(old, new):
        counter["inner"] += 1
        return real_converged(old, new)

    dec._converged = counting
    if not warm:
        dec.volumes_of = lambda *a, **k: None
    try:
        best = np.inf
        for _ in range(repeat):
            counter["inner"] = 0
            t0 = time.process_time()
            gm = GaussianMixture(k, covariance_type=model, n_init=1, tol=1e-10, max_iter=5000,
                                 random_state=0).fit(X)
            best = min(best, time.process_time() - t0)
    finally:
        dec._converged, dec.volumes_of = real_converged, real_volumes
    return gm, counter["inner"], best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", nargs="+", default=["iris", "banknote"])
    ap.add_argument("--models", nargs="+", default=["VEI", "VEE", "VEV"])
    ap.add_argument("--components", nargs="+", type=int, default=[2, 3, 4])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    rows = []
    for name in args.data:
        X = pd.read_csv(DATA / f"{name}.csv").select_dtypes("number").to_numpy(float)
        for model in args.models:
            for k in args.components:
                cold, inner_c, t_c = _fit(X, k, model, False, args.repeat)
                warm, inner_w, t_w = _fit(X, k, model, True, args.repeat)
                dpar = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                           for a, b in ((cold.weights_, warm.weights_), (cold.means_, warm.means_),
                                        (cold.covariances_, warm.covariances_)))
                rows.append({
                    "data": name, "model": model, "K": k,
                    "loglik_cold": cold.lower_bound_ * len(X), "loglik_diff": (warm.lower_bound_ - cold.lower_bound_) * len(X),
                    "max_param_diff": dpar, "em_iter_cold": cold.n_iter_, "em_iter_warm": warm.n_iter_,
                    "inner_cold": inner_c, "inner_warm": inner_w,
                    "cpu_cold_s": t_c, "cpu_warm_s": t_w, "cpu_ratio": t_w / t_c,
                })
                print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1,
                                                        float_format=lambda v: f"{v:.4g}"), flush=True)
    df = pd.DataFrame(rows)
    print()
    print(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    tot = df[["inner_cold", "inner_warm", "cpu_cold_s", "cpu_warm_s"]].sum()
    print(f"\ntotal inner iterations cold {tot.inner_cold:.0f}, warm {tot.inner_warm:.0f} "
          f"({tot.inner_warm / tot.inner_cold:.2f}x); total CPU time cold {tot.cpu_cold_s:.2f} s, "
          f"warm {tot.cpu_warm_s:.2f} s ({tot.cpu_warm_s / tot.cpu_cold_s:.2f}x)")


if __name__ == "__main__":
    main()
