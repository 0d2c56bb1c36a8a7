"""The uniform noise component on contaminated data: with and without, EM and Bayesian.

Data (per seed): three 2-D Gaussian clusters (means (0,0), (6,0), (3,5), covariance
0.8 I, 150 rows each) plus 10% uniform outliers (50 rows) on the data's bounding
box widened by ``--pad`` on each side (3 by default; 8 for far-flung outliers).

Fits, K = 3, full covariances:

* EM: ``GaussianMixture(3)`` and ``GaussianMixture(3, noise=True)`` (mclust's hypvol
  and nearest-neighbour-cleaning start), default ``n_init``;
* EM on the 450 cluster rows alone (the reference a robust fit should approach);
* Bayesian (``--bayes-seeds`` seeds): NUTS (nutpie; ``--draws``/``--tune``/``--chains``)
  on the plain model started from the plain EM fit, and on the noise model
  (``run_inference(noise_hypervolume=...)``, the numpy density) started from the noise
  EM fit; the posterior means of the parameters after relabelling the draws against
  the EM fit (:func:`bayesgmm.posterior.relabel_draws`).

Reported per fit: ``mean_err`` (largest distance from a true mean to its matched
fitted mean), ``cov_err`` (mean Frobenius norm of the matched covariance error),
``ARI_all`` (adjusted Rand index against the truth with the outliers as a class of
their own; the noise label is -1), ``ARI_clusters`` (on the cluster rows only), the
noise weight, and the seconds.  Bayesian labels: the most probable class under the
posterior mean of the per-draw responsibilities (noise included).

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/noise.py
    PYTHONPATH=. .venv/bin/python benchmarks/noise.py --seeds 5 --bayes-seeds 0 --pad 8
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.metrics import adjusted_rand_score

import bayesgmm as bg
from bayesgmm import _datatree
from bayesgmm.inference import run_inference
from bayesgmm.posterior import relabel_draws

MU = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.0]])
COV = 0.8 * np.eye(2)
N_PER = 150


def data(seed, pad, frac=0.1):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.multivariate_normal(m, COV, N_PER) for m in MU])
    n_out = int(round(frac * X.shape[0] / (1 - frac)))
    out = rng.uniform(X.min(0) - pad, X.max(0) + pad, size=(n_out, 2))
    y = np.r_[np.repeat(np.arange(3), N_PER), np.full(n_out, -1)]
    return np.r_[X, out], y


def errors(means, covs):
    d = np.linalg.norm(MU[:, None, :] - means[None, :, :], axis=-1)
    r, c = linear_sum_assignment(d)
    mean_err = float(d[r, c].max())
    cov_err = float(np.mean([np.linalg.norm(covs[j] - COV) for j in c]))
    return mean_err, cov_err


def scores(y, labels):
    clusters = y >= 0
    return adjusted_rand_score(y, labels), adjusted_rand_score(y[clusters], labels[clusters])


def posterior_labels(post, X, log_v=None):
    """Argmax of the posterior mean responsibilities (noise = -1)."""
    w = post["weights"].values.reshape(-1, post.sizes["component"])
    m = post["means"].values.reshape(w.shape[0], w.shape[1], -1)
    c = post["covariances"].values.reshape(w.shape[0], w.shape[1], m.shape[-1], m.shape[-1])
    cols = w.shape[1] + (log_v is not None)
    R = np.zeros((X.shape[0], cols))
    for s in range(w.shape[0]):
        lp = np.column_stack([np.log(w[s, k]) + multivariate_normal(m[s, k], c[s, k]).logpdf(X)
                              for k in range(w.shape[1])])
        if log_v is not None:
            nw = float(post["noise_weight"].values.reshape(-1)[s])
            lp = np.column_stack([lp, np.full(X.shape[0], np.log(nw) - log_v)])
        R += np.exp(lp - logsumexp(lp, axis=1, keepdims=True))
    lab = R.argmax(axis=1)
    if log_v is not None:
        lab[lab == w.shape[1]] = -1
    return lab


def relabel(tree, em):
    """The posterior relabelled against its EM start (chains may start at distinct optima)."""
    ref = _datatree.em_dataset(em, ["x0", "x1"])
    post = tree["posterior"].to_dataset()
    return relabel_draws(post, ref)[0]


def row(name, seed, means, covs, y, labels, noise_w, secs):
    me, ce = errors(np.asarray(means), np.asarray(covs))
    a_all, a_cl = scores(y, labels)
    nw = "" if noise_w is None else f"{noise_w:.3f}"
    print(f"{seed:>4} {name:<22} {me:8.3f} {ce:8.3f} {a_all:8.3f} {a_cl:8.3f} {nw:>7} {secs:7.1f}", flush=True)
    return me, ce, a_all, a_cl


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--bayes-seeds", type=int, default=1)
    ap.add_argument("--pad", type=float, default=3.0)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--tune", type=int, default=300)
    ap.add_argument("--chains", type=int, default=2)
    args = ap.parse_args()
    print(f"# load average at start: {os.getloadavg()}; pad {args.pad}; 450 cluster rows + 50 outliers")
    print(f"{'seed':>4} {'fit':<22} {'mean_err':>8} {'cov_err':>8} {'ARI_all':>8} {'ARI_cl':>8} {'noise_w':>7} {'seconds':>7}")
    summary = {}
    for seed in range(args.seeds):
        X, y = data(seed, args.pad)
        t = time.perf_counter()
        plain = bg.GaussianMixture(3, random_state=0).fit(X)
        res = {"EM": row("EM", seed, plain.means_, plain.covariances_, y, plain.predict(X), None,
                         time.perf_counter() - t)}
        t = time.perf_counter()
        noisy = bg.GaussianMixture(3, noise=True, random_state=0).fit(X)
        res["EM + noise"] = row("EM + noise", seed, noisy.means_, noisy.covariances_, y, noisy.predict(X),
                                noisy.noise_weight_, time.perf_counter() - t)
        t = time.perf_counter()
        clean = bg.GaussianMixture(3, random_state=0).fit(X[y >= 0])
        lab = np.full(X.shape[0], -1)
        lab[y >= 0] = clean.predict(X[y >= 0])
        res["EM on clean rows"] = row("EM on clean rows", seed, clean.means_, clean.covariances_, y, lab, None,
                                      time.perf_counter() - t)
        if seed < args.bayes_seeds:
            kw = dict(draws=args.draws, tune=args.tune, chains=args.chains, random_seed=seed, progressbar=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                tree = run_inference(X, 3, "full", init=plain, **kw)
                post = relabel(tree, plain)
                res["Bayes"] = row("Bayes (NUTS)", seed, post["means"].mean(("chain", "draw")).values,
                                   post["covariances"].mean(("chain", "draw")).values, y,
                                   posterior_labels(post, X), None, time.perf_counter() - t)
                t = time.perf_counter()
                tree = run_inference(X, 3, "full", init=noisy, noise_hypervolume=noisy.noise_hypervolume_, **kw)
                post = relabel(tree, noisy)
                res["Bayes + noise"] = row(
                    "Bayes + noise (NUTS)", seed, post["means"].mean(("chain", "draw")).values,
                    post["covariances"].mean(("chain", "draw")).values, y,
                    posterior_labels(post, X, np.log(noisy.noise_hypervolume_)),
                    float(post["noise_weight"].mean()), time.perf_counter() - t)
        for k, v in res.items():
            summary.setdefault(k, []).append(v)
    print("\n# means over seeds")
    for k, v in summary.items():
        v = np.array(v)
        print(f"{len(v):>4} {k:<22} " + " ".join(f"{x:8.3f}" for x in v.mean(axis=0)))
    print(f"# load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
