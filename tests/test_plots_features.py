"""Plots at real feature counts (D = 1, 2, 13, 50) with names ArviZ rejects ('/').

Every plot function is rendered (Agg) on a result tree whose most separating
feature is called ``od280/od315_of_diluted_wines`` (the wine data's name that
crashed ``plots.trace``), and the figure's content is checked: the number of
panels, the original names on the labels, legends, the figure size.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from test_plots import _make_tree  # noqa: E402

from bayesgmm import _datatree as dt  # noqa: E402
from bayesgmm import plots  # noqa: E402
from bayesgmm.plots._common import (  # noqa: E402
    GID_DRAW,
    GID_EM,
    GID_MEAN,
    GID_POINTS,
    em_parameters,
    separating_features,
    separating_pairs,
)
from bayesgmm.posterior import compare_em  # noqa: E402

SLASH = "od280/od315_of_diluted_wines"
WINE = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
        "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
        "proline"]
K = 3
DIMS = (1, 2, 13, 50)
_TREES = {}


def _names(D, first):
    """D names, ``SLASH`` at position ``first``; the others wine's, then spaced and unicode."""
    others = (WINE + ["µg/ℓ ratio"] + [f"feature {i}" for i in range(D)])[:D - 1]
    return others[:first] + [SLASH] + others[first:]


def _tree(D):
    """A result tree with D features whose most separating one is named ``SLASH``."""
    if D not in _TREES:
        kw = dict(n=60 * K if D < 13 else 80 * K, K=K, D=D, S=10, seed=1)
        probe, _ = _make_tree(**kw)
        first = int(separating_features(*em_parameters(probe))[0])
        _TREES[D] = _make_tree(**kw, names=_names(D, first))[0]
    return _TREES[D]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _figure(plot):
    fig = plot.viz["figure"]
    return fig.item() if hasattr(fig, "item") else fig


def _texts(fig):
    """Every text of a figure with line breaks removed (labels are wrapped)."""
    return [t.get_text().replace("\n", "") for t in fig.findobj(Text)]


def _shown(fig, name):
    return any(name in t for t in _texts(fig))


def _most_separating(D, n):
    names = [str(f) for f in dt.get_observed(_tree(D))["feature"].values]
    return [names[i] for i in separating_features(*em_parameters(_tree(D)))[:n]]


# --------------------------------------------------------------------------- helpers
def test_separation_orders_features_and_pairs():
    w = np.array([0.5, 0.5])
    means = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 4.0, 0.0, 2.0]])
    covs = np.broadcast_to(np.diag([1.0, 1.0, 1.0, 4.0]), (2, 4, 4))
    # scores: f0 0.25, f1 4, f2 0, f3 1 / 4; unit free
    assert separating_features(w, means, covs).tolist() == [1, 0, 3, 2]
    assert separating_features(w, means * 1000, covs * 1e6).tolist() == [1, 0, 3, 2]
    pairs = separating_pairs(w, means, covs)
    assert len(pairs) == 6 and pairs[0] == (0, 1) and pairs[-1] == (2, 3)
    # a pair counts its correlation: f0 and f1 alone separate little, but the means
    # differ along (1, 1), where the anti-correlated components are narrow
    cov = np.array([[1.0, -0.99, 0.0], [-0.99, 1.0, 0.0], [0.0, 0.0, 1.0]])
    m3 = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.5]])
    covs3 = np.broadcast_to(cov, (2, 3, 3))
    assert separating_features(w, m3, covs3).tolist() == [2, 0, 1]
    assert separating_pairs(w, m3, covs3) == [(0, 1), (0, 2), (1, 2)]
    # one component: nothing separates, data order kept
    assert separating_features([1.0], means[:1], covs[:1]).tolist() == [0, 1, 2, 3]


def test_fixture_names():
    for D in DIMS:
        names = [str(f) for f in dt.get_observed(_tree(D))["feature"].values]
        assert len(names) == len(set(names)) == D and SLASH in names
        assert _most_separating(D, 1) == [SLASH]
    assert "µg/ℓ ratio" in dt.get_observed(_tree(50))["feature"].values


