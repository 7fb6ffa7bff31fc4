"""Kirchhoff's current law on a grid tile (both wire resistances > 0), from its node voltages.

One residual for every method that checks or drives a grid solution: the direct path checks its
solves with it (:mod:`rramsim.solver._direct`, cheaper than a sparse matrix product) and Newton's
method on sinh cells iterates on it (:mod:`rramsim.solver._newton`). The residual of a node is the
net current leaving it through its elements; the cell currents (linear or not) come from the caller.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rramsim.crossbar import Crossbar


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


def grid_kcl(xb: Crossbar, vw: np.ndarray, vb: np.ndarray, vs: np.ndarray, v: np.ndarray,
             cur: np.ndarray, g_drive: float, g_sense: float | None) -> GridKCL:
    """KCL residuals of a grid tile for a batch.

    vw, vb (B, M, N) word- and bit-line voltages at the cells, vs (B, N) sense-node voltages (zeros
    when S_j is ground), v (B, M) source voltages, cur (B, M, N) the cell currents from word line to
    bit line, ``g_drive = 1 / (r_driver + r_wordline)`` the conductance from source i to WL(i, 0)
    (and WL(i, N-1) for two-sided drive), ``g_sense`` the conductance from S_j to ground
    (:func:`rramsim.solver._nodal.sense_conductance`; None: S_j is ground).
    """
    gw, gb = 1.0 / float(xb.r_wordline), 1.0 / float(xb.r_bitline)
    both = xb.drive == "both"
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
