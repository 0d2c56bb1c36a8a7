"""The one place that validates input data and names it (layer 0).

Every entry point that takes data (the EM estimator, the Bayesian model, the
PyMC model and the fast density, the inference layer, component selection, the
posterior functions and the plots) reads it through this module, so they all
agree on orientation, dtype, feature names and ``obs`` coordinates:

* numpy arrays and array-likes: rows are observations, columns features.
* pandas DataFrames: the same; string column names are the feature names and a
  unique index is the ``obs`` coordinate.
* xarray DataArrays (the orientation rule, :func:`orient`): dims ``obs`` and
  ``feature`` are read *by name*, in either order (transposed to
  ``(obs, feature)``; feature names from the ``feature`` coordinate, ``obs``
  from the ``obs`` one); a 2-D DataArray with two other dim names is read
  positionally (rows = observations), its second dim's coordinate giving the
  feature names; a DataArray naming only one of ``obs``/``feature`` is
  ambiguous and raises a ``ValueError`` saying how to fix it.
* dask arrays (also inside a DataArray) stay lazy where the caller allows it.

:func:`check_array` returns a float64 2-D array (the input itself when it
already is one; a copy whenever a conversion is needed, so the caller's data are
never modified) and the feature names; :func:`prepare_data` adds the ``obs``
coordinate and default names for the Bayesian side. Errors say what was
expected, what was received and what to do. Importing this module imports
nothing else from bayesgmm.
"""

from __future__ import annotations

import numbers
import sys
from typing import Any

import numpy as np

__all__ = [
    "check_array",
    "check_feature_names",
    "check_n_features",
    "check_random_state",
    "check_sample_weight",
    "relative_sample_weight",
    "feature_labels",
    "is_dask_array",
    "obs_coords",
    "orient",
    "prepare_data",
]


def is_dask_array(X: Any) -> bool:
    """True for a ``dask.array.Array`` (without importing dask).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._data import is_dask_array
    >>> is_dask_array(np.zeros(3))
    False
    """
    if "dask.array" not in sys.modules:
        return False
    import dask.array as da

    return isinstance(X, da.Array)


def _is_pandas_df(X) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(X, pd.DataFrame)


def _is_pandas_series(X) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(X, pd.Series)


def _is_xarray(X) -> bool:
    xr = sys.modules.get("xarray")
    return xr is not None and isinstance(X, xr.DataArray)


def orient(X, name: str = "X"):
    """Apply the orientation rule to a DataArray; return any other input unchanged.

    A 2-D DataArray with dims ``obs`` and ``feature`` (in either order) is
    transposed to ``(obs, feature)`` by name. A 2-D DataArray with two other
    dim names is returned as it is (read positionally: rows are observations).
    A 2-D DataArray with exactly one of the two names is ambiguous and raises.
    Other numbers of dims are left to the shape check of :func:`check_array`.

    Parameters
    ----------
    X : object
        Input data of any kind.
    name : str, default="X"
        Argument name used in error messages.

    Returns
    -------
    object
        ``X`` itself, or the transposed DataArray.

    Raises
    ------
    ValueError
        For a 2-D DataArray naming ``obs`` or ``feature`` but not both.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from bayesgmm._data import orient
    >>> da = xr.DataArray(np.zeros((2, 5)), dims=("feature", "obs"))
    >>> orient(da).dims
    ('obs', 'feature')
    >>> orient(xr.DataArray(np.zeros((5, 2)), dims=("row", "col"))).dims
    ('row', 'col')
    """
    if not _is_xarray(X) or X.ndim != 2:
        return X
    dims = tuple(X.dims)
    has_obs, has_feature = "obs" in dims, "feature" in dims
    if has_obs and has_feature:
        return X.transpose("obs", "feature")
    if not (has_obs or has_feature):
        return X
    named, missing = ("obs", "feature") if has_obs else ("feature", "obs")
    other = dims[1] if dims[0] == named else dims[0]
    rows, cols = (named, other) if has_obs else (other, named)
    raise ValueError(
        f"{name} is an xarray.DataArray with dims {dims}: it names {named!r} but not "
        f"{missing!r}, so which axis holds the observations is ambiguous. Expected dims "
        "('obs', 'feature') in either order (read by name), or two other dim names "
        f"(read as rows = observations). Rename the other dim, e.g. "
        f"`{name}.rename({{{other!r}: {missing!r}}})`, or pass the values with the "
        f"observations as rows, e.g. `{name}.transpose({rows!r}, {cols!r}).values`."
    )


