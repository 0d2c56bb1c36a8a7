"""Posterior inference for the Bayesian Gaussian mixture: NUTS and VI behind one function.

:func:`run_inference` takes the data, the model specification and an EM fit
(the starting point) and returns an :class:`xarray.DataTree` with a
``posterior`` group (``weights``, ``means``, ``covariances``, ``sds`` and, for
``full``/``tied``, ``correlations``, with the contract's dims, *not* relabelled)
and a ``sample_stats`` group.  Methods:

``method="nuts", nuts_sampler="nutpie"`` (default)
    nutpie's NUTS on :class:`bayesgmm._logdensity.MixtureDensity`, a numpy
    log-density with an analytic gradient that equals the PyMC model's: no
    compilation at all, and a gradient 10-100x cheaper than PyMC's graph of
    the plain mixture model.
``method="nuts", nuts_sampler="pymc" | "numpyro" | "blackjax"``
    ``pm.sample`` on :func:`bayesgmm.build_model` (the JAX samplers need
    ``pip install bayesgmm[jax]``).
``method="advi" | "fullrank_advi"``
    PyMC's ``pm.fit`` on :func:`bayesgmm.build_model`, then draws from the
    approximation.
``method="minibatch_advi"``
    Mean-field ADVI on :class:`MixtureDensity` with minibatch gradients scaled
    by ``N / batch_size`` (Adam, averaged iterates): for large N.

Every chain (and every VI fit) starts at the EM estimate; NUTS chains get a
small seeded jitter scaled by the local curvature of the log posterior.
"""

from __future__ import annotations

import importlib.util
import os
import time
import warnings

import numpy as np
import xarray as xr

from bayesgmm._logdensity import MixtureDensity
from bayesgmm.exceptions import VIConvergenceWarning
from bayesgmm.priors import Priors, ResolvedPriors

__all__ = ["run_inference", "METHODS", "NUTS_SAMPLERS", "VIConvergenceWarning"]


def _check_vi_loss(loss, n, method):
    """Warn when the loss still drifts over the last 10% of the steps.

    Compares the mean loss over the last tenth of the steps with the tenth
    before it; a drop larger than four standard errors of that difference
    means the optimisation was still making progress.
    """
    loss = np.asarray(loss, dtype=float)
    loss = loss[np.isfinite(loss)]
    w = len(loss) // 10
    if w < 20:
        return
    last, prev = loss[-w:], loss[-2 * w : -w]
    diff = prev.mean() - last.mean()
    se = np.sqrt(last.var(ddof=1) / w + prev.var(ddof=1) / w)
    if diff > 4 * se:
        warnings.warn(
            f"{method} may not have converged: the loss still fell by {diff:.4g} (more than 4 standard errors) "
            f"over the last {w} of its {n} steps. Increase the number of steps, e.g. n={2 * n}, "
            "or use method='nuts' for exact posterior draws.",
            VIConvergenceWarning,
            stacklevel=3,
        )

METHODS = ("nuts", "advi", "fullrank_advi", "minibatch_advi")
NUTS_SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax")
POSTERIOR_VARS = ("weights", "means", "covariances", "sds", "correlations")
_DIMS = {
    "weights": ("component",),
    "means": ("component", "feature"),
    "covariances": ("component", "feature", "feature_bis"),
    "sds": ("component", "feature"),
    "correlations": ("component", "feature", "feature_bis"),
}


# ------------------------------------------------------------------ helpers
def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {minimum}, got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)


def initial_reg_covar(X) -> float:
    """``reg_covar`` for the EM fit that starts the chains: 1e-6 x the mean feature variance.

    The priors are scale-free, so the initialising EM's regulariser must be too: an
    absolute ``reg_covar=1e-6`` collapses data of scale 1e-8 onto its mean.
    """
    data_var = float(np.mean(np.var(np.asarray(X, dtype=np.float64), axis=0)))
    return 1e-6 * data_var if np.isfinite(data_var) and data_var > 0 else 1e-6


