"""Programming-error models: programmed conductances for target conductances, at a time after programming.

Three models, selectable by name (:func:`error_model`), each a frozen dataclass:

* ``neurram`` (:class:`NeuRRAMError`): the state-dependent absolute spread of the NeuRRAM chip's
  RRAM after write-and-verify and its growth over two days, as fitted to Wan et al., Nature 2022;
* ``cmo-hfox`` (:class:`CmoHfOxError`): IBM's CMO/HfOx ReRAM, programming error at an acceptance
  range and a relaxation linear in log-time;
* ``filament`` (:class:`FilamentError`): rramsim's own filament-gap model programmed by incremental
  write-and-verify (:func:`~rramsim.devmodel.write_verify_incremental`) and relaxed by a gap random
  walk whose size at each conductance and time is calibrated to the NeuRRAM fit.

Every model answers the same calls: ``program(target_g, rng=...)`` gives the conductances right after
programming (t = 0) as a :class:`Programmed`; ``relax(g, t, rng=...)`` relaxes any programmed array of
conductances (a trained network's or the pruned network's formed and reset cells alike) to ``t``
seconds after programming; ``at(programmed, t, rng=...)`` is the two together. Relaxation is zero at
t = 0 and its spread does not decrease with t. ``relax_sigma(g, t)`` is the standard deviation of the
relaxation at level ``g``; ``program_sigma(g)`` that of the programming error (not for ``filament``,
whose programming error is the device model's own outcome). Conductances are siemens, times seconds.

Relaxation draws for several times are independent samples of each time's distribution; pass the
same seed to every call to have each cell move along one consistent path (one normal per cell,
scaled with time). The constants and their sources are in ``docs/device-errors.md``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr

from rramsim._validate import integer, real_array, real_scalar
from rramsim.devmodel.incremental import write_verify_incremental
from rramsim.devmodel.params import TAOX_40NM, FilamentParams
from rramsim.devmodel.read import as_rng, read_conductance
from rramsim.devmodel.state import CellState, ProgramCost
from rramsim.errors import DeviceModelError

US = 1e-6

#: The named times after programming, seconds: 1 s, 1 hour, 1 day, 2 days.
TIMES: dict[str, float] = {"1s": 1.0, "1h": 3600.0, "1d": 86400.0, "2d": 172800.0}

_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_time(value) -> float:
    """Seconds from a time after programming: a number of seconds (>= 0) or a string such as
    ``"1s"``, ``"30min"``, ``"1h"``, ``"2d"`` (units s, m/min, h, d)."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*([a-z]+)?\s*", value.lower())
        if m is None or (m.group(2) or "s") not in _UNITS:
            raise DeviceModelError(f"time after programming {value!r} is not a number with a unit "
                                   f"of {sorted(_UNITS)} (e.g. 1s, 1h, 1d)")
        t = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    else:
        t = real_scalar(value, "t", DeviceModelError, finite=False, unit="seconds")
    if not math.isfinite(t) or t < 0:
        raise DeviceModelError(f"time after programming t must be finite and >= 0 s, got {value!r}")
    return t


def parse_times(text: str) -> tuple[float, ...]:
    """Seconds from a comma-separated list of times, e.g. ``"1s,1d"`` -> ``(1.0, 86400.0)``."""
    if not isinstance(text, str) or not text.strip():
        raise DeviceModelError(f"times must be a comma-separated list such as '1s,1d', got {text!r}")
    return tuple(parse_time(part) for part in text.split(","))


def _targets(target_g, g_range: tuple[float, float], model: str) -> np.ndarray:
    g = np.array(real_array(target_g, "target_g", DeviceModelError), dtype=float)
    lo, hi = g_range
    if not np.isfinite(g).all() or (g < lo).any() or (g > hi).any():
        raise DeviceModelError(
            f"target_g must lie in the {model} model's valid range {lo / US:g}-{hi / US:g} uS; got "
            f"{np.nanmin(g) / US:g}-{np.nanmax(g) / US:g} uS")
    return g


def _levels(g, model: str) -> np.ndarray:
    arr = np.array(real_array(g, "g", DeviceModelError), dtype=float)
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise DeviceModelError(f"g (conductances to relax with the {model} model) must be finite "
                               "and >= 0 siemens")
    return arr