def _names_from_columns(columns, name: str):
    """Feature names if all are strings, else None (scikit-learn's rule)."""
    cols = list(columns)
    types = {type(c).__name__ for c in cols}
    n_str = sum(isinstance(c, str) for c in cols)
    if n_str == len(cols) and cols:
        return np.asarray(cols, dtype=object)
    if 0 < n_str < len(cols):
        raise TypeError(
            f"`{name}` has column names of mixed types {sorted(types)}; feature "
            "names must all be strings. Convert them with "
            "`df.columns = df.columns.astype(str)`."
        )
    return None


def _shape_hint(arr_ndim: int, name: str) -> str:
    head = f"{name} must be 2-D: expected a 2D array of shape (n_samples, n_features), got "
    if arr_ndim == 1:
        return (
            head + "a 1D array instead. Reshape your data either using array.reshape(-1, 1) "
            "if it has a single feature or array.reshape(1, -1) if it contains a single "
            "sample."
        )
    if arr_ndim == 0:
        return head + "a scalar. Reshape your data using np.atleast_2d(x)."
    return (
        head + f"a {arr_ndim}D array. Reshape your data to 2D first (e.g. "
        "array.reshape(n_samples, -1))."
    )


#: The hint appended to the NaN error of the estimators that can use incomplete rows.
MISSING_HINT = (
    ' Or pass missing="marginalize" to use the incomplete rows (missing at random: the '
    "missing coordinates are integrated out)."
)


