"""Every warning and error class of bayesgmm, in one place.

All warnings derive from :class:`BayesGMMWarning`, so one filter silences or
escalates all of them::

    import warnings, bayesgmm.exceptions as bx
    warnings.simplefilter("error", bx.BayesGMMWarning)

The hierarchy::

    BayesGMMWarning (UserWarning)
    ├── ConvergenceWarning            an iterative fit stopped before it converged
    │   ├── RhatWarning               (also a SamplingWarning) chains disagree
    │   └── VIConvergenceWarning      (also a SamplingWarning) the VI loss still fell
    ├── DataConversionWarning         input was converted (a column-vector y raveled)
    ├── DegenerateComponentWarning    an EM component emptied or collapsed
    ├── PerformanceWarning            a slower code path was taken (e.g. no compiled density)
    ├── SamplingWarning               a posterior fit may be unreliable
    │   ├── LowESSWarning, DivergenceWarning, ChainModeWarning
    │   ├── StuckSamplerWarning       a chain did not move: its draws are no sample
    │   └── TemperingWarning          replica exchange made no round trip (method="tempering")
    ├── SelectionWarning              a component-selection cell failed or is unreliable
    │   └── ParetoKWarning
    └── UnverifiedFileWarning         a saved fit without a checksum was loaded

    NotFittedError (ValueError, AttributeError)

:class:`ConvergenceWarning` is deliberately *not* a subclass of
scikit-learn's ``sklearn.exceptions.ConvergenceWarning``: scikit-learn is not a
runtime dependency, and a class hierarchy must not depend on what else happens
to be installed. Filter ours (or :class:`BayesGMMWarning`) by name.
:class:`NotFittedError` raised by an estimator *is* also an instance of
scikit-learn's ``NotFittedError`` when scikit-learn is imported (an instance can
be made so at raise time; see :func:`not_fitted`), so scikit-learn's
``check_is_fitted`` idioms work.

This module imports nothing from bayesgmm: every layer may import it.

Examples
--------
>>> from bayesgmm.exceptions import BayesGMMWarning, ConvergenceWarning, RhatWarning
>>> issubclass(RhatWarning, ConvergenceWarning), issubclass(RhatWarning, BayesGMMWarning)
(True, True)
"""

from __future__ import annotations

import sys

__all__ = [
    "BayesGMMWarning",
    "ChainModeWarning",
    "CollapsedComponentWarning",
    "ConvergenceWarning",
    "DataConversionWarning",
    "DegenerateComponentWarning",
    "DivergenceWarning",
    "LowESSWarning",
    "NotFittedError",
    "ParetoKWarning",
    "PerformanceWarning",
    "RhatWarning",
    "SamplingWarning",
    "SelectionWarning",
    "SingularCovarianceError",
    "StuckSamplerWarning",
    "TemperingWarning",
    "UnverifiedFileWarning",
    "VIConvergenceWarning",
]


class BayesGMMWarning(UserWarning):
    """Base class of every bayesgmm warning.

    Examples
    --------
    >>> from bayesgmm.exceptions import BayesGMMWarning, DivergenceWarning
    >>> issubclass(DivergenceWarning, BayesGMMWarning)
    True
    """


class ConvergenceWarning(BayesGMMWarning):
    """An iterative fit stopped before it converged.

    Raised as such by EM when it stops at ``max_iter`` before the lower bound
    changed by less than ``tol``; :class:`RhatWarning` (NUTS chains that
    disagree) and :class:`VIConvergenceWarning` (a variational loss still
    falling) are subclasses.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from bayesgmm import GaussianMixture
    >>> from bayesgmm.exceptions import ConvergenceWarning
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     _ = GaussianMixture(3, max_iter=1, tol=0.0, random_state=0).fit(X)
    >>> any(issubclass(x.category, ConvergenceWarning) for x in w)
    True
    """


class DegenerateComponentWarning(BayesGMMWarning):
    """A mixture component became empty or collapsed (and was re-seeded), or
    ``reg_covar`` dominates a feature's variance.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from bayesgmm import GaussianMixture
    >>> from bayesgmm.exceptions import DegenerateComponentWarning
    >>> X = np.random.default_rng(0).normal(size=(60, 1))
    >>> far = GaussianMixture(2, means_init=[[0.0], [1000.0]])  # 2nd starts empty
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     _ = far.fit(X)
    >>> any(issubclass(x.category, DegenerateComponentWarning) for x in w)
    True
    """


