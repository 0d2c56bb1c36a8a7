"""Trace, rank and pair plots of the relabelled draws, through arviz-plots.

These wrappers choose what arviz-plots draws so that any number of features
works: by default only the features that separate the components most (as many
as make a readable figure), and never more panels than arviz-plots allows
(``arviz_base.rcParams["plot.max_subplots"]``).  Feature names are kept as
given; only the variable keys handed to arviz-plots replace ``/`` (which an
``xarray.DataTree`` cannot hold) by the look-alike division slash ``∕``, and a
labeller puts the original names back on the panels.
"""

from __future__ import annotations

import math
import re

import xarray as xr

from bayesgmm import _datatree
from bayesgmm.plots._common import (
    check_features,
    em_parameters,
    resolve_tree,
    separating_features,
)

__all__ = ["trace", "rank", "pair"]

_DEFAULT_VARS = ("weights", "means", "sds")
_SAMPLE_DIMS = ("chain", "draw")

#: Most panels (axes) each plot draws by default: chosen features are dropped,
#: least separating first, until the figure has at most this many.
_READABLE_PANELS = {"trace": 20, "rank": 24, "pair": 36}

#: What DataTree variable names cannot hold, and the look-alike drawn instead.
_SLASH, _SLASH_SAFE = "/", "\u2215"

#: Longest label line (characters): longer ones are broken after ``/ _ [ ,`` or a space,
#: so a long feature name stays inside its panel.
_LABEL_WIDTH = 18


def _wrap(text: str, width: int = _LABEL_WIDTH) -> str:
    """``text`` with lines longer than ``width`` broken, after ``/ _ [ ,`` or a space if possible.

    Examples
    --------
    >>> from bayesgmm.plots._diagnostics import _wrap
    >>> print(_wrap("means[od280/od315_of_diluted_wines]", 16))
    means[od280/
    od315_of_
    diluted_wines]
    """
    out = []
    for line in text.split("\n"):
        current = ""
        for piece in re.split(r"(?<=[/_\[,\s])", line):
            if current and len(current) + len(piece) > width:
                out.append(current)
                current = ""
            while len(piece) > width:
                out.append(piece[:width])
                piece = piece[width:]
            current += piece
        out.append(current)
    return "\n".join(out)


def _labeller(var_name_map):
    """An arviz labeller: original names for the sanitised keys, long lines wrapped."""
    from arviz_base.labels import MapLabeller

    class _WrappingLabeller(MapLabeller):
        def make_label_vert(self, var_name, sel, isel):
            return _wrap(super().make_label_vert(var_name, sel, isel))

        def make_label_flat(self, var_name, sel, isel):
            return _wrap(super().make_label_flat(var_name, sel, isel))

    return _WrappingLabeller(var_name_map=var_name_map)


def _check_coords(coords, ds: xr.Dataset) -> dict:
    """``coords`` as a new dict, checked against the dims of ``ds``."""
    if coords is None:
        return {}
    if not isinstance(coords, dict):
        raise TypeError(
            f"coords must be a dict such as {{'component': [0, 1]}}; got {type(coords).__name__}."
        )
    bad = [d for d in coords if d not in ds.dims or d in _SAMPLE_DIMS]
    if bad:
        raise ValueError(
            f"coords names {bad}, which are not dims of {list(map(str, ds.data_vars))}; use some "
            f"of {[d for d in ds.dims if d not in _SAMPLE_DIMS]}."
        )
    return dict(coords)


def _n_panels(ds: xr.Dataset, kind: str, compact: bool = True, n_features=None) -> int:
    """Axes arviz-plots draws for ``ds`` (with ``n_features`` features when given).

    ``correlations`` count their free pairs only; a compact trace has one row
    (a trace and a density panel) per variable, and per feature for the
    variables split by :func:`_split_features`.
    """
    scalars = rows = 0
    for name, var in ds.data_vars.items():
        sizes = {d: s for d, s in var.sizes.items() if d not in _SAMPLE_DIMS}
        if n_features is not None:
            sizes.update({d: n_features for d in ("feature", "feature_bis") if d in sizes})
        if name == "correlations" and "feature_bis" in sizes:
            n = sizes.pop("feature")
            sizes["pair"] = n * (n - 1) // 2
            del sizes["feature_bis"]
        scalars += math.prod(sizes.values())
        rows += sizes["feature"] if "feature" in sizes and "feature_bis" not in sizes else 1
    return {"trace": 2 * (rows if compact else scalars), "rank": scalars, "pair": scalars**2}[kind]


def _max_panels() -> float:
    """arviz-plots' limit on the number of panels (``inf`` when switched off)."""
    from arviz_base import rcParams

    limit = rcParams["plot.max_subplots"]
    return math.inf if limit is None else limit


