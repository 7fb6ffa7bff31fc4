"""Cell state and programming results of the filament model (frozen value types)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim._validate import real_array
from rramsim.devmodel.params import FilamentParams
from rramsim.errors import DeviceModelError


def _frozen(name: str, value, shape=None, *, positive: bool = False) -> np.ndarray:
    arr = np.array(real_array(value, name, DeviceModelError))  # a copy: never the caller's
    if shape is not None and arr.shape != shape:
        raise DeviceModelError(f"{name} must have shape {shape}, got {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DeviceModelError(f"{name}{list(idx)} is not finite ({arr[idx]})")
    if positive and (arr <= 0).any():
        idx = tuple(int(i) for i in np.argwhere(arr <= 0)[0])
        raise DeviceModelError(f"{name} must be positive; {name}{list(idx)} = {arr[idx]}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class CellState:
    """The state of an array of model cells, with each device's own parameters.

    Attributes
    ----------
    gap : ndarray
        Filament gap per cell, metres, within ``[params.gap_min, params.gap_max]``.
    i0 : ndarray
        Per-device current prefactor I0, amperes (device-to-device spread of ``params.i0``).
    ea : ndarray
        Per-device activation energy Ea, eV (device-to-device spread of ``params.ea``).
    params : FilamentParams
        The shared constants.
    icc_scale : ndarray, optional
        Per-device factor on any compliance current applied to the cell (its access transistor's
        spread, dimensionless, > 0); None means 1 for every cell.
    """

    gap: np.ndarray
    i0: np.ndarray
    ea: np.ndarray
    params: FilamentParams
    icc_scale: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.params, FilamentParams):
            raise DeviceModelError(
                f"CellState.params must be a FilamentParams, got {type(self.params).__name__}")
        gap = _frozen("CellState.gap", self.gap)
        object.__setattr__(self, "gap", gap)
        object.__setattr__(self, "i0", _frozen("CellState.i0", self.i0, gap.shape, positive=True))
        object.__setattr__(self, "ea", _frozen("CellState.ea", self.ea, gap.shape, positive=True))
        scale = np.ones(gap.shape) if self.icc_scale is None else self.icc_scale
        object.__setattr__(self, "icc_scale",
                           _frozen("CellState.icc_scale", scale, gap.shape, positive=True))
        p = self.params
        tol = 1e-6 * p.gap_min
        out = (gap < p.gap_min - tol) | (gap > p.gap_max + tol)
        if out.any():
            idx = tuple(int(i) for i in np.argwhere(out)[0])
            raise DeviceModelError(
                f"CellState.gap{list(idx)} = {gap[idx]} m is outside [gap_min, gap_max] = "
                f"[{p.gap_min}, {p.gap_max}] m")

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the cell array."""
        return self.gap.shape

    def with_gap(self, gap: np.ndarray) -> CellState:
        """A copy with a new gap array (same devices)."""
        return CellState(gap=gap, i0=self.i0, ea=self.ea, params=self.params,
                         icc_scale=self.icc_scale)


@dataclass(frozen=True, eq=False)
class ProgramCost:
    """What a programming operation cost, per cell.

    Attributes
    ----------
    pulses : ndarray of int
        Programming pulses applied to each cell.
    energy : ndarray
        Energy drawn from the programming driver, ``sum over pulses of integral |V_a I| dt``, joules
        (``V_a`` the applied pulse voltage, so the drop across the compliance transistor is included).
    reads : ndarray of int
        Verify reads made on each cell (0 for open-loop operations).
    """

    pulses: np.ndarray
    energy: np.ndarray
    reads: np.ndarray | None = None

    def __post_init__(self) -> None:
        pulses = np.array(self.pulses, dtype=np.int64)
        pulses.setflags(write=False)
        object.__setattr__(self, "pulses", pulses)
        energy = _frozen("ProgramCost.energy", self.energy, pulses.shape)
        if (energy < 0).any():
            raise DeviceModelError("ProgramCost.energy must be non-negative")
        object.__setattr__(self, "energy", energy)
        reads = np.zeros(pulses.shape, np.int64) if self.reads is None else np.array(
            self.reads, dtype=np.int64)
        reads.setflags(write=False)
        object.__setattr__(self, "reads", reads)

    @property
    def total_energy(self) -> float:
        """Energy summed over all cells, joules."""
        return float(self.energy.sum())

    @property
    def total_pulses(self) -> int:
        """Pulses summed over all cells."""
        return int(self.pulses.sum())


@dataclass(frozen=True, eq=False)
class ProgramResult:
    """The outcome of a programming operation.

    Attributes
    ----------
    state : CellState
        The new state of every cell (cells outside the operation's mask unchanged).
    conductance : ndarray
        Noiseless conductance ``I(v_read) / v_read`` of every cell after the operation, siemens.
    cost : ProgramCost
        Pulses and energy per cell.
    formed : ndarray of bool
        Cells whose conductance is at least ``params.formed_threshold``.
    """

    state: CellState
    conductance: np.ndarray
    cost: ProgramCost
    formed: np.ndarray
