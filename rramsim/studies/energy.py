"""Energy bookkeeping: array energy from solved tiles, converters, a GPU baseline, programming.

Array energy
------------
The sources deliver ``P_src = sum_i V_i * i_in[i]`` (per input vector; ``i_in`` from the
:class:`~rramsim.solution.Solution`, both ends summed for ``drive="both"``). By Tellegen's theorem
this equals the power dissipated in the circuit's resistive branches, which
:func:`array_power` splits from the node voltages into

* ``cells``: ``sum G (V_wl - V_bl)^2`` for linear cells, ``sum I(V) V`` for sinh cells
  (``I = G v0 sinh(V / v0)``), the cell part only when an access transistor sits in series;
* ``access``: ``I^2 r_access`` in the 1T1R access transistors;
* ``driver``: ``I^2 r_driver`` in the row drivers' output resistance;
* ``wordline`` and ``bitline``: ``(dV)^2 / r`` in every wire segment;
* ``sense``: ``i_out * v_sense`` delivered into the sense node (0 for an ideal TIA, ``i^2 R`` for a
  sense resistor, ``i^2 R_f / (1 + A)`` at a finite-gain TIA's input).

Energy per read is power times the read time ``t_read_s`` (DC read; the transient charging of the
line capacitance is not included). For many inputs on a linear tile, the power is the quadratic
form ``P = v^T Y v`` of the tile's input admittance matrix ``Y`` (:func:`input_admittance`), so
energy over a whole test set costs one matrix product.

Converters and the GPU baseline
-------------------------------
:class:`ConverterFigures` holds energy per conversion of the DACs, ADCs and TIAs with their sources:
:data:`BOARD` is the study's own board (DAC80508, ADS8324, OPA4322, datasheet power and rates),
:data:`INTEGRATED` a projection with published integrated converters. :class:`GPUBaseline` gives
the energy of the same network's multiply-accumulates on a GPU from a cited energy per MAC.
The study reports 82.1 %, 51.2 % and 99.8 % energy-efficiency improvement over its GPU baseline
(Fashion-MNIST, spoken digits, DRIVE) [1]_; :data:`STUDY_IMPROVEMENT` holds these for reports.

References
----------
.. [1] Y. Li et al., "Pruning random resistive memory for optimizing analogue AI",
   arXiv:2311.07164 (2023); Nature Communications (2026).
.. [2] Texas Instruments, DACx0508 data sheet, SLASEL1D (2018): "Low power: 0.6 mA/channel at
   5.5 V".
.. [3] Texas Instruments, ADS8324 data sheet, SBAS172A (2004): 14 bit, 50 kHz sampling,
   "micro power: 2.5 mW at 1.8 V" (at 50 kHz).
.. [4] Texas Instruments, OPAx322 data sheet, SBOS538 (2011-2016): "Supply current: 1.5 mA/ch",
   supply 1.8-5.5 V, 20 MHz gain-bandwidth.
.. [5] L. Kull et al., "A 3.1 mW 8b 1.2 GS/s single-channel asynchronous SAR ADC with alternate
   comparators for enhanced speed in 32 nm digital SOI CMOS", ISSCC 2013 / IEEE JSSC 48(12), 2013.
.. [6] A. Shafiee et al., "ISAAC: a convolutional neural network accelerator with in-situ analog
   arithmetic in crossbars", ISCA 2016, Table of IMA parameters (1-bit DACs: 4 mW for 8 x 128,
   100 ns crossbar read cycle).
.. [7] NVIDIA, Tesla V100 GPU data sheet (2017): 15.7 TFLOPS single precision, 300 W (SXM2).
.. [8] M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014:
   45 nm, 32-bit float multiply 3.7 pJ, add 0.9 pJ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rramsim.errors import RramsimError

STUDY_IMPROVEMENT: dict[str, float] = {
    "Fashion-MNIST": 0.821,
    "spoken digits": 0.512,
    "DRIVE": 0.998,
}
"""Energy-efficiency improvement over the GPU reported by the study (fraction), arXiv 2311.07164."""


class EnergyError(RramsimError, ValueError):
    """Inconsistent inputs to the energy bookkeeping (shapes, non-positive times or figures)."""


def _positive(name: str, value) -> float:
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise EnergyError(f"{name} must be finite and > 0, got {v}")
    return v


def _nonneg(name: str, value) -> float:
    v = float(value)
    if not np.isfinite(v) or v < 0:
        raise EnergyError(f"{name} must be finite and >= 0, got {v}")
    return v


# ---------------------------------------------------------------------------------------------
# array power from a solved tile
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ArrayPower:
    """Power balance of a solved tile, watts, one value per input vector (shape (B,)).

    Attributes
    ----------
    source : ndarray
        Power delivered by the row sources, ``sum_i V_i i_in[i]``.
    cells, access, driver, wordline, bitline, sense : ndarray
        Power dissipated in the cells, access transistors, driver resistances, word-line and
        bit-line segments, and delivered into the sense nodes.
    """

    source: np.ndarray
    cells: np.ndarray
    access: np.ndarray
    driver: np.ndarray
    wordline: np.ndarray
    bitline: np.ndarray
    sense: np.ndarray

    @property
    def wires(self) -> np.ndarray:
        """Word-line plus bit-line segment dissipation, watts."""
        return self.wordline + self.bitline

    @property
    def dissipated(self) -> np.ndarray:
        """Sum of all dissipation terms, watts (equals ``source`` by energy conservation)."""
        return self.cells + self.access + self.driver + self.wordline + self.bitline + self.sense

    def as_dict(self) -> dict[str, np.ndarray]:
        """The terms by name (``source``, ``cells``, ..., ``wires``), watts."""
        return {"source": self.source, "cells": self.cells, "access": self.access,
                "driver": self.driver, "wordline": self.wordline, "bitline": self.bitline,
                "sense": self.sense, "wires": self.wires}


def _seg_power(dv: np.ndarray, r: float) -> np.ndarray:
    """Sum over the trailing axes of dv^2 / r (0 for r == 0: the nodes are one node)."""
    if r == 0:
        return np.zeros(dv.shape[0])
    return np.sum(dv.reshape(dv.shape[0], -1) ** 2, axis=1) / r


def _sinh_cell_with_access(v: np.ndarray, g: np.ndarray, v0: np.ndarray,
                           ra: np.ndarray) -> np.ndarray:
    """Current through a sinh cell in series with ``ra`` under total voltage ``v`` (Newton).

    Solves ``G v0 sinh(u / v0) = (|v| - u) / ra`` for the cell voltage ``u`` in ``[0, |v|]``;
    the left side is increasing and convex in ``u``, so Newton from ``u = |v|`` decreases
    monotonically to the root.
    """
    a = np.abs(v)
    u = a.copy()
    for _ in range(100):
        f = g * v0 * np.sinh(u / v0) - (a - u) / ra
        df = g * np.cosh(u / v0) + 1.0 / ra
        step = f / df
        u = u - step
        if np.all(np.abs(step) <= 1e-15 * np.maximum(a, 1e-30)):
            break
    return np.sign(v) * (a - u) / ra


def array_power(xb, sol, v_in) -> ArrayPower:
    """Split the power the sources deliver into its dissipation in the tile's branches.

    Parameters
    ----------
    xb : rramsim.crossbar.Crossbar
        The tile that was solved.
    sol : rramsim.solution.Solution
        Its solution for ``v_in`` (fast solver or ngspice).
    v_in : array_like, (M,) or (B, M)
        The source voltages, volts.

    Returns
    -------
    ArrayPower
        Terms of shape (B,) (B = 1 for a single input).
    """
    from rramsim.crossbar import FiniteGainTIA, IdealTIA, SenseResistor

    v, _ = xb.check_input(v_in)
    b = v.shape[0]
    m, n = xb.shape
    vw = np.asarray(sol.v_wordline, dtype=float).reshape(b, m, n)
    vb = np.asarray(sol.v_bitline, dtype=float).reshape(b, m, n)
    vs = np.asarray(sol.v_sense, dtype=float).reshape(b, n)
    i_in = np.asarray(sol.i_in, dtype=float).reshape(b, m)
    i_out = np.asarray(sol.i_out, dtype=float).reshape(b, n)

    source = np.sum(v * i_in, axis=1)

    # cells (and access transistors)
    vc = vw - vb
    g = xb.conductance
    zeros = np.zeros(b)
    if xb.sinh_v0 is None:
        if xb.r_access is None:
            cells = np.sum(g * vc**2, axis=(1, 2))
            access = zeros
        else:
            i_cell = xb.effective_conductance() * vc
            with np.errstate(divide="ignore", invalid="ignore"):
                p_cell = np.where(g > 0, i_cell**2 / np.where(g > 0, g, 1.0), 0.0)
            cells = np.sum(p_cell, axis=(1, 2))
            access = np.sum(i_cell**2 * xb.r_access, axis=(1, 2))
    else:
        v0 = np.broadcast_to(xb.sinh_v0, g.shape)
        if xb.r_access is None:
            cells = np.sum(g * v0 * np.sinh(vc / v0) * vc, axis=(1, 2))
            access = zeros
        else:
            ra = np.broadcast_to(xb.r_access, g.shape)
            i_cell = _sinh_cell_with_access(vc, g, v0, ra)
            p_access = i_cell**2 * ra
            cells = np.sum(i_cell * vc, axis=(1, 2)) - np.sum(p_access, axis=(1, 2))
            access = np.sum(p_access, axis=(1, 2))

    # word lines: driver + first segment, then N-1 segments (and the far end for drive="both")
    rd, rw, rbl = xb.r_driver, xb.r_wordline, xb.r_bitline
    r_entry = rd + rw

    def entry(dv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if r_entry == 0:
            return zeros, zeros
        i = dv / r_entry
        return np.sum(i**2, axis=1) * rd, np.sum(i**2, axis=1) * rw

    d_left, w_left = entry(v - vw[:, :, 0])
    driver = d_left
    wordline = w_left + _seg_power(np.diff(vw, axis=2), rw)
    if xb.drive == "both":
        d_right, w_right = entry(v - vw[:, :, -1])
        driver = driver + d_right
        wordline = wordline + w_right

    # bit lines: M-1 segments between cells, one into the sense node
    bitline = _seg_power(np.diff(vb, axis=1), rbl) + _seg_power(vb[:, -1, :] - vs, rbl)

    if isinstance(xb.sense, IdealTIA):
        sense = zeros
    elif isinstance(xb.sense, (FiniteGainTIA, SenseResistor)):
        sense = np.sum(i_out * vs, axis=1)
    else:  # pragma: no cover - Crossbar validates its sense circuit
        raise EnergyError(f"unknown sense circuit {type(xb.sense).__name__}")
    return ArrayPower(source=source, cells=cells, access=access, driver=driver,
                      wordline=wordline, bitline=bitline, sense=sense)


def input_admittance(xb) -> np.ndarray:
    """The (M, M) input admittance matrix Y of a linear tile, siemens: ``i_in = Y v``.

    Computed by :func:`rramsim.solver.input_admittance` (for large grid tiles from the same
    multifrontal Schur complement as the transfer matrix; otherwise from one batched solve of the M
    unit inputs). Y is symmetric (reciprocity), so the source power is ``v^T Y v``.

    Raises
    ------
    EnergyError
        If the tile has non-linear cells (the power is then not a quadratic form).
    """
    from rramsim import solver

    if not xb.is_linear:
        raise EnergyError("input_admittance needs a linear tile (sinh_v0 is set)")
    return solver.input_admittance(xb)


def source_power(y: np.ndarray, v) -> np.ndarray:
    """Source power ``v^T Y v`` in watts for each row of ``v`` ((B, M) volts) given Y (M, M)."""
    v2 = np.atleast_2d(np.asarray(v, dtype=float))
    if y.shape != (v2.shape[1], v2.shape[1]):
        raise EnergyError(f"admittance shape {y.shape} does not fit inputs of width {v2.shape[1]}")
    return np.einsum("bi,ij,bj->b", v2, y, v2)


# ---------------------------------------------------------------------------------------------
# converters and TIAs
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConverterFigures:
    """Energy of the periphery per read of a tile, with sources.

    Attributes
    ----------
    name : str
        Preset name.
    t_read_s : float
        Duration of one read of a tile (the array's DC power flows this long), seconds.
    dac_energy_per_row_J : float
        Energy of one DAC channel driving one row for one read, joules.
    adc_energy_per_conversion_J : float
        Energy of one ADC conversion (one column, one read), joules.
    tia_energy_per_column_J : float
        Energy of one TIA holding one column at virtual ground for one read, joules.
    adc_bits : int
        Resolution the figures belong to.
    source : str
        Where the numbers come from.
    dac_per_bit : bool
        ``dac_energy_per_row_J`` is for a 1-bit driver: an n-bit input costs n times it.
    """

    name: str
    t_read_s: float
    dac_energy_per_row_J: float
    adc_energy_per_conversion_J: float
    tia_energy_per_column_J: float
    adc_bits: int
    source: str = ""
    dac_per_bit: bool = False

    def __post_init__(self) -> None:
        _positive("t_read_s", self.t_read_s)
        _nonneg("dac_energy_per_row_J", self.dac_energy_per_row_J)
        _nonneg("adc_energy_per_conversion_J", self.adc_energy_per_conversion_J)
        _nonneg("tia_energy_per_column_J", self.tia_energy_per_column_J)


# The study's board [2]-[4]: one ADS8324 conversion period (50 kS/s -> 20 us) is the read time;
# each DAC80508 channel (0.6 mA at 5.5 V = 3.3 mW) and each OPA4322 channel (1.5 mA at 1.8 V =
# 2.7 mW) is powered for that read; the ADC takes 2.5 mW at 1.8 V for 50 kS/s = 50 nJ/conversion.
_T_BOARD = 1.0 / 50e3
BOARD = ConverterFigures(
    name="board",
    t_read_s=_T_BOARD,
    dac_energy_per_row_J=0.6e-3 * 5.5 * _T_BOARD,
    adc_energy_per_conversion_J=2.5e-3 / 50e3,
    tia_energy_per_column_J=1.5e-3 * 1.8 * _T_BOARD,
    adc_bits=14,
    source="DAC80508 (TI SLASEL1D: 0.6 mA/ch at 5.5 V), ADS8324 (TI SBAS172A: 2.5 mW at 1.8 V, "
           "50 kS/s), OPA4322 (TI SBOS538: 1.5 mA/ch, 1.8 V supply); read time = one ADC period",
)

# Integrated projection: 8-bit 1.2 GS/s SAR ADC at 3.1 mW [5] -> 2.58 pJ per conversion; ISAAC's
# 1-bit DACs, 4 mW for 1024 over a 100 ns read [6] -> 0.39 pJ per row per read and input bit
# (an n-bit input costs n times it: a judgement, dac_per_bit=True); current-mode sensing inside
# the ADC (no separate TIA energy); read time 100 ns [6].
INTEGRATED = ConverterFigures(
    name="integrated",
    t_read_s=100e-9,
    dac_energy_per_row_J=4e-3 / 1024 * 100e-9,
    adc_energy_per_conversion_J=3.1e-3 / 1.2e9,
    tia_energy_per_column_J=0.0,
    adc_bits=8,
    source="ADC: Kull et al., ISSCC 2013 (8 b, 1.2 GS/s, 3.1 mW); DAC: ISAAC (Shafiee et al., "
           "ISCA 2016: 1-bit DACs, 4 mW per 1024, 100 ns read), times the input bits; TIA folded "
           "into the ADC (judgement)",
    dac_per_bit=True,
)

PRESETS: dict[str, ConverterFigures] = {"board": BOARD, "integrated": INTEGRATED}


@dataclass(frozen=True)
class GPUBaseline:
    """Energy of the network's multiply-accumulates on a GPU.

    Attributes
    ----------
    energy_per_mac_J : float
        Joules per multiply-accumulate. Default: NVIDIA V100 (SXM2) at its peak, 300 W for
        15.7 TFLOPS FP32 [7] -> 19.1 pJ/FLOP, 38.2 pJ/MAC (2 FLOP per MAC); an optimistic GPU
        (real utilisation is lower). Horowitz's 45 nm FP32 multiply + add, 4.6 pJ [8], is a
        compute-only lower bound.
    source : str
        Where the figure comes from.
    """

    energy_per_mac_J: float = 300.0 / 15.7e12 * 2
    source: str = "NVIDIA Tesla V100 SXM2 data sheet: 300 W, 15.7 TFLOPS FP32 (peak), 2 FLOP/MAC"

    def __post_init__(self) -> None:
        _positive("energy_per_mac_J", self.energy_per_mac_J)

    def energy(self, macs: float) -> float:
        """Joules for ``macs`` multiply-accumulates."""
        return _nonneg("macs", macs) * self.energy_per_mac_J


HOROWITZ_FP32_MAC_J = 3.7e-12 + 0.9e-12
"""45 nm FP32 multiply (3.7 pJ) + add (0.9 pJ), Horowitz ISSCC 2014; compute only, no memory."""


def dense_macs(layer_shapes) -> int:
    """Multiply-accumulates of one inference through dense layers of (fan_in, fan_out) shapes."""
    return int(sum(int(a) * int(b) for a, b in layer_shapes))


def improvement(e_analog_J: float, e_gpu_J: float) -> float:
    """Energy-efficiency improvement as the study states it: ``1 - E_analog / E_gpu``."""
    return 1.0 - _nonneg("e_analog_J", e_analog_J) / _positive("e_gpu_J", e_gpu_J)


# ---------------------------------------------------------------------------------------------
# per-inference ledger
# ---------------------------------------------------------------------------------------------
@dataclass
class EnergyLedger:
    """Accumulates per-inference energy by layer and component (joules); build, then read.

    Components: ``array`` (source energy, from the solved tiles), ``dac``, ``adc``, ``tia``.
    """

    rows: list[dict] = field(default_factory=list)

    def add_reads(self, *, layer: str, tile: int, array_J: float, rows_driven: int,
                  columns_read: int, reads: float, figures: ConverterFigures,
                  dac_bits: int = 1) -> None:
        """Record ``reads`` reads of one tile per inference.

        ``array_J`` is the tile's array energy per inference (already summed over its reads).
        DAC energy: ``rows_driven * reads * dac_energy_per_row_J``, times ``dac_bits`` when the
        figure is per bit (``figures.dac_per_bit``).
        """
        dac_scale = int(dac_bits) if figures.dac_per_bit else 1
        self.rows.append({
            "layer": layer, "tile": int(tile), "reads": float(reads),
            "rows_driven": int(rows_driven), "columns_read": int(columns_read),
            "array_J": float(array_J),
            "dac_J": rows_driven * reads * figures.dac_energy_per_row_J * dac_scale,
            "adc_J": columns_read * reads * figures.adc_energy_per_conversion_J,
            "tia_J": columns_read * reads * figures.tia_energy_per_column_J,
        })

    def frame(self):
        """A pandas DataFrame, one row per (layer, tile), with a ``total_J`` column."""
        import pandas as pd

        df = pd.DataFrame(self.rows, columns=["layer", "tile", "reads", "rows_driven",
                                              "columns_read", "array_J", "dac_J", "adc_J",
                                              "tia_J"])
        df["total_J"] = df[["array_J", "dac_J", "adc_J", "tia_J"]].sum(axis=1)
        return df

    def totals(self) -> dict[str, float]:
        """Per-inference totals by component and overall, joules."""
        keys = ("array_J", "dac_J", "adc_J", "tia_J")
        out = {k: float(sum(r[k] for r in self.rows)) for k in keys}
        out["total_J"] = sum(out[k] for k in keys)
        return out
