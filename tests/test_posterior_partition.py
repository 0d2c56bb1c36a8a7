import itertools

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.metrics import adjusted_rand_score

from bayesgmm.posterior import (
    adjusted_rand_index,
    ambiguous_observations,
    expected_binder_loss,
    expected_vi_lower_bound,
    map_partition,
    membership_summary,
    point_partition,
    posterior_similarity,
    salso,
    similarity_from_labels,
    similarity_from_memberships,
)
from test_posterior_helpers import draws_around, posterior_dataset, sample_data, truth


# ----------------------------------------------------------------------------- helpers
def set_partitions(n):
    """All partitions of n items as restricted growth strings."""
    out = []

    def rec(prefix, m):
        if len(prefix) == n:
            out.append(list(prefix))
            return
        for k in range(m + 1):
            rec(prefix + [k], max(m, k + 1))

    rec([0], 1)
    return np.array(out)


def binder_direct(c, z, a=1.0):
    n = len(c)
    tot = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            sc, sz = c[i] == c[j], z[i] == z[j]
            if sz and not sc:
                tot += a
            elif sc and not sz:
                tot += 2 - a
    return tot


def vi_direct(c, z):
    n = len(c)
    cont = {}
    for x, y in zip(c, z):
        cont[(x, y)] = cont.get((x, y), 0) + 1
    ca = np.bincount(c) / n
    cb = np.bincount(z) / n
    ca, cb = ca[ca > 0], cb[cb > 0]
    h = lambda p: -(p * np.log2(p)).sum()  # noqa: E731
    pij = np.array(list(cont.values())) / n
    return h(ca) + h(cb) - 2 * (h(ca) + h(cb) - h(pij))


def vi_lb_mcclust(c, psm):
    """Literal transcription of R's mcclust.ext::VI.lb."""
    n = len(c)
    f = 0.0
    for i in range(n):
        ind = c == c[i]
        f += (np.log2(ind.sum()) + np.log2(psm[i].sum()) - 2 * np.log2((ind * psm[i]).sum())) / n
    return f


def random_memberships(S, N, K, seed, conc=0.3):
    rng = np.random.default_rng(seed)
    base = rng.dirichlet(np.full(K, conc), size=N)
    r = np.stack([rng.dirichlet(base[n] * 20 + 0.05, size=S) for n in range(N)], axis=1)
    return r  # (S, N, K)


# ----------------------------------------------------------------------------- similarity
def test_similarity_from_memberships_is_exact_expectation_over_allocations():
    S, N, K = 3, 5, 3
    r = random_memberships(S, N, K, seed=0)
    psm = similarity_from_memberships(r)
    # brute force: enumerate every allocation vector z in K^N under each draw
    zs = np.array(list(itertools.product(range(K), repeat=N)))
    expected = np.zeros((N, N))
    for s in range(S):
        pz = np.prod(r[s, np.arange(N), zs], axis=1)  # (K^N,)
        same = zs[:, :, None] == zs[:, None, :]
        expected += np.einsum("z,zij->ij", pz, same) / S
    np.testing.assert_allclose(psm, expected, atol=1e-12)


def test_similarity_from_labels_counts():
    z = np.array([[0, 0, 1, 2], [1, 1, 1, 0], [5, 3, 5, 3]])
    psm = similarity_from_labels(z)
    brute = np.mean([[[zz[i] == zz[j] for j in range(4)] for i in range(4)] for zz in z], axis=0)
    np.testing.assert_allclose(psm, brute)


@pytest.fixture(scope="module")
def overlapping():
    W, M, Cv = truth(K=3, D=2, sep=2.5, seed=1)
    w, m, c = draws_around(W, M, Cv, chains=2, draws=20, scale=0.3)
    X, z = sample_data(W, M, Cv, 30)
    return w, m, c, X


def test_posterior_similarity_equals_bruteforce(overlapping):
    w, m, c, X = overlapping
    C, S, K, _ = m.shape
    r = np.empty((C * S, len(X), K))
    for idx, (a, s) in enumerate(itertools.product(range(C), range(S))):
        lp = np.stack(
            [np.log(w[a, s, k]) + multivariate_normal(m[a, s, k], c[a, s, k]).logpdf(X) for k in range(K)],
            axis=1,
        )
        r[idx] = np.exp(lp - logsumexp(lp, axis=1, keepdims=True))
    brute = np.einsum("sik,sjk->ij", r, r) / (C * S)
    np.fill_diagonal(brute, 1.0)
    post = posterior_dataset(w, m, c)
    out = posterior_similarity(post, X)
    assert out.dims == ("obs", "obs_bis") and out.attrs["subsampled"] == 0
    np.testing.assert_allclose(out.values, brute, atol=1e-12)
    # tiny memory budget: one draw per block, same numbers
    np.testing.assert_allclose(posterior_similarity(post, X, memory_budget=1).values, brute, atol=1e-12)
    assert 0.05 < brute[np.triu_indices(30, 1)].std()  # non-trivial matrix


