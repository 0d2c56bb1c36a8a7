"""The result tree of a Bayesian Gaussian mixture fit: layout, assembly, access, storage.

This is the *only* module that knows the group layout of the
:class:`xarray.DataTree` that :class:`bayesgmm.BayesianGMM` keeps as ``idata_``
(see ``docs/developer/contracts.md``); everything else reads the tree through
the accessors below (:func:`get_posterior`, :func:`get_em`, :func:`get_observed`,
...), so the layout can change in one place.

Layout
------
Root attributes: ``bayesgmm_version``, ``covariance_type``, ``n_components``,
``method``, ``model_config`` and ``sampler_config`` (JSON strings),
``estimator_params`` (JSON string: the constructor arguments of the model that
made the tree), ``relabelled`` (0/1), ``created_at`` (ISO 8601, UTC).

============== =====================================================================
group          variables (dims)
============== =====================================================================
posterior      ``weights`` (chain, draw, component); ``means`` (chain, draw,
               component, feature); ``covariances`` (chain, draw, component,
               feature, feature_bis), always full matrices; ``sds`` (chain, draw,
               component, feature); ``correlations`` (chain, draw, component,
               feature, feature_bis) for ``full``/``tied``.  Relabelled against EM.
sample_stats   the sampler's statistics (``diverging`` at least, for NUTS) plus
               ``relabel_permutation`` (chain, draw, component) with
               ``posterior[k] = raw[perm[k]]``
log_likelihood ``X`` (chain, draw, obs): ``log p(x_n | theta)`` with the
               components summed out (optional, see :func:`build_tree`)
observed_data  ``X`` (obs, feature)
em             the EM fit without chain/draw: ``weights``, ``means``,
               ``covariances``, ``sds``, ``correlations``; attrs
               ``log_likelihood``, ``converged``, ``n_iter``, ``params`` (JSON)
============== =====================================================================

Storage
-------
:func:`save` / :func:`load` write and read netCDF-4 (HDF5) files through
``h5netcdf``.  Every stored array round-trips exactly.  Two things are made
netCDF-safe when the tree is *built* (so the tree in memory is already the one
that will be read back): object-dtype variables (such as nutpie's
``divergence_message``, Python strings or ``None``) become fixed-width unicode
with ``""`` for ``None``, and string coordinates (feature names, a string
DataFrame index) become fixed-width unicode.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "GROUPS",
    "POSTERIOR_VARS",
    "LOG_LIKELIHOOD_MAX_BYTES",
    "build_tree",
    "em_dataset",
    "parameter_dataset",
    "observed_dataarray",
    "get_posterior",
    "get_sample_stats",
    "get_em",
    "get_observed",
    "get_log_likelihood",
    "get_permutation",
    "get_config",
    "restore_em",
    "get_feature_names",
    "get_obs",
    "has_log_likelihood",
    "save",
    "load",
]

#: Group names in the order they are written.
GROUPS = ("posterior", "sample_stats", "log_likelihood", "observed_data", "em")

#: Parameter variables of the ``posterior`` and ``em`` groups.
POSTERIOR_VARS = ("weights", "means", "covariances", "sds", "correlations")

#: ``log_likelihood="auto"`` skips the pointwise log-likelihood when the
#: ``chain x draw x obs`` float64 array would be larger than this (bytes).
LOG_LIKELIHOOD_MAX_BYTES = 512 * 2**20

_ENGINE = "h5netcdf"


# --------------------------------------------------------------------------- helpers
def _version() -> str:
    from bayesgmm import __version__

    return str(__version__)


def _json_default(obj):
    """JSON fallback for numpy scalars/arrays and anything else (its repr)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return repr(obj)


def to_json(obj) -> str:
    """Serialise a config dict to JSON (numpy values converted, others repr'd).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._datatree import to_json
    >>> to_json({"draws": np.int64(10), "x": None})
    '{"draws": 10, "x": null}'
    """
    return json.dumps(obj, default=_json_default, sort_keys=True)


