"""Placing a pruned layered network onto fixed-size crossbar tiles, and reading it back.

Algorithm (:func:`map_network`), per weight layer, all on arrays (one Python step per *piece*, never
per weight):

1. **Rows and columns to place.** All of the layer's inputs (rows) and outputs (columns); with
   ``pack_sparse=True`` the rows and columns whose weights are all pruned are left out (their edges are
   all pruned, so nothing kept is lost; the output of an all-pruned column is 0).
2. **Differential scheme.** ``"columns"``: a weight is one row and two adjacent columns (+ column,
   - column); the layer's output is ``I(+) - I(-)``. ``"rows"``: a weight is two adjacent rows driven
   with ``+v`` and ``-v`` and one column; the column current is the output. A tile of R x C cells holds
   R x C/2 (columns) or R/2 x C (rows) weights.
3. **Split.** A layer larger than that is cut into row blocks and column blocks (full blocks then a
   remainder; with ``placement="ir_aware"`` the same number of blocks of equal size, which shortens
   the lines); each block is a *piece*. Pieces in the same column block but different row blocks give
   partial currents that are summed digitally (:meth:`Mapping.partial_sum_plan`).
4. **Pack.** Pieces go into tiles first-fit by decreasing height. With ``share_tiles="lines"``
   (default, = True) on shelves (horizontal strips of a tile, each filled left to right); pieces never
   overlap but may share word lines or bit lines. With ``"diagonal"`` pieces on a tile share no line
   (block-diagonal). Either way each piece is read on its own: only its rows are driven (the others
   at 0 V), only its columns are read. The other cells on its lines stay in the circuit and load the
   wires (this costs accuracy under IR drop); the transfer matrix of the whole tile accounts for them.
5. **Placement.** ``"naive"``: shelves fill a tile from the top-left corner, rows and columns in network
   order. ``"ir_aware"``: shelves fill a tile from the bottom-left corner (next to the sense amplifiers,
   which sit at the row-(M-1) end of the bit lines, and next to the drivers at the column-0 end of the
   word lines); inside a piece, the rows that carry most current are placed nearest the sense
   amplifiers (bottom) and the columns that carry most current nearest the drivers (left). Expected
   current uses the conductances and, when given, each input's mean activity. Why: the voltage lost at
   a cell on a line is the wire resistance times the prefix sums of the currents between it and the
   line's end, so heavy cells belong near the end.
6. **Cells.** A kept weight's pair holds ``G+`` on the + cell and ``G-`` on the - cell if
   ``sign = +1`` (swapped if ``sign = -1``), so the hardware realises ``sign * (G+ - G-)``. A pruned
   weight's cells are RESET, ``g_reset`` each (or the graph's pair with ``g_reset=None``). Cells no
   weight uses hold ``g_unused`` (0 = no device).

Reading a piece with transfer matrix ``T`` of its tile (``i_out = v @ T``, e.g. from
``rramsim.solver.transfer_matrix``) gives, for input ``x`` on its sources,
``x @ (T[r+, c+] - T[r-, c-])`` on its targets, exactly (superposition; the other rows are at 0 V).

The execution plan
------------------
:meth:`Mapping.plan` turns the pieces into what a reader of the hardware needs and nothing else: per
layer, one :class:`TileRead` per piece, saying which tile rows are driven by which layer inputs with
which polarity (+1, or -1 for the (-) row of the rows scheme), and which tile columns are read into
which layer outputs with which sign (+1, or -1 for the (-) column of the columns scheme). A layer's
output is ``sum over its reads of (v[:, row_inputs] * row_sign) @ A[rows][:, cols] @ S`` with ``A``
the tile's transfer matrix (or ideal conductances) and ``S`` the signed scatter of
:meth:`TileRead.scatter`. :meth:`Mapping.layer_matrix`, :meth:`Mapping.run_layer` and every study
(inference, energy, co-simulation) read the placement through this one plan.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Literal

import numpy as np

from rramsim._validate import real_scalar
from rramsim._validate import shape as as_shape
from rramsim.crossbar import Crossbar
from rramsim.errors import CrossbarError, MappingError
from rramsim.mapper import _checks
from rramsim.mapper.network import LayeredNetwork, fold_conv_weight, network_from_graph

Scheme = Literal["columns", "rows"]
SCHEMES: tuple[str, ...] = ("columns", "rows")
Placement = Literal["naive", "ir_aware"]
PLACEMENTS: tuple[str, ...] = ("naive", "ir_aware")
Sharing = Literal["lines", "diagonal"]
SHARINGS: tuple[str, ...] = ("lines", "diagonal")

#: Conductance of a RESET (pruned) cell, siemens. Judgement: inside the 0.1-1 uS range
#: of the device model's default RESET (0.14-0.56 uS, :data:`rramsim.devmodel.TAOX_40NM`).
DEFAULT_G_RESET = 0.3e-6

#: Cell states in :attr:`Mapping.state`.
UNUSED, SET, RESET = 0, 1, 2
STATE_NAMES = {SET: "set", RESET: "reset"}


@dataclass(frozen=True, eq=False)
class Piece:
    """One block of one layer on one tile.

    Cell (+) of weight ``(sources[a], targets[b])`` sits at ``(rows_pos[a], cols_pos[b])`` and cell (-)
    at ``(rows_neg[a], cols_neg[b])`` of tile ``tile``. In the columns scheme ``rows_pos == rows_neg``;
    in the rows scheme ``cols_pos == cols_neg``.

    Attributes
    ----------
    layer : int
        Layer position in the network.
    tile : int
        Tile index in :attr:`Mapping.tiles`.
    row_block, col_block : int
        Block indices within the layer: pieces with the same ``col_block`` are partial sums of the
        same outputs.
    sources, targets : ndarray of int
        Layer input / output indices, in physical order.
    rows_pos, rows_neg, cols_pos, cols_neg : ndarray of int
        Physical rows / columns of the (+) and (-) cells.
    """

    layer: int
    tile: int
    row_block: int
    col_block: int
    sources: np.ndarray
    targets: np.ndarray
    rows_pos: np.ndarray
    rows_neg: np.ndarray
    cols_pos: np.ndarray
    cols_neg: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(number of sources, number of targets)."""
        return len(self.sources), len(self.targets)

    @property
    def n_cells(self) -> int:
        return 2 * len(self.sources) * len(self.targets)


