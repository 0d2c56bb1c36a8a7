"""Dask-array EM (map-reduce of sufficient statistics) equals the in-memory fit."""

import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from bayesgmm import GaussianMixture  # noqa: E402
from bayesgmm.em import ConvergenceWarning  # noqa: E402

COV_TYPES = ["full", "tied", "diag", "spherical"]


def _data(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0, 0.0], [5.0, 0.0, 1.0], [0.0, 5.0, -1.0]])
    lab = rng.integers(0, 3, size=n)
    return centers[lab] + rng.normal(size=(n, 3)) * [1.0, 0.5, 2.0] + 50.0


def _init(X, ct):
    k, d = 3, X.shape[1]
    prec = {"full": np.tile(np.eye(d), (k, 1, 1)), "tied": np.eye(d),
            "diag": np.ones((k, d)), "spherical": np.ones(k)}[ct]
    return dict(weights_init=np.full(k, 1 / 3), means_init=X[[0, 1, 2]], precisions_init=prec)


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
            host="127.0.0.1", dashboard_address=None,
        )
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.mark.parametrize("ct", COV_TYPES)
def test_dask_fit_on_local_cluster_equals_numpy(client, ct):
    X = _data()
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=X.shape[0])
    Xd = da.from_array(X, chunks=(250, 3))  # 5 blocks, last one short
    kw = dict(covariance_type=ct, max_iter=25, tol=0.0, **_init(X, ct))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = GaussianMixture(3, **kw).fit(X, sample_weight=w)
        got = GaussianMixture(3, **kw).fit(Xd, sample_weight=w)
    assert got.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(got.lower_bounds_, ref.lower_bounds_, rtol=1e-12)
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(got, attr), getattr(ref, attr), rtol=1e-9, atol=1e-12)
    # predictions on dask input stay lazy and agree
    lab = got.predict(Xd)
    assert isinstance(lab, da.Array)
    np.testing.assert_array_equal(lab.compute(), ref.predict(X))
    np.testing.assert_allclose(got.score_samples(Xd).compute(), ref.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(got.predict_proba(Xd).compute(), ref.predict_proba(X), atol=1e-10)
    assert got.bic(Xd) == pytest.approx(ref.bic(X), rel=1e-12)


def test_dask_kmeans_init_and_fit_predict(client):
    X = _data(seed=2)
    Xd = da.from_array(X, chunks=(300, 3))
    gm = GaussianMixture(3, random_state=0)
    labels = gm.fit_predict(Xd)
    assert isinstance(labels, np.ndarray) and labels.shape == (X.shape[0],)
    ref = GaussianMixture(3, random_state=0, n_init=3).fit(X)
    assert gm.lower_bound_ == pytest.approx(ref.lower_bound_, abs=1e-3)
    np.testing.assert_array_equal(labels, gm.predict(X))


@pytest.mark.slow
def test_dask_fit_on_process_cluster():
    X = _data(n=600, seed=3)
    kw = dict(covariance_type="full", max_iter=10, tol=0.0, **_init(X, "full"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True,
            host="127.0.0.1", dashboard_address=None,
        ) as cluster, distributed.Client(cluster):
            got = GaussianMixture(3, **kw).fit(da.from_array(X, chunks=(200, 3)))
        ref = GaussianMixture(3, **kw).fit(X)
    np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-9)
    np.testing.assert_allclose(got.lower_bounds_, ref.lower_bounds_, rtol=1e-12)