def _check_finite(arr: np.ndarray, feature_names, name: str, *, allow_nan: bool = False,
                  nan_hint: str = "") -> None:
    """Raise on non-finite values, naming their counts, columns and first rows.

    ``allow_nan``: NaN (a missing value) passes, ``inf`` still raises;
    ``nan_hint`` is appended to the message when there are NaN values.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(arr.sum()):  # fast path without an n x d temporary
            return
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if not bad.any():
        return
    n_nan = 0 if allow_nan else int(np.isnan(arr).sum())
    n_inf = int(bad.sum()) - n_nan
    cols = np.nonzero(bad.any(axis=0))[0]
    labels = [
        repr(str(feature_names[c])) if feature_names is not None else str(int(c))
        for c in cols[:10]
    ]
    where = "column" + ("s " if len(cols) > 1 else " ") + ", ".join(labels)
    if len(cols) > 10:
        where += f" (and {len(cols) - 10} more)"
    parts = []
    if n_nan:
        parts.append(f"{n_nan} NaN value{'s' if n_nan != 1 else ''}")
    if n_inf:
        parts.append(f"{n_inf} infinite (inf) value{'s' if n_inf != 1 else ''}")
    bad_rows = np.flatnonzero(bad.any(axis=1))
    rows = bad_rows[:5].tolist()
    rows_txt = f"first rows: {rows}" + (
        f"; {bad_rows.size} rows in all" if bad_rows.size > 5 else "")
    if allow_nan:
        raise ValueError(
            f"{name} contains {' and '.join(parts)} in {where} ({rows_txt}). "
            "Missing values must be NaN; an infinite value is not a measurement: replace "
            "it by NaN or drop the affected rows."
        )
    raise ValueError(
        f"{name} contains {' and '.join(parts)} in {where}; {n_nan + n_inf} NaN or infinite "
        f"values ({rows_txt}). Gaussian mixtures need finite values: drop or impute "
        "the affected rows (e.g. `df.dropna()` or sklearn.impute.SimpleImputer) first."
        + (nan_hint if n_nan else "")
    )


def _to_float_numpy(X, name: str, feature_names) -> np.ndarray:
    """Convert to a float64 ndarray with readable errors."""
    if _is_pandas_df(X):
        import pandas as pd

        dup = X.columns[X.columns.duplicated()].unique().tolist()
        if dup:
            raise ValueError(
                f"`{name}` has duplicate column names {[str(c) for c in dup]}; feature "
                "names must be unique. Rename or drop the repeated columns (e.g. "
                "`df.loc[:, ~df.columns.duplicated()]`)."
            )
        bad_cols = [
            c
            for c in X.columns
            if not (
                pd.api.types.is_numeric_dtype(X[c].dtype)
                or pd.api.types.is_bool_dtype(X[c].dtype)
            )
            or pd.api.types.is_complex_dtype(X[c].dtype)
        ]
        complex_cols = [c for c in X.columns if pd.api.types.is_complex_dtype(X[c].dtype)]
        if complex_cols:
            raise ValueError(
                f"Complex data not supported: `{name}` has complex column(s) "
                f"{[str(c) for c in complex_cols]}; pass real values (e.g. split "
                "real and imaginary parts into separate columns)."
            )
        if bad_cols:
            dtypes = {str(c): str(X[c].dtype) for c in bad_cols}
            raise TypeError(
                f"`{name}` has non-numeric column(s) {dtypes}; a Gaussian mixture "
                "needs numeric features. Drop those columns or encode them as "
                "numbers (e.g. pd.get_dummies or .astype(float))."
            )
        try:
            return X.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"`{name}` could not be converted to float64 ({exc}); pass numeric "
                "columns only."
            ) from None
    try:
        arr = np.asarray(X)
    except ValueError:
        raise ValueError(
            f"`{name}` could not be made into a 2D array: its rows have different "
            "lengths (a ragged list). Every row must have one value per feature; "
            "pad or drop the short rows."
        ) from None
    if arr.dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: `{name}` has dtype {arr.dtype}; pass real "
            "values (e.g. split real and imaginary parts into separate features)."
        )
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind == "O":
        try:
            return arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            # keep numpy's wording ("float() argument must be a string or a real
            # number") so that callers matching on it still work
            raise TypeError(
                f"`{name}` contains values that are not numbers: {exc}. "
                "A Gaussian mixture needs numeric features: drop or encode the "
                "non-numeric entries."
            ) from None
    if arr.dtype.kind in "USM" or arr.dtype.kind == "m":
        raise TypeError(
            f"{name} must contain numbers; got dtype {arr.dtype} (not numeric): argument "
            "must be a string or a number convertible to float. Encode the features as "
            "numbers first."
        )
    raise TypeError(
        f"`{name}` has unsupported dtype {arr.dtype}; pass a numeric array."
    )


def check_array(
    X,
    *,
    name: str = "X",
    min_samples: int = 1,
    min_features: int = 1,
    allow_dask: bool = True,
    check_finite: bool = True,
    allow_nan: bool = False,
    nan_hint: str = "",
):
    """Validate data and return a float64 2-D array and its feature names.

    Parameters
    ----------
    X : array-like, pandas.DataFrame, xarray.DataArray or dask.array.Array
        Data of shape (n_samples, n_features); a DataArray is oriented by
        :func:`orient` (dims ``obs`` and ``feature`` read by name, other dim
        names positionally).
    name : str, default="X"
        Argument name used in error messages.
    min_samples : int, default=1
        Minimum number of rows.
    min_features : int, default=1
        Minimum number of columns.
    allow_dask : bool, default=True
        Keep a dask array lazy (cast to float64) instead of raising.
    check_finite : bool, default=True
        Raise on NaN/inf (for dask this computes one pass over the data).
    allow_nan : bool, default=False
        Let NaN (missing values) through; ``inf`` still raises. Only for
        in-memory data: a dask array with NaN still raises.
    nan_hint : str, default=""
        Appended to the error about NaN values (e.g. :data:`MISSING_HINT`,
        for the estimators that can use incomplete rows).

    Returns
    -------
    X : ndarray or dask.array.Array of float64, shape (n_samples, n_features)
        The input itself when it already is a C-contiguous float64 array (it
        is never written to), otherwise a converted copy. Always in C order
        (rows contiguous): a Fortran-ordered array (what ``pandas.read_csv``
        and ``DataFrame.to_numpy`` return), a strided view or a DataArray
        stored ``(feature, obs)`` is copied, so that every sum over the data
        runs in the same order and results never depend on the memory
        layout of the input.
    feature_names : ndarray of str (object dtype) or None
        DataFrame column names, or the string coordinate values of the
        feature dimension of a DataArray (its second dim after
        :func:`orient`); None otherwise.

    Raises
    ------
    ValueError
        Wrong number of dimensions, too few samples or features, NaN/inf
        (with counts, the affected columns and the first affected rows),
        complex data, an ambiguous DataArray (see :func:`orient`).
    TypeError
        Non-numeric columns (named), or values that are not numbers.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesgmm._data import check_array
    >>> arr, names = check_array(pd.DataFrame({"a": [1, 2], "b": [3.0, 4.0]}))
    >>> arr.dtype, names.tolist()
    (dtype('float64'), ['a', 'b'])
    """
    feature_names = None
    if _is_pandas_series(X):
        raise ValueError(_shape_hint(1, name))
    if _is_pandas_df(X):
        feature_names = _names_from_columns(X.columns, name)
    elif _is_xarray(X):
        X = orient(X, name)
        if X.ndim == 2 and X.dims[1] in X.coords:
            vals = X.coords[X.dims[1]].values
            if vals.dtype.kind in "UO" and all(isinstance(v, str) for v in vals):
                feature_names = np.asarray(vals, dtype=object)
        # dask stays lazy; numpy values in C order with rows = observations, as a
        # numpy array would be (a copy only when, e.g., it was stored (feature, obs))
        if is_dask_array(X.data):
            X = X.data
        else:
            X = np.ascontiguousarray(X.values) if X.ndim == 2 else X.values

    if is_dask_array(X):
        if not allow_dask:
            raise TypeError(
                f"`{name}` is a dask array, which this function does not accept; "
                f"call `{name}.compute()` first."
            )
        return _check_dask(X, name, min_samples, min_features, check_finite, allow_nan), feature_names

    if hasattr(X, "__sklearn_is_fitted__") or hasattr(X, "fit"):
        raise TypeError(
            f"`{name}` must be array-like data, got an estimator "
            f"{type(X).__name__}; pass the data array instead."
        )
    if sys.modules.get("scipy.sparse") is not None:
        import scipy.sparse as sp

        if sp.issparse(X):
            raise TypeError(
                f"`{name}` is a sparse matrix; Gaussian mixtures need dense data. "
                f"Pass `{name}.toarray()` (if it fits in memory)."
            )

    arr = _to_float_numpy(X, name, feature_names)
    if arr.ndim != 2:
        raise ValueError(_shape_hint(arr.ndim, name))
    # one memory layout before anything depends on it: numpy's pairwise sums (and
    # BLAS) round differently on C- and Fortran-ordered data, and a chain that sees
    # other roundings is another chain (issue 14)
    arr = np.ascontiguousarray(arr)
    n, d = arr.shape
    if d < min_features:
        raise ValueError(
            f"Found array with {d} feature(s) (shape={arr.shape}) while a minimum of "
            f"{min_features} is required: `{name}` needs at least {min_features} "
            "column(s)."
        )
    if n < min_samples:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={arr.shape}) while a minimum of "
            f"{min_samples} is required: `{name}` needs at least {min_samples} row(s)."
        )
    if check_finite:
        _check_finite(arr, feature_names, name, allow_nan=allow_nan, nan_hint=nan_hint)
    return arr, feature_names


def _check_dask(X, name, min_samples, min_features, check_finite, allow_nan=False):
    import dask.array as da

    if X.ndim != 2:
        raise ValueError(_shape_hint(X.ndim, name))
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: `{name}` has dtype {X.dtype}.")
    if X.dtype.kind not in "fiub":
        raise TypeError(
            f"`{name}` (dask array) has dtype {X.dtype}; pass a numeric dask array."
        )
    n, d = X.shape
    if d is None or n is None or (isinstance(n, float) and np.isnan(n)):
        raise ValueError(
            f"`{name}` is a dask array with unknown chunk sizes; call "
            f"`{name}.compute_chunk_sizes()` first."
        )
    if d < min_features:
        raise ValueError(
            f"Found array with {d} feature(s) (shape={X.shape}) while a minimum of "
            f"{min_features} is required."
        )
    if n < min_samples:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={X.shape}) while a minimum of "
            f"{min_samples} is required: `{name}` needs at least {min_samples} row(s)."
        )
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    X = X.astype(np.float64)
    if check_finite:
        n_nan, n_bad = da.compute(da.isnan(X).sum(axis=0), (~da.isfinite(X)).sum(axis=0))
        if n_bad.sum():
            cols = np.nonzero(n_bad)[0]
            nn, ni = int(n_nan.sum()), int(n_bad.sum() - n_nan.sum())
            parts = ([f"{nn} NaN value(s)"] if nn else []) + (
                [f"{ni} infinite (inf) value(s)"] if ni else []
            )
            hint = (
                " (missing values are used only in in-memory data: call "
                f"`{name}.compute()` first)" if nn and allow_nan else ""
            )
            raise ValueError(
                f"`{name}` contains {' and '.join(parts)} in column(s) "
                f"{cols[:10].tolist()}; drop or impute them before fitting{hint}."
            )
    return X


def obs_coords(X, n_obs: int):
    """The ``obs`` coordinate of the data: its unique labels, else ``0..n_obs-1``.

    A DataFrame's index, or the coordinate of a DataArray's observation dim
    (its first dim after :func:`orient`), when it exists and is unique.

    Parameters
    ----------
    X : array-like, pandas.DataFrame or xarray.DataArray
        The data as the caller passed them.
    n_obs : int
        Number of observations (rows of the validated array).

    Returns
    -------
    pandas.Index or ndarray of shape (n_obs,)

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayesgmm._data import obs_coords
    >>> obs_coords(pd.DataFrame({"a": [1.0, 2.0]}, index=["u", "v"]), 2).tolist()
    ['u', 'v']
    >>> obs_coords(np.zeros((3, 2)), 3)
    array([0, 1, 2])
    """
    if _is_pandas_df(X):
        if X.index.is_unique:
            return X.index
    elif _is_xarray(X):
        X = orient(X)
        if X.ndim == 2 and X.dims[0] in X.coords:
            import pandas as pd

            values = X.coords[X.dims[0]].to_numpy()
            if pd.Index(values).is_unique:
                return values
    return np.arange(n_obs)


def feature_labels(feature_names, n_features: int) -> list[str]:
    """Feature names as a list of str, or scikit-learn's defaults ``x0, x1, ...``.

    Examples
    --------
    >>> from bayesgmm._data import feature_labels
    >>> feature_labels(None, 2), feature_labels(["a"], 1)
    (['x0', 'x1'], ['a'])
    """
    if feature_names is None:
        return [f"x{i}" for i in range(n_features)]
    return [str(f) for f in feature_names]


def tied_values(arr: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Ties in checked data: per feature, how many observations share their value with
    another observation; how many rows repeat an earlier row exactly; and per feature
    the smallest gap between two distinct values (NaN with fewer than two), the finest
    rounding step the values are consistent with.

    Rounded or discretised measurements (minutes, millimetres, counts) tie; continuous
    ones almost never do. NaN values are not counted.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._data import tied_values
    >>> per_feature, duplicate_rows, step = tied_values(np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 3.0], [2.0, 4.5]]))
    >>> per_feature.tolist(), duplicate_rows, step.tolist()
    ([3, 2], 1, [1.0, 1.0])
    """
    arr = np.asarray(arr, dtype=np.float64)
    per_feature = np.zeros(arr.shape[1], dtype=np.int64)
    step = np.full(arr.shape[1], np.nan)
    for j in range(arr.shape[1]):
        col = arr[:, j]
        values, counts = np.unique(col[~np.isnan(col)], return_counts=True)
        per_feature[j] = int(counts[counts > 1].sum())
        if values.size > 1:
            step[j] = float(np.diff(values).min())
    ok = ~np.isnan(arr).any(axis=1)
    duplicate_rows = int(ok.sum() - np.unique(arr[ok], axis=0).shape[0]) if ok.any() else 0
    return per_feature, duplicate_rows, step


