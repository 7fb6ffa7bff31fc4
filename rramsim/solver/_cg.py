"""Schur-complement conjugate gradients on the bit lines of a grid tile (no factorisation).

With both wire resistances non-zero the nodal matrix splits into word-line and bit-line blocks,

.. math::
    \\begin{pmatrix} A_W & -G \\\\ -G & A_B \\end{pmatrix}
    \\begin{pmatrix} x_W \\\\ x_B \\end{pmatrix} = \\begin{pmatrix} b_W \\\\ 0 \\end{pmatrix},

where A_W is tridiagonal (one chain per word line, the rows one after another with zero coupling
between them), A_B tridiagonal (one chain per bit line, column-major, with S_j appended for a sense
resistor or finite-gain TIA) and G the diagonal of cell conductances. Eliminating the word lines
exactly leaves the SPD Schur complement

.. math:: S = A_B - G A_W^{-1} G, \\qquad S x_B = G A_W^{-1} b_W, \\qquad x_W = A_W^{-1}(b_W + G x_B),

solved by preconditioned CG (Hestenes & Stiefel 1952) with the tridiagonal preconditioner
``A_B - diag(G^2 / diag(A_W))``. Every operator application is one LAPACK ``dpttrs`` sweep over all
M*N word-line nodes at once (``dpttrf`` once), so an iteration is O(MN) with no Python loop over lines
and memory stays O(MN): no fill. Iterations grow with the IR-drop number ``L = mean(G) r N^2``
(measured: docs/solver.md). It wins over a sparse factorisation for one or a
few inputs on large tiles (the factor alone costs more than ~10 CG solves), and whenever the factor
would not fit in memory.

Stopping rule: the iteration runs until the residual of the full nodal system,
``||b - A x|| / ||b||``, is at most 1e-12 (the word-line equations are solved exactly, so that
residual is the Schur system's residual), and until the Schur system's own relative residual is at
most 1e-12 too or stops halving for ``STALL`` iterations (its rounding floor, near 1e-11 on big
tiles: its right-hand side is small next to the driver currents). Stopping at the nodal criterion
alone left 7e-10 relative error in ``i_out`` at 512 x 512; at the floor the error is ~1e-12.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from rramsim.crossbar import Crossbar
from rramsim.errors import ConvergenceError, SolverError
from rramsim.solver._grid import GridStamps
from rramsim.solver._nodal import RTOL

#: Iterations without halving the residual that mark CG's rounding floor.
STALL = 4


def _pttrf(d: np.ndarray, e: np.ndarray):
    if d.size == 1:  # the LAPACK wrapper rejects an empty off-diagonal: add a decoupled unit node
        d, e = np.array([d[0], 1.0]), np.zeros(1)
    df, ef, info = lapack.dpttrf(d, e)
    if info != 0:
        raise SolverError(f"tridiagonal line factor is not positive definite (LAPACK info {info})")
    return df, ef


def _pttrs(f, b: np.ndarray) -> np.ndarray:
    if b.shape[0] == 1:
        return b / f[0][0]
    x, info = lapack.dpttrs(f[0], f[1], b)
    if info != 0:  # pragma: no cover - only for invalid arguments
        raise SolverError(f"LAPACK dpttrs failed (info {info})")
    return x


class _Tri:
    """Factored symmetric tridiagonal line systems: d (L, K) diagonals, e (L - 1,) off-diagonal.

    K = 1: one matrix for every right-hand side column. K > 1: column k of a right-hand side
    (L, K) belongs to matrix k (its own diagonal, the same off-diagonal); the K systems are solved as
    one block-diagonal tridiagonal system of length K L (one LAPACK call).
    """

    def __init__(self, d: np.ndarray, e: np.ndarray):
        self.length, self.k = d.shape
        if self.k == 1:
            self.f = _pttrf(d[:, 0], e)
        else:
            ee = np.zeros((self.k, self.length))
            ee[:, :-1] = e
            self.f = _pttrf(np.ascontiguousarray(d.T).ravel(), ee.ravel()[:-1])

    def solve(self, b: np.ndarray) -> np.ndarray:
        if self.k == 1:
            return _pttrs(self.f, b)
        x = _pttrs(self.f, np.ascontiguousarray(b.T).reshape(-1, 1))
        return x.reshape(self.k, self.length).T


class GridSchur:
    """Word/bit-line block structure of a grid tile with cell conductances ``g_cell``.

    ``g_cell`` (M, N) serves any number of right-hand sides; (K, M, N) gives K systems (the
    Jacobians of K inputs of a sinh tile), and every right-hand side then has K columns, column k
    for system k.
    """

    def __init__(self, xb: Crossbar, g_cell: np.ndarray):
        m, n = xb.shape
        if float(xb.r_wordline) <= 0 or float(xb.r_bitline) <= 0:
            raise SolverError("the Schur-complement CG needs r_wordline > 0 and r_bitline > 0")
        self.shape = (m, n)
        self.stamps = st = GridStamps.from_crossbar(xb)
        gw, gb, gs = st.word, st.bit, st.sense
        self.gdrv, self.both = st.drive, st.both
        self.has_s = gs is not None
        mc = m + 1 if self.has_s else m
        self.mc = mc
        g = np.asarray(g_cell, dtype=float)
        g3 = g[None] if g.ndim == 2 else g
        k = g3.shape[0]
        self.gc = g3.reshape(k, m * n).T  # (M*N, K) row-major word-line layout
        # word lines, row-major
        dw = g3.copy()
        if n > 1:
            dw[:, :, 1:] += gw
            dw[:, :, :-1] += gw
        dw[:, :, 0] += self.gdrv
        if self.both:
            dw[:, :, -1] += self.gdrv
        ew = np.full((m, n), -gw)
        ew[:, -1] = 0.0
        self.fw = _Tri(dw.reshape(k, m * n).T, ew.ravel()[:-1])
        # bit lines, column-major, S_j appended
        db = np.zeros((k, n, mc))
        db[:, :, :m] = g3.transpose(0, 2, 1) + gb  # every BL node has the segment below it
        db[:, :, 1:m] += gb  # and the one above it, except the first
        if self.has_s:
            db[:, :, m] = gb + gs
        eb = np.full((n, mc), -gb)
        eb[:, -1] = 0.0
        self.db = db.reshape(k, n * mc).T  # (N*mc, K)
        self.eb = eb.ravel()[:-1]
        gt = np.zeros((k, n, mc))
        gt[:, :, :m] = g3.transpose(0, 2, 1)
        dwt = np.concatenate([dw.transpose(0, 2, 1), np.ones((k, n, mc - m))], axis=2)
        pre = db - gt ** 2 / dwt
        self.fp = _Tri(pre.reshape(k, n * mc).T, self.eb)

    # -- layout helpers: word-line vectors are (M*N, B) row-major, bit-line (N*mc, B) column-major
    def _w_to_b(self, xw: np.ndarray) -> np.ndarray:
        m, n = self.shape
        bsz = xw.shape[1]
        out = np.zeros((n, self.mc, bsz))
        out[:, :m, :] = xw.reshape(m, n, bsz).transpose(1, 0, 2)
        return out.reshape(n * self.mc, bsz)

    def _b_to_w(self, xb: np.ndarray) -> np.ndarray:
        m, n = self.shape
        bsz = xb.shape[1]
        return np.ascontiguousarray(
            xb.reshape(n, self.mc, bsz)[:, :m, :].transpose(1, 0, 2)).reshape(m * n, bsz)

    def _ab(self, y: np.ndarray) -> np.ndarray:
        out = self.db * y
        out[:-1] += self.eb[:, None] * y[1:]
        out[1:] += self.eb[:, None] * y[:-1]
        return out

    def schur(self, y: np.ndarray) -> np.ndarray:
        t = self.fw.solve(self.gc * self._b_to_w(y))
        return self._ab(y) - self._w_to_b(self.gc * t)

    def rhs_w(self, v: np.ndarray) -> np.ndarray:
        """Word-line right-hand side (M*N, B) for inputs v (B, M)."""
        m, n = self.shape
        b = np.zeros((m, n, v.shape[0]))
        b[:, 0, :] += self.gdrv * v.T
        if self.both:
            b[:, -1, :] += self.gdrv * v.T
        return b.reshape(m * n, -1)

    def solve(self, v: np.ndarray, *, rtol: float = RTOL, maxiter: int | None = None):
        """PCG for inputs v (B, M); returns (x_W (B, M, N), x_B (B, N, mc), iterations)."""
        bw = self.rhs_w(v)
        return self.solve_rhs(bw, np.zeros((self.shape[1] * self.mc, bw.shape[1])), rtol=rtol,
                              maxiter=maxiter)

    def solve_rhs(self, bw: np.ndarray, bb: np.ndarray, *, rtol: float = RTOL,
                  maxiter: int | None = None, strict: bool = True):
        """PCG for general right-hand sides: word lines bw (M*N, B), bit lines bb (N*mc, B).

        ``strict=False`` returns the last iterate instead of raising when ``rtol`` is not reached
        (inexact Newton steps).
        """
        m, n = self.shape
        gw = self.gc
        rhs = bb + self._w_to_b(gw * self.fw.solve(bw))
        nfull = np.sqrt(np.linalg.norm(bw, axis=0) ** 2 + np.linalg.norm(bb, axis=0) ** 2)
        nb = np.linalg.norm(rhs, axis=0)
        maxiter = maxiter or 50 + 4 * int(np.sqrt(m * n))
        x = self.fp.solve(rhs)  # preconditioner as the first guess
        r = rhs - self.schur(x)
        z = self.fp.solve(r)
        p = z.copy()
        rz = np.einsum("ij,ij->j", r, z)
        it = 0
        tiny = np.finfo(float).tiny
        best = np.full(bw.shape[1], np.inf)
        stall = np.zeros(bw.shape[1], dtype=int)
        while True:
            nr = np.linalg.norm(r, axis=0)
            stall = np.where(nr < 0.5 * best, 0, stall + 1)
            best = np.minimum(best, nr)
            # converged: Schur residual <= rtol, or at its rounding floor (no halving in STALL
            # iterations) with the full nodal system's relative residual <= rtol
            done = (nr <= rtol * nb) | ((stall >= STALL) & (nr <= rtol * nfull))
            if done.all() or it >= maxiter:
                # confirm with the true residual (the recursive one drifts)
                r = rhs - self.schur(x)
                nr = np.linalg.norm(r, axis=0)
                if np.all(nr <= rtol * nfull) or it >= maxiter:
                    break
                z = self.fp.solve(r)
                p = z.copy()
                rz = np.einsum("ij,ij->j", r, z)
            q = self.schur(p)
            pq = np.einsum("ij,ij->j", p, q)
            alpha = np.where(done, 0.0, rz / np.maximum(pq, tiny))
            x += alpha * p
            r -= alpha * q
            z = self.fp.solve(r)
            rz_new = np.einsum("ij,ij->j", r, z)
            beta = rz_new / np.maximum(rz, tiny)
            p = z + beta * p
            rz = rz_new
            it += 1
        if strict and not np.all(nr <= rtol * nfull):  # (NaN compares False: never returned)
            worst = float(np.max(nr / np.maximum(nfull, tiny)))
            raise ConvergenceError(
                f"Schur-complement CG stopped at relative residual {worst:.2e} > {rtol:g} after "
                f"{it} iterations")
        xw = self.fw.solve(bw + gw * self._b_to_w(x))
        return (xw.T.reshape(-1, m, n), x.T.reshape(-1, n, self.mc), it)
