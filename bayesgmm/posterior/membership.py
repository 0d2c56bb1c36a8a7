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
    check_hdi_prob,
    check_memory_budget,
    check_positive_int,
    chunk_size,
    iter_slices,
    logsumexp_axis1,
    posterior_arrays,
    validate_X,
)

__all__ = [
    "membership_summary",
    "predictive_membership",
    "posterior_predictive_log_density",
    "pointwise_log_likelihood",
]


def _prepare(posterior, X, name="X"):
    ds, w, m, c = posterior_arrays(posterior)
    feat = ds["means"]["feature"].to_numpy() if "feature" in ds["means"].coords else None
    Xa, obs = validate_X(X, m.shape[-1], feat, name=name)
    comp = (
        ds["weights"]["component"].to_numpy()
        if "component" in ds["weights"].coords
        else np.arange(w.shape[-1])
    )
    return ds, DrawParams(w, m, c), Xa, obs, comp


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


def _summarise(params, X, hdi_prob, step):
    N, K = X.shape[0], params.K
    lo_q, hi_q = (1 - hdi_prob) / 2, 1 - (1 - hdi_prob) / 2
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
        q = np.quantile(R, [lo_q, hi_q], axis=2)
        lower[sl], upper[sl] = q[0], q[1]
        best = prob[sl].argmax(axis=1)
        rmax = R[np.arange(R.shape[0]), best]  # (n, S)
        q = np.quantile(rmax, [lo_q, hi_q], axis=1)
        pmax_lo[sl], pmax_hi[sl] = q[0], q[1]
        del R
    return prob, lower, upper, exp_ent, pmax_lo, pmax_hi


def _membership(posterior, X, hdi_prob, obs_chunk, memory_budget, name):
    hdi_prob = check_hdi_prob(hdi_prob)
    ds, params, Xa, obs, comp = _prepare(posterior, X, name)
    step = _obs_chunk(params, Xa.shape[0], obs_chunk, memory_budget)
    prob, lower, upper, exp_ent, pmax_lo, pmax_hi = _summarise(params, Xa, hdi_prob, step)
    best = prob.argmax(axis=1)
    pmax = prob[np.arange(len(best)), best]
    interval = {"hdi_prob": hdi_prob, "interval": "equal-tailed"}
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
            "hdi_prob": hdi_prob,
            "interval": "equal-tailed",
            "n_draws": params.n_draws,
            "entropy_units": "nats",
        },
    )
    return out


def membership_summary(
    posterior,
    X,
    *,
    hdi_prob: float = 0.94,
    obs_chunk: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
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
        per-component summaries of unrelabelled draws mix the components.
    X : array-like of shape (n_obs, n_features)
        Data (numpy array, pandas DataFrame -- its unique index becomes ``obs`` --
        or an xarray DataArray: dims ``obs`` and ``feature`` are read by name, in
        either order; two other dim names positionally, rows = observations).
    hdi_prob : float, default 0.94
        Probability mass of the equal-tailed credible intervals.
    obs_chunk : int, optional
        Observations per chunk; by default chosen from ``memory_budget``.
    memory_budget : int, default 64 MiB
        Bytes of working memory per chunk (all draws x chunk x components).

    Returns
    -------
    xarray.Dataset
        dims (obs, component):

        * ``probability`` (obs, component): posterior mean membership probability.
        * ``lower``, ``upper`` (obs, component): equal-tailed ``hdi_prob`` interval of
          the per-draw probability.
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

        attrs ``hdi_prob``, ``interval`` ("equal-tailed"), ``n_draws``.

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
    return _membership(posterior, X, hdi_prob, obs_chunk, memory_budget, "X")


def predictive_membership(
    posterior,
    X_new,
    *,
    hdi_prob: float = 0.94,
    obs_chunk: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
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
    hdi_prob, obs_chunk, memory_budget
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
    return _membership(posterior, X_new, hdi_prob, obs_chunk, memory_budget, "X_new")


def posterior_predictive_log_density(
    posterior,
    X_new,
    *,
    obs_chunk: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
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
    ds, params, Xa, obs, _ = _prepare(posterior, X_new, "X_new")
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
    ds, params, Xa, obs, _ = _prepare(posterior, X, "X")
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
