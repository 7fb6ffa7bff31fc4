"""Converters at the array's edges: DAC input quantisation, TIA gain and ADC output quantisation.

The source study drives the array from a DAC (board-level DAC80508, 16 bit) with inputs
quantised to a few bits (4 bit for Fashion-MNIST, 3 bit for spoken digits, 6 bit for DRIVE) and
reads each bit line with a transimpedance amplifier (OPA4322) into a 14-bit ADC (ADS8324) [1]_.

Model
-----
* **DAC** (:class:`DAC`): a non-negative activation ``x`` in ``[0, x_full_scale]`` is quantised to
  ``bits`` bits, ``code = round(x / x_full_scale * (2**bits - 1))`` (saturating at the ends), and
  driven as ``v = code / (2**bits - 1) * v_read_V``. Signed inputs (``signed=True``) use the
  symmetric range ``code in [-(2**(bits-1) - 1), 2**(bits-1) - 1]``.
* **TIA** : an ideal virtual-ground TIA with feedback resistance ``R_f`` turns the bit-line
  current into ``v_tia = -R_f * i`` (the sign is dropped below: the ADC's differential input
  takes either polarity).
* **ADC** (:class:`ADC`): a signed ``bits``-bit mid-tread quantiser of ``R_f * i`` over
  ``[-v_full_scale_V, +v_full_scale_V]``; codes saturate at the ends (a real converter clips; the
  fraction clipped is reported by :meth:`ADC.saturation`).
* **Range calibration** (:func:`calibrate_adc`): ``R_f`` is chosen so that the calibration
  batch's current full scale ``i_fs`` maps onto the ADC's full scale,
  ``R_f = v_full_scale_V / i_fs``, with ``i_fs = max |i|`` (``method="max"``) or the
  ``percentile``-th percentile of ``|i|`` (``method="percentile"``, trading rare clipping for finer
  steps). The calibration batch is part of the training data, never the test set.

References
----------
.. [1] Y. Li et al., "Pruning random resistive memory for optimizing analogue AI",
   arXiv:2311.07164 (2023); Nature Communications (2026), Methods: hardware system.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rramsim.errors import QuantizerError
from rramsim.nn.quant import uniform_codes

Calibration = Literal["max", "percentile"]
#: How a range calibration picks the full scale of the calibration currents.
RANGE_CALIBRATIONS: tuple[str, ...] = ("max", "percentile")


def _check_bits(name: str, bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise QuantizerError(f"{name} must be an integer number of bits, got {bits!r}")
    if not 1 <= int(bits) <= 32:
        raise QuantizerError(f"{name} must be in 1..32 bits, got {bits}")
    return int(bits)


def _check_positive(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise QuantizerError(f"{name} must be a number, got {value!r}") from exc
    if not np.isfinite(v) or v <= 0:
        raise QuantizerError(f"{name} must be finite and > 0, got {v}")
    return v


def _finite(name: str, x) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise QuantizerError(f"{name} holds NaN or infinite values")
    return arr


def quantize_uniform(x, *, bits: int, full_scale: float, signed: bool) -> np.ndarray:
    """Mid-tread uniform quantiser with saturation; returns values (not codes), same shape as ``x``.

    Unsigned: ``n = 2**bits - 1`` steps over ``[0, full_scale]``. Signed: ``n = 2**(bits-1) - 1``
    steps over ``[0, full_scale]`` on each side of 0 (symmetric: 0 is exact, ``q(-x) = -q(x)``).
    ``q(x) = round(clip(x, lo, full_scale) * n / full_scale) * full_scale / n`` with ``lo = 0`` or
    ``-full_scale``; rounding is half-to-even. The arithmetic is the package's one quantiser,
    :func:`rramsim.nn.quant.uniform_codes`; this function adds the converter checks (1..32 bits,
    finite input) with :class:`~rramsim.errors.QuantizerError`.

    Parameters
    ----------
    x : array_like
        Values in the unit of ``full_scale``. Not modified.
    bits : int
        Resolution, 1..32 (signed needs >= 2).
    full_scale : float
        Largest representable magnitude (> 0).
    signed : bool
        Symmetric signed range, else ``[0, full_scale]``.
    """
    codes, n, fs = _uniform(x, bits=bits, full_scale=full_scale, signed=signed)
    return codes * (fs / n)


def _uniform(x, *, bits: int, full_scale: float, signed: bool) -> tuple[np.ndarray, int, float]:
    """The checked quantiser: ``(codes as floats, steps n, full scale)``."""
    bits = _check_bits("bits", bits)
    fs = _check_positive("full_scale", full_scale)
    arr = _finite("x", x)
    if signed:
        if bits < 2:
            raise QuantizerError("a signed quantiser needs at least 2 bits")
        n = 2 ** (bits - 1) - 1
    else:
        n = 2**bits - 1
    return uniform_codes(arr, n, fs, signed=signed), n, fs


@dataclass(frozen=True)
class DAC:
    """Input DAC: activations to word-line voltages.

    Attributes
    ----------
    bits : int
        Input resolution in bits (the study: 3-6 bit inputs).
    v_read_V : float
        Read voltage at full-scale input, volts (> 0; 0.1-0.2 V for TaOx reads).
    signed : bool
        Inputs may be negative (driven with negative voltages); False for ReLU outputs, pixels.
    """

    bits: int = 4
    v_read_V: float = 0.1
    signed: bool = False

    def __post_init__(self) -> None:
        _check_bits("DAC.bits", self.bits)
        _check_positive("DAC.v_read_V", self.v_read_V)
        if self.signed and self.bits < 2:
            raise QuantizerError("a signed DAC needs at least 2 bits")

    def voltages(self, x, x_full_scale: float) -> np.ndarray:
        """Quantised word-line voltages (volts) for activations ``x``, full scale ``x_full_scale``.

        Values beyond full scale saturate; negative values saturate at 0 unless ``signed``.
        """
        fs = _check_positive("x_full_scale", x_full_scale)
        q = quantize_uniform(x, bits=self.bits, full_scale=fs, signed=self.signed)
        return q * (self.v_read_V / fs)

    def quantize(self, x, x_full_scale: float) -> np.ndarray:
        """The activations the DAC actually represents, in the unit of ``x``."""
        fs = _check_positive("x_full_scale", x_full_scale)
        return quantize_uniform(x, bits=self.bits, full_scale=fs, signed=self.signed)

    def codes(self, x, x_full_scale: float) -> np.ndarray:
        """Integer DAC codes of activations ``x`` (``quantize(x) = codes * x_full_scale / n``
        with ``n = 2**bits - 1``, signed ``2**(bits-1) - 1``)."""
        fs = _check_positive("x_full_scale", x_full_scale)
        return _uniform(x, bits=self.bits, full_scale=fs, signed=self.signed)[0].astype(np.int64)


@dataclass(frozen=True)
class ADC:
    """TIA plus ADC on one bit line: current in, quantised current out.

    Attributes
    ----------
    bits : int
        ADC resolution in bits (ADS8324: 14), signed (differential input).
    v_full_scale_V : float
        ADC input full scale, volts (ADS8324: +-V_ref, V_ref <= V_CC / 2; 0.9 V at 1.8 V supply).
    tia_gain_ohm : float
        TIA transimpedance R_f, ohms (> 0); set by :func:`calibrate_adc`.
    """

    bits: int = 14
    v_full_scale_V: float = 0.9
    tia_gain_ohm: float = 10e3

    def __post_init__(self) -> None:
        b = _check_bits("ADC.bits", self.bits)
        if b < 2:
            raise QuantizerError("the ADC is signed and needs at least 2 bits")
        _check_positive("ADC.v_full_scale_V", self.v_full_scale_V)
        _check_positive("ADC.tia_gain_ohm", self.tia_gain_ohm)

    @property
    def i_full_scale_A(self) -> float:
        """Current that reaches the ADC's full scale, amperes."""
        return self.v_full_scale_V / self.tia_gain_ohm

    @property
    def i_lsb_A(self) -> float:
        """Current step of one ADC code, amperes."""
        return self.i_full_scale_A / (2 ** (self.bits - 1) - 1)

    def tia_voltage(self, i) -> np.ndarray:
        """TIA output magnitude ``R_f * i``, volts (the ideal TIA's output is its negative)."""
        return _finite("i", i) * self.tia_gain_ohm

    def codes(self, i) -> np.ndarray:
        """Signed integer ADC codes for bit-line currents ``i`` (amperes)."""
        n = 2 ** (self.bits - 1) - 1
        v = self.tia_voltage(i)
        return uniform_codes(v, n, self.v_full_scale_V, signed=True).astype(np.int64)

    def quantize(self, i) -> np.ndarray:
        """Currents as the ADC reports them (amperes): ``codes(i) * i_lsb_A``."""
        return self.codes(i) * self.i_lsb_A

    def saturation(self, i) -> float:
        """Fraction of ``i`` whose magnitude exceeds the full scale (clipped by the ADC)."""
        arr = np.abs(_finite("i", i))
        return float(np.mean(arr > self.i_full_scale_A)) if arr.size else 0.0


