import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import special, stats

from bayesgmm.model import COVARIANCE_PRIORS, build_model, mixture_loglik, prepare_data
from bayesgmm.priors import Priors

FAST = "FAST_COMPILE"
TYPES = ["full", "tied", "diag", "spherical"]


def _data(N=30, D=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, D)) * [1.0, 3.0][:D] + [0.0, 10.0][:D] if D <= 2 else rng.normal(size=(N, D))


def _brute_loglik(X, w, mu, cov):
    dens = np.stack([w[k] * stats.multivariate_normal(mu[k], cov[k]).pdf(X) for k in range(len(w))], axis=1)
    return np.log(dens.reshape(len(X), -1).sum(axis=1))


def _fn(m, outs):
    """Compile model quantities as a function of the (transformed) value variables."""
    single = not isinstance(outs, list)
    outs = [outs] if single else outs
    f = m.compile_fn(m.replace_rvs_by_values(outs), inputs=m.value_vars, mode=FAST, on_unused_input="ignore")
    return (lambda p: f(p)[0]) if single else f


def _random_params(K, D, rng):
    w = rng.dirichlet(np.ones(K) * 3)
    mu = rng.normal(size=(K, D))
    L = np.tril(rng.normal(size=(K, D, D)) * 0.3)
    L[:, np.arange(D), np.arange(D)] = rng.uniform(0.5, 1.5, size=(K, D))
    return w, mu, L


@pytest.mark.parametrize("K,D", [(1, 1), (3, 2), (2, 4)])
def test_mixture_loglik_matches_scipy(K, D):
    rng = np.random.default_rng(K * 10 + D)
    X = rng.normal(size=(25, D))
    w, mu, L = _random_params(K, D, rng)
    v, ww, mm, ll = pt.matrix(), pt.vector(), pt.matrix(), pt.tensor3()
    f = pytensor.function([v, ww, mm, ll], mixture_loglik(v, ww, mm, ll), mode=FAST)
    got = f(X, w, mu, L)
    np.testing.assert_allclose(got, _brute_loglik(X, w, mu, L @ np.swapaxes(L, 1, 2)), rtol=1e-10)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_variables_dims_and_coords(covariance_type):
    df = pd.DataFrame(_data(30, 2), columns=["eruptions", "waiting"], index=np.arange(100, 130))
    m = build_model(df, 3, covariance_type)
    free = {v.name for v in m.free_RVs}
    expected = {
        "full": {"weights", "means", "chol_cov_0", "chol_cov_1", "chol_cov_2"},
        "tied": {"weights", "means", "chol_cov"},
        "diag": {"weights", "means", "sds"},
        "spherical": {"weights", "means", "sd"},
    }[covariance_type]
    assert free == expected
    assert list(m.coords["feature"]) == ["eruptions", "waiting"]
    assert list(m.coords["obs"]) == list(range(100, 130))
    assert list(m.coords["component"]) == [0, 1, 2]
    assert m.named_vars_to_dims["covariances"] == ("component", "feature", "feature_bis")
    assert m.named_vars_to_dims["sds"] == ("component", "feature")
    assert m.named_vars_to_dims["X"] == ("obs", "feature")
    assert ("correlations" in m.named_vars) == (covariance_type in ("full", "tied"))
    assert [v.name for v in m.observed_RVs] == ["X"]
    assert "X_data" in m.named_vars  # data are a model input, not a constant


@pytest.mark.parametrize("covariance_type", TYPES)
def test_total_logp_matches_brute_force(covariance_type):
    """Whole-model log density (constrained, no Jacobian) at a random point vs scipy."""
    X = _data(30, 2, seed=3)
    K = 2
    pri = Priors(weights_alpha=[1.5, 2.5], lkj_eta=3.0)
    m = build_model(X, K, covariance_type, pri)
    rp = pri.resolve(X, K)
    rng = np.random.default_rng(5)
    ip = m.initial_point()
    point = {k: v + rng.normal(scale=0.3, size=v.shape) for k, v in ip.items()}
    logp = m.compile_logp(jacobian=False, mode=FAST)(point)
    det = _fn(m, [m["weights"], m["means"], m["covariances"], m["sds"]])
    w, mu, cov, sds = det(point)

    ref = stats.dirichlet(rp.weights_alpha).logpdf(w)
    ref += stats.norm(rp.mean_loc, rp.mean_sd).logpdf(mu).sum()
    ref += _brute_loglik(X, w, mu, cov).sum()
    if covariance_type == "diag":
        ref += stats.halfnorm(scale=rp.sd_sigma).logpdf(sds).sum()
    elif covariance_type == "spherical":
        ref += stats.halfnorm(scale=rp.sd_sigma_spherical).logpdf(sds[:, 0]).sum()
    else:
        # D = 2: density of the packed Cholesky factor (L00, L10, L11) is
        # HN(sd0) HN(sd1) LKJ(rho) * |d(sd0, sd1, rho)/dL| = ... * sqrt(1 - rho^2) / sd1
        eta = rp.lkj_eta
        covs = cov[:1] if covariance_type == "tied" else cov
        for c in covs:
            s = np.sqrt(np.diag(c))
            rho = c[0, 1] / (s[0] * s[1])
            lkj = (eta - 1) * np.log1p(-(rho**2)) - (2 * eta - 1) * np.log(2) - special.betaln(eta, eta)
            ref += stats.halfnorm(scale=rp.sd_sigma).logpdf(s).sum() + lkj + 0.5 * np.log1p(-(rho**2)) - np.log(s[1])
    np.testing.assert_allclose(logp, ref, rtol=1e-9)


