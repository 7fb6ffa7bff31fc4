"""The batched sinh solve (rramsim.solver._batch_sinh) against Newton per input and ngspice.

References: Newton with Schur-complement CG steps (``method="newton-cg"``), one input at a time and
converged to a KCL relative residual of 1e-14 (its default 1e-12 leaves up to ~4e-9 in i_out where
the drivers' conductance dominates the residual's scale); ngspice on odd circuits to 1e-6. The
batched method is asked to agree with that Newton to 1e-9 (measured: about 1e-13).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import rel
from hypothesis import given, settings
from hypothesis import strategies as st

from rramsim import netlists, solver
from rramsim.crossbar import Crossbar, FiniteGainTIA, IdealTIA, SenseResistor
from rramsim.errors import ConvergenceError, SolverError
from rramsim.solver import _batch_sinh, _newton

SENSES = [IdealTIA(), FiniteGainTIA(2e3, 1e3), SenseResistor(400.0)]


def tile(seed, m, n, **kw) -> Crossbar:
    rng = np.random.default_rng(seed)
    g = np.exp(rng.uniform(np.log(1e-6), np.log(1e-4), (m, n)))
    g[rng.random((m, n)) < 0.05] = 0.0  # missing cells
    base = dict(r_wordline=float(rng.uniform(0.5, 4.0)), r_bitline=float(rng.uniform(0.5, 4.0)),
                r_driver=float(rng.uniform(0.0, 30.0)),
                sinh_v0=rng.uniform(0.15, 0.45, (m, n)))  # every cell its own v0
    base.update(kw)
    if isinstance(base.get("r_access"), str):
        base["r_access"] = rng.uniform(500.0, 5e3, (m, n))
    return Crossbar(g, **base)


def converged_newton(xb, v1):
    """Today's Newton for one input, converged to a KCL relative residual of 1e-14 (1e-13 where
    rounding stops it short of that)."""
    old = _newton.RTOL
    try:
        for tol in (1e-14, 1e-13):
            _newton.RTOL = tol
            try:
                return solver.solve(xb, v1, method="newton-cg")
            except ConvergenceError:
                continue
    finally:
        _newton.RTOL = old
    raise AssertionError("the reference Newton did not converge")


def newton_per_input(xb, v):
    return [converged_newton(xb, v[b]) for b in range(v.shape[0])]


@pytest.mark.parametrize("drive,sense,r_access",
                         list(itertools.product(["left", "both"], SENSES, [None, "random"])))
def test_batch_equals_newton_per_input(drive, sense, r_access):
    xb = tile(3, 13, 17, drive=drive, sense=sense, r_access=r_access)
    v = np.random.default_rng(4).uniform(-0.3, 0.3, (7, 13))
    got = solver.solve(xb, v, method="newton-batch")
    assert got.backend == "batched-sinh"
    for b, one in enumerate(newton_per_input(xb, v)):
        assert rel(got.i_out[b], one.i_out) <= 1e-9
        assert rel(got.i_in[b], one.i_in) <= 1e-9
        for name in ("v_wordline", "v_bitline", "v_sense"):
            np.testing.assert_allclose(getattr(got, name)[b], getattr(one, name), rtol=0, atol=1e-11)


@settings(max_examples=12, deadline=None)
@given(m=st.integers(1, 12), n=st.integers(1, 12), bsz=st.integers(1, 6), seed=st.integers(0, 99),
       vmax=st.sampled_from([0.05, 0.2, 0.4]), both=st.booleans(), sense=st.sampled_from(SENSES))
def test_property_random_tiles_and_batches(m, n, bsz, seed, vmax, both, sense):
    xb = tile(seed, m, n, drive="both" if both else "left", sense=sense)
    v = np.random.default_rng(seed + 1).uniform(-vmax, vmax, (bsz, m))
    got = _batch_sinh.solve_batch(xb, v, True)
    for b, one in enumerate(newton_per_input(xb, v)):
        assert np.max(np.abs(got.i_out[b] - one.i_out)) <= 1e-9 * max(np.abs(one.i_out).max(), 1e-30)


def test_chunks_fill_every_row(monkeypatch):
    xb = tile(5, 9, 8, sense=SENSES[2])
    v = np.random.default_rng(6).uniform(-0.2, 0.3, (11, 9))
    whole = _batch_sinh.solve_batch(xb, v, True)
    monkeypatch.setattr(_batch_sinh, "CHUNK_ENTRIES", 9 * 8 * 3)  # chunks of 3 inputs
    parts = _batch_sinh.solve_batch(xb, v, True)
    for name in ("i_out", "i_in", "v_wordline", "v_bitline", "v_sense"):
        assert rel(getattr(parts, name), getattr(whole, name)) <= 1e-13, name


def test_repeated_and_zero_inputs_are_solved_once(monkeypatch):
    xb = tile(7, 10, 6)
    rng = np.random.default_rng(8)
    base = rng.uniform(0.0, 0.25, (3, 10))
    v = np.concatenate([base, np.zeros((2, 10)), base[::-1], base[:1]])  # 9 inputs, 4 distinct
    seen = []
    real = _batch_sinh.solve_batch
    monkeypatch.setattr(_batch_sinh, "solve_batch",
                        lambda xb_, vv, batched: seen.append(vv.shape[0]) or real(xb_, vv, batched))
    got = solver.solve(xb, v)
    assert seen == [4]
    ref = real(xb, v, True)
    for name in ("i_out", "i_in", "v_wordline", "v_bitline", "v_sense"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-12, atol=1e-18)
    assert np.all(got.i_out[3:5] == 0.0) and np.all(got.v_bitline[3:5] == 0.0)


def test_odd_symmetry_and_linear_limit():
    """sinh cells are odd: -v gives the negated solution; a huge v0 gives the linear tile."""
    xb = tile(9, 8, 7, drive="both", sense=SENSES[1], r_access="random")
    v = np.random.default_rng(10).uniform(0.0, 0.3, (4, 8))
    pos = _batch_sinh.solve_batch(xb, v, True)
    neg = _batch_sinh.solve_batch(xb, -v, True)
    assert rel(neg.i_out, -pos.i_out) <= 1e-12
    lin = solver.solve(xb.replace(sinh_v0=None), v, method="direct")
    big = _batch_sinh.solve_batch(xb.replace(sinh_v0=1e4), v, True)
    assert rel(big.i_out, lin.i_out) <= 1e-8  # deviation ~ (V / v0)^2 / 6 < 1e-9


def test_needs_a_sinh_grid_tile():
    xb = tile(11, 4, 4, r_wordline=0.0)
    with pytest.raises(SolverError, match="r_wordline > 0"):
        solver.solve(xb, np.full((3, 4), 0.1), method="newton-batch")
    with pytest.raises(SolverError, match="sinh tiles"):
        solver.solve(xb.replace(sinh_v0=None, r_wordline=1.0), np.full((3, 4), 0.1),
                     method="newton-batch")


# ---------------------------------------------------------------------- ngspice, odd circuits
ODD = {
    "both-ends drive": dict(drive="both"),
    "driver resistance": dict(r_driver=150.0),
    "1T1R": dict(r_access="random"),
    "finite-gain TIA": dict(sense=FiniteGainTIA(5e3, 300.0)),
    "sense resistor": dict(sense=SenseResistor(2e3)),
}


#: Tiles for v0 = 0.05 V at 0.3 V (|V / v0| up to 6, currents 30x the linear ones): ngspice's own
#: operating-point search fails ("timestep too small") on some random tiles there, so each circuit
#: uses a seed on which ngspice converges (the solver converges on all of them).
SEED_V0_005 = {"both-ends drive": 14, "driver resistance": 12, "1T1R": 14, "finite-gain TIA": 12,
               "sense resistor": 12}


@pytest.mark.ngspice
@pytest.mark.parametrize("circuit", list(ODD))
@pytest.mark.parametrize("v0,vmax", [(0.05, 0.3), (0.1, 0.3), (0.25, 0.3), (0.43, 0.2)])
def test_odd_sinh_circuits_match_ngspice(circuit, v0, vmax):
    seed = SEED_V0_005[circuit] if v0 == 0.05 else (14 if circuit == "driver resistance" else 12)
    xb = tile(seed, 7, 6, sinh_v0=v0, **ODD[circuit])
    v = np.random.default_rng(13).uniform(-vmax, vmax, (3, 7))
    v[0] = vmax  # the full read voltage on every row
    ref = netlists.simulate(xb, v)
    for method in ("auto", "newton-batch"):
        s = solver.solve(xb, v, method=method)
        assert rel(s.i_out, ref.i_out) <= 1e-6, (method, rel(s.i_out, ref.i_out))
        assert rel(s.i_in, ref.i_in) <= 1e-6
        np.testing.assert_allclose(s.v_bitline, ref.v_bitline, rtol=0, atol=1e-9)


def test_auto_falls_back_to_newton_per_input(monkeypatch, caplog):
    """Where the batched method does not converge, ``auto`` takes the per-input Newton."""
    xb = tile(15, 8, 9)
    v = np.random.default_rng(16).uniform(0.0, 0.3, (4, 8))
    ref = solver.solve(xb, v, method="newton-cg")
    monkeypatch.setattr(_batch_sinh, "MAX_CG", 1)
    with pytest.raises(ConvergenceError, match="CG did not converge"):
        solver.solve(xb, v, method="newton-batch")
    with caplog.at_level("INFO", logger="rramsim.solver"):
        got = solver.solve(xb, v)
    assert got.backend == "schur-cg+newton" and "did not converge" in caplog.text
    assert np.array_equal(got.i_out, ref.i_out)
