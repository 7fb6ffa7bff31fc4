"""Network files in the studies: a CNN and a CRNN read back with their architecture and data set."""

import numpy as np
import pytest
from studies_nets import formed

from rramsim import nn
from rramsim.studies import loading
from rramsim.studies.config import StudyConfig
from rramsim.studies.programming import program


def _idx(path, arr):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(head + arr.tobytes())


@pytest.fixture()
def fashion_dir(tmp_path):
    """Four tiny Fashion-MNIST-format IDX files (random images)."""
    rng = np.random.default_rng(0)
    d = tmp_path / "fm"
    d.mkdir()
    for split, n in (("train", 40), ("t10k", 20)):
        _idx(d / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _idx(d / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n))
    return d


def _cnn_file(tmp_path, data_dir):
    net = nn.fashion_mnist_cnn()
    dev = formed(net, seed=3)
    x = np.random.default_rng(1).uniform(0, 1, (16, 1, 28, 28))
    net.forward(x, train=True)           # BN running statistics move away from their defaults
    path = nn.save_network_file(tmp_path / "cnn.npz", net, device=dev, dataset="fashion-mnist",
                                data_dir=str(data_dir), metadata={"test_accuracy": 0.5})
    return net, dev, path


def test_cnn_file_is_read_with_its_architecture_pairs_and_data_set(tmp_path, fashion_dir):
    net, dev, path = _cnn_file(tmp_path, fashion_dir)
    cfg = StudyConfig().replace("network", path=str(path)).replace(
        "mapping", tile_rows=128, tile_cols=128)
    lo = loading.load(cfg)
    assert lo.data.name == "fashion-mnist" and lo.data.x_test.shape == (20, 1, 28, 28)
    x = lo.data.x_test
    np.testing.assert_array_equal(lo.network.forward(x), net.forward(x))    # exact round trip
    for (gp, gn), (hp, hn) in zip(lo.pairs, dev.conductance_pairs(), strict=True):
        np.testing.assert_array_equal(gp, hp)
        np.testing.assert_array_equal(gn, hn)
    np.testing.assert_array_equal(lo.scales, [la.scale for la in dev.layers])
    assert lo.metrics["test_accuracy"] == 0.5 and not lo.keep_pairs
    hw = program(lo, cfg)
    for k, la in enumerate(net.weight_layers):       # the tiles hold the file's kept weights
        w = hw.mapping.layer_conductances(k, original_layout=False) / lo.scales[k]
        np.testing.assert_allclose(w[la.mask], la.weight[la.mask], rtol=1e-9)


def test_crnn_file_round_trip_programs_the_same_tiles(tmp_path):
    net = nn.spoken_digit_net()
    dev = formed(net, seed=4)
    path = nn.save_network_file(tmp_path / "crnn.npz", net, device=dev, dataset="fsdd")
    nf = nn.load_network_file(path)
    x = np.random.default_rng(2).uniform(0, 1, (3, 1, 23, 20))
    np.testing.assert_array_equal(nf.network.forward(x), net.forward(x))
    data = loading.Data(x_calib=x, x_test=x, y_test=np.zeros(3, int))
    cfg = StudyConfig().replace("mapping", tile_rows=256, tile_cols=256)
    a = program(loading.from_network(net, data, pairs=dev.conductance_pairs(),
                                     scales=[la.scale for la in dev.layers]), cfg)
    b = program(loading.from_network(nf.network, data, pairs=nf.pairs, scales=nf.scales), cfg)
    np.testing.assert_array_equal(a.mapping.conductance, b.mapping.conductance)


def test_data_set_needs_its_folder(tmp_path, fashion_dir):
    from rramsim.errors import DataError

    net, dev, path = _cnn_file(tmp_path, fashion_dir)
    cfg = StudyConfig().replace("network", path=str(path), dataset="fashion-mnist",
                                data_dir=str(tmp_path / "missing"))
    with pytest.raises(DataError, match="missing"):
        loading.load(cfg)
    with pytest.raises(DataError, match="data_dir"):
        loading.load_data(StudyConfig().replace("network", dataset="fsdd"))
    # the netlist of a tile needs no data set
    from rramsim.cli import main

    deck = tmp_path / "t.cir"
    assert main(["netlist", "--network", str(path), "--data-dir", str(tmp_path / "missing"),
                 "--tile", "0", "--out", str(deck), "--no-progress"]) == 0
    assert deck.read_text().count("\n") > 64 * 64


