"""The result tree of a Bayesian Gaussian mixture fit: layout, assembly, access, storage.

This is the *only* module that knows the group layout of the
:class:`xarray.DataTree` that :class:`bayesgmm.BayesianGMM` keeps as ``idata_``
(see ``docs/developer/contracts.md``); everything else reads the tree through
the accessors below (:func:`get_posterior`, :func:`get_em`, :func:`get_observed`,
...), so the layout can change in one place.

It knows layout and storage only: callers compute what goes in (the estimator
computes the pointwise log-likelihood and passes it to :func:`build_tree`) and
rebuild what comes out (the EM estimator rebuilds itself from the plain data of
:func:`get_em_state`). It imports nothing from the layers above it (the EM
estimator, inference, posterior, selection, plots, command line).

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

from bayesgmm.covariance import get_covariance_type

__all__ = [
    "GROUPS",
    "POSTERIOR_VARS",
    "LOG_LIKELIHOOD_MAX_BYTES",
    "build_tree",
    "store_log_likelihood",
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
    "get_em_state",
    "get_feature_names",
    "get_obs",
    "has_log_likelihood",
    "save",
    "load",
    "tree_digest",
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
    if get_covariance_type(covariance_type).has_correlations:
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
            # the uniform noise component (GaussianMixture(noise=True)): weights sum to
            # 1 - noise_weight
            **({"noise_weight": float(em.noise_weight_),
                "noise_hypervolume": float(em.noise_hypervolume_),
                "noise_hypervolume_kind": str(em.noise_hypervolume_kind_),
                # where sample() puts noise: the box (offset, rotation, lower, upper), flat
                **({"noise_box": np.concatenate([np.ravel(b) for b in em._noise_fit.box])}
                   if getattr(em, "_noise_fit", None) is not None else {})}
               if getattr(em, "noise_hypervolume_", None) is not None else {}),
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


def store_log_likelihood(log_likelihood, n_chains: int, n_draws: int, n_obs: int) -> bool:
    """Whether to store the pointwise log-likelihood of a fit (the storage policy).

    Parameters
    ----------
    log_likelihood : bool or "auto"
        The user's choice; ``"auto"`` stores it unless the chain x draw x obs
        float64 array would exceed :data:`LOG_LIKELIHOOD_MAX_BYTES` (512 MiB),
        in which case a warning says how to get it anyway.
    n_chains, n_draws, n_obs : int
        Size of the array.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        If ``log_likelihood`` is not True, False or "auto".

    Examples
    --------
    >>> from bayesgmm._datatree import store_log_likelihood
    >>> store_log_likelihood("auto", 4, 1000, 272), store_log_likelihood(False, 1, 1, 1)
    (True, False)
    """
    if log_likelihood not in (True, False, "auto"):
        raise ValueError(
            f"log_likelihood must be True, False or 'auto'; got {log_likelihood!r}."
        )
    if log_likelihood != "auto":
        return bool(log_likelihood)
    nbytes = 8 * n_chains * n_draws * n_obs
    if nbytes <= LOG_LIKELIHOOD_MAX_BYTES:
        return True
    warnings.warn(
        f"The pointwise log-likelihood (chain x draw x obs = {n_chains} x {n_draws} x "
        f"{n_obs}, {nbytes / 2**20:.0f} MiB) was not stored because it exceeds "
        f"{LOG_LIKELIHOOD_MAX_BYTES / 2**20:.0f} MiB; LOO/WAIC need it. Pass "
        "log_likelihood=True to fit() to store it anyway, or thin the draws.",
        UserWarning,
        stacklevel=3,
    )
    return False


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
    log_likelihood=None,
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
    log_likelihood : array-like of shape (chain, draw, obs), optional
        The pointwise log-likelihood ``log p(x_n | theta)`` of the draws
        (needed for LOO/WAIC), computed by the caller (e.g. with
        :func:`bayesgmm.posterior.pointwise_log_likelihood`; ask
        :func:`store_log_likelihood` first whether to). ``None`` stores no
        ``log_likelihood`` group.
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
    >>> ll = em.score_samples(X)[None, None]  # one "draw": the EM fit itself
    >>> tree = build_tree(posterior=post, sample_stats=None, permutation=None, em=em, X=X,
    ...                   feature_names=["a", "b"], covariance_type="full", method="nuts",
    ...                   model_config={}, sampler_config={}, log_likelihood=ll)
    >>> sorted(tree.children)
    ['em', 'log_likelihood', 'observed_data', 'posterior', 'sample_stats']
    """
    X = np.asarray(X, dtype=np.float64)
    feature_names = [str(f) for f in feature_names]
    n_components = int(posterior.sizes["component"])
    observed = observed_dataarray(X, obs, feature_names)
    obs_coord = observed["obs"].to_numpy()

    post = posterior
    has_corr = get_covariance_type(covariance_type).has_correlations
    wanted = [v for v in POSTERIOR_VARS if v != "correlations" or has_corr]
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
    if "noise_weight" in posterior:  # the uniform noise component, V in its attrs
        post = post.assign(noise_weight=posterior["noise_weight"].transpose("chain", "draw"))
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

    if log_likelihood is not None:
        ll = np.asarray(log_likelihood, dtype=np.float64)
        if ll.shape != (chain.size, draw.size, X.shape[0]):
            raise ValueError(
                "log_likelihood must have shape (chain, draw, obs) = "
                f"{(chain.size, draw.size, X.shape[0])}; got {ll.shape}. Pass the pointwise "
                "log-likelihood of these draws at these observations, or None."
            )
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


