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
5. **Placement.** ``"given"``: each cell where the layer's positions say (steps 1-4 skipped; the
   weights of one source on one row are one read, reads with the same columns merged).
   ``"naive"``: shelves fill a tile from the top-left corner, rows and columns in network
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

The execution plan that readers of the hardware use: :mod:`rramsim.mapper.plan`; the packing
helpers: :mod:`rramsim.mapper.packing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType

import numpy as np

from rramsim._validate import real_scalar
from rramsim._validate import shape as as_shape
from rramsim.crossbar import Crossbar
from rramsim.errors import MappingError
from rramsim.mapper import _checks
from rramsim.mapper.network import LayeredNetwork, fold_conv_weight, network_from_graph
from rramsim.mapper.packing import (
    _check_cell_v0,
    _check_tile_options,
    _check_tile_shape,
    _given_pieces,
    _pack,
    _per_layer,
    _piece_lines,
    _piece_plans,
    _piece_v0,
    _share_mode,
    _TileCells,
)
from rramsim.mapper.plan import (
    DEFAULT_G_RESET,
    PLACEMENTS,
    RESET,
    SCHEMES,
    SET,
    ExecutionPlan,
    LayerPlan,
    Piece,
    Placement,
    Scheme,
    Sharing,
    TileRead,
)


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
    placement : {"naive", "ir_aware", "given"}
        Network order from the top-left corner, or heavy rows near the sense amplifiers and heavy
        columns near the drivers, shelves packed from the bottom-left corner, or every cell
        where its layer's :attr:`~rramsim.mapper.network.Layer.positions` say (e.g. measured
        cells where they were read out; ``pack_sparse``, ``share_tiles`` and
        ``input_activity`` then play no part). Given positions are refused when two cells
        collide, a cell falls outside the tile, or a pair does not fit ``scheme`` (one row and
        two columns, or one column and two rows).
    pack_sparse : bool
        Leave out rows and columns whose weights are all pruned (fewer cells, fewer tiles).
    share_tiles : bool, "lines" or "diagonal"
        Let pieces share a tile (each piece is read on its own). ``"lines"`` (= True): shelf
        packing, pieces may share word or bit lines (fewest tiles). ``"diagonal"``: pieces share a
        tile only where they share no line (block-diagonal; no other piece's cells load a piece's
        lines, so less IR drop, more tiles). False: one piece per tile.
    g_reset : float or None
        Conductance of each cell of a pruned weight, siemens (>= 0); None keeps the graph's pair.
        A layer with its own pruned pair (:attr:`~rramsim.mapper.network.Layer.g_plus_pruned`)
        puts that pair on its pruned cells instead.
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
    if placement not in (*PLACEMENTS, "given"):
        raise MappingError(f"placement must be one of {(*PLACEMENTS, 'given')}, got "
                           f"{placement!r}")
    share = _share_mode(share_tiles)
    R, C = _check_tile_shape(as_shape(tile_shape, "tile_shape", MappingError, ndim=2, minimum=1),
                             scheme)
    for name, val in (("g_unused", g_unused), ("g_reset", g_reset)):
        if val is not None:
            real_scalar(val, name, MappingError, nonnegative=True, unit="siemens")
    opts = _check_tile_options(tile_options)
    activity = _per_layer(input_activity, network, "input_activity")
    v0_layers = _check_cell_v0(cell_v0, network)

    if placement == "given":   # every cell where the layer's positions say
        placed, n_tiles = _given_pieces(network, (R, C), scheme)
    else:
        # ---- 1-3: per-layer piece plans (logical), ordered
        cap = (R, C // 2) if scheme == "columns" else (R // 2, C)
        plans = _piece_plans(network, cap, ir_aware=placement == "ir_aware",
                             pack_sparse=pack_sparse, activity=activity, g_reset=g_reset)
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
    for entry in placed:
        if placement == "given":
            k, t, j, src, dst, *lines = entry
            p = Piece(k, t, j, 0, src, dst, *lines)
        else:
            k, t, rb, cb, src, dst, r0, c0 = entry
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
