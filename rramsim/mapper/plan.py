"""The execution plan of a mapping: the pieces, the tile reads, the per-layer plans, and the
names of the mapper's schemes, placements and cell states.

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

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rramsim.errors import MappingError

Scheme = Literal["columns", "rows"]
SCHEMES: tuple[str, ...] = ("columns", "rows")
Placement = Literal["naive", "ir_aware", "given"]
#: The placements that pack a network themselves; ``"given"`` takes the layers' own positions.
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
