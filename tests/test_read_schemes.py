"""Read schemes: row groups, grounded and floating inactive rows, bit-serial and PWM inputs,
shared ADCs, and their conversion, cycle and latency counts."""

import numpy as np
import pytest
from studies_nets import config, hardware, loaded

from rramsim import nn, solver
from rramsim.crossbar import Crossbar
from rramsim.studies.config import StudyConfig, config_from_toml, to_toml
from rramsim.studies.inference import modes as infer
from rramsim.studies.inference.quantize import DAC
from rramsim.studies.readout import cost as latency
from rramsim.studies.readout import reads as readout


def _mlp_hw(tile=(16, 16), seed=0, **circuit):
    net = nn.mlp(20, (12,), 5, input_bits=None)
    x = np.random.default_rng(seed).uniform(0, 1, (40, 20))
    lo = loaded(net, x, seed=seed)
    return lo, hardware(lo, config(tile=tile, **circuit))


def _calibrate(sp, lo, *, adc_bits=10, calibration="ideal_scale", dac_bits=4):
    spec = readout.ConverterSpec(dac_bits=dac_bits, v_read_V=0.1, adc_bits=adc_bits,
                                 adc_full_scale_V=0.9)
    return readout.calibrate(sp, lo.forward, lo.data.x_calib, spec, calibration=calibration)


@pytest.mark.parametrize("rpr", [0, 16, 4096])
def test_all_rows_per_read_equals_the_engine_exactly(rpr):
    """rows_per_read = M (or 0, or more): the engine's converters, currents, noise and outputs,
    bit for bit, through the network's forward pass."""
    lo, hw = _mlp_hw(tile=(16, 16))
    assert len(hw.plan[0].reads) > 1            # the first layer is split over tiles
    prep = infer.prepare(hw, "circuit")
    sp = readout.prepare(hw, "circuit", readout.ReadScheme(rows_per_read=rpr), base=prep)
    calib = infer.record_inputs(lo.forward, lo.data.x_calib)
    conv_e = infer.calibrate(prep, calib, dac=DAC(bits=4, v_read_V=0.1), adc_bits=10,
                              adc_full_scale_V=0.9)
    conv_s = _calibrate(sp, lo)
    assert conv_s.conv.x_full_scale == conv_e.x_full_scale
    assert conv_s.conv.readouts == conv_e.readouts
    x = lo.data.x_test
    out_e = lo.forward(x, matmul=infer.make_matmul(prep, conv=conv_e, read_noise_rel=0.02,
                                                    rng=np.random.default_rng(5)))
    out_s = lo.forward(x, matmul=readout.make_matmul(sp, conv=conv_s, read_noise_rel=0.02,
                                                     rng=np.random.default_rng(5)))
    assert np.array_equal(out_e, out_s)


