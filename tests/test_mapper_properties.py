"""Property tests (hypothesis) of rramsim.mapper over random layer sizes, densities, tiles, schemes."""

from __future__ import annotations

import numpy as np
from helpers import check_mapping, random_net_arrays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rramsim import mapper


@st.composite
def networks(draw):
    n_layers = draw(st.integers(1, 3))
    shapes = []
    for _ in range(n_layers):
        if draw(st.booleans()):
            shapes.append((draw(st.integers(1, 4)), draw(st.integers(1, 3)),
                           draw(st.integers(1, 3)), draw(st.integers(1, 2))))
        else:
            shapes.append((draw(st.integers(1, 20)), draw(st.integers(1, 12))))
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
    seed = draw(st.integers(0, 2**16))
    return random_net_arrays(shapes, density=density, seed=seed)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=networks(), rows=st.integers(1, 12), cols=st.integers(1, 12),
       scheme=st.sampled_from(mapper.SCHEMES), placement=st.sampled_from(mapper.PLACEMENTS),
       pack=st.booleans(), share=st.sampled_from([True, False, "lines", "diagonal"]))
def test_mapping_invariants(net, rows, cols, scheme, placement, pack, share):
    ws, ms, cs = net
    if (scheme == "columns" and cols < 2) or (scheme == "rows" and rows < 2):
        rows, cols = max(rows, 2), max(cols, 2)
    network = mapper.network_from_layers(ws, ms, cs)
    m = mapper.map_network(network, tile_shape=(rows, cols), scheme=scheme, placement=placement,
                           pack_sparse=pack, share_tiles=share)
    check_mapping(m, ws, ms)
    # the layer product through ideal tiles equals the hardware differential matrix
    rng = np.random.default_rng(0)
    for k, ly in enumerate(network.layers):
        v = rng.uniform(0, 0.2, (2, ly.shape[0]))
        expect = v @ m.layer_conductances(k, original_layout=False)
        np.testing.assert_allclose(m.run_layer(k, v), expect, rtol=1e-12, atol=1e-18)
    # cells used never exceed the tiles
    assert m.summary()["used"] <= m.n_tiles * rows * cols


@settings(max_examples=25, deadline=None)
@given(net=networks())
def test_graph_round_trip_property(net):
    ws, ms, cs = net
    w2, m2, c2 = mapper.layers_from_graph(mapper.graph_from_layers(ws, ms, cs))
    for a, b, ma, mb in zip(ws, w2, ms, m2, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ma, mb)
