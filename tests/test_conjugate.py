"""Known-answer posterior checks (issue 7): conjugate Normal-Normal posterior of the means.

The public model cannot fix the covariances (they always have an LKJ/half-normal
prior), so the known answer is checked in three ways:

1. **Density level, exact.**  With one component (K=1, so no weights and no labels),
   the covariance held fixed at Sigma, and the package's prior
   ``means[d] ~ Normal(mean_loc[d], mean_sd[d])``, the posterior of the mean is
   Normal with precision ``P = diag(1/mean_sd^2) + N Sigma^-1`` and mean
   ``P^-1 (diag(1/mean_sd^2) mean_loc + Sigma^-1 sum_n x_n)``.  As a function of the
   means alone, :class:`MixtureDensity`'s log posterior must equal that Normal log
   density up to a constant: we compare differences between pairs of points, and the
   gradient with respect to the means, for every covariance type.  The same check is
   made on :func:`bayesgmm.build_model`'s compiled PyMC logp (slow: compilation).
2. **Sampler, exact target.**  nutpie, through ``bayesgmm.inference``'s NUTS driver
   (``_nuts_nutpie``), samples the means of that same density with the covariance
   block held fixed (a thin wrapper exposing only the mean coordinates).  The posterior
   mean and sd of the draws must match the analytic ones within Monte Carlo error.
3. **Sampler, full model.**  ``run_inference`` on the full K=1 model (covariance
   sampled too) with N=2000 observations: the covariance posterior is tight
   (relative sd ~ sqrt(2/N) = 3%), so the means' posterior is approximately the
   conjugate one evaluated at the posterior-mean covariance.  Checked with
   tolerances that include that approximation.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from bayesgmm._logdensity import MixtureDensity
from bayesgmm.covariance import get_covariance_type
from bayesgmm.priors import Priors

COV_TYPES = ["full", "tied", "diag", "spherical"]


def _data(n=200, seed=0, cov=None):
    rng = np.random.default_rng(seed)
    cov = np.array([[2.0, 0.6], [0.6, 1.0]]) if cov is None else cov
    return rng.multivariate_normal([1.0, -2.0], cov, size=n)


def _fixed_cov(covariance_type):
    """A covariance in the sklearn layout of the type, K=1, and its full (D, D) matrix."""
    full = np.array([[1.5, 0.4], [0.4, 0.8]])
    if covariance_type == "full":
        return full[None], full
    if covariance_type == "tied":
        return full, full
    if covariance_type == "diag":
        d = np.array([1.5, 0.8])
        return d[None], np.diag(d)
    return np.array([1.2]), np.eye(2) * 1.2


def analytic_posterior(X, Sigma, loc, sd):
    """Normal-Normal posterior of the mean: known covariance Sigma, prior N(loc, diag(sd^2))."""
    prior_prec = np.diag(1.0 / sd**2)
    Sinv = np.linalg.inv(Sigma)
    P = prior_prec + X.shape[0] * Sinv
    cov = np.linalg.inv(P)
    mean = cov @ (prior_prec @ loc + Sinv @ X.sum(axis=0))
    return mean, cov


class _MeansOnly:
    """The density's means block with everything else held fixed (K=1)."""

    def __init__(self, dens, cov):
        self.dens = dens
        self.covariance_type = dens.covariance_type
        self.n_components = dens.n_components
        self.n_features = dens.n_features
        self.feature_names = dens.feature_names
        self._x = dens.pack(np.ones(1), np.zeros((1, dens.n_features)), cov)
        self._mu = dens._i_mu
        self.ndim = self._mu.stop - self._mu.start

    def full(self, m):
        x = self._x.copy()
        x[self._mu] = m
        return x

    def logp_and_grad(self, m, X=None, scale=1.0):
        lp, g = self.dens.logp_and_grad(self.full(m), X=X, scale=scale)
        return lp, g[self._mu]

    def logp(self, m):
        return self.logp_and_grad(m)[0]

    def unpack(self, m):
        return self.dens.unpack(self.full(m))


# ---------------------------------------------------------------- 1. density level
@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("priors", [None, Priors(mean_scale=0.05, mean_loc=[3.0, 0.0])], ids=["default", "tight"])
def test_density_means_conditional_is_the_conjugate_normal(covariance_type, priors):
    X = _data()
    dens = MixtureDensity(X, 1, covariance_type, priors)
    cov, Sigma = _fixed_cov(covariance_type)
    rp = dens.priors
    post_mean, post_cov = analytic_posterior(X, Sigma, rp.mean_loc, rp.mean_sd)
    target = stats.multivariate_normal(post_mean, post_cov)
    restricted = _MeansOnly(dens, cov)
    rng = np.random.default_rng(1)
    pts = post_mean + rng.normal(size=(12, 2)) @ np.linalg.cholesky(post_cov).T * 3.0
    pts = np.r_[pts, [[0.0, 0.0], [10.0, -10.0]]]
    lp = np.array([restricted.logp(m) for m in pts])
    ref = target.logpdf(pts)
    # equal up to one additive constant
    np.testing.assert_allclose(lp - lp[0], ref - ref[0], rtol=1e-9, atol=1e-8)
    # and the gradient in the means is the Normal's: -P (m - mean)
    P = np.linalg.inv(post_cov)
    for m in pts[:5]:
        np.testing.assert_allclose(restricted.logp_and_grad(m)[1], -P @ (m - post_mean), rtol=1e-8, atol=1e-8)


