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

    def compiled(x, beta=1.0):
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
                                    np.empty(1), dL1, np.empty(pf), beta, np.zeros(D))
        return total

    assert cd.ndim == dens.ndim
    assert compiled(x2) - compiled(x1) == pytest.approx(independent(x2) - independent(x1), rel=1e-9, abs=1e-8)
    # tempered (replica exchange): the likelihood, not the prior, is raised to the power beta
    p1, p2 = dens.unpack(x1), dens.unpack(x2)
    lik = [dens.pointwise_log_likelihood(p["weights"], p["means"], p["covariances"]).sum() for p in (p1, p2)]
    prior_diff = (dens.logp(x2) - lik[1]) - (dens.logp(x1) - lik[0])
    full_diff = independent(x2) - independent(x1)
    assert compiled(x2, 0.3) - compiled(x1, 0.3) == pytest.approx(prior_diff + 0.3 * (full_diff - prior_diff),
                                                                   rel=1e-9, abs=1e-8)


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
        ({"n_temperatures": 0}, "n_temperatures must be >= 1"),
        ({"adapt_ladder": 1}, "adapt_ladder must be True or False"),
        ({"swap_scheme": "deo"}, "method='gibbs' got unexpected keyword argument"),
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
    rc = gibbs_chain(cd.buffer, x[None, :], np.full((1, X.shape[0]), -1, dtype=np.int64), np.random.default_rng(0),
                     1, 0, 1, 1, np.ones((1, 3)), 0, np.empty((0, cd.ndim)), np.empty((0, 4)), np.empty(3),
                     np.ones(1), np.zeros(1, dtype=np.int64), np.zeros((0, 2)), np.zeros(2, dtype=np.int64),
                     np.zeros(2), np.empty((1, 0, 2)))
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


# ------------------------------------------- replica exchange (n_temperatures > 1)
def _run_chain(X, K, covariance_type, betas, n_keep, seed=0, priors=None, thin=1, res=None):
    """Drive the compiled chain directly: all replicas start at the prior's centre."""
    dens = MixtureDensity(X, K, covariance_type, priors=priors)
    cd = CompiledDensity(dens)
    R = len(betas)
    x = np.zeros((R, cd.ndim))
    o_cov = K - 1 + K * X.shape[1]
    x[:, K - 1 : o_cov] = np.tile(dens.priors.mean_loc, K)
    ncov = cd.ndim - o_cov
    draws = np.empty((n_keep, cd.ndim))
    stats = np.empty((n_keep, 4))
    swaps = np.zeros((R - 1, 2))
    trips = np.full(R + 1, -1, dtype=np.int64)
    trips[0] = trips[R] = 0
    rc = gibbs_chain(cd.buffer, x, np.full((R, X.shape[0]), -1, dtype=np.int64), np.random.default_rng(seed), 500,
                     n_keep, thin, 2, np.full((R, ncov), 0.5), 0, draws, stats, np.empty(ncov),
                     np.asarray(betas, dtype=float), np.arange(R, dtype=np.int64), swaps, trips,
                     np.zeros(X.shape[1]) if res is None else np.asarray(res, dtype=float),
                     np.repeat(X[None], R, axis=0) if res is not None else np.empty((R, 0, X.shape[1])))
    assert rc == 0
    return dens, draws, stats, swaps, trips


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_the_replica_at_beta_zero_samples_the_prior(covariance_type):
    """With the likelihood raised to the power 0 every conditional is the prior's: means
    N(mean_loc, mean_sd^2), weights Dirichlet(alpha) (mean 1/K), sds half-normal
    (mean sd_sigma sqrt(2/pi)); the data (far from the prior's centre) must not show."""
    X = _two_clusters(scale=3.0, offset=40.0)
    K = 3
    dens, draws, _, _, _ = _run_chain(X, K, covariance_type, [0.0], 6000, seed=3, thin=2)
    us = [dens.unpack(d) for d in draws]
    p = {v: np.stack([u[v] for u in us]) for v in ("weights", "means", "covariances")}
    pr = dens.priors
    means = p["means"].reshape(-1, X.shape[1])
    np.testing.assert_allclose(means.mean(0), pr.mean_loc, atol=0.12 * pr.mean_sd.max())
    np.testing.assert_allclose(means.std(0), pr.mean_sd, rtol=0.08)
    np.testing.assert_allclose(p["weights"].mean(0), np.full(K, 1 / K), atol=0.03)
    sds = np.sqrt(np.diagonal(p["covariances"], axis1=-2, axis2=-1)).reshape(-1, X.shape[1])
    np.testing.assert_allclose(sds.mean(0), pr.sd_sigma * np.sqrt(2 / np.pi), rtol=0.08)