def _netcdf_safe_values(values: np.ndarray) -> np.ndarray:
    """Object/str-like arrays -> fixed-width unicode (``None`` -> ``""``)."""
    values = np.asarray(values)
    if values.dtype.kind == "O" or values.dtype.kind == "T" or str(values.dtype) == "str":
        flat = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                for v in values.ravel()]
        return np.array(flat, dtype=str).reshape(values.shape)
    return values


def _coord_values(values) -> np.ndarray:
    """Coordinate values that netCDF stores exactly (strings as fixed-width unicode)."""
    if isinstance(values, pd.Index):
        if values.dtype.kind in "iufbM":
            return values.to_numpy()
        values = values.to_numpy(dtype=object)
    arr = np.asarray(values)
    if arr.dtype.kind in "iufbM" or arr.dtype.kind == "U":
        return arr
    return _netcdf_safe_values(arr)


def _sanitize_dataset(ds: xr.Dataset) -> tuple[xr.Dataset, list[str]]:
    """Convert object-dtype variables/coords to unicode; return the names converted."""
    changed = []
    new_vars = {}
    for name, var in ds.variables.items():
        if var.dtype.kind == "O" or var.dtype.kind == "T":
            new_vars[name] = var.copy(data=_netcdf_safe_values(var.values))
            changed.append(str(name))
    if changed:
        ds = ds.assign({k: v for k, v in new_vars.items() if k in ds.data_vars})
        coord_updates = {k: v for k, v in new_vars.items() if k in ds.coords}
        if coord_updates:
            ds = ds.assign_coords(coord_updates)
    return ds, changed


def _safe_attrs(attrs: dict) -> dict:
    """Attributes netCDF can store: bool -> int, None -> "" , dict/list -> JSON."""
    out = {}
    for key, value in attrs.items():
        if isinstance(value, (bool, np.bool_)):
            value = int(value)
        elif value is None:
            value = ""
        elif isinstance(value, (dict, list, tuple)):
            value = to_json(value)
        out[str(key)] = value
    return out


