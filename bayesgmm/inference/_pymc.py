"""NUTS on the PyMC model :func:`bayesgmm.build_model`: ``pm.sample`` with PyMC's, NumPyro's or BlackJAX's sampler.

The model is built with the density's resolved priors, so it is the same
posterior as the nutpie path whatever form the priors were given in.
"""

from __future__ import annotations

import importlib.util
import time
import warnings

import numpy as np

from bayesgmm.inference._results import _numeric_only, _select_posterior, _tree
from bayesgmm.inference._starts import _chain_starts, _pymc_initvals

#: The NUTS samplers of ``pm.sample`` that need JAX, and the modules each needs.
JAX_SAMPLERS = {"numpyro": ("jax", "numpyro"), "blackjax": ("jax", "blackjax")}


def _require_jax(nuts_sampler):
    missing = [m for m in JAX_SAMPLERS[nuts_sampler] if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            f"nuts_sampler={nuts_sampler!r} needs {', '.join(missing)}, which is not installed; "
            "install the JAX extra with `pip install bayesgmm[jax]`, or use nuts_sampler='nutpie' (default)."
        )


def _model(X, dens):
    """The PyMC model of ``dens``'s posterior (same data, type and resolved priors).

    Data with NaN reach here only when ``run_inference(missing="marginalize")``
    allowed them: the model then integrates the missing coordinates out.
    """
    from bayesgmm._data import check_array
    from bayesgmm.model import build_model

    arr, _ = check_array(X, allow_nan=True, allow_dask=False)
    missing = "marginalize" if np.isnan(arr).any() else "error"
    return build_model(X, dens.n_components, dens.covariance_type, dens.priors, missing=missing,
                       noise_hypervolume=dens.noise_hypervolume)


def check_user_model(model, dens):
    """Check that a user's PyMC model keeps the mixture's variables, for ``model=``.

    The model must be one :func:`bayesgmm.build_model` built for the same data,
    ``n_components`` and covariance type and then extended: the free variables
    of the stock model (same names; their priors may be changed), the
    deterministic ``covariances`` and ``pm.Data("X_data")`` holding the data.
    """
    import pymc as pm

    if not isinstance(model, pm.Model):
        raise TypeError(
            "model must be a pymc.Model built by bayesgmm.build_model(X, ...) and extended; "
            f"got {type(model).__name__}."
        )
    have = set(model.named_vars) | {v.name for v in model.value_vars}
    needed = [*dens.names, "covariances", "X_data"]  # value variables of the free ones
    missing = [n for n in needed if n not in have]
    if missing:
        raise ValueError(
            f"model lacks the mixture's variable(s) {missing}: build it with "
            "bayesgmm.build_model(X, n_components, covariance_type) and extend it, keeping "
            "the names of its variables (weights, means, the covariance type's, covariances)."
        )
    data = np.asarray(model["X_data"].get_value())
    if data.shape != dens.X.shape or not np.allclose(data, dens.X):
        raise ValueError(
            f"model's X_data (shape {data.shape}) is not the X given to fit (shape "
            f"{dens.X.shape}); build the model from the same X."
        )
    K = len(model.coords.get("component", ()))
    if K != dens.n_components:
        raise ValueError(
            f"model has {K} components but n_components={dens.n_components}; build it with "
            "the estimator's n_components."
        )


def _pymc_sample(X, *, nuts_sampler, dens, x0, draws, tune, chains, progressbar, seed_jitter,
                 seed_sampler, jitter, t0, model=None, **kwargs):
    import pymc as pm

    if nuts_sampler in JAX_SAMPLERS:
        _require_jax(nuts_sampler)
    if model is None:
        model = _model(X, dens)
    else:
        check_user_model(model, dens)
    x0 = np.asarray(x0, dtype=np.float64)
    points = x0 if x0.ndim == 2 else _chain_starts(dens, x0, chains, seed_jitter, jitter)[0]
    starts = [_pymc_initvals(dens, x) for x in points]
    if nuts_sampler == "nutpie":  # nutpie (compiled PyMC model): one start for every chain
        starts = starts[0]
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