def test_covariances_follow_sklearn_meaning():
    X = _data(30, 2)
    m = build_model(X, 3, "tied")
    ip = m.initial_point()
    cov = _fn(m, m["covariances"])(ip)
    assert cov.shape == (3, 2, 2)
    np.testing.assert_allclose(cov[0], cov[1])
    m = build_model(X, 3, "spherical")
    rng = np.random.default_rng(0)
    point = {k: v + rng.normal(size=v.shape) for k, v in m.initial_point().items()}
    cov, sds = _fn(m, [m["covariances"], m["sds"]])(point)
    for k in range(3):
        np.testing.assert_allclose(cov[k], np.eye(2) * sds[k, 0] ** 2)
    assert not np.allclose(sds[0, 0], sds[1, 0])


def test_set_data_reuses_compiled_function():
    X1 = _data(30, 2, seed=1)
    X2 = _data(45, 2, seed=2)
    m = build_model(X1, 2, "full")
    ll = m.logp(vars=[m["X"]], sum=False)[0]
    f = _fn(m, ll)
    ip = m.initial_point()
    det = _fn(m, [m["weights"], m["means"], m["covariances"]])
    w, mu, cov = det(ip)
    np.testing.assert_allclose(f(ip), _brute_loglik(X1, w, mu, cov), rtol=1e-10)
    with m:
        pm.set_data({"X_data": X2}, coords={"obs": np.arange(45)})
    got = f(ip)
    assert got.shape == (45,)
    np.testing.assert_allclose(got, _brute_loglik(X2, w, mu, cov), rtol=1e-10)


@pytest.mark.parametrize("K,D", [(1, 1), (1, 3), (2, 1)])
@pytest.mark.parametrize("covariance_type", TYPES)
def test_small_shapes_build_and_evaluate(K, D, covariance_type):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, D))
    m = build_model(X, K, covariance_type)
    ip = m.initial_point()
    v = m.compile_logp(mode=FAST)(ip)
    g = m.compile_dlogp(mode=FAST)(ip)
    assert np.isfinite(v) and np.all(np.isfinite(g))
    cov = _fn(m, m["covariances"])(ip)
    assert cov.shape == (K, D, D)


def test_prior_predictive_simulates_data():
    X = _data(40, 2)
    m = build_model(X, 2, "diag")
    with m, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp = pm.sample_prior_predictive(draws=200, random_seed=3, compile_kwargs={"mode": FAST})
    sim = pp["prior_predictive"]["X"]
    assert sim.sizes["obs"] == 40 and sim.sizes["feature"] == 2
    # prior predictive of each feature has mean ~ data mean and sd ~ sqrt(mean_sd^2 + sd prior 2nd moment)
    rp = Priors().resolve(X, 2)
    vals = sim.values.reshape(-1, 2)
    expected_sd = np.sqrt(rp.mean_sd**2 + rp.sd_sigma**2)  # E[sd^2] of HalfNormal(s) is s^2
    assert np.all(np.abs(vals.mean(axis=0) - rp.mean_loc) < 0.25 * expected_sd)
    np.testing.assert_allclose(vals.std(axis=0), expected_sd, rtol=0.25)


def test_random_matches_mixture_moments():
    from bayesgmm.model import _mixture_random

    w = np.array([0.2, 0.8])
    mu = np.array([[0.0, 0.0], [4.0, -2.0]])
    L = np.array([[[1.0, 0.0], [0.5, 0.5]], [[2.0, 0.0], [0.0, 0.1]]])
    draws = _mixture_random(w, mu, L, rng=np.random.default_rng(0), size=(200_000,))
    m = w @ mu
    cov = sum(w[k] * (L[k] @ L[k].T + np.outer(mu[k] - m, mu[k] - m)) for k in range(2))
    np.testing.assert_allclose(draws.mean(axis=0), m, atol=0.02)
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=0.05)


def test_does_not_modify_input():
    df = pd.DataFrame(_data(20, 2), columns=["a", "b"])
    before = df.copy()
    build_model(df, 2, "diag")
    pd.testing.assert_frame_equal(df, before)


def test_bad_input_messages():
    X = _data(20, 2)
    with pytest.raises(ValueError, match="covariance_type` must be one of"):
        build_model(X, 2, "fullish")
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        build_model(X, 0)
    with pytest.raises(TypeError, match="n_components must be an int"):
        build_model(X, 2.5)
    with pytest.raises(ValueError, match="2D array"):
        build_model(X[:, 0], 2)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        build_model(Xn, 2)
    with pytest.raises(TypeError, match="priors must be"):
        build_model(X, 2, priors=3)
    with pytest.raises(TypeError, match="not numeric|non-numeric"):
        prepare_data(pd.DataFrame({"a": [1.0, 2.0], "b": ["u", "v"]}))


def test_prior_keys_match_em_registry():
    from bayesgmm.covariance import COVARIANCE_TYPES

    assert set(COVARIANCE_TYPES) == set(COVARIANCE_PRIORS)
