"""The matmul hook in four modes on the mapper's plan: dense, convolution and recurrent layers.

Circuit-mode products are checked against independent computations with the tiles' T-derived
effective weights (direct convolution by loops, the recurrence by hand), and against full solves.
"""

import numpy as np
import pytest
from studies_nets import config, hardware, loaded

from rramsim import nn, solver
from rramsim.studies.inference import accuracy
from rramsim.studies.inference import modes as infer
from rramsim.studies.inference.quantize import DAC


def _effective(hw, k, mode="circuit"):
    """Layer k's (fan_in, fan_out) weights as the tiles compute them (T or G) / scale."""
    if mode == "circuit":
        m = hw.mapping.layer_matrix(k, lambda t: hw.transfer(t))
    else:
        m = hw.mapping.layer_matrix(k)
    return m / hw.plan[k].scale


def _conv_direct(x, w, stride, padding):
    """Cross-correlation by loops over output positions (no im2col), x (B, C, H, W)."""
    o, c, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (xp.shape[2] - kh) // sh + 1
    wo = (xp.shape[3] - kw) // sw + 1
    y = np.zeros((x.shape[0], o, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            y[:, :, i, j] = np.einsum("bckl,ockl->bo", patch, w)
    return y


def test_conv2d_in_circuit_mode_is_the_convolution_of_the_effective_weights():
    conv = nn.Conv2d(2, 5, (3, 2), stride=(2, 1), padding=(1, 1))
    net = nn.Network([conv], input_shape=(2, 7, 6), name="conv")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (6, 2, 7, 6))
    lo = loaded(net, x, labels=np.zeros(6, int))
    hw = hardware(lo, config(tile=(8, 6), r_wire=5.0))
    assert hw.summary()["tiles"] > 1                        # the layer is split over tiles
    prep = infer.prepare(hw, "circuit")
    y = net.forward(x, matmul=infer.make_matmul(prep))    # no converters: exact products
    w_eff = _effective(hw, 0)                              # (in*kh*kw, out) from T
    w4 = w_eff.T.reshape(5, 2, 3, 2)                       # (out, in, kh, kw), im2col order
    expect = _conv_direct(x, w4, (2, 1), (1, 1))
    assert np.max(np.abs(y - expect)) <= 1e-12 * np.max(np.abs(expect))
    # IR drop is visible: the T-derived weights are not the ideal ones
    ideal = _effective(hw, 0, "ideal")
    assert np.max(np.abs(w_eff - ideal)) > 1e-3 * np.max(np.abs(ideal))


def test_relu_rnn_in_circuit_mode_is_the_recurrence_with_effective_weights():
    rnn = nn.ReLURNN(3, 4)
    net = nn.Network([rnn], input_shape=(5, 3), name="rnn")
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (8, 5, 3))
    lo = loaded(net, x, labels=np.zeros(8, int))
    hw = hardware(lo, config(tile=(4, 6), r_wire=5.0))
    assert hw.summary()["tiles"] > 1      # input and recurrent matrices spread over tiles
    prep = infer.prepare(hw, "circuit")
    y = net.forward(x, matmul=infer.make_matmul(prep))
    w = _effective(hw, 0)                 # rows 0..2: input matrix, rows 3..6: recurrent matrix
    h = np.zeros((8, 4))
    expect = []
    for t in range(5):
        h = np.maximum(x[:, t] @ w[:3] + h @ w[3:], 0.0)
        expect.append(h)
    expect = np.stack(expect, axis=1)
    assert np.max(np.abs(y - expect)) <= 1e-12 * np.max(np.abs(expect))
    # with converters every step goes through DAC and ADC: 5 steps x 8 sequences recorded; at
    # 16/24 bits the result is the exact recurrence up to the quantisation steps
    fine = config().replace("converters", dac_bits=16, adc_bits=24)
    conv = accuracy.calibrate(prep, infer.record_inputs(net.forward, x), fine)
    rec = {}
    yq = net.forward(x, matmul=infer.make_matmul(prep, conv=conv, record=rec))
    assert sum(len(a) for a in rec[0]) == 5 * 8
    assert 0 < np.max(np.abs(yq - y)) < 1e-3 * np.max(np.abs(y))


