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
from bayesgmm.exceptions import SingularCovarianceError

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
    mclust_name : str
        mclust's three-letter name of the model (``"VVV"`` for ``full``);
        the registry accepts it as well as :attr:`name` (the same object).
    has_bayesian_model : bool
        Whether the Bayesian methods (PyMC prior block, unconstrained
        transform) are offered; where not they raise ``NotImplementedError``.
    singular_on_ties : {"feature", "row"} or None
        Which tied observations make the likelihood unbounded: ``"feature"``
        where a component has its own variance per feature (``full``, ``diag``:
        a component holding only observations with one value of a feature, its
        sd there going to 0), ``"row"`` where it has one variance (``spherical``:
        identical rows), ``None`` for a shared covariance (``tied``). With the
        half-normal sd prior, whose density does not vanish at 0, the posterior
        is then improper (:mod:`bayesgmm.selection` warns where it matters).
    """

    name: str = ""
    mclust_name: str = ""
    description: str = ""
    is_matrix: bool = False
    has_correlations: bool = False
    shared: bool = False
    has_bayesian_model: bool = True
    singular_on_ties: str | None = "feature"
    #: Whether EM offers the conjugate (MAP) prior of Fraley & Raftery (2007)
    #: for this type: :meth:`m_step` takes ``prior`` and
    #: :meth:`log_conjugate_prior` evaluates it.
    has_conjugate_prior: bool = False

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
    # The pieces of the numpy kernels (bayesgmm._kernels, which loop over row
    # chunks without knowing the type) and of the EM estimator that depend on
    # the parameterisation. Arrays are float64 in this type's layout.

    #: Whether the log-density kernel evaluates this type in coordinates
    #: centred on the means' mean: needed where :meth:`mahalanobis_plan`
    #: expands ``x'Px - 2 mu'Px + mu'Pmu``, which cancels catastrophically on
    #: uncentred data (an offset of 1e8 cost ~1 nat per observation).
    centre_log_density: bool = True

    def mahalanobis_plan(self, means, precisions_chol):
        """Squared Mahalanobis distances of row chunks to every component, as a function.

        The operands are computed once per call of the log-density kernel
        (:func:`bayesgmm._kernels.estimate_log_gaussian_prob`), which then
        calls the returned function on each row chunk.

        Parameters
        ----------
        means : ndarray of shape (K, D)
        precisions_chol : ndarray
            Precision Cholesky factors in this type's layout.

        Returns
        -------
        callable
            ``X`` (n, D) -> a new (n, K) array ``||(x_n - mu_k) P_k||^2``.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> maha = get_covariance_type("diag").mahalanobis_plan(np.zeros((1, 2)), np.full((1, 2), 0.5))
        >>> maha(np.array([[2.0, 4.0]]))
        array([[5.]])
        """
        raise NotImplementedError

    def n_moment_features(self, n_features: int) -> int:
        """Number of per-row second-moment features of the E/M-step products.

        Examples
        --------
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("full").n_moment_features(3), get_covariance_type("diag").n_moment_features(3)
        (6, 3)
        """
        raise NotImplementedError

    def second_moment_features(self, xt, out) -> None:
        """Fill ``out`` (:meth:`n_moment_features`, n) with the second-moment features.

        ``xt`` is a chunk transposed, (D, n). The features are what the
        sufficient statistics need: the upper triangle of ``x x^T``
        (row-major) for matrices, ``x**2`` for per-feature variances,
        ``|x|^2`` for one variance.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> out = np.empty((1, 2))
        >>> get_covariance_type("spherical").second_moment_features(np.array([[1.0, 2.0], [3.0, 4.0]]), out)
        >>> out
        array([[10., 20.]])
        """
        raise NotImplementedError

    def expansion_operands(self, means, precisions_chol, const):
        """``A`` (M, K) and ``c`` (K,) with ``z @ A + c = const - ||(x - mu_k) P_k||^2 / 2``.

        ``z`` is a row's features ``[second moments | x]``
        (:meth:`second_moment_features`, then ``x``); ``const`` (K,) is the
        rest of each component's weighted log-density (normalisation,
        log-determinant, log-weight), so the weighted log-densities of a chunk
        are one matrix product.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> A, c = get_covariance_type("diag").expansion_operands(
        ...     np.array([[1.0]]), np.array([[1.0]]), np.zeros(1))
        >>> A.T, c  # -x^2/2 + x - 1/2 = -(x - 1)^2 / 2
        (array([[-0.5,  1. ]]), array([-0.5]))
        """
        raise NotImplementedError

    def second_moments(self, compact, n_features: int):
        """Second moments in the layout of :class:`~bayesgmm._kernels.SufficientStatistics`.

        From ``compact`` (K, :meth:`n_moment_features`), the per-component
        sums ``sum_n w r z`` of the second-moment features.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("tied").second_moments(np.array([[1.0, 2.0, 3.0]]), 2)
        array([[1., 2.],
               [2., 3.]])
        """
        raise NotImplementedError

    def matrix_moment_features(self, matrices) -> np.ndarray:
        """The second-moment features of second-moment *matrices*, shape (K, :meth:`n_moment_features`).

        The features of a row are linear in ``x x^T`` (its upper triangle,
        diagonal or trace), so this maps expected second moments
        ``E[x x^T]`` of rows with missing values (one matrix per component)
        to what :meth:`second_moments` takes.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> S = np.array([[[1.0, 2.0], [2.0, 5.0]]])
        >>> get_covariance_type("full").matrix_moment_features(S)
        array([[1., 2., 5.]])
        >>> get_covariance_type("spherical").matrix_moment_features(S)
        array([[6.]])
        """
        raise NotImplementedError

    def second_moments_from_matrices(self, matrices):
        """:class:`~bayesgmm._kernels.SufficientStatistics` second moments from per-component
        second-moment matrices ``(K, D, D)`` (``sum_n w r_nk E[x x^T]``).

        The M-step of EM with missing values takes the expected statistics
        (Ghahramani & Jordan 1994) in this form, for every type: its
        scatter matrices are all it needs.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> S = np.array([[[1.0, 2.0], [2.0, 5.0]], [[1.0, 0.0], [0.0, 1.0]]])
        >>> get_covariance_type("tied").second_moments_from_matrices(S)
        array([[2., 2.],
               [2., 6.]])
        >>> get_covariance_type("diag").second_moments_from_matrices(S)
        array([[1., 5.],
               [1., 1.]])
        """
        matrices = np.asarray(matrices, dtype=np.float64)
        return self.second_moments(self.matrix_moment_features(matrices), matrices.shape[-1])

    def per_component(self, n_features: int, n_components: int) -> bool:
        """Whether the E/M-steps use per-component products instead of moment features.

        Per-component products (``(x - mu_k) P_k`` and ``sum r_k x x^T``
        for each ``k``) give second moments of shape (K, D, D), so only a
        type with that layout may answer True (``full``, with many features
        and few components).

        Examples
        --------
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("full").per_component(50, 3), get_covariance_type("diag").per_component(50, 3)
        (True, False)
        """
        return False

    def expansion_conditioning(self, precisions_chol):
        """How much the terms of the expanded quadratic form exceed its value, per component.

        The moment expansion evaluates ``(x - mu)^T Lambda (x - mu)`` as a sum
        of ``Lambda_ij x_i x_j`` terms; with strongly correlated directions
        (e.g. a component collapsed onto a plane) they cancel, and the
        rounding error relative to the result grows like the condition number
        of ``Lambda`` scaled to unit diagonal. Estimated from the rows of the
        precision Cholesky factor ``P`` (``Lambda = P P^T``):
        ``max_i |P_i|^2 / P_ii^2``, within a small factor of that condition
        number and blind to mere differences of scale between features. 1
        for diagonal precisions (all terms positive: nothing cancels).

        Returns
        -------
        float or ndarray of shape (K,)

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> full = get_covariance_type("full")
        >>> p = full.precision_cholesky(np.array([[[1.0, 0.99], [0.99, 1.0]]]))
        >>> full.expansion_conditioning(p).round(1)  # 1 / (1 - 0.99^2)
        array([50.3])
        >>> get_covariance_type("diag").expansion_conditioning(np.ones((2, 3)))
        1.0
        """
        return 1.0

    def component_precision_cholesky(self, precisions_chol, k: int):
        """The precision factor of component ``k`` alone, in this type's layout for one component.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("diag").component_precision_cholesky(np.arange(6.0).reshape(3, 2), 1)
        array([[2., 3.]])
        """
        return precisions_chol[k : k + 1]

    def fused_statistics(self, n_features: int):
        """A compiled one-pass E-step and statistics for this type, or None.

        ``fn(X, shift, means, precisions_chol, const, sample_weight)`` ->
        ``(srz, log_norm, loglik)``: the sums of ``[r * second moment
        features | r x | r]`` per component (the layout of
        :func:`bayesgmm._kernels.accumulate_statistics`), each row's log
        mixture density and their sum, with the log-densities computed from
        ``x - mu_k`` directly. :func:`~bayesgmm._kernels.accumulate_statistics`
        uses it instead of its matrix products where the moment expansion is
        accurate (``diag``: one pass over the rows instead of several over
        ``(K, n)`` temporaries). None (the default): the numpy path.

        Examples
        --------
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("full").fused_statistics(3) is None
        True
        """

    def reuse_moment_features(self) -> bool:
        """Whether an EM fit builds the per-row moment features once and reuses them.

        Worth it (memory permitting) where building them costs as much as
        the rest of an iteration: ``[|x|^2 | x | 1]`` (``spherical``); the
        ``D(D+1)/2`` matrix features are rebuilt chunk by chunk in every
        iteration instead, and ``diag`` reads the rows themselves (its
        :meth:`fused_statistics`).

        Examples
        --------
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("spherical").reuse_moment_features()
        True
        """
        raise NotImplementedError

    def m_step(self, stats: _kernels.SufficientStatistics, reg_covar: float, prior=None):
        """EM M-step: ``(nk, means, covariances)`` from sufficient statistics.

        Matches scikit-learn's ``_estimate_gaussian_parameters`` (``nk`` gets
        ``10 * eps`` added; ``reg_covar`` is added to the covariance diagonal).

        With ``prior`` (a resolved conjugate prior, see
        :class:`bayesgmm.ConjugatePrior`; only where
        :attr:`has_conjugate_prior`), the posterior mode of the means and
        covariances given the responsibilities instead (Fraley & Raftery
        2007); ``reg_covar`` is then not added (the prior's scale keeps the
        covariances positive definite).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm._kernels import accumulate_statistics
        >>> from bayesgmm.covariance import get_covariance_type
        >>> full = get_covariance_type("full")
        >>> st = accumulate_statistics(np.array([[0.0], [2.0]]), full, resp=np.ones((2, 1)))
        >>> full.m_step(st, 0.0)[2]
        array([[[1.]]])
        """
        raise NotImplementedError

    def m_step_from(self, stats: _kernels.SufficientStatistics, reg_covar: float, previous,
                    prior=None):
        """:meth:`m_step`, given the previous iteration's covariances (this layout) as well.

        Types whose M-step iterates start there (mclust's EVE and VVE at the
        previous orientation, VEI, VEE and VEV at the previous volumes), so each
        M-step needs few inner iterations (for EVE and VVE it then improves on
        the previous parameters: a generalised EM step); the others ignore
        ``previous``.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm._kernels import accumulate_statistics
        >>> from bayesgmm.covariance import get_covariance_type
        >>> full = get_covariance_type("full")
        >>> st = accumulate_statistics(np.array([[0.0], [2.0]]), full, resp=np.ones((2, 1)))
        >>> full.m_step_from(st, 0.0, np.ones((1, 1, 1)))[2]
        array([[[1.]]])
        """
        if prior is not None:
            return self.m_step(stats, reg_covar, prior=prior)
        return self.m_step(stats, reg_covar)

    # ------------------------------------------------- conjugate (MAP) prior
    def conjugate_prior_scale(self, scale, data_covariance, n_components: int):
        """The prior's scale in this type's form: a (D, D) matrix or a float.

        ``scale=None``: mclust's ``defaultPrior``, ``data_covariance / G^(2/D)``
        for general matrices and the mean of its diagonal (over features)
        times ``G^(-2/D)`` for axis variances; a given scale is checked
        (a symmetric positive-definite matrix, or a positive number).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("spherical").conjugate_prior_scale(None, np.diag([1.0, 3.0]), 4)
        0.5
        """
        raise NotImplementedError(self._no_conjugate_prior())

    def log_conjugate_prior(self, means, covariances, prior) -> float:
        """Log density of the conjugate prior at ``(means, covariances)`` (this layout).

        The normal prior of the means, ``N(mean, Sigma_k / shrinkage)`` (left
        out when ``shrinkage`` is 0), and an inverse-Wishart (matrices) or
        inverse-gamma (variances) prior with ``dof`` and ``scale`` on each
        free covariance parameter block, normalised; the weights have a flat
        prior. ``means`` in the coordinates of ``prior.mean``.

        Examples
        --------
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from bayesgmm.covariance import get_covariance_type
        >>> p = SimpleNamespace(shrinkage=0.0, mean=np.zeros(1), dof=2.0, scale=2.0)
        >>> round(get_covariance_type("spherical").log_conjugate_prior(np.zeros((1, 1)), np.ones(1), p), 6)
        -1.0
        """
        raise NotImplementedError(self._no_conjugate_prior())

    def _no_conjugate_prior(self) -> str:
        from bayesgmm.covariance import CONJUGATE_PRIOR_TYPES

        return (
            f"covariance_type={self.name!r} (mclust's {self.mclust_name}) has no conjugate "
            f"prior M-step; use prior=None, or one of {list(CONJUGATE_PRIOR_TYPES)}."
        )

    def check_precisions(self, precisions, name: str = "precisions_init") -> None:
        """Raise ``ValueError`` unless ``precisions`` (this layout) are valid precisions.

        Matrices must be symmetric positive-definite, variances positive.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("spherical").check_precisions(np.array([1.0, -1.0]))
        Traceback (most recent call last):
        ...
        ValueError: `precisions_init` (spherical) must be positive.
        """
        raise NotImplementedError

    def collapsed(self, covariances, candidates, reg_covar: float, spread, floor: float):
        """Which of the ``candidates`` components have collapsed, (K,) bool.

        A component is collapsed when its variance beyond ``reg_covar`` in
        some direction is at most ``1e-10`` times the data's variance in that
        direction, and the data's variance there exceeds ``floor``: ``full``
        looks at each component's direction of least variance, ``diag`` at
        each feature, ``spherical`` at the mean variance; a ``tied``
        covariance is never collapsed.

        Parameters
        ----------
        covariances : ndarray
            This layout.
        candidates : ndarray of shape (K,), bool
            The components to consider (e.g. those with little weight).
        reg_covar : float
        spread : object
            The data's spread, read only where needed: attributes ``cov``
            (D, D) covariance and ``var`` (D,) per-feature variances.
        floor : float
            Data variances at most this are treated as zero.

        Examples
        --------
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from bayesgmm.covariance import get_covariance_type
        >>> spread = SimpleNamespace(var=np.array([1.0, 4.0]))
        >>> covs = np.array([[1.0, 1e-6], [1.0, 2.0]])
        >>> get_covariance_type("diag").collapsed(covs, np.ones(2, bool), 1e-6, spread, 0.0)
        array([ True, False])
        """
        raise NotImplementedError

    def reseed_covariance(self, covariances, component: int, good, variance: float) -> None:
        """Give a re-seeded component a covariance, in place.

        The mean of the covariances of the ``good`` components (indices), or
        ``variance`` times the identity when there is none; a shared
        (``tied``) covariance is left as it is.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> c = np.array([1.0, 3.0, 0.0])
        >>> get_covariance_type("spherical").reseed_covariance(c, 2, np.array([0, 1]), 5.0)
        >>> c
        array([1., 3., 2.])
        """
        raise NotImplementedError

    def sample(self, rng, means, covariances, counts) -> np.ndarray:
        """Draws from each component in turn: ``counts[k]`` rows from component ``k``.

        Parameters
        ----------
        rng : numpy.random.RandomState or numpy.random.Generator
        means : ndarray of shape (K, D)
        covariances : ndarray
            This layout.
        counts : array of int, shape (K,)

        Returns
        -------
        ndarray of shape (sum(counts), D)
            Rows of component 0 first (the order and random calls of
            scikit-learn's ``GaussianMixture.sample``).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> rng = np.random.RandomState(0)
        >>> get_covariance_type("diag").sample(rng, np.zeros((2, 3)), np.ones((2, 3)), [2, 1]).shape
        (3, 3)
        """
        raise NotImplementedError

    def random_covariances(self, rng, n_components: int, n_features: int, scale: float = 1.0):
        """Random covariances in this layout (for synthetic data), eigenvalues in ``scale**2 * [0.3, 1)``.

        Matrices are ``Q diag(ev) Q^T`` with ``Q`` a random rotation;
        variances are drawn directly.

        Parameters
        ----------
        rng : numpy.random.Generator
        n_components, n_features : int
        scale : float, default=1.0
            Overall scale of the standard deviations.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("tied").random_covariances(np.random.default_rng(0), 3, 2).shape
        (2, 2)
        """
        raise NotImplementedError

    # ============================================================ Bayesian model
    # The covariance block of the posterior, in two forms that describe the
    # same density: the PyMC prior (:meth:`pymc_prior`, used by
    # bayesgmm.model.build_model) and the numpy transform with its log prior
    # and gradient (used by bayesgmm._logdensity.MixtureDensity). Each
    # subclass documents its prior in both forms; tests check them equal.
    # ``K``/``D`` are the component and feature counts; ``priors`` a
    # bayesgmm.priors.ResolvedPriors; ``chol`` lower Cholesky factors of the
    # covariances, always (K, D, D) (tied: a read-only broadcast).
    def unconstrained_blocks(self, n_components: int, n_features: int) -> list[tuple[str, tuple[int, ...]]]:
        """Names and shapes of PyMC's value variables of this block, in model order.

        The numpy unconstrained vector of :meth:`chol_from_unconstrained` is
        these blocks flattened and concatenated.

        Examples
        --------
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("full").unconstrained_blocks(2, 2)
        [('chol_cov_0_cholesky-cov-packed__', (3,)), ('chol_cov_1_cholesky-cov-packed__', (3,))]
        >>> get_covariance_type("diag").unconstrained_blocks(2, 3)
        [('sds_log__', (2, 3))]
        """
        raise NotImplementedError

    def value_var_names(self, n_components: int, n_features: int) -> list[str]:
        """PyMC value-variable names of this block, in model order.

        Examples
        --------
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("spherical").value_var_names(3, 2)
        ['sd_log__']
        """
        return [name for name, _ in self.unconstrained_blocks(n_components, n_features)]

    def n_unconstrained(self, n_components: int, n_features: int) -> int:
        """Length of this block's unconstrained vector.

        Examples
        --------
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("tied").n_unconstrained(4, 3)
        6
        """
        return sum(math.prod(shape) for _, shape in self.unconstrained_blocks(n_components, n_features))

    def pymc_prior(self, n_components: int, n_features: int, priors):
        """Create this block's free random variables in the current PyMC model.

        Must be called inside a ``pm.Model`` context whose coords include
        ``component`` and ``feature``.

        Returns
        -------
        pytensor.TensorVariable of shape (K, D, D)
            The lower Cholesky factors of the covariances.

        Examples
        --------
        >>> import numpy as np, pymc as pm
        >>> from bayesgmm.covariance import get_covariance_type
        >>> from bayesgmm.priors import Priors
        >>> rp = Priors().resolve(np.random.default_rng(0).normal(size=(20, 2)), 3)
        >>> with pm.Model(coords={"component": range(3), "feature": ["a", "b"]}) as m:
        ...     chol = get_covariance_type("diag").pymc_prior(3, 2, rp)
        >>> [v.name for v in m.value_vars]
        ['sds_log__']
        """
        raise NotImplementedError

    def pymc_initvals(self, chol) -> dict:
        """PyMC initial values (constrained, keyed by free-variable name) from ``chol`` (K, D, D).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("spherical").pymc_initvals(np.stack([np.eye(2), 2 * np.eye(2)]))
        {'sd': array([1., 2.])}
        """
        raise NotImplementedError

    def chol_from_unconstrained(self, u, n_components: int, n_features: int) -> np.ndarray:
        """Lower Cholesky factors (K, D, D) from the unconstrained vector ``u``.

        ``u`` is 1-d, of length :meth:`n_unconstrained`, in the order of
        :meth:`unconstrained_blocks`; PyMC's transforms of the same variables.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("diag").chol_from_unconstrained(np.log([1.0, 2.0]), 1, 2)
        array([[[1., 0.],
                [0., 2.]]])
        """
        raise NotImplementedError

    def unconstrained_from_covariances(self, covariances, n_components: int, n_features: int) -> np.ndarray:
        """The unconstrained vector of covariances (inverse of :meth:`chol_from_unconstrained`).

        Parameters
        ----------
        covariances : array-like
            This type's scikit-learn layout (:meth:`covariance_shape`), or a
            (K, D, D) stack of full matrices for any type (projected with
            :meth:`from_full`).

        Raises
        ------
        ValueError
            Wrong shape, non-finite values, or not positive definite.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("spherical").unconstrained_from_covariances([1.0, np.e ** 2], 2, 3)
        array([0., 1.])
        """
        K, D = int(n_components), int(n_features)
        cov = np.asarray(covariances, dtype=float)
        expected = self.covariance_shape(K, D)
        if cov.shape == (K, D, D) and cov.shape != expected:
            cov = self.from_full(cov)
        if cov.shape != expected:
            raise ValueError(
                f"covariances for covariance_type={self.name!r} must have shape {expected} "
                f"(scikit-learn layout), got {cov.shape}."
            )
        if not np.all(np.isfinite(cov)):
            raise ValueError("covariances contain NaN or infinite values.")
        return self._unconstrained_from_layout(cov, D)

    def _unconstrained_from_layout(self, covariances: np.ndarray, n_features: int) -> np.ndarray:
        """:meth:`unconstrained_from_covariances` on checked covariances of this layout."""
        raise NotImplementedError

    def log_prior_constant(self, n_components: int, n_features: int, priors) -> float:
        """The normalising constant of this block's log prior (see :meth:`log_prior_and_grad`).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> from bayesgmm.priors import Priors
        >>> rp = Priors().resolve(np.array([[0.0], [2.0]]), 1)
        >>> round(get_covariance_type("spherical").log_prior_constant(1, 1, rp), 6)
        -0.572365
        """
        raise NotImplementedError

    def log_prior_and_grad(self, chol, dchol, priors):
        """Log prior density of the unconstrained block, and the gradient with respect to it.

        Parameters
        ----------
        chol : ndarray of shape (K, D, D)
            ``chol_from_unconstrained(u, K, D)``.
        dchol : ndarray of shape (K, D, D)
            Gradient of the other terms of the log density (the likelihood)
            with respect to ``chol``; entries outside this type's free
            entries (upper triangle, off-diagonals of diagonal types) are
            ignored.
        priors : ResolvedPriors

        Returns
        -------
        lp : float
            Log prior density of ``u`` including the transform's log-Jacobian,
            *without* :meth:`log_prior_constant`: PyMC's ``logp`` of the
            variables of :meth:`pymc_prior` at ``u`` is
            ``log_prior_constant + lp``.
        grad : ndarray of shape (n_unconstrained,)
            Gradient with respect to ``u`` of ``lp`` plus the terms ``dchol``
            is the gradient of (the chain rule through ``chol``).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> from bayesgmm.priors import Priors
        >>> ct = get_covariance_type("full")
        >>> rp = Priors().resolve(np.random.default_rng(0).normal(size=(20, 2)), 2)
        >>> L = ct.chol_from_unconstrained(np.zeros(6), 2, 2)
        >>> lp, grad = ct.log_prior_and_grad(L, np.zeros_like(L), rp)
        >>> grad.shape
        (6,)
        """
        raise NotImplementedError

    def compiled_block(self, n_components: int, n_features: int, priors):
        """This block as the compiled log density evaluates it, or ``None`` if it has no compiled form.

        Returns
        -------
        CompiledBlock or None
            A :class:`~bayesgmm.covariance._blocks.CompiledBlock`: which
            compiled prior block of :mod:`bayesgmm.covariance._compiled`
            describes :meth:`chol_from_unconstrained` and
            :meth:`log_prior_and_grad`, with its constants. ``None`` (the
            default) makes the sampler use the numpy density
            (:class:`bayesgmm._logdensity.MixtureDensity`).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> from bayesgmm.priors import Priors
        >>> rp = Priors().resolve(np.random.default_rng(0).normal(size=(20, 2)), 3)
        >>> get_covariance_type("tied").compiled_block(3, 2, rp).n_factors
        1
        """
        return None

    def inverse_cholesky(self, chol) -> np.ndarray:
        """Inverses of lower Cholesky factors (K, D, D) (diagonal types: elementwise).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> get_covariance_type("diag").inverse_cholesky(np.array([[[2.0, 0.0], [0.0, 4.0]]]))
        array([[[0.5 , 0.  ],
                [0.  , 0.25]]])
        """
        if self.is_matrix:
            return np.linalg.inv(chol)
        K, D = chol.shape[0], chol.shape[-1]
        A = np.zeros((K, D * D))
        A[:, :: D + 1] = 1.0 / chol.reshape(K, D * D)[:, :: D + 1]
        return A.reshape(K, D, D)


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
        raise SingularCovarianceError(_kernels.singular_message(_component_list(bad)))
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
