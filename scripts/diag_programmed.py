"""Why the pruned spoken-digit CRNN loses accuracy once its mask is programmed on the device pairs.

Trains one network (``rramsim prune``'s default for the task: device pairs, 3-bit activations,
the study's recipe, fewer epochs), then evaluates the test set with the weights read from the
programmed pairs, switching one cause off at a time:

- ``residual``: pruned pairs read at their RESET residual (0.1-1 uS cells) instead of exactly 0;
- ``noise``: 1 % relative read noise;
- ``kept``: kept pairs read from the device state instead of the conductances the network trained
  with (differs only if a kept pair was SET again, i.e. its conductance was redrawn).

Usage: ``python scripts/diag_programmed.py DATA_DIR [--epochs 25] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rramsim.nn.experiment import (
    ExperimentConfig,
    _device_matmul,
    _evaluate,
    load_dataset,
    run_prune,
    task_train_configs,
)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reads", type=int, default=3, help="noisy reads averaged per row")
    args = p.parse_args(argv)
    tr, _ = task_train_configs("fsdd", epochs=args.epochs)
    config = ExperimentConfig(dataset="fsdd", data_dir=args.data_dir, train=tr, baseline=False,
                              activation_bits=3)
    t = time.perf_counter()
    run = run_prune(config, seed=args.seed)
    print(f"trained {args.epochs} epochs in {time.perf_counter() - t:.0f} s; metrics: software "
          f"{100 * run.metrics['test_accuracy']:.2f} %, programmed "
          f"{100 * run.metrics['test_accuracy_programmed']:.2f} %")
    net, dev = run.network, run.device
    ds = load_dataset(config)
    dt = config.train.dtype
    masks = net.masks()
    eff = net.effective_weights()
    # the kept values the network trained with, and what its forward pass took for a pruned weight
    trained = [la.weight for la in net.weight_layers]
    print("forward pass takes pruned weights as",
          "0" if getattr(net.weight_layers[0], "pruned_weight", None) is None else "their RESET-state values")
    rng = np.random.default_rng(1234)
    clean = dev.read_weights(rng=rng, noise=0.0)
    for i, (c, m, w) in enumerate(zip(clean, masks, trained, strict=True)):
        kept_err = np.max(np.abs(c[m] - w[m])) / np.mean(np.abs(w[m]))
        res = np.abs(c[~m])
        dead = int(np.sum(~m.any(axis=0)))
        print(f"layer {i} {m.shape}: kept |read - trained| max {kept_err:.2e} (rel. to mean |w|); "
              f"pruned residual mean |w| {res.mean():.4f} = "
              f"{res.mean() / np.mean(np.abs(w[m])):.3f} of kept mean |w|; {dead} outputs with "
              f"every weight pruned")

    def acc(weights) -> float:
        return _evaluate(net, ds, dtype=dt, matmul=_device_matmul(weights))["accuracy"]

    def reads(noise: float, residual: bool, kept_from_device: bool) -> float:
        out = []
        for _ in range(args.reads if noise > 0 else 1):
            r = dev.read_weights(rng=rng, noise=noise)
            ws = []
            for x, m, w, c in zip(r, masks, trained, clean, strict=True):
                k = x if kept_from_device else w + (x - c)  # trained value plus this read's noise
                ws.append(np.where(m, k, x if residual else 0.0))
            out.append(acc(ws))
        return float(np.mean(out))

    rows = [
        ("software (trained effective weights)", acc(eff)),
        ("programmed, all causes (residual + 1 % noise)", reads(0.01, True, True)),
        ("  residual off (pruned = 0), 1 % noise", reads(0.01, False, True)),
        ("  noise off, residual on", reads(0.0, True, True)),
        ("  residual off, noise off", reads(0.0, False, True)),
        ("  kept = trained values, residual + noise", reads(0.01, True, False)),
    ]
    for i in range(len(masks)):  # residual in one layer only
        ws = [np.where(m, w, c if j == i else 0.0)
              for j, (m, w, c) in enumerate(zip(masks, trained, clean, strict=True))]
        rows.append((f"  residual only in layer {i}, no noise", acc(ws)))
    for i in range(len(masks)):  # read noise in one layer only, pruned = 0
        out = []
        for _ in range(args.reads):
            r = dev.read_weights(rng=rng, noise=0.01)
            out.append(acc([np.where(m, w + (x - c) if j == i else w, 0.0) for j, (x, m, w, c)
                            in enumerate(zip(r, masks, trained, clean, strict=True))]))
        rows.append((f"  1 % noise only in layer {i}, pruned = 0", float(np.mean(out))))
    print("| condition | test accuracy |\n| --- | --- |")
    for name, a in rows:
        print(f"| {name} | {100 * a:.2f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
