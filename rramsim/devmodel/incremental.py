"""Incremental write-and-verify: small SET and RESET steps, never a full RESET on an overshoot.

:func:`rramsim.devmodel.write_verify` answers a cell above its target with a full RESET (the cell
drops to 0.1-1 uS and must climb back). :func:`write_verify_incremental` programs the way
incremental-step pulse programming (ISPP) does: a cell below its band gets a SET pulse, a cell above
it a *partial* RESET pulse, each short and just above the cell's switching threshold. Consecutive
pulses in one direction raise that direction's amplitude by ``amplitude_step``; a change of direction
(the cell crossed its band) goes back one step from the amplitude that last moved it in the new
direction. Every pulse therefore moves a cell by a small step, and a cell that crosses its band
overshoots by at most the step of the pulse that carried it across.

The tolerance is absolute (siemens) or a fraction of ``g_max``, not relative to the target: a cell
aimed at the low end of the range is held to the same band as one at the top, as a macro's verify
comparator does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim._validate import integer, real_array, real_scalar
from rramsim.devmodel.params import TAOX_40NM, FilamentParams
from rramsim.devmodel.program import N_GRID, WriteVerifyResult, apply_pulse, state_for
from rramsim.devmodel.read import ReadNoise, as_rng, read_conductance
from rramsim.devmodel.state import CellState, ProgramCost
from rramsim.errors import DeviceModelError


@dataclass(frozen=True)
class StepPulses:
    """The pulse ladders of :func:`write_verify_incremental` (volts, seconds, amperes).

    SET pulses have the fixed amplitude ``set_amplitude``; their step is set by the compliance,
    which starts at ``compliance_start`` times the compliance that the preset's compliance law gives
    for the target (``set_compliance (target / 14.2 uS)^(1/1.2)``) and is multiplied by
    ``compliance_ratio`` on every consecutive SET (a gate-voltage ladder of a 1T1R cell). RESET pulses
    (no compliance) climb in magnitude from ``reset_start`` to ``reset_max`` by ``reset_step`` per
    consecutive RESET. Every pulse is ``width`` long. A change of direction (the cell crossed its
    band) goes back one step from the compliance or amplitude that last moved the cell that way.
    The defaults are for :data:`~rramsim.devmodel.TAOX_40NM`: its formed cells start to RESET at
    about 1.45 V for 100 ns pulses (measured with :func:`~rramsim.devmodel.apply_pulse`); a
    judgement, not a published scheme.
    """

    set_amplitude: float = 2.4
    compliance_start: float = 0.6
    compliance_ratio: float = 1.05
    reset_start: float = 1.3
    reset_max: float = 2.1
    reset_step: float = 0.01
    width: float = 100e-9

    def __post_init__(self) -> None:
        for name in ("set_amplitude", "compliance_start", "compliance_ratio", "reset_start",
                     "reset_max", "reset_step", "width"):
            v = real_scalar(getattr(self, name), f"StepPulses.{name}", DeviceModelError)
            if v <= 0:
                raise DeviceModelError(f"StepPulses.{name} must be > 0, got {v}")
            object.__setattr__(self, name, v)
        if self.compliance_ratio <= 1:
            raise DeviceModelError(
                f"StepPulses.compliance_ratio must be > 1, got {self.compliance_ratio}")
        if self.reset_start > self.reset_max:
            raise DeviceModelError("StepPulses needs reset_start <= reset_max, got "
                                   f"{self.reset_start} > {self.reset_max} V")


@dataclass(frozen=True, eq=False)
class IncrementalResult(WriteVerifyResult):
    """:class:`~rramsim.devmodel.WriteVerifyResult` of :func:`write_verify_incremental`.

    Attributes
    ----------
    tolerance : float
        The absolute tolerance used, siemens.
    history : ndarray or None
        With ``record=True``: the noiseless conductance of every cell before each round and at the
        end, shape ``(rounds + 1, *shape)``, siemens.
    """

    tolerance: float = 0.0
    history: np.ndarray | None = None


def absolute_tolerance(tolerance=None, *, tolerance_frac=None, g_max=None) -> float:
    """The verify band in siemens, from ``tolerance`` (siemens) or ``tolerance_frac * g_max``.

    Exactly one of ``tolerance`` and ``tolerance_frac`` is given; ``g_max`` (siemens, > 0) goes with
    ``tolerance_frac`` (0 < tolerance_frac < 1).
    """
    if (tolerance is None) == (tolerance_frac is None):
        raise DeviceModelError("give exactly one of tolerance (siemens) and tolerance_frac "
                               f"(fraction of g_max), got {tolerance!r} and {tolerance_frac!r}")
    if tolerance is not None:
        tol = real_scalar(tolerance, "tolerance", DeviceModelError, unit="siemens")
        if tol <= 0:
            raise DeviceModelError(f"tolerance must be > 0 siemens, got {tol}")
        return tol
    frac = real_scalar(tolerance_frac, "tolerance_frac", DeviceModelError)
    if not 0 < frac < 1:
        raise DeviceModelError(f"tolerance_frac must be in (0, 1), got {frac}")
    if g_max is None:
        raise DeviceModelError("tolerance_frac needs g_max (siemens)")
    gm = real_scalar(g_max, "g_max", DeviceModelError, unit="siemens")
    if gm <= 0:
        raise DeviceModelError(f"g_max must be > 0 siemens, got {gm}")
    return frac * gm


def _targets_and_state(target_g, state, params, gen):
    target = np.array(real_array(target_g, "target_g", DeviceModelError))
    if not np.isfinite(target).all() or (target <= 0).any():
        raise DeviceModelError("target_g must be finite and > 0 siemens")
    return target, state_for(target, state, params, gen)


def _ladder(level, direction, last_dir, start, up, top, *, factor: bool):
    """Per cell, this round's rung of one ladder: one rung up on a repeat, one rung down (not
    below ``start``) from the rung that last moved the cell this way on a change of direction.
    ``factor`` ladders multiply by ``up``, the others add it."""
    higher = level * up if factor else level + up
    lower = level / up if factor else level - up
    level = np.where(direction & last_dir, np.minimum(higher, top), level)
    return np.where(direction & ~last_dir, np.clip(lower, start, top), level)


# one program-and-verify algorithm; its options are keyword-only, with defaults, documented below
def write_verify_incremental(  # noqa: PLR0913, PLR0915
    target_g, *, rng, tolerance=None, tolerance_frac=None, g_max=None,
    params: FilamentParams = TAOX_40NM, state: CellState | None = None, max_pulses: int = 100,
    read_noise: ReadNoise | float | None = 0.01, pulses: StepPulses | None = None,
    record: bool = False, n_grid: int = N_GRID,
) -> IncrementalResult:
    """Program every cell to a target conductance by incremental SET/RESET steps and verify reads.

    Each round reads every unfinished cell (with read noise). A cell within the band
    ``|G_read - target| <= tolerance`` is finished. A cell below the band gets a SET pulse, a cell
    above it a partial RESET pulse, from the ladders of ``pulses`` (see the module docstring).

    Parameters
    ----------
    target_g : array_like
        Target conductances at ``params.v_read``, siemens (> 0); about 1-60 uS are reachable with
        the preset.
    rng : numpy.random.Generator or int
    tolerance : float, optional
        Half-width of the verify band, siemens (> 0).
    tolerance_frac, g_max : float, optional
        Instead of ``tolerance``: the band as a fraction of ``g_max`` (siemens).
    params : FilamentParams
        Used when ``state`` is None (fresh cells are electroformed first; that cost is not counted).
    state : CellState, optional
        Cells to program, same shape as ``target_g``.
    max_pulses : int
        Programming pulses allowed per cell (>= 0).
    read_noise : ReadNoise or float or None
        Noise of the verify reads (a float is a relative sigma).
    pulses : StepPulses, optional
        The pulse ladders; default ``StepPulses()``.
    record : bool
        Keep the noiseless conductance of every cell at every round (``history``; small arrays).

    Returns
    -------
    IncrementalResult
        New state, noiseless conductance, cost (pulses, pulse energy, verify reads), ``converged``
        (the last verify read was in the band), ``tolerance`` (siemens) and ``history``.
    """
    tol = absolute_tolerance(tolerance, tolerance_frac=tolerance_frac, g_max=g_max)
    max_pulses = integer(max_pulses, "max_pulses", DeviceModelError, minimum=0)
    lad = StepPulses() if pulses is None else pulses
    if not isinstance(lad, StepPulses):
        raise DeviceModelError(f"pulses must be a StepPulses, got {type(lad).__name__}")
    gen = as_rng(rng)
    target, state = _targets_and_state(target_g, state, params, gen)
    p = state.params
    icc_law = p.set_compliance * (target / 14.2e-6) ** (1 / 1.2)
    shape = target.shape
    n_pulses = np.zeros(shape, np.int64)
    reads = np.zeros(shape, np.int64)
    energy = np.zeros(shape)
    converged = np.zeros(shape, bool)
    active = np.ones(shape, bool)
    icc = icc_law * lad.compliance_start
    v_reset = np.full(shape, lad.reset_start)
    last_set = np.zeros(shape, bool)
    last_reset = np.zeros(shape, bool)
    history = [read_conductance(state)] if record else None
    for _ in range(int(max_pulses) + 1):
        g_read = read_conductance(state, rng=gen, noise=read_noise) if read_noise is not None \
            else read_conductance(state)
        reads += active
        ok = active & (np.abs(g_read - target) <= tol)
        converged |= ok
        active &= ~ok & (n_pulses < int(max_pulses))
        if not active.any():
            break
        high = active & (g_read > target)
        low = active & ~high
        icc = _ladder(icc, low, last_set, icc_law * lad.compliance_start, lad.compliance_ratio,
                      icc_law * 4.0, factor=True)
        v_reset = _ladder(v_reset, high, last_reset, lad.reset_start, lad.reset_step,
                          lad.reset_max, factor=False)
        last_set = np.where(active, low, last_set)
        last_reset = np.where(active, high, last_reset)
        amp = np.where(low, lad.set_amplitude, np.where(high, -v_reset, 0.0))
        state, e = apply_pulse(state, amp, lad.width, rng=gen, compliance=np.where(low, icc, np.inf),
                               mask=active, n_grid=n_grid)
        energy += e
        n_pulses += active
        if record:
            history.append(read_conductance(state))
    g = read_conductance(state)
    return IncrementalResult(
        state=state, conductance=g, cost=ProgramCost(pulses=n_pulses, energy=energy, reads=reads),
        formed=g >= p.formed_threshold, converged=converged, tolerance=tol,
        history=np.stack(history) if record else None)
