"""One ``n_init`` default ("auto") everywhere, and one check of the argument (issue 17)."""

import numpy as np
import pytest

import bayesgmm as bg
from bayesgmm.em._init import AUTO_MAX_STARTS, check_n_init


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(3)
    return np.r_[rng.normal(0, 1, (40, 2)), rng.normal(6, 1, (40, 2))]


BAD = [0, -2, 2.5, "many", "", True, None, np.float64(3.0)]
MESSAGE = r'`n_init` must be "auto" or an integer >= 1 \(EM starts per fit\); got '


@pytest.mark.parametrize("bad", BAD, ids=repr)
def test_check_n_init_rejects(bad):
    with pytest.raises(ValueError, match=MESSAGE):
        check_n_init(bad)


def test_check_n_init_accepts_auto_and_integers():
    assert check_n_init("auto") == "auto"
    assert check_n_init(np.int64(4)) == 4 and type(check_n_init(np.int64(4))) is int


@pytest.mark.parametrize("bad", [0, "many", 1.5, True], ids=repr)
def test_every_entry_point_rejects_a_bad_n_init_before_any_work(blobs, bad):
    from bayesgmm.inference import em_start

    with pytest.raises(ValueError, match=MESSAGE):
        bg.select_components(blobs, [1, 2], n_init=bad, progressbar=False)
    with pytest.raises(ValueError, match=MESSAGE):
        bg.select_components(blobs, [1, 2], method="loo", n_init=bad, progressbar=False)
    m = bg.BayesianGMM(2, n_init=bad)
    with pytest.raises(ValueError, match=MESSAGE):
        m.fit(blobs)
    assert not hasattr(m, "em_")
    with pytest.raises(ValueError, match=MESSAGE):
        em_start(blobs, 2, n_init=bad)


def test_cli_n_init_takes_auto_or_a_number(capsys):
    from bayesgmm.cli._main import _parser

    parser = _parser()
    for sub in (["fit", "d.csv", "-k", "2", "-o", "f.nc"], ["select", "d.csv"]):
        assert parser.parse_args(sub + ["--n-init", "auto"]).n_init == "auto"
        assert parser.parse_args(sub + ["--n-init", "AUTO"]).n_init == "auto"
        assert parser.parse_args(sub + ["--n-init", "7"]).n_init == 7
        for bad in ("0", "x", "2.5"):
            with pytest.raises(SystemExit):
                parser.parse_args(sub + ["--n-init", bad])
            assert "expected 'auto' or an integer >= 1" in capsys.readouterr().err


def test_select_components_runs_auto_starts_and_int_starts(blobs):
    """The default runs the automatic number of starts per cell, an integer that many."""
    auto = bg.select_components(blobs, [1, 2], random_state=0, progressbar=False)
    three = bg.select_components(blobs, [1, 2], n_init=3, random_state=0, progressbar=False)
    for k in (1, 2):
        assert auto.models[(k, "full")].n_init == "auto"
        # 80 rows: the whole first round of 20 (and the probe's or later rounds' starts)
        assert auto.models[(k, "full")].n_init_ >= AUTO_MAX_STARTS
        assert three.models[(k, "full")].n_init_ == 3


def test_bayesian_gmm_default_runs_auto_starts(blobs):
    m = bg.BayesianGMM(2, draws=20, tune=20, chains=1, progressbar=False, random_state=0)
    assert m.n_init == "auto"
    m.fit(blobs)
    assert m.em_.n_init == "auto" and m.em_.n_init_ >= AUTO_MAX_STARTS


def test_every_estimator_defaults_to_the_one_n_init():
    """GaussianMixture, BayesianGMM, GaussianMixtureClassifier and select_components share
    one default (the classifier had n_init=1), and compare_kmeans uses it."""
    import inspect

    from bayesgmm.em._init import DEFAULT_N_INIT

    assert DEFAULT_N_INIT == "auto"
    for est in (bg.GaussianMixture(), bg.BayesianGMM(), bg.GaussianMixtureClassifier()):
        assert est.get_params()["n_init"] == DEFAULT_N_INIT, type(est).__name__
    assert inspect.signature(bg.select_components).parameters["n_init"].default == DEFAULT_N_INIT
    X = np.r_[np.random.default_rng(0).normal(0, 1, (30, 2)), np.random.default_rng(1).normal(5, 1, (30, 2))]
    y = np.r_[np.zeros(30), np.ones(30)]
    clf = bg.GaussianMixtureClassifier(n_components=(1, 2), random_state=0).fit(X, y)
    assert all(gm.n_init_ > 1 for gm in clf.estimators_)  # "auto": several starts
