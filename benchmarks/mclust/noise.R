# R mclust's EM with a uniform noise component, for benchmarks/mclust/noise_compare.py.
#
# Reads benchmarks/mclust/data/noise_<name>.csv (columns x0, x1, noise_init: the
# data and the rows that start as noise, written by noise_compare.py) and fits
#   Mclust(X, G = 3, modelNames = "VVV", initialization = list(noise = noise_init),
#          control = emControl(tol = c(1e-10, sqrt(.Machine$double.eps))))
# i.e. mclust's default noise start: hc on the non-noise rows, the noise rows in the
# noise class, then EM with Vinv = hypvol(X, reciprocal = TRUE).  Writes
# benchmarks/mclust/results/noise_mclust_<name>.csv: log-likelihood, BIC (mclust's
# sign), hypervolume, the mixing proportions (noise last), means, iterations.
#
# Usage (from the repository root):  Rscript benchmarks/mclust/noise.R seed0
suppressPackageStartupMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
name <- if (length(args)) args[1] else "seed0"
d <- read.csv(file.path("benchmarks/mclust/data", paste0("noise_", name, ".csv")))
X <- as.matrix(d[, c("x0", "x1")])
noise <- as.logical(d$noise_init)
fit <- Mclust(X, G = 3, modelNames = "VVV", initialization = list(noise = noise),
              control = emControl(tol = c(1e-10, sqrt(.Machine$double.eps))), verbose = FALSE)
pro <- fit$parameters$pro
mu <- fit$parameters$mean
out <- data.frame(
  loglik = fit$loglik, bic = fit$bic, npar = fit$df, n = fit$n,
  hypvol = 1 / fit$parameters$Vinv, hypvol_fn = hypvol(X),
  pro1 = pro[1], pro2 = pro[2], pro3 = pro[3], pro_noise = pro[4],
  mu1x = mu[1, 1], mu1y = mu[2, 1], mu2x = mu[1, 2], mu2y = mu[2, 2],
  mu3x = mu[1, 3], mu3y = mu[2, 3],
  n_noise = sum(fit$classification == 0),
  mclust = as.character(packageVersion("mclust"))
)
dir.create("benchmarks/mclust/results", showWarnings = FALSE)
write.csv(out, file.path("benchmarks/mclust/results", paste0("noise_mclust_", name, ".csv")),
          row.names = FALSE)
print(out)
