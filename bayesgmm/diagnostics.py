"""Sampling diagnostics of a Bayesian Gaussian mixture fit, turned into advice.

After NUTS, :func:`check_diagnostics` computes on the *relabelled* draws

* the rank-normalised split R-hat (arviz-stats), flagged above ``rhat_max``
  (default 1.01);
* the bulk and tail effective sample sizes, flagged below ``ess_min``
  (default 100 per chain);
* the number of divergent transitions, flagged when there is any;
* chains that settled in different modes (:func:`bayesgmm.posterior.detect_chain_modes`),
  which must be reported rather than averaged;
* stuck chains (:class:`StuckSamplerWarning`): a collapsed step size, draws that
  do not move on the scale of the posterior, or the maximum tree depth on most
  draws while barely moving.  A stuck chain's draws are its starting point, not
  a sample, so R-hat, ESS and chain modes are computed on the other chains only
  (instead of an astronomically large R-hat that says nothing about why);
* components that collapsed onto identical observations in chains that kept moving
  (:class:`CollapsedComponentWarning`; Gibbs sampling follows an improper
  posterior's spike on tied values instead of getting stuck).

The report's ``chains`` table has one row per chain: where it started (the EM
optimum of :func:`bayesgmm.inference.em_start`'s restarts), its mean log
posterior density, which mode group it sits in, its step size, tree-depth and
movement statistics and whether it was stuck.

Each problem becomes a warning whose message says what was seen (the variable,
its coordinates and the value) and what to do.  All warnings derive from
:class:`SamplingWarning`, so ``warnings.simplefilter("error", SamplingWarning)``
turns every one of them into an error, and each kind has its own subclass.

Parameters checked: ``weights``, ``means``, ``sds`` and the off-diagonal
``correlations`` (the covariances carry the same information; the diagonal
correlations are constant).  Variational fits (``method`` other than ``"nuts"``)
draw independent samples from the approximation, so the MCMC diagnostics do not
apply to them; for those the loss history is checked instead: if the mean loss of
the last 10% of the iterations is lower than that of the 10% before by more than
four standard errors, the optimisation had not converged
(:class:`VIConvergenceWarning`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from bayesgmm import _datatree
from bayesgmm.exceptions import (
    ChainModeWarning,
    DivergenceWarning,
    LowESSWarning,
    RhatWarning,
    SamplingWarning,
    StuckSamplerWarning,
    CollapsedComponentWarning,
    VIConvergenceWarning,
)

#: Kept under its earlier name: the R-hat warning (:class:`bayesgmm.exceptions.RhatWarning`).
ConvergenceWarning = RhatWarning

__all__ = [
    "SamplingWarning",
    "ConvergenceWarning",
    "RhatWarning",
    "LowESSWarning",
    "DivergenceWarning",
    "ChainModeWarning",
    "StuckSamplerWarning",
    "CollapsedComponentWarning",
    "VIConvergenceWarning",
    "Problem",
    "DiagnosticsReport",
    "chain_table",
    "check_diagnostics",
    "warn_diagnostics",
]

#: Posterior variables whose R-hat and ESS are checked.
CHECKED_VARS = ("weights", "means", "sds", "correlations")

#: A chain is stuck when its median post-warmup step size is below this.  NUTS step
#: sizes are in the units of the adapted mass matrix, i.e. of the posterior's own
#: scale, so this is scale-free; healthy chains adapt to about 0.05-1.
STUCK_STEP_SIZE = 1e-6
#: ... or when its draws moved less than this many posterior sds (median over the
#: weights and means of the within-chain sd over the expected posterior sd).
STUCK_MOVEMENT = 1e-3
#: ... or when more than this fraction of its draws repeat the previous draw.
STUCK_FROZEN_FRACTION = 0.5
#: ... or when more than this fraction of its draws hit the maximum tree depth
#: while moving less than ``STUCK_DEPTH_MOVEMENT`` posterior sds.
STUCK_MAXDEPTH_FRACTION = 0.5
STUCK_DEPTH_MOVEMENT = 0.05
#: A stuck chain's component counts as collapsed when its median standard deviation
#: (smallest over the features) is below this fraction of the data's sd in that
#: feature: it sits on (nearly) identical observations, where the likelihood is
#: unbounded. EM's default ``reg_covar`` floor is an sd of 1e-3 data sds.
COLLAPSED_SD_RATIO = 1e-3


@dataclass(frozen=True)
class Problem:
    """One diagnosed problem: its kind, the warning class and the advice.

    Attributes
    ----------
    kind : {"rhat", "ess_bulk", "ess_tail", "divergences", "chain_modes", "stuck", "collapsed", "vi_loss"}
    category : type
        The :class:`SamplingWarning` subclass to raise.
    message : str
        What was seen and what to do.

    Examples
    --------
    >>> from bayesgmm.diagnostics import Problem, DivergenceWarning
    >>> Problem("divergences", DivergenceWarning, "3 divergences").kind
    'divergences'
    """

    kind: str
    category: type
    message: str


@dataclass(frozen=True)
class DiagnosticsReport:
    """Diagnostics of one fit (returned by :func:`check_diagnostics`).

    Attributes
    ----------
    method : str
        The inference method of the fit.
    n_chains, n_draws : int
        Chains and draws per chain.
    rhat, ess_bulk, ess_tail : xarray.Dataset or None
        Per-parameter values for the checked variables (``None`` for VI).
        Constant entries (the diagonal of ``correlations``) are NaN in ``rhat``.
    n_divergent : xarray.DataArray or None
        Divergent transitions per chain (``None`` if the sampler reports none).
    chain_modes : object or None
        The result of :func:`bayesgmm.posterior.detect_chain_modes`, if run.
    rhat_max, ess_min : float
        The thresholds used.
    problems : tuple of Problem
        Everything that exceeded a threshold, in the order stuck chains, rhat,
        ESS, divergences, chain modes.
    chains : xarray.Dataset or None
        One row per chain (dim ``chain``): ``step_size`` (median post-warmup),
        ``maxdepth_fraction``, ``frozen_fraction`` (draws equal to the previous
        one), ``movement`` (median within-chain sd of the weights and means in
        units of their expected posterior sd), ``stuck`` (bool),
        ``mean_logp`` (mean log posterior density, when the sampler reports
        it), ``mean_loglik`` (mean total log-likelihood, when the tree stores
        the pointwise log-likelihood), ``mode`` (index of the chain's group in ``chain_modes.groups``;
        -1 for a stuck chain) and ``start_optimum`` (which EM optimum the chain
        started from, 0 = the best; -1 when unknown).  ``None`` for VI.
    stuck_chains : tuple
        Chain coordinate values of the stuck chains (empty when none).

    Examples
    --------
    >>> from bayesgmm.diagnostics import check_diagnostics  # doctest: +SKIP
    >>> report = check_diagnostics(model.idata_)  # doctest: +SKIP
    >>> report.ok, report.max_rhat  # doctest: +SKIP
    (True, 1.002)
    """

    method: str
    n_chains: int
    n_draws: int
    rhat: xr.Dataset | None
    ess_bulk: xr.Dataset | None
    ess_tail: xr.Dataset | None
    n_divergent: xr.DataArray | None
    chain_modes: object | None
    rhat_max: float
    ess_min: float
    problems: tuple = field(default_factory=tuple)
    chains: xr.Dataset | None = None
    stuck_chains: tuple = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def max_rhat(self) -> float:
        """Largest R-hat over the checked parameters (NaN for VI)."""
        return _extreme(self.rhat, np.nanmax)[0]

    @property
    def min_ess_bulk(self) -> float:
        """Smallest bulk ESS over the checked parameters (NaN for VI)."""
        return _extreme(self.ess_bulk, np.nanmin)[0]

    @property
    def min_ess_tail(self) -> float:
        """Smallest tail ESS over the checked parameters (NaN for VI)."""
        return _extreme(self.ess_tail, np.nanmin)[0]

    @property
    def total_divergent(self) -> int:
        """Total number of divergent transitions (0 when not reported)."""
        return 0 if self.n_divergent is None else int(self.n_divergent.sum())

    def to_dict(self) -> dict:
        """Summary numbers and messages as a plain dict.

        Examples
        --------
        >>> report.to_dict()["max_rhat"]  # doctest: +SKIP
        1.002
        """
        return {
            "method": self.method,
            "n_chains": self.n_chains,
            "n_draws": self.n_draws,
            "max_rhat": self.max_rhat,
            "min_ess_bulk": self.min_ess_bulk,
            "min_ess_tail": self.min_ess_tail,
            "n_divergent": self.total_divergent,
            "rhat_max": self.rhat_max,
            "ess_min": self.ess_min,
            "ok": self.ok,
            "stuck_chains": [c.item() if hasattr(c, "item") else c for c in self.stuck_chains],
            "problems": [p.message for p in self.problems],
        }

    def warn(self, stacklevel: int = 2) -> None:
        """Issue one warning per problem (a :class:`SamplingWarning` subclass each).

        Examples
        --------
        >>> report.warn()  # doctest: +SKIP
        """
        for p in self.problems:
            warnings.warn(p.message, p.category, stacklevel=stacklevel + 1)

    def __str__(self) -> str:
        if self.rhat is None:
            head = (
                f"method={self.method}: MCMC diagnostics do not apply to VI draws; "
                "the loss history was checked."
            )
        else:
            head = (
                f"{self.n_chains} chains x {self.n_draws} draws: max R-hat "
                f"{self.max_rhat:.3f} (<= {self.rhat_max}), min bulk ESS "
                f"{self.min_ess_bulk:.0f}, min tail ESS {self.min_ess_tail:.0f} "
                f"(>= {self.ess_min:.0f}), divergences {self.total_divergent}."
            )
        if self.ok:
            text = head + " No problems found."
        else:
            text = head + "\n" + "\n".join(f"- {p.message}" for p in self.problems)
        if self.chains is not None and self.n_chains > 1:
            text += "\n" + _chains_table(self.chains)
        return text


def _chains_table(chains: xr.Dataset) -> str:
    """One line per chain: start, mode, mean log density, step size, stuck."""
    lines = []
    for i, c in enumerate(chains["chain"].values):
        row = chains.isel(chain=i)
        parts = []
        start = int(row["start_optimum"])
        parts.append(f"started at EM optimum {start}" if start >= 0 else "start unknown")
        if "mean_loglik" in row and np.isfinite(float(row["mean_loglik"])):
            parts.append(f"mean log-likelihood {float(row['mean_loglik']):.6g}")
        elif "mean_logp" in row and np.isfinite(float(row["mean_logp"])):
            parts.append(f"mean log density {float(row['mean_logp']):.6g}")
        mode = int(row["mode"])
        parts.append(f"mode {mode}" if mode >= 0 else "no mode")
        if np.isfinite(float(row["step_size"])):  # Gibbs sampling has no step size
            parts.append(f"step size {float(row['step_size']):.3g}")
        if bool(row["stuck"]):
            parts.append("STUCK")
        lines.append(f"  chain {c}: " + ", ".join(parts))
    return "Chains:\n" + "\n".join(lines)


# --------------------------------------------------------------------------- helpers
def _upper_triangle_only(rhat: xr.Dataset) -> xr.Dataset:
    """NaN out the diagonal and lower triangle of ``correlations`` (duplicates/constant)."""
    if "correlations" not in rhat:
        return rhat
    corr = rhat["correlations"]
    D = corr.sizes["feature"]
    mask = np.triu(np.ones((D, D), dtype=bool), k=1)
    mask_da = xr.DataArray(mask, dims=("feature", "feature_bis"))
    return rhat.assign(correlations=corr.where(mask_da))


def _extreme(ds: xr.Dataset | None, reducer) -> tuple[float, str]:
    """(value, 'var[coord=..., ...]') of the largest (``np.nanmax``) or smallest
    (``np.nanmin``) entry over all variables; (NaN, "") if there is none."""
    if ds is None:
        return float("nan"), ""
    largest = reducer is np.nanmax
    best_val, best_loc = float("nan"), ""
    for name, da in ds.data_vars.items():
        vals = np.asarray(da.values, dtype=np.float64)
        if vals.size == 0 or np.all(np.isnan(vals)):
            continue
        flat = int(np.nanargmax(vals) if largest else np.nanargmin(vals))
        val = float(vals.flat[flat])
        if np.isnan(best_val) or (val > best_val if largest else val < best_val):
            idx = np.unravel_index(flat, vals.shape)
            parts = [
                f"{dim}={da[dim].values[i].item()!r}" if dim in da.coords else f"{dim}={i}"
                for dim, i in zip(da.dims, idx)
            ]
            best_val, best_loc = val, f"{name}[{', '.join(parts)}]"
    return best_val, best_loc


def _count_bad(ds: xr.Dataset, bad) -> int:
    return int(sum(int(np.count_nonzero(bad(np.asarray(da.values)))) for da in ds.data_vars.values()))


def _check_threshold(value, name, *, minimum, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} ({value!r}).")
    if not np.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum}, got {value!r}.")
    return float(value)


# --------------------------------------------------------------------------- main
def check_diagnostics(
    tree,
    *,
    rhat_max: float = 1.01,
    ess_min: float | None = None,
    check_modes: bool = True,
) -> DiagnosticsReport:
    """Compute R-hat, bulk/tail ESS, divergences and chain modes of a fit.

    Parameters
    ----------
    tree : xarray.DataTree
        A result tree (``model.idata_``).
    rhat_max : float, default 1.01
        R-hat above this is a problem.
    ess_min : float, optional
        Bulk or tail ESS below this is a problem; default ``100 * n_chains``.
    check_modes : bool, default True
        Also run :func:`bayesgmm.posterior.detect_chain_modes` (NUTS with at
        least two chains).

    Returns
    -------
    DiagnosticsReport
        Values and the list of problems; call ``.warn()`` to issue them.

    Examples
    --------
    >>> import bayesgmm as bg  # doctest: +SKIP
    >>> model = bg.BayesianGMM(2, draws=500, tune=500, random_state=0).fit(X)  # doctest: +SKIP
    >>> report = bg.diagnostics.check_diagnostics(model.idata_)  # doctest: +SKIP
    >>> print(report)  # doctest: +SKIP
    4 chains x 500 draws: max R-hat 1.003 (<= 1.01), min bulk ESS 1850, ...
    """
    rhat_max = _check_threshold(rhat_max, "rhat_max", minimum=1.0)
    ess_min = _check_threshold(ess_min, "ess_min", minimum=0.0, allow_none=True)
    if not isinstance(check_modes, bool):
        raise TypeError(f"check_modes must be True or False, got {check_modes!r}.")
    config = _datatree.get_config(tree)
    method = str(config["method"])
    posterior = _datatree.get_posterior(tree)
    n_chains = int(posterior.sizes["chain"])
    n_draws = int(posterior.sizes["draw"])
    if ess_min is None:
        ess_min = 100.0 * n_chains

    from bayesgmm.inference import MCMC_METHODS

    if method not in MCMC_METHODS:  # the others are VI
        problem = _vi_loss_problem(_datatree.get_sample_stats(tree))
        return DiagnosticsReport(
            method, n_chains, n_draws, None, None, None, None, None, rhat_max, ess_min,
            () if problem is None else (problem,),
        )

    import arviz_stats as azs

    stats = _datatree.get_sample_stats(tree)
    try:
        n_obs = int(_datatree.get_observed(tree).sizes["obs"])
    except (KeyError, ValueError, TypeError):
        n_obs = None
    starts = _start_optima(config, n_chains)
    chains = chain_table(posterior, stats, n_obs=n_obs, start_optimum=starts)
    if _datatree.has_log_likelihood(tree):
        ll = _datatree.get_log_likelihood(tree)
        per_chain = ll.sum([d for d in ll.dims if d not in ("chain", "draw")]).mean("draw")
        chains = chains.assign(mean_loglik=("chain", np.asarray(per_chain.values, dtype=np.float64)))
    stuck_mask = np.asarray(chains["stuck"].values, dtype=bool)
    stuck = tuple(posterior["chain"].values[stuck_mask].tolist())
    healthy = np.flatnonzero(~stuck_mask)
    problems = []
    if stuck:
        collapsed = _collapsed_components(posterior, tree, stuck_mask)
        problems.append(_stuck_problem(chains, stuck_mask, n_healthy=healthy.size, collapsed=collapsed))
    if healthy.size:  # a component collapsed in chains that kept moving (Gibbs follows the spike)
        info = (config.get("sampler_config") or {}).get("inference") or {}
        moving = np.zeros(n_chains, dtype=bool)
        moving[healthy] = True
        collapsed = _collapsed_components(posterior, tree, moving, resolution=info.get("resolution"))
        if collapsed:
            problems.append(_collapsed_problem(collapsed))
    # R-hat, ESS and modes of the chains that moved: across a stuck chain they only
    # measure how far its starting point is from the rest (issue 14: "R-hat 9.9e15")
    post_h = posterior.isel(chain=healthy) if stuck and healthy.size else posterior
    report_mixing = healthy.size > 0
    n_used = int(post_h.sizes["chain"])

    names = [v for v in CHECKED_VARS if v in post_h]
    ds = post_h[names]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = _upper_triangle_only(azs.rhat(ds, sample_dims=("chain", "draw")))
        ess_bulk = _upper_triangle_only(azs.ess(ds, sample_dims=("chain", "draw"), method="bulk"))
        ess_tail = _upper_triangle_only(azs.ess(ds, sample_dims=("chain", "draw"), method="tail"))

    total = n_used * n_draws
    which = f" (on the {n_used} chain(s) that moved)" if stuck else ""
    # Gibbs sweeps are cheap and correlated: keeping every thin-th costs no memory
    longer = "; with method='gibbs' also `thin`, the sweeps per kept draw" if method == "gibbs" else ""
    value, where = _extreme(rhat, np.nanmax)
    if report_mixing and value > rhat_max:
        n_bad = _count_bad(rhat, lambda a: a > rhat_max)
        problems.append(
            Problem(
                "rhat",
                RhatWarning,
                f"R-hat is {value:.3f} for {where} ({n_bad} parameter(s) above {rhat_max}){which}: "
                "the chains have not converged to the same distribution. Sample longer "
                f"(increase `tune` and `draws`{longer}), check that the EM start is sensible "
                "(`model.em_`, more `n_init`), or use fewer components if one is empty or "
                "redundant.",
            )
        )
    for kind, ess in (("ess_bulk", ess_bulk), ("ess_tail", ess_tail)):
        value, where = _extreme(ess, np.nanmin)
        if report_mixing and value < ess_min:
            n_bad = _count_bad(ess, lambda a: a < ess_min)
            label = "Bulk" if kind == "ess_bulk" else "Tail"
            problems.append(
                Problem(
                    kind,
                    LowESSWarning,
                    f"{label} effective sample size is only {value:.0f} for {where} "
                    f"({n_bad} parameter(s) below {ess_min:.0f}, from {total} draws){which}: "
                    f"means, intervals and memberships are imprecise. Increase `draws` "
                    f"(and `tune`{longer}), or simplify the model (fewer components, a simpler "
                    "`covariance_type`, stronger priors).",
                )
            )

    n_div = None
    if stats is not None and "diverging" in stats:
        diverging = stats["diverging"].astype(bool)
        if "tuning" in stats and stats["tuning"].dims == diverging.dims:
            diverging = diverging & ~stats["tuning"].astype(bool)  # warm-up ones do not count
        n_div = diverging.astype(np.int64).sum("draw")
        n_total = int(n_div.sum())
        if n_total > 0:
            per_chain = ", ".join(
                f"chain {c}: {int(n)}" for c, n in zip(n_div["chain"].values, n_div.values)
            )
            problems.append(
                Problem(
                    "divergences",
                    DivergenceWarning,
                    f"{n_total} of {n_chains * n_draws} post-warmup transitions diverged ({per_chain}): "
                    "the sampler could not follow the posterior's curvature and the draws "
                    "may be biased. Increase `target_accept` (e.g. fit(..., "
                    "target_accept=0.95)) and `tune`; if that does not help, use stronger "
                    "priors (larger `Priors.lkj_eta`, smaller `sd_scale`), a simpler "
                    "`covariance_type` or fewer components.",
                )
            )

    modes = None
    if check_modes and n_used >= 2 and report_mixing:
        perm = _datatree.get_permutation(tree)
        if perm is not None and stuck:
            perm = perm.isel(chain=healthy)
        modes, mode_problem = _chain_modes(post_h, perm)
        if mode_problem is not None:
            problems.append(mode_problem)
    chains = _with_modes(chains, modes, stuck_mask)

    return DiagnosticsReport(
        method,
        n_chains,
        n_draws,
        rhat,
        ess_bulk,
        ess_tail,
        n_div,
        modes,
        rhat_max,
        ess_min,
        tuple(problems),
        chains,
        stuck,
    )


def _start_optima(config, n_chains):
    """Which EM optimum each chain started from (recorded by the inference layer), or -1s."""
    info = (config.get("sampler_config") or {}).get("inference") or {}
    starts = info.get("chain_start_optimum") if isinstance(info, dict) else None
    if starts is None:
        return np.full(n_chains, -1, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64).ravel()
    return starts if starts.size == n_chains else np.full(n_chains, -1, dtype=np.int64)


def _expected_sd(posterior, n_obs):
    """Approximate posterior sd of every weight and mean from the chains' own estimates.

    The curvature of the likelihood at the mode: ``sqrt(w (1 - w) / N)`` for a
    weight and ``sd / sqrt(N w)`` for a mean (``N w`` floored at 1, as for an empty
    component the prior takes over).  Scale-free: it moves with the data.
    """
    w = posterior["weights"].mean("draw")
    sd_w = np.sqrt(np.clip(w * (1 - w), 1e-12, None) / n_obs)
    out = {"weights": sd_w}
    if "means" in posterior and "sds" in posterior:
        out["means"] = posterior["sds"].mean("draw") / np.sqrt(np.maximum(n_obs * w, 1.0))
    return out


def chain_table(posterior, stats=None, *, n_obs=None, start_optimum=None) -> xr.Dataset:
    """Per-chain statistics: step size, tree depth, movement, stuck, mean log density.

    Parameters
    ----------
    posterior : xarray.Dataset
        Draws with ``chain`` and ``draw`` dims (``weights``, ``means``, ``sds``).
    stats : xarray.Dataset, optional
        Sampler statistics (nutpie's or PyMC's names: ``step_size``,
        ``maxdepth_reached`` / ``reached_max_treedepth``, ``logp`` / ``lp``,
        ``index_in_trajectory``).
    n_obs : int, optional
        Number of observations, for the expected posterior sds (movement);
        without it ``movement`` is NaN and only the other signs count.
    start_optimum : array of int, optional
        Which EM optimum each chain started from.

    Returns
    -------
    xarray.Dataset
        Dim ``chain``: ``step_size``, ``maxdepth_fraction``, ``frozen_fraction``,
        ``movement``, ``stuck``, ``mean_logp``, ``start_optimum``, ``mode``
        (-1 until the chain modes are known).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from bayesgmm.diagnostics import chain_table
    >>> rng = np.random.default_rng(0)
    >>> w = rng.dirichlet([60, 40], size=(2, 100))
    >>> w[1] = w[1, 0]                                    # chain 1 never moves
    >>> post = xr.Dataset({"weights": (("chain", "draw", "component"), w)})
    >>> chain_table(post, n_obs=100)["stuck"].values.tolist()
    [False, True]
    """
    n_chains = int(posterior.sizes["chain"])
    n_draws = int(posterior.sizes["draw"])
    coords = {"chain": posterior["chain"].values}

    def per_chain(name_options, reducer, default=np.nan):
        if stats is None:
            return np.full(n_chains, default, dtype=np.float64)
        for name in name_options:
            if name in stats and "chain" in stats[name].dims:
                v = stats[name]
                if "tuning" in stats and stats["tuning"].dims == v.dims:
                    v = v.where(~stats["tuning"].astype(bool))
                return np.asarray(reducer(v.astype(np.float64)).values, dtype=np.float64)
        return np.full(n_chains, default, dtype=np.float64)

    step = per_chain(("step_size",), lambda v: v.median("draw"))
    depth = per_chain(("maxdepth_reached", "reached_max_treedepth"), lambda v: v.mean("draw"))
    logp = per_chain(("logp", "lp"), lambda v: v.mean("draw"))
    not_moved = per_chain(("index_in_trajectory",), lambda v: (v == 0).mean("draw"))

    # draws equal to the previous one (all weights and means): no accepted move
    names = [v for v in ("weights", "means") if v in posterior]
    flat = np.concatenate(
        [posterior[v].transpose("chain", "draw", ...).to_numpy().reshape(n_chains, n_draws, -1) for v in names],
        axis=2,
    )
    if n_draws > 1:
        frozen = np.all(flat[:, 1:] == flat[:, :-1], axis=2).mean(axis=1)
    else:
        frozen = np.zeros(n_chains)
    frozen = np.fmax(frozen, np.nan_to_num(not_moved, nan=0.0))

    movement = np.full(n_chains, np.nan)
    if n_obs and n_draws > 1 and "weights" in posterior:
        expected = _expected_sd(posterior, n_obs)
        ratios = []
        for v, sd in expected.items():
            within = posterior[v].std("draw")
            r = (within / sd).transpose("chain", ...).to_numpy().reshape(n_chains, -1)
            ratios.append(r)
        with np.errstate(invalid="ignore"):
            movement = np.nanmedian(np.concatenate(ratios, axis=1), axis=1)

    with np.errstate(invalid="ignore"):
        stuck = (
            (step < STUCK_STEP_SIZE)
            | (movement < STUCK_MOVEMENT)
            | (frozen > STUCK_FROZEN_FRACTION)
            | ((depth > STUCK_MAXDEPTH_FRACTION) & (movement < STUCK_DEPTH_MOVEMENT))
        )
    if start_optimum is None:
        start_optimum = np.full(n_chains, -1, dtype=np.int64)
    return xr.Dataset(
        {
            "step_size": ("chain", step),
            "maxdepth_fraction": ("chain", depth),
            "frozen_fraction": ("chain", frozen),
            "movement": ("chain", movement),
            "stuck": ("chain", stuck),
            "mean_logp": ("chain", logp),
            "start_optimum": ("chain", np.asarray(start_optimum, dtype=np.int64)),
            "mode": ("chain", np.full(n_chains, -1, dtype=np.int64)),
        },
        coords=coords,
    )


def _with_modes(chains, modes, stuck_mask):
    """Fill the ``mode`` column: each moving chain's group in ``modes.groups`` (0 if none)."""
    mode = np.where(stuck_mask, -1, 0).astype(np.int64)
    if modes is not None:
        index = {c: i for i, c in enumerate(chains["chain"].values.tolist())}
        for g, group in enumerate(modes.groups):
            for c in group:
                c = c.item() if hasattr(c, "item") else c
                if c in index:
                    mode[index[c]] = g
    return chains.assign(mode=("chain", mode))


