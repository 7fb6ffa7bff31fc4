"""The fast nodal solver: analytic cases, the independent dense reference (tests/helpers.py), properties
and errors.

Tolerances: the solver stops at relative residual 1e-12, so currents agree with closed forms and with
the dense reference (LAPACK on the full MNA system, 0-ohm elements merged) to ~1e-12 relative; tests
use 1e-10 (1e-12 in the zero-wire limit).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import dense_mna, rel
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from rramsim import solver
from rramsim.crossbar import Crossbar, FiniteGainTIA, IdealTIA, SenseResistor
from rramsim.errors import ConvergenceError, CrossbarError, SolverError
from rramsim.solver import _factor, _newton, _nodal
from rramsim.solver._ordering import nested_dissection

SENSES = [IdealTIA(2e3), FiniteGainTIA(1e3, 100.0), SenseResistor(500.0)]
BACKENDS = list(solver.available_backends())


def _random_tile(rng, m, n, **kw) -> Crossbar:
    g = rng.uniform(0.1e-6, 100e-6, (m, n))
    return Crossbar(g, **kw)


# ---------------------------------------------------------------------- analytic cases
@pytest.mark.parametrize("drive", ["left", "both"])
@pytest.mark.parametrize("sense", SENSES)
@pytest.mark.parametrize("r_access", [None, 3e3])
def test_one_by_one_is_a_series_circuit(drive, sense, r_access):
    """1 x 1 tile: V / (R_drive_path + 1/G [+ r_a] + r_b + R_sense), R_sense = R_f/(1+A) or R or 0."""
    g, rw, rb, rd, v = 40e-6, 2.0, 3.0, 7.0, 0.25
    xb = Crossbar(np.array([[g]]), r_wordline=rw, r_bitline=rb, r_driver=rd, drive=drive,
                  sense=sense, r_access=r_access)
    r_path = (rd + rw) / (2 if drive == "both" else 1)
    r_sense = {IdealTIA: 0.0, SenseResistor: getattr(sense, "resistance", 0.0),
               FiniteGainTIA: getattr(sense, "r_feedback", 0.0)
               / (1 + getattr(sense, "open_loop_gain", 0.0))}[type(sense)]
    r_cell = 1 / g + (r_access or 0.0)
    i = v / (r_path + r_cell + rb + r_sense)
    for method in ("cg", "direct"):
        s = solver.solve(xb, [v], method=method)
        assert s.i_out[0] == pytest.approx(i, rel=1e-12)
        assert s.i_in[0] == pytest.approx(i, rel=1e-12)
        assert s.v_wordline[0, 0] == pytest.approx(v - i * r_path, rel=1e-12)
        assert s.v_bitline[0, 0] == pytest.approx(i * (rb + r_sense), rel=1e-12)
        assert s.v_sense[0] == pytest.approx(i * r_sense, rel=1e-12, abs=1e-300)
        if isinstance(sense, IdealTIA):
            assert s.v_tia[0] == pytest.approx(-sense.r_feedback * i, rel=1e-12)
        elif isinstance(sense, FiniteGainTIA):
            a = sense.open_loop_gain
            assert s.v_tia[0] == pytest.approx(-a * sense.r_feedback * i / (1 + a), rel=1e-12)
        else:
            assert s.v_tia is None


def test_two_by_two_rows_decouple_with_grounded_bit_lines():
    """r_bitline = 0 with an ideal TIA grounds every bit line: each row is a ladder, solved by hand.

    Row: source -R- n0 -R- n1, cells G0 at n0 and G1 at n1 to ground.
    n1 = n0 / (1 + R G1); KCL at n0 gives n0 = V / (1 + R G0 + R G1 / (1 + R G1)).
    """
    r = 5.0
    g = np.array([[20e-3, 50e-3], [1e-3, 80e-3]])  # large G so the IR drop is visible
    v = np.array([0.3, -0.2])
    xb = Crossbar(g, r_wordline=r, r_bitline=0.0)
    n0 = v / (1 + r * g[:, 0] + r * g[:, 1] / (1 + r * g[:, 1]))
    n1 = n0 / (1 + r * g[:, 1])
    i_out = np.array([g[:, 0] @ n0, g[:, 1] @ n1])
    s = solver.solve(xb, v)
    np.testing.assert_allclose(s.v_wordline, np.stack([n0, n1], axis=1), rtol=1e-13)
    np.testing.assert_allclose(s.i_out, i_out, rtol=1e-13)
    np.testing.assert_allclose(solver.transfer_matrix(xb).T @ v, i_out, rtol=1e-13)
    np.testing.assert_array_equal(s.v_bitline, 0.0)


def test_two_by_two_columns_decouple_with_ideal_word_lines():
    """r_wordline = r_driver = 0: word lines sit at V_i; each bit line is a two-node ladder.

    Column: cells G0 (row 0, top) and G1 from V0, V1; b0 -R- b1 -R- ground (ideal TIA).
    KCL: G0 (V0 - b0) = (b0 - b1)/R; G1 (V1 - b1) + (b0 - b1)/R = b1/R; solved as a 2 x 2 system.
    """
    r = 4.0
    g = np.array([[30e-3, 5e-3], [60e-3, 90e-3]])
    v = np.array([0.2, 0.1])
    xb = Crossbar(g, r_wordline=0.0, r_bitline=r)
    s = solver.solve(xb, v)
    for j in range(2):
        a = np.array([[g[0, j] + 1 / r, -1 / r], [-1 / r, g[1, j] + 2 / r]])
        b0, b1 = np.linalg.solve(a, [g[0, j] * v[0], g[1, j] * v[1]])
        assert s.v_bitline[0, j] == pytest.approx(b0, rel=1e-13)
        assert s.i_out[j] == pytest.approx(b1 / r, rel=1e-12)
    np.testing.assert_array_equal(s.v_wordline, np.repeat(v[:, None], 2, axis=1))


def test_zero_wire_limit_is_the_ideal_product(rng):
    """All wire and driver resistances 0, ideal TIA: i_out = v @ G exactly (to 1e-12)."""
    xb = _random_tile(rng, 17, 11)
    v = rng.uniform(-0.3, 0.3, (5, 17))
    s = solver.solve(xb, v)
    assert rel(s.i_out, v @ xb.conductance) <= 1e-12
    assert rel(solver.transfer_matrix(xb), xb.conductance) <= 1e-12
    xa = xb.replace(r_access=2e3)
    assert rel(solver.solve(xa, v).i_out, v @ xa.effective_conductance()) <= 1e-12


# ---------------------------------------------------------------------- dense reference, all options
@pytest.mark.parametrize(
    "rw,rb,rd,drive,sense,ra",
    list(itertools.product([0.0, 2.0], [0.0, 0.7], [0.0, 5.0], ["left", "both"], SENSES,
                           [None, 2e3])))
def test_every_option_matches_dense_mna(rw, rb, rd, drive, sense, ra, rng):
    g = rng.uniform(0.1e-6, 100e-6, (5, 4))
    g[1, 2] = 0.0  # a missing cell
    xb = Crossbar(g, r_wordline=rw, r_bitline=rb, r_driver=rd, drive=drive, sense=sense,
                  r_access=ra)
    v = rng.uniform(-0.2, 0.3, (2, 5))
    for method in ("auto", "direct"):
        s = solver.solve(xb, v, method=method)
        for b in range(2):
            i_out, vw, vb, vs, i_in = dense_mna(xb, v[b])
            assert rel(s.i_out[b], i_out) <= 1e-10
            assert rel(s.i_in[b], i_in) <= 1e-10
            np.testing.assert_allclose(s.v_wordline[b], vw, rtol=0, atol=1e-12)
            np.testing.assert_allclose(s.v_bitline[b], vb, rtol=0, atol=1e-12)
            np.testing.assert_allclose(s.v_sense[b], vs, rtol=0, atol=1e-12)
    t = solver.transfer_matrix(xb)
    assert rel(v @ t, s.i_out) <= 1e-10


@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_agree(backend, rng):
    xb = _random_tile(rng, 20, 13, r_wordline=1.5, r_bitline=0.4, r_driver=2.0, drive="both",
                      sense=SenseResistor(200.0))
    v = rng.uniform(0, 0.2, (3, 20))
    s = solver.solve(xb, v, method="direct", backend=backend)
    assert s.backend == backend
    ref = solver.solve(xb, v, method="cg")
    assert ref.backend == "schur-cg"
    assert rel(s.i_out, ref.i_out) <= 1e-11
    t = solver.transfer_matrix(xb, backend=backend)
    assert rel(v @ t, ref.i_out) <= 1e-11


# ---------------------------------------------------------------------- properties
def kcl_residual(xb: Crossbar, s, v: np.ndarray) -> float:
    """Largest current imbalance at any node, from the Solution's fields alone (grid tiles)."""
    m, n = xb.shape
    vw, vb, vs = s.v_wordline, s.v_bitline, s.v_sense
    gw, gb = 1 / xb.r_wordline, 1 / xb.r_bitline
    gd = 1 / (xb.r_driver + xb.r_wordline)
    cell = xb.effective_conductance() * (vw - vb)
    # word lines: current arriving from the left minus leaving to the right and into the cell
    left = np.empty((m, n))
    left[:, 0] = gd * (v - vw[:, 0])
    left[:, 1:] = gw * (vw[:, :-1] - vw[:, 1:])
    right = np.zeros((m, n))
    right[:, :-1] = left[:, 1:]
    if xb.drive == "both":
        right[:, -1] = gd * (vw[:, -1] - v)
    res_w = left - right - cell
    # bit lines: from above plus from the cell minus to below
    below = np.empty((m, n))
    below[:-1] = gb * (vb[:-1] - vb[1:])
    below[-1] = gb * (vb[-1] - vs)
    above = np.zeros((m, n))
    above[1:] = below[:-1]
    res_b = above + cell - below
    # sense node and outputs
    res_s = below[-1] - s.i_out
    if isinstance(xb.sense, SenseResistor):
        res_s = np.maximum(np.abs(res_s), np.abs(s.i_out - vs / xb.sense.resistance))
    elif isinstance(xb.sense, FiniteGainTIA):
        vo = -xb.sense.open_loop_gain * vs
        res_s = np.maximum(np.abs(res_s), np.abs(s.i_out - (vs - vo) / xb.sense.r_feedback))
        res_s = np.maximum(res_s, np.abs(s.v_tia - vo) / xb.sense.r_feedback)
    i_src = left[:, 0] + (-right[:, -1] if xb.drive == "both" else 0.0)
    res_in = i_src - s.i_in
    scale = np.abs(s.i_out).max()
    return max(np.abs(r).max() for r in (res_w, res_b, res_s, res_in)) / scale


