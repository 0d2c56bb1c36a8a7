"""The mass-matrix warm start: nutpie samples ``z`` with ``x = shift + scale * z`` (``rescale=True``)."""

import ctypes

import numpy as np
import pytest

from bayesgmm import _compiled
from bayesgmm._logdensity import MixtureDensity
from bayesgmm.inference import run_inference
from bayesgmm.inference._starts import _curvature_scale


def _data(N, D, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, D)) * np.linspace(1.0, 30.0, D) + np.linspace(-2.0, 500.0, D)


def _rescaled(covariance_type, seed=0):
    X = _data(80, 2, seed)
    dens = MixtureDensity(X, 2, covariance_type)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), 2, replace=False)
    x0 = dens.pack([0.4, 0.6], X[idx], np.stack([np.cov(X.T)] * 2))
    scale = _curvature_scale(dens, x0)
    cd = _compiled.CompiledDensity(dens).rescaled(x0, scale)
    return dens, cd, x0, scale


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_density_in_z_is_the_density_at_x_and_its_gradient_matches_finite_differences(covariance_type):
    dens, cd, x0, scale = _rescaled(covariance_type)
    rng = np.random.default_rng(1)
    for _ in range(3):
        z = rng.normal(size=dens.ndim)
        lp, g = cd.logp_and_grad_z(z)
        lpx, gx = dens.logp_and_grad(x0 + scale * z)
        np.testing.assert_allclose(lp, lpx, rtol=1e-10)
        np.testing.assert_allclose(g, scale * gx, rtol=1e-10, atol=1e-10 * np.abs(g).max())
        h = 1e-5
        fd = np.array([(cd.logp_and_grad_z(z + h * e)[0] - cd.logp_and_grad_z(z - h * e)[0]) / (2 * h)
                       for e in np.eye(dens.ndim)])
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(g).max()))
    np.testing.assert_allclose(cd.from_z(cd.to_z(x0 + 0.3)), x0 + 0.3, rtol=1e-12)
    # the posterior's scale is about 1 in z at the point the curvature was taken
    np.testing.assert_allclose(_curvature_scale(cd, x0), scale, rtol=1e-6)  # (x coordinates: unchanged)


def test_c_callbacks_take_z():
    dens, cd, x0, scale = _rescaled("full")
    _compiled.compile_density(dens)  # loads the callbacks
    ptr = ctypes.POINTER(ctypes.c_double)
    logp_c = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ptr, ptr, ptr, ctypes.c_void_p)(cd.logp_address)
    expand_c = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ctypes.c_uint64, ptr, ptr,
                                ctypes.c_void_p)(cd.expand_address)
    z = np.random.default_rng(2).normal(size=dens.ndim)
    grad, lp = np.zeros(dens.ndim), np.zeros(1)
    assert logp_c(dens.ndim, z.ctypes.data_as(ptr), grad.ctypes.data_as(ptr), lp.ctypes.data_as(ptr),
                  cd.buffer_address) == 0
    ref_lp, ref_g = cd.logp_and_grad_z(z)
    assert lp[0] == ref_lp
    np.testing.assert_array_equal(grad, ref_g)
    out = np.zeros(cd.n_expanded)
    assert expand_c(dens.ndim, cd.n_expanded, z.ctypes.data_as(ptr), out.ctypes.data_as(ptr), cd.buffer_address) == 0
    p = dens.unpack(x0 + scale * z)
    np.testing.assert_allclose(out[:2], p["weights"], rtol=1e-13)
    np.testing.assert_allclose(out[2:6], p["means"].ravel(), rtol=1e-13)
    # not rescaled: z is x
    plain = _compiled.CompiledDensity(dens)
    assert plain.logp_and_grad_z(z)[0] == plain.logp_and_grad(z)[0]


def test_bad_rescaling_is_refused():
    dens, _, x0, scale = _rescaled("diag")
    with pytest.raises(ValueError, match="positive and finite"):
        _compiled.CompiledDensity(dens, x0, np.where(np.arange(dens.ndim) == 0, 0.0, scale))
    with pytest.raises(ValueError, match="both or neither"):
        _compiled.CompiledDensity(dens, shift=x0)
    init = {"weights": [0.5, 0.5], "means": dens.X[:2], "covariances": np.var(dens.X, axis=0)[None].repeat(2, 0)}
    with pytest.raises(TypeError, match="rescale must be True or False"):
        run_inference(dens.X, 2, "diag", init=init, draws=5, tune=5, chains=1, random_seed=0, progressbar=False,
                      rescale="yes")


def _two_clusters():
    rng = np.random.default_rng(0)
    # features of very different scales: where the unit first guess of the mass matrix is furthest off
    return np.concatenate([rng.normal(-3, 0.7, (60, 2)), rng.normal(3, 1.0, (40, 2))]) * [1e-3, 1e3]


@pytest.mark.slow
@pytest.mark.parametrize("density", ["compiled", "numpy"])
def test_same_posterior_with_and_without_rescaling(density):
    """Means and sds of weights and means agree within Monte Carlo error (4 standard errors)."""
    X = _two_clusters()
    init = {"weights": [0.6, 0.4], "means": [[-3e-3, -3e3], [3e-3, 3e3]],
            "covariances": [np.diag([0.5e-6, 0.5e6]), np.diag([1e-6, 1e6])]}
    kw = dict(init=init, draws=300, tune=150, chains=2, random_seed=3, progressbar=False, density=density)
    a = run_inference(X, 2, "full", rescale=True, **kw)
    b = run_inference(X, 2, "full", rescale=False, **kw)
    assert a.attrs["rescaled"] and not b.attrs["rescaled"] and a.attrs["density"] == density
    # the warm start's point: warm-up needs fewer gradient evaluations on features of unequal scales
    warm = [t.attrs["n_steps_total"] - int(t["sample_stats"]["n_steps"].sum()) for t in (a, b)]
    assert warm[0] < 0.7 * warm[1]
    for name in ("weights", "means", "sds"):
        pa, pb = a["posterior"][name], b["posterior"][name]
        sd = pb.std(("chain", "draw")).values
        # standard error of a mean of 600 correlated draws: at most sd / sqrt(100) each
        se = np.sqrt(2) * sd / 10
        np.testing.assert_array_less(np.abs(pa.mean(("chain", "draw")).values - pb.mean(("chain", "draw")).values),
                                     4 * se)
        np.testing.assert_allclose(pa.std(("chain", "draw")).values, sd, rtol=0.3)
