"""Sampling benchmark: the compiled density and parallel chains; bayesgmm vs plain PyMC.

Default run (``python benchmarks/sampling.py``; ~5-10 min on 2 shared cores):

``grad``
    Per-gradient time (logp + gradient, one thread) of the numpy density
    (:class:`bayesgmm._logdensity.MixtureDensity`, the old nutpie path) and the
    compiled one (:class:`bayesgmm._compiled.CompiledDensity`, the default)
    for N in {1e3, 1e4, 1e5}, D in {2, 10}, K in {3, 10}, full and diag; the
    minimum over repeats of the thread's CPU time (steadier than wall time on a
    loaded machine). ``limit`` is the flop count of the one-product expansion
    of the likelihood and its statistics (``4 K (P + D + 1) N`` flops, ``P`` the
    number of second-moment features: ``D (D + 1) / 2`` full, ``D`` diag)
    divided by the matrix-product throughput measured in the same run on one
    thread (1000 x 1000 ``A @ B``); ``x limit`` = compiled time / limit. The
    exponentials and logarithms (``K + 1`` per observation) are not in that count
    and dominate at small D; ``x limit (all flops)`` also counts their polynomial
    evaluations and the element-wise steps (:func:`all_flops`). ``floor`` is a
    lower bound on any evaluation that uses exponentials no faster than the ones
    measured in the same run (the compiled density's own and numpy's, the faster;
    :func:`exp_throughput`): the expansion's flops at the matrix-product rate plus
    the ``K N`` exponentials, nothing else; ``floor x limit`` = floor / limit.
    Above 3 the "within 3x of the limit" target cannot be met with these
    exponentials; near 3 (2.5-2.8 at ``D = 2`` on a Zen 4) it leaves almost no
    time for the rest of the evaluation (maximum, normalisation, the centring
    ``y = A (x - mu)`` that keeps tight clusters accurate).
``chains``
    Wall time of nutpie's sampling with 1 chain and with 2 chains on 2 cores
    (same draws per chain), numpy and compiled density.
``converge``
    Time to a converged posterior in a fresh process: imports, EM
    (``GaussianMixture``, 3 starts), compile and sampling (2 chains x (500 tune
    + draws)), the draws doubled until max R-hat <= 1.01 and min bulk ESS >=
    400 for weights and means (every attempt counted), at N=1000, D=2, K=3 and
    N=1e4, D=5, K=4, for both densities; then a second model in the same
    process (new data, K+1): its setup (compile) and sampling time.
``compile``
    The compiled density's first build in a fresh process with an empty numba
    cache (``NUMBA_CACHE_DIR`` set to a new temporary folder: cold) and again
    with that cache (warm).
``warmstart`` (not in the default run)
    The mass-matrix warm start (``rescale=True``: nutpie samples coordinates
    rescaled by the curvature sds at the EM start) against nutpie's own first
    guess, for several warm-up lengths: max R-hat, min bulk ESS, warm-up and
    draw leapfrog steps, on separated data (N=1000, D=2, K=3; N=1e4, D=5, K=4)
    and on the small case with feature scales 1e-3 and 1e3.

``--compare-plain`` runs the earlier comparison with the plain PyMC mixture
model instead (both samplers 2 chains x (500 tune + 500 draws); plain PyMC
compiled by nutpie's PyMC backend, cold: in an empty PyTensor compile directory
unless ``--plain-warm-cache``): compile time, sampling time, time per leapfrog step,
R-hat, ESS, and the wall time to a converged posterior.

Usage::

    python benchmarks/sampling.py                         # grad, chains, converge, compile
    python benchmarks/sampling.py --sections grad,chains  # a subset
    python benchmarks/sampling.py --quick                 # N <= 1e4 in the grid, small problem only
    python benchmarks/sampling.py --sections grad --cells 1e4:10:3:full,1e5:10:3:full  # some cells
    python benchmarks/sampling.py --compare-plain [--quick] [--skip-plain]
    python benchmarks/sampling.py --sections chains,converge --separation 2   # overlapping components
    python benchmarks/sampling.py --compare-plain --plain-big-sample --separation 2

``--separation`` sets how far apart the components' centres are (:func:`make_data`:
component ``k`` on axis ``k % D`` at ``separation * (1 + k // D)``, sds about 1): 8,
the default, gives separated components; 2 overlapping ones (at N=1000, D=2, K=3 about
a third of the observations have no component with responsibility above 0.9), whose
posteriors are more correlated and take the sampler more steps.

Machines shared with other work: the header prints the load average; compare
ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np

RHAT_MAX = 1.01
ESS_MIN = 400


#: distance of the centres from the origin along their axes (``make_data``): 8 (the
#: default) gives separated components (sds about 1); ``--separation 2`` overlapping ones
SEPARATED = 8.0


def make_data(N, D, K, seed, separation=SEPARATED):
    rng = np.random.default_rng(seed)
    # centres on a scaled simplex-like layout: component k on axis k % D at
    # separation * (1 + k // D), sds about 1 (well separated at the default 8)
    means = np.zeros((K, D))
    for k in range(K):
        means[k, k % D] = separation * (1 + k // D)
    means += rng.normal(scale=0.5, size=(K, D))
    L = []
    for _ in range(K):
        B = rng.normal(scale=0.3, size=(D, D))
        cov = B @ B.T + np.eye(D) * rng.uniform(0.5, 1.5)
        L.append(np.linalg.cholesky(cov))
    L = np.array(L)
    weights = rng.dirichlet(np.full(K, 10.0))
    z = rng.choice(K, size=N, p=weights)
    X = means[z] + np.einsum("nij,nj->ni", L[z], rng.normal(size=(N, D)))
    return X, weights, means, L @ np.swapaxes(L, 1, 2)


def diagnostics(post):
    import arviz_stats as azs

    rhat = azs.rhat(post)
    ess = azs.ess(post, method="bulk")
    rmax = max(float(np.nanmax(rhat[v].values)) for v in rhat.data_vars)
    emin = min(float(np.nanmin(ess[v].values)) for v in ess.data_vars)
    return rmax, emin


# ------------------------------------------------------------------ bayesgmm
def fit_em(X, K, seed):
    from threadpoolctl import threadpool_limits

    from bayesgmm.em import GaussianMixture

    t = time.perf_counter()
    with threadpool_limits(1, user_api="blas"):
        em = GaussianMixture(K, covariance_type="full", n_init=3, random_state=seed).fit(X)
    return em, time.perf_counter() - t


def run_bayesgmm(X, K, em, draws, tune, seed, density="compiled", chains=2, **kwargs):
    from bayesgmm.inference import run_inference

    tree = run_inference(X, K, "full", None, em, draws=draws, tune=tune, chains=chains, random_seed=seed,
                         progressbar=False, cores=chains, density=density, **kwargs)
    post = tree["posterior"].to_dataset()[["weights", "means", "sds"]]
    rmax, emin = diagnostics(post)
    return {
        "compile": tree.attrs["setup_time"],
        "sampling": tree.attrs["sampling_time"],
        "n_steps": tree.attrs["n_steps_total"],
        "warmup_steps": tree.attrs["n_steps_total"] - int(tree["sample_stats"]["n_steps"].sum()),
        "divergences": int(tree["sample_stats"]["diverging"].sum()),
        "rhat_max": rmax,
        "ess_min": emin,
        "draws": draws,
    }


def grad_time_bayesgmm(X, K, truth, repeats=30, density="compiled"):
    """Median logp+gradient time of the density nutpie calls (``density``: "compiled" or "numpy")."""
    from threadpoolctl import threadpool_limits

    from bayesgmm._logdensity import MixtureDensity

    dens = MixtureDensity(X, K, "full")
    x = dens.pack(*truth)
    if density == "compiled":
        from bayesgmm._compiled import compile_density

        dens = compile_density(dens)
    ts = []
    with threadpool_limits(1, user_api="blas"):
        for _ in range(repeats):
            t = time.perf_counter()
            dens.logp_and_grad(x)
            ts.append(time.perf_counter() - t)
    return float(np.median(ts))


# ------------------------------------------------------------------ plain PyMC
def plain_model(X, K, truth):
    import pymc as pm

    from bayesgmm.priors import Priors

    rp = Priors().resolve(X, K)
    N, D = X.shape
    with pm.Model() as model:
        w = pm.Dirichlet("weights", a=rp.weights_alpha)
        comps = []
        for k in range(K):
            mu = pm.Normal(f"mu_{k}", mu=rp.mean_loc, sigma=rp.mean_sd, shape=D)
            chol, _, _ = pm.LKJCholeskyCov(
                f"chol_{k}", n=D, eta=rp.lkj_eta, sd_dist=pm.HalfNormal.dist(sigma=rp.sd_sigma, shape=D)
            )
            comps.append(pm.MvNormal.dist(mu=mu, chol=chol))
        pm.Mixture("X", w=w, comp_dists=comps, observed=X)
    weights, means, covs = truth
    init = {"weights": weights}
    for k in range(K):
        init[f"mu_{k}"] = means[k]
        L = np.linalg.cholesky(covs[k])
        init[f"chol_{k}"] = L[np.tril_indices(D)]
    return model, init


def grad_time_plain(X, K, truth, repeats=30):
    """Median logp+gradient time of the plain model, compiled by PyTensor's numba backend."""
    from pymc.blocking import DictToArrayBijection

    model, init = plain_model(X, K, truth)
    f = model.logp_dlogp_function(ravel_inputs=True, mode="NUMBA")
    x = DictToArrayBijection.map(model.initial_point()).data
    f(x)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        f(x)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def compile_plain(X, K, truth):
    import nutpie

    t = time.perf_counter()
    model, init = plain_model(X, K, truth)
    compiled = nutpie.compile_pymc_model(model, initial_points=init, jitter_rvs=set())
    return compiled, time.perf_counter() - t


