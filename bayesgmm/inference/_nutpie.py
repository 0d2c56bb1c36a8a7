"""NUTS with nutpie on the numpy density :class:`bayesgmm._logdensity.MixtureDensity`.

No compilation: nutpie calls the analytic log density and gradient through its
Python-function interface; each chain starts at the EM estimate plus a seeded
jitter scaled by the local curvature, or, when ``x0`` has one row per chain,
exactly at its own row (:func:`bayesgmm.inference._starts._chain_starts`).
"""

from __future__ import annotations

import functools
import os
import time

import numpy as np

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


def _nuts_nutpie(*, dens, x0, draws, tune, chains, progressbar, seed_jitter, seed_sampler, jitter, t0, **kwargs):
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
    sd0_cache = [] if per_chain else [_jitter_scale(dens, x0, jitter)]  # per chain: only for retries

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
        if per_chain and int(seed) in chain_of_seed:
            return starts[chain_of_seed[int(seed)]].copy()
        # one start for all chains, or nutpie's retry after a failed start: jitter the best
        if not sd0_cache:
            sd0_cache.append(_jitter_scale(dens, x0, jitter))
        rng = np.random.default_rng([seed_jitter, int(seed) % (2**63)])
        return x0 + jitter * sd0_cache[0] * rng.standard_normal(dens.ndim)

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
