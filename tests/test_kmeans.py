"""bayesgmm.compare_kmeans: k-means vs a mixture where k-means fails."""

import numpy as np
import pytest

pytest.importorskip("sklearn")

import bayesgmm as bg  # noqa: E402
from bayesgmm.kmeans import _align  # noqa: E402


def test_elongated_parallel_clusters():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(100, 2)) * [5, 0.4], rng.normal(size=(100, 2)) * [5, 0.4] + [0, 3]]
    y = np.repeat([0, 1], 100)
    res = bg.compare_kmeans(X, 2, y_true=y, random_state=0)
    assert res.attrs["ari_mixture"] > 0.9 and res.attrs["ari_kmeans"] < 0.2
    p = res["probability"].to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(res["mixture"], p.argmax(axis=1))
    np.testing.assert_array_equal(res["uncertain"], p.max(axis=1) < 0.9)
    np.testing.assert_array_equal(res["disagree"], res["kmeans"] != res["mixture"])


def test_given_labels_are_aligned_and_checked():
    X = np.r_[np.zeros((3, 1)), np.ones((3, 1)) * 10] + np.arange(6)[:, None] * 0.1
    gm = bg.GaussianMixture(2, random_state=0).fit(X)
    mix = gm.predict(X)
    res = bg.compare_kmeans(X, 2, mixture=gm, kmeans_labels=1 - mix)
    np.testing.assert_array_equal(res["kmeans"], mix)  # swapped labels aligned back
    assert res.attrs["ari_kmeans_mixture"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="kmeans_labels must have 6"):
        bg.compare_kmeans(X, 2, mixture=gm, kmeans_labels=[0, 1])
    with pytest.raises(ValueError, match="n_components must be a positive int"):
        bg.compare_kmeans(X, 0)


def test_align_more_labels_than_reference():
    out = _align(np.array([5, 5, 7, 7, 9]), np.array([1, 1, 0, 0, 0]))
    assert out.tolist() == [1, 1, 0, 0, 2]


def test_docstring_examples():
    import doctest

    import bayesgmm.kmeans

    res = doctest.testmod(bayesgmm.kmeans, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0
