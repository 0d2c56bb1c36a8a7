"""The uniform noise component (Banfield & Raftery 1993, as R mclust): EM
(bayesgmm.em._noise, GaussianMixture(noise=True)), the numpy density and the PyMC
model (noise_hypervolume=), and sampling it."""

import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.stats import multivariate_normal

import bayesgmm as bg
from bayesgmm._logdensity import MixtureDensity
from bayesgmm.em._noise import hypervolume, nn_clean
from bayesgmm.exceptions import PerformanceWarning

TRUE_MEANS = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.0]])


def _contaminated(seed=0, n=150, frac=0.1):
    """3 Gaussian clusters and ``frac`` uniform outliers on a box 3 units wider."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.multivariate_normal(m, 0.8 * np.eye(2), n) for m in TRUE_MEANS])
    n_out = int(round(frac * X.shape[0] / (1 - frac)))
    out = rng.uniform(X.min(0) - 3, X.max(0) + 3, size=(n_out, 2))
    return np.r_[X, out], np.r_[np.zeros(X.shape[0], bool), np.ones(n_out, bool)]


def _mean_error(means):
    """Largest distance of a true mean to its nearest fitted mean."""
    d = np.linalg.norm(TRUE_MEANS[:, None, :] - np.asarray(means)[None, :, :], axis=-1)
    return float(d.min(axis=1).max())


# ------------------------------------------------------------------ hypervolume, start
def test_hypervolume_is_mclusts_hypvol():
    """min(box along the axes, box along the principal components), as mclust's hypvol."""
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(200, 3)) * [3.0, 1.0, 0.2]
    R = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    for X in (Z, Z @ R.T):  # axis-aligned: the box; rotated: the PC box is smaller
        box = np.prod(X.max(0) - X.min(0))
        Xc = X - X.mean(0)
        vecs = np.linalg.svd(Xc, full_matrices=False)[2].T
        U = Xc @ vecs
        pc = np.prod(U.max(0) - U.min(0))
        V, kind = hypervolume(X)
        assert V == pytest.approx(min(box, pc), rel=1e-9)
        assert kind == ("box" if box <= pc else "principal-components box")
    assert hypervolume(Z @ R.T)[1] == "principal-components box"
    assert hypervolume(np.array([[1.0], [4.0], [2.0]])) == (3.0, "box")


def test_nn_clean_flags_planted_outliers():
    X, is_out = _contaminated(seed=1)
    flags = nn_clean(X)
    assert flags[is_out].mean() > 0.7
    assert flags[~is_out].mean() < 0.15  # the sparse edges of the clusters, then EM decides


# ------------------------------------------------------------------------------ EM
def test_em_noise_fit_is_consistent():
    X, is_out = _contaminated(seed=2)
    gm = bg.GaussianMixture(3, noise=True, n_init=2, random_state=0).fit(X)
    assert gm.weights_.sum() + gm.noise_weight_ == pytest.approx(1.0)
    assert 0.05 < gm.noise_weight_ < 0.2
    assert gm.noise_hypervolume_ == pytest.approx(hypervolume(X)[0])
    # EM never decreases the (noise) log-likelihood
    assert np.all(np.diff(gm.lower_bounds_) > -1e-10)
    # score_samples: log(pi_0 / V + sum_k pi_k N_k), by scipy
    dens = sum(w * multivariate_normal(m, c).pdf(X) for w, m, c in zip(gm.weights_, gm.means_, gm.covariances_))
    brute = np.log(dens + gm.noise_weight_ / gm.noise_hypervolume_)
    np.testing.assert_allclose(gm.score_samples(X), brute, rtol=1e-10)
    assert gm.score(X) == pytest.approx(gm.lower_bounds_[-1], abs=1e-3)
    # responsibilities: K + 1 columns, noise last; labels -1 where noise wins
    P = gm.predict_proba(X)
    assert P.shape == (X.shape[0], 4)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_allclose(P[:, 3], gm.noise_weight_ / gm.noise_hypervolume_ / np.exp(brute), rtol=1e-9)
    lab = gm.predict(X)
    np.testing.assert_array_equal(lab, np.where(P.argmax(1) == 3, -1, P.argmax(1)))
    np.testing.assert_array_equal(gm.fit_predict(X), gm.predict(X))
    assert (lab[is_out] == -1).mean() > 0.7 and (lab[~is_out] == -1).mean() < 0.05
    # BIC: mclust's nMclustParams(noise = TRUE) = the Gaussians' + 2 (proportion, Vinv)
    base = bg.GaussianMixture(3, n_init=1, random_state=0).fit(X)
    assert gm._n_parameters() == base._n_parameters() + 2
    assert gm.bic(X) == pytest.approx(-2 * gm.score_samples(X).sum() + (base._n_parameters() + 2) * np.log(X.shape[0]))
    assert gm.icl(X) >= gm.bic(X)
    # samples: noise rows labelled -1, inside the hypervolume's box
    Xs, ys = gm.sample(2000)
    assert Xs.shape == (2000, 2) and set(np.unique(ys)) == {-1, 0, 1, 2}
    assert abs((ys == -1).mean() - gm.noise_weight_) < 0.03


