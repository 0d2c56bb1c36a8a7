"""The EM estimator: :class:`GaussianMixture` (scikit-learn's API).

Thin: it validates its parameters and composes the rest of the package --
the chunk engine (:mod:`bayesgmm.em._engine`), the initialisation strategies
(:mod:`bayesgmm.em._init`), the degeneracy policy
(:mod:`bayesgmm.em._degeneracy`), the covariance type's M-step and precision
factors (:mod:`bayesgmm.covariance`) and the numpy kernels
(:mod:`bayesgmm._kernels`, whose :func:`~bayesgmm._kernels.mixture_log_likelihood`
gives every prediction).
"""

from __future__ import annotations

import math
import numbers
import warnings
from time import time

import numpy as np

from bayesgmm import _kernels
from bayesgmm._data import MISSING_HINT, orient, relative_sample_weight
from bayesgmm._estimator import EstimatorMixin
from bayesgmm._validation import (
    check_array,
    check_feature_names,
    check_n_features,
    check_random_state,
    check_sample_weight,
    is_dask_array,
)
from bayesgmm.covariance import get_covariance_type
from bayesgmm.em._degeneracy import (
    NEAR_SINGULAR,
    DataSpread,
    Degeneracy,
    regularisation_held,
    relative_variances,
    scatter_collapsed,
    too_few_observations,
    warn_near_singular,
    warn_reg_covar_scale,
)
from bayesgmm.em._engine import _block_stats_em, open_data
from bayesgmm.em._missing import MISSING_OPTIONS, MissingData, weighted_log_prob
from bayesgmm.em import _noise, _split_merge
from bayesgmm.em._init import (
    AUTO_MAX_STARTS,
    AUTO_PROBE_STARTS,
    AUTO_PROBE_STRATEGY,
    INIT_PARAMS,
    MIN_ITERATIONS,
    auto_extra_starts,
    auto_n_init,
    auto_work_starts,
    check_initial_parameters,
    initial_parameters,
    parameters_from_responsibilities,
    rugged,
    strategy,
)
from bayesgmm.em._prior import check_prior
from bayesgmm.exceptions import (
    ConvergenceWarning,
    DegenerateComponentWarning,
    SingularCovarianceError,
    not_fitted,
)

__all__ = ["GaussianMixture"]


def _higher(singular, bound, other_singular, other_bound):
    """Whether an end point (its near-singular components, its bound) beats another.

    One without a near-singular component beats one with, whatever the
    bounds; otherwise the higher bound wins (``other_bound`` includes any
    margin, e.g. ``+ tol``).
    """
    return (not singular.size, bound) > (not other_singular.size, other_bound)


#: Bounds of two starts that differ by less than this (relative, at least 1 nat
#: scale) count as tied, and the earlier start is kept (unless it warned and the
#: later one did not). Starts that reach the same maximum (often with the
#: components in another order) have bounds that differ only in their last bits,
#: and a strict comparison lets those bits choose the components' order. They
#: were not reproducible once: the diagonal E-step's log-likelihood changed in its
#: last bits with where the allocator had put its arrays (fixed in
#: ``covariance/_fused.py``), and CI saw the same fit (seed 67, diag, K = 3 in
#: tests/test_em.py) keep the other of two such starts on one call.
_TIE = 1e-12


def _tie_margin(bound):
    """The margin within which another start's bound ties with ``bound``."""
    return _TIE * max(1.0, abs(bound)) if np.isfinite(bound) else 0.0