def _init_params(init, dens: MixtureDensity, random_seed):
    """(weights, means, covariances in sklearn layout) from an EM fit, a dict or None."""
    K, D, ct = dens.n_components, dens.n_features, dens.covariance_type
    if init is None:
        from bayesgmm.em import GaussianMixture

        init = GaussianMixture(
            K, covariance_type=ct, n_init=3, random_state=random_seed,
            reg_covar=initial_reg_covar(dens.X),
        ).fit(dens.X)
    if isinstance(init, dict):
        try:
            w, mu, cov = init["weights"], init["means"], init["covariances"]
        except KeyError as err:
            raise ValueError(
                f"init as a dict needs keys 'weights', 'means', 'covariances'; missing {err}."
            ) from None
    else:
        missing = [a for a in ("weights_", "means_", "covariances_") if not hasattr(init, a)]
        if missing:
            raise TypeError(
                f"init must be a fitted GaussianMixture (with weights_, means_, covariances_), a dict "
                f"or None; got {type(init).__name__} without {missing}. Fit it first: init.fit(X)."
            )
        w, mu, cov = init.weights_, init.means_, init.covariances_
        init_ct = getattr(init, "covariance_type", ct)
        if init_ct != ct:
            raise ValueError(
                f"init was fitted with covariance_type={init_ct!r} but inference uses {ct!r}; "
                "fit EM with the same covariance_type."
            )
    try:
        x0 = dens.pack(w, mu, cov)
    except ValueError as err:
        raise ValueError(f"init does not match the model (K={K}, D={D}, {ct!r}): {err}") from None
    return x0


def _curvature_scale(dens: MixtureDensity, x0, X=None, scale=1.0):
    """Approximate posterior sd per unconstrained coordinate: 1/sqrt(-diag Hessian) at x0.

    Central differences of the analytic gradient (2 * ndim gradient calls).
    """
    h = 1e-4
    n = dens.ndim
    out = np.empty(n)
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        gp = dens.logp_and_grad(x0 + e, X=X, scale=scale)[1][i]
        gm = dens.logp_and_grad(x0 - e, X=X, scale=scale)[1][i]
        out[i] = -(gp - gm) / (2 * h)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = 1.0 / np.sqrt(out)
    bad = ~np.isfinite(sd) | (out <= 0)
    sd[bad] = 0.1
    return np.clip(sd, 1e-8, 10.0)


def _seeds(random_seed, n):
    """n independent 31-bit integer seeds derived from random_seed (None: fresh entropy)."""
    if isinstance(random_seed, np.random.Generator):
        return [int(s) for s in random_seed.integers(0, 2**31 - 1, size=n)]
    if random_seed is not None and not isinstance(random_seed, (int, np.integer)) or isinstance(random_seed, bool):
        raise TypeError(f"random_seed must be an int, a numpy Generator or None, got {random_seed!r}.")
    ss = np.random.SeedSequence(random_seed)
    return [int(c.generate_state(1)[0] % (2**31 - 1)) for c in ss.spawn(n)]


def _coords(dens: MixtureDensity):
    return {
        "component": np.arange(dens.n_components),
        "feature": list(dens.feature_names),
        "feature_bis": list(dens.feature_names),
    }


def _posterior_vars(dens):
    names = ["weights", "means", "covariances", "sds"]
    if dens.covariance_type in ("full", "tied"):
        names.append("correlations")
    return names


def _draws_to_dataset(dens, xs):
    """Dataset (chain, draw, ...) from an array of unconstrained draws (chain, draw, ndim)."""
    C, S, _ = xs.shape
    names = _posterior_vars(dens)
    arrays = {n: [] for n in names}
    for x in xs.reshape(C * S, -1):
        p = dens.unpack(x)
        for n in names:
            arrays[n].append(p[n])
    coords = {"chain": np.arange(C), "draw": np.arange(S), **_coords(dens)}
    data = {
        n: (("chain", "draw", *_DIMS[n]), np.stack(arrays[n]).reshape(C, S, *arrays[n][0].shape)) for n in names
    }
    return xr.Dataset(data, coords=coords)


def _tree(posterior, sample_stats, attrs):
    children = {"posterior": xr.DataTree(posterior)}
    if sample_stats is not None:
        children["sample_stats"] = xr.DataTree(sample_stats)
    tree = xr.DataTree(children=children)
    tree.attrs.update(attrs)
    return tree


def _numeric_only(ds):
    drop = [n for n, v in ds.data_vars.items() if v.dtype.kind not in "biuf"]
    return ds.drop_vars(drop)


def _blas_one_thread():
    """Pin BLAS to one thread: the matrices are small and chains already run in parallel."""
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=1, user_api="blas")
    except Exception:  # pragma: no cover - threadpoolctl is a dependency
        import contextlib

        return contextlib.nullcontext()


