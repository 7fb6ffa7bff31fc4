"""Energy bookkeeping against hand-solved small circuits: source power = cell + wire + ... power.

The node voltages below come from series/parallel formulas or a hand-written nodal system, not from
the project's solver, so these tests check the bookkeeping on its own.
"""

import numpy as np
import pytest

from rramsim.crossbar import Crossbar, FiniteGainTIA, SenseResistor
from rramsim.solution import Solution
from rramsim.studies.costs.energy import (
    BOARD,
    INTEGRATED,
    STUDY_IMPROVEMENT,
    EnergyError,
    EnergyLedger,
    GPUBaseline,
    dense_macs,
    improvement,
)
from rramsim.studies.costs.power import array_power, source_power

RTOL = 1e-12


def _series_1x1(v, *, g, rd=0.0, rw=0.0, rb=0.0, ra=None, sense_r=0.0):
    """1 x 1 tile: every element in series; returns current and node voltages."""
    r_cell = 1.0 / g + (ra or 0.0)
    i = v / (rd + rw + r_cell + rb + sense_r)
    v_wl = v - i * (rd + rw)
    v_s = i * sense_r
    v_bl = v_s + i * rb
    sol = Solution(i_out=np.array([i]), v_wordline=np.array([[v_wl]]),
                   v_bitline=np.array([[v_bl]]), v_sense=np.array([v_s]), i_in=np.array([i]))
    return i, sol


def test_1x1_series_split_by_hand():
    g, rd, rw, rb, v = 20e-6, 50.0, 2.0, 3.0, 0.2
    xb = Crossbar(conductance=[[g]], r_driver=rd, r_wordline=rw, r_bitline=rb)
    i, sol = _series_1x1(v, g=g, rd=rd, rw=rw, rb=rb)
    p = array_power(xb, sol, [v])
    assert p.source[0] == pytest.approx(v * i, rel=RTOL)
    assert p.driver[0] == pytest.approx(i**2 * rd, rel=RTOL)
    assert p.wordline[0] == pytest.approx(i**2 * rw, rel=RTOL)
    assert p.bitline[0] == pytest.approx(i**2 * rb, rel=RTOL)
    assert p.cells[0] == pytest.approx(i**2 / g, rel=RTOL)
    assert p.sense[0] == 0.0 and p.access[0] == 0.0
    assert p.dissipated[0] == pytest.approx(p.source[0], rel=RTOL)
    assert p.wires[0] == pytest.approx(i**2 * (rw + rb), rel=RTOL)


def test_1x1_access_transistor_and_sense_resistor():
    g, ra, rs, v = 50e-6, 5e3, 1e3, 0.1
    xb = Crossbar(conductance=[[g]], r_access=ra, sense=SenseResistor(rs), r_bitline=1.0)
    i, sol = _series_1x1(v, g=g, ra=ra, rb=1.0, sense_r=rs)
    p = array_power(xb, sol, [v])
    assert p.cells[0] == pytest.approx(i**2 / g, rel=RTOL)
    assert p.access[0] == pytest.approx(i**2 * ra, rel=RTOL)
    assert p.sense[0] == pytest.approx(i**2 * rs, rel=RTOL)
    assert p.dissipated[0] == pytest.approx(p.source[0], rel=RTOL)


def test_1x1_finite_gain_tia_input_power():
    # V_S = i R_f / (1 + A): the array sees R_f / (1 + A) to ground.
    g, rf, a, v = 100e-6, 1e4, 1e2, 0.15
    xb = Crossbar(conductance=[[g]], sense=FiniteGainTIA(r_feedback=rf, open_loop_gain=a))
    i, sol = _series_1x1(v, g=g, sense_r=rf / (1 + a))
    p = array_power(xb, sol, [v])
    assert p.sense[0] == pytest.approx(i**2 * rf / (1 + a), rel=RTOL)
    assert p.dissipated[0] == pytest.approx(p.source[0], rel=RTOL)


