"""scikit-learn's common estimator checks for the EM GaussianMixtureClassifier."""

import pytest

pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from bayesgmm.classification import GaussianMixtureClassifier  # noqa: E402

# Every check passes; none is expected to fail. (scikit-learn itself skips its array-API
# check when SCIPY_ARRAY_API is not set.)
EXPECTED_FAILED = {}


# n_init=1: the checks test the API, not the starts (the default "auto" runs 20 starts per fit: 4x the time)
@parametrize_with_checks(
    [GaussianMixtureClassifier(n_components=(1, 2), n_init=1, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
