"""Transfer matrix and input admittance of a grid tile by geometric multifrontal Schur complements.

The tile's nodal matrix is a weighted Laplacian of two stacked grids: word-line nodes WL(i, j) joined
along rows, bit-line nodes BL(i, j) joined along columns, and one cell between WL(i, j) and BL(i, j).
Around it sits a ring of *ports* that are never eliminated: the row sources (left, and right for
``drive="both"``) and the sense nodes S_j below the bit lines. The transfer matrix and the input
admittance only need the Schur complement of the whole matrix on those ports, so no factor is ever
stored.

The rectangle of cells is bisected recursively, always across its longer side. A vertical cut at
column c removes the word-line nodes WL(:, c) (the *separator*, one node per row; no two of them are
joined), which leaves three pieces: the cells left of c, the cells right of c, and the bit line of
column c, a chain that touches only the separator and the two nodes above and below it. A horizontal
cut at row r does the same with BL(r, :) as separator and the word line of row r as the chain.

Bottom-up, every rectangle hands its parent the dense Schur complement of its own nodes on its
boundary (the separators of its ancestors around it, or the port ring where it touches the tile's
edge). The parent adds its children's contributions and its chain's (a tridiagonal elimination, O(n^2)
for a chain of n nodes), eliminates its separator densely (Cholesky for large separators, a batched
LU or pivot-by-pivot elimination over many small fronts at once), and passes on the result.
This is the multifrontal method (Duff & Reid, ACM TOMS 9, 1983) with George's nested dissection
(SIAM J. Numer. Anal. 10, 1973), specialised to the crossbar: the ordering, the fronts and their
index maps follow from the rectangle's shape, so there is no sparse assembly, no ordering
computation and no factor in memory. Rectangles of one shape and one kind of edge contact have
identical fronts, so each level of the recursion runs as a few batched NumPy/LAPACK calls per shape;
the top fronts run in BLAS (a 1024 x 1024 tile: a root front of 1024 separator nodes over 2048
ports, about 5e10 flops in all), the many small ones below on two threads. Memory stays near two
levels of contributions (0.73 GB at 1024 x 1024, measured; the ports-last CHOLMOD factor: 2.8 GB).

At the root, with the sources at voltages v and the sense nodes at V_s, the port currents are
``I = U [v; V_s]``. An ideal TIA holds V_s = 0, so ``i_out = -U_sv v``; a sense element of conductance
g_s gives ``(U_ss + g_s) V_s = -U_sv v`` and ``i_out = g_s V_s`` (:func:`port_maps`, which also
gives the sources' currents, ``i_in = Y v``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import scipy.linalg as sla
from scipy.linalg import blas, lapack

from rramsim.crossbar import Crossbar
from rramsim.errors import SolverError
from rramsim.solver import _factor
from rramsim.solver._factor import blas_threads, check_memory
from rramsim.solver._grid import GridStamps

log = logging.getLogger("rramsim.solver")

#: Separator sizes up to which a stack of fronts is eliminated pivot by pivot with array operations
#: over the whole stack (tiny separators: a LAPACK call per front would cost more than its work).
ELEMENTWISE_K = 2
#: Separator size from which fronts are eliminated one by one with Cholesky (LAPACK/BLAS on large
#: blocks) instead of as one batched LU over every front of the group (small blocks).
PER_FRONT_K = 24
#: Separator size from which a front's BLAS calls use every thread when it is eliminated alone (one
#: thread below: on two cores, waking worker threads costs more than small blocks gain, and two BLAS
#: libraries, NumPy's and SciPy's, would otherwise spin against each other).
THREADED_K = 128
#: Separator size from which the symmetric update uses a rank-k update (half the flops of a general
#: product) and mirrors the triangle it fills (the mirroring costs more than it saves on small fronts).
SYRK_K = 128
#: Threads that assemble and eliminate the chunks of a group of small fronts side by side (NumPy and
#: LAPACK release the GIL; each thread's BLAS runs single-threaded).
WORKERS = 2
#: Entries of the front stack assembled and eliminated at once (8 MB).
CHUNK_ENTRIES = 1 << 20


def _layout(a: int, b: int, left_edge: bool, right_edge: bool, top_edge: bool, both: bool):
    """Boundary layout of an a x b rectangle: offsets of its sides and the total size.

    Sides: left (a nodes: WL of the column to its left, or the row sources), right (a; absent on the
    tile's right edge with one-sided drive: the word lines end open there), top (b: BL of the row
    above; absent on the tile's top edge, where the bit lines end open), bottom (b: BL of the row
    below, or the sense nodes).
    """
    off = {"left": 0}
    size = a
    if (not right_edge) or both:
        off["right"] = size
        size += a
    if not top_edge:
        off["top"] = size
        size += b
    off["bottom"] = size
    size += b
    return off, size


def _levels(m: int, n: int):
    """Rectangles level by level, top-down: (r0, r1, c0, c1) and the indices of their children."""
    out = []
    r0 = np.array([0])
    r1 = np.array([m])
    c0 = np.array([0])
    c1 = np.array([n])
    while r0.size:
        a, b = r1 - r0, c1 - c0
        vert = b >= a
        cs = c0 + b // 2
        rs = r0 + a // 2
        # child "lo": left part (vertical cut) or top part; child "hi": right or bottom part
        lo = (r0, np.where(vert, r1, rs), c0, np.where(vert, cs, c1))
        hi = (np.where(vert, r0, rs + 1), r1, np.where(vert, cs + 1, c0), c1)
        lo_ok = (lo[1] > lo[0]) & (lo[3] > lo[2])
        hi_ok = (hi[1] > hi[0]) & (hi[3] > hi[2])
        n_lo = int(lo_ok.sum())
        child_lo = np.full(r0.size, -1)
        child_hi = np.full(r0.size, -1)
        child_lo[lo_ok] = np.arange(n_lo)
        child_hi[hi_ok] = n_lo + np.arange(int(hi_ok.sum()))
        out.append((r0, r1, c0, c1, child_lo, child_hi))
        r0, r1, c0, c1 = (np.concatenate([x[lo_ok], y[hi_ok]]) for x, y in zip(lo, hi, strict=True))
    return out


def _plan(m: int, n: int, both: bool):
    """Bottom-up list of levels: groups of equal fronts (key, members, k, f), each rectangle's
    group and index in it, the children's indices, positions, and the level's contribution size."""
    plan = []
    for r0, r1, c0, c1, kid_lo, kid_hi in reversed(_levels(m, n)):
        a, b = r1 - r0, c1 - c0
        le, re, te = c0 == 0, c1 == n, r0 == 0
        code = (((a.astype(np.int64) * (n + 1) + b) * 2 + le) * 2 + re) * 2 + te
        uniq, first, inv = np.unique(code, return_index=True, return_inverse=True)
        idx = np.empty(r0.size, dtype=np.int64)
        groups = []
        for u in range(uniq.size):
            members = np.flatnonzero(inv == u)
            idx[members] = np.arange(members.size)
            i0 = first[u]
            key = (int(a[i0]), int(b[i0]), bool(le[i0]), bool(re[i0]), bool(te[i0]))
            k = min(key[0], key[1])  # the separator runs across the longer side
            f = k + _layout(*key, both)[1]
            groups.append((key, members, k, f))
        size = sum(g[1].size * (g[3] - g[2]) ** 2 for g in groups)
        plan.append((groups, inv, idx, kid_lo, kid_hi, r0, c0, size))
    return plan


def shape_counts(m: int, n: int, both: bool):
    """The plan of :func:`_plan` by shapes only, bottom-up: per level, a list of
    ``(count, k, f)`` for each kind of front (separator size k, front size f).

    Arithmetic on a few keys per level (rectangles of one shape and edge contact are alike), so it
    costs microseconds at any tile size where :func:`_plan` holds one entry per rectangle.
    """
    levels = []
    cur = {(m, n, True, True, True): 1}
    while cur:
        level = []
        nxt: dict = {}
        for key, cnt in cur.items():
            a, b, le, re, te = key
            k = min(a, b)
            level.append((cnt, k, k + _layout(*key, both)[1]))
            if b >= a:
                c = b // 2
                kids = ((a, c, le, False, te), (a, b - c - 1, False, re, te))
            else:
                rr = a // 2
                kids = ((rr, b, le, re, te), (a - rr - 1, b, le, re, False))
            for kid in kids:
                if kid[0] > 0 and kid[1] > 0:
                    nxt[kid] = nxt.get(kid, 0) + cnt
        levels.append(level)
        cur = nxt
    return levels[::-1]


def memory_bytes(m: int, n: int, both: bool) -> float:
    """Peak bytes of :func:`port_schur` on an m x n tile, computed without allocating (calibrated:
    1024 x 1024 peaked at 0.74 GB resident, including the Python process; estimate 0.76 GB): two
    levels of contributions, the largest front with its scratch blocks, the chunks of the worker
    threads, the tile's conductances."""
    levels = shape_counts(m, n, both)
    contrib = max(sum(c * (f - k) ** 2 for c, k, f in lev) for lev in levels)
    front = max(f for lev in levels for _, _, f in lev) ** 2
    return 8.0 * (2 * contrib + 4 * front + 2 * WORKERS * CHUNK_ENTRIES + 3 * m * n) + 120e6


