"""The exact first-order read noise of a tile against finite differences of every cell."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rramsim import solver
from rramsim.crossbar import Crossbar, SenseResistor
from rramsim.errors import InferenceError
from rramsim.studies.inference.readnoise import first_order_noise_std


def finite_difference_std(xb, d, eps=1e-6):
    """sqrt(sum_c (dI / d ln G_c)^2) per column, each cell perturbed in turn (its transfer
    matrix solved again)."""
    g = np.asarray(xb.conductance)
    t0 = solver.transfer_matrix(xb)
    i0 = d @ t0
    var = np.zeros_like(i0)
    for r in range(g.shape[0]):
        for c in range(g.shape[1]):
            gp = g.copy()
            gp[r, c] *= 1 + eps
            var += ((d @ solver.transfer_matrix(dataclasses.replace(xb, conductance=gp)) - i0)
                    / eps) ** 2
    return np.sqrt(var), t0


@pytest.mark.parametrize("kw", [dict(r_wordline=600.0, r_bitline=600.0),
                                dict(r_wordline=150.0, r_bitline=400.0, r_driver=50.0,
                                     sense=SenseResistor(resistance=2e3))])
def test_first_order_noise_equals_finite_differences(kw):
    """Adjoint (one solve per column) = finite differences of every cell to 1e-4 (the
    difference quotient's own error is ~1e-7), on tiles whose wires take > 1/4 of the current,
    and the V T model lies above it while the ideal V G lies further above."""
    rng = np.random.default_rng(1)
    xb = Crossbar(rng.uniform(5e-6, 25e-6, (10, 6)), **kw)
    d = rng.uniform(0.0, 0.1, (3, 10))
    d[2, :5] = 0.0                                   # a partial drive (a row group)
    exact = first_order_noise_std(xb, d, chunk=4)
    fd, t_mat = finite_difference_std(xb, d)
    np.testing.assert_allclose(exact, fd, rtol=1e-4)
    g = np.asarray(xb.conductance)
    assert np.mean((d @ g) / (d @ t_mat)) > 1.35
    model = np.sqrt((d**2) @ t_mat**2)
    assert np.all(model >= exact) and np.all(np.sqrt((d**2) @ g**2) > model)


def test_first_order_noise_with_negligible_wires_is_the_cell_currents():
    """1-milliohm wires, ideal TIA: every cell sees its drive, so std = sqrt(sum (V G)^2) to 1e-6
    (the wires change the cell voltages by ~ M N G r ~ 1e-9)."""
    rng = np.random.default_rng(2)
    g = rng.uniform(5e-6, 25e-6, (5, 4))
    d = rng.uniform(0.0, 0.2, (2, 5))
    got = first_order_noise_std(Crossbar(g, r_wordline=1e-3, r_bitline=1e-3), d)
    np.testing.assert_allclose(got, np.sqrt((d**2) @ g**2), rtol=1e-6)


def test_first_order_noise_refuses_bad_input():
    xb = Crossbar(np.full((3, 2), 1e-5), r_wordline=1.0, r_bitline=1.0)
    with pytest.raises(InferenceError, match=r"drives must be \(B, 3\)"):
        first_order_noise_std(xb, np.zeros((2, 4)))
    with pytest.raises(InferenceError, match="chunk"):
        first_order_noise_std(xb, np.zeros(3), chunk=0)
    with pytest.raises(InferenceError, match="r_bitline > 0"):
        first_order_noise_std(Crossbar(np.full((3, 2), 1e-5)), np.zeros(3))
    with pytest.raises(InferenceError, match="linear tile"):
        first_order_noise_std(dataclasses.replace(xb, sinh_v0=0.3), np.zeros(3))
