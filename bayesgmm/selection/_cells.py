"""Fitting the cells of a selection grid, one model per (n_components, covariance_type).

Every method of :func:`bayesgmm.select_components` fits its cells here:
:func:`_run_cells` runs a method's fit function (``fit(X, k, ct, seed,
options) -> (model, numbers)``) for each cell, in order or in worker
processes, behind one overall :class:`_Progress` bar; :func:`_fit_cell`
turns a failure into the cell's recorded reason and collects its warnings,
which :func:`_reemit` and :func:`_warn_failures` report once the grid is
done. :func:`_argbest` picks the best cell of a (n_components,
covariance_type) array.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

from bayesgmm.exceptions import SelectionWarning


def _in_jupyter_kernel() -> bool:
    """Whether this process is a running Jupyter kernel (not merely one that imported
    ``ipykernel``, as a documentation build or a notebook runner does)."""
    ipython = sys.modules.get("IPython")
    try:
        shell = ipython.get_ipython() if ipython is not None else None
    except Exception:  # an IPython without a usable get_ipython
        return False
    return type(shell).__name__ == "ZMQInteractiveShell"


class _Progress:
    """One overall progress bar on a terminal (tqdm when installed, else a ``\\r`` line);
    when stderr is not a terminal (piped, a log file), one plain line per finished fit."""

    def __init__(self, total: int, enabled: bool, desc: str):
        self.total, self.enabled, self.desc = total, enabled, desc
        self.done = 0
        self.t0 = time.perf_counter()
        self._bar = None
        try:  # a terminal, or a Jupyter kernel (which redraws \r and shows tqdm's widget)
            self._tty = bool(sys.stderr.isatty()) or _in_jupyter_kernel()
        except (AttributeError, ValueError):
            self._tty = False
        if enabled and self._tty:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self._line(None)
            else:
                self._bar = tqdm(total=total, desc=desc, file=sys.stderr)

    def _line(self, label):
        width = 24
        filled = int(round(width * self.done / max(1, self.total)))
        bar = "#" * filled + "-" * (width - filled)
        tail = f" last: {label}" if label else ""
        el = time.perf_counter() - self.t0
        if not self._tty:  # a line per fit: reads well in a pipe or a log
            sys.stderr.write(f"{self.desc}: {self.done}/{self.total} fits, {el:.1f} s{tail}\n")
            sys.stderr.flush()
            return
        sys.stderr.write(
            f"\r{self.desc} [{bar}] {self.done}/{self.total} fits, {el:.1f} s{tail}   "
        )
        sys.stderr.flush()

    def update(self, label):
        self.done += 1
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(str(label))
            self._bar.update(1)
        else:
            self._line(label)

    def close(self):
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        elif self._tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _fit_cell(fit, X, k, ct, seed, options):
    """Fit one cell with ``fit``; never raises for a fitting failure (returns the reason).

    ``fit(X, k, ct, seed, options)`` returns the fitted model and a dict of the
    cell's numbers (a module-level function, so that worker processes can
    receive it). Returns a dict with ``model``, ``error`` (str or None),
    ``warnings`` (list of (category, message)) and the numbers of the cell.
    """
    out = {"k": k, "ct": ct, "model": None, "error": None, "warnings": [], "seconds": np.nan}
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            model, values = fit(X, k, ct, seed, options)
            out.update(values)
            out["model"] = model
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as err:  # noqa: BLE001
            # Any failure of one cell (singular covariances, a sampler that cannot
            # start -- nutpie raises a BaseException "PanicException" then) is
            # recorded with its reason and warned about; the grid goes on.
            out["error"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    out["seconds"] = time.perf_counter() - t0
    seen = set()
    for w in rec:
        key = (w.category, str(w.message))
        if key not in seen:
            seen.add(key)
            out["warnings"].append(key)
    return out


def _fit_bayes(X, k, ct, seed, options):
    """The fit of a Bayesian cell (``"loo"``, ``"waic"``, ``"sparse"``): a :class:`BayesianGMM`."""
    from bayesgmm.bayesian import FIT_SETTINGS, BayesianGMM

    sampler_kwargs = dict(options["kwargs"])
    settings = {name: sampler_kwargs.pop(name) for name in FIT_SETTINGS if name in sampler_kwargs}
    settings.update(n_init=options["n_init"], progressbar=False)
    model = BayesianGMM(
        k, covariance_type=ct, priors=options["priors"], random_state=seed,
        sampler_kwargs=sampler_kwargs or None, **settings,
    ).fit(X)
    return model, {}


def _run_cells(fit, X, cells, seed, options, n_jobs, progressbar, label):
    """Fit every (k, ct) cell with ``fit``, in order (n_jobs=1) or in worker processes,
    behind one progress bar named ``label`` (closed however the fits end)."""
    progress = _Progress(len(cells), progressbar, label)
    try:
        return _fit_cells(fit, X, cells, seed, options, n_jobs, progress)
    finally:
        progress.close()


def _fit_cells(fit, X, cells, seed, options, n_jobs, progress: _Progress):
    """The cells' fits: in order here (``n_jobs=1``), else through joblib.

    joblib's default backend (loky) runs them in fresh worker processes (not
    forked: the samplers use threads, and forking a threaded process can hang);
    inside ``joblib.parallel_config(backend="dask")`` they run on the workers of
    a ``dask.distributed`` cluster. ``n_jobs=None`` lets ``parallel_config``
    choose. Every cell has the same seed, so the results do not depend on
    where a cell ran.
    """
    results = {}
    if n_jobs == 1 or len(cells) == 1:
        for k, ct in cells:
            results[(k, ct)] = _fit_cell(fit, X, k, ct, seed, options)
            progress.update(f"K={k} {ct}")
        return results
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    for r in parallel(delayed(_fit_cell)(fit, X, k, ct, seed, options) for k, ct in cells):
        results[(r["k"], r["ct"])] = r
        progress.update(f"K={r['k']} {r['ct']}")
    return results


def _reemit(results, cells, stacklevel=3):
    """Re-emit each cell's warnings once, prefixed with the cell."""
    for cell in cells:
        r = results[cell]
        for cat, msg in r["warnings"]:
            warnings.warn(
                f"[n_components={cell[0]}, covariance_type={cell[1]!r}] {msg}",
                cat,
                stacklevel=stacklevel,
            )


