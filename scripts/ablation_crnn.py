"""Why the earlier spoken-digit network underfitted: an ablation on the study's feature files.

Builds the spoken-digit CRNN from library layers with each difference between this project's
earlier reading and the study's network as a switch, trains the scores by edge-popup for a fixed
number of epochs and prints train and test accuracy after the last epoch (never the best epoch)::

    python scripts/ablation_crnn.py FEATURES --epochs 20

(``FEATURES``: a folder with the study's ``train_features.npz`` and ``test_features.npz``.)

The switches (``--only NAME`` runs one variant; the default runs all, one after another):

* ``bn`` -- non-affine batch norm after each convolution (the study) or none (earlier reading).
* ``steps`` -- ``4``: max-pool 2 after each convolution and stride (2, 1) on the second, the
  frequency axis reduced to 1 (the study); ``18``: neither, the mean over the 9 remaining
  frequency rows, 18 time steps into the RNN (earlier reading).
* ``quant`` -- the activation quantisers: ``fixed`` ranges calibrated once before training
  (earlier reading), the software script's per-batch ``quantile`` levels (with its layer order: no
  ReLU after the second convolution, a signed quantiser before the RNN), or the hardware script's
  per-batch ``minmax`` levels. Per-batch levels are fixed on the training set after training
  (:func:`rramsim.nn.experiment.fix_levels`); test accuracy is with the fixed levels.
* ``rnn`` -- ``old``: one weight scale for the stacked RNN matrix from its full fan-in (160) and
  ``bound_state`` making the recurrence contract, quantised states averaged (earlier reading);
  ``new``: the input block's fan-in (32), ``state_scale = 0.5`` for the recurrent block, the raw
  states averaged (the study). One part of ``old`` at a time in the study's network:
  ``new-fan160`` (the stacked matrix's fan-in), ``new-bound`` (``bound_state`` instead of 0.5),
  ``new-qout`` (the quantised states averaged).
* ``recipe`` -- ``old``: SGD lr 0.5, no momentum, no weight decay (earlier default); ``study``:
  lr 0.1, momentum 0.9, weight decay 5e-4 (the software script). Both cosine-annealed, batch 30.
* ``weights`` -- ``device`` (electroformed pairs with random signs) or ``signed-constant``.
* ``limiter`` -- the flip limiter's thresholds (``0.01-0.007`` earlier, ``0.009-0.007`` the
  hardware script) or ``none`` (the software script).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from rramsim.nn.data import load_fsdd
from rramsim.nn.experiment import fix_levels
from rramsim.nn.hardware import DeviceNetwork, random_weights
from rramsim.nn.layers import (
    BatchNorm,
    Conv2d,
    Dense,
    MaxPool2d,
    Quantize,
    ReLU,
    ReLURNN,
    TimeMean,
    ToSequence,
)
from rramsim.nn.masks import FlipLimiter
from rramsim.nn.network import Network
from rramsim.nn.train import TrainConfig, train


@dataclass(frozen=True)
class Variant:
    bn: bool
    steps: int
    quant: str
    rnn: str
    recipe: str
    weights: str
    limiter: str


OLD = Variant(bn=False, steps=18, quant="fixed", rnn="old", recipe="old", weights="device",
              limiter="0.01-0.007")
NEW = Variant(bn=True, steps=4, quant="quantile", rnn="new", recipe="study",
              weights="signed-constant", limiter="none")


def _variants() -> list[tuple[str, Variant]]:
    """The earlier reading, each switch turned to the study's alone; the study's network, each
    switch turned back alone; the study's hardware configuration."""
    out = [("earlier reading", OLD)]
    for f in ("bn", "steps", "quant", "rnn", "recipe", "weights", "limiter"):
        out.append((f"earlier + {f} of the study", replace(OLD, **{f: getattr(NEW, f)})))
    out.append(("earlier + bn and steps of the study", replace(OLD, bn=True, steps=4)))
    out.append(("study (software)", NEW))
    for f in ("bn", "steps", "quant", "rnn", "recipe", "weights", "limiter"):
        out.append((f"study - {f} as earlier", replace(NEW, **{f: getattr(OLD, f)})))
    for part in ("new-fan160", "new-bound", "new-qout"):
        out.append((f"study - rnn as earlier, only {part[4:]}", replace(NEW, rnn=part)))
    out.append(("study (hardware: device, minmax)",
                replace(NEW, quant="minmax", weights="device", limiter="0.009-0.007")))
    return out


