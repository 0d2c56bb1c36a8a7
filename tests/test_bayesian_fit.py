"""End-to-end fits of BayesianGMM against known truth (real NUTS / ADVI; slow)."""

import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.optimize import linear_sum_assignment
from scipy.stats import multivariate_normal

import bayesgmm as bg
from bayesgmm import _datatree as dt
from bayesgmm.bayesian import BayesianGMM
from bayesgmm.datasets import make_mixture
from bayesgmm.diagnostics import SamplingWarning

pytestmark = pytest.mark.slow


def _fit_recording(model, X, **kw):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        model.fit(X, progressbar=False, **kw)
    return [w for w in rec if issubclass(w.category, SamplingWarning)]


@pytest.fixture(scope="module")
def truth():
    return make_mixture(600, 3, 2, covariance_type="full", random_state=11)


@pytest.fixture(scope="module")
def nuts(truth):
    model = BayesianGMM(3, covariance_type="full", random_state=1)
    sampling_warnings = _fit_recording(model, truth.X, draws=700, tune=500, chains=4)
    return model, sampling_warnings


def _match_to_truth(post_means, true_means):
    """Permutation p with posterior component p[k] <-> true component k."""
    cost = np.linalg.norm(post_means[None, :, :] - true_means[:, None, :], axis=-1)
    rows, cols = linear_sum_assignment(cost)
    return cols[np.argsort(rows)]


def _boundary_point(truth, a, b):
    """The point on the segment between true means a and b where the true posterior
    class probabilities of a and b are equal (midway in probability)."""
    def log_odds(t):
        x = (1 - t) * truth.means[a] + t * truth.means[b]
        fa = np.log(truth.weights[a]) + multivariate_normal(truth.means[a], truth.covariances[a]).logpdf(x)
        fb = np.log(truth.weights[b]) + multivariate_normal(truth.means[b], truth.covariances[b]).logpdf(x)
        return fa - fb
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if log_odds(mid) > 0 else (lo, mid)
    t = (lo + hi) / 2
    return (1 - t) * truth.means[a] + t * truth.means[b]


def test_acceptance_three_separated_clusters(nuts, truth):
    model, sampling_warnings = nuts
    assert sampling_warnings == []  # a good run raises no diagnostics warning
    rep = model.diagnostics_
    assert rep.max_rhat <= 1.01
    assert rep.min_ess_bulk >= 400
    assert rep.total_divergent == 0
    assert not rep.chain_modes.multimodal

    post = dt.get_posterior(model.idata_)
    perm = _match_to_truth(post["means"].mean(("chain", "draw")).values, truth.means)
    q = post.quantile([0.03, 0.97], dim=("chain", "draw"))
    for k in range(3):
        pk = int(perm[k])
        lo, hi = q["weights"].sel(component=pk).values
        assert lo <= truth.weights[k] <= hi, (k, lo, hi, truth.weights[k])
        for d in range(2):
            lo, hi = q["means"].isel(component=pk, feature=d).values
            assert lo <= truth.means[k, d] <= hi, (k, d, lo, hi, truth.means[k, d])

    # points at the true centres: membership >= 0.99 of the matching component
    proba, lower, upper = model.predict_proba(truth.means, return_interval=True)
    for k in range(3):
        assert proba[k, perm[k]] >= 0.99
        assert lower[k, perm[k]] >= 0.99
    # Between the two closest clusters, membership goes from certain to uncertain: at
    # the point of the segment where the posterior says 50:50, the interval is wide, and
    # that point is close to where the true mixture says 50:50.
    dist = np.linalg.norm(truth.means[:, None] - truth.means[None], axis=-1) + 1e9 * np.eye(3)
    a, b = np.unravel_index(np.argmin(dist), dist.shape)
    x_true = _boundary_point(truth, a, b)
    ts = np.linspace(0.0, 1.0, 401)[:, None]
    segment = (1 - ts) * truth.means[a] + ts * truth.means[b]
    p_seg = model.predict_proba(segment)[:, perm[a]]
    assert p_seg[0] >= 0.99 and p_seg[-1] <= 0.01
    x_mid = segment[[int(np.argmin(np.abs(p_seg - 0.5)))]]
    p_mid, lo_mid, hi_mid = model.predict_proba(x_mid, return_interval=True)
    assert 0.4 <= p_mid[0, perm[a]] <= 0.6 and 0.4 <= p_mid[0, perm[b]] <= 0.6
    assert hi_mid[0, perm[a]] - lo_mid[0, perm[a]] > 0.1  # clearly uncertain
    assert np.linalg.norm(x_mid[0] - x_true) < 0.1 * dist[a, b]
    assert model.predict(truth.means).tolist() == [int(perm[k]) for k in range(3)]

    # memberships of the fitted data agree with the true labels
    mem = model.membership()
    assert mem["probability"].dims == ("obs", "component")
    agree = np.mean(perm[truth.labels] == mem["assignment"].values)
    assert agree >= 0.99

    # the posterior predictive density is close to the true mixture density
    true_logpdf = np.log(sum(
        truth.weights[k] * multivariate_normal(truth.means[k], truth.covariances[k]).pdf(truth.X)
        for k in range(3)))
    assert np.abs(model.score_samples(truth.X) - true_logpdf).mean() < 0.1

    # summary: relabelled draws, with diagnostics
    s = model.summary()
    assert "weights[0]" in s.index and "r_hat" in s.columns
    assert (s["r_hat"].astype(float).dropna() <= 1.01).all()


