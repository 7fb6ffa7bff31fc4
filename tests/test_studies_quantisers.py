"""The study report says which activation levels training used, which inference uses, and what
the difference cost in the training run (its metrics' ``quantiser_levels``)."""

import json

import numpy as np
import pytest
from studies_nets import formed

from rramsim import nn
from rramsim.nn.quant import calibrate_levels
from rramsim.studies import loading
from rramsim.studies.config import StudyConfig
from rramsim.studies.programming import programming_costs
from rramsim.studies.report.markdown import Report, _quantiser_section

#: A training record as rramsim prune writes it (numbers chosen by hand).
RECORD = {"training_levels": "per-batch quantile",
          "inference_levels": "fixed (mean per-batch levels on the training set)",
          "test_accuracy_batch_levels": 0.9, "test_batch_size": 10,
          "test_accuracy_fixed_levels": 0.85, "accuracy_cost_of_fixed_levels": 0.9 - 0.85}


def _net(mode="quantile", fix=True):
    """64 -> 16 -> 10 with a fixed-range input quantiser and a per-batch hidden one."""
    layers = [nn.Quantize(3), nn.Dense(64, 16), nn.ReLU(), nn.Quantize(3, mode=mode),
              nn.Dense(16, 10)]
    net = nn.Network(layers, input_shape=(64,), name="tiny")
    dev = formed(net, seed=1)
    if fix and mode != "fixed":
        calibrate_levels(net, np.random.default_rng(2).uniform(0, 1, (40, 64)), batch_size=10)
    return net, dev


def _loaded(net, dev, metrics):
    x = np.zeros((2, 64))
    data = loading.Data(x_calib=x, x_test=x, y_test=np.zeros(2, int))
    lo = loading.from_network(net, data, pairs=dev.conductance_pairs(),
                              scales=[la.scale for la in dev.layers])
    lo.metrics = metrics
    return lo


def _section(q) -> str:
    rep = Report(title="t", provenance={})
    _quantiser_section(rep, q)
    return rep.render()


