# mclust's own EM solutions for a few cells of every model, for
# tests/test_mclust_models.py (our EM started there must stay at mclust's
# log-likelihood; our log density at mclust's parameters must equal mclust's).
#
# Cells: Old Faithful G = 2, 3 and iris[, 1:4] G = 2, 3, mclust's banknote[, -1]
# and diabetes[, -1] G = 1, 4, all fourteen models (the full table of
# G = 1..9: solutions_all.R);
# EM by `me` from mclust's default hierarchical start, tight tolerance.
# Long format: one row per parameter value (pro[k], mean[d, k], sigma[i, j, k]).
#
# Usage (repository root):  Rscript benchmarks/mclust/solutions.R
# Writes tests/data/mclust_solutions.csv and tests/data/mclust_nparams.csv.
suppressPackageStartupMessages(library(mclust))
data(faithful); data(iris)
data(banknote, package = "mclust"); data(diabetes, package = "mclust")
sets <- list(faithful = as.matrix(faithful), iris = as.matrix(iris[, 1:4]),
             banknote = as.matrix(banknote[, -1]), diabetes = as.matrix(diabetes[, -1]))
Gs <- list(faithful = 2:3, iris = 2:3, banknote = c(1, 4), diabetes = c(1, 4))
ctrl <- emControl(tol = c(1e-12, 1e-12), itmax = c(100000L, 100000L))
rows <- list()
for (name in names(sets)) {
  X <- sets[[name]]
  for (model in mclust.options("emModelNames")) for (G in Gs[[name]]) {
    fit <- me(X, modelName = model, z = unmap(hclass(hc(X, modelName = "VVV", use = "SVD"), G)),
              control = ctrl, warn = FALSE)
    if (is.na(fit$loglik)) next
    par <- fit$parameters
    d <- ncol(X)
    sig <- par$variance$sigma
    vals <- c(par$pro, as.vector(par$mean), as.vector(sig))
    what <- c(rep("pro", G), rep("mean", d * G), rep("sigma", d * d * G))
    rows[[length(rows) + 1]] <- data.frame(
      dataset = name, model = model, G = G, loglik = fit$loglik,
      what = what, value = sprintf("%.17g", vals))
  }
}
write.csv(do.call(rbind, rows), "tests/data/mclust_solutions.csv", row.names = FALSE)
np <- list()
for (model in mclust.options("emModelNames")) for (d in c(1, 2, 3, 5)) for (G in c(1, 2, 4, 7))
  np[[length(np) + 1]] <- data.frame(model = model, d = d, G = G, n_parameters = nMclustParams(model, d, G))
write.csv(do.call(rbind, np), "tests/data/mclust_nparams.csv", row.names = FALSE)
