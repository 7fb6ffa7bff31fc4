"""Memory checks of the solver: arithmetic estimates, the limit, refusals that name a way out.

The subprocess test runs under ``ulimit -v 4000000`` (4 GB of address space) with a 30000 x 30000
tile whose conductances are a zero-stride view (8 bytes for 9e8 cells): every solver entry point
must refuse it with SolverError before it allocates anything of the tile's size.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rramsim import solver
from rramsim.crossbar import Crossbar, FiniteGainTIA, SenseResistor
from rramsim.errors import SolverError
from rramsim.solver import _factor, _memory, _multifrontal
from rramsim.solver._direct import Factorized

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("m,n,both", [(1, 1, False), (1, 7, True), (9, 1, False), (33, 20, True),
                                      (64, 64, False), (300, 170, True), (1024, 1024, False)])
def test_shape_counts_equal_the_plan(m, n, both):
    """The arithmetic plan (shapes and counts) has exactly the fronts of the per-rectangle plan."""
    plan = _multifrontal._plan(m, n, both)
    counts = _multifrontal.shape_counts(m, n, both)
    assert len(plan) == len(counts)
    for level, lev in zip(plan, counts, strict=True):
        want = sorted((g[1].size, g[2], g[3]) for g in level[0])
        assert sorted(lev) == want
        assert level[-1] == sum(c * (f - k) ** 2 for c, k, f in lev)


def test_memory_limit_is_the_smallest_bound_less_headroom(monkeypatch):
    monkeypatch.setattr(_factor, "_meminfo_available", lambda: 20e9)
    monkeypatch.setattr(_factor, "_cgroup_free", lambda: (6e9, "cgroup v2 memory limit 8 GB"))
    monkeypatch.setattr(_factor, "_rlimit_free", lambda: None)
    limit, source = _factor.memory_limit()
    assert limit == pytest.approx(6e9 * (1 - _factor.HEADROOM)) and "cgroup" in source
    monkeypatch.setattr(_factor, "_rlimit_free", lambda: (2e9, "address-space limit"))
    assert _factor.memory_limit() == (pytest.approx(2e9 * (1 - _factor.HEADROOM)),
                                      "address-space limit")
    monkeypatch.setattr(_factor, "_cgroup_free", lambda: None)
    monkeypatch.setattr(_factor, "_rlimit_free", lambda: None)
    assert _factor.memory_limit()[1].startswith("MemAvailable 20 GB")
    assert 0.8 <= 1 - _factor.HEADROOM <= 0.9


def test_rlimit_bound_reads_ulimit():
    """In a child under ulimit -v 3000000 the bound is 3.07 GB less the mapped size."""
    code = ("import json; from rramsim.solver import _factor; "
            "print(json.dumps([_factor._rlimit_free(), _factor.memory_limit()]))")
    out = subprocess.run(["bash", "-c", f"ulimit -v 3000000; exec {sys.executable} -c '{code}'"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    (free, src), (limit, lsrc) = json.loads(out.stdout)
    assert 0 < free < 3000000 * 1024 and "ulimit -v" in src
    assert limit <= free * (1 - _factor.HEADROOM) + 1


def _tile(m, n, **kw):
    return Crossbar(np.full((m, n), 2e-5), **{"r_wordline": 1.0, "r_bitline": 1.0, **kw})


@pytest.mark.parametrize("kw", [{}, {"r_wordline": 0.0, "r_driver": 10.0},
                                {"r_bitline": 0.0, "sense": SenseResistor(1e3)},
                                {"drive": "both", "sense": FiniteGainTIA(1e3, 1e3)}])
def test_named_way_out_really_fits(kw, monkeypatch):
    """With a small limit, the tile size a refusal proposes is accepted; 20 % more is refused."""
    xb = _tile(160, 120, **kw)
    monkeypatch.setattr(_factor, "available_memory_bytes", lambda: 120e6)
    with pytest.raises(SolverError, match=r"needs about [\d.e+]+ GB but only 0.12 GB may be used"
                                          r".*use tiles of at most \d+ x \d+ cells") as info:
        solver.solve(xb, np.full((400, 160), 0.1), method="direct")
    m, n = map(int, re.search(r"at most (\d+) x (\d+) cells", str(info.value)).groups())
    assert m < 160 and n < 120
    small = _tile(m, n, **kw)
    s = solver.solve(small, np.full((400, m), 0.1), method="direct")
    assert s.i_out.shape == (400, n)
    with pytest.raises(SolverError):
        solver.solve(_tile(int(m * 1.2), int(n * 1.2), **kw), np.full((400, int(m * 1.2)), 0.1),
                     method="direct")


def test_batch_refusal_names_a_batch_that_fits(monkeypatch):
    xb = _tile(50, 40)
    need1 = solver.memory_estimate(xb, batch=1)
    monkeypatch.setattr(_factor, "available_memory_bytes", lambda: need1 * 1.5)
    with pytest.raises(SolverError, match=r"solve at most (\d+) inputs at once") as info:
        solver.solve(xb, np.full((100_000, 50), 0.1), method="direct")
    k = int(re.search(r"at most (\d+) inputs", str(info.value)).group(1))
    assert solver.memory_estimate(xb, batch=k) <= need1 * 1.5 < solver.memory_estimate(xb, batch=k + 1)
    assert solver.solve(xb, np.full((k, 50), 0.1), method="direct").i_out.shape == (k, 40)


@pytest.mark.parametrize("method,build", [
    ("direct", lambda xb, w: Factorized(xb, way_out=w)),
    ("ports-factor", lambda xb, w: Factorized(xb, ports_last=True, way_out=w)),
    ("multifrontal", lambda xb, w: _multifrontal.transfer_matrix_grid(xb, way_out=w))])
def test_way_out_is_worked_out_only_when_refusing(method, build, monkeypatch):
    """The method modules call the way out handed to them only when they refuse, and then name
    exactly its text; the entry points hand them rramsim.solver.way_out."""
    xb = _tile(160, 120)
    asked = []

    def spy(tile, m):
        asked.append(m)
        return solver.way_out(tile, m)

    build(xb, spy)  # memory suffices: no search for a way out
    assert asked == []
    need = _memory.estimate(xb, method, 1, "auto")
    monkeypatch.setattr(_factor, "available_memory_bytes", lambda: 0.8 * need)
    with pytest.raises(SolverError, match="needs about") as info:
        build(xb, spy)
    assert asked == [method]
    assert str(info.value).endswith("; " + solver.way_out(xb, method))
    entry = {"direct": lambda: solver.factorize(xb),
             "ports-factor": lambda: solver.transfer_matrix(xb, method="factor"),
             "multifrontal": lambda: solver.transfer_matrix(xb, method="multifrontal")}[method]
    with pytest.raises(SolverError, match="needs about") as info:
        entry()
    assert str(info.value).endswith("; " + solver.way_out(xb, method))
    assert "use a smaller tile or fewer inputs at once" not in str(info.value)  # not the generic hint


def test_every_path_checks_before_it_allocates(monkeypatch):
    """With no memory at all, each entry point refuses (none reaches an allocation)."""
    monkeypatch.setattr(_factor, "available_memory_bytes", lambda: 1.0)
    xb = _tile(20, 30)
    calls = [lambda: solver.solve(xb, np.ones(20)),
             lambda: solver.solve(xb, np.ones((50, 20))),
             lambda: solver.factorize(xb),
             lambda: solver.transfer_matrix(xb, method="factor"),
             lambda: solver.transfer_matrix(xb, method="multifrontal"),
             lambda: solver.port_matrices(xb),
             lambda: solver.solve(xb.replace(sinh_v0=0.3), np.ones((5, 20))),
             lambda: solver.solve(xb.replace(sinh_v0=0.3, r_bitline=0.0), np.ones((5, 20)))]
    for call in calls:
        with pytest.raises(SolverError, match="needs about"):
            call()


def test_estimates_grow_with_the_batch_and_the_tile():
    xb = _tile(64, 64)
    for method in ("direct", "cg", "newton"):
        assert solver.memory_estimate(xb, method=method, batch=10) > \
            solver.memory_estimate(xb, method=method)
    assert solver.memory_estimate(_tile(128, 128), method="transfer") > \
        solver.memory_estimate(xb, method="transfer")
    with pytest.raises(SolverError, match="batch must be >= 1"):
        solver.memory_estimate(xb, batch=0)
    with pytest.raises(SolverError, match="method must be"):
        solver.memory_estimate(xb, method="lu")


PROBE = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from rramsim import solver
    from rramsim.crossbar import Crossbar
    from rramsim.errors import SolverError

    view = np.broadcast_to(np.float64(1e-5), (30000, 30000))  # 8 bytes for 9e8 cells
    if sys.argv[1] == "constructor":
        try:
            xb = Crossbar(view, r_wordline=1.0, r_bitline=1.0)
        except MemoryError:
            print(json.dumps({"built": "constructor ran out of memory"}))
            raise SystemExit(0)
    else:  # the view set on a valid tile's field, as if the constructor kept it
        xb = Crossbar(np.full((1, 1), 1e-5), r_wordline=1.0, r_bitline=1.0)
        object.__setattr__(xb, "conductance", view)

    def peak_mb():  # VmHWM: this process image's peak resident set (ru_maxrss survives exec)
        with open("/proc/self/status") as fh:
            return next(float(x.split()[1]) / 1e3 for x in fh if x.startswith("VmHWM:"))

    rss0 = peak_mb()
    out = {"built": sys.argv[1]}
    t = time.perf_counter()
    out["estimate"] = [solver.memory_estimate(xb, method=m) for m in ("direct", "transfer", "cg")]
    out["estimate_s"] = time.perf_counter() - t
    calls = {"transfer_matrix": lambda: solver.transfer_matrix(xb),
             "transfer_matrix_factor": lambda: solver.transfer_matrix(xb, method="factor"),
             "port_matrices": lambda: solver.port_matrices(xb),
             "solve": lambda: solver.solve(xb, np.full(30000, 0.1)),
             "solve_batch": lambda: solver.solve(xb, np.full((16, 30000), 0.1)),
             "factorize": lambda: solver.factorize(xb),
             "solve_sinh_batch": lambda: solver.solve(xb.replace(sinh_v0=0.25),
                                                      np.full((4, 30000), 0.1))}
    for name, call in calls.items():
        t = time.perf_counter()
        try:
            call()
            out[name] = ["no error", 0.0]
        except SolverError as exc:
            out[name] = [str(exc), time.perf_counter() - t]
    out["rss0_mb"] = rss0
    out["peak_mb"] = peak_mb()
    print(json.dumps(out))
""")


