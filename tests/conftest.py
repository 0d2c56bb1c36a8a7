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

import pytest

try:
    from hypothesis import settings
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    settings = None

if settings is not None:
    settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
    settings.register_profile("explore", derandomize=False, print_blob=True)
    settings.load_profile(os.environ.get("BAYESGMM_HYPOTHESIS_PROFILE", "ci"))


# --- SIGINT hygiene --------------------------------------------------------------
# A test (or a library it drives) that leaves SIGINT ignored or changed would make
# every later Ctrl-C test fail (an ignored signal is also inherited by the CLI child
# processes those tests start). Each test gets SIGINT back as it found it; the
# terminal summary names every test after which it had changed.

_SIGINT_CHANGED: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def _restore_sigint(request):
    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    if after is not before:
        _SIGINT_CHANGED.append((request.node.nodeid, repr(after)))
        signal.signal(signal.SIGINT, before)
        # also a warning: under pytest-xdist the summary below runs in the controller,
        # which does not see the workers' list, but it shows their warnings
        warnings.warn(f"the SIGINT handler was left as {after!r} (restored)", RuntimeWarning,
                      stacklevel=1)


def pytest_terminal_summary(terminalreporter):
    if _SIGINT_CHANGED:
        terminalreporter.section("SIGINT handler changed (restored)")
        for nodeid, handler in _SIGINT_CHANGED:
            terminalreporter.write_line(f"{nodeid}: left {handler}")
