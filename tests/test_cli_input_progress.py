"""CLI input and progress: a to_csv() index column is not a feature; progress lines when piped."""

import io
import sys

import numpy as np
import pandas as pd
import pytest

from bayesgmm.cli import read_data
from bayesgmm.cli._common import _Heartbeat


def _frame(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})


def test_unnamed_leading_index_column_is_labels_not_a_feature(tmp_path, capsys):
    path = tmp_path / "iris.csv"
    df = _frame()
    df.to_csv(path)  # header ",a,b": the row index without a name
    X = read_data(str(path))
    assert list(X.columns) == ["a", "b"]
    np.testing.assert_array_equal(X.index, np.arange(30))
    err = capsys.readouterr().err
    assert "has no name" in err and "observation labels" in err and "--columns" in err


@pytest.mark.parametrize("start", [0, 1])
def test_named_row_number_column_is_labels(tmp_path, capsys, start):
    path = tmp_path / "d.csv"
    df = _frame()
    df.index = pd.RangeIndex(start, start + 30, name="row")
    df.to_csv(path)
    X = read_data(str(path))
    assert list(X.columns) == ["a", "b"]
    err = capsys.readouterr().err
    assert "'row'" in err and f"row numbers {start}..{start + 29}" in err
    # asking for it keeps it as a feature, silently
    X = read_data(str(path), ["row", "a"])
    assert list(X.columns) == ["row", "a"] and capsys.readouterr().err == ""


def test_integer_feature_that_is_not_a_row_index_stays(tmp_path, capsys):
    path = tmp_path / "d.csv"
    df = _frame()
    df.insert(0, "count", np.arange(30) * 2)
    df.to_csv(path, index=False)
    assert list(read_data(str(path)).columns) == ["count", "a", "b"]
    assert capsys.readouterr().err == ""


def test_select_on_a_to_csv_file_ignores_the_index(tmp_path, capsys):
    from bayesgmm.cli import main

    rng = np.random.default_rng(1)
    df = pd.DataFrame(np.r_[rng.normal(0, 1, (40, 2)), rng.normal(6, 1, (40, 2))], columns=["x", "y"])
    df.to_csv(tmp_path / "blobs.csv")
    code = main(["select", str(tmp_path / "blobs.csv"), "--components", "1,2,3", "--n-init", "2",
                 "--seed", "0"])
    out = capsys.readouterr()
    assert code == 0
    assert "observation labels" in out.err
    # the selection saw the two features only: K=2 blobs in 2 columns
    assert "(80 rows x 2 columns)" in out.out and "Selected: K=2" in out.out
    # piped stderr: progress lines, no carriage returns
    assert "\r" not in out.err and "fits" in out.err


def test_heartbeat_prints_plain_lines_only_when_not_a_terminal(monkeypatch):
    import time

    buf = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", buf)
    with _Heartbeat("sampling K=2", quiet=False, every=0.05):
        time.sleep(0.3)
    lines = buf.getvalue().splitlines()
    assert len(lines) >= 2 and all(line.startswith("bayesgmm: sampling K=2 ... ") for line in lines)
    assert "\r" not in buf.getvalue()
    buf2 = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf2)
    with _Heartbeat("sampling", quiet=True, every=0.05):
        time.sleep(0.15)
    assert buf2.getvalue() == ""


def test_progress_is_plain_lines_when_ipykernel_is_merely_imported(monkeypatch):
    """A process that imported ipykernel (a docs build, a notebook runner) is no kernel:
    piped progress stays line-based (the full suite once printed \r bars here)."""
    import types

    from bayesgmm.selection._cells import _in_jupyter_kernel, _Progress

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert not _in_jupyter_kernel()
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    progress = _Progress(2, True, "select_components(bic)")
    progress.update("K=1 full")
    assert "\r" not in buf.getvalue() and "1/2" in buf.getvalue()
