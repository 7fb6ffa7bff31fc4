"""The study's DRIVE U-Net and pipeline: the layer list and parameter counts of its code
(``UNET_DRIVE_TO/DRIVE_software_TO.py``), affine batch norm and the shifted-product convolution
against references, the pre-processing against hand-computed values, FOV-centred patches and
augmentation, the stride-16 sliding-window average, and Adam against a hand computation."""

import numpy as np
import pytest

from rramsim.errors import DataError, TrainError
from rramsim.nn import architectures, drive
from rramsim.nn.layers import (
    BatchNorm,
    Concat,
    Conv2d,
    MaxPool2d,
    Quantize,
    ReLU,
    Stash,
    Upsample2x,
    ideal_matmul,
)
from rramsim.nn.network import Network
from rramsim.nn.train import TrainConfig, adam_update, parameter_slots, train


def _kinds(net):
    return [type(la).__name__ for la in net.layers]


def test_unet_layer_list_and_counts_are_the_studys():
    net = architectures.unet()
    # the study's UNet_ep(in_channels=1, num_classes=2, bilinear=True, base_c=32): 19 convolutions
    # (18 3x3 with padding 1, one 1x1), each after a 6-bit per-batch min/max quantiser
    convs = [la for la in net.layers if isinstance(la, Conv2d)]
    assert len(convs) == 19
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (1, 32), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256),
        (256, 256), (256, 256),  # down4: 256 -> 512 // 2
        (512, 256), (256, 128), (256, 128), (128, 64), (128, 64), (64, 32), (64, 32), (32, 32),
        (32, 2)]
    assert all(c.padding == (1, 1) and c.kernel == (3, 3) for c in convs[:-1])
    assert convs[-1].kernel == (1, 1) and convs[-1].padding == (0, 0)
    kinds = _kinds(net)
    for j, la in enumerate(net.layers):
        if isinstance(la, Conv2d):
            q = net.layers[j - 1]
            assert isinstance(q, Quantize) and q.bits == 6 and q.mode == "minmax" and q.signed
    # every 3x3 convolution is followed by affine batch norm and ReLU
    for j, la in enumerate(net.layers[:-1]):
        if isinstance(la, Conv2d) and la.kernel == (3, 3):
            bn = net.layers[j + 1]
            assert isinstance(bn, BatchNorm) and bn.affine and bn.channels == la.out_channels
            assert isinstance(net.layers[j + 2], ReLU)
    assert kinds.count("MaxPool2d") == 4 and kinds.count("Upsample2x") == 4
    assert kinds.count("Stash") == kinds.count("Concat") == 4
    # decoder order: up-sample, then concatenate [skip, up-sampled] (the skip's channels first)
    ups = [j for j, k in enumerate(kinds) if k == "Upsample2x"]
    assert all(kinds[j + 1] == "Concat" for j in ups)
    # 4,313,440 weights: 4,313,408 in the 3x3 convolutions + 32 x 2 in the 1x1; the study counts
    # trainable parameters (scores, one per weight, and the affine BN's scale and shift):
    # 4,313,440 + 2 x 2,208 BN channels = 4,317,856 ("number of params (M): 4.32")
    assert net.n_weights == 4_313_440 == sum(c.fan_in * c.fan_out for c in convs)
    bn_channels = sum(la.channels for la in net.layers if isinstance(la, BatchNorm))
    assert bn_channels == 2_208
    n_trainable = sum(np.size(getattr(o, a)) for o, a in parameter_slots(net))
    assert n_trainable == 4_317_856
    assert net.output_shape == (2, 48, 48)


