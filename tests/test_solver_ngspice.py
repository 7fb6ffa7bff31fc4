"""The fast solver against ngspice (`rramsim.netlists.simulate`) on random tiles, every option.

Tolerance: max |difference| / max |i_out| <= 1e-9; ngspice runs with reltol 1e-12 and
17 printed digits, the solver to relative residual 1e-12, so the observed differences are ~1e-12.
Node voltages are compared to 1e-9 V. Sinh tiles: 1e-6.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rramsim import netlists, solver
from rramsim.crossbar import Crossbar, FiniteGainTIA, IdealTIA, SenseResistor

pytestmark = pytest.mark.ngspice

SENSES = {"ideal": IdealTIA(), "finite": FiniteGainTIA(5e3, 1e3), "resistor": SenseResistor(300.0)}


def rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b)))


def random_tile(seed: int, m: int, n: int, **options) -> tuple[Crossbar, np.ndarray]:
    """Random tile: G in 0.1-100 uS (log-uniform), wire R in 0.1-10 ohm, a few missing cells."""
    rng = np.random.default_rng(seed)
    g = np.exp(rng.uniform(np.log(0.1e-6), np.log(100e-6), (m, n)))
    g[rng.random((m, n)) < 0.05] = 0.0
    kw = dict(r_wordline=float(np.exp(rng.uniform(np.log(0.1), np.log(10.0)))),
              r_bitline=float(np.exp(rng.uniform(np.log(0.1), np.log(10.0)))),
              r_driver=float(rng.uniform(0.0, 20.0)))
    kw.update(options)
    if isinstance(kw.get("r_access"), str):
        kw["r_access"] = rng.uniform(500.0, 5e3, (m, n))
    v = rng.uniform(-0.3, 0.3, (3, m))
    return Crossbar(g, **kw), v


def check(xb: Crossbar, v: np.ndarray, tol: float = 1e-9) -> None:
    ref = netlists.simulate(xb, v)
    for method in ("auto", "direct") if xb.is_linear else ("auto", "newton"):
        s = solver.solve(xb, v, method=method)
        assert rel(s.i_out, ref.i_out) <= tol, (method, rel(s.i_out, ref.i_out))
        assert rel(s.i_in, ref.i_in) <= tol
        for name in ("v_wordline", "v_bitline", "v_sense"):
            np.testing.assert_allclose(getattr(s, name), getattr(ref, name), rtol=0, atol=1e-9)
        if ref.v_tia is None:
            assert s.v_tia is None
        else:
            assert rel(s.v_tia, ref.v_tia) <= tol
    if xb.is_linear:
        grid = xb.r_wordline > 0 and xb.r_bitline > 0
        for tm in ("factor", "multifrontal") if grid else ("factor",):
            assert rel(v @ solver.transfer_matrix(xb, method=tm), ref.i_out) <= tol, tm


CASES = list(itertools.product(["left", "both"], list(SENSES), [None, "random"]))


@pytest.mark.parametrize("drive,sense,r_access", CASES)
@pytest.mark.parametrize("seed,shape", [(1, (8, 8)), (2, (24, 13)), (3, (11, 20))])
def test_random_tiles_match_ngspice(drive, sense, r_access, seed, shape):
    xb, v = random_tile(seed, *shape, drive=drive, sense=SENSES[sense], r_access=r_access)
    check(xb, v)


@pytest.mark.parametrize("zeros", [("r_wordline",), ("r_bitline",), ("r_driver",),
                                   ("r_wordline", "r_driver"), ("r_wordline", "r_bitline"),
                                   ("r_wordline", "r_bitline", "r_driver")])
@pytest.mark.parametrize("sense", ["ideal", "resistor"])
def test_zero_resistances_merge_nodes_like_ngspice(zeros, sense):
    xb, v = random_tile(7, 12, 9, drive="both", sense=SENSES[sense],
                        **{name: 0.0 for name in zeros})
    check(xb, v)


@pytest.mark.slow
@pytest.mark.parametrize("seed,options", [
    (11, dict(drive="left", sense=IdealTIA())),
    (12, dict(drive="both", sense=FiniteGainTIA(), r_access="random")),
])
def test_64_by_64_matches_ngspice(seed, options):
    xb, v = random_tile(seed, 64, 64, **options)
    check(xb, v[:1])


@pytest.mark.parametrize("r_access", [None, "random"])
@pytest.mark.parametrize("sense", ["ideal", "finite", "resistor"])
def test_sinh_tile_matches_ngspice(r_access, sense):
    xb, v = random_tile(21, 8, 6, sense=SENSES[sense], r_access=r_access, sinh_v0=0.25,
                        drive="both")
    v = np.abs(v) * 2.0  # up to 0.6 V: well into the sinh
    check(xb, v, tol=1e-6)


@pytest.mark.parametrize("zeros", [("r_wordline", "r_driver"), ("r_bitline",)])
@pytest.mark.parametrize("backend", solver.available_backends())
def test_sinh_tile_with_merged_nodes_matches_ngspice(zeros, backend):
    xb, v = random_tile(23, 6, 5, sense=SENSES["resistor"], r_access="random", sinh_v0=0.2,
                        drive="both", **{name: 0.0 for name in zeros})
    v = np.abs(v) * 2.0
    ref = netlists.simulate(xb, v)
    s = solver.solve(xb, v, backend=backend)
    assert rel(s.i_out, ref.i_out) <= 1e-6
    assert rel(s.i_in, ref.i_in) <= 1e-6


@pytest.mark.slow
def test_sinh_32_by_32_at_read_voltage_matches_ngspice():
    """A 32 x 32 tile of model cells, 0.2 V read, 2-ohm wires, to 1e-6."""
    rng = np.random.default_rng(32)
    g = rng.normal(14.2e-6, 2.46e-6, (32, 32)).clip(0.1e-6)
    xb = Crossbar(g, r_wordline=2.0, r_bitline=2.0, sinh_v0=0.25)
    v = np.full((1, 32), 0.2)
    ref = netlists.simulate(xb, v)
    s = solver.solve(xb, v)
    assert rel(s.i_out, ref.i_out) <= 1e-6
    np.testing.assert_allclose(s.v_bitline, ref.v_bitline, rtol=0, atol=1e-9)
    lin = solver.solve(xb.replace(sinh_v0=None), v)
    assert rel(s.i_out, lin.i_out) > 1e-3  # the non-linearity is visible at 0.2 V
