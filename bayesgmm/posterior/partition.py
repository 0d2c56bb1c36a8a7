"""Point-estimate partitions from the posterior, partition agreement, ambiguous points.

* :func:`point_partition` -- the partition minimising the posterior expected Binder loss
  or the Wade & Ghahramani (2018) lower bound on the posterior expected Variation of
  Information, both functions of the similarity matrix only, found by a SALSO-style
  greedy search (Dahl, Johnson & Mueller 2022): several sequential-allocation
  initialisations in random order, each followed by sweetening sweeps that move single
  observations to the cluster (or a new one) that lowers the loss most, until no move
  helps; the best result over the runs is kept.
* :func:`map_partition` -- the MAP assignment, argmax of the mean membership.
* :func:`adjusted_rand_index` -- Hubert & Arabie's ARI.
* :func:`ambiguous_observations` -- the observations whose assignment is most uncertain.

References
----------
Binder, D. A. (1978). Bayesian cluster analysis. Biometrika 65(1).
Wade, S. and Ghahramani, Z. (2018). Bayesian cluster analysis: point estimation and
credible balls. Bayesian Analysis 13(2).
Dahl, D. B., Johnson, D. J. and Mueller, P. (2022). Search algorithms and loss functions
for Bayesian clustering. JCGS 31(4).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = [
    "expected_binder_loss",
    "expected_vi_lower_bound",
    "salso",
    "point_partition",
    "map_partition",
    "adjusted_rand_index",
    "ambiguous_observations",
]

_LOSSES = ("vi", "binder")


# --------------------------------------------------------------------------- validation
def _check_psm(psm, name="similarity"):
    if isinstance(psm, xr.DataArray):
        arr = psm.to_numpy()
    else:
        arr = np.asarray(psm)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(
            f"{name} must be a square (n_obs, n_obs) matrix of co-clustering probabilities; "
            f"got shape {arr.shape}. Compute it with posterior_similarity()."
        )
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric; got dtype {arr.dtype}.")
    arr = np.array(arr, dtype=np.float64)  # a copy: the caller's matrix is never modified
    lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1e-9 or hi > 1 + 1e-9:
        raise ValueError(
            f"{name} must hold probabilities in [0, 1] without NaN; got values in "
            f"[{np.nanmin(arr):.3g}, {np.nanmax(arr):.3g}]."
        )
    asym = float(np.abs(arr - arr.T).max(initial=0.0))
    if asym > 1e-8:
        raise ValueError(f"{name} must be symmetric; it is not (max |S - S^T| = {asym:.3g}).")
    arr = np.clip(arr, 0.0, 1.0)
    np.fill_diagonal(arr, 1.0)
    return arr


def _check_labels(labels, name="labels", n=None):
    if isinstance(labels, (xr.DataArray, xr.Dataset)):
        if isinstance(labels, xr.Dataset):
            raise TypeError(f"{name} must be a 1-D array of labels, not a Dataset.")
        labels = labels.to_numpy()
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per observation); got shape {arr.shape}.")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} labels but there are {n} observations.")
    _, inv = np.unique(arr, return_inverse=True)
    return inv.astype(np.int64)


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Relabel to 0, 1, 2, ... in order of first appearance."""
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inv].astype(np.int64)


# --------------------------------------------------------------------------- losses
def expected_binder_loss(labels, similarity, *, a: float = 1.0) -> float:
    """Posterior expected Binder loss of a partition.

    ``E[L] = sum_{i<j} [ a * p_ij * 1(c_i != c_j) + (2 - a) * (1 - p_ij) * 1(c_i = c_j) ]``
    with ``p_ij`` the co-clustering probability: ``a`` is the cost of separating a pair
    that belongs together, ``2 - a`` the cost of joining a pair that does not (``a = 1``:
    Binder's symmetric loss, the number of misclassified pairs).

    Parameters
    ----------
    labels : array-like of shape (n_obs,)
        The partition (any hashable labels).
    similarity : array-like of shape (n_obs, n_obs)
        Posterior similarity matrix.
    a : float in (0, 2), default 1.0

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[1, .9, .2], [.9, 1, .1], [.2, .1, 1]])
    >>> round(expected_binder_loss([0, 0, 1], p), 3)  # 0.1 + 0.2 + 0.1
    0.4
    """
    p = _check_psm(similarity)
    c = _check_labels(labels, n=p.shape[0])
    return _binder(c, p, _check_a(a))


