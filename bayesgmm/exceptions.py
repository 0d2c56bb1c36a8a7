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
    ├── DegenerateComponentWarning    an EM component emptied or collapsed
    ├── SamplingWarning               a posterior fit may be unreliable
    │   ├── LowESSWarning, DivergenceWarning, ChainModeWarning
    └── SelectionWarning              a component-selection cell failed or is unreliable
        └── ParetoKWarning

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
    "ConvergenceWarning",
    "DegenerateComponentWarning",
    "DivergenceWarning",
    "LowESSWarning",
    "NotFittedError",
    "ParetoKWarning",
    "RhatWarning",
    "SamplingWarning",
    "SelectionWarning",
    "SingularCovarianceError",
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
