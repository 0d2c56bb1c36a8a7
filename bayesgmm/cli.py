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

Other subcommands can register themselves in :data:`SUBCOMMANDS` (a name ->
(help, add_arguments, run) mapping) so :func:`main` stays one argparse entry point.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

__all__ = ["main", "run_demo", "run_fit", "run_select", "run_report", "SUBCOMMANDS", "CLIError"]

#: Exit status of a usage or input error (argparse uses it too).
EXIT_USAGE = 2
#: Exit status of a runtime or statistical failure.
EXIT_FAILURE = 1
#: Exit status after Ctrl-C.
EXIT_INTERRUPTED = 130

_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_FIT_METHODS = ("nuts", "advi", "fullrank_advi", "minibatch_advi")
_SELECT_METHODS = ("bic", "icl", "loo", "waic", "sparse")


class CLIError(Exception):
    """An error reported as one line on stderr with an exit status.

    Parameters
    ----------
    message : str
        What went wrong and what to do.
    code : int, default 2
        Exit status (2: usage or input error, 1: runtime failure).

    Examples
    --------
    >>> from bayesgmm.cli import CLIError
    >>> CLIError("data file 'x.csv' not found", code=2).code
    2
    """

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _say(args, *lines):
    for line in lines:
        print(line)
    sys.stdout.flush()


def _err(kind: str, message) -> None:
    print(f"bayesgmm: {kind}: {_one_line(message)}", file=sys.stderr)
    sys.stderr.flush()


def _table(df: pd.DataFrame) -> str:
    with pd.option_context("display.width", 120, "display.max_columns", 20, "display.max_rows", 200):
        return df.to_string(float_format=lambda v: f"{v:.3f}")


def _memberships_line(n_sure: int, n_total: int, noun: str) -> str:
    """The memberships sentence, with the verbs agreeing with the counts.

    Examples
    --------
    >>> from bayesgmm.cli import _memberships_line
    >>> _memberships_line(271, 272, "eruptions")
    'Memberships: 271 of 272 eruptions belong to one component with probability >= 0.9; 1 is uncertain.'
    >>> _memberships_line(1, 2, "observations").split(";")[1]
    ' 1 is uncertain.'
    """
    n_unsure = n_total - n_sure
    belong = "belongs" if n_sure == 1 else "belong"
    are = "is" if n_unsure == 1 else "are"
    return (
        f"Memberships: {n_sure} of {n_total} {noun} {belong} to one component with "
        f"probability >= 0.9; {n_unsure} {are} uncertain."
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


def _progress(args) -> bool:
    return not getattr(args, "quiet", False)


class _Warnings:
    """Collect warnings raised inside a block and print each once, one line on stderr."""

    def __init__(self, skip=()):
        self.skip = tuple(skip)
        self.caught = []

    def __enter__(self):
        self._cm = warnings.catch_warnings(record=True)
        self.caught = self._cm.__enter__()
        warnings.simplefilter("always")
        # library noise that says nothing about the user's data
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*")
        return self

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)
        seen = set()
        for w in self.caught:
            if self.skip and issubclass(w.category, self.skip):
                continue
            msg = _one_line(w.message)
            if msg in seen:
                continue
            seen.add(msg)
            _err("warning", msg)
        return False


# ------------------------------------------------------------------ argument types
def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: expected an integer such as 0") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"invalid seed {value}: expected an integer in [0, 2**32)")
    return value


