import numpy as np
import pytest
from scipy import stats

from _longdouble import log_prob
from bayesgmm._logdensity import MixtureDensity
from bayesgmm.model import build_model
from bayesgmm.priors import Priors

FAST = "FAST_COMPILE"
TYPES = ["full", "tied", "diag", "spherical", "EII", "EEI"]  # every type with a Bayesian model
SHAPES = [(1, 1), (3, 2), (2, 3), (2, 1)]


def _data(N, D, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, D)) * np.linspace(1.0, 3.0, D) + np.linspace(-2.0, 5.0, D)


def _random_points(model, n, rng, scale=0.5):
    ip = model.initial_point()
    for _ in range(n):
        yield {k: v + rng.normal(scale=scale, size=v.shape) for k, v in ip.items()}


def _flat(point, names):
    return np.concatenate([np.ravel(point[n]) for n in names])


@pytest.mark.parametrize("K,D", SHAPES)
@pytest.mark.parametrize("covariance_type", TYPES)
def test_matches_pymc_logp_and_dlogp(covariance_type, K, D):
    """Same parametrisation as PyMC's value variables: logp and gradient agree exactly."""
    X = _data(35, D, seed=K + 10 * D)
    pri = Priors(weights_alpha=np.linspace(0.7, 2.0, K).tolist(), lkj_eta=1.7, mean_scale=1.5, sd_scale=0.8)
    m = build_model(X, K, covariance_type, pri)
    dens = MixtureDensity(X, K, covariance_type, pri)
    assert dens.names == [v.name for v in m.value_vars]
    f, df = m.compile_logp(mode=FAST), m.compile_dlogp(mode=FAST)
    rng = np.random.default_rng(0)
    for point in _random_points(m, 3, rng):
        x = _flat(point, dens.names)
        lp, g = dens.logp_and_grad(x)
        np.testing.assert_allclose(lp, f(point), rtol=1e-11)
        np.testing.assert_allclose(g, df(point), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_constrained_density_plus_jacobian(covariance_type):
    """logp = PyMC's constrained density (jacobian=False) + an independently written Jacobian."""
    K, D = 3, 2
    X = _data(30, D, seed=3)
    m = build_model(X, K, covariance_type)
    dens = MixtureDensity(X, K, covariance_type)
    f = m.compile_logp(jacobian=False, mode=FAST)
    rng = np.random.default_rng(1)
    for point in _random_points(m, 3, rng):
        x = _flat(point, dens.names)
        p = dens.unpack(x)
        # simplex: log K + sum log w; Cholesky/sd: log of each exponentiated entry
        jac = np.log(K) + np.log(p["weights"]).sum()
        if covariance_type == "full":
            jac += np.log(np.diagonal(p["chol"], axis1=1, axis2=2)).sum()
        elif covariance_type == "tied":
            jac += np.log(np.diag(p["chol"][0])).sum()
        elif covariance_type == "diag":
            jac += np.log(p["sds"]).sum()
        elif covariance_type == "EII":  # one sd shared by all components
            jac += np.log(p["sds"][0, 0])
        elif covariance_type == "EEI":  # one sd per feature shared by all components
            jac += np.log(p["sds"][0]).sum()
        else:
            jac += np.log(p["sds"][:, 0]).sum()
        np.testing.assert_allclose(dens.logp(x), f(point) + jac, rtol=1e-11)


@pytest.mark.parametrize("K,D", [(1, 1), (3, 2), (2, 4)])
@pytest.mark.parametrize("covariance_type", TYPES)
def test_gradient_matches_finite_differences(covariance_type, K, D):
    X = _data(40, D, seed=7)
    dens = MixtureDensity(X, K, covariance_type)
    rng = np.random.default_rng(2)
    x = rng.normal(scale=0.4, size=dens.ndim)
    x[dens._i_mu] += np.tile(X.mean(axis=0), K)
    _, g = dens.logp_and_grad(x)
    h = 1e-6
    fd = np.array([(dens.logp(x + h * e) - dens.logp(x - h * e)) / (2 * h) for e in np.eye(dens.ndim)])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_pack_unpack_roundtrip(covariance_type):
    K, D = 3, 3
    rng = np.random.default_rng(4)
    dens = MixtureDensity(_data(20, D, 0), K, covariance_type)
    w = np.array([0.2, 0.5, 0.3])
    mu = rng.normal(size=(K, D))
    B = rng.normal(size=(K, D, D))
    full = B @ np.swapaxes(B, 1, 2) + np.eye(D)
    cov = {
        "full": full,
        "tied": full[0],
        "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
        "spherical": np.array([0.5, 1.0, 2.0]),
        "EII": np.full(K, 1.5),
        "EEI": np.tile(np.diagonal(full[0]), (K, 1)),
    }[covariance_type]
    out = dens.unpack(dens.pack(w, mu, cov))
    expected_full = {
        "full": full,
        "tied": np.broadcast_to(full[0], (K, D, D)),
        "diag": np.stack([np.diag(c) for c in cov]) if covariance_type == "diag" else None,
        "spherical": cov[:, None, None] * np.eye(D) if covariance_type == "spherical" else None,
        "EII": 1.5 * np.broadcast_to(np.eye(D), (K, D, D)),
        "EEI": np.broadcast_to(np.diag(np.diagonal(full[0])), (K, D, D)),
    }[covariance_type]
    np.testing.assert_allclose(out["weights"], w, rtol=1e-12)
    np.testing.assert_allclose(out["means"], mu)
    np.testing.assert_allclose(out["covariances"], expected_full, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out["sds"], np.sqrt(np.diagonal(expected_full, axis1=1, axis2=2)))
    if covariance_type in ("full", "tied"):
        s = out["sds"]
        np.testing.assert_allclose(out["correlations"], expected_full / (s[:, :, None] * s[:, None, :]))
        np.testing.assert_allclose(np.diagonal(out["correlations"], axis1=1, axis2=2), 1.0)
    else:
        assert "correlations" not in out


def test_pointwise_log_likelihood_matches_scipy():
    K, D = 3, 2
    X = _data(50, D, seed=5)
    dens = MixtureDensity(X, K, "full")
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(K))
    mu = rng.normal(size=(K, D))
    B = rng.normal(size=(K, D, D))
    cov = B @ np.swapaxes(B, 1, 2) + 0.5 * np.eye(D)
    ref = np.log(sum(w[k] * stats.multivariate_normal(mu[k], cov[k]).pdf(X) for k in range(K)))
    np.testing.assert_allclose(dens.pointwise_log_likelihood(w, mu, cov), ref, rtol=1e-11)
    Xn = X[:7] + 1.0
    ref_new = np.log(sum(w[k] * stats.multivariate_normal(mu[k], cov[k]).pdf(Xn) for k in range(K)))
    np.testing.assert_allclose(dens.pointwise_log_likelihood(w, mu, cov, X=Xn), ref_new, rtol=1e-11)
    # total likelihood in logp: logp(data) - logp(no data, scale=0) = sum of pointwise terms
    x = dens.pack(w, mu, cov)
    lp_prior = dens.logp_and_grad(x, X=X[:1], scale=0.0)[0]
    np.testing.assert_allclose(dens.logp(x) - lp_prior, ref.sum(), rtol=1e-10)


