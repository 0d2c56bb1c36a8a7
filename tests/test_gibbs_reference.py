"""The Gibbs reference sampler (``validation/gibbs.py``) targets the package's posterior.

* Its augmented joint, summed over every allocation ``z`` by enumeration and put
  on the package's unconstrained coordinates (simplex Jacobian computed here by
  brute force), equals :class:`bayesgmm._logdensity.MixtureDensity`'s log density
  up to one constant, for ``full`` and ``diag``.
* The covariance-conditional Metropolis target (sufficient statistics) equals a
  brute-force one (scipy's multivariate normal over the points, half-normal and
  LKJ densities, and a finite-difference Jacobian).
* Its LKJ draws have the known marginals, and a joint-distribution (Geweke) test:
  theta from the prior, data from theta, two sweeps: theta is still prior-distributed.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from bayesgmm._logdensity import MixtureDensity
from bayesgmm.covariance._blocks import lkj_log_norm
from bayesgmm.priors import Priors

_PATH = Path(__file__).resolve().parents[1] / "validation" / "gibbs.py"
_spec = importlib.util.spec_from_file_location("validation_gibbs", _PATH)
gibbs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gibbs)


def _data(N=6, D=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, D)) * [1.0, 3.0][:D] + [0.5, -2.0][:D]


def _fd_jacobian(f, x, h=1e-4):
    """Jacobian of ``f`` at ``x`` by the five-point central stencil (error O(h^4))."""
    cols = []
    for e in np.eye(x.size):
        cols.append((-f(x + 2 * h * e) + 8 * f(x + h * e) - 8 * f(x - h * e) + f(x - 2 * h * e)) / (12 * h))
    return np.array(cols).T


def _simplex_log_jacobian(z):
    """log |det d(w_1..w_{K-1}) / dz| of PyMC's ``w = softmax([z, -sum z])``, by
    central finite differences (brute force, no closed form)."""
    def f(zz):
        v = np.append(zz, -zz.sum())
        e = np.exp(v - v.max())
        return (e / e.sum())[:-1]

    return np.linalg.slogdet(_fd_jacobian(f, z))[1]


def _brute_cov_log_prior(u, cv, sig, eta, D, kind):
    """log prior of the unconstrained covariance coordinates: scipy half-normal,
    LKJ density, and the finite-difference Jacobian of u -> (sd, correlations)."""
    iu = np.triu_indices(D, 1)

    def f(uu):
        L = cv.chol(uu)
        S = L @ L.T
        sd = np.sqrt(np.diag(S))
        C = S / np.outer(sd, sd)
        return np.concatenate([sd, C[iu]]) if kind == "full" else sd

    L = cv.chol(u)
    S = L @ L.T
    sd = np.sqrt(np.diag(S))
    lp = stats.halfnorm.logpdf(sd, scale=sig).sum()
    if kind == "full" and D > 1:
        C = S / np.outer(sd, sd)
        lp += (eta - 1) * np.linalg.slogdet(C)[1] + lkj_log_norm(eta, D)  # lkj_log_norm = -log integral
    return lp + np.linalg.slogdet(_fd_jacobian(f, u))[1]


def _random_theta(rng, K, D, cv):
    w = rng.dirichlet(np.full(K, 2.0))
    mu = rng.normal(scale=2.0, size=(K, D))
    L = cv.draw_prior(rng, K)
    return w, mu, L


def test_priors_and_lkj_normaliser_match_package():
    X = _data(30, 2)
    r = Priors().resolve(X, n_components=3)
    g = gibbs.GibbsPriors(X, 3)
    for a in ("weights_alpha", "mean_loc", "mean_sd", "sd_sigma"):
        np.testing.assert_allclose(getattr(g, a), getattr(r, a), rtol=1e-14)
    assert g.lkj_eta == r.lkj_eta
    for D in (2, 3, 5):
        for eta in (1.0, 2.0, 3.7):
            assert math.isclose(gibbs.lkj_log_normaliser(eta, D), -lkj_log_norm(eta, D), rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_marginalised_augmented_joint_is_package_density(cov_type):
    """log sum_z p(theta, z, X) + simplex Jacobian == MixtureDensity.logp + constant."""
    K, D, N = 3, 2, 5
    X = _data(N, D)
    g = gibbs.GibbsGMM(X, K, cov_type)
    dens = MixtureDensity(X, K, cov_type)
    allz = np.array(list(itertools.product(range(K), repeat=N)))  # 243 allocations
    rng = np.random.default_rng(1)
    diffs = []
    for _ in range(5):
        w, mu, L = _random_theta(rng, K, D, g.cov)
        u = g.cov.unconstrained(L)
        joint = np.array([g.log_joint_augmented(w, mu, u, z) for z in allz])
        cov_arg = L @ np.swapaxes(L, -1, -2) if cov_type == "full" else np.diagonal(L, axis1=1, axis2=2) ** 2
        x = dens.pack(w, mu, cov_arg)
        np.testing.assert_allclose(g.cov.unconstrained(L).ravel(), x[K - 1 + K * D:], rtol=1e-12, atol=1e-12)
        ours = logsumexp(joint) + _simplex_log_jacobian(x[: K - 1])
        diffs.append(ours - dens.logp(x))
        # and the enumeration agrees with the mixture likelihood summed out directly
        ld = g.log_component_densities(w, mu, L)
        assert math.isclose(logsumexp(joint), g.log_prior_theta(w, mu, u) + logsumexp(ld, axis=1).sum(), rel_tol=1e-12)
    diffs = np.array(diffs)
    assert np.ptp(diffs) < 1e-8, diffs  # one constant (seen: spread ~6e-12)
    assert abs(diffs[0]) < 1e-8, diffs  # and it is zero: the same normalisers (seen: ~4e-12)


@pytest.mark.parametrize("cov_type,D", [("full", 2), ("full", 3), ("diag", 2)])
def test_covariance_conditional_target_brute_force(cov_type, D):
    K, N = 2, 40
    X = _data(N, 2, seed=3)
    if D == 3:
        X = np.column_stack([X, np.random.default_rng(4).normal(size=N)])
    g = gibbs.GibbsGMM(X, K, cov_type)
    rng = np.random.default_rng(5)
    z = rng.integers(0, K, size=N)
    mu = rng.normal(size=(K, D))
    n, s1, M2 = g._stats(z, mu)
    S = g._scatter(n, s1, M2, mu - g.shift)
    diffs = []
    for _ in range(6):
        L = g.cov.draw_prior(rng, K)
        u = g.cov.unconstrained(L)
        target = g.cov.log_prior_u(u) + gibbs.cov_loglik(L, n, S)  # the sampler's (K,)
        for k in range(K):
            Sig = L[k] @ L[k].T
            dd = X[z == k] - mu[k]  # per point, by a linear solve (scipy's eigen-based logpdf loses ~1e-4 here)
            brute = -0.5 * (len(dd) * (D * np.log(2 * np.pi) + np.linalg.slogdet(Sig)[1])
                            + np.sum(dd * np.linalg.solve(Sig, dd.T).T))
            brute += _brute_cov_log_prior(u[k], g.cov, g.pri.sd_sigma, g.pri.lkj_eta, D, cov_type)
            diffs.append(target[k] - brute)
    assert np.max(np.abs(diffs)) < 1e-6, diffs


def test_lkj_draws_marginals():
    rng = np.random.default_rng(6)
    for D, eta in ((2, 1.0), (3, 2.0), (4, 0.7)):
        Lc = gibbs.lkj_corr_cholesky_draw(rng, eta, D, 4000)
        C = Lc @ np.swapaxes(Lc, -1, -2)
        np.testing.assert_allclose(np.diagonal(C, axis1=1, axis2=2), 1.0, atol=1e-12)
        b = eta - 1 + D / 2  # LKJ marginal: (r + 1) / 2 ~ Beta(b, b)
        for i, j in zip(*np.triu_indices(D, 1)):
            assert stats.kstest((C[:, i, j] + 1) / 2, stats.beta(b, b).cdf).pvalue > 1e-3


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_geweke_joint_distribution(cov_type):
    """theta ~ prior, X ~ p(X | theta), two sweeps from theta: theta' ~ prior."""
    K, D, N = 2, 2, 10
    M = 300 if cov_type == "full" else 200  # replicates (test time)
    pri = SimpleNamespace(weights_alpha=np.ones(K), mean_loc=np.zeros(D), mean_sd=np.full(D, 2.0),
                          sd_sigma=np.ones(D), lkj_eta=2.0)
    rng = np.random.default_rng(7)
    prior_cov = gibbs.GibbsGMM(np.zeros((2, D)) + [[0, 0], [1, 1]], K, cov_type, priors=pri).cov
    before, after, fresh = [], [], []
    for _ in range(M):
        w = rng.dirichlet(pri.weights_alpha)
        mu = pri.mean_loc + pri.mean_sd * rng.normal(size=(K, D))
        L = prior_cov.draw_prior(rng, K)
        z = rng.choice(K, size=N, p=w)
        X = mu[z] + np.einsum("nij,nj->ni", L[z], rng.normal(size=(N, D)))
        g = gibbs.GibbsGMM(X, K, cov_type, priors=pri, n_rw=2)
        st = (w, mu, L)
        for _ in range(2):
            st, _, _ = g.sweep(rng, st)

        def f(s):
            ww, mm, LL = s
            Sig = LL[0] @ LL[0].T
            return [ww[0], mm[0, 0], mm[1, 1], np.log(Sig[0, 0]), np.log(Sig[1, 1]),
                    Sig[0, 1] / np.sqrt(Sig[0, 0] * Sig[1, 1])]

        before.append(f((w, mu, L)))
        after.append(f(st))
        fresh.append(f((rng.dirichlet(pri.weights_alpha), pri.mean_loc + pri.mean_sd * rng.normal(size=(K, D)),
                        prior_cov.draw_prior(rng, K))))
    before, after, fresh = np.array(before), np.array(after), np.array(fresh)
    moved = np.mean(np.abs(after - before) > 1e-12, axis=0)
    assert moved[:5].min() > 0.5  # the sweeps do move theta
    # after the sweeps against independent prior draws (two-sample KS, Bonferroni)
    p = [stats.ks_2samp(fresh[:, j], after[:, j]).pvalue for j in range(5 if cov_type == "diag" else 6)]
    assert min(p) > 1e-3 / len(p), p