def _warn_failures(results, cells, stacklevel=3):
    """One :class:`SelectionWarning` listing the failed cells and their reasons."""
    failed = [c for c in cells if results[c]["error"] is not None]
    if failed:
        lines = "; ".join(
            f"n_components={k}, {ct}: {results[(k, ct)]['error']}" for k, ct in failed[:10]
        ) + (f"; and {len(failed) - 10} more" if len(failed) > 10 else "")
        warnings.warn(
            f"{len(failed)} of {len(cells)} fits failed and are recorded as NaN in the table "
            f"(reason in the 'message' variable): {lines}. Too many components for the data "
            "usually causes this; drop those component counts, increase reg_covar, or use "
            "a simpler covariance type.",
            SelectionWarning,
            stacklevel=stacklevel,
        )


def _warn_cell_warnings(results, cells, stacklevel=3):
    """One :class:`SelectionWarning` listing every cell's warnings (category and text)."""
    warned = [c for c in cells if results[c]["warnings"]]
    if warned:
        lines = "; ".join(
            f"n_components={k}, {ct}: "
            + " | ".join(f"{cat.__name__}: {msg}" for cat, msg in results[(k, ct)]["warnings"])
            for k, ct in warned
        )
        warnings.warn(
            f"{len(warned)} of {len(cells)} fits warned (also in the table's 'message' "
            f"variable): {lines}",
            SelectionWarning,
            stacklevel=stacklevel,
        )


def _argbest(values, ks, cts, higher_is_better):
    """The ``(k, ct)`` of the best finite entry of a (len(ks), len(cts)) array, or None."""
    v = np.where(np.isfinite(values), values, -np.inf if higher_is_better else np.inf)
    if not np.isfinite(v).any():
        return None
    flat = int(np.argmax(v) if higher_is_better else np.argmin(v))
    i, j = np.unravel_index(flat, v.shape)
    return ks[i], cts[j]