def get_em_state(tree) -> dict:
    """The stored EM fit as plain data, to rebuild the estimator from.

    The inverse of :func:`em_dataset`: constructor parameters from the ``params``
    attribute (JSON lists back to arrays; a random generator, stored as its
    repr, becomes ``None``), the fitted parameters with the covariances converted
    back from full matrices to the layout of the covariance type (exactly: the
    full matrices were expanded from it), and the fit's results.

    Parameters
    ----------
    tree : xarray.DataTree

    Returns
    -------
    dict
        ``params`` (dict of constructor arguments, ``covariance_type``
        included), ``weights`` (K,), ``means`` (K, D), ``covariances``
        (scikit-learn's layout), ``converged`` (bool), ``n_iter`` (int),
        ``lower_bound`` (float) and ``lower_bounds`` (list of float): the
        keyword arguments of ``GaussianMixture._from_state``; with the noise
        component also ``noise`` (dict: ``weight``, ``hypervolume``,
        ``hypervolume_kind``, ``box``: the noise region, flat, or None).

    Examples
    --------
    >>> from bayesgmm._datatree import get_em_state  # doctest: +SKIP
    >>> get_em_state(model.idata_)["covariances"].shape  # doctest: +SKIP
    (2, 2, 2)
    """
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
    full = ds["covariances"].transpose("component", "feature", "feature_bis").to_numpy()
    lbs = attrs.get("lower_bounds")
    noise = {}
    if attrs.get("noise_hypervolume") is not None:  # a fit with the noise component
        noise = {"noise": {"weight": float(attrs["noise_weight"]),
                           "hypervolume": float(attrs["noise_hypervolume"]),
                           "hypervolume_kind": str(attrs.get("noise_hypervolume_kind", "given")),
                           "box": (None if attrs.get("noise_box") is None
                                   else np.asarray(attrs["noise_box"], dtype=np.float64))}}
    return {
        "params": params,
        "weights": ds["weights"].transpose("component").to_numpy().copy(),
        "means": ds["means"].transpose("component", "feature").to_numpy().copy(),
        "covariances": get_covariance_type(ct).from_full(full),
        "converged": bool(attrs.get("converged", 0)),
        "n_iter": int(attrs.get("n_iter", -1)),
        "lower_bound": float(attrs.get("log_likelihood", np.nan)),
        "lower_bounds": [] if lbs is None else [float(v) for v in np.atleast_1d(lbs)],
        **noise,
    }


# --------------------------------------------------------------------------- storage
#: Root attribute holding the digest of everything else in a saved file.
CHECKSUM_ATTR = "bayesgmm_checksum"

#: Bytes written per ``os.write`` call when saving (a Ctrl-C lands between calls).
_WRITE_CHUNK = 4 * 2**20


