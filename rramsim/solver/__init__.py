"""Fast exact nodal analysis of crossbar tiles: the same circuit as :mod:`rramsim.netlists`.

Public API
----------
solve(xb, v_in, *, method="auto", backend="auto") -> Solution
    Node voltages and currents for inputs (M,) or (B, M); every :class:`~rramsim.crossbar.Crossbar`
    option, linear or sinh cells.
transfer_matrix(xb, *, backend="auto", method="auto") -> (M, N) array
    The exact IR-drop map of a linear tile, ``solve(xb, v).i_out == v @ T``.
input_admittance(xb, *, backend="auto", method="auto") -> (M, M) array
    The exact map from source voltages to source currents, ``solve(xb, v).i_in == Y v``.
port_matrices(xb, *, backend="auto", method="auto") -> PortMatrices
    T and Y together from one elimination (``.transfer``, ``.admittance``).
factorize(xb, *, backend="auto") -> Factorized
    Factor once, then ``.solve(v)`` any number of times and ``.transfer_matrix()``.
memory_estimate(xb, *, method="direct") -> float
    Bytes a solve will need; solves refuse with :class:`~rramsim.errors.SolverError` when it exceeds
    the available memory.

How each case is solved (measured timings of each path: ``docs/benchmarks.md``, Solver section,
produced by ``scripts/bench_solver.py`` and ``scripts/bench_nonlinear.py``):

* **Linear grid tile** (both wire resistances > 0), **few inputs** (B <= ``CG_MAX_BATCH``):
  Schur-complement conjugate gradients on the bit lines, word lines eliminated exactly by tridiagonal
  solves (:mod:`rramsim.solver._cg`). No factorisation and O(MN) memory.
* **Linear tile, many inputs, or any merged-node tile** (a zero wire resistance): sparse Cholesky of
  the nodal matrix in geometric nested-dissection order (:mod:`rramsim.solver._ordering`, separators
  of one line layer), CHOLMOD if scikit-sparse is installed, else SciPy SuperLU
  (:mod:`rramsim.solver._factor`); one factorisation for the whole batch, triangular solves in
  blocks of inputs.
* **Transfer matrix** of a grid tile from 180 x 180 cells: multifrontal Schur complements in
  geometric nested-dissection order (:mod:`rramsim.solver._multifrontal`). The rectangle of cells is cut
  recursively along word-line columns and bit-line rows; each front is eliminated densely and only
  its contribution on the surrounding separators moves up, so no factor is stored and nothing is
  assembled sparsely. Smaller tiles and
  tiles with a zero wire resistance use the factorisation above with the ports (driven and sensed
  nodes) numbered last, whose trailing block is the Cholesky factor of the Schur complement on the
  ports (:meth:`Factorized.transfer_matrix`; extracting the block copies the whole factor). After
  that a batch costs one matrix product.
* **Sinh cells**: batches on grid tiles up to ``BATCH_SINH_MAX_CELLS`` (256 x 256) are solved in
  cell-current space (:mod:`rramsim.solver._batch_sinh`, ``method="newton-batch"``): given the
  cell currents, word and bit lines are independent resistor chains, so Newton runs on the MN cell
  currents alone, every input of the batch at once, with CG steps whose line sweeps are one BLAS
  call per node across all lines. Otherwise Newton's method with line search
  (:mod:`rramsim.solver._newton`): on a grid tile every Newton step is a Schur-complement CG
  solve on the Jacobian (a grid matrix with the cells' small-signal conductances), no
  factorisation, whatever the batch. Tiles with merged nodes refactor the Jacobian reusing the
  symbolic analysis (one input), and batches use Newton-Krylov preconditioned with the linear
  factor. Repeated inputs of a batch are solved once.

CHOLMOD's supernodal factorisation spends its time in BLAS, so an optimised BLAS matters
(``apt-get install libopenblas0-pthread``, which Debian then selects for ``libblas.so.3``).

All methods stop at a relative residual ``||b - A x|| / ||b|| <= 1e-12`` (direct solves are checked
and refined until they do); they never return NaN: a singular system or floating node raises
``SolverError`` naming the node. The backend actually used is logged on the ``rramsim.solver``
logger and stored in ``Solution.backend``.

Memory: every path (factorisation, batch solve, transfer and port matrices, CG, Newton) estimates its
peak by arithmetic on the tile's shape (:func:`memory_estimate`) before it allocates anything of the
tile's size, and refuses with :class:`~rramsim.errors.SolverError` when the estimate exceeds the
limit: the smallest of ``MemAvailable``, the cgroup memory limit less its usage and ``ulimit -v``
(RLIMIT_AS) less the mapped size, less 15 % headroom. The message names the need, the limit and
what fits instead (a batch size, another method, the largest tile of the same options).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from rramsim.crossbar import Crossbar
from rramsim.errors import CrossbarError, SolverError
from rramsim.solution import Solution
from rramsim.solver import _memory
from rramsim.solver._direct import Factorized, solution_from_voltages
from rramsim.solver._factor import available_backends, pick_backend, small_system_threads
from rramsim.solver._grid import is_grid as _is_grid
from rramsim.solver._memory import way_out
from rramsim.solver._nodal import RTOL

__all__ = ["solve", "transfer_matrix", "input_admittance", "port_matrices", "PortMatrices",
           "factorize", "memory_estimate", "Factorized",
           "available_backends", "RTOL", "CG_MAX_BATCH", "METHODS", "TRANSFER_METHODS",
           "MULTIFRONTAL_MIN_CELLS", "BATCH_SINH_MAX_CELLS"]

log = logging.getLogger("rramsim.solver")

#: Largest batch solved by Schur-complement CG under ``method="auto"``: beyond it one factorisation
#: and a triangular solve per input cost less than a CG solve per input (docs/benchmarks.md).
CG_MAX_BATCH = 8
METHODS = ("auto", "direct", "cg", "newton", "newton-krylov", "newton-cg", "newton-batch")
#: Largest sinh grid tile (cells) whose batches ``method="auto"`` solves in cell-current space
#: (:mod:`rramsim.solver._batch_sinh`); larger ones take Newton with Schur-complement CG steps.
#: The bound is measured (scripts/bench_nonlinear.py; docs/benchmarks.md).
BATCH_SINH_MAX_CELLS = 256 * 256


def _check_xb(xb) -> Crossbar:
    if not isinstance(xb, Crossbar):
        raise CrossbarError(f"expected a rramsim.crossbar.Crossbar, got {type(xb).__name__}")
    return xb


def factorize(xb: Crossbar, *, backend: str = "auto") -> Factorized:
    """Assemble and factor the nodal matrix of a linear tile once (see :class:`Factorized`).

    Raises
    ------
    SolverError
        For a non-linear tile, when the factor would not fit in memory, or a singular system.
    """
    _check_xb(xb)
    if not xb.is_linear:
        raise SolverError("factorize needs a linear tile (sinh_v0 is set); use solve()")
    with small_system_threads(2 * xb.n_rows * xb.n_cols):
        return Factorized(xb, backend=backend, way_out=way_out)


def memory_estimate(xb: Crossbar, *, method: str = "direct", backend: str = "auto",
                    batch: int = 1) -> float:
    """Estimated peak memory of solving ``xb`` for ``batch`` inputs, bytes.

    Computed by arithmetic on the tile's shape and options alone: nothing of the tile's size is
    allocated, so a 30000 x 30000 tile is answered in microseconds.

    ``method="direct"`` counts the factor (about ``2.6 n log2 n`` entries for n = 2MN unknowns on a
    grid tile), the assembled matrix and the batch's node voltages; ``"transfer"`` what
    :func:`transfer_matrix` and :func:`port_matrices` need (the multifrontal method's two levels of
    contributions and its largest front, or the ports-last factor and its extracted copy);
    ``"cg"`` about 30 vectors of length 2MN per input; ``"newton"`` a sinh solve of the batch (its
    CG steps on grid tiles, else the linear factor, the Jacobian's and the iterates). Every solve
    checks the same figure against :func:`rramsim.solver._factor.memory_limit` (the smallest of
    MemAvailable, the cgroup limit and ``ulimit -v``, less 15 %) before it allocates.
    """
    _check_xb(xb)
    if method not in ("direct", "transfer", "cg", "newton"):
        raise SolverError(f"method must be 'direct', 'transfer', 'cg' or 'newton', got {method!r}")
    try:
        batch = int(batch)
    except (TypeError, ValueError) as exc:
        raise SolverError(f"batch must be a whole number of inputs, got {batch!r}") from exc
    if batch < 1:
        raise SolverError(f"batch must be >= 1, got {batch}")
    if method == "transfer":
        method = "multifrontal" if _transfer_method(xb, "auto", backend) == "multifrontal" \
            else "ports-factor"
    return _memory.estimate(xb, method, batch, backend)


def solve(xb: Crossbar, v_in, *, method: str = "auto", backend: str = "auto") -> Solution:
    """Solve a crossbar tile for input voltages ``v_in`` (M,) or (B, M), volts.

    Parameters
    ----------
    xb : Crossbar
        The tile (any option of the circuit contract in :mod:`rramsim.crossbar`).
    v_in : array_like, (M,) or (B, M)
        Source voltages, volts. A batch is solved with one factorisation.
    method : {"auto", "direct", "cg", "newton", "newton-krylov", "newton-cg"}
        "auto" picks CG for up to ``CG_MAX_BATCH`` inputs on a linear grid tile and the direct
        factorisation otherwise; sinh tiles use Newton with CG steps ("newton-cg") on grid tiles
        (any batch), else Newton with refactorisation (one input, "newton") or Newton-Krylov
        (batches).
    backend : {"auto", "cholmod", "superlu"}
        Sparse factorisation used by the direct and Newton methods.

    Returns
    -------
    Solution
        ``i_out`` (amperes into each S_j), node voltages, ``v_sense``, ``i_in`` (current delivered by
        each row's sources), ``v_tia`` (TIA outputs; None for sense resistors) and ``backend``.

    Raises
    ------
    CrossbarError
        Bad input shape or values.
    SolverError
        Singular system (names the node), or not enough memory (says how much is needed).
    ConvergenceError
        An iterative method did not reach its tolerance.

    Examples
    --------
    Without wire resistance a tile computes ``i_out = v @ G`` exactly:

    >>> import numpy as np
    >>> from rramsim import solver
    >>> from rramsim.crossbar import Crossbar
    >>> g = np.array([[10e-6, 20e-6], [30e-6, 40e-6]])
    >>> sol = solver.solve(Crossbar(g), [0.1, 0.2])
    >>> bool(np.allclose(sol.i_out, [7e-6, 10e-6], rtol=1e-12, atol=0))
    True

    With 2-ohm segments, a batch of four inputs in one call (IR drop lowers every output):

    >>> rng = np.random.default_rng(0)
    >>> xb = Crossbar(rng.uniform(5e-6, 25e-6, (16, 16)), r_wordline=2.0, r_bitline=2.0)
    >>> v = rng.uniform(0.0, 0.2, (4, 16))
    >>> sol = solver.solve(xb, v)
    >>> sol.i_out.shape
    (4, 16)
    >>> bool(np.all(sol.i_out < v @ xb.conductance))
    True
    """
    _check_xb(xb)
    if method not in METHODS:
        raise SolverError(f"method must be one of {METHODS}, got {method!r}")
    v, batched = xb.check_input(v_in)
    with small_system_threads(2 * xb.n_rows * xb.n_cols):
        return _solve(xb, v, batched, method, backend)


def _solve(xb: Crossbar, v: np.ndarray, batched: bool, method: str, backend: str) -> Solution:
    if not xb.is_linear:
        from rramsim.solver._newton import NonlinearTile

        if method in ("cg", "direct"):
            raise SolverError(f"method {method!r} is for linear tiles; sinh tiles use Newton")
        _memory.check_batch(xb, "newton", v.shape[0], backend)
        uniq, inverse = _distinct_inputs(v)
        if uniq is not None:  # solve each distinct input once (exact: the same circuit, same input)
            log.debug("rramsim.solver: %d distinct inputs of %d", uniq.shape[0], v.shape[0])
            return _expand(_solve(xb, uniq, True, method, backend), inverse, batched)
        if method == "newton-batch" or (method == "auto" and _is_grid(xb) and v.shape[0] > 1
                                        and xb.n_rows * xb.n_cols <= BATCH_SINH_MAX_CELLS):
            from rramsim.errors import ConvergenceError
            from rramsim.solver import _batch_sinh

            if not _is_grid(xb):
                raise SolverError("method 'newton-batch' needs r_wordline > 0 and r_bitline > 0")
            try:
                return _batch_sinh.solve_batch(xb, v, batched)
            except ConvergenceError as exc:
                if method != "auto":
                    raise
                log.info("rramsim.solver: batched sinh solve did not converge (%s); Newton with "
                         "CG steps per input instead", exc)
        if method == "newton-cg" or (method == "auto" and _is_grid(xb)):
            from rramsim.solver._newton import solve_grid_newton

            if not _is_grid(xb):
                raise SolverError("method 'newton-cg' needs r_wordline > 0 and r_bitline > 0")
            return solve_grid_newton(xb, v, batched)
        tile = NonlinearTile(xb, backend=backend, way_out=way_out)
        return tile.solve(v if batched else v[0], method=method)
    if method in ("newton", "newton-krylov", "newton-cg", "newton-batch"):
        raise SolverError(f"method {method!r} is for sinh tiles; this tile is linear")
    use_cg = method == "cg" or (method == "auto" and _is_grid(xb) and v.shape[0] <= CG_MAX_BATCH)
    if use_cg:
        return _solve_cg(xb, v, batched)
    _memory.check_batch(xb, "direct", v.shape[0], backend)
    return Factorized(xb, backend=backend, way_out=way_out).solve(v if batched else v[0])


def _distinct_inputs(v: np.ndarray):
    """``(distinct rows, inverse)`` of a batch with repeated inputs (zero patches of an image, say),
    or ``(None, None)`` when every input is distinct."""
    if v.shape[0] < 2:
        return None, None
    uniq, inverse = np.unique(v, axis=0, return_inverse=True)
    if uniq.shape[0] == v.shape[0]:
        return None, None
    return uniq, inverse.reshape(-1)


def _expand(s: Solution, inverse: np.ndarray, batched: bool) -> Solution:
    """The Solution of the distinct inputs, spread back over the batch (``inverse``)."""
    def take(a):
        return None if a is None else np.ascontiguousarray(a[inverse])

    out = Solution(i_out=take(s.i_out), v_wordline=take(s.v_wordline), v_bitline=take(s.v_bitline),
                   v_sense=take(s.v_sense), i_in=take(s.i_in), v_tia=take(s.v_tia),
                   backend=s.backend)
    if batched:
        return out
    from rramsim.solver._direct import _unbatch

    return _unbatch(out)


def _solve_cg(xb: Crossbar, v: np.ndarray, batched: bool) -> Solution:
    from rramsim.solver._cg import GridSchur

    if not _is_grid(xb):
        raise SolverError("method 'cg' needs r_wordline > 0 and r_bitline > 0")
    _memory.check_batch(xb, "cg", v.shape[0], "auto")
    g = xb.effective_conductance()
    xw, xbl, it = GridSchur(xb, g).solve(v)
    m = xb.shape[0]
    vb = xbl[:, :, :m].transpose(0, 2, 1)
    vs = xbl[:, :, m] if xbl.shape[2] > m else np.zeros((v.shape[0], xb.shape[1]))
    log.debug("rramsim.solver: Schur-complement CG converged in %d iterations", it)
    vb = np.ascontiguousarray(vb)
    return solution_from_voltages(xb, xw, vb, vs, batched, "schur-cg", g * (xw - vb))


#: Tiles with at least this many cells get the multifrontal transfer matrix under ``method="auto"``
#: (per factorisation backend). Its Python overhead loses on small tiles; the bounds are where it
#: began to win in measurements (docs/benchmarks.md).
MULTIFRONTAL_MIN_CELLS = {"cholmod": 180 * 180, "superlu": 64 * 64}
TRANSFER_METHODS = ("auto", "multifrontal", "factor")


def transfer_matrix(xb: Crossbar, *, backend: str = "auto", method: str = "auto") -> np.ndarray:
    """Exact effective conductance matrix T (M, N) of a linear tile: ``i_out = v @ T``, siemens.

    IR drop on both lines, drivers, sense circuits and access resistors are all included: T is the
    map from source voltages to sense currents of the circuit, the Schur complement of its nodal
    matrix on the ports (George & Liu, Computer Solution of Large Sparse Positive Definite Systems,
    1981). About as costly as one factorisation, against M or N solves column by column.

    Parameters
    ----------
    method : {"auto", "multifrontal", "factor"}
        ``"multifrontal"`` (grid tiles: both wire resistances > 0): geometric nested dissection with
        dense fronts that never stores a factor (:mod:`rramsim.solver._multifrontal`), so it needs
        a fraction of the memory of the factor route, whose extraction copies the whole factor.
        ``"factor"``: one sparse Cholesky factorisation (``backend``) with the ports
        numbered last, whose trailing block is the factor of the Schur complement; it also serves
        tiles with a zero wire resistance. ``"auto"``: multifrontal for grid tiles from
        ``MULTIFRONTAL_MIN_CELLS`` cells, the factor otherwise.

    Raises
    ------
    SolverError
        For a sinh tile (the map is not linear) or when the computation does not fit in memory.

    Examples
    --------
    >>> import numpy as np
    >>> from rramsim import solver
    >>> from rramsim.crossbar import Crossbar
    >>> rng = np.random.default_rng(1)
    >>> xb = Crossbar(rng.uniform(5e-6, 25e-6, (16, 12)), r_wordline=2.0, r_bitline=2.0)
    >>> t = solver.transfer_matrix(xb)
    >>> t.shape
    (16, 12)
    >>> v = rng.uniform(0.0, 0.2, 16)
    >>> bool(np.allclose(v @ t, solver.solve(xb, v).i_out, rtol=1e-10, atol=0))
    True
    """
    _check_xb(xb)
    if not xb.is_linear:
        raise SolverError("transfer_matrix needs a linear tile; sinh cells make i_out non-linear "
                          "in v (use solve)")
    if _transfer_method(xb, method, backend) == "multifrontal":
        from rramsim.solver import _multifrontal

        return _multifrontal.transfer_matrix_grid(xb, way_out=way_out)
    with small_system_threads(2 * xb.n_rows * xb.n_cols):
        return Factorized(xb, backend=backend, ports_last=True, way_out=way_out).transfer_matrix()


@dataclass(frozen=True, eq=False)
class PortMatrices:
    """The exact linear maps of a tile at its ports (from :func:`port_matrices`).

    Attributes
    ----------
    transfer : ndarray (M, N)
        ``i_out = v @ transfer`` (siemens), as :func:`transfer_matrix`.
    admittance : ndarray (M, M)
        ``i_in = admittance @ v`` (siemens), symmetric positive semi-definite, as
        :func:`input_admittance`; the power drawn from the sources is ``v^T Y v``.
    method : str
        "multifrontal" or "factor": how they were computed.
    """

    transfer: np.ndarray
    admittance: np.ndarray
    method: str


def port_matrices(xb: Crossbar, *, backend: str = "auto", method: str = "auto") -> PortMatrices:
    """Transfer matrix T and input admittance Y of a linear tile from one elimination.

    Both are read from the Schur complement of the nodal matrix on the ports (sources and sense
    nodes): the multifrontal pass (:mod:`rramsim.solver._multifrontal`) yields it for grid tiles, the
    ports-last factorisation (its trailing block) for the others; ``method`` and ``backend`` as for
    :func:`transfer_matrix`. Costs about one :func:`transfer_matrix`, against two for calling
    :func:`transfer_matrix` and :func:`input_admittance` separately.

    Raises
    ------
    SolverError
        For a sinh tile, or when the computation does not fit in memory.

    Examples
    --------
    >>> import numpy as np
    >>> from rramsim import solver
    >>> from rramsim.crossbar import Crossbar
    >>> rng = np.random.default_rng(2)
    >>> xb = Crossbar(rng.uniform(5e-6, 25e-6, (8, 8)), r_wordline=2.0, r_bitline=2.0)
    >>> pm = solver.port_matrices(xb)
    >>> v = rng.uniform(0.0, 0.2, 8)
    >>> sol = solver.solve(xb, v)
    >>> bool(np.allclose(v @ pm.transfer, sol.i_out, rtol=1e-10, atol=0))
    True
    >>> bool(np.allclose(pm.admittance @ v, sol.i_in, rtol=1e-10, atol=0))
    True
    """
    _check_xb(xb)
    if not xb.is_linear:
        raise SolverError("port_matrices and input_admittance need a linear tile; with sinh cells "
                          "the port currents are not linear in v (use solve)")
    used = _transfer_method(xb, method, backend)
    if used == "multifrontal":
        from rramsim.solver import _multifrontal

        t, y = _multifrontal.port_maps(xb, admittance=True, way_out=way_out)
    else:
        with small_system_threads(2 * xb.n_rows * xb.n_cols):
            t, y = Factorized(xb, backend=backend, ports_last=True, way_out=way_out).port_matrices()
    for a in (t, y):
        a.setflags(write=False)
    return PortMatrices(transfer=t, admittance=y, method=used)


def _transfer_method(xb: Crossbar, method: str, backend: str) -> str:
    """Resolve a transfer-matrix ``method`` to "multifrontal" or "factor" (logged)."""
    if method not in TRANSFER_METHODS:
        raise SolverError(f"method must be one of {TRANSFER_METHODS}, got {method!r}")
    m, n = xb.shape
    if method == "auto":
        big = m * n >= MULTIFRONTAL_MIN_CELLS[pick_backend(backend)]
        method = "multifrontal" if _is_grid(xb) and big else "factor"
    if method == "multifrontal":
        if not _is_grid(xb):
            raise SolverError("method 'multifrontal' needs r_wordline > 0 and r_bitline > 0")
        log.debug("rramsim.solver: %d x %d tile by multifrontal Schur complements", m, n)
    return method


def input_admittance(xb: Crossbar, *, backend: str = "auto", method: str = "auto") -> np.ndarray:
    """Exact input admittance matrix Y (M, M) of a linear tile: ``i_in = Y v``, siemens.

    ``i_in`` is the current each row's sources deliver (as in :class:`~rramsim.solution.Solution`),
    so the power drawn from the sources is ``v^T Y v``; Y is symmetric (reciprocity) and positive
    semi-definite. ``method`` as for :func:`transfer_matrix`: the multifrontal Schur complement
    gives Y with T at the same cost (1024 x 1024: seconds, against 1024 full solves); the
    ``"factor"`` route reads it from the ports-last factor (see :func:`port_matrices`).

    Raises
    ------
    SolverError
        For a sinh tile, or when the computation does not fit in memory.
    """
    return port_matrices(xb, backend=backend, method=method).admittance
