"""Model-based hierarchical agglomeration: the ``init_params="hc"`` start.

R mclust's default start (Fraley 1998; Scrucca et al. 2016, Sec. 2.2): every
observation (or group of identical observations) begins as its own cluster
and the pair whose merger least decreases the classification likelihood of
the unconstrained (``VVV``) Gaussian model is merged, until ``K`` clusters
remain; their hard labels give the first M-step. For a cluster of ``l`` rows
with scatter matrix ``W`` the criterion term is mclust's regularised

    ``l * log(det(W / l) [l > D] + (tr W + alpha) / l)``

with ``alpha`` the mean per-coordinate variance of the (transformed) data,
so that small clusters, whose ``det`` is zero, are compared by their trace
(Ward's criterion) and larger ones by their volume. The agglomeration runs
on the data transformed as mclust's ``hcUse`` (default ``"SVD"``:
standardised, then rotated to principal axes and scaled by the inverse
square roots of the singular values; ``"VARS"``: the original variables;
``"STD"``: standardised), on a random subset of at most
:data:`MAX_ROWS` rows for larger data (mclust does the same, with 2000 rows);
the M-step then uses that subset only.

This module only computes labels; :mod:`bayesgmm.em._init` turns them into
sufficient statistics.
"""

from __future__ import annotations

import numpy as np

from bayesgmm import _kernels

#: Rows the agglomeration runs on at most (a random subset beyond); its cost
#: is quadratic in this number.
MAX_ROWS = 2000

#: The data transforms of the agglomeration (mclust's ``hcUse``).
TRANSFORMS = ("SVD", "VARS", "STD")


def transform(X, use="SVD"):
    """The data the agglomeration sees (mclust's ``hcUse`` transforms).

    Constant columns are dropped by ``"STD"`` and ``"SVD"`` (they carry no
    information about the clustering).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.em._hierarchical import transform
    >>> Z = transform(np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]]), "STD")
    >>> Z.ravel().round(3).tolist()
    [-1.0, 0.0, 1.0]
    """
    if use == "VARS":
        return np.array(X, dtype=np.float64)
    Z = X - X.mean(axis=0)
    sd = Z.std(axis=0, ddof=1) if Z.shape[0] > 1 else np.zeros(Z.shape[1])
    keep = sd > 0
    Z = Z[:, keep] / sd[keep]
    if use == "STD" or Z.shape[1] == 0:
        return Z
    _, s, vt = np.linalg.svd(Z, full_matrices=False)
    s = s[s > s[0] * 1e-12]
    return (Z @ vt[: s.size].T) / np.sqrt(s)


def _term(n, trace, logdet, alpha, d):
    """mclust's regularised classification-likelihood term of clusters."""
    det = np.where(n > d, np.exp(np.minimum(logdet, 700.0)), 0.0)
    return n * np.log(det + (trace + alpha) / n)


class _Clusters:
    """The active clusters of the agglomeration and their pairwise merge costs."""

    def __init__(self, Z, labels, alpha):
        m = int(labels.max()) + 1
        d = Z.shape[1]
        self.d, self.alpha = d, alpha
        self.n = np.bincount(labels, minlength=m).astype(np.float64)
        self.mean = np.zeros((m, d))
        np.add.at(self.mean, labels, Z)
        self.mean /= self.n[:, None]
        Zc = Z - self.mean[labels]
        self.W = np.zeros((m, d, d))
        np.add.at(self.W, labels, Zc[:, :, None] * Zc[:, None, :])
        self.trace = np.trace(self.W, axis1=1, axis2=2).copy()
        self.term = self._terms(self.n, self.trace, lambda big: self.W[big])
        self.active = np.ones(m, dtype=bool)
        self.cost = np.full((m, m), np.inf)
        for a in range(m - 1):
            self.cost[a, a + 1 :] = self._merge_cost(a, np.arange(a + 1, m))
        il = np.tril_indices(m, -1)
        self.cost[il] = self.cost.T[il]
        self.rowarg = np.argmin(self.cost, axis=1)
        self.rowmin = self.cost[np.arange(m), self.rowarg]

    def _terms(self, n, trace, scatter):
        """Terms of clusters of sizes ``n`` and traces ``trace``; ``scatter(mask)``
        gives the scatter matrices of those with ``n > D`` (only they need one)."""
        logdet = np.full(n.shape, -np.inf)
        big = n > self.d
        if big.any():
            sign, ld = np.linalg.slogdet(scatter(big) / n[big, None, None])
            logdet[big] = np.where(sign > 0, ld, -np.inf)
        return _term(n, trace, logdet, self.alpha, self.d)

    def _merged(self, a, others):
        """Sizes, traces and a scatter-matrix function of ``a`` merged with each of ``others``."""
        na, no = self.n[a], self.n[others]
        n = na + no
        delta = self.mean[others] - self.mean[a]
        c = na * no / n
        trace = self.trace[a] + self.trace[others] + c * np.einsum("md,md->m", delta, delta)

        def scatter(mask):
            dm = delta[mask]
            return self.W[a] + self.W[others[mask]] + (c[mask, None, None]
                                                       * dm[:, :, None] * dm[:, None, :])
        return n, trace, scatter

    def _merge_cost(self, a, others):
        return self._terms(*self._merged(a, others)) - self.term[a] - self.term[others]

    def merge_best(self):
        """Merge the cheapest pair (the smaller index keeps the cluster); returns it."""
        a = int(np.argmin(self.rowmin))
        b = int(self.rowarg[a])
        a, b = min(a, b), max(a, b)
        n, trace, scatter = self._merged(a, np.array([b]))
        W = scatter(np.array([True]))
        self.term[a] = self._terms(n, trace, lambda big: W[big])[0]
        self.mean[a] = (self.n[a] * self.mean[a] + self.n[b] * self.mean[b]) / n[0]
        self.n[a], self.W[a], self.trace[a] = n[0], W[0], trace[0]
        self.active[b] = False
        self.cost[b, :] = self.cost[:, b] = np.inf
        self.rowmin[b] = np.inf
        others = np.flatnonzero(self.active)
        others = others[others != a]
        self.cost[a, :] = np.inf
        if others.size:
            c = self._merge_cost(a, others)
            self.cost[a, others] = c
            self.cost[others, a] = c
        self.rowarg[a] = int(np.argmin(self.cost[a]))
        self.rowmin[a] = self.cost[a, self.rowarg[a]]
        if others.size:
            stale = others[(self.rowarg[others] == a) | (self.rowarg[others] == b)]
            fresh = np.setdiff1d(others, stale, assume_unique=True)
            better = fresh[self.cost[fresh, a] < self.rowmin[fresh]]
            self.rowarg[better] = a
            self.rowmin[better] = self.cost[better, a]
            if stale.size:
                self.rowarg[stale] = np.argmin(self.cost[stale], axis=1)
                self.rowmin[stale] = self.cost[stale, self.rowarg[stale]]
        return a, b


