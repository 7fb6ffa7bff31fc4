"""Factor once, solve many: the direct path of the solver and the transfer matrix."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from rramsim.crossbar import Crossbar
from rramsim.errors import SolverError
from rramsim.solution import Solution
from rramsim.solver import _factor
from rramsim.solver._grid import GridStamps, grid_kcl
from rramsim.solver._nodal import (
    RTOL,
    NodalSystem,
    build_network,
    check_connected,
    count_unknowns,
)

log = logging.getLogger("rramsim.solver")

#: Refinement steps a direct solve takes at most (each one solve with the factor).
MAX_REFINE = 4
#: A residual within this factor of the round-off floor ``eps ||(|A| |x| + |b|)||`` is accepted
#: when refinement has stagnated (measured: 0.1-0.2 on merged-node tiles of formed cells at 256 x 256).
ROUNDOFF_FACTOR = 8.0
#: Working memory per batch chunk of direct solves, bytes.
CHUNK_BYTES = 512e6
#: Largest block of inputs solved at once (see Factorized.solve).
CHUNK_MAX = 8


class SymOp:
    """The symmetric matrix whose lower triangle is ``lower``, as a full CSR operator.

    ``op @ x`` for x (n, k) in any memory order; CSR times C-ordered vectors is the fast kernel
    (with Fortran-ordered x, SciPy's lower/upper products ran at ~0.3 GFlop/s).
    """

    def __init__(self, lower: sp.csc_array, diag: np.ndarray):
        self.full = (lower + lower.T - sp.dia_array((diag[None, :], [0]),
                                                    shape=lower.shape)).tocsr()

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        return self.full @ np.ascontiguousarray(x)


def _relres(r: np.ndarray, b: np.ndarray) -> np.ndarray:
    nb = np.linalg.norm(b, axis=0)
    nr = np.linalg.norm(r, axis=0)
    return np.where(nb > 0, nr / np.where(nb > 0, nb, 1.0), nr)


def output_rows(net: NodalSystem) -> sp.csr_array:
    """C (N, n): ``i_out = C x`` through the sense element (ports only); not for "cells" tiles."""
    m, n_cols = net.shape
    rows, cols, vals = [], [], []
    j = np.arange(n_cols)
    if net.out_kind == "bitline" and np.all(net.s >= 0) and net.sense_g <= net.out_g:
        # a sense element: i_out = g_s V_S, exact where gb (V_BL - V_S) cancels (large R)
        rows.append(j)
        cols.append(net.s)
        vals.append(np.full(n_cols, net.sense_g))
    elif net.out_kind == "bitline":  # i_out = gb (V_BL(M-1, j) - V_S)
        rows.append(j)
        cols.append(net.bl[-1, :])
        vals.append(np.full(n_cols, net.out_g))
        ks = net.s >= 0
        rows.append(j[ks])
        cols.append(net.s[ks])
        vals.append(np.full(int(ks.sum()), -net.out_g))
    elif net.out_kind == "sense":
        rows.append(j)
        cols.append(net.s)
        vals.append(np.full(n_cols, net.out_g))
    else:
        raise SolverError("internal error: no port output for this tile")
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    keep = c >= 0
    return sp.coo_array((v[keep], (r[keep], c[keep])), shape=(n_cols, net.n)).tocsr()


def assemble_solution(xb: Crossbar, net: NodalSystem, x: np.ndarray, v: np.ndarray, batched: bool,
                      backend: str, cell_current) -> Solution:
    """Fill a Solution from unknowns x (B, n) and inputs v (B, M)."""
    vw = net.expand(x, v, net.wl)
    vb = net.expand(x, v, net.bl)
    vs = net.expand(x, v, net.s)
    return solution_from_voltages(xb, vw, vb, vs, batched, backend, cell_current(vw - vb))


def solution_from_voltages(xb: Crossbar, vw: np.ndarray, vb: np.ndarray, vs: np.ndarray,
                           batched: bool, backend: str, cur: np.ndarray) -> Solution:
    """Fill a Solution from node voltages (B, M, N), sense voltages (B, N), cell currents.

    With a sense element, ``i_out`` of a column is read from its sense voltage, ``g_s V_S`` (a sense
    resistor: ``V_S / R``; a finite-gain TIA: ``(V_S - V_o) / R_f = (1 + A) V_S / R_f``), where
    that is better conditioned than the sum of its cell currents: node voltages carry errors of
    about the same absolute size, which the sum weighs with the column's cell conductances and
    ``g_s V_S`` with ``g_s``. So a large R (where the cell currents are differences of nearly equal
    voltages) reads ``V_S / R``, exactly; a small R the cells.
    """
    gs = xb.sense.ground_conductance()
    i_out = cur.sum(axis=1)
    if gs is not None:
        by_vs = gs <= xb.effective_conductance().sum(axis=0)
        i_out = np.where(by_vs, gs * vs, i_out)
    i_in = cur.sum(axis=2)
    v_tia = xb.sense.output_voltage(i_out, vs)
    if not batched:
        vw, vb, vs, i_out, i_in = vw[0], vb[0], vs[0], i_out[0], i_in[0]
        v_tia = None if v_tia is None else v_tia[0]
    return Solution(i_out=i_out, v_wordline=vw, v_bitline=vb, v_sense=vs, i_in=i_in, v_tia=v_tia,
                    backend=backend)


def grid_relres(xb: Crossbar, g: np.ndarray, vw: np.ndarray, vb: np.ndarray, vs: np.ndarray,
                v: np.ndarray) -> np.ndarray:
    """Relative nodal residual ``||A x - b|| / ||b||`` per input of a grid tile, from its voltages.

    Each node's residual is the net current leaving it through its elements (KCL,
    :func:`rramsim.solver._grid.grid_kcl`); the driver terms of b are ``g_drv v`` at WL(i, 0) (and
    WL(i, N-1) for two-sided drive).
    """
    k = grid_kcl(GridStamps.from_crossbar(xb), vw, vb, vs, v, g * (vw - vb))
    nr2 = np.einsum("bij,bij->b", k.word, k.word) + np.einsum("bij,bij->b", k.bit, k.bit)
    if k.sense is not None:
        nr2 += np.einsum("bj,bj->b", k.sense, k.sense)
    nb = k.drive
    return np.sqrt(nr2) / np.where(nb > 0, nb, 1.0)


class Factorized:
    """A linear tile's nodal matrix, ordered and factored once; solves any number of inputs.

    Create with :func:`rramsim.solver.factorize`. Holds the factor (memory: see
    :func:`rramsim.solver.memory_estimate`).

    ``way_out(xb, method)`` (``method`` "direct" or "ports-factor") is what a refusal for lack of
    memory names as the alternative (:func:`rramsim.solver.way_out`, which the solver's entry points
    pass); it is called only when refusing. None: a generic hint.
    """

    def __init__(self, xb: Crossbar, *, backend: str = "auto", g_cell: np.ndarray | None = None,
                 ports_last: bool = False, way_out: Callable[[Crossbar, str], str] | None = None):
        self.xb = xb
        self.backend = _factor.pick_backend(backend)
        self.way_out = way_out
        n_unknowns, kind = count_unknowns(xb)  # checked before anything of the tile's size exists
        need = _factor.factor_memory_bytes(n_unknowns, kind, self.backend, ports_last=ports_last)
        _factor.check_memory(need, f"factoring a {xb.shape[0]} x {xb.shape[1]} tile "
                                   f"({n_unknowns} unknowns, {self.backend})",
                             lambda: self._way_out("ports-factor" if ports_last else "direct"))
        self.net = build_network(xb, ports_last=ports_last)
        self.g_cell = xb.effective_conductance() if g_cell is None else g_cell
        self.lower, self.diag, self.bsrc = self.net.build(self.g_cell)
        self._op = None
        if not np.all(np.isfinite(self.lower.data)):
            raise SolverError("nodal matrix has non-finite entries (overflowing conductances)")
        self.factor = self._factor_or_explain(self.lower)

    def _way_out(self, method: str) -> str | None:
        return None if self.way_out is None else self.way_out(self.xb, method)

    def _factor_or_explain(self, lower):
        try:
            return _factor.factorize(lower, self.backend)
        except _factor.NotPositiveDefinite as exc:
            check_connected(self.net, self.g_cell)  # raises with the floating node's name
            col = exc.column
            where = self.net.node_name(col) if 0 <= col < self.net.n else "an unknown"
            raise SolverError(f"nodal matrix is singular or not positive definite at node {where} "
                              "(conductances too extreme for double precision?)") from exc

    # ------------------------------------------------------------------ solving
    @property
    def op(self) -> SymOp:
        if self._op is None:
            self._op = SymOp(self.lower, self.diag)
        return self._op

    def rhs(self, v: np.ndarray) -> np.ndarray:
        """Right-hand sides ``B_src v^T`` (n, B) in Fortran order (what CHOLMOD takes)."""
        if not hasattr(self, "_brows"):
            rows = np.unique(self.bsrc.tocoo().row)
            self._brows = (rows, self.bsrc[rows])
        rows, sub = self._brows
        out = np.zeros((self.net.n, v.shape[0]), order="F")
        out[rows] = np.asarray(sub @ v.T)
        return out

    def solve_unknowns(self, rhs: np.ndarray) -> np.ndarray:
        """Solve A x = rhs for rhs (n, k), refining until the relative residual is <= RTOL or
        stops at the round-off floor of double precision.

        ``||b - A x|| / ||b|| <= RTOL`` is out of reach where the matrix's terms are much larger
        than b (a merged word line: its diagonal sums every cell of the row; wires of 1 S beside
        cells of 1e-5 S): rounding in forming ``A x`` alone then leaves more. Such a solution is
        accepted when iterative refinement no longer reduces the residual and it lies within
        ``ROUNDOFF_FACTOR`` times the floor ``eps ||(|A| |x| + |b|)||`` (normwise backward error at
        round-off: Oettli & Prager, Numer. Math. 6, 1964; Higham, Accuracy and Stability of
        Numerical Algorithms, 2nd ed., ch. 7 and 12).
        """
        x = self.factor.solve(rhs)
        r = rhs - self.op @ x
        rel = _relres(r, rhs)
        it = 0
        while rel.max(initial=0.0) > RTOL and it < MAX_REFINE:
            x_new = x + self.factor.solve(r)
            r_new = rhs - self.op @ x_new
            rel_new = _relres(r_new, rhs)
            it += 1
            if not rel_new.max(initial=0.0) < 0.5 * rel.max(initial=0.0):  # stagnated
                if rel_new.max(initial=0.0) < rel.max(initial=0.0):
                    x, r, rel = x_new, r_new, rel_new
                break
            x, r, rel = x_new, r_new, rel_new
        if not np.all(np.isfinite(x)):
            raise SolverError("direct solve gave non-finite voltages (conductances too extreme?)")
        bad = rel > RTOL
        if bad.any():
            floor = self.roundoff_floor(x[:, bad], rhs[:, bad])
            excess = np.linalg.norm(r[:, bad], axis=0) / floor
            if not np.all(excess <= ROUNDOFF_FACTOR):
                worst = int(np.argmax(excess))
                raise SolverError(
                    f"direct solve reached relative residual {rel[bad][worst]:.2e} > {RTOL:g}, "
                    f"{excess[worst]:.0f} times the round-off floor of double precision "
                    f"(refined {it} times)")
            log.debug("rramsim.solver: %d solution(s) accepted at the round-off floor (relative "
                      "residual up to %.2e, %.1f x floor)", int(bad.sum()), rel.max(), excess.max())
        return x

    def roundoff_floor(self, x: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """``eps ||(|A| |x| + |b|)||`` per column: the residual rounding alone can leave."""
        if not hasattr(self, "_abs_op"):
            self._abs_op = abs(self.op.full)
        scale = self._abs_op @ np.abs(np.ascontiguousarray(x)) + np.abs(rhs)
        return np.finfo(float).eps * np.linalg.norm(scale, axis=0)

    def solve(self, v_in) -> Solution:
        """Node voltages and currents for inputs ``v_in`` (M,) or (B, M), volts."""
        v, batched = self.xb.check_input(v_in)
        g = self.g_cell
        bsz = v.shape[0]
        m, n_cols = self.xb.shape
        if bsz > 1:
            per = 8.0 * (2 * m * n_cols + 2 * n_cols + m) * 1.1
            need = per * bsz + 8.0 * 32 * self.net.n * 6
            fit = int(max(0.0, _factor.available_memory_bytes() - 8.0 * 32 * self.net.n * 6) // per)
            _factor.check_memory(need, f"the node voltages of {bsz} inputs on a {m} x {n_cols} tile",
                                 f"solve at most {fit} inputs at once (split the batch)"
                                 if fit >= 1 else lambda: self._way_out("direct"))
        # blocks of <= 8 inputs: CHOLMOD's supernodal solve runs at 27 ms per input at 512^2 in
        # blocks of 8-32 (62 ms one by one, 58 ms in blocks of 128), and blocks of 8 keep every
        # temporary under glibc's mmap threshold, so memory is reused instead of faulted in again
        # (whole solve, 96 inputs at 512^2: 49-60 ms per input in blocks of 8, 75 ms in blocks of 32)
        chunk = int(max(1, min(bsz, CHUNK_MAX, CHUNK_BYTES // (32.0 * max(self.net.n, 1)))))
        out = None
        net = self.net
        for start in range(0, bsz, chunk):
            vc = v[start:start + chunk]
            rhs = self.rhs(vc)
            x = self.factor.solve(rhs)
            vw, vb, vs = (net.expand(x.T, vc, lab) for lab in (net.wl, net.bl, net.s))
            if net.kind == "grid":
                # residual from the node voltages on the grid: 3x cheaper than a CSR product
                rel = grid_relres(self.xb, g, vw, vb, vs, vc)
            else:
                rel = _relres(rhs - self.op @ x, rhs)
            if not np.all(rel <= RTOL):  # NaN fails too: refine with the assembled matrix
                x = self.solve_unknowns(rhs)
                vw, vb, vs = (net.expand(x.T, vc, lab) for lab in (net.wl, net.bl, net.s))
            part = solution_from_voltages(self.xb, vw, vb, vs, True, self.factor.name,
                                          g * (vw - vb))
            if chunk == bsz:
                out = part
                break
            out = _fill(out, part, start, bsz)
        return out if batched else _unbatch(out)

    def transfer_matrix(self) -> np.ndarray:
        """The (M, N) matrix T with ``i_out = v @ T`` (exact, IR drop included), siemens."""
        net = self.net
        m, n_cols = net.shape
        if net.out_kind == "cells":
            # bit lines grounded: rows are independent, one solve with every source at 1 V
            ones = np.ones((1, m))
            x = self.solve_unknowns(np.asarray(self.bsrc @ ones.T)).T
            vw = net.expand(x, ones, net.wl)[0]
            return self.g_cell * vw
        c_out = output_rows(net)
        p = net.n_ports
        if p == 0 and net.out_kind != "cells":
            trial = build_network(self.xb, ports_last=True)
            if trial.n_ports > 0:  # refactor in the ports-last order
                return Factorized(self.xb, backend=self.backend, g_cell=self.g_cell,
                                  ports_last=True, way_out=self.way_out).transfer_matrix()
        if p > 0:
            order, lp, up = self.factor.port_factors(p)
            ports = net.n - p + order
            b_p = self.bsrc[ports].toarray()  # (p, M)
            c_p = c_out[:, ports].toarray()  # (N, p)
            z = sla.solve_triangular(lp, b_p, lower=True, check_finite=False)
            w = sla.solve_triangular(up, c_p.T, trans="T", lower=False, check_finite=False)
            return z.T @ w
        # ports not last (rows pinned to their sources): T = Bsrc^T A^{-1} C^T, N solves
        y = self.solve_unknowns(c_out.T.toarray())
        return np.asarray(self.bsrc.T @ y)


    def source_conductance(self) -> np.ndarray:
        """(M,) total conductance of the elements touching each row's source, siemens.

        The source current is ``i_in = G_src v - B_src^T x`` for unknowns x (the sources are
        eliminated from the nodal system), so ``Y = diag(G_src) - B_src^T A^{-1} B_src``.
        """
        net = self.net
        m = net.shape[0]
        wa, wb, wg = net.g_wire_edges
        a = np.concatenate([wa, net.wl.ravel()])
        b = np.concatenate([wb, net.bl.ravel()])
        g = np.concatenate([wg, np.asarray(self.g_cell, dtype=float).ravel()])
        out = np.zeros(m)
        for end in (a, b):
            k = end <= -2
            out += np.bincount(-2 - end[k], weights=g[k], minlength=m)
        return out

    def port_matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """``(T, Y)``: the transfer matrix (M, N), ``i_out = v @ T``, and the input admittance
        (M, M), ``i_in = Y v``, both from this one factorisation.

        With the ports numbered last (``ports_last=True``) both come from the trailing block of the
        factor, ``S = L_p U_p`` the Schur complement on the ports: ``Y = diag(G_src) - Z_u^T Z_l``
        with ``Z_l = L_p^{-1} B_p`` and ``Z_u = U_p^{-T} B_p``. Otherwise Y costs M solves.
        """
        net = self.net
        t = self.transfer_matrix()
        gsrc = self.source_conductance()
        p = net.n_ports
        if p > 0 and net.out_kind != "cells":
            order, lp, up = self.factor.port_factors(p)
            ports = net.n - p + order
            b_p = self.bsrc[ports].toarray()
            zl = sla.solve_triangular(lp, b_p, lower=True, check_finite=False)
            zu = sla.solve_triangular(up, b_p, trans="T", lower=False, check_finite=False)
            y = np.diag(gsrc) - zu.T @ zl
        else:
            x = self.solve_unknowns(self.bsrc.toarray())
            y = np.diag(gsrc) - np.asarray(self.bsrc.T @ x)
        y = 0.5 * (y + y.T)  # symmetric by reciprocity; remove rounding asymmetry
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(y))):
            raise SolverError("port matrices have non-finite entries (conductances too extreme?)")
        return t, y


_FIELDS = ("i_out", "v_wordline", "v_bitline", "v_sense", "i_in", "v_tia")


def _fill(out: dict | None, part: Solution, start: int, total: int):
    """Copy a chunk's Solution into preallocated (total, ...) arrays; returns a Solution when full."""
    if out is None:
        out = {"backend": part.backend}
        for name in _FIELDS:
            a = getattr(part, name)
            out[name] = None if a is None else np.empty((total,) + a.shape[1:])
    k = part.i_out.shape[0]
    for name in _FIELDS:
        a = getattr(part, name)
        if a is not None:
            out[name][start:start + k] = a
    if start + k >= total:
        return Solution(**out)
    return out


def _unbatch(s: Solution) -> Solution:
    return Solution(i_out=s.i_out[0], v_wordline=s.v_wordline[0], v_bitline=s.v_bitline[0],
                    v_sense=s.v_sense[0], i_in=s.i_in[0],
                    v_tia=None if s.v_tia is None else s.v_tia[0], backend=s.backend)
