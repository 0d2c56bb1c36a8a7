"""Cross-validated accuracy and log loss of GaussianMixtureClassifier vs scikit-learn.

Data sets: iris, wine (scikit-learn's copies) and a synthetic set whose three classes
are each a union of three Gaussian blobs, interleaved (multi-modal per class).
Methods, all after standardising the features on the training folds:

* ``qda``: scikit-learn's QuadraticDiscriminantAnalysis (one Gaussian per class);
* ``sk-gmm-K``: one scikit-learn GaussianMixture per class with a fixed number K of
  full-covariance components (``n_init=3``), Bayes' rule with the class frequencies;
* ``bg-em``: GaussianMixtureClassifier(method="em"), K in 1..5 per class by BIC
  (``n_init=3``), full covariances;
* ``bg-em-types``: the same, also choosing among full/diag/spherical/tied by BIC;
* ``bg-bayes`` (``--bayes``): method="bayes" with ``--draws``/``--tune``/``--chains``.

Stratified K-fold (``--folds``, default 5, shuffled with seed 0).  Log loss is
scikit-learn's ``log_loss`` (probabilities clipped at its default epsilon).

Usage::

    .venv/bin/python benchmarks/classification.py
    .venv/bin/python benchmarks/classification.py --bayes --methods bg-bayes --datasets iris synthetic
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from sklearn.datasets import load_iris, load_wine
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
from sklearn.metrics import accuracy_score, log_loss
from sklearn.mixture import GaussianMixture as SkGMM
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from bayesgmm.classification import GaussianMixtureClassifier


def synthetic(seed=0, n_per_blob=100):
    """3 classes x 3 blobs in 2-D on a jittered 3x3 grid, classes interleaved (Latin square)."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for i in range(3):
        for j in range(3):
            c = (i + j) % 3
            centre = np.array([i * 3.0, j * 3.0]) + rng.normal(0, 0.3, 2)
            A = rng.normal(0, 0.5, (2, 2)) + 0.6 * np.eye(2)
            X.append(centre + rng.normal(size=(n_per_blob, 2)) @ A.T)
            y.append(np.full(n_per_blob, c))
    return np.vstack(X), np.concatenate(y)


class SkPerClass:
    """One scikit-learn GaussianMixture per class, fixed K, Bayes' rule."""

    def __init__(self, k, seed=0):
        self.k, self.seed = k, seed

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.models_ = [
            SkGMM(min(self.k, int((y == c).sum())), n_init=3, random_state=self.seed).fit(X[y == c])
            for c in self.classes_
        ]
        self.logprior_ = np.log(np.array([(y == c).mean() for c in self.classes_]))
        return self

    def predict_proba(self, X):
        j = np.column_stack([m.score_samples(X) for m in self.models_]) + self.logprior_
        j -= j.max(axis=1, keepdims=True)
        p = np.exp(j)
        return p / p.sum(axis=1, keepdims=True)


def methods(args):
    out = {
        "qda": lambda: QuadraticDiscriminantAnalysis(reg_param=0.0),
        "sk-gmm-2": lambda: SkPerClass(2),
        "sk-gmm-3": lambda: SkPerClass(3),
        "bg-em": lambda: GaussianMixtureClassifier((1, 2, 3, 4, 5), n_init=3, random_state=0),
        "bg-em-types": lambda: GaussianMixtureClassifier(
            (1, 2, 3, 4, 5), covariance_type=("full", "diag", "spherical", "tied"), n_init=3,
            random_state=0),
    }
    if args.bayes:
        opts = {"draws": args.draws, "tune": args.tune, "chains": args.chains, "progressbar": False}
        out["bg-bayes"] = lambda: GaussianMixtureClassifier(
            (1, 2, 3, 4, 5), n_init=3, method="bayes", background=False, bayes_options=opts,
            random_state=0)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["iris", "wine", "synthetic"])
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--bayes", action="store_true")
    p.add_argument("--draws", type=int, default=300)
    p.add_argument("--tune", type=int, default=300)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--methods", nargs="+", default=None,
                   help="run only these methods (names as in the table)")
    args = p.parse_args(argv)
    print(f"load average {os.getloadavg()}, folds {args.folds}")
    data = {"iris": lambda: load_iris(return_X_y=True), "wine": lambda: load_wine(return_X_y=True),
            "synthetic": synthetic}
    rows = []
    for name in args.datasets:
        X, y = data[name]()
        cv = StratifiedKFold(args.folds, shuffle=True, random_state=0)
        for mname, make in methods(args).items():
            if args.methods and mname not in args.methods:
                continue
            acc, ll, t0, ks = [], [], time.perf_counter(), []
            for tr, te in cv.split(X, y):
                sc = StandardScaler().fit(X[tr])
                Xtr, Xte = sc.transform(X[tr]), sc.transform(X[te])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = make().fit(Xtr, y[tr])
                    proba = model.predict_proba(Xte)
                classes = model.classes_
                acc.append(accuracy_score(y[te], classes[proba.argmax(axis=1)]))
                ll.append(log_loss(y[te], proba, labels=classes))
                if hasattr(model, "n_components_"):
                    ks.append(model.n_components_.tolist())
            dt = time.perf_counter() - t0
            row = (name, mname, np.mean(acc), np.std(acc), np.mean(ll), np.std(ll), dt)
            rows.append(row)
            extra = f"  K per class (per fold): {ks}" if ks else ""
            print(f"{name:10s} {mname:12s} acc {row[2]:.3f} +- {row[3]:.3f}  "
                  f"logloss {row[4]:.3f} +- {row[5]:.3f}  {dt:6.1f} s{extra}", flush=True)
    print("\n| data | method | accuracy | log loss | time (s) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.3f} ± {r[3]:.3f} | {r[4]:.3f} ± {r[5]:.3f} | {r[6]:.1f} |")


if __name__ == "__main__":
    main()
