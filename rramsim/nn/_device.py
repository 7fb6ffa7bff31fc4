"""The one place rramsim.nn calls :mod:`rramsim.devmodel` (form, reset, set, write-verify, read)."""

from __future__ import annotations

import numpy as np


def form(shape, *, rng):
    """``devmodel.form(shape, rng=rng)`` with the default 40 nm TaOx preset."""
    from rramsim import devmodel

    return devmodel.form(shape, rng=rng)


def reset(state, mask, *, rng):
    """``devmodel.reset(state, mask, rng=rng)``: pruned cells land at 0.1-1 uS."""
    from rramsim import devmodel

    return devmodel.reset(state, mask, rng=rng)


def set_(state, mask, *, rng):
    """``devmodel.set(state, mask, rng=rng)``: reinstated cells."""
    from rramsim import devmodel

    return devmodel.set(state, mask, rng=rng)


def read_conductance(state, *, rng=None, noise=None):
    """``devmodel.read_conductance(state, rng=rng, noise=noise)``, siemens."""
    from rramsim import devmodel

    return devmodel.read_conductance(state, rng=rng, noise=noise)


def write_verify(target_g: np.ndarray, *, rng: np.random.Generator, tolerance: float):
    """``devmodel.write_verify(target_g, rng=rng, tolerance=tolerance)`` on freshly formed cells."""
    from rramsim import devmodel

    return devmodel.write_verify(target_g, rng=rng, tolerance=tolerance)
