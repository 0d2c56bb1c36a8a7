"""Shared drawing helpers for :mod:`bayesgmm.plots` (private).

Nothing here computes a statistical result: the helpers turn inputs that were
already computed (a covariance matrix, a fitted model, a membership summary)
into matplotlib artists or into the arrays the plots draw, and check the
arguments the plot functions share.
"""

from __future__ import annotations

import numbers

import numpy as np
import xarray as xr

from bayesgmm._data import check_array, feature_labels

__all__ = [
    "covariance_ellipse",
    "check_probability",
    "ellipse_params",
    "resolve_tree",
    "is_model",
    "get_axes",
    "component_colors",
    "check_features",
    "as_observed",
    "as_labels",
    "em_parameters",
    "separating_features",
    "separating_pairs",
]

#: ``gid`` given to the artists the plots draw, so callers (and the tests) can
#: find them: ``[p for p in ax.patches if p.get_gid() == GID_EM]``.
GID_DRAW = "posterior_draw"
GID_MEAN = "posterior_mean"
GID_EM = "em"
GID_POINTS = "observations"
GID_BOUNDARY = "cluster_boundary"


def ellipse_params(cov, coverage: float = 0.9):
    """Width, height and angle (degrees) of the ``coverage`` ellipse of a 2-D Gaussian.

    The ellipse ``{x : (x - mu)' Sigma^{-1} (x - mu) <= q}`` with ``q`` the
    ``coverage`` quantile of a chi-squared distribution with 2 degrees of
    freedom holds that fraction of the Gaussian's mass.  Its axes are the
    eigenvectors of ``Sigma`` with half-lengths ``sqrt(q * eigenvalue)``.

    Parameters
    ----------
    cov : array-like of shape (2, 2)
        Symmetric positive semi-definite covariance matrix.
    coverage : float, default 0.9
        Probability mass inside the ellipse, in (0, 1).

    Returns
    -------
    width, height, angle : float
        Full axis lengths and the rotation of the ``width`` axis from the x axis
        in degrees, as :class:`matplotlib.patches.Ellipse` takes them.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.plots._common import ellipse_params
    >>> w, h, a = ellipse_params(np.diag([4.0, 1.0]), coverage=1 - np.exp(-0.5))
    >>> round(w, 6), round(h, 6), round(a % 180, 6)
    (4.0, 2.0, 0.0)
    """
    cov = np.asarray(cov, dtype=np.float64)
    if cov.shape != (2, 2):
        raise ValueError(
            f"cov must be a 2 x 2 covariance matrix; got shape {cov.shape}. Select two "
            "features first (cov[np.ix_([i, j], [i, j])])."
        )
    if not np.all(np.isfinite(cov)):
        raise ValueError("cov contains NaN or infinite values; pass a finite covariance matrix.")
    coverage = check_probability(coverage, "coverage")
    # chi2(2) quantile in closed form: -2 log(1 - p)
    q = -2.0 * np.log1p(-float(coverage))
    vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
    if vals[0] < -1e-10 * max(1.0, abs(vals[-1])):
        raise ValueError(
            f"cov is not positive semi-definite (eigenvalues {vals.tolist()}); pass a "
            "covariance matrix."
        )
    vals = np.clip(vals, 0.0, None)
    # eigh sorts ascending: the last eigenvector is the major axis
    width = 2.0 * np.sqrt(q * vals[1])
    height = 2.0 * np.sqrt(q * vals[0])
    angle = float(np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1])))
    return float(width), float(height), angle


def check_probability(value, name: str) -> float:
    """``value`` as a float in (0, 1), else a ``ValueError`` naming ``name``.

    Examples
    --------
    >>> from bayesgmm.plots._common import check_probability
    >>> check_probability(0.9, "coverage")
    0.9
    """
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Real)
        or not 0.0 < float(value) < 1.0
    ):
        raise ValueError(f"{name} must be a probability in (0, 1), e.g. 0.9; got {value!r}.")
    return float(value)