def prepare_data(X, *, name: str = "X", min_samples: int = 2, allow_nan: bool = False):
    """Validate ``X`` and return ``(array, obs_coords, feature_names)``.

    The Bayesian side's view of the data: :func:`check_array` (with the
    orientation rule) plus the contract's coordinates. Feature names are the
    DataFrame columns or DataArray feature coordinate, else ``x0, x1, ...``;
    ``obs`` is the unique DataFrame index or DataArray observation coordinate,
    else ``0..N-1``. The array is always a float64 copy (never the caller's
    data); dask arrays are refused (compute them first).

    Parameters
    ----------
    X : array-like, pandas.DataFrame or xarray.DataArray
        Data of shape (n_samples, n_features).
    name : str, default="X"
        Argument name used in error messages.
    min_samples : int, default=2
        Minimum number of rows.
    allow_nan : bool, default=False
        Let NaN (missing values) through (see :func:`check_array`).

    Returns
    -------
    X : ndarray of float64, shape (n_samples, n_features)
    obs : ndarray of shape (n_samples,)
    feature_names : list of str

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from bayesgmm._data import prepare_data
    >>> da = xr.DataArray(np.arange(6.0).reshape(2, 3), dims=("feature", "obs"),
    ...                   coords={"feature": ["a", "b"], "obs": [10, 20, 30]})
    >>> arr, obs, feats = prepare_data(da)
    >>> arr.shape, obs.tolist(), feats
    ((3, 2), [10, 20, 30], ['a', 'b'])
    """
    arr, names = check_array(X, name=name, min_samples=min_samples, allow_dask=False,
                             allow_nan=allow_nan, nan_hint="" if allow_nan else MISSING_HINT)
    arr = np.array(arr, dtype=np.float64, order="C", copy=True)  # never alias the caller's data
    return arr, np.asarray(obs_coords(X, arr.shape[0])), feature_labels(names, arr.shape[1])


