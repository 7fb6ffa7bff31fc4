"""Time-stepping integration of the filament model under an arbitrary piecewise-linear voltage.

This is the reference the fast gap-space pulse solver (:mod:`rramsim.devmodel.program`) and the ngspice
subcircuit (:mod:`rramsim.netlists.device`) are checked against. It is deterministic (the stochastic
term is off) and meant for single cells or small arrays.

Time discretisation: Heun's method (explicit trapezoidal rule, second order) with a step
``dt = min(dt_max, 2 dt_previous, dg_max / max |dg/dt|, time to the next waveform corner)``, halved
while the predicted end-of-step velocity would move the gap by more than ``2 dg_max`` (voltage ramps):
the gap moves by about ``dg_max`` per step at most, which resolves the picosecond collapse of a
forming cell as well as the slow creep under compliance, and steps land on every corner of the
waveform. The ngspice decks of :mod:`rramsim.netlists.device` use the same corners as breakpoints and
the same ``dt_max`` as their maximum step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim._validate import real_array, real_scalar
from rramsim.devmodel.physics import gap_velocity
from rramsim.devmodel.state import CellState
from rramsim.errors import DeviceModelError


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Result of :func:`integrate_waveform`.

    Attributes
    ----------
    state : CellState
        State at the end of the waveform.
    energy : ndarray
        ``integral |V_a I| dt`` per cell, joules.
    time : ndarray (S,) or None
        Time points, seconds (when recorded).
    gap : ndarray (S, ...) or None
        Gap per cell at each time point, metres.
    current : ndarray (S, ...) or None
        Current per cell, amperes.
    """

    state: CellState
    energy: np.ndarray
    time: np.ndarray | None = None
    gap: np.ndarray | None = None
    current: np.ndarray | None = None


def _checked_waveform(times, volts) -> tuple[np.ndarray, np.ndarray]:
    """The corners ``(times, volts)`` as 1-D float arrays: same length >= 2, finite, times
    strictly increasing."""
    t_pts = real_array(times, "times", DeviceModelError)
    v_pts = real_array(volts, "volts", DeviceModelError)
    if t_pts.ndim != 1 or t_pts.shape != v_pts.shape or t_pts.size < 2:
        raise DeviceModelError("times and volts must be 1-D arrays of the same length >= 2")
    if not (np.isfinite(t_pts).all() and np.isfinite(v_pts).all()) or np.any(np.diff(t_pts) <= 0):
        raise DeviceModelError("waveform times must be finite and strictly increasing")
    return t_pts, v_pts


def _max_abs(d: np.ndarray) -> float:
    return float(np.max(np.abs(d))) if d.size else 0.0


def _limited_step(vel, gap, d1, span: tuple[float, float], dt: float, dg_max: float,
                  p) -> tuple[float, float, np.ndarray]:
    """Halve the trial step ``dt`` from ``span[0]`` (ending on the corner ``span[1]`` when it
    gets there) until the predicted end-of-step velocity also moves the gap by at most
    ``2 dg_max``; returns the end time, the step and that velocity."""
    t, t_corner = span
    while True:
        t2 = t_corner if t + dt >= t_corner * (1 - 1e-15) else t + dt
        dt = t2 - t
        g_pred = np.clip(gap + dt * d1, p.gap_min, p.gap_max)
        d2, _, _ = vel(g_pred, t2)
        if _max_abs(d2) * dt <= 2.0 * dg_max or dt <= 1e-18:
            return t2, dt, d2
        dt = 0.5 * dt


def integrate_waveform(state: CellState, times, volts, *, compliance=None, dt_max: float = 1e-9,
                       dg_max: float = 2e-13, record: bool = False,
                       max_steps: int = 2_000_000) -> Trajectory:
    """Integrate the gap of every cell under the piecewise-linear waveform ``(times, volts)``.

    Parameters
    ----------
    state : CellState
    times : array (P,)
        Corner times, seconds, strictly increasing.
    volts : array (P,)
        Applied voltage at each corner, volts (the same on every cell).
    compliance : float, optional
        Ideal current limit, amperes, scaled per cell by ``state.icc_scale``; None for none.
    dt_max : float
        Largest time step, seconds.
    dg_max : float
        Largest gap change per step, metres.
    record : bool
        Keep the time, gap and current at every step.
    max_steps : int
        Safety limit.

    Raises
    ------
    DeviceModelError
        Bad waveform, or more than ``max_steps`` steps.
    """
    t_pts, v_pts = _checked_waveform(times, volts)
    if dt_max <= 0 or dg_max <= 0:
        raise DeviceModelError("dt_max and dg_max must be positive")
    p = state.params
    icc = (np.inf if compliance is None else
           real_scalar(compliance, "compliance", DeviceModelError) * state.icc_scale)
    gap = state.gap.astype(float).copy()
    i0, ea = state.i0, state.ea
    energy = np.zeros(state.shape)
    t = t_pts[0]
    rec_t, rec_g, rec_i = [], [], []

    def vel(g, tt):
        va = float(np.interp(tt, t_pts, v_pts))
        d, cur, _ = gap_velocity(g, va, i0, ea, icc, p)
        return d, cur, va

    d1, c1, va1 = vel(gap, t)
    if record:
        rec_t.append(t), rec_g.append(gap.copy()), rec_i.append(c1.copy())
    steps = 0
    dt_prev = dt_max
    for t_next_corner in t_pts[1:]:
        while t < t_next_corner:
            vmax = _max_abs(d1)
            dt = min(dt_max, 2.0 * dt_prev, t_next_corner - t)
            if vmax > 0:
                dt = min(dt, dg_max / vmax)
            t2, dt, d2 = _limited_step(vel, gap, d1, (t, t_next_corner), dt, dg_max, p)
            dt_prev = dt
            gap = np.clip(gap + 0.5 * dt * (d1 + d2), p.gap_min, p.gap_max)
            d3, c3, va3 = vel(gap, t2)
            energy += 0.5 * dt * (abs(va1) * np.abs(c1) + abs(va3) * np.abs(c3))
            d1, c1, va1 = d3, c3, va3
            t = t2
            steps += 1
            if record:
                rec_t.append(t), rec_g.append(gap.copy()), rec_i.append(c1.copy())
            if steps > max_steps:
                raise DeviceModelError(f"integrate_waveform: more than {max_steps} steps")
    out = state.with_gap(gap)
    if record:
        return Trajectory(out, energy, np.array(rec_t), np.array(rec_g), np.array(rec_i))
    return Trajectory(out, energy)


def rectangular_pulse(amplitude: float, width: float, *, edge: float = 1e-9,
                      delay: float = 1e-9, tail: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Corners of a trapezoidal pulse: 0 V for ``delay``, ramp ``edge``, hold, ramp down, ``tail``.

    The hold lasts ``width - edge`` so that the pulse's full width at half maximum is ``width``.
    Returns ``(times, volts)`` in seconds and volts.
    """
    if width <= edge or edge <= 0 or delay < 0 or tail < 0:
        raise DeviceModelError(f"need width > edge > 0, delay >= 0, tail >= 0; got {width}, {edge}")
    t = np.array([0.0, delay, delay + edge, delay + width, delay + width + edge,
                  delay + width + edge + tail])
    v = np.array([0.0, 0.0, amplitude, amplitude, 0.0, 0.0])
    if delay == 0:
        t, v = t[1:], v[1:]
    if tail == 0:
        t, v = t[:-1], v[:-1]
    return t, v
