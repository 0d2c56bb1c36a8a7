"""Simulation-based calibration (Talts et al., 2018) of the Bayesian GMM.

For each replicate: draw theta ~ prior, simulate X | theta (K=2, D=2, N fixed),
sample the posterior with the package's default NUTS path (nutpie on the numpy
analytic-gradient density, ``bayesgmm.inference.run_inference``, started at the
package's EM fit; ``--method tempering`` or ``--method gibbs`` for the package's other
samplers, see :func:`sampler_settings`), thin to L draws and record the rank of each true quantity
among the draws.  If the sampler and the model agree, the ranks are uniform on
{0, ..., L}.

The prior
---------
``bayesgmm.Priors`` is *data-relative*: ``Priors.resolve(X)`` centres the mean
prior at the data mean and scales every prior by the data sd.  A prior that
depends on the data is not a prior, so SBC cannot use it as such.  We resolve
the package's default relative settings (``weights_alpha=1``,
``mean_scale=2``, ``sd_scale=1``, ``lkj_eta=2``) against a FIXED reference
scale (mean 0, sd 1 in every feature) and pass the resulting
``ResolvedPriors`` to ``run_inference`` (which accepts it unchanged)::

    weights ~ Dirichlet(1, 1)
    means[k, d] ~ Normal(0, 2)
    full: Sigma_k = diag(sd_k) C_k diag(sd_k), sd_k[d] ~ HalfNormal(1), C_k ~ LKJ(2)
    diag: sds[k, d] ~ HalfNormal(1)
    EII:  Sigma_k = sd**2 I for every k, sd ~ HalfNormal(1)   (one sd shared)
    EEI:  Sigma_k = diag(sds**2) for every k, sds[d] ~ HalfNormal(1)

Test quantities
---------------
Label-invariant: the smaller weight ``w_min``; the data log-likelihood
``loglik`` = sum_n log p(x_n | theta); the average of the component means
``mbar_d``; the covariance traces sorted ``tr_min``, ``tr_max``.

Component parameters after relabelling, two ways:

* ``*_em``: draws AND the true theta are relabelled against the package's EM
  fit of the same data (the reference depends on the data only, so the rank
  statistic is one fixed function applied to the truth and to every draw:
  the SBC argument holds exactly).
* ``*_tr``: draws relabelled against the true theta (as the brief asked).  The
  truth is matched to itself, the draws are matched to the truth: the function
  differs between the truth and the draws, so SBC's exchangeability argument
  does not strictly hold (under label ambiguity the draws are pulled towards
  the truth, giving a hump-shaped rank histogram).  Reported for comparison.

Usage::

    python validation/sbc.py --covariance-type full --replicates 200 --processes 2
    python validation/sbc.py --analyse     # tests, table and plots from the CSVs
    python validation/sbc.py --covariance-type full --method gibbs --replicates 200 --processes 1
    python validation/sbc.py --analyse --method gibbs   # the files tagged _gibbs
    python validation/sbc.py --replicates 200 --scheduler tcp://host:8786   # on a dask cluster
    python validation/sbc.py --covariance-type full diag --method gibbs --resolution 0.5 --tag _gibbs_rounded
    python validation/sbc.py --covariance-type full --method gibbs --resolution 0.5 --round-only --tag _gibbs_round_only
    python validation/sbc.py --covariance-type full diag --method gibbs --split-merge 1 --tag _gibbs_split_merge

The replicates run through joblib (:func:`run_replicates`): loky processes here, or
the workers of a dask.distributed cluster (joblib's dask backend).

Results are appended to ``validation/results/sbc_<type><tag>.csv`` one row per
replicate (``<tag>``: ``--tag``, by default "" for NUTS and ``_<method>`` for the
other samplers) as they finish, so an interrupted run keeps its replicates; a rerun
skips replicate ids already present.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
import traceback
import warnings
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
K, D = 2, 2
N_OBS = 80
L_DRAWS = 99  # ranks take values 0..L
CHAINS = 1
DRAWS_PER_CHAIN = 700  # 700 draws thinned by 7 -> 100, keep 99
TUNE = 300
THIN = 7
# Prior scale of the component means relative to the unit data scale (the package's
# default is 2). The overlapping configuration (``--mean-scale 0.5``) draws component
# means that are typically closer than 1.5 within-component sds; the posterior uses the
# same prior, so SBC's argument holds. Read from the environment so that worker
# processes (spawned) see the value ``main`` set.
MEAN_SCALE = float(os.environ.get("BAYESGMM_SBC_MEAN_SCALE", "2.0"))
# Sampler of the posterior: "nuts" (the default path), "tempering" (replica exchange,
# ``run_inference(method="tempering")``) or "gibbs" (Gibbs sampling with data
# augmentation, ``run_inference(method="gibbs")``). Environment-set for the same reason.
SBC_METHOD = os.environ.get("BAYESGMM_SBC_METHOD", "nuts")
# --resolution: the simulated data are rounded to this step (at unit data scale) and the
# sampler (Gibbs only) is told so, modelling them as rounded (``resolution=``)
RESOLUTION = float(os.environ.get("BAYESGMM_SBC_RESOLUTION", "0"))
# --round-only: round the data to --resolution but fit them as continuous (the control:
# it shows what ignoring the rounding does, and that SBC detects it)
ROUND_ONLY = os.environ.get("BAYESGMM_SBC_ROUND_ONLY", "0") == "1"
# --split-merge M: Gibbs with M split-merge moves per sweep (``split_merge=M``)
SPLIT_MERGE = int(os.environ.get("BAYESGMM_SBC_SPLIT_MERGE", "0"))
METHODS = ("nuts", "tempering", "gibbs")
# Gibbs settings. A sweep costs ~20-30 us at N=80 (K=2, D=2), so the chain is made long
# enough that the L kept draws are ~independent: 1000 warm-up sweeps, then the sampler
# keeps every GIBBS_THIN-th of 20000 sweeps (GIBBS_DRAWS draws) and this script takes
# every GIBBS_SCRIPT_THIN-th of those: 99 draws 200 sweeps apart. The slowest-mixing
# replicates seen (full, seed 20181) have an ESS of ~0.8% of the sweeps for w_min
# (replicate 2), i.e. ~1.6 per 200 sweeps; typical is > 0.08 per sweep.
GIBBS_TUNE = 1000
GIBBS_THIN = 10
GIBBS_DRAWS = 2000
GIBBS_SCRIPT_THIN = 20


def sampler_settings(method=None):
    """``(draws per chain, tune, this script's thinning, run_inference keywords)`` of ``method``."""
    method = SBC_METHOD if method is None else method
    if method == "gibbs":
        kw = {"thin": GIBBS_THIN, "cores": 1, **({"split_merge": SPLIT_MERGE} if SPLIT_MERGE else {})}
        return GIBBS_DRAWS, GIBBS_TUNE, GIBBS_SCRIPT_THIN, kw
    if method == "nuts":
        return DRAWS_PER_CHAIN, TUNE, THIN, {"cores": 1}
    if method == "tempering":
        return DRAWS_PER_CHAIN, TUNE, THIN, {}
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


def default_tag(method):
    """Result-file tag of a method's run when ``--tag`` is not given: "" for NUTS, else ``_<method>``."""
    return "" if method in (None, "nuts") else f"_{method}"


def reference_priors(covariance_type):
    """The package's default relative priors resolved against mean 0, sd 1."""
    from bayesgmm.priors import Priors, ResolvedPriors

    p = Priors(mean_scale=MEAN_SCALE)  # defaults: alpha 1, mean_scale 2, sd_scale 1, lkj_eta 2
    s = np.ones(D)
    sd_sigma = np.asarray(p.sd_scale, dtype=float) * s * np.ones(D)
    return ResolvedPriors(
        weights_alpha=np.full(K, float(p.weights_alpha)),
        mean_loc=np.zeros(D),
        mean_sd=np.asarray(p.mean_scale, dtype=float) * s * np.ones(D),
        sd_sigma=sd_sigma,
        sd_sigma_spherical=float(np.sqrt(np.mean(sd_sigma**2))),
        lkj_eta=float(p.lkj_eta),
        data_mean=np.zeros(D),
        data_sd=s,
    )


def draw_prior(rp, covariance_type, rng):
    """One draw of (weights, means, covariances (K, D, D)) from the resolved prior."""
    w = rng.dirichlet(rp.weights_alpha)
    mu = rng.normal(rp.mean_loc, rp.mean_sd, size=(K, D))
    sds = np.abs(rng.normal(0.0, rp.sd_sigma, size=(K, D)))
    if covariance_type == "spherical":  # sd[k] ~ HalfNormal(sd_sigma_spherical), Sigma_k = sd[k]^2 I
        sds = np.repeat(np.abs(rng.normal(0.0, rp.sd_sigma_spherical, size=(K, 1))), D, axis=1)
    elif covariance_type == "tied":  # one LKJ-Cholesky covariance shared by all components
        sds = np.repeat(sds[:1], K, axis=0)
        r_tied = 2.0 * rng.beta(rp.lkj_eta, rp.lkj_eta) - 1.0
    elif covariance_type == "EII":  # one sd shared by all components and features
        sds = np.full((K, D), abs(rng.normal(0.0, rp.sd_sigma_spherical)))
    elif covariance_type == "EEI":  # one sd per feature, shared by all components
        sds = np.broadcast_to(np.abs(rng.normal(0.0, rp.sd_sigma)), (K, D)).copy()
    cov = np.zeros((K, D, D))
    for k in range(K):
        if covariance_type == "tied":
            C = np.array([[1.0, r_tied], [r_tied, 1.0]])
        elif covariance_type == "full":
            # LKJ(eta) in D=2: the correlation r = 2 * Beta(eta, eta) - 1
            r = 2.0 * rng.beta(rp.lkj_eta, rp.lkj_eta) - 1.0
            C = np.array([[1.0, r], [r, 1.0]])
        else:
            C = np.eye(D)
        cov[k] = sds[k][:, None] * C * sds[k][None, :]
    return w, mu, cov


def simulate(w, mu, cov, n, rng):
    z = rng.choice(K, size=n, p=w)
    Lc = np.linalg.cholesky(cov)
    eps = rng.standard_normal((n, D))
    return mu[z] + np.einsum("nij,nj->ni", Lc[z], eps)


SHARED = ("EII", "EEI")  # one covariance shared by all components


def _quantities_invariant(w, mu, cov, loglik, covariance_type="full"):
    """Label-invariant quantities for a batch: w (S,K), mu (S,K,D), cov (S,K,D,D), loglik (S,).

    For a covariance shared by all components (EII, EEI) the sorted traces are one
    quantity and the shared sds (``sd_d``) are label-invariant.
    """
    tr = np.sort(np.trace(cov, axis1=-2, axis2=-1), axis=-1)
    out = {
        "w_min": np.sort(w, axis=-1)[:, 0],
        "loglik": loglik,
        "tr_min": tr[:, 0],
        "tr_max": tr[:, -1],
    }
    if covariance_type in SHARED:
        del out["tr_min"], out["tr_max"]
        sds = np.sqrt(np.diagonal(cov[:, 0], axis1=-2, axis2=-1))
        for d in range(1 if covariance_type == "EII" else D):
            out[f"sd_{d}"] = sds[:, d]
    for d in range(D):
        out[f"mbar_{d}"] = mu[:, :, d].mean(axis=-1)
    return out


def _quantities_component(w, mu, cov, covariance_type, suffix):
    out = {}
    sds = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    for k in range(K):
        out[f"w{k}_{suffix}"] = w[:, k]
        for d in range(D):
            out[f"mu{k}{d}_{suffix}"] = mu[:, k, d]
            if covariance_type in ("full", "diag"):
                out[f"sd{k}{d}_{suffix}"] = sds[:, k, d]
        if covariance_type == "full":
            out[f"corr{k}_{suffix}"] = cov[:, k, 0, 1] / (sds[:, k, 0] * sds[:, k, 1])
        if covariance_type == "spherical":  # one sd per component
            out[f"sd{k}_{suffix}"] = sds[:, k, 0]
    if covariance_type == "tied":  # shared by the components: label-free, listed once
        for d in range(D):
            out[f"sd{d}_{suffix}"] = sds[:, 0, d]
        out[f"corr_{suffix}"] = cov[:, 0, 0, 1] / (sds[:, 0, 0] * sds[:, 0, 1])
    return out


def _permute(w, mu, cov, perm):
    """Apply per-draw permutations perm (S, K): new[k] = old[perm[k]]."""
    idx = np.arange(w.shape[0])[:, None]
    return w[idx, perm], mu[idx, perm], cov[idx, perm]


def _relabel(w, mu, cov, ref):
    """Per-draw permutation (S, K) matching draw components to the reference (package kernel)."""
    from scipy.optimize import linear_sum_assignment

    from bayesgmm.posterior import relabel_cost

    cost = relabel_cost(w, mu, cov, *ref)
    perm = np.empty((w.shape[0], K), dtype=int)
    for s in range(w.shape[0]):
        rows, cols = linear_sum_assignment(cost[s])
        perm[s, cols] = rows
    return perm


def run_replicate(args):
    """Run one replicate; returns a dict (one CSV row)."""
    covariance_type, rep, seed = args
    from threadpoolctl import threadpool_limits

    from bayesgmm._logdensity import MixtureDensity
    from bayesgmm.em import GaussianMixture
    from bayesgmm.inference import run_inference

    t0 = time.perf_counter()
    row = {"replicate": rep, "seed": seed, "covariance_type": covariance_type, "status": "ok"}
    try:
        with threadpool_limits(1):
            rng = np.random.default_rng([seed, rep])
            rp = reference_priors(covariance_type)
            w, mu, cov = draw_prior(rp, covariance_type, rng)
            X = simulate(w, mu, cov, N_OBS, rng)
            draws_per_chain, tune, thin, sampler_kw = sampler_settings()
            if RESOLUTION > 0:  # rounded data, modelled as such
                X = np.round(X / RESOLUTION) * RESOLUTION
                if not ROUND_ONLY:
                    sampler_kw = {**sampler_kw, "resolution": RESOLUTION}
            em = GaussianMixture(K, covariance_type=covariance_type, n_init=3, random_state=int(rng.integers(2**31 - 1)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                em.fit(X)
                tree = run_inference(
                    X, K, covariance_type, priors=rp, init=em, method=SBC_METHOD, draws=draws_per_chain, tune=tune,
                    chains=CHAINS, random_seed=int(rng.integers(2**31 - 1)), progressbar=False, **sampler_kw,
                )
            post = tree["posterior"]
            S_all = CHAINS * draws_per_chain
            pw = post["weights"].values.reshape(S_all, K)
            pmu = post["means"].values.reshape(S_all, K, D)
            pcov = post["covariances"].values.reshape(S_all, K, D, D)
            # thin within each chain (draw order is chain-major), keep L draws
            keep = np.arange(0, S_all, thin)[:L_DRAWS]
            pw, pmu, pcov = pw[keep], pmu[keep], pcov[keep]
            dens = MixtureDensity(X, K, covariance_type, rp)
            ll = np.array([dens.pointwise_log_likelihood(pw[s], pmu[s], pcov[s]).sum() for s in range(L_DRAWS)])
            ll_true = dens.pointwise_log_likelihood(w, mu, cov).sum()

            true = _quantities_invariant(w[None], mu[None], cov[None], np.array([ll_true]), covariance_type)
            draws = _quantities_invariant(pw, pmu, pcov, ll, covariance_type)
            # relabel against the truth
            perm_t = _relabel(pw, pmu, pcov, (w, mu, cov))
            true.update(_quantities_component(w[None], mu[None], cov[None], covariance_type, "tr"))
            draws.update(_quantities_component(*_permute(pw, pmu, pcov, perm_t), covariance_type, "tr"))
            # relabel truth and draws against the EM fit (a function of the data only)
            from bayesgmm.covariance import get_covariance_type

            em_cov = get_covariance_type(covariance_type).to_full(em.covariances_, K, D)
            ref = (em.weights_, em.means_, em_cov)
            perm_e = _relabel(pw, pmu, pcov, ref)
            perm_true = _relabel(w[None], mu[None], cov[None], ref)
            true.update(_quantities_component(*_permute(w[None], mu[None], cov[None], perm_true), covariance_type, "em"))
            draws.update(_quantities_component(*_permute(pw, pmu, pcov, perm_e), covariance_type, "em"))
            for name, t in true.items():
                dr = draws[name]
                # rank = number of draws below the truth; ties (measure zero) broken at random
                less = int(np.sum(dr < t[0]))
                ties = int(np.sum(dr == t[0]))
                row[f"rank_{name}"] = less + (int(rng.integers(0, ties + 1)) if ties else 0)
            stats = tree["sample_stats"]
            row["divergences"] = int(stats["diverging"].values.sum())
            row["frac_switch_tr"] = float(np.mean(perm_t[:, 0] != 0))
            row["w_min_true"] = float(np.min(w))
            row["sampling_time"] = float(tree.attrs.get("sampling_time", np.nan))
            # split R-hat of the EM-relabelled thinned draws (chain-major order)
            row["max_rhat"] = float(max(_split_rhat(draws[q]) for q in draws if q.endswith("_em") or q == "loglik"))
            # the smallest ESS (one chain, Geyer) of the L thinned draws over all quantities
            row["min_ess"] = float(min(_ess(draws[q]) for q in draws))
            row["method"] = SBC_METHOD
            row["resolution"] = RESOLUTION if not ROUND_ONLY else f"{RESOLUTION} (data only)"
            row["split_merge"] = SPLIT_MERGE
            if "split_merge_counts" in tree.attrs:  # kept sweeps: proposals and accepted moves
                c = tree.attrs["split_merge_counts"]
                row["split_merge_proposed"] = int(c[0] + c[2])
                row["split_merge_accepted"] = int(c[1] + c[3])
            if "cov_acceptance" in tree.attrs:  # gibbs: the covariance random walk's acceptance
                row["min_cov_acceptance"] = float(min(tree.attrs["cov_acceptance"]))
    except Exception as err:  # record, never hide: failures are reported in the table
        row["status"] = f"error: {type(err).__name__}: {err}".replace("\n", " ")[:300]
        traceback.print_exc()
    row["wall_time"] = time.perf_counter() - t0
    return row


def _split_rhat(x):
    """Split R-hat of thinned draws (chain-major, CHAINS chains of equal length)."""
    x = np.asarray(x, dtype=float)
    n = (len(x) // CHAINS) // 2 * 2
    chains = np.stack([x[c * (len(x) // CHAINS):][:n] for c in range(CHAINS)])
    halves = chains.reshape(CHAINS * 2, n // 2)
    m = halves.shape[1]
    W = halves.var(axis=1, ddof=1).mean()
    B = m * halves.mean(axis=1).var(ddof=1)
    if W <= 0:
        return float("nan")
    return float(np.sqrt(((m - 1) / m * W + B / m) / W))


def _ess(x):
    """Effective sample size of one chain (Geyer's initial monotone sequence estimator)."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    x = x - x.mean()
    if n < 4 or not np.any(x):
        return float("nan")
    f = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n]
    ac = ac / ac[0]
    total, prev = 0.0, np.inf
    for t in range(0, n - 1, 2):
        pair = ac[t] + ac[t + 1]
        if pair < 0:
            break
        prev = min(pair, prev)
        total += prev
    return float(n / max(2.0 * total - 1.0, 1e-12))


def _done_ids(path):
    if not path.exists():
        return set()
    with path.open() as f:
        return {int(r["replicate"]) for r in csv.DictReader(f)}


def _timeout_row(task, timeout):
    covariance_type, rep, seed = task
    return {"replicate": rep, "seed": seed, "covariance_type": covariance_type,
            "status": f"timeout: no result after {timeout:.0f} s wall", "wall_time": float(timeout)}


def run_replicates(tasks, n_jobs=1, timeout=None, replicate=None):
    """Run the replicates ``tasks`` through joblib; yield one row each, in completion order.

    ``tasks`` are ``(covariance_type, replicate, seed)`` tuples; ``replicate`` is the
    function of one task (default :func:`run_replicate`). The replicates are
    independent: each draws its truth, data and sampler seeds from its own
    ``default_rng([seed, replicate])``, so every row is the same whatever ran it and
    in whatever order (only the timing columns differ).

    The work goes to joblib's active backend: loky worker processes by default;
    inside ``joblib.parallel_config(backend="dask")`` the tasks of a
    ``dask.distributed`` cluster (``n_jobs=-1``: all its worker threads).
    ``n_jobs=1`` without a timeout runs them here, one after another.

    ``timeout`` (seconds) is joblib's ``Parallel(timeout=...)``: it fires when no
    replicate has finished for ``timeout`` s. Tasks are handed to the workers one
    at a time as others finish (``pre_dispatch`` = the number of workers, batches of
    one), so when it fires every replicate still running started at least
    ``timeout`` s ago: those replicates (the first unfinished ones, in task order)
    get a row with status ``timeout``, the workers are stopped (loky kills its
    processes; dask cancels the queued tasks but cannot stop a running one, which
    ends on its worker and is ignored) and the other replicates run anew. A
    replicate stuck while others still finish is caught once the others are done.
    With ``n_jobs=1`` and a timeout the replicates run in one worker process
    (joblib runs ``n_jobs=1`` in this process, where no timeout can stop them).
    """
    from multiprocessing import TimeoutError as MPTimeoutError

    import joblib

    replicate = run_replicate if replicate is None else replicate
    pending = list(tasks)
    if n_jobs == 1 and timeout is None:
        for task in pending:
            yield replicate(task)
        return
    if n_jobs == 1:  # one replicate at a time, in a worker process, so the timeout applies
        workers, n_jobs = 1, 2
    else:
        workers = max(1, int(joblib.effective_n_jobs(n_jobs)))
    while pending:
        finished = set()
        parallel = joblib.Parallel(n_jobs=n_jobs, timeout=timeout, pre_dispatch=str(workers),
                                   batch_size=1, return_as="generator_unordered")
        try:
            for row in parallel(joblib.delayed(replicate)(task) for task in pending):
                finished.add((row["covariance_type"], row["replicate"], row["seed"]))
                yield row
        except (TimeoutError, MPTimeoutError):  # joblib raises multiprocessing's
            left = [t for t in pending if tuple(t) not in finished]
            stuck, pending = left[:workers], left[workers:]
            for task in stuck:
                yield _timeout_row(task, timeout)
            continue
        pending = [t for t in pending if tuple(t) not in finished]


def run(covariance_type, replicates, processes, seed, tag, timeout=480.0):
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"sbc_{covariance_type}{tag}.csv"
    done = _done_ids(path)
    todo = [(covariance_type, r, seed) for r in range(replicates) if r not in done]
    print(f"[{covariance_type}] {len(done)} replicates on file, {len(todo)} to run -> {path}", flush=True)
    t0 = time.perf_counter()
    fieldnames = None
    if path.exists() and done:
        with path.open() as f:
            fieldnames = next(csv.reader(f))

    def write(row):
        nonlocal fieldnames
        if fieldnames is None:
            if row["status"] != "ok":  # wait for a complete row to fix the header
                with (RESULTS / f"sbc_{covariance_type}{tag}_errors.txt").open("a") as f:
                    f.write(f"{row}\n")
                return
            fieldnames = list(row)
            with path.open("w", newline="") as f:
                csv.DictWriter(f, fieldnames=fieldnames).writeheader()
        with path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=fieldnames, extrasaction="ignore", restval="").writerow(row)

    # Through joblib (run_replicates): worker processes here, or a dask cluster
    # (--scheduler); a replicate past `timeout` s is recorded with status "timeout".
    for n_done, row in enumerate(run_replicates(todo, processes, timeout), start=1):
        write(row)
        el = time.perf_counter() - t0
        print(f"  [{covariance_type}] {n_done}/{len(todo)} rep {row['replicate']} {row['status'][:60]} "
              f"{row['wall_time']:.1f}s div={row.get('divergences', '')} elapsed {el:.0f}s", flush=True)
    wall = time.perf_counter() - t0
    print(f"[{covariance_type}] wall time {wall:.0f} s for {len(todo)} replicates", flush=True)
    with (RESULTS / "wall_times.txt").open("a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {covariance_type}{tag} "
                f"replicates={len(todo)} processes={processes} wall_s={wall:.0f}\n")


# ------------------------------------------------------------- prior check
def check_prior(covariance_type, n_draws=4000, seed=1):
    """Two-sample KS tests: this script's prior simulator vs NUTS on the package's
    log density with the likelihood switched off (``scale=0``).

    Makes sure the simulated truths come from the prior the package's posterior
    uses (else SBC would fail for a reason that is not a bug of the package).
    """
    from scipy import stats

    from bayesgmm._logdensity import MixtureDensity
    from bayesgmm.inference import _nuts_nutpie

    rp = reference_priors(covariance_type)
    rng = np.random.default_rng(seed)
    sim = [draw_prior(rp, covariance_type, rng) for _ in range(n_draws)]
    dens = MixtureDensity(simulate(*sim[0], 10, rng), K, covariance_type, rp)

    class PriorOnly:
        def __getattr__(self, name):
            return getattr(dens, name)

        def logp_and_grad(self, x, X=None, scale=1.0):
            return dens.logp_and_grad(x, X=dens.X, scale=0.0)

    x0 = dens.pack(*sim[0])
    tree = _nuts_nutpie(dens=PriorOnly(), x0=x0, draws=n_draws // 2, tune=500, chains=2, progressbar=False,
                        seed_jitter=seed, seed_sampler=seed + 1, jitter=0.1, t0=0.0, cores=1)
    post = tree["posterior"]
    S = post["weights"].shape[0] * post["weights"].shape[1]
    nuts = (post["weights"].values.reshape(S, K), post["means"].values.reshape(S, K, D),
            post["covariances"].values.reshape(S, K, D, D))
    sim = tuple(np.stack(a) for a in zip(*sim))
    q_sim = _quantities_component(*sim, covariance_type, "prior")
    q_nuts = _quantities_component(*nuts, covariance_type, "prior")
    if covariance_type in SHARED:  # the shared sds, once
        q_sim.update(_quantities_invariant(*sim, np.zeros(n_draws), covariance_type))
        q_nuts.update(_quantities_invariant(*nuts, np.zeros(len(nuts[0])), covariance_type))
        for q in (q_sim, q_nuts):
            del q["loglik"]
    out = {}
    for name in q_sim:
        # NUTS draws are autocorrelated: thin by 4 for the KS test
        out[name] = float(stats.ks_2samp(q_sim[name], q_nuts[name][::4]).pvalue)
    print(f"prior check ({covariance_type}): KS p-values simulator vs NUTS(prior only)")
    for name, p in out.items():
        print(f"  {name:16s} {p:.3f}")
    return out


# ------------------------------------------------------------------ analysis
def chi2_uniform(ranks, n_bins=20, L=L_DRAWS):
    """Chi-square test of uniformity of ranks in {0..L} with n_bins equal bins."""
    from scipy import stats

    ranks = np.asarray(ranks, dtype=int)
    if (L + 1) % n_bins:
        raise ValueError(f"n_bins must divide L + 1 = {L + 1}.")
    counts = np.bincount(ranks * n_bins // (L + 1), minlength=n_bins)
    expected = len(ranks) / n_bins
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    return chi2, float(stats.chi2.sf(chi2, n_bins - 1)), counts


def holm(pvalues):
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adj = np.empty(m)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        adj[j] = running
    return adj


ALL_TYPES = ("full", "diag", "spherical", "tied", *SHARED)


def analyse(tag="", n_bins=20, plots=True, pool=None, types=ALL_TYPES, pooled_tag="_pooled"):
    """Tests, table and plots from the CSVs of ``tag`` (or of all tags in ``pool``,
    written under the tag ``pooled_tag``), for the covariance ``types`` that have
    results; the summary goes to ``sbc_summary<tag>.txt`` (``sbc_summary<tag>_<types>.txt``
    for a subset of the types)."""
    import pandas as pd

    lines = []
    tags = [tag] if pool is None else list(pool)
    if pool is not None:
        tag = pooled_tag
    for ct in types:
        paths = [RESULTS / f"sbc_{ct}{t}.csv" for t in tags]
        if not all(p.exists() for p in paths):
            continue
        df = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
        ok = df[df["status"] == "ok"]
        cols = [c for c in ok.columns if c.startswith("rank_")]
        res = []
        for c in cols:
            chi2, p, counts = chi2_uniform(ok[c].astype(int), n_bins)
            res.append({"quantity": c[5:], "chi2": chi2, "p": p})
        res = pd.DataFrame(res)
        # Holm over the label-invariant + EM-relabelled family (the valid SBC statistics);
        # the truth-relabelled ones are corrected separately.
        res["family"] = np.where(res["quantity"].str.endswith("_tr"), "relabel-to-truth", "primary")
        res["p_holm"] = np.nan
        for fam, idx in res.groupby("family").groups.items():
            res.loc[idx, "p_holm"] = holm(res.loc[idx, "p"])
        res["p_bonferroni_all"] = np.minimum(1.0, res["p"] * len(res))
        res.insert(0, "covariance_type", ct)
        res.to_csv(RESULTS / f"sbc_{ct}{tag}_pvalues.csv", index=False, float_format="%.4g")
        n_fail = int((df["status"] != "ok").sum())
        lines.append(f"## {ct}: {len(ok)} replicates ok, {n_fail} failed; "
                     f"divergent replicates {int((ok['divergences'] > 0).sum())}, "
                     f"median wall {ok['wall_time'].median():.1f} s/replicate")
        lines.append(res.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if plots:
            _plots(ok, cols, ct, tag, n_bins)
    text = "\n".join(lines)
    print(text)
    suffix = "" if tuple(types) == ALL_TYPES else "_" + "_".join(types)
    (RESULTS / f"sbc_summary{tag}{suffix}.txt").write_text(text + "\n")
    return text


def _plots(ok, cols, ct, tag, n_bins):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    n = len(cols)
    ncol = 6
    nrow = int(np.ceil(n / ncol))
    R = len(ok)
    # rank histograms with a 99% band for the bin counts
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.0 * nrow), squeeze=False)
    lo, hi = stats.binom.ppf([0.005, 0.995], R, 1 / n_bins)
    for ax, c in zip(axes.flat, cols):
        counts = np.bincount(ok[c].astype(int) * n_bins // (L_DRAWS + 1), minlength=n_bins)
        ax.axhspan(lo, hi, color="0.85")
        ax.axhline(R / n_bins, color="0.5", lw=0.8)
        ax.bar(np.arange(n_bins), counts, width=1.0, color="C0", edgecolor="white")
        ax.set_title(c[5:], fontsize=8)
        ax.set_xticks([])
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(f"SBC rank histograms, {ct}, {R} replicates, L={L_DRAWS}, {n_bins} bins (grey: 99% band)", fontsize=9)
    fig.tight_layout()
    fig.savefig(RESULTS / f"sbc_{ct}{tag}_ranks.png", dpi=80)
    plt.close(fig)
    # ECDF difference with a simultaneous-ish band (pointwise 99% binomial, for reference)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.0 * nrow), squeeze=False)
    z = np.linspace(0, 1, 101)
    band = stats.binom.ppf(0.995, R, z) / R - z
    for ax, c in zip(axes.flat, cols):
        u = (ok[c].astype(int).to_numpy() + 0.5) / (L_DRAWS + 1)
        ecdf = np.searchsorted(np.sort(u), z, side="right") / R
        ax.fill_between(z, -band, band, color="0.85")
        ax.plot(z, ecdf - z, color="C1", lw=1)
        ax.axhline(0, color="0.5", lw=0.6)
        ax.set_title(c[5:], fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(f"SBC ECDF difference, {ct}, {R} replicates (grey: pointwise 99% band)", fontsize=9)
    fig.tight_layout()
    fig.savefig(RESULTS / f"sbc_{ct}{tag}_ecdf.png", dpi=80)
    plt.close(fig)


@contextmanager
def _backend(scheduler):
    """joblib's dask backend on the cluster at ``scheduler``; joblib's default (loky) for None."""
    if scheduler is None:
        yield
        return
    import joblib
    from dask.distributed import Client

    with Client(scheduler), joblib.parallel_config(backend="dask"):
        yield


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--covariance-type", nargs="+", default=["full", "diag"],
                    choices=["full", "diag", "spherical", "tied", *SHARED])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20181)
    ap.add_argument("--tag", default=None,
                    help="suffix of the result files (e.g. _smoke); default '' for nuts, '_<method>' otherwise")
    ap.add_argument("--analyse", action="store_true", help="only analyse the CSVs on file")
    ap.add_argument("--check-prior", action="store_true",
                    help="only compare the prior simulator with NUTS on the prior-only density")
    ap.add_argument("--bins", type=int, default=20)
    ap.add_argument("--pool", nargs="+", default=None, metavar="TAG",
                    help="with --analyse: pool the runs of these tags ('' for the untagged run); the "
                         "result tag is _pooled, or _<method>_pooled with --method tempering/gibbs")
    ap.add_argument("--mean-scale", type=float, default=None,
                    help="prior sd of the component means at unit data scale (default 2, the package's; "
                         "0.5 gives the overlapping configuration)")
    ap.add_argument("--method", choices=list(METHODS), default=None,
                    help="posterior sampler (default nuts, the package's default path; tempering: replica "
                         "exchange; gibbs: Gibbs sampling with data augmentation)")
    ap.add_argument("--resolution", type=float, default=None,
                    help="round the simulated data to this step (unit data scale) and fit them as rounded "
                         "(Gibbs's resolution=; only with --method gibbs)")
    ap.add_argument("--round-only", action="store_true",
                    help="with --resolution: round the data but fit them as continuous (the control)")
    ap.add_argument("--split-merge", type=int, default=None, metavar="M",
                    help="with --method gibbs: M split-merge moves per sweep (Gibbs's split_merge=)")
    ap.add_argument("--timeout", type=float, default=480.0,
                    help="wall seconds per replicate before it is recorded as 'timeout' (default 480)")
    ap.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="run the replicates on the dask.distributed cluster at ADDRESS (e.g. "
                         "tcp://host:8786) through joblib's dask backend, on all its workers "
                         "(--processes is then ignored)")
    args = ap.parse_args(argv)
    global MEAN_SCALE, SBC_METHOD, RESOLUTION, ROUND_ONLY, SPLIT_MERGE
    if args.split_merge is not None:
        if args.method != "gibbs":
            ap.error("--split-merge needs --method gibbs")
        os.environ["BAYESGMM_SBC_SPLIT_MERGE"] = str(args.split_merge)
        SPLIT_MERGE = args.split_merge
    if args.resolution is not None:
        if args.method != "gibbs":
            ap.error("--resolution needs --method gibbs (the sampler that models rounded data)")
        os.environ["BAYESGMM_SBC_RESOLUTION"] = repr(args.resolution)
        RESOLUTION = args.resolution
        if args.round_only:
            os.environ["BAYESGMM_SBC_ROUND_ONLY"] = "1"
            ROUND_ONLY = True
    if args.mean_scale is not None:  # workers are spawned: they read the environment
        os.environ["BAYESGMM_SBC_MEAN_SCALE"] = repr(args.mean_scale)
        MEAN_SCALE = args.mean_scale
    if args.method is not None:
        os.environ["BAYESGMM_SBC_METHOD"] = args.method
        SBC_METHOD = args.method
    if args.tag is None:
        args.tag = default_tag(SBC_METHOD)
    t0 = time.perf_counter()
    if args.check_prior:
        for ct in args.covariance_type:
            check_prior(ct)
        return 0
    if not args.analyse:
        with _backend(args.scheduler):
            for ct in args.covariance_type:
                run(ct, args.replicates, -1 if args.scheduler else args.processes, args.seed, args.tag,
                    args.timeout)
    # every type with results under this tag; pooled runs of another sampler go to _<method>_pooled
    analyse(args.tag, args.bins, pool=args.pool, pooled_tag=default_tag(SBC_METHOD) + "_pooled")
    print(f"total wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
