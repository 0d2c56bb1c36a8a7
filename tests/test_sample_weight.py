"""``sample_weight``: scalars checked like arrays; only relative weights matter."""

import numpy as np
import pytest

from bayesgmm import GaussianMixture
from bayesgmm._data import check_sample_weight, relative_sample_weight
from bayesgmm.datasets import make_mixture

X = make_mixture(300, 2, 2, random_state=0).X


@pytest.mark.parametrize("bad,error,match", [
    (-1, ValueError, "negative"),
    (-1e-300, ValueError, "negative"),
    (float("nan"), ValueError, "NaN or inf"),
    (float("inf"), ValueError, "NaN or inf"),
    (0, ValueError, "sums to zero"),
    (np.float32(-2), ValueError, "negative"),
    (np.array(-3.0), ValueError, "negative"),  # a 0-d array is a scalar
    ("a", TypeError, "must be numeric"),
    (True, TypeError, "must be numeric"),
])
def test_scalar_weights_are_checked_like_arrays(bad, error, match):
    with pytest.raises(error, match=f"`sample_weight`.*{match}|{match}.*`sample_weight`"):
        check_sample_weight(bad, 5)
    with pytest.raises(error, match="sample_weight"):
        GaussianMixture(2).fit(X, sample_weight=bad)
    if not isinstance(bad, (str, bool)):  # the same error for the array of that value
        with pytest.raises(error, match=match):
            check_sample_weight(np.full(5, float(bad)), 5)


@pytest.mark.parametrize("bad,match", [
    ([1.0, -1.0, 1.0], "1 negative"), ([1.0, np.nan, 1.0], "NaN or inf"),
    ([1.0, np.inf, 1.0], "NaN or inf"), ([0.0, 0.0, 0.0], "sums to zero"),
])
def test_array_weights_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        check_sample_weight(np.array(bad), 3)


@pytest.mark.parametrize("scale", [1e306, 1e300, 7.5, 1e-16, 1e-20, 1e-300])
@pytest.mark.parametrize("covariance_type", ["full", "spherical"])
def test_fit_is_invariant_to_a_common_rescaling(scale, covariance_type):
    kw = dict(covariance_type=covariance_type, random_state=0)
    ref = GaussianMixture(2, **kw).fit(X)
    got = GaussianMixture(2, **kw).fit(X, sample_weight=np.full(len(X), scale))
    assert np.all(np.isfinite(got.means_)) and np.all(np.isfinite(got.weights_))
    np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got.weights_, ref.weights_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got.covariances_, ref.covariances_, rtol=1e-12, atol=1e-12)
    assert got.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-12)
    assert got.score(X, sample_weight=scale) == pytest.approx(ref.score(X), rel=1e-12)


def test_unequal_weights_are_invariant_to_rescaling():
    w = np.random.default_rng(1).uniform(0.1, 3.0, len(X))
    kw = dict(random_state=0)
    ref = GaussianMixture(2, **kw).fit(X, sample_weight=w)
    for scale in (1e300, 1e-300):
        got = GaussianMixture(2, **kw).fit(X, sample_weight=w * scale)
        np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-9)
        np.testing.assert_allclose(got.weights_, ref.weights_, rtol=1e-9)


def test_relative_sample_weight():
    assert relative_sample_weight(None) is None
    np.testing.assert_array_equal(relative_sample_weight(np.array([4e306, 1e306, 0.0])),
                                  [1.0, 0.25, 0.0])
    with pytest.raises(ValueError, match="at least one positive"):
        relative_sample_weight(np.zeros(3))
    da = pytest.importorskip("dask.array")
    got = relative_sample_weight(da.from_array(np.array([2e-20, 1e-20]), chunks=1))
    np.testing.assert_array_equal(got.compute(), [1.0, 0.5])
