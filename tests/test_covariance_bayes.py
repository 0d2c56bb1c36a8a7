"""The Bayesian block of every registered covariance type: PyMC form == numpy form.

Each test runs for every type in the registry (a new type is tested
automatically) and D in {1, 2, 3}, on a tiny ``pm.Model`` holding only the
type's ``pymc_prior``.
"""

import numpy as np
import pymc as pm
import pytest

from bayesgmm.covariance import BAYESIAN_COVARIANCE_TYPES, get_covariance_type
from bayesgmm.priors import Priors

FAST = "FAST_COMPILE"
K = 2
CASES = [(name, d) for name in BAYESIAN_COVARIANCE_TYPES for d in (1, 2, 3)]


def _priors(D):
    rng = np.random.default_rng(100 + D)
    X = rng.normal(size=(40, D)) * np.linspace(0.5, 3.0, D)
    return Priors(lkj_eta=1.7, sd_scale=np.linspace(0.6, 1.4, D).tolist()).resolve(X, K)


def _coords(D):
    return {"component": np.arange(K), "feature": [f"x{d}" for d in range(D)]}


class _Block:
    """A type's prior block as a tiny PyMC model, with its compiled functions."""

    def __init__(self, name, D):
        self.ct = get_covariance_type(name)
        self.D = D
        self.rp = _priors(D)
        with pm.Model(coords=_coords(D)) as m:
            chol = self.ct.pymc_prior(K, D, self.rp)
        self.model = m
        self.logp = m.compile_logp(mode=FAST)
        self.logp_constrained = m.compile_logp(jacobian=False, mode=FAST)
        self.dlogp = m.compile_dlogp(mode=FAST)
        self.chol = m.compile_fn(m.replace_rvs_by_values([chol])[0], inputs=m.value_vars, mode=FAST)
        self.n = self.ct.n_unconstrained(K, D)

    def point(self, u):
        """PyMC point (value-variable name -> array) from the numpy vector ``u``."""
        out, offset = {}, 0
        for name, shape in self.ct.unconstrained_blocks(K, self.D):
            size = int(np.prod(shape))
            out[name] = u[offset : offset + size].reshape(shape)
            offset += size
        assert offset == u.size
        return out

    def numpy_logp(self, u, dchol=None):
        L = self.ct.chol_from_unconstrained(u, K, self.D)
        dchol = np.zeros((K, self.D, self.D)) if dchol is None else dchol
        lp, grad = self.ct.log_prior_and_grad(L, dchol, self.rp)
        return self.ct.log_prior_constant(K, self.D, self.rp) + lp, grad

    def random_u(self, seed):
        return np.random.default_rng(seed).normal(scale=0.6, size=self.n)


@pytest.fixture(scope="module", params=CASES, ids=[f"{n}-D{d}" for n, d in CASES])
def block(request):
    return _Block(*request.param)


def test_value_var_names_match_pymc(block):
    m = block.model
    assert block.ct.value_var_names(K, block.D) == [v.name for v in m.value_vars]
    shapes = [shape for _, shape in block.ct.unconstrained_blocks(K, block.D)]
    assert shapes == [tuple(m.initial_point()[v.name].shape) for v in m.value_vars]


def test_numpy_block_equals_pymc_logp_grad_and_chol(block):
    for seed in range(3):
        u = block.random_u(seed)
        point = block.point(u)
        lp, grad = block.numpy_logp(u)
        np.testing.assert_allclose(lp, block.logp(point), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(grad, block.dlogp(point), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(
            block.ct.chol_from_unconstrained(u, K, block.D), block.chol(point), rtol=1e-12, atol=1e-14
        )


def test_gradient_with_chain_rule_matches_finite_differences(block):
    """grad = d/du [lp(u) + <G, chol(u)>] for a fixed likelihood gradient G (the chain rule)."""
    rng = np.random.default_rng(7)
    G = rng.normal(size=(K, block.D, block.D))
    u = block.random_u(11)

    def f(v):
        L = block.ct.chol_from_unconstrained(v, K, block.D)
        return block.numpy_logp(v)[0] + float(np.sum(G * L))

    _, grad = block.numpy_logp(u, dchol=G.copy())
    h = 1e-6
    fd = np.array([(f(u + h * e) - f(u - h * e)) / (2 * h) for e in np.eye(block.n)])
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6)


def test_transform_round_trip(block):
    ct, D = block.ct, block.D
    for seed in range(3):
        u = block.random_u(seed)
        L = ct.chol_from_unconstrained(u, K, D)
        full = L @ np.swapaxes(L, -1, -2)
        assert ct.unconstrained_from_covariances(ct.from_full(full), K, D).shape == u.shape
        np.testing.assert_allclose(ct.unconstrained_from_covariances(ct.from_full(full), K, D), u, atol=1e-12)
        np.testing.assert_allclose(ct.unconstrained_from_covariances(full, K, D), u, atol=1e-12)


def test_log_jacobian_by_finite_differences(block):
    """numpy density of u == PyMC's constrained density at theta(u) + log|det d theta / du|.

    ``theta`` is the constrained value of the free variables (what
    ``pymc_initvals`` returns, in model order); its Jacobian is taken by
    central differences, independently of the block's own Jacobian term.
    """
    ct, D = block.ct, block.D
    names = [rv.name for rv in block.model.free_RVs]

    def theta(v):
        vals = ct.pymc_initvals(ct.chol_from_unconstrained(v, K, D))
        assert sorted(vals) == sorted(names)
        return np.concatenate([np.ravel(vals[n]) for n in names])

    for seed in range(2):
        u = block.random_u(seed)
        h = 1e-6
        J = np.stack([(theta(u + h * e) - theta(u - h * e)) / (2 * h) for e in np.eye(block.n)], axis=1)
        log_jac = np.linalg.slogdet(J)[1]
        expected = block.logp_constrained(block.point(u)) + log_jac
        np.testing.assert_allclose(block.numpy_logp(u)[0], expected, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name,D", CASES, ids=[f"{n}-D{d}" for n, d in CASES])
def test_pymc_initvals_give_the_initial_point(name, D):
    ct = get_covariance_type(name)
    rp = _priors(D)
    u = np.random.default_rng(3).normal(scale=0.6, size=ct.n_unconstrained(K, D))
    with pm.Model(coords=_coords(D)) as m:
        ct.pymc_prior(K, D, rp)
    for var, value in ct.pymc_initvals(ct.chol_from_unconstrained(u, K, D)).items():
        m.set_initval(m[var], value)
    ip = m.initial_point()
    got = np.concatenate([np.ravel(ip[n]) for n in ct.value_var_names(K, D)])
    np.testing.assert_allclose(got, u, atol=1e-12)