def covariance_ellipse(mean, cov, *, coverage: float = 0.9, **kwargs):
    """A :class:`matplotlib.patches.Ellipse` holding ``coverage`` of a 2-D Gaussian.

    Parameters
    ----------
    mean : array-like of shape (2,)
        Centre.
    cov : array-like of shape (2, 2)
        Covariance matrix (for two of D features: its 2 x 2 sub-matrix, the
        covariance of the marginal).
    coverage : float, default 0.9
        Probability mass inside the ellipse.
    **kwargs
        Passed to :class:`matplotlib.patches.Ellipse` (``fill``, ``edgecolor``,
        ``linestyle``, ``alpha``, ``gid`` ...).

    Returns
    -------
    matplotlib.patches.Ellipse
        Not yet added to an axes: ``ax.add_patch(patch)``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.plots._common import covariance_ellipse
    >>> e = covariance_ellipse([0.0, 1.0], np.eye(2), coverage=0.5, fill=False)
    >>> e.center, round(e.width, 4) == round(e.height, 4)
    ((0.0, 1.0), True)
    """
    from matplotlib.patches import Ellipse

    mean = np.asarray(mean, dtype=np.float64)
    if mean.shape != (2,):
        raise ValueError(f"mean must have shape (2,); got {mean.shape}.")
    width, height, angle = ellipse_params(cov, coverage)
    kwargs.setdefault("fill", False)
    return Ellipse(
        xy=(float(mean[0]), float(mean[1])), width=width, height=height, angle=angle, **kwargs
    )


def is_model(obj) -> bool:
    """Whether ``obj`` looks like a fitted :class:`bayesgmm.BayesianGMM` (has ``idata_``).

    Examples
    --------
    >>> from bayesgmm.plots._common import is_model
    >>> is_model(object())
    False
    """
    return hasattr(obj, "idata_") and isinstance(getattr(obj, "idata_"), xr.DataTree)


def resolve_tree(obj, name: str = "model_or_tree") -> xr.DataTree:
    """The result tree of a fitted model, or the tree itself.

    Raises
    ------
    TypeError
        For anything else (an unfitted model included), naming ``name``.

    Examples
    --------
    >>> import xarray as xr
    >>> from bayesgmm.plots._common import resolve_tree
    >>> t = xr.DataTree()
    >>> resolve_tree(t) is t
    True
    """
    if isinstance(obj, xr.DataTree):
        return obj
    if is_model(obj):
        return obj.idata_
    if hasattr(obj, "fit") and not hasattr(obj, "idata_"):
        raise TypeError(
            f"{name} is an unfitted {type(obj).__name__}; call .fit(X) first (plots draw the "
            "results of a fit)."
        )
    raise TypeError(
        f"{name} must be a fitted bayesgmm.BayesianGMM or its result tree (model.idata_, an "
        f"xarray.DataTree); got {type(obj).__name__}."
    )


def get_axes(ax=None, fig=None, *, figsize=(5.5, 4.5), layout=None):
    """``ax`` if given, else a new axes on ``fig`` (or on a new figure).

    ``layout`` (e.g. ``"constrained"``) is the layout engine of a new figure.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from bayesgmm.plots._common import get_axes
    >>> ax = get_axes()
    >>> ax.figure is not None
    True
    """
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if ax is not None:
        if not isinstance(ax, Axes):
            raise TypeError(f"ax must be a matplotlib Axes or None; got {type(ax).__name__}.")
        return ax
    if fig is not None:
        if not isinstance(fig, Figure):
            raise TypeError(f"fig must be a matplotlib Figure or None; got {type(fig).__name__}.")
        return fig.add_subplot()
    _, ax = plt.subplots(figsize=figsize, layout=layout)
    return ax


def component_colors(n: int) -> list:
    """``n`` distinct colours (tab10, then tab20, then a continuous map).

    Examples
    --------
    >>> from bayesgmm.plots._common import component_colors
    >>> len(component_colors(3))
    3
    """
    import matplotlib as mpl

    n = int(n)
    if n <= 10:
        cmap = mpl.colormaps["tab10"]
        return [cmap(i) for i in range(n)]
    if n <= 20:
        cmap = mpl.colormaps["tab20"]
        return [cmap(i) for i in range(n)]
    cmap = mpl.colormaps["turbo"]
    return [cmap(x) for x in np.linspace(0.05, 0.95, n)]