def test_noise_component_recovers_the_clusters_from_contaminated_data():
    """3 clusters + 10% uniform outliers: the noise model's means are closer to the truth
    (about as close as a fit to the clean points alone), its covariances not inflated,
    its partition better (ARI with the outliers as a class of their own)."""
    from sklearn.metrics import adjusted_rand_score

    for seed in (4, 5, 6):
        X, is_out = _contaminated(seed=seed)
        plain = bg.GaussianMixture(3, n_init=1, random_state=0).fit(X)
        noisy = bg.GaussianMixture(3, noise=True, n_init=1, random_state=0).fit(X)
        clean = bg.GaussianMixture(3, n_init=1, random_state=0).fit(X[~is_out])
        assert _mean_error(noisy.means_) < _mean_error(plain.means_)
        assert _mean_error(noisy.means_) < _mean_error(clean.means_) + 0.05
        # the largest fitted variance: 0.8 is the truth; the outliers inflate the plain fit's
        assert np.linalg.eigvalsh(noisy.covariances_).max() < 1.2
        assert np.linalg.eigvalsh(plain.covariances_).max() > 2.0
        truth = np.where(is_out, -1, np.repeat(np.arange(4), [150, 150, 150, is_out.sum()]))
        assert adjusted_rand_score(truth, noisy.predict(X)) > adjusted_rand_score(truth, plain.predict(X))


def test_noise_init_mask_and_given_hypervolume():
    X, is_out = _contaminated(seed=5)
    gm = bg.GaussianMixture(3, noise=True, noise_init=is_out, noise_hypervolume=500.0,
                            n_init=1, random_state=0).fit(X)
    assert gm.noise_hypervolume_ == 500.0 and gm.noise_hypervolume_kind_ == "given"
    assert _mean_error(gm.means_) < 0.3
    # the default is unchanged by the noise parameters being present but off
    a = bg.GaussianMixture(3, n_init=1, random_state=0).fit(X)
    b = bg.GaussianMixture(3, n_init=1, random_state=0, noise=False).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert not hasattr(b, "noise_weight_") and b.predict_proba(X).shape == (X.shape[0], 3)


def test_noise_parameters_are_validated():
    X, is_out = _contaminated(seed=6, n=20)
    with pytest.raises(ValueError, match="noise=True"):
        bg.GaussianMixture(2, noise_init=is_out).fit(X)
    with pytest.raises(ValueError, match="noise_hypervolume"):
        bg.GaussianMixture(2, noise=True, noise_hypervolume=-1.0).fit(X)
    with pytest.raises(ValueError, match="one boolean per row"):
        bg.GaussianMixture(2, noise=True, noise_init=is_out[:-1]).fit(X)
    with pytest.raises(ValueError, match="noise_init"):
        bg.GaussianMixture(2, noise=True, noise_init=[0, 1]).fit(X)
    with pytest.raises(ValueError, match="noise"):
        bg.GaussianMixture(2, noise="yes").fit(X)
    with pytest.raises(ValueError, match="fewer than"):
        bg.GaussianMixture(2, noise=True, noise_init=np.ones(X.shape[0], bool)).fit(X)
    da = pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match="in-memory"):
        bg.GaussianMixture(2, noise=True).fit(da.from_array(X, chunks=20))


