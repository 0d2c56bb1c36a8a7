"""Tests of the sampling diagnostics on trees with known pathologies."""

import re
import warnings

import numpy as np
import pytest
import xarray as xr

from bayesgmm import _datatree as dt
from bayesgmm import diagnostics as dg
from bayesgmm.datasets import make_mixture
from bayesgmm.em import GaussianMixture

K, D = 2, 2


@pytest.fixture(scope="module")
def em_and_X():
    X = make_mixture(80, K, D, random_state=0).X
    return GaussianMixture(K, random_state=0).fit(X), X


def _caught(fn):
    """Run fn, return the list of warnings it issued."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fn()
    return rec


def _tree(em_and_X, *, C=4, S=400, rho=0.0, shift=None, diverging=0, method="nuts", seed=0,
          loss=None):
    """Draws around the EM fit: AR(1) with coefficient ``rho`` per chain; ``shift`` adds
    a per-chain offset to means[component=1]; ``diverging`` marks that many draws."""
    em, X = em_and_X
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(C, S, K, D))
    if rho:
        ar = np.empty_like(noise)
        ar[:, 0] = noise[:, 0]
        for s in range(1, S):
            ar[:, s] = rho * ar[:, s - 1] + np.sqrt(1 - rho**2) * noise[:, s]
        noise = ar
    m = em.means_ + 0.05 * noise
    if shift is not None:
        m[:, :, 1, :] += np.asarray(shift, dtype=float)[:, None, None]
    w = np.abs(em.weights_ + 0.01 * rng.normal(size=(C, S, K)))
    w /= w.sum(-1, keepdims=True)
    c = np.broadcast_to(em.covariances_, (C, S, K, D, D)) * np.exp(
        0.05 * rng.normal(size=(C, S, K, 1, 1)))
    post = dt.parameter_dataset(w, m, c, feature_names=["a", "b"], leading=("chain", "draw"))
    div = np.zeros((C, S), bool)
    div.flat[rng.choice(C * S, diverging, replace=False)] = True
    stats = xr.Dataset({"diverging": (("chain", "draw"), div)},
                       coords={"chain": np.arange(C), "draw": np.arange(S)})
    if loss is not None:
        stats = xr.Dataset({"loss": ("vi_iteration", loss)})
    return dt.build_tree(
        posterior=post, sample_stats=stats, permutation=np.broadcast_to(np.arange(K), (C, S, K)),
        em=em, X=X, feature_names=["a", "b"], covariance_type="full", method=method,
        model_config={}, sampler_config={},
    )


def test_good_draws_no_problem(em_and_X):
    tree = _tree(em_and_X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = dg.warn_diagnostics(tree)
    assert report.ok and report.problems == ()
    assert report.max_rhat < 1.01
    assert report.min_ess_bulk > 1000  # iid draws: ESS close to 4 x 400
    assert report.total_divergent == 0
    assert report.chain_modes is not None and not report.chain_modes.multimodal
    # the constant diagonal correlations are excluded, the off-diagonal ones are checked
    r = report.rhat["correlations"].values
    assert np.isnan(r[:, 0, 0]).all() and np.isnan(r[:, 1, 0]).all() and np.isfinite(r[:, 0, 1]).all()
    assert "No problems" in str(report)
    assert report.to_dict()["ok"] is True


def test_rhat_matches_textbook_split_rhat_on_gaussian_draws(em_and_X):
    """Rank-normalised R-hat of a shifted chain ~ classic split R-hat, and is flagged."""
    tree = _tree(em_and_X, shift=[0.0, 0.0, 0.0, 0.05])
    report = dg.check_diagnostics(tree)
    x = dt.get_posterior(tree)["means"].values[:, :, 1, 0]  # (C, S)
    halves = np.concatenate([x[:, :200], x[:, 200:]], axis=0)
    n = halves.shape[1]
    W = halves.var(axis=1, ddof=1).mean()
    B = n * halves.mean(axis=1).var(ddof=1)
    classic = np.sqrt(((n - 1) / n * W + B / n) / W)
    got = float(report.rhat["means"].sel(component=1, feature="a"))
    assert got == pytest.approx(classic, rel=0.02)
    assert got > 1.01
    kinds = [p.kind for p in report.problems]
    assert "rhat" in kinds
    msg = next(p.message for p in report.problems if p.kind == "rhat")
    assert "means[component=1, feature=" in msg and "tune" in msg


def test_convergence_warning_names_variable_and_advice(em_and_X):
    tree = _tree(em_and_X, shift=[0.0, 0.0, 0.0, 0.08])
    rec = _caught(lambda: dg.warn_diagnostics(tree, check_modes=False))
    conv = [w for w in rec if w.category is dg.ConvergenceWarning]
    assert len(conv) == 1
    assert re.search(r"R-hat is 1\.\d+ for means\[component=1", str(conv[0].message))


def test_low_ess_from_autocorrelated_chains(em_and_X):
    tree = _tree(em_and_X, C=2, S=300, rho=0.97)
    report = dg.check_diagnostics(tree, check_modes=False)
    # AR(1) with rho: ESS ~ n (1 - rho) / (1 + rho) = 600 * 0.03 / 1.97 ~ 9
    assert report.min_ess_bulk < 60
    rec = _caught(report.warn)
    assert any(w.category is dg.LowESSWarning and "effective sample size is only" in
               str(w.message) for w in rec)
    # a lower custom threshold silences it, a higher one on good draws fires
    assert dg.check_diagnostics(tree, ess_min=1, rhat_max=2.0, check_modes=False).ok
    good = _tree(em_and_X, C=2, S=100)
    assert any(p.kind == "ess_bulk" for p in dg.check_diagnostics(good, ess_min=1e5).problems)


def test_divergences_warn_with_counts(em_and_X):
    tree = _tree(em_and_X, diverging=3)
    report = dg.check_diagnostics(tree)
    assert report.total_divergent == 3
    assert int(report.n_divergent.sum()) == 3 and report.n_divergent.dims == ("chain",)
    with pytest.warns(dg.DivergenceWarning, match="3 of 1600 post-warmup transitions diverged"):
        report.warn()
    msg = next(p.message for p in report.problems if p.kind == "divergences")
    assert "target_accept" in msg
    # divergences flagged as warm-up (a sampler's `tuning` stat) do not count
    stats = tree["sample_stats"].to_dataset()
    tree["sample_stats"] = tree["sample_stats"].assign(tuning=stats["diverging"].copy())
    assert dg.check_diagnostics(tree).total_divergent == 0


def test_chain_in_other_mode_is_reported(em_and_X):
    tree = _tree(em_and_X, shift=[0.0, 0.0, 3.0, 3.0])
    report = dg.check_diagnostics(tree)
    assert report.chain_modes.multimodal
    assert sorted(map(sorted, report.chain_modes.groups)) == [[0, 1], [2, 3]]
    rec = _caught(report.warn)
    assert any(w.category is dg.ChainModeWarning and "different modes" in str(w.message)
               for w in rec)
    # all warnings share the base class, so one filter catches them all
    assert all(issubclass(p.category, dg.SamplingWarning) for p in report.problems)


def test_vi_results_skip_mcmc_diagnostics_and_check_the_loss(em_and_X):
    rng = np.random.default_rng(3)
    flat = 2000 + rng.normal(size=5000)
    tree = _tree(em_and_X, C=1, S=100, shift=None, method="advi", loss=flat)
    report = dg.check_diagnostics(tree)
    assert report.ok and report.rhat is None and np.isnan(report.max_rhat)
    assert "do not apply" in str(report)
    # still going down at the end: 2000 + 50 exp(-i / 3000) + noise
    decreasing = 2000 + 50 * np.exp(-np.arange(5000) / 3000) + rng.normal(size=5000)
    tree = _tree(em_and_X, C=1, S=100, method="advi", loss=decreasing)
    report = dg.check_diagnostics(tree)
    assert [p.kind for p in report.problems] == ["vi_loss"]
    rec = _caught(report.warn)
    assert rec[0].category is dg.VIConvergenceWarning
    assert "still decreasing" in str(rec[0].message) and "n=" in str(rec[0].message)


def test_bad_arguments(em_and_X):
    tree = _tree(em_and_X, C=2, S=50)
    with pytest.raises(ValueError, match="rhat_max must be a finite number >= 1"):
        dg.check_diagnostics(tree, rhat_max=0.5)
    with pytest.raises(TypeError, match="ess_min must be a number"):
        dg.check_diagnostics(tree, ess_min="many")
    with pytest.raises(TypeError, match="check_modes"):
        dg.check_diagnostics(tree, check_modes="yes")
    with pytest.raises(TypeError, match="DataTree"):
        dg.check_diagnostics(xr.Dataset())
