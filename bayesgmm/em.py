"""Expectation-maximisation for Gaussian mixtures: :class:`GaussianMixture`.

A drop-in for :class:`sklearn.mixture.GaussianMixture` (same constructor
parameters, methods, fitted attributes and numerics: log space, Cholesky
factors of the precisions, ``reg_covar`` on the covariance diagonal, the
same ``lower_bound_``/``n_iter_``/``converged_`` semantics) with

* vectorised E- and M-steps (one matrix product per row chunk for all
  components, or per component for full covariances with many features and
  few components; memory bounded by a chunk budget, never an ``N x K x D``
  temporary for the whole data; row blocks on the caller's BLAS thread
  budget),
* ``sample_weight`` in :meth:`GaussianMixture.fit`,
* :meth:`GaussianMixture.icl` (integrated completed likelihood),
* ``lower_bounds_`` (history) and ``feature_names_in_`` for DataFrames,
* numpy, pandas, xarray and dask input; a dask array is fitted as a map-reduce
  of sufficient statistics over its blocks, so it runs on a
  ``dask.distributed`` cluster,
* re-seeding of empty or collapsed components (with a warning).

The estimator implements scikit-learn's estimator protocol itself
(``get_params``/``set_params``/``__sklearn_tags__``/``__sklearn_is_fitted__``),
so :func:`sklearn.base.clone`, pipelines and grid search work, but
scikit-learn is not needed at run time.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import threading
import warnings
from contextlib import contextmanager
from time import time

import numpy as np

from bayesgmm import _kernels
from bayesgmm._data import orient
from bayesgmm._estimator import EstimatorMixin
from bayesgmm._validation import (
    check_array,
    check_feature_names,
    check_n_features,
    check_random_state,
    check_sample_weight,
    is_dask_array,
)
from bayesgmm.covariance import COVARIANCE_TYPES, get_covariance_type
from bayesgmm.exceptions import (
    ConvergenceWarning,
    DegenerateComponentWarning,
    NotFittedError,
    not_fitted,
)

__all__ = [
    "ConvergenceWarning",
    "DegenerateComponentWarning",
    "GaussianMixture",
    "NotFittedError",
]

_INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


_not_fitted = not_fitted


# --------------------------------------------------------------------------
# Data access: in-memory chunks or dask blocks, with a map-reduce
# --------------------------------------------------------------------------


def _sum(parts):
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


class _Moments:
    """Additive (weight, sum x, sum x^2) for the centring shift and data scale."""

    def __init__(self, w, sx, sxx):
        self.w, self.sx, self.sxx = w, sx, sxx

    def __add__(self, other):
        return _Moments(self.w + other.w, self.sx + other.sx, self.sxx + other.sxx)


def _block_moments(x, w, offset, center, step=8192, diagonal=False):
    """(weight, sum x, sum x x^T) of ``x - center``; ``diagonal``: only the
    per-feature sums of squares (a vector) instead of the D x D matrix.
    Column sums are matrix-vector products (BLAS; numpy's axis-0 reductions
    are several times slower); temporaries are one ``step``-row chunk."""
    d = x.shape[1]
    total = _Moments(0.0, np.zeros(d), np.zeros(d) if diagonal else np.zeros((d, d)))
    for s in range(0, x.shape[0], step):
        xc = x[s : s + step] - center
        wc = np.ones(xc.shape[0]) if w is None else w[s : s + step]
        sx = wc @ xc
        if diagonal:
            np.multiply(xc, xc, out=xc)
            sq = wc @ xc
        else:
            sq = (xc * wc[:, None]).T @ xc if w is not None else xc.T @ xc
        total = total + _Moments(float(xc.shape[0] if w is None else wc.sum()), sx, sq)
    return total


class _Sum:
    """Additive (weight, sum x)."""

    def __init__(self, w, sx):
        self.w, self.sx = w, sx

    def __add__(self, other):
        return _Sum(self.w + other.w, self.sx + other.sx)


def _block_sum(x, w, offset):
    if w is None:
        return _Sum(float(x.shape[0]), x.sum(axis=0))
    return _Sum(float(w.sum()), w @ x)


class _KMStats:
    """Additive k-means statistics (counts, sums, inertia)."""

    def __init__(self, counts, sums, inertia):
        self.counts, self.sums, self.inertia = counts, sums, inertia

    def __add__(self, other):
        return _KMStats(
            self.counts + other.counts, self.sums + other.sums, self.inertia + other.inertia
        )


def _nearest(x, centers, c_sq):
    d2 = np.einsum("nd,nd->n", x, x)[:, None] - 2.0 * (x @ centers.T) + c_sq
    lab = np.argmin(d2, axis=1)
    return lab, np.maximum(d2[np.arange(x.shape[0]), lab], 0.0)


def _block_kmeans(x, w, offset, centers, shift):
    xc = x - shift
    k = centers.shape[0]
    lab, dmin = _nearest(xc, centers, np.einsum("kd,kd->k", centers, centers))
    onehot = np.zeros((xc.shape[0], k))
    onehot[np.arange(xc.shape[0]), lab] = 1.0 if w is None else w
    return _KMStats(onehot.sum(axis=0), onehot.T @ xc, float(dmin.sum() if w is None else w @ dmin))


def _block_stats_kmeans_resp(x, w, offset, centers, shift, covariance_type):
    xc = x - shift
    k = centers.shape[0]
    lab, _ = _nearest(xc, centers, np.einsum("kd,kd->k", centers, centers))
    resp = np.zeros((xc.shape[0], k))
    resp[np.arange(xc.shape[0]), lab] = 1.0
    return _kernels.accumulate_statistics(xc, covariance_type, resp=resp, sample_weight=w)


def _block_stats_resp(x, w, offset, resp, shift, covariance_type):
    r = resp[offset : offset + x.shape[0]]
    return _kernels.accumulate_statistics(
        x, covariance_type, resp=r, sample_weight=w, shift=shift
    )


def _block_stats_em(
    x, w, offset, means_c, prec_chol, log_weights, shift, covariance_type, n_worst,
    feats=None, chunk=None, work=None,
):
    return _kernels.accumulate_statistics(
        x,
        covariance_type,
        means=means_c,
        precisions_chol=prec_chol,
        log_weights=log_weights,
        sample_weight=w,
        shift=shift,
        row_offset=offset,
        n_worst=n_worst,
        features=None if feats is None else feats.get(offset),
        chunk_size=chunk,
        workspace=work,
    )


def _block_weighted_log_prob(x, means_c, prec_chol, log_weights, shift, covariance_type):
    out = _kernels.estimate_log_gaussian_prob(x - shift, means_c, prec_chol, covariance_type)
    out += log_weights
    return out


def _block_labels(x, means_c, prec_chol, log_weights, shift, covariance_type):
    return np.argmax(
        _block_weighted_log_prob(x, means_c, prec_chol, log_weights, shift, covariance_type),
        axis=1,
    )


class _Data:
    """Row blocks of a numpy array or the blocks of a dask array.

    In-memory data are cut into blocks whose boundaries depend only on the
    problem size (never on the thread count), and :meth:`map_reduce` sums the
    per-block results in block order: a fit is bit-for-bit the same whether
    its blocks run on one thread or several (``n_threads``).
    """

    def __init__(self, X, sample_weight=None, n_components=1, n_threads=1):
        self.X = X
        self.dask = is_dask_array(X)
        self.n, self.d = (int(s) for s in X.shape)
        self.sample_weight = sample_weight
        self.n_threads = 1
        self._pool = None
        self._work = None
        if self.dask:
            self.offsets = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(int)
        else:
            step = _block_rows(self.n, n_components, self.d)
            self.offsets = np.arange(0, self.n, step)
            self.step = step
            self.n_threads = max(1, min(int(n_threads), len(self.offsets)))

    def close(self):
        """Shut the worker threads down (if any) and drop the workspaces."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._work = None

    def em_chunk_rows(self, covariance_type, n_components):
        """Rows per E/M-step chunk inside a block.

        From the whole data's size, with the memory bound shared by up to
        :data:`_MAX_CONCURRENT_BLOCKS` blocks in flight: the same for any
        thread count (so results are), and the chunk temporaries of all
        threads together stay within one ``N x (D + 2K)`` array for up to
        that many threads.
        """
        return _kernels._em_chunk_size(
            self.n, self.d, n_components, covariance_type,
            concurrent=min(len(self.offsets), _MAX_CONCURRENT_BLOCKS),
        )

    def moment_features(self, shift, covariance_type, n_components):
        """Per-block E/M-step features, built once per fit, or None.

        Only for in-memory data and ``diag``/``spherical`` (whose features,
        ``[x*x | x | 1]`` or ``[|x|^2 | x | 1]``, cost as much to build as the
        rest of an iteration), and only while they take at most
        :data:`_FEATURE_CACHE_BYTES` and at most as much as three ``N x K``
        arrays (EM's own responsibilities and log-densities are ``N x K``;
        wider features would raise the fit's peak memory above
        scikit-learn's); otherwise every iteration rebuilds them chunk by chunk.
        """
        if self.dask or covariance_type not in ("diag", "spherical"):
            return None
        m = _kernels._n_moment_features(covariance_type, self.d) + self.d + 1
        if 8 * m * self.n > _FEATURE_CACHE_BYTES or m > 3 * n_components:
            return None
        X = self.X
        step = self.em_chunk_rows(covariance_type, n_components)
        buf = np.empty(m * self.n)  # one allocation: huge pages, few page faults

        def build(i, s, t):
            return _kernels.moment_features(
                X[s : s + self.step],
                covariance_type,
                n_components,
                shift,
                out=buf[m * s : m * min(s + self.step, self.n)],
                chunk_size=step,
            )

        return dict(zip((int(s) for s in self.offsets), self._map(build)))

    def prepare_workspace(self, covariance_type, n_components, features):
        """One buffer per worker thread for the chunk temporaries of the E/M-steps
        (none for dask: its blocks may run anywhere)."""
        if self.dask or self.n == 0:
            self._work = None
            return
        size = _kernels.workspace_size(
            min(self.step, self.n), self.d, n_components, covariance_type, features,
            chunk_size=self.em_chunk_rows(covariance_type, n_components),
        )
        self._work = [np.empty(size) for _ in range(self.n_threads)] if size else None

    def _map(self, fn):
        """``[fn(i, offset_i, worker) for each block i]`` on ``n_threads`` threads.

        Blocks are handed out one at a time, so a thread slowed down by other
        load on the machine just takes fewer; ``worker`` (0 ..
        ``n_threads - 1``) selects that thread's workspace. numpy's ufuncs
        and BLAS release the GIL, so the blocks really run in parallel.
        """
        offsets = [int(s) for s in self.offsets]
        if self.n_threads <= 1:
            return [fn(i, s, 0) for i, s in enumerate(offsets)]
        from concurrent.futures import ThreadPoolExecutor

        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.n_threads, thread_name_prefix="bayesgmm-em")
        out = [None] * len(offsets)
        todo = iter(range(len(offsets)))
        lock = threading.Lock()
        stop = threading.Event()

        def worker(t):
            while not stop.is_set():
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                try:
                    out[i] = fn(i, offsets[i], t)
                except BaseException:
                    stop.set()  # the other workers take no further block
                    raise

        futures = [self._pool.submit(worker, t) for t in range(self.n_threads)]
        try:
            for f in futures:  # re-raises the first worker exception
                f.result()
        except BaseException:  # incl. KeyboardInterrupt while waiting
            stop.set()
            raise
        return out

    def map_reduce(self, func, *args, workspace=False):
        """``sum_b func(X_b, w_b, offset_b, *args)`` over chunks / dask blocks.

        The per-block results are summed in block order. ``workspace=True``
        passes ``work=`` (this worker thread's buffer from
        :meth:`prepare_workspace`) to ``func``.
        """
        if not self.dask:
            w = self.sample_weight
            X = self.X
            step = self.step
            work = self._work

            def one(i, s, t):
                kw = {"work": work[t]} if workspace and work is not None else {}
                return func(
                    X[s : s + step], None if w is None else w[s : s + step], s, *args, **kw
                )

            return _sum(self._map(one))
        import dask

        blocks = self.X.to_delayed().ravel()
        w = self.sample_weight
        if w is None:
            wblocks = [None] * len(blocks)
        elif is_dask_array(w):
            wblocks = w.rechunk((self.X.chunks[0],)).to_delayed().ravel()
        else:
            wblocks = [w[s : s + c] for s, c in zip(self.offsets, self.X.chunks[0])]
        fn = dask.delayed(func, pure=True)
        parts = [fn(b, wb, int(s), *args) for b, wb, s in zip(blocks, wblocks, self.offsets)]
        while len(parts) > 1:  # tree reduction
            parts = [
                dask.delayed(_sum, pure=True)(parts[i : i + 8]) for i in range(0, len(parts), 8)
            ]
        return dask.compute(parts[0])[0]

    def rows(self, idx):
        idx = np.asarray(idx, dtype=int)
        if self.dask:
            order = np.argsort(idx)
            out = np.asarray(self.X[idx[order]].compute())
            res = np.empty_like(out)
            res[order] = out
            return res
        return np.array(self.X[idx])


