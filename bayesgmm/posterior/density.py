"""The posterior distribution of the log density, and anomaly scores built on it.

For a point x and posterior draws theta_s (s = 1..S),

    l_s(x) = log p(x | theta_s) = log sum_k w_sk N(x | mu_sk, Sigma_sk).

The draws l_1(x), ..., l_S(x) are the posterior distribution of the log density at x;
:func:`log_density_summary` reduces them to a mean, a standard deviation and a
credible interval per point, together with the posterior predictive log
density ``log (1/S) sum_s exp l_s(x)``.  The interval's mass and kind are ArviZ's
``ci_prob`` / ``ci_kind`` (``arviz_base.rcParams`` by default: 89%, equal-tailed).

Anomalies (:func:`anomaly_summary`).  A point is flagged at a target false-alarm rate
``alpha`` when its posterior predictive log density falls below ``t_alpha``, the
``alpha`` quantile of the posterior predictive log density of points drawn from the
posterior predictive distribution itself (draw s uniformly, a component from w_s, a
point from N(mu_sk, Sigma_sk); simulated, :func:`predictive_threshold`).  If the model
is right, a fresh point is flagged with probability ``alpha``.  The score that accounts
for the uncertainty is the *outlier probability*: the posterior probability that x lies
in the lowest-density ``alpha`` region of the data-generating mixture,

    P(outlier | x, data) = (1/S) sum_s 1[ l_s(x) < q_s ],

where q_s is the ``alpha`` quantile of l_s(Y), Y ~ p(. | theta_s) (simulated per draw,
:func:`per_draw_thresholds`).  It is near 0 or 1 where the posterior is sure and near
1/2 where the draws disagree on which side of the tail boundary x lies.

Everything is computed in chunks of observations (all draws at once per chunk), as in
:mod:`bayesgmm.posterior.membership`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayesgmm._data import check_random_state
from bayesgmm.posterior._common import (
    DEFAULT_MEMORY_BUDGET,
    CI_KINDS,
    DrawParams,
    check_positive_int,
    interval_bounds,
    iter_slices,
    logsumexp_axis1,
    log_gaussian_prob_full,
    posterior_arrays,
    resolve_ci,
)
from bayesgmm.posterior.membership import _obs_chunk, _prepare

__all__ = [
    "log_density_summary",
    "sample_posterior_predictive",
    "predictive_threshold",
    "per_draw_thresholds",
    "anomaly_summary",
]


def check_rate(value, name: str = "false_alarm_rate") -> float:
    """A probability in (0, 0.5]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise TypeError(f"{name} must be a float in (0, 0.5], e.g. 0.01; got {value!r}.")
    if not 0 < float(value) <= 0.5:
        raise ValueError(f"{name} must be in (0, 0.5], e.g. 0.01 for 1%; got {value}.")
    return float(value)


def _log_density_draws(params, X, step):
    """Yield (slice, l) with l (n, S) = log p(x_n | theta_s) for chunks of X."""
    for sl in iter_slices(X.shape[0], step):
        yield sl, logsumexp_axis1(params.weighted_log_prob(X[sl], slice(None)))


def _predictive(l: np.ndarray) -> np.ndarray:
    """log (1/S) sum_s exp l[:, s] for l (n, S)."""
    m = l.max(axis=1)
    return m + np.log(np.exp(l - m[:, None]).mean(axis=1))


