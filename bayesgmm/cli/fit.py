"""``bayesgmm fit``: fit a :class:`bayesgmm.BayesianGMM` to the numeric columns
of a CSV file and save it (:meth:`bayesgmm.BayesianGMM.save`).
"""

from __future__ import annotations

import argparse
import time

from bayesgmm.cli._common import (
    _Heartbeat,
    _ci_words,
    _RUNTIME_ERRORS,
    BAYESIAN_NAMES,
    EXIT_FAILURE,
    CLIError,
    _add_data_arguments,
    _bayesian_covariance,
    _resolution,
    _check_constant,
    _check_output_file,
    _err,
    _failed,
    _nonnegative_int,
    _n_init,
    _positive_int,
    _posterior_summary,
    _probability,
    _progress,
    _say,
    _say_diagnostics,
    _Warnings,
    read_data,
)
from bayesgmm.em._init import DEFAULT_N_INIT

_FIT_METHODS = ("nuts", "gibbs", "tempering", "advi", "fullrank_advi", "minibatch_advi")
#: The methods that draw Markov chains (the others are variational approximations).
_MCMC_FIT_METHODS = ("nuts", "gibbs", "tempering")


def _starts(n_init) -> str:
    return "n_init='auto' starts" if n_init == "auto" else f"{n_init} starts"