def test_swaps_follow_the_even_odd_scheme_and_count_round_trips():
    X = _two_clusters()
    _, _, _, swaps, trips = _run_chain(X, 2, "full", [1.0, 0.9, 0.8, 0.7], 2000)
    # 2500 sweeps: pairs (0, 1) and (2, 3) on even sweeps, (1, 2) on odd ones
    np.testing.assert_array_equal(swaps[:, 1], [1250, 1250, 1250])
    assert np.all((swaps[:, 0] >= 0) & (swaps[:, 0] < swaps[:, 1]))
    assert trips[-1] > 0 and set(trips[:-1]) <= {-1, 0, 1}


def test_tempered_gibbs_posterior_equals_nuts():
    """The kept draws are the beta = 1 replica's: the posterior, as NUTS's (within 4.5 MCSE)."""
    X = _two_clusters(scale=1e-6, offset=3e-3)
    common = dict(X=X, n_components=2, covariance_type="full", draws=1500, tune=700, chains=4, random_seed=3)
    a = _quiet(method="nuts", **common)["posterior"].to_dataset()
    tree = _quiet(method="gibbs", thin=2, n_temperatures=4, **common)
    b = tree["posterior"].to_dataset()
    for v in ("weights", "means", "sds"):
        se = np.sqrt(azs.mcse(a[v], sample_dims=("chain", "draw")) ** 2
                     + azs.mcse(b[v], sample_dims=("chain", "draw")) ** 2)
        z = np.abs((a[v].mean(("chain", "draw")) - b[v].mean(("chain", "draw"))) / se)
        assert float(z.max()) < 4.5, (v, z.values)
    at = tree.attrs
    assert at["n_temperatures"] == 4 and len(at["betas"]) == 4 and len(at["swap_acceptance"]) == 3
    assert at["betas"][0] == 1.0 and at["betas"][-1] == 0.0 and np.all(np.diff(at["betas"]) < 0)
    assert len(at["ladders"]) == 5  # the initial ladder and one per checkpoint of the warm-up
    assert len(at["round_trips"]) == 4 and at["sweeps_total"] == 4 * 4 * (700 + 1500 * 2)


def test_tempered_draws_do_not_depend_on_cores_or_chunks(monkeypatch):
    import importlib

    g = importlib.import_module("bayesgmm.inference._gibbs")
    X = _two_clusters()
    common = dict(X=X, n_components=3, covariance_type="full", method="gibbs", draws=60, tune=120, chains=2,
                  random_seed=4, thin=2, n_temperatures=3)
    a = _quiet(cores=1, **common)
    b = _quiet(cores=2, **common)
    monkeypatch.setattr(g, "_CHUNK", 7)
    c = _quiet(cores=2, **common)
    for t in (b, c):
        np.testing.assert_array_equal(a["posterior"]["means"].values, t["posterior"]["means"].values)
        assert a.attrs["betas"] == t.attrs["betas"]


# ------------------------------------------------ rounded data (resolution=)
def _brute_force_rounded_1d(x, delta, mean_loc, mean_sd, sd_sigma):
    """Posterior means of mu and sd of one normal observed rounded to ``delta`` (each
    value's likelihood the normal's probability of its rounding interval), on a grid."""
    from scipy.special import ndtr

    mu = np.linspace(x.mean() - 1.5, x.mean() + 1.5, 601)
    sd = np.linspace(0.02, 3.0, 600)
    M, S = np.meshgrid(mu, sd, indexing="ij")
    lp = -0.5 * ((M - mean_loc) / mean_sd) ** 2 - 0.5 * (S / sd_sigma) ** 2
    vals, counts = np.unique(x, return_counts=True)
    for v, c in zip(vals, counts):
        b, a = (v + delta / 2 - M) / S, (v - delta / 2 - M) / S
        lp += c * np.log(np.maximum(ndtr(b) - ndtr(a), 1e-300))
    p = np.exp(lp - lp.max())
    p /= p.sum()
    return float((p * M).sum()), float((p * S).sum())


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_rounded_data_posterior_equals_brute_force(covariance_type):
    """Values rounded to 1 (sd 0.6: four distinct values, ties everywhere). With
    ``resolution=1`` the posterior is that of the rounding model: for one component the
    features are independent under ``diag`` (and ``full`` with D = 1), so each feature's
    posterior of mean and sd is a 2-d integral, done on a grid; Gibbs's posterior means are
    within 4.5 Monte Carlo standard errors of it."""
    rng = np.random.default_rng(7)
    D = 1 if covariance_type == "full" else 2
    X = np.round(rng.normal([0.3, 5.0][:D], [0.6, 1.1][:D], (60, D)))
    tree = _quiet(X=X, n_components=1, covariance_type=covariance_type, method="gibbs", draws=3000, tune=500,
                  chains=2, random_seed=1, thin=2, resolution=1.0)
    post = tree["posterior"].to_dataset()
    dens = MixtureDensity(X, 1, covariance_type)
    pr = dens.priors
    se = azs.mcse(post[["means", "sds"]], sample_dims=("chain", "draw"))
    for d in range(D):
        m_ref, s_ref = _brute_force_rounded_1d(X[:, d], 1.0, pr.mean_loc[d], pr.mean_sd[d], pr.sd_sigma[d])
        m = post["means"].isel(component=0, feature=d).mean().item()
        s = post["sds"].isel(component=0, feature=d).mean().item()
        assert abs(m - m_ref) < 4.5 * se["means"].isel(component=0, feature=d).item(), (d, m, m_ref)
        assert abs(s - s_ref) < 4.5 * se["sds"].isel(component=0, feature=d).item(), (d, s, s_ref)
    assert tree.attrs["resolution"] == [1.0] * D


