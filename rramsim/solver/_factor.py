"""Sparse direct factorisations of the (already nested-dissection ordered) nodal matrix.

Two backends, chosen automatically (``backend="auto"``):

* ``"cholmod"``: supernodal Cholesky from SuiteSparse CHOLMOD (Chen, Davis, Hager & Rajamanickam,
  ACM TOMS 35(3), 2008) through scikit-sparse, with ``ordering_method="natural"`` because the matrix
  arrives in geometric nested-dissection order. BLAS-3 supernodes make it the fastest exact method here
  (figures: docs/benchmarks.md), and refactoring a new matrix of the same
  pattern (Newton) reuses the symbolic analysis.
* ``"superlu"``: SciPy's SuperLU (Li, ACM TOMS 31(3), 2005) with ``permc_spec="NATURAL"`` on the same
  ordered matrix, ``SymmetricMode`` and ``diag_pivot_thresh=0`` so it keeps the diagonal pivots (the
  matrix is SPD, pivoting is never needed) and hence the nested-dissection fill. About 2-3x slower than
  CHOLMOD but needs nothing beyond SciPy; SciPy's default (COLAMD, partial pivoting) is another 5-10x
  slower and uses several times the memory.

Both expose the trailing (ports) block of their factor, whose product is the Schur complement of the
matrix on its last unknowns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from rramsim.errors import NotPositiveDefinite, SolverError

log = logging.getLogger("rramsim.solver")

try:  # optional accelerated backend
    from sksparse import cholmod as _cholmod
except ImportError:  # pragma: no cover - depends on the machine
    _cholmod = None

BACKENDS = ("cholmod", "superlu")


def available_backends() -> tuple[str, ...]:
    """Direct backends usable on this machine, fastest first."""
    return BACKENDS if _cholmod is not None else ("superlu",)


_announced = False


def pick_backend(backend: str = "auto") -> str:
    """Resolve ``"auto"`` to the fastest available backend and log which one is used.

    The choice is logged at INFO level the first time (DEBUG afterwards).
    """
    global _announced
    if backend == "auto":
        name = available_backends()[0]
        level = logging.DEBUG if _announced else logging.INFO
        _announced = True
        if name == "cholmod":
            log.log(level, "rramsim.solver: using CHOLMOD (scikit-sparse) for sparse Cholesky")
        else:
            log.log(level, "rramsim.solver: scikit-sparse (CHOLMOD) not installed; using SciPy "
                    "SuperLU on the nested-dissection ordered matrix (slower, same answers)")
        return name
    if backend not in BACKENDS:
        raise SolverError(f"backend must be 'auto' or one of {BACKENDS}, got {backend!r}")
    if backend == "cholmod" and _cholmod is None:
        raise SolverError("backend 'cholmod' needs scikit-sparse (pip install rramsim[fast])")
    return backend


class DirectFactor:
    """Common interface: ``solve(rhs (n, k)) -> (n, k)``, ``refactor(lower)``, ``port_factors(p)``."""

    name = ""

    def solve(self, rhs: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def refactor(self, lower: sp.csc_array) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def port_factors(self, p: int):  # pragma: no cover - interface
        """Return (order, Lp, Up): S = Lp @ Up for the last p unknowns, ports permuted by ``order``."""
        raise NotImplementedError


#: Up to this many unknowns (a 128 x 128 tile) CHOLMOD factors simplicially.
SIMPLICIAL_MAX_UNKNOWNS = 2 * 128 * 128

#: Up to this many unknowns, factorisations and solves run with one BLAS/OpenMP thread.
SINGLE_THREAD_MAX_UNKNOWNS = 2 * 128 * 128

_thread_controller = None
_thread_default = 1


def blas_threads(limit: int | None):
    """A context that runs BLAS/OpenMP with ``limit`` threads (None: the number they started with).

    Nested contexts work, so a computation limited to one thread can give its large blocks back
    every thread.
    """
    import contextlib

    global _thread_controller, _thread_default
    if _thread_controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl is a dependency
            return contextlib.nullcontext()
        _thread_controller = ThreadpoolController()  # after CHOLMOD's BLAS is loaded (import above)
        _thread_default = max([lib.num_threads for lib in _thread_controller.lib_controllers],
                              default=1)
    return _thread_controller.limit(limits=_thread_default if limit is None else limit)


def small_system_threads(n_unknowns: int):
    """A context that runs small systems with one BLAS/OpenMP thread.

    On the shared 2-core machine, waking and spinning BLAS/OpenMP worker threads costs more than the
    work of a small system (measured: docs/benchmarks.md). Large systems keep every thread.
    """
    import contextlib

    if n_unknowns > SINGLE_THREAD_MAX_UNKNOWNS:
        return contextlib.nullcontext()
    return blas_threads(1)


class CholmodFactor(DirectFactor):
    name = "cholmod"

    def __init__(self, lower: sp.csc_array):
        a = sp.csc_matrix(lower)
        n = a.shape[0]
        self.n = n
        # 32-bit indices halve the index memory; CHOLMOD's long version only past 2^31 entries
        use_long = bool(a.indices.dtype == np.int64 or factor_entries(n, "grid") > 2**31 - 1)
        # Small systems: the simplicial factorisation beats the supernodal one (64 x 64 tile with
        # ports last: 5 ms against 10 ms, and L() 0.4 ms against 1.2-2.9 ms; 128 x 128: 38 against
        # 51 ms); from 256 x 256 the supernodal one's BLAS-3 blocks win (186 against 344 ms).
        self.simplicial = n <= SIMPLICIAL_MAX_UNKNOWNS
        self._factor = _cholmod.analyze(a, mode="simplicial" if self.simplicial else "supernodal",
                                        ordering_method="natural", use_long=use_long)
        self.refactor(lower)

    def refactor(self, lower: sp.csc_array) -> None:
        try:
            self._factor.cholesky_inplace(sp.csc_matrix(lower))
        except _cholmod.CholmodNotPositiveDefiniteError as exc:
            col = getattr(exc, "column", None)
            raise NotPositiveDefinite(int(col) if col is not None else -1) from exc
        except _cholmod.CholmodOutOfMemoryError as exc:
            raise SolverError(f"CHOLMOD ran out of memory factoring {self.n} unknowns") from exc
        if self.simplicial:
            # CHOLMOD's simplicial factor is L D L^T, which does not stop at a non-positive pivot:
            # check D, so that an indefinite or singular matrix is caught as in the LL^T case.
            bad = np.flatnonzero(~(self._factor.D() > 0.0))
            if bad.size:
                raise NotPositiveDefinite(int(bad[0]))

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return self._factor.solve_A(np.asfortranarray(rhs))

    def port_factors(self, p: int):
        perm = self._factor.P()
        n = self.n
        tail = perm[n - p:]
        if p == 0 or tail.min() != n - p:
            raise SolverError("internal error: CHOLMOD moved the ports off the end of its ordering")
        lfac = self._factor.L()  # L L^T = A[P][:, P]
        lp = lfac[n - p:, n - p:].toarray()
        return tail - (n - p), lp, lp.T


class SuperLUFactor(DirectFactor):
    name = "superlu"

    def __init__(self, lower: sp.csc_array):
        self.n = lower.shape[0]
        self.refactor(lower)

    def refactor(self, lower: sp.csc_array) -> None:
        from scipy.sparse.linalg import splu

        diag = lower.diagonal()
        full = (lower + lower.T - sp.dia_array((diag[None, :], [0]), shape=lower.shape)).tocsc()
        try:
            self._lu = splu(full, permc_spec="NATURAL", diag_pivot_thresh=0.0,
                            options=dict(SymmetricMode=True))
        except RuntimeError as exc:  # "Factor is exactly singular"
            raise NotPositiveDefinite(_column_from_message(str(exc))) from exc
        u_diag = self._lu.U.diagonal()
        bad = np.flatnonzero(~(u_diag > 0))
        if bad.size:
            raise NotPositiveDefinite(int(bad[0]))

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return self._lu.solve(np.asarray(rhs, dtype=float))

    def port_factors(self, p: int):
        lu = self._lu
        n = self.n
        if not (np.array_equal(lu.perm_r, np.arange(n)) and np.array_equal(lu.perm_c, np.arange(n))):
            raise SolverError("internal error: SuperLU permuted the ports off the end")
        lp = lu.L[n - p:, n - p:].toarray()
        up = lu.U[n - p:, n - p:].toarray()
        return np.arange(p), lp, up


def _column_from_message(msg: str) -> int:
    import re

    nums = re.findall(r"(\d+)", msg)
    return int(nums[-1]) if nums else -1


def factorize(lower: sp.csc_array, backend: str) -> DirectFactor:
    """Numerically factor the SPD matrix whose lower triangle is ``lower`` (already ordered)."""
    if backend == "cholmod":
        return CholmodFactor(lower)
    return SuperLUFactor(lower)


# ---------------------------------------------------------------------- memory
#: Fraction of the smallest memory bound kept free (allocator slack, the rest of the process).
HEADROOM = 0.15


def _meminfo_available() -> float | None:
    """MemAvailable from /proc/meminfo, bytes (None when it cannot be read)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):  # pragma: no cover - non-Linux
        pass
    return None


