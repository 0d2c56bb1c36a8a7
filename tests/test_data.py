"""The one data rule (``bayesgmm._data``): every entry point reads ``X`` the same way.

A DataArray stored ``(feature, obs)`` is read by its dim names, so it gives the same
fit, the same feature names and the same ``obs`` labels as the numpy array of its
values at every entry point; a DataArray naming only one of ``obs``/``feature`` is
refused with a message that says how to fix it.
"""

from __future__ import annotations

import ast
import pathlib
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

import bayesgmm  # noqa: E402
from bayesgmm import BayesianGMM, GaussianMixture, plots, select_components  # noqa: E402
from bayesgmm import _datatree as dt  # noqa: E402
from bayesgmm._data import check_array, obs_coords, orient, prepare_data  # noqa: E402
from bayesgmm._logdensity import MixtureDensity  # noqa: E402
from bayesgmm.plots._common import GID_POINTS  # noqa: E402
from bayesgmm.posterior import (  # noqa: E402
    membership_summary,
    pointwise_log_likelihood,
    posterior_predictive_log_density,
    posterior_similarity,
    predictive_membership,
    relabel_draws,
)

NAMES = ["a", "b"]
N = 40
OBS = np.arange(N) * 10
TINY = dict(draws=20, tune=20, chains=1, progressbar=False)