def test_noise_fit_with_integer_weights_equals_repeated_rows():
    X, _ = _contaminated(seed=10, n=40)
    w = np.random.default_rng(0).integers(1, 3, X.shape[0])
    mask = np.zeros(X.shape[0], bool)
    mask[-10:] = True
    kw = dict(noise=True, noise_hypervolume=300.0, n_init=1, means_init=TRUE_MEANS, tol=1e-10, max_iter=500)
    a = bg.GaussianMixture(3, noise_init=mask, **kw).fit(X, sample_weight=w)
    b = bg.GaussianMixture(3, noise_init=np.repeat(mask, w), **kw).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, atol=1e-5)
    assert a.noise_weight_ == pytest.approx(b.noise_weight_, rel=1e-5)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-8)


def test_detect_anomalies_refuses_a_noise_fit_with_advice():
    X, _ = _contaminated(seed=9, n=30)
    gm = bg.GaussianMixture(2, noise=True, n_init=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match=r"predict\(X\) == -1"):
        bg.detect_anomalies(gm, X)


def test_noise_fit_clones_and_predicts_dask():
    from sklearn.base import clone

    X, _ = _contaminated(seed=7, n=60)
    gm = bg.GaussianMixture(2, noise=True, n_init=1, random_state=0)
    assert clone(gm).get_params()["noise"] is True
    gm.fit(X)
    da = pytest.importorskip("dask.array")
    Xd = da.from_array(X, chunks=50)
    np.testing.assert_allclose(gm.predict_proba(Xd).compute(), gm.predict_proba(X))
    np.testing.assert_array_equal(np.asarray(gm.predict(Xd).compute()), gm.predict(X))
    np.testing.assert_allclose(gm.score_samples(Xd).compute(), gm.score_samples(X))


# ------------------------------------------------------------------ Bayesian density
def _noise_data():
    rng = np.random.default_rng(0)
    return np.r_[rng.normal(size=(30, 2)) * [1.0, 2.0] + 1.0, rng.uniform(-5, 5, (6, 2))]


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied", "EEI"])
def test_noise_density_gradient_matches_finite_differences(covariance_type, monkeypatch):
    X = _noise_data()
    dens = MixtureDensity(X, 2, covariance_type, noise_hypervolume=120.0)
    assert dens.ndim == MixtureDensity(X, 2, covariance_type).ndim + 1
    rng = np.random.default_rng(1)
    from bayesgmm import _kernels

    for centred in (False, True):
        if centred:  # the accurate path, taken where the expansion would lose accuracy
            monkeypatch.setattr(_kernels, "EXPANSION_TOLERANCE", -1.0)
        x = rng.normal(scale=0.4, size=dens.ndim)
        lp, g = dens.logp_and_grad(x)
        eps = 1e-6
        fd = np.array([(dens.logp(x + eps * e) - dens.logp(x - eps * e)) / (2 * eps) for e in np.eye(dens.ndim)])
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5)
        # the likelihood part is the brute-force noise mixture
        p = dens.unpack(x)
        assert float(p["weights"].sum() + p["noise_weight"]) == pytest.approx(1.0)
        brute = np.log(
            sum(w * multivariate_normal(m, c).pdf(X) for w, m, c in zip(p["weights"], p["means"], p["covariances"]))
            + p["noise_weight"] / 120.0
        )
        np.testing.assert_allclose(
            dens.pointwise_log_likelihood(p["weights"], p["means"], p["covariances"]), brute, rtol=1e-10
        )
        lpb, gb, llb = dens.logp_and_grad_batch(np.stack([x, x]), [1.0, 0.5])
        assert lpb[0] == pytest.approx(lp) and llb[0] == pytest.approx(brute.sum())
        np.testing.assert_allclose(gb[0], g)
        # pack/unpack round trip with the noise weight
        x2 = dens.pack(p["weights"], p["means"], p["covariances"])
        np.testing.assert_allclose(dens.unpack(x2)["noise_weight"], p["noise_weight"], rtol=1e-8)


