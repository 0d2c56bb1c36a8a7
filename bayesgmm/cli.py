"""Command line interface: ``bayesgmm <subcommand> [options]``.

Subcommands
-----------
``demo``
    Fit EM and the posterior on the bundled Old Faithful data and print what the
    package is for: the EM table, the posterior summary and the cluster
    memberships with their uncertainty.

Other subcommands register themselves in :data:`SUBCOMMANDS` (a name -> (help,
add_arguments, run) mapping) so :func:`main` stays one argparse entry point.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd

__all__ = ["main", "run_demo", "SUBCOMMANDS"]


def _say(args, *lines):
    for line in lines:
        print(line)
    sys.stdout.flush()


def _table(df: pd.DataFrame) -> str:
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        return df.to_string(float_format=lambda v: f"{v:.3f}")


# --------------------------------------------------------------------------- demo
def _add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quick",
        action="store_true",
        help="fewer chains and draws (2 chains x 300 draws, K=2 only): about half the time",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--quiet", action="store_true", help="no progress bars or timings; just the tables"
    )
    p.add_argument(
        "--em-only", action="store_true", help="fit only the EM mixtures (a few seconds)"
    )


def _em_part(X, seed: int, ks, quiet: bool):
    from bayesgmm.em import GaussianMixture

    rows, fits = [], {}
    for k in ks:
        t0 = time.perf_counter()
        em = GaussianMixture(k, covariance_type="full", n_init=5, random_state=seed).fit(X)
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


def _bayes_part(X, k, seed, quick, quiet, out):
    """Fit the posterior for K=k and print summary and memberships."""
    from bayesgmm.bayesian import BayesianGMM

    chains, draws, tune = (2, 300, 300) if quick else (4, 500, 500)
    model = BayesianGMM(k, covariance_type="full", random_state=seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, draws=draws, tune=tune, chains=chains, progressbar=not quiet, n_init=5)
    seconds = time.perf_counter() - t0
    out(
        "",
        f"--- Posterior, K={k}: NUTS (nutpie), {chains} chains x {draws} draws after "
        f"{tune} tuning steps, started at the EM fit"
        + ("" if quiet else f" ({seconds:.1f} s including compilation)"),
    )
    from bayesgmm.diagnostics import SamplingWarning, check_diagnostics

    report = check_diagnostics(model.idata_)
    out(str(report))
    for w in caught:
        if issubclass(w.category, SamplingWarning):
            continue  # already in the report
        if issubclass(w.category, (UserWarning, RuntimeWarning)):
            out(f"warning: {w.message}")
    summary = model.summary(kind="stats")
    keep = [i for i in summary.index if str(i).startswith(("weights", "means", "sds"))]
    out("", "Posterior summary (relabelled against EM; 94% equal-tailed intervals):",
        _table(summary.loc[keep]))

    cmp = model.compare_em()
    try:
        cmp_df = cmp.to_dataframe() if hasattr(cmp, "to_dataframe") else pd.DataFrame(cmp)
        out("", "EM vs posterior:", _table(cmp_df.head(12)))
    except Exception:  # pragma: no cover - display only
        pass

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
    out(
        "",
        f"Memberships: {prob.shape[0] - n_unsure} of {prob.shape[0]} eruptions belong to one "
        f"component with probability >= 0.9; {n_unsure} are uncertain. The most ambiguous:",
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

    def out(*lines):
        _say(args, *lines)

    X = load_old_faithful()
    out(
        f"Old Faithful: {X.shape[0]} eruptions, features {list(X.columns)} "
        "(eruption time and waiting time in minutes).",
        "",
        "--- EM (full covariances, best of 5 starts) ---",
    )
    ks = (2, 3)
    fits, table = _em_part(X, args.seed, ks, args.quiet)
    best = int(table["BIC"].idxmin())
    out(_table(table), f"BIC prefers K={best} (lower is better).", "")
    for k in ks:
        out(f"EM components, K={k}:", _table(_em_components(fits[k], list(X.columns))), "")
    if args.em_only:
        return 0
    try:
        import bayesgmm.bayesian  # noqa: F401
    except ImportError as exc:  # pragma: no cover - before the Bayesian layer lands
        out(f"(The posterior part of the demo is not available in this build: {exc}.)")
        return 0
    for k in ((2,) if args.quick else (2, 3)):
        _bayes_part(X, k, args.seed, args.quick, args.quiet, out)
    out(
        "",
        "Next: model.membership(), model.predict_proba(X_new, return_interval=True), "
        "model.compare_em(), model.save('fit.nc').",
    )
    return 0


#: name -> (help, add_arguments(parser), run(args) -> int)
SUBCOMMANDS = {
    "demo": (
        "fit EM and the posterior on Old Faithful and print memberships with uncertainty",
        _add_demo_arguments,
        run_demo,
    ),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bayesgmm",
        description="Bayesian Gaussian mixture models: EM, PyMC posteriors, memberships "
        "with uncertainty.",
    )
    from bayesgmm import __version__

    parser.add_argument("--version", action="version", version=f"bayesgmm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_args, run) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(_run=run)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``bayesgmm`` console script.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status (0 on success, 2 on a usage error).

    Examples
    --------
    >>> from bayesgmm.cli import main
    >>> main(["demo", "--em-only", "--quiet"])  # doctest: +ELLIPSIS
    Old Faithful...
    0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
