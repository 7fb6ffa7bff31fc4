"""Stuck cells: a fraction of an array's cells stuck at a high (stuck-on) or low (stuck-off) level.

Which cells are stuck is a property of the array, not of what is programmed into it: it is drawn from
the array's shape and a seed only, so every network programmed onto the same array (the same shape
and seed) has the same stuck cells. For one seed the cells stuck at a smaller fraction are among
those stuck at a larger one (one uniform number per cell decides).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim._validate import real_array, real_scalar
from rramsim._validate import shape as as_shape
from rramsim.errors import DeviceModelError

#: The stuck fractions of a study's fault axis (each of stuck-on and stuck-off): 0, 0.5 %, 2 %.
FAULT_FRACTIONS = (0.0, 0.005, 0.02)


@dataclass(frozen=True, eq=False)
class StuckCells:
    """Boolean masks of the stuck cells of one array.

    Attributes
    ----------
    on, off : ndarray of bool
        Cells stuck at the high level and at the low level (never both).
    """

    on: np.ndarray
    off: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.on.shape

    def apply(self, g, *, g_on: float, g_off: float) -> np.ndarray:
        """``g`` (siemens, the array's shape) with stuck-on cells at ``g_on`` and stuck-off cells at
        ``g_off`` (siemens, >= 0); a copy."""
        arr = np.array(real_array(g, "g", DeviceModelError), dtype=float)
        if arr.shape != self.shape:
            raise DeviceModelError(f"g has shape {arr.shape}, the stuck cells {self.shape}")
        for name, v in (("g_on", g_on), ("g_off", g_off)):
            x = real_scalar(v, name, DeviceModelError, unit="siemens")
            if x < 0:
                raise DeviceModelError(f"{name} must be >= 0 siemens, got {x}")
        arr[self.on] = g_on
        arr[self.off] = g_off
        return arr


def stuck_cells(shape, *, seed: int, stuck_on: float = 0.0, stuck_off: float = 0.0) -> StuckCells:
    """The stuck cells of an array of ``shape``: a function of the shape and ``seed`` only.

    Each cell draws one uniform number ``u`` from ``seed``; it is stuck on when ``u < stuck_on`` and
    stuck off when ``stuck_on <= u < stuck_on + stuck_off``.

    Parameters
    ----------
    shape : tuple of int
        The array's shape (e.g. a tile's rows x columns).
    seed : int
        The array's fault seed (>= 0); a Generator is refused, since its state would make the cells
        depend on what was drawn before.
    stuck_on, stuck_off : float
        Fractions of the cells (each >= 0, together <= 1), e.g. 0.005.
    """
    shp = as_shape(shape, "shape", DeviceModelError)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DeviceModelError(f"seed must be an int >= 0 (the array's fault seed), got {seed!r}")
    f_on = real_scalar(stuck_on, "stuck_on", DeviceModelError)
    f_off = real_scalar(stuck_off, "stuck_off", DeviceModelError)
    if f_on < 0 or f_off < 0 or f_on + f_off > 1:
        raise DeviceModelError(f"stuck_on and stuck_off must be >= 0 with a sum <= 1, got "
                               f"stuck_on={f_on}, stuck_off={f_off}")
    u = np.random.default_rng(int(seed)).random(shp)
    on = u < f_on
    return StuckCells(on=on, off=~on & (u < f_on + f_off))
