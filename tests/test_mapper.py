"""Tests of rramsim.mapper: graph form, mapping onto tiles, read-back, files, errors."""

from __future__ import annotations

import subprocess
import sys

import networkx as nx
import numpy as np
import pytest
from helpers import check_mapping, random_net_arrays

from rramsim import mapper
from rramsim.errors import DataError, MappingError
from rramsim.mapper.plan import RESET, SET

SHAPES = [(4, 2, 3, 3), (18, 7), (7, 5)]  # conv (out 4, in 2, 3x3) -> 18 rows, then dense


# ----------------------------------------------------------------------------- graph form
def test_conv_unroll_order_is_im2col():
    w = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)  # (out, in, kh, kw)
    m = mapper.unroll_conv_weight(w)
    assert m.shape == (3 * 2 * 2, 2)
    for o in range(2):
        for c in range(3):
            for ky in range(2):
                for kx in range(2):
                    assert m[(c * 2 + ky) * 2 + kx, o] == w[o, c, ky, kx]
    np.testing.assert_array_equal(mapper.fold_conv_weight(m, (2, 2)), w)


def test_linear_conductance_map_is_analytic():
    cmap = mapper.LinearConductanceMap(g_min=1e-6, g_max=21e-6)
    w = np.array([[0.5, -2.0], [0.0, 1.0]])
    sign, gp, gm, scale = cmap.program(w)
    assert scale == pytest.approx(10e-6)  # (21 - 1) uS / max|w| = 2
    np.testing.assert_array_equal(sign, [[1, -1], [1, 1]])
    np.testing.assert_allclose(gp, [[6e-6, 21e-6], [1e-6, 11e-6]], rtol=1e-12)
    np.testing.assert_allclose(gm, 1e-6)
    np.testing.assert_allclose(sign * (gp - gm), w * scale, rtol=1e-12, atol=1e-21)


def test_linear_map_pair_is_program_with_the_sign_unfolded():
    cmap = mapper.LinearConductanceMap(g_min=1e-6, g_max=21e-6)
    w = np.array([[0.5, -2.0], [0.0, 1.0]])
    assert cmap.scale(2.0) == pytest.approx(10e-6) and cmap.scale(0.0) == pytest.approx(20e-6)
    g_pos, g_neg = cmap.pair(w, cmap.scale(2.0))  # max|w| = 2
    np.testing.assert_allclose(g_pos, [[6e-6, 1e-6], [1e-6, 11e-6]], rtol=1e-12)
    np.testing.assert_allclose(g_neg, [[1e-6, 21e-6], [1e-6, 1e-6]], rtol=1e-12)
    sign, gp, gm, scale = cmap.program(w)
    np.testing.assert_array_equal(np.where(sign > 0, gp, gm), g_pos)
    np.testing.assert_array_equal(np.where(sign > 0, gm, gp), g_neg)
    # the precise-tuning baseline programs the same map with its own range
    from rramsim.nn.hardware import PreciseProgramming

    pmap = PreciseProgramming().conductance_map
    assert (pmap.g_min, pmap.g_max) == (1e-6, 28.4e-6)
    assert mapper.LinearConductanceMap().g_max == 30e-6