def _check_path(path, name="path"):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{name} must be a file path (str or pathlib.Path), got {type(path).__name__}."
        )
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise ValueError(f"{name} is an empty string; pass a file name such as 'fit.nc'.")
    return path


def _hash_value(h, value) -> None:
    """Feed one array or attribute value into ``h`` in a storage-independent form.

    The form does not depend on how netCDF stores the value: the width of a
    fixed-width string, the integer width, float32 vs float64, the payload of
    a NaN, or a length-1 array attribute read back as a scalar.
    """
    arr = np.asarray(value)
    kind = arr.dtype.kind
    flat = arr.ravel()
    h.update(f"{kind in 'USOT'}:{flat.size}:".encode())
    if kind in "USOT":
        items = ["" if v is None else str(v) for v in flat.tolist()]
        h.update(json.dumps(items).encode())
    elif kind == "M":
        h.update(flat.astype("<M8[ns]").view("<i8").tobytes())
    elif kind == "m":
        h.update(flat.astype("<m8[ns]").view("<i8").tobytes())
    elif kind in "biu":
        h.update(np.ascontiguousarray(flat, dtype="<u8" if kind == "u" else "<i8").data)
    elif kind in "fc":
        canon = np.ascontiguousarray(flat, dtype="<c16" if kind == "c" else "<f8")
        if kind == "f":
            nan = np.isnan(canon)
            if nan.any():  # one NaN bit pattern (storage may change the payload)
                canon = np.where(nan, np.nan, canon)
        h.update(canon.data)
    else:  # pragma: no cover - no other dtype is stored
        h.update(repr(flat.tolist()).encode())


def tree_digest(tree) -> str:
    """SHA-256 of every variable, coordinate and attribute of a result tree.

    The digest that :func:`save` stores as the root attribute
    ``bayesgmm_checksum`` and :func:`load` checks. It covers the groups'
    names, each variable's name, dims, shape, values and attributes, and every
    attribute (the checksum attribute itself excepted), in a form that does not
    depend on how netCDF stores them, so a tree and the tree read back from its
    file have the same digest.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from bayesgmm._datatree import tree_digest
    >>> t = xr.DataTree(xr.Dataset({"x": ("a", np.arange(3.0))}))
    >>> d = tree_digest(t)
    >>> d.startswith("sha256:"), tree_digest(t) == d
    (True, True)
    >>> t["x"] = ("a", np.array([0.0, 1.0, 2.5]))
    >>> tree_digest(t) == d
    False
    """
    import hashlib

    h = hashlib.sha256()
    for node in sorted(tree.subtree, key=lambda n: n.path):
        h.update(b"\0node\0" + node.path.encode())
        for key in sorted(map(str, node.attrs)):
            if node.path == "/" and key == CHECKSUM_ATTR:
                continue
            h.update(b"\0attr\0" + key.encode() + b"\0")
            _hash_value(h, node.attrs[key])
        ds = node.to_dataset(inherit=False)
        for name in sorted(map(str, ds.variables)):
            var = ds.variables[name]
            h.update(b"\0var\0" + name.encode() + b"\0" + repr((var.dims, var.shape)).encode())
            _hash_value(h, var.values)
            for key in sorted(map(str, var.attrs)):
                h.update(b"\0vattr\0" + key.encode() + b"\0")
                _hash_value(h, var.attrs[key])
    return "sha256:" + h.hexdigest()