def _collapsed_problem(collapsed):
    """The CollapsedComponentWarning Problem for components collapsed in moving chains."""
    parts = [f"component {k} (sd {r:.2g} of the data's, {n} observation(s) at its mean)"
             for k, (r, n) in collapsed.items()]
    return Problem(
        "collapsed",
        CollapsedComponentWarning,
        f"Collapsed: {'; '.join(parts)}. A component that sits on identical (tied or rounded) "
        "observations has a likelihood that grows without bound as its sd goes to 0, so the "
        "posterior is improper there and these draws follow the spike. If the values are "
        "rounded, fit with method='gibbs' and resolution= the rounding step of each feature; "
        "else remove or de-duplicate those rows, or use fewer `n_components`.",
    )


def _collapsed_components(posterior, tree, chain_mask, resolution=None):
    """Components of the chains in ``chain_mask`` (the stuck ones, or those that moved)
    whose sd collapsed onto identical observations.

    Returns ``{component: (sd ratio, observations at its mean)}`` over those
    chains: the median (over draws) of the smallest sd over the features, as a
    fraction of the data's sd in that feature, below :data:`COLLAPSED_SD_RATIO`;
    the count is of observations within 10 such sds of the component's median mean
    in every feature. Empty when the tree has no ``sds`` or no observed data.
    Features with a rounding step (``resolution`` > 0: modelled as rounded, where a
    component narrower than the step is allowed) are not counted.
    """
    if "sds" not in posterior or not chain_mask.any():
        return {}
    try:
        X = np.asarray(_datatree.get_observed(tree).transpose("obs", "feature").values, dtype=np.float64)
    except (KeyError, ValueError, TypeError):
        return {}
    data_sd = X.std(axis=0)
    if X.shape[0] < 2 or not np.all(data_sd > 0):
        return {}
    sel = posterior.isel(chain=np.flatnonzero(chain_mask))
    sds = sel["sds"].transpose("chain", "draw", "component", "feature").to_numpy()
    means = sel["means"].transpose("chain", "draw", "component", "feature").to_numpy()
    ratio = np.median(sds / data_sd, axis=1)  # (chain, component, feature)
    if resolution is not None:
        rounded = np.broadcast_to(np.asarray(resolution, dtype=np.float64), data_sd.shape) > 0
        ratio = np.where(rounded, np.inf, ratio)
    centre = np.median(means, axis=1)
    out = {}
    for c, k in zip(*np.nonzero(ratio.min(axis=-1) < COLLAPSED_SD_RATIO)):
        r = float(ratio[c, k].min())
        near = np.all(np.abs(X - centre[c, k]) <= 10 * np.median(sds[c, :, k], axis=0), axis=1)
        k = int(sel["component"].values[k]) if "component" in sel.coords else int(k)
        if k not in out or r < out[k][0]:
            out[k] = (r, int(near.sum()))
    return dict(sorted(out.items()))


