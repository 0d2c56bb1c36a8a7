"""LOO where PSIS fails: exact refits (or moment matching) of the flagged observations (issue 14)."""

import warnings

import numpy as np
import pytest

import bayesgmm as bg
from bayesgmm.selection import moment_match_loo
from bayesgmm.selection import _elpd
from bayesgmm.selection._cells import _fit_bayes
from bayesgmm.selection._elpd import _elpd_results

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def outlier_fit():
    """One Gaussian and one far outlier: PSIS-LOO's Pareto k of the outlier is above 1."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (30, 2)), [[7.0, 7.0]]])
    options = {"n_init": 2, "kwargs": dict(draws=150, tune=150, chains=2, cores=1), "priors": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m, _ = _fit_bayes(X, 1, "diag", 0, options)
    return m, X, options


def test_moment_matching_lowers_pareto_k(outlier_fit):
    import arviz_stats

    m, X, _ = outlier_fit
    loo = arviz_stats.loo(m.idata_, var_name="X", pointwise=True)
    k = loo.pareto_k.values
    assert k[-1] > 1 and np.all(k[:-1] < loo.good_k)  # only the outlier is flagged
    mm, n = moment_match_loo(m, loo)
    assert n == 1
    assert mm.pareto_k.values[-1] < loo.good_k  # repaired
    np.testing.assert_array_equal(mm.elpd_i.values[:-1], loo.elpd_i.values[:-1])
    # plain PSIS was too optimistic about the outlier; the exact LOO elpd of the outlier
    # (its log density under the fit without it) is far lower
    assert mm.elpd_i.values[-1] < loo.elpd_i.values[-1] - 1
    assert np.isfinite(mm.elpd) and mm.elpd < loo.elpd


def _cell(outlier_fit, **kw):
    m, X, options = outlier_fit
    results = {(1, "diag"): {"error": None, "model": m, "warnings": []}}
    elpds, info = _elpd_results(results, [(1, "diag")], "loo", **kw)
    return elpds[(1, "diag")], info[(1, "diag")]


def test_flagged_observation_is_refitted_not_skipped(outlier_fit):
    import arviz_stats

    m, X, options = outlier_fit
    psis = arviz_stats.loo(m.idata_, var_name="X", pointwise=True)
    e, i = _cell(outlier_fit, refit={"X": X, "seed": 0, "options": options})
    assert i["max_pareto_k_psis"] > 1 and i["n_refits"] == 1 and i["n_moment_matched"] == 0
    assert i["max_pareto_k"] < i["good_k"] and i["n_high_pareto_k"] == 0
    np.testing.assert_array_equal(e.elpd_i.values[:-1], psis.elpd_i.values[:-1])
    # the exact LOO density of the outlier is far below PSIS's (long refits: -38 to -40)
    assert e.elpd_i.values[-1] < psis.elpd_i.values[-1] - 5
    assert e.elpd == pytest.approx(e.elpd_i.values.sum())
    assert e.elpd + e.p == pytest.approx(psis.elpd + psis.p)  # lppd of the full fit
    # without refit information (or for other callers) nothing is refitted
    _, i0 = _cell(outlier_fit)
    assert i0["n_refits"] == 0 and i0["max_pareto_k"] == i["max_pareto_k_psis"]


def test_many_flagged_observations_give_k_fold(outlier_fit, monkeypatch):
    m, X, options = outlier_fit
    monkeypatch.setattr(_elpd, "MAX_LOO_REFITS", 0)
    monkeypatch.setattr(_elpd, "KFOLD_FOLDS", 3)
    e, i = _cell(outlier_fit, refit={"X": X, "seed": 0, "options": options})
    assert i["n_refits"] == 3 and i["max_pareto_k"] == 0.0
    assert np.all(np.isfinite(e.elpd_i.values)) and e.elpd == pytest.approx(e.elpd_i.values.sum())
    assert e.elpd_i.values[-1] < -30  # the outlier, predicted by the fit without its fold