def _write_atomically(data, path: str) -> None:
    """Write ``data`` (bytes-like) to ``path`` so that ``path`` is never partial.

    The bytes go to a new temporary file in the same directory, are flushed to
    disk (``fsync``), and the temporary file is then renamed over ``path``
    (``os.replace``, atomic on POSIX and Windows). Any error or interrupt
    before the rename removes the temporary file and leaves ``path`` as it was.
    """
    import tempfile

    target = os.path.realpath(path)  # replace a symlink's target, not the link
    directory = os.path.dirname(target)
    if os.path.exists(target):
        mode = os.stat(target).st_mode & 0o7777
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                               dir=directory)
    try:
        try:
            view = memoryview(data).cast("B")
            for start in range(0, len(view), _WRITE_CHUNK):
                chunk = view[start : start + _WRITE_CHUNK]
                while chunk:  # os.write may write less than asked
                    written = os.write(fd, chunk)
                    chunk = chunk[written:]
            if hasattr(os, "fchmod"):  # POSIX: the permissions a new file would get
                os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (POSIX; not possible on Windows)
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def save(tree, path) -> None:
    """Write a result tree to a netCDF-4 file (h5netcdf engine), atomically.

    Every array round-trips exactly through :func:`load`.  Object-dtype
    variables are written as unicode strings (``None`` -> ``""``) with a
    warning; trees built by :func:`build_tree` have none.

    The file is built in memory, written to a temporary file in the target's
    directory, flushed to disk and renamed over ``path``: an interrupt
    (Ctrl-C) or an I/O error (a full disk) at any point leaves a previous file
    at ``path`` unchanged and no partial file behind.  The root attribute
    ``bayesgmm_checksum`` stores the SHA-256 digest of every array and
    attribute (:func:`tree_digest`), checked by :func:`load`.

    Parameters
    ----------
    tree : xarray.DataTree
    path : str or os.PathLike
        Destination file (replaced); ``.nc`` is the usual suffix.

    Raises
    ------
    ValueError
        If ``path`` is empty or its directory does not exist.
    OSError
        If the file cannot be written (the message names the path and the
        cause, e.g. no space left on the device or permission denied); the
        previous file at ``path``, if any, is unchanged.

    Examples
    --------
    >>> from bayesgmm._datatree import save, load  # doctest: +SKIP
    >>> save(model.idata_, "fit.nc")  # doctest: +SKIP
    >>> xr.testing.assert_identical(load("fit.nc"), model.idata_)  # doctest: +SKIP
    """
    _check_tree(tree)
    path = _check_path(path)
    if os.path.isdir(path):
        raise ValueError(f"Cannot save to {path!r}: it is a directory; pass a file name.")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(
            f"Cannot save to {path!r}: the directory {directory!r} does not exist; "
            "create it first or choose another path."
        )
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
    out.attrs = {**out.attrs, CHECKSUM_ATTR: tree_digest(out)}
    # Serialised in memory: h5py never holds an open file on disk, so a failed
    # write cannot leave a half-written HDF5 file (nor crash when the failed
    # file object is collected, an h5py/h5netcdf problem on a full disk).
    data = out.to_netcdf(None, engine=_ENGINE)
    try:
        _write_atomically(data, path)
    except OSError as exc:
        cause = exc.strerror or str(exc)
        raise type(exc)(
            exc.errno,
            f"Could not save to {path!r}: {cause}; the previous file at that path (if any) "
            "is unchanged. Free disk space, fix the permissions or choose another path",
        ) from None


def _int_attr(value) -> int | None:
    try:
        f = float(np.asarray(value).item())
    except (TypeError, ValueError):
        return None
    return int(f) if f.is_integer() else None