def test_posterior_similarity_large_modes(overlapping):
    w, m, c, X = overlapping
    post = posterior_dataset(w, m, c)
    full = posterior_similarity(post, X)
    with pytest.warns(UserWarning, match="random subset of 10"):
        sub = posterior_similarity(post, X, max_obs=10, random_state=3)
    idx = sub["obs_index"].values
    assert sub.shape == (10, 10) and np.all(np.diff(idx) > 0) and sub.attrs["subsampled"] == 1
    np.testing.assert_allclose(sub.values, full.values[np.ix_(idx, idx)], atol=1e-12)
    with pytest.warns(UserWarning):
        again = posterior_similarity(post, X, max_obs=10, random_state=3)
    np.testing.assert_array_equal(again["obs_index"].values, idx)
    with pytest.raises(ValueError, match="more than max_obs=10"):
        posterior_similarity(post, X, max_obs=10, large="error")
    exact = posterior_similarity(post, X, max_obs=10, large="exact")
    np.testing.assert_allclose(exact.values, full.values)
    with pytest.raises(ValueError, match="large must be one of"):
        posterior_similarity(post, X, large="blocked")


# ----------------------------------------------------------------------------- losses
def test_expected_binder_equals_exact_expectation():
    S, N, K = 4, 6, 3
    r = random_memberships(S, N, K, seed=5)
    psm = similarity_from_memberships(r)
    zs = np.array(list(itertools.product(range(K), repeat=N)))
    pz = np.stack([np.prod(r[s, np.arange(N), zs], axis=1) for s in range(S)]).mean(0)
    rng = np.random.default_rng(0)
    for a in (1.0, 0.5, 1.7):
        for c in [np.zeros(N, int), np.arange(N), rng.integers(0, 3, N), rng.integers(0, 2, N)]:
            exact = sum(p * binder_direct(c, z, a) for p, z in zip(pz, zs))
            assert expected_binder_loss(c, psm, a=a) == pytest.approx(exact, rel=1e-10)


def test_vi_lower_bound_formula():
    S, N, K = 4, 6, 3
    r = random_memberships(S, N, K, seed=6)
    psm = similarity_from_memberships(r)
    for c in set_partitions(N)[::7]:
        lb = expected_vi_lower_bound(c, psm)
        assert lb == pytest.approx(vi_lb_mcclust(c, psm), rel=1e-12, abs=1e-12)


def test_vi_lower_bound_is_exact_vi_for_a_certain_posterior():
    # A posterior certain of one partition z0: psm is 0/1 and E[VI(c, Z)] = VI(c, z0).
    rng = np.random.default_rng(1)
    parts = set_partitions(6)
    for _ in range(20):
        z0 = parts[rng.integers(len(parts))]
        psm = (z0[:, None] == z0[None, :]).astype(float)
        for c in parts[rng.integers(len(parts), size=10)]:
            assert expected_vi_lower_bound(c, psm) == pytest.approx(vi_direct(c, z0), abs=1e-12)
        assert expected_vi_lower_bound(z0, psm) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("loss", ["binder", "vi"])
def test_salso_finds_global_minimum_by_enumeration(seed, loss):
    N = 7
    r = random_memberships(10, N, 3, seed=seed, conc=0.5)
    psm = similarity_from_memberships(r)
    parts = set_partitions(N)  # 877 partitions
    if loss == "binder":
        values = np.array([expected_binder_loss(c, psm) for c in parts])
    else:
        values = np.array([vi_lb_mcclust(c, psm) for c in parts])
    labels, val = salso(psm, loss=loss, random_state=seed)
    assert val == pytest.approx(values.min(), abs=1e-10)
    best = parts[np.argmin(values)]
    assert adjusted_rand_index(labels, best) == pytest.approx(1.0) or np.isclose(
        np.sort(values)[1], values.min()
    )


def test_salso_binder_asymmetric_a_and_max_clusters():
    N = 7
    psm = similarity_from_memberships(random_memberships(10, N, 3, seed=9, conc=0.6))
    parts = set_partitions(N)
    for a in (0.4, 1.6):
        values = np.array([expected_binder_loss(c, psm, a=a) for c in parts])
        _, val = salso(psm, loss="binder", a=a, random_state=1)
        assert val == pytest.approx(values.min(), abs=1e-10)
    # max_clusters=1 forces a single cluster
    labels, _ = salso(psm, max_clusters=1, random_state=0)
    assert set(labels.tolist()) == {0}
    n2 = np.array([len(set(c)) for c in parts]) <= 2
    values = np.array([vi_lb_mcclust(c, psm) for c in parts])
    labels, val = salso(psm, max_clusters=2, random_state=0)
    assert labels.max() <= 1 and val == pytest.approx(values[n2].min(), abs=1e-10)