# ------------------------------------------------------------------ public
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
    **sampler_kwargs,
) -> xr.DataTree:
    """Sample (NUTS) or approximate (VI) the posterior of a Gaussian mixture.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data (numpy, pandas, xarray); DataFrame columns name the features.
    n_components : int
        Number of components ``K``.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    priors : Priors, dict or None
        Prior configuration (default :class:`~bayesgmm.priors.Priors`).
    init : fitted GaussianMixture, dict or None
        Starting point: an EM fit (``weights_``, ``means_``, ``covariances_``
        in scikit-learn layout, same ``covariance_type``), a dict with keys
        ``weights``, ``means``, ``covariances``, or None to fit
        :class:`bayesgmm.GaussianMixture` (3 restarts) here.
    method : {"nuts", "advi", "fullrank_advi", "minibatch_advi"}, default="nuts"
    draws : int, default=1000
        Draws per chain kept (VI: draws per "chain" from the approximation).
    tune : int, default=1000
        NUTS warm-up steps per chain.  For VI, the number of optimisation
        steps is ``sampler_kwargs["n"]`` if given, else ``max(10 * tune, 5000)``.
    chains : int, default=4
    random_seed : int, numpy Generator or None
        Same seed, same draws.
    progressbar : bool, default=True
    nuts_sampler : {"nutpie", "pymc", "numpyro", "blackjax"}, default="nutpie"
    **sampler_kwargs
        Passed to the sampler: for nutpie e.g. ``target_accept``,
        ``maxdepth``, ``cores``, ``adaptation``; for PyMC's ``pm.sample`` its
        keywords; for ``"advi"``/``"fullrank_advi"`` ``pm.fit``'s keywords;
        for ``"minibatch_advi"``: ``batch_size`` (default ``min(N, 1000)``),
        ``n`` (steps), ``learning_rate`` (default 0.01).  ``jitter`` (default
        0.1) scales the per-chain starting jitter in units of the approximate
        posterior sd.

    Returns
    -------
    xarray.DataTree
        ``posterior``: ``weights`` (chain, draw, component), ``means``
        (chain, draw, component, feature), ``covariances`` (chain, draw,
        component, feature, feature_bis), ``sds`` (chain, draw, component,
        feature), ``correlations`` (full/tied).  ``sample_stats``: the
        sampler's statistics (``diverging``, ``n_steps``, ...), or for VI the
        ``loss`` history (dim ``vi_iteration``).  Root attrs: ``method``,
        ``nuts_sampler``, ``setup_time`` and ``sampling_time`` (seconds) and,
        for NUTS, ``n_steps_total`` (leapfrog steps including warm-up).
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
    if priors is None:
        priors = Priors()
    elif isinstance(priors, dict):
        priors = Priors.from_dict(priors)
    elif not isinstance(priors, (Priors, ResolvedPriors)):
        raise TypeError(f"priors must be a bayesgmm.Priors, a dict of its fields or None, got {type(priors).__name__}.")
    jitter = float(sampler_kwargs.pop("jitter", 0.1))
    if not np.isfinite(jitter) or jitter < 0:
        raise ValueError(f"jitter must be a finite number >= 0, got {jitter}.")
    seed_init, seed_jitter, seed_sampler = _seeds(random_seed, 3)

    t0 = time.perf_counter()
    dens = MixtureDensity(X, n_components, covariance_type, priors)
    x0 = _init_params(init, dens, seed_init)
    common = dict(
        dens=dens, x0=x0, draws=draws, tune=tune, chains=chains, progressbar=progressbar,
        seed_jitter=seed_jitter, seed_sampler=seed_sampler, jitter=jitter, t0=t0,
    )
    if method == "nuts" and nuts_sampler == "nutpie":
        tree = _nuts_nutpie(**common, **sampler_kwargs)
    elif method == "nuts":
        tree = _pymc_sample(X, priors, nuts_sampler=nuts_sampler, **common, **sampler_kwargs)
    elif method in ("advi", "fullrank_advi"):
        tree = _pymc_fit(X, priors, method=method, **common, **sampler_kwargs)
    else:
        tree = _minibatch_advi(**common, **sampler_kwargs)
    tree.attrs.setdefault("method", method)
    tree.attrs["nuts_sampler"] = nuts_sampler if method == "nuts" else ""
    return tree


# ---------------------------------------------------------------- nutpie NUTS
def _nuts_nutpie(*, dens, x0, draws, tune, chains, progressbar, seed_jitter, seed_sampler, jitter, t0, **kwargs):
    import nutpie
    from nutpie.compiled_pyfunc import from_pyfunc

    names = _posterior_vars(dens)
    K, D = dens.n_components, dens.n_features
    shapes = {"weights": (K,), "means": (K, D), "covariances": (K, D, D), "sds": (K, D), "correlations": (K, D, D)}
    with _blas_one_thread():
        sd0 = _curvature_scale(dens, x0) if jitter > 0 else np.zeros(dens.ndim)

    def make_logp_fn():
        def logp(x, **_):
            return dens.logp_and_grad(x)

        return logp

    def make_expand_fn(seed1, seed2, chain):
        def expand(x, **_):
            p = dens.unpack(x)
            return {n: p[n] for n in names}

        return expand

    def make_initial_point_fn(seed):
        rng = np.random.default_rng([seed_jitter, int(seed) % (2**63)])
        return x0 + jitter * sd0 * rng.standard_normal(dens.ndim)

    compiled = from_pyfunc(
        dens.ndim,
        make_logp_fn,
        make_expand_fn,
        [np.dtype("float64")] * len(names),
        [shapes[n] for n in names],
        names,
        coords=_coords(dens),
        dims={n: _DIMS[n] for n in names},
        make_initial_point_fn=make_initial_point_fn,
    )
    kwargs.setdefault("cores", min(chains, os.cpu_count() or 1))
    setup_time = time.perf_counter() - t0
    t1 = time.perf_counter()
    with _blas_one_thread():
        try:
            trace = nutpie.sample(
                compiled,
                draws=draws,
                tune=tune,
                chains=chains,
                seed=seed_sampler,
                progress_bar=progressbar,
                init_mean=x0,
                save_warmup=True,
                **kwargs,
            )
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:  # nutpie's Rust panics are BaseExceptions
            if isinstance(err, Exception) and not type(err).__name__.endswith("PanicException"):
                raise
            raise RuntimeError(
                f"nutpie could not sample this model ({type(err).__name__}: {err}). This "
                "usually means a chain started where the gradient is not finite, e.g. an "
                "empty component of an overfitted mixture. Try another random_state, "
                "fewer components, another jitter or a larger Dirichlet concentration "
                "(Priors(weights_alpha=...))."
            ) from err
    sampling_time = time.perf_counter() - t1
    post = trace["posterior"].to_dataset()
    post = post.drop_attrs() if hasattr(post, "drop_attrs") else post
    stats = _numeric_only(trace["sample_stats"].to_dataset())
    n_steps = int(stats["n_steps"].sum())
    if "warmup_sample_stats" in trace.children:
        n_steps += int(trace["warmup_sample_stats"]["n_steps"].sum())
    return _tree(
        post,
        stats,
        {
            "method": "nuts",
            "setup_time": setup_time,
            "sampling_time": sampling_time,
            "n_steps_total": n_steps,
        },
    )


# ------------------------------------------------------------- PyMC samplers
def _pymc_initvals(dens: MixtureDensity, x):
    """Constrained initial values keyed by the PyMC model's free variable names."""
    K, D, ct = dens.n_components, dens.n_features, dens.covariance_type
    p = dens.unpack(x)
    init = {"weights": p["weights"], "means": p["means"]}
    L = p["chol"]
    tril = np.tril_indices(D)
    if ct == "full":
        if D == 1:
            init["sd"] = L[:, 0, 0]
        else:
            for k in range(K):
                init[f"chol_cov_{k}"] = L[k][tril]
    elif ct == "tied":
        if D == 1:
            init["sd"] = np.asarray(L[0, 0, 0])
        else:
            init["chol_cov"] = L[0][tril]
    elif ct == "diag":
        init["sds"] = p["sds"]
    else:
        init["sd"] = p["sds"][:, 0]
    return init


