"""select_components' cells through joblib: a dask.distributed LocalCluster gives the serial result."""

import numpy as np
import pytest
import xarray as xr

from bayesgmm import select_components


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(5)
    return np.r_[rng.normal(0, 1, (60, 2)), rng.normal(5, 1, (60, 2))]


def test_dask_backend_equals_serial(blobs):
    pytest.importorskip("distributed")
    import joblib
    from dask.distributed import Client, LocalCluster, get_task_stream

    kw = dict(n_init=2, random_state=3, progressbar=False)
    serial = select_components(blobs, [1, 2, 3], ("full", "diag"), n_jobs=1, **kw)
    # a loopback cluster (threads in this process: no worker start-up cost)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        with get_task_stream(client) as stream, joblib.parallel_config(backend="dask"):
            spread = select_components(blobs, [1, 2, 3], ("full", "diag"), n_jobs=-1, **kw)
        # the six cells ran as tasks on the cluster's workers
        assert len(stream.data) >= 6
        assert {t["worker"] for t in stream.data} <= set(client.scheduler_info()["workers"])
    xr.testing.assert_identical(serial.table.drop_vars("seconds"), spread.table.drop_vars("seconds"))
    assert (serial.n_components, serial.covariance_type) == (spread.n_components, spread.covariance_type)


def test_n_jobs_none_lets_parallel_config_decide(blobs):
    import joblib

    kw = dict(n_init=1, random_state=0, progressbar=False)
    serial = select_components(blobs, [1, 2], n_jobs=1, **kw)
    with joblib.parallel_config(backend="threading", n_jobs=2):
        threaded = select_components(blobs, [1, 2], n_jobs=None, **kw)
    xr.testing.assert_identical(serial.table.drop_vars("seconds"), threaded.table.drop_vars("seconds"))