class GaussianMixture(EstimatorMixin):
    """Gaussian mixture fitted by expectation-maximisation.

    Same parameters, methods and fitted attributes as
    :class:`sklearn.mixture.GaussianMixture` (scikit-learn is not needed to
    use it), plus ``sample_weight`` in :meth:`fit`, :meth:`icl`,
    ``lower_bounds_`` and input as pandas DataFrames, xarray DataArrays or
    dask arrays (fitted as a map-reduce over blocks).

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : str, default="full"
        ``full``: one general covariance per component; ``tied``: one shared
        general covariance; ``diag``: one diagonal covariance per component;
        ``spherical``: one variance per component. Or one of mclust's
        fourteen models ``"EII"``, ``"VII"``, ``"EEI"``, ``"VEI"``, ``"EVI"``,
        ``"VVI"``, ``"EEE"``, ``"VEE"``, ``"EVE"``, ``"VVE"``, ``"EEV"``,
        ``"VEV"``, ``"EVV"``, ``"VVV"`` (volume, shape, orientation Equal,
        Variable or Identity; ``VVV``, ``EEE``, ``VVI``, ``VII`` are the four
        above); the others store their covariances in the layout of
        ``full`` (``..E``, ``..V``), ``diag`` (``EEI``, ``VEI``, ``EVI``) or
        ``spherical`` (``EII``). With mclust's models ``reg_covar`` is added to
        each component's scatter before the constrained fit (see the user
        guide, "mclust's covariance models").
    tol : float, default=1e-3
        EM stops when the lower bound (mean log-likelihood per observation)
        changes by less than ``tol`` between iterations.
    reg_covar : float, default=1e-6
        Non-negative value added to the diagonal of every covariance.
    max_iter : int, default=100
        Maximum number of EM iterations per initialisation.
    n_init : int or "auto", default="auto"
        Number of initialisations; the one with the highest lower bound is
        kept (a start ending with a near-singular component counts as
        failed; bounds within 1e-12 relative count as tied, and the earlier
        start is kept unless it warned, e.g. re-seeded a component, and a
        later one did not, so that rounding never decides between starts
        that reached the same maximum). ``"auto"``: as many as a fixed
        amount of work allows, at most 20 in a first round -- 20 on data of
        up to about ten thousand rows (a start costs milliseconds there),
        one at 100,000 rows, 10 features and 10 components (``n_init_`` says
        how many ran); the
        first start uses ``init_params``, the others cycle through random
        partitions, random observations and k-means, because different
        kinds of start reach different maxima. Where the first round was
        capped at 20 and looks rugged (its best maximum reached by only one
        start, or half its starts at maxima no other start reached; bounds
        within ``max(10 tol, 1e-5)`` per observation count as one maximum),
        up to two more rounds of 20 run while the work budget pays for them
        and the verdict stays rugged, with k-means on the standardised
        features in place of raw k-means; each round searches on its own
        (starts, then split-and-merge moves) and its result replaces the
        first round's only where it ends higher. Where the capped first
        round does not look rugged, four starts of k-means on the
        standardised features probe whether its agreement is an artefact of
        the features' units (raw k-means is not unit-free); where one ends
        higher, it is kept and the later rounds run (20 more starts, then 16
        while the verdict is rugged: the probe's four come out of the same
        budget). An integer runs
        that many starts of ``init_params`` (``n_init=1`` is
        scikit-learn's default and gives scikit-learn's fit from the same
        seed). With ``weights_init``, ``means_init`` or ``precisions_init``
        given, ``"auto"`` is one start.
    init_params : {"kmeans", "k-means++", "random", "random_from_data", "random_partition", "hc"}, default="kmeans"
        How the initial responsibilities are made: hard assignments of
        k-means (k-means++ seeding then Lloyd iterations); of k-means++
        seeding only; uniform random responsibilities; ``n_components``
        randomly chosen observations as means (scikit-learn's four); each
        observation in a uniformly random component
        (``"random_partition"``, like mclust's random-pairs starts); or
        ``"hc"``, R mclust's default start: the hard classes of
        model-based hierarchical agglomeration (Fraley 1998; merge the pair
        that least decreases the classification likelihood of the
        unconstrained Gaussian model, on the standardised, SVD-rotated data;
        on a random subset of 2000 rows for larger data) for the first
        initialisation and k-means for the others. ``init_params="hc",
        n_init=10`` reaches better maxima than k-means starts on mclust's
        standard data sets, at the cost of the agglomeration (quadratic in
        the rows it runs on: about 0.1 s for 300 rows, seconds for 2000);
        the user guide's EM section has the measurements.
    weights_init : array-like of shape (n_components,), optional
        Initial weights (non-negative, summing to one).
    means_init : array-like of shape (n_components, n_features), optional
        Initial means.
    precisions_init : array-like, optional
        Initial precisions (inverse covariances) in the layout of
        ``covariance_type``: (K,) spherical, (D, D) tied, (K, D) diag,
        (K, D, D) full.
    random_state : int, RandomState or None, default=None
        Seed for the initialisation (and :meth:`sample`). The same seed gives
        the same fit.
    warm_start : bool, default=False
        Start from the previous fit's parameters (``n_init`` then ignored).
    verbose : int, default=0
        1 prints each initialisation and iteration; 2 also the change of the
        lower bound and timings.
    verbose_interval : int, default=10
        Iterations between printed messages.
    prior : None, "default" or ConjugatePrior, default=None
        None: maximum likelihood (scikit-learn's EM). ``"default"`` or a
        :class:`~bayesgmm.ConjugatePrior`: the MAP estimate under the
        conjugate prior of Fraley & Raftery (2007), R mclust's
        ``priorControl()`` (``"default"`` is mclust's ``defaultPrior``); it
        keeps components off tied values and single observations, the
        spurious maxima of maximum likelihood. ``lower_bound_`` is then the
        mean log posterior per observation; BIC and ICL use the
        log-likelihood. Available for ``full``, ``tied``, ``diag``,
        ``spherical``, ``EII`` and ``EEI``; not with ``sample_weight``.
    missing : {"error", "marginalize"}, default="error"
        What to do with missing values (NaN) in ``X``. ``"error"``: a
        ``ValueError`` naming the columns and the first rows with NaN.
        ``"marginalize"``: use the incomplete rows, assuming the values are
        missing at random (whether a value is missing may depend on the
        observed values, not on the missing one): the E-step uses each row's
        marginal density of its observed coordinates, the M-step the
        conditional expectations of the missing coordinates and their
        conditional covariances (Ghahramani & Jordan 1994), for every
        ``covariance_type``; the lower bound, :meth:`score_samples`,
        :meth:`bic`, :meth:`aic` and :meth:`icl` use the observed-data
        likelihood, and :meth:`predict` / :meth:`predict_proba` the observed
        coordinates of each row. The starts are made on the mean-imputed
        data (each NaN replaced by its column's observed mean). In-memory
        data only (a dask array with NaN raises); ``inf`` always raises.
        Without NaN in ``X`` the fit is the same as with ``"error"``.
        Not with ``noise=True`` (a ``ValueError``).
    noise : bool, default=False
        Add a uniform noise component, as R mclust's ``noise`` (Banfield &
        Raftery 1993): constant density ``1 / V`` over the data region and its
        own weight ``noise_weight_``, estimated by EM, so that scattered
        outliers do not inflate or drag the Gaussian components.
        :meth:`predict` then returns ``-1`` for rows most probably noise and
        :meth:`predict_proba` has a last column for the noise; BIC and AIC
        count two more parameters (mclust's ``nMclustParams(noise = TRUE)``:
        the noise proportion and the hypervolume). In-memory data only; not with
        ``missing="marginalize"`` or a ``prior`` (a ``ValueError``).
        See the user guide, "Anomalies with uncertainty".
    noise_init : "nnclean", None or array-like of bool, shape (n_samples,)
        The rows that start as noise (``noise=True`` only). ``None`` or
        ``"nnclean"``: nearest-neighbour cleaning (Byers & Raftery 1998, the
        ``NNclean(X, k = 5)`` of mclust's documentation). The Gaussians start
        from ``init_params`` on the other rows, as mclust starts from ``hc``
        on them; the noise weight from the flagged rows' share.
    noise_hypervolume : float, optional
        ``V`` (``noise=True`` only); default mclust's ``hypvol``: the smaller
        of the volumes of the data's bounding box along the coordinate axes
        and along its principal components.
    split_merge : int or "auto", default="auto"
        The most split-and-merge moves to try after the starts (Ueda,
        Nakano, Ghahramani & Hinton 2000): from the best start, merge the
        two components whose responsibilities overlap most and split the
        one that fits its observations worst (a hard split along its
        principal axis), run EM from there, and keep the result when it
        ends higher by more than ``tol``; then go on from there, and, when
        every candidate fails, from the next-best distinct start. Candidates
        are tried best first and deterministically (no random numbers are
        drawn). ``"auto"``: six times as many moves as
        starts when ``n_init="auto"`` runs more than one start (120 on data
        of up to about ten thousand rows; there, with eight or nine
        components, enough to try every candidate of the best start once:
        168 or 252), none otherwise -- so an explicit
        ``n_init`` (and ``n_init=1``, scikit-learn's fit) is unchanged, and
        large data pay nothing. ``0``: no moves. Only for three or more
        components and in-memory data without NaN, not with
        ``noise=True``. The moves reach maxima that no start of the
        ``n_init`` reached (``benchmarks/mclust/``; the user guide's EM
        section has the figures).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        Layout of ``covariance_type`` (see ``precisions_init``).
    precisions_ : ndarray
        Inverse covariances, same layout.
    precisions_cholesky_ : ndarray
        ``precision = P @ P.T`` (matrix types) or ``P**2`` (vector types).
    converged_ : bool
        Whether the best initialisation converged within ``max_iter``.
    n_iter_ : int
        EM iterations of the best initialisation.
    n_init_ : int
        Initialisations run (``n_init``, or the number ``"auto"`` chose; 1
        for a warm start).
    lower_bound_ : float
        Mean (weighted) log-likelihood per observation of the best
        initialisation, evaluated at the parameters *before* its last
        M-step (scikit-learn's definition); with a ``prior``, the log
        posterior (log-likelihood plus log prior) over the number of
        observations.
    lower_bounds_ : list of float
        ``lower_bound`` after each iteration of the best initialisation.
    noise_weight_ : float
        With ``noise=True``: the noise component's weight (``weights_`` are
        then the Gaussians' and sum to ``1 - noise_weight_``).
    noise_hypervolume_ : float
        With ``noise=True``: ``V``, the noise density being ``1 / V``.
    noise_hypervolume_kind_ : str
        ``"box"``, ``"principal-components box"`` or ``"given"``.
    degenerate_components_ : ndarray of int
        Components of the returned solution that are near-singular (see
        Notes); empty unless every initialisation ended with one.
    split_merge_trials_ : int
        Split-and-merge moves tried (``split_merge``).
    split_merge_moves_ : int
        Moves kept: how many times a move ended above the best so far.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names seen in ``fit`` (only for data with string column names).

    Notes
    -----
    ``sample_weight`` scales each observation's contribution to the
    sufficient statistics (``sum w r``, ``sum w r x``, ``sum w r x x^T``) and
    to the log-likelihood, so an integer weight is the same as repeating the
    row that many times; ``lower_bound_`` is then the weighted mean
    ``sum w log p(x) / sum w``.  Only relative weights matter: the weights are
    divided by their largest value before use, so multiplying them all by any
    positive number (``1e306`` or ``1e-20``) gives the same fit.  A weight
    must be finite and ``>= 0`` (a scalar is checked like an array of it).

    Threads: when the per-chunk matrix products are small (``K`` times the
    number of per-row features at most 4096, e.g. full covariances with
    D <= 25 and K = 10), ``fit`` runs BLAS single-threaded (``threadpoolctl``)
    and instead, when one E-step is large enough to pay for it (``N`` times
    ``K`` times the number of per-row features at least 1e7, e.g. N >= 5e4
    for D = 10, K = 10 diagonal), processes row blocks of in-memory data on
    as many threads as BLAS was allowed to use when ``fit`` was called (at
    most the CPUs the process may run on): ``threadpoolctl.threadpool_limits(1)`` or
    ``OPENBLAS_NUM_THREADS=1`` keep a fit on one thread. Block boundaries
    depend only on the data size and the per-block results are summed in
    block order, so the fitted parameters are bit-for-bit the same for any
    number of threads. Larger products keep the caller's BLAS setting and
    one thread of blocks (BLAS parallelises them itself); dask arrays run on
    dask's scheduler.

    Empty components (less than one observation's worth of responsibility)
    and components collapsed onto a single observation (less than two
    observations' worth and no variance beyond ``reg_covar`` left in some
    direction) are re-seeded at the worst-explained observation with the
    average covariance of the other components and weight ``1/K``; a
    :class:`DegenerateComponentWarning` says so. The lower bound can drop at
    such an iteration.

    Spurious maxima: an initialisation that ends with a *near-singular*
    component -- one whose variance in some direction is below 1e-4 times
    the data's variance in that direction (the smallest generalised
    eigenvalue of its covariance against the data covariance), e.g. a
    component on tied values of a discretised feature or on a few points,
    held up only by ``reg_covar`` -- counts as failed: the best
    initialisation without one is returned, whatever its bound (R mclust
    likewise rejects singular fits). When every initialisation ended so, the
    best is returned with a :class:`DegenerateComponentWarning` naming the
    components, and ``degenerate_components_`` lists them; use fewer
    components, a larger ``reg_covar`` (which the check respects: with
    ``reg_covar`` above 1e-4 of a direction's variance nothing is flagged)
    or more initialisations. :func:`bayesgmm.select_components` does not
    choose such cells.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm import GaussianMixture
    >>> X = np.array([[0.5, 2], [1, 4], [1.5, 0], [9.5, 2], [10, 4], [10.5, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.sort(gm.means_[:, 0])
    array([ 1., 10.])
    >>> gm.predict([[0, 0], [12, 3]]).tolist() == [int(np.argmin(gm.means_[:, 0])),
    ...                                            int(np.argmax(gm.means_[:, 0]))]
    True
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init="auto",
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        prior=None,
        missing="error",
        noise=False,
        noise_init=None,
        noise_hypervolume=None,
        split_merge="auto",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.prior = prior
        self.missing = missing
        self.noise = noise
        self.noise_init = noise_init
        self.noise_hypervolume = noise_hypervolume
        self.split_merge = split_merge

    # ---------------------------------------------------------------- protocol
    def __sklearn_is_fitted__(self):
        return hasattr(self, "means_")

    def __getstate__(self):
        return dict(self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)

    @classmethod
    def _from_state(cls, params, *, weights, means, covariances, converged, n_iter,
                    lower_bound, lower_bounds=(), feature_names_in=None, noise=None):
        """A fitted estimator from stored parameters (used by ``BayesianGMM.load``).

        ``params`` are the constructor arguments; ``covariances`` are in the layout
        of ``params["covariance_type"]``; the precision factors are recomputed from
        them. The keyword arguments are those of
        :func:`bayesgmm._datatree.get_em_state`.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm import GaussianMixture
        >>> gm = GaussianMixture._from_state(
        ...     {"n_components": 1, "covariance_type": "spherical"}, weights=np.ones(1),
        ...     means=np.zeros((1, 2)), covariances=np.ones(1), converged=True, n_iter=1,
        ...     lower_bound=-2.8)
        >>> gm.predict(np.zeros((3, 2)))
        array([0, 0, 0])
        """
        em = cls(**params)
        ct = get_covariance_type(em.covariance_type)
        em.weights_ = np.array(weights, dtype=np.float64)
        em.means_ = np.array(means, dtype=np.float64)
        em.covariances_ = np.array(covariances, dtype=np.float64)
        em.precisions_cholesky_ = ct.precision_cholesky(em.covariances_)
        em.precisions_ = ct.precisions_from_cholesky(em.precisions_cholesky_)
        em.converged_ = bool(converged)
        em.n_iter_ = int(n_iter)
        em.lower_bound_ = float(lower_bound)
        em.lower_bounds_ = [float(v) for v in lower_bounds]
        em.n_features_in_ = int(em.means_.shape[1])
        if feature_names_in is not None:
            em.feature_names_in_ = np.asarray(list(feature_names_in), dtype=object)
        if noise is not None:  # the uniform noise component's fitted values
            em.noise_weight_ = float(noise["weight"])
            em.noise_hypervolume_ = float(noise["hypervolume"])
            em.noise_hypervolume_kind_ = str(noise["hypervolume_kind"])
            box = noise.get("box")
            if box is not None:  # (offset, rotation, lower, upper), for sample()
                D = em.n_features_in_
                parts = np.split(np.asarray(box, dtype=np.float64), [D, D + D * D, 2 * D + D * D])
                box = (parts[0], parts[1].reshape(D, D), parts[2], parts[3])
                em._noise_fit = _noise.NoiseModel(em.noise_hypervolume_, em.noise_hypervolume_kind_,
                                                  None, box)
        return em

    # ------------------------------------------------------------- validation
    def _check_params(self):
        def _int(name, lo):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < lo:
                raise ValueError(
                    f"`{name}` must be an integer >= {lo}; got {v!r}."
                )

        def _real(name, lo):
            v = getattr(self, name)
            if not isinstance(v, numbers.Real) or isinstance(v, bool) or not (v >= lo) or not np.isfinite(v):
                raise ValueError(f"`{name}` must be a finite number >= {lo}; got {v!r}.")

        _int("n_components", 1)
        _int("max_iter", 0)
        if not (isinstance(self.n_init, str) and self.n_init == "auto"):
            v = self.n_init
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ValueError(f'`n_init` must be "auto" or an integer >= 1; got {v!r}.')
        _int("verbose_interval", 1)
        if not (isinstance(self.split_merge, str) and self.split_merge == "auto"):
            v = self.split_merge
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 0:
                raise ValueError(
                    f'`split_merge` must be "auto" or an integer >= 0 (the most '
                    f"split-and-merge moves to try; 0 for none); got {v!r}."
                )
        _real("tol", 0.0)
        _real("reg_covar", 0.0)
        get_covariance_type(self.covariance_type)  # a ValueError listing the valid names
        if self.init_params not in INIT_PARAMS:
            raise ValueError(
                f"`init_params` must be one of {list(INIT_PARAMS)}; got {self.init_params!r}."
            )
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise ValueError(f"`warm_start` must be True or False; got {self.warm_start!r}.")
        if not isinstance(self.verbose, (numbers.Integral, bool)):
            raise ValueError(f"`verbose` must be an integer (0, 1, 2); got {self.verbose!r}.")
        check_prior(self.prior, get_covariance_type(self.covariance_type))
        if not isinstance(self.missing, str) or self.missing not in MISSING_OPTIONS:
            raise ValueError(
                f"`missing` must be one of {list(MISSING_OPTIONS)}; got {self.missing!r}. "
                '"marginalize" uses rows with NaN (missing at random).'
            )

        _noise.check_noise(self.noise, self.noise_init, self.noise_hypervolume)
        if self.noise and self.missing == "marginalize":
            raise _noise.noise_with_missing_error("noise=True", "noise=False")
        if self.noise and self.prior is not None:
            raise ValueError(
                "noise=True cannot be combined with a `prior` yet (the noise component's EM "
                "maximises the likelihood); fit with prior=None, or with noise=False."
            )

    @property
    def _allow_nan(self):
        """Whether NaN in ``X`` are missing values to integrate out (``missing="marginalize"``)."""
        return getattr(self, "missing", "error") == "marginalize"

    def _check_X(self, X, **kwargs):
        """:func:`~bayesgmm._data.check_array` with this estimator's rule for NaN."""
        allow = self._allow_nan
        return check_array(X, name="X", allow_nan=allow,
                           nan_hint="" if allow else MISSING_HINT, **kwargs)

    @property
    def _covariance_model(self):
        """The covariance type object of ``covariance_type``."""
        return get_covariance_type(self.covariance_type)

    def _check_fitted(self, method):
        if not hasattr(self, "means_"):
            raise not_fitted(type(self).__name__, method)

    def _validate_predict_X(self, X, method):
        self._check_fitted(method)
        arr, names = self._check_X(X)
        check_feature_names(getattr(self, "feature_names_in_", None), names, type(self).__name__)
        check_n_features(self.n_features_in_, arr.shape, "X", type(self).__name__)
        return arr

    # ------------------------------------------------------------------- fit
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM (best of ``n_init`` initialisations).

        Parameters
        ----------
        X : array-like, DataFrame, DataArray or dask array, shape (n_samples, n_features)
            Data. Never modified.
        y : None
            Ignored (scikit-learn API).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative observation weights; each observation's contribution
            to the sufficient statistics and the log-likelihood is scaled by
            its weight (integer weights = repeated rows).

        Returns
        -------
        self : GaussianMixture

        Warns
        -----
        ConvergenceWarning
            The best initialisation did not converge within ``max_iter``.
        DegenerateComponentWarning
            A component was re-seeded, or every initialisation ended with a
            near-singular component.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm import GaussianMixture
        >>> X = np.r_[np.zeros((5, 1)), np.ones((5, 1))] + np.arange(10)[:, None] * 1e-2
        >>> GaussianMixture(2, random_state=0).fit(X).weights_.round(2)
        array([0.5, 0.5])
        """
        self._fit(X, sample_weight, want_labels=False)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit and return the most probable component of each row of ``X``.

        Equals ``fit(X).predict(X)`` (a final E-step is made after fitting).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm import GaussianMixture
        >>> X = np.array([[0.0], [0.1], [5.0], [5.1]])
        >>> lab = GaussianMixture(2, random_state=0).fit_predict(X)
        >>> bool(lab[0] == lab[1] and lab[2] == lab[3] and lab[0] != lab[2])
        True
        """
        return self._fit(X, sample_weight, want_labels=True)

    def _fit(self, X, sample_weight, want_labels):
        # A fit that does not complete (KeyboardInterrupt, an error in the EM
        # loop) leaves the estimator exactly as it was: fitted attributes
        # (n_features_in_, feature_names_in_, converged_, ...) are assigned
        # along the way, so snapshot them and restore on any exception.
        state = dict(vars(self))
        try:
            return self._fit_attempt(X, sample_weight, want_labels)
        except BaseException:
            vars(self).clear()
            vars(self).update(state)
            raise

    def _fit_attempt(self, X, sample_weight, want_labels):
        self._check_params()
        X, names = self._check_X(X, min_samples=2)
        n, d = int(X.shape[0]), int(X.shape[1])
        if n < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {n}: `X` has fewer rows than "
                "components. Use fewer components or more data."
            )
        # only relative weights matter: scaled into (0, 1] so that no scale
        # overflows or falls under the fit's tolerances
        w = relative_sample_weight(check_sample_weight(sample_weight, n))
        if w is not None and not is_dask_array(w):
            n_pos = int(np.count_nonzero(w))
            if n_pos < self.n_components:
                raise ValueError(
                    f"`sample_weight` gives positive weight to {n_pos} rows, fewer than "
                    f"n_components={self.n_components}; use fewer components or give "
                    "more rows a positive weight."
                )
        if w is not None and self.prior is not None:
            raise ValueError(
                "`sample_weight` cannot be combined with a `prior` (the prior's strength is "
                "counted in observations); fit without one of them."
            )
        cov = self._covariance_model
        k = self.n_components
        inits = check_initial_parameters(
            cov, k, d, self.weights_init, self.means_init, self.precisions_init
        )
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init and d != self.n_features_in_:
            raise ValueError(
                f"X has {d} features, but the warm-started GaussianMixture was fitted "
                f"with {self.n_features_in_}; pass data with the same columns or "
                "set warm_start=False."
            )
        self.n_features_in_ = d
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

        noise = None
        if self.noise:
            if is_dask_array(X) or (w is not None and is_dask_array(w)):
                raise ValueError(
                    "noise=True needs in-memory data: compute the dask array first "
                    "(X.compute()), or fit without the noise component."
                )
            noise = _noise.prepare(np.asarray(X), self.noise_init, self.noise_hypervolume, k)
        self._noise_fit = noise
        if self._allow_nan and _has_nan(X):  # (check_array raised otherwise)
            data = MissingData(X, w, n_components=k)
            try:
                shift = data.mean()
                spread = DataSpread(data, shift)
                warn_reg_covar_scale(self.reg_covar, spread, names)
                self._prior = self._resolve_prior(data, shift, spread)
                self._fit_loop(data, shift, spread, do_init, False, inits)
            finally:
                data.close()
            return self._labels(X) if want_labels else None
        with open_data(X, w, k, cov.n_moment_features(d) + d + 1) as data:
            # centring shift: the (weighted) mean; the data's spread is only
            # computed when needed (degenerate-component checks, k-means tol)
            shift = data.mean()
            spread = DataSpread(data, shift)
            warn_reg_covar_scale(self.reg_covar, spread, names)
            self._prior = self._resolve_prior(data, shift, spread)
            return self._fit_loop(data, shift, spread, do_init, want_labels, inits)

    def _resolve_prior(self, data, shift, spread):
        """The fit's conjugate prior, its mean in the shifted coordinates, or None."""
        prior = check_prior(self.prior, self._covariance_model)
        if prior is None:
            return None
        n, d = data.n, data.d
        if n > d:  # mclust: var(data), the unbiased covariance
            data_cov = spread.cov * (n / (n - 1.0))
        else:  # mclust: the diagonal of it
            data_cov = np.diag(spread.var * (n / (n - 1.0)))
        resolved = prior.resolve(shift, data_cov, self._covariance_model, self.n_components)
        return resolved.shifted(shift)

    def _fit_loop(self, data, shift, spread, do_init, want_labels, inits):
        cov = self._covariance_model
        k = self.n_components
        rng = check_random_state(self.random_state)
        auto = isinstance(self.n_init, str)  # "auto"
        if not do_init:
            n_init = 1
        elif auto:
            given = any(v is not None for v in inits)
            n_init = 1 if given else auto_n_init(cov, data.n, k, data.d)
        else:
            n_init = self.n_init
        self.n_init_ = n_init

        self.converged_ = False
        # every restart's end point, for chains started at distinct optima
        # (bayesgmm.inference._starts.distinct_optima); private: not a fitted attribute
        restarts = []
        feats = chunk = None
        if self.max_iter > 0:  # built once per fit, reused by every iteration
            feats = data.moment_features(shift, cov, k)
            data.prepare_workspace(cov, k, feats is not None)
            chunk = None if data.dask else data.em_chunk_rows(cov, k)
        best, max_lower_bound, best_singular, failure = self._starts_round(
            data, shift, spread, rng, do_init, inits, auto, feats, chunk, range(n_init), restarts)
        starts = list(restarts)  # the starts' end points (the moves add theirs to restarts)
        if best is None:  # every start hit a singular covariance
            raise failure
        self.split_merge_trials_ = self.split_merge_moves_ = 0
        budget = self._split_merge_budget(data, do_init, n_init, auto, inits)
        if budget:
            best, max_lower_bound, best_singular = self._split_merge(
                data, shift, spread, best, max_lower_bound, best_singular, budget, feats, chunk,
                restarts,
            )
        # n_init="auto" on small data: further rounds of starts where the first found
        # many different maxima (auto_extra_starts, rugged); each round searches on its
        # own (its starts, then split-and-merge moves from its best), and the fit keeps
        # the best of all rounds, so a later round can only improve on the first
        extra = (auto_extra_starts(cov, data.n, k, data.d, n_init)
                 if auto and do_init and self.max_iter > 0
                 and not any(v is not None for v in inits) else 0)
        # where the first round agrees on its best, a few unit-free starts test
        # whether the agreement is an artefact of the features' units
        # (AUTO_PROBE_STARTS); the rounds run where one of them ends higher
        probe_higher = False
        if extra >= AUTO_PROBE_STARTS and not rugged(starts, self.tol):
            extra -= AUTO_PROBE_STARTS  # the probe's starts come out of the later rounds'
            own = []
            p_best, p_bound, p_singular, _ = self._starts_round(
                data, shift, spread, rng, do_init, inits, auto, feats, chunk,
                range(n_init, n_init + AUTO_PROBE_STARTS), own, kind=AUTO_PROBE_STRATEGY)
            n_init += AUTO_PROBE_STARTS
            self.n_init_ = n_init
            starts.extend(own)
            restarts.extend(own)
            if p_best is not None and _higher(p_singular, p_bound, best_singular,
                                              max_lower_bound + self.tol):
                best, max_lower_bound, best_singular = p_best, p_bound, p_singular
                probe_higher = True
        while extra and (probe_higher or rugged(starts, self.tol)):
            probe_higher = False
            more = min(extra, AUTO_MAX_STARTS)
            extra -= more
            tried, moved = self.split_merge_trials_, self.split_merge_moves_
            own = []
            r_best, r_bound, r_singular, _ = self._starts_round(
                data, shift, spread, rng, do_init, inits, auto, feats, chunk,
                range(n_init, n_init + more), own)
            n_init += more
            self.n_init_ = n_init
            starts.extend(own)
            if r_best is not None:
                if budget:
                    r_best, r_bound, r_singular = self._split_merge(
                        data, shift, spread, r_best, r_bound, r_singular,
                        _split_merge.AUTO_MOVES_PER_START * more, feats, chunk, own)
                    self.split_merge_trials_ += tried
                    self.split_merge_moves_ += moved
                if _higher(r_singular, r_bound, best_singular, max_lower_bound + self.tol):
                    best, max_lower_bound, best_singular = r_best, r_bound, r_singular
            restarts.extend(own)

        params, n_iter, history, converged, caught = best
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self._restarts = restarts
        self.degenerate_components_ = best_singular
        if best_singular.size:
            ratios = relative_variances(cov, params[2], spread)
            ratios = (np.repeat(ratios, k) if cov.shared else ratios)[best_singular]
            n_eff = self._effective_counts(params[0], data)[best_singular]
            warn_near_singular(best_singular.tolist(), ratios, n_eff, n_init)
        if self.max_iter == 0:
            # like scikit-learn: the (best) initial parameters, no iteration
            max_lower_bound = -np.inf
        self.converged_ = converged
        if not converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge after "
                f"max_iter={self.max_iter} iterations (last change of the lower bound "
                f"above tol={self.tol}). Increase max_iter, increase tol, try "
                "n_init > 1 or another init_params, or check for degenerate data "
                "(duplicated rows, features on very different scales).",
                ConvergenceWarning,
                stacklevel=5,  # here <- _fit_attempt <- _fit <- fit/fit_predict <- user
            )
        weights, means, covs, prec_chol = params
        self.weights_ = np.asarray(weights, dtype=np.float64)
        self.means_ = np.asarray(means, dtype=np.float64)
        if covs is not None:
            self.covariances_ = covs
        self.precisions_cholesky_ = prec_chol
        self.precisions_ = cov.precisions_from_cholesky(prec_chol)
        if covs is None:  # all three initial values given and max_iter == 0
            self.covariances_ = cov.covariances_from_precisions(self.precisions_)
        noise = getattr(self, "_noise_fit", None)
        if noise is not None:
            self.noise_weight_ = max(0.0, 1.0 - float(self.weights_.sum()))
            self.noise_hypervolume_ = noise.volume
            self.noise_hypervolume_kind_ = noise.volume_kind
        else:
            for name in ("noise_weight_", "noise_hypervolume_", "noise_hypervolume_kind_"):
                vars(self).pop(name, None)
        self.n_iter_ = int(n_iter)
        self.lower_bound_ = float(max_lower_bound)
        self.lower_bounds_ = list(history)
        if want_labels:
            return self._labels(data.X)
        return None

    def _starts_round(self, data, shift, spread, rng, do_init, inits, auto, feats, chunk,
                      indices, restarts, kind=None):
        """The starts numbered ``indices``; appends their end points to ``restarts``.

        ``kind``: every start's strategy (default: :func:`strategy`'s, by number).

        Returns ``(best, bound, singular, failure)``: the best start as
        ``(params, n_iter, history, converged, caught)`` (None when every start hit
        a singular covariance, ``failure`` the last such error), its bound and its
        near-singular components.
        """
        best = best_singular = failure = None
        max_lower_bound = -np.inf
        for init in indices:
            self._print_init_beg(init)
            # each start's warnings are held back: only those of the start
            # that is kept reach the user (a discarded start's re-seedings are
            # noise); a start that hits a singular covariance has failed
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    params, lower_bound, n_iter, history, converged = self._run_start(
                        data, shift, spread, rng, do_init, inits, kind or strategy(self.init_params, init, auto),
                        feats, chunk,
                    )
                except SingularCovarianceError as err:
                    failure = err
                    continue
            self._print_init_end(lower_bound, converged)
            singular = self._near_singular(params, spread, data)
            restarts.append(_restart_record(params, lower_bound, converged, singular))
            # an initialisation with a near-singular component counts as
            # failed: any without one is preferred, whatever its bound
            # ties within rounding keep the earlier start (_TIE), unless it warned
            # (e.g. re-seeded a component) and this one reached the maximum cleanly
            margin = _tie_margin(max_lower_bound)
            tied = (best is not None and bool(singular.size) == bool(best_singular.size)
                    and abs(lower_bound - max_lower_bound) <= margin)
            if (best is None
                    or _higher(singular, lower_bound, best_singular, max_lower_bound + margin)
                    or (tied and best[4] and not caught)):
                max_lower_bound = lower_bound
                best = (params, n_iter, history, converged, caught)
                best_singular = singular
        return best, max_lower_bound, best_singular, failure

    def _split_merge_budget(self, data, do_init, n_init, auto, inits):
        """The most split-and-merge moves to try after the starts (0: none)."""
        k = self.n_components
        if (not do_init or k < 3 or self.max_iter == 0 or data.dask
                or isinstance(data, MissingData) or getattr(self, "_noise_fit", None) is not None):
            return 0
        if isinstance(self.split_merge, str):  # "auto": with n_init="auto" on many starts
            given = any(v is not None for v in inits)
            if not auto or given or n_init < 2:
                return 0
            return _split_merge.auto_budget(
                n_init, k, auto_work_starts(self._covariance_model, data.n, k, data.d))
        return int(self.split_merge)

    def _split_merge(self, data, shift, spread, best, bound, singular, budget, feats, chunk,
                     restarts):
        """Split-and-merge moves from the starts (:mod:`bayesgmm.em._split_merge`).

        Tries the candidate moves of the current solution in order, beginning
        with the best start; the first whose EM run ends higher than the
        current one by more than ``tol`` (or without the near-singular
        component the current one has) becomes the current solution, and
        the best when it beats it. When every candidate of the current
        solution fails, the search goes on from the next-best distinct start,
        until ``budget`` moves have been tried or no start is left. Returns
        the new ``(best, bound, singular)``.
        """
        cov = self._covariance_model
        X, w = data.X, data.sample_weight
        tried = moved = 0
        no_inits = (None, None, None)
        # the other starts' distinct maxima, best first (a near-singular one is no
        # place to search from)
        others, seen = [], [bound]
        for r in sorted(restarts, key=lambda r: -r["lower_bound"]):
            lb_r = r["lower_bound"]
            if (r["near_singular"] or r["covariances"] is None or not np.isfinite(lb_r)
                    or any(abs(lb_r - v) <= self.tol for v in seen)):
                continue
            seen.append(lb_r)
            others.append(r)
        current, cur_bound, cur_singular = best[0], bound, singular
        while tried < budget:
            weights, means, _, prec_chol = current
            with np.errstate(divide="ignore"):
                log_w = np.log(weights)
            log_norm, log_resp = _kernels.mixture_log_likelihood(
                X, means, prec_chol, cov, log_w, responsibilities=True)
            resp = np.exp(log_resp)
            cur_thinnest = _thinnest(cov, current, spread)
            improved = False
            for move in _split_merge.candidates(log_norm, log_resp, log_w, w):
                if tried >= budget:
                    break
                tried += 1
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        start = parameters_from_responsibilities(
                            data, shift, cov,
                            _split_merge.moved_responsibilities(X, resp, means, move, w),
                            reg_covar=self.reg_covar, prior=self._prior)
                        params, lb, n_iter, history, converged = self._run_start(
                            data, shift, spread, None, True, no_inits, None, feats, chunk,
                            start=start)
                    except SingularCovarianceError:
                        continue
                sing = self._near_singular(params, spread, data)
                # a move may not make the solution thinner than NEAR_SINGULAR (of the
                # data's variance) where the current one is not: merges and splits
                # reach flat components on a few observations, spurious maxima that
                # the near-singular rule (which keeps tight genuine clusters) lets pass
                thin = _thinnest(cov, params, spread)
                if thin < NEAR_SINGULAR and thin < cur_thinnest:
                    continue
                if _higher(sing, lb, cur_singular, cur_bound + self.tol):
                    current, cur_bound, cur_singular = params, lb, sing
                    restarts.append(_restart_record(params, lb, converged, sing))
                    if _higher(sing, lb, singular, bound + self.tol):
                        best, bound, singular = (params, n_iter, history, converged, caught), lb, sing
                        moved += 1
                    improved = True
                    break
            if not improved:
                if not others:
                    break
                r = others.pop(0)
                covs = r["covariances"]
                current = (r["weights"], r["means"], covs, cov.precision_cholesky(covs))
                cur_bound, cur_singular = r["lower_bound"], np.array([], dtype=int)
        self.split_merge_trials_, self.split_merge_moves_ = tried, moved
        return best, bound, singular

    def _run_start(self, data, shift, spread, rng, do_init, inits, init_params, feats, chunk,
                   start=None):
        """One initialisation and its EM iterations.

        ``start``: the initial ``(weights, means, covariances, precisions_chol)``
        (a split-and-merge move) instead of ``init_params``/``inits``.
        Returns ``(params, lower_bound, n_iter, history, converged)``.
        """
        noise = getattr(self, "_noise_fit", None)
        # the uniform noise component's E-step, start and weights (em/_noise.py)
        noise_step = None if noise is None else _noise.NoiseStep(data, noise, self.n_components)
        cov = self._covariance_model
        k = self.n_components
        weights_init, means_init, precisions_init = inits
        if start is not None:
            params = start
        elif do_init and noise_step is not None:
            params = noise_step.initial(self, shift, rng, inits, init_params)
        elif do_init:
            params = initial_parameters(
                data, shift, rng, cov, k, init_params=init_params,
                reg_covar=self.reg_covar, spread=spread, weights_init=weights_init,
                means_init=means_init, precisions_init=precisions_init, prior=self._prior,
            )
        else:
            params = (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)
        lower_bound = -np.inf if do_init else self.lower_bound_
        min_iter = MIN_ITERATIONS.get(init_params, 0) if do_init else 0
        degeneracy = Degeneracy(cov, k, self.reg_covar, spread)
        unresolved_warned = False
        history = []
        converged = False
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):
            prev = lower_bound
            weights, means, covs, prec_chol = params
            with np.errstate(divide="ignore"):
                log_w = np.log(weights)
            estep = (means - shift, prec_chol, log_w, shift, cov)
            if noise_step is None:
                m_data = data
                stats = data.map_reduce(_block_stats_em, *estep, 0, feats, chunk, workspace=True)
                lower_bound = stats.loglik / stats.weight
                if self._prior is not None:  # the log posterior: EM's objective with a prior
                    lower_bound += self._log_prior(params, shift) / stats.weight
            else:
                lower_bound, m_data = noise_step.e_step(params, log_w, cov)
                stats = m_data.map_reduce(_block_stats_em, *estep, 0, feats, chunk, workspace=True)
            history.append(float(lower_bound))
            params, reseeded = self._m_step(stats, m_data, shift, estep, degeneracy, covs)
            if noise_step is not None:
                params = noise_step.after_m_step(params)
            if not unresolved_warned:
                unresolved_warned = _warn_unresolved_variance(cov, params, self.reg_covar)
            change = lower_bound - prev
            self._print_iter_end(n_iter, change)
            if not reseeded and abs(change) < self.tol and n_iter >= min_iter:
                converged = True
                break
        return params, lower_bound, n_iter, history, converged

    def _near_singular(self, params, spread, data):
        """Indices of the near-singular components of one initialisation's result.

        A component is near-singular when its variance in some direction is
        below ``NEAR_SINGULAR`` times the data's there (see
        :func:`~bayesgmm.em._degeneracy.relative_variances`) and only
        ``reg_covar`` holds it up (its observations lie on tied values, a
        point or a line: :func:`~bayesgmm.em._degeneracy.regularisation_held`)
        or it holds fewer effective observations than its parameters (a flat
        fit to a handful of points:
        :func:`~bayesgmm.em._degeneracy.too_few_observations`); a tight, genuine
        cluster far from the others is neither;
        for ``tied`` covariances, all components when the shared one is.
        A component small enough but not held up by ``reg_covar`` in its
        fitted covariance is also near-singular when its own observations'
        weighted scatter is singular
        (:func:`~bayesgmm.em._degeneracy.scatter_collapsed`): with a shared
        orientation or shape, the fitted covariance can leak other features'
        spread into a tied feature's direction (Old Faithful, VVE, K=4: six
        rows with ``waiting == 90``). Not for fits with missing values or a
        noise component, where the fitted covariance alone decides.
        """
        covs = params[2]
        if covs is None:
            return np.array([], dtype=int)
        cov = self._covariance_model
        n_eff = self._effective_counts(params[0], data)
        tiny = relative_variances(cov, covs, spread) < NEAR_SINGULAR
        held = regularisation_held(cov, covs, self.reg_covar)
        if cov.shared:  # one covariance for every component
            tiny, held = np.repeat(tiny, self.n_components), np.repeat(held, self.n_components)
        few = too_few_observations(cov, n_eff, params[1].shape[1])
        unsure = np.flatnonzero(tiny & ~(held | few))
        if unsure.size and not cov.shared and self._noise_fit is None and not isinstance(
                data, MissingData):
            # a constrained shape or orientation (VVE, VEV, ...) can hide a tie
            # from the fitted covariance: ask the component's own observations
            held[unsure] = scatter_collapsed(data, params, cov, unsure)
        return np.flatnonzero(tiny & (held | few))

    def _log_prior(self, params, shift):
        """Log density of the fit's conjugate prior at ``params`` (unshifted means)."""
        cov = self._covariance_model
        covs = params[2]
        if covs is None:
            covs = cov.covariances_from_precisions(cov.precisions_from_cholesky(params[3]))
        return cov.log_conjugate_prior(params[1] - shift, covs, self._prior)

    @staticmethod
    def _effective_counts(weights, data):
        total = data.n if data.sample_weight is None else float(np.count_nonzero(data.sample_weight))
        return np.asarray(weights) * total

    def _m_step(self, stats, data, shift, estep, degeneracy, previous=None):
        cov = self._covariance_model
        if self._prior is None:
            nk, means_c, covs = cov.m_step_from(stats, self.reg_covar, previous)
        else:
            nk, means_c, covs = cov.m_step_from(stats, self.reg_covar, previous, prior=self._prior)
        bad = degeneracy.degenerate(stats, covs)
        reseeded = bool(bad.size)
        if reseeded:
            means_c, covs, nk = degeneracy.reseed(bad, data, shift, estep, means_c, covs, nk)
        weights = nk / nk.sum()
        prec_chol = cov.precision_cholesky(covs)
        return (weights, means_c + shift, covs, prec_chol), reseeded

    # ------------------------------------------------------------- verbose
    def _print_init_beg(self, n_init):
        if self.verbose >= 1:
            print(f"Initialization {n_init}")
        if self.verbose >= 2:
            self._init_prev_time = time()
            self._iter_prev_time = self._init_prev_time

    def _print_iter_end(self, n_iter, diff):
        if n_iter % self.verbose_interval:
            return
        if self.verbose == 1:
            print(f"  Iteration {n_iter}")
        elif self.verbose >= 2:
            now = time()
            print(f"  Iteration {n_iter}\t time lapse {now - self._iter_prev_time:.5f}s\t ll change {diff:.5f}")
            self._iter_prev_time = now

    def _print_init_end(self, lb, converged):
        if self.verbose == 1:
            print(f"Initialization converged: {converged}")
        elif self.verbose >= 2:
            t = time() - self._init_prev_time
            print(f"Initialization converged: {converged}\t time lapse {t:.5f}s\t lower bound {lb:.5f}")

    # ----------------------------------------------------------- inference
    def _mixture_args(self):
        """The fitted mixture as the trailing arguments of the kernels."""
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights_)
        return (self.means_, self.precisions_cholesky_, self._covariance_model, log_w)

    def _log_noise(self):
        """``log(pi_0 / V)`` of a fit with the noise component, else None."""
        if getattr(self, "noise_hypervolume_", None) is None:
            return None
        return _noise.log_noise(self.noise_weight_, math.log(self.noise_hypervolume_))

    def _labels(self, X):
        args = self._mixture_args()
        if self._allow_nan and _has_nan(X):
            return np.argmax(weighted_log_prob(X, *args), axis=1)
        ln0 = self._log_noise()
        if ln0 is not None:
            if is_dask_array(X):
                return X.map_blocks(_block_noise_labels, *args, ln0, dtype=np.int64,
                                    drop_axis=1).compute()
            return _block_noise_labels(X, *args, ln0)
        if is_dask_array(X):
            return np.asarray(
                X.map_blocks(_block_labels, *args, dtype=np.int64, drop_axis=1).compute()
            )
        step = _kernels.chunk_rows(X.shape[0], self.n_components, X.shape[1])
        return np.concatenate(
            [_block_labels(X[s : s + step], *args) for s in range(0, X.shape[0], step)]
        ) if X.shape[0] else np.zeros(0, dtype=np.int64)

    def score_samples(self, X):
        """Log-likelihood ``log p(x_n)`` of each row under the fitted mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) (a dask array for dask input)

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm import GaussianMixture
        >>> gm = GaussianMixture(1).fit(np.array([[-1.0], [1.0]]))
        >>> round(float(gm.score_samples([[0.0]])[0]), 4)  # log N(0 | 0, 1)
        -0.9189
        """
        X = self._validate_predict_X(X, "score_samples")
        args = self._mixture_args()
        if self._allow_nan and _has_nan(X):
            return _kernels.logsumexp_rows(weighted_log_prob(X, *args))
        ln0 = self._log_noise()
        if ln0 is not None:
            args = (*args, ln0)
            if is_dask_array(X):
                return X.map_blocks(_noise.noise_log_likelihood, *args, dtype=np.float64,
                                    drop_axis=1)
            return _noise.noise_log_likelihood(X, *args)
        if is_dask_array(X):
            return X.map_blocks(
                _kernels.mixture_log_likelihood, *args, dtype=np.float64, drop_axis=1
            )
        return _kernels.mixture_log_likelihood(X, *args)

    def score(self, X, y=None, sample_weight=None):
        """Mean (weighted) log-likelihood per row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the rows in the mean.

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm import GaussianMixture
        >>> X = np.array([[-1.0], [1.0]])
        >>> gm = GaussianMixture(1).fit(X)
        >>> bool(np.isclose(gm.score(X), gm.lower_bound_, rtol=1e-3))
        True
        """
        s = self.score_samples(X)
        if is_dask_array(s):
            s = s.compute()
        w = relative_sample_weight(check_sample_weight(sample_weight, s.shape[0]))
        if w is None:
            return float(np.mean(s))
        return float(w @ s / w.sum())

    def predict(self, X):
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of int64, shape (n_samples,) (a dask array for dask input)
            With the noise component (``noise=True``), ``-1`` for rows most
            probably noise (scikit-learn's label for noise, as in DBSCAN).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm import GaussianMixture
        >>> gm = GaussianMixture(2, means_init=[[0.0], [5.0]]).fit([[0.0], [0.2], [5.0], [5.2]])
        >>> gm.predict([[0.1], [5.1]]).tolist()
        [0, 1]
        """
        X = self._validate_predict_X(X, "predict")
        ln0 = self._log_noise()
        if ln0 is not None and is_dask_array(X):
            return X.map_blocks(_block_noise_labels, *self._mixture_args(), ln0, dtype=np.int64,
                                drop_axis=1)
        if is_dask_array(X):
            return X.map_blocks(_block_labels, *self._mixture_args(), dtype=np.int64, drop_axis=1)
        return self._labels(X)

    def predict_proba(self, X):
        """Responsibilities ``p(z_n = k | x_n)`` (rows sum to one).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components) (a dask array for dask input)
            With the noise component, shape (n_samples, n_components + 1): the
            last column is the probability of being noise (mclust's ``z[, G + 1]``).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm import GaussianMixture
        >>> gm = GaussianMixture(2, means_init=[[0.0], [5.0]]).fit([[0.0], [0.2], [5.0], [5.2]])
        >>> gm.predict_proba([[0.1]]).round(3)
        array([[1., 0.]])
        """
        X = self._validate_predict_X(X, "predict_proba")
        args = self._mixture_args()
        if self._allow_nan and _has_nan(X):
            return np.exp(_kernels.log_responsibilities(weighted_log_prob(X, *args))[1])
        ln0 = self._log_noise()
        if ln0 is not None:
            if is_dask_array(X):
                return X.map_blocks(_block_noise_resp, *args, ln0, dtype=np.float64,
                                    chunks=(X.chunks[0], (self.n_components + 1,)))
            return _block_noise_resp(X, *args, ln0)
        if is_dask_array(X):
            return X.map_blocks(
                _block_resp, *args, dtype=np.float64, chunks=(X.chunks[0], (self.n_components,))
            )
        return _block_resp(X, *args)

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Uses ``random_state`` exactly like scikit-learn (a fresh generator from
        the seed on every call), so the draws equal scikit-learn's for the
        same parameters and seed.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component of each draw (sorted by component).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm import GaussianMixture
        >>> gm = GaussianMixture(1, random_state=0).fit(np.array([[-1.0], [1.0]]))
        >>> X, y = gm.sample(3)
        >>> X.shape, y.tolist()
        ((3, 1), [0, 0, 0])
        """
        self._check_fitted("sample")
        if not isinstance(n_samples, numbers.Integral) or isinstance(n_samples, bool) or n_samples < 1:
            raise ValueError(
                f"`n_samples` must be an integer >= 1; got {n_samples!r}. The "
                "sampling requires at least one sample."
            )
        rng = check_random_state(self.random_state)
        if self._log_noise() is not None:
            return _noise.sample(self, rng, n_samples)
        counts = rng.multinomial(n_samples, self.weights_)
        X = self._covariance_model.sample(rng, self.means_, self.covariances_, counts)
        y = np.concatenate([np.full(int(s), i, dtype=np.int64) for i, s in enumerate(counts)])
        return X, y

    # ---------------------------------------------------------- criteria
    def _n_parameters(self):
        p = self._covariance_model.n_parameters(self.n_components, self.means_.shape[1])
        # mclust's nMclustParams(noise = TRUE): + 2, the noise proportion and the
        # hypervolume (estimated from the data)
        return p + 2 if self._log_noise() is not None else p

    def bic(self, X):
        """Bayesian information criterion ``-2 log L + p log N`` (lower is better).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm import GaussianMixture
        >>> X = np.array([[-1.0], [1.0], [0.0]])
        >>> gm = GaussianMixture(1).fit(X)
        >>> bool(np.isclose(gm.bic(X), -2 * gm.score(X) * 3 + 2 * np.log(3)))
        True
        """
        n = _n_rows(X)
        return -2.0 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X):
        """Akaike information criterion ``-2 log L + 2 p`` (lower is better).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm import GaussianMixture
        >>> X = np.array([[-1.0], [1.0], [0.0]])
        >>> gm = GaussianMixture(1).fit(X)
        >>> bool(np.isclose(gm.aic(X), -2 * gm.score(X) * 3 + 2 * 2))
        True
        """
        n = _n_rows(X)
        return -2.0 * self.score(X) * n + 2.0 * self._n_parameters()

    def icl(self, X, method="map"):
        """Integrated completed likelihood criterion (lower is better).

        ICL (Biernacki, Celeux & Govaert 2000) penalises BIC by how unclear
        the classification is, favouring well-separated clusters:

        * ``method="map"`` (default, as :func:`bayesgmm.select_components`'s
          ``icl_method``): ``ICL = BIC - 2 * sum_n log t_{n, z_n}`` with the MAP
          labels ``z_n`` (the complete likelihood at the MAP classification, as
          in Biernacki et al. 2000 and R mclust's ``icl()``; mclust reports it
          with the opposite sign, higher is better, i.e.
          ``mclust_icl = -icl(X, method="map")``).
        * ``method="entropy"``:
          ``ICL = BIC + 2 * sum_n EN(x_n)`` with the entropy
          ``EN(x_n) = -sum_k t_nk log t_nk`` of the responsibilities ``t``
          (the "ICL-BIC" of McLachlan & Peel 2000, Sec. 6.10.3), i.e. minus
          twice the expected complete-data log-likelihood plus ``p log N``.

        Both are ``>= BIC``, with equality when every row is assigned with
        probability one.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        method : {"map", "entropy"}, default="map"

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm import GaussianMixture
        >>> X = np.array([[0.0], [0.1], [5.0], [5.1]])
        >>> gm = GaussianMixture(2, random_state=0).fit(X)
        >>> bool(gm.icl(X) >= gm.bic(X))
        True
        """
        if method not in ("entropy", "map"):
            raise ValueError(f"`method` must be 'entropy' or 'map'; got {method!r}.")
        Xv = self._validate_predict_X(X, "icl")
        args = self._mixture_args()
        ln0 = self._log_noise()
        if ln0 is not None:  # the noise column is one more class
            if is_dask_array(Xv):
                Xv = np.asarray(Xv.compute())
            log_norm, log_resp = _noise.noise_log_likelihood(Xv, *args, ln0, responsibilities=True)
        elif is_dask_array(Xv):
            both = Xv.map_blocks(
                _block_norm_and_log_resp, *args, dtype=np.float64,
                chunks=(Xv.chunks[0], (1 + self.n_components,)),
            ).compute()
            log_norm, log_resp = both[:, 0], both[:, 1:]
        elif self._allow_nan and _has_nan(Xv):
            log_norm, log_resp = _kernels.log_responsibilities(weighted_log_prob(Xv, *args))
        else:
            log_norm, log_resp = _kernels.mixture_log_likelihood(Xv, *args, responsibilities=True)
        n = log_norm.shape[0]
        bic = -2.0 * float(log_norm.sum()) + self._n_parameters() * math.log(n)
        if method == "entropy":
            with np.errstate(under="ignore", invalid="ignore"):
                r = np.exp(log_resp)
                ent = -np.sum(np.where(r > 0, r * log_resp, 0.0))
            return float(bic + 2.0 * ent)
        return float(bic - 2.0 * np.sum(np.max(log_resp, axis=1)))


