"""The spoken-digit network as in the study: 3-bit activations on every layer (straight-through
estimator), a recurrent state bounded at initialisation, and a conventionally trained baseline
that beats a logistic-regression reference on the same features."""

import numpy as np
import pytest
from helpers import check_score_gradients, prepare_net

from rramsim.nn import architectures
from rramsim.nn.hardware import DeviceNetwork
from rramsim.nn.layers import Dense, Quantize, ReLURNN, TimeMean, ideal_matmul
from rramsim.nn.network import Network


def test_scaled_state_rnn_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    net = Network([ReLURNN(3, 5, state_scale=0.3), TimeMean(), Dense(5, 4)],
                  input_shape=(6, 3), name="rnn")
    x, y = rng.random((4, 6, 3)), rng.integers(0, 4, 4)
    check_score_gradients(prepare_net(net, rng), x, y, rng, n_entries=10)


def test_state_quantiser_straight_through():
    # 20 bits on a wide range: the quantiser is almost the identity and the STE gradient equals the
    # unquantised layer's; on a narrow range the gradient vanishes where the state is clipped
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.4, (8 + 6, 6))
    x = rng.random((3, 5, 8))
    g = rng.normal(size=(3, 5, 6))
    grads = {}
    for name, kw in {"plain": {}, "q20": dict(state_bits=20, state_max=50.0)}.items():
        la = ReLURNN(8, 6, **kw)
        la.weight, la.index = w.copy(), 0
        la.forward(x, train=True, matmul=ideal_matmul)
        la.zero_grad()
        grads[name] = (la.backward(g), la._gw.copy())
    np.testing.assert_allclose(grads["q20"][0], grads["plain"][0], rtol=1e-4, atol=1e-6)
    # the weight gradient multiplies the (quantised) fed-back states: half a 20-bit step, 2.4e-5,
    # times the summed output gradients
    np.testing.assert_allclose(grads["q20"][1], grads["plain"][1], rtol=1e-4, atol=2e-4)
    la = ReLURNN(8, 6, state_bits=3, state_max=0.2)
    la.weight, la.index = w.copy(), 0
    h = la.forward(x, train=True, matmul=ideal_matmul)
    assert h.max() <= 0.2 + 1e-12 and np.allclose(h * 35, np.round(h * 35))  # 7 levels of 0.2/7
    la.zero_grad()
    gx = la.backward(np.zeros_like(g) + (np.arange(5) == 4)[None, :, None])  # dL/dh_T = 1
    z = la._zs[-1]
    gz_expected = ((z > 0) & (z <= 0.2)).astype(float)
    np.testing.assert_allclose(gx[:, -1], gz_expected @ w[:8].T, atol=1e-12)


def test_recurrent_state_bounded_at_initialisation():
    rng = np.random.default_rng(2)
    net = architectures.spoken_digit_net(input_bits=None, activation_bits=None)
    dev, _ = DeviceNetwork.form(net.shapes, rng=rng)
    net.set_weights(dev.weights())
    net.init_scores(rng=rng)
    rnn = next(la for la in net.layers if isinstance(la, ReLURNN))
    scale = rnn.bound_state(gain=0.5)
    assert 0 < scale < 1  # the random device weights' recurrent gain exceeds 0.5
    rec = rnn.effective_weight()[rnn.input_size :]
    assert scale * np.linalg.norm(rec, 2) == pytest.approx(0.5, rel=1e-9)
    h = rng.random((16, 1, 23, 20)) * 3
    for la in net.layers[: net.layers.index(rnn)]:
        h = la.forward(h, train=False, matmul=ideal_matmul)
    states = rnn.forward(h, train=False, matmul=ideal_matmul)
    drive = np.linalg.norm(h @ rnn.effective_weight()[: rnn.input_size], axis=2).max(axis=1)
    norms = np.linalg.norm(states, axis=2)  # (B, T)
    assert np.all(norms.max(axis=1) <= drive / (1 - 0.5) + 1e-9)