def _read_number(path: str) -> float | None:
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    if not text or text == "max":
        return None
    try:
        return float(text)
    except ValueError:  # pragma: no cover - malformed control file
        return None


def _cgroup_free() -> tuple[float, str] | None:
    """Memory left under this process's cgroup limit (v2: memory.max - memory.current of the group
    and each ancestor; v1: limit_in_bytes - usage_in_bytes), bytes, or None without a limit."""
    import os

    try:
        with open("/proc/self/cgroup") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    best = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, ctrl, path = parts
        if ctrl == "":  # v2 unified hierarchy
            root, limit_f, usage_f, name = "/sys/fs/cgroup", "memory.max", "memory.current", "v2"
        elif "memory" in ctrl.split(","):
            root, limit_f, usage_f, name = ("/sys/fs/cgroup/memory", "memory.limit_in_bytes",
                                            "memory.usage_in_bytes", "v1")
        else:
            continue
        rel = path.strip("/")
        while True:
            d = os.path.join(root, rel) if rel else root
            lim = _read_number(os.path.join(d, limit_f))
            if lim is not None and lim < 2**60:  # v1 reports "no limit" as a huge number
                used = _read_number(os.path.join(d, usage_f)) or 0.0
                free = max(lim - used, 0.0)
                if best is None or free < best[0]:
                    best = (free, f"cgroup {name} memory limit {lim / 1e9:.3g} GB, "
                                  f"{used / 1e9:.3g} GB in use")
            if not rel:
                break
            rel = os.path.dirname(rel)
    return best


