"""Measured cells where they were read out: the mapper's ``placement="given"``, pruned pairs at
their measured ``G_0`` cells, and a different read per test batch in the studies.

The read-out format and pair formulas are those of the source study's ``*_hardware_TO.py``
(arXiv 2311.07164, public code): pair ``i`` is cell ``i`` and cell ``N + i`` of the flat read-out,
``G_1 = |set[r, i] - set[r, N + i]|``, ``G_0 = |reset[r, i] - set[r, N + i]|``.
"""

import dataclasses

import numpy as np
import pytest

from rramsim import mapper, nn, solver
from rramsim.crossbar import Crossbar
from rramsim.devmodel import measured
from rramsim.errors import MappingError
from rramsim.nn import _device
from rramsim.studies import loading, programming
from rramsim.studies.config import config_from_dict
from rramsim.studies.inference import accuracy


def _scattered(rng):
    """A 3 -> 4 layer whose weight (i, o) sits at flat cell j = o * 3 + i, as the study's flat
    order puts it: row j // 4, column j % 4 of an 8 x 4 tile, its partner 4 rows below (rows
    scheme)."""
    w = rng.normal(size=(3, 4))
    m = rng.random((3, 4)) < 0.6
    gp, gm = rng.uniform(5e-6, 20e-6, (3, 4)), rng.uniform(1e-6, 4e-6, (3, 4))
    s = np.where(rng.random((3, 4)) < 0.5, -1, 1)
    j = np.arange(12).reshape(4, 3).T
    pos = np.stack([np.zeros_like(j), j // 4, j % 4, j // 4 + 4, j % 4])
    pruned = (rng.uniform(0.1e-6, 1e-6, (3, 4)), rng.uniform(8e-6, 12e-6, (3, 4)))
    return w, m, (gp, gm), s, pos, pruned, j


def test_given_placement_puts_every_cell_where_it_says_and_computes_the_layer(tmp_path):
    w, m, (gp, gm), s, pos, (pp, pm), j = _scattered(np.random.default_rng(0))
    net = mapper.network_from_layers([w], [m], [(gp, gm)], signs=[s], scales=[1e-5],
                                     pruned_conductances=[(pp, pm)], positions=[pos])
    back = mapper.load_network(mapper.save_network(tmp_path / "n.npz", net))
    np.testing.assert_array_equal(back.layers[0].positions, pos)
    np.testing.assert_array_equal(back.layers[0].g_minus_pruned, pm)
    mp = mapper.map_network(back, tile_shape=(8, 4), scheme="rows", placement="given")
    assert mp.n_tiles == 1 and mp.placement == "given"
    g = mp.conductance[0]
    for i in range(3):
        for o in range(4):
            r, c = divmod(int(j[i, o]), 4)
            # the g_plus cell at its own place whatever the sign; pruned: the measured pair
            assert g[r, c] == (gp[i, o] if m[i, o] else pp[i, o])
            assert g[r + 4, c] == (gm[i, o] if m[i, o] else pm[i, o])
    want = np.where(m, s * (gp - gm), s * (pp - pm))
    np.testing.assert_allclose(mp.layer_matrix(0), want, rtol=1e-12, atol=0)
    x = np.random.default_rng(1).normal(size=(5, 3))
    np.testing.assert_allclose(mp.run_layer(0, x), x @ want, rtol=1e-9, atol=1e-18)


def test_given_placement_on_a_resistive_tile_matches_the_circuit_built_by_hand():
    """The plan's product through the solver's transfer matrix equals, weight by weight, the
    column current of the hand-built tile with that weight's two rows driven at +1 / -1 V
    (solver.solve, nodal analysis of the same circuit); 100-ohm wire segments make the IR drop
    visible (the products differ from the ideal ones by more than 1e-4)."""
    w, m, (gp, gm), s, pos, (pp, pm), j = _scattered(np.random.default_rng(2))
    opts = {"r_wordline": 100.0, "r_bitline": 100.0}
    net = mapper.network_from_layers([w], [m], [(gp, gm)], signs=[s], scales=[1e-5],
                                     pruned_conductances=[(pp, pm)], positions=[pos])
    mp = mapper.map_network(net, tile_shape=(8, 4), scheme="rows", placement="given",
                            tile_options=opts)
    hand = np.zeros((8, 4))
    for i in range(3):
        for o in range(4):
            r, c = divmod(int(j[i, o]), 4)
            hand[r, c] = gp[i, o] if m[i, o] else pp[i, o]
            hand[r + 4, c] = gm[i, o] if m[i, o] else pm[i, o]
    xb = Crossbar(conductance=hand, **opts)
    got = mp.layer_matrix(0, [solver.transfer_matrix(mp.tiles[0])])
    want = np.zeros((3, 4))
    for i in range(3):
        for o in range(4):
            r, c = divmod(int(j[i, o]), 4)
            v = np.zeros(8)
            pos_row, neg_row = (r, r + 4) if s[i, o] > 0 else (r + 4, r)
            v[pos_row], v[neg_row] = 1.0, -1.0
            want[i, o] = np.asarray(solver.solve(xb, v).i_out).ravel()[c]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-15)
    ideal = np.where(m, s * (gp - gm), s * (pp - pm))
    assert np.max(np.abs(got - ideal) / np.abs(ideal)) > 1e-4


@pytest.mark.parametrize("change, match", [
    (lambda p: p.__setitem__((slice(2, 5, 2), 0, 1), 0),
     r"layers 'layer0' and 'layer0': two cells at tile 0, row 0, column 0"),
    (lambda p: p.__setitem__((3, 2, 3), 9), r"layer 'layer0': the cells of weight \(input 2, "
                                            r"output 3\).*outside the 8 x 4 tile"),
    (lambda p: p.__setitem__((4, 1, 0), 3), r"layer 'layer0': the cells of weight \(input 1, "
                                            r"output 0\).*do not fit the rows scheme"),
])
def test_given_positions_that_collide_leave_the_tile_or_misfit_are_refused(change, match):
    w, m, (gp, gm), _, pos, _, _ = _scattered(np.random.default_rng(0))
    pos = pos.copy()
    change(pos)
    net = mapper.network_from_layers([w], [m], [(gp, gm)], signs=[np.ones((3, 4))],
                                     positions=[pos])
    with pytest.raises(MappingError, match=match):
        mapper.map_network(net, tile_shape=(8, 4), scheme="rows", placement="given")
    plain = mapper.network_from_layers([w], [m], [(gp, gm)])
    with pytest.raises(MappingError, match="needs every layer's cell positions"):
        mapper.map_network(plain, tile_shape=(8, 4), scheme="rows", placement="given")


def _identity_reads(tmp_path):
    """Two reads of 16 pairs on a 4 x 8 array (pair j: row j // 8, column j % 8; partner two
    rows below) for a 4 -> 4 dense layer (pair = out * 4 + in): read 0 has 10 uS on the
    diagonal, 1 uS elsewhere; read 1 differs only in input 2's weights: its diagonal pair 0,
    its pair to output 3 5 uS."""
    second = np.full(16, 2e-6)
    mag = np.full((4, 4), 1e-6)
    np.fill_diagonal(mag, 10e-6)
    mag1 = mag.copy()
    mag1[2, 2], mag1[3, 2] = 0.0, 5e-6
    set_ = np.stack([np.concatenate([second + mag.ravel(), second]),
                     np.concatenate([second + mag1.ravel(), second])])
    reset = np.full((2, 32), 0.5e-6)
    return measured.save_reads(tmp_path / "id.npz", set_, reset, standin=True,
                               array_shape=(4, 8))


def _loaded(tmp_path, chip, *, masks=None, reads=0, read_batch=4):
    net = nn.Network([nn.Dense(4, 4, k=1.0)], input_shape=(4,), name="id")
    dev = _device.measured_pairs(net, chip, signs=[np.ones((4, 4))], read=0)
    if masks is not None:
        net.weight_layers[0].mask = masks
        dev.program([masks])
    net.set_weights(dev.weights())
    path = nn.save_network_file(tmp_path / "net.npz", net, device=dev, dataset="digits",
                                metadata={"device_file": str(chip), "read": 0})
    cfg = config_from_dict({"network": {"path": str(path), "reads": reads,
                                        "read_batch": read_batch},
                            "noise": {"read_noise_rel": 0.0, "repeats": 1},
                            "converters": {"dac_bits": 8, "calibration_samples": 4}})
    lo = loading.load(cfg, with_data=False)
    x = np.tile(np.eye(4), (2, 1))
    data = loading.Data(x_calib=np.eye(4), x_test=x, y_test=np.tile(np.arange(4), 2))
    return dataclasses.replace(lo, data=data), cfg, dev


def test_measured_network_maps_its_cells_where_they_were_read_at_every_read(tmp_path):
    chip = _identity_reads(tmp_path)
    reads = measured.read_measured(chip)
    mask = np.ones((4, 4), bool)
    mask[0, 1] = mask[3, 2] = False              # two pruned pairs
    lo, cfg, dev = _loaded(tmp_path, chip, masks=mask)
    assert lo.measured is not None and lo.array_shape == (4, 8)
    for r in (0, 1):
        hw = programming.program(loading.at_read(lo, r), cfg)
        assert hw.mapping.placement == "given" and hw.mapping.scheme == "rows"
        assert hw.tile_shape == (4, 8)
        g = hw.mapping.conductance[0]
        for i in range(4):
            for o in range(4):
                jj = o * 4 + i                   # the study's flat order (out, in)
                first = reads.set[r, jj] if mask[i, o] else reads.reset[r, jj]
                assert g[jj // 8, jj % 8] == first                 # cell i
                assert g[(16 + jj) // 8, (16 + jj) % 8] == reads.set[r, 16 + jj]   # cell N + i
    # at the stored read the tiles' products are the study's weights where kept
    hw0 = programming.program(lo, cfg)
    m0 = hw0.mapping.layer_matrix(0) / lo.scales[0]
    np.testing.assert_allclose(m0[mask], dev.weights_at(0)[0][mask], rtol=1e-12)


@pytest.mark.parametrize("modes", [("ideal", "behavioural"), ("circuit",)])
def test_studies_accuracy_varies_across_reads_exactly_as_the_reads_differ(tmp_path, modes):
    """Read 1 moves input 2's largest pair to output 3: each test batch holds one input of
    every class, so the batch on read 1 loses exactly its class-2 input: 7 of 8 with the
    batches on reads 0 and 1, 8 of 8 on read 0 alone."""
    chip = _identity_reads(tmp_path)
    for reads, want, used in ((0, 7 / 8, [0, 1]), (1, 1.0, [0, 0])):
        lo, cfg, _ = _loaded(tmp_path, chip, reads=reads)
        hw = programming.program(lo, cfg)
        rs = loading.reads_used(lo, cfg)
        ev = accuracy.evaluate(hw, lo, cfg, modes=modes,
                               read_hardware=[(rs[0], hw),
                                              *programming.program_reads(lo, cfg, rs[1:])])
        assert {mo: ev.accuracy[mo] for mo in modes} == {mo: want for mo in modes}
        assert ev.reads == used


def test_recurrent_layers_scale_their_input_and_hidden_blocks_apart(tmp_path):
    """The study's MaskRNN: ih_scale = mean(G_1 of weight_ih) / (gain / sqrt(0.5 input_size)),
    hh_scale likewise with hidden_size."""
    reads = measured.read_measured(measured.write_standin(
        tmp_path / "r.npz", n_reads=2, n_pairs=2 * 3 + 3 * 3, rng=np.random.default_rng(0)))
    net = nn.Network([nn.ReLURNN(2, 3, k=1.0)], input_shape=(4, 2), name="rnn")
    la = _device.measured_pairs(net, reads, rng=np.random.default_rng(1)).layers[0]
    n = reads.n_pairs
    for rows, size in ((slice(0, 2), 2), (slice(2, 5), 3)):
        ix = la.index[rows]
        g1 = np.abs(reads.set[:, ix] - reads.set[:, n + ix])
        want = g1.mean() / (2**0.5 / np.sqrt(0.5 * size))
        np.testing.assert_allclose(la.scale[rows], want, rtol=1e-12)
    w = la.weight()
    np.testing.assert_allclose(w, la.sign * reads.kept(0, la.index) / la.scale, rtol=1e-12)
    assert la.scale[0, 0] != pytest.approx(la.scale[2, 0], rel=1e-3)
