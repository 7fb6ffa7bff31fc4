"""Network files carry the whole network: exact round trips for the study's architectures, the
version-1 dense files, and a DataError naming the file and the field for every malformed file."""

import json

import numpy as np
import pytest

from rramsim import mapper
from rramsim.errors import DataError
from rramsim.nn import architectures, load_network_file, save_network_file
from rramsim.nn.export import export_network
from rramsim.nn.hardware import DeviceNetwork
from rramsim.nn.layers import BatchNorm, Quantize
from rramsim.nn.netfile import network_spec


def _trained_like(net, seed, *, x=None):
    """Device weights, scores, a mask, BN statistics and calibrated quantisers, all non-trivial."""
    rng = np.random.default_rng(seed)
    dev, _ = DeviceNetwork.form(net.shapes, rng=rng)
    net.set_weights(dev.weights())
    net.init_scores(rng=rng)
    dev.program(net.masks(), rng=rng)
    if x is None:
        x = rng.random((3, *net.input_shape))
    net.forward(x, train=True)  # moves the BN running statistics
    for la in net.layers:
        if isinstance(la, Quantize):
            la.x_max = float(rng.uniform(0.5, 2.0))
    return dev, x


NETS = {
    "mlp": lambda: architectures.mlp(10, (8, 6), 3, activation_bits=3),
    "cnn": architectures.fashion_mnist_cnn,
    "crnn": architectures.spoken_digit_net,
    "unet": lambda: architectures.unet(base=4, patch=16),
}


@pytest.mark.parametrize("kind", sorted(NETS))
def test_round_trip_is_exact(tmp_path, kind):
    net = NETS[kind]()
    dev, x = _trained_like(net, 1)
    if kind == "crnn":
        net.weight_layers[3].trainable = "weights"  # a mixed network keeps each layer's mode
    meta = {"epochs": 3, "note": "round trip", "loss": [0.5, 0.25]}
    path = save_network_file(tmp_path / kind, net, device=dev, dataset="fashion-mnist",
                             data_dir="/data/x", metadata=meta)
    assert path.suffix == ".npz"
    f = load_network_file(path)
    back = f.network
    assert f.format_version == 2 and f.dataset == "fashion-mnist" and f.data_dir == "/data/x"
    assert f.metadata == meta
    assert network_spec(back) == network_spec(net)
    for a, b in zip(net.weight_layers, back.weight_layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.mask, b.mask)
        np.testing.assert_array_equal(a.scores, b.scores)
        assert a.trainable == b.trainable
    for a, b in zip(net.layers, back.layers, strict=True):
        if isinstance(a, BatchNorm):
            assert not np.all(a.running_mean == 0)
            np.testing.assert_array_equal(a.running_mean, b.running_mean)
            np.testing.assert_array_equal(a.running_var, b.running_var)
        if isinstance(a, Quantize):
            assert (a.bits, a.x_max, a.calibrate) == (b.bits, b.x_max, b.calibrate)
    np.testing.assert_array_equal(back.forward(x), net.forward(x))
    for (gp, gn), s, sc, d in zip(f.pairs, f.signs, f.scales, dev.layers, strict=True):
        ep, en = d.pairs()
        np.testing.assert_array_equal(gp, ep)
        np.testing.assert_array_equal(gn, en)
        np.testing.assert_array_equal(s, d.sign)
        assert sc == d.scale
        np.testing.assert_allclose((gp - gn) / sc, d.weight(), rtol=1e-12, atol=1e-15)
    # the mapper still reads the weight / mask / pair part
    mnet = mapper.load_network(path)
    assert [ly.shape for ly in mnet.layers] == net.shapes


def test_without_device_pairs_are_none(tmp_path):
    net = architectures.mlp(6, (4,), 2)
    _trained_like(net, 2)
    f = load_network_file(save_network_file(tmp_path / "n.npz", net, dataset="digits"))
    assert f.pairs is None and f.scales is None and f.signs is None and f.data_dir is None


def test_version_1_dense_file_loads_as_mlp(tmp_path):
    net = architectures.mlp(10, (8, 6), 3, input_bits=None)
    dev, x = _trained_like(net, 3)
    path = export_network(tmp_path / "old.npz", net, dev)  # the mapper-only file of before
    f = load_network_file(path)
    assert f.format_version == 1 and f.dataset is None and f.metadata == {}
    np.testing.assert_array_equal(f.network.forward(x), net.forward(x))
    np.testing.assert_array_equal(f.pairs[0][0], dev.layers[0].pairs()[0])


def test_version_1_file_with_convolutions_is_refused(tmp_path):
    net = architectures.fashion_mnist_cnn()
    dev, _ = _trained_like(net, 4)
    path = export_network(tmp_path / "oldcnn.npz", net, dev)
    with pytest.raises(DataError, match="oldcnn.npz.*chain of dense layers"):
        load_network_file(path)