def _chain_starts(dens, x0, chains, seed_jitter, jitter):
    with _blas_one_thread():
        sd0 = _curvature_scale(dens, x0) if jitter > 0 else np.zeros(dens.ndim)
    rng = np.random.default_rng(seed_jitter)
    return [x0 + jitter * sd0 * rng.standard_normal(dens.ndim) for _ in range(chains)]


def _require_jax(nuts_sampler):
    needed = {"numpyro": ("jax", "numpyro"), "blackjax": ("jax", "blackjax")}[nuts_sampler]
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            f"nuts_sampler={nuts_sampler!r} needs {', '.join(missing)}, which is not installed; "
            "install the JAX extra with `pip install bayesgmm[jax]`, or use nuts_sampler='nutpie' (default)."
        )


def _select_posterior(ds, dens):
    names = _posterior_vars(dens)
    ds = ds[names]
    ds = ds.assign_coords(component=np.arange(dens.n_components))
    return ds


def _pymc_sample(X, priors, *, nuts_sampler, dens, x0, draws, tune, chains, progressbar, seed_jitter,
                 seed_sampler, jitter, t0, **kwargs):
    import pymc as pm

    from bayesgmm.model import build_model

    if nuts_sampler in ("numpyro", "blackjax"):
        _require_jax(nuts_sampler)
    model = build_model(X, dens.n_components, dens.covariance_type, priors)
    starts = [_pymc_initvals(dens, x) for x in _chain_starts(dens, x0, chains, seed_jitter, jitter)]
    setup_time = time.perf_counter() - t0
    t1 = time.perf_counter()
    kwargs.setdefault("init", "adapt_diag")
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*object mode.*")
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=seed_sampler,
            progressbar=progressbar,
            nuts_sampler=nuts_sampler,
            initvals=starts,
            compute_convergence_checks=False,
            **kwargs,
        )
    sampling_time = time.perf_counter() - t1
    post = _select_posterior(idata["posterior"].to_dataset(), dens)
    stats = _numeric_only(idata["sample_stats"].to_dataset()) if "sample_stats" in idata.children else None
    if stats is not None and "diverging" not in stats and "divergences" in stats:
        stats = stats.rename({"divergences": "diverging"})  # the contract's name (as nutpie and ArviZ)
    attrs = {"method": "nuts", "setup_time": setup_time, "sampling_time": sampling_time}
    if stats is not None and "n_steps" in stats:
        attrs["n_steps_posterior"] = int(stats["n_steps"].sum())
    return _tree(post.drop_attrs(), stats, attrs)


