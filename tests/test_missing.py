"""Missing values (NaN) in EM: ``GaussianMixture(missing="marginalize")``.

Checked against independent references: scipy's multivariate normal on the
observed sub-vector (E-step), the conditional-Gaussian formulas in terms of
the covariance (expected statistics), scipy's optimiser on the observed-data
likelihood of one Gaussian (the EM fixed point), and the complete-data fit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import optimize, stats

from bayesgmm import GaussianMixture
from bayesgmm._kernels import accumulate_statistics, estimate_log_gaussian_prob
from bayesgmm.covariance import EM_COVARIANCE_TYPES, get_covariance_type
from bayesgmm.exceptions import ConvergenceWarning
from bayesgmm.em._missing import (
    MissingPatterns,
    expected_statistics,
    mean_impute,
    weighted_log_prob,
)

FOUR = ("full", "tied", "diag", "spherical")


def _two_clusters(n=200, seed=0, d=3, sep=6.0):
    rng = np.random.default_rng(seed)
    a = rng.multivariate_normal(np.zeros(d), np.eye(d) + 0.5, n)
    b = rng.multivariate_normal(np.full(d, sep) * (np.arange(d) < 2), np.diag(np.arange(1.0, d + 1)), n)
    return np.r_[a, b]


def _mcar(X, frac, seed=1):
    rng = np.random.default_rng(seed)
    Xm = X.copy()
    Xm[rng.random(X.shape) < frac] = np.nan
    return Xm


def _random_params(ct, k, d, seed):
    rng = np.random.default_rng(seed)
    cov = ct.random_covariances(rng, k, d, scale=1.3)
    means = rng.normal(scale=2.0, size=(k, d))
    w = rng.dirichlet(np.ones(k))
    return w, means, cov


# ------------------------------------------------------------- default: an error
def test_default_error_names_rows_columns_and_the_option():
    X = np.ones((8, 3))
    X[[2, 5], 1] = np.nan
    with pytest.raises(ValueError) as err:
        GaussianMixture(1).fit(X)
    msg = str(err.value)
    assert "2 NaN values" in msg and "column 1" in msg and "[2, 5]" in msg
    assert 'missing="marginalize"' in msg


def test_predict_with_nan_on_a_default_fit_raises():
    gm = GaussianMixture(1).fit(np.random.default_rng(0).normal(size=(10, 2)))
    with pytest.raises(ValueError, match="marginalize"):
        gm.predict([[np.nan, 0.0]])


def test_inf_still_raises_and_bad_option():
    X = np.random.default_rng(0).normal(size=(10, 2))
    X[3, 0] = np.inf
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 infinite \(inf\) value in column 0 \(first rows: \[3\]\)"):
        GaussianMixture(1, missing="marginalize").fit(X)
    with pytest.raises(ValueError, match="`missing` must be one of"):
        GaussianMixture(1, missing="impute").fit(np.ones((4, 1)))


def test_dask_with_nan_raises_with_advice():
    da = pytest.importorskip("dask.array")
    X = np.random.default_rng(0).normal(size=(20, 2))
    X[3, 0] = np.nan
    with pytest.raises(ValueError, match=r"compute\(\)"):
        GaussianMixture(1, missing="marginalize").fit(da.from_array(X, chunks=10))


# ------------------------------------------------------ without NaN: the same fit
@pytest.mark.parametrize("ct", FOUR + ("VEV",))
def test_without_nan_the_fit_is_unchanged(ct):
    X = _two_clusters(80)
    a = GaussianMixture(2, covariance_type=ct, random_state=0, n_init=2).fit(X)
    b = GaussianMixture(2, covariance_type=ct, random_state=0, n_init=2, missing="marginalize").fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.covariances_, b.covariances_)
    # the bounds to 1e-14, not bit for bit: numpy 2.5's vectorised sums round with the
    # buffers' alignment, and the two fits' per-iteration sums differed by 1 ulp in one
    # run out of many (2 Dec 2026); the parameters above stay identical
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


@pytest.mark.parametrize("ct", EM_COVARIANCE_TYPES)
def test_expected_statistics_of_complete_rows_equal_the_kernel(ct):
    """The missing-data E-step on data without NaN gives the usual statistics."""
    cov = get_covariance_type(ct)
    X = _two_clusters(40, d=3)
    w, means, covs = _random_params(cov, 2, 3, 5)
    pc = cov.precision_cholesky(covs)
    sw = np.random.default_rng(3).uniform(0.2, 1.0, X.shape[0])
    shift = X.mean(axis=0)
    ref = accumulate_statistics(X - shift, cov, means=means - shift, precisions_chol=pc,
                                log_weights=np.log(w), sample_weight=sw)
    got = expected_statistics(X, MissingPatterns(X), sw, means - shift, pc, np.log(w), shift, cov)
    centre = 0.0 if ref.centre is None else ref.centre
    np.testing.assert_allclose(got.nk, ref.nk, rtol=1e-10)
    np.testing.assert_allclose(cov.m_step(got, 0.0)[2], cov.m_step(ref, 0.0)[2], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got.sx / got.nk[:, None], ref.sx / ref.nk[:, None] + centre,
                               rtol=1e-10, atol=1e-10)
    assert got.loglik == pytest.approx(ref.loglik, rel=1e-12)


# ------------------------------------------------------------- brute force E-step
@pytest.mark.parametrize("ct", EM_COVARIANCE_TYPES)
def test_log_density_is_the_scipy_marginal_of_the_observed_coordinates(ct):
    cov = get_covariance_type(ct)
    k, d = 3, 4
    w, means, covs = _random_params(cov, k, d, 11)
    full = cov.to_full(covs, k, d)
    X = _mcar(np.random.default_rng(2).normal(scale=2.0, size=(30, d)), 0.35, seed=4)
    X[0] = np.nan  # nothing observed: log pi_k
    wlp = weighted_log_prob(X, means, cov.precision_cholesky(covs), cov, np.log(w))
    for n in range(X.shape[0]):
        o = ~np.isnan(X[n])
        for j in range(k):
            ref = np.log(w[j])
            if o.any():
                ref += stats.multivariate_normal(means[j, o], full[j][np.ix_(o, o)]).logpdf(X[n, o])
            assert wlp[n, j] == pytest.approx(ref, rel=1e-11, abs=1e-11)


@pytest.mark.parametrize("ct", FOUR)
def test_expected_statistics_equal_the_conditional_gaussian_by_covariances(ct):
    """``sum r E[x]`` and ``sum r E[x x^T]`` against the textbook formulas
    ``x_m = mu_m + S_mo S_oo^-1 (x_o - mu_o)``, ``C = S_mm - S_mo S_oo^-1 S_om``."""
    cov = get_covariance_type(ct)
    k, d = 2, 4
    w, means, covs = _random_params(cov, k, d, 7)
    full = cov.to_full(covs, k, d)
    X = _mcar(np.random.default_rng(8).normal(scale=2.0, size=(25, d)), 0.4, seed=9)
    pc = cov.precision_cholesky(covs)
    got = expected_statistics(X, MissingPatterns(X), None, means, pc, np.log(w), np.zeros(d), cov)
    nk, sx, sxx, ll = np.zeros(k), np.zeros((k, d)), np.zeros((k, d, d)), 0.0
    for x in X:
        o, m = ~np.isnan(x), np.isnan(x)
        lp = np.array([
            np.log(w[j]) + (stats.multivariate_normal(means[j, o], full[j][np.ix_(o, o)]).logpdf(x[o])
                            if o.any() else 0.0)
            for j in range(k)
        ])
        ll += np.logaddexp.reduce(lp)
        r = np.exp(lp - np.logaddexp.reduce(lp))
        for j in range(k):
            S = full[j]
            xh = x.copy()
            C = np.zeros((d, d))
            if m.any():
                B = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)]) if o.any() else np.zeros((m.sum(), 0))
                xh[m] = means[j, m] + B @ (x[o] - means[j, o])
                C[np.ix_(m, m)] = S[np.ix_(m, m)] - B @ S[np.ix_(o, m)]
            nk[j] += r[j]
            sx[j] += r[j] * xh
            sxx[j] += r[j] * (np.outer(xh, xh) + C)
    np.testing.assert_allclose(got.nk, nk, rtol=1e-10)
    np.testing.assert_allclose(got.sx, sx, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(got.sxx, cov.second_moments_from_matrices(sxx), rtol=1e-9, atol=1e-10)
    assert got.loglik == pytest.approx(ll, rel=1e-12)


# ------------------------------------------------------------------ the EM fit
@pytest.mark.parametrize("ct", EM_COVARIANCE_TYPES)
def test_observed_log_likelihood_never_decreases(ct):
    X = _mcar(_two_clusters(60, seed=3, sep=3.0), 0.25, seed=5)
    gm = GaussianMixture(3, covariance_type=ct, missing="marginalize", tol=1e-9, max_iter=60,
                         n_init=1, init_params="random", random_state=1, reg_covar=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # slow convergence is not the point
        gm.fit(X)
    lb = np.asarray(gm.lower_bounds_)
    assert len(lb) > 5
    assert np.all(np.diff(lb) >= -1e-12 * np.abs(lb[1:])), np.diff(lb).min()
    # the bound is the observed-data log-likelihood before the last M-step,
    # which cannot have lowered it
    assert gm.score(X) >= lb[-1] - 1e-12


def test_single_gaussian_converges_to_the_numerical_mle():
    """One Gaussian with MCAR values: EM's fixed point is the maximiser of the
    observed-data likelihood, found here independently by BFGS on
    (mean, log-Cholesky) with scipy's multivariate normal."""
    rng = np.random.default_rng(0)
    d = 3
    X = rng.multivariate_normal([1.0, -2.0, 0.5], [[2.0, 0.8, 0.3], [0.8, 1.0, -0.2], [0.3, -0.2, 0.5]], 60)
    X = _mcar(X, 0.3, seed=2)
    X = X[~np.isnan(X).all(axis=1)]
    gm = GaussianMixture(1, missing="marginalize", tol=1e-12, max_iter=5000, reg_covar=0.0,
                         n_init=1).fit(X)
    assert gm.converged_
    il = np.tril_indices(d)

    def nll(theta):
        mu = theta[:d]
        L = np.zeros((d, d))
        L[il] = theta[d:]
        L[np.diag_indices(d)] = np.exp(L[np.diag_indices(d)])
        S = L @ L.T
        tot = 0.0
        for o, rows in groups:
            tot += np.sum(stats.multivariate_normal(mu[o], S[np.ix_(o, o)]).logpdf(X[np.ix_(rows, o)]))
        return -tot

    masks = ~np.isnan(X)
    groups = [(o, np.flatnonzero((masks == o).all(axis=1))) for o in np.unique(masks, axis=0)]

    theta0 = np.r_[np.nanmean(X, axis=0), np.zeros(len(il[0]))]
    res = optimize.minimize(nll, theta0, method="BFGS", options={"gtol": 1e-8})
    mu = res.x[:d]
    L = np.zeros((d, d))
    L[il] = res.x[d:]
    L[np.diag_indices(d)] = np.exp(L[np.diag_indices(d)])
    assert -res.fun == pytest.approx(gm.score(X) * X.shape[0], abs=1e-6)
    np.testing.assert_allclose(gm.means_[0], mu, atol=2e-4)
    np.testing.assert_allclose(gm.covariances_[0], L @ L.T, atol=2e-4)
    # and not the complete-case or the mean-imputed estimate
    assert np.max(np.abs(gm.means_[0] - np.nanmean(X, axis=0))) > 1e-3


