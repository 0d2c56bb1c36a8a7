"""Tests of bayesgmm.selection: the EM grid, LOO/WAIC, the sparse overfitted mixture."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import bayesgmm as bg
from bayesgmm import _datatree
from bayesgmm.selection import (
    SPARSE_GIBBS_THIN,
    SPARSE_SPLIT_MERGE,
    ParetoKWarning,
    SelectionResult,
    SelectionWarning,
    occupied_components,
    select_components,
    waic,
)


@pytest.fixture(scope="module")
def two_blobs():
    return bg.datasets.make_mixture(120, n_components=2, n_features=2, random_state=3)


# ---------------------------------------------------------------------------
# EM grid: BIC / ICL
# ---------------------------------------------------------------------------


def _n_params(ct, k, d):
    cov = {"full": k * d * (d + 1) / 2, "tied": d * (d + 1) / 2, "diag": k * d, "spherical": k}
    return (k - 1) + k * d + cov[ct]


def test_bic_table_matches_direct_computation(two_blobs):
    X = two_blobs.X
    n, d = X.shape
    cts = ("full", "diag", "spherical", "tied")
    res = select_components(X, [1, 2, 3], cts, n_init=1, random_state=0, progressbar=False)
    t = res.table
    assert t["bic"].dims == ("n_components", "covariance_type")
    assert list(t["covariance_type"].values) == list(cts)
    for k in (1, 2, 3):
        for ct in cts:
            gm = bg.GaussianMixture(k, covariance_type=ct, n_init=1, random_state=0).fit(X)
            cell = t.sel(n_components=k, covariance_type=ct)
            # log-likelihood straight from the density of the fitted mixture
            dens = sum(
                w * multivariate_normal(m, c).pdf(X)
                for w, m, c in zip(
                    gm.weights_,
                    gm.means_,
                    bg.covariance.get_covariance_type(ct).to_full(gm.covariances_, k, d),
                )
            )
            loglik = float(np.sum(np.log(dens)))
            p = _n_params(ct, k, d)
            assert cell["log_likelihood"].item() == pytest.approx(loglik, rel=1e-9)
            assert cell["n_parameters"].item() == p
            assert cell["bic"].item() == pytest.approx(-2 * loglik + p * math.log(n), rel=1e-9)
            assert cell["aic"].item() == pytest.approx(-2 * loglik + 2 * p, rel=1e-9)
            assert cell["bic"].item() == pytest.approx(gm.bic(X), rel=1e-12)
            # mclust's ICL: BIC minus twice the log of the MAP responsibilities
            resp = gm.predict_proba(X)
            icl = -2 * loglik + p * math.log(n) - 2 * np.sum(np.log(resp.max(axis=1)))
            assert cell["icl"].item() == pytest.approx(icl, rel=1e-9)
            assert cell["bic_mclust"].item() == -cell["bic"].item()
            assert cell["icl_mclust"].item() == -cell["icl"].item()
            assert bool(cell["converged"]) == gm.converged_
            assert str(cell["message"].item()) == ""
    best = np.unravel_index(np.nanargmin(t["bic"].values), t["bic"].shape)
    assert (res.n_components, res.covariance_type) == (
        int(t["n_components"][best[0]]),
        str(t["covariance_type"][best[1]].values),
    )
    assert res.best_model is res.models[(res.n_components, res.covariance_type)]
    assert set(res.models) == {(k, ct) for k in (1, 2, 3) for ct in cts}


@pytest.mark.slow
def test_old_faithful_matches_published_mclust():
    # Scrucca, Fop, Murphy and Raftery (2016), The R Journal 8(1), "mclust 5", Old Faithful:
    # best model EEE (= tied), 3 components: log-likelihood -1126.361, df 11,
    # BIC -2314.386, ICL -2360.865 (mclust's higher-is-better signs).
    X = bg.datasets.load_old_faithful()
    res = select_components(X, range(1, 5), ("full", "tied", "diag", "spherical"), n_init=10,
                            random_state=0, progressbar=False)
    assert (res.n_components, res.covariance_type) == (3, "tied")
    cell = res.table.sel(n_components=3, covariance_type="tied")
    assert cell["n_parameters"].item() == 11
    assert cell["log_likelihood"].item() >= -1126.361 - 1e-3  # match or beat mclust's optimum
    assert cell["log_likelihood"].item() == pytest.approx(-1126.361, abs=0.05)
    assert cell["bic_mclust"].item() == pytest.approx(-2314.386, abs=0.1)
    # ICL depends on the MAP responsibilities near the cluster boundaries: looser
    assert cell["icl_mclust"].item() == pytest.approx(-2360.865, abs=5.0)


def test_icl_entropy_and_icl_method(two_blobs):
    X = two_blobs.X
    res = select_components(
        X, [2, 3], method="icl", icl_method="entropy", n_init=1, random_state=1, progressbar=False
    )
    for k in (2, 3):
        gm = res.models[(k, "full")]
        r = gm.predict_proba(X)
        ent = -np.sum(np.where(r > 0, r * np.log(np.where(r > 0, r, 1)), 0.0))
        want = gm.bic(X) + 2 * ent
        assert res.table["icl"].sel(n_components=k, covariance_type="full").item() == pytest.approx(want)
    assert res.method == "icl"
    assert res.table.attrs["criterion"] == "icl"
    assert res.n_components == int(res.table["n_components"][np.nanargmin(res.table["icl"].values[:, 0])])


def test_bic_loglik_close_to_sklearn(two_blobs):
    sk = pytest.importorskip("sklearn.mixture")
    X = two_blobs.X
    res = select_components(X, [1, 2, 3], n_init=3, random_state=0, progressbar=False)
    for k in (1, 2, 3):
        ref = sk.GaussianMixture(k, n_init=3, random_state=0).fit(X)
        assert res.table["bic"].sel(n_components=k, covariance_type="full").item() == pytest.approx(
            ref.bic(X), rel=1e-4
        )


@pytest.mark.parametrize("true_k", [1, 2, 3, 4])
def test_bic_recovers_truth_on_separated_data(true_k):
    d = bg.datasets.make_mixture(80 * true_k, n_components=true_k, separation=8.0, random_state=10 + true_k)
    res = select_components(d.X, range(1, 6), n_init=2, random_state=0, progressbar=False)
    assert res.n_components == true_k
    assert res.table.attrs["best_n_components"] == true_k


def test_failed_cells_are_nan_with_reason_and_warning():
    X = np.array([[0.0, 0.0], [0.1, 0.3], [5.0, 5.0], [5.2, 4.9], [5.1, 5.3]])
    with pytest.warns(SelectionWarning, match="1 of 3 fits failed"):
        res = select_components(X, [1, 2, 8], n_init=1, random_state=0, progressbar=False)
    cell = res.table.sel(n_components=8, covariance_type="full")
    assert np.isnan(cell["bic"].item()) and np.isnan(cell["log_likelihood"].item())
    assert "n_components" in str(cell["message"].item())
    assert res.models[(8, "full")] is None
    assert res.n_components in (1, 2)


def test_nonconvergence_is_recorded_and_warned(two_blobs):
    with pytest.warns(SelectionWarning, match="did not converge"):
        res = select_components(
            two_blobs.X, [2, 3], n_init=1, max_iter=1, random_state=0, progressbar=False
        )
    assert not res.table["converged"].values.any()
    assert "ConvergenceWarning" not in str(res.table["message"].values)  # recorded as text
    assert all("converge" in str(m).lower() for m in res.table["message"].values.ravel())


def test_same_seed_same_table_and_dataframe_view(two_blobs):
    df_in = pd.DataFrame(two_blobs.X, columns=["a", "b"])
    r1 = select_components(df_in, [1, 2, 3], ("full", "diag"), n_init=1, random_state=5, progressbar=False)
    r2 = select_components(df_in, [1, 2, 3], ("full", "diag"), n_init=1, random_state=5, progressbar=False)
    xr.testing.assert_identical(r1.table.drop_vars("seconds"), r2.table.drop_vars("seconds"))
    df = r1.to_dataframe()
    assert df.index.names == ["n_components", "covariance_type"]
    assert len(df) == 6
    assert df.loc[(2, "diag"), "bic"] == r1.table["bic"].sel(n_components=2, covariance_type="diag").item()
    assert list(r1.best_model.feature_names_in_) == ["a", "b"]
    assert "lower is better" in r1.table.attrs["convention"].lower()
    assert "SelectionResult(method='bic'" in repr(r1)


def test_progress_line_on_stderr(two_blobs, capsys):
    select_components(two_blobs.X, [1, 2], n_init=1, random_state=0, progressbar=True)
    err = capsys.readouterr().err
    assert "2/2 fits" in err
    select_components(two_blobs.X, [1, 2], n_init=1, random_state=0, progressbar=False)
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_parallel_equals_serial(two_blobs):
    kw = dict(n_init=1, random_state=2, progressbar=False)
    r1 = select_components(two_blobs.X, [1, 2, 3], ("full", "diag"), n_jobs=1, **kw)
    r2 = select_components(two_blobs.X, [1, 2, 3], ("full", "diag"), n_jobs=2, **kw)
    xr.testing.assert_identical(r1.table.drop_vars("seconds"), r2.table.drop_vars("seconds"))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"method": "aic"}, ValueError, "`method` must be one of"),
        ({"n_components": 0}, ValueError, "`n_components`"),
        ({"n_components": []}, ValueError, "`n_components`"),
        ({"n_components": "3"}, TypeError, "`n_components`"),
        ({"n_components": [1, 2.5]}, ValueError, "invalid entries"),
        ({"covariance_types": ("full", "banana")}, ValueError, "`covariance_types` contains 'banana'"),
        ({"covariance_types": ()}, ValueError, "`covariance_types` is empty"),
        ({"n_jobs": 0}, ValueError, "`n_jobs`"),
        ({"n_init": 0}, ValueError, "`n_init`"),
        ({"random_state": "zero"}, TypeError, "`random_state`"),
        ({"progressbar": "yes"}, TypeError, "`progressbar`"),
        ({"icl_method": "bogus"}, ValueError, "`icl_method`"),
        ({"rule": "bogus"}, ValueError, "`rule`"),
        ({"random_state": 0, "covariance_type": "diag"}, TypeError, "set per cell"),
    ],
)
def test_bad_arguments(two_blobs, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        select_components(two_blobs.X, **{"progressbar": False, **kwargs})


def test_bad_data():
    with pytest.raises(ValueError, match="NaN"):
        select_components(np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 1.0]]), [1], progressbar=False)
    with pytest.raises(ValueError):
        select_components(np.zeros(5), [1], progressbar=False)


# ---------------------------------------------------------------------------
# WAIC
# ---------------------------------------------------------------------------


def test_waic_matches_direct_formula():
    rng = np.random.default_rng(0)
    ll = rng.normal(-2.0, 0.3, size=(2, 50, 7))  # chain, draw, obs
    res = waic(xr.DataArray(ll, dims=("chain", "draw", "obs"), coords={"obs": list("abcdefg")}))
    flat = ll.reshape(100, 7)
    lppd = np.array([logsumexp(flat[:, i]) - np.log(100) for i in range(7)])
    pw = np.array([np.var(flat[:, i], ddof=1) for i in range(7)])
    elpd_i = lppd - pw
    assert res.elpd == pytest.approx(elpd_i.sum(), rel=1e-12)
    assert res.p == pytest.approx(pw.sum(), rel=1e-12)
    assert res.se == pytest.approx(np.sqrt(7 * np.var(elpd_i)), rel=1e-12)
    np.testing.assert_allclose(res.elpd_i.values, elpd_i)
    assert list(res.elpd_i["obs"].values) == list("abcdefg")
    assert res.n_samples == 100 and res.n_data_points == 7 and not res.warning


def test_waic_warns_on_large_pointwise_p_and_validates():
    rng = np.random.default_rng(1)
    ll = rng.normal(-2.0, 2.0, size=(200, 5))
    with pytest.warns(SelectionWarning, match="prefer method='loo'"):
        res = waic(ll)
    assert res.warning
    with pytest.raises(ValueError, match="at least 2 draws"):
        waic(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="non-finite"):
        waic(np.array([[0.0, np.inf], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="observation axis"):
        waic(np.zeros(4))


# ---------------------------------------------------------------------------
# occupied components
# ---------------------------------------------------------------------------


def _posterior_ds(w, m, c):
    return xr.Dataset(
        {
            "weights": (("chain", "draw", "component"), w),
            "means": (("chain", "draw", "component", "feature"), m),
            "covariances": (("chain", "draw", "component", "feature", "feature_bis"), c),
        }
    )


@pytest.fixture(scope="module")
def overlap_posterior():
    """Random draws with overlapping components, so counts vary draw to draw."""
    rng = np.random.default_rng(4)
    C, S, K, D, N = 2, 6, 4, 2, 25
    w = rng.dirichlet(np.full(K, 0.7), size=(C, S))
    m = rng.normal(0, 1.5, size=(C, S, K, D))
    A = rng.normal(size=(C, S, K, D, D))
    c = A @ np.swapaxes(A, -1, -2) + np.eye(D)
    X = rng.normal(0, 2, size=(N, D))
    return _posterior_ds(w, m, c), X


def _responsibilities(w, m, c, X):
    lp = np.stack([np.log(w[k]) + multivariate_normal(m[k], c[k]).logpdf(X) for k in range(len(w))], axis=1)
    return np.exp(lp - logsumexp(lp, axis=1, keepdims=True))


def _occupied_direct(post, X, seed):
    """occupied_components by brute force: scipy densities, one draw and one row at a time."""
    w, m, c = (post[v].values for v in ("weights", "means", "covariances"))
    C, S = w.shape[:2]
    rng = np.random.default_rng(seed)
    occ = np.empty((C, S), dtype=int)
    expct = np.empty((C, S))
    for i in range(C):
        for s in range(S):
            r = _responsibilities(w[i, s], m[i, s], c[i, s], X)
            u = rng.random(X.shape[0])
            z = np.array([np.searchsorted(np.cumsum(rn) / rn.sum(), un, side="right") for rn, un in zip(r, u)])
            occ[i, s] = len(np.unique(np.minimum(z, r.shape[1] - 1)))
            expct[i, s] = np.sum(1 - np.prod(1 - r, axis=0))
    return occ, expct


def test_occupied_components_matches_direct_loop(overlap_posterior):
    post, X = overlap_posterior
    out = occupied_components(post, X, random_state=123)
    occ, expct = _occupied_direct(post, X, 123)
    np.testing.assert_array_equal(out["occupied"].values, occ)
    np.testing.assert_allclose(out["expected_occupied"].values, expct, rtol=1e-9)
    assert out["occupied"].dims == ("chain", "draw")
    assert len(np.unique(occ)) > 1  # the test data really vary


@pytest.mark.parametrize("scale, offset", [(1e-6, 1e6), (1e3, -1e4), (1.0, 1e6)])
def test_occupied_components_badly_scaled_matches_scipy(overlap_posterior, scale, offset):
    # data and draws moved far from the origin relative to their spread: the shared
    # kernel forms (x - mu) P as x P - mu P, exact only on centred data
    post, X = overlap_posterior
    post = post.assign(means=post["means"] * scale + offset, covariances=post["covariances"] * scale**2)
    X = X * scale + offset
    out = occupied_components(post, X, random_state=5)
    occ, expct = _occupied_direct(post, X, 5)
    np.testing.assert_array_equal(out["occupied"].values, occ)
    np.testing.assert_allclose(out["expected_occupied"].values, expct, rtol=1e-9)


def test_occupied_components_evaluates_blocks_of_draws_with_the_shared_kernel(
    overlap_posterior, monkeypatch
):
    from bayesgmm import _kernels

    post, X = overlap_posterior
    C, S, K, _ = post["means"].shape
    real = _kernels.estimate_log_gaussian_prob
    calls = []

    def spy(X, means, precisions_chol, covariance_type, **kw):
        calls.append((means.shape[0], covariance_type))
        return real(X, means, precisions_chol, covariance_type, **kw)

    monkeypatch.setattr(_kernels, "estimate_log_gaussian_prob", spy)
    occupied_components(post, X, random_state=9)
    assert calls == [(C * S * K, "full")]  # a small problem: all draws in one call
    calls.clear()
    occupied_components(post, X, random_state=9, memory_budget=1)
    assert calls == [(K, "full")] * (C * S)  # one draw per call


def test_occupied_components_block_size_invariant(overlap_posterior):
    post, X = overlap_posterior
    a = occupied_components(post, X, random_state=9)
    b = occupied_components(post, X, random_state=9, memory_budget=1)  # one draw per block
    xr.testing.assert_identical(a, b)


def test_occupied_components_empty_and_separated():
    X = np.concatenate([np.full((10, 1), 0.0), np.full((10, 1), 20.0)]) + np.linspace(0, 0.5, 20)[:, None]
    S = 30
    w = np.tile([0.5, 0.5, 1e-12], (1, S, 1))
    m = np.tile(np.array([[0.0], [20.0], [10.0]]), (1, S, 1, 1))
    c = np.ones((1, S, 3, 1, 1))
    out = occupied_components(_posterior_ds(w, m, c), X, random_state=0)
    assert (out["occupied"].values == 2).all()
    np.testing.assert_allclose(out["expected_occupied"].values, 2.0, atol=1e-6)


def test_occupied_components_validation(overlap_posterior):
    post, X = overlap_posterior
    with pytest.raises(TypeError, match="xarray.Dataset"):
        occupied_components(post["weights"], X)
    with pytest.raises(ValueError, match="lacks the variable"):
        occupied_components(post.drop_vars("means"), X)
    with pytest.raises(ValueError, match="features"):
        occupied_components(post, X[:, :1])


# ---------------------------------------------------------------------------
# LOO / WAIC / sparse through a stand-in Bayesian fit (no sampling)
# ---------------------------------------------------------------------------


class FakeBayesianGMM:
    """Stand-in for BayesianGMM: draws scattered around the EM fit, a real result tree.

    The draws are not a real posterior; what is tested is that the selection
    computes LOO/WAIC/occupied counts on exactly the tree it was given.
    """

    instances: list = []

    def __init__(self, n_components=1, *, covariance_type="full", priors=None, random_state=None,
                 sampler_kwargs=None, **settings):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.priors = priors
        self.random_state = random_state
        # as BayesianGMM: sampler settings are constructor parameters, other keywords
        # (here the fake's spread and empty_beyond) arrive in sampler_kwargs
        self.settings = {**settings, **(sampler_kwargs or {})}
        FakeBayesianGMM.instances.append(self)

    def fit(self, X):
        return self._fit(X, **self.settings)

    def _fit(self, X, *, n_init=1, progressbar=True, draws=40, chains=2, spread=1.0, empty_beyond=None,
             method="nuts", thin=None, split_merge=None):
        self.fit_kwargs = dict(n_init=n_init, progressbar=progressbar, draws=draws, chains=chains)
        self.thin = thin
        self.split_merge = split_merge
        self.fit_method = method
        X = np.asarray(X, dtype=float)
        K = self.n_components
        em = bg.GaussianMixture(K, covariance_type=self.covariance_type, n_init=n_init, random_state=0).fit(X)
        rng = np.random.default_rng(self.random_state)
        n, d = X.shape
        w = em.weights_.copy()
        if empty_beyond is not None and K > empty_beyond:
            em = bg.GaussianMixture(empty_beyond, n_init=n_init, random_state=0).fit(X)
            w = np.concatenate([em.weights_, np.full(K - empty_beyond, 1e-9)])
            means = np.concatenate([em.means_, np.tile(X.mean(0), (K - empty_beyond, 1))])
            covs = np.concatenate([em.covariances_, np.tile(np.cov(X.T)[None], (K - empty_beyond, 1, 1))])
        else:
            means = em.means_
            covs = bg.covariance.get_covariance_type(self.covariance_type).to_full(em.covariances_, K)
        w = w / w.sum()
        nk = np.maximum(w * n, 1.0)
        W = rng.dirichlet(np.maximum(nk, 1e-3) / spread**2 + 1e-3, size=(chains, draws)) if empty_beyond is None else np.broadcast_to(w, (chains, draws, K)).copy()
        M = means + spread * rng.normal(size=(chains, draws, K, d)) * np.sqrt(np.diagonal(covs, axis1=-2, axis2=-1) / nk[:, None])
        Cv = np.broadcast_to(covs, (chains, draws, K, d, d)).copy()
        names = [f"x{i}" for i in range(d)]
        post = _datatree.parameter_dataset(W, M, Cv, feature_names=names, leading=("chain", "draw"))
        ll = bg.posterior.pointwise_log_likelihood(post, X).transpose("chain", "draw", "obs")
        self.idata_ = _datatree.build_tree(
            posterior=post, sample_stats=None, permutation=None, em=em, X=X, feature_names=names,
            covariance_type=self.covariance_type, method="nuts", model_config={}, sampler_config={},
            log_likelihood=ll.to_numpy(),
        )
        return self


@pytest.fixture
def fake_bayes(monkeypatch):
    import bayesgmm.bayesian

    FakeBayesianGMM.instances = []
    monkeypatch.setattr(bayesgmm.bayesian, "BayesianGMM", FakeBayesianGMM)
    return FakeBayesianGMM


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")
def test_loo_table_equals_arviz_stats_on_the_same_draws(fake_bayes, two_blobs):
    import arviz_stats

    X = two_blobs.X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParetoKWarning)
        res = select_components(X, [1, 2, 3], method="loo", random_state=0, progressbar=False,
                                n_init=1, draws=50, rule="best")
    t = res.table
    trees = {f"K={k} full": res.models[(k, "full")].idata_ for k in (1, 2, 3)}
    for k in (1, 2, 3):
        ref = arviz_stats.loo(trees[f"K={k} full"], pointwise=True)
        cell = t.sel(n_components=k, covariance_type="full")
        assert cell["elpd"].item() == pytest.approx(ref.elpd, rel=1e-12)
        assert cell["se"].item() == pytest.approx(ref.se, rel=1e-12)
        assert cell["p"].item() == pytest.approx(ref.p, rel=1e-12)
        assert cell["n_high_pareto_k"].item() == int(np.sum(ref.pareto_k.values > ref.good_k))
        assert cell["max_pareto_k"].item() == pytest.approx(float(ref.pareto_k.max()))
        # elpd_loo = lppd - p_loo, with lppd computed directly from the log-likelihood
        ll = trees[f"K={k} full"].log_likelihood["X"].values.reshape(-1, X.shape[0])
        lppd = np.sum(logsumexp(ll, axis=0) - np.log(ll.shape[0]))
        assert cell["elpd"].item() + cell["p"].item() == pytest.approx(lppd, rel=1e-9)
    cmp = arviz_stats.compare(trees, round_to="none")
    for k in (1, 2, 3):
        row = cmp.loc[f"K={k} full"]
        cell = t.sel(n_components=k, covariance_type="full")
        assert cell["elpd_diff"].item() == pytest.approx(row["elpd_diff"], abs=1e-9)
        assert cell["dse"].item() == pytest.approx(row["dse"], abs=1e-9)
        assert cell["weight"].item() == pytest.approx(row["weight"], abs=1e-6)
        assert cell["rank"].item() == row["rank"]
    assert t["weight"].sum().item() == pytest.approx(1.0)
    assert res.n_components == int(t["n_components"][np.nanargmax(t["elpd"].values[:, 0])])
    assert list(res.comparison.index) == list(cmp.index)
    inst = fake_bayes.instances[0]
    assert inst.random_state == 0 and inst.fit_kwargs["progressbar"] is False and inst.fit_kwargs["draws"] == 50


@pytest.mark.filterwarnings("ignore:.*WAIC is unreliable")
def test_waic_table_uses_waic_formula(fake_bayes, two_blobs):
    res = select_components(two_blobs.X, [1, 2], method="waic", random_state=0, progressbar=False, n_init=1)
    for k in (1, 2):
        ll = res.models[(k, "full")].idata_.log_likelihood["X"]
        ref = waic(ll, warn=False)
        assert res.table["elpd"].sel(n_components=k, covariance_type="full").item() == pytest.approx(ref.elpd)
        assert res.table["p"].sel(n_components=k, covariance_type="full").item() == pytest.approx(ref.p)
    assert "n_high_pareto_k" not in res.table
    assert res.n_components == 2


def test_one_se_rule_prefers_fewer_components():
    ds = xr.Dataset(
        {
            "elpd": (("n_components", "covariance_type"), [[-300.0], [-200.0], [-199.0]]),
            "elpd_diff": (("n_components", "covariance_type"), [[-101.0], [-1.0], [0.0]]),
            "dse": (("n_components", "covariance_type"), [[10.0], [1.5], [0.0]]),
        }
    )
    from bayesgmm.selection import _pick_elpd

    assert _pick_elpd(ds, [1, 2, 3], ["full"], "one_se") == (2, "full")
    assert _pick_elpd(ds, [1, 2, 3], ["full"], "best") == (3, "full")


def _elpd_ds_from_pointwise(pointwise, max_k, good_k=0.7):
    """A LOO table as _elpd_table builds it, from synthetic pointwise elpd arrays."""
    elpd = np.array([[p.sum()] for p in pointwise])
    top = int(np.argmax(elpd[:, 0]))
    diff = elpd - elpd[top]
    dse = np.array([[math.sqrt(p.size * np.var(p - pointwise[top]))] for p in pointwise])
    dims = ("n_components", "covariance_type")
    return xr.Dataset({
        "elpd": (dims, elpd), "elpd_diff": (dims, diff), "dse": (dims, dse),
        "max_pareto_k": (dims, np.asarray(max_k, dtype=float)[:, None]),
        "good_k": (dims, np.full((len(pointwise), 1), good_k)),
    })


def test_loo_rules_skip_cells_with_unreliable_pareto_k():
    from bayesgmm.selection import _pick_elpd

    rng = np.random.default_rng(0)
    n = 200
    base = -2.0 + 0.3 * rng.normal(size=n)

    def noise():  # centred, so each cell's elpd offset is exact
        e = rng.normal(size=n)
        return 0.05 * (e - e.mean())

    pointwise = [
        base - 0.5 + noise(),    # K=1: clearly worse (elpd -100 behind K=3)
        base + noise(),          # K=2: 0.4 behind K=3, dse ~1: within one dse
        base + 0.002 + noise(),  # K=3: best reliable cell
        base + 0.3 + noise(),    # K=4: highest elpd (+60), but PSIS unreliable
    ]
    ks, cts = [1, 2, 3, 4], ["full"]
    ds = _elpd_ds_from_pointwise(pointwise, max_k=[0.2, 0.3, 0.4, 6.1])
    pw = dict(zip([(k, "full") for k in ks], pointwise))
    # what the rule would pick without the Pareto k check: K=4 (everything else > 1 dse behind)
    assert ds["elpd"].values.argmax() == 3
    assert all(ds["elpd_diff"].values[i, 0] < -ds["dse"].values[i, 0] for i in range(3))
    with pytest.warns(ParetoKWarning, match=r"K=4 full \(max Pareto k = 6\.10 > 1\.00\).*more draws"):
        assert _pick_elpd(ds, ks, cts, "best", pointwise=pw) == (3, "full")
    # one-SE from the best reliable cell, K=3, with the dse of K=2 - K=3 computed pointwise
    d23 = pointwise[1] - pointwise[2]
    assert -d23.sum() < math.sqrt(n * np.var(d23))
    d13 = pointwise[0] - pointwise[2]
    assert -d13.sum() > math.sqrt(n * np.var(d13))
    with pytest.warns(ParetoKWarning, match="K=4 full"):
        assert _pick_elpd(ds, ks, cts, "one_se", pointwise=pw) == (2, "full")
    # a cell at or below k = 1 is kept (its own Pareto warning is issued when the
    # table is built): nothing skipped, no warning here
    ok = _elpd_ds_from_pointwise(pointwise, max_k=[0.2, 0.3, 0.4, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _pick_elpd(ok, ks, cts, "best", pointwise=pw) == (4, "full")
    # every cell unreliable: all are used, with a warning saying so
    bad = _elpd_ds_from_pointwise(pointwise, max_k=[1.1, 1.2, 1.5, 6.1])
    with pytest.warns(ParetoKWarning, match="every cell"):
        assert _pick_elpd(bad, ks, cts, "best", pointwise=pw) == (4, "full")


def test_pareto_k_warning_says_what_to_do(fake_bayes, two_blobs):
    # draws far too spread out for the data: importance ratios are heavy-tailed
    with pytest.warns(ParetoKWarning, match="run more draws"):
        res = select_components(two_blobs.X, [2, 3], method="loo", random_state=0,
                                progressbar=False, n_init=1, spread=25.0)
    assert (res.table["n_high_pareto_k"].values > 0).any()
    # per-cell max Pareto k and the threshold the selection rule used are in the table
    assert np.isfinite(res.table["max_pareto_k"].values).all()
    assert ((res.table["good_k"].values > 0) & (res.table["good_k"].values <= 0.7)).all()


def test_sparse_counts_occupied_components(fake_bayes, two_blobs):
    res = select_components(two_blobs.X, range(1, 6), method="sparse", random_state=0,
                            progressbar=False, n_init=1, empty_beyond=2)
    inst = fake_bayes.instances[0]
    assert inst.n_components == 5
    assert inst.priors.weights_alpha == 0.01
    # the default sampler of the sparse method: Gibbs, every SPARSE_GIBBS_THIN-th sweep kept,
    # with SPARSE_SPLIT_MERGE split-merge moves per sweep
    assert inst.fit_method == "gibbs" and inst.thin == SPARSE_GIBBS_THIN
    assert inst.split_merge == SPARSE_SPLIT_MERGE == 1
    t = res.table
    assert t["probability"].dims == ("covariance_type", "n_occupied")
    np.testing.assert_allclose(t["probability"].sum("n_occupied").values, 1.0)
    # direct: counts from occupied_components on the same posterior and seed
    occ = occupied_components(_datatree.get_posterior(inst.idata_), two_blobs.X, random_state=0)
    counts = np.bincount(occ["occupied"].values.ravel(), minlength=6)[1:]
    np.testing.assert_allclose(t["probability"].sel(covariance_type="full").values, counts / counts.sum())
    assert res.n_components == 2 and int(t["mode"].sel(covariance_type="full")) == 2
    assert res.best_model is inst
    df = res.to_dataframe()
    assert df.index.names == ["covariance_type", "n_occupied"] and len(df) == 5
    # label-invariant weights summary: per-draw sorted weights, averaged (direct computation)
    assert "weights_mean" not in t
    assert t["weights_sorted_mean"].dims == ("covariance_type", "rank")
    W = _datatree.get_posterior(inst.idata_)["weights"].transpose("chain", "draw", "component").values
    direct = np.sort(W.reshape(-1, 5), axis=1)[:, ::-1].mean(axis=0)
    np.testing.assert_allclose(t["weights_sorted_mean"].sel(covariance_type="full").values, direct)
    assert np.all(np.diff(direct) <= 0) and direct[2:].max() < 1e-6


def test_sparse_default_moves_not_for_tied_and_given_values_win(fake_bayes, two_blobs):
    """Tied covariances share one factor, which the split-merge moves cannot split: no moves
    by default there; a given split_merge (or thin) is passed as given."""
    select_components(two_blobs.X, range(1, 4), method="sparse", covariance_types=["full", "tied"],
                      random_state=0, progressbar=False, n_init=1)
    assert {i.split_merge for i in fake_bayes.instances} == {None}
    fake_bayes.instances.clear()
    select_components(two_blobs.X, range(1, 4), method="sparse", random_state=0, progressbar=False, n_init=1,
                      split_merge=0, thin=3)
    inst = fake_bayes.instances[0]
    assert inst.split_merge == 0 and inst.thin == 3


def test_sorted_weights_mean_is_label_invariant():
    from bayesgmm.selection import _sorted_weights_mean

    # two occupied components whose labels switch between draws: the per-label mean
    # is 0.25 everywhere, the sorted mean shows two components and two empty ones
    w = np.array([[[0.6, 0.4, 0.0, 0.0], [0.0, 0.0, 0.4, 0.6]],
                  [[0.0, 0.6, 0.0, 0.4], [0.4, 0.0, 0.6, 0.0]]])
    da = xr.DataArray(w, dims=("chain", "draw", "component"))
    np.testing.assert_allclose(da.mean(("chain", "draw")).values, 0.25)
    np.testing.assert_allclose(_sorted_weights_mean(da), [0.6, 0.4, 0.0, 0.0])
    np.testing.assert_allclose(_sorted_weights_mean(da.transpose("component", "draw", "chain")),
                               [0.6, 0.4, 0.0, 0.0])


def test_sparse_with_vi_warns(fake_bayes, two_blobs):
    with pytest.warns(SelectionWarning, match="variational"):
        select_components(two_blobs.X, [1, 2, 3], method="sparse", random_state=0, progressbar=False,
                          n_init=1, empty_beyond=2, inference="advi")
    assert fake_bayes.instances[-1].fit_method == "advi"
    with pytest.raises(ValueError, match="`inference`"):
        select_components(two_blobs.X, [1, 2], method="loo", progressbar=False, inference="hmc")


def test_sparse_needs_more_than_one_component(fake_bayes, two_blobs):
    with pytest.raises(ValueError, match="max\\(n_components\\)"):
        select_components(two_blobs.X, [1], method="sparse", progressbar=False)
    with pytest.raises(TypeError, match="set by"):
        select_components(two_blobs.X, [1, 2], method="loo", progressbar=False, random_state=0,
                          covariance_type="full")


def test_result_type(two_blobs):
    res = select_components(two_blobs.X, [1, 2], n_init=1, random_state=0, progressbar=False)
    assert isinstance(res, SelectionResult)
    assert bg.select_components is select_components


# ---------------------------------------------------------------------------
# end to end with the real BayesianGMM (small, slow)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_blobs():
    return bg.datasets.make_mixture(120, n_components=2, random_state=2001)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_loo_end_to_end_against_arviz_stats(small_blobs):
    import arviz_stats

    res = select_components(small_blobs.X, [1, 2], method="loo", random_state=1, progressbar=False,
                            n_init=1, draws=150, tune=150, chains=2)
    assert res.n_components == 2
    for k in (1, 2):
        tree = res.models[(k, "full")].idata_
        ref = arviz_stats.loo(tree, pointwise=True)
        cell = res.table.sel(n_components=k, covariance_type="full")
        assert cell["elpd"].item() == pytest.approx(ref.elpd, rel=1e-12)
        assert cell["se"].item() == pytest.approx(ref.se, rel=1e-12)
    diff = res.table["elpd"].sel(n_components=1).item() - res.table["elpd"].sel(n_components=2).item()
    assert res.table["elpd_diff"].sel(n_components=1, covariance_type="full").item() == pytest.approx(diff)
    assert diff < -20  # one Gaussian for two far-apart blobs predicts much worse


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_sparse_end_to_end(small_blobs):
    res = select_components(small_blobs.X, range(1, 5), method="sparse", random_state=2,
                            progressbar=False, n_init=2, draws=100, tune=300, chains=2)
    model = res.best_model
    assert model.n_components == 4
    assert model.idata_.attrs["n_components"] == 4
    p = res.table["probability"].sel(covariance_type="full")
    assert p.sum().item() == pytest.approx(1.0)
    # Gibbs (the default): the counts of the sampler's own allocations ...
    own = _datatree.get_sample_stats(model.idata_)["occupied"].values
    counts = np.bincount(own.ravel(), minlength=5)[1:]
    np.testing.assert_allclose(p.values, counts / counts.sum())
    np.testing.assert_array_equal(res.table["occupied"].sel(covariance_type="full").values, own)
    # ... which agree with allocations redrawn from each draw's responsibilities
    occ = occupied_components(_datatree.get_posterior(model.idata_), small_blobs.X, random_state=2)
    redrawn = np.bincount(occ["occupied"].values.ravel(), minlength=5)[1:]
    np.testing.assert_allclose(p.values, redrawn / redrawn.sum(), atol=0.05)
    assert res.n_components == 2
    assert p.sel(n_occupied=2).item() > 0.5


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")
@pytest.mark.filterwarnings("ignore::bayesgmm.selection.ParetoKWarning")
def test_loo_failure_in_one_cell_is_recorded(fake_bayes, two_blobs, monkeypatch):
    import arviz_stats

    real_loo = arviz_stats.loo
    calls = []

    def flaky_loo(tree, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("All tail values are the same")
        return real_loo(tree, **kw)

    monkeypatch.setattr(arviz_stats, "loo", flaky_loo)
    with pytest.warns(SelectionWarning, match="PSIS-LOO failed"):
        res = select_components(two_blobs.X, [1, 2, 3], method="loo", random_state=0,
                                progressbar=False, n_init=1, rule="best")
    cell = res.table.sel(n_components=2, covariance_type="full")
    assert np.isnan(cell["elpd"].item()) and cell["rank"].item() == -1
    assert "All tail values" in str(cell["message"].item())
    assert np.isfinite(res.table["elpd"].sel(n_components=[1, 3]).values).all()
    assert res.n_components in (1, 3)


@pytest.mark.filterwarnings("ignore:.*WAIC is unreliable")
def test_any_cell_failure_is_recorded_not_raised(fake_bayes, two_blobs, monkeypatch):
    class PanicLike(BaseException):  # like pyo3's PanicException from nutpie
        pass

    real_fit = FakeBayesianGMM.fit

    def fit(self, X, **kw):
        if self.n_components == 2:
            raise PanicLike("Could not initialize state because of bad initial gradient\nmore")
        return real_fit(self, X, **kw)

    monkeypatch.setattr(FakeBayesianGMM, "fit", fit)
    with pytest.warns(SelectionWarning, match="1 of 3 fits failed"):
        res = select_components(two_blobs.X, [1, 2, 3], method="waic", random_state=0,
                                progressbar=False, n_init=1)
    msg = str(res.table["message"].sel(n_components=2, covariance_type="full").item())
    assert msg == "PanicLike: Could not initialize state because of bad initial gradient"
    assert res.models[(2, "full")] is None and res.n_components in (1, 3)

    def interrupt(self, X, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(FakeBayesianGMM, "fit", interrupt)
    with pytest.raises(KeyboardInterrupt):
        select_components(two_blobs.X, [1, 2], method="waic", progressbar=False)


def test_sparse_warns_when_the_chains_disagree_on_the_occupied_count(monkeypatch):
    """Chains that settle on different occupied counts (R-hat of the count > 1.01) are
    named in a SelectionWarning; chains that agree, or one count throughout, are not."""
    import xarray as xr

    from bayesgmm.selection import OCCUPIED_RHAT_MAX, occupied_rhat
    from bayesgmm.selection._sparse import _warn_disagreeing_chains

    rng = np.random.default_rng(0)
    agree = xr.DataArray(rng.choice([2, 3], size=(4, 400)), dims=("chain", "draw"))
    apart = xr.DataArray(np.array([[2] * 400, [2] * 400, [4] * 400, [3] * 200 + [4] * 200]), dims=("chain", "draw"))
    same = xr.DataArray(np.full((4, 50), 3), dims=("chain", "draw"))
    assert occupied_rhat(agree) < OCCUPIED_RHAT_MAX
    assert occupied_rhat(apart) > 1.5
    assert np.isnan(occupied_rhat(same)) and np.isnan(occupied_rhat(agree.isel(chain=[0])))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_disagreeing_chains([agree, same, None], ["full", "diag", "tied"], "gibbs")
    with pytest.warns(SelectionWarning, match=r"disagree on the number of occupied.*\[2, 2, 4, 3\].*`thin`"):
        _warn_disagreeing_chains([apart], ["full"], "gibbs")
    with pytest.warns(SelectionWarning, match="use inference='gibbs'"):
        _warn_disagreeing_chains([apart], ["full"], "nuts")


# ------------------------------------------------- tied values (rounded data)
def _tie_warnings(X, cts, inference="gibbs", resolution=None):
    from bayesgmm.selection._sparse import _warn_tied_values

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _warn_tied_values(X, np.asarray(X, dtype=float), cts, inference, resolution)
    return [str(w.message) for w in caught if issubclass(w.category, SelectionWarning)]


def test_tied_values_are_named_with_the_rounding_step_to_pass():
    import pandas as pd

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=50), "b": np.round(rng.normal(size=50), 1)})
    msgs = _tie_warnings(X, ["full", "diag"])
    assert len(msgs) == 2 and "covariance_type='full'" in msgs[0] and "covariance_type='diag'" in msgs[1]
    n_tied = int(50 - len(np.unique(X["b"])) + sum(np.unique(X["b"], return_counts=True)[1] > 1))
    assert f"b: {n_tied} of 50" in msgs[0] and "a:" not in msgs[0]
    assert "improper" in msgs[0] and "resolution=[" in msgs[0] and ", 0.1]" in msgs[0]
    # modelled as rounded: no warning; the continuous feature needs none
    assert _tie_warnings(X, ["full"], resolution=[0.0, 0.1]) == []
    # a resolution only Gibbs uses does not count for another sampler
    assert len(_tie_warnings(X, ["full"], inference="nuts", resolution=[0.0, 0.1])) == 1


def test_ties_matter_per_covariance_type():
    rng = np.random.default_rng(1)
    X = np.round(rng.normal(size=(40, 2)), 1)  # ties in each feature, no repeated row
    X = X[np.unique(X, axis=0, return_index=True)[1]]
    assert _tie_warnings(X, ["tied"]) == []  # a shared covariance cannot shrink onto a few points
    assert _tie_warnings(X, ["spherical"]) == []  # one variance: only identical rows
    X2 = np.vstack([X, X[:3]])
    msgs = _tie_warnings(X2, ["spherical", "tied"])
    assert len(msgs) == 1 and "3 of" in msgs[0] and "repeat another row" in msgs[0]
    assert _tie_warnings(rng.normal(size=(40, 2)), ["full", "diag", "spherical"]) == []