def test_noise_density_matches_the_pymc_model():
    covariance_type = "spherical"  # one type: the noise term is type-agnostic
    from bayesgmm.model import build_model
    from bayesgmm.priors import Priors

    X = _noise_data()
    pri = Priors(weights_alpha=[0.7, 2.0], lkj_eta=1.7)
    m = build_model(X, 2, covariance_type, pri, noise_hypervolume=120.0)
    dens = MixtureDensity(X, 2, covariance_type, pri, noise_hypervolume=120.0)
    assert dens.names == [v.name for v in m.value_vars]
    assert {"weights", "noise_weight"} <= set(m.named_vars)
    f, df = m.compile_logp(mode="FAST_COMPILE"), m.compile_dlogp(mode="FAST_COMPILE")
    rng = np.random.default_rng(2)
    ip = m.initial_point()
    for _ in range(2):
        point = {k: v + rng.normal(scale=0.5, size=v.shape) for k, v in ip.items()}
        x = np.concatenate([np.ravel(point[n]) for n in dens.names])
        lp, g = dens.logp_and_grad(x)
        np.testing.assert_allclose(lp, f(point), rtol=1e-11)
        np.testing.assert_allclose(g, df(point), rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="noise_hypervolume"):
        build_model(X, 2, covariance_type, noise_hypervolume=0.0)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_compiled_noise_density_equals_the_numpy_density(covariance_type):
    from bayesgmm._compiled import CompiledDensity

    X, _ = _contaminated(seed=4, n=30)
    rng = np.random.default_rng(0)
    for V in (None, 400.0):  # without the noise: unchanged
        dens = MixtureDensity(X, 3, covariance_type, noise_hypervolume=V)
        cd = CompiledDensity(dens)
        assert ("noise_weight" in cd.expanded_names) == (V is not None)
        for _ in range(3):
            x = rng.normal(scale=0.5, size=dens.ndim)
            lp, g = dens.logp_and_grad(x)
            lp_c, g_c = cd.logp_and_grad(x)
            np.testing.assert_allclose(lp_c, lp, rtol=1e-10)
            np.testing.assert_allclose(g_c, g, rtol=1e-8, atol=1e-8)
            u, e = dens.unpack(x), cd.expand(x)
            assert sorted(e) == sorted(k for k in u if k != "chol")
            for name in e:
                np.testing.assert_allclose(e[name], u[name], rtol=1e-12)


@pytest.mark.slow
def test_sampling_the_noise_model_uses_the_compiled_density():
    from bayesgmm.inference import run_inference

    X, _ = _contaminated(seed=8, n=40)
    gm = bg.GaussianMixture(3, noise=True, n_init=1, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerformanceWarning)  # no fallback to the numpy density
        warnings.simplefilter("ignore", bg.exceptions.SamplingWarning)
        tree = run_inference(X, 3, "full", init=gm, draws=30, tune=30, chains=1, random_seed=0,
                             progressbar=False, noise_hypervolume=gm.noise_hypervolume_)
    post = tree["posterior"]
    assert post["noise_weight"].dims == ("chain", "draw")
    total = post["weights"].sum("component") + post["noise_weight"]
    np.testing.assert_allclose(total, 1.0, rtol=1e-9)
    assert 0.02 < float(post["noise_weight"].mean()) < 0.3


# ------------------------------------------------------------------ BayesianGMM(noise=True)
@pytest.fixture(scope="module")
def bayes_noise_fit():
    X, is_out = _contaminated(seed=3, n=40)
    m = bg.BayesianGMM(3, covariance_type="diag", noise=True, draws=20, tune=20, chains=1,
                       n_init=1, progressbar=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bg.exceptions.SamplingWarning)
        m.fit(X)
    return m, X, is_out


