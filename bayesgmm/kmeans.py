"""k-means and a Gaussian mixture side by side.

k-means is the hard-assignment, equal-spherical-covariance, equal-weight limit of a
Gaussian mixture: it cuts the data by the perpendicular bisectors of the centres.  It
fails where clusters are elongated, tilted or of unequal size and spread, and it says
nothing about how sure an assignment is.  :func:`compare_kmeans` fits both (or takes
fitted ones) and returns their labels aligned, the mixture's membership probabilities
and the points whose assignment is uncertain.

scikit-learn's :class:`sklearn.cluster.KMeans` is used for k-means (scikit-learn is not
a dependency of bayesgmm: install it, or pass fitted labels).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment

from bayesgmm._data import check_array, obs_coords
from bayesgmm.posterior.partition import adjusted_rand_index

__all__ = ["compare_kmeans"]


def _align(labels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Relabel ``labels`` to agree most with the integer ``reference`` (Hungarian matching)."""
    a, ia = np.unique(labels, return_inverse=True)
    b, ib = np.unique(reference, return_inverse=True)
    n = max(a.size, b.size)
    table = np.zeros((n, n))
    np.add.at(table, (ia, ib), 1)
    rows, cols = linear_sum_assignment(-table)
    mapping = np.empty(n, dtype=np.int64)
    mapping[rows] = cols
    targets = np.concatenate([b, b.max() + 1 + np.arange(n - b.size)])
    return targets[mapping[ia]]


def compare_kmeans(
    X,
    n_components: int,
    *,
    mixture=None,
    kmeans_labels=None,
    y_true=None,
    uncertain_below: float = 0.9,
    random_state=None,
) -> xr.Dataset:
    """Fit k-means and a Gaussian mixture with ``n_components`` clusters and compare them.

    Parameters
    ----------
    X : array-like of shape (n_obs, n_features)
    n_components : int
        Number of clusters of both.
    mixture : GaussianMixture or BayesianGMM, optional
        A fitted mixture on ``X``; default
        ``GaussianMixture(n_components, init_params="hc")`` with the default
        ``n_init="auto"``: the hierarchical start, then random partitions, random
        observations and k-means in turn (k-means starts alone leave EM in k-means'
        own local optimum on elongated clusters).  A :class:`~bayesgmm.BayesianGMM` adds
        the credible interval of each point's largest membership probability.
    kmeans_labels : array-like of shape (n_obs,), optional
        k-means labels; default :class:`sklearn.cluster.KMeans` (``n_init=10``).
    y_true : array-like of shape (n_obs,), optional
        Known classes: adds the adjusted Rand index of each method against them.
    uncertain_below : float, default 0.9
        A point is ``uncertain`` when its largest membership probability is below this
        (for a Bayesian mixture: when the lower end of its interval is).
    random_state : int or None
        Seeds both fits.

    Returns
    -------
    xarray.Dataset
        dims (obs, component): ``kmeans`` and ``mixture`` (obs) labels, k-means labels
        aligned to the mixture's; ``probability`` (obs, component) the mixture's
        membership probabilities; ``probability_max`` (obs) (with
        ``probability_max_lower`` for a Bayesian mixture); ``entropy`` (obs, nats);
        ``uncertain`` (obs); ``disagree`` (obs, the labels differ).  attrs
        ``ari_kmeans_mixture``, and with ``y_true`` ``ari_kmeans`` and ``ari_mixture``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(size=(100, 2)) * [5, 0.4], rng.normal(size=(100, 2)) * [5, 0.4] + [0, 3]]
    >>> y = np.repeat([0, 1], 100)
    >>> res = compare_kmeans(X, 2, y_true=y, random_state=0)
    >>> bool(res.attrs["ari_mixture"] > res.attrs["ari_kmeans"])
    True
    """
    arr, _ = check_array(X, name="X", allow_dask=False, min_samples=2)
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise ValueError(f"n_components must be a positive int; got {n_components!r}.")
    if not 0 < float(uncertain_below) <= 1:
        raise ValueError(f"uncertain_below must be in (0, 1], e.g. 0.9; got {uncertain_below}.")
    K = int(n_components)
    if mixture is None:
        from bayesgmm.em import GaussianMixture

        # k-means starts alone put EM in k-means' own local optimum on elongated clusters
        # (the case this comparison is about): the hierarchical start first, then the
        # default n_init="auto" starts (random partitions, random rows, k-means)
        mixture = GaussianMixture(K, init_params="hc", random_state=random_state).fit(arr)
    lower = None
    if hasattr(mixture, "idata_"):
        m = mixture.membership()
        prob = m["probability"].transpose("obs", "component").to_numpy()
        lower = m["probability_max_lower"].to_numpy()
    else:
        prob = mixture.predict_proba(arr)
    if prob.shape[0] != arr.shape[0]:
        raise ValueError(
            f"mixture was fitted on {prob.shape[0]} rows but X has {arr.shape[0]}; pass the "
            "data the mixture was fitted on."
        )
    mix = prob.argmax(axis=1)
    if kmeans_labels is None:
        try:
            from sklearn.cluster import KMeans
        except ImportError:  # pragma: no cover - scikit-learn is installed in the tests
            raise ImportError(
                "compare_kmeans fits k-means with scikit-learn: pip install scikit-learn, or "
                "pass kmeans_labels= from your own k-means."
            ) from None
        kmeans_labels = KMeans(K, n_init=10, random_state=random_state).fit_predict(arr)
    km = np.asarray(kmeans_labels).ravel()
    if km.shape[0] != arr.shape[0]:
        raise ValueError(f"kmeans_labels must have {arr.shape[0]} labels; got {km.shape[0]}.")
    km = _align(km, mix)
    pmax = prob.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.sum(np.where(prob > 0, prob * np.log(prob), 0.0), axis=1)
    sure = pmax if lower is None else lower
    obs = np.asarray(obs_coords(X, arr.shape[0]))
    data = {
        "kmeans": ("obs", km),
        "mixture": ("obs", mix),
        "probability": (("obs", "component"), prob),
        "probability_max": ("obs", pmax),
        "entropy": ("obs", entropy),
        "uncertain": ("obs", sure < uncertain_below),
        "disagree": ("obs", km != mix),
    }
    if lower is not None:
        data["probability_max_lower"] = ("obs", lower)
    attrs = {
        "ari_kmeans_mixture": adjusted_rand_index(km, mix),
        "uncertain_below": float(uncertain_below),
    }
    if y_true is not None:
        yt = np.asarray(y_true).ravel()
        if yt.shape[0] != arr.shape[0]:
            raise ValueError(f"y_true must have {arr.shape[0]} labels; got {yt.shape[0]}.")
        attrs["ari_kmeans"] = adjusted_rand_index(km, yt)
        attrs["ari_mixture"] = adjusted_rand_index(mix, yt)
    return xr.Dataset(
        data, coords={"obs": obs, "component": np.arange(prob.shape[1])}, attrs=attrs
    )