@dataclass(frozen=True, eq=False)
class Programmed:
    """An array programmed by an error model.

    Attributes
    ----------
    target : ndarray
        Target conductances, siemens.
    conductance : ndarray
        Conductances right after programming (t = 0), siemens.
    cost : ProgramCost or None
        Pulses, pulse energy and verify reads per cell, when the model simulates the programming
        (``filament``); None for the measured fits, which describe the outcome only.
    state : CellState or None
        The device state (``filament``), relaxed by the gap walk in :meth:`FilamentError.at`.
    """

    target: np.ndarray
    conductance: np.ndarray
    cost: ProgramCost | None = None
    state: CellState | None = None


class _Model:
    """Shared calls of the error models (``name``, ``g_range`` and the sigma methods per model)."""

    def relax(self, g, t, *, rng) -> np.ndarray:
        """Conductances ``g`` (siemens, >= 0) relaxed to ``t`` seconds after programming."""
        t = parse_time(t)
        g = _levels(g, self.name)
        shift = self.relax_mean(t)
        sigma = self.relax_sigma(g, t)
        z = as_rng(rng).standard_normal(g.shape)
        return np.maximum(g + shift + sigma * z, 0.0)

    def relax_mean(self, t: float) -> float:
        """Mean shift of the relaxation at ``t`` seconds, siemens (0 unless the source reports one)."""
        return 0.0

    def at(self, programmed: Programmed, t, *, rng) -> np.ndarray:
        """Conductances of ``programmed`` at ``t`` seconds after programming."""
        if not isinstance(programmed, Programmed):
            raise DeviceModelError(
                f"programmed must be a Programmed, got {type(programmed).__name__}")
        return self.relax(programmed.conductance, t, rng=rng)

    def programmed_conductance(self, target_g, t, *, rng) -> np.ndarray:
        """``program`` then ``relax`` to ``t``: the conductances a read at time ``t`` sees."""
        gen = as_rng(rng)
        return self.at(self.program(target_g, rng=gen), t, rng=gen)


def _poly(coeffs, x):
    """``sum_i coeffs[i] x^i``."""
    out = np.zeros_like(x, dtype=float)
    for c in reversed(coeffs):
        out = out * x + c
    return out


#: Wan et al. 2022 fits of the programmed spread (uS) in powers of ``g / 40 uS``, at 1 s, 1 day and
#: 2 days after programming, as published in aihwkit's ``ReRamWan2022NoiseModel``.
WAN_SIGMA_1S = (0.348, 16.030, -43.853, 45.393, -16.815)
WAN_SIGMA_1D = (0.701, 22.086, -50.773, 47.095, -16.458)
WAN_SIGMA_2D = (0.782, 20.274, -43.507, 37.062, -11.934)
#: CrossSim's ``RRAM_Wan`` cubic fit of the spread at 1 s (uS) in powers of ``g / 1 uS``.
WAN_SIGMA_1S_CUBIC = (1.053, 2.374e-1, -1.167e-2, 1.536e-4)