@dataclass(frozen=True, eq=False)
class TileRead:
    """One piece of a layer read on its own tile (an entry of :class:`LayerPlan`).

    Drive: tile row ``rows[a]`` carries ``row_sign[a] * v[row_inputs[a]]`` (all other rows at 0 V).
    Read: tile column ``cols[b]`` adds ``col_sign[b]`` times its current to layer output
    ``col_outputs[b]``.

    Attributes
    ----------
    layer, tile, piece : int
        Layer position, tile index, index into :attr:`Mapping.pieces`.
    rows, row_inputs : ndarray of int (m,)
    row_sign : ndarray of float (m,)
        +1, or -1 for the (-) rows of the rows scheme (driven with ``-v``).
    cols, col_outputs : ndarray of int (n,)
    col_sign : ndarray of float (n,)
        +1, or -1 for the (-) columns of the columns scheme (subtracted).
    """

    layer: int
    tile: int
    piece: int
    rows: np.ndarray
    row_inputs: np.ndarray
    row_sign: np.ndarray
    cols: np.ndarray
    col_outputs: np.ndarray
    col_sign: np.ndarray

    def __post_init__(self) -> None:
        for name in ("rows", "row_inputs", "cols", "col_outputs"):
            object.__setattr__(self, name, _frozen(np.asarray(getattr(self, name), np.int64)))
        for name in ("row_sign", "col_sign"):
            object.__setattr__(self, name, _frozen(np.asarray(getattr(self, name), float)))
        if not self.rows.shape == self.row_inputs.shape == self.row_sign.shape:
            raise MappingError(f"tile read of layer {self.layer}: rows, inputs, signs differ")
        if not self.cols.shape == self.col_outputs.shape == self.col_sign.shape:
            raise MappingError(f"tile read of layer {self.layer}: cols, outputs, signs differ")
        ri = self.row_inputs
        run = (ri.size > 0 and bool(np.all(self.row_sign == 1.0))
               and bool(np.all(np.diff(ri) == 1)))
        object.__setattr__(self, "_run", slice(int(ri[0]), int(ri[-1]) + 1) if run else None)

    @classmethod
    def from_piece(cls, p: Piece, index: int) -> TileRead:
        """The read of one piece: columns scheme if its (+) and (-) rows coincide, else rows."""
        if np.array_equal(p.rows_pos, p.rows_neg):
            one = np.ones(p.cols_pos.size)
            return cls(p.layer, p.tile, index, p.rows_pos, p.sources, np.ones(p.rows_pos.size),
                       np.concatenate([p.cols_pos, p.cols_neg]),
                       np.concatenate([p.targets, p.targets]), np.concatenate([one, -one]))
        if np.array_equal(p.cols_pos, p.cols_neg):
            one = np.ones(p.rows_pos.size)
            return cls(p.layer, p.tile, index, np.concatenate([p.rows_pos, p.rows_neg]),
                       np.concatenate([p.sources, p.sources]), np.concatenate([one, -one]),
                       p.cols_pos, p.targets, np.ones(p.cols_pos.size))
        raise MappingError(f"piece {index} (layer {p.layer}, tile {p.tile}): its (+) and (-) cells "
                           "share neither rows nor columns")

    def drive(self, v: np.ndarray) -> np.ndarray:
        """The driven rows' voltages (B, m) for layer inputs ``v`` (B, fan_in) (a view when the
        rows carry a contiguous run of inputs with + polarity; do not write to it)."""
        if self._run is not None:
            return v[:, self._run]
        return v[:, self.row_inputs] * self.row_sign

    def block(self, a: np.ndarray) -> np.ndarray:
        """``A[rows][:, cols]`` of a tile matrix (M, N): the read's currents are
        ``drive(v) @ block(A)``."""
        return np.ascontiguousarray(a[np.ix_(self.rows, self.cols)])

    def scatter(self, fan_out: int) -> np.ndarray:
        """(n, fan_out) matrix taking column currents to signed layer outputs."""
        s = np.zeros((self.cols.size, fan_out))
        s[np.arange(self.cols.size), self.col_outputs] = self.col_sign
        return s


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class LayerPlan:
    """How one layer's product runs on the tiles.

    Attributes
    ----------
    layer : int
    name : str
    fan_in, fan_out : int
    scale : float or None
        Siemens per weight unit of the layer (``w = sign (G+ - G-) / scale``), when known.
    reads : tuple of TileRead
        In :attr:`Mapping.pieces` order.
    """

    layer: int
    name: str
    fan_in: int
    fan_out: int
    scale: float | None
    reads: tuple[TileRead, ...]

    @property
    def tiles(self) -> list[int]:
        """Tiles that hold part of the layer, ascending."""
        return sorted({r.tile for r in self.reads})

    def tile_drive(self, v: np.ndarray, n_rows: int) -> dict[int, np.ndarray]:
        """Full-tile drive voltages (B, n_rows) per tile when all the layer's pieces on a tile are
        driven together, for layer inputs ``v`` (B, fan_in)."""
        v = np.asarray(v, float)
        out: dict[int, np.ndarray] = {}
        for r in self.reads:
            full = out.setdefault(r.tile, np.zeros((v.shape[0], n_rows)))
            full[:, r.rows] = r.drive(v)
        return out

    def rows_used(self) -> dict[int, int]:
        """Rows driven per tile (one DAC conversion each per read)."""
        acc: dict[int, set] = {}
        for r in self.reads:
            acc.setdefault(r.tile, set()).update(r.rows.tolist())
        return {t: len(x) for t, x in acc.items()}

    def columns_used(self) -> dict[int, int]:
        """Columns read per tile (one TIA and one ADC conversion each per read)."""
        acc: dict[int, set] = {}
        for r in self.reads:
            acc.setdefault(r.tile, set()).update(r.cols.tolist())
        return {t: len(x) for t, x in acc.items()}

    def matrix(self, tile_matrix) -> np.ndarray:
        """The (fan_in, fan_out) effective matrix: ``output = x @ matrix``.

        ``tile_matrix``: a function ``tile index -> (M, N) matrix`` (transfer matrix or
        conductances).
        """
        m = np.zeros((self.fan_in, self.fan_out))
        for r in self.reads:
            sub = r.block(tile_matrix(r.tile)) * r.row_sign[:, None] * r.col_sign[None, :]
            np.add.at(m, (r.row_inputs[:, None], r.col_outputs[None, :]), sub)
        return m


