"""Tile-level studies: source power through the input admittance, IR-drop output error."""

import numpy as np
import pytest

from rramsim import solver
from rramsim.crossbar import Crossbar
from rramsim.studies.costs.energy import BOARD
from rramsim.studies.costs.power import array_power, input_admittance, source_power


def test_admittance_power_equals_full_solve():
    rng = np.random.default_rng(3)
    xb = Crossbar(conductance=rng.uniform(1e-6, 50e-6, (12, 9)), r_wordline=3.0, r_bitline=2.0,
                  r_driver=20.0)
    v = rng.uniform(0, 0.2, (5, 12))
    p = array_power(xb, solver.solve(xb, v), v)
    np.testing.assert_allclose(source_power(input_admittance(xb), v), p.source, rtol=1e-9)
    np.testing.assert_allclose(p.dissipated, p.source, rtol=1e-9)
    assert BOARD.t_read_s > 0


def test_output_error_1x1_analytic_and_sweep_monotone():
    from rramsim.studies.irdrop import relative_output_error, sweep_wire_and_size, tile_drop_map

    g, r = 50e-6, 100.0
    xb = Crossbar(conductance=[[g]], r_wordline=r, r_bitline=r)
    expect = 2 * r * g / (1 + 2 * r * g)        # series: T = 1 / (1/G + 2r)
    assert relative_output_error(xb, [[0.1]]) == pytest.approx(expect, rel=1e-9)
    drop, stats = tile_drop_map(xb, 0.1)
    assert stats.worst_V == pytest.approx(0.1 * expect, rel=1e-9)   # I * 2r = V * 2rG/(1+2rG)

    def sampler(shape, rng):
        return rng.uniform(10e-6, 20e-6, shape)

    df = sweep_wire_and_size(sampler, r_wire_ohm=[0.0, 1.0, 5.0], tile_sizes=[4, 8],
                             v_read_V=0.1, inputs=3, rng=np.random.default_rng(0))
    assert len(df) == 6
    assert np.all(df[df.r_wire_ohm == 0.0].rel_output_error < 1e-12)
    for _, sub in df.groupby("tile_size"):
        assert np.all(np.diff(sub.sort_values("r_wire_ohm").rel_output_error) > 0)
    e4 = df[(df.tile_size == 4) & (df.r_wire_ohm == 5.0)].rel_output_error.iloc[0]
    e8 = df[(df.tile_size == 8) & (df.r_wire_ohm == 5.0)].rel_output_error.iloc[0]
    assert e8 > e4
