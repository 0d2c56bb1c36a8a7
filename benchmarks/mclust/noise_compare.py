"""Our EM with a uniform noise component against R mclust's, same data, same noise start.

For each seed: the contaminated data of ``benchmarks/noise.py`` (3 clusters + 10%
uniform outliers), the initial noise rows from our nearest-neighbour cleaning
(:func:`bayesgmm.em._noise.nn_clean`), written to
``benchmarks/mclust/data/noise_seed<s>.csv``; then ``Rscript benchmarks/mclust/noise.R``
(mclust: hc on the non-noise rows, EM with ``Vinv = hypvol(X, reciprocal = TRUE)``)
and ``GaussianMixture(3, noise=True, noise_init=mask, init_params="hc", n_init=1,
tol=1e-10)`` (our hc start on the non-noise rows).  Compared: the log-likelihood,
BIC (mclust's sign: 2 log L - p log n), the hypervolume, the noise proportion, the
means and the rows classified as noise.

Usage (from the repository root, R with mclust installed)::

    PYTHONPATH=. .venv/bin/python benchmarks/mclust/noise_compare.py --seeds 3
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np

import bayesgmm as bg
from bayesgmm.em._noise import nn_clean

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from noise import data  # noqa: E402  benchmarks/noise.py

HERE = Path(__file__).resolve().parent


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    print(f"{'data':<7} {'fit':<7} {'loglik':>11} {'BIC':>11} {'hypvol':>10} {'noise_w':>8} "
          f"{'n_noise':>7} {'max|mu diff|':>12}")
    for seed in range(args.seeds):
        name = f"seed{seed}"
        X, _ = data(seed, 3.0)
        mask = nn_clean(X)
        (HERE / "data").mkdir(exist_ok=True)
        with open(HERE / "data" / f"noise_{name}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["x0", "x1", "noise_init"])
            for (a, b), m in zip(X, mask):
                w.writerow([repr(float(a)), repr(float(b)), "TRUE" if m else "FALSE"])
        subprocess.run(["Rscript", str(HERE / "noise.R"), name], check=True, capture_output=True)
        with open(HERE / "results" / f"noise_mclust_{name}.csv") as fh:
            r = next(csv.DictReader(fh))
        gm = bg.GaussianMixture(3, noise=True, noise_init=mask, init_params="hc", n_init=1,
                                tol=1e-10, max_iter=5000, random_state=0).fit(X)
        ll = float(gm.score_samples(X).sum())
        n = X.shape[0]
        bic = 2 * ll - gm._n_parameters() * np.log(n)
        mu_r = np.array([[float(r[f"mu{k}x"]), float(r[f"mu{k}y"])] for k in (1, 2, 3)])
        # match components by nearest means
        from scipy.optimize import linear_sum_assignment

        dist = np.linalg.norm(mu_r[:, None] - gm.means_[None], axis=-1)
        i, j = linear_sum_assignment(dist)
        print(f"{name:<7} {'mclust':<7} {float(r['loglik']):11.4f} {float(r['bic']):11.4f} "
              f"{float(r['hypvol']):10.4f} {float(r['pro_noise']):8.4f} {int(r['n_noise']):7d}")
        print(f"{name:<7} {'ours':<7} {ll:11.4f} {bic:11.4f} {gm.noise_hypervolume_:10.4f} "
              f"{gm.noise_weight_:8.4f} {int((gm.predict(X) == -1).sum()):7d} "
              f"{dist[i, j].max():12.2e}")
    print(f"# mclust {r['mclust']}; npar mclust {r['npar']}, ours {gm._n_parameters()}")


if __name__ == "__main__":
    main()
