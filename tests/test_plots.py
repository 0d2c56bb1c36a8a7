"""Tests of bayesgmm.plots: every plot is rendered (Agg) and its content checked."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from bayesgmm import _datatree as dt  # noqa: E402
from bayesgmm import plots  # noqa: E402
from bayesgmm.covariance import get_covariance_type  # noqa: E402
from bayesgmm.datasets import make_mixture  # noqa: E402
from bayesgmm.em import GaussianMixture  # noqa: E402
from bayesgmm.plots._common import (  # noqa: E402
    GID_BOUNDARY,
    GID_DRAW,
    GID_EM,
    GID_MEAN,
    GID_POINTS,
    check_features,
    covariance_ellipse,
    ellipse_params,
)
from bayesgmm.posterior import (  # noqa: E402
    map_partition,
    membership_summary,
    point_partition,
    posterior_similarity,
)


# --------------------------------------------------------------------------- fixtures
def _make_tree(n=60, K=3, D=2, C=2, S=15, seed=0, names=None, covariance_type="full"):
    """A result tree with the contract's layout: EM on synthetic data, draws around it."""
    data = make_mixture(n, K, D, separation=8.0, random_state=seed)
    X = data.X
    em = GaussianMixture(K, covariance_type=covariance_type, random_state=0).fit(X)
    rng = np.random.default_rng(seed)
    full = get_covariance_type(covariance_type).to_full(em.covariances_, K, n_features=D)
    w = np.abs(em.weights_ + rng.normal(scale=0.01, size=(C, S, K)))
    w /= w.sum(-1, keepdims=True)
    m = em.means_ + rng.normal(scale=0.05, size=(C, S, K, D))
    c = full * np.exp(rng.normal(scale=0.05, size=(C, S, K, 1, 1)))
    names = names or [f"f{i}" for i in range(D)]
    post = dt.parameter_dataset(w, m, c, feature_names=names, leading=("chain", "draw"),
                                covariance_type=covariance_type)
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((C, S), dtype=bool))})
    tree = dt.build_tree(
        posterior=post, sample_stats=stats, permutation=np.broadcast_to(np.arange(K), (C, S, K)),
        em=em, X=X, feature_names=names, covariance_type=covariance_type, method="nuts",
        model_config={}, sampler_config={"draws": S, "chains": C},
        estimator_params={"n_components": K, "covariance_type": covariance_type,
                          "random_state": 0},
    )
    return tree, data


@pytest.fixture(scope="module")
def fit2d():
    tree, data = _make_tree()
    membership = membership_summary(dt.get_posterior(tree), dt.get_observed(tree))
    similarity = posterior_similarity(dt.get_posterior(tree), dt.get_observed(tree))
    return tree, data, membership, similarity


@pytest.fixture(scope="module")
def model2d(fit2d, tmp_path_factory):
    """A BayesianGMM restored from a saved tree: a fitted model without sampling."""
    from bayesgmm import BayesianGMM

    path = tmp_path_factory.mktemp("fit") / "fit.nc"
    dt.save(fit2d[0], path)
    return BayesianGMM.load(path)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _patches(ax, gid):
    return [p for p in ax.patches if isinstance(p, Ellipse) and p.get_gid() == gid]


def _points(ax):
    return [c for c in ax.collections if c.get_gid() == GID_POINTS]


# --------------------------------------------------------------------------- helpers
def test_ellipse_matches_eigen_decomposition_and_coverage():
    cov = np.array([[3.0, 1.2], [1.2, 1.0]])
    w, h, angle = ellipse_params(cov, coverage=0.9)
    vals, vecs = np.linalg.eigh(cov)
    q = -2 * np.log(0.1)  # chi2(2) 0.9 quantile
    assert w == pytest.approx(2 * np.sqrt(q * vals[1]))
    assert h == pytest.approx(2 * np.sqrt(q * vals[0]))
    major = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
    assert abs(major @ vecs[:, 1]) == pytest.approx(1.0)
    # Monte Carlo: the ellipse holds 90% of the Gaussian's mass
    z = np.random.default_rng(0).multivariate_normal([1.0, -2.0], cov, size=40_000)
    e = covariance_ellipse([1.0, -2.0], cov, coverage=0.9)
    inside = e.get_path().contains_points(z, transform=e.get_patch_transform())
    assert inside.mean() == pytest.approx(0.9, abs=0.01)