def _stuck_problem(chains, stuck_mask, *, n_healthy, collapsed=None):
    """The StuckSamplerWarning Problem for the stuck chains."""
    rows = []
    for i in np.flatnonzero(stuck_mask):
        row = chains.isel(chain=int(i))
        signs = []
        step = float(row["step_size"])
        if np.isfinite(step):
            signs.append(f"step size {step:.3g}")
        mv = float(row["movement"])
        if np.isfinite(mv):
            signs.append(f"draws moved {mv:.3g} posterior sds")
        fr = float(row["frozen_fraction"])
        if fr > 0:
            signs.append(f"{fr:.0%} of draws repeat the previous one")
        dp = float(row["maxdepth_fraction"])
        if np.isfinite(dp) and dp > 0:
            signs.append(f"maximum tree depth on {dp:.0%} of draws")
        rows.append(f"chain {row['chain'].item()} ({', '.join(signs)})")
    rest = (
        f"R-hat, ESS and chain modes are reported for the {n_healthy} chain(s) that moved."
        if n_healthy
        else "No chain moved, so there is no posterior sample: R-hat and ESS are not reported."
    )
    if collapsed:
        parts = [f"component {k} (sd {r:.2g} of the data's, {n} observation(s) at its mean)"
                 for k, (r, n) in collapsed.items()]
        cause = (
            f"Collapsed: {'; '.join(parts)}. A component that sits on identical (duplicated or "
            "rounded) observations has an unbounded likelihood there, and NUTS follows it into "
            "the singularity. If the values are rounded, model them so: method='gibbs' with "
            "resolution= the rounding step of each feature; else remove or de-duplicate those "
            "rows, or use fewer `n_components`; drop the stuck chains before summarising "
            "(`model.idata_.isel(chain=...)`)."
        )
    else:
        cause = (
            "This happens when a chain starts at or falls into a place NUTS "
            "cannot leave, typically an empty or nearly empty component of an overfitted "
            "mixture (healthy step sizes are about 0.05-1). Use fewer `n_components` or a larger "
            "Dirichlet concentration (`Priors(weights_alpha=...)`), a longer `tune`, or another "
            "`random_state`; drop the stuck chains before summarising "
            "(`model.idata_.isel(chain=...)`), or use a sampler that mixes across modes."
        )
    return Problem(
        "stuck",
        StuckSamplerWarning,
        f"The sampler was stuck in {len(rows)} chain(s): {'; '.join(rows)}. Their draws are "
        f"their starting point, not a posterior sample, and are not comparable with other "
        f"chains; {rest} {cause}",
    )


