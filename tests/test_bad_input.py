"""Bad input, tried systematically (issue 7).

A matrix of malformed or unusual data and parameters over ``GaussianMixture.fit`` /
``.predict``, ``BayesianGMM.fit`` / ``.predict_proba``, ``select_components`` and the
``bayesgmm fit`` command.  Every case either gives the correct result (checked
against a reference fit) or raises ``ValueError``/``TypeError``

* raised by bayesgmm's own code (the innermost traceback frame lies in the
  ``bayesgmm`` package: no raw numpy/scipy/pytensor message),
* whose message names the argument at fault,

and the caller's data are never modified (compared with a deep copy, DataFrames too).

Bayesian fits are expensive; the error cases fail before sampling, and the few
cases that must sample share tiny module-scoped fits (1 chain x 20 draws).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import bayesgmm
from bayesgmm import BayesianGMM, GaussianMixture, Priors, select_components

PKG_DIR = os.path.dirname(bayesgmm.__file__)
TINY = dict(draws=20, tune=20, chains=1, progressbar=False)


# --------------------------------------------------------------------------- helpers
def _blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    half = n // 2
    return np.r_[rng.normal(0.0, 1.0, (half, 2)), rng.normal(6.0, 1.0, (n - half, 2))]


X = _blobs()
X_INT = np.round(X * 4).astype(np.int64)  # integer-valued: exact in float32 and float64


def _snapshot(obj):
    if isinstance(obj, np.ndarray):
        return obj.copy(), obj.flags.writeable
    return copy.deepcopy(obj)


def _same_data(a, b):
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
        return
    if isinstance(a, np.ndarray):
        b, writeable = b
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.flags.writeable == writeable
        np.testing.assert_array_equal(a, b)
        return
    assert a == b


def _raised_by_bayesgmm(excinfo):
    """The innermost frame of the traceback is bayesgmm code (not numpy/scipy/pytensor)."""
    tb = excinfo.tb
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and os.path.abspath(last).startswith(PKG_DIR)


def assert_our_error(excinfo, argument, *words):
    """Our ValueError/TypeError naming ``argument`` (and optionally more words)."""
    err = excinfo.value
    assert type(err) in (ValueError, TypeError) or type(err).__module__.startswith("bayesgmm"), type(err)
    msg = str(err)
    assert _raised_by_bayesgmm(excinfo), f"raised outside bayesgmm: {msg!r}"
    assert re.search(rf"(^|[^\w]){re.escape(argument)}([^\w]|$)", msg), f"{argument!r} not named in {msg!r}"
    for w in words:
        assert w.lower() in msg.lower(), f"{w!r} not in {msg!r}"
    for raw in ("pytensor", "LinAlgError", "could not convert string", "setting an array element"):
        assert raw not in msg


# ------------------------------------------------------------------ bad data cases
def _with_nan():
    a = X.copy()
    a[3, 1] = np.nan
    return a


def _with_inf():
    a = X.copy()
    a[5, 0] = -np.inf
    return a


def _df_str():
    df = pd.DataFrame(X, columns=["a", "b"])
    df["c"] = ["x", "y"] * (len(df) // 2)
    return df


def _df_cat():
    df = pd.DataFrame(X, columns=["a", "b"])
    df["c"] = pd.Categorical(["x", "y"] * (len(df) // 2))
    return df


def _df_nullable_na():
    df = pd.DataFrame(X, columns=["a", "b"])
    df["c"] = pd.array([1, None] * (len(df) // 2), dtype="Int64")
    return df


def _df_mixed_names():
    return pd.DataFrame(X, columns=["a", 1])


# name -> (make X, error type, words in the message besides "X")
BAD_DATA = {
    "nan": (_with_nan, ValueError, ["NaN", "impute"]),
    "inf": (_with_inf, ValueError, ["inf", "impute"]),
    "empty": (lambda: np.empty((0, 2)), ValueError, ["0 sample"]),
    "one_row": (lambda: X[:1].copy(), ValueError, ["row"]),
    "zero_features": (lambda: np.empty((10, 0)), ValueError, ["feature"]),
    "one_d": (lambda: X[:, 0].copy(), ValueError, ["reshape"]),
    "three_d": (lambda: X[None].copy(), ValueError, ["2D"]),
    "string_array": (lambda: np.array([["a", "b"]] * 10), TypeError, ["numeric"]),
    "string_column": (_df_str, TypeError, ["'c'", "encode"]),
    "categorical_column": (_df_cat, TypeError, ["'c'", "category"]),
    "nullable_with_na": (_df_nullable_na, ValueError, ["'c'", "NaN"]),
    "complex": (lambda: X.astype(complex), ValueError, ["complex"]),
    "mixed_column_names": (_df_mixed_names, TypeError, ["string"]),
    # BUG-R5 (fixed in bc8c813): pandas' raw AttributeError before
    "duplicate_column_names": (lambda: pd.DataFrame(X, columns=["a", "a"]), ValueError, ["'a'", "duplicate"]),
    # BUG-R6 (fixed in bc8c813): numpy's raw "inhomogeneous shape" message before
    "ragged_list": (lambda: [[1.0, 2.0], [3.0]] * 5, ValueError, ["rows", "different lengths"]),
}


def _em_fit(data):
    return GaussianMixture(2, random_state=0).fit(data)


def _bayes_fit(data):
    return BayesianGMM(2, random_state=0).fit(data, **TINY)


def _select(data):
    return select_components(data, [1, 2], progressbar=False)


FITTERS = {"em": _em_fit, "bayes": _bayes_fit, "select": _select}


@pytest.mark.parametrize("fitter", list(FITTERS))
@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_fit(case, fitter, monkeypatch):
    make, err_type, words = BAD_DATA[case]
    data = make()
    before = _snapshot(data)
    if fitter == "bayes":
        # the data must be rejected before any sampling starts
        import bayesgmm.inference

        def no_sampling(*a, **k):  # pragma: no cover - reached only on a bug
            raise AssertionError("BayesianGMM.fit reached the sampler with invalid data")

        monkeypatch.setattr(bayesgmm.inference, "run_inference", no_sampling)
    with pytest.raises(err_type) as excinfo:
        FITTERS[fitter](data)
    assert_our_error(excinfo, "X", *words)
    _same_data(data, before)


@pytest.mark.parametrize("fitter", list(FITTERS))
def test_fewer_rows_than_components(fitter, monkeypatch):
    data = X[:3].copy()
    before = _snapshot(data)
    if fitter == "em":
        call = lambda: GaussianMixture(5).fit(data)  # noqa: E731
    elif fitter == "bayes":
        call = lambda: BayesianGMM(5).fit(data, **TINY)  # noqa: E731
    else:
        # select: the impossible cells are recorded as failed, the others are fitted
        with pytest.warns(UserWarning, match="n_components"):
            res = select_components(data, [1, 5], progressbar=False)
        assert res.n_components == 1
        _same_data(data, before)
        return
    with pytest.raises(ValueError) as excinfo:
        call()
    assert_our_error(excinfo, "n_components", "rows")
    _same_data(data, before)


# ----------------------------------------------------------- data that must work
def _em_ref(data, **kw):
    return GaussianMixture(2, random_state=0, **{"n_init": 1, **kw}).fit(data)


def _assert_same_em(a, b, rtol=0.0, atol=0.0):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=atol, err_msg=name)
    assert a.n_iter_ == b.n_iter_


def _non_contiguous(a):
    wide = np.zeros((a.shape[0], 2 * a.shape[1]), dtype=a.dtype)
    wide[:, ::2] = a
    view = wide[:, ::2]
    assert not view.flags.c_contiguous and not view.flags.f_contiguous
    return view


def _read_only(a):
    b = a.copy()
    b.flags.writeable = False
    return b


SAME_DATA = {
    "int64": lambda: X_INT.copy(),
    "int32": lambda: X_INT.astype(np.int32),
    "float32": lambda: X_INT.astype(np.float32),
    "fortran": lambda: np.asfortranarray(X_INT.astype(float)),
    "non_contiguous": lambda: _non_contiguous(X_INT.astype(float)),
    "read_only": lambda: _read_only(X_INT.astype(float)),
    "read_only_non_contiguous_float32": lambda: _read_only(_non_contiguous(X_INT.astype(np.float32))),
    "dataframe": lambda: pd.DataFrame(X_INT.astype(float), columns=["a", "b"]),
    "dataframe_int_and_float": lambda: pd.DataFrame({"a": X_INT[:, 0], "b": X_INT[:, 1].astype(float)}),
    "list_of_lists": lambda: X_INT.tolist(),
}


@pytest.mark.parametrize("case", list(SAME_DATA))
def test_em_dtype_and_layout_give_the_same_fit(case):
    data = SAME_DATA[case]()
    before = _snapshot(data)
    ref = _em_ref(X_INT.astype(np.float64))
    got = _em_ref(data)
    _assert_same_em(got, ref)
    np.testing.assert_array_equal(got.predict(data), ref.predict(X_INT.astype(float)))
    _same_data(data, before)


def test_em_float32_close_to_float64():
    ref = _em_ref(X)
    got = _em_ref(X.astype(np.float32))
    _assert_same_em(got, ref, rtol=1e-4, atol=1e-5)
    # exactly the float64 fit of the float32-rounded values
    _assert_same_em(got, _em_ref(X.astype(np.float32).astype(np.float64)))


def _sorted_means(gm):
    order = np.argsort(gm.means_[:, 0])
    return gm.means_[order], gm.weights_[order], gm.covariances_[order]


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_em_large_scale(covariance_type):
    c = 1e8
    ref = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    got = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X * c)
    m0, w0, v0 = _sorted_means(ref)
    m1, w1, v1 = _sorted_means(got)
    np.testing.assert_allclose(m1 / c, m0, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(w1, w0, rtol=1e-6)
    # reg_covar (1e-6) is negligible at both scales
    np.testing.assert_allclose(v1 / c**2, v0, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(
        got.predict(X * c) == got.predict(X * c)[0], ref.predict(X) == ref.predict(X)[0]
    )


def test_em_tiny_scale_with_scaled_reg_covar():
    """With reg_covar scaled with the data, 1e-8 data give the scaled fit."""
    c = 1e-8
    ref = GaussianMixture(2, random_state=0, reg_covar=1e-6).fit(X)
    got = GaussianMixture(2, random_state=0, reg_covar=1e-6 * c**2).fit(X * c)
    m0, w0, v0 = _sorted_means(ref)
    m1, w1, v1 = _sorted_means(got)
    np.testing.assert_allclose(m1 / c, m0, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(v1 / c**2, v0, rtol=1e-5, atol=1e-8)


def test_em_tiny_scale():
    c = 1e-8
    ref = GaussianMixture(2, random_state=0).fit(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = GaussianMixture(2, random_state=0).fit(X * c)
    warned = any("reg_covar" in str(w.message) for w in caught)
    m0, _, _ = _sorted_means(ref)
    m1, _, _ = _sorted_means(got)
    assert warned or np.allclose(m1 / c, m0, rtol=1e-4, atol=1e-4)


def test_em_constant_column():
    data = np.c_[X, np.full(len(X), 3.0)]
    before = data.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(2, random_state=0, reg_covar=1e-6).fit(data)
    np.testing.assert_allclose(gm.means_[:, 2], 3.0, atol=1e-9)
    # the constant feature's variance is the regulariser only
    np.testing.assert_allclose(gm.covariances_[:, 2, 2], 1e-6, rtol=1e-3)
    # the other features give the same clusters as without the constant column
    ref = GaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_allclose(_sorted_means(gm)[0][:, :2], _sorted_means(ref)[0], atol=1e-6)
    assert np.isfinite(gm.score_samples(data)).all()
    np.testing.assert_array_equal(data, before)


def test_em_duplicated_rows():
    data = np.repeat(X[:6], 10, axis=0)  # 6 distinct points, each 10 times
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(2, random_state=0).fit(data)
    for name in ("weights_", "means_", "covariances_"):
        assert np.isfinite(getattr(gm, name)).all()
    np.testing.assert_allclose(gm.weights_.sum(), 1.0)
    proba = gm.predict_proba(data)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # the weighted average of the component means is the data mean (an EM fixed-point identity)
    np.testing.assert_allclose(gm.weights_ @ gm.means_, data.mean(axis=0), atol=1e-6)


def test_em_all_rows_identical():
    data = np.ones((10, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(2, random_state=0).fit(data)
    np.testing.assert_allclose(gm.means_, 1.0)
    assert np.isfinite(gm.score_samples(data)).all()


# --------------------------------------------------------------- EM predict time
@pytest.fixture(scope="module")
def em_np():
    return GaussianMixture(2, random_state=0).fit(X)


@pytest.fixture(scope="module")
def em_df():
    return GaussianMixture(2, random_state=0).fit(pd.DataFrame(X, columns=["a", "b"]))


PREDICT_BAD = {
    "nan": (_with_nan, ValueError, "X", ["NaN"]),
    "one_d": (lambda: X[0].copy(), ValueError, "X", ["reshape"]),
    "more_features": (lambda: np.c_[X, X[:, :1]], ValueError, "X", ["3 features", "2"]),
    "fewer_features": (lambda: X[:, :1].copy(), ValueError, "X", ["1 features", "2"]),
    "string_column": (_df_str, TypeError, "X", ["'c'"]),
}


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples"])
@pytest.mark.parametrize("case", list(PREDICT_BAD))
def test_em_predict_bad(case, method, em_np):
    make, err_type, arg, words = PREDICT_BAD[case]
    data = make()
    before = _snapshot(data)
    with pytest.raises(err_type) as excinfo:
        getattr(em_np, method)(data)
    assert_our_error(excinfo, arg, *words)
    _same_data(data, before)


@pytest.mark.parametrize(
    "columns, words",
    [(["z", "b"], ["z", "a"]), (["b", "a"], ["order"]), (["a", "b", "c"], ["c"])],
    ids=["renamed", "swapped", "extra"],
)
def test_em_predict_feature_names(columns, words, em_df):
    rng = np.random.default_rng(1)
    data = pd.DataFrame(rng.normal(size=(5, len(columns))), columns=columns)
    before = data.copy()
    with pytest.raises(ValueError) as excinfo:
        em_df.predict(data)
    assert _raised_by_bayesgmm(excinfo)
    msg = str(excinfo.value)
    assert "feature names" in msg.lower()
    for w in words:
        assert w in msg
    pd.testing.assert_frame_equal(data, before)


def test_em_predict_same_names_same_result(em_df, em_np):
    df = pd.DataFrame(X, columns=["a", "b"])
    np.testing.assert_array_equal(em_df.predict(df), em_np.predict(X))
    # dtype and layout at predict time do not matter
    np.testing.assert_allclose(em_np.predict_proba(_read_only(_non_contiguous(X))), em_np.predict_proba(X))


def test_em_predict_unfitted():
    with pytest.raises(ValueError) as excinfo:
        GaussianMixture(2).predict(X)
    assert "fit" in str(excinfo.value)


# ------------------------------------------------------------ invalid parameters
EM_BAD_PARAMS = [
    ("n_components", -1, ValueError),
    ("n_components", 0, ValueError),
    ("n_components", 2.5, (ValueError, TypeError)),
    ("n_components", "2", (ValueError, TypeError)),
    ("n_components", True, (ValueError, TypeError)),
    ("covariance_type", "foo", ValueError),
    ("covariance_type", None, (ValueError, TypeError)),
    ("n_init", 0, ValueError),
    ("n_init", -3, ValueError),
    ("max_iter", -1, ValueError),
    ("reg_covar", -1.0, ValueError),
    ("reg_covar", np.nan, ValueError),
    ("tol", -1.0, ValueError),
    ("init_params", "bogus", ValueError),
    ("random_state", "x", TypeError),
    ("weights_init", [0.2, 0.2], ValueError),
    ("weights_init", [-0.5, 1.5], ValueError),
    ("means_init", np.zeros((3, 2)), ValueError),
    ("precisions_init", -np.ones((2, 2, 2)), ValueError),
    ("warm_start", "yes", (ValueError, TypeError)),
]


@pytest.mark.parametrize("name, value, err", EM_BAD_PARAMS, ids=[f"{n}={v!r}"[:30] for n, v, _ in EM_BAD_PARAMS])
def test_em_invalid_params(name, value, err):
    data = X.copy()
    params = {"n_components": 2, name: value}
    with pytest.raises(err) as excinfo:
        GaussianMixture(**params).fit(data)
    assert_our_error(excinfo, name)
    np.testing.assert_array_equal(data, X)


PRIOR_BAD = [
    ("weights_alpha", 0, ValueError),
    ("weights_alpha", -1.0, ValueError),
    ("weights_alpha", [1.0, 0.0], ValueError),
    ("weights_alpha", np.nan, ValueError),
    ("weights_alpha", "a", TypeError),
    ("weights_alpha", True, TypeError),
    ("mean_scale", 0.0, ValueError),
    ("sd_scale", -1.0, ValueError),
    ("lkj_eta", 0.0, ValueError),
    ("lkj_eta", [1.0, 2.0], TypeError),
    ("mean_loc", np.inf, ValueError),
]


@pytest.mark.parametrize("name, value, err", PRIOR_BAD, ids=[f"{n}={v!r}" for n, v, _ in PRIOR_BAD])
def test_priors_invalid(name, value, err):
    with pytest.raises(err) as excinfo:
        Priors(**{name: value})
    assert_our_error(excinfo, name)
    # also through the dict form accepted by BayesianGMM and select_components
    with pytest.raises(err) as excinfo:
        BayesianGMM(2, priors={name: value}).fit(X, **TINY)
    assert_our_error(excinfo, name)


@pytest.mark.parametrize(
    "priors, name",
    [(Priors(weights_alpha=[1.0, 1.0, 1.0]), "weights_alpha"), (Priors(mean_loc=[0.0, 0.0, 0.0]), "mean_loc")],
    ids=["alpha_length", "mean_loc_length"],
)
def test_bayes_prior_length_mismatch(priors, name):
    with pytest.raises(ValueError) as excinfo:
        BayesianGMM(2, priors=priors).fit(X, **TINY)
    assert_our_error(excinfo, name)


BAYES_BAD_PARAMS = [
    ({"n_components": -1}, {}, ValueError, "n_components"),
    ({"n_components": 1.5}, {}, (ValueError, TypeError), "n_components"),
    ({"covariance_type": "foo"}, {}, ValueError, "covariance_type"),
    ({"priors": "x"}, {}, TypeError, "priors"),
    ({"random_state": "x"}, {}, TypeError, "random_state"),
    ({"random_state": -1}, {}, ValueError, "random_state"),
    ({}, {"draws": -1}, ValueError, "draws"),
    ({}, {"draws": 0}, ValueError, "draws"),
    ({}, {"tune": -1}, ValueError, "tune"),
    ({}, {"chains": 0}, ValueError, "chains"),
    ({}, {"method": "x"}, ValueError, "method"),
    ({}, {"n_init": 0}, ValueError, "n_init"),
    ({}, {"log_likelihood": "yes"}, ValueError, "log_likelihood"),
    ({}, {"progressbar": "no"}, TypeError, "progressbar"),
]


@pytest.mark.parametrize(
    "init_kw, fit_kw, err, name", BAYES_BAD_PARAMS, ids=[str({**a, **b}) for a, b, _, _ in BAYES_BAD_PARAMS]
)
def test_bayes_invalid_params(init_kw, fit_kw, err, name, monkeypatch):
    import bayesgmm.em
    import bayesgmm.inference

    def forbidden(*a, **k):  # pragma: no cover - reached only on a bug
        raise AssertionError("parameters must be checked before any fitting")

    monkeypatch.setattr(bayesgmm.inference, "run_inference", forbidden)
    monkeypatch.setattr(bayesgmm.em.GaussianMixture, "fit", forbidden)
    kw = {**TINY, **fit_kw}
    data = X.copy()
    with pytest.raises(err) as excinfo:
        BayesianGMM(**{"n_components": 2, **init_kw}).fit(data, **kw)
    assert_our_error(excinfo, name)
    np.testing.assert_array_equal(data, X)


SELECT_BAD = [
    ({"n_components": []}, ValueError, "n_components"),
    ({"n_components": [-1, 2]}, ValueError, "n_components"),
    ({"n_components": [0, 2]}, ValueError, "n_components"),
    ({"n_components": [1, 2.5]}, ValueError, "n_components"),
    ({"method": "x"}, ValueError, "method"),
    ({"covariance_types": "x"}, ValueError, "covariance_types"),
    ({"covariance_types": None}, TypeError, "covariance_types"),
    ({"n_init": 0}, ValueError, "n_init"),
    ({"rule": "x"}, ValueError, "rule"),
    ({"n_jobs": 0}, ValueError, "n_jobs"),
    # parameter errors raise before any fit (BUG-R3), not as "every fit failed"
    ({"max_iter": -1}, ValueError, "max_iter"),
    ({"method": "loo", "priors": {"weights_alpha": 0.0}}, ValueError, "weights_alpha"),
    ({"method": "waic", "priors": {"lkj_eta": -1.0}}, ValueError, "lkj_eta"),
    ({"method": "loo", "priors": {"bogus": 1.0}}, ValueError, "bogus"),
]


@pytest.mark.parametrize("kw, err, name", SELECT_BAD, ids=[str(k) for k, _, _ in SELECT_BAD])
def test_select_invalid_params(kw, err, name):
    data = X.copy()
    args = {"n_components": [1, 2], "progressbar": False, **kw}
    with pytest.raises(err) as excinfo:
        select_components(data, **args)
    assert_our_error(excinfo, name)
    np.testing.assert_array_equal(data, X)


def test_select_sparse_alpha_nonpositive():
    with pytest.raises(ValueError) as excinfo:
        select_components(X, [3], method="sparse", priors=Priors(weights_alpha=0.0), progressbar=False)
    assert_our_error(excinfo, "weights_alpha")


def test_select_sparse_alpha_nonpositive_dict():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError) as excinfo:
            select_components(X, [3], method="sparse", priors={"weights_alpha": 0.0}, progressbar=False)
    assert_our_error(excinfo, "weights_alpha", "> 0")


def test_select_invalid_fit_kwargs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError) as excinfo:
            select_components(X, [1, 2], reg_covar=-1.0, progressbar=False)
    assert_our_error(excinfo, "reg_covar", "-1")
    assert "every fit" not in str(excinfo.value)


@pytest.mark.parametrize("case", ["int64", "float32", "read_only_non_contiguous_float32", "dataframe"])
def test_select_dtype_and_layout_give_the_same_table(case):
    data = SAME_DATA[case]()
    before = _snapshot(data)
    ref = select_components(X_INT.astype(float), [1, 2, 3], random_state=0, n_init=1, progressbar=False)
    got = select_components(data, [1, 2, 3], random_state=0, n_init=1, progressbar=False)
    np.testing.assert_allclose(got.table["bic"].values, ref.table["bic"].values, rtol=1e-10)
    assert got.n_components == ref.n_components
    _same_data(data, before)


def test_select_constant_column_bic():
    data = np.c_[X, np.full(len(X), -2.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = select_components(data, [1, 2, 3], random_state=0, progressbar=False)
    assert res.n_components == 2
    assert np.isfinite(res.table["bic"].values).all()


# --------------------------------------------------------------- Bayesian results
@pytest.fixture(scope="module")
def bayes_df_fit():
    """Tiny fit on a DataFrame of integer-valued data (also checks the data are untouched)."""
    df = pd.DataFrame(X_INT.astype(float), columns=["a", "b"], index=[f"r{i}" for i in range(len(X_INT))])
    before = df.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BayesianGMM(2, random_state=3).fit(df, **TINY)
    pd.testing.assert_frame_equal(df, before)
    return model


def _posterior_arrays(model):
    post = model.idata_["posterior"]
    return {v: post[v].values for v in ("weights", "means", "covariances")}


@pytest.mark.slow
def test_bayes_dtype_and_layout_give_the_same_posterior(bayes_df_fit):
    """int64 data and a read-only, non-contiguous float32 view give the DataFrame fit's draws."""
    ref = _posterior_arrays(bayes_df_fit)
    for data in (X_INT.copy(), _read_only(_non_contiguous(X_INT.astype(np.float32)))):
        before = _snapshot(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = BayesianGMM(2, random_state=3).fit(data, **TINY)
        _same_data(data, before)
        for name, arr in _posterior_arrays(got).items():
            np.testing.assert_array_equal(arr, ref[name], err_msg=name)


def test_bayes_constant_column_is_refused_with_advice():
    data = np.c_[X, np.ones(len(X))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError) as excinfo:
            BayesianGMM(2, random_state=0).fit(data, **TINY)
    assert_our_error(excinfo, "X", "constant", "drop")
    np.testing.assert_array_equal(data[:, 2], 1.0)


@pytest.mark.parametrize("case", list(PREDICT_BAD))
def test_bayes_predict_proba_bad(case, bayes_df_fit):
    make, err_type, arg, words = PREDICT_BAD[case]
    data = make()
    if isinstance(data, np.ndarray):
        data = data.copy()
    before = _snapshot(data)
    with pytest.raises(err_type) as excinfo:
        bayes_df_fit.predict_proba(data)
    assert_our_error(excinfo, arg, *words)
    _same_data(data, before)


@pytest.mark.parametrize(
    "columns, words",
    [(["z", "b"], ["z", "a"]), (["b", "a"], ["order"])],
    ids=["renamed", "swapped"],
)
def test_bayes_predict_feature_names(columns, words, bayes_df_fit):
    data = pd.DataFrame(np.zeros((3, 2)), columns=columns)
    before = data.copy()
    with pytest.raises(ValueError) as excinfo:
        bayes_df_fit.predict_proba(data)
    assert _raised_by_bayesgmm(excinfo)
    for w in words:
        assert w in str(excinfo.value)
    pd.testing.assert_frame_equal(data, before)


def test_bayes_predict_proba_layouts_agree(bayes_df_fit):
    df = pd.DataFrame(X_INT.astype(float), columns=["a", "b"])
    ref = bayes_df_fit.predict_proba(df)
    np.testing.assert_allclose(ref.sum(axis=1), 1.0)
    for data in (
        df.to_numpy(),
        X_INT,
        _read_only(_non_contiguous(X_INT.astype(np.float32))),
        pd.DataFrame(X_INT, columns=["a", "b"]),
    ):
        np.testing.assert_allclose(bayes_df_fit.predict_proba(data), ref, rtol=1e-12, atol=1e-14)


def test_bayes_predict_proba_unfitted():
    with pytest.raises(ValueError) as excinfo:
        BayesianGMM(2).predict_proba(X)
    assert "fit" in str(excinfo.value)


# ------------------------------------------------------------------------- CLI
def _cli_has_fit():
    from bayesgmm import cli

    return "fit" in getattr(cli, "SUBCOMMANDS", {})


def _run_cli(*args, cwd=None):
    """The command line's ``main(argv)`` in this process (exit status, stdout, stderr);
    ``tests/test_cli.py::test_error_paths_in_a_real_process`` checks that a real
    ``python -m bayesgmm.cli`` gives the same."""
    from test_cli import run_cli_in_process

    return run_cli_in_process(*args, cwd=cwd)


CLI_FIT_ARGS = ("--components", 2, "--draws", 20, "--tune", 20, "--chains", 1, "--quiet")

CLI_BAD = {
    "nan": (lambda: pd.DataFrame(_with_nan(), columns=["a", "b"]), ["NaN"]),
    "string_column": (_df_str, ["'c'"]),
    "empty": (lambda: pd.DataFrame({"a": [], "b": []}), ["0 data row"]),
    "one_row": (lambda: pd.DataFrame(X[:1], columns=["a", "b"]), ["row"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CLI_BAD))
def test_cli_fit_bad_csv(case, tmp_path):
    if not _cli_has_fit():
        pytest.skip("the `bayesgmm fit` subcommand is not on main yet")
    make, words = CLI_BAD[case]
    path = tmp_path / "data.csv"
    make().to_csv(path, index=False)
    content = path.read_bytes()
    proc = _run_cli("fit", path, *CLI_FIT_ARGS, "--out", tmp_path / "fit.nc")
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert not (tmp_path / "fit.nc").exists()
    err = proc.stderr + proc.stdout
    assert "Traceback" not in err, err
    for w in words:
        assert w.lower() in err.lower(), err
    assert path.read_bytes() == content


@pytest.mark.slow
def test_cli_fit_missing_file(tmp_path):
    if not _cli_has_fit():
        pytest.skip("the `bayesgmm fit` subcommand is not on main yet")
    proc = _run_cli("fit", tmp_path / "nope.csv", *CLI_FIT_ARGS, "--out", tmp_path / "fit.nc")
    assert proc.returncode != 0
    err = proc.stderr + proc.stdout
    assert "Traceback" not in err, err
    assert "nope.csv" in err


def test_cli_unknown_subcommand_has_no_traceback():
    proc = _run_cli("bogus-command")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "bogus-command" in proc.stderr


_SCRIPT = shutil.which("bayesgmm", path=os.path.dirname(sys.executable)) or shutil.which("bayesgmm")


@pytest.mark.slow
@pytest.mark.skipif(_SCRIPT is None, reason="console script not installed")
def test_cli_console_script_help():
    proc = subprocess.run([_SCRIPT, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "usage" in proc.stdout.lower()


# ------------------------------------------------------- Bayesian fit, scaled data
def _bayes_partition_and_means(data, c):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BayesianGMM(2, random_state=0).fit(data, draws=50, tune=50, chains=1, progressbar=False)
    labels = model.predict(data)
    means = model.idata_["posterior"]["means"].mean(("chain", "draw")).values / c
    return labels, means[np.argsort(means[:, 0])]


_TRUTH = np.r_[np.zeros(len(X) // 2), np.ones(len(X) - len(X) // 2)]
_CLUSTER_MEANS = np.stack([X[: len(X) // 2].mean(0), X[len(X) // 2 :].mean(0)])


@pytest.mark.slow
def test_bayes_large_scale():
    """The priors are data-relative: data x 1e8 give the same clusters, means x 1e8."""
    c = 1e8
    labels, means = _bayes_partition_and_means(X * c, c)
    assert max(np.mean(labels == _TRUTH), np.mean(labels != _TRUTH)) == 1.0
    np.testing.assert_allclose(means, _CLUSTER_MEANS, atol=0.5)


@pytest.mark.slow
def test_bayes_tiny_scale():
    c = 1e-8
    labels, means = _bayes_partition_and_means(X * c, c)
    assert max(np.mean(labels == _TRUTH), np.mean(labels != _TRUTH)) == 1.0
    np.testing.assert_allclose(means, _CLUSTER_MEANS, atol=0.5)


# ------------------------------------------------------------ CLI: select and fit
def _write_csvs(tmp_path):
    df = pd.DataFrame(X, columns=["a", "b"])
    df.to_csv(tmp_path / "good.csv", index=False)
    const = df.copy()
    const["c"] = 1.0
    const.to_csv(tmp_path / "const.csv", index=False)
    _df_str().to_csv(tmp_path / "str.csv", index=False)


CLI_MATRIX = [
    # (arguments, expected exit status, words in the output)
    (["select", "good.csv", "-k", "1-3", "-q"], 0, ["Selected: K=2"]),
    (["select", "str.csv", "-k", "1-3", "-q", "--columns", "a,b"], 0, ["Selected: K=2"]),
    (["select", "good.csv", "-k", "0-3", "-q"], 2, ["--components", ">= 1"]),
    (["select", "good.csv", "-k", "3-1", "-q"], 2, ["--components", "empty"]),
    (["select", "str.csv", "-k", "1-3", "-q"], 2, ["'c'", "--columns"]),
    (["select", "str.csv", "-k", "1-3", "-q", "--columns", "a,zz"], 2, ["'zz'"]),
    (["select", "good.csv", "-k", "1-3", "-q", "--method", "bogus"], 2, ["--method"]),
    (["fit", "const.csv", "-k", "2", "-o", "o.nc", "-q", "--draws", "20", "--tune", "20", "--chains", "1"], 2,
     ["'c'", "constant", "--columns"]),
    (["fit", "good.csv", "-k", "0", "-o", "o.nc", "-q"], 2, ["--components", ">= 1"]),
    (["fit", "good.csv", "-k", "2", "-o", "o.nc", "-q", "--draws", "-5"], 2, ["--draws"]),
    (["fit", "good.csv", "-k", "2", "-o", "missing_dir/o.nc", "-q", "--draws", "20", "--tune", "20",
      "--chains", "1"], 2, ["missing_dir", "does not exist"]),
]


@pytest.mark.slow
@pytest.mark.parametrize("args, status, words", CLI_MATRIX, ids=[" ".join(a[:2] + a[2:4]) + f"->{s}" for a, s, _ in CLI_MATRIX])
def test_cli_matrix(args, status, words, tmp_path):
    from bayesgmm import cli

    if args[0] not in getattr(cli, "SUBCOMMANDS", {}):
        pytest.skip(f"the `bayesgmm {args[0]}` subcommand is not on main yet")
    _write_csvs(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.csv")}
    proc = _run_cli(*args, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == status, out
    assert "Traceback" not in out, out
    for w in words:
        assert w in out, (w, out)
    if status != 0:
        assert not (tmp_path / "o.nc").exists()
    # the input files are never modified
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.csv")} == before


# ------------------------------------------------ edge shapes that must work
@pytest.mark.slow
@pytest.mark.parametrize(
    "n_components, covariance_type, columns, rows",
    [(2, "full", 1, None), (2, "tied", 1, None), (2, "diag", 1, None), (2, "spherical", 1, None),
     (1, "full", 2, None), (2, "full", 2, 2)],
    ids=["D1-full", "D1-tied", "D1-diag", "D1-spherical", "K1", "N=K"],
)
def test_bayes_edge_shapes(n_components, covariance_type, columns, rows):
    data = X[:rows, :columns].copy() if rows else X[:, :columns].copy()
    before = data.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BayesianGMM(n_components, covariance_type=covariance_type, random_state=0).fit(data, **TINY)
    proba = model.predict_proba(data)
    assert proba.shape == (len(data), n_components)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    post = model.idata_["posterior"]
    assert post["covariances"].shape[-2:] == (columns, columns)
    assert np.isfinite(post["covariances"].values).all()
    if rows is None and n_components == 2:
        # the two clusters along feature 0 are recovered
        assert (proba[: len(X) // 2].argmax(1) != proba[len(X) // 2 :].argmax(1)[0]).all()
    np.testing.assert_array_equal(data, before)