def run_plain(X, K, truth, draws, tune, seed, compiled=None):
    import nutpie

    t = time.perf_counter()
    if compiled is None:
        model, init = plain_model(X, K, truth)
        compiled = nutpie.compile_pymc_model(model, initial_points=init, jitter_rvs=set())
    compile_time = time.perf_counter() - t
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = nutpie.sample(compiled, draws=draws, tune=tune, chains=2, cores=2, seed=seed, progress_bar=False)
    sampling = time.perf_counter() - t
    post = tr["posterior"].to_dataset()
    keep = ["weights"] + [v for v in post.data_vars if v.startswith("mu_") or v.endswith("_stds")]
    rmax, emin = diagnostics(post[keep])
    n_steps = int(tr["sample_stats"]["n_steps"].sum())
    if "warmup_sample_stats" in tr.children:
        n_steps += int(tr["warmup_sample_stats"]["n_steps"].sum())
    return {
        "compile": compile_time,
        "sampling": sampling,
        "n_steps": n_steps,
        "divergences": int(tr["sample_stats"]["diverging"].sum()),
        "rhat_max": rmax,
        "ess_min": emin,
        "draws": draws,
    }, compiled


def until_converged(first, rerun, max_draws):
    """Double the draws until converged; wall time = compile + every attempt's sampling."""
    res = first
    wall = res["compile"] + res["sampling"]
    attempts = [res]
    while not (res["rhat_max"] <= RHAT_MAX and res["ess_min"] >= ESS_MIN) and res["draws"] * 2 <= max_draws:
        res = rerun(res["draws"] * 2)
        wall += res["sampling"]
        attempts.append(res)
    converged = res["rhat_max"] <= RHAT_MAX and res["ess_min"] >= ESS_MIN
    return wall, converged, res["draws"], attempts


