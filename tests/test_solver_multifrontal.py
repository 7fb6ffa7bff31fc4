"""The multifrontal transfer matrix (rramsim.solver._multifrontal) against independent references.

References: the dense MNA system of tests/helpers.py (LAPACK on every element stamped by hand),
column-by-column solves, and the ports-last sparse factorisation. The multifrontal method is exact
(direct elimination), so agreement is at rounding level: measured <= 2e-12 relative against the
factorisation on tiles up to 33 x 20 over every option; the tests allow 1e-10.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
from helpers import dense_mna, rel
from hypothesis import given, settings
from hypothesis import strategies as st

from rramsim import solver
from rramsim.crossbar import Crossbar, FiniteGainTIA, IdealTIA, SenseResistor
from rramsim.errors import SolverError
from rramsim.solver import _factor, _multifrontal

SENSES = [IdealTIA(2e3), FiniteGainTIA(1e3, 100.0), SenseResistor(500.0)]


def tile(rng, m, n, **kw) -> Crossbar:
    g = rng.uniform(0.1e-6, 100e-6, (m, n))
    g[rng.random((m, n)) < 0.1] = 0.0  # missing cells
    base = dict(r_wordline=float(rng.uniform(0.1, 10.0)), r_bitline=float(rng.uniform(0.1, 10.0)),
                r_driver=float(rng.uniform(0.0, 20.0)))
    base.update(kw)
    return Crossbar(g, **base)


@pytest.mark.parametrize("drive,sense,r_access",
                         list(itertools.product(["left", "both"], SENSES, [None, 2e3])))
@pytest.mark.parametrize("m,n", [(1, 1), (1, 6), (6, 1), (2, 2), (3, 2), (2, 3), (5, 4)])
def test_small_tiles_match_dense_mna(m, n, drive, sense, r_access, rng):
    xb = tile(rng, m, n, drive=drive, sense=sense, r_access=r_access)
    t = solver.transfer_matrix(xb, method="multifrontal")
    assert t.shape == (m, n)
    for i in range(m):
        i_out = dense_mna(xb, np.eye(m)[i])[0]
        np.testing.assert_allclose(t[i], i_out, rtol=0, atol=1e-10 * max(np.abs(i_out).max(), 1e-9))


@pytest.mark.parametrize("drive,sense,r_access",
                         list(itertools.product(["left", "both"], SENSES, [None, "random"])))
@pytest.mark.parametrize("m,n", [(17, 40), (40, 17), (33, 33), (64, 9)])
def test_agrees_with_the_factorisation_and_column_solves(m, n, drive, sense, r_access, rng):
    ra = rng.uniform(500.0, 5e3, (m, n)) if r_access == "random" else r_access
    xb = tile(rng, m, n, drive=drive, sense=sense, r_access=ra)
    t = solver.transfer_matrix(xb, method="multifrontal")
    assert rel(t, solver.transfer_matrix(xb, method="factor")) <= 1e-10
    cols = solver.solve(xb, np.eye(m), method="direct").i_out
    assert rel(t, cols) <= 1e-10


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 30), n=st.integers(1, 30), seed=st.integers(0, 2**32 - 1),
       rw=st.sampled_from([0.1, 1.0, 10.0]), rb=st.sampled_from([0.1, 1.0, 10.0]),
       rd=st.sampled_from([0.0, 3.0]), both=st.booleans(), sense=st.sampled_from(SENSES))
def test_property_rows_of_t_are_unit_input_solves(m, n, seed, rw, rb, rd, both, sense):
    """Row i of T is the output for 1 V on row i, whatever the shape: i_out = v @ T (linearity)."""
    rng = np.random.default_rng(seed)
    xb = tile(rng, m, n, r_wordline=rw, r_bitline=rb, r_driver=rd,
              drive="both" if both else "left", sense=sense)
    t = solver.transfer_matrix(xb, method="multifrontal")
    v = rng.uniform(-0.3, 0.3, (3, m))
    s = solver.solve(xb, np.vstack([np.eye(m), v]), method="direct")
    scale = np.abs(s.i_out).max()
    assert np.abs(t - s.i_out[:m]).max() <= 1e-10 * scale
    assert np.abs(v @ t - s.i_out[m:]).max() <= 1e-10 * scale


def test_every_elimination_path_gives_the_same_matrix(rng, monkeypatch):
    """Element-wise pivots, batched LU, per-front Cholesky, threaded or not, any chunking: one T."""
    xb = tile(rng, 45, 38, drive="both", sense=FiniteGainTIA())
    ref = solver.transfer_matrix(xb, method="factor")
    for elementwise, per_front, threaded, chunk, workers, flat, syrk in [
            (2, 24, 128, 1 << 20, 2, 64, 128),  # the defaults
            (0, 1, 1, 1 << 20, 1, 0, 1),  # Cholesky + rank-k update front by front everywhere
            (0, 1, 1, 1 << 20, 2, 0, 10**6),  # Cholesky + general product front by front
            (50, 100, 100, 1 << 20, 1, 10**6, 128),  # element-wise pivots, flat scatter
            (0, 100, 100, 64, 2, 0, 128),  # batched LU everywhere, chunks of one front
    ]:
        monkeypatch.setattr(_multifrontal, "ELEMENTWISE_K", elementwise)
        monkeypatch.setattr(_multifrontal, "PER_FRONT_K", per_front)
        monkeypatch.setattr(_multifrontal, "THREADED_K", threaded)
        monkeypatch.setattr(_multifrontal, "CHUNK_ENTRIES", chunk)
        monkeypatch.setattr(_multifrontal, "WORKERS", workers)
        monkeypatch.setattr(_multifrontal, "FLAT_SCATTER_F", flat)
        monkeypatch.setattr(_multifrontal, "SYRK_K", syrk)
        assert rel(solver.transfer_matrix(xb, method="multifrontal"), ref) <= 1e-10


@pytest.mark.parametrize("r,block", [(1, 4), (7, 3), (9, 3), (10, 256)])
def test_mirror_lower_makes_the_matrix_symmetric(r, block, rng):
    a = rng.standard_normal((r, r))
    low = np.tril(a)
    _multifrontal._mirror_lower(a, block)
    np.testing.assert_array_equal(a, low + np.tril(low, -1).T)


def test_no_cells_means_no_current(rng):
    xb = Crossbar(np.zeros((9, 14)), r_wordline=1.0, r_bitline=1.0)
    assert np.array_equal(solver.transfer_matrix(xb, method="multifrontal"), np.zeros((9, 14)))


def test_uniform_single_column_against_the_ladder_formula():
    """One column, ideal TIA, no word-line segments to the cells beyond the driver: a ladder.

    Row i drives g through r_d + r_w; the bit line runs down through r_b per segment to ground.
    Unit input on row i: solve the (M) bit-line ladder by hand with numpy (tridiagonal) and take the
    current through the last segment.
    """
    m, g, rw, rb, rd = 12, 50e-6, 1.0, 2.0, 4.0
    xb = Crossbar(np.full((m, 1), g), r_wordline=rw, r_bitline=rb, r_driver=rd)
    gc = 1.0 / (1.0 / g + rd + rw)  # source -> WL(i, 0) -> cell in series
    a = np.zeros((m, m))
    for i in range(m):
        a[i, i] = gc + (1 / rb if i > 0 else 0.0) + 1 / rb
        if i > 0:
            a[i, i - 1] = a[i - 1, i] = -1 / rb
    expect = np.linalg.solve(a, gc * np.eye(m))[m - 1] / rb  # (M,) current for each unit input
    t = solver.transfer_matrix(xb, method="multifrontal")
    np.testing.assert_allclose(t[:, 0], expect, rtol=1e-12)


def test_auto_uses_multifrontal_for_large_grid_tiles(rng, monkeypatch, caplog):
    calls = []
    real = _multifrontal.transfer_matrix_grid
    monkeypatch.setattr(_multifrontal, "transfer_matrix_grid",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setitem(solver.MULTIFRONTAL_MIN_CELLS, "cholmod", 100)
    monkeypatch.setitem(solver.MULTIFRONTAL_MIN_CELLS, "superlu", 100)
    xb = tile(rng, 10, 12)
    with caplog.at_level(logging.DEBUG, logger="rramsim.solver"):
        solver.transfer_matrix(xb)
    assert calls == [1] and "multifrontal" in caplog.text
    solver.transfer_matrix(xb.replace(r_bitline=0.0))  # merged nodes: the factorisation
    solver.transfer_matrix(tile(rng, 9, 11))  # 99 cells: the factorisation
    assert calls == [1]


def test_errors(rng, monkeypatch):
    xb = tile(rng, 6, 7)
    with pytest.raises(SolverError, match="method must be one of"):
        solver.transfer_matrix(xb, method="lu")
    with pytest.raises(SolverError, match="r_wordline > 0 and r_bitline > 0"):
        solver.transfer_matrix(xb.replace(r_wordline=0.0), method="multifrontal")
    monkeypatch.setattr(_factor, "available_memory_bytes", lambda: 1000)
    with pytest.raises(SolverError, match=r"multifrontal Schur complement of a 6 x 7 tile needs "
                                          r"about [\d.]+ GB"):
        solver.transfer_matrix(xb, method="multifrontal")
    with pytest.raises(SolverError, match="needs about"):
        solver.input_admittance(xb, method="multifrontal")


@pytest.mark.parametrize("drive,sense,r_access",
                         list(itertools.product(["left", "both"], SENSES, [None, 2e3])))
@pytest.mark.parametrize("m,n", [(1, 1), (4, 3), (3, 5)])
def test_input_admittance_matches_dense_mna(m, n, drive, sense, r_access, rng):
    """Column k of Y is the source current for 1 V on row k (dense MNA reference)."""
    xb = tile(rng, m, n, drive=drive, sense=sense, r_access=r_access)
    y = solver.input_admittance(xb, method="multifrontal")
    ref = np.stack([dense_mna(xb, np.eye(m)[k])[4] for k in range(m)], axis=1)
    assert rel(y, ref) <= 1e-10
    assert rel(solver.input_admittance(xb, method="factor"), ref) <= 1e-10


@pytest.mark.parametrize("drive,sense", list(itertools.product(["left", "both"], SENSES)))
def test_input_admittance_gives_the_source_power(drive, sense, rng):
    """v^T Y v equals sum(v * i_in) of full solves; Y is symmetric positive semi-definite."""
    xb = tile(rng, 37, 29, drive=drive, sense=sense, r_access=1e3)
    y = solver.input_admittance(xb, method="multifrontal")
    assert np.array_equal(y, y.T)
    assert np.linalg.eigvalsh(y).min() >= -1e-12 * np.abs(y).max()
    v = rng.uniform(-0.2, 0.3, (4, 37))
    s = solver.solve(xb, v, method="direct")
    assert rel(v @ y, s.i_in) <= 1e-10
    assert rel(np.einsum("bi,ij,bj->b", v, y, v), (v * s.i_in).sum(axis=1)) <= 1e-10
    with pytest.raises(SolverError, match="linear tile"):
        solver.input_admittance(xb.replace(sinh_v0=0.25))


@pytest.mark.parametrize("k", [1, 3, 40])  # element-wise, batched LU, front by front
def test_singular_separator_is_an_error_not_nan(k):
    f = k + 3
    big = np.zeros((2, f, f))
    big[:, k:, k:] = np.eye(3)
    with pytest.raises(SolverError, match="separator"):
        _multifrontal._eliminate(big, k)


def test_memory_estimate_is_calibrated():
    """The estimate covers the measured peak (0.74 GB resident at 1024 x 1024, with Python)."""
    assert 0.6e9 < _multifrontal.memory_bytes(1024, 1024, False) < 1.0e9
    assert _multifrontal.memory_bytes(512, 512, True) < _multifrontal.memory_bytes(1024, 1024, True)
