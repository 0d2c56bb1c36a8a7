"""Stuck chains are named as stuck, not reported as astronomically large R-hats (issue 14)."""

import warnings

import numpy as np
import pytest
import xarray as xr

from bayesgmm import _datatree as dt
from bayesgmm import diagnostics as dg
from bayesgmm.datasets import make_mixture
from bayesgmm.em import GaussianMixture
from bayesgmm.exceptions import ChainModeWarning, RhatWarning, SamplingWarning, StuckSamplerWarning

K, D, C, S = 2, 2, 4, 300


@pytest.fixture(scope="module")
def em_and_X():
    X = make_mixture(200, K, D, random_state=0).X
    return GaussianMixture(K, random_state=0).fit(X), X


def _tree(em_and_X, *, frozen=(), tiny=(), depth=None, step=None, starts=None, seed=0):
    """iid draws at about the posterior scale around the EM fit; chains in ``frozen`` repeat
    one draw far away (a different mode each), chains in ``tiny`` move 1e-12 posterior sds."""
    em, X = em_and_X
    N = X.shape[0]
    rng = np.random.default_rng(seed)
    sd_m = np.sqrt(np.diagonal(em.covariances_, axis1=1, axis2=2) / (N * em.weights_[:, None]))
    m = em.means_ + sd_m * rng.normal(size=(C, S, K, D))
    w = em.weights_ + np.sqrt(em.weights_ * (1 - em.weights_) / N) * rng.normal(size=(C, S, K))
    for i, c in enumerate(frozen):
        m[c] = em.means_ + 40 * (i + 1) * sd_m  # far away: R-hat would be huge
        w[c] = em.weights_
    for c in tiny:
        m[c] = em.means_ + 3 * sd_m + 1e-12 * sd_m * rng.normal(size=(S, K, D))
    w = np.abs(w)
    w /= w.sum(-1, keepdims=True)
    cov = np.broadcast_to(em.covariances_, (C, S, K, D, D)).copy()
    post = dt.parameter_dataset(w, m, cov, feature_names=["a", "b"], leading=("chain", "draw"))
    coords = {"chain": np.arange(C), "draw": np.arange(S)}
    stats = {"diverging": (("chain", "draw"), np.zeros((C, S), bool))}
    if step is not None:
        stats["step_size"] = (("chain", "draw"), np.broadcast_to(np.asarray(step, float)[:, None], (C, S)))
    if depth is not None:
        stats["maxdepth_reached"] = (("chain", "draw"), rng.random((C, S)) < np.asarray(depth)[:, None])
    config = {} if starts is None else {"inference": {"chain_start_optimum": list(starts)}}
    return dt.build_tree(
        posterior=post, sample_stats=xr.Dataset(stats, coords=coords),
        permutation=np.broadcast_to(np.arange(K), (C, S, K)), em=em, X=X, feature_names=["a", "b"],
        covariance_type="full", method="nuts", model_config={}, sampler_config=config,
    )


def _warnings_of(tree):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        report = dg.warn_diagnostics(tree)
    return report, [w for w in rec if issubclass(w.category, SamplingWarning)]


def test_healthy_chains_are_not_stuck(em_and_X):
    report, caught = _warnings_of(_tree(em_and_X, step=[0.5] * C, depth=[0.0] * C, starts=[0, 1, 0, 2]))
    assert caught == [] and report.ok and report.stuck_chains == ()
    ch = report.chains
    assert not ch["stuck"].values.any()
    assert np.all((ch["movement"].values > 0.5) & (ch["movement"].values < 2))  # ~1 posterior sd
    assert ch["start_optimum"].values.tolist() == [0, 1, 0, 2]
    assert ch["mode"].values.tolist() == [0, 0, 0, 0]
    assert "chain 1: started at EM optimum 1" in str(report)


def test_frozen_chains_are_stuck_and_rhat_is_not_astronomical(em_and_X):
    tree = _tree(em_and_X, frozen=(0, 2))
    report, caught = _warnings_of(tree)
    kinds = [w.category for w in caught]
    assert kinds == [StuckSamplerWarning]  # no R-hat, no "chains N sds apart"
    msg = str(caught[0].message)
    assert "chain 0" in msg and "chain 2" in msg and "chain 1 " not in msg
    assert "100% of draws repeat" in msg and "n_components" in msg and "weights_alpha" in msg
    assert "Collapsed" not in msg  # the components kept the EM fit's covariances
    assert report.stuck_chains == (0, 2)
    assert report.max_rhat < 1.01  # computed on chains 1 and 3, which moved
    assert report.chains["mode"].values.tolist() == [-1, 0, -1, 0]
    # without the stuck detection these chains read as R-hat in the tens and separate modes
    full = dg.chain_table(dt.get_posterior(tree), n_obs=200)
    assert full["stuck"].values.tolist() == [True, False, True, False]


