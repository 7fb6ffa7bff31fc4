"""Training at scale: batched calibration, float32 compute, the fast convolution path."""

import numpy as np
import pytest

from rramsim.nn import architectures
from rramsim.nn.data import load_digits
from rramsim.nn.layers import Conv2d, Quantize, ideal_matmul
from rramsim.nn.network import Network
from rramsim.nn.train import TrainConfig, TrainError, train


def _init(net, seed):
    rng = np.random.default_rng(seed)
    net.set_weights([rng.normal(0, np.sqrt(2 / s[0]), size=s) for s in net.shapes])
    net.init_scores(rng=rng)
    return rng


def _reference_calibration(net, x, percentile=99.9):
    """The unbatched definition: the whole set through the network at once."""
    h = np.asarray(x, dtype=float)
    out = []
    for layer in net.layers:
        if isinstance(layer, Quantize) and layer.calibrate:
            layer.x_max = float(np.percentile(h[h > 0], percentile))
            out.append(layer.x_max)
        h = layer.forward(h, train=False, matmul=ideal_matmul)
    return out


def test_batched_calibration_equals_whole_set_calibration():
    net = architectures.mlp(64, (32, 16), 10, activation_bits=3)
    _init(net, 0)
    x = load_digits().x_train
    ref = _reference_calibration(net, x)
    got = net.calibrate(x, batch_size=97)
    assert got == pytest.approx(ref, rel=1e-12)
    assert len(got) == 2


def test_thinned_calibration_within_tolerance():
    # above max_values every s-th value is kept: the 99.9th percentile moves by < 2 %
    net = architectures.mlp(64, (256,), 10, activation_bits=3)
    _init(net, 1)
    x = load_digits().x_train
    ref = _reference_calibration(net, x)
    got = net.calibrate(x, batch_size=200, max_values=20_000)
    assert got[0] == pytest.approx(ref[0], rel=0.02)
    assert architectures.fashion_mnist_cnn().calibrate(np.zeros((2, 1, 28, 28))) == []


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_conv_training_path_equals_evaluation_path(dtype, tol):
    rng = np.random.default_rng(2)
    for conv in (Conv2d(3, 5, 3, padding=1), Conv2d(2, 4, (3, 2), stride=(2, 1))):
        conv.weight = rng.normal(size=(conv.fan_in, conv.fan_out))
        x = rng.normal(size=(2, conv.in_channels, 7, 6)).astype(dtype)
        ev = conv.forward(x, train=False, matmul=ideal_matmul)
        tr = conv.forward(x, train=True, matmul=ideal_matmul)
        assert ev.dtype == tr.dtype == dtype
        np.testing.assert_allclose(tr, ev, rtol=tol, atol=tol * np.abs(ev).max())


def test_float32_forward_matches_float64():
    net = architectures.fashion_mnist_cnn()
    _init(net, 3)
    x = np.random.default_rng(3).random((6, 1, 28, 28))
    y64 = net.forward(x)
    net.dtype = np.dtype(np.float32)
    y32 = net.forward(x)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4 * np.abs(y64).max())


@pytest.mark.slow
def test_float32_training_reaches_float64_accuracy():
    # the stated tolerance: 8 epochs on digits, float32 and float64 within 2 points of accuracy
    ds = load_digits()
    accs = {}
    for dt in ("float64", "float32"):
        net = architectures.mlp(64, (128,), 10)
        rng = _init(net, 4)
        train(net, ds.x_train, ds.y_train, rng=rng,
              config=TrainConfig(epochs=8, batch_size=32, lr=0.1, dtype=dt))
        assert net.dtype == np.float64  # restored after training
        accs[dt] = net.accuracy(ds.x_test, ds.y_test)
    assert accs["float64"] > 0.8
    assert abs(accs["float32"] - accs["float64"]) <= 0.02
    with pytest.raises(TrainError, match="dtype"):
        TrainConfig(dtype="float16")


def test_skip_store_is_empty_after_passes():
    net = architectures.unet(base=2, patch=16)
    rng = _init(net, 5)
    x = rng.random((2, 1, 16, 16))
    net.forward(x, train=True)
    assert net._store == {}
    net.backward(np.ones((2, 2, 16, 16)))
    assert net._store == {}
    assert isinstance(net, Network)


def test_maxpool_matches_loops_with_ties_first_maximum_wins():
    from rramsim.nn.layers import MaxPool2d

    rng = np.random.default_rng(6)
    for p, shape in ((2, (2, 3, 7, 8)), (3, (1, 2, 9, 7))):
        x = rng.integers(0, 3, shape).astype(float)  # many ties
        pool = MaxPool2d(p)
        y = pool.forward(x, train=True, matmul=ideal_matmul)
        g = rng.normal(size=y.shape)
        gx = pool.backward(g)
        ref_y, ref_gx = np.zeros(y.shape), np.zeros(x.shape)
        for b, c, i, j in np.ndindex(*y.shape):
            win = x[b, c, i * p : (i + 1) * p, j * p : (j + 1) * p]
            r, s = np.unravel_index(np.argmax(win), win.shape)  # first maximum, row-major
            ref_y[b, c, i, j] = win[r, s]
            ref_gx[b, c, i * p + r, j * p + s] = g[b, c, i, j]
        np.testing.assert_array_equal(y, ref_y)
        np.testing.assert_array_equal(gx, ref_gx)