def flops(m: int, n: int, both: bool) -> float:
    """Floating-point operations of :func:`port_schur` (Cholesky, triangular solve and symmetric
    update of every front: ``k^3/3 + k^2 r + k r^2`` for separator k and boundary r)."""
    return float(sum(c * (k ** 3 / 3 + k * k * (f - k) + k * (f - k) ** 2)
                     for lev in shape_counts(m, n, both) for c, k, f in lev))


#: Sustained flop rate of the multifrontal elimination, flop/s, calibrated on the development
#: machine (docs/benchmarks.md), for the time estimate logged up front.
FLOP_RATE = 7e9


class _Tile:
    """Conductances and the recursion for one grid tile."""

    def __init__(self, xb: Crossbar, g: np.ndarray):
        self.shape = xb.shape
        self.g = np.ascontiguousarray(g, dtype=float)
        st = GridStamps.from_crossbar(xb)
        self.gw, self.gb, self.gdrv, self.both = st.word, st.bit, st.drive, st.both

    # ---------------------------------------------------------------- one group of equal fronts
    def front(self, big, key, r0, c0, kids, scratch=None, threaded=True, out=None) -> None:
        """Assemble and eliminate the fronts of the rectangles ``key`` = (a, b, left, right, top
        edge flags) at rows r0 / columns c0 (arrays of B) in ``big`` (B, f, f), given their
        children's contributions ``kids`` = (U_lo or None, U_hi or None), each (B, r_c, r_c).
        Writes each rectangle's contribution to ``out`` (B, r, r; default ``big[:, k:, k:]``)."""
        a, b, le, re, te = key
        both = self.both
        off, r = _layout(a, b, le, re, te, both)
        vert = b >= a
        k = min(a, b)
        big.fill(0.0)
        pos = {side: k + o for side, o in off.items()}

        if vert:
            c = b // 2
            # the left part (a, c) and the right part (a, b - c - 1); where a part is empty, the
            # separator's wires to that side belong to this front
            self._part(big, kids[0], (a, c, le, False, te), k, pos, "left",
                       {"left": ("left", 0), "right": ("sep", 0), "top": ("top", 0),
                        "bottom": ("bottom", 0)}, self.gdrv if le else self.gw)
            self._part(big, kids[1], (a, b - c - 1, False, re, te), k, pos, "right",
                       {"left": ("sep", 0), "right": ("right", 0), "top": ("top", c + 1),
                        "bottom": ("bottom", c + 1)}, self.gdrv if re else self.gw)
            # chain: the bit line of column c, rows r0..r0+a-1
            gc = self.g[r0[:, None] + np.arange(a)[None, :], (c0 + c)[:, None]]
            e0 = (pos["top"] + c, self.gb) if "top" in pos else None
            self._chain(big, gc, self.gb, e0, (pos["bottom"] + c, self.gb))
        else:
            rr = a // 2
            # the top part (rr, b) and the bottom part (a - rr - 1, b)
            self._part(big, kids[0], (rr, b, le, re, te), k, pos, "top",
                       {"left": ("left", 0), "right": ("right", 0), "top": ("top", 0),
                        "bottom": ("sep", 0)}, self.gb)
            self._part(big, kids[1], (a - rr - 1, b, le, re, False), k, pos, "bottom",
                       {"left": ("left", rr + 1), "right": ("right", rr + 1), "top": ("sep", 0),
                        "bottom": ("bottom", 0)}, self.gb)
            # chain: the word line of row rr, columns c0..c0+b-1
            gc = self.g[(r0 + rr)[:, None], c0[:, None] + np.arange(b)[None, :]]
            e0 = (pos["left"] + rr, self.gdrv if le else self.gw)
            e1 = (pos["right"] + rr, self.gdrv if re else self.gw) if "right" in pos else None
            self._chain(big, gc, self.gw, e0, e1)
        _eliminate(big, k, scratch, threaded, out)

    def _part(self, big, kid, ckey, k, pos, side, where, cond) -> None:
        """Add one part's contribution ``kid`` (its key ``ckey``; ``where`` maps its sides to the
        front's); for an empty part, the wires of conductance ``cond`` joining the k separator nodes
        to the front's ``side`` (none when that side is an open end)."""
        if kid is not None:
            lay, _ = _layout(*ckey, self.both)
            _scatter_add(big, self._map(lay, ckey[0], ckey[1], where, pos), kid)
        elif side in pos:
            self._wires(big, np.arange(k), pos[side] + np.arange(k), cond)

    @staticmethod
    def _map(child_layout, a_c, b_c, where, pos):
        """Runs ``(child start, front start, length)`` placing a child's boundary in the front."""
        runs = []
        at = 0
        for side in ("left", "right", "top", "bottom"):
            if side not in child_layout:
                continue
            size = a_c if side in ("left", "right") else b_c
            target, start = where[side]
            runs.append((at, start if target == "sep" else pos[target] + start, size))
            at += size
        return runs

    @staticmethod
    def _wires(big, p, q, cond):
        big[:, p, p] += cond
        big[:, q, q] += cond
        big[:, p, q] -= cond
        big[:, q, p] -= cond

    @staticmethod
    def _chain(big, gc, gwire, e0, e1):
        """Add the Schur complement of a chain of nodes x_t (t < n) on the front nodes it touches.

        x_t joins front node t (the separator) through the cell gc[:, t] and x_{t+1} through a wire
        ``gwire``; x_0 joins front node e0[0] through e0[1], x_{n-1} front node e1[0] through e1[1]
        (either may be None). Eliminated with a batched Thomas sweep (the chain matrix is
        irreducibly diagonally dominant, so no pivoting is needed).
        """
        nb, n = gc.shape
        ends = [e for e in (e0, e1) if e is not None]
        q = n + len(ends)
        diag = gc.copy()
        diag[:, 1:] += gwire
        diag[:, :-1] += gwire
        rhs = np.zeros((nb, n, q))
        t = np.arange(n)
        rhs[:, t, t] = gc
        dq = np.empty((nb, q))
        dq[:, :n] = gc
        rows = [t]
        col = n
        for e, at in zip((e0, e1), (0, n - 1), strict=True):
            if e is None:
                continue
            diag[:, at] += e[1]
            rhs[:, at, col] = e[1]
            dq[:, col] = e[1]
            rows.append(np.array([at]))
            col += 1
        # Thomas: (tridiag with off-diagonal -gwire) X = rhs  (rhs holds -C, so X = -Tc^{-1} C)
        x = rhs
        den = np.empty((nb, n))
        cp = np.empty((nb, n))
        den[:, 0] = diag[:, 0]
        cp[:, 0] = -gwire / den[:, 0]
        x[:, 0] /= den[:, 0, None]
        for i in range(1, n):
            den[:, i] = diag[:, i] + gwire * cp[:, i - 1]
            cp[:, i] = -gwire / den[:, i]
            x[:, i] += gwire * x[:, i - 1]
            x[:, i] /= den[:, i, None]
        for i in range(n - 2, -1, -1):
            x[:, i] -= cp[:, i, None] * x[:, i + 1]
        # contribution: diag(dq) - C^T Tc^{-1} C, with row p of C^T = -(coupling) e_{node(p)}
        # (dq holds each row's coupling too: gc for the separator, then the ends)
        node = np.concatenate(rows)
        contrib = -dq[:, :, None] * x[:, node, :]
        contrib[:, np.arange(q), np.arange(q)] += dq
        runs = [(0, 0, n)] + [(n + i, e[0], 1) for i, e in enumerate(ends)]
        _scatter_add(big, runs, contrib)


