"""Pure text rendering of a crossbar tile as an ngspice deck.

Node names (all lower case, indices from 0; a user can open the deck in any SPICE tool):

========================  =====================================================================
``in_<i>``                row i's source node (``vin_<i>`` from ``in_<i>`` to ground)
``inr_<i>``               far-end source node of row i when ``drive="both"`` (``vinr_<i>``)
``dr_<i>``, ``drr_<i>``   driver outputs (after ``r_driver``) at the near and far end
``wl_<i>_<j>``            word-line node WL(i, j)
``bl_<i>_<j>``            bit-line node BL(i, j)
``c_<i>_<j>``             internal node between access transistor and cell (1T1R)
``s_<j>``                 sense node S_j at the end of bit line j
``o_<j>``                 TIA output of column j
========================  =====================================================================

Element names: ``rd_<i>`` / ``rdr_<i>`` drivers, ``rw_<i>_<k>`` word-line segment k of row i
(k = 0 joins the driver to WL(i, 0); k = N the far-end segment), ``rb_<k>_<j>`` bit-line segment k of
column j (k = M joins BL(M-1, j) to S_j), ``rc_<i>_<j>`` a linear cell, ``bc_<i>_<j>`` a non-linear
cell (behavioural current source), ``ra_<i>_<j>`` an access transistor's on-resistance,
``vam_<j>`` the ideal TIA's virtual ground (its current is ``i_out[j]``), ``h_<j>`` its output,
``e_<j>`` / ``rf_<j>`` the finite-gain TIA, ``rs_<j>`` a sense resistor.

A zero resistance is never written: the nodes it joins become one node, named after the first of
them in the order source, driver, word line, sense, bit line. :class:`TileLayout` records which node
holds each WL(i, j) and BL(i, j), so results can be read back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim import __version__
from rramsim.crossbar import Crossbar, SenseElement

# ngspice's defaults (reltol 1e-3) stop Newton iterations far from machine precision; these make the
# operating point of a tile exact to ~1e-12 relative, so ngspice can serve as a reference.
OPTIONS = ".options reltol=1e-12 abstol=1e-20 vntol=1e-15 gmin=1e-30 itl1=500 numdgt=17"


def fmt(x: float) -> str:
    """A number as SPICE text: the shortest form that reads back as the same double."""
    return repr(float(x))


_TINY = float(np.finfo(float).tiny)  # smallest normal double, 2.2e-308


def deck_value(x: float, what: str) -> str:
    """``fmt(x)`` for a value that a deck can hold: finite, and 0 or a normal double.

    Raises
    ------
    CrossbarError
        Naming ``what``: infinities and NaN have no SPICE form, and subnormal numbers (below
        2.2e-308) carry fewer than 53 significant bits and overflow when inverted.
    """
    x = float(x)
    if not np.isfinite(x) or (x != 0.0 and abs(x) < _TINY):
        from rramsim.errors import CrossbarError

        raise CrossbarError(f"{what} = {x!r} cannot be written in a SPICE deck (it must be finite "
                            "and 0 or at least 2.2e-308 in magnitude)")
    return fmt(x)


def _first_bad(values: np.ndarray, mask: np.ndarray) -> tuple[tuple[int, ...], float] | None:
    """Index and value of the first cell (under ``mask``) that :func:`deck_value` refuses."""
    with np.errstate(all="ignore"):
        bad = mask & (~np.isfinite(values) | ((values != 0) & (np.abs(values) < _TINY)))
    if not bad.any():
        return None
    idx = tuple(int(k) for k in np.argwhere(bad)[0])
    return idx, float(values[idx])


def check_deck_values(xb: Crossbar) -> None:
    """Refuse a legal tile whose values cannot be written in a deck, naming the cell.

    Each cell is written as a resistance ``1 / G`` (or, for sinh cells, the amplitude ``G v0``
    and ``v0``): a subnormal ``G`` gives ``1 / G = inf``; a huge ``G v0`` overflows.
    """
    from rramsim.errors import CrossbarError

    for name in ("r_wordline", "r_bitline", "r_driver"):
        deck_value(getattr(xb, name), name)
    sense = xb.sense
    for attr in ("r_feedback", "open_loop_gain", "resistance"):
        if hasattr(sense, attr):
            deck_value(getattr(sense, attr), f"{type(sense).__name__}.{attr}")
    g = xb.conductance
    m, n = g.shape
    rows = max(1, (1 << 20) // n)
    for r0 in range(0, m, rows):
        blk = g[r0:r0 + rows]
        cells = blk > 0
        checks = []
        with np.errstate(all="ignore"):
            checks.append(("resistance 1/conductance", 1.0 / blk, cells))
            if xb.r_access is not None:
                checks.append(("r_access", xb.r_access[r0:r0 + rows], cells))
            if xb.sinh_v0 is not None:
                v0 = xb.sinh_v0[r0:r0 + rows]
                checks.append(("sinh amplitude conductance*sinh_v0", blk * v0, cells))
                checks.append(("sinh_v0", v0, cells))
        for what, values, mask in checks:
            found = _first_bad(values, mask)
            if found is not None:
                (i, j), val = found
                gij = float(g[r0 + i, j])
                raise CrossbarError(
                    f"cell [{r0 + i}, {j}] (conductance {gij!r} S): its {what} = {val!r} "
                    "cannot be written in a SPICE deck (it must be finite and 0 or at least "
                    "2.2e-308 in magnitude)")


class _Nodes:
    """Union-find of node names: zero resistances merge nodes."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.order: dict[str, int] = {}

    def add(self, name: str) -> None:
        if name not in self.parent:
            self.parent[name] = name
            self.order[name] = len(self.order)

    def find(self, name: str) -> str:
        root = name
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[name] != root:
            self.parent[name], name = root, self.parent[name]
        return root

    def union(self, a: str, b: str) -> None:
        """Merge two classes; the merged class is named after the node that was added first."""
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if self.order[rb] < self.order[ra]:
                ra, rb = rb, ra
            self.parent[rb] = ra


