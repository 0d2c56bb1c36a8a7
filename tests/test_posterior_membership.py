import tracemalloc

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from bayesgmm.posterior import (
    membership_summary,
    pointwise_log_likelihood,
    posterior_predictive_log_density,
    predictive_membership,
)
from test_posterior_helpers import draws_around, posterior_dataset, sample_data, truth


def brute_force(w, m, c, X):
    """Full (chain, draw, obs, component) arrays with scipy's multivariate normal."""
    C, S, K, D = m.shape
    logp = np.empty((C, S, X.shape[0], K))
    for a in range(C):
        for s in range(S):
            for k in range(K):
                logp[a, s, :, k] = np.log(w[a, s, k]) + multivariate_normal(
                    m[a, s, k], c[a, s, k]
                ).logpdf(X)
    return logp


@pytest.fixture(scope="module")
def small():
    W, M, Cv = truth(K=3, D=2, sep=2.5, seed=1)  # overlapping: non-trivial memberships
    w, m, c = draws_around(W, M, Cv, chains=2, draws=30, scale=0.3)
    X, _ = sample_data(W, M, Cv, 40)
    return w, m, c, X


def test_membership_equals_bruteforce(small):
    w, m, c, X = small
    logp = brute_force(w, m, c, X)
    r = np.exp(logp - logsumexp(logp, axis=-1, keepdims=True)).reshape(-1, 40, 3)
    out = membership_summary(posterior_dataset(w, m, c), X, ci_prob=0.9, ci_kind="eti")
    prob = r.mean(axis=0)
    np.testing.assert_allclose(out["probability"].values, prob, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["lower"].values, np.quantile(r, 0.05, axis=0), atol=1e-12)
    np.testing.assert_allclose(out["upper"].values, np.quantile(r, 0.95, axis=0), atol=1e-12)
    ent = -(prob * np.log(prob)).sum(-1)
    np.testing.assert_allclose(out["entropy"].values, ent, rtol=1e-9)
    exp_ent = (-(r * np.log(np.where(r > 0, r, 1.0))).sum(-1)).mean(0)
    np.testing.assert_allclose(out["expected_entropy"].values, exp_ent, rtol=1e-9)
    assert np.all(out["entropy"].values >= out["expected_entropy"].values - 1e-12)
    best = prob.argmax(-1)
    np.testing.assert_array_equal(out["assignment"].values, best)
    np.testing.assert_allclose(out["probability_max"].values, prob[np.arange(40), best])
    rb = r[:, np.arange(40), best]
    np.testing.assert_allclose(out["probability_max_lower"].values, np.quantile(rb, 0.05, axis=0))
    np.testing.assert_allclose(out["probability_max_upper"].values, np.quantile(rb, 0.95, axis=0))
    assert out["probability"].dims == ("obs", "component")
    assert out.attrs["ci_prob"] == 0.9 and out["lower"].attrs["interval"] == "equal-tailed"
    # memberships are non-trivial here (otherwise the test could not fail meaningfully)
    assert (out["entropy"] > 0.3).sum() >= 3


@pytest.mark.parametrize("obs_chunk", [1, 7, 40])
def test_chunked_equals_unchunked(small, obs_chunk):
    w, m, c, X = small
    post = posterior_dataset(w, m, c)
    ref = membership_summary(post, X, obs_chunk=1000)
    out = membership_summary(post, X, obs_chunk=obs_chunk)
    xr.testing.assert_allclose(ref, out, rtol=1e-12, atol=1e-14)
    tiny = membership_summary(post, X, memory_budget=1)  # one observation per chunk
    xr.testing.assert_allclose(ref, tiny, rtol=1e-12, atol=1e-14)


def test_log_density_and_pointwise_loglik_equal_bruteforce(small):
    w, m, c, X = small
    logp = brute_force(w, m, c, X)
    ll = logsumexp(logp, axis=-1)  # (C, S, N)
    post = posterior_dataset(w, m, c)
    out = pointwise_log_likelihood(post, X, obs_chunk=9)
    assert out.dims == ("chain", "draw", "obs") and out.name == "X"
    np.testing.assert_allclose(out.values, ll, rtol=1e-10)
    dens = posterior_predictive_log_density(post, X, obs_chunk=11)
    expected = logsumexp(ll.reshape(-1, 40), axis=0) - np.log(60)
    np.testing.assert_allclose(dens.values, expected, rtol=1e-10)
    assert dens.dims == ("obs",)


