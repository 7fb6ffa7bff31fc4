#!/usr/bin/env python
"""Benchmark of rramsim.nn: the digits pruning demo and one step of the study's larger networks.

Reports, for a seeded digits run (``rramsim.nn.run_prune``): test accuracy of the pruned random-weight
MLP (ideal and with programmed conductances + read noise), programming operations, the
conventionally trained write-and-verify baseline, and wall-clock times; the effect of the flip
limiter on mask flips; in-situ programming (RESET/SET after every epoch); and the time of a forward
pass and one training step of the Fashion-MNIST CNN, the spoken-digit network and the DRIVE U-Net
(base 32, eight 64 x 64 patches, float32) on a generated batch. Source study: arXiv 2311.07164.

Usage::

    python scripts/bench_nn.py [--seed 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np

from rramsim import nn
from rramsim.nn.export import write_json


def _step_time(net, x, y, rng, dtype: str = "float64") -> dict:
    net.set_weights([rng.choice([-1.0, 1.0], size=s) / np.sqrt(0.5 * s[0]) for s in net.shapes])
    net.init_scores(rng=rng)
    t = time.perf_counter()
    net.forward(x)
    t_fwd = time.perf_counter() - t
    t = time.perf_counter()
    nn.train(net, x, y, config=nn.TrainConfig(epochs=1, batch_size=len(x), dtype=dtype), rng=rng)
    return {"weights": net.n_weights, "batch": len(x), "forward_s": t_fwd,
            "train_step_s": time.perf_counter() - t, "train_dtype": dtype}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    out: dict = {}

    t = time.perf_counter()
    pruned_only = nn.run_prune(nn.ExperimentConfig(baseline=False), seed=args.seed).metrics
    out["digits_pruned_wall_s"] = time.perf_counter() - t
    cfg = nn.ExperimentConfig()
    full = nn.run_prune(cfg, seed=args.seed).metrics
    nolim = nn.run_prune(
        dataclasses.replace(cfg, baseline=False,
                            train=dataclasses.replace(cfg.train, flip_limiter=None)),
        seed=args.seed,
    ).metrics
    situ = nn.run_prune(dataclasses.replace(cfg, baseline=False, in_situ=True),
                        seed=args.seed).metrics
    out["digits"] = {
        "test_accuracy": full["test_accuracy"],
        "test_accuracy_programmed": full["test_accuracy_programmed"],
        "programming_ops": full["programming_ops"],
        "mask_flips_limited": sum(full["mask_flips"]),
        "mask_flips_unlimited": sum(nolim["mask_flips"]),
        "test_accuracy_unlimited": nolim["test_accuracy"],
        "baseline": full["baseline"],
        "in_situ_test_accuracy": situ["test_accuracy"],
        "in_situ_programming": situ["in_situ"],
        "train_seconds": full["train_seconds"],
        "total_seconds_with_baseline": full["total_seconds"],
    }
    assert pruned_only["test_accuracy"] == full["test_accuracy"]

    rng = np.random.default_rng(args.seed)
    out["fashion_mnist_cnn"] = _step_time(
        nn.fashion_mnist_cnn(), rng.random((64, 1, 28, 28)), rng.integers(0, 10, 64), rng)
    out["spoken_digit_net"] = _step_time(
        nn.spoken_digit_net(), rng.random((64, 1, 23, 20)), rng.integers(0, 10, 64), rng)
    out["unet"] = _step_time(nn.unet(), rng.random((8, 1, 64, 64)),
                             rng.integers(0, 2, (8, 64, 64)), rng, dtype="float32")

    d = out["digits"]
    b = d["baseline"]
    print(f"digits, seed {args.seed}: pruned random-weight MLP {d['test_accuracy']:.4f} "
          f"(programmed + read noise {d['test_accuracy_programmed']:.4f}) in "
          f"{out['digits_pruned_wall_s']:.1f} s wall (training {d['train_seconds']:.1f} s)")
    print(f"  baseline (trained weights): {b['test_accuracy_software']:.4f} software, "
          f"{b['test_accuracy_programmed']:.4f} after write-verify ({b['pulses']} pulses)")
    print(f"  mask flips: {d['mask_flips_limited']} with the flip limiter, "
          f"{d['mask_flips_unlimited']} without (accuracy {d['test_accuracy_unlimited']:.4f})")
    s = d["in_situ_programming"]
    print(f"  in situ (masks programmed every epoch, SET pairs take new conductances): accuracy "
          f"{d['in_situ_test_accuracy']:.4f}; {s['resets']} RESET + {s['sets']} SET pairs, "
          f"{s['pulses']} pulses, {s['energy_j'] * 1e6:.3g} uJ")
    for key in ("fashion_mnist_cnn", "spoken_digit_net", "unet"):
        r = out[key]
        print(f"{key}: {r['weights']} weights, batch {r['batch']}: forward {r['forward_s']:.3f} s "
              f"(float64), train step {r['train_step_s']:.3f} s ({r['train_dtype']})")
    if args.json:
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
