"""mclust's fourteen covariance models (EII ... VVV) in EM.

Reference values come from R mclust 6.0 itself (``benchmarks/mclust/solutions.R``
wrote ``tests/data/mclust_solutions.csv`` and ``tests/data/mclust_nparams.csv``;
the whole grid of four data sets, fourteen models and G = 1..9 is
``benchmarks/mclust/from_solution.py``'s, against ``solutions_all.R``'s table).
"""

from __future__ import annotations

import csv
import pickle
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from bayesgmm import GaussianMixture, _kernels
from bayesgmm.covariance import (
    COVARIANCE_TYPES,
    EM_COVARIANCE_TYPES,
    FULL_MATRICES,
    MCLUST_MODELS,
    get_covariance_type,
)
from bayesgmm.covariance import _decomposition as dec
from bayesgmm.exceptions import ConvergenceWarning

DATA = Path(__file__).parent / "data"
BENCH = Path(__file__).parent.parent / "benchmarks" / "mclust" / "data"
NEW_MODELS = [m for m in MCLUST_MODELS if not get_covariance_type(m).has_bayesian_model]


def _solutions():
    cells = defaultdict(lambda: defaultdict(list))
    logliks = {}
    with open(DATA / "mclust_solutions.csv") as f:
        for r in csv.DictReader(f):
            key = (r["dataset"], r["model"], int(r["G"]))
            cells[key][r["what"]].append(float(r["value"]))
            logliks[key] = float(r["loglik"])
    out = {}
    for key, vals in cells.items():
        G = key[2]
        pro = np.array(vals["pro"])
        mean = np.array(vals["mean"]).reshape(G, -1)  # R's column-major d x G
        d = mean.shape[1]
        sigma = np.array(vals["sigma"]).reshape(G, d, d)  # d x d x G column-major
        out[key] = (pro, mean, np.swapaxes(sigma, 1, 2), logliks[key])
    return out


SOLUTIONS = _solutions()
CELLS = sorted(SOLUTIONS)


def _data(name):
    return np.loadtxt(BENCH / f"{name}.csv", delimiter=",", skiprows=1)


def test_fixture_covers_every_model():
    assert {m for _, m, _ in CELLS} == set(MCLUST_MODELS)
    assert {d for d, _, _ in CELLS} == {"faithful", "iris", "banknote", "diabetes"}
    assert len(CELLS) == 112


