"""Chain starts: scale-free jitter, distinct EM optima, recorded per chain (issue 14)."""

import numpy as np
import pytest

import bayesgmm as bg
from bayesgmm._logdensity import MixtureDensity
from bayesgmm.datasets import make_mixture
from bayesgmm.inference import _chain_starts, _curvature_scale, run_inference
from bayesgmm.inference._starts import _init_points, distinct_optima


def _three_groups(seed=1, n_last=105):
    """Three groups for K=2: {0} + {4, 8} and {0, 4} + {8} are two optima of about equal
    posterior mass (0.24 nats apart in log-likelihood with these defaults)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, (100, 1)), rng.normal(4, 1, (100, 1)),
                           rng.normal(8, 1, (n_last, 1))])


@pytest.mark.parametrize("cov_type", ["full", "diag", "spherical", "tied"])
def test_jitter_is_scale_free(cov_type):
    """Data scaled by 1e-12 and 1e12 give the same starts relative to their scale."""
    X = make_mixture(120, 2, 2, covariance_type="full", random_state=2).X
    em = bg.GaussianMixture(2, covariance_type=cov_type, random_state=0).fit(X)
    rel = {}
    for s in (1e-12, 1.0, 1e12):
        dens = MixtureDensity(X * s, 2, cov_type)
        x0 = dens.pack(em.weights_, em.means_ * s, em.covariances_ * s**2)
        sd = _curvature_scale(dens, x0)
        assert np.all(np.isfinite(sd)) and np.all(sd > 0)
        z = np.random.default_rng(0).standard_normal(dens.ndim)  # the same noise at every scale
        p0, p1 = dens.unpack(x0), dens.unpack(x0 + sd * z)
        rel[s] = (
            (p1["means"] - p0["means"]) / s,  # the jitter of the means in data units
            p1["covariances"] / np.where(p0["covariances"] == 0, 1, p0["covariances"]),
            p1["weights"] - p0["weights"],
        )
    for s in (1e-12, 1e12):
        for a, b in zip(rel[s], rel[1.0]):
            np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-12)


def test_curvature_scale_has_no_absolute_bound():
    """Posterior sds far below 1e-8 and far above 10 (the old clip) come out as they are."""
    X = make_mixture(200, 1, 1, random_state=0).X
    for s, lo, hi in ((1e-12, 0, 1e-8), (1e12, 10, np.inf)):
        dens = MixtureDensity(X * s, 1, "spherical")
        x0 = dens.pack([1.0], X.mean(0, keepdims=True) * s, [X.var() * s**2])
        sd_mean = _curvature_scale(dens, x0)[0]
        np.testing.assert_allclose(sd_mean, np.sqrt(X.var() / 200) * s, rtol=0.02)
        assert lo < sd_mean < hi


def test_distinct_optima_from_the_em_restarts():
    X = _three_groups()
    em = bg.GaussianMixture(2, n_init=10, random_state=0).fit(X)
    assert len(em._restarts) == 10
    dens = MixtureDensity(X, 2, "full")
    optima = distinct_optima(em, dens)
    assert len(optima) == 2  # {0} + {4, 8} and {0, 4} + {8}: two optima, not ten
    np.testing.assert_array_equal(optima[0][0], dens.pack(em.weights_, em.means_, em.covariances_))
    assert optima[0][1] == em.lower_bound_ > optima[1][1]
    # relabelled against the best: the component near 8 keeps the best's label
    mu_best, mu_other = dens.unpack(optima[0][0])["means"][:, 0], dens.unpack(optima[1][0])["means"][:, 0]
    assert np.argmax(mu_best) == np.argmax(mu_other)
    # far worse optima (beyond the BIC penalty) are left out
    assert len(distinct_optima(em, dens, window=0.1)) == 1


def test_distinct_optima_leave_out_modes_of_negligible_mass():
    """An optimum 10 nats below the best (Laplace mass ~1e-4 of it) gets no chain."""
    X = _three_groups(seed=0, n_last=110)
    em = bg.GaussianMixture(2, n_init=10, random_state=0).fit(X)
    dens = MixtureDensity(X, 2, "full")
    assert len(distinct_optima(em, dens, min_mass_ratio=0)) == 2
    assert len(distinct_optima(em, dens)) == 1  # MIN_MASS_RATIO = 1e-3
    assert len(distinct_optima(em, dens, min_mass_ratio=1e-6)) == 2
    # one restart: only the best
    assert len(distinct_optima(bg.GaussianMixture(2, n_init=1, random_state=0).fit(X), dens)) == 1


def test_chain_starts_at_optima_then_over_dispersed():
    X = _three_groups()
    dens = MixtureDensity(X, 2, "full")
    em = bg.GaussianMixture(2, n_init=10, random_state=0).fit(X)
    x0, optima = _init_points(em, dens, 0)
    xs = [x for x, _ in optima]
    starts, which, _ = _chain_starts(dens, x0, 4, 123, 0.0, xs, dispersion=1.0)
    assert which == [0, 1, 0, 0]
    np.testing.assert_array_equal(starts[0], xs[0])  # no jitter asked: exactly the optima
    np.testing.assert_array_equal(starts[1], xs[1])
    sd = _curvature_scale(dens, x0)
    for c in (2, 3):  # over-dispersed: about one posterior sd from the best
        r = np.abs(starts[c] - x0) / sd
        assert 0.2 < np.sqrt(np.mean(r**2)) < 3
    again, _, _ = _chain_starts(dens, x0, 4, 123, 0.0, xs, dispersion=1.0)
    np.testing.assert_array_equal(starts, again)


@pytest.mark.slow
@pytest.mark.parametrize("rescale", [True, False])
@pytest.mark.parametrize("density", ["compiled", "numpy"])
def test_nutpie_chains_start_where_asked(monkeypatch, density, rescale):
    """Chain c of nutpie starts at start c, whatever the order its threads ask in
    (with ``rescale``, nutpie is given ``z = (start - x0) / s``)."""
    import nutpie
    import nutpie.compiled_pyfunc as cp

    from bayesgmm.inference import _nutpie as nutpie_module
    from bayesgmm.inference._nutpie import _chain_init_seeds
    from bayesgmm.inference._starts import _seeds

    X = _three_groups()
    em = bg.GaussianMixture(2, n_init=10, random_state=0).fit(X)
    calls, captured = {}, {}
    real_pyfunc, real_sample = cp.from_pyfunc, nutpie.sample

    def spy_pyfunc(*a, make_initial_point_fn=None, **k):
        def init(seed):
            calls[int(seed)] = make_initial_point_fn(seed)
            return calls[int(seed)]

        return real_pyfunc(*a, make_initial_point_fn=init, **k)

    def spy_sample(*a, **k):
        captured["trace"] = real_sample(*a, **k)
        return captured["trace"]

    real_compiled = nutpie_module._nutpie_compiled_model

    def spy_compiled(cd, names, shapes, coords, dims, make_initial_point_fn):
        def init(seed):
            calls[int(seed)] = make_initial_point_fn(seed)
            return calls[int(seed)]

        return real_compiled(cd, names, shapes, coords, dims, init)

    if density == "numpy":
        monkeypatch.setattr(cp, "from_pyfunc", spy_pyfunc)
    else:
        monkeypatch.setattr(nutpie_module, "_nutpie_compiled_model", spy_compiled)
    monkeypatch.setattr(nutpie, "sample", spy_sample)
    tree = run_inference(X, 2, "full", init=em, draws=5, tune=10, chains=3, random_seed=4,
                         progressbar=False, cores=2, jitter=0.0, density=density, rescale=rescale)
    assert tree.attrs.get("density", density) == density
    assert tree.attrs["rescaled"] == rescale
    assert tree.attrs["chain_start_optimum"] == [0, 1, 0]
    assert len(tree.attrs["em_optima_loglik"]) == 2
    dens = MixtureDensity(X, 2, "full")
    x0, optima = _init_points(em, dens, 0)
    starts, _, _ = _chain_starts(dens, x0, 3, _seeds(4, 3)[1], 0.0, [x for x, _ in optima])
    seeds = _chain_init_seeds(_seeds(4, 3)[2], 3)
    if rescale:  # z of x = x0 + s z, s the curvature sds at the best optimum x0
        s0 = _curvature_scale(dens, x0)
        for c in range(3):
            np.testing.assert_allclose(x0 + s0 * calls[seeds[c]], starts[c], rtol=1e-12, atol=1e-12)
    else:
        for c in range(3):
            np.testing.assert_array_equal(calls[seeds[c]], starts[c])
    np.testing.assert_array_equal(starts[1], optima[1][0])
    # and nutpie ran chain c from there: its first draw is nearest to the optimum it
    # started at (chains 0 and 2 both start near optimum 0, about 1 posterior sd apart:
    # one warm-up step can cross that, so the check is per optimum, not per start)
    # With rescale=True the first warm-up draws can leave the start's mode at once (here
    # chain 1 went from optimum 1 to optimum 0 in its first draw): one reason the
    # rescaling is opt-in (RESCALE_DEFAULT = False); the starts themselves are checked above.
    if rescale:
        return
    first = captured["trace"]["warmup_posterior"]["means"].isel(draw=0).values  # (chain, K, D)
    mu = np.array([dens.unpack(x)["means"] for x, _ in optima])
    for c, o in enumerate([0, 1, 0]):
        assert np.argmin(np.abs(mu - first[c]).reshape(len(optima), -1).max(1)) == o


@pytest.mark.slow
def test_fit_reports_which_chain_started_where():
    X = _three_groups()
    m = bg.BayesianGMM(2, random_state=0)
    m.fit(X, draws=40, tune=60, chains=3, progressbar=False, n_init=10, cores=1)
    ch = m.diagnostics_.chains
    assert ch["start_optimum"].values.tolist() == [0, 1, 0]
    assert np.all(np.isfinite(ch["mean_logp"].values)) and np.all(np.isfinite(ch["mean_loglik"].values))
    assert "started at EM optimum 1" in str(m.diagnostics_)


def test_nuts_chain_starts_far_below_their_optimum_are_drawn_back():
    """A component collapsed onto one point (weight 1/41, covariance 1e-6 I, as in SBC
    replicate 151): the log density is nearly linear in its log-Cholesky coordinates, the
    curvature sd there is ~1e3, and a jitter of 0.1 sd put starts hundreds to 1e47 nats
    below the optimum. Such a start is pulled in (its offset halved) until it lies within
    ``start_floor`` nats; an ordinary start (separated data) is left as drawn, bit for bit."""
    from bayesgmm.inference._starts import start_floor

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(40, 2)), [[6.0, 6.0]]])
    dens = MixtureDensity(X, 2, "full")
    x0 = dens.pack([1 / 41, 40 / 41], [[6.0, 6.0], X[:40].mean(axis=0)],
                   np.stack([1e-6 * np.eye(2), np.cov(X[:40].T)]))
    lp0 = dens.logp(x0)
    starts, which, halvings = _chain_starts(dens, x0, 4, 1, 0.1)
    assert which == [0, 0, 0, 0]
    lp = np.array([dens.logp(s) for s in starts])
    assert np.all(lp >= lp0 - start_floor(dens.ndim, 1.0))
    # the same draws as drawn (chain 0: jitter 0.1 sd, the others dispersion 1 sd): the
    # chains pulled in are those whose drawn start lay too far below, by up to 1e3 nats or more
    sd0 = _curvature_scale(dens, x0)
    z = np.random.default_rng(1)
    drawn = [(0.1 if c == 0 else 1.0) * sd0 * z.standard_normal(dens.ndim) for c in range(4)]
    lp_drawn = np.array([dens.logp(x0 + d) for d in drawn])
    floors = lp0 - np.array([start_floor(dens.ndim, 0.1 if c == 0 else 1.0) for c in range(4)])
    assert lp_drawn.min() < lp0 - 1e3
    np.testing.assert_array_equal(halvings > 0, ~(lp_drawn >= floors))
    for c in np.flatnonzero(halvings == 0):
        np.testing.assert_array_equal(starts[c], x0 + drawn[c])

    # separated data: nothing to pull in, the starts as drawn
    X2 = make_mixture(120, 2, 2, covariance_type="full", random_state=2).X
    em = bg.GaussianMixture(2, random_state=0).fit(X2)
    dens2 = MixtureDensity(X2, 2, "full")
    y0 = dens2.pack(em.weights_, em.means_, em.covariances_)
    starts2, _, halvings2 = _chain_starts(dens2, y0, 4, 7, 0.1)
    sd2 = _curvature_scale(dens2, y0)
    z2 = np.random.default_rng(7)
    want = [y0 + (0.1 if c == 0 else 1.0) * sd2 * z2.standard_normal(dens2.ndim) for c in range(4)]
    assert halvings2.tolist() == [0, 0, 0, 0]
    np.testing.assert_array_equal(starts2, np.asarray(want))
