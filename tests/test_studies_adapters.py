"""Layer plans from the mapper's placement: both differential schemes, row/column splits."""

from types import SimpleNamespace

import numpy as np
import pytest

from rramsim.crossbar import Crossbar
from rramsim.errors import MappingError
from rramsim.studies.adapters import _scale, hardware_from_mapping, map_layers
from rramsim.studies.config import StudyConfig
from rramsim.studies.inference import forward, make_matmul, prepare

mapper = pytest.importorskip("rramsim.mapper")
if not hasattr(mapper, "map_network"):
    pytest.skip("rramsim.mapper.map_network not available yet", allow_module_level=True)


def _layers(rng, shapes, scale=5e-6, g_reset=0.3e-6):
    ws, ms, ps = [], [], []
    for a, b in shapes:
        w = rng.normal(size=(a, b))
        m = rng.uniform(size=(a, b)) < 0.5
        gp = np.where(m, g_reset + np.maximum(w, 0) * scale, g_reset * 1.2)
        gn = np.where(m, g_reset + np.maximum(-w, 0) * scale, g_reset)
        ws.append(w * m)
        ms.append(m)
        ps.append((gp, gn))
    return ws, ms, ps


@pytest.mark.parametrize("scheme", ["columns", "rows"])
@pytest.mark.parametrize("tile", [(8, 8), (6, 10)])
def test_plans_reproduce_hardware_weights(scheme, tile):
    rng = np.random.default_rng(0)
    ws, ms, ps = _layers(rng, [(13, 7), (7, 5)])
    cfg = StudyConfig().replace("mapping", scheme=scheme)
    hw = map_layers(ws, ms, ps, [5e-6, 5e-6], cfg, tile_shape=tile)
    assert len(hw.tiles) > 2                     # layers split over several tiles
    for k, (gp, gn) in enumerate(ps):
        # hardware weight = (G+ - G-) / scale, reset residuals of pruned weights included
        np.testing.assert_allclose(hw.hardware_weights(k), (gp - gn) / 5e-6, atol=1e-9)
    x = rng.uniform(0, 1, (4, 13))
    h = np.maximum(x @ ((ps[0][0] - ps[0][1]) / 5e-6), 0)
    expect = h @ ((ps[1][0] - ps[1][1]) / 5e-6)
    np.testing.assert_allclose(forward(hw, x, mode="ideal", prep=prepare(hw, "ideal")), expect,
                               rtol=1e-9, atol=1e-9)


def test_scale_estimate_and_bad_pieces():
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    assert _scale(w, (np.maximum(w, 0) * 3e-6 + 1e-7, np.maximum(-w, 0) * 3e-6 + 1e-7)) == \
        pytest.approx(3e-6)
    piece = SimpleNamespace(layer=0, tile=0, sources=np.array([0, 1]), targets=np.array([0]),
                            rows_pos=np.array([0, 1]), rows_neg=np.array([2, 3]),
                            cols_pos=np.array([0]), cols_neg=np.array([1]))
    m = SimpleNamespace(tiles=[Crossbar(np.ones((4, 2)) * 1e-6)], pieces=[piece])
    with pytest.raises(MappingError, match="unknown differential scheme"):
        hardware_from_mapping(m, [np.ones((2, 1))], [1.0])
    ok_piece = SimpleNamespace(**{**piece.__dict__, "rows_neg": piece.rows_pos})
    with pytest.raises(MappingError, match="layer 1 has no cells"):
        hardware_from_mapping(SimpleNamespace(tiles=m.tiles, pieces=[ok_piece]),
                              [np.ones((2, 1)), np.ones((1, 1))], [1.0, 1.0])


@pytest.mark.slow
def test_default_network_hardware_matches_software():
    """The embedded default: kept weights on the tiles equal the software weights; pruned pairs
    leave only their small RESET residual (a guard on the nn/mapper conventions)."""
    from rramsim.studies.adapters import load

    cfg = StudyConfig().replace("run", test_samples=60)
    loaded = load(cfg)
    hw = loaded.hardware
    for k, lp in enumerate(hw.layers):
        hw_w = hw.hardware_weights(k)
        kept = loaded.masks[k]
        np.testing.assert_allclose(hw_w[kept], lp.weights[kept], rtol=1e-9, atol=1e-9)
        assert np.max(np.abs(hw_w[~kept])) < 0.2 * np.max(np.abs(lp.weights))
    x = loaded.data.x_test
    ideal = loaded.forward(x, matmul=make_matmul(hw, mode="ideal", prep=prepare(hw, "ideal")))
    sw = loaded.forward(x)
    assert np.mean(np.argmax(ideal, 1) == np.argmax(sw, 1)) > 0.9