@dataclass(frozen=True)
class NeuRRAMError(_Model):
    """NeuRRAM's RRAM after write-and-verify (Wan et al., "A compute-in-memory chip based on
    resistive random-access memory", Nature 608, 504-512, 2022, Extended Data Fig. 3).

    Programming: ``G = max(target + sigma_1s(target) N, 0)``, an absolute spread that depends on the
    conductance (about 0.35 uS at 0, 2 uS mid-range, 1.1 uS at 40 uS with the aihwkit fit). The
    spread measured 1 s after programming is taken as the spread right after programming (the fits
    start at 1 s; the first second's relaxation is folded into the programming error, a judgement).

    Relaxation: zero-mean, of variance ``dv(g, t)`` grown from the published fits: 0 for t <= 1 s,
    ``sigma_1d^2 - sigma_1s^2`` at 1 day, ``max(sigma_2d^2, sigma_1d^2) - sigma_1s^2`` at 2 days
    (held non-decreasing: the 2-day fit lies a little below the 1-day fit at 8-12 uS), linear in
    ``log10 t`` between and beyond (an extrapolation past 2 days). The level ``g`` is the cell's own
    conductance, so formed cells and RESET cells of a pruned array relax by the same law: a RESET
    cell near 0 uS spreads by about 0.6 uS by one day and is floored at 0 (the fit covers 0-40 uS,
    the chip's range, with its low states; a judgement that the fit holds for cells RESET by
    pruning). Conductances are floored at 0 (as aihwkit does).

    Attributes
    ----------
    g_ref : float
        The fits' conductance scale, siemens (40 uS).
    program_fit : str
        ``"aihwkit"`` (the 4th-order fit of ``WAN_SIGMA_1S``, consistent with the 1-day and 2-day
        fits) or ``"crosssim"`` (CrossSim's cubic ``WAN_SIGMA_1S_CUBIC``, about 0.7 uS wider at the
        low end) for the spread right after programming.
    g_range : tuple of float
        Valid targets, siemens: 0-40 uS.
    """

    name: str = field(default="neurram", init=False)
    g_ref: float = 40 * US
    program_fit: str = "aihwkit"
    g_range: tuple[float, float] = (0.0, 40 * US)

    def __post_init__(self) -> None:
        if self.program_fit not in ("aihwkit", "crosssim"):
            raise DeviceModelError(f"NeuRRAMError.program_fit must be 'aihwkit' or 'crosssim', "
                                   f"got {self.program_fit!r}")
        _check_range("NeuRRAMError", self.g_range)

    def _fit(self, coeffs, g) -> np.ndarray:
        return np.maximum(_poly(coeffs, np.asarray(g) / self.g_ref), 0.0) * US

    def program_sigma(self, g) -> np.ndarray:
        """Standard deviation of the programmed conductance at target ``g``, siemens."""
        if self.program_fit == "crosssim":
            return np.maximum(_poly(WAN_SIGMA_1S_CUBIC, np.asarray(g) / US), 0.0) * US
        return self._fit(WAN_SIGMA_1S, g)

    def relax_sigma(self, g, t) -> np.ndarray:
        """Standard deviation of the relaxation at level ``g`` and ``t`` seconds, siemens."""
        t = parse_time(t)
        v1s = self._fit(WAN_SIGMA_1S, g) ** 2
        d1 = np.maximum(self._fit(WAN_SIGMA_1D, g) ** 2 - v1s, 0.0)
        d2 = np.maximum(self._fit(WAN_SIGMA_2D, g) ** 2 - v1s, d1)
        if t <= 1.0:
            return np.zeros_like(d1)
        lt, l1, l2 = math.log10(t), math.log10(TIMES["1d"]), math.log10(TIMES["2d"])
        dv = d1 * (lt / l1) if lt <= l1 else d1 + (d2 - d1) * (lt - l1) / (l2 - l1)
        return np.sqrt(dv)

    def program(self, target_g, *, rng) -> Programmed:
        """Programmed conductances right after programming, floored at 0."""
        g = _targets(target_g, self.g_range, self.name)
        z = as_rng(rng).standard_normal(g.shape)
        return Programmed(target=g, conductance=np.maximum(g + self.program_sigma(g) * z, 0.0))


#: aihwkit's ``ReRamCMONoiseModel`` programming spread (uS) as ``c0 + c1 g / 1 uS`` per acceptance
#: range (fraction of the target), and its relaxation fits (uS) against ``ln(t / 1 s)``.
CMO_PROGRAM = {0.002: (0.00081107, 0.00106879), 0.02: (0.0112185391, 0.01129027418)}
CMO_DECAY_MEAN = -0.08900206
CMO_DECAY_STD = (0.41183342, 0.04201137)