def _int_at_least(minimum: int):
    """argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid value {text!r}: expected an integer >= {minimum}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"invalid value {value}: expected an integer >= {minimum}")
        return value

    return parse


_positive_int = _int_at_least(1)
_nonnegative_int = _int_at_least(0)


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a number in (0, 1) such as 0.95") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {value}: expected a number in (0, 1) such as 0.95")
    return value


def parse_component_range(text: str) -> list[int]:
    """Parse a component-count specification such as ``"1-6"`` or ``"2,3,5"``.

    Parameters
    ----------
    text : str
        Comma-separated integers >= 1 and inclusive ranges ``lo-hi``.

    Returns
    -------
    list of int
        Sorted, without duplicates.

    Raises
    ------
    argparse.ArgumentTypeError
        With a message that names the bad part.

    Examples
    --------
    >>> from bayesgmm.cli import parse_component_range
    >>> parse_component_range("1-4")
    [1, 2, 3, 4]
    >>> parse_component_range("2,5,3-4")
    [2, 3, 4, 5]
    """
    hint = "expected e.g. 3, 1-6 or 2,3,5 (integers >= 1; ranges low-high)"
    parts = [p.strip() for p in str(text).split(",")]
    if not text.strip() or any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"invalid component range {text!r}: {hint}")
    def where(part):
        return repr(text) if part == text.strip() else f"{text!r} (at {part!r})"

    out = set()
    for part in parts:
        lo_text, sep, hi_text = part.partition("-")
        try:
            lo = int(lo_text)
            hi = int(hi_text) if sep else lo
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid component range {where(part)}: {hint}") from None
        if lo < 1 or hi < 1:
            raise argparse.ArgumentTypeError(
                f"invalid component range {where(part)}: component counts must be >= 1"
            )
        if hi < lo:
            raise argparse.ArgumentTypeError(
                f"invalid component range {where(part)}: the range is empty "
                f"(low {lo} > high {hi}); write {hi}-{lo}"
            )
        out.update(range(lo, hi + 1))
    return sorted(out)


def _covariance_list(text: str) -> list[str]:
    names = [p.strip() for p in str(text).split(",") if p.strip()]
    bad = [n for n in names if n not in _COVARIANCE_TYPES]
    if not names or bad:
        raise argparse.ArgumentTypeError(
            f"invalid covariance type(s) {', '.join(map(repr, bad)) or repr(text)}: "
            f"choose from {', '.join(_COVARIANCE_TYPES)} (comma-separated)"
        )
    return list(dict.fromkeys(names))


# ------------------------------------------------------------------ data input
def read_data(path, columns=None, *, sep=",", index_col=None) -> pd.DataFrame:
    """Read the numeric data columns of a CSV file, with one-line errors.

    Parameters
    ----------
    path : str
        CSV file with a header row.
    columns : list of str, optional
        Columns to use (default: every column except ``index_col``).
    sep : str, default ","
        Field separator.
    index_col : str, optional
        Column holding the observation labels (the ``obs`` coordinate).

    Returns
    -------
    pandas.DataFrame
        float64 columns, in the requested order.

    Raises
    ------
    CLIError
        Exit status 2: missing or unreadable file, unknown columns, non-numeric
        columns, missing or infinite values.

    Examples
    --------
    >>> import os, tempfile
    >>> from bayesgmm.cli import read_data
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("id,a,b\\nx,1,2\\ny,3,4\\n")
    >>> read_data(p, ["a", "b"], index_col="id").to_numpy().tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    if not os.path.exists(path):
        raise CLIError(f"data file {path!r} not found")
    if os.path.isdir(path):
        raise CLIError(f"data file {path!r} is a directory; pass a CSV file")
    sep = {"\\t": "\t", "tab": "\t"}.get(sep, sep)
    try:
        df = pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError:
        raise CLIError(f"data file {path!r} is empty; it needs a header row and data rows") from None
    except UnicodeDecodeError:
        raise CLIError(f"data file {path!r} is not a text CSV file (it could not be decoded as UTF-8)") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise CLIError(f"data file {path!r} could not be read as CSV: {_one_line(exc)}") from None
    except OSError as exc:
        raise CLIError(f"data file {path!r} could not be read: {exc.strerror or exc}") from None
    names = [str(c) for c in df.columns]
    df.columns = names
    if index_col is None and columns is None and names[0].startswith("Unnamed: 0"):
        # a headerless first column, as pandas' to_csv() writes the index: labels, not data
        index_col = names[0]
        _err("warning", f"the first column of {path!r} has no name; using it as the observation "
                        "labels (pass --columns to choose the features explicitly)")
    if index_col is not None:
        if index_col not in names:
            raise CLIError(
                f"--index-col {index_col!r} is not a column of {path!r}; available columns: "
                f"{', '.join(names)}"
            )
        df = df.set_index(index_col)
        names = [n for n in names if n != index_col]
    if columns:
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise CLIError(
                f"unknown column(s) {', '.join(map(repr, unknown))} in {path!r}; available columns: "
                f"{', '.join(names)}"
            )
        dup = sorted({c for c in columns if columns.count(c) > 1})
        if dup:
            raise CLIError(f"column(s) {', '.join(map(repr, dup))} given more than once in --columns")
        df = df[list(columns)]
    if df.shape[1] == 0:
        raise CLIError(f"data file {path!r} has no data columns")
    if df.shape[0] < 2:
        raise CLIError(f"data file {path!r} has {df.shape[0]} data row(s); at least 2 are needed")
    bad = {}
    for name in df.columns:
        s = df[name]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            coerced = pd.to_numeric(s, errors="coerce") if not pd.api.types.is_bool_dtype(s) else None
            if coerced is None:
                bad[name] = "true/false values"
            else:
                offending = s[coerced.isna() & s.notna()]
                if len(offending):
                    pos = int(np.flatnonzero((coerced.isna() & s.notna()).to_numpy())[0])
                    bad[name] = f"e.g. {str(offending.iloc[0])!r} in data row {pos + 1}"
                else:
                    bad[name] = "no numbers at all"
    if bad:
        detail = "; ".join(f"{n!r} ({why})" for n, why in bad.items())
        hint = "choose numeric columns with --columns" if not columns else "fix or drop them"
        if len(names) == 1 and sep == ",":  # one column: probably the wrong separator
            for other, label in ((";", "';'"), ("\t", "a tab"), ("|", "'|'")):
                if other in names[0]:
                    hint = f"is the separator {label}? Pass --sep {other!r}"
                    break
        raise CLIError(f"non-numeric column(s) in {path!r}: {detail}; {hint}")
    df = df.astype("float64")
    values = df.to_numpy()
    problems = []
    for j, name in enumerate(df.columns):
        n_nan = int(np.isnan(values[:, j]).sum())
        n_inf = int(np.isinf(values[:, j]).sum())
        if n_nan:
            problems.append(f"{n_nan} missing (empty or NaN) in {name!r}")
        if n_inf:
            problems.append(f"{n_inf} infinite in {name!r}")
    if problems:
        raise CLIError(
            f"data file {path!r} has missing or infinite values ({', '.join(problems)}); "
            "drop or impute those rows first"
        )
    return df


