"""``method="loo"`` / ``"waic"``: a Bayesian fit per cell, compared by elpd.

The expected log pointwise predictive density of each cell is estimated by
PSIS-LOO (:func:`arviz_stats.loo`) or WAIC (:func:`waic`), the cells are
compared with :func:`arviz_stats.compare`, and a selection rule picks one
(:func:`_pick_elpd`: the highest elpd, or the fewest components within one
standard error of it, skipping cells whose Pareto k exceeds
:data:`PARETO_K_SKIP`).

Where PSIS fails (observations with Pareto k above ``good_k``), the flagged
observations are refitted exactly (:func:`_exact_refits`): each left out in
turn (up to :data:`MAX_LOO_REFITS`), or the whole cell by
:data:`KFOLD_FOLDS`-fold cross-validation, so no cell is skipped for its Pareto
k when the refits succeed.  :func:`moment_match_loo` (Paananen et al. 2021,
through :func:`arviz_stats.loo_moment_match` on the package's own
unconstrained density) is the cheaper alternative, available on its own and
through ``_elpd_results(..., moment_match=True)``; it is not the default: on a
far outlier it lowered k to 0.3 but left the elpd 4 nats above the exact
refit's, and on wine it lowered no cell's largest k.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import xarray as xr

from bayesgmm import _kernels
from bayesgmm.exceptions import ParetoKWarning, SelectionWarning
from bayesgmm.selection._cells import (
    _argbest,
    _fit_bayes,
    _reemit,
    _run_cells,
    _warn_failures,
)
from bayesgmm.selection._result import SelectionResult

__all__ = ["KFOLD_FOLDS", "MAX_LOO_REFITS", "PARETO_K_SKIP", "moment_match_loo", "waic"]


#: Pareto k above which a cell's PSIS-LOO elpd is not used by the selection rules.
#: For ``good_k < k <= 1`` the importance-sampling estimate still has a finite mean
#: (it converges slowly, and the per-cell :class:`ParetoKWarning` says so); above 1
#: its mean does not exist (Vehtari et al., 2024), so the elpd is meaningless. Skipping
#: already at ``good_k`` (0.62 for 400 draws) threw away the true K on a single
#: observation with k = 0.67 and lowered the recovery rate of ``benchmarks/selection.py``.
PARETO_K_SKIP = 1.0


#: Observations of a cell refitted one at a time (exact LOO) when moment matching left
#: their Pareto k above ``good_k``; with more flagged than this, the whole cell is
#: cross-validated by :data:`KFOLD_FOLDS`-fold refits instead (fewer fits).
MAX_LOO_REFITS = 10
#: Folds of the exact K-fold cross-validation of a cell with many flagged observations.
KFOLD_FOLDS = 10


def waic(log_likelihood, *, warn=True):
    r"""Widely applicable information criterion from a pointwise log-likelihood.

    arviz-stats 1.x has no WAIC (it recommends PSIS-LOO), so it is computed
    here from the draws ``l_{sn} = log p(x_n | theta_s)`` (Watanabe 2010;
    Vehtari, Gelman and Gabry 2017, eqs. 11-12):

    .. math::

        \mathrm{lppd}_n = \log \frac{1}{S} \sum_s e^{l_{sn}}, \quad
        p_n = \mathrm{Var}_s(l_{sn}) \ (\text{ddof}=1), \quad
        \widehat{\mathrm{elpd}}_n = \mathrm{lppd}_n - p_n,

    ``elpd = sum_n elpd_n``, ``p = sum_n p_n`` and
    ``se = sqrt(N Var_n(elpd_n))``. Higher elpd is better; the deviance-scale
    WAIC is ``-2 elpd``.

    Parameters
    ----------
    log_likelihood : xarray.DataArray or array-like
        Dims (chain, draw, obs) (any names: all but the last are flattened
        into draws) or a 2-d (draw, obs) array.
    warn : bool, default True
        Warn when some ``p_n`` exceed 0.4, where WAIC is unreliable.

    Returns
    -------
    arviz_stats.ELPDData
        ``elpd``, ``se``, ``p``, ``n_samples``, ``n_data_points``, ``warning``,
        ``elpd_i`` (dim ``obs``); ``pareto_k`` is None. It can be passed to
        :func:`arviz_stats.compare`.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.selection import waic
    >>> ll = np.log(np.array([[0.2, 0.5], [0.4, 0.5]]))  # 2 draws, 2 observations
    >>> res = waic(ll, warn=False)
    >>> bool(np.isclose(res.elpd, np.log(0.3) + np.log(0.5) - np.var(ll[:, 0], ddof=1)))
    True
    """
    from arviz_stats import ELPDData

    if isinstance(log_likelihood, xr.DataArray):
        obs_dim = log_likelihood.dims[-1]
        obs_coord = log_likelihood[obs_dim].to_numpy() if obs_dim in log_likelihood.coords else None
        arr = log_likelihood.to_numpy()
    else:
        obs_coord = None
        arr = np.asarray(log_likelihood, dtype=np.float64)
    if arr.ndim < 2:
        raise ValueError(
            "`log_likelihood` must have a draw axis and an observation axis "
            f"(e.g. (chain, draw, obs)); got shape {arr.shape}."
        )
    ll = arr.reshape(-1, arr.shape[-1]).astype(np.float64, copy=False)
    S, N = ll.shape
    if S < 2:
        raise ValueError(f"`log_likelihood` needs at least 2 draws for WAIC; got {S}.")
    if not np.all(np.isfinite(ll)):
        raise ValueError(
            f"`log_likelihood` contains {int((~np.isfinite(ll)).sum())} non-finite values; "
            "WAIC needs a finite log-likelihood for every draw and observation."
        )
    lppd_i = _kernels.logsumexp_rows(ll.T) - math.log(S)
    p_i = np.var(ll, axis=0, ddof=1)
    elpd_i = lppd_i - p_i
    elpd = float(elpd_i.sum())
    se = float(math.sqrt(N * np.var(elpd_i))) if N > 1 else 0.0
    n_bad = int(np.sum(p_i > 0.4))
    if n_bad and warn:
        warnings.warn(
            f"WAIC: {n_bad} of {N} observations have a pointwise effective number of "
            "parameters above 0.4, where WAIC is unreliable; prefer method='loo' "
            "(PSIS-LOO), which diagnoses itself through Pareto k.",
            SelectionWarning,
            stacklevel=2,
        )
    coords = {"obs": obs_coord if obs_coord is not None else np.arange(N)}
    return ELPDData(
        elpd=elpd,
        se=se,
        p=float(p_i.sum()),
        n_samples=S,
        n_data_points=N,
        scale="log",
        warning=bool(n_bad),
        good_k=0.7,
        elpd_i=xr.DataArray(elpd_i, dims=("obs",), coords=coords, name="elpd_i"),
        pareto_k=None,
    )


def _select_elpd(X, ks, cts, method, n_init, seed, progressbar, n_jobs, priors, rule, fit_kwargs):
    """``select_components(method="loo" | "waic")`` once its arguments are checked."""
    cells = [(k, ct) for k in ks for ct in cts]
    options = {"n_init": n_init, "kwargs": dict(fit_kwargs), "priors": priors}
    results = _run_cells(
        _fit_bayes, X, cells, seed, options, n_jobs, progressbar, f"select_components({method})"
    )
    elpds, info = _elpd_results(results, cells, method, refit={"X": X, "seed": seed, "options": options})
    _reemit(results, cells, stacklevel=4)
    _warn_failures(results, cells, stacklevel=4)
    if not elpds:
        raise ValueError(
            "every Bayesian fit of the selection failed (see the warning above); use fewer "
            "components or check the data."
        )
    table, comparison = _elpd_table(elpds, info, results, ks, cts, method, rule)
    if method == "loo":
        _warn_pareto(table, ks, cts, stacklevel=4)
    pointwise = {
        c: np.asarray(e.elpd_i).ravel() for c, e in elpds.items() if getattr(e, "elpd_i", None) is not None
    }
    best = _pick_elpd(table, ks, cts, rule, pointwise=pointwise, stacklevel=4)
    skipped = _unreliable_loo_cells(table, ks, cts)
    if skipped and len(skipped) < int(np.isfinite(table["elpd"].to_numpy()).sum()):
        table.attrs["skipped_unreliable_loo"] = ", ".join(_cell_name(c) for c in skipped)
    table.attrs.update(
        method=method,
        criterion="elpd_" + method,
        best_n_components=int(best[0]),
        best_covariance_type=best[1],
    )
    models = {c: results[c]["model"] for c in cells}
    return SelectionResult(method, table, int(best[0]), best[1], models[best], models, comparison)


def _elpd_results(results, cells, method, var_name="X", refit=None, moment_match=False):
    """Per-cell ELPD objects (PSIS-LOO or WAIC) and Pareto-k counts.

    For LOO, with ``moment_match``, observations with Pareto k above ``good_k``
    are first moment matched (:func:`moment_match_loo`); with ``refit``
    (``{"X", "seed", "options"}`` of the selection), those (still) above it are
    refitted exactly (:func:`_exact_refits`).
    """
    import arviz_stats

    from bayesgmm import _datatree

    elpds, info = {}, {}
    for cell in cells:
        r = results[cell]
        if r["error"] is not None:
            continue
        tree = r["model"].idata_
        if not _datatree.has_log_likelihood(tree):
            r["error"] = (
                "the fit has no log_likelihood group (it was skipped as too large); "
                "refit with log_likelihood=True"
            )
            continue
        if method == "loo":
            try:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
                    res = arviz_stats.loo(tree, var_name=var_name, pointwise=True)
            except (ValueError, FloatingPointError, np.linalg.LinAlgError) as err:
                # e.g. the Pareto fit of a degenerate tail ("All tail values are the same")
                r["error"] = f"PSIS-LOO failed: {type(err).__name__}: {err}"
                continue
            k_before = float(np.nanmax(np.asarray(res.pareto_k.values, dtype=float)))
            n_mm = 0
            # moment matching needs the model's own density (a BayesianGMM fitted by NUTS);
            # off by default: on an outlier it left the elpd 4 nats above the exact value
            # while reporting k = 0.3, and on wine it lowered no cell's max k (issue 14)
            if moment_match and k_before > res.good_k and hasattr(r["model"], "_resolved_priors"):
                try:
                    res, n_mm = moment_match_loo(r["model"], res, var_name=var_name)
                except (ValueError, KeyError, TypeError, FloatingPointError, np.linalg.LinAlgError) as err:
                    r["warnings"].append(
                        (SelectionWarning, f"moment matching of PSIS-LOO failed: {type(err).__name__}: {err}")
                    )
            n_refits = 0
            k_vals = np.asarray(res.pareto_k.values, dtype=float)
            if refit is not None and np.any(k_vals > res.good_k) and hasattr(r["model"], "_resolved_priors"):
                try:
                    res, n_refits = _exact_refits(r["model"], res, cell, **refit)
                except (ValueError, RuntimeError, np.linalg.LinAlgError) as err:
                    r["warnings"].append(
                        (SelectionWarning, f"exact LOO refits failed: {type(err).__name__}: {err}")
                    )
                k_vals = np.asarray(res.pareto_k.values, dtype=float)
            info[cell] = {
                "n_high_pareto_k": int(np.sum(k_vals > res.good_k)),
                "max_pareto_k": float(np.nanmax(k_vals)),
                "good_k": float(res.good_k),
                "max_pareto_k_psis": k_before,
                "n_moment_matched": n_mm,
                "n_refits": n_refits,
            }
        else:
            with warnings.catch_warnings(record=True) as rec:
                warnings.simplefilter("always")
                res = waic(_datatree.get_log_likelihood(tree))
            info[cell] = {"waic_warning": bool(res.warning)}
            r["warnings"].extend((w.category, str(w.message)) for w in rec)
        elpds[cell] = res
    return elpds, info


def moment_match_loo(model, loo_result, *, var_name="X", max_iters=30):
    """Repair PSIS-LOO by moment matching where Pareto k is high.

    Runs :func:`arviz_stats.loo_moment_match` (Paananen et al. 2021) with the
    model's own unconstrained log posterior
    (:class:`bayesgmm._logdensity.MixtureDensity`, the density NUTS sampled)
    and the posterior draws mapped to the unconstrained space.  The
    observations whose Pareto k exceeds ``good_k`` get their leave-one-out
    posterior from iteratively moment-matched draws; their ``elpd_i`` and k
    are updated (k values stay where matching did not lower them).

    Parameters
    ----------
    model : bayesgmm.BayesianGMM
        Fitted by NUTS, with the pointwise log-likelihood stored.
    loo_result : arviz_stats.ELPDData
        ``arviz_stats.loo(model.idata_, pointwise=True)``.
    var_name : str, default "X"
    max_iters : int, default 30
        Moment-matching iterations per observation.

    Returns
    -------
    (arviz_stats.ELPDData, int)
        The updated result and the number of observations that were matched.

    Examples
    --------
    >>> import arviz_stats  # doctest: +SKIP
    >>> loo = arviz_stats.loo(model.idata_, var_name="X", pointwise=True)  # doctest: +SKIP
    >>> loo_mm, n = moment_match_loo(model, loo)  # doctest: +SKIP
    """
    import arviz_stats

    from bayesgmm import _datatree
    from bayesgmm._logdensity import MixtureDensity

    tree = model.idata_
    k_vals = np.asarray(loo_result.pareto_k.values, dtype=float)
    n_bad = int(np.sum(k_vals > loo_result.good_k))
    if n_bad == 0:
        return loo_result, 0
    X = np.asarray(_datatree.get_observed(tree).values, dtype=np.float64)
    config = _datatree.get_config(tree)
    dens = MixtureDensity(X, config["n_components"], config["covariance_type"], model._resolved_priors())
    post = _datatree.get_posterior(tree)
    w = post["weights"].transpose("chain", "draw", "component").to_numpy()
    mu = post["means"].transpose("chain", "draw", "component", "feature").to_numpy()
    cov = post["covariances"].transpose("chain", "draw", "component", "feature", "feature_bis").to_numpy()
    C, S = w.shape[:2]
    u = np.empty((C, S, dens.ndim))
    for c in range(C):
        for d in range(S):
            u[c, d] = dens.pack(w[c, d], mu[c, d], cov[c, d])
    upars = xr.DataArray(u, dims=("chain", "draw", "unconstrained_parameter"),
                         coords={"chain": post["chain"].values, "draw": post["draw"].values})
    coords = {"chain": upars["chain"].values, "draw": upars["draw"].values}

    def _each(up, fn):
        arr = np.asarray(up.transpose("chain", "draw", ...).values, dtype=np.float64)
        out = np.empty(arr.shape[:2])
        for c in range(arr.shape[0]):
            for d in range(arr.shape[1]):
                out[c, d] = fn(arr[c, d])
        return xr.DataArray(out, dims=("chain", "draw"), coords=coords)

    def log_prob(up):
        return _each(up, lambda x: dens.logp_and_grad(x)[0])

    def log_lik_i(up, i):
        # one observation under every draw, batched over draws (a loop only to unpack)
        arr = np.asarray(up.transpose("chain", "draw", ...).values, dtype=np.float64)
        flat = arr.reshape(-1, arr.shape[-1])
        parts = [dens.unpack(x) for x in flat]
        logw = np.log(np.maximum(np.stack([p["weights"] for p in parts]), np.finfo(np.float64).tiny))
        diff = X[int(i)] - np.stack([p["means"] for p in parts])  # (M, K, D)
        L = np.stack([p["chol"] for p in parts])  # (M, K, D, D) lower Cholesky factors
        z = np.linalg.solve(L, diff[..., None])[..., 0]
        log_det = np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(-1)
        comp = logw - 0.5 * (z**2).sum(-1) - log_det - 0.5 * X.shape[1] * math.log(2 * math.pi)
        top = comp.max(-1, keepdims=True)
        ll = (top + np.log(np.exp(comp - top).sum(-1, keepdims=True)))[:, 0]
        return xr.DataArray(ll.reshape(arr.shape[:2]), dims=("chain", "draw"), coords=coords)

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # its per-observation notes; the table reports the k left
        res = arviz_stats.loo_moment_match(
            tree, loo_result, log_prob_upars_fn=log_prob, log_lik_i_upars_fn=log_lik_i, upars=upars,
            var_name=var_name, max_iters=max_iters, pointwise=True,
        )
    return res, n_bad


def _exact_refits(model, loo_result, cell, *, X, seed, options):
    """Exact leave-one-out (or K-fold) elpd for the observations PSIS could not handle.

    The observations whose Pareto k is still above ``good_k`` are refitted: each
    one left out in turn (at most :data:`MAX_LOO_REFITS`), or, with more, every
    observation in :data:`KFOLD_FOLDS` folds.  The refit is the cell's own fit
    (same components, covariance type, priors, seed and sampler settings) on the
    data without the held-out rows; the held-out rows' ``elpd_i`` is then
    ``log mean_s p(x_i | theta_s)`` over the refit's draws, exact up to Monte
    Carlo error, and their Pareto k is set to 0.  Returns the updated result and
    the number of refits.
    """
    import copy

    from bayesgmm import _datatree
    from bayesgmm._data import check_array
    from bayesgmm.posterior import pointwise_log_likelihood
    from bayesgmm.selection._cells import _fit_bayes

    arr, _ = check_array(X, name="X", allow_dask=False)
    arr = np.asarray(arr, dtype=np.float64)
    N = arr.shape[0]
    k_vals = np.asarray(loo_result.pareto_k.values, dtype=float).ravel()
    bad = np.flatnonzero(k_vals > loo_result.good_k)
    if bad.size <= MAX_LOO_REFITS:
        folds = [np.array([i]) for i in bad]
    else:
        perm = np.random.default_rng(0 if seed is None else seed).permutation(N)
        folds = [np.sort(f) for f in np.array_split(perm, min(KFOLD_FOLDS, N))]
    elpd_i = np.asarray(loo_result.elpd_i.values, dtype=float).ravel().copy()
    k_new = k_vals.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the refits' own diagnostics: the cell's fit reports them
        for held in folds:
            keep = np.setdiff1d(np.arange(N), held)
            refit, _ = _fit_bayes(arr[keep], cell[0], cell[1], seed, options)
            ll = pointwise_log_likelihood(_datatree.get_posterior(refit.idata_), arr[held])
            ll = ll.transpose("chain", "draw", "obs").to_numpy().reshape(-1, held.size)
            elpd_i[held] = _kernels.logsumexp_rows(ll.T) - math.log(ll.shape[0])
            k_new[held] = 0.0
    out = copy.deepcopy(loo_result)
    lppd = out.elpd + out.p  # unchanged: the full-data fit's pointwise predictive density
    out.elpd = float(elpd_i.sum())
    out.se = float(math.sqrt(N * np.var(elpd_i)))
    out.p = float(lppd - out.elpd)
    out.elpd_i = out.elpd_i.copy(data=elpd_i.reshape(out.elpd_i.shape))
    out.pareto_k = out.pareto_k.copy(data=k_new.reshape(out.pareto_k.shape))
    out.warning = bool(np.any(k_new > out.good_k))
    return out, len(folds)


def _cell_name(cell):
    """``"K=3 full"``: a cell's row name in the comparison table."""
    return f"K={cell[0]} {cell[1]}"