@dataclass(frozen=True, eq=False)
class ExecutionPlan:
    """Per layer, which tile rows and columns compute which inputs and outputs (see the module
    docstring); ``plan[k]`` is layer k's :class:`LayerPlan`."""

    tile_shape: tuple[int, int]
    n_tiles: int
    layers: tuple[LayerPlan, ...]

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, k: int) -> LayerPlan:
        return self.layers[k]

    @property
    def used_tiles(self) -> list[int]:
        """Tiles holding at least one piece, ascending."""
        return sorted({r.tile for lp in self.layers for r in lp.reads})


def _check_tile_shape(tile_shape, scheme: str) -> tuple[int, int]:
    try:
        r, c = (int(x) for x in tile_shape)
    except (TypeError, ValueError) as exc:
        raise MappingError(f"tile_shape must be (rows, cols), got {tile_shape!r}") from exc
    if r < 1 or c < 1:
        raise MappingError(f"tile_shape must be positive, got {(r, c)}")
    if scheme == "columns" and c < 2:
        raise MappingError(f"tile_shape {(r, c)} cannot hold one weight pair on two columns")
    if scheme == "rows" and r < 2:
        raise MappingError(f"tile_shape {(r, c)} cannot hold one weight pair on two rows")
    return r, c


def _per_layer(value, net: LayeredNetwork, what: str) -> list:
    n = len(net)
    if value is None:
        return [None] * n
    if isinstance(value, MappingABC):
        out = [None] * n
        for key, v in value.items():
            out[net.index(key)] = v
        return out
    if isinstance(value, np.ndarray) or not isinstance(value, Sequence) or len(value) != n:
        raise MappingError(f"{what} must be a list with one entry per layer ({n}) or a dict by name")
    return list(value)


def _cell_values(ly, ii, jj, g_reset):
    """(+) and (-) cell conductances, kept mask and logical weights of the block ``ix_(ii, jj)``."""
    ix = np.ix_(ii, jj)
    kept = ly.mask[ix]
    pos_sign = ly.sign[ix] > 0
    gp, gm = ly.g_plus[ix], ly.g_minus[ix]
    g_pos = np.where(pos_sign, gp, gm)
    g_neg = np.where(pos_sign, gm, gp)
    if g_reset is not None:
        g_pos = np.where(kept, g_pos, g_reset)
        g_neg = np.where(kept, g_neg, g_reset)
    return g_pos, g_neg, kept, ly.weight[ix]


