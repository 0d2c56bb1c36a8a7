"""Results never depend on the memory layout of the input (issue 14).

numpy's pairwise sums and BLAS round differently on C- and Fortran-ordered
arrays; a Fortran-ordered array (what ``pandas.read_csv`` returns) once gave a
different posterior from the same data and seed. The data layer copies every
input to C order before anything depends on it, so every entry point gives
bit-identical results for both layouts.
"""

import numpy as np
import pandas as pd
import pytest

import bayesgmm as bg
from bayesgmm._data import check_array, prepare_data
from bayesgmm._logdensity import MixtureDensity
from bayesgmm.datasets import make_mixture
from bayesgmm.priors import Priors


@pytest.fixture(scope="module")
def data():
    X = make_mixture(150, 3, 3, covariance_type="full", random_state=3).X
    Xc = np.ascontiguousarray(X)
    Xf = np.asfortranarray(X)
    assert Xc.flags.c_contiguous and not Xc.flags.f_contiguous
    assert Xf.flags.f_contiguous and not Xf.flags.c_contiguous
    return Xc, Xf


def test_data_layer_returns_c_order(data):
    Xc, Xf = data
    for X in (Xf, pd.DataFrame(Xf, columns=list("abc")), Xc[::2], np.asfortranarray(Xc[::2, ::-1])):
        arr, _ = check_array(X)
        assert arr.flags.c_contiguous and arr.dtype == np.float64
        np.testing.assert_array_equal(arr, np.asarray(X))
    arr, _ = check_array(Xc)
    assert arr is Xc  # already C-ordered float64: no copy
    arr, _, _ = prepare_data(Xf)
    assert arr.flags.c_contiguous and arr is not Xf
    assert MixtureDensity(Xf, 2, "full").X.flags.c_contiguous


def test_em_identical_for_c_and_fortran(data):
    Xc, Xf = data
    fits = [bg.GaussianMixture(3, n_init=2, random_state=0).fit(X) for X in (Xc, Xf)]
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bound_", "n_iter_"):
        np.testing.assert_array_equal(getattr(fits[0], attr), getattr(fits[1], attr), err_msg=attr)
    for X in (Xc, Xf):
        np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(Xf))
        np.testing.assert_array_equal(fits[0].score_samples(X), fits[1].score_samples(Xc))
    assert fits[0].bic(Xc) == fits[1].bic(Xf)


def test_density_and_priors_identical_for_c_and_fortran(data):
    Xc, Xf = data
    dc, df = MixtureDensity(Xc, 3, "full"), MixtureDensity(Xf, 3, "full")
    x = np.random.default_rng(0).normal(size=dc.ndim) * 0.1
    lc, gc = dc.logp_and_grad(x)
    lf, gf = df.logp_and_grad(x)
    assert lc == lf
    np.testing.assert_array_equal(gc, gf)
    rc, rf = Priors().resolve(Xc, 3), Priors().resolve(Xf, 3)
    np.testing.assert_array_equal(rc.mean_sd, rf.mean_sd)
    np.testing.assert_array_equal(rc.mean_loc, rf.mean_loc)


def test_select_components_identical_for_c_and_fortran(data):
    Xc, Xf = data
    res = [bg.select_components(X, n_components=[1, 2], covariance_types=["full", "diag"], n_init=1,
                                random_state=0, progressbar=False) for X in (Xc, Xf)]
    np.testing.assert_array_equal(res[0].table["bic"].to_numpy(), res[1].table["bic"].to_numpy())


@pytest.mark.slow
def test_posterior_identical_for_c_and_fortran(data):
    """The same seed gives the same draws whatever the layout (short nutpie run, one core)."""
    Xc, Xf = data
    fits = []
    for X in (Xc, pd.DataFrame(Xf)):
        m = bg.BayesianGMM(2, covariance_type="diag", random_state=5)
        m.fit(X, draws=30, tune=30, chains=2, progressbar=False, cores=1)
        fits.append(m)
    for var in ("weights", "means", "covariances"):
        np.testing.assert_array_equal(fits[0].idata_["posterior"][var].values, fits[1].idata_["posterior"][var].values)
    np.testing.assert_array_equal(fits[0].em_.means_, fits[1].em_.means_)
