"""The grid KCL residual (rramsim.solver._grid) against Kirchhoff's law written node by node."""

from __future__ import annotations

import numpy as np
import pytest

from rramsim.crossbar import Crossbar, IdealTIA, SenseResistor
from rramsim.solver._grid import grid_kcl
from rramsim.solver._nodal import sense_conductance


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
    gs = sense_conductance(xb)
    vs = rng.normal(size=(batch, n)) if gs is not None else np.zeros((batch, n))
    v = rng.normal(size=(batch, m))
    cur = rng.normal(scale=1e-4, size=(batch, m, n))  # any cell law: the caller's currents
    gdrv = 1.0 / (5.0 + 2.0)
    k = grid_kcl(xb, vw, vb, vs, v, cur, gdrv, gs)
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
