"""The stamps and Kirchhoff's current law of a tile's wire grid, for every solver method.

:class:`GridStamps` holds the conductances the nodal equations stamp for the wires, the drivers and
the sense circuits, computed (and checked for overflow) once per tile; every method reads them from
there. :func:`grid_kcl` is the residual of a grid tile (both wire resistances > 0) from its node
voltages: the direct path checks its solves with it (:mod:`rramsim.solver._direct`, cheaper than a
sparse matrix product) and Newton's method on sinh cells iterates on it
(:mod:`rramsim.solver._newton`). The residual of a node is the net current leaving it through its
elements; the cell currents (linear or not) come from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from rramsim.crossbar import Crossbar
from rramsim.errors import SolverError


def is_grid(xb) -> bool:
    """Whether ``xb`` (a Crossbar, or any object with its wire resistances) is a grid tile: both
    wire resistances > 0, so no line merges into one node."""
    return float(xb.r_wordline) > 0 and float(xb.r_bitline) > 0


def _conductance(name: str, r: float) -> float:
    """``1 / r`` for a resistance ``r`` > 0 called ``name``; SolverError where it overflows."""
    with np.errstate(over="ignore", divide="ignore"):
        g = 1.0 / float(r)
    if not np.isfinite(g):
        raise SolverError(f"{name} = {r!r} ohm is too small: its conductance overflows")
    return g


@dataclass(frozen=True)
class GridStamps:
    """The conductances a tile's nodal equations stamp for its wires, drivers and sense circuits.

    All in siemens; a resistance of 0 joins its nodes into one and stamps nothing (None).

    Attributes
    ----------
    word : float or None
        ``1 / r_wordline``, each word-line segment (None: ``r_wordline = 0``).
    bit : float or None
        ``1 / r_bitline``, each bit-line segment, the last one into S_j included (None:
        ``r_bitline = 0``).
    drive : float or None
        ``1 / (r_driver + r_wordline)``, from source i to WL(i, 0), and to WL(i, N-1) for
        ``drive="both"`` (None: both resistances 0, the rows are pinned to their sources).
    sense : float or None
        From S_j to ground, :meth:`rramsim.crossbar.SenseCircuit.ground_conductance` (None: S_j is
        held at 0 V, so it is ground).
    both : bool
        The rows are driven at both ends.
    """

    word: float | None
    bit: float | None
    drive: float | None
    sense: float | None
    both: bool

    @classmethod
    def from_crossbar(cls, xb: Crossbar) -> GridStamps:
        """The stamps of tile ``xb``.

        Raises
        ------
        SolverError
            Naming the resistance (or the sense circuit) whose conductance overflows double
            precision (for example ``r_wordline = 1e-320``).
        """
        rw, rb, rd = float(xb.r_wordline), float(xb.r_bitline), float(xb.r_driver)
        word = _conductance("r_wordline", rw) if rw > 0 else None
        if rw > 0:
            drive = _conductance("r_driver + r_wordline", rd + rw)
        else:
            drive = _conductance("r_driver", rd) if rd > 0 else None
        bit = _conductance("r_bitline", rb) if rb > 0 else None
        sense = xb.sense.ground_conductance()
        if sense is not None and not np.isfinite(sense):
            raise SolverError(f"sense circuit {xb.sense!r}: its conductance to ground overflows "
                              f"({sense!r} S)")
        return cls(word=word, bit=bit, drive=drive, sense=sense, both=xb.drive == "both")

    @property
    def is_grid(self) -> bool:
        """Both wire resistances are > 0: every cell has its own word- and bit-line node."""
        return self.word is not None and self.bit is not None


class GridKCL(NamedTuple):
    """KCL residuals of a batch of B inputs on an M x N grid tile, amperes.

    ``word`` (B, M, N) and ``bit`` (B, M, N) at the word- and bit-line nodes of the cells, ``sense``
    (B, N) at the sense nodes S_j (None when they are ground). ``wire_word`` and ``wire_bit`` are the
    same without the cell currents (the wire and driver terms alone), and ``drive`` (B,) is the norm
    of the source terms ``g_drv v``: the sizes of the terms that balance in the residual.
    """

    word: np.ndarray
    bit: np.ndarray
    sense: np.ndarray | None
    wire_word: np.ndarray
    wire_bit: np.ndarray
    drive: np.ndarray


def grid_kcl(stamps: GridStamps, vw: np.ndarray, vb: np.ndarray, vs: np.ndarray, v: np.ndarray,
             cur: np.ndarray) -> GridKCL:
    """KCL residuals of a grid tile (its ``stamps``) for a batch.

    vw, vb (B, M, N) word- and bit-line voltages at the cells, vs (B, N) sense-node voltages (zeros
    when S_j is ground), v (B, M) source voltages, cur (B, M, N) the cell currents from word line to
    bit line.
    """
    gw, gb, g_drive, g_sense = stamps.word, stamps.bit, stamps.drive, stamps.sense
    both = stamps.both
    ww = np.zeros_like(vw)
    ww[:, :, 0] += g_drive * (vw[:, :, 0] - v)
    if both:
        ww[:, :, -1] += g_drive * (vw[:, :, -1] - v)
    dw = gw * (vw[:, :, 1:] - vw[:, :, :-1])
    ww[:, :, 1:] += dw
    ww[:, :, :-1] -= dw
    wb = np.zeros_like(vw)
    db = gb * (vb[:, 1:, :] - vb[:, :-1, :])
    wb[:, 1:, :] += db
    wb[:, :-1, :] -= db
    wb[:, -1, :] += gb * (vb[:, -1, :] - vs)
    rs = None if g_sense is None else gb * (vs - vb[:, -1, :]) + g_sense * vs
    drive = g_drive * np.linalg.norm(v, axis=1) * (np.sqrt(2.0) if both else 1.0)
    return GridKCL(word=ww + cur, bit=wb - cur, sense=rs, wire_word=ww, wire_bit=wb, drive=drive)
