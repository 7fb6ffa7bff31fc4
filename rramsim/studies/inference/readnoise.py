"""The exact first-order read noise of a linear tile, for checking the circuit mode's noise model.

Circuit mode (:mod:`rramsim.studies.inference.modes`) gives each bit line's read noise the
variance ``rel^2 sum_i (V_i T_ij)^2`` (T the tile's transfer matrix): cheap, one matrix product per
read. What a cell's conductance fluctuation ``dG_c = rel G_c xi_c`` (independent standard normal
``xi_c``) really does to the sense currents, to first order, follows from the nodal system
``K x = B v`` of the solved tile: ``dK = dG_c a_c a_c^T`` (``a_c`` the cell's two nodes with signs)
gives ``dx = -K^-1 a_c dG_c (a_c^T x)``, so sense current j changes by

    ``dI_j = -dG_c  V_c(v)  W_jc``,   ``V_c(v) = a_c^T x`` the cell's voltage under the drive v,
                                      ``W_jc = a_c^T K^-1 C^T e_j`` (reciprocity),

``C`` the sense-current rows (``I = C x``). ``W_jc`` is the voltage across cell c when one unit of
current is drawn from sense node j with every source at 0 V (the adjoint circuit): one solve per
column with the tile's factor, the same for every drive. Summed over the independent cells,

    ``std(I_j) = rel sqrt(sum_c (G_c V_c(v) W_jc)^2)``

(cells of other columns included: they reach column j through the word lines). It needs the
tile's nodal solution per drive, which is why inference uses ``V T`` instead; this module measures
how far apart the two are (``scripts/diag_read_noise.py``, ``docs/read_schemes.md``).
"""

from __future__ import annotations

import numpy as np

from rramsim import solver
from rramsim.errors import InferenceError
from rramsim.solver._direct import output_rows


def first_order_noise_std(xb, drives, *, chunk: int = 32) -> np.ndarray:
    """Exact first-order std of each sense current for a relative cell noise of 1.

    Parameters
    ----------
    xb : rramsim.crossbar.Crossbar
        A linear tile (``sinh_v0`` unset) with wire resistance on both lines. The noise is that
        of each cell's effective conductance (cell and access resistor in series).
    drives : array (B, M) or (M,)
        Source voltages of the rows, volts.
    chunk : int
        Columns whose adjoint solves run together (memory: ``chunk`` x the tile's unknowns).

    Returns
    -------
    ndarray (B, N)
        ``sqrt(sum_c (G_c V_c(v) W_jc)^2)`` per drive and column (amperes); multiply by the
        relative read noise.
    """
    if not xb.is_linear:
        raise InferenceError("the first-order read noise needs a linear tile (sinh_v0 is set)")
    if not (xb.r_wordline > 0 and xb.r_bitline > 0):
        raise InferenceError("the first-order read noise needs r_wordline > 0 and r_bitline > 0 "
                             "(with ideal wires every cell sees its drive: the noise is V G)")
    if chunk < 1:
        raise InferenceError(f"chunk must be >= 1, got {chunk}")
    d = np.atleast_2d(np.asarray(drives, dtype=float))
    if d.ndim != 2 or d.shape[1] != xb.n_rows:
        raise InferenceError(f"drives must be (B, {xb.n_rows}) volts, got {np.shape(drives)}")
    fac = solver.factorize(xb)
    net = fac.net
    sol = fac.solve(d)
    v_cell = np.asarray(sol.v_wordline).reshape(len(d), -1) - np.asarray(sol.v_bitline).reshape(
        len(d), -1)
    amp2 = (np.asarray(fac.g_cell).ravel()[None, :] * v_cell) ** 2            # (B, M N)
    c_rows = output_rows(net)
    wl, bl = net.wl.ravel(), net.bl.ravel()
    n = xb.n_cols
    var = np.zeros((len(d), n))
    for j0 in range(0, n, chunk):
        js = np.arange(j0, min(n, j0 + chunk))
        y = fac.factor.solve(np.ascontiguousarray(c_rows[js].toarray().T))
        ext = np.concatenate([y, np.zeros((1, y.shape[1]))])        # sources, ground: 0 V
        w = ext[np.where(wl >= 0, wl, -1)] - ext[np.where(bl >= 0, bl, -1)]   # (M N, k)
        var[:, js] = amp2 @ (w * w)
    return np.sqrt(var)
