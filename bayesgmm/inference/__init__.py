"""Posterior inference for the Bayesian Gaussian mixture: MCMC and VI behind one function.

:func:`run_inference` takes the data, the model specification and an EM fit
(the starting point) and returns an :class:`xarray.DataTree` with a
``posterior`` group (``weights``, ``means``, ``covariances``, ``sds`` and, for
``full``/``tied``, ``correlations``, with the contract's dims, *not* relabelled)
and a ``sample_stats`` group.  Methods:

``method="nuts", nuts_sampler="nutpie"`` (default)
    nutpie's NUTS on :class:`bayesgmm._compiled.CompiledDensity`, a
    numba-compiled log density with an analytic gradient that equals the PyMC
    model's, called without the GIL so the chains run in parallel (compiled
    once per machine, then loaded from numba's cache). ``density="numpy"``:
    on :class:`bayesgmm._logdensity.MixtureDensity`, the same density in numpy
    (no compilation; chains take turns).
``method="nuts", nuts_sampler="pymc" | "numpyro" | "blackjax"``
    ``pm.sample`` on :func:`bayesgmm.build_model` (the JAX samplers need
    ``pip install bayesgmm[jax]``).
``method="advi" | "fullrank_advi"``
    PyMC's ``pm.fit`` on :func:`bayesgmm.build_model`, then draws from the
    approximation.
``method="minibatch_advi"``
    Mean-field ADVI on :class:`MixtureDensity` with minibatch gradients scaled
    by ``N / batch_size`` (Adam, averaged iterates): for large N.
``method="tempering"``
    Replica exchange on :class:`MixtureDensity`: the likelihood tempered from
    the posterior to the prior, HMC within each temperature, non-reversible
    (DEO) swaps and an adaptive ladder; for posteriors with several modes
    (overlapping clusters, surplus components).  ``draws``/``tune`` are
    iterations of the whole ladder; the coldest replica's draws are kept.
``method="gibbs"``
    Gibbs sampling with data augmentation (:mod:`bayesgmm.inference._gibbs`):
    the allocations drawn with the weights integrated out, then the weights
    (Dirichlet), the means (conjugate Gaussian) and, per covariance factor,
    random-walk Metropolis on its unconstrained coordinates (steps adapted
    during the warm-up, then frozen); compiled with numba (once per machine,
    then cached), chains in parallel threads. An emptied surplus or overlapping
    component is redrawn from its prior and can refill, so it moves between
    modes (a merged against a split pair) that NUTS rarely leaves. ``tune``
    is warm-up sweeps, ``draws`` the kept sweeps per chain (every ``thin``-th).
    ``resolution=``: the data are rounded to these steps (latent unrounded values
    drawn each sweep; tied values then cannot make the posterior improper);
    ``n_temperatures=``: replica exchange of tempered copies within each chain;
    ``split_merge=`` (default 0: off; the sparse method's default sampler uses
    ``SPARSE_SPLIT_MERGE``): data-driven split-merge
    Metropolis-Hastings moves per sweep (:mod:`bayesgmm.inference._split_merge`).

Every VI fit starts at the EM estimate (the caller's, or :func:`em_start`'s).
NUTS and Gibbs chains start at the distinct optima of its restarts (chain 0 at the best;
:func:`bayesgmm.inference._starts.distinct_optima`), the chains left over at
over-dispersed points around the best; all in units of the local posterior sd
(scale-free).  The result's attrs ``chain_start_optimum`` (per chain, 0 = the
best) and ``em_optima_loglik`` record which optimum each chain started from.

Layout: ``_nutpie`` (nutpie on the compiled or the numpy density), ``_pymc`` (``pm.sample``
with PyMC's, NumPyro's or BlackJAX's NUTS on the PyMC model), ``_vi`` (ADVI,
full-rank ADVI, minibatch ADVI, the VI loss check), ``_starts`` (EM start,
chain starts, curvature-scaled jitter, seeds), ``_tempering`` (replica
exchange), ``_gibbs`` (Gibbs sampling with data augmentation), ``_results`` (draws to the
result tree), ``_common`` (argument checks, BLAS threads).
"""