# ----------------------------------------------------------------- PyMC VI
def _vi_steps(kwargs, tune):
    n = kwargs.pop("n", None)
    n = max(10 * tune, 5000) if n is None else n
    return _check_int(n, "n", 1)


def _pymc_fit(X, priors, *, method, dens, x0, draws, tune, chains, progressbar, seed_jitter, seed_sampler,
              jitter, t0, **kwargs):
    import pymc as pm

    from bayesgmm.model import build_model

    n = _vi_steps(kwargs, tune)
    model = build_model(X, dens.n_components, dens.covariance_type, priors)
    start = _pymc_initvals(dens, x0)
    if method == "advi" and "start_sigma" not in kwargs:
        # start the approximation's sds at the local posterior curvature
        with _blas_one_thread():
            sd0 = _curvature_scale(dens, x0)
        sigma, offset = {}, 0
        for name, shape in zip(dens.names, dens.shapes):
            size = int(np.prod(shape))
            sigma[name] = sd0[offset : offset + size]
            offset += size
        kwargs["start_sigma"] = sigma  # keyed by value-variable names (== dens.names)
    setup_time = time.perf_counter() - t0
    t1 = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*object mode.*")
        approx = pm.fit(n=n, method=method, random_seed=seed_sampler, start=start, progressbar=progressbar, **kwargs)
        idata = approx.sample(draws=draws * chains, random_seed=seed_jitter)
    sampling_time = time.perf_counter() - t1
    post = _select_posterior(idata["posterior"].to_dataset(), dens)
    post = _reshape_chains(post, chains, draws)
    loss = np.asarray(approx.hist, dtype=float)
    _check_vi_loss(loss, n, method)
    stats = xr.Dataset({"loss": (("vi_iteration",), loss)})
    return _tree(post.drop_attrs(), stats, {"method": method, "setup_time": setup_time,
                                            "sampling_time": sampling_time, "vi_steps": n})


def _reshape_chains(ds, chains, draws):
    out = {}
    for name, da in ds.data_vars.items():
        vals = da.values.reshape(chains, draws, *da.shape[2:])
        out[name] = (("chain", "draw", *da.dims[2:]), vals)
    coords = {k: v for k, v in ds.coords.items() if k not in ("chain", "draw")}
    coords.update(chain=np.arange(chains), draw=np.arange(draws))
    return xr.Dataset(out, coords=coords)


