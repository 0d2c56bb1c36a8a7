"""Anomaly detection with uncertainty from a fitted mixture.

:func:`detect_anomalies` scores points (the training data or new ones) by the
posterior distribution of their log density, and flags those below a threshold set
for a target false-alarm rate from the posterior predictive distribution; the method
is described in :mod:`bayesgmm.posterior.density` and in the user guide
("Anomalies with uncertainty").  :func:`density_grid` evaluates the density and the
width of its credible interval on a grid of two features, for
:func:`bayesgmm.plots.anomalies`.

Both take a fitted :class:`~bayesgmm.BayesianGMM` (its posterior draws), a fitted
:class:`~bayesgmm.GaussianMixture` (the plug-in mixture as a single draw: the same
rule without parameter uncertainty), or posterior draws (an xarray Dataset/DataTree).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayesgmm import _datatree
from bayesgmm._data import check_array
from bayesgmm.posterior._common import DEFAULT_MEMORY_BUDGET, as_dataset, resolve_ci
from bayesgmm.posterior.density import anomaly_summary, log_density_summary

__all__ = ["detect_anomalies", "density_grid", "as_posterior"]


def as_posterior(model, name: str = "model"):
    """``(posterior Dataset, training data array or None, feature names)`` of ``model``.

    A :class:`~bayesgmm.GaussianMixture` becomes a posterior with one chain and one
    draw (its point estimate).
    """
    if hasattr(model, "idata_"):
        tree = model.idata_
        if "noise_weight" in _datatree.get_posterior(tree):
            raise ValueError(
                f"{name} is a BayesianGMM with noise=True: its noise component is not part of "
                "these density summaries yet. Its outliers are the rows where "
                f"{name}.predict(X) == -1 (noise probability with its interval: the last column "
                f"of {name}.predict_proba(X, return_interval=True)); {name}.score_samples(X) "
                "includes the noise density."
            )
        observed = _datatree.get_observed(tree).transpose("obs", "feature").to_numpy()
        return _datatree.get_posterior(tree), observed, list(_datatree.get_feature_names(tree))
    if hasattr(model, "means_") and getattr(model, "noise_hypervolume_", None) is not None:
        raise ValueError(
            f"{name} is a GaussianMixture with noise=True: its noise component is not part "
            "of these density summaries yet. Its outliers are the rows where "
            f"{name}.predict(X) == -1 (noise probability: the last column of predict_proba)."
        )
    if hasattr(model, "means_") and hasattr(model, "covariances_"):
        D = np.shape(model.means_)[1]
        names = getattr(model, "feature_names_in_", None)
        names = [str(n) for n in names] if names is not None else [f"x{i}" for i in range(D)]
        ds = _datatree.em_dataset(model, names)
        ds = ds[["weights", "means", "covariances"]].expand_dims(chain=[0], draw=[0])
        return ds, None, names
    if hasattr(model, "fit") and not hasattr(model, "idata_"):
        raise ValueError(
            f"{name} is not fitted: call {name}.fit(X) first, or pass its posterior draws."
        )
    ds = as_dataset(model, name, "posterior")
    names = [str(f) for f in ds["means"]["feature"].to_numpy()] if "feature" in ds.coords else None
    return ds, None, names


def _data(X, train, name="X"):
    if X is None:
        if train is None:
            raise ValueError(
                "X is required: this model does not hold its training data (pass the "
                "points to score, e.g. detect_anomalies(model, X_new))."
            )
        return train
    return X


def detect_anomalies(
    model,
    X=None,
    false_alarm_rate: float = 0.01,
    *,
    ci_prob: float | None = None,
    ci_kind: str | None = None,
    hdi_prob: float | None = None,
    n_replicates: int = 4000,
    n_per_draw: int = 500,
    random_state=None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> xr.Dataset:
    """Flag anomalies at a target false-alarm rate, with the uncertainty of each score.

    Parameters
    ----------
    model : BayesianGMM, GaussianMixture, or posterior draws (xarray Dataset/DataTree)
        A fitted mixture.
    X : array-like of shape (n_obs, n_features), optional
        Points to score; default the training data of a :class:`~bayesgmm.BayesianGMM`.
    false_alarm_rate : float, default 0.01
        Target probability of flagging a point drawn from the fitted model.
    ci_prob : float, optional
        Probability mass of the credible intervals of the log density; default
        ``arviz_base.rcParams["stats.ci_prob"]`` (0.89 unless changed).
    ci_kind : {"eti", "hdi"}, optional
        Equal-tailed or highest-density intervals; default
        ``arviz_base.rcParams["stats.ci_kind"]`` (``"eti"`` unless changed).
    hdi_prob : float, optional
        Deprecated name of ``ci_prob`` (a FutureWarning; removed in the next release).
    n_replicates, n_per_draw : int
        Simulation sizes of the threshold and of the per-draw tail boundaries
        (:func:`bayesgmm.posterior.density.anomaly_summary`).
    random_state : int, numpy Generator/RandomState or None
        Seeds the simulations.
    memory_budget : int, default 64 MiB

    Returns
    -------
    xarray.Dataset
        dims (obs,): ``log_density`` (posterior predictive), ``mean``, ``sd``, ``lower``,
        ``upper``, ``width`` (the log density's posterior distribution),
        ``outlier_probability`` (posterior probability of lying in the lowest-density
        ``false_alarm_rate`` region), ``is_outlier`` (``log_density < threshold``);
        attrs ``threshold``, ``false_alarm_rate``, ``method``, ``ci_prob``, ``ci_kind``,
        ``interval``.

    Examples
    --------
    >>> import numpy as np, bayesgmm as bg
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2))
    >>> gm = bg.GaussianMixture(1, random_state=0).fit(X)
    >>> res = detect_anomalies(gm, [[0.0, 0.0], [6.0, 6.0]], 0.01, random_state=0)
    >>> res["is_outlier"].values.tolist()
    [False, True]
    """
    ci_prob, ci_kind = resolve_ci(ci_prob, ci_kind, hdi_prob)
    post, train, _ = as_posterior(model)
    X = _data(X, train)
    return anomaly_summary(
        post,
        X,
        false_alarm_rate,
        ci_prob=ci_prob,
        ci_kind=ci_kind,
        n_replicates=n_replicates,
        n_per_draw=n_per_draw,
        random_state=random_state,
        memory_budget=memory_budget,
    )


def density_grid(
    model,
    X=None,
    *,
    features=(0, 1),
    n_grid: int = 60,
    ci_prob: float | None = None,
    ci_kind: str | None = None,
    hdi_prob: float | None = None,
    padding: float = 0.15,
) -> xr.Dataset:
    """The (marginal) log density of two features on a grid, with its interval width.

    The marginal of a Gaussian mixture over a subset of features is the mixture of
    the Gaussians' marginals (exact), so any two features of any number can be shown.

    Parameters
    ----------
    model : BayesianGMM, GaussianMixture, or posterior draws
    X : array-like, optional
        Data whose range (plus ``padding`` on each side) sets the grid; default the
        training data of a :class:`~bayesgmm.BayesianGMM`.
    features : pair of int or str, default (0, 1)
        The two features (positions or names).
    n_grid : int, default 60
        Grid points per axis.
    ci_prob, ci_kind, hdi_prob
        Mass and kind of the intervals whose width is returned, as in
        :func:`detect_anomalies` (ArviZ's ``rcParams`` by default).
    padding : float, default 0.15
        Fraction of the data range added on each side.

    Returns
    -------
    xarray.Dataset
        dims (y, x) with coords ``x`` and ``y`` (the two features' values):
        ``log_density`` (posterior predictive), ``lower``, ``upper``, ``width``;
        attrs ``features``, ``ci_prob``, ``ci_kind``, ``interval``.

    Examples
    --------
    >>> import numpy as np, bayesgmm as bg
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> g = density_grid(bg.GaussianMixture(1).fit(X), X, features=(0, 2), n_grid=5)
    >>> g["log_density"].shape
    (5, 5)
    """
    ci_prob, ci_kind = resolve_ci(ci_prob, ci_kind, hdi_prob)
    post, train, names = as_posterior(model)
    arr, _ = check_array(_data(X, train), name="X", allow_dask=False)
    if len(features) != 2:
        raise ValueError(f"features must name exactly two features; got {features!r}.")
    idx = []
    for f in features:
        if isinstance(f, str):
            if names is None or f not in names:
                raise ValueError(f"feature {f!r} is not one of the model's features {names}.")
            idx.append(names.index(f))
        else:
            if not 0 <= int(f) < arr.shape[1]:
                raise ValueError(f"feature position {f} is out of range [0, {arr.shape[1]}).")
            idx.append(int(f))
    if not isinstance(n_grid, int) or n_grid < 2:
        raise ValueError(f"n_grid must be an int >= 2; got {n_grid!r}.")
    marginal = post[["weights", "means", "covariances"]].isel(feature=idx, feature_bis=idx)
    lo, hi = arr[:, idx].min(axis=0), arr[:, idx].max(axis=0)
    pad = padding * np.where(hi > lo, hi - lo, 1.0)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], n_grid)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], n_grid)
    xx, yy = np.meshgrid(gx, gy)
    pts = np.column_stack([xx.ravel(), yy.ravel()])
    s = log_density_summary(marginal, pts, ci_prob=ci_prob, ci_kind=ci_kind)
    shape = (n_grid, n_grid)
    out = xr.Dataset(
        {k: (("y", "x"), s[k].to_numpy().reshape(shape)) for k in ("log_density", "lower", "upper", "width")},
        coords={"x": gx, "y": gy},
        attrs={
            "features": [names[i] if names else str(i) for i in idx],
            "ci_prob": s.attrs["ci_prob"],
            "ci_kind": s.attrs["ci_kind"],
            "interval": s.attrs["interval"],
        },
    )
    return out