@pytest.fixture(scope="module")
def mlp():
    net = nn.mlp(12, (7,), 3, input_bits=None)
    x = np.random.default_rng(2).uniform(0, 1, (60, 12))
    return net, x, loaded(net, x)


def test_ideal_mode_equals_software_with_hardware_weights(mlp):
    net, x, lo = mlp
    hw = hardware(lo, config(tile=(5, 6)))
    w_hw = [_effective(hw, k, "ideal") for k in range(2)]
    y = net.forward(x, matmul=infer.make_matmul(infer.prepare(hw, "ideal")))
    expect = np.maximum(x @ w_hw[0], 0) @ w_hw[1]
    np.testing.assert_allclose(y, expect, rtol=1e-12, atol=1e-12 * np.abs(expect).max())
    # kept weights of the hardware equal the software weights (pairs programmed exactly)
    for k, la in enumerate(net.weight_layers):
        np.testing.assert_allclose(w_hw[k][la.mask], la.weight[la.mask], rtol=1e-9)
    sw = net.forward(x, matmul=infer.make_matmul(None))
    np.testing.assert_array_equal(sw, net.forward(x))


def test_circuit_equals_behavioural_without_wires(mlp):
    net, x, lo = mlp
    hw = hardware(lo, config(tile=(5, 6), r_wire=0.0))
    out = {}
    for mode in ("behavioural", "circuit"):
        prep = infer.prepare(hw, mode)
        conv = accuracy.calibrate(prep, infer.record_inputs(net.forward, x), config())
        out[mode] = net.forward(x, matmul=infer.make_matmul(
            prep, conv=conv, read_noise_rel=0.01, rng=np.random.default_rng(1)))
    np.testing.assert_allclose(out["circuit"], out["behavioural"], rtol=1e-9, atol=1e-9)


def test_circuit_layer_equals_full_solves_within_an_adc_step(mlp):
    net, x, lo = mlp
    hw = hardware(lo, config(tile=(12, 14), r_wire=20.0))
    assert hw.plan[0].tiles == [0]
    prep = infer.prepare(hw, "circuit")
    conv = infer.calibrate(prep, [x, np.maximum(x @ net.effective_weights()[0], 0)],
                            dac=DAC(bits=16), adc_bits=24, adc_full_scale_V=0.9)
    y = infer.layer_product(prep, 0, x, conv=conv)
    v = conv.dacs[0].voltages(x, conv.x_full_scale[0])
    (read,) = hw.plan[0].reads
    full = np.zeros((len(x), 12))
    full[:, read.rows] = read.drive(v)
    i = solver.solve(hw.tiles[0], full).i_out[:, read.cols]
    y_solve = (i @ read.scatter(7)) / (hw.plan[0].scale * 0.1 / conv.x_full_scale[0])
    lsb = conv.readouts[0].i_lsb_A / (hw.plan[0].scale * 0.1 / conv.x_full_scale[0])
    assert np.max(np.abs(y - y_solve)) <= 14 * 0.5 * lsb * (1 + 1e-9)
    assert np.max(np.abs(y - x @ net.effective_weights()[0])) > 100 * lsb


def test_read_noise_statistics_and_seed():
    """One weight on a column pair: noise std = rel * sqrt(sum (V G)^2) per column (3 %)."""
    net = nn.mlp(3, (1,), 1, input_bits=None, k=1.0)
    lo = loaded(net, np.ones((4, 3)), labels=np.zeros(4, int))
    hw = hardware(lo, config(tile=(3, 2), r_wire=0.0))
    prep = infer.prepare(hw, "behavioural")
    read = hw.plan[0].reads[0]
    v = np.tile([0.1, 0.2, 0.05], (20000, 1))
    i = infer.layer_currents(prep, 0, v, read_noise_rel=0.02, rng=np.random.default_rng(3))[0]
    g = hw.tiles[read.tile].conductance[np.ix_(read.rows, read.cols)]
    np.testing.assert_allclose(np.mean(i, axis=0), v[0] @ g, rtol=1e-3)
    np.testing.assert_allclose(np.std(i, axis=0), 0.02 * np.sqrt(((v[0][:, None] * g) ** 2)
                                                                 .sum(axis=0)), rtol=0.03)
    j = infer.layer_currents(prep, 0, v, read_noise_rel=0.02, rng=np.random.default_rng(3))[0]
    np.testing.assert_array_equal(i, j)


