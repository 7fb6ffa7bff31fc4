"""PyTorch in and out (``rramsim.torch``, the optional extra ``rramsim[torch]``).

Skipped, with the reason printed, where PyTorch is not installed. Forward passes are compared in
float64 (the PyTorch models converted with ``.double()``) to 1e-5 of the output's largest
magnitude, on random inputs.
"""

import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed (pip install 'rramsim[torch]')")

sys.path.insert(0, os.path.dirname(__file__))
import torch_models as tm  # noqa: E402

from rramsim import nn  # noqa: E402
from rramsim.cli import main  # noqa: E402
from rramsim.devmodel import measured  # noqa: E402
from rramsim.errors import DataError, LayerError  # noqa: E402
from rramsim.torch import from_torch, load_pt, measured_pairs, to_torch  # noqa: E402

RTOL = 1e-5

SHAPES = {
    "fashion-cnn": ((1, 28, 28), lambda sm: tm.fashion_cnn(sm)),
    "spoken-crnn": ((1, 23, 20), lambda sm: tm.SpokenDigitCRNN(sm)),
    "spoken-crnn-time-first": ((1, 23, 20), lambda sm: tm.SpokenDigitCRNN(sm, time_first=True)),
    "unet": ((1, 16, 16), lambda sm: tm.SmallUNet(supermask=sm)),
    "unet-affine-bn": ((1, 16, 16), lambda sm: tm.SmallUNet(supermask=sm, affine=True)),
}


def _model(key, supermask, seed=0):
    torch.manual_seed(seed)
    shape, build = SHAPES[key]
    return shape, tm.randomise_bn(build(supermask), seed).double()


def _close(got, want):
    err = np.max(np.abs(got - want)) / np.max(np.abs(want))
    assert err <= RTOL, f"relative difference {err:.2e}"


@pytest.mark.parametrize("supermask", [False, True], ids=["plain", "supermask"])
@pytest.mark.parametrize("key", list(SHAPES))
def test_from_torch_and_back_compute_the_same_function(key, supermask):
    shape, m = _model(key, supermask)
    net = from_torch(m, shape)
    x = np.random.default_rng(1).uniform(0, 1, (6, *shape))
    want = m(torch.as_tensor(x)).detach().numpy()
    _close(net.forward(x), want)
    back = to_torch(net).double()
    _close(back(torch.as_tensor(x)).detach().numpy(), want)
    # the software forward of the round trip, through PyTorch again
    _close(from_torch(back, shape).forward(x), want)


def test_the_study_weight_counts_and_supermasks():
    shape, m = _model("fashion-cnn", True)
    net = from_torch(m, shape)
    assert net.n_weights == 62_272
    convs = [mod for mod in m.modules() if isinstance(mod, tm.SupermaskConv)]
    la = net.weight_layers[0]
    want = tm.topk(convs[0].scores).detach().numpy().reshape(64, -1).T.astype(bool)
    np.testing.assert_array_equal(la.mask, want)
    assert la.trainable == "scores" and la.mask.sum() == 576 - int(0.5 * 576)
    shape, m = _model("spoken-crnn", True)
    net = from_torch(m, shape)
    # conv 1->64 (3x2) + conv 64->32 (3x2) + RNN 32->128 + fc 128->256 + fc 256->10
    assert net.n_weights == 384 + 12288 + 4096 + 16384 + 32768 + 2560
    rnn = [la for la in net.weight_layers if isinstance(la, nn.ReLURNN)][0]
    assert rnn.fan_in == 160 and rnn.mask[:32].sum() == 2048 and rnn.mask[32:].sum() == 8192


class _Biased(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)


class _Residual(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4, bias=False)

    def forward(self, x):
        return self.fc(x) + x


class _CatWrongOrder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1, bias=False)

    def forward(self, x):
        return torch.cat([self.conv(x), x], dim=1)


@pytest.mark.parametrize("model, shape, match", [
    (_Biased(), (4,), "'fc'.*bias"),
    (_Residual(), (4,), "add"),
    (_CatWrongOrder(), (1, 8, 8), "cat"),
    (torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, bias=False),
                         torch.nn.Upsample(scale_factor=2, mode="bilinear")), (1, 8, 8),
     "'1'.*align_corners"),
    (torch.nn.Sequential(torch.nn.Linear(4, 4, bias=False), torch.nn.Tanh()), (4,), "'1'.*Tanh"),
    (torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, bias=False), torch.nn.MaxPool2d(3, stride=2)),
     (1, 9, 9), "'1'.*MaxPool2d"),
], ids=["bias", "residual", "cat-order", "align-corners", "tanh", "overlapping-pool"])
def test_what_cannot_be_mapped_is_refused_by_name(model, shape, match):
    with pytest.raises(LayerError, match=match):
        from_torch(model, shape)


def test_tanh_rnn_is_refused():
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.RNN(3, 4, bias=False, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[0].mean(dim=1)

    with pytest.raises(LayerError, match="'rnn'.*relu"):
        from_torch(M(), (5, 3))


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['RRAMSIM_TEST_MARKER']}",))


