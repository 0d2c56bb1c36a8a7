"""Exploratory probe of the sparse method with Gibbs on Old Faithful and iris (issue 14).

One ``select_components(method="sparse", n_components=range(1, 7), inference="gibbs")``
run with 4 chains; prints the time, P(K+), the R-hat of the count, each chain's shares
and, with temperatures, the ladder statistics. ``benchmarks/hard_posteriors.py`` is the
benchmark; this is the quick probe its 2 Dec numbers were first seen with.

Usage::

    python benchmarks/sparse_probe.py DATA TEMPERATURES THIN DRAWS TUNE [SEED [JITTER [ROUNDED]]]

DATA ``faithful`` or ``iris``; JITTER > 0 adds JITTER x the rounding error (uniform over
each value's rounding interval: eruptions 1/60 min, waiting 1 min, iris 0.1 cm);
ROUNDED 1 models the data as rounded with those steps (``resolution=``), 2 with the
smallest gaps between distinct values (faithful 0.001 and 1; iris 0.1).
"""
import json
import sys
import time
import warnings

import numpy as np

import bayesgmm as bg
from bayesgmm.selection._sparse import occupied_rhat

name, R, thin, draws, tune = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
seed = int(sys.argv[6]) if len(sys.argv) > 6 else 0
if name == "faithful":
    X = bg.datasets.load_old_faithful()
else:
    from sklearn.datasets import load_iris
    X = load_iris(as_frame=True).data
jit = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0
if jit > 0:
    res_ = {"eruptions": 1 / 60, "waiting": 1.0}
    rng = np.random.default_rng(123)
    X = X.copy()
    for c in X:
        d = res_.get(c, 0.1) * jit
        X[c] = X[c] + rng.uniform(-d / 2, d / 2, len(X))
kw = {}
rz = float(sys.argv[8]) if len(sys.argv) > 8 else 0.0
if rz > 0:
    kw["resolution"] = ([1 / 60, 1.0] if rz == 1 else [0.001, 1.0]) if name == "faithful" else 0.1
t = time.perf_counter()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    res = bg.select_components(X, n_components=range(1, 7), method="sparse", inference="gibbs", random_state=seed,
                               progressbar=False, draws=draws, tune=tune, chains=4, thin=thin, n_temperatures=R, **kw)
el = time.perf_counter() - t
tab = res.table
occ = tab["occupied"].isel(covariance_type=0)
prob = tab["probability"].isel(covariance_type=0).to_numpy()
per_chain = [np.round(np.bincount(c, minlength=7)[1:] / c.size, 2).tolist() for c in occ.to_numpy()]
m = res.best_model
sc = m.idata_.attrs["sampler_config"]
inf = sc["inference"] if isinstance(sc, dict) else json.loads(sc)["inference"]
print(f"{name} R={R} thin={thin} {tune}+{draws} seed={seed}: {el:.0f} s P={np.round(prob,3).tolist()} rhat={occupied_rhat(occ):.4f}")  # noqa: E501
print("  per chain", per_chain)
print("  ", {k: inf.get(k) for k in ("betas", "swap_acceptance", "round_trips", "barrier", "sampling_time")})
for w in caught:
    if "occupied" in str(w.message):
        print("  W:", str(w.message)[:200])
