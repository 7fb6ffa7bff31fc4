"""Private adapter to :mod:`rramsim.devmodel` (the only place rramsim.nn touches the device model).

It resolves the device model's public API (``form``, ``reset``, ``set``, ``write_verify``,
``read_conductance``) at call time. Until ``write_verify`` is published by the device model, a
clearly marked stand-in is used for it (see :func:`write_verify`); every other operation is the
device model's own.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np


def _find(name: str, *alternatives: str):
    dm = importlib.import_module("rramsim.devmodel")
    for n in (name, *alternatives):
        if hasattr(dm, n):
            return getattr(dm, n)
    for mod in ("rramsim.devmodel.program", "rramsim.devmodel.read"):
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        for n in (name, *alternatives):
            if hasattr(m, n):
                return getattr(m, n)
    return None


def form(shape, *, rng):
    """``devmodel.form(shape, rng=rng)``."""
    return _find("form")(shape, rng=rng)


def reset(state, mask, *, rng):
    """``devmodel.reset(state, mask, rng=rng)``."""
    return _find("reset")(state, mask, rng=rng)


def set_(state, mask, *, rng):
    """``devmodel.set(state, mask, rng=rng)``."""
    return _find("set", "set_cells")(state, mask, rng=rng)


def read_conductance(state, *, rng=None, noise=None):
    """``devmodel.read_conductance(state, rng=rng, noise=noise)``."""
    return _find("read_conductance")(state, rng=rng, noise=noise)


def has_write_verify() -> bool:
    """Whether the device model publishes ``write_verify``."""
    return _find("write_verify") is not None


def write_verify(target_g: np.ndarray, *, rng: np.random.Generator, tolerance: float):
    """``devmodel.write_verify(target_g, rng=rng, tolerance=tolerance)``.

    Stand-in while the device model lacks it (NOT a device model): each cell ends uniformly within
    ``+-tolerance`` (relative) of its target, with unknown cost (pulses 0, energy NaN). The result has
    ``.conductance``, ``.state`` (the conductances themselves) and ``.cost``.
    """
    wv = _find("write_verify")
    if wv is not None:
        return wv(target_g, rng=rng, tolerance=tolerance)
    g = np.asarray(target_g, dtype=float)
    out = g * (1.0 + tolerance * rng.uniform(-1.0, 1.0, size=g.shape))
    cost = SimpleNamespace(pulses=np.zeros(g.shape, np.int64), energy=np.full(g.shape, np.nan))
    return SimpleNamespace(state=None, conductance=out, cost=cost, stand_in=True)
