"""pipeline.evaluate_point: one design point as flat metrics, with a reusable cache."""

import numpy as np
import pytest

from rramsim import nn
from rramsim.studies import loading
from rramsim.studies.config import StudyConfig
from rramsim.studies.pipeline import evaluate_point, network_key


@pytest.fixture(scope="module")
def small_cache():
    """A cache pre-filled with a small in-memory MLP (as a caller would keep it)."""
    rng = np.random.default_rng(0)
    net = nn.mlp(16, (12,), 4, input_bits=None)
    dev, _ = nn.DeviceNetwork.form(net.shapes, rng=rng)
    net.set_weights(dev.weights())
    net.init_scores(rng=rng)
    x = rng.uniform(0, 1, (40, 16))
    y = np.argmax(net.forward(x), axis=1)        # labels the software network gets right
    data = loading.Data(x_calib=x[:20], x_test=x[20:], y_test=y[20:], name="toy")
    lo = loading.from_network(net, data, pairs=dev.conductance_pairs(),
                              scales=[la.scale for la in dev.layers])
    cfg = StudyConfig().replace("mapping", tile_rows=8, tile_cols=8).replace(
        "noise", repeats=1)
    cache = {network_key(cfg): lo}
    return cfg, cache


def test_evaluate_point_metrics_and_cache(small_cache):
    cfg, cache = small_cache
    m = evaluate_point(cfg, cache=cache)
    assert set(m) == {"acc_software", "acc_ideal", "acc_behavioural", "acc_circuit",
                      "tile_error_rel", "ir_drop_worst_rel", "energy_per_inference_J"}
    assert m["acc_software"] == 1.0 and all(isinstance(v, float) for v in m.values())
    assert 0 < m["tile_error_rel"] < 0.2 and 0 < m["ir_drop_worst_rel"] < 0.2
    assert m["energy_per_inference_J"] > 0
    n_entries = len(cache)
    # another noise seed reuses network, tiles and matrices; converters preset changes energy only
    m2 = evaluate_point(cfg.replace("noise", seed=7), cache=cache)
    m3 = evaluate_point(cfg.replace("converters", preset="integrated"), cache=cache)
    assert len(cache) == n_entries
    assert m2["acc_software"] == m["acc_software"] and m2["tile_error_rel"] == pytest.approx(
        m["tile_error_rel"], rel=0.05)
    assert m3["acc_circuit"] == m["acc_circuit"]
    assert m3["energy_per_inference_J"] < m["energy_per_inference_J"] / 100
    # without wires, circuit and ideal tiles agree: no IR drop at all
    m0 = evaluate_point(cfg.replace("circuit", r_wordline_ohm=0.0, r_bitline_ohm=0.0),
                        cache=cache)
    assert m0["tile_error_rel"] < 1e-12 and m0["ir_drop_worst_rel"] < 1e-12


def test_sense_circuit_enters_the_tiles(small_cache):
    cfg, cache = small_cache
    base = evaluate_point(cfg, cache=cache)
    res = evaluate_point(cfg.replace("circuit", sense="resistor", sense_r_ohm=2e3), cache=cache)
    tia = evaluate_point(cfg.replace("circuit", sense="finite_gain_tia", sense_gain=1e6),
                         cache=cache)
    # a sense resistor lifts the bit lines: more output error; a high-gain TIA is near ideal
    assert res["tile_error_rel"] > 2 * base["tile_error_rel"]
    assert tia["tile_error_rel"] == pytest.approx(base["tile_error_rel"], rel=1e-2)
