"""``rramsim prune``: train a pruned random-weight network and write its metrics and graph.

Example::

    rramsim prune --dataset digits --seed 0 --out runs/digits

writes ``runs/digits/metrics.json`` (``test_accuracy``, ``programming_ops``, ``seed``, ...) and the
whole pruned network (``runs/digits/network.npz``: architecture, weights, masks, BN statistics,
quantisers, device pairs; read back by :func:`rramsim.nn.load_network_file`, its weight/mask/pair
part also by ``rramsim.mapper.load_network``). Source study: arXiv 2311.07164;
edge-popup: Ramanujan et al., CVPR 2020.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rramsim.nn.experiment import DATASETS, ExperimentConfig, run_prune
from rramsim.nn.masks import FlipLimiter
from rramsim.nn.train import TrainConfig


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"hidden sizes must be integers, got {text!r}") from exc
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be >= 1, got {text!r}")
    return sizes


def _bits(text: str) -> int:
    try:
        n = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bits must be an integer, got {text!r}") from exc
    if not 1 <= n <= 24:
        raise argparse.ArgumentTypeError(
            f"bits must be in [1, 24], got {n} (leave the option out for no quantiser)")
    return n


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``prune`` arguments."""
    parser.add_argument("--dataset", choices=DATASETS, default="digits",
                        help="data set (digits is embedded; default: %(default)s)")
    parser.add_argument("--data-dir", default=None,
                        help="directory with Fashion-MNIST IDX files or FSDD wav recordings")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing non-empty --out folder whole")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default: 20)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.1, help="peak learning rate of the scores")
    parser.add_argument("--k", type=float, default=0.5, help="kept fraction per layer")
    parser.add_argument("--hidden", type=_hidden, default=(256, 256),
                        help="hidden sizes of the digits MLP, comma-separated (default: 256,256)")
    parser.add_argument("--flip-threshold", type=float, nargs=2, default=(0.01, 0.007),
                        metavar=("START", "END"),
                        help="flip limiter's relative threshold, start and end (default: 0.01 0.007)")
    parser.add_argument("--no-flip-limiter", action="store_true", help="plain top-k every step")
    parser.add_argument("--activation-bits", type=_bits, default=None,
                        help="quantise the MLP's hidden activations to N bits, 1..24 "
                        "(default: off, no quantiser)")
    parser.add_argument("--in-situ", action="store_true",
                        help="program masks on the devices after every epoch (RESET/SET) and "
                        "train on the conductances they return")
    parser.add_argument("--read-noise", type=float, default=0.01,
                        help="relative read noise at inference (default: 0.01)")
    parser.add_argument("--max-train", type=int, default=None,
                        help="use only the first N training samples")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the conventionally trained, write-verify programmed baseline")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Run the experiment, print a summary, write ``metrics.json`` and the network file."""
    from rramsim.nn.export import _clean, write_json
    from rramsim.nn.netfile import save_network_file

    limiter = None if args.no_flip_limiter else FlipLimiter(*args.flip_threshold)
    progress = not args.no_progress
    config = ExperimentConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        hidden=tuple(args.hidden),
        k=args.k,
        train=TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                          flip_limiter=limiter, progress=progress),
        baseline=not args.no_baseline,
        baseline_train=TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=0.05,
                                   flip_limiter=None, progress=progress),
        read_noise=args.read_noise,
        max_train=args.max_train,
        activation_bits=args.activation_bits,
        in_situ=args.in_situ,
    )
    from rramsim._rundir import RunFolder

    with RunFolder(args.out, overwrite=args.overwrite,  # --out checked before the training
                   command="rramsim " + " ".join(sys.argv[1:])) as folder:
        result = run_prune(config, seed=args.seed)
        m = result.metrics
        m["network_file"] = "network.npz"
        path = save_network_file(folder.path / "network.npz", result.network,
                                 device=result.device, dataset=args.dataset,
                                 data_dir=args.data_dir, metadata={"metrics": _clean(m)})
        write_json(folder.path / "metrics.json", m)
        folder.record(config=repr(config), seed=args.seed)
    out = folder.final
    path = out / path.name
    lines = [
        f"{m['architecture']} on {m['dataset']} (seed {m['seed']}, {m['n_weights']} weights, "
        f"k = {m['k']})",
        f"  pruned random weights: test accuracy {m['test_accuracy']:.4f} "
        f"(programmed, read noise {m['read_noise']:g}: {m['test_accuracy_programmed']:.4f})",
        f"  programming ops {m['programming_ops']} (mask flips per layer {m['mask_flips']})",
    ]
    if "in_situ" in m:
        s = m["in_situ"]
        lines.append(f"  in situ: {s['resets']} RESET, {s['sets']} SET pairs, {s['pulses']} pulses, "
                     f"{s['energy_j'] * 1e6:.3g} uJ")
    if "baseline" in m:
        b = m["baseline"]
        lines.append(
            f"  baseline (trained weights, write-verify {b['tolerance']:g}): test accuracy "
            f"{b['test_accuracy_software']:.4f}, programmed {b['test_accuracy_programmed']:.4f}, "
            f"{b['pulses']} pulses"
        )
    lines.append(f"  {m['total_seconds']:.1f} s; wrote {out / 'metrics.json'} and {path}")
    print("\n".join(lines), file=sys.stdout)
    return 0