def full_scale(samples, *, method: Calibration = "max", percentile: float = 99.9) -> float:
    """Full scale of a calibration batch: ``max |x|`` or a percentile of ``|x|``.

    Raises
    ------
    QuantizerError
        Unknown method, percentile outside (0, 100], empty or all-zero batch.
    """
    if method not in RANGE_CALIBRATIONS:
        raise QuantizerError(f"calibration method must be one of {RANGE_CALIBRATIONS}, got {method!r}")
    arr = np.abs(_finite("calibration batch", samples)).ravel()
    if arr.size == 0:
        raise QuantizerError("calibration batch is empty")
    if method == "max":
        fs = float(arr.max())
    else:
        p = float(percentile)
        if not 0 < p <= 100:
            raise QuantizerError(f"percentile must be in (0, 100], got {p}")
        fs = float(np.percentile(arr, p))
    if fs <= 0:
        raise QuantizerError("calibration batch has zero full scale (all values 0)")
    return fs


def calibrate_adc(i_calib, *, bits: int = 14, v_full_scale_V: float = 0.9,
                      method: Calibration = "max", percentile: float = 99.9) -> ADC:
    """A :class:`ADC` whose TIA gain maps the calibration currents' full scale onto the ADC's.

    ``R_f = v_full_scale_V / i_fs`` with ``i_fs = full_scale(i_calib, method, percentile)``.

    Parameters
    ----------
    i_calib : array_like
        Bit-line currents of a calibration batch, amperes (training inputs, not the test set).
    bits, v_full_scale_V : see :class:`ADC`.
    method, percentile : see :func:`full_scale`.
    """
    i_fs = full_scale(i_calib, method=method, percentile=percentile)
    return ADC(bits=bits, v_full_scale_V=v_full_scale_V, tia_gain_ohm=v_full_scale_V / i_fs)
