"""Replica exchange (``method="tempering"``) and the batched tempered density it runs on."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bayesgmm._logdensity import MixtureDensity
from bayesgmm.covariance import COVARIANCE_TYPES
from bayesgmm.exceptions import TemperingWarning
from bayesgmm.inference import run_inference
from bayesgmm.inference._tempering import (
    _checked_starts,
    _initial_ladder,
    _ladder_from_rejections,
    _Relabeller,
)


# ----------------------------------------------------------- batched density
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("D", [1, 2])
def test_batch_density_equals_pointwise_tempered_density(covariance_type, D):
    rng = np.random.default_rng(D)
    X = np.concatenate([rng.normal(-2, 1, (30, D)), rng.normal(2, 1, (20, D))])
    dens = MixtureDensity(X, 3, covariance_type)
    xs = rng.normal(scale=0.5, size=(5, dens.ndim))
    scales = np.array([1.0, 0.5, 0.1, 0.0, 1.0])
    lp, g, ll = dens.logp_and_grad_batch(xs, scales)
    _, g_only, ll_only = dens.logp_and_grad_batch(xs, scales, with_logp=False)
    for r in range(5):
        lp_r, g_r = dens.logp_and_grad(xs[r], scale=scales[r])
        assert lp[r] == pytest.approx(lp_r, rel=1e-10, abs=1e-8)
        np.testing.assert_allclose(g[r], g_r, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(g_only[r], g_r, rtol=1e-8, atol=1e-8)
        # the untempered log-likelihood: logp(scale=1) - logp(scale=0)
        full, prior = dens.logp_and_grad(xs[r])[0], dens.logp_and_grad(xs[r], scale=0.0)[0]
        assert ll[r] == pytest.approx(full - prior, rel=1e-9, abs=1e-7)
        assert ll_only[r] == pytest.approx(ll[r], rel=1e-12)


def test_batch_density_centred_path_and_invalid_points(monkeypatch):
    """Far, narrow components take the accurate centred path, batched; a zero factor is -inf."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2)) * 1e6 + 1e9
    dens = MixtureDensity(X, 2, "full")
    # the second component: 1e7 of its sds from the data's mean
    x = dens.pack([0.5, 0.5], [[1e9, 1e9], [1e9 + 1e6, 1e9]], np.stack([np.eye(2) * 1e12, np.eye(2) * 1e-2]))
    calls = []
    original = MixtureDensity._batch_centred

    def spy(self, *a):
        calls.append(a[-1])
        return original(self, *a)

    monkeypatch.setattr(MixtureDensity, "_batch_centred", spy)
    bad = x.copy()
    bad[dens._i_cov][0] = -1e4  # exp(-1e4) = 0: a singular Cholesky factor
    xs = np.stack([x, x + 1e-3, bad])
    lp, g, ll = dens.logp_and_grad_batch(xs, [1.0, 0.3, 1.0])
    assert calls and calls[0] == 2  # the two valid points, on the centred path
    for r in range(2):
        lp_r, g_r = dens.logp_and_grad(xs[r], scale=[1.0, 0.3][r])
        assert lp[r] == pytest.approx(lp_r, rel=1e-10)
        np.testing.assert_allclose(g[r], g_r, rtol=1e-6, atol=1e-6 * np.abs(g_r).max())
    assert lp[2] == -np.inf and ll[2] == -np.inf and not g[2].any()


# ------------------------------------------------------------------- ladder
def test_ladder_equal_rejections_is_a_fixed_point_and_moves_towards_the_barrier():
    betas = np.array([1.0, 0.5, 0.25, 0.1, 0.0])
    new, barrier = _ladder_from_rejections(betas, [0.3, 0.3, 0.3, 0.3])
    np.testing.assert_allclose(new, betas)
    assert barrier == pytest.approx(1.2)
    # all rejection between 1 and 0.5: the temperatures crowd into that interval
    new, _ = _ladder_from_rejections(betas, [0.9, 0.001, 0.001, 0.001])
    assert new[0] == 1.0 and new[-1] == 0.0 and np.all(np.diff(new) < 0)
    assert new[3] > 0.5
    lad = _initial_ladder(6, 1000)
    assert lad[0] == 1.0 and lad[-1] == 0.0 and lad[-2] == pytest.approx(1e-3)


