import numpy as np
import pandas as pd
import pytest
import xarray as xr
from sklearn.metrics import adjusted_rand_score

from bayesgmm.posterior import (
    compare_em,
    compare_partitions,
    map_partition,
    membership_summary,
    relabel_draws,
)
from test_posterior_helpers import (
    draws_around,
    em_dataset,
    permute,
    posterior_dataset,
    random_permutations,
    sample_data,
    truth,
)


@pytest.fixture(scope="module")
def fit():
    W, M, Cv = truth(K=3, D=3, sep=6.0, seed=2)
    w, m, c = draws_around(W, M, Cv, chains=2, draws=300, scale=0.05, seed=5)
    return W, M, Cv, w, m, c


def test_compare_em_numbers_against_numpy(fit):
    W, M, Cv, w, m, c = fit
    table = compare_em(posterior_dataset(w, m, c), em_dataset(W, M, Cv), ci_prob=0.9, ci_kind="eti")
    K, D = 3, 3
    assert table.sizes["parameter"] == K + K * D + K * D + K * D * (D - 1) // 2
    n = 600
    checks = {
        "weights[1]": (W[1], w[..., 1]),
        "means[2, x0]": (M[2, 0], m[..., 2, 0]),
        "sds[0, x2]": (np.sqrt(Cv[0, 2, 2]), np.sqrt(c[..., 0, 2, 2])),
        "correlations[1, x0:x2]": (
            Cv[1, 0, 2] / np.sqrt(Cv[1, 0, 0] * Cv[1, 2, 2]),
            c[..., 1, 0, 2] / np.sqrt(c[..., 1, 0, 0] * c[..., 1, 2, 2]),
        ),
    }
    for label, (em_val, draws) in checks.items():
        row = table.sel(parameter=label)
        d = draws.reshape(n)
        assert float(row["em"]) == pytest.approx(em_val, rel=1e-12)
        assert float(row["mean"]) == pytest.approx(d.mean(), rel=1e-12)
        assert float(row["sd"]) == pytest.approx(d.std(ddof=1), rel=1e-10)
        assert float(row["lower"]) == pytest.approx(np.quantile(d, 0.05), rel=1e-12)
        assert float(row["upper"]) == pytest.approx(np.quantile(d, 0.95), rel=1e-12)
        assert float(row["std_diff"]) == pytest.approx((em_val - d.mean()) / d.std(ddof=1), rel=1e-9)
        assert bool(row["em_inside"]) == (np.quantile(d, 0.05) <= em_val <= np.quantile(d, 0.95))
    # draws are centred on the EM values: nearly all EM values are inside
    assert table["em_inside"].mean() > 0.8
    assert table["variable"].sel(parameter="sds[0, x2]") == "sds"


def test_compare_em_flags_shifted_em_and_dataframe(fit):
    W, M, Cv, w, m, c = fit
    M2 = M.copy()
    M2[1, 0] += 2.0  # 40 posterior sds away
    table = compare_em(posterior_dataset(w, m, c), em_dataset(W, M2, Cv), var_names=["means"])
    row = table.sel(parameter="means[1, x0]")
    assert not bool(row["em_inside"]) and float(row["std_diff"]) > 20
    df = table.to_dataframe()
    assert isinstance(df, pd.DataFrame) and df.index.name == "parameter"
    assert {"em", "mean", "sd", "lower", "upper", "em_inside", "std_diff", "variable"} <= set(df.columns)
    assert len(df) == 9 and df.loc["means[1, x0]", "em_inside"] == False  # noqa: E712


def test_compare_em_after_relabelling_equals_unscrambled(fit):
    W, M, Cv, w, m, c = fit
    ref = em_dataset(W, M, Cv)
    scrambled = posterior_dataset(*permute(w, m, c, random_permutations(2, 300, 3, seed=1)))
    relabelled, _ = relabel_draws(scrambled, ref)
    xr.testing.assert_allclose(
        compare_em(relabelled, ref), compare_em(posterior_dataset(w, m, c), ref)
    )
    # without relabelling the means mix components: sds blow up, means are pulled together
    bad = compare_em(scrambled, ref, var_names="means")
    good = compare_em(relabelled, ref, var_names="means")
    x0 = [f"means[{k}, x0]" for k in range(3)]
    assert float(bad["sd"].sel(parameter=x0).min()) > 10 * float(good["sd"].max())


