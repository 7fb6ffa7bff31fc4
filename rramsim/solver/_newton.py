"""Non-linear tiles: Newton's method on the nodal equations of sinh cells.

Cells obey ``I = G v0 sinh(V_c / v0)`` (the filament model's read I-V, :mod:`rramsim.devmodel`), in
series with ``r_access`` when given, so ``V = V_c + r_access I``. The series node is eliminated per
cell: ``V_c`` solves the scalar monotone equation ``V_c + r_a G v0 sinh(V_c / v0) = V``, by Newton from
the linear estimate ``V / (1 + r_a G)``, which lies above the root for V > 0 (the left side is convex
there), so the iteration descends monotonically. The cell's small-signal conductance is then
``g_d = g_c / (1 + r_a g_c)``, ``g_c = G cosh(V_c / v0)``.

The nodal residual ``F(x) = A_wire x - B_wire v + D^T I(D x)`` (D: cell incidence) is the gradient of
a strictly convex energy, so Newton's method with a backtracking line search on ``||F||`` converges
from any start (Nocedal & Wright, Numerical Optimization, 2nd ed., ch. 11); its Jacobian
``A_wire + D^T diag(g_d) D`` has the sparsity of the linear matrix, so the symbolic analysis (ordering,
CHOLMOD's supernodal structure) is done once and each iteration is a numeric refactorisation.

For a batch, refactoring per input and per iteration is wasteful: Newton-Krylov (Dembo, Eisenstat &
Steihaug, SIAM J. Numer. Anal. 19, 1982) solves every input's Newton step by conjugate gradients on its
own Jacobian, preconditioned by the one factor of the linear (0 V slope) matrix, for all inputs at
once (iteration counts and costs: docs/solver.md).
Inputs that stall fall back to full Newton. On a grid tile (both wire resistances non-zero)
:func:`solve_grid_newton` needs no factorisation at all, for any batch: the Jacobian is a grid matrix
again, so each (inexact) Newton step is a Schur-complement CG solve in O(MN) memory (timings
against refactorisation and Newton-Krylov: docs/benchmarks.md). Small tiles take their inputs' Newton steps
together, one CG solve over K Jacobians (:class:`~rramsim.solver._cg.GridSchur` with (K, M, N)
conductances).

Converged means ``||F|| <= 1e-12`` times the size of the terms that balance in it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from rramsim.crossbar import Crossbar
from rramsim.errors import ConvergenceError, SolverError
from rramsim.solution import Solution
from rramsim.solver import _factor
from rramsim.solver._direct import Factorized, SymOp, assemble_solution
from rramsim.solver._grid import GridStamps, grid_kcl
from rramsim.solver._nodal import RTOL

log = logging.getLogger("rramsim.solver")

MAX_NEWTON = 60
#: Cells per chunk of inputs solved together by :func:`solve_grid_newton` (see there).
GRID_NEWTON_CHUNK_CELLS = 16 * 1024


def cell_iv(v: np.ndarray, g: np.ndarray, v0: np.ndarray, r_a: np.ndarray | None):
    """Current and small-signal conductance of sinh cells (with series r_a) at voltage v.

    Parameters
    ----------
    v : ndarray (..., M, N)
        Voltage across cell plus access resistor, volts.
    g, v0 : ndarray (M, N)
        Slope at 0 V (siemens) and characteristic voltage (volts) of ``I = g v0 sinh(V_c / v0)``.
    r_a : ndarray (M, N) or None
        Series access resistance, ohms.

    Returns
    -------
    (i, g_d) : amperes and siemens, shaped like v.
    """
    with np.errstate(over="raise", invalid="raise"):
        try:
            if r_a is None:
                u = v / v0
                return g * v0 * np.sinh(u), g * np.cosh(u)
            a = np.abs(v)
            vc = a / (1.0 + r_a * g)
            for _ in range(200):
                s = np.sinh(vc / v0)
                h = vc + r_a * g * v0 * s - a
                step = h / (1.0 + r_a * g * np.cosh(vc / v0))
                vc = vc - step
                if np.all(np.abs(step) <= 4e-16 * np.maximum(a, 1e-300)):
                    break
            else:  # pragma: no cover - the monotone iteration always converges
                raise ConvergenceError("cell series-resistance equation did not converge")
            vc = np.copysign(vc, v)
            gc = g * np.cosh(vc / v0)
            return g * v0 * np.sinh(vc / v0), gc / (1.0 + r_a * gc)
        except FloatingPointError as exc:
            raise ConvergenceError(
                f"sinh cell current overflows: |V / v0| up to {np.max(np.abs(v) / v0):.0f}; the "
                "iterate left the physical range") from exc


class NonlinearTile:
    """Newton solver for a tile with ``sinh_v0`` set.

    ``way_out`` is passed to the linear factor (:class:`~rramsim.solver._direct.Factorized`): what
    its refusal for lack of memory names instead.
    """

    def __init__(self, xb: Crossbar, *, backend: str = "auto",
                 way_out: Callable[[Crossbar, str], str] | None = None):
        if xb.sinh_v0 is None:
            raise SolverError("NonlinearTile needs a tile with sinh_v0 set")
        self.xb = xb
        self.g = xb.conductance
        self.v0 = xb.sinh_v0
        self.r_a = xb.r_access
        # linear tile with the 0 V slope: initial guess and preconditioner
        self.lin = Factorized(xb, backend=backend, way_out=way_out)
        self.net = self.lin.net
        a_wire, d_wire, self.b_wire = self.net.build(np.zeros(xb.shape))
        self.aw_op = SymOp(a_wire, d_wire)
        n = self.net.n
        m, ncol = xb.shape
        k = np.arange(m * ncol)
        wl, bl = self.net.wl.ravel(), self.net.bl.ravel()
        pw = sp.coo_array((np.ones(int((wl >= 0).sum())), (wl[wl >= 0], k[wl >= 0])),
                          shape=(n, m * ncol))
        pb = sp.coo_array((np.ones(int((bl >= 0).sum())), (bl[bl >= 0], k[bl >= 0])),
                          shape=(n, m * ncol))
        self.pd = (pw - pb).tocsr()
        self.pabs = (pw + pb).tocsr()
        self._jac = None

    def currents(self, dv: np.ndarray):
        return cell_iv(dv, self.g, self.v0, self.r_a)

    def residual(self, x: np.ndarray, v: np.ndarray):
        """F (n, B), its scale (B,), and g_d (B, M, N) at unknowns x (n, B)."""
        net = self.net
        xt = x.T
        dv = net.expand(xt, v, net.wl) - net.expand(xt, v, net.bl)
        cur, gd = self.currents(dv)
        bsz = x.shape[1]
        ic = cur.reshape(bsz, -1).T
        aw = self.aw_op @ x
        bw = np.asarray(self.b_wire @ v.T)
        f = aw - bw + self.pd @ ic
        scale = (np.linalg.norm(aw, axis=0) + np.linalg.norm(bw, axis=0)
                 + np.linalg.norm(self.pabs @ np.abs(ic), axis=0))
        return f, scale, gd

    # ------------------------------------------------------------------ full Newton
    def _newton_one(self, x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, int]:
        """Full Newton for one input: x (n, 1), v (1, M)."""
        f, scale, gd = self.residual(x, v)
        nf = np.linalg.norm(f)
        for it in range(MAX_NEWTON):
            if nf <= RTOL * scale[0] or scale[0] == 0:
                return x, it
            lower, _, _ = self.net.build(gd[0])
            if self._jac is None:
                self._jac = _factor.factorize(lower, self.lin.backend)
            else:
                self._jac.refactor(lower)
            dx = -self._jac.solve(f)
            x, f, nf, scale, gd = self._line_search(x, v, dx, f, nf)
        raise ConvergenceError(
            f"Newton did not converge in {MAX_NEWTON} iterations (relative residual "
            f"{nf / scale[0]:.2e} > {RTOL:g})")

    def _line_search(self, x, v, dx, f, nf):
        t = 1.0
        while True:
            try:
                xt = x + t * dx
                ft, st, gdt = self.residual(xt, v)
                nft = np.linalg.norm(ft)
                if nft <= (1.0 - 1e-4 * t) * nf or nft <= RTOL * st[0]:
                    return xt, ft, nft, st, gdt
            except ConvergenceError:
                pass  # overflow: too long a step
            t *= 0.5
            if t < 1e-10:
                raise ConvergenceError(
                    f"Newton line search failed (relative residual {nf:.2e} does not decrease)")

    # ------------------------------------------------------------------ batched Newton-Krylov
    def _newton_krylov(self, x: np.ndarray, v: np.ndarray):
        """Newton-Krylov for a batch; returns (x, converged mask, outer iterations)."""
        f, scale, gd = self.residual(x, v)
        nf = np.linalg.norm(f, axis=0)
        conv = nf <= RTOL * scale
        for it in range(25):
            if conv.all():
                return x, conv, it
            act = np.flatnonzero(~conv)
            g2 = gd[act].reshape(act.size, -1).T  # (MN, b)
            eta = np.minimum(0.1, np.sqrt(nf[act] / np.maximum(scale[act], 1e-300)))
            dx = self._pcg(-f[:, act], g2, eta)
            xa, nfa = x[:, act], nf[act]
            t = np.ones(act.size)
            accepted = np.zeros(act.size, dtype=bool)
            for _ in range(30):
                xt = xa + t * dx
                try:
                    ft, st, gdt = self.residual(xt, v[act])
                except ConvergenceError:
                    t = np.where(accepted, t, 0.5 * t)
                    continue
                nft = np.linalg.norm(ft, axis=0)
                ok = (nft <= (1.0 - 1e-4 * t) * nfa) | (nft <= RTOL * st)
                new = ok & ~accepted
                x[:, act[new]] = xt[:, new]
                f[:, act[new]] = ft[:, new]
                nf[act[new]] = nft[new]
                scale[act[new]] = st[new]
                gd[act[new]] = gdt[new]
                accepted |= ok
                if accepted.all():
                    break
                t = np.where(accepted, t, 0.5 * t)
            conv = nf <= RTOL * scale
            if not accepted.any():
                break
        return x, conv, it

    def _pcg(self, rhs: np.ndarray, g2: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """Solve J_b d = rhs_b for every column by CG preconditioned with the linear factor."""
        def jmul(p):
            return self.aw_op @ p + self.pd @ (g2 * (self.pd.T @ p))

        prec = self.lin.factor.solve
        x = np.zeros_like(rhs)
        r = rhs.copy()
        z = prec(r)
        p = z.copy()
        rz = np.einsum("ij,ij->j", r, z)
        nb = np.linalg.norm(rhs, axis=0)
        tiny = np.finfo(float).tiny
        for _ in range(200):
            done = np.linalg.norm(r, axis=0) <= eta * 1e-3 * nb
            if done.all():
                break
            q = jmul(p)
            alpha = np.where(done, 0.0, rz / np.maximum(np.einsum("ij,ij->j", p, q), tiny))
            x += alpha * p
            r -= alpha * q
            z = prec(r)
            rz_new = np.einsum("ij,ij->j", r, z)
            p = z + (rz_new / np.maximum(rz, tiny)) * p
            rz = rz_new
        return x

    # ------------------------------------------------------------------ public
    def solve(self, v_in, *, method: str = "auto") -> Solution:
        v, batched = self.xb.check_input(v_in)
        # start from the linear (0 V slope) solution
        x = self.lin.solve_unknowns(np.asarray(self.lin.bsrc @ v.T))
        used = "newton"
        if v.shape[0] > 1 and method in ("auto", "newton-krylov"):
            x, conv, it = self._newton_krylov(x, v)
            used = "newton-krylov"
            log.debug("rramsim.solver: Newton-Krylov %d outer iterations, %d of %d converged",
                      it, int(conv.sum()), conv.size)
            todo = np.flatnonzero(~conv)
        else:
            todo = np.arange(v.shape[0])
        for b in todo:
            xb_, _ = self._newton_one(x[:, [b]], v[[b]])
            x[:, b] = xb_[:, 0]
        return assemble_solution(self.xb, self.net, x.T, v, batched,
                                 f"{self.lin.factor.name}+{used}",
                                 lambda dv: self.currents(dv)[0])


# ---------------------------------------------------------------------- grid tiles: Newton-CG
def _grid_residual(stamps: GridStamps, xb: Crossbar, xw: np.ndarray, xbl: np.ndarray,
                   v: np.ndarray):
    """Nodal residuals of a sinh grid tile (its ``stamps``) for a batch, in the layouts of
    :class:`~rramsim.solver._cg.GridSchur`.

    xw (B, M, N) word-line voltages, xbl (B, N, mc) bit-line (and sense) voltages (mc = M + 1 with
    sense nodes, else M), v (B, M) inputs.
    Returns (F_W (B, M, N), F_B (B, N, mc), scale (B,), g_d (B, M, N), cell current (B, M, N)); F is
    the current leaving each node, ``scale`` the size of the terms that balance in it.
    """
    m, n = xb.shape
    has_s = stamps.sense is not None
    vb = xbl[:, :, :m].transpose(0, 2, 1)
    vs = xbl[:, :, m] if has_s else np.zeros((xw.shape[0], n))
    cur, gd = cell_iv(xw - vb, xb.conductance, xb.sinh_v0, xb.r_access)
    k = grid_kcl(stamps, xw, vb, vs, v, cur)
    fb = np.zeros((xw.shape[0], n, m + has_s))
    fb[:, :, :m] = k.bit.transpose(0, 2, 1)

    def norm(a):
        a = a.reshape(a.shape[0], -1)
        return np.sqrt(np.einsum("bi,bi->b", a, a))

    scale = norm(k.wire_word) + norm(k.wire_bit) + np.sqrt(2.0) * norm(cur)
    if has_s:
        fb[:, :, m] = k.sense
        scale += norm(k.sense)
    scale += k.drive
    return k.word, fb, scale, gd, cur


def _residual_norm(fw: np.ndarray, fb: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("bij,bij->b", fw, fw) + np.einsum("bij,bij->b", fb, fb))


def _trial(stamps, xb, xw, xbl, v):
    """:func:`_grid_residual` at trial points; inputs whose cell currents overflow get NaN norms."""
    try:
        out = _grid_residual(stamps, xb, xw, xbl, v)
        return out, _residual_norm(out[0], out[1])
    except ConvergenceError:
        if xw.shape[0] == 1:
            return None, np.full(1, np.nan)
    # some input overflowed: evaluate them one by one; those that fail get NaN everywhere
    parts = [_trial(stamps, xb, xw[i:i + 1], xbl[i:i + 1], v[i:i + 1]) for i in range(xw.shape[0])]
    nrm = np.concatenate([p[1] for p in parts])
    good = [p[0] for p in parts if p[0] is not None]
    if not good:
        return None, nrm
    fields = tuple(
        np.concatenate([p[0][j] if p[0] is not None else np.full_like(good[0][j], np.nan)
                        for p in parts])
        for j in range(len(good[0])))
    return fields, nrm


def grid_newton_chunk(m: int, n: int, batch: int) -> int:
    """Inputs that :func:`solve_grid_newton` takes through Newton together (see there)."""
    from rramsim.solver._direct import CHUNK_BYTES

    return int(max(1, min(batch, GRID_NEWTON_CHUNK_CELLS // (m * n),
                          CHUNK_BYTES // (8.0 * 16 * 2 * m * n))))


def solve_grid_newton(xb: Crossbar, v: np.ndarray, batched: bool) -> Solution:
    """Newton's method for a sinh grid tile with every step solved by Schur-complement CG.

    The Jacobian of a grid tile is again a grid matrix (cell conductances replaced by the
    small-signal ``g_d``), so each Newton step is one :class:`~rramsim.solver._cg.GridSchur` solve:
    no factorisation, O(MN) memory per input. Used for every batch on grid tiles; same line search
    (per input) and tolerance as the direct Newton.
    """
    from rramsim.solver._direct import _fill

    m, n = xb.shape
    # Inputs go through Newton together in chunks of GRID_NEWTON_CHUNK_CELLS // (M N) (one CG
    # solve for the chunk's Newton steps, each input with its own Jacobian): that pays on small
    # tiles, where Python overhead dominates (32 x 32, 96 inputs: 0.27 s one by one, 0.12 s in
    # chunks of 16), and loses from 64 x 64 on, where one input's vectors already fill the cache
    # (128 x 128: 1.3 s one by one, 2.1-3.6 s in chunks of 2-96; measured here).
    chunk = grid_newton_chunk(m, n, v.shape[0])
    if chunk >= v.shape[0]:
        return _grid_newton_chunk(xb, v, batched)
    out = None
    for start in range(0, v.shape[0], chunk):
        out = _fill(out, _grid_newton_chunk(xb, v[start:start + chunk], True), start, v.shape[0])
    return out


def _grid_newton_chunk(xb: Crossbar, v: np.ndarray, batched: bool) -> Solution:
    """Newton with CG steps for a chunk of inputs, all inputs' steps in one batched CG solve."""
    from rramsim.solver._cg import GridSchur
    from rramsim.solver._direct import solution_from_voltages

    m, n = xb.shape
    gs0 = GridSchur(xb, xb.effective_conductance())
    # linear (0 V slope) start; only a starting point, so 1e-8 is plenty
    xw, xbl, _ = gs0.solve(v, rtol=1e-8)
    fw, fb, scale, gd, cur = _grid_residual(gs0.stamps, xb, xw, xbl, v)
    nf = _residual_norm(fw, fb)
    for _it in range(MAX_NEWTON):
        act = np.flatnonzero(~(nf <= RTOL * scale))
        if act.size == 0:
            break
        k = act.size
        jac = GridSchur(xb, gd[act])
        # inexact Newton (Dembo, Eisenstat & Steihaug 1982): each step to 1e-6 relative residual;
        # the outer test on ||F|| decides convergence
        dw, dbl, _ = jac.solve_rhs(-fw[act].reshape(k, -1).T, -fb[act].reshape(k, -1).T,
                                   rtol=1e-6, strict=False)
        # backtracking line search on ||F||, per input
        t = np.ones(k)
        pending = np.ones(k, dtype=bool)
        while pending.any():
            p = np.flatnonzero(pending)
            a = act[p]
            tp = t[p]
            xw_t = xw[a] + tp[:, None, None] * dw[p]
            xbl_t = xbl[a] + tp[:, None, None] * dbl[p]
            out, nft = _trial(gs0.stamps, xb, xw_t, xbl_t, v[a])
            ok = (nft <= (1.0 - 1e-4 * tp) * nf[a])
            if out is not None:
                ok |= nft <= RTOL * out[2]
            ok &= np.isfinite(nft)
            if ok.any():
                acc = a[ok]
                xw[acc], xbl[acc] = xw_t[ok], xbl_t[ok]
                fw[acc], fb[acc], scale[acc], gd[acc], cur[acc] = (o[ok] for o in out)
                nf[acc] = nft[ok]
                pending[p[ok]] = False
            t[p[~ok]] *= 0.5
            if np.any(t[pending] < 1e-10):
                worst = float(np.max(nf[act[pending]] / scale[act[pending]]))
                raise ConvergenceError(f"Newton line search failed (relative residual {worst:.2e})")
    else:
        if np.any(~(nf <= RTOL * scale)):
            worst = float(np.max(nf / scale))
            raise ConvergenceError(
                f"Newton did not converge in {MAX_NEWTON} iterations (relative residual "
                f"{worst:.2e} > {RTOL:g})")
    vb = np.ascontiguousarray(xbl[:, :, :m].transpose(0, 2, 1))
    vs = xbl[:, :, m] if gs0.has_s else np.zeros((v.shape[0], n))
    return solution_from_voltages(xb, xw, vb, vs, batched, "schur-cg+newton", cur)
