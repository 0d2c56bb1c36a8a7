"""``bayesgmm demo``: the whole workflow on the bundled Old Faithful data.

EM tables, the posterior summary, memberships with their uncertainty, and plots
written to ``--out`` (default ``bayesgmm-demo/``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

from bayesgmm.cli._common import (
    _Heartbeat,
    _isatty,
    _ci_words,
    _make_output_dir,
    _memberships_line,
    _posterior_summary,
    _say,
    _table,
    write_plots,
)

#: Columns of the printed EM-vs-posterior table, in order.
COMPARE_COLUMNS = ("em", "mean", "sd", "lower", "upper", "em_inside", "std_diff")


def compare_table(comparison) -> pd.DataFrame:
    """The EM-vs-posterior comparison as a table for printing: one row per parameter.

    Parameters
    ----------
    comparison : xarray.Dataset
        From :meth:`bayesgmm.BayesianGMM.compare_em` (or
        :func:`bayesgmm.posterior.compare_em`).

    Returns
    -------
    pandas.DataFrame
        Index: the parameter labels (``weights[0]``, ``means[1, waiting]``...);
        columns :data:`COMPARE_COLUMNS` (``em``, ``mean``, ``sd``, ``lower``,
        ``upper``, ``em_inside``, ``std_diff``), without the ``variable``
        coordinate (it repeats the start of each label).

    Examples
    --------
    >>> import xarray as xr
    >>> from bayesgmm.cli import COMPARE_COLUMNS, compare_table
    >>> ds = xr.Dataset({c: ("parameter", [0.5]) for c in COMPARE_COLUMNS},
    ...                 coords={"parameter": ["weights[0]"], "variable": ("parameter", ["weights"])})
    >>> list(compare_table(ds).columns) == list(COMPARE_COLUMNS)
    True
    """
    df = comparison.to_dataframe() if hasattr(comparison, "to_dataframe") else pd.DataFrame(comparison)
    df = df[[c for c in COMPARE_COLUMNS if c in df.columns]]
    df.index = df.index.astype(str)
    df.index.name = None
    return df


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``bayesgmm demo``."""
    p.add_argument(
        "--quick",
        action="store_true",
        help="fewer chains and draws (2 chains x 300 draws, K=2 only): about half the time",
    )
    p.add_argument(
        "--em-only", action="store_true", help="fit only the EM mixtures (a few seconds; no plots)"
    )
    p.add_argument(
        "--out",
        default="bayesgmm-demo",
        metavar="DIR",
        help="folder for the plots (PNG), created if needed (default: bayesgmm-demo)",
    )


def _em_part(X, seed: int, ks, quiet: bool):
    from bayesgmm.em import DEFAULT_N_INIT, GaussianMixture

    rows, fits = [], {}
    for k in ks:
        t0 = time.perf_counter()
        em = GaussianMixture(k, covariance_type="full", n_init=DEFAULT_N_INIT, random_state=seed).fit(X)
        fits[k] = em
        rows.append(
            {
                "K": k,
                "log-lik/obs": em.lower_bound_,
                "BIC": em.bic(X),
                "ICL": em.icl(X),
                "converged": bool(em.converged_),
                "iterations": em.n_iter_,
                "seconds": time.perf_counter() - t0,
            }
        )
    table = pd.DataFrame(rows).set_index("K")
    if quiet:
        table = table.drop(columns="seconds")
    return fits, table


def _em_components(em, feature_names) -> pd.DataFrame:
    D = em.means_.shape[1]
    from bayesgmm.covariance import get_covariance_type

    full = get_covariance_type(em.covariance_type).to_full(
        em.covariances_, em.n_components, n_features=D
    )
    cols = {"weight": em.weights_}
    for d, name in enumerate(feature_names):
        cols[f"mean[{name}]"] = em.means_[:, d]
    for d, name in enumerate(feature_names):
        cols[f"sd[{name}]"] = np.sqrt(full[:, d, d])
    df = pd.DataFrame(cols)
    df.index.name = "component"
    return df


#: Printed before the K=3 posterior: why it is shown although the data have two clusters.
_K3_INTRO = (
    "Why K=3 as well? Old Faithful really has two clusters (short and long eruptions; BIC prefers K=2",
    "above). A third component is not supported by the data, so its posterior is poorly identified: it",
    "splits one of the two clusters in different ways, or shrinks towards a tiny weight, and chains can",
    "settle on different splits. Expect sampling warnings (R-hat, effective sample size, chains in",
    "different modes) below. That is the point of showing it: EM returns three components without a",
    "complaint; the posterior and its diagnostics show that the data do not support the third one.",
)
#: Printed after the K=3 diagnostics when they found problems.
_K3_PROBLEMS = (
    "These warnings are expected here: they come from the third component, which the data do not "
    "support (see above), and sampling longer will not make it meaningful. Use K=2 for these data "
    "(bayesgmm select compares component counts)."
)