@pytest.mark.parametrize("ct", FOUR)
def test_mcar_20_percent_recovers_the_complete_data_fit(ct):
    X = _two_clusters(300, seed=6)
    Xm = _mcar(X, 0.2, seed=7)
    ref = GaussianMixture(2, covariance_type=ct, random_state=0, n_init=1).fit(X)
    gm = GaussianMixture(2, covariance_type=ct, random_state=0, missing="marginalize", n_init=1).fit(Xm)
    order_r, order_g = np.argsort(ref.means_[:, 0]), np.argsort(gm.means_[:, 0])
    np.testing.assert_allclose(gm.means_[order_g], ref.means_[order_r], atol=0.2)
    np.testing.assert_allclose(gm.weights_[order_g], ref.weights_[order_r], atol=0.02)
    full_r = get_covariance_type(ct).to_full(ref.covariances_, 2, 3)[order_r]
    full_g = get_covariance_type(ct).to_full(gm.covariances_, 2, 3)[order_g]
    np.testing.assert_allclose(full_g, full_r, atol=0.35)
    # the same clusters
    agree = np.mean(np.argsort(order_g)[gm.predict(Xm)] == np.argsort(order_r)[ref.predict(X)])
    assert agree > 0.97


def test_closer_to_the_complete_fit_than_dropping_rows():
    X = _two_clusters(300, seed=6)
    ref = GaussianMixture(2, random_state=0, n_init=1).fit(X)

    def err(gm):
        o, r = np.argsort(gm.means_[:, 0]), np.argsort(ref.means_[:, 0])
        return np.abs(gm.means_[o] - ref.means_[r]).max() + np.abs(gm.covariances_[o] - ref.covariances_[r]).max()

    for frac in (0.1, 0.3):
        Xm = _mcar(X, frac, seed=7)
        ours = GaussianMixture(2, random_state=0, missing="marginalize", n_init=1).fit(Xm)
        dropped = GaussianMixture(2, random_state=0, n_init=1).fit(Xm[~np.isnan(Xm).any(axis=1)])
        assert err(ours) < err(dropped)


