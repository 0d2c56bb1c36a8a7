"""EM with missing values (NaN) under missing at random.

The rows of the data are grouped by their pattern of missing coordinates
(:class:`MissingPatterns`). For a row with observed coordinates ``o`` and
missing ``m``, and a component with mean ``mu`` and precision ``Lambda``
(``= P P^T``, the fitted precision factor ``P`` as a full matrix):

* the E-step uses the marginal density of the observed coordinates,
  ``N(x_o | mu_o, Sigma_oo)``. It is computed without forming ``Sigma``: the
  conditional mean of the missing coordinates is
  ``x_hat_m = mu_m - Lambda_mm^{-1} Lambda_mo (x_o - mu_o)``, and then
  ``(x_o - mu_o)' Sigma_oo^{-1} (x_o - mu_o) = ||(x_hat - mu)' P||^2`` for the
  completed row ``x_hat = (x_o, x_hat_m)``, and
  ``log det Sigma_oo = -log det Lambda + log det Lambda_mm``;
* the M-step takes the expected sufficient statistics (Ghahramani & Jordan
  1994): ``sum r x_hat`` and ``sum r (x_hat x_hat' + C)`` with the conditional
  covariance ``C_mm = Lambda_mm^{-1}`` of the missing block. Every covariance
  type's M-step is a function of its scatter matrices, so every type's M-step
  is used unchanged (:meth:`~bayesgmm.covariance.CovarianceModel.second_moments_from_matrices`).

Each iteration then increases the observed-data log-likelihood, which is
also what the lower bound, ``score_samples``, BIC and ICL report.
"""

from __future__ import annotations

import numpy as np

from bayesgmm import _kernels
from bayesgmm.em._engine import _Data, _block_stats_em

__all__ = [
    "MISSING_OPTIONS",
    "MissingData",
    "MissingPatterns",
    "expected_statistics",
    "weighted_log_prob",
]

#: Values of ``GaussianMixture(missing=...)``.
MISSING_OPTIONS = ("error", "marginalize")

_LOG_2PI = float(np.log(2.0 * np.pi))

#: Bound on the entries of the per-chunk (K, rows, D) temporaries.
_CHUNK_ENTRIES = 1 << 21


