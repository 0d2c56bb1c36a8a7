"""``method="sparse"``: one overfitted mixture and its number of occupied components.

A single Bayesian fit with ``K_max = max(n_components)`` components and a
small Dirichlet concentration (:data:`SPARSE_ALPHA`; Malsiner-Walli,
Fruehwirth-Schnatter and Gruen, 2016) lets superfluous components empty out;
:func:`occupied_components` counts the non-empty ones per posterior draw and
the selected count is the posterior mode.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from bayesgmm import _kernels
from bayesgmm._validation import check_array
from bayesgmm.covariance import FULL_MATRICES
from bayesgmm.exceptions import SelectionWarning
from bayesgmm.selection._cells import _fit_bayes, _reemit, _run_cells, _warn_failures
from bayesgmm.selection._result import SelectionResult

__all__ = ["OCCUPIED_RHAT_MAX", "SPARSE_ALPHA", "SPARSE_GIBBS_THIN", "SPARSE_SPLIT_MERGE", "occupied_components",
           "occupied_rhat"]

#: Default Dirichlet concentration of the sparse overfitted mixture.
SPARSE_ALPHA = 0.01

#: Sweeps per kept draw of the sparse method's default sampler (``inference=None``:
#: Gibbs sampling with split-merge moves): the number of occupied components is
#: autocorrelated over many sweeps, and sweeps are cheap. With 20, Old Faithful modelled
#: as rounded gave an R-hat of the count of 1.002-1.021 over three seeds; with 50,
#: 1.002-1.005 in 45-53 s (``benchmarks/sparse_default.py --units``; ``benchmarks/README.md``).
SPARSE_GIBBS_THIN = 50

#: Split-merge moves per sweep of the sparse method's default sampler (Gibbs, where every
#: covariance type has a covariance factor per component, i.e. not ``"tied"``): the
#: number of occupied components then changes by whole clusters, not one allocation at a
#: time (:mod:`bayesgmm.inference._split_merge`; on iris, modelled as rounded, the chains
#: agree where without the moves they stay where they start; ``benchmarks/README.md``).
SPARSE_SPLIT_MERGE = 1

def occupied_components(
    posterior,
    X,
    *,
    random_state=None,
    memory_budget=64 * 2**20,
):
    """Number of occupied (non-empty) components per posterior draw.

    For each draw ``s`` the allocations are sampled,
    ``z_n ~ Categorical(r_n(theta_s))`` with the responsibilities
    ``r_nk(theta_s) proportional to w_sk N(x_n | mu_sk, Sigma_sk)``, and the
    number of distinct values of ``z`` is counted (the ``K_+`` of
    Malsiner-Walli, Fruehwirth-Schnatter and Gruen, 2016). Also returned is its
    conditional expectation given ``theta_s``,
    ``sum_k [1 - prod_n (1 - r_nk(theta_s))]``, which has no sampling noise.
    The responsibilities come from the package's shared mixture kernels (the
    log-densities on the data centred at their mean, normalised by
    log-sum-exp), a block of draws at a time, so that no chain x draw x obs x
    component array is ever held whole.

    Parameters
    ----------
    posterior : xarray.Dataset
        ``weights`` (chain, draw, component), ``means`` (..., feature) and
        ``covariances`` (..., feature, feature_bis), as in a fit's
        ``idata_.posterior``.
    X : array-like of shape (n_samples, n_features)
        The data the model was fitted to.
    random_state : int, numpy Generator or None
        Seeds the allocation draws; the same seed gives the same counts.
    memory_budget : int, default 64 MiB
        Bytes of working memory per block of draws.

    Returns
    -------
    xarray.Dataset
        ``occupied`` (chain, draw) int: sampled number of occupied components;
        ``expected_occupied`` (chain, draw) float: its expectation given the
        draw's parameters.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from bayesgmm.selection import occupied_components
    >>> X = np.array([[0.0], [0.1], [10.0], [10.1]])
    >>> post = xr.Dataset({
    ...     "weights": (("chain", "draw", "component"), [[[0.5, 0.5, 0.0]]]),
    ...     "means": (("chain", "draw", "component", "feature"), [[[[0.0], [10.0], [5.0]]]]),
    ...     "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
    ...                     np.ones((1, 1, 3, 1, 1))),
    ... })
    >>> occupied_components(post, X, random_state=0)["occupied"].item()
    2
    """
    if not isinstance(posterior, xr.Dataset):
        raise TypeError(
            "`posterior` must be an xarray.Dataset with weights, means and covariances "
            f"(e.g. model.idata_.posterior.to_dataset()); got {type(posterior).__name__}."
        )
    missing = [v for v in ("weights", "means", "covariances") if v not in posterior]
    if missing:
        raise ValueError(
            f"`posterior` lacks the variable(s) {missing}; it needs weights, means and "
            "covariances with dims (chain, draw, component, ...)."
        )
    w = posterior["weights"].transpose("chain", "draw", "component").to_numpy()
    m = posterior["means"].transpose("chain", "draw", "component", "feature").to_numpy()
    c = posterior["covariances"].transpose(
        "chain", "draw", "component", "feature", "feature_bis"
    ).to_numpy()
    Xa, _ = check_array(X, name="X", allow_dask=False)
    if Xa.shape[1] != m.shape[-1]:
        raise ValueError(
            f"`X` has {Xa.shape[1]} features but the posterior means have {m.shape[-1]}; "
            "pass the data the model was fitted to."
        )
    C, Sd, K = w.shape
    D = m.shape[-1]
    S, N = C * Sd, Xa.shape[0]
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError("`posterior['weights']` must be finite and >= 0.")
    w = w.reshape(S, K)
    with np.errstate(divide="ignore"):
        log_w = np.log(w / w.sum(axis=1, keepdims=True))
    # The log-densities are evaluated on data and means centred at the data mean:
    # the same densities, without the cancellation of (x - mu) P formed as
    # x P - mu P on badly scaled data (as the EM fit centres its data).
    shift = Xa.mean(axis=0)
    Xc = Xa - shift
    m = m.reshape(S, K, D) - shift
    c = c.reshape(S * K, D, D)
    rng = np.random.default_rng(random_state)
    # working set per draw: weighted log-probabilities, responsibilities, cumsum and
    # one temporary (N x K each)
    per_draw = 8 * N * K * 4 + 8 * K * D * D
    step = int(max(1, min(S, memory_budget // max(1, per_draw))))
    occ = np.empty(S, dtype=np.int64)
    expected = np.empty(S, dtype=np.float64)
    for start in range(0, S, step):
        sl = slice(start, min(S, start + step))
        B = sl.stop - sl.start
        r = _responsibilities(Xc, m[sl], c[sl.start * K : sl.stop * K], log_w[sl])  # (N, B, K)
        with np.errstate(divide="ignore"):
            log_empty = np.log1p(-np.minimum(r, 1.0)).sum(axis=0)  # (B, K)
        expected[sl] = np.sum(1.0 - np.exp(log_empty), axis=1)
        cum = np.cumsum(r, axis=2)
        # uniforms drawn draw-major, so the counts do not depend on the block size
        u = rng.random((B, N)).T[:, :, None] * cum[:, :, -1:]
        z = np.minimum((cum < u).sum(axis=2), K - 1)  # (N, B)
        used = np.zeros((B, K), dtype=bool)
        used[np.broadcast_to(np.arange(B), (N, B)), z] = True
        occ[sl] = used.sum(axis=1)
    coords = {d: posterior[d].to_numpy() for d in ("chain", "draw") if d in posterior.coords}
    return xr.Dataset(
        {
            "occupied": (("chain", "draw"), occ.reshape(C, Sd)),
            "expected_occupied": (("chain", "draw"), expected.reshape(C, Sd)),
        },
        coords=coords,
    )


def _responsibilities(X, means, covariances, log_weights):
    """Responsibilities ``r_nk`` of a block of B draws, shape (N, B, K).

    ``means`` (B, K, D), ``covariances`` (B * K, D, D) and ``log_weights``
    (B, K); the draws' components are stacked into one call of the shared
    log-density kernel and normalised by its log-sum-exp.
    """
    B, K, D = means.shape
    N = X.shape[0]
    prec_chol = FULL_MATRICES.precision_cholesky(covariances)
    wlp = _kernels.estimate_log_gaussian_prob(
        X, means.reshape(B * K, D), prec_chol, FULL_MATRICES
    ).reshape(N, B, K)
    wlp += log_weights[None, :, :]
    _, log_resp = _kernels.log_responsibilities(wlp.reshape(N * B, K))
    return np.exp(log_resp, out=log_resp).reshape(N, B, K)


def _sorted_weights_mean(weights):
    """Posterior mean of the weights sorted in decreasing order within each draw.

    Label-invariant (unlike the per-component mean, which mixes the switching
    labels of the empty components of an overfitted mixture).
    """
    w = np.asarray(weights.transpose(..., "component").to_numpy(), dtype=np.float64)
    w = w.reshape(-1, w.shape[-1])
    return -np.sort(-w, axis=1).mean(axis=0)


def _select_sparse(X, Xa, ks, cts, n_init, seed, progressbar, n_jobs, priors, fit_kwargs):
    """``select_components(method="sparse")`` once its arguments are checked.

    ``X`` is the data as passed to the fit, ``Xa`` its checked numpy array.
    """
    from bayesgmm import _datatree
    from bayesgmm.priors import Priors

    k_max = max(ks)
    if k_max < 2:
        raise ValueError(
            "method='sparse' fits one overfitted mixture with max(n_components) components; "
            f"got max(n_components)={k_max}. Pass e.g. n_components=range(1, 11)."
        )
    if priors is None:
        priors = Priors(weights_alpha=SPARSE_ALPHA)
    from bayesgmm.inference import MCMC_METHODS

    if fit_kwargs.get("method", "nuts") not in MCMC_METHODS:
        warnings.warn(
            f"method='sparse' with inference={fit_kwargs['method']!r}: variational "
            "approximations tend to keep superfluous components occupied, so the number "
            "of occupied components is overstated. Use inference='gibbs' (or 'tempering' or 'nuts').",
            SelectionWarning,
            stacklevel=3,
        )
    cells = [(k_max, ct) for ct in cts]
    options = {"n_init": n_init, "kwargs": dict(fit_kwargs), "priors": priors}
    results = _run_cells(
        _fit_bayes, X, cells, seed, options, n_jobs, progressbar, "select_components(sparse)"
    )
    _reemit(results, cells, stacklevel=4)
    _warn_failures(results, cells, stacklevel=4)
    ok = [c for c in cells if results[c]["error"] is None]
    if not ok:
        raise ValueError("the overfitted mixture failed to fit (see the warning above).")
    n_occ = np.arange(1, k_max + 1)
    prob = np.full((len(cts), k_max), np.nan)
    occ_list, exp_list, w_list = [], [], []
    message = []
    for j, ct in enumerate(cts):
        r = results[(k_max, ct)]
        message.append(r["error"] or " | ".join(m for _, m in r["warnings"]))
        if r["error"] is not None:
            occ_list.append(None)
            exp_list.append(None)
            w_list.append(np.full(k_max, np.nan))
            continue
        post = _datatree.get_posterior(r["model"].idata_)
        oc = occupied_components(post, Xa, random_state=seed)
        stats = _datatree.get_sample_stats(r["model"].idata_)
        if stats is not None and "occupied" in stats:
            # Gibbs: the count of the sampler's own allocations, a draw from the joint
            # posterior (exact also where the data are modelled as rounded, where the
            # responsibilities at the observed values are not the model's)
            oc["occupied"] = stats["occupied"].astype(np.int64).assign_coords(oc["occupied"].coords)
        counts = np.bincount(oc["occupied"].to_numpy().ravel(), minlength=k_max + 1)[1:]
        prob[j] = counts / counts.sum()
        occ_list.append(oc["occupied"])
        exp_list.append(oc["expected_occupied"])
        w_list.append(_sorted_weights_mean(post["weights"]))
    template = next(o for o in occ_list if o is not None)
    occ = xr.concat(
        [o if o is not None else xr.full_like(template, -1) for o in occ_list],
        dim=xr.DataArray(cts, dims="covariance_type"),
    )
    exp = xr.concat(
        [o if o is not None else xr.full_like(template, np.nan, dtype=float) for o in exp_list],
        dim=xr.DataArray(cts, dims="covariance_type"),
    )
    table = xr.Dataset(
        {
            "probability": (("covariance_type", "n_occupied"), prob,
                            {"long_name": "posterior probability of the number of occupied components"}),
            "occupied": occ.assign_attrs(long_name="sampled number of occupied components per draw"),
            "expected_occupied": exp.assign_attrs(
                long_name="expected number of occupied components given the draw"
            ),
            "weights_sorted_mean": (
                ("covariance_type", "rank"),
                np.vstack(w_list),
                {"long_name": "posterior mean of the weights sorted in decreasing order "
                              "within each draw (label-invariant; rank 0 = largest)"},
            ),
            "message": (("covariance_type",), np.asarray(message, dtype=str)),
        },
        coords={"n_occupied": n_occ, "covariance_type": np.asarray(cts),
                "rank": np.arange(k_max)},
    )
    p_ok = np.where(np.isfinite(prob), prob, -1.0)
    j_best, i_best = np.unravel_index(int(np.argmax(p_ok)), p_ok.shape)
    # mode per covariance type; the selected cell is the type whose mode is most probable
    modes = [int(n_occ[np.argmax(p_ok[j])]) if np.isfinite(prob[j]).all() else -1 for j in range(len(cts))]
    table["mode"] = (("covariance_type",), np.asarray(modes, dtype=np.int64))
    best_k = int(n_occ[i_best])
    best_ct = cts[j_best]
    table.attrs.update(
        method="sparse",
        criterion="posterior mode of the number of occupied components",
        k_max=int(k_max),
        weights_alpha=str(priors.weights_alpha),
        best_n_components=best_k,
        best_covariance_type=best_ct,
    )
    _warn_disagreeing_chains(occ_list, cts, fit_kwargs.get("method", "nuts"))
    _warn_tied_values(X, Xa, cts, fit_kwargs.get("method", "nuts"), fit_kwargs.get("resolution"))
    models = {c: results[c]["model"] for c in cells}
    return SelectionResult("sparse", table, best_k, best_ct, models[(k_max, best_ct)], models)


#: R-hat of the number of occupied components above which the chains are said to disagree.
OCCUPIED_RHAT_MAX = 1.01


def occupied_rhat(occupied):
    """Rank-normalised split R-hat of the number of occupied components, or NaN when it is
    undefined (one chain, or the same count in every draw: then the chains agree).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from bayesgmm.selection._sparse import occupied_rhat
    >>> occ = xr.DataArray(np.array([[2, 2, 3, 2] * 25, [4, 4, 4, 5] * 25]), dims=("chain", "draw"))
    >>> bool(occupied_rhat(occ) > 1.5)
    True
    """
    import arviz_stats as azs

    o = np.asarray(occupied, dtype=float)
    if o.ndim != 2 or o.shape[0] < 2 or np.all(o == o.flat[0]):
        return float("nan")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return float(azs.rhat(xr.Dataset({"o": (("chain", "draw"), o)}), sample_dims=("chain", "draw"))["o"])


def _warn_tied_values(X, Xa, cts, inference, resolution):
    """Say so when tied observations make the overfitted mixture's posterior improper.

    A component holding only observations that share the value of a feature has a
    likelihood growing like ``sd^-(m - 1)`` (``m`` such observations) as its sd in that
    feature goes to 0, and the half-normal sd prior does not vanish there: the posterior
    mass near such "spikes" is infinite. A sampler finds them slowly, so the number of
    occupied components creeps up with longer runs and chains disagree. Which ties
    matter is the covariance type's :attr:`~bayesgmm.covariance.CovarianceModel.singular_on_ties`;
    features given a rounding step (Gibbs's ``resolution``) are modelled as rounded, and
    their ties are harmless.
    """
    from bayesgmm._data import feature_labels, tied_values
    from bayesgmm.covariance import get_covariance_type

    per_feature, duplicate_rows, step = tied_values(Xa)
    n, d = Xa.shape
    rounded = np.zeros(d, dtype=bool)
    if resolution is not None and inference == "gibbs":
        rounded = np.broadcast_to(np.asarray(resolution, dtype=float), (d,)) > 0
    columns = getattr(X, "columns", None)  # X as passed to the fits: a DataFrame when named
    names = feature_labels(None if columns is None else list(columns), d)
    tied = (per_feature > 0) & ~rounded
    for ct in cts:
        on = get_covariance_type(ct).singular_on_ties
        if on == "feature" and tied.any():
            where = ", ".join(f"{names[j]}: {per_feature[j]} of {n}" for j in np.flatnonzero(tied))
            what = f"observations that share their value of a feature with another ({where})"
        elif on == "row" and duplicate_rows and not rounded.all():
            what = f"{duplicate_rows} of {n} observations that repeat another row exactly"
        else:
            continue
        steps = ", ".join(f"{v:.3g}" if np.isfinite(v) else "0" for v in step)
        how = (
            f"resolution=[{steps}]" if d > 1 else f"resolution={steps}"
        )
        warnings.warn(
            f"[covariance_type={ct!r}] The data have tied values: {what}. A component that holds "
            "only tied observations has a likelihood that grows without bound as its sd goes to 0, "
            "and the half-normal prior on the sds does not prevent it: the posterior is improper, "
            "and the longer a sampler runs the more it puts on such tiny components (the number of "
            "occupied components creeps up and chains disagree). If the values are rounded, say so: "
            "with inference='gibbs' pass the unit each feature was recorded in as `resolution`, and "
            f"the sampler models the data as rounded (the smallest gaps between distinct values, {how}, "
            "are a lower bound: a finer step than the real one leaves tied values looking like point "
            "masses); or use covariance_type='tied'. See docs/user-guide/choosing-components.md.",
            SelectionWarning,
            stacklevel=4,
        )


def _warn_disagreeing_chains(occ_list, cts, inference):
    """Say so when the chains disagree on the number of occupied components: its
    posterior probabilities then describe the starting points more than the posterior."""
    for occ, ct in zip(occ_list, cts):
        if occ is None:
            continue
        rh = occupied_rhat(occ)
        if not rh > OCCUPIED_RHAT_MAX:
            continue
        o = np.asarray(occ)
        modes = [int(np.bincount(row).argmax()) for row in o]
        how = (
            "increase `thin` (sweeps per kept draw) and `draws`"
            if inference == "gibbs"
            else "use inference='gibbs' (with a larger `thin`), or increase `draws` and `tune`"
        )
        warnings.warn(
            f"[covariance_type={ct!r}] The chains disagree on the number of occupied components "
            f"(R-hat {rh:.3f} > {OCCUPIED_RHAT_MAX}; the most frequent count per chain: {modes}): "
            "its posterior probabilities in `table['probability']` are not reliable, and the "
            f"selected count may change from run to run. To mix longer, {how}.",
            SelectionWarning,
            stacklevel=4,
        )
