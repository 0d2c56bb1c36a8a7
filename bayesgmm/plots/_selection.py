"""Plot of a component-count selection (:func:`bayesgmm.select_components`)."""

from __future__ import annotations

import numpy as np

__all__ = ["selection"]

_LABELS = {
    "bic": "BIC = -2 log L + p log n (lower is better)",
    "icl": "ICL (lower is better)",
    "aic": "AIC = -2 log L + 2p (lower is better)",
    "bic_mclust": "BIC, mclust sign (higher is better)",
    "icl_mclust": "ICL, mclust sign (higher is better)",
}


def selection(result, ax=None, *, criterion=None):
    """Draw a :class:`~bayesgmm.selection.SelectionResult`.

    Only draws what :func:`bayesgmm.select_components` computed:

    * ``"bic"``/``"icl"``: one line per covariance type of the criterion
      against the number of components, the selected cell marked with a star;
    * ``"loo"``/``"waic"``: elpd with +/- one standard error bars per
      covariance type, the selected cell starred;
    * ``"sparse"``: bars of the posterior probability of each number of
      occupied components (grouped by covariance type).

    Parameters
    ----------
    result : SelectionResult
        The output of :func:`bayesgmm.select_components`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made when omitted.
    criterion : str, optional
        For ``"bic"``/``"icl"`` results, the table variable to draw:
        ``"bic"``, ``"icl"``, ``"aic"`` (lower is better) or ``"bic_mclust"``,
        ``"icl_mclust"`` (higher is better). Defaults to the result's method.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into (``ax.figure`` is the figure). Lines, error-bar
        containers and bar containers are in ``ax.lines`` / ``ax.containers``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import bayesgmm as bg
    >>> X = bg.datasets.make_mixture(150, n_components=2, random_state=0).X
    >>> res = bg.select_components(X, n_components=range(1, 4), progressbar=False,
    ...                            random_state=0, n_init=1)
    >>> ax = bg.plots.selection(res)
    >>> len(ax.lines)  # one curve (full) and the star on the selected cell
    2
    """
    from bayesgmm.selection import SelectionResult

    if not isinstance(result, SelectionResult):
        raise TypeError(
            "`result` must be the SelectionResult returned by bayesgmm.select_components; "
            f"got {type(result).__name__}."
        )
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 4.0))
    table = result.table
    if result.method in ("bic", "icl"):
        crit = result.method if criterion is None else criterion
        if crit not in _LABELS:
            raise ValueError(
                f"`criterion` must be one of {list(_LABELS)} for a {result.method!r} result; "
                f"got {criterion!r}."
            )
        _grid_lines(ax, table, crit, result)
    elif criterion is not None:
        raise ValueError(
            f"`criterion` applies to 'bic'/'icl' results only; this result is "
            f"{result.method!r}. Omit criterion."
        )
    elif result.method in ("loo", "waic"):
        _elpd_bars(ax, table, result)
    else:
        _occupied_bars(ax, table, result)
    return ax


_MARKERS = "os^vD<>phHdP8X"
_MANY_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39",
)


def _grid_lines(ax, table, crit, result):
    ks = table["n_components"].to_numpy()
    cts = table["covariance_type"].to_numpy()
    many = len(cts) > 10  # e.g. mclust's fourteen: a colour and a marker each, as mclust's plot
    for i, ct in enumerate(cts):
        y = table[crit].sel(covariance_type=ct).to_numpy()
        style = {"marker": "o"}
        if many:
            style = {"marker": _MARKERS[i % len(_MARKERS)], "markersize": 5,
                     "color": _MANY_COLOURS[i % len(_MANY_COLOURS)]}
        ax.plot(ks, y, label=str(ct), **style)
    y_best = float(
        table[crit].sel(n_components=result.n_components, covariance_type=result.covariance_type)
    )
    ax.plot(
        [result.n_components], [y_best], linestyle="none", marker="*", markersize=16,
        color="black", label=f"selected: K={result.n_components} {result.covariance_type}",
    )
    ax.set_xlabel("number of components")
    ax.set_ylabel(_LABELS[crit])
    ax.set_xticks(ks)
    ax.set_title(f"Component selection by {result.method.upper()}")
    if many:
        ax.legend(title="covariance type", ncol=2, fontsize="small")
    else:
        ax.legend(title="covariance type")


def _elpd_bars(ax, table, result):
    ks = table["n_components"].to_numpy()
    cts = table["covariance_type"].to_numpy()
    n = len(cts)
    offsets = (np.arange(n) - (n - 1) / 2.0) * 0.08
    for off, ct in zip(offsets, cts):
        sub = table.sel(covariance_type=ct)
        ax.errorbar(
            ks + off, sub["elpd"].to_numpy(), yerr=sub["se"].to_numpy(), marker="o",
            capsize=3, label=str(ct),
        )
    y_best = float(
        table["elpd"].sel(n_components=result.n_components, covariance_type=result.covariance_type)
    )
    ax.plot(
        [result.n_components], [y_best], linestyle="none", marker="*", markersize=16,
        color="black", label=f"selected: K={result.n_components} {result.covariance_type}",
    )
    ax.set_xlabel("number of components")
    ax.set_ylabel(f"elpd ({'PSIS-LOO' if result.method == 'loo' else 'WAIC'}) +/- SE, higher is better")
    ax.set_xticks(ks)
    ax.set_title("Component selection by expected log predictive density")
    ax.legend(title="covariance type")


def _occupied_bars(ax, table, result):
    n_occ = table["n_occupied"].to_numpy()
    cts = table["covariance_type"].to_numpy()
    n = len(cts)
    width = 0.8 / n
    for j, ct in enumerate(cts):
        p = table["probability"].sel(covariance_type=ct).to_numpy()
        ax.bar(n_occ + (j - (n - 1) / 2.0) * width, p, width=width, label=str(ct))
    ax.set_xlabel("number of occupied components")
    ax.set_ylabel("posterior probability")
    ax.set_xticks(n_occ)
    ax.set_ylim(0, 1)
    k_max = table.attrs.get("k_max", int(n_occ.max()))
    ax.set_title(
        f"Sparse overfitted mixture (K_max={k_max}): mode K={result.n_components}"
    )
    ax.legend(title="covariance type")
