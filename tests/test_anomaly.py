"""Log-density distributions, anomaly thresholds and scores (bayesgmm.posterior.density,
bayesgmm.anomaly, bayesgmm.plots.anomalies)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from scipy.stats import chi2, multivariate_normal  # noqa: E402

import bayesgmm as bg  # noqa: E402
from bayesgmm.anomaly import density_grid, detect_anomalies  # noqa: E402
from bayesgmm.posterior.density import (  # noqa: E402
    anomaly_summary,
    log_density_summary,
    per_draw_thresholds,
    predictive_threshold,
    sample_posterior_predictive,
)


def _posterior(weights, means, covs):
    """(C, S, K), (C, S, K, D), (C, S, K, D, D) arrays -> posterior Dataset."""
    return xr.Dataset(
        {
            "weights": (("chain", "draw", "component"), np.asarray(weights, float)),
            "means": (("chain", "draw", "component", "feature"), np.asarray(means, float)),
            "covariances": (
                ("chain", "draw", "component", "feature", "feature_bis"),
                np.asarray(covs, float),
            ),
        }
    )


def _random_posterior(rng, C=2, S=3, K=2, D=2):
    w = rng.dirichlet(np.ones(K), size=(C, S))
    m = rng.normal(0, 2, size=(C, S, K, D))
    A = rng.normal(size=(C, S, K, D, D))
    cov = A @ np.swapaxes(A, -1, -2) + 0.5 * np.eye(D)
    return _posterior(w, m, cov), w, m, cov


def _brute(X, w, m, cov):
    """log p(x | theta_s) by scipy, (n, C*S)."""
    C, S, K = w.shape
    out = np.empty((X.shape[0], C * S))
    for c in range(C):
        for s in range(S):
            dens = sum(
                w[c, s, k] * multivariate_normal(m[c, s, k], cov[c, s, k]).pdf(X) for k in range(K)
            )
            out[:, c * S + s] = np.log(dens)
    return out


def test_log_density_summary_matches_brute_force():
    rng = np.random.default_rng(1)
    post, w, m, cov = _random_posterior(rng)
    X = rng.normal(0, 2, size=(7, 2))
    l = _brute(X, w, m, cov)
    s = log_density_summary(post, X, ci_prob=0.8, obs_chunk=3)
    np.testing.assert_allclose(s["mean"], l.mean(axis=1), rtol=1e-10)
    np.testing.assert_allclose(s["sd"], l.std(axis=1), rtol=1e-10)
    np.testing.assert_allclose(s["lower"], np.quantile(l, 0.1, axis=1), rtol=1e-10)
    np.testing.assert_allclose(s["upper"], np.quantile(l, 0.9, axis=1), rtol=1e-10)
    np.testing.assert_allclose(s["log_density"], np.log(np.exp(l).mean(axis=1)), rtol=1e-10)
    np.testing.assert_allclose(s["width"], s["upper"] - s["lower"])
    # the posterior predictive density (mean of densities) is >= the mean log density
    assert np.all(s["log_density"] >= s["mean"] - 1e-12)


def _gauss(D=2, scale=1.0, S=1):
    return _posterior(
        np.ones((1, S, 1)), np.zeros((1, S, 1, D)), np.broadcast_to(scale * np.eye(D), (1, S, 1, D, D))
    )


@pytest.mark.parametrize("rate", [0.01, 0.1])
def test_thresholds_match_the_chi2_quantile(rate):
    D = 2
    exact = -0.5 * D * np.log(2 * np.pi) - 0.5 * chi2.ppf(1 - rate, D)
    t = predictive_threshold(_gauss(D), rate, n_replicates=40000, random_state=0)
    assert t == pytest.approx(exact, abs=0.08)
    # two draws with different variances: each draw's own quantile
    post = _posterior(
        np.ones((1, 2, 1)), np.zeros((1, 2, 1, D)), np.stack([np.eye(D), 4 * np.eye(D)])[None, :, None]
    )
    q = per_draw_thresholds(post, rate, n_per_draw=40000, random_state=0)
    assert q[0] == pytest.approx(exact, abs=0.08)
    assert q[1] == pytest.approx(exact - D * np.log(2), abs=0.08)


def test_posterior_predictive_sampling_uses_every_draw():
    post = _posterior(np.ones((2, 2, 1)), np.arange(4.0).reshape(2, 2, 1, 1), np.full((2, 2, 1, 1, 1), 1e-8))
    X, draw = sample_posterior_predictive(post, 10, random_state=3)
    assert sorted(np.bincount(draw).tolist()) == [2, 2, 3, 3]
    np.testing.assert_allclose(X[:, 0], draw, atol=1e-3)  # draw s has mean s


def test_false_alarm_rate_is_realised_when_the_model_is_true():
    rate = 0.05
    res = anomaly_summary(_gauss(2), np.random.default_rng(5).normal(size=(20000, 2)), rate,
                          n_replicates=20000, n_per_draw=2000, random_state=0)
    assert res["is_outlier"].mean() == pytest.approx(rate, abs=0.006)
    # a single draw: the outlier probability is the indicator of the same tail
    assert res["outlier_probability"].mean() == pytest.approx(rate, abs=0.006)
    assert set(np.unique(res["outlier_probability"])) <= {0.0, 1.0}


def test_outlier_probability_reflects_disagreeing_draws():
    # draw 0: N(0, 1); draw 1: N(0, 9). x = 4 is in the 1% tail of draw 0 only.
    post = _posterior(np.ones((1, 2, 1)), np.zeros((1, 2, 1, 1)), np.array([1.0, 9.0]).reshape(1, 2, 1, 1, 1))
    res = anomaly_summary(post, [[0.0], [4.0], [30.0]], 0.01, n_per_draw=20000, random_state=0)
    assert res["outlier_probability"].values.tolist() == [0.0, 0.5, 1.0]
    assert res["lower"][1] < res["upper"][1]
    assert bool(res["is_outlier"][2]) and not bool(res["is_outlier"][0])


def test_detect_anomalies_on_em_and_bad_input():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(300, 2)), [[8.0, 8.0], [-7.0, 6.0]]]
    gm = bg.GaussianMixture(1, random_state=0).fit(X[:300])
    res = detect_anomalies(gm, X, 0.01, random_state=0)
    assert res["is_outlier"][-2:].all() and res["is_outlier"][:300].mean() < 0.04
    assert float(res["width"].max()) == 0.0  # a point estimate has no interval
    np.testing.assert_allclose(res["log_density"], gm.score_samples(X), rtol=1e-9)
    with pytest.raises(ValueError, match="X is required"):
        detect_anomalies(gm)
    with pytest.raises(ValueError, match="false_alarm_rate must be in"):
        detect_anomalies(gm, X, 0.7)
    with pytest.raises(ValueError, match="not fitted"):
        detect_anomalies(bg.GaussianMixture(1), X)


def test_density_grid_is_the_exact_marginal():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 3))
    gm = bg.GaussianMixture(2, random_state=0).fit(X)
    g = density_grid(gm, X, features=(2, 0), n_grid=4)
    idx = [2, 0]
    pts = np.column_stack([g["x"].values[[1, 2]], g["y"].values[[3, 0]]])
    dens = sum(
        gm.weights_[k] * multivariate_normal(gm.means_[k, idx], gm.covariances_[k][np.ix_(idx, idx)]).pdf(pts)
        for k in range(2)
    )
    got = g["log_density"].values[[3, 0], [1, 2]]
    np.testing.assert_allclose(got, np.log(dens), rtol=1e-9)
    assert g.attrs["features"] == ["x2", "x0"]
    with pytest.raises(ValueError, match="exactly two"):
        density_grid(gm, X, features=(0,))


def test_anomalies_plot_marks_the_flagged_points():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(150, 2)), [[7.0, 7.0]]]
    post, *_ = _random_posterior(rng, C=1, S=4, K=1)
    post = _posterior(np.ones((1, 4, 1)), rng.normal(0, 0.05, (1, 4, 1, 2)), np.broadcast_to(np.eye(2), (1, 4, 1, 2, 2)))
    res = detect_anomalies(post, X, 0.01, random_state=0)
    ax = bg.plots.anomalies(density_grid(post, X, n_grid=15), X, res)
    crosses = [c for c in ax.collections if c.get_offsets().shape[0] == int(res["is_outlier"].sum())]
    assert crosses and np.allclose(crosses[-1].get_offsets()[-1], [7.0, 7.0])
    assert "flagged" in ax.get_legend().get_texts()[0].get_text()
    with pytest.raises(TypeError, match="density_grid"):
        bg.plots.anomalies(res, X)
    plt.close("all")


@pytest.mark.parametrize("module", ["bayesgmm.posterior.density", "bayesgmm.anomaly", "bayesgmm.plots._anomaly"])
def test_docstring_examples(module):
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0


@pytest.mark.slow
def test_detect_anomalies_on_a_bayesian_fit_defaults_to_its_training_data():
    import warnings

    X = np.random.default_rng(0).normal(size=(80, 2))
    model = bg.BayesianGMM(1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bg.exceptions.SamplingWarning)
        model.fit(X, draws=30, tune=30, chains=1, progressbar=False)
    a = detect_anomalies(model, random_state=0)
    b = detect_anomalies(model, X, random_state=0)
    xr.testing.assert_allclose(a.drop_vars("obs"), b.drop_vars("obs"))
    assert float(a["width"].min()) > 0  # draws disagree: every interval has a width
    np.testing.assert_allclose(a["log_density"], model.score_samples(X), rtol=1e-9)
    g = density_grid(model, n_grid=4)
    assert g.attrs["features"] == ["x0", "x1"] and float(g["width"].min()) > 0


def test_intervals_follow_arviz_names_and_defaults():
    """ci_prob/ci_kind default to ArviZ's rcParams; hdi_prob is the deprecated alias."""
    from arviz_base import rc_context

    from bayesgmm.posterior._common import interval_bounds

    rng = np.random.default_rng(5)
    post, w, m, cov = _random_posterior(rng, C=2, S=20)
    X = rng.normal(0, 2, size=(4, 2))
    l = _brute(X, w, m, cov)
    s = log_density_summary(post, X)
    assert (s.attrs["ci_prob"], s.attrs["ci_kind"], s.attrs["interval"]) == (0.89, "eti", "equal-tailed")
    np.testing.assert_allclose(s["lower"], np.quantile(l, 0.055, axis=1), rtol=1e-10)
    with rc_context({"stats.ci_prob": 0.5, "stats.ci_kind": "hdi"}):
        h = log_density_summary(post, X)
    assert (h.attrs["ci_prob"], h.attrs["interval"]) == (0.5, "highest density")
    lo, hi = interval_bounds(l, 0.5, "hdi", axis=1)
    np.testing.assert_allclose(h["lower"], lo, rtol=1e-10)
    np.testing.assert_allclose(h["upper"], hi, rtol=1e-10)
    with pytest.warns(FutureWarning, match="hdi_prob is deprecated"):
        d = log_density_summary(post, X, hdi_prob=0.8)
    np.testing.assert_allclose(d["lower"], np.quantile(l, 0.1, axis=1), rtol=1e-10)
    with pytest.raises(ValueError, match="ci_kind"):
        log_density_summary(post, X, ci_kind="central")
    # the anomaly entry points pass them through, and so does the grid
    gm = bg.GaussianMixture(1, n_init=1, random_state=0).fit(rng.normal(size=(50, 2)))
    with pytest.warns(FutureWarning, match="hdi_prob"):
        a = detect_anomalies(gm, X, 0.05, hdi_prob=0.8, n_replicates=200, n_per_draw=50, random_state=0)
    assert a.attrs["ci_prob"] == 0.8
    b = detect_anomalies(gm, X, 0.05, ci_kind="hdi", n_replicates=200, n_per_draw=50, random_state=0)
    assert (b.attrs["ci_prob"], b.attrs["ci_kind"]) == (0.89, "hdi")
    g = density_grid(gm, X, n_grid=3, ci_prob=0.7)
    assert (g.attrs["ci_prob"], g.attrs["ci_kind"]) == (0.7, "eti")
