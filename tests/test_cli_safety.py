"""The command line checks its inputs before any work, and Ctrl-C exits 130 at once.

In-process tests call :func:`bayesgmm.cli.main` (fast); one subprocess test
sends a real SIGINT to ``bayesgmm select --jobs 2``.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from bayesgmm.bayesian import BayesianGMM
from bayesgmm.cli import main
from bayesgmm.cli._common import MAX_COMPONENTS, parse_component_range

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_safety")
    X = np.random.default_rng(0).normal(size=(200, 2))
    pd.DataFrame(X, columns=["a", "b"]).to_csv(d / "d.csv", index=False)
    return d / "d.csv"


@pytest.fixture
def no_fitting(monkeypatch):
    """Any fit is a test failure: the checks must come first."""
    def fail(*args, **kwargs):
        raise AssertionError("a fit started before the inputs were checked")

    monkeypatch.setattr(BayesianGMM, "fit", fail)
    import bayesgmm.selection

    monkeypatch.setattr(bayesgmm.selection, "select_components", fail)


def _one_short_error(capsys, *needles, limit=300):
    lines = capsys.readouterr().err.strip().splitlines()  # argparse adds its usage lines
    err = [line for line in lines if "error:" in line]
    assert len(err) == 1 and all(len(line) < limit for line in lines), lines
    for needle in needles:
        assert needle in err[0], err
    return err[0]


def test_huge_component_range_is_refused_while_parsing(capsys):
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as info:
        main(["select", "x.csv", "-k", "1-100000000"])
    assert info.value.code == 2 and time.perf_counter() - t0 < 2
    _one_short_error(capsys, f"at most {MAX_COMPONENTS} components")
    assert parse_component_range(f"1-{MAX_COMPONENTS}")[-1] == MAX_COMPONENTS


def test_long_bad_component_range_gives_a_short_message(capsys):
    with pytest.raises(SystemExit):
        main(["select", "x.csv", "-k", ",".join(["2"] * 50_000) + ",x"])
    _one_short_error(capsys, "characters")


def test_more_components_than_rows_is_refused_before_fitting(csv, capsys, no_fitting):
    assert main(["select", str(csv), "-k", "1-500"]) == 2
    _one_short_error(capsys, "has 200 rows", "up to 500 components", "at most 200")
    assert main(["fit", str(csv), "-k", "201", "--out", str(csv.parent / "f.nc")]) == 2
    _one_short_error(capsys, "200 rows")


@pytest.mark.parametrize("out,needle", [("", "name is empty"), ("  ", "name is empty"),
                                        ("DIR", "is a directory"),
                                        ("nodir/x.nc", "does not exist")])
def test_bad_out_is_refused_before_sampling(csv, capsys, no_fitting, out, needle):
    out = str(csv.parent) if out == "DIR" else out
    out = str(csv.parent / out) if out.startswith("nodir") else out
    assert main(["fit", str(csv), "-k", "2", "--out", out]) == 2
    _one_short_error(capsys, needle)


def test_unwritable_out_directory_is_refused_before_sampling(csv, capsys, no_fitting,
                                                             monkeypatch):
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", denied)
    assert main(["fit", str(csv), "-k", "2", "--out", str(csv.parent / "fit.nc")]) == 2
    _one_short_error(capsys, "not writable", "Permission denied")
    assert main(["select", str(csv), "-k", "1-2", "--out", str(csv.parent / "t.csv")]) == 2
    _one_short_error(capsys, "not writable")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root may write into a read-only directory")
def test_read_only_out_directory_for_real(csv, tmp_path, capsys, no_fitting):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        assert main(["fit", str(csv), "-k", "2", "--out", str(ro / "fit.nc")]) == 2
    finally:
        os.chmod(ro, 0o700)
    _one_short_error(capsys, "not writable")


def test_ctrl_c_in_nutpie_warm_up_exits_130(csv, tmp_path, capsys, monkeypatch):
    """Was: ``ValueError: cannot reshape array of size 0`` and exit status 1."""
    import nutpie

    real = nutpie.sample
    sent = {}

    def sample(*args, **kwargs):
        def fire():
            sent["t"] = time.perf_counter()
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

        timer = threading.Timer(0.5, fire)
        timer.start()
        try:
            return real(*args, **kwargs)
        finally:
            timer.join()

    monkeypatch.setattr(nutpie, "sample", sample)
    out = tmp_path / "fit.nc"
    code = main(["fit", str(csv), "-k", "2", "--tune", "200000", "--draws", "10", "--chains", "2",
                 "--n-init", "1", "--quiet", "--out", str(out)])
    assert code == 130 and time.perf_counter() - sent["t"] < 5
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")
def test_ctrl_c_on_select_with_two_jobs_exits_130_quickly(tmp_path):
    X = np.random.default_rng(1).normal(size=(3000, 3))
    pd.DataFrame(X).to_csv(tmp_path / "big.csv", index=False)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bayesgmm.cli", "select", str(tmp_path / "big.csv"), "-k", "1-40",
         "--covariance", "full,diag", "--n-init", "20", "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    try:
        # the progress bar on stderr shows the workers have started
        deadline = time.perf_counter() + 120
        seen = b""
        while b"select_components" not in seen and time.perf_counter() < deadline:
            seen += proc.stderr.read1(256)
        assert b"select_components" in seen, seen
        time.sleep(1.0)
        assert proc.poll() is None, "the grid finished before the interrupt"
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        took = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130
    assert took < 5, took


def test_fit_on_a_full_disk_exits_1_and_keeps_the_old_file(csv, tmp_path, capsys, monkeypatch):
    """Was: the old file destroyed and, through h5py, a segmentation fault (exit 139)."""
    import errno

    from bayesgmm import _datatree

    out = tmp_path / "fit.nc"
    out.write_bytes(b"the previous fit")

    def full_disk(data, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_datatree, "_write_atomically", full_disk)
    code = main(["fit", str(csv), "-k", "2", "--tune", "10", "--draws", "10", "--chains", "1",
                 "--n-init", "1", "--quiet", "--out", str(out)])
    assert code == 1
    err = _one_short_error(capsys, repr(str(out)), "No space left on device", "unchanged",
                           limit=400)
    assert err.count("save") == 1
    assert out.read_bytes() == b"the previous fit"