def _choose_features(tree, ds, coords, features, kind, compact):
    """``coords`` with the features to draw, and a note when a default subset was chosen."""
    if "feature" not in ds.dims:
        if features is not None:
            raise ValueError(
                f"features chooses features, but {list(map(str, ds.data_vars))} have no "
                "feature dim; add 'means' or 'sds' to var_names, or drop features."
            )
        return coords, None
    if "feature" in coords:
        if features is not None:
            raise ValueError(
                "features and coords['feature'] both choose features; pass only one of them."
            )
        return coords, None
    names = [str(f) for f in ds["feature"].to_numpy()]
    order = separating_features(*em_parameters(tree))
    fewest = min(len(names), 2 if "correlations" in ds else 1)
    note = None
    if features is None:
        budget = min(_READABLE_PANELS[kind], _max_panels())
        n = next((n for n in range(len(names), fewest - 1, -1)
                  if _n_panels(ds, kind, compact, n) <= budget), fewest)
        idx = list(order[:n])
        if n < len(names):
            note = (f"the {n} of {len(names)} features that separate the components most "
                    "(choose with features=)")
    else:
        idx = check_features(features, names, minimum=fewest, order=order)
    coords["feature"] = ds["feature"].to_numpy()[idx]
    return coords, note


def _split_features(ds: xr.Dataset) -> tuple[xr.Dataset, dict]:
    """One variable per feature (``means[waiting]``) for variables with only a feature dim.

    Features have different units, so a compact panel mixing them is unreadable;
    this only renames slices, nothing is computed.  Returns the Dataset and the
    map from each key that had to change (``/`` -> ``∕``) to its original label.
    """
    out, labels = {}, {}
    for name, var in ds.data_vars.items():
        if "feature" in var.dims and "feature_bis" not in var.dims:
            for f in var["feature"].to_numpy():
                label = f"{name}[{f}]"
                key = label.replace(_SLASH, _SLASH_SAFE)
                out[key] = var.sel(feature=f, drop=True)
                if key != label:
                    labels[key] = label
        else:
            out[name] = var
    return xr.Dataset(out), labels


def _posterior_tree(model_or_tree, var_names, *, coords, features, kind: str, with_stats: bool,
                    compact: bool = True, default_vars=_DEFAULT_VARS):
    """The DataTree handed to arviz-plots, its variable names, the label map and a note."""
    tree = resolve_tree(model_or_tree)
    post = _datatree.get_posterior(tree)
    ds = _datatree.select_variables(post, var_names, default_vars)
    coords = _check_coords(coords, ds)
    coords, note = _choose_features(tree, ds, coords, features, kind, compact)
    if "feature" in coords and "feature_bis" in ds.dims:  # the same features on both axes
        coords.setdefault("feature_bis", coords["feature"])
    try:
        ds = ds.sel(coords)
    except KeyError as exc:
        raise ValueError(f"coords selects values that do not exist: {exc}.") from None
    if "correlations" in ds and "feature_bis" in ds["correlations"].dims:
        if ds.sizes.get("feature", 0) < 2:
            raise ValueError("correlations need at least 2 features; drop it from var_names.")
        ds = ds.assign(correlations=_datatree.correlation_pairs(ds["correlations"]))
    n, limit = _n_panels(ds, kind, compact), _max_panels()
    if n > limit:
        raise ValueError(
            f"{kind} would draw {n} panels, more than arviz-plots allows "
            f"(rcParams['plot.max_subplots']={limit}); choose fewer with features= (e.g. "
            "features=2: the 2 most separating), var_names= or coords= (e.g. "
            "coords={'component': [0, 1]}), or raise arviz_base.rcParams['plot.max_subplots']."
        )
    labels = {}
    if kind == "trace" and compact:
        ds, labels = _split_features(ds)
    groups = {"posterior": ds}
    stats = _datatree.get_sample_stats(tree)
    if with_stats and stats is not None and "diverging" in stats:
        groups["sample_stats"] = stats[["diverging"]].astype({"diverging": bool})
    return xr.DataTree.from_dict(groups), [str(v) for v in ds.data_vars], labels, note


def _finish(plot, note, legend_dims=()):
    """Add legends for the dims mapped to an aesthetic, and the note on chosen features."""
    mapped = {tuple(node.dataset.dims) for node in plot.aes.children.values()
              if "mapping" in node.dataset.data_vars} if legend_dims else set()
    legends = [dim for dim in legend_dims if (dim,) in mapped]
    for dim in legends:
        plot.add_legend(dim)
    if plot.backend == "matplotlib" and (legends or note is not None):
        fig = plot.viz["figure"]
        fig = fig.item() if hasattr(fig, "item") else fig
        if note is not None:
            fig.suptitle(f"Showing {note}", fontsize="medium")
        if fig.get_layout_engine() is None:
            # lays the legends ("outside right") and the title next to the panels, not on them
            fig.set_layout_engine("constrained")
    return plot


