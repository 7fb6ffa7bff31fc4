"""Energy bookkeeping: array energy from solved tiles, converters, a GPU baseline, programming.

Array energy
------------
The array's energy per read is the source power of the solved tile (:mod:`rramsim.studies.costs.power`:
``P = v^T Y v`` with the tile's input admittance Y for linear cells, the full power balance of a
solve otherwise) times the read time ``t_read_s`` (DC read; the charging of the line capacitance
is not included). :func:`network_energy` sums it with the converters' energy over a programmed
network's layers, tiles and reads per inference.

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

from rramsim.studies.config import PRESET_BOARD, PRESET_INTEGRATED
from rramsim.studies.costs.power import EnergyError, array_power, source_power

STUDY_IMPROVEMENT: dict[str, float] = {
    "Fashion-MNIST": 0.821,
    "spoken digits": 0.512,
    "DRIVE": 0.998,
}
"""Energy-efficiency improvement over the GPU reported by the study (fraction), arXiv 2311.07164."""


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
    name=PRESET_BOARD,
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
    name=PRESET_INTEGRATED,
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

#: The converter figures of each preset (:data:`rramsim.studies.config.PRESETS`), by name.
CONVERTER_FIGURES: dict[str, ConverterFigures] = {f.name: f for f in (BOARD, INTEGRATED)}


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


def network_energy(hw, records, rows_per_inference, figures: ConverterFigures, *,
                   dac_bits: int = 1, max_solve_inputs: int = 64,
                   progress: bool = False) -> EnergyLedger:
    """Per-inference energy ledger of a programmed network from recorded drive voltages.

    Parameters
    ----------
    hw : rramsim.studies.programming.Hardware
    records : dict
        Layer -> drive voltages (rows, fan_in) volts, as recorded by circuit-mode inference.
    rows_per_inference : list of int
        Reads of each layer per inference (1 dense, output positions of a convolution, time
        steps of an RNN).
    figures : ConverterFigures
    dac_bits : int
        Input resolution (scales the DAC energy of per-bit figures).
    max_solve_inputs : int
        Non-linear tiles are solved for at most this many drives (the mean is over them).

    For each layer and tile, all the layer's pieces on the tile are driven together; the array
    energy per read is the mean source power over the recorded drives (``v^T Y v`` with the
    tile's cached input admittance, or a full solve for sinh cells) times ``figures.t_read_s``.
    """
    ledger = EnergyLedger()
    items = sorted(records.items())
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="array energy", unit="layer", leave=False)
    for k, v in items:
        lp = hw.plan[k]
        reads = int(rows_per_inference[k])
        ncols, nrows = lp.columns_used(), lp.rows_used()
        for t, full in lp.tile_drive(v, hw.tile_shape[0]).items():
            xb = hw.tiles[t]
            if xb.is_linear:
                p = float(np.mean(source_power(hw.admittance(t), full)))
            else:
                sub = full[:max_solve_inputs]
                p = float(np.mean(array_power(xb, hw.solve(t, sub), sub).source))
            ledger.add_reads(layer=lp.name, tile=t, array_J=p * figures.t_read_s * reads,
                             rows_driven=nrows[t], columns_read=ncols[t], reads=reads,
                             figures=figures, dac_bits=dac_bits)
    return ledger