def test_1x1_sinh_cell_without_and_with_access():
    g, v0, v = 30e-6, 0.25, 0.2
    i = g * v0 * np.sinh(v / v0)
    xb = Crossbar(conductance=[[g]], sinh_v0=v0)
    sol = Solution(i_out=np.array([i]), v_wordline=np.array([[v]]), v_bitline=np.array([[0.0]]),
                   v_sense=np.array([0.0]), i_in=np.array([i]))
    p = array_power(xb, sol, [v])
    assert p.cells[0] == pytest.approx(v * i, rel=RTOL)
    assert p.dissipated[0] == pytest.approx(p.source[0], rel=RTOL)

    # with a 10 kOhm access transistor: solve the scalar cell voltage by bisection (independent)
    ra = 1e4
    lo, hi = 0.0, v
    for _ in range(200):
        u = 0.5 * (lo + hi)
        if g * v0 * np.sinh(u / v0) > (v - u) / ra:
            hi = u
        else:
            lo = u
    i2 = (v - u) / ra
    xb2 = Crossbar(conductance=[[g]], sinh_v0=v0, r_access=ra)
    sol2 = Solution(i_out=np.array([i2]), v_wordline=np.array([[v]]),
                    v_bitline=np.array([[0.0]]), v_sense=np.array([0.0]), i_in=np.array([i2]))
    p2 = array_power(xb2, sol2, [v])
    assert p2.access[0] == pytest.approx(i2**2 * ra, rel=1e-9)
    assert p2.cells[0] == pytest.approx(i2 * u, rel=1e-9)
    assert p2.dissipated[0] == pytest.approx(p2.source[0], rel=1e-9)


def _solve_2x1(v, g, rd, rw, rb):
    """2 rows x 1 column, hand-written nodal equations for WL0, WL1, B0, B1 (ideal TIA at S)."""
    re = rd + rw
    g0, g1 = g
    a = np.array([
        [1 / re + g0, 0, -g0, 0],
        [0, 1 / re + g1, 0, -g1],
        [-g0, 0, g0 + 1 / rb, -1 / rb],
        [0, -g1, -1 / rb, g1 + 2 / rb],
    ])
    rhs = np.array([v[0] / re, v[1] / re, 0, 0])
    wl0, wl1, b0, b1 = np.linalg.solve(a, rhs)
    i_in = np.array([(v[0] - wl0) / re, (v[1] - wl1) / re])
    i_out = b1 / rb
    return Solution(i_out=np.array([i_out]), v_wordline=np.array([[wl0], [wl1]]),
                    v_bitline=np.array([[b0], [b1]]), v_sense=np.array([0.0]), i_in=i_in)


def test_2x1_bitline_segments_by_hand():
    g, rd, rw, rb = (40e-6, 10e-6), 100.0, 2.0, 1e3   # large rb to make the bit-line terms visible
    v = np.array([0.2, 0.1])
    sol = _solve_2x1(v, g, rd, rw, rb)
    xb = Crossbar(conductance=np.array([[g[0]], [g[1]]]), r_driver=rd, r_wordline=rw,
                  r_bitline=rb)
    p = array_power(xb, sol, v)
    b0, b1 = sol.v_bitline[:, 0]
    assert p.bitline[0] == pytest.approx(((b0 - b1) ** 2 + b1**2) / rb, rel=RTOL)
    i0, i1 = sol.i_in
    assert p.driver[0] == pytest.approx((i0**2 + i1**2) * rd, rel=RTOL)
    assert p.dissipated[0] == pytest.approx(p.source[0], rel=1e-10)
    # KCL sanity of the hand solution: all input current reaches the sense node
    assert sol.i_out[0] == pytest.approx(i0 + i1, rel=1e-10)


def test_1x2_drive_both_symmetric_by_hand():
    # One row, two equal cells, driven from both ends: by symmetry each end supplies G V_c.
    g, rd, rw, v = 25e-6, 20.0, 4.0, 0.1
    # node voltage u at each WL node: (v - u)/(rd + rw) = g*u  (no current in the middle segment)
    u = v / (1 + g * (rd + rw))
    i_end = g * u
    sol = Solution(i_out=np.array([i_end, i_end]), v_wordline=np.array([[u, u]]),
                   v_bitline=np.zeros((1, 2)), v_sense=np.zeros(2), i_in=np.array([2 * i_end]))
    xb = Crossbar(conductance=[[g, g]], r_driver=rd, r_wordline=rw, drive="both")
    p = array_power(xb, sol, [v])
    assert p.driver[0] == pytest.approx(2 * i_end**2 * rd, rel=RTOL)
    assert p.wordline[0] == pytest.approx(2 * i_end**2 * rw, rel=RTOL)
    assert p.dissipated[0] == pytest.approx(p.source[0], rel=RTOL)