def check_features(features, names, *, exactly=None, minimum: int = 2, order=None,
                   name: str = "features") -> list[int]:
    """Positions of ``features`` (names or integer positions) among ``names``.

    Parameters
    ----------
    features : None, int, str or sequence of str and int
        ``None`` selects all features (the first ``exactly`` of ``order`` when
        ``exactly`` is given); an int ``n`` the first ``n`` of ``order`` (the
        ``n`` most separating features when ``order`` comes from
        :func:`separating_features`); a name, or a sequence of names and
        positions, those features.
    names : sequence of str
        The feature names of the data.
    exactly : int, optional
        Required number of features.
    minimum : int, default 2
        Fewest features the plot can draw.
    order : sequence of int, optional
        Feature positions in order of preference (default: data order).
    name : str, default "features"
        The argument's name in error messages.

    Examples
    --------
    >>> from bayesgmm.plots._common import check_features
    >>> check_features(["b", 0], ["a", "b", "c"])
    [1, 0]
    >>> check_features(2, ["a", "b", "c"], order=[2, 0, 1])
    [2, 0]
    """
    names = [str(n) for n in names]
    D = len(names)
    order = list(range(D)) if order is None else [int(i) for i in order]
    if features is None:
        idx = order[:exactly] if exactly is not None else list(range(D))
    elif isinstance(features, numbers.Integral) and not isinstance(features, (bool, np.bool_)):
        if not 1 <= int(features) <= D:
            raise ValueError(
                f"{name}={features} asks for the {features} most separating features, but the "
                f"data have {D} ({names}); pass 1 to {D}, or a list of names."
            )
        idx = order[:int(features)]
    else:
        if isinstance(features, str):
            features = [features]
        try:
            features = list(features)
        except TypeError:
            raise TypeError(
                f"{name} must be a list of feature names or positions; got "
                f"{type(features).__name__}."
            ) from None
        idx = []
        for f in features:
            if isinstance(f, (bool, np.bool_)):
                raise TypeError(f"{name} holds a bool ({f!r}); pass feature names or positions.")
            if isinstance(f, numbers.Integral):
                if not -D <= int(f) < D:
                    raise ValueError(
                        f"{name}: position {f} is out of range for {D} features {names}."
                    )
                idx.append(int(f) % D)
            elif str(f) in names:
                idx.append(names.index(str(f)))
            else:
                raise ValueError(f"{name}: {f!r} is not a feature; choose from {names}.")
        if len(set(idx)) != len(idx):
            raise ValueError(f"{name} lists a feature twice: {features!r}.")
    if exactly is not None and len(idx) != exactly:
        raise ValueError(
            f"{name} must name exactly {exactly} features; got {len(idx)} "
            f"({[names[i] for i in idx]}). Available: {names}."
        )
    if len(idx) < minimum:
        raise ValueError(
            f"{name} must name at least {minimum} feature{'s' if minimum > 1 else ''}; got "
            f"{[names[i] for i in idx]} (available: {names})."
        )
    return idx


def em_parameters(tree):
    """The EM fit of a result tree as arrays: weights (K,), means (K, D), covariances (K, D, D).

    Examples
    --------
    >>> from bayesgmm.plots._common import em_parameters  # doctest: +SKIP
    >>> [a.shape for a in em_parameters(model.idata_)]  # doctest: +SKIP
    [(2,), (2, 2), (2, 2, 2)]
    """
    from bayesgmm import _datatree

    em = _datatree.get_em(tree)
    return (
        em["weights"].transpose("component").to_numpy(),
        em["means"].transpose("component", "feature").to_numpy(),
        em["covariances"].transpose("component", "feature", "feature_bis").to_numpy(),
    )


def _scatter_matrices(weights, means, covariances):
    """Within- and between-component scatter ``W = sum_k w_k S_k``, ``B = sum_k w_k d_k d_k'``."""
    w = np.asarray(weights, dtype=np.float64)
    m = np.asarray(means, dtype=np.float64)
    d = m - w @ m
    within = np.einsum("k,kij->ij", w, np.asarray(covariances, dtype=np.float64))
    between = np.einsum("k,ki,kj->ij", w, d, d)
    return within, between