# ------------------------------------------------------------------ registry
def test_registry_names_and_aliases():
    assert COVARIANCE_TYPES == ("full", "tied", "diag", "spherical")
    assert len(MCLUST_MODELS) == 14 and len(set(MCLUST_MODELS)) == 14
    assert EM_COVARIANCE_TYPES == COVARIANCE_TYPES + MCLUST_MODELS
    for sk, mc in zip(COVARIANCE_TYPES, ("VVV", "EEE", "VVI", "VII")):
        assert get_covariance_type(mc) is get_covariance_type(sk)
        assert get_covariance_type(sk).mclust_name == mc
    for m in MCLUST_MODELS:
        ct = get_covariance_type(m)
        assert ct.mclust_name == m
        assert pickle.loads(pickle.dumps(ct)) is ct
    with pytest.raises(ValueError, match="mclust's"):
        get_covariance_type("VVX")


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_n_parameters_equal_mclust(model):
    ct = get_covariance_type(model)
    with open(DATA / "mclust_nparams.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["model"] == model]
    assert len(rows) == 16
    for r in rows:
        G, d = int(r["G"]), int(r["d"])
        assert ct.n_parameters(G, d) == int(r["n_parameters"]), (model, G, d)


@pytest.mark.parametrize("model", NEW_MODELS)
def test_bayesian_methods_refuse_clearly(model):
    ct = get_covariance_type(model)
    assert not ct.has_bayesian_model
    for call in (
        lambda: ct.pymc_prior(2, 2, None),
        lambda: ct.unconstrained_blocks(2, 2),
        lambda: ct.chol_from_unconstrained(np.zeros(3), 2, 2),
        lambda: ct.unconstrained_from_covariances(np.eye(2)[None], 1, 2),
        lambda: ct.log_prior_and_grad(np.eye(2)[None], np.eye(2)[None], None),
    ):
        with pytest.raises(NotImplementedError, match="'full', 'tied', 'diag', 'spherical'"):
            call()


# ------------------------------------------------------------------ against mclust
@pytest.mark.parametrize("cell", CELLS, ids=["-".join(map(str, c)) for c in CELLS])
def test_mclust_solution_is_a_member_and_scores_equal(cell):
    """mclust's covariances satisfy our model's constraint (the projection keeps
    them) and our log-likelihood at mclust's parameters is mclust's."""
    name, model, G = cell
    pro, mean, sigma, loglik = SOLUTIONS[cell]
    X = _data(name)
    ct = get_covariance_type(model)
    layout = ct.from_full(sigma)
    assert layout.shape == ct.covariance_shape(G, X.shape[1])
    np.testing.assert_allclose(ct.to_full(layout, G, X.shape[1]), sigma, rtol=1e-6, atol=1e-9)
    ll = _kernels.mixture_log_likelihood(
        X, mean, FULL_MATRICES.precision_cholesky(sigma), FULL_MATRICES, np.log(pro)
    ).sum()
    assert ll == pytest.approx(loglik, rel=1e-10)


@pytest.mark.parametrize("cell", CELLS, ids=["-".join(map(str, c)) for c in CELLS])
def test_em_from_mclust_solution_stays_there(cell):
    """Our EM started at mclust's solution (no regularisation) ends at mclust's
    log-likelihood: within 1e-7 relative (mclust's default EM tolerance is 1e-5).

    Except VVE with G > 1, where ours goes higher: mclust's VVE M-step (``mevve`` in
    src/mclust2.f) updates the common orientation with the bound of
    ``sum_k tr(W_k D A_k^{-1} D^T)``, leaving out the volumes ``1/lambda_k``
    (right for EVE, not for VVE), so its fixed point is not a maximum of the
    likelihood; ours stays a member of VVE (common eigenvectors) and is higher.
    """
    name, model, G = cell
    pro, mean, sigma, loglik = SOLUTIONS[cell]
    X = _data(name)
    ct = get_covariance_type(model)
    gm = GaussianMixture(
        n_components=G, covariance_type=model, weights_init=pro, means_init=mean,
        precisions_init=ct.covariances_from_precisions(ct.from_full(sigma)),
        reg_covar=0.0, tol=1e-10, max_iter=5 if model == "VVE" and G > 1 else 50,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # VVE: 5 iterations suffice here
        gm.fit(X)
    ours = gm.score(X) * X.shape[0]
    full = ct.to_full(gm.covariances_, G, X.shape[1])
    if model == "VVE" and G > 1:
        assert ours > loglik + 0.05
        _assert_common_orientation(full)
        return
    assert ours == pytest.approx(loglik, rel=1e-7, abs=1e-7)
    np.testing.assert_allclose(full, sigma, rtol=1e-3, atol=1e-6)


def _assert_common_orientation(full):
    """Symmetric matrices share their eigenvectors iff they commute."""
    scale = np.max(np.abs(full)) ** 2
    for a in full:
        for b in full:
            np.testing.assert_allclose(a @ b, b @ a, atol=1e-8 * scale)


# ------------------------------------------------------------------ EM properties
def _three_clusters(d=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * d, [4.0] + [0.0] * (d - 1), [0.0, 4.0] + [1.0] * (d - 2)])
    scales = [np.diag(np.linspace(0.5, 1.5, d)), np.eye(d) * 0.7, np.diag(np.linspace(1.2, 0.4, d))]
    rot, _ = np.linalg.qr(rng.normal(size=(d, d)))
    X = np.vstack([rng.normal(size=(40, d)) @ s @ rot + c for s, c in zip(scales, centres)])
    return X


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_em_log_likelihood_never_decreases(model):
    """Each E-step + M-step (with regularisation) raises the log-likelihood or keeps it."""
    X = _three_clusters()
    ct = get_covariance_type(model)
    K = 3
    resp = np.zeros((X.shape[0], K))
    resp[np.arange(X.shape[0]), np.arange(X.shape[0]) % K] = 1.0  # a poor start
    stats = _kernels.accumulate_statistics(X, ct, resp=resp)
    trace = []
    covs = None
    for _ in range(25):
        # as the EM engine: the iterative M-steps (EVE, VVE) start at the previous covariances
        nk, means, covs = ct.m_step_from(stats, 1e-6, covs)
        prec = ct.precision_cholesky(covs)
        stats = _kernels.accumulate_statistics(
            X, ct, means=means, precisions_chol=prec, log_weights=np.log(nk / nk.sum())
        )
        trace.append(stats.loglik)
    steps = np.diff(trace)
    assert np.all(steps >= -1e-9 * abs(trace[-1])), (model, steps.min())
    assert trace[-1] > trace[0]


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_m_step_satisfies_constraint_and_beats_alternatives(model):
    """The M-step's covariances are members of the model (projection keeps them),
    and no member tried (the constrained fits of random responsibilities, the
    nested models' solutions) has a smaller M-step objective."""
    X = _three_clusters(d=4, seed=1)
    ct = get_covariance_type(model)
    K, D = 3, X.shape[1]
    rng = np.random.default_rng(2)
    resp = rng.dirichlet(np.ones(K), size=X.shape[0])
    stats = _kernels.accumulate_statistics(X, ct, resp=resp)
    nk, means, covs = ct.m_step(stats, 0.0)
    full = ct.to_full(covs, K, D)
    np.testing.assert_allclose(ct.to_full(ct.from_full(full), K, D), full, rtol=1e-7, atol=1e-10)
    S = FULL_MATRICES.m_step(_kernels.accumulate_statistics(X, FULL_MATRICES, resp=resp), 0.0)[2]
    best = dec.objective(nk, S, full)
    others = [get_covariance_type(m) for m in ("EII", "EEI", "EEE")]
    for other in [ct] + others:
        for _ in range(3):
            r2 = rng.dirichlet(np.ones(K), size=X.shape[0])
            c2 = ct.from_full(other.to_full(other.m_step(
                _kernels.accumulate_statistics(X, other, resp=r2), 0.0)[2], K, D))
            assert best <= dec.objective(nk, S, ct.to_full(c2, K, D)) + 1e-9 * abs(best)


@pytest.mark.parametrize("model", NEW_MODELS)
def test_fit_shapes_predict_sample_round_trip(model):
    X = _three_clusters()
    gm = GaussianMixture(n_components=3, covariance_type=model, n_init=1, random_state=0).fit(X)
    ct = get_covariance_type(model)
    assert gm.covariances_.shape == ct.covariance_shape(3, 3)
    assert gm.precisions_cholesky_.shape == ct.covariance_shape(3, 3)
    assert gm.predict_proba(X).shape == (X.shape[0], 3)
    assert gm._n_parameters() == ct.n_parameters(3, 3)
    assert np.isfinite(gm.bic(X))
    Xs, ys = gm.sample(50)
    assert Xs.shape == (50, 3) and ys.shape == (50,)
    assert gm.covariance_type == model
    # the fitted covariances are members of the model
    full = ct.to_full(gm.covariances_, 3, 3)
    if model[2] == "E":  # one orientation
        _assert_common_orientation(full)
    np.testing.assert_allclose(ct.to_full(ct.from_full(full), 3, 3), full, rtol=1e-6, atol=1e-9)


def test_aliases_fit_identically():
    X = _three_clusters()
    for sk, mc in zip(COVARIANCE_TYPES, ("VVV", "EEE", "VVI", "VII")):
        a = GaussianMixture(n_components=3, covariance_type=sk, n_init=2, random_state=0).fit(X)
        b = GaussianMixture(n_components=3, covariance_type=mc, n_init=2, random_state=0).fit(X)
        np.testing.assert_array_equal(a.covariances_, b.covariances_)
        assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-14, abs=0)  # 1 ulp: see test_em.py