@dataclass(frozen=True)
class TileLayout:
    """Where a tile's quantities live in its deck.

    Attributes
    ----------
    wordline_nodes, bitline_nodes : ndarray of str, shape (M, N)
        Node holding WL(i, j) and BL(i, j) ("0" for ground).
    sense_nodes : list of str
        Node of S_j ("0" for ground).
    tia_nodes : list of str or None
        TIA output node per column.
    sources : list of str
        Source names per row (``vin_<i>``).
    far_sources : list of str or None
        Far-end source names per row when a separate far-end source exists, else None.
    """

    wordline_nodes: np.ndarray
    bitline_nodes: np.ndarray
    sense_nodes: list[str]
    tia_nodes: list[str] | None
    sources: list[str]
    far_sources: list[str | None] | None


def wire_network(xb: Crossbar) -> tuple[_Nodes, list[tuple[str, str, str, float]],
                                         list[str | None] | None]:
    """The tile's drivers, word lines and bit lines as named resistors between named nodes.

    Zero resistances merge their nodes (``nodes.find`` gives a merged node's name), so a deck never
    holds a 0-ohm resistor. Shared by every netlist syntax (ngspice here, VACASK in
    :mod:`rramsim.netlists.vacask`), so both engines see the same nodes and element names.

    Returns
    -------
    nodes : _Nodes
        The node names with their merges.
    resistors : list of (name, node_a, node_b, ohms)
        The non-zero resistors, in naming-priority order.
    far_sources : list of (str or None), or None
        With ``drive="both"``, each row's far-end source name, None where it merged with the
        near-end source; None for one-sided drive.
    """
    m, n = xb.shape
    rw, rb, rd = xb.r_wordline, xb.r_bitline, xb.r_driver
    both = xb.drive == "both"
    nodes = _Nodes()
    resistors: list[tuple[str, str, str, float]] = []  # name, a, b, ohms (possibly 0)

    def res(name: str, a: str, b: str, ohms: float) -> None:
        nodes.add(a)
        nodes.add(b)
        if ohms == 0.0:
            nodes.union(a, b)
        else:
            resistors.append((name, a, b, ohms))

    # Order of creation = naming priority: sources, drivers, word lines, then sense, then bit lines.
    for i in range(m):
        res(f"rd_{i}", f"in_{i}", f"dr_{i}", rd)
        res(f"rw_{i}_0", f"dr_{i}", f"wl_{i}_0", rw)
        for k in range(1, n):
            res(f"rw_{i}_{k}", f"wl_{i}_{k - 1}", f"wl_{i}_{k}", rw)
        if both:
            res(f"rdr_{i}", f"inr_{i}", f"drr_{i}", rd)
            res(f"rw_{i}_{n}", f"drr_{i}", f"wl_{i}_{n - 1}", rw)
    for j in range(n):
        nodes.add(f"s_{j}")
        for k in range(m - 1, -1, -1):  # segment k+1 joins BL(k, j) to BL(k+1, j), or to S_j
            upper = f"s_{j}" if k == m - 1 else f"bl_{k + 1}_{j}"
            res(f"rb_{k + 1}_{j}", upper, f"bl_{k}_{j}", rb)

    # Far-end sources that merged with the near-end source would put two sources in parallel:
    # keep only the near one (its current is then the row's whole current).
    far_sources: list[str | None] | None = None
    if both:
        far_sources = [None if nodes.find(f"inr_{i}") == nodes.find(f"in_{i}") else f"vinr_{i}"
                       for i in range(m)]

    return nodes, resistors, far_sources


