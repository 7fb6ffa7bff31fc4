"""Programming cost of an array: energy including the verify reads, and time.

Both take the per-cell :class:`~rramsim.devmodel.ProgramCost` a programming call returns (pulses,
pulse energy, verify reads). Assumptions, stated once:

* A verify read of a cell costs ``v_read^2 G t_read`` in the cell (``G`` its final conductance: the
  verify reads happen near the target) plus ``read_periphery_energy`` for its sense circuit
  (default 0: the cell only).
* Programming pulses and reads of one row run in parallel across its columns; rows run one after
  the other (a 1T1R array selects one word line at a time). A row's round lasts one pulse width and
  one read time; a row takes as many rounds as its busiest cell. SET and RESET pulses of the same
  round share one slot (source lines along the bit lines, so each column is biased on its own; a
  judgement: the macro's layout is not published). ``parallel="cell"`` programs one cell at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim._validate import real_array, real_scalar
from rramsim.devmodel.state import ProgramCost
from rramsim.errors import DeviceModelError


@dataclass(frozen=True)
class ProgrammingEnergy:
    """Energy of programming one array, joules: the pulses, the verify reads and their sum."""

    pulses: float
    reads: float

    @property
    def total(self) -> float:
        return self.pulses + self.reads


def _cost(cost) -> ProgramCost:
    if not isinstance(cost, ProgramCost):
        raise DeviceModelError(f"cost must be a ProgramCost, got {type(cost).__name__}")
    return cost


def _positive(value, name: str, unit: str, *, zero_ok: bool = False) -> float:
    v = real_scalar(value, name, DeviceModelError, unit=unit)
    if v < 0 or (v == 0 and not zero_ok):
        raise DeviceModelError(f"{name} must be {'>= 0' if zero_ok else '> 0'} {unit}, got {v}")
    return v


def programming_energy(cost: ProgramCost, conductance, *, v_read: float = 0.1,
                       t_read: float = 10e-9, read_periphery_energy: float = 0.0
                       ) -> ProgrammingEnergy:
    """Energy of programming an array, its verify reads included.

    Parameters
    ----------
    cost : ProgramCost
        Per-cell pulses, pulse energy (J) and verify reads.
    conductance : array_like
        Final conductance of every cell, siemens (>= 0), the shape of ``cost``.
    v_read : float
        Read voltage, volts (> 0).
    t_read : float
        Duration of one verify read, seconds (> 0).
    read_periphery_energy : float
        Energy of the sense circuit per cell read, joules (>= 0).

    Returns
    -------
    ProgrammingEnergy
        ``pulses = sum(cost.energy)``, ``reads = sum(reads (v_read^2 G t_read + periphery))``.
    """
    cost = _cost(cost)
    g = real_array(conductance, "conductance", DeviceModelError)
    if g.shape != cost.pulses.shape:
        raise DeviceModelError(f"conductance has shape {g.shape}, the cost {cost.pulses.shape}")
    if not np.isfinite(g).all() or (g < 0).any():
        raise DeviceModelError("conductance must be finite and >= 0 siemens")
    v = _positive(v_read, "v_read", "volts")
    t = _positive(t_read, "t_read", "seconds")
    e_per = _positive(read_periphery_energy, "read_periphery_energy", "joules", zero_ok=True)
    reads = np.zeros(g.shape) if cost.reads is None else cost.reads
    read_energy = float(np.sum(reads * (v * v * g * t + e_per)))
    return ProgrammingEnergy(pulses=float(np.sum(cost.energy)), reads=read_energy)


def programming_time(cost: ProgramCost, *, pulse_width: float, t_read: float = 10e-9,
                     parallel: str = "row") -> float:
    """Wall-clock time of programming an array, seconds.

    Parameters
    ----------
    cost : ProgramCost
        Per-cell pulses and verify reads; a 2-D array (rows, columns) for ``parallel="row"``.
    pulse_width : float
        Width of every programming pulse, seconds (> 0).
    t_read : float
        Duration of one verify read, seconds (> 0).
    parallel : str
        ``"row"``: the cells of a row in parallel, rows in sequence:
        ``sum over rows (max pulses in the row * pulse_width + max reads in the row * t_read)``.
        ``"cell"``: one cell at a time: ``sum(pulses) * pulse_width + sum(reads) * t_read``.
    """
    cost = _cost(cost)
    w = _positive(pulse_width, "pulse_width", "seconds")
    t = _positive(t_read, "t_read", "seconds")
    pulses = cost.pulses
    reads = np.zeros(pulses.shape, np.int64) if cost.reads is None else cost.reads
    if parallel == "cell":
        return float(np.sum(pulses) * w + np.sum(reads) * t)
    if parallel != "row":
        raise DeviceModelError(f"parallel must be 'row' or 'cell', got {parallel!r}")
    if pulses.ndim != 2:
        raise DeviceModelError(f"parallel='row' needs a 2-D cost (rows, columns), got shape "
                               f"{pulses.shape}")
    if pulses.size == 0:
        return 0.0
    return float(np.sum(pulses.max(axis=1)) * w + np.sum(reads.max(axis=1)) * t)