def test_predictive_membership_new_points_and_dataframe():
    W, M, Cv = truth(K=2, D=2, sep=4.0, seed=2)
    w, m, c = draws_around(W, M, Cv, chains=2, draws=25, scale=0.1)
    post = posterior_dataset(w, m, c)
    mid = (M[0] + M[1]) / 2
    Xn = pd.DataFrame(np.vstack([M, mid]), columns=["x0", "x1"], index=["a", "b", "mid"])
    out = predictive_membership(post, Xn)
    assert list(out["obs"].values) == ["a", "b", "mid"]
    assert out["assignment"].sel(obs="a") == 0 and out["assignment"].sel(obs="b") == 1
    assert float(out["probability_max"].sel(obs="a")) > 0.99
    # the midpoint is uncertain, with a wide interval
    assert 0.2 < float(out["probability"].sel(obs="mid", component=0)) < 0.8
    width = out["upper"] - out["lower"]
    assert float(width.sel(obs="mid", component=0)) > 5 * float(width.sel(obs="a", component=0))
    assert float(out["entropy"].sel(obs="mid")) > 0.3


def test_membership_does_not_materialise_4d_array():
    W, M, Cv = truth(K=4, D=2, sep=3.0, seed=3)
    w, m, c = draws_around(W, M, Cv, chains=2, draws=250, scale=0.1)
    X, _ = sample_data(W, M, Cv, 6000)
    post = posterior_dataset(w, m, c)
    full_bytes = 2 * 250 * 6000 * 4 * 8  # 96 MB
    budget = 4 * 2**20
    tracemalloc.start()
    try:
        out = membership_summary(post, X, memory_budget=budget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < full_bytes / 5, (peak, full_bytes)
    assert out.sizes == {"obs": 6000, "component": 4}
    # chunk results agree with a direct computation on a few observations
    sub = membership_summary(post, X[:5])
    np.testing.assert_allclose(out["probability"].values[:5], sub["probability"].values)


def test_membership_input_validation(small):
    w, m, c, X = small
    post = posterior_dataset(w, m, c)
    X_copy = X.copy()
    membership_summary(post, X)
    np.testing.assert_array_equal(X, X_copy)
    with pytest.raises(ValueError, match="X has 3 features but the posterior has 2"):
        membership_summary(post, np.zeros((4, 3)))
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN or infinite values \(first rows: \[3\]\)"):
        membership_summary(post, bad)
    with pytest.raises(ValueError, match="ci_prob must be in"):
        membership_summary(post, X, ci_prob=94)
    with pytest.raises(ValueError, match="obs_chunk must be a positive integer"):
        membership_summary(post, X, obs_chunk=0)
    with pytest.raises(TypeError, match="X must contain numbers"):
        membership_summary(post, np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="feature names"):
        membership_summary(post, pd.DataFrame(X, columns=["x1", "x0"]))
    with pytest.raises(ValueError, match="X_new must be 2-D"):
        predictive_membership(post, np.zeros(2))
    c_bad = c.copy()
    c_bad[0, 0, 0] = [[1.0, 2.0], [2.0, 1.0]]  # indefinite
    with pytest.raises(ValueError, match=r"1 matrices that are not positive definite \(first at index \[\(0, 0\)\]"):
        membership_summary(posterior_dataset(w, m, c_bad), X)


def test_batched_precision_cholesky_matches_shared_kernel():
    from bayesgmm.covariance import get_covariance_type
    from bayesgmm.posterior._common import precision_cholesky_full

    W, M, Cv = truth(K=3, D=4, seed=8)
    _, _, c = draws_around(W, M, Cv, chains=2, draws=7, scale=0.3)
    mine = precision_cholesky_full(c)
    full = get_covariance_type("full")
    ref = np.stack([full.precision_cholesky(c[a, s]) for a in range(2) for s in range(7)])
    np.testing.assert_allclose(mine.reshape(ref.shape), ref, rtol=1e-10, atol=1e-12)
    P = mine[1, 3, 2]
    np.testing.assert_allclose(P @ P.T, np.linalg.inv(c[1, 3, 2]), rtol=1e-9)


def test_membership_accepts_dataarray_and_handles_duplicate_index(small):
    w, m, c, X = small
    post = posterior_dataset(w, m, c)
    ref = membership_summary(post, X)
    da = xr.DataArray(X.T, dims=("feature", "obs"), coords={"feature": ["x0", "x1"], "obs": np.arange(40) * 10})
    out = membership_summary(post, da)
    np.testing.assert_allclose(out["probability"].values, ref["probability"].values)
    np.testing.assert_array_equal(out["obs"].values, np.arange(40) * 10)
    df = pd.DataFrame(X, columns=["x0", "x1"], index=[0] * 40)  # not unique -> 0..N-1
    out = membership_summary(post, df)
    np.testing.assert_array_equal(out["obs"].values, np.arange(40))
    # a DataTree with a posterior group works as well
    tree = xr.DataTree.from_dict({"posterior": post})
    xr.testing.assert_identical(membership_summary(tree, X), ref)


# ---------------------------------------------- ArviZ 1.x interval names; the wide table
def _tiny_posterior():
    rng = np.random.default_rng(3)
    S = 200
    means = np.stack([rng.normal(0.0, 0.3, S), rng.normal(3.0, 0.3, S)], axis=1)[None, :, :, None]
    return xr.Dataset({
        "weights": (("chain", "draw", "component"), np.full((1, S, 2), 0.5)),
        "means": (("chain", "draw", "component", "feature"), means),
        "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
                        np.ones((1, S, 2, 1, 1))),
    })


