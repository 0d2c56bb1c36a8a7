"""BayesianGMM as a scikit-learn estimator: the common checks, clone, Pipeline, GridSearchCV."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from bayesgmm import BayesianGMM  # noqa: E402
from bayesgmm.bayesian import FIT_SETTINGS  # noqa: E402
from bayesgmm.exceptions import BayesGMMWarning  # noqa: E402

#: Fast settings: NUTS with a few draws, one chain (about a second a fit).
FAST = dict(draws=10, tune=10, chains=1, progressbar=False)

# Checks expected to fail, with the reason (scikit-learn marks them xfail).
EXPECTED_FAILED = {
    # As for GaussianMixture: the check compares a fit on weighted shuffled rows with
    # one on repeated rows; sample_weight is not a fit parameter of BayesianGMM
    # (the posterior of repeated rows is not a weighted likelihood's), and the
    # random initialisation depends on row order.
    "check_sample_weight_equivalence_on_dense_data": "no sample_weight; initialisation depends on row order",
}


@pytest.mark.slow
@parametrize_with_checks(
    [BayesianGMM(n_components=2, random_state=0, **FAST)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        # tiny runs on the checks' random data: R-hat/ESS warnings are expected
        warnings.simplefilter("ignore", BayesGMMWarning)
        check(estimator)
