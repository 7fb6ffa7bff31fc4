"""DRIVE: the loader on tiny generated TIFF/GIF files in DRIVE's layout, training patches,
sliding-window prediction, field-of-view metrics against hand-computed values, the stand-in
generator, and one epoch of edge-popup training of a U-Net on generated patches."""

import json

import numpy as np
import pytest

from rramsim.cli import main
from rramsim.errors import DataError
from rramsim.nn import architectures, drive, standins
from rramsim.nn.train import TrainConfig, train


def _write_drive(root, *, size=(40, 36), seed=0, n=2):
    from PIL import Image

    rng = np.random.default_rng(seed)
    truth = {}
    for split, ids in (("training", range(21, 21 + n)), ("test", range(1, 1 + n))):
        for i in ids:
            rgb = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            ves = (rng.random(size) < 0.2).astype(np.uint8) * 255
            fov = np.zeros(size, np.uint8)
            fov[2:-2, 3:-3] = 255
            for sub, name, arr in (("images", f"{i:02d}_{split}.tif", rgb),
                                   ("1st_manual", f"{i:02d}_manual1.gif", ves),
                                   ("mask", f"{i:02d}_{split}_mask.gif", fov)):
                (root / split / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(root / split / sub / name)
            truth[(split, i)] = (rgb, ves, fov)
    return truth


def test_loader_reads_tiff_and_gif_exactly(tmp_path):
    truth = _write_drive(tmp_path)
    for split in ("training", "test"):
        s = drive.load_drive_split(tmp_path, split)
        assert s.images.shape == (2, 40, 36) and s.images.dtype == np.float32
        for k, i in enumerate(s.ids):
            rgb, ves, fov = truth[(split, i)]
            # the images arrive pre-processed as the study's (grey, CLAHE, gamma; see
            # test_nn_unet_study for the steps against hand values)
            np.testing.assert_array_equal(s.images[k], drive.preprocess(rgb))
            np.testing.assert_array_equal(s.vessels[k], ves > 0)
            np.testing.assert_array_equal(s.fov[k], fov > 0)
    assert drive.load_drive_split(tmp_path, "test").ids == (1, 2)


def test_loader_names_missing_and_bad_files(tmp_path):
    with pytest.raises(DataError, match="training/images does not exist"):
        drive.load_drive_split(tmp_path, "training")
    _write_drive(tmp_path)
    (tmp_path / "test" / "mask" / "02_test_mask.gif").unlink()
    with pytest.raises(DataError, match="02_test_mask.gif"):
        drive.load_drive_split(tmp_path, "test")
    (tmp_path / "training" / "1st_manual" / "21_manual1.gif").write_text("not a gif")
    with pytest.raises(DataError, match="21_manual1.gif"):
        drive.load_drive_split(tmp_path, "training")
    with pytest.raises(DataError, match="split"):
        drive.load_drive_split(tmp_path, "validation")


def test_metrics_against_hand_computed_values():
    prob = np.array([[0.9, 0.8, 0.4], [0.35, 0.1, 0.7]])
    ves = np.array([[1, 0, 1], [0, 0, 1]], bool)
    fov = np.array([[1, 1, 1], [1, 1, 0]], bool)  # the last pixel is outside the FOV
    m = drive.segmentation_metrics(prob, ves, fov)
    # inside: scores 0.9(+), 0.8(-), 0.4(+), 0.35(-), 0.1(-); positives 2, negatives 3
    # ROC-AUC: pairs (pos > neg): 0.9 beats 3, 0.4 beats 2 -> 5 / 6
    assert m["roc_auc"] == pytest.approx(5 / 6, rel=1e-12)
    # AP: thresholds 0.9 (P=1, R=1/2), 0.8 (P=1/2), 0.4 (P=2/3, R=1) -> 1/2*1 + 1/2*2/3 = 5/6
    assert m["average_precision"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3, rel=1e-12)
    # PR-AUC (trapezoids, the study's): points (R, P) from (0, 1): (1/2, 1), (1/2, 1/2), (1, 2/3),
    # (1, 1/2), (1, 2/5) -> 1/2 * (1 + 1) / 2 + 0 + 1/2 * (1/2 + 2/3) / 2 + 0 + 0 = 1/2 + 7/24
    assert m["pr_auc"] == pytest.approx(0.5 + 7 / 24, rel=1e-12)
    # threshold 0.5: predicted {0.9, 0.8}: TP 1, FP 1, FN 1 -> F1 = 2/4; correct 3 of 5
    assert m["f1"] == pytest.approx(0.5) and m["accuracy"] == pytest.approx(0.6)
    assert m["pixels"] == 5
    # ties: one threshold for equal scores, half credit in the AUC
    assert drive.roc_auc(np.array([0.5, 0.5]), np.array([1, 0])) == pytest.approx(0.5)
    # thresholds 0.5 (both tied: P = 1/2, R = 1/2) and 0.2 (P = 2/3, R = 1)
    assert drive.average_precision(np.array([0.5, 0.5, 0.2]), np.array([1, 0, 1])) == (
        pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3, rel=1e-12))
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

    rng = np.random.default_rng(0)
    s, y = rng.random(500).round(2), rng.random(500) < 0.3
    assert drive.roc_auc(s, y) == pytest.approx(roc_auc_score(y, s), rel=1e-12)
    assert drive.average_precision(s, y) == pytest.approx(average_precision_score(y, s), rel=1e-12)
    p, r, _ = precision_recall_curve(y, s)  # the study's PR-AUC: numpy.trapz over this curve
    assert drive.pr_auc(s, y) == pytest.approx(-np.sum(np.diff(r) * (p[1:] + p[:-1]) / 2),
                                               rel=1e-12)


