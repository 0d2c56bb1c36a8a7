"""Classification with a Gaussian mixture per class (mclust's ``MclustDA``, EM or Bayesian).

:class:`GaussianMixtureClassifier` fits one mixture to the rows of each class, with
the number of components (and optionally the covariance type) of each class chosen
by BIC, as ``MclustDA`` does.  A new point is assigned by Bayes' rule,

    P(c | x) = pi_c p(x | c) / sum_j pi_j p(x | j),

with ``p(x | c)`` the class mixture's density: the EM plug-in density
(``method="em"``) or the posterior predictive density of a :class:`~bayesgmm.BayesianGMM`
fitted to the class (``method="bayes"``).  The Bayesian variant also gives credible
intervals of the class probabilities from the per-draw probabilities (class
proportions drawn from their Dirichlet posterior, class mixtures from their
posteriors), and both give a verification score: the log-likelihood ratio of a class
mixture against a background mixture fitted to all classes (with its interval for
the Bayesian variant), as in speaker verification.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import xarray as xr

from bayesgmm._data import check_array, check_feature_names, check_n_features, check_random_state
from bayesgmm._estimator import EstimatorMixin
from bayesgmm.em._init import DEFAULT_N_INIT
from bayesgmm.exceptions import DataConversionWarning, DegenerateComponentWarning, not_fitted

__all__ = ["GaussianMixtureClassifier"]

_METHODS = ("em", "bayes")
_ROW_CHUNK = 2048


def _as_tuple(value, name, kind, check):
    items = (value,) if isinstance(value, kind) else value
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(
            f"{name} must be a {kind.__name__ if isinstance(kind, type) else 'value'} or a "
            f"sequence of them; got {value!r}."
        ) from None
    if not items:
        raise ValueError(f"{name} must not be empty; got {value!r}.")
    for item in items:
        check(item)
    return items


def _logsumexp(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis)


class GaussianMixtureClassifier(EstimatorMixin):
    """A Gaussian mixture per class, components chosen by BIC (``MclustDA``), EM or Bayesian.

    Parameters
    ----------
    n_components : int or sequence of int, default (1, 2, 3, 4, 5)
        Candidate numbers of components per class; each class takes the one with the
        lowest BIC (a class with ``n`` rows only tries counts ``<= n``; a fit with
        degenerate components, too many parameters for the class's rows, is skipped
        as mclust skips singular fits).
    covariance_type : str or sequence of str, default "full"
        Candidate covariance types (any of :data:`bayesgmm.covariance.COVARIANCE_TYPES`);
        with several, BIC chooses the type per class too.
    method : {"em", "bayes"}, default "em"
        ``"em"``: EM point estimates (plug-in densities).  ``"bayes"``: after choosing
        the component count by BIC, a :class:`~bayesgmm.BayesianGMM` per class (and for
        the background); probabilities are posterior predictive and come with
        credible intervals.
    class_prior : array-like of shape (n_classes,) or None, default None
        Class probabilities ``pi``.  ``None``: the class frequencies (``"em"``), or for
        ``"bayes"`` the Dirichlet(1 + counts) posterior of the proportions (its mean
        in :meth:`predict_proba`, its draws in the intervals).
    n_init, reg_covar, max_iter, tol
        Passed to every :class:`~bayesgmm.GaussianMixture` of the BIC search
        (``n_init`` defaults to the package's one default, ``"auto"``).
    background : bool, default True
        Also fit a background mixture to all rows (component count by BIC), needed for
        :meth:`log_likelihood_ratio`.
    priors : bayesgmm.Priors, dict or None, default None
        Priors of the Bayesian mixtures (``method="bayes"``).
    bayes_options : dict or None, default None
        Settings of each :class:`~bayesgmm.BayesianGMM` (``method="bayes"``): those that
        are constructor parameters are set with ``set_params``, the others (e.g.
        ``draws``, ``tune``, ``chains``, ``progressbar``) passed to its ``fit``.
    random_state : int, numpy Generator/RandomState or None
        Seeds every fit; the same int gives the same result.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    class_prior_ : ndarray of shape (n_classes,)
        The class probabilities used by :meth:`predict_proba`.
    class_counts_ : ndarray of shape (n_classes,)
    estimators_ : list
        The fitted mixture of each class (:class:`~bayesgmm.GaussianMixture`, or
        :class:`~bayesgmm.BayesianGMM` for ``"bayes"``).
    n_components_ : ndarray of shape (n_classes,)
        Chosen component count per class.
    covariance_types_ : list of str
        Chosen covariance type per class.
    bic_ : list of dict
        Per class, ``{(n_components, covariance_type): BIC}`` of every candidate (NaN
        for a degenerate fit, which is not chosen unless all are).
    n_iter_ : ndarray of shape (n_classes,)
        EM iterations of each class's chosen fit.
    background_ : GaussianMixture or BayesianGMM or None
        Mixture fitted to all rows (``background=True``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only for data with column names.

    See Also
    --------
    bayesgmm.GaussianMixture, bayesgmm.BayesianGMM

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.classification import GaussianMixtureClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (50, 2)), rng.normal(4, 1, (50, 2))]
    >>> y = np.repeat(["a", "b"], 50)
    >>> clf = GaussianMixtureClassifier(n_components=(1, 2), random_state=0).fit(X, y)
    >>> clf.predict([[0.0, 0.0], [4.0, 4.0]]).tolist()
    ['a', 'b']
    >>> clf.n_components_.tolist()
    [1, 1]
    """

    def __init__(
        self,
        n_components=(1, 2, 3, 4, 5),
        *,
        covariance_type="full",
        method="em",
        class_prior=None,
        n_init=DEFAULT_N_INIT,
        reg_covar=1e-6,
        max_iter=100,
        tol=1e-3,
        background=True,
        priors=None,
        bayes_options=None,
        random_state=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.method = method
        self.class_prior = class_prior
        self.n_init = n_init
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.tol = tol
        self.background = background
        self.priors = priors
        self.bayes_options = bayes_options
        self.random_state = random_state

    # ------------------------------------------------------------ sklearn protocol
    def __sklearn_is_fitted__(self):
        return hasattr(self, "estimators_")

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
        )

    def _check_params(self):
        from bayesgmm.covariance import COVARIANCE_TYPES

        def _k(k):
            if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
                raise ValueError(
                    f"n_components must be a positive int or a sequence of them, e.g. "
                    f"(1, 2, 3); got {self.n_components!r}."
                )

        def _ct(ct):
            if not isinstance(ct, str) or ct not in COVARIANCE_TYPES:
                raise ValueError(
                    f"covariance_type must be one of {list(COVARIANCE_TYPES)} or a sequence of "
                    f"them; got {self.covariance_type!r}."
                )

        ks = _as_tuple(self.n_components, "n_components", numbers.Integral, _k)
        cts = _as_tuple(self.covariance_type, "covariance_type", str, _ct)
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {list(_METHODS)}; got {self.method!r}.")
        if not isinstance(self.background, bool):
            raise TypeError(f"background must be True or False; got {self.background!r}.")
        if self.bayes_options is not None and not isinstance(self.bayes_options, dict):
            raise TypeError(
                "bayes_options must be a dict of BayesianGMM settings, e.g. "
                f"{{'draws': 500, 'chains': 2}}, or None; got {type(self.bayes_options).__name__}."
            )
        return sorted(set(int(k) for k in ks)), list(dict.fromkeys(cts))

    def _check_fitted(self, method):
        if not hasattr(self, "estimators_"):
            raise not_fitted(type(self).__name__, method)

    # ------------------------------------------------------------------ fitting
    def _check_y(self, y, n):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "pass the class label of every row, fit(X, y)."
            )
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. Please change "
                "the shape of y to (n_samples,), for example using ravel().",
                DataConversionWarning,
                stacklevel=3,
            )
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(
                f"y must be a 1-D array of class labels of shape ({n},); got shape {y.shape}."
            )
        if y.shape[0] != n:
            raise ValueError(
                f"X and y have inconsistent numbers of samples: X has {n} rows, y has "
                f"{y.shape[0]} labels."
            )
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)):
                raise ValueError("y contains NaN or infinity; every row needs a class label.")
            if np.any(y != np.round(y)):
                raise ValueError(
                    "Unknown label type: continuous. y must hold class labels (ints or "
                    "strings); for a continuous target use a regressor."
                )
        if y.dtype.kind == "O":
            try:
                y = y.astype(str) if all(isinstance(v, str) for v in y) else y
            except TypeError:  # pragma: no cover
                pass
        return y

    def _gm(self, k, ct, seed):
        from bayesgmm.em import GaussianMixture

        return GaussianMixture(
            n_components=k,
            covariance_type=ct,
            n_init=self.n_init,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=seed,
        )

    def _select(self, X, ks, cts, seed):
        """EM fits of every candidate on X; the lowest BIC, its warnings re-emitted.

        A candidate whose fit is degenerate (a :class:`DegenerateComponentWarning`:
        components on too few rows, held up by ``reg_covar``) has no valid BIC, as
        mclust reports ``NA`` for singular fits; it is chosen only when every candidate
        is degenerate.
        """
        fits, table = [], {}
        for ct in cts:
            for k in ks:
                if k > X.shape[0]:
                    continue
                gm = self._gm(k, ct, seed)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    gm.fit(X)
                bic = float(gm.bic(X))
                degenerate = any(issubclass(w.category, DegenerateComponentWarning) for w in caught)
                table[(k, ct)] = np.nan if degenerate else bic
                fits.append((degenerate, bic, gm, caught))
        valid = [f for f in fits if not f[0]] or fits
        _, _, gm, caught = min(valid, key=lambda f: f[1])
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return gm, table

    def _bayes(self, X, k, ct, seed):
        from bayesgmm.bayesian import BayesianGMM

        model = BayesianGMM(n_components=k, covariance_type=ct, priors=self.priors, random_state=seed)
        options = dict(self.bayes_options or {})
        ctor = {key: options.pop(key) for key in list(options) if key in model.get_params()}
        if ctor:
            model.set_params(**ctor)
        return model.fit(X, **options)

    def fit(self, X, y):
        """Fit a mixture per class (and a background mixture), counts chosen by BIC.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (any hashable values numpy can sort).

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.classification import GaussianMixtureClassifier
        >>> X = np.r_[np.zeros((5, 1)), np.ones((5, 1))] + np.arange(10)[:, None] * 0.1
        >>> GaussianMixtureClassifier(1).fit(X, [0] * 5 + [1] * 5).classes_.tolist()
        [0, 1]
        """
        ks, cts = self._check_params()
        arr, names = check_array(X, name="X", allow_dask=False, min_samples=1)
        n, d = arr.shape
        y = self._check_y(y, n)
        classes, y_idx, counts = np.unique(y, return_inverse=True, return_counts=True)
        C = len(classes)
        if n < 2:
            raise ValueError(
                f"Found array with 1 sample(s) (shape={arr.shape}) while a minimum of 2 is "
                "required: X needs at least 2 rows to fit a mixture per class."
            )
        if self.class_prior is None:
            prior = counts / n if self.method == "em" else (counts + 1.0) / (n + C)
        else:
            prior = np.asarray(self.class_prior, dtype=np.float64).ravel()
            if prior.shape != (C,) or np.any(prior < 0) or not np.isclose(prior.sum(), 1.0):
                raise ValueError(
                    f"class_prior must be {C} non-negative probabilities summing to 1, one "
                    f"per class of y ({classes.tolist()}); got {self.class_prior!r}."
                )
        rng = check_random_state(self.random_state)
        seeds = rng.randint(0, 2**31 - 1, size=C + 1)
        estimators, chosen_k, chosen_ct, bics, n_iter = [], [], [], [], []
        for c in range(C):
            Xc = arr[y_idx == c]
            gm, table = self._select(Xc, ks, cts, int(seeds[c]))
            if self.method == "bayes":
                est = self._bayes(Xc, gm.n_components, gm.covariance_type, int(seeds[c]))
            else:
                est = gm
            estimators.append(est)
            chosen_k.append(gm.n_components)
            chosen_ct.append(gm.covariance_type)
            n_iter.append(gm.n_iter_)
            bics.append(table)
        background = None
        if self.background:
            gm, _ = self._select(arr, ks, cts, int(seeds[C]))
            background = gm
            if self.method == "bayes":
                background = self._bayes(arr, gm.n_components, gm.covariance_type, int(seeds[C]))

        self.classes_ = classes
        self.class_counts_ = counts
        self.class_prior_ = prior
        self.estimators_ = estimators
        self.n_components_ = np.asarray(chosen_k)
        self.covariance_types_ = chosen_ct
        self.bic_ = bics
        self.n_iter_ = np.asarray(n_iter)
        self.background_ = background
        self.n_features_in_ = d
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    # ------------------------------------------------------------------ helpers
    def _validate(self, X, method):
        self._check_fitted(method)
        arr, names = check_array(X, name="X", allow_dask=False)
        check_feature_names(getattr(self, "feature_names_in_", None), names, type(self).__name__)
        check_n_features(self.n_features_in_, arr.shape, "X", type(self).__name__)
        return arr

    @staticmethod
    def _density(est, X):
        """Plug-in (EM) or posterior predictive (Bayes) log density, (n,)."""
        return est.score_samples(X)

    @staticmethod
    def _draws(est, X):
        """log p(x | theta_s) for a Bayesian mixture -> (n, S)."""
        from bayesgmm import _datatree
        from bayesgmm.posterior.membership import pointwise_log_likelihood

        post = _datatree.get_posterior(est.idata_)
        ll = pointwise_log_likelihood(post, X)
        return ll.stack(sample=("chain", "draw")).transpose("obs", "sample").to_numpy()

    def _require_bayes(self, what):
        if self.method != "bayes":
            raise ValueError(
                f"{what} needs posterior draws: fit with method='bayes' (this classifier "
                "was fitted with method='em', which has point estimates only)."
            )

    # ------------------------------------------------------------------ results
    def class_log_density(self, X):
        """``log p(x | c)`` per row and class (plug-in or posterior predictive).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)

        Examples
        --------
        >>> clf.class_log_density([[0.0, 0.0]]).shape  # doctest: +SKIP
        (1, 2)
        """
        arr = self._validate(X, "class_log_density")
        return np.column_stack([self._density(est, arr) for est in self.estimators_])

    def predict_log_proba(self, X):
        """Log class probabilities ``log P(c | x)``.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            joint = self.class_log_density(X) + np.log(self.class_prior_)[None, :]
        return joint - _logsumexp(joint, axis=1)[:, None]

    def predict_proba(self, X):
        """Class probabilities ``P(c | x) = pi_c p(x|c) / sum_j pi_j p(x|j)``.

        For ``method="bayes"``, ``p(x|c)`` is the class's posterior predictive density
        and ``pi`` the posterior mean of the class proportions.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows sum to one; columns in the order of ``classes_``.
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """The most probable class of each row.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        best = np.argmax(self.predict_log_proba(X), axis=1)
        return self.classes_[best]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on ``(X, y)`` (scikit-learn's classifier score).

        Returns
        -------
        float
        """
        y = np.asarray(y).ravel()
        hit = (self.predict(X) == y).astype(np.float64)
        if sample_weight is None:
            return float(hit.mean())
        w = np.asarray(sample_weight, dtype=np.float64)
        return float(np.sum(w * hit) / np.sum(w))

    def _prior_draws(self, S, seed):
        if self.class_prior is not None:
            return np.broadcast_to(np.log(self.class_prior_), (S, len(self.classes_)))
        rng = check_random_state(seed)
        with np.errstate(divide="ignore"):
            return np.log(rng.dirichlet(self.class_counts_ + 1.0, size=S))

    def predict_proba_interval(self, X, hdi_prob=0.94, random_state=0):
        """Class probabilities with equal-tailed credible intervals (``method="bayes"``).

        Per draw s, ``P_s(c | x) = pi_sc p(x | theta_cs) / sum_j pi_sj p(x | theta_js)``
        with the class mixtures' draws paired by index (independent posteriors) and
        ``pi_s`` drawn from the Dirichlet(1 + counts) posterior (fixed when
        ``class_prior`` is given).  The interval is the equal-tailed ``hdi_prob``
        interval of ``P_s(c | x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        hdi_prob : float, default 0.94
        random_state : int, default 0
            Seeds the class-proportion draws.

        Returns
        -------
        xarray.Dataset
            dims (obs, class): ``probability`` (:meth:`predict_proba`), ``mean`` (mean of
            the per-draw probabilities), ``lower``, ``upper``.

        Examples
        --------
        >>> res = clf.predict_proba_interval(X_new)  # doctest: +SKIP
        >>> res["upper"] - res["lower"]  # width of each interval  # doctest: +SKIP
        """
        from bayesgmm.posterior._common import check_hdi_prob

        hdi_prob = check_hdi_prob(hdi_prob)
        self._require_bayes("predict_proba_interval")
        arr = self._validate(X, "predict_proba_interval")
        lo_q, hi_q = (1 - hdi_prob) / 2, 1 - (1 - hdi_prob) / 2
        n, C = arr.shape[0], len(self.classes_)
        mean, lower, upper = (np.empty((n, C)) for _ in range(3))
        prior = None
        for start in range(0, n, _ROW_CHUNK):  # per-draw arrays are rows x classes x draws
            sl = slice(start, min(n, start + _ROW_CHUNK))
            per_class = [self._draws(est, arr[sl]) for est in self.estimators_]
            S = min(p.shape[1] for p in per_class)
            if prior is None:
                prior = self._prior_draws(S, random_state).T[None, :, :]
            L = np.stack([p[:, :S] for p in per_class], axis=1)  # (rows, C, S)
            L += prior
            L -= _logsumexp(L, axis=1)[:, None, :]
            P = np.exp(L)
            mean[sl] = P.mean(axis=2)
            q = np.quantile(P, [lo_q, hi_q], axis=2)
            lower[sl], upper[sl] = q[0], q[1]
        dims = ("obs", "class")
        return xr.Dataset(
            {
                "probability": (dims, self.predict_proba(arr)),
                "mean": (dims, mean),
                "lower": (dims, lower),
                "upper": (dims, upper),
            },
            coords={"obs": np.arange(arr.shape[0]), "class": self.classes_},
            attrs={"hdi_prob": hdi_prob, "interval": "equal-tailed", "n_draws": S},
        )

    def log_likelihood_ratio(self, X, label, hdi_prob=0.94):
        """Verification score ``log p(x | label) - log p(x | background)`` per row.

        Positive values favour the class mixture over the background mixture fitted to
        all classes (the speaker-verification score).  For ``method="bayes"`` the ratio
        is taken per draw (class and background draws paired by index) and summarised
        by its mean and equal-tailed interval; ``llr`` is the ratio of posterior
        predictive densities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        label : a value of ``classes_``
        hdi_prob : float, default 0.94

        Returns
        -------
        xarray.Dataset
            dims (obs,): ``llr``; for ``"bayes"`` also ``mean``, ``lower``, ``upper``.

        Examples
        --------
        >>> clf.log_likelihood_ratio(X_new, "a")["llr"]  # doctest: +SKIP
        """
        from bayesgmm.posterior._common import check_hdi_prob

        hdi_prob = check_hdi_prob(hdi_prob)
        arr = self._validate(X, "log_likelihood_ratio")
        if self.background_ is None:
            raise ValueError(
                "log_likelihood_ratio needs the background mixture: fit with background=True."
            )
        hits = np.flatnonzero(self.classes_ == label)
        if hits.size != 1:
            raise ValueError(
                f"label must be one of classes_ {self.classes_.tolist()}; got {label!r}."
            )
        est = self.estimators_[int(hits[0])]
        llr = self._density(est, arr) - self._density(self.background_, arr)
        out = {"llr": ("obs", llr)}
        attrs = {"label": str(label)}
        if self.method == "bayes":
            n = arr.shape[0]
            mean, lower, upper = np.empty(n), np.empty(n), np.empty(n)
            for start in range(0, n, _ROW_CHUNK):
                sl = slice(start, min(n, start + _ROW_CHUNK))
                a, b = self._draws(est, arr[sl]), self._draws(self.background_, arr[sl])
                S = min(a.shape[1], b.shape[1])
                r = a[:, :S] - b[:, :S]
                q = np.quantile(r, [(1 - hdi_prob) / 2, 1 - (1 - hdi_prob) / 2], axis=1)
                mean[sl], lower[sl], upper[sl] = r.mean(axis=1), q[0], q[1]
            out.update(mean=("obs", mean), lower=("obs", lower), upper=("obs", upper))
            attrs.update(hdi_prob=hdi_prob, interval="equal-tailed", n_draws=S)
        return xr.Dataset(out, coords={"obs": np.arange(arr.shape[0])}, attrs=attrs)
