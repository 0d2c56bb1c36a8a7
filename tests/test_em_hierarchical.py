"""The ``init_params="hc"`` start (mclust's model-based hierarchical agglomeration)
and the degeneracy policy (near-singular solutions count as failed starts).

Reference numbers from R mclust 6.0.0 (``benchmarks/mclust/reference.R``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import bayesgmm as bg
from bayesgmm import GaussianMixture
from bayesgmm.covariance import get_covariance_type
from bayesgmm.em._degeneracy import regularisation_held, scatter_collapsed
from bayesgmm.em._engine import _Data
from bayesgmm.em._hierarchical import agglomerate, transform
from bayesgmm.exceptions import DegenerateComponentWarning, SelectionWarning

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "mclust" / "data"

# mclust: hclass(hc(iris[, 1:4], modelName = "VVV", use = "SVD"), 3) - 1
IRIS_HC3 = (
    "00000000000000000000000000000000000000000100000000212121112111111211111211222211"
    "1111112111111111121121211212122121121221212122111222111221122212221221"
)


def _iris():
    return np.loadtxt(DATA / "iris.csv", delimiter=",", skiprows=1)


def test_agglomeration_equals_mclust_hc_on_iris():
    labels = agglomerate(transform(_iris(), "SVD"), 3)
    assert "".join(map(str, labels)) == IRIS_HC3


def test_agglomeration_separates_blobs_and_groups_duplicates():
    rng = np.random.RandomState(0)
    X = np.r_[rng.randn(40, 2), rng.randn(40, 2) + 8.0, np.zeros((5, 2)) + 8.0]
    lab = agglomerate(transform(X), 2)
    assert len(set(lab[:40])) == 1 and len(set(lab[40:])) == 1 and lab[0] != lab[40]
    # fewer distinct rows than clusters: the distinct rows
    assert agglomerate(np.array([[0.0], [0.0], [1.0]]), 3).tolist() == [0, 0, 1]


def test_transforms():
    X = np.array([[0.0, 1.0, 3.0], [2.0, 1.0, 1.0], [4.0, 1.0, 2.0]])
    assert np.array_equal(transform(X, "VARS"), X)
    std = transform(X, "STD")
    assert std.shape == (3, 2)  # the constant column is dropped
    np.testing.assert_allclose(std.std(axis=0, ddof=1), 1.0)
    # mclust's "SVD": standardised data U S V' -> U S^(1/2)
    svd = transform(X, "SVD")
    s = np.linalg.svd(std, compute_uv=False)
    np.testing.assert_allclose(svd.T @ svd, np.diag(s), atol=1e-12)


def test_hc_start_reaches_mclust_hc_maximum_on_iris():
    # mclust's EM from its hc-SVD start, VVV G = 3: log-likelihood -180.1859
    X = _iris()
    gm = GaussianMixture(3, init_params="hc", tol=1e-10, max_iter=5000).fit(X)
    assert gm.score(X) * len(X) == pytest.approx(-180.1859, abs=0.05)


def test_hc_is_deterministic_and_on_a_subset_for_large_data(monkeypatch):
    from bayesgmm.em import _hierarchical

    monkeypatch.setattr(_hierarchical, "MAX_ROWS", 50)
    rng = np.random.RandomState(1)
    X = np.r_[rng.randn(200, 2), rng.randn(200, 2) + 6.0]
    a = GaussianMixture(2, init_params="hc", random_state=3).fit(X)
    b = GaussianMixture(2, init_params="hc", random_state=3).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert sorted(np.round(a.weights_, 1)) == [0.5, 0.5]


def test_hc_with_sample_weight_ignores_zero_weight_rows():
    rng = np.random.RandomState(2)
    X = np.r_[rng.randn(30, 2), rng.randn(30, 2) + 5.0, np.full((3, 2), 100.0)]
    w = np.r_[np.ones(60), np.zeros(3)]
    gm = GaussianMixture(2, init_params="hc", max_iter=0).fit(X, sample_weight=w)
    assert np.all(gm.means_ < 50)


def _tied_data():
    # 60 Gaussian points and 8 with the second feature tied at 3.0
    rng = np.random.RandomState(0)
    return np.r_[rng.randn(60, 2), np.c_[rng.uniform(-2, 2, 8), np.full(8, 3.0)]]


def test_near_singular_solution_warns_and_names_the_component():
    X = _tied_data()
    with pytest.warns(DegenerateComponentWarning, match=r"Component\(s\) 1 .*near-singular.*"
                      r"n_components.*reg_covar.*n_init"):
        gm = GaussianMixture(2, means_init=[[0, 0], [0, 3]], tol=1e-8, max_iter=500).fit(X)
    assert gm.degenerate_components_.tolist() == [1]


def test_near_singular_start_is_failed_when_a_regular_one_exists():
    X = _tied_data()
    # seed 0: one start of random_from_data ends on the tied values ...
    with pytest.warns(DegenerateComponentWarning):
        one = GaussianMixture(2, init_params="random_from_data", n_init=1, random_state=0, tol=1e-8,
                              max_iter=500).fit(X)
    # ... with a higher bound than any regular solution; with more starts the
    # best regular one is kept, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateComponentWarning)
        many = GaussianMixture(2, init_params="random_from_data", n_init=6, random_state=0,
                               tol=1e-8, max_iter=500).fit(X)
    assert one.lower_bound_ > many.lower_bound_
    assert many.degenerate_components_.size == 0


def _flat_few_points(n_far, thickness):
    # 200 broad points, and ``n_far`` points far away in a slab of the given
    # thickness: a component on them is flat (relative variance ~1e-5) but
    # its observations carry variance of their own in every direction
    rng = np.random.RandomState(3)
    far = np.c_[rng.uniform(-1, 1, (n_far, 2)), thickness * rng.uniform(-1, 1, n_far)]
    return np.r_[rng.randn(200, 3), far + 10.0]


def test_flat_component_on_fewer_points_than_parameters_is_near_singular():
    # 5 points < 9 parameters (mean + full covariance in 3-d): not determined
    # by its own data -- the spurious maxima of G = 7-9 fits on mclust's data
    X = _flat_few_points(5, 0.01)
    with pytest.warns(DegenerateComponentWarning, match=r"Component\(s\) 1 .*5 observations"):
        gm = GaussianMixture(2, means_init=[[0, 0, 0], [10, 10, 10]], tol=1e-8,
                             max_iter=500, random_state=0).fit(X)
    assert gm.degenerate_components_.tolist() == [1]


def test_tight_cluster_with_enough_points_is_not_near_singular():
    # the same slab with 40 points: a tight but genuine cluster
    X = _flat_few_points(40, 0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateComponentWarning)
        gm = GaussianMixture(2, means_init=[[0, 0, 0], [10, 10, 10]], tol=1e-8,
                             max_iter=500, random_state=0).fit(X)
    assert gm.degenerate_components_.size == 0


# Old Faithful, VVE, K=4: the spurious maximum (-1088.632) the default start
# reached before the scatter test; component 1 holds the six rows with
# waiting == 90, and the shared orientation's tilt (0.0053 rad) leaks 7.7e-7 of
# the eruptions spread into its thin direction, above COLLAPSED x its largest
# variance, so its fitted covariance does not look held up by reg_covar
_VVE4_MEANS = [[4.283290179803449, 79.64661439169672], [4.558209973726144, 90.0],
               [1.8674868179860378, 52.122747353500856], [2.164822933054283, 56.254857664099]]
_VVE4_WEIGHTS = [0.6205822630828725, 0.02203749769027709, 0.14955231537906905,
                 0.20782792384778143]
_VVE4_COVS = [[[1.6172574337338305e-01, 1.7437086986968708e-01],
               [1.7437086986968708e-01, 3.3219602237131653e+01]],
              [[2.7696419891331352e-02, -1.4607731224429495e-04],
               [-1.4607731224429495e-04, 2.5410323170075938e-06]],
              [[7.3022035589325870e-03, 1.0615254902286146e-01],
               [1.0615254902286146e-01, 2.0132096314627457e+01]],
              [[8.2427008104341906e-02, 1.9501673702178812e-01],
               [1.9501673702178812e-01, 3.7054423600768800e+01]]]


def test_tie_hidden_by_a_shared_orientation_is_near_singular():
    X = np.asarray(bg.datasets.load_old_faithful(), dtype=float)
    gm = GaussianMixture(4, covariance_type="VVE", means_init=_VVE4_MEANS,
                         weights_init=_VVE4_WEIGHTS,
                         precisions_init=np.linalg.inv(_VVE4_COVS), tol=1e-8, max_iter=2000,
                         split_merge=0)
    with pytest.warns(DegenerateComponentWarning,
                      match=r"Component\(s\) 1 \(variance ratio 9.6e-09, 5.99 observations"):
        gm.fit(X)
    assert gm.lower_bound_ * X.shape[0] == pytest.approx(-1088.632, abs=1e-3)
    assert gm.degenerate_components_.tolist() == [1]
    # the fitted covariance alone does not show the tie ...
    cov = gm._covariance_model
    assert not regularisation_held(cov, gm.covariances_, gm.reg_covar)[1]
    # ... the component's own observations do (and the other three are genuine)
    params = (gm.weights_, gm.means_, gm.covariances_, gm.precisions_cholesky_)
    data = _Data(X)
    assert scatter_collapsed(data, params, cov, [0, 1, 2, 3]).tolist() == [False, True, False,
                                                                         False]


@pytest.mark.parametrize("ct", ["VVE", "VEV", "EVE", "full"])
def test_scatter_of_a_tight_genuine_cluster_is_not_collapsed(ct):
    # 30 points with spread 1e-3 of the data's in both directions, far away:
    # the component is tiny but its observations vary in every direction
    rng = np.random.RandomState(1)
    X = np.r_[rng.randn(200, 2) * [1.0, 10.0], 1e-3 * rng.randn(30, 2) + [20.0, 0.0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateComponentWarning)
        gm = GaussianMixture(2, covariance_type=ct, means_init=[[0, 0], [20, 0]], tol=1e-8,
                             max_iter=500, split_merge=0).fit(X)
    assert gm.degenerate_components_.size == 0
    params = (gm.weights_, gm.means_, gm.covariances_, gm.precisions_cholesky_)
    assert not scatter_collapsed(_Data(X), params, gm._covariance_model, [1])[0]


def test_scatter_on_one_point_or_tied_values_in_one_dimension_is_collapsed():
    # a component on three copies of one point (no variance in any direction)
    # and a one-dimensional component on tied values: its scatter has no other
    # direction to compare with, so the fitted covariance gives the scale
    full = get_covariance_type("full")
    # (up to a 1e-10 jitter: rounding-level spread of its own in every direction,
    # which the scatter alone would call genuine)
    jitter = 1e-10 * np.array([[0.0, 0.0], [1.0, -2.0], [-2.0, 1.0]])
    X = np.r_[np.random.RandomState(2).randn(50, 2), np.full((3, 2), 7.0) + jitter]
    means = np.array([X[:50].mean(axis=0), X[50:].mean(axis=0)])
    covs = np.array([np.cov(X[:50].T), 1e-6 * np.eye(2)])
    params = (np.array([50 / 53, 3 / 53]), means, covs, full.precision_cholesky(covs))
    assert scatter_collapsed(_Data(X), params, full, [0, 1]).tolist() == [False, True]
    X1 = np.r_[np.random.RandomState(3).randn(50, 1),
               np.full((5, 1), 4.0) + 1e-10 * np.arange(5)[:, None]]
    means1 = np.array([X1[:50].mean(axis=0), X1[50:].mean(axis=0)])
    covs1 = np.array([[[X1[:50].var()]], [[1e-6]]])
    params1 = (np.array([50 / 55, 5 / 55]), means1, covs1, full.precision_cholesky(covs1))
    assert scatter_collapsed(_Data(X1), params1, full, [0, 1]).tolist() == [False, True]


def test_large_reg_covar_is_the_users_choice():
    X = _tied_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateComponentWarning)
        gm = GaussianMixture(2, means_init=[[0, 0], [0, 3]], reg_covar=1e-3).fit(X)
    assert gm.degenerate_components_.size == 0


def test_select_components_summarises_cell_warnings_and_skips_near_singular_cells():
    X = _tied_data()
    with pytest.warns(SelectionWarning, match=r"fits warned.*n_components=2, full: "
                      r"DegenerateComponentWarning"):
        res = bg.select_components(X, [1, 2], covariance_types=["full"], n_init=1,
                                   init_params="random_from_data",
                                   random_state=0, tol=1e-8, max_iter=500,
                                   progressbar=False)
    t = res.table
    assert bool(t["degenerate"].sel(n_components=2, covariance_type="full"))
    # the near-singular K=2 cell has the lower BIC but is not chosen
    assert float(t["bic"].sel(n_components=2).min()) < float(t["bic"].sel(n_components=1).min())
    assert res.n_components == 1


def test_init_params_error_lists_hc():
    with pytest.raises(ValueError, match="'hc'"):
        GaussianMixture(2, init_params="mclust").fit(np.arange(10.0)[:, None])