class MissingPatterns:
    """The rows of a data set grouped by which coordinates are missing (NaN).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)

    Attributes
    ----------
    groups : list of (rows, observed, missing)
        For each distinct pattern (sorted: the complete rows first), its row
        indices (increasing), observed and missing feature indices.
    n_incomplete : int
        Rows with at least one NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.em._missing import MissingPatterns
    >>> p = MissingPatterns(np.array([[1.0, np.nan], [2.0, 3.0], [4.0, np.nan]]))
    >>> [(r.tolist(), o.tolist(), m.tolist()) for r, o, m in p.groups]
    [([1], [0, 1], []), ([0, 2], [0], [1])]
    """

    def __init__(self, X):
        mask = np.isnan(np.asarray(X, dtype=np.float64))
        self.n, self.d = mask.shape
        self.n_incomplete = int(mask.any(axis=1).sum())
        self.groups = []
        if self.n == 0:
            return
        uniq, inverse = np.unique(mask, axis=0, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
        for i, pat in enumerate(uniq):
            rows = order[bounds[i] : bounds[i + 1]]
            self.groups.append((rows, np.flatnonzero(~pat), np.flatnonzero(pat)))


def _full_factors(covariance, precisions_chol, k, d):
    """The precision factors as full ``(K, D, D)`` matrices and their log-determinants."""
    pf = covariance.to_full(np.asarray(precisions_chol, dtype=np.float64), k, d)
    with np.errstate(divide="ignore"):
        logdet = np.sum(np.log(np.abs(np.diagonal(pf, axis1=1, axis2=2))), axis=1)
    return pf, logdet


def _pattern_terms(xo, o, m, means, pf, lam, logdet):
    """For the rows ``xo`` (n, |o|) of one pattern: ``(log N(x_o | k) (n, K), x_hat (K, n, D),
    C (K, |m|, |m|))``."""
    k, d = means.shape
    n = xo.shape[0]
    delta_o = xo[None, :, :] - means[:, None, o]  # (K, n, |o|)
    xhat = np.empty((k, n, d))
    xhat[:, :, o] = xo[None]
    if m.size:
        lam_mm = lam[:, m][:, :, m]
        lam_mo = lam[:, m][:, :, o]
        chol_mm = np.linalg.cholesky(lam_mm)  # (K, |m|, |m|)
        b = np.einsum("kmo,kno->kmn", lam_mo, delta_o)
        shift = np.linalg.solve(lam_mm, b)  # Lambda_mm^{-1} Lambda_mo delta_o, (K, |m|, n)
        xhat[:, :, m] = means[:, None, m] - np.swapaxes(shift, 1, 2)
        cond = np.linalg.inv(lam_mm)
        cond = 0.5 * (cond + np.swapaxes(cond, 1, 2))
        half_logdet_mm = np.sum(np.log(np.diagonal(chol_mm, axis1=1, axis2=2)), axis=1)
    else:
        cond = np.zeros((k, 0, 0))
        half_logdet_mm = np.zeros(k)
    y = np.einsum("knd,kde->kne", xhat - means[:, None, :], pf)
    maha = np.einsum("kne,kne->kn", y, y)
    log_prob = (-0.5 * o.size * _LOG_2PI + logdet - half_logdet_mm)[:, None] - 0.5 * maha
    return log_prob.T, xhat, cond


def _chunks(n, k, d):
    step = max(1, _CHUNK_ENTRIES // max(1, k * d))
    return range(0, n, step), step


def weighted_log_prob(X, means, precisions_chol, covariance, log_weights, patterns=None):
    """``log pi_k + log p(x_n,o | k)`` of every row (n, K), NaN coordinates integrated out.

    Complete rows go through :func:`bayesgmm._kernels.estimate_log_gaussian_prob`
    (the same numbers as without missing values); rows with NaN through
    their pattern's marginal. A row with no observed coordinate gets
    ``log pi_k``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.covariance import get_covariance_type
    >>> from bayesgmm.em._missing import weighted_log_prob
    >>> full = get_covariance_type("full")
    >>> cov = np.array([[[1.0, 0.5], [0.5, 2.0]]])
    >>> wlp = weighted_log_prob(np.array([[0.0, np.nan]]), np.zeros((1, 2)),
    ...                         full.precision_cholesky(cov), full, np.zeros(1))
    >>> round(float(wlp[0, 0]), 6)  # log N(0 | 0, 1)
    -0.918939
    """
    X = np.asarray(X, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    k, d = means.shape
    patterns = MissingPatterns(X) if patterns is None else patterns
    out = np.empty((X.shape[0], k))
    pf = lam = logdet = None
    for rows, o, m in patterns.groups:
        if not m.size:
            out[rows] = _kernels.estimate_log_gaussian_prob(X[rows], means, precisions_chol, covariance)
            continue
        if pf is None:
            pf, logdet = _full_factors(covariance, precisions_chol, k, d)
            lam = pf @ np.swapaxes(pf, 1, 2)
        steps, step = _chunks(rows.size, k, d)
        for s in steps:
            r = rows[s : s + step]
            out[r] = _pattern_terms(X[np.ix_(r, o)], o, m, means, pf, lam, logdet)[0]
    out += log_weights
    return out


def expected_statistics(X, patterns, sample_weight, means_c, precisions_chol, log_weights,
                        shift, covariance, n_worst=0):
    """One E-step on data with NaN: the expected sufficient statistics.

    Parameters are those of one EM iteration: the data ``X`` (with NaN), its
    :class:`MissingPatterns`, the weights (or None), the means relative to
    ``shift`` (the fit's centring), the precision factors and log-weights,
    the covariance type; ``n_worst`` rows with the lowest observed-data
    log-likelihood are reported for re-seeding.

    Returns
    -------
    bayesgmm._kernels.SufficientStatistics
        About the shifted origin (``centre`` None); ``loglik`` is the
        observed-data log-likelihood ``sum_n w_n log p(x_n,o)``.
    """
    k, d = means_c.shape
    pf, logdet = _full_factors(covariance, precisions_chol, k, d)
    lam = pf @ np.swapaxes(pf, 1, 2)
    nk = np.zeros(k)
    sx = np.zeros((k, d))
    sxx = np.zeros((k, d, d))
    loglik = 0.0
    row_ll = np.empty(patterns.n) if n_worst else None
    for rows, o, m in patterns.groups:
        steps, step = _chunks(rows.size, k, d)
        for s in steps:
            r = rows[s : s + step]
            xo = X[np.ix_(r, o)] - shift[o]
            lp, xhat, cond = _pattern_terms(xo, o, m, means_c, pf, lam, logdet)
            log_norm, log_resp = _kernels.log_responsibilities(lp + log_weights)
            resp = np.exp(log_resp)  # (n, K)
            w = None if sample_weight is None else sample_weight[r]
            if w is not None:
                resp *= w[:, None]
                loglik += float(w @ log_norm)
            else:
                loglik += float(log_norm.sum())
            if row_ll is not None:
                row_ll[r] = log_norm
            nr = resp.sum(axis=0)
            nk += nr
            sx += np.einsum("nk,knd->kd", resp, xhat)
            sxx += np.matmul(np.swapaxes(xhat * resp.T[:, :, None], 1, 2), xhat)
            if m.size:
                sxx[:, m[:, None], m[None, :]] += nr[:, None, None] * cond
    sxx = 0.5 * (sxx + np.swapaxes(sxx, 1, 2))
    weight = float(patterns.n if sample_weight is None else np.sum(sample_weight))
    worst = worst_index = None
    if n_worst:
        idx = np.argsort(row_ll, kind="stable")[:n_worst]
        worst, worst_index = row_ll[idx], idx
    return _kernels.SufficientStatistics(
        nk, sx, covariance.second_moments_from_matrices(sxx), loglik, weight,
        patterns.n, worst, worst_index, None,
    )


class MissingData(_Data):
    """A fit's data with missing values: the EM engine's view of them.

    Everything that only needs a rough picture of the data -- the centring
    shift, the data spread, the initialisation, the re-seeding points --
    sees the mean-imputed data (each NaN replaced by its column's mean over
    the observed values); the E-step (:func:`_block_stats_em` through
    :meth:`map_reduce`) is replaced by :func:`expected_statistics` on the
    data with their NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.em._missing import MissingData
    >>> data = MissingData(np.array([[1.0, np.nan], [3.0, 4.0]]), None, 1)
    >>> data.X
    array([[1., 4.],
           [3., 4.]])
    """

    def __init__(self, X, sample_weight=None, n_components=1):
        self.X_missing = np.asarray(X, dtype=np.float64)
        self.patterns = MissingPatterns(self.X_missing)
        super().__init__(mean_impute(self.X_missing, sample_weight), sample_weight,
                         n_components=n_components, n_threads=1)

    def moment_features(self, shift, covariance, n_components):
        return None

    def prepare_workspace(self, covariance, n_components, features):
        self._work = None

    def map_reduce(self, func, *args, workspace=False):
        if func is not _block_stats_em:
            return super().map_reduce(func, *args, workspace=workspace)
        means_c, prec_chol, log_weights, shift, covariance, n_worst = args[:6]
        return expected_statistics(
            self.X_missing, self.patterns, self.sample_weight, means_c, prec_chol,
            log_weights, shift, covariance, n_worst,
        )


def mean_impute(X, sample_weight=None):
    """``X`` with each NaN replaced by its column's (weighted) mean over the observed rows
    (0 for a column with no observed value).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.em._missing import mean_impute
    >>> mean_impute(np.array([[1.0, np.nan], [3.0, 2.0], [np.nan, 4.0]]))
    array([[1., 3.],
           [3., 2.],
           [2., 4.]])
    """
    X = np.array(X, dtype=np.float64, copy=True)
    miss = np.isnan(X)
    w = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    obs = (~miss) * w[:, None]
    tot = obs.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        col_mean = np.where(tot > 0, np.where(miss, 0.0, X).T @ w / np.where(tot > 0, tot, 1.0), 0.0)
    X[miss] = np.broadcast_to(col_mean, X.shape)[miss]
    return X