# ------------------------------------------------------------- the sampler
def _two_mode_problem():
    """1-D, two separated groups (6 at -4, 14 at +4), K=2, symmetric priors.

    The likelihood and the priors are invariant under swapping the two
    components, and the swap maps {mu_0 < mu_1} onto {mu_0 > mu_1}: the
    posterior has two modes (the labellings) of exactly equal mass, and the
    barrier between them is high enough that a sampler without tempering does
    not cross it.
    """
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(-4, 1, (6, 1)), rng.normal(4, 1, (14, 1))])
    init = {"weights": [0.3, 0.7], "means": [[-4.0], [4.0]], "covariances": [[[1.0]], [[1.0]]]}
    return X, init


def test_two_known_modes_found_in_the_right_proportions():
    X, init = _two_mode_problem()
    # plain swaps: the two labellings are the modes (aligned swaps keep one labelling on
    # purpose; see test_aligned_swaps_keep_one_labelling_and_the_same_posterior)
    kw = dict(init=init, method="tempering", draws=500, tune=200, chains=2, random_seed=0, progressbar=False,
              n_leapfrog=5, align_swaps=False)
    tree = run_inference(X, 2, "full", n_temperatures=5, **kw)
    mu = tree["posterior"]["means"].values[..., 0]
    first = mu[..., 0] < mu[..., 1]  # component 0 holds the small group
    per_chain = first.mean(axis=1)
    assert np.all((per_chain > 0.15) & (per_chain < 0.85)), per_chain  # every chain visits both modes
    # exact answer 0.5; ~45 round trips per run give a standard error of about 0.07
    assert first.mean() == pytest.approx(0.5, abs=0.15)
    assert sum(tree.attrs["round_trips"]) >= 20
    # the cold temperature alone (plain HMC, same settings) never leaves the start's mode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TemperingWarning)
        cold = run_inference(X, 2, "full", betas=[1.0], **{**kw, "draws": 150, "tune": 50})
    mu = cold["posterior"]["means"].values[..., 0]
    assert np.all(mu[..., 0] < mu[..., 1])