def separating_features(weights, means, covariances) -> np.ndarray:
    """Feature positions ordered from the most to the least separating.

    Only chooses what to draw: a feature's score is the between-component
    variance of the means over the mean within-component variance,
    ``sum_k w_k (mu_kf - mu_f)^2 / sum_k w_k Sigma_kff`` with
    ``mu_f = sum_k w_k mu_kf`` (the one-dimensional Fisher criterion; scale
    free).  Ties (e.g. one component) keep the data order.

    Parameters
    ----------
    weights : array-like of shape (K,)
    means : array-like of shape (K, D)
    covariances : array-like of shape (K, D, D)
        Full covariance matrices (e.g. from :func:`em_parameters`).

    Returns
    -------
    numpy.ndarray of int, shape (D,)

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.plots._common import separating_features
    >>> separating_features([0.5, 0.5], [[0.0, 0.0, 0.0], [1.0, 5.0, 0.0]],
    ...                     np.broadcast_to(np.eye(3), (2, 3, 3))).tolist()
    [1, 0, 2]
    """
    within, between = _scatter_matrices(weights, means, covariances)
    score = np.diag(between) / np.maximum(np.diag(within), np.finfo(np.float64).tiny)
    return np.argsort(-score, kind="stable")


def separating_pairs(weights, means, covariances) -> list[tuple[int, int]]:
    """Feature pairs ``(i, j)``, ``i < j``, ordered from the most to the least separating.

    Only chooses what to draw: a pair's score is the Fisher criterion
    ``trace(W^-1 B)`` of its two-feature marginal, with ``W`` the mean
    within-component covariance and ``B`` the weighted covariance of the
    component means (affine invariant, so units do not matter).  Ties keep the
    data order.

    Parameters
    ----------
    weights : array-like of shape (K,)
    means : array-like of shape (K, D)
    covariances : array-like of shape (K, D, D)

    Returns
    -------
    list of tuple of int
        All ``D (D - 1) / 2`` pairs.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.plots._common import separating_pairs
    >>> separating_pairs([0.5, 0.5], [[0.0, 0.0, 0.0], [1.0, 5.0, 0.0]],
    ...                  np.broadcast_to(np.eye(3), (2, 3, 3)))
    [(0, 1), (1, 2), (0, 2)]
    """
    W, B = _scatter_matrices(weights, means, covariances)
    i, j = np.triu_indices(W.shape[0], k=1)
    # trace of the inverse of the 2 x 2 block [[Wii, Wij], [Wij, Wjj]] times [[Bii, ...]]
    det = W[i, i] * W[j, j] - W[i, j] ** 2
    det = np.maximum(det, np.finfo(np.float64).eps * W[i, i] * W[j, j])
    det = np.maximum(det, np.finfo(np.float64).tiny)
    score = (W[j, j] * B[i, i] - 2.0 * W[i, j] * B[i, j] + W[i, i] * B[j, j]) / det
    return [(int(i[p]), int(j[p])) for p in np.argsort(-score, kind="stable")]


def as_observed(X, name: str = "X"):
    """Data as ``(values (N, D) float array, feature names)``.

    Read by the package's one rule (:func:`bayesgmm._data.check_array`): a numpy
    array, a pandas DataFrame or an xarray DataArray (dims ``obs`` and ``feature``
    by name, other dim names positionally); names default to ``x0, x1, ...``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.plots._common import as_observed
    >>> as_observed(np.zeros((3, 2)))[1]
    ['x0', 'x1']
    """
    values, names = check_array(X, name=name, allow_dask=False)
    return values, feature_labels(names, values.shape[1])


def as_labels(partition, n_obs: int, name: str = "partition") -> np.ndarray:
    """Integer cluster labels of length ``n_obs`` from a DataArray or array-like.

    Examples
    --------
    >>> from bayesgmm.plots._common import as_labels
    >>> as_labels([0, 2, 2], 3).tolist()
    [0, 2, 2]
    """
    values = partition.to_numpy() if isinstance(partition, xr.DataArray) else np.asarray(partition)
    if values.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one label per observation); got shape {values.shape}."
        )
    if values.shape[0] != n_obs:
        raise ValueError(
            f"{name} has {values.shape[0]} labels but the data have {n_obs} observations; "
            "pass the partition of these data (e.g. from bayesgmm.posterior.map_partition)."
        )
    if values.dtype.kind not in "iu":
        whole = values.dtype.kind == "f" and np.all(np.isfinite(values))
        if whole and np.all(values == np.round(values)):
            values = values.astype(np.int64)
        else:
            raise TypeError(
                f"{name} must hold integer cluster labels; got dtype {values.dtype}."
            )
    if values.size and values.min() < 0:
        raise ValueError(f"{name} holds negative labels; labels must be 0, 1, 2, ...")
    return values.astype(np.int64)
