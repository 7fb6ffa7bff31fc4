"""Inference engine on hand-built plans: ideal hardware equals software; converters and noise."""

import numpy as np
import pytest

from rramsim.crossbar import Crossbar
from rramsim.studies.inference import (
    HardwareNetwork,
    InferenceError,
    LayerPlan,
    TileSlice,
    accuracy,
    calibrate,
    forward,
    prepare,
)
from rramsim.studies.quantize import DAC

GW = 10e-6  # siemens per unit weight


def _plan(w, *, g_reset=0.0, r_wire=0.0, tile_rows=3):
    """Row-split a (fan_in, fan_out) layer over tiles of ``tile_rows`` rows, columns scheme."""
    fan_in, fan_out = w.shape
    tiles, slices = [], []
    for t, r0 in enumerate(range(0, fan_in, tile_rows)):
        r1 = min(fan_in, r0 + tile_rows)
        g = np.full((r1 - r0, 2 * fan_out), g_reset)
        g[:, 0::2] += np.maximum(w[r0:r1], 0) * GW
        g[:, 1::2] += np.maximum(-w[r0:r1], 0) * GW
        tiles.append(Crossbar(conductance=g, r_wordline=r_wire, r_bitline=r_wire))
        slices.append(TileSlice(
            tile=t, rows=np.arange(r1 - r0), row_inputs=np.arange(r0, r1),
            row_sign=np.ones(r1 - r0), cols=np.arange(2 * fan_out),
            col_outputs=np.repeat(np.arange(fan_out), 2),
            col_sign=np.tile([1.0, -1.0], fan_out)))
    return tiles, slices


def _network(rng, **kw):
    w1 = rng.normal(size=(6, 4)) * (rng.uniform(size=(6, 4)) < 0.5)
    w2 = rng.normal(size=(4, 3))
    t1, s1 = _plan(w1, **kw)
    t2, s2 = _plan(w2, **kw)
    s2 = [TileSlice(tile=s.tile + len(t1), rows=s.rows, row_inputs=s.row_inputs,
                    row_sign=s.row_sign, cols=s.cols, col_outputs=s.col_outputs,
                    col_sign=s.col_sign) for s in s2]
    layers = (LayerPlan("fc1", w1, GW, tuple(s1)), LayerPlan("fc2", w2, GW, tuple(s2), "none"))
    return HardwareNetwork(tiles=tuple(t1 + t2), layers=layers)


def test_ideal_hardware_equals_software_and_weights_round_trip():
    rng = np.random.default_rng(0)
    hw = _network(rng)
    x = rng.uniform(0, 1, size=(20, 6))
    x0 = x.copy()
    sw = forward(hw, x, mode="software")
    ideal = forward(hw, x, mode="ideal", prep=prepare(hw, "ideal"))
    np.testing.assert_allclose(ideal, sw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hw.hardware_weights(0), hw.layers[0].weights, atol=1e-15)
    np.testing.assert_array_equal(x, x0)


def test_reset_cells_cancel_in_differential_pairs():
    rng = np.random.default_rng(1)
    hw = _network(rng, g_reset=0.5e-6)
    np.testing.assert_allclose(hw.hardware_weights(1), hw.layers[1].weights, atol=1e-12)


