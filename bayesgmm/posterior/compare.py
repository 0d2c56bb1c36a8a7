"""EM point estimates against the posterior, and EM labels against the posterior partition.

Works on any set of draws in the contract's ``posterior`` layout, so NUTS and VI
results (or VI against NUTS, by passing a posterior summary in the ``em`` layout) are
compared the same way.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment

from bayesgmm.posterior._common import (
    CI_KINDS,
    em_arrays,
    interval_bounds,
    posterior_arrays,
    resolve_ci,
)
from bayesgmm.posterior.partition import _check_labels, adjusted_rand_index

__all__ = ["compare_em", "compare_partitions"]

_VARS = ("weights", "means", "sds", "correlations")


def _derived(weights, means, cov):
    """weights, means, sds, correlations (upper triangle i < j) from full covariances."""
    sds = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    corr = cov / (sds[..., :, None] * sds[..., None, :])
    D = means.shape[-1]
    iu = np.triu_indices(D, 1)
    return {
        "weights": weights,
        "means": means,
        "sds": sds,
        "correlations": corr[..., iu[0], iu[1]],
    }


def _labels(var, comp, feat):
    K, D = len(comp), len(feat)
    if var == "weights":
        return [f"weights[{k}]" for k in comp]
    if var in ("means", "sds"):
        return [f"{var}[{k}, {f}]" for k in comp for f in feat]
    iu = np.triu_indices(D, 1)
    # the pair named "a:b", as in BayesianGMM.summary() (one naming of correlation pairs)
    return [f"correlations[{k}, {feat[i]}:{feat[j]}]" for k in comp for i, j in zip(*iu)]


def _plugin_se(ref, var, n_obs):
    """Complete-data ("assignments known") standard errors of the EM estimates."""
    w = ref["weights"]
    nk = np.maximum(n_obs * w, 1e-300)
    if var == "weights":
        return np.sqrt(w * (1 - w) / n_obs)
    if var == "means":
        return ref["sds"] / np.sqrt(nk)[:, None]
    if var == "sds":
        return ref["sds"] / np.sqrt(2 * nk)[:, None]
    return (1 - ref["correlations"] ** 2) / np.sqrt(nk)[:, None]


def _observed_se(X, covariance_type, weights, means, covariances, var_names):
    """EM standard errors from the observed information (Louis 1982), by the delta method.

    The observed information is minus the Hessian of the observed-data
    log-likelihood at the EM estimate (the MLE), which Louis's identity writes as
    the complete-data information minus the missing information (the
    conditional variance of the complete-data score). It is computed here
    directly: central differences of the analytic log-likelihood gradient of
    :class:`~bayesgmm._logdensity.MixtureDensity` in its unconstrained
    parametrisation (each covariance type's own free parameters), inverted, and
    carried to weights, means, sds and correlations by the delta method.
    Returns the standard errors in the order of the table's rows, NaN where
    the information is not positive definite (a degenerate EM fit).
    """
    from bayesgmm._logdensity import MixtureDensity

    X = np.asarray(X, dtype=np.float64)
    K, D = np.shape(means)
    dens = MixtureDensity(X, K, covariance_type)
    x0 = dens.pack(weights, means, covariances)

    def grad_ll(x):  # the log-likelihood's gradient: the prior's part does not scale
        return dens.logp_and_grad(x, scale=1.0)[1] - dens.logp_and_grad(x, scale=0.0)[1]

    def derived(x):
        u = dens.unpack(x)
        d = _derived(u["weights"], u["means"], u["covariances"])
        return np.concatenate([
            np.asarray(d[v]).reshape(-1) for v in var_names if not (v == "correlations" and D < 2)
        ])

    P = x0.size
    h = 1e-5 * np.maximum(1.0, np.abs(x0))
    H = np.empty((P, P))
    J = np.empty((derived(x0).size, P))
    for j in range(P):
        e = np.zeros(P)
        e[j] = h[j]
        H[:, j] = (grad_ll(x0 + e) - grad_ll(x0 - e)) / (2 * h[j])
        J[:, j] = (derived(x0 + e) - derived(x0 - e)) / (2 * h[j])
    info = -(H + H.T) / 2
    try:
        np.linalg.cholesky(info)
        cov_x = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return np.full(J.shape[0], np.nan)
    var = np.einsum("ij,jk,ik->i", J, cov_x, J)
    return np.sqrt(np.maximum(var, 0.0))


def compare_em(
    posterior, em, *, ci_prob: float | None = None, ci_kind: str | None = None,
    var_names=_VARS, n_obs: int | None = None, hdi_prob: float | None = None,
    X=None, covariance_type=None,
) -> xr.Dataset:
    """Compare the EM estimates with the posterior, parameter by parameter.

    For each scalar parameter (weights; means; standard deviations and correlations,
    derived from the covariance matrices): the EM value, the posterior mean and sd, the
    ``ci_prob`` credible interval, whether the EM value lies inside it, and the
    standardised difference ``(EM - mean) / sd``.

    Parameters
    ----------
    posterior : xarray.Dataset or xarray.DataTree
        Relabelled draws (``weights``, ``means``, ``covariances``), from NUTS or VI.
    em : xarray.Dataset or xarray.DataTree
        The EM fit in the ``em`` layout (same component labels as the relabelled
        posterior).
    ci_prob : float, optional
        Mass of the credible interval; default
        ``arviz_base.rcParams["stats.ci_prob"]`` (0.89 unless changed).
    ci_kind : {"eti", "hdi"}, optional
        Equal-tailed or highest-density interval; default
        ``arviz_base.rcParams["stats.ci_kind"]``.
    var_names : sequence of {"weights", "means", "sds", "correlations"}
        Parameters to include (correlations only exist for two or more features; only
        the pairs i < j are listed).
    n_obs : int, optional
        Number of observations the models were fitted to.  When given, the table also
        has ``em_se``, the EM plug-in standard error that treats the cluster
        assignments as known (weights ``sqrt(w (1 - w) / N)``, means
        ``sd / sqrt(N w)``, sds ``sd / sqrt(2 N w)``, correlations
        ``(1 - rho^2) / sqrt(N w)``), and ``sd_ratio = sd / em_se``: values well above
        1 show how much uncertainty the plug-in view misses when components overlap.
    hdi_prob : float, optional
        Deprecated name of ``ci_prob`` (a FutureWarning; removed in the next release).
    X : array-like of shape (n_obs, n_features), optional
        The data EM was fitted to. When given (with ``covariance_type``),
        ``em_se`` is the standard error from the observed information (Louis
        1982): minus the Hessian of the observed-data log-likelihood at the EM
        estimate, in the covariance type's own parametrisation, carried to
        each parameter by the delta method. It includes the information lost
        to the unknown assignments, so it is the standard error to compare
        with the posterior sd (``sd_ratio`` near 1 for a regular posterior);
        the complete-data one is kept as ``em_se_complete``.
    covariance_type : str, optional
        The EM fit's covariance type (needed with ``X``).

    Returns
    -------
    xarray.Dataset
        dim ``parameter`` (labels such as ``"means[0, x1]"``, ``"correlations[0,
        x1:x2]"`` as in :meth:`bayesgmm.BayesianGMM.summary`), with a ``variable``
        coordinate (``"means"``) and the variables ``em``, ``mean``, ``sd``, ``lower``,
        ``upper``, ``em_inside`` (bool) and ``std_diff``; attrs ``ci_prob``,
        ``ci_kind`` and ``interval``.  ``.to_dataframe()`` gives one readable row per parameter.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> post = xr.Dataset({
    ...     "weights": (("chain", "draw", "component"), np.full((1, 200, 1), 1.0)),
    ...     "means": (("chain", "draw", "component", "feature"),
    ...               rng.normal(0.0, 0.1, (1, 200, 1, 1))),
    ...     "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
    ...                     np.ones((1, 200, 1, 1, 1)))})
    >>> em = xr.Dataset({"weights": ("component", [1.0]),
    ...                  "means": (("component", "feature"), [[0.5]]),
    ...                  "covariances": (("component", "feature", "feature_bis"), [[[1.0]]])})
    >>> table = compare_em(post, em, var_names=["means"])
    >>> table["parameter"].values.tolist(), bool(table["em_inside"][0])
    (['means[0, 0]'], False)
    """
    ci_prob, ci_kind = resolve_ci(ci_prob, ci_kind, hdi_prob)
    if isinstance(var_names, str):
        var_names = [var_names]
    unknown = [v for v in var_names if v not in _VARS]
    if unknown or not var_names:
        raise ValueError(f"var_names must be a non-empty subset of {_VARS}; got {list(var_names)}.")
    ds, w, m, c = posterior_arrays(posterior)
    eds, ew, emn, ec = em_arrays(em)
    C, S, K, D = m.shape
    if ew.shape[0] != K or emn.shape[1] != D:
        raise ValueError(
            f"em has {ew.shape[0]} components and {emn.shape[1]} features but the posterior "
            f"has {K} and {D}; compare fits with the same n_components and data."
        )
    comp = (
        ds["weights"]["component"].to_numpy().tolist()
        if "component" in ds["weights"].coords
        else list(range(K))
    )
    feat = (
        [str(f) for f in ds["means"]["feature"].to_numpy()]
        if "feature" in ds["means"].coords
        else [str(i) for i in range(D)]
    )
    post = _derived(w.reshape(C * S, K), m.reshape(C * S, K, D), c.reshape(C * S, K, D, D))
    ref = _derived(ew, emn, ec)
    if n_obs is not None and (
        isinstance(n_obs, bool) or not isinstance(n_obs, (int, np.integer)) or n_obs < 1
    ):
        raise ValueError(f"n_obs must be a positive integer (the number of rows of X); got {n_obs!r}.")
    rows = {k: [] for k in ("label", "variable", "em", "mean", "sd", "lower", "upper", "se")}
    for var in var_names:
        if var == "correlations" and D < 2:
            continue
        draws = post[var].reshape(C * S, -1)
        value = ref[var].reshape(-1)
        labels = _labels(var, comp, feat)
        q = interval_bounds(draws, ci_prob, ci_kind, axis=0)
        rows["label"] += labels
        rows["variable"] += [var] * len(labels)
        rows["em"].append(value)
        rows["mean"].append(draws.mean(axis=0))
        rows["sd"].append(draws.std(axis=0, ddof=1) if C * S > 1 else np.zeros(len(labels)))
        rows["lower"].append(q[0])
        rows["upper"].append(q[1])
        if n_obs is not None:
            rows["se"].append(_plugin_se(ref, var, int(n_obs)).reshape(-1))
    arr = {k: np.concatenate(rows[k]) for k in ("em", "mean", "sd", "lower", "upper")}
    with np.errstate(divide="ignore", invalid="ignore"):
        std_diff = (arr["em"] - arr["mean"]) / arr["sd"]
    inside = (arr["em"] >= arr["lower"]) & (arr["em"] <= arr["upper"])
    interval = {"ci_prob": ci_prob, "ci_kind": ci_kind, "interval": CI_KINDS[ci_kind]}
    out = xr.Dataset(
        {
            "em": ("parameter", arr["em"]),
            "mean": ("parameter", arr["mean"]),
            "sd": ("parameter", arr["sd"]),
            "lower": ("parameter", arr["lower"], interval),
            "upper": ("parameter", arr["upper"], interval),
            "em_inside": ("parameter", inside),
            "std_diff": ("parameter", std_diff, {"description": "(em - mean) / sd"}),
        },
        coords={"parameter": rows["label"], "variable": ("parameter", rows["variable"])},
        attrs={**interval, "n_draws": C * S},
    )
    if X is not None:
        if covariance_type is None:
            raise ValueError("compare_em(X=...) needs covariance_type (the EM fit's).")
        n_obs = int(np.shape(X)[0]) if n_obs is None else n_obs
        rows["se"] = [_plugin_se(ref, v, int(n_obs)).reshape(-1) for v in var_names
                      if not (v == "correlations" and D < 2)]
    if X is not None:
        se_obs = _observed_se(X, covariance_type, ew, emn, ec, list(var_names))
        out["em_se"] = ("parameter", se_obs, {
            "description": "EM standard error from the observed information (Louis 1982)"})
        out["em_se_complete"] = ("parameter", np.concatenate(rows["se"]), {
            "description": "EM plug-in (complete-data, assignments known) standard error"})
        with np.errstate(divide="ignore", invalid="ignore"):
            out["sd_ratio"] = ("parameter", arr["sd"] / se_obs, {"description": "sd / em_se"})
        out.attrs["n_obs"] = int(n_obs)
    elif n_obs is not None:
        se = np.concatenate(rows["se"])
        out["em_se"] = ("parameter", se, {"description": "EM plug-in (complete-data) standard error"})
        with np.errstate(divide="ignore", invalid="ignore"):
            out["sd_ratio"] = ("parameter", arr["sd"] / se, {"description": "sd / em_se"})
        out.attrs["n_obs"] = int(n_obs)
    return out


def compare_partitions(
    em_labels,
    partition,
    membership: xr.Dataset | None = None,
    *,
    match: str = "auto",
    width_threshold: float = 0.5,
) -> xr.Dataset:
    """Agreement between the EM hard labels and a posterior point partition.

    Parameters
    ----------
    em_labels : array-like of shape (n_obs,)
        EM's ``predict(X)``.
    partition : xarray.DataArray or array-like of shape (n_obs,)
        From :func:`~bayesgmm.posterior.point_partition` or
        :func:`~bayesgmm.posterior.map_partition`.
    membership : xarray.Dataset, optional
        From :func:`~bayesgmm.posterior.membership_summary`; adds the width of each
        observation's interval for its most probable component and flags wide ones.
    match : {"auto", "overlap", "none"}, default "auto"
        How posterior clusters get EM labels: ``"overlap"`` matches clusters to EM
        labels one-to-one maximising the number of shared observations (Hungarian
        algorithm; clusters left over get label -1); ``"none"`` takes the labels as
        they are (right for the MAP partition of a posterior relabelled against EM);
        ``"auto"``: ``"none"`` when ``partition.attrs["loss"] == "map"``, else
        ``"overlap"``.
    width_threshold : float, default 0.5
        An interval ``probability_max_upper - probability_max_lower`` wider than this
        is flagged.

    Returns
    -------
    xarray.Dataset
        dim ``obs``: ``em_label``, ``posterior_label`` (in EM's labels), ``disagree``
        (bool) and, with ``membership``, ``interval_width`` and ``wide`` (bool);
        ``flagged`` = disagree or wide.  attrs ``adjusted_rand_index``,
        ``n_disagree``, ``n_wide``, ``n_flagged``, ``n_clusters_em``,
        ``n_clusters_posterior``.

    Examples
    --------
    >>> out = compare_partitions([0, 0, 1, 1, 1], [1, 1, 0, 0, 1])
    >>> out["posterior_label"].values.tolist(), out["disagree"].values.tolist()
    ([0, 0, 1, 1, 0], [False, False, False, False, True])
    >>> round(out.attrs["adjusted_rand_index"], 3)
    0.167
    """
    em_raw = em_labels.to_numpy() if isinstance(em_labels, xr.DataArray) else np.asarray(em_labels)
    if em_raw.ndim != 1:
        raise ValueError(f"em_labels must be 1-D; got shape {em_raw.shape}.")
    n = em_raw.shape[0]
    part_raw = partition.to_numpy() if isinstance(partition, xr.DataArray) else np.asarray(partition)
    part_idx = _check_labels(part_raw, "partition", n=n)
    if match not in ("auto", "overlap", "none"):
        raise ValueError(f"match must be 'auto', 'overlap' or 'none'; got {match!r}.")
    if match == "auto":
        is_map = isinstance(partition, xr.DataArray) and partition.attrs.get("loss") == "map"
        match = "none" if is_map else "overlap"
    em_vals, em_idx = np.unique(em_raw, return_inverse=True)
    if match == "none":
        post_lab = part_raw
    else:
        cont = np.zeros((part_idx.max() + 1, em_idx.max() + 1), dtype=np.int64)
        np.add.at(cont, (part_idx, em_idx), 1)
        rows, cols = linear_sum_assignment(-cont)
        mapping = np.full(cont.shape[0], -1, dtype=np.int64)
        mapping[rows] = cols
        mapped = mapping[part_idx]
        post_lab = np.where(mapped >= 0, em_vals[np.clip(mapped, 0, None)], -1)
        if em_vals.dtype.kind not in "iu":
            post_lab = np.where(mapped >= 0, em_vals[np.clip(mapped, 0, None)].astype(object), None)
    disagree = np.asarray(post_lab != em_raw, dtype=bool)
    obs = np.arange(n)
    if isinstance(partition, xr.DataArray) and "obs" in partition.coords:
        obs = partition["obs"].to_numpy()
    out = xr.Dataset(
        {
            "em_label": ("obs", em_raw),
            "posterior_label": ("obs", post_lab),
            "disagree": ("obs", disagree),
        },
        coords={"obs": obs},
    )
    flagged = disagree.copy()
    n_wide = 0
    if membership is not None:
        if not isinstance(membership, xr.Dataset) or not {
            "probability_max_lower",
            "probability_max_upper",
        } <= set(membership.data_vars):
            raise TypeError(
                "membership must be the Dataset from membership_summary() (with "
                "probability_max_lower/upper); got "
                f"{type(membership).__name__}."
            )
        if membership.sizes.get("obs") != n:
            raise ValueError(
                f"membership has {membership.sizes.get('obs')} observations but em_labels has {n}."
            )
        if isinstance(width_threshold, bool) or not 0 < float(width_threshold) < 1:
            raise ValueError(f"width_threshold must be in (0, 1); got {width_threshold!r}.")
        width = (membership["probability_max_upper"] - membership["probability_max_lower"]).to_numpy()
        wide = width > width_threshold
        out["interval_width"] = ("obs", width)
        out["wide"] = ("obs", wide)
        flagged |= wide
        n_wide = int(wide.sum())
    out["flagged"] = ("obs", flagged)
    out.attrs = {
        "adjusted_rand_index": adjusted_rand_index(em_raw, part_raw),
        "n_disagree": int(disagree.sum()),
        "n_wide": n_wide,
        "n_flagged": int(flagged.sum()),
        "n_clusters_em": int(em_vals.size),
        "n_clusters_posterior": int(part_idx.max() + 1),
        "match": match,
        "width_threshold": float(width_threshold),
    }
    return out
