"""The compiled one-pass E-step + statistics of ``diag`` (covariance/_fused.py)
against the numpy path of ``_kernels.accumulate_statistics``."""

import numpy as np
import pytest

from bayesgmm import GaussianMixture, _kernels
from bayesgmm.covariance import get_covariance_type
from bayesgmm.covariance._fused import _exp_tile, diag_statistics
from bayesgmm.covariance.diag import Diag

DIAG = get_covariance_type("diag")


class _NumpyDiag(Diag):
    """``diag`` without its compiled kernel: the matrix-product path."""

    def fused_statistics(self, n_features):
        return None

    def reuse_moment_features(self):
        return True


NUMPY_DIAG = _NumpyDiag()


def _problem(offset, sd, n=2000, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, d)) * 5 * sd + offset
    X = means[rng.integers(k, size=n)] + rng.normal(size=(n, d)) * sd
    pc = 1.0 / (sd * rng.uniform(0.5, 2.0, size=(k, d)))
    log_w = np.log(rng.dirichlet(np.ones(k)))
    return X, means, pc, log_w, rng.uniform(0.1, 2.0, size=n)


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("offset,sd", [(0.0, 1.0), (1e9, 1.0), (0.0, 1e-6), (1e3, 1e-3), (5.0, 1e4)])
@pytest.mark.parametrize("weighted", [False, True])
def test_fused_matches_numpy_path(offset, sd, weighted):
    X, means, pc, log_w, w = _problem(offset, sd)
    shift = X.mean(axis=0)
    kw = {"means": means - shift, "precisions_chol": pc, "log_weights": log_w, "shift": shift,
          "sample_weight": w if weighted else None, "n_worst": 7, "row_offset": 100}
    got = _kernels.accumulate_statistics(X, DIAG, **kw)
    ref = _kernels.accumulate_statistics(X, NUMPY_DIAG, **kw)
    assert got.centre is None and ref.centre is None  # both on the accurate-enough fast path
    for a, b in [(got.nk, ref.nk), (got.sx, ref.sx), (got.sxx, ref.sxx)]:
        assert _rel(a, b) < 1e-10
    assert abs(got.loglik - ref.loglik) < 1e-10 * abs(ref.loglik)
    assert got.weight == pytest.approx(ref.weight, rel=1e-14) and got.n == ref.n
    np.testing.assert_array_equal(got.worst_index, ref.worst_index)
    np.testing.assert_allclose(got.worst, ref.worst, rtol=1e-10)


def test_far_data_without_shift_keep_the_centred_path():
    # offset 1e9 in units of 1e-3: the expansion would cancel, both fall back
    # to the per-component centred statistics (the fused kernel is not used)
    X, means, pc, log_w, _ = _problem(1e9, 1e-3)
    kw = {"means": means, "precisions_chol": pc, "log_weights": log_w}
    got = _kernels.accumulate_statistics(X, DIAG, **kw)
    ref = _kernels.accumulate_statistics(X, NUMPY_DIAG, **kw)
    assert got.centre is not None
    np.testing.assert_array_equal(got.sxx, ref.sxx)
    assert got.loglik == ref.loglik


def test_fused_zero_weight_component_and_brute_force():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 2))
    means = np.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 0.5]])
    pc = np.array([[1.0, 2.0], [0.5, 1.0], [1.5, 0.7]])
    weights = np.array([0.6, 0.4, 0.0])
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    st = _kernels.accumulate_statistics(X, DIAG, means=means, precisions_chol=pc, log_weights=log_w)
    # brute force: densities of independent normals
    dens = np.prod(pc * np.exp(-0.5 * ((X[:, None, :] - means) * pc) ** 2) / np.sqrt(2 * np.pi), axis=2)
    joint = dens * weights
    r = joint / joint.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(st.loglik, np.log(joint.sum(axis=1)).sum(), rtol=1e-12)
    np.testing.assert_allclose(st.nk[:2], r.sum(axis=0)[:2], rtol=1e-12)
    assert st.nk[2] < 1e-250  # exp(-700) clipping, as the numpy path
    np.testing.assert_allclose(st.sx[:2], (r.T @ X)[:2], rtol=1e-12)
    np.testing.assert_allclose(st.sxx[:2], (r.T @ X**2)[:2], rtol=1e-12)


