"""Usage: PYTHONPATH=. python benchmarks/mclust/cells.py iris diabetes banknote faithful

The cells within 40 BIC units of mclust's best (mclust_bic_table.csv) that the cut-short
30 Nov runs of compare.py had not reached. Our default fit (compare.py's fit_ours: tol 1e-8, max_iter 2000, random_state 0, n_init auto)
for the listed cells; prints the same columns as compare.py."""
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare as C
import numpy as np

from bayesgmm.covariance import get_covariance_type

cells = {
 "iris": [("VEV", 2), ("VEV", 3), ("VVV", 2), ("VVV", 3)],
 "diabetes": [("VVV", 3), ("VVV", 4), ("EVE", 7), ("VVE", 6)],
 "banknote": [("VVE", 3), ("EVE", 3), ("VVE", 4)],
 "faithful": [("EEE", 2), ("EEE", 3), ("EEE", 4), ("EEE", 6), ("VVV", 2), ("VVV", 3), ("VVV", 4), ("VEE", 2), ("VEE", 3), ("VEE", 4), ("VEE", 5), ("EVE", 2), ("EVE", 3), ("EVE", 5), ("VVE", 2), ("VVE", 3), ("EEV", 2), ("EEV", 3), ("EEV", 4), ("VEV", 2), ("VEV", 3), ("EVV", 2), ("EVV", 3), ("EVV", 4)],
}
args = types.SimpleNamespace(init_params=None, n_init=None, split_merge=None, prior=False, tol=1e-8,
                             max_iter=2000, seed=0)
ref = C.load_reference()
for name in sys.argv[1:]:
    X = C.load_data(name); n, d = X.shape
    dc = np.cov(X, rowvar=False, bias=True).reshape(d, d)
    print(f"\n== {name}: n={n}, d={d}", flush=True)
    for m, k in cells[name]:
        ct = get_covariance_type(m).name
        ll_ref, start, model, ll_any = ref[(name, ct, k)]
        t0 = time.perf_counter()
        gm, warns = C.fit_ours(X, k, ct, args)
        ll = float(gm.score(X)) * n
        e = C.min_relative_eigenvalue(gm.covariances_, ct, k, dc)
        print(f"{ct:>9} {k:2d} {ll_ref:11.3f} {start:>8} {ll_any:11.3f} {ll:11.3f} {ll - ll_ref:9.3f} {e:9.1e}{'*' if e < 1e-4 else ' '}"
              f"        nan       nan       nan  {time.perf_counter() - t0:.0f}s flagged={len(gm.degenerate_components_)} {'; '.join(sorted(set(warns)))}", flush=True)
