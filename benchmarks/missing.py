"""Missing values in EM: parameter error against the complete-data fit.

For each seed: a three-component, four-feature mixture (N=600, overlapping
moderately), fitted by EM on the complete data (the reference); then 10% and
30% of the entries are removed completely at random (MCAR) and the data are
fitted three ways:

* ``marginalize``: ``GaussianMixture(missing="marginalize")``;
* ``drop``: EM on the complete rows only (the share kept is printed);
* ``mean-impute``: EM on the data with each NaN replaced by its column mean.

The error is the largest absolute difference of the means and of the
covariance matrices (components matched by the Hungarian assignment on the
means) to the complete-data fit, and whether the lower bound ever decreased.

Run: ``PYTHONPATH=. python benchmarks/missing.py [--seeds 10]``
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment

from bayesgmm import GaussianMixture
from bayesgmm.covariance import get_covariance_type


def _data(seed, n=600):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0, 0], [4, 0, 2, 0], [0, 4, 0, 2]], dtype=float)
    out = []
    for c in centres:
        A = rng.normal(scale=0.5, size=(4, 4))
        out.append(rng.multivariate_normal(c, A @ A.T + 0.5 * np.eye(4), n // 3))
    return np.concatenate(out)


def _err(gm, ref, ct):
    cost = ((gm.means_[:, None, :] - ref.means_[None]) ** 2).sum(-1)
    r, c = linear_sum_assignment(cost)
    cov = get_covariance_type(ct)
    fg = cov.to_full(gm.covariances_, 3, 4)
    fr = cov.to_full(ref.covariances_, 3, 4)
    order = np.empty(3, dtype=int)
    order[c] = r
    return (float(np.abs(gm.means_[order] - ref.means_).max()),
            float(np.abs(fg[order] - fr).max()))


def main(seeds=10, covariance_type="full"):
    kw = dict(n_components=3, covariance_type=covariance_type, n_init=5, random_state=0,
              tol=1e-6, max_iter=1000)
    rows = {}
    decreased = 0
    t0 = time.perf_counter()
    for seed in range(seeds):
        X = _data(seed)
        ref = GaussianMixture(**kw).fit(X)
        for frac in (0.1, 0.3):
            rng = np.random.default_rng(100 + seed)
            Xm = X.copy()
            Xm[rng.random(X.shape) < frac] = np.nan
            ours = GaussianMixture(missing="marginalize", **kw).fit(Xm)
            decreased += int(np.any(np.diff(ours.lower_bounds_) < -1e-12 * np.abs(ours.lower_bound_)))
            keep = ~np.isnan(Xm).any(axis=1)
            dropped = GaussianMixture(**kw).fit(Xm[keep])
            with warnings.catch_warnings():  # mean imputation puts rows on lines: near-singular fits
                warnings.simplefilter("ignore")
                imputed = GaussianMixture(**kw).fit(np.where(np.isnan(Xm), np.nanmean(Xm, axis=0), Xm))
            for name, gm in (("marginalize", ours), ("drop", dropped), ("mean-impute", imputed)):
                rows.setdefault((frac, name), []).append(_err(gm, ref, covariance_type))
            rows.setdefault((frac, "rows kept by drop"), []).append((keep.mean(), keep.mean()))
    print(f"covariance_type={covariance_type}, {seeds} seeds, N=600, D=4, K=3 "
          f"({time.perf_counter() - t0:.0f} s)")
    print(f"{'missing':>8} {'method':>18} {'mean err (median)':>18} {'cov err (median)':>17}"
          f" {'ours better (mean/cov)':>23}")
    for frac in (0.1, 0.3):
        ours = np.array(rows[(frac, "marginalize")])
        for name in ("marginalize", "drop", "mean-impute"):
            e = np.array(rows[(frac, name)])
            better = "" if name == "marginalize" else (
                f"{int((ours[:, 0] < e[:, 0]).sum())}/{seeds}, {int((ours[:, 1] < e[:, 1]).sum())}/{seeds}")
            print(f"{frac:>8.0%} {name:>18} {np.median(e[:, 0]):>18.3f} {np.median(e[:, 1]):>17.3f} {better:>23}")
        kept = np.array(rows[(frac, "rows kept by drop")])[:, 0].mean()
        print(f"{'':>8} {'(drop keeps':>18} {kept:>17.0%} of the rows)")
    print(f"lower bound decreased in {decreased} of {2 * seeds} fits with missing values")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--covariance-type", default="full")
    a = ap.parse_args()
    main(a.seeds, a.covariance_type)