@dataclass(frozen=True)
class CmoHfOxError(_Model):
    """IBM's analog filamentary CMO/HfOx ReRAM (Falcone et al., IBM Research Europe - Zurich, as
    published in aihwkit's ``ReRamCMONoiseModel``).

    Programming: ``G = target + (c0 + c1 target) N``, the linear fit of ``CMO_PROGRAM`` for the
    acceptance range of the program-and-verify loop (0.2 % or 2 % of the target).

    Relaxation (independent of the conductance level in the source): a mean decay
    ``-0.0890 uS ln(t / 1 s)`` and a spread ``0.4118 uS + 0.0420 uS ln(t / 1 s)`` for t >= 1 s. The
    fits start at 1 s; below it the spread ramps as ``0.4118 uS log2(1 + t / 1 s)`` from 0 and the
    mean shift is 0 (a judgement that keeps the relaxation zero at t = 0 and continuous). Formed and
    RESET cells relax alike (the source states the level independence); conductances are floored at
    0. Left out: the source's accumulated 1/f read noise (rramsim draws read noise per product) and
    its clamp to the mapping range [g_min, g_max] (a cell can relax below the lowest target).

    Attributes
    ----------
    acceptance : float
        Acceptance range of the verify loop, a fraction of the target: 0.002 or 0.02.
    g_range : tuple of float
        Valid targets, siemens: 9-88.19 uS, the range of aihwkit's CMO examples.
    """

    name: str = field(default="cmo-hfox", init=False)
    acceptance: float = 0.02
    g_range: tuple[float, float] = (9.0 * US, 88.19 * US)

    def __post_init__(self) -> None:
        if self.acceptance not in CMO_PROGRAM:
            raise DeviceModelError(f"CmoHfOxError.acceptance must be one of "
                                   f"{sorted(CMO_PROGRAM)} (fitted), got {self.acceptance!r}")
        _check_range("CmoHfOxError", self.g_range)

    def program_sigma(self, g) -> np.ndarray:
        """Standard deviation of the programmed conductance at target ``g``, siemens."""
        c0, c1 = CMO_PROGRAM[self.acceptance]
        return (c0 + c1 * np.asarray(g, dtype=float) / US) * US

    def relax_mean(self, t) -> float:
        t = parse_time(t)
        return CMO_DECAY_MEAN * math.log(t) * US if t > 1.0 else 0.0

    def relax_sigma(self, g, t) -> np.ndarray:
        """Standard deviation of the relaxation at ``t`` seconds (the same at every level), siemens."""
        t = parse_time(t)
        c, b = CMO_DECAY_STD
        s = c + b * math.log(t) if t >= 1.0 else c * math.log2(1.0 + t)
        return np.full(np.shape(g), s * US)

    def program(self, target_g, *, rng) -> Programmed:
        """Programmed conductances right after programming, floored at 0."""
        g = _targets(target_g, self.g_range, self.name)
        z = as_rng(rng).standard_normal(g.shape)
        return Programmed(target=g, conductance=np.maximum(g + self.program_sigma(g) * z, 0.0))


def _floored_ms(g, sigma) -> np.ndarray:
    """Mean square of ``max(g + sigma N, 0) - g`` (``g`` > 0): ``sigma^2 (Phi(a) - a phi(a)) +
    g^2 Phi(-a)``, ``a = g / sigma`` (``sigma`` 0 gives 0)."""
    g, sigma = np.broadcast_arrays(np.asarray(g, float), np.asarray(sigma, float))
    a = g / np.where(sigma > 0, sigma, 1.0)
    ms = sigma ** 2 * (ndtr(a) - a * np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)) \
        + g ** 2 * ndtr(-a)
    return np.where(sigma > 0, ms, 0.0)


def _lognormal_s(r) -> np.ndarray:
    """The ``s`` with ``E[(e^{s N} - 1)^2] = r^2`` (``r`` >= 0, a relative rms deviation): ``u = s^2``
    solves ``expm1(2u) - 2 expm1(u/2) = r^2``, an increasing convex function of ``u`` that is
    ``>= u``, so Newton's method from ``u = r^2`` falls monotonically onto the root."""
    r2 = np.square(np.asarray(r, dtype=float))
    u = r2.copy()
    for _ in range(60):
        f = np.expm1(2 * u) - 2 * np.expm1(u / 2) - r2
        u = np.maximum(u - f / (2 * np.exp(2 * u) - np.exp(u / 2)), 0.0)
    return np.sqrt(u)


