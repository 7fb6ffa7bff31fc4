"""Parameters of the filament-gap RRAM model: one frozen dataclass, one calibrated preset.

The model family is the Stanford-PKU RRAM compact model [1]_ [2]_ [3]_; the read I-V constants of the
preset follow the ASU/NeuroSim variant [4]_. The equations are in :mod:`rramsim.devmodel.physics`.

References
----------
.. [1] X. Guan, S. Yu, H.-S. P. Wong, "A SPICE compact model of metal oxide resistive switching memory
   with variations", IEEE Electron Device Letters 33(10), 1405-1407, 2012.
.. [2] Z. Jiang, Y. Wu, S. Yu, L. Yang, K. Song, Z. Karim, H.-S. P. Wong, "A compact model for metal-oxide
   resistive random access memory with experiment verification", IEEE Trans. Electron Devices 63(5),
   1884-1892, 2016.
.. [3] Z. Jiang, H.-S. P. Wong, "Stanford University Resistive-Switching Random Access Memory (RRAM)
   Verilog-A Model", nanoHUB, 2014, doi:10.4231/D37H1DN48 (v1.0.0 parameter table: I0 = 1 mA,
   g0 = 0.25 nm, V0 = 0.25 V, v0 = 10 m/s, Ea = 0.6 eV, a0 = 0.25 nm, tox = 12 nm, gamma0 = 16,
   beta = 0.8, Rth = 2.1 kK/W, T_crit = 450 K, T_smth = 500 K, deltaGap0 = 0.02, time_step = 1 ns).
.. [4] P.-Y. Chen, S. Yu, "Compact modeling of RRAM devices and its applications in 1T1R and 1S1R array
   design", IEEE Trans. Electron Devices 62(12), 4022-4028, 2015 (I0 = 61.4 uA, g0 = 0.275 nm,
   V0 = 0.43 V).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from rramsim._validate import real_scalar
from rramsim.errors import DeviceModelError

#: Boltzmann constant, eV/K (CODATA 2018).
K_B_EV = 8.617333262e-5


@dataclass(frozen=True)
class FilamentParams:
    """Constants of the filament-gap model, its variation and its default programming pulses.

    All values SI unless the name says otherwise (``ea`` in eV). ``_dtod`` fields are device-to-device
    standard deviations, drawn once per cell when it is created (:func:`rramsim.devmodel.pristine`).
    Modify with ``dataclasses.replace``; every field is validated.

    Attributes
    ----------
    i0 : float
        Current prefactor I0 of ``I = I0 exp(-g/g0) sinh(V/V0)``, amperes (> 0).
    g0 : float
        Gap decay length g0, metres (> 0).
    v0 : float
        Non-linearity voltage V0, volts (> 0).
    vel0 : float
        Gap velocity prefactor v0 of the hopping law, m/s (> 0).
    ea : float
        Activation energy Ea of oxygen-vacancy hopping, eV (> 0).
    a0 : float
        Hopping distance (atom spacing) a0, metres (> 0).
    tox : float
        Oxide (switching layer) thickness L, metres (> gap_max).
    gamma0, beta : float
        Field enhancement ``gamma = gamma0 - beta (g / 1 nm)^3`` (dimensionless, gamma0 > 0, beta >= 0);
        gamma must stay positive over [gap_min, gap_max].
    t0 : float
        Ambient temperature T0, kelvin (> 0).
    rth : float
        Effective thermal resistance of the filament, K/W (>= 0): ``T = T0 + |I V| Rth``.
    gap_min, gap_max : float
        Limits of the gap, metres (0 < gap_min < gap_max).
    gap_pristine : float
        Mean gap of an unformed (pristine) cell, metres (within [gap_min, gap_max]).
    dg0 : float
        Amplitude of the stochastic gap velocity (Stanford-PKU ``deltaGap0``), m/s (>= 0).
    t_crit, t_smth : float
        Temperature weighting of the stochastic term, ``1 / (1 + exp((T_crit - T) / T_smth))``, kelvin.
    dt_noise : float
        Time discretisation of the stochastic term, seconds (> 0): one independent normal per interval
        ``dt_noise`` (the Stanford-PKU model draws one per simulator step, bounded to 1 ns).
    i0_dtod : float
        Relative device-to-device spread of I0 (log-normal sigma, >= 0).
    ea_dtod : float
        Device-to-device standard deviation of Ea, eV (>= 0).
    gap_pristine_dtod : float
        Device-to-device standard deviation of the pristine gap, metres (>= 0).
    icc_dtod : float
        Relative device-to-device spread of the access transistor's current limit (log-normal sigma,
        >= 0): every compliance applied to a cell is multiplied by its own factor ``exp(icc_dtod N)``
        (threshold-voltage variation of the 1T1R transistors).
    v_read : float
        Default read voltage, volts (0 < v_read <= 0.5). Conductance means ``I(v_read) / v_read``.
    form_amplitude, form_width, form_compliance : float
        Default electroforming pulse: volts (> 0), seconds (> 0), amperes (> 0).
    set_amplitude, set_width, set_compliance : float
        Default SET (reinstate) pulse: volts (> 0), seconds, amperes.
    reset_amplitude, reset_width : float
        Default RESET (prune) pulse: magnitude in volts (> 0; applied as a negative voltage), seconds.
        RESET has no compliance.
    formed_threshold : float
        A cell counts as formed when its conductance at ``v_read`` is at least this, siemens (> 0).
    """

    i0: float = 61.4e-6
    g0: float = 0.275e-9
    v0: float = 0.43
    vel0: float = 10.0
    ea: float = 1.54
    a0: float = 0.25e-9
    tox: float = 5e-9
    gamma0: float = 16.0
    beta: float = 0.83
    t0: float = 300.0
    rth: float = 2e5
    gap_min: float = 0.2e-9
    gap_max: float = 2.4e-9
    gap_pristine: float = 2.0e-9
    dg0: float = 1e-3
    t_crit: float = 450.0
    t_smth: float = 500.0
    dt_noise: float = 1e-9
    i0_dtod: float = 0.05
    ea_dtod: float = 0.03
    gap_pristine_dtod: float = 0.03e-9
    icc_dtod: float = 0.118
    v_read: float = 0.1
    form_amplitude: float = 3.0
    form_width: float = 1e-6
    form_compliance: float = 100e-6
    set_amplitude: float = 2.4
    set_width: float = 1e-6
    set_compliance: float = 100e-6
    reset_amplitude: float = 2.1
    reset_width: float = 1e-6
    formed_threshold: float = 2e-6

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            v = real_scalar(value, f"FilamentParams.{f.name}", DeviceModelError, finite=False)
            if not math.isfinite(v):
                raise DeviceModelError(f"FilamentParams.{f.name} must be finite, got {v}")
            non_negative = f.name in ("beta", "rth", "dg0") or f.name.endswith("_dtod")
            if v < 0 or (v == 0 and not non_negative):
                kind = "non-negative" if non_negative else "positive"
                raise DeviceModelError(f"FilamentParams.{f.name} must be {kind}, got {v}")
            object.__setattr__(self, f.name, v)
        if not self.gap_min < self.gap_max < self.tox:
            raise DeviceModelError(
                "FilamentParams needs 0 < gap_min < gap_max < tox, got "
                f"gap_min={self.gap_min}, gap_max={self.gap_max}, tox={self.tox} (m)")
        if not self.gap_min <= self.gap_pristine <= self.gap_max:
            raise DeviceModelError(
                f"FilamentParams.gap_pristine={self.gap_pristine} m is outside "
                f"[gap_min, gap_max] = [{self.gap_min}, {self.gap_max}] m")
        if self.gamma(self.gap_max) <= 0:
            raise DeviceModelError(
                f"FilamentParams: gamma = gamma0 - beta (g/1nm)^3 = {self.gamma(self.gap_max):.3g} "
                f"<= 0 at gap_max={self.gap_max} m; lower beta or gap_max")
        if self.v_read > 0.5:
            raise DeviceModelError(f"FilamentParams.v_read={self.v_read} V is not a read voltage "
                                   "(valid range 0 < v_read <= 0.5 V)")

    def gamma(self, gap):
        """Field-enhancement factor ``gamma0 - beta (gap / 1 nm)^3`` (dimensionless)."""
        gn = gap * 1e9
        return self.gamma0 - self.beta * (gn * gn * gn)


#: The study's 40 nm TaOx 1T1R macro (arXiv 2311.07164). I-V constants (i0, g0, v0) from Chen & Yu
#: 2015 [4]_; a0, gamma0, t_crit, t_smth, dt_noise and vel0 from the Stanford-PKU v1.0.0 table [3]_;
#: tox = 5 nm (a thin TaOx switching layer, judgement). Calibrated here (judgement, not measured):
#: ea = 1.54 eV, beta = 0.83, rth = 2e5 K/W, dg0 = 1e-3 m/s and the d2d spreads, so that the default
#: forming pulse (3 V, 1 us, 100 uA) gives formed-cell conductances of mean 14.2 uS and standard
#: deviation 2.46 uS at 0.1 V (the study group's ESGNN statistics for the same macro; measured here
#: 14.17 uS / 2.48 uS on 262,144 cells with 99.98 % formed), a pristine cell reads ~0.1 uS (10 MOhm),
#: the default RESET (-2.1 V, 1 us) lands at 0.14-0.56 uS and the default SET (2.4 V, 1 us, 100 uA)
#: restores the formed distribution. Checks: tests/test_devmodel.py; figures:
#: scripts/bench_devmodel.py.
TAOX_40NM = FilamentParams()