def build(v: Variant, bits: int = 3, k: float = 0.5) -> Network:
    """The CRNN of one variant (23 x 20 input, 3-bit input quantiser)."""
    def q(signed=False):
        if v.quant == "fixed":
            return [Quantize(bits, calibrate=True)]
        return [Quantize(bits, mode=v.quant, signed=signed)]

    bn1 = [BatchNorm(64)] if v.bn else []
    bn2 = [BatchNorm(32)] if v.bn else []

    def pool():
        return [MaxPool2d(2)] if v.steps == 4 else []

    stride2 = (2, 1) if v.steps == 4 else 1
    relu2 = [] if v.quant == "quantile" else [ReLU()]
    mode = v.quant
    rnn = ReLURNN(32, 128, k=k, state_bits=bits,
                  state_scale=0.5 if v.rnn in ("new", "new-fan160", "new-qout") else 1.0,
                  state_mode=mode, state_grad="levels" if mode == "quantile" else "ste",
                  raw_output=v.rnn in ("new", "new-fan160", "new-bound"))
    first = ([Quantize(bits, mode="minmax", signed=True)] if v.quant == "minmax"
             else [Quantize(bits)])
    layers = [*first,
              Conv2d(1, 64, (3, 2), stride=(2, 1), k=k), *pool(), *bn1, ReLU(), *q(),
              Conv2d(64, 32, (3, 2), stride=stride2, k=k), *pool(), *bn2, *relu2,
              ToSequence(), *q(signed=v.quant == "quantile"),
              rnn, TimeMean(), *q(signed=v.quant == "minmax"),
              Dense(128, 256, k=k), ReLU(), *q(),
              Dense(256, 10, k=k)]
    return Network(layers, input_shape=(1, 23, 20), name="crnn-ablation")


def _config(v: Variant, epochs: int) -> TrainConfig:
    lim = None if v.limiter == "none" else FlipLimiter(*map(float, v.limiter.split("-")))
    opt = (dict(lr=0.5, momentum=0.0, weight_decay=0.0) if v.recipe == "old"
           else dict(lr=0.1, momentum=0.9, weight_decay=5e-4))
    return TrainConfig(epochs=epochs, batch_size=30, flip_limiter=lim, dtype="float32", **opt)


def run(v: Variant, ds, *, epochs: int, seed: int) -> dict:
    """Train one variant; train and test accuracy after the last epoch."""
    rng_form, rng_scores, rng_train = (np.random.default_rng(s) for s in
                                       np.random.SeedSequence(seed).spawn(3))
    net = build(v)
    rnn = next(la for la in net.weight_layers if isinstance(la, ReLURNN))
    fans = [la.fan_in for la in net.weight_layers]
    if v.rnn in ("new", "new-bound", "new-qout"):
        fans = [la.input_size if la is rnn else la.fan_in for la in net.weight_layers]
    if v.weights == "device":
        device, _ = DeviceNetwork.form(net.shapes, rng=rng_form, scale_fan_ins=fans)
        net.set_weights(device.weights())
    else:
        net.set_weights(random_weights(v.weights, net.shapes, rng=rng_form, scale_fan_ins=fans))
    net.init_scores(rng=rng_scores)
    if v.rnn in ("old", "new-bound"):
        rnn.bound_state()
    net.calibrate(ds.x_train)
    tc = _config(v, epochs)
    t = time.perf_counter()
    result = train(net, ds.x_train, ds.y_train, config=tc, rng=rng_train)
    seconds = time.perf_counter() - t
    levels = fix_levels(net, ds, ds.x_train, batch_size=tc.batch_size, dtype="float32")
    net.dtype = np.dtype("float32")
    return {"train_accuracy": net.accuracy(ds.x_train, ds.y_train),
            "test_accuracy": net.accuracy(ds.x_test, ds.y_test),
            "test_accuracy_batch_levels": (levels or {}).get("test_accuracy_batch_levels"),
            "final_loss": result.epoch_loss[-1], "mask_flips": sum(result.mask_flips),
            "epoch_seconds": seconds / epochs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", default=None, help="run only the variant of this name")
    p.add_argument("--json", default=None, help="append every run's result here (JSON lines)")
    args = p.parse_args(argv)
    ds = load_fsdd(args.data_dir)
    variants = [(n, v) for n, v in _variants() if args.only in (None, n)]
    if not variants:
        p.error(f"no variant named {args.only!r}")
    print(f"seed {args.seed}, {args.epochs} epochs, 3-bit activations, batch 30")
    print("| variant | BN | steps | quantiser | RNN | recipe | weights | limiter | train | test "
          "| s/epoch |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, v in variants:
        r = run(v, ds, epochs=args.epochs, seed=args.seed)
        print(f"| {name} | {'yes' if v.bn else 'no'} | {v.steps} | {v.quant} | {v.rnn} | "
              f"{v.recipe} | {v.weights} | {v.limiter} | {100 * r['train_accuracy']:.1f} % | "
              f"{100 * r['test_accuracy']:.1f} % | {r['epoch_seconds']:.2f} |", flush=True)
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps({"name": name, **asdict(v), **r, "seed": args.seed,
                                     "epochs": args.epochs}, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