@dataclass(frozen=True)
class FilamentError(_Model):
    """rramsim's filament-gap model (:data:`~rramsim.devmodel.TAOX_40NM`) programmed by incremental
    write-and-verify and relaxed by a gap random walk calibrated to the NeuRRAM fit.

    Programming: fresh cells are electroformed, then :func:`~rramsim.devmodel.write_verify_incremental`
    brings each to its target within ``tolerance_frac * g_max`` (the forming cost is not in
    ``Programmed.cost``; it is :func:`~rramsim.devmodel.form`'s).

    Relaxation: the gap of every cell moves by ``-g0 s N`` once (``N`` one normal per cell), so
    ``G`` is multiplied by ``exp(s N)``, a log-normal factor (always > 0). The walk's size ``s``
    depends on the cell's conductance ``g`` and the time: it is the one whose rms deviation
    ``g sqrt(E[(e^{s N} - 1)^2])`` equals ``relax_scale * g * sigma_W(L, t) / L``, ``sigma_W`` the
    relaxation spread of :class:`NeuRRAMError` (the aihwkit fits of Wan et al. 2022: variance
    ``sigma_1d^2 - sigma_1s^2`` at 1 day, linear in ``log10 t`` from 0 at 1 s, held at 2 days),
    ``L = clip(g, *g_range)``. Within the valid range the rms deviation is the fit's at every level
    and time; below it (RESET cells of a pruned array, 0.1-1 uS) the relative walk of the range's
    lowest level applies (a judgement: the fit's relative growth at 0.1 uS, 6.5x, is not a
    log-normal walk's), above it that of the top. Where it still differs from the fit: the
    deviations are log-normal, not normal (skewed upwards, a mean shift of
    ``g (exp(s^2 / 2) - 1)``, about +0.25 uS at 1 uS and 1 day, never below 0 S); on a device state
    (:meth:`at`) the gap limits are kept; nothing moves before 1 s (the fits start there).
    ``docs/device-errors.md`` has the figures.

    Attributes
    ----------
    params : FilamentParams
    tolerance_frac : float
        Verify band as a fraction of ``g_range[1]`` (0 < tolerance_frac < 1).
    max_pulses : int
        Pulse budget per cell.
    read_noise : float
        Relative noise of the verify reads.
    relax_scale : float
        Factor on the calibrated relaxation spread (>= 0; 1 is the fit, 0 no relaxation).
    g_range : tuple of float
        Valid targets, siemens: 1-28.4 uS (the study's mapping range; the preset reaches about 1-60 uS).
    """

    name: str = field(default="filament", init=False)
    params: FilamentParams = TAOX_40NM
    tolerance_frac: float = 0.02
    max_pulses: int = 100
    read_noise: float = 0.01
    relax_scale: float = 1.0
    g_range: tuple[float, float] = (1.0 * US, 28.4 * US)

    def __post_init__(self) -> None:
        if not isinstance(self.params, FilamentParams):
            raise DeviceModelError(
                f"FilamentError.params must be a FilamentParams, got {type(self.params).__name__}")
        frac = real_scalar(self.tolerance_frac, "FilamentError.tolerance_frac", DeviceModelError)
        if not 0 < frac < 1:
            raise DeviceModelError(f"FilamentError.tolerance_frac must be in (0, 1), got {frac}")
        integer(self.max_pulses, "FilamentError.max_pulses", DeviceModelError, minimum=0)
        for name in ("read_noise", "relax_scale"):
            v = real_scalar(getattr(self, name), f"FilamentError.{name}", DeviceModelError)
            if v < 0:
                raise DeviceModelError(f"FilamentError.{name} must be >= 0, got {v}")
        _check_range("FilamentError", self.g_range)
        if self.g_range[0] <= 0:
            raise DeviceModelError("FilamentError.g_range must start above 0 S (write-and-verify "
                                   f"needs positive targets), got {self.g_range[0]}")

    def _relative(self, g, t: float) -> np.ndarray:
        """Relative rms deviation of the relaxation at level ``g`` and ``t`` seconds: the growth
        of the floored NeuRRAM spread from 1 s to ``t`` at ``L = clip(g, *g_range)``, over ``L``."""
        level = np.clip(np.asarray(g, dtype=float), *self.g_range)
        wan = NeuRRAMError()
        s1 = wan.program_sigma(level)
        st = np.sqrt(s1 ** 2 + wan.relax_sigma(level, t) ** 2)
        grown = np.maximum(_floored_ms(level, st) - _floored_ms(level, s1), 0.0)
        return self.relax_scale * np.sqrt(grown) / level

    def _walk(self, g, t: float) -> np.ndarray:
        """The log-normal walk's ``s`` of every cell at level ``g`` and ``t`` seconds."""
        return _lognormal_s(self._relative(g, t))

    def relax_sigma(self, g, t) -> np.ndarray:
        """Rms deviation ``g sqrt(E[(e^{s N} - 1)^2])`` of the relaxation at ``t`` seconds, siemens."""
        g = np.asarray(g, dtype=float)
        return g * self._relative(g, parse_time(t))

    def relax(self, g, t, *, rng) -> np.ndarray:
        """Conductances ``g`` multiplied by ``exp(s N)``, ``s`` the walk at ``g`` and ``t``."""
        t = parse_time(t)
        g = _levels(g, self.name)
        return g * np.exp(self._walk(g, t) * as_rng(rng).standard_normal(g.shape))

    def at(self, programmed: Programmed, t, *, rng) -> np.ndarray:
        """Conductances of ``programmed`` at ``t`` seconds: its device state's gaps moved by
        ``-g0 s N`` within the gap limits when it has a state (the same draws as :meth:`relax`),
        else :meth:`relax` on its conductances."""
        if not isinstance(programmed, Programmed):
            raise DeviceModelError(
                f"programmed must be a Programmed, got {type(programmed).__name__}")
        if programmed.state is None:
            return self.relax(programmed.conductance, t, rng=rng)
        return read_conductance(self.relax_state(programmed.state, t, rng=rng))

    def relax_state(self, state: CellState, t, *, rng) -> CellState:
        """Device state ``state`` relaxed to ``t`` seconds: every gap moved by ``-g0 s N`` (``s``
        at the cell's own conductance), kept within ``[gap_min, gap_max]``."""
        if not isinstance(state, CellState):
            raise DeviceModelError(f"state must be a CellState, got {type(state).__name__}")
        t = parse_time(t)
        p = state.params
        s = self._walk(read_conductance(state), t)
        gap = state.gap - p.g0 * s * as_rng(rng).standard_normal(state.shape)
        return state.with_gap(np.clip(gap, p.gap_min, p.gap_max))

    def program(self, target_g, *, rng) -> Programmed:
        """Electroform fresh cells and program them by incremental write-and-verify."""
        g = _targets(target_g, self.g_range, self.name)
        res = write_verify_incremental(
            g, rng=rng, tolerance_frac=self.tolerance_frac, g_max=self.g_range[1],
            params=self.params, max_pulses=self.max_pulses, read_noise=self.read_noise)
        return Programmed(target=g, conductance=res.conductance, cost=res.cost, state=res.state)


