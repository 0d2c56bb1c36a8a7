"""Every registered covariance type against brute-force numpy/scipy references.

Parametrised over the registry (:mod:`bayesgmm.covariance`), so a new type is
tested as soon as it is registered: layout round trips, free-parameter counts,
the M-step, precision factors, log-determinants, log-densities at extreme
scales, sampling and random covariances.
"""

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from bayesgmm import _kernels
from bayesgmm.covariance import EM_COVARIANCE_TYPES, get_covariance_type

K, D = 3, 4
# every distinct registered type (mclust's VVV, EEE, VVI, VII are the first four)
TYPES = list(dict.fromkeys(get_covariance_type(name) for name in EM_COVARIANCE_TYPES))
IDS = [ct.name for ct in TYPES]
# types whose layout is exactly their free parameters (the others, mclust's EII,
# VEV, ..., keep a larger type's layout and project onto their model)
LINEAR_LAYOUT = ("full", "tied", "diag", "spherical")


def _covariances(ct, seed=0, scale=1.0, k=K, d=D):
    return ct.random_covariances(np.random.default_rng(seed), k, d, scale)


def _sym(a):
    return 0.5 * (a + np.swapaxes(a, -1, -2))


# ------------------------------------------------------------------------ layout
@pytest.mark.parametrize("ct", TYPES, ids=IDS)
def test_layout_round_trip_and_shapes(ct):
    c = _covariances(ct, seed=1)
    assert c.shape == ct.covariance_shape(K, D)
    full = ct.to_full(c, K, D)
    assert full.shape == (K, D, D)
    # mclust's constrained models (no Bayesian model) project by an iterative
    # maximum-likelihood fit: exact to rounding and the solver's tolerance only
    rtol = 1e-15 if ct.name in LINEAR_LAYOUT else 1e-7
    np.testing.assert_allclose(ct.from_full(full), c, rtol=rtol, atol=rtol * np.abs(c).max())
    # leading batch dims (e.g. posterior draws) pass through both ways
    batch = np.stack([c, 2.0 * c])
    full_b = ct.to_full(batch, K, D)
    assert full_b.shape == (2, K, D, D)
    np.testing.assert_allclose(full_b[1], 2.0 * full, rtol=1e-15)
    np.testing.assert_allclose(ct.from_full(full_b), batch, rtol=rtol, atol=rtol * np.abs(c).max())


@pytest.mark.parametrize("ct", TYPES, ids=IDS)
def test_random_covariances_are_spd_in_range(ct):
    for scale in (1e-3, 1.0, 50.0):
        full = ct.to_full(_covariances(ct, seed=2, scale=scale), K, D)
        np.testing.assert_allclose(full, np.swapaxes(full, -1, -2), rtol=1e-12, atol=0)
        ev = np.linalg.eigvalsh(full)
        assert np.all(ev >= 0.3 * scale**2 * (1 - 1e-12))
        assert np.all(ev < scale**2 * (1 + 1e-12))
    # reproducible from the generator
    np.testing.assert_array_equal(_covariances(ct, seed=3), _covariances(ct, seed=3))


# --------------------------------------------------------------- parameter counts
_EXPLICIT = {  # covariance parameters, by hand
    "full": lambda k, d: k * d * (d + 1) / 2,
    "tied": lambda k, d: d * (d + 1) / 2,
    "diag": lambda k, d: k * d,
    "spherical": lambda k, d: k,
}


def _jacobian_rank(ct, k, d):
    """Free covariance parameters as the rank of the layout -> full-matrix map
    (finite differences at a random point; exact for linear layouts). For the
    constrained models whose layout is a larger one's (mclust's EII, VEV, ...),
    the map goes through the projection onto the model (``from_full``): its
    derivative at a member projects onto the model's tangent space."""
    c = _covariances(ct, seed=4, k=k, d=d)
    if ct.name in LINEAR_LAYOUT:
        f = lambda c: _sym(ct.to_full(c, k, d)).ravel()  # noqa: E731
        h, tol = 1e-6, 1e-6
    else:
        f = lambda c: _sym(ct.to_full(ct.from_full(ct.to_full(c, k, d)), k, d)).ravel()  # noqa: E731
        h, tol = 1e-4, 1e-3
    f0 = f(c)
    cols = []
    for i in range(c.size):
        e = np.zeros(c.size)
        e[i] = h
        cols.append((f(c + e.reshape(c.shape)) - f0) / h)
    return np.linalg.matrix_rank(np.column_stack(cols), tol=tol)