def test_predictions_on_rows_with_nan():
    X = _two_clusters(100, seed=1)
    Xm = _mcar(X, 0.2, seed=2)
    Xm[5] = np.nan
    gm = GaussianMixture(2, random_state=0, missing="marginalize", n_init=1).fit(Xm)
    proba = gm.predict_proba(Xm)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[5], gm.weights_, rtol=1e-12)  # nothing observed
    assert gm.score_samples(Xm)[5] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_array_equal(gm.predict(Xm), proba.argmax(axis=1))
    labels = GaussianMixture(2, random_state=0, missing="marginalize", n_init=1).fit_predict(Xm)
    np.testing.assert_array_equal(labels, gm.predict(Xm))
    # complete rows: exactly the kernel's numbers
    full_rows = ~np.isnan(Xm).any(axis=1)
    ref = estimate_log_gaussian_prob(Xm[full_rows], gm.means_, gm.precisions_cholesky_,
                                     gm._covariance_model) + np.log(gm.weights_)
    wlp = weighted_log_prob(Xm, gm.means_, gm.precisions_cholesky_, gm._covariance_model,
                            np.log(gm.weights_))
    np.testing.assert_array_equal(wlp[full_rows], ref)
    # BIC and ICL on the observed-data likelihood
    n = Xm.shape[0]
    assert gm.bic(Xm) == pytest.approx(-2 * gm.score_samples(Xm).sum() + gm._n_parameters() * np.log(n))
    assert gm.icl(Xm) >= gm.bic(Xm)