# --------------------------------------------------------------------------- assembly
def parameter_dataset(
    weights, means, covariances, *, feature_names, leading=(), covariance_type="full"
) -> xr.Dataset:
    """Mixture parameters (full covariances) as a Dataset with ``sds`` and ``correlations``.

    Parameters
    ----------
    weights : ndarray of shape (*leading, K)
    means : ndarray of shape (*leading, K, D)
    covariances : ndarray of shape (*leading, K, D, D)
        Full covariance matrices (expand other layouts with
        :meth:`bayesgmm.covariance.CovarianceModel.to_full` first).
    feature_names : sequence of str, length D
    leading : tuple of str
        Names of the leading dims, ``()`` for a point estimate or
        ``("chain", "draw")`` for draws.
    covariance_type : str, default "full"
        ``correlations`` are included for ``full`` and ``tied`` only (they are
        identity matrices for ``diag`` and ``spherical``).

    Returns
    -------
    xarray.Dataset
        ``weights``, ``means``, ``covariances``, ``sds`` (square roots of the
        diagonals) and, for ``full``/``tied``, ``correlations``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._datatree import parameter_dataset
    >>> ds = parameter_dataset(np.array([1.0]), np.zeros((1, 2)),
    ...                        np.array([[[4.0, 1.0], [1.0, 1.0]]]), feature_names=["a", "b"])
    >>> float(ds["sds"].sel(component=0, feature="a")), float(ds["correlations"][0, 0, 1])
    (2.0, 0.5)
    """
    weights = np.asarray(weights, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    cov = np.asarray(covariances, dtype=np.float64)
    nlead = len(leading)
    K, D = means.shape[nlead:]
    sds = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / (sds[..., :, None] * sds[..., None, :])
    idx = np.arange(D)
    corr[..., idx, idx] = 1.0
    lead = tuple(leading)
    fn = _coord_values(np.asarray(list(feature_names)))
    coords = {"component": np.arange(K), "feature": fn, "feature_bis": fn}
    for name, size in zip(lead, means.shape[:nlead]):
        coords[name] = np.arange(size)
    data = {
        "weights": (lead + ("component",), weights),
        "means": (lead + ("component", "feature"), means),
        "covariances": (lead + ("component", "feature", "feature_bis"), cov),
        "sds": (lead + ("component", "feature"), sds),
    }
    if covariance_type in ("full", "tied"):
        data["correlations"] = (lead + ("component", "feature", "feature_bis"), corr)
    return xr.Dataset(data, coords=coords)


def em_dataset(em, feature_names) -> xr.Dataset:
    """The ``em`` group from a fitted :class:`bayesgmm.GaussianMixture`.

    Parameters
    ----------
    em : GaussianMixture
        A fitted EM estimator (``weights_``, ``means_``, ``covariances_`` in
        scikit-learn's layout for its ``covariance_type``).
    feature_names : sequence of str

    Returns
    -------
    xarray.Dataset
        Full-matrix parameters with attrs ``log_likelihood`` (the EM lower
        bound per observation, ``lower_bound_``), ``converged``, ``n_iter``,
        ``covariance_type`` and ``params`` (JSON of ``em.get_params()``).

    Examples
    --------
    >>> import bayesgmm as bg
    >>> from bayesgmm._datatree import em_dataset
    >>> X = bg.datasets.load_old_faithful()
    >>> em = bg.GaussianMixture(2, random_state=0).fit(X)
    >>> em_dataset(em, list(X.columns))["covariances"].dims
    ('component', 'feature', 'feature_bis')
    """
    from bayesgmm.covariance import get_covariance_type

    ct = get_covariance_type(em.covariance_type)
    means = np.asarray(em.means_, dtype=np.float64)
    K, D = means.shape
    full = ct.to_full(np.asarray(em.covariances_, dtype=np.float64), K, n_features=D)
    ds = parameter_dataset(
        em.weights_, means, full, feature_names=feature_names, covariance_type=ct.name
    )
    try:
        params = em.get_params()
    except AttributeError:  # pragma: no cover - duck-typed estimators
        params = {}
    lower_bounds = np.asarray(getattr(em, "lower_bounds_", []), dtype=np.float64)
    ds.attrs = _safe_attrs(
        {
            "log_likelihood": float(getattr(em, "lower_bound_", np.nan)),
            "converged": bool(getattr(em, "converged_", False)),
            "n_iter": int(getattr(em, "n_iter_", -1)),
            "covariance_type": ct.name,
            "params": to_json(params),
            **({"lower_bounds": lower_bounds} if lower_bounds.size else {}),
        }
    )
    return ds


def observed_dataarray(X, obs, feature_names) -> xr.DataArray:
    """The observed data as a DataArray ``X`` (obs, feature).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._datatree import observed_dataarray
    >>> observed_dataarray(np.zeros((3, 2)), None, ["a", "b"]).dims
    ('obs', 'feature')
    """
    X = np.asarray(X, dtype=np.float64)
    obs = np.arange(X.shape[0]) if obs is None else _coord_values(obs)
    return xr.DataArray(
        X.copy(),
        dims=("obs", "feature"),
        coords={"obs": obs, "feature": _coord_values(np.asarray(list(feature_names)))},
        name="X",
    )


def build_tree(
    *,
    posterior: xr.Dataset,
    sample_stats: xr.Dataset | None,
    permutation,
    em,
    X,
    obs=None,
    feature_names,
    covariance_type: str,
    method: str,
    model_config: dict,
    sampler_config: dict,
    estimator_params: dict | None = None,
    log_likelihood="auto",
    extra_attrs: dict | None = None,
) -> xr.DataTree:
    """Assemble the result tree of a fit (the layout in the module docstring).

    Parameters
    ----------
    posterior : xarray.Dataset
        Relabelled draws: ``weights``, ``means``, ``covariances`` (full) and,
        if present, ``sds``/``correlations`` (recomputed from ``covariances``
        when absent).
    sample_stats : xarray.Dataset or None
        The sampler's statistics (dims chain, draw); object-dtype variables
        become unicode strings (``None`` -> ``""``) so they can be saved.
    permutation : array-like of shape (chain, draw, component) or None
        ``posterior[k] = raw[perm[k]]``; stored as ``relabel_permutation``.
        ``None`` stores ``relabelled = 0``.
    em : GaussianMixture
        The fitted EM estimator the draws were relabelled against.
    X : ndarray of shape (n_obs, n_features)
        The validated observed data.
    obs : array-like of shape (n_obs,), optional
        Observation labels (default ``0..N-1``).
    feature_names : sequence of str
    covariance_type : str
    method : str
        ``"nuts"``, ``"advi"``, ``"fullrank_advi"`` or ``"minibatch_advi"``.
    model_config, sampler_config : dict
        Stored as JSON strings (prior configuration, sampler settings).
    estimator_params : dict, optional
        Constructor arguments of the estimator, stored as JSON.
    log_likelihood : bool or "auto", default "auto"
        Store the pointwise log-likelihood (chain x draw x obs floats, needed
        for LOO/WAIC), computed chunk-wise by
        :func:`bayesgmm.posterior.membership.pointwise_log_likelihood`. ``"auto"`` stores it unless it would exceed
        :data:`LOG_LIKELIHOOD_MAX_BYTES` (512 MiB), in which case a warning
        says how to get it anyway.
    extra_attrs : dict, optional
        More root attributes (str/int/float; bools are stored as int).

    Returns
    -------
    xarray.DataTree

    Examples
    --------
    >>> import numpy as np
    >>> import bayesgmm as bg
    >>> from bayesgmm._datatree import build_tree, parameter_dataset
    >>> X = bg.datasets.load_old_faithful(as_frame=False)
    >>> em = bg.GaussianMixture(2, random_state=0).fit(X)
    >>> post = parameter_dataset(em.weights_[None, None], em.means_[None, None],
    ...                          em.covariances_[None, None], feature_names=["a", "b"],
    ...                          leading=("chain", "draw"))
    >>> tree = build_tree(posterior=post, sample_stats=None, permutation=None, em=em, X=X,
    ...                   feature_names=["a", "b"], covariance_type="full", method="nuts",
    ...                   model_config={}, sampler_config={})
    >>> sorted(tree.children)
    ['em', 'log_likelihood', 'observed_data', 'posterior', 'sample_stats']
    """
    if log_likelihood not in (True, False, "auto"):
        raise ValueError(
            f"log_likelihood must be True, False or 'auto'; got {log_likelihood!r}."
        )
    X = np.asarray(X, dtype=np.float64)
    feature_names = [str(f) for f in feature_names]
    n_components = int(posterior.sizes["component"])
    observed = observed_dataarray(X, obs, feature_names)
    obs_coord = observed["obs"].to_numpy()

    post = posterior
    wanted = [
        v for v in POSTERIOR_VARS if v != "correlations" or covariance_type in ("full", "tied")
    ]
    if any(v not in post for v in wanted):
        post = parameter_dataset(
            post["weights"].transpose("chain", "draw", "component").to_numpy(),
            post["means"].transpose("chain", "draw", "component", "feature").to_numpy(),
            post["covariances"]
            .transpose("chain", "draw", "component", "feature", "feature_bis")
            .to_numpy(),
            feature_names=feature_names,
            leading=("chain", "draw"),
            covariance_type=covariance_type,
        )
    else:
        post = post[wanted].assign_coords(
            feature=_coord_values(np.asarray(feature_names)),
            feature_bis=_coord_values(np.asarray(feature_names)),
            component=np.arange(n_components),
        )
    post, _ = _sanitize_dataset(post)
    post.attrs = {}
    chain = post["chain"].to_numpy()
    draw = post["draw"].to_numpy()

    if sample_stats is None:
        stats = xr.Dataset(coords={"chain": chain, "draw": draw})
    else:
        stats, _ = _sanitize_dataset(sample_stats.copy())
        stats.attrs = _safe_attrs(dict(stats.attrs))
    if permutation is not None:
        perm = np.asarray(permutation, dtype=np.int64)
        if perm.shape != (chain.size, draw.size, n_components):
            raise ValueError(
                "permutation must have shape (chain, draw, component) = "
                f"{(chain.size, draw.size, n_components)}; got {perm.shape}."
            )
        stats["relabel_permutation"] = xr.DataArray(
            perm,
            dims=("chain", "draw", "component"),
            coords={"chain": chain, "draw": draw, "component": np.arange(n_components)},
        )

    groups = {
        "/posterior": post,
        "/sample_stats": stats,
        "/observed_data": observed.to_dataset(),
        "/em": em_dataset(em, feature_names),
    }

    nbytes = 8 * chain.size * draw.size * X.shape[0]
    store_ll = log_likelihood is True or (
        log_likelihood == "auto" and nbytes <= LOG_LIKELIHOOD_MAX_BYTES
    )
    if log_likelihood == "auto" and not store_ll:
        warnings.warn(
            f"The pointwise log-likelihood (chain x draw x obs = {chain.size} x {draw.size} x "
            f"{X.shape[0]}, {nbytes / 2**20:.0f} MiB) was not stored because it exceeds "
            f"{LOG_LIKELIHOOD_MAX_BYTES / 2**20:.0f} MiB; LOO/WAIC need it. Pass "
            "log_likelihood=True to fit() to store it anyway, or thin the draws.",
            UserWarning,
            stacklevel=3,
        )
    if store_ll:
        from bayesgmm.posterior.membership import pointwise_log_likelihood

        ll = pointwise_log_likelihood(post, X).transpose("chain", "draw", "obs").to_numpy()
        groups["/log_likelihood"] = xr.Dataset(
            {"X": (("chain", "draw", "obs"), ll)},
            coords={"chain": chain, "draw": draw, "obs": obs_coord},
        )

    tree = xr.DataTree.from_dict(groups)
    tree.attrs = _safe_attrs(
        {
            "bayesgmm_version": _version(),
            "covariance_type": str(covariance_type),
            "n_components": n_components,
            "method": str(method),
            "model_config": to_json(model_config),
            "sampler_config": to_json(sampler_config),
            "estimator_params": to_json(estimator_params or {}),
            "relabelled": int(permutation is not None),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **(extra_attrs or {}),
        }
    )
    return tree


# --------------------------------------------------------------------------- access
def _check_tree(tree, name: str = "tree") -> None:
    if not isinstance(tree, xr.DataTree):
        raise TypeError(
            f"{name} must be an xarray.DataTree made by bayesgmm (model.idata_); "
            f"got {type(tree).__name__}."
        )


def _group(tree, group: str, required: bool = True) -> xr.Dataset | None:
    _check_tree(tree)
    if group not in tree.children:
        if not required:
            return None
        raise ValueError(
            f"The result tree has no {group!r} group (it has {sorted(tree.children)}); "
            "it was not made by bayesgmm.BayesianGMM.fit or was modified. Refit the model "
            "or load the file saved by model.save()."
        )
    return tree[group].to_dataset()


def select_variables(post: xr.Dataset, var_names, default) -> xr.Dataset:
    """``post[var_names]`` with checked names; ``var_names=None`` takes ``default``.

    Parameters
    ----------
    post : xarray.Dataset
        Posterior (or EM) variables.
    var_names : str, list of str or None
    default : sequence of str
        Used when ``var_names`` is None (only those present in ``post``).

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"weights": ("component", np.array([0.4, 0.6]))})
    >>> list(select_variables(ds, None, ("weights", "means")).data_vars)
    ['weights']
    """
    if var_names is None:
        var_names = [v for v in default if v in post]
    elif isinstance(var_names, str):
        var_names = [var_names]
    else:
        try:
            var_names = list(var_names)
        except TypeError:
            raise TypeError(
                f"var_names must be a str or a list of str; got {type(var_names).__name__}."
            ) from None
    if not var_names:
        raise ValueError("var_names is empty; name at least one posterior variable.")
    unknown = [v for v in var_names if v not in post]
    if unknown:
        raise ValueError(
            f"var_names {unknown} are not posterior variables; choose from "
            f"{sorted(map(str, post.data_vars))}."
        )
    return post[list(var_names)]


def correlation_pairs(corr: xr.DataArray) -> xr.DataArray:
    """Correlation matrices (..., feature, feature_bis) -> (..., pair), upper triangle only.

    The diagonal is constant 1 and the lower triangle repeats the upper one, so only
    the ``D (D - 1) / 2`` free correlations are kept; ``pair`` is labelled
    ``"a:b"`` from the feature names.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> c = xr.DataArray(np.array([[1.0, 0.3], [0.3, 1.0]]), dims=("feature", "feature_bis"),
    ...                  coords={"feature": ["a", "b"], "feature_bis": ["a", "b"]})
    >>> correlation_pairs(c).to_series().to_dict()
    {'a:b': 0.3}
    """
    feats = [str(f) for f in corr["feature"].to_numpy()]
    i, j = np.triu_indices(len(feats), k=1)
    vals = corr.transpose(..., "feature", "feature_bis").to_numpy()[..., i, j]
    dims = [d for d in corr.dims if d not in ("feature", "feature_bis")] + ["pair"]
    coords = {d: corr[d].to_numpy() for d in dims[:-1] if d in corr.coords}
    coords["pair"] = np.array([f"{feats[a]}:{feats[b]}" for a, b in zip(i, j)], dtype=str)
    return xr.DataArray(vals, dims=dims, coords=coords)


def get_posterior(tree) -> xr.Dataset:
    """The relabelled posterior draws (``weights``, ``means``, ``covariances``, ...).

    Examples
    --------
    >>> from bayesgmm._datatree import get_posterior  # doctest: +SKIP
    >>> get_posterior(model.idata_)["weights"].dims  # doctest: +SKIP
    ('chain', 'draw', 'component')
    """
    return _group(tree, "posterior")


def get_sample_stats(tree) -> xr.Dataset | None:
    """The sampler statistics (``None`` if the tree has none).

    Examples
    --------
    >>> from bayesgmm._datatree import get_sample_stats  # doctest: +SKIP
    >>> int(get_sample_stats(model.idata_)["diverging"].sum())  # doctest: +SKIP
    0
    """
    return _group(tree, "sample_stats", required=False)


def get_permutation(tree) -> xr.DataArray | None:
    """``relabel_permutation`` (chain, draw, component), or ``None``.

    Examples
    --------
    >>> from bayesgmm._datatree import get_permutation  # doctest: +SKIP
    >>> get_permutation(model.idata_).dims  # doctest: +SKIP
    ('chain', 'draw', 'component')
    """
    stats = get_sample_stats(tree)
    if stats is None or "relabel_permutation" not in stats:
        return None
    return stats["relabel_permutation"]


def get_em(tree) -> xr.Dataset:
    """The EM estimates (same variable names as the posterior, no chain/draw).

    Examples
    --------
    >>> from bayesgmm._datatree import get_em  # doctest: +SKIP
    >>> get_em(model.idata_).attrs["converged"]  # doctest: +SKIP
    1
    """
    return _group(tree, "em")


def get_observed(tree) -> xr.DataArray:
    """The observed data ``X`` as a DataArray (obs, feature).

    Examples
    --------
    >>> from bayesgmm._datatree import get_observed  # doctest: +SKIP
    >>> get_observed(model.idata_).dims  # doctest: +SKIP
    ('obs', 'feature')
    """
    return _group(tree, "observed_data")["X"]


def has_log_likelihood(tree) -> bool:
    """Whether the tree stores the pointwise log-likelihood.

    Examples
    --------
    >>> from bayesgmm._datatree import has_log_likelihood  # doctest: +SKIP
    >>> has_log_likelihood(model.idata_)  # doctest: +SKIP
    True
    """
    _check_tree(tree)
    return "log_likelihood" in tree.children


def get_log_likelihood(tree) -> xr.DataArray:
    """The pointwise log-likelihood ``X`` (chain, draw, obs).

    Raises
    ------
    ValueError
        If it was not stored (large data with ``log_likelihood="auto"``).

    Examples
    --------
    >>> from bayesgmm._datatree import get_log_likelihood  # doctest: +SKIP
    >>> get_log_likelihood(model.idata_).dims  # doctest: +SKIP
    ('chain', 'draw', 'obs')
    """
    if not has_log_likelihood(tree):
        raise ValueError(
            "The result has no pointwise log-likelihood (it is skipped for large data); "
            "refit with fit(..., log_likelihood=True) to store it."
        )
    return tree["log_likelihood"].to_dataset()["X"]


def get_feature_names(tree) -> list[str]:
    """Feature names (the ``feature`` coordinate) as a list of str.

    Examples
    --------
    >>> from bayesgmm._datatree import get_feature_names  # doctest: +SKIP
    >>> get_feature_names(model.idata_)  # doctest: +SKIP
    ['eruptions', 'waiting']
    """
    return [str(f) for f in get_observed(tree)["feature"].to_numpy()]


def get_obs(tree) -> np.ndarray:
    """Observation labels (the ``obs`` coordinate).

    Examples
    --------
    >>> from bayesgmm._datatree import get_obs  # doctest: +SKIP
    >>> get_obs(model.idata_)[:3]  # doctest: +SKIP
    array([0, 1, 2])
    """
    return get_observed(tree)["obs"].to_numpy()


def get_config(tree) -> dict:
    """Root attributes with the JSON ones parsed.

    Returns
    -------
    dict
        ``bayesgmm_version``, ``covariance_type``, ``n_components`` (int),
        ``method``, ``model_config``/``sampler_config``/``estimator_params``
        (dicts), ``relabelled`` (bool), ``created_at``.

    Examples
    --------
    >>> from bayesgmm._datatree import get_config  # doctest: +SKIP
    >>> get_config(model.idata_)["method"]  # doctest: +SKIP
    'nuts'
    """
    _check_tree(tree)
    attrs = dict(tree.attrs)
    missing = {"bayesgmm_version", "covariance_type", "n_components", "method"} - set(attrs)
    if missing:
        raise ValueError(
            f"The tree lacks the bayesgmm root attributes {sorted(missing)}; it was not made "
            "by bayesgmm.BayesianGMM (or its attributes were removed)."
        )
    out = {}
    for key, value in attrs.items():
        if isinstance(value, np.generic):
            value = value.item()
        if key in ("model_config", "sampler_config", "estimator_params"):
            value = json.loads(value) if isinstance(value, str) and value else {}
        out[key] = value
    out["n_components"] = int(out["n_components"])
    out["relabelled"] = bool(out.get("relabelled", 0))
    return out


def restore_em(tree, feature_names_in=None):
    """Rebuild the fitted :class:`bayesgmm.GaussianMixture` from the ``em`` group.

    The constructor parameters come from the group's ``params`` attribute; the
    fitted parameters are converted back from full matrices to the layout of the
    covariance type (exactly: the full matrices were expanded from it), and the
    precision factors are recomputed from the covariances.

    Parameters
    ----------
    tree : xarray.DataTree
    feature_names_in : array-like of str, optional
        Set as ``feature_names_in_`` (when the fit saw column names).

    Returns
    -------
    GaussianMixture

    Examples
    --------
    >>> from bayesgmm._datatree import restore_em  # doctest: +SKIP
    >>> em = restore_em(model.idata_)  # doctest: +SKIP
    >>> em.predict(X)  # doctest: +SKIP
    """
    from bayesgmm.covariance import get_covariance_type
    from bayesgmm.em import GaussianMixture

    ds = get_em(tree)
    attrs = dict(ds.attrs)
    params = json.loads(attrs.get("params") or "{}")
    for key in ("weights_init", "means_init", "precisions_init"):
        if params.get(key) is not None:
            params[key] = np.asarray(params[key], dtype=np.float64)
    if isinstance(params.get("random_state"), str):  # a generator was stored as its repr
        params["random_state"] = None
    ct = str(attrs.get("covariance_type", params.get("covariance_type", "full")))
    params["covariance_type"] = ct
    em = GaussianMixture(**params)
    full = ds["covariances"].transpose("component", "feature", "feature_bis").to_numpy()
    K, D = full.shape[:2]
    if ct == "full":
        cov = full.copy()
    elif ct == "tied":
        cov = full[0].copy()
    elif ct == "diag":
        cov = np.diagonal(full, axis1=-2, axis2=-1).copy()
    else:
        cov = full[:, 0, 0].copy()
    em.weights_ = ds["weights"].transpose("component").to_numpy().copy()
    em.means_ = ds["means"].transpose("component", "feature").to_numpy().copy()
    em.covariances_ = cov
    em.precisions_cholesky_ = get_covariance_type(ct).precision_cholesky(cov)
    em.precisions_ = get_covariance_type(ct).precisions_from_cholesky(em.precisions_cholesky_)
    em.converged_ = bool(attrs.get("converged", 0))
    em.n_iter_ = int(attrs.get("n_iter", -1))
    em.lower_bound_ = float(attrs.get("log_likelihood", np.nan))
    lbs = attrs.get("lower_bounds")
    em.lower_bounds_ = [] if lbs is None else [float(v) for v in np.atleast_1d(lbs)]
    em.n_features_in_ = int(D)
    if feature_names_in is not None:
        em.feature_names_in_ = np.asarray(list(feature_names_in), dtype=object)
    return em


# --------------------------------------------------------------------------- storage
def _check_path(path, name="path"):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{name} must be a file path (str or pathlib.Path), got {type(path).__name__}."
        )
    return os.fspath(path)