#: Fronts up to this size take their children's contributions through one flat index (many small
#: blocks would each cost a strided NumPy call); larger ones block by block.
FLAT_SCATTER_F = 64


@functools.lru_cache(maxsize=4096)
def _flat_index(runs: tuple, f: int) -> np.ndarray:
    pos = np.concatenate([np.arange(pi, pi + li) for _, pi, li in runs])
    return (pos[:, None] * f + pos[None, :]).ravel()


def _scatter_add(big: np.ndarray, runs, u: np.ndarray) -> None:
    """``big[:, P, P] += u`` where P is given as runs (start in u, start in big, length)."""
    nb, f, _ = big.shape
    if f <= FLAT_SCATTER_F and big.flags.c_contiguous:
        flat = big.reshape(nb, f * f)
        flat[:, _flat_index(tuple(runs), f)] += u.reshape(nb, -1)
        return
    for ci, pi, li in runs:
        for cj, pj, lj in runs:
            big[:, pi:pi + li, pj:pj + lj] += u[:, ci:ci + li, cj:cj + lj]


def _eliminate(big: np.ndarray, k: int, scratch: _Scratch | None = None,
               threaded: bool = True, out: np.ndarray | None = None) -> None:
    """Schur complements ``F_bb - F_bs F_ss^{-1} F_sb`` of a stack of fronts, into ``out``.

    ``out`` (B, r, r) defaults to ``F_bb`` itself (in place); ``big`` is overwritten either way.
    Tiny separators: pivot by pivot with array operations over the whole stack. Small ones: one
    batched LU solve and product (NumPy), which avoids a Python-level call per front. Large ones:
    Cholesky, triangular solve and symmetric rank-k update, front by front (LAPACK/BLAS).
    """
    if out is None:
        out = big[:, k:, k:]
    if k == 0:
        out[...] = big
    elif k <= ELEMENTWISE_K:
        for j in range(k):
            piv = big[:, j, j]
            if not np.all(piv > 0):
                raise SolverError("transfer matrix: a separator node has no conductance left "
                                  "(singular or non-finite tile)")
            row = big[:, j, j + 1:] / piv[:, None]
            if j < k - 1:
                big[:, j + 1:, j + 1:] -= big[:, j + 1:, j, None] * row[:, None, :]
            else:  # the last pivot writes the result
                np.subtract(big[:, k:, k:], big[:, k:, j, None] * row[:, None, :], out=out)
    elif k < PER_FRONT_K:
        try:
            x = np.linalg.solve(big[:, :k, :k], big[:, :k, k:])
        except np.linalg.LinAlgError as exc:
            raise SolverError(f"transfer matrix: a separator block is singular ({exc})") from exc
        np.subtract(big[:, k:, k:], np.matmul(big[:, k:, :k], x), out=out)
    else:
        with blas_threads(None if threaded and k >= THREADED_K else 1):
            _eliminate_fronts(big, k, scratch or _Scratch(), out)


