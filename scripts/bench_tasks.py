"""Accuracy of the study's networks on a task's data, per seed: pruned with software weights,
pruned with device pairs (fixed inference levels), the conventionally trained baseline and a
logistic regression; test accuracy after the LAST epoch (never the best epoch on the test set),
train accuracy beside it, seconds per epoch. For DRIVE: ROC-AUC and PR-AUC in the field of view.

Usage (the same columns for every task: test accuracy -- for DRIVE the pixel accuracy in the
field of view --, ROC-AUC and PR-AUC in the field of view -- "-" for the classifiers --, train
accuracy, seconds per epoch)::

    python scripts/bench_tasks.py DATA_DIR fsdd --seeds 3
    python scripts/bench_tasks.py DATA_DIR fashion-mnist --seeds 1 --epochs 2 --max-train 6000
    python scripts/bench_tasks.py DATA_DIR drive --seeds 1 --epochs 1 --patches 200

A run that raises is reported in its row (the traceback on stderr), the others go on, and the
script exits with 1.

Software weights as the study's software scripts draw them: signed-constant for spoken digits and
DRIVE (their ``init_bin``), Kaiming-normal for Fashion-MNIST (its layers leave ``init_bin`` off); no
flip limiter (the software scripts have none). Device pairs: what
``rramsim prune --dataset TASK`` does by default (the task's flip limiter and quantisers, the
per-batch levels fixed on the training set for inference).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback

from rramsim.nn.data import load_fashion_mnist, load_fsdd
from rramsim.nn.experiment import ExperimentConfig, run_prune, task_train_configs

SOFTWARE = {"fsdd": "signed-constant", "fashion-mnist": "kaiming", "drive": "signed-constant"}


#: The columns every task prints (classifiers: "-" under the segmentation metrics; DRIVE: pixel
#: accuracy in the field of view under "test accuracy").
HEADER = ("| seed | network | test accuracy | ROC-AUC (FOV) | PR-AUC (FOV) | train accuracy "
          "| s/epoch |")


def _cells(acc: float, seg: dict | None, batch_acc: float | None = None) -> str:
    """test accuracy (with the per-batch-level figure beside it), ROC-AUC, PR-AUC."""
    a = f"{100 * acc:.2f} %"
    if batch_acc is not None:
        a += f" ({100 * batch_acc:.2f} % with per-batch levels)"
    if seg is None:
        return f"{a} | - | -"
    return f"{a} | {seg['roc_auc']:.4f} | {seg['pr_auc']:.4f}"


def _levels(m: dict) -> str:
    """How the run's activations were quantised in training and in the test evaluation."""
    if m.get("quantiser_levels"):
        return f"{m['quant']} levels, fixed inference levels"
    if m.get("activation_bits"):
        return "fixed activation ranges"
    return "float activations"


def _failed(name: str, err: BaseException) -> tuple:
    return (name, f"FAILED: {type(err).__name__}: {err} | - | -", None, None)


def _rows(sw, dev, software: str) -> list[tuple]:
    """(network, score cells, train accuracy, s/epoch) of one seed's runs (a run that raised:
    its error in the row)."""
    rows = []
    if isinstance(sw, BaseException):
        rows.append(_failed(f"pruned, {software} weights", sw))
    else:
        qsw = sw.get("quantiser_levels") or {}
        rows.append((f"pruned, {software} weights, {_levels(sw)}",
                     _cells(sw["test_accuracy"], sw.get("test_segmentation"),
                            qsw.get("test_accuracy_batch_levels")),
                     sw["train_accuracy"], sw["epoch_seconds"]))
    if isinstance(dev, BaseException):
        return [*rows, _failed("pruned, device pairs, and the baseline", dev)]
    rows.append((f"pruned, device pairs, {_levels(dev)}",
                 _cells(dev["test_accuracy"], dev.get("test_segmentation")),
                 dev["train_accuracy"], dev["epoch_seconds"]))
    b = dev.get("baseline")
    if b:
        rows.append(("conventionally trained baseline (software)",
                     _cells(b["test_accuracy_software"], b.get("test_segmentation_software")),
                     b["train_accuracy"], b["train_seconds"] / b["training"]["epochs"]))
    return rows


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


def _attempt(args, seed: int, weights: str, baseline: bool):
    """The run's metrics, or the exception it raised (printed in its row; the other runs go on
    and the script exits with 1)."""
    try:
        return _run(args, seed, weights, baseline)
    except Exception as exc:  # noqa: BLE001 - a benchmark reports every failure and goes on
        traceback.print_exc()
        return exc


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
    print(HEADER)
    print("| --- | --- | --- | --- | --- | --- | --- |")
    everything, failed = [], False
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        sw = _attempt(args, seed, SOFTWARE[args.task], baseline=False)
        dev = _attempt(args, seed, "device", baseline=True)
        everything.append({"seed": seed, "software": _record(sw), "device": _record(dev)})
        failed = failed or any(isinstance(r, BaseException) for r in (sw, dev))
        for name, cells, tra, spe in _rows(sw, dev, SOFTWARE[args.task]):
            tail = "- | -" if tra is None else f"{100 * tra:.2f} % | {spe:.2f}"
            print(f"| {seed} | {name} | {cells} | {tail} |", flush=True)
    lr = None if args.no_logistic else _logistic(args)
    if lr is not None:
        print(f"| - | logistic regression on the flattened inputs | {100 * lr[0]:.2f} % | - | - | "
              f"{100 * lr[1]:.2f} % | {lr[2]:.2f} (fit) |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(everything, fh, indent=1, default=float)
    return 1 if failed else 0


def _record(r):
    return {"error": f"{type(r).__name__}: {r}"} if isinstance(r, BaseException) else r


if __name__ == "__main__":
    sys.exit(main())