def sense_elements(xb: Crossbar, find) -> list[SenseElement]:
    """Every column's sense-circuit elements (:meth:`rramsim.crossbar.SenseCircuit.elements`),
    on the netlist nodes that ``find`` names (merged nodes: :func:`wire_network`)."""
    return [el for j in range(xb.n_cols) for el in xb.sense.elements(j, find(f"s_{j}"))]


def tile_layout(xb: Crossbar, find, far_sources: list[str | None] | None) -> TileLayout:
    """The :class:`TileLayout` of a tile's netlist, whose node names ``find`` gives."""
    m, n = xb.shape
    wl = np.array([[find(f"wl_{i}_{j}") for j in range(n)] for i in range(m)], dtype=object)
    bl = np.array([[find(f"bl_{i}_{j}") for j in range(n)] for i in range(m)], dtype=object)
    outputs = [xb.sense.output_node(j) for j in range(n)]
    return TileLayout(wordline_nodes=wl, bitline_nodes=bl,
                      sense_nodes=[find(f"s_{j}") for j in range(n)],
                      tia_nodes=None if outputs[0] is None else outputs,
                      sources=[f"vin_{i}" for i in range(m)], far_sources=far_sources)


#: ngspice cards of the sense circuits' elements, by :class:`rramsim.crossbar.SenseElement` kind.
_SENSE_CARDS = {
    "ammeter": lambda e: f"{e.name} {e.nodes[0]} {e.nodes[1]} dc 0",
    "resistor": lambda e: f"{e.name} {e.nodes[0]} {e.nodes[1]} {fmt(e.value)}",
    "ccvs": lambda e: f"{e.name} {e.nodes[0]} {e.nodes[1]} {e.control} {fmt(e.value)}",
    "vcvs": lambda e: f"{e.name} {' '.join(e.nodes)} {fmt(e.value)}",
}


