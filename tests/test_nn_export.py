"""Export of pruned networks to the mapper's file form and back (w = sign (G+ - G-) / scale,
arXiv 2311.07164)."""

import json

import numpy as np

from rramsim import mapper
from rramsim.nn import architectures
from rramsim.nn.export import export_network, write_json
from rramsim.nn.hardware import DeviceNetwork
from rramsim.nn.layers import Conv2d, Dense, Flatten, ReLU
from rramsim.nn.network import Network


def _pruned(net, seed):
    rng = np.random.default_rng(seed)
    dev, _ = DeviceNetwork.form(net.shapes, rng=rng)
    net.set_weights(dev.weights())
    net.init_scores(rng=rng)
    dev.program(net.masks(), rng=rng)
    return dev


def test_export_roundtrip_mlp(tmp_path):
    net = architectures.mlp(10, (8, 6), 3)
    dev = _pruned(net, 0)
    path = export_network(tmp_path / "net.npz", net, dev)
    back = mapper.load_network(path)
    assert [ly.kind for ly in back.layers] == ["dense"] * 3
    assert tuple(back.chain) == (True, True)
    for ly, la, d in zip(back.layers, net.weight_layers, dev.layers, strict=True):
        np.testing.assert_array_equal(ly.weight, la.weight)
        np.testing.assert_array_equal(ly.mask, la.mask)
        np.testing.assert_array_equal(ly.sign, d.sign)
        assert ly.scale == d.scale
        # the SET-state pair realises the logical weight, pruned or not
        np.testing.assert_allclose(ly.sign * (ly.g_plus - ly.g_minus) / ly.scale, la.weight,
                                   rtol=1e-12, atol=1e-15)


def test_export_conv_geometry_and_chain(tmp_path):
    net = Network([Conv2d(2, 3, (3, 2)), ReLU(), Flatten(), Dense(3 * 4 * 5, 4), ReLU(),
                   Dense(4, 2)], input_shape=(2, 6, 6), name="tiny")
    dev = _pruned(net, 1)
    back = mapper.load_network(export_network(tmp_path / "tiny", net, dev))
    assert [ly.kind for ly in back.layers] == ["conv", "dense", "dense"]
    assert back.layers[0].conv.kernel == (3, 2) and back.layers[0].conv.in_channels == 2
    assert tuple(back.chain) == (False, True)
    np.testing.assert_array_equal(back.layers[0].weight, net.weight_layers[0].weight)


def test_write_json_atomic_and_nan_to_null(tmp_path):
    p = write_json(tmp_path / "m.json", {"a": float("nan"), "b": np.float64(2.5), "c": (1, 2)})
    assert json.loads(p.read_text()) == {"a": None, "b": 2.5, "c": [1, 2]}
    assert [f.name for f in tmp_path.iterdir()] == ["m.json"]