def _rlimit_free() -> tuple[float, str] | None:
    """Address space left under RLIMIT_AS (``ulimit -v``): the limit minus the current VmSize."""
    try:
        import resource
    except ImportError:  # pragma: no cover - non-Unix
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    size = 0.0
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    size = float(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):  # pragma: no cover
        pass
    return max(float(soft) - size, 0.0), (f"address-space limit (ulimit -v) {soft / 1e9:.3g} GB, "
                                         f"{size / 1e9:.3g} GB mapped")


def memory_limit() -> tuple[float, str]:
    """Bytes a solve may allocate now, and which bound set it.

    The smallest of MemAvailable, the cgroup memory limit less its usage and RLIMIT_AS less the
    current virtual size, less ``HEADROOM`` of it. Reads a few small files; never allocates.
    """
    cands = []
    avail = _meminfo_available()
    if avail is not None:
        cands.append((avail, f"MemAvailable {avail / 1e9:.3g} GB"))
    for bound in (_cgroup_free(), _rlimit_free()):
        if bound is not None:
            cands.append(bound)
    if not cands:  # pragma: no cover - nothing readable
        return float(1 << 62), "no memory bound found"
    free, source = min(cands, key=lambda c: c[0])
    return (1.0 - HEADROOM) * free, source


def available_memory_bytes() -> float:
    """The first value of :func:`memory_limit`: bytes a solve may allocate now."""
    return memory_limit()[0]


def factor_entries(n: int, kind: str) -> float:
    """Estimated entries of the Cholesky factor for n unknowns.

    Fitted to the factors of nested-dissection ordered tiles measured here (``2.4 n log2 n`` for the
    grid; nested dissection of a planar grid gives O(n log n), George 1973). Merged-node tiles
    (a zero wire resistance) have chain interiors and a dense block of at most (M + N)^2 / 2.
    """
    n = max(int(n), 2)
    if kind == "grid":
        return 2.6 * n * np.log2(n) + 4 * n
    return 4.0 * n


def factor_memory_bytes(n: int, kind: str, backend: str, *, ports_last: bool = False) -> float:
    """Estimated peak bytes of assembling and factoring n unknowns (and, with ``ports_last``, of
    extracting the ports' block for the transfer matrix).

    Calibrated on this machine's peak resident memory: a plain 1024 x 1024 factorisation peaked at
    1.50 GB (estimate 1.74 GB); the ports-last factor plus the copy of L that CHOLMOD makes to
    expose it at 2.82 GB (estimate 2.87 GB), 0.71 GB at 512 x 512 (estimate 0.74 GB).
    """
    nnz_l = factor_entries(n, kind)
    per_entry = 8.0 * 1.3 if backend == "cholmod" else 2 * 12.0 * 1.3  # SuperLU stores L and U
    assembly = 5 * n * 12.0 * 3  # matrix, COO and CSC copies
    need = nnz_l * per_entry + assembly + 64e6
    return need * 1.65 if ports_last else need


def gb(x: float) -> str:
    """Bytes as a short GB figure for messages."""
    return f"{x / 1e9:.3g} GB"


def check_memory(need: float, what: str,
                 way_out: str | Callable[[], str | None] | None = None) -> None:
    """Raise SolverError when ``need`` bytes exceed :func:`memory_limit`.

    The message names the need, the limit and its source, and ``way_out`` (what the caller can do
    instead; a generic hint when None). A callable ``way_out`` is called only when refusing, so a
    costly way out (:func:`rramsim.solver._memory.way_out` searches for what fits) costs nothing
    when the memory suffices.
    """
    limit = available_memory_bytes()
    source = memory_limit()[1] if need > limit or need > 1e9 else ""
    log.log(logging.INFO if need > 1e9 else logging.DEBUG,
            "rramsim.solver: %s needs about %s (%s may be used; %s)", what, gb(need), gb(limit),
            source or "within the limit")
    if need > limit:
        if callable(way_out):
            way_out = way_out()
        raise SolverError(
            f"{what} needs about {gb(need)} but only {gb(limit)} may be used ({source}, less "
            f"{HEADROOM:.0%} headroom); "
            + (way_out or "use a smaller tile or fewer inputs at once"))