def test_graph_round_trip_dense_and_conv():
    ws, ms, cs = random_net_arrays(SHAPES)
    copies = [w.copy() for w in ws]
    g = mapper.graph_from_layers(ws, ms, cs)
    assert isinstance(g, nx.DiGraph)
    assert g.number_of_edges() == sum(w.size for w in ws)
    # nodes carry their layer; edges carry the documented attributes
    assert all("layer" in d for _, d in g.nodes(data=True))
    u, v, d = next(iter(g.edges(data=True)))
    assert set(mapper.network.EDGE_ATTRIBUTES) <= set(d)
    assert g.nodes[v]["layer"] == g.nodes[u]["layer"] + 1
    w2, m2, c2 = mapper.layers_from_graph(g)
    for a, b in zip(ws, w2, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(ms, m2, strict=True):
        np.testing.assert_array_equal(a, b)
    for (gp, gm), (gp2, gm2) in zip(cs, c2, strict=True):
        np.testing.assert_array_equal(gp, gp2)
        np.testing.assert_array_equal(gm, gm2)
    for a, b in zip(ws, copies, strict=True):  # callers' arrays untouched
        np.testing.assert_array_equal(a, b)


def test_dense_chain_shares_neuron_layers():
    ws, ms, _ = random_net_arrays([(5, 4), (4, 3)])
    g = mapper.graph_from_layers(ws, ms)
    layers = sorted({d["layer"] for _, d in g.nodes(data=True)})
    assert layers == [0, 1, 2]
    assert g.number_of_nodes() == 5 + 4 + 3


def test_hand_built_graph_without_metadata():
    g = nx.DiGraph()
    for i in range(2):
        g.add_node(("in", i), layer=0)
    g.add_node(("out", 0), layer=1)
    attrs = {"sign": 1, "g_plus": 2e-6, "g_minus": 1e-6}
    g.add_edge(("in", 0), ("out", 0), weight=0.5, kept=True, **attrs)
    g.add_edge(("in", 1), ("out", 0), weight=-0.25, kept=False, **attrs)
    net = mapper.network_from_graph(g)
    assert len(net) == 1
    np.testing.assert_array_equal(net.layers[0].masked_weight(), [[0.5], [0.0]])


# ----------------------------------------------------------------------------- mapping
def test_small_mapping_by_hand():
    """2x2 layer, columns scheme, on one 2x4 tile: the conductance matrix written out."""
    w = np.array([[1.0, -1.0], [2.0, 0.5]])
    mask = np.array([[True, True], [False, True]])
    gp = np.array([[10e-6, 12e-6], [14e-6, 16e-6]])
    gm = np.array([[5e-6, 6e-6], [7e-6, 8e-6]])
    sign = np.array([[1, -1], [1, 1]])
    net = mapper.network_from_layers([w], [mask], [(gp, gm)], signs=[sign])
    m = mapper.map_network(net, tile_shape=(2, 4), scheme="columns", g_reset=0.3e-6)
    assert m.n_tiles == 1
    expected = np.array([[10e-6, 5e-6, 6e-6, 12e-6],
                         [0.3e-6, 0.3e-6, 16e-6, 8e-6]])
    np.testing.assert_array_equal(m.tiles[0].conductance, expected)
    np.testing.assert_array_equal(m.state[0], [[SET, SET, SET, SET], [RESET, RESET, SET, SET]])
    np.testing.assert_array_equal(m.layer_weights(0), w * mask)
    assert list(m.table.columns) == ["layer", "source", "target", "tile", "row", "column",
                                     "polarity", "conductance", "state", "weight"]
    assert len(m.table) == 8 and set(m.table["state"]) == {"set", "reset"}
    np.testing.assert_allclose(m.layer_conductances(0), [[5e-6, -6e-6], [0.0, 8e-6]], atol=1e-20)
    v = np.array([0.1, 0.2])
    np.testing.assert_allclose(m.run_layer(0, v), v @ (expected[:, [0, 2]] - expected[:, [1, 3]]),
                               rtol=1e-14)
    # rows scheme: the same weights on a 4x2 tile, rows (+v, -v)
    m2 = mapper.map_network(net, tile_shape=(4, 2), scheme="rows", g_reset=0.3e-6)
    np.testing.assert_array_equal(m2.tiles[0].conductance, expected.reshape(2, 2, 2).transpose(
        0, 2, 1).reshape(4, 2))
    np.testing.assert_allclose(m2.run_layer(0, v), m.run_layer(0, v), rtol=1e-14)


@pytest.mark.parametrize("scheme", mapper.SCHEMES)
@pytest.mark.parametrize("placement", mapper.PLACEMENTS)
@pytest.mark.parametrize("pack_sparse", [False, True])
def test_round_trip_and_exact_placement(scheme, placement, pack_sparse):
    ws, ms, cs = random_net_arrays(SHAPES, density=0.4, seed=3)
    ms[1][2, :] = False  # an all-pruned row
    ms[2][:, 1] = False  # an all-pruned column
    net = mapper.network_from_layers(ws, ms, cs)
    m = mapper.map_network(net, tile_shape=(8, 10), scheme=scheme, placement=placement,
                           pack_sparse=pack_sparse)
    check_mapping(m, ws, ms)


def test_run_layer_sums_partial_currents_across_tiles():
    ws, ms, cs = random_net_arrays([(23, 9)], seed=5)
    net = mapper.network_from_layers(ws, ms, cs)
    m = mapper.map_network(net, tile_shape=(6, 4), scheme="columns")
    assert m.n_tiles > 4
    assert m.partial_sum_plan()["row_block"].max() == 3  # 23 rows in blocks of 6
    v = np.random.default_rng(1).uniform(0, 0.2, (3, 23))
    hw = m.layer_conductances(0, original_layout=False)
    np.testing.assert_allclose(m.run_layer(0, v), v @ hw, rtol=1e-12, atol=1e-18)
    # ideal tiles: with uniform reset cells the hardware differential is sign (G+ - G-) * mask
    ly = net.layers[0]
    np.testing.assert_allclose(hw, np.where(ly.mask, ly.sign * (ly.g_plus - ly.g_minus), 0.0),
                               atol=1e-20)
    # transfer matrices given explicitly (ideal: T = G) give the same
    t = [xb.conductance for xb in m.tiles]
    np.testing.assert_allclose(m.run_layer(0, v, t), v @ hw, rtol=1e-12, atol=1e-18)


def test_small_layers_share_a_tile_and_packing_saves_tiles():
    ws, ms, cs = random_net_arrays([(6, 3), (3, 2), (2, 2)], seed=2)
    net = mapper.network_from_layers(ws, ms, cs)
    shared = mapper.map_network(net, tile_shape=(16, 16))
    diagonal = mapper.map_network(net, tile_shape=(16, 16), share_tiles="diagonal")
    alone = mapper.map_network(net, tile_shape=(16, 16), share_tiles=False)
    assert shared.n_tiles == 1 and diagonal.n_tiles == 1 and alone.n_tiles == 3
    check_mapping(shared, ws, ms)
    check_mapping(diagonal, ws, ms)
    # 6 rows of layer 0 do not fit beside 3 + 2 rows of the others on 8 rows without sharing lines
    assert mapper.map_network(net, tile_shape=(8, 16), share_tiles="diagonal").n_tiles == 2
    assert mapper.map_network(net, tile_shape=(8, 16), share_tiles="lines").n_tiles == 1
    ms2 = [m.copy() for m in ms]
    ms2[0][:3, :] = False  # half the rows of layer 0 all pruned
    net2 = mapper.network_from_layers(ws, ms2, cs)
    dense = mapper.map_network(net2, tile_shape=(3, 6), share_tiles=False)
    packed = mapper.map_network(net2, tile_shape=(3, 6), share_tiles=False, pack_sparse=True)
    assert packed.n_tiles < dense.n_tiles
    assert packed.summary()["reset"] < dense.summary()["reset"]
    check_mapping(packed, ws, ms2)


def test_stats_and_tile_options():
    from rramsim.crossbar import IdealTIA

    ws, ms, cs = random_net_arrays([(10, 6), (6, 3)], seed=4)
    m = mapper.map_network(mapper.network_from_layers(ws, ms, cs), tile_shape=(8, 8),
                           tile_options={"r_wordline": 2.0, "r_bitline": 1.5,
                                         "sense": IdealTIA(5e3)})
    assert all(xb.r_wordline == 2.0 and xb.r_bitline == 1.5 for xb in m.tiles)
    ts, ls = m.tile_stats(), m.layer_stats()
    assert ts["used"].sum() == 2 * (60 + 18) and ls["kept"].tolist() == [int(x.sum()) for x in ms]
    assert (ts["utilisation"] <= 1).all()
    assert ts["set"].sum() == 2 * sum(int(x.sum()) for x in ms)
    s = m.summary()
    assert s["used"] == s["set"] + s["reset"] == 156


def test_ir_aware_orders_rows_and_columns_by_current():
    """Heaviest column next to the drivers (column 0), heaviest row next to the sense amps."""
    gp = np.array([[1e-6, 9e-6, 4e-6], [2e-6, 8e-6, 5e-6]])
    gm = np.zeros_like(gp)
    w = gp / 1e-6
    net = mapper.network_from_layers([w], [np.ones((2, 3), bool)], [(gp, gm)])
    m = mapper.map_network(net, tile_shape=(4, 8), placement="ir_aware",
                           input_activity={"layer0": np.array([3.0, 1.0])})
    (p,) = m.pieces
    np.testing.assert_array_equal(p.targets, [1, 2, 0])  # column loads 3*9+8, 3*4+5, 3*1+2
    np.testing.assert_array_equal(p.sources, [1, 0])  # row loads 15 < 42: row 0 at the bottom
    np.testing.assert_array_equal(p.rows_pos, [2, 3])  # the bottom rows of the 4-row tile
    np.testing.assert_array_equal(p.cols_pos, [0, 2, 4])
    np.testing.assert_array_equal(m.layer_weights(0), w)


def test_g_reset_none_keeps_graph_pair():
    w = np.array([[1.0, 2.0]])
    gp, gm = np.array([[3e-6, 4e-6]]), np.array([[1e-6, 1.5e-6]])
    net = mapper.network_from_layers([w], [np.array([[True, False]])], [(gp, gm)])
    m = mapper.map_network(net, tile_shape=(1, 4), g_reset=None)
    np.testing.assert_array_equal(m.tiles[0].conductance, [[3e-6, 1e-6, 4e-6, 1.5e-6]])
    np.testing.assert_array_equal(m.layer_weights(0), [[1.0, 0.0]])


# ----------------------------------------------------------------------------- errors
def _tiny_graph():
    ws, ms, cs = random_net_arrays([(3, 2), (2, 2)], seed=9)
    return mapper.graph_from_layers(ws, ms, cs)


def test_error_cycle_names_edges():
    g = _tiny_graph()
    g.add_edge((2, 0), (0, 0), weight=1.0, sign=1, g_plus=1e-6, g_minus=0.0, kept=True)
    with pytest.raises(MappingError, match="cycle"):
        mapper.map_network(g)


def test_error_not_layered_names_edge():
    g = _tiny_graph()
    g.add_edge((0, 0), (2, 1), weight=1.0, sign=1, g_plus=1e-6, g_minus=0.0, kept=True)
    with pytest.raises(MappingError, match=r"edge \(\(0, 0\), \(2, 1\)\).*not a layered"):
        mapper.map_network(g)


def test_error_missing_attributes_name_node_and_edge():
    g = _tiny_graph()
    del g.edges[(0, 1), (1, 0)]["g_minus"]
    with pytest.raises(MappingError, match=r"edge \(\(0, 1\), \(1, 0\)\) lacks.*'g_minus'"):
        mapper.network_from_graph(g)
    g = _tiny_graph()
    del g.nodes[(1, 1)]["layer"]
    with pytest.raises(MappingError, match=r"node \(1, 1\) has no 'layer'"):
        mapper.network_from_graph(g)
    with pytest.raises(MappingError, match="DiGraph"):
        mapper.network_from_graph(nx.Graph(_tiny_graph()))


def test_error_tile_too_small_and_bad_options():
    g = _tiny_graph()
    with pytest.raises(MappingError, match="two columns"):
        mapper.map_network(g, tile_shape=(8, 1), scheme="columns")
    with pytest.raises(MappingError, match="two rows"):
        mapper.map_network(g, tile_shape=(1, 8), scheme="rows")
    with pytest.raises(MappingError, match="scheme"):
        mapper.map_network(g, scheme="diagonal")
    with pytest.raises(MappingError, match="placement"):
        mapper.map_network(g, placement="random")
    with pytest.raises(MappingError, match="share_tiles"):
        mapper.map_network(g, share_tiles="sometimes")
    with pytest.raises(MappingError, match="tile_options"):
        mapper.map_network(g, tile_options={"r_wordline": -1.0})
    with pytest.raises(MappingError, match="input_activity"):
        mapper.map_network(g, placement="ir_aware", input_activity=[np.ones(2), np.ones(2)])
    with pytest.raises(MappingError, match="mask shape"):
        mapper.network_from_layers([np.ones((2, 2))], [np.ones((2, 3), bool)])


# ----------------------------------------------------------------------------- files
def test_save_load_round_trip(tmp_path):
    ws, ms, cs = random_net_arrays(SHAPES, seed=7)
    net = mapper.network_from_layers(ws, ms, cs, names=["c1", "fc1", "fc2"])
    path = mapper.save_network(tmp_path / "net", net)
    assert path.name == "net.npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.npz"]  # no temp file left
    back = mapper.load_network(path)
    assert [ly.name for ly in back.layers] == ["c1", "fc1", "fc2"]
    assert back.chain == net.chain
    for a, b in zip(net.layers, back.layers, strict=True):
        assert a.kind == b.kind and a.conv == b.conv
        for name in ("weight", "mask", "sign", "g_plus", "g_minus"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for w, mk, w2 in zip(ws, ms, back.weights(), strict=True):
        np.testing.assert_array_equal(w * mk, w2)
    # graph form saves the same
    p2 = mapper.save_network(tmp_path / "g.npz", net.to_graph())
    np.testing.assert_array_equal(mapper.load_network(p2).layers[1].weight, ws[1])


def test_load_network_rejects_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        mapper.load_network(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError):
        mapper.load_network(bad)
    np.savez(tmp_path / "other.npz", x=np.ones(2))
    with pytest.raises(DataError, match="meta"):
        mapper.load_network(tmp_path / "other.npz")


def test_mapper_import_does_not_load_pandas():
    code = ("import sys, rramsim.mapper, numpy as np; "
            "n = rramsim.mapper.network_from_layers([np.ones((2, 2))], [np.ones((2, 2), bool)]); "
            "rramsim.mapper.map_network(n, tile_shape=(4, 4)); "
            "assert 'pandas' not in sys.modules, 'pandas loaded'")
    subprocess.run([sys.executable, "-c", code], check=True)
