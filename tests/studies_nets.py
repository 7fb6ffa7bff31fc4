"""Small networks programmed onto tiles, shared by the studies tests (not a test module)."""

import numpy as np

from rramsim import nn
from rramsim.studies import loading
from rramsim.studies.config import StudyConfig
from rramsim.studies.programming import program


def formed(net, seed=0):
    """Weights from electroformed pairs (DeviceNetwork.form), random top-k masks."""
    rng = np.random.default_rng(seed)
    dev, _ = nn.DeviceNetwork.form(net.shapes, rng=rng)
    net.set_weights(dev.weights())
    net.init_scores(rng=rng)
    return dev


def loaded(net, x, *, seed=0, n_calib=None, labels=None):
    """A LoadedNetwork of ``net`` (pairs from formed devices) with ``x`` as calibration/test."""
    dev = formed(net, seed)
    y = np.argmax(net.forward(x).reshape(len(x), -1), axis=1) if labels is None else labels
    n = len(x) // 2 if n_calib is None else n_calib
    data = loading.Data(x_calib=x[:n], x_test=x[n:], y_test=y[n:], name="synthetic")
    return loading.from_network(net, data, pairs=dev.conductance_pairs(),
                                scales=[la.scale for la in dev.layers])


def config(tile=(8, 8), r_wire=2.0, **circuit):
    cfg = StudyConfig().replace("mapping", tile_rows=tile[0], tile_cols=tile[1])
    return cfg.replace("circuit", r_wordline_ohm=r_wire, r_bitline_ohm=r_wire, **circuit)


def hardware(lo, cfg):
    return program(lo, cfg)
