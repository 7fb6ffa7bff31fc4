#!/usr/bin/env python
"""Speed of the study's DRIVE U-Net against the GEMM floor of the same work, measured in one run.

Prints, side by side:

* one training epoch of ``--patches`` (default 2,000) 64 x 64 patches: Adam steps of batch 64 on
  the study's random 48 x 48 crops (:func:`rramsim.nn.drive.augment`), float32, one BLAS thread,
  timed over ``--steps`` steps and scaled to the epoch's steps;
* the evaluation of ``--images`` (default 20) DRIVE-size (584 x 565) test images: 96 x 96 windows
  at stride 16 (992 per image) in batches of 64, overlaps averaged, once per mode ``rramsim prune``
  reports for drive (software: the masked weights; programmed: the weights read from the devices),
  timed on ``--eval-images`` images and scaled;
* the GEMM floor of each: only the float32 matrix products of the same shapes (forward
  ``x2d @ w``; for training also ``g @ w.T`` and ``x2d.T @ g``), one thread, on random matrices;
* their ratios (target <= 3).

Floor and work are timed alternately ``--rounds`` times and the medians compared, so that load from
other processes hits both alike. The images are random (the content does not change the work).

Usage::

    python scripts/bench_unet.py [--patches 2000] [--steps 4] [--images 20] [--eval-images 1]
                                 [--rounds 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from rramsim._threads import blas_threads
from rramsim.nn import architectures, drive
from rramsim.nn.export import write_json
from rramsim.nn.layers import WeightLayer
from rramsim.nn.train import TrainConfig, train

BATCH = 64
IMAGE = (584, 565)


def gemm_shapes(net, batch: int, hw: tuple[int, int]) -> list[tuple[int, int, int]]:
    """``(rows, fan_in, fan_out)`` of every weight layer's product at ``batch`` inputs of ``hw``."""
    shapes, shape = [], (net.input_shape[0], *hw)
    with drive.at_input_size(net, hw) as sized:
        for la in sized.layers:
            if isinstance(la, WeightLayer):
                _, ho, wo = la.output_shape(shape)
                shapes.append((batch * ho * wo, la.fan_in, la.fan_out))
            shape = la.output_shape(shape)
    return shapes


def floor_seconds(shapes, *, rng, training: bool, repeats: int = 1) -> float:
    """Seconds of the bare float32 GEMMs of one step (forward only, or forward and both
    backward products), the minimum over ``repeats``."""
    mats = [(rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32),
             rng.random((m, n), dtype=np.float32)) for m, k, n in shapes]
    best = np.inf
    with blas_threads(1):
        for _ in range(repeats):
            t0 = time.perf_counter()
            for x, w, g in mats:
                x @ w
                if training:
                    g @ w.T
                    x.T @ g
            best = min(best, time.perf_counter() - t0)
    return best


def _network(rng):
    net = architectures.unet(patch=drive.TRAIN_CROP)
    net.set_weights([rng.choice([-1.0, 1.0], size=s) * 2.0 / np.sqrt(s[0]) for s in net.shapes])
    net.init_scores(rng=rng)
    return net


def time_training(net, steps: int, rng) -> float:
    """Seconds per training step (Adam, augmentation, mask update), over ``steps`` steps."""
    x = rng.random((steps * BATCH, 1, drive.TRAIN_PATCH, drive.TRAIN_PATCH), dtype=np.float32)
    y = (rng.random((steps * BATCH, drive.TRAIN_PATCH, drive.TRAIN_PATCH)) < 0.12).astype(np.int64)
    cfg = TrainConfig(epochs=1, batch_size=BATCH, lr=1e-4, optimizer="adam", weight_decay=5e-4,
                      schedule="cosine-epoch", dtype="float32")
    res = train(net, x, y, config=cfg, rng=rng, augment=drive.augment)
    return res.seconds / steps


def time_evaluation(net, images: int, rng, weights=None) -> float:
    """Seconds per DRIVE-size image of the sliding-window evaluation (software, or with
    ``weights`` standing in for the programmed devices' weights)."""
    from rramsim.nn.experiment import _weights_swapped

    img = rng.random(IMAGE, dtype=np.float32)
    net.dtype = np.dtype("float32")
    with blas_threads(1), _weights_swapped(net, weights):
        t0 = time.perf_counter()
        for _ in range(images):
            drive.sliding_window_predict(net, img)
        return (time.perf_counter() - t0) / images


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--eval-images", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    net = _network(rng)
    n_train = int(np.floor(0.9 * a.patches))
    steps = int(np.ceil(n_train / BATCH))
    rows = drive.window_starts(IMAGE[0], drive.TEST_WINDOW, drive.TEST_STRIDE)
    cols = drive.window_starts(IMAGE[1], drive.TEST_WINDOW, drive.TEST_STRIDE)
    windows = len(rows) * len(cols)
    batches = int(np.ceil(windows / BATCH))
    train_shapes = gemm_shapes(net, BATCH, (drive.TRAIN_CROP,) * 2)
    eval_shapes = gemm_shapes(net, BATCH, (drive.TEST_WINDOW,) * 2)
    programmed = [la.effective_weight() * (1 + 0.01 * rng.standard_normal(la.weight.shape))
                  for la in net.weight_layers]
    t_train, f_train, t_soft, t_prog, f_eval = [], [], [], [], []
    for _ in range(a.rounds):
        f_train.append(floor_seconds(train_shapes, rng=rng, training=True) * steps)
        t_train.append(time_training(net, a.steps, rng) * steps)
        f_eval.append(floor_seconds(eval_shapes, rng=rng, training=False) * batches * a.images)
        t_soft.append(time_evaluation(net, a.eval_images, rng) * a.images)
        t_prog.append(time_evaluation(net, a.eval_images, rng, programmed) * a.images)
    med = statistics.median
    out = {
        "train_epoch": {"patches": a.patches, "steps": steps, "seconds": med(t_train),
                        "gemm_floor_seconds": med(f_train)},
        "evaluation": {"images": a.images, "windows_per_image": windows,
                       "software_seconds": med(t_soft), "programmed_seconds": med(t_prog),
                       "gemm_floor_seconds_per_mode": med(f_eval)},
    }
    tr, ev = out["train_epoch"], out["evaluation"]
    print(f"U-Net, float32, 1 BLAS thread; medians of {a.rounds} rounds")
    print(f"{'work':<44}{'rramsim s':>11}{'GEMM floor s':>14}{'ratio':>8}")
    print(f"{f'training epoch, {a.patches} patches ({steps} steps)':<44}{tr['seconds']:>11.1f}"
          f"{tr['gemm_floor_seconds']:>14.1f}{tr['seconds'] / tr['gemm_floor_seconds']:>8.2f}")
    for mode in ("software", "programmed"):
        t = ev[f"{mode}_seconds"]
        print(f"{f'evaluation, {a.images} images, {mode}':<44}{t:>11.1f}"
              f"{ev['gemm_floor_seconds_per_mode']:>14.1f}"
              f"{t / ev['gemm_floor_seconds_per_mode']:>8.2f}")
    if a.json:
        write_json(a.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
