"""Weights from electroformed pairs, mask programming and the write-verify baseline (arXiv 2311.07164)."""

import numpy as np
import pytest

from rramsim.nn.hardware import (
    DeviceNetwork,
    PreciseProgramming,
    SignedConstantScaling,
    program_precise,
)
from rramsim.nn.masks import topk_mask


@pytest.fixture(scope="module")
def formed():
    return DeviceNetwork.form([(40, 30), (30, 10)], rng=np.random.default_rng(0))


def test_signed_constant_scaling(formed):
    dev, cost = formed
    sc = SignedConstantScaling()
    for la, w in zip(dev.layers, dev.weights(), strict=True):
        fan_in = la.sign.shape[0]
        # E|w| = gain / sqrt(0.5 fan_in) exactly, by construction of the scale
        assert np.mean(np.abs(w)) == pytest.approx(np.sqrt(2) / np.sqrt(0.5 * fan_in), rel=1e-12)
        assert np.mean(np.abs(w)) == pytest.approx(sc.std(fan_in), rel=1e-12)
        assert set(np.unique(la.sign)) <= {-1, 1}
        np.testing.assert_allclose(
            w, la.sign * (la.conductance[0] - la.conductance[1]) / la.scale, rtol=1e-15
        )
        gp, gn = la.pairs()
        np.testing.assert_allclose((gp - gn) / la.scale, w, rtol=1e-12, atol=1e-15)
    assert cost.cell_ops == 2 * (40 * 30 + 30 * 10)
    assert cost.pulses == cost.cell_ops  # one forming pulse per cell


def test_program_resets_pruned_and_sets_reinstated():
    dev, _ = DeviceNetwork.form([(20, 16)], rng=np.random.default_rng(1))
    w_formed = dev.weights()[0]
    rng = np.random.default_rng(2)
    mask = topk_mask(rng.normal(size=(20, 16)), 0.5)
    summary = dev.program([mask], rng=rng)
    assert summary.resets == 160 and summary.sets == 0 and summary.cell_ops == 320
    g = dev.layers[0].conductance
    pruned = np.broadcast_to(~mask, g.shape)
    # reset cells land at 0.1-1 uS (device model's RESET), formed ones stay far above
    assert g[pruned].min() > 0.05e-6 and g[pruned].max() < 1.2e-6
    assert np.mean(g[~pruned] > 3e-6) > 0.95  # a few cells may fail to form (device model)
    w = dev.physical_weights()[0]
    assert np.abs(w[~mask]).max() < 0.2 * np.abs(w[mask]).mean()  # small but non-zero
    assert np.all(w[~mask] != 0)
    # the logical weights (SET-state pairs) are unchanged by pruning
    np.testing.assert_array_equal(dev.weights()[0][~mask], w_formed[~mask])
    mask2 = mask.copy()
    flip = np.argwhere(~mask)[:5]
    mask2[tuple(flip.T)] = True
    s2 = dev.program([mask2], rng=rng)
    assert (s2.resets, s2.sets, s2.cell_ops) == (0, 5, 10)
    assert s2.pulses == 10 and s2.energy > 0
    # reinstated pairs take the conductances SET gave them: new logical weights
    g = dev.layers[0].conductance
    np.testing.assert_array_equal(dev.layers[0].live[:, flip[:, 0], flip[:, 1]],
                                  g[:, flip[:, 0], flip[:, 1]])
    assert np.all(g[:, flip[:, 0], flip[:, 1]] > 3e-6)


def test_read_weights_noise_statistics():
    dev, _ = DeviceNetwork.form([(50, 40)], rng=np.random.default_rng(3))
    w0 = dev.weights()[0]
    w1 = dev.read_weights(rng=np.random.default_rng(4), noise=0.0)[0]
    np.testing.assert_allclose(w1, w0, rtol=1e-12, atol=1e-15)
    wn = dev.read_weights(rng=np.random.default_rng(4), noise=0.02)[0]
    la = dev.layers[0]
    # G(1 + 0.02 n) per cell: weight error std = 0.02 sqrt(G+^2 + G-^2) / scale
    expect = 0.02 * np.sqrt(la.conductance[0] ** 2 + la.conductance[1] ** 2) / la.scale
    z = (wn - w0) / expect
    assert abs(z.mean()) < 4 / np.sqrt(z.size)
    assert z.std() == pytest.approx(1.0, abs=0.06)