def _binder(c, p, a):
    same = c[:, None] == c[None, :]
    terms = np.where(same, (2 - a) * (1 - p), a * p)
    return float((terms.sum() - np.trace(terms)) / 2)


def expected_vi_lower_bound(labels, similarity) -> float:
    """Wade & Ghahramani's (2018) lower bound on the posterior expected Variation of Information.

    ``VI_lb(c) = 1/N sum_n [ log2 |C(n)| + log2 sum_m p_nm - 2 log2 sum_{m in C(n)} p_nm ]``,
    where ``C(n)`` is the cluster of observation n; the same quantity as R's
    ``mcclust.ext::VI.lb``.  It swaps expectations and logarithms in ``E[VI]``
    (Jensen's inequality); Wade & Ghahramani call it a lower bound, but its terms
    move in opposite directions, so it is an approximation rather than a strict bound.
    It equals the expected VI exactly when the posterior is certain of one partition.

    Parameters
    ----------
    labels : array-like of shape (n_obs,)
    similarity : array-like of shape (n_obs, n_obs)

    Returns
    -------
    float
        In bits.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.eye(3)
    >>> expected_vi_lower_bound([0, 1, 2], p)  # certain singletons: zero loss
    0.0
    """
    p = _check_psm(similarity)
    c = _check_labels(labels, n=p.shape[0])
    return _vi_lb(c, p)


def _vi_lb(c, p):
    n = p.shape[0]
    size = np.bincount(c)[c]
    within = np.einsum("nm,nm->n", p, c[:, None] == c[None, :])
    return float(np.sum(np.log2(size) + np.log2(p.sum(1)) - 2 * np.log2(within)) / n)


def _check_a(a):
    if isinstance(a, bool) or not isinstance(a, (int, float, np.floating)) or not 0 < a < 2:
        raise ValueError(f"a must be a number in (0, 2) (1 = symmetric Binder loss); got {a!r}.")
    return float(a)