def _collapsed_start():
    """40 points around 0 and one at (6, 6), started from an EM-like fit whose first component
    has collapsed onto that point (weight 1/41, covariance 1e-6 I; as in SBC replicate 151)."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(40, 2)), [[6.0, 6.0]]])
    init = {"weights": [1 / 41, 40 / 41], "means": [[6.0, 6.0], X[:40].mean(axis=0)],
            "covariances": [1e-6 * np.eye(2), np.cov(X[:40].T)]}
    return X, init


def test_a_jittered_start_far_below_the_em_start_is_drawn_back():
    """At a collapsed component the log density is nearly linear in its log-Cholesky
    coordinates: the curvature-scaled jitter is ~95 units there and put the start (seed 1) at a
    log density of -8e47. The warm-up adapted to that start and the cold chain never left it:
    every draw at -8e47, with a correlation of -1 in the collapsed component. The start's
    jitter is now halved until the start is within ndim nats of the EM start's log density."""
    X, init = _collapsed_start()
    dens = MixtureDensity(X, 2, "full")
    lp0 = dens.logp(dens.pack(init["weights"], init["means"], init["covariances"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TemperingWarning)
        tree = run_inference(X, 2, "full", init=init, method="tempering", draws=30, tune=30, chains=1,
                             random_seed=1, progressbar=False, n_temperatures=3, n_leapfrog=4)
    lp = tree["sample_stats"]["lp"].values
    assert lp.min() > lp0 - 50.0, (lp.min(), lp0)  # before the fix: -7.7e47 at every draw
    assert tree.attrs["start_halvings"][0] > 0


def test_checked_starts_keep_an_ordinary_jitter_and_halve_a_far_one():
    rng = np.random.default_rng(0)
    dens = MixtureDensity(rng.normal(size=(50, 2)), 2, "full")
    x0 = dens.pack([0.5, 0.5], [[-0.5, 0.0], [0.5, 0.0]], np.stack([np.eye(2)] * 2))
    betas = np.array([1.0, 0.3, 0.0])
    offsets = 0.01 * rng.normal(size=(3, dens.ndim))
    offsets[1, dens._i_cov.start] = 60.0  # a log sd 60 units out: log density about -exp(120)
    offsets[2, dens._i_cov.start] = 1e4  # exp(1e4) overflows: -inf until halved to below ~700
    xs, lp, _, _, halvings = _checked_starts(dens, x0, offsets, betas, jitter=0.1)
    np.testing.assert_array_equal(xs[:3], np.repeat(x0[None] + offsets[:1], 3, axis=0))  # untouched
    assert halvings[0] == 0 and 0 < halvings[1] < 30
    lp0 = dens.logp_and_grad_batch(np.repeat(x0[None], 3, axis=0), betas)[0]
    assert np.all(lp[3:] >= np.tile(lp0, 2) - dens.ndim)
    # the far coordinate's offset, halved; the other coordinates' offsets with it
    assert xs[3, dens._i_cov.start] - x0[dens._i_cov.start] == pytest.approx(60.0 / 2 ** halvings[1])
    assert halvings[2] > halvings[1]


def test_result_structure_swaps_and_reproducibility():
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal([-3, 0], 1, (40, 2)), rng.normal([3, 0], 1, (40, 2))])
    kw = dict(method="tempering", draws=30, tune=30, chains=2, progressbar=False, n_temperatures=4, n_leapfrog=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TemperingWarning)
        tree = run_inference(X, 2, "full", random_seed=5, **kw)
        again = run_inference(X, 2, "full", random_seed=5, **kw)
        other = run_inference(X, 2, "full", random_seed=6, **kw)
    post = tree["posterior"]
    assert set(post.data_vars) == {"weights", "means", "covariances", "sds", "correlations"}
    assert post["weights"].dims == ("chain", "draw", "component")
    assert post["means"].shape == (2, 30, 2, 2)
    assert post["covariances"].dims == ("chain", "draw", "component", "feature", "feature_bis")
    stats = tree["sample_stats"]
    for name in ("lp", "acceptance_rate", "step_size", "n_steps", "diverging", "swap_accepted"):
        assert stats[name].dims == ("chain", "draw")
    assert stats["diverging"].dtype == bool
    a = tree.attrs
    assert a["method"] == "tempering" and a["nuts_sampler"] == ""
    assert a["n_temperatures"] == 4 and len(a["betas"]) == 4 and len(a["swap_acceptance"]) == 3
    assert a["betas"][0] == 1.0 and a["betas"][-1] == 0.0 and np.all(np.diff(a["betas"]) < 0)
    assert all(0.0 < s <= 1.0 for s in a["swap_acceptance"])  # swaps happen
    assert len(a["step_sizes"]) == 4 and all(s > 0 for s in a["step_sizes"])
    assert len(a["swaps_accepted"]) == 3 and sum(a["swaps_accepted"]) > 0
    assert stats["swap_accepted"].values.sum() == a["swaps_accepted"][0]  # the coldest pair's swaps
    assert a["n_steps_total"] > 0 and a["sampling_time"] > 0
    np.testing.assert_array_equal(post["means"].values, again["posterior"]["means"].values)
    assert not np.array_equal(post["means"].values, other["posterior"]["means"].values)


def test_bad_arguments_name_the_argument():
    X = np.random.default_rng(0).normal(size=(20, 1))
    kw = dict(method="tempering", draws=5, tune=5, chains=1, random_seed=0, progressbar=False)
    with pytest.raises(TypeError, match="n_temps"):
        run_inference(X, 2, "spherical", n_temps=3, **kw)
    with pytest.raises(ValueError, match="betas"):
        run_inference(X, 2, "spherical", betas=[0.5, 0.1], **kw)
    with pytest.raises(ValueError, match="swap_scheme"):
        run_inference(X, 2, "spherical", swap_scheme="random", **kw)
    with pytest.raises(ValueError, match="n_temperatures"):
        run_inference(X, 2, "spherical", n_temperatures=0, **kw)


def test_no_round_trip_warns():
    X = np.random.default_rng(0).normal(size=(30, 1))
    with pytest.warns(TemperingWarning, match="n_temperatures"):
        run_inference(X, 2, "spherical", method="tempering", draws=3, tune=3, chains=1, random_seed=0,
                      progressbar=False, n_temperatures=6)


