"""Issue 4's overconfidence scenario, end to end with the real sampler (slow)."""

import warnings

import numpy as np
import pytest

from bayesgmm.posterior import (
    ambiguous_observations,
    compare_em,
    compare_partitions,
    map_partition,
)


@pytest.mark.slow
def test_posterior_is_wider_than_em_plugin_on_overlapping_components():
    import bayesgmm as bg

    rng = np.random.default_rng(0)
    z = rng.integers(0, 2, 100)
    X = np.column_stack([np.where(z == 0, -1.5, 1.5) + rng.normal(size=100), rng.normal(size=100)])
    model = bg.BayesianGMM(2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains: convergence warnings are expected
        model.fit(X, draws=400, tune=400, chains=2, progressbar=False)
    table = compare_em(model.idata_, model.idata_, n_obs=100)
    means = table.where(table["variable"] == "means", drop=True)
    # The plug-in standard errors treat assignments as known: the posterior is wider.
    assert float(np.median(means["sd_ratio"])) > 1.3
    assert float(table.sel(parameter="weights[0]")["sd_ratio"]) > 1.3
    # EM's point memberships carry no uncertainty; the posterior flags the overlap.
    mem = model.membership()
    amb = ambiguous_observations(mem, n=10)
    width = amb["probability_max_upper"] - amb["probability_max_lower"]
    assert float(width.min()) > 0.2
    assert float(amb["entropy"].min()) > 0.4
    # Where they lie is not asserted: with this much overlap the posterior also puts
    # mass on configurations with one broad and one narrow component, which makes
    # points in the broad component's tail (x0 ~ 3) ambiguous too, not only those
    # between the two means.
    cp = compare_partitions(model.em_.predict(X), map_partition(mem), mem)
    assert cp.attrs["n_wide"] >= 10
    # where EM and the posterior disagree, the posterior is uncertain
    dis = cp["disagree"].values
    if dis.any():
        ent = mem["entropy"].values
        assert ent[dis].mean() > ent[~dis].mean()