def test_a_malicious_pt_is_refused_and_nothing_runs(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    monkeypatch.setenv("RRAMSIM_TEST_MARKER", str(marker))
    evil = tmp_path / "evil.pt"
    torch.save({"set": _Evil()}, evil)
    with pytest.raises(DataError, match="weights_only"):
        load_pt(evil)
    with pytest.raises(DataError, match="weights_only"):
        measured.read_measured(evil)
    assert main(["import-torch", str(evil), "--arch", "torch_models:fashion_cnn",
                 "--input-shape", "1,28,28", "--out", str(tmp_path / "n.npz")]) == 1
    assert not marker.exists()
    (tmp_path / "bad.pt").write_bytes(b"not a zip or a pickle")
    with pytest.raises(DataError, match="bad.pt"):
        load_pt(tmp_path / "bad.pt")


def _saved_cnn(tmp_path, supermask=False):
    torch.manual_seed(0)
    m = tm.randomise_bn(tm.fashion_cnn(supermask))
    path = tmp_path / "cnn.pt"
    torch.save(m.state_dict(), path)
    return m, path


def test_import_torch_writes_a_network_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(os.path.dirname(__file__))     # --arch is importable from the folder
    m, pt = _saved_cnn(tmp_path, supermask=True)
    out = tmp_path / "net.npz"
    assert main(["import-torch", str(pt), "--arch", "torch_models:fashion_cnn_supermask",
                 "--input-shape", "1,28,28", "--out", str(out)]) == 0
    assert "62272 weights" in capsys.readouterr().out
    nf = nn.load_network_file(out)
    assert nf.dataset == "fashion-mnist" and nf.metadata["source"] == "PyTorch"
    x = np.random.default_rng(2).uniform(0, 1, (4, 1, 28, 28))
    _close(nf.network.forward(x), m.double()(torch.as_tensor(x)).detach().numpy())
    assert main(["import-torch", str(pt), "--arch", "torch_models:SmallUNet",
                 "--input-shape", "1,16,16", "--out", str(out)]) == 1
    assert "does not fit" in capsys.readouterr().err


def test_measured_pt_and_pairs_for_an_imported_network(tmp_path):
    m, _ = _saved_cnn(tmp_path, supermask=True)
    net = from_torch(m.double(), (1, 28, 28))
    dev_file = measured.write_standin(tmp_path / "chip.pt", n_reads=2, n_pairs=62_272,
                                      rng=np.random.default_rng(0))
    reads = measured.read_measured(dev_file)
    assert reads.standin and reads.set.shape == (2, 2 * 62_272)
    signs = [np.sign(la.weight) for la in net.weight_layers]
    masks = net.masks()
    dev = measured_pairs(net, reads, read=1)
    for la, s, mk, d in zip(net.weight_layers, signs, masks, dev.layers, strict=True):
        np.testing.assert_array_equal(np.sign(la.weight), s)     # signs kept
        np.testing.assert_array_equal(la.mask, mk)               # masks kept
        g1 = np.abs(reads.set[1, d.index] - reads.set[1, reads.n_pairs + d.index])
        np.testing.assert_allclose(np.abs(la.weight), g1 / d.scale, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.ngspice
def test_compare_runs_an_imported_cnn_and_its_measured_pairs(tmp_path, monkeypatch, capsys):
    import pandas as pd

    monkeypatch.chdir(os.path.dirname(__file__))
    rng = np.random.default_rng(0)
    fm = tmp_path / "fm"
    fm.mkdir()
    for split, n in (("train", 40), ("t10k", 20)):
        for kind, arr in (("images-idx3", rng.integers(0, 256, (n, 28, 28))),
                          ("labels-idx1", rng.integers(0, 10, n))):
            arr = np.ascontiguousarray(arr, dtype=np.uint8)
            head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big")
                                                        for d in arr.shape)
            (fm / f"{split}-{kind}-ubyte").write_bytes(head + arr.tobytes())
    _, pt = _saved_cnn(tmp_path, supermask=True)
    # the CNN's 62,272 pairs on a 128 x 973 array: a pair's cells in one column, 64 rows apart
    chip = measured.write_standin(tmp_path / "chip.npz", n_reads=2, n_pairs=62_272, rng=rng,
                                  array_shape=(128, 973))
    toml = tmp_path / "cnn.toml"
    toml.write_text("[mapping]\ntile_rows = 128\ntile_cols = 128\n[noise]\nrepeats = 1\n"
                    "[cosim]\ntiles = 1\nwindow = 8\ninputs = 1\n[network]\nread_batch = 10\n")
    for extra, tag in (([], None), (["--device-file", str(chip)], "STAND-IN")):
        net = tmp_path / "net.npz"
        assert main(["import-torch", str(pt), "--arch", "torch_models:fashion_cnn_supermask",
                     "--input-shape", "1,28,28", "--out", str(net), "--data-dir", str(fm),
                     *extra]) == 0
        if tag:
            assert "NOTE: these are stand-in data" in capsys.readouterr().out
        out = tmp_path / f"cmp{len(extra)}"
        assert main(["compare", "--network", str(net), "--config", str(toml), "--out", str(out),
                     "--no-progress"]) == 0
        report = (out / "report.md").read_text()
        for section in ("## Accuracy", "## Energy per inference", "## IR drop",
                        "## Co-simulation check"):
            assert section in report
        assert "co-simulation check PASS" in report
        if tag:
            assert tag in report
            assert "given placement" in report
            assert "of reads [0, 1]; the batches ran on reads [0, 1]" in report
        acc = pd.read_csv(out / "accuracy.csv")
        assert {"software", "ideal", "behavioural", "circuit"} <= set(acc.columns)
