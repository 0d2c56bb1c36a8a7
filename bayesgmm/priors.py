"""Typed prior configuration for the Bayesian Gaussian mixture.

:class:`Priors` holds the user's choices (relative to the data's scale);
:meth:`Priors.resolve` turns them into concrete arrays (:class:`ResolvedPriors`)
for one data set and component count; :func:`coerce_priors` is the one place a
user's ``priors`` argument is checked and converted.  Both
:func:`bayesgmm.build_model` and the fast log-density in
:mod:`bayesgmm._logdensity` read only the resolved arrays, so the PyMC model and
the fast path always describe the same posterior.

The model, for ``K`` components and ``D`` features, with ``m`` and ``s`` the
per-feature mean and standard deviation of the data::

    weights            ~ Dirichlet(weights_alpha)                      (K,)
    means[k, d]        ~ Normal(mean_loc[d], mean_scale[d] * s[d])     (K, D)
    covariances        ~ the covariance type's prior, with half-normal
                         scales sd_sigma = sd_scale * s and LKJ(lkj_eta)
                         correlations where the type has correlations

(``mean_loc`` defaults to ``m``).  Each covariance type defines and documents
its prior, in PyMC and in numpy form, at its ``pymc_prior`` method
(:mod:`bayesgmm.covariance`: ``Full``, ``Tied``, ``Diag``, ``Spherical``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Priors", "ResolvedPriors", "coerce_priors"]


def _positive_param(name, value, *, allow_vector=True):
    """Validate a positive scalar or a 1-d sequence of positive numbers.

    Returns a float or a tuple of floats (hashable, so the dataclass stays frozen).
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a positive number, got a bool ({value!r}).")
    if np.isscalar(value):
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a positive number, got {type(value).__name__} {value!r}."
            ) from None
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}; pass e.g. {name}=1.0.")
        return v
    if not allow_vector:
        raise TypeError(f"{name} must be a single positive number, got {type(value).__name__}.")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a positive number or a 1-d sequence of positive numbers, "
            f"got {type(value).__name__}."
        ) from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"{name} must be a positive number or a non-empty 1-d sequence, got an array of shape {arr.shape}."
        )
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        raise ValueError(
            f"{name} must contain only finite numbers > 0, got {arr[bad].tolist()} at "
            f"positions {np.flatnonzero(bad).tolist()}."
        )
    return tuple(arr.tolist())


def _finite_param(name, value):
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or a 1-d sequence of numbers, got a bool.")
    if np.isscalar(value):
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}.") from None
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {value!r}.")
        return v
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or a 1-d sequence of numbers, got {type(value).__name__}.") from None
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(f"{name} must be a finite number or a non-empty 1-d sequence of finite numbers, got {value!r}.")
    return tuple(arr.tolist())


def _broadcast(name, value, size, what):
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return np.full(size, float(arr))
    if arr.shape != (size,):
        raise ValueError(
            f"{name} has {arr.size} entries but the model has {size} {what}; "
            f"pass a single number or exactly {size} values."
        )
    return arr.copy()