def test_ellipse_bad_input():
    with pytest.raises(ValueError, match="2 x 2"):
        ellipse_params(np.eye(3))
    with pytest.raises(ValueError, match="coverage"):
        ellipse_params(np.eye(2), coverage=1.5)
    with pytest.raises(ValueError, match="positive semi-definite"):
        ellipse_params(np.array([[1.0, 0.0], [0.0, -1.0]]))
    with pytest.raises(ValueError, match="mean"):
        covariance_ellipse([0.0, 0.0, 0.0], np.eye(2))


def test_check_features():
    assert check_features(None, ["a", "b", "c"]) == [0, 1, 2]
    assert check_features(["c", 0], ["a", "b", "c"]) == [2, 0]
    with pytest.raises(ValueError, match="not a feature"):
        check_features(["z", "a"], ["a", "b"])
    with pytest.raises(ValueError, match="exactly 2"):
        check_features(["a", "b", "c"], ["a", "b", "c"], exactly=2)
    with pytest.raises(ValueError, match="twice"):
        check_features(["a", "a"], ["a", "b"])


# --------------------------------------------------------------------------- clusters
def test_clusters_2d_counts(fit2d):
    tree, data, membership, _ = fit2d
    K, N, n_draws = 3, 60, 7
    ax = plots.clusters(tree, n_ellipse_draws=n_draws)
    ax.figure.canvas.draw()
    assert len(_patches(ax, GID_DRAW)) == K * n_draws
    assert len(_patches(ax, GID_MEAN)) == K
    assert len(_patches(ax, GID_EM)) == K
    assert len(ax.patches) == K * (n_draws + 1) + K
    (pts,) = _points(ax)
    assert pts.get_offsets().shape == (N, 2)
    np.testing.assert_allclose(pts.get_offsets(), dt.get_observed(tree).values)
    # default colouring = MAP assignment from the membership summary
    colours = pts.get_facecolors()
    assignment = membership["assignment"].values
    for k in range(K):
        assert len({tuple(c) for c in colours[assignment == k]}) == 1
    assert len({tuple(c) for c in colours}) == len(np.unique(assignment))
    # the EM ellipses are centred on the EM means
    em_means = dt.get_em(tree)["means"].values
    centres = np.array([p.center for p in _patches(ax, GID_EM)])
    np.testing.assert_allclose(np.sort(centres, axis=0), np.sort(em_means, axis=0))
    assert ax.get_xlabel() == "f0" and ax.get_ylabel() == "f1"


def test_clusters_all_draws_when_fewer_and_no_em(fit2d):
    tree = fit2d[0]
    ax = plots.clusters(tree, n_ellipse_draws=1000, show_em=False)
    assert len(_patches(ax, GID_DRAW)) == 3 * 30  # 2 chains x 15 draws
    assert len(_patches(ax, GID_EM)) == 0
    ax = plots.clusters(tree, n_ellipse_draws=0)
    assert len(ax.patches) == 3 + 3


def test_clusters_with_partition_and_given_axes(fit2d):
    tree, data, _, similarity = fit2d
    part = point_partition(similarity, random_state=0)
    fig, ax = plt.subplots()
    out = plots.clusters(tree, partition=part, n_ellipse_draws=2, ax=ax)
    assert out is ax
    (pts,) = _points(ax)
    colours = pts.get_facecolors()
    assert len({tuple(c) for c in colours}) == part.attrs["n_clusters"]
    # a plain list of labels works too; all-one-cluster gives one colour
    ax2 = plots.clusters(tree, partition=[0] * 60, n_ellipse_draws=2)
    assert len({tuple(c) for c in _points(ax2)[0].get_facecolors()}) == 1


