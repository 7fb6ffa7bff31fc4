"""Checkpoints every epoch and --resume: a stopped run continues to the same final metrics as an
uninterrupted one, bit for bit (timings aside)."""

import json

import numpy as np
import pytest

from rramsim.cli import main
from rramsim.nn import architectures
from rramsim.nn.experiment import ExperimentConfig, ExperimentError, run_prune
from rramsim.nn.train import TrainConfig, TrainState, train

ARGS = ["prune", "--dataset", "digits", "--seed", "3", "--epochs", "2", "--hidden", "12",
        "--max-train", "150", "--no-progress", "--batch-size", "50"]


def _metrics(out):
    m = json.loads((out / "metrics.json").read_text())

    def strip(d):
        return {k: strip(v) if isinstance(v, dict) else v for k, v in d.items()
                if not k.endswith("seconds")}

    return strip(m)


@pytest.mark.slow
@pytest.mark.parametrize("stop_after", [1, 3])  # inside the edge-popup phase / the baseline's
def test_resume_gives_the_same_final_metrics(tmp_path, capsys, stop_after):
    full = tmp_path / "full"
    assert main([*ARGS, "--out", str(full)]) == 0
    assert not (tmp_path / "full.checkpoint").exists()  # removed when the run completes

    part = tmp_path / "part"
    ckpt = tmp_path / "part.checkpoint"
    assert main([*ARGS, "--out", str(part), "--stop-after-epochs", str(stop_after)]) == 3
    assert "--resume" in capsys.readouterr().out
    assert not part.exists() and (ckpt / "prune.npz").is_file()
    assert (ckpt / "baseline.npz").is_file() == (stop_after > 2)
    # a fresh start is refused while checkpoints exist, and other options are refused on resume
    assert main([*ARGS, "--out", str(part)]) == 1
    assert "holds checkpoints" in capsys.readouterr().err
    assert main([*ARGS[:-1], "40", "--out", str(part), "--resume"]) == 1
    assert "batch_size" in capsys.readouterr().err
    assert main([*ARGS, "--out", str(part), "--resume"]) == 0
    assert _metrics(part) == _metrics(full)
    assert not ckpt.exists()
    net_a = np.load(full / "network.npz")
    net_b = np.load(part / "network.npz")
    for key in net_a.files:
        if key != "nn":  # the JSON holds the metrics with timings
            np.testing.assert_array_equal(net_a[key], net_b[key])


def test_resume_without_checkpoint_is_refused(tmp_path, capsys):
    assert main([*ARGS, "--out", str(tmp_path / "o"), "--resume"]) == 1
    assert "nothing to resume" in capsys.readouterr().err
    with pytest.raises(ExperimentError, match="in-situ"):
        run_prune(ExperimentConfig(in_situ=True), seed=0, checkpoint_dir=tmp_path / "c")


def test_train_state_resume_is_bit_identical():
    rng0 = np.random.default_rng(0)
    x, y = rng0.random((40, 6)), rng0.integers(0, 3, 40)
    cfg = TrainConfig(epochs=3, batch_size=8, lr=0.1)

    def fresh():
        net = architectures.mlp(6, (5,), 3, input_bits=None)
        r = np.random.default_rng(1)
        net.set_weights([r.normal(size=s) for s in net.shapes])
        net.init_scores(rng=r)
        return net

    a = fresh()
    res_a = train(a, x, y, config=cfg, rng=np.random.default_rng(7))
    b = fresh()
    saved: list[tuple[TrainState, list]] = []

    def keep(state, net):
        saved.append((TrainState(state.epochs_done, state.step, [v.copy() for v in state.velocity],
                                 list(state.flips), list(state.losses), state.rng_state),
                      [(la.scores.copy(), la.mask.copy()) for la in net.weight_layers]))

    train(b, x, y, config=cfg, rng=np.random.default_rng(7), on_checkpoint=keep)
    state, params = saved[0]  # after epoch 1
    c = fresh()
    for la, (sc, m) in zip(c.weight_layers, params, strict=True):
        la.scores, la.mask = sc, m
    res_c = train(c, x, y, config=cfg, rng=np.random.default_rng(999), resume=state)
    assert res_c.epoch_loss == res_a.epoch_loss and res_c.mask_flips == res_a.mask_flips
    for la, lc in zip(a.weight_layers, c.weight_layers, strict=True):
        np.testing.assert_array_equal(la.scores, lc.scores)
        np.testing.assert_array_equal(la.mask, lc.mask)
    lines = []
    train(fresh(), x, y, config=cfg, rng=np.random.default_rng(7), log=lines.append)
    assert len(lines) == 3 and "epoch 3/3" in lines[-1] and "left" in lines[0]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_metrics(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    args = ["prune", "--dataset", "digits", "--seed", "1", "--epochs", "3", "--hidden", "32",
            "--max-train", "600", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "full")]) == 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "rramsim", *args, "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "killed.checkpoint" / "prune.npz"
    deadline = time.monotonic() + 120
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists() and not out.exists(), "the run ended before it could be killed"
    assert main([*args, "--out", str(out), "--resume"]) == 0
    assert _metrics(out) == _metrics(tmp_path / "full")


def test_checkpoint_folder_in_use_by_a_live_run(tmp_path):
    from rramsim.nn.experiment import _lock_folder

    folder = tmp_path / "run.checkpoint"
    held = _lock_folder(folder)  # as a concurrent run into the same --out would hold it
    try:
        lines = []
        cfg = ExperimentConfig(hidden=(8,), baseline=False, max_train=100,
                               train=TrainConfig(epochs=1, batch_size=50))
        run_prune(cfg, seed=0, checkpoint_dir=folder, log=lines.append)
        assert any("in use by another run" in ln for ln in lines)
        assert [p.name for p in tmp_path.iterdir()] == ["run.checkpoint"]  # its own one removed
        with pytest.raises(ExperimentError, match="another running"):
            run_prune(cfg, seed=0, checkpoint_dir=folder, resume=True)
    finally:
        held.close()
