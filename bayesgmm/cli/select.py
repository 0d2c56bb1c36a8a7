"""``bayesgmm select``: compare component counts (:func:`bayesgmm.select_components`)
on a CSV file and print (or write) the table.
"""

from __future__ import annotations

import argparse

from bayesgmm.cli._common import (
    _RUNTIME_ERRORS,
    COVARIANCE_HELP,
    EXIT_FAILURE,
    CLIError,
    _add_data_arguments,
    _check_constant,
    _check_output_file,
    _covariance_list,
    _failed,
    _figure_of,
    _n_init,
    _nonnegative_int,
    _resolution,
    _positive_int,
    _say,
    _table,
    _use_agg,
    _Warnings,
    bayesian_names,
    check_bayesian_covariances,
    check_components_against_data,
    parse_component_range,
    read_data,
)
from bayesgmm.em._init import DEFAULT_N_INIT

_SELECT_METHODS = ("bic", "icl", "loo", "waic", "sparse")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``bayesgmm select``."""
    _add_data_arguments(p)
    p.add_argument("--components", "-k", type=parse_component_range, default=parse_component_range("1-6"),
                   metavar="RANGE", help="component counts: 1-6, 2,3,5 or 1-3,6 (default: 1-6); "
                                         "for sparse the largest is the overfitted mixture's size")
    p.add_argument("--method", default="bic", choices=_SELECT_METHODS,
                   help="bic/icl: EM grid (lower is better); loo/waic: Bayesian fits compared by "
                        "elpd (higher is better); sparse: one overfitted mixture (default: bic)")
    p.add_argument("--covariance", "--covariance-type", type=_covariance_list, default=["full"],
                   metavar="TYPES",
                   help=f"comma-separated covariance types: {COVARIANCE_HELP}, or mclust for all "
                        "fourteen of mclust's models (bic/icl; loo/waic/sparse take the types with a "
                        "Bayesian model) (default: full)")
    p.add_argument("--n-init", type=_n_init, default=DEFAULT_N_INIT,
                   help=f"EM starts per fit: 'auto' (as many as a fixed amount of work allows, "
                        f"20, up to 60 where the starts disagree) or a number (default: {DEFAULT_N_INIT})")
    p.add_argument("--draws", type=_positive_int, help="loo/waic/sparse: draws per chain (default: 1000)")
    p.add_argument("--tune", type=_nonnegative_int, help="loo/waic/sparse: warm-up steps (default: 1000)")
    p.add_argument("--chains", type=_positive_int, help="loo/waic/sparse: chains (default: 4)")
    p.add_argument("--thin", type=_positive_int, metavar="N",
                   help="sparse (Gibbs): keep every N-th sweep (default: SPARSE_GIBBS_THIN, 50)")
    p.add_argument("--split-merge", type=_nonnegative_int, metavar="M",
                   help="sparse (Gibbs): split-merge moves per sweep, 0 = none (default: SPARSE_SPLIT_MERGE, "
                        "1, except with tied covariances)")
    p.add_argument("--resolution", type=_resolution, metavar="STEP[,STEP...]",
                   help="sparse (Gibbs): the data are rounded to this step (one number, or one per "
                        "column separated by commas, in the data's units; 0 = not rounded): with tied "
                        "values the overfitted mixture's posterior is otherwise improper (default: not rounded)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes for the fits (-1: all cores; default: 1)")
    p.add_argument("--out", "-o", metavar="TABLE.csv", help="write the table as CSV")
    p.add_argument("--plot", metavar="PLOT.png", help="write the selection plot as PNG")


def run_select(args) -> int:
    """``bayesgmm select``: compare component counts on a CSV file.

    Examples
    --------
    >>> from bayesgmm.cli import main
    >>> main(["select", "data.csv", "-k", "1-6", "--method", "bic"])  # doctest: +SKIP
    0
    """
    for path, what in ((args.out, "table file"), (args.plot, "plot file")):
        if path:
            _check_output_file(path, what)
    if args.jobs == 0:
        raise CLIError("--jobs must be a positive number of worker processes or -1 (all cores)")
    bayesian = args.method in ("loo", "waic", "sparse")
    extra = {k: getattr(args, k) for k in ("draws", "tune", "chains") if getattr(args, k) is not None}
    if extra and not bayesian:
        raise CLIError(
            f"--{'/--'.join(extra)} only apply to "
            "--method loo, waic or sparse (bic/icl fit EM only)"
        )
    for name in ("thin", "resolution", "split_merge"):
        if getattr(args, name) is not None:
            if args.method != "sparse":
                raise CLIError(f"--{name.replace('_', '-')} only applies to --method sparse (its Gibbs sampler)")
            extra[name] = getattr(args, name)
    X = read_data(args.data, args.columns, sep=args.sep, index_col=args.index_col)
    check_components_against_data(args.components, X.shape[0], args.data)
    if bayesian:
        check_bayesian_covariances(args.covariance, args.method)
        args.covariance = bayesian_names(args.covariance)
        _check_constant(X, args.data)
    from bayesgmm.selection import select_components

    with _Warnings():
        try:
            res = select_components(
                X, args.components, covariance_types=args.covariance, method=args.method,
                # one overall progress: a bar on a terminal, a line per fit when piped
                n_init=args.n_init, random_state=args.seed, progressbar=not args.quiet,
                n_jobs=args.jobs, **extra,
            )
        except _RUNTIME_ERRORS as exc:
            raise _failed("component selection", exc) from None
    table = res.to_dataframe()
    if args.method in ("bic", "icl"):
        shown = [c for c in ("log_likelihood", "n_parameters", "bic", "icl", "bic_mclust", "converged")
                 if c in table.columns]
        note = f"{args.method.upper()} = -2 log L + penalty: lower is better (mclust's sign is in bic_mclust)"
    elif args.method in ("loo", "waic"):
        shown = [c for c in ("elpd", "se", "p", "elpd_diff", "dse", "weight", "rank", "max_pareto_k")
                 if c in table.columns]
        note = f"elpd ({args.method.upper()}): higher is better"
    else:
        shown = list(table.columns)
        note = "posterior probability of each number of occupied components"
    _say(f"Component selection on {args.data} ({X.shape[0]} rows x {X.shape[1]} columns), "
         f"method={args.method}: {note}.", _table(table[shown]))
    if args.method == "sparse":
        _say(f"Posterior mode of the number of occupied components: {res.n_components} "
             f"({res.covariance_type} covariances).")
    else:
        _say(f"Selected: K={res.n_components} ({res.covariance_type} covariances).")
    if args.out:
        try:
            table.to_csv(args.out)
        except OSError as exc:
            raise CLIError(f"could not write {args.out!r}: {exc.strerror or exc}", EXIT_FAILURE) from None
        _say(f"Wrote {args.out}")
    if args.plot:
        _use_agg()
        import matplotlib.pyplot as plt

        from bayesgmm.plots import selection

        try:
            _figure_of(selection(res)).savefig(args.plot, dpi=90, bbox_inches="tight")
        except OSError as exc:
            raise CLIError(f"could not write {args.plot!r}: {exc.strerror or exc}", EXIT_FAILURE) from None
        finally:
            plt.close("all")
        _say(f"Wrote {args.plot}")
    return 0


#: This command's entry of :data:`bayesgmm.cli.SUBCOMMANDS`: (help, add_arguments, run).
SUBCOMMAND = (
    "choose the number of components of a CSV file's data (BIC/ICL, LOO/WAIC, sparse)",
    add_arguments,
    run_select,
)