def _layout_and_elements(xb: Crossbar) -> tuple[TileLayout, list[str]]:
    check_deck_values(xb)
    m, n = xb.shape
    nodes, resistors, far_sources = wire_network(xb)

    lines: list[str] = []
    lines.append("* sources (values are replaced per input with 'alter')")
    for i in range(m):
        lines.append(f"vin_{i} {nodes.find(f'in_{i}')} 0 dc 0")
        if far_sources is not None and far_sources[i] is not None:
            lines.append(f"vinr_{i} {nodes.find(f'inr_{i}')} 0 dc 0")
    lines.append("* drivers and wires")
    for name, a, b, ohms in resistors:
        lines.append(f"{name} {nodes.find(a)} {nodes.find(b)} {fmt(ohms)}")

    lines.append("* cells")
    g = xb.conductance
    ra = xb.r_access
    v0 = xb.sinh_v0
    for i in range(m):
        for j in range(n):
            gij = g[i, j]
            if gij == 0.0:
                continue
            a = nodes.find(f"wl_{i}_{j}")
            b = nodes.find(f"bl_{i}_{j}")
            if ra is not None:
                c = f"c_{i}_{j}"
                lines.append(f"ra_{i}_{j} {a} {c} {fmt(ra[i, j])}")
                a = c
            if v0 is None:
                lines.append(f"rc_{i}_{j} {a} {b} {fmt(1.0 / gij)}")
            else:
                amp = fmt(gij * v0[i, j])
                lines.append(f"bc_{i}_{j} {a} {b} i={amp}*sinh(v({a},{b})/{fmt(v0[i, j])})")

    lines.append("* sense circuits")
    lines.extend(_SENSE_CARDS[el.kind](el) for el in sense_elements(xb, nodes.find))
    return tile_layout(xb, nodes.find, far_sources), lines


def render_tile(xb: Crossbar, v_in=None, *, title: str | None = None,
                analysis: str | None = ".op") -> tuple[str, TileLayout]:
    """Render a tile as an ngspice deck; return the text and its :class:`TileLayout`.

    Parameters
    ----------
    xb : Crossbar
        The tile.
    v_in : array_like (M,), optional
        Source voltages written into the deck (0 V when omitted).
    title : str, optional
        First line of the deck.
    analysis : str or None
        Analysis card to include (``".op"`` by default); None leaves it out (the runner issues the
        analysis commands itself).
    """
    from rramsim.errors import CrossbarError

    if not isinstance(xb, Crossbar):
        raise CrossbarError(f"xb must be a Crossbar, got {type(xb).__name__}")
    if title is not None and (not isinstance(title, str) or "\n" in title):
        raise CrossbarError(f"title must be one line of text, got {title!r}")
    if analysis is not None and not isinstance(analysis, str):
        raise CrossbarError(f"analysis must be a card such as '.op' or None, got {analysis!r}")
    m, n = xb.shape
    layout, body = _layout_and_elements(xb)
    if v_in is not None:
        v, batched = xb.check_input(v_in)
        if batched and v.shape[0] != 1:
            raise CrossbarError(
                f"render writes one input into the deck; got a batch of {v.shape[0]} (use v_in[b])")
        v = v[0]
        body = [_set_source_value(line, v) for line in body]
    kind = "linear" if xb.is_linear else "sinh"
    sense = type(xb.sense).__name__
    head = [
        title or f"rramsim {__version__} crossbar tile {m}x{n}",
        f"* cells: {kind}; r_wordline={fmt(xb.r_wordline)} r_bitline={fmt(xb.r_bitline)} "
        f"r_driver={fmt(xb.r_driver)} drive={xb.drive} sense={sense}"
        + (" 1T1R" if xb.r_access is not None else ""),
        "* node names: in_<i> sources, wl_<i>_<j> word lines, bl_<i>_<j> bit lines, s_<j> sense, "
        "o_<j> TIA outputs (see rramsim.netlists.tile)",
        OPTIONS,
    ]
    tail = [analysis] if analysis else []
    text = "\n".join(head + body + tail + [".end"]) + "\n"
    return text, layout


def _set_source_value(line: str, v: np.ndarray) -> str:
    if line.startswith("vin_") or line.startswith("vinr_"):
        name, a, b, _dc, _val = line.split()
        i = int(name.split("_")[1])
        return f"{name} {a} {b} dc {deck_value(v[i], f'v_in[{i}]')}"
    return line
