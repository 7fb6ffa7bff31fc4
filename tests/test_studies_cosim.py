"""The co-simulation check checks something: network cells, non-zero currents, or a refusal."""

import numpy as np
import pytest
from studies_nets import config, hardware, loaded

from rramsim import nn
from rramsim.studies.config import CosimConfig
from rramsim.studies.cosim import CosimError, check_hardware, check_window, require

pytestmark = pytest.mark.ngspice


@pytest.fixture(scope="module")
def conv_hw():
    net = nn.Network([nn.Conv2d(2, 5, (3, 2))], input_shape=(2, 5, 4), name="conv")
    x = np.random.default_rng(0).uniform(0, 1, (4, 2, 5, 4))
    return hardware(loaded(net, x, labels=np.zeros(4, int)), config(tile=(16, 16), r_wire=2.0))


def test_check_passes_on_a_convolution_layers_tile(conv_hw):
    hw = conv_hw
    assert hw.plan.used_tiles == [0]        # 12 x 10 cells of the 16 x 16 tile hold the layer
    res = check_hardware(hw, CosimConfig(tiles=1, window=6, inputs=2, tolerance_rel=1e-6),
                         v_read_V=0.1, rng=np.random.default_rng(1))
    (c,) = res.checks
    assert res.passed and require(res) is res and c.rel_diff < 1e-9
    assert (c.rows[1] - c.rows[0], c.cols[1] - c.cols[0]) == (6, 6)
    state = hw.mapping.state[0][c.rows[0]:c.rows[1], c.cols[0]:c.cols[1]]
    assert c.used_cells == int(np.count_nonzero(state)) > 0
    assert c.currents > 0 and c.i_max_A > 0
    assert "network's weights" in res.summary() and "non-zero output currents" in res.summary()
    whole = check_hardware(hw, CosimConfig(tiles=1, window=6, whole_tiles=True, inputs=1,
                                           tolerance_rel=1e-6),
                           v_read_V=0.1, rng=np.random.default_rng(2))
    (w,) = whole.checks
    assert (w.rows, w.cols) == ((0, 16), (0, 16)) and w.used_cells == 2 * 12 * 5
    assert w.currents == 10 and whole.passed
    strict = check_hardware(hw, CosimConfig(tiles=1, window=6, inputs=1, tolerance_rel=1e-300),
                            v_read_V=0.1, rng=np.random.default_rng(1))
    if strict.worst_rel_diff > 1e-300:
        with pytest.raises(CosimError, match="CO-SIMULATION CHECK FAILED"):
            require(strict)


def test_an_empty_window_is_refused_not_passed(conv_hw):
    hw = conv_hw
    used = hw.mapping.state[0] != 0
    assert not used[12:, 10:].any()
    with pytest.raises(CosimError, match="holds no cell of the network"):
        check_window(hw.tiles[0], used, tile=0, rows=(12, 16), cols=(10, 16),
                     cfg=CosimConfig(inputs=1), v_read_V=0.1, rng=np.random.default_rng(0))


@pytest.mark.vacask
def test_vacask_checks_whole_tiles(conv_hw):
    from rramsim.netlists import vacask

    if not vacask.available():
        pytest.skip("VACASK is not installed")
    res = check_hardware(conv_hw, CosimConfig(tiles=1, window=6, engine="vacask", inputs=2,
                                              tolerance_rel=1e-6),
                         v_read_V=0.1, rng=np.random.default_rng(3))
    (c,) = res.checks
    assert c.engine == "vacask" and (c.rows, c.cols) == ((0, 16), (0, 16))
    assert res.passed and c.used_cells == 120 and c.currents == 2 * 10
    assert "vacask" in res.summary()
