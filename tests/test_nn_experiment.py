"""The pruning experiment and ``rramsim prune`` (arXiv 2311.07164; edge-popup, Ramanujan et al. 2020)."""

import json

import numpy as np
import pytest

from rramsim.cli import main
from rramsim.nn.experiment import ExperimentConfig, ExperimentError, run_prune
from rramsim.nn.train import TrainConfig, TrainError, cosine_lr

SMALL = ExperimentConfig(
    hidden=(32,),
    train=TrainConfig(epochs=2, batch_size=128),
    baseline_train=TrainConfig(epochs=1, batch_size=128, lr=0.05, flip_limiter=None),
    max_train=400,
)


def _strip(m):
    return {k: v for k, v in m.items() if "seconds" not in k and k != "baseline"} | {
        "baseline": {k: v for k, v in m["baseline"].items() if "seconds" not in k}
    }


def test_seeded_reproducibility():
    a = run_prune(SMALL, seed=3).metrics
    b = run_prune(SMALL, seed=3).metrics
    c = run_prune(SMALL, seed=4).metrics
    assert _strip(a) == _strip(b)
    assert a["mask_flips"] != c["mask_flips"] or a["epoch_loss"] != c["epoch_loss"]
    assert a["seed"] == 3
    # programming ops: 2 cells per pair, initial RESET of the pruned half plus every flip
    assert a["programming_ops"] == 2 * (a["initial_pruned_pairs"] + sum(a["mask_flips"]))
    assert a["initial_pruned_pairs"] == a["n_weights"] // 2
    assert a["deploy"]["resets"] == a["n_weights"] // 2


def test_flip_limiter_reduces_flips():
    plain = ExperimentConfig(
        hidden=(32,), train=TrainConfig(epochs=2, batch_size=128, flip_limiter=None),
        baseline=False, max_train=400,
    )
    limited = ExperimentConfig(hidden=(32,), train=TrainConfig(epochs=2, batch_size=128),
                               baseline=False, max_train=400)
    f_plain = sum(run_prune(plain, seed=0).metrics["mask_flips"])
    f_lim = sum(run_prune(limited, seed=0).metrics["mask_flips"])
    assert f_lim < f_plain


@pytest.mark.slow
def test_digits_pruned_mlp_reaches_90_percent():
    m = run_prune(ExperimentConfig(baseline=False), seed=0).metrics
    assert m["test_accuracy"] >= 0.90
    assert m["test_accuracy_programmed"] >= 0.90


def test_cosine_schedule_and_config_validation():
    assert cosine_lr(0, 100, 0.1) == pytest.approx(0.1)
    assert cosine_lr(50, 100, 0.1) == pytest.approx(0.05)
    assert cosine_lr(100, 100, 0.1) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(TrainError, match="momentum"):
        TrainConfig(momentum=1.0)
    with pytest.raises(TrainError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ExperimentError, match="data_dir"):
        ExperimentConfig(dataset="fashion-mnist")


def test_cli_prune_writes_metrics_and_network(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["prune", "--dataset", "digits", "--seed", "0", "--out", str(out), "--epochs", "1",
               "--hidden", "16", "--no-baseline", "--no-progress", "--max-train", "300"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "programming_ops", "seed", "mask_flips", "network_file"):
        assert key in m
    assert m["seed"] == 0 and 0.0 <= m["test_accuracy"] <= 1.0
    assert (out / m["network_file"]).is_file()
    assert not list(out.glob(".*.tmp"))
    assert "test accuracy" in capsys.readouterr().out


def test_cli_missing_data_names_file(tmp_path, capsys):
    rc = main(["prune", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path), "--out",
               str(tmp_path / "o"), "--no-progress"])
    assert rc == 1
    assert "train-images-idx3-ubyte" in capsys.readouterr().err


def test_training_does_not_modify_inputs():
    from rramsim.nn import architectures
    from rramsim.nn.train import train

    rng = np.random.default_rng(0)
    net = architectures.mlp(5, (4,), 2)
    net.set_weights([np.ones(s) for s in net.shapes])
    net.init_scores(rng=rng)
    x, y = rng.random((6, 5)), rng.integers(0, 2, 6)
    x0, y0 = x.copy(), y.copy()
    train(net, x, y, config=TrainConfig(epochs=1, batch_size=3), rng=rng)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.slow
