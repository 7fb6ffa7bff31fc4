"""U-Net layers: bilinear up-sampling, skip concatenation, 1x1 convolution, per-pixel 2-class
cross-entropy; gradients against central differences, the architecture's weight count."""

import numpy as np
import pytest
from helpers import check_score_gradients, prepare_net

from rramsim.nn import architectures
from rramsim.nn.layers import (
    BatchNorm,
    Concat,
    Conv2d,
    LayerError,
    MaxPool2d,
    ReLU,
    Stash,
    Upsample2x,
)
from rramsim.nn.network import Network, softmax, softmax_cross_entropy

EPS = 1e-6


def test_upsample_reproduces_linear_functions_with_aligned_corners():
    # bilinear interpolation is exact for a*r + b*c + d; output pixel i sits at i (n-1)/(2n-1)
    h, w = 3, 5
    r, c = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    x = (0.7 * r - 1.3 * c + 2.0)[None, None]
    y = Upsample2x().forward(x, train=False, matmul=None)
    assert y.shape == (1, 1, 6, 10)
    rr, cc = np.meshgrid(np.arange(6) * (h - 1) / 5, np.arange(10) * (w - 1) / 9, indexing="ij")
    np.testing.assert_allclose(y[0, 0], 0.7 * rr - 1.3 * cc + 2.0, rtol=0, atol=1e-13)


def test_upsample_hand_values_and_adjoint():
    x = np.array([[[[0.0, 3.0], [6.0, 9.0]]]])
    y = Upsample2x().forward(x, train=False, matmul=None)[0, 0]
    np.testing.assert_allclose(y[0], [0, 1, 2, 3], atol=1e-14)
    np.testing.assert_allclose(y[:, 0], [0, 2, 4, 6], atol=1e-14)
    assert y[3, 3] == pytest.approx(9.0)
    # backward is the adjoint: <up(x), g> == <x, up^T(g)>
    rng = np.random.default_rng(0)
    layer = Upsample2x()
    x, g = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(2, 3, 8, 10))
    lhs = np.sum(layer.forward(x, train=True, matmul=None) * g)
    rhs = np.sum(x * layer.backward(g))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_concat_needs_matching_stash():
    with pytest.raises(LayerError, match="no Stash"):
        Network([Concat("a")], input_shape=(1, 4, 4), name="bad")
    with pytest.raises(LayerError, match="differ"):
        Network([Stash("a"), MaxPool2d(2), Concat("a")], input_shape=(1, 4, 4), name="bad")


def test_segmentation_cross_entropy_per_pixel():
    logits = np.zeros((1, 2, 1, 2))
    logits[0, 1, 0, 0] = np.log(3.0)  # pixel 0: p(class 1) = 3/4; pixel 1: 1/2
    labels = np.array([[[1, 0]]])
    loss, grad = softmax_cross_entropy(logits, labels)
    assert loss == pytest.approx(-(np.log(0.75) + np.log(0.5)) / 2, rel=1e-14)
    np.testing.assert_allclose(grad[0, :, 0, 0], [0.25 / 2, -0.25 / 2], atol=1e-15)
    np.testing.assert_allclose(grad[0, :, 0, 1], [-0.5 / 2, 0.5 / 2], atol=1e-15)
    np.testing.assert_allclose(softmax(logits).sum(axis=1), 1.0, atol=1e-15)
    with pytest.raises(LayerError, match="labels"):
        softmax_cross_entropy(logits, np.array([[1, 0]]))


def _tiny_skip_net():
    return Network(
        [Conv2d(1, 3, 3, padding=1), BatchNorm(3), ReLU(), Stash("s"), MaxPool2d(2),
         Conv2d(3, 4, 3, padding=1), ReLU(), Upsample2x(), Concat("s"), Conv2d(7, 2, 1)],
        input_shape=(1, 8, 8), name="tiny-unet")


def test_skip_network_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    net = _tiny_skip_net()
    x, y = rng.random((3, 1, 8, 8)), rng.integers(0, 2, (3, 8, 8))
    check_score_gradients(prepare_net(net, rng), x, y, rng, n_entries=8)


def test_input_gradient_through_upsample_and_concat():
    # the loss's gradient w.r.t. the network input (through every new layer) vs central differences
    rng = np.random.default_rng(2)
    net = _tiny_skip_net()
    net.set_weights([rng.normal(0, 1, size=s) for s in net.shapes])
    for la in net.weight_layers:
        la.needs_input_grad = True
    x, y = rng.random((2, 1, 8, 8)), rng.integers(0, 2, (2, 8, 8))
    loss, g = softmax_cross_entropy(net.forward(x, train=True), y)
    gx = g
    for layer in reversed(net.layers):
        gx = layer.backward(gx)
    for flat in rng.choice(x.size, size=10, replace=False):
        idx = np.unravel_index(flat, x.shape)
        xp, xm = x.copy(), x.copy()
        xp[idx] += EPS
        xm[idx] -= EPS
        fd = (softmax_cross_entropy(net.forward(xp, train=True), y)[0]
              - softmax_cross_entropy(net.forward(xm, train=True), y)[0]) / (2 * EPS)
        assert gx[idx] == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_small_unet_score_gradients():
    rng = np.random.default_rng(3)
    net = architectures.unet(base=2, patch=16, input_bits=None)
    x, y = rng.random((2, 1, 16, 16)), rng.integers(0, 2, (2, 16, 16))
    check_score_gradients(prepare_net(net, rng), x, y, rng, n_entries=3)


def test_unet_weight_count_and_layout():
    net = architectures.unet()
    assert net.n_weights == architectures.unet_weight_count(n_classes=2) == 4_313_440
    ref = [(i * kh * kw, o) for o, i, kh, kw in architectures.unet_conv_shapes(n_classes=2)]
    assert net.shapes == ref
    assert net.output_shape == (2, 48, 48)
    assert sum(isinstance(la, Conv2d) and la.kernel == (1, 1) for la in net.weight_layers) == 1


def test_unet_matmul_hook_sees_every_weight_layer():
    rng = np.random.default_rng(4)
    net = architectures.unet(base=2, patch=16)
    net.set_weights([rng.normal(0, 0.5, size=s) for s in net.shapes])
    net.init_scores(rng=rng)
    seen = []

    def hook(i, x2d, w):
        seen.append(i)
        np.testing.assert_array_equal(w, net.effective_weights()[i])
        return x2d @ w

    x = rng.random((2, 1, 16, 16))
    # the hook goes through im2col, the ideal product through shifted products where the layer
    # has 8 or more input channels: the same sums in another order
    np.testing.assert_allclose(net.forward(x, matmul=hook), net.forward(x), rtol=1e-10, atol=1e-12)
    assert seen == list(range(len(net.weight_layers)))
    assert net.predict(x).shape == (2, 16, 16)
