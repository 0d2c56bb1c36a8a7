"""Label switching: relabel posterior draws against a reference (EM) solution.

The likelihood of a mixture is invariant to permuting its components, so the
sampler may visit the K! relabellings of the same mode (between chains, or within a
chain).  Summaries of component-specific quantities are meaningless until every draw
is put in one labelling.  Two methods are provided:

* ``method="cost"`` (default): for every draw a K x K cost matrix between the draw's
  components and the reference components, minimised over permutations with
  :func:`scipy.optimize.linear_sum_assignment` (the Hungarian algorithm).  The cost
  computation is vectorised over all draws; only the assignment loops.
* ``method="stephens"``: Stephens' (2000) decision-theoretic algorithm on the per-draw
  membership probabilities of the data (needs ``X``), initialised with ``"cost"``.

:func:`detect_chain_modes` then checks whether chains settled in different modes
(which relabelling cannot fix) so that the caller can warn instead of averaging.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment

from bayesgmm.posterior._common import (
    DEFAULT_MEMORY_BUDGET,
    DrawParams,
    as_dataset,
    check_memory_budget,
    chunk_size,
    em_arrays,
    iter_slices,
    posterior_arrays,
    precision_cholesky_full,
    validate_X,
)

__all__ = [
    "relabel_cost",
    "relabel_draws",
    "apply_permutation",
    "detect_chain_modes",
    "ChainModeReport",
]

_METHODS = ("cost", "stephens")


# --------------------------------------------------------------------------- numpy kernels
def relabel_cost(weights, means, covariances, ref_weights, ref_means, ref_covariances):
    """Cost of matching each draw component to each reference component.

    ``cost[s, j, k]`` is the Kullback-Leibler divergence of the draw component
    ``N(mu_sj, Sigma_sj)`` from the reference component ``N(m_k, S_k)`` plus a term for
    the weights::

        KL = 1/2 [ (mu_sj - m_k)^T S_k^-1 (mu_sj - m_k)        # Mahalanobis, means
                   + tr(S_k^-1 Sigma_sj) - D + log|S_k| - log|Sigma_sj| ]   # covariances
        cost = KL + 1/2 (log w_sj - log w_k)^2                  # weights

    The means term dominates for separated components; the covariance and weight terms
    break ties between components with similar means.

    Parameters
    ----------
    weights, means, covariances : ndarray
        Draws, shapes (S, K), (S, K, D), (S, K, D, D).
    ref_weights, ref_means, ref_covariances : ndarray
        Reference solution, shapes (K,), (K, D), (K, D, D).

    Returns
    -------
    ndarray, shape (S, K, K)
        ``cost[s, j, k]``: draw component j against reference component k.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([[0.3, 0.7]]); m = np.array([[[5.0], [0.0]]])
    >>> c = np.ones((1, 2, 1, 1))
    >>> cost = relabel_cost(w, m, c, np.array([0.7, 0.3]), np.array([[0.0], [5.0]]), c[0])
    >>> cost[0].round(2)
    array([[12.86,  0.  ],
           [ 0.  , 12.86]])
    """
    S, K, D = means.shape
    ref_P = precision_cholesky_full(ref_covariances, name="reference['covariances']")  # (K,D,D)
    ref_prec = ref_P @ np.swapaxes(ref_P, -1, -2)  # (K, D, D)
    ref_logdet = -2.0 * np.log(np.diagonal(ref_P, axis1=-2, axis2=-1)).sum(-1)  # (K,)
    # Mahalanobis of draw means under reference covariances: z = (mu_sj - m_k) P_k
    zm = np.einsum("sjd,kde->sjke", means, ref_P)
    zm -= np.einsum("kd,kde->ke", ref_means, ref_P)[None, None]
    maha = np.einsum("sjke,sjke->sjk", zm, zm)
    trace = np.einsum("kde,sjde->sjk", ref_prec, covariances)
    sign, logdet = np.linalg.slogdet(covariances)  # (S, K)
    kl = 0.5 * (maha + trace - D + ref_logdet[None, None, :] - logdet[:, :, None])
    with np.errstate(divide="ignore"):
        lw = np.log(np.clip(weights, 1e-300, None))
        lr = np.log(np.clip(ref_weights, 1e-300, None))
    return kl + 0.5 * (lw[:, :, None] - lr[None, None, :]) ** 2


def _assign(cost: np.ndarray) -> np.ndarray:
    """Per draw, the permutation ``perm`` with ``relabelled[k] = raw[perm[k]]``."""
    S, K, _ = cost.shape
    perm = np.empty((S, K), dtype=np.int64)
    for s in range(S):
        c = cost[s]
        if not np.isfinite(c).all():
            # A draw component with an overflowing or undefined cost (e.g. an empty
            # component of an overfitted VI fit with astronomically large variances)
            # matches anything equally badly; a large finite cost keeps the
            # assignment feasible (scipy rejects rows without a finite entry).
            c = np.where(np.isfinite(c), c, _INFEASIBLE_COST)
        rows, cols = linear_sum_assignment(c)
        perm[s, cols] = rows
    return perm


#: Stand-in for non-finite relabelling costs (finite, and summing K of them cannot overflow).
_INFEASIBLE_COST = 1e250


def _stephens(params: DrawParams, X, perm0, max_iter, budget):
    """Stephens (2000), algorithm 2: minimise sum_s KL(P_s(perm_s) || Q) over perms and Q."""
    S, K = params.n_draws, params.K
    perm = perm0.copy()
    N = X.shape[0]
    block = chunk_size(N * params.bytes_per_row(), budget, S)
    # Keep all memberships when they fit in the budget; else recompute them per pass.
    cached = params.responsibilities(X, slice(None)) if 8 * N * K * S <= budget // 2 else None

    def blocks():
        for sl in iter_slices(S, block):
            yield sl, (cached[:, :, sl] if cached is not None else params.responsibilities(X, sl))

    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        # Q = mean over draws of the permuted memberships.
        Q = np.zeros((N, K))
        for sl, R in blocks():  # R: (N, K, B)
            idx = perm[sl].T  # (K, B): relabelled k of draw b is raw idx[k, b]
            Q += np.take_along_axis(R, idx[None, :, :], axis=1).sum(axis=2)
        Q /= S
        logQ = np.log(np.clip(Q, 1e-300, None))
        # cost[j, k] = -sum_n r_nj log q_nk (the r log r part is the same for all perms)
        new = np.empty_like(perm)
        for sl, R in blocks():
            cost = -np.einsum("njb,nk->bjk", R, logQ)
            new[sl] = _assign(cost)
        if np.array_equal(new, perm):
            break
        perm = new
    return perm, n_iter


def apply_permutation(dataset: xr.Dataset, permutation: xr.DataArray) -> xr.Dataset:
    """Permute the ``component`` dim of every variable, draw by draw.

    ``out[var][chain, draw, k] = dataset[var][chain, draw, permutation[chain, draw, k]]``
    for every variable with a ``component`` dim; other variables are unchanged.  The
    ``component`` coordinate values stay as they are (they now name the reference's
    components).

    Parameters
    ----------
    dataset : xarray.Dataset
        Variables with dims ``chain``, ``draw`` (and ``component`` where permuted).
    permutation : xarray.DataArray
        Integer permutations, dims (chain, draw, component).

    Returns
    -------
    xarray.Dataset
        A new Dataset; the input is not modified.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"weights": (("chain", "draw", "component"), [[[0.2, 0.8]]])})
    >>> perm = xr.DataArray([[[1, 0]]], dims=("chain", "draw", "component"))
    >>> apply_permutation(ds, perm)["weights"].values
    array([[[0.8, 0.2]]])
    """
    if not isinstance(dataset, xr.Dataset):
        raise TypeError(f"dataset must be an xarray.Dataset; got {type(dataset).__name__}.")
    if not isinstance(permutation, xr.DataArray) or set(permutation.dims) != {
        "chain",
        "draw",
        "component",
    }:
        raise TypeError(
            "permutation must be an xarray.DataArray with dims (chain, draw, component); got "
            f"{type(permutation).__name__} {getattr(permutation, 'dims', '')}."
        )
    perm = permutation.transpose("chain", "draw", "component").to_numpy()
    C, S, K = perm.shape
    if not np.array_equal(np.sort(perm, axis=-1), np.broadcast_to(np.arange(K), perm.shape)):
        raise ValueError(
            "permutation must hold a permutation of 0..K-1 along 'component' for every "
            "(chain, draw)."
        )
    ci = np.arange(C)[:, None, None]
    di = np.arange(S)[None, :, None]
    out = {}
    for name, var in dataset.data_vars.items():
        if "component" not in var.dims:
            continue
        if "chain" not in var.dims or "draw" not in var.dims:
            raise ValueError(
                f"variable {name!r} has a 'component' dim but no 'chain'/'draw' dims, so it "
                "cannot be relabelled draw by draw; drop it before relabelling."
            )
        if var.sizes["chain"] != C or var.sizes["draw"] != S or var.sizes["component"] != K:
            raise ValueError(
                f"variable {name!r} has sizes {dict(var.sizes)} but permutation has "
                f"(chain, draw, component) = {perm.shape}."
            )
        rest = [d for d in var.dims if d not in ("chain", "draw", "component")]
        order = ("chain", "draw", "component", *rest)
        arr = var.transpose(*order).to_numpy()
        new = arr[ci, di, perm]
        out[name] = var.copy(data=xr.DataArray(new, dims=order).transpose(*var.dims).to_numpy())
    return dataset.assign(out)


# --------------------------------------------------------------------------- public wrapper
def relabel_draws(
    posterior,
    reference,
    *,
    method: str = "cost",
    X=None,
    max_iter: int = 100,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
):
    """Relabel posterior draws against a reference solution (label switching).

    Parameters
    ----------
    posterior : xarray.Dataset or xarray.DataTree
        Draws in the contract's ``posterior`` layout: ``weights`` (chain, draw,
        component), ``means`` (chain, draw, component, feature), ``covariances``
        (chain, draw, component, feature, feature_bis).  Every variable with a
        ``component`` dim is permuted (e.g. ``sds``, ``correlations`` too).
    reference : xarray.Dataset or xarray.DataTree
        The reference solution (usually the EM fit) in the ``em`` layout: ``weights``
        (component,), ``means`` (component, feature), ``covariances`` (component,
        feature, feature_bis).
    method : {"cost", "stephens"}, default "cost"
        ``"cost"``: per draw, minimise over permutations the sum of the costs of
        :func:`relabel_cost` (KL divergence of each draw component from the matched
        reference component plus a log-weight term).  ``"stephens"``: Stephens'
        (2000) algorithm, which finds permutations making the per-draw membership
        probabilities of ``X`` agree; initialised with ``"cost"``.
    X : array-like of shape (n_obs, n_features), optional
        The data; required for ``method="stephens"``.
    max_iter : int, default 100
        Maximum number of Stephens iterations.
    memory_budget : int, default 64 MiB
        Working memory, in bytes, for the Stephens membership blocks.

    Returns
    -------
    relabelled : xarray.Dataset
        A copy of ``posterior`` with every ``component`` variable permuted so that
        component k of every draw matches reference component k.
    permutation : xarray.DataArray
        dims (chain, draw, component), ``relabelled[k] = raw[permutation[k]]`` (the
        contract's ``relabel_permutation``); attrs ``method`` and, for Stephens,
        ``n_iter``.

    Notes
    -----
    Relabelling is idempotent: relabelling relabelled draws returns them unchanged with
    the identity permutation.

    References
    ----------
    Stephens, M. (2000). Dealing with label switching in mixture models. JRSS B 62(4).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ref = xr.Dataset({
    ...     "weights": ("component", [0.5, 0.5]),
    ...     "means": (("component", "feature"), [[0.0], [5.0]]),
    ...     "covariances": (("component", "feature", "feature_bis"), np.ones((2, 1, 1)))})
    >>> post = xr.Dataset({
    ...     "weights": (("chain", "draw", "component"), [[[0.5, 0.5]]]),
    ...     "means": (("chain", "draw", "component", "feature"), [[[[5.1], [0.1]]]]),
    ...     "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
    ...                     np.ones((1, 1, 2, 1, 1)))})
    >>> out, perm = relabel_draws(post, ref)
    >>> out["means"].values.ravel(), perm.values.ravel()
    (array([0.1, 5.1]), array([1, 0]))
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    ds, w, m, c = posterior_arrays(posterior)
    _, rw, rm, rc = em_arrays(reference, name="reference")
    C, S, K = w.shape
    D = m.shape[-1]
    if rw.shape[0] != K or rm.shape[1] != D:
        raise ValueError(
            f"reference has {rw.shape[0]} components and {rm.shape[1]} features but the "
            f"posterior has {K} components and {D} features; relabel against the EM fit "
            "with the same n_components."
        )
    budget = check_memory_budget(memory_budget)
    n = C * S
    wf, mf, cf = w.reshape(n, K), m.reshape(n, K, D), c.reshape(n, K, D, D)
    perm = np.empty((n, K), dtype=np.int64)
    block = chunk_size(8 * K * K * (D + 4), budget, n)
    for sl in iter_slices(n, block):
        perm[sl] = _assign(relabel_cost(wf[sl], mf[sl], cf[sl], rw, rm, rc))
    attrs = {"method": method}
    if method == "stephens":
        if X is None:
            raise ValueError(
                "method='stephens' needs the data: pass X=<the fitted data>, or use "
                "method='cost'."
            )
        if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}.")
        feat = ds["means"]["feature"].to_numpy() if "feature" in ds["means"].coords else None
        Xa, _ = validate_X(X, D, feat)
        params = DrawParams(w, m, c)
        # Stephens works on relabelled memberships: compose with the cost permutation.
        perm, n_iter = _stephens(params, Xa, perm, int(max_iter), budget)
        attrs["n_iter"] = int(n_iter)
        if n_iter == max_iter:
            import warnings

            warnings.warn(
                f"Stephens relabelling did not converge in max_iter={max_iter} iterations; "
                "increase max_iter or use method='cost'.",
                RuntimeWarning,
                stacklevel=2,
            )
    coords = {d: ds[d].to_numpy() for d in ("chain", "draw") if d in ds.coords}
    if "component" in ds["weights"].coords:
        coords["component"] = ds["weights"]["component"].to_numpy()
    perm_da = xr.DataArray(
        perm.reshape(C, S, K),
        dims=("chain", "draw", "component"),
        coords=coords,
        name="relabel_permutation",
        attrs=attrs,
    )
    relabelled = apply_permutation(ds, perm_da)
    return relabelled, perm_da