@dataclass(frozen=True)
class Priors:
    """Prior configuration of the Bayesian Gaussian mixture.

    All scales are *relative to the data*: the prior sd of a mean in feature
    ``d`` is ``mean_scale * s_d`` and the scale of the half-normal prior on a
    standard deviation is ``sd_scale * s_d``, where ``s_d`` is the sample
    standard deviation of feature ``d``.  The priors are therefore
    scale-equivariant: rescaling or shifting a feature (e.g. metres to
    millimetres) rescales or shifts the prior with it and leaves the posterior
    memberships unchanged.

    Parameters
    ----------
    weights_alpha : float or sequence of float, default=1.0
        Dirichlet concentration of the mixing weights, one value for all
        components or one per component.  ``1.0`` is uniform on the simplex;
        values well below 1 (e.g. ``1e-3``) give a sparse "overfitted"
        mixture that empties superfluous components.
    mean_loc : float or sequence of float, optional
        Prior centre of the component means, per feature; defaults to the
        data mean.
    mean_scale : float or sequence of float, default=2.0
        Prior sd of each component mean in units of the feature's data sd.
        With 2.0, the central 95% of the prior covers the data mean +/- 4
        data sds: every cluster centre inside the data cloud is plausible, far
        outside it is not, so the prior is weakly informative without pulling
        means towards the centre.
    sd_scale : float or sequence of float, default=1.0
        Scale of the half-normal prior on the within-component standard
        deviations, in units of the feature's data sd.  By the law of total
        variance a component's sd cannot exceed the data's sd by much, and a
        half-normal with this scale puts 68% of its mass below the data sd,
        95% below twice it, and keeps density at small values, so tight
        clusters are not penalised.  For ``spherical`` (one sd per component)
        the scale is the root-mean-square over features of ``sd_scale * s_d``.
    lkj_eta : float, default=2.0
        Shape of the LKJ prior on the correlation matrices (``full`` and
        ``tied``).  1 is uniform over correlation matrices; 2 gently favours
        weaker correlations and keeps the density zero at perfect (+/-1)
        correlation, which regularises near-singular clusters.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.priors import Priors
    >>> X = np.array([[0.0, 10.0], [1.0, 14.0], [2.0, 12.0]])
    >>> p = Priors(weights_alpha=2.0, lkj_eta=4.0)
    >>> r = p.resolve(X, n_components=2)
    >>> r.weights_alpha
    array([2., 2.])
    >>> r.mean_loc
    array([ 1., 12.])
    >>> r.sd_sigma
    array([1., 2.])
    """

    weights_alpha: float | Sequence[float] = 1.0
    mean_loc: float | Sequence[float] | None = None
    mean_scale: float | Sequence[float] = 2.0
    sd_scale: float | Sequence[float] = 1.0
    lkj_eta: float = 2.0

    def __post_init__(self):
        object.__setattr__(self, "weights_alpha", _positive_param("weights_alpha", self.weights_alpha))
        object.__setattr__(self, "mean_loc", _finite_param("mean_loc", self.mean_loc))
        object.__setattr__(self, "mean_scale", _positive_param("mean_scale", self.mean_scale))
        object.__setattr__(self, "sd_scale", _positive_param("sd_scale", self.sd_scale))
        object.__setattr__(self, "lkj_eta", _positive_param("lkj_eta", self.lkj_eta, allow_vector=False))

    def to_dict(self) -> dict:
        """The configuration as a JSON-serialisable dict (for provenance).

        Examples
        --------
        >>> from bayesgmm.priors import Priors
        >>> Priors(lkj_eta=3.0).to_dict()["lkj_eta"]
        3.0
        """

        def conv(v):
            return list(v) if isinstance(v, tuple) else v

        return {
            "weights_alpha": conv(self.weights_alpha),
            "mean_loc": conv(self.mean_loc),
            "mean_scale": conv(self.mean_scale),
            "sd_scale": conv(self.sd_scale),
            "lkj_eta": self.lkj_eta,
        }

    def to_json(self) -> str:
        """The configuration as a JSON string (see :meth:`to_dict`).

        Examples
        --------
        >>> from bayesgmm.priors import Priors
        >>> Priors.from_json(Priors(sd_scale=0.5).to_json()) == Priors(sd_scale=0.5)
        True
        """
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> Priors:
        """Rebuild a :class:`Priors` from :meth:`to_dict` output.

        Examples
        --------
        >>> from bayesgmm.priors import Priors
        >>> Priors.from_dict({"weights_alpha": [1.0, 2.0]}).weights_alpha
        (1.0, 2.0)
        """
        if not isinstance(d, dict):
            raise TypeError(f"d must be a dict as returned by Priors.to_dict(), got {type(d).__name__}.")
        unknown = set(d) - {"weights_alpha", "mean_loc", "mean_scale", "sd_scale", "lkj_eta"}
        if unknown:
            raise ValueError(
                f"d has unknown prior keys {sorted(unknown)}; valid keys are "
                "weights_alpha, mean_loc, mean_scale, sd_scale, lkj_eta."
            )
        return cls(**d)

    @classmethod
    def from_json(cls, s: str) -> Priors:
        """Rebuild a :class:`Priors` from :meth:`to_json` output.

        Examples
        --------
        >>> from bayesgmm.priors import Priors
        >>> Priors.from_json('{"lkj_eta": 1.5}').lkj_eta
        1.5
        """
        return cls.from_dict(json.loads(s))

    def resolve(self, X, n_components: int | None = None, *, missing: str = "error") -> ResolvedPriors:
        """Concrete prior arrays for data ``X`` and ``n_components`` components.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data the scales are taken from (numpy, pandas or xarray).
        n_components : int, optional
            Number of components. May be omitted when ``weights_alpha`` has
            one value per component.
        missing : {"error", "marginalize"}, default "error"
            NaN in ``X``: an error, or missing values (the scales are then
            those of each column's observed values).

        Returns
        -------
        ResolvedPriors

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.priors import Priors
        >>> r = Priors().resolve(np.array([[0.0], [1.0], [2.0]]), n_components=3)
        >>> r.weights_alpha, r.mean_sd
        (array([1., 1., 1.]), array([2.]))
        """
        X = np.ascontiguousarray(X, dtype=float)  # one memory layout: same sums, same scales
        if X.ndim != 2 or X.shape[0] < 2:
            raise ValueError(
                f"X must be a 2-d array with at least 2 rows to set the prior scales, got shape {X.shape}."
            )
        nan = np.isnan(X)
        if np.isinf(X).any() or (missing != "marginalize" and nan.any()) or nan.all(axis=0).any():
            raise ValueError(
                f"X contains {int((~np.isfinite(X)).sum())} NaN or infinite values (or a column "
                "with no observed value); drop or impute them."
            )
        if n_components is None:
            if isinstance(self.weights_alpha, tuple):
                n_components = len(self.weights_alpha)
            else:
                raise ValueError(
                    "n_components is required when weights_alpha is a single number; "
                    "pass resolve(X, n_components=K)."
                )
        if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
            raise ValueError(f"n_components must be an integer >= 1, got {n_components!r}.")
        n_components = int(n_components)
        n_features = X.shape[1]
        if nan.any():  # missing values: the scales of the observed values
            data_mean = np.nanmean(X, axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                data_sd = np.nanstd(X, axis=0, ddof=1)
        else:
            data_mean = X.mean(axis=0)
            data_sd = X.std(axis=0, ddof=1)
        const = np.flatnonzero(~(data_sd > 0))
        if const.size:
            raise ValueError(
                f"X has constant feature(s) at column positions {const.tolist()} (zero standard "
                "deviation), so no prior scale can be set from the data; drop those columns."
            )
        alpha = _broadcast("weights_alpha", self.weights_alpha, n_components, "components")
        loc = data_mean.copy() if self.mean_loc is None else _broadcast("mean_loc", self.mean_loc, n_features, "features")
        mean_sd = _broadcast("mean_scale", self.mean_scale, n_features, "features") * data_sd
        sd_rel = _broadcast("sd_scale", self.sd_scale, n_features, "features")
        sd_sigma = sd_rel * data_sd
        sd_sigma_spherical = float(np.sqrt(np.mean(sd_sigma**2)))
        return ResolvedPriors(
            weights_alpha=alpha,
            mean_loc=loc,
            mean_sd=mean_sd,
            sd_sigma=sd_sigma,
            sd_sigma_spherical=sd_sigma_spherical,
            lkj_eta=float(self.lkj_eta),
            data_mean=data_mean,
            data_sd=data_sd,
        )


@dataclass(frozen=True, eq=False)
class ResolvedPriors:
    """Prior hyper-parameters as concrete arrays for one data set.

    Produced by :meth:`Priors.resolve`; read by :func:`bayesgmm.build_model` and
    :class:`bayesgmm._logdensity.MixtureDensity`.

    Attributes
    ----------
    weights_alpha : ndarray of shape (n_components,)
        Dirichlet concentration.
    mean_loc, mean_sd : ndarray of shape (n_features,)
        Normal prior on each component mean.
    sd_sigma : ndarray of shape (n_features,)
        Half-normal scale of the standard deviations (``full``, ``tied``, ``diag``).
    sd_sigma_spherical : float
        Half-normal scale of the single sd per component (``spherical``).
    lkj_eta : float
        LKJ shape (``full``, ``tied``).
    data_mean, data_sd : ndarray of shape (n_features,)
        The data summaries the scales were taken from.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.priors import Priors
    >>> r = Priors().resolve(np.array([[0.0, 0.0], [3.0, 4.0]]), n_components=2)
    >>> r.n_components, r.n_features
    (2, 2)
    """

    weights_alpha: np.ndarray
    mean_loc: np.ndarray
    mean_sd: np.ndarray
    sd_sigma: np.ndarray
    sd_sigma_spherical: float
    lkj_eta: float
    data_mean: np.ndarray = field(repr=False)
    data_sd: np.ndarray = field(repr=False)

    @property
    def n_components(self) -> int:
        return int(self.weights_alpha.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.mean_loc.shape[0])

    def to_dict(self) -> dict:
        """JSON-serialisable dict of the resolved arrays (for provenance)."""
        return {
            "weights_alpha": self.weights_alpha.tolist(),
            "mean_loc": self.mean_loc.tolist(),
            "mean_sd": self.mean_sd.tolist(),
            "sd_sigma": self.sd_sigma.tolist(),
            "sd_sigma_spherical": self.sd_sigma_spherical,
            "lkj_eta": self.lkj_eta,
        }


def coerce_priors(priors=None, X=None, n_components=None, *, missing="error"):
    """Check and convert a ``priors`` argument: the one place this is done.

    Parameters
    ----------
    priors : Priors, ResolvedPriors, dict or None
        ``None`` is the default :class:`Priors`; a dict holds :class:`Priors`
        fields (as :meth:`Priors.to_dict` writes them).
    X : array-like of shape (n_samples, n_features), optional
        The (validated) data. Given, the result is resolved against it.
    n_components : int, optional
        Number of components (needed to resolve unless ``weights_alpha`` has
        one value per component).
    missing : {"error", "marginalize"}, default "error"
        NaN in ``X`` (see :meth:`Priors.resolve`).

    Returns
    -------
    Priors or ResolvedPriors
        Without ``X``: the :class:`Priors` (or the :class:`ResolvedPriors`
        passed). With ``X``: a :class:`ResolvedPriors` for ``X`` and
        ``n_components``.

    Raises
    ------
    TypeError
        For any other type.
    ValueError
        For a dict with unknown keys, or a :class:`ResolvedPriors` resolved for
        another number of components or features than ``n_components`` and ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.priors import Priors, coerce_priors
    >>> coerce_priors({"lkj_eta": 3.0})
    Priors(weights_alpha=1.0, mean_loc=None, mean_scale=2.0, sd_scale=1.0, lkj_eta=3.0)
    >>> X = np.array([[0.0, 1.0], [2.0, 5.0], [1.0, 0.0]])
    >>> rp = coerce_priors(None, X, 2)
    >>> coerce_priors(rp, X, 2) is rp
    True
    >>> coerce_priors(rp, X, 3)
    Traceback (most recent call last):
    ...
    ValueError: priors were resolved for 2 components and 2 features, but the model has 3 components and 2 features; resolve them with the same X and n_components: Priors(...).resolve(X, n_components).
    """
    if priors is None:
        priors = Priors()
    elif isinstance(priors, dict):
        priors = Priors.from_dict(priors)
    elif not isinstance(priors, (Priors, ResolvedPriors)):
        raise TypeError(
            "priors must be a bayesgmm.Priors, a bayesgmm.priors.ResolvedPriors, a dict of Priors "
            f"fields, or None; got {type(priors).__name__}. Example: priors=bg.Priors(lkj_eta=4.0)."
        )
    if isinstance(priors, ResolvedPriors):
        k = priors.n_components if n_components is None else n_components
        d = priors.n_features if X is None else np.shape(X)[1]
        if (k, d) != (priors.n_components, priors.n_features):
            raise ValueError(
                f"priors were resolved for {priors.n_components} components and {priors.n_features} "
                f"features, but the model has {k} components and {d} features; resolve them with the "
                "same X and n_components: Priors(...).resolve(X, n_components)."
            )
        return priors
    return priors if X is None else priors.resolve(X, n_components, missing=missing)