class SamplingWarning(BayesGMMWarning):
    """Base class of the warnings about a posterior fit's reliability.

    Examples
    --------
    >>> import warnings
    >>> from bayesgmm.exceptions import SamplingWarning, DivergenceWarning
    >>> issubclass(DivergenceWarning, SamplingWarning)
    True
    >>> warnings.simplefilter("error", SamplingWarning)  # doctest: +SKIP
    """


class RhatWarning(SamplingWarning, ConvergenceWarning):
    """R-hat above the threshold: the chains disagree.

    Also importable as ``bayesgmm.diagnostics.ConvergenceWarning`` (its name
    before the exceptions module existed).

    Examples
    --------
    >>> from bayesgmm.exceptions import RhatWarning, SamplingWarning
    >>> issubclass(RhatWarning, SamplingWarning)
    True
    """


class LowESSWarning(SamplingWarning):
    """Bulk or tail effective sample size below the threshold.

    Examples
    --------
    >>> from bayesgmm.exceptions import LowESSWarning, SamplingWarning
    >>> issubclass(LowESSWarning, SamplingWarning)
    True
    """


class DivergenceWarning(SamplingWarning):
    """Divergent NUTS transitions: the draws may be biased.

    Examples
    --------
    >>> from bayesgmm.exceptions import DivergenceWarning, SamplingWarning
    >>> issubclass(DivergenceWarning, SamplingWarning)
    True
    """


class ChainModeWarning(SamplingWarning):
    """Chains settled in different posterior modes.

    Examples
    --------
    >>> from bayesgmm.exceptions import ChainModeWarning, SamplingWarning
    >>> issubclass(ChainModeWarning, SamplingWarning)
    True
    """


class TemperingWarning(SamplingWarning):
    """Replica exchange (``method="tempering"``) did not move well between temperatures.

    No replica made a round trip from the posterior to the prior and back, or
    the ladder has fewer temperatures than its communication barrier needs.

    Examples
    --------
    >>> from bayesgmm.exceptions import TemperingWarning, SamplingWarning
    >>> issubclass(TemperingWarning, SamplingWarning)
    True
    """


class StuckSamplerWarning(SamplingWarning):
    """A chain was stuck: collapsed step size, draws that do not move, or
    maximum tree depth on most draws while barely moving.

    The stuck chain's draws are (close to) its starting point, not a posterior
    sample; R-hat, ESS and chain-mode comparisons involving it are meaningless,
    so :func:`bayesgmm.diagnostics.check_diagnostics` computes them on the
    other chains only and reports this warning instead.

    Examples
    --------
    >>> from bayesgmm.exceptions import StuckSamplerWarning, SamplingWarning
    >>> issubclass(StuckSamplerWarning, SamplingWarning)
    True
    """


class CollapsedComponentWarning(SamplingWarning):
    """A component's sd collapsed onto identical (tied or rounded) observations in
    chains that kept moving (Gibbs sampling typically).

    The likelihood is unbounded there and, with the half-normal sd prior, the
    posterior is improper: the draws follow the spike rather than sample a
    posterior. Model rounded values as such (``method="gibbs"`` with
    ``resolution=``), de-duplicate, or use fewer components.

    Examples
    --------
    >>> from bayesgmm.exceptions import CollapsedComponentWarning, SamplingWarning
    >>> issubclass(CollapsedComponentWarning, SamplingWarning)
    True
    """


class VIConvergenceWarning(SamplingWarning, ConvergenceWarning):
    """The variational loss was still decreasing when the optimisation stopped.

    One class for both places that warn: the inference layer (while fitting)
    and :func:`bayesgmm.diagnostics.check_diagnostics` (afterwards).

    Examples
    --------
    >>> from bayesgmm.exceptions import VIConvergenceWarning, SamplingWarning
    >>> issubclass(VIConvergenceWarning, SamplingWarning)
    True
    """