def _elpd_table(elpds, info, results, ks, cts, method, rule):
    """The (n_components, covariance_type) elpd table and arviz-stats' comparison."""
    import arviz_stats

    shape = (len(ks), len(cts))
    names = {cell: _cell_name(cell) for cell in elpds}
    comparison = None
    vals = {v: np.full(shape, np.nan) for v in ("elpd", "se", "p", "elpd_diff", "dse", "weight")}
    rank = np.full(shape, -1, dtype=np.int64)
    n_high = np.full(shape, -1, dtype=np.int64)
    max_k = np.full(shape, np.nan)
    max_k_psis = np.full(shape, np.nan)
    n_mm = np.full(shape, -1, dtype=np.int64)
    n_refit = np.full(shape, -1, dtype=np.int64)
    good_k = np.full(shape, np.nan)
    message = np.full(shape, "", dtype=object)
    seconds = np.full(shape, np.nan)
    if len(elpds) >= 2:
        comparison = arviz_stats.compare(
            {names[c]: e for c, e in elpds.items()}, method="stacking", round_to="none"
        )
    for i, k in enumerate(ks):
        for j, ct in enumerate(cts):
            cell = (k, ct)
            r = results[cell]
            seconds[i, j] = r["seconds"]
            msgs = [msg for _, msg in r["warnings"]]
            if r["error"] is not None:
                message[i, j] = r["error"]
                continue
            e = elpds[cell]
            vals["elpd"][i, j] = e.elpd
            vals["se"][i, j] = e.se
            vals["p"][i, j] = e.p
            if comparison is not None:
                row = comparison.loc[names[cell]]
                vals["elpd_diff"][i, j] = row["elpd_diff"]
                vals["dse"][i, j] = row["dse"]
                vals["weight"][i, j] = row["weight"]
                rank[i, j] = int(row["rank"])
            else:
                vals["elpd_diff"][i, j] = 0.0
                vals["dse"][i, j] = 0.0
                vals["weight"][i, j] = 1.0
                rank[i, j] = 0
            if method == "loo":
                n_high[i, j] = info[cell]["n_high_pareto_k"]
                max_k[i, j] = info[cell]["max_pareto_k"]
                max_k_psis[i, j] = info[cell]["max_pareto_k_psis"]
                n_mm[i, j] = info[cell]["n_moment_matched"]
                n_refit[i, j] = info[cell]["n_refits"]
                good_k[i, j] = info[cell]["good_k"]
            message[i, j] = " | ".join(msgs)
    dims = ("n_components", "covariance_type")
    label = "PSIS-LOO" if method == "loo" else "WAIC"
    data = {
        "elpd": (dims, vals["elpd"], {"long_name": f"elpd ({label}), higher is better"}),
        "se": (dims, vals["se"], {"long_name": "standard error of elpd"}),
        "p": (dims, vals["p"], {"long_name": "effective number of parameters"}),
        "elpd_diff": (dims, vals["elpd_diff"], {"long_name": "elpd - elpd of the highest-elpd cell"}),
        "dse": (dims, vals["dse"], {"long_name": "standard error of elpd_diff"}),
        "weight": (dims, vals["weight"], {"long_name": "stacking weight"}),
        "rank": (dims, rank, {"long_name": "rank by elpd (0 = highest, -1 = failed)"}),
    }
    if method == "loo":
        data["n_high_pareto_k"] = (dims, n_high, {"long_name": "observations with Pareto k > good_k (-1 = failed)"})
        data["max_pareto_k"] = (dims, max_k, {
            "long_name": "largest Pareto k of the cell (after moment matching)"})
        data["max_pareto_k_psis"] = (dims, max_k_psis, {
            "long_name": "largest Pareto k of plain PSIS, before moment matching"})
        data["n_moment_matched"] = (dims, n_mm, {
            "long_name": "observations whose LOO was moment matched (k above good_k; -1 = failed)"})
        data["n_refits"] = (dims, n_refit, {
            "long_name": "exact refits for observations still above good_k after moment matching "
                         f"(one per observation up to {MAX_LOO_REFITS}, else {KFOLD_FOLDS} folds)"})
        data["good_k"] = (dims, good_k, {
            "long_name": "Pareto k reliability threshold min(1 - 1/log10(S), 0.7); cells with "
                         "max_pareto_k above it are skipped by the selection rule",
        })
    data["seconds"] = (dims, seconds)
    data["message"] = (dims, message.astype(str))
    ds = xr.Dataset(
        data,
        coords={"n_components": np.asarray(ks, dtype=np.int64), "covariance_type": np.asarray(cts)},
        attrs={"convention": "elpd: higher is better", "rule": rule},
    )
    return ds, comparison