def _probe(how: str) -> dict:
    out = subprocess.run(["bash", "-c", f"ulimit -v 4000000; exec {sys.executable} - {how}"],
                         input=PROBE, capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_30000_tile_under_ulimit_is_refused_at_once():
    """Under ulimit -v 4000000: the estimate returns and every path refuses, in a small process.

    The tile is built by the Crossbar constructor from the zero-stride view; where the constructor
    itself still copies the cells (it then runs out of memory before the solver is reached), the
    view is set on the tile directly, so that the solver's own behaviour is what is measured.
    """
    res = _probe("constructor")
    if res["built"] != "constructor":
        print(res["built"])
        res = _probe("view")
    print(json.dumps(res, indent=1))
    assert all(e > 100e9 for e in res["estimate"])  # hundreds of GB, computed not allocated
    for name in ("transfer_matrix", "transfer_matrix_factor", "port_matrices", "solve",
                 "solve_batch", "factorize", "solve_sinh_batch"):
        msg, seconds = res[name]
        assert "needs about" in msg and "ulimit -v" in msg, (name, msg)
        assert "use tiles of at most" in msg
        assert seconds < 30  # a hang guard only; measured figures are in docs/solver.md
    # peak resident memory of the whole process (Python, NumPy, SciPy, CHOLMOD included)
    assert res["peak_mb"] < 200
