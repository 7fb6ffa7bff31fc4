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

Per-batch levels (the source study's code, lyd126/Pruning_random_resistive_memory_for_optimizing_analogue_AI)
--------------------------------------------------------------------------------------------------------------
Beside the fixed range above, :class:`rramsim.nn.layers.Quantize` offers the two quantisers of the
study's training scripts, whose ``2**bits`` levels are recomputed from every batch:

* ``"minmax"`` (its Fashion-MNIST, U-Net and hardware spoken-digit scripts,
  :func:`minmax_levels`): uniform levels of step ``(max - min) / (2**bits - 1)``; unsigned
  (after a ReLU) the levels are ``j * step``, signed they sit on the multiples of the step from
  ``floor(min / step) * step`` up.
* ``"quantile"`` (its software spoken-digit script, "un-uni", :func:`quantile_levels`): levels at
  the batch's quantiles; unsigned, the first level is the minimum (0 after a ReLU) and the others
  the quantiles ``(i + 1/2) / (2**bits - 1)`` of the non-zero values.

Values go to the nearest level (:func:`nearest_level`, ties to the lower level, as the study's
``x > mid`` / ``x <= mid`` comparisons). A chip's DAC has fixed levels: :func:`calibrate_levels`
fixes them after training to the mean of the per-batch levels over the training set.
"""

from __future__ import annotations

import numpy as np

from rramsim.errors import QuantizationError

#: Quantiser modes of :class:`rramsim.nn.layers.Quantize`.
MODES = ("fixed", "minmax", "quantile")


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


def _levels_count(bits: int) -> int:
    if int(bits) != bits or bits < 1 or bits > 16:
        raise QuantizationError(f"per-batch levels need bits in [1, 16], got {bits!r}")
    return 2 ** int(bits)


def minmax_levels(x: np.ndarray, bits: int, *, signed: bool = False) -> np.ndarray:
    """The ``2**bits`` uniform levels of a batch ``x`` from its minimum and maximum.

    Step ``d = (max - min) / (2**bits - 1)``; unsigned (values after a ReLU) the levels are
    ``j d``, ``j = 0 .. 2**bits - 1``; signed they are ``(floor(min / d) + j) d`` (the grid of the
    study's ``torch.quantize_per_tensor`` with its zero point; a value ``v`` goes to
    ``(round((v - min) / d) + floor(min / d)) d``, which is the nearest of these levels). A batch of
    equal values (``d = 0``) has all levels at that value.

    Returns
    -------
    ndarray, (2**bits,)
        Ascending levels, in ``x``'s floating dtype.
    """
    n = _levels_count(bits)
    x = np.asarray(x)
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise QuantizationError("minmax levels need a non-empty batch of finite values")
    lo, hi = x.min(), x.max()
    step = (hi - lo) / (n - 1)
    j = np.arange(n, dtype=x.dtype)
    if step == 0:
        return np.full(n, lo, dtype=x.dtype)
    if signed:
        return ((np.floor(lo / step) + j) * step).astype(x.dtype)
    return (j * step).astype(x.dtype)


def quantile_levels(x: np.ndarray, bits: int, *, signed: bool = False,
                    return_index: bool = False):
    """The ``2**bits`` levels of a batch ``x`` at its quantiles (the study's 'un-uni').

    With ``s`` the ascending values of ``x`` (``n`` of them) and ``L = 2**bits``: signed, level
    ``i`` is ``s[round((i + 1/2) n / L)]``; unsigned (after a ReLU, ``z`` zeros), level 0 is
    ``s[0]`` and level ``i >= 1`` is ``s[z + round((i - 1/2) (n - z) / (L - 1))]``. Rounding is
    half-to-even (``numpy.round``, as the study); an index past the end (tiny batches, where the
    study's code fails) is clipped to the last value.

    Parameters
    ----------
    return_index : bool
        Also return the flat positions in ``x`` the levels were taken from (for the gradient
        the study's recurrent state quantiser passes back to them).

    Returns
    -------
    ndarray, (2**bits,)  [, ndarray of int, (2**bits,)]
    """
    n_lv = _levels_count(bits)
    flat = np.asarray(x).ravel()
    if flat.size == 0 or not np.all(np.isfinite(flat)):
        raise QuantizationError("quantile levels need a non-empty batch of finite values")
    order = np.argsort(flat, kind="stable")
    s = flat[order]
    n = s.size
    # the positions as the study computes them (start + i * step): when p * n is near a half,
    # another formula for the same p can round the other way
    if signed:
        p = np.arange(0.5 / n_lv, 1, 1 / n_lv)
        idx = np.round(p * n).astype(np.int64)
    else:
        z = int(np.count_nonzero(s == 0))
        p = np.arange(0.5 / (n_lv - 1), 1, 1 / (n_lv - 1))
        idx = np.concatenate([[0], np.round(p * (n - z)).astype(np.int64) + z])
    idx = np.minimum(idx, n - 1)
    levels = s[idx]
    return (levels, order[idx]) if return_index else levels


def nearest_level(x: np.ndarray, levels: np.ndarray, *, return_index: bool = False):
    """Each value of ``x`` replaced by the nearest of the ascending ``levels``.

    Value ``v`` goes to level ``i`` when ``m[i-1] < v <= m[i]`` with ``m[i]`` the midpoint of levels
    ``i`` and ``i + 1`` (``v <= m[0]``: level 0; ``v > m[-1]``: the last level): a tie goes to the
    lower level, as in the study's code. ``return_index`` also returns the level index of each value.
    """
    x = np.asarray(x)
    levels = np.asarray(levels, dtype=x.dtype if x.dtype.kind == "f" else np.float64)
    if levels.ndim != 1 or levels.size < 1 or np.any(np.diff(levels) < 0):
        raise QuantizationError("levels must be a non-empty ascending 1-D array")
    mids = (levels[:-1] + levels[1:]) / 2
    i = np.searchsorted(mids, x, side="left")
    out = levels[i]
    return (out, i) if return_index else out


def minmax_quantize(x: np.ndarray, bits: int, *, signed: bool = False) -> tuple:
    """The study's per-batch min/max quantiser: ``(q(x), levels)`` (levels: :func:`minmax_levels`).

    Unsigned: ``q(v) = d * round(v / d)`` (codes clipped to ``[0, 2**bits - 1]``; the study's 8-bit
    container would let codes pass ``2**bits - 1`` when a batch's minimum is above 0). Signed:
    ``q(v) = d * (round((v - min) / d) + floor(min / d))``: the codes are counted from the batch's
    minimum and the grid shifted down to the multiples of ``d``, exactly as the study's
    ``torch.quantize_per_tensor`` with its zero point (so ``q`` is not the nearest level when
    ``min`` is not a multiple of ``d``). Rounding is half-to-even, as ``torch``'s.
    """
    levels = minmax_levels(x, bits, signed=signed)
    x = np.asarray(x)
    n = levels.size
    step = (levels[-1] - levels[0]) / (n - 1)
    if step == 0:
        return np.full_like(x, levels[0]), levels
    if signed:
        lo = x.min()
        codes = np.clip(np.round((x - lo) / step), 0, n - 1)
        return ((codes + np.floor(lo / step)) * step).astype(x.dtype), levels
    return (np.clip(np.round(x / step), 0, n - 1) * step).astype(x.dtype), levels


def batch_quantize(x: np.ndarray, bits: int, mode: str, *, signed: bool = False) -> tuple:
    """``(q(x), levels)`` of the per-batch quantiser ``mode`` ("minmax" or "quantile")."""
    if mode == "minmax":
        return minmax_quantize(x, bits, signed=signed)
    if mode == "quantile":
        levels = quantile_levels(x, bits, signed=signed)
        return nearest_level(x, levels), levels
    raise QuantizationError(f"per-batch levels need mode 'minmax' or 'quantile', got {mode!r}")


def calibrate_levels(net, x: np.ndarray, *, batch_size: int) -> list:
    """Fix the levels of every per-batch quantiser of ``net`` for inference on a chip.

    ``x`` (the training set) runs through ``net`` in evaluation mode in batches of ``batch_size``
    (the training batch size, so that the levels are those training saw), every per-batch quantiser
    with its per-batch levels; each quantiser's fixed levels become the mean of its per-batch levels
    over the batches (a recurrent state quantiser: over the batches and the time steps), and its
    inference switches to them (``inference = "fixed"``). Quantisers are fixed in network order,
    each seeing the ones before it already fixed.

    Returns
    -------
    list of ndarray
        The fixed levels of each per-batch quantiser, in network order.
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise QuantizationError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    out = []
    for q in [la for la in net.layers if getattr(la, "per_batch", False)]:
        q.inference = "batch"
        q.recorded = []
        try:
            for start in range(0, len(x) - batch_size + 1 if len(x) >= batch_size else 1,
                              batch_size):
                net.forward(x[start : start + batch_size])
            if not q.recorded:
                raise QuantizationError("no batch reached the quantiser")
            levels = np.mean(np.stack(q.recorded), axis=0)
        finally:
            q.recorded = None
        q.levels = tuple(float(v) for v in np.sort(levels))
        q.inference = "fixed"
        out.append(np.array(q.levels))
    return out
