"""Shared pytest configuration.

Hypothesis profiles: the test suite is deterministic by default (profile
``ci``: derandomised, no example database), so a commit's result never depends
on which random examples hypothesis happens to draw. To explore with fresh
random examples (run it before each stop; see docs/developer/testing.md)::

    BAYESGMM_HYPOTHESIS_PROFILE=explore BAYESGMM_HYPOTHESIS_SCALE=10 \\
        .venv/bin/python -m pytest tests/test_properties.py tests/test_em.py \\
        tests/test_posterior_relabel.py -k "not slow"
"""

from __future__ import annotations

import os
import signal
import warnings

import numpy as np
import pytest

try:
    from hypothesis import settings
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    settings = None

if settings is not None:
    settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
    settings.register_profile("explore", derandomize=False, print_blob=True)
    settings.load_profile(os.environ.get("BAYESGMM_HYPOTHESIS_PROFILE", "ci"))


# --- the global numpy random state ------------------------------------------------
# A call with random_state=None draws from np.random's global state, which the tests
# that ran before in the same process have advanced: the numbers, and a result that
# depends on them, would change with the order and the split over the xdist workers.
# (A fresh-clone run failed that way: test_em_hierarchical's flat-component fit found
# the regular maximum instead of the spurious one for 7 of 40 seeds.) Each test starts
# from the same global state.


@pytest.fixture(autouse=True)
def _seed_global_numpy_random_state():
    np.random.seed(0)


# --- SIGINT hygiene --------------------------------------------------------------
# Every test starts with Python's own Ctrl-C: SIGINT handled by
# signal.default_int_handler and not blocked in the main thread.
#
# A process can start with SIGINT ignored: a shell runs a background job (`cmd &` in a
# script, `nohup`) with SIGINT set to SIG_IGN, the child inherits it, and Python then
# installs no handler of its own. Then no Ctrl-C test can interrupt anything (and the
# CLI processes those tests start inherit SIG_IGN too): this, not a leaking test, is
# what made the interrupt tests fail in some fresh-clone runs that were started in
# the background. pytest_configure (each xdist worker runs it too) installs Python's
# handler and the summary says so.
#
# What a test, a fixture or an import leaves otherwise (an asyncio loop's signal
# handler, a blocking signal mask, SIG_IGN) is reset before the next test and named
# in a RuntimeWarning (and, with -n 0, in the summary: under pytest-xdist the
# controller does not see the workers' list, but it shows their warnings).

_SIGINT_CHANGED: list[tuple[str, str]] = []
_SIGINT_INHERITED: list[str] = []


def _sigint_state():
    handler = signal.getsignal(signal.SIGINT)
    blocked = (hasattr(signal, "pthread_sigmask")
               and signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))
    return handler, blocked


def _install_default_sigint(blocked):
    # installed again every time: signal.signal also re-installs Python's C-level
    # handler, which a compiled library could have replaced without Python seeing it
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if blocked:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def pytest_configure(config):
    handler, blocked = _sigint_state()
    if handler is not signal.default_int_handler or blocked:
        _SIGINT_INHERITED.append(f"handler {handler!r}" + (", blocked" if blocked else ""))
    _install_default_sigint(blocked)


def _reset_sigint(nodeid, when):
    handler, blocked = _sigint_state()
    _install_default_sigint(blocked)
    if handler is signal.default_int_handler and not blocked:
        return
    found = f"handler {handler!r}" + (", blocked in the main thread" if blocked else "")
    _SIGINT_CHANGED.append((nodeid, f"{when}: {found}"))
    warnings.warn(f"SIGINT was not Python's default {when} ({found}); reset", RuntimeWarning,
                  stacklevel=1)


@pytest.fixture(autouse=True)
def _default_sigint(request):
    _reset_sigint(request.node.nodeid, "before the test (left by an import, a fixture or the "
                                       "previous test's teardown)")
    yield
    _reset_sigint(request.node.nodeid, "after the test")


def pytest_terminal_summary(terminalreporter):
    if _SIGINT_INHERITED:
        terminalreporter.write_line(
            f"note: pytest started with SIGINT {_SIGINT_INHERITED[0]} (e.g. run as a background "
            "job of a shell); every test ran with Python's default Ctrl-C handler instead")
    if _SIGINT_CHANGED:
        terminalreporter.section("SIGINT not Python's default (reset)")
        for nodeid, what in _SIGINT_CHANGED:
            terminalreporter.write_line(f"{nodeid}: {what}")
