"""n-bit input/activation quantiser (study: 4/3/6-bit inputs, arXiv 2311.07164)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rramsim.nn.quant import QuantizationError, quantize, quantize_grad, uniform_codes


def test_hand_values_two_bits():
    x = np.array([-0.5, 0.0, 0.16, 0.17, 0.5, 0.84, 1.0, 3.0])
    # levels 0, 1/3, 2/3, 1; 0.16*3 = 0.48 -> 0, 0.17*3 = 0.51 -> 1, 0.5*3 = 1.5 -> 2 (half to even)
    np.testing.assert_allclose(quantize(x, 2), [0, 0, 0, 1 / 3, 2 / 3, 1, 1, 1], atol=1e-15)


@pytest.mark.parametrize("bits", [1, 3, 4, 6])
def test_level_count_and_max_error(bits):
    x = np.linspace(0.0, 2.0, 10001)
    q = quantize(x, bits, x_max=2.0)
    assert np.unique(q).size == 2**bits
    step = 2.0 / (2**bits - 1)
    assert np.max(np.abs(q - x)) <= step / 2 + 1e-12
    np.testing.assert_allclose(quantize(q, bits, x_max=2.0), q, atol=1e-12)  # idempotent


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=30), st.integers(1, 8))
def test_quantized_values_are_grid_points_within_zero_and_x_max(values, bits):
    q = quantize(np.array(values), bits, 1.5)
    j = q * (2**bits - 1) / 1.5
    np.testing.assert_allclose(j, np.round(j), atol=1e-9)
    assert q.min() >= 0 and q.max() <= 1.5


def test_ste_gradient_passes_inside_zero_one_and_blocks_outside():
    x = np.array([-0.1, 0.0, 0.5, 1.0, 1.1])
    np.testing.assert_array_equal(quantize_grad(x, np.ones(5)), [0, 1, 1, 1, 0])


@pytest.mark.parametrize("bits,x_max", [(0, 1.0), (2.5, 1.0), (4, 0.0), (4, float("inf"))])
def test_quantize_rejects_bad_bit_width_or_full_scale(bits, x_max):
    with pytest.raises(QuantizationError):
        quantize(np.zeros(2), bits, x_max)


def test_network_calibrates_activation_quantisers_to_percentile():
    from rramsim.nn import architectures

    rng = np.random.default_rng(0)
    net = architectures.mlp(6, (5, 4), 3, input_bits=None, activation_bits=3)
    net.set_weights([rng.normal(size=s) for s in net.shapes])
    net.init_scores(rng=rng)
    x = rng.random((50, 6))
    x_max = net.calibrate(x, percentile=90.0)
    h1 = np.maximum(x @ net.effective_weights()[0], 0)
    assert x_max[0] == pytest.approx(np.percentile(h1[h1 > 0], 90.0), rel=1e-12)
    q1 = quantize(h1, 3, x_max[0])
    h2 = np.maximum(q1 @ net.effective_weights()[1], 0)
    assert x_max[1] == pytest.approx(np.percentile(h2[h2 > 0], 90.0), rel=1e-12)
    expected = quantize(h2, 3, x_max[1]) @ net.effective_weights()[2]
    np.testing.assert_allclose(net.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_uniform_codes_by_hand_unsigned_and_signed():
    x = np.array([-2.0, -0.5, -0.2, 0.0, 0.2, 0.5, 2.0])
    # 3 steps over [0, 1]: 0.2 * 3 = 0.6 -> 1, 0.5 * 3 = 1.5 -> 2 (half to even); ends saturate
    np.testing.assert_array_equal(uniform_codes(x, 3, 1.0), [0, 0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(uniform_codes(x, 3, 1.0, signed=True), [-3, -2, -1, 0, 1, 2, 3])
    for steps, fs in ((0, 1.0), (3, 0.0), (3, float("nan"))):
        with pytest.raises(QuantizationError):
            uniform_codes(x, steps, fs)


def test_converter_quantiser_is_the_layer_quantiser():
    from rramsim.studies.inference.quantize import DAC, quantize_uniform

    rng = np.random.default_rng(3)
    x = rng.normal(0.4, 0.5, 2000)
    for bits, fs in ((3, 1.0), (4, 0.73), (6, 2.5)):
        np.testing.assert_array_equal(quantize_uniform(x, bits=bits, full_scale=fs, signed=False),
                                      quantize(x, bits, fs))
        np.testing.assert_array_equal(DAC(bits=bits).quantize(x, fs), quantize(x, bits, fs))
