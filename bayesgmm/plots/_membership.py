"""Membership-uncertainty plot: observations shaded by entropy or assignment probability."""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayesgmm import _datatree
from bayesgmm.plots._common import (
    GID_POINTS,
    as_observed,
    check_features,
    em_parameters,
    get_axes,
    is_model,
    separating_pairs,
)

__all__ = ["membership_uncertainty"]

_BY = ("entropy", "probability")


def _inputs(obj, X):
    """(membership Dataset, data values, feature names, result tree or None)."""
    if is_model(obj) or isinstance(obj, xr.DataTree):
        tree = obj.idata_ if is_model(obj) else obj
        observed = _datatree.get_observed(tree).transpose("obs", "feature")
        if X is not None:
            raise ValueError(
                "X must be None when model_or_membership is a fitted model or result tree "
                "(the plot shows the fitted observations, stored with the fit); pass a "
                "membership Dataset together with X to plot other data."
            )
        if is_model(obj):
            membership = obj.membership()
        else:
            from bayesgmm.posterior import membership_summary

            membership = membership_summary(_datatree.get_posterior(tree), observed)
        names = [str(f) for f in observed["feature"].to_numpy()]
        return membership, observed.to_numpy(), names, tree
    if isinstance(obj, xr.Dataset):
        if X is None:
            raise ValueError(
                "X is required when model_or_membership is a membership Dataset: pass the "
                "data the membership was computed for (array, DataFrame or DataArray)."
            )
        values, names = as_observed(X)
        return obj, values, names, None
    if hasattr(obj, "fit") and not hasattr(obj, "idata_"):
        raise TypeError(
            f"model_or_membership is an unfitted {type(obj).__name__}; call .fit(X) first."
        )
    raise TypeError(
        "model_or_membership must be a fitted BayesianGMM, its result tree (xarray.DataTree) "
        "or the membership Dataset from model.membership() / "
        f"bayesgmm.posterior.membership_summary(); got {type(obj).__name__}."
    )


def membership_uncertainty(
    model_or_membership,
    X=None,
    *,
    by: str = "entropy",
    features=None,
    cmap=None,
    ax=None,
    fig=None,
    scatter_kws=None,
):
    """Observations shaded by how uncertain their cluster assignment is.

    Parameters
    ----------
    model_or_membership : BayesianGMM, xarray.DataTree or xarray.Dataset
        A fitted model (its :meth:`~bayesgmm.BayesianGMM.membership` is used),
        its result tree, or a membership summary from
        :func:`bayesgmm.posterior.membership_summary` (then pass ``X``).
    X : array-like of shape (n_obs, n_features), optional
        The data the membership summary belongs to (numpy array, DataFrame, or
        DataArray with dims (obs, feature)).  Only with a membership Dataset.
    by : {"entropy", "probability"}, default "entropy"
        ``"entropy"`` shades by the entropy of the posterior mean membership
        probabilities (0 = certain, ``log K`` = uniform; darker = more
        uncertain); ``"probability"`` by the posterior mean probability of the
        most probable component (``probability_max``; darker = less sure).
    features : sequence of one or two str or int, optional
        The two features to plot.  Default: for a model or tree with more
        than two features, the pair that separates the components most (as
        in :func:`clusters`), else the first two.  With one feature the
        observations are drawn against their shade (x: the feature, y: the
        entropy or probability).
    cmap : str or matplotlib.colors.Colormap, optional
        Default ``"viridis_r"`` for entropy, ``"viridis"`` for probability
        (dark = uncertain in both).
    ax : matplotlib.axes.Axes, optional
    fig : matplotlib.figure.Figure, optional
        Figure to draw on when ``ax`` is None.
    scatter_kws : dict, optional
        Passed to :meth:`matplotlib.axes.Axes.scatter`.

    Returns
    -------
    matplotlib.axes.Axes
        With a colorbar (``ax.collections[0].colorbar``).

    Raises
    ------
    TypeError, ValueError
        On an unsupported input, a missing ``X``, mismatched lengths, an
        unknown ``by`` or feature.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, xarray as xr
    >>> from bayesgmm.plots import membership_uncertainty
    >>> p = np.array([[0.99, 0.01], [0.5, 0.5], [0.2, 0.8]])
    >>> m = xr.Dataset({"probability": (("obs", "component"), p),
    ...                 "entropy": ("obs", -(p * np.log(p)).sum(1)),
    ...                 "probability_max": ("obs", p.max(1))})
    >>> ax = membership_uncertainty(m, np.array([[0, 0], [1, 1], [2, 2.0]]))
    >>> ax.collections[0].get_offsets().shape
    (3, 2)
    """
    if by not in _BY:
        raise ValueError(f"by must be one of {_BY}; got {by!r}.")
    if scatter_kws is not None and not isinstance(scatter_kws, dict):
        raise TypeError(f"scatter_kws must be a dict or None; got {type(scatter_kws).__name__}.")
    membership, values, names, tree = _inputs(model_or_membership, X)
    var = "entropy" if by == "entropy" else "probability_max"
    if var not in membership:
        raise ValueError(
            f"The membership Dataset has no {var!r} variable (needed for by={by!r}); pass the "
            "Dataset returned by model.membership() or bayesgmm.posterior.membership_summary()."
        )
    shade = membership[var].to_numpy()
    if shade.ndim != 1 or shade.shape[0] != values.shape[0]:
        raise ValueError(
            f"The membership has {shade.shape[0] if shade.ndim else 0} observations but X has "
            f"{values.shape[0]}; pass the data the membership was computed for."
        )
    if features is None and tree is not None and len(names) > 2:
        idx = list(separating_pairs(*em_parameters(tree))[0])
    else:
        idx = check_features(features, names, minimum=1,
                             exactly=min(2, len(names)) if features is None else None)
        if len(idx) > 2:
            raise ValueError(
                f"features must name one or two features; got {[names[i] for i in idx]}."
            )
    K = membership.sizes.get("component")
    if by == "entropy":
        vmin, vmax = 0.0, (float(np.log(K)) if K and K > 1 else max(float(np.nanmax(shade)), 1e-12))
        label = "assignment entropy (nats)" + (f"; max log K = {vmax:.2f}" if K and K > 1 else "")
        cmap = "viridis_r" if cmap is None else cmap
        order = np.argsort(shade, kind="stable")  # uncertain points drawn last (on top)
    else:
        vmin, vmax = (1.0 / K if K else float(np.nanmin(shade))), 1.0
        label = "probability of the assigned component"
        cmap = "viridis" if cmap is None else cmap
        order = np.argsort(-shade, kind="stable")
    ax = get_axes(ax, fig)
    kws = {"s": 16, "linewidths": 0}
    kws.update(scatter_kws or {})
    # one feature: the shade itself on the y axis
    y = values[order, idx[1]] if len(idx) == 2 else shade[order]
    sc = ax.scatter(values[order, idx[0]], y, c=shade[order], cmap=cmap,
                    vmin=vmin, vmax=vmax, gid=GID_POINTS, **kws)
    ax.figure.colorbar(sc, ax=ax, label=label)
    ax.set_xlabel(names[idx[0]])
    if len(idx) == 2:
        ax.set_ylabel(names[idx[1]])
    else:
        pad = 0.05 * (vmax - vmin)
        ax.set_ylim(vmin - pad, vmax + pad)
        ax.set_ylabel(label)
    ax.set_title("Membership uncertainty (" + ("entropy" if by == "entropy" else
                                               "probability of assigned component") + ")")
    return ax