def log_density_summary(
    posterior,
    X,
    *,
    ci_prob: float | None = None,
    ci_kind: str | None = None,
    hdi_prob: float | None = None,
    obs_chunk: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> xr.Dataset:
    """The posterior distribution of the log density at each point of ``X``.

    Parameters
    ----------
    posterior : xarray.Dataset or xarray.DataTree
        Posterior draws (``weights``, ``means``, ``covariances``); label switching does
        not matter here.
    X : array-like of shape (n_obs, n_features)
        Points (training or new).
    ci_prob : float, optional
        Probability mass of the credible intervals; default
        ``arviz_base.rcParams["stats.ci_prob"]`` (0.89 unless changed).
    ci_kind : {"eti", "hdi"}, optional
        Equal-tailed or highest-density intervals; default
        ``arviz_base.rcParams["stats.ci_kind"]`` (``"eti"`` unless changed).
    hdi_prob : float, optional
        Deprecated name of ``ci_prob`` (a FutureWarning; removed in the next release).
    obs_chunk, memory_budget
        As in :func:`bayesgmm.posterior.membership_summary`.

    Returns
    -------
    xarray.Dataset
        dims (obs,): ``log_density`` (posterior predictive, ``log mean_s p(x|theta_s)``),
        ``mean`` and ``sd`` of ``log p(x | theta)`` over the draws, ``lower`` /
        ``upper`` its ``ci_prob`` interval, ``width`` = ``upper - lower``; attrs
        ``ci_prob``, ``ci_kind``, ``interval`` ("equal-tailed" or "highest density"),
        ``n_draws``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> post = xr.Dataset({
    ...     "weights": (("chain", "draw", "component"), np.ones((1, 2, 1))),
    ...     "means": (("chain", "draw", "component", "feature"), [[[[0.0]], [[1.0]]]]),
    ...     "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
    ...                     np.ones((1, 2, 1, 1, 1)))})
    >>> s = log_density_summary(post, [[0.0]], ci_prob=0.5)
    >>> float(s["mean"][0].round(4))  # (log N(0|0,1) + log N(0|1,1)) / 2
    -1.1689
    """
    ci_prob, ci_kind = resolve_ci(ci_prob, ci_kind, hdi_prob)
    ds, params, Xa, obs, _ = _prepare(posterior, X, "X")
    step = _obs_chunk(params, Xa.shape[0], obs_chunk, memory_budget)
    N = Xa.shape[0]
    out = {k: np.empty(N) for k in ("log_density", "mean", "sd", "lower", "upper")}
    for sl, l in _log_density_draws(params, Xa, step):
        out["log_density"][sl] = _predictive(l)
        out["mean"][sl] = l.mean(axis=1)
        out["sd"][sl] = l.std(axis=1)
        out["lower"][sl], out["upper"][sl] = interval_bounds(l, ci_prob, ci_kind, axis=1)
    out["width"] = out["upper"] - out["lower"]
    interval = {"ci_prob": ci_prob, "ci_kind": ci_kind, "interval": CI_KINDS[ci_kind]}
    return xr.Dataset(
        {
            k: ("obs", v, interval if k in ("lower", "upper", "width") else {})
            for k, v in out.items()
        },
        coords={"obs": obs},
        attrs={**interval, "n_draws": params.n_draws},
    )


def _draw_arrays(posterior):
    """(DrawParams, Cholesky factors (S, K, D, D) of the covariances)."""
    _, w, m, c = posterior_arrays(posterior)
    params = DrawParams(w, m, c)
    chol = np.linalg.cholesky(c.reshape(params.n_draws, params.K, params.D, params.D))
    return params, chol


def _sample_draw(rng, params, chol, s: int, n: int) -> np.ndarray:
    w = np.exp(params.log_weights[s])
    counts = rng.multinomial(n, w / w.sum())
    comp = np.repeat(np.arange(params.K), counts)
    z = rng.standard_normal((n, params.D))
    return params.means[s][comp] + np.einsum("nij,nj->ni", chol[s][comp], z)


def sample_posterior_predictive(posterior, n_samples: int = 4000, *, random_state=None):
    """Points from the posterior predictive: a draw, then a component, then a Gaussian.

    Draws are used in turn (each ``n_samples // S`` or one more times, in random order),
    so every draw contributes.

    Parameters
    ----------
    posterior : xarray.Dataset or xarray.DataTree
    n_samples : int, default 4000
    random_state : int, numpy Generator/RandomState or None

    Returns
    -------
    X_rep : ndarray of shape (n_samples, n_features)
    draw : ndarray of shape (n_samples,)
        Index of the (flattened chain x draw) draw each point came from.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> post = xr.Dataset({
    ...     "weights": (("chain", "draw", "component"), np.ones((1, 1, 1))),
    ...     "means": (("chain", "draw", "component", "feature"), [[[[5.0]]]]),
    ...     "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
    ...                     np.full((1, 1, 1, 1, 1), 1e-6))})
    >>> X_rep, draw = sample_posterior_predictive(post, 3, random_state=0)
    >>> X_rep.round(2).ravel().tolist(), draw.tolist()
    ([5.0, 5.0, 5.0], [0, 0, 0])
    """
    n_samples = check_positive_int(n_samples, "n_samples", allow_none=False)
    rng = check_random_state(random_state)
    params, chol = _draw_arrays(posterior)
    S = params.n_draws
    draw = np.resize(rng.permutation(S), n_samples)
    draw = draw[rng.permutation(n_samples)]
    X = np.empty((n_samples, params.D))
    for s in np.unique(draw):
        idx = np.flatnonzero(draw == s)
        X[idx] = _sample_draw(rng, params, chol, int(s), idx.size)
    return X, draw


def predictive_threshold(
    posterior,
    false_alarm_rate: float = 0.01,
    *,
    n_replicates: int = 4000,
    random_state=None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> float:
    """Log-density threshold with false-alarm rate ``false_alarm_rate`` under the posterior predictive.

    ``n_replicates`` points are drawn from the posterior predictive
    (:func:`sample_posterior_predictive`) and scored by the posterior predictive log
    density; the threshold is their empirical ``false_alarm_rate`` quantile.  A point
    whose predictive log density is below it is flagged; a point from the posterior
    predictive is flagged with probability ``false_alarm_rate`` (up to Monte Carlo error:
    about ``sqrt(rate (1 - rate) / n_replicates)`` in the rate).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> post = xr.Dataset({
    ...     "weights": (("chain", "draw", "component"), np.ones((1, 1, 1))),
    ...     "means": (("chain", "draw", "component", "feature"), [[[[0.0]]]]),
    ...     "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
    ...                     np.ones((1, 1, 1, 1, 1)))})
    >>> t = predictive_threshold(post, 0.05, n_replicates=20000, random_state=0)
    >>> bool(abs(t - (-0.9189 - 1.96**2 / 2)) < 0.05)  # log N(1.96 | 0, 1)
    True
    """
    rate = check_rate(false_alarm_rate)
    X_rep, _ = sample_posterior_predictive(posterior, n_replicates, random_state=random_state)
    scores = log_density_summary(posterior, X_rep, memory_budget=memory_budget)["log_density"]
    return float(np.quantile(scores.to_numpy(), rate))


def per_draw_thresholds(
    posterior,
    false_alarm_rate: float = 0.01,
    *,
    n_per_draw: int = 1000,
    random_state=None,
) -> np.ndarray:
    """For every draw s, the ``false_alarm_rate`` quantile of ``log p(Y | theta_s)``, Y ~ p(. | theta_s).

    Simulated with ``n_per_draw`` points per draw.

    Returns
    -------
    ndarray of shape (chain * draw,)

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> post = xr.Dataset({
    ...     "weights": (("chain", "draw", "component"), np.ones((1, 1, 1))),
    ...     "means": (("chain", "draw", "component", "feature"), [[[[0.0]]]]),
    ...     "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
    ...                     np.ones((1, 1, 1, 1, 1)))})
    >>> q = per_draw_thresholds(post, 0.05, n_per_draw=20000, random_state=0)
    >>> bool(abs(q[0] - (-0.9189 - 1.96**2 / 2)) < 0.05)
    True
    """
    rate = check_rate(false_alarm_rate)
    n_per_draw = check_positive_int(n_per_draw, "n_per_draw", allow_none=False)
    rng = check_random_state(random_state)
    params, chol = _draw_arrays(posterior)
    out = np.empty(params.n_draws)
    for s in range(params.n_draws):
        Y = _sample_draw(rng, params, chol, s, n_per_draw)
        lp = log_gaussian_prob_full(Y, params.means[s], params.prec_chol[s])
        lp += params.log_weights[s][None, :]
        m = lp.max(axis=1)
        ly = m + np.log(np.exp(lp - m[:, None]).sum(axis=1))
        out[s] = np.quantile(ly, rate)
    return out


def anomaly_summary(
    posterior,
    X,
    false_alarm_rate: float = 0.01,
    *,
    ci_prob: float | None = None,
    ci_kind: str | None = None,
    hdi_prob: float | None = None,
    n_replicates: int = 4000,
    n_per_draw: int = 500,
    random_state=None,
    obs_chunk: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> xr.Dataset:
    """Anomaly scores with uncertainty: log-density intervals, outlier probability, flags.

    Parameters
    ----------
    posterior : xarray.Dataset or xarray.DataTree
        Posterior draws.
    X : array-like of shape (n_obs, n_features)
        Points to score (training or new data).
    false_alarm_rate : float, default 0.01
        Target probability of flagging a point that comes from the fitted model.
    ci_prob, ci_kind, hdi_prob
        Mass and kind of the log-density intervals, as in :func:`log_density_summary`
        (ArviZ's ``rcParams`` by default; ``hdi_prob`` is deprecated).
    n_replicates : int, default 4000
        Posterior predictive points simulated for the threshold
        (:func:`predictive_threshold`).
    n_per_draw : int, default 500
        Points simulated per draw for the per-draw tail boundaries behind
        ``outlier_probability`` (:func:`per_draw_thresholds`).
    random_state : int, numpy Generator/RandomState or None
        Seeds the simulations.
    obs_chunk, memory_budget
        As in :func:`bayesgmm.posterior.membership_summary`.

    Returns
    -------
    xarray.Dataset
        dims (obs,): the variables of :func:`log_density_summary`, plus

        * ``outlier_probability``: posterior probability that the point lies in the
          lowest-density ``false_alarm_rate`` region of the mixture,
          ``mean_s 1[log p(x|theta_s) < q_s]``;
        * ``is_outlier``: ``log_density < threshold`` (the predictive rule);

        attrs ``threshold`` (log density), ``false_alarm_rate``, ``method``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> post = xr.Dataset({
    ...     "weights": (("chain", "draw", "component"), np.ones((1, 4, 1))),
    ...     "means": (("chain", "draw", "component", "feature"),
    ...               np.array([0.0, 0.1, -0.1, 0.05]).reshape(1, 4, 1, 1)),
    ...     "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
    ...                     np.ones((1, 4, 1, 1, 1)))})
    >>> a = anomaly_summary(post, [[0.0], [6.0]], 0.01, random_state=0)
    >>> a["is_outlier"].values.tolist(), a["outlier_probability"].values.tolist()
    ([False, True], [0.0, 1.0])
    """
    rate = check_rate(false_alarm_rate)
    ci_prob, ci_kind = resolve_ci(ci_prob, ci_kind, hdi_prob)
    rng = check_random_state(random_state)
    out = log_density_summary(
        posterior, X, ci_prob=ci_prob, ci_kind=ci_kind, obs_chunk=obs_chunk,
        memory_budget=memory_budget,
    )
    threshold = predictive_threshold(
        posterior, rate, n_replicates=n_replicates, random_state=rng, memory_budget=memory_budget
    )
    q = per_draw_thresholds(posterior, rate, n_per_draw=n_per_draw, random_state=rng)
    _, params, Xa, _, _ = _prepare(posterior, X, "X")
    step = _obs_chunk(params, Xa.shape[0], obs_chunk, memory_budget)
    prob = np.empty(Xa.shape[0])
    for sl, l in _log_density_draws(params, Xa, step):
        prob[sl] = (l < q[None, :]).mean(axis=1)
    out["outlier_probability"] = ("obs", prob)
    out["is_outlier"] = ("obs", out["log_density"].to_numpy() < threshold)
    out.attrs.update(
        threshold=threshold,
        false_alarm_rate=rate,
        n_replicates=n_replicates,
        n_per_draw=n_per_draw,
        method=(
            "is_outlier: posterior predictive log density below its false_alarm_rate "
            "quantile among simulated posterior predictive points; outlier_probability: "
            "share of draws in which log p(x|theta) is below that draw's own "
            "false_alarm_rate quantile"
        ),
    )
    return out
