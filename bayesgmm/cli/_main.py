"""The ``bayesgmm`` entry point: the command registry, the parser and :func:`main`."""

from __future__ import annotations

import argparse

from bayesgmm.cli import demo, fit, report, select
from bayesgmm.cli._common import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, CLIError, _err, _seed

#: name -> (help, add_arguments(parser), run(args) -> int). A command is a module
#: of this package with its ``SUBCOMMAND`` entry, and one line here.
SUBCOMMANDS = {
    "demo": demo.SUBCOMMAND,
    "fit": fit.SUBCOMMAND,
    "select": select.SUBCOMMAND,
    "report": report.SUBCOMMAND,
}

_EPILOG = (
    "exit status: 0 success; 1 runtime or statistical failure (a fit failed, an output "
    "could not be written, `fit --strict` with diagnostic problems); 2 usage or input "
    "error (bad options, missing or unreadable file, unknown or non-numeric columns, "
    "missing values, bad component range); 130 interrupted."
)


def _add_global_options(p: argparse.ArgumentParser, *, sub: bool) -> None:
    # The same options on the main parser and on every subcommand, so that both
    # `bayesgmm --quiet fit ...` and `bayesgmm fit ... --quiet` work; the
    # subcommand's copy only overrides when given (SUPPRESS).
    def default(value):
        return argparse.SUPPRESS if sub else value

    p.add_argument("-q", "--quiet", action="store_true", default=default(False),
                   help="no progress bars or timings; just the results")
    p.add_argument("--seed", type=_seed, default=default(0), metavar="N",
                   help="random seed (default 0): the same seed gives the same result")
    p.add_argument("--traceback", action="store_true", default=default(False),
                   help="show the Python traceback of an error (for bug reports)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bayesgmm",
        description="Bayesian Gaussian mixture models: EM, PyMC posteriors, memberships "
        "with uncertainty.",
        epilog=_EPILOG,
    )
    from bayesgmm import __version__

    parser.add_argument("--version", action="version", version=f"bayesgmm {__version__}")
    _add_global_options(parser, sub=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_args, run) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=_EPILOG)
        add_args(p)
        _add_global_options(p, sub=True)
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
        Exit status: 0 on success, 1 on a runtime or statistical failure, 2 on a
        usage or input error (argparse itself exits with 2 by raising
        ``SystemExit``), 130 when interrupted.

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
        return EXIT_USAGE
    try:
        return int(args._run(args) or 0)
    except CLIError as exc:
        if args.traceback:
            raise
        _err("error", exc)
        return exc.code
    except KeyboardInterrupt:
        if args.traceback:
            raise
        _err("error", "interrupted")
        return EXIT_INTERRUPTED
    except MemoryError:
        if args.traceback:
            raise
        _err("error", "out of memory; use fewer draws or chains, or --method minibatch_advi")
        return EXIT_FAILURE