# --------------------------------------------------------------------------- chain modes
@dataclass
class ChainModeReport:
    """Result of :func:`detect_chain_modes`.

    Attributes
    ----------
    multimodal : bool
        True when the chains fall into more than one group.
    groups : list of list
        Chain coordinate values, grouped so that chains in one group agree (every pair
        linked by differences below ``threshold``).
    distance : xarray.DataArray
        dims (chain, chain_bis): the largest standardised difference between the two
        chains' posterior means over all checked parameters.
    max_distance : float
        Largest entry of ``distance``.
    worst_parameter : str
        The parameter with the largest standardised difference, e.g. ``means[1, x0]``.
    switched_chains : list
        Chains whose most frequent relabelling permutation is not the identity (label
        switching between chains, fixed by relabelling; informational).
    threshold : float
    message : str
        A sentence the caller can use as a warning ("" when ``multimodal`` is False).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(1)
    >>> w = rng.dirichlet([50, 50], size=(2, 100))             # two chains, one mode
    >>> report = detect_chain_modes(xr.Dataset({"weights": (("chain", "draw", "component"), w)}),
    ...                             var_names=["weights"])
    >>> bool(report), report.groups
    (False, [[0, 1]])
    >>> if report:                                               # how callers use it
    ...     import warnings; warnings.warn(report.message)
    """

    multimodal: bool
    groups: list
    distance: xr.DataArray
    max_distance: float
    worst_parameter: str
    switched_chains: list = field(default_factory=list)
    threshold: float = 5.0
    message: str = ""

    def __bool__(self) -> bool:
        return self.multimodal