def test_standins_cli_writes_loadable_files_and_says_so(tmp_path, capsys):
    assert main(["standins", "--out", str(tmp_path), "--scale", "0.002", "--task", "fashion-mnist"]) == 0
    out = capsys.readouterr().out
    assert "STAND-INS" in out and "not the real data set" in out
    from rramsim.nn.data import load_fashion_mnist

    ds = load_fashion_mnist(tmp_path / "fashion-mnist")
    assert ds.x_train.shape == (120, 1, 28, 28) and ds.x_test.shape == (20, 1, 28, 28)
    assert "stand-ins" in (tmp_path / "fashion-mnist" / "STANDIN.txt").read_text()
    standins.drive(tmp_path / "drive", n_train=1, n_test=1, size=(64, 60))
    s = drive.load_drive_split(tmp_path / "drive", "test")
    assert s.images.shape == (1, 64, 60) and 0 < s.vessels.mean() < 0.5 and s.fov.mean() > 0.5
    assert not (s.vessels & ~s.fov).any()
    standins.fsdd(tmp_path / "fsdd", per_digit_speaker=1)
    from rramsim.nn.data import load_fsdd

    sd = load_fsdd(tmp_path / "fsdd")  # indices 0-4 are the test split: all 60 files there
    assert sd.x_test.shape == (60, 1, 23, 20) and sorted(set(sd.y_test)) == list(range(10))


def test_full_size_drive_standin_image():
    rgb, ves, fov = standins._drive_image(np.random.default_rng(0))
    assert rgb.shape == (584, 565, 3) and ves.shape == fov.shape == (584, 565)


@pytest.mark.slow
def test_unet_trains_one_epoch_on_generated_patches(tmp_path):
    standins.drive(tmp_path, n_train=2, n_test=1, size=(48, 48))
    tr = drive.load_drive_split(tmp_path, "training")
    x, y = drive.fov_centred_patches(tr, 32, size=16, rng=np.random.default_rng(0))
    net = architectures.unet(base=4, patch=16)
    rng = np.random.default_rng(1)
    net.set_weights([rng.choice([-1.0, 1.0], size=s) / np.sqrt(0.5 * s[0]) for s in net.shapes])
    net.init_scores(rng=rng)
    masks0 = net.masks()
    res = train(net, x, y, config=TrainConfig(epochs=1, batch_size=8, lr=0.1, dtype="float32"),
                rng=rng)
    assert res.steps == 4 and np.isfinite(res.epoch_loss[0])
    assert sum(res.mask_flips) > 0
    assert any((m0 != la.mask).any() for m0, la in zip(masks0, net.weight_layers, strict=True))
    te = drive.load_drive_split(tmp_path, "test")
    prob = drive.sliding_window_predict(net, te.images[0], window=32, stride=16)
    m = drive.segmentation_metrics(prob, te.vessels[0], te.fov[0])
    assert prob.shape == (48, 48) and 0 <= m["roc_auc"] <= 1 and 0 <= m["pr_auc"] <= 1


@pytest.mark.slow
def test_cli_prune_drive_on_generated_files(tmp_path):
    standins.drive(tmp_path / "d", n_train=1, n_test=1, size=(112, 112))  # 4 test windows
    out = tmp_path / "o"
    rc = main(["prune", "--dataset", "drive", "--data-dir", str(tmp_path / "d"), "--out", str(out),
               "--epochs", "1", "--patches", "8", "--batch-size", "8", "--no-baseline",
               "--no-progress", "--k", "0.5"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["architecture"] == "unet-32" and m["n_weights"] == 4_313_440
    assert set(m["test_segmentation"]) >= {"roc_auc", "pr_auc", "f1", "accuracy"}
    assert m["test_segmentation"]["pixels"] > 0