#: A component's variance in some direction is unresolved when it is at most
#: twice ``reg_covar`` (the data add nothing there) and below this fraction of
#: its largest variance (see :func:`_warn_unresolved_variance`).
_UNRESOLVED_RATIO = 1e-6


def _thinnest(covariance, params, spread):
    """The smallest component variance relative to the data's (see ``relative_variances``)."""
    if params[2] is None:
        return np.inf
    return float(np.min(relative_variances(covariance, params[2], spread)))


def _restart_record(params, lower_bound, converged, singular):
    """One start's end point, for chains started at distinct optima."""
    return {
        "weights": np.array(params[0], dtype=np.float64),
        "means": np.array(params[1], dtype=np.float64),
        "covariances": None if params[2] is None else np.array(params[2], dtype=np.float64),
        "lower_bound": float(lower_bound), "converged": bool(converged),
        "near_singular": bool(singular.size),
    }


def _warn_unresolved_variance(covariance, params, reg_covar):
    """Warn (once per initialisation) when a component is singular below float64 resolution.

    A component whose rows lie on a subspace (e.g. fewer rows than features,
    duplicated or collinear rows) has only ``reg_covar`` as variance across
    it. Where that is below about ``1e-6`` of its largest variance, the
    float64 covariance matrix and its Cholesky factor resolve it only to a
    relative ``eps * lambda_max / lambda_min``; and since the regularised
    M-step is not stationary in that direction (the likelihood still grows
    as the variance shrinks), that rounding enters the log-likelihood at
    first order, ``-nk / 2 * d lambda / lambda``: EM can then decrease the
    lower bound by up to ~1e-5 per row (issue 12). Cheap unless some
    component's precision is strongly correlated (the type's
    ``expansion_conditioning`` above ``1 / _UNRESOLVED_RATIO``): only then
    are eigenvalues computed. Returns whether it warned.
    """
    weights, means, covs, prec_chol = params
    if covs is None or np.max(covariance.expansion_conditioning(prec_chol)) < 1 / _UNRESOLVED_RATIO:
        return False
    k, d = means.shape
    lam = np.linalg.eigvalsh(covariance.to_full(covs, k, d))
    bad = np.flatnonzero(
        (lam[:, 0] <= 2 * reg_covar) & (lam[:, 0] < _UNRESOLVED_RATIO * lam[:, -1])
    )
    if not bad.size:
        return False
    warnings.warn(
        f"Component(s) {bad.tolist()} are singular (their variance across some direction "
        f"is only reg_covar={reg_covar:g}, below {_UNRESOLVED_RATIO:g} of their largest "
        "variance): float64 rounding there may make EM decrease the lower bound slightly. "
        "Increase reg_covar (e.g. 1e-6 x the features' variance), or use fewer components.",
        DegenerateComponentWarning,
        stacklevel=8,  # here <- _run_start <- _starts_round/_split_merge <- _fit_loop <- _fit_attempt
        # <- _fit <- fit <- user
    )
    return True