def test_circuit_read_noise_is_each_cells_contribution_under_ir_drop():
    """Circuit mode under heavy IR drop: the noise std per column is rel * sqrt(sum (V T)^2)
    (sampled, 3 %). That model lies between the exact first-order sensitivity of the solved tile
    (every cell's conductance perturbed by finite differences) and 1.5 times it, while the ideal
    cell currents' rel * sqrt(sum (V G)^2) lie further above it."""
    import dataclasses

    net = nn.mlp(12, (4,), 1, input_bits=None, k=1.0)
    lo = loaded(net, np.ones((4, 12)), labels=np.zeros(4, int))
    hw = hardware(lo, config(tile=(12, 8), r_wire=400.0))
    prep = infer.prepare(hw, "circuit")
    (read,) = hw.plan[0].reads
    xb = hw.tiles[read.tile]
    v = np.random.default_rng(4).uniform(0.02, 0.1, (1, 12))
    d = np.zeros((1, xb.n_rows))
    d[:, read.rows] = read.drive(v)
    t_mat, g = np.asarray(hw.transfer(read.tile)), np.asarray(xb.conductance)
    i0 = (d @ t_mat)[0]
    assert np.mean((d @ g)[0] / i0) > 1.4          # the wires take > 1/3 of the current
    model = np.sqrt((d[0] ** 2) @ t_mat**2)
    ideal = np.sqrt((d[0] ** 2) @ g**2)
    var, eps = np.zeros_like(i0), 1e-6
    for r in range(g.shape[0]):
        for c in range(g.shape[1]):
            gp = g.copy()
            gp[r, c] *= 1 + eps
            t_p = solver.transfer_matrix(dataclasses.replace(xb, conductance=gp))
            var += (((d @ t_p)[0] - i0) / eps) ** 2
    exact = np.sqrt(var)
    assert np.all(model >= exact) and np.all(model <= 1.5 * exact)
    assert np.all(ideal > 1.1 * model)
    i = infer.layer_currents(prep, 0, np.repeat(v, 20000, axis=0), read_noise_rel=0.02,
                             rng=np.random.default_rng(3))[0]
    np.testing.assert_allclose(np.std(i, axis=0), 0.02 * model[read.cols], rtol=0.03)


def test_nonlinear_cells_use_newton_solves(mlp):
    net, x, lo = mlp
    errs = {}
    for name, cfg in (("lin", config(tile=(12, 14))),
                      ("nl", config(tile=(12, 14), nonlinear_cells=True, sinh_v0_V=0.25))):
        hw = hardware(lo, cfg)
        prep = infer.prepare(hw, "circuit")
        conv = infer.calibrate(prep, [x[:6], np.maximum(x[:6] @ net.effective_weights()[0], 0)],
                                dac=DAC(bits=16, v_read_V=0.2), adc_bits=24,
                                adc_full_scale_V=0.9)
        rec = {}
        infer.layer_product(prep, 0, x[:6], conv=conv, record=rec)
        errs[name] = accuracy.tile_output_error(prep, {0: np.concatenate(rec[0])})
        if name == "nl":
            assert 0 in prep.nonlinear and hw.tiles[0].sinh_v0 is not None
    # at 0.2 V the sinh I-V adds ~11 % current over the linear cell
    assert errs["nl"] > errs["lin"] and 0.02 < errs["nl"] < 0.3


