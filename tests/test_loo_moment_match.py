"""LOO where PSIS fails: moment matching of the flagged observations (issue 14)."""

import warnings

import numpy as np
import pytest

import bayesgmm as bg
from bayesgmm.selection import moment_match_loo
from bayesgmm.selection._elpd import _elpd_results

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def outlier_fit():
    """One Gaussian and one far outlier: PSIS-LOO's Pareto k of the outlier is above 1."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (30, 2)), [[7.0, 7.0]]])
    m = bg.BayesianGMM(1, covariance_type="diag", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(X, draws=150, tune=150, chains=2, progressbar=False, cores=1)
    return m, X


def test_moment_matching_lowers_pareto_k(outlier_fit):
    import arviz_stats

    m, X = outlier_fit
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


def test_selection_cells_are_moment_matched_not_skipped(outlier_fit):
    m, X = outlier_fit
    results = {(1, "diag"): {"error": None, "model": m, "warnings": []}}
    elpds, info = _elpd_results(results, [(1, "diag")], "loo")
    i = info[(1, "diag")]
    assert i["max_pareto_k_psis"] > 1 and i["n_moment_matched"] == 1
    assert i["max_pareto_k"] < i["good_k"] and i["n_high_pareto_k"] == 0