def _eliminate_fronts(big: np.ndarray, k: int, scratch: _Scratch, out: np.ndarray) -> None:
    """Front by front: ``out[i] = F_bb - W^T W`` with ``L W = F_sb`` and ``L L^T = F_ss``.

    LAPACK/BLAS need Fortran-contiguous blocks: each is copied into reused scratch memory and
    factored/updated there in place.
    """
    r = big.shape[1] - k
    for i in range(big.shape[0]):
        front = big[i]
        a = scratch.get("ss", k * k).reshape(k, k, order="F")
        a[...] = front[:k, :k]
        low, info = lapack.dpotrf(a, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            raise SolverError(f"transfer matrix: a separator block is not positive definite "
                              f"(LAPACK dpotrf info {info}); singular or non-finite tile")
        b = scratch.get("sb", k * r).reshape(k, r, order="F")
        b[...] = front[:k, k:]
        w = blas.dtrsm(1.0, low, b, lower=1, overwrite_b=1)
        c = scratch.get("bb", r * r).reshape(r, r, order="F")
        c[...] = front[k:, k:]
        # U is symmetric: the C-ordered view of the Fortran-ordered result is U (or, after the
        # rank-k update, which fills only the upper triangle, U's lower triangle: mirror it)
        if k < SYRK_K:
            out[i] = blas.dgemm(-1.0, w, w, beta=1.0, c=c, trans_a=1, overwrite_c=1).T
        else:  # half the flops
            out[i] = blas.dsyrk(-1.0, w, beta=1.0, c=c, trans=1, lower=0, overwrite_c=1).T
            _mirror_lower(out[i])


def _mirror_lower(a: np.ndarray, block: int = 256) -> None:
    """Copy the lower triangle of a square array onto its upper one, in blocks of rows."""
    r = a.shape[0]
    for i0 in range(0, r, block):
        i1 = min(r, i0 + block)
        diag = a[i0:i1, i0:i1]
        iu = _triu_indices(i1 - i0)
        diag[iu] = diag.T[iu]
        if i1 < r:
            a[i0:i1, i1:] = a[i1:, i0:i1].T


@functools.lru_cache(maxsize=8)
def _triu_indices(n: int):
    return np.triu_indices(n, 1)


class _Scratch:
    """Work arrays reused between fronts, one set per thread, for one multifrontal run.

    First touches of fresh memory are expensive (page faults, docs/benchmarks.md): a front that
    allocated its own arrays paid that again and again for the large fronts at the top.
    """

    def __init__(self):
        self._bufs: dict[tuple[int, str], np.ndarray] = {}

    def get(self, name: str, size: int) -> np.ndarray:
        key = (threading.get_ident(), name)
        buf = self._bufs.get(key)
        if buf is None or buf.size < size:
            buf = self._bufs[key] = np.empty(size)
        return buf[:size]


def port_schur(xb: Crossbar, g: np.ndarray | None = None, *,
               way_out: Callable[[Crossbar, str], str] | None = None) -> tuple[np.ndarray, dict]:
    """Schur complement of a grid tile's nodal matrix on its ports, and the ports' layout.

    Returns ``(U, offsets)``: U is dense over [sources of the rows (M), right-hand sources (M, for
    ``drive="both"``), sense nodes S_j (N)], ``offsets`` maps "left", "right", "bottom" to where each
    group starts. ``way_out(xb, "multifrontal")`` is what a refusal for lack of memory names instead
    (:func:`rramsim.solver.way_out`, which the solver's entry points pass), called only when
    refusing; None: a generic hint.
    """
    m, n = xb.shape
    if float(xb.r_wordline) <= 0 or float(xb.r_bitline) <= 0:
        raise SolverError("the multifrontal transfer matrix needs r_wordline > 0 and r_bitline > 0")
    both = xb.drive == "both"
    need = memory_bytes(m, n, both)
    if need > _factor.available_memory_bytes():
        check_memory(need, f"the multifrontal Schur complement of a {m} x {n} tile",
                     None if way_out is None else lambda: way_out(xb, "multifrontal"))
    seconds = flops(m, n, both) / FLOP_RATE
    log.log(logging.INFO if seconds > 5 or need > 1e9 else logging.DEBUG,
            "rramsim.solver: multifrontal transfer matrix of a %d x %d tile: about %.3g s and %.3g GB",
            m, n, seconds, need / 1e9)
    tile = _Tile(xb, xb.effective_conductance() if g is None else g)
    plan = _plan(m, n, tile.both)
    progress = None
    if seconds > PROGRESS_SECONDS:
        from tqdm.auto import tqdm

        level = [sum(c * (k ** 3 / 3 + k * k * (f - k) + k * (f - k) ** 2) for c, k, f in lev)
                 for lev in shape_counts(m, n, both)]
        done = np.round(np.cumsum(level) / 1e9).astype(int)  # Gflop done after each level
        progress = (tqdm(total=int(done[-1]), unit="Gflop", leave=False,
                         desc=f"transfer matrix {m} x {n}"), done)
    try:
        with blas_threads(1):
            return _port_schur(tile, plan, progress)
    finally:
        if progress is not None:
            progress[0].close()


#: Estimated seconds from which the multifrontal elimination shows a progress bar (per level).
PROGRESS_SECONDS = 10.0


def _port_schur(tile: _Tile, plan, progress=None):
    # The plan (groups of equal fronts, sizes of their contributions) is known up front, so
    # that two buffers allocated once hold the contributions of all levels: level d writes its own
    # into one while it reads its children's from the other. Fronts are assembled and eliminated in
    # chunks of at most CHUNK_ENTRIES entries in scratch memory that stays in cache. First touches of
    # fresh memory are expensive on this machine (~3 ms per MB), so the memory high-water mark is
    # kept near two levels of contributions (about 16 MN entries each).
    need = max(p[-1] for p in plan)
    work = (np.empty(need), np.empty(need))
    workers = min(WORKERS, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) if workers > 1 else contextlib.nullcontext() as pool:
        return _run_plan(tile, plan, work, pool, progress)


class _Group(NamedTuple):
    """One group of equal fronts at a level: their ``key`` (see :meth:`_Tile.front`), front size
    ``f``, the rectangles' first rows ``r0`` and columns ``c0``, and the children's contributions
    ``sources`` (per side: None, or the level below's array and each rectangle's index in it)."""

    key: tuple
    f: int
    r0: np.ndarray
    c0: np.ndarray
    sources: list


def _run_chunk(tile, scratch, out, group: _Group, threaded, span) -> None:
    """Fronts ``span`` = (start, stop) of a group: assemble, eliminate, store their contributions."""
    key, f, r0, c0, sources = group
    s, e = span
    if e - s == 1:  # one front (the large ones): its children's contributions as views, no copy
        kids = [None if src is None else src[0][src[1][s]][None] for src in sources]
    else:
        kids = [None if src is None else src[0][src[1][s:e]] for src in sources]
    big = scratch.get("front", (e - s) * f * f).reshape(e - s, f, f)
    tile.front(big, key, r0[s:e], c0[s:e], kids, scratch, threaded, out[s:e])


def _run_plan(tile, plan, work, pool, progress=None):
    scratch = _Scratch()
    below = None  # the level below: (contributions per group, group of each rectangle, index in it)
    for depth, (groups, gid, idx, kid_lo, kid_hi, r0, c0, _) in enumerate(plan):
        buf = work[depth % 2]
        at = 0
        results = []
        for key, members, k, f in groups:
            nb = members.size
            r = f - k
            out = buf[at:at + nb * r * r].reshape(nb, r, r)
            at += nb * r * r
            sources = []
            for kid in (kid_lo, kid_hi):
                ks = kid[members]
                if ks[0] < 0:
                    sources.append(None)
                    continue
                res, kg, ki = below
                if np.any(kg[ks] != kg[ks[0]]):  # pragma: no cover - shapes decide child keys
                    raise SolverError("internal error: children of one front kind differ")
                sources.append((res[kg[ks[0]]], ki[ks]))
            chunk = max(1, CHUNK_ENTRIES // (f * f))
            if pool is not None and nb > 1:
                chunk = min(chunk, -(-nb // 2))
            spans = [(s, min(nb, s + chunk)) for s in range(0, nb, chunk)]
            # several chunks: the workers take them side by side, each with one BLAS thread; a
            # single chunk (the large fronts at the top) gets every BLAS thread instead
            parallel = pool is not None and len(spans) > 1
            run = functools.partial(_run_chunk, tile, scratch, out,
                                    _Group(key, f, r0[members], c0[members], sources), not parallel)
            if parallel:
                list(pool.map(run, spans))
            else:
                for span in spans:
                    run(span)
            results.append(out)
        below = (results, gid, idx)
        if progress is not None:
            progress[0].update(int(progress[1][depth]) - progress[0].n)
    u_root = np.array(below[0][0][0])
    off, _ = _layout(*tile.shape, True, True, True, tile.both)
    return u_root, off


def port_maps(xb: Crossbar, g: np.ndarray | None = None, *, admittance: bool = False,
              way_out: Callable[[Crossbar, str], str] | None = None
              ) -> tuple[np.ndarray, np.ndarray | None]:
    """Exact maps of a linear grid tile (both wire resistances > 0) from one Schur complement.

    Returns ``(T, Y)``: the (M, N) transfer matrix, ``i_out = v @ T``, and with ``admittance`` the
    (M, M) input admittance matrix, ``i_in = Y v`` (else None). With P the map from row voltages
    to source ports (each row drives its left port, and its right one for ``drive="both"``) and U
    the Schur complement on [sources, S]:  ideal TIA (S held at 0 V): ``T = -P^T U_ps``,
    ``Y = P^T U_pp P``; sense conductance g_s: ``K = U_ss + g_s I``, ``T = -g_s P^T U_ps K^-1``,
    ``Y = P^T U_pp P - P^T U_ps K^-1 U_sp P``. ``way_out`` as for :func:`port_schur`.
    """
    m, n = xb.shape
    u, off = port_schur(xb, g, way_out=way_out)
    s = slice(off["bottom"], off["bottom"] + n)
    rows = [slice(off[side], off[side] + m) for side in ("left", "right") if side in off]
    u_ps = sum(u[r, s] for r in rows)
    gs = GridStamps.from_crossbar(xb).sense
    y = None
    if admittance:
        y = sum(u[r1, r2] for r1 in rows for r2 in rows)
    if gs is None:
        t = -u_ps
    else:
        kinv_sp = sla.solve(u[s, s] + gs * np.eye(n), u_ps.T, assume_a="pos", check_finite=False)
        t = -gs * kinv_sp.T
        if admittance:
            y = y - u_ps @ kinv_sp
    if admittance:
        y = 0.5 * (y + y.T)  # symmetric by reciprocity; remove rounding asymmetry
    for name, a in (("transfer matrix", t), ("input admittance", y)):
        if a is not None and not np.all(np.isfinite(a)):
            raise SolverError(f"{name} has non-finite entries (conductances too extreme?)")
    return t, y


def transfer_matrix_grid(xb: Crossbar, g: np.ndarray | None = None, *,
                         way_out: Callable[[Crossbar, str], str] | None = None) -> np.ndarray:
    """Exact (M, N) transfer matrix of a linear grid tile (both wire resistances > 0); ``way_out``
    as for :func:`port_schur`."""
    return port_maps(xb, g, way_out=way_out)[0]
