"""The study's architectures (arXiv 2311.07164) and the forward API with a pluggable matmul."""

import numpy as np
import pytest

from rramsim.nn import architectures
from rramsim.nn.layers import LayerError
from rramsim.nn.masks import n_kept
from rramsim.nn.train import TrainConfig, train


def _init(net, rng):
    net.set_weights([rng.choice([-1.0, 1.0], size=s) / np.sqrt(0.5 * s[0]) for s in net.shapes])
    net.init_scores(rng=rng)
    return net


def test_fashion_mnist_cnn_weight_count_and_layers():
    net = architectures.fashion_mnist_cnn()
    assert net.n_weights == 62_272 == architectures.FASHION_MNIST_WEIGHTS
    # 3*3*1*64 + 3*3*64*16 + 400*128 + 128*10
    assert net.shapes == [(9, 64), (576, 16), (400, 128), (128, 10)]
    assert net.output_shape == (10,)


def test_fashion_mnist_cnn_forward_and_one_training_step():
    rng = np.random.default_rng(0)
    net = _init(architectures.fashion_mnist_cnn(), rng)
    x = rng.random((8, 1, 28, 28))
    y = rng.integers(0, 10, 8)
    x_before = x.copy()
    logits = net.forward(x)
    assert logits.shape == (8, 10) and np.all(np.isfinite(logits))
    scores0 = [la.scores.copy() for la in net.weight_layers]
    res = train(net, x, y, config=TrainConfig(epochs=1, batch_size=8, lr=0.1), rng=rng)
    assert res.steps == 1 and np.isfinite(res.epoch_loss[0])
    for la, s0 in zip(net.weight_layers, scores0, strict=True):
        assert not np.array_equal(la.scores, s0)
        assert la.mask.sum() == n_kept(la.n_weights, 0.5)
    np.testing.assert_array_equal(x, x_before)


def test_spoken_digit_net_weight_count_forward_step():
    net = architectures.spoken_digit_net()
    assert net.n_weights == 68_480 == architectures.SPOKEN_DIGITS_WEIGHTS
    # conv 6x64, conv 384x32, RNN (32+128)x128, fc 128x256, fc 256x10
    assert net.shapes == [(6, 64), (384, 32), (160, 128), (128, 256), (256, 10)]
    rng = np.random.default_rng(1)
    _init(net, rng)
    x, y = rng.random((4, 1, 23, 20)), rng.integers(0, 10, 4)
    assert net.forward(x).shape == (4, 10)
    res = train(net, x, y, config=TrainConfig(epochs=1, batch_size=4), rng=rng)
    assert res.steps == 1


def test_unet_weight_count():
    shapes = architectures.unet_conv_shapes(32)
    assert len(shapes) == 19
    assert architectures.unet_weight_count(32) == 4_313_408
    # scales as base^2 apart from the first and last layers
    assert architectures.unet_weight_count(64) == 4 * (4_313_408 - 288 - 32) + 576 + 64


def test_matmul_hook_sees_effective_weights_and_replaces_products():
    rng = np.random.default_rng(2)
    net = _init(architectures.fashion_mnist_cnn(input_bits=None), rng)
    x = rng.random((2, 1, 28, 28))
    seen = {}

    def hook(i, x2d, w):
        seen[i] = (x2d.shape, w)
        return x2d @ w

    np.testing.assert_array_equal(net.forward(x, matmul=hook), net.forward(x))
    eff = net.effective_weights()
    assert sorted(seen) == [0, 1, 2, 3]
    for i, (shape, w) in seen.items():
        np.testing.assert_array_equal(w, eff[i])
        assert shape[1] == net.shapes[i][0]
    assert seen[0][0] == (2 * 12 * 12, 9)  # im2col rows: batch * 12 * 12 positions

    # a hook that doubles the last layer's product doubles the logits (no non-linearity after it)
    def doubled(i, x2d, w):
        return 2 * (x2d @ w) if i == 3 else x2d @ w

    np.testing.assert_allclose(net.forward(x, matmul=doubled), 2 * net.forward(x), rtol=1e-12)


def test_effective_weight_is_weight_times_mask_and_copies():
    rng = np.random.default_rng(3)
    net = _init(architectures.mlp(8, (6,), 3), rng)
    eff = net.effective_weights()
    for la, e in zip(net.weight_layers, eff, strict=True):
        np.testing.assert_array_equal(e, np.where(la.mask, la.weight, 0.0))
    eff[0][:] = 123.0
    assert not np.any(net.weight_layers[0].weight == 123.0)


def test_bad_input_shape():
    net = architectures.mlp(8, (4,), 2)
    with pytest.raises(LayerError, match="input shape"):
        net.forward(np.zeros((3, 7)))


def test_matmul_hook_wrong_shape_is_an_error():
    net = _init(architectures.mlp(8, (4,), 2), np.random.default_rng(5))
    with pytest.raises(LayerError, match="layer 0: matmul returned shape"):
        net.forward(np.zeros((3, 8)), matmul=lambda i, x2d, w: x2d @ w[:, :2])
