"""The study pipeline end to end on a small in-memory network (no training)."""

import numpy as np
import pandas as pd
import pytest
from studies_nets import config, loaded

from rramsim import nn
from rramsim.studies.pipeline import run_pipeline


def _loaded():
    net = nn.mlp(6, (4,), 3, input_bits=None)
    x = np.random.default_rng(0).uniform(0, 1, size=(80, 6))
    return loaded(net, x, n_calib=30)


def _cfg():
    cfg = config(tile=(8, 8), r_wire=500.0)
    return cfg.replace("cosim", tiles=1, window=4, inputs=1)


@pytest.mark.slow
@pytest.mark.ngspice
def test_pipeline_outputs_and_reproducibility(tmp_path):
    outs = []
    for name in ("a", "b"):
        outs.append(run_pipeline(_cfg(), tmp_path / name, command="pytest", loaded=_loaded(),
                                 progress=False, sweeps=False, programming=False))
    a, b = tmp_path / "a", tmp_path / "b"
    for f in ("report.md", "accuracy.csv", "energy.csv", "config.toml", "irdrop_tile0.png"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    acc = pd.read_csv(a / "accuracy.csv")
    assert {"software", "ideal", "behavioural", "circuit"} <= set(acc.columns)
    assert acc.loc[0, "software"] == 1.0
    assert 0 < acc.loc[0, "tile_error_rel"] < 1      # 500-ohm wires: visible IR drop
    en = pd.read_csv(a / "energy.csv")
    tot = en[(en.preset == "board") & (en.layer == "TOTAL")].iloc[0]
    assert tot.total_J == pytest.approx(tot.array_J + tot.dac_J + tot.adc_J + tot.tia_J)
    assert list(a.glob("tile*.cir"))
    report = (a / "report.md").read_text()
    assert "## Headline" in report and "co-simulation check PASS" in report
    assert "Network on the tiles" in report and "rramsim version" in report
    assert outs[0].cosim.passed and outs[0].cosim.worst_rel_diff < 1e-6


@pytest.mark.slow
def test_failed_or_missing_cosim_is_loud_after_writing(tmp_path, monkeypatch):
    from rramsim import netlists
    from rramsim.errors import SpiceError
    from rramsim.studies import cosim

    bad = cosim.CosimResult(checks=(cosim.TileCheck(2, (0, 3), (0, 3), 0.5, "fake", 4, 3,
                                                    1e-6),), tolerance_rel=1e-6)
    monkeypatch.setattr(cosim, "check_hardware", lambda *a, **k: bad)
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
