"""Compact stochastic filament-gap RRAM model (Stanford-PKU style) for whole arrays.

The model (:mod:`~rramsim.devmodel.physics`): read current ``I = I0 exp(-g/g0) sinh(V/V0)``; gap
motion by field- and temperature-activated hopping with Joule heating ``T = T0 + |I V| Rth``; a
stochastic gap fluctuation (cycle-to-cycle) and per-device parameters (device-to-device). The same
equations run vectorised in NumPy here and as an ngspice subcircuit (:mod:`rramsim.netlists.device`).

Typical use::

    from rramsim import devmodel
    res = devmodel.form((512, 512), rng=np.random.default_rng(0))   # random weights, siemens
    pruned = devmodel.reset(res.state, mask, rng=rng)                # cells land at 0.1-1 uS
    g_slope, v0 = devmodel.tile_cells(pruned.state)                  # Crossbar(g_slope, sinh_v0=v0)
"""

from rramsim.devmodel.costs import ProgrammingEnergy, programming_energy, programming_time
from rramsim.devmodel.faults import FAULT_FRACTIONS, StuckCells, stuck_cells
from rramsim.devmodel.incremental import (
    IncrementalResult,
    StepPulses,
    absolute_tolerance,
    write_verify_incremental,
)
from rramsim.devmodel.integrate import Trajectory, integrate_waveform, rectangular_pulse
from rramsim.devmodel.params import TAOX_40NM, FilamentParams
from rramsim.devmodel.program import (
    N_GRID,
    WriteVerifyResult,
    apply_pulse,
    form,
    pristine,
    reset,
    set_cells,
    write_verify,
)
from rramsim.devmodel.programming_error import (
    ERROR_MODELS,
    TIMES,
    CmoHfOxError,
    FilamentError,
    NeuRRAMError,
    Programmed,
    error_model,
    parse_time,
    parse_times,
)
from rramsim.devmodel.read import (
    ReadNoise,
    read_conductance,
    read_current,
    relax,
    tile_cells,
)
from rramsim.devmodel.state import CellState, ProgramCost, ProgramResult

#: ``devmodel.set`` is :func:`set_cells` (the name shadows the builtin only inside this namespace).
set = set_cells  # noqa: A001

__all__ = [
    "FilamentParams",
    "TAOX_40NM",
    "CellState",
    "ProgramCost",
    "ProgramResult",
    "WriteVerifyResult",
    "ReadNoise",
    "Trajectory",
    "N_GRID",
    "pristine",
    "form",
    "reset",
    "set",
    "set_cells",
    "apply_pulse",
    "write_verify",
    "read_current",
    "read_conductance",
    "relax",
    "tile_cells",
    "integrate_waveform",
    "rectangular_pulse",
    "write_verify_incremental",
    "StepPulses",
    "IncrementalResult",
    "absolute_tolerance",
    "ERROR_MODELS",
    "TIMES",
    "NeuRRAMError",
    "CmoHfOxError",
    "FilamentError",
    "Programmed",
    "error_model",
    "parse_time",
    "parse_times",
    "FAULT_FRACTIONS",
    "StuckCells",
    "stuck_cells",
    "ProgrammingEnergy",
    "programming_energy",
    "programming_time",
]
