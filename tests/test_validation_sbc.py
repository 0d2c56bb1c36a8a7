"""validation/sbc.py: the replicates run through joblib (issue 17).

A loopback dask.distributed ``LocalCluster`` gives the serial rows; joblib's
``Parallel(timeout=...)`` records a stuck replicate as ``timeout`` and the others
still finish. The replicates are shrunk (30 observations, 63 draws thinned to 9) so
that one takes about a second.
"""

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "validation" / "sbc.py"


@pytest.fixture
def sbc(monkeypatch):
    spec = importlib.util.spec_from_file_location("bayesgmm_validation_sbc", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # tiny replicates: ranks in 0..9
    for name, value in {"N_OBS": 30, "DRAWS_PER_CHAIN": 63, "THIN": 7, "L_DRAWS": 9, "TUNE": 60}.items():
        monkeypatch.setattr(module, name, value)
    return module


def _without_timings(rows):
    return sorted(({k: v for k, v in r.items() if k not in ("wall_time", "sampling_time")} for r in rows),
                  key=lambda r: r["replicate"])


def test_dask_backend_equals_serial(sbc):
    pytest.importorskip("distributed")
    import joblib
    from dask.distributed import Client, LocalCluster, get_task_stream

    tasks = [("diag", r, 11) for r in range(2)]
    serial = list(sbc.run_replicates(tasks, n_jobs=1))
    assert [r["status"] for r in serial] == ["ok"] * 2
    assert all(0 <= r["rank_w_min"] <= 9 for r in serial)
    # a loopback cluster (threads in this process: no worker start-up cost, and the
    # module's shrunk settings apply)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        with get_task_stream(client) as stream, joblib.parallel_config(backend="dask"):
            spread = list(sbc.run_replicates(tasks, n_jobs=-1, timeout=300))
        assert len(stream.data) >= 2  # the replicates ran as tasks on the cluster's workers
        assert {t["worker"] for t in stream.data} <= set(client.scheduler_info()["workers"])
    assert _without_timings(spread) == _without_timings(serial)


def _sleepy(task):
    """A replicate that takes 1.5 s for replicate 1 and 10 ms for the others."""
    _, rep, seed = task
    time.sleep(1.5 if rep == 1 else 0.01)
    return {"replicate": rep, "seed": seed, "covariance_type": task[0], "status": "ok", "wall_time": 0.0}


def test_a_stuck_replicate_is_recorded_as_timeout_and_the_others_finish(sbc):
    import joblib

    tasks = [("full", r, 0) for r in range(5)]
    t0 = time.perf_counter()
    with joblib.parallel_config(backend="threading"):
        rows = list(sbc.run_replicates(tasks, n_jobs=2, timeout=0.6, replicate=_sleepy))
    assert time.perf_counter() - t0 < 10
    status = {r["replicate"]: r["status"] for r in rows}
    assert sorted(status) == [0, 1, 2, 3, 4]  # every replicate once
    assert status[1].startswith("timeout: no result after 1 s")  # 0.6 printed as "1"
    assert all(status[r] == "ok" for r in (0, 2, 3, 4))


def test_without_a_timeout_and_one_job_runs_here_in_order(sbc):
    tasks = [("full", r, 0) for r in (2, 0, 1)]
    rows = list(sbc.run_replicates(tasks, n_jobs=1, replicate=_sleepy_fast))
    assert [r["replicate"] for r in rows] == [2, 0, 1]


def _sleepy_fast(task):
    return {"replicate": task[1], "seed": task[2], "covariance_type": task[0], "status": "ok",
            "wall_time": 0.0, "rng": float(np.random.default_rng([task[2], task[1]]).random())}


def test_method_choices_settings_and_default_tags(sbc):
    assert sbc.METHODS == ("nuts", "tempering", "gibbs")
    assert [sbc.default_tag(m) for m in (None, *sbc.METHODS)] == ["", "", "_tempering", "_gibbs"]
    draws, tune, thin, kw = sbc.sampler_settings("gibbs")
    assert kw == {"thin": sbc.GIBBS_THIN, "cores": 1}
    assert len(range(0, draws, thin)) >= sbc.L_DRAWS  # enough kept draws for L after thinning
    assert sbc.sampler_settings("nuts") == (63, 60, 7, {"cores": 1})  # the shrunk module settings
    with pytest.raises(ValueError, match="unknown method"):
        sbc.sampler_settings("advi")
    with pytest.raises(SystemExit):  # argparse refuses a method it does not offer
        sbc.main(["--method", "advi", "--analyse"])


def test_a_gibbs_replicate(sbc, monkeypatch):
    for name, value in {"SBC_METHOD": "gibbs", "GIBBS_DRAWS": 90, "GIBBS_TUNE": 100, "GIBBS_THIN": 2,
                        "GIBBS_SCRIPT_THIN": 10}.items():
        monkeypatch.setattr(sbc, name, value)
    row = next(sbc.run_replicates([("full", 0, 11)], n_jobs=1))
    assert row["status"] == "ok" and row["method"] == "gibbs"
    ranks = [v for k, v in row.items() if k.startswith("rank_")]
    assert len(ranks) == 30 and all(0 <= r <= 9 for r in ranks)
    assert row["divergences"] == 0 and 0.0 < row["min_cov_acceptance"] < 1.0