# --------------------------------------------------------------------------- search
class _State:
    """Incremental loss bookkeeping for one partition.

    Cluster "slots" 0..n; ``lab1[i] = slot + 1`` (0: not allocated).  Insertion costs of
    an observation into every slot come from one ``bincount`` over its row of ``p``.
    """

    _INV_LN2 = 1.0 / np.log(2.0)

    def __init__(self, p, loss, a, max_clusters):
        self.p = p
        self.n = p.shape[0]
        self.loss = loss
        self.lab1 = np.zeros(self.n, dtype=np.int64)
        self.sizes = np.zeros(self.n + 2, dtype=np.int64)
        self.top = -1  # highest slot ever used
        self.n_clusters = 0
        self.max_clusters = max_clusters
        if loss == "binder":
            self.w_const = 2 - a
            self.w = (2 - a) - 2 * p  # cost of joining i and j, minus a constant
        else:
            self.s = np.ones(self.n)  # sum of p over own cluster (1 when unallocated)
            k = np.arange(self.n + 3, dtype=np.float64)
            self.G = np.zeros_like(k)
            self.G[1:] = k[1:] * np.log2(k[1:])

    @property
    def labels(self):
        return self.lab1 - 1

    @staticmethod
    def _g(n):
        n = np.asarray(n, dtype=np.float64)
        return np.where(n > 0, n * np.log2(np.where(n > 0, n, 1.0)), 0.0)

    def snapshot(self):
        return (self.lab1.copy(), self.sizes.copy(), self.top, self.n_clusters,
                self.s.copy() if self.loss == "vi" else None)

    def restore(self, snap):
        self.lab1, self.sizes, self.top, self.n_clusters = snap[0], snap[1], snap[2], snap[3]
        if self.loss == "vi":
            self.s = snap[4]

    def remove(self, i):
        k = int(self.lab1[i]) - 1
        self.lab1[i] = 0
        self.sizes[k] -= 1
        if self.sizes[k] == 0:
            self.n_clusters -= 1
        if self.loss == "vi":
            members = self.lab1 == k + 1
            self.s[members] -= self.p[i, members]  # p is symmetric: rows are contiguous
            self.s[i] = 1.0
        return k

    def insert(self, i, k):
        k = int(k)
        if self.loss == "vi":
            members = self.lab1 == k + 1
            self.s[members] += self.p[i, members]
            self.s[i] = 1.0 + self.p[i, members].sum()
        self.lab1[i] = k + 1
        if self.sizes[k] == 0:
            self.n_clusters += 1
        self.sizes[k] += 1
        self.top = max(self.top, k)

    def insertion_costs(self, i):
        """Cost of adding i to slots 0..top+1 (empty slots: a new cluster, cost 0)."""
        m = self.top + 2
        if self.loss == "binder":
            return np.bincount(self.lab1, weights=self.w[i], minlength=m + 1)[1 : m + 1]
        pi = self.p[i]
        v = np.log1p(pi / self.s)
        A = np.bincount(self.lab1, weights=v, minlength=m + 1)[1 : m + 1] * self._INV_LN2
        B = np.bincount(self.lab1, weights=pi, minlength=m + 1)[1 : m + 1]
        sz = self.sizes[:m]
        return self.G[sz + 1] - self.G[sz] - 2 * (A + np.log2(1 + B))

    def best_slot(self, i, current=None):
        """Slot minimising the insertion cost; ``current`` is kept unless strictly worse."""
        cost = self.insertion_costs(i)  # empty slots cost 0 (a new singleton cluster)
        occupied = self.sizes[: cost.shape[0]] > 0
        masked = np.where(occupied, cost, np.inf)
        if self.max_clusters is None or self.n_clusters < self.max_clusters:
            empty = int(np.argmin(occupied))  # first empty slot (slot top+1 is empty)
            masked[empty] = cost[empty]
        best = int(np.argmin(masked))
        if current is not None:
            stay = cost[current]  # 0 when i was a singleton: staying = its own cluster
            if not cost[best] < stay - 1e-12 * max(1.0, stay if stay > 0 else -stay):
                return current
        return best

    def onehot(self):
        occ = np.flatnonzero(self.sizes > 0)
        H = np.zeros((self.n, occ.size))
        pos = np.full(self.sizes.shape[0], -1)
        pos[occ] = np.arange(occ.size)
        H[np.arange(self.n), pos[self.labels]] = 1.0
        return occ, H

    def best_merge(self):
        """The merge of two clusters that lowers the loss most: (delta, a, b) or None."""
        occ, H = self.onehot()
        if occ.size < 2:
            return None
        T = self.p @ H  # (N, k): sum of p_nm over each cluster's members m
        n = self.sizes[occ].astype(np.float64)
        if self.loss == "binder":
            cross = H.T @ T  # sum_{i in A, j in B} p_ij
            delta = self.w_const * np.outer(n, n) - 2 * cross
        else:
            s = self.s[:, None]
            U = H.T @ (np.log2(s + T) - np.log2(s))
            g = self._g
            delta = g(n[:, None] + n[None, :]) - g(n)[:, None] - g(n)[None, :] - 2 * (U + U.T)
        np.fill_diagonal(delta, np.inf)
        i, j = np.unravel_index(np.argmin(delta), delta.shape)
        if not delta[i, j] < -1e-9 * (1.0 + np.abs(delta[np.isfinite(delta)]).max()):
            return None
        return float(delta[i, j]), int(occ[i]), int(occ[j])

    def merge(self, a, b):
        for i in np.flatnonzero(self.lab1 == b + 1):
            self.remove(i)
            self.insert(i, a)

    def zealous(self, k, rng):
        """Remove cluster k and re-allocate its members greedily; revert unless better."""
        members = np.flatnonzero(self.lab1 == k + 1)
        saved = self.snapshot()
        change, scale = 0.0, 1.0
        for i in members:
            self.remove(i)
            c = self.insertion_costs(i)[k] if self.sizes[k] > 0 else 0.0
            change -= c
            scale += c if c > 0 else -c
        for i in rng.permutation(members):
            slot = self.best_slot(i)
            c = self.insertion_costs(i)[slot]
            change += c
            scale += c if c > 0 else -c
            self.insert(i, slot)
        # accept only a real improvement (not round-off, not the same partition again)
        if change < -1e-9 * scale and not _same_partition(self.lab1, saved[0]):
            return True
        self.restore(saved)
        return False


