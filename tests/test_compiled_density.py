"""The compiled (numba) density equals the numpy reference, and nutpie samples with it."""

import ctypes
import warnings

import numpy as np
import pytest

from bayesgmm import _compiled
from bayesgmm._logdensity import MixtureDensity
from bayesgmm.covariance import _compiled as cov_compiled
from bayesgmm.covariance import get_covariance_type
from bayesgmm.exceptions import PerformanceWarning
from bayesgmm.priors import Priors

TYPES = ["full", "tied", "diag", "spherical"]
# D = 1, 2, 3: the one-pass row kernels; 4 to 9: four-row chunks and their remainders
SHAPES = [(1, 1), (3, 2), (2, 3), (2, 1), (4, 5), (1, 4), (2, 7), (2, 9)]


def _priors(K):
    return Priors(weights_alpha=np.linspace(0.7, 2.0, K).tolist(), lkj_eta=1.7, mean_scale=1.5, sd_scale=0.8)


def _data(N, D, seed, offset=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    return offset + scale * (rng.normal(size=(N, D)) * np.linspace(1.0, 3.0, D) + np.linspace(-2.0, 5.0, D))


def _points(dens, n, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    K, D = dens.n_components, dens.n_features
    X = dens.X
    for _ in range(n):
        idx = rng.choice(X.shape[0], size=K, replace=False)
        cov = np.stack([np.cov(X.T).reshape(D, D) * rng.uniform(0.2, 1.0)] * K)
        x = dens.pack(rng.dirichlet(np.ones(K)), X[idx], cov)
        yield x + rng.normal(scale=scale, size=dens.ndim)


def _assert_same(dens, cd, x, rtol=1e-10):
    lp, g = dens.logp_and_grad(x)
    lpc, gc = cd.logp_and_grad(x)
    np.testing.assert_allclose(lpc, lp, rtol=rtol, atol=0)
    np.testing.assert_allclose(gc, g, rtol=rtol, atol=rtol * max(1.0, np.abs(g).max()))


@pytest.mark.parametrize("K,D", SHAPES)
@pytest.mark.parametrize("covariance_type", TYPES)
def test_equals_numpy_density(covariance_type, K, D):
    """Log density and gradient equal MixtureDensity's (and so PyMC's) to 1e-10."""
    X = _data(57, D, seed=K + 10 * D)
    dens = MixtureDensity(X, K, covariance_type, _priors(K), chunk_size=20)
    cd = _compiled.CompiledDensity(dens)
    for x in _points(dens, 4, seed=K * D):
        _assert_same(dens, cd, x)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_equals_numpy_density_over_blocks_and_extremes(covariance_type):
    """More rows than a block; data far from the origin at a tiny scale (MixtureDensity's
    centred path); components far from all data (responsibilities underflow)."""
    K, D = 3, 2
    blk = max(_compiled._block_rows(K, D, True), _compiled._block_rows(K, D, False))
    X = _data(2 * blk + 37, D, seed=5)
    dens = MixtureDensity(X, K, covariance_type, _priors(K))
    cd = _compiled.CompiledDensity(dens)
    for x in _points(dens, 2, seed=1):
        _assert_same(dens, cd, x)
    far = dens.pack([0.2, 0.3, 0.5], [[-2.0, 5.0], [40.0, -60.0], [1.0, 6.0]], np.stack([np.eye(D) * 0.3] * K))
    _assert_same(dens, cd, far)

    Xe = _data(300, D, seed=6, offset=1e7, scale=1e-3)
    dens = MixtureDensity(Xe, K, covariance_type, _priors(K))
    cd = _compiled.CompiledDensity(dens)
    for x in _points(dens, 2, seed=2, scale=0.05):
        _assert_same(dens, cd, x)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_compiled_blocks_equal_class_methods(covariance_type):
    """The compiled transform and prior equal the class's numpy methods (K=1..3, D=1..3)."""
    ct = get_covariance_type(covariance_type)
    rng = np.random.default_rng(3)
    for K, D in [(1, 1), (3, 2), (2, 3)]:
        pri = _priors(K).resolve(_data(20, D, seed=D), K)
        block = ct.compiled_block(K, D, pri)
        u = rng.normal(scale=0.6, size=ct.n_unconstrained(K, D))
        L = np.zeros((K, D, D))
        assert cov_compiled.chol_from_unconstrained(block.kind, block.n_factors, block.params, u, L)
        np.testing.assert_allclose(L, ct.chol_from_unconstrained(u, K, D), rtol=1e-15)
        dL = np.tril(rng.normal(size=(K, D, D)))
        if block.diagonal:
            dL = dL * np.eye(D)
        grad = np.empty_like(u)
        lp = cov_compiled.log_prior_and_grad(block.kind, block.n_factors, block.params, L, dL, grad)
        lp_ref, grad_ref = ct.log_prior_and_grad(L, dL.copy(), pri)
        np.testing.assert_allclose(lp, lp_ref, rtol=1e-13)
        np.testing.assert_allclose(grad, grad_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_expand_equals_unpack(covariance_type):
    K, D = 3, 3
    dens = MixtureDensity(_data(40, D, seed=8), K, covariance_type)
    cd = _compiled.CompiledDensity(dens)
    for x in _points(dens, 2, seed=4):
        got, ref = cd.expand(x), dens.unpack(x)
        assert list(got) == ["weights", "means", "covariances", "sds"] + (
            ["correlations"] if "correlations" in ref else []
        )
        for name, val in got.items():
            np.testing.assert_allclose(val, ref[name], rtol=1e-13, atol=1e-15)


def test_not_finite_gives_minus_inf_and_zero_gradient():
    dens = MixtureDensity(_data(30, 2, seed=9), 2, "diag")
    cd = _compiled.CompiledDensity(dens)
    x = np.zeros(dens.ndim)
    x[-1] = 800.0  # exp overflows: an infinite standard deviation
    lp, g = cd.logp_and_grad(x)
    assert lp == -np.inf and not g.any()
    assert dens.logp_and_grad(x)[0] == -np.inf


def test_c_callbacks():
    """The C callbacks nutpie calls: value, gradient and return codes."""
    dens = MixtureDensity(_data(50, 2, seed=10), 2, "full")
    cd = _compiled.compile_density(dens)
    proto = ctypes.CFUNCTYPE(
        ctypes.c_int64, ctypes.c_uint64, ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double),
        ctypes.POINTER(ctypes.c_double), ctypes.c_void_p,
    )
    logp_c = proto(cd.logp_address)
    x = next(_points(dens, 1, seed=5))
    grad, lp = np.zeros(dens.ndim), np.zeros(1)

    def call(dim, xx):
        ptr = ctypes.POINTER(ctypes.c_double)
        return logp_c(dim, xx.ctypes.data_as(ptr), grad.ctypes.data_as(ptr), lp.ctypes.data_as(ptr),
                      cd.buffer_address)

    assert call(dens.ndim, x) == 0
    ref_lp, ref_g = dens.logp_and_grad(x)
    np.testing.assert_allclose(lp[0], ref_lp, rtol=1e-10)
    np.testing.assert_allclose(grad, ref_g, rtol=1e-10, atol=1e-10 * np.abs(ref_g).max())
    assert call(dens.ndim + 1, x) == -1  # wrong dimension: not recoverable
    bad = x.copy()
    bad[-1] = 800.0
    assert call(dens.ndim, bad) == 4  # not finite: recoverable (a divergence)

    expand_c = ctypes.CFUNCTYPE(
        ctypes.c_int64, ctypes.c_uint64, ctypes.c_uint64, ctypes.POINTER(ctypes.c_double),
        ctypes.POINTER(ctypes.c_double), ctypes.c_void_p,
    )(cd.expand_address)
    out = np.zeros(cd.n_expanded)
    ptr = ctypes.POINTER(ctypes.c_double)
    assert expand_c(dens.ndim, cd.n_expanded, x.ctypes.data_as(ptr), out.ctypes.data_as(ptr), cd.buffer_address) == 0
    np.testing.assert_allclose(out[:2], dens.unpack(x)["weights"], rtol=1e-14)


def _two_clusters():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(-3, 0.7, (60, 2)), rng.normal(3, 1.0, (40, 2))])


