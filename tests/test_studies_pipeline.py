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


@pytest.mark.slow
def test_failed_or_missing_cosim_is_loud_after_writing(tmp_path, monkeypatch):
    from rramsim import netlists
    from rramsim.errors import SpiceError
    from rramsim.studies import cosim
    from rramsim.studies.demo import run_pipeline

    bad = cosim.CosimResult(checks=(cosim.TileCheck(2, (0, 3), (0, 3), 0.5, "fake"),),
                            tolerance_rel=1e-6)
    monkeypatch.setattr(cosim, "check_tiles", lambda *a, **k: bad)
    with pytest.raises(cosim.CosimError, match="CO-SIMULATION CHECK FAILED: tile 2"):
        run_pipeline(_cfg(), tmp_path / "f", command="t", loaded=_loaded(), progress=False,
                     sweeps=False, programming=False)
    assert "co-simulation check FAIL" in (tmp_path / "f" / "report.md").read_text()
    monkeypatch.undo()

    def no_spice(*a, **k):
        raise SpiceError("ngspice not found")

    monkeypatch.setattr(netlists, "simulate", no_spice)
    with pytest.raises(cosim.CosimError, match="COULD NOT RUN"):
        run_pipeline(_cfg(), tmp_path / "m", command="t", loaded=_loaded(), progress=False,
                     sweeps=False, programming=False)
    assert "ngspice not found" in (tmp_path / "m" / "report.md").read_text()
