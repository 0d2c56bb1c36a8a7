"""Posterior similarity (co-clustering) matrix.

``P(z_i = z_j | data) = E_theta[ sum_k r_ik(theta) r_jk(theta) ]`` for i != j (the
allocations are independent given theta) and 1 on the diagonal.  With the per-draw
membership matrices R_s (N x K) this is ``mean_s R_s R_s^T``; stacking a block of B
draws side by side gives one matrix product ``[R_1 ... R_B] [R_1 ... R_B]^T`` per block,
so the whole matrix costs ``N^2 S K`` flops and ``N^2`` memory plus one block.  The
matrix does not depend on the component labels, so it needs no relabelling.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from bayesgmm.posterior._common import (
    DEFAULT_MEMORY_BUDGET,
    DrawParams,
    check_memory_budget,
    chunk_size,
    iter_slices,
    posterior_arrays,
    validate_X,
)

__all__ = ["posterior_similarity", "similarity_from_memberships", "similarity_from_labels"]

_LARGE = ("subsample", "exact", "error")


def similarity_from_memberships(memberships) -> np.ndarray:
    """Co-clustering probabilities from per-draw membership probabilities.

    Parameters
    ----------
    memberships : array-like of shape (n_draws, n_obs, n_components)
        ``r[s, n, k]``, rows summing to 1.

    Returns
    -------
    ndarray of shape (n_obs, n_obs)
        ``mean_s sum_k r[s, i, k] r[s, j, k]`` off the diagonal, 1 on it.

    Examples
    --------
    >>> import numpy as np
    >>> r = np.array([[[1.0, 0.0], [0.5, 0.5]]])
    >>> similarity_from_memberships(r)
    array([[1. , 0.5],
           [0.5, 1. ]])
    """
    r = np.asarray(memberships, dtype=np.float64)
    if r.ndim != 3:
        raise ValueError(
            "memberships must have shape (n_draws, n_obs, n_components); got shape "
            f"{r.shape}."
        )
    S, N, K = r.shape
    flat = np.ascontiguousarray(np.transpose(r, (1, 0, 2))).reshape(N, S * K)
    psm = flat @ flat.T
    psm /= S
    np.fill_diagonal(psm, 1.0)
    return psm


def similarity_from_labels(labels) -> np.ndarray:
    """Co-clustering frequencies from sampled allocations (as R's ``mcclust::comp.psm``).

    Parameters
    ----------
    labels : array-like of int, shape (n_draws, n_obs)
        One allocation vector per draw.

    Returns
    -------
    ndarray of shape (n_obs, n_obs)
        Fraction of draws in which observations i and j share a label.

    Examples
    --------
    >>> similarity_from_labels([[0, 0, 1], [0, 1, 1]])
    array([[1. , 0.5, 0. ],
           [0.5, 1. , 0.5],
           [0. , 0.5, 1. ]])
    """
    z = np.asarray(labels)
    if z.ndim != 2 or not np.issubdtype(z.dtype, np.integer):
        raise ValueError(
            f"labels must be an integer array of shape (n_draws, n_obs); got dtype {z.dtype} "
            f"and shape {z.shape}."
        )
    S, N = z.shape
    out = np.zeros((N, N))
    for row in z:
        _, inv = np.unique(row, return_inverse=True)
        onehot = np.zeros((N, inv.max() + 1))
        onehot[np.arange(N), inv] = 1.0
        out += onehot @ onehot.T
    return out / S


def _similarity(params: DrawParams, X: np.ndarray, budget: int) -> np.ndarray:
    N = X.shape[0]
    S = params.n_draws
    # per draw in a block: N x K memberships plus the kernel's temporaries
    per_draw = N * params.bytes_per_row()
    block = chunk_size(per_draw, budget, S)
    psm = np.zeros((N, N))
    for sl in iter_slices(S, block):
        R = params.responsibilities(X, sl)  # (N, K, B), C-contiguous
        flat = R.reshape(N, -1)
        psm += flat @ flat.T
    psm /= S
    np.fill_diagonal(psm, 1.0)
    np.clip(psm, 0.0, 1.0, out=psm)
    return psm


def posterior_similarity(
    posterior,
    X,
    *,
    max_obs: int = 5000,
    large: str = "subsample",
    random_state=None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> xr.DataArray:
    """Posterior similarity (co-clustering) matrix of the observations.

    ``similarity[i, j] = P(z_i = z_j | data) = E_theta[ sum_k r_ik r_jk ]``, accumulated
    over blocks of draws with one matrix product per block.  Exact for up to
    ``max_obs`` observations.

    Parameters
    ----------
    posterior : xarray.Dataset or xarray.DataTree
        Posterior draws (``weights``, ``means``, ``covariances``).  Relabelling does not
        change the result.
    X : array-like of shape (n_obs, n_features)
        Data.
    max_obs : int, default 5000
        Largest number of observations computed without ``large`` applying.  The result
        needs ``8 * n_obs**2`` bytes (200 MB at 5,000) and ``n_obs**2 * draws * K``
        flops.
    large : {"subsample", "exact", "error"}, default "subsample"
        What to do when ``n_obs > max_obs``: ``"subsample"`` computes the matrix for a
        uniform random subset of ``max_obs`` observations (sorted; their positions in
        ``X`` are the ``obs_index`` coordinate) and warns; ``"exact"`` computes all of
        it (memory ``8 * n_obs**2`` bytes); ``"error"`` raises.
    random_state : int, numpy.random.Generator or None
        Seed for the subsample.
    memory_budget : int, default 64 MiB
        Working memory in bytes for the per-draw membership blocks (besides the result).

    Returns
    -------
    xarray.DataArray
        dims (obs, obs_bis), name ``similarity``, with a coordinate ``obs_index``
        (positions of the rows in ``X``) and attrs ``n_draws`` and ``subsampled``
        (0/1).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> post = xr.Dataset({
    ...     "weights": (("chain", "draw", "component"), np.full((1, 1, 2), 0.5)),
    ...     "means": (("chain", "draw", "component", "feature"), [[[[0.0], [4.0]]]]),
    ...     "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
    ...                     np.ones((1, 1, 2, 1, 1)))})
    >>> posterior_similarity(post, [[0.0], [0.2], [4.0], [2.0]]).values.round(2)
    array([[1. , 1. , 0. , 0.5],
           [1. , 1. , 0. , 0.5],
           [0. , 0. , 1. , 0.5],
           [0.5, 0.5, 0.5, 1. ]])
    """
    if large not in _LARGE:
        raise ValueError(f"large must be one of {_LARGE}; got {large!r}.")
    if isinstance(max_obs, bool) or not isinstance(max_obs, (int, np.integer)) or max_obs < 2:
        raise ValueError(f"max_obs must be an integer >= 2; got {max_obs!r}.")
    budget = check_memory_budget(memory_budget)
    ds, w, m, c = posterior_arrays(posterior)
    feat = ds["means"]["feature"].to_numpy() if "feature" in ds["means"].coords else None
    Xa, obs = validate_X(X, m.shape[-1], feat)
    N = Xa.shape[0]
    index = np.arange(N)
    subsampled = False
    if N > max_obs:
        if large == "error":
            raise ValueError(
                f"X has {N} observations, more than max_obs={max_obs}; the similarity "
                f"matrix would need {8 * N * N / 2**30:.1f} GiB. Pass large='subsample' to "
                "use a random subset, large='exact' to compute it anyway, or raise max_obs."
            )
        if large == "subsample":
            rng = np.random.default_rng(random_state)
            index = np.sort(rng.choice(N, size=int(max_obs), replace=False))
            subsampled = True
            warnings.warn(
                f"posterior_similarity: X has {N} observations (> max_obs={max_obs}); "
                f"computed the similarity matrix for a random subset of {max_obs} of them "
                "(coordinate 'obs_index' gives their rows). Pass large='exact' for all.",
                UserWarning,
                stacklevel=2,
            )
    params = DrawParams(w, m, c)
    psm = _similarity(params, Xa[index], budget)
    obs_sel = obs[index]
    return xr.DataArray(
        psm,
        dims=("obs", "obs_bis"),
        coords={
            "obs": obs_sel,
            "obs_bis": obs_sel,
            "obs_index": ("obs", index),
        },
        name="similarity",
        attrs={"n_draws": params.n_draws, "subsampled": int(subsampled)},
    )
