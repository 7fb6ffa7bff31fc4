"""The study pipeline end to end on a tiny hand-mapped network (no training, no mapper)."""

import numpy as np
import pandas as pd
import pytest

from rramsim.studies.adapters import LoadedNetwork, _dense_forward
from rramsim.studies.config import StudyConfig
from rramsim.studies.study import Data

solver = pytest.importorskip("rramsim.solver")
if not hasattr(solver, "transfer_matrix"):
    pytest.skip("rramsim.solver.transfer_matrix not available yet", allow_module_level=True)


def _loaded(seed=0):
    from test_studies_inference import GW, _network

    rng = np.random.default_rng(seed)
    hw = _network(rng)
    w_eff = [lp.weights for lp in hw.layers]
    fwd = _dense_forward(w_eff)
    x = rng.uniform(0, 1, size=(80, 6))
    y = np.argmax(fwd(x), axis=1)
    data = Data(x_calib=x[:30], x_test=x[30:], y_test=y[30:], name="synthetic")
    return LoadedNetwork(name="tiny", source="test", forward=fwd, data=data, hardware=hw,
                         macs=6 * 4 + 4 * 3, weights=w_eff, masks=[w != 0 for w in w_eff],
                         pairs=[], g_per_weight=[GW, GW])


def _cfg():
    cfg = StudyConfig()
    cfg = cfg.replace("circuit", r_wordline_ohm=500.0, r_bitline_ohm=500.0)
    return cfg.replace("cosim", tiles=1, window=3, inputs=1)


@pytest.mark.slow
@pytest.mark.ngspice
def test_pipeline_outputs_and_reproducibility(tmp_path):
    from rramsim.studies.demo import run_pipeline

    outs = []
    for name in ("a", "b"):
        res = run_pipeline(_cfg(), tmp_path / name, command="pytest", loaded=_loaded(),
                           progress=False, sweeps=False, programming=False)
        outs.append(res)
    a, b = tmp_path / "a", tmp_path / "b"
    for f in ("report.md", "accuracy.csv", "energy.csv", "config.toml", "irdrop_tile0.png"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    acc = pd.read_csv(a / "accuracy.csv")
    assert {"software", "behavioural", "circuit"} <= set(acc.columns)
    assert acc.loc[0, "software"] == 1.0
    assert 0 < acc.loc[0, "tile_error_rel"] < 1      # 500-ohm wires: visible IR drop
    en = pd.read_csv(a / "energy.csv")
    tot = en[(en.preset == "board") & (en.layer == "TOTAL")].iloc[0]
    assert tot.total_J == pytest.approx(tot.array_J + tot.dac_J + tot.adc_J + tot.tia_J)
    assert list(a.glob("tile*.cir"))
    report = (a / "report.md").read_text()
    assert "## Headline" in report and "co-simulation check PASS" in report
    assert "seed" in report and "rramsim version" in report
    assert outs[0].cosim.passed and outs[0].cosim.worst_rel_diff < 1e-6
