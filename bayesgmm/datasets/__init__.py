"""Bundled and synthetic datasets.

* :func:`load_old_faithful` -- the Old Faithful geyser data (272 eruptions, two
  features), public domain, shipped inside the package.
* :func:`make_mixture` -- draws from a Gaussian mixture with known weights, means,
  covariances and labels, for every covariance type, so that fits can be checked
  against the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from bayesgmm.covariance import COVARIANCE_TYPES, EM_COVARIANCE_TYPES, get_covariance_type

__all__ = ["load_old_faithful", "make_mixture", "SyntheticMixture", "COVARIANCE_TYPES"]


def load_old_faithful(as_frame: bool = True):
    """Load the Old Faithful geyser data.

    272 eruptions of the Old Faithful geyser in Yellowstone National Park
    (Azzalini and Bowman, 1990; R's ``datasets::faithful``), public domain.

    Parameters
    ----------
    as_frame : bool, default True
        Return a :class:`pandas.DataFrame` with columns ``eruptions`` (eruption
        time in minutes) and ``waiting`` (waiting time to the next eruption in
        minutes). With ``False``, a float64 array of shape ``(272, 2)``.

    Returns
    -------
    pandas.DataFrame or numpy.ndarray

    Examples
    --------
    >>> import bayesgmm as bg
    >>> X = bg.datasets.load_old_faithful()
    >>> X.shape
    (272, 2)
    >>> list(X.columns)
    ['eruptions', 'waiting']
    """
    if not isinstance(as_frame, bool):
        raise TypeError(f"as_frame must be True or False, got {as_frame!r}.")
    with resources.files(__name__).joinpath("old_faithful.csv").open("r") as fh:
        df = pd.read_csv(fh, dtype={"eruptions": "float64", "waiting": "float64"})
    return df if as_frame else df.to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class SyntheticMixture:
    """Data drawn from a known Gaussian mixture.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
        The component each sample was drawn from.
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        In scikit-learn's layout for ``covariance_type`` (the same as
        ``GaussianMixture.covariances_``): ``full`` (K, D, D), ``tied`` (D, D),
        ``diag`` (K, D), ``spherical`` (K,).
    covariance_type : str
    """

    X: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    covariance_type: str

    @property
    def full_covariances(self) -> np.ndarray:
        """Covariances expanded to full matrices, shape (K, D, D)."""
        K, D = self.means.shape
        return get_covariance_type(self.covariance_type).to_full(self.covariances, K, D)


def _check_positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}.")
    return int(value)


def make_mixture(
    n_samples: int = 500,
    n_components: int = 3,
    n_features: int = 2,
    covariance_type: str = "full",
    *,
    weights=None,
    separation: float = 6.0,
    scale: float = 1.0,
    random_state=None,
) -> SyntheticMixture:
    """Draw data from a random Gaussian mixture with known parameters.

    Component means are placed so that every pair is at least ``separation``
    times the largest component standard deviation apart (rejection sampling),
    so the default gives well-separated clusters; lower it for overlap.

    Parameters
    ----------
    n_samples : int, default 500
    n_components : int, default 3
    n_features : int, default 2
    covariance_type : str, default "full"
        ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"`` or one of mclust's
        fourteen models (``"EII"``, ..., ``"VVV"``): covariances of that model.
    weights : array-like of shape (n_components,), optional
        Mixing weights (positive, summing to one). Default: equal weights.
    separation : float, default 6.0
        Minimum distance between means in units of the largest standard
        deviation. Use 0 for no constraint.
    scale : float, default 1.0
        Overall scale of the standard deviations.
    random_state : int, numpy.random.Generator or None
        Seed; the same seed gives the same data.

    Returns
    -------
    SyntheticMixture

    Examples
    --------
    >>> from bayesgmm.datasets import make_mixture
    >>> d = make_mixture(300, n_components=3, covariance_type="diag", random_state=0)
    >>> d.X.shape, d.means.shape, d.covariances.shape
    ((300, 2), (3, 2), (3, 2))
    """
    n_samples = _check_positive_int(n_samples, "n_samples")
    K = _check_positive_int(n_components, "n_components")
    D = _check_positive_int(n_features, "n_features")
    if covariance_type not in EM_COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES} or mclust's models "
            f"{EM_COVARIANCE_TYPES[len(COVARIANCE_TYPES):]}, got {covariance_type!r}."
        )
    if not np.isfinite(separation) or separation < 0:
        raise ValueError(f"separation must be a finite number >= 0, got {separation!r}.")
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}.")
    rng = np.random.default_rng(random_state)

    if weights is None:
        w = np.full(K, 1.0 / K)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (K,) or np.any(~np.isfinite(w)) or np.any(w <= 0) or not np.isclose(w.sum(), 1.0):
            raise ValueError(
                f"weights must be {K} positive numbers summing to 1, got {weights!r}."
            )
        w = w / w.sum()

    # Covariances in scikit-learn's layout for the type.
    ct = get_covariance_type(covariance_type)
    cov = ct.random_covariances(rng, K, D, scale)
    full = ct.to_full(cov, K, D)
    max_sd = float(np.sqrt(max(np.linalg.eigvalsh(c).max() for c in full)))

    min_dist = separation * max_sd
    box = max(min_dist * K ** (1.0 / D), 1.0) * 1.5
    means = np.empty((K, D))
    for k in range(K):
        for _ in range(10_000):
            cand = rng.uniform(-box, box, size=D)
            if k == 0 or np.min(np.linalg.norm(means[:k] - cand, axis=1)) >= min_dist:
                break
        else:  # pragma: no cover - practically unreachable with the box above
            raise RuntimeError("could not place well-separated means; lower `separation`.")
        means[k] = cand

    labels = rng.choice(K, size=n_samples, p=w)
    X = np.empty((n_samples, D))
    chol = np.linalg.cholesky(full)
    for k in range(K):
        idx = labels == k
        X[idx] = means[k] + rng.normal(size=(idx.sum(), D)) @ chol[k].T
    return SyntheticMixture(X, labels, w, means, cov, covariance_type)