def test_clusters_pair_grid_for_three_features():
    tree, _ = _make_tree(n=45, K=2, D=3, S=5, names=["a", "b", "c"])
    axes = plots.clusters(tree, n_ellipse_draws=3)
    assert axes.shape == (2, 2)
    panels = [a for a in axes.ravel() if a is not None]
    assert len(panels) == 3  # D choose 2
    assert len(panels[0].figure.axes) == 3
    for a in panels:
        assert len(a.patches) == 2 * (3 + 1) + 2
        assert _points(a)[0].get_offsets().shape == (45, 2)
    # panel [r, c] shows features (c, r + 1)
    assert (axes[1, 0].get_xlabel(), axes[1, 1].get_xlabel()) == ("a", "b")
    assert axes[0, 0].get_ylabel() == "b" and axes[1, 0].get_ylabel() == "c"
    # the ellipse of the pair (a, c) is the marginal: its sub-covariance matrix
    em_cov = dt.get_em(tree)["covariances"].values
    ell = _patches(axes[1, 0], GID_EM)[0]
    w, h, _ = ellipse_params(em_cov[0][np.ix_([0, 2], [0, 2])], 0.9)
    assert (ell.width, ell.height) == pytest.approx((w, h))
    # projection onto two chosen features: one panel
    ax = plots.clusters(tree, features=["c", "a"], n_ellipse_draws=1)
    assert ax.get_xlabel() == "c" and ax.get_ylabel() == "a"
    np.testing.assert_allclose(_points(ax)[0].get_offsets(),
                               dt.get_observed(tree).values[:, [2, 0]])
    with pytest.raises(ValueError, match="fig="):
        plots.clusters(tree, ax=ax)


def test_clusters_from_model_and_bad_input(model2d, fit2d):
    ax = plots.clusters(model2d, n_ellipse_draws=2)
    assert len(ax.patches) == 3 * 3 + 3
    with pytest.raises(TypeError, match="fitted bayesgmm.BayesianGMM"):
        plots.clusters(np.zeros((3, 2)))
    from bayesgmm import BayesianGMM

    with pytest.raises(TypeError, match="unfitted"):
        plots.clusters(BayesianGMM(2))
    with pytest.raises(ValueError, match="60 observations"):
        plots.clusters(fit2d[0], partition=[0, 1])
    with pytest.raises(ValueError, match="n_ellipse_draws"):
        plots.clusters(fit2d[0], n_ellipse_draws=-1)
    with pytest.raises(ValueError, match="not a feature"):
        plots.clusters(fit2d[0], features=["f0", "nope"])
    with pytest.raises(ValueError, match="coverage"):
        plots.clusters(fit2d[0], coverage=95)


# --------------------------------------------------------------------------- membership
@pytest.mark.parametrize("by", ["entropy", "probability"])
def test_membership_uncertainty_shading(fit2d, by):
    tree, _, membership, _ = fit2d
    X = dt.get_observed(tree)
    ax = plots.membership_uncertainty(membership, X, by=by)
    (pts,) = _points(ax)
    assert pts.get_offsets().shape == (60, 2)
    var = "entropy" if by == "entropy" else "probability_max"
    np.testing.assert_allclose(np.sort(pts.get_array()), np.sort(membership[var].values))
    # every drawn point is a data point with its own shade
    order = np.lexsort(X.values.T[::-1])
    got = pts.get_offsets()
    got_order = np.lexsort(np.asarray(got).T[::-1])
    np.testing.assert_allclose(np.asarray(got)[got_order], X.values[order])
    np.testing.assert_allclose(np.asarray(pts.get_array())[got_order],
                               membership[var].values[order])
    assert pts.colorbar is not None
    assert len(ax.figure.axes) == 2  # the plot and its colorbar
    lo, hi = pts.get_clim()
    assert (lo, hi) == ((0.0, np.log(3)) if by == "entropy" else (1 / 3, 1.0))