# --------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------


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
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        ``full``: one general covariance per component; ``tied``: one shared
        general covariance; ``diag``: one diagonal covariance per component;
        ``spherical``: one variance per component.
    tol : float, default=1e-3
        EM stops when the lower bound (mean log-likelihood per observation)
        changes by less than ``tol`` between iterations.
    reg_covar : float, default=1e-6
        Non-negative value added to the diagonal of every covariance.
    max_iter : int, default=100
        Maximum number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the one with the highest lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How the initial responsibilities are made: hard assignments of
        k-means (k-means++ seeding then Lloyd iterations); of k-means++
        seeding only; uniform random responsibilities; or ``n_components``
        randomly chosen observations as means.
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
    lower_bound_ : float
        Mean (weighted) log-likelihood per observation of the best
        initialisation, evaluated at the parameters *before* its last
        M-step (scikit-learn's definition).
    lower_bounds_ : list of float
        ``lower_bound`` after each iteration of the best initialisation.
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
    ``sum w log p(x) / sum w``.

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

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
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
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
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

    # ---------------------------------------------------------------- protocol
    def __sklearn_is_fitted__(self):
        return hasattr(self, "means_")

    def __getstate__(self):
        return dict(self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)

    @classmethod
    def _from_state(cls, params, *, weights, means, covariances, converged, n_iter,
                    lower_bound, lower_bounds=(), feature_names_in=None):
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
        _int("n_init", 1)
        _int("verbose_interval", 1)
        _real("tol", 0.0)
        _real("reg_covar", 0.0)
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"`covariance_type` must be one of {list(COVARIANCE_TYPES)}; got "
                f"{self.covariance_type!r}."
            )
        if self.init_params not in _INIT_PARAMS:
            raise ValueError(
                f"`init_params` must be one of {list(_INIT_PARAMS)}; got {self.init_params!r}."
            )
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise ValueError(f"`warm_start` must be True or False; got {self.warm_start!r}.")
        if not isinstance(self.verbose, (numbers.Integral, bool)):
            raise ValueError(f"`verbose` must be an integer (0, 1, 2); got {self.verbose!r}.")

    def _checked_inits(self, n_features):
        k, d = self.n_components, n_features
        ct = self.covariance_type
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = _as_float(self.weights_init, "weights_init")
            if weights.shape != (k,):
                raise ValueError(
                    f"`weights_init` must have shape (n_components,) = ({k},); got "
                    f"{weights.shape}."
                )
            if np.any(weights < 0) or np.any(weights > 1):
                raise ValueError(
                    "`weights_init` must lie in [0, 1]; got min "
                    f"{weights.min():.5g}, max {weights.max():.5g}."
                )
            if not np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-8):
                raise ValueError(
                    f"`weights_init` must sum to 1; got sum {weights.sum():.8g}. "
                    "Divide by its sum."
                )
        if self.means_init is not None:
            means = _as_float(self.means_init, "means_init")
            if means.shape != (k, d):
                raise ValueError(
                    f"`means_init` must have shape (n_components, n_features) = ({k}, {d}); "
                    f"got {means.shape}."
                )
        if self.precisions_init is not None:
            precisions = _as_float(self.precisions_init, "precisions_init")
            shape = get_covariance_type(ct).covariance_shape(k, d)
            if precisions.shape != shape:
                raise ValueError(
                    f"`precisions_init` for covariance_type={ct!r} must have shape {shape}; "
                    f"got {precisions.shape}."
                )
            if ct in ("full", "tied"):
                mats = precisions.reshape(-1, d, d)
                if not np.allclose(mats, np.swapaxes(mats, 1, 2)) or np.any(
                    np.linalg.eigvalsh(mats) <= 0
                ):
                    raise ValueError(
                        f"`precisions_init` ({ct}) must be symmetric positive-definite "
                        "matrices (inverse covariances)."
                    )
            elif np.any(precisions <= 0):
                raise ValueError(f"`precisions_init` ({ct}) must be positive.")
        return weights, means, precisions

    def _check_fitted(self, method):
        if not hasattr(self, "means_"):
            raise _not_fitted(type(self).__name__, method)

    def _validate_predict_X(self, X, method):
        self._check_fitted(method)
        arr, names = check_array(X, name="X")
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
            A component was re-seeded.

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
        X, names = check_array(X, name="X", min_samples=2)
        n, d = int(X.shape[0]), int(X.shape[1])
        if n < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {n}: `X` has fewer rows than "
                "components. Use fewer components or more data."
            )
        w = check_sample_weight(sample_weight, n)
        if w is not None and not is_dask_array(w):
            n_pos = int(np.count_nonzero(w))
            if n_pos < self.n_components:
                raise ValueError(
                    f"`sample_weight` gives positive weight to {n_pos} rows, fewer than "
                    f"n_components={self.n_components}; use fewer components or give "
                    "more rows a positive weight."
                )
        weights_init, means_init, precisions_init = self._checked_inits(d)
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

        ct = self.covariance_type
        k = self.n_components
        m = _kernels._n_moment_features(self.covariance_type, d) + d + 1
        small_blas = k * m <= _SMALL_BLAS and not is_dask_array(X)
        # small products: BLAS single-threaded, row blocks on the caller's
        # BLAS thread budget instead; large products: BLAS threads as set.
        # Everything from here runs under that limit: a multithreaded BLAS
        # call would leave OpenBLAS's threads spinning on the cores the
        # block threads need.
        threaded = small_blas and n * k * m >= _MIN_THREADED_WORK
        data = _Data(X, w, n_components=k, n_threads=_thread_budget() if threaded else 1)
        try:
            with _single_thread_blas(small_blas):
                # centring shift: the (weighted) mean (a matrix-vector product:
                # ~8x faster than X.mean(axis=0)); the data covariance is only
                # computed when needed (degenerate-component checks, k-means tol)
                if data.dask:
                    tot = data.map_reduce(_block_sum)
                    shift = tot.sx / tot.w
                elif w is None:
                    shift = (np.ones(n) @ X) / n
                else:
                    shift = (w @ X) / w.sum()
                self._data_cache = {"data": data, "shift": shift}
                self._warn_reg_covar_scale(names)
                return self._fit_loop(data, shift, do_init, want_labels,
                                      weights_init, means_init, precisions_init)
        finally:
            self._data_cache = None
            data.close()

    @property
    def _data_cov(self):
        """The (weighted) data covariance, computed once per fit when needed
        (only the collapse check of full covariances needs the whole matrix)."""
        cache = self._data_cache
        if "cov" not in cache:
            data, shift = cache["data"], cache["shift"]
            mom = data.map_reduce(_block_moments, shift)
            mean_c = mom.sx / mom.w
            cov = mom.sxx / mom.w - np.outer(mean_c, mean_c)
            cache["cov"] = 0.5 * (cov + cov.T)
            cache["var"] = np.diagonal(cache["cov"]).copy()
        return cache["cov"]

    @property
    def _data_var(self):
        """Per-feature (weighted) variances: one cheap pass, no D x D products."""
        cache = self._data_cache
        if "var" not in cache:
            data, shift = cache["data"], cache["shift"]
            mom = data.map_reduce(_block_moments, shift, 8192, True)
            mean_c = mom.sx / mom.w
            cache["var"] = mom.sxx / mom.w - mean_c**2
        return cache["var"]

    @property
    def _data_scale(self):
        var = self._data_var
        scale = float(np.sum(var)) / var.shape[0]
        return scale if scale > 0 else 1.0

    def _warn_reg_covar_scale(self, names=None):
        """Warn when the absolute ``reg_covar`` swamps a feature's variance.

        The regulariser is added to every covariance diagonal; above ~1e-3 of
        a feature's variance it dominates the fit (for data scaled by 1e-8 the
        default 1e-6 silently collapsed every component onto the data mean).
        Constant features (variance 0 up to rounding) are left to the other
        checks. The data covariance is cached, so with the default k-means
        initialisation this costs nothing extra.
        """
        if self.reg_covar <= 0:
            return
        var = self._data_var
        floor = 1e-12 * max(float(var.max()), 0.0)
        small = np.flatnonzero((var > floor) & (self.reg_covar > 1e-3 * var))
        if small.size == 0:
            return
        which = [str(names[j]) for j in small] if names is not None else small.tolist()
        warnings.warn(
            f"reg_covar={self.reg_covar:g} exceeds 1e-3 x the variance (smallest "
            f"{float(var[small].min()):.3g}) of feature(s) {which}: the regulariser "
            "dominates the fit and components may collapse onto the data mean. "
            "Standardise the data (e.g. (X - X.mean(0)) / X.std(0)) or lower "
            "reg_covar (e.g. 1e-6 x the smallest feature variance).",
            DegenerateComponentWarning,
            stacklevel=5,
        )

    def _fit_loop(self, data, shift, do_init, want_labels,
                  weights_init, means_init, precisions_init):
        ct = self.covariance_type
        k = self.n_components
        rng = check_random_state(self.random_state)
        n_init = self.n_init if do_init else 1

        best = None
        max_lower_bound = -np.inf
        self.converged_ = False
        feats = chunk = None
        if self.max_iter > 0:  # built once per fit, reused by every iteration
            feats = data.moment_features(shift, ct, k)
            data.prepare_workspace(ct, k, feats is not None)
            chunk = None if data.dask else data.em_chunk_rows(ct, k)
        for init in range(n_init):
            self._print_init_beg(init)
            if do_init:
                params = self._initialize(
                    data, shift, rng, weights_init, means_init, precisions_init
                )
            else:
                params = (
                    self.weights_,
                    self.means_,
                    self.covariances_,
                    self.precisions_cholesky_,
                )
            lower_bound = -np.inf if do_init else self.lower_bound_
            self._reseeds_left = 3
            history = []
            converged = False
            n_iter = 0
            for n_iter in range(1, self.max_iter + 1):
                prev = lower_bound
                weights, means, covs, prec_chol = params
                with np.errstate(divide="ignore"):
                    log_w = np.log(weights)
                estep = (means - shift, prec_chol, log_w, shift, ct)
                stats = data.map_reduce(_block_stats_em, *estep, 0, feats, chunk, workspace=True)
                lower_bound = stats.loglik / stats.weight
                history.append(float(lower_bound))
                params, reseeded = self._m_step(stats, data, shift, estep)
                change = lower_bound - prev
                self._print_iter_end(n_iter, change)
                if not reseeded and abs(change) < self.tol:
                    converged = True
                    break
            self._print_init_end(lower_bound, converged)
            if best is None or lower_bound > max_lower_bound:
                max_lower_bound = lower_bound
                best = (params, n_iter, history, converged)

        params, n_iter, history, converged = best
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
                stacklevel=5,
            )
        weights, means, covs, prec_chol = params
        self.weights_ = np.asarray(weights, dtype=np.float64)
        self.means_ = np.asarray(means, dtype=np.float64)
        if covs is not None:
            self.covariances_ = covs
        self.precisions_cholesky_ = prec_chol
        self.precisions_ = _kernels.precisions_from_cholesky(prec_chol, ct)
        if covs is None:  # all three initial values given and max_iter == 0
            self.covariances_ = _covariances_from_precisions(self.precisions_, ct)
        self.n_iter_ = int(n_iter)
        self.lower_bound_ = float(max_lower_bound)
        self.lower_bounds_ = list(history)
        if want_labels:
            return self._labels(data.X)
        return None

    # ---------------------------------------------------------- init / M-step
    def _initialize(self, data, shift, rng, weights_init, means_init, precisions_init):
        ct = self.covariance_type
        k = self.n_components
        n = data.n
        need_resp = weights_init is None or means_init is None or precisions_init is None
        weights = means = covs = prec_chol = None
        if need_resp:
            stats = self._init_statistics(data, shift, rng)
            nk, means_c, covs = _kernels.estimate_parameters(stats, ct, self.reg_covar)
            means = means_c + shift
            weights = nk / (stats.weight if data.sample_weight is not None else n)
        if weights_init is not None:
            weights = weights_init
        if means_init is not None:
            means = means_init
        if precisions_init is None:
            prec_chol = _kernels.compute_precision_cholesky(covs, ct)
        else:
            prec_chol = _kernels.compute_precision_cholesky_from_precisions(precisions_init, ct)
            covs = None
        return weights, means, covs, prec_chol

    def _init_statistics(self, data, shift, rng):
        ct = self.covariance_type
        k = self.n_components
        n = data.n
        ip = self.init_params
        if ip == "random":
            resp = rng.uniform(size=(n, k))
            resp /= resp.sum(axis=1)[:, None]
            return data.map_reduce(_block_stats_resp, resp, shift, ct)
        if ip == "random_from_data":
            if data.sample_weight is None:
                idx = rng.choice(n, size=k, replace=False)
            else:  # only rows that carry weight
                pos = np.flatnonzero(np.asarray(data.sample_weight) > 0)
                idx = pos[rng.choice(len(pos), size=k, replace=False)]
            return _stats_from_points(data.rows(idx) - shift, data, idx, ct)
        centers = _kmeans_plusplus(data, shift, k, rng)
        if ip == "k-means++":
            return _stats_from_points(centers[0], data, centers[1], ct)
        centers = _lloyd(data, shift, centers[0], tol=1e-4 * self._data_scale)
        return data.map_reduce(_block_stats_kmeans_resp, centers, shift, ct)

    def _m_step(self, stats, data, shift, estep):
        ct = self.covariance_type
        k = self.n_components
        nk, means_c, covs = _kernels.estimate_parameters(stats, ct, self.reg_covar)
        bad = self._degenerate(stats, covs)
        reseeded = bool(bad.size)
        if reseeded:
            means_c, covs, nk = self._reseed(bad, data, shift, estep, means_c, covs, nk)
        weights = nk / nk.sum()
        prec_chol = _kernels.compute_precision_cholesky(covs, ct)
        return (weights, means_c + shift, covs, prec_chol), reseeded

    def _degenerate(self, stats, covs):
        """Indices of empty or collapsed components.

        Empty: less than one observation's worth of responsibility.
        Collapsed: less than two observations' worth, and no variance left
        (beyond ``reg_covar``) in some direction in which the data do vary
        (``< 1e-10`` times the data's variance there), i.e. the component sits
        on a single observation and its likelihood would grow without bound.
        Components that are singular but hold several observations (e.g. a
        cluster constant in one feature) are left alone, as in scikit-learn.
        """
        ct = self.covariance_type
        k = self.n_components
        if k == 1 or self._reseeds_left <= 0:
            return np.array([], dtype=int)
        per_obs = stats.weight / max(stats.n, 1)
        n_eff = stats.nk / per_obs
        empty = n_eff < 1.0
        small = n_eff < 2.0
        collapsed = np.zeros(k, dtype=bool)
        if small.any():
            floor = 1e-12 * self._data_scale
            if ct == "full":
                lam, vec = np.linalg.eigh(covs)
                v = vec[:, :, 0]  # (K, D) direction of least variance
                dvar = np.einsum("kd,de,ke->k", v, self._data_cov, v)
                collapsed = (lam[:, 0] - self.reg_covar <= 1e-10 * dvar) & (dvar > floor)
            elif ct == "diag":
                dvar = self._data_var
                collapsed = np.any(
                    (covs - self.reg_covar <= 1e-10 * dvar) & (dvar > floor), axis=1
                )
            elif ct == "spherical":
                dvar = float(np.mean(self._data_var))
                collapsed = (covs - self.reg_covar <= 1e-10 * dvar) & (dvar > floor)
            collapsed &= small
        bad = np.nonzero(empty | collapsed)[0]
        if bad.size:
            self._reseeds_left -= 1
            if self._reseeds_left == 0:
                warnings.warn(
                    f"Component(s) {bad.tolist()} keep becoming empty or collapsing "
                    "after 3 re-seedings; they are left as they are. The data do "
                    "not support this many components: use fewer components, or "
                    "increase reg_covar.",
                    DegenerateComponentWarning,
                    stacklevel=7,
                )
                return np.array([], dtype=int)
        return bad

    def _reseed(self, bad, data, shift, estep, means_c, covs, nk):
        ct = self.covariance_type
        k = self.n_components
        good = np.setdiff1d(np.arange(k), bad)
        # one extra E-step pass (only now) to find the worst-explained rows
        worst = data.map_reduce(_block_stats_em, *estep, len(bad))
        idx = worst.worst_index[: len(bad)] if worst.worst_index is not None else []
        if len(idx) < len(bad):
            return means_c, covs, nk
        points = data.rows(idx) - shift
        means_c = means_c.copy()
        covs = np.array(covs, copy=True)
        nk = nk.copy()
        total = nk.sum()
        for j, c in enumerate(bad):
            means_c[c] = points[j]
            if ct in ("full", "diag", "spherical"):
                if good.size:
                    covs[c] = covs[good].mean(axis=0)
                elif ct == "full":
                    covs[c] = np.diag(np.full(data.d, self._data_scale + self.reg_covar))
                elif ct == "diag":
                    covs[c] = self._data_scale + self.reg_covar
                else:
                    covs[c] = self._data_scale + self.reg_covar
            nk[c] = total / k
        warnings.warn(
            f"Component(s) {bad.tolist()} became empty or collapsed onto too few "
            "observations during EM and were re-seeded at the worst-explained "
            "observations. If this keeps happening, use fewer components, increase "
            "reg_covar, or scale the features.",
            DegenerateComponentWarning,
            stacklevel=7,
        )
        return means_c, covs, nk

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
    def _plan_args(self):
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights_)
        return (self.means_, self.precisions_cholesky_, log_w, np.zeros(self.n_features_in_), self.covariance_type)

    def _weighted_log_prob(self, X):
        args = self._plan_args()
        if is_dask_array(X):
            return X.map_blocks(
                _block_weighted_log_prob, *args, dtype=np.float64,
                chunks=(X.chunks[0], (self.n_components,)),
            )
        return _block_weighted_log_prob(X, *args)

    def _labels(self, X):
        args = self._plan_args()
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
        wlp = self._weighted_log_prob(X)
        if is_dask_array(X):
            return wlp.map_blocks(_logsumexp_rows, dtype=np.float64, drop_axis=1)
        return _logsumexp_rows(wlp)

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
        w = check_sample_weight(sample_weight, s.shape[0])
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

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm import GaussianMixture
        >>> gm = GaussianMixture(2, means_init=[[0.0], [5.0]]).fit([[0.0], [0.2], [5.0], [5.2]])
        >>> gm.predict([[0.1], [5.1]]).tolist()
        [0, 1]
        """
        X = self._validate_predict_X(X, "predict")
        if is_dask_array(X):
            return X.map_blocks(_block_labels, *self._plan_args(), dtype=np.int64, drop_axis=1)
        return self._labels(X)

    def predict_proba(self, X):
        """Responsibilities ``p(z_n = k | x_n)`` (rows sum to one).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components) (a dask array for dask input)

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm import GaussianMixture
        >>> gm = GaussianMixture(2, means_init=[[0.0], [5.0]]).fit([[0.0], [0.2], [5.0], [5.2]])
        >>> gm.predict_proba([[0.1]]).round(3)
        array([[1., 0.]])
        """
        X = self._validate_predict_X(X, "predict_proba")
        wlp = self._weighted_log_prob(X)
        if is_dask_array(X):
            return wlp.map_blocks(_resp_rows, dtype=np.float64)
        return _resp_rows(wlp)

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
        d = self.means_.shape[1]
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        ct = self.covariance_type
        if ct == "full":
            X = np.vstack([
                rng.multivariate_normal(m, c, int(s))
                for m, c, s in zip(self.means_, self.covariances_, counts)
            ])
        elif ct == "tied":
            X = np.vstack([
                rng.multivariate_normal(m, self.covariances_, int(s))
                for m, s in zip(self.means_, counts)
            ])
        else:
            X = np.vstack([
                m + rng.standard_normal(size=(s, d)) * np.sqrt(c)
                for m, c, s in zip(self.means_, self.covariances_, counts)
            ])
        y = np.concatenate([np.full(int(s), i, dtype=np.int64) for i, s in enumerate(counts)])
        return X, y

    # ---------------------------------------------------------- criteria
    def _n_parameters(self):
        return get_covariance_type(self.covariance_type).n_parameters(
            self.n_components, self.means_.shape[1]
        )

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

    def icl(self, X, method="entropy"):
        """Integrated completed likelihood criterion (lower is better).

        ICL (Biernacki, Celeux & Govaert 2000) penalises BIC by how unclear
        the classification is, favouring well-separated clusters:

        * ``method="entropy"`` (default):
          ``ICL = BIC + 2 * sum_n EN(x_n)`` with the entropy
          ``EN(x_n) = -sum_k t_nk log t_nk`` of the responsibilities ``t``
          (the "ICL-BIC" of McLachlan & Peel 2000, Sec. 6.10.3), i.e. minus
          twice the expected complete-data log-likelihood plus ``p log N``.
        * ``method="map"``: ``ICL = BIC - 2 * sum_n log t_{n, z_n}`` with the
          MAP labels ``z_n`` (the complete likelihood at the MAP
          classification, as in Biernacki et al. 2000 and R mclust's
          ``icl()``; mclust reports it with the opposite sign, higher is
          better, i.e. ``mclust_icl = -icl(X, method="map")``).

        Both are ``>= BIC``, with equality when every row is assigned with
        probability one.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        method : {"entropy", "map"}, default="entropy"

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
        wlp = self._weighted_log_prob(Xv)
        if is_dask_array(wlp):
            wlp = wlp.compute()
        log_norm, log_resp = _kernels.log_responsibilities(wlp)
        n = wlp.shape[0]
        bic = -2.0 * float(log_norm.sum()) + self._n_parameters() * math.log(n)
        if method == "entropy":
            with np.errstate(under="ignore", invalid="ignore"):
                r = np.exp(log_resp)
                ent = -np.sum(np.where(r > 0, r * log_resp, 0.0))
            return float(bic + 2.0 * ent)
        return float(bic - 2.0 * np.sum(np.max(log_resp, axis=1)))


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