def test_ci_defaults_follow_arviz_rcparams_and_hdi_prob_is_deprecated():
    from arviz_base import rc_context

    post, X = _tiny_posterior(), np.array([[0.0], [1.5], [3.0]])
    with rc_context({"stats.ci_prob": 0.8, "stats.ci_kind": "hdi"}):
        out = membership_summary(post, X)
    assert out.attrs["ci_prob"] == 0.8 and out.attrs["ci_kind"] == "hdi"
    assert out.attrs["interval"] == "highest density"
    explicit = membership_summary(post, X, ci_prob=0.8, ci_kind="hdi")
    xr.testing.assert_identical(out, explicit)
    with pytest.warns(FutureWarning, match="hdi_prob is deprecated.*ci_prob"):
        old = membership_summary(post, X, hdi_prob=0.8, ci_kind="eti")
    xr.testing.assert_identical(old, membership_summary(post, X, ci_prob=0.8, ci_kind="eti"))
    with pytest.raises(ValueError, match="ci_kind must be 'eti'"):
        membership_summary(post, X, ci_kind="quantile")


def test_hdi_bounds_are_the_narrowest_window():
    from bayesgmm.posterior._common import interval_bounds

    rng = np.random.default_rng(0)
    x = rng.exponential(size=(3, 2000))
    lo, hi = interval_bounds(x, 0.9, "hdi", axis=1)
    elo, ehi = interval_bounds(x, 0.9, "eti", axis=1)
    assert np.all(hi - lo < ehi - elo)  # a skewed distribution: HDI is narrower
    inside = ((x >= lo[:, None]) & (x <= hi[:, None])).mean(axis=1)
    np.testing.assert_allclose(inside, 0.9, atol=1e-3)
    np.testing.assert_allclose(lo, 0.0, atol=0.01)  # the exponential's densest point is 0


def test_membership_table_is_wide_and_a_point_mass_reads_as_one():
    from bayesgmm.posterior import membership_table

    post, X = _tiny_posterior(), np.array([[-2.0], [1.5], [5.0]])
    mem = membership_summary(post, X, ci_prob=0.9, ci_kind="eti")
    table = membership_table(mem, pd.DataFrame(X, columns=["x"]))
    assert list(table.index) == [0, 1, 2] and table.index.name == "obs"
    assert list(table.columns) == ["x", "component", "probability", "lower", "upper", "entropy",
                                   "probability_0", "lower_0", "upper_0",
                                   "probability_1", "lower_1", "upper_1"]
    np.testing.assert_array_equal(table["component"], mem["assignment"])
    np.testing.assert_array_equal(table["probability_1"], mem["probability"].sel(component=1))
    assert table.attrs["ci_prob"] == 0.9
    # row 0: every draw puts it in component 0 with probability 1 - ~1e-5
    rounded = membership_table(mem, decimals=3)
    assert "x" not in rounded.columns
    assert rounded.loc[0, "probability"] == rounded.loc[0, "lower"] == rounded.loc[0, "upper"] == 1.0
    ok = (rounded["lower"] <= rounded["probability"]) & (rounded["probability"] <= rounded["upper"])
    assert ok.all()
    with pytest.raises(TypeError, match="membership must be"):
        membership_table(mem.to_dataframe())
