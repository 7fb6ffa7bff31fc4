"""The equations of the filament-gap model (vectorised, pure functions).

A conductive filament of oxygen vacancies leaves a tunnelling gap ``g`` to the electrode. With
``V`` the voltage across the filament (top minus bottom electrode), Guan, Yu & Wong 2012 and Jiang et
al. 2016 (see :mod:`rramsim.devmodel.params`) give

.. math::

    I &= I_0 \\, e^{-g/g_0} \\sinh(V / V_0)

    T &= T_0 + |I V| R_{th}

    \\gamma &= \\gamma_0 - \\beta \\, (g / 1\\,\\mathrm{nm})^3

    \\frac{dg}{dt} &= -v_0 \\, e^{-E_a / k T} \\,
        \\sinh\\!\\left(\\frac{\\gamma a_0}{L} \\frac{q V}{k T}\\right)
        + \\delta g_0 \\, \\xi(t) \\, \\frac{1}{1 + e^{(T_{crit} - T)/T_{smth}}}

so a positive voltage shrinks the gap (SET, forming) and a negative one widens it (RESET); ``xi`` is a
unit normal drawn once per ``dt_noise``. Departures from the Stanford-PKU v1.0.0 Verilog-A text, all
deliberate: one ``gamma0`` for both polarities (v1.0.0 forces 16 for V < 0), no minimum-field cut-off
``F_min`` (reads never move the gap here because reads are not integrated in time), and the gap is kept
in [gap_min, gap_max] by stopping its motion at the limits.

**Compliance.** Programming goes through the cell's access transistor, modelled as an ideal current
limiter of ``I_cc`` in series: when the cell alone would draw more than ``I_cc`` at the applied voltage
``V_a``, the filament voltage drops to the value where it draws exactly ``I_cc``,

.. math::

    V = \\mathrm{sign}(V_a) \\min\\left(|V_a|,\\;
        V_0 \\, \\mathrm{asinh}\\frac{I_{cc}}{I_0 e^{-g/g_0}}\\right),

and the transistor takes the rest. This closed form is also what the ngspice subcircuit
(:mod:`rramsim.netlists.device`) evaluates, so both see the same two-terminal element.
"""

from __future__ import annotations

import numpy as np

from rramsim.devmodel.params import K_B_EV, FilamentParams

LN2 = float(np.log(2.0))


def ln_sinh(x: np.ndarray) -> np.ndarray:
    """``log(sinh(x))`` for ``x >= 0`` without overflow (``-inf`` at 0)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        return x - LN2 + np.log1p(-np.exp(-2.0 * x))


def cell_current(gap, v, i0, p: FilamentParams) -> np.ndarray:
    """Filament current ``I0 exp(-g/g0) sinh(V/V0)``, amperes (odd in ``v``)."""
    return i0 * np.exp(-np.asarray(gap) / p.g0) * np.sinh(np.asarray(v) / p.v0)


def filament_voltage(gap, v_applied, i0, icc, p: FilamentParams) -> np.ndarray:
    """Voltage across the filament behind an ideal current limit ``icc`` (A; ``inf`` = none), volts."""
    v_applied = np.asarray(v_applied, dtype=float)
    icc = np.asarray(icc, dtype=float)
    scale = i0 * np.exp(-np.asarray(gap) / p.g0)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        v_lim = np.where(np.isfinite(icc), p.v0 * np.arcsinh(icc / scale), np.inf)
    return np.sign(v_applied) * np.minimum(np.abs(v_applied), v_lim)


def temperature(current, v_filament, p: FilamentParams) -> np.ndarray:
    """Local filament temperature ``T0 + |I V| Rth``, kelvin."""
    return p.t0 + np.abs(current * v_filament) * p.rth


def ln_gap_speed(gap, v_filament, temp, ea, p: FilamentParams) -> np.ndarray:
    """Natural log of the deterministic gap speed ``|dg/dt|`` in m/s (``-inf`` at V = 0).

    ``log(v0) - Ea / kT + log sinh(gamma a0 |V| / (L kT/q))`` with gamma clipped at 0 from below.
    """
    kt = K_B_EV * temp
    gamma = np.maximum(p.gamma(np.asarray(gap)), 0.0)
    arg = gamma * (p.a0 / p.tox) * np.abs(v_filament) / kt
    return np.log(p.vel0) - ea / kt + ln_sinh(arg)


def noise_weight(temp, p: FilamentParams) -> np.ndarray:
    """Temperature weight of the stochastic term, ``1 / (1 + exp((T_crit - T) / T_smth))``."""
    return 1.0 / (1.0 + np.exp((p.t_crit - temp) / p.t_smth))


def gap_velocity(gap, v_applied, i0, ea, icc, p: FilamentParams):
    """Deterministic ``dg/dt`` (m/s), current (A) and temperature (K) at applied voltage ``v_applied``.

    Motion is stopped at the gap limits (no SET below ``gap_min``, no RESET above ``gap_max``).
    """
    gap = np.asarray(gap, dtype=float)
    vf = filament_voltage(gap, v_applied, i0, icc, p)
    cur = cell_current(gap, vf, i0, p)
    temp = temperature(cur, vf, p)
    speed = np.exp(ln_gap_speed(gap, vf, temp, ea, p))
    vel = -np.sign(vf) * speed
    stop = ((vel < 0) & (gap <= p.gap_min)) | ((vel > 0) & (gap >= p.gap_max))
    return np.where(stop, 0.0, vel), cur, temp
