import importlib.util
import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.optimize import linear_sum_assignment

from bayesgmm._logdensity import MixtureDensity
from bayesgmm.inference import _curvature_scale, run_inference

TYPES = ["full", "tied", "diag", "spherical"]


def _clusters(n_per=40, seed=0, centres=((0.0, 0.0), (6.0, 0.0))):
    rng = np.random.default_rng(seed)
    centres = np.asarray(centres)
    X = np.concatenate([c + rng.normal(size=(n_per, centres.shape[1])) for c in centres])
    return X, centres


def _init(centres, ct, n_per=40):
    K, D = centres.shape
    cov = {"full": np.stack([np.eye(D)] * K), "tied": np.eye(D), "diag": np.ones((K, D)), "spherical": np.ones(K)}[ct]
    return {"weights": np.full(K, 1.0 / K), "means": centres, "covariances": cov}


def _run(X, K, ct, init, **kw):
    kw.setdefault("draws", 30)
    kw.setdefault("tune", 30)
    kw.setdefault("chains", 2)
    kw.setdefault("progressbar", False)
    return run_inference(X, K, ct, None, init, **kw)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_nutpie_result_structure(covariance_type):
    X, centres = _clusters()
    tree = _run(X, 2, covariance_type, _init(centres, covariance_type), random_seed=1)
    assert isinstance(tree, xr.DataTree)
    post = tree["posterior"]
    expected = {"weights", "means", "covariances", "sds"} | (
        {"correlations"} if covariance_type in ("full", "tied") else set()
    )
    assert set(post.data_vars) == expected
    assert post["weights"].dims == ("chain", "draw", "component")
    assert post["means"].dims == ("chain", "draw", "component", "feature")
    assert post["covariances"].dims == ("chain", "draw", "component", "feature", "feature_bis")
    assert post["sds"].dims == ("chain", "draw", "component", "feature")
    assert post["means"].shape == (2, 30, 2, 2)
    assert list(post["feature"].values) == ["x0", "x1"]
    w = post["weights"].values
    np.testing.assert_allclose(w.sum(-1), 1.0)
    cov = post["covariances"].values
    np.testing.assert_allclose(np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1)), post["sds"].values)
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    if covariance_type == "tied":
        np.testing.assert_allclose(cov[..., 0, :, :], cov[..., 1, :, :])
    stats = tree["sample_stats"]
    assert stats["diverging"].dims == ("chain", "draw")
    assert tree.attrs["method"] == "nuts" and tree.attrs["n_steps_total"] >= int(stats["n_steps"].sum())
    # the two clusters are found, close to the truth
    means = post["means"].mean(("chain", "draw")).values
    assert np.abs(np.sort(means[:, 0]) - [0.0, 6.0]).max() < 0.6


def test_same_seed_same_draws_and_other_seed_differs():
    X, centres = _clusters(seed=2)
    init = _init(centres, "diag")
    a = _run(X, 2, "diag", init, random_seed=7)
    b = _run(X, 2, "diag", init, random_seed=7)
    c = _run(X, 2, "diag", init, random_seed=8)
    np.testing.assert_array_equal(a["posterior"]["means"].values, b["posterior"]["means"].values)
    assert not np.array_equal(a["posterior"]["means"].values, c["posterior"]["means"].values)


def test_accepts_fitted_em_and_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    from bayesgmm.em import GaussianMixture

    X, _ = _clusters(seed=3)
    df = pd.DataFrame(X, columns=["eruptions", "waiting"])
    em = GaussianMixture(2, covariance_type="full", random_state=0).fit(df)
    tree = run_inference(df, 2, "full", None, em, draws=20, tune=20, chains=1, random_seed=0, progressbar=False)
    assert list(tree["posterior"]["feature"].values) == ["eruptions", "waiting"]


def test_init_none_fits_em():
    X, _ = _clusters(seed=4)
    tree = run_inference(X, 2, "spherical", draws=20, tune=30, chains=1, random_seed=0, progressbar=False)
    means = tree["posterior"]["means"].mean(("chain", "draw")).values
    assert np.abs(np.sort(means[:, 0]) - [0.0, 6.0]).max() < 0.6