def test_membership_uncertainty_from_model_tree_and_dataframe(model2d, fit2d):
    tree, _, membership, _ = fit2d
    ax = plots.membership_uncertainty(model2d)
    assert _points(ax)[0].get_offsets().shape == (60, 2)
    ax = plots.membership_uncertainty(tree, by="probability")
    assert _points(ax)[0].get_offsets().shape == (60, 2)
    df = dt.get_observed(tree).to_pandas()
    ax = plots.membership_uncertainty(membership, df, features=["f1", "f0"])
    assert ax.get_xlabel() == "f1"
    fig = plt.figure()
    ax = plots.membership_uncertainty(membership, df.to_numpy(), fig=fig)
    assert ax.figure is fig and ax.get_xlabel() == "x0"


def test_membership_uncertainty_bad_input(fit2d, model2d):
    tree, _, membership, _ = fit2d
    with pytest.raises(ValueError, match="X is required"):
        plots.membership_uncertainty(membership)
    with pytest.raises(ValueError, match="X must be None"):
        plots.membership_uncertainty(model2d, np.zeros((60, 2)))
    with pytest.raises(ValueError, match="by must be"):
        plots.membership_uncertainty(membership, np.zeros((60, 2)), by="colour")
    with pytest.raises(ValueError, match="60 observations but X has 5"):
        plots.membership_uncertainty(membership, np.zeros((5, 2)))
    with pytest.raises(TypeError, match="membership Dataset"):
        plots.membership_uncertainty([1, 2, 3])
    with pytest.raises(ValueError, match="no 'entropy'"):
        plots.membership_uncertainty(membership[["probability"]], np.zeros((60, 2)))


# --------------------------------------------------------------------------- co-clustering
def test_coclustering_heatmap_ordered_by_partition(fit2d):
    tree, data, membership, similarity = fit2d
    part = map_partition(membership)
    ax = plots.coclustering(similarity, partition=part)
    img = ax.images[0].get_array()
    assert img.shape == (60, 60)
    labels = part.values
    n_clusters = np.unique(labels).size
    boundaries = [ln for ln in ax.lines if ln.get_gid() == GID_BOUNDARY]
    assert len(boundaries) == 2 * (n_clusters - 1)
    edges = np.cumsum(np.bincount(labels))[:-1] - 0.5
    hlines = sorted(ln.get_ydata()[0] for ln in boundaries
                    if ln.get_ydata()[0] == ln.get_ydata()[1])
    np.testing.assert_allclose(hlines, edges)
    assert len(ax.figure.axes) == 2  # heatmap + colorbar
    # block structure: within-cluster blocks ~1, between-cluster ~0 (separated data)
    sorted_labels = np.sort(labels)
    same = sorted_labels[:, None] == sorted_labels[None, :]
    assert img[same].mean() > 0.95 and img[~same].mean() < 0.05
    # the picture is a symmetric permutation of the matrix: same multiset of values
    np.testing.assert_allclose(np.sort(img.ravel()), np.sort(similarity.values.ravel()))