def trace(model_or_tree, var_names=None, *, features=None, coords=None, compact: bool = True,
          legend: bool = True, **kwargs):
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
    features : int, str or list of str and int, optional
        Features to show for the variables with a feature dim: an int ``n``
        for the ``n`` that separate the components most (between- over
        within-component variance of the EM fit), or names / positions.
        Default: the most separating features, as many as keep the figure
        within 20 panels (all of them for a few features); the figure's title
        says when some are left out.
    coords : dict, optional
        Subset, e.g. ``{"component": [0, 1], "feature": ["waiting"]}`` (a
        ``feature`` entry replaces ``features``).
    compact : bool, default True
        One panel per variable and feature (``means[waiting]``: features have
        different units) with a line per component and chain: colour marks the
        component (the same in every panel), line style the chain.  ``False``:
        one panel per scalar, colour marks the chain.
    legend : bool, default True
        Figure legends for the component colours and the chain line styles.
    **kwargs
        Passed to :func:`arviz_plots.plot_trace_dist`.

    Returns
    -------
    arviz_plots.PlotCollection
        ``pc.viz["figure"]`` is the matplotlib figure.

    Raises
    ------
    ValueError
        For unknown variables, features or coordinates, or when the selection
        needs more panels than ``arviz_base.rcParams["plot.max_subplots"]``
        (the message names the arguments that choose fewer).

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
    >>> pc = bg.plots.trace(model, features=1)  # the most separating feature  # doctest: +SKIP
    """
    import arviz_plots as azp

    dt, var_names, labels, note = _posterior_tree(
        model_or_tree, var_names, coords=coords, features=features, kind="trace",
        with_stats=True, compact=bool(compact))
    kwargs.setdefault("backend", "matplotlib")
    kwargs.setdefault("labeller", _labeller(labels))
    post = dt["posterior"].to_dataset()
    if compact and all("component" in post[v].dims for v in var_names):
        # one colour per component across all panels (as in bayesgmm.plots.clusters)
        kwargs.setdefault("aes", {"color": ["component"]})
    pc = azp.plot_trace_dist(dt, var_names=var_names, compact=compact, **kwargs)
    return _finish(pc, note, ("component", "chain") if legend else ())


def rank(model_or_tree, var_names=None, *, features=None, coords=None, **kwargs):
    """Rank (fractional-rank ECDF) plot of the relabelled draws, one panel per scalar.

    A thin wrapper over :func:`arviz_plots.plot_rank`: with chains that mix,
    every chain's rank ECDF stays inside the simultaneous envelope; a chain in
    a different mode or label ordering leaves it.

    Parameters
    ----------
    model_or_tree : BayesianGMM or xarray.DataTree
    var_names : str or list of str, optional
        Default ``weights``, ``means``, ``sds``.
    features : int, str or list of str and int, optional
        Features to show for the variables with a feature dim: an int ``n``
        for the ``n`` that separate the components most (between- over
        within-component variance of the EM fit), or names / positions.
        Default: the most separating features, as many as keep the figure
        within 24 panels (all of them for a few features); the figure's title
        says when some are left out.
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
        Fit with ``chains >= 2``, or use :func:`trace`.  Also when the
        selection needs more panels than arviz-plots allows.

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

    dt, var_names, _, note = _posterior_tree(model_or_tree, var_names, coords=coords,
                                             features=features, kind="rank", with_stats=False)
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
    kwargs.setdefault("labeller", _labeller({}))
    return _finish(azp.plot_rank(dt, var_names=var_names, **kwargs), note)


def pair(model_or_tree, var_names=None, *, features=None, coords=None, **kwargs):
    """Pair plot (scatter of every pair of scalars, marginals on the diagonal).

    A thin wrapper over :func:`arviz_plots.plot_pair` on the relabelled draws.
    The number of panels grows with the square of the number of scalars:
    select a few with ``features``, ``var_names`` and ``coords``.

    Parameters
    ----------
    model_or_tree : BayesianGMM or xarray.DataTree
    var_names : str or list of str, optional
        Default ``means`` (all components).
    features : int, str or list of str and int, optional
        Features to show for the variables with a feature dim: an int ``n``
        for the ``n`` that separate the components most (between- over
        within-component variance of the EM fit), or names / positions.
        Default: the most separating features, as many as keep the figure
        within 36 panels (all of them for a few features); the figure's title
        says when some are left out.
    coords : dict, optional
        Subset, e.g. ``{"component": 0}``.
    **kwargs
        Passed to :func:`arviz_plots.plot_pair` (``marginal``, ``triangle``...).

    Returns
    -------
    arviz_plots.PlotMatrix
        ``pm.viz["plot"]`` holds the axes (row_index, col_index).

    Raises
    ------
    ValueError
        When the selection needs more panels than arviz-plots allows (e.g.
        more than 6 components at once: select some with ``coords``).

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

    dt, var_names, _, note = _posterior_tree(model_or_tree, var_names, coords=coords,
                                             features=features, kind="pair", with_stats=True,
                                             default_vars=("means",))
    kwargs.setdefault("backend", "matplotlib")
    kwargs.setdefault("labeller", _labeller({}))
    return _finish(azp.plot_pair(dt, var_names=var_names, **kwargs), note)
