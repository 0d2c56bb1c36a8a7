"""EM's MAP estimate under the conjugate prior (``GaussianMixture(prior=...)``).

Against R mclust 6's ``Mclust(X, G, modelNames, prior = priorControl())`` on
Old Faithful and iris (``benchmarks/mclust/prior_solutions.R`` wrote
``tests/data/mclust_prior_solutions.csv``), the posterior-mode property of
each M-step, monotone EM in the log posterior, and the spurious maxima the
prior removes.
"""

from __future__ import annotations

import csv
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from bayesgmm import ConjugatePrior, GaussianMixture
from bayesgmm.covariance import (
    CONJUGATE_PRIOR_TYPES,
    EM_COVARIANCE_TYPES,
    get_covariance_type,
)
from bayesgmm.exceptions import DegenerateComponentWarning

DATA = Path(__file__).parent / "data"
BENCH = Path(__file__).parent.parent / "benchmarks" / "mclust" / "data"
#: the models whose prior M-step is mclust's exactly (EII and EEI: see test_eii_eei_differ_from_mclust)
AS_MCLUST = ("VVV", "EEE", "VVI", "VII")


def _fixture():
    cells = defaultdict(lambda: defaultdict(list))
    meta = {}
    with open(DATA / "mclust_prior_solutions.csv") as f:
        for r in csv.DictReader(f):
            key = (r["dataset"], r["model"], int(r["G"]))
            cells[key][r["what"]].append(float(r["value"]))
            meta[key] = (float(r["loglik"]), float(r["bic"]))
    out = {}
    for key, v in cells.items():
        G = key[2]
        mean = np.array(v["mean"]).reshape(G, -1)
        d = mean.shape[1]
        sigma = np.swapaxes(np.array(v["sigma"]).reshape(G, d, d), 1, 2)
        prior = {"shrinkage": v["prior_shrinkage"][0], "mean": np.array(v["prior_mean"]),
                 "dof": v["prior_dof"][0], "scale": np.array(v["prior_scale"])}
        out[key] = (np.array(v["pro"]), mean, sigma, *meta[key], prior)
    return out


SOLUTIONS = _fixture()
CELLS = sorted(k for k in SOLUTIONS if get_covariance_type(k[1]).has_conjugate_prior)
_DATA = {}


def _data(name):
    if name not in _DATA:
        _DATA[name] = np.loadtxt(BENCH / f"{name}.csv", delimiter=",", skiprows=1)
    return _DATA[name]


def _from_solution(key, **kw):
    """Our MAP EM with the default prior, started at mclust's solution of ``key``."""
    pro, mean, sigma = SOLUTIONS[key][:3]
    ct = get_covariance_type(key[1])
    prec = ct.precisions_from_cholesky(ct.precision_cholesky(ct.from_full(sigma)))
    gm = GaussianMixture(key[2], covariance_type=key[1], prior="default", tol=1e-12, max_iter=2000,
                         weights_init=pro, means_init=mean, precisions_init=prec, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateComponentWarning)  # an empty mclust component
        return gm.fit(_data(key[0]))


def _log_posterior(gm, X, means=None, covariances=None):
    """Log-likelihood plus log prior of ``gm`` (optionally with other means/covariances)."""
    import copy

    g = copy.copy(gm)
    ct = get_covariance_type(gm.covariance_type)
    if means is not None:
        g.means_ = means
    if covariances is not None:
        g.covariances_ = covariances
        g.precisions_cholesky_ = ct.precision_cholesky(covariances)
    prior = gm.prior if isinstance(gm.prior, ConjugatePrior) else ConjugatePrior()
    n, d = X.shape
    resolved = prior.resolve(X.mean(axis=0), np.cov(X.T).reshape(d, d), ct, gm.n_components)
    return g.score(X) * n + ct.log_conjugate_prior(g.means_, g.covariances_, resolved)


def test_fixture_covers_the_prior_models():
    assert {m for _, m, _ in CELLS} == {"EII", "VII", "EEI", "VVI", "EEE", "VVV"}
    assert len(CELLS) == 24
    assert set(CONJUGATE_PRIOR_TYPES) == {"full", "tied", "diag", "spherical", "EII", "EEI"}