# --------------------------------------------------------------------------- trace
@pytest.mark.parametrize("D", DIMS)
def test_trace_any_feature_count(D):
    pc = plots.trace(_tree(D))
    fig = _figure(pc)
    fig.canvas.draw()
    n = min(D, 4)  # 1 + 2 n rows (weights, means and sds per feature) within 20 panels
    assert len(fig.axes) == 2 * (1 + 2 * n)
    for name in _most_separating(D, n):
        assert _shown(fig, f"means[{name}]") and _shown(fig, f"sds[{name}]")
    assert _shown(fig, f"means[{SLASH}]")
    # legends for the component colours and the chain line styles, off the panels
    legends = {lg.get_title().get_text(): lg for lg in fig.legends}
    assert set(legends) == {"component", "chain"}
    assert [t.get_text() for t in legends["component"].get_texts()] == ["0", "1", "2"]
    assert [t.get_text() for t in legends["chain"].get_texts()] == ["0", "1"]
    renderer = fig.canvas.get_renderer()
    for lg in fig.legends:
        box = lg.get_window_extent(renderer)
        assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)
    w, h = fig.get_size_inches()
    assert w <= 16 and h <= 16
    assert (f"the 4 of {D} features" in fig.get_suptitle()) == (D > 4)


def test_trace_chosen_features_and_limits():
    tree = _tree(13)
    pc = plots.trace(tree, var_names="means", features=[SLASH, "hue"])
    fig = _figure(pc)
    assert len(fig.axes) == 2 * 2 and fig.get_suptitle() == ""
    # the variable keys avoid '/', the labels show the name
    assert f"means[{SLASH.replace('/', chr(0x2215))}]" in pc.viz["trace"].data_vars
    assert _shown(fig, f"means[{SLASH}]")
    pc = plots.trace(tree, var_names="means", features=2)
    assert _shown(_figure(pc), f"means[{_most_separating(13, 2)[1]}]")
    pc = plots.trace(tree, var_names=["means"], coords={"feature": [SLASH]}, legend=False)
    assert not _figure(pc).legends and len(_figure(pc).axes) == 2
    pc = plots.trace(tree, var_names="correlations", features=[SLASH, "hue", "ash"])
    pairs = pc.viz["trace"]["correlations"]["pair"].values.tolist()
    assert pairs == [f"{SLASH}:hue", f"{SLASH}:ash", "hue:ash"]  # among the chosen features
    with pytest.raises(ValueError, match=r"trace would draw 54 panels.*features="):
        plots.trace(tree, features=13)
    with pytest.raises(ValueError, match="not both|only one"):
        plots.trace(tree, features=2, coords={"feature": ["hue"]})
    with pytest.raises(ValueError, match="no feature dim"):
        plots.trace(tree, var_names="weights", features=2)
    with pytest.raises(ValueError, match="not a feature"):
        plots.trace(tree, features=["od280"])
    with pytest.raises(ValueError, match="1 to 13"):
        plots.trace(tree, features=14)


# --------------------------------------------------------------------------- rank
@pytest.mark.parametrize("D", DIMS)
def test_rank_any_feature_count(D):
    fig = _figure(plots.rank(_tree(D)))
    n = min(D, 3)  # K + 2 K n panels within 24
    drawn = [ax for ax in fig.axes if ax.lines]
    assert len(drawn) == K + 2 * K * n
    for name in _most_separating(D, n):
        assert _shown(fig, name)
    assert _shown(fig, SLASH)
    w, h = fig.get_size_inches()
    assert w <= 16 and h <= 16


def test_rank_errors_name_the_arguments():
    with pytest.raises(ValueError, match=r"rank would draw 153 panels.*features=.*coords="):
        plots.rank(_tree(50), features=25)
    fig = _figure(plots.rank(_tree(50), var_names="sds", features=[SLASH, "hue"],
                             coords={"component": [1]}))
    assert len([ax for ax in fig.axes if ax.lines]) == 2


# --------------------------------------------------------------------------- pair
@pytest.mark.parametrize("D", DIMS)
def test_pair_any_feature_count(D):
    pm = plots.pair(_tree(D))
    n = min(D, 2)  # (K n)^2 panels within 36
    assert pm.viz["plot"].shape == (K * n, K * n)
    fig = _figure(pm)
    for name in _most_separating(D, n):
        assert _shown(fig, name)
    w, h = fig.get_size_inches()
    assert w <= 24 and h <= 12


def test_pair_errors_name_the_arguments():
    with pytest.raises(ValueError, match=r"pair would draw 81 panels.*coords="):
        plots.pair(_tree(13), features=3)
    pm = plots.pair(_tree(13), features=3, coords={"component": 0})
    assert pm.viz["plot"].shape == (3, 3)


# --------------------------------------------------------------------------- compare_em
def _table(tree):
    return compare_em(dt.get_posterior(tree), dt.get_em(tree))