def test_coclustering_exact_order():
    rng = np.random.default_rng(1)
    S = rng.uniform(0.05, 0.95, size=(6, 6))
    S = (S + S.T) / 2
    np.fill_diagonal(S, 1.0)
    labels = np.array([1, 0, 1, 0, 2, 0])
    ax = plots.coclustering(S, partition=labels)
    # expected: clusters in label order; inside, by mean within-cluster similarity (desc)
    order = []
    for lab in (0, 1, 2):
        members = np.flatnonzero(labels == lab)
        typical = S[np.ix_(members, members)].mean(axis=1)
        order.extend(members[np.argsort(-typical, kind="stable")])
    np.testing.assert_allclose(ax.images[0].get_array(), S[np.ix_(order, order)])
    bounds = [ln for ln in ax.lines if ln.get_gid() == GID_BOUNDARY]
    hlines = sorted(ln.get_ydata()[0] for ln in bounds if ln.get_ydata()[0] == ln.get_ydata()[1])
    vlines = sorted(ln.get_xdata()[0] for ln in bounds if ln.get_xdata()[0] == ln.get_xdata()[1])
    assert hlines == vlines == [2.5, 4.5]


def test_coclustering_without_partition_and_subsampled(fit2d):
    _, _, membership, similarity = fit2d
    ax = plots.coclustering(similarity.values, colorbar=False)
    np.testing.assert_allclose(ax.images[0].get_array(), similarity.values)
    assert not [ln for ln in ax.lines if ln.get_gid() == GID_BOUNDARY]
    assert len(ax.figure.axes) == 1
    # a subsampled similarity matrix is matched to the full partition by obs label
    sub = similarity.isel(obs=slice(0, 20), obs_bis=slice(0, 20))
    part = map_partition(membership)
    ax = plots.coclustering(sub, partition=part)
    assert ax.images[0].get_array().shape == (20, 20)
    k = np.unique(part.values[:20]).size
    assert len([ln for ln in ax.lines if ln.get_gid() == GID_BOUNDARY]) == 2 * (k - 1)


