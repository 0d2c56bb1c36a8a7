"""Co-clustering heatmap: the posterior similarity matrix ordered by a partition."""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayesgmm.plots._common import GID_BOUNDARY, as_labels, get_axes

__all__ = ["coclustering"]


def _similarity_values(similarity) -> np.ndarray:
    values = similarity.to_numpy() if isinstance(similarity, xr.DataArray) else similarity
    try:
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            "similarity must be a square numeric matrix (the DataArray from "
            f"bayesgmm.posterior.posterior_similarity); got {type(similarity).__name__}."
        ) from None
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(
            f"similarity must be a square (n_obs, n_obs) matrix; got shape {values.shape}."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("similarity contains NaN or infinite values.")
    if values.size and (values.min() < -1e-9 or values.max() > 1 + 1e-9):
        raise ValueError(
            "similarity must hold co-clustering probabilities in [0, 1]; got values in "
            f"[{values.min():.3g}, {values.max():.3g}]."
        )
    return values


def _align_partition(partition, similarity, n: int) -> np.ndarray:
    """Labels for the rows of ``similarity`` (handles a subsampled similarity matrix)."""
    if isinstance(partition, xr.DataArray) and isinstance(similarity, xr.DataArray):
        row_dim = similarity.dims[0]
        if partition.sizes.get("obs", -1) != n and row_dim in similarity.coords:
            if "obs" in partition.coords:  # select the similarity's observations by label
                try:
                    partition = partition.sel(obs=similarity[row_dim].to_numpy())
                except KeyError:
                    raise ValueError(
                        "partition does not label every observation of the similarity matrix; "
                        "pass the partition of the same data."
                    ) from None
            elif "obs_index" in similarity.coords:
                partition = partition.isel(obs=similarity["obs_index"].to_numpy())
    return as_labels(partition, n)


def coclustering(similarity, *, partition=None, boundaries: bool = True, cmap="Blues",
                 colorbar: bool = True, ax=None, fig=None):
    """Heatmap of the posterior similarity (co-clustering) matrix, ordered by a partition.

    Pixel ``(i, j)`` is the posterior probability that observations ``i`` and
    ``j`` belong to the same component.  Ordered by ``partition``, a
    well-determined clustering shows dark square blocks on the diagonal; light
    or smeared blocks show uncertain assignments.  Within a cluster,
    observations are ordered by their mean similarity to the rest of their
    cluster (most typical first).

    Parameters
    ----------
    similarity : xarray.DataArray or array-like of shape (n_obs, n_obs)
        From :func:`bayesgmm.posterior.posterior_similarity`.
    partition : xarray.DataArray or array-like of shape (n_obs,), optional
        Cluster labels, e.g. from :func:`bayesgmm.posterior.point_partition`.
        A partition of all observations is matched to a subsampled similarity
        matrix through its ``obs`` coordinate.  Without it the matrix is drawn
        in data order and without boundaries.
    boundaries : bool, default True
        Draw lines between the clusters of ``partition``.
    cmap : str or Colormap, default "Blues"
    colorbar : bool, default True
    ax : matplotlib.axes.Axes, optional
    fig : matplotlib.figure.Figure, optional
        Figure to draw on when ``ax`` is None.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.images[0]`` is the heatmap; the boundary lines have the gid
        ``"cluster_boundary"``.

    Raises
    ------
    TypeError, ValueError
        If ``similarity`` is not a square matrix of probabilities, or
        ``partition`` does not have one label per row.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from bayesgmm.plots import coclustering
    >>> p = np.array([[1, .1, .9], [.1, 1, .2], [.9, .2, 1]])
    >>> ax = coclustering(p, partition=[0, 1, 0])
    >>> ax.images[0].get_array().shape
    (3, 3)
    """
    values = _similarity_values(similarity)
    n = values.shape[0]
    for flag, name in ((boundaries, "boundaries"), (colorbar, "colorbar")):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False; got {flag!r}.")
    ax = get_axes(ax, fig, figsize=(5.5, 4.8))
    if partition is None:
        order = np.arange(n)
        labels = None
    else:
        labels = _align_partition(partition, similarity, n)
        # within each cluster, most typical (highest mean within-cluster similarity) first
        typical = np.zeros(n)
        for lab in np.unique(labels):
            members = np.flatnonzero(labels == lab)
            typical[members] = values[np.ix_(members, members)].mean(axis=1)
        order = np.lexsort((-typical, labels))
    im = ax.imshow(values[np.ix_(order, order)], cmap=cmap, vmin=0.0, vmax=1.0,
                   interpolation="nearest", aspect="equal")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label="P(same component)")
    if labels is not None and boundaries:
        sizes = np.bincount(labels[order])
        sizes = sizes[sizes > 0]
        for edge in np.cumsum(sizes)[:-1]:
            ax.axhline(edge - 0.5, color="crimson", linewidth=0.9, gid=GID_BOUNDARY)
            ax.axvline(edge - 0.5, color="crimson", linewidth=0.9, gid=GID_BOUNDARY)
    ax.set_xlabel("observation" + (" (ordered by cluster)" if labels is not None else ""))
    ax.set_ylabel("observation" + (" (ordered by cluster)" if labels is not None else ""))
    n_clusters = "" if labels is None else f", {np.unique(labels).size} clusters"
    ax.set_title(f"Posterior co-clustering\n({n} observations{n_clusters})")
    return ax
