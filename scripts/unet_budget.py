#!/usr/bin/env python
"""The study's DRIVE U-Net trained at a given budget, pruned or conventional: the training curve
and the field-of-view metrics on the first test images, as the study's quick runs report them.

Builds ``rramsim.nn.architectures.unet`` with the study's software weights (``sign * 2 /
sqrt(fan_in)``) and scores (bound ``1 / sqrt(fan_in)``), or Kaiming-normal trainable weights
(``--mode dense``, the conventional U-Net), draws ``--patches`` field-of-view-centred patches (10 %
held out), trains with the study's recipe (Adam, lr 1e-4, weight decay 5e-4, cosine per epoch,
batch 64, random 48 x 48 crops with flips and rotations; no flip limiter, as its software run),
prints the validation metrics after every epoch and the test metrics (96 x 96 windows at stride 16)
on the first ``--test-images`` test images.

Usage::

    python scripts/unet_budget.py DRIVE_DIR [--patches 1000] [--epochs 3] [--test-images 5]
                                  [--mode prune|dense] [--seed 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from rramsim._threads import blas_threads
from rramsim.nn import architectures, drive
from rramsim.nn.export import write_json
from rramsim.nn.network import softmax
from rramsim.nn.train import TrainConfig, train


def _network(mode: str, rng):
    net = architectures.unet(patch=drive.TRAIN_CROP)
    if mode == "prune":
        net.set_weights([rng.choice([-1.0, 1.0], size=s) * 2.0 / np.sqrt(s[0])
                         for s in net.shapes])
        net.init_scores(rng=rng, a=5**0.5)
    else:
        net.make_dense(rng=rng)
    return net


def _validation(net, xv, yv) -> dict:
    with drive.at_input_size(net, xv.shape[2:]) as sized:
        sized.dtype = np.dtype("float32")
        p = np.concatenate([softmax(sized.forward(xv[i : i + 64]), 1)[:, 1]
                            for i in range(0, len(xv), 64)])
    return drive.segmentation_metrics(p, yv.astype(bool), np.ones(yv.shape, bool))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--patches", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--test-images", type=int, default=5)
    ap.add_argument("--mode", choices=("prune", "dense"), default="prune")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(a.seed)
    tr = drive.load_drive_split(a.data, "training")
    te = drive.load_drive_split(a.data, "test")
    x, y = drive.fov_centred_patches(tr, a.patches, rng=rng)
    xt, yt, xv, yv = drive.split_validation(x, y)
    net = _network(a.mode, rng)
    cfg = TrainConfig(epochs=a.epochs, batch_size=64, lr=1e-4, optimizer="adam",
                      weight_decay=5e-4, schedule="cosine-epoch", dtype="float32",
                      flip_limiter=None)
    curve = []

    def on_epoch(epoch, n):
        m = _validation(n, xv, yv)
        curve.append({"epoch": epoch + 1, **{k: m[k] for k in ("roc_auc", "pr_auc", "f1")}})
        print(f"epoch {epoch + 1}: validation ROC-AUC {m['roc_auc']:.4f} PR-AUC "
              f"{m['pr_auc']:.4f} F1 {m['f1']:.4f}", flush=True)

    res = train(net, xt, yt, config=cfg, rng=rng, augment=drive.augment, on_epoch=on_epoch)
    net.dtype = np.dtype("float32")
    n = a.test_images
    t0 = time.perf_counter()
    with blas_threads(1):
        prob = np.stack([drive.sliding_window_predict(net, im) for im in te.images[:n]])
    m = drive.segmentation_metrics(prob, te.vessels[:n], te.fov[:n])
    print(f"{a.mode}, {a.epochs} epochs x {a.patches} patches: training {res.seconds:.0f} s, "
          f"losses {[round(v, 4) for v in res.epoch_loss]}, {sum(res.mask_flips)} mask flips")
    print(f"test, first {n} images ({time.perf_counter() - t0:.0f} s): ROC-AUC "
          f"{m['roc_auc']:.4f} PR-AUC {m['pr_auc']:.4f} F1 {m['f1']:.4f}")
    if a.json:
        write_json(a.json, {"args": vars(a), "curve": curve, "loss": list(res.epoch_loss),
                            "flips": sum(res.mask_flips), "train_seconds": res.seconds,
                            "test": m})
    return 0


if __name__ == "__main__":
    sys.exit(main())
