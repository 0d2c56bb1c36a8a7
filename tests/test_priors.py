import json

import numpy as np
import pandas as pd
import pytest

from bayesgmm.priors import Priors, ResolvedPriors


@pytest.fixture
def X():
    rng = np.random.default_rng(1)
    return rng.normal(loc=[1.0, -5.0, 100.0], scale=[1.0, 0.1, 30.0], size=(200, 3))


def test_defaults_resolve_to_data_scale(X):
    r = Priors().resolve(X, n_components=4)
    assert isinstance(r, ResolvedPriors)
    np.testing.assert_allclose(r.weights_alpha, np.ones(4))
    np.testing.assert_allclose(r.mean_loc, X.mean(axis=0))
    np.testing.assert_allclose(r.mean_sd, 2.0 * X.std(axis=0, ddof=1))
    np.testing.assert_allclose(r.sd_sigma, X.std(axis=0, ddof=1))
    np.testing.assert_allclose(r.sd_sigma_spherical, np.sqrt(np.mean(X.std(axis=0, ddof=1) ** 2)))
    assert r.lkj_eta == 2.0
    assert (r.n_components, r.n_features) == (4, 3)


def test_scale_equivariance(X):
    """Shifting and rescaling features shifts and rescales the resolved prior."""
    a = np.array([2.0, 1000.0, 0.01])
    b = np.array([-3.0, 7.0, 0.0])
    r1 = Priors().resolve(X, 2)
    r2 = Priors().resolve(X * a + b, 2)
    np.testing.assert_allclose(r2.mean_loc, r1.mean_loc * a + b)
    np.testing.assert_allclose(r2.mean_sd, r1.mean_sd * a)
    np.testing.assert_allclose(r2.sd_sigma, r1.sd_sigma * a)


def test_per_component_and_per_feature_values(X):
    p = Priors(weights_alpha=[1.0, 2.0, 3.0], mean_loc=[0.0, 1.0, 2.0], mean_scale=[1.0, 2.0, 3.0], sd_scale=0.5)
    r = p.resolve(X)  # n_components inferred from weights_alpha
    np.testing.assert_allclose(r.weights_alpha, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(r.mean_loc, [0.0, 1.0, 2.0])
    np.testing.assert_allclose(r.mean_sd, np.array([1.0, 2.0, 3.0]) * X.std(axis=0, ddof=1))
    np.testing.assert_allclose(r.sd_sigma, 0.5 * X.std(axis=0, ddof=1))


def test_resolve_accepts_dataframe_and_does_not_modify(X):
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    before = df.copy()
    r = Priors().resolve(df, 2)
    pd.testing.assert_frame_equal(df, before)
    np.testing.assert_allclose(r.mean_loc, X.mean(axis=0))


def test_frozen_and_hashable():
    p = Priors(weights_alpha=[1.0, 2.0])
    with pytest.raises(AttributeError):
        p.lkj_eta = 3.0
    assert hash(p) == hash(Priors(weights_alpha=(1.0, 2.0)))


def test_to_dict_json_roundtrip():
    p = Priors(weights_alpha=[0.5, 1.5], mean_loc=3.0, sd_scale=[1.0, 2.0], lkj_eta=4.0)
    d = p.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert Priors.from_dict(d) == p
    assert Priors.from_json(p.to_json()) == p


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"weights_alpha": 0.0}, "weights_alpha"),
        ({"weights_alpha": -1.0}, "weights_alpha"),
        ({"weights_alpha": [1.0, -2.0]}, "weights_alpha"),
        ({"weights_alpha": np.nan}, "weights_alpha"),
        ({"lkj_eta": 0.0}, "lkj_eta"),
        ({"lkj_eta": -2.0}, "lkj_eta"),
        ({"mean_scale": 0.0}, "mean_scale"),
        ({"sd_scale": -1.0}, "sd_scale"),
        ({"mean_loc": np.inf}, "mean_loc"),
        ({"weights_alpha": [[1.0]]}, "weights_alpha"),
    ],
)
def test_invalid_values_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Priors(**kwargs)


@pytest.mark.parametrize("kwargs", [{"weights_alpha": "a"}, {"lkj_eta": [1.0, 2.0]}, {"weights_alpha": True}])
def test_invalid_types(kwargs):
    with pytest.raises(TypeError, match=next(iter(kwargs))):
        Priors(**kwargs)


def test_resolve_errors(X):
    with pytest.raises(ValueError, match="weights_alpha has 2 entries"):
        Priors(weights_alpha=[1.0, 2.0]).resolve(X, 3)
    with pytest.raises(ValueError, match="mean_loc has 2 entries"):
        Priors(mean_loc=[1.0, 2.0]).resolve(X, 3)
    with pytest.raises(ValueError, match="n_components is required"):
        Priors().resolve(X)
    Xc = X.copy()
    Xc[:, 1] = 3.0
    with pytest.raises(ValueError, match="constant feature"):
        Priors().resolve(Xc, 2)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Priors().resolve(Xn, 2)
    with pytest.raises(ValueError, match="unknown prior keys"):
        Priors.from_dict({"eta": 1.0})


def test_coerce_priors_accepts_every_form_and_checks_resolved_shapes():
    from bayesgmm.priors import coerce_priors

    X = np.random.default_rng(3).normal(size=(30, 2))
    assert coerce_priors(None) == Priors()
    assert coerce_priors({"lkj_eta": 3.0}) == Priors(lkj_eta=3.0)
    p = Priors(sd_scale=0.5)
    assert coerce_priors(p) is p
    r = coerce_priors(p, X, 3)
    assert isinstance(r, ResolvedPriors) and (r.n_components, r.n_features) == (3, 2)
    np.testing.assert_array_equal(r.sd_sigma, p.resolve(X, 3).sd_sigma)
    assert coerce_priors(r) is r and coerce_priors(r, X, 3) is r and coerce_priors(r, n_components=3) is r
    with pytest.raises(ValueError, match="resolved for 3 components and 2 features, but the model has 2 components"):
        coerce_priors(r, X, 2)
    with pytest.raises(ValueError, match="but the model has 3 components and 4 features"):
        coerce_priors(r, np.zeros((5, 4)), 3)
    with pytest.raises(TypeError, match="priors must be a bayesgmm.Priors.*got list"):
        coerce_priors([1.0])
    with pytest.raises(ValueError, match="unknown prior keys"):
        coerce_priors({"eta": 2.0})
