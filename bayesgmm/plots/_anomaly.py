"""Anomaly plot: density contours, the width of the log density's interval, flagged points."""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayesgmm.plots._common import as_observed, get_axes

__all__ = ["anomalies"]


def anomalies(grid, X, result=None, *, features=(0, 1), levels=8, ax=None, cmap="Greys"):
    """Draw a precomputed density grid, its interval width, and flagged points.

    Parameters
    ----------
    grid : xarray.Dataset
        From :func:`bayesgmm.anomaly.density_grid` (``log_density`` and ``width`` on
        dims (y, x)).
    X : array-like of shape (n_obs, n_features)
        The scored points.
    result : xarray.Dataset, optional
        From :func:`bayesgmm.anomaly.detect_anomalies` on ``X``: points with
        ``is_outlier`` are drawn as red crosses, the others coloured by
        ``outlier_probability``.
    features : pair of int, default (0, 1)
        Columns of ``X`` on the axes (the grid's features).
    levels : int, default 8
        Number of density contour lines (of the posterior predictive log density).
    ax : matplotlib Axes, optional
    cmap : str, default "Greys"
        Colour map of the interval width (darker = wider interval, less sure density;
        the scale stops at the 90th percentile of the grid's widths).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np, bayesgmm as bg
    >>> from bayesgmm.anomaly import density_grid, detect_anomalies
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> gm = bg.GaussianMixture(1, random_state=0).fit(X)
    >>> ax = anomalies(density_grid(gm, X, n_grid=20), X, detect_anomalies(gm, X, random_state=0))
    """
    if (
        not isinstance(grid, xr.Dataset)
        or not {"log_density", "width"} <= set(grid.data_vars)
        or set(grid["width"].dims) != {"y", "x"}
    ):
        raise TypeError(
            "grid must be the Dataset returned by bayesgmm.anomaly.density_grid (variables "
            f"'log_density' and 'width' on dims (y, x)); got {type(grid).__name__} "
            f"{dict(getattr(grid, 'sizes', {}))}."
        )
    values, names = as_observed(X)
    i, j = (int(f) for f in features)
    ax = get_axes(ax)
    xs, ys = grid["x"].to_numpy(), grid["y"].to_numpy()
    width = grid["width"].transpose("y", "x").to_numpy()
    # far from the data the width grows without bound: the colour scale stops at its
    # 90th percentile over the grid so that the variation near the data stays visible
    vmax = float(np.nanquantile(width, 0.9)) if np.any(width > 0) else None
    mesh = ax.pcolormesh(xs, ys, width, cmap=cmap, shading="auto", alpha=0.6, vmin=0, vmax=vmax)
    prob = grid.attrs.get("ci_prob", grid.attrs.get("hdi_prob"))
    prob = f"{prob:.0%} " if prob is not None else ""
    ax.figure.colorbar(mesh, ax=ax, label=f"width of {prob}interval of log density")
    ld = grid["log_density"].transpose("y", "x").to_numpy()
    finite = ld[np.isfinite(ld)]
    lv = np.linspace(np.quantile(finite, 0.2), finite.max(), int(levels))
    ax.contour(xs, ys, ld, levels=lv, colors="C0", linewidths=0.8, linestyles="solid")
    if result is None:
        ax.scatter(values[:, i], values[:, j], s=8, c="k")
    else:
        flag = result["is_outlier"].to_numpy().astype(bool)
        if flag.shape[0] != values.shape[0]:
            raise ValueError(
                f"result has {flag.shape[0]} points but X has {values.shape[0]}; pass the "
                "detect_anomalies result of the same X."
            )
        p = result["outlier_probability"].to_numpy()
        sc = ax.scatter(values[~flag, i], values[~flag, j], s=8, c=p[~flag], cmap="viridis",
                        vmin=0, vmax=1)
        ax.scatter(values[flag, i], values[flag, j], s=40, marker="x", c="red",
                   label=f"flagged ({flag.sum()}) at rate {result.attrs.get('false_alarm_rate')}")
        ax.figure.colorbar(sc, ax=ax, label="outlier probability")
        ax.legend(loc="upper right", fontsize="small")
    ax.set_xlabel(names[i])
    ax.set_ylabel(names[j])
    ax.set_title("posterior predictive log density (lines), interval width (shade)")
    return ax