def test_bayesian_noise_fit_gives_noise_memberships(bayes_noise_fit):
    m, X, is_out = bayes_noise_fit
    post = m.idata_["posterior"]
    assert post["noise_weight"].dims == ("chain", "draw")
    assert post["noise_weight"].attrs["noise_hypervolume"] == m.em_.noise_hypervolume_
    np.testing.assert_allclose(post["weights"].sum("component") + post["noise_weight"], 1.0, rtol=1e-9)
    P = m.predict_proba(X)
    assert P.shape == (X.shape[0], 4)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    lab = m.predict(X)
    # the planted outliers far from every cluster are noise, the cluster points are not
    far = is_out & (np.linalg.norm(X[:, None] - TRUE_MEANS[None], axis=-1).min(axis=1) > 3)
    assert far.sum() >= 5
    assert np.all(lab[far] == -1)
    assert np.mean(lab[~is_out] != -1) > 0.95
    assert np.mean(lab == m.em_.predict(X)) > 0.95
    mem = m.membership()
    assert mem["component"].values.tolist() == [0, 1, 2, -1]
    np.testing.assert_array_equal(mem["assignment"].values, lab)
    np.testing.assert_allclose(mem["probability"].values, P, rtol=1e-12)
    lo, hi = mem["lower"].values, mem["upper"].values
    assert np.all((0 <= lo) & (lo <= hi) & (hi <= 1))
    # the noise column's interval is over the per-draw noise probabilities
    # (20 draws: the nearest far outlier's upper bound is 0.81 with the rescaled sampler,
    # 0.93 without; 0.93 and 0.92 with 300 draws)
    assert np.all(hi[far, -1] >= P[far, -1]) and np.all(hi[far, -1] > 0.75)
    assert np.median(hi[~is_out, -1]) < 0.1
    # the anomaly summaries do not model the noise yet: a clear refusal
    with pytest.raises(ValueError, match=r"BayesianGMM with noise=True"):
        bg.detect_anomalies(m, X)


def test_bayesian_noise_fit_samples_noise_rows(bayes_noise_fit):
    m, X, _ = bayes_noise_fit
    Xs, y = m.sample(4000, random_state=1)
    w0 = float(m.idata_["posterior"]["noise_weight"].mean())
    share = np.mean(y == -1)
    assert abs(share - w0) < 4 * np.sqrt(w0 * (1 - w0) / 4000)
    offset, rot, lo, hi = m.em_._noise_fit.box
    inside = ((Xs[y == -1] - offset) @ rot - lo >= -1e-9) & ((Xs[y == -1] - offset) @ rot - hi <= 1e-9)
    assert inside.all()
    assert set(np.unique(y)) == {-1, 0, 1, 2}


@pytest.mark.slow
def test_bayesian_noise_prior_predictive_has_the_noise(bayes_noise_fit):
    m, X, _ = bayes_noise_fit
    prior = m.sample_prior_predictive(draws=5, random_seed=0)
    assert prior["prior"]["noise_weight"].shape == (1, 5)
    assert prior["prior"]["mixing_weights"].shape == (1, 5, 4)


def test_bayesian_noise_score_samples_is_the_per_draw_noise_mixture(bayes_noise_fit):
    m, X, _ = bayes_noise_fit
    post = m.idata_["posterior"]
    V = post["noise_weight"].attrs["noise_hypervolume"]
    w = post["weights"].values[0]
    mu = post["means"].values[0]
    cov = post["covariances"].values[0]
    w0 = post["noise_weight"].values[0]
    x = X[[0, 50, -1]]
    dens = np.array([[w0[s] / V + sum(w[s, k] * multivariate_normal(mu[s, k], cov[s, k]).pdf(xi)
                                      for k in range(3)) for s in range(len(w0))] for xi in x])
    np.testing.assert_allclose(m.score_samples(x), np.log(dens.mean(axis=1)), rtol=1e-10)
    # the stored pointwise log-likelihood includes the noise term too
    ll = m.idata_["log_likelihood"]["X"].values[0, :, [0, 50, -1]]
    np.testing.assert_allclose(ll, np.log(dens), rtol=1e-10)


def test_bayesian_noise_fit_save_load_round_trip(bayes_noise_fit, tmp_path):
    from bayesgmm import _datatree

    m, X, _ = bayes_noise_fit
    path = tmp_path / "noise.nc"
    m.save(path)
    m2 = bg.BayesianGMM.load(path)
    assert m2.get_params() == m.get_params() and m2.noise is True
    np.testing.assert_allclose(m2.predict_proba(X), m.predict_proba(X), rtol=1e-12)
    np.testing.assert_array_equal(m2.predict(X), m.predict(X))
    assert m2.em_.noise_weight_ == m.em_.noise_weight_
    assert m2.em_.noise_hypervolume_ == m.em_.noise_hypervolume_
    np.testing.assert_array_equal(m2.em_.predict(X), m.em_.predict(X))
    for a, b in zip(m2.em_.sample(50), m.em_.sample(50)):  # noise rows on the same box
        np.testing.assert_array_equal(a, b)
    # the load checks reject a noise weight without its hypervolume
    tree = m.idata_.copy()
    tree["posterior"].variables["noise_weight"].attrs.pop("noise_hypervolume")
    assert any("noise_hypervolume" in p for p in _datatree._consistency_problems(tree))
    with pytest.raises(ValueError, match="noise_hypervolume"):
        bg.posterior.membership_summary(tree["posterior"], X)


