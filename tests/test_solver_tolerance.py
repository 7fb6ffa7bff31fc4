"""Residual tolerances that double precision can reach: legal tiles are never refused.

A 256 x 256 tile of formed cells (``devmodel.form``, about 14 uS) with a zero wire resistance has a
nodal matrix whose terms (1 S wires, a merged word line summing 256 cells) are far larger than its
right-hand side, so rounding in ``A x`` alone leaves a relative residual near 2e-12. The solver
accepts such a solution when refinement has stagnated at the round-off floor
``eps ||(|A| |x| + |b|)||``; these tests check that every merged-node case is solved, and solved
right: against the transfer matrix (a different elimination) to 1e-10, and against ngspice on a
small tile to 1e-9.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import dense_mna, rel

from rramsim import netlists, solver
from rramsim.crossbar import Crossbar, IdealTIA, SenseResistor
from rramsim.devmodel import program
from rramsim.errors import SolverError
from rramsim.solver import _direct

MERGED = [dict(r_wordline=0.0, r_bitline=1.0),  # rows pinned to their sources
          dict(r_wordline=0.0, r_bitline=1.0, r_driver=10.0),  # one node per word line
          dict(r_wordline=1.0, r_bitline=0.0),  # bit lines at virtual ground
          dict(r_wordline=1.0, r_bitline=0.0, sense=SenseResistor(100.0)),  # one node per bit line
          dict(r_wordline=0.0, r_bitline=0.0, r_driver=10.0, sense=SenseResistor(100.0))]


@pytest.fixture(scope="module")
def formed_256():
    return program.form((256, 256), rng=1).conductance


@pytest.mark.slow
@pytest.mark.parametrize("options,drive", list(itertools.product(MERGED, ["left", "both"])))
def test_merged_node_tiles_of_formed_cells_at_256(formed_256, options, drive):
    xb = Crossbar(formed_256, drive=drive, **options)
    v = np.random.default_rng(0).uniform(0.0, 0.2, (6, 256))
    t = solver.transfer_matrix(xb)
    s = solver.solve(xb, v)
    assert rel(s.i_out, v @ t) <= 1e-10
    if drive == "left":  # one input too (its own path: no batch chunking)
        assert rel(solver.solve(xb, v[0]).i_out, v[0] @ t) <= 1e-10


@pytest.mark.ngspice
@pytest.mark.parametrize("options,drive", list(itertools.product(MERGED, ["left", "both"])))
def test_merged_node_tiles_of_formed_cells_match_ngspice(options, drive):
    g = program.form((24, 20), rng=2).conductance
    xb = Crossbar(g, drive=drive, **options)
    v = np.random.default_rng(1).uniform(0.0, 0.2, (3, 24))
    ref = netlists.simulate(xb, v)
    s = solver.solve(xb, v)
    assert rel(s.i_out, ref.i_out) <= 1e-9
    assert rel(v @ solver.transfer_matrix(xb), ref.i_out) <= 1e-9


def test_a_solution_off_the_floor_is_still_refused(monkeypatch):
    """A residual well above the round-off floor (a broken factor) is an error, not accepted."""
    xb = Crossbar(np.full((5, 4), 1e-5), r_wordline=0.0, r_bitline=1.0, sense=IdealTIA())
    fac = solver.factorize(xb)
    real = fac.factor.solve
    monkeypatch.setattr(fac.factor, "solve", lambda b: real(b) + 1e-9)  # refinement cannot fix it
    with pytest.raises(SolverError, match="round-off floor"):
        fac.solve(np.full((2, 5), 0.1))


def test_floor_acceptance_keeps_the_answer_exact(monkeypatch):
    """With RTOL out of reach on purpose, the accepted solution still equals the dense reference."""
    monkeypatch.setattr(_direct, "RTOL", 1e-30)
    g = program.form((6, 5), rng=3).conductance
    xb = Crossbar(g, r_wordline=0.0, r_bitline=1.0, r_driver=3.0, drive="both")
    v = np.linspace(0.05, 0.2, 6)
    s = solver.solve(xb, v, method="direct")
    assert rel(s.i_out, dense_mna(xb, v)[0]) <= 1e-12