@pytest.mark.parametrize("rpr", [2, 3, 5])
def test_grounded_inactive_rows_are_zero_inputs(rpr):
    """Each group's partial sums = a full solve with only that group's rows driven (all other
    rows at 0 V), added over the groups."""
    lo, hw = _mlp_hw(tile=(16, 16), r_driver_ohm=3.0)
    sp = readout.prepare(hw, "circuit", readout.ReadScheme(rows_per_read=rpr))
    k = 0
    lp = hw.plan[k]
    v = np.random.default_rng(1).uniform(0, 0.1, (3, lp.fan_in))
    got = readout.layer_product(sp, k, v) * lp.scale
    want = np.zeros_like(got)
    n_groups = 0
    for r in lp.reads:
        xb = hw.tiles[r.tile]
        d = r.drive(v)
        for u in np.unique(r.rows // rpr):
            sel = (r.rows // rpr) == u
            full = np.zeros((v.shape[0], xb.n_rows))
            full[:, r.rows[sel]] = d[:, sel]
            i = np.asarray(solver.solve(xb, full).i_out).reshape(v.shape[0], -1)[:, r.cols]
            want += i @ r.scatter(lp.fan_out)
            n_groups += 1
    assert n_groups > len(lp.reads)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def _floating_deck_currents(xb, v_full, floating):
    """ngspice: the tile's deck with the floating rows' sources removed."""
    from rramsim.netlists import ngspice, render

    deck = render(xb, v_full)
    drop = {f"vin_{i}" for i in floating}
    lines = [ln for ln in deck.splitlines() if ln.split(" ", 1)[0].lower() not in drop]
    assert len(lines) == len(deck.splitlines()) - len(floating)
    res = ngspice.run("\n".join(lines) + "\n", [["op"]], backend="subprocess")[0]
    i_out = np.array([float(res[f"i(vam_{j})"][0]) for j in range(xb.n_cols)])
    i_src = np.array([-float(res[f"i(vin_{i})"][0]) for i in range(xb.n_rows)
                      if i not in set(floating)])
    return i_out, i_src


@pytest.mark.ngspice
@pytest.mark.parametrize("seed", [0, 1])
def test_floating_inactive_rows_match_ngspice(seed):
    """The reduced transfer matrix T_a - Y_af Y_ff^-1 T_f and power matrix against ngspice with
    the floating rows' sources removed, to 1e-9."""
    rng = np.random.default_rng(seed)
    m, n = 7, 5
    g = rng.uniform(1e-6, 1e-4, (m, n))
    xb = Crossbar(g, r_wordline=2.5, r_bitline=3.0, r_driver=10.0)
    pm = solver.port_matrices(xb)
    active = np.array([1, 2, 5])
    floating = [i for i in range(m) if i not in set(active)]
    t_red, s_red = readout.reduced_matrices(np.asarray(pm.transfer), np.asarray(pm.admittance),
                                            active, np.arange(n))
    v_a = rng.uniform(0.02, 0.1, active.size)
    v_full = np.zeros(m)
    v_full[active] = v_a
    i_ng, i_src = _floating_deck_currents(xb, v_full, floating)
    i_ours = v_a @ t_red
    assert np.max(np.abs(i_ours - i_ng)) <= 1e-9 * np.max(np.abs(i_ng))
    # grounding instead of floating is a different circuit, visibly so here
    i_gnd = v_a @ np.asarray(pm.transfer)[active]
    assert np.max(np.abs(i_gnd - i_ng)) > 1e-6 * np.max(np.abs(i_ng))
    p_ng = float(v_a @ i_src)
    assert abs(v_a @ s_red @ v_a - p_ng) <= 1e-9 * abs(p_ng)


def test_floating_rows_through_the_plan_use_the_reduced_circuit():
    lo, hw = _mlp_hw(tile=(16, 16), r_driver_ohm=2.0)
    sp = readout.prepare(hw, "circuit", readout.ReadScheme(rows_per_read=4,
                                                           inactive_rows="floating"))
    r = hw.plan[0].reads[0]
    g = sp.groups(r)[0]
    want, _ = readout.reduced_matrices(hw.transfer(r.tile), hw.admittance(r.tile), g.rows, r.cols)
    np.testing.assert_array_equal(g.a, want)
    assert not np.allclose(g.a, hw.transfer(r.tile)[np.ix_(g.rows, r.cols)], rtol=1e-9)


def test_floating_rows_refused_where_the_model_does_not_hold():
    lo, hw = _mlp_hw(tile=(16, 16), drive="both")
    with pytest.raises(readout.ReadSchemeError, match="drive='both'"):
        readout.prepare(hw, "circuit", readout.ReadScheme(inactive_rows="floating"))
    with pytest.raises(readout.ReadSchemeError, match="encoding"):
        readout.ReadScheme(encoding="thermometer")
    with pytest.raises(readout.ReadSchemeError, match="rows_per_read"):
        readout.ReadScheme(rows_per_read=-1)


@pytest.mark.parametrize("inactive,rpr", [("grounded", 0), ("grounded", 3), ("floating", 4)])
def test_bit_serial_with_ideal_converters_is_the_amplitude_read_of_the_quantised_input(
        inactive, rpr):
    lo, hw = _mlp_hw(tile=(16, 16), r_driver_ohm=1.0)
    prep = infer.prepare(hw, "circuit")
    x = np.random.default_rng(2).uniform(0, 1.3, (6, 20))
    outs = {}
    for enc in ("amplitude", "bit-serial", "pwm"):
        sp = readout.prepare(hw, "circuit", readout.ReadScheme(rows_per_read=rpr,
                                                               inactive_rows=inactive,
                                                               encoding=enc), base=prep)
        conv = _calibrate(sp, lo, adc_bits=None)
        outs[enc] = readout.layer_product(sp, 0, x, conv=conv)
        d, fs = conv.conv.dacs[0], conv.conv.x_full_scale[0]
    # the amplitude read of the quantised input, computed independently through the plan
    sp_a = readout.prepare(hw, "circuit", readout.ReadScheme(rows_per_read=rpr,
                                                             inactive_rows=inactive), base=prep)
    want = readout.layer_product(sp_a, 0, d.voltages(x, fs)) / (d.v_read_V / fs)
    for enc, got in outs.items():
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max(),
                                   err_msg=enc)
    # bit planes really are 0 / V_read drives
    pl = readout.planes("bit-serial", d, fs, x, per_level=False)
    assert len(pl) == 4 and all(set(np.unique(v)) <= {0.0, d.v_read_V} for _, v in pl)


def test_pwm_with_sinh_cells_is_solved_at_each_level():
    """Sinh cells: the PWM read is the sum of the n level solves / n, not the amplitude read."""
    lo, hw = _mlp_hw(tile=(16, 16), nonlinear_cells=True, sinh_v0_V=0.05)
    prep = infer.prepare(hw, "circuit")
    sp = readout.prepare(hw, "circuit", readout.ReadScheme(encoding="pwm"), base=prep)
    conv = _calibrate(sp, lo, adc_bits=None, dac_bits=2)
    x = np.random.default_rng(3).uniform(0, 1, (2, 20))
    got = readout.layer_product(sp, 0, x, conv=conv)
    d, fs = conv.conv.dacs[0], conv.conv.x_full_scale[0]
    lp = hw.plan[0]
    want = np.zeros_like(got)
    codes = np.rint(d.quantize(x, fs) / fs * 3)
    for lev in (1, 2, 3):
        v = (codes >= lev) * d.v_read_V
        for r in lp.reads:
            xb = hw.tiles[r.tile]
            full = np.zeros((2, xb.n_rows))
            full[:, r.rows] = r.drive(v)
            i = np.asarray(solver.solve(xb, full).i_out).reshape(2, -1)[:, r.cols]
            want += i @ r.scatter(lp.fan_out) / 3
    want /= lp.scale * d.v_read_V / fs
    np.testing.assert_allclose(got, want, rtol=1e-9)
    amp = readout.prepare(hw, "circuit", readout.ReadScheme(), base=prep)
    assert not np.allclose(readout.layer_product(amp, 0, x, conv=conv), got, rtol=1e-3)


def _toy():
    """2-layer toy: dense 6 -> 4 on tile 0 (rows 0-5, columns 0-7), dense 4 -> 3 on tile 1
    (rows 0-3, columns 0-5), 8 x 8 tiles, columns scheme."""
    net = nn.mlp(6, (4,), 3, input_bits=None, k=1.0)
    x = np.random.default_rng(0).uniform(0, 1, (20, 6))
    lo = loaded(net, x)
    hw = hardware(lo, config(tile=(8, 8)))
    r0, r1 = hw.plan[0].reads[0], hw.plan[1].reads[0]
    assert len(hw.plan[0].reads) == len(hw.plan[1].reads) == 1
    assert (r0.tile, r1.tile) == (0, 1)
    assert list(r0.rows) == list(range(6)) and sorted(r0.cols) == list(range(8))
    assert list(r1.rows) == list(range(4)) and sorted(r1.cols) == list(range(6))
    return lo, hw


TIMING = latency.ReadTiming(name="hand", t_conversion_s=1e-5, t_settle_s=1e-6,
                            t_pwm_slot_s=2e-7, dac_power_per_row_W=1e-3, dac_per_bit=False,
                            adc_energy_per_conversion_J=1e-9, tia_power_per_column_W=2e-3)


def test_counts_by_hand_on_a_two_layer_toy():
    lo, hw = _toy()
    dacs = [DAC(bits=4, v_read_V=0.1)] * 2
    rpi = [1, 1]
    ts, tc, tp = 1e-6, 1e-5, 2e-7

    # all rows, amplitude, one ADC per column: 1 read per layer, 8 + 6 conversions
    sp = readout.prepare(hw, "circuit", readout.ReadScheme())
    c = latency.scheme_cost(sp, rpi, dacs, TIMING, kept_macs=36)
    assert (c.reads, c.cycles, c.conversions) == (2, 2, 14)
    assert c.latency_s == pytest.approx(2 * (ts + tc), rel=1e-12)
    assert c.energy["adc"] == pytest.approx(14e-9, rel=1e-12)
    assert c.energy["dac"] == pytest.approx((6 + 4) * (ts + tc) * 1e-3, rel=1e-12)
    assert c.energy["tia"] == pytest.approx((8 + 6) * (ts + tc) * 2e-3, rel=1e-12)
    # digital: each of the 14 conversions accumulated, each of the 4 + 3 outputs scaled back
    assert (c.adds, c.mults) == (14, 7)
    assert c.energy["digital"] == pytest.approx(14 * 0.1e-12 + 7 * 3.1e-12, rel=1e-12)
    # per-group calibration: a multiply-add per group column (8 + 6), an offset per output
    c = latency.scheme_cost(sp, rpi, dacs, TIMING, kept_macs=36, calibration="group")
    assert (c.adds, c.mults) == (14 + 14 + 7, 7 + 14)

    # 4 rows per read, bit-serial (4 planes), 4 columns per ADC:
    # layer 0: groups rows 0-3 and 4-5, each 4 x (ts + 4 tc), 8 x 4 conversions each;
    # layer 1: one group, 4 x (ts + 4 tc) (columns 0-3 on ADC 0), 6 x 4 conversions.
    sp = readout.prepare(hw, "circuit", readout.ReadScheme(rows_per_read=4,
                                                           encoding="bit-serial",
                                                           columns_per_adc=4))
    c = latency.scheme_cost(sp, rpi, dacs, TIMING, kept_macs=36)
    assert (c.reads, c.cycles, c.conversions) == (3, 12, 88)
    assert (c.adds, c.mults) == (88, 7)                 # a shift-add per plane conversion
    assert c.latency_s == pytest.approx(3 * 4 * (ts + 4 * tc), rel=1e-12)
    assert c.energy["dac"] == pytest.approx((4 + 2 + 4) * 4 * (ts + 4 * tc) * 1e-3, rel=1e-12)

    # pwm, 2 rows per read, 8 columns per ADC: 15 slots + 8 (layer 0) or 6 conversions
    sp = readout.prepare(hw, "circuit", readout.ReadScheme(rows_per_read=2, encoding="pwm",
                                                           columns_per_adc=8))
    c = latency.scheme_cost(sp, [3, 1], dacs, TIMING, kept_macs=36)
    assert (c.reads, c.cycles, c.conversions) == (3 * 3 + 2, 3 * 3 * 15 + 2 * 15,
                                                 3 * 3 * 8 + 2 * 6)
    want = 3 * 3 * (15 * tp + 8 * tc) + 2 * (15 * tp + 6 * tc)
    assert c.latency_s == pytest.approx(want, rel=1e-12)
    assert c.tops_per_w == pytest.approx(2 * 36 / c.energy_J / 1e12, rel=1e-12)
    assert latency.kept_macs(lo, [1, 1]) == 6 * 4 + 4 * 3


def test_array_energy_is_the_source_power_of_each_applied_drive():
    """Grounded groups: v^T Y_aa v per group over its drive time; equals a full solve's power."""
    from rramsim.studies.costs.power import array_power

    lo, hw = _toy()
    dacs = [DAC(bits=4, v_read_V=0.1)] * 2
    v0 = DAC(bits=4, v_read_V=0.1).voltages(np.random.default_rng(4).uniform(0, 1, (3, 6)), 1.0)
    sp = readout.prepare(hw, "circuit", readout.ReadScheme(rows_per_read=4))
    c = latency.scheme_cost(sp, [1, 1], dacs, TIMING, kept_macs=36, voltages={0: v0})
    xb = hw.tiles[0]
    want = 0.0
    for rows in (range(0, 4), range(4, 6)):
        full = np.zeros((3, 8))
        full[:, list(rows)] = v0[:, list(rows)]
        want += float(np.mean(array_power(xb, solver.solve(xb, full), full).source)) * (
            1e-6 + 1e-5)
    assert c.energy["array"] == pytest.approx(want, rel=1e-10)


def test_column_calibration_recovers_a_uniform_shrinkage():
    """High wire resistance shrinks the outputs; per-column gain and offset fitted on the
    calibration batch bring the circuit outputs close to the ideal product."""
    lo, hw = _mlp_hw(tile=(16, 16), r_wire=40.0)
    sp = readout.prepare(hw, "circuit", readout.ReadScheme())
    x = lo.data.x_test
    errs = {}
    for cal in ("ideal_scale", "column"):
        conv = _calibrate(sp, lo, adc_bits=None, calibration=cal)
        y = readout.layer_product(sp, 0, x, conv=conv)
        d, fs = conv.conv.dacs[0], conv.conv.x_full_scale[0]
        ref = d.quantize(x, fs) @ readout.ideal_matrix(sp, 0)
        errs[cal] = np.linalg.norm(y - ref) / np.linalg.norm(ref)
    assert errs["column"] < 0.5 * errs["ideal_scale"]
    g, o = readout.fit_gain_offset(np.array([[1.0, 2.0], [3.0, 2.0]]),
                                   np.array([[2.5, 1.0], [6.5, 3.0]]))
    np.testing.assert_allclose(g, [2.0, 1.0])
    np.testing.assert_allclose(o, [0.5, 0.0])


def _layer0_error(sp, lo, calibration):
    conv = _calibrate(sp, lo, adc_bits=None, calibration=calibration)
    x = lo.data.x_test
    y = readout.layer_product(sp, 0, x, conv=conv)
    d, fs = conv.conv.dacs[0], conv.conv.x_full_scale[0]
    ref = d.quantize(x, fs) @ readout.ideal_matrix(sp, 0)
    return float(np.linalg.norm(y - ref) / np.linalg.norm(ref)), conv


def test_group_calibration_with_one_row_per_read_undoes_any_linear_circuit():
    """One row per read: each partial sum is v_i * T_ij, so the per-group gain G_ij / T_ij of
    the calibration batch makes the corrected product the ideal one on any other input (ideal
    converters), however strong the IR drop."""
    lo, hw = _mlp_hw(tile=(16, 16), r_wire=40.0)
    sp = readout.prepare(hw, "circuit", readout.ReadScheme(rows_per_read=1))
    err, conv = _layer0_error(sp, lo, "group")
    assert err < 1e-10
    assert readout.calibrated_output_error(sp, conv, {0: [lo.data.x_test]}) == pytest.approx(
        err, rel=1e-12, abs=1e-14)
    n_groups = sum(len(sp.groups(r)) for r in hw.plan[0].reads)
    assert len([key for key in conv.group_gain if key[0] == 0]) == n_groups
    err_ideal, conv_i = _layer0_error(sp, lo, "ideal_scale")
    assert err_ideal > 0.05                       # the circuit is far from ideal
    x = lo.data.x_test
    assert readout.calibrated_output_error(sp, conv_i, {0: [x[:7], x[7:]]}) == pytest.approx(
        err_ideal, rel=1e-12)


def test_group_calibration_beats_one_gain_per_column_with_row_groups():
    """Four rows per read on a lossy tile: the per-group gains follow the attenuation along
    the bit lines that one gain per column averages away."""
    lo, hw = _mlp_hw(tile=(16, 16), r_wire=40.0)
    sp4 = readout.prepare(hw, "circuit", readout.ReadScheme(rows_per_read=4))
    e_col, _ = _layer0_error(sp4, lo, "column")
    e_grp, _ = _layer0_error(sp4, lo, "group")
    assert e_grp < 0.5 * e_col


def test_readout_section_of_the_configuration():
    cfg = StudyConfig().replace("readout", rows_per_read=64, encoding="bit-serial",
                                calibration="column")
    assert config_from_toml(to_toml(cfg)) == cfg
    assert cfg.readout.scheme() == readout.ReadScheme(rows_per_read=64, encoding="bit-serial")
    from rramsim.studies.config import ConfigError

    with pytest.raises(ConfigError, match="readout.encoding"):
        config_from_toml('[readout]\nencoding = "ternary"\n')
    with pytest.raises(ConfigError, match="readout.columns_per_adc"):
        config_from_toml("[readout]\ncolumns_per_adc = 0\n")


def test_grounded_tile_error_does_not_depend_on_rows_per_read_but_floating_does():
    """Superposition: the grounded groups' partial sums add up to the all-rows read."""
    lo, hw = _mlp_hw(tile=(16, 16), r_driver_ohm=1.0)
    v = {0: np.random.default_rng(6).uniform(0, 0.1, (4, 20))}
    base = infer.prepare(hw, "circuit")
    err = {(inact, rpr): readout.tile_output_error(
        readout.prepare(hw, "circuit", readout.ReadScheme(rows_per_read=rpr,
                                                          inactive_rows=inact), base=base), v)
        for inact in ("grounded", "floating") for rpr in (0, 4, 2)}
    assert err[("grounded", 4)] == pytest.approx(err[("grounded", 0)], rel=1e-10)
    assert err[("grounded", 2)] == pytest.approx(err[("grounded", 0)], rel=1e-10)
    assert abs(err[("floating", 2)] - err[("grounded", 2)]) > 1e-3 * err[("grounded", 2)]


@pytest.mark.slow
def test_pipeline_report_states_the_scheme_its_calibration_and_the_pareto_plot(tmp_path):
    from rramsim.studies.pipeline import run_pipeline

    net = nn.mlp(6, (4,), 3, input_bits=None)
    x = np.random.default_rng(0).uniform(0, 1, size=(60, 6))
    lo = loaded(net, x, n_calib=30)
    cfg = config(tile=(8, 8), r_wire=200.0).replace("cosim", tiles=0).replace(
        "readout", rows_per_read=4, calibration="column", columns_per_adc=2,
        pareto_rows_per_read=(8, 2))
    res = run_pipeline(cfg, tmp_path, command="pytest", loaded=lo, progress=False,
                       sweeps=False, programming=False)
    rs = res.read_schemes
    assert rs["configured"]["calibration"] == "column"
    assert rs["configured"]["rows_per_read"] == 4
    assert len(rs["pareto"]) == 2 * len(readout.ENCODINGS)
    rep = (tmp_path / "report.md").read_text()
    assert "## Read scheme" in rep and "Calibration used: column" in rep
    assert (tmp_path / "read_schemes_pareto.png").stat().st_size > 1000
    # today's read in the same run: its costs from the evaluation's drives
    res0 = run_pipeline(cfg.replace("readout", rows_per_read=0, calibration="ideal_scale",
                                    columns_per_adc=1, pareto_rows_per_read=()),
                        tmp_path / "d", command="pytest", loaded=lo, progress=False,
                        sweeps=False, programming=False)
    c0 = res0.read_schemes["configured"]
    assert c0["acc_circuit"] == res0.evaluation.accuracy["circuit"]
    assert c0["integrated_conversions"] == 8 + 6      # 4 outputs x 2 + 3 outputs x 2 columns


def test_rerange_sets_each_dac_range_from_its_circuit_mode_inputs():
    """With heavy IR drop, layer 1's inputs shrink in circuit mode; re-ranging takes its DAC
    full scale from them (layer 0 calibrated first), not from the software inputs."""
    from rramsim.studies.inference.quantize import full_scale

    lo, hw = _mlp_hw(tile=(16, 16), r_wire=40.0)
    sp = readout.prepare(hw, "circuit", readout.ReadScheme(rows_per_read=8))
    conv = _calibrate(sp, lo, calibration="rerange")
    seen = []

    def mm(li, x2d, w):
        if li == 0:
            return readout.layer_product(sp, 0, x2d, conv=conv)
        seen.append(np.array(x2d))
        return x2d @ w

    lo.forward(lo.data.x_calib, matmul=mm)
    assert conv.conv.x_full_scale[1] == full_scale(seen[0])
    soft = infer.record_inputs(lo.forward, lo.data.x_calib)
    assert conv.conv.x_full_scale[0] == full_scale(soft[0])
    assert conv.conv.x_full_scale[1] < 0.95 * full_scale(soft[1])


def test_evaluate_point_reports_the_configured_scheme():
    from rramsim.studies.pipeline import evaluate_point

    net = nn.mlp(6, (4,), 3, input_bits=None)
    x = np.random.default_rng(0).uniform(0, 1, size=(40, 6))
    lo = loaded(net, x, n_calib=20)
    cfg = config(tile=(8, 8)).replace("noise", repeats=1, read_noise_rel=0.0)
    cache: dict = {}
    from rramsim.studies.pipeline import network_key

    cache[network_key(cfg)] = lo
    assert "acc_scheme" not in evaluate_point(cfg, cache=cache)
    cfg2 = cfg.replace("readout", rows_per_read=2, encoding="bit-serial", columns_per_adc=4)
    cache[network_key(cfg2)] = lo
    got = evaluate_point(cfg2, cache=cache)
    assert 0 <= got["acc_scheme"] <= 1 and got["scheme_latency_s"] > 0
    # per inference (the toy's layout): layer 0: 3 groups of 2 rows, 4 bit planes, 8 columns
    # on 2 ADCs -> 4 slots; layer 1: 2 groups, 6 columns -> 4 slots (columns 0-3 on ADC 0)
    t = latency.TIMINGS[cfg.converters.preset]
    want = (3 + 2) * 4 * (t.t_settle_s + 4 * t.t_conversion_s)
    assert got["scheme_latency_s"] == pytest.approx(want, rel=1e-12)
