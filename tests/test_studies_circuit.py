"""Studies on real circuits: circuit-mode inference, energy via admittance, co-simulation check."""

import numpy as np
import pytest

from rramsim.crossbar import Crossbar
from rramsim.studies.energy import BOARD
from rramsim.studies.inference import (
    HardwareNetwork,
    LayerPlan,
    TileSlice,
    calibrate,
    forward,
    prepare,
)
from rramsim.studies.power import array_power, input_admittance, source_power
from rramsim.studies.quantize import DAC

solver = pytest.importorskip("rramsim.solver")
if not hasattr(solver, "transfer_matrix"):
    pytest.skip("rramsim.solver.transfer_matrix not available yet", allow_module_level=True)


def _one_layer(g_pos, g_neg, r_wire):
    """A layer on one tile with (G+, G-) on column pairs; weights in units of 10 uS."""
    m, n = g_pos.shape
    g = np.empty((m, 2 * n))
    g[:, 0::2], g[:, 1::2] = g_pos, g_neg
    xb = Crossbar(conductance=g, r_wordline=r_wire, r_bitline=r_wire)
    s = TileSlice(0, np.arange(m), np.arange(m), np.ones(m), np.arange(2 * n),
                  np.repeat(np.arange(n), 2), np.tile([1.0, -1.0], n))
    return HardwareNetwork(tiles=(xb,), layers=(LayerPlan("l", (g_pos - g_neg) / 1e-5, 1e-5,
                                                          (s,), "none"),))


def test_circuit_equals_behavioural_without_wires():
    rng = np.random.default_rng(0)
    gp, gn = rng.uniform(1e-6, 30e-6, (2, 16, 8))
    hw = _one_layer(gp, gn, 0.0)
    x = rng.uniform(0, 1, (40, 16))
    out = {}
    for mode in ("behavioural", "circuit"):
        prep = prepare(hw, mode)
        conv = calibrate(hw, prep, x, dac=DAC(bits=6), adc_bits=14, adc_full_scale_V=0.9)
        out[mode] = forward(hw, x, mode=mode, prep=prep, conv=conv, read_noise_rel=0.01,
                            rng=np.random.default_rng(1))
    np.testing.assert_allclose(out["circuit"], out["behavioural"], rtol=1e-9, atol=1e-9)


def test_circuit_mode_matches_full_solves_with_wires():
    """Circuit mode's product equals solver.solve on the drive voltages (no converters' error)."""
    rng = np.random.default_rng(2)
    gp, gn = rng.uniform(1e-6, 30e-6, (2, 16, 8))
    hw = _one_layer(gp, gn, 5.0)
    x = rng.uniform(0, 1, (10, 16))
    prep = prepare(hw, "circuit")
    conv = calibrate(hw, prep, x, dac=DAC(bits=16), adc_bits=24, adc_full_scale_V=0.9)
    y = forward(hw, x, mode="circuit", prep=prep, conv=conv)
    v = conv.dacs[0].voltages(x, conv.x_full_scale[0])
    i = solver.solve(hw.tiles[0], v).i_out
    expect = (i[:, 0::2] - i[:, 1::2]) / (1e-5 * 0.1 / conv.x_full_scale[0])
    lsb = conv.readouts[0].i_lsb_A / (1e-5 * 0.1 / conv.x_full_scale[0])
    assert np.max(np.abs(y - expect)) <= lsb * (1 + 1e-9)
    # IR drop makes it differ from the ideal product by much more than that
    assert np.max(np.abs(y - x @ hw.layers[0].weights)) > 100 * lsb


def test_admittance_power_equals_full_solve():
    rng = np.random.default_rng(3)
    xb = Crossbar(conductance=rng.uniform(1e-6, 50e-6, (12, 9)), r_wordline=3.0, r_bitline=2.0,
                  r_driver=20.0)
    v = rng.uniform(0, 0.2, (5, 12))
    p = array_power(xb, solver.solve(xb, v), v)
    np.testing.assert_allclose(source_power(input_admittance(xb), v), p.source, rtol=1e-9)
    np.testing.assert_allclose(p.dissipated, p.source, rtol=1e-9)
    assert BOARD.t_read_s > 0


@pytest.mark.ngspice
def test_cosim_check_passes_and_fails_loudly():
    from rramsim.studies.cosim import CosimError, check_tiles, require

    rng = np.random.default_rng(4)
    tiles = [Crossbar(conductance=rng.uniform(1e-6, 30e-6, (12, 10)), r_wordline=2.0,
                      r_bitline=2.0) for _ in range(3)]
    res = check_tiles(tiles, n_tiles=2, window=8, inputs=2, tolerance_rel=1e-6, v_read_V=0.1,
                      rng=np.random.default_rng(5))
    assert len(res.checks) == 2 and res.passed
    assert all(c.rows[1] - c.rows[0] == 8 and c.cols[1] - c.cols[0] == 8 for c in res.checks)
    assert res.worst_rel_diff < 1e-6
    assert require(res) is res
    strict = check_tiles(tiles, n_tiles=1, window=8, inputs=1, tolerance_rel=1e-300,
                         v_read_V=0.1, rng=np.random.default_rng(5))
    if strict.worst_rel_diff > 1e-300:
        with pytest.raises(CosimError, match="CO-SIMULATION CHECK FAILED"):
            require(strict)


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


def test_nonlinear_cells_use_newton_solves():
    """sinh cells: circuit mode = solver.solve (Newton) on the drives; error above the linear."""
    from rramsim.studies.study import tile_output_error, with_circuit

    rng = np.random.default_rng(6)
    gp, gn = rng.uniform(1e-6, 30e-6, (2, 8, 4))
    lin = _one_layer(gp, gn, 2.0)
    nl = with_circuit(lin, r_wordline_ohm=2.0, r_bitline_ohm=2.0, sinh_v0_V=0.25)
    x = rng.uniform(0, 1, (6, 8))
    errs = {}
    for name, hw in (("lin", lin), ("nl", nl)):
        prep = prepare(hw, "circuit")
        conv = calibrate(hw, prep, x, dac=DAC(bits=16, v_read_V=0.2), adc_bits=24,
                         adc_full_scale_V=0.9)
        rec = []
        y = forward(hw, x, mode="circuit", prep=prep, conv=conv, record=rec)
        errs[name] = tile_output_error(hw, prep, rec)
        if name == "nl":
            assert prep.nonlinear == {0}
            v = rec[0]["v"]
            i = solver.solve(hw.tiles[0], v).i_out
            expect = (i[:, 0::2] - i[:, 1::2]) / (1e-5 * 0.2 / conv.x_full_scale[0])
            lsb = conv.readouts[0].i_lsb_A / (1e-5 * 0.2 / conv.x_full_scale[0])
            assert np.max(np.abs(y - expect)) <= lsb * (1 + 1e-9)
    # at 0.2 V the sinh I-V adds ~11 % current over the linear cell (BRIEF.md)
    assert errs["nl"] > errs["lin"] and 0.02 < errs["nl"] < 0.3