def _has_nan(X):
    """Whether in-memory data contain NaN (validated data: no inf)."""
    if is_dask_array(X):
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isnan(X.sum())) and bool(np.isnan(X).any())


def _n_rows(X):
    X = orient(X)  # a DataArray's observations by the one orientation rule
    if hasattr(X, "shape") and len(getattr(X, "shape")) >= 1:
        return int(X.shape[0])
    return len(X)


def _block_labels(x, means, prec_chol, covariance, log_weights):
    """Most probable component of each row of a block."""
    wlp = _kernels.estimate_log_gaussian_prob(x, means, prec_chol, covariance)
    wlp += log_weights
    return np.argmax(wlp, axis=1)


def _block_resp(x, means, prec_chol, covariance, log_weights):
    """Responsibilities of the rows of a block."""
    _, log_resp = _kernels.mixture_log_likelihood(
        x, means, prec_chol, covariance, log_weights, responsibilities=True
    )
    return np.exp(log_resp)


def _block_noise_resp(x, means, prec_chol, covariance, log_weights, log_noise):
    """Responsibilities with the noise column last."""
    _, log_resp = _noise.noise_log_likelihood(
        x, means, prec_chol, covariance, log_weights, log_noise, responsibilities=True
    )
    return np.exp(log_resp)


def _block_noise_labels(x, means, prec_chol, covariance, log_weights, log_noise):
    """Most probable component of each row, -1 for noise."""
    wlp = _kernels.estimate_log_gaussian_prob(x, means, prec_chol, covariance)
    wlp += log_weights
    lab = np.argmax(wlp, axis=1)
    lab[wlp[np.arange(x.shape[0]), lab] < log_noise] = -1
    return lab


def _block_norm_and_log_resp(x, means, prec_chol, covariance, log_weights):
    """``[log p(x_n) | log p(z_n = k | x_n)]`` of the rows of a block, (n, 1 + K)."""
    log_norm, log_resp = _kernels.mixture_log_likelihood(
        x, means, prec_chol, covariance, log_weights, responsibilities=True
    )
    return np.concatenate([log_norm[:, None], log_resp], axis=1)