def _bayes_part(X, k, seed, quick, quiet, *, intro=(), if_problems=None):
    """Fit the posterior for K=k and print summary and memberships.

    ``intro`` lines are printed after the section heading; ``if_problems`` after
    the diagnostics when they found problems.
    """
    from bayesgmm.bayesian import BayesianGMM

    chains, draws, tune = (2, 300, 300) if quick else (4, 500, 500)
    model = BayesianGMM(
        k, covariance_type="full", draws=draws, tune=tune, chains=chains,
        progressbar=not quiet and _isatty(sys.stderr),
        random_state=seed,
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _Heartbeat(f"sampling K={k}", quiet):
            model.fit(X)
    seconds = time.perf_counter() - t0
    _say(
        "",
        f"--- Posterior, K={k}: NUTS (nutpie), {chains} chains x {draws} draws after "
        f"{tune} tuning steps, started at the EM fit"
        + ("" if quiet else f" ({seconds:.1f} s including compilation)"),
    )
    from bayesgmm.diagnostics import SamplingWarning, check_diagnostics

    report = check_diagnostics(model.idata_)
    if intro:
        _say(*intro, "")
    _say(str(report))
    if report.problems and if_problems:
        _say(if_problems)
    for w in caught:
        if issubclass(w.category, SamplingWarning):
            continue  # already in the report
        if issubclass(w.category, (UserWarning, RuntimeWarning)) and "BLAS" not in str(w.message):
            _say(f"warning: {w.message}")
    _say("", f"Posterior summary (relabelled against EM; {_ci_words()} intervals):",
         _posterior_summary(model))

    cmp = compare_table(model.compare_em(var_names=["weights", "means", "sds"]))
    _say("", f"EM vs posterior (em_inside: the EM estimate lies in the {_ci_words()} interval; "
              "std_diff = (em - mean) / sd):", _table(cmp))

    mem = model.membership()
    prob = mem["probability"].to_numpy()
    lower = mem["lower"].to_numpy()
    upper = mem["upper"].to_numpy()
    entropy = mem["entropy"].to_numpy()
    assignment = prob.argmax(axis=1)
    pmax = prob.max(axis=1)
    order = np.argsort(-entropy)[:8]
    obs = mem["obs"].to_numpy()
    rows = []
    Xa = np.asarray(X)
    for i in order:
        k_hat = assignment[i]
        rows.append(
            {
                "obs": obs[i],
                **{str(c): Xa[i, j] for j, c in enumerate(getattr(X, "columns", range(Xa.shape[1])))},
                "component": int(k_hat),
                "probability": pmax[i],
                "interval": f"[{lower[i, k_hat]:.2f}, {upper[i, k_hat]:.2f}]",
                "entropy": entropy[i],
            }
        )
    n_unsure = int(np.sum(pmax < 0.9))
    _say(
        "",
        _memberships_line(prob.shape[0] - n_unsure, prob.shape[0], "eruptions") + " The most ambiguous:",
        _table(pd.DataFrame(rows).set_index("obs")),
    )
    return model


def run_demo(args) -> int:
    """Run the demo (see ``bayesgmm demo --help``); returns the exit status.

    Examples
    --------
    >>> from bayesgmm.cli import main
    >>> main(["demo", "--em-only", "--quiet"])  # doctest: +ELLIPSIS
    Old Faithful...
    0
    """
    from bayesgmm.datasets import load_old_faithful

    if not args.em_only:
        _make_output_dir(args.out)
    X = load_old_faithful()
    _say(
        f"Old Faithful: {X.shape[0]} eruptions, features {list(X.columns)} "
        "(eruption time and waiting time in minutes).",
        "",
        "--- EM (full covariances, best of n_init='auto' starts: 20 on data this size) ---",
    )
    ks = (2, 3)
    fits, table = _em_part(X, args.seed, ks, args.quiet)
    best = int(table["BIC"].idxmin())
    _say(_table(table), f"BIC prefers K={best} (lower is better).", "")
    for k in ks:
        _say(f"EM components, K={k}:", _table(_em_components(fits[k], list(X.columns))), "")
    if args.em_only:
        return 0
    written = []
    for k in ((2,) if args.quick else (2, 3)):
        extra = {"intro": _K3_INTRO, "if_problems": _K3_PROBLEMS} if k == 3 else {}
        model = _bayes_part(X, k, args.seed, args.quick, args.quiet, **extra)
        written += write_plots(model, args.out, suffix=f"_k{k}", seed=args.seed)
    if args.quick:
        _say("", "(--quick fits K=2 only; the full demo also fits K=3, one component more than the "
                  "data support, to show how the sampling diagnostics flag it.)")
    _say(
        "",
        f"Plots ({len(written)} PNG files) written to {args.out}{os.sep}: "
        + ", ".join(os.path.basename(p) for p in written),
        "",
        "Next: model.membership(), model.predict_proba(X_new, return_interval=True), "
        "model.compare_em(), model.save('fit.nc'); on your own data: bayesgmm fit / select / report.",
    )
    return 0


#: This command's entry of :data:`bayesgmm.cli.SUBCOMMANDS`: (help, add_arguments, run).
SUBCOMMAND = (
    "fit EM and the posterior on Old Faithful, print memberships with uncertainty, write plots",
    add_arguments,
    run_demo,
)