#: Largest size (bytes) of the EM features kept for a whole fit (see
#: ``_Data.moment_features``): the chunk budget of :mod:`bayesgmm._kernels`.
_FEATURE_CACHE_BYTES = _kernels.CHUNK_BYTES

#: Row blocks run on several threads only when one E-step does at least this
#: many multiply-adds (``N * K * features``): below it, handing blocks to
#: threads cost more than it saved (N=1e4, D=10, K=10 was 2x slower on 2).
_MIN_THREADED_WORK = 10**7

#: Blocks whose chunk temporaries share the memory bound of one fit (see
#: ``_Data.em_chunk_rows``).
_MAX_CONCURRENT_BLOCKS = 4

#: Above this many entries of the per-chunk operand ``A`` (K x features) the EM
#: matrix products are large enough to profit from a multithreaded BLAS.
_SMALL_BLAS = 4096
_BLAS_CONTROLLER = []


def _blas_controller():
    """The process's :class:`threadpoolctl.ThreadpoolController` (or None)."""
    try:
        if not _BLAS_CONTROLLER:
            from threadpoolctl import ThreadpoolController

            _BLAS_CONTROLLER.append(ThreadpoolController())
        return _BLAS_CONTROLLER[0]
    except Exception:  # threadpoolctl missing or failing
        return None


