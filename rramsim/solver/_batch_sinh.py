"""Batched exact solve of sinh grid tiles in cell-current space (every input of a batch at once).

With both wire resistances non-zero, a tile's word lines and bit lines are two sets of independent
resistor chains that meet only through the cells. Given the cell currents I (M, N), each chain is a
linear network driven by them, so the node voltages follow in closed form:

.. math:: V_W = v \\mathbf{1}^T - I R_W, \\qquad V_B = R_B I, \\qquad V_{cell} = V_W - V_B,

with ``R_W = K_W^{-1}`` (N x N) the Green's function of one word line (its driver at column 0, and
at column N-1 for ``drive="both"``) and ``R_B`` the same for one bit line (its sense element at the
end). Both are inverses of tridiagonal matrices, applied by one forward and one backward sweep
along the line for every row of every input at once. The cells close the system,
``V_cell = V(I) = v0 asinh(I / (G v0)) + r_a I`` (the sinh cell with its series access resistor, in
explicit inverse form), so the unknowns are the MN cell currents alone:

.. math:: F(I) = V(I) + I R_W + R_B I - v \\mathbf{1}^T = 0 .

F is the gradient of the strictly convex energy ``E(I) = sum C(I) + <I, I R_W + R_B I> / 2 -
<v 1^T, I>`` (C the cell's co-content, the integral of V(I)), so Newton's method with a backtracking
line search on E converges from any start (Nocedal & Wright, Numerical Optimization, 2nd ed.,
ch. 3 and 7); its Hessian ``diag(V'(I)) + R_W + R_B`` is SPD and its steps are solved by conjugate
gradients preconditioned with ``diag(1 / V'(I))`` (the cells' small-signal conductances), whose
condition number is about 1 + the IR-drop number g R N^2. Newton starts from the currents without IR
drop, ``G v`` (measured: 3 Newton and 8 CG steps at 64 x 64, against 4 and 11 from I = 0). Trial
points of the line search cost no operator application (``L(I + t dI) = L I + t L dI``), and no
cell current can overflow (asinh, not sinh). The inputs of a batch go through the iterations
together, in chunks small enough to stay in cache; every sweep step and cell evaluation is one
NumPy or BLAS operation over the chunk.

Newton stops when the cells' current mismatch ``||g_d F||`` is 1e-14 of the cell currents (or at
the rounding floor), and the result is checked on the KCL residual of the nodal equations, as for
the per-input Newton (:func:`rramsim.solver._newton.solve_grid_newton`): ``||F_KCL|| <= 1e-12`` times
the size of the terms that balance in it.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.linalg import blas

from rramsim.crossbar import Crossbar
from rramsim.errors import ConvergenceError, SolverError
from rramsim.solution import Solution
from rramsim.solver._grid import GridStamps
from rramsim.solver._nodal import RTOL

log = logging.getLogger("rramsim.solver")

#: Newton stops when the cells' current mismatch ``||g_d F||`` is this small against the cell
#: currents ``sqrt(2) ||I||`` (or at the rounding floor, below ``FLOOR_RTOL``, where it stalls).
CELL_RTOL = 1e-14
FLOOR_RTOL = 1e-11
MAX_NEWTON = 60
MAX_CG = 400
#: Largest relative accuracy asked of a Newton step's CG solve (inexact Newton: Dembo, Eisenstat &
#: Steihaug, SIAM J. Numer. Anal. 19, 1982); it tightens with the mismatch, ``eta = min(ETA_MAX,
#: ||g_d F|| / ||I||)``, so the iteration converges quadratically at the end.
ETA_MAX = 1e-2
#: Cells times inputs handled at once: the batch is split into chunks of about this many entries of
#: each (B, M, N) work array (512 KB; a dozen are alive), small enough to stay in cache (measured
#: timings of chunked and unchunked batches: docs/benchmarks.md).
CHUNK_ENTRIES = 65_536


class _Chain:
    """A resistor chain of n nodes: wires of conductance ``g`` between neighbours, ``g0`` from node
    0 and ``g1`` from node n-1 to a fixed potential (0 in the equations: the sources' voltage is
    added outside), and optionally a tail node (the sense node) joined to node n-1 by ``g_tail`` and
    to ground by ``g_shunt``, with no current injected there.

    :meth:`solve` applies ``K^{-1}`` to a (size, K) array in place, K lines side by side: an
    L D L^T sweep down and up the chain, each step one BLAS ``daxpy`` over all K lines. (LAPACK's
    ``dpttrs`` runs one line at a time, bound by the latency of its recurrence: 30 ns per node here,
    against about 1 ns for a step across many lines.)
    """

    def __init__(self, n: int, g: float, g0: float, g1: float, tail: tuple[float, float] | None):
        size = n + (1 if tail is not None else 0)
        d = np.zeros(size)
        off = np.full(max(size - 1, 0), g)  # the matrix's off-diagonal is -off
        d[0] += g0
        d[n - 1] += g1
        if n > 1:
            d[:n - 1] += g
            d[1:n] += g
        if tail is not None:
            g_tail, g_shunt = tail
            d[n - 1] += g_tail
            d[n] = g_tail + g_shunt
            off[n - 1] = g_tail
        piv = np.empty(size)
        piv[0] = d[0]
        for k in range(1, size):
            piv[k] = d[k] - off[k - 1] ** 2 / piv[k - 1]
        if not np.all(piv > 0):
            raise SolverError("a line's resistor chain is singular (no path to a source or ground)")
        self.n, self.size, self.tail = n, size, tail is not None
        self.down = off / piv[:-1]  # y_k += down[k-1] y_{k-1}
        self.pinv = (1.0 / piv)[:, None]
        self.up = off / piv[:-1]  # x_k += up[k] x_{k+1} (after scaling by 1 / piv)

    def solve(self, y: np.ndarray) -> np.ndarray:
        """``y <- K^{-1} y`` for y (size, K) C-contiguous (rows beyond n, the tail, enter as 0)."""
        axpy = blas.daxpy
        down, up = self.down, self.up
        for k in range(1, self.size):
            axpy(y[k - 1], y[k], a=down[k - 1])
        y *= self.pinv
        for k in range(self.size - 2, -1, -1):
            axpy(y[k + 1], y[k], a=up[k])
        return y


class _Tile:
    """The two line operators and the cells of one sinh grid tile, for batches laid out (B, M, N)."""

    def __init__(self, xb: Crossbar):
        m, n = xb.shape
        self.stamps = st = GridStamps.from_crossbar(xb)
        gw, gb, gdrv, both, gs = st.word, st.bit, st.drive, st.both, st.sense
        self.shape = (m, n)
        self.gdrv, self.both, self.gs = gdrv, both, gs
        self.word = _Chain(n, gw, gdrv, gdrv if both else 0.0, None)
        if gs is None:  # S_j at virtual ground: the last segment goes to ground
            self.bit = _Chain(m, gb, 0.0, gb, None)
        else:
            self.bit = _Chain(m, gb, 0.0, 0.0, (gb, gs))
        g = np.asarray(xb.conductance, dtype=float)
        self.g = g
        self.live = g > 0  # missing cells carry no current
        self.all_live = bool(self.live.all())
        v0 = np.broadcast_to(np.asarray(xb.sinh_v0, dtype=float), (m, n))
        self.v0 = np.ascontiguousarray(v0)
        self.gv = np.where(self.live, g * v0, 1.0)
        self.gv2 = self.gv * self.gv
        self.r_a = None if xb.r_access is None else np.asarray(xb.r_access, dtype=float)

    def _buffers(self, bsz: int):
        m, n = self.shape
        if getattr(self, "_bsz", None) != bsz:
            self._wbuf = np.empty((n, bsz * m))
            self._bbuf = np.empty((self.bit.size, bsz * n))
            self._bsz = bsz
        return self._wbuf, self._bbuf

    def _solve_lines(self, i: np.ndarray):
        """Word-line and bit-line solves of I (B, M, N); views (B, M, N) into reused buffers, and
        the sense nodes' voltages (B, N) (None for an ideal TIA)."""
        bsz = i.shape[0]
        m, n = self.shape
        wbuf, bbuf = self._buffers(bsz)
        wv = wbuf.reshape(n, bsz, m)
        np.copyto(wv, i.transpose(2, 0, 1))
        self.word.solve(wbuf)
        bv = bbuf.reshape(self.bit.size, bsz, n)
        np.copyto(bv[:m], i.transpose(1, 0, 2))
        if self.bit.tail:
            bv[m] = 0.0
        self.bit.solve(bbuf)
        vs = bv[m].copy() if self.bit.tail else None
        return wv.transpose(1, 2, 0), bv[:m].transpose(1, 0, 2), vs

    def lines(self, i: np.ndarray):
        """``(I R_W, R_B I)`` for cell currents I (B, M, N), as new arrays: the word-line drops
        ``v - V_W`` and the bit-line voltages ``V_B``."""
        lw, lb, _ = self._solve_lines(i)
        return np.ascontiguousarray(lw), np.ascontiguousarray(lb)

    def apply(self, i: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out = I R_W + R_B I``."""
        lw, lb, _ = self._solve_lines(i)
        np.add(lw, lb, out=out)
        return out

    def sense_voltages(self, i: np.ndarray) -> np.ndarray:
        return self._solve_lines(i)[2]

    def cell(self, i: np.ndarray):
        """V(I) and the small-signal conductance 1 / V'(I) of every cell (0 for missing cells)."""
        root = np.sqrt(i * i + self.gv2)
        v = self.v0 * np.arcsinh(i / self.gv)
        gd = root / self.v0
        if self.r_a is not None:
            v += self.r_a * i
            gd = 1.0 / (1.0 / gd + self.r_a)
        if not self.all_live:
            v = np.where(self.live, v, 0.0)
            gd = np.where(self.live, gd, 0.0)
        return v, gd

    def energy(self, i, li, v):
        """E(I) per input, from I, ``L I`` and the row voltages v (B, M)."""
        # co-content v0 (I asinh(I / gv) - (sqrt(I^2 + gv^2) - gv)), the difference in the stable
        # form I^2 / (sqrt(I^2 + gv^2) + gv) (it cancels for nearly linear cells)
        i2 = i * i
        c = self.v0 * (i * np.arcsinh(i / self.gv) - i2 / (np.sqrt(i2 + self.gv2) + self.gv))
        if self.r_a is not None:
            c += 0.5 * self.r_a * i2
        if not self.all_live:
            c = np.where(self.live, c, 0.0)
        c += i * (0.5 * li - v[:, :, None])
        return c.sum(axis=(1, 2))


def _dot(a, b):
    return np.einsum("bij,bij->b", a, b)


def _newton(tile: _Tile, v: np.ndarray):
    """Cell currents (B, M, N) for inputs v (B, M); returns (I, iterations, CG steps)."""
    m, n = tile.shape
    bsz = v.shape[0]
    vd = v[:, :, None]
    # start: every cell at its row's voltage with its 0 V slope (the currents without IR drop)
    cur = tile.g * vd
    lsum = tile.apply(cur, np.empty_like(cur))  # L I
    # the driver terms of the KCL scale (as in the nodal residual's)
    vdrv = tile.gdrv * np.linalg.norm(v, axis=1) * (np.sqrt(2.0) if tile.both else 1.0)
    energy = tile.energy(cur, lsum, v)
    ne_prev = np.full(bsz, np.inf)
    cg_total = 0
    for it in range(MAX_NEWTON):
        vc, gd = tile.cell(cur)
        f = vc + lsum - vd
        if not tile.all_live:
            f *= tile.live
        # the cells' current mismatch (KCL at their nodes, to first order) against the scale
        e = gd * f
        ne = np.sqrt(_dot(e, e))
        # against the cell currents alone (far tighter than the nodal test, whose scale holds the
        # drivers' large conductances): converged at CELL_RTOL, or at the rounding floor where
        # Newton stops halving the mismatch
        scale = np.sqrt(2.0 * _dot(cur, cur))
        stalled = (ne >= 0.5 * ne_prev) & (ne <= FLOOR_RTOL * scale)
        act = ~((ne <= CELL_RTOL * scale) | stalled) & (vdrv > 0)
        ne_prev = np.where(act, ne, ne_prev)
        if not act.any():
            return cur, it, cg_total
        # inexact Newton step: CG on diag(V') + L, preconditioned by diag(g_d)
        eta = np.minimum(ETA_MAX, ne / np.where(scale > 0, scale, 1.0))
        eta = np.maximum(eta, 1e-6)
        step, cg_it = _pcg(tile, gd, -f, eta, act)
        cg_total += cg_it
        lstep = tile.apply(step, np.empty_like(step))
        slope = _dot(f, step)  # directional derivative of E (< 0 for a descent step)
        t = np.ones(bsz)
        pending = act.copy()
        for _ in range(60):
            tb = t[:, None, None]
            trial = cur + tb * step
            ltrial = lsum + tb * lstep
            e_t = tile.energy(trial, ltrial, v)
            # Armijo; near the solution E no longer resolves the decrease (|slope| at the
            # rounding level of E): the full Newton step is taken there
            tiny = (t == 1.0) & (np.abs(slope) <= 1e-12 * np.abs(energy))
            ok = pending & ((e_t <= energy + 1e-4 * t * slope) | tiny)
            if ok.all() or (ok == pending).all():
                k = ok[:, None, None]
                cur = np.where(k, trial, cur) if not ok.all() else trial
                lsum = np.where(k, ltrial, lsum) if not ok.all() else ltrial
                energy = np.where(ok, e_t, energy)
                break
            if ok.any():
                k = ok[:, None, None]
                cur = np.where(k, trial, cur)
                lsum = np.where(k, ltrial, lsum)
                energy = np.where(ok, e_t, energy)
                pending &= ~ok
            t = np.where(pending, 0.5 * t, t)
        else:
            raise ConvergenceError("batched sinh Newton: line search failed")
    raise ConvergenceError(f"batched sinh Newton did not converge in {MAX_NEWTON} iterations")


def _pcg(tile: _Tile, gd, rhs, eta, act):
    """Solve (diag(1 / gd) + L) x = rhs per input by CG preconditioned with diag(gd), to relative
    ``eta`` in the preconditioned norm."""
    x = np.zeros_like(rhs)
    r = rhs * act[:, None, None]
    z = gd * r
    p = z.copy()
    rz = _dot(r, z)
    stop = (eta * eta) * rz
    with np.errstate(divide="ignore"):
        dv = np.where(gd > 0, 1.0 / gd, 0.0)
    q = np.empty_like(rhs)
    for k in range(MAX_CG):
        done = ~(rz > stop)
        if done.all():
            return x, k
        tile.apply(p, q)
        q += dv * p
        pq = _dot(p, q)
        alpha = np.where(done, 0.0, rz / np.where(pq > 0, pq, 1.0))[:, None, None]
        x += alpha * p
        r -= alpha * q
        z = gd * r
        rz_new = _dot(r, z)
        beta = np.where(done, 0.0, rz_new / np.where(rz > 0, rz, 1.0))[:, None, None]
        p *= beta
        p += z
        rz = rz_new
    raise ConvergenceError(f"batched sinh Newton: CG did not converge in {MAX_CG} iterations")


def applies(xb: Crossbar) -> bool:
    """The method needs a sinh grid tile (both wire resistances > 0)."""
    return (xb.sinh_v0 is not None and float(xb.r_wordline) > 0 and float(xb.r_bitline) > 0)


def solve_batch(xb: Crossbar, v: np.ndarray, batched: bool) -> Solution:
    """Solve a sinh grid tile for inputs v (B, M) (see the module docstring)."""
    from rramsim.solver._direct import _fill, _unbatch, solution_from_voltages
    from rramsim.solver._newton import _grid_residual

    if not applies(xb):
        raise SolverError("the batched sinh method needs sinh cells and r_wordline, r_bitline > 0")
    m, n = xb.shape
    tile = _Tile(xb)
    chunk = int(max(1, min(v.shape[0], CHUNK_ENTRIES // (m * n))))
    out = None
    for start in range(0, v.shape[0], chunk):
        vc = v[start:start + chunk]
        cur, it, cg = _newton(tile, vc)
        log.debug("rramsim.solver: batched sinh Newton, %d inputs: %d iterations, %d CG steps",
                  vc.shape[0], it, cg)
        lw, lb = tile.lines(cur)  # afresh: the iterations updated L I incrementally
        vw = np.ascontiguousarray(vc[:, :, None] - lw)
        vb = np.ascontiguousarray(lb)
        if tile.gs is not None:
            vs = tile.sense_voltages(cur)
            xbl = np.concatenate([vb.transpose(0, 2, 1), vs[:, :, None]], axis=2)
        else:
            vs = np.zeros((vc.shape[0], n))
            xbl = vb.transpose(0, 2, 1)
        fw, fb, scale, _, cell = _grid_residual(tile.stamps, xb, vw, xbl, vc)
        rel = np.sqrt(_dot(fw, fw) + _dot(fb, fb)) / np.where(scale > 0, scale, 1.0)
        if not np.all(rel <= RTOL):
            raise ConvergenceError(f"batched sinh Newton stopped at KCL relative residual "
                                   f"{np.max(rel):.2e} > {RTOL:g}")
        part = solution_from_voltages(xb, vw, vb, vs, True, "batched-sinh", cell)
        if chunk >= v.shape[0]:
            out = part
            break
        out = _fill(out, part, start, v.shape[0])
    return out if batched else _unbatch(out)
