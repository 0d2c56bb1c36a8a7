"""Input validation: messages name the argument, the problem and the fix."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayesgmm._validation import (
    check_array,
    check_feature_names,
    check_random_state,
    check_sample_weight,
)


def test_numpy_int_converted_and_not_copied_when_float():
    X = np.arange(6).reshape(3, 2)
    out, names = check_array(X)
    assert out.dtype == np.float64 and names is None
    np.testing.assert_array_equal(out, X)
    Xf = np.ones((3, 2))
    assert check_array(Xf)[0] is Xf  # no needless copy


def test_read_only_and_non_contiguous_input():
    X = np.asfortranarray(np.random.default_rng(0).normal(size=(10, 6)))[:, ::2]
    X.setflags(write=False)
    out, _ = check_array(X)
    np.testing.assert_array_equal(out, X)
    assert not X.flags.writeable


def test_dataframe_names_and_values():
    df = pd.DataFrame({"eruptions": [1.0, 2.0], "waiting": [50, 60]})
    out, names = check_array(df)
    assert names.dtype == object and names.tolist() == ["eruptions", "waiting"]
    np.testing.assert_array_equal(out, [[1, 50], [2, 60]])


def test_dataframe_non_string_columns_give_no_names():
    df = pd.DataFrame(np.ones((2, 2)))
    assert check_array(df)[1] is None


def test_dataframe_mixed_column_types():
    df = pd.DataFrame(np.ones((2, 2)), columns=["a", 1])
    with pytest.raises(TypeError, match="mixed types.*astype\\(str\\)"):
        check_array(df)


def test_non_numeric_columns_named():
    df = pd.DataFrame({"a": [1.0, 2.0], "species": ["x", "y"], "when": pd.to_datetime(["2020", "2021"])})
    with pytest.raises(TypeError, match=r"non-numeric column\(s\).*'species'.*'when'"):
        check_array(df)


def test_nan_inf_counts_and_columns():
    df = pd.DataFrame({"a": [1.0, np.nan, np.nan], "b": [1.0, 2.0, np.inf]})
    with pytest.raises(ValueError) as exc:
        check_array(df)
    msg = str(exc.value)
    assert "2 NaN values" in msg and "1 infinite (inf) value" in msg
    assert "'a'" in msg and "'b'" in msg and "impute" in msg
    X = np.ones((4, 3))
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN value in column 1;"):
        check_array(X)


@pytest.mark.parametrize(
    "X, match",
    [
        (np.ones(3), r"got a 1D array.*reshape\(-1, 1\)"),
        (np.ones((2, 2, 2)), "got a 3D array"),
        (np.float64(1.0), "got a scalar"),
        (pd.Series([1.0, 2.0]), "got a 1D array"),
    ],
)
def test_wrong_ndim(X, match):
    with pytest.raises(ValueError, match=match):
        check_array(X)


def test_too_few_samples_and_features():
    with pytest.raises(ValueError, match=r"1 sample\(s\).*minimum of 2"):
        check_array(np.ones((1, 2)), min_samples=2)
    with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(3, 0\)\) while a minimum of 1"):
        check_array(np.ones((3, 0)))


def test_complex_and_strings_rejected():
    with pytest.raises(ValueError, match="Complex data not supported"):
        check_array(np.ones((2, 2), dtype=complex))
    with pytest.raises(TypeError, match="not numeric"):
        check_array(np.array([["a", "b"], ["c", "d"]]))
    X = np.ones((2, 2), dtype=object)
    X[0, 0] = {"foo": "bar"}
    with pytest.raises(TypeError, match="argument must be a string or a real number"):
        check_array(X)


def test_xarray_dataarray_feature_coords():
    da_ = xr.DataArray(
        np.arange(6.0).reshape(3, 2), dims=("obs", "feature"), coords={"feature": ["x", "y"]}
    )
    out, names = check_array(da_)
    assert names.tolist() == ["x", "y"]
    np.testing.assert_array_equal(out, da_.values)
    out, names = check_array(xr.DataArray(np.ones((3, 2)), dims=("obs", "feature")))
    assert names is None


def test_dask_array_stays_lazy_and_checked():
    da = pytest.importorskip("dask.array")
    X = da.from_array(np.arange(12).reshape(6, 2), chunks=(3, 1))
    out, names = check_array(X)
    assert isinstance(out, da.Array) and out.dtype == np.float64
    assert out.chunks[1] == (2,)  # one block across features
    bad = np.ones((6, 2))
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN value\(s\) in column\(s\) \[1\]"):
        check_array(da.from_array(bad, chunks=3))
    with pytest.raises(TypeError, match="compute"):
        check_array(X, allow_dask=False)


def test_caller_data_not_modified():
    df = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]})
    before = df.copy()
    out, _ = check_array(df)
    out[:] = 0.0
    pd.testing.assert_frame_equal(df, before)


def test_feature_names_mismatch_messages():
    fitted = np.array(["a", "b", "c"], dtype=object)
    with pytest.raises(ValueError, match="same order"):
        check_feature_names(fitted, np.array(["c", "b", "a"], dtype=object), "GM")
    with pytest.raises(ValueError, match="unseen at fit time:\n- d\n"):
        check_feature_names(fitted, np.array(["a", "b", "d"], dtype=object), "GM")
    with pytest.raises(ValueError, match="yet now missing:\n- c\n"):
        check_feature_names(fitted, np.array(["a", "b"], dtype=object), "GM")
    with pytest.warns(UserWarning, match="fitted with feature names"):
        check_feature_names(fitted, None, "GM")
    with pytest.warns(UserWarning, match="fitted without feature names"):
        check_feature_names(None, fitted, "GM")


def test_sample_weight_validation():
    np.testing.assert_array_equal(check_sample_weight(2, 3), [2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="length n_samples=3"):
        check_sample_weight([1, 2], 3)
    with pytest.raises(ValueError, match="1 negative"):
        check_sample_weight([1, -2, 3], 3)
    with pytest.raises(ValueError, match="sums to zero"):
        check_sample_weight([0, 0, 0], 3)
    with pytest.raises(ValueError, match="NaN or inf"):
        check_sample_weight([0, np.nan, 1], 3)
    w = np.array([1, 2, 3])
    check_sample_weight(w, 3)
    np.testing.assert_array_equal(w, [1, 2, 3])


def test_random_state():
    a = check_random_state(3).uniform(size=3)
    b = check_random_state(np.random.RandomState(3)).uniform(size=3)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="random_state"):
        check_random_state("seed")


def test_duplicate_columns_and_ragged_rows():
    df = pd.DataFrame(np.ones((3, 3)), columns=["a", "a", "b"])
    with pytest.raises(ValueError, match=r"duplicate column names \['a'\]"):
        check_array(df)
    with pytest.raises(ValueError, match="rows have different lengths"):
        check_array([[1.0, 2.0], [3.0]])