def test_curvature_scale_matches_analytic_posterior_sd():
    """K=1, D=1: the posterior sd of the mean is sigma / sqrt(N) (prior negligible)."""
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(400, 1))
    dens = MixtureDensity(X, 1, "spherical")
    x0 = dens.pack([1.0], X.mean(0, keepdims=True), [X.var()])
    sd = _curvature_scale(dens, x0)
    assert dens.ndim == 2
    np.testing.assert_allclose(sd[0], np.sqrt(X.var() / 400), rtol=0.01)
    # log sd: Fisher information 2N -> sd 1/sqrt(2N)
    np.testing.assert_allclose(sd[1], 1 / np.sqrt(2 * 400), rtol=0.02)


def test_minibatch_advi_structure_reproducible_and_accurate():
    X, centres = _clusters(n_per=150, seed=5)
    init = _init(centres, "full")
    kw = dict(method="minibatch_advi", draws=200, chains=2, n=3000, batch_size=100, random_seed=3)
    a = _run(X, 2, "full", init, **kw)
    b = _run(X, 2, "full", init, **kw)
    np.testing.assert_array_equal(a["posterior"]["means"].values, b["posterior"]["means"].values)
    assert a["posterior"]["means"].shape == (2, 200, 2, 2)
    assert a["sample_stats"]["loss"].dims == ("vi_iteration",) and a["sample_stats"]["loss"].size == 3000
    assert a.attrs["method"] == "minibatch_advi"
    # posterior mean of the cluster means ~ the per-cluster sample means (posterior sd ~ 1/sqrt(150) ~ 0.08)
    means = a["posterior"]["means"].mean(("chain", "draw")).values
    truth = np.stack([X[:150].mean(0), X[150:].mean(0)])
    order = np.argsort(means[:, 0])
    np.testing.assert_allclose(means[order], truth, atol=0.1)
    sd = a["posterior"]["means"].std(("chain", "draw")).values
    assert np.all((sd > 0.03) & (sd < 0.2))


def test_bad_arguments():
    X, centres = _clusters()
    init = _init(centres, "full")
    with pytest.raises(ValueError, match="method must be one of"):
        _run(X, 2, "full", init, method="hmc")
    with pytest.raises(ValueError, match="nuts_sampler must be one of"):
        _run(X, 2, "full", init, nuts_sampler="stan")
    with pytest.raises(ValueError, match="draws must be >= 1"):
        _run(X, 2, "full", init, draws=0)
    with pytest.raises(TypeError, match="chains must be an int"):
        _run(X, 2, "full", init, chains=2.0)
    with pytest.raises(TypeError, match="init must be a fitted GaussianMixture"):
        _run(X, 2, "full", object())
    with pytest.raises(ValueError, match="init does not match the model"):
        _run(X, 3, "full", init)
    with pytest.raises(ValueError, match="missing"):
        _run(X, 2, "full", {"weights": [0.5, 0.5]})
    with pytest.raises(TypeError, match="unexpected keyword"):
        _run(X, 2, "full", init, method="minibatch_advi", target_accept=0.9)
    with pytest.raises(TypeError, match="priors must be"):
        run_inference(X, 2, "full", 3.0, init)


def test_em_with_other_covariance_type_is_rejected():
    from bayesgmm.em import GaussianMixture

    X, _ = _clusters()
    em = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    with pytest.raises(ValueError, match="covariance_type='diag' but inference uses 'full'"):
        run_inference(X, 2, "full", None, em, draws=10, tune=10, chains=1, progressbar=False)


@pytest.mark.parametrize("sampler", ["numpyro", "blackjax"])
def test_jax_samplers_missing_give_install_hint(sampler):
    if importlib.util.find_spec("jax") is not None and importlib.util.find_spec(sampler) is not None:
        pytest.skip(f"{sampler} is installed")
    X, centres = _clusters()
    with pytest.raises(ImportError, match=r"pip install bayesgmm\[jax\]"):
        _run(X, 2, "full", _init(centres, "full"), nuts_sampler=sampler)


