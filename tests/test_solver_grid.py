"""The grid stamps and the grid KCL residual (rramsim.solver._grid): the stamps against their
defining formulas, the residual against Kirchhoff's law written node by node."""

from __future__ import annotations

import numpy as np
import pytest

from rramsim.crossbar import Crossbar, FiniteGainTIA, IdealTIA, SenseResistor
from rramsim.errors import SolverError
from rramsim.solver._grid import GridStamps, grid_kcl


def _loop_kcl(xb: Crossbar, vw, vb, vs, v, cur, gdrv, gs):
    """Net current leaving every node of one input, summed element by element in plain Python."""
    m, n = xb.shape
    gw, gb = 1.0 / xb.r_wordline, 1.0 / xb.r_bitline
    fw, fb, fs = np.zeros((m, n)), np.zeros((m, n)), np.zeros(n)
    for i in range(m):
        for j in range(n):
            fw[i, j] += cur[i, j]  # the cell, word line to bit line
            fb[i, j] -= cur[i, j]
            if j + 1 < n:  # word-line segment to the right
                fw[i, j] += gw * (vw[i, j] - vw[i, j + 1])
                fw[i, j + 1] += gw * (vw[i, j + 1] - vw[i, j])
            if i + 1 < m:  # bit-line segment below
                fb[i, j] += gb * (vb[i, j] - vb[i + 1, j])
                fb[i + 1, j] += gb * (vb[i + 1, j] - vb[i, j])
        fw[i, 0] += gdrv * (vw[i, 0] - v[i])
        if xb.drive == "both":
            fw[i, n - 1] += gdrv * (vw[i, n - 1] - v[i])
    for j in range(n):  # last bit-line segment to the sense node
        fb[m - 1, j] += gb * (vb[m - 1, j] - vs[j])
        if gs is not None:
            fs[j] = gb * (vs[j] - vb[m - 1, j]) + gs * vs[j]
    return fw, fb, fs


@pytest.mark.parametrize("drive", ["left", "both"])
@pytest.mark.parametrize("sense", [IdealTIA(), SenseResistor(250.0)])
def test_grid_kcl_matches_node_by_node_sums(drive, sense):
    rng = np.random.default_rng(7)
    m, n, batch = 4, 5, 3
    xb = Crossbar(rng.uniform(1e-6, 1e-4, (m, n)), r_wordline=2.0, r_bitline=3.0, r_driver=5.0,
                  drive=drive, sense=sense)
    vw, vb = rng.normal(size=(batch, m, n)), rng.normal(size=(batch, m, n))
    gs = None if isinstance(sense, IdealTIA) else 1.0 / 250.0
    vs = rng.normal(size=(batch, n)) if gs is not None else np.zeros((batch, n))
    v = rng.normal(size=(batch, m))
    cur = rng.normal(scale=1e-4, size=(batch, m, n))  # any cell law: the caller's currents
    gdrv = 1.0 / (5.0 + 2.0)
    k = grid_kcl(GridStamps.from_crossbar(xb), vw, vb, vs, v, cur)
    assert (k.sense is None) == (gs is None)
    for b in range(batch):
        fw, fb, fs = _loop_kcl(xb, vw[b], vb[b], vs[b], v[b], cur[b], gdrv, gs)
        np.testing.assert_allclose(k.word[b], fw, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(k.bit[b], fb, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(k.wire_word[b], fw - cur[b], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(k.wire_bit[b], fb + cur[b], rtol=1e-12, atol=1e-15)
        if gs is not None:
            np.testing.assert_allclose(k.sense[b], fs, rtol=1e-12, atol=1e-15)
        n_src = np.linalg.norm(v[b]) * gdrv * (np.sqrt(2.0) if drive == "both" else 1.0)
        assert k.drive[b] == pytest.approx(n_src, rel=1e-14)


@pytest.mark.parametrize(("rw", "rb", "rd", "sense", "expect"), [
    (2.0, 3.0, 5.0, IdealTIA(), (0.5, 1 / 3.0, 1 / 7.0, None)),
    (2.0, 3.0, 0.0, SenseResistor(250.0), (0.5, 1 / 3.0, 0.5, 1 / 250.0)),
    (0.0, 3.0, 4.0, FiniteGainTIA(r_feedback=1e3, open_loop_gain=99.0), (None, 1 / 3.0, 0.25, 0.1)),
    (0.0, 0.0, 0.0, IdealTIA(), (None, None, None, None)),
])
def test_grid_stamps_are_the_element_conductances(rw, rb, rd, sense, expect):
    """word 1/r_wordline, bit 1/r_bitline, drive 1/(r_driver + r_wordline), sense (1 + A)/R_f or
    1/R; None where a 0-ohm resistance merges the nodes or S_j is a virtual ground."""
    st = GridStamps.from_crossbar(Crossbar(np.full((2, 3), 1e-5), r_wordline=rw, r_bitline=rb,
                                           r_driver=rd, drive="both", sense=sense))
    for got, want in zip((st.word, st.bit, st.drive, st.sense), expect, strict=True):
        assert got == (None if want is None else pytest.approx(want, rel=1e-15))
    assert st.both and st.is_grid == (rw > 0 and rb > 0)


@pytest.mark.parametrize(("changes", "name"), [
    ({"r_wordline": 1e-320}, "r_wordline = 1e-320"),
    ({"r_bitline": 1e-320}, "r_bitline = 1e-320"),
    ({"r_driver": 1e-320}, r"r_driver = 1e-320"),
    ({"r_wordline": 1e-320, "r_driver": 1e-320}, r"r_wordline = 1e-320"),
    ({"sense": SenseResistor(1e-320)}, r"sense circuit SenseResistor\(resistance=1e-320\)"),
    ({"sense": FiniteGainTIA(r_feedback=1e-310, open_loop_gain=1e10)}, "sense circuit FiniteGainTIA"),
])
def test_grid_stamps_refuse_overflowing_conductances(changes, name):
    """A resistance so small that its conductance is infinite is an error naming it."""
    base = {"r_wordline": 0.0, "r_bitline": 1.0, "r_driver": 0.0}
    xb = Crossbar(np.full((2, 2), 1e-5), **{**base, **changes})
    with pytest.raises(SolverError, match=name):
        GridStamps.from_crossbar(xb)