def test_nutpie_samples_with_compiled_density():
    from bayesgmm.inference import run_inference

    X = _two_clusters()
    init = {"weights": [0.6, 0.4], "means": [[-3.0, -3.0], [3.0, 3.0]], "covariances": [np.eye(2) * 0.5, np.eye(2)]}
    kw = dict(init=init, draws=60, tune=60, chains=2, random_seed=3, progressbar=False)
    tree = run_inference(X, 2, "full", **kw)
    assert tree.attrs["density"] == "compiled"
    post = tree["posterior"]
    assert set(post.data_vars) == {"weights", "means", "covariances", "sds", "correlations"}
    assert post["means"].shape == (2, 60, 2, 2)
    means = post["means"].mean(("chain", "draw")).values
    np.testing.assert_allclose(means, [[-3, -3], [3, 3]], atol=0.5)
    ref = run_inference(X, 2, "full", density="numpy", **kw)
    assert ref.attrs["density"] == "numpy"
    for name in post.data_vars:
        assert post[name].dims == ref["posterior"][name].dims
    # same posterior: the two paths' means agree within Monte Carlo error
    np.testing.assert_allclose(means, ref["posterior"]["means"].mean(("chain", "draw")).values, atol=0.3)


def test_fallback_to_numpy_density(monkeypatch):
    from bayesgmm.inference import run_inference

    X = _two_clusters()
    kw = dict(draws=10, tune=10, chains=1, random_seed=1, progressbar=False)

    def broken(dens):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(_compiled, "compile_density", broken)
    with pytest.warns(PerformanceWarning, match="numpy density"):
        tree = run_inference(X, 2, "spherical", **kw)
    assert tree.attrs["density"] == "numpy"
    monkeypatch.undo()

    # a covariance type without a compiled form: the numpy density, silently
    monkeypatch.setattr(type(get_covariance_type("diag")), "compiled_block", lambda self, *a: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerformanceWarning)
        tree = run_inference(X, 2, "diag", **kw)
    assert tree.attrs["density"] == "numpy"

    with pytest.raises(ValueError, match="density must be one of"):
        run_inference(X, 2, "diag", density="fast", **kw)