def test_collapsed_step_size_is_stuck(em_and_X):
    """Draws that move 1e-12 posterior sds with a step size of 1e-15, as on iris (issue 14)."""
    report, caught = _warnings_of(_tree(em_and_X, tiny=(1,), step=[0.6, 1e-15, 0.5, 0.7], depth=[0, 1, 0, 0]))
    assert [w.category for w in caught] == [StuckSamplerWarning]
    msg = str(caught[0].message)
    assert "chain 1 (step size 1e-15" in msg and "maximum tree depth on 100% of draws" in msg
    assert report.chains["movement"].values[1] < 1e-9
    assert report.stuck_chains == (1,)


def test_step_size_alone_and_depth_with_little_movement(em_and_X):
    # collapsed step size, draws as if moving: stuck on the step size alone
    tree = _tree(em_and_X, step=[0.5, 0.5, 1e-9, 0.5])
    assert dg.check_diagnostics(tree).stuck_chains == (2,)
    # maximum depth on most draws while moving ~1 posterior sd: slow, not stuck
    tree = _tree(em_and_X, depth=[0.9, 0.0, 0.0, 0.0])
    assert dg.check_diagnostics(tree).stuck_chains == ()


def test_all_chains_stuck(em_and_X):
    report, caught = _warnings_of(_tree(em_and_X, frozen=(0, 1, 2, 3)))
    assert [w.category for w in caught] == [StuckSamplerWarning]
    assert "No chain moved" in str(caught[0].message)
    assert not any(issubclass(w.category, (RhatWarning, ChainModeWarning)) for w in caught)
    assert report.to_dict()["stuck_chains"] == [0, 1, 2, 3]


def test_stuck_movement_is_scale_free(em_and_X):
    """Movement is measured in posterior sds: the same draws scaled by 1e-9 read the same."""
    tree = _tree(em_and_X, frozen=(3,))
    post = dt.get_posterior(tree)
    scaled = post.assign(means=post["means"] * 1e-9, sds=post["sds"] * 1e-9)
    a = dg.chain_table(post, n_obs=200)["movement"].values
    b = dg.chain_table(scaled, n_obs=200)["movement"].values
    np.testing.assert_allclose(a[:3], b[:3], rtol=1e-6)
    assert a[3] < 1e-9 and b[3] < 1e-9  # rounding only
    assert dg.chain_table(scaled, n_obs=200)["stuck"].values.tolist() == [False, False, False, True]


@pytest.mark.slow
def test_real_run_stuck_on_duplicated_rows():
    """A real nutpie run that gets stuck (not constructed draws): 20 identical rows make one
    component's likelihood unbounded as its sd goes to 0; NUTS follows it into the
    singularity (step size ~1e-3, draws that no longer move, sd ~1e-14 of the data's).
    Stuck on every seed tried (0-3); about 3 s."""
    import re

    from bayesgmm import BayesianGMM

    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(size=(40, 1)), np.full((20, 1), 3.0)])
    model = BayesianGMM(2, covariance_type="diag", draws=50, tune=100, chains=2, n_init=1,
                        progressbar=False, random_state=1)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        model.fit(X)
    caught = [w for w in rec if issubclass(w.category, SamplingWarning)]
    stuck = [w for w in caught if w.category is StuckSamplerWarning]
    assert len(stuck) == 1
    # no astronomically large R-hat or "chains N sds apart" about the stuck chains
    assert not any(issubclass(w.category, (RhatWarning, ChainModeWarning)) for w in caught)
    msg = str(stuck[0].message)
    report = dg.check_diagnostics(model.idata_)
    assert report.stuck_chains == (0, 1)
    assert "chain 0 (step size" in msg and "chain 1 (step size" in msg
    assert np.all(report.chains["step_size"].values < 0.01)  # healthy: 0.05-1
    assert np.all(report.chains["frozen_fraction"].values > 0.5)
    # the cause is named: the component on the duplicated rows (EM's component at 3.0)
    k_dup = int(np.argmin(np.abs(model.em_.means_[:, 0] - 3.0)))
    assert f"Collapsed: component {k_dup} (sd " in msg and "20 observation(s) at its mean" in msg
    sd_dup = dg._collapsed_components(dt.get_posterior(model.idata_), model.idata_,
                                      np.array([True, True]))[k_dup][0]
    assert sd_dup < 1e-6
    # every parameter the advice names is one the user has
    named = set(re.findall(r"`([a-z_]+)`", msg))
    assert named and named <= set(model.get_params()), named