def test_integer_weights_are_repeated_rows_with_nan():
    X = _mcar(_two_clusters(40, seed=2), 0.2, seed=3)
    reps = np.random.default_rng(0).integers(1, 4, X.shape[0])
    # converged far enough that where each fit stops (their sums round differently, so
    # one may take an iteration more) does not show: at tol 1e-10 one stopped at 21, the
    # other at 22 iterations, 3e-7 apart in the means (numpy 2.5)
    kw = dict(random_state=0, missing="marginalize", tol=1e-13, max_iter=5000,
              means_init=[[0, 0, 0], [6, 6, 0]])
    a = GaussianMixture(2, **kw).fit(X, sample_weight=reps)
    b = GaussianMixture(2, **kw).fit(np.repeat(X, reps, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, atol=1e-7)
    np.testing.assert_allclose(a.covariances_, b.covariances_, atol=1e-7)


def test_mean_impute_and_patterns():
    X = np.array([[1.0, np.nan, 2.0], [np.nan, np.nan, 4.0], [3.0, 5.0, np.nan]])
    np.testing.assert_array_equal(mean_impute(X), [[1, 5, 2], [2, 5, 4], [3, 5, 3]])
    groups = MissingPatterns(X).groups
    assert sorted(r.tolist() for r, _, _ in groups) == [[0], [1], [2]]
    assert MissingPatterns(X).n_incomplete == 3


def test_docstring_examples_run():
    import doctest

    import bayesgmm.em._missing as mod

    res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0


# ---------------------------------------------------------------- Bayesian side
def test_build_model_log_likelihood_is_the_sum_of_scipy_marginals():
    """The PyMC model with missing values: each row's likelihood is the mixture of the
    scipy marginals of its observed coordinates, at a random point of the posterior."""
    import pymc  # noqa: F401

    from bayesgmm.model import build_model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 2))
    X[rng.random(X.shape) < 0.3] = np.nan
    X[0] = np.nan  # nothing observed: adds nothing
    assert np.isnan(X[1:]).any(axis=1).sum() >= 2
    m = build_model(X, 2, "full", missing="marginalize")
    assert "X" in m.named_vars and "X_pattern_1" in m.named_vars
    outs = m.replace_rvs_by_values(
        [m.logp(vars=m.observed_RVs, sum=True), m["weights"], m["means"], m["covariances"]]
    )
    f = m.compile_fn(outs, inputs=m.value_vars, mode="FAST_COMPILE", on_unused_input="ignore")
    point = {k: v + rng.normal(scale=0.5, size=np.shape(v)) for k, v in m.initial_point().items()}
    ll, w, mu, cov = f(point)
    ref = 0.0
    for x in X:
        o = ~np.isnan(x)
        if o.any():
            ref += np.logaddexp.reduce([
                np.log(w[k]) + stats.multivariate_normal(mu[k, o], cov[k][np.ix_(o, o)]).logpdf(x[o])
                for k in range(2)
            ])
    assert ll == pytest.approx(ref, rel=1e-10)
    with pytest.raises(ValueError, match='missing="marginalize"'):
        build_model(X, 2, "full")


