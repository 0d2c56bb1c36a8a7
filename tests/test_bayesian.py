"""Fast tests of BayesianGMM that need no posterior sampling."""

import numpy as np
import pandas as pd
import pytest

import bayesgmm as bg
from bayesgmm.bayesian import BayesianGMM, NotFittedError


def test_repr_and_params_protocol():
    m = BayesianGMM(3, covariance_type="diag", random_state=0)
    assert repr(m) == "BayesianGMM(n_components=3, covariance_type='diag', random_state=0)"
    assert repr(BayesianGMM()) == "BayesianGMM()"
    params = m.get_params()
    assert {k: params[k] for k in ("n_components", "covariance_type", "priors", "random_state")} == {
        "n_components": 3, "covariance_type": "diag", "priors": None, "random_state": 0}
    assert params["draws"] == 1000 and params["n_init"] == bg.em.DEFAULT_N_INIT
    assert m.set_params(n_components=2) is m and m.n_components == 2
    with pytest.raises(ValueError, match="Invalid parameter 'n_component'"):
        m.set_params(n_component=2)
    # scikit-learn convention: set_params stores, fit validates
    m.set_params(covariance_type="banana")
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        m.fit(np.zeros((5, 2)))


def test_scikit_learn_clone_and_fitted_check():
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError as SkNotFittedError
    from sklearn.utils.validation import check_is_fitted

    m = BayesianGMM(3, priors=bg.Priors(lkj_eta=3.0), random_state=2)
    c = clone(m)
    assert c is not m and c.get_params()["priors"] == m.get_params()["priors"]
    with pytest.raises(SkNotFittedError):
        check_is_fitted(m)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n_components": 0}, ValueError, "n_components must be an integer >= 1, got 0"),
        ({"n_components": 2.5}, TypeError, "n_components must be an integer"),
        ({"n_components": True}, TypeError, "n_components must be an integer"),
        ({"covariance_type": "banana"}, ValueError, "covariance_type must be one of"),
        ({"priors": 3}, TypeError, "priors must be a bayesgmm.Priors"),
        ({"random_state": "seed"}, TypeError, "random_state must be None, an int"),
        ({"random_state": -1}, ValueError, "random_state must be in"),
    ],
)
def test_bad_constructor_arguments(kwargs, exc, match):
    model = BayesianGMM(**kwargs)  # scikit-learn convention: stored as given, checked by fit
    with pytest.raises(exc, match=match):
        model.fit(np.random.default_rng(0).normal(size=(10, 2)))
    assert not hasattr(model, "idata_")


def test_unfitted_use_raises_not_fitted_error():
    m = BayesianGMM(2)
    X = np.zeros((3, 2))
    for call in (m.membership, lambda: m.predict_proba(X), lambda: m.predict(X),
                 lambda: m.score_samples(X), m.summary, m.compare_em, lambda: m.save("x.nc")):
        with pytest.raises(NotFittedError, match="not fitted yet") as info:
            call()
        assert isinstance(info.value, ValueError) and isinstance(info.value, AttributeError)
    with pytest.raises(NotFittedError, match="pass X"):
        m.sample_prior_predictive()


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"method": "hmc"}, ValueError, "method must be one of"),
        ({"draws": 0}, ValueError, "draws must be an integer >= 1"),
        ({"tune": -1}, ValueError, "tune must be an integer >= 0"),
        ({"chains": 1.5}, TypeError, "chains must be an integer"),
        ({"n_init": 0}, ValueError, '`n_init` must be "auto" or an integer >= 1'),
        ({"progressbar": "no"}, TypeError, "progressbar must be True or False"),
        ({"log_likelihood": "some"}, ValueError, "log_likelihood must be True, False or 'auto'"),
        ({"reg_covar": -1.0}, ValueError, "reg_covar must be None"),
    ],
)
def test_bad_fit_arguments_fail_before_any_work(kwargs, exc, match):
    X = np.random.default_rng(0).normal(size=(10, 2))
    m = BayesianGMM(2)
    with pytest.raises(exc, match=match):
        m.fit(X, **kwargs)  # as a fit override
    assert not hasattr(m, "idata_") and not hasattr(m, "em_")
    m = BayesianGMM(2, **kwargs)  # as a constructor parameter
    with pytest.raises(exc, match=match):
        m.fit(X)
    assert not hasattr(m, "idata_") and not hasattr(m, "em_")


