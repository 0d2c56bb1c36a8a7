"""The compiled kernels of the k-means start (``bayesgmm.em._kmeans``) against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from bayesgmm import _kernels
from bayesgmm.covariance import get_covariance_type
from bayesgmm.em import _init, _kmeans


def _data(seed=0, n=3000, d=4, k=5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(k, d))
    X = centres[rng.integers(0, k, n)] + rng.normal(size=(n, d))
    return X, rng.uniform(0.2, 2.0, n), X[rng.choice(n, k, replace=False)]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shifted", [False, True])
def test_nearest_centres_match_brute_force(weighted, shifted):
    X, w, C = _data()
    shift = X.mean(axis=0) if shifted else None
    Xs = X - (0.0 if shift is None else shift)
    Cs = C - (0.0 if shift is None else shift)
    lab = np.empty(len(X), dtype=np.int64)
    lab[:] = np.arange(len(X)) % 3  # a previous assignment
    before = lab.copy()
    counts, sums, changed = _kmeans.nearest_centres_blas(X, shift, Cs, w if weighted else None, labels=lab)
    want = np.argmin(((Xs[:, None, :] - Cs[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(lab, want)
    assert changed == np.count_nonzero(before != want)
    ww = w if weighted else np.ones(len(X))
    np.testing.assert_allclose(counts, np.bincount(want, ww, minlength=len(C)), rtol=1e-12)
    for j in range(len(C)):
        np.testing.assert_allclose(sums[j], (ww[want == j, None] * Xs[want == j]).sum(0), rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
def test_trial_potentials_and_closest_match_numpy(weighted):
    """Six candidates: one group of four (the unrolled pass) and two one at a time."""
    X, w, C = _data(1, k=7)
    ww = w if weighted else None
    closest = np.full(len(X), np.inf)
    pot = _kmeans.update_closest(X, C[0], closest, ww)
    d0 = ((X - C[0]) ** 2).sum(1) * (w if weighted else 1.0)
    np.testing.assert_allclose(closest, d0, rtol=1e-12)
    assert pot == pytest.approx(d0.sum(), rel=1e-12)
    dist = np.empty((6, len(X)))
    pots = _kmeans.trial_potentials(X, C[1:7], closest, ww, dist)
    for c in range(6):
        dc = np.minimum(d0, ((X - C[1 + c]) ** 2).sum(1) * (w if weighted else 1.0))
        np.testing.assert_allclose(dist[c], dc, rtol=1e-12)
        assert pots[c] == pytest.approx(dc.sum(), rel=1e-12)


@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical", "EEI"])
@pytest.mark.parametrize("weighted", [False, True])
def test_label_statistics_block_equals_the_kernel(ct, weighted):
    """The k-means start's hard-label statistics (per-row centring, compiled label
    sums, chunked) equal :func:`bayesgmm._kernels.label_statistics`."""
    X, w, C = _data(2)
    cov = get_covariance_type(ct)
    shift = X.mean(axis=0)
    lab = np.argmin(((X[:, None, :] - C[None]) ** 2).sum(-1), axis=1)
    ww = w if weighted else None
    got = _init._block_stats_labels(X, ww, 0, lab, C - shift, shift, cov)
    want = _kernels.label_statistics(X, lab, C - shift, cov, sample_weight=ww, shift=shift)
    np.testing.assert_allclose(got.nk, want.nk, rtol=1e-12)
    np.testing.assert_allclose(got.sx, want.sx, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.sxx, want.sxx, rtol=1e-10)
    assert got.weight == pytest.approx(want.weight) and got.n == want.n
    np.testing.assert_array_equal(got.centre, want.centre)


def test_two_level_draw_equals_searchsorted_of_the_whole_cumsum():
    # the k-means++ draw by block, then by row within the block, picks the
    # rows that searchsorted(cumsum(closest), target) picks (the running sum within
    # a block: the same sums as numpy's cumsum)
    from bayesgmm.em._init import _draw_proportional

    rng = np.random.RandomState(5)
    closest = rng.exponential(size=1000) * (rng.uniform(size=1000) > 0.3)
    bounds = [0, 130, 400, 401, 777, 1000]
    spans = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    block_pot = np.array([closest[sl].sum() for sl in spans])
    targets = np.r_[rng.uniform(size=200) * block_pot.sum(), 0.0, block_pot.sum()]
    got = _draw_proportional([closest[sl] for sl in spans], spans, block_pot, targets)
    want = np.clip(np.searchsorted(np.cumsum(closest), targets), None, 999)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("seed", range(6))
def test_first_reaching_equals_searchsorted_of_cumsum(seed):
    rng = np.random.RandomState(seed)
    v = rng.exponential(size=500) * (rng.uniform(size=500) > 0.5) * 10.0 ** rng.uniform(-8, 8)
    c = np.cumsum(v)
    # targets at, just below and just above every cumulative value, and beyond the total
    targets = np.r_[c, np.nextafter(c, -np.inf), np.nextafter(c, np.inf), 0.0, c[-1] * 2, rng.uniform(size=50) * c[-1]]
    for t in targets:
        assert _kmeans.first_reaching(v, t) == min(int(np.searchsorted(c, t)), len(v) - 1)