def test_fixed_levels_and_their_cost_are_reported():
    net, dev = _net()
    q = loading.quantiser_levels(_loaded(net, dev, {"quantiser_levels": RECORD}))
    assert q["quantisers"] == [("quantize0", "fixed", "fixed"), ("quantize3", "quantile", "fixed")]
    assert q["training"] == "per-batch quantile" and q["inference"] == "fixed"
    assert q["record"] == RECORD and q["baseline_record"] is None
    text = _section(q)
    assert "## Activation quantisers: training vs inference levels" in text
    assert "Training used per-batch quantile activation levels" in text
    assert "evaluates the network with the levels it holds: fixed levels" in text
    # 90.0 % per-batch (batches of 10), 85.0 % fixed, cost 90.0 - 85.0 = +5.0 points
    row = next(r for r in text.splitlines() if r.startswith("| pruned network"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells == ["pruned network", "per-batch quantile",
                     "fixed (mean per-batch levels on the training set)",
                     "90.0 % (test batches of 10)", "85.0 %", "+5.0 points"]


def test_baseline_row_and_per_batch_inference():
    net, dev = _net(mode="minmax", fix=False)        # levels never fixed: inference per batch
    base = dict(RECORD, training_levels="per-batch minmax", test_accuracy_batch_levels=0.8,
                test_accuracy_fixed_levels=0.82, accuracy_cost_of_fixed_levels=0.8 - 0.82)
    q = loading.quantiser_levels(_loaded(net, dev, {"quantiser_levels": RECORD,
                                                    "baseline": {"quantiser_levels": base}}))
    assert q["inference"] == "batch" and q["training"] == "per-batch minmax"
    text = _section(q)
    assert "per-batch (each evaluated batch's own) levels" in text
    assert "depend on which test samples share a batch" in text
    row = next(r for r in text.splitlines() if r.startswith("| baseline"))
    assert row.rstrip().endswith("| 82.0 % | -2.0 points |")      # 80 - 82: fixed levels gained


def test_without_record_or_without_per_batch_levels():
    net, dev = _net()
    text = _section(loading.quantiser_levels(_loaded(net, dev, {})))
    assert "the cost of fixed levels was not measured" in text and "| pruned" not in text
    net, dev = _net(mode="fixed")
    q = loading.quantiser_levels(_loaded(net, dev, {}))
    assert q["training"] == "fixed ranges" and q["inference"] == "fixed"
    text = _section(q)
    assert "use the same fixed activation ranges" in text and "quantize3 (fixed, fixed" in text
    plain = nn.Network([nn.Dense(64, 10)], input_shape=(64,), name="plain")
    dev = formed(plain)
    assert loading.quantiser_levels(_loaded(plain, dev, {})) is None
    assert "Activation quantisers" not in _section(None)


def test_network_file_from_prune_gives_its_training_record(tmp_path):
    """rramsim prune keeps its metrics under "metadata.metrics": the study reads them there."""
    net, dev = _net()
    metrics = {"quantiser_levels": RECORD, "n_cells": 2 * net.n_weights,
               "forming": {"pulses": 7, "energy_j": 1e-9}, "programming_ops": 3, "seed": 0,
               "deploy": {"pulses": 5, "energy_j": 2e-9, "cell_ops": 4}}
    path = nn.save_network_file(tmp_path / "net.npz", net, device=dev, dataset="digits",
                                metadata={"metrics": metrics})
    cfg = StudyConfig().replace("network", path=str(path)).replace(
        "mapping", tile_rows=32, tile_cols=32)
    lo = loading.load(cfg, with_data=False)
    assert lo.metrics == json.loads(json.dumps(metrics))
    assert loading.quantiser_levels(lo)["record"] == RECORD
    assert programming_costs(lo)["prune_pulses"] == 7 + 5


@pytest.mark.slow
def test_compare_on_a_pruned_crnn_reports_its_levels(tmp_path, capsys):
    """rramsim prune on small spoken-digit feature files, then rramsim compare on its network:
    the report holds the levels and the accuracies of the run's metrics.json."""
    from rramsim.cli import main
    from rramsim.nn.data import write_feature_file

    rng = np.random.default_rng(0)
    feats = tmp_path / "features"
    feats.mkdir()
    for name, n in (("train", 40), ("test", 20)):
        write_feature_file(feats / f"{name}_features.npz",
                           rng.uniform(0, 1, (n, 1, 23, 20)).astype(np.float32),
                           rng.integers(0, 10, n))
    run = tmp_path / "run"
    assert main(["prune", "--dataset", "fsdd", "--data-dir", str(feats), "--epochs", "1",
                 "--no-baseline", "--no-progress", "--out", str(run)]) == 0
    rec = json.loads((run / "metrics.json").read_text())["quantiser_levels"]
    assert rec["training_levels"] == "per-batch minmax"       # device pairs: the hardware script
    toml = tmp_path / "c.toml"
    toml.write_text("[run]\ntest_samples = 10\n[converters]\ncalibration_samples = 10\n"
                    "[mapping]\ntile_rows = 256\ntile_cols = 256\n[noise]\nrepeats = 1\n"
                    "[cosim]\ntiles = 0\n")
    out = tmp_path / "cmp"
    assert main(["compare", "--network", str(run / "network.npz"), "--config", str(toml),
                 "--out", str(out), "--no-progress"]) == 0
    report = (out / "report.md").read_text()
    assert "Training used per-batch minmax activation levels" in report
    assert "levels it holds: fixed levels" in report
    row = next(r for r in report.splitlines() if r.startswith("| pruned network"))
    cost = 100 * rec["accuracy_cost_of_fixed_levels"]
    assert f"{100 * rec['test_accuracy_fixed_levels']:.1f} %" in row
    assert row.rstrip().endswith(f"| {cost:+.1f} points |")
    assert "## Programming: pruning vs write-and-verify" not in report   # compare: no programming
