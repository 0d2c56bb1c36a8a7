"""Tests of the result-tree layer: assembly against brute force, accessors, exact save/load."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from bayesgmm import _datatree as dt
from bayesgmm.covariance import get_covariance_type
from bayesgmm.datasets import make_mixture
from bayesgmm.posterior import pointwise_log_likelihood


def _fit_em(X, K, covariance_type="full"):
    from bayesgmm.em import GaussianMixture

    return GaussianMixture(K, covariance_type=covariance_type, random_state=0).fit(X)


def _fake_draws(em, C=2, S=30, seed=0):
    """Draws scattered around an EM fit (full covariances), as a sampler would give."""
    rng = np.random.default_rng(seed)
    K, D = em.means_.shape
    full = get_covariance_type(em.covariance_type).to_full(em.covariances_, K, n_features=D)
    w = np.abs(em.weights_ + rng.normal(scale=0.01, size=(C, S, K)))
    w /= w.sum(-1, keepdims=True)
    m = em.means_ + rng.normal(scale=0.05, size=(C, S, K, D))
    scale = np.exp(rng.normal(scale=0.05, size=(C, S, K, 1, 1)))
    c = full * scale
    return w, m, c


def _tree(n=120, K=2, D=2, covariance_type="full", C=2, S=30, X=None, obs=None, names=None,
          sample_stats=None, log_likelihood="auto", **kw):
    if X is None:
        X = make_mixture(n, K, D, covariance_type=covariance_type, random_state=3).X
    em = _fit_em(X, K, covariance_type)
    w, m, c = _fake_draws(em, C, S)
    names = names or [f"x{i}" for i in range(X.shape[1])]
    post = dt.parameter_dataset(w, m, c, feature_names=names, leading=("chain", "draw"),
                                covariance_type=covariance_type)
    perm = np.broadcast_to(np.arange(K), (C, S, K))
    ll = None  # the estimator's policy: ask the storage layer, compute, pass the values in
    if dt.store_log_likelihood(log_likelihood, C, S, X.shape[0]):
        ll = pointwise_log_likelihood(post, X).transpose("chain", "draw", "obs").to_numpy()
    tree = dt.build_tree(
        posterior=post, sample_stats=sample_stats, permutation=perm, em=em, X=X, obs=obs,
        feature_names=names, covariance_type=covariance_type, method="nuts",
        model_config={"lkj_eta": 2.0, "weights_alpha": [1.0, 1.0]},
        sampler_config={"draws": S, "chains": C, "random_seed": np.int64(7)},
        log_likelihood=ll, **kw,
    )
    return tree, em, (w, m, c), X


def test_parameter_dataset_sds_and_correlations_brute_force():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(2, 3, 4, 3, 3))
    cov = A @ np.swapaxes(A, -1, -2) + np.eye(3)
    ds = dt.parameter_dataset(np.full((2, 3, 4), 0.25), np.zeros((2, 3, 4, 3)), cov,
                              feature_names=["a", "b", "c"], leading=("chain", "draw"))
    for idx in [(0, 0, 0), (1, 2, 3)]:
        S = cov[idx]
        sd = np.sqrt(np.diag(S))
        np.testing.assert_allclose(ds["sds"].values[idx], sd, rtol=1e-14)
        np.testing.assert_allclose(ds["correlations"].values[idx], S / np.outer(sd, sd), rtol=1e-13)
    assert np.all(np.diagonal(ds["correlations"].values, axis1=-2, axis2=-1) == 1.0)
    assert ds["feature"].dtype.kind == "U"
    diag = dt.parameter_dataset(np.ones(1), np.zeros((1, 2)), np.eye(2)[None],
                                feature_names=["a", "b"], covariance_type="diag")
    assert "correlations" not in diag  # the contract: correlations for full/tied only


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_em_group_matches_estimator(cov_type):
    d = make_mixture(200, 2, 3, covariance_type=cov_type, random_state=1)
    em = _fit_em(d.X, 2, cov_type)
    ds = dt.em_dataset(em, ["a", "b", "c"])
    full = ds["covariances"].values
    assert full.shape == (2, 3, 3)
    # expand the sklearn layout by hand
    c = em.covariances_
    for k in range(2):
        expected = {"full": lambda: c[k], "tied": lambda: c, "diag": lambda: np.diag(c[k]),
                    "spherical": lambda: c[k] * np.eye(3)}[cov_type]()
        np.testing.assert_array_equal(full[k], expected)
    np.testing.assert_array_equal(ds["weights"].values, em.weights_)
    np.testing.assert_array_equal(ds["means"].values, em.means_)
    assert ("correlations" in ds) == (cov_type in ("full", "tied"))
    assert ds.attrs["converged"] == int(em.converged_)
    assert ds.attrs["n_iter"] == em.n_iter_
    assert json.loads(ds.attrs["params"])["covariance_type"] == cov_type


def test_build_tree_layout_and_log_likelihood_brute_force():
    tree, em, (w, m, c), X = _tree(n=90, K=3, S=20)
    assert set(tree.children) == {"posterior", "sample_stats", "log_likelihood",
                                  "observed_data", "em"}
    post = dt.get_posterior(tree)
    assert post["weights"].dims == ("chain", "draw", "component")
    assert post["covariances"].dims == ("chain", "draw", "component", "feature", "feature_bis")
    np.testing.assert_array_equal(post["means"].values, m)
    assert dt.get_permutation(tree).dims == ("chain", "draw", "component")
    np.testing.assert_array_equal(dt.get_observed(tree).values, X)
    ll = dt.get_log_likelihood(tree)
    assert ll.dims == ("chain", "draw", "obs") and ll.shape == (2, 20, 90)
    for ci, si in [(0, 0), (1, 13)]:
        brute = logsumexp(
            [np.log(w[ci, si, k]) + multivariate_normal(m[ci, si, k], c[ci, si, k]).logpdf(X)
             for k in range(3)], axis=0)
        np.testing.assert_allclose(ll.values[ci, si], brute, rtol=1e-10, atol=1e-10)
    cfg = dt.get_config(tree)
    assert cfg["n_components"] == 3 and cfg["method"] == "nuts" and cfg["relabelled"] is True
    assert cfg["model_config"]["weights_alpha"] == [1.0, 1.0]
    assert cfg["sampler_config"]["random_seed"] == 7
    assert cfg["bayesgmm_version"]
    assert dt.get_feature_names(tree) == ["x0", "x1"]


def test_log_likelihood_optional_and_auto_skip(monkeypatch):
    tree, *_ = _tree(log_likelihood=False)
    assert not dt.has_log_likelihood(tree)
    with pytest.raises(ValueError, match="log_likelihood=True"):
        dt.get_log_likelihood(tree)
    monkeypatch.setattr(dt, "LOG_LIKELIHOOD_MAX_BYTES", 1000)
    with pytest.warns(UserWarning, match="not stored"):
        tree, *_ = _tree()
    assert not dt.has_log_likelihood(tree)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tree, *_ = _tree(log_likelihood=True)
    assert dt.has_log_likelihood(tree)
    with pytest.raises(ValueError, match="log_likelihood must be"):
        _tree(log_likelihood="yes")


def _nutpie_like_stats(C, S):
    rng = np.random.default_rng(5)
    msg = np.full((C, S), None, dtype=object)
    msg[0, 3] = "Divergence: energy error"
    div = np.zeros((C, S), bool)
    div[0, 3] = True
    return xr.Dataset(
        {
            "diverging": (("chain", "draw"), div),
            "divergence_message": (("chain", "draw"), msg),
            "n_steps": (("chain", "draw"), rng.integers(1, 30, (C, S)).astype(np.uint64)),
            "step_size": (("chain", "draw"), rng.uniform(0.1, 1, (C, S))),
            "depth": (("chain", "draw"), rng.integers(1, 5, (C, S)).astype(np.uint64)),
        },
        coords={"chain": np.arange(C), "draw": np.arange(S)},
        attrs={"inference_library": "nutpie", "tuned": True},
    )


def test_object_sample_stats_are_made_netcdf_safe():
    tree, *_ = _tree(sample_stats=_nutpie_like_stats(2, 30))
    ss = dt.get_sample_stats(tree)
    msg = ss["divergence_message"]
    assert msg.dtype.kind == "U"
    assert msg.values[0, 3] == "Divergence: energy error" and msg.values[0, 0] == ""
    assert ss.attrs["tuned"] == 1  # bool attrs stored as int


@pytest.mark.parametrize("cov_type", ["full", "spherical"])
def test_save_load_round_trip_is_exact(tmp_path, cov_type):
    X = make_mixture(60, 2, 2, covariance_type=cov_type, random_state=2).X
    idx = pd.Index([f"obs_{i}" for i in range(60)])  # string obs coordinate
    tree, *_ = _tree(X=X, obs=idx, names=["eruptions", "waiting"], covariance_type=cov_type,
                     sample_stats=_nutpie_like_stats(2, 30))
    path = tmp_path / "fit.nc"
    dt.save(tree, path)
    loaded = dt.load(path)
    xr.testing.assert_identical(loaded, tree)
    for node in tree.subtree:
        other = loaded[node.path] if node.path != "/" else loaded
        for name, var in node.to_dataset(inherit=False).variables.items():
            got = other.to_dataset(inherit=False)[name]
            assert got.dtype == var.dtype, (node.path, name)
            np.testing.assert_array_equal(got.values, var.values)
    assert dt.get_feature_names(loaded) == ["eruptions", "waiting"]
    assert dt.get_obs(loaded)[5] == "obs_5"
    assert dt.get_config(loaded) == dt.get_config(tree)
    assert loaded["sample_stats"]["n_steps"].dtype == np.uint64
    assert loaded["sample_stats"]["diverging"].dtype == bool


def test_save_load_datetime_and_int_obs(tmp_path):
    X = make_mixture(40, 2, 2, random_state=4).X
    idx = pd.date_range("2024-01-01", periods=40, freq="h")
    tree, *_ = _tree(X=X, obs=idx)
    dt.save(tree, tmp_path / "a.nc")
    xr.testing.assert_identical(dt.load(tmp_path / "a.nc"), tree)
    tree2, *_ = _tree(X=X, obs=np.arange(100, 140))
    dt.save(tree2, str(tmp_path / "b.nc"))
    loaded = dt.load(str(tmp_path / "b.nc"))
    xr.testing.assert_identical(loaded, tree2)
    assert dt.get_obs(loaded)[0] == 100


def test_save_converts_object_variables_with_warning(tmp_path):
    tree, *_ = _tree()
    tree["sample_stats"]["note"] = xr.DataArray(
        np.array([[None] * 30, ["x"] * 30], dtype=object), dims=("chain", "draw"))
    with pytest.warns(UserWarning, match="Object-dtype"):
        dt.save(tree, tmp_path / "c.nc")
    back = dt.load(tmp_path / "c.nc")
    assert back["sample_stats"]["note"].values[0, 0] == ""
    assert back["sample_stats"]["note"].values[1, 0] == "x"
    # the caller's tree is untouched
    assert tree["sample_stats"]["note"].dtype == object


def test_load_and_save_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file"):
        dt.load(tmp_path / "missing.nc")
    junk = tmp_path / "junk.nc"
    junk.write_text("not a netcdf file")
    with pytest.raises(ValueError, match="netCDF-4/HDF5"):
        dt.load(junk)
    other = tmp_path / "other.nc"
    xr.DataTree(xr.Dataset({"a": ("x", [1.0])})).to_netcdf(other, engine="h5netcdf")
    with pytest.raises(ValueError, match="not a bayesgmm result"):
        dt.load(other)
    with pytest.raises(TypeError, match="path must be a file path"):
        dt.load(3)
    tree, *_ = _tree()
    with pytest.raises(ValueError, match="does not exist"):
        dt.save(tree, tmp_path / "nodir" / "x.nc")
    with pytest.raises(TypeError, match="xarray.DataTree"):
        dt.save({"a": 1}, tmp_path / "x.nc")


def test_accessor_errors():
    with pytest.raises(TypeError, match="DataTree"):
        dt.get_posterior(xr.Dataset())
    bare = xr.DataTree()
    with pytest.raises(ValueError, match="no 'posterior' group"):
        dt.get_posterior(bare)
    with pytest.raises(ValueError, match="root attributes"):
        dt.get_config(bare)
    assert dt.get_sample_stats(bare) is None
    assert dt.get_permutation(bare) is None


def test_build_tree_rejects_bad_permutation():
    X = make_mixture(50, 2, 2, random_state=0).X
    em = _fit_em(X, 2)
    w, m, c = _fake_draws(em)
    post = dt.parameter_dataset(w, m, c, feature_names=["a", "b"], leading=("chain", "draw"))
    with pytest.raises(ValueError, match="permutation must have shape"):
        dt.build_tree(posterior=post, sample_stats=None, permutation=np.zeros((1, 2, 2)), em=em,
                      X=X, feature_names=["a", "b"], covariance_type="full", method="nuts",
                      model_config={}, sampler_config={})


@pytest.mark.parametrize("module_name", ["bayesgmm._datatree", "bayesgmm.diagnostics"])
def test_docstring_examples_run(module_name):
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(module_name),
                          optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("D", [1, 3, 6])
def test_em_state_rebuilds_the_estimator_exactly(tmp_path, cov_type, D):
    from bayesgmm.em import GaussianMixture

    X = make_mixture(120, 2, D, covariance_type=cov_type, random_state=D).X
    tree, em, *_ = _tree(X=X, covariance_type=cov_type, log_likelihood=False)
    dt.save(tree, tmp_path / "fit.nc")
    state = dt.get_em_state(dt.load(tmp_path / "fit.nc"))
    back = GaussianMixture._from_state(**state)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(em, name), err_msg=name)
    assert back.get_params() == em.get_params()
    assert (back.converged_, back.n_iter_, back.lower_bound_) == (em.converged_, em.n_iter_,
                                                                  em.lower_bound_)
    assert back.lower_bounds_ == list(em.lower_bounds_)
    assert back.n_features_in_ == D and not hasattr(back, "feature_names_in_")
    np.testing.assert_array_equal(back.predict_proba(X), em.predict_proba(X))
    names = [f"f{i}" for i in range(D)]
    named = GaussianMixture._from_state(**state, feature_names_in=names)
    assert named.feature_names_in_.tolist() == names


def test_datatree_imports_nothing_from_higher_layers():
    """Layout and storage only: no EM, Bayesian, posterior, inference, selection, plots, cli."""
    import ast
    import pathlib

    higher = ("em", "bayesian", "posterior", "inference", "selection", "plots", "cli", "model",
              "diagnostics", "_logdensity")
    tree = ast.parse(pathlib.Path(dt.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            if node.module == "bayesgmm":
                imported.update(f"bayesgmm.{a.name}" for a in node.names)
    bad = {m for m in imported if m.startswith("bayesgmm.") and m.split(".")[1] in higher}
    assert not bad, bad
    assert "bayesgmm.covariance" in imported  # the registry (a lower layer) is allowed
