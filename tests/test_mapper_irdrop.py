"""IR-drop-aware placement, measured with the fast nodal solver (64 x 64 tiles, 2 ohm wires).

The Must-show figure at 256 x 256 comes from ``scripts/bench_mapper.py --irdrop``; this is the small,
quick version of the same measurement.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_net_arrays

from rramsim import mapper, solver

WIRES = {"r_wordline": 2.0, "r_bitline": 2.0}


def _network():
    ws, ms, cs = random_net_arrays([(100, 24), (24, 10), (6, 2, 3, 3)], seed=11)
    return mapper.network_from_layers(ws, ms, cs)


def _errors(net, scheme, placement, acts, inputs, share):
    """Relative RMS output error from IR drop per layer: ||x T_eff - x G|| / ||x G||."""
    m = mapper.map_network(net, tile_shape=(64, 64), scheme=scheme, placement=placement,
                           input_activity=acts, tile_options=WIRES, share_tiles=share)
    t = m.transfer_matrices()
    out = []
    for k, v in enumerate(inputs):
        ideal = v @ m.layer_matrix(k)
        out.append(np.linalg.norm(v @ m.layer_matrix(k, t) - ideal) / np.linalg.norm(ideal))
    return np.array(out)


@pytest.mark.parametrize("share", mapper.SHARINGS)
@pytest.mark.parametrize("scheme", mapper.SCHEMES)
@pytest.mark.parametrize("skewed", [False, True])
def test_ir_aware_placement_reduces_solver_measured_error(scheme, skewed, share):
    net = _network()
    rng = np.random.default_rng(0)
    acts = [rng.exponential(1.0, ly.shape[0]) ** 2 if skewed else np.ones(ly.shape[0])
            for ly in net.layers]
    inputs = [rng.uniform(0, 1, (32, ly.shape[0])) * a / a.max() * 0.2
              for ly, a in zip(net.layers, acts, strict=True)]
    naive = _errors(net, scheme, "naive", acts, inputs, share)
    aware = _errors(net, scheme, "ir_aware", acts, inputs, share)
    # measured (seeded): naive 1.8-5.7 %, IR-aware 0.3-4.5 % per layer; every layer lower and the
    # layer mean 21-73 % lower across the 8 cases
    assert (naive > 0.01).all()
    assert (aware < naive).all(), (naive, aware)
    assert aware.mean() < 0.85 * naive.mean(), (naive, aware)


def test_layer_matrix_matches_a_direct_solve_of_the_tile():
    """Reading a piece alone (its rows driven, others at 0 V) is what layer_matrix assumes."""
    net = _network()
    m = mapper.map_network(net, tile_shape=(64, 64), tile_options=WIRES)
    k = 1
    (piece,) = m.pieces_of(k)
    xb = m.tiles[piece.tile]
    x = np.random.default_rng(3).uniform(0, 0.2, net.layers[k].shape[0])
    v = np.zeros(xb.n_rows)
    v[piece.rows_pos] = x[piece.sources]
    i = solver.solve(xb, v).i_out
    expect = np.zeros(net.layers[k].shape[1])
    expect[piece.targets] = i[piece.cols_pos] - i[piece.cols_neg]
    got = m.run_layer(k, x, m.transfer_matrices())
    np.testing.assert_allclose(got, expect, rtol=1e-9, atol=1e-15)