def test_exp_tile_against_numpy_exp():
    v = np.concatenate([-np.random.default_rng(0).uniform(0.0, 750.0, 5000),
                        [0.0, -700.0, -1e-300, -np.inf, -0.34657359, -0.34657360, -708.0]])
    n = v.size
    lp = v[None, :].copy()
    tot = np.zeros(n)
    _exp_tile(lp, np.zeros(n), n, tot)
    ref = np.exp(np.maximum(v, -700.0))
    assert np.max(np.abs(lp[0] - ref) / ref) < 3e-16  # bayesgmm._exp: about 1 ulp (tests/test_exp.py)
    np.testing.assert_array_equal(tot, lp[0])


def test_diag_statistics_rows_not_a_tile_multiple_and_empty():
    X, means, pc, log_w, w = _problem(0.0, 1.0, n=129)
    const = -0.5 * 4 * np.log(2 * np.pi) + np.log(pc).sum(axis=1) + log_w
    srz, log_norm, ll = diag_statistics(X, None, means, pc, const, w)
    ref = _kernels.accumulate_statistics(X, NUMPY_DIAG, means=means, precisions_chol=pc,
                                         log_weights=log_w, sample_weight=w)
    np.testing.assert_allclose(srz[:, -1], ref.nk, rtol=1e-12)
    np.testing.assert_allclose(ll, ref.loglik, rtol=1e-12)
    assert log_norm.shape == (129,)
    srz, log_norm, ll = diag_statistics(np.empty((0, 4)), None, means, pc, const)
    assert not srz.any() and ll == 0.0 and log_norm.shape == (0,)


def test_default_diag_fit_same_as_numpy_path(monkeypatch):
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(loc=c, size=(400, 3)) for c in (0.0, 4.0, 9.0)]) + 1e6
    fused = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    monkeypatch.setattr(Diag, "fused_statistics", lambda self, d: None)
    monkeypatch.setattr(Diag, "reuse_moment_features", lambda self: True)
    ref = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    assert fused.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(fused.means_, ref.means_, rtol=1e-10)
    np.testing.assert_allclose(fused.covariances_, ref.covariances_, rtol=1e-8)
    assert fused.score(X) == pytest.approx(ref.score(X), rel=1e-12)


def test_fused_docstring_examples_run():
    import doctest

    import bayesgmm.covariance._fused as fused

    res = doctest.testmod(fused, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0



def test_loglik_does_not_depend_on_where_the_arrays_lie():
    """The log-likelihood is the same to the last bit wherever its arrays lie in memory.

    It was summed in a loop that also stored, and LLVM chose between that loop's vector
    and scalar versions (different orders of the sum) by a run-time check of the arrays'
    addresses; the empty weight array of an unweighted fit has no real extent, so where
    the allocator put it decided, and CI once saw two identical fits differ (the bound
    in its last bits, and so which of two tied starts was kept). Here the empty weight
    array is a view into the output, so that the check finds an overlap."""
    from bayesgmm.covariance._fused import _diag_statistics

    rng = np.random.default_rng(3)
    n, d, k = 5000, 3, 3
    X = rng.normal(size=(n, d)) * 3
    means = rng.normal(size=(k, d))
    pc = rng.uniform(0.5, 2.0, size=(k, d))
    const = np.log(np.full(k, 1 / k)) - 0.5 * d * np.log(2 * np.pi) + np.log(pc).sum(1)
    shift = X.mean(axis=0)
    srz, log_norm, ref = diag_statistics(X, shift, means, pc, const)
    for start in (0, 1, 7, 100, 4000):
        out = np.empty(n)
        srz2 = np.zeros_like(srz)
        ll = _diag_statistics(X, shift, means, pc, const, out[start:start], out, srz2)
        assert ll == ref, (start, ll - ref)
        np.testing.assert_array_equal(out, log_norm)
        np.testing.assert_array_equal(srz2, srz)
