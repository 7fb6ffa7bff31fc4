"""Geometric nested-dissection ordering of a crossbar's grid, computed from the grid itself.

Contracting every cell (the WL(i, j)--BL(i, j) edge) turns the tile's two stacked line grids into one
planar M x N grid graph. Nested dissection of a planar grid (George, "Nested dissection of a regular
finite element mesh", SIAM J. Numer. Anal. 10, 1973; Lipton, Rose & Tarjan, SIAM J. Numer. Anal. 16,
1979) splits the longer side of each box by a line of points, orders both halves recursively and the
separator last. For a k x k grid it gives O(k^2 log k) factor entries and O(k^3) flops, the optimum
for planar graphs; the general-purpose orderings (AMD, COLAMD, METIS inside CHOLMOD) cost seconds to
compute at 1024 x 1024 and give more fill (measured: docs/solver.md).

The recursion is evaluated level by level for all points at once: every point carries a base-3 key
(0 = in the first half, 1 = in the second half, 2 = on the separator) and separator and leaf points
stop descending, padded with 2s so that a separator sorts after both halves of its box. A stable sort
of the keys is the ordering: O(k^2 log k) work in NumPy array operations.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: Boxes with at most this many points are not dissected further (natural, row-major order inside).
LEAF_POINTS = 16


@lru_cache(maxsize=8)
def nested_dissection(m: int, n: int, leaf: int = LEAF_POINTS) -> np.ndarray:
    """Nested-dissection order of the 2 m n nodes of a tile's word-line and bit-line grids.

    Node ``k < m n`` is WL(i, j) with ``k = i n + j``; node ``m n + i n + j`` is BL(i, j).

    A vertical cut (between columns) only crosses word-line wires and a horizontal cut only bit-line
    wires, so the separator of a box is the one layer's nodes on the middle line: half the size of a
    separator of the contracted grid, which makes the dominant dense separator blocks 8x cheaper. The
    other layer's nodes on that line form a chain attached only to the separator; they are eliminated
    right after both halves.

    Parameters
    ----------
    m, n : int
        Grid size (word lines x bit lines).
    leaf : int
        Boxes of at most this many points are left in natural order (WL row-major, then BL).

    Returns
    -------
    ndarray of int64, shape (2 m n,)
        ``order[k]`` is the k-th node to eliminate. Read-only (cached).
    """
    if m < 1 or n < 1:
        raise ValueError(f"grid must be at least 1 x 1, got {m} x {n}")
    key, stop, dig_w, dig_b, depth = _dissect(m, n, leaf)
    # a point that stopped at level t has digits for levels 0..t-1 in key (the level-t digit
    # written there is overwritten below), then its layer digit, then 3s down to `depth`
    pad = depth - 1 - stop.astype(np.int64)
    base = (key - 1) // 4  # drop the placeholder digit written at the stop level
    scale = np.int64(4) ** pad
    key_w = (base * 4 + dig_w) * scale + (scale - 1)
    key_b = (base * 4 + dig_b) * scale + (scale - 1)
    key = np.concatenate([key_w, key_b])
    order = np.argsort(key, kind="stable")
    order.setflags(write=False)
    return order


def _dissect(m: int, n: int, leaf: int):
    """The recursion of :func:`nested_dissection`, level by level for all m n points at once.

    Returns ``(key, stop, dig_w, dig_b, depth)``: each point's base-4 digits of the boxes it
    descended through (one placeholder digit at its stop level), the level it stopped at, the
    final digit of its word-line and bit-line node there (3: separator, 2: chain, 3 as well for a
    leaf box) and the number of levels.
    """
    # Both layers of a point share its box until the point lands on a cut line, so the recursion
    # runs over the m n points; `last` records each point's final digit for the two layers.
    npts = m * n
    ii, jj = np.divmod(np.arange(npts, dtype=np.int32), np.int32(n))
    r0 = np.zeros(npts, dtype=np.int32)
    r1 = np.full(npts, m, dtype=np.int32)
    c0 = np.zeros(npts, dtype=np.int32)
    c1 = np.full(npts, n, dtype=np.int32)
    key = np.zeros(npts, dtype=np.int64)
    stop = np.full(npts, -1, dtype=np.int32)  # level at which the point stopped descending
    dig_w = np.full(npts, 3, dtype=np.int64)  # digit of WL / BL at that level
    dig_b = np.full(npts, 3, dtype=np.int64)
    idx = np.arange(npts)  # points still descending
    depth = 0
    while idx.size:
        if depth >= 31:  # 4**31 < 2**63; depth is ~2 log2(max(m, n)), far below this
            raise RuntimeError("nested dissection recursed too deep")
        a0, a1, b0, b1 = r0[idx], r1[idx], c0[idx], c1[idx]
        h = a1 - a0
        w = b1 - b0
        leafbox = h * w <= leaf
        split_cols = w >= h
        mid = np.where(split_cols, (b0 + b1) // 2, (a0 + a1) // 2)
        coord = np.where(split_cols, jj[idx], ii[idx])
        on_mid = (coord == mid) & ~leafbox
        # the layer whose wires cross the cut is the separator (3); the other layer's chain (2)
        dig_w[idx[on_mid]] = np.where(split_cols[on_mid], 3, 2)
        dig_b[idx[on_mid]] = np.where(split_cols[on_mid], 2, 3)
        done = leafbox | on_mid
        stop[idx[done]] = depth
        lo = ~done & (coord < mid)
        hi = ~done & (coord > mid)
        key[idx] = key[idx] * 4 + np.where(lo, 0, 1)
        k = idx[lo & split_cols]
        c1[k] = mid[lo & split_cols]
        k = idx[hi & split_cols]
        c0[k] = mid[hi & split_cols] + 1
        k = idx[lo & ~split_cols]
        r1[k] = mid[lo & ~split_cols]
        k = idx[hi & ~split_cols]
        r0[k] = mid[hi & ~split_cols] + 1
        idx = idx[~done]
        depth += 1
    return key, stop, dig_w, dig_b, depth
