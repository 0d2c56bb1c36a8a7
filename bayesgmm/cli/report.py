"""``bayesgmm report``: the summary table, the memberships (CSV), the
EM-vs-posterior table and the plots (PNG) of a saved fit.
"""

from __future__ import annotations

import argparse
import os

import pandas as pd

from bayesgmm.cli._common import (
    _RUNTIME_ERRORS,
    EXIT_FAILURE,
    CLIError,
    _failed,
    _make_output_dir,
    _memberships_line,
    _say,
    _say_diagnostics,
    _Warnings,
    write_plots,
)


#: Decimals of the probabilities in ``memberships.csv``: rounded with each probability
#: kept inside its rounded interval, so that a point mass reads as one.
MEMBERSHIP_DECIMALS = 4


def membership_table(model, decimals=None) -> pd.DataFrame:
    """One row per fitted observation: data, most probable component and probabilities.

    :meth:`bayesgmm.BayesianGMM.membership_table` (kept here for existing callers).

    Examples
    --------
    >>> from bayesgmm.cli import membership_table
    >>> membership_table(model).head()  # doctest: +SKIP
    """
    return model.membership_table(decimals=decimals)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``bayesgmm report``."""
    p.add_argument("fit", metavar="FIT.nc", help="a fit saved by `bayesgmm fit` or BayesianGMM.save()")
    p.add_argument("--out", "-o", default="report", metavar="DIR",
                   help="folder for the tables and plots, created if needed (default: report)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")


def run_report(args) -> int:
    """``bayesgmm report``: tables (CSV) and plots (PNG) of a saved fit.

    Writes ``summary.csv`` (posterior summary with R-hat and ESS),
    ``memberships.csv`` (:func:`membership_table`), ``compare_em.csv`` and,
    unless ``--no-plots``, the PNGs of :func:`write_plots`.

    Examples
    --------
    >>> from bayesgmm.cli import main
    >>> main(["report", "fit.nc", "--out", "report"])  # doctest: +SKIP
    0
    """
    path = args.fit
    if not os.path.exists(path):
        raise CLIError(f"fit file {path!r} not found")
    if os.path.isdir(path):
        raise CLIError(f"fit file {path!r} is a directory; pass a file written by `bayesgmm fit`")
    from bayesgmm.bayesian import BayesianGMM

    with _Warnings():
        try:
            model = BayesianGMM.load(path)
        except (ValueError, OSError, KeyError) as exc:
            raise CLIError(f"cannot read the fit {path!r}: {exc}") from None
    _make_output_dir(args.out)
    tree = model.idata_
    attrs = tree.attrs
    post = tree["posterior"]
    _say(f"Fit {path}: K={model.n_components} ({model.covariance_type} covariances), "
         f"method={attrs.get('method')}, {post.sizes['chain']} chain(s) x {post.sizes['draw']} "
         f"draws, {tree['observed_data'].sizes['obs']} observations, bayesgmm "
         f"{attrs.get('bayesgmm_version')}.")
    _say_diagnostics(model.diagnostics_)
    written = []
    with _Warnings():
        try:
            summary = model.summary()
            summary.to_csv(os.path.join(args.out, "summary.csv"), index_label="parameter")
            written.append("summary.csv")
            members = membership_table(model, decimals=MEMBERSHIP_DECIMALS)
            members.to_csv(os.path.join(args.out, "memberships.csv"))
            written.append("memberships.csv")
            compare = model.compare_em().to_dataframe()
            compare.to_csv(os.path.join(args.out, "compare_em.csv"))
            written.append("compare_em.csv")
        except OSError as exc:
            raise CLIError(f"could not write to {args.out!r}: {exc.strerror or exc}", EXIT_FAILURE) from None
        except _RUNTIME_ERRORS as exc:
            raise _failed("the report", exc) from None
        if not args.no_plots:
            written += [os.path.basename(p) for p in write_plots(model, args.out, seed=args.seed)]
    n_unsure = int((members["probability"] < 0.9).sum())
    _say("", _memberships_line(len(members) - n_unsure, len(members), "observations"),
         f"Wrote {len(written)} files to {args.out}{os.sep}: {', '.join(written)}")
    return 0


#: This command's entry of :data:`bayesgmm.cli.SUBCOMMANDS`: (help, add_arguments, run).
SUBCOMMAND = (
    "write the summary, memberships (CSV) and plots (PNG) of a saved fit",
    add_arguments,
    run_report,
)