@pytest.mark.slow
def test_pymc_nuts_and_advi_agree_with_nutpie():
    """Same posterior through PyMC's NUTS and ADVI on build_model as through nutpie on MixtureDensity."""
    X, centres = _clusters(n_per=60, seed=6, centres=((0.0,), (5.0,)))
    init = _init(centres, "diag")
    fast = {"compile_kwargs": {"mode": "FAST_COMPILE"}}
    ref = _run(X, 2, "diag", init, draws=300, tune=300, random_seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pym = _run(X, 2, "diag", init, draws=100, tune=100, random_seed=1, nuts_sampler="pymc", cores=1, **fast)
        advi = _run(X, 2, "diag", init, draws=200, method="advi", n=2000, random_seed=1, **fast)
    assert pym["sample_stats"]["diverging"].dims == ("chain", "draw")
    assert set(pym["posterior"].data_vars) == {"weights", "means", "covariances", "sds"}
    assert advi["sample_stats"]["loss"].size == 2000
    m_ref = ref["posterior"]["means"].mean(("chain", "draw")).values
    s_ref = ref["posterior"]["means"].std(("chain", "draw")).values
    for other in (pym, advi):
        m = other["posterior"]["means"].mean(("chain", "draw")).values
        assert np.all(np.abs(m - m_ref) < 2 * s_ref), (m, m_ref, s_ref)


@pytest.mark.slow
def test_end_to_end_three_clusters_converges_and_covers_truth():
    import arviz_stats as azs

    rng = np.random.default_rng(11)
    true_means = np.array([[0.0, 0.0], [7.0, 0.0], [0.0, 7.0]])
    true_w = np.array([0.3, 0.3, 0.4])
    n = (600 * true_w).astype(int)
    L = [np.array([[1.0, 0.0], [0.5, 0.8]]), np.eye(2) * 0.7, np.array([[1.2, 0.0], [-0.4, 0.6]])]
    X = np.concatenate([true_means[k] + rng.normal(size=(n[k], 2)) @ L[k].T for k in range(3)])
    from bayesgmm.em import GaussianMixture

    em = GaussianMixture(3, covariance_type="full", n_init=3, random_state=0).fit(X)
    tree = run_inference(X, 3, "full", None, em, draws=500, tune=500, chains=4, random_seed=2, progressbar=False)
    post = tree["posterior"].to_dataset()
    assert int(tree["sample_stats"]["diverging"].sum()) == 0
    # label by EM: chains started at EM and well separated clusters do not switch
    checked = post[["weights", "means", "sds"]]
    rhat = azs.rhat(checked)
    ess = azs.ess(checked, method="bulk")
    assert max(float(rhat[v].max()) for v in rhat.data_vars) <= 1.01
    assert min(float(ess[v].min()) for v in ess.data_vars) >= 400
    # match components to the truth, then the truth lies in the 94% intervals
    m = post["means"].mean(("chain", "draw")).values
    _, perm = linear_sum_assignment(((m[:, None, :] - true_means[None]) ** 2).sum(-1).T)
    lo = post["means"].quantile(0.03, ("chain", "draw")).values[perm]
    hi = post["means"].quantile(0.97, ("chain", "draw")).values[perm]
    assert np.all((lo < true_means) & (true_means < hi))
    wl = post["weights"].quantile(0.03, ("chain", "draw")).values[perm]
    wh = post["weights"].quantile(0.97, ("chain", "draw")).values[perm]
    emp_w = n / n.sum()
    assert np.all((wl < emp_w) & (emp_w < wh))


def test_vi_convergence_warning():
    from bayesgmm.inference import VIConvergenceWarning, _check_vi_loss

    rng = np.random.default_rng(0)
    flat = 100 + rng.normal(size=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", VIConvergenceWarning)
        _check_vi_loss(flat, 2000, "advi")  # settled: no warning
    falling = 100 + np.linspace(50, 0, 2000) + rng.normal(size=2000)
    with pytest.warns(VIConvergenceWarning, match="Increase the number of steps, e.g. n=4000"):
        _check_vi_loss(falling, 2000, "advi")


def test_minibatch_advi_too_few_steps_warns():
    from bayesgmm.inference import VIConvergenceWarning

    X, centres = _clusters(n_per=100, seed=9)
    init = _init(centres + 5.0, "diag")  # start far from the optimum, stop early (full batch)
    with pytest.warns(VIConvergenceWarning):
        _run(X, 2, "diag", init, method="minibatch_advi", n=400, batch_size=200, random_seed=0, draws=10)


def test_default_em_start_is_scale_free():
    # init=None builds the starting EM itself; its reg_covar must follow the data's
    # scale, or data of scale 1e-8 collapse onto their mean (both components equal).
    from bayesgmm._logdensity import MixtureDensity
    from bayesgmm.inference import _init_params, initial_reg_covar
    from bayesgmm.priors import Priors

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0.0, 1.0, (60, 2)), rng.normal(6.0, 1.0, (60, 2))]) * 1e-8
    assert initial_reg_covar(X) == pytest.approx(1e-6 * np.var(X, axis=0).mean())
    dens = MixtureDensity(X, 2, "full", Priors().resolve(X, n_components=2))
    mu = dens.unpack(_init_params(None, dens, 0))["means"]
    assert np.abs(mu[0] - mu[1]).min() > 4e-8  # the two clusters, 6e-8 apart, are found


