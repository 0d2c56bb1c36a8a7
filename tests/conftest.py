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

try:
    from hypothesis import settings
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    settings = None

if settings is not None:
    settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
    settings.register_profile("explore", derandomize=False, print_blob=True)
    settings.load_profile(os.environ.get("BAYESGMM_HYPOTHESIS_PROFILE", "ci"))
