"""Rendering tests of bayesgmm.plots.selection (Agg backend; content checked)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402

import bayesgmm as bg  # noqa: E402
from bayesgmm.selection import SelectionResult  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def bic_result():
    X = bg.datasets.make_mixture(150, n_components=2, random_state=0).X
    return bg.select_components(
        X, range(1, 5), ("full", "diag", "spherical"), n_init=1, random_state=0, progressbar=False
    )


def _elpd_result(method="loo"):
    ks, cts = [1, 2, 3], ["full", "diag"]
    elpd = np.array([[-500.0, -510.0], [-400.0, -405.0], [-401.0, -404.0]])
    se = np.array([[10.0, 11.0], [9.0, 9.5], [9.2, 9.4]])
    dims = ("n_components", "covariance_type")
    table = xr.Dataset(
        {"elpd": (dims, elpd), "se": (dims, se)},
        coords={"n_components": ks, "covariance_type": cts},
    )
    return SelectionResult(method, table, 2, "full", None, {})


def _sparse_result():
    prob = np.array([[0.0, 0.1, 0.7, 0.2, 0.0, 0.0]])
    table = xr.Dataset(
        {"probability": (("covariance_type", "n_occupied"), prob)},
        coords={"covariance_type": ["full"], "n_occupied": np.arange(1, 7)},
        attrs={"k_max": 6},
    )
    return SelectionResult("sparse", table, 3, "full", None, {})


def test_bic_curves_per_covariance_type(bic_result):
    ax = bg.plots.selection(bic_result)
    lines = ax.get_lines()
    assert len(lines) == 3 + 1  # one curve per covariance type + the selected star
    t = bic_result.table
    for line, ct in zip(lines[:3], ("full", "diag", "spherical")):
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
        np.testing.assert_allclose(line.get_ydata(), t["bic"].sel(covariance_type=ct).values)
        assert line.get_label() == ct
    star = lines[3]
    assert star.get_marker() == "*"
    assert list(star.get_xdata()) == [bic_result.n_components]
    assert star.get_ydata()[0] == pytest.approx(
        t["bic"].sel(n_components=bic_result.n_components, covariance_type=bic_result.covariance_type).item()
    )
    assert "lower is better" in ax.get_ylabel()
    assert star.get_ydata()[0] == pytest.approx(np.nanmin(t["bic"].values))


def test_other_criterion_and_given_axes(bic_result):
    fig, ax0 = plt.subplots()
    ax = bg.plots.selection(bic_result, ax=ax0, criterion="bic_mclust")
    assert ax is ax0
    np.testing.assert_allclose(
        ax.get_lines()[0].get_ydata(), -bic_result.table["bic"].sel(covariance_type="full").values
    )
    assert "higher is better" in ax.get_ylabel()
    fig.canvas.draw()  # renders without error


def test_elpd_error_bars():
    res = _elpd_result()
    ax = bg.plots.selection(res)
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2
    for c, ct in zip(bars, ["full", "diag"]):
        line = c.lines[0]
        np.testing.assert_allclose(line.get_ydata(), res.table["elpd"].sel(covariance_type=ct).values)
        # the error bar segments span elpd +/- se
        seg = c.lines[2][0].get_segments()
        spans = np.array([s[1, 1] - s[0, 1] for s in seg])
        np.testing.assert_allclose(spans, 2 * res.table["se"].sel(covariance_type=ct).values)
    star = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    assert len(star) == 1 and star[0].get_ydata()[0] == -400.0
    assert "PSIS-LOO" in ax.get_ylabel()
    assert "WAIC" in bg.plots.selection(_elpd_result("waic")).get_ylabel()


def test_sparse_histogram():
    res = _sparse_result()
    ax = bg.plots.selection(res)
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 1 and len(bars[0]) == 6
    np.testing.assert_allclose([p.get_height() for p in bars[0]], res.table["probability"].values[0])
    np.testing.assert_allclose([p.get_x() + p.get_width() / 2 for p in bars[0]], np.arange(1, 7))
    assert "mode K=3" in ax.get_title()


def test_bad_input(bic_result):
    with pytest.raises(TypeError, match="SelectionResult"):
        bg.plots.selection(bic_result.table)
    with pytest.raises(ValueError, match="`criterion`"):
        bg.plots.selection(bic_result, criterion="elpd")
    with pytest.raises(ValueError, match="'bic'/'icl' results only"):
        bg.plots.selection(_elpd_result(), criterion="bic")