# ------------------------------------------------------------------ refusals, selection
@pytest.mark.parametrize("model", ["VEV", "EVI"])
def test_bayesian_gmm_refuses_em_only_models_at_fit(model):
    from bayesgmm import BayesianGMM

    X = _three_clusters()
    with pytest.raises(ValueError, match="offered by EM only"):
        BayesianGMM(n_components=2, covariance_type=model).fit(X)


def test_select_components_refuses_em_only_models_for_bayesian_methods():
    from bayesgmm import select_components

    with pytest.raises(ValueError, match="has no Bayesian model"):
        select_components(_three_clusters(), [1, 2], covariance_types=("full", "VEV"),
                          method="loo", progressbar=False)
    with pytest.raises(ValueError, match="'mclust'"):
        select_components(_three_clusters(), [1, 2], covariance_types=("XYZ",), progressbar=False)


def test_select_components_over_mclust_models_tables():
    from bayesgmm import select_components

    X = _data("iris")
    res = select_components(X, [2, 3], covariance_types="mclust", n_init=1,
                            progressbar=False, random_state=0)
    # mclust's BIC choice on iris (Mclust(iris[, 1:4]): VEV, 2)
    assert (res.n_components, res.covariance_type) == (2, "VEV")
    table = res.mclust_table()
    assert list(table.columns) == list(MCLUST_MODELS) and list(table.index) == [2, 3]
    ll = res.table["log_likelihood"].sel(n_components=2, covariance_type="VEV").item()
    p = get_covariance_type("VEV").n_parameters(2, 4)
    assert table.loc[2, "VEV"] == pytest.approx(2 * ll - p * np.log(X.shape[0]))
    best = res.best_per_n_components()
    assert best.loc[2, "mclust_name"] == "VEV"
    assert best.loc[2, "bic_mclust"] == pytest.approx(table.loc[2].max())
    # aliases are one model: fitted once
    res2 = select_components(X, [2], covariance_types=("full", "VVV", "EII"), n_init=1,
                             progressbar=False, random_state=0)
    assert list(res2.table["covariance_type"].to_numpy()) == ["full", "EII"]
    assert list(res2.mclust_table().columns) == ["VVV", "EII"]


