"""Variational inference: PyMC's ADVI and full-rank ADVI on :func:`bayesgmm.build_model`,
minibatch mean-field ADVI on :class:`bayesgmm._logdensity.MixtureDensity`, and the
check that the optimisation settled.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import warnings

import numpy as np
import xarray as xr

from bayesgmm.exceptions import VIConvergenceWarning
from bayesgmm.inference._common import _blas_one_thread, _check_int
from bayesgmm.inference._pymc import _model
from bayesgmm.inference._results import _draws_to_dataset, _select_posterior, _tree
from bayesgmm.inference._starts import _curvature_scale, _pymc_initvals


def _check_vi_loss(loss, n, method):
    """Warn when the loss still drifts over the last 10% of the steps.

    Compares the mean loss over the last tenth of the steps with the tenth
    before it; a drop larger than four standard errors of that difference
    means the optimisation was still making progress.
    """
    loss = np.asarray(loss, dtype=float)
    loss = loss[np.isfinite(loss)]
    w = len(loss) // 10
    if w < 20:
        return
    last, prev = loss[-w:], loss[-2 * w : -w]
    diff = prev.mean() - last.mean()
    se = np.sqrt(last.var(ddof=1) / w + prev.var(ddof=1) / w)
    if diff > 4 * se:
        warnings.warn(
            f"{method} may not have converged: the loss still fell by {diff:.4g} (more than 4 standard errors) "
            f"over the last {w} of its {n} steps. Increase the number of steps, e.g. n={2 * n}, "
            "or use method='nuts' for exact posterior draws.",
            VIConvergenceWarning,
            stacklevel=3,
        )


def _vi_steps(kwargs, tune):
    n = kwargs.pop("n", None)
    n = max(10 * tune, 5000) if n is None else n
    return _check_int(n, "n", 1)


# ----------------------------------------------------------------- PyMC VI
def _pymc_fit(X, *, method, dens, x0, draws, tune, chains, progressbar, seed_jitter, seed_sampler,
              jitter, t0, **kwargs):
    import pymc as pm

    n = _vi_steps(kwargs, tune)
    model = _model(X, dens)
    start = _pymc_initvals(dens, x0)
    if method == "advi" and "start_sigma" not in kwargs:
        # start the approximation's sds at the local posterior curvature
        with _blas_one_thread():
            sd0 = _curvature_scale(dens, x0)
        sigma, offset = {}, 0
        for name, shape in zip(dens.names, dens.shapes):
            size = int(np.prod(shape))
            sigma[name] = sd0[offset : offset + size]
            offset += size
        kwargs["start_sigma"] = sigma  # keyed by value-variable names (== dens.names)
    setup_time = time.perf_counter() - t0
    t1 = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*object mode.*")
        with _reraise_swallowed_interrupt(method) as stop_if_interrupted:
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), stop_if_interrupted]
            approx = pm.fit(n=n, method=method, random_seed=seed_sampler, start=start, progressbar=progressbar, **kwargs)
        idata = approx.sample(draws=draws * chains, random_seed=seed_jitter)
    sampling_time = time.perf_counter() - t1
    post = _select_posterior(idata["posterior"].to_dataset(), dens)
    post = _reshape_chains(post, chains, draws)
    loss = np.asarray(approx.hist, dtype=float)
    _check_vi_loss(loss, n, method)
    stats = xr.Dataset({"loss": (("vi_iteration",), loss)})
    return _tree(post.drop_attrs(), stats, {"method": method, "setup_time": setup_time,
                                            "sampling_time": sampling_time, "vi_steps": n})


@contextlib.contextmanager
def _reraise_swallowed_interrupt(what):
    """Turn a Ctrl-C during PyMC's ``fit`` loop into KeyboardInterrupt after the loop.

    ``pm.fit`` catches KeyboardInterrupt and returns the unfinished approximation
    as if it had converged, and a KeyboardInterrupt raised while PyTensor's
    compiled (numba) step function calls back into Python can come out as a
    SystemError or be lost. So once the loop steps (the yielded callback, passed
    in ``pm.fit(callbacks=...)``, has run once), a SIGINT is only noted by the
    handler and the callback ends the loop with StopIteration at the next step.
    Before that (``pm.fit``'s set-up and the first step, which compiles the step
    function and may wait for PyTensor's compile lock: tens of seconds on a new
    machine) the handler also raises KeyboardInterrupt at once, so Ctrl-C does
    not wait for the first step. Either way KeyboardInterrupt is raised once the
    block returns, or instead of whatever error left the block after the signal.
    Only the main thread receives signals; elsewhere the callback does nothing
    and the block runs unchanged.
    """
    received = []
    stepping = []

    def stop_if_interrupted(*_):
        if received:
            raise StopIteration(f"{what} interrupted")
        if not stepping:
            stepping.append(True)

    if threading.current_thread() is not threading.main_thread():
        yield stop_if_interrupted
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, None):
        yield stop_if_interrupted
        return

    message = f"{what} was interrupted; nothing was fitted."

    def handler(signum, frame):
        received.append(signum)
        if not stepping:
            raise KeyboardInterrupt(message)

    signal.signal(signal.SIGINT, handler)
    try:
        yield stop_if_interrupted
    except KeyboardInterrupt:
        raise KeyboardInterrupt(message) from None
    except Exception as exc:
        if received:
            raise KeyboardInterrupt(message) from exc
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt(message)


def _reshape_chains(ds, chains, draws):
    out = {}
    for name, da in ds.data_vars.items():
        vals = da.values.reshape(chains, draws, *da.shape[2:])
        out[name] = (("chain", "draw", *da.dims[2:]), vals)
    coords = {k: v for k, v in ds.coords.items() if k not in ("chain", "draw")}
    coords.update(chain=np.arange(chains), draw=np.arange(draws))
    return xr.Dataset(out, coords=coords)


# ------------------------------------------------------- minibatch ADVI
def _minibatch_advi(*, dens, x0, draws, tune, chains, progressbar, seed_jitter, seed_sampler, jitter, t0,
                    batch_size=None, n=None, learning_rate=0.01, **kwargs):
    if kwargs:
        raise TypeError(
            f"unexpected keyword(s) for method='minibatch_advi': {sorted(kwargs)}; "
            "valid: batch_size, n, learning_rate, jitter."
        )
    N = dens.X.shape[0]
    batch_size = min(N, 1000) if batch_size is None else _check_int(batch_size, "batch_size", 1)
    batch_size = min(batch_size, N)
    steps = _vi_steps({"n": n} if n is not None else {}, tune)
    lr = float(learning_rate)
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate}.")
    rng = np.random.default_rng(seed_sampler)
    scale = N / batch_size
    with _blas_one_thread():
        # curvature from a subsample (scaled to N): the full data are not needed for a start
        n_sub = min(N, 20000)
        sub = rng.choice(N, size=n_sub, replace=False) if n_sub < N else slice(None)
        sd0 = _curvature_scale(dens, x0, X=dens.X[sub], scale=N / n_sub)
        setup_time = time.perf_counter() - t0
        t1 = time.perf_counter()
        mu = x0.copy()
        omega = np.log(sd0)
        params = np.concatenate([mu, omega])
        m1 = np.zeros_like(params)
        m2 = np.zeros_like(params)
        b1, b2, eps = 0.9, 0.999, 1e-8
        d = dens.ndim
        losses = np.empty(steps)
        avg = np.zeros_like(params)
        n_avg = 0
        avg_from = steps - max(steps // 5, 1)
        bar = _progress(steps, progressbar, "minibatch ADVI")
        perm, pos = rng.permutation(N), 0
        for it in range(steps):
            if batch_size < N:  # epochs of a random permutation: O(1) per observation
                if pos + batch_size > N:
                    perm, pos = rng.permutation(N), 0
                idx = perm[pos : pos + batch_size]
                pos += batch_size
            else:
                idx = slice(None)
            e = rng.standard_normal(d)
            s = np.exp(params[d:])
            theta = params[:d] + s * e
            lp, g = dens.logp_and_grad(theta, X=dens.X[idx], scale=scale)
            if not np.isfinite(lp):  # rejected draw: skip the update
                losses[it] = np.nan
                continue
            entropy = float(np.sum(params[d:]))
            losses[it] = -(lp + entropy)
            grad = np.concatenate([g, g * s * e + 1.0])  # ascent direction of the ELBO
            m1 = b1 * m1 + (1 - b1) * grad
            m2 = b2 * m2 + (1 - b2) * grad * grad
            step = lr / np.sqrt(1.0 + it / 1000.0)
            params = params + step * (m1 / (1 - b1 ** (it + 1))) / (np.sqrt(m2 / (1 - b2 ** (it + 1))) + eps)
            if it >= avg_from:
                avg += params
                n_avg += 1
            if bar is not None and (it % 100 == 0 or it == steps - 1):
                bar(it + 1, losses[it])
        if bar is not None:
            bar(None, None)
        params = avg / n_avg if n_avg else params
        mu, s = params[:d], np.exp(params[d:])
        draw_rng = np.random.default_rng(seed_jitter)
        xs = mu + s * draw_rng.standard_normal((chains, draws, d))
        post = _draws_to_dataset(dens, xs)
    sampling_time = time.perf_counter() - t1
    _check_vi_loss(losses, steps, "minibatch_advi")
    stats = xr.Dataset({"loss": (("vi_iteration",), losses)})
    return _tree(post, stats, {"method": "minibatch_advi", "setup_time": setup_time,
                               "sampling_time": sampling_time, "vi_steps": steps, "batch_size": batch_size})


def _progress(total, enabled, label):
    """A minimal text progress line on stderr (no extra dependency)."""
    if not enabled:
        return None
    import sys

    def update(i, loss):
        if i is None:
            sys.stderr.write("\n")
            return
        sys.stderr.write(f"\r{label}: {i}/{total} steps, loss {loss:.4g}   ")
        sys.stderr.flush()

    return update
