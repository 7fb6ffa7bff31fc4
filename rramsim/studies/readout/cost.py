"""Conversions, reads, cycles, latency, energy and TOPS/W of a read scheme, per inference.

For one product vector of a layer (one dense input, one output position of a convolution, one
RNN time step), every read of the plan (:class:`rramsim.mapper.TileRead`) is carried out group by
group (:class:`rramsim.studies.readout.reads.ReadScheme`). A group of a read with ``c`` columns needs
``slots`` conversion slots, the largest number of its columns on one ADC (ADC a serves columns
``[a k, (a + 1) k)``, ``k = columns_per_adc``), and takes

* ``amplitude``: 1 cycle, ``t_settle + slots * t_conversion``; ``c`` conversions;
* ``bit-serial``: ``b`` cycles (bit planes), ``b * (t_settle + slots * t_conversion)``;
  ``b * c`` conversions;
* ``pwm``: ``n`` pulse slots (the DAC's levels), ``n * t_pwm_slot + slots * t_conversion``
  (the charge is held while the multiplexer steps); ``c`` conversions.

The reads of one tile follow each other; tiles work in parallel; a layer's product vectors and
the layers follow each other (batch 1, no pipelining): the latency of an inference is
``sum_layers positions * max_tiles sum_groups time``, and inferences per second its inverse.

Energy: ADC conversions times the energy per conversion; DAC (per driven row) and TIA (per read
column) powers times the time they are on (the whole read for amplitude and bit-serial, the
pulse train for PWM drivers); array energy = source power (``v^T S v``, S the group's power
matrix: ``Y_aa`` for grounded inactive rows, the Schur complement for floating ones) times the
time each drive is applied, averaged over recorded drives. TOPS/W counts 2 operations per
multiply-accumulate of the unpruned (kept) weights only: ``2 * kept_MACs / E_inference / 1e12``.

Digital periphery: every converted value is added into its accumulator (a shift-add per bit
plane for bit-serial inputs); the ``group`` calibration adds a multiply-add per partial sum of a
group's column; every layer output is scaled back by one multiply (and, with an offset, one add:
the ``column`` and ``group`` calibrations). Energies per operation from Horowitz [6]_ (45 nm,
0.9 V, 32-bit integer: add 0.1 pJ, multiply 3.1 pJ), for both presets (a lower bound for the
board's digital logic, where the 50 nJ ADC conversions dominate).

Timing presets (:data:`TIMINGS`)
--------------------------------
``board``: ADS8324 14-bit ADC at 50 kS/s [1]_ -> 20 us per conversion; settling 0.3 us, the
4051-family 8-channel multiplexer's address-to-output propagation delay at V_DD = 5 V (300 ns
maximum, Philips HEF4051B data sheet [2]_; the study's board uses the CD4051B); the DAC80508's
and OPA4322's own settling are not included (no datasheet figure taken). ``integrated``: the
8-bit 1.2 GS/s SAR ADC of Kull et al. [3]_ -> 0.83 ns per conversion; settling 100 ns, ISAAC's
crossbar read cycle [4]_ (judgement: the whole read cycle counted as settling). PWM slots last
one settling time (judgement). Powers and energies as in :mod:`rramsim.studies.costs.energy`.

References
----------
.. [1] Texas Instruments, ADS8324 data sheet, SBAS172A: 14 bit, 50 kHz, 2.5 mW at 1.8 V.
.. [2] Philips Semiconductors, HEF4051B 8-channel analogue multiplexer/demultiplexer, product
   specification (January 1995), AC characteristics: A_n to V_os, t_PHL/t_PLH 150 ns typical,
   300 ns maximum at V_DD = 5 V.
.. [3] L. Kull et al., ISSCC 2013 / IEEE JSSC 48(12), 2013: 8 b, 1.2 GS/s, 3.1 mW.
.. [4] A. Shafiee et al., ISAAC, ISCA 2016: 100 ns crossbar read; 1-bit DACs, 4 mW per 1024.
.. [5] NVIDIA Tesla V100 data sheet (2017): 15.7 TFLOPS FP32 peak, 300 W.
.. [6] M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
   pp. 10-14: 45 nm energies per operation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim.errors import ReadSchemeError
from rramsim.studies.config import PRESET_BOARD, PRESET_INTEGRATED
from rramsim.studies.readout.reads import dac_levels, magnitude_bits, planes
from rramsim.studies.readout.scheme import COLUMN_FIT, ReadScheme


@dataclass(frozen=True)
class ReadTiming:
    """Timing and power of a macro's periphery.

    Attributes
    ----------
    name : str
    t_conversion_s : float
        One ADC conversion, seconds.
    t_settle_s : float
        Settling of a read (multiplexer, lines) before the first conversion, seconds.
    t_pwm_slot_s : float
        One PWM time slot, seconds.
    dac_power_per_row_W : float
        Power of one row driver while it drives (a 1-bit driver when ``dac_per_bit``), watts.
    dac_per_bit : bool
        An amplitude DAC of b bits costs b times ``dac_power_per_row_W``; bit-serial and PWM
        drivers are 1-bit.
    adc_energy_per_conversion_J : float
    tia_power_per_column_W : float
        Power of one TIA while its column is read, watts.
    source : str
    digital_add_J, digital_mult_J : float
        Energy of one digital add and one multiply of the periphery, joules.
    """

    name: str
    t_conversion_s: float
    t_settle_s: float
    t_pwm_slot_s: float
    dac_power_per_row_W: float
    dac_per_bit: bool
    adc_energy_per_conversion_J: float
    tia_power_per_column_W: float
    source: str = ""
    digital_add_J: float = 0.1e-12
    digital_mult_J: float = 3.1e-12

    def __post_init__(self) -> None:
        for k in ("t_conversion_s", "t_settle_s", "t_pwm_slot_s", "dac_power_per_row_W",
                  "adc_energy_per_conversion_J", "tia_power_per_column_W", "digital_add_J",
                  "digital_mult_J"):
            v = float(getattr(self, k))
            if not np.isfinite(v) or v < 0:
                raise ReadSchemeError(f"ReadTiming.{k} must be finite and >= 0, got {v}")
        if self.t_conversion_s <= 0:
            raise ReadSchemeError("ReadTiming.t_conversion_s must be > 0")


BOARD_TIMING = ReadTiming(
    name=PRESET_BOARD, t_conversion_s=1 / 50e3, t_settle_s=300e-9, t_pwm_slot_s=300e-9,
    dac_power_per_row_W=0.6e-3 * 5.5, dac_per_bit=False,
    adc_energy_per_conversion_J=2.5e-3 / 50e3, tia_power_per_column_W=1.5e-3 * 1.8,
    source="ADS8324 50 kS/s (20 us/conversion, 50 nJ); 4051 mux 300 ns max (HEF4051B); "
           "DAC80508 3.3 mW/ch; OPA4322 2.7 mW/ch; digital add 0.1 pJ, multiply 3.1 pJ "
           "(Horowitz 2014, 45 nm: a lower bound for the board)")
INTEGRATED_TIMING = ReadTiming(
    name=PRESET_INTEGRATED, t_conversion_s=1 / 1.2e9, t_settle_s=100e-9, t_pwm_slot_s=100e-9,
    dac_power_per_row_W=4e-3 / 1024, dac_per_bit=True,
    adc_energy_per_conversion_J=3.1e-3 / 1.2e9, tia_power_per_column_W=0.0,
    source="SAR ADC 1.2 GS/s, 3.1 mW (Kull et al. 2013); 100 ns read cycle and 1-bit DACs "
           "4 mW/1024 (ISAAC, 2016); TIA in the ADC; digital add 0.1 pJ, multiply 3.1 pJ "
           "(Horowitz 2014, 45 nm)")
TIMINGS: dict[str, ReadTiming] = {t.name: t for t in (BOARD_TIMING, INTEGRATED_TIMING)}

GPU_PEAK_FLOPS = 15.7e12
"""NVIDIA V100 FP32 peak, FLOP/s [5] (the GPU baseline's time: 2 FLOP per MAC at peak)."""


def adc_slots(cols, columns_per_adc: int) -> int:
    """Conversion slots of a read: the most of its columns on one ADC."""
    c = np.asarray(cols, np.int64)
    if c.size == 0:
        return 0
    return int(np.bincount(c // int(columns_per_adc)).max())


def group_time(scheme: ReadScheme, timing: ReadTiming, slots: int, *, steps: int) -> float:
    """Seconds one group read takes (``steps``: bit planes or PWM levels)."""
    conv = slots * timing.t_conversion_s
    if scheme.encoding == "amplitude":
        return timing.t_settle_s + conv
    if scheme.encoding == "bit-serial":
        return steps * (timing.t_settle_s + conv)
    return steps * timing.t_pwm_slot_s + conv


@dataclass
class SchemeCost:
    """Per-inference counts, time and energy of a scheme (one timing preset)."""

    reads: float
    cycles: float
    conversions: float
    latency_s: float
    energy: dict
    kept_macs: float
    adds: float = 0.0
    mults: float = 0.0

    @property
    def energy_J(self) -> float:
        return float(sum(self.energy.values()))

    @property
    def inferences_per_s(self) -> float:
        return 1.0 / self.latency_s if self.latency_s > 0 else float("inf")

    @property
    def tops_per_w(self) -> float:
        """Tera-operations per second per watt: 2 ops per MAC of the kept weights."""
        e = self.energy_J
        return 2.0 * self.kept_macs / e / 1e12 if e > 0 else float("nan")

    def as_dict(self) -> dict:
        return {"reads": self.reads, "cycles": self.cycles, "conversions": self.conversions,
                "digital_adds": self.adds, "digital_mults": self.mults,
                "latency_s": self.latency_s, "energy_J": self.energy_J,
                "inferences_per_s": self.inferences_per_s, "tops_per_w": self.tops_per_w,
                **{f"{k}_J": v for k, v in self.energy.items()}}


def scheme_cost(sp, rows_per_inference, dacs, timing: ReadTiming, *, kept_macs: float,
                voltages: dict | None = None, max_drives: int = 256,
                calibration: str = "ideal_scale") -> SchemeCost:
    """Counts, latency and energy per inference of ``sp`` (:class:`~.readout.SchemePrep`).

    ``dacs``: each layer's :class:`~rramsim.studies.inference.quantize.DAC` (bits and sign fix the bit
    planes and PWM levels). ``voltages``: layer -> recorded amplitude drive voltages (rows,
    fan_in), whose mean source power gives the array energy (None: array energy 0, not counted).
    ``calibration``: the digital corrections counted (see the module docstring).
    """
    sc = sp.scheme
    reads = cycles = conv = latency = 0.0
    e = {"array": 0.0, "dac": 0.0, "adc": 0.0, "tia": 0.0}
    adds = mults = 0.0
    per_group = calibration == "group"
    offset = calibration in COLUMN_FIT
    for k, lp in enumerate(sp.plan.layers):
        pos = float(rows_per_inference[k])
        mults += pos * lp.fan_out
        adds += pos * lp.fan_out * int(offset)
        d = dacs[k]
        steps = {"amplitude": 1, "bit-serial": magnitude_bits(d), "pwm": dac_levels(d)}[
            sc.encoding]
        dac_mult = (d.bits if (timing.dac_per_bit and sc.encoding == "amplitude") else 1)
        tile_t: dict[int, float] = {}
        v = None if voltages is None or k not in voltages else np.asarray(voltages[k])[:max_drives]
        pl = None
        if v is not None:
            # recorded amplitude drives lie on the DAC's grid over [0, V_read]: the same codes
            pl = planes(sc.encoding, d, d.v_read_V, v, per_level=True)
        for r in lp.reads:
            slots = adc_slots(r.cols, sc.columns_per_adc)
            c = r.cols.size
            for g in sp.groups(r):
                t = group_time(sc, timing, slots, steps=steps)
                tile_t[r.tile] = tile_t.get(r.tile, 0.0) + t
                reads += pos
                cycles += pos * steps
                nconv = c * (steps if sc.encoding == "bit-serial" else 1)
                conv += pos * nconv
                adds += pos * (nconv + c * int(per_group))
                mults += pos * c * int(per_group)
                e["adc"] += pos * nconv * timing.adc_energy_per_conversion_J
                drive_t = steps * timing.t_pwm_slot_s if sc.encoding == "pwm" else t
                e["dac"] += pos * g.pos.size * drive_t * timing.dac_power_per_row_W * dac_mult
                e["tia"] += pos * c * t * timing.tia_power_per_column_W
                if pl is not None and g.power is not None:
                    p = 0.0
                    for _, vp in pl:
                        dd = r.drive(vp)
                        dv = dd if g.whole else dd[:, g.pos]
                        pw = float(np.mean(np.sum((dv @ g.power) * dv, axis=1)))
                        dur = (timing.t_pwm_slot_s if sc.encoding == "pwm"
                               else t / (steps if sc.encoding == "bit-serial" else 1))
                        p += pw * dur
                    e["array"] += pos * p
        latency += pos * max(tile_t.values(), default=0.0)
    e["digital"] = adds * timing.digital_add_J + mults * timing.digital_mult_J
    return SchemeCost(reads=reads, cycles=cycles, conversions=conv, latency_s=latency, energy=e,
                      kept_macs=float(kept_macs), adds=adds, mults=mults)


def kept_macs(loaded, rows_per_inference) -> float:
    """Multiply-accumulates of the kept (unpruned) weights per inference."""
    return float(sum(int(np.count_nonzero(m)) * int(r)
                     for m, r in zip(loaded.masks, rows_per_inference, strict=True)))


def gpu_time_s(dense_macs: float) -> float:
    """The GPU baseline's time per inference at peak: ``2 * MACs / 15.7 TFLOPS``."""
    return 2.0 * float(dense_macs) / GPU_PEAK_FLOPS
