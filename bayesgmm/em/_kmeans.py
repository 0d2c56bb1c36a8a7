"""Compiled kernels of the k-means start: nearest centres, Lloyd sums, k-means++
trials, the statistics of hard labels.

numba (``cache=True``, ``nogil=True``), so the chunk engine runs them on its
row blocks in parallel threads. Each replaces several numpy passes over
``(K, n)`` or ``(n, D)`` temporaries (one-hot matrices, a sort by label) with
one pass over the rows: the Lloyd step keeps its distances from one BLAS
product (``|c|^2 - 2 x.c``, less ``|x|^2``) and finds the nearest centre,
counts and sums in one compiled pass; the k-means++ trials compute
``|x - c|^2`` directly (no cancellation) and keep the chosen candidate's
distances, so each new centre costs one pass over the rows.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "centred_on_labels", "first_reaching", "label_sums", "nearest_centres_blas", "trial_potentials",
    "update_closest",
]

_njit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})


@_njit
def _trials(X, cand, closest, w, dist, out_pots):  # pragma: no cover - compiled
    # four candidates per pass over the rows (one load of each row for four
    # distances); each distance summed over the features in order, as one at a time
    n, d = X.shape
    t = cand.shape[0]
    has_w = w.shape[0] > 0
    c = 0
    while c + 4 <= t:
        p0 = p1 = p2 = p3 = 0.0
        for i in range(n):
            s0 = s1 = s2 = s3 = 0.0
            for f in range(d):
                x = X[i, f]
                v0 = x - cand[c, f]
                v1 = x - cand[c + 1, f]
                v2 = x - cand[c + 2, f]
                v3 = x - cand[c + 3, f]
                s0 += v0 * v0
                s1 += v1 * v1
                s2 += v2 * v2
                s3 += v3 * v3
            if has_w:
                wi = w[i]
                s0 *= wi
                s1 *= wi
                s2 *= wi
                s3 *= wi
            ci = closest[i]
            s0 = s0 if s0 < ci else ci
            s1 = s1 if s1 < ci else ci
            s2 = s2 if s2 < ci else ci
            s3 = s3 if s3 < ci else ci
            dist[c, i] = s0
            dist[c + 1, i] = s1
            dist[c + 2, i] = s2
            dist[c + 3, i] = s3
            p0 += s0
            p1 += s1
            p2 += s2
            p3 += s3
        out_pots[c] = p0
        out_pots[c + 1] = p1
        out_pots[c + 2] = p2
        out_pots[c + 3] = p3
        c += 4
    while c < t:
        p = 0.0
        for i in range(n):
            s = 0.0
            for f in range(d):
                v = X[i, f] - cand[c, f]
                s += v * v
            if has_w:
                s *= w[i]
            s = s if s < closest[i] else closest[i]
            dist[c, i] = s
            p += s
        out_pots[c] = p
        c += 1


def trial_potentials(X, candidates, closest, w=None, dist=None):
    """k-means++ potential of each candidate centre: ``sum_n min(closest_n, w_n |x_n - c|^2)``.

    One compiled pass over the rows, the distances computed directly (no
    cancellation). ``dist``: a (n_candidates, n) buffer that receives each
    candidate's ``min(closest, w |x - c|^2)``, so that the chosen one's
    becomes the new ``closest`` without another pass over the rows.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [2.0]])
    >>> trial_potentials(X, np.array([[0.0], [2.0], [1.0]]), np.array([0.0, 4.0])).tolist()
    [4.0, 0.0, 1.0]
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    candidates = np.ascontiguousarray(candidates, dtype=np.float64)
    if dist is None:
        dist = np.empty((len(candidates), X.shape[0]))
    out = np.empty(len(candidates))
    _trials(X, candidates, closest, np.empty(0) if w is None else np.ascontiguousarray(w, dtype=np.float64),
            dist, out)
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")  # no fastmath: the sum in row order
def _first_reaching(values, target):  # pragma: no cover - compiled
    acc = 0.0
    n = values.shape[0]
    for i in range(n):
        acc += values[i]
        if acc >= target:
            return i
    return n - 1


def first_reaching(values, target):
    """The first ``i`` whose running sum ``values[0] + ... + values[i]`` reaches ``target``
    (the last index if none does).

    ``min(searchsorted(cumsum(values), target), len(values) - 1)`` for
    non-negative ``values``: the same sums in the same order as ``numpy.cumsum``,
    in one compiled pass that stops at the answer and builds no cumulative array
    (the k-means++ draw).

    Examples
    --------
    >>> import numpy as np
    >>> first_reaching(np.array([1.0, 0.0, 2.0, 3.0]), 3.0), first_reaching(np.ones(3), 9.0)
    (2, 2)
    """
    return int(_first_reaching(np.ascontiguousarray(values, dtype=np.float64), float(target)))


@_njit
def _update(X, c, closest, w):  # pragma: no cover - compiled
    n, d = X.shape
    has_w = w.shape[0] > 0
    pot = 0.0
    for i in range(n):
        s = 0.0
        for f in range(d):
            v = X[i, f] - c[f]
            s += v * v
        if has_w:
            s *= w[i]
        if s < closest[i]:
            closest[i] = s
        pot += closest[i]
    return pot