def test_coclustering_bad_input(fit2d):
    similarity = fit2d[3]
    with pytest.raises(ValueError, match="square"):
        plots.coclustering(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plots.coclustering(np.full((2, 2), 2.0))
    with pytest.raises(ValueError, match="60 observations"):
        plots.coclustering(similarity, partition=[0, 1, 1])
    with pytest.raises(TypeError, match="integer cluster labels"):
        plots.coclustering(np.eye(2), partition=[0.5, 1.0])


# --------------------------------------------------------------------------- compare_em
def _comparison_table():
    idx = ["weights[0]", "weights[1]", "means[0, a]", "means[1, a]", "sds[0, a]"]
    return pd.DataFrame(
        {"em": [0.30, 0.70, 1.0, 9.0, 2.0],
         "mean": [0.32, 0.68, 1.1, 8.0, 2.1],
         "lower": [0.25, 0.60, 0.9, 7.5, 1.8],
         "upper": [0.40, 0.75, 1.3, 8.5, 2.4]},
        index=idx,
    )


def test_compare_em_forest_rows_and_highlight():
    table = _comparison_table()
    ax = plots.compare_em(table, standardize=False)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == list(table.index)
    intervals = [ln for ln in ax.lines if ln.get_gid() == "interval"]
    assert len(intervals) == 5
    inside = [c for c in ax.collections if c.get_gid() == "em_inside"]
    outside = [c for c in ax.collections if c.get_gid() == "em_outside"]
    assert inside[0].get_offsets().shape[0] == 4
    assert outside[0].get_offsets().shape[0] == 1
    assert outside[0].get_offsets()[0][0] == pytest.approx(9.0)
    red = [t.get_text() for t in ax.get_yticklabels() if t.get_color() == "crimson"]
    assert red == ["means[1, a]"]
    # first row at the top; interval drawn at its bounds
    top = max(intervals, key=lambda ln: ln.get_ydata()[0])
    np.testing.assert_allclose(top.get_xdata(), [0.25, 0.40])


def test_compare_em_standardized_and_selection():
    table = _comparison_table()
    ax = plots.compare_em(table, var_names="means", standardize=True)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["means[0, a]", "means[1, a]"]
    for ln in (ln for ln in ax.lines if ln.get_gid() == "interval"):
        np.testing.assert_allclose(np.abs(ln.get_xdata()), [1.0, 1.0])
    out = [c for c in ax.collections if c.get_gid() == "em_outside"][0]
    assert out.get_offsets()[0][0] == pytest.approx((9.0 - 8.0) / 0.5)


def test_compare_em_from_dataset_with_multiindex():
    ds = xr.Dataset(
        {"em": (("parameter", "component"), [[0.4, 0.6], [1.0, 5.0]]),
         "mean": (("parameter", "component"), [[0.45, 0.55], [1.1, 4.0]]),
         "lower": (("parameter", "component"), [[0.3, 0.4], [0.8, 3.5]]),
         "upper": (("parameter", "component"), [[0.6, 0.7], [1.4, 4.5]]),
         "em_inside": (("parameter", "component"), [[True, True], [True, False]])},
        coords={"parameter": ["weights", "means"], "component": [0, 1]},
    )
    ax = plots.compare_em(ds)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["weights[0]", "weights[1]", "means[0]", "means[1]"]
    assert [c for c in ax.collections if c.get_gid() == "em_outside"][0].get_offsets().shape[0] == 1


def test_compare_em_on_posterior_comparison(fit2d, model2d):
    from bayesgmm.posterior import compare_em

    tree = fit2d[0]
    table = compare_em(dt.get_posterior(tree), dt.get_em(tree))
    ax = plots.compare_em(table)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [str(p) for p in table["parameter"].values]
    assert len([ln for ln in ax.lines if ln.get_gid() == "interval"]) == table.sizes["parameter"]
    n_in = sum(c.get_offsets().shape[0] for c in ax.collections if c.get_gid() == "em_inside")
    assert n_in == int(table["em_inside"].sum())
    assert f"{table.attrs['ci_prob']:.0%}" in ax.get_title()  # ArviZ rcParams default (89%)
    # the variable coordinate selects rows exactly; a model is asked for its comparison
    ax = plots.compare_em(model2d, var_names=["weights", "sds"])
    n_rows = int(table["variable"].isin(["weights", "sds"]).sum())
    assert len(ax.get_yticklabels()) == n_rows == 3 + 3 * 2


def test_compare_em_bad_input():
    with pytest.raises(TypeError, match="compare_em"):
        plots.compare_em([1, 2])
    with pytest.raises(ValueError, match="'lower'"):
        plots.compare_em(_comparison_table().drop(columns="lower"))
    with pytest.raises(ValueError, match="select no row"):
        plots.compare_em(_comparison_table(), var_names="covariances")
    with pytest.raises(ValueError, match="max_rows"):
        plots.compare_em(_comparison_table(), max_rows=2)


# --------------------------------------------------------------------------- arviz wrappers
def _figure(pc):
    fig = pc.viz["figure"]
    return fig.item() if hasattr(fig, "item") else fig


def test_trace_rank_pair_panels(fit2d, model2d):
    tree = fit2d[0]
    pc = plots.trace(tree, var_names=["weights", "means"])
    fig = _figure(pc)
    fig.canvas.draw()
    # compact: per variable (means: per feature) a trace and a density panel
    assert len(fig.axes) == 2 * (1 + 2)
    assert set(pc.viz["trace"].data_vars) == {"weights", "means[f0]", "means[f1]"}
    # one trace line per chain per scalar: weights (3 comps) x 2 chains
    lines = pc.viz["trace"]["weights"].values
    assert lines.size == 2 * 3
    np.testing.assert_allclose(
        np.sort([ln.get_ydata()[0] for ln in lines.ravel()]),
        np.sort(dt.get_posterior(tree)["weights"].values[:, 0, :].ravel()))

    # one colour per component, the same in every panel
    for var in ("weights", "means[f0]", "means[f1]"):
        lines = pc.viz["trace"][var]
        for k in range(3):
            cols = {matplotlib.colors.to_hex(ln.get_color())
                    for ln in np.ravel(lines.sel(component=k).values)}
            assert len(cols) == 1
            ref = pc.viz["trace"]["weights"].sel(component=k).values.ravel()[0].get_color()
            assert cols == {matplotlib.colors.to_hex(ref)}
    assert len({matplotlib.colors.to_hex(ln.get_color())
                for ln in pc.viz["trace"]["weights"].values.ravel()}) == 3

    pc = plots.rank(model2d, var_names="weights")
    assert len(_figure(pc).axes) == 3  # one panel per component

    pm = plots.pair(tree, var_names="means", coords={"component": 0})
    assert pm.viz["plot"].shape == (2, 2)  # 2 features -> 2 x 2 matrix
    assert len(_figure(pm).axes) == 4

    pc = plots.trace(tree, var_names="correlations", compact=False)
    assert len(_figure(pc).axes) == 2 * 3  # one free correlation per component

    # coords select before the features are split into panels
    pc = plots.trace(tree, var_names=["means", "sds"],
                     coords={"feature": "f1", "component": [0, 2]})
    assert len(_figure(pc).axes) == 2 * 2
    assert pc.viz["trace"]["means"].values.size == 2 * 2  # 2 components x 2 chains
    pc = plots.rank(tree, var_names="means", coords={"component": 1})
    assert len(_figure(pc).axes) == 2  # one panel per feature


def test_diagnostic_wrappers_bad_input(fit2d):
    with pytest.raises(ValueError, match="not posterior variables"):
        plots.trace(fit2d[0], var_names=["mu"])
    with pytest.raises(TypeError, match="DataTree"):
        plots.rank({"posterior": 1})
    with pytest.raises(ValueError, match="empty"):
        plots.pair(fit2d[0], var_names=[])
    with pytest.raises(ValueError, match="not dims"):
        plots.trace(fit2d[0], var_names="weights", coords={"feature": "f0"})
    with pytest.raises(ValueError, match="do not exist"):
        plots.rank(fit2d[0], var_names="weights", coords={"component": [7]})


def test_rank_needs_two_chains_trace_works_with_one():
    tree, _ = _make_tree(C=1, S=30)
    with pytest.raises(ValueError, match=r"rank plots compare chains.*1 chain.*chains >= 2.*plots\.trace"):
        plots.rank(tree, var_names="weights")
    pc = plots.trace(tree, var_names="weights")  # the suggested alternative works
    assert pc.viz["trace"]["weights"].values.size == 3  # 3 components x 1 chain


# --------------------------------------------------------------------------- real fit
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::bayesgmm.diagnostics.SamplingWarning")  # few draws on purpose
def test_plots_on_a_real_tiny_fit():
    from bayesgmm import BayesianGMM
    from bayesgmm.posterior import compare_em

    data = make_mixture(80, 2, 2, separation=6.0, random_state=5)
    model = BayesianGMM(2, random_state=0).fit(data.X, draws=100, tune=150, chains=2,
                                                progressbar=False)
    ax = plots.clusters(model, n_ellipse_draws=5)
    assert len(_patches(ax, GID_DRAW)) == 2 * 5
    assert len(_patches(ax, GID_MEAN)) == len(_patches(ax, GID_EM)) == 2
    assert _points(ax)[0].get_offsets().shape == (80, 2)
    ax = plots.membership_uncertainty(model, by="probability")
    assert _points(ax)[0].get_array().min() >= 0.5 - 1e-12
    sim = posterior_similarity(model.idata_, data.X)
    ax = plots.coclustering(sim, partition=point_partition(sim, random_state=0))
    assert ax.images[0].get_array().shape == (80, 80)
    ax = plots.compare_em(model)
    assert len(ax.get_yticklabels()) == compare_em(dt.get_posterior(model.idata_),
                                                   dt.get_em(model.idata_)).sizes["parameter"]
    pc = plots.trace(model)
    assert len(_figure(pc).axes) == 2 * (1 + 2 + 2)  # weights, means x 2, sds x 2