@pytest.mark.slow
@pytest.mark.ngspice
def test_compare_writes_the_full_report_for_a_cnn_file(tmp_path, fashion_dir, capsys):
    import pandas as pd

    from rramsim.cli import main

    _, _, path = _cnn_file(tmp_path, fashion_dir)
    toml = tmp_path / "cnn.toml"
    toml.write_text("[mapping]\ntile_rows = 128\ntile_cols = 128\n[noise]\nrepeats = 1\n"
                    "[cosim]\ntiles = 1\nwindow = 8\ninputs = 1\n")
    out = tmp_path / "cmp"
    assert main(["compare", "--network", str(path), "--config", str(toml), "--out", str(out),
                 "--no-progress"]) == 0
    report = (out / "report.md").read_text()
    for section in ("## Accuracy", "## Energy per inference", "## IR drop",
                    "## Co-simulation check", "## Network on the tiles"):
        assert section in report
    assert "co-simulation check PASS" in report and "fashion-mnist" in report
    assert "conv" in report.lower() and "reads per inference" in report
    acc = pd.read_csv(out / "accuracy.csv")
    assert acc.loc[0, "software"] >= 0 and 0 < acc.loc[0, "tile_error_rel"] < 1
    en = pd.read_csv(out / "energy.csv")
    assert (en[(en.layer == "TOTAL") & (en.preset == "board")].total_J > 0).all()
    assert list(out.glob("irdrop_tile*.png")) and (out / "run.json").is_file()


@pytest.mark.slow
def test_drive_patches_are_the_u_net_data_set(tmp_path):
    from rramsim.nn import standins

    folder = standins.drive(tmp_path / "drive", n_train=2, n_test=2, size=(80, 72))
    cfg = StudyConfig().replace("network", dataset="drive", data_dir=str(folder)).replace(
        "run", test_samples=5).replace("converters", calibration_samples=3)
    data = loading.load_data(cfg, (1, 32, 32))
    assert data.x_calib.shape == (3, 1, 32, 32) and data.x_test.shape == (5, 1, 32, 32)
    assert data.y_test.shape == (5, 32, 32) and set(np.unique(data.y_test)) <= {0, 1}
    again = loading.load_data(cfg, (1, 32, 32))          # seeded patch positions
    np.testing.assert_array_equal(again.x_test, data.x_test)


def _mlp_file(tmp_path):
    """A 6-5-3 MLP on formed pairs, half its weights pruned, the pruned pairs RESET (their
    RESET-state weights in the forward pass, as ``rramsim prune`` trains), written to a file."""
    net = nn.mlp(6, (5,), 3, input_bits=None, k=0.5)
    rng = np.random.default_rng(7)
    dev, _ = nn.DeviceNetwork.form(net.shapes, rng=rng)
    net.set_weights(dev.weights())
    net.init_scores(rng=rng)
    for la, w in zip(net.weight_layers, dev.pruned_weights(), strict=True):
        la.set_pruned_weight(w)
    dev.program(net.masks(), rng=rng)
    return net, dev, nn.save_network_file(tmp_path / "mlp.npz", net, device=dev, dataset="digits")


def _ideal_output(path, x):
    from rramsim.studies.inference import modes as infer

    cfg = StudyConfig().replace("network", path=str(path)).replace(
        "mapping", tile_rows=16, tile_cols=16)
    lo = loading.load(cfg, with_data=False)
    return lo, lo.network.forward(x, matmul=infer.make_matmul(infer.prepare(program(lo, cfg),
                                                                           "ideal")))


def test_network_file_carries_the_pruned_pairs_reset_state_cells(tmp_path):
    """The file holds each pruned pair's RESET-state cells; the studies map them, so the ideal
    mode computes the network as it was trained: equal, to 1e-9, to the forward pass computed by
    hand from the pairs' kept (SET) and pruned (RESET) conductances."""
    import zipfile

    net, dev, path = _mlp_file(tmp_path)
    x = np.random.default_rng(8).uniform(0, 1, (7, 6))
    lo, y = _ideal_output(path, x)
    cells = [np.where(m, la.live, la.conductance) for m, la in zip(net.masks(), dev.layers,
                                                                    strict=True)]
    w = [la.sign * (g[0] - g[1]) / la.scale for la, g in zip(dev.layers, cells, strict=True)]
    hand = np.maximum(x @ w[0], 0) @ w[1]
    assert lo.pruned_pairs is not None
    np.testing.assert_allclose(y, hand, rtol=1e-9, atol=1e-12 * np.abs(hand).max())
    np.testing.assert_allclose(y, net.forward(x), rtol=1e-9, atol=1e-12 * np.abs(hand).max())
    # the pruned weights matter at this size: with them at 0 the outputs differ by > 1 %
    w0 = [np.where(m, wk, 0.0) for m, wk in zip(net.masks(), w, strict=True)]
    assert np.max(np.abs(np.maximum(x @ w0[0], 0) @ w0[1] - hand)) > 0.01 * np.abs(hand).max()
    # a file written before the pairs were stored still loads, pruned cells at the mapper's level
    old = tmp_path / "old.npz"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(old, "w") as zout:
        for item in zin.infolist():
            if "_pruned" not in item.filename:
                zout.writestr(item, zin.read(item.filename))
    lo_old, y_old = _ideal_output(old, x)
    assert lo_old.pruned_pairs is None     # both cells at mapper.DEFAULT_G_RESET: weight 0
    np.testing.assert_allclose(y_old, np.maximum(x @ w0[0], 0) @ w0[1], rtol=1e-9,
                               atol=1e-12 * np.abs(hand).max())
