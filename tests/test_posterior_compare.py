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


# ------------------------------------------- observed-information EM standard errors (Louis)
def _two_overlapping(n=300, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.random(n) < 0.4
    return np.where(z, rng.normal(0.0, 1.0, n), rng.normal(2.0, 0.8, n))[:, None]


def test_observed_information_se_equals_the_hessian_of_the_loglik():
    from scipy.stats import norm

    from bayesgmm import GaussianMixture

    X = _two_overlapping()
    gm = GaussianMixture(2, covariance_type="full", n_init=1, tol=1e-12, max_iter=5000,
                         reg_covar=0.0, random_state=0).fit(X)
    W, M, Cv = gm.weights_, gm.means_, gm.covariances_
    post = posterior_dataset(*draws_around(W, M, Cv, chains=1, draws=200, scale=0.05, seed=1))
    table = compare_em(post, em_dataset(W, M, Cv), X=X, covariance_type="full")

    # brute force: the Hessian of the log-likelihood in (w0, mu0, mu1, sd0, sd1)
    def loglik(t):
        w0, m0, m1, s0, s1 = t
        x = X[:, 0]
        return np.sum(np.logaddexp(np.log(w0) + norm.logpdf(x, m0, s0),
                                   np.log(1 - w0) + norm.logpdf(x, m1, s1)))

    t0 = np.array([W[0], M[0, 0], M[1, 0], np.sqrt(Cv[0, 0, 0]), np.sqrt(Cv[1, 0, 0])])
    h = 1e-4
    P = len(t0)
    H = np.empty((P, P))
    for i in range(P):
        for j in range(P):
            ei, ej = np.eye(P)[i] * h, np.eye(P)[j] * h
            H[i, j] = (loglik(t0 + ei + ej) - loglik(t0 + ei - ej) - loglik(t0 - ei + ej)
                       + loglik(t0 - ei - ej)) / (4 * h * h)
    se = np.sqrt(np.diag(np.linalg.inv(-H)))
    got = table["em_se"].to_series()
    np.testing.assert_allclose(
        [got["weights[0]"], got["weights[1]"], got["means[0, x0]"], got["means[1, x0]"],
         got["sds[0, x0]"], got["sds[1, x0]"]],
        [se[0], se[0], se[1], se[2], se[3], se[4]], rtol=2e-3)
    # overlapping components: the observed information is below the complete-data one
    assert (table["em_se"] > table["em_se_complete"]).all()


def test_observed_se_for_one_gaussian_is_the_textbook_one():
    # K = 1: nothing is missing, the observed and complete-data errors agree
    rng = np.random.default_rng(3)
    X = rng.normal([0.0, 5.0], [1.0, 2.0], size=(400, 2))
    W, M = np.array([1.0]), X.mean(axis=0)[None]
    Cv = np.cov(X.T, bias=True)[None]
    post = posterior_dataset(*draws_around(W, M, Cv, chains=1, draws=100, scale=0.05, seed=2))
    for ct in ("full", "diag"):
        table = compare_em(post, em_dataset(W, M, Cv if ct == "full" else Cv * np.eye(2)),
                           X=X, covariance_type=ct, var_names=["means", "sds"])
        np.testing.assert_allclose(table["em_se"], table["em_se_complete"], rtol=2e-2)
