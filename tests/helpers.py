"""Helpers shared by several test modules (imported as ``from helpers import ...``)."""

from __future__ import annotations

import os
import time

import numpy as np

from rramsim.crossbar import IdealTIA, SenseResistor
from rramsim.mapper.plan import UNUSED
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


# ---------------------------------------------------------------------- solver references
def rel(a, b) -> float:
    """Largest absolute difference of a and b relative to the largest magnitude of b."""
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b)))


class _DenseNetlist:
    """A tile's elements by node name for :func:`dense_mna`; 0-ohm resistors merge their nodes
    (union-find, ground and sources winning the name)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.res: list[tuple[str, str, float]] = []  # (a, b, ohms)
        self.vcvs: list[tuple[str, str, float]] = []  # (out, control, gain): V_out = gain V_control

    def find(self, a: str) -> str:
        while self.parent.get(a, a) != a:
            a = self.parent[a]
        return a

    def resistor(self, a: str, b: str, r: float) -> None:
        if r == 0:
            ra, rb = self.find(a), self.find(b)
            if ra != rb:
                if rb == "0" or rb.startswith("src"):
                    ra, rb = rb, ra
                self.parent[rb] = ra
        else:
            self.res.append((a, b, r))


def _dense_rows(net: _DenseNetlist, xb) -> None:
    """Each row's driver(s) and word-line segments."""
    m, n = xb.shape
    ends = [("l", 0)] + ([("r", n - 1)] if xb.drive == "both" else [])
    for i in range(m):
        for side, j0 in ends:
            net.resistor(f"src_{i}", f"d{side}_{i}", xb.r_driver)
            net.resistor(f"d{side}_{i}", f"wl_{i}_{j0}", xb.r_wordline)
        for j in range(n - 1):
            net.resistor(f"wl_{i}_{j}", f"wl_{i}_{j + 1}", xb.r_wordline)


def _dense_column(net: _DenseNetlist, xb, j: int) -> None:
    """Column j's bit-line segments and its sense circuit, written out from the circuit contract
    (an ideal TIA: S_j at ground; a sense resistor to ground; an op-amp V_o = -A V_S with R_f)."""
    m = xb.shape[0]
    for i in range(m - 1):
        net.resistor(f"bl_{i}_{j}", f"bl_{i + 1}_{j}", xb.r_bitline)
    net.resistor(f"bl_{m - 1}_{j}", f"s_{j}", xb.r_bitline)
    s = xb.sense
    if isinstance(s, IdealTIA):
        net.resistor(f"s_{j}", "0", 0.0)
    elif isinstance(s, SenseResistor):
        net.resistor(f"s_{j}", "0", s.resistance)
    else:
        net.vcvs.append((f"o_{j}", f"s_{j}", -s.open_loop_gain))
        net.resistor(f"s_{j}", f"o_{j}", s.r_feedback)


def _dense_cells(net: _DenseNetlist, xb) -> None:
    """Every cell, with its access resistance in series (1T1R)."""
    m, n = xb.shape
    for i in range(m):
        for j in range(n):
            g = xb.conductance[i, j]
            if g == 0:
                continue
            if xb.r_access is not None:
                net.res.append((f"wl_{i}_{j}", f"c_{i}_{j}", 1 / g))
                net.resistor(f"c_{i}_{j}", f"bl_{i}_{j}", xb.r_access[i, j])
            else:
                net.res.append((f"wl_{i}_{j}", f"bl_{i}_{j}", 1 / g))


def _dense_solve(net: _DenseNetlist, v: np.ndarray):
    """Stamp the resistors, the sources (one per row, value v[i]) and the VCVSs into a dense MNA
    matrix and solve it with LAPACK; returns the node voltage by name."""
    nodes: dict[str, int] = {}

    def node(name: str) -> int:
        name = net.find(name)
        if name == "0":
            return -1
        return nodes.setdefault(name, len(nodes))

    res_i = [(node(a), node(b), r) for a, b, r in net.res]
    vcvs_i = [(node(a), node(b), g) for a, b, g in net.vcvs]
    vsrc = [(node(f"src_{i}"), v[i]) for i in range(len(v))]
    nn = len(nodes)
    k = len(vsrc) + len(vcvs_i)
    a_mat = np.zeros((nn + k, nn + k))
    rhs = np.zeros(nn + k)
    for p, q, r in res_i:
        for x, y in ((p, q), (q, p)):
            if x >= 0:
                a_mat[x, x] += 1 / r
                if y >= 0:
                    a_mat[x, y] -= 1 / r
    for t, (p, val) in enumerate(vsrc):
        a_mat[p, nn + t] = a_mat[nn + t, p] = 1.0
        rhs[nn + t] = val
    for t, (o, c, gain) in enumerate(vcvs_i):
        row = nn + len(vsrc) + t
        a_mat[o, row] += 1.0
        a_mat[row, o] += 1.0
        a_mat[row, c] -= gain
    x = np.linalg.solve(a_mat, rhs)

    def volt(name: str) -> float:
        k_ = node(name)
        return 0.0 if k_ < 0 else x[k_]
    return volt


def dense_mna(xb, v: np.ndarray):
    """Independent reference: every element stamped into a dense MNA system, 0-ohm elements merged.

    Returns i_out, v_wordline, v_bitline, v_sense, i_in for one input (M,).
    """
    m, n = xb.shape
    net = _DenseNetlist()
    _dense_rows(net, xb)
    for j in range(n):
        _dense_column(net, xb, j)
    _dense_cells(net, xb)
    volt = _dense_solve(net, v)
    vw = np.array([[volt(f"wl_{i}_{j}") for j in range(n)] for i in range(m)])
    vb = np.array([[volt(f"bl_{i}_{j}") for j in range(n)] for i in range(m)])
    vs = np.array([volt(f"s_{j}") for j in range(n)])
    cur = xb.effective_conductance() * (vw - vb)
    return cur.sum(axis=0), vw, vb, vs, cur.sum(axis=1)


def process_gone(pid: int) -> bool:
    """True once process ``pid`` has exited (or is a zombie waiting for its parent to reap it),
    polling for up to 2 s."""
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a killed grandchild may linger as a zombie until init reaps it
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split()[2] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False