def _blobs():
    rng = np.random.default_rng(0)
    return np.r_[rng.normal(0.0, 1.0, (N // 2, 2)), rng.normal(5.0, 1.0, (N // 2, 2))]


X = _blobs()


def _feature_obs():
    """The data stored (feature, obs): C order in those dims, as xarray builds it."""
    return xr.DataArray(np.ascontiguousarray(X.T), dims=("feature", "obs"),
                        coords={"feature": NAMES, "obs": OBS})


#: Every form of the same data, with the feature names and obs labels it carries.
FORMS = {
    "ndarray": (lambda: X, None, np.arange(N)),
    "dataframe": (lambda: pd.DataFrame(X, columns=NAMES, index=OBS), NAMES, OBS),
    "dataarray_obs_feature": (
        lambda: xr.DataArray(X, dims=("obs", "feature"), coords={"feature": NAMES, "obs": OBS}),
        NAMES, OBS),
    "dataarray_feature_obs": (_feature_obs, NAMES, OBS),
    "dataarray_positional": (
        lambda: xr.DataArray(X, dims=("row", "var"), coords={"row": OBS, "var": NAMES}),
        NAMES, OBS),
}
AMBIGUOUS_DIMS = [("feature", "sample"), ("sample", "feature"), ("obs", "var"), ("var", "obs")]


def _ambiguous(dims):
    values = X.T if dims[0] in ("feature", "var") else X
    return xr.DataArray(np.ascontiguousarray(values), dims=dims)


def _assert_ambiguous_error(excinfo, dims):
    msg = str(excinfo.value)
    assert msg.startswith("X is an xarray.DataArray with dims")
    assert str(dims) in msg and "ambiguous" in msg
    assert "X.rename(" in msg and "X.transpose(" in msg


# --------------------------------------------------------------------------- the rule
@pytest.mark.parametrize("form", FORMS)
def test_check_array_and_prepare_data_read_every_form_alike(form):
    make, names, obs = FORMS[form]
    arr, got_names = check_array(make())
    np.testing.assert_array_equal(arr, X)
    assert (got_names is None) if names is None else got_names.tolist() == names
    arr, got_obs, feats = prepare_data(make())
    np.testing.assert_array_equal(arr, X)
    np.testing.assert_array_equal(got_obs, obs)
    assert feats == (names or ["x0", "x1"])
    if form.startswith("dataarray"):  # rows contiguous, as a numpy array's
        assert check_array(make())[0].flags.c_contiguous


def test_orient_reads_obs_and_feature_by_name_and_others_by_position():
    da = _feature_obs()
    assert orient(da).dims == ("obs", "feature")
    positional = xr.DataArray(X, dims=("row", "var"))
    assert orient(positional) is positional
    assert orient(X) is X
    # a DataArray in (obs, feature) order that is C-contiguous is not copied
    da2 = xr.DataArray(X, dims=("obs", "feature"))
    assert check_array(da2)[0] is X


def test_feature_names_from_coords_survive_and_non_string_coords_give_none():
    da = xr.DataArray(X, dims=("obs", "feature"), coords={"feature": [0, 1]})
    assert check_array(da)[1] is None
    assert prepare_data(da)[2] == ["x0", "x1"]
    da = xr.DataArray(X, dims=("row", "var"), coords={"var": ["u", "v"]})
    assert check_array(da)[1].tolist() == ["u", "v"]
    np.testing.assert_array_equal(obs_coords(da, N), np.arange(N))  # no row coordinate
    dup = xr.DataArray(X, dims=("obs", "feature"), coords={"obs": np.zeros(N, int)})
    np.testing.assert_array_equal(obs_coords(dup, N), np.arange(N))  # not unique


@pytest.mark.parametrize("dims", AMBIGUOUS_DIMS)
def test_ambiguous_dataarray_is_refused_with_the_fix(dims):
    with pytest.raises(ValueError) as excinfo:
        check_array(_ambiguous(dims))
    _assert_ambiguous_error(excinfo, dims)
    # the fixes the message proposes work
    da = _ambiguous(dims)
    other = next(d for d in dims if d not in ("obs", "feature"))
    missing = "obs" if "feature" in dims else "feature"
    np.testing.assert_array_equal(check_array(da.rename({other: missing}))[0], X)
    rows = "obs" if "obs" in dims else other
    cols = other if "obs" in dims else "feature"
    np.testing.assert_array_equal(check_array(da.transpose(rows, cols).values)[0], X)


def _fitted_em():
    return GaussianMixture(2, random_state=0).fit(X)


AMBIGUOUS_ENTRY_POINTS = {
    "prepare_data": lambda A: prepare_data(A),
    "GaussianMixture.fit": lambda A: GaussianMixture(2).fit(A),
    "GaussianMixture.predict": lambda A: _fitted_em().predict(A),
    "GaussianMixture.bic": lambda A: _fitted_em().bic(A),
    "BayesianGMM.fit": lambda A: BayesianGMM(2).fit(A, **TINY),
    "build_model": lambda A: bayesgmm.build_model(A, 2),
    "MixtureDensity": lambda A: MixtureDensity(A, 2),
    "select_components": lambda A: select_components(A, n_components=[1, 2]),
    "membership_summary": lambda A: membership_summary(_fake_posterior(), A),
    "plots.membership_uncertainty": lambda A: plots.membership_uncertainty(
        membership_summary(_fake_posterior(), X), A),
}


def _fake_posterior(names=("x0", "x1"), C=2, S=10):
    """Draws scattered around the EM fit (no sampling), features named ``names``."""
    em = _fitted_em()
    rng = np.random.default_rng(1)
    w = np.abs(em.weights_ + rng.normal(scale=0.01, size=(C, S, 2)))
    w /= w.sum(-1, keepdims=True)
    m = em.means_ + rng.normal(scale=0.05, size=(C, S, 2, 2))
    c = em.covariances_ * np.exp(rng.normal(scale=0.05, size=(C, S, 2, 1, 1)))
    return dt.parameter_dataset(w, m, c, feature_names=list(names), leading=("chain", "draw"))


@pytest.mark.parametrize("entry", AMBIGUOUS_ENTRY_POINTS)
def test_ambiguous_dataarray_is_refused_at_every_entry_point(entry):
    dims = ("feature", "sample")
    with pytest.raises(ValueError) as excinfo:
        AMBIGUOUS_ENTRY_POINTS[entry](_ambiguous(dims))
    _assert_ambiguous_error(excinfo, dims)


# --------------------------------------------------------------------------- EM
@pytest.mark.parametrize("form", [f for f in FORMS if f != "ndarray"])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_em_entry_points_agree_with_the_numpy_array(form, covariance_type):
    make, names, _ = FORMS[form]
    ref = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(make())
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(gm, attr), getattr(ref, attr), rtol=1e-10, atol=1e-12)
    assert gm.n_features_in_ == 2 and gm.feature_names_in_.tolist() == names
    data = make()
    np.testing.assert_array_equal(gm.predict(data), ref.predict(X))
    np.testing.assert_allclose(gm.predict_proba(data), ref.predict_proba(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gm.score_samples(data), ref.score_samples(X), rtol=1e-10)
    for method in ("score", "bic", "aic", "icl"):
        np.testing.assert_allclose(getattr(gm, method)(data), getattr(ref, method)(X), rtol=1e-10)


def test_select_components_bic_agrees_with_the_numpy_array():
    kw = dict(n_components=[1, 2], method="bic", random_state=0, progressbar=False)
    ref = select_components(X, **kw)
    res = select_components(_feature_obs(), **kw)
    np.testing.assert_allclose(res.table["bic"].values, ref.table["bic"].values, rtol=1e-10)
    assert res.n_components == ref.n_components == 2
    assert res.best_model.feature_names_in_.tolist() == NAMES


# --------------------------------------------------------------------------- Bayesian
def test_build_model_and_density_agree_with_the_numpy_array():
    model = bayesgmm.build_model(_feature_obs(), 2, "diag")
    np.testing.assert_array_equal(model["X_data"].get_value(), X)
    assert list(model.coords["feature"]) == NAMES
    np.testing.assert_array_equal(np.asarray(model.coords["obs"]), OBS)
    dens, ref = MixtureDensity(_feature_obs(), 2, "full"), MixtureDensity(X, 2, "full")
    np.testing.assert_array_equal(dens.X, ref.X)
    assert list(dens.feature_names) == NAMES
    x = ref.pack(np.array([0.5, 0.5]), np.array([[0.0, 0.0], [5.0, 5.0]]), np.stack([np.eye(2)] * 2))
    lp, grad = dens.logp_and_grad(x)
    lp_ref, grad_ref = ref.logp_and_grad(x)
    assert lp == lp_ref
    np.testing.assert_array_equal(grad, grad_ref)


@pytest.fixture(scope="module")
def bayes_pair():
    """Tiny NUTS fits (1 chain x 20 draws) of the numpy array and of the (feature, obs) DataArray."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 20-draw chain has poor diagnostics
        ref = BayesianGMM(2, random_state=0).fit(X, **TINY)
        model = BayesianGMM(2, random_state=0).fit(_feature_obs(), **TINY)
    return ref, model


@pytest.mark.slow
def test_bayesian_fit_agrees_with_the_numpy_array(bayes_pair):
    ref, model = bayes_pair
    for group in ("posterior", "em"):
        for var in ("weights", "means", "covariances"):
            np.testing.assert_allclose(model.idata_[group][var].values,
                                       ref.idata_[group][var].values, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.em_.means_, ref.em_.means_, rtol=1e-10)
    assert model.feature_names_in_.tolist() == model.em_.feature_names_in_.tolist() == NAMES
    observed = dt.get_observed(model.idata_)
    np.testing.assert_array_equal(observed.values, X)
    np.testing.assert_array_equal(observed["obs"].values, OBS)
    assert dt.get_feature_names(model.idata_) == NAMES
    np.testing.assert_array_equal(dt.get_log_likelihood(model.idata_)["obs"].values, OBS)
    np.testing.assert_allclose(model.membership()["probability"].values,
                               ref.membership()["probability"].values, rtol=1e-8, atol=1e-12)


@pytest.mark.slow
def test_bayesian_predictions_agree_with_the_numpy_array(bayes_pair):
    ref, model = bayes_pair
    new = _feature_obs()
    np.testing.assert_allclose(model.predict_proba(new), ref.predict_proba(X), rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(model.predict(new), ref.predict(X))
    np.testing.assert_allclose(model.score_samples(new), ref.score_samples(X), rtol=1e-8)


def test_posterior_functions_agree_with_the_numpy_array():
    post = _fake_posterior(NAMES)  # features named as the DataArray's
    da = _feature_obs()
    for fn in (membership_summary, predictive_membership):
        out, ref = fn(post, da), fn(post, X)
        np.testing.assert_array_equal(out["obs"].values, OBS)
        np.testing.assert_allclose(out["probability"].values, ref["probability"].values)
    for fn in (posterior_predictive_log_density, pointwise_log_likelihood):
        out, ref = fn(post, da), fn(post, X)
        np.testing.assert_array_equal(out["obs"].values, OBS)
        np.testing.assert_allclose(out.values, ref.values)
    np.testing.assert_allclose(posterior_similarity(post, da).values, posterior_similarity(post, X).values)
    em = dt.em_dataset(_fitted_em(), NAMES)
    out, perm = relabel_draws(post, em, method="stephens", X=da)
    ref, perm_ref = relabel_draws(post, em, method="stephens", X=X)
    np.testing.assert_array_equal(perm.values, perm_ref.values)
    from bayesgmm.selection import occupied_components

    np.testing.assert_array_equal(occupied_components(post, da, random_state=0)["occupied"].values,
                                  occupied_components(post, X, random_state=0)["occupied"].values)


def test_membership_plot_agrees_with_the_numpy_array():
    membership = membership_summary(_fake_posterior(NAMES), X)
    ax = plots.membership_uncertainty(membership, _feature_obs())
    ref = plots.membership_uncertainty(membership, X)
    (pts,) = [c for c in ax.collections if c.get_gid() == GID_POINTS]
    (pts_ref,) = [c for c in ref.collections if c.get_gid() == GID_POINTS]
    np.testing.assert_array_equal(pts.get_offsets(), pts_ref.get_offsets())
    assert ax.get_xlabel() == "a" and ref.get_xlabel() == "x0"


# --------------------------------------------------------------------------- layering
def _bayesgmm_imports(module_path: pathlib.Path) -> set[str]:
    """Every bayesgmm module imported anywhere in a file (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(module_path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "bayesgmm")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "bayesgmm":
                found.update(f"bayesgmm.{a.name}" for a in node.names)
            elif node.module.startswith("bayesgmm."):
                found.add(node.module)
    return found


def test_data_module_imports_nothing_from_bayesgmm_but_exceptions():
    path = pathlib.Path(bayesgmm.__file__).parent / "_data.py"
    assert _bayesgmm_imports(path) <= {"bayesgmm.exceptions"}


def test_validation_shim_re_exports_the_data_module():
    import bayesgmm._data
    import bayesgmm._validation

    for name in bayesgmm._validation.__all__:
        assert getattr(bayesgmm._validation, name) is getattr(bayesgmm._data, name)
    from bayesgmm.model import prepare_data as from_model

    assert from_model is prepare_data


def test_docstring_examples_run():
    import doctest

    import bayesgmm._data

    res = doctest.testmod(bayesgmm._data, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0