@pytest.mark.parametrize("key", CELLS, ids=lambda k: "-".join(map(str, k)))
def test_default_prior_is_mclusts(key):
    """mclust's defaultPrior: shrinkage 0.01, the data mean, dof D + 2, its scale per model."""
    X = _data(key[0])
    _n, d = X.shape
    ct = get_covariance_type(key[1])
    want = SOLUTIONS[key][-1]
    r = ConjugatePrior().resolve(X.mean(axis=0), np.cov(X.T), ct, key[2])
    assert r.shrinkage == want["shrinkage"] == 0.01
    np.testing.assert_allclose(r.mean, want["mean"], rtol=1e-14)
    assert r.dof == want["dof"] == d + 2
    np.testing.assert_allclose(np.ravel(r.scale), want["scale"], rtol=1e-12)


@pytest.mark.parametrize("key", [k for k in CELLS if k[1] in AS_MCLUST], ids=lambda k: "-".join(map(str, k)))
def test_map_em_stays_at_mclusts_solution(key):
    """From mclust's MAP fit, our MAP EM stays there: log-likelihood, BIC and parameters."""
    pro, mean, sigma, loglik, bic, _ = SOLUTIONS[key]
    X = _data(key[0])
    gm = _from_solution(key)
    assert gm.score(X) * len(X) == pytest.approx(loglik, abs=1e-6)
    assert -gm.bic(X) == pytest.approx(bic, abs=1e-5)  # mclust's BIC: 2 loglik - p log n
    keep = pro > 1e-6  # faithful VVI 3: mclust leaves an empty component (weight 1e-9)
    ct = get_covariance_type(key[1])
    np.testing.assert_allclose(gm.weights_[keep], pro[keep], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gm.means_[keep], mean[keep], rtol=1e-5, atol=1e-6)
    full = ct.to_full(gm.covariances_, key[2], X.shape[1])
    np.testing.assert_allclose(full[keep], sigma[keep], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("model", ["EII", "EEI"])
def test_eii_eei_differ_from_mclust(model):
    """EII and EEI are the exact posterior mode, where mclust 6's updates are not:
    EII leaves the prior's scale out of the variance, EEI counts one mean
    prior instead of G. Ours ends at a higher log posterior than mclust's
    parameters (the objective both should maximise)."""
    key = ("faithful", model, 2)
    X = _data("faithful")
    _pro, mean, sigma = SOLUTIONS[key][:3]
    gm = _from_solution(key)
    ct = get_covariance_type(model)
    at_mclust = _log_posterior(gm, X, means=mean, covariances=ct.from_full(sigma))
    ours = _log_posterior(gm, X)
    assert ours > at_mclust + 1e-3
    assert gm.lower_bound_ * len(X) == pytest.approx(ours, abs=1e-6)


@pytest.mark.parametrize("ct", CONJUGATE_PRIOR_TYPES)
def test_map_fit_is_a_maximum_of_the_log_posterior(ct):
    """At the fitted MAP estimate, moving any mean or variance lowers the log posterior."""
    X = _data("faithful")
    gm = GaussianMixture(2, covariance_type=ct, prior="default", tol=1e-12, max_iter=2000,
                         n_init=1, random_state=0).fit(X)
    best = _log_posterior(gm, X)
    assert gm.lower_bound_ * len(X) == pytest.approx(best, abs=1e-6)
    model = get_covariance_type(ct)
    rng = np.random.default_rng(0)
    for _ in range(6):
        for what in ("means", "covariances"):
            if what == "means":
                new = gm.means_ + 1e-4 * rng.normal(size=gm.means_.shape) * X.std(axis=0)
                val = _log_posterior(gm, X, means=new)
            else:
                full = model.to_full(gm.covariances_, 2, 2)
                a = rng.normal(size=(2, 2)) * 1e-4
                full = np.einsum("ij,kjl,ml->kim", np.eye(2) + a, full, np.eye(2) + a)
                new = model.from_full(full)
                val = _log_posterior(gm, X, covariances=new)
            assert val < best + 1e-7


@pytest.mark.parametrize("ct", CONJUGATE_PRIOR_TYPES)
@pytest.mark.parametrize("seed", range(3))
def test_map_em_is_monotone_in_the_log_posterior(ct, seed):
    """lower_bounds_ (the log posterior) never decreases, from random starts, on data
    with tied values (where maximum likelihood collapses)."""
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(0, 1, (40, 3)), rng.normal(4, 0.5, (30, 3))]
    X[:8, 1] = 1.0  # tied values of one feature
    X[-3:] = X[-1]  # three equal rows
    gm = GaussianMixture(4, covariance_type=ct, prior="default", tol=0.0, max_iter=60,
                         init_params="random_from_data", n_init=1, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
    steps = np.diff(gm.lower_bounds_)
    assert steps.min() >= -1e-9 * np.abs(gm.lower_bounds_).max()


def test_prior_removes_the_tied_value_spike():
    """Old Faithful, diag: started with a fifth component on the 14 rows with
    ``waiting == 83``, maximum likelihood keeps it there (variance 5e-9 of the
    data's: a near-singular, flagged component); the MAP fit moves it off (every
    variance above 1e-3 of the data's)."""
    X = _data("faithful")
    var = X.var(axis=0)
    on = X[:, 1] == 83
    assert on.sum() == 14
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = GaussianMixture(4, covariance_type="diag", n_init=1, random_state=0).fit(X)
        start = {
            "weights_init": np.r_[base.weights_ * (1 - on.mean()), on.mean()],
            "means_init": np.r_[base.means_, X[on].mean(axis=0)[None]],
            "precisions_init": 1.0 / np.r_[base.covariances_, [[X[on, 0].var(), 1e-6]]],
        }
        ml = GaussianMixture(5, covariance_type="diag", max_iter=30, **start).fit(X)
        mp = GaussianMixture(5, covariance_type="diag", max_iter=30, prior="default", **start).fit(X)
    assert (ml.covariances_ / var).min() < 1e-4
    assert ml.degenerate_components_.tolist() == [4]
    assert (mp.covariances_ / var).min() > 1e-3
    assert mp.degenerate_components_.size == 0


def test_prior_none_is_unchanged():
    X = _data("iris")
    a = GaussianMixture(3, n_init=1, random_state=1).fit(X)
    b = GaussianMixture(3, n_init=1, random_state=1, prior=None).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.covariances_, b.covariances_)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-14, abs=0)  # 1 ulp: see test_em.py


