"""Hostile graphs and tile shapes for the mapper: each is refused with a ``MappingError`` naming the
field, before anything is converted or allocated (``rramsim/mapper/_checks.py``)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from rramsim import mapper
from rramsim.errors import MappingError, RramsimError
from rramsim.mapper.network import GRAPH_META_KEY

NET = mapper.network_from_layers([np.arange(6.0).reshape(3, 2) - 2.5], [np.ones((3, 2), bool)])


def _graph():
    return NET.to_graph()


def _first_edge(g):
    u, v = next(iter(g.edges))
    return g.edges[u, v]


def _meta_without(key):
    def call():
        g = _graph()
        del g.graph[GRAPH_META_KEY][0][key]
        return mapper.map_network(g, tile_shape=(8, 8))
    return call


def _meta_with(key, value, **more):
    def call():
        g = _graph()
        g.graph[GRAPH_META_KEY][0].update({key: value, **more})
        return mapper.map_network(g, tile_shape=(8, 8))
    return call


def _node_with(key, value):
    def call():
        g = _graph()
        for v in g.nodes:
            g.nodes[v][key] = g.nodes[v][key] + value if key == "layer" else value
        return mapper.network_from_graph(g)
    return call


def _edge_with(key, value):
    def call():
        g = _graph()
        _first_edge(g)[key] = value
        return mapper.network_from_graph(g)
    return call


def _metadata(value):
    def call():
        g = _graph()
        g.graph[GRAPH_META_KEY] = value
        return mapper.network_from_graph(g)
    return call


# (id, call, text the message must contain: the field)
REFUSALS = [
    # ---- malformed metadata (was a bare KeyError / TypeError) ----------------------------
    ("meta-no-source-layer", _meta_without("source_layer"), "'source_layer'"),
    ("meta-no-fan-in", _meta_without("fan_in"), "'fan_in'"),
    ("meta-no-fan-out", _meta_without("fan_out"), "'fan_out'"),
    ("meta-no-name", _meta_without("name"), "'name'"),
    ("meta-no-kind", _meta_without("kind"), "'kind'"),
    ("meta-conv-without-geometry", _meta_with("kind", "conv"), "'conv'"),
    ("meta-unknown-kind", _meta_with("kind", "lstm"), "'kind'"),
    ("meta-text-fan-in", _meta_with("fan_in", "3"), "'fan_in'"),
    ("meta-float-source-layer", _meta_with("source_layer", 0.0), "'source_layer'"),
    ("meta-text-scale", _meta_with("scale", "1e-5"), "'scale'"),
    ("meta-text-chain", _meta_with("chain_next", "yes"), "'chain_next'"),
    ("meta-bad-conv", _meta_with("conv", {"in_channels": 3, "out_channels": 2}, kind="conv"),
     "'kernel'"),
    ("meta-not-a-list", _metadata("layers"), GRAPH_META_KEY),
    ("meta-item-not-a-dict", _metadata([5]), f"{GRAPH_META_KEY}'[0]"),
    # ---- out-of-range integers (was OverflowError) --------------------------------------
    ("node-layer-2**70", _node_with("layer", 2**70), "'layer'"),
    ("node-index-2**70", _node_with("index", 2**70), "'index'"),
    ("node-layer-negative", _node_with("layer", -5), "'layer'"),
    ("meta-source-layer-2**70", _meta_with("source_layer", 2**70), "'source_layer'"),
    ("meta-fan-in-2**70", _meta_with("fan_in", 2**70), "'fan_in'"),
    ("meta-fan-out-negative", _meta_with("fan_out", -1), "'fan_out'"),
    ("edge-weight-10**400", _edge_with("weight", 10**400), "'weight'"),
    # ---- non-numeric edge values (were converted silently) ------------------------------
    ("edge-weight-text", _edge_with("weight", "0.5"), "'weight'"),
    ("edge-weight-bytes", _edge_with("weight", b"0.5"), "'weight'"),
    ("edge-weight-bool", _edge_with("weight", True), "'weight'"),
    ("edge-weight-none", _edge_with("weight", None), "'weight'"),
    ("edge-sign-text", _edge_with("sign", "-1"), "'sign'"),
    ("edge-g-plus-text", _edge_with("g_plus", "1e-5"), "'g_plus'"),
    ("edge-g-minus-list", _edge_with("g_minus", [1e-6]), "'g_minus'"),
    # ---- tiles whose arrays would not fit in memory (was NumPy's MemoryError) -----------
    ("tile-100000-square", lambda: mapper.map_network(NET, tile_shape=(100_000, 100_000)),
     "tile_shape"),
    ("tile-2**70-rows", lambda: mapper.map_network(NET, tile_shape=(2**70, 8)), "tile_shape"),
]


@pytest.mark.parametrize("call, field", [pytest.param(c, f, id=i) for i, c, f in REFUSALS])
def test_mapper_refuses_hostile_input(call, field):
    with pytest.raises(RramsimError) as info:
        call()
    assert type(info.value) is MappingError, f"{type(info.value).__name__}: {info.value}"
    assert field in str(info.value), str(info.value)


def test_huge_tile_is_refused_before_allocating():
    """74.5 GiB of float64 cells alone: refused from arithmetic, with a few kB allocated."""
    tracemalloc.start()
    try:
        with pytest.raises(MappingError, match=r"tile_shape \(100000, 100000\).*GB"):
            mapper.map_network(NET, tile_shape=(100_000, 100_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10e6, f"{peak / 1e6:.1f} MB allocated before the refusal"


def test_numbers_of_every_real_type_are_still_accepted():
    """NumPy scalars, Python ints and Fractions are numbers; the graph reads back exactly."""
    from fractions import Fraction

    g = _graph()
    e = _first_edge(g)
    e["weight"], e["sign"], e["g_plus"] = np.float32(-2.5), np.int64(-1), Fraction(0, 1)
    for v in g.nodes:
        g.nodes[v]["layer"] = np.int64(g.nodes[v]["layer"])
    back = mapper.network_from_graph(g)
    np.testing.assert_array_equal(back.layers[0].weight, NET.layers[0].weight)  # exact copies
    assert back.layers[0].sign[0, 0] == -1 and back.layers[0].g_plus[0, 0] == 0.0
    # a tile that fits is still mapped
    assert mapper.map_network(g, tile_shape=(4, 4)).n_tiles == 1
