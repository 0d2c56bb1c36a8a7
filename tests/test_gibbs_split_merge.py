"""The split-merge moves of the Gibbs sampler (``split_merge=``, :mod:`bayesgmm.inference._split_merge`).

* On a tiny problem (N = 7, D = 1, K = 3) the posterior of the number of occupied
  components with the moves equals an independent computation: every allocation
  enumerated, each group's mean integrated in closed form and its sd on a grid.
* In D = 2 with ``diag`` it equals the enumeration too (a product over the features);
  with ``full`` (the LKJ prior's normaliser and draws) plain Gibbs's (SBC-checked) posterior.
* The proposal densities evaluated at a drawn proposal equal the densities returned by
  the draw (the reverse move uses the evaluation path).
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy.special import gammaln

from bayesgmm._compiled import CompiledDensity, _layout
from bayesgmm._logdensity import MixtureDensity
from bayesgmm.inference import run_inference
from bayesgmm.inference._gibbs import _SD_FLOOR
from bayesgmm.inference._split_merge import (
    _merge_proposal_terms,
    _split_proposal_terms,
    cov_prior_constant,
)
from bayesgmm.priors import Priors

_X1 = np.array([-2.1, -1.7, -1.2, 0.3, 0.8, 2.5, 2.9])[:, None]


def _occupied(X, K, alpha, covariance_type, split_merge, draws, seed, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = run_inference(X=X, n_components=K, covariance_type=covariance_type, method="gibbs", draws=draws,
                             tune=500, chains=4, random_seed=seed, progressbar=False, split_merge=split_merge,
                             priors={"weights_alpha": alpha}, **kw)
    occ = tree["sample_stats"]["occupied"].values
    return np.array([np.mean(occ == k) for k in range(1, K + 1)]), tree


def _exact_occupied(X, K, alpha, covariance_type):
    """P(K+ = k) by enumerating the allocations: the Dirichlet-multinomial prior times each
    group's marginal likelihood, a product over the features (``diag``, or ``full`` with
    D = 1): normal mean prior integrated in closed form, half-normal sd on a fine grid of log sd."""
    N, D = X.shape
    assert covariance_type == "diag" or D == 1
    pr = MixtureDensity(X, K, covariance_type, priors=Priors(weights_alpha=alpha)).priors
    sds = np.broadcast_to(np.ravel(pr.sd_sigma), (D,))

    def log_marginal(x, d):
        m0, s0, sig = float(pr.mean_loc[d]), float(pr.mean_sd[d]), float(sds[d])
        grid = np.linspace(math.log(sig) - 25, math.log(sig) + 6, 40001)
        s = np.exp(grid)
        n, r = x.size, x - m0
        rbar = r.mean()  # the quadratic form, without cancellation: SS / s^2 + n rbar^2 / (s^2 + n s0^2)
        q = np.sum((r - rbar) ** 2) / (s * s) + n * rbar**2 / (s * s + n * s0**2)
        lm = -0.5 * n * math.log(2 * math.pi) - (n - 1) * grid - 0.5 * np.log(s * s + n * s0**2) - 0.5 * q
        lp = 0.5 * math.log(2 / math.pi) - math.log(sig) - 0.5 * (s / sig) ** 2 + grid
        g = lm + lp
        return float(g.max() + math.log(np.trapezoid(np.exp(g - g.max()), grid)))

    cache = {S: sum(log_marginal(X[list(S), d], d) for d in range(D))
             for r in range(1, N + 1) for S in itertools.combinations(range(N), r)}
    lp, occ = [], []
    for z in itertools.product(range(K), repeat=N):
        z = np.asarray(z)
        t, o = 0.0, 0
        for k in range(K):
            S = tuple(np.flatnonzero(z == k))
            t += gammaln(len(S) + alpha) - gammaln(alpha)
            if S:
                t += cache[S]
                o += 1
        lp.append(t)
        occ.append(o)
    lp, occ = np.asarray(lp), np.asarray(occ)
    p = np.exp(lp - lp.max())
    p /= p.sum()
    return np.array([p[occ == k].sum() for k in range(1, K + 1)])


def test_occupied_posterior_with_split_merge_equals_enumeration():
    exact = _exact_occupied(_X1, 3, 0.5, "full")
    got, tree = _occupied(_X1, 3, 0.5, "full", 2.0, 20000, 1)
    counts = tree.attrs["split_merge_counts"]
    assert counts[1] > 1000 and counts[3] > 1000  # the moves are accepted, often
    np.testing.assert_allclose(got, exact, atol=0.01)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_occupied_posterior_with_split_merge_in_2d(covariance_type):
    """``diag``: against the enumeration; ``full`` (the LKJ prior's normaliser and draws):
    against plain Gibbs."""
    rng = np.random.default_rng(3)
    X = np.column_stack([_X1[:, 0], rng.normal(size=7) + np.array([0, 0, 0, 1, 1, 2, 2])])
    sm, tree = _occupied(X, 3, 0.5, covariance_type, 2.0, 20000, 3)
    assert tree.attrs["split_merge_counts"][1] > 500
    ref = _exact_occupied(X, 3, 0.5, "diag") if covariance_type == "diag" else _occupied(X, 3, 0.5, "full", 0.0,
                                                                                           20000, 2)[0]
    np.testing.assert_allclose(sm, ref, atol=0.015)


def test_split_merge_on_rounded_data_equals_plain_gibbs():
    """The moves act on the latent unrounded values (``resolution=``), which they leave alone."""
    X = np.round(_X1 * 2.0) / 2.0
    plain, _ = _occupied(X, 3, 0.5, "full", 0.0, 20000, 4, resolution=0.5)
    sm, tree = _occupied(X, 3, 0.5, "full", 2.0, 20000, 5, resolution=0.5)
    assert tree.attrs["split_merge_counts"][1] > 500
    np.testing.assert_allclose(sm, plain, atol=0.015)


def test_split_merge_with_the_noise_component_equals_plain_gibbs():
    """Observations in the uniform noise component are left where they are."""
    rng = np.random.default_rng(8)
    X = np.concatenate([rng.normal(0, 1, (6, 2)), rng.normal(1.8, 1, (6, 2)), rng.uniform(-4, 6, (2, 2))])
    plain, _ = _occupied(X, 3, 0.5, "full", 0.0, 20000, 6, noise_hypervolume=100.0)
    sm, tree = _occupied(X, 3, 0.5, "full", 3.0, 20000, 7, noise_hypervolume=100.0)
    assert tree.attrs["split_merge_counts"][1] > 500
    np.testing.assert_allclose(sm, plain, atol=0.015)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_evaluated_proposal_densities_equal_the_drawn_ones(covariance_type):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal([0, 0, 0], 1.0, (30, 3)), rng.normal([3, 1, 0], 0.7, (25, 3))])
    cd = CompiledDensity(MixtureDensity(X, 4, covariance_type))
    import bayesgmm._compiled as C

    kind = int(cd.buffer[C._H_KIND])
    _, D, K, params, mean_loc, mean_sd, _, _ = _layout(cd.buffer)
    params, mean_loc, mean_sd = np.array(params), np.array(mean_loc), np.array(mean_sd)
    pf = (cd.ndim - (K - 1) - K * D) // K
    floor = _SD_FLOOR * mean_sd
    idx = np.arange(X.shape[0], dtype=np.int64)
    z = np.zeros(X.shape[0], dtype=np.int64)
    for beta in (1.0, 0.6):
        mi, mj, ui, uj = np.empty(D), np.empty(D), np.empty(pf), np.empty(pf)
        g = np.random.default_rng(1)
        lq = _split_proposal_terms(g, True, kind, params, X, idx, X.shape[0], D, floor, beta, mean_loc, mean_sd, 1.0,
                                   z, 0, 1, mi, ui, mj, uj)
        assert np.isfinite(lq) and 0 < np.sum(z == 0) < X.shape[0]
        lq2 = _split_proposal_terms(g, False, kind, params, X, idx, X.shape[0], D, floor, beta, mean_loc, mean_sd,
                                    1.0, z, 0, 1, mi, ui, mj, uj)
        assert lq2 == pytest.approx(lq, rel=1e-12, abs=1e-9)
        lm = _merge_proposal_terms(g, True, kind, params, X, idx, X.shape[0], D, floor, beta, mean_loc, mean_sd, 1.3,
                                   mi, ui)
        lm2 = _merge_proposal_terms(g, False, kind, params, X, idx, X.shape[0], D, floor, beta, mean_loc, mean_sd,
                                    1.3, mi, ui)
        assert np.isfinite(lm) and lm2 == pytest.approx(lm, rel=1e-12, abs=1e-9)
        z[:] = 0
    assert np.isfinite(cov_prior_constant(kind, params, D))


def test_split_merge_is_off_by_default_and_checks_its_arguments():
    common = dict(X=_X1, n_components=3, covariance_type="full", method="gibbs", draws=50, tune=50, chains=1,
                  random_seed=0, progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = run_inference(**common)
        b = run_inference(split_merge=0.0, **common)
    np.testing.assert_array_equal(a["posterior"]["means"].values, b["posterior"]["means"].values)
    assert "split_merge_counts" not in a.attrs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="split_merge must be a number >= 0"):
            run_inference(split_merge=-1.0, **common)
        with pytest.raises(ValueError, match="a covariance factor per component"):
            run_inference(**{**common, "covariance_type": "tied"}, split_merge=1.0)
