"""Netlists: golden text of a small deck, and ngspice against analytic answers.

Tolerances: ngspice solves linear tiles directly (options in the deck make its Newton loop exact), so
analytic answers hold to 1e-9 relative (asserted); most hold to ~1e-14.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from helpers import process_gone

from rramsim import netlists
from rramsim.crossbar import Crossbar, FiniteGainTIA, IdealTIA, SenseResistor
from rramsim.errors import CrossbarError, OutputError, SpiceError
from rramsim.netlists import ngspice

DATA = Path(__file__).parent / "data"
RTOL = 1e-9


def rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def golden_tile():
    g = np.array([[10e-6, 20e-6], [40e-6, 80e-6]])
    return Crossbar(g, r_wordline=1.5, r_bitline=2.5, r_driver=10.0,
                    sense=IdealTIA(r_feedback=20e3))


def test_render_2x2_golden_text():
    text = netlists.render(golden_tile(), [0.1, -0.2])
    expected = (DATA / "golden_2x2.cir").read_text()
    assert text == expected.replace("{version}", netlists.tile.__version__)


def test_render_is_pure_and_deterministic():
    xb = golden_tile()
    assert netlists.render(xb, [0.1, 0.2]) == netlists.render(xb, [0.1, 0.2])
    with pytest.raises(CrossbarError):
        netlists.render(xb, [0.1, 0.2, 0.3])


def test_zero_resistances_merge_nodes():
    xb = Crossbar(np.full((2, 3), 1e-5))  # every wire and driver 0
    text = netlists.render(xb, [0.1, 0.2])
    assert " 0\n" not in text.replace("dc 0\n", "")  # no 0-ohm resistor written
    assert "rw_" not in text and "rb_" not in text and "rd_" not in text
    assert "rc_1_2 in_1 s_2 " in text


def test_write_deck_is_atomic(tmp_path):
    path = netlists.write_deck(tmp_path / "sub" / "tile.cir", "t\n.end\n")
    assert path.read_text() == "t\n.end\n"
    assert [p.name for p in path.parent.iterdir()] == ["tile.cir"]


@pytest.mark.ngspice
@pytest.mark.parametrize("backend", ["shared", "subprocess"])
def test_golden_deck_runs_in_ngspice(backend):
    xb = golden_tile()
    v = np.array([0.1, -0.2])
    res = ngspice.run(netlists.render(xb, v), [["op"]], backend=backend)[0]
    sol = netlists.simulate(xb, v, backend=backend)
    np.testing.assert_allclose([res["i(vam_0)"][0], res["i(vam_1)"][0]], sol.i_out, rtol=1e-15)
    assert sol.backend == f"ngspice-{backend}"


@pytest.mark.ngspice
def test_zero_wire_resistance_is_v_dot_g(rng):
    g = rng.uniform(0.1e-6, 100e-6, size=(12, 9))
    v = rng.uniform(-0.2, 0.2, size=(3, 12))
    sol = netlists.simulate(Crossbar(g), v)
    assert rel(sol.i_out, v @ g) <= RTOL
    np.testing.assert_allclose(sol.i_in, v * (g.sum(axis=1)), rtol=1e-9)


@pytest.mark.ngspice
def test_1x1_with_every_series_resistance():
    g, rd, rw, rb, ra, v = 50e-6, 7.0, 3.0, 5.0, 2e3, 0.15
    sol = netlists.simulate(Crossbar(np.array([[g]]), r_driver=rd, r_wordline=rw, r_bitline=rb,
                                     r_access=ra), [v])
    i = v / (rd + rw + ra + 1 / g + rb)
    assert rel(sol.i_out, [i]) <= RTOL
    assert rel(sol.i_in, [i]) <= RTOL
    assert abs(sol.v_wordline[0, 0] - (v - i * (rd + rw))) <= 1e-12
    assert abs(sol.v_bitline[0, 0] - i * rb) <= 1e-12


@pytest.mark.ngspice
def test_2x2_wordline_resistance_hand_solved():
    # r_bitline = 0: rows are independent ladders. Row i: V -rw- a -rw- b, cells G0 (a) and G1 (b)
    # to virtual ground. b = a / (1 + rw G1); (V - a)/rw = G0 a + (a - b)/rw.
    g = np.array([[20e-6, 60e-6], [90e-6, 5e-6]])
    rw = 400.0  # large so the effect is far above rounding
    v = np.array([0.2, -0.1])
    sol = netlists.simulate(Crossbar(g, r_wordline=rw), v)
    wl = np.empty((2, 2))
    for i in range(2):
        g0, g1 = g[i]
        k = 1.0 / (1.0 + rw * g1)  # b = k a
        a = v[i] / (1.0 + rw * g0 + (1.0 - k))
        wl[i] = [a, k * a]
    assert rel(sol.v_wordline, wl) <= RTOL
    assert rel(sol.i_out, (wl * g).sum(axis=0)) <= RTOL


@pytest.mark.ngspice
def test_2x2_bitline_resistance_hand_solved():
    # r_wordline = 0: columns independent. Column j, nodes x0 = BL(0,j), x1 = BL(1,j):
    #   G0 (V0 - x0) = (x0 - x1)/rb ;  G1 (V1 - x1) + (x0 - x1)/rb = x1/rb ;  i_out = x1 / rb.
    g = np.array([[20e-6, 60e-6], [90e-6, 5e-6]])
    rb = 700.0
    v = np.array([0.2, -0.1])
    sol = netlists.simulate(Crossbar(g, r_bitline=rb), v)
    for j in range(2):
        g0, g1 = g[:, j]
        a = np.array([[g0 + 1 / rb, -1 / rb], [-1 / rb, g1 + 2 / rb]])
        rhs = np.array([g0 * v[0], g1 * v[1]])
        det = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]  # Cramer's rule
        x0 = (rhs[0] * a[1, 1] - a[0, 1] * rhs[1]) / det
        x1 = (a[0, 0] * rhs[1] - a[1, 0] * rhs[0]) / det
        assert rel(sol.v_bitline[:, j], [x0, x1]) <= RTOL
        assert rel([sol.i_out[j]], [x1 / rb]) <= RTOL


@pytest.mark.ngspice
def test_drive_both_symmetric_row():
    # A row with mirror-symmetric cells, driven at both ends: symmetric word-line profile, and for a
    # 1 x 2 row with equal cells each node is V / (1 + rw G) (rd = 0).
    g = np.array([[10e-6, 30e-6, 50e-6, 50e-6, 30e-6, 10e-6]])
    sol = netlists.simulate(Crossbar(g, r_wordline=200.0, r_driver=50.0, drive="both"), [0.2])
    np.testing.assert_allclose(sol.v_wordline[0], sol.v_wordline[0, ::-1], rtol=1e-12)
    assert sol.v_wordline[0, 2] < sol.v_wordline[0, 0] < 0.2
    gg, rw, v = 40e-6, 300.0, 0.15
    sol = netlists.simulate(Crossbar(np.full((1, 2), gg), r_wordline=rw, drive="both"), [v])
    assert rel(sol.v_wordline[0], [v / (1 + rw * gg)] * 2) <= RTOL
    assert rel(sol.i_in, [2 * gg * v / (1 + rw * gg)]) <= RTOL


@pytest.mark.ngspice
def test_drive_both_with_zero_series_resistance_keeps_one_source():
    g = np.full((2, 3), 10e-6)
    sol = netlists.simulate(Crossbar(g, r_bitline=10.0, drive="both"), [0.1, 0.2])
    ref = netlists.simulate(Crossbar(g, r_bitline=10.0, drive="left"), [0.1, 0.2])
    assert rel(sol.i_out, ref.i_out) <= 1e-14


@pytest.mark.ngspice
def test_ideal_tia_output():
    g = np.array([[30e-6, 10e-6], [5e-6, 70e-6]])
    rf = 12e3
    sol = netlists.simulate(Crossbar(g, r_wordline=2.0, r_bitline=2.0, sense=IdealTIA(rf)),
                            [0.1, 0.2])
    np.testing.assert_allclose(sol.v_tia, -rf * sol.i_out, rtol=1e-12)
    np.testing.assert_array_equal(sol.v_sense, 0.0)


@pytest.mark.ngspice
def test_finite_gain_tia_formula():
    # 1 x 1: i = (V - V_S) G with V_S = i Rf / (1 + A) -> i = V G / (1 + G Rf / (1 + A)).
    g, rf, a, v = 80e-6, 10e3, 50.0, 0.2
    sol = netlists.simulate(Crossbar(np.array([[g]]), sense=FiniteGainTIA(rf, a)), [v])
    i = v * g / (1 + g * rf / (1 + a))
    assert rel(sol.i_out, [i]) <= RTOL
    assert rel(sol.v_sense, [i * rf / (1 + a)]) <= RTOL
    assert rel(sol.v_tia, [-a * rf * i / (1 + a)]) <= RTOL


@pytest.mark.ngspice
def test_sense_resistor():
    g, rs, v = 80e-6, 1e3, 0.2
    sol = netlists.simulate(Crossbar(np.array([[g]]), sense=SenseResistor(rs)), [v])
    assert rel(sol.i_out, [v / (1 / g + rs)]) <= RTOL
    assert sol.v_tia is None


@pytest.mark.ngspice
def test_batch_equals_single_inputs(rng):
    g = rng.uniform(1e-6, 100e-6, size=(6, 5))
    xb = Crossbar(g, r_wordline=3.0, r_bitline=1.0, r_driver=5.0, drive="both")
    v = rng.uniform(-0.2, 0.2, size=(4, 6))
    batch = netlists.simulate(xb, v)
    assert batch.i_out.shape == (4, 5) and batch.v_wordline.shape == (4, 6, 5)
    for b in range(4):
        single = netlists.simulate(xb, v[b])
        np.testing.assert_allclose(batch.i_out[b], single.i_out, rtol=1e-13)
        np.testing.assert_allclose(batch.v_bitline[b], single.v_bitline, rtol=1e-13, atol=1e-18)


@pytest.mark.ngspice
def test_sinh_cells_single_cell_bisection():
    # One non-linear cell in series with a resistor: solve V = i R + v0 asinh(i / (G v0)) by bisection.
    g, v0, r, v = 100e-6, 0.25, 2e3, 0.6
    sol = netlists.simulate(Crossbar(np.array([[g]]), r_wordline=r, sinh_v0=v0), [v])
    lo, hi = 0.0, v / r
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid * r + v0 * np.arcsinh(mid / (g * v0)) > v:
            hi = mid
        else:
            lo = mid
    assert rel(sol.i_out, [lo]) <= 1e-9


@pytest.mark.ngspice
def test_ngspice_errors_carry_its_message():
    with pytest.raises(SpiceError, match="singular matrix"):
        ngspice.run("floating\nv1 a 0 1\nr1 b c 1k\n.end\n", [["op"]])
    with pytest.raises(SpiceError, match="(?i)modelname|error"):
        ngspice.run("bad\nv1 a 0 1\nq1 a b\n.end\n", [["op"]], backend="subprocess")


def test_missing_ngspice_is_a_spice_error(monkeypatch):
    monkeypatch.setattr(ngspice.shutil, "which", lambda name: None)
    with pytest.raises(SpiceError, match="apt-get install ngspice libngspice0"):
        ngspice.run("t\nv1 a 0 1\nr1 a 0 1\n.end\n", [["op"]], backend="subprocess")


def test_read_rawfile_rejects_garbage():
    with pytest.raises(SpiceError, match="Binary"):
        ngspice.read_rawfile(b"Title: x\nNo. Variables: 1\n")


# ---------------------------------------------------------------------------------- reliability
def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
@pytest.mark.ngspice
def test_shared_library_frees_each_circuit(rng):
    """500 simulate calls on 16 x 16 tiles: the process grows by less than 20 MB.

    (Without freeing, ngspice keeps every circuit: about 1.2 MB per call, 600 MB here.)
    """
    xb = Crossbar(rng.uniform(1e-6, 2e-5, (16, 16)), r_wordline=2.0, r_bitline=2.0)
    v = rng.uniform(0, 0.2, 16)
    first = netlists.simulate(xb, v, backend="shared")
    for _ in range(20):  # warm-up: PySpice's and ngspice's own buffers
        netlists.simulate(xb, v, backend="shared")
    before = _rss_mb()
    for _ in range(500):
        last = netlists.simulate(xb, v, backend="shared")
    grown = _rss_mb() - before
    assert grown < 20.0, f"RSS grew by {grown:.1f} MB over 500 calls"
    np.testing.assert_array_equal(last.i_out, first.i_out)


@pytest.fixture
def hanging_ngspice(tmp_path, monkeypatch):
    """An ``ngspice`` on PATH that never finishes (and starts a child that would outlive it)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    pids = tmp_path / "pids"
    exe = bindir / "ngspice"
    exe.write_text(f"#!/bin/sh\nsleep 600 &\necho $$ $! > {pids}\nwait\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return pids




def test_hung_binary_is_a_spice_error_and_is_killed(hanging_ngspice):
    with pytest.raises(SpiceError, match="time limit of 1 s"):
        ngspice.run("t\nv1 a 0 1\nr1 a 0 1\n.end\n", [["op"]], backend="subprocess", timeout=1.0)
    shell, child = (int(p) for p in hanging_ngspice.read_text().split())
    assert process_gone(shell) and process_gone(child)


def test_timeout_from_the_environment(hanging_ngspice, monkeypatch):
    monkeypatch.setenv(ngspice.TIMEOUT_ENV, "0.5")
    xb = Crossbar(np.full((2, 2), 1e-5))
    with pytest.raises(SpiceError, match="time limit of 0 s|time limit of 1 s"):
        netlists.simulate(xb, [0.1, 0.2], backend="subprocess")
    monkeypatch.setenv(ngspice.TIMEOUT_ENV, "soon")
    with pytest.raises(SpiceError, match=ngspice.TIMEOUT_ENV):
        netlists.simulate(xb, [0.1, 0.2], backend="subprocess")
    with pytest.raises(SpiceError, match="timeout must be a positive"):
        ngspice.run("t\n.end\n", [["op"]], timeout=-1)


def test_default_timeout_scales_with_the_tile():
    def limit(n):
        return ngspice.default_timeout(ngspice.estimate(3 * n * n)[0])

    # small tiles: the floor, seconds (a 16 x 16 tile runs in about 0.06 s)
    assert limit(8) == limit(16) == limit(32) == ngspice.TIMEOUT_MIN <= 10.0
    # a 64 x 64 tile takes 3-20 s on a quiet to heavily loaded 2-core machine: its limit covers that
    assert limit(64) > 20.0
    # from ~50 x 50 on the limit follows the estimate: 20x its seconds
    for n in (64, 96, 128):
        t = ngspice.estimate(3 * n * n)[0]
        assert limit(n) == pytest.approx(ngspice.TIMEOUT_FACTOR * t, rel=1e-12)
    assert limit(256) > limit(128) > limit(96) > ngspice.TIMEOUT_MIN


@pytest.mark.slow
@pytest.mark.ngspice
def test_shared_timeout_abandons_the_run_and_recovers():
    big = Crossbar(np.full((48, 48), 1e-5), r_wordline=2.0, r_bitline=2.0)  # ~0.4 s in ngspice
    with pytest.raises(SpiceError, match="time limit"):
        netlists.simulate(big, np.full(48, 0.1), backend="shared", timeout=0.02)
    small = golden_tile()
    sol = netlists.simulate(small, [0.1, -0.2], backend="shared")  # waits for the abandoned op
    ref = ngspice.run(netlists.render(small, [0.1, -0.2]), [["op"]], backend="subprocess")[0]
    np.testing.assert_allclose(sol.i_out, [ref["i(vam_0)"][0], ref["i(vam_1)"][0]], rtol=1e-15)
    assert not ngspice.busy()


def test_values_a_deck_cannot_hold_are_refused_naming_the_cell():
    g = np.full((3, 3), 1e-5)
    g[1, 2] = 5e-324  # legal (>= 0, finite) but 1/G = inf
    with pytest.raises(CrossbarError, match=r"cell \[1, 2\].*1/conductance = inf"):
        netlists.render(Crossbar(g), np.zeros(3))
    g = np.full((2, 2), 1e-5)
    g[0, 1] = 1e300
    with pytest.raises(CrossbarError, match=r"cell \[0, 1\].*amplitude"):
        netlists.render(Crossbar(g, sinh_v0=1e10))
    with pytest.raises(CrossbarError, match="r_wordline = 1e-320"):
        netlists.render(Crossbar(np.full((2, 2), 1e-5), r_wordline=1e-320))
    with pytest.raises(CrossbarError, match=r"v_in\[1\] = 1e-310"):
        netlists.render(Crossbar(np.full((2, 2), 1e-5)), [0.1, 1e-310])
    # The smallest normal numbers are written and read back exactly.
    text = netlists.render(Crossbar(np.full((1, 1), 1e300)), [2.2250738585072014e-308])
    assert "rc_0_0 in_0 s_0 1e-300" in text and "dc 2.2250738585072014e-308" in text


def test_write_deck_keeps_permissions_and_follows_links(tmp_path):
    old = os.umask(0o022)
    try:
        path = netlists.write_deck(tmp_path / "new.cir", "t\n.end\n")
        assert path.stat().st_mode & 0o777 == 0o644
        existing = tmp_path / "shared.cir"
        existing.write_text("old")
        existing.chmod(0o664)
        netlists.write_deck(existing, "t\n.end\n")
        assert existing.stat().st_mode & 0o777 == 0o664 and existing.read_text() == "t\n.end\n"
        link = tmp_path / "link.cir"
        link.symlink_to(existing)
        netlists.write_deck(link, "t2\n.end\n")
        assert link.is_symlink() and existing.read_text() == "t2\n.end\n"
    finally:
        os.umask(old)
    with pytest.raises(OutputError, match="is a directory"):
        netlists.write_deck(tmp_path, "t\n.end\n")