def test_bayesian_fit_with_tempering_relabels_and_checks_diagnostics():
    import bayesgmm as bg

    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal([-4, 0], 1, (40, 2)), rng.normal([4, 0], 1, (40, 2))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = bg.BayesianGMM(2, covariance_type="diag", random_state=0).fit(
            X, method="tempering", draws=40, tune=40, chains=2, progressbar=False, n_temperatures=4, n_leapfrog=4,
            n_init=1, log_likelihood=False,
        )
    assert m.diagnostics_.rhat is not None  # treated as MCMC, not VI
    means = m.idata_["posterior"]["means"].mean(("chain", "draw")).values
    em = m.em_.means_
    np.testing.assert_allclose(means, em, atol=0.5)  # relabelled against EM: no label mixing
    mem = m.membership()
    assert mem["probability"].sizes["obs"] == 80
    truth = np.repeat([0, 1], 40)
    em_label = m.em_.predict(X)
    assert (mem["assignment"].values == em_label).mean() > 0.95
    assert len(np.unique(em_label[truth == 0])) == 1


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_relabeller_permutes_components_exactly(covariance_type):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    dens = MixtureDensity(X, 3, covariance_type)
    r = _Relabeller.for_density(dens)
    x = 0.5 * rng.normal(size=dens.ndim)
    perm = np.array([2, 0, 1])
    y = r.permute(x, perm)
    u, v = dens.unpack(x), dens.unpack(y)
    for name in ("weights", "means", "covariances"):
        np.testing.assert_allclose(v[name], u[name][perm], rtol=1e-10, atol=1e-12)
    assert dens.logp(y) == pytest.approx(dens.logp(x), rel=1e-12)  # a symmetric target
    np.testing.assert_allclose(r.permute(y, np.argsort(perm)), x, rtol=1e-12, atol=1e-14)
    # the alignment is the inverse permutation, and symmetric (what makes the swap an involution)
    np.testing.assert_array_equal(r.align(x, y), np.argsort(perm))
    np.testing.assert_array_equal(r.align(y, x), perm)
    # unequal Dirichlet concentrations: not label-symmetric, so no aligned swaps
    from bayesgmm.priors import Priors

    assert _Relabeller.for_density(MixtureDensity(X, 3, covariance_type, Priors(weights_alpha=[1, 2, 3]))) is None


@pytest.mark.slow
def test_aligned_swaps_give_the_same_label_free_posterior():
    """Aligned swaps are exact: the label-free posterior (the sorted means) equals the plain
    swaps' within Monte Carlo error. (The labelling can still drift through states where one
    component covers both groups, so the cold copy is not confined to one labelling.)"""
    X, init = _two_mode_problem()
    kw = dict(init=init, method="tempering", draws=400, tune=150, chains=2, random_seed=0, progressbar=False,
              n_leapfrog=5, n_temperatures=5)
    aligned = run_inference(X, 2, "full", **kw)
    plain = run_inference(X, 2, "full", **{**kw, "align_swaps": False})
    assert aligned.attrs["aligned_swaps"] > 0 and plain.attrs["aligned_swaps"] == 0
    mu_a = np.sort(aligned["posterior"]["means"].values[..., 0], axis=-1).reshape(-1, 2)
    mu_p = np.sort(plain["posterior"]["means"].values[..., 0], axis=-1).reshape(-1, 2)
    # the larger group's mean (posterior sd ~0.33): tight
    assert abs(mu_a[:, 1].mean() - mu_p[:, 1].mean()) < 0.1, (mu_a[:, 1].mean(), mu_p[:, 1].mean())
    assert mu_a[:, 1].std() == pytest.approx(mu_p[:, 1].std(), rel=0.3)
    # the smaller group's: sd ~2 (states where one component covers both groups), strongly
    # autocorrelated: loose (measured 0.44 and 0.02 apart on seeds 0 and 1)
    assert abs(mu_a[:, 0].mean() - mu_p[:, 0].mean()) < 0.6, (mu_a[:, 0].mean(), mu_p[:, 0].mean())
    assert mu_a[:, 0].std() == pytest.approx(mu_p[:, 0].std(), rel=0.3)
