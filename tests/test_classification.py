"""GaussianMixtureClassifier: BIC per class, Bayes' rule, intervals, LLR (bayesgmm.classification)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesgmm as bg
from bayesgmm.classification import GaussianMixtureClassifier
from bayesgmm.exceptions import DataConversionWarning, NotFittedError


def _data(seed=0, n=120):
    """Class "a" bimodal (two blobs), class "b" one blob between them, slightly above."""
    rng = np.random.default_rng(seed)
    a = np.r_[rng.normal([-4, 0], 0.6, (n // 2, 2)), rng.normal([4, 0], 0.6, (n // 2, 2))]
    b = rng.normal([0, 1.0], 0.5, (n, 2))
    return np.r_[a, b], np.repeat(["a", "b"], n)


def test_bic_chooses_the_component_count_per_class():
    X, y = _data()
    clf = GaussianMixtureClassifier(n_components=(1, 2, 3), random_state=0).fit(X, y)
    assert clf.classes_.tolist() == ["a", "b"]
    assert clf.n_components_.tolist() == [2, 1]
    assert clf.covariance_types_ == ["full", "full"]
    for table, k in zip(clf.bic_, clf.n_components_):
        assert min(table, key=lambda key: np.nan_to_num(table[key], nan=np.inf)) == (k, "full")
    np.testing.assert_allclose(clf.class_prior_, [0.5, 0.5])
    # a single-component QDA-like fit cannot separate the bimodal class as well
    Xt, yt = _data(seed=1)
    one = GaussianMixtureClassifier(n_components=1, random_state=0).fit(X, y)
    assert clf.score(Xt, yt) > 0.97
    assert clf.score(Xt, yt) > one.score(Xt, yt)


def test_covariance_types_are_chosen_by_bic_too():
    X, y = _data()
    clf = GaussianMixtureClassifier(n_components=(1, 2), covariance_type=("spherical", "full"),
                                    random_state=0).fit(X, y)
    # the blobs are isotropic with equal spread: spherical has the lower BIC
    assert clf.covariance_types_ == ["spherical", "spherical"]
    assert set(clf.bic_[0]) == {(1, "spherical"), (2, "spherical"), (1, "full"), (2, "full")}


def test_predict_proba_is_bayes_rule_on_the_class_mixtures():
    X, y = _data()
    clf = GaussianMixtureClassifier(n_components=(1, 2), class_prior=[0.3, 0.7], random_state=0).fit(X, y)
    Xt = np.array([[0.0, 1.2], [-4.0, 0.0], [1.0, 2.0]])
    joint = np.column_stack([e.score_samples(Xt) for e in clf.estimators_]) + np.log([0.3, 0.7])
    expected = np.exp(joint - np.log(np.exp(joint).sum(axis=1, keepdims=True)))
    np.testing.assert_allclose(clf.predict_proba(Xt), expected, rtol=1e-10)
    np.testing.assert_allclose(clf.predict_proba(Xt).sum(axis=1), 1.0)
    assert clf.predict(Xt).tolist() == list(clf.classes_[expected.argmax(axis=1)])


def test_log_likelihood_ratio_against_the_background():
    X, y = _data()
    clf = GaussianMixtureClassifier(n_components=(1, 2, 3), random_state=0).fit(X, y)
    res = clf.log_likelihood_ratio(X, "b")
    np.testing.assert_allclose(
        res["llr"], clf.estimators_[1].score_samples(X) - clf.background_.score_samples(X)
    )
    llr = res["llr"].to_numpy()
    assert llr[y == "b"].mean() > 0 > llr[y == "a"].mean()
    assert "lower" not in res  # EM: a point estimate
    with pytest.raises(ValueError, match="one of classes_"):
        clf.log_likelihood_ratio(X, "c")
    with pytest.raises(ValueError, match="method='bayes'"):
        clf.predict_proba_interval(X)
    no_bg = GaussianMixtureClassifier(1, background=False).fit(X, y)
    assert no_bg.background_ is None
    with pytest.raises(ValueError, match="background=True"):
        no_bg.log_likelihood_ratio(X, "a")


def test_dataframe_names_and_bad_input():
    X, y = _data()
    df = pd.DataFrame(X, columns=["u", "v"])
    clf = GaussianMixtureClassifier(1).fit(df, y)
    assert clf.feature_names_in_.tolist() == ["u", "v"]
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(pd.DataFrame(X, columns=["v", "u"]))
    with pytest.raises(NotFittedError):
        GaussianMixtureClassifier().predict(X)
    with pytest.raises(ValueError, match="n_components must be a positive int"):
        GaussianMixtureClassifier(n_components=(0, 1)).fit(X, y)
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        GaussianMixtureClassifier(covariance_type="fulll").fit(X, y)
    with pytest.raises(ValueError, match="class_prior must be 2"):
        GaussianMixtureClassifier(class_prior=[0.2, 0.2]).fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        GaussianMixtureClassifier().fit(X, np.linspace(0, 1, len(X)))
    with pytest.raises(ValueError, match="inconsistent numbers"):
        GaussianMixtureClassifier().fit(X, y[:-1])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        GaussianMixtureClassifier(1).fit(X, y[:, None])
    assert any(issubclass(x.category, DataConversionWarning) for x in w)


def test_same_seed_same_result():
    X, y = _data()
    a = GaussianMixtureClassifier(random_state=3).fit(X, y).predict_proba(X)
    b = GaussianMixtureClassifier(random_state=3).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_bayesian_variant_intervals_and_llr():
    X, y = _data(n=60)
    clf = GaussianMixtureClassifier(
        n_components=(1, 2), method="bayes", random_state=0,
        bayes_options={"draws": 40, "tune": 60, "chains": 1, "progressbar": False},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bg.exceptions.SamplingWarning)
        clf.fit(X, y)
    assert isinstance(clf.estimators_[0], bg.BayesianGMM)
    assert clf.n_components_.tolist() == [2, 1]
    Xt = np.array([[-4.0, 0.0], [0.0, 1.0], [2.0, 0.5]])
    res = clf.predict_proba_interval(Xt, ci_prob=0.9)
    p, lo, hi = (res[v].to_numpy() for v in ("probability", "lower", "upper"))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # an equal-tailed interval need not hold the mean of a skewed near-point mass
    # (0.999999999 with a few lower draws): only its order and range are checked
    assert np.all(lo <= hi) and np.all(lo >= 0.0) and np.all(hi <= 1.0 + 1e-12)
    assert clf.predict(Xt)[:2].tolist() == ["a", "b"]
    # predictive probability = pi-weighted posterior predictive densities
    dens = np.column_stack([e.score_samples(Xt) for e in clf.estimators_]) + np.log(clf.class_prior_)
    np.testing.assert_allclose(p, np.exp(dens - np.log(np.exp(dens).sum(axis=1, keepdims=True))))
    llr = clf.log_likelihood_ratio(Xt, "a", ci_prob=0.9)
    assert np.all(llr["lower"] <= llr["upper"]) and llr["llr"][0] > 0 > llr["llr"][1]


class _Draws:
    """A fitted Bayesian mixture reduced to what the classifier reads: its draws."""

    def __init__(self, post):
        import xarray as xr

        self.idata_ = xr.DataTree.from_dict({"posterior": post})

    def score_samples(self, X):
        from bayesgmm.posterior import posterior_predictive_log_density

        return posterior_predictive_log_density(self.idata_, X).to_numpy()


def _draw_posterior(rng, S, K, shift):
    import xarray as xr

    A = rng.normal(size=(1, S, K, 2, 2))
    return xr.Dataset({
        "weights": (("chain", "draw", "component"), rng.dirichlet(np.ones(K), size=(1, S))),
        "means": (("chain", "draw", "component", "feature"), rng.normal(shift, 1, (1, S, K, 2))),
        "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
                        A @ np.swapaxes(A, -1, -2) + np.eye(2)),
    })


def test_bayesian_intervals_match_brute_force_on_given_draws():
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(4)
    S = 6
    posts = [_draw_posterior(rng, S, 2, 0.0), _draw_posterior(rng, S, 1, 2.0)]
    background = _draw_posterior(rng, S, 3, 1.0)
    clf = GaussianMixtureClassifier(method="bayes", class_prior=[0.4, 0.6])
    clf.classes_ = np.array(["u", "v"])
    clf.class_prior_ = np.array([0.4, 0.6])
    clf.class_counts_ = np.array([10, 15])
    clf.estimators_ = [_Draws(p) for p in posts]
    clf.background_ = _Draws(background)
    clf.n_features_in_ = 2
    X = rng.normal(1, 2, size=(5, 2))

    def logdens(post):  # (n, S) by scipy
        w, m, c = (post[v].values[0] for v in ("weights", "means", "covariances"))
        return np.log(np.stack([
            sum(w[s, k] * multivariate_normal(m[s, k], c[s, k]).pdf(X) for k in range(w.shape[1]))
            for s in range(S)], axis=1))

    L = np.stack([logdens(p) for p in posts], axis=1) + np.log([0.4, 0.6])[None, :, None]
    P = np.exp(L - np.log(np.exp(L).sum(axis=1, keepdims=True)))
    res = clf.predict_proba_interval(X, ci_prob=0.8)
    np.testing.assert_allclose(res["mean"], P.mean(axis=2), rtol=1e-9)
    np.testing.assert_allclose(res["lower"], np.quantile(P, 0.1, axis=2), rtol=1e-9)
    np.testing.assert_allclose(res["upper"], np.quantile(P, 0.9, axis=2), rtol=1e-9)
    pred = np.log(np.exp(L).mean(axis=2))  # posterior predictive densities x prior
    np.testing.assert_allclose(res["probability"], np.exp(pred) / np.exp(pred).sum(1, keepdims=True), rtol=1e-9)

    r = logdens(posts[1]) - logdens(background)
    llr = clf.log_likelihood_ratio(X, "v", ci_prob=0.8)
    np.testing.assert_allclose(llr["mean"], r.mean(axis=1), rtol=1e-9)
    np.testing.assert_allclose(llr["lower"], np.quantile(r, 0.1, axis=1), rtol=1e-9)
    np.testing.assert_allclose(
        llr["llr"], np.log(np.exp(logdens(posts[1])).mean(1)) - np.log(np.exp(logdens(background)).mean(1)),
        rtol=1e-9)
    # with class proportions from their Dirichlet posterior the intervals widen
    clf.class_prior = None
    wide = clf.predict_proba_interval(X, ci_prob=0.8, random_state=0)
    assert float((wide["upper"] - wide["lower"]).sum()) > float((res["upper"] - res["lower"]).sum())


def test_docstring_examples():
    import doctest

    import bayesgmm.classification

    res = doctest.testmod(bayesgmm.classification, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0


def test_bayesian_intervals_take_arviz_names_and_defaults():
    """ci_prob/ci_kind as everywhere else: rcParams defaults, 'hdi', hdi_prob deprecated."""
    from arviz_base import rc_context

    from bayesgmm.posterior._common import interval_bounds

    rng = np.random.default_rng(6)
    S = 30
    clf = GaussianMixtureClassifier(method="bayes", class_prior=[0.5, 0.5])
    clf.classes_ = np.array(["u", "v"])
    clf.class_prior_ = np.array([0.5, 0.5])
    clf.class_counts_ = np.array([10, 10])
    clf.estimators_ = [_Draws(_draw_posterior(rng, S, 2, 0.0)), _Draws(_draw_posterior(rng, S, 1, 2.0))]
    clf.background_ = _Draws(_draw_posterior(rng, S, 2, 1.0))
    clf.n_features_in_ = 2
    X = rng.normal(1, 2, size=(4, 2))
    res = clf.predict_proba_interval(X)
    assert (res.attrs["ci_prob"], res.attrs["ci_kind"], res.attrs["interval"]) == (0.89, "eti", "equal-tailed")
    with pytest.warns(FutureWarning, match="hdi_prob is deprecated"):
        old = clf.predict_proba_interval(X, hdi_prob=0.89)
    np.testing.assert_array_equal(old["lower"], res["lower"])
    with rc_context({"stats.ci_kind": "hdi"}):
        h = clf.log_likelihood_ratio(X, "v", ci_prob=0.6)
    assert (h.attrs["ci_prob"], h.attrs["ci_kind"]) == (0.6, "hdi")
    r = clf._draws(clf.estimators_[1], X) - clf._draws(clf.background_, X)
    lo, hi = interval_bounds(r, 0.6, "hdi", axis=1)
    np.testing.assert_allclose(h["lower"], lo, rtol=1e-12)
    np.testing.assert_allclose(h["upper"], hi, rtol=1e-12)
    with pytest.raises(ValueError, match="disagree"):
        clf.log_likelihood_ratio(X, "v", ci_prob=0.6, hdi_prob=0.7)