def test_minibatch_scaling_is_unbiased_and_exact_for_full_batch():
    K, D = 2, 2
    X = _data(60, D, seed=8)
    dens = MixtureDensity(X, K, "diag")
    x = dens.pack([0.4, 0.6], [[-1.0, 0.0], [1.0, 4.0]], [[1.0, 2.0], [3.0, 1.0]])
    lp, g = dens.logp_and_grad(x)
    lp2, g2 = dens.logp_and_grad(x, X=X, scale=1.0)
    np.testing.assert_allclose(lp2, lp, rtol=1e-12)
    np.testing.assert_allclose(g2, g, rtol=1e-10)
    # average over a partition into 3 minibatches, each scaled by N/n, equals the full value
    parts = np.array_split(np.arange(60), 3)
    lps, gs = zip(*[dens.logp_and_grad(x, X=X[idx], scale=60 / len(idx)) for idx in parts])
    np.testing.assert_allclose(np.mean(lps), lp, rtol=1e-10)
    np.testing.assert_allclose(np.mean(gs, axis=0), g, rtol=1e-8, atol=1e-10)


def test_design_fallback_and_chunking_agree():
    X = _data(101, 3, seed=9)
    a = MixtureDensity(X, 2, "full")
    b = MixtureDensity(X, 2, "full", max_design_bytes=0, chunk_size=17)
    assert b._ZT is None
    x = np.random.default_rng(0).normal(scale=0.3, size=a.ndim)
    la, ga = a.logp_and_grad(x)
    lb, gb = b.logp_and_grad(x)
    np.testing.assert_allclose(lb, la, rtol=1e-12)
    np.testing.assert_allclose(gb, ga, rtol=1e-9, atol=1e-12)


