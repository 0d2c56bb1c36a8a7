"""Anomaly detection with posterior uncertainty vs scikit-learn's plug-in score_samples.

Truth: a 3-component, 2-D Gaussian mixture (unequal weights, correlated covariances).

Part A, planted outliers (``--seeds`` data sets): ``--n-train`` clean rows plus
``--n-outliers`` planted outliers (uniform on a box around the data, kept only where
the true log density is below its 0.1% quantile).  On the contaminated data we fit

* bayesgmm: ``BayesianGMM(3)`` (NUTS, ``--draws``/``--tune``/``--chains``), then
  :func:`bayesgmm.detect_anomalies` at ``--rate``: flags ``is_outlier`` (posterior
  predictive log density below the rate-quantile of simulated posterior predictive
  points) and, second rule, ``outlier_probability > 0.5``;
* scikit-learn: ``GaussianMixture(3, n_init=5)``; the same rule on its plug-in
  density: threshold = rate-quantile of ``score_samples`` of 20000 points from
  ``sample()``.

For each: precision and recall of the flags on the training rows (planted outliers
are the positives), and the realised false-alarm rate on 20000 clean held-out rows
from the truth (target: within 1.5x of ``--rate``).

Part B, clean fits (``--coverage-seeds`` clean data sets of ``--n-train`` rows): the
share of 1000 held-out points (and of the training points) whose true log density
lies in the 94% credible interval of ``log p(x | theta)``, and the realised
false-alarm rate of each rule on 20000 clean held-out rows (the fitted model is then
the right family, so the target should be met).

Usage::

    .venv/bin/python benchmarks/anomalies.py
    .venv/bin/python benchmarks/anomalies.py --seeds 1 --coverage-seeds 2 --draws 300 --tune 300
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture as SkGMM

import bayesgmm as bg

W = np.array([0.5, 0.3, 0.2])
MU = np.array([[0.0, 0.0], [5.0, 1.0], [1.0, 5.0]])
COV = np.array([[[1.0, 0.6], [0.6, 1.0]], [[0.5, 0.0], [0.0, 2.0]], [[1.5, -0.7], [-0.7, 0.8]]])


def true_logpdf(X):
    dens = sum(W[k] * multivariate_normal(MU[k], COV[k]).pdf(X) for k in range(3))
    return np.log(dens)


def sample_truth(rng, n):
    comp = rng.choice(3, size=n, p=W)
    z = rng.standard_normal((n, 2))
    L = np.linalg.cholesky(COV)
    return MU[comp] + np.einsum("nij,nj->ni", L[comp], z)


def plant_outliers(rng, n, floor):
    out = []
    while len(out) < n:
        cand = rng.uniform([-6, -6], [11, 11], size=(200, 2))
        out.extend(cand[true_logpdf(cand) < floor])
    return np.asarray(out[:n])


def fit_bayes(X, seed, args):
    """BayesianGMM(3) with the sampler settings as constructor or fit arguments."""
    model = bg.BayesianGMM(3, random_state=seed)
    opts = {"draws": args.draws, "tune": args.tune, "chains": args.chains, "progressbar": False}
    ctor = {k: opts.pop(k) for k in list(opts) if k in model.get_params()}
    model.set_params(**ctor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, **opts)


def pr(flags, truth):
    tp = int(np.sum(flags & truth))
    prec = tp / max(1, int(flags.sum()))
    rec = tp / max(1, int(truth.sum()))
    return prec, rec, int(flags.sum())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--coverage-seeds", type=int, default=5)
    p.add_argument("--n-train", type=int, default=500)
    p.add_argument("--n-outliers", type=int, default=10)
    p.add_argument("--rate", type=float, default=0.01)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--chains", type=int, default=2)
    args = p.parse_args(argv)
    print(f"load average {os.getloadavg()}; rate {args.rate}; n_train {args.n_train}; "
          f"draws {args.draws} tune {args.tune} chains {args.chains}", flush=True)
    rng0 = np.random.default_rng(12345)
    floor = np.quantile(true_logpdf(sample_truth(rng0, 200000)), 0.001)
    print(f"planted outliers: true log density below {floor:.2f} (its 0.1% quantile)")

    print("\nPart A: planted outliers")
    print("seed | method | flagged | precision | recall | false alarms on clean held-out (target "
          f"{args.rate}) | fit s")
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        clean = sample_truth(rng, args.n_train)
        X = np.r_[clean, plant_outliers(rng, args.n_outliers, floor)]
        is_out = np.r_[np.zeros(args.n_train, bool), np.ones(args.n_outliers, bool)]
        X_held = sample_truth(rng, 20000)

        t = time.perf_counter()
        model = fit_bayes(X, seed, args)
        tb = time.perf_counter() - t
        res = bg.detect_anomalies(model, X, args.rate, random_state=seed)
        held = bg.detect_anomalies(model, X_held, args.rate, random_state=seed)
        for rule, f_train, f_held in (
            ("bayesgmm predictive", res["is_outlier"].values, held["is_outlier"].values),
            ("bayesgmm P(outlier)>0.5", res["outlier_probability"].values > 0.5,
             held["outlier_probability"].values > 0.5),
        ):
            prec, rec, n = pr(f_train, is_out)
            print(f"{seed} | {rule} | {n} | {prec:.2f} | {rec:.2f} | {f_held.mean():.4f} | {tb:.0f}")

        t = time.perf_counter()
        sk = SkGMM(3, n_init=5, random_state=seed).fit(X)
        ts = time.perf_counter() - t
        rep, _ = SkGMM(3, n_init=5, random_state=seed).fit(X).sample(20000)
        thr = np.quantile(sk.score_samples(rep), args.rate)
        prec, rec, n = pr(sk.score_samples(X) < thr, is_out)
        fa = np.mean(sk.score_samples(X_held) < thr)
        print(f"{seed} | sklearn plug-in | {n} | {prec:.2f} | {rec:.2f} | {fa:.4f} | {ts:.1f}", flush=True)

    print("\nPart B: fits on clean data: coverage of the 94% intervals of log p(x | theta) "
          "(truth inside), and realised false-alarm rates on 20000 clean held-out rows")
    from bayesgmm.posterior.density import log_density_summary

    cov_h, cov_t, fa = [], [], {"predictive": [], "P>0.5": [], "sklearn": []}
    for seed in range(100, 100 + args.coverage_seeds):
        rng = np.random.default_rng(seed)
        X = sample_truth(rng, args.n_train)
        X_new = sample_truth(rng, 1000)
        X_held = sample_truth(rng, 20000)
        model = fit_bayes(X, seed, args)
        post = model.idata_["posterior"].to_dataset()
        for pts, acc in ((X_new, cov_h), (X, cov_t)):
            s = log_density_summary(post, pts, ci_prob=0.94)
            tl = true_logpdf(pts)
            acc.append(float(np.mean((s["lower"].values <= tl) & (tl <= s["upper"].values))))
        held = bg.detect_anomalies(model, X_held, args.rate, random_state=seed)
        fa["predictive"].append(float(held["is_outlier"].mean()))
        fa["P>0.5"].append(float((held["outlier_probability"] > 0.5).mean()))
        sk = SkGMM(3, n_init=5, random_state=seed).fit(X)
        thr = np.quantile(sk.score_samples(sk.sample(20000)[0]), args.rate)
        fa["sklearn"].append(float(np.mean(sk.score_samples(X_held) < thr)))
        print(f"seed {seed}: coverage held-out {cov_h[-1]:.3f}, training {cov_t[-1]:.3f}, median "
              f"width {float(np.median(s['width'])):.3f}; false alarms: "
              + ", ".join(f"{k} {v[-1]:.4f}" for k, v in fa.items()), flush=True)
    print(f"mean coverage: held-out {np.mean(cov_h):.3f}, training {np.mean(cov_t):.3f} "
          f"(target 0.90-0.97); per data set held-out min {min(cov_h):.3f} max {max(cov_h):.3f}")
    print("mean realised false-alarm rate (target %g): " % args.rate
          + ", ".join(f"{k} {np.mean(v):.4f}" for k, v in fa.items()))
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