def detect_chain_modes(
    posterior,
    *,
    permutation=None,
    var_names=("weights", "means"),
    threshold: float = 5.0,
) -> ChainModeReport:
    """Detect chains that settled in different modes (after relabelling).

    For every pair of chains and every scalar parameter, the difference between the two
    chains' posterior means is divided by the pooled within-chain posterior sd
    ``sqrt((sd_a^2 + sd_b^2) / 2)``.  Two chains agree when the largest such
    standardised difference is below ``threshold``; chains are grouped by connected
    agreement.  More than one group means the chains explore different modes, which
    relabelling cannot reconcile: averaging them would give meaningless summaries.

    Parameters
    ----------
    posterior : xarray.Dataset or xarray.DataTree
        Relabelled draws (see :func:`relabel_draws`).
    permutation : xarray.DataArray, optional
        The relabelling permutation (chain, draw, component), used only to report
        chains that were label-switched as a whole (``switched_chains``).
    var_names : sequence of str, default ("weights", "means")
        Variables compared; each must have ``chain`` and ``draw`` dims.
    threshold : float, default 5.0
        Standardised difference above which two chains disagree.

    Returns
    -------
    ChainModeReport
        Truthy when the chains are in different modes; ``message`` says what to do.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> m = rng.normal(size=(2, 200, 2, 1)) * 0.1 + np.array([0.0, 5.0])[:, None]
    >>> m[1] += np.array([0.0, 3.0])[:, None]          # chain 1 elsewhere for component 1
    >>> post = xr.Dataset({"means": (("chain", "draw", "component", "feature"), m)})
    >>> rep = detect_chain_modes(post, var_names=["means"])
    >>> bool(rep), rep.groups
    (True, [[0], [1]])
    """
    ds = as_dataset(posterior, "posterior", "posterior")
    if isinstance(var_names, str):
        var_names = [var_names]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold <= 0:
        raise ValueError(f"threshold must be a positive number of sds; got {threshold!r}.")
    means, sds, labels = [], [], []
    for name in var_names:
        if name not in ds.data_vars:
            raise ValueError(
                f"posterior has no variable {name!r}; available: {sorted(map(str, ds.data_vars))}."
            )
        var = ds[name]
        if "chain" not in var.dims or "draw" not in var.dims:
            raise ValueError(f"posterior[{name!r}] needs 'chain' and 'draw' dims; got {var.dims}.")
        rest = [d for d in var.dims if d not in ("chain", "draw")]
        arr = var.transpose("chain", "draw", *rest).to_numpy().astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(
                f"posterior[{name!r}] contains NaN or infinite values; chain modes cannot be "
                "compared. Check the sampler output."
            )
        C, S = arr.shape[:2]
        if S < 2:
            raise ValueError(f"posterior needs at least 2 draws per chain; got {S}.")
        flat = arr.reshape(C, S, -1)
        means.append(flat.mean(axis=1))
        sds.append(flat.std(axis=1, ddof=1))
        for idx in np.ndindex(*arr.shape[2:]):
            lab = ", ".join(str(var[d].values[i]) if d in var.coords else str(i) for d, i in zip(rest, idx))
            labels.append(f"{name}[{lab}]" if lab else name)
    mu = np.concatenate(means, axis=1)  # (C, P)
    sd = np.concatenate(sds, axis=1)
    C = mu.shape[0]
    pooled = np.sqrt((sd[:, None, :] ** 2 + sd[None, :, :] ** 2) / 2)
    diff = np.abs(mu[:, None, :] - mu[None, :, :])
    scale = np.maximum(pooled, 1e-12 * np.maximum(1.0, np.abs(mu).max(axis=0)))
    std = diff / scale
    dist = std.max(axis=-1)
    # connected components of the "agree" graph
    groups_idx = []
    unseen = set(range(C))
    while unseen:
        start = min(unseen)
        stack, comp = [start], {start}
        unseen.discard(start)
        while stack:
            a = stack.pop()
            for b in list(unseen):
                if dist[a, b] < threshold:
                    unseen.discard(b)
                    comp.add(b)
                    stack.append(b)
        groups_idx.append(sorted(comp))
    chain_vals = ds["chain"].to_numpy() if "chain" in ds.coords else np.arange(C)
    groups = [[chain_vals[i].item() for i in g] for g in groups_idx]
    a, b, p = np.unravel_index(np.argmax(std), std.shape)
    switched = []
    if permutation is not None:
        perm = permutation.transpose("chain", "draw", "component").to_numpy()
        K = perm.shape[-1]
        for ci in range(perm.shape[0]):
            rows, counts = np.unique(perm[ci], axis=0, return_counts=True)
            if not np.array_equal(rows[np.argmax(counts)], np.arange(K)):
                switched.append(chain_vals[ci].item())
    dist_da = xr.DataArray(
        dist,
        dims=("chain", "chain_bis"),
        coords={"chain": chain_vals, "chain_bis": chain_vals},
        name="chain_distance",
    )
    multimodal = len(groups) > 1
    message = ""
    if multimodal:
        message = (
            f"The chains settled in {len(groups)} different modes (chain groups {groups}); "
            f"the largest disagreement is {labels[p]} between chains {chain_vals[a]} and "
            f"{chain_vals[b]}, {std[a, b, p]:.1f} posterior sds apart. Summaries that "
            "average the chains are not meaningful: run longer chains, start them from the "
            "EM solution, reconsider the number of components, or analyse the groups "
            "separately (posterior.sel(chain=...))."
        )
    return ChainModeReport(
        multimodal=multimodal,
        groups=groups,
        distance=dist_da,
        max_distance=float(dist.max()),
        worst_parameter=labels[p],
        switched_chains=switched,
        threshold=float(threshold),
        message=message,
    )
