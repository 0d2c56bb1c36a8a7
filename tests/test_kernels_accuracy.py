"""EM kernels at extreme scales: tight clusters far apart, large offsets (issue 12, point 4).

The moment expansion ``[x x^T | x | 1]`` cancels catastrophically when the
components lie far from the expansion's origin in units of their spread;
the kernels then centre each component's rows on its own mean
(``_kernels.EXPANSION_TOLERANCE``). References in extended precision
(``tests/_longdouble.py``): the fitted parameters must be a fixed point of the
exact EM map, and ``score`` must equal the exact mean log-likelihood.
"""

import warnings

import numpy as np
import pytest

from _longdouble import em_step, score as exact_score
from bayesgmm import GaussianMixture, _kernels
from bayesgmm.covariance import COVARIANCE_TYPES, get_covariance_type


def _clusters(ratio, offset, seed=0, n=300, d=3, k=3):
    """``k`` clusters with random full covariances of scale ``sd``, consecutive centres
    ``ratio * sd`` apart, all shifted by ``offset`` (sd = 1e-3 with an offset, else 1)."""
    rng = np.random.default_rng(seed)
    sd = 1e-3 if offset else 1.0
    lab = np.arange(n) % k
    steps = rng.normal(size=(k - 1, d))
    steps /= np.linalg.norm(steps, axis=1, keepdims=True)
    centres = np.r_[np.zeros((1, d)), np.cumsum(steps, axis=0)] * ratio * sd
    A = rng.normal(size=(k, d, d)) * sd
    return np.einsum("nd,nde->ne", rng.normal(size=(n, d)), A[lab]) + centres[lab] + offset


def _relative_errors(X, gm, ct):
    """(parameters, score) relative errors against the extended-precision references."""
    k, d = gm.means_.shape
    full = get_covariance_type(ct).to_full(gm.covariances_, k, d)
    w, mu, cov = em_step(X, gm.weights_, gm.means_, full, ct, gm.reg_covar)
    err_params = max(
        float(np.max(np.abs(w - gm.weights_))),
        float(np.max(np.abs(mu - gm.means_)) / np.max(np.abs(mu))),
        float(np.max(np.abs(cov - gm.covariances_)) / np.max(np.abs(cov))),
    )
    ref = exact_score(X, gm.weights_, gm.means_, full)
    return err_params, abs(float((gm.score(X) - ref) / ref))


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
@pytest.mark.parametrize("offset", [0.0, 1e3, 1e9])
@pytest.mark.parametrize("ratio", [1e2, 1e4, 1e6, 1e8])
def test_em_accurate_far_apart_tight_clusters(ratio, offset, ct):
    X = _clusters(ratio, offset)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no singular covariance, no spurious warning
        gm = GaussianMixture(3, covariance_type=ct, random_state=0, tol=1e-10,
                             reg_covar=1e-12 if offset else 1e-6).fit(X)
    err_params, err_score = _relative_errors(X, gm, ct)
    assert err_params < 1e-9
    assert err_score < 1e-9


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_unit_clusters_separated_by_1e9_fit_like_sklearn(ct):
    # issue 12: at separation 1e9 the expansion gave "singular covariance"
    # where scikit-learn fits (full); at 1e8 covariances were wrong
    sklearn = pytest.importorskip("sklearn.mixture")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 2))
    X[200:, 0] += 1e9
    ours = GaussianMixture(2, covariance_type=ct, random_state=0).fit(X)
    try:
        theirs = sklearn.GaussianMixture(2, covariance_type=ct, random_state=0).fit(X)
    except ValueError:  # scikit-learn's own expansion fails here for tied/diag/spherical
        theirs = None
    if theirs is not None:
        order, order_sk = np.argsort(ours.means_[:, 0]), np.argsort(theirs.means_[:, 0])
        # scikit-learn is the less accurate one here (its means are off by ~1e-8 sd)
        np.testing.assert_allclose(ours.means_[order], theirs.means_[order_sk], atol=1e-6)
        np.testing.assert_allclose(ours.weights_[order], theirs.weights_[order_sk], rtol=1e-12)
        cov = ours.covariances_ if ct == "tied" else ours.covariances_[order]
        cov_sk = theirs.covariances_ if ct == "tied" else theirs.covariances_[order_sk]
        np.testing.assert_allclose(cov, cov_sk, rtol=1e-6)
    err_params, err_score = _relative_errors(X, ours, ct)
    assert err_params < 1e-9 and err_score < 1e-9


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_ordinary_data_stay_on_the_expansion(ct, monkeypatch):
    # the centred path is a fallback: well-scaled data never take it
    calls = []
    real = _kernels._CentredPlan.__call__
    monkeypatch.setattr(_kernels._CentredPlan, "__call__",
                        lambda *a, **kw: calls.append(1) or real(*a, **kw))
    X = _clusters(10.0, 0.0)
    gm = GaussianMixture(3, covariance_type=ct, n_init=1, random_state=0).fit(X)
    gm.score(X)
    assert not calls


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_expansion_error_estimate_bounds_the_fast_path(ct, monkeypatch):
    # the rule's measurement: with the fallback disabled, the expansion's
    # errors stay below 0.2 x the estimate (the threshold's margin)
    monkeypatch.setattr(_kernels, "EXPANSION_TOLERANCE", np.inf)
    for ratio in (1e3, 1e4):
        X = _clusters(ratio, 0.0)
        gm = GaussianMixture(3, covariance_type=ct, random_state=0, tol=1e-10).fit(X)
        means = gm.means_ - X.mean(axis=0)
        cov = get_covariance_type(ct)
        A, c = _kernels._expansion_operands(means, gm.precisions_cholesky_, np.zeros(3), cov)
        estimate = _kernels._expansion_error(
            A, c, means, cov.expansion_conditioning(gm.precisions_cholesky_)
        )
        err_params, err_score = _relative_errors(X, gm, ct)
        assert max(err_params, err_score) < 0.2 * estimate


@pytest.mark.parametrize("ratio,offset", [(1e2, 0.0), (1e6, 1e9)])
def test_full_per_component_path_accurate(ratio, offset):
    # full with D >= 5 K takes per-component products; the rule applies there too
    X = _clusters(ratio, offset, d=10, k=2)
    assert get_covariance_type("full").per_component(10, 2)
    gm = GaussianMixture(2, random_state=0, tol=1e-10, reg_covar=1e-12 if offset else 1e-6).fit(X)
    err_params, err_score = _relative_errors(X, gm, "full")
    assert err_params < 1e-9 and err_score < 1e-9