def _vi_loss_problem(stats) -> Problem | None:
    """A Problem when the VI loss still decreased over the last 20% of iterations."""
    if stats is None or "loss" not in stats:
        return None
    loss = np.asarray(stats["loss"].values, dtype=np.float64).ravel()
    loss = loss[np.isfinite(loss)]
    m = loss.size // 10
    if m < 10:
        return None
    prev, last = loss[-2 * m : -m], loss[-m:]
    drop = float(prev.mean() - last.mean())
    se = float(np.sqrt(prev.var(ddof=1) / m + last.var(ddof=1) / m))
    if drop > 4 * se and drop > 0:
        return Problem(
            "vi_loss",
            VIConvergenceWarning,
            f"The variational loss was still decreasing when the optimisation stopped (mean "
            f"of the last {m} iterations {last.mean():.6g}, {drop:.3g} below the {m} before, "
            f"{drop / max(se, 1e-300):.1f} standard errors): the approximation has not "
            "converged. Run more iterations (BayesianGMM(..., sampler_kwargs={'n': <more "
            "steps>}), or n=<more steps> for run_inference) or use method='nuts'.",
        )
    return None


def _chain_modes(posterior, permutation):
    """Run detect_chain_modes; return (ChainModeReport, Problem or None)."""
    from bayesgmm.posterior import detect_chain_modes

    report = detect_chain_modes(posterior, permutation=permutation)
    if not report.multimodal:
        return report, None
    return report, Problem(
        "chain_modes",
        ChainModeWarning,
        f"{report.message} Check the EM initialisation (more `n_init`, inspect "
        "`model.em_`) and consider fewer components.",
    )


def warn_diagnostics(tree, **kwargs) -> DiagnosticsReport:
    """Run :func:`check_diagnostics` and issue a warning for every problem.

    Parameters
    ----------
    tree : xarray.DataTree
    **kwargs
        Passed to :func:`check_diagnostics` (``rhat_max``, ``ess_min``,
        ``check_modes``).

    Returns
    -------
    DiagnosticsReport

    Examples
    --------
    >>> from bayesgmm.diagnostics import warn_diagnostics  # doctest: +SKIP
    >>> report = warn_diagnostics(model.idata_, ess_min=200)  # doctest: +SKIP
    """
    report = check_diagnostics(tree, **kwargs)
    report.warn(stacklevel=3)
    return report