def test_affine_batch_norm_against_formula_and_central_differences():
    rng = np.random.default_rng(0)
    bn = BatchNorm(3, affine=True)
    bn.gamma, bn.beta = rng.normal(1, 0.3, 3), rng.normal(0, 0.5, 3)
    x = rng.normal(2.0, 1.5, (4, 3, 2, 5))
    y = bn.forward(x, train=True, matmul=ideal_matmul)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    ref = (x - mean[None, :, None, None]) / np.sqrt(var + 1e-5)[None, :, None, None]
    ref = ref * bn.gamma[None, :, None, None] + bn.beta[None, :, None, None]
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    w = rng.normal(size=y.shape)  # loss = sum(w * y)
    gx = bn.backward(w)

    def loss(xx=None, gamma=None, beta=None):
        b = BatchNorm(3, affine=True)
        b.gamma = bn.gamma if gamma is None else gamma
        b.beta = bn.beta if beta is None else beta
        return float(np.sum(w * b.forward(x if xx is None else xx, train=True,
                                          matmul=ideal_matmul)))

    eps = 1e-6
    for flat in rng.choice(x.size, 6, replace=False):
        idx = np.unravel_index(flat, x.shape)
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        assert gx[idx] == pytest.approx((loss(xp) - loss(xm)) / (2 * eps), rel=1e-5, abs=1e-8)
    for c in range(3):
        e = np.eye(3)[c] * eps
        assert bn.grad_gamma[c] == pytest.approx(
            (loss(gamma=bn.gamma + e) - loss(gamma=bn.gamma - e)) / (2 * eps), rel=1e-6)
        assert bn.grad_beta[c] == pytest.approx(w[:, c].sum(), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shifted_product_convolution_equals_im2col(dtype):
    # the ideal product takes the shifted path (>= 8 input channels, 3x3, padding 1); a custom
    # hook takes im2col: forward, input and weight gradients agree to rounding
    rng = np.random.default_rng(1)
    conv = Conv2d(9, 5, 3, padding=1)
    conv.weight = rng.normal(size=(81, 5))
    conv.mask = rng.random((81, 5)) < 0.5
    x = rng.normal(size=(2, 9, 7, 6)).astype(dtype)
    g = rng.normal(size=(2, 5, 7, 6)).astype(dtype)
    out = []
    for mm in (ideal_matmul, lambda i, a, w: a @ w):
        y = conv.forward(x, train=True, matmul=mm)
        conv.zero_grad()
        out.append((y, conv.backward(g), conv._gw.copy()))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(out[0], out[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max())


# ----------------------------------------------------------------------------- pre-processing
def test_preprocess_steps_against_hand_values():
    import cv2

    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = np.arange(16)[None, :] * 10        # R
    rgb[..., 1] = np.arange(16)[:, None] * 12        # G
    rgb[..., 2] = 40                                 # B
    # grey at (row 2, col 3): 0.299*30 + 0.587*24 + 0.114*40 = 8.97 + 14.088 + 4.56 = 27.618;
    # minimum (0, 0): 4.56; maximum (15, 15): 0.299*150 + 0.587*180 + 4.56 = 155.07
    grey = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    assert grey[2, 3] == pytest.approx(27.618, abs=1e-12)
    assert grey.min() == pytest.approx(4.56) and grey.max() == pytest.approx(155.07)
    # min-max to [0, 255] and truncation to 8 bits: (27.618 - 4.56) / 150.51 * 255 = 39.07 -> 39
    norm8 = ((grey - 4.56) / 150.51 * 255).astype(np.uint8)
    assert norm8[2, 3] == 39 and norm8[0, 0] == 0 and norm8[15, 15] == 255
    # gamma 1.2 table: uint8(255 (i / 255)^(1 / 1.2)); i = 100: 255 exp(0.8333 ln 0.39216)
    # = 255 exp(-0.78007) = 255 * 0.45837 = 116.9 -> 116
    table = ((np.arange(256) / 255.0) ** (1 / 1.2) * 255).astype(np.uint8)
    assert table[100] == 116 and table[0] == 0 and table[255] == 255
    eq = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(norm8)
    out = drive.preprocess(rgb)
    assert out.dtype == np.float32 and out.shape == (16, 16)
    np.testing.assert_allclose(out, table[eq] / 255.0, rtol=1e-7)
    with pytest.raises(DataError, match="constant"):
        drive.preprocess(np.full((8, 8, 3), 7, np.uint8))
    with pytest.raises(DataError, match="RGB"):
        drive.preprocess(np.zeros((8, 8)))


def test_preprocess_clahe_on_a_constant_tile_image_by_hand():
    # two flat halves: after min-max the left is 0 and the right 255. CLAHE (clip 2.0, 8 x 8
    # tiles of 2 x 2 = N = 4 pixels) clips each tile's histogram at max(int(2.0 N / 256), 1) = 1:
    # a tile of 0s has hist[0] = 4 -> 1, excess 3, 3 // 256 = 0 per bin and the 3 left over go
    # to bins 0, 85, 170 (step 256 // 3), so hist[0] = 2 and the tile maps 0 to
    # round(CDF(0) * 255 / N) = round(2 * 63.75) = 128; a tile of 255s has CDF(255) = 4 -> 255.
    # Corner pixels take their own tile's value (no interpolation partner). Then gamma:
    # table[128] = uint8(255 (128 / 255)^(1 / 1.2)) = uint8(143.4) = 143
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:, 8:] = 200
    out = drive.preprocess(rgb)
    table = ((np.arange(256) / 255.0) ** (1 / 1.2) * 255).astype(np.uint8)
    assert table[128] == 143
    assert out[0, 0] == pytest.approx(143 / 255.0, rel=1e-6)
    assert out[15, 15] == pytest.approx(table[255] / 255.0, rel=1e-6)


# ------------------------------------------------------------------- patches and augmentation
def _split(h=40, w=36, n=2, seed=0):
    rng = np.random.default_rng(seed)
    fov = np.zeros((n, h, w), bool)
    fov[:, 10:30, 12:26] = True
    return drive.DriveSplit(tuple(range(n)), rng.random((n, h, w), dtype=np.float32),
                            rng.random((n, h, w)) < 0.2, fov)


def test_fov_centred_patches_are_image_windows_with_centre_in_the_fov():
    s = _split()
    x, y = drive.fov_centred_patches(s, 30, size=16, rng=np.random.default_rng(3))
    assert x.shape == (30, 1, 16, 16) and y.shape == (30, 16, 16) and x.dtype == np.float32
    for t in range(30):
        hits = [(k, r, c) for k in range(2) for r in range(40 - 15) for c in range(36 - 15)
                if np.array_equal(s.images[k, r : r + 16, c : c + 16], x[t, 0])]
        assert len(hits) == 1
        k, r, c = hits[0]
        assert s.fov[k, r + 8, c + 8]  # the centre pixel (size / 2 from the corner)
        np.testing.assert_array_equal(y[t], s.vessels[k, r : r + 16, c : c + 16])
    xt, yt, xv, yv = drive.split_validation(x, y, 0.1)
    assert len(xt) == 27 and len(xv) == 3
    np.testing.assert_array_equal(xv, x[27:])
    bad = drive.DriveSplit((0,), s.images[:1], s.vessels[:1], np.zeros((1, 40, 36), bool))
    with pytest.raises(DataError, match="field of view"):
        drive.fov_centred_patches(bad, 3, size=16, rng=np.random.default_rng(0))


def _dihedral(a):
    out = []
    for flip in (False, True):
        b = a[:, ::-1] if flip else a
        out += [np.rot90(b, k) for k in range(4)]
    return out


def test_augment_crops_and_transforms_image_and_labels_alike():
    rng = np.random.default_rng(4)
    x = rng.random((64, 1, 12, 12)).astype(np.float32)
    y = rng.integers(0, 2, (64, 12, 12))
    xa, ya = drive.augment(x, y, np.random.default_rng(5), crop=8)
    assert xa.shape == (64, 1, 8, 8) and ya.shape == (64, 8, 8)
    seen = set()
    for t in range(64):
        found = None
        for r in range(5):
            for c in range(5):
                for d, (xi, yi) in enumerate(zip(_dihedral(x[t, 0, r : r + 8, c : c + 8]),
                                                 _dihedral(y[t, r : r + 8, c : c + 8]),
                                                 strict=True)):
                    if np.array_equal(xi, xa[t, 0]):
                        np.testing.assert_array_equal(yi, ya[t])  # labels moved with the image
                        found = (r, c, d)
        assert found is not None
        seen.add(found[2])
    assert len(seen) >= 6  # flips and rotations vary between samples (8 possible)


# ------------------------------------------------------------------------------- sliding window
def test_window_positions_follow_the_studys_padding():
    # DRIVE's 584 x 565 at 96 / 16: (584 - 96) % 16 = 8 -> padded to 592, 32 rows of windows;
    # (565 - 96) % 16 = 5 -> 576, 31 columns: 992 windows per image
    assert drive.padded_length(584, 96, 16) == 592 and drive.padded_length(565, 96, 16) == 576
    assert len(drive.window_starts(584, 96, 16)) == 32
    assert len(drive.window_starts(565, 96, 16)) == 31
    assert drive.window_starts(10, 4, 3) == [0, 3, 6]  # (10 - 4) % 3 == 0: no padding
    assert drive.window_starts(11, 4, 3) == [0, 3, 6, 9]  # padded to 13
    with pytest.raises(DataError):
        drive.window_starts(3, 4, 2)


def test_sliding_window_averages_overlaps():
    # class-1 logit = the window's pixel plus an offset that depends on the window's position
    # (through a per-window constant added to the input); p per window is then sigmoid(v + c_w),
    # and the map must be the mean over the covering windows of those values
    conv = Conv2d(1, 2, 1)
    conv.weight = np.array([[0.0, 1.0]])
    net = Network([conv], input_shape=(1, 4, 4), name="one-by-one")
    img = np.random.default_rng(0).normal(size=(9, 7))
    p = drive.sliding_window_predict(net, img, window=4, stride=2)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-img)), rtol=1e-12)
    # an image whose padded zeros would enter the average if the crop were wrong: the windows
    # cover rows 0..10 (padded from 9 to 10: (9 - 4) % 2 = 1) and columns 0..7 (7 -> 8)
    rows, cols = drive.window_starts(9, 4, 2), drive.window_starts(7, 4, 2)
    assert rows == [0, 2, 4, 6] and cols == [0, 2, 4]
    # a position-dependent network: logit = window mean, so overlapping windows differ; the
    # average at pixel (0, 0) is over the one window at (0, 0), at (2, 2) over 4 windows
    from rramsim.nn.layers import Layer

    class WindowMean(Layer):
        def forward(self, x, *, train, matmul):
            m = x.mean(axis=(2, 3), keepdims=True)
            return np.concatenate([np.zeros_like(x), np.broadcast_to(m, x.shape)], axis=1)

        def output_shape(self, shape):
            return (2, *shape[1:])

    net2 = Network([WindowMean()], input_shape=(1, 4, 4), name="window-mean")
    padded = np.zeros((10, 8))
    padded[:9, :7] = img
    q = drive.sliding_window_predict(net2, img, window=4, stride=2)

    def sig(r, c):
        return 1 / (1 + np.exp(-padded[r : r + 4, c : c + 4].mean()))

    assert q[0, 0] == pytest.approx(sig(0, 0), rel=1e-12)
    assert q[2, 2] == pytest.approx((sig(0, 0) + sig(0, 2) + sig(2, 0) + sig(2, 2)) / 4, rel=1e-12)
    assert q[8, 6] == pytest.approx((sig(6, 4)), rel=1e-12)
    assert q.shape == (9, 7)