def test_bic_plot_over_fourteen_models_distinguishes_every_model():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bayesgmm import plots, select_components

    res = select_components(_three_clusters(), [1, 2], covariance_types="mclust", n_init=1,
                            progressbar=False, random_state=0)
    ax = plots.selection(res, criterion="bic_mclust")
    curves = ax.lines[:14]
    assert len(ax.lines) == 15  # fourteen models and the star
    assert len({(c.get_color(), c.get_marker()) for c in curves}) == 14
    assert [c.get_label() for c in curves] == [str(c) for c in res.table["covariance_type"].to_numpy()]
    plt.close(ax.figure)


@pytest.mark.parametrize("model", ["EII", "EEI"])
def test_bayesian_fit_of_eii_eei_keeps_the_constraint_in_every_draw(model):
    from bayesgmm import BayesianGMM

    X = _three_clusters()[:80]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny run: R-hat / ESS warnings expected
        m = BayesianGMM(2, covariance_type=model, random_state=0).fit(
            X, draws=10, tune=10, chains=1, progressbar=False)
    cov = m.idata_.posterior["covariances"].to_numpy()  # (chain, draw, K, D, D)
    np.testing.assert_allclose(cov[:, :, 0], cov[:, :, 1], rtol=1e-12)  # equal across components
    off = cov * (1 - np.eye(3))
    assert np.all(off == 0)  # diagonal
    if model == "EII":
        diag = np.diagonal(cov, axis1=-2, axis2=-1)
        np.testing.assert_allclose(diag, diag[..., :1] * np.ones(3), rtol=1e-12)


@pytest.mark.parametrize("model", NEW_MODELS[:4] + ["VEV", "EVE"])
def test_make_mixture_of_a_model_and_recovery(model):
    from bayesgmm.datasets import make_mixture

    ct = get_covariance_type(model)
    d = make_mixture(400, n_components=2, n_features=3, covariance_type=model, random_state=0)
    full = ct.to_full(d.covariances, 2, 3)
    np.testing.assert_allclose(ct.to_full(ct.from_full(full), 2, 3), full, rtol=1e-7, atol=1e-12)
    gm = GaussianMixture(2, covariance_type=model, n_init=1, random_state=0).fit(d.X)
    # the fitted model is at least as likely as the truth's (it is the maximum)
    truth = _kernels.mixture_log_likelihood(
        d.X, d.means, FULL_MATRICES.precision_cholesky(full), FULL_MATRICES, np.log(d.weights)
    ).sum()
    assert gm.score(d.X) * d.X.shape[0] >= truth - 1e-6


