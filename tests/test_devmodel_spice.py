"""The filament model in ngspice against the NumPy model.

Tolerances: the DC I-V is evaluated by the same closed form in both (ngspice's B-source in double
precision, the cell driven directly by a source), so they agree to ~1e-10; 1e-6 is asserted. Transients:
ngspice integrates the gap with its own step control (trapezoidal, tight reltol, maximum step 1 ns,
breakpoints at the PWL corners); the NumPy reference is the Heun integrator with the same corners and
maximum step and at most ~1 pm of gap change per step. Their end conductances agree to ~1e-4; 2 % is
asserted.
"""

import dataclasses

import numpy as np
import pytest

from rramsim import devmodel
from rramsim.errors import DeviceModelError
from rramsim.netlists import device, ngspice

P = dataclasses.replace(devmodel.TAOX_40NM, dg0=0.0)  # deterministic: noise off


def _cells():
    """A pristine, a formed and a reset device (the same device), as (label, i0, ea, gap)."""
    st = devmodel.pristine((1,), rng=21, params=P)
    formed, _ = devmodel.apply_pulse(st, 3.0, 1e-6, compliance=100e-6)
    reset, _ = devmodel.apply_pulse(formed, -2.1, 1e-6)
    return st, formed, reset


# ----------------------------------------------------------------------------- text
def test_subcircuit_text_has_ports_params_and_constants():
    text = device.subcircuit(P)
    assert text.startswith("* Filament-gap")
    assert ".subckt rram_filament te be params: i0=6.14e-05 ea=1.54" in text
    assert text.rstrip().endswith(".ends rram_filament")
    assert "Cgap gap 0 1e-9" in text and "sinh(" in text and "asinh(" in text
    line = device.instance("1", "a", "b", i0=1e-5, ea=1.5, gap=1e-9, compliance=1e-4)
    assert line == "x1 a b rram_filament i0=1e-05 ea=1.5 gap=1e-09 icc=0.0001 dyn=1"
    with pytest.raises(DeviceModelError, match="gap"):
        device.instance("x2", "a", "b", i0=1e-5, ea=1.5, gap=-1e-9)
    with pytest.raises(DeviceModelError, match="compliance"):
        device.instance("x2", "a", "b", i0=1e-5, ea=1.5, gap=1e-9, compliance=0.0)
    with pytest.raises(DeviceModelError, match="PWL"):
        device.pwl_source("v1", "a", [0, 1, 1], [0, 1, 2])


# ----------------------------------------------------------------------------- DC I-V
@pytest.mark.ngspice
def test_iv_matches_numpy_to_1e6():
    for st in _cells():
        deck = device.iv_deck(P, i0=float(st.i0[0]), ea=float(st.ea[0]), gap=float(st.gap[0]))
        res = ngspice.run(deck, [["dc vin -1 1 0.01"]])[0]
        v = res["v-sweep"]
        i_spice = -res["i(vin)"]
        i_numpy = devmodel.read_current(st, v)
        assert v.min() == pytest.approx(-1) and v.max() == pytest.approx(1) and v.size == 201
        nz = np.abs(v) > 1e-9
        np.testing.assert_allclose(i_spice[nz], i_numpy[nz], rtol=1e-6, atol=0)
        assert np.abs(i_spice[~nz]).max() < 1e-18
        # the frozen gap stays at its initial value (nm on the internal node)
        np.testing.assert_allclose(res["v(x1.gap)"], st.gap[0] * 1e9, rtol=1e-12)


# ----------------------------------------------------------------------------- transients
@pytest.mark.ngspice
@pytest.mark.parametrize("op", ["form", "reset", "set"])
def test_transient_pulse_matches_numpy_integrator(op):
    pristine, formed, reset = _cells()
    start, amp, icc = {"form": (pristine, 3.0, 100e-6), "reset": (formed, -2.1, None),
                       "set": (reset, 2.4, 100e-6)}[op]
    # 1 ns edges, 1 us pulse, then a 0.1 V read so that ngspice reports its own read current
    t, v = devmodel.rectangular_pulse(amp, 1e-6, edge=1e-9, delay=1e-9, tail=5e-9)
    t = np.append(t, [t[-1] + 1e-9, t[-1] + 10e-9])
    v = np.append(v, [P.v_read, P.v_read])
    icc_cell = None if icc is None else icc * float(start.icc_scale[0])  # the cell's own limit
    deck = device.transient_deck(P, i0=float(start.i0[0]), ea=float(start.ea[0]),
                                 gap=float(start.gap[0]), times=t, volts=v, compliance=icc_cell)
    res = ngspice.run(deck, device.transient_steps(t, dt_max=1e-9))[0]
    g_spice = -res["i(vin)"][-1] / P.v_read
    ref = devmodel.integrate_waveform(start, t, v, compliance=icc, dt_max=1e-9, dg_max=1e-12)
    g_numpy = devmodel.read_conductance(ref.state)[0]
    g_before = devmodel.read_conductance(start)[0]
    assert abs(np.log(g_numpy / g_before)) > 2.0  # the pulse really switched the cell
    assert g_spice == pytest.approx(g_numpy, rel=0.02)
    np.testing.assert_allclose(res["v(x1.gap)"][-1] * 1e-9, ref.state.gap[0], rtol=0.01)
    # and the fast gap-space solver (ideal edges) lands within 2 % too
    fast, _ = devmodel.apply_pulse(start, amp, 1e-6, compliance=icc)
    assert devmodel.read_conductance(fast)[0] == pytest.approx(g_numpy, rel=0.02)


@pytest.mark.ngspice
def test_array_of_model_cells_in_ngspice_sums_read_currents():
    """Three frozen model cells from one node to three grounded sources: each branch current is
    the NumPy read current (1e-6), for a formed, a reset and a pristine cell."""
    pristine, formed, reset = _cells()
    st = devmodel.CellState(
        gap=np.concatenate([c.gap for c in (pristine, formed, reset)]),
        i0=np.concatenate([c.i0 for c in (pristine, formed, reset)]),
        ea=np.concatenate([c.ea for c in (pristine, formed, reset)]), params=P)
    lines = device.instances(st, ["top"] * 3, ["b0", "b1", "b2"])
    assert lines[1].startswith("xc_1 top b1 rram_filament") and lines[1].endswith("dyn=0")
    deck = "\n".join(["* three cells", device.OPTIONS, device.subcircuit(P).rstrip(),
                      "vtop top 0 dc 0.2", *[f"vs{j} b{j} 0 dc 0" for j in range(3)], *lines,
                      ".end"]) + "\n"
    res = ngspice.run(deck, [["op"]])[0]
    got = np.array([res[f"i(vs{j})"][0] for j in range(3)])  # current into each sink source
    np.testing.assert_allclose(got, devmodel.read_current(st, 0.2), rtol=1e-6)
    with pytest.raises(DeviceModelError, match="shape"):
        device.instances(st, ["top"] * 2, ["b0", "b1"])