def _check_constant(df: pd.DataFrame, path: str) -> None:
    const = [c for c in df.columns if not np.ptp(df[c].to_numpy()) > 0]
    if const:
        raise CLIError(
            f"column(s) {', '.join(map(repr, const))} of {path!r} are constant; the prior scales "
            "are set from each column's spread, so leave them out with --columns"
        )


def _columns_arg(text: str) -> list[str]:
    cols = [c.strip() for c in str(text).split(",")]
    if not cols or any(not c for c in cols):
        raise argparse.ArgumentTypeError(f"invalid column list {text!r}: expected names separated by commas, e.g. a,b")
    return cols


def _check_output_file(path: str, what: str) -> None:
    if os.path.isdir(path):
        raise CLIError(f"{what} {path!r} is a directory; pass a file name")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(f"cannot write {what} {path!r}: the directory {parent!r} does not exist")


def _make_output_dir(path: str) -> None:
    if os.path.exists(path) and not os.path.isdir(path):
        raise CLIError(f"output folder {path!r} exists and is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create output folder {path!r}: {exc.strerror or exc}", EXIT_FAILURE) from None


# ------------------------------------------------------------------ plots
def _use_agg() -> None:
    # In a fresh process (the console script) draw off-screen; inside a session
    # that already imported pyplot (a notebook calling main()), keep its backend.
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")


def _figure_of(obj):
    """The matplotlib Figure of a plot function's return value."""
    if hasattr(obj, "savefig"):
        return obj
    if hasattr(obj, "figure") and hasattr(obj.figure, "savefig"):
        return obj.figure
    if hasattr(obj, "viz"):  # arviz-plots PlotCollection / PlotMatrix
        fig = obj.viz["figure"]
        fig = fig.item() if hasattr(fig, "item") else fig
        return fig
    if isinstance(obj, np.ndarray):
        return _figure_of(obj.flat[0])
    raise TypeError(f"cannot find the figure of {type(obj).__name__}")


