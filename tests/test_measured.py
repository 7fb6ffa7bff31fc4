"""Measured conductances in the source study's read-out format as a device source (no torch).

The format and the pair formulas are those of the study's ``*_hardware_TO.py`` (arXiv 2311.07164,
public code): ``G_1 = |set[r, i] - set[r, N + i]|`` (kept), ``G_0 = |reset[r, i] - set[r, N + i]|``
(pruned), layers taking pairs one after another in PyTorch's flattened weight order, and a
different read per test batch.
"""

import numpy as np
import pytest

from rramsim import nn
from rramsim.cli import main
from rramsim.devmodel import measured
from rramsim.errors import DataError
from rramsim.nn import _device


def test_standin_round_trip_and_validation(tmp_path):
    path = measured.write_standin(tmp_path / "m.npz", n_reads=3, n_pairs=50,
                                  rng=np.random.default_rng(0))
    reads = measured.read_measured(path)
    assert reads.standin and reads.n_reads == 3 and reads.n_pairs == 50
    assert reads.set.shape == reads.reset.shape == (3, 100)
    assert "STAND-IN" in reads.describe()
    # a file without the flag is measured data
    measured.save_reads(tmp_path / "real.npz", reads.set, reads.reset, standin=False)
    assert not measured.read_measured(tmp_path / "real.npz").standin
    np.savez(tmp_path / "odd.npz", set=np.ones((2, 5)), reset=np.ones((2, 5)))
    with pytest.raises(DataError, match="even 2N"):
        measured.read_measured(tmp_path / "odd.npz")
    np.savez(tmp_path / "neg.npz", set=-np.ones((2, 4)), reset=np.ones((2, 4)))
    with pytest.raises(DataError, match="'set'"):
        measured.read_measured(tmp_path / "neg.npz")
    np.savez(tmp_path / "nokey.npz", set=np.ones((2, 4)))
    with pytest.raises(DataError, match="'reset'"):
        measured.read_measured(tmp_path / "nokey.npz")
    # an object array (a pickle inside the .npz) is refused, not loaded
    np.savez(tmp_path / "obj.npz", set=np.array([{"a": 1}], dtype=object), reset=np.ones((1, 2)))
    with pytest.raises(DataError, match="cannot read"):
        measured.read_measured(tmp_path / "obj.npz")
    with pytest.raises(DataError, match="no such"):
        measured.read_measured(tmp_path / "missing.npz")


def test_pair_indices_follow_the_study_flat_order():
    conv, dense, rnn = measured.pair_indices([("conv", 2, 3, 2, 2), ("dense", 4, 5),
                                              ("rnn", 2, 3)], start=7)
    # conv: PyTorch (out, in, kh, kw) flattened; crossbar row (c, ky, kx), column out
    assert conv.shape == (8, 3) and conv[0, 0] == 7 and conv[1, 0] == 8 and conv[0, 1] == 15
    assert dense.shape == (4, 5) and dense[0, 0] == 31 and dense[1, 0] == 32 and dense[0, 1] == 35
    # rnn: the input block (hidden, input) then the hidden block (hidden, hidden)
    assert rnn.shape == (5, 3) and rnn[0, 0] == 51 and rnn[1, 0] == 52 and rnn[0, 1] == 53
    assert rnn[2, 0] == 57 and rnn[3, 0] == 58 and rnn[2, 1] == 60
    every = np.concatenate([conv.ravel(), dense.ravel(), rnn.ravel()])
    np.testing.assert_array_equal(np.sort(every), np.arange(7, 7 + 24 + 20 + 15))


def _identity_reads(tmp_path):
    """Two reads of 16 pairs for a 4 -> 4 dense layer (pair index = out * 4 + in): read 0 has
    10 uS on the diagonal and 1 uS elsewhere; read 1 differs only in class 2's row of weights
    (input 2): its diagonal pair reads 0 and its pair to output 3 reads 5 uS."""
    n = 16
    second = np.full(n, 2e-6)
    mag = np.full((4, 4), 1e-6)             # [out, in]
    np.fill_diagonal(mag, 10e-6)
    mag1 = mag.copy()
    mag1[2, 2], mag1[3, 2] = 0.0, 5e-6
    set_ = np.stack([np.concatenate([second + mag.ravel(), second]),
                     np.concatenate([second + mag1.ravel(), second])])
    reset = np.full((2, 2 * n), 0.5e-6)
    return measured.save_reads(tmp_path / "id.npz", set_, reset, standin=True)