def _consistency_problems(tree) -> list[str]:
    """What is inconsistent in a loaded result tree (empty when nothing is)."""
    problems = []
    attrs = dict(tree.attrs)
    for key in ("model_config", "sampler_config", "estimator_params"):
        value = attrs.get(key, "")
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.item()
        if not isinstance(value, str):
            problems.append(f"root attribute {key!r} is not a JSON string")
            continue
        if value:
            try:
                parsed = json.loads(value)
            except ValueError as exc:
                problems.append(f"root attribute {key!r} is not valid JSON ({exc})")
                continue
            if not isinstance(parsed, dict):
                problems.append(f"root attribute {key!r} is not a JSON object")
    ct_name = attrs.get("covariance_type")
    try:
        ct = get_covariance_type(str(ct_name))
    except ValueError:
        problems.append(f"unknown covariance_type {ct_name!r}")
        ct = None
    K = _int_attr(attrs.get("n_components"))
    if K is None or K < 1:
        problems.append(f"n_components {attrs.get('n_components')!r} is not a positive integer")
        K = None
    for group in ("posterior", "observed_data", "em"):
        if group not in tree.children:
            problems.append(f"the {group!r} group is missing")
    if problems:
        return problems

    def sizes_of(group, var, dims):
        ds = tree[group].to_dataset()
        if var not in ds:
            problems.append(f"variable {var!r} is missing from the {group!r} group")
            return None
        if set(ds[var].dims) != set(dims):
            problems.append(
                f"{group}/{var} has dims {tuple(ds[var].dims)}, expected {tuple(dims)}"
            )
            return None
        return dict(ds[var].sizes), ds[var]

    obs = sizes_of("observed_data", "X", ("obs", "feature"))
    D = obs[0]["feature"] if obs else None
    N = obs[0]["obs"] if obs else None
    features = None if not obs else [str(f) for f in obs[1]["feature"].to_numpy()]
    draws = {}
    for group, lead in (("posterior", ("chain", "draw")), ("em", ())):
        for var, dims in (("weights", ("component",)), ("means", ("component", "feature")),
                          ("covariances", ("component", "feature", "feature_bis"))):
            got = sizes_of(group, var, lead + dims)
            if got is None:
                continue
            sizes, arr = got
            if K is not None and sizes["component"] != K:
                problems.append(
                    f"{group}/{var} has {sizes['component']} components but n_components is {K}"
                )
            for dim in ("feature", "feature_bis"):
                if dim in sizes and D is not None and sizes[dim] != D:
                    problems.append(
                        f"{group}/{var} has {sizes[dim]} features but the observed data has {D}"
                    )
            if "feature" in sizes and features is not None and sizes["feature"] == D:
                names = [str(f) for f in arr["feature"].to_numpy()]
                if names != features:
                    problems.append(f"{group}/{var} names other features than the observed data")
            if lead:
                draws = {d: sizes[d] for d in lead}
            if not np.isfinite(arr.to_numpy()).all():
                problems.append(f"{group}/{var} contains NaN or inf")
    post = tree["posterior"].to_dataset()
    if "noise_weight" in post:  # the uniform noise component
        nw = post["noise_weight"]
        v = nw.attrs.get("noise_hypervolume")
        if set(nw.dims) != {"chain", "draw"}:
            problems.append(f"posterior/noise_weight has dims {tuple(nw.dims)}, expected ('chain', 'draw')")
        elif not np.all((nw.to_numpy() >= 0) & (nw.to_numpy() <= 1)):
            problems.append("posterior/noise_weight is not in [0, 1] (or contains NaN)")
        if not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v) or not v > 0:
            problems.append(
                f"posterior/noise_weight's attribute noise_hypervolume {v!r} is not a positive number"
            )
    em_attrs = dict(tree["em"].attrs)
    if ct is not None and str(em_attrs.get("covariance_type", ct.name)) != ct.name:
        problems.append(
            f"the em group's covariance_type {em_attrs.get('covariance_type')!r} differs from "
            f"the root's {ct.name!r}"
        )
    try:
        em_params = json.loads(em_attrs.get("params") or "{}")
        if not isinstance(em_params, dict):
            raise ValueError("not a JSON object")
    except (TypeError, ValueError) as exc:
        problems.append(f"the em group's 'params' attribute is not valid JSON ({exc})")
        em_params = {}
    try:
        est = json.loads(attrs.get("estimator_params") or "{}")
    except (TypeError, ValueError):
        est = {}
    for where, params in (("em params", em_params), ("estimator_params", est)):
        if not isinstance(params, dict):
            continue
        if "n_components" in params and K is not None and _int_attr(params["n_components"]) != K:
            problems.append(
                f"{where} say n_components={params['n_components']!r} but the file has {K}"
            )
        pct = params.get("covariance_type")
        if pct is not None and ct is not None and str(pct) != ct.name:
            problems.append(f"{where} say covariance_type={pct!r} but the file has {ct.name!r}")
    if ct is not None and "em" in tree.children and not problems:
        full = tree["em"].to_dataset()["covariances"]
        try:
            full = full.transpose("component", "feature", "feature_bis").to_numpy()
            back = ct.to_full(ct.from_full(full), full.shape[0], n_features=full.shape[1])
            # relative to each matrix's scale: types stored through a decomposition
            # round-trip to rounding error, another type's matrices do not
            scale = np.abs(full).max(axis=(-2, -1), keepdims=True)
            if not np.all(np.abs(back - full) <= 1e-9 * scale):
                problems.append(
                    f"the em covariances are not of the file's covariance_type {ct.name!r}"
                )
        except (ValueError, TypeError, IndexError) as exc:
            problems.append(f"the em covariances do not fit covariance_type {ct.name!r} ({exc})")
    if "log_likelihood" in tree.children:
        got = sizes_of("log_likelihood", "X", ("chain", "draw", "obs"))
        if got is not None:
            sizes, arr = got
            if N is not None and sizes["obs"] != N:
                problems.append(
                    f"log_likelihood/X has {sizes['obs']} observations but the observed data has {N}"
                )
            if draws and any(sizes[d] != draws[d] for d in draws):
                problems.append("log_likelihood/X has other chains or draws than the posterior")
            if np.isnan(arr.to_numpy()).any():
                problems.append("log_likelihood/X contains NaN")
    if "sample_stats" in tree.children:
        ss = tree["sample_stats"].to_dataset()
        if "relabel_permutation" in ss:
            perm = ss["relabel_permutation"]
            if K is not None and perm.sizes.get("component") != K:
                problems.append("sample_stats/relabel_permutation does not have n_components columns")
    return problems


