"""IR-drop analysis: per-cell voltage-drop maps, their statistics, and sweeps over wires and sizes.

In an ideal crossbar every cell (i, j) sees its row's full input voltage ``V_i`` (word line at
``V_i``, bit line at virtual ground). With wire resistance it sees ``V_wl(i, j) - V_bl(i, j)``;
the **voltage drop** of a cell is ``|V_i - (V_wl(i, j) - V_bl(i, j))|`` (volts). Drop maps are
computed for a stated input (by default every row at the full read voltage: the worst case of a
non-negative input, since the drop grows with every row's current).

The **relative output error** of a tile for inputs ``V`` (B, M) is
``||V T - V G||_F / ||V G||_F`` with T the IR-drop-exact transfer matrix
(:func:`rramsim.solver.transfer_matrix`) and G the conductances (the ideal, zero-wire map).

Figures use matplotlib's Agg backend and are written atomically.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim.crossbar import Crossbar
from rramsim.studies import programming


@dataclass(frozen=True)
class DropStats:
    """Worst and mean per-cell voltage drop of a tile, volts, and as a fraction of the input.

    Attributes
    ----------
    worst_V, mean_V : float
        Largest and mean drop over cells (and inputs), volts.
    worst_rel, mean_rel : float
        The same divided by the largest input voltage.
    """

    worst_V: float
    mean_V: float
    worst_rel: float
    mean_rel: float


def cell_voltage_drop(sol, v_in) -> np.ndarray:
    """Per-cell drop ``|V_i - (V_wl - V_bl)|`` in volts, shape (M, N) or (B, M, N) like the solution.

    Parameters
    ----------
    sol : rramsim.solution.Solution
        A solved tile (solver or ngspice).
    v_in : array_like, (M,) or (B, M)
        The inputs it was solved for, volts.
    """
    v = np.asarray(v_in, dtype=float)
    vw = np.asarray(sol.v_wordline, dtype=float)
    vb = np.asarray(sol.v_bitline, dtype=float)
    return np.abs(v[..., :, None] - (vw - vb))


def drop_stats(drop: np.ndarray, v_in) -> DropStats:
    """Worst and mean of a drop map (any shape), absolute and relative to ``max |v_in|``."""
    vmax = float(np.max(np.abs(v_in)))
    worst, mean = float(np.max(drop)), float(np.mean(drop))
    scale = vmax if vmax > 0 else 1.0
    return DropStats(worst_V=worst, mean_V=mean, worst_rel=worst / scale, mean_rel=mean / scale)


def tile_drop_map(xb, v_read_V: float, v_in=None) -> tuple[np.ndarray, DropStats]:
    """Solve a tile with the fast solver and return its (M, N) drop map (volts) and statistics.

    ``v_in`` defaults to every row at ``v_read_V`` (worst case of a non-negative input).
    """
    v = np.full(xb.n_rows, float(v_read_V)) if v_in is None else np.asarray(v_in, dtype=float)
    sol = programming.solve(xb, v)
    drop = cell_voltage_drop(sol, v)
    return drop, drop_stats(drop, v)


def relative_output_error(xb, v, t: np.ndarray | None = None) -> float:
    """``||V T - V G|| / ||V G||`` (Frobenius) for inputs ``v`` (B, M); T computed if not given."""
    v2 = np.atleast_2d(np.asarray(v, dtype=float))
    if t is None:
        t = programming.transfer_matrix(xb)
    ideal = v2 @ xb.effective_conductance()
    den = np.linalg.norm(ideal)
    return float(np.linalg.norm(v2 @ t - ideal) / den) if den > 0 else 0.0


def sweep_wire_and_size(conductance_sampler, *, r_wire_ohm, tile_sizes, v_read_V: float,
                        inputs: int, rng: np.random.Generator, drive: str = "left"):
    """Relative output error and drop statistics over wire resistance x square tile size.

    Parameters
    ----------
    conductance_sampler : callable ``(shape, rng) -> ndarray``
        Draws a tile's conductances, siemens (e.g. formed cells from the device model).
    r_wire_ohm : sequence of float
        Word- and bit-line resistance per segment, ohms.
    tile_sizes : sequence of int
        Square tile sides.
    v_read_V : float
        Full-scale read voltage; inputs are uniform in ``[0, v_read_V]``.
    inputs : int
        Random input vectors per tile.
    rng : numpy.random.Generator
        Source of the conductances and inputs (one tile per size, shared by all resistances).

    Returns
    -------
    pandas.DataFrame
        Columns ``tile_size``, ``r_wire_ohm``, ``rel_output_error``, ``worst_drop_V``,
        ``mean_drop_V``, ``worst_drop_rel``.
    """
    import pandas as pd

    rows = []
    for size in tile_sizes:
        g = conductance_sampler((int(size), int(size)), rng)
        v = rng.uniform(0.0, v_read_V, size=(int(inputs), int(size)))
        for r in r_wire_ohm:
            xb = Crossbar(conductance=g, r_wordline=float(r), r_bitline=float(r), drive=drive)
            t = programming.transfer_matrix(xb)
            err = relative_output_error(xb, v, t)
            full = np.full(int(size), v_read_V)
            drop = cell_voltage_drop(programming.solve(xb, full), full)
            st = drop_stats(drop, full)
            rows.append({"tile_size": int(size), "r_wire_ohm": float(r), "rel_output_error": err,
                         "worst_drop_V": st.worst_V, "mean_drop_V": st.mean_V,
                         "worst_drop_rel": st.worst_rel})
    return pd.DataFrame(rows)