def _rewrite(path, out, *, nn=None, drop=()):
    """Copy the file's arrays to ``out``, replacing the ``nn`` JSON and dropping entries."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k not in drop}
    if nn is not None:
        arrays["nn"] = np.array(json.dumps(nn))
    with open(out, "wb") as fh:
        np.savez(fh, **arrays)
    return out


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    net = architectures.fashion_mnist_cnn()
    dev, _ = _trained_like(net, 5)
    path = tmp_path_factory.mktemp("good") / "cnn.npz"
    save_network_file(path, net, device=dev, dataset="fashion-mnist", metadata={"a": 1})
    with np.load(path) as z:
        spec = json.loads(str(z["nn"][()]))
    return path, spec


def _edit(spec, fn):
    s = json.loads(json.dumps(spec))
    fn(s)
    return s


BAD_SPECS = {
    "version": (lambda s: s.update(format_version=7), r"format version 7"),
    "no-dataset": (lambda s: s.pop("dataset"), r"nn\.dataset is missing"),
    "dataset-type": (lambda s: s.update(dataset=3), r"nn\.dataset must be str"),
    "metadata-type": (lambda s: s.update(metadata=[1]), r"nn\.metadata must be dict"),
    "shape-type": (lambda s: s.update(input_shape="1x28x28"), r"nn\.input_shape must be list"),
    "shape-values": (lambda s: s.update(input_shape=[1, 0, 28]), r"nn\.input_shape"),
    "layer-type": (lambda s: s["layers"][1].update(type="Dropout"), r"nn\.layers\[1\]\.type"),
    "layer-args": (lambda s: s["layers"][2]["args"].pop("kernel"), r"nn\.layers\[2\]\.args"),
    "arg-value": (lambda s: s["layers"][2]["args"].update(k=2.0), r"nn\.layers\[2\]\.args"),
    "trainable": (lambda s: s["layers"][2].update(trainable="both"),
                  r"nn\.layers\[2\]\.trainable"),
    "no-layers": (lambda s: s.pop("layers"), r"nn\.layers is missing"),
    "shape-mismatch": (lambda s: s["layers"][2]["args"].update(out_channels=32),
                       r"does not form a network|weight layer 0"),
    "format": (lambda s: s.update(format="other"), r"nn\.format"),
    "has-pairs": (lambda s: s.update(has_pairs="yes"), r"nn\.has_pairs must be bool"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_malformed_architecture_names_file_and_field(tmp_path, good_file, case):
    path, spec = good_file
    fn, pattern = BAD_SPECS[case]
    bad = _rewrite(path, tmp_path / f"bad-{case}.npz", nn=_edit(spec, fn))
    with pytest.raises(DataError, match=rf"bad-{case}\.npz.*({pattern})"):
        load_network_file(bad)


@pytest.mark.parametrize("entry, pattern", [
    ("nn/scores1", r"array 'nn/scores1' is missing"),
    ("nn/running_var3", r"array 'nn/running_var3' is missing"),
    ("layer2/mask", r"missing array 'layer2/mask'"),
    ("meta", r"no 'meta' entry"),
])
def test_missing_array_names_it(tmp_path, good_file, entry, pattern):
    path, _ = good_file
    bad = _rewrite(path, tmp_path / "missing.npz", drop=(entry,))
    with pytest.raises(DataError, match=rf"missing\.npz.*{pattern}"):
        load_network_file(bad)


def test_not_a_network_file(tmp_path, good_file):
    with pytest.raises(DataError, match="nope.npz does not exist"):
        load_network_file(tmp_path / "nope.npz")
    with pytest.raises(DataError, match="is a directory"):
        load_network_file(tmp_path)
    text = tmp_path / "text.npz"
    text.write_text("weights: 1, 2, 3\n")
    with pytest.raises(DataError, match="text.npz"):
        load_network_file(text)
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(good_file[0].read_bytes()[:5000])
    with pytest.raises(DataError, match="trunc.npz"):
        load_network_file(trunc)
    arr = tmp_path / "arr.npz"
    with open(arr, "wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(DataError, match="arr.npz"):
        load_network_file(arr)
    with pytest.raises(DataError, match="bad.npz.*'nn' must be a JSON string"):
        with np.load(good_file[0]) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["nn"] = np.zeros(2)
        with open(tmp_path / "bad.npz", "wb") as fh:
            np.savez(fh, **arrays)
        load_network_file(tmp_path / "bad.npz")


def test_save_refuses_bad_metadata(tmp_path):
    net = architectures.mlp(4, (3,), 2)
    with pytest.raises(DataError, match="not JSON-serialisable"):
        save_network_file(tmp_path / "m", net, dataset="digits", metadata={"x": float("nan")})
    with pytest.raises(DataError, match="dataset"):
        save_network_file(tmp_path / "m", net, dataset="")
    with pytest.raises(DataError, match="metadata must be a dict"):
        save_network_file(tmp_path / "m", net, dataset="digits", metadata=[1])
    assert not any(tmp_path.iterdir())


def test_rnn_spec_without_state_arguments_takes_the_defaults(tmp_path):
    # files written before the RNN had a state quantiser carry only input_size, hidden_size, k
    net = architectures.spoken_digit_net()
    dev, _ = _trained_like(net, 6)
    path = save_network_file(tmp_path / "rnn.npz", net, device=dev, dataset="fsdd")
    with np.load(path) as z:
        spec = json.loads(str(z["nn"][()]))
    for layer in spec["layers"]:
        if layer["type"] == "ReLURNN":
            for key in ("state_bits", "state_max", "state_scale"):
                layer["args"].pop(key)
    f = load_network_file(_rewrite(path, tmp_path / "old-rnn.npz", nn=spec))
    rnn = next(la for la in f.network.layers if type(la).__name__ == "ReLURNN")
    assert (rnn.state_bits, rnn.state_max, rnn.state_scale) == (None, 1.0, 1.0)