def agglomerate(Z, n_clusters):
    """Labels ``0..n_clusters-1`` of the rows of ``Z`` after the agglomeration.

    Identical rows start in one cluster (as mclust's ``dupPartition``). When
    there are fewer distinct rows than ``n_clusters``, the distinct rows are
    the clusters (fewer labels than asked).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.em._hierarchical import agglomerate
    >>> Z = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.3]])
    >>> agglomerate(Z, 2).tolist()
    [0, 0, 0, 1, 1, 1]
    """
    _, labels = np.unique(Z, axis=0, return_inverse=True)
    labels = labels.ravel()
    m = int(labels.max()) + 1
    if m > n_clusters:
        n, d = Z.shape
        alpha = max(float(np.sum((Z - Z.mean(axis=0)) ** 2)) / (n * d), np.finfo(float).eps)
        cl = _Clusters(Z, labels, alpha)
        owner = np.arange(m)
        for _ in range(m - n_clusters):
            a, b = cl.merge_best()
            owner[owner == b] = a
        labels = owner[labels]
    _, labels = np.unique(labels, return_inverse=True)
    return labels.ravel()


def hierarchical_labels(data, rng, n_clusters, use="SVD"):
    """Rows (global indices) the agglomeration ran on and their labels.

    At most :data:`MAX_ROWS` rows, drawn at random (without replacement,
    among the rows with positive ``sample_weight``) when there are more;
    otherwise every row, in order, and ``rng`` is not used.
    """
    n = data.n
    pos = np.arange(n) if data.sample_weight is None else np.flatnonzero(
        np.asarray(data.sample_weight) > 0)
    idx = pos if pos.size <= MAX_ROWS else np.sort(rng.choice(pos, size=MAX_ROWS, replace=False))
    X = data.X[idx] if not data.dask and idx.size == n else data.rows(idx)
    return idx, agglomerate(transform(X, use), n_clusters)


def hierarchical_statistics(data, shift, rng, covariance, n_clusters, use="SVD"):
    """Sufficient statistics (shifted coordinates) of the agglomeration's hard labels.

    On a subset (more than :data:`MAX_ROWS` rows) the statistics are scaled
    to the whole data's weight, so that the M-step gives the subset's means,
    covariances and proportions.
    """
    idx, labels = hierarchical_labels(data, rng, n_clusters, use)
    x = (data.X[idx] if not data.dask and idx.size == data.n else data.rows(idx)) - shift
    w = None if data.sample_weight is None else np.asarray(data.sample_weight)[idx]
    resp = np.zeros((idx.size, n_clusters))
    resp[np.arange(idx.size), labels] = 1.0
    st = _kernels.accumulate_statistics(x, covariance, resp=resp, sample_weight=w)
    total = float(data.n if data.sample_weight is None else np.sum(data.sample_weight))
    factor = total / st.weight
    st.nk, st.sx, st.sxx = st.nk * factor, st.sx * factor, st.sxx * factor
    st.weight, st.n = total, data.n
    return st