def test_posterior_memberships_with_nan_are_the_brute_force_ones():
    from bayesgmm.posterior import membership_summary, pointwise_log_likelihood

    rng = np.random.default_rng(1)
    C, S, K, D = 2, 3, 2, 3
    w = rng.dirichlet(np.ones(K), size=(C, S))
    mu = rng.normal(scale=2, size=(C, S, K, D))
    A = rng.normal(size=(C, S, K, D, D))
    cov = A @ np.swapaxes(A, -1, -2) + np.eye(D)
    import xarray as xr

    post = xr.Dataset({
        "weights": (("chain", "draw", "component"), w),
        "means": (("chain", "draw", "component", "feature"), mu),
        "covariances": (("chain", "draw", "component", "feature", "feature_bis"), cov),
    })
    X = _mcar(rng.normal(scale=2, size=(6, D)), 0.4, seed=2)
    with pytest.raises(ValueError, match="NaN"):
        membership_summary(post, X)
    got = membership_summary(post, X, missing="marginalize")["probability"].values
    ll = pointwise_log_likelihood(post, X, missing="marginalize").transpose("chain", "draw", "obs").values
    ref_p = np.zeros((X.shape[0], K))
    for n, x in enumerate(X):
        o = ~np.isnan(x)
        for c in range(C):
            for s in range(S):
                lp = np.array([np.log(w[c, s, k]) + (stats.multivariate_normal(
                    mu[c, s, k, o], cov[c, s, k][np.ix_(o, o)]).logpdf(x[o]) if o.any() else 0.0)
                    for k in range(K)])
                ref_p[n] += np.exp(lp - np.logaddexp.reduce(lp)) / (C * S)
                assert ll[c, s, n] == pytest.approx(np.logaddexp.reduce(lp), rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(got, ref_p, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_bayesian_fit_with_missing_values_recovers_the_clusters(tmp_path):
    """A small BayesianGMM fit on data with NaN (the PyMC-model path, ADVI to keep it
    short): it runs, recovers the two clusters, and every row -- one with nothing
    observed -- gets memberships from its observed coordinates."""
    from bayesgmm import BayesianGMM

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal([0, 0], 0.7, (20, 2)), rng.normal([5, 5], 0.7, (20, 2))]
    y = np.r_[np.zeros(20), np.ones(20)]
    Xm = _mcar(X, 0.2, seed=3)
    Xm[7] = np.nan
    with pytest.raises(ValueError, match='missing="marginalize"'):
        BayesianGMM(2).fit(Xm)
    m = BayesianGMM(2, covariance_type="diag", missing="marginalize", method="advi", draws=50,
                    chains=1, progressbar=False, random_state=0,
                    sampler_kwargs={"n": 300, "compile_kwargs": {"mode": "FAST_COMPILE"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 50 draws of a short ADVI: diagnostics are not the point
        m.fit(Xm)
    mem = m.membership()
    lab = mem["assignment"].values
    assert max(np.mean(lab == y), np.mean(lab != y)) >= 0.95
    np.testing.assert_allclose(mem["probability"].values[7], m.idata_.posterior["weights"].mean(
        ("chain", "draw")).values, atol=1e-9)  # nothing observed: the weights
    means = np.sort(m.idata_.posterior["means"].mean(("chain", "draw")).values[:, 0])
    np.testing.assert_allclose(means, [0.0, 5.0], atol=0.6)
    proba = m.predict_proba(Xm)
    np.testing.assert_allclose(proba, mem["probability"].values, atol=1e-12)
    assert np.isfinite(m.score_samples(Xm)).all()
    assert np.isfinite(m.idata_["log_likelihood"]["X"].values).all()
    m.save(tmp_path / "fit.nc")
    back = BayesianGMM.load(tmp_path / "fit.nc")
    assert back.missing == "marginalize"
    np.testing.assert_allclose(back.predict_proba(Xm), proba)


@pytest.mark.parametrize("ct", ["full", "diag", "tied", "spherical", "EII", "EEI"])
def test_map_prior_with_missing_values(ct):
    """prior= and missing="marginalize" together: the observed-data log posterior never
    decreases, and without NaN the fit is the prior fit of complete data."""
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(100, 3)), rng.normal(size=(100, 3)) + 4]
    full = GaussianMixture(2, covariance_type=ct, prior="default", n_init=1, random_state=0)
    same = GaussianMixture(2, covariance_type=ct, prior="default", n_init=1, random_state=0,
                           missing="marginalize")
    np.testing.assert_array_equal(full.fit(X).means_, same.fit(X).means_)
    X[rng.random(X.shape) < 0.15] = np.nan
    g = GaussianMixture(2, covariance_type=ct, prior="default", missing="marginalize",
                        n_init=1, random_state=0, tol=1e-10, max_iter=300).fit(X)
    assert np.all(np.diff(g.lower_bounds_) > -1e-10)
    assert sorted(np.round(g.means_[:, 0])) == [0.0, 4.0]
