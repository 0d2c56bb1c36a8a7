"""Is our VVE fit from mclust's VVE solution a better VVE fit by mclust's own measure?

For a few cells where our EM, started at mclust's VVE solution, moves up
(``from_solution.py``), this script writes our final parameters to a
temporary file and asks R mclust 6.0 for

* ``estep`` at our parameters: mclust's log-likelihood of our solution (so the
  increase is measured by mclust's density, not ours);
* whether our covariances share their eigenvectors (a VVE member);
* ``me(modelName = "VVE")`` started from our solution's responsibilities
  (mclust's EM, tol 1e-12): where mclust's M-step takes our solution.

Usage (repository root; needs ``Rscript`` with mclust)::

    PYTHONPATH=. python benchmarks/mclust/vve_crosscheck.py
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from bayesgmm import GaussianMixture
from bayesgmm.covariance import get_covariance_type

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from from_solution import load_cells, load_data, load_solutions

CELLS = [("faithful", 5), ("iris", 3), ("banknote", 8), ("diabetes", 3)]

R = r"""
suppressPackageStartupMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
p <- read.csv(args[1])
for (cell in unique(p$cell)) {
  q <- p[p$cell == cell, ]
  X <- as.matrix(read.csv(file.path("benchmarks/mclust/data", paste0(q$dataset[1], ".csv"))))
  G <- q$G[1]; d <- ncol(X)
  pro <- q$value[q$what == "pro"]
  mu <- matrix(q$value[q$what == "mean"], d, G)
  sig <- array(q$value[q$what == "sigma"], c(d, d, G))
  par <- list(pro = pro, mean = mu,
              variance = list(modelName = "VVV", d = d, G = G, sigma = sig,
                              cholsigma = array(sapply(1:G, function(k) chol(sig[, , k])), c(d, d, G))))
  e <- estep(data = X, modelName = "VVV", parameters = par)
  comm <- max(sapply(2:G, function(k) max(abs(sig[, , 1] %*% sig[, , k] - sig[, , k] %*% sig[, , 1]))))
  ctrl <- emControl(tol = c(1e-12, 1e-12), itmax = c(100000L, 100000L))
  m <- me(X, modelName = "VVE", z = e$z, control = ctrl, warn = FALSE)
  cat(sprintf("%-9s VVE %d: mclust's loglik at ours %.6f (ours says %.6f); max |S1 Sk - Sk S1| %.1e; mclust's me from ours -> %.6f after %d iterations\n",
              q$dataset[1], G, e$loglik, q$ours[1], comm, m$loglik, attr(m, "info")[1]))
}
"""


def main():
    cells = {(c["dataset"], c["model"], int(c["G"])): c for c in load_cells()}
    sols = load_solutions()
    rows = []
    for name, G in CELLS:
        X = load_data(name)
        pro, mean, sigma = sols[(name, "VVE", G)]
        ct = get_covariance_type("VVE")
        gm = GaussianMixture(
            n_components=G, covariance_type="VVE", weights_init=pro, means_init=mean,
            precisions_init=ct.covariances_from_precisions(ct.from_full(sigma)),
            reg_covar=0.0, tol=1e-10, max_iter=1000,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm.fit(X)
        ll = gm.score(X) * X.shape[0]
        print(f"{name:9s} VVE {G}: mclust's solution {float(cells[(name, 'VVE', G)]['loglik']):.6f}, "
              f"ours from there {ll:.6f}")
        full = ct.to_full(gm.covariances_, G, X.shape[1])
        vals = [("pro", v) for v in gm.weights_]
        vals += [("mean", v) for v in gm.means_.ravel()]  # = R's column-major d x G
        vals += [("sigma", v) for v in np.swapaxes(full, 1, 2).ravel()]  # d x d x G
        rows += [{"cell": f"{name}{G}", "dataset": name, "G": G, "ours": f"{ll:.17g}",
                  "what": w, "value": f"{v:.17g}"} for w, v in vals]
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as rf:
        rf.write(R)
    try:
        subprocess.run(["Rscript", rf.name, f.name], check=True)
    finally:
        os.unlink(f.name)
        os.unlink(rf.name)


if __name__ == "__main__":
    main()