def test_behavioural_quantisation_error_bound():
    """Inputs on the DAC grid, 20-bit ADC: behavioural = software up to the ADC's half-LSB."""
    rng = np.random.default_rng(2)
    hw = _network(rng)
    x = rng.integers(0, 16, size=(30, 6)).astype(float)
    x[0, :] = 15.0                                   # calibration full scale = 15 exactly
    prep = prepare(hw, "behavioural")
    conv = calibrate(hw, prep, x, dac=DAC(bits=4, v_read_V=0.1), adc_bits=20,
                     adc_full_scale_V=1.0)
    assert conv.x_full_scale[0] == 15.0
    beh = forward(hw, x, mode="behavioural", prep=prep, conv=conv)
    sw = forward(hw, x, mode="software")
    # layer-2 inputs are not on the DAC grid, so compare layer 1 exactly via a one-layer net
    one = HardwareNetwork(tiles=hw.tiles, layers=(hw.layers[0],))
    conv1 = calibrate(one, prepare(one, "behavioural"), x, dac=DAC(bits=4, v_read_V=0.1),
                      adc_bits=20, adc_full_scale_V=1.0)
    y1 = forward(one, x, mode="behavioural", prep=prepare(one, "behavioural"), conv=conv1)
    y1_sw = forward(one, x, mode="software")
    lsb_w = conv1.readouts[0].i_lsb_A / (GW * 0.1 / 15.0)   # one ADC step in weight units
    # each output = sum of 2 columns x 2 tiles, each off by <= half an LSB
    assert np.max(np.abs(y1 - y1_sw)) <= 4 * 0.5 * lsb_w * (1 + 1e-9)
    assert np.corrcoef(beh.ravel(), sw.ravel())[0, 1] > 0.99


def test_read_noise_statistics_and_seed():
    """One tile, one column: noise std = rel * sqrt(sum (V G)^2) (seeded moment check, 3 %)."""
    g = np.array([[10e-6], [20e-6], [30e-6]])
    xb = Crossbar(conductance=g)
    lp = LayerPlan("l", np.ones((3, 1)), 1.0, (TileSlice(0, [0, 1, 2], [0, 1, 2], [1, 1, 1],
                                                         [0], [0], [1.0]),), "none")
    hw = HardwareNetwork(tiles=(xb,), layers=(lp,))
    from rramsim.studies.inference import layer_currents

    prep = prepare(hw, "behavioural")
    v = np.tile([0.1, 0.2, 0.05], (20000, 1))
    i = layer_currents(hw, prep, 0, v, read_noise_rel=0.02, rng=np.random.default_rng(3))[0]
    mean = v[0] @ g[:, 0]
    std = 0.02 * np.sqrt(np.sum((v[0] * g[:, 0]) ** 2))
    assert np.mean(i) == pytest.approx(mean, rel=1e-3)
    assert np.std(i) == pytest.approx(std, rel=0.03)
    j = layer_currents(hw, prep, 0, v, read_noise_rel=0.02, rng=np.random.default_rng(3))[0]
    np.testing.assert_array_equal(i, j)


def test_errors_and_accuracy():
    rng = np.random.default_rng(4)
    hw = _network(rng)
    with pytest.raises(InferenceError, match="inputs must be"):
        forward(hw, np.zeros((2, 5)), mode="software")
    with pytest.raises(InferenceError, match="mode"):
        forward(hw, np.zeros((2, 6)), mode="spice")
    with pytest.raises(InferenceError, match="needs prepare"):
        forward(hw, np.zeros((2, 6)), mode="circuit")
    assert accuracy(np.array([[0, 1], [1, 0]]), [1, 1]) == 0.5


def test_matmul_hook_and_recorded_inputs():
    rng = np.random.default_rng(5)
    hw = _network(rng)
    w1, w2 = hw.layers[0].weights, hw.layers[1].weights

    def net_forward(x, matmul):
        return matmul(1, np.maximum(matmul(0, x, w1), 0), w2)

    from rramsim.studies.inference import make_matmul, record_inputs

    x = rng.uniform(0, 1, size=(10, 6))
    ins = record_inputs(net_forward, x)
    np.testing.assert_array_equal(ins[0], x)
    np.testing.assert_allclose(ins[1], np.maximum(x @ w1, 0))
    mm = make_matmul(hw, mode="ideal", prep=prepare(hw, "ideal"))
    np.testing.assert_allclose(net_forward(x, mm), forward(hw, x, mode="software"), atol=1e-12)
    with pytest.raises(InferenceError, match="does not match"):
        mm(0, x, np.zeros((6, 5)))
