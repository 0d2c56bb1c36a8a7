"""The Bayesian Gaussian mixture: EM first, then the posterior by NUTS or VI.

:class:`BayesianGMM` composes the layers of the package: input validation, the EM
estimator (:class:`bayesgmm.GaussianMixture`, restarts), the PyMC model
(:func:`bayesgmm.build_model`) sampled by :func:`bayesgmm.inference.run_inference`
from the EM solution, relabelling of the draws against EM
(:func:`bayesgmm.posterior.relabel_draws`), the result tree
(:mod:`bayesgmm._datatree`) and the sampling diagnostics
(:mod:`bayesgmm.diagnostics`).  It holds no numerics of its own.
"""

from __future__ import annotations

import numbers
import os
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from bayesgmm import _datatree
from bayesgmm._estimator import EstimatorMixin
from bayesgmm._data import (
    MISSING_HINT,
    check_array,
    check_feature_names,
    check_n_features,
    feature_labels,
    obs_coords,
)
from bayesgmm.exceptions import NotFittedError, VIConvergenceWarning, not_fitted
from bayesgmm.em._init import DEFAULT_N_INIT, check_n_init
from bayesgmm.em._noise import noise_with_missing_error
from bayesgmm.inference import METHODS as _INFERENCE_METHODS

__all__ = ["BayesianGMM", "NotFittedError", "METHODS", "FIT_SETTINGS"]

#: Inference methods accepted by :meth:`BayesianGMM.fit` (those of :func:`bayesgmm.inference.run_inference`).
METHODS = _INFERENCE_METHODS

#: Constructor parameters of :class:`BayesianGMM` that ``fit(X, **overrides)``
#: may override for one call (the sampler and starting-fit settings).
FIT_SETTINGS = (
    "method", "draws", "tune", "chains", "nuts_sampler", "n_init", "reg_covar",
    "log_likelihood", "progressbar",
)


def _check_int(value, name, minimum, what=""):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer >= {minimum}{what}, got "
            f"{type(value).__name__} {value!r}."
        )
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{what}, got {value}.")
    return int(value)