def _blocks(n: int, cap: int, balanced: bool) -> list[np.ndarray]:
    """Split range(n) into ceil(n / cap) blocks: full blocks then a remainder, or equal sizes."""
    if not balanced:
        return [np.arange(s, min(s + cap, n)) for s in range(0, n, cap)]
    return np.array_split(np.arange(n), -(-n // cap))


def _share_mode(share_tiles) -> str | None:
    """``share_tiles`` as a sharing mode: True -> "lines", False -> None, else a :data:`SHARINGS`."""
    share = ("lines" if share_tiles else None) if isinstance(share_tiles, bool) else share_tiles
    if share not in (None, *SHARINGS):
        raise MappingError(f"share_tiles must be True, False or one of {SHARINGS}, "
                           f"got {share_tiles!r}")
    return share


def _check_tile_options(tile_options) -> dict:
    """A copy of ``tile_options`` after checking that a one-cell :class:`Crossbar` takes them."""
    opts = dict(tile_options or {})
    if "conductance" in opts:
        raise MappingError("tile_options cannot set 'conductance'; the mapper programs it")
    for key in ("r_access", "sinh_v0"):
        if key in opts and np.ndim(opts[key]) != 0:
            raise MappingError(f"tile_options[{key!r}] must be a scalar for mapped tiles")
    try:
        Crossbar(conductance=np.ones((1, 1)), **opts)
    except (CrossbarError, TypeError) as exc:
        raise MappingError(f"invalid tile_options {opts}: {exc}") from exc
    return opts


def _check_cell_v0(cell_v0, net: LayeredNetwork) -> list | None:
    """Per layer, the ``(v0_plus, v0_minus)`` pair as float arrays of the layer's shape, or None."""
    if cell_v0 is None:
        return None
    v0_layers = _per_layer(cell_v0, net, "cell_v0")
    for k, pair in enumerate(v0_layers):
        if pair is None:
            continue
        name, shape = net.layers[k].name, net.layers[k].shape
        arrs = tuple(np.asarray(a, dtype=float) for a in pair)
        if len(arrs) != 2 or any(a.shape != shape for a in arrs):
            raise MappingError(f"cell_v0 of layer {name!r} must be a pair of arrays of shape {shape}")
        if not all(np.isfinite(a).all() and (a > 0).all() for a in arrs):
            raise MappingError(f"cell_v0 of layer {name!r} must be finite and > 0 volts")
        v0_layers[k] = arrs
    return v0_layers


def _layer_activity(ly, act) -> np.ndarray:
    """A layer's mean input activity (fan_in,), uniform when not given."""
    fi = ly.shape[0]
    act = np.ones(fi) if act is None else np.asarray(act, dtype=float)
    if act.shape != (fi,) or not np.isfinite(act).all() or (act < 0).any():
        raise MappingError(
            f"input_activity of layer {ly.name!r} must be finite, >= 0, shape ({fi},); "
            f"got shape {act.shape}")
    return act


def _piece_plans(net: LayeredNetwork, cap: tuple[int, int], *, ir_aware: bool, pack_sparse: bool,
                 activity: list, g_reset) -> list[tuple]:
    """Steps 1-3: per layer, the rows and columns to place, cut into pieces of at most ``cap``
    (rows, weight columns); ``(layer, row_block, col_block, sources, targets)`` in layer order.
    With ``ir_aware``, the blocks are balanced and each piece's heaviest row comes last (bottom,
    next to the sense amplifiers) and its heaviest column first (next to the drivers)."""
    plans = []
    for k, ly in enumerate(net.layers):
        if pack_sparse:
            rows = np.flatnonzero(ly.mask.any(axis=1))
            cols = np.flatnonzero(ly.mask.any(axis=0))
        else:
            rows, cols = np.arange(ly.shape[0]), np.arange(ly.shape[1])
        if rows.size == 0 or cols.size == 0:
            continue
        act = _layer_activity(ly, activity[k]) if ir_aware else None
        for rb, rblk in enumerate(_blocks(rows.size, cap[0], ir_aware)):
            for cb, cblk in enumerate(_blocks(cols.size, cap[1], ir_aware)):
                src, dst = rows[rblk], cols[cblk]
                if act is not None:
                    g_pos, g_neg, _, _ = _cell_values(ly, src, dst, g_reset)
                    load = (g_pos + g_neg) * act[src][:, None]
                    src = src[np.argsort(load.sum(axis=1), kind="stable")]
                    dst = dst[np.argsort(-load.sum(axis=0), kind="stable")]
                plans.append((k, rb, cb, src, dst))
    return plans


def _shelf_spot(tile: dict, h: int, w: int, shape: tuple[int, int]) -> tuple[int, int] | None:
    """Corner (row, column) for an ``h`` x ``w`` piece on a shelf of ``tile`` (a new shelf on top
    if no shelf has room), or None; updates the tile's shelves."""
    for sh in tile["shelves"]:  # [y0, height, width used]
        if sh[1] >= h and sh[2] + w <= shape[1]:
            spot = (sh[0], sh[2])
            sh[2] += w
            return spot
    if tile["top"] + h <= shape[0]:
        spot = (tile["top"], 0)
        tile["shelves"].append([tile["top"], h, w])
        tile["top"] += h
        return spot
    return None


def _diagonal_spot(tile: dict, h: int, w: int, shape: tuple[int, int]) -> tuple[int, int] | None:
    """Corner (row, column) for an ``h`` x ``w`` piece below and right of everything on ``tile``
    (block-diagonal: it shares no line), or None; updates the tile's extent."""
    if tile["top"] + h <= shape[0] and tile["right"] + w <= shape[1]:
        spot = (tile["top"], tile["right"])
        tile["top"] += h
        tile["right"] += w
        return spot
    return None


def _pack(plans: list[tuple], shape: tuple[int, int], scheme: str, share: str | None):
    """Step 4: first-fit decreasing height into tiles of ``shape`` cells (shelves, block diagonal
    or one piece per tile). Returns ``(placed, n_tiles)``, ``placed[i]`` the plan ``i`` as
    ``(layer, tile, row_block, col_block, sources, targets, first_row, first_column)``."""
    tiles: list[dict] = []  # per tile: shelves [[y0, height, x_used]], height and width used
    order = sorted(range(len(plans)), key=lambda i: -len(plans[i][3]))
    placed: list = [None] * len(plans)
    row_mult, col_mult = (1, 2) if scheme == "columns" else (2, 1)
    find = _diagonal_spot if share == "diagonal" else _shelf_spot
    for i in order:
        k, rb, cb, src, dst = plans[i]
        h, w = len(src) * row_mult, len(dst) * col_mult
        spot = None
        for ti, tl in enumerate(tiles if share else ()):
            corner = find(tl, h, w, shape)
            if corner is not None:
                spot = (ti, *corner)
                break
        if spot is None:
            tiles.append({"shelves": [[0, h, w]], "top": h, "right": w})
            spot = (len(tiles) - 1, 0, 0)
        placed[i] = (k, spot[0], rb, cb, src, dst, spot[1], spot[2])
    return placed, len(tiles)


def _piece_lines(scheme: str, placement: str, n_rows: int, size: tuple[int, int],
                 corner: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Step 5: physical ``(rows_pos, rows_neg, cols_pos, cols_neg)`` of a piece of ``size``
    (sources, targets) packed at ``corner`` (shelf row from the top, column); ``"ir_aware"``
    fills the tile from the bottom."""
    h, w = size
    if scheme == "columns":
        rp = rn = np.arange(h)
        cp, cn = 2 * np.arange(w), 2 * np.arange(w) + 1
        height = h
    else:
        rp, rn = 2 * np.arange(h), 2 * np.arange(h) + 1
        cp = cn = np.arange(w)
        height = 2 * h
    base = n_rows - corner[0] - height if placement == "ir_aware" else corner[0]
    return rp + base, rn + base, cp + corner[1], cn + corner[1]


def _piece_v0(ly, pair, src, dst, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """``v0`` of a piece's (+) and (-) cells: the layer's pair with the sign folded in, or ``fill``
    (1 V when 0) for a layer without one."""
    if pair is None:
        vp = vn = np.full((len(src), len(dst)), fill if fill > 0 else 1.0)
        return vp, vn
    ix = np.ix_(src, dst)
    pos = ly.sign[ix] > 0
    a, b = pair[0][ix], pair[1][ix]
    return np.where(pos, a, b), np.where(pos, b, a)


class _TileCells:
    """Step 6: the tiles' cell arrays, written one piece at a time (see :class:`Mapping`)."""

    def __init__(self, n_tiles: int, shape: tuple[int, int], g_unused: float, n_layers: int,
                 v0_top: float | None) -> None:
        full = (n_tiles, *shape)
        self.conductance = np.full(full, float(g_unused))
        self.v0 = None if v0_top is None else np.full(full, v0_top)
        self.state = np.zeros(full, np.int8)
        self.polarity = np.zeros(full, np.int8)
        self.weight = np.zeros(full)
        self.owner = np.full(full, -1, np.int16 if n_layers < 32767 else np.int32)

    def add(self, p: Piece, ly, g_reset, v0: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Program piece ``p`` of layer ``ly``: SET pairs for kept weights, RESET for pruned."""
        g_pos, g_neg, kept, wv = _cell_values(ly, p.sources, p.targets, g_reset)
        st = np.where(kept, SET, RESET).astype(np.int8)
        t = p.tile
        if v0 is not None:
            self.v0[t][np.ix_(p.rows_pos, p.cols_pos)] = v0[0]
            self.v0[t][np.ix_(p.rows_neg, p.cols_neg)] = v0[1]
        for rows_, cols_, g_, pol in ((p.rows_pos, p.cols_pos, g_pos, 1),
                                      (p.rows_neg, p.cols_neg, g_neg, -1)):
            ix = np.ix_(rows_, cols_)
            if (self.state[t][ix] != UNUSED).any():  # cannot happen; guards the packing
                raise MappingError(f"internal error: layer {ly.name!r} overlaps on tile {t}")
            self.conductance[t][ix] = g_
            self.state[t][ix] = st
            self.polarity[t][ix] = pol
            self.weight[t][ix] = wv
            self.owner[t][ix] = p.layer

    def frozen(self) -> dict:
        """The arrays, read-only, as :class:`Mapping` fields."""
        out = {"conductance": self.conductance, "state": self.state, "polarity": self.polarity,
               "cell_weight": self.weight, "owner": self.owner, "cell_v0": self.v0}
        for a in out.values():
            if a is not None:
                a.setflags(write=False)
        return out


# public entry point: every option is keyword-only with a default and documented below
def map_network(  # noqa: PLR0913
    network,
    *,
    tile_shape: tuple[int, int] = (512, 512),
    scheme: Scheme = "columns",
    placement: Placement = "naive",
    pack_sparse: bool = False,
    share_tiles: bool | Sharing = True,
    g_reset: float | None = DEFAULT_G_RESET,
    g_unused: float = 0.0,
    input_activity=None,
    tile_options: dict | None = None,
    cell_v0=None,
) -> Mapping:
    """Place a pruned layered network onto crossbar tiles (see the module docstring).

    Parameters
    ----------
    network : LayeredNetwork or networkx.DiGraph
        The network in array form or in the graph form of :mod:`rramsim.mapper.network`.
    tile_shape : (int, int)
        Physical tile size (rows, cols); the study's macro is 512 x 512.
    scheme : {"columns", "rows"}
        Differential pair on two adjacent columns (outputs subtracted) or on two adjacent rows (inputs
        driven with opposite polarity).
    placement : {"naive", "ir_aware"}
        Network order from the top-left corner, or heavy rows near the sense amplifiers and heavy
        columns near the drivers, shelves packed from the bottom-left corner.
    pack_sparse : bool
        Leave out rows and columns whose weights are all pruned (fewer cells, fewer tiles).
    share_tiles : bool, "lines" or "diagonal"
        Let pieces share a tile (each piece is read on its own). ``"lines"`` (= True): shelf
        packing, pieces may share word or bit lines (fewest tiles). ``"diagonal"``: pieces share a
        tile only where they share no line (block-diagonal; no other piece's cells load a piece's
        lines, so less IR drop, more tiles). False: one piece per tile.
    g_reset : float or None
        Conductance of each cell of a pruned weight, siemens (>= 0); None keeps the graph's pair.
    g_unused : float
        Conductance of cells no weight uses, siemens (>= 0; 0 = no device).
    input_activity : list or dict of array_like (fan_in,), optional
        Mean input magnitude of each layer's inputs (any unit), used by ``placement="ir_aware"``;
        default uniform.
    tile_options : dict, optional
        Further :class:`rramsim.crossbar.Crossbar` fields for every tile (``r_wordline``,
        ``r_bitline``, ``r_driver``, ``drive``, ``sense``, ``r_access``, ``sinh_v0``).
    cell_v0 : list or dict of (v0_plus, v0_minus), optional
        Per-cell ``v0`` of the sinh read I-V (volts, > 0), one pair of (fan_in, fan_out) arrays
        per layer in the convention of the layer's ``g_plus`` / ``g_minus`` (a layer left out:
        ``tile_options["sinh_v0"]`` or 1 V); the tiles then have non-linear cells with these
        ``v0``. Unused cells get the largest given ``v0`` (they carry no current at ``g_unused =
        0``). Not together with ``tile_options["sinh_v0"]`` as a scalar for every cell.

    Returns
    -------
    Mapping

    Raises
    ------
    MappingError
        Bad graph (see :func:`network_from_graph`), unknown option, tile too small for a pair, tiles
        whose cell arrays would not fit in memory (refused before allocating), invalid tile
        options or activities.

    Examples
    --------
    Two pruned dense layers (64 -> 32 -> 10, half the weights kept) on 32 x 32 tiles, each weight a
    differential pair in two columns:

    >>> import numpy as np
    >>> from rramsim import mapper
    >>> rng = np.random.default_rng(0)
    >>> weights = [rng.normal(size=(64, 32)), rng.normal(size=(32, 10))]
    >>> masks = [rng.random(w.shape) < 0.5 for w in weights]
    >>> net = mapper.network_from_layers(weights, masks)
    >>> mapping = mapper.map_network(net, tile_shape=(32, 32))
    >>> mapping.n_tiles    # 64 rows x 64 columns in four tiles, 32 rows x 20 columns in one more
    5
    >>> w0 = mapping.layer_weights(0)
    >>> bool(np.allclose(w0, weights[0] * masks[0], rtol=1e-9, atol=1e-9))
    True
    """
    if not isinstance(network, LayeredNetwork):
        network = network_from_graph(network)
    if scheme not in SCHEMES:
        raise MappingError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if placement not in PLACEMENTS:
        raise MappingError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    share = _share_mode(share_tiles)
    R, C = _check_tile_shape(as_shape(tile_shape, "tile_shape", MappingError, ndim=2, minimum=1),
                             scheme)
    for name, val in (("g_unused", g_unused), ("g_reset", g_reset)):
        if val is not None:
            real_scalar(val, name, MappingError, nonnegative=True, unit="siemens")
    opts = _check_tile_options(tile_options)
    activity = _per_layer(input_activity, network, "input_activity")
    v0_layers = _check_cell_v0(cell_v0, network)

    # ---- 1-3: per-layer piece plans (logical), ordered
    cap = (R, C // 2) if scheme == "columns" else (R // 2, C)
    plans = _piece_plans(network, cap, ir_aware=placement == "ir_aware", pack_sparse=pack_sparse,
                         activity=activity, g_reset=g_reset)
    # ---- 4: pack pieces into tiles (first-fit decreasing height, shelves)
    placed, n_tiles = _pack(plans, (R, C), scheme, share)
    _checks.check_tile_memory(n_tiles, (R, C), per_cell_v0=v0_layers is not None)
    # ---- 5-6: physical positions and cell arrays
    fill = v0_top = None
    if v0_layers is not None:
        fill = float(opts.pop("sinh_v0", 0.0) or 0.0)
        v0_top = max([float(np.max(p)) for p in v0_layers if p is not None] + [fill, 1e-300])
    cells = _TileCells(n_tiles, (R, C), g_unused, len(network), v0_top)
    pieces = []
    for k, t, rb, cb, src, dst, r0, c0 in placed:
        p = Piece(k, t, rb, cb, src, dst,
                  *_piece_lines(scheme, placement, R, (len(src), len(dst)), (r0, c0)))
        ly = network.layers[k]
        cells.add(p, ly, g_reset,
                  None if v0_layers is None else _piece_v0(ly, v0_layers[k], src, dst, fill))
        pieces.append(p)
    return Mapping(network=network, tile_shape=(R, C), scheme=scheme, placement=placement,
                   pack_sparse=bool(pack_sparse), share_tiles=share, g_reset=g_reset,
                   g_unused=float(g_unused), tile_options=MappingProxyType(opts),
                   pieces=tuple(pieces), **cells.frozen())


@dataclass(frozen=True, eq=False)
class Mapping:
    """The result of :func:`map_network`: where every weight's cells are, and the tiles.

    Attributes
    ----------
    network : LayeredNetwork
        What was mapped.
    tile_shape : (int, int)
    scheme, placement : str
    pack_sparse : bool
    share_tiles : {"lines", "diagonal"} or None
    g_reset, g_unused : float
    tile_options : mapping (read-only)
        Extra :class:`Crossbar` fields of every tile: the circuit (wires, drivers, sense, drive,
        access, cell I-V) is set here once, at mapping time, and cannot be changed afterwards.
    pieces : tuple of Piece
    conductance : ndarray (T, R, C)
        Programmed conductances, siemens.
    state : ndarray (T, R, C) int8
        0 unused, 1 SET (kept weight), 2 RESET (pruned weight).
    polarity : ndarray (T, R, C) int8
        +1 / -1 for the (+) / (-) cell of a pair, 0 unused.
    cell_weight : ndarray (T, R, C)
        Logical weight a cell belongs to (before pruning; 0 unused).
    owner : ndarray (T, R, C)
        Layer index of each cell, -1 unused.
    cell_v0 : ndarray (T, R, C) or None
        Per-cell ``v0`` of the sinh read I-V, volts (``map_network(cell_v0=...)``).
    """

    network: LayeredNetwork
    tile_shape: tuple[int, int]
    scheme: str
    placement: str
    pack_sparse: bool
    share_tiles: str | None
    g_reset: float | None
    g_unused: float
    tile_options: MappingProxyType
    pieces: tuple[Piece, ...]
    conductance: np.ndarray
    state: np.ndarray
    polarity: np.ndarray
    cell_weight: np.ndarray
    owner: np.ndarray
    cell_v0: np.ndarray | None = None

    # ------------------------------------------------------------------ basics
    @property
    def n_tiles(self) -> int:
        return self.conductance.shape[0]

    def pieces_of(self, layer: int | str) -> list[Piece]:
        """The pieces of one layer (by index or name)."""
        k = self.network.index(layer)
        return [p for p in self.pieces if p.layer == k]

    @cached_property
    def tiles(self) -> tuple[Crossbar, ...]:
        """The tiles as :class:`Crossbar` objects (with ``tile_options``), ready for the solver."""
        if self.cell_v0 is not None:
            return tuple(Crossbar(conductance=g, sinh_v0=v, **self.tile_options)
                         for g, v in zip(self.conductance, self.cell_v0, strict=True))
        return tuple(Crossbar(conductance=g, **self.tile_options) for g in self.conductance)

    def _layers(self, layer):
        if layer is None:
            return list(range(len(self.network))), True
        return [self.network.index(layer)], False

    def _fold(self, k: int, mat: np.ndarray, original_layout: bool) -> np.ndarray:
        ly = self.network.layers[k]
        if original_layout and ly.kind == "conv":
            return fold_conv_weight(mat, ly.conv.kernel)
        return mat

    # ------------------------------------------------------------------ read back
    def layer_weights(self, layer: int | str | None = None, *, original_layout: bool = True):
        """Logical weights reconstructed from the placement alone (pruned entries 0).

        Reads each piece's (+) cells on the tiles: ``cell_weight`` where the state is SET, 0 where
        RESET; weights of left-out rows/columns (``pack_sparse``) are 0.

        Parameters
        ----------
        layer : int, str or None
            One layer, or None for a list of all.
        original_layout : bool
            Convolutions as (out, in, kh, kw) (True) or as the crossbar matrix (in*kh*kw, out).
        """
        ks, many = self._layers(layer)
        out = []
        for k in ks:
            w = np.zeros(self.network.layers[k].shape)
            for p in self.pieces_of(k):
                ix = np.ix_(p.rows_pos, p.cols_pos)
                t = p.tile
                w[np.ix_(p.sources, p.targets)] = np.where(
                    self.state[t][ix] == SET, self.cell_weight[t][ix], 0.0)
            out.append(self._fold(k, w, original_layout))
        return out if many else out[0]

    def plan(self) -> ExecutionPlan:
        """The execution plan: per layer, its :class:`TileRead` s (see the module docstring).

        Computed once per mapping (cached); read-only.
        """
        got = self.__dict__.get("_plan")
        if got is None:
            reads: list[list[TileRead]] = [[] for _ in self.network.layers]
            for i, p in enumerate(self.pieces):
                reads[p.layer].append(TileRead.from_piece(p, i))
            layers = tuple(
                LayerPlan(k, ly.name, ly.shape[0], ly.shape[1], ly.scale, tuple(reads[k]))
                for k, ly in enumerate(self.network.layers))
            got = ExecutionPlan(self.tile_shape, self.n_tiles, layers)
            object.__setattr__(self, "_plan", got)
        return got

    def layer_matrix(self, layer: int | str, transfers=None, *,
                     original_layout: bool = False) -> np.ndarray:
        """The layer's effective (fan_in, fan_out) matrix on the hardware: output = x @ matrix.

        From the execution plan: for each piece, ``T[r+, c+] - T[r-, c-]`` with ``T`` the tile's
        (M, N) transfer matrix (``i_out = v @ T``); entries of left-out rows/columns are 0.

        Parameters
        ----------
        layer : int or str
        transfers : sequence of ndarray (M, N), callable or None
            Per-tile transfer matrices (indexable by tile index, e.g. a list or dict), or a function
            ``tile index -> T``. None: ideal wires, ``T = G / (1 + G r_access)``.
        original_layout : bool
            Fold convolutions to (out, in, kh, kw).

        Returns
        -------
        ndarray (fan_in, fan_out)
            Siemens (amperes per volt).
        """
        k = self.network.index(layer)
        m = self.plan()[k].matrix(lambda t: self._transfer(t, transfers))
        return self._fold(k, m, original_layout)

    def _transfer(self, tile: int, transfers) -> np.ndarray:
        if transfers is None:
            return self.tiles[tile].effective_conductance()
        t = transfers(tile) if callable(transfers) else transfers[tile]
        t = np.asarray(t, dtype=float)
        if t.shape != self.tile_shape:
            raise MappingError(
                f"transfer matrix of tile {tile} has shape {t.shape}, expected {self.tile_shape}")
        return t

    def layer_conductances(self, layer: int | str | None = None, *, original_layout: bool = True):
        """What the hardware holds: ``G(+) - G(-)`` per weight, reset cells included, siemens.

        Equals ``sign * (G+ - G-)`` for kept weights and the difference of the two RESET cells for
        pruned ones; 0 for weights of left-out rows/columns.
        """
        ks, many = self._layers(layer)
        out = [self._fold(k, self.plan()[k].matrix(lambda t: self.conductance[t]),
                          original_layout) for k in ks]
        return out if many else out[0]

    def run_layer(self, layer: int | str, v_in, transfers=None) -> np.ndarray:
        """Run one layer's matrix product through its mapped tiles (the execution plan).

        Each piece is read on its own (its rows driven: ``+v`` on (+) rows, ``-v`` on (-) rows in the
        rows scheme; other rows at 0 V); its (+) column currents minus its (-) column currents (columns
        scheme) are the partial outputs, and the pieces of a column block are summed.

        Parameters
        ----------
        layer : int or str
        v_in : array_like (fan_in,) or (B, fan_in)
            Input voltages, volts (for a convolution: im2col patch vectors in the row order of
            :func:`rramsim.mapper.network.unroll_conv_weight`).
        transfers : see :meth:`layer_matrix`

        Returns
        -------
        ndarray (fan_out,) or (B, fan_out)
            Output currents, amperes. Divide by the layer's ``scale`` (siemens per weight unit) and the
            read voltage per input unit to get weight units.
        """
        k = self.network.index(layer)
        v = np.asarray(v_in, dtype=float)
        fi = self.network.layers[k].shape[0]
        if v.ndim not in (1, 2) or v.shape[-1] != fi:
            raise MappingError(
                f"v_in for layer {self.network.layers[k].name!r} must be ({fi},) or (B, {fi}), "
                f"got {v.shape}")
        out = np.zeros((*v.shape[:-1], self.network.layers[k].shape[1]))
        v2 = v.reshape(-1, fi)
        lp = self.plan()[k]
        for r in lp.reads:
            t = self._transfer(r.tile, transfers)
            out.reshape(-1, lp.fan_out)[:] += (r.drive(v2) @ r.block(t)) @ r.scatter(lp.fan_out)
        return out

    def transfer_matrices(self, **solver_options) -> list[np.ndarray]:
        """Exact per-tile transfer matrices from ``rramsim.solver.transfer_matrix`` (slow for big tiles)."""
        from rramsim import solver

        return [solver.transfer_matrix(xb, **solver_options) for xb in self.tiles]

    # ------------------------------------------------------------------ tables (pandas, lazy)
    @cached_property
    def table(self):
        """pandas DataFrame, one row per placed cell.

        Columns: ``layer`` (name, categorical), ``source``, ``target`` (layer input/output index in the
        crossbar layout), ``tile``, ``row``, ``column``, ``polarity`` (+1 / -1), ``conductance``
        (siemens), ``state`` ("set" / "reset", categorical), ``weight`` (logical weight before
        pruning).
        """
        import pandas as pd

        n = sum(p.n_cells for p in self.pieces)
        cols = {name: np.empty(n, dt) for name, dt in (
            ("layer", np.int32), ("source", np.int32), ("target", np.int32), ("tile", np.int32),
            ("row", np.int32), ("column", np.int32), ("polarity", np.int8))}
        at = 0
        for p in self.pieces:
            h, w = p.shape
            for rows_, cols_, pol in ((p.rows_pos, p.cols_pos, 1), (p.rows_neg, p.cols_neg, -1)):
                sl = slice(at, at + h * w)
                cols["layer"][sl] = p.layer
                cols["source"][sl] = np.repeat(p.sources, w)
                cols["target"][sl] = np.tile(p.targets, h)
                cols["tile"][sl] = p.tile
                cols["row"][sl] = np.repeat(rows_, w)
                cols["column"][sl] = np.tile(cols_, h)
                cols["polarity"][sl] = pol
                at += h * w
        idx = (cols["tile"], cols["row"], cols["column"])
        names = [ly.name for ly in self.network.layers]
        df = pd.DataFrame({
            "layer": pd.Categorical.from_codes(cols["layer"], categories=names),
            "source": cols["source"], "target": cols["target"], "tile": cols["tile"],
            "row": cols["row"], "column": cols["column"], "polarity": cols["polarity"],
            "conductance": self.conductance[idx],
            "state": pd.Categorical.from_codes(self.state[idx] - 1, categories=["set", "reset"]),
            "weight": self.cell_weight[idx],
        })
        return df

    def partial_sum_plan(self):
        """pandas DataFrame, one row per piece: how partial currents combine into layer outputs.

        Columns: ``piece``, ``layer``, ``tile``, ``row_block``, ``col_block``, ``n_sources``,
        ``n_targets``, ``first_row``, ``last_row``, ``first_column``, ``last_column``. The outputs of a
        layer's column block are the sum over its row blocks of ``I(+ columns) - I(- columns)``
        (columns scheme) or of the column currents (rows scheme).
        """
        import pandas as pd

        rows = []
        for i, p in enumerate(self.pieces):
            allr = np.concatenate([p.rows_pos, p.rows_neg])
            allc = np.concatenate([p.cols_pos, p.cols_neg])
            rows.append({"piece": i, "layer": self.network.layers[p.layer].name, "tile": p.tile,
                         "row_block": p.row_block, "col_block": p.col_block,
                         "n_sources": p.shape[0], "n_targets": p.shape[1],
                         "first_row": int(allr.min()), "last_row": int(allr.max()),
                         "first_column": int(allc.min()), "last_column": int(allc.max())})
        return pd.DataFrame(rows)

    def tile_stats(self):
        """pandas DataFrame per tile: cells used, SET, RESET, utilisation (used / all), layers."""
        import pandas as pd

        per_tile = self.state.reshape(self.n_tiles, -1)
        n_set = (per_tile == SET).sum(axis=1)
        n_reset = (per_tile == RESET).sum(axis=1)
        size = self.tile_shape[0] * self.tile_shape[1]
        layers = [[] for _ in range(self.n_tiles)]
        for p in self.pieces:
            name = self.network.layers[p.layer].name
            if name not in layers[p.tile]:
                layers[p.tile].append(name)
        return pd.DataFrame({
            "tile": np.arange(self.n_tiles), "cells": size, "used": n_set + n_reset,
            "set": n_set, "reset": n_reset, "utilisation": (n_set + n_reset) / size,
            "layers": [",".join(x) for x in layers]})

    def layer_stats(self):
        """pandas DataFrame per layer: weights, kept, density, placed rows/columns, cells, tiles."""
        import pandas as pd

        rows = []
        for k, ly in enumerate(self.network.layers):
            ps = self.pieces_of(k)
            placed_r = np.unique(np.concatenate([p.sources for p in ps])) if ps else np.array([])
            placed_c = np.unique(np.concatenate([p.targets for p in ps])) if ps else np.array([])
            cells = sum(p.n_cells for p in ps)
            kept = int(ly.mask.sum())
            rows.append({"layer": ly.name, "fan_in": ly.shape[0], "fan_out": ly.shape[1],
                         "weights": ly.weight.size, "kept": kept, "density": kept / ly.weight.size,
                         "rows_placed": placed_r.size, "cols_placed": placed_c.size,
                         "cells": cells, "set_cells": 2 * kept,
                         "reset_cells": cells - 2 * kept, "pieces": len(ps),
                         "tiles": len({p.tile for p in ps})})
        return pd.DataFrame(rows)

    def summary(self) -> dict:
        """Overall utilisation: tiles, cells, used, SET and RESET cells, utilisation fraction."""
        n_set = int((self.state == SET).sum())
        n_reset = int((self.state == RESET).sum())
        total = self.state.size
        return {"tiles": self.n_tiles, "cells": total, "used": n_set + n_reset, "set": n_set,
                "reset": n_reset, "utilisation": (n_set + n_reset) / total if total else 0.0}
