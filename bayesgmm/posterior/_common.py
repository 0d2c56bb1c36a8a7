"""Shared input handling and per-draw responsibility kernels for ``bayesgmm.posterior``.

Everything here is private.  The public modules take an :class:`xarray.Dataset` in
the contract's ``posterior`` layout (``weights`` (chain, draw, component), ``means``
(chain, draw, component, feature), ``covariances`` (chain, draw, component, feature,
feature_bis)) and call these helpers to get plain float64 arrays, then work on numpy.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayesgmm._data import MISSING_HINT, check_array, obs_coords
from bayesgmm._kernels import estimate_log_gaussian_prob
from bayesgmm.em._missing import weighted_log_prob
from bayesgmm.covariance import FULL_MATRICES

DEFAULT_MEMORY_BUDGET = 64 * 2**20  # bytes of working memory per chunk

_PARAM_DIMS = {
    "weights": ("component",),
    "means": ("component", "feature"),
    "covariances": ("component", "feature", "feature_bis"),
}


# --------------------------------------------------------------------------- inputs
def as_dataset(obj, name: str, group: str) -> xr.Dataset:
    """Return ``obj`` as an :class:`xarray.Dataset`.

    Accepts a Dataset, or a DataTree (its ``group`` child if it has one, else the
    node's own variables).
    """
    if isinstance(obj, xr.DataTree):
        if group in obj.children:
            return obj[group].to_dataset()
        return obj.to_dataset()
    if isinstance(obj, xr.Dataset):
        return obj
    raise TypeError(
        f"{name} must be an xarray.Dataset (the {group!r} group of a bayesgmm result) "
        f"or an xarray.DataTree holding a {group!r} group; got {type(obj).__name__}. "
        f"Pass model.idata_ or model.idata_[{group!r}]."
    )


def _require_vars(ds: xr.Dataset, name: str, var_names, leading: tuple[str, ...]):
    for var in var_names:
        if var not in ds.data_vars:
            raise ValueError(
                f"{name} has no variable {var!r}; expected {', '.join(map(repr, var_names))} "
                f"with dims {leading + _PARAM_DIMS[var]}, got variables "
                f"{sorted(map(str, ds.data_vars))}. Pass the 'posterior' (or 'em') group of a "
                "bayesgmm result."
            )
        expected = set(leading + _PARAM_DIMS[var])
        got = set(ds[var].dims)
        if got != expected:
            raise ValueError(
                f"{name}[{var!r}] must have dims {leading + _PARAM_DIMS[var]}, got "
                f"{ds[var].dims}. Covariances must be full (component, feature, feature_bis) "
                "matrices for every covariance type."
            )


def posterior_arrays(posterior, name: str = "posterior"):
    """Extract float64 arrays (C, S, K), (C, S, K, D), (C, S, K, D, D) from a posterior."""
    ds = as_dataset(posterior, name, "posterior")
    _require_vars(ds, name, ("weights", "means", "covariances"), ("chain", "draw"))
    w = ds["weights"].transpose("chain", "draw", "component").to_numpy().astype(np.float64)
    m = ds["means"].transpose("chain", "draw", "component", "feature").to_numpy()
    c = ds["covariances"].transpose("chain", "draw", "component", "feature", "feature_bis")
    c = c.to_numpy()
    m = m.astype(np.float64)
    c = c.astype(np.float64)
    _check_finite(name, {"weights": w, "means": m, "covariances": c})
    if w.shape[2] != m.shape[2] or c.shape[2] != m.shape[2]:
        raise ValueError(
            f"{name}: the 'component' dim must have the same length in weights, means and "
            f"covariances; got {w.shape[2]}, {m.shape[2]}, {c.shape[2]}."
        )
    if c.shape[3] != m.shape[3] or c.shape[4] != m.shape[3]:
        raise ValueError(
            f"{name}: covariances must be (feature, feature_bis) = ({m.shape[3]}, {m.shape[3]}) "
            f"matrices to match the means; got {c.shape[3:]}."
        )
    if w.shape[0] * w.shape[1] == 0:
        raise ValueError(f"{name} has no draws (chain x draw = {w.shape[:2]}).")
    return ds, w, m, c


def em_arrays(em, name: str = "em"):
    """Extract float64 arrays (K,), (K, D), (K, D, D) from an EM result Dataset."""
    ds = as_dataset(em, name, "em")
    _require_vars(ds, name, ("weights", "means", "covariances"), ())
    w = ds["weights"].transpose("component").to_numpy().astype(np.float64)
    m = ds["means"].transpose("component", "feature").to_numpy().astype(np.float64)
    c = ds["covariances"].transpose("component", "feature", "feature_bis").to_numpy()
    c = c.astype(np.float64)
    _check_finite(name, {"weights": w, "means": m, "covariances": c})
    return ds, w, m, c


def _check_finite(name, arrays):
    for var, arr in arrays.items():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise ValueError(
                f"{name}[{var!r}] contains {bad} non-finite values (NaN or inf); "
                "posterior draws must be finite. Check the sampler output (divergences, "
                "failed VI fit) before summarising."
            )


def validate_X(X, n_features: int, feature_names=None, name: str = "X", missing: str = "error"):
    """Return ``(array (N, D) float64, obs coordinate values)`` for the posterior's data.

    The data are read by the package's one rule (:func:`bayesgmm._data.check_array`:
    orientation of DataArrays, dtype, finite values; :func:`bayesgmm._data.obs_coords`);
    a dask array is computed. The array is the input itself when it already is a float64
    array (never written to). A single-feature posterior also takes a 1-D array. The
    feature count, and feature names when both sides have them, must match the posterior.
    ``missing="marginalize"``: NaN are missing values, integrated out of each row's
    density (:func:`log_gaussian_prob_full`); ``"error"``: NaN raise.
    """
    if missing not in ("error", "marginalize"):
        raise ValueError(f"missing must be 'error' or 'marginalize'; got {missing!r}.")
    if n_features == 1 and not isinstance(X, xr.DataArray) and np.ndim(X) == 1:
        X = np.reshape(np.asarray(X), (-1, 1))
    allow = missing == "marginalize"
    arr, names = check_array(X, name=name, allow_nan=allow, nan_hint="" if allow else MISSING_HINT)
    arr = np.asarray(arr)  # computes a dask array
    if arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features but the posterior has {n_features}; "
            "pass data with the same columns as the fitted data."
        )
    if names is not None and feature_names is not None:
        columns = [str(c) for c in names]
        fn = [str(f) for f in feature_names]
        if columns != fn and not all(c.isdigit() for c in columns):
            raise ValueError(
                f"{name} has feature names {columns} but the posterior's features are {fn}; "
                "reorder or rename the columns to match the fitted data."
            )
    return arr, np.asarray(obs_coords(X, arr.shape[0]))


def check_hdi_prob(hdi_prob, name: str = "hdi_prob") -> float:
    if isinstance(hdi_prob, bool) or not isinstance(hdi_prob, (int, float, np.floating)):
        raise TypeError(f"{name} must be a float in (0, 1); got {type(hdi_prob).__name__}.")
    if not 0 < float(hdi_prob) < 1:
        raise ValueError(f"{name} must be in (0, 1), e.g. 0.89; got {hdi_prob}.")
    return float(hdi_prob)


#: Interval kinds of :func:`resolve_ci` (ArviZ 1.x's ``ci_kind``) and their names in attrs.
CI_KINDS = {"eti": "equal-tailed", "hdi": "highest density"}


def resolve_ci(ci_prob=None, ci_kind=None, hdi_prob=None, *, stacklevel: int = 3):
    """``(ci_prob, ci_kind)``: the given values, else ArviZ's ``rcParams``.

    ``ci_prob`` and ``ci_kind`` are ArviZ 1.x's names; ``None`` reads
    ``arviz_base.rcParams["stats.ci_prob"]`` / ``["stats.ci_kind"]`` (0.89 and
    ``"eti"`` unless changed), so bayesgmm's intervals agree with ``az.summary``
    on the same tree. ``hdi_prob`` is the deprecated name of ``ci_prob`` (a
    :class:`FutureWarning`; removed in the next release).

    Examples
    --------
    >>> from bayesgmm.posterior._common import resolve_ci
    >>> resolve_ci(0.9, "hdi")
    (0.9, 'hdi')
    """
    import warnings

    if hdi_prob is not None:
        warnings.warn(
            "hdi_prob is deprecated and will be removed in the next release: use ci_prob "
            "(ArviZ 1.x's name; the interval's kind is ci_kind, 'eti' or 'hdi').",
            FutureWarning,
            stacklevel=stacklevel,
        )
        if ci_prob is not None and ci_prob != hdi_prob:
            raise ValueError(
                f"ci_prob={ci_prob!r} and its deprecated alias hdi_prob={hdi_prob!r} disagree; "
                "pass ci_prob only."
            )
        ci_prob = hdi_prob
    if ci_prob is None or ci_kind is None:
        from arviz_base import rcParams

        if ci_prob is None:
            ci_prob = rcParams["stats.ci_prob"]
        if ci_kind is None:
            ci_kind = rcParams["stats.ci_kind"]
    ci_prob = check_hdi_prob(ci_prob, "ci_prob")
    if ci_kind not in CI_KINDS:
        raise ValueError(
            f"ci_kind must be 'eti' (equal-tailed) or 'hdi' (highest density); got {ci_kind!r}."
        )
    return ci_prob, str(ci_kind)


def interval_bounds(x, ci_prob: float, ci_kind: str, axis: int = -1):
    """Lower and upper bounds of the ``ci_prob`` interval of the draws along ``axis``.

    ``"eti"``: the ``(1 - ci_prob) / 2`` and ``1 - (1 - ci_prob) / 2`` quantiles;
    ``"hdi"``: the narrowest window holding ``floor(ci_prob * n)`` + 1 sorted
    draws (as ArviZ's ``hdi``).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.posterior._common import interval_bounds
    >>> lo, hi = interval_bounds(np.r_[np.zeros(95), np.ones(5)], 0.9, "hdi")
    >>> float(lo), float(hi)
    (0.0, 0.0)
    """
    x = np.asarray(x, dtype=np.float64)
    if ci_kind == "eti":
        q = np.quantile(x, [(1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2], axis=axis)
        return q[0], q[1]
    s = np.sort(np.moveaxis(x, axis, -1), axis=-1)
    n = s.shape[-1]
    m = min(int(np.floor(ci_prob * n)), n - 1)
    widths = s[..., m:] - s[..., : n - m]
    i = np.argmin(widths, axis=-1)[..., None]
    return np.take_along_axis(s, i, -1)[..., 0], np.take_along_axis(s, i + m, -1)[..., 0]


def check_positive_int(value, name: str, allow_none: bool = True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None; got {value!r}.")
    return int(value)


def check_memory_budget(memory_budget) -> int:
    if (
        isinstance(memory_budget, bool)
        or not isinstance(memory_budget, (int, float, np.integer, np.floating))
        or not memory_budget > 0
    ):
        raise ValueError(
            f"memory_budget must be a positive number of bytes (default 64 MiB = "
            f"{DEFAULT_MEMORY_BUDGET}); got {memory_budget!r}."
        )
    return int(memory_budget)


# --------------------------------------------------------------------------- kernels
def precision_cholesky_full(covariances: np.ndarray, name: str = "covariances") -> np.ndarray:
    """Upper-triangular P with P P^T = inv(Sigma) for a stack (..., D, D) of covariances.

    Same layout and values as :meth:`bayesgmm.covariance.CovarianceModel.precision_cholesky`
    (``"full"``), but batched over the whole stack with numpy's gufuncs: posterior
    draws give draws x components matrices, and the kernel's per-matrix
    ``solve_triangular`` loop costs 10 us to 10 ms per matrix on a loaded machine.
    A test checks that both agree.  The error names the offending draw.
    """
    lead = covariances.shape[:-2]
    D = covariances.shape[-1]
    flat = covariances.reshape(-1, D, D)
    try:
        L = np.linalg.cholesky(flat)
        ok = bool(np.all(np.isfinite(L)))
    except np.linalg.LinAlgError:
        ok = False
    if not ok:
        eig = np.linalg.eigvalsh(flat).min(axis=-1)
        bad = np.flatnonzero(~(eig > 0))
        where = [np.unravel_index(b, lead) for b in bad[:3]]
        raise ValueError(
            f"{name} contains {bad.size} matrices that are not positive definite (first "
            f"at index {[tuple(int(i) for i in w) for w in where]} of dims {lead}, smallest "
            f"eigenvalue {eig.min():.3g}); posterior covariance draws must be symmetric "
            "positive definite: check the sampler output or the covariance construction."
        )
    Linv = np.linalg.solve(L, np.broadcast_to(np.eye(D), flat.shape))  # lower triangular
    P = np.swapaxes(Linv, -1, -2)
    P = np.triu(P)  # exact zeros below the diagonal, as the kernel's triangular solve
    return np.ascontiguousarray(P).reshape(*lead, D, D)


def log_gaussian_prob_full(X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
    """log N(x_n | mu_j, Sigma_j) for a flat stack j of J components -> (N, J).

    Draws are evaluated by stacking draw x component into the kernel's component axis.
    Rows with NaN (missing values) get the density of their observed coordinates.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        incomplete = X.size and np.isnan(X.sum()) and np.isnan(X).any()
    if incomplete:
        return weighted_log_prob(X, means, prec_chol, FULL_MATRICES, 0.0)
    return estimate_log_gaussian_prob(X, means, prec_chol, FULL_MATRICES)


def noise_terms(ds: xr.Dataset, name: str = "posterior"):
    """``(noise_weight (C, S), log V)`` of a posterior with the uniform noise component
    (a ``noise_weight`` variable whose attribute ``noise_hypervolume`` is ``V``), else None."""
    if "noise_weight" not in ds.data_vars:
        return None
    v = ds["noise_weight"].attrs.get("noise_hypervolume")
    try:
        v = float(v)
    except (TypeError, ValueError):
        v = np.nan
    if not (np.isfinite(v) and v > 0):
        raise ValueError(
            f"{name}['noise_weight'] has no positive attribute 'noise_hypervolume' (the noise "
            "density is 1 / noise_hypervolume); set it, e.g. to the EM fit's noise_hypervolume_."
        )
    w0 = ds["noise_weight"].transpose("chain", "draw").to_numpy().astype(np.float64)
    _check_finite(name, {"noise_weight": w0})
    return w0, float(np.log(v))


class DrawParams:
    """Posterior draws flattened to S = chain * draw, with cached precision factors.

    ``noise``: :func:`noise_terms` of a posterior with the uniform noise component;
    its column (``log w_0 - log V``) then follows the ``K`` components in
    :meth:`weighted_log_prob` (``n_columns = K + 1``).
    """

    def __init__(self, weights, means, covariances, name="posterior", noise=None):
        C, Sd, K = weights.shape
        self.shape = (C, Sd)
        self.n_draws = C * Sd
        self.K = K
        self.D = means.shape[-1]
        self.means = means.reshape(C * Sd, K, self.D)
        w = weights.reshape(C * Sd, K)
        if np.any(w < 0):
            raise ValueError(f"{name}['weights'] has negative values; weights must be >= 0.")
        self.n_columns = K
        self.log_noise = None
        total = w.sum(axis=1, keepdims=True)
        if noise is not None:
            w0 = np.clip(noise[0].reshape(C * Sd, 1), 0, None)
            total = total + w0
            with np.errstate(divide="ignore"):
                self.log_noise = np.log(w0[:, 0] / total[:, 0]) - noise[1]
            self.n_columns = K + 1
        with np.errstate(divide="ignore"):
            self.log_weights = np.log(w / total)
        self.prec_chol = precision_cholesky_full(
            covariances.reshape(C * Sd, K, self.D, self.D), name=f"{name}['covariances']"
        )

    def weighted_log_prob(self, X: np.ndarray, draws: slice) -> np.ndarray:
        """log w_k + log N(x_n | theta_sk) for draws in ``draws`` -> (N, K, S_block).

        With the noise component, (N, K + 1, S_block): ``log w_0 - log V`` last.

        The layout puts draws last (contiguous): reductions over the few components
        are then fast, and quantiles over draws run along contiguous memory.
        """
        m = self.means[draws]
        P = self.prec_chol[draws]
        B = m.shape[0]
        lp = log_gaussian_prob_full(X, m.reshape(B * self.K, self.D), P.reshape(-1, self.D, self.D))
        lp = lp.reshape(X.shape[0], B, self.K)
        lp += self.log_weights[draws][None, :, :]
        if self.log_noise is not None:  # the noise column last
            ln0 = np.broadcast_to(self.log_noise[draws][None, :, None], (X.shape[0], B, 1))
            lp = np.concatenate([lp, ln0], axis=2)
        return np.ascontiguousarray(lp.transpose(0, 2, 1))

    def responsibilities(self, X: np.ndarray, draws: slice) -> np.ndarray:
        """r_nk per draw -> (N, K, S_block), normalised in log space."""
        lp = self.weighted_log_prob(X, draws)
        # log-space normalisation: subtract the max, exponentiate, divide by the sum
        lp -= lp.max(axis=1, keepdims=True)
        np.exp(lp, out=lp)
        lp /= lp.sum(axis=1, keepdims=True)
        return lp

    def bytes_per_row(self) -> int:
        """Working bytes per (observation x draw) pair for the kernels above."""
        return 8 * (self.K * (self.D + 4))


def logsumexp_axis1(a: np.ndarray) -> np.ndarray:
    """log sum_k exp(a[:, k, ...]) for the (N, K, S) layout (faster than scipy's here)."""
    m = a.max(axis=1)
    out = np.exp(a - m[:, None]).sum(axis=1)
    np.log(out, out=out)
    out += m
    return out


def chunk_size(total_bytes_per_item: int, budget: int, n_items: int) -> int:
    return int(max(1, min(n_items, budget // max(1, total_bytes_per_item))))


def iter_slices(n: int, step: int):
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))