def test_given_prior_settings_are_used():
    X = _data("faithful")
    p = ConjugatePrior(shrinkage=0.0, dof=10.0, scale=np.diag([0.1, 20.0]))
    gm = GaussianMixture(2, prior=p, n_init=1, random_state=0, tol=1e-10, max_iter=1000).fit(X)
    # shrinkage 0: the means are the responsibility-weighted means
    resp = gm.predict_proba(X)
    np.testing.assert_allclose(gm.means_, (resp.T @ X) / resp.sum(axis=0)[:, None], rtol=1e-6)
    # the covariance: (scale + scatter) / (n_k + dof + D + 1)
    nk = resp.sum(axis=0)
    for k in range(2):
        dev = X - gm.means_[k]
        want = (p.scale + (resp[:, k, None] * dev).T @ dev) / (nk[k] + 10.0 + 2 + 1)
        np.testing.assert_allclose(gm.covariances_[k], want, rtol=1e-6)
    assert gm.get_params()["prior"] is p


@pytest.mark.parametrize("bad, match", [
    ("mclust", "must be None"),
    (ConjugatePrior(shrinkage=-1.0), "shrinkage"),
    (ConjugatePrior(dof=0.5), "dof"),
    (ConjugatePrior(mean=[0.0]), "mean"),
    (ConjugatePrior(scale=np.eye(3)), "scale"),
])
def test_bad_prior_settings_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, prior=bad).fit(_data("faithful"))


def test_types_without_a_prior_name_those_with_one():
    without = [t for t in EM_COVARIANCE_TYPES if not get_covariance_type(t).has_conjugate_prior]
    assert set(without) == {"VEI", "EVI", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV"}
    with pytest.raises(ValueError, match="'VEV'.*'full', 'tied', 'diag', 'spherical', 'EII', 'EEI'"):
        GaussianMixture(2, covariance_type="VEV", prior="default").fit(_data("faithful"))


def test_sample_weight_with_prior_is_refused():
    X = _data("faithful")
    with pytest.raises(ValueError, match="sample_weight.*prior"):
        GaussianMixture(2, prior="default").fit(X, sample_weight=np.ones(len(X)))