def _check_gibbs_covariance(name, X, k) -> None:
    """``--method gibbs`` needs the covariance type's compiled density: a usage error before EM if it has none."""
    from bayesgmm.covariance import get_covariance_type
    from bayesgmm.priors import Priors

    ct = get_covariance_type(name)
    if ct.compiled_block(k, X.shape[1], Priors().resolve(X.to_numpy(), k)) is None:
        raise CLIError(
            f"--method gibbs needs a covariance type with a compiled density (full, tied, diag, "
            f"spherical); {name!r} has none: use --method nuts or tempering"
        )


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``bayesgmm fit``."""
    _add_data_arguments(p)
    p.add_argument("--components", "-k", type=_positive_int, required=True, metavar="K",
                   help="number of mixture components")
    p.add_argument("--covariance", "--covariance-type", default="full", type=_bayesian_covariance,
                   metavar="TYPE",
                   help=f"covariance type with a Bayesian model: {', '.join(BAYESIAN_NAMES)} (default: full)")
    p.add_argument("--method", default="nuts", choices=_FIT_METHODS,
                   help="inference: NUTS (nutpie); gibbs (Gibbs sampling with data augmentation) or "
                        "tempering (replica exchange), for posteriors with several modes (overlapping "
                        "clusters, surplus components); or a variational approximation (default: nuts)")
    p.add_argument("--draws", type=_positive_int, default=1000, help="draws per chain kept (default: 1000)")
    p.add_argument("--tune", type=_nonnegative_int, default=1000,
                   help="warm-up steps per chain (gibbs: sweeps; tempering: iterations of the "
                        "ladder); for VI sets the optimisation length max(10 * tune, 5000) "
                        "(default: 1000)")
    p.add_argument("--chains", type=_positive_int, default=4, help="chains (default: 4)")
    p.add_argument("--n-init", type=_n_init, default=DEFAULT_N_INIT,
                   help=f"EM starts: 'auto' (as many as a fixed amount of work allows, at most "
                        f"20) or a number (default: {DEFAULT_N_INIT})")
    p.add_argument("--target-accept", type=_probability, metavar="P",
                   help="NUTS target acceptance rate in (0, 1), e.g. 0.95 against divergences; "
                        "tempering: its HMC moves' (default: the sampler's)")
    p.add_argument("--thin", type=_positive_int, metavar="N",
                   help="gibbs: keep every N-th sweep, so --draws kept draws cost draws * N sweeps "
                        "per chain after the warm-up (default: 1)")
    p.add_argument("--resolution", type=_resolution, metavar="STEP[,STEP...]",
                   help="gibbs: the data are rounded to this step (one number, or one per column "
                        "separated by commas, in the data's units; 0 = not rounded), e.g. 0.016667,1 "
                        "for eruptions in minutes recorded to the second and waiting to the minute: tied values "
                        "then cannot collapse a component (default: not rounded)")
    p.add_argument("--split-merge", type=_nonnegative_int, metavar="M",
                   help="gibbs: split-merge moves per sweep (whole clusters split or merged; helps the "
                        "number of occupied components mix), 0 = none; not with tied covariances (default: 0)")
    p.add_argument("--vi-steps", type=_positive_int, metavar="N",
                   help="VI methods: optimisation steps (default: max(10 * tune, 5000))")
    p.add_argument("--out", "-o", required=True, metavar="FIT.nc", help="where to save the fit (netCDF)")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 1 when the sampling diagnostics find a problem "
                        "(R-hat, ESS, divergences, chain modes); the fit is saved anyway")


def run_fit(args) -> int:
    """``bayesgmm fit``: fit a BayesianGMM to a CSV file and save it.

    Examples
    --------
    >>> from bayesgmm.cli import main
    >>> main(["fit", "data.csv", "-k", "3", "--out", "fit.nc"])  # doctest: +SKIP
    0
    """
    _check_output_file(args.out, "output file")
    sampler_kwargs = {}
    if args.target_accept is not None:
        if args.method not in ("nuts", "tempering"):
            raise CLIError("--target-accept only applies to --method nuts or tempering")
        sampler_kwargs["target_accept"] = args.target_accept
    if args.thin is not None:
        if args.method != "gibbs":
            raise CLIError("--thin only applies to --method gibbs")
        sampler_kwargs["thin"] = args.thin
    if args.resolution is not None:
        if args.method != "gibbs":
            raise CLIError("--resolution only applies to --method gibbs (the sampler that models rounded data)")
        sampler_kwargs["resolution"] = args.resolution
    if args.split_merge is not None:
        if args.method != "gibbs":
            raise CLIError("--split-merge only applies to --method gibbs")
        sampler_kwargs["split_merge"] = args.split_merge
    if args.vi_steps is not None:
        if args.method in _MCMC_FIT_METHODS:
            raise CLIError("--vi-steps only applies to the VI methods (advi, fullrank_advi, minibatch_advi)")
        sampler_kwargs["n"] = args.vi_steps
    X = read_data(args.data, args.columns, sep=args.sep, index_col=args.index_col)
    _check_constant(X, args.data)
    n, d = X.shape
    if n < args.components:
        raise CLIError(
            f"{args.data!r} has {n} rows but --components is {args.components}; "
            "use fewer components or more data"
        )
    if args.method == "gibbs":
        _check_gibbs_covariance(args.covariance, X, args.components)
    from bayesgmm.bayesian import BayesianGMM
    from bayesgmm.diagnostics import SamplingWarning

    model = BayesianGMM(
        args.components, covariance_type=args.covariance, method=args.method, draws=args.draws,
        tune=args.tune, chains=args.chains, n_init=args.n_init, progressbar=_progress(args),
        sampler_kwargs=sampler_kwargs or None, random_state=args.seed,
    )
    if args.method == "nuts":
        what = f"{args.chains} chains x {args.draws} draws ({args.tune} tuning steps)"
    elif args.method == "gibbs":
        thin = args.thin or 1
        what = (f"{args.chains} chains x {args.draws} draws ({args.tune} warm-up sweeps"
                + (f", then 1 in {thin} of {args.draws * thin} sweeps kept" if thin > 1 else "") + ")")
    elif args.method == "tempering":
        what = f"{args.chains} chains x {args.draws} draws ({args.tune} tuning iterations)"
    else:
        what = f"{args.chains} x {args.draws} draws from the approximation"
    _say(f"Fitting K={args.components} ({args.covariance} covariances) to {n} rows x {d} "
         f"columns {list(X.columns)} from {args.data}: EM ({_starts(args.n_init)}), then "
         f"{args.method}, {what}.")
    t0 = time.perf_counter()
    with _Warnings(skip=(SamplingWarning,)), _Heartbeat(f"fitting K={args.components}", args.quiet):
        try:
            model.fit(X)
        except _RUNTIME_ERRORS as exc:
            raise _failed("the fit", exc) from None
    seconds = time.perf_counter() - t0
    report = model.diagnostics_
    if not args.quiet:
        _say(f"Done in {seconds:.1f} s.")
    _say_diagnostics(report)
    _say("", f"Posterior summary ({_ci_words()} intervals):", _posterior_summary(model))
    try:
        model.save(args.out)
    except (OSError, ValueError) as exc:
        # save's message names the path and the cause (and that an old file is kept)
        raise CLIError(str(getattr(exc, "strerror", None) or exc), EXIT_FAILURE) from None
    _say("", f"Saved the fit to {args.out} (bayesgmm report {args.out} --out DIR writes tables and plots).")
    if args.strict and report.problems:
        _err("error", f"the sampling diagnostics found {len(report.problems)} problem(s) "
                      f"(--strict); the fit was saved to {args.out}")
        return EXIT_FAILURE
    return 0


#: This command's entry of :data:`bayesgmm.cli.SUBCOMMANDS`: (help, add_arguments, run).
SUBCOMMAND = (
    "fit a Bayesian Gaussian mixture to a CSV file and save it (netCDF)",
    add_arguments,
    run_fit,
)
