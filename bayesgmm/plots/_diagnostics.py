"""Trace, rank and pair plots of the relabelled draws, through arviz-plots."""

from __future__ import annotations

import xarray as xr

from bayesgmm import _datatree
from bayesgmm.plots._common import resolve_tree

__all__ = ["trace", "rank", "pair"]

_DEFAULT_VARS = ("weights", "means", "sds")


def _split_features(ds: xr.Dataset) -> xr.Dataset:
    """One variable per feature (``means[waiting]``) for variables with only a feature dim.

    Features have different units, so a compact panel mixing them is unreadable; this
    only renames slices, nothing is computed.
    """
    out = {}
    for name, var in ds.data_vars.items():
        if "feature" in var.dims and "feature_bis" not in var.dims and var.sizes["feature"] > 1:
            for f in var["feature"].to_numpy():
                out[f"{name}[{f}]"] = var.sel(feature=f, drop=True)
        else:
            out[name] = var
    return xr.Dataset(out)


def _posterior_tree(model_or_tree, var_names, *, coords=None, with_stats: bool,
                    split_features: bool = False) -> tuple[xr.DataTree, list]:
    """A DataTree with the relabelled draws of ``var_names`` (and ``sample_stats``)."""
    tree = resolve_tree(model_or_tree)
    post = _datatree.get_posterior(tree)
    ds = _datatree.select_variables(post, var_names, _DEFAULT_VARS)
    var_names = [str(v) for v in ds.data_vars]
    if coords is not None:
        if not isinstance(coords, dict):
            raise TypeError(
                "coords must be a dict such as {'component': [0, 1]}; got "
                f"{type(coords).__name__}."
            )
        bad = [d for d in coords if d not in ds.dims or d in ("chain", "draw")]
        if bad:
            raise ValueError(
                f"coords names {bad}, which are not dims of {list(var_names)}; use some of "
                f"{[d for d in ds.dims if d not in ('chain', 'draw')]}."
            )
        try:
            ds = ds.sel(coords)
        except KeyError as exc:
            raise ValueError(f"coords selects values that do not exist: {exc}.") from None
    if "correlations" in ds and "feature_bis" in ds["correlations"].dims:
        if ds.sizes.get("feature", 0) < 2:
            raise ValueError("correlations need at least 2 features; drop it from var_names.")
        ds = ds.assign(correlations=_datatree.correlation_pairs(ds["correlations"]))
    if split_features:
        ds = _split_features(ds)
    groups = {"posterior": ds}
    stats = _datatree.get_sample_stats(tree)
    if with_stats and stats is not None and "diverging" in stats:
        groups["sample_stats"] = stats[["diverging"]].astype({"diverging": bool})
    return xr.DataTree.from_dict(groups), [str(v) for v in ds.data_vars]


def trace(model_or_tree, var_names=None, *, coords=None, compact: bool = True, **kwargs):
    """Trace and marginal-density plot of the relabelled posterior draws.

    A thin wrapper over :func:`arviz_plots.plot_trace_dist`.  Draws are the
    ones stored in the result tree, already relabelled against the EM fit, so
    one line per chain per component is meaningful (unrelabelled draws would
    jump between components).

    Parameters
    ----------
    model_or_tree : BayesianGMM or xarray.DataTree
        A fitted model or its result tree.
    var_names : str or list of str, optional
        Posterior variables (default ``weights``, ``means``, ``sds``).
        ``correlations`` are shown for the free (upper-triangle) pairs only.
    coords : dict, optional
        Subset, e.g. ``{"component": [0, 1], "feature": ["waiting"]}``.
    compact : bool, default True
        One panel per variable and feature (``means[waiting]``: features have
        different units) with a line per component and chain, each component
        in one colour throughout (``False``: one panel per scalar).
    **kwargs
        Passed to :func:`arviz_plots.plot_trace_dist`.

    Returns
    -------
    arviz_plots.PlotCollection
        ``pc.viz["figure"]`` is the matplotlib figure.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import bayesgmm as bg
    >>> model = bg.BayesianGMM(2, random_state=0).fit(
    ...     bg.datasets.load_old_faithful(), draws=200, tune=200, chains=2,
    ...     progressbar=False)  # doctest: +SKIP
    >>> pc = bg.plots.trace(model, var_names=["weights"])  # doctest: +SKIP
    >>> len(pc.viz["figure"].item().axes)  # trace and density panels  # doctest: +SKIP
    2
    """
    import arviz_plots as azp

    dt, var_names = _posterior_tree(model_or_tree, var_names, coords=coords, with_stats=True,
                                    split_features=bool(compact))
    kwargs.setdefault("backend", "matplotlib")
    post = dt["posterior"].to_dataset()
    if compact and all("component" in post[v].dims for v in var_names):
        # one colour per component across all panels (as in bayesgmm.plots.clusters)
        kwargs.setdefault("aes", {"color": ["component"]})
    return azp.plot_trace_dist(dt, var_names=var_names, compact=compact, **kwargs)