def test_program_precise_baseline_within_tolerance():
    rng = np.random.default_rng(5)
    w = rng.normal(size=(12, 8))
    cfg = PreciseProgramming(tolerance=0.05, read_noise=0.0)
    res = program_precise([w], rng=rng, config=cfg)
    assert res.converged > 0.95
    gp, gn = res.pairs[0]
    a = (cfg.g_max - cfg.g_min) / np.abs(w).max()
    target = np.stack([cfg.g_min + a * np.maximum(w, 0), cfg.g_min + a * np.maximum(-w, 0)])
    got = np.stack([gp, gn])
    ok = np.abs(got / target - 1) <= 0.05 + 0.03  # tolerance plus the verify read's noise margin
    assert ok.mean() > 0.95
    assert res.summary.pulses >= 2 * w.size and res.summary.energy > 0
    err = res.weights[0] - w
    assert np.abs(err).max() < 0.2 * np.abs(w).max()


def test_scaling_and_programming_reject_nonpositive_gain_and_tolerance():
    from rramsim.errors import DeviceModelError

    with pytest.raises(DeviceModelError, match="gain"):
        SignedConstantScaling(gain=0.0)
    with pytest.raises(DeviceModelError, match="tolerance"):
        PreciseProgramming(tolerance=0.0)


def test_programmed_weights_are_the_trained_effective_weights():
    """A pair's RESET outcome is drawn when it is formed or SET, so a network whose pruned weights
    are the pairs' RESET-state weights (as the study's hardware runs train, G_zero where the mask is
    0) reads back from the programmed pairs exactly what it computed with, up to the read noise."""
    from rramsim.nn.layers import Dense

    dev, _ = DeviceNetwork.form([(12, 8)], rng=np.random.default_rng(5))
    la = Dense(12, 8)
    la.weight = dev.weights()[0]
    la.set_pruned_weight(dev.pruned_weights()[0])
    rng = np.random.default_rng(6)
    la.mask = topk_mask(rng.normal(size=(12, 8)), 0.5)
    eff = la.effective_weight()
    pruned_before = dev.pruned_weights()[0]
    s = dev.program([la.mask], rng=rng)
    assert s.resets == 48 and s.pulses == 96 and s.energy > 0
    # noiseless read: the effective weight, to rounding (the read computes I(v) / v of the
    # states, the effective weight the stored conductances: different paths through libm)
    np.testing.assert_allclose(dev.read_weights(rng=rng, noise=0.0)[0], eff, rtol=1e-12,
                               atol=1e-12 * np.abs(eff).max())
    np.testing.assert_array_equal(dev.pruned_weights()[0], pruned_before)
    # pruned pairs are the RESET residual: 0.1-1 uS cells, a weight well below the kept ones
    assert np.all(eff[~la.mask] != 0)
    assert np.abs(eff[~la.mask]).max() < 0.2 * np.abs(eff[la.mask]).mean()
    # 1 % read noise: per-weight error std 0.01 sqrt(G+^2 + G-^2) / scale
    g = dev.layers[0].conductance
    sd = 0.01 * np.sqrt(g[0] ** 2 + g[1] ** 2) / dev.layers[0].scale
    z = (dev.read_weights(rng=rng, noise=0.01)[0] - eff) / sd
    assert np.abs(z).max() < 5.0 and np.abs(z).mean() == pytest.approx(np.sqrt(2 / np.pi), abs=0.2)
    # reinstate five pairs (SET: new kept value, their next RESET drawn again), then prune them
    # again: they land at the RESET-state weight pruned_weights() gave after the SET
    back = np.argwhere(~la.mask)[:5]
    m2 = la.mask.copy()
    m2[tuple(back.T)] = True
    dev.program([m2], rng=rng)
    nxt = dev.pruned_weights()[0]
    dev.program([la.mask], rng=rng)
    np.testing.assert_array_equal(dev.physical_weights()[0][~la.mask], nxt[~la.mask])


def test_score_gradient_with_pruned_weights():
    """W_eff = W M + W_p (1 - M), so dL/dS = sign(S) (W - W_p) dL/dW_eff (straight-through M)."""
    from rramsim.errors import LayerError
    from rramsim.nn.layers import Dense

    rng = np.random.default_rng(7)
    la = Dense(5, 3)
    la.weight, la.scores = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    la.update_mask()
    wp = 0.01 * rng.normal(size=(5, 3))
    la.set_pruned_weight(wp)
    np.testing.assert_array_equal(la.effective_weight(), np.where(la.mask, la.weight, wp))
    x, g = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    la.zero_grad()
    la.forward(x, train=True, matmul=lambda i, a, w: a @ w)
    la.backward(g)
    la.finish_grad()
    np.testing.assert_allclose(la.grad, np.sign(la.scores) * (la.weight - wp) * (x.T @ g),
                               rtol=1e-12)
    with pytest.raises(LayerError, match="pruned weights"):
        la.set_pruned_weight(np.zeros((3, 5)))
    la.set_pruned_weight(None)
    np.testing.assert_array_equal(la.effective_weight(), la.weight * la.mask)
