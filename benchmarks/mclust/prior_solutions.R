# mclust's MAP fits under its default conjugate prior (priorControl()), for
# tests/test_em_prior.py: our EM with prior="default", started at mclust's
# solution, must stay at mclust's parameters and log-likelihood.
#
# Cells: Old Faithful and iris[, 1:4], G = 2, 3, every model mclust fits with
# a prior (EII, VII, EEI, VEI, EVI, VVI, EEE, EEV, VEV, VVV), from Mclust's
# default hierarchical start, tight tolerance. loglik is the log-likelihood
# at the MAP estimate (what mclust's BIC uses). Long format as solutions.R.
# Also the resolved default prior of each cell (what = "prior_*").
#
# Usage (repository root):  Rscript benchmarks/mclust/prior_solutions.R
# Writes tests/data/mclust_prior_solutions.csv.
suppressPackageStartupMessages(library(mclust))
data(faithful); data(iris)
sets <- list(faithful = as.matrix(faithful), iris = as.matrix(iris[, 1:4]))
ctrl <- emControl(tol = c(1e-12, 1e-12))
models <- c("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "EEV", "VEV", "VVV")
rows <- list()
for (name in names(sets)) {
  X <- sets[[name]]
  d <- ncol(X)
  for (model in models) for (G in 2:3) {
    fit <- Mclust(X, G = G, modelNames = model, prior = priorControl(), control = ctrl,
                  verbose = FALSE)
    if (is.null(fit)) next
    par <- fit$parameters
    sig <- par$variance$sigma
    pp <- defaultPrior(X, G, model)
    vals <- c(par$pro, as.vector(par$mean), as.vector(sig),
              pp$shrinkage, pp$mean, pp$dof, as.vector(pp$scale))
    what <- c(rep("pro", G), rep("mean", d * G), rep("sigma", d * d * G),
              "prior_shrinkage", rep("prior_mean", d), "prior_dof",
              rep("prior_scale", length(pp$scale)))
    rows[[length(rows) + 1]] <- data.frame(
      dataset = name, model = model, G = G, loglik = fit$loglik, bic = fit$bic,
      what = what, value = sprintf("%.17g", vals))
  }
}
write.csv(do.call(rbind, rows), "tests/data/mclust_prior_solutions.csv", row.names = FALSE)
