"""``rramsim import-torch``: a PyTorch model's weights (``.pt``) into an rramsim network file.

The architecture comes from Python code (``--arch module:callable`` returns the ``nn.Module``), the
weights from ``MODEL.pt`` read with ``torch.load(..., weights_only=True)`` (a state dict, or a dict
holding one under ``"state_dict"`` / ``"model_state_dict"``); :func:`rramsim.torch.from_torch`
converts it and :func:`rramsim.nn.save_network_file` writes the file that ``rramsim compare`` runs.
With ``--device-file`` the weights are the pairs of measured read-outs in the source study's format
(:mod:`rramsim.devmodel.measured`), with the model's weight signs and masks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rramsim.errors import DataError

DATASETS = ("digits", "fashion-mnist", "fsdd", "drive")
_BY_SHAPE = {(64,): "digits", (1, 28, 28): "fashion-mnist", (1, 23, 20): "fsdd"}


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers like 1,28,28, got {text!r}")
    return shape


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL.pt", help="the model's weights (a state dict)")
    parser.add_argument("--arch", required=True, metavar="MODULE:CALLABLE",
                        help="Python callable that builds the nn.Module (module importable from "
                             "the current folder or PYTHONPATH)")
    parser.add_argument("--input-shape", required=True, type=_shape, metavar="C,H,W",
                        help="per-sample input shape, e.g. 1,28,28")
    parser.add_argument("--out", required=True, type=Path, help="network file to write (.npz)")
    parser.add_argument("--k", type=float, default=0.5,
                        help="kept fraction of supermask layers (default 0.5, the study's)")
    parser.add_argument("--dataset", choices=DATASETS, default=None,
                        help="data set the model takes (default from the input shape)")
    parser.add_argument("--data-dir", default=None, help="where that data set is")
    parser.add_argument("--device-file", default=None, metavar="FILE",
                        help="measured read-outs {set, reset} (.npz or .pt): the pairs come from "
                             "them")
    parser.add_argument("--read", type=int, default=0,
                        help="which read of --device-file the stored pairs come from (default 0)")


def _build(arch: str):
    import importlib
    import os

    module, _, attr = arch.partition(":")
    if not module or not attr:
        raise DataError(f"--arch must be module:callable, got {arch!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise DataError(f"--arch {arch}: {exc}") from exc
    return fn()


def _state_dict(obj, path):
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                return obj[key]
        return obj
    raise DataError(f"{path}: expected a state dict, got {type(obj).__name__}")


def run(args: argparse.Namespace) -> int:
    from rramsim.nn import save_network_file
    from rramsim.torch import from_torch, load_pt, measured_pairs

    model = _build(args.arch)
    state = _state_dict(load_pt(args.model), args.model)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise DataError(f"{args.model}: does not fit --arch {args.arch}: "
                        f"{str(exc).splitlines()[0]}") from exc
    net = from_torch(model, args.input_shape, k=args.k, name=type(model).__name__)
    dataset = args.dataset or _BY_SHAPE.get(tuple(args.input_shape), "drive")
    meta = {"source": "PyTorch", "model_file": str(args.model), "arch": args.arch, "k": args.k}
    device = None
    if args.device_file:
        device = measured_pairs(net, args.device_file, read=args.read)
        meta.update(device_source=device.describe(), standin=device.reads.standin,
                    read=args.read, device_file=str(Path(args.device_file).resolve()))
        tag = "STAND-IN pairs" if device.reads.standin else "measured pairs"
        net.name = f"{net.name} ({tag}, read {args.read})"
    path = save_network_file(args.out, net, device=device, dataset=dataset,
                             data_dir=args.data_dir, metadata=meta)
    print(f"rramsim import-torch: {net.name}: {len(net.layers)} layers, "
          f"{len(net.weight_layers)} weight layers, {net.n_weights} weights; wrote {path}")
    if device is not None:
        print(f"  pairs: {device.describe()}")
        if device.reads.standin:
            print("  NOTE: these are stand-in data in the measured format, not measurements")
    return 0