# ------------------------------------------------------------------ compile times
FRESH = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import numpy as np
    from bayesgmm._logdensity import MixtureDensity
    from bayesgmm.inference import _nuts_nutpie  # imports nutpie lazily below
    import nutpie
    from nutpie.compiled_pyfunc import from_pyfunc
    t1 = time.perf_counter()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 2))
    dens = MixtureDensity(X, 3, "full")
    x0 = dens.pack(np.ones(3) / 3, rng.normal(size=(3, 2)), np.stack([np.eye(2)] * 3))
    dens.logp_and_grad(x0)
    m = from_pyfunc(dens.ndim, lambda: (lambda x, **k: dens.logp_and_grad(x)),
                    lambda *a: (lambda x, **k: {"w": dens.unpack(x)["weights"]}),
                    [np.dtype("float64")], [(3,)], ["w"])
    t2 = time.perf_counter()
    print(t2 - t0, t2 - t1)
    """
)


def compile_times():
    """(fresh process incl. imports, fresh process excl. imports, second model in-process)."""
    out = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True, check=True)
    fresh_total, fresh_compile = map(float, out.stdout.split())
    import nutpie  # noqa: F401

    from bayesgmm._logdensity import MixtureDensity

    rng = np.random.default_rng(1)
    X2 = rng.normal(size=(5000, 3))
    t = time.perf_counter()
    dens = MixtureDensity(X2, 5, "full")
    x0 = dens.pack(np.ones(5) / 5, rng.normal(size=(5, 3)), np.stack([np.eye(3)] * 5))
    dens.logp_and_grad(x0)
    second = time.perf_counter() - t
    return fresh_total, fresh_compile, second


def pymc_path_compile_times():
    """build_model + compile logp/dlogp (the PyMC path), first and second model in this process."""
    from bayesgmm.model import build_model

    rng = np.random.default_rng(2)
    out = []
    for N, D, K in [(1000, 2, 3), (2000, 3, 4)]:
        X = rng.normal(size=(N, D))
        t = time.perf_counter()
        m = build_model(X, K, "full")
        m.compile_logp()
        m.compile_dlogp()
        out.append(time.perf_counter() - t)
    return out


def fmt(x, unit=""):
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if abs(x) >= 100:
        return f"{x:.0f}{unit}"
    if abs(x) >= 1:
        return f"{x:.2f}{unit}"
    return f"{x:.3g}{unit}"


def compare_plain(args):
    """The comparison with the plain PyMC mixture model (``--compare-plain``)."""
    import os

    from threadpoolctl import threadpool_info

    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {os.cpu_count()} CPUs; load average {os.getloadavg()}; "
          "bayesgmm on its default (compiled) density", flush=True)
    if not args.plain_warm_cache:
        # plain PyMC compiled cold: PyTensor keeps compiled code, numba's included, under
        # base_compiledir and reuses it for any later model of the same structure (a model
        # with the same N, D, K compiled in 14 s instead of 29-35 s on 2 Dec 2026); an
        # empty one for this run (before pytensor is imported)
        import tempfile

        cold = tempfile.mkdtemp(prefix="pytensor_cold_")
        os.environ["PYTENSOR_FLAGS"] = ",".join(
            f for f in (os.environ.get("PYTENSOR_FLAGS"), f"base_compiledir={cold}") if f)
        print(f"plain PyMC compiled cold: PYTENSOR_FLAGS={os.environ['PYTENSOR_FLAGS']}", flush=True)
    # imports are not compile time: load everything both paths need first
    t = time.perf_counter()
    import nutpie  # noqa: F401
    import pymc  # noqa: F401

    import bayesgmm.em  # noqa: F401
    import bayesgmm.inference  # noqa: F401

    print(f"imports (pymc, nutpie, arviz, bayesgmm): {time.perf_counter() - t:.2f} s", flush=True)

    problems = [(1000, 2, 3)] if args.quick else [(1000, 2, 3), (10000, 5, 4)]
    if args.problems:
        problems = [tuple(int(v) for v in p.split(",")) for p in args.problems.split(";")]
    results = {}
    print(f"data: make_data(..., separation={args.separation:g})"
          f"{' (separated)' if args.separation == SEPARATED else ''}", flush=True)
    for N, D, K in problems:
        X, w, mu, cov = make_data(N, D, K, args.seed, args.separation)
        truth = (w, mu, cov)
        name = f"N={N}, D={D}, K={K}"
        print(f"\n== {name} ==", flush=True)
        row = {}
        em, em_time = fit_em(X, K, args.seed)
        first = run_bayesgmm(X, K, em, 500, 500, args.seed)
        wall, conv, nd, att = until_converged(
            first, lambda d: run_bayesgmm(X, K, em, d, 500, args.seed), args.max_draws
        )
        row["bayesgmm"] = dict(first, em_time=em_time, wall_to_converged=wall + em_time, converged=conv,
                               draws_needed=nd, attempts=len(att), ess_min_final=att[-1]["ess_min"],
                               rhat_max_final=att[-1]["rhat_max"], grad_ms=1e3 * grad_time_bayesgmm(X, K, truth),
                               grad_numpy_ms=1e3 * grad_time_bayesgmm(X, K, truth, density="numpy"))
        print("bayesgmm:", json.dumps(row["bayesgmm"], default=float), flush=True)
        if not args.skip_plain:
            grad_ms = 1e3 * grad_time_plain(X, K, truth)
            if N <= 2000 or args.plain_big_sample:
                first, compiled = run_plain(X, K, truth, 500, 500, args.seed)
                wall, conv, nd, att = until_converged(
                    first, lambda d: run_plain(X, K, truth, d, 500, args.seed, compiled)[0], args.max_draws
                )
                row["plain"] = dict(first, wall_to_converged=wall, converged=conv, draws_needed=nd,
                                    attempts=len(att), ess_min_final=att[-1]["ess_min"],
                                    rhat_max_final=att[-1]["rhat_max"], grad_ms=grad_ms, estimated=False)
            else:
                # Too slow to sample on a shared 2-core machine: compile for real, and estimate the
                # sampling time as (its measured logp+gradient time) x (bayesgmm's leapfrog steps on
                # the same posterior; at N=1000 both samplers take about the same number of steps).
                compiled, compile_time = compile_plain(X, K, truth)
                b = row["bayesgmm"]
                sampling = grad_ms * 1e-3 * b["n_steps"]
                row["plain"] = dict(compile=compile_time, sampling=sampling, n_steps=b["n_steps"],
                                    divergences=None, rhat_max=None, ess_min=None, draws=500,
                                    wall_to_converged=compile_time + sampling * b["draws_needed"] / 500,
                                    converged=None, draws_needed=b["draws_needed"], grad_ms=grad_ms,
                                    estimated=True)
            print("plain:", json.dumps(row["plain"], default=float), flush=True)
        results[name] = row

    fresh_total, fresh_compile, second = compile_times()
    pm_first, pm_second = pymc_path_compile_times()

    # ---------------------------------------------------------------- table
    print("\nSampling: 2 chains x (500 tune + 500 draws). per leapfrog = sampling time / all leapfrog steps "
          "(warm-up included); grad = median logp+gradient evaluation outside the sampler (bayesgmm: the "
          "compiled density, numpy density in the JSON; plain: PyTensor numba); to converged = EM + compile + sampling until max R-hat <= 1.01 and min bulk ESS >= 400 "
          "(draws doubled when needed, every attempt counted); * = estimated (see the benchmark's notes)")
    hdr = ("problem", "model", "compile s", "sampling s", "per leapfrog ms", "grad ms", "max R-hat", "min ESS",
           "ESS/s", "div", "to converged s", "draws needed")
    rows = []
    for name, row in results.items():
        for label, r in row.items():
            est = "*" if r.get("estimated", False) else ""
            rows.append((
                name, label, fmt(r["compile"]), fmt(r["sampling"]) + est,
                fmt(1e3 * r["sampling"] / r["n_steps"]) + est, fmt(r["grad_ms"]),
                "-" if r["rhat_max"] is None else f"{r['rhat_max']:.3f}", fmt(r["ess_min"]),
                "-" if r["ess_min"] is None else fmt(r["ess_min"] / r["sampling"]),
                "-" if r["divergences"] is None else str(r["divergences"]),
                fmt(r["wall_to_converged"]) + est, str(r["draws_needed"]),
            ))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)]
    print(" | ".join(h.ljust(wd) for h, wd in zip(hdr, widths)))
    print("-+-".join("-" * wd for wd in widths))
    for r in rows:
        print(" | ".join(c.ljust(wd) for c, wd in zip(r, widths)))
    for name, row in results.items():
        if "plain" in row:
            b, p = row["bayesgmm"], row["plain"]
            est = " (plain sampling estimated)" if p.get("estimated") else ""
            line = (f"{name}: plain/bayesgmm -- wall to converged {p['wall_to_converged'] / b['wall_to_converged']:.1f}x, "
                    f"per leapfrog {(p['sampling'] / p['n_steps']) / (b['sampling'] / b['n_steps']):.1f}x, "
                    f"logp+grad {p['grad_ms'] / b['grad_ms']:.1f}x")
            if p["ess_min"]:
                line += f", ESS/s {(b['ess_min'] / b['sampling']) / (p['ess_min'] / p['sampling']):.1f}x"
            print(line + est)
    print(f"\nbayesgmm model 'compile' (MixtureDensity + nutpie model): fresh process {fresh_total:.2f} s "
          f"including imports ({fresh_compile * 1e3:.1f} ms excluding imports); "
          f"second model in-process (new data N=5000, D=3, K=5): {second * 1e3:.1f} ms")
    print(f"PyMC path (build_model + compile logp & dlogp): first {pm_first:.2f} s, second (new data, K=4) {pm_second:.2f} s")
    blas = [(i.get("internal_api"), i.get("num_threads")) for i in threadpool_info()]
    print(f"BLAS: {blas}")
    print(f"load average at the end {os.getloadavg()}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"results": results, "fresh_total": fresh_total, "fresh_compile": fresh_compile,
                       "second_compile": second, "pymc_compile": [pm_first, pm_second]}, fh, indent=2, default=float)


# ------------------------------------------------------------------ the compiled density
def matmul_gflops():
    """Matrix-product throughput on one thread (GFLOP/s, best of 5 of a 1000 x 1000 product)."""
    from threadpoolctl import threadpool_limits

    a, b = np.random.default_rng(0).random((2, 1000, 1000))
    with threadpool_limits(1, user_api="blas"):
        a @ b
        best = min(_cpu(lambda: a @ b) for _ in range(5))
    return 2e9 / best / 1e9


def _cpu(f):
    t = time.thread_time()
    f()
    return time.thread_time() - t


def _min_cpu(f, budget, max_repeats=200):
    """Minimum thread CPU time of ``f`` over repeats (at least 3, until ``budget`` seconds are spent)."""
    ts, spent = [], 0.0
    while len(ts) < 3 or (spent < budget and len(ts) < max_repeats):
        t = _cpu(f)
        ts.append(t)
        spent += t
    return min(ts)


def expansion_flops(N, D, K, cov):
    P = D * (D + 1) // 2 if cov == "full" else D
    return 4 * K * (P + D + 1) * N


#: floating-point operations of one exponential as the compiled density evaluates it
#: (:func:`bayesgmm._exp.exp_nonpositive`: clamp, range reduction in 5, the degree-11
#: polynomial as pairs in Horner's scheme: 1 product, 10 multiply-adds and an addition =
#: 22, scaling, the flush below -600), within about 1 ulp, as libm's
#: (``tests/test_exp.py``). In Estrin's scheme (before 3 Dec 2026: 3 products) it was 32;
#: the degree-13 Taylor polynomial before 2 Dec 2026 (3 products, 13 multiply-adds) made
#: it 37. The logarithm is one per run of a few hundred observations (of their
#: product): 1 multiplication per observation.
EXP_FLOPS = 30
LOG_FLOPS = 1


def all_flops(N, D, K, cov):
    """:func:`expansion_flops` plus the per-observation work that is not a matrix
    product: ``K`` exponentials, the product for the logarithm, and the element-wise
    steps of the responsibilities (max, subtract, sum, reciprocal, normalise, the
    responsibility sums: ``5 K + 3``)."""
    return expansion_flops(N, D, K, cov) + (K * EXP_FLOPS + LOG_FLOPS + 5 * K + 3) * N


def exp_throughput(n=100_000):
    """Time per exponential (s) on one thread, vectorised, the best of: the compiled density's
    own (:func:`bayesgmm._exp.exp_nonpositive` in a loop that writes ``n`` results, as
    the density's exponential pass does) and numpy's ``np.exp`` (with AVX-512 where the CPU
    has it). Returns ``(compiled, numpy)``, each the minimum over repeats."""
    import numba

    from bayesgmm._exp import exp_nonpositive

    @numba.njit(fastmath={"contract", "reassoc"})
    def exp_pass(a, out):
        for i in range(a.shape[0]):
            out[i] = exp_nonpositive(a[i])

    a = -30.0 * np.random.default_rng(0).random(n)
    out = np.empty(n)
    exp_pass(a, out)
    t_c = _min_cpu(lambda: exp_pass(a, out), 0.5) / n
    t_n = _min_cpu(lambda: np.exp(a, out=out), 0.5) / n
    return t_c, t_n


def grad_cells(Ns, dims=(2, 10)):
    """The per-gradient grid's cells: ``(N, D, K, cov, MixtureDensity, point)`` for N in ``Ns``,
    D in ``dims``, K in (3, 10), full and diag, at the data's true parameters with the means moved."""
    from bayesgmm._logdensity import MixtureDensity

    rng = np.random.default_rng(0)
    for N in Ns:
        for D in dims:
            for K in (3, 10):
                X, w, mu, cov = make_data(N, D, K, 0)
                for ct in ("full", "diag"):
                    dens = MixtureDensity(X, K, ct)
                    full = cov if ct == "full" else np.stack([np.diag(np.diag(c)) for c in cov])
                    yield N, D, K, ct, dens, dens.pack(w, mu + rng.normal(scale=0.1, size=mu.shape), full)


def grad_grid(quick, budget=1.0, cells=None):
    from threadpoolctl import threadpool_limits

    from bayesgmm._compiled import _logp_grad, compile_density

    gf = matmul_gflops()
    print(f"matrix-product throughput, one thread: {gf:.1f} GFLOP/s", flush=True)
    t_exp_c, t_exp_n = exp_throughput()
    t_exp = min(t_exp_c, t_exp_n)
    print(f"exponential, one thread, vectorised: compiled {t_exp_c * 1e9:.3f} ns, numpy {t_exp_n * 1e9:.3f} ns",
          flush=True)
    hdr = ("N", "D", "K", "cov", "numpy us", "compiled us", "speedup", "limit us", "x limit",
           "limit us (all flops)", "x limit (all flops)", "floor us", "floor x limit")
    print(" | ".join(hdr), flush=True)
    rows = []
    Ns = [1000, 10000] if quick else [1000, 10000, 100000]
    if cells:
        Ns = sorted({c[0] for c in cells})
    with threadpool_limits(1, user_api="blas"):
        for N, D, K, ct, dens, x in grad_cells(Ns):
            if cells and (N, D, K, ct) not in cells:
                continue
            cd = compile_density(dens)
            g = np.empty(dens.ndim)
            t_c = _min_cpu(lambda: _logp_grad(cd.buffer, x, g), budget)
            t_n = _min_cpu(lambda: dens.logp_and_grad(x), budget, max_repeats=50)
            lim = expansion_flops(N, D, K, ct) / (gf * 1e9)
            lim_all = all_flops(N, D, K, ct) / (gf * 1e9)
            floor = lim + K * N * t_exp
            r = dict(N=N, D=D, K=K, cov=ct, numpy_us=t_n * 1e6, compiled_us=t_c * 1e6,
                     limit_us=lim * 1e6, limit_all_us=lim_all * 1e6, floor_us=floor * 1e6)
            rows.append(r)
            print(f"{N} | {D} | {K} | {ct} | {t_n * 1e6:.1f} | {t_c * 1e6:.1f} | {t_n / t_c:.1f}x | "
                  f"{lim * 1e6:.1f} | {t_c / lim:.1f} | {lim_all * 1e6:.1f} | {t_c / lim_all:.1f} | "
                  f"{floor * 1e6:.1f} | {floor / lim:.2f}", flush=True)
    return {"gflops": gf, "exp_s": {"compiled": t_exp_c, "numpy": t_exp_n}, "rows": rows}


def _wall_and_cpu(X, K, em, seed, density, chains):
    """Sampling wall time and the process's CPU time over it (all threads)."""
    import resource

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    c = cpu()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # R-hat of one chain
        t = run_bayesgmm(X, K, em, 400, 400, seed, density, chains=chains)["sampling"]
    return t, cpu() - c


def chains_timing(quick, seed=0, separation=SEPARATED):
    import os

    # judged by the load before this section starts: its own two chains raise the
    # load average while it runs
    load_before = os.getloadavg()[0]
    out = []
    problems = [(1000, 2, 3)] if quick else [(1000, 2, 3), (10000, 5, 4)]
    for N, D, K in problems:
        X, *_ = make_data(N, D, K, seed, separation)
        em, _ = fit_em(X, K, seed)
        for density in ("compiled", "numpy"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # R-hat of one chain
                run_bayesgmm(X, K, em, 20, 20, seed, density, chains=1)  # builds/loads what is cached
            (t1, c1), (t2, c2) = (_wall_and_cpu(X, K, em, seed, density, chains) for chains in (1, 2))
            r = dict(N=N, D=D, K=K, density=density, one_chain=t1, two_chains=t2, ratio=t2 / t1,
                     cpu_one=c1, cpu_two=c2)
            out.append(r)
            print(f"N={N}, D={D}, K={K} {density}: 1 chain {t1:.2f} s, 2 chains (2 cores) {t2:.2f} s: "
                  f"{t2 / t1:.2f}x (400 + 400 draws per chain); process CPU {c1:.2f} s and {c2:.2f} s: "
                  f"CPU/wall {c1 / t1:.2f} and {c2 / t2:.2f} (2 = both chains running at once)", flush=True)
    print(f"\nRATIO wall(2 chains on 2 cores) / wall(1 chain), same draws per chain; target <= 1.2 for the "
          f"compiled density (load average {load_before:.1f} before this section, "
          f"{os.getloadavg()[0]:.1f} now: valid only on a quiet machine)")
    quiet = load_before < 0.5 * (os.cpu_count() or 1)
    for r in out:
        verdict = ""
        if r["density"] == "compiled":
            verdict = (("meets" if r["ratio"] <= 1.2 else "misses") + " the 1.2x target" if quiet
                       else "(not judged: the machine is not quiet)")
        print(f"  N={r['N']}, D={r['D']}, K={r['K']}, {r['density']:8s}: {r['ratio']:.2f}x {verdict}", flush=True)
    return out


CONVERGE = textwrap.dedent(
    """
    import json, resource, sys, time
    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    t0 = time.perf_counter()
    import numpy as np
    sys.path.insert(0, {bench!r})
    from sampling import make_data, fit_em, run_bayesgmm, RHAT_MAX, ESS_MIN
    import bayesgmm.inference, nutpie, arviz_stats  # imports are not compile time
    t_import = time.perf_counter() - t0
    c_import = cpu()
    N, D, K, density, seed, max_draws, sep = {N}, {D}, {K}, {density!r}, {seed}, {max_draws}, {separation!r}
    X, *_ = make_data(N, D, K, seed, sep)
    em, t_em = fit_em(X, K, seed)
    draws, setup, sampling, attempts = 500, 0.0, 0.0, 0
    while True:
        r = run_bayesgmm(X, K, em, draws, 500, seed, density)
        setup += r["compile"]; sampling += r["sampling"]; attempts += 1
        ok = r["rhat_max"] <= RHAT_MAX and r["ess_min"] >= ESS_MIN
        if ok or draws * 2 > max_draws:
            break
        draws *= 2
    total = time.perf_counter() - t0
    cpu_total = cpu() - c_import
    X2, *_ = make_data(N, D, K + 1, seed + 1, sep)
    em2, _ = fit_em(X2, K + 1, seed + 1)
    r2 = run_bayesgmm(X2, K + 1, em2, 500, 500, seed + 1, density)
    print(json.dumps(dict(N=N, D=D, K=K, density=density, imports=t_import, em=t_em, setup=setup,
                          sampling=sampling, total_with_imports=total, total=total - t_import, cpu_total=cpu_total,
                          converged=ok, draws=draws, attempts=attempts, rhat_max=r["rhat_max"],
                          ess_min=r["ess_min"], second_setup=r2["compile"], second_sampling=r2["sampling"])))
    """
)


def converge_fresh(quick, seed=0, max_draws=4000, separation=SEPARATED):
    import os

    out = []
    bench = os.path.dirname(os.path.abspath(__file__))
    problems = [(1000, 2, 3)] if quick else [(1000, 2, 3), (10000, 5, 4)]
    for N, D, K in problems:
        for density in ("compiled", "numpy"):
            code = CONVERGE.format(bench=bench, N=N, D=D, K=K, density=density, seed=seed, max_draws=max_draws,
                                   separation=float(separation))
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            out.append(r)
            print(f"N={N}, D={D}, K={K} {density}: to converged {r['total']:.2f} s after imports "
                  f"({r['total_with_imports']:.2f} s with {r['imports']:.2f} s of imports; process CPU after imports "
                  f"{r['cpu_total']:.2f} s): EM {r['em']:.2f}, "
                  f"setup/compile {r['setup']:.2f}, sampling {r['sampling']:.2f} s; converged={r['converged']} "
                  f"with {r['draws']} draws x 2 chains ({r['attempts']} attempt(s); R-hat {r['rhat_max']:.3f}, "
                  f"ESS {r['ess_min']:.0f}); second model (K={K + 1}) setup {r['second_setup']:.3f} s, "
                  f"sampling {r['second_sampling']:.2f} s", flush=True)
    return out


def warm_start(quick, seeds=(1, 2)):
    """Mass-matrix warm start (``rescale=True``) against nutpie's own start, for several warm-up lengths.

    Same data, EM start (:func:`bayesgmm.inference.em_start`, scale-free) and seeds
    for both; 2 chains x 500 draws. ``warm-up steps`` are the leapfrog steps (gradient
    evaluations) of the warm-up, both chains.
    """
    from bayesgmm.inference import em_start

    cases = [("separated", 1000, 2, 3, None, (500, 200, 100)),
             ("feature scales 1e-3..1e3", 1000, 2, 3, (-3, 3), (500, 200, 100))]
    if not quick:
        cases.append(("separated", 10000, 5, 4, None, (500, 100)))
    out = []
    for label, N, D, K, scales, tunes in cases:
        X, *_ = make_data(N, D, K, 0)
        em = em_start(X, K, "full", random_state=0)
        if scales is not None:
            # the same data and EM optimum in other units (EM on the rescaled data itself, k-means
            # started, lands in a worse optimum: not what is measured here)
            c = np.logspace(*scales, D)
            X = X * c
            em = {"weights": em.weights_, "means": em.means_ * c, "covariances": em.covariances_ * np.outer(c, c)}
        print(f"N={N}, D={D}, K={K}, {label}:", flush=True)
        for tune in tunes:
            for rescale in (False, True):
                rs = [run_bayesgmm(X, K, em, 500, tune, seed, rescale=rescale) for seed in seeds]
                r = dict(case=label, N=N, D=D, K=K, tune=tune, rescale=rescale,
                         rhat_max=max(x["rhat_max"] for x in rs), ess_min=min(x["ess_min"] for x in rs),
                         warmup_steps=float(np.mean([x["warmup_steps"] for x in rs])),
                         draw_steps=float(np.mean([x["n_steps"] - x["warmup_steps"] for x in rs])),
                         sampling=float(np.mean([x["sampling"] for x in rs])),
                         divergences=sum(x["divergences"] for x in rs))
                out.append(r)
                print(f"  tune={tune:4d} rescale={str(rescale):5s}: max R-hat {r['rhat_max']:.4f}, min bulk ESS "
                      f"{r['ess_min']:.0f}, warm-up steps {r['warmup_steps']:.0f}, draw steps {r['draw_steps']:.0f}, "
                      f"sampling {r['sampling']:.2f} s, divergences {r['divergences']} (mean/worst of seeds "
                      f"{list(seeds)})", flush=True)
        for tune in tunes:
            a, b = (next(r for r in out if r["case"] == label and r["N"] == N and r["tune"] == tune
                         and r["rescale"] == v) for v in (False, True))
            print(f"  tune={tune}: warm-up steps without / with rescaling {a['warmup_steps'] / b['warmup_steps']:.2f}x",
                  flush=True)
    return out


COMPILE = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import numpy as np
    from bayesgmm._logdensity import MixtureDensity
    t1 = time.perf_counter()
    from bayesgmm._compiled import compile_density
    dens = MixtureDensity(np.random.default_rng(0).normal(size=(1000, 2)), 3, "full")
    compile_density(dens)
    t2 = time.perf_counter()
    print(t2 - t1, time.process_time())
    """
)


def compile_cold_warm():
    import os
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NUMBA_CACHE_DIR=tmp)
        for label in ("cold", "warm"):
            res = subprocess.run([sys.executable, "-c", COMPILE], capture_output=True, text=True, check=True, env=env)
            wall, cpu = map(float, res.stdout.split())
            out[label] = dict(wall=wall, process_cpu=cpu)
            print(f"compiled density, {label} cache: {wall:.2f} s wall (numba import + compile/load), "
                  f"process CPU {cpu:.2f} s", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sections", default="grad,chains,converge,compile",
                    help="comma-separated subset of grad,chains,converge,compile,warmstart")
    ap.add_argument("--compare-plain", action="store_true", help="the comparison with plain PyMC instead")
    ap.add_argument("--quick", action="store_true", help="smaller grid / only the small problem")
    ap.add_argument("--skip-plain", action="store_true", help="(--compare-plain) do not run the plain PyMC model")
    ap.add_argument("--max-draws", type=int, default=2000, help="cap when doubling draws (default 2000)")
    ap.add_argument("--plain-big-sample", action="store_true",
                    help="(--compare-plain) really sample the plain model on the large problem (takes many "
                         "minutes on 2 shared cores); by default its sampling time is estimated")
    ap.add_argument("--plain-warm-cache", action="store_true",
                    help="(--compare-plain) let PyTensor reuse the code it compiled in earlier runs (default: "
                         "an empty compile directory for this run, plain PyMC compiled cold)")
    ap.add_argument("--problems", help="(--compare-plain) the problems as 'N,D,K;N,D,K' (default "
                    "'1000,2,3;10000,5,4'; --quick: '1000,2,3')")
    ap.add_argument("--cells", help="(grad) only these cells, as 'N:D:K:cov,...', e.g. '1e5:10:3:full' "
                    "(N from 1e3, 1e4, 1e5; D from 2, 10; K from 3, 10; cov full or diag)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--separation", type=float, default=SEPARATED,
                    help="(chains, converge, --compare-plain) distance of the components' centres from "
                         "the origin, sds about 1: 8 separated (default), 2 overlapping")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    if args.compare_plain:
        return compare_plain(args)
    import os
    import platform

    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()}; chains and converge on "
          f"make_data(..., separation={args.separation:g})", flush=True)
    sections = args.sections.split(",")
    results = {}
    if "grad" in sections:
        print("\n== per-gradient time (min thread CPU time over repeats) ==", flush=True)
        cells = None
        if args.cells:
            cells = set()
            for c in args.cells.split(","):
                n, d, k, ct = c.split(":")
                cells.add((int(float(n)), int(d), int(k), ct))
        results["grad"] = grad_grid(args.quick, cells=cells)
    if "chains" in sections:
        print("\n== 1 vs 2 chains ==", flush=True)
        results["chains"] = chains_timing(args.quick, args.seed, args.separation)
    if "converge" in sections:
        print("\n== time to a converged posterior, fresh process ==", flush=True)
        results["converge"] = converge_fresh(args.quick, args.seed, max(args.max_draws, 4000), args.separation)
    if "compile" in sections:
        print("\n== compile time of the compiled density ==", flush=True)
        results["compile"] = compile_cold_warm()
    if "warmstart" in sections:
        print("\n== mass-matrix warm start (rescale=True) vs nutpie's own, 2 chains x 500 draws ==", flush=True)
        results["warmstart"] = warm_start(args.quick)
    print(f"\nload average at the end {os.getloadavg()}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=float)


if __name__ == "__main__":
    main()