@pytest.mark.parametrize("ct", TYPES, ids=IDS)
@pytest.mark.parametrize("k, d", [(1, 1), (3, 2), (4, 5)])
def test_n_parameters(ct, k, d):
    n_cov = ct.n_covariance_parameters(k, d)
    assert n_cov == _jacobian_rank(ct, k, d)
    if ct.name in _EXPLICIT:
        assert n_cov == _EXPLICIT[ct.name](k, d)
    assert ct.n_parameters(k, d) == n_cov + k * d + k - 1
    sk = pytest.importorskip("sklearn.mixture")
    (options,) = [c for c in sk.GaussianMixture._parameter_constraints["covariance_type"]]
    if ct.name in options.options:  # a type scikit-learn knows
        g = sk.GaussianMixture(k, covariance_type=ct.name)
        g.means_ = np.zeros((k, d))
        assert ct.n_parameters(k, d) == g._n_parameters()


# ------------------------------------------------------------------------ M-step
def _brute_force_moments(X, resp, w):
    """Weighted counts, means and per-component covariances with plain loops."""
    n, d = X.shape
    k = resp.shape[1]
    nk = np.zeros(k)
    means = np.zeros((k, d))
    covs = np.zeros((k, d, d))
    for j in range(k):
        for i in range(n):
            nk[j] += w[i] * resp[i, j]
            means[j] += w[i] * resp[i, j] * X[i]
        means[j] /= nk[j]
        for i in range(n):
            dx = X[i] - means[j]
            covs[j] += w[i] * resp[i, j] * np.outer(dx, dx)
        covs[j] /= nk[j]
    return nk, means, covs


_PROJECTION = {  # the maximum-likelihood covariance of each type, from the components'
    "full": lambda nk, covs: covs,
    "tied": lambda nk, covs: np.tensordot(nk, covs, axes=1) / nk.sum(),
    "diag": lambda nk, covs: np.diagonal(covs, axis1=1, axis2=2),
    "spherical": lambda nk, covs: np.diagonal(covs, axis1=1, axis2=2).mean(axis=1),
}


def _em_data(seed=9, n=80):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D)) * [1.0, 2.0, 0.5, 3.0] + 10.0
    resp = rng.dirichlet(np.ones(K), size=n)
    w = rng.uniform(0.1, 3.0, size=n)
    return X, resp, w


@pytest.mark.parametrize("ct", TYPES, ids=IDS)
def test_m_step_matches_brute_force(ct):
    if ct.name not in _PROJECTION:
        pytest.skip("no hand-written projection for this type (see the optimality test)")
    X, resp, w = _em_data()
    reg = 1e-3
    st = _kernels.accumulate_statistics(X, ct, resp=resp, sample_weight=w, shift=X.mean(0))
    nk, means, cov = ct.m_step(st, reg)
    nk_b, mu_b, covs_b = _brute_force_moments(X, resp, w)
    np.testing.assert_allclose(nk, nk_b, rtol=1e-12)
    np.testing.assert_allclose(means + X.mean(0), mu_b, rtol=1e-12)
    want = _PROJECTION[ct.name](nk_b, covs_b)
    want_full = ct.to_full(want, K, D) + reg * np.eye(D)
    np.testing.assert_allclose(ct.to_full(cov, K, D), want_full, rtol=1e-10, atol=1e-12)


def _expected_complete_loglik(ct, X, resp, w, means, cov):
    P = ct.precision_cholesky(cov)
    return float(w @ np.sum(resp * _kernels.estimate_log_gaussian_prob(X, means, P, ct), axis=1))


@pytest.mark.parametrize("ct", TYPES, ids=IDS)
def test_m_step_maximises_expected_complete_loglik(ct):
    # generic (no per-type formula): with reg_covar = 0 the M-step is the
    # weighted maximum-likelihood estimate, so no nearby valid layout is better
    X, resp, w = _em_data(seed=10)
    st = _kernels.accumulate_statistics(X, ct, resp=resp, sample_weight=w)
    _, means, cov = ct.m_step(st, 0.0)
    best = _expected_complete_loglik(ct, X, resp, w, means, cov)
    rng = np.random.default_rng(11)
    full = ct.to_full(cov, K, D)
    for _ in range(10):
        bump = _sym(rng.normal(size=(K, D, D))) * 1e-3 * np.abs(full).max()
        other = ct.from_full(full + bump)
        assert _expected_complete_loglik(ct, X, resp, w, means, other) < best
        moved = means + rng.normal(size=means.shape) * 1e-3
        assert _expected_complete_loglik(ct, X, resp, w, moved, cov) < best