def test_advi_close_to_nuts(nuts, truth):
    nuts_model, _ = nuts
    advi = BayesianGMM(3, covariance_type="full", random_state=1)
    vi_warnings = _fit_recording(advi, truth.X, method="advi", draws=500, chains=1, n=1000)
    assert vi_warnings == []  # started at EM, 1000 steps converge (loss check passes)
    assert dt.get_config(advi.idata_)["method"] == "advi"
    assert set(advi.idata_.children) == set(nuts_model.idata_.children)
    pn = dt.get_posterior(nuts_model.idata_)
    pa = dt.get_posterior(advi.idata_)
    for var in ("weights", "means"):
        mu_n = pn[var].mean(("chain", "draw"))
        sd_n = pn[var].std(("chain", "draw"))
        mu_a = pa[var].mean(("chain", "draw"))
        z = np.abs((mu_a - mu_n) / sd_n).values
        assert np.all(z <= 2), (var, z)


def test_save_load_round_trip_exact_and_predicts_identically(nuts, truth, tmp_path):
    model, _ = nuts
    path = tmp_path / "fit.nc"
    model.save(path)
    loaded = BayesianGMM.load(path)
    xr.testing.assert_identical(loaded.idata_, model.idata_)
    for group in model.idata_.children:
        for name, var in model.idata_[group].to_dataset().variables.items():
            other = loaded.idata_[group].to_dataset()[name]
            assert other.dtype == var.dtype
            np.testing.assert_array_equal(other.values, var.values)
    assert loaded.get_params() == model.get_params()
    X_new = np.random.default_rng(0).normal(size=(50, 2)) * 5 + truth.X.mean(0)
    np.testing.assert_array_equal(loaded.predict_proba(X_new), model.predict_proba(X_new))
    np.testing.assert_array_equal(loaded.predict(X_new), model.predict(X_new))
    np.testing.assert_array_equal(loaded.score_samples(X_new), model.score_samples(X_new))
    np.testing.assert_allclose(loaded.em_.predict_proba(X_new), model.em_.predict_proba(X_new),
                               rtol=1e-10, atol=1e-12)
    assert loaded.diagnostics_.max_rhat == model.diagnostics_.max_rhat