def test_bayesian_default_has_no_noise_and_noise_parameters_are_checked():
    X, _ = _contaminated(seed=3, n=40)
    m = bg.BayesianGMM(3, covariance_type="diag", draws=10, tune=10, chains=1, n_init=1,
                       progressbar=False, random_state=0)
    assert m.get_params()["noise"] is False and m.get_params()["noise_hypervolume"] is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bg.exceptions.SamplingWarning)
        m.fit(X)
    assert "noise_weight" not in m.idata_["posterior"]
    assert m.predict_proba(X).shape == (X.shape[0], 3)
    assert set(np.unique(m.predict(X))) <= {0, 1, 2}
    assert m.em_.get_params()["noise"] is False
    with pytest.raises(ValueError, match="noise=True"):
        bg.BayesianGMM(2, noise_hypervolume=10.0).fit(X)
    with pytest.raises(ValueError, match="noise_hypervolume"):
        bg.BayesianGMM(2, noise=True, noise_hypervolume=-1.0).fit(X)
    with pytest.raises(TypeError, match="noise"):
        bg.BayesianGMM(2, noise="yes").fit(X)


# ------------------------------------------------------------------ with the other features
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_rescaled_compiled_noise_density_is_the_density_at_x(covariance_type):
    """The noise hypervolume and the rescaling flag have their own header slots: the
    rescaled noise density in z is the numpy noise density at shift + scale * z."""
    import ctypes

    from bayesgmm import _compiled
    from bayesgmm.inference._starts import _curvature_scale

    X, _ = _contaminated(seed=4, n=30)
    dens = MixtureDensity(X, 3, covariance_type, noise_hypervolume=400.0)
    gm = bg.GaussianMixture(3, covariance_type=covariance_type, noise=True, n_init=1,
                            random_state=0).fit(X)
    x0 = dens.pack(gm.weights_, gm.means_, gm.covariances_)
    scale = _curvature_scale(dens, x0)
    cd = _compiled.CompiledDensity(dens).rescaled(x0, scale)
    assert cd.buffer[_compiled._H_NOISE] == 400.0 and cd.buffer[_compiled._H_RESCALED] == 1.0
    assert cd.buffer.size == _compiled._buffer_length(cd.buffer[: _compiled._HEADER])
    rng = np.random.default_rng(5)
    for _ in range(2):
        z = rng.normal(size=dens.ndim)
        lp, g = cd.logp_and_grad_z(z)
        lpx, gx = dens.logp_and_grad(x0 + scale * z)
        np.testing.assert_allclose(lp, lpx, rtol=1e-10)
        np.testing.assert_allclose(g, scale * gx, rtol=1e-8, atol=1e-8 * np.abs(g).max())
    # nutpie's callbacks: the draw's noise_weight from z
    _compiled.compile_density(dens)
    ptr = ctypes.POINTER(ctypes.c_double)
    expand_c = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ctypes.c_uint64, ptr, ptr,
                                ctypes.c_void_p)(cd.expand_address)
    out = np.zeros(cd.n_expanded)
    assert expand_c(dens.ndim, cd.n_expanded, z.ctypes.data_as(ptr), out.ctypes.data_as(ptr),
                    cd.buffer_address) == 0
    p = dens.unpack(x0 + scale * z)
    np.testing.assert_allclose(out[-1], p["noise_weight"], rtol=1e-12)
    np.testing.assert_allclose(out[:3], p["weights"], rtol=1e-12)
    np.testing.assert_allclose(p["weights"].sum() + p["noise_weight"], 1.0, rtol=1e-12)


