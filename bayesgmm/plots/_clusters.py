"""Cluster plot: data coloured by a partition, posterior and EM covariance ellipses."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from bayesgmm import _datatree
from bayesgmm.plots._common import (
    GID_DRAW,
    GID_EM,
    GID_MEAN,
    GID_POINTS,
    as_labels,
    check_features,
    check_probability,
    component_colors,
    covariance_ellipse,
    em_parameters,
    get_axes,
    is_model,
    resolve_tree,
    separating_features,
    separating_pairs,
)

__all__ = ["clusters"]

#: Up to this many features, the default is every pair (a lower-triangle grid) ...
_ALL_PAIRS_UP_TO = 4
#: ... beyond it, the pairs of features that separate the components most.
_DEFAULT_PAIRS = 6
#: Most panels one figure holds (a grid of 8 features, or 28 chosen pairs).
_MAX_PANELS = 28
#: Widest figure (inches): the panels of a larger grid shrink to fit.
_MAX_WIDTH = 13.0
#: Columns of the grid of chosen pairs.
_PAIR_COLUMNS = 3


@dataclass
class _Drawing:
    """What every panel draws: the data, the labels and each component's parameters."""

    X: np.ndarray
    labels: np.ndarray
    names: list
    mean_draws: np.ndarray
    cov_draws: np.ndarray
    post_means: np.ndarray
    post_covs: np.ndarray
    em_means: np.ndarray
    em_covs: np.ndarray
    colors: list
    label_colors: list
    coverage: float
    show_em: bool
    scatter_kws: dict

    def legend(self, ax, **kwargs):
        """Legend of the component colours (and of the EM marks), on ``ax``."""
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=c, lw=2, label=f"component {k}")
                   for k, c in enumerate(self.colors)]
        if self.show_em:
            handles.append(Line2D([], [], color="black", lw=1.3, ls="--", label="EM"))
        return ax.legend(handles=handles, fontsize="small", framealpha=0.7, **kwargs)


def _membership_of(obj, tree):
    """The membership summary of a fit: the model's own method, else the posterior layer's."""
    if is_model(obj):
        return obj.membership()
    from bayesgmm.posterior import membership_summary

    return membership_summary(_datatree.get_posterior(tree), _datatree.get_observed(tree))


def _draw_indices(n_total: int, n_wanted: int) -> np.ndarray:
    """``n_wanted`` draw positions spread evenly over ``n_total`` (all if fewer)."""
    if n_wanted >= n_total:
        return np.arange(n_total)
    return np.unique(np.linspace(0, n_total - 1, n_wanted).round().astype(np.int64))


def _panel(ax, d: _Drawing, i: int, j: int, legend: bool):
    """Draw one (feature i, feature j) panel."""
    sub = np.ix_([i, j], [i, j])
    ax.scatter(d.X[:, i], d.X[:, j], c=[d.label_colors[lab] for lab in d.labels],
               gid=GID_POINTS, **d.scatter_kws)
    for k, color in enumerate(d.colors):
        for s in range(d.mean_draws.shape[0]):
            ax.add_patch(covariance_ellipse(
                d.mean_draws[s, k, [i, j]], d.cov_draws[s, k][sub], coverage=d.coverage,
                edgecolor=color, alpha=0.25, linewidth=0.7, gid=GID_DRAW,
            ))
        ax.add_patch(covariance_ellipse(
            d.post_means[k, [i, j]], d.post_covs[k][sub], coverage=d.coverage,
            edgecolor=color, linewidth=2.0, gid=GID_MEAN,
        ))
        if d.show_em:
            ax.add_patch(covariance_ellipse(
                d.em_means[k, [i, j]], d.em_covs[k][sub], coverage=d.coverage,
                edgecolor="black", linestyle="--", linewidth=1.3, gid=GID_EM,
            ))
        ax.plot(d.post_means[k, i], d.post_means[k, j], marker="X", color=color,
                markeredgecolor="black", markersize=8, linestyle="none")
    ax.set_xlabel(d.names[i])
    ax.set_ylabel(d.names[j])
    if legend:
        d.legend(ax, loc="best")
    ax.autoscale_view()