def save(tree, path) -> None:
    """Write a result tree to a netCDF-4 file (h5netcdf engine).

    Every array round-trips exactly through :func:`load`.  Object-dtype
    variables are written as unicode strings (``None`` -> ``""``) with a
    warning; trees built by :func:`build_tree` have none.

    Parameters
    ----------
    tree : xarray.DataTree
    path : str or os.PathLike
        Destination file (overwritten); ``.nc`` is the usual suffix.

    Examples
    --------
    >>> import numpy as np, xarray as xr, tempfile, os
    >>> from bayesgmm._datatree import save, load
    >>> t = xr.DataTree.from_dict({"/observed_data": xr.Dataset({"X": (("obs", "feature"), np.ones((2, 1)))})})
    >>> t.attrs = {"bayesgmm_version": "0", "covariance_type": "full", "n_components": 1, "method": "nuts"}
    >>> p = os.path.join(tempfile.mkdtemp(), "fit.nc")
    >>> save(t, p)
    >>> xr.testing.assert_identical(load(p), t)
    """
    _check_tree(tree)
    path = _check_path(path)
    converted = []
    out = tree.copy()
    for node in out.subtree:
        ds, changed = _sanitize_dataset(node.to_dataset(inherit=False))
        if changed:
            converted.extend(f"{node.path}:{c}" for c in changed)
            node.dataset = ds
        node.attrs = _safe_attrs(dict(node.attrs))
    if converted:
        warnings.warn(
            f"Object-dtype variables {converted} were written as strings (None -> ''); "
            "they load back as strings, not the original objects.",
            UserWarning,
            stacklevel=2,
        )
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(
            f"Cannot save to {path!r}: the directory {directory!r} does not exist; "
            "create it first or choose another path."
        )
    out.to_netcdf(path, engine=_ENGINE, mode="w")


def load(path) -> xr.DataTree:
    """Read a result tree written by :func:`save` (fully into memory).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    xarray.DataTree

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a netCDF/HDF5 file or not a bayesgmm result.

    Examples
    --------
    >>> from bayesgmm._datatree import load  # doctest: +SKIP
    >>> tree = load("fit.nc")  # doctest: +SKIP
    """
    path = _check_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r} (pass the path given to save()).")
    try:
        tree = xr.load_datatree(path, engine=_ENGINE)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"Could not read {path!r} as a netCDF-4/HDF5 file ({type(exc).__name__}: {exc}); "
            "pass a file written by BayesianGMM.save()."
        ) from None
    if "bayesgmm_version" not in tree.attrs:
        raise ValueError(
            f"{path!r} is a netCDF file but not a bayesgmm result (no 'bayesgmm_version' "
            "attribute); pass a file written by BayesianGMM.save()."
        )
    return tree
