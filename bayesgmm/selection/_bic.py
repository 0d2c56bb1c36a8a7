"""``method="bic"`` / ``"icl"``: an EM fit per cell and its information criteria.

One :class:`bayesgmm.GaussianMixture` per (n_components, covariance_type)
cell, in the manner of R's ``mclust``: log-likelihood, number of free
parameters (from the covariance registry), BIC, ICL and AIC per cell; the
best cell minimises the chosen criterion.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import xarray as xr

from bayesgmm.covariance import get_covariance_type
from bayesgmm.exceptions import SelectionWarning
from bayesgmm.selection._cells import (
    _argbest,
    _run_cells,
    _warn_cell_warnings,
    _warn_failures,
)
from bayesgmm.selection._result import SelectionResult


def _fit_em(X, k, ct, seed, options):
    """The fit of an EM cell and its numbers: log-likelihood, p, BIC, AIC, ICL."""
    from bayesgmm.em import GaussianMixture

    model = GaussianMixture(
        k,
        covariance_type=ct,
        n_init=options["n_init"],
        random_state=seed,
        **options["kwargs"],
    ).fit(X)
    n = int(X.shape[0])
    loglik = float(model.score(X)) * n
    p = int(round(get_covariance_type(model.covariance_type).n_parameters(
        model.n_components, int(X.shape[1])
    )))
    return model, {
        "log_likelihood": loglik,
        "n_parameters": p,
        "bic": -2.0 * loglik + p * math.log(n),
        "aic": -2.0 * loglik + 2.0 * p,
        "icl": float(model.icl(X, method=options["icl_method"])),
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "degenerate": bool(len(model.degenerate_components_)),
    }


_CONVENTION = (
    "bic, icl, aic: scikit-learn convention, -2 log L + penalty, LOWER is better "
    "(as GaussianMixture.bic/icl/aic). bic_mclust, icl_mclust: R mclust convention, "
    "2 log L - penalty = -bic, -icl, HIGHER is better."
)


def _grid_table(results, ks, cts, n, icl_method):
    """The (n_components, covariance_type) table of the EM cells' criteria."""
    shape = (len(ks), len(cts))
    num = {v: np.full(shape, np.nan) for v in ("log_likelihood", "n_parameters", "bic", "icl", "aic")}
    converged = np.zeros(shape, dtype=bool)
    degenerate = np.zeros(shape, dtype=bool)
    n_iter = np.zeros(shape, dtype=np.int64)
    seconds = np.full(shape, np.nan)
    message = np.full(shape, "", dtype=object)
    for i, k in enumerate(ks):
        for j, ct in enumerate(cts):
            r = results[(k, ct)]
            seconds[i, j] = r["seconds"]
            if r["error"] is not None:
                message[i, j] = r["error"]
                continue
            for v in num:
                num[v][i, j] = r[v]
            converged[i, j] = r["converged"]
            degenerate[i, j] = r["degenerate"]
            n_iter[i, j] = r["n_iter"]
            message[i, j] = " | ".join(msg for _, msg in r["warnings"])
    dims = ("n_components", "covariance_type")
    ds = xr.Dataset(
        {
            "log_likelihood": (dims, num["log_likelihood"], {"long_name": "maximised log-likelihood"}),
            "n_parameters": (dims, num["n_parameters"], {"long_name": "free parameters p"}),
            "bic": (dims, num["bic"], {"long_name": "BIC = -2 log L + p log n", "better": "lower"}),
            "icl": (dims, num["icl"], {
                "long_name": f"ICL = BIC + classification penalty ({icl_method})",
                "better": "lower",
            }),
            "aic": (dims, num["aic"], {"long_name": "AIC = -2 log L + 2 p", "better": "lower"}),
            "bic_mclust": (dims, -num["bic"], {"long_name": "mclust BIC = 2 log L - p log n", "better": "higher"}),
            "icl_mclust": (dims, -num["icl"], {"long_name": "mclust ICL = -icl", "better": "higher"}),
            "converged": (dims, converged),
            "degenerate": (dims, degenerate, {
                "long_name": "near-singular component (not chosen when another cell is not)",
            }),
            "n_iter": (dims, n_iter),
            "seconds": (dims, seconds),
            "message": (dims, message.astype(str)),
        },
        coords={"n_components": np.asarray(ks, dtype=np.int64), "covariance_type": np.asarray(cts)},
        attrs={"n_samples": int(n), "icl_method": icl_method, "convention": _CONVENTION},
    )
    return ds


def _select_em(X, n, ks, cts, method, n_init, seed, progressbar, n_jobs, icl_method, fit_kwargs):
    """``select_components(method="bic" | "icl")`` once its arguments are checked."""
    cells = [(k, ct) for k in ks for ct in cts]
    options = {"n_init": n_init, "kwargs": dict(fit_kwargs), "icl_method": icl_method}
    results = _run_cells(
        _fit_em, X, cells, seed, options, n_jobs, progressbar, f"select_components({method})"
    )
    _warn_failures(results, cells, stacklevel=4)
    table = _grid_table(results, ks, cts, n, icl_method)
    not_conv = [
        (k, ct) for (k, ct) in cells if results[(k, ct)]["error"] is None
        and not results[(k, ct)]["converged"]
    ]
    if not_conv:
        warnings.warn(
            f"EM did not converge for {len(not_conv)} cells "
            f"({', '.join(f'K={k} {ct}' for k, ct in not_conv)}); their criteria may be "
            "too pessimistic. Pass max_iter=... (larger) or tol=... (larger), or more "
            "restarts with n_init=...",
            SelectionWarning,
            stacklevel=3,
        )
    _warn_cell_warnings(results, cells, stacklevel=4)
    # a cell with a near-singular component is a spurious maximum, like a
    # failed one (mclust's NA): chosen only when every cell is
    values = table[method].to_numpy()
    regular = ~table["degenerate"].to_numpy()
    if np.isfinite(values[regular]).any():
        values = np.where(regular, values, np.nan)
    best = _argbest(values, ks, cts, higher_is_better=False)
    if best is None:
        raise ValueError(
            "every fit of the selection grid failed (see the warning above); use fewer "
            "components, a larger reg_covar, or check the data."
        )
    table.attrs.update(
        method=method,
        criterion=method,
        best_n_components=int(best[0]),
        best_covariance_type=best[1],
    )
    models = {c: results[c]["model"] for c in cells}
    return SelectionResult(method, table, int(best[0]), best[1], models[best], models)


