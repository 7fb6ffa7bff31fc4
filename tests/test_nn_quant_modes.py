"""The study's per-batch quantisers (min/max uniform, quantile levels) against values worked out by
hand, their fixed levels for inference, and exact network-file round trips of every setting."""

import numpy as np
import pytest

from rramsim.errors import LayerError
from rramsim.nn import load_network_file, save_network_file
from rramsim.nn.layers import Dense, Quantize, ReLURNN, ToSequence
from rramsim.nn.network import Network
from rramsim.nn.quant import (
    calibrate_levels,
    minmax_quantize,
    nearest_level,
    quantile_levels,
)


def _fwd(q, x, train=True):
    return q.forward(np.asarray(x, dtype=float), train=train, matmul=None)


def test_minmax_unsigned_by_hand():
    # 2 bits, batch max 0.9: step 0.3, levels 0, 0.3, 0.6, 0.9; 0.2 -> 0.3, 0.5 -> 0.6
    out = _fwd(Quantize(2, mode="minmax"), [0.0, 0.2, 0.5, 0.9])
    np.testing.assert_allclose(out, [0.0, 0.3, 0.6, 0.9], atol=1e-15)


def test_minmax_signed_follows_the_study_grid():
    # min -0.7, max 0.8, 2 bits: step 0.5, floor(min/step) = -2; codes round((v + 0.7) / 0.5)
    # = 0, 1 (0.3 / 0.5 = 0.6), 3 -> values (code - 2) * 0.5 = -1.0, -0.5, 0.5
    q, levels = minmax_quantize(np.array([-0.7, -0.4, 0.8]), 2, signed=True)
    np.testing.assert_allclose(levels, [-1.0, -0.5, 0.0, 0.5], atol=1e-15)
    np.testing.assert_allclose(q, [-1.0, -0.5, 0.5], atol=1e-15)
    # a grid that starts on a multiple of the step is the nearest-level quantiser
    out = _fwd(Quantize(2, mode="minmax", signed=True), [-0.5, 0.1, 0.3, 1.0])
    np.testing.assert_allclose(out, [-0.5, 0.0, 0.5, 1.0], atol=1e-15)


def test_quantile_signed_by_hand():
    # 16 values 0..15, 3 bits: levels at sorted[round((i + 1/2) 16 / 8)] = 1, 3, ..., 15;
    # ties go to the lower level (2 -> 1, 4 -> 3)
    x = np.arange(16.0)
    np.testing.assert_array_equal(quantile_levels(x, 3, signed=True), np.arange(1.0, 16.0, 2.0))
    out = _fwd(Quantize(3, mode="quantile", signed=True), x.reshape(2, 8))
    np.testing.assert_array_equal(out.ravel(), [1, 1, 1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 11, 13, 13, 15])


def test_quantile_after_relu_by_hand():
    # 4 zeros and 8 positive values 1..8, 2 bits (4 levels): level 0 = 0, then
    # sorted[4 + round((i - 1/2) 8 / 3)] for i = 1, 2, 3: round(1.333) = 1, round(4) = 4,
    # round(6.667) = 7 -> values 2, 5, 8
    x = np.array([0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8], dtype=float)
    levels, src = quantile_levels(x, 2, return_index=True)
    np.testing.assert_array_equal(levels, [0.0, 2.0, 5.0, 8.0])
    np.testing.assert_array_equal(x[src], levels)
    # midpoints 1, 3.5, 6.5: 1 -> 0 (tie, lower), 3 -> 2, 4 -> 5, 6 -> 5, 7 -> 8
    np.testing.assert_array_equal(nearest_level(x, levels),
                                  [0, 0, 0, 0, 0, 2, 2, 5, 5, 5, 8, 8])


def test_fixed_mode_unchanged_and_per_batch_gradient_is_identity():
    q = Quantize(2, 1.5)
    np.testing.assert_allclose(_fwd(q, [-1.0, 0.4, 0.6, 2.0]), [0.0, 0.5, 0.5, 1.5], atol=1e-15)
    np.testing.assert_array_equal(q.backward(np.ones(4)), [0, 1, 1, 0])
    p = Quantize(3, mode="quantile")
    _fwd(p, [0.0, 5.0, 7.0])
    np.testing.assert_array_equal(p.backward(np.array([1.0, 2.0, 3.0])), [1.0, 2.0, 3.0])


def test_fixed_levels_are_the_mean_batch_levels_and_used_in_evaluation():
    # two batches through a per-batch min/max quantiser: maxima 3 and 6 -> mean levels 0, 1.5, 3, 4.5
    net = Network([Quantize(2, mode="minmax")], input_shape=(2,), name="q")
    x = np.array([[0.0, 3.0], [1.0, 2.0], [0.0, 6.0], [6.0, 1.0]])
    (levels,) = calibrate_levels(net, x, batch_size=2)
    np.testing.assert_allclose(levels, [0.0, 1.5, 3.0, 4.5], atol=1e-15)
    assert net.layers[0].inference == "fixed"
    np.testing.assert_allclose(net.forward(np.array([[0.7, 4.0]])), [[0.0, 4.5]], atol=1e-15)
    net.layers[0].inference = "batch"  # this batch's own levels: 0, 4/3, 8/3, 4
    np.testing.assert_allclose(net.forward(np.array([[0.7, 4.0], [0.0, 1.0]])),
                               [[4 / 3, 4.0], [0.0, 4 / 3]], rtol=1e-15)


def test_bad_settings_raise():
    with pytest.raises(LayerError, match="mode"):
        Quantize(3, mode="log")
    with pytest.raises(LayerError, match="unsigned"):
        Quantize(3, signed=True)
    with pytest.raises(LayerError, match="levels"):
        Quantize(2, mode="minmax", levels=[0.0, 1.0])  # 2 bits need 4
    with pytest.raises(LayerError, match="fixed levels"):
        Quantize(2, mode="quantile", inference="fixed")
    with pytest.raises(LayerError, match="state_grad"):
        ReLURNN(2, 3, state_bits=2, state_mode="minmax", state_grad="levels")


def test_network_file_round_trips_every_quantiser_setting(tmp_path):
    rng = np.random.default_rng(3)
    layers = [Quantize(3, mode="minmax", signed=True, levels=[-0.3, -0.1, 0.0, 0.1, 0.25, 0.4,
                                                               0.55, 0.7]),
              Quantize(2, mode="quantile", inference="batch"), ToSequence(),
              ReLURNN(2, 4, state_bits=2, state_mode="quantile", state_grad="levels",
                      raw_output=True, state_scale=0.5, state_levels=[0.0, 0.1, 0.3, 1.0 / 3.0]),
              Quantize(3, 2.5, calibrate=True)]
    net = Network(layers, input_shape=(2, 1, 3), name="t")
    net.weight_layers[0].weight = rng.normal(size=(6, 4))
    path = save_network_file(tmp_path / "q", net, dataset="fsdd")
    back = load_network_file(path).network
    for a, b in zip(net.layers, back.layers, strict=True):
        assert type(a) is type(b)
        for attr in ("bits", "x_max", "calibrate", "mode", "signed", "levels", "inference",
                     "state_bits", "state_max", "state_scale", "state_mode", "state_levels",
                     "state_inference", "state_grad", "raw_output"):
            assert getattr(a, attr, None) == getattr(b, attr, None), attr
    x = rng.random((5, 2, 1, 3))
    np.testing.assert_array_equal(back.forward(x), net.forward(x))
    assert isinstance(back.layers[3], ReLURNN) and not isinstance(back.layers[3], Dense)
