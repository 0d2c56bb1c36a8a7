"""Hard posteriors: the default NUTS (nutpie) against Gibbs sampling (``method="gibbs"``).

(Replica exchange, ``method="tempering"``, stays available with ``--methods``.)

Cases (N observations, unit covariances, equal weights; ``--cases`` picks):

``a``  N=1000, D=2, K=3: two of the three components one sd apart, the third
       far ((0, 0), (1, 0), (6, 0)): the posterior has a mode where one
       component covers both close groups and one where they split.
``b``  N=600, D=2: two separated components ((0, 0), (8, 0)) fitted with K=3,
       one more than the truth.
``c``  N=1000, D=2, K=3 in a row at 1.5 sd spacing ((0, 0), (1.5, 0), (3, 0)).
``iris``, ``faithful``
       ``select_components(method="sparse", n_components=range(1, 7))`` with
       the samplers of ``--sparse-methods`` (default ``gibbs``, with
       ``--sparse-temperatures`` replicas per chain; NUTS with ``--sparse-nuts``):
       the posterior of the number of occupied components. Both data sets are
       rounded (waiting to the minute, iris to 0.1 cm), and tied values make the
       model's posterior improper (``--sparse-jitter`` adds the rounding error,
       uniform over each value's rounding interval: waiting 1 min, eruptions
       1/60 min, iris 0.1 cm, seed 123, to show what the ties do), and
       ``--sparse-rounded`` models them as rounded (Gibbs's ``resolution=``, the
       smallest gap between distinct values: faithful 0.001 and 1, iris 0.1;
       ``--sparse-rounded unit``: the recording units, eruptions 1/60 min (times
       were recorded to the second), waiting 1 min, iris 0.1 cm).
       Printed per chain: the share of each count and how often the count changed
       between kept draws.

For a, b, c every method is a :meth:`bayesgmm.BayesianGMM.fit` with the same
seed-derived data; reported per run: wall time of the fit (EM included), max
R-hat and min bulk ESS over the relabelled weights and means (arviz-stats),
and the label-invariant *smallest weight* per draw: its histogram's modes and
the fraction of draws in each mode, and the fraction of draws with the smallest
weight below 0.05 (overall and per chain). The modes and the cut points between
them are found on a *reference*, ``--reference``.

The smallest weight's histogram on these cases falls steadily from a mode near 0.01
(one component nearly empty) with a long tail over the "split" configurations, so
the valley finder finds one mode and the valley fractions are trivially ``[1.0]``.
The comparison that counts is therefore made on fixed *bands* of the smallest
weight, ``< 0.05`` (one component nearly empty: the "absorbed" state), ``0.05-0.15``
and ``>= 0.15`` (every component used: the "split" state), the thresholds of the
Gibbs reference's switch count. Each method's *fraction error* is the largest
absolute difference from the reference over the bands and over the valley
fractions; the target is <= 0.05.

``method-gibbs`` (the default)
    ``--ref-runs`` (default 4) independent runs of ``BayesianGMM.fit(method="gibbs")``
    with seeds 1000, 1001, ... (``--ref-gibbs-chains`` 2 chains of
    ``--ref-gibbs-tune`` 2000 + ``--ref-gibbs-draws`` 5000 x ``--ref-gibbs-thin`` 30
    sweeps each: every chain is 3x as long as a benchmarked ``gibbs`` chain and the
    pooled reference 6x the benchmarked run). Valid when every run has R-hat <= 1.01
    and the runs' band fractions agree within 0.03 (both printed). The pure-Python
    reference on file (below) is printed alongside for comparison.
``gibbs``
    ``--ref-runs`` (default 4) independent chains of ``validation/gibbs.py``,
    Gibbs sampling with data augmentation on exactly this model (memberships,
    weights and means drawn from their exact conditionals, each covariance by a
    cycle of Metropolis-Hastings kernels), ``--ref-burn`` + ``--ref-sweeps``
    sweeps each, from dispersed starts. It is the default because it is the only
    reference shown valid on case a: its target is checked against the package's
    density (``tests/test_gibbs_reference.py``: the augmented joint summed over
    every allocation equals ``MixtureDensity`` to ~1e-12), it agrees with NUTS on
    an easy posterior (``validation/results/gibbs_vs_nuts.txt``: max |z| 1.9 over
    12 quantities), and on case a four chains of 25000 sweeps reach split R-hat
    <= 1.005 on every label-invariant summary (75000 sweeps: <= 1.0014) with their
    fractions below 0.05 within 0.024 (0.021)
    (``benchmarks/results/hard_posteriors_gibbs_reference_2026-11-30.txt``;
    ``validation/README.md``). It is valid when that R-hat is <= 1.01 (printed).
    Gibbs switches slowly between the states (~17 moves between smallest weight
    < 0.05 and > 0.15 per 25000 sweeps on case a), so it needs long chains
    (~3 ms per sweep): 4 x 25000 sweeps take ~5 min on an idle core. Cases b and c
    need longer chains than 4 x 40000 to agree within 0.03.
``tempering``
    ``--ref-runs`` (default 3) independent long tempering runs (different seeds),
    valid when every run has R-hat <= 1.01; on case a they do not (R-hat 1.1-1.14,
    ``results/hard_posteriors_2026-11-30_idle.txt``).

The reference runs are pooled; their agreement (mode fractions within 0.03) is
printed. Each method's fractions are then compared with the reference's (target:
within 0.05).

Methods (``--methods``, default ``nuts gibbs``; all with ``--chains`` 4 chains and
``log_likelihood=False``, the same for every method):

``nuts``       the default ``fit``: ``--nuts-tune`` 1000 + ``--nuts-draws`` 1000
               (``BayesianGMM``'s defaults).
``gibbs``      ``--gibbs-tune`` 1000 warm-up sweeps + ``--gibbs-draws`` 5000 kept
               draws x ``--gibbs-thin`` 10 (51,000 sweeps per chain),
               ``n_cov_steps`` 2 (the default), chains in parallel threads.
``tempering``  ``--tune`` + ``--draws``, ``--n-temperatures``.

The methods run first (so the first fit of a process includes loading the compiled
code, as a user's would), then the reference.

Usage::

    python benchmarks/hard_posteriors.py                     # a, b, c; nuts and gibbs; reference
    python benchmarks/hard_posteriors.py --quick             # a small smoke run (minutes)
    python benchmarks/hard_posteriors.py --cases a --methods nuts gibbs tempering
    python benchmarks/hard_posteriors.py --cases a --reference gibbs       # validation/gibbs.py
    python benchmarks/hard_posteriors.py --cases a --reference tempering   # the old reference
    python benchmarks/hard_posteriors.py --cases iris faithful

The machine's load (``os.getloadavg``) is printed with every row: the targets
(case a: R-hat <= 1.01, bulk ESS >= 400 within 120 s, fraction error <= 0.05)
are for this 2-core machine. Each method row ends with the target check.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np

RHAT_MAX = 1.01
ESS_MIN = 400

CASES = {
    "a": dict(N=1000, K=3, means=[(0.0, 0.0), (1.0, 0.0), (6.0, 0.0)]),
    "b": dict(N=600, K=3, means=[(0.0, 0.0), (8.0, 0.0)]),
    "c": dict(N=1000, K=3, means=[(0.0, 0.0), (1.5, 0.0), (3.0, 0.0)]),
}


def make_data(case, seed=0):
    spec = CASES[case]
    rng = np.random.default_rng(seed)
    m = np.asarray(spec["means"])
    z = rng.integers(0, len(m), size=spec["N"])
    return m[z] + rng.standard_normal((spec["N"], 2)), spec["K"]


def load():
    return "load %.2f %.2f %.2f" % os.getloadavg()


def commit():
    import subprocess

    try:
        here = os.path.dirname(os.path.abspath(__file__))
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except Exception:  # noqa: BLE001 - not a git checkout
        return "unknown"


def fit(X, K, method, seed, draws, tune, chains, **kw):
    import bayesgmm as bg

    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = bg.BayesianGMM(K, random_state=seed).fit(
            X, method=method, draws=draws, tune=tune, chains=chains, progressbar=False,
            log_likelihood=False, **kw
        )
    el = time.perf_counter() - t
    return m, el, [f"{type(w.message).__name__}: {str(w.message)[:160]}" for w in caught]


def summarise(model):
    import arviz_stats as azs

    post = model.idata_["posterior"].to_dataset()[["weights", "means"]]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        rhat = azs.rhat(post, sample_dims=("chain", "draw"))
        ess = azs.ess(post, sample_dims=("chain", "draw"), method="bulk")
    rmax = max(float(rhat[v].max()) for v in rhat.data_vars)
    emin = min(float(ess[v].min()) for v in ess.data_vars)
    w = post["weights"].transpose("chain", "draw", "component").to_numpy()
    return rmax, emin, np.sort(w, axis=-1)[..., 0].ravel()  # smallest weight per draw


def modes_and_cuts(x, bins=40):
    """Modes of the histogram of ``x`` (smoothed) and the valleys between them."""
    hi = max(float(np.quantile(x, 0.999)), 1e-9)
    h, edges = np.histogram(x, bins=bins, range=(0.0, hi))
    centres = 0.5 * (edges[1:] + edges[:-1])
    hs = np.convolve(h, np.ones(3) / 3, mode="same")
    peaks = [i for i in range(bins) if hs[i] >= max(hs[max(i - 2, 0) : i + 3]) and hs[i] > 0.02 * hs.max()]
    merged = []
    for i in peaks:  # plateaus: keep one peak per run of neighbours
        if merged and i - merged[-1] <= 2:
            if hs[i] > hs[merged[-1]]:
                merged[-1] = i
            continue
        merged.append(i)
    cuts = []
    for a, b in zip(merged, merged[1:]):
        v = a + int(np.argmin(hs[a : b + 1]))
        # a real valley: below 60% of the lower neighbouring peak
        if hs[v] < 0.6 * min(hs[a], hs[b]):
            cuts.append(float(centres[v]))
    kept = [centres[merged[0]]] + [c for c in centres[merged[1:]]]
    return [float(c) for c in kept], cuts


def fractions(x, cuts):
    idx = np.searchsorted(np.asarray(cuts), x)
    return np.bincount(idx, minlength=len(cuts) + 1) / x.size


def gibbs_reference(case, args):
    """``--ref-runs`` independent Gibbs chains (``validation/gibbs.py``): the smallest
    weight per draw of each, and whether the reference is valid (split R-hat of every
    label-invariant summary <= RHAT_MAX)."""
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "validation"))
    import gibbs

    t = time.perf_counter()
    r = gibbs.reference(case, chains=args.ref_runs, sweeps=args.ref_sweeps, burn=args.ref_burn,
                        thin=args.ref_thin, seed=args.seed, data_seed=args.data_seed, quiet=True)
    el = time.perf_counter() - t
    rmax = max(r["rhat"].values())
    for c, (w, tc) in enumerate(zip(r["wmin"], r["times"])):
        print(f"  reference Gibbs chain {c}: {tc:.0f} s, {args.ref_burn} + {args.ref_sweeps} sweeps", flush=True)
    print(f"  reference Gibbs: {el:.0f} s, max split R-hat of the label-invariant summaries {rmax:.4f} "
          f"({', '.join(f'{k} {v:.3f}' for k, v in r['rhat'].items())}) ({load()})", flush=True)
    return r["wmin"], rmax <= RHAT_MAX


BANDS = (0.05, 0.15)  # smallest-weight bands: < 0.05 (a component nearly empty), 0.05-0.15, >= 0.15 (all used)
FRACTION_TOL = 0.05
TIME_MAX = 120.0
AGREE_TOL = 0.03

#: The pure-Python Gibbs reference on file (``validation/gibbs.py``,
#: ``results/hard_posteriors_gibbs_reference_2026-11-30.txt``): P(smallest weight < 0.05).
ON_FILE = {
    "a": "0.877 (4 x 75,000 sweeps, R-hat 1.0014, chains 0.867-0.888: valid)",
    "b": "0.840 (4 x 40,000 sweeps, chains 0.799-0.877: not agreed)",
    "c": "0.721 (4 x 40,000 sweeps, chains 0.695-0.747: not agreed)",
}


def bands(x):
    return fractions(x, BANDS)


def method_settings(method, args):
    """(keyword arguments, draws, tune) of a benchmarked method."""
    if method == "nuts":
        return {}, args.nuts_draws, args.nuts_tune
    if method == "gibbs":
        return {"thin": args.gibbs_thin}, args.gibbs_draws, args.gibbs_tune
    return {"n_temperatures": args.n_temperatures}, args.draws, args.tune


def method_gibbs_reference(X, K, args):
    """``--ref-runs`` independent ``method="gibbs"`` fits (seeds 1000, 1001, ...): the smallest
    weight per draw of each, and whether every run converged (R-hat <= RHAT_MAX)."""
    refs, ok = [], True
    for r in range(args.ref_runs):
        m, el, warns = fit(X, K, "gibbs", 1000 + r, args.ref_gibbs_draws, args.ref_gibbs_tune, args.ref_gibbs_chains,
                           thin=args.ref_gibbs_thin)
        rmax, emin, wmin = summarise(m)
        refs.append(wmin)
        ok &= rmax <= RHAT_MAX
        print(f"  reference run {r} (gibbs, seed {1000 + r}, {args.ref_gibbs_chains}x({args.ref_gibbs_tune}+"
              f"{args.ref_gibbs_draws}x{args.ref_gibbs_thin})): {el:.0f} s, R-hat {rmax:.4f}, ESS {emin:.0f}, "
              f"bands {np.round(bands(wmin), 3).tolist()}, P(w_min < 0.05) {np.mean(wmin < 0.05):.3f} ({load()})",
              flush=True)
        for w in warns[:2]:
            print(f"      {w}", flush=True)
    return refs, ok


def run_case(case, args, out):
    X, K = make_data(case, seed=args.data_seed)
    print(f"\n=== case {case}: N={len(X)}, K={K}, means {CASES[case]['means']} ({load()})", flush=True)
    fits = []
    for method in args.methods:
        kw, draws, tune = method_settings(method, args)
        m, el, warns = fit(X, K, method, args.seed, draws, tune, args.chains, **kw)
        rmax, emin, wmin = summarise(m)
        extra = ""
        if method == "tempering":
            inf = json.loads(m.idata_.attrs["sampler_config"])["inference"]
            extra = (f" swaps {np.round(inf['swap_acceptance'], 2).tolist()} round trips {inf['round_trips']} "
                     f"barrier {inf['communication_barrier']:.2f}")
        elif method == "gibbs":
            inf = json.loads(m.idata_.attrs["sampler_config"])["inference"]
            extra = (f" sampling {inf['sampling_time']:.1f} s, covariance acceptance (median) "
                     f"{np.median(inf['cov_acceptance']):.2f}")
        print(f"  fitted {method} {args.chains}x({tune}+{draws}{'x' + str(kw['thin']) if 'thin' in kw else ''}): "
              f"{el:.1f} s [{load()}]", flush=True)
        fits.append((method, kw, draws, tune, el, warns, rmax, emin, wmin, extra, load()))
        del m
    print(f"  pure-Python Gibbs reference on file (validation/gibbs.py): P(w_min < 0.05) = "
          f"{ON_FILE.get(case, '-')}", flush=True)
    if args.reference == "gibbs":
        refs, ref_ok = gibbs_reference(case, args)
    elif args.reference == "method-gibbs":
        refs, ref_ok = method_gibbs_reference(X, K, args)
    else:  # independent long tempering runs
        refs, ref_ok = [], True
        for r in range(args.ref_runs):
            m, el, warns = fit(X, K, "tempering", 1000 + r, args.ref_draws, args.ref_tune, args.ref_chains,
                               n_temperatures=args.n_temperatures)
            rmax, emin, wmin = summarise(m)
            refs.append(wmin)
            ref_ok &= rmax <= RHAT_MAX
            print(f"  reference run {r}: {el:.0f} s, R-hat {rmax:.3f}, ESS {emin:.0f} ({load()})", flush=True)
    pooled = np.concatenate(refs)
    ref_modes, cuts = modes_and_cuts(pooled)
    ref_frac = fractions(pooled, cuts)
    ref_bands = bands(pooled)
    ref_below = float(np.mean(pooled < 0.05))
    per_run = [fractions(w, cuts) for w in refs]
    per_run_bands = [bands(w) for w in refs]
    spread = float(np.max(np.ptp(np.array(per_run), axis=0))) if len(per_run) > 1 else float("nan")
    spread_b = float(np.max(np.ptp(np.array(per_run_bands), axis=0))) if len(refs) > 1 else float("nan")
    agree = max(spread, spread_b) <= AGREE_TOL
    valid = bool(ref_ok and agree)
    print(f"  reference ({args.reference}, {len(refs)} runs, {pooled.size} draws): smallest-weight modes "
          f"{np.round(ref_modes, 3).tolist()}, cuts {np.round(cuts, 3).tolist()}, fractions {np.round(ref_frac, 3).tolist()}; "
          f"bands (< 0.05, 0.05-0.15, >= 0.15) {np.round(ref_bands, 3).tolist()}, per run "
          f"{[np.round(f, 3).tolist() for f in per_run_bands]} (max spread {spread_b:.3f}; valley fractions spread "
          f"{spread:.3f}; agree within {AGREE_TOL}: {agree}; every run R-hat <= {RHAT_MAX}: {ref_ok}"
          f"{'' if valid else ' -- NOT a valid reference'}); P(smallest weight < 0.05) {ref_below:.3f}, per run "
          f"{[round(float(np.mean(w < 0.05)), 3) for w in refs]}", flush=True)
    for method, kw, draws, tune, el, warns, rmax, emin, wmin, extra, ld in fits:
        modes, _ = modes_and_cuts(wmin)
        frac = fractions(wmin, cuts)
        bnd = bands(wmin)
        diff = float(max(np.max(np.abs(frac - ref_frac)), np.max(np.abs(bnd - ref_bands))))
        below = float(np.mean(wmin < 0.05))
        ok = rmax <= RHAT_MAX and emin >= ESS_MIN
        checks = dict(rhat=rmax <= RHAT_MAX, ess=emin >= ESS_MIN, time=el <= TIME_MAX, fractions=diff <= FRACTION_TOL)
        met = all(checks.values()) and valid
        row = dict(case=case, method=method, settings=kw, time_s=round(el, 1), rhat_max=round(rmax, 4),
                   ess_bulk_min=round(emin, 0), chains=args.chains, draws=draws, tune=tune,
                   modes=np.round(modes, 3).tolist(), fractions=np.round(frac, 3).tolist(),
                   ref_fractions=np.round(ref_frac, 3).tolist(), bands=np.round(bnd, 3).tolist(),
                   ref_bands=np.round(ref_bands, 3).tolist(), max_fraction_error=round(diff, 3),
                   below_005=round(below, 3), ref_below_005=round(ref_below, 3),
                   below_005_per_chain=[round(float(np.mean(c < 0.05)), 3) for c in wmin.reshape(args.chains, -1)],
                   converged=ok, reference=args.reference, reference_valid=valid, reference_spread=round(spread_b, 3),
                   target_checks=checks, target_met=met, load=ld, warnings=warns[:4])
        out.append(row)
        sweeps = f"x{kw['thin']}" if "thin" in kw else ""
        print(f"  {method:9s} {args.chains}x({tune}+{draws}{sweeps}): {el:6.1f} s  R-hat {rmax:.4f}  ESS {emin:5.0f}  "
              f"modes {row['modes']}  fractions {row['fractions']} (ref {row['ref_fractions']})  bands {row['bands']} "
              f"(ref {row['ref_bands']})  error {diff:.3f}  P(w_min < 0.05) {below:.3f} (ref {ref_below:.3f}; per chain "
              f"{row['below_005_per_chain']}){extra}  [{ld}]", flush=True)
        verdicts = ", ".join(f"{k} {'ok' if v else 'NO'}" for k, v in checks.items())
        print(f"      target (R-hat <= {RHAT_MAX}, ESS >= {ESS_MIN}, <= {TIME_MAX:.0f} s, error <= {FRACTION_TOL}, "
              f"valid reference): {verdicts}"
              f"{'' if valid else ', reference NOT valid'} -> {'MET' if met else 'not met'}", flush=True)
        for w in warns[:3]:
            print(f"      {w}", flush=True)


def run_sparse(name, args, out):
    import bayesgmm as bg

    if name == "faithful":
        X = bg.datasets.load_old_faithful()
    else:
        from sklearn.datasets import load_iris

        X = load_iris(as_frame=True).data
    if args.sparse_jitter:  # the rounding error, uniform over each value's rounding interval
        resolution = {"waiting": 1.0, "eruptions": 1 / 60}
        rng = np.random.default_rng(123)
        X = X.copy()
        for c in X:
            d = resolution.get(c, 0.1)
            X[c] = X[c] + rng.uniform(-d / 2, d / 2, len(X))
    if args.sparse_rounded == "smallest":  # what the tie warning suggests: the smallest gaps
        from bayesgmm._data import tied_values

        step = tied_values(np.asarray(X, dtype=float))[2]
        args._resolution = [float(f"{v:.3g}") for v in step]
    elif args.sparse_rounded == "unit":  # the recording units: seconds and minutes; 0.1 cm
        args._resolution = [1 / 60, 1.0] if name == "faithful" else [0.1] * X.shape[1]
    methods = list(args.sparse_methods) + (["nuts"] if args.sparse_nuts and "nuts" not in args.sparse_methods else [])
    for inference in methods:
        kw = {"n_temperatures": args.n_temperatures} if inference == "tempering" else {}
        if inference == "gibbs":
            kw = {"thin": args.sparse_thin, "n_temperatures": args.sparse_temperatures}
            if args.sparse_rounded:
                kw["resolution"] = args._resolution
            if args.sparse_split_merge:
                kw["split_merge"] = args.sparse_split_merge
                kw["split_merge_scale"] = args.sparse_split_merge_scale
        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = bg.select_components(
                X, n_components=range(1, 7), method="sparse", inference=inference, random_state=args.seed,
                progressbar=False, draws=args.sparse_draws, tune=args.sparse_tune, chains=args.chains, **kw,
            )
        el = time.perf_counter() - t
        tab = res.table
        prob = tab["probability"].isel(covariance_type=0).to_numpy()
        occ = tab["occupied"].isel(covariance_type=0)
        import arviz_stats as azs
        import xarray as xr

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            rh = float(azs.rhat(xr.Dataset({"o": occ.astype(float)}), sample_dims=("chain", "draw"))["o"])
            rh_e = float(azs.rhat(xr.Dataset({"e": tab["expected_occupied"].isel(covariance_type=0)}),
                                  sample_dims=("chain", "draw"))["e"])
        per_chain = [np.round(np.bincount(c, minlength=7)[1:] / c.size, 2).tolist() for c in occ.to_numpy()]
        # how often each chain's count changes between kept draws: few changes mean that the
        # chains' agreement (R-hat) rests on few visits to each count
        changes = [int(np.sum(np.diff(c) != 0)) for c in occ.to_numpy()]
        label = name + (" + rounding error" if args.sparse_jitter else "")
        if args.sparse_rounded and inference == "gibbs":
            label += f", resolution={args._resolution}"
        if inference == "gibbs" and args.sparse_temperatures > 1:
            label += f", {args.sparse_temperatures} temperatures"
        if inference == "gibbs" and args.sparse_split_merge:
            label += f", split-merge {args.sparse_split_merge:g}/sweep (scale {args.sparse_split_merge_scale:g})"
        print(f"\n=== sparse on {label} (K_max=6, {inference}, {args.chains}x({args.sparse_tune}+{args.sparse_draws})): "
              f"{el:.0f} s, P(K+ = 1..6) = {np.round(prob, 3).tolist()}, selected {res.n_components}, "
              f"R-hat(occupied) {rh:.3f}, R-hat(expected occupied) {rh_e:.3f}; per chain {per_chain}; "
              f"changes of the count per chain {changes} [{load()}]",
              flush=True)
        if inference == "gibbs" and args.sparse_temperatures > 1:
            sc = res.best_model.idata_.attrs["sampler_config"]
            inf = (json.loads(sc) if isinstance(sc, str) else sc)["inference"]
            print(f"      ladder {np.round(inf['betas'], 4).tolist()}; swap acceptance "
                  f"{np.round(inf['swap_acceptance'], 3).tolist()}; round trips per chain {inf['round_trips']}",
                  flush=True)
        if inference == "gibbs" and args.sparse_split_merge:
            sc = res.best_model.idata_.attrs["sampler_config"]
            inf = (json.loads(sc) if isinstance(sc, str) else sc)["inference"]
            c = inf.get("split_merge_counts")
            if c:
                print(f"      split-merge (kept sweeps, all chains): splits {c[1]}/{c[0]} accepted "
                      f"({c[1] / max(c[0], 1):.4f}), merges {c[3]}/{c[2]} ({c[3] / max(c[2], 1):.4f}); per chain "
                      f"{inf.get('split_merge_counts_per_chain')}; "
                      f"sampling {inf.get('sampling_time', float('nan')):.0f} s "
                      f"of the {el:.0f} s", flush=True)
        sel = [w for w in caught if type(w.message).__name__ == "SelectionWarning"]
        for w in [w for w in caught if w not in sel][:3] + sel:
            print(f"      {type(w.message).__name__}: {str(w.message)[:200]}", flush=True)
        out.append(dict(case=label, method=f"sparse/{inference}", time_s=round(el, 1), prob=np.round(prob, 3).tolist(),
                        rhat_occupied=round(rh, 4), rhat_expected_occupied=round(rh_e, 4), per_chain=per_chain,
                        changes=changes,
                        load=load()))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", nargs="+", default=["a", "b", "c"], choices=[*CASES, "iris", "faithful"])
    p.add_argument("--methods", nargs="+", default=["nuts", "gibbs"], choices=["nuts", "gibbs", "tempering"],
                   help="the benchmarked methods (default: nuts gibbs)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--quick", action="store_true",
                   help="a small smoke run: short runs of every setting (results not meaningful)")
    p.add_argument("--draws", type=int, default=500, help="tempering: draws per chain")
    p.add_argument("--tune", type=int, default=500, help="tempering: warm-up draws per chain")
    p.add_argument("--nuts-draws", type=int, default=1000)
    p.add_argument("--nuts-tune", type=int, default=1000)
    p.add_argument("--gibbs-draws", type=int, default=5000, help="gibbs: kept draws per chain")
    p.add_argument("--gibbs-thin", type=int, default=10, help="gibbs: keep every n-th sweep")
    p.add_argument("--gibbs-tune", type=int, default=1000, help="gibbs: warm-up sweeps per chain")
    p.add_argument("--n-temperatures", type=int, default=8)
    p.add_argument("--reference", choices=["method-gibbs", "gibbs", "tempering"], default="method-gibbs",
                   help="the reference: --ref-runs independent long method='gibbs' fits (default), --ref-runs "
                        "chains of validation/gibbs.py (pure-Python Gibbs sampling with data augmentation), or "
                        "--ref-runs long tempering runs")
    p.add_argument("--ref-runs", type=int, default=None,
                   help="reference runs (default: 4 method-gibbs runs, 4 validation/gibbs.py chains, 3 tempering runs)")
    p.add_argument("--ref-gibbs-chains", type=int, default=2, help="method-gibbs reference: chains per run")
    p.add_argument("--ref-gibbs-draws", type=int, default=5000, help="method-gibbs reference: kept draws per chain")
    p.add_argument("--ref-gibbs-thin", type=int, default=30, help="method-gibbs reference: keep every n-th sweep")
    p.add_argument("--ref-gibbs-tune", type=int, default=2000, help="method-gibbs reference: warm-up sweeps")
    p.add_argument("--ref-draws", type=int, default=1500, help="tempering reference: draws per chain")
    p.add_argument("--ref-tune", type=int, default=500, help="tempering reference: warm-up draws per chain")
    p.add_argument("--ref-chains", type=int, default=2, help="tempering reference: chains per run")
    p.add_argument("--ref-sweeps", type=int, default=25000, help="validation/gibbs.py reference: sweeps per chain")
    p.add_argument("--ref-burn", type=int, default=1000, help="validation/gibbs.py reference: burn-in sweeps per chain")
    p.add_argument("--ref-thin", type=int, default=1, help="validation/gibbs.py reference: keep every n-th sweep")
    p.add_argument("--sparse-draws", type=int, default=500)
    p.add_argument("--sparse-tune", type=int, default=500)
    p.add_argument("--sparse-methods", nargs="+", default=["gibbs"], choices=["gibbs", "tempering", "nuts"],
                   help="samplers of the sparse cases (default: gibbs, the sparse method's default)")
    p.add_argument("--sparse-thin", type=int, default=None,
                   help="thin of the sparse cases with gibbs (default: the sparse method's, SPARSE_GIBBS_THIN)")
    p.add_argument("--sparse-rounded", nargs="?", const="smallest", choices=["smallest", "unit"], default=None,
                   help="model faithful and iris as rounded (gibbs's resolution=): 'smallest' (the default) the "
                        "smallest gap between distinct values of each feature, as the tie warning suggests; "
                        "'unit' the recording units (eruptions 1/60 min, waiting 1 min; iris 0.1 cm)")
    p.add_argument("--sparse-nuts", action="store_true", help="also run the sparse method with NUTS")
    p.add_argument("--sparse-split-merge", type=float, default=0.0,
                   help="split-merge moves per sweep of the sparse cases with gibbs (experimental; default 0: off)")
    p.add_argument("--sparse-split-merge-scale", type=float, default=1.0,
                   help="scale of the split-merge moves' parameter proposals (default 1)")
    p.add_argument("--sparse-temperatures", type=int, default=1,
                   help="n_temperatures of the sparse cases with gibbs (default 1: no tempering)")
    p.add_argument("--sparse-jitter", action="store_true",
                   help="add the rounding error to faithful and iris (see the docstring)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the rows to this JSON file")
    p.add_argument("--long-nuts", default=None,
                   help="only the default NUTS on the cases, --chains x (1000 + D) for each "
                        "comma-separated D: time, R-hat, ESS and, per chain, the fraction of "
                        "draws whose smallest weight is below 0.05")
    args = p.parse_args()
    if args.sparse_thin is None:
        from bayesgmm.selection import SPARSE_GIBBS_THIN

        args.sparse_thin = SPARSE_GIBBS_THIN
    if args.ref_runs is None:
        args.ref_runs = 3 if args.reference == "tempering" else 4
    if args.quick:
        args.ref_runs = 2
        for k, v in dict(draws=100, tune=100, nuts_draws=200, nuts_tune=200, gibbs_draws=300, gibbs_thin=2,
                         gibbs_tune=200, ref_gibbs_draws=300, ref_gibbs_thin=2, ref_gibbs_tune=200, ref_draws=100,
                         ref_tune=100, ref_sweeps=300, ref_burn=100, sparse_draws=100, sparse_tune=100).items():
            setattr(args, k, v)
    print(f"hard_posteriors: {vars(args)} (commit {commit()}, {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} "
          f"UTC, {load()}, {os.cpu_count()} CPUs, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')})",
          flush=True)
    if args.long_nuts:
        for case in args.cases:
            X, K = make_data(case, args.data_seed)
            for d in (int(v) for v in args.long_nuts.split(",")):
                m, el, _ = fit(X, K, "nuts", args.seed, d, 1000, args.chains)
                rmax, emin, wmin = summarise(m)
                frac = [round(float(np.mean(c < 0.05)), 3) for c in wmin.reshape(args.chains, -1)]
                print(f"  {case} nuts {args.chains}x(1000+{d}): {el:.1f} s  R-hat {rmax:.3f}  ESS {emin:.0f}  "
                      f"fraction of draws with smallest weight < 0.05, per chain {frac}  [{load()}]",
                      flush=True)
        return
    out = []
    for case in args.cases:
        if case in CASES:
            run_case(case, args, out)
        else:
            run_sparse(case, args, out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