@pytest.mark.parametrize("method", ["cg", "direct"])
@pytest.mark.parametrize("sense", SENSES)
@pytest.mark.parametrize("drive", ["left", "both"])
def test_kcl_residual(method, sense, drive, rng):
    xb = _random_tile(rng, 24, 31, r_wordline=0.1, r_bitline=10.0, r_driver=1.0, drive=drive,
                      sense=sense, r_access=rng.uniform(500, 2e3, (24, 31)))
    v = rng.uniform(-0.2, 0.2, 24)
    s = solver.solve(xb, v, method=method)
    # Floor: a 0.1-ohm segment carries 10 S x (rounding of 0.2 V node voltages) ~ 1e-15 A of
    # arithmetic noise per term against i_out ~ 3e-5 A; measured 6e-11..2.2e-10, also after
    # iterative refinement (the nodal relative residual is then 1.3e-14).
    assert kcl_residual(xb, s, v) <= 1e-9


@settings(max_examples=15, deadline=None)
@given(m=st.integers(1, 12), n=st.integers(1, 12), seed=st.integers(0, 2**32 - 1),
       rw=st.sampled_from([0.0, 0.1, 1.0, 10.0]), rb=st.sampled_from([0.0, 0.1, 1.0, 10.0]),
       both=st.booleans(), sense=st.sampled_from(SENSES))