def rank(model_or_tree, var_names=None, *, coords=None, **kwargs):
    """Rank (fractional-rank ECDF) plot of the relabelled draws, one panel per scalar.

    A thin wrapper over :func:`arviz_plots.plot_rank`: with chains that mix,
    every chain's rank ECDF stays inside the simultaneous envelope; a chain in
    a different mode or label ordering leaves it.

    Parameters
    ----------
    model_or_tree : BayesianGMM or xarray.DataTree
    var_names : str or list of str, optional
        Default ``weights``, ``means``, ``sds``.
    coords : dict, optional
        Subset, e.g. ``{"component": [0]}``.
    **kwargs
        Passed to :func:`arviz_plots.plot_rank`.

    Returns
    -------
    arviz_plots.PlotCollection

    Raises
    ------
    ValueError
        With a single chain: ranks are computed over the pooled chains, so one
        chain's ranks are uniform by construction and the plot shows nothing.
        Fit with ``chains >= 2``, or use :func:`trace`.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import bayesgmm as bg
    >>> model = bg.BayesianGMM(2, random_state=0).fit(
    ...     bg.datasets.load_old_faithful(), draws=200, tune=200, chains=2,
    ...     progressbar=False)  # doctest: +SKIP
    >>> pc = bg.plots.rank(model, var_names="weights")  # doctest: +SKIP
    >>> len(pc.viz["figure"].item().axes)  # one panel per component  # doctest: +SKIP
    2
    """
    import arviz_plots as azp

    dt, var_names = _posterior_tree(model_or_tree, var_names, coords=coords, with_stats=False)
    n_chains = dt["posterior"].sizes.get("chain", 1)
    if n_chains < 2:
        # The ranks are taken over all chains pooled; with one chain they are a
        # permutation of 1..n, so its rank ECDF is uniform by construction (and
        # arviz-plots' multi-chain test fails with a cryptic message).
        raise ValueError(
            f"rank plots compare chains, but the posterior has {n_chains} chain; fit with "
            "chains >= 2, or use plots.trace to look at a single chain."
        )
    kwargs.setdefault("backend", "matplotlib")
    return azp.plot_rank(dt, var_names=var_names, **kwargs)


def pair(model_or_tree, var_names=None, *, coords=None, **kwargs):
    """Pair plot (scatter of every pair of scalars, marginals on the diagonal).

    A thin wrapper over :func:`arviz_plots.plot_pair` on the relabelled draws.
    The number of panels grows with the square of the number of scalars:
    select a few with ``var_names`` and ``coords``.

    Parameters
    ----------
    model_or_tree : BayesianGMM or xarray.DataTree
    var_names : str or list of str, optional
        Default ``means`` (all components and features).
    coords : dict, optional
        Subset, e.g. ``{"component": 0}``.
    **kwargs
        Passed to :func:`arviz_plots.plot_pair` (``marginal``, ``triangle``...).

    Returns
    -------
    arviz_plots.PlotMatrix
        ``pm.viz["plot"]`` holds the axes (row_index, col_index).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import bayesgmm as bg
    >>> model = bg.BayesianGMM(2, random_state=0).fit(
    ...     bg.datasets.load_old_faithful(), draws=200, tune=200, chains=2,
    ...     progressbar=False)  # doctest: +SKIP
    >>> pm = bg.plots.pair(model, var_names="means", coords={"component": 0})  # doctest: +SKIP
    >>> pm.viz["plot"].shape  # two features  # doctest: +SKIP
    (2, 2)
    """
    import arviz_plots as azp

    if var_names is None:
        var_names = ["means"]
    dt, var_names = _posterior_tree(model_or_tree, var_names, coords=coords, with_stats=True)
    kwargs.setdefault("backend", "matplotlib")
    return azp.plot_pair(dt, var_names=var_names, **kwargs)