def test_delegates_to_numpy_density():
    """Other data or a scale (minibatches) and every other attribute are the numpy density's."""
    dens = MixtureDensity(_data(40, 2, seed=11), 2, "tied")
    cd = _compiled.CompiledDensity(dens)
    x = next(_points(dens, 1, seed=6))
    Xb = dens.X[:10]
    np.testing.assert_array_equal(cd.logp_and_grad(x, X=Xb, scale=4.0)[1], dens.logp_and_grad(x, X=Xb, scale=4.0)[1])
    assert cd.names == dens.names and cd.n_components == 2
    np.testing.assert_array_equal(cd.unpack(x)["chol"], dens.unpack(x)["chol"])


@pytest.mark.parametrize(
    "covariance_type",
    [name for name in __import__("bayesgmm.covariance", fromlist=["x"]).BAYESIAN_COVARIANCE_TYPES],
)
def test_every_bayesian_type_is_compiled_exactly_or_not_at_all(covariance_type):
    """A type inheriting a layout (EII from spherical, EEI from diag) must not inherit
    the parent's compiled block: the sampler then uses the numpy density."""
    from bayesgmm.inference._nutpie import _compiled_or_none

    X = _data(40, 2, seed=3)
    dens = MixtureDensity(X, 3, covariance_type, _priors(3))
    cd = _compiled_or_none(dens, "compiled")
    if cd is None:
        assert get_covariance_type(covariance_type).compiled_block(3, 2, dens.priors) is None
        return
    for x in _points(dens, 3, seed=5):
        _assert_same(dens, cd, x)


def test_block_rows():
    """Blocks: 256 rows for full covariances with D > 3; otherwise a power of two from 256
    to 4096 whose temporaries fit in BLOCK_BYTES."""
    assert _compiled._block_rows(10, 10, False) == _compiled.BLOCK == 256
    assert _compiled._block_rows(3, 2, True) == _compiled.BLOCK_MAX
    for K, D, diagonal in [(3, 2, False), (10, 3, False), (50, 2, True), (200, 50, True), (3, 1, False)]:
        blk = _compiled._block_rows(K, D, diagonal)
        per_row = 8 * (K + 3)  # y is stored only for full D > 3 (BLOCK rows)
        assert _compiled.BLOCK <= blk <= _compiled.BLOCK_MAX and blk & (blk - 1) == 0
        assert blk == _compiled.BLOCK or blk * per_row <= _compiled.BLOCK_BYTES
        assert blk == _compiled.BLOCK_MAX or 2 * blk * per_row > _compiled.BLOCK_BYTES