def test_nutpie_panic_becomes_a_runtime_error_with_advice(monkeypatch):
    # nutpie reports Rust panics (e.g. a non-finite gradient at a chain's start) as a
    # BaseException subclass named PanicException; users get a RuntimeError instead.
    import nutpie

    from bayesgmm.inference import run_inference

    class PanicException(BaseException):
        pass

    def boom(*args, **kwargs):
        raise PanicException("Could not initialize state because of bad initial gradient")

    monkeypatch.setattr(nutpie, "sample", boom)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 2))
    with pytest.raises(RuntimeError, match="nutpie could not sample.*random_state"):
        run_inference(X, 2, "diag", draws=10, tune=10, chains=1, progressbar=False, random_seed=0)


# ------------------------------------------------- ResolvedPriors on every path
_RESOLVED_PATHS = [
    pytest.param("nuts", "nutpie", id="nutpie"),
    pytest.param("minibatch_advi", "nutpie", id="minibatch_advi"),
    pytest.param("nuts", "pymc", id="pymc", marks=pytest.mark.slow),
    pytest.param("advi", "nutpie", id="advi", marks=pytest.mark.slow),
    pytest.param("fullrank_advi", "nutpie", id="fullrank_advi", marks=pytest.mark.slow),
    pytest.param("nuts", "numpyro", id="numpyro", marks=pytest.mark.slow),
    pytest.param("nuts", "blackjax", id="blackjax", marks=pytest.mark.slow),
]


def test_resolved_priors_give_the_same_model():
    """A ResolvedPriors and the Priors it came from: same logp at a point, PyMC model and density."""
    from bayesgmm.model import build_model
    from bayesgmm.priors import Priors

    X, _ = _clusters(n_per=15, seed=12)
    pri = Priors(weights_alpha=[1.5, 2.5], lkj_eta=3.0, sd_scale=0.7)
    rp = pri.resolve(X, 2)
    dens_p, dens_r = MixtureDensity(X, 2, "full", pri), MixtureDensity(X, 2, "full", rp)
    x = np.random.default_rng(0).normal(scale=0.3, size=dens_p.ndim)
    assert dens_r.logp(x) == dens_p.logp(x)
    m_p, m_r = build_model(X, 2, "full", pri), build_model(X, 2, "full", rp)
    point = {k: v + 0.1 for k, v in m_p.initial_point().items()}
    lp_r = m_r.compile_logp(mode="FAST_COMPILE")(point)
    np.testing.assert_allclose(lp_r, m_p.compile_logp(mode="FAST_COMPILE")(point), rtol=1e-13)
    np.testing.assert_allclose(lp_r, dens_r.logp(np.concatenate([np.ravel(point[n]) for n in dens_r.names])),
                               rtol=1e-11)


@pytest.mark.parametrize("method,sampler", _RESOLVED_PATHS)
def test_resolved_priors_accepted_on_every_path(method, sampler):
    """run_inference with a ResolvedPriors: every method runs, with the draws of the equivalent Priors."""
    from bayesgmm.priors import Priors

    if sampler in ("numpyro", "blackjax"):
        missing = [m for m in ("jax", sampler) if importlib.util.find_spec(m) is None]
        if missing:
            pytest.skip(f"nuts_sampler={sampler!r} needs {', '.join(missing)}, which is not installed")
    X, centres = _clusters(n_per=15, seed=13, centres=((0.0,), (6.0,)))
    pri = Priors(lkj_eta=3.0, sd_scale=0.8)
    kw = dict(method=method, nuts_sampler=sampler, draws=5, tune=5, chains=1, random_seed=4)
    if method != "nuts":
        kw["n"] = 60
    if sampler != "nutpie" or method in ("advi", "fullrank_advi"):
        kw["compile_kwargs"] = {"mode": "FAST_COMPILE"}
    if method == "nuts" and sampler == "pymc":
        kw["cores"] = 1
    init = _init(centres, "spherical")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        given = run_inference(X, 2, "spherical", pri, init, progressbar=False, **kw)
        resolved = run_inference(X, 2, "spherical", pri.resolve(X, 2), init, progressbar=False, **kw)
    assert resolved["posterior"]["means"].shape == (1, 5, 2, 1)
    # the same model, the same seed: the same draws as with the Priors
    np.testing.assert_array_equal(resolved["posterior"]["means"].values, given["posterior"]["means"].values)
