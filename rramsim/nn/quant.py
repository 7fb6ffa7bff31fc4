"""Uniform n-bit quantisation of inputs and activations.

The source study quantises the network inputs before the analogue matrix-vector multiply: 4 bit for
Fashion-MNIST, 3 bit for spoken digits, 6 bit for DRIVE (arXiv 2311.07164, Methods). The quantiser
here is the unsigned uniform mid-tread quantiser

.. math:: q(x) = \\frac{x_{max}}{2^n - 1}\\,\\mathrm{round}\\!\\left((2^n - 1)
          \\frac{\\mathrm{clip}(x, 0, x_{max})}{x_{max}}\\right),

whose gradient is taken by the straight-through estimator: 1 inside ``[0, x_max]``, 0 outside.
"""

from __future__ import annotations

import numpy as np

from rramsim.errors import QuantizationError


def _check(bits: int, x_max: float) -> None:
    if int(bits) != bits or bits < 1 or bits > 24:
        raise QuantizationError(f"bits must be an integer in [1, 24], got {bits!r}")
    if not np.isfinite(x_max) or x_max <= 0:
        raise QuantizationError(f"x_max must be finite and > 0, got {x_max!r}")


def quantize(x: np.ndarray, bits: int, x_max: float = 1.0) -> np.ndarray:
    """Quantise ``x`` to ``2**bits`` uniform levels on ``[0, x_max]``.

    Parameters
    ----------
    x : ndarray
        Values to quantise (any shape; not modified).
    bits : int
        Resolution in bits (``2**bits`` levels including 0 and ``x_max``).
    x_max : float
        Full-scale value; inputs above it clip to it, inputs below 0 clip to 0.

    Returns
    -------
    ndarray
        A new array of the same shape (float32 for float32 input, else float64); every value is
        ``j * x_max / (2**bits - 1)`` for an integer ``j`` in ``[0, 2**bits - 1]``.

    Notes
    -----
    Rounding is half-to-even (``numpy.round``). Study: 4/3/6-bit inputs, arXiv 2311.07164.
    """
    _check(bits, x_max)
    levels = 2**bits - 1
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    return np.round(np.clip(x, 0.0, x_max) * (levels / x_max)) * (x_max / levels)


def quantize_grad(x: np.ndarray, grad: np.ndarray, x_max: float = 1.0) -> np.ndarray:
    """Straight-through gradient of :func:`quantize`: ``grad`` where ``0 <= x <= x_max``, else 0."""
    x = np.asarray(x)
    return np.where((x >= 0.0) & (x <= x_max), grad, np.zeros((), dtype=np.asarray(grad).dtype))