def _thread_budget():
    """Threads an in-memory fit may use: the caller's BLAS thread limit.

    ``threadpoolctl.threadpool_limits(1)`` (or ``OPENBLAS_NUM_THREADS=1``)
    therefore keeps a fit on one thread; never more than the CPUs this
    process may run on.
    """
    ctl = _blas_controller()
    if ctl is None:
        return 1
    try:
        nums = [lc.num_threads for lc in ctl.select(user_api="blas").lib_controllers]
    except Exception:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min([cpus, *nums])) if nums else 1


def _block_rows(n, k, d):
    """Rows per in-memory block: about ``N / 8`` (so up to eight blocks share
    the work between threads), but at least 4096 rows and at most the chunk
    budget. Depends only on the problem size, never on the thread count."""
    return int(max(1, min(_kernels.chunk_rows(n, k, d), max(4096, -(-n // 8)))))


_BLAS_LIMIT_LOCK = threading.Lock()
_BLAS_LIMIT = {"depth": 0, "limiter": None}


@contextmanager
def _single_thread_blas(enabled):
    """Context: BLAS limited to one thread (never raises the caller's setting).

    The EM loop makes many small matrix products (K rows); with a
    multithreaded BLAS each one synchronises threads, which on a busy machine
    made 2 BLAS threads 10-100x slower than 1 in our benchmarks.

    The limit is process-wide, so fits running at the same time in several
    threads share one: the first to enter sets it, the last to leave restores
    the caller's setting (independent limits would restore each other's
    "original" 1 and leave BLAS single-threaded for good).
    """
    ctl = _blas_controller() if enabled else None
    if ctl is None:
        yield
        return
    with _BLAS_LIMIT_LOCK:
        if _BLAS_LIMIT["depth"] == 0:
            try:
                _BLAS_LIMIT["limiter"] = ctl.limit(limits=1, user_api="blas")
            except Exception:  # threadpoolctl failing: leave BLAS alone
                _BLAS_LIMIT["limiter"] = None
        _BLAS_LIMIT["depth"] += 1
    try:
        yield
    finally:
        with _BLAS_LIMIT_LOCK:
            _BLAS_LIMIT["depth"] -= 1
            if _BLAS_LIMIT["depth"] == 0 and _BLAS_LIMIT["limiter"] is not None:
                _BLAS_LIMIT["limiter"].restore_original_limits()
                _BLAS_LIMIT["limiter"] = None


def _n_rows(X):
    X = orient(X)  # a DataArray's observations by the one orientation rule
    if hasattr(X, "shape") and len(getattr(X, "shape")) >= 1:
        return int(X.shape[0])
    return len(X)


def _as_float(a, name):
    try:
        arr = np.array(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a numeric array; got {type(a).__name__}.") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or inf; pass finite values.")
    return arr


def _logsumexp_rows(wlp):
    return _kernels.logsumexp_rows(wlp)


def _resp_rows(wlp):
    _, log_resp = _kernels.log_responsibilities(wlp)
    return np.exp(log_resp)


def _covariances_from_precisions(precisions, ct):
    if ct in ("full", "tied"):
        return np.linalg.inv(precisions)
    return 1.0 / precisions


def _stats_from_points(points_c, data, idx, ct):
    """Statistics of one-hot responsibilities at rows ``idx`` (one per component).

    Like scikit-learn's ``random_from_data``/``k-means++`` initialisations:
    each component gets exactly one observation (so its covariance starts at
    ``reg_covar`` times the identity).
    """
    k = points_c.shape[0]
    w = None if data.sample_weight is None else np.asarray(data.sample_weight)[idx]
    st = _kernels.accumulate_statistics(points_c, ct, resp=np.eye(k), sample_weight=w)
    st.weight = float(data.n if data.sample_weight is None else np.sum(data.sample_weight))
    st.n = data.n
    return st


def _kmeans_plusplus(data, shift, k, rng):
    """k-means++ seeding (Arthur & Vassilvitskii 2007) with greedy local trials.

    For a dask array the seeding runs on a random subsample of at most 20,000
    rows. Returns (centers in shifted coordinates, row indices).
    """
    if data.dask:
        m = min(data.n, 20000)
        sub_idx = np.sort(rng.choice(data.n, size=m, replace=False))
        X = data.rows(sub_idx) - shift
        w = None if data.sample_weight is None else np.asarray(data.sample_weight)[sub_idx]
    else:
        sub_idx = None
        X = data.X - shift if data.n * data.d <= 5e7 else None
        w = data.sample_weight
        if X is None:
            m = min(data.n, 200000)
            sub_idx = np.sort(rng.choice(data.n, size=m, replace=False))
            X = data.X[sub_idx] - shift
            w = None if w is None else w[sub_idx]
    n = X.shape[0]
    x_sq = np.einsum("nd,nd->n", X, X)
    n_trials = 2 + int(np.log(k))
    p = None if w is None else w / w.sum()
    first = rng.choice(n, p=p) if p is not None else rng.randint(n)
    idx = [first]
    closest = np.maximum(x_sq - 2 * X @ X[first] + x_sq[first], 0.0)
    if w is not None:
        closest = closest * w
    pot = closest.sum()
    for _ in range(1, k):
        if pot <= 0:
            cand = rng.randint(n, size=n_trials)
        else:
            cand = np.searchsorted(np.cumsum(closest), rng.uniform(size=n_trials) * pot)
            cand = np.clip(cand, None, n - 1)
        d_c = np.maximum(x_sq[None, :] - 2 * X[cand] @ X.T + x_sq[cand][:, None], 0.0)
        if w is not None:
            d_c = d_c * w
        np.minimum(closest, d_c, out=d_c)
        pots = d_c.sum(axis=1)
        best = int(np.argmin(pots))
        idx.append(int(cand[best]))
        closest = d_c[best]
        pot = pots[best]
    idx = np.asarray(idx)
    centers = X[idx].copy()
    glob = idx if sub_idx is None else sub_idx[idx]
    return centers, glob


def _lloyd(data, shift, centers, max_iter=300, tol=1e-4):
    """Lloyd iterations as a map-reduce; returns centers (shifted coordinates).

    Stops when the centers move by at most ``tol`` (squared Euclidean, summed),
    scikit-learn's criterion with ``tol`` already scaled by the data variance.
    """
    for _ in range(max_iter):
        st = data.map_reduce(_block_kmeans, centers, shift)
        new = centers.copy()
        nz = st.counts > 0
        new[nz] = st.sums[nz] / st.counts[nz, None]
        moved = np.sum((new - centers) ** 2)
        centers = new
        if moved <= tol:
            break
    return centers