def _strip(ax, d: _Drawing, f: int):
    """One feature: a strip of the observations per cluster and each component's interval.

    The 1-d counterpart of the ellipses: the interval ``mean +/- z sd`` holds
    ``coverage`` of the component's mass (light: draws, bold: posterior mean,
    dashed: EM), drawn just above the row of the cluster with the same number.
    """
    z = NormalDist().inv_cdf(0.5 + d.coverage / 2.0)
    x = d.X[:, f]
    # deterministic jitter (golden-ratio sequence) spreads the points of a row
    jitter = ((np.arange(x.size) * 0.6180339887) % 1.0 - 0.5) * 0.3
    ax.scatter(x, d.labels + jitter, c=[d.label_colors[lab] for lab in d.labels],
               gid=GID_POINTS, **d.scatter_kws)
    n_draws = d.mean_draws.shape[0]
    offsets = np.linspace(-0.07, 0.07, n_draws) if n_draws > 1 else np.zeros(n_draws)
    for k, color in enumerate(d.colors):
        y = k + 0.32
        for s in range(n_draws):
            m, sd = d.mean_draws[s, k, f], math.sqrt(d.cov_draws[s, k, f, f])
            ax.plot([m - z * sd, m + z * sd], [y + offsets[s]] * 2, color=color, alpha=0.35,
                    linewidth=0.8, gid=GID_DRAW)
        m, sd = d.post_means[k, f], math.sqrt(d.post_covs[k, f, f])
        ax.plot([m - z * sd, m + z * sd], [y, y], color=color, linewidth=2.5, gid=GID_MEAN)
        ax.plot(m, y, marker="X", color=color, markeredgecolor="black", markersize=8,
                linestyle="none")
        if d.show_em:
            m, sd = d.em_means[k, f], math.sqrt(d.em_covs[k, f, f])
            ax.plot([m - z * sd, m + z * sd], [y + 0.13] * 2, color="black", linestyle="--",
                    linewidth=1.3, gid=GID_EM)
    rows = max(len(d.colors), int(d.labels.max()) + 1 if d.labels.size else 0)
    ax.set_yticks(range(rows))
    ax.set_yticklabels([str(r) for r in range(rows)])
    ax.set_ylim(-0.5, rows - 0.4)
    ax.set_ylabel("cluster (points) / component (intervals)")
    ax.set_xlabel(d.names[f])
    d.legend(ax, loc="best")


def _check_pairs(pairs, names, candidates, ranked) -> list[tuple[int, int]]:
    """The (x, y) feature positions of each panel from ``pairs`` (a count or a list)."""
    if isinstance(pairs, numbers.Integral) and not isinstance(pairs, (bool, np.bool_)):
        allowed = set(candidates)
        ranked = [p for p in ranked if p[0] in allowed and p[1] in allowed]
        if not 1 <= int(pairs) <= min(len(ranked), _MAX_PANELS):
            raise ValueError(
                f"pairs={pairs} asks for the {pairs} most separating feature pairs; pass 1 to "
                f"{min(len(ranked), _MAX_PANELS)} (there are {len(ranked)} pairs, and one "
                f"figure holds at most {_MAX_PANELS} panels)."
            )
        return ranked[:int(pairs)]
    if isinstance(pairs, str):
        raise TypeError(f"pairs must be an int or a list of (x, y) features; got {pairs!r}.")
    try:
        pairs = list(pairs)
    except TypeError:
        raise TypeError(
            f"pairs must be an int or a list of (x, y) features; got {type(pairs).__name__}."
        ) from None
    if not 1 <= len(pairs) <= _MAX_PANELS:
        raise ValueError(
            f"pairs lists {len(pairs)} pairs; pass 1 to {_MAX_PANELS} (one figure holds at "
            f"most {_MAX_PANELS} panels)."
        )
    out = []
    for p in pairs:
        if isinstance(p, (str, numbers.Integral)):
            raise TypeError(f"pairs must hold (x, y) pairs of features; got {p!r}.")
        i, j = check_features(p, names, exactly=2, name="pairs")
        out.append((i, j))
    return out