def test_superposition_and_transfer_matrix_columns(m, n, seed, rw, rb, both, sense):
    """solve is linear in v; transfer_matrix row i equals the solve for a unit input on row i."""
    rng = np.random.default_rng(seed)
    xb = _random_tile(rng, m, n, r_wordline=rw, r_bitline=rb, r_driver=0.5,
                      drive="both" if both else "left", sense=sense)
    v1, v2 = rng.uniform(-0.3, 0.3, (2, m))
    s1, s2, s12 = (solver.solve(xb, v) for v in (v1, v2, 2.0 * v1 - 3.0 * v2))
    scale = max(np.abs(s1.i_out).max(), np.abs(s2.i_out).max())
    assert np.abs(s12.i_out - (2 * s1.i_out - 3 * s2.i_out)).max() <= 1e-11 * scale
    np.testing.assert_allclose(s12.v_wordline, 2 * s1.v_wordline - 3 * s2.v_wordline,
                               rtol=0, atol=1e-12)
    t = solver.transfer_matrix(xb)
    cols = solver.solve(xb, np.eye(m), method="direct").i_out
    assert np.abs(t - cols).max() <= 1e-11 * np.abs(cols).max()


def test_batch_equals_single_inputs(rng):
    xb = _random_tile(rng, 16, 9, r_wordline=1.0, r_bitline=1.0, sense=FiniteGainTIA())
    v = rng.uniform(0, 0.2, (20, 16))  # > CG_MAX_BATCH: direct
    batch = solver.solve(xb, v)
    assert batch.i_out.shape == (20, 9) and batch.v_wordline.shape == (20, 16, 9)
    for b in (0, 7, 19):
        one = solver.solve(xb, v[b])
        assert rel(batch.i_out[b], one.i_out) <= 1e-11
        assert one.i_out.shape == (9,) and one.v_tia.shape == (9,)


