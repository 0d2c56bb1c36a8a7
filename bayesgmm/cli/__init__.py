"""Command line interface: ``bayesgmm [--quiet] [--seed N] <command> [options]``.

Commands
--------
``demo``
    The whole workflow on the bundled Old Faithful data: EM tables, the
    posterior summary, memberships with their uncertainty, and plots written
    to ``--out`` (default ``bayesgmm-demo/``).
``fit DATA.csv --components K --out FIT.nc``
    Fit a :class:`bayesgmm.BayesianGMM` to the numeric columns of a CSV file
    and save it (:meth:`bayesgmm.BayesianGMM.save`).
``select DATA.csv --components 1-6``
    Compare component counts (:func:`bayesgmm.select_components`) and print
    (or write) the table.
``report FIT.nc --out DIR``
    Write the summary table, the memberships (CSV), the EM-vs-posterior table
    and the plots (PNG) of a saved fit.

Exit status
-----------
0
    Success.
1
    A runtime or statistical failure: a fit or a computation failed, an output
    file could not be written, or (``fit --strict``) the sampling diagnostics
    found problems.
2
    A usage or input error: bad options, a missing or unreadable file, unknown
    columns, non-numeric or missing values, a bad component range.
130
    Interrupted (Ctrl-C).

Errors are one line on stderr, ``bayesgmm: error: ...``; warnings are lines
``bayesgmm: warning: ...`` on stderr. Tables go to stdout; progress bars (on
stderr) are switched off by ``--quiet``.

Layout
------
One module per command, :mod:`bayesgmm.cli.demo`, :mod:`~bayesgmm.cli.fit`,
:mod:`~bayesgmm.cli.select` and :mod:`~bayesgmm.cli.report`, each with its options
(``add_arguments(parser)``), its ``run_<command>(args)`` and its ``SUBCOMMAND``
entry (help, add_arguments, run) of :data:`SUBCOMMANDS` (name -> entry), from
which ``bayesgmm.cli._main`` builds the parser of :func:`main`, one argparse entry
point. What the commands share (errors and exit statuses, printing, warning
capture, argument types, CSV input, plots) is in ``bayesgmm.cli._common``. A new
command is a module and one line in :data:`SUBCOMMANDS`. Heavy modules (pymc,
the estimators) are imported inside the ``run_*`` functions, so
``bayesgmm --help`` stays fast.
"""

from ._common import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CLIError,
    _memberships_line,
    _table,
    parse_component_range,
    read_data,
    write_plots,
)
from ._main import SUBCOMMANDS, _parser, main
from .demo import COMPARE_COLUMNS, compare_table, run_demo
from .fit import run_fit
from .report import membership_table, run_report
from .select import run_select

__all__ = ["main", "run_demo", "run_fit", "run_select", "run_report", "SUBCOMMANDS", "CLIError"]