def test_salso_seeded_and_validates():
    psm = similarity_from_memberships(random_memberships(10, 30, 4, seed=2))
    a = salso(psm, random_state=5, n_runs=3)
    b = salso(psm, random_state=5, n_runs=3)
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="loss must be one of"):
        salso(psm, loss="ari")
    with pytest.raises(ValueError, match="a must be a number in"):
        salso(psm, loss="binder", a=2.5)
    with pytest.raises(ValueError, match="square"):
        salso(psm[:3])
    with pytest.raises(ValueError, match="symmetric"):
        bad = psm.copy()
        bad[0, 1] = 0.9 if bad[0, 1] < 0.5 else 0.1
        salso(bad)
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        salso(psm * 2)
    with pytest.raises(ValueError, match="labels has 3 labels but there are 30"):
        expected_binder_loss([0, 1, 1], psm)


# ----------------------------------------------------------------------------- recovery
def test_recovers_true_partition_on_separated_data():
    W, M, Cv = truth(K=3, D=2, sep=8.0, seed=4)
    w, m, c = draws_around(W, M, Cv, chains=2, draws=30, scale=0.1)
    X, z = sample_data(W, M, Cv, 240, seed=8)
    post = posterior_dataset(w, m, c)
    sim = posterior_similarity(post, X)
    for loss in ("vi", "binder"):
        part = point_partition(sim, loss=loss, random_state=0, n_runs=4)
        assert part.dims == ("obs",) and part.attrs["n_clusters"] == 3
        assert adjusted_rand_index(part.values, z) >= 0.95
        assert part.attrs["expected_loss"] >= 0
    mem = membership_summary(post, X)
    mp = map_partition(mem)
    assert mp.attrs["n_clusters"] == 3 and adjusted_rand_index(mp.values, z) >= 0.95
    # MAP labels are the component indices (no relabelling here), so they equal the truth
    assert np.mean(mp.values == z) >= 0.98


# ----------------------------------------------------------------------------- ARI
def test_adjusted_rand_index_matches_sklearn():
    rng = np.random.default_rng(0)
    cases = [
        ([0, 0, 0], [1, 1, 1]),
        ([0, 1, 2], [0, 1, 2]),
        ([0, 1, 2], [0, 0, 0]),
        ([0], [0]),
        (["a", "b", "b", "c"], [3, 3, 1, 1]),
    ]
    for _ in range(30):
        n = int(rng.integers(2, 60))
        cases.append((rng.integers(0, rng.integers(1, 6), n), rng.integers(0, rng.integers(1, 6), n)))
    for a, b in cases:
        assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    with pytest.raises(ValueError, match="labels_b has 2 labels but there are 3"):
        adjusted_rand_index([0, 1, 1], [0, 1])


# ----------------------------------------------------------------------------- ambiguity
def test_ambiguous_observations_ranks_midpoints_first():
    W, M, Cv = truth(K=2, D=2, sep=5.0, seed=2)
    w, m, c = draws_around(W, M, Cv, chains=1, draws=40, scale=0.2)
    X, _ = sample_data(W, M, Cv, 50, seed=1)
    mids = (M[0] + M[1]) / 2 + np.array([[0.0, 0.0], [0.1, -0.1]])
    Xall = np.vstack([X, mids])
    mem = membership_summary(posterior_dataset(w, m, c), Xall)
    amb = ambiguous_observations(mem, n=2)
    assert sorted(amb["obs_index"].values.tolist()) == [50, 51]
    assert np.all(np.diff(amb["entropy"].values) <= 0)
    # threshold: everything above the threshold, nothing below
    thr = ambiguous_observations(mem, n=None, threshold=0.5)
    assert np.all(thr["entropy"].values > 0.5)
    assert (mem["entropy"].values > 0.5).sum() == thr.sizes["obs"]
    byp = ambiguous_observations(mem, n=3, by="probability")
    assert np.all(np.diff(byp["probability_max"].values) >= 0)
    wid = ambiguous_observations(mem, n=3, by="interval")
    width = wid["probability_max_upper"] - wid["probability_max_lower"]
    assert np.all(np.diff(width.values) <= 0)
    with pytest.raises(ValueError, match="by must be one of"):
        ambiguous_observations(mem, by="ari")
