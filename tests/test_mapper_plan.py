"""The mapper's execution plan: one description of which cells compute which layer products."""

import numpy as np
import pytest

from rramsim import mapper
from rramsim.errors import MappingError


def _net(rng, shapes, k=0.5):
    ws = [rng.normal(size=s) for s in shapes]
    ms = [rng.uniform(size=s) < k for s in shapes]
    return mapper.network_from_layers(ws, ms)


@pytest.mark.parametrize("scheme", mapper.SCHEMES)
@pytest.mark.parametrize("placement", mapper.PLACEMENTS)
def test_plan_reads_cover_every_weight_once_with_signs(scheme, placement):
    rng = np.random.default_rng(1)
    net = _net(rng, [(13, 7), (7, 5), (3 * 2 * 2, 4)])
    m = mapper.map_network(net, tile_shape=(6, 8), scheme=scheme, placement=placement)
    plan = m.plan()
    assert plan is m.plan() and len(plan) == 3 and plan.n_tiles == m.n_tiles
    for k, lp in enumerate(plan.layers):
        assert (lp.fan_in, lp.fan_out) == net.layers[k].shape
        # every (input, output) pair appears in exactly two cells (+ and -) with opposite signs
        count = np.zeros(net.layers[k].shape)
        signed = np.zeros(net.layers[k].shape)
        for r in lp.reads:
            sgn = r.row_sign[:, None] * r.col_sign[None, :]
            np.add.at(count, (r.row_inputs[:, None], r.col_outputs[None, :]), 1)
            np.add.at(signed, (r.row_inputs[:, None], r.col_outputs[None, :]), sgn)
            pol = m.polarity[r.tile][np.ix_(r.rows, r.cols)]
            np.testing.assert_array_equal(pol, sgn)      # + cells carry +1, - cells -1
        np.testing.assert_array_equal(count, 2)
        np.testing.assert_array_equal(signed, 0)
        # conductances through the plan are sign * (G+ - G-) for kept weights
        ly = net.layers[k]
        np.testing.assert_allclose(m.layer_conductances(k, original_layout=False)[ly.mask],
                                   (ly.sign * (ly.g_plus - ly.g_minus))[ly.mask], rtol=1e-12)


def test_run_layer_and_tile_drive_follow_the_plan():
    rng = np.random.default_rng(2)
    net = _net(rng, [(20, 9)])
    for scheme in mapper.SCHEMES:
        m = mapper.map_network(net, tile_shape=(8, 8), scheme=scheme)
        lp = m.plan()[0]
        transfers = [rng.uniform(0, 1e-5, m.tile_shape) for _ in range(m.n_tiles)]
        v = rng.uniform(0, 0.2, (3, 20))
        # run_layer (read piece by piece) equals the effective matrix product
        np.testing.assert_allclose(m.run_layer(0, v, transfers),
                                   v @ m.layer_matrix(0, transfers), rtol=1e-12, atol=1e-20)
        # by hand: each piece's own rows driven, its columns read, signs applied
        y = np.zeros((3, 9))
        for r in lp.reads:
            full = np.zeros((3, m.tile_shape[0]))
            full[:, r.rows] = v[:, r.row_inputs] * r.row_sign
            i = full @ transfers[r.tile]
            np.add.at(y.T, r.col_outputs, (i[:, r.cols] * r.col_sign).T)
        np.testing.assert_allclose(m.run_layer(0, v, transfers), y, rtol=1e-12, atol=1e-20)
        drive = lp.tile_drive(v, m.tile_shape[0])
        assert sorted(drive) == lp.tiles == plan_tiles(m)
        for t, full in drive.items():   # the union of the tile's pieces, driven together
            rows = np.unique(np.concatenate([r.rows for r in lp.reads if r.tile == t]))
            assert lp.rows_used()[t] == rows.size
            np.testing.assert_array_equal(np.flatnonzero(np.any(full != 0, axis=0)), rows)


def plan_tiles(m):
    return sorted({p.tile for p in m.pieces})


def test_tile_options_are_fixed_at_mapping_time():
    rng = np.random.default_rng(3)
    m = mapper.map_network(_net(rng, [(4, 4)]), tile_shape=(4, 8),
                           tile_options={"r_wordline": 2.0, "r_bitline": 3.0})
    assert m.tiles[0].r_wordline == 2.0 and m.tiles[0].r_bitline == 3.0
    with pytest.raises(TypeError):
        m.tile_options["r_wordline"] = 0.0
    with pytest.raises(MappingError, match="tile read"):
        mapper.TileRead(0, 0, 0, [1, 2], [0], [1.0], [0], [0], [1.0])


def test_cell_v0_placed_with_the_pairs():
    rng = np.random.default_rng(4)
    net = _net(rng, [(3, 2)])
    ly = net.layers[0]
    vp, vm = np.full((3, 2), 0.3), np.full((3, 2), 0.5)
    m = mapper.map_network(net, tile_shape=(3, 6), cell_v0=[(vp, vm)])
    xb = m.tiles[0]
    assert not xb.is_linear
    (r,) = m.plan()[0].reads
    for a in range(3):
        for b in range(4):
            i, j = r.row_inputs[a], r.col_outputs[b]
            plus_cell = (r.col_sign[b] > 0) == (ly.sign[i, j] > 0)   # holds g_plus
            assert xb.sinh_v0[r.rows[a], r.cols[b]] == (0.3 if plus_cell else 0.5)
    assert np.all(xb.sinh_v0[:, 4:] == 0.5)          # unused cells: the largest v0
    with pytest.raises(MappingError, match="cell_v0"):
        mapper.map_network(net, tile_shape=(3, 6), cell_v0=[(vp, -vm)])