def write_plots(model, out_dir: str, *, suffix: str = "", seed: int = 0, max_obs: int = 2000) -> list[str]:
    """Draw the standard plots of a fitted model into ``out_dir`` as PNG files.

    ``clusters``, ``membership_entropy``, ``membership_probability`` (with two
    or more features), ``coclustering`` (a random subsample of ``max_obs``
    observations beyond that), ``compare_em``, ``trace`` and ``rank``. A plot
    that fails is skipped with a warning; the others are still written (so a
    one-chain fit gets no ``rank`` plot: :func:`bayesgmm.plots.rank` explains
    that rank plots compare chains).

    Returns
    -------
    list of str
        The paths written.

    Examples
    --------
    >>> from bayesgmm.cli import write_plots
    >>> paths = write_plots(model, "report")  # doctest: +SKIP
    """
    _use_agg()
    import matplotlib.pyplot as plt

    import bayesgmm as bg
    from bayesgmm import _datatree, posterior

    written = []
    k = model.n_components
    membership = model.membership()
    observed = _datatree.get_observed(model.idata_)
    partition = posterior.map_partition(membership)

    def similarity():
        return posterior.posterior_similarity(
            model.idata_, observed.to_numpy(), max_obs=max_obs, random_state=seed
        )

    jobs = [
        ("clusters", lambda: bg.plots.clusters(model, partition=partition, n_ellipse_draws=20)),
        ("membership_entropy", lambda: bg.plots.membership_uncertainty(membership, observed, by="entropy")),
        ("membership_probability", lambda: bg.plots.membership_uncertainty(membership, observed, by="probability")),
        ("coclustering", lambda: bg.plots.coclustering(similarity(), partition=partition)),
        ("compare_em", lambda: bg.plots.compare_em(model.compare_em(), var_names=["weights", "means", "sds"])),
        ("trace", lambda: bg.plots.trace(model, var_names=["weights", "means"])),
    ]
    if observed.sizes["feature"] < 2:  # scatter plots need two features
        jobs = [job for job in jobs if job[0] not in ("clusters", "membership_entropy", "membership_probability")]
    # rank plots compare chains: with one chain plots.rank raises a ValueError that
    # says so, and the plot is skipped with that warning below
    jobs.append(("rank", lambda: bg.plots.rank(model, var_names=["weights"])))
    for name, draw in jobs:
        path = os.path.join(out_dir, f"{name}{suffix}.png")
        try:
            fig = _figure_of(draw())
            fig.savefig(path, dpi=90, bbox_inches="tight")
        except Exception as exc:  # a plot is not worth failing the whole report for
            _err("warning", f"skipped the {name} plot (K={k}): {type(exc).__name__}: {exc}")
        else:
            written.append(path)
        finally:
            plt.close("all")
    return written


def membership_table(model) -> pd.DataFrame:
    """One row per fitted observation: data, most probable component and probabilities.

    Columns: the features, ``component`` (most probable), ``probability`` with
    ``lower``/``upper`` (its credible interval), ``entropy`` (nats), then per
    component ``k``: ``probability_k``, ``lower_k``, ``upper_k``.

    Examples
    --------
    >>> from bayesgmm.cli import membership_table
    >>> membership_table(model).head()  # doctest: +SKIP
    """
    from bayesgmm import _datatree

    mem = model.membership()
    observed = _datatree.get_observed(model.idata_).transpose("obs", "feature")
    df = pd.DataFrame(
        observed.to_numpy(),
        index=pd.Index(observed["obs"].to_numpy(), name="obs"),
        columns=[str(f) for f in observed["feature"].to_numpy()],
    )
    prob = mem["probability"].transpose("obs", "component").to_numpy()
    lower = mem["lower"].transpose("obs", "component").to_numpy()
    upper = mem["upper"].transpose("obs", "component").to_numpy()
    comp = prob.argmax(axis=1)
    rows = np.arange(prob.shape[0])
    df["component"] = comp
    df["probability"] = prob[rows, comp]
    df["lower"] = lower[rows, comp]
    df["upper"] = upper[rows, comp]
    df["entropy"] = mem["entropy"].to_numpy()
    for j, c in enumerate(mem["component"].to_numpy()):
        df[f"probability_{c}"] = prob[:, j]
        df[f"lower_{c}"] = lower[:, j]
        df[f"upper_{c}"] = upper[:, j]
    return df