@pytest.mark.parametrize("D", DIMS)
def test_compare_em_any_row_count(D):
    table = _table(_tree(D))
    n = table.sizes["parameter"]
    assert n == K + 2 * K * D + K * D * (D - 1) // 2
    n_pages = -(-n // 40)
    ax = plots.compare_em(table)
    fig = ax.figure
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [str(p) for p in table["parameter"].values[:40]]
    assert fig.get_size_inches()[1] <= 1.2 + 0.28 * 40 + 1e-9
    assert (f"rows 1-40 of {n}" in ax.get_title()) == (n_pages > 1)
    # the legend is next to the panel, not on it, and inside the figure
    renderer = fig.canvas.get_renderer()
    box = ax.get_legend().get_window_extent(renderer)
    assert not box.overlaps(ax.get_window_extent(renderer))
    assert fig.bbox.x1 >= box.x1 and fig.bbox.y1 >= box.y1
    # the page holding the '/' feature's mean shows its original name
    row = [str(p) for p in table["parameter"].values].index(f"means[0, {SLASH}]")
    ax = plots.compare_em(table, page=row // 40)
    assert f"means[0, {SLASH}]" in [t.get_text() for t in ax.get_yticklabels()]
    ax = plots.compare_em(table, page=n_pages - 1)
    assert len(ax.get_yticklabels()) == n - 40 * (n_pages - 1)
    with pytest.raises(ValueError, match=f"page={n_pages} is past the last page"):
        plots.compare_em(table, page=n_pages)


def test_compare_em_pages_and_guards():
    table = _table(_tree(13))
    ax = plots.compare_em(table, var_names=["weights", "means"], rows_per_page=50)
    assert len(ax.get_yticklabels()) == K + K * 13 and "page" not in ax.get_title()
    with pytest.raises(ValueError, match="rows_per_page"):
        plots.compare_em(table, rows_per_page=0)
    with pytest.raises(ValueError, match="page must be"):
        plots.compare_em(table, page=-1)
    with pytest.raises(ValueError, match="max_rows=100"):
        plots.compare_em(table, max_rows=100)


@pytest.fixture(scope="module")
def diag_model(tmp_path_factory):
    from bayesgmm import BayesianGMM

    tree, _ = _make_tree(n=90, D=13, S=10, names=WINE[:12] + [SLASH], covariance_type="diag")
    path = tmp_path_factory.mktemp("diag") / "fit.nc"
    dt.save(tree, path)
    return BayesianGMM.load(path)


def test_compare_em_no_correlations_for_diag(diag_model):
    table = diag_model.compare_em()
    assert int((table["variable"] == "correlations").sum()) == K * 13 * 12 // 2  # all zero
    expected = K + 2 * K * 13
    # the model says it is 'diag'; a bare table's structurally zero rows go as well
    for comparison, kw in ((diag_model, {}), (table, {}), (table, {"covariance_type": "diag"}),
                           (table.to_dataframe(), {})):
        ax = plots.compare_em(comparison, rows_per_page=100, **kw)
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert len(labels) == expected
        assert not any(lab.startswith("correlations") for lab in labels)
    with pytest.raises(ValueError, match="select no row"):
        plots.compare_em(diag_model, var_names="correlations")
    # a full fit keeps its correlations
    full = _table(_tree(2))
    ax = plots.compare_em(full, covariance_type="full")
    assert sum(t.get_text().startswith("correlations") for t in ax.get_yticklabels()) == K


# --------------------------------------------------------------------------- clusters
def _lines(ax, gid):
    return [ln for ln in ax.lines if ln.get_gid() == gid]


def _ellipses(ax, gid):
    return [p for p in ax.patches if p.get_gid() == gid]


def test_clusters_one_feature_strips():
    tree = _tree(1)
    ax = plots.clusters(tree, n_ellipse_draws=4)
    assert ax.get_xlabel() == SLASH
    assert len(_lines(ax, GID_DRAW)) == K * 4
    assert len(_lines(ax, GID_MEAN)) == len(_lines(ax, GID_EM)) == K
    (pts,) = [c for c in ax.collections if c.get_gid() == GID_POINTS]
    np.testing.assert_allclose(pts.get_offsets()[:, 0], dt.get_observed(tree).values[:, 0])
    # each component's interval is centred on its posterior-mean (and EM) mean
    em_means = dt.get_em(tree)["means"].values[:, 0]
    centres = sorted(np.mean(ln.get_xdata()) for ln in _lines(ax, GID_EM))
    np.testing.assert_allclose(centres, np.sort(em_means))
    assert ax.get_legend() is not None and "intervals" in ax.get_title()
    # one feature of many: the same strip
    ax = plots.clusters(_tree(13), features=[SLASH], n_ellipse_draws=0, show_em=False)
    assert ax.get_xlabel() == SLASH and not _lines(ax, GID_EM)
    ax = plots.clusters(_tree(13), features=1, n_ellipse_draws=0)
    assert ax.get_xlabel() == SLASH


def test_clusters_two_features_one_panel():
    ax = plots.clusters(_tree(2), n_ellipse_draws=3)
    names = list(dt.get_observed(_tree(2))["feature"].values)
    assert (ax.get_xlabel(), ax.get_ylabel()) == tuple(names)
    assert len(_ellipses(ax, GID_DRAW)) == K * 3 and len(_ellipses(ax, GID_EM)) == K


@pytest.mark.parametrize("D", (13, 50))
def test_clusters_many_features_most_separating_pairs(D):
    tree = _tree(D)
    axes = plots.clusters(tree, n_ellipse_draws=2)
    assert axes.shape == (6,)
    fig = axes[0].figure
    assert len(fig.axes) == 6
    names = [str(f) for f in dt.get_observed(tree)["feature"].values]
    best = separating_pairs(*em_parameters(tree))[:6]
    assert [(a.get_xlabel(), a.get_ylabel()) for a in axes] == [
        (names[i], names[j]) for i, j in best]
    assert _shown(fig, SLASH)  # the best feature is in the best pairs
    for a in axes:
        assert len(_ellipses(a, GID_DRAW)) == K * 2
        assert len(_ellipses(a, GID_MEAN)) == len(_ellipses(a, GID_EM)) == K
    w, h = fig.get_size_inches()
    assert w <= 15 and h <= 9  # the old 13-feature grid was 38.4 x 36 in
    assert len(fig.legends) == 1
    assert f"6 of {D * (D - 1) // 2} feature pairs" in fig.get_suptitle()


def test_clusters_chosen_pairs_and_features():
    tree = _tree(13)
    names = [str(f) for f in dt.get_observed(tree)["feature"].values]
    axes = plots.clusters(tree, pairs=[(SLASH, "hue"), ("alcohol", 5)], n_ellipse_draws=0)
    assert [(a.get_xlabel(), a.get_ylabel()) for a in axes] == [(SLASH, "hue"),
                                                                   ("alcohol", names[5])]
    assert "2 chosen feature pairs" in axes[0].figure.get_suptitle()
    axes = plots.clusters(tree, features=["hue", "ash", SLASH], pairs=2, n_ellipse_draws=0)
    assert len(axes) == 2
    assert {a.get_xlabel() for a in axes} | {a.get_ylabel() for a in axes} <= {"hue", "ash", SLASH}
    grid = plots.clusters(tree, features=5, n_ellipse_draws=0)  # triangle of the best 5
    assert grid.shape == (4, 4) and sum(a is not None for a in grid.ravel()) == 10
    assert grid[-1, 0].get_xlabel() == SLASH  # column 0: the most separating feature


def test_clusters_impossible_requests():
    tree = _tree(13)
    with pytest.raises(ValueError, match=r"78 panels.*pairs=6"):
        plots.clusters(tree, features=13)
    with pytest.raises(ValueError, match="pass 1 to 28"):
        plots.clusters(tree, pairs=100)
    with pytest.raises(ValueError, match="pass 1 to 1"):
        plots.clusters(_tree(2), pairs=2)
    with pytest.raises(TypeError, match=r"\(x, y\)"):
        plots.clusters(tree, pairs=["hue", "ash"])
    with pytest.raises(ValueError, match="exactly 2"):
        plots.clusters(tree, pairs=[("hue", "ash", SLASH)])
    with pytest.raises(ValueError, match="twice"):
        plots.clusters(tree, pairs=[("hue", "hue")])
    with pytest.raises(ValueError, match="features must be None"):
        plots.clusters(tree, features=["hue"], pairs=[("hue", "ash")])
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="fig="):
        plots.clusters(tree, ax=ax)
    with pytest.raises(ValueError, match="at least 1 feature"):
        plots.clusters(tree, features=[])


# --------------------------------------------------------------------------- membership
@pytest.mark.parametrize("D", DIMS)
def test_membership_uncertainty_any_feature_count(D):
    tree = _tree(D)
    ax = plots.membership_uncertainty(tree)
    (pts,) = [c for c in ax.collections if c.get_gid() == GID_POINTS]
    X = dt.get_observed(tree).values
    names = [str(f) for f in dt.get_observed(tree)["feature"].values]
    if D == 1:  # the feature against the shade
        assert ax.get_xlabel() == SLASH and "entropy" in ax.get_ylabel()
        np.testing.assert_allclose(np.sort(pts.get_offsets()[:, 1]), np.sort(pts.get_array()))
    else:
        i, j = separating_pairs(*em_parameters(tree))[0] if D > 2 else (0, 1)
        assert (ax.get_xlabel(), ax.get_ylabel()) == (names[i], names[j])
        np.testing.assert_allclose(np.sort(pts.get_offsets()[:, 0]), np.sort(X[:, i]))
    with pytest.raises(ValueError, match="one or two"):
        plots.membership_uncertainty(_tree(13), features=3)
