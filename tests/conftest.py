"""Shared fixtures. Markers: ``slow`` (more than a few seconds), ``ngspice`` (runs real ngspice).

Property tests draw their examples deterministically (hypothesis's ``derandomize``), so every run of
the suite checks the same cases and a result never depends on the day's random draw; set
``HYPOTHESIS_PROFILE=explore`` to search with fresh random examples.
"""

import os

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture
def rng():
    """A fresh, seeded generator per test."""
    return np.random.default_rng(12345)