def test_interrupted_fit_leaves_previous_state(nuts, truth, monkeypatch):
    model, _ = nuts
    before = {k: getattr(model, k) for k in ("idata_", "em_", "diagnostics_", "n_features_in_")}
    import bayesgmm.inference

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(bayesgmm.inference, "run_inference", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(truth.X[:100], draws=20, tune=20, chains=1, progressbar=False)
    for k, v in before.items():
        assert getattr(model, k) is v


def test_bad_run_triggers_warnings(truth):
    model = BayesianGMM(3, random_state=2)
    sampling_warnings = _fit_recording(model, truth.X, draws=30, tune=3, chains=2)
    assert sampling_warnings, "a 3-step warm-up with 30 draws must be flagged"
    text = " ".join(str(w.message) for w in sampling_warnings)
    assert "draws" in text or "tune" in text
    assert not model.diagnostics_.ok


@pytest.mark.parametrize("K", [2, 3])
def test_old_faithful_end_to_end(K):
    X = bg.datasets.load_old_faithful()
    model = BayesianGMM(K, random_state=0)
    # K=2 asserts clean diagnostics: R-hat <= 1.01 needs enough draws not to fail by
    # Monte Carlo error (2 x 500 gave 1.011 on one parameter, bulk ESS 1056)
    draws = 1000 if K == 2 else 200
    _fit_recording(model, X, draws=draws, tune=draws, chains=2)
    tree = model.idata_
    assert list(model.feature_names_in_) == ["eruptions", "waiting"]
    assert dt.get_posterior(tree)["means"].sizes == {"chain": 2, "draw": draws, "component": K,
                                                      "feature": 2}
    assert dt.get_log_likelihood(tree).shape == (2, draws, 272)
    inference = dt.get_config(tree)["sampler_config"]["inference"]
    assert inference["method"] == "nuts" and inference["n_steps_total"] > 0
    mem = model.membership()
    np.testing.assert_allclose(mem["probability"].sum("component"), 1.0, atol=1e-10)
    if K == 2:
        # the two regimes: (about 4.29 min, 80 min) and (2.04 min, 54.5 min), as mclust finds
        means = dt.get_posterior(tree)["means"].mean(("chain", "draw")).values
        order = np.argsort(means[:, 0])
        np.testing.assert_allclose(means[order], [[2.04, 54.5], [4.29, 80.0]], rtol=0.03)
        assert np.mean(model.predict(X) == model.em_.predict(X)) >= 0.98
        assert model.diagnostics_.ok


@pytest.mark.parametrize("cov_type", ["tied", "diag", "spherical"])
def test_other_covariance_types_structure_and_round_trip(cov_type, tmp_path):
    d = make_mixture(150, 2, 3, covariance_type=cov_type, random_state=5)
    model = BayesianGMM(2, covariance_type=cov_type, random_state=0)
    _fit_recording(model, d.X, draws=100, tune=100, chains=2)
    post = dt.get_posterior(model.idata_)
    cov = post["covariances"].values  # (chain, draw, K, D, D), always full
    assert cov.shape == (2, 100, 2, 3, 3)
    off = ~np.eye(3, dtype=bool)
    if cov_type == "tied":
        np.testing.assert_array_equal(cov[:, :, 0], cov[:, :, 1])
        assert "correlations" in post
    else:
        assert "correlations" not in post
        assert np.all(cov[..., off] == 0)
    if cov_type == "spherical":
        diag = np.diagonal(cov, axis1=-2, axis2=-1)
        np.testing.assert_allclose(diag, diag[..., :1] * np.ones(3), rtol=1e-12)
    np.testing.assert_allclose(post["sds"].values, np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1)))
    # the em group holds the EM fit as full matrices; load restores its own layout exactly
    model.save(tmp_path / "fit.nc")
    loaded = BayesianGMM.load(tmp_path / "fit.nc")
    xr.testing.assert_identical(loaded.idata_, model.idata_)
    assert loaded.em_.covariance_type == cov_type
    np.testing.assert_array_equal(loaded.em_.covariances_, model.em_.covariances_)
    np.testing.assert_array_equal(loaded.predict_proba(d.X), model.predict_proba(d.X))


def test_sampler_interrupted_by_ctrl_c_leaves_previous_state(nuts, truth, monkeypatch):
    """nutpie swallows Ctrl-C and returns a truncated, NaN-padded trace: no fit."""
    model, _ = nuts
    before = {k: getattr(model, k) for k in ("idata_", "em_", "diagnostics_")}
    import bayesgmm.inference

    real = bayesgmm.inference.run_inference

    def aborted(*args, **kwargs):
        kwargs["draws"] = 40
        raw = real(*args, **kwargs)
        post = raw["posterior"].to_dataset()
        post = post.where(post["chain"] == 0).isel(draw=slice(0, 30))  # chain 1 "stopped"
        post.loc[{"chain": 0}] = raw["posterior"].to_dataset().isel(chain=0, draw=slice(0, 30))
        raw["posterior"] = post
        return raw

    monkeypatch.setattr(bayesgmm.inference, "run_inference", aborted)
    with pytest.raises(KeyboardInterrupt, match="interrupted"):
        model.fit(truth.X, draws=100, tune=30, chains=2, progressbar=False)
    for k, v in before.items():
        assert getattr(model, k) is v
