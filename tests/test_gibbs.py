"""Gibbs sampling with data augmentation (``method="gibbs"``, :mod:`bayesgmm.inference._gibbs`)."""

from __future__ import annotations

import warnings

import arviz_stats as azs
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from bayesgmm._compiled import CompiledDensity
from bayesgmm._logdensity import MixtureDensity
from bayesgmm.covariance import COVARIANCE_TYPES
from bayesgmm.inference import MCMC_METHODS, METHODS, run_inference
from bayesgmm.inference._gibbs import _factor_target, gibbs_chain


def _two_clusters(seed=1, scale=1.0, offset=0.0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal([0, 0], [1, 0.5], (60, 2)), rng.normal([5, 3], [0.7, 1.2], (40, 2))])
    return X * scale + offset


def _quiet(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_inference(progressbar=False, **kw)


def test_gibbs_is_a_method_and_an_mcmc_method():
    assert "gibbs" in METHODS and "gibbs" in MCMC_METHODS


# ------------------------------------------------ the covariance conditional
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_factor_target_is_the_complete_data_posterior_in_the_covariance_block(covariance_type):
    """Differences of the compiled conditional of the covariance block (summed over its
    factors) equal differences of log prior + complete-data log-likelihood computed
    independently (the numpy density's prior, scipy's normal densities)."""
    rng = np.random.default_rng(0)
    X = _two_clusters(seed=2)
    K, D = 3, 2
    dens = MixtureDensity(X, K, covariance_type)
    cd = CompiledDensity(dens)
    block = dens._cov.compiled_block(K, D, dens.priors)
    nf = block.n_factors
    params = np.asarray(block.params, dtype=np.float64).ravel()
    z = rng.integers(0, K, size=X.shape[0])
    x1 = rng.normal(scale=0.3, size=dens.ndim)
    o_cov = (K - 1) + K * D
    x2 = x1.copy()
    x2[o_cov:] += rng.normal(scale=0.2, size=dens.ndim - o_cov)
    mu = x1[K - 1 : o_cov].reshape(K, D)

    def independent(x):
        p = dens.unpack(x)
        prior = dens.logp(x) - dens.pointwise_log_likelihood(p["weights"], p["means"], p["covariances"]).sum()
        cov = p["covariances"]
        cov = np.broadcast_to(cov, (K, D, D)) if cov.ndim == 2 else cov
        lik = sum(multivariate_normal(mu[k], cov[k]).logpdf(X[z == k]).sum() for k in range(K))
        return prior + lik

    def compiled(x):
        u = x[o_cov:].copy()
        pf = u.size // nf
        total = 0.0
        for f in range(nf):
            ks = [k for k in range(K) if (k if nf == K else 0) == f]
            n, S = 0.0, np.zeros((D, D))
            for k in ks:
                r = X[z == k] - mu[k]
                n += r.shape[0]
                S += r.T @ r
            L1, A1, dL1 = np.zeros((1, D, D)), np.zeros((1, D, D)), np.zeros((1, D, D))
            total += _factor_target(block.kind, params, u[f * pf : (f + 1) * pf].copy(), D, n, S, L1, A1,
                                    np.empty(1), dL1, np.empty(pf))
        return total

    assert cd.ndim == dens.ndim
    assert compiled(x2) - compiled(x1) == pytest.approx(independent(x2) - independent(x1), rel=1e-9, abs=1e-8)


# ----------------------------------------------------- against NUTS, 4 types
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gibbs_posterior_equals_nuts_on_separated_clusters(covariance_type):
    """Posterior means of the weights, means and sds within 4.5 Monte Carlo standard errors of
    NUTS's, and posterior sds within 10 %, on data at scale 1e-6 far from the origin."""
    X = _two_clusters(scale=1e-6, offset=3e-3)
    common = dict(X=X, n_components=2, covariance_type=covariance_type, draws=1500, tune=700, chains=4,
                  random_seed=3)
    a = _quiet(method="nuts", **common)["posterior"].to_dataset()
    b = _quiet(method="gibbs", thin=4, **common)["posterior"].to_dataset()
    for v in ("weights", "means", "sds"):
        se = np.sqrt(azs.mcse(a[v], sample_dims=("chain", "draw")) ** 2
                     + azs.mcse(b[v], sample_dims=("chain", "draw")) ** 2)
        z = np.abs((a[v].mean(("chain", "draw")) - b[v].mean(("chain", "draw"))) / se)
        assert float(z.max()) < 4.5, (v, z.values)
        ratio = b[v].std(("chain", "draw")) / a[v].std(("chain", "draw"))
        assert np.all(np.abs(ratio.values - 1) < 0.1), (v, ratio.values)


def test_gibbs_with_the_noise_component_equals_nuts():
    rng = np.random.default_rng(4)
    X = np.concatenate([_two_clusters(seed=4), rng.uniform(-6, 12, (15, 2))])
    V = 18.0 * 18.0
    common = dict(X=X, n_components=2, covariance_type="full", draws=1500, tune=700, chains=4, random_seed=5,
                  noise_hypervolume=V)
    a = _quiet(method="nuts", **common)
    b = _quiet(method="gibbs", thin=4, **common)
    assert "noise_count" in b["sample_stats"]
    for v in ("noise_weight", "weights"):
        pa, pb = a["posterior"][v], b["posterior"][v]
        se = np.sqrt(azs.mcse(pa.to_dataset(), sample_dims=("chain", "draw"))[v] ** 2
                     + azs.mcse(pb.to_dataset(), sample_dims=("chain", "draw"))[v] ** 2)
        z = np.abs((pa.mean(("chain", "draw")) - pb.mean(("chain", "draw"))) / se)
        assert float(z.max()) < 4.5, (v, z.values)


# ------------------------------------------------------------- reproducible
def test_same_seed_same_draws_whatever_the_cores_and_the_memory_layout():
    X = _two_clusters()
    common = dict(n_components=3, covariance_type="full", method="gibbs", draws=300, tune=200, chains=3,
                  random_seed=11, thin=2)
    a = _quiet(X=X, cores=1, **common)["posterior"]["means"].values
    b = _quiet(X=X, cores=2, **common)["posterior"]["means"].values
    c = _quiet(X=np.asfortranarray(X), cores=3, **common)["posterior"]["means"].values
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    d = _quiet(X=X, **{**common, "random_seed": 12})["posterior"]["means"].values
    assert not np.array_equal(a, d)


def test_the_progress_chunks_give_the_draws_of_one_call(monkeypatch):
    """Warm-up and kept sweeps run in chunks between progress updates; the chunk size does
    not change the draws (each chain's generator and state carry over)."""
    import importlib

    g = importlib.import_module("bayesgmm.inference._gibbs")  # the package's _gibbs is the function

    X = _two_clusters()
    common = dict(X=X, n_components=2, covariance_type="diag", method="gibbs", draws=120, tune=90, chains=2,
                  random_seed=2, thin=3)
    a = _quiet(**common)["posterior"]["means"].values
    monkeypatch.setattr(g, "_CHUNK", 7)
    b = _quiet(**common)["posterior"]["means"].values
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------ a posterior with two modes
def test_gibbs_visits_both_modes_of_an_overlapping_mixture():
    """Issue 14's case a (two of three components one sd apart, K=3): the posterior has a mode
    where one component is almost empty (smallest weight < 0.05; the Gibbs reference of
    ``benchmarks/results/hard_posteriors_gibbs_reference_2026-11-30.txt`` puts 0.877 of the
    mass there) and one where the overlapping pair splits (> 0.15). Every chain visits both,
    and the pooled fraction is within 0.08 of the reference."""
    rng = np.random.default_rng(0)
    m = np.array([(0.0, 0.0), (1.0, 0.0), (6.0, 0.0)])
    X = m[rng.integers(0, 3, size=1000)] + rng.standard_normal((1000, 2))
    tree = _quiet(X=X, n_components=3, covariance_type="full", method="gibbs", draws=2000, tune=1000, chains=2,
                  random_seed=0, thin=10)
    w = np.sort(tree["posterior"]["weights"].values, axis=-1)[..., 0]
    for c in range(2):
        assert (w[c] < 0.05).mean() > 0.5
        assert (w[c] > 0.15).mean() > 0.0
    assert abs((w < 0.05).mean() - 0.877) < 0.08


# ----------------------------------------------------- sparse weights, stats
def test_tiny_dirichlet_concentration_keeps_the_draws_finite():
    """alpha = 0.01 (the sparse method's): empty components' weights are drawn on the log
    scale, so the logits stay finite and the occupied count is recorded."""
    X = _two_clusters()
    tree = _quiet(X=X, n_components=5, covariance_type="full", method="gibbs", draws=300, tune=300, chains=2,
                  random_seed=1, priors={"weights_alpha": 0.01})
    post = tree["posterior"]
    assert np.all(np.isfinite(post["means"].values)) and np.all(np.isfinite(post["covariances"].values))
    assert np.all(post["weights"].values >= 0)
    occ = tree["sample_stats"]["occupied"].values
    assert occ.min() >= 1 and occ.max() <= 5
    assert np.median(occ) == 2  # two clusters, three surplus components emptied
    assert tree.attrs["method"] == "gibbs" and tree.attrs["thin"] == 1


def test_the_covariance_steps_adapt_to_the_target_acceptance():
    X = _two_clusters(scale=1e-8)
    tree = _quiet(X=X, n_components=2, covariance_type="full", method="gibbs", draws=500, tune=1500, chains=2,
                  random_seed=0)
    acc = np.asarray(tree.attrs["cov_acceptance"])
    assert np.all((acc > 0.3) & (acc < 0.6)), acc


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"thin": 0}, "thin must be >= 1"),
        ({"thin": 1.5}, "thin must be an int"),
        ({"n_cov_steps": 0}, "n_cov_steps must be >= 1"),
        ({"cores": 0}, "cores must be >= 1"),
        ({"n_temperatures": 4}, "method='gibbs' got unexpected keyword argument"),
    ],
)
def test_bad_gibbs_arguments_are_named(kwargs, match):
    X = _two_clusters()
    with pytest.raises((TypeError, ValueError), match=match):
        run_inference(X, 2, "full", method="gibbs", draws=10, tune=10, chains=1, progressbar=False, **kwargs)


def test_the_chain_reports_a_start_that_is_not_finite():
    X = _two_clusters()
    cd = CompiledDensity(MixtureDensity(X, 2, "full"))
    x = np.zeros(cd.ndim)
    x[-1] = 1e6  # exp(1e6): an infinite Cholesky diagonal
    rc = gibbs_chain(cd.buffer, x, np.full(X.shape[0], -1, dtype=np.int64), np.random.default_rng(0), 1, 0, 1, 1,
                     np.ones(3), 0, np.empty((0, cd.ndim)), np.empty((0, 4)), np.empty(3))
    assert rc == 1


def test_diagnostics_of_a_gibbs_fit_name_thin_and_print_no_step_size():
    import bayesgmm as bg

    X = _two_clusters()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = bg.BayesianGMM(2, random_state=0, draws=40, tune=40, chains=2, method="gibbs",
                           progressbar=False).fit(X)
    text = str(m.diagnostics_)
    assert "nan" not in text and "step size" not in text
    assert "chain 1:" in text
    ess = [str(w.message) for w in caught if "effective sample size" in str(w.message)]
    assert ess and all("`thin`" in t for t in ess)  # 80 draws: below the ESS floor
