"""Sampling benchmark: bayesgmm's NUTS path vs the plain PyMC mixture model.

For each problem (N=1000, D=2, K=3 and N=10000, D=5, K=4; well separated
clusters with full covariances), both samplers run 2 chains x (500 tune + 500
draws) on the same data with the same priors:

* ``bayesgmm``: :func:`bayesgmm.inference.run_inference` (nutpie on the numpy
  log-density with analytic gradient, chains started at the EM fit);
* ``plain``: ``pm.Mixture`` over a list of ``pm.MvNormal`` components with
  ``pm.LKJCholeskyCov`` covariances, compiled with nutpie's PyMC backend and
  sampled by nutpie, chains started at the truth.

Reported: compile (setup) time, sampling time, time per leapfrog step
(sampling time / all leapfrog steps including warm-up), max R-hat and min bulk
ESS (arviz-stats; weights, means, sds), ESS per second of sampling, and the
wall time to a converged posterior (compile included; max R-hat <= 1.01 and
min bulk ESS >= 400): when a run is not converged the draws are doubled and the
run repeated (up to --max-draws); the wall time is then the sum of all attempts.
Also times a second model build+compile with new data and another component
count in the same process, and the first one in a fresh process.

Usage::

    python benchmarks/sampling.py              # both problems, both samplers
    python benchmarks/sampling.py --quick      # only the small problem
    python benchmarks/sampling.py --skip-plain # only bayesgmm
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


def make_data(N, D, K, seed):
    rng = np.random.default_rng(seed)
    # well separated centres on a scaled simplex-like layout
    means = np.zeros((K, D))
    for k in range(K):
        means[k, k % D] = 8.0 * (1 + k // D)
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


def run_bayesgmm(X, K, em, draws, tune, seed):
    from bayesgmm.inference import run_inference

    tree = run_inference(X, K, "full", None, em, draws=draws, tune=tune, chains=2, random_seed=seed,
                         progressbar=False, cores=2)
    post = tree["posterior"].to_dataset()[["weights", "means", "sds"]]
    rmax, emin = diagnostics(post)
    return {
        "compile": tree.attrs["setup_time"],
        "sampling": tree.attrs["sampling_time"],
        "n_steps": tree.attrs["n_steps_total"],
        "divergences": int(tree["sample_stats"]["diverging"].sum()),
        "rhat_max": rmax,
        "ess_min": emin,
        "draws": draws,
    }


def grad_time_bayesgmm(X, K, truth, repeats=30):
    from threadpoolctl import threadpool_limits

    from bayesgmm._logdensity import MixtureDensity

    dens = MixtureDensity(X, K, "full")
    x = dens.pack(*truth)
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="only the small problem (N=1000, D=2, K=3)")
    ap.add_argument("--skip-plain", action="store_true", help="do not run the plain PyMC model")
    ap.add_argument("--max-draws", type=int, default=2000, help="cap when doubling draws (default 2000)")
    ap.add_argument("--plain-big-sample", action="store_true",
                    help="really sample the plain model on the large problem (takes many minutes on 2 "
                         "shared cores); by default its sampling time is estimated from its gradient time")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args(argv)

    from threadpoolctl import threadpool_info

    # imports are not compile time: load everything both paths need first
    t = time.perf_counter()
    import nutpie  # noqa: F401
    import pymc  # noqa: F401

    import bayesgmm.em  # noqa: F401
    import bayesgmm.inference  # noqa: F401

    print(f"imports (pymc, nutpie, arviz, bayesgmm): {time.perf_counter() - t:.2f} s", flush=True)

    problems = [(1000, 2, 3)] if args.quick else [(1000, 2, 3), (10000, 5, 4)]
    results = {}
    for N, D, K in problems:
        X, w, mu, cov = make_data(N, D, K, args.seed)
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
                               rhat_max_final=att[-1]["rhat_max"], grad_ms=1e3 * grad_time_bayesgmm(X, K, truth))
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
          "(warm-up included); grad = median logp+gradient evaluation outside the sampler (plain: PyTensor "
          "numba); to converged = EM + compile + sampling until max R-hat <= 1.01 and min bulk ESS >= 400 "
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
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"results": results, "fresh_total": fresh_total, "fresh_compile": fresh_compile,
                       "second_compile": second, "pymc_compile": [pm_first, pm_second]}, fh, indent=2, default=float)


if __name__ == "__main__":
    main()