class _BinderState(_State):
    """Binder loss with per-cluster cost sums kept up to date by rank-1 updates.

    ``CT[k, i] = sum_{j in cluster k} w_ij`` (zero diagonal), so the insertion costs of
    an observation are a column read (O(number of clusters)) and a move costs O(n_obs)
    contiguous work; sweeps where few observations move are then cheap.
    """

    def __init__(self, p, loss, a, max_clusters):
        super().__init__(p, "binder", a, max_clusters)
        self.w = self.w.copy()
        np.fill_diagonal(self.w, 0.0)
        self.CT = np.zeros((8, self.n))

    def _ensure(self, slots):
        if slots > self.CT.shape[0]:
            grown = np.zeros((max(2 * self.CT.shape[0], slots), self.n))
            grown[: self.CT.shape[0]] = self.CT
            self.CT = grown

    def snapshot(self):
        return (*super().snapshot(), self.CT.copy())

    def restore(self, snap):
        super().restore(snap[:5])
        self.CT = snap[5]

    def remove(self, i):
        k = super().remove(i)
        self.CT[k] -= self.w[i]
        return k

    def insert(self, i, k):
        super().insert(i, k)
        self._ensure(int(k) + 1)
        self.CT[int(k)] += self.w[i]

    def insertion_costs(self, i):
        m = self.top + 2
        self._ensure(m)
        return self.CT[:m, i].copy()


def _same_partition(a, b):
    return np.array_equal(_canonical(a), _canonical(b))


def _sweeten(st, rng, max_sweeps):
    changed = False
    for _ in range(max_sweeps):
        moved = False
        for i in rng.permutation(st.n):
            k = st.remove(i)
            new = st.best_slot(i, current=k)
            st.insert(i, new)
            moved |= new != k
        changed |= moved
        if not moved:
            break
    return changed


def _one_run(p, loss, a, max_clusters, rng, max_sweeps, one_cluster=False):
    st = (_BinderState if loss == "binder" else _State)(p, loss, a, max_clusters)
    if one_cluster:  # start from the single-cluster partition
        for i in range(st.n):
            st.insert(i, 0)
    else:
        for i in rng.permutation(st.n):  # sequential allocation in random order
            st.insert(i, st.best_slot(i))
    _sweeten(st, rng, max_sweeps)
    for _ in range(max_sweeps):
        improved = False
        while (m := st.best_merge()) is not None:  # merge moves
            st.merge(m[1], m[2])
            improved = True
        for k in rng.permutation(np.flatnonzero(st.sizes > 0)):  # zealous updates
            if st.sizes[k] > 1:
                improved |= st.zealous(k, rng)
        if improved:
            _sweeten(st, rng, max_sweeps)
        else:
            break
    return _canonical(st.labels)


