"""Hardware-aware training: the weight noise of ``TrainConfig.weight_noise`` in the forward pass."""

import numpy as np
import pytest

from rramsim.nn import architectures
from rramsim.nn.train import TrainConfig, TrainError, noisy_weights, train


def _dense(seed=0, shape=(64, 10)):
    net = architectures.mlp(shape[0], (shape[1],), 10)
    net.make_dense(rng=np.random.default_rng(seed))
    return net


def test_noise_statistics_of_one_forward_pass_by_hand():
    net = _dense(shape=(400, 250))          # 100,000 weights
    w = net.weight_layers[0].weight.copy()
    rel = 0.05
    sigma = rel * np.max(np.abs(w))
    w1 = net.weight_layers[1].weight.copy()
    x = np.random.default_rng(2).uniform(size=(3, 400))
    with noisy_weights(net, rel, np.random.default_rng(1)):
        d = net.weight_layers[0].weight - w
        d1 = net.weight_layers[1].weight - w1
        got = net.forward(x)
    n = d.size
    # mean 0 within 4 standard errors; std within 4 standard errors of sigma (sigma / sqrt(2n))
    assert abs(d.mean()) < 4 * sigma / np.sqrt(n)
    assert d.std() == pytest.approx(sigma, abs=4 * sigma / np.sqrt(2 * n))
    # the noise is independent of the weight (correlation within 4 / sqrt(n))
    assert abs(np.corrcoef(d.ravel(), w.ravel())[0, 1]) < 4 / np.sqrt(n)
    # clean weights restored, bit for bit
    assert np.array_equal(net.weight_layers[0].weight, w)
    # the draws by hand: layer by layer from the same generator, each at its own max|w|
    gen = np.random.default_rng(1)
    d_again = sigma * gen.standard_normal(w.shape)
    d1_again = rel * np.max(np.abs(w1)) * gen.standard_normal(w1.shape)
    assert np.allclose(d, d_again, rtol=0, atol=1e-15)
    assert np.allclose(d1, d1_again, rtol=0, atol=1e-15)
    # the forward pass saw the noisy weights: the same as a network holding them
    ref = _dense(shape=(400, 250))
    ref.set_weights([w + d, w1 + d1])
    assert np.array_equal(got, ref.forward(x))
    assert not np.allclose(got, net.forward(x), rtol=1e-6)


def test_zero_noise_is_plain_training_and_noise_changes_the_result():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 64))
    y = rng.integers(0, 10, size=60)
    out = []
    for wn in (None, 0.0, 0.1):
        net = _dense(3)
        cfg = TrainConfig(epochs=2, batch_size=20, lr=0.05, flip_limiter=None)
        if wn is not None:
            cfg = TrainConfig(epochs=2, batch_size=20, lr=0.05, flip_limiter=None, weight_noise=wn)
        train(net, x, y, config=cfg, rng=np.random.default_rng(4))
        out.append(net.weight_layers[0].weight.copy())
    assert np.array_equal(out[0], out[1])        # the same computation: no draws at 0
    assert np.max(np.abs(out[2] - out[0])) > 1e-4


def test_weight_noise_refused_outside_its_range():
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(TrainError, match="weight_noise"):
            TrainConfig(weight_noise=bad)