def check_n_features(n_features_in: int, X_shape, name: str, estimator: str) -> None:
    """Raise if the number of features differs from the one seen in ``fit``.

    Examples
    --------
    >>> from bayesgmm._data import check_n_features
    >>> check_n_features(2, (5, 2), "X", "GaussianMixture")
    """
    d = X_shape[1]
    if d != n_features_in:
        raise ValueError(
            f"X has {d} features, but {estimator} is expecting {n_features_in} "
            f"features as input: `{name}` must have the same columns as the data "
            "passed to fit."
        )


def check_feature_names(fitted_names, names, estimator: str) -> None:
    """Compare feature names at predict time with the ones seen in ``fit``.

    Mirrors scikit-learn: a ValueError listing unseen / missing names or a
    different order; a UserWarning when only one of the two had names.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._data import check_feature_names
    >>> check_feature_names(np.array(["a"], dtype=object), np.array(["a"], dtype=object), "GM")
    """
    import warnings

    if fitted_names is None and names is None:
        return
    if fitted_names is not None and names is None:
        warnings.warn(
            f"X does not have valid feature names, but {estimator} was fitted with "
            "feature names; pass a DataFrame with the same columns.",
            UserWarning,
            stacklevel=3,
        )
        return
    if fitted_names is None and names is not None:
        warnings.warn(
            f"X has feature names, but {estimator} was fitted without feature names.",
            UserWarning,
            stacklevel=3,
        )
        return
    if len(fitted_names) == len(names) and np.array_equal(fitted_names, names):
        return
    msg = "The feature names should match those that were passed during fit.\n"
    fitted_set, set_ = set(fitted_names), set(names)
    unseen = sorted(set_ - fitted_set)
    missing = sorted(fitted_set - set_)

    def _fmt(items, max_n=5):
        out = "".join(f"- {x}\n" for x in items[:max_n])
        if len(items) > max_n:
            out += "- ...\n"
        return out

    if unseen:
        msg += "Feature names unseen at fit time:\n" + _fmt(unseen)
    if missing:
        msg += "Feature names seen at fit time, yet now missing:\n" + _fmt(missing)
    if not unseen and not missing:
        msg += "Feature names must be in the same order as they were in fit.\n"
    raise ValueError(msg)