@pytest.mark.parametrize(
    ("resolution", "match"),
    [([0.1, 0.1, 0.1], "resolution must be one finite number >= 0 or 2 of them"),
     (-1.0, "resolution must be one finite number >= 0"),
     ([np.nan, 1.0], "resolution must be one finite number >= 0"),
     ("fine", "resolution must be")],
)
def test_bad_resolution_is_named(resolution, match):
    with pytest.raises((TypeError, ValueError), match=match):
        run_inference(_two_clusters(), 2, "full", method="gibbs", draws=10, tune=10, chains=1, progressbar=False,
                      resolution=resolution)


def test_resolution_zero_gives_the_unrounded_draws():
    common = dict(X=_two_clusters(), n_components=2, covariance_type="full", method="gibbs", draws=50, tune=50,
                  chains=1, random_seed=0)
    a = _quiet(**common)["posterior"]["means"].values
    b = _quiet(resolution=0.0, **common)["posterior"]["means"].values
    np.testing.assert_array_equal(a, b)


def test_tied_values_give_a_collapse_warning_not_a_crash_and_resolution_none():
    """A tight cluster rounded onto a few grid points: without ``resolution`` the posterior
    is improper and a component shrinks onto the tied values until the sampler's floor
    (the draws stay finite and positive definite, and the diagnostics name the collapse);
    modelled as rounded, nothing collapses."""
    import bayesgmm as bg
    from bayesgmm.exceptions import CollapsedComponentWarning

    rng = np.random.default_rng(0)
    X = np.round(np.concatenate([rng.normal([0.5, 1.5], [0.02, 0.1], (30, 2)),
                                 rng.normal([1, 0], [1.35, 0.38], (50, 2))]) / 0.5) * 0.5
    common = dict(method="gibbs", draws=300, tune=300, chains=2, thin=5, progressbar=False)
    for resolution, collapses in ((None, True), (0.5, False)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m = bg.BayesianGMM(2, random_state=0).fit(X, resolution=resolution, **common)
        post = m.idata_.posterior
        assert np.isfinite(post["means"].values).all()
        assert np.all(np.linalg.eigvalsh(post["covariances"].values) > 0)
        got = [w for w in caught if issubclass(w.category, CollapsedComponentWarning)]
        assert bool(got) is collapses, [str(w.message) for w in caught]
        if collapses:
            assert "resolution=" in str(got[0].message) and "improper" in str(got[0].message)
        assert m.membership() is not None


@pytest.mark.parametrize(
    ("a", "b"),
    [(-3, 3), (-0.1, 0.2), (0.5, 0.6), (2, 10), (5, 5.01), (8, 9), (-9, -8), (-1, 1.2), (0.2, 3), (-40, -39.5),
     (30, 1e300)],
)
def test_truncated_normal_draws_follow_scipy(a, b):
    """The latent values' sampler: every proposal kind (normal, uniform, exponential tail,
    mirrored) against scipy's truncated normal (KS test; fixed seed)."""
    import numba
    from scipy import stats

    from bayesgmm.inference._gibbs import _truncated_standard_normal

    @numba.njit
    def many(rng, a, b, n):
        out = np.empty(n)
        for i in range(n):
            out[i] = _truncated_standard_normal(rng, a, b)
        return out

    x = many(np.random.default_rng(0), float(a), float(b), 20000)
    assert x.min() >= a and x.max() <= b
    assert stats.kstest(x, stats.truncnorm(a, b).cdf).pvalue > 1e-3
