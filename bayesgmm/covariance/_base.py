"""The base class of the covariance parameterisations.

A :class:`CovarianceModel` subclass is the one place that knows everything
specific to one way of parameterising the component covariances: its
parameter layout (scikit-learn's, for EM), the number of free parameters, the
conversions to and from full ``(K, D, D)`` matrices, the precision Cholesky
factors, the EM E-step operands and M-step, the PyMC prior block, and the
numpy unconstrained transform that the fast posterior density uses. The rest
of the package asks the registry (:func:`bayesgmm.covariance.get_covariance_type`)
for the object and calls its methods; nothing else switches on a type name.

Adding a parameterisation means adding one module with one subclass and one
line in :mod:`bayesgmm.covariance` (the registry).

Layout vocabulary (scikit-learn's): ``covariances`` and ``precisions_chol``
have :meth:`CovarianceModel.covariance_shape`; ``precision = P @ P.T`` with
``P = inv(chol(cov)).T`` for matrices and ``P = 1 / sqrt(cov)`` for
variances, so ``||(x - mu) @ P||^2`` is the Mahalanobis distance.
"""

from __future__ import annotations

import math

import numpy as np

from bayesgmm import _kernels

__all__ = ["CovarianceModel"]

_LOG_2PI = math.log(2.0 * math.pi)


def _component_list(bad) -> str:
    bad = list(bad)
    return "component" + ("s " if len(bad) > 1 else " ") + ", ".join(map(str, bad))


