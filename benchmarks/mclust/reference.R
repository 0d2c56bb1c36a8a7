# R mclust's best-of-many-starts reference for benchmarks/mclust/compare.py.
#
# For each data set, model (VVV/EEE/VVI/VII = full/tied/diag/spherical) and
# G = 1..9: EM (mclust's `me`, tight tolerance) from
#   * "hc-SVD"  mclust's default start: model-based hierarchical VVV agglomeration
#               on the SVD-transformed data (mclust.options("hcUse") = "SVD");
#   * "hc-VARS", "hc-STD": the same on the original / standardised variables;
#   * "rnd-<s>" hcRandomPairs(X, seed = s), s = 1..20 (random hierarchical pairs);
#   * "km-<s>"  k-means (Hartigan-Wong, one random start, set.seed(s)), s = 1..20;
# keeps the largest log-likelihood per cell (failed / singular fits are NA in
# mclust and skipped) and the start that won, both over all fits ("best") and
# over the fits without a near-singular component ("regular": every
# component's variance in every direction at least 1e-4 times the data's,
# i.e. the smallest generalised eigenvalue of each component covariance
# against the data covariance >= 1e-4; "releig" is that smallest value).
# mclust itself only rejects numerically singular fits, so its best over many
# random starts can be a spurious maximum on tied values or a few points.
# BIC in mclust's sign convention,
# 2 log L - p log n (larger is better), p = nMclustParams(model, d, G).
# Also runs Mclust() with its defaults (its own tolerances and start) for the
# BIC choice a user gets.
#
# Usage (from the repository root):  Rscript benchmarks/mclust/reference.R
# Writes benchmarks/mclust/data/<name>.csv, benchmarks/mclust/reference.csv,
# benchmarks/mclust/mclust_default_choice.csv, benchmarks/mclust/sessionInfo.txt.
#
#        Rscript benchmarks/mclust/reference.R ten
# does the same for mclust's other ten models (EII, EEI, VEI, EVI, VEE, EVE,
# VVE, EEV, VEV, EVV) with 5 instead of 20 random-pair and k-means starts
# (13 starts per cell: their EM is slower and the machine was shared), into
# reference_ten.csv, and runs Mclust() over all fourteen models:
# mclust_default_choice_all.csv and mclust_bic_table.csv (mclustBIC's table,
# mclust's sign, G = 1..9).
suppressPackageStartupMessages(library(mclust))
out <- "benchmarks/mclust"
data(faithful); data(iris)
data(banknote, package = "mclust"); data(diabetes, package = "mclust")
sets <- list(
  faithful = faithful,
  iris = iris[, 1:4],
  banknote = banknote[, -1],
  diabetes = diabetes[, -1]
)
models <- c(VVV = "full", EEE = "tied", VVI = "diag", VII = "spherical")
ten <- identical(commandArgs(trailingOnly = TRUE), "ten")
n_random <- 20
if (ten) {
  all_models <- mclust.options("emModelNames")
  others <- setdiff(all_models, names(models))
  models <- setNames(others, others)
  n_random <- 5
}
ctrl <- emControl(tol = c(1e-10, sqrt(.Machine$double.eps)), itmax = c(100000L, 100000L))
rows <- list(); choice <- list(); bics <- list()
for (name in names(sets)) {
  X <- as.matrix(sets[[name]])
  write.csv(sets[[name]], file.path(out, "data", paste0(name, ".csv")), row.names = FALSE)
  n <- nrow(X); d <- ncol(X)
  Rinv <- solve(chol(cov(X) * (n - 1) / n))
  releig <- function(fit) {
    sig <- fit$parameters$variance$sigma
    min(sapply(seq_len(dim(sig)[3]), function(k)
      min(eigen(t(Rinv) %*% sig[, , k] %*% Rinv, symmetric = TRUE, only.values = TRUE)$values)))
  }
  starts <- list(
    "hc-SVD" = hc(X, modelName = "VVV", use = "SVD"),
    "hc-VARS" = hc(X, modelName = "VVV", use = "VARS"),
    "hc-STD" = hc(X, modelName = "VVV", use = "STD")
  )
  for (s in seq_len(n_random)) starts[[paste0("rnd-", s)]] <- hcRandomPairs(X, seed = s)
  for (model in names(models)) {
    cat(name, model, format(Sys.time()), "\n")
    for (G in 1:9) {
      parts <- list()
      for (st in names(starts)) parts[[st]] <- if (G == 1) rep(1L, n) else
        tryCatch(as.vector(hclass(starts[[st]], G)), error = function(e) NULL)
      for (s in seq_len(n_random)) {
        set.seed(s)
        parts[[paste0("km-", s)]] <- if (G == 1) rep(1L, n) else
          tryCatch(kmeans(X, G, nstart = 1, iter.max = 100)$cluster, error = function(e) NULL)
      }
      best <- -Inf; won <- NA; ll_default <- NA; n_ok <- 0; eig_best <- NA
      reg <- -Inf; won_reg <- NA
      for (st in names(parts)) {
        cl <- parts[[st]]
        if (is.null(cl) || length(unique(cl)) < G) next
        fit <- tryCatch(me(X, modelName = model, z = unmap(cl), control = ctrl,
                           warn = FALSE), error = function(e) NULL)
        ll <- if (is.null(fit)) NA else fit$loglik
        if (st == "hc-SVD") ll_default <- ll
        if (is.null(ll) || is.na(ll) || !is.finite(ll)) next
        n_ok <- n_ok + 1
        e <- releig(fit)
        if (ll > best + 1e-9) { best <- ll; won <- st; eig_best <- e }
        if (e >= 1e-4 && ll > reg + 1e-9) { reg <- ll; won_reg <- st }
      }
      p <- nMclustParams(model, d, G)
      rows[[length(rows) + 1]] <- data.frame(
        dataset = name, model = model, covariance_type = models[[model]], G = G,
        n = n, d = d, n_parameters = p,
        loglik_best = if (is.finite(best)) best else NA, start_best = won,
        releig_best = eig_best,
        loglik_regular = if (is.finite(reg)) reg else NA, start_regular = won_reg,
        loglik_hc_svd = ll_default, n_starts_ok = n_ok,
        bic_regular = if (is.finite(reg)) 2 * reg - p * log(n) else NA)
    }
  }
  if (ten) {
    m <- Mclust(X, G = 1:9, verbose = FALSE)  # all fourteen models, mclust's defaults
    b <- m$BIC
    for (mn in colnames(b)) bics[[length(bics) + 1]] <- data.frame(
      dataset = name, model = mn, G = as.integer(rownames(b)), bic = as.numeric(b[, mn]))
  } else m <- Mclust(X, G = 1:9, modelNames = names(models), verbose = FALSE)
  choice[[name]] <- data.frame(dataset = name, model = m$modelName,
                               covariance_type = if (m$modelName %in% names(models))
                                 models[[m$modelName]] else m$modelName, G = m$G,
                               bic = m$bic, loglik = m$loglik)
}
tab <- do.call(rbind, rows)
if (ten) {
  write.csv(tab, file.path(out, "reference_ten.csv"), row.names = FALSE)
  write.csv(do.call(rbind, choice), file.path(out, "mclust_default_choice_all.csv"), row.names = FALSE)
  write.csv(do.call(rbind, bics), file.path(out, "mclust_bic_table.csv"), row.names = FALSE)
} else {
  write.csv(tab, file.path(out, "reference.csv"), row.names = FALSE)
  write.csv(do.call(rbind, choice), file.path(out, "mclust_default_choice.csv"), row.names = FALSE)
}
if (!ten) writeLines(capture.output(sessionInfo()), file.path(out, "sessionInfo.txt"))
