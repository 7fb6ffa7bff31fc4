"""Quantisers: DAC levels, ADC codes, TIA gain and range calibration, checked by hand."""

import numpy as np
import pytest

from rramsim.studies.inference.quantize import (
    ADC,
    DAC,
    QuantizerError,
    calibrate_adc,
    full_scale,
    quantize_uniform,
)


def test_unsigned_levels_by_hand():
    # 2 bits over [0, 3]: levels 0, 1, 2, 3; half-way rounds to even.
    x = np.array([0.0, 0.4, 0.6, 1.5, 2.5, 2.9, 7.0, -1.0])
    q = quantize_uniform(x, bits=2, full_scale=3.0, signed=False)
    np.testing.assert_array_equal(q, [0, 0, 1, 2, 2, 3, 3, 0])


def test_signed_levels_symmetric_by_hand():
    # 3 bits signed: n = 3 steps each side over [-1, 1], step 1/3.
    x = np.array([-2.0, -0.5, -0.1, 0.0, 0.2, 0.5, 0.9, 2.0])
    q = quantize_uniform(x, bits=3, full_scale=1.0, signed=True)
    np.testing.assert_allclose(q, [-1, -2 / 3, 0, 0, 1 / 3, 2 / 3, 1, 1], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(quantize_uniform(-x, bits=3, full_scale=1.0, signed=True), -q)


@pytest.mark.parametrize("bits", [1, 3, 8, 14])
def test_error_bound_and_idempotence(bits):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 2.0, 1000)
    q = quantize_uniform(x, bits=bits, full_scale=2.0, signed=False)
    step = 2.0 / (2**bits - 1)
    assert np.max(np.abs(q - x)) <= step / 2 + 1e-12
    np.testing.assert_array_equal(quantize_uniform(q, bits=bits, full_scale=2.0, signed=False), q)
    assert np.all(np.diff(q[np.argsort(x)]) >= 0)  # monotone


def test_input_not_modified():
    x = np.array([0.3, 0.7])
    x0 = x.copy()
    quantize_uniform(x, bits=2, full_scale=1.0, signed=False)
    DAC(bits=2).voltages(x, 1.0)
    np.testing.assert_array_equal(x, x0)


def test_dac_voltages_by_hand():
    dac = DAC(bits=4, v_read_V=0.15)
    # digits pixels 0..16, full scale 16: code = round(x/16*15)
    v = dac.voltages([0, 8, 16, 20], 16.0)
    np.testing.assert_allclose(v, [0, 8 / 15 * 0.15, 0.15, 0.15], rtol=1e-14)  # 7.5 -> 8
    np.testing.assert_allclose(dac.quantize([8], 16.0), [16 * 8 / 15], rtol=1e-14)


def test_readout_codes_and_tia_gain():
    r = ADC(bits=4, v_full_scale_V=0.7, tia_gain_ohm=1e5)   # n = 7 codes per side
    assert r.i_full_scale_A == pytest.approx(7e-6, rel=1e-14)
    assert r.i_lsb_A == pytest.approx(1e-6, rel=1e-14)
    np.testing.assert_allclose(r.tia_voltage([1e-6]), [0.1], rtol=1e-14)
    np.testing.assert_array_equal(r.codes([0.4e-6, 0.6e-6, -2.2e-6, 9e-6, -9e-6]),
                                  [0, 1, -2, 7, -7])
    np.testing.assert_allclose(r.quantize([2.6e-6]), [3e-6], rtol=1e-14)
    assert r.saturation([1e-6, 8e-6, -7.5e-6, 0]) == 0.5


def test_calibration_max_maps_top_code():
    i = np.array([1e-6, -4e-6, 2.5e-6])
    r = calibrate_adc(i, bits=14, v_full_scale_V=0.9, method="max")
    assert r.tia_gain_ohm == pytest.approx(0.9 / 4e-6, rel=1e-14)
    assert r.codes([-4e-6])[0] == -(2**13 - 1)
    assert r.saturation(i) == 0.0
    # 14-bit error bound on the calibration batch: half an LSB
    assert np.max(np.abs(r.quantize(i) - i)) <= 0.5 * 4e-6 / (2**13 - 1) * (1 + 1e-12)


def test_calibration_percentile():
    x = np.arange(1, 101, dtype=float)   # |x| = 1..100
    assert full_scale(x, method="percentile", percentile=50) == pytest.approx(50.5)
    assert full_scale(-x, method="max") == 100.0
    r = calibrate_adc(x * 1e-8, method="percentile", percentile=90)
    assert r.saturation(x * 1e-8) == pytest.approx(0.10)


@pytest.mark.parametrize("kwargs", [
    dict(bits=0, full_scale=1.0, signed=False),
    dict(bits=2.5, full_scale=1.0, signed=False),
    dict(bits=1, full_scale=1.0, signed=True),
    dict(bits=4, full_scale=0.0, signed=False),
    dict(bits=4, full_scale=float("nan"), signed=False),
])
def test_bad_quantiser_parameters(kwargs):
    with pytest.raises(QuantizerError):
        quantize_uniform([0.5], **kwargs)


def test_full_scale_and_readout_reject_empty_zero_nan_and_unknown_method():
    with pytest.raises(QuantizerError, match="empty"):
        full_scale([])
    with pytest.raises(QuantizerError, match="zero full scale"):
        full_scale([0.0, 0.0])
    with pytest.raises(QuantizerError, match="method"):
        full_scale([1.0], method="mean")
    with pytest.raises(QuantizerError, match="NaN"):
        full_scale([1.0, np.nan])
    with pytest.raises(QuantizerError, match="tia_gain_ohm"):
        ADC(tia_gain_ohm=-1)


@pytest.mark.parametrize("signed", [False, True])
def test_dac_codes_are_the_integers_behind_the_quantised_values(signed):
    from rramsim.studies.inference.quantize import DAC

    dac = DAC(bits=4, v_read_V=0.1, signed=signed)
    x = np.random.default_rng(3).uniform(-1.5, 1.5, (50, 7))
    n = 2**3 - 1 if signed else 2**4 - 1
    c = dac.codes(x, 1.2)
    assert c.dtype == np.int64 and c.min() >= (-n if signed else 0) and c.max() <= n
    np.testing.assert_array_equal(c * (1.2 / n), dac.quantize(x, 1.2))