def test_chunked_batch_fills_every_row(rng, monkeypatch):
    from rramsim.solver import _direct

    monkeypatch.setattr(_direct, "CHUNK_BYTES", 1.0)  # one input per chunk
    xb = _random_tile(rng, 6, 5, r_wordline=1.0, r_bitline=1.0)
    v = rng.uniform(0, 0.2, (4, 6))
    s = solver.factorize(xb).solve(v)
    assert rel(s.i_out, v @ solver.transfer_matrix(xb)) <= 1e-11


def test_cg_and_direct_agree_on_a_larger_tile(rng):
    xb = _random_tile(rng, 96, 80, r_wordline=2.0, r_bitline=3.0, r_driver=1.0,
                      sense=SenseResistor(100.0))
    v = rng.uniform(0, 0.2, 96)
    a = solver.solve(xb, v, method="cg")
    b = solver.solve(xb, v, method="direct")
    assert rel(a.i_out, b.i_out) <= 1e-10
    assert rel(a.v_bitline, b.v_bitline) <= 1e-10


def test_does_not_modify_inputs(rng):
    g = rng.uniform(1e-6, 1e-4, (4, 3))
    v = rng.uniform(0, 0.2, (2, 4))
    v_copy = v.copy()
    xb = Crossbar(g, r_wordline=1.0, r_bitline=1.0)
    solver.solve(xb, v)
    solver.solve(xb, v, method="direct")
    np.testing.assert_array_equal(v, v_copy)


# ---------------------------------------------------------------------- ordering
@pytest.mark.parametrize("m,n", [(1, 1), (1, 7), (9, 1), (13, 29), (64, 64)])
def test_nested_dissection_is_a_permutation(m, n):
    order = nested_dissection(m, n)
    np.testing.assert_array_equal(np.sort(order), np.arange(2 * m * n))


