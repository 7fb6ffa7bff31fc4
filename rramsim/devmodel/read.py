"""Reading model cells: the sinh I-V, read noise, relaxation, and tile conductances for circuits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim._validate import real_array, real_scalar
from rramsim.devmodel.physics import cell_current
from rramsim.devmodel.state import CellState
from rramsim.errors import DeviceModelError


def as_rng(rng) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a Generator or an int seed; None is refused (no hidden RNG)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise DeviceModelError(
        f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}")


def _check_state(state) -> CellState:
    if not isinstance(state, CellState):
        raise DeviceModelError(f"expected a CellState, got {type(state).__name__}")
    return state


def read_current(state: CellState, v) -> np.ndarray:
    """Read current of every cell at voltage ``v`` (no state change), amperes.

    ``I = I0 exp(-g / g0) sinh(V / V0)`` (Guan, Yu & Wong 2012), odd in V: ``I(-V) = -I(V)``.

    Parameters
    ----------
    state : CellState
    v : float or ndarray
        Volts; broadcast against ``state.shape``.
    """
    state = _check_state(state)
    v = real_array(v, "read voltage", DeviceModelError)
    if not np.isfinite(v).all():
        raise DeviceModelError("read voltage must be finite")
    try:
        np.broadcast_shapes(v.shape, state.shape)
    except ValueError:
        raise DeviceModelError(f"read voltage of shape {v.shape} does not broadcast to the "
                               f"cells' shape {state.shape}") from None
    return cell_current(state.gap, v, state.i0, state.params)


@dataclass(frozen=True)
class ReadNoise:
    """Read noise of a conductance measurement.

    ``G_read = G (1 + sigma_rel * N(0, 1)) (1 + rtn_rel * B)``, with ``B`` in {-1, +1} for cells that
    carry a random-telegraph-noise trap (probability ``rtn_fraction``) and 0 otherwise, the trap's state
    being drawn independently for each read.

    Attributes
    ----------
    sigma_rel : float
        Relative Gaussian standard deviation (>= 0; the study's code uses 0.0015-0.02).
    rtn_rel : float
        Relative amplitude of random telegraph noise (0 <= rtn_rel < 1).
    rtn_fraction : float
        Fraction of cells that show RTN (0..1).
    """

    sigma_rel: float = 0.01
    rtn_rel: float = 0.0
    rtn_fraction: float = 0.0

    def __post_init__(self) -> None:
        for name in ("sigma_rel", "rtn_rel", "rtn_fraction"):
            v = real_scalar(getattr(self, name), f"ReadNoise.{name}", DeviceModelError,
                            finite=False)
            if not np.isfinite(v) or v < 0:
                raise DeviceModelError(f"ReadNoise.{name} must be finite and >= 0, got {v}")
            object.__setattr__(self, name, v)
        if self.rtn_rel >= 1:
            raise DeviceModelError(f"ReadNoise.rtn_rel must be < 1, got {self.rtn_rel}")
        if self.rtn_fraction > 1:
            raise DeviceModelError(f"ReadNoise.rtn_fraction must be <= 1, got {self.rtn_fraction}")


def read_conductance(state: CellState, *, v_read: float | None = None, rng=None,
                     noise: ReadNoise | float | None = None) -> np.ndarray:
    """Chord conductance ``I(v_read) / v_read`` of every cell, siemens, optionally with read noise.

    Parameters
    ----------
    state : CellState
    v_read : float, optional
        Read voltage, volts (0 < |v_read| <= 0.5); default ``state.params.v_read``.
    rng : numpy.random.Generator or int, optional
        Needed when ``noise`` is given.
    noise : ReadNoise or float, optional
        Read noise; a float means ``ReadNoise(sigma_rel=noise)``. None reads noiselessly.

    Returns
    -------
    ndarray
        Non-negative conductances (a noisy read is floored at 0: a negative sensed conductance is not
        a physical reading of a passive cell).
    """
    state = _check_state(state)
    v = state.params.v_read if v_read is None else real_scalar(v_read, "v_read", DeviceModelError,
                                                               finite=False, unit="volts")
    if not np.isfinite(v) or v == 0 or abs(v) > 0.5:
        raise DeviceModelError(f"v_read must be non-zero with |v_read| <= 0.5 V, got {v_read}")
    g = read_current(state, v) / v
    if noise is None:
        return g
    if not isinstance(noise, ReadNoise):
        noise = ReadNoise(sigma_rel=real_scalar(noise, "noise", DeviceModelError))
    gen = as_rng(rng)
    factor = 1.0 + noise.sigma_rel * gen.standard_normal(g.shape)
    if noise.rtn_rel > 0 and noise.rtn_fraction > 0:
        trap = gen.random(g.shape) < noise.rtn_fraction
        level = np.where(gen.random(g.shape) < 0.5, -1.0, 1.0)
        factor = factor * (1.0 + noise.rtn_rel * level * trap)
    return np.maximum(g * factor, 0.0)


def relax(state: CellState, t: float, *, rng, sigma_gap: float = 0.01e-9,
          t_ref: float = 1.0) -> CellState:
    """Conductance relaxation after programming: a random walk of the gap in log-time.

    The gap of every cell moves by ``N(0, sigma_gap * sqrt(log10(1 + t / t_ref)))``, kept within the gap
    limits, i.e. the spread of ``log G`` grows like ``sqrt(log t)`` (a judgement in the spirit of the
    log-time relaxation reported for HfOx/TaOx cells; calibrate ``sigma_gap`` to data when available).

    Parameters
    ----------
    state : CellState
    t : float
        Time since programming, seconds (>= 0).
    rng : numpy.random.Generator or int
    sigma_gap : float
        Gap standard deviation per unit sqrt(decade), metres (>= 0).
    t_ref : float
        Reference time, seconds (> 0).
    """
    state = _check_state(state)
    t = real_scalar(t, "t", DeviceModelError, finite=False, unit="seconds")
    sigma_gap = real_scalar(sigma_gap, "sigma_gap", DeviceModelError, unit="metres")
    t_ref = real_scalar(t_ref, "t_ref", DeviceModelError, unit="seconds")
    if not np.isfinite(t) or t < 0 or sigma_gap < 0 or t_ref <= 0:
        raise DeviceModelError(
            f"relax needs t >= 0, sigma_gap >= 0, t_ref > 0; got {t}, {sigma_gap}, {t_ref}")
    gen = as_rng(rng)
    sigma = sigma_gap * np.sqrt(np.log10(1.0 + t / t_ref))
    p = state.params
    gap = np.clip(state.gap + sigma * gen.standard_normal(state.shape), p.gap_min, p.gap_max)
    return state.with_gap(gap)


def tile_cells(state: CellState) -> tuple[np.ndarray, np.ndarray]:
    """Slope conductance and ``v0`` of each cell for a non-linear :class:`~rramsim.crossbar.Crossbar`.

    Returns ``(g_slope, v0)`` with ``g_slope = I0 exp(-g / g0) / V0`` (siemens, the slope at 0 V) and
    ``v0 = V0`` (volts), so that ``Crossbar(conductance=g_slope, sinh_v0=v0)`` has cells
    ``I = g_slope v0 sinh(V / v0)``, exactly :func:`read_current`.
    """
    state = _check_state(state)
    p = state.params
    g_slope = state.i0 * np.exp(-state.gap / p.g0) / p.v0
    return g_slope, np.full(state.shape, p.v0)
