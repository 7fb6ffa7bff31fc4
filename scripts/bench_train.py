#!/usr/bin/env python
"""Training speed of the study's Fashion-MNIST CNN against the GEMM floor, measured in one run.

Prints, side by side:

* seconds per 60,000-image epoch of edge-popup training (``rramsim.nn.train``: batch 60, float32,
  flip limiter, one BLAS thread), timed over ``--steps`` SGD steps on generated 28 x 28 images and
  scaled to the 1,000 steps of an epoch (the content of the images does not change the work);
* the GEMM floor of the same epoch: only the float32 matrix products of one training step
  (forward ``x2d @ w``, input gradient ``g @ w.T`` and weight gradient ``x2d.T @ g`` of every
  weight layer, with the im2col shapes the network really uses at batch 60), one thread, times
  1,000 steps; measured here on random matrices of those shapes;
* their ratio (target <= 3).

Floor and training are timed alternately ``--rounds`` times and the medians compared, so that load
from other processes hits both alike. rramsim skips the input gradient of the first weight layer
(nothing below it learns); the floor counts it, as the definition above says.

Usage::

    python scripts/bench_train.py [--steps 100] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from rramsim import nn
from rramsim._threads import blas_threads
from rramsim.nn.export import write_json

EPOCH_IMAGES = 60_000
BATCH = 60


def gemm_shapes(net: nn.Network, batch: int) -> list[tuple[int, int, int]]:
    """``(rows, fan_in, fan_out)`` of every weight layer's product at ``batch`` (im2col rows)."""
    shapes: dict[int, tuple[int, int, int]] = {}

    def hook(i, x2d, w):
        shapes[i] = (x2d.shape[0], w.shape[0], w.shape[1])
        return x2d @ w

    net.forward(np.zeros((batch, *net.input_shape)), matmul=hook)
    return [shapes[i] for i in sorted(shapes)]


def floor_step_seconds(shapes, *, rng, repeats: int) -> float:
    """Seconds of the bare float32 GEMMs of one training step (median over ``repeats``)."""
    mats = [(rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32),
             rng.random((m, n), dtype=np.float32)) for m, k, n in shapes]

    def step():
        for x, w, g in mats:
            x @ w
            g @ w.T
            x.T @ g

    step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def train_step_seconds(net, x, y, *, rng, steps: int) -> float:
    """Seconds per SGD step of ``nn.train`` over ``steps`` steps of batch 60 (float32)."""
    cfg = nn.TrainConfig(epochs=1, batch_size=BATCH, lr=0.1, dtype="float32",
                         flip_limiter=nn.FlipLimiter(0.01, 0.007))
    n = steps * BATCH
    t = time.perf_counter()
    nn.train(net, x[:n], y[:n], config=cfg, rng=rng)
    return (time.perf_counter() - t) / steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100,
                        help="SGD steps timed per round (an epoch has 1,000; default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    net = nn.fashion_mnist_cnn()
    net.set_weights([rng.normal(0, np.sqrt(2 / s[0]), s) for s in net.shapes])
    net.init_scores(rng=rng)
    shapes = gemm_shapes(net, BATCH)
    n = args.steps * BATCH
    x = rng.random((n, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, n)
    steps_per_epoch = EPOCH_IMAGES // BATCH
    floors, trains = [], []
    with blas_threads(1):
        for _ in range(args.rounds):
            floors.append(floor_step_seconds(shapes, rng=rng, repeats=args.steps))
            trains.append(train_step_seconds(net, x, y, rng=rng, steps=args.steps))
    floor_epoch = float(np.median(floors)) * steps_per_epoch
    train_epoch = float(np.median(trains)) * steps_per_epoch
    ratio = train_epoch / floor_epoch
    out = {
        "gemm_shapes_rows_fanin_fanout": shapes,
        "steps_timed_per_round": args.steps,
        "rounds": args.rounds,
        "epoch_seconds": train_epoch,
        "gemm_floor_epoch_seconds": floor_epoch,
        "ratio": ratio,
        "per_round_epoch_seconds": [t * steps_per_epoch for t in trains],
        "per_round_floor_seconds": [f * steps_per_epoch for f in floors],
    }
    print(f"Fashion-MNIST CNN, {net.n_weights} weights, batch {BATCH}, float32, 1 BLAS thread")
    print(f"  GEMM shapes (rows, fan_in, fan_out) per step: {shapes}")
    print(f"  timed {args.steps} steps x {args.rounds} rounds, scaled to {steps_per_epoch} steps")
    print(f"  training: {train_epoch:6.1f} s per 60k epoch "
          f"(rounds: {', '.join(f'{t * steps_per_epoch:.1f}' for t in trains)})")
    print(f"  GEMM floor: {floor_epoch:6.1f} s per 60k epoch "
          f"(rounds: {', '.join(f'{f * steps_per_epoch:.1f}' for f in floors)})")
    print(f"  ratio training / floor: {ratio:.2f} (target <= 3)")
    if args.json:
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
