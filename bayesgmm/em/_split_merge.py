"""Split-and-merge moves after the EM starts (Ueda, Nakano, Ghahramani & Hinton 2000).

EM from any start ends at a local maximum. With many components a typical
local maximum has two components sharing one group of observations while
another component stretches over two groups; no single start may place them
right. A split-and-merge move merges the first pair into one component and
splits the stretched one into two, then runs EM from there: when it ends
higher, the move is kept and the search goes on from the new maximum; when
every move from a maximum fails, from the next-best distinct maximum of the
other starts.

Candidates are ordered as in Ueda et al. (2000):

* merge pairs ``(i, j)`` by the overlap of their responsibilities,
  ``J_merge(i, j) = sum_n w_n r_ni r_nj`` (largest first): components that
  explain the same observations;
* split candidates ``c`` by the local Kullback-Leibler divergence between the
  observations' distribution within the component and its Gaussian,
  ``J_split(c) = sum_n f_nc log(f_nc / p(x_n | theta_c))`` with
  ``f_nc = w_n r_nc / sum_m w_m r_mc`` (largest first): the component that
  fits its observations worst;

and tried in the order of the merge pairs, and for each pair of the splits
(``c`` differs from ``i`` and ``j``). The merged component takes the
responsibilities ``r_i + r_j``; the split one's responsibilities go to one
half or the other by the side of its mean along its principal axis (a hard,
deterministic split, so that no random numbers are drawn). An M-step on
these responsibilities (the covariance type's own, so every model keeps its
constraints) gives the start of the move's EM run.

The estimator (``GaussianMixture._split_merge`` in :mod:`bayesgmm.em._estimator`)
runs the moves; this module only orders candidates and builds their
responsibilities.
"""

from __future__ import annotations

import numpy as np

#: ``split_merge="auto"``: six times as many moves as the starts ``n_init="auto"`` ran
#: (120 on data of up to about ten thousand rows), none when it ran one start
#: (large data, where a move costs as much as a start); see :func:`auto_budget`.
AUTO_MOVES_PER_START = 6


def n_candidates(k):
    """Number of split-and-merge triples of ``k`` components: ``k (k - 1) / 2`` merge
    pairs times ``k - 2`` splits (0 below three components).

    Examples
    --------
    >>> [n_candidates(k) for k in (2, 3, 5, 8, 9)]
    [0, 3, 30, 168, 252]
    """
    return k * (k - 1) // 2 * (k - 2) if k >= 3 else 0


def auto_budget(n_init, n_components, work_starts):
    """The moves of ``split_merge="auto"`` after ``n_init`` starts of ``n_init="auto"``.

    :data:`AUTO_MOVES_PER_START` per start, and, where the starts were capped
    below the work budget (small data: ``work_starts``, the starts that
    ``AUTO_WORK`` would pay for, exceeds ``n_init``), enough to try every
    candidate of the best maximum once (:func:`n_candidates`: 168 at eight
    components, 252 at nine), within the moves that budget would pay for.
    Ueda et al.'s search stops only when every candidate of the current
    maximum fails; with more than seven components the fixed 120 moves end
    before the last candidates of the first maximum are tried (on mclust's
    ``banknote``, spherical with eight components, the move that reaches the
    best maximum is the 123rd candidate). None for one start.

    Examples
    --------
    >>> auto_budget(20, 3, 1785), auto_budget(20, 8, 1785), auto_budget(20, 9, 30)
    (120, 168, 180)
    >>> auto_budget(4, 9, 4), auto_budget(1, 9, 1)
    (24, 0)
    """
    if n_init < 2:
        return 0
    per_start = AUTO_MOVES_PER_START * n_init
    return int(max(per_start, min(n_candidates(n_components), AUTO_MOVES_PER_START * work_starts)))


def candidates(log_norm, log_resp, log_weights, sample_weight=None):
    """Split-and-merge triples ``(i, j, c)``: merge ``i`` and ``j``, split ``c``.

    Parameters
    ----------
    log_norm : ndarray of shape (n,)
        ``log p(x_n)`` of the mixture.
    log_resp : ndarray of shape (n, k)
        Log responsibilities.
    log_weights : ndarray of shape (k,)
        Log mixture weights.
    sample_weight : ndarray of shape (n,), optional

    Returns
    -------
    list of tuple of int
        Every triple with ``c`` not in ``(i, j)``, best first (empty for
        fewer than three components).

    Examples
    --------
    >>> import numpy as np
    >>> r = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    >>> with np.errstate(divide="ignore"):
    ...     cands = candidates(np.zeros(3), np.log(r), np.log([1/3, 1/3, 1/3]))
    >>> cands[0]
    (0, 1, 2)
    """
    n, k = log_resp.shape
    if k < 3:
        return []
    resp = np.exp(log_resp)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    overlap = (resp * w[:, None]).T @ resp
    iu, ju = np.triu_indices(k, 1)
    merge_order = np.lexsort((ju, iu, -overlap[iu, ju]))  # ties: lower indices first
    # J_split(c) = sum_n f_nc (log f_nc - log p(x_n | theta_c)) with
    # log p(x_n | theta_c) = log r_nc + log p(x_n) - log w_c: log r_nc cancels,
    # J_split(c) = sum_n f_nc (log w_n - log p(x_n)) + log w_c - log sum_m w_m r_mc
    total = w @ resp
    with np.errstate(divide="ignore"):
        log_rows = np.log(w) - log_norm
    log_rows = np.where(w > 0, log_rows, 0.0)  # rows without weight carry f = 0
    split_score = np.full(k, -np.inf)  # an empty component: nothing to split
    full = total > 0
    if np.any(full):
        f = resp[:, full] * w[:, None] / total[full]
        with np.errstate(invalid="ignore"):
            score = f.T @ log_rows + log_weights[full] - np.log(total[full])
        # a row the mixture gives no density (log p = -inf): the worst fit
        split_score[full] = np.where(np.isnan(score), np.inf, score)
    split_order = np.lexsort((np.arange(k), -split_score))
    out = []
    for m in merge_order:
        i, j = int(iu[m]), int(ju[m])
        out.extend((i, j, int(c)) for c in split_order
                   if c != i and c != j and split_score[c] > -np.inf)
    return out


def moved_responsibilities(X, resp, means, move, sample_weight=None):
    """Responsibilities after the move ``(i, j, c)``: ``i`` and ``j`` merged, ``c`` split.

    Column ``i`` becomes ``r_i + r_j``; columns ``j`` and ``c`` take the
    halves of ``r_c`` on either side of component ``c``'s mean along the
    principal axis of its weighted scatter.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [5.0], [9.0], [11.0]])
    >>> r = np.array([[.5, .5, 0], [.5, .5, 0], [.5, .5, 0], [0, 0, 1], [0, 0, 1]])
    >>> moved_responsibilities(X, r, np.array([[1.7], [1.7], [10.0]]), (0, 1, 2)).tolist()
    [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    i, j, c = move
    out = np.array(resp, dtype=np.float64, copy=True)
    rc = out[:, c].copy()
    out[:, i] += out[:, j]
    z = np.asarray(X, dtype=np.float64) - means[c]
    wc = rc if sample_weight is None else rc * np.asarray(sample_weight, dtype=np.float64)
    scatter = (z * wc[:, None]).T @ z
    axis = np.linalg.eigh(scatter)[1][:, -1]
    axis = axis if axis[np.argmax(np.abs(axis))] > 0 else -axis  # one sign on every platform
    side = z @ axis > 0
    out[:, j] = np.where(side, rc, 0.0)
    out[:, c] = np.where(side, 0.0, rc)
    return out
