"""scikit-learn's common estimator checks for bayesgmm.GaussianMixture."""

import pytest

pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from bayesgmm import GaussianMixture  # noqa: E402

# Checks we expect to fail, with the reason (passed to scikit-learn, which then
# marks them xfail).
EXPECTED_FAILED = {
    # The check fits on rows shuffled and weighted vs. rows repeated in the
    # original order, 15 samples with 30 features. Our random initialisation
    # (k-means++ seeding) draws rows, so it depends on row order and the two fits
    # start from different points; with D > N both collapse to different
    # degenerate optima. Weighted == repeated with the *same* initialisation is
    # tested in tests/test_em.py::test_integer_weights_equal_repeated_rows.
    "check_sample_weight_equivalence_on_dense_data": (
        "random initialisation depends on row order, which the check shuffles"
    ),
}


@parametrize_with_checks(
    [GaussianMixture(n_components=2, random_state=0, max_iter=200)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