def test_cli_prune_fashion_mnist_and_fsdd_on_generated_files(tmp_path):
    import gzip
    import struct

    from scipy.io import wavfile

    rng = np.random.default_rng(0)
    fm = tmp_path / "fm"
    fm.mkdir()
    for name, arr in {
        "train-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28)),
        "train-labels-idx1-ubyte": np.array([0, 1, 2, 3, 9]),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (2, 28, 28)),
        "t10k-labels-idx1-ubyte": np.array([4, 5]),
    }.items():
        a = np.asarray(arr, np.uint8)
        head = bytes([0, 0, 8, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape)
        (fm / (name + ".gz")).write_bytes(gzip.compress(head + a.tobytes()))
    rc = main(["prune", "--dataset", "fashion-mnist", "--data-dir", str(fm), "--out",
               str(tmp_path / "o1"), "--epochs", "1", "--no-progress", "--batch-size", "5"])
    assert rc == 0
    m = json.loads((tmp_path / "o1" / "metrics.json").read_text())
    # the command line's default: the study's 4-bit per-batch min/max activation quantisers
    assert m["architecture"] == "fashion-mnist-cnn-a4-minmax" and m["n_weights"] == 62_272
    assert m["n_train"] == 5 and m["n_test"] == 2

    sd = tmp_path / "fsdd"
    sd.mkdir()
    for digit in range(3):
        for idx in (1, 7):
            t = np.arange(3200) / 8000
            tone = (16000 * np.sin(2 * np.pi * 300.0 * (digit + 1) * t)).astype(np.int16)
            wavfile.write(sd / f"{digit}_nicolas_{idx}.wav", 8000, tone)
    rc = main(["prune", "--dataset", "fsdd", "--data-dir", str(sd), "--out", str(tmp_path / "o2"),
               "--epochs", "1", "--no-progress", "--no-baseline"])
    assert rc == 0
    m = json.loads((tmp_path / "o2" / "metrics.json").read_text())
    # the study's CRNN with device pairs: its hardware script's per-batch min/max quantisers
    assert m["architecture"] == "spoken-digit-crnn-a3-minmax" and m["n_weights"] == 68_480
    assert m["activation_bits"] == 3  # the study's 3-bit activations on every layer by default


def test_in_situ_programs_resets_and_sets_and_trains_on_device_weights():
    import dataclasses

    cfg = dataclasses.replace(SMALL, baseline=False, in_situ=True)
    run = run_prune(cfg, seed=1)
    s = run.metrics["in_situ"]
    assert s["resets"] >= run.metrics["initial_pruned_pairs"]
    assert s["resets"] - s["sets"] == run.metrics["initial_pruned_pairs"]  # net: half pruned
    assert s["cell_ops"] == 2 * (s["resets"] + s["sets"]) and s["energy_j"] > 0
    # the network trains on the device's weights, which now include the SET pairs' new values
    for la, w in zip(run.network.weight_layers, run.device.weights(), strict=True):
        np.testing.assert_array_equal(la.weight, w)
    assert run.metrics["deploy"]["cell_ops"] == 0  # already programmed after the last epoch


def test_progress_bar_runs_without_warnings(capsys):
    from rramsim.nn import architectures
    from rramsim.nn.train import train

    rng = np.random.default_rng(0)
    net = architectures.mlp(5, (4,), 2)
    net.set_weights([np.ones(s) for s in net.shapes])
    net.init_scores(rng=rng)
    train(net, rng.random((6, 5)), rng.integers(0, 2, 6),
          config=TrainConfig(epochs=2, batch_size=3, progress=True), rng=rng)
    assert "train mlp-5-4" in capsys.readouterr().err


def test_cli_prune_writes_whole_network_file(tmp_path):
    from rramsim.nn import load_network_file

    out = tmp_path / "run"
    rc = main(["prune", "--dataset", "digits", "--seed", "0", "--out", str(out), "--epochs", "1",
               "--hidden", "16", "--no-baseline", "--no-progress", "--max-train", "300",
               "--activation-bits", "3"])
    assert rc == 0
    f = load_network_file(out / "network.npz")
    m = json.loads((out / "metrics.json").read_text())
    assert f.dataset == "digits" and f.metadata["metrics"]["seed"] == 0
    assert f.metadata["metrics"]["test_accuracy"] == m["test_accuracy"]
    assert [la.bits for la in f.network.layers if type(la).__name__ == "Quantize"] == [4, 3]
    from rramsim.nn.data import load_digits

    ds = load_digits()
    assert f.network.accuracy(ds.x_test, ds.y_test) == m["test_accuracy"]


@pytest.mark.parametrize("bits", ["0", "-1", "25", "x"])
def test_cli_prune_refuses_bad_activation_bits(tmp_path, capsys, bits):
    with pytest.raises(SystemExit):
        main(["prune", "--out", str(tmp_path / "o"), "--activation-bits", bits])
    assert "bits" in capsys.readouterr().err
    with pytest.raises(ExperimentError, match="activation_bits"):
        ExperimentConfig(activation_bits=0)


def test_cli_prune_refuses_file_or_unwritable_out_before_training(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("x")
    assert main(["prune", "--out", str(f), "--no-progress"]) == 1
    assert "is a file" in capsys.readouterr().err
    # a folder that cannot be created (its parent is a file), refused before any training
    assert main(["prune", "--out", str(f / "sub"), "--no-progress"]) == 1
    assert f"{f} is not a folder" in capsys.readouterr().err
