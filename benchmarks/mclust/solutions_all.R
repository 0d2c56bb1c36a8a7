# mclust's own EM solutions for EVERY cell: four data sets (Old Faithful,
# iris[, 1:4], mclust::banknote[, -1], mclust::diabetes[, -1], read from
# benchmarks/mclust/data/*.csv, the data exactly as R has them), all fourteen
# models (mclust.options("emModelNames")), G = 1..9: 504 cells.
# EM by `me` from mclust's default hierarchical start (hc VVV on the SVD
# transform, as Mclust() does), tight tolerance, as solutions.R does for the
# small test fixture.  benchmarks/mclust/from_solution.py starts our EM there.
#
# Usage (repository root):  Rscript benchmarks/mclust/solutions_all.R
# Writes
#   benchmarks/mclust/solutions_all_cells.csv  one row per cell: loglik (NA when
#       me fails), nMclustParams, me's iterations, returnCode, warning, seconds
#   benchmarks/mclust/solutions_all.csv.gz     long format, one row per parameter
#       value (pro[k], mean[d, k], sigma[i, j, k], R's column-major order) of
#       every cell with a finite log-likelihood
suppressPackageStartupMessages(library(mclust))
out <- "benchmarks/mclust"
names_ <- c("faithful", "iris", "banknote", "diabetes")
ctrl <- emControl(tol = c(1e-12, 1e-12), itmax = c(100000L, 100000L))
rows <- list(); cells <- list()
for (name in names_) {
  X <- as.matrix(read.csv(file.path(out, "data", paste0(name, ".csv"))))
  d <- ncol(X)
  tree <- hc(X, modelName = "VVV", use = "SVD")
  for (model in mclust.options("emModelNames")) for (G in 1:9) {
    z <- unmap(hclass(tree, G))
    t0 <- proc.time()[["elapsed"]]
    msg <- ""
    fit <- tryCatch(me(X, modelName = model, z = z, control = ctrl, warn = FALSE),
                    error = function(e) { msg <<- conditionMessage(e); NULL })
    secs <- proc.time()[["elapsed"]] - t0
    ll <- NA_real_; iters <- NA_integer_; rc <- NA_integer_
    if (!is.null(fit)) {
      ll <- fit$loglik
      iters <- if (is.null(attr(fit, "info"))) NA_integer_ else as.integer(attr(fit, "info")[1])
      rc <- if (is.null(attr(fit, "returnCode"))) NA_integer_ else attr(fit, "returnCode")
      w <- attr(fit, "WARNING")
      if (!is.null(w)) msg <- paste(w, collapse = "; ")
    }
    cells[[length(cells) + 1]] <- data.frame(
      dataset = name, model = model, G = G, n = nrow(X), d = d,
      loglik = sprintf("%.17g", ll), n_parameters = nMclustParams(model, d, G),
      iterations = iters, returnCode = rc, warning = msg, seconds = round(secs, 3))
    if (is.null(fit) || is.na(ll)) next
    par <- fit$parameters
    vals <- c(par$pro, as.vector(par$mean), as.vector(par$variance$sigma))
    what <- c(rep("pro", G), rep("mean", d * G), rep("sigma", d * d * G))
    rows[[length(rows) + 1]] <- data.frame(
      dataset = name, model = model, G = G, loglik = sprintf("%.17g", ll),
      what = what, value = sprintf("%.17g", vals))
  }
  cat(name, "done\n")
}
write.csv(do.call(rbind, cells), file.path(out, "solutions_all_cells.csv"), row.names = FALSE)
con <- gzfile(file.path(out, "solutions_all.csv.gz"), "w")
write.csv(do.call(rbind, rows), con, row.names = FALSE)
close(con)
