"""The programming study: pruned random network vs the baseline programmed at many precisions."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from rramsim.studies import programming_study as ps
from rramsim.studies.config import load_config


def _small_cfg():
    cfg = load_config(None)
    cfg = cfg.replace("train", hidden=(24,), max_train=400)
    cfg = cfg.replace("run", test_samples=90, seed=3)
    cfg = cfg.replace("noise", repeats=1)
    return cfg


POINTS = ps.precisions((1, 2, 4), (0.2, 0.1))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    cfg = _small_cfg()
    res = ps.programming_study(cfg, "digits", points=POINTS, training=ps.Training(epochs=2))
    out = tmp_path_factory.mktemp("ps")
    paths = ps.write_study(res, cfg, out, command="test")
    return cfg, res, paths


def test_precisions_default_has_at_least_five_and_no_duplicates():
    pts = ps.precisions()
    assert len(pts) >= 5 and len(set(pts)) == len(pts)
    assert pts[0].method == "one-shot"
    # the largest budget at the pulse-budget tolerance appears once, not twice
    assert sum(p == ps.Precision("write-verify", 40, 0.05) for p in pts) == 1
    with pytest.raises(ps.ProgrammingStudyError, match="tolerance"):
        ps.Precision("write-verify", 4, 1.5)
    with pytest.raises(ps.ProgrammingStudyError, match="max_pulses"):
        ps.Precision("write-verify", 0, 0.05)


def test_pulses_grow_with_write_verify_budget():
    rng = np.random.default_rng(0)
    w = [rng.normal(size=(12, 9)), rng.normal(size=(9, 4))]
    got = []
    for n in (1, 2, 4, 8):
        pr = ps.program_weights(w, ps.Precision("write-verify", n, 0.05),
                                rng=np.random.default_rng(5))
        got.append((pr.pulses, pr.converged, pr.error_median_rel))
    pulses = [g[0] for g in got]
    n_cells = 2 * (12 * 9 + 9 * 4)
    # forming: one pulse per cell; then at most `budget` pulses per cell
    assert all(n_cells < p <= n_cells * (1 + b) for p, b in zip(pulses, (1, 2, 4, 8), strict=True))
    assert pulses == sorted(pulses) and pulses[-1] > pulses[0]
    assert got[-1][1] > got[0][1]          # more cells meet the tolerance
    assert got[-1][2] < got[0][2]          # programming error falls
    assert got[-1][2] < 0.05               # most cells within the 5 % tolerance


@pytest.mark.slow
def test_table_has_five_baseline_precisions_and_costs(study):
    cfg, res, paths = study
    with open(paths["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    base = {r["programming"] for r in rows if r["network"] == "baseline"}
    assert len(base) >= 5 and len(base) == len(POINTS)
    assert {r["mode"] for r in rows} == set(ps.POINT_MODES)
    # pruned deployment: forming (1 pulse per cell) + one RESET per cell of each pruned pair
    pruned = res.networks.pruned
    n_pruned = sum(int((~m).sum()) for m in pruned.masks)
    n_cells = 2 * sum(m.size for m in pruned.masks)
    assert res.networks.prune_pulses == n_cells + 2 * n_pruned
    # pulses grow with the write-verify budget at the budget tolerance
    wv = sorted((int(r["max_pulses_per_cell"]), int(r["pulses"])) for r in rows
                if r["method"] == "write-verify" and float(r["tolerance_rel"]) == 0.05
                and r["mode"] == "circuit")
    assert [b for b, _ in wv] == [1, 2, 4]
    assert [p for _, p in wv] == sorted(p for _, p in wv) and wv[0][1] < wv[-1][1]
    assert paths["plot"].stat().st_size > 10_000
    text = paths["report"].read_text()
    assert "17.3" in text and res.comparison[0] in text


@pytest.mark.slow
def test_point_accuracy_equals_independent_evaluation(study):
    cfg, res, _ = study
    net = res.networks.baseline
    data = res.networks.pruned.data
    for label in ("write-verify 1 pulses, 5 %", "write-verify 4 pulses, 5 %"):
        pr = res.programmed[label]
        w = pr.weights()
        # the programmed weights are not the trained ones (so the check can fail)
        assert max(float(np.max(np.abs(a - b))) for a, b in
                   zip(w, net.effective_weights(), strict=True)) > 1e-3
        logits = net.forward(data.x_test, matmul=lambda i, x2d, _w, w=w: x2d @ w[i])
        acc = float(np.mean(np.argmax(logits, axis=1) == data.y_test))
        row = next(r for r in res.rows if r["programming"] == label and r["mode"] == "ideal")
        assert row["accuracy"] == pytest.approx(acc, abs=1e-12)


def _row(network, prog, pulses, acc, method="write-verify"):
    return {"network": network, "programming": prog, "method": method, "mode": "circuit",
            "pulses": pulses, "pulses_per_cell": pulses / 100, "energy_J": pulses * 1e-9,
            "accuracy": acc}


def test_comparison_text_follows_the_numbers():
    rows = [_row("pruned", "prune", 150, 0.90, "prune"), _row("baseline", "wv1", 200, 0.60),
            _row("baseline", "wv8", 800, 0.95)]
    text = "\n".join(ps.comparison_text(rows, "fashion-mnist"))
    assert "pruning better by 30.0 points" in text
    assert "baseline better by 5.0 points" in text
    assert "the claim holds against wv1 (baseline programming with at most 2.00 pulses per " \
           "cell); against wv8 (-5.0) pruning's margin is smaller" in text
    # the same task with a baseline that never falls 17.3 points behind
    rows[1]["accuracy"] = 0.80
    text = "\n".join(ps.comparison_text(rows, "fashion-mnist"))
    assert "pruning better by 10.0 points" in text
    assert "at no programming precision tried" in text and "+10.0 points" in text
    # the claim met at a precise point but not at a cheaper one: no "at most" statement
    rows[1]["accuracy"], rows[2]["accuracy"] = 0.85, 0.70
    text = "\n".join(ps.comparison_text(rows, "fsdd"))
    assert "holds against wv8 (those precisions only); against wv1 (+5.0)" in text
    # and one where pruning wins everywhere by more than the claim
    rows[1]["accuracy"], rows[2]["accuracy"] = 0.5, 0.7
    text = "\n".join(ps.comparison_text(rows, "fsdd"))
    assert "holds at every precision" in text and "beats the baseline at every" in text
    assert "reports no improvement for the 'digits' task" in "\n".join(
        ps.comparison_text(rows, "digits"))
    with pytest.raises(ps.ProgrammingStudyError):
        ps.comparison_text(rows[1:], "digits")


def test_task_needs_data_dir_and_valid_options():
    cfg = load_config(None)
    with pytest.raises(ps.ProgrammingStudyError, match="data-dir"):
        ps.experiment_for(cfg, "fashion-mnist")
    with pytest.raises(ps.ProgrammingStudyError, match="task"):
        ps.experiment_for(cfg, "cifar")
    with pytest.raises(ps.ProgrammingStudyError, match="epochs"):
        ps.experiment_for(cfg, "digits", epochs=0)


def test_cli_rejects_bad_options_and_leaves_no_folder(tmp_path, capsys):
    from rramsim.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["programming-study", "--iterations", "0,2", "--out", str(tmp_path / "a")])
    assert exc.value.code == 2 and "integers >= 1" in capsys.readouterr().err
    out = tmp_path / "b"
    assert main(["programming-study", "--task", "fashion-mnist", "--out", str(out)]) == 1
    assert "--data-dir" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_segmentation_pr_auc_equals_independent_evaluation():
    from rramsim import nn
    from rramsim.nn.drive import pr_auc
    from rramsim.studies.loading import Data

    rng = np.random.default_rng(2)
    net = nn.Network([nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, padding=1)],
                     input_shape=(1, 8, 8), name="tiny per-pixel net")
    net.make_dense(rng=rng)
    x = rng.random((12, 1, 8, 8))
    y = (x[:, 0] > 0.5).astype(int)
    data = Data(x_calib=x[:4], x_test=x, y_test=y, name="patches")
    pr = ps.program_weights(net.effective_weights(), ps.Precision("write-verify", 4, 0.05),
                            rng=np.random.default_rng(1))
    lo = ps.baseline_loaded(net, data, pr, name="tiny")
    cfg = load_config(None).replace("noise", repeats=2)
    got = ps._evaluate(lo, cfg, ("ideal", "behavioural"))
    w = pr.weights()
    prob = nn.softmax(net.forward(x, matmul=lambda i, x2d, _w: x2d @ w[i]), axis=1)[:, 1]
    assert got["ideal"]["pr_auc"] == pytest.approx(pr_auc(prob, y == 1), abs=1e-12)
    assert got["ideal"]["accuracy"] == pytest.approx(np.mean((prob >= 0.5) == (y == 1)),
                                                     abs=1e-12)
    assert 0 < got["behavioural"]["pr_auc"] <= 1 and got["behavioural"]["pr_auc_std"] >= 0


@pytest.mark.slow
def test_cli_writes_the_run_folder(tmp_path, capsys):
    import json

    from rramsim.cli import main

    toml = tmp_path / "s.toml"
    toml.write_text("[run]\ntest_samples = 60\n[train]\nhidden = [16]\nmax_train = 300\n"
                    "[noise]\nrepeats = 1\n")
    out = tmp_path / "ps"
    assert main(["programming-study", "--config", str(toml), "--epochs", "1", "--iterations",
                 "1,2", "--tolerances", "0.2,0.1", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    man = json.loads((out / "run.json").read_text())
    assert {f["path"] for f in man["files"]} == {
        "points.csv", "programming_study.png", "report.md"}
    with open(out / "points.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len({r["programming"] for r in rows if r["network"] == "baseline"}) == 5
    circuit = [r for r in rows if r["mode"] == "circuit"]
    pruned = next(r for r in circuit if r["network"] == "pruned")
    # the printed comparison carries the table's numbers
    assert f"scores {100 * float(pruned['accuracy']):.1f} % accuracy" in printed