def test_bad_data_errors_name_the_problem():
    m = BayesianGMM(2)
    X = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match="NaN"):
        m.fit(X)
    X_before = X.copy()
    with pytest.raises(ValueError, match="X has 3 rows but n_components=4"):
        BayesianGMM(4).fit(np.eye(3))
    with pytest.raises(ValueError, match="at least 2"):
        BayesianGMM(1).fit(np.array([[1.0, 2.0]]))
    pd.testing.assert_frame_equal(X, X_before)  # caller's data untouched


@pytest.mark.slow
def test_sample_prior_predictive_matches_documented_priors():
    X = bg.datasets.load_old_faithful()
    prior = BayesianGMM(2, random_state=0).sample_prior_predictive(X, draws=1000)
    w = prior["prior"]["weights"].values.reshape(-1, 2)
    m = prior["prior"]["means"].values.reshape(-1, 2, 2)
    # Dirichlet(1, 1): each weight is Uniform(0, 1)
    assert w.mean() == pytest.approx(0.5, abs=0.02)
    assert w[:, 0].std() == pytest.approx(np.sqrt(1 / 12), rel=0.07)
    # means ~ Normal(data mean, 2 * data sd) per feature (Priors defaults)
    sd = X.std(ddof=1).to_numpy()
    assert np.all(np.abs(m.mean(axis=(0, 1)) - X.mean().to_numpy()) < 0.15 * sd)
    np.testing.assert_allclose(m.std(axis=(0, 1)), 2 * sd, rtol=0.07)
    assert prior["prior_predictive"]["X"].shape[-2:] == (272, 2)
    # reproducible with the same seed
    again = BayesianGMM(2, random_state=0).sample_prior_predictive(X, draws=1000)
    np.testing.assert_array_equal(again["prior"]["means"].values, prior["prior"]["means"].values)
    np.testing.assert_array_equal(again["prior_predictive"]["X"].values,
                                  prior["prior_predictive"]["X"].values)


def _post(C=2, S=10, K=2):
    rng = np.random.default_rng(0)
    import xarray as xr

    return xr.Dataset({
        "weights": (("chain", "draw", "component"), rng.dirichlet(np.ones(K), size=(C, S))),
        "means": (("chain", "draw", "component", "feature"), rng.normal(size=(C, S, K, 2))),
        "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
                        np.broadcast_to(np.eye(2), (C, S, K, 2, 2)).copy()),
    })


def test_check_complete_detects_interrupted_runs():
    from bayesgmm.bayesian import _check_complete

    _check_complete(_post(), draws=10, chains=2)  # complete: no error
    # nutpie's Ctrl-C: draw dim cut to the longest chain, shorter chains NaN-padded
    post = _post(S=7)
    post["weights"][1, 5:] = np.nan
    post["means"][1, 5:] = np.nan
    with pytest.raises(KeyboardInterrupt, match=r"chain 0: 7, chain 1: 5 of 10 draws"):
        _check_complete(post, draws=10, chains=2)
    with pytest.raises(KeyboardInterrupt, match="interrupted"):
        _check_complete(_post(C=1), draws=10, chains=2)
    # a NaN in the middle of a chain is not an interruption
    post = _post()
    post["covariances"][0, 3, 1, 0, 0] = np.inf
    with pytest.raises(ValueError, match="1 draws with non-finite parameters"):
        _check_complete(post, draws=10, chains=2)


def test_check_complete_non_finite_chain_of_a_sampler_that_is_not_interruptible():
    """Gibbs, tempering and VI pass Ctrl-C on instead of returning a partial run: a chain
    whose draws are all non-finite is a numerical failure, not an interruption."""
    from bayesgmm.bayesian import _check_complete

    post = _post()
    post["means"][1] = np.nan
    with pytest.raises(KeyboardInterrupt):  # NUTS: the pattern of nutpie's Ctrl-C
        _check_complete(post, draws=10, chains=2)
    with pytest.raises(ValueError, match=r"method='gibbs'.*chain 1: 10 of 10.*resolution="):
        _check_complete(post, draws=10, chains=2, interruptible=False, method="gibbs")
    with pytest.raises(ValueError, match=r"method='tempering'.*try method='nuts'\."):
        _check_complete(post, draws=10, chains=2, interruptible=False, method="tempering")
    _check_complete(_post(), draws=10, chains=2, interruptible=False, method="gibbs")


@pytest.mark.slow
def test_docstring_examples_run():
    import doctest

    import bayesgmm.bayesian

    res = doctest.testmod(bayesgmm.bayesian, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0