# ------------------------------------------------------------- precision factors
@pytest.mark.parametrize("ct", TYPES, ids=IDS)
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_precision_factors_against_numpy(ct, scale):
    c = _covariances(ct, seed=5, scale=scale)
    full = ct.to_full(c, K, D)
    P = ct.precision_cholesky(c)
    assert P.shape == c.shape
    Pf = ct.to_full(P, K, D)
    # P = inv(chol(C)).T: upper triangular, the factor with a positive diagonal
    want = np.swapaxes(np.linalg.inv(np.linalg.cholesky(full)), -1, -2)
    np.testing.assert_allclose(Pf, want, rtol=1e-9, atol=1e-12 * np.abs(want).max())
    assert np.all(np.tril(Pf, -1) == 0)
    prec = ct.precisions_from_cholesky(P)
    np.testing.assert_allclose(ct.to_full(prec, K, D), np.linalg.inv(full), rtol=1e-9,
                               atol=1e-12 / scale**2)
    np.testing.assert_allclose(ct.precision_cholesky_from_precisions(prec), P, rtol=1e-9,
                               atol=1e-12 / scale)
    np.testing.assert_allclose(ct.covariances_from_precisions(prec), c, rtol=1e-9,
                               atol=1e-12 * scale**2)
    # log det P = -log det(C) / 2 (a scalar for a shared covariance)
    ld = np.broadcast_to(ct.log_det_cholesky(P, D), (K,))
    np.testing.assert_allclose(ld, -0.5 * np.linalg.slogdet(full)[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ct", TYPES, ids=IDS)
def test_singular_covariance_names_the_remedy(ct):
    bad = ct.from_full(np.zeros((K, D, D)))
    with pytest.raises(ValueError, match="reg_covar.*scale.*fewer components"):
        ct.precision_cholesky(bad)


# ------------------------------------------------------------------- log-density
@pytest.mark.parametrize("ct", TYPES, ids=IDS)
@pytest.mark.parametrize("scale, offset", [(1e-6, 0.0), (1e6, 0.0), (1.0, 1e8)])
def test_log_density_against_scipy_at_extreme_scales(ct, scale, offset):
    rng = np.random.default_rng(6)
    c = _covariances(ct, seed=7) * scale**2
    means = offset + scale * rng.normal(size=(K, D)) * 3
    X = offset + scale * rng.normal(size=(200, D)) * 3
    got = _kernels.estimate_log_gaussian_prob(X, means, ct.precision_cholesky(c), ct,
                                              chunk_size=64)
    full = ct.to_full(c, K, D)
    want = np.column_stack(
        [multivariate_normal(means[k], full[k]).logpdf(X) for k in range(K)]
    )
    # the rows' coordinates are known to ``eps * |x|``: in units of the
    # components' standard deviations that is eps * (|offset| / scale + 10),
    # and the Mahalanobis term magnifies it by the standardised distance
    sd = np.sqrt(np.linalg.eigvalsh(full).min())
    maha = np.sqrt(np.maximum(-2.0 * (want - want.max()), 1.0))
    tol = 10 * np.finfo(float).eps * (abs(offset) / sd + 10.0) * maha * D
    np.testing.assert_array_less(np.abs(got - want), tol + 1e-12 * np.abs(want))


# ----------------------------------------------------------------------- sampling
@pytest.mark.parametrize("ct", TYPES, ids=IDS)
def test_sample_moments(ct):
    rng = np.random.RandomState(0)
    c = _covariances(ct, seed=8)
    full = ct.to_full(c, K, D)
    means = np.arange(K * D, dtype=float).reshape(K, D)
    counts = np.array([4000, 6000, 5000])
    X = ct.sample(rng, means, c, counts)
    assert X.shape == (counts.sum(), D)
    start = np.r_[0, np.cumsum(counts)]
    for k in range(K):
        xk = X[start[k] : start[k + 1]]  # rows of component k, in order
        n = counts[k]
        var = np.diag(full[k])
        np.testing.assert_array_less(np.abs(xk.mean(0) - means[k]), 5 * np.sqrt(var / n))
        sd_cov = np.sqrt((np.outer(var, var) + full[k] ** 2) / n)
        np.testing.assert_array_less(np.abs(np.cov(xk.T) - full[k]), 5 * sd_cov)
    # the same generator state gives the same draws
    again = ct.sample(np.random.RandomState(0), means, c, counts)
    np.testing.assert_array_equal(again, X)
