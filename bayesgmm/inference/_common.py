"""Small helpers shared by the inference drivers: argument checks, BLAS threads."""

from __future__ import annotations

import numpy as np


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {minimum}, got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)


def _blas_one_thread():
    """Pin BLAS to one thread: the matrices are small and chains already run in parallel."""
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=1, user_api="blas")
    except Exception:  # pragma: no cover - threadpoolctl is a dependency
        import contextlib

        return contextlib.nullcontext()


def _progress(enabled, total, desc):
    """A tqdm progress bar of ``total`` steps, or None (disabled, or tqdm not installed)."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: no bar without it
        return None
    return tqdm(total=total, desc=desc, leave=False)
