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
    attrs = {}
    if is_model(comparison):
        attrs["covariance_type"] = comparison.covariance_type
        comparison = comparison.compare_em()
    if isinstance(comparison, xr.Dataset):
        attrs = {**comparison.attrs, **attrs}
        df = comparison.to_dataframe()
    elif isinstance(comparison, pd.DataFrame):
        df = comparison
        attrs = {**comparison.attrs, **attrs}
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


def _drop_absent_correlations(df: pd.DataFrame, covariance_type) -> pd.DataFrame:
    """``df`` without the correlation rows of a fit whose covariance type has none.

    ``diag`` and ``spherical`` fits have no correlations: their rows are zero by
    construction.  With the covariance type unknown (a bare table), the rows
    whose EM value and whole interval are exactly zero are those.
    """
    if "variable" in df:
        is_corr = (df["variable"] == "correlations").to_numpy()
    else:
        is_corr = np.array([str(lab).startswith("correlations") for lab in df.index], dtype=bool)
    if covariance_type is not None:
        from bayesgmm.covariance import get_covariance_type

        absent = is_corr & (not get_covariance_type(covariance_type).has_correlations)
    else:
        absent = is_corr & (df[["em", "mean", "lower", "upper"]].to_numpy() == 0.0).all(axis=1)
    return df[~absent]


def _check_count(value, name: str, *, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "a positive" if minimum == 1 else "a non-negative"
        raise ValueError(f"{name} must be {kind} integer; got {value!r}.")
    return int(value)


def compare_em(comparison, *, var_names=None, covariance_type=None,
               standardize: bool | None = None, rows_per_page: int = 40, page: int = 0,
               max_rows: int | None = None, ax=None, fig=None):
    """Forest plot of the posterior against the EM estimate, one row per parameter.

    Each row shows the posterior credible interval (line), the posterior mean
    (dot) and the EM value (diamond: black when inside the interval, red and
    the row label in red when outside).  Parameters on different scales are
    put side by side by centring each row on its posterior mean and dividing
    by the interval half-width when ``standardize`` is True.  A long table
    (many features) is drawn in pages of ``rows_per_page`` rows; the title
    says which rows a page holds.

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
    covariance_type : {"full", "tied", "diag", "spherical"}, optional
        The fit's covariance type: ``correlations`` rows are drawn only for
        types that have correlations.  Default: the model's (or the table's
        ``covariance_type`` attribute); for a bare table, correlation rows that
        are exactly zero (EM value and interval) are left out.
    standardize : bool, optional
        Plot ``(value - posterior mean) / (interval half-width)``, so every
        interval spans [-1, 1] and the EM mark shows how far outside it lies.
        Default: True when the parameters' scales differ by more than 10x.
    rows_per_page : int, default 40
        Most rows in one figure (its height grows with the rows drawn).
    page : int, default 0
        Which page of ``rows_per_page`` rows to draw (0 for the first).
    max_rows : int, optional
        Refuse to draw a selection of more rows than this (a guard for
        scripts); default no limit.
    ax : matplotlib.axes.Axes, optional
    fig : matplotlib.figure.Figure, optional

    Returns
    -------
    matplotlib.axes.Axes
        One y tick per parameter; the interval lines have gid ``"interval"``
        and the EM marks ``"em_inside"`` / ``"em_outside"``.  The legend is
        outside the panel, on its right.

    Raises
    ------
    TypeError, ValueError
        If the table lacks the needed columns, ``var_names`` selects no row,
        ``page`` is past the last page or more than ``max_rows`` rows are
        selected.

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
    >>> ax = compare_em(t, rows_per_page=1, page=1)  # the second page
    >>> [tick.get_text() for tick in ax.get_yticklabels()]
    ['weights[1]']
    """
    df, attrs = _as_frame(comparison)
    if covariance_type is None:
        covariance_type = attrs.get("covariance_type")
    df = _drop_absent_correlations(df, covariance_type)
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
    if max_rows is not None and len(df) > _check_count(max_rows, "max_rows", minimum=1):
        raise ValueError(
            f"The comparison has {len(df)} rows, more than max_rows={max_rows}; select some with "
            "var_names (e.g. var_names=['weights', 'means']) or raise max_rows."
        )
    rows_per_page = _check_count(rows_per_page, "rows_per_page", minimum=1)
    n_pages = -(-len(df) // rows_per_page)
    if _check_count(page, "page", minimum=0) >= n_pages:
        raise ValueError(
            f"page={page} is past the last page: the {len(df)} rows make {n_pages} page(s) of "
            f"rows_per_page={rows_per_page} (page=0 to {n_pages - 1})."
        )
    if standardize is None:  # decided on the whole selection, so every page agrees
        spread = np.abs(df[["mean", "lower", "upper"]].to_numpy()).max(axis=1)
        spread = spread[spread > 0]
        standardize = bool(spread.size and spread.max() / spread.min() > 10)
    elif not isinstance(standardize, (bool, np.bool_)):
        raise TypeError(f"standardize must be True, False or None; got {standardize!r}.")
    n_total, first = len(df), page * rows_per_page
    df = df.iloc[first:first + rows_per_page]

    em, mean, lo, hi = (df[c].to_numpy() for c in ("em", "mean", "lower", "upper"))
    if standardize:
        half = (hi - lo) / 2.0
        half = np.where(half > 0, half, 1.0)
        em, lo, hi = (em - mean) / half, (lo - mean) / half, (hi - mean) / half
        mean = np.zeros_like(mean)
    inside = df["inside"].to_numpy()
    n = len(df)
    y = np.arange(n)[::-1]  # first row at the top
    ax = get_axes(ax, fig, figsize=(8.0, 1.2 + 0.28 * n), layout="constrained")
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
    # outside the panel, so that it never hides a row
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
              fontsize="small", frameon=False)
    n_out = int((~inside).sum())
    prob = attrs.get("ci_prob", attrs.get("hdi_prob"))
    what = f"the {float(prob):.0%} interval" if prob is not None else "the interval"
    title = f"EM vs posterior: {n_out} of {n} EM values outside {what}"
    if n_pages > 1:
        title += (f"\nrows {first + 1}-{first + n} of {n_total}: page {page} of pages "
                  f"0-{n_pages - 1} (choose with page= or var_names=)")
    ax.set_title(title)
    return ax