def update_closest(X, centre, closest, w=None):
    """In place: ``closest = min(closest, w |x - centre|^2)``; returns its sum (the potential).

    Examples
    --------
    >>> import numpy as np
    >>> closest = np.array([1.0, 9.0])
    >>> update_closest(np.array([[0.0], [3.0]]), np.array([2.0]), closest), closest.tolist()
    (2.0, [1.0, 1.0])
    """
    return _update(np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(centre, dtype=np.float64),
                   closest, np.empty(0) if w is None else np.ascontiguousarray(w, dtype=np.float64))


@_njit
def _assign(dist, c_sq, X, shift, w, labels, counts, sums):  # pragma: no cover - compiled
    # dist (K, n): -2 C x^T from one BLAS product; the nearest centre per row,
    # its weight and the sum of its rows
    k, n = dist.shape
    d = X.shape[1]
    has_shift = shift.shape[0] > 0
    has_w = w.shape[0] > 0
    changed = 0
    for i in range(n):
        best = 0
        bv = dist[0, i] + c_sq[0]
        for j in range(1, k):
            v = dist[j, i] + c_sq[j]
            if v < bv:
                bv = v
                best = j
        if labels[i] != best:
            changed += 1
        labels[i] = best
        wi = w[i] if has_w else 1.0
        counts[best] += wi
        if has_shift:
            for f in range(d):
                sums[best, f] += wi * (X[i, f] - shift[f])
        else:
            for f in range(d):
                sums[best, f] += wi * X[i, f]
    return changed


def nearest_centres_blas(X, shift, centres, w=None, labels=None, work=None):
    """Nearest centre of each row, and the per-centre weights and sums of those rows.

    ``X`` (n, D) rows, ``shift`` (D,) or None subtracted first, ``centres``
    (K, D) in the shifted coordinates, ``w`` optional row weights, ``labels``
    (n,) int64 optional, filled with each row's nearest centre (the first on
    a tie). Returns ``counts`` (K,) and ``sums`` (K, D) of the shifted rows,
    and how many entries of ``labels`` changed (meaningful when ``labels``
    held the previous assignment: the Lloyd iterations' convergence test).
    ``-2 C x^T`` (K, n) is one matrix product (``work``: a reused buffer of at
    least ``K n`` values); the nearest centre, counts and sums are one
    compiled pass over it.

    Examples
    --------
    >>> import numpy as np
    >>> counts, sums, _ = nearest_centres_blas(np.array([[0.0], [1.0], [9.0]]), None,
    ...                                        np.array([[0.0], [10.0]]))
    >>> counts.tolist(), sums.ravel().tolist()
    ([2.0, 1.0], [1.0, 9.0])
    """
    n, d = X.shape
    centres = np.asarray(centres, dtype=np.float64)
    k = centres.shape[0]
    xc = X if shift is None else X - shift
    if work is None or work.size < k * n:
        work = np.empty(k * n)
    dist = np.matmul(-2.0 * centres, xc.T, out=work[: k * n].reshape(k, n))
    counts = np.zeros(k)
    sums = np.zeros((k, d))
    if labels is None:
        labels = np.empty(n, dtype=np.int64)
    changed = _assign(dist, np.einsum("kd,kd->k", centres, centres), np.ascontiguousarray(xc, dtype=np.float64),
            np.empty(0), np.empty(0) if w is None else np.ascontiguousarray(w, dtype=np.float64),
            labels, counts, sums)
    return counts, sums, int(changed)


@_njit
def _centre_rows(X, shift, centres, labels, out):  # pragma: no cover - compiled
    n, d = X.shape
    has_shift = shift.shape[0] > 0
    for i in range(n):
        j = labels[i]
        for f in range(d):
            v = X[i, f] - centres[j, f]
            out[i, f] = v - shift[f] if has_shift else v


@_njit
def _label_sums(zt, labels, w, out):  # pragma: no cover - compiled
    m, n = zt.shape
    has_w = w.shape[0] > 0
    for i in range(n):
        j = labels[i]
        wi = w[i] if has_w else 1.0
        for r in range(m):
            out[j, r] += wi * zt[r, i]


def centred_on_labels(X, shift, centres, labels):
    """``X - shift - centres[labels]``, (n, D): each row about its own centre.

    Examples
    --------
    >>> import numpy as np
    >>> centred_on_labels(np.array([[1.0], [9.0]]), None, np.array([[0.0], [10.0]]),
    ...                   np.array([0, 1])).ravel().tolist()
    [1.0, -1.0]
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    out = np.empty_like(X)
    _centre_rows(X, np.empty(0) if shift is None else np.ascontiguousarray(shift, dtype=np.float64),
                 np.ascontiguousarray(centres, dtype=np.float64), np.asarray(labels, dtype=np.int64), out)
    return out


def label_sums(zt, labels, n_labels, w=None):
    """``sum_{n: labels_n = k} w_n zt[:, n]`` for each ``k``: (K, M) from features (M, n).

    Examples
    --------
    >>> import numpy as np
    >>> label_sums(np.array([[1.0, 2.0, 4.0]]), np.array([1, 0, 1]), 2).tolist()
    [[2.0], [5.0]]
    """
    out = np.zeros((n_labels, zt.shape[0]))
    _label_sums(np.ascontiguousarray(zt), np.asarray(labels, dtype=np.int64),
                np.empty(0) if w is None else np.ascontiguousarray(w, dtype=np.float64), out)
    return out
