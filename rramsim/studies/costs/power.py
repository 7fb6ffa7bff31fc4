"""Power balance of one solved tile: sources = cells + access + drivers + wires + sense.

The sources deliver ``P_src = sum_i V_i * i_in[i]`` (per input vector; ``i_in`` from the
:class:`~rramsim.solution.Solution`, both ends summed for ``drive="both"``). By Tellegen's theorem
this equals the power dissipated in the circuit's resistive branches, which
:func:`array_power` splits from the node voltages into

* ``cells``: ``sum G (V_wl - V_bl)^2`` for linear cells, ``sum I(V) V`` for sinh cells
  (``I = G v0 sinh(V / v0)``), the cell part only when an access transistor sits in series;
* ``access``: ``I^2 r_access`` in the 1T1R access transistors;
* ``driver``: ``I^2 r_driver`` in the row drivers' output resistance;
* ``wordline`` and ``bitline``: ``(dV)^2 / r`` in every wire segment;
* ``sense``: ``i_out * v_sense`` delivered into the sense node (0 for an ideal TIA, ``i^2 R`` for a
  sense resistor, ``i^2 R_f / (1 + A)`` at a finite-gain TIA's input).

Energy per read is power times the read time ``t_read_s`` (DC read; the transient charging of the
line capacitance is not included). For many inputs on a linear tile, the power is the quadratic
form ``P = v^T Y v`` of the tile's input admittance matrix ``Y`` (:func:`input_admittance`), so
energy over a whole test set costs one matrix product.

"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim.errors import EnergyError
from rramsim.studies import programming


# ---------------------------------------------------------------------------------------------
# array power from a solved tile
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ArrayPower:
    """Power balance of a solved tile, watts, one value per input vector (shape (B,)).

    Attributes
    ----------
    source : ndarray
        Power delivered by the row sources, ``sum_i V_i i_in[i]``.
    cells, access, driver, wordline, bitline, sense : ndarray
        Power dissipated in the cells, access transistors, driver resistances, word-line and
        bit-line segments, and delivered into the sense nodes.
    """

    source: np.ndarray
    cells: np.ndarray
    access: np.ndarray
    driver: np.ndarray
    wordline: np.ndarray
    bitline: np.ndarray
    sense: np.ndarray

    @property
    def wires(self) -> np.ndarray:
        """Word-line plus bit-line segment dissipation, watts."""
        return self.wordline + self.bitline

    @property
    def dissipated(self) -> np.ndarray:
        """Sum of all dissipation terms, watts (equals ``source`` by energy conservation)."""
        return self.cells + self.access + self.driver + self.wordline + self.bitline + self.sense

    def as_dict(self) -> dict[str, np.ndarray]:
        """The terms by name (``source``, ``cells``, ..., ``wires``), watts."""
        return {"source": self.source, "cells": self.cells, "access": self.access,
                "driver": self.driver, "wordline": self.wordline, "bitline": self.bitline,
                "sense": self.sense, "wires": self.wires}


def _seg_power(dv: np.ndarray, r: float) -> np.ndarray:
    """Sum over the trailing axes of dv^2 / r (0 for r == 0: the nodes are one node)."""
    if r == 0:
        return np.zeros(dv.shape[0])
    return np.sum(dv.reshape(dv.shape[0], -1) ** 2, axis=1) / r


def _sinh_cell_with_access(v: np.ndarray, g: np.ndarray, v0: np.ndarray,
                           ra: np.ndarray) -> np.ndarray:
    """Current through a sinh cell in series with ``ra`` under total voltage ``v`` (Newton).

    Solves ``G v0 sinh(u / v0) = (|v| - u) / ra`` for the cell voltage ``u`` in ``[0, |v|]``;
    the left side is increasing and convex in ``u``, so Newton from ``u = |v|`` decreases
    monotonically to the root.
    """
    a = np.abs(v)
    u = a.copy()
    for _ in range(100):
        f = g * v0 * np.sinh(u / v0) - (a - u) / ra
        df = g * np.cosh(u / v0) + 1.0 / ra
        step = f / df
        u = u - step
        if np.all(np.abs(step) <= 1e-15 * np.maximum(a, 1e-30)):
            break
    return np.sign(v) * (a - u) / ra


def _cell_power(xb, vc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cells, access): power in the cells and in their access transistors, per input vector,
    from the (B, M, N) voltages ``vc`` across each cell and its access transistor."""
    g = xb.conductance
    zeros = np.zeros(vc.shape[0])
    if xb.sinh_v0 is None:
        if xb.r_access is None:
            return np.sum(g * vc**2, axis=(1, 2)), zeros
        i_cell = xb.effective_conductance() * vc
        with np.errstate(divide="ignore", invalid="ignore"):
            p_cell = np.where(g > 0, i_cell**2 / np.where(g > 0, g, 1.0), 0.0)
        return np.sum(p_cell, axis=(1, 2)), np.sum(i_cell**2 * xb.r_access, axis=(1, 2))
    v0 = np.broadcast_to(xb.sinh_v0, g.shape)
    if xb.r_access is None:
        return np.sum(g * v0 * np.sinh(vc / v0) * vc, axis=(1, 2)), zeros
    ra = np.broadcast_to(xb.r_access, g.shape)
    i_cell = _sinh_cell_with_access(vc, g, v0, ra)
    p_access = i_cell**2 * ra
    return (np.sum(i_cell * vc, axis=(1, 2)) - np.sum(p_access, axis=(1, 2)),
            np.sum(p_access, axis=(1, 2)))