def test_unet_runs_at_the_test_window_size_and_keeps_its_bindings():
    net = architectures.unet(base=2, patch=16)
    rng = np.random.default_rng(6)
    net.set_weights([rng.normal(0, 0.5, size=s) for s in net.shapes])
    net.init_scores(rng=rng)
    img = rng.random((40, 37))
    p = drive.sliding_window_predict(net, img, window=32, stride=16, batch_size=4)
    assert p.shape == (40, 37) and np.all((p >= 0) & (p <= 1))
    # the 16 x 16 network still trains afterwards (its skip store and shapes restored)
    assert net.input_shape == (1, 16, 16)
    assert all(la.store is net._store for la in net.layers if isinstance(la, (Stash, Concat)))
    net.loss_and_grad(rng.random((2, 1, 16, 16)), rng.integers(0, 2, (2, 16, 16)))


# ------------------------------------------------------------------------------------- Adam
def test_adam_update_against_hand_computation():
    # two steps on one parameter, betas (0.9, 0.999), eps 1e-8, lr 0.1:
    # step 1: g = 0.5: m = 0.05, v = 0.00025; m_hat = 0.5, v_hat = 0.25 -> p = 1 - 0.1 * 0.5 / 0.5
    p, m, v = adam_update(np.array([1.0]), np.array([0.5]), np.zeros(1), np.zeros(1), lr=0.1,
                          step=1)
    assert m[0] == pytest.approx(0.05) and v[0] == pytest.approx(0.00025)
    assert p[0] == pytest.approx(1.0 - 0.1 * 0.5 / (0.5 + 1e-8), rel=1e-12)
    # step 2: g = -1: m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001 = 0.00124975
    # m_hat = -0.055 / 0.19 = -0.289474, v_hat = 0.00124975 / 0.001999 = 0.625188
    p2, m2, v2 = adam_update(p, np.array([-1.0]), m, v, lr=0.1, step=2)
    assert m2[0] == pytest.approx(-0.055) and v2[0] == pytest.approx(0.00124975)
    m_hat, v_hat = -0.055 / (1 - 0.9**2), 0.00124975 / (1 - 0.999**2)
    assert p2[0] == pytest.approx(p[0] - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8), rel=1e-12)