def test_density_prior_only_when_no_data_weight():
    """Scale 0 on the likelihood (minibatch scaling) leaves the Normal prior of the means."""
    X = _data()
    dens = MixtureDensity(X, 1, "full")
    cov, _ = _fixed_cov("full")
    restricted = _MeansOnly(dens, cov)
    rp = dens.priors
    prior = stats.multivariate_normal(rp.mean_loc, np.diag(rp.mean_sd**2))
    pts = np.array([[0.0, 0.0], [1.0, 2.0], [-3.0, 5.0]])
    lp = np.array([restricted.logp_and_grad(m, X=X, scale=0.0)[0] for m in pts])
    ref = prior.logpdf(pts)
    np.testing.assert_allclose(lp - lp[0], ref - ref[0], rtol=1e-10, atol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_pymc_model_means_conditional_is_the_conjugate_normal(covariance_type):
    """build_model's compiled logp, means varied with everything else fixed."""
    from bayesgmm.model import build_model

    X = _data(n=100)
    model = build_model(X, 1, covariance_type)
    dens = MixtureDensity(X, 1, covariance_type)
    cov, Sigma = _fixed_cov(covariance_type)
    rp = dens.priors
    post_mean, post_cov = analytic_posterior(X, Sigma, rp.mean_loc, rp.mean_sd)
    target = stats.multivariate_normal(post_mean, post_cov)
    logp = model.compile_logp()
    base = model.initial_point()
    x_fixed = dens.pack(np.ones(1), np.zeros((1, 2)), cov)
    cov_block = x_fixed[dens._i_cov]
    names = [v.name for v in model.value_vars]
    cov_names = [n for n in names if n not in ("weights_simplex__", "means")]
    assert len(cov_names) == 1
    base[cov_names[0]] = cov_block.reshape(np.shape(base[cov_names[0]]))
    pts = post_mean + np.random.default_rng(2).normal(size=(6, 2)) * np.sqrt(np.diag(post_cov)) * 3
    lp = []
    for m in pts:
        point = dict(base)
        point["means"] = m[None, :]
        lp.append(float(logp(point)))
    lp = np.array(lp)
    ref = target.logpdf(pts)
    np.testing.assert_allclose(lp - lp[0], ref - ref[0], rtol=1e-7, atol=1e-7)


# ----------------------------------------------------------- 2. sampler, exact target
def _nutpie_draws(target, x0, draws, tune, chains, seed):
    from bayesgmm import inference

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = inference._nuts_nutpie(
            dens=target, x0=x0, draws=draws, tune=tune, chains=chains, progressbar=False,
            seed_jitter=seed, seed_sampler=seed + 1, jitter=0.1, t0=0.0, cores=1,
        )
    return tree


def _ess_mean(x):
    """Effective sample size of the mean of x (chain, draw): Geyer initial positive sequence."""
    from arviz_stats.base import array_stats

    return float(array_stats.ess(np.asarray(x), chain_axis=0, draw_axis=1, method="bulk"))


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_nutpie_means_match_conjugate_posterior(covariance_type):
    X = _data(n=50, seed=3)
    dens = MixtureDensity(X, 1, covariance_type)
    cov, Sigma = _fixed_cov(covariance_type)
    rp = dens.priors
    post_mean, post_cov = analytic_posterior(X, Sigma, rp.mean_loc, rp.mean_sd)
    target = _MeansOnly(dens, cov)
    tree = _nutpie_draws(target, X.mean(axis=0), draws=1000, tune=300, chains=2, seed=11)
    mu = tree["posterior"]["means"].values[:, :, 0, :]  # (chain, draw, feature)
    # the fixed parts really stayed fixed
    np.testing.assert_allclose(tree["posterior"]["covariances"].values[0, 0, 0], Sigma, rtol=1e-10)
    post_sd = np.sqrt(np.diag(post_cov))
    for d in range(2):
        ess = _ess_mean(mu[..., d])
        assert ess > 300, ess
        mcse = post_sd[d] / np.sqrt(ess)
        assert abs(mu[..., d].mean() - post_mean[d]) < 4 * mcse, (d, mu[..., d].mean(), post_mean[d], mcse)
        # sd of a Normal sample: relative sd ~ 1/sqrt(2 ESS)
        rel = mu[..., d].std() / post_sd[d] - 1
        assert abs(rel) < 4 / np.sqrt(2 * ess), (d, rel)
    corr_draws = np.corrcoef(mu.reshape(-1, 2).T)[0, 1]
    corr_true = post_cov[0, 1] / (post_sd[0] * post_sd[1])
    assert abs(corr_draws - corr_true) < 0.1


# ------------------------------------------------------------ 3. sampler, full model
@pytest.mark.slow
def test_full_model_means_approximately_conjugate_for_large_n():
    from bayesgmm.inference import run_inference

    X = _data(n=2000, seed=5)
    init = {"weights": [1.0], "means": X.mean(axis=0)[None], "covariances": np.cov(X.T)[None]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = run_inference(X, 1, "full", init=init, draws=500, tune=300, chains=2, random_seed=3,
                             progressbar=False, cores=1)
    post = tree["posterior"]
    mu = post["means"].values[:, :, 0, :]
    Sigma_hat = post["covariances"].values[:, :, 0].reshape(-1, 2, 2).mean(axis=0)
    dens = MixtureDensity(X, 1, "full")
    post_mean, post_cov = analytic_posterior(X, Sigma_hat, dens.priors.mean_loc, dens.priors.mean_sd)
    post_sd = np.sqrt(np.diag(post_cov))
    for d in range(2):
        ess = _ess_mean(mu[..., d])
        assert ess > 200, ess
        mcse = post_sd[d] / np.sqrt(ess)
        assert abs(mu[..., d].mean() - post_mean[d]) < 4 * mcse
        # marginal over Sigma is a slightly wider t: allow MC error plus a few percent
        rel = mu[..., d].std() / post_sd[d] - 1
        assert -4 / np.sqrt(2 * ess) < rel < 0.05 + 4 / np.sqrt(2 * ess), (d, rel)