def load(path) -> xr.DataTree:
    """Read a result tree written by :func:`save` (fully into memory), checking it.

    The file's digest (root attribute ``bayesgmm_checksum``) is recomputed and
    compared, and the attributes are checked against the arrays (covariance
    type, number of components, number and names of features, the ``em``
    group, the JSON attributes), so a damaged or edited file is an error,
    never a wrong model.  The checksum attribute is removed from the returned
    tree (it describes the file, not the fit).

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
        If the file is not a netCDF/HDF5 file, not a bayesgmm result, fails its
        checksum or is inconsistent (the message names the file and the
        problem).

    Warns
    -----
    bayesgmm.exceptions.UnverifiedFileWarning
        If the file has no checksum (written before bayesgmm stored one): it is
        loaded after the consistency checks.

    Examples
    --------
    >>> from bayesgmm._datatree import load  # doctest: +SKIP
    >>> tree = load("fit.nc")  # doctest: +SKIP
    """
    from bayesgmm.exceptions import UnverifiedFileWarning

    path = _check_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r} (pass the path given to save()).")
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a directory; pass the file written by save().")
    try:
        tree = xr.load_datatree(path, engine=_ENGINE)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # h5py/h5netcdf raise many types on a damaged file
        raise ValueError(
            f"Could not read {path!r} as a netCDF-4/HDF5 file ({type(exc).__name__}: {exc}); "
            "the file is damaged or is not a file written by BayesianGMM.save()."
        ) from None
    if "bayesgmm_version" not in tree.attrs:
        raise ValueError(
            f"{path!r} is a netCDF file but not a bayesgmm result (no 'bayesgmm_version' "
            "attribute); pass a file written by BayesianGMM.save()."
        )
    stored = tree.attrs.get(CHECKSUM_ATTR)
    if stored is None:
        warnings.warn(
            f"{path!r} has no checksum (it was written by an older bayesgmm, or the "
            f"{CHECKSUM_ATTR!r} attribute was removed), so damage to its values cannot be "
            "detected; its layout was checked. Save the model again to add a checksum.",
            UnverifiedFileWarning,
            stacklevel=2,
        )
    else:
        try:
            actual = tree_digest(tree)
        except Exception as exc:  # pragma: no cover - values that cannot be hashed
            actual = f"(not computable: {type(exc).__name__}: {exc})"
        if str(stored) != actual:
            raise ValueError(
                f"{path!r} is damaged: its checksum does not match its contents (stored "
                f"{str(stored)[:20]}..., computed {actual[:20]}...): arrays or attributes were "
                "changed after it was saved. Restore it from a copy or refit the model."
            )
        del tree.attrs[CHECKSUM_ATTR]
    try:
        problems = _consistency_problems(tree)
    except Exception as exc:  # anything unexpected in a damaged tree is damage too
        problems = [f"{type(exc).__name__}: {exc}"]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ValueError(
            f"{path!r} is not a consistent bayesgmm result: {shown}. The file was damaged or "
            "edited; restore it from a copy or refit the model."
        )
    return tree
