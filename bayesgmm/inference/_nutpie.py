"""NUTS with nutpie on the mixture's log density: compiled (default) or numpy.

``density="compiled"`` (default): :class:`bayesgmm._compiled.CompiledDensity`,
a numba-compiled density and gradient handed to nutpie as C callbacks (the way
nutpie's own numba backend runs PyMC models), so the chains run in parallel
threads without the GIL. ``density="numpy"``: nutpie calls
:class:`bayesgmm._logdensity.MixtureDensity` through its Python-function
interface (no compilation; each gradient holds the GIL, so chains take turns).
The compiled path falls back to the numpy one, with a
:class:`~bayesgmm.exceptions.PerformanceWarning`, if it cannot be built; a
covariance type without a compiled form uses the numpy one silently. Both
sample the same posterior and expand draws to the same variables. With
``rescale=True`` (opt-in) nutpie samples ``z = (x - x0) / s``, ``x0`` the best EM optimum
and ``s`` its curvature sds, so that its first mass-matrix guess has the
posterior's scale in every coordinate (a warm start of the mass matrix, which
nutpie takes no other way); the draws are mapped back. Each chain
starts at the EM estimate plus a seeded jitter scaled by the local curvature, or,
when ``x0`` has one row per chain, exactly at its own row
(:func:`bayesgmm.inference._starts._chain_starts`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
import warnings

import numpy as np

from bayesgmm._logdensity import MixtureDensity
from bayesgmm.exceptions import PerformanceWarning
from bayesgmm.inference._common import _blas_one_thread
from bayesgmm.inference._results import _DIMS, _coords, _numeric_only, _posterior_vars, _tree
from bayesgmm.inference._starts import _jitter_scale


@functools.lru_cache(maxsize=64)
def _chain_init_seeds(seed, chains):
    """The seed nutpie passes to ``make_initial_point_fn`` for each chain, in chain order.

    nutpie derives it from (seed, chain) but calls the function from its worker
    threads in whatever order they run; a one-step run of a 1-d model on one core
    (about 10 ms) reads them in chain order, so that chain ``c`` gets start ``c``
    whatever the thread order: the same seed gives the same draws.
    """
    import nutpie
    from nutpie.compiled_pyfunc import from_pyfunc

    seen = []

    def make_initial_point_fn(s):
        seen.append(int(s))
        return np.ones(1)

    compiled = from_pyfunc(
        1, lambda: (lambda x, **_: (-0.5 * float(x @ x), -x)),
        lambda *_: (lambda x, **_: {"a": x.copy()}), [np.dtype("float64")], [(1,)], ["a"],
        make_initial_point_fn=make_initial_point_fn,
    )
    nutpie.sample(compiled, draws=1, tune=1, chains=chains, seed=seed, progress_bar=False, cores=1,
                  return_raw_trace=True)
    return tuple(seen[:chains])


DENSITIES = ("compiled", "numpy")


def _compiled_or_none(dens, density):
    """The compiled density of ``dens``, or None for the numpy path (warning if it failed)."""
    if density not in DENSITIES:
        raise ValueError(f"density must be one of {list(DENSITIES)}, got {density!r}.")
    if density == "numpy" or type(dens) is not MixtureDensity:  # a wrapped or modified density: as given
        return None
    if dens._cov.compiled_block(dens.n_components, dens.n_features, dens.priors) is None:
        return None
    try:
        from bayesgmm._compiled import compile_density

        return compile_density(dens)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as err:  # numba missing or a compilation error: sample anyway
        warnings.warn(
            f"The compiled log density could not be built ({type(err).__name__}: {err}); sampling "
            "with the numpy density instead (same posterior, but chains take turns). Pass "
            "density='numpy' to choose it and silence this warning.",
            PerformanceWarning,
            stacklevel=4,
        )
        return None


def _nutpie_compiled_model(cd, names, shapes, coords, dims, make_initial_point_fn):
    """A nutpie model calling ``cd``'s C callbacks (GIL-free, as nutpie's numba backend)."""
    from nutpie import _lib
    from nutpie.sample import CompiledModel

    @dataclasses.dataclass(frozen=True)
    class _CompiledMixture(CompiledModel):
        _cd: object
        _n_dim: int
        _names: list
        _var_shapes: list
        _coords: dict
        _init: object

        @property
        def n_dim(self):
            return self._n_dim

        @property
        def shapes(self):
            return dict(zip(self._names, self._var_shapes))

        @property
        def coords(self):
            return self._coords

        def _make_model(self, init_mean):
            cd = self._cd
            logp_fn = _lib.LogpFunc(cd.logp_address, cd.buffer_address, cd)
            expand_fn = _lib.ExpandFunc(cd.ndim, cd.n_expanded, cd.expand_address, cd.buffer_address, cd)
            dim_sizes = {name: len(vals) for name, vals in self._coords.items()}
            variables = _lib.PyVariable.new_variables(
                self._names, ["float64"] * len(self._names), self._var_shapes, dim_sizes, self.dims
            )
            return _lib.PyMcModel(
                logp_fn, expand_fn, variables, self._n_dim, dim_sizes, self._coords, self._init, None
            )

        def _make_sampler(self, settings, init_mean, cores, progress_type, extra_callback,
                          extra_callback_rate, store):
            return _lib.PySampler.from_pymc(
                settings, cores, self._make_model(init_mean), progress_type, extra_callback,
                extra_callback_rate, store,
            )

    return _CompiledMixture(
        dims=dims, _cd=cd, _n_dim=cd.ndim, _names=list(names), _var_shapes=[tuple(shapes[n]) for n in names],
        _coords=coords, _init=make_initial_point_fn,
    )


#: Default of ``rescale`` (the mass-matrix warm start; see :func:`_nuts_nutpie`). Off:
#: on standardised wine (K=3, 4 x (1000 + 2000)) it left one chain in a second mode
#: for each of 3 seeds (R-hat 1.34-1.54), where sampling ``x`` gave 1.002-1.005.
RESCALE_DEFAULT = False


def _rescaling(dens, x0, sd0):
    """``(shift, scale)`` of the sampler coordinates: the start and its curvature sds (1 where unusable)."""
    scale = np.array(sd0 if sd0 is not None else _jitter_scale(dens, x0, 1.0), dtype=np.float64)
    scale[~np.isfinite(scale) | (scale <= 0)] = 1.0
    return np.array(x0, dtype=np.float64), scale


def _nuts_nutpie(*, dens, x0, draws, tune, chains, progressbar, seed_jitter, seed_sampler, jitter, t0,
                 density="compiled", rescale=None, center=None, **kwargs):
    """nutpie's NUTS; ``rescale=True`` samples ``z = (x - c) / s``, ``s`` the curvature sds at ``c``
    (``center``: the best EM optimum, as :func:`run_inference` passes it; default the first start).

    nutpie (0.16) takes no initial mass matrix: it starts from one fitted to the
    first gradient. Rescaling the coordinates by the local posterior sds at the EM
    start makes the posterior's scale about 1 in every coordinate, the scale of
    that first guess, so warm-up starts from a matched mass matrix (the Jacobian
    is constant: same posterior). The draws are expanded from ``x``.
    """
    import nutpie
    from nutpie.compiled_pyfunc import from_pyfunc

    names = _posterior_vars(dens)
    K, D = dens.n_components, dens.n_features
    shapes = {"weights": (K,), "means": (K, D), "covariances": (K, D, D), "sds": (K, D), "correlations": (K, D, D)}
    x0 = np.asarray(x0, dtype=np.float64)
    per_chain = x0.ndim == 2  # one start per chain (already jittered)
    if per_chain:
        starts, x0 = x0, x0[0]
        chain_of_seed = {s: c for c, s in enumerate(_chain_init_seeds(int(seed_sampler), chains))}
    sd0_cache = []  # the jitter scale: for one start, or for nutpie's retries of a failed one

    def make_logp_fn():
        if scale is not None:
            def logp_z(z, **_):
                lp, g = dens.logp_and_grad(shift + scale * z)
                return lp, scale * g

            return logp_z

        def logp(x, **_):
            return dens.logp_and_grad(x)

        return logp

    def make_expand_fn(seed1, seed2, chain):
        def expand(x, **_):
            p = dens.unpack(x if scale is None else shift + scale * x)
            return {n: p[n] for n in names}

        return expand

    def make_initial_point_fn(seed):
        if per_chain and int(seed) in chain_of_seed:
            return starts[chain_of_seed[int(seed)]].copy()
        # one start for all chains, or nutpie's retry after a failed start: jitter the best
        if not sd0_cache:
            sd0_cache.append(_jitter_scale(dens if cd is None else cd, x0, jitter))
        rng = np.random.default_rng([seed_jitter, int(seed) % (2**63)])
        return x0 + jitter * sd0_cache[0] * rng.standard_normal(dens.ndim)

    rescale = RESCALE_DEFAULT if rescale is None else rescale
    if not isinstance(rescale, (bool, np.bool_)):
        raise TypeError(f"rescale must be True or False, got {rescale!r}.")
    cd = _compiled_or_none(dens, density)
    if not per_chain:  # 2 ndim gradients: compiled if we can
        sd0_cache.append(_jitter_scale(dens if cd is None else cd, x0, jitter))
    shift = scale = None
    if rescale:
        if center is not None:  # the chain starts' curvature, cached on dens: no new gradients
            shift, scale = _rescaling(dens if cd is None else cd, np.asarray(center, dtype=np.float64), None)
        else:
            shift, scale = _rescaling(dens if cd is None else cd, x0, sd0_cache[0] if sd0_cache and jitter > 0 else None)
        if cd is not None:
            cd = cd.rescaled(shift, scale)

    def make_z_initial_point_fn(seed):
        x = make_initial_point_fn(seed)
        return x if scale is None else (x - shift) / scale

    dims = {n: _DIMS[n] for n in names}
    compiled = None
    if cd is not None:
        try:
            compiled = _nutpie_compiled_model(cd, names, shapes, _coords(dens), dims, make_z_initial_point_fn)
        except Exception as err:  # an incompatible nutpie: the Python-function path still works
            warnings.warn(
                f"nutpie could not take the compiled log density ({type(err).__name__}: {err}); "
                "sampling with the numpy density instead. Pass density='numpy' to silence this warning.",
                PerformanceWarning,
                stacklevel=3,
            )
            cd = None
    if compiled is None:
        compiled = from_pyfunc(
            dens.ndim,
            make_logp_fn,
            make_expand_fn,
            [np.dtype("float64")] * len(names),
            [shapes[n] for n in names],
            names,
            coords=_coords(dens),
            dims=dims,
            make_initial_point_fn=make_z_initial_point_fn,
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
                init_mean=x0 if scale is None else (x0 - shift) / scale,
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
            "density": "numpy" if cd is None else "compiled",
            "rescaled": bool(rescale),
        },
    )