def test_engine_errors_name_mode_weight_shape_and_input_width(mlp):
    net, x, lo = mlp
    hw = hardware(lo, config(tile=(5, 6)))
    with pytest.raises(infer.InferenceError, match="mode"):
        infer.prepare(hw, "spice")
    mm = infer.make_matmul(infer.prepare(hw, "ideal"))
    with pytest.raises(infer.InferenceError, match="does not match"):
        mm(0, x, np.zeros((12, 5)))
    with pytest.raises(infer.InferenceError, match="inputs must be"):
        infer.layer_product(infer.prepare(hw, "ideal"), 0, x[:, :5])
    assert infer.accuracy(np.array([[0, 1], [1, 0]]), [1, 1]) == 0.5


def test_sinh_cells_from_the_device_model_read_like_the_devices():
    """sinh_v0_V = 0: each cell gets its own (g0, v0) from devmodel.tile_cells; a cell driven
    alone on wire-free tiles gives exactly the device model's read current."""
    from studies_nets import formed

    from rramsim import devmodel
    from rramsim.studies import loading
    from rramsim.studies.programming import program

    net = nn.mlp(5, (3,), 2, input_bits=None)
    dev = formed(net, seed=5)
    x = np.random.default_rng(6).uniform(0, 1, (6, 5))
    data = loading.Data(x_calib=x, x_test=x, y_test=np.zeros(6, int))
    lo = loading.from_network(net, data, pairs=dev.conductance_pairs(),
                              scales=[la.scale for la in dev.layers], device=dev)
    hw = program(lo, config(tile=(5, 6), r_wire=0.0, nonlinear_cells=True, sinh_v0_V=0.0))
    (read,) = hw.plan[0].reads
    xb = hw.tiles[read.tile]
    assert not xb.is_linear
    a, b = 2, 3                                  # row a of the read, its (+) or (-) column b
    i_in, j_out = read.row_inputs[a], read.col_outputs[b]
    v = np.zeros(xb.n_rows)
    v[read.rows[a]] = 0.2
    i = solver.solve(xb, v).i_out[read.cols[b]]
    la = dev.layers[0]
    pos_cell = read.col_sign[b] > 0
    idx = 0 if (la.sign[i_in, j_out] > 0) == pos_cell else 1   # which device of the pair
    expect = devmodel.read_current(la.state, 0.2)[idx, i_in, j_out]
    assert i == pytest.approx(expect, rel=1e-9)
    assert xb.sinh_v0[read.rows[a], read.cols[b]] == pytest.approx(devmodel.TAOX_40NM.v0)


def test_calibration_inputs_keep_every_row_that_fits_and_sample_the_rest():
    from rramsim import nn
    from rramsim.studies.inference import modes as infer

    net = nn.fashion_mnist_cnn()
    net.init_scores(rng=np.random.default_rng(0))
    for la in net.weight_layers:
        la.weight = np.random.default_rng(la.index).normal(size=la.weight.shape)
    x = np.random.default_rng(1).random((20, 1, 28, 28))
    full = infer.record_inputs(net.forward, x)
    got, per = infer.calibration_inputs(net.forward, x, rng=np.random.default_rng(2))
    assert per == [len(c) // len(x) for c in full]          # 144, 100, 1 and 1 rows per image
    # every layer fits: the very same record_inputs of all 20 images, hence bit for bit
    assert all(np.array_equal(a, b) for a, b in zip(got, full, strict=True))
    few, per2 = infer.calibration_inputs(net.forward, x, rng=np.random.default_rng(2),
                                          max_rows=500)
    assert per2 == per
    # 8 images at a time against all 20 at once: BLAS sums in a batch-size-dependent order, so
    # the same rows agree to rounding (1e-12 relative), not bit for bit
    for c, f, r in zip(few, full, per, strict=True):
        tol = 1e-12 * np.abs(f).max()
        if r * len(x) <= 500:
            np.testing.assert_allclose(c, f, rtol=1e-12, atol=tol)
        else:                                 # a sample of the rows, each one of the full set
            assert 0.5 * 500 < len(c) < 1.5 * 500
            nearest = max(np.abs(f - v).max(axis=1).min() for v in c[:50])
            assert nearest <= tol, nearest
    with pytest.raises(infer.InferenceError, match="no calibration inputs"):
        infer.calibration_inputs(net.forward, x[:0], rng=np.random.default_rng(0))
