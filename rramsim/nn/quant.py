"""Uniform n-bit quantisation of inputs and activations: the package's one uniform quantiser.

The source study quantises the network inputs before the analogue matrix-vector multiply: 4 bit for
Fashion-MNIST, 3 bit for spoken digits, 6 bit for DRIVE (arXiv 2311.07164, Methods). The quantiser
here is the uniform mid-tread quantiser with ``n`` steps over ``[0, x_max]``

.. math:: q(x) = \\frac{x_{max}}{n}\\,\\mathrm{round}\\!\\left(n\\,
          \\frac{\\mathrm{clip}(x, 0, x_{max})}{x_{max}}\\right),

unsigned with ``n = 2^{bits} - 1`` (:func:`quantize`, for activations and inputs); the signed
variant clips to ``[-x_max, x_max]`` instead, so that 0 is exact and ``q(-x) = -q(x)``. Its gradient
is taken by the straight-through estimator: 1 inside ``[0, x_max]``, 0 outside.

:func:`uniform_codes` is the arithmetic every quantiser of the package uses (this module's
:func:`quantize`, and the input DAC and output ADC models of the studies, which sit above this
package); each caller checks its own parameters and raises its own error type.
"""

from __future__ import annotations

import numpy as np

from rramsim.errors import QuantizationError


def _check(bits: int, x_max: float) -> None:
    if int(bits) != bits or bits < 1 or bits > 24:
        raise QuantizationError(f"bits must be an integer in [1, 24], got {bits!r}")
    if not np.isfinite(x_max) or x_max <= 0:
        raise QuantizationError(f"x_max must be finite and > 0, got {x_max!r}")


def uniform_codes(x: np.ndarray, steps: int, full_scale: float, *, signed: bool = False) -> np.ndarray:
    """Integer codes (as floats) of the uniform mid-tread quantiser, saturating at the ends.

    ``round(clip(x, lo, full_scale) * (steps / full_scale))`` with ``lo = 0`` (unsigned) or
    ``-full_scale`` (signed): codes in ``[0, steps]`` or ``[-steps, steps]``; the value a code stands
    for is ``code * (full_scale / steps)``. Rounding is half-to-even (``numpy.round``).

    Parameters
    ----------
    x : ndarray
        Values in the unit of ``full_scale`` (float32 or float64; any shape; not modified).
    steps : int
        Steps on each side of 0 (``2**bits - 1`` unsigned, ``2**(bits-1) - 1`` signed), >= 1.
    full_scale : float
        Largest representable magnitude (finite, > 0).
    signed : bool
        Symmetric range ``[-full_scale, full_scale]``, else ``[0, full_scale]``.

    Returns
    -------
    ndarray
        A new array of ``x``'s shape and floating dtype.

    Raises
    ------
    QuantizationError
        ``steps`` < 1 or ``full_scale`` not finite and > 0 (callers with their own error type check
        these first).
    """
    if steps < 1:
        raise QuantizationError(f"a quantiser needs at least 1 step, got {steps!r}")
    if not np.isfinite(full_scale) or full_scale <= 0:
        raise QuantizationError(f"full scale must be finite and > 0, got {full_scale!r}")
    lo = -full_scale if signed else 0.0
    return np.round(np.clip(x, lo, full_scale) * (steps / full_scale))


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
    Rounding is half-to-even (``numpy.round``); the arithmetic is :func:`uniform_codes`.
    Study: 4/3/6-bit inputs, arXiv 2311.07164.

    Examples
    --------
    Two bits give the levels 0, 1/3, 2/3 and 1; values outside ``[0, x_max]`` saturate:

    >>> import numpy as np
    >>> from rramsim.nn.quant import quantize
    >>> quantize(np.array([-0.2, 0.1, 0.2, 0.5, 0.9, 1.7]), 2) * 3
    array([0., 0., 1., 2., 3., 3.])
    """
    _check(bits, x_max)
    levels = 2**bits - 1
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    return uniform_codes(x, levels, x_max) * (x_max / levels)


def quantize_grad(x: np.ndarray, grad: np.ndarray, x_max: float = 1.0) -> np.ndarray:
    """Straight-through gradient of :func:`quantize`: ``grad`` where ``0 <= x <= x_max``, else 0."""
    x = np.asarray(x)
    return np.where((x >= 0.0) & (x <= x_max), grad, np.zeros((), dtype=np.asarray(grad).dtype))
