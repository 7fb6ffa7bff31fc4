"""Gradient checks: score updates by the straight-through estimator against finite differences.

Edge-popup (Ramanujan et al., CVPR 2020; used by arXiv 2311.07164) passes ``dL/dM`` straight to the
scores: ``dL/dS = sign(S) * dL/dM`` with ``dL/dM = W * dL/d(W*M)``. Treating the mask as continuous,
``dL/dM`` is checked entry by entry against central differences of the loss; the same check covers
the backward passes of dense, convolution, pooling, batch-norm and recurrent layers.
"""

import numpy as np
import pytest
from helpers import EPS, check_score_gradients, prepare_net, train_loss

from rramsim.nn import architectures
from rramsim.nn.layers import Conv2d, Flatten
from rramsim.nn.network import Network, softmax_cross_entropy


def test_score_gradient_mlp():
    rng = np.random.default_rng(0)
    net = prepare_net(architectures.mlp(12, (16, 8), 5, input_bits=None), rng)
    x, y = rng.random((7, 12)), rng.integers(0, 5, 7)
    check_score_gradients(net, x, y, rng)


def test_score_gradient_conv_bn_pool():
    rng = np.random.default_rng(1)
    from rramsim.nn.layers import BatchNorm, Dense, MaxPool2d, ReLU

    net = Network(
        [
            Conv2d(2, 4, 3, padding=1, stride=1),
            BatchNorm(4),
            ReLU(),
            MaxPool2d(2),
            Conv2d(4, 3, (2, 3), stride=(2, 1)),
            Flatten(),
            Dense(3 * 2 * 2, 4),
        ],
        input_shape=(2, 8, 8),
        name="tiny-cnn",
    )
    prepare_net(net, rng)
    x, y = rng.random((5, 2, 8, 8)), rng.integers(0, 4, 5)
    check_score_gradients(net, x, y, rng)


def test_score_gradient_spoken_digit_net_rnn():
    rng = np.random.default_rng(2)
    net = prepare_net(architectures.spoken_digit_net(input_bits=None, activation_bits=None), rng)
    x, y = rng.random((3, 1, 23, 20)), rng.integers(0, 10, 3)
    check_score_gradients(net, x, y, rng, n_entries=6)


def test_weight_gradient_baseline_mode():
    rng = np.random.default_rng(3)
    net = architectures.mlp(6, (5,), 3, input_bits=None)
    net.make_dense(rng=rng)
    x, y = rng.random((4, 6)), rng.integers(0, 3, 4)
    net.loss_and_grad(x, y)
    for la in net.weight_layers:
        g = la.grad.copy()
        for i in range(la.fan_in):
            for j in range(la.fan_out):
                w0 = la.weight.copy()
                la.weight = w0.copy()
                la.weight[i, j] += EPS
                lp = train_loss(net, x, y)
                la.weight[i, j] -= 2 * EPS
                lm = train_loss(net, x, y)
                la.weight = w0
                assert g[i, j] == pytest.approx((lp - lm) / (2 * EPS), abs=1e-7)


def test_softmax_cross_entropy_analytic():
    logits = np.array([[0.0, np.log(3.0)]])
    loss, grad = softmax_cross_entropy(logits, np.array([1]))
    assert loss == pytest.approx(-np.log(0.75), rel=1e-14)
    np.testing.assert_allclose(grad, [[0.25, -0.25]], atol=1e-15)


def test_conv_im2col_matches_direct_convolution():
    rng = np.random.default_rng(4)
    conv = Conv2d(3, 2, (3, 2), stride=(2, 1), padding=(1, 0))
    conv.weight = rng.normal(size=(conv.fan_in, conv.fan_out))
    x = rng.normal(size=(2, 3, 7, 5))
    y = conv.forward(x, train=False, matmul=lambda i, a, w: a @ w)
    w4 = conv.weight.T.reshape(2, 3, 3, 2)  # (out, in, kh, kw)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    ho, wo = (7 + 2 - 3) // 2 + 1, 5 - 2 + 1
    ref = np.zeros((2, 2, ho, wo))
    for b in range(2):
        for o in range(2):
            for r in range(ho):
                for c in range(wo):
                    patch = xp[b, :, 2 * r : 2 * r + 3, c : c + 2]
                    ref[b, o, r, c] = np.sum(patch * w4[o])
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