from __future__ import annotations

import time

import numpy as np
import xarray as xr

from bayesgmm._logdensity import MixtureDensity
from bayesgmm.em._noise import noise_with_missing_error
from bayesgmm.exceptions import VIConvergenceWarning
from bayesgmm.inference._common import _check_int
from bayesgmm.inference._nutpie import _nuts_nutpie
from bayesgmm.inference._pymc import _pymc_sample
from bayesgmm.inference._results import POSTERIOR_VARS
from bayesgmm.inference._starts import (
    EM_START_N_INIT,
    _chain_starts,
    _curvature_scale,  # re-exported: tests and benchmarks import it from here
    _init_params,  # re-exported: tests import it from here
    _init_points,
    _seeds,
    em_start,
    initial_reg_covar,
)
from bayesgmm.inference._gibbs import _gibbs
from bayesgmm.inference._tempering import _tempering
from bayesgmm.inference._vi import _check_vi_loss, _minibatch_advi, _pymc_fit  # _check_vi_loss: re-exported
from bayesgmm.priors import coerce_priors

__all__ = [
    "EM_START_N_INIT",
    "MCMC_METHODS",
    "METHODS",
    "NUTS_SAMPLERS",
    "POSTERIOR_VARS",
    "VIConvergenceWarning",
    "em_start",
    "initial_reg_covar",
    "run_inference",
]

METHODS = ("nuts", "advi", "fullrank_advi", "minibatch_advi", "tempering", "gibbs")
#: The methods that draw a Markov chain (checked by R-hat, ESS and the stuck-chain rules);
#: the others are variational approximations.
MCMC_METHODS = ("nuts", "tempering", "gibbs")
NUTS_SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax")


