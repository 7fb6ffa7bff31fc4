"""rramsim.solver.port_matrices: T and Y from one elimination, against independent references.

References: the dense MNA system of tests/helpers.py (every element stamped by hand, LAPACK),
and the separate :func:`transfer_matrix` / :func:`input_admittance`. All are exact eliminations, so
agreement is at rounding level (measured <= 1e-12); the tests allow 1e-10.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from helpers import dense_mna, rel

from rramsim import solver
from rramsim.crossbar import Crossbar, FiniteGainTIA, IdealTIA, SenseResistor
from rramsim.errors import SolverError

SENSES = [IdealTIA(2e3), FiniteGainTIA(1e3, 100.0), SenseResistor(500.0)]


def tile(rng, m, n, **kw) -> Crossbar:
    g = rng.uniform(0.1e-6, 100e-6, (m, n))
    g[rng.random((m, n)) < 0.1] = 0.0
    base = dict(r_wordline=float(rng.uniform(0.1, 10.0)), r_bitline=float(rng.uniform(0.1, 10.0)),
                r_driver=float(rng.uniform(0.0, 20.0)))
    base.update(kw)
    return Crossbar(g, **base)


def dense_maps(xb: Crossbar):
    m = xb.n_rows
    outs = [dense_mna(xb, np.eye(m)[k]) for k in range(m)]
    t = np.stack([o[0] for o in outs])  # row k: i_out for 1 V on row k
    y = np.stack([o[4] for o in outs], axis=1)  # column k: i_in for 1 V on row k
    return t, y


@pytest.mark.parametrize("method", ["multifrontal", "factor"])
@pytest.mark.parametrize("drive,sense,r_access",
                         list(itertools.product(["left", "both"], SENSES, [None, 2e3])))
def test_grid_tiles_match_dense_mna(method, drive, sense, r_access, rng):
    xb = tile(rng, 5, 4, drive=drive, sense=sense, r_access=r_access)
    pm = solver.port_matrices(xb, method=method)
    assert pm.method == method
    t, y = dense_maps(xb)
    assert pm.transfer.shape == (5, 4) and pm.admittance.shape == (5, 5)
    assert rel(pm.transfer, t) <= 1e-10
    assert rel(pm.admittance, y) <= 1e-10
    assert np.array_equal(pm.admittance, pm.admittance.T)


# every merged-node case: rows pinned to their sources, one node per word line, one per bit line
@pytest.mark.parametrize("rw,rb,rd", [(0.0, 2.0, 0.0), (0.0, 2.0, 5.0), (3.0, 0.0, 0.0),
                                      (3.0, 0.0, 5.0), (0.0, 0.0, 0.0), (0.0, 0.0, 5.0)])
@pytest.mark.parametrize("drive,sense", list(itertools.product(["left", "both"], SENSES)))
def test_merged_node_tiles_match_dense_mna(rw, rb, rd, drive, sense, rng):
    xb = tile(rng, 4, 6, r_wordline=rw, r_bitline=rb, r_driver=rd, drive=drive, sense=sense)
    pm = solver.port_matrices(xb)
    assert pm.method == "factor"
    t, y = dense_maps(xb)
    assert rel(pm.transfer, t) <= 1e-10
    assert rel(pm.admittance, y) <= 1e-10
    with pytest.raises(SolverError, match="multifrontal"):
        solver.port_matrices(xb, method="multifrontal")


@pytest.mark.parametrize("backend", solver.available_backends())
@pytest.mark.parametrize("m,n,drive,sense", [(40, 23, "left", SENSES[0]), (23, 40, "both", SENSES[1]),
                                             (33, 33, "both", SENSES[2])])
def test_agrees_with_transfer_matrix_and_input_admittance(m, n, drive, sense, backend, rng):
    xb = tile(rng, m, n, drive=drive, sense=sense, r_access=rng.uniform(500.0, 5e3, (m, n)))
    for method in ("multifrontal", "factor"):
        pm = solver.port_matrices(xb, method=method, backend=backend)
        assert rel(pm.transfer, solver.transfer_matrix(xb, method=method, backend=backend)) <= 1e-10
        assert rel(pm.admittance, solver.input_admittance(xb, method=method,
                                                          backend=backend)) <= 1e-10
    v = rng.uniform(-0.2, 0.3, (3, m))
    s = solver.solve(xb, v, method="direct", backend=backend)
    assert rel(v @ pm.transfer, s.i_out) <= 1e-10
    assert rel(v @ pm.admittance, s.i_in) <= 1e-10


def test_one_multifrontal_pass(rng, monkeypatch):
    """Both matrices come from a single Schur complement on the ports."""
    from rramsim.solver import _multifrontal

    calls = []
    real = _multifrontal.port_schur
    monkeypatch.setattr(_multifrontal, "port_schur", lambda *a, **k: calls.append(1) or real(*a, **k))
    pm = solver.port_matrices(tile(rng, 20, 30), method="multifrontal")
    assert len(calls) == 1
    assert not pm.transfer.flags.writeable and not pm.admittance.flags.writeable


def test_errors(rng):
    xb = tile(rng, 3, 3)
    with pytest.raises(SolverError, match="linear tile"):
        solver.port_matrices(xb.replace(sinh_v0=0.25))
    with pytest.raises(SolverError, match="method must be"):
        solver.port_matrices(xb, method="dense")
    with pytest.raises(Exception, match="Crossbar"):
        solver.port_matrices(np.ones((3, 3)))


def test_long_transfer_matrix_announces_its_cost_and_shows_progress(rng, monkeypatch, caplog, capsys):
    """A transfer matrix estimated to take long logs time and memory first and runs a progress
    bar over its levels; the matrix is the same."""
    from rramsim.solver import _multifrontal

    xb = tile(rng, 40, 30)
    ref = solver.transfer_matrix(xb, method="multifrontal")
    monkeypatch.setattr(_multifrontal, "FLOP_RATE", 1.0)  # every tile now "takes long"
    monkeypatch.setattr(_multifrontal, "PROGRESS_SECONDS", 0.0)
    with caplog.at_level("INFO", logger="rramsim.solver"):
        got = solver.transfer_matrix(xb, method="multifrontal")
    assert np.array_equal(got, ref)
    assert re.search(r"40 x 30 tile: about [\d.e+]+ s and [\d.e+-]+ GB", caplog.text)
    assert "transfer matrix 40 x 30" in capsys.readouterr().err