def _check_range(owner: str, g_range) -> None:
    ok = (isinstance(g_range, tuple) and len(g_range) == 2
          and all(isinstance(v, (int, float)) and math.isfinite(v) for v in g_range)
          and 0 <= g_range[0] < g_range[1])
    if not ok:
        raise DeviceModelError(f"{owner}.g_range must be a tuple (g_min, g_max) of siemens with "
                               f"0 <= g_min < g_max, got {g_range!r}")


#: The error models by name.
ERROR_MODELS: dict[str, type] = {
    "neurram": NeuRRAMError, "cmo-hfox": CmoHfOxError, "filament": FilamentError}


def error_model(name: str, **options) -> NeuRRAMError | CmoHfOxError | FilamentError:
    """The error model called ``name`` (``neurram``, ``cmo-hfox``, ``filament``) with its options,
    e.g. ``error_model("cmo-hfox", acceptance=0.002)``."""
    if name not in ERROR_MODELS:
        raise DeviceModelError(f"error model {name!r} is not one of {sorted(ERROR_MODELS)}")
    try:
        return ERROR_MODELS[name](**options)
    except TypeError as exc:
        raise DeviceModelError(f"error model {name!r}: {exc}") from None


__all__ = ["TIMES", "parse_time", "parse_times", "Programmed", "NeuRRAMError", "CmoHfOxError",
           "FilamentError", "ERROR_MODELS", "error_model"]