def test_batch_and_zero_wires():
    g = np.array([[1e-5, 2e-5], [3e-5, 4e-5]])
    v = np.array([[0.1, 0.2], [0.0, 0.1]])
    xb = Crossbar(conductance=g)
    sol = Solution(i_out=v @ g, v_wordline=np.repeat(v[:, :, None], 2, axis=2),
                   v_bitline=np.zeros((2, 2, 2)), v_sense=np.zeros((2, 2)), i_in=v * g.sum(1))
    p = array_power(xb, sol, v)
    expect = np.einsum("bi,ij->b", v**2, g)
    np.testing.assert_allclose(p.source, expect, rtol=RTOL)
    np.testing.assert_allclose(p.cells, expect, rtol=RTOL)
    assert np.all(p.wires == 0)
    # the quadratic form with the zero-wire admittance diag(sum_j G_ij) gives the same power
    np.testing.assert_allclose(source_power(np.diag(g.sum(1)), v), expect, rtol=RTOL)


def test_converter_presets_numbers():
    assert BOARD.t_read_s == pytest.approx(20e-6)
    assert BOARD.adc_energy_per_conversion_J == pytest.approx(50e-9)      # 2.5 mW / 50 kS/s
    assert BOARD.dac_energy_per_row_J == pytest.approx(3.3e-3 * 20e-6)    # 0.6 mA * 5.5 V
    assert BOARD.tia_energy_per_column_J == pytest.approx(2.7e-3 * 20e-6)  # 1.5 mA * 1.8 V
    assert INTEGRATED.adc_energy_per_conversion_J == pytest.approx(2.583e-12, rel=1e-3)
    assert GPUBaseline().energy_per_mac_J == pytest.approx(38.2e-12, rel=1e-3)
    assert STUDY_IMPROVEMENT["Fashion-MNIST"] == 0.821


def test_ledger_and_gpu():
    led = EnergyLedger()
    led.add_reads(layer="fc1", tile=0, array_J=1e-12, rows_driven=64, columns_read=32,
                  reads=1, figures=BOARD)
    t = led.totals()
    assert t["dac_J"] == pytest.approx(64 * BOARD.dac_energy_per_row_J)
    assert t["adc_J"] == pytest.approx(32 * 50e-9)
    assert t["total_J"] == pytest.approx(sum(t[k] for k in ("array_J", "dac_J", "adc_J", "tia_J")))
    assert dense_macs([(64, 32), (32, 10)]) == 64 * 32 + 320
    led2 = EnergyLedger()
    led2.add_reads(layer="fc1", tile=0, array_J=0.0, rows_driven=10, columns_read=4, reads=2,
                   figures=INTEGRATED, dac_bits=4)
    t2 = led2.totals()
    assert t2["dac_J"] == pytest.approx(10 * 2 * 4 * 4e-3 / 1024 * 100e-9)   # per input bit
    assert t2["adc_J"] == pytest.approx(4 * 2 * 3.1e-3 / 1.2e9)
    assert improvement(1.0, 4.0) == 0.75
    with pytest.raises(EnergyError):
        improvement(1.0, 0.0)
    with pytest.raises(EnergyError):
        GPUBaseline(energy_per_mac_J=-1)


@pytest.mark.ngspice
@pytest.mark.parametrize("opts", [
    dict(r_wordline=2.0, r_bitline=3.0, r_driver=10.0),
    dict(r_wordline=5.0, r_bitline=5.0, drive="both", r_access=2e3),
    dict(r_wordline=1.0, r_bitline=0.0, sense=FiniteGainTIA(1e4, 1e3)),
    dict(r_wordline=2.0, r_bitline=2.0, sense=SenseResistor(200.0), sinh_v0=0.25),
    dict(r_wordline=2.0, r_bitline=2.0, sinh_v0=0.25, r_access=1e4),
])
def test_power_balance_on_ngspice_solution(opts):
    """Tellegen on ngspice's node voltages: source power = sum of branch dissipations (1e-9)."""
    from rramsim import netlists

    rng = np.random.default_rng(5)
    g = rng.uniform(1e-6, 100e-6, size=(4, 3))
    xb = Crossbar(conductance=g, **opts)
    v = rng.uniform(0.0, 0.2, size=(2, 4))
    sol = netlists.simulate(xb, v)
    p = array_power(xb, sol, v)
    np.testing.assert_allclose(p.dissipated, p.source, rtol=1e-9)
    assert np.all(p.cells > 0) and np.all(p.source > 0)