def _wordline_power(xb, v: np.ndarray, vw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(driver, wordline): driver + first segment, then N-1 segments (and the far end for
    ``drive="both"``), per input vector, from the sources ``v`` and word-line voltages ``vw``."""
    rd, rw = xb.r_driver, xb.r_wordline
    r_entry = rd + rw
    zeros = np.zeros(v.shape[0])

    def entry(dv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if r_entry == 0:
            return zeros, zeros
        i = dv / r_entry
        return np.sum(i**2, axis=1) * rd, np.sum(i**2, axis=1) * rw

    d_left, w_left = entry(v - vw[:, :, 0])
    driver = d_left
    wordline = w_left + _seg_power(np.diff(vw, axis=2), rw)
    if xb.drive == "both":
        d_right, w_right = entry(v - vw[:, :, -1])
        driver = driver + d_right
        wordline = wordline + w_right
    return driver, wordline


def array_power(xb, sol, v_in) -> ArrayPower:
    """Split the power the sources deliver into its dissipation in the tile's branches.

    Parameters
    ----------
    xb : rramsim.crossbar.Crossbar
        The tile that was solved.
    sol : rramsim.solution.Solution
        Its solution for ``v_in`` (fast solver or ngspice).
    v_in : array_like, (M,) or (B, M)
        The source voltages, volts.

    Returns
    -------
    ArrayPower
        Terms of shape (B,) (B = 1 for a single input).
    """
    v, _ = xb.check_input(v_in)
    b = v.shape[0]
    m, n = xb.shape
    vw = np.asarray(sol.v_wordline, dtype=float).reshape(b, m, n)
    vb = np.asarray(sol.v_bitline, dtype=float).reshape(b, m, n)
    vs = np.asarray(sol.v_sense, dtype=float).reshape(b, n)
    i_in = np.asarray(sol.i_in, dtype=float).reshape(b, m)
    i_out = np.asarray(sol.i_out, dtype=float).reshape(b, n)

    source = np.sum(v * i_in, axis=1)

    cells, access = _cell_power(xb, vw - vb)
    driver, wordline = _wordline_power(xb, v, vw)

    # bit lines: M-1 segments between cells, one into the sense node
    rbl = xb.r_bitline
    bitline = _seg_power(np.diff(vb, axis=1), rbl) + _seg_power(vb[:, -1, :] - vs, rbl)

    sense = xb.sense.power(i_out, vs)
    return ArrayPower(source=source, cells=cells, access=access, driver=driver,
                      wordline=wordline, bitline=bitline, sense=sense)


def input_admittance(xb) -> np.ndarray:
    """The (M, M) input admittance matrix Y of a linear tile, siemens: ``i_in = Y v``.

    Computed by :func:`rramsim.solver.input_admittance` (for large grid tiles from the same
    multifrontal Schur complement as the transfer matrix; otherwise from one batched solve of the M
    unit inputs). Y is symmetric (reciprocity), so the source power is ``v^T Y v``.

    Raises
    ------
    EnergyError
        If the tile has non-linear cells (the power is then not a quadratic form).
    """
    if not xb.is_linear:
        raise EnergyError("input_admittance needs a linear tile (sinh_v0 is set)")
    return programming.input_admittance(xb)


def source_power(y: np.ndarray, v) -> np.ndarray:
    """Source power ``v^T Y v`` in watts for each row of ``v`` ((B, M) volts) given Y (M, M)."""
    v2 = np.atleast_2d(np.asarray(v, dtype=float))
    if y.shape != (v2.shape[1], v2.shape[1]):
        raise EnergyError(f"admittance shape {y.shape} does not fit inputs of width {v2.shape[1]}")
    return np.einsum("bi,ij,bj->b", v2, y, v2)




def power_split(hw, records, *, tiles: int = 4, inputs: int = 16) -> dict[str, float]:
    """Where the array's power goes, from full solves of a sample (fractions of source power).

    Solves up to ``tiles`` tiles of the first recorded layers (``records``: layer -> drive
    voltages (rows, fan_in)) for ``inputs`` drives each with :func:`rramsim.solver.solve` and
    splits the power with :func:`array_power`. Returns fractions for ``cells``, ``access``,
    ``driver``, ``wires`` and ``sense``, plus ``balance_rel``, the worst relative mismatch between
    source power and total dissipation (energy conservation; ~1e-12 expected).
    """
    totals = {"source": 0.0, "cells": 0.0, "access": 0.0, "driver": 0.0, "wires": 0.0,
              "sense": 0.0}
    worst = 0.0
    done = 0
    for k, v in sorted(records.items()):
        for t, full in hw.plan[k].tile_drive(np.asarray(v)[:inputs], hw.tile_shape[0]).items():
            if done >= tiles:
                break
            xb = hw.tiles[t]
            p = array_power(xb, hw.solve(t, full), full)
            for key in totals:
                totals[key] += float(np.sum(getattr(p, key)))
            src = np.maximum(np.abs(p.source), 1e-300)
            worst = max(worst, float(np.max(np.abs(p.dissipated - p.source) / src)))
            done += 1
    src = totals.pop("source")
    out = {k: (v / src if src > 0 else float("nan")) for k, v in totals.items()}
    out["balance_rel"] = worst
    return out
