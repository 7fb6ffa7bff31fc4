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