def salso(
    similarity,
    *,
    loss: str = "vi",
    a: float = 1.0,
    n_runs: int = 8,
    max_sweeps: int = 50,
    max_clusters: int | None = None,
    random_state=None,
):
    """Greedy search for the partition minimising a posterior expected loss.

    SALSO-style (Dahl, Johnson & Mueller 2022): the single-cluster partition and
    ``n_runs - 1`` sequential allocations, each visiting the observations in a random
    order and putting each in the existing
    cluster (or a new one) that increases the loss least, followed by sweetening sweeps
    that remove and re-insert single observations while the loss decreases.  Then,
    until nothing improves: the best merge of two clusters (while one lowers the loss),
    SALSO's "zealous" updates (dissolve a cluster and re-allocate its members one by
    one, kept only if the loss decreases) and sweetening again.  The best partition over
    the runs is returned.  Each single-observation step costs O(n_obs), so a sweep costs
    O(n_obs^2).

    Parameters
    ----------
    similarity : array-like of shape (n_obs, n_obs)
        Posterior similarity matrix.
    loss : {"vi", "binder"}, default "vi"
        ``"vi"``: :func:`expected_vi_lower_bound`; ``"binder"``:
        :func:`expected_binder_loss` with ``a``.
    a : float in (0, 2), default 1.0
        Binder's cost parameter (ignored for ``"vi"``).
    n_runs : int, default 8
        Number of random initialisations.
    max_sweeps : int, default 50
        Maximum sweetening sweeps per run.
    max_clusters : int, optional
        Upper bound on the number of clusters.
    random_state : int, numpy.random.Generator or None
        Seed; the same seed gives the same partition.

    Returns
    -------
    labels : ndarray of int, shape (n_obs,)
        Cluster labels 0, 1, ... in order of first appearance.
    expected_loss : float
        The loss of ``labels``, recomputed from its definition.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[1, .9, .1, .1], [.9, 1, .1, .1], [.1, .1, 1, .8], [.1, .1, .8, 1]])
    >>> labels, value = salso(p, loss="binder", random_state=0)
    >>> labels.tolist(), round(value, 2)
    ([0, 0, 1, 1], 0.7)
    """
    p = _check_psm(similarity)
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {_LOSSES}; got {loss!r}.")
    a = _check_a(a)
    for nm, v in (("n_runs", n_runs), ("max_sweeps", max_sweeps)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{nm} must be a positive integer; got {v!r}.")
    if max_clusters is not None and (
        isinstance(max_clusters, bool) or not isinstance(max_clusters, (int, np.integer))
        or max_clusters < 1
    ):
        raise ValueError(f"max_clusters must be a positive integer or None; got {max_clusters!r}.")
    rng = np.random.default_rng(random_state)
    value = (lambda c: _binder(c, p, a)) if loss == "binder" else (lambda c: _vi_lb(c, p))
    best, best_val = None, np.inf
    seen = set()
    for run in range(int(n_runs)):
        lab = _one_run(p, loss, a, max_clusters, rng, int(max_sweeps), one_cluster=run == 0)
        key = lab.tobytes()
        if key in seen:
            continue
        seen.add(key)
        val = value(lab)
        if val < best_val - 1e-12:
            best, best_val = lab, val
    return best, float(best_val)


def point_partition(
    similarity,
    *,
    loss: str = "vi",
    a: float = 1.0,
    n_runs: int = 8,
    max_sweeps: int = 50,
    max_clusters: int | None = None,
    random_state=None,
) -> xr.DataArray:
    """Point-estimate partition minimising the posterior expected Binder or VI loss.

    Wraps :func:`salso` for an xarray similarity matrix.

    Parameters
    ----------
    similarity : xarray.DataArray (obs, obs_bis) or array-like (n_obs, n_obs)
        From :func:`~bayesgmm.posterior.posterior_similarity`.
    loss, a, n_runs, max_sweeps, max_clusters, random_state
        As in :func:`salso`.

    Returns
    -------
    xarray.DataArray
        dims (obs,), name ``partition``, cluster labels 0, 1, ... (in order of first
        appearance; they are *not* component indices); attrs ``loss``,
        ``expected_loss`` and ``n_clusters``.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[1, .9, .1], [.9, 1, .1], [.1, .1, 1]])
    >>> part = point_partition(p, random_state=0)
    >>> part.values.tolist(), part.attrs["n_clusters"]
    ([0, 0, 1], 2)
    """
    labels, val = salso(
        similarity.to_numpy() if isinstance(similarity, xr.DataArray) else similarity,
        loss=loss,
        a=a,
        n_runs=n_runs,
        max_sweeps=max_sweeps,
        max_clusters=max_clusters,
        random_state=random_state,
    )
    coords = {}
    if isinstance(similarity, xr.DataArray) and similarity.dims[0] in similarity.coords:
        coords = {"obs": similarity[similarity.dims[0]].to_numpy()}
        if "obs_index" in similarity.coords:
            coords["obs_index"] = ("obs", similarity["obs_index"].to_numpy())
    return xr.DataArray(
        labels,
        dims=("obs",),
        coords=coords,
        name="partition",
        attrs={
            "loss": "binder" if loss == "binder" else "vi_lower_bound",
            "expected_loss": val,
            "n_clusters": int(labels.max()) + 1,
            **({"a": a} if loss == "binder" else {}),
        },
    )


def map_partition(membership: xr.Dataset) -> xr.DataArray:
    """The MAP-assignment partition: each observation's most probable component.

    Parameters
    ----------
    membership : xarray.Dataset
        From :func:`~bayesgmm.posterior.membership_summary` (uses ``probability``).

    Returns
    -------
    xarray.DataArray
        dims (obs,), name ``partition``, the component labels (these *are* component
        indices, relabelled against EM); attrs ``loss`` ("map") and ``n_clusters`` (the
        number of components that receive at least one observation).

    Examples
    --------
    >>> import xarray as xr
    >>> m = xr.Dataset({"probability": (("obs", "component"),
    ...                                 [[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])})
    >>> part = map_partition(m)
    >>> part.values.tolist(), part.attrs["n_clusters"]
    ([0, 1], 2)
    """
    if not isinstance(membership, xr.Dataset) or "probability" not in membership:
        raise TypeError(
            "membership must be the xarray.Dataset returned by membership_summary() (with a "
            f"'probability' (obs, component) variable); got {type(membership).__name__}."
        )
    prob = membership["probability"].transpose("obs", "component")
    best = prob.to_numpy().argmax(axis=1)
    comp = (
        prob["component"].to_numpy() if "component" in prob.coords else np.arange(prob.shape[1])
    )
    labels = comp[best]
    coords = {"obs": prob["obs"].to_numpy()} if "obs" in prob.coords else {}
    return xr.DataArray(
        labels,
        dims=("obs",),
        coords=coords,
        name="partition",
        attrs={"loss": "map", "n_clusters": int(np.unique(labels).size)},
    )


# --------------------------------------------------------------------------- agreement
def adjusted_rand_index(labels_a, labels_b) -> float:
    """Adjusted Rand index between two partitions (Hubert & Arabie 1985).

    1 for identical partitions (up to relabelling), about 0 for independent ones.
    Matches ``sklearn.metrics.adjusted_rand_score``, including its conventions for
    degenerate cases (both partitions trivial: 1.0).

    Parameters
    ----------
    labels_a, labels_b : array-like of shape (n_obs,)
        Cluster labels (any hashable values).

    Returns
    -------
    float

    Examples
    --------
    >>> adjusted_rand_index([0, 0, 1, 1], [5, 5, 3, 3])
    1.0
    >>> round(adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]), 3)
    -0.5
    """
    a = _check_labels(labels_a, "labels_a")
    b = _check_labels(labels_b, "labels_b", n=a.shape[0])
    n = a.shape[0]
    cont = np.zeros((a.max() + 1, b.max() + 1), dtype=np.int64)
    np.add.at(cont, (a, b), 1)
    comb = lambda x: x * (x - 1) / 2.0  # noqa: E731
    sum_ij = comb(cont.astype(np.float64)).sum()
    sum_a = comb(cont.sum(1).astype(np.float64)).sum()
    sum_b = comb(cont.sum(0).astype(np.float64)).sum()
    total = comb(float(n))
    if total == 0:
        return 1.0
    expected = sum_a * sum_b / total
    max_index = (sum_a + sum_b) / 2
    if max_index == expected:  # both trivial (all in one cluster, or all singletons)
        return 1.0
    return float((sum_ij - expected) / (max_index - expected))


def ambiguous_observations(
    membership: xr.Dataset, *, n: int | None = 10, threshold: float | None = None, by: str = "entropy"
) -> xr.Dataset:
    """The observations whose cluster assignment is most uncertain.

    Parameters
    ----------
    membership : xarray.Dataset
        From :func:`~bayesgmm.posterior.membership_summary`.
    n : int or None, default 10
        Return at most this many observations (all that pass ``threshold`` when None).
    threshold : float, optional
        Keep only observations beyond it: entropy (nats) above ``threshold`` for
        ``by="entropy"``; probability of the chosen component below it for
        ``by="probability"``; interval width of that probability above it for
        ``by="interval"``.
    by : {"entropy", "probability", "interval"}, default "entropy"
        Ranking: highest ``entropy``, lowest ``probability_max``, or widest
        ``probability_max_upper - probability_max_lower``.

    Returns
    -------
    xarray.Dataset
        The rows of ``membership`` for those observations, most ambiguous first, with an
        extra ``obs_index`` coordinate (their positions in the data).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> m = xr.Dataset({"probability": (("obs", "component"), [[.99, .01], [.5, .5], [.7, .3]])})
    >>> m["entropy"] = -(m.probability * np.log(m.probability)).sum("component")
    >>> ambiguous_observations(m, n=2)["obs"].values.tolist()
    [1, 2]
    """
    if not isinstance(membership, xr.Dataset) or "obs" not in membership.dims:
        raise TypeError(
            "membership must be the xarray.Dataset returned by membership_summary(); got "
            f"{type(membership).__name__}."
        )
    keys = {"entropy": ("entropy",), "probability": ("probability_max",),
            "interval": ("probability_max_lower", "probability_max_upper")}
    if by not in keys:
        raise ValueError(f"by must be one of {tuple(keys)}; got {by!r}.")
    for var in keys[by]:
        if var not in membership:
            raise ValueError(f"membership has no {var!r} variable, needed for by={by!r}.")
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"n must be a positive integer or None; got {n!r}.")
    if by == "entropy":
        score = membership["entropy"].to_numpy()
    elif by == "probability":
        score = -membership["probability_max"].to_numpy()
    else:
        score = (membership["probability_max_upper"] - membership["probability_max_lower"]).to_numpy()
    idx = np.argsort(-score, kind="stable")
    if threshold is not None:
        t = -threshold if by == "probability" else threshold
        idx = idx[score[idx] > t]
    if n is not None:
        idx = idx[:n]
    if "obs" not in membership.coords:
        membership = membership.assign_coords(obs=np.arange(membership.sizes["obs"]))
    out = membership.isel(obs=idx)
    return out.assign_coords(obs_index=("obs", idx))