def test_compare_em_validates(fit):
    W, M, Cv, w, m, c = fit
    post = posterior_dataset(w, m, c)
    with pytest.raises(ValueError, match="var_names must be a non-empty subset"):
        compare_em(post, em_dataset(W, M, Cv), var_names=["covariance"])
    with pytest.raises(ValueError, match="em has 2 components"):
        compare_em(post, em_dataset(W[:2], M[:2], Cv[:2]))
    with pytest.raises(ValueError, match="ci_prob must be in"):
        compare_em(post, em_dataset(W, M, Cv), ci_prob=1.5)
    one = compare_em(
        posterior_dataset(w[..., :1], m[..., :1, :1], c[..., :1, :1, :1]),
        em_dataset(W[:1], M[:1, :1], Cv[:1, :1, :1]),
    )
    assert "correlations" not in set(one["variable"].values.tolist())


def test_compare_partitions_matching_and_flags():
    rng = np.random.default_rng(0)
    em = np.repeat([0, 1, 2], 20)
    # the posterior partition uses other names for the same clusters, plus 4 changes
    names = np.array([2, 0, 1])
    part = names[em].copy()
    flip = np.array([3, 25, 26, 50])
    part[flip] = names[(em[flip] + 1) % 3]
    out = compare_partitions(em, part)
    assert out.attrs["match"] == "overlap"
    np.testing.assert_array_equal(np.flatnonzero(out["disagree"].values), flip)
    np.testing.assert_array_equal(out["posterior_label"].values[flip], (em[flip] + 1) % 3)
    assert out.attrs["n_disagree"] == 4
    assert out.attrs["adjusted_rand_index"] == pytest.approx(adjusted_rand_score(em, part))
    # an extra posterior cluster has no EM counterpart
    part2 = part.copy()
    part2[:2] = 9
    out2 = compare_partitions(em, part2)
    assert out2["posterior_label"].values[:2].tolist() == [-1, -1]
    assert out2.attrs["n_clusters_posterior"] == 4
    del rng


def test_compare_partitions_with_membership_and_map():
    W, M, Cv = truth(K=2, D=2, sep=3.0, seed=2)
    w, m, c = draws_around(W, M, Cv, chains=2, draws=40, scale=0.2)
    X, z = sample_data(W, M, Cv, 80, seed=4)
    mem = membership_summary(posterior_dataset(w, m, c), X)
    part = map_partition(mem)
    out = compare_partitions(z, part, mem, width_threshold=0.3)
    assert out.attrs["match"] == "none"
    np.testing.assert_array_equal(out["disagree"].values, part.values != z)
    width = (mem["probability_max_upper"] - mem["probability_max_lower"]).values
    np.testing.assert_allclose(out["interval_width"].values, width)
    np.testing.assert_array_equal(out["wide"].values, width > 0.3)
    np.testing.assert_array_equal(out["flagged"].values, (width > 0.3) | (part.values != z))
    assert out.attrs["n_wide"] >= 1  # overlapping components: some wide intervals
    with pytest.raises(ValueError, match="membership has 80 observations but em_labels has 3"):
        compare_partitions([0, 1, 0], [0, 1, 1], mem)
    with pytest.raises(ValueError, match="partition has 2 labels but there are 3"):
        compare_partitions([0, 1, 0], [0, 1])


def test_compare_em_plugin_standard_errors(fit):
    W, M, Cv, w, m, c = fit
    table = compare_em(posterior_dataset(w, m, c), em_dataset(W, M, Cv), n_obs=500)
    N = 500
    sd = np.sqrt(np.diagonal(Cv, axis1=1, axis2=2))
    rho = Cv[2, 0, 1] / (sd[2, 0] * sd[2, 1])
    expected = {
        "weights[0]": np.sqrt(W[0] * (1 - W[0]) / N),
        "means[1, x2]": sd[1, 2] / np.sqrt(N * W[1]),
        "sds[2, x0]": sd[2, 0] / np.sqrt(2 * N * W[2]),
        "correlations[2, x0:x1]": (1 - rho**2) / np.sqrt(N * W[2]),
    }
    for label, se in expected.items():
        row = table.sel(parameter=label)
        assert float(row["em_se"]) == pytest.approx(se, rel=1e-12)
        assert float(row["sd_ratio"]) == pytest.approx(float(row["sd"]) / se, rel=1e-12)
    assert table.attrs["n_obs"] == 500
    assert "em_se" not in compare_em(posterior_dataset(w, m, c), em_dataset(W, M, Cv))
    with pytest.raises(ValueError, match="n_obs must be a positive integer"):
        compare_em(posterior_dataset(w, m, c), em_dataset(W, M, Cv), n_obs=0)