def test_far_from_origin_tight_clusters_are_accurate():
    """Quadratic-form expansion on centred data stays accurate for offset data."""
    rng = np.random.default_rng(3)
    centres = np.array([[1e4, -5e3], [1e4 + 50, -5e3 + 20]])
    X = np.concatenate([c + 0.05 * rng.normal(size=(100, 2)) for c in centres])
    dens = MixtureDensity(X, 2, "full")
    w = np.array([0.5, 0.5])
    cov = np.stack([np.diag([0.0025, 0.0025])] * 2)
    x = dens.pack(w, centres, cov)
    ref = dens.pointwise_log_likelihood(w, centres, cov).sum()  # whitening path
    lp_data = dens.logp(x) - dens.logp_and_grad(x, X=X[:1], scale=0.0)[0]
    np.testing.assert_allclose(lp_data, ref, rtol=1e-9)


def test_invalid_inputs():
    dens = MixtureDensity(_data(20, 2, 0), 2, "full")
    with pytest.raises(ValueError, match="length ndim=11"):
        dens.logp_and_grad(np.zeros(3))
    with pytest.raises(ValueError, match="means must have shape"):
        dens.pack([0.5, 0.5], np.zeros((3, 2)), np.stack([np.eye(2)] * 2))
    with pytest.raises(ValueError, match="not positive definite"):
        dens.pack([0.5, 0.5], np.zeros((2, 2)), np.stack([-np.eye(2)] * 2))
    with pytest.raises(ValueError, match="covariances for covariance_type='full'"):
        dens.pack([0.5, 0.5], np.zeros((2, 2)), np.eye(2))
    with pytest.raises(ValueError, match="weights must be 2"):
        dens.pack([0.5, -0.5], np.zeros((2, 2)), np.stack([np.eye(2)] * 2))
    with pytest.raises(ValueError, match="resolved for 3 components"):
        MixtureDensity(_data(20, 2, 0), 2, "full", Priors().resolve(_data(20, 2, 0), 3))


def test_overflow_gives_minus_inf_not_exception():
    dens = MixtureDensity(_data(20, 2, 0), 2, "full")
    x = np.zeros(dens.ndim)
    x[-1] = 800.0  # exp overflows
    lp, g = dens.logp_and_grad(x)
    assert lp == -np.inf and np.all(g == 0)


@pytest.mark.parametrize("ratio", [1e2, 1e5, 1e8])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_far_apart_tight_clusters_match_pymc(covariance_type, ratio):
    """Issue 12: separation/sd up to 1e8 (the expansion was off by 31 nats at 1e5):
    logp and gradient equal PyMC's to 1e-8 relative."""
    rng = np.random.default_rng(4)
    sd = 1e-3
    means = np.array([[0.0, 0.0], [ratio * sd, 0.5 * ratio * sd]]) + 1e3
    X = np.concatenate([m + sd * rng.normal(size=(40, 2)) * [1.0, 0.6] for m in means])
    dens = MixtureDensity(X, 2, covariance_type)
    m = build_model(X, 2, covariance_type)
    f, df = m.compile_logp(mode=FAST), m.compile_dlogp(mode=FAST)
    cov = np.stack([np.cov(X[:40].T, bias=True), np.cov(X[40:].T, bias=True)])
    if covariance_type == "diag":
        cov = np.diagonal(cov, axis1=1, axis2=2)
    x = dens.pack(np.array([0.5, 0.5]), np.array([X[:40].mean(0), X[40:].mean(0)]), cov)
    for xp in (x, x + 0.01 * rng.normal(size=x.shape)):
        point, i = {}, 0
        for name, shape in zip(dens.names, dens.shapes):
            size = int(np.prod(shape))
            point[name] = xp[i : i + size].reshape(shape)
            i += size
        lp, g = dens.logp_and_grad(xp)
        np.testing.assert_allclose(lp, f(point), rtol=1e-8)
        # weights and covariance blocks against PyMC; the mean gradient, which
        # nearly vanishes at the sample means and where PyMC's own rounding
        # reaches ~1e-6 of the gradient's size, against an extended-precision
        # reference (below)
        g_ref = df(point)
        for block in (dens._i_w, dens._i_cov):
            np.testing.assert_allclose(g[block], g_ref[block], rtol=1e-8,
                                       atol=1e-6 * np.max(np.abs(g_ref[block]), initial=1.0))
        u = dens.unpack(xp)
        lpk = log_prob(X, u["weights"], u["means"], u["covariances"])
        r = np.exp(lpk - lpk.max(axis=1, keepdims=True))
        r /= r.sum(axis=1, keepdims=True)
        exact = np.concatenate([
            np.linalg.solve(c, np.asarray(rk @ (X.astype(np.longdouble) - mk), dtype=float))
            for c, rk, mk in zip(u["covariances"], r.T, u["means"])
        ])
        prior = ((u["means"] - dens.priors.mean_loc) / dens.priors.mean_sd**2).ravel()
        np.testing.assert_allclose(g[dens._i_mu] + prior, exact, rtol=1e-6,
                                   atol=1e-8 * np.max(np.abs(g_ref)))