def test_nested_dissection_separator_comes_last():
    """The top-level separator of a 7 x 15 grid is the word-line nodes of the middle column."""
    m, n = 7, 15
    order = nested_dissection(m, n)
    last = np.sort(order[-m:])
    np.testing.assert_array_equal(last, np.arange(m) * n + n // 2)


# ---------------------------------------------------------------------- non-linear cells
@pytest.mark.parametrize("r_access", [None, 4e3])
def test_sinh_one_by_one_against_scalar_root(r_access):
    """1 x 1 sinh cell in series with R: I = G v0 sinh((V - I (R + r_a)) / v0), solved by brentq."""
    g, v0, v = 50e-6, 0.25, 0.8
    xb = Crossbar(np.array([[g]]), r_wordline=20.0, r_bitline=30.0, r_driver=50.0,
                  sense=SenseResistor(1e3), sinh_v0=v0, r_access=r_access)
    r = 20.0 + 30.0 + 50.0 + 1e3 + (r_access or 0.0)
    i = brentq(lambda i: i - g * v0 * np.sinh((v - i * r) / v0), 0, v / r, xtol=1e-30, rtol=1e-15)
    s = solver.solve(xb, [v])
    assert s.i_out[0] == pytest.approx(i, rel=1e-12)
    assert s.backend.endswith("newton")


def test_cell_iv_is_odd_and_matches_the_linear_slope():
    rng = np.random.default_rng(3)
    g = rng.uniform(1e-6, 1e-4, (3, 4))
    v0 = rng.uniform(0.1, 0.5, (3, 4))
    ra = rng.uniform(100, 1e4, (3, 4))
    v = rng.uniform(-1, 1, (2, 3, 4))
    for r_a in (None, ra):
        i_p, gd_p = _newton.cell_iv(v, g, v0, r_a)
        i_m, gd_m = _newton.cell_iv(-v, g, v0, r_a)
        if r_a is None:  # sinh/cosh at u and -u: two calls of the platform's libm or SIMD
            # code, odd / even to rounding but not promised to the bit
            np.testing.assert_allclose(i_p, -i_m, rtol=1e-15, atol=0)
            np.testing.assert_allclose(gd_p, gd_m, rtol=1e-15, atol=0)
        else:  # with r_a the same computation runs on |v| and the sign is copied: exact
            np.testing.assert_array_equal(i_p, -i_m)
            np.testing.assert_array_equal(gd_p, gd_m)
        i0, gd0 = _newton.cell_iv(np.zeros((1, 3, 4)), g, v0, r_a)
        np.testing.assert_array_equal(i0, 0.0)
        lin = g if r_a is None else g / (1 + g * r_a)
        np.testing.assert_allclose(gd0[0], lin, rtol=1e-14)
        # g_d is the derivative of i
        h = 1e-6
        num = (_newton.cell_iv(v + h, g, v0, r_a)[0] - _newton.cell_iv(v - h, g, v0, r_a)[0]) / (2 * h)
        np.testing.assert_allclose(gd_p, num, rtol=1e-6)


def test_newton_krylov_batch_equals_full_newton(rng):
    g = rng.uniform(1e-6, 1e-4, (12, 10))
    xb = Crossbar(g, r_wordline=2.0, r_bitline=2.0, r_driver=1.0, sinh_v0=0.2,
                  r_access=rng.uniform(1e3, 3e3, (12, 10)), sense=FiniteGainTIA())
    v = rng.uniform(0, 0.8, (6, 12))
    batch = solver.solve(xb, v, method="newton-krylov")
    assert batch.backend.endswith("newton-krylov")
    grid = solver.solve(xb, v, method="newton-cg")
    assert grid.backend == "schur-cg+newton"
    assert solver.solve(xb, v).backend == "batched-sinh"  # auto: a batch on a small grid tile
    assert solver.solve(xb, v[0]).backend == "schur-cg+newton"  # auto: one input
    assert rel(grid.i_out, batch.i_out) <= 1e-10
    assert rel(grid.v_bitline, batch.v_bitline) <= 1e-9
    for b in (0, 5):
        one = solver.solve(xb, v[b], method="newton")
        assert one.backend.endswith("+newton")
        assert rel(batch.i_out[b], one.i_out) <= 1e-10


def test_sinh_grid_batches_use_newton_cg_in_bounded_chunks(rng, monkeypatch):
    """Any batch on a sinh grid tile: Newton with CG steps; chunked, every row equals Newton-Krylov."""
    from rramsim.solver import _direct

    xb = Crossbar(rng.uniform(1e-6, 1e-4, (9, 11)), r_wordline=1.0, r_bitline=3.0, sinh_v0=0.25,
                  drive="both", sense=SenseResistor(300.0))
    v = rng.uniform(0, 0.6, (solver.CG_MAX_BATCH + 5, 9))
    ref = solver.solve(xb, v, method="newton-krylov")
    monkeypatch.setattr(_direct, "CHUNK_BYTES", 8.0 * 16 * 2 * 9 * 11 * 4)  # chunks of 4 inputs
    got = solver.solve(xb, v, method="newton-cg")
    assert got.backend == "schur-cg+newton" and got.i_out.shape == (v.shape[0], 11)
    assert rel(got.i_out, ref.i_out) <= 1e-10
    assert rel(got.v_wordline, ref.v_wordline) <= 1e-9
    assert rel(got.i_in, ref.i_in) <= 1e-10


def test_line_search_trial_isolates_an_overflowing_input(rng):
    """A trial point whose sinh currents overflow fails for that input only (NaN norm)."""
    from rramsim.solver._cg import GridSchur

    xb = Crossbar(rng.uniform(1e-6, 1e-4, (5, 4)), r_wordline=1.0, r_bitline=1.0, sinh_v0=0.1)
    gs0 = GridSchur(xb, xb.effective_conductance())
    v = rng.uniform(0, 0.2, (3, 5))
    xw, xbl, _ = gs0.solve(v)
    xw[1] += 500.0  # sinh(5000) overflows
    out, nrm = _newton._trial(gs0.stamps, xb, xw, xbl, v)
    assert np.isnan(nrm[1]) and np.all(np.isfinite(nrm[[0, 2]]))
    for b in (0, 2):
        one, n1 = _newton._trial(gs0.stamps, xb, xw[b:b + 1], xbl[b:b + 1], v[b:b + 1])
        assert n1[0] == nrm[b]
        np.testing.assert_array_equal(one[0][0], out[0][b])
    with pytest.raises(ConvergenceError, match="overflows"):
        _newton._grid_residual(gs0.stamps, xb, xw, xbl, v)


def test_sinh_tile_tends_to_linear_for_large_v0(rng):
    xb = _random_tile(rng, 8, 6, r_wordline=1.0, r_bitline=1.0)
    v = rng.uniform(0, 0.2, 8)
    lin = solver.solve(xb, v)
    nl = solver.solve(xb.replace(sinh_v0=1e4), v)
    assert rel(nl.i_out, lin.i_out) <= 1e-9


@pytest.mark.parametrize("method", ["newton", "newton-cg"])
def test_newton_reports_non_convergence(rng, monkeypatch, method):
    xb = _random_tile(rng, 6, 6, r_wordline=1.0, r_bitline=1.0, sinh_v0=0.1)
    monkeypatch.setattr(_newton, "MAX_NEWTON", 1)
    with pytest.raises(ConvergenceError, match="Newton did not converge"):
        solver.solve(xb, np.full(6, 0.9), method=method)


def test_sinh_overflow_is_a_convergence_error(rng):
    xb = _random_tile(rng, 3, 3, sinh_v0=1e-3)
    with pytest.raises(ConvergenceError, match="overflows"):
        solver.solve(xb, np.full(3, 5.0))


# ---------------------------------------------------------------------- errors
def test_floating_node_is_named():
    xb = Crossbar(np.full((3, 4), 1e-5), r_wordline=1.0, r_bitline=1.0)
    net = _nodal.build_network(xb)
    a, b, g = net.g_wire_edges
    g = g.copy()
    # cut every wire of word line 1 except nothing: WL(1, *) then hangs on its cells only
    row1 = np.isin(a, net.wl[1]) | np.isin(b, net.wl[1])
    g[row1] = 0.0
    net.g_wire_edges = (a, b, g)
    with pytest.raises(SolverError, match=r"floating node wl_1_\d"):
        _nodal.check_connected(net)  # cells not counted: a word line alone floats
    _nodal.check_connected(net, np.full((3, 4), 1e-5))  # through its cells it is connected


def test_overflowing_conductance_is_an_error_not_nan():
    xb = Crossbar(np.full((2, 2), 1e-5), r_wordline=1e-320, r_bitline=1.0)
    with pytest.raises(SolverError, match="r_wordline"):
        solver.solve(xb, [0.1, 0.1])


def test_not_positive_definite_names_a_node(rng, monkeypatch):
    """A factorisation breakdown is reported with the node's name, never as NaN results."""
    xb = _random_tile(rng, 3, 3, r_wordline=1.0, r_bitline=1.0)

    def broken(lower, backend):
        raise _factor.NotPositiveDefinite(4)

    monkeypatch.setattr(_factor, "factorize", broken)
    with pytest.raises(SolverError, match=r"at node (wl|bl)_\d_\d"):
        solver.solve(xb, np.ones(3), method="direct")


@pytest.mark.parametrize("backend", BACKENDS)
def test_indefinite_matrix_reports_its_column(backend):
    import scipy.sparse as sp

    lower = sp.csc_array(np.tril(np.array([[2.0, 0, 0], [-1.0, 2.0, 0], [0, -1.0, -3.0]])))
    with pytest.raises(_factor.NotPositiveDefinite) as info:
        _factor.factorize(lower, backend)
    assert info.value.column == 2


def test_memory_refusal_says_how_much(rng, monkeypatch):
    xb = _random_tile(rng, 8, 8, r_wordline=1.0, r_bitline=1.0)
    monkeypatch.setattr(_factor, "available_memory_bytes", lambda: 1000)
    with pytest.raises(SolverError, match=r"needs about [\d.]+ GB"):
        solver.solve(xb, np.ones(8), method="direct")
    with pytest.raises(SolverError, match=r"needs about"):
        solver.solve(xb, np.ones(8), method="cg")


def test_memory_estimate_for_1024_fits_24_gb():
    xb = Crossbar(np.full((1024, 1024), 1e-5), r_wordline=1.0, r_bitline=1.0)
    need = solver.memory_estimate(xb)
    assert 0.5e9 < need < 12e9
    # the multifrontal transfer matrix keeps no factor: less than a factorisation (measured 0.74 GB)
    assert 0.3e9 < solver.memory_estimate(xb, method="transfer") < need
    assert solver.memory_estimate(xb, method="cg") < 1e9
    assert solver.memory_estimate(xb, batch=1000) > 1000 * 2 * 1024 * 1024 * 8


def test_bad_arguments():
    xb = Crossbar(np.full((2, 3), 1e-5), r_wordline=1.0, r_bitline=1.0)
    with pytest.raises(CrossbarError, match="width 3"):
        solver.solve(xb, np.ones(3))
    with pytest.raises(CrossbarError, match="not finite"):
        solver.solve(xb, [np.nan, 0.0])
    with pytest.raises(SolverError, match="method"):
        solver.solve(xb, [0.1, 0.1], method="gauss")
    with pytest.raises(SolverError, match="backend"):
        solver.solve(xb, [0.1, 0.1], method="direct", backend="mkl")
    with pytest.raises(SolverError, match="linear tile"):
        solver.transfer_matrix(xb.replace(sinh_v0=0.25))
    with pytest.raises(SolverError, match="sinh"):
        solver.solve(xb, [0.1, 0.1], method="newton")
    with pytest.raises(SolverError, match="r_wordline > 0"):
        solver.solve(xb.replace(r_wordline=0.0, sinh_v0=0.2), [0.1, 0.1], method="newton-cg")
    with pytest.raises(SolverError, match="r_bitline > 0"):
        solver.solve(xb.replace(r_bitline=0.0), [0.1, 0.1], method="cg")
    with pytest.raises(CrossbarError, match="Crossbar"):
        solver.solve(np.ones((2, 2)), [0.1, 0.1])


def test_superlu_fallback_is_logged(rng, monkeypatch, caplog):
    monkeypatch.setattr(_factor, "_cholmod", None)
    monkeypatch.setattr(_factor, "_announced", False)
    xb = _random_tile(rng, 5, 4, r_wordline=1.0, r_bitline=1.0)
    with caplog.at_level("INFO", logger="rramsim.solver"):
        s = solver.solve(xb, np.ones((20, 5)) * 0.1)
    assert s.backend == "superlu"
    assert "SuperLU" in caplog.text