def _unreliable_loo_cells(ds, ks, cts):
    """Cells whose max Pareto k exceeds :data:`PARETO_K_SKIP`: ``{(k, ct): (max_k, limit)}``."""
    if "max_pareto_k" not in ds:
        return {}
    max_k = ds["max_pareto_k"].to_numpy()
    return {
        (k, ct): (float(max_k[i, j]), PARETO_K_SKIP)
        for i, k in enumerate(ks)
        for j, ct in enumerate(cts)
        if np.isfinite(max_k[i, j]) and max_k[i, j] > PARETO_K_SKIP
    }


def _pick_elpd(ds, ks, cts, rule, pointwise=None, stacklevel=4):
    """Best cell: highest elpd, or the simplest cell within one dse of it.

    For PSIS-LOO, cells whose max Pareto k exceeds :data:`PARETO_K_SKIP` (1.0)
    are skipped, with a :class:`ParetoKWarning` naming them: their
    elpd is likely too optimistic, so neither rule may prefer them (unless every
    cell is unreliable). When the highest-elpd cell is skipped, the one-SE rule
    measures from the best reliable cell; ``pointwise`` (``{cell: elpd_i}``)
    then gives the standard error of that difference, ``sqrt(N Var(diff_i))``
    as in :func:`arviz_stats.compare` (without it, the table's ``dse`` of the
    cell is used as an approximation).
    """
    elpd = ds["elpd"].to_numpy()
    skipped = _unreliable_loo_cells(ds, ks, cts)
    ok = np.isfinite(elpd)
    for i, k in enumerate(ks):
        for j, ct in enumerate(cts):
            if (k, ct) in skipped:
                ok[i, j] = False
    if skipped and not ok.any():
        warnings.warn(
            "PSIS-LOO is unreliable (max Pareto k above the threshold) for every cell, so "
            f"the choice rests on unreliable elpd estimates ({len(skipped)} cells). Run more "
            "draws (draws=...), use moment matching (arviz_stats.loo_moment_match) or exact "
            "K-fold cross-validation (arviz_stats.loo_kfold), or compare with method='bic'.",
            ParetoKWarning,
            stacklevel=stacklevel,
        )
        ok = np.isfinite(elpd)
        skipped = {}
    best = _argbest(np.where(ok, elpd, np.nan), ks, cts, higher_is_better=True)
    top = _argbest(elpd, ks, cts, higher_is_better=True)
    if skipped:
        desc = "; ".join(
            f"K={k} {ct} (max Pareto k = {mk:.2f} > {gk:.2f})" for (k, ct), (mk, gk) in skipped.items()
        )
        warnings.warn(
            f"rule={rule!r} skipped the cells whose PSIS-LOO is unreliable: {desc}; their elpd "
            "is likely too optimistic. To consider them, run more draws (draws=...) and refit, "
            "use moment matching (arviz_stats.loo_moment_match) or exact K-fold "
            "cross-validation (arviz_stats.loo_kfold) for them; otherwise treat those "
            "component counts as unsupported.",
            ParetoKWarning,
            stacklevel=stacklevel,
        )
    if best is None or rule == "best":
        return best
    # one_se: the fewest components (then the first covariance type) whose elpd is
    # within one standard error of the difference from the best (reliable) cell.
    if best == top:
        diff = ds["elpd_diff"].to_numpy()
        dse = ds["dse"].to_numpy()
    else:
        ib, jb = ks.index(best[0]), cts.index(best[1])
        diff = elpd - elpd[ib, jb]
        dse = ds["dse"].to_numpy().copy()
        if pointwise is not None and best in pointwise:
            ref = np.asarray(pointwise[best], dtype=float)
            for i, k in enumerate(ks):
                for j, ct in enumerate(cts):
                    if (k, ct) in pointwise:
                        d = np.asarray(pointwise[(k, ct)], dtype=float) - ref
                        dse[i, j] = math.sqrt(d.size * np.var(d))
    for i, k in enumerate(ks):
        for j, ct in enumerate(cts):
            if ok[i, j] and np.isfinite(diff[i, j]) and diff[i, j] >= -dse[i, j]:
                return k, ct
    return best


def _warn_pareto(ds, ks, cts, stacklevel=3):
    """One :class:`ParetoKWarning` for the cells with observations above ``good_k``."""
    n_high = ds["n_high_pareto_k"].to_numpy()
    max_k = ds["max_pareto_k"].to_numpy()
    bad = [
        (k, ct, int(n_high[i, j]), float(max_k[i, j]))
        for i, k in enumerate(ks)
        for j, ct in enumerate(cts)
        if n_high[i, j] > 0
    ]
    if bad:
        desc = "; ".join(f"K={k} {ct}: {nb} obs, max k = {mk:.2f}" for k, ct, nb, mk in bad)
        warnings.warn(
            "PSIS-LOO is unreliable for some observations (Pareto k above the threshold "
            f"min(1 - 1/log10(S), 0.7)): {desc}. Their elpd is likely too optimistic. "
            "Check whether the rankings that matter involve these cells; if so, run more "
            "draws (draws=...), refit those cells and compare by exact K-fold "
            "cross-validation (arviz_stats.loo_kfold) or reloo, or inspect the flagged "
            "observations (often outliers or tiny clusters). Overfitted cells with "
            "near-empty components typically show this.",
            ParetoKWarning,
            stacklevel=stacklevel,
        )
