"""What the commands share: exit statuses, errors, printing, warning capture,
argument types, CSV input, output paths and plots.

Nothing heavy is imported here (no pymc, no estimators): ``bayesgmm --help``
imports this module.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

from bayesgmm.covariance import (
    COVARIANCE_TYPES,
    EM_COVARIANCE_TYPES,
    MCLUST_MODELS,
    get_covariance_type,
)

#: Exit status of a usage or input error (argparse uses it too).
EXIT_USAGE = 2
#: Exit status of a runtime or statistical failure.
EXIT_FAILURE = 1
#: Exit status after Ctrl-C.
EXIT_INTERRUPTED = 130


# ------------------------------------------------------------------ errors and printing
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


#: Exceptions of a fit or computation that are reported as a runtime failure (exit status 1).
_RUNTIME_ERRORS = (ValueError, RuntimeError, ArithmeticError, np.linalg.LinAlgError)


def _failed(what: str, exc: BaseException) -> CLIError:
    """The runtime failure (exit status 1) of ``what`` ("the fit", ...) caused by ``exc``."""
    return CLIError(f"{what} failed: {type(exc).__name__}: {exc}", EXIT_FAILURE)


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _say(*lines) -> None:
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


def _ci_words() -> str:
    """The default credible interval in words, e.g. "89% equal-tailed" (ArviZ's rcParams)."""
    from bayesgmm.posterior._common import CI_KINDS, resolve_ci

    prob, kind = resolve_ci()
    return f"{prob:.0%} {CI_KINDS[kind]}"


def _posterior_summary(model) -> str:
    """The posterior summary of the weights, means and standard deviations, as printed."""
    summary = model.summary(kind="stats")
    keep = [i for i in summary.index if str(i).startswith(("weights", "means", "sds"))]
    return _table(summary.loc[keep])


def _say_diagnostics(report) -> None:
    """Print the first line of a diagnostics report, and each problem as a warning on stderr."""
    _say(f"Diagnostics: {str(report).splitlines()[0]}")
    for problem in report.problems:
        _err("warning", problem.message)


def _progress(args) -> bool:
    """The samplers' own progress bars: on a terminal only (they redraw with ``\\r``).

    When stderr is piped or redirected, :class:`_Heartbeat` prints periodic lines
    instead.
    """
    return not getattr(args, "quiet", False) and _isatty(sys.stderr)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


#: Seconds between the progress lines of a long step when stderr is not a terminal.
HEARTBEAT_SECONDS = 15.0


class _Heartbeat:
    """Periodic progress lines on stderr during a long step, when stderr is not a terminal.

    A terminal gets the sampler's own progress bar (:func:`_progress`); a pipe or a
    log file gets one plain line every ``every`` seconds (``bayesgmm: sampling ...
    30 s``) and none for steps shorter than that. Nothing with ``quiet``.
    """

    def __init__(self, what: str, quiet: bool, every: float | None = None):
        self.what, self.every = what, HEARTBEAT_SECONDS if every is None else float(every)
        self.enabled = not quiet and not _isatty(sys.stderr)
        self._stop = None
        self._thread = None

    def _run(self):
        t0 = time.perf_counter()
        while not self._stop.wait(self.every):
            print(f"bayesgmm: {self.what} ... {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)

    def __enter__(self):
        if self.enabled:
            import threading

            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        return False


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


def _resolution(text):
    """``--resolution``: one step or comma-separated steps, each a finite number >= 0."""
    try:
        steps = [float(v) for v in str(text).split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or comma-separated numbers (e.g. 0.1 or 0.001,1), got {text!r}"
        ) from None
    if not all(np.isfinite(v) and v >= 0 for v in steps):
        raise argparse.ArgumentTypeError(f"every step must be a finite number >= 0, got {text!r}")
    return steps[0] if len(steps) == 1 else steps


def _n_init(text: str):
    """argparse type of ``--n-init``: ``auto`` or an integer >= 1."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}: expected 'auto' or an integer >= 1"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {value}: expected 'auto' or an integer >= 1")
    return value


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
    shown = _short(text)
    if not text.strip() or any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"invalid component range {shown}: {hint}")
    def where(part):
        return shown if part == text.strip() else f"{shown} (at {_short(part)})"

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
        if hi > MAX_COMPONENTS:
            raise argparse.ArgumentTypeError(
                f"invalid component range {where(part)}: at most {MAX_COMPONENTS} components"
            )
        out.update(range(lo, hi + 1))
    return sorted(out)


#: The largest component count the command line accepts (``-k``).
MAX_COMPONENTS = 1000


def _short(text, limit=40) -> str:
    """``repr(text)``, cut to ``limit`` characters (an error line stays short)."""
    text = str(text)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


def check_components_against_data(ks, n_rows: int, path: str, option: str = "--components") -> None:
    """Every component count must be at most the number of rows (before any fitting).

    Examples
    --------
    >>> from bayesgmm.cli._common import check_components_against_data
    >>> check_components_against_data([1, 2, 3], 272, "faithful.csv")
    >>> check_components_against_data([1, 300], 272, "faithful.csv")
    Traceback (most recent call last):
    ...
    bayesgmm.cli._common.CLIError: 'faithful.csv' has 272 rows but --components asks for up to 300 components; use at most 272
    """
    too_many = [k for k in ks if k > n_rows]
    if too_many:
        raise CLIError(
            f"{path!r} has {n_rows} rows but {option} asks for up to {max(too_many)} "
            f"components; use at most {n_rows}"
        )


#: What ``--covariance`` accepts, for the help texts.
COVARIANCE_HELP = (
    f"scikit-learn's {', '.join(COVARIANCE_TYPES)} or mclust's {', '.join(MCLUST_MODELS)} "
    "(VVV, EEE, VVI, VII are full, tied, diag, spherical)"
)


#: Every name of a type with a Bayesian model (``fit``; ``select`` with loo/waic/sparse).
BAYESIAN_NAMES = tuple(n for n in EM_COVARIANCE_TYPES if get_covariance_type(n).has_bayesian_model)


def _unknown_covariance(names, text, extra=""):
    return argparse.ArgumentTypeError(
        f"invalid covariance type(s) {', '.join(map(repr, names)) or repr(text)}: "
        f"choose from {', '.join(EM_COVARIANCE_TYPES)}{extra}"
    )


def _covariance_list(text: str) -> list[str]:
    """``--covariance`` of ``select``: comma-separated names, ``mclust`` for mclust's fourteen.

    Names of one model (``full`` and ``VVV``) are fitted once, under the first.

    Examples
    --------
    >>> from bayesgmm.cli._common import _covariance_list
    >>> _covariance_list("full,VEV,VVV")
    ['full', 'VEV']
    >>> len(_covariance_list("mclust"))
    14
    """
    names = [p.strip() for p in str(text).split(",") if p.strip()]
    expanded = [m for n in names for m in (MCLUST_MODELS if n == "mclust" else (n,))]
    bad = [n for n in expanded if n not in EM_COVARIANCE_TYPES]
    if not names or bad:
        raise _unknown_covariance(bad, text, " or mclust (all fourteen of mclust's models), comma-separated")
    out, seen = [], []
    for n in expanded:
        model = get_covariance_type(n)
        if model not in seen:
            seen.append(model)
            out.append(n)
    return out


def _bayesian_covariance(text: str) -> str:
    """``--covariance`` of ``fit``: one type with a Bayesian model (any of its names), as the
    name :class:`~bayesgmm.BayesianGMM` takes (mclust's ``VVV``, ``EEE``, ``VVI``, ``VII``
    are ``full``, ``tied``, ``diag``, ``spherical``).

    Examples
    --------
    >>> from bayesgmm.cli._common import _bayesian_covariance
    >>> _bayesian_covariance("EEI")
    'EEI'
    >>> _bayesian_covariance("VVV")
    'full'
    """
    name = str(text).strip()
    if name not in EM_COVARIANCE_TYPES:
        raise _unknown_covariance([name], text)
    if not get_covariance_type(name).has_bayesian_model:
        raise argparse.ArgumentTypeError(
            f"{name!r} has no Bayesian model; fit supports {', '.join(BAYESIAN_NAMES)}. "
            "For mclust's other models use EM: "
            f"bayesgmm select --method bic --covariance {name}"
        )
    return get_covariance_type(name).name


def bayesian_names(names):
    """The names the Bayesian estimators take (mclust's ``VVV``, ``EEE``, ``VVI``, ``VII``:
    ``full``, ``tied``, ``diag``, ``spherical``), each model once, in the given order.

    Examples
    --------
    >>> from bayesgmm.cli._common import bayesian_names
    >>> bayesian_names(["VVV", "diag", "full"])
    ['full', 'diag']
    """
    out = []
    for n in names:
        canonical = get_covariance_type(n).name
        if canonical not in out:
            out.append(canonical)
    return out


def check_bayesian_covariances(names, method):
    """Raise a :class:`CLIError` when a Bayesian ``select`` method gets a type without a Bayesian model."""
    bad = [n for n in names if not get_covariance_type(n).has_bayesian_model]
    if bad:
        raise CLIError(
            f"--covariance {','.join(bad)}: no Bayesian model for --method {method}; "
            f"use {', '.join(BAYESIAN_NAMES)}, "
            "or --method bic/icl for all of mclust's models"
        )


def _columns_arg(text: str) -> list[str]:
    cols = [c.strip() for c in str(text).split(",")]
    if not cols or any(not c for c in cols):
        raise argparse.ArgumentTypeError(f"invalid column list {text!r}: expected names separated by commas, e.g. a,b")
    return cols


# ------------------------------------------------------------------ data input
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


def _leading_index_column(df: pd.DataFrame, path) -> str | None:
    """The name of a leading column that is a row index, not data; None if there is none.

    Two forms, as pandas' ``DataFrame.to_csv()`` writes the index: a first column
    without a header (read as ``"Unnamed: 0"``), or a named first column holding
    exactly the row numbers 0, 1, ..., n-1 (or 1, ..., n). Says on stderr what
    was done and how to keep the column as a feature.
    """
    first = str(df.columns[0])
    values = df.iloc[:, 0]
    if first.startswith("Unnamed: 0"):
        _err("warning", f"the first column of {path!r} has no name, as DataFrame.to_csv() writes "
                        "the row index; using it as the observation labels, not as a feature "
                        "(pass --columns to choose the features explicitly)")
        return first
    if pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
        v = values.to_numpy()
        for start in (0, 1):
            if np.array_equal(v, np.arange(start, start + len(v))):
                _err("warning", f"the first column {first!r} of {path!r} holds the row numbers "
                                f"{start}..{start + len(v) - 1}, as DataFrame.to_csv() writes the "
                                "index; using it as the observation labels, not as a feature (pass "
                                f"--columns with {first!r} among them to keep it as a feature)")
                return first
    return None


def read_data(path, columns=None, *, sep=",", index_col=None) -> pd.DataFrame:
    """Read the numeric data columns of a CSV file, with one-line errors.

    Parameters
    ----------
    path : str
        CSV file with a header row.
    columns : list of str, optional
        Columns to use (default: every column except ``index_col``). Without
        ``columns`` and ``index_col``, a leading row-index column as
        ``DataFrame.to_csv()`` writes it (no header, or the row numbers
        0..n-1 / 1..n) is taken as the observation labels, with a warning.
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
    if index_col is None and columns is None and len(names) > 1:
        index_col = _leading_index_column(df, path)
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


# ------------------------------------------------------------------ output paths
def _check_output_file(path: str, what: str) -> None:
    """Fail now, before any fitting, if ``path`` cannot be written."""
    if not path or not path.strip():
        raise CLIError(f"the {what} name is empty; pass a file name")
    if os.path.isdir(path):
        raise CLIError(f"{what} {path!r} is a directory; pass a file name")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(f"cannot write {what} {path!r}: the directory {parent!r} does not exist")
    import tempfile

    try:  # a real file in the directory: permissions, read-only mounts and quotas all show
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise CLIError(
            f"cannot write {what} {path!r}: the directory {parent!r} is not writable "
            f"({exc.strerror or exc})"
        ) from None


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

