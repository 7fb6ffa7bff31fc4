"""Packing a layered network's pieces onto tiles: argument checks, splitting layers into
pieces, first-fit shelves or diagonal blocks, line orders, the tiles' cell arrays
(steps 1-6 of :func:`rramsim.mapper.mapping.map_network`)."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from collections.abc import Sequence

import numpy as np

from rramsim.crossbar import Crossbar
from rramsim.errors import CrossbarError, MappingError
from rramsim.mapper.network import LayeredNetwork
from rramsim.mapper.plan import RESET, SET, SHARINGS, UNUSED, Piece


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
    if ly.g_plus_pruned is not None:   # the layer's own pruned cells (measured G_zero)
        pp, pm = ly.g_plus_pruned[ix], ly.g_minus_pruned[ix]
        g_pos = np.where(kept, g_pos, np.where(pos_sign, pp, pm))
        g_neg = np.where(kept, g_neg, np.where(pos_sign, pm, pp))
    elif g_reset is not None:
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


# ------------------------------------------------------------------------- given positions
def _given_cells(ly, shape: tuple[int, int], scheme: str):
    """Tile, rows and columns of the (+) and (-) cells of every weight of ``ly`` from its
    :attr:`~rramsim.mapper.network.Layer.positions` (the sign decides which of the ``g_plus`` /
    ``g_minus`` cells is the (+) one), checked against the tile and the scheme."""
    where = f"layer {ly.name!r}"
    if ly.positions is None:
        raise MappingError(f"{where}: placement 'given' needs every layer's cell positions")
    t, r1, c1, r2, c2 = ly.positions
    pos = ly.sign > 0
    rp, cp = np.where(pos, r1, r2), np.where(pos, c1, c2)
    rn, cn = np.where(pos, r2, r1), np.where(pos, c2, c1)
    bad = (t < 0) | (rp < 0) | (rn < 0) | (cp < 0) | (cn < 0) | (rp >= shape[0]) \
        | (rn >= shape[0]) | (cp >= shape[1]) | (cn >= shape[1])
    if bad.any():
        i, o = np.argwhere(bad)[0]
        raise MappingError(
            f"{where}: the cells of weight (input {i}, output {o}) at tile {t[i, o]}, "
            f"(row {rp[i, o]}, column {cp[i, o]}) and (row {rn[i, o]}, column {cn[i, o]}) fall "
            f"outside the {shape[0]} x {shape[1]} tile")
    same = (rp == rn) if scheme == "columns" else (cp == cn)
    other = (cp == cn) if scheme == "columns" else (rp == rn)
    misfit = ~same | other
    if misfit.any():
        i, o = np.argwhere(misfit)[0]
        need = "one row, two columns" if scheme == "columns" else "one column, two rows"
        raise MappingError(
            f"{where}: the cells of weight (input {i}, output {o}) at tile {t[i, o]}, "
            f"(row {rp[i, o]}, column {cp[i, o]}) and (row {rn[i, o]}, column {cn[i, o]}) do not "
            f"fit the {scheme} scheme on a {shape[0]} x {shape[1]} tile (a pair takes {need})")
    return t, rp, cp, rn, cn


def _check_collisions(cells: list, net: LayeredNetwork, shape: tuple[int, int]) -> None:
    """No two cells of any layers on one tile position (``cells[k]`` from :func:`_given_cells`)."""
    keys, owner = [], []
    for k, (t, rp, cp, rn, cn) in enumerate(cells):
        for r, c in ((rp, cp), (rn, cn)):
            keys.append(((t * shape[0] + r) * shape[1] + c).ravel())
            owner.append(np.full(t.size, k))
    flat, who = np.concatenate(keys), np.concatenate(owner)
    order = np.argsort(flat, kind="stable")
    dup = np.flatnonzero(np.diff(flat[order]) == 0)
    if dup.size:
        a, b = order[dup[0]], order[dup[0] + 1]
        tile, rest = divmod(int(flat[a]), shape[0] * shape[1])
        row, col = divmod(rest, shape[1])
        names = [net.layers[int(who[x])].name for x in (a, b)]
        raise MappingError(f"layers {names[0]!r} and {names[1]!r}: two cells at tile {tile}, "
                           f"row {row}, column {col} (given positions collide)")


def _given_pieces(net: LayeredNetwork, shape: tuple[int, int], scheme: str):
    """Pieces of ``placement="given"``: per layer, the weights of one source on one (+)/(-) row
    pair are one read; reads with the same tile, targets and columns merge into one piece (a
    crossbar-shaped layout gives one piece per layer and tile). Returns ``(pieces, n_tiles)``,
    each piece ``(layer, tile, index, sources, targets, rows+, rows-, cols+, cols-)``."""
    cells = [_given_cells(ly, shape, scheme) for ly in net.layers]
    _check_collisions(cells, net, shape)
    out, n_tiles = [], 0
    for k, (t, rp, cp, rn, cn) in enumerate(cells):
        fi, fo = t.shape
        src = np.repeat(np.arange(fi), fo)
        dst = np.tile(np.arange(fo), fi)
        t, rp, cp, rn, cn = (a.ravel() for a in (t, rp, cp, rn, cn))
        n_tiles = max(n_tiles, int(t.max()) + 1)
        order = np.lexsort((dst, src, rn, rp, t))
        key = np.stack([t, rp, rn, src])[:, order]
        cut = np.flatnonzero(np.any(np.diff(key, axis=1) != 0, axis=0)) + 1
        merged: dict = {}
        for g in np.split(order, cut):
            sig = (int(t[g[0]]), dst[g].tobytes(), cp[g].tobytes(), cn[g].tobytes())
            merged.setdefault(sig, []).append(g)
        for j, groups in enumerate(merged.values()):
            first = groups[0]
            heads = np.array([g[0] for g in groups])
            out.append((k, int(t[first[0]]), j, src[heads], dst[first], rp[heads], rn[heads],
                        cp[first], cn[first]))
    return out, n_tiles
