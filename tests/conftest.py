"""Shared fixtures. Markers: ``slow`` (more than a few seconds), ``ngspice`` (runs real ngspice)."""

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fresh, seeded generator per test."""
    return np.random.default_rng(12345)