class DataConversionWarning(BayesGMMWarning):
    """Input was converted to the expected form, e.g. a column-vector ``y`` raveled.

    Named as scikit-learn's warning of the same meaning, which its estimator checks
    look for; it is not a subclass of it (scikit-learn is not a runtime dependency).

    Examples
    --------
    >>> from bayesgmm.exceptions import BayesGMMWarning, DataConversionWarning
    >>> issubclass(DataConversionWarning, BayesGMMWarning)
    True
    """


class SelectionWarning(BayesGMMWarning):
    """A cell of the selection grid failed, did not converge, or was unreliable.

    Examples
    --------
    >>> from bayesgmm.exceptions import ParetoKWarning, SelectionWarning
    >>> issubclass(ParetoKWarning, SelectionWarning)
    True
    """


class ParetoKWarning(SelectionWarning):
    """PSIS-LOO Pareto k above the reliability threshold for some observations.

    Examples
    --------
    >>> from bayesgmm.exceptions import ParetoKWarning, BayesGMMWarning
    >>> issubclass(ParetoKWarning, BayesGMMWarning)
    True
    """


class PerformanceWarning(BayesGMMWarning):
    """A slower code path was taken: e.g. the compiled log density could not be
    built and NUTS ran on the numpy density (same posterior; chains take turns).

    Examples
    --------
    >>> from bayesgmm.exceptions import BayesGMMWarning, PerformanceWarning
    >>> issubclass(PerformanceWarning, BayesGMMWarning)
    True
    """


class SingularCovarianceError(ValueError):
    """A component covariance is singular (not positive definite) in an EM fit.

    A :class:`ValueError`, so code that caught the plain error still does.
    With several initialisations (``n_init``), a start that hits it counts
    as failed and the others go on; the error is raised when every start
    hit it.

    Examples
    --------
    >>> from bayesgmm.exceptions import SingularCovarianceError
    >>> issubclass(SingularCovarianceError, ValueError)
    True
    """


class UnverifiedFileWarning(BayesGMMWarning):
    """A saved fit was loaded without an integrity check.

    Files written by :meth:`bayesgmm.BayesianGMM.save` carry a SHA-256 digest
    of every array and attribute, checked by :meth:`~bayesgmm.BayesianGMM.load`;
    a file written before the digest existed (or whose digest attribute was
    removed) has none, so damage to its values cannot be detected. Its layout
    and attributes are still checked. Save the model again to add a digest.

    Examples
    --------
    >>> from bayesgmm.exceptions import UnverifiedFileWarning, BayesGMMWarning
    >>> issubclass(UnverifiedFileWarning, BayesGMMWarning)
    True
    """


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit``.

    When scikit-learn is imported, the raised error is also an instance of
    :class:`sklearn.exceptions.NotFittedError`.

    Examples
    --------
    >>> from bayesgmm import GaussianMixture
    >>> from bayesgmm.exceptions import NotFittedError
    >>> try:
    ...     GaussianMixture().predict([[0.0]])
    ... except NotFittedError as exc:
    ...     print(str(exc)[:45])
    This GaussianMixture instance is not fitted y
    """


_NOT_FITTED_CLS: dict[str, type] = {}


def not_fitted(name: str, method: str) -> NotFittedError:
    """The :class:`NotFittedError` to raise when ``name.method`` is used before ``fit``.

    When scikit-learn is imported, the error is of a subclass that is also
    scikit-learn's ``NotFittedError``.

    Examples
    --------
    >>> from bayesgmm.exceptions import NotFittedError, not_fitted
    >>> isinstance(not_fitted("GaussianMixture", "predict"), NotFittedError)
    True
    """
    cls = NotFittedError
    sk = sys.modules.get("sklearn.exceptions")
    if sk is not None:  # make it catchable as scikit-learn's error as well
        cls = _NOT_FITTED_CLS.get("sk")
        if cls is None:
            cls = type("NotFittedError", (NotFittedError, sk.NotFittedError), {})
            cls.__module__ = __name__
            _NOT_FITTED_CLS["sk"] = cls
    return cls(
        f"This {name} instance is not fitted yet. Call 'fit' with appropriate "
        f"arguments before using `{method}`."
    )
