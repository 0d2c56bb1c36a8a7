"""The EM chunk engine: data access, row blocks, threads, BLAS limits, map-reduce.

:class:`_Data` hands the rows of in-memory data out in blocks (on worker
threads) or the blocks of a dask array to dask's scheduler, and sums per-block
results (:meth:`_Data.map_reduce`); :func:`open_data` also decides, from the
problem size, whether BLAS runs single-threaded with row blocks on threads
instead (the process-wide, reference-counted :func:`_single_thread_blas`).
The per-block functions (``_block_*``) take ``(x, w, offset, *args)``.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import numpy as np

from bayesgmm import _kernels
from bayesgmm._validation import is_dask_array

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


def _sum(parts):
    total = parts[0]
    for p in parts[1:]:
        total = total + p
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


def _block_stats_em(
    x, w, offset, means_c, prec_chol, log_weights, shift, covariance, n_worst,
    feats=None, chunk=None, work=None,
):
    """One block's E-step and sufficient statistics (parameters in shifted coordinates)."""
    return _kernels.accumulate_statistics(
        x,
        covariance,
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

    def mean(self):
        """The (weighted) column means: a fit's centring shift.

        A matrix-vector product for in-memory data (~8x faster than
        ``X.mean(axis=0)``); a map-reduce over the blocks of a dask array.
        """
        if self.dask:
            tot = self.map_reduce(_block_sum)
            return tot.sx / tot.w
        w = self.sample_weight
        if w is None:
            return (np.ones(self.n) @ self.X) / self.n
        return (w @ self.X) / w.sum()

    def em_chunk_rows(self, covariance, n_components):
        """Rows per E/M-step chunk inside a block.

        From the whole data's size, with the memory bound shared by up to
        :data:`_MAX_CONCURRENT_BLOCKS` blocks in flight: the same for any
        thread count (so results are), and the chunk temporaries of all
        threads together stay within one ``N x (D + 2K)`` array for up to
        that many threads.
        """
        return _kernels._em_chunk_size(
            self.n, self.d, n_components, covariance,
            concurrent=min(len(self.offsets), _MAX_CONCURRENT_BLOCKS),
        )

    def moment_features(self, shift, covariance, n_components):
        """Per-block E/M-step features, built once per fit, or None.

        Only for in-memory data and types whose features are worth keeping
        (``covariance.reuse_moment_features()``: ``spherical``, whose
        features cost as much to build as the rest of an iteration), and only
        while they take at most :data:`_FEATURE_CACHE_BYTES` and at most as
        much as three ``N x K`` arrays (EM's own responsibilities and
        log-densities are ``N x K``; wider features would raise the fit's
        peak memory above scikit-learn's); otherwise every iteration rebuilds
        them chunk by chunk.
        """
        if self.dask or not covariance.reuse_moment_features():
            return None
        m = covariance.n_moment_features(self.d) + self.d + 1
        if 8 * m * self.n > _FEATURE_CACHE_BYTES or m > 3 * n_components:
            return None
        X = self.X
        step = self.em_chunk_rows(covariance, n_components)
        buf = np.empty(m * self.n)  # one allocation: huge pages, few page faults

        def build(i, s, t):
            return _kernels.moment_features(
                X[s : s + self.step],
                covariance,
                n_components,
                shift,
                out=buf[m * s : m * min(s + self.step, self.n)],
                chunk_size=step,
            )

        return dict(zip((int(s) for s in self.offsets), self._map(build)))

    def prepare_workspace(self, covariance, n_components, features):
        """One buffer per worker thread for the chunk temporaries of the E/M-steps
        (none for dask: its blocks may run anywhere)."""
        if self.dask or self.n == 0:
            self._work = None
            return
        size = _kernels.workspace_size(
            min(self.step, self.n), self.d, n_components, covariance, features,
            chunk_size=self.em_chunk_rows(covariance, n_components),
        )
        self.allocate_workspace(size)

    def allocate_workspace(self, size):
        """One float64 buffer of ``size`` values per worker thread (none if 0),
        passed to a block function by :meth:`map_reduce` (``workspace=True``):
        reused buffers instead of fresh pages (page faults) for every block."""
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
            return _sum(self.map_blocks(func, *args, workspace=workspace))
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

    def map_blocks(self, func, *args, workspace=False):
        """``[func(X_b, w_b, offset_b, *args) for each block b]``, in block order, on the
        worker threads (in-memory data only; :meth:`map_reduce` sums them)."""
        if self.dask:
            raise TypeError("map_blocks needs in-memory data; use map_reduce for a dask array")
        w = self.sample_weight
        X = self.X
        step = self.step
        work = self._work

        def one(i, s, t):
            kw = {"work": work[t]} if workspace and work is not None else {}
            return func(X[s : s + step], None if w is None else w[s : s + step], s, *args, **kw)

        return self._map(one)

    def rows(self, idx):
        idx = np.asarray(idx, dtype=int)
        if self.dask:
            order = np.argsort(idx)
            out = np.asarray(self.X[idx[order]].compute())
            res = np.empty_like(out)
            res[order] = out
            return res
        return np.array(self.X[idx])


@contextmanager
def open_data(X, sample_weight, n_components, n_row_features):
    """Context: a fit's :class:`_Data`, under the fit's BLAS thread policy.

    Small per-chunk products (``K`` times ``n_row_features``, the per-row
    features of the E/M-steps, at most :data:`_SMALL_BLAS`) run with BLAS
    single-threaded and, when one E-step is large enough to pay for it (at
    least :data:`_MIN_THREADED_WORK` multiply-adds), in-memory row blocks on
    the caller's BLAS thread budget instead; large products keep the
    caller's BLAS setting. Everything inside the context runs under that
    limit: a multithreaded BLAS call would leave OpenBLAS's threads spinning
    on the cores the block threads need. The worker threads are shut down on
    exit.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.em._engine import open_data
    >>> with open_data(np.arange(6.0).reshape(3, 2), None, 2, 6) as data:
    ...     data.mean()
    array([2., 3.])
    """
    n, k, m = int(X.shape[0]), n_components, n_row_features
    small_blas = k * m <= _SMALL_BLAS and not is_dask_array(X)
    threaded = small_blas and n * k * m >= _MIN_THREADED_WORK
    data = _Data(X, sample_weight, n_components=k, n_threads=_thread_budget() if threaded else 1)
    try:
        with _single_thread_blas(small_blas):
            yield data
    finally:
        data.close()


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