def _grid_of_pairs(fig, d: _Drawing, panel_pairs, what: str):
    """One panel per (x, y) pair, ``_PAIR_COLUMNS`` to a row; returns the axes (1-d)."""
    import matplotlib.pyplot as plt

    n = len(panel_pairs)
    cols = min(n, _PAIR_COLUMNS)
    rows = -(-n // cols)
    if fig is None:
        size = min(4.0, _MAX_WIDTH / cols)
        fig = plt.figure(figsize=(size * cols + 1.6, 0.9 * size * rows + 0.6),
                         layout="constrained")
    grid = fig.subplots(rows, cols, squeeze=False).ravel()
    for extra in grid[n:]:
        fig.delaxes(extra)
    out = np.empty(n, dtype=object)
    for a, (i, j) in enumerate(panel_pairs):
        _panel(grid[a], d, i, j, legend=False)
        out[a] = grid[a]
    d.legend(fig, loc="outside right upper")
    fig.suptitle(f"Clusters, {d.coverage:.0%} ellipses: {what}")
    return out


def _triangle(fig, d: _Drawing, idx):
    """Every pair of the features ``idx`` as a lower-triangle grid."""
    import matplotlib.pyplot as plt

    m = len(idx)
    if fig is None:
        size = min(3.2, _MAX_WIDTH / (m - 1))
        fig = plt.figure(figsize=(size * (m - 1), 0.94 * size * (m - 1)))
    grid = fig.subplots(m - 1, m - 1, squeeze=False)
    out = np.empty((m - 1, m - 1), dtype=object)
    for r in range(m - 1):
        for c in range(m - 1):
            panel = grid[r, c]
            if c > r:
                fig.delaxes(panel)
                continue
            _panel(panel, d, idx[c], idx[r + 1], legend=(r == 0 and c == 0))
            if r < m - 2:
                panel.set_xlabel("")
            if c > 0:
                panel.set_ylabel("")
            out[r, c] = panel
    fig.suptitle(f"Clusters, {d.coverage:.0%} ellipses (marginal on each pair of features)")
    return out


def clusters(
    model_or_tree,
    *,
    partition=None,
    features=None,
    pairs=None,
    n_ellipse_draws: int = 20,
    coverage: float = 0.9,
    show_em: bool = True,
    ax=None,
    fig=None,
    scatter_kws=None,
):
    """Data coloured by a partition, with posterior and EM covariance ellipses.

    Each component gets ``n_ellipse_draws`` light ellipses from posterior draws
    (spread evenly over the chains and draws: the spread of the ellipses shows
    the posterior uncertainty of the mean and covariance), one bold ellipse for
    the posterior-mean parameters and, with ``show_em``, a dashed black ellipse
    for the EM estimate.  Ellipses hold ``coverage`` of each component's mass
    (for more than two features: of its marginal on the two plotted features).

    What is drawn by default depends on the number of features D: one feature,
    a strip of the observations per cluster under each component's
    ``coverage`` interval (the one-dimensional ellipse); two, one panel; three
    or four, every pair (a lower-triangle grid); more, the 6 pairs that
    separate the components most (Fisher criterion of the EM fit on each pair:
    between-component over within-component spread), three to a row.

    Parameters
    ----------
    model_or_tree : BayesianGMM or xarray.DataTree
        A fitted model or its result tree (``model.idata_``).  The posterior
        draws are the relabelled ones stored in the tree, so colours and
        component numbers match the EM fit.
    partition : xarray.DataArray or array-like of shape (n_obs,), optional
        Cluster labels of the fitted observations, e.g. from
        :func:`bayesgmm.posterior.point_partition` or
        :func:`bayesgmm.posterior.map_partition`.  Default: the MAP assignment
        (``assignment`` of the model's :meth:`~bayesgmm.BayesianGMM.membership`).
        Labels of the MAP partition are component numbers and share their
        colours; labels of a loss-based point partition are cluster numbers.
    features : int, str or sequence of str and int, optional
        Features to show: names or positions, or an int ``n`` for the ``n``
        most separating.  One feature draws the strip, two one panel, more
        (at most 8) a grid with one panel per pair (lower triangle).  With
        ``pairs=n``: the features the ``n`` pairs are chosen from.
    pairs : int or sequence of (x, y), optional
        Panels as feature pairs: an int ``n`` for the ``n`` most separating
        pairs, or a list such as ``[("alcohol", "proline"), (0, 6)]`` (names
        or positions; at most 28 panels).
    n_ellipse_draws : int, default 20
        Posterior draws shown as ellipses per component (0 for none; all draws
        if there are fewer).
    coverage : float, default 0.9
        Probability mass inside each ellipse.
    show_em : bool, default True
        Overlay the EM ellipses (dashed, black).
    ax : matplotlib.axes.Axes, optional
        Axes for the one-panel plots (one or two features).
    fig : matplotlib.figure.Figure, optional
        Figure for a grid (or for the single panel when ``ax`` is None).
    scatter_kws : dict, optional
        Passed to :meth:`matplotlib.axes.Axes.scatter` (``s``, ``alpha``, ...).

    Returns
    -------
    matplotlib.axes.Axes or numpy.ndarray of Axes
        The axes for one or two features; for the triangle grid of ``m``
        features an object array of shape ``(m - 1, m - 1)`` whose entry
        ``[r, c]`` is the panel of features ``(c, r + 1)`` (x, y) and ``None``
        above the diagonal; for ``pairs`` (and the default beyond four
        features) a 1-d object array with the panel of each pair, in order.

    Raises
    ------
    TypeError
        If ``model_or_tree`` is neither a fitted model nor a result tree.
    ValueError
        If ``partition`` does not match the data, a feature is unknown, more
        panels are asked for than one figure holds (28), ``ax`` is given for
        a grid, or ``n_ellipse_draws`` is negative.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import bayesgmm as bg
    >>> model = bg.BayesianGMM(2, random_state=0).fit(
    ...     bg.datasets.load_old_faithful(), draws=200, tune=200, chains=2,
    ...     progressbar=False)  # doctest: +SKIP
    >>> ax = bg.plots.clusters(model, n_ellipse_draws=10)  # doctest: +SKIP
    >>> len(ax.patches)  # 2 x (10 + 1) posterior + 2 EM ellipses  # doctest: +SKIP
    24
    >>> ax = bg.plots.clusters(model, features=["waiting"])  # strips  # doctest: +SKIP
    >>> axes = bg.plots.clusters(wine_model, pairs=3)  # best 3 of 78 pairs  # doctest: +SKIP
    """
    tree = resolve_tree(model_or_tree)
    if isinstance(n_ellipse_draws, bool) or not isinstance(n_ellipse_draws, numbers.Integral):
        raise TypeError(f"n_ellipse_draws must be an integer >= 0; got {n_ellipse_draws!r}.")
    if n_ellipse_draws < 0:
        raise ValueError(f"n_ellipse_draws must be >= 0; got {n_ellipse_draws}.")
    coverage = check_probability(coverage, "coverage")
    if not isinstance(show_em, (bool, np.bool_)):
        raise TypeError(f"show_em must be True or False; got {show_em!r}.")
    if scatter_kws is not None and not isinstance(scatter_kws, dict):
        raise TypeError(f"scatter_kws must be a dict or None; got {type(scatter_kws).__name__}.")

    observed = _datatree.get_observed(tree).transpose("obs", "feature")
    X = observed.to_numpy()
    names = [str(f) for f in observed["feature"].to_numpy()]
    N, D = X.shape
    em_w, em_means, em_covs = em_parameters(tree)
    panel_pairs = idx = None
    if pairs is not None:
        if features is not None and not isinstance(pairs, numbers.Integral):
            raise ValueError(
                "pairs lists the panels, so features must be None; to choose among some "
                "features, pass them with pairs=n (the n most separating pairs of them)."
            )
        candidates = (range(D) if features is None
                      else check_features(features, names, minimum=2))
        panel_pairs = _check_pairs(pairs, names, candidates,
                                   separating_pairs(em_w, em_means, em_covs))
    elif features is None and D > _ALL_PAIRS_UP_TO:
        panel_pairs = separating_pairs(em_w, em_means, em_covs)[:_DEFAULT_PAIRS]
    else:
        idx = check_features(features, names, minimum=1,
                             order=separating_features(em_w, em_means, em_covs))
        if len(idx) * (len(idx) - 1) // 2 > _MAX_PANELS:
            raise ValueError(
                f"features selects {len(idx)} features, a grid of "
                f"{len(idx) * (len(idx) - 1) // 2} panels (one figure holds {_MAX_PANELS}); "
                f"pass pairs={_DEFAULT_PAIRS} for the {_DEFAULT_PAIRS} most separating pairs, "
                "a list of pairs, or at most 8 features."
            )
    if ax is not None and (panel_pairs is not None or len(idx) > 2):
        n = len(panel_pairs) if panel_pairs is not None else len(idx) * (len(idx) - 1) // 2
        raise ValueError(
            f"ax draws one panel, but the selection is a grid of {n} panels; pass fig= "
            "instead, or one or two features."
        )

    post = _datatree.get_posterior(tree)
    means = post["means"].stack(sample=("chain", "draw")).transpose(
        "sample", "component", "feature").to_numpy()
    covs = post["covariances"].stack(sample=("chain", "draw")).transpose(
        "sample", "component", "feature", "feature_bis").to_numpy()
    sel = _draw_indices(means.shape[0], int(n_ellipse_draws))
    K = means.shape[1]
    if partition is None:
        partition = _membership_of(model_or_tree, tree)["assignment"]
    labels = as_labels(partition, N)
    colors = component_colors(K)
    n_labels = int(labels.max()) + 1 if N else 0
    label_colors = colors + component_colors(max(n_labels, K))[K:] if n_labels > K else colors
    kws = {"s": 14, "alpha": 0.75, "linewidths": 0}
    kws.update(scatter_kws or {})
    d = _Drawing(X, labels, names, means[sel], covs[sel], means.mean(axis=0), covs.mean(axis=0),
                 em_means, em_covs, colors, label_colors, coverage, bool(show_em), kws)

    if panel_pairs is not None:
        n = len(panel_pairs)
        if pairs is None or isinstance(pairs, numbers.Integral):
            what = (f"the {n} of {D * (D - 1) // 2} feature pairs that separate the components "
                    "most (choose with pairs= or features=)")
        else:
            what = f"{n} chosen feature pair{'s' if n > 1 else ''}"
        return _grid_of_pairs(fig, d, panel_pairs, what)
    if len(idx) > 2:
        return _triangle(fig, d, idx)
    ax = get_axes(ax, fig)
    if len(idx) == 1:
        _strip(ax, d, idx[0])
        what = "intervals"
    else:
        _panel(ax, d, idx[0], idx[1], legend=True)
        what = "ellipses"
    ax.set_title(f"Clusters ({n_labels} in the partition), {coverage:.0%} {what}")
    return ax