class BayesianGMM(EstimatorMixin):
    """Bayesian Gaussian mixture model: EM point estimate, then the full posterior.

    The model: weights ~ Dirichlet(alpha); means ~ Normal centred on the data with
    a scale set from the data's spread; covariances with an LKJ prior on the
    correlations and half-normal priors on the standard deviations (``full``),
    or the matching priors of ``tied``, ``diag`` and ``spherical`` (see
    :class:`bayesgmm.Priors` for the defaults and how to change them).
    :meth:`fit` runs EM with restarts (kept as ``em_``), starts every chain at
    the EM estimate, samples with NUTS (nutpie by default) or fits a variational
    approximation, relabels the draws against EM and checks the diagnostics.

    Parameters
    ----------
    n_components : int, default 1
        Number of mixture components ``K``.
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
        scikit-learn's meaning (one covariance per component, one shared
        covariance, diagonal, a single variance per component).
    priors : bayesgmm.Priors, dict or None, default None
        Prior configuration; ``None`` uses :class:`bayesgmm.Priors` defaults.
    method : {"nuts", "advi", "fullrank_advi", "minibatch_advi", "tempering", "gibbs"}, default "nuts"
        NUTS, or a variational approximation from which ``draws`` x
        ``chains`` draws are taken, or, for posteriors with several modes
        (overlapping clusters, more components than the data support),
        ``"gibbs"``: Gibbs sampling with data augmentation (the allocations
        are sampled, so an emptied component can refill; sampler keywords
        ``thin``, ``n_cov_steps``, ``cores``, ``resolution`` for rounded
        data, ``n_temperatures``, ``split_merge`` moves per sweep), or ``"tempering"``: replica
        exchange (parallel tempering with HMC moves). See
        :func:`bayesgmm.inference.run_inference` and the user guide's page on
        multimodal posteriors.
    draws : int, default 1000
        Draws per chain kept (Gibbs: every ``thin``-th sweep is kept).
    tune : int, default 1000
        Tuning (warm-up) steps per chain for NUTS (Gibbs: sweeps). For VI the number of
        optimisation steps is ``n`` if given in ``sampler_kwargs``, else
        ``max(10 * tune, 5000)`` (see :func:`bayesgmm.inference.run_inference`).
    chains : int, default 4
    nuts_sampler : {"nutpie", "pymc", "numpyro", "blackjax"}, default "nutpie"
    n_init : int or "auto", default "auto"
        EM starts; the best is kept as ``em_`` and starts the chains.
        ``"auto"`` runs as many as a fixed amount of work allows (20 on data
        of up to about ten thousand rows, 1 on large data; ``em_.n_init_``
        says how many ran), the same default as
        :class:`bayesgmm.GaussianMixture`, :func:`bayesgmm.select_components`
        and the CLI.
    reg_covar : float or None, default None
        Added to the diagonal of the EM covariances (the starting fit only:
        the posterior is regularised by its priors). ``None``: 1e-6 times
        the mean feature variance (scale-free); give a smaller value when
        EM reports a component held up by ``reg_covar``.
    sampler_kwargs : dict or None, default None
        Keywords for the sampler, e.g. ``{"target_accept": 0.95}`` for NUTS,
        ``{"n": 20000}`` optimisation steps for VI, ``{"batch_size": 500}``
        for minibatch ADVI, ``{"thin": 10}`` for Gibbs (see :func:`bayesgmm.inference.run_inference`).
    log_likelihood : bool or "auto", default "auto"
        Store the pointwise log-likelihood (chain x draw x obs; needed for
        LOO). ``"auto"`` skips it above 512 MiB, with a warning.
    progressbar : bool, default True
        The sampler's progress (a bar on a terminal, periodic lines otherwise).
    random_state : int, numpy.random.Generator, RandomState or None
        Seeds EM and the sampler; the same int gives the same result.
    missing : {"error", "marginalize"}, default "error"
        Missing values (NaN) in ``X``: a ``ValueError`` naming the columns
        and rows, or (``"marginalize"``) values missing at random whose
        coordinates are integrated out of each row's likelihood (the
        Gaussian marginal is exact). The EM start is
        ``GaussianMixture(missing="marginalize")``; the posterior is then
        sampled on the PyMC model with one likelihood term per pattern of
        missing values (:func:`bayesgmm.build_model` with
        ``missing="marginalize"``) through ``pm.sample`` (with
        ``nuts_sampler="nutpie"``: nutpie's compiled PyMC path, which
        compiles the model first), or by ADVI, not on the fast density;
        memberships, :meth:`predict_proba` and :meth:`score_samples` use
        each row's observed coordinates. Without NaN in ``X`` nothing
        changes. Not with ``noise=True`` (a ``ValueError``).
    noise : bool, default False
        Add mclust's uniform noise component (Banfield & Raftery 1993): a
        constant density ``1 / V`` with its own weight, the last of ``K + 1``
        Dirichlet weights, so that scattered outliers do not inflate or drag
        the Gaussians. The EM start is :class:`bayesgmm.GaussianMixture` with
        ``noise=True``; the posterior has ``noise_weight`` (chain, draw; the
        ``weights`` then sum to ``1 - noise_weight``). :meth:`membership` and
        :meth:`predict_proba` have a last column (component ``-1``) for the
        noise, computed per draw; :meth:`predict` returns ``-1`` for rows most
        probably noise; :meth:`score_samples` includes the noise density.
        See the user guide, "Anomalies with uncertainty".
    noise_hypervolume : float or None, default None
        ``V`` (``noise=True`` only); ``None``: the EM start's
        ``noise_hypervolume_`` (mclust's ``hypvol`` of the data).

    Every parameter is stored as given and checked by :meth:`fit` (the
    scikit-learn convention), so :func:`sklearn.base.clone`, pipelines and
    :class:`~sklearn.model_selection.GridSearchCV` carry all of them.
    ``fit(X, **overrides)`` overrides the sampler settings for one call.

    Attributes
    ----------
    idata_ : xarray.DataTree
        Groups ``posterior`` (relabelled draws), ``sample_stats``,
        ``log_likelihood``, ``observed_data`` and ``em``; the root attributes
        hold the model and sampler configuration and the package version.
    em_ : bayesgmm.GaussianMixture
        The EM fit the chains were started from and relabelled against.
    diagnostics_ : bayesgmm.diagnostics.DiagnosticsReport
        R-hat, ESS, divergences and chain modes of the fit.
    n_features_in_ : int
        Number of features seen in :meth:`fit`.
    feature_names_in_ : ndarray of str
        Column names seen in :meth:`fit` (only for data with column names).

    See Also
    --------
    bayesgmm.GaussianMixture : the EM estimator alone.
    bayesgmm.build_model : the PyMC model, to extend it.

    Examples
    --------
    >>> import bayesgmm as bg
    >>> X = bg.datasets.load_old_faithful()
    >>> model = bg.BayesianGMM(n_components=2, draws=200, tune=200, chains=2, random_state=0)
    >>> model.fit(X)  # doctest: +SKIP
    BayesianGMM(n_components=2, draws=200, tune=200, chains=2, random_state=0)
    >>> model.membership()["probability"].shape  # doctest: +SKIP
    (272, 2)
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        priors=None,
        method="nuts",
        draws=1000,
        tune=1000,
        chains=4,
        nuts_sampler="nutpie",
        n_init=DEFAULT_N_INIT,
        reg_covar=None,
        sampler_kwargs=None,
        log_likelihood="auto",
        progressbar=True,
        random_state=None,
        missing="error",
        noise=False,
        noise_hypervolume=None,
    ):
        # scikit-learn protocol: store the arguments verbatim, validate in fit
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.priors = priors
        self.method = method
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.nuts_sampler = nuts_sampler
        self.n_init = n_init
        self.reg_covar = reg_covar
        self.sampler_kwargs = sampler_kwargs
        self.log_likelihood = log_likelihood
        self.progressbar = progressbar
        self.random_state = random_state
        self.missing = missing
        self.noise = noise
        self.noise_hypervolume = noise_hypervolume

    # ------------------------------------------------------------ sklearn protocol
    def __sklearn_is_fitted__(self):
        return hasattr(self, "idata_")

    def _check_params(self):
        from bayesgmm.covariance import BAYESIAN_COVARIANCE_TYPES
        from bayesgmm.priors import Priors

        _check_int(self.n_components, "n_components", 1)
        if not isinstance(self.covariance_type, str) or self.covariance_type not in BAYESIAN_COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {list(BAYESIAN_COVARIANCE_TYPES)}, got "
                f"{self.covariance_type!r}. These are the types with a Bayesian model; "
                "mclust's other models (VEV, EVE, VEE, ...) are offered by EM only "
                "(GaussianMixture, select_components with method='bic' or 'icl')."
            )
        if self.priors is not None and not isinstance(self.priors, (Priors, dict)):
            raise TypeError(
                "priors must be a bayesgmm.Priors, a dict of its fields, or None; got "
                f"{type(self.priors).__name__}. Example: priors=bg.Priors(lkj_eta=4.0)."
            )
        rs = self.random_state
        if not (
            rs is None
            or (isinstance(rs, numbers.Integral) and not isinstance(rs, bool))
            or isinstance(rs, (np.random.Generator, np.random.RandomState))
        ):
            raise TypeError(
                "random_state must be None, an int, or a numpy Generator/RandomState; got "
                f"{type(rs).__name__} ({rs!r}). Pass e.g. random_state=0."
            )
        if isinstance(rs, numbers.Integral) and not 0 <= int(rs) < 2**32:
            raise ValueError(f"random_state must be in [0, 2**32), got {rs}.")
        if not isinstance(self.noise, (bool, np.bool_)):
            raise TypeError(f"noise must be True or False, got {self.noise!r}.")
        v = self.noise_hypervolume
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (np.isfinite(v) and v > 0):
                raise ValueError(
                    "noise_hypervolume must be None (the data's hypervolume) or a positive "
                    f"finite number, got {v!r}."
                )
            if not self.noise:
                raise ValueError(
                    "noise_hypervolume is the volume of the noise component: pass noise=True "
                    "with it, or leave it None."
                )
        if self._missing not in ("error", "marginalize"):
            raise ValueError(
                f"missing must be 'error' or 'marginalize', got {self._missing!r}; "
                "'marginalize' uses rows with NaN (missing at random)."
            )
        if self.noise and self._missing == "marginalize":
            raise noise_with_missing_error("noise=True", "noise=False")

    @property
    def _missing(self):
        return getattr(self, "missing", "error")

    def _check_X(self, X, **kwargs):
        """:func:`~bayesgmm._data.check_array` with this estimator's rule for NaN."""
        allow = self._missing == "marginalize"
        return check_array(X, name="X", allow_nan=allow, nan_hint="" if allow else MISSING_HINT,
                           **kwargs)

    def _fit_settings(self, overrides):
        """The sampler settings of one ``fit``: constructor values, then ``fit``'s keywords.

        Returns the validated settings (a dict keyed by the constructor
        parameters of :data:`FIT_SETTINGS`) and the sampler keywords
        (``sampler_kwargs`` updated with the other keywords given to ``fit``).
        """
        settings = {name: getattr(self, name) for name in FIT_SETTINGS}
        extra = dict(overrides)
        for name in FIT_SETTINGS:
            if name in extra:
                settings[name] = extra.pop(name)
        sk = self.sampler_kwargs
        if sk is not None and not isinstance(sk, dict):
            raise TypeError(
                "sampler_kwargs must be a dict of keywords for the sampler or None; got "
                f"{type(sk).__name__}. Example: sampler_kwargs={{'target_accept': 0.95}}."
            )
        sampler_kwargs = {**(sk or {}), **extra}
        if settings["method"] not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {settings['method']!r}.")
        settings["draws"] = _check_int(settings["draws"], "draws", 1)
        settings["tune"] = _check_int(settings["tune"], "tune", 0)
        settings["chains"] = _check_int(settings["chains"], "chains", 1)
        settings["n_init"] = check_n_init(settings["n_init"])
        if not isinstance(settings["progressbar"], bool):
            raise TypeError(f"progressbar must be True or False, got {settings['progressbar']!r}.")
        if not isinstance(settings["nuts_sampler"], str):
            raise TypeError(
                "nuts_sampler must be a string such as 'nutpie' or 'pymc', got "
                f"{settings['nuts_sampler']!r}."
            )
        if settings["log_likelihood"] not in (True, False, "auto"):
            raise ValueError(
                "log_likelihood must be True, False or 'auto', got "
                f"{settings['log_likelihood']!r}."
            )
        rc = settings["reg_covar"]
        if rc is not None:
            if isinstance(rc, bool) or not isinstance(rc, numbers.Real) or not (
                np.isfinite(rc) and rc >= 0
            ):
                raise ValueError(
                    "reg_covar must be None (1e-6 x the mean feature variance) or a finite "
                    f"number >= 0, got {rc!r}."
                )
            settings["reg_covar"] = float(rc)
        return settings, sampler_kwargs

    def _resolved_priors(self):
        from bayesgmm.priors import coerce_priors

        return coerce_priors(self.priors)

    def _seeds(self):
        """(EM random_state, sampler random_seed) from ``random_state``."""
        rs = self.random_state
        if rs is None or isinstance(rs, numbers.Integral):
            return (None if rs is None else int(rs)), (None if rs is None else int(rs))
        if isinstance(rs, np.random.Generator):
            a, b = rs.integers(0, 2**31 - 1, size=2)
        else:
            a, b = rs.randint(0, 2**31 - 1, size=2)
        return int(a), int(b)

    def _check_fitted(self, method):
        if not hasattr(self, "idata_"):
            # of the class that is also scikit-learn's NotFittedError when it is imported
            err = not_fitted("BayesianGMM", method)
            raise type(err)(
                f"This BayesianGMM instance is not fitted yet: call fit(X) (or "
                f"BayesianGMM.load(path)) before {method}()."
            )

    # ------------------------------------------------------------------------ fit
    def fit(self, X, y=None, *, model=None, **overrides):
        """Fit EM, then the posterior, relabel, and check the diagnostics.

        Every setting is a constructor parameter (so ``clone``, ``Pipeline``
        and ``GridSearchCV`` carry it). Keywords given here override them for
        this call only: a keyword named like a constructor parameter
        (``method``, ``draws``, ``tune``, ``chains``, ``nuts_sampler``,
        ``n_init``, ``reg_covar``, ``log_likelihood``, ``progressbar``) takes
        precedence over it, and any other keyword is a sampler keyword that
        updates ``sampler_kwargs``. The constructor parameters are left
        unchanged; the settings used are stored in ``idata_``
        (``sampler_config``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            numpy array, pandas DataFrame (columns become the ``feature``
            coordinate, a unique index the ``obs`` coordinate), xarray DataArray
            (dims ``obs`` and ``feature`` are read by name, in either order;
            other dim names positionally, rows = observations), or a dask
            array (computed: the posterior needs the data in memory). Never
            modified.
        y : None
            Ignored (scikit-learn API).
        model : pymc.Model, optional
            A model built by :func:`bayesgmm.build_model` from this ``X`` with
            the estimator's ``n_components``, ``covariance_type`` and
            ``priors``, then extended: priors changed, hyperpriors or
            potentials added. It is sampled by NUTS through ``pm.sample`` with
            ``nuts_sampler`` (``"nutpie"``: nutpie's compiled PyMC path,
            chains started at the EM fit; ``"pymc"``, ``"numpyro"``,
            ``"blackjax"``: each chain at a jittered EM start), then relabelled
            against EM with memberships, diagnostics and the result tree as
            usual. It must keep the stock model's variables (``weights``,
            ``means``, the covariance type's, ``covariances``) and its data
            ``X_data`` = ``X``; the memberships and log-likelihood are those
            of the mixture of these variables, so a change to the likelihood
            itself (a covariate in the means, other observed data) is not
            reflected in them. Only the mixture's variables are kept in
            ``idata_``. ``None`` (default): the stock model on the fast
            path.
        **overrides
            Settings for this call only (see above), e.g. ``draws=200`` or
            ``target_accept=0.95``.

        Returns
        -------
        self : BayesianGMM

        Warns
        -----
        bayesgmm.diagnostics.SamplingWarning
            R-hat above 1.01, low ESS, divergences, chains in different modes,
            or stuck chains (each a subclass; see :mod:`bayesgmm.diagnostics`).

        Notes
        -----
        The fitted attributes are set only when everything succeeded: an error
        or a KeyboardInterrupt during fitting leaves the object as it was.

        Examples
        --------
        >>> import bayesgmm as bg
        >>> X = bg.datasets.load_old_faithful()
        >>> m = bg.BayesianGMM(2, draws=300, tune=300, chains=2, progressbar=False, random_state=1)
        >>> m.fit(X)  # doctest: +SKIP
        BayesianGMM(n_components=2, draws=300, tune=300, chains=2, progressbar=False, random_state=1)
        """
        self._check_params()
        settings, sampler_kwargs = self._fit_settings(overrides)
        method = settings["method"]
        draws, tune, chains = settings["draws"], settings["tune"], settings["chains"]
        progressbar = settings["progressbar"]
        nuts_sampler = settings["nuts_sampler"]
        n_init = settings["n_init"]
        log_likelihood = settings["log_likelihood"]
        # y is ignored (scikit-learn's unsupervised convention)

        K = int(self.n_components)
        arr, names = self._check_X(X, min_samples=2)
        if not isinstance(arr, np.ndarray):  # dask: the posterior needs the data in memory
            arr = np.asarray(arr.compute(), dtype=np.float64)
            X_in = arr if names is None else pd.DataFrame(arr, columns=list(names))
        else:
            X_in = X
        n, d = arr.shape
        if n < K:
            raise ValueError(
                f"X has {n} rows but n_components={K}; use fewer components or more data."
            )
        feature_names = feature_labels(names, d)
        obs = obs_coords(X, n)
        priors = self._resolved_priors()
        em_seed, sampler_seed = self._seeds()

        from bayesgmm.inference import em_start, run_inference
        from bayesgmm.posterior import pointwise_log_likelihood, relabel_draws

        em = em_start(
            X_in, K, self.covariance_type, n_init=n_init, random_state=em_seed,
            reg_covar=settings["reg_covar"], missing=self._missing,
            **({"noise": True, "noise_hypervolume": self.noise_hypervolume} if self.noise else {}),
        )
        with warnings.catch_warnings():
            # the same check is reported below by the diagnostics, as a SamplingWarning
            warnings.filterwarnings("ignore", category=VIConvergenceWarning)
            raw = run_inference(
                X_in,
                K,
                self.covariance_type,
                priors,
                em,
                method=method,
                draws=draws,
                tune=tune,
                chains=chains,
                random_seed=sampler_seed,
                progressbar=progressbar,
                nuts_sampler=nuts_sampler,
                model=model,
                missing=self._missing,
                **({"noise_hypervolume": em.noise_hypervolume_} if self.noise else {}),
                **sampler_kwargs,
            )
        raw_post = raw["posterior"].to_dataset()
        _check_complete(raw_post, draws, chains, interruptible=method == "nuts", method=method)
        em_ds = _datatree.em_dataset(em, feature_names)
        relabelled, perm = relabel_draws(raw_post, em_ds)
        stats = raw["sample_stats"].to_dataset() if "sample_stats" in raw.children else None
        sampler_config = {
            "method": method,
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "random_seed": sampler_seed,
            "nuts_sampler": nuts_sampler if method == "nuts" else None,
            "n_init": n_init,
            "reg_covar": settings["reg_covar"],
            "user_model": model is not None,
            "em_random_state": em_seed,
            **{k: v for k, v in sampler_kwargs.items()},
            # timings and settings reported by the inference layer (setup_time,
            # sampling_time, n_steps_total, ...)
            "inference": {str(k): v for k, v in raw.attrs.items()},
        }
        rs = self.random_state
        ll = None
        size = (relabelled.sizes["chain"], relabelled.sizes["draw"], n)
        if _datatree.store_log_likelihood(log_likelihood, *size):
            ll = pointwise_log_likelihood(relabelled, arr, missing=self._missing)
            ll = ll.transpose("chain", "draw", "obs")
            ll = ll.to_numpy()
        tree = _datatree.build_tree(
            posterior=relabelled,
            sample_stats=stats,
            permutation=perm.transpose("chain", "draw", "component").to_numpy(),
            em=em,
            X=arr,
            obs=obs,
            feature_names=feature_names,
            covariance_type=self.covariance_type,
            method=method,
            model_config=priors.to_dict(),
            sampler_config=sampler_config,
            estimator_params={
                "n_components": K,
                "covariance_type": self.covariance_type,
                "priors": None if self.priors is None else priors.to_dict(),
                "random_state": int(rs) if isinstance(rs, numbers.Integral) else None,
                **({"noise": True, "noise_hypervolume": self.noise_hypervolume} if self.noise else {}),
                # the constructor's settings (fit's overrides are in sampler_config)
                **{name: getattr(self, name) for name in FIT_SETTINGS},
                "sampler_kwargs": self.sampler_kwargs,
                "missing": self._missing,
            },
            log_likelihood=ll,
            extra_attrs={"fitted_with_feature_names": int(names is not None)},
        )
        from bayesgmm.diagnostics import check_diagnostics

        report = check_diagnostics(tree)
        report.warn(stacklevel=2)

        # Assign the fitted state only now: an interrupt above leaves self unchanged.
        self.em_ = em
        self.diagnostics_ = report
        self.n_features_in_ = d
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.idata_ = tree
        return self

    # ------------------------------------------------------------------ results
    def _validate_new(self, X, method):
        self._check_fitted(method)
        arr, names = self._check_X(X, allow_dask=False)
        check_feature_names(getattr(self, "feature_names_in_", None), names, "BayesianGMM")
        check_n_features(self.n_features_in_, arr.shape, "X", "BayesianGMM")
        return arr

    def membership(self, ci_prob=None, ci_kind=None, *, hdi_prob=None):
        """Posterior membership of every fitted observation, with uncertainty.

        Parameters
        ----------
        ci_prob : float, optional
            Mass of the credible intervals; default
            ``arviz_base.rcParams["stats.ci_prob"]`` (0.89 unless changed).
        ci_kind : {"eti", "hdi"}, optional
            Equal-tailed or highest-density intervals; default
            ``arviz_base.rcParams["stats.ci_kind"]`` (``"eti"`` unless changed).
        hdi_prob : float, optional
            Deprecated name of ``ci_prob`` (a FutureWarning; removed in the next
            release).

        Returns
        -------
        xarray.Dataset
            dims (obs, component): ``probability`` (posterior mean), ``lower`` /
            ``upper`` (interval), ``entropy`` (obs), ``assignment`` (obs, the most
            probable component), ``probability_max`` (obs) with
            ``probability_max_lower`` / ``probability_max_upper``; see
            :func:`bayesgmm.posterior.membership_summary`. For a wide table (one
            row per observation) use :meth:`membership_table`.

        Examples
        --------
        >>> m = model.membership()  # doctest: +SKIP
        >>> m["entropy"].sortby(m["entropy"], ascending=False)[:5]  # most ambiguous  # doctest: +SKIP
        """
        self._check_fitted("membership")
        from bayesgmm.posterior.membership import membership_summary

        from bayesgmm.posterior._common import resolve_ci

        ci_prob, ci_kind = resolve_ci(ci_prob, ci_kind, hdi_prob)
        return membership_summary(
            _datatree.get_posterior(self.idata_),
            _datatree.get_observed(self.idata_),
            ci_prob=ci_prob,
            ci_kind=ci_kind,
            missing=self._missing,
        )

    def membership_table(self, ci_prob=None, ci_kind=None, *, data=True, decimals=None):
        """Posterior memberships as a wide DataFrame: one row per fitted observation.

        The table ``bayesgmm fit``/``report`` write as ``memberships.csv``
        (:func:`bayesgmm.posterior.membership_table` of :meth:`membership`).

        Parameters
        ----------
        ci_prob, ci_kind : optional
            As in :meth:`membership`.
        data : bool, default True
            Put the observation's features first.
        decimals : int or None, default None
            Round, with each probability kept inside its rounded interval (a
            point mass reads as one; see
            :func:`bayesgmm.posterior.membership_table`).

        Returns
        -------
        pandas.DataFrame
            Index ``obs``; columns the features (``data=True``), ``component``
            (most probable), ``probability``/``lower``/``upper`` (its
            probability and interval), ``entropy``, then ``probability_k``,
            ``lower_k``, ``upper_k`` for every component ``k``.

        Examples
        --------
        >>> model.membership_table(decimals=3).head()  # doctest: +SKIP
        """
        from bayesgmm.posterior.membership import membership_table

        mem = self.membership(ci_prob, ci_kind)
        X = _datatree.get_observed(self.idata_) if data else None
        return membership_table(mem, X, decimals=decimals)

    def predict_proba(self, X, return_interval=False, ci_prob=None, ci_kind=None, *, hdi_prob=None):
        """Membership probabilities of (new) observations, averaged over the posterior.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_interval : bool, default False
            Also return the lower and upper bounds of the ``ci_prob`` credible
            interval of each probability.
        ci_prob, ci_kind : optional
            As in :meth:`membership` (ArviZ's ``rcParams`` by default).
        hdi_prob : float, optional
            Deprecated name of ``ci_prob``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_components)
            Rows sum to one. With ``noise=True``, (n_samples, n_components + 1):
            the last column is the probability of being noise.
        lower, upper : ndarray of shape (n_samples, n_components)
            Only with ``return_interval=True``.

        Examples
        --------
        >>> p, lo, hi = model.predict_proba([[2.0, 55.0]], return_interval=True)  # doctest: +SKIP
        """
        from bayesgmm.posterior._common import resolve_ci
        from bayesgmm.posterior.membership import predictive_membership

        if not isinstance(return_interval, bool):
            raise TypeError(f"return_interval must be True or False, got {return_interval!r}.")
        arr = self._validate_new(X, "predict_proba")
        ci_prob, ci_kind = resolve_ci(ci_prob, ci_kind, hdi_prob)
        res = predictive_membership(
            _datatree.get_posterior(self.idata_), arr, ci_prob=ci_prob, ci_kind=ci_kind,
            missing=self._missing,
        )
        proba = res["probability"].transpose("obs", "component").to_numpy()
        if not return_interval:
            return proba
        return (
            proba,
            res["lower"].transpose("obs", "component").to_numpy(),
            res["upper"].transpose("obs", "component").to_numpy(),
        )

    def predict(self, X):
        """Most probable component of each row of ``X`` under the posterior.

        Returns
        -------
        ndarray of shape (n_samples,), int
            With ``noise=True``, ``-1`` for rows most probably noise (as
            :meth:`bayesgmm.GaussianMixture.predict`).

        Examples
        --------
        >>> model.predict([[2.0, 55.0], [4.5, 80.0]])  # doctest: +SKIP
        array([1, 0])
        """
        proba = self.predict_proba(X)
        labels = np.arange(proba.shape[1])
        if proba.shape[1] > int(self.n_components):  # the noise column last
            labels[-1] = -1
        return labels[proba.argmax(axis=1)]

    def score_samples(self, X):
        """Posterior predictive log density ``log (1/S) sum_s p(x | theta_s)``.

        Low values flag observations the fitted mixture finds unlikely
        (anomalies).

        Returns
        -------
        ndarray of shape (n_samples,)

        Examples
        --------
        >>> model.score_samples([[3.5, 70.0]])  # doctest: +SKIP
        """
        from bayesgmm.posterior.membership import posterior_predictive_log_density

        arr = self._validate_new(X, "score_samples")
        return posterior_predictive_log_density(
            _datatree.get_posterior(self.idata_), arr, missing=self._missing
        ).to_numpy()

    def score(self, X, y=None):
        """Mean posterior predictive log density of ``X`` (higher is better).

        The mean over rows of :meth:`score_samples`: on held-out data it is
        the log predictive density per observation, the score
        :class:`~sklearn.model_selection.GridSearchCV` maximises (see the
        user guide's recipe for choosing ``n_components``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored (scikit-learn API).

        Returns
        -------
        float

        Examples
        --------
        >>> model.score(X_test)  # doctest: +SKIP
        -1.93
        """
        return float(np.mean(self.score_samples(X)))

    def fit_predict(self, X, y=None, **overrides):
        """Fit on ``X`` and return the most probable component of each row.

        The same as ``fit(X, **overrides).predict(X)``.

        Returns
        -------
        ndarray of shape (n_samples,), int

        Examples
        --------
        >>> labels = bg.BayesianGMM(2, random_state=0).fit_predict(X)  # doctest: +SKIP
        """
        return self.fit(X, y, **overrides).predict(X)

    def sample(self, n_samples=1, random_state=None):
        """Draw new observations from the posterior predictive distribution.

        Each observation takes a posterior draw at random (over chains and
        draws), a component from that draw's weights, and a point from that
        component's normal distribution, so the sample carries the parameter
        uncertainty (unlike :meth:`bayesgmm.GaussianMixture.sample`).

        Parameters
        ----------
        n_samples : int, default 1
        random_state : int, numpy Generator, RandomState or None
            ``None``: derived from the estimator's ``random_state`` (so a
            fixed ``random_state`` gives the same sample).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,), int
            The component each observation came from; ``-1`` for noise
            (``noise=True``: uniform on the EM start's noise region, the box
            of volume ``V``).

        Examples
        --------
        >>> X_new, labels = model.sample(100)  # doctest: +SKIP
        """
        self._check_fitted("sample")
        n_samples = _check_int(n_samples, "n_samples", 1)
        if random_state is None:
            random_state = self._seeds()[1]
        if isinstance(random_state, np.random.RandomState):
            random_state = random_state.randint(0, 2**31 - 1)
        rng = np.random.default_rng(random_state)
        post = _datatree.get_posterior(self.idata_)
        w = post["weights"].transpose("chain", "draw", "component").to_numpy()
        mu = post["means"].transpose("chain", "draw", "component", "feature").to_numpy()
        cov = post["covariances"].transpose("chain", "draw", "component", ...).to_numpy()
        K, d = w.shape[-1], mu.shape[-1]
        w, mu, cov = w.reshape(-1, K), mu.reshape(-1, K, d), cov.reshape(-1, K, d, d)
        s_idx = rng.integers(0, w.shape[0], size=n_samples)
        if "noise_weight" in post:  # the noise: one more category (-1)
            w0 = post["noise_weight"].transpose("chain", "draw").to_numpy().reshape(-1)
            w = np.concatenate([w, w0[:, None]], axis=1)
        cw = np.cumsum(w[s_idx], axis=1)
        u = rng.random(n_samples) * cw[:, -1]
        z = np.minimum((u[:, None] > cw).sum(axis=1), w.shape[1] - 1)
        is_noise = z == K
        zc = np.minimum(z, K - 1)
        chol = np.linalg.cholesky(cov[s_idx, zc])
        eps = rng.standard_normal((n_samples, d))
        X = mu[s_idx, zc] + np.einsum("nij,nj->ni", chol, eps)
        if is_noise.any():  # uniform on the EM start's noise region (the box of volume V)
            box = getattr(getattr(self.em_, "_noise_fit", None), "box", None)
            if box is None:
                raise ValueError(
                    "This noise fit does not hold its noise region (saved by an older "
                    "bayesgmm); refit it to sample noise points."
                )
            offset, rot, lo, hi = box
            U = rng.uniform(lo, hi, size=(int(is_noise.sum()), d))
            X[is_noise] = offset + U @ rot.T
            z = np.where(is_noise, -1, z)
        return X, z.astype(np.int64)

    def summary(self, var_names=None, ci_prob=None, kind="all", round_to="none", ci_kind=None,
                *, hdi_prob=None, **kwargs):
        """Posterior summary of the relabelled draws (arviz-stats).

        Off-diagonal correlations are listed once, as ``correlations[k, a:b]``
        (the diagonal is constant and the matrix symmetric).

        Parameters
        ----------
        var_names : list of str, optional
            Default ``weights``, ``means``, ``sds`` and (``full``/``tied``)
            ``correlations``.
        ci_prob : float, optional
            Mass of the credible interval; default
            ``arviz_base.rcParams["stats.ci_prob"]`` (0.89 unless changed), as
            ``az.summary`` on the same tree.
        kind : str, default "all"
            See :func:`arviz_stats.summary` (``"stats"``, ``"diagnostics"``, ...).
        round_to : int, "auto" or "none", default "none"
            Unrounded floats by default; ``"auto"`` gives ArviZ's display
            rounding (which can round interval bounds to the sd's precision).
        ci_kind : {"eti", "hdi"}, optional
            Default ``arviz_base.rcParams["stats.ci_kind"]``.
        hdi_prob : float, optional
            Deprecated name of ``ci_prob`` (a FutureWarning).
        **kwargs
            Passed to :func:`arviz_stats.summary` (e.g. ``fmt="xarray"``).

        Returns
        -------
        pandas.DataFrame (or what ``fmt`` asks for)

        Examples
        --------
        >>> model.summary(kind="stats")  # doctest: +SKIP
        """
        import arviz_stats as azs

        from bayesgmm.posterior._common import resolve_ci

        self._check_fitted("summary")
        try:
            ci_prob, ci_kind = resolve_ci(ci_prob, ci_kind, hdi_prob)
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        post = _datatree.get_posterior(self.idata_)
        ds = _datatree.select_variables(post, var_names, ("weights", "means", "sds", "correlations"))
        if "correlations" in ds:
            ds = ds.assign(correlations=_datatree.correlation_pairs(ds["correlations"]))
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            return azs.summary(
                ds, kind=kind, ci_prob=ci_prob, ci_kind=ci_kind,
                sample_dims=("chain", "draw"), round_to=round_to, **kwargs,
            )

    def compare_em(self, em_se=False, **kwargs):
        """EM estimates next to the posterior (delegates to :func:`bayesgmm.posterior.compare_em`).

        Parameters
        ----------
        em_se : bool, default False
            Add ``em_se``, the EM standard error from the observed information
            (Louis 1982) on the fitted data, ``em_se_complete`` (assignments
            known) and ``sd_ratio`` (posterior sd / ``em_se``).
        **kwargs
            Passed on (``ci_prob``, ``ci_kind``, ``var_names``).

        Returns
        -------
        xarray.Dataset
            Per parameter: EM value, posterior mean, sd, interval, whether EM
            lies inside it, and the standardised difference.

        Examples
        --------
        >>> model.compare_em().to_dataframe()  # doctest: +SKIP
        """
        self._check_fitted("compare_em")
        from bayesgmm.posterior import compare_em

        if em_se:
            kwargs.setdefault("X", _datatree.get_observed(self.idata_).transpose("obs", "feature").to_numpy())
            kwargs.setdefault("covariance_type", self.covariance_type)
        return compare_em(
            _datatree.get_posterior(self.idata_), _datatree.get_em(self.idata_), **kwargs
        )

    def sample_prior_predictive(self, X=None, draws=500, random_seed=None):
        """Draw from the prior and the prior predictive (delegates to :func:`bayesgmm.build_model`).

        Parameters
        ----------
        X : array-like, optional
            Data that set the prior scales (and the number of observations
            simulated); default the fitted data.
        draws : int, default 500
        random_seed : int, optional
            Default: derived from ``random_state``.

        Returns
        -------
        xarray.DataTree
            PyMC's result with ``prior`` and ``prior_predictive`` groups.

        Examples
        --------
        >>> import bayesgmm as bg
        >>> X = bg.datasets.load_old_faithful()
        >>> prior = bg.BayesianGMM(2, random_state=0).sample_prior_predictive(X, draws=10)
        >>> prior["prior"]["weights"].shape
        (1, 10, 2)
        """
        import pymc as pm

        from bayesgmm.model import build_model

        draws = _check_int(draws, "draws", 1)
        if X is None:
            if not hasattr(self, "idata_"):
                raise NotFittedError(
                    "sample_prior_predictive() needs data to set the prior scales: pass X, "
                    "or fit the model first."
                )
            X = _datatree.get_observed(self.idata_).to_pandas()
        if random_seed is None:
            random_seed = self._seeds()[1]
        noise_v = None
        if self.noise:  # the noise component: V given, else mclust's hypvol of X (as the fit)
            from bayesgmm.em._noise import hypervolume

            noise_v = self.noise_hypervolume
            if noise_v is None:
                noise_v = hypervolume(np.asarray(check_array(X, name="X")[0], dtype=np.float64))[0]
        model = build_model(
            X, self.n_components, covariance_type=self.covariance_type,
            priors=self._resolved_priors(), **({"noise_hypervolume": noise_v} if self.noise else {}),
        )
        with model:
            return pm.sample_prior_predictive(draws=draws, random_seed=random_seed)

    # -------------------------------------------------------------- persistence
    def save(self, path):
        """Save the fit (the result tree) to a netCDF file.

        Everything needed to predict is in the file: :meth:`load` restores a
        model whose predictions are identical.

        Examples
        --------
        >>> model.save("fit.nc")  # doctest: +SKIP
        """
        self._check_fitted("save")
        _datatree.save(self.idata_, path)

    @classmethod
    def load(cls, path):
        """Restore a fitted model saved by :meth:`save`.

        Returns
        -------
        BayesianGMM
            With ``idata_``, ``em_``, ``diagnostics_``, ``n_features_in_`` and
            (when the fit saw column names) ``feature_names_in_``.

        Examples
        --------
        >>> model = BayesianGMM.load("fit.nc")  # doctest: +SKIP
        >>> model.predict_proba(X_new)  # doctest: +SKIP
        """
        from bayesgmm.diagnostics import check_diagnostics
        from bayesgmm.priors import Priors

        tree = _datatree.load(path)  # checks the checksum and the layout
        from bayesgmm.em import GaussianMixture

        try:  # a file that passed the checks can still hold parameters this version rejects
            config = _datatree.get_config(tree)
            params = config.get("estimator_params") or {}
            priors = params.get("priors")
            model = cls(
                int(params.get("n_components", config["n_components"])),
                covariance_type=str(params.get("covariance_type", config["covariance_type"])),
                priors=None if priors is None else Priors.from_dict(priors),
                random_state=params.get("random_state"),
                noise=bool(params.get("noise", False)),
                noise_hypervolume=params.get("noise_hypervolume"),
            )
            # the sampler settings (trees written before they were constructor
            # parameters keep the defaults; values stored by repr are skipped)
            for name in (*FIT_SETTINGS, "sampler_kwargs"):
                if name in params:
                    try:
                        model.set_params(**{name: params[name]})
                        model._fit_settings({})
                    except (TypeError, ValueError):
                        setattr(model, name, model._init_defaults()[name])
            if params.get("missing") in ("error", "marginalize"):
                model.missing = params["missing"]
            names = _datatree.get_feature_names(tree)
            has_names = bool(int(config.get("fitted_with_feature_names", 0)))
            model.em_ = GaussianMixture._from_state(
                **_datatree.get_em_state(tree), feature_names_in=names if has_names else None
            )
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise ValueError(
                f"{os.fspath(path)!r} holds a fit this version cannot rebuild "
                f"({type(exc).__name__}: {exc}); refit the model."
            ) from None
        model.n_features_in_ = len(names)
        if has_names:
            model.feature_names_in_ = np.asarray(names, dtype=object)
        model.diagnostics_ = check_diagnostics(tree)
        model.idata_ = tree
        return model


