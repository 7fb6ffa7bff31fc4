"""Accuracy of the study's networks on a task's data, per seed: pruned with software weights,
pruned with device pairs (fixed inference levels), the conventionally trained baseline and a
logistic regression; test accuracy after the LAST epoch (never the best epoch on the test set),
train accuracy beside it, seconds per epoch. For DRIVE: ROC-AUC and PR-AUC in the field of view.

Usage::

    python scripts/bench_tasks.py DATA_DIR fsdd --seeds 3
    python scripts/bench_tasks.py DATA_DIR fashion-mnist --seeds 1 --epochs 2 --max-train 6000
    python scripts/bench_tasks.py DATA_DIR drive --seeds 1 --epochs 1 --patches 200

Software weights: signed-constant for spoken digits (the study's software script), Kaiming-normal
for Fashion-MNIST and DRIVE; no flip limiter (the software scripts have none). Device pairs: what
``rramsim prune --dataset TASK`` does by default (the task's flip limiter and quantisers, the
per-batch levels fixed on the training set for inference).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from rramsim.nn.data import load_fashion_mnist, load_fsdd
from rramsim.nn.experiment import ExperimentConfig, run_prune, task_train_configs

SOFTWARE = {"fsdd": "signed-constant", "fashion-mnist": "kaiming", "drive": "kaiming"}


def _score(m: dict, seg_key: str, acc_key: str):
    if seg_key in m:
        g = m[seg_key]
        return f"{g['roc_auc']:.4f} / {g['pr_auc']:.4f}"
    return f"{100 * m[acc_key]:.2f} %"


def _logistic(args) -> tuple[float, float, float] | None:
    if args.task == "drive":
        return None
    from sklearn.linear_model import LogisticRegression

    ds = load_fsdd(args.data_dir) if args.task == "fsdd" else load_fashion_mnist(args.data_dir)
    n = len(ds.x_train) if args.max_train is None else args.max_train
    xtr, ytr = ds.x_train[:n].reshape(n, -1), ds.y_train[:n]
    t = time.perf_counter()
    clf = LogisticRegression(max_iter=2000).fit(xtr, ytr)
    dt = time.perf_counter() - t
    xte = ds.x_test.reshape(len(ds.x_test), -1)
    return float(clf.score(xte, ds.y_test)), float(clf.score(xtr, ytr)), dt


def _run(args, seed: int, weights: str, baseline: bool) -> dict:
    limiter = {"flip_limiter": None} if weights != "device" else {}
    tr, base = task_train_configs(args.task, epochs=args.epochs, **limiter)
    bits = {"fsdd": 3, "fashion-mnist": 4, "drive": None}[args.task]
    config = ExperimentConfig(dataset=args.task, data_dir=args.data_dir, train=tr,
                              baseline=baseline, baseline_train=base, weights=weights,
                              activation_bits=bits, max_train=args.max_train,
                              patches=args.patches)
    return run_prune(config, seed=seed).metrics


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir")
    p.add_argument("task", choices=("fsdd", "fashion-mnist", "drive"))
    p.add_argument("--seeds", type=int, default=3, help="seeds S..S+N-1 (default 3)")
    p.add_argument("--first-seed", type=int, default=0, help="S (default 0)")
    p.add_argument("--no-logistic", action="store_true", help="skip the logistic regression")
    p.add_argument("--epochs", type=int, default=None, help="default: the task's (study's)")
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--patches", type=int, default=2000, help="drive: training patches")
    p.add_argument("--json", default=None, help="also write every run's metrics here")
    args = p.parse_args(argv)
    score = "ROC-AUC / PR-AUC (FOV)" if args.task == "drive" else "test accuracy"
    print(f"| seed | network | {score} | train accuracy | s/epoch |")
    print("| --- | --- | --- | --- | --- |")
    everything = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        sw = _run(args, seed, SOFTWARE[args.task], baseline=False)
        dev = _run(args, seed, "device", baseline=True)
        everything.append({"seed": seed, "software": sw, "device": dev})
        rows = [
            (f"pruned, {SOFTWARE[args.task]} weights, {sw['quant']} levels "
             f"(inference: per-batch / fixed)",
             _score(sw, "test_segmentation", "test_accuracy")
             + ("" if not (sw.get("quantiser_levels") or {}).get("test_accuracy_batch_levels")
                else f" ({100 * sw['quantiser_levels']['test_accuracy_batch_levels']:.2f} % "
                     "with per-batch levels)"),
             sw["train_accuracy"], sw["seconds_per_epoch"]),
            (f"pruned, device pairs, {dev['quant']} levels, fixed inference levels",
             _score(dev, "test_segmentation", "test_accuracy"), dev["train_accuracy"],
             dev["seconds_per_epoch"]),
        ]
        b = dev["baseline"]
        rows.append(("conventionally trained baseline (software)",
                     _score(b, "test_segmentation_software", "test_accuracy_software"),
                     b["train_accuracy"], b["train_seconds"] / b["training"]["epochs"]))
        for name, s, tra, spe in rows:
            print(f"| {seed} | {name} | {s} | {100 * tra:.2f} % | {spe:.2f} |", flush=True)
    lr = None if args.no_logistic else _logistic(args)
    if lr is not None:
        print(f"| - | logistic regression on the flattened inputs | {100 * lr[0]:.2f} % | "
              f"{100 * lr[1]:.2f} % | {lr[2]:.2f} (fit) |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(everything, fh, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