def run_inference(
    X,
    n_components,
    covariance_type="full",
    priors=None,
    init=None,
    *,
    method="nuts",
    draws=1000,
    tune=1000,
    chains=4,
    random_seed=None,
    progressbar=True,
    nuts_sampler="nutpie",
    model=None,
    missing="error",
    noise_hypervolume=None,
    **sampler_kwargs,
) -> xr.DataTree:
    """Sample (NUTS, tempering, Gibbs) or approximate (VI) the posterior of a Gaussian mixture.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data (numpy, pandas, xarray); DataFrame columns name the features.
    n_components : int
        Number of components ``K``.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    priors : Priors, ResolvedPriors, dict or None
        Prior configuration (default :class:`~bayesgmm.priors.Priors`;
        checked by :func:`~bayesgmm.priors.coerce_priors`). Every method
        samples the same posterior whatever the form.
    init : fitted GaussianMixture, dict or None
        Starting point: an EM fit (``weights_``, ``means_``, ``covariances_``
        in scikit-learn layout, same ``covariance_type``), a dict with keys
        ``weights``, ``means``, ``covariances``, or None for :func:`em_start`
        (``EM_START_N_INIT`` = ``"auto"`` starts) here.
    method : {"nuts", "advi", "fullrank_advi", "minibatch_advi", "tempering", "gibbs"}, default="nuts"
        :data:`METHODS`; the Markov chain methods (:data:`MCMC_METHODS`) are
        ``"nuts"``, ``"tempering"`` and ``"gibbs"``, the others variational.
        ``"tempering"`` and ``"gibbs"`` are for posteriors with several modes
        (overlapping clusters, surplus components; see the user guide's page on
        multimodal posteriors).
    draws : int, default=1000
        Draws per chain kept (VI: draws per "chain" from the approximation;
        Gibbs: kept sweeps, every ``thin``-th).
    tune : int, default=1000
        NUTS warm-up steps per chain (tempering: iterations of the whole
        ladder; Gibbs: warm-up sweeps).  For VI, the number of optimisation
        steps is ``sampler_kwargs["n"]`` if given, else ``max(10 * tune, 5000)``.
    chains : int, default=4
    random_seed : int, numpy Generator or None
        Same seed, same draws.
    progressbar : bool, default=True
    nuts_sampler : {"nutpie", "pymc", "numpyro", "blackjax"}, default="nutpie"
    model : pymc.Model, optional
        A model built by :func:`~bayesgmm.build_model` for this ``X`` and
        extended (priors changed, variables added), sampled by NUTS through
        ``pm.sample`` with ``nuts_sampler`` (``"nutpie"``: nutpie's compiled
        PyMC path). It must keep the stock model's variables
        (:func:`~bayesgmm.inference._pymc.check_user_model`); only those are
        returned. ``None``: the stock model (nutpie on the fast numpy density).
    missing : {"error", "marginalize"}, default="error"
        NaN in ``X``: an error, or missing values (missing at random) whose
        coordinates are integrated out. Data with NaN are sampled on the PyMC
        model of :func:`~bayesgmm.build_model` with ``missing="marginalize"``
        (one likelihood term per pattern of missing values): NUTS through
        ``pm.sample`` (``nuts_sampler="nutpie"``: nutpie's compiled PyMC path),
        or ``"advi"`` / ``"fullrank_advi"``; not the fast density, so
        ``"minibatch_advi"``, ``"tempering"``, ``"gibbs"`` and ``model=`` are
        refused. The priors' data scales come from the observed values; the
        chain starts' scales from the mean-imputed data.
    noise_hypervolume : float, optional
        Adds mclust's uniform noise component of density ``1 / noise_hypervolume``
        (e.g. an EM fit's ``noise_hypervolume_``) and its weight, the last of
        ``K + 1`` Dirichlet weights (:func:`~bayesgmm.build_model`); the posterior
        then has ``noise_weight`` (chain, draw; attribute ``noise_hypervolume``)
        and ``weights`` summing to ``1 - noise_weight``.  Start from an EM fit with ``noise=True``
        (``init``): its ``weights_`` pack with ``1 - sum(weights_)`` as the noise
        weight.  nutpie samples the compiled density, which has the noise term
        (tested equal to the numpy density and its gradient).
        Not with ``missing="marginalize"`` (a ``ValueError``).
    **sampler_kwargs
        Passed to the sampler: for nutpie e.g. ``target_accept``,
        ``maxdepth``, ``cores``, ``adaptation``, and ``density``
        (``"compiled"``, default, or ``"numpy"``: which log density nutpie
        calls; the result's root attribute ``density`` says which ran) and
        ``rescale`` (the mass-matrix warm start: nutpie samples coordinates
        rescaled by the approximate posterior sds at the start, from the local
        curvature, so its first mass-matrix guess has the posterior's scale;
        same posterior; root attribute ``rescaled``); for PyMC's ``pm.sample`` its
        keywords; for ``"advi"``/``"fullrank_advi"`` ``pm.fit``'s keywords;
        for ``"minibatch_advi"``: ``batch_size`` (default ``min(N, 1000)``),
        ``n`` (steps), ``learning_rate`` (default 0.01); for ``"tempering"``:
        ``n_temperatures`` (default 8), ``n_leapfrog`` (default 10),
        ``target_accept`` (default 0.75), ``swap_scheme`` (``"deo"`` or
        ``"seo"``), ``adapt_ladder`` (default True), ``betas`` (a fixed
        ladder from 1.0 down); for ``"gibbs"``: ``thin`` (default 1; keep
        every ``thin``-th sweep, so ``draws * thin`` sweeps after the warm-up),
        ``n_cov_steps`` (default 2; passes of the covariance coordinates'
        random-walk Metropolis per sweep) and ``cores`` (default
        ``min(chains, CPUs)``: chains run in that many threads; the draws do not
        depend on it).  ``jitter`` (default
        0.1) scales the per-chain starting jitter in units of the approximate
        posterior sd; ``dispersion`` (default 1.0) is the spread, in the same
        units, of the over-dispersed starts of the chains left over when the
        EM restarts found fewer distinct optima than there are chains.

    Returns
    -------
    xarray.DataTree
        ``posterior``: ``weights`` (chain, draw, component), ``means``
        (chain, draw, component, feature), ``covariances`` (chain, draw,
        component, feature, feature_bis), ``sds`` (chain, draw, component,
        feature), ``correlations`` (full/tied).  ``sample_stats``: the
        sampler's statistics (``diverging``, ``n_steps``, ...), or for VI the
        ``loss`` history (dim ``vi_iteration``).  Root attrs: ``method``,
        ``nuts_sampler``, ``setup_time`` (the compiled code's compile or cache
        load included) and ``sampling_time`` (seconds) and,
        for NUTS, ``n_steps_total`` (leapfrog steps including warm-up); for
        NUTS and Gibbs, ``chain_start_optimum`` (per chain, the index of the
        distinct EM optimum it started from; 0 = the best),
        ``chain_start_halvings`` (per chain, how often its start's offset was
        halved because it lay far below its optimum;
        :func:`bayesgmm.inference._starts.pulled_in`) and ``em_optima_loglik``
        (their mean log-likelihoods per observation).
        Gibbs: ``sample_stats`` has ``log_likelihood``, ``acceptance_rate``
        (of the sweep's covariance moves), ``occupied`` (the number of
        non-empty components in the sweep's allocations), ``diverging``
        (always False) and, with the noise component, ``noise_count``; root
        attrs ``thin``, ``n_cov_steps``, ``sweeps_total`` (all chains and
        replicas, warm-up included), ``cov_step_sizes`` (the frozen random-walk
        step of each covariance coordinate, median over chains) and
        ``cov_acceptance`` (its acceptance rate in the kept sweeps, mean over
        chains), ``n_temperatures``, ``resolution`` and, with
        ``n_temperatures > 1``, ``betas``, ``ladders``, ``swap_acceptance``,
        ``round_trips`` and ``barrier`` (the replica exchange's ladder and
        swap statistics); with ``split_merge > 0``, ``split_merge``,
        ``split_merge_scale`` and ``split_merge_counts`` (kept sweeps, all
        chains: split proposals, accepted splits, merge proposals, accepted
        merges; ``split_merge_counts_per_chain`` per chain).
        The draws are *not* relabelled.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.inference import run_inference
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-3, 1, (100, 1)), rng.normal(3, 1, (100, 1))])
    >>> init = {"weights": [0.5, 0.5], "means": [[-3.0], [3.0]], "covariances": [1.0, 1.0]}
    >>> tree = run_inference(X, 2, "spherical", init=init, draws=100, tune=100, chains=2,
    ...                      random_seed=1, progressbar=False)
    >>> tree["posterior"]["means"].shape
    (2, 100, 2, 1)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}.")
    if method == "nuts" and nuts_sampler not in NUTS_SAMPLERS:
        raise ValueError(f"nuts_sampler must be one of {list(NUTS_SAMPLERS)}, got {nuts_sampler!r}.")
    draws = _check_int(draws, "draws", 1)
    tune = _check_int(tune, "tune", 0)
    chains = _check_int(chains, "chains", 1)
    if not isinstance(progressbar, bool):
        raise TypeError(f"progressbar must be True or False, got {progressbar!r}.")
    priors = coerce_priors(priors)
    jitter = float(sampler_kwargs.pop("jitter", 0.1))
    if not np.isfinite(jitter) or jitter < 0:
        raise ValueError(f"jitter must be a finite number >= 0, got {jitter}.")
    dispersion = float(sampler_kwargs.pop("dispersion", 1.0))
    if not np.isfinite(dispersion) or dispersion < 0:
        raise ValueError(f"dispersion must be a finite number >= 0, got {dispersion}.")
    seed_init, seed_jitter, seed_sampler = _seeds(random_seed, 3)

    t0 = time.perf_counter()
    incomplete = False
    if missing not in ("error", "marginalize"):
        raise ValueError(f"missing must be 'error' or 'marginalize'; got {missing!r}.")
    if missing == "marginalize" and noise_hypervolume is not None:
        raise noise_with_missing_error("noise_hypervolume", "noise_hypervolume=None")
    if missing == "marginalize":
        from bayesgmm._data import check_array
        from bayesgmm.em._missing import mean_impute

        arr, names = check_array(X, allow_nan=True, allow_dask=False, min_samples=2)
        incomplete = bool(np.isnan(arr).any())
    if incomplete:
        if model is not None or method not in ("nuts", "advi", "fullrank_advi"):
            raise ValueError(
                "Data with missing values are sampled on the PyMC model with one likelihood "
                "term per pattern of missing values: use method='nuts' (any nuts_sampler), "
                f"'advi' or 'fullrank_advi' without model=; got method={method!r}"
                + (" and a model" if model is not None else "") + "."
            )
        # the scales of the observed values
        priors = coerce_priors(priors, arr, int(n_components), missing="marginalize")
        imputed = mean_impute(arr)
        if names is not None:
            import pandas as pd

            imputed = pd.DataFrame(imputed, columns=list(names))
        # the fast density of the mean-imputed data: only for the chain starts
        dens = MixtureDensity(imputed, n_components, covariance_type, priors)
        if init is None:
            init = em_start(X, n_components, covariance_type, random_state=seed_init,
                            missing="marginalize")
    else:
        dens = MixtureDensity(X, n_components, covariance_type, priors,
                              noise_hypervolume=noise_hypervolume)
    x0, optima = _init_points(init, dens, seed_init)
    start_attrs = {}
    if method in ("nuts", "gibbs"):
        # chains at distinct EM optima, the rest over-dispersed around the best
        starts, which, halvings = _chain_starts(
            dens, x0, chains, seed_jitter, jitter, [x for x, _ in optima], dispersion
        )
        start_attrs = {
            "chain_start_optimum": [int(w) for w in which],
            "chain_start_halvings": [int(h) for h in halvings],
            "em_optima_loglik": [float(lb) if np.isfinite(lb) else None for _, lb in optima],
        }
        x0 = starts
    common = dict(
        dens=dens, x0=x0, draws=draws, tune=tune, chains=chains, progressbar=progressbar,
        seed_jitter=seed_jitter, seed_sampler=seed_sampler, jitter=jitter, t0=t0,
    )
    if model is not None and method != "nuts":
        raise ValueError(
            f"model= is sampled with NUTS only; got method={method!r}. Use method='nuts'."
        )
    if method == "nuts" and nuts_sampler == "nutpie" and model is None and not incomplete:
        tree = _nuts_nutpie(**common, center=optima[0][0], **sampler_kwargs)
    elif method == "nuts":
        tree = _pymc_sample(X, nuts_sampler=nuts_sampler, model=model, **common, **sampler_kwargs)
    elif method == "tempering":
        tree = _tempering(**common, **sampler_kwargs)
    elif method == "gibbs":
        tree = _gibbs(**common, **sampler_kwargs)
    elif method in ("advi", "fullrank_advi"):
        tree = _pymc_fit(X, method=method, **common, **sampler_kwargs)
    else:
        tree = _minibatch_advi(**common, **sampler_kwargs)
    if noise_hypervolume is not None and "noise_weight" in tree["posterior"].data_vars:
        # the draws carry V: the memberships and densities of bayesgmm.posterior read it there
        tree["posterior"]["noise_weight"].attrs["noise_hypervolume"] = dens.noise_hypervolume
    tree.attrs.setdefault("method", method)
    tree.attrs.update(start_attrs)
    tree.attrs["nuts_sampler"] = nuts_sampler if method == "nuts" else ""
    return tree
