"""Sense resistors of any legal size: ``i_out`` exact where a difference of node voltages cancels.

With a large sense resistance every node of a column sits near its row's voltage, so the column's
cell currents (or ``gb (V_BL - V_S)``) are differences of nearly equal numbers; ``g_s V_S`` is not.
References: the series circuit of a 1 x 1 tile in closed form, and ngspice (``netlists.simulate``,
which reads ``V_S / R``) from 1 kOhm to 1 TOhm, to 1e-9.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import rel

from rramsim import netlists, solver
from rramsim.crossbar import Crossbar, FiniteGainTIA, SenseResistor

RS = [1e3, 1e6, 1e9, 1e10, 1e12]


@pytest.mark.parametrize("r", RS + [1e15])
@pytest.mark.parametrize("method", ["direct", "cg"])
def test_one_cell_is_a_series_circuit(r, method):
    g, rw, rb, rd = 1e-5, 2.0, 3.0, 7.0
    xb = Crossbar(np.array([[g]]), r_wordline=rw, r_bitline=rb, r_driver=rd,
                  sense=SenseResistor(r))
    i = 0.2 / (rd + rw + 1 / g + rb + r)
    s = solver.solve(xb, [0.2], method=method)
    assert abs(s.i_out[0] - i) <= 1e-10 * i
    assert abs(s.v_sense[0] - i * r) <= 1e-10 * i * r
    for tm in ("factor", "multifrontal"):
        assert abs(solver.transfer_matrix(xb, method=tm)[0, 0] * 0.2 - i) <= 1e-10 * i


def _tile(seed, m, n, r, **kw):
    rng = np.random.default_rng(seed)
    g = np.exp(rng.uniform(np.log(1e-6), np.log(1e-4), (m, n)))
    base = dict(r_wordline=1.0, r_bitline=2.0, r_driver=5.0, drive="both", sense=SenseResistor(r))
    base.update(kw)
    return Crossbar(g, **base), rng.uniform(-0.3, 0.3, (2, m))


OPTIONS = [dict(), dict(r_wordline=0.0), dict(r_bitline=0.0), dict(drive="left", r_driver=0.0),
           dict(r_access=3e3)]


@pytest.mark.ngspice
@pytest.mark.parametrize("r,options", list(itertools.product(RS, OPTIONS)))
def test_i_out_matches_ngspice_for_any_sense_resistor(r, options):
    xb, v = _tile(5, 7, 6, r, **options)
    ref = netlists.simulate(xb, v)
    grid = xb.r_wordline > 0 and xb.r_bitline > 0
    for method in ("direct", "cg") if grid else ("direct",):
        s = solver.solve(xb, v, method=method)
        assert rel(s.i_out, ref.i_out) <= 1e-9, (method, rel(s.i_out, ref.i_out))
        assert rel(s.v_sense, ref.v_sense) <= 1e-9
    for tm in ("factor", "multifrontal") if grid else ("factor",):
        pm = solver.port_matrices(xb, method=tm)
        assert rel(v @ pm.transfer, ref.i_out) <= 1e-9, (tm, rel(v @ pm.transfer, ref.i_out))
        assert rel(v @ pm.admittance, ref.i_in) <= 1e-9


@pytest.mark.ngspice
@pytest.mark.parametrize("r", [1e3, 1e7, 1e11])
def test_finite_gain_tia_of_any_feedback_resistance(r):
    """A finite-gain TIA's i_out = (1 + A) V_S / R_f, read the same way."""
    xb, v = _tile(6, 6, 5, 1.0, sense=FiniteGainTIA(r, 50.0))
    ref = netlists.simulate(xb, v)
    s = solver.solve(xb, v, method="direct")
    assert rel(s.i_out, ref.i_out) <= 1e-9
    assert rel(v @ solver.transfer_matrix(xb, method="multifrontal"), ref.i_out) <= 1e-9
