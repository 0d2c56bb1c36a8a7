import numpy as np
import pandas as pd
import pytest

import bayesgmm as bg
from bayesgmm.datasets import make_mixture


def test_old_faithful_shape_and_known_means():
    df = bg.datasets.load_old_faithful()
    assert isinstance(df, pd.DataFrame)
    assert df.shape == (272, 2)
    assert list(df.columns) == ["eruptions", "waiting"]
    # Known summary statistics of R's datasets::faithful.
    assert df["eruptions"].mean() == pytest.approx(3.487783, abs=1e-6)
    assert df["waiting"].mean() == pytest.approx(70.897059, abs=1e-6)
    arr = bg.datasets.load_old_faithful(as_frame=False)
    assert arr.dtype == np.float64 and arr.shape == (272, 2)


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_make_mixture_layout_and_truth(cov_type):
    d = make_mixture(2000, n_components=3, n_features=2, covariance_type=cov_type, random_state=1)
    K, D = 3, 2
    expected = {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}[cov_type]
    assert d.covariances.shape == expected
    assert d.full_covariances.shape == (K, D, D)
    assert np.all(np.linalg.eigvalsh(d.full_covariances) > 0)
    # Sample moments per label agree with the truth.
    for k in range(K):
        xk = d.X[d.labels == k]
        assert np.allclose(xk.mean(0), d.means[k], atol=0.25)
        assert np.allclose(np.cov(xk.T), d.full_covariances[k], atol=0.25)
    assert np.allclose(np.bincount(d.labels, minlength=K) / 2000, d.weights, atol=0.05)


def test_make_mixture_deterministic_and_separated():
    a = make_mixture(100, 4, 3, random_state=7)
    b = make_mixture(100, 4, 3, random_state=7)
    np.testing.assert_array_equal(a.X, b.X)
    sd = np.sqrt(max(np.linalg.eigvalsh(c).max() for c in a.full_covariances))
    dists = np.linalg.norm(a.means[:, None] - a.means[None], axis=-1)[np.triu_indices(4, 1)]
    assert dists.min() >= 6.0 * sd - 1e-9


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"covariance_type": "banana"}, "covariance_type"),
        ({"weights": [0.5, 0.6, -0.1]}, "weights"),
        ({"separation": -1.0}, "separation"),
    ],
)
def test_make_mixture_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_mixture(10, **{"n_components": 3, **kwargs})