@pytest.mark.parametrize("model", ["VEI", "VEE", "VEV"])
def test_warm_started_alternating_m_steps_reach_the_cold_fixed_point(model, monkeypatch):
    """VEI, VEE and VEV start their alternating iterations at the previous volumes
    (``m_step_from``): from a far start and from a near one they reach the cold
    start's minimum, and from the minimum itself (EM near convergence) in two
    inner iterations, fewer than cold."""
    X = _three_clusters(d=4, seed=3)
    ct = get_covariance_type(model)
    K, D = 3, X.shape[1]
    rng = np.random.default_rng(4)
    resp = rng.dirichlet(np.ones(K), size=X.shape[0])
    stats = _kernels.accumulate_statistics(X, ct, resp=resp)
    calls = {"n": 0}
    real = dec._converged

    def counting(old, new):
        calls["n"] += 1
        return real(old, new)

    monkeypatch.setattr(dec, "_converged", counting)
    cold = ct.m_step(stats, 1e-6)[2]
    n_cold = calls["n"]
    full = ct.to_full(cold, K, D)
    far = ct.from_full(full * np.array([50.0, 1.0, 1e-3])[:, None, None])  # volumes off by 1e5
    near_resp = 0.9 * resp + 0.1 * rng.dirichlet(np.ones(K), size=X.shape[0])
    near = ct.m_step(_kernels.accumulate_statistics(X, ct, resp=near_resp), 1e-6)[2]
    for previous in (far, near, cold):
        calls["n"] = 0
        warm = ct.m_step_from(stats, 1e-6, previous)[2]
        np.testing.assert_allclose(warm, cold, rtol=1e-7, atol=1e-12)
        if previous is cold:
            assert calls["n"] == 2 < n_cold, (calls["n"], n_cold)
    assert dec.volumes_of(None, K) is None and dec.volumes_of(cold[:2], K) is None
    np.testing.assert_allclose(ct.m_step_from(stats, 1e-6, cold[:2])[2], cold)  # wrong K: a cold start


@pytest.mark.parametrize("model", ["VEI", "VEE", "VEV"])
def test_em_with_warm_m_steps_equals_em_with_cold_ones(model, monkeypatch):
    X = _data("iris")
    kw = dict(n_init=1, tol=1e-10, max_iter=2000, random_state=0)
    warm = GaussianMixture(2, covariance_type=model, **kw).fit(X)
    monkeypatch.setattr(dec, "volumes_of", lambda *a: None)
    cold = GaussianMixture(2, covariance_type=model, **kw).fit(X)
    assert warm.lower_bound_ == pytest.approx(cold.lower_bound_, rel=1e-10)
    for a in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(warm, a), getattr(cold, a), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("equal_volume", [False, True])
def test_compiled_common_orientation_equals_the_numpy_loop(equal_volume):
    """EVE/VVE's M-step: the compiled inner iterations reach the numpy loop's minimum
    (the same objective to 1e-11, the same covariances to 1e-5 relative: both stop at
    a relative change of the objective of 1e-12), cold and warm started, over
    scales from 1e-6 to 1e6 and D = 1..6."""
    from bayesgmm.covariance import _decomposition as dec

    rng = np.random.default_rng(11)
    for trial in range(60):
        K, d = int(rng.integers(1, 6)), int(rng.integers(1, 7))
        A = rng.normal(size=(K, d, d))
        S = A @ A.transpose(0, 2, 1) / d + 1e-3 * np.eye(d)
        S = S * 10.0 ** rng.uniform(-6, 6, size=(K, 1, 1))
        nk = rng.uniform(1.0, 50.0, size=K)
        start = np.linalg.qr(rng.normal(size=(d, d)))[0] if trial % 2 else None
        want = dec._common_orientation_numpy(nk, S, equal_volume, start)
        got = dec.common_orientation(nk, S, equal_volume, start)
        ow, og = dec.objective(nk, S, want), dec.objective(nk, S, got)
        assert og <= ow + 1e-11 * max(1.0, abs(ow)), (trial, og, ow)
        assert abs(og - ow) <= 1e-11 * max(1.0, abs(ow)), (trial, og, ow)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
        # the constraint: one orientation shared by all components
        _assert_common_orientation(got)