def test_adam_in_the_training_loop_with_weight_decay_and_epoch_cosine():
    # a one-weight "network": Dense(1 -> 2) trained on one sample; the loop's first step must be
    # the hand-computed Adam step of (gradient + wd * param) at the epoch's cosine rate
    from rramsim.nn.layers import Dense

    net = Network([Dense(1, 2, k=1.0)], input_shape=(1,), name="one")
    net.set_weights([np.array([[0.3, -0.2]])])
    net.make_dense(rng=np.random.default_rng(0))
    w0 = net.weight_layers[0].weight.copy()
    x, y = np.array([[1.0]]), np.array([1])
    net.loss_and_grad(x, y)
    g = net.weight_layers[0].grad + 0.01 * w0
    cfg = TrainConfig(epochs=2, batch_size=1, lr=0.05, optimizer="adam", weight_decay=0.01,
                      schedule="cosine-epoch", flip_limiter=None)
    train(net, x, y, config=cfg, rng=np.random.default_rng(0))
    # epoch 0 at lr 0.05, epoch 1 at 0.05 * (1 + cos(pi / 2)) / 2 = 0.025
    p1, m1, v1 = adam_update(w0, g, np.zeros_like(g), np.zeros_like(g), lr=0.05, step=1)
    net2 = Network([Dense(1, 2, k=1.0)], input_shape=(1,), name="one")
    net2.make_dense(rng=np.random.default_rng(1))
    net2.weight_layers[0].weight = p1
    net2.loss_and_grad(x, y)
    g2 = net2.weight_layers[0].grad + 0.01 * p1
    p2, _, _ = adam_update(p1, g2, m1, v1, lr=0.025, step=2)
    np.testing.assert_allclose(net.weight_layers[0].weight, p2, rtol=1e-12)
    with pytest.raises(TrainError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(TrainError, match="schedule"):
        TrainConfig(schedule="step")


def test_training_moves_the_batch_norm_scale_and_shift():
    net = Network([Conv2d(1, 2, 1, k=1.0), BatchNorm(2, affine=True), ReLU(), MaxPool2d(2),
                   Upsample2x(), Conv2d(2, 2, 1, k=1.0)], input_shape=(1, 4, 4), name="bn")
    rng = np.random.default_rng(2)
    net.set_weights([rng.normal(size=s) for s in net.shapes])
    net.init_scores(rng=rng)
    x, y = rng.random((8, 1, 4, 4)), rng.integers(0, 2, (8, 4, 4))
    train(net, x, y, config=TrainConfig(epochs=1, batch_size=4, lr=1e-3, optimizer="adam",
                                        flip_limiter=None), rng=rng)
    bn = net.layers[1]
    # two Adam steps of about lr each: |change| <= 2 lr (Adam's step is bounded by lr per step
    # when |m_hat| <= sqrt(v_hat)), and non-zero
    assert np.all(np.abs(bn.gamma - 1) <= 2e-3 + 1e-12) and np.any(bn.gamma != 1)
    assert np.all(np.abs(bn.beta) <= 2e-3 + 1e-12) and np.any(bn.beta != 0)


def test_score_initialisation_bound_follows_the_slope():
    # PyTorch's kaiming_uniform_(a): bound sqrt(6 / ((1 + a^2) fan_in)); the study's a = sqrt(5)
    # gives 1 / sqrt(fan_in): for fan_in 9 (the first 3x3 convolution), 1/3
    net = architectures.unet(base=2, patch=16)
    net.set_weights([np.ones(s) for s in net.shapes])
    net.init_scores(rng=np.random.default_rng(0), a=5**0.5)
    first = net.weight_layers[0]
    assert first.fan_in == 9
    assert np.abs(first.scores).max() <= 1 / 3 and np.abs(first.scores).max() > 0.9 / 3
    net.init_scores(rng=np.random.default_rng(0))
    assert np.abs(first.scores).max() <= np.sqrt(6 / 9) and np.abs(first.scores).max() > 0.7
    from rramsim.errors import LayerError

    with pytest.raises(LayerError, match="a must be"):
        net.init_scores(rng=np.random.default_rng(0), a=-1.0)
