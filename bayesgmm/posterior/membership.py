"""Cluster memberships with posterior uncertainty, and the posterior predictive density.

Given draws theta_s = (w, mu, Sigma)_s, the membership probabilities of an observation
are, per draw,

    r_nk(theta_s) = w_k N(x_n | mu_k, Sigma_k) / sum_j w_j N(x_n | mu_j, Sigma_j),

computed in log space.  The per-draw arrays have shape chain x draw x obs x component,
too large to hold for big data, so everything here is computed in chunks of
observations: for a chunk, all draws are evaluated at once (one matrix product with
the stacked precision Cholesky factors), reduced to means, quantiles and entropies,
and discarded.  The chunk size is chosen so that the chunk's working memory stays
under ``memory_budget`` (64 MiB by default).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.special import logsumexp

from bayesgmm.posterior._common import (
    DEFAULT_MEMORY_BUDGET,
    DrawParams,
    CI_KINDS,
    interval_bounds,
    resolve_ci,
    check_memory_budget,
    check_positive_int,
    chunk_size,
    iter_slices,
    logsumexp_axis1,
    noise_terms,
    posterior_arrays,
    validate_X,
)

__all__ = [
    "membership_summary",
    "membership_table",
    "predictive_membership",
    "posterior_predictive_log_density",
    "pointwise_log_likelihood",
]


def _prepare(posterior, X, name="X", missing="error"):
    ds, w, m, c = posterior_arrays(posterior)
    feat = ds["means"]["feature"].to_numpy() if "feature" in ds["means"].coords else None
    Xa, obs = validate_X(X, m.shape[-1], feat, name=name, missing=missing)
    comp = (
        ds["weights"]["component"].to_numpy()
        if "component" in ds["weights"].coords
        else np.arange(w.shape[-1])
    )
    noise = noise_terms(ds)
    if noise is not None and missing == "marginalize":
        raise ValueError(
            "missing='marginalize' cannot be used with a posterior that has the uniform noise "
            "component (noise_weight): its density 1/V has no marginal over a row's observed "
            "coordinates. Pass missing='error' and rows without NaN."
        )
    if noise is not None:  # the noise column: -1, as GaussianMixture.predict's noise label
        comp = np.append(comp, -1 if comp.dtype.kind in "iu" else "noise")
    return ds, DrawParams(w, m, c, noise=noise), Xa, obs, comp


def _obs_chunk(params: DrawParams, n_obs: int, obs_chunk, memory_budget) -> int:
    obs_chunk = check_positive_int(obs_chunk, "obs_chunk")
    budget = check_memory_budget(memory_budget)
    if obs_chunk is not None:
        return min(obs_chunk, n_obs)
    # per observation: all draws x K x (kernel temporaries ~2D + log-probs, exp, quantile
    # copy, per-draw entropy ~ 6)
    per_obs = 8 * params.n_draws * params.K * (2 * params.D + 6)
    return chunk_size(per_obs, budget, n_obs)


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """-sum p log p along ``axis`` (0 log 0 = 0), in nats."""
    logp = np.log(np.maximum(p, np.finfo(np.float64).tiny))
    logp *= p
    return -logp.sum(axis=axis)


def _summarise(params, X, ci_prob, ci_kind, step):
    N, K = X.shape[0], params.n_columns
    prob = np.empty((N, K))
    lower = np.empty((N, K))
    upper = np.empty((N, K))
    exp_ent = np.empty(N)
    pmax_lo = np.empty(N)
    pmax_hi = np.empty(N)
    for sl in iter_slices(N, step):
        R = params.responsibilities(X[sl], slice(None))  # (n, K, S)
        prob[sl] = R.mean(axis=2)
        exp_ent[sl] = _entropy(R, axis=1).mean(axis=1)
        lower[sl], upper[sl] = interval_bounds(R, ci_prob, ci_kind, axis=2)
        best = prob[sl].argmax(axis=1)
        rmax = R[np.arange(R.shape[0]), best]  # (n, S)
        pmax_lo[sl], pmax_hi[sl] = interval_bounds(rmax, ci_prob, ci_kind, axis=1)
        del R
    return prob, lower, upper, exp_ent, pmax_lo, pmax_hi


def _membership(posterior, X, ci, obs_chunk, memory_budget, name, missing="error"):
    ci_prob, ci_kind = ci
    ds, params, Xa, obs, comp = _prepare(posterior, X, name, missing)
    step = _obs_chunk(params, Xa.shape[0], obs_chunk, memory_budget)
    prob, lower, upper, exp_ent, pmax_lo, pmax_hi = _summarise(params, Xa, ci_prob, ci_kind, step)
    best = prob.argmax(axis=1)
    pmax = prob[np.arange(len(best)), best]
    interval = {"ci_prob": ci_prob, "ci_kind": ci_kind, "interval": CI_KINDS[ci_kind]}
    out = xr.Dataset(
        {
            "probability": (("obs", "component"), prob),
            "lower": (("obs", "component"), lower, interval),
            "upper": (("obs", "component"), upper, interval),
            "entropy": ("obs", _entropy(prob)),
            "expected_entropy": ("obs", exp_ent),
            "assignment": ("obs", comp[best]),
            "probability_max": ("obs", pmax),
            "probability_max_lower": ("obs", pmax_lo, interval),
            "probability_max_upper": ("obs", pmax_hi, interval),
        },
        coords={"obs": obs, "component": comp},
        attrs={
            **interval,
            "n_draws": params.n_draws,
            "entropy_units": "nats",
        },
    )
    return out


def membership_summary(
    posterior,
    X,
    *,
    ci_prob: float | None = None,
    ci_kind: str | None = None,
    hdi_prob: float | None = None,
    obs_chunk: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    missing: str = "error",
) -> xr.Dataset:
    """Posterior membership probabilities of each observation, with uncertainty.

    For every draw s, ``r_nk(s) = w_k N(x_n | mu_k, Sigma_k) / sum_j w_j N(x_n | mu_j,
    Sigma_j)`` (log space).  Summaries over the draws are computed in chunks of
    observations, never holding the chain x draw x obs x component array whole.

    Parameters
    ----------
    posterior : xarray.Dataset or xarray.DataTree
        Relabelled draws in the contract's ``posterior`` layout (``weights``, ``means``,
        ``covariances``).  Relabel first (:func:`~bayesgmm.posterior.relabel_draws`):
        per-component summaries of unrelabelled draws mix the components.  A
        ``noise_weight`` (chain, draw) variable with the attribute
        ``noise_hypervolume`` ``V`` (``BayesianGMM(noise=True)``) adds the uniform
        noise component: one more column, component ``-1``, with per-draw
        probability ``(w_0 / V) / p(x_n | theta_s)``.
    X : array-like of shape (n_obs, n_features)
        Data (numpy array, pandas DataFrame -- its unique index becomes ``obs`` --
        or an xarray DataArray: dims ``obs`` and ``feature`` are read by name, in
        either order; two other dim names positionally, rows = observations).
    ci_prob : float, optional
        Probability mass of the credible intervals; default
        ``arviz_base.rcParams["stats.ci_prob"]`` (0.89 unless changed).
    ci_kind : {"eti", "hdi"}, optional
        Equal-tailed or highest-density intervals; default
        ``arviz_base.rcParams["stats.ci_kind"]`` (``"eti"`` unless changed).
    hdi_prob : float, optional
        Deprecated name of ``ci_prob`` (a FutureWarning; removed in the next release).
    obs_chunk : int, optional
        Observations per chunk; by default chosen from ``memory_budget``.
    memory_budget : int, default 64 MiB
        Bytes of working memory per chunk (all draws x chunk x components).
    missing : {"error", "marginalize"}, default "error"
        NaN in ``X``: an error, or missing values (missing at random) whose
        coordinates are integrated out: each row's memberships come from the
        density of its observed coordinates (``"marginalize"``; the same
        keyword in :func:`predictive_membership`,
        :func:`posterior_predictive_log_density` and
        :func:`pointwise_log_likelihood`).

    Returns
    -------
    xarray.Dataset
        dims (obs, component):

        * ``probability`` (obs, component): posterior mean membership probability.
        * ``lower``, ``upper`` (obs, component): the ``ci_prob`` interval of the
          per-draw probability.
        * ``entropy`` (obs): entropy (nats) of the posterior mean probabilities, the
          total uncertainty of the assignment; 0 = certain, ``log K`` = uniform.
        * ``expected_entropy`` (obs): mean over draws of the per-draw entropy, the part
          of the uncertainty due to overlapping components at fixed parameters;
          ``entropy - expected_entropy`` (>= 0) is the part due to parameter
          uncertainty (mutual information).
        * ``assignment`` (obs): the most probable component (MAP assignment).  (The
          contract's name ``component`` cannot be used: xarray forbids a data variable
          with the name of the ``component`` dimension coordinate.)
        * ``probability_max`` (obs) its mean probability, with
          ``probability_max_lower`` / ``probability_max_upper``.

        attrs ``ci_prob``, ``ci_kind``, ``interval`` ("equal-tailed" or "highest
        density"), ``n_draws``. :func:`membership_table` turns it into a wide
        table, one row per observation.

    See Also
    --------
    predictive_membership : the same for new data.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> post = xr.Dataset({
    ...     "weights": (("chain", "draw", "component"), np.full((1, 2, 2), 0.5)),
    ...     "means": (("chain", "draw", "component", "feature"),
    ...               np.array([[[[0.0], [4.0]], [[0.0], [4.4]]]])),
    ...     "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
    ...                     np.ones((1, 2, 2, 1, 1)))})
    >>> m = membership_summary(post, np.array([[0.0], [2.0]]))
    >>> m["assignment"].values.tolist()
    [0, 0]
    >>> m["probability"].values.round(2)
    array([[1. , 0. ],
           [0.6, 0.4]])
    >>> m["entropy"].values.round(2)
    array([0.  , 0.67])
    """
    ci = resolve_ci(ci_prob, ci_kind, hdi_prob)
    return _membership(posterior, X, ci, obs_chunk, memory_budget, "X", missing)


def predictive_membership(
    posterior,
    X_new,
    *,
    ci_prob: float | None = None,
    ci_kind: str | None = None,
    hdi_prob: float | None = None,
    obs_chunk: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    missing: str = "error",
) -> xr.Dataset:
    """Membership probabilities of new observations, averaged over the posterior.

    ``p(z = k | x_new, data) = E_theta[ r_k(x_new; theta) ]``, with its credible
    interval over draws: the computation of :func:`membership_summary` applied to
    ``X_new``.  ``probability`` is what ``predict_proba`` returns and ``assignment``
    what ``predict`` returns.

    Parameters
    ----------
    posterior : xarray.Dataset or xarray.DataTree
        Relabelled posterior draws.
    X_new : array-like of shape (n_obs, n_features)
        New data.
    ci_prob, ci_kind, hdi_prob, obs_chunk, memory_budget, missing
        As in :func:`membership_summary`.

    Returns
    -------
    xarray.Dataset
        Same variables as :func:`membership_summary`.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> post = xr.Dataset({
    ...     "weights": (("chain", "draw", "component"), np.full((1, 1, 2), 0.5)),
    ...     "means": (("chain", "draw", "component", "feature"), [[[[0.0], [4.0]]]]),
    ...     "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
    ...                     np.ones((1, 1, 2, 1, 1)))})
    >>> predictive_membership(post, [[2.0], [5.0]])["assignment"].values.tolist()
    [0, 1]
    """
    ci = resolve_ci(ci_prob, ci_kind, hdi_prob)
    return _membership(posterior, X_new, ci, obs_chunk, memory_budget, "X_new", missing)


def membership_table(membership: xr.Dataset, X=None, *, decimals: int | None = None):
    """The memberships as a wide :class:`pandas.DataFrame`: one row per observation.

    ``membership.to_dataframe()`` is long (one row per observation and component,
    the per-observation columns repeated); this is the table to read or write to
    CSV.

    Parameters
    ----------
    membership : xarray.Dataset
        From :func:`membership_summary`, :func:`predictive_membership` or
        :meth:`bayesgmm.BayesianGMM.membership`.
    X : pandas.DataFrame, xarray.DataArray (obs, feature) or None
        Data to put first (one column per feature), in the rows' order.
    decimals : int or None, default None
        ``None``: unrounded values. An int rounds the probabilities and their
        bounds, and puts each rounded probability inside its rounded interval,
        so that a point mass reads as one: the posterior mean of a probability
        whose ``ci_prob`` interval is the single point 1.0 can be 0.998 (the
        mean weighs the few draws outside the interval), printed 1.0 with
        ``[1.0, 1.0]``. Entropies are rounded too.

    Returns
    -------
    pandas.DataFrame
        Index ``obs``. Columns: the features (with ``X``); ``component`` (the
        most probable); ``probability``, ``lower``, ``upper`` (its probability
        and interval); ``entropy`` (nats); then for each component ``k``
        ``probability_k``, ``lower_k``, ``upper_k``. ``attrs`` keeps
        ``ci_prob``, ``ci_kind`` and ``interval``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from bayesgmm.posterior import membership_summary, membership_table
    >>> post = xr.Dataset({
    ...     "weights": (("chain", "draw", "component"), np.full((1, 2, 2), 0.5)),
    ...     "means": (("chain", "draw", "component", "feature"),
    ...               np.array([[[[0.0], [4.0]], [[0.0], [4.4]]]])),
    ...     "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
    ...                     np.ones((1, 2, 2, 1, 1)))})
    >>> m = membership_summary(post, np.array([[0.0], [2.0]]), ci_prob=0.9)
    >>> t = membership_table(m, decimals=2)
    >>> t[["component", "probability", "lower", "upper"]].to_numpy().tolist()
    [[0.0, 1.0, 1.0, 1.0], [0.0, 0.6, 0.51, 0.7]]
    """
    import pandas as pd

    if not isinstance(membership, xr.Dataset) or "probability" not in membership:
        raise TypeError(
            "membership must be the xarray.Dataset of membership_summary(), "
            f"predictive_membership() or BayesianGMM.membership(); got {type(membership).__name__}."
        )
    if decimals is not None and (isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer))):
        raise TypeError(f"decimals must be an int or None; got {decimals!r}.")
    prob = membership["probability"].transpose("obs", "component").to_numpy()
    lower = membership["lower"].transpose("obs", "component").to_numpy()
    upper = membership["upper"].transpose("obs", "component").to_numpy()
    entropy = membership["entropy"].to_numpy()
    if decimals is not None:
        lower, upper = np.round(lower, decimals), np.round(upper, decimals)
        prob = np.clip(np.round(prob, decimals), lower, upper)
        entropy = np.round(entropy, decimals)
    obs = membership["obs"].to_numpy()
    df = pd.DataFrame(index=pd.Index(obs, name="obs"))
    if X is not None:
        if isinstance(X, xr.DataArray):
            data = X.transpose("obs", "feature")
            values = data.to_numpy()
            cols = [str(f) for f in data["feature"].to_numpy()]
        else:
            values = np.asarray(X)
            cols = [str(c) for c in getattr(X, "columns", range(values.shape[1]))]
        if values.shape[0] != len(obs):
            raise ValueError(
                f"X has {values.shape[0]} rows but the memberships {len(obs)}; pass the data "
                "the memberships were computed for."
            )
        df = pd.DataFrame(values, index=df.index, columns=cols)
    comp = prob.argmax(axis=1)
    rows = np.arange(prob.shape[0])
    labels = membership["component"].to_numpy()
    df["component"] = labels[comp]
    df["probability"] = prob[rows, comp]
    df["lower"] = lower[rows, comp]
    df["upper"] = upper[rows, comp]
    df["entropy"] = entropy
    for j, c in enumerate(labels):
        df[f"probability_{c}"] = prob[:, j]
        df[f"lower_{c}"] = lower[:, j]
        df[f"upper_{c}"] = upper[:, j]
    df.attrs = {k: membership.attrs[k] for k in ("ci_prob", "ci_kind", "interval")
                if k in membership.attrs}
    return df


def posterior_predictive_log_density(
    posterior,
    X_new,
    *,
    obs_chunk: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    missing: str = "error",
) -> xr.DataArray:
    """Posterior predictive log density ``log (1/S) sum_s p(x | theta_s)``.

    Log-sum-exp over components and then over draws, in chunks of observations.  This
    is what ``score_samples`` returns: low values flag observations unlikely under the
    fitted mixture (anomalies).  Label switching does not affect it.

    Parameters
    ----------
    posterior : xarray.Dataset or xarray.DataTree
        Posterior draws.
    X_new : array-like of shape (n_obs, n_features)
        Points at which to evaluate the density.
    obs_chunk, memory_budget
        As in :func:`membership_summary`.

    Returns
    -------
    xarray.DataArray
        dims (obs,), name ``log_density``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> post = xr.Dataset({
    ...     "weights": (("chain", "draw", "component"), [[[1.0]]]),
    ...     "means": (("chain", "draw", "component", "feature"), [[[[0.0]]]]),
    ...     "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
    ...                     np.ones((1, 1, 1, 1, 1)))})
    >>> float(posterior_predictive_log_density(post, [[0.0]])[0].round(6))  # log N(0|0,1)
    -0.918939
    """
    ds, params, Xa, obs, _ = _prepare(posterior, X_new, "X_new", missing)
    step = _obs_chunk(params, Xa.shape[0], obs_chunk, memory_budget)
    out = np.empty(Xa.shape[0])
    for sl in iter_slices(Xa.shape[0], step):
        lp = params.weighted_log_prob(Xa[sl], slice(None))  # (n, K, S)
        out[sl] = logsumexp(logsumexp_axis1(lp), axis=1) - np.log(params.n_draws)
    return xr.DataArray(out, dims=("obs",), coords={"obs": obs}, name="log_density")


def pointwise_log_likelihood(
    posterior,
    X,
    *,
    obs_chunk: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    missing: str = "error",
) -> xr.DataArray:
    """Pointwise log-likelihood ``log p(x_n | theta_s)`` with the components summed out.

    The contract's ``log_likelihood`` group variable ``X`` (chain, draw, obs), e.g. for
    LOO/WAIC.  The result itself is chain x draw x obs; the component axis is reduced
    chunk by chunk.

    Parameters
    ----------
    posterior : xarray.Dataset or xarray.DataTree
        Posterior draws.
    X : array-like of shape (n_obs, n_features)
        Data.
    obs_chunk, memory_budget
        As in :func:`membership_summary`.

    Returns
    -------
    xarray.DataArray
        dims (chain, draw, obs), name ``X``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> post = xr.Dataset({
    ...     "weights": (("chain", "draw", "component"), [[[0.5, 0.5]]]),
    ...     "means": (("chain", "draw", "component", "feature"), [[[[0.0], [0.0]]]]),
    ...     "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
    ...                     np.ones((1, 1, 2, 1, 1)))})
    >>> pointwise_log_likelihood(post, [[0.0]]).values.round(6)
    array([[[-0.918939]]])
    """
    ds, params, Xa, obs, _ = _prepare(posterior, X, "X", missing)
    step = _obs_chunk(params, Xa.shape[0], obs_chunk, memory_budget)
    out = np.empty((params.n_draws, Xa.shape[0]))
    for sl in iter_slices(Xa.shape[0], step):
        out[:, sl] = logsumexp_axis1(params.weighted_log_prob(Xa[sl], slice(None))).T
    C, S = params.shape
    coords = {d: ds[d].to_numpy() for d in ("chain", "draw") if d in ds.coords}
    coords["obs"] = obs
    return xr.DataArray(
        out.reshape(C, S, -1), dims=("chain", "draw", "obs"), coords=coords, name="X"
    )
