"""Per-iteration EM time of each of mclust's fourteen models: ours and mclust's.

N = 1e5, D = 10, K = 10 by default: well-separated Gaussian clusters with
per-feature sds 0.5-1.5, seed 0 (:func:`make_data` here; the size of
``benchmarks/em.py``'s target cell, not its data, whose sds are 0.5-2.0). Per model: the time of a fit
with ``max_iter = 1 + m`` minus that with ``max_iter = 1`` (same start: k-means
labels, ``random_state=0``, ``tol=0``, ``n_init=1``, after one untimed warm-up
fit), divided by ``m``; the same for R
mclust's ``me`` (``itmax`` 1 + m and 1, from k-means labels) when ``Rscript``
is on the PATH. The median of ``--repeats`` runs.

Usage (repository root)::

    PYTHONPATH=. python benchmarks/mclust/em_speed.py              # N=1e5, D=10, K=10
    PYTHONPATH=. python benchmarks/mclust/em_speed.py --n 20000 --no-r
    PYTHONPATH=. python benchmarks/em.py --mclust-models   # the same, from benchmarks/em.py
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from bayesgmm import GaussianMixture
from bayesgmm.covariance import MCLUST_MODELS

R_SCRIPT = r"""
suppressPackageStartupMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1])); K <- as.integer(args[2]); m <- as.integer(args[3])
reps <- as.integer(args[4]); models <- strsplit(args[5], ",")[[1]]
set.seed(0); z <- unmap(kmeans(X, K, nstart = 1, iter.max = 20)$cluster)
for (model in models) {
  t <- function(it) system.time(suppressWarnings(
    me(X, modelName = model, z = z, control = emControl(itmax = c(it, 1000L), tol = c(0, sqrt(.Machine$double.eps))),
       warn = FALSE)))[["elapsed"]]
  per <- replicate(reps, (t(1L + m) - t(1L)) / m)
  cat(model, median(per), "\n")
}
"""


def make_data(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    labels = rng.integers(k, size=n)
    X = centres[labels] + rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, size=(k, d))[labels]
    return X


def ours_per_iteration(X, k, model, m, repeats):
    def fit(it):
        gm = GaussianMixture(k, covariance_type=model, tol=0.0, max_iter=it, random_state=0,
                             n_init=1, init_params="kmeans")  # one start, as R's
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm.fit(X)
        return time.perf_counter() - t0

    fit(1)  # compiles and caches what the first fit of a type needs (numba kernels)
    return float(np.median([(fit(1 + m) - fit(1)) / m for _ in range(repeats)]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--d", type=int, default=10)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--iterations", type=int, default=5, help="m: timed iterations")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--models", default=",".join(MCLUST_MODELS))
    p.add_argument("--no-r", action="store_true")
    args = p.parse_args(argv)
    X = make_data(args.n, args.d, args.k)
    models = args.models.split(",")
    r_times = {}
    if not args.no_r and shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "x.csv"
            np.savetxt(path, X, delimiter=",", header=",".join(f"x{i}" for i in range(args.d)),
                       comments="")
            script = Path(tmp) / "speed.R"
            script.write_text(R_SCRIPT)
            out = subprocess.run(
                ["Rscript", str(script), str(path), str(args.k), str(args.iterations),
                 str(args.repeats), ",".join(models)],
                capture_output=True, text=True, check=True,
            ).stdout
            r_times = {line.split()[0]: float(line.split()[1]) for line in out.splitlines() if line.strip()}
    print(f"per-iteration EM time, N={args.n}, D={args.d}, K={args.k} "
          f"(median of {args.repeats}, {args.iterations} iterations each)")
    print(f"{'model':>5} {'ours_s':>9} {'mclust_s':>9} {'mclust/ours':>11}")
    for model in models:
        ours = ours_per_iteration(X, args.k, model, args.iterations, args.repeats)
        r = r_times.get(model, float("nan"))
        print(f"{model:>5} {ours:9.4f} {r:9.4f} {r / ours:11.2f}")


if __name__ == "__main__":
    main()
