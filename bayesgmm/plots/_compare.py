"""EM-vs-posterior forest plot."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
import xarray as xr

from bayesgmm.plots._common import get_axes, is_model

__all__ = ["compare_em"]

#: Accepted column names for each role, first match wins.
_ROLES = {
    "em": ("em", "em_value", "em_estimate"),
    "mean": ("mean", "posterior_mean", "post_mean"),
    "lower": ("lower", "ci_lower", "eti_lower", "hdi_lower", "interval_lower"),
    "upper": ("upper", "ci_upper", "eti_upper", "hdi_upper", "interval_upper"),
    "inside": ("em_inside", "inside", "em_in_interval", "em_in_ci"),
}

GID_INTERVAL = "interval"
GID_EM_INSIDE = "em_inside"
GID_EM_OUTSIDE = "em_outside"
GID_MEAN_MARK = "posterior_mean"


def _row_label(key, names) -> str:
    if not isinstance(key, tuple):
        key = (key,)
    parts = [str(k) for k in key]
    # (variable, component, feature) -> "variable[component, feature]"
    if len(parts) > 1 and names and names[0] in ("parameter", "variable", "var_name", "param"):
        return f"{parts[0]}[{', '.join(parts[1:])}]"
    return parts[0] if len(parts) == 1 else ", ".join(parts)


def _as_frame(comparison) -> tuple[pd.DataFrame, dict]:
    if is_model(comparison):
        comparison = comparison.compare_em()
    attrs = {}
    if isinstance(comparison, xr.Dataset):
        attrs = dict(comparison.attrs)
        df = comparison.to_dataframe()
    elif isinstance(comparison, pd.DataFrame):
        df = comparison
        attrs = dict(comparison.attrs)
    else:
        raise TypeError(
            "comparison must be the table returned by model.compare_em() / "
            "bayesgmm.posterior.compare_em() (an xarray.Dataset or its to_dataframe()), or a "
            f"fitted BayesianGMM; got {type(comparison).__name__}."
        )
    cols = {}
    for role, candidates in _ROLES.items():
        found = next((c for c in candidates if c in df.columns), None)
        if found is None and role != "inside":
            raise ValueError(
                f"comparison has no column for the {role!r} value (looked for {candidates}); "
                f"it has {list(map(str, df.columns))}. Pass the table from compare_em()."
            )
        cols[role] = found
    out = pd.DataFrame(
        {role: df[col].to_numpy() for role, col in cols.items() if col is not None},
        index=[_row_label(k, list(df.index.names)) for k in df.index],
    )
    if "variable" in df.columns:  # compare_em's coordinate naming each row's parameter
        out["variable"] = df["variable"].astype(str).to_numpy()
    for role in ("em", "mean", "lower", "upper"):
        out[role] = pd.to_numeric(out[role], errors="coerce").astype(np.float64)
    # rows without a value (e.g. the constant diagonal of a correlation matrix) are skipped
    out = out[np.isfinite(out[["em", "mean", "lower", "upper"]].to_numpy()).all(axis=1)]
    if "inside" not in out:
        out["inside"] = (out["em"] >= out["lower"]) & (out["em"] <= out["upper"])
    out["inside"] = out["inside"].astype(bool)
    return out, attrs


def compare_em(comparison, *, var_names=None, standardize: bool | None = None,
               max_rows: int = 60, ax=None, fig=None):
    """Forest plot of the posterior against the EM estimate, one row per parameter.

    Each row shows the posterior credible interval (line), the posterior mean
    (dot) and the EM value (diamond: black when inside the interval, red and
    the row label in red when outside).  Parameters on different scales are
    put side by side by centring each row on its posterior mean and dividing
    by the interval half-width when ``standardize`` is True.

    Parameters
    ----------
    comparison : xarray.Dataset, pandas.DataFrame or BayesianGMM
        The table from :meth:`bayesgmm.BayesianGMM.compare_em` /
        :func:`bayesgmm.posterior.compare_em` (or its ``to_dataframe()``),
        with the EM value, posterior mean, interval bounds and (optionally) the
        inside-the-interval flag per parameter.  A fitted model is asked for
        its ``compare_em()``.
    var_names : str or list of str, optional
        Keep only the rows of these parameters (e.g. ``["weights", "means"]``):
        matched against the table's ``variable`` coordinate, or the start of
        the row label for a table without one.
    standardize : bool, optional
        Plot ``(value - posterior mean) / (interval half-width)``, so every
        interval spans [-1, 1] and the EM mark shows how far outside it lies.
        Default: True when the parameters' scales differ by more than 10x.
    max_rows : int, default 60
        Refuse to draw more rows than this (select with ``var_names``).
    ax : matplotlib.axes.Axes, optional
    fig : matplotlib.figure.Figure, optional

    Returns
    -------
    matplotlib.axes.Axes
        One y tick per parameter; the interval lines have gid ``"interval"``
        and the EM marks ``"em_inside"`` / ``"em_outside"``.

    Raises
    ------
    TypeError, ValueError
        If the table lacks the needed columns, ``var_names`` selects no row or
        too many rows are selected.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from bayesgmm.plots import compare_em
    >>> t = pd.DataFrame({"em": [0.3, 0.9], "mean": [0.32, 0.7], "lower": [0.25, 0.6],
    ...                   "upper": [0.4, 0.8]}, index=["weights[0]", "weights[1]"])
    >>> ax = compare_em(t)
    >>> [tick.get_text() for tick in ax.get_yticklabels()]
    ['weights[0]', 'weights[1]']
    """
    df, attrs = _as_frame(comparison)
    if var_names is not None:
        if isinstance(var_names, str):
            var_names = [var_names]
        var_names = [str(v) for v in var_names]
        if "variable" in df:
            keep = df["variable"].isin(var_names).to_numpy()
        else:
            keep = [any(str(lab).startswith(v) for v in var_names) for lab in df.index]
        available = (sorted(set(df["variable"])) if "variable" in df
                     else list(df.index[:3]))
        df = df[np.asarray(keep, dtype=bool)]
        if df.empty:
            raise ValueError(
                f"var_names {var_names} select no row of the comparison; available: "
                f"{available}."
            )
    if df.empty:
        raise ValueError("comparison has no rows with finite values to plot.")
    if isinstance(max_rows, bool) or not isinstance(max_rows, numbers.Integral) or max_rows < 1:
        raise ValueError(f"max_rows must be a positive integer; got {max_rows!r}.")
    if len(df) > max_rows:
        raise ValueError(
            f"The comparison has {len(df)} rows, more than max_rows={max_rows}; select some with "
            "var_names (e.g. var_names=['weights', 'means']) or raise max_rows."
        )
    if standardize is None:
        spread = np.abs(df[["mean", "lower", "upper"]].to_numpy()).max(axis=1)
        spread = spread[spread > 0]
        standardize = bool(spread.size and spread.max() / spread.min() > 10)
    elif not isinstance(standardize, (bool, np.bool_)):
        raise TypeError(f"standardize must be True, False or None; got {standardize!r}.")

    em, mean, lo, hi = (df[c].to_numpy() for c in ("em", "mean", "lower", "upper"))
    if standardize:
        half = (hi - lo) / 2.0
        half = np.where(half > 0, half, 1.0)
        em, lo, hi = (em - mean) / half, (lo - mean) / half, (hi - mean) / half
        mean = np.zeros_like(mean)
    inside = df["inside"].to_numpy()
    n = len(df)
    y = np.arange(n)[::-1]  # first row at the top
    ax = get_axes(ax, fig, figsize=(6.0, 1.2 + 0.28 * n))
    for k in range(n):
        ax.plot([lo[k], hi[k]], [y[k], y[k]], color="tab:blue", linewidth=2.2,
                solid_capstyle="butt", gid=GID_INTERVAL)
    ax.scatter(mean, y, color="tab:blue", s=22, zorder=3, gid=GID_MEAN_MARK,
               label="posterior mean and interval")
    if inside.any():
        ax.scatter(em[inside], y[inside], marker="D", facecolor="white", edgecolor="black",
                   s=30, zorder=4, gid=GID_EM_INSIDE, label="EM (inside interval)")
    if (~inside).any():
        ax.scatter(em[~inside], y[~inside], marker="D", color="crimson", s=36, zorder=4,
                   gid=GID_EM_OUTSIDE, label="EM (outside interval)")
    ax.set_yticks(y)
    ax.set_yticklabels([str(i) for i in df.index])
    for tick, ok in zip(ax.get_yticklabels(), inside):
        if not ok:
            tick.set_color("crimson")
    ax.set_ylim(-0.8, n - 0.2)
    ax.grid(axis="x", alpha=0.3)
    if standardize:
        ax.axvline(0.0, color="grey", linewidth=0.8)
        ax.set_xlabel("(value - posterior mean) / interval half-width")
    else:
        ax.set_xlabel("value")
    ax.legend(loc="best", fontsize="small", framealpha=0.7)
    n_out = int((~inside).sum())
    prob = attrs.get("hdi_prob")
    what = f"the {float(prob):.0%} interval" if prob is not None else "the interval"
    ax.set_title(f"EM vs posterior: {n_out} of {n} EM values outside {what}")
    return ax
