"""Validation of the tile description: bad input gets a CrossbarError naming the field."""

import numpy as np
import pytest

from rramsim.crossbar import Crossbar, FiniteGainTIA, IdealTIA, SenseResistor
from rramsim.errors import CrossbarError, RramsimError


def test_valid_tile_is_frozen_and_copies_input():
    g = np.full((3, 4), 1e-5)
    xb = Crossbar(g, r_wordline=1.0, r_bitline=2.0)
    g[0, 0] = 5.0  # the caller's array changes; the tile does not
    assert xb.conductance[0, 0] == 1e-5
    assert xb.shape == (3, 4)
    with pytest.raises(ValueError):
        xb.conductance[0, 0] = 1.0
    with pytest.raises(AttributeError):
        xb.r_wordline = 3.0


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(conductance=np.ones(3)), "conductance"),
        (dict(conductance=np.array([[1e-5, np.nan]])), "conductance[0, 1]"),
        (dict(conductance=np.array([[1e-5, -1e-6]])), "conductance"),
        (dict(conductance=np.ones((2, 2)), r_wordline=-1), "r_wordline"),
        (dict(conductance=np.ones((2, 2)), r_bitline=np.inf), "r_bitline"),
        (dict(conductance=np.ones((2, 2)), r_driver="x"), "r_driver"),
        (dict(conductance=np.ones((2, 2)), drive="right"), "drive"),
        (dict(conductance=np.ones((2, 2)), sense="tia"), "sense"),
        (dict(conductance=np.ones((2, 2)), r_access=np.ones((3, 2))), "r_access"),
        (dict(conductance=np.ones((2, 2)), r_access=0.0), "r_access"),
        (dict(conductance=np.ones((2, 2)), sinh_v0=-0.25), "sinh_v0"),
    ],
)
def test_bad_tiles_name_the_field(kwargs, field):
    with pytest.raises(CrossbarError, match=field.replace("[", r"\[").replace("]", r"\]")):
        Crossbar(**kwargs)


@pytest.mark.parametrize("sense", [lambda: IdealTIA(0.0), lambda: FiniteGainTIA(1e3, 0.0),
                                   lambda: FiniteGainTIA(-1.0, 1e3), lambda: SenseResistor(0.0)])
def test_bad_sense_circuits(sense):
    with pytest.raises(CrossbarError):
        sense()


def test_input_validation():
    xb = Crossbar(np.full((3, 2), 1e-5))
    v, batched = xb.check_input([0.1, 0.2, 0.3])
    assert v.shape == (1, 3) and not batched
    v, batched = xb.check_input(np.zeros((5, 3)))
    assert v.shape == (5, 3) and batched
    with pytest.raises(CrossbarError, match="width 2 but the tile has M=3"):
        xb.check_input(np.zeros((4, 2)))
    with pytest.raises(CrossbarError, match=r"v_in\[0, 1\] is not finite"):
        xb.check_input([0.1, np.nan, 0.0])
    with pytest.raises(CrossbarError, match="shape"):
        xb.check_input(np.zeros((2, 2, 3)))
    assert issubclass(CrossbarError, RramsimError)


def test_effective_conductance_series_access():
    g = np.array([[1e-4, 0.0]])
    xb = Crossbar(g, r_access=5e3)
    np.testing.assert_allclose(xb.effective_conductance(), [[1.0 / (1e4 + 5e3), 0.0]], rtol=1e-15)


def test_sense_circuits_state_their_circuit():
    """Each sense circuit's conductance to ground, output voltage, netlist elements, current read
    back from a SPICE run and power, against the circuit equations of its docstring."""
    i_out = np.array([[2e-6, -1e-6, 0.0]])
    ideal = IdealTIA(1e4)
    tia = FiniteGainTIA(r_feedback=1e3, open_loop_gain=99.0)
    res = SenseResistor(250.0)
    # ideal TIA: S_j is ground, V_o = -R_f i, an ammeter's current is i_out
    assert ideal.ground_conductance() is None
    np.testing.assert_array_equal(ideal.output_voltage(i_out, np.zeros(3)), -1e4 * i_out)
    assert [e.kind for e in ideal.elements(2, "s_2")] == ["ammeter", "ccvs"]
    assert ideal.elements(2, "s_2")[1].control == ideal.elements(2, "s_2")[0].name
    got = ideal.measured_current(np.zeros((1, 3)), None,
                                 lambda name: np.array([{"vam_0": 2e-6, "vam_1": -1e-6,
                                                         "vam_2": 0.0}[name]]))
    np.testing.assert_array_equal(got, i_out)
    np.testing.assert_array_equal(ideal.power(i_out, np.zeros((1, 3))), [0.0])
    # finite gain A: the current into S_j is (1 + A) V_S / R_f, V_o = -A V_S
    v_s = i_out * 1e3 / 100.0
    assert tia.ground_conductance() == pytest.approx(0.1, rel=1e-15)
    np.testing.assert_allclose(tia.output_voltage(i_out, v_s), -99.0 * v_s, rtol=1e-15)
    np.testing.assert_allclose(tia.measured_current(v_s, -99.0 * v_s, None), i_out, rtol=1e-15)
    np.testing.assert_allclose(tia.power(i_out, v_s), [np.sum(i_out * v_s)], rtol=1e-15)
    assert tia.output_node(0) == "o_0" and tia.max_transimpedance() == 99.0 * 1e3
    # sense resistor: 1/R to ground, V_S = R i, no output node
    assert res.ground_conductance() == 1.0 / 250.0 and res.output_node(0) is None
    assert res.output_voltage(i_out, 250.0 * i_out) is None
    assert res.elements(1, "s_1") == (("resistor", "rs_1", ("s_1", "0"), 250.0, None),)
    np.testing.assert_allclose(res.measured_current(250.0 * i_out, None, None), i_out, rtol=1e-15)
    np.testing.assert_allclose(res.power(i_out, 250.0 * i_out), [250.0 * np.sum(i_out ** 2)],
                               rtol=1e-15)