# --------------------------------------------------------------------------- demo
def _add_demo_arguments(p: argparse.ArgumentParser) -> None:
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


def _bayes_part(X, k, seed, quick, quiet, out, *, intro=(), if_problems=None):
    """Fit the posterior for K=k and print summary and memberships.

    ``intro`` lines are printed after the section heading; ``if_problems`` after
    the diagnostics when they found problems.
    """
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
    if intro:
        out(*intro, "")
    out(str(report))
    if report.problems and if_problems:
        out(if_problems)
    for w in caught:
        if issubclass(w.category, SamplingWarning):
            continue  # already in the report
        if issubclass(w.category, (UserWarning, RuntimeWarning)) and "BLAS" not in str(w.message):
            out(f"warning: {w.message}")
    summary = model.summary(kind="stats")
    keep = [i for i in summary.index if str(i).startswith(("weights", "means", "sds"))]
    out("", "Posterior summary (relabelled against EM; 94% equal-tailed intervals):",
        _table(summary.loc[keep]))

    cmp = compare_table(model.compare_em(var_names=["weights", "means", "sds"]))
    out("", "EM vs posterior (em_inside: the EM estimate lies in the 94% interval; "
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
    out(
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

    def out(*lines):
        _say(args, *lines)

    if not args.em_only:
        _make_output_dir(args.out)
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
    written = []
    for k in ((2,) if args.quick else (2, 3)):
        extra = {"intro": _K3_INTRO, "if_problems": _K3_PROBLEMS} if k == 3 else {}
        model = _bayes_part(X, k, args.seed, args.quick, args.quiet, out, **extra)
        written += write_plots(model, args.out, suffix=f"_k{k}", seed=args.seed)
    if args.quick:
        out("", "(--quick fits K=2 only; the full demo also fits K=3, one component more than the "
                "data support, to show how the sampling diagnostics flag it.)")
    out(
        "",
        f"Plots ({len(written)} PNG files) written to {args.out}{os.sep}: "
        + ", ".join(os.path.basename(p) for p in written),
        "",
        "Next: model.membership(), model.predict_proba(X_new, return_interval=True), "
        "model.compare_em(), model.save('fit.nc'); on your own data: bayesgmm fit / select / report.",
    )
    return 0


# --------------------------------------------------------------------------- fit
def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", metavar="DATA.csv", help="CSV file with a header row; one observation per row")
    p.add_argument(
        "--columns",
        type=_columns_arg,
        metavar="A,B,...",
        help="comma-separated columns to use (default: all columns, which must all be numeric)",
    )
    p.add_argument("--index-col", metavar="NAME", help="column holding observation labels (not a feature)")
    p.add_argument("--sep", default=",", help="field separator of the CSV file, e.g. ';' or '\\t' (default: ,)")


def _add_fit_arguments(p: argparse.ArgumentParser) -> None:
    _add_data_arguments(p)
    p.add_argument("--components", "-k", type=_positive_int, required=True, metavar="K",
                   help="number of mixture components")
    p.add_argument("--covariance", default="full", choices=_COVARIANCE_TYPES,
                   help="covariance type (default: full)")
    p.add_argument("--method", default="nuts", choices=_FIT_METHODS,
                   help="inference: NUTS (nutpie) or a variational approximation (default: nuts)")
    p.add_argument("--draws", type=_positive_int, default=1000, help="draws per chain kept (default: 1000)")
    p.add_argument("--tune", type=_nonnegative_int, default=1000,
                   help="NUTS warm-up steps per chain; for VI sets the optimisation length "
                        "max(10 * tune, 5000) (default: 1000)")
    p.add_argument("--chains", type=_positive_int, default=4, help="chains (default: 4)")
    p.add_argument("--n-init", type=_positive_int, default=5, help="EM restarts (default: 5)")
    p.add_argument("--target-accept", type=_probability, metavar="P",
                   help="NUTS target acceptance rate in (0, 1), e.g. 0.95 against divergences "
                        "(default: the sampler's)")
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
        if args.method != "nuts":
            raise CLIError("--target-accept only applies to --method nuts")
        sampler_kwargs["target_accept"] = args.target_accept
    if args.vi_steps is not None:
        if args.method == "nuts":
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
    from bayesgmm.bayesian import BayesianGMM
    from bayesgmm.diagnostics import SamplingWarning

    model = BayesianGMM(args.components, covariance_type=args.covariance, random_state=args.seed)
    what = (
        f"{args.chains} chains x {args.draws} draws ({args.tune} tuning steps)"
        if args.method == "nuts"
        else f"{args.chains} x {args.draws} draws from the approximation"
    )
    _say(args, f"Fitting K={args.components} ({args.covariance} covariances) to {n} rows x {d} "
               f"columns {list(X.columns)} from {args.data}: EM ({args.n_init} starts), then "
               f"{args.method}, {what}.")
    t0 = time.perf_counter()
    with _Warnings(skip=(SamplingWarning,)):
        try:
            model.fit(X, method=args.method, draws=args.draws, tune=args.tune, chains=args.chains,
                      n_init=args.n_init, progressbar=_progress(args), **sampler_kwargs)
        except (ValueError, RuntimeError, ArithmeticError, np.linalg.LinAlgError) as exc:
            raise CLIError(f"the fit failed: {type(exc).__name__}: {exc}", EXIT_FAILURE) from None
    seconds = time.perf_counter() - t0
    report = model.diagnostics_
    head = str(report).splitlines()[0]
    if not args.quiet:
        _say(args, f"Done in {seconds:.1f} s.")
    _say(args, f"Diagnostics: {head}")
    for problem in report.problems:
        _err("warning", problem.message)
    summary = model.summary(kind="stats")
    keep = [i for i in summary.index if str(i).startswith(("weights", "means", "sds"))]
    _say(args, "", "Posterior summary (94% equal-tailed intervals):", _table(summary.loc[keep]))
    try:
        model.save(args.out)
    except (OSError, ValueError) as exc:
        raise CLIError(f"could not save the fit to {args.out!r}: {exc}", EXIT_FAILURE) from None
    _say(args, "", f"Saved the fit to {args.out} (bayesgmm report {args.out} --out DIR writes tables and plots).")
    if args.strict and report.problems:
        _err("error", f"the sampling diagnostics found {len(report.problems)} problem(s) "
                      f"(--strict); the fit was saved to {args.out}")
        return EXIT_FAILURE
    return 0


# --------------------------------------------------------------------------- select
def _add_select_arguments(p: argparse.ArgumentParser) -> None:
    _add_data_arguments(p)
    p.add_argument("--components", "-k", type=parse_component_range, default=parse_component_range("1-6"),
                   metavar="RANGE", help="component counts: 1-6, 2,3,5 or 1-3,6 (default: 1-6); "
                                         "for sparse the largest is the overfitted mixture's size")
    p.add_argument("--method", default="bic", choices=_SELECT_METHODS,
                   help="bic/icl: EM grid (lower is better); loo/waic: Bayesian fits compared by "
                        "elpd (higher is better); sparse: one overfitted mixture (default: bic)")
    p.add_argument("--covariance", type=_covariance_list, default=["full"], metavar="TYPES",
                   help="comma-separated covariance types from full, tied, diag, spherical (default: full)")
    p.add_argument("--n-init", type=_positive_int, default=5, help="EM restarts per fit (default: 5)")
    p.add_argument("--draws", type=_positive_int, help="loo/waic/sparse: draws per chain (default: 1000)")
    p.add_argument("--tune", type=_nonnegative_int, help="loo/waic/sparse: warm-up steps (default: 1000)")
    p.add_argument("--chains", type=_positive_int, help="loo/waic/sparse: chains (default: 4)")
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
    X = read_data(args.data, args.columns, sep=args.sep, index_col=args.index_col)
    if bayesian:
        _check_constant(X, args.data)
    from bayesgmm.selection import select_components

    with _Warnings():
        try:
            res = select_components(
                X, args.components, covariance_types=args.covariance, method=args.method,
                n_init=args.n_init, random_state=args.seed, progressbar=_progress(args),
                n_jobs=args.jobs, **extra,
            )
        except (ValueError, RuntimeError, ArithmeticError, np.linalg.LinAlgError) as exc:
            raise CLIError(f"component selection failed: {type(exc).__name__}: {exc}", EXIT_FAILURE) from None
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
    _say(args, f"Component selection on {args.data} ({X.shape[0]} rows x {X.shape[1]} columns), "
               f"method={args.method}: {note}.", _table(table[shown]))
    if args.method == "sparse":
        _say(args, f"Posterior mode of the number of occupied components: {res.n_components} "
                   f"({res.covariance_type} covariances).")
    else:
        _say(args, f"Selected: K={res.n_components} ({res.covariance_type} covariances).")
    if args.out:
        try:
            table.to_csv(args.out)
        except OSError as exc:
            raise CLIError(f"could not write {args.out!r}: {exc.strerror or exc}", EXIT_FAILURE) from None
        _say(args, f"Wrote {args.out}")
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
        _say(args, f"Wrote {args.plot}")
    return 0


# --------------------------------------------------------------------------- report
def _add_report_arguments(p: argparse.ArgumentParser) -> None:
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
    _say(args, f"Fit {path}: K={model.n_components} ({model.covariance_type} covariances), "
               f"method={attrs.get('method')}, {post.sizes['chain']} chain(s) x {post.sizes['draw']} "
               f"draws, {tree['observed_data'].sizes['obs']} observations, bayesgmm "
               f"{attrs.get('bayesgmm_version')}.",
         f"Diagnostics: {str(model.diagnostics_).splitlines()[0]}")
    for problem in model.diagnostics_.problems:
        _err("warning", problem.message)
    written = []
    with _Warnings():
        try:
            summary = model.summary()
            summary.to_csv(os.path.join(args.out, "summary.csv"), index_label="parameter")
            written.append("summary.csv")
            members = membership_table(model)
            members.to_csv(os.path.join(args.out, "memberships.csv"))
            written.append("memberships.csv")
            compare = model.compare_em().to_dataframe()
            compare.to_csv(os.path.join(args.out, "compare_em.csv"))
            written.append("compare_em.csv")
        except OSError as exc:
            raise CLIError(f"could not write to {args.out!r}: {exc.strerror or exc}", EXIT_FAILURE) from None
        except (ValueError, RuntimeError, ArithmeticError) as exc:
            raise CLIError(f"the report failed: {type(exc).__name__}: {exc}", EXIT_FAILURE) from None
        if not args.no_plots:
            written += [os.path.basename(p) for p in write_plots(model, args.out, seed=args.seed)]
    n_unsure = int((members["probability"] < 0.9).sum())
    _say(args, "", _memberships_line(len(members) - n_unsure, len(members), "observations"),
         f"Wrote {len(written)} files to {args.out}{os.sep}: {', '.join(written)}")
    return 0


#: name -> (help, add_arguments(parser), run(args) -> int)
SUBCOMMANDS = {
    "demo": (
        "fit EM and the posterior on Old Faithful, print memberships with uncertainty, write plots",
        _add_demo_arguments,
        run_demo,
    ),
    "fit": (
        "fit a Bayesian Gaussian mixture to a CSV file and save it (netCDF)",
        _add_fit_arguments,
        run_fit,
    ),
    "select": (
        "choose the number of components of a CSV file's data (BIC/ICL, LOO/WAIC, sparse)",
        _add_select_arguments,
        run_select,
    ),
    "report": (
        "write the summary, memberships (CSV) and plots (PNG) of a saved fit",
        _add_report_arguments,
        run_report,
    ),
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