def _check_complete(posterior: xr.Dataset, draws: int, chains: int, *, interruptible: bool = True,
                    method: str = "nuts") -> None:
    """Raise KeyboardInterrupt for a sampler run that was interrupted.

    nutpie catches Ctrl-C itself and returns what it has: the ``draw`` dim cut
    to the longest chain and the shorter chains padded with NaN.  Such a run is
    not a fit: the model is left unchanged.  Non-finite values that are not such
    a tail are reported as a ValueError. Only NUTS returns a partial run when
    interrupted (``interruptible``); the other methods (``gibbs``, ``tempering``,
    ``advi``...) pass Ctrl-C on as KeyboardInterrupt, so for them every non-finite
    draw, even a chain with none finite, is a numerical failure (ValueError), not an
    interruption.
    """
    w = posterior["weights"].transpose("chain", "draw", "component").to_numpy()
    finite = np.isfinite(w).all(axis=-1)  # (chain, draw)
    for name in ("means", "covariances"):
        if name in posterior:
            v = posterior[name].transpose("chain", "draw", ...).to_numpy()
            # explicit sizes: -1 cannot be inferred for zero draws (Ctrl-C in warm-up)
            finite &= np.isfinite(v.reshape(*v.shape[:2], int(np.prod(v.shape[2:])))).all(axis=-1)
    n_got = finite.sum(axis=1)
    # a finite prefix per chain, then only non-finite draws
    prefix_only = all(finite[c, : n_got[c]].all() for c in range(finite.shape[0]))
    short = w.shape[1] < draws or w.shape[0] < chains
    if finite.all() and not short:
        return
    if interruptible and (short or prefix_only):
        got = ", ".join(f"chain {c}: {int(n)}" for c, n in enumerate(n_got))
        raise KeyboardInterrupt(
            f"Sampling was interrupted ({got} of {draws} draws); the model was left "
            "unchanged. Fit again to get a complete posterior."
        )
    where = ", ".join(f"chain {c}: {int(n)}" for c, n in enumerate((~finite).sum(axis=1)) if n)
    advice = ("more `tune` steps or a higher `target_accept`" if method == "nuts" else
              "method='nuts'" + (", or `resolution=` if the data are rounded (tied values)"
                                 if method == "gibbs" else ""))
    raise ValueError(
        f"The sampler (method={method!r}) returned {int((~finite).sum())} draws with non-finite "
        f"parameters (NaN or inf; {where} of {finite.shape[1]}). Check the data for extreme values "
        f"or duplicated rows, and try {advice}."
    )