def check_random_state(seed) -> np.random.RandomState:
    """``None``/int/``RandomState``/``Generator``-seeded ``RandomState``.

    Examples
    --------
    >>> from bayesgmm._data import check_random_state
    >>> check_random_state(0).randint(10)
    5
    """
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.RandomState(seed.integers(0, 2**32 - 1))
    raise TypeError(
        f"`random_state` must be None, an int, a numpy RandomState or Generator; "
        f"got {type(seed).__name__} ({seed!r}). Pass e.g. random_state=0."
    )


def check_sample_weight(sample_weight, n_samples: int, *, name: str = "sample_weight"):
    """Validate observation weights: 1-D, finite, non-negative, positive sum.

    Returns ``None`` for ``None`` (all weights one) or a float64 array (a copy
    when a conversion was needed; the caller's array is never modified).

    Examples
    --------
    >>> from bayesgmm._data import check_sample_weight
    >>> check_sample_weight([1, 2], 2)
    array([1., 2.])
    """
    if sample_weight is None:
        return None
    if is_dask_array(sample_weight):
        return sample_weight.astype(np.float64)
    if _is_pandas_series(sample_weight) or _is_xarray(sample_weight):
        sample_weight = np.asarray(sample_weight)
    if isinstance(sample_weight, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be numeric; got {sample_weight!r}.")
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must be numeric; got {type(sample_weight).__name__}."
        ) from None
    if w.ndim == 0:  # one weight for every row: checked like an array of it
        w = np.full(n_samples, float(w))
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(
            f"`{name}` must be a 1D array of length n_samples={n_samples}; got "
            f"shape {w.shape}. Pass one weight per row of X."
        )
    if not np.all(np.isfinite(w)):
        raise ValueError(f"`{name}` contains NaN or inf; pass finite weights.")
    if np.any(w < 0):
        raise ValueError(
            f"`{name}` contains {int((w < 0).sum())} negative value(s); weights must "
            "be >= 0."
        )
    if not np.any(w > 0):  # (not w.sum(): it overflows for weights near 1e308)
        raise ValueError(
            f"`{name}` sums to zero; at least one weight must be positive "
            "(all-zero weights leave nothing to fit)."
        )
    return w


def relative_sample_weight(w):
    """Checked weights divided by their largest value (only relative weights matter).

    A fit depends only on the ratios of the weights; dividing by the maximum
    keeps every weight in ``(0, 1]``, so sums and products neither overflow
    (weights near ``1e306``) nor fall below the absolute tolerances of the
    fit (weights near ``1e-20``).  Weights below ``5e-324`` times the largest
    become 0.  ``None`` stays ``None``; a dask array is divided lazily by its
    (computed) maximum.

    Examples
    --------
    >>> from bayesgmm._data import relative_sample_weight
    >>> relative_sample_weight(np.array([2e306, 1e306])).tolist()
    [1.0, 0.5]
    """
    if w is None:
        return None
    top = w.max()
    if is_dask_array(w):
        top = top.compute()
    top = float(top)
    if not np.isfinite(top) or top <= 0:
        raise ValueError(
            "`sample_weight` must be finite with at least one positive weight; got a "
            f"largest weight of {top!r}."
        )
    return w / top