# ------------------------------------------------------- minibatch ADVI
def _minibatch_advi(*, dens, x0, draws, tune, chains, progressbar, seed_jitter, seed_sampler, jitter, t0,
                    batch_size=None, n=None, learning_rate=0.01, **kwargs):
    if kwargs:
        raise TypeError(
            f"unexpected keyword(s) for method='minibatch_advi': {sorted(kwargs)}; "
            "valid: batch_size, n, learning_rate, jitter."
        )
    N = dens.X.shape[0]
    batch_size = min(N, 1000) if batch_size is None else _check_int(batch_size, "batch_size", 1)
    batch_size = min(batch_size, N)
    steps = _vi_steps({"n": n} if n is not None else {}, tune)
    lr = float(learning_rate)
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate}.")
    rng = np.random.default_rng(seed_sampler)
    scale = N / batch_size
    with _blas_one_thread():
        # curvature from a subsample (scaled to N): the full data are not needed for a start
        n_sub = min(N, 20000)
        sub = rng.choice(N, size=n_sub, replace=False) if n_sub < N else slice(None)
        sd0 = _curvature_scale(dens, x0, X=dens.X[sub], scale=N / n_sub)
        setup_time = time.perf_counter() - t0
        t1 = time.perf_counter()
        mu = x0.copy()
        omega = np.log(sd0)
        params = np.concatenate([mu, omega])
        m1 = np.zeros_like(params)
        m2 = np.zeros_like(params)
        b1, b2, eps = 0.9, 0.999, 1e-8
        d = dens.ndim
        losses = np.empty(steps)
        avg = np.zeros_like(params)
        n_avg = 0
        avg_from = steps - max(steps // 5, 1)
        bar = _progress(steps, progressbar, "minibatch ADVI")
        perm, pos = rng.permutation(N), 0
        for it in range(steps):
            if batch_size < N:  # epochs of a random permutation: O(1) per observation
                if pos + batch_size > N:
                    perm, pos = rng.permutation(N), 0
                idx = perm[pos : pos + batch_size]
                pos += batch_size
            else:
                idx = slice(None)
            e = rng.standard_normal(d)
            s = np.exp(params[d:])
            theta = params[:d] + s * e
            lp, g = dens.logp_and_grad(theta, X=dens.X[idx], scale=scale)
            if not np.isfinite(lp):  # rejected draw: skip the update
                losses[it] = np.nan
                continue
            entropy = float(np.sum(params[d:]))
            losses[it] = -(lp + entropy)
            grad = np.concatenate([g, g * s * e + 1.0])  # ascent direction of the ELBO
            m1 = b1 * m1 + (1 - b1) * grad
            m2 = b2 * m2 + (1 - b2) * grad * grad
            step = lr / np.sqrt(1.0 + it / 1000.0)
            params = params + step * (m1 / (1 - b1 ** (it + 1))) / (np.sqrt(m2 / (1 - b2 ** (it + 1))) + eps)
            if it >= avg_from:
                avg += params
                n_avg += 1
            if bar is not None and (it % 100 == 0 or it == steps - 1):
                bar(it + 1, losses[it])
        if bar is not None:
            bar(None, None)
        params = avg / n_avg if n_avg else params
        mu, s = params[:d], np.exp(params[d:])
        draw_rng = np.random.default_rng(seed_jitter)
        xs = mu + s * draw_rng.standard_normal((chains, draws, d))
        post = _draws_to_dataset(dens, xs)
    sampling_time = time.perf_counter() - t1
    _check_vi_loss(losses, steps, "minibatch_advi")
    stats = xr.Dataset({"loss": (("vi_iteration",), losses)})
    return _tree(post, stats, {"method": "minibatch_advi", "setup_time": setup_time,
                               "sampling_time": sampling_time, "vi_steps": steps, "batch_size": batch_size})


def _progress(total, enabled, label):
    """A minimal text progress line on stderr (no extra dependency)."""
    if not enabled:
        return None
    import sys

    def update(i, loss):
        if i is None:
            sys.stderr.write("\n")
            return
        sys.stderr.write(f"\r{label}: {i}/{total} steps, loss {loss:.4g}   ")
        sys.stderr.flush()

    return update
