"""Helpers shared by several test modules (imported as ``from helpers import ...``)."""

from __future__ import annotations

import numpy as np

from rramsim.mapper.mapping import UNUSED
from rramsim.nn.network import softmax_cross_entropy


def random_net_arrays(shapes, density=0.5, seed=0):
    """Weights, masks and study-like conductance pairs N(14.2 uS, 2.46 uS) for the given shapes."""
    rng = np.random.default_rng(seed)
    ws, ms, cs = [], [], []
    for s in shapes:
        gp = np.clip(rng.normal(14.2e-6, 2.46e-6, s), 0, None)
        gm = np.clip(rng.normal(14.2e-6, 2.46e-6, s), 0, None)
        sg = rng.choice([-1, 1], s)
        ws.append(sg * (gp - gm) / 1e-6)
        ms.append(rng.random(s) < density)
        cs.append((gp, gm))
    return ws, ms, cs


def check_mapping(m, ws, ms):
    """Every Must-show invariant of a mapping of the network (ws, ms)."""
    net = m.network
    R, C = m.tile_shape
    # logical weights from the placement alone, exactly
    for lw, w, mk in zip(m.layer_weights(), ws, ms, strict=True):
        np.testing.assert_array_equal(lw, np.where(mk, w, 0.0))
    # tiles never exceed their shape
    assert all(xb.shape == (R, C) for xb in m.tiles)
    t = m.table
    assert t["row"].between(0, R - 1).all() and t["column"].between(0, C - 1).all()
    assert not t.duplicated(["tile", "row", "column"]).any()
    # every kept edge exactly once per polarity; pruned edges are reset cells
    for k, ly in enumerate(net.layers):
        sub = t[t["layer"] == ly.name]
        kept = sub[sub["state"] == "set"]
        for pol in (1, -1):
            kp = kept[kept["polarity"] == pol]
            assert len(kp) == int(ly.mask.sum())
            idx = kp["source"].to_numpy() * ly.shape[1] + kp["target"].to_numpy()
            assert np.unique(idx).size == idx.size
            assert ly.mask.ravel()[idx].all()
        reset = sub[sub["state"] == "reset"]
        assert not ly.mask[reset["source"], reset["target"]].any()
        if m.g_reset is not None:
            assert (reset["conductance"] == m.g_reset).all()
        if not m.pack_sparse:
            assert len(sub) == 2 * ly.weight.size
        # hardware differential = sign (G+ - G-) on kept weights, exactly
        gd = m.layer_conductances(k, original_layout=False)
        np.testing.assert_array_equal(
            gd[ly.mask], (ly.sign * (ly.g_plus - ly.g_minus))[ly.mask])
    # the state array agrees with the table
    assert int((m.state != UNUSED).sum()) == len(t)
    # pieces never overlap; with share_tiles="diagonal" they share no word or bit line either
    for tile in range(m.n_tiles):
        ps = [p for p in m.pieces if p.tile == tile]
        rows = [set(np.r_[p.rows_pos, p.rows_neg].tolist()) for p in ps]
        cols = [set(np.r_[p.cols_pos, p.cols_neg].tolist()) for p in ps]
        for a in range(len(ps)):
            for b in range(a):
                shared_r, shared_c = rows[a] & rows[b], cols[a] & cols[b]
                assert not (shared_r and shared_c)
                if m.share_tiles == "diagonal":
                    assert not shared_r and not shared_c
                if m.share_tiles is None:
                    raise AssertionError("two pieces on one tile with share_tiles=False")


# ------------------------------------------------------ gradient checks of nn networks
EPS = 1e-6
RTOL = 1e-5


def prepare_net(net, rng, weights="random"):
    """Random He-scaled weights and fresh scores on ``net``; returns ``net``."""
    net.set_weights([rng.normal(0, np.sqrt(2 / a), size=(a, b)) for a, b in net.shapes])
    net.init_scores(rng=rng)
    return net


def train_loss(net, x, y):
    return softmax_cross_entropy(net.forward(x, train=True), y)[0]


def check_score_gradients(net, x, y, rng, n_entries=12):
    """Assert dL/dS (straight-through) on ``n_entries`` random entries per layer against central
    differences of the loss in the mask (step EPS, tolerance RTOL of the largest gradient)."""
    net.loss_and_grad(x, y)
    for la in net.weight_layers:
        analytic = la.grad.copy()
        base = la.mask.astype(float)
        idx = rng.choice(la.n_weights, size=min(n_entries, la.n_weights), replace=False)
        for flat in idx:
            i, j = np.unravel_index(flat, base.shape)
            vals = []
            for d in (EPS, -EPS):
                m = base.copy()
                m[i, j] += d
                la.mask = m
                vals.append(train_loss(net, x, y))
            la.mask = base.astype(bool)
            fd = np.sign(la.scores[i, j]) * (vals[0] - vals[1]) / (2 * EPS)
            scale = max(np.abs(analytic).max(), 1e-12)
            assert abs(analytic[i, j] - fd) <= RTOL * scale + 1e-9, (la.index, i, j)