class CovarianceModel:
    """One covariance parameterisation of a Gaussian mixture (abstract).

    Subclasses set the class attributes and implement the layout methods;
    instances hold no state (one instance per type lives in the registry), so
    they compare and hash by :attr:`name`, and a type equals its name
    (``get_covariance_type("full") == "full"``), so code and user input may
    carry either.

    Attributes
    ----------
    name : str
        The registry key (``"full"``, ``"tied"``, ``"diag"``, ``"spherical"``).
    description : str
        One-line meaning, for documentation and messages.
    is_matrix : bool
        Whether the layout holds ``D x D`` matrices (``full``, ``tied``) rather
        than variances.
    has_correlations : bool
        Whether the components can have non-zero correlations (a
        ``correlations`` posterior variable exists).
    shared : bool
        Whether all components share one covariance (``tied``).
    """

    name: str = ""
    description: str = ""
    is_matrix: bool = False
    has_correlations: bool = False
    shared: bool = False

    # ------------------------------------------------------------------ identity
    def __repr__(self) -> str:
        return f"<covariance type {self.name!r}: {self.description}>"

    def __eq__(self, other) -> bool:
        if isinstance(other, CovarianceModel):
            return self.name == other.name
        if isinstance(other, str):
            return self.name == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)

    def __reduce__(self):  # pickles (and copies) as the registry's instance
        from bayesgmm.covariance import get_covariance_type

        return (get_covariance_type, (self.name,))

    # -------------------------------------------------------------------- layout
    def covariance_shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        """Shape of ``covariances_`` / ``precisions_`` in scikit-learn's layout.

        Examples
        --------
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("full").covariance_shape(3, 2)
        (3, 2, 2)
        """
        raise NotImplementedError

    def n_covariance_parameters(self, n_components: int, n_features: int) -> float:
        """Free parameters of the covariances alone.

        Examples
        --------
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("tied").n_covariance_parameters(3, 2)
        3.0
        """
        raise NotImplementedError

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters of the whole mixture (weights, means, covariances).

        Same count as scikit-learn's ``GaussianMixture._n_parameters``:
        ``(K - 1) + K * D + covariance parameters``.

        Examples
        --------
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("full").n_parameters(2, 2)
        11
        """
        k, d = int(n_components), int(n_features)
        return int(self.n_covariance_parameters(k, d) + k * d + k - 1)

    def to_full(self, covariances, n_components: int, n_features: int | None = None) -> np.ndarray:
        """Expand covariances (this layout, any leading batch dims) to ``(..., K, D, D)``.

        Parameters
        ----------
        covariances : array-like
            ``full`` (..., K, D, D); ``tied`` (..., D, D); ``diag`` (..., K, D);
            ``spherical`` (..., K).
        n_components : int
            Number of components ``K``.
        n_features : int, optional
            Needed where the layout has no feature axis (``spherical``).

        Returns
        -------
        ndarray of shape (..., K, D, D)

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("tied").to_full(np.eye(2), 3).shape
        (3, 2, 2)
        """
        raise NotImplementedError

    def from_full(self, full) -> np.ndarray:
        """This layout from full matrices ``(..., K, D, D)`` (a projection).

        The inverse of :meth:`to_full` on matrices of this type; on other
        matrices the nearest member in the natural sense: ``tied`` takes the
        first component's matrix, ``diag`` the diagonals, ``spherical`` the
        mean of each diagonal.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("spherical").from_full(np.array([[[1.0, 0.0], [0.0, 3.0]]]))
        array([2.])
        """
        raise NotImplementedError

    # -------------------------------------------------------- precision factors
    def precision_cholesky(self, covariances) -> np.ndarray:
        """Cholesky factors ``P`` of the precisions, from covariances (this layout).

        Raises
        ------
        ValueError
            If a covariance is not positive-definite; the message names the
            component and suggests ``reg_covar``, scaling or fewer components.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("diag").precision_cholesky(np.array([[4.0]]))
        array([[0.5]])
        """
        raise NotImplementedError

    def precision_cholesky_from_precisions(self, precisions) -> np.ndarray:
        """Cholesky factors ``P`` (``precision = P @ P.T``) from precisions (this layout).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("spherical").precision_cholesky_from_precisions(np.array([4.0, 9.0]))
        array([2., 3.])
        """
        raise NotImplementedError

    def precisions_from_cholesky(self, precisions_chol) -> np.ndarray:
        """Precisions ``P @ P.T`` (matrices) or ``P**2`` (variances).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("spherical").precisions_from_cholesky(np.array([2.0]))
        array([4.])
        """
        raise NotImplementedError

    def covariances_from_precisions(self, precisions) -> np.ndarray:
        """Covariances from precisions (this layout).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("diag").covariances_from_precisions(np.array([[4.0]]))
        array([[0.25]])
        """
        raise NotImplementedError

    def log_det_cholesky(self, precisions_chol, n_features: int) -> np.ndarray:
        """``log det(P)`` per component (``= -0.5 log det(covariance)``), shape (K,)
        (a scalar for ``tied``).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> float(get_covariance_type("spherical").log_det_cholesky(np.array([0.5]), 2)[0])
        -1.3862943611198906
        """
        raise NotImplementedError

    # ============================================================ EM (E/M-steps)
    def m_step(self, stats: _kernels.SufficientStatistics, reg_covar: float):
        """EM M-step: ``(nk, means, covariances)`` from sufficient statistics.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm._kernels import accumulate_statistics
        >>> from bayesgmm.covariance import get_covariance_type
        >>> st = accumulate_statistics(np.array([[0.0], [2.0]]), "full", resp=np.ones((2, 1)))
        >>> get_covariance_type("full").m_step(st, 0.0)[2]
        array([[[1.]]])
        """
        return _kernels.estimate_parameters(stats, self.name, reg_covar)

    # (type-specific E-step operands, moment features, M-step, degeneracy
    # checks, sampling: see the subclasses)

    # ============================================================ Bayesian model
    # (PyMC prior block, value-variable names, numpy unconstrained transform
    # with its log prior and gradient: see the subclasses)


# ------------------------------------------------------------------ shared helpers
def matrix_precision_cholesky(covariances: np.ndarray, what: str) -> np.ndarray:
    """``inv(chol(C)).T`` for a stack ``(..., D, D)``; names the failing matrix."""

    def labels(bad):
        if what != "component":
            return what
        lead = covariances.shape[:-2]
        if len(lead) > 1:
            return "component" + ("s " if len(bad) > 1 else " ") + ", ".join(
                str(np.unravel_index(b, lead)) for b in bad
            )
        return _component_list(bad)

    return _kernels.precision_chol_of_matrix_stack(covariances, labels)


def vector_precision_cholesky(covariances: np.ndarray) -> np.ndarray:
    """``1 / sqrt(v)`` for variances; names the components that are not > 0."""
    if np.any(~(covariances > 0.0)):
        bad = np.unique(np.nonzero(~(covariances > 0.0))[0])
        raise ValueError(_kernels.singular_message(_component_list(bad)))
    return 1.0 / np.sqrt(covariances)


def flip(a: np.ndarray) -> np.ndarray:
    return a[..., ::-1, ::-1]


def matrix_precision_cholesky_from_precisions(precisions: np.ndarray) -> np.ndarray:
    try:
        return np.ascontiguousarray(flip(np.linalg.cholesky(flip(precisions))))
    except np.linalg.LinAlgError:
        raise ValueError(
            "`precisions_init` must be symmetric positive-definite; "
            "Cholesky factorisation failed. Pass inverse covariance matrices."
        ) from None
