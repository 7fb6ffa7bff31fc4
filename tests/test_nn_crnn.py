"""The study's spoken-digit CRNN and Fashion-MNIST CNN as its code builds them: layer lists,
weight counts (62,272 and 68,480) and a forward pass equal to a plain-numpy reference."""

import numpy as np

from rramsim.nn import architectures
from rramsim.nn.layers import BatchNorm, Quantize, ReLURNN

CRNN_LAYERS = ["Quantize", "Conv2d", "MaxPool2d", "BatchNorm", "ReLU", "Quantize", "Conv2d",
               "MaxPool2d", "BatchNorm", "ToSequence", "Quantize", "ReLURNN", "TimeMean",
               "Quantize", "Dense", "ReLU", "Quantize", "Dense"]


def test_crnn_layers_and_weights_match_the_study():
    net = architectures.spoken_digit_net()
    assert [type(la).__name__ for la in net.layers] == CRNN_LAYERS
    # the study's weight tensors: conv1 64x1x3x2, conv2 32x64x3x2, RNN 128x32 + 128x128,
    # fc1 256x128, fc2 10x256 -> (fan_in, fan_out) here, the RNN's two blocks stacked
    assert net.shapes == [(6, 64), (384, 32), (32 + 128, 128), (128, 256), (256, 10)]
    assert net.n_weights == architectures.SPOKEN_DIGITS_WEIGHTS == 68_480
    conv1, conv2 = net.weight_layers[:2]
    assert conv1.stride == conv2.stride == (2, 1) and conv1.padding == conv2.padding == (0, 0)
    # 23 x 20 -> conv 11 x 19 -> pool 5 x 9 -> conv 2 x 8 -> pool 1 x 4: 4 time steps of 32
    assert net.layers[9].output_shape((32, 1, 4)) == (4, 32)
    q = [la for la in net.layers if isinstance(la, Quantize)]
    assert [(x.bits, x.mode, x.signed) for x in q] == [
        (3, "fixed", False), (3, "quantile", False), (3, "quantile", True), (3, "quantile", False),
        (3, "quantile", False)]
    rnn = net.layers[11]
    assert (rnn.state_bits, rnn.state_mode, rnn.state_grad, rnn.raw_output, rnn.state_scale) == (
        3, "quantile", "levels", True, 0.5)
    hw = architectures.spoken_digit_net(quant="minmax")
    names = [type(la).__name__ for la in hw.layers]
    assert names[:10] == CRNN_LAYERS[:9] + ["ReLU"] and hw.n_weights == 68_480


def test_fashion_cnn_layers_and_weights_match_the_study():
    net = architectures.fashion_mnist_cnn(activation_bits=4, quant="minmax")
    assert [type(la).__name__ for la in net.layers] == [
        "MaxPool2d", "Quantize", "Conv2d", "BatchNorm", "ReLU", "Quantize", "Conv2d", "MaxPool2d",
        "BatchNorm", "ReLU", "Quantize", "Flatten", "Dense", "ReLU", "Quantize", "Dense"]
    # conv1 64x1x3x3, conv2 16x64x3x3, fc1 128x400, fc2 10x128
    assert net.shapes == [(9, 64), (576, 16), (400, 128), (128, 10)]
    assert net.n_weights == architectures.FASHION_MNIST_WEIGHTS == 62_272


# ----------------------------------------------------------------- plain-numpy reference
def _q_quantile(m, bits, after_relu):
    """The study's 'un-uni' quantiser, written out from its description."""
    s = np.sort(m.ravel())
    n, L = s.size, 2**bits
    if after_relu:
        z = int(np.sum(s == 0))
        p = np.arange(0.5 / (L - 1), 1, 1 / (L - 1))
        quan = s[[0] + list((np.round(p * (n - z)) + z).astype(int))]
    else:
        p = np.arange(0.5 / L, 1, 1 / L)
        quan = s[list(np.round(p * n).astype(int))]
    out = m.copy()
    for i in range(1, L - 1):
        out = np.where((m > (quan[i] + quan[i - 1]) / 2) & (m <= (quan[i] + quan[i + 1]) / 2),
                       quan[i], out)
    out = np.where(m <= (quan[0] + quan[1]) / 2, quan[0], out)
    return np.where(m > (quan[-2] + quan[-1]) / 2, quan[-1], out)


def _conv(x, w, stride):  # x (B, C, H, W), w (O, C, kh, kw)
    b, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho, wo = (h - kh) // stride[0] + 1, (wd - kw) // stride[1] + 1
    y = np.zeros((b, o, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = x[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            y[:, :, i, j] = np.einsum("bchw,ochw->bo", patch, w)
    return y


def _pool(x):
    b, c, h, w = x.shape
    h2, w2 = h // 2, w // 2
    return x[:, :, :2 * h2, :2 * w2].reshape(b, c, h2, 2, w2, 2).max(axis=(3, 5))


def _bn(x, mean, var):
    return (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)


def test_crnn_forward_equals_a_numpy_reference():
    rng = np.random.default_rng(5)
    net = architectures.spoken_digit_net()
    # normal weights: signed constants on 3-bit inputs cancel exactly, and a sum that is 0 in one
    # summation order and 1e-17 in the other moves the quantile levels (the count of zeros)
    net.set_weights([rng.normal(size=s) for s in net.shapes])
    net.init_scores(rng=rng)
    bns = [la for la in net.layers if isinstance(la, BatchNorm)]
    for bn in bns:
        bn.running_mean = rng.normal(0, 0.3, bn.channels)
        bn.running_var = rng.uniform(0.5, 2.0, bn.channels)
    x = rng.random((6, 1, 23, 20))
    out = net.forward(x)  # evaluation: BN running statistics, per-batch levels (the study's test)

    w = net.effective_weights()
    w1 = w[0].T.reshape(64, 1, 3, 2)  # im2col rows (in, kh, kw) -> the study's (out, in, kh, kw)
    w2 = w[1].T.reshape(32, 64, 3, 2)
    h = np.round(np.clip(x, 0, 1) * 7) / 7  # 3-bit uniform input on [0, 1]
    h = np.maximum(_bn(_pool(_conv(h, w1, (2, 1))), bns[0].running_mean, bns[0].running_var), 0)
    h = _q_quantile(h, 3, True)
    h = _bn(_pool(_conv(h, w2, (2, 1))), bns[1].running_mean, bns[1].running_var)
    assert h.shape == (6, 32, 1, 4)
    h = _q_quantile(h[:, :, 0, :], 3, False)  # squeeze, signed quantiser
    seq = h.transpose(2, 0, 1)  # (T, B, 32)
    w_ih, w_hh = w[2][:32], w[2][32:] * 0.5  # the recurrent block at its own scale
    state, states = np.zeros((6, 128)), []
    for t in range(4):
        state = np.maximum(seq[t] @ w_ih + state @ w_hh, 0)
        states.append(state)
        if t != 3:
            state = _q_quantile(state, 3, True)
    h = _q_quantile(np.mean(states, axis=0), 3, True)
    h = _q_quantile(np.maximum(h @ w[3], 0), 3, True)
    ref = h @ w[4]
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    assert isinstance(net.layers[11], ReLURNN)