def test_behavioural_accuracy_varies_across_reads_as_the_reads_differ(tmp_path):
    net = nn.Network([nn.Dense(4, 4, k=1.0)], input_shape=(4,), name="id")
    dev = _device.measured_pairs(net, _identity_reads(tmp_path),
                                 signs=[np.ones((4, 4))], read=0)
    net.set_weights(dev.weights())
    x = np.tile(np.eye(4), (2, 1))           # two batches of 4: one sample of every class each
    y = np.tile(np.arange(4), 2)
    w0, w1 = dev.weights_at(0)[0], dev.weights_at(1)[0]
    scale = dev.layers[0].scale
    np.testing.assert_allclose(w0 * scale, np.full((4, 4), 1e-6) + 9e-6 * np.eye(4), rtol=1e-12)
    diff = np.argwhere(~np.isclose(w0, w1, rtol=1e-12, atol=0))
    assert diff.tolist() == [[2, 2], [2, 3]]       # only class 2's input row differs
    acc = {r: float(np.mean(net.predict(x, matmul=lambda k, a, w, r=r: a @ dev.weights_at(r)[k])
                            == y)) for r in (0, 1)}
    assert acc == {0: 1.0, 1: 0.75}                 # read 1 loses exactly the class-2 samples
    both, reads = measured.per_batch_read_accuracy(net.forward, x, y, dev, batch_size=4)
    assert reads == [0, 1] and both == 7 / 8
    # three batches: the reads come round again (batch 2 on read 0)
    x3, y3 = np.tile(np.eye(4), (3, 1)), np.tile(np.arange(4), 3)
    acc3, reads3 = measured.per_batch_read_accuracy(net.forward, x3, y3, dev, batch_size=4)
    assert reads3 == [0, 1, 0] and acc3 == 11 / 12


def test_pruned_pairs_positions_and_file_pairs(tmp_path):
    reads = measured.read_measured(measured.write_standin(
        tmp_path / "s.npz", n_reads=2, n_pairs=40, rng=np.random.default_rng(3)))
    reads.array_shape = (8, 10)
    net = nn.Network([nn.Dense(3, 4, k=0.5)], input_shape=(3,), name="p")
    rng = np.random.default_rng(1)
    dev = _device.measured_pairs(net, reads, rng=rng, read=1)
    la = dev.layers[0]
    mask = rng.random((3, 4)) < 0.5
    dev.program([mask])
    i, o = np.argwhere(~mask)[0]
    j = o * 3 + i                                  # the pair of weight (in i, out o)
    n = reads.n_pairs
    want = la.sign[i, o] * abs(reads.reset[1, j] - reads.set[1, n + j]) / la.scale
    assert dev.weights_at(1)[0][i, o] == pytest.approx(want, rel=1e-12)
    i, o = np.argwhere(mask)[0]
    j = o * 3 + i
    want = la.sign[i, o] * abs(reads.set[0, j] - reads.set[0, n + j]) / la.scale
    assert dev.weights_at(0)[0][i, o] == pytest.approx(want, rel=1e-12)
    # positions: cell j at (j // 10, j % 10), its partner N + j
    r1, c1, r2, c2 = la.positions()
    assert (r1[i, o], c1[i, o], r2[i, o], c2[i, o]) == (j // 10, j % 10, (n + j) // 10,
                                                        (n + j) % 10)
    # the pairs a network file stores give the kept weights at the chosen read
    gp, gn = la.pairs()
    np.testing.assert_allclose((gp - gn) / la.scale, la.weight(), rtol=1e-12)
    # scale: mean kept magnitude over reads and pairs / (sqrt(2) / sqrt(0.5 * fan_in))
    g1 = np.abs(reads.set[:, la.index] - reads.set[:, n + la.index])
    assert la.scale == pytest.approx(g1.mean() / (2**0.5 / np.sqrt(0.5 * 3)), rel=1e-12)
    with pytest.raises(DataError, match="needs 1000 pairs"):
        _device.measured_pairs(nn.Network([nn.Dense(10, 100)], input_shape=(10,), name="big"),
                               reads, rng=rng)


@pytest.mark.slow
def test_prune_takes_its_pairs_from_a_device_file(tmp_path, capsys):
    dev = measured.write_standin(tmp_path / "chip.npz", n_reads=4, n_pairs=64 * 16 + 16 * 10,
                                 rng=np.random.default_rng(0))
    out = tmp_path / "run"
    assert main(["prune", "--dataset", "digits", "--hidden", "16", "--epochs", "1",
                 "--max-train", "200", "--no-baseline", "--no-checkpoint", "--no-progress",
                 "--device-file", str(dev), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "STAND-IN data in the measured format" in text
    nf = nn.load_network_file(out / "network.npz")
    reads = measured.read_measured(dev)
    idx = measured.pair_indices([("dense", 64, 16), ("dense", 16, 10)])
    for k, (gp, gn) in enumerate(nf.pairs):       # the file's pairs are the chip's cells, read 0
        cells = np.stack([reads.set[0, idx[k]], reads.set[0, reads.n_pairs + idx[k]]])
        np.testing.assert_array_equal(np.sort(np.stack([gp, gn]), axis=0), np.sort(cells, axis=0))
    assert "STAND-IN" in nf.metadata["metrics"]["device_source"]
