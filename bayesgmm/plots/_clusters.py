"""Cluster plot: data coloured by a partition, posterior and EM covariance ellipses."""

from __future__ import annotations

import numbers

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
    get_axes,
    is_model,
    resolve_tree,
)

__all__ = ["clusters"]


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


def _panel(ax, X, labels, i, j, names, mean_draws, cov_draws, post_means, post_covs,
           em_means, em_covs, colors, label_colors, coverage, show_em, scatter_kws, legend):
    """Draw one (feature i, feature j) panel."""
    from matplotlib.lines import Line2D

    sub = np.ix_([i, j], [i, j])
    pts = ax.scatter(
        X[:, i], X[:, j], c=[label_colors[lab] for lab in labels], gid=GID_POINTS,
        **scatter_kws,
    )
    K = post_means.shape[0]
    for k in range(K):
        for s in range(mean_draws.shape[0]):
            ax.add_patch(covariance_ellipse(
                mean_draws[s, k, [i, j]], cov_draws[s, k][sub], coverage=coverage,
                edgecolor=colors[k], alpha=0.25, linewidth=0.7, gid=GID_DRAW,
            ))
        ax.add_patch(covariance_ellipse(
            post_means[k, [i, j]], post_covs[k][sub], coverage=coverage,
            edgecolor=colors[k], linewidth=2.0, gid=GID_MEAN,
        ))
        if show_em:
            ax.add_patch(covariance_ellipse(
                em_means[k, [i, j]], em_covs[k][sub], coverage=coverage,
                edgecolor="black", linestyle="--", linewidth=1.3, gid=GID_EM,
            ))
        ax.plot(post_means[k, i], post_means[k, j], marker="X", color=colors[k],
                markeredgecolor="black", markersize=8, linestyle="none")
    ax.set_xlabel(names[i])
    ax.set_ylabel(names[j])
    if legend:
        handles = [Line2D([], [], color=colors[k], lw=2, label=f"component {k}") for k in range(K)]
        if show_em:
            handles.append(Line2D([], [], color="black", lw=1.3, ls="--", label="EM"))
        ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.7)
    return pts


def clusters(
    model_or_tree,
    *,
    partition=None,
    features=None,
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
    features : sequence of str or int, optional
        Features to show (names or positions; default all).  Two features draw
        one panel; more draw a grid with one panel per pair (lower triangle).
    n_ellipse_draws : int, default 20
        Posterior draws shown as ellipses per component (0 for none; all draws
        if there are fewer).
    coverage : float, default 0.9
        Probability mass inside each ellipse.
    show_em : bool, default True
        Overlay the EM ellipses (dashed, black).
    ax : matplotlib.axes.Axes, optional
        Axes for the two-feature plot.
    fig : matplotlib.figure.Figure, optional
        Figure for the pair grid (or for the single panel when ``ax`` is None).
    scatter_kws : dict, optional
        Passed to :meth:`matplotlib.axes.Axes.scatter` (``s``, ``alpha``, ...).

    Returns
    -------
    matplotlib.axes.Axes or numpy.ndarray of Axes
        The axes for two features; for more, an object array of shape
        ``(m - 1, m - 1)`` whose entry ``[r, c]`` is the panel of features
        ``(c, r + 1)`` (x, y) and ``None`` above the diagonal.

    Raises
    ------
    TypeError
        If ``model_or_tree`` is neither a fitted model nor a result tree.
    ValueError
        If ``partition`` does not match the data, a feature is unknown, or
        ``n_ellipse_draws`` is negative.

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
    """
    import matplotlib.pyplot as plt

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
    N = X.shape[0]
    idx = check_features(features, names)

    post = _datatree.get_posterior(tree)
    means = post["means"].stack(sample=("chain", "draw")).transpose(
        "sample", "component", "feature").to_numpy()
    covs = post["covariances"].stack(sample=("chain", "draw")).transpose(
        "sample", "component", "feature", "feature_bis").to_numpy()
    sel = _draw_indices(means.shape[0], int(n_ellipse_draws))
    mean_draws, cov_draws = means[sel], covs[sel]
    post_means = means.mean(axis=0)
    post_covs = covs.mean(axis=0)
    em = _datatree.get_em(tree)
    em_means = em["means"].transpose("component", "feature").to_numpy()
    em_covs = em["covariances"].transpose("component", "feature", "feature_bis").to_numpy()
    K = post_means.shape[0]

    if partition is None:
        partition = _membership_of(model_or_tree, tree)["assignment"]
    labels = as_labels(partition, N)
    colors = component_colors(K)
    n_labels = int(labels.max()) + 1 if N else 0
    label_colors = colors + component_colors(max(n_labels, K))[K:] if n_labels > K else colors
    kws = {"s": 14, "alpha": 0.75, "linewidths": 0}
    kws.update(scatter_kws or {})
    args = (X, labels, names, mean_draws, cov_draws, post_means, post_covs, em_means, em_covs,
            colors, label_colors, coverage, show_em, kws)

    if len(idx) == 2:
        ax = get_axes(ax, fig)
        _panel(ax, X, labels, idx[0], idx[1], *args[2:], legend=True)
        ax.autoscale_view()
        ax.set_title(f"Clusters ({labels.max() + 1 if N else 0} in the partition), "
                     f"{coverage:.0%} ellipses")
        return ax

    if ax is not None:
        raise ValueError(
            f"ax draws one panel, but features selects {len(idx)} features (a grid of "
            f"{len(idx) * (len(idx) - 1) // 2} panels); pass fig= instead, or two features."
        )
    m = len(idx)
    if fig is None:
        fig = plt.figure(figsize=(3.2 * (m - 1), 3.0 * (m - 1)))
    grid = fig.subplots(m - 1, m - 1, squeeze=False)
    out = np.empty((m - 1, m - 1), dtype=object)
    for r in range(m - 1):
        for c in range(m - 1):
            panel = grid[r, c]
            if c > r:
                fig.delaxes(panel)
                continue
            _panel(panel, X, labels, idx[c], idx[r + 1], *args[2:], legend=(r == 0 and c == 0))
            panel.autoscale_view()
            if r < m - 2:
                panel.set_xlabel("")
            if c > 0:
                panel.set_ylabel("")
            out[r, c] = panel
    fig.suptitle(f"Clusters, {coverage:.0%} ellipses (marginal on each pair of features)")
    return out