@pytest.mark.slow
def test_noise_model_samples_with_and_without_rescaling():
    from bayesgmm.inference import run_inference

    X, _ = _contaminated(seed=8, n=40)
    gm = bg.GaussianMixture(3, noise=True, n_init=1, random_state=0).fit(X)
    kw = dict(init=gm, draws=30, tune=30, chains=1, random_seed=0, progressbar=False,
              noise_hypervolume=gm.noise_hypervolume_)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerformanceWarning)
        warnings.simplefilter("ignore", bg.exceptions.SamplingWarning)
        trees = [run_inference(X, 3, "full", rescale=r, **kw) for r in (True, False)]
    for tree, r in zip(trees, (True, False)):
        assert tree.attrs["rescaled"] is r and tree.attrs["density"] == "compiled"
        post = tree["posterior"]
        total = post["weights"].sum("component") + post["noise_weight"]
        np.testing.assert_allclose(total, 1.0, rtol=1e-9)
        assert 0.02 < float(post["noise_weight"].mean()) < 0.3


def test_noise_with_missing_values_or_a_prior_is_refused():
    """The noise component's 1/V has no marginal over observed coordinates: noise with
    missing='marginalize' raises a ValueError naming both (EM, BayesianGMM, the model, the
    sampler); the noise EM has no MAP prior either."""
    from bayesgmm import build_model
    from bayesgmm.inference import run_inference

    X, _ = _contaminated(seed=1, n=20)
    Xn = X.copy()
    Xn[0, 1] = np.nan
    both = "noise.*missing='marginalize'|missing='marginalize'.*noise"
    with pytest.raises(ValueError, match=both):
        bg.GaussianMixture(2, noise=True, missing="marginalize").fit(Xn)
    with pytest.raises(ValueError, match=both):
        bg.BayesianGMM(2, noise=True, missing="marginalize").fit(Xn)
    with pytest.raises(ValueError, match=both):
        build_model(Xn, 2, "diag", missing="marginalize", noise_hypervolume=100.0)
    with pytest.raises(ValueError, match=both):
        run_inference(Xn, 2, "diag", missing="marginalize", noise_hypervolume=100.0, draws=5,
                      tune=5, chains=1, progressbar=False)
    with pytest.raises(ValueError, match="noise=True.*prior"):
        bg.GaussianMixture(2, noise=True, prior="default").fit(X)
    # nor do the posterior functions (memberships, pointwise log-likelihood)
    post = xr.Dataset(
        {"weights": (("chain", "draw", "component"), np.full((1, 2, 2), 0.45)),
         "means": (("chain", "draw", "component", "feature"), np.zeros((1, 2, 2, 2))),
         "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
                         np.broadcast_to(np.eye(2), (1, 2, 2, 2, 2)).copy()),
         "noise_weight": (("chain", "draw"), np.full((1, 2), 0.1), {"noise_hypervolume": 100.0})})
    assert np.isfinite(np.asarray(bg.posterior.pointwise_log_likelihood(post, X[:5]))).all()
    for fn in (bg.posterior.membership_summary, bg.posterior.pointwise_log_likelihood):
        with pytest.raises(ValueError, match="missing='marginalize'.*noise"):
            fn(post, Xn[:5], missing="marginalize")
    # each alone still fits
    assert bg.GaussianMixture(2, noise=True, n_init=1, random_state=0).fit(X).noise_weight_ > 0
    gm = bg.GaussianMixture(2, missing="marginalize", n_init=1, random_state=0).fit(Xn)
    assert np.isfinite(gm.score_samples(Xn)).all() and not hasattr(gm, "noise_weight_")


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf, True, "1.0", [1.0]])
def test_one_hypervolume_check_for_em_and_the_density(bad):
    """The estimator and the log density reject the same bad volumes with the same
    message (one check, ``em._noise.check_hypervolume``)."""
    X = _noise_data()
    with pytest.raises(ValueError, match="`noise_hypervolume` must be a positive finite") as em:
        bg.GaussianMixture(2, noise=True, noise_hypervolume=bad).fit(X)
    with pytest.raises(ValueError, match="`noise_hypervolume` must be a positive finite") as dens:
        MixtureDensity(X, 2, "full", noise_hypervolume=bad)
    assert str(em.value) == str(dens.value)
    assert MixtureDensity(X, 2, "full", noise_hypervolume=np.float32(2.5)).noise_hypervolume == 2.5
