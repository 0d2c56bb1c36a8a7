"""BayesianGMM as a scikit-learn estimator: the common checks, clone, Pipeline, GridSearchCV."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from bayesgmm import BayesianGMM  # noqa: E402
from bayesgmm.bayesian import FIT_SETTINGS  # noqa: E402
from bayesgmm.exceptions import BayesGMMWarning  # noqa: E402

#: Fast settings: NUTS with a few draws, one chain (about a second a fit).
FAST = dict(draws=10, tune=10, chains=1, progressbar=False)

# No check is expected to fail. scikit-learn skips one: check_array_api_input (needs
# SCIPY_ARRAY_API=1; BayesianGMM converts its input to numpy float64 in any case). The
# sample-weight checks do not apply: fit takes no sample_weight.
EXPECTED_FAILED = {}


@pytest.mark.slow
@parametrize_with_checks(
    [BayesianGMM(n_components=2, random_state=0, **FAST)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        # tiny runs on the checks' random data: R-hat/ESS warnings are expected
        warnings.simplefilter("ignore", BayesGMMWarning)
        check(estimator)


# ------------------------------------------------------------------ fast tests
def _two_blobs(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return np.r_[rng.normal(-4, 1, (n // 2, 1)), rng.normal(4, 1, (n // 2, 1))]


def test_no_validation_in_init_or_set_params_only_in_fit():
    model = BayesianGMM(n_components=-1, draws="many", reg_covar=-1.0)  # stored verbatim
    assert model.get_params()["draws"] == "many"
    model.set_params(n_components=0, method="hmc")
    with pytest.raises(ValueError, match="n_components"):
        model.fit(_two_blobs())
    with pytest.raises(ValueError, match="method must be one of"):
        BayesianGMM(2, method="hmc").fit(_two_blobs())
    with pytest.raises(TypeError, match="draws"):
        BayesianGMM(2, draws="many").fit(_two_blobs())
    with pytest.raises(ValueError, match="reg_covar"):
        BayesianGMM(2, reg_covar=-1.0).fit(_two_blobs())
    with pytest.raises(TypeError, match="sampler_kwargs"):
        BayesianGMM(2, sampler_kwargs=[("target_accept", 0.9)]).fit(_two_blobs())


def test_every_sampler_setting_is_a_parameter_and_clone_carries_it():
    model = BayesianGMM(3, covariance_type="diag", n_init=2, sampler_kwargs={"target_accept": 0.9},
                        reg_covar=1e-4, random_state=4, **FAST)
    params = model.get_params()
    assert set(FIT_SETTINGS) | {"sampler_kwargs", "n_components", "covariance_type", "priors",
                                "random_state", "missing", "noise", "noise_hypervolume"} == set(params)
    copy = clone(model)
    assert copy.get_params() == params and copy is not model


def test_fit_overrides_take_precedence_for_one_call_only():
    X = _two_blobs()
    model = BayesianGMM(2, random_state=0, sampler_kwargs={"target_accept": 0.9}, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesGMMWarning)
        model.fit(X, y=np.zeros(len(X)), draws=7, target_accept=0.95, n_init=2)
    assert model.idata_["posterior"].sizes["draw"] == 7
    assert model.draws == 10 and model.sampler_kwargs == {"target_accept": 0.9}  # unchanged
    import json

    config = json.loads(model.idata_.attrs["sampler_config"])
    assert config["draws"] == 7 and config["target_accept"] == 0.95 and config["n_init"] == 2
    params = json.loads(model.idata_.attrs["estimator_params"])
    assert params["draws"] == 10 and params["sampler_kwargs"] == {"target_accept": 0.9}


def test_score_sample_fit_predict_and_pipeline():
    X = _two_blobs()
    model = BayesianGMM(2, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesGMMWarning)
        labels = model.fit_predict(X)
    np.testing.assert_array_equal(labels, model.predict(X))
    assert set(labels[:20]) != set(labels[20:])  # the two blobs get different labels
    assert model.score(X) == pytest.approx(model.score_samples(X).mean())
    Xs, ys = model.sample(400)
    Xs2, _ = model.sample(400)
    assert Xs.shape == (400, 1) and ys.shape == (400,) and set(np.unique(ys)) <= {0, 1}
    np.testing.assert_array_equal(Xs, Xs2)  # derived from random_state: reproducible
    # the sample has the data's two modes: each component's draws sit on its blob
    means = sorted(Xs[ys == k, 0].mean() for k in (0, 1))
    assert means[0] == pytest.approx(-4, abs=0.7) and means[1] == pytest.approx(4, abs=0.7)
    # the wide membership table and the deprecated interval name
    table = model.membership_table()
    assert table.index.name == "obs" and len(table) == len(X)
    assert list(table.columns[:3]) == ["x0", "component", "probability"]  # the feature first
    np.testing.assert_array_equal(table["component"], labels)
    with pytest.warns(FutureWarning, match="hdi_prob is deprecated"):
        old = model.membership(hdi_prob=0.9)
    new = model.membership(ci_prob=0.9, ci_kind="eti")
    np.testing.assert_array_equal(old["lower"], new["lower"])
    pipe = make_pipeline(StandardScaler(), clone(model))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesGMMWarning)
        pipe.fit(X)
    assert np.isfinite(pipe.score(X))
    assert (pipe.predict(X) == labels).mean() in (0.0, 1.0)  # same partition up to labels


def test_gridsearch_over_n_components_by_held_out_log_predictive_density():
    # the user-guide recipe: cross-validated mean log predictive density chooses K
    X = _two_blobs(60, seed=1)
    search = GridSearchCV(
        BayesianGMM(random_state=0, **FAST),
        {"n_components": [1, 2]},
        cv=KFold(2, shuffle=True, random_state=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesGMMWarning)
        search.fit(X)
    assert search.best_params_ == {"n_components": 2}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] + 0.5  # per observation: well separated blobs
    assert search.best_estimator_.draws == FAST["draws"]  # the settings travel with clone


def test_namespace_is_clean():
    import bayesgmm

    listed = dir(bayesgmm)
    for name in ("importlib", "PackageNotFoundError", "annotations", "version"):
        assert name not in listed
        assert not hasattr(bayesgmm, name)
    assert "BayesianGMM" in listed and "__version__" in listed


def test_reg_covar_advice_can_be_followed():
    # features on very different scales: the default scale-free regulariser (1e-6 x the
    # mean variance) swamps the small feature, and EM's warning advises lowering
    # reg_covar -- a parameter BayesianGMM has.
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(0, 1000, 60), np.r_[rng.normal(0, 0.01, 30), rng.normal(0.1, 0.01, 30)]]
    with pytest.warns(BayesGMMWarning, match="lower reg_covar"):
        BayesianGMM(2, random_state=0, **FAST).fit(X)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        model = BayesianGMM(2, reg_covar=1e-9, random_state=0, **FAST).fit(X)
    assert not [w for w in rec if "reg_covar" in str(w.message)]
    assert model.em_.reg_covar == 1e-9


# ------------------------------------------------ fit(X, model=...): a user-extended model
@pytest.mark.slow
def test_fit_samples_a_user_extended_model():
    import pymc as pm

    import bayesgmm as bg

    X = _two_blobs(60, seed=2)
    model = bg.build_model(X, 2, "spherical")
    with model:  # the user's addition: an informative prior pulling component 0's mean to 0
        pm.Potential("pull", pm.logp(pm.Normal.dist(0.0, 0.05), model["means"][0, 0]))
    est = BayesianGMM(2, covariance_type="spherical", nuts_sampler="pymc", random_state=0,
                      draws=30, tune=30, chains=1, progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, model=model)
    post = est.idata_["posterior"]
    means = post["means"].mean(("chain", "draw")).to_numpy().ravel()
    assert abs(means[0]) < 0.3  # the added prior took effect on component 0 ...
    assert abs(abs(means[1]) - 4) < 1.0  # ... the other still sits on a blob
    # relabelled, memberships, diagnostics and the tree as usual
    assert post.sizes == {"chain": 1, "draw": 30, "component": 2, "feature": 1, "feature_bis": 1}
    assert est.membership()["probability"].shape == (60, 2)
    assert "log_likelihood" in est.idata_.children and est.diagnostics_ is not None
    import json

    assert json.loads(est.idata_.attrs["sampler_config"])["user_model"] is True


def test_fit_model_hook_checks_the_model_first():
    import bayesgmm as bg

    X = _two_blobs()
    est = BayesianGMM(2, covariance_type="spherical", nuts_sampler="pymc", n_init=1, **FAST)
    with pytest.raises(TypeError, match="model must be a pymc.Model"):
        est.fit(X, model="my model")
    with pytest.raises(ValueError, match="lacks the mixture's variable"):
        est.fit(X, model=bg.build_model(X, 2, "diag"))  # another covariance type
    with pytest.raises(ValueError, match="X_data"):
        est.fit(X, model=bg.build_model(X[:30], 2, "spherical"))
    with pytest.raises(ValueError, match="NUTS only"):
        est.fit(X, model=bg.build_model(X, 2, "spherical"), method="advi")
    assert not hasattr(est, "idata_")


def test_one_n_init_default_and_one_icl_default():
    import inspect

    import bayesgmm as bg
    from bayesgmm.cli._main import _parser
    from bayesgmm.em import DEFAULT_N_INIT
    from bayesgmm.inference import em_start

    assert DEFAULT_N_INIT == "auto"
    assert BayesianGMM().n_init == DEFAULT_N_INIT
    assert bg.GaussianMixture().n_init == DEFAULT_N_INIT
    assert inspect.signature(bg.select_components).parameters["n_init"].default == DEFAULT_N_INIT
    assert inspect.signature(em_start).parameters["n_init"].default == DEFAULT_N_INIT  # run_inference's
    parser = _parser()
    for cmd in (["fit", "d.csv", "-k", "2", "-o", "f.nc"], ["select", "d.csv"]):
        assert parser.parse_args(cmd).n_init == DEFAULT_N_INIT
    # GaussianMixture.icl and select_components agree on the ICL (mclust's "map")
    assert inspect.signature(bg.GaussianMixture.icl).parameters["method"].default == "map"
    assert inspect.signature(bg.select_components).parameters["icl_method"].default == "map"
