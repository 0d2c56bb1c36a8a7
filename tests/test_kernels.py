"""Kernels and covariance registry against brute-force implementations."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal

import bayesgmm.covariance.full
from bayesgmm import _kernels
from bayesgmm.covariance import COVARIANCE_TYPES, get_covariance_type

K, D = 3, 4


def _random_params(ct, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(K, D)) * 3
    if ct == "full":
        a = rng.normal(size=(K, D, D))
        cov = a @ np.swapaxes(a, 1, 2) + 0.5 * np.eye(D)
    elif ct == "tied":
        a = rng.normal(size=(D, D))
        cov = a @ a.T + 0.5 * np.eye(D)
    elif ct == "diag":
        cov = rng.uniform(0.3, 3.0, size=(K, D))
    else:
        cov = rng.uniform(0.3, 3.0, size=K)
    return means, cov


def _full(ct, cov):
    return get_covariance_type(ct).to_full(cov, K, n_features=D)


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_log_gaussian_prob_matches_scipy(ct):
    means, cov = _random_params(ct)
    X = np.random.default_rng(1).normal(size=(50, D)) * 3
    P = get_covariance_type(ct).precision_cholesky(cov)
    got = _kernels.estimate_log_gaussian_prob(X, means, P, get_covariance_type(ct))
    full = _full(ct, cov)
    want = np.column_stack(
        [multivariate_normal(means[k], full[k]).logpdf(X) for k in range(K)]
    )
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_chunked_equals_unchunked(ct):
    means, cov = _random_params(ct, seed=2)
    X = np.random.default_rng(3).normal(size=(101, D))
    P = get_covariance_type(ct).precision_cholesky(cov)
    whole = _kernels.estimate_log_gaussian_prob(X, means, P, get_covariance_type(ct), chunk_size=1000)
    chunked = _kernels.estimate_log_gaussian_prob(X, means, P, get_covariance_type(ct), chunk_size=7)
    np.testing.assert_allclose(chunked, whole, rtol=1e-13)
    r = np.random.default_rng(4).dirichlet(np.ones(K), size=101)
    a = _kernels.accumulate_statistics(X, get_covariance_type(ct), resp=r, chunk_size=1000)
    b = _kernels.accumulate_statistics(X, get_covariance_type(ct), resp=r, chunk_size=9)
    for f in ("nk", "sx", "sxx"):
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=1e-12)


def test_chunk_rows_respects_budget(monkeypatch):
    assert _kernels.chunk_rows(10**6, 10, 10, budget=8 * 260 * 100) == 100
    monkeypatch.setattr(_kernels, "CHUNK_BYTES", 8 * 260 * 10)
    assert _kernels.chunk_rows(10**6, 10, 10) == 10
    assert _kernels.chunk_rows(5, 10, 10, budget=10**9) == 5


def test_log_responsibilities_brute_force():
    rng = np.random.default_rng(5)
    w = rng.normal(size=(20, 4)) * 50  # wide range: naive exp would overflow
    norm, lr = _kernels.log_responsibilities(w)
    m = w.max(axis=1, keepdims=True)
    want = (m + np.log(np.exp(w - m).sum(axis=1, keepdims=True)))[:, 0]
    np.testing.assert_allclose(norm, want, rtol=1e-13)
    np.testing.assert_allclose(np.exp(lr).sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(lr, w - want[:, None], rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_precision_cholesky_inverts_covariance(ct):
    _, cov = _random_params(ct, seed=6)
    P = get_covariance_type(ct).precision_cholesky(cov)
    prec = get_covariance_type(ct).precisions_from_cholesky(P)
    if ct in ("full", "tied"):
        np.testing.assert_allclose(prec @ cov, np.broadcast_to(np.eye(D), prec.shape), atol=1e-10)
        # upper triangular, like scikit-learn
        assert np.allclose(np.tril(P if ct == "tied" else P[0], -1), 0)
    else:
        np.testing.assert_allclose(prec * cov, 1.0, rtol=1e-12)
    # and back from precisions
    P2 = get_covariance_type(ct).precision_cholesky_from_precisions(prec)
    np.testing.assert_allclose(P2, P, rtol=1e-8, atol=1e-10)


def test_precision_cholesky_batch_dims():
    _, cov = _random_params("full", seed=7)
    stack = np.stack([cov, 2 * cov])  # (2, K, D, D): e.g. posterior draws
    P = get_covariance_type("full").precision_cholesky(stack)
    np.testing.assert_allclose(P[1], get_covariance_type("full").precision_cholesky(2 * cov))


@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_singular_covariance_error_gives_advice(ct):
    _, cov = _random_params(ct, seed=8)
    cov = np.array(cov)
    if ct == "full":
        cov[1] = np.ones((D, D))  # rank one
    elif ct == "tied":
        cov = np.ones((D, D))
    else:
        cov[1] = 0.0
    with pytest.raises(ValueError, match="reg_covar") as exc:
        get_covariance_type(ct).precision_cholesky(cov)
    msg = str(exc.value)
    assert "fewer components" in msg and "scale" in msg
    if ct != "tied":
        assert "component 1" in msg


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_m_step_matches_weighted_brute_force(ct):
    rng = np.random.default_rng(9)
    X = rng.normal(size=(60, D)) + 10.0
    r = rng.dirichlet(np.ones(K), size=60)
    w = rng.uniform(0.1, 3.0, size=60)
    reg = 1e-3
    st = _kernels.accumulate_statistics(
        X, get_covariance_type(ct), resp=r, sample_weight=w, shift=X.mean(0)
    )
    nk, means, cov = get_covariance_type(ct).m_step(st, reg)
    rw = r * w[:, None]
    nk_b = rw.sum(0)
    mu_b = rw.T @ X / nk_b[:, None]
    np.testing.assert_allclose(nk, nk_b, rtol=1e-12)
    np.testing.assert_allclose(means + X.mean(0), mu_b, rtol=1e-12)
    covs = np.stack(
        [((X - mu_b[k]) * rw[:, k : k + 1]).T @ (X - mu_b[k]) / nk_b[k] for k in range(K)]
    )
    if ct == "full":
        want = covs + reg * np.eye(D)
    elif ct == "tied":
        want = (covs * nk_b[:, None, None]).sum(0) / nk_b.sum() + reg * np.eye(D)
    elif ct == "diag":
        want = np.diagonal(covs, axis1=1, axis2=2) + reg
    else:
        want = np.diagonal(covs, axis1=1, axis2=2).mean(1) + reg
    np.testing.assert_allclose(cov, want, rtol=1e-10)


def test_statistics_from_parameters_are_the_e_step():
    means, cov = _random_params("full", seed=10)
    X = np.random.default_rng(11).normal(size=(40, D)) * 3
    P = get_covariance_type("full").precision_cholesky(cov)
    logw = np.log([0.2, 0.3, 0.5])
    st = _kernels.accumulate_statistics(
        X, get_covariance_type("full"), means=means, precisions_chol=P, log_weights=logw, n_worst=2, chunk_size=13
    )
    wlp = _kernels.estimate_log_gaussian_prob(X, means, P, get_covariance_type("full")) + logw
    norm, lr = _kernels.log_responsibilities(wlp)
    assert st.loglik == pytest.approx(norm.sum(), rel=1e-12)
    np.testing.assert_allclose(st.nk, np.exp(lr).sum(0), rtol=1e-12)
    assert st.weight == 40 and st.n == 40
    np.testing.assert_array_equal(st.worst_index, np.argsort(norm)[:2])


# ---------------------------------------------------------------- registry


def test_registry_names_and_errors():
    assert COVARIANCE_TYPES == ("full", "tied", "diag", "spherical")
    with pytest.raises(ValueError, match="full.*tied.*diag.*spherical"):
        get_covariance_type("banana")


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_n_parameters_matches_sklearn(ct):
    sk = pytest.importorskip("sklearn.mixture")
    X = np.random.default_rng(0).normal(size=(30, 3))
    g = sk.GaussianMixture(4, covariance_type=ct, random_state=0).fit(X)
    assert get_covariance_type(ct).n_parameters(4, 3) == g._n_parameters()
    assert get_covariance_type(ct).covariance_shape(4, 3) == g.covariances_.shape
    full = get_covariance_type(ct).to_full(g.covariances_, 4, n_features=3)
    assert full.shape == (4, 3, 3)
    # full matrices give the same densities as the compact layout
    lp = _kernels.estimate_log_gaussian_prob(
        X, g.means_, get_covariance_type("full").precision_cholesky(full), get_covariance_type("full")
    )
    np.testing.assert_allclose(lp, g._estimate_log_prob(X), rtol=1e-9)


def test_to_full_batch_dims():
    c = np.arange(1.0, 7.0).reshape(2, 3)  # (draws, K) spherical
    out = get_covariance_type("spherical").to_full(c, 3, n_features=2)
    assert out.shape == (2, 3, 2, 2)
    assert out[1, 2, 1, 1] == 6.0 and out[1, 2, 0, 1] == 0.0
    d = np.arange(1.0, 13.0).reshape(2, 3, 2)  # (draws, K, D) diag
    out = get_covariance_type("diag").to_full(d, 3)
    np.testing.assert_array_equal(np.diagonal(out, axis1=-2, axis2=-1), d)
    with pytest.raises(ValueError, match="n_features"):
        get_covariance_type("spherical").to_full(c, 3)


def test_logsumexp_rows_matches_scipy_including_infinities():
    from scipy.special import logsumexp

    rng = np.random.default_rng(12)
    w = rng.normal(size=(30, 5)) * 400  # terms far below the max are clipped
    w[0] = -np.inf
    w[1, 2] = np.inf
    w[2, :4] = -np.inf
    with np.errstate(invalid="ignore"):
        want = logsumexp(w, axis=1)
    got = _kernels.logsumexp_rows(w)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    assert got[0] == -np.inf and got[1] == np.inf


@pytest.mark.parametrize("n", [1, 100, 2047, 2048, 4096, 4097, 10_000])
def test_stats_product_equals_plain_product(n):
    # the batched M-step product must be the plain ``r @ z.T`` up to rounding
    rng = np.random.default_rng(n)
    rt = rng.random((7, n))
    zt = rng.normal(size=(13, n))
    got = _kernels._stats_product(rt, zt)
    assert got.shape == (7, 13)
    np.testing.assert_allclose(got, rt @ zt.T, rtol=1e-12, atol=1e-12 * n)


def test_moment_features_chunk_size():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 3))
    feats = _kernels.moment_features(X, get_covariance_type("diag"), 2, chunk_size=300)
    assert [f.shape for f in feats] == [(7, 300)] * 3 + [(7, 100)]
    np.testing.assert_array_equal(np.concatenate(feats, axis=1)[3:6], X.T)


@pytest.mark.parametrize("given_resp", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_full_per_component_statistics_equal_moment_features(monkeypatch, given_resp, weighted):
    rng = np.random.default_rng(11)
    n, d, k = 2500, 11, 2
    X = rng.normal(size=(n, d)) + 50.0
    means = rng.normal(size=(k, d))
    A = rng.normal(size=(k, d, d)) * 0.3
    cov = A @ np.swapaxes(A, 1, 2) + np.eye(d)
    kw = dict(shift=X.mean(axis=0), n_worst=0 if given_resp else 4, chunk_size=600)
    if weighted:
        kw["sample_weight"] = rng.uniform(0.0, 3.0, n)
    if given_resp:
        r = rng.random((n, k))
        kw["resp"] = r / r.sum(axis=1, keepdims=True)
    else:
        kw.update(means=means, precisions_chol=get_covariance_type("full").precision_cholesky(cov),
                  log_weights=np.log([0.4, 0.6]))
    assert get_covariance_type("full").per_component(d, k)
    a = _kernels.accumulate_statistics(X, get_covariance_type("full"), **kw)
    monkeypatch.setattr(bayesgmm.covariance.full, "_PER_COMPONENT_RATIO", 10**9)  # moment features
    assert not get_covariance_type("full").per_component(d, k)
    b = _kernels.accumulate_statistics(X, get_covariance_type("full"), **kw)
    np.testing.assert_allclose(a.nk, b.nk, rtol=1e-12)
    np.testing.assert_allclose(a.sx, b.sx, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(a.sxx, b.sxx, rtol=1e-10, atol=1e-8)
    np.testing.assert_array_equal(a.sxx, np.swapaxes(a.sxx, 1, 2))
    assert a.loglik == pytest.approx(b.loglik, rel=1e-12)
    assert a.weight == b.weight
    if not given_resp:
        np.testing.assert_array_equal(a.worst_index, b.worst_index)