def test_every_weight_layer_sees_three_bit_inputs():
    rng = np.random.default_rng(3)
    net = architectures.spoken_digit_net(activation_bits=3, quant="fixed")
    net.set_weights([rng.normal(0, np.sqrt(2 / s[0]), s) for s in net.shapes])
    net.init_scores(rng=rng)
    rnn = next(la for la in net.layers if isinstance(la, ReLURNN))
    rnn.state_scale = 0.4
    x = rng.random((20, 1, 23, 20))
    net.calibrate(x)
    quants = [la for la in net.layers if isinstance(la, Quantize)]
    assert [q.bits for q in quants] == [3] * 5 and rnn.state_bits == 3
    # the full scale each weight layer's inputs are quantised to (the RNN: input part, state part)
    steps = [quants[0].x_max / 7, quants[1].x_max / 7, None, quants[3].x_max / 7,
             quants[4].x_max / 7]
    seen = {}

    def hook(i, x2d, w):
        seen.setdefault(i, x2d)
        return x2d @ w

    net.forward(x, matmul=hook)
    for i, step in enumerate(steps):
        if i == 2:
            u = seen[2]
            xi, hs = u[:, :32] / (quants[2].x_max / 7), u[:, 32:] / (0.4 * rnn.state_max / 7)
            np.testing.assert_allclose(xi, np.round(xi), atol=1e-9)
            np.testing.assert_allclose(hs, np.round(hs), atol=1e-9)
        else:
            v = seen[i] / step
            np.testing.assert_allclose(v, np.round(v), atol=1e-9)
            assert v.max() <= 7 + 1e-9


def _features(n, rng):
    """Spectrogram-like maps (1, 23, 20): a chirp whose slope (5 values) and on/off pattern
    (2 values) give the class, at a random frequency and time offset, with noise."""
    y = rng.integers(0, 10, n)
    slope = np.array([-0.8, -0.4, 0.0, 0.4, 0.8])[y % 5]
    f0, shift = rng.uniform(7, 15, n), rng.integers(-3, 4, n)
    tt = np.arange(20)[None] - 10 - shift[:, None]
    band = f0[:, None] + slope[:, None] * tt
    x = np.exp(-0.5 * (np.arange(23)[None, :, None] - band[:, None, :]) ** 2)
    on = np.where((y // 5 == 0)[:, None], np.abs(tt) < 6, (np.abs(tt) >= 2) & (np.abs(tt) < 6))
    x = x * on[:, None, :] * rng.uniform(0.6, 1.0, (n, 1, 1)) + rng.normal(0, 0.2, x.shape)
    return np.clip(x, 0, 1)[:, None], y


@pytest.mark.slow
def test_baseline_reaches_logistic_regression_reference():
    from sklearn.linear_model import LogisticRegression

    from rramsim.nn.experiment import task_train_configs
    from rramsim.nn.train import train

    rng = np.random.default_rng(0)
    xtr, ytr = _features(1000, rng)
    xte, yte = _features(400, rng)
    ref = LogisticRegression(max_iter=3000).fit(xtr.reshape(len(xtr), -1), ytr)
    ref_acc = ref.score(xte.reshape(len(xte), -1), yte)
    _, base_cfg = task_train_configs("fsdd", epochs=12)  # the task's baseline: lr 0.05, clip 1
    net = architectures.spoken_digit_net(activation_bits=3)
    r = np.random.default_rng(1)
    net.make_dense(rng=r)
    net.calibrate(xtr)
    res = train(net, xtr, ytr, config=base_cfg, rng=r)
    acc = net.accuracy(xte, yte)
    assert res.epoch_loss[-1] < 0.8 * np.log(10)  # not stuck at chance (ln 10)
    assert 0.3 < ref_acc < 0.9  # the reference is informative but not perfect
    assert acc >= ref_acc
