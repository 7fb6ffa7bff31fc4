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
from rramsim.nn.hardware import WEIGHT_SOURCES
from rramsim.nn.masks import FlipLimiter
from rramsim.nn.quant import MODES as QUANT_MODES


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"hidden sizes must be integers, got {text!r}") from exc
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be >= 1, got {text!r}")
    return sizes


_TASK_DEFAULT = object()  # --activation-bits not given: the task's default


def _bits(text: str) -> int | None:
    if text.strip().lower() == "none":
        return None
    try:
        n = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bits must be an integer, got {text!r}") from exc
    if not 1 <= n <= 24:
        raise argparse.ArgumentTypeError(
            f"bits must be in [1, 24], got {n} ('none' for no quantiser)")
    return n


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``prune`` arguments."""
    parser.add_argument("--dataset", choices=DATASETS, default="digits",
                        help="data set (digits is embedded; default: %(default)s)")
    parser.add_argument("--data-dir", default=None,
                        help="directory with Fashion-MNIST IDX files, FSDD wav recordings or "
                        "DRIVE's training/ and test/ folders")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing non-empty --out folder whole")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default per task: digits 20, fashion-mnist 65, "
                        "fsdd 60, drive 50)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="batch size (default per task: digits 64, fashion-mnist 60, fsdd 30, "
                        "drive 64)")
    parser.add_argument("--lr", type=float, default=None,
                        help="peak learning rate of the scores, cosine-annealed (default per "
                        "task: 0.1; drive 1e-4 with Adam)")
    parser.add_argument("--patches", type=int, default=5000,
                        help="drive: 64 x 64 training patches centred in the field of view, 10 %% "
                        "held out (default 5000, the study's)")
    parser.add_argument("--test-images", type=int, default=None,
                        help="drive: evaluate on the first N test images only (default: all; "
                        "each DRIVE image is 992 windows of 96 x 96)")
    parser.add_argument("--checkpoint-dir", type=Path, default=None,
                        help="where the per-epoch checkpoints go (default: OUT.checkpoint beside "
                        "--out; deleted when the run completes)")
    parser.add_argument("--resume", action="store_true",
                        help="continue a killed or stopped run from its checkpoints (same options)")
    parser.add_argument("--stop-after-epochs", type=int, default=None, metavar="N",
                        help="stop after N epochs in all (edge-popup + baseline), checkpointed, "
                        "as if killed; --resume continues")
    parser.add_argument("--no-checkpoint", action="store_true", help="write no checkpoints")
    parser.add_argument("--k", type=float, default=0.5, help="kept fraction per layer")
    parser.add_argument("--hidden", type=_hidden, default=(256, 256),
                        help="hidden sizes of the digits MLP, comma-separated (default: 256,256)")
    parser.add_argument("--flip-threshold", type=float, nargs=2, default=None,
                        metavar=("START", "END"),
                        help="flip limiter's relative threshold, start and end (default per task: "
                        "fsdd 0.009 0.007 as the study's hardware script, others 0.01 0.007)")
    parser.add_argument("--weights", choices=WEIGHT_SOURCES, default="device",
                        help="random weights: device pairs (the study's hardware runs), or the "
                        "software runs' signed-constant or Kaiming-normal weights (default: "
                        "%(default)s)")
    parser.add_argument("--quant", choices=QUANT_MODES, default=None,
                        help="activation quantisers: fixed ranges, or the study's per-batch "
                        "minmax / quantile levels, fixed after training for inference (default: "
                        "the study's; fsdd: quantile with software weights, minmax with device "
                        "pairs; fashion-mnist: minmax)")
    parser.add_argument("--no-flip-limiter", action="store_true", help="plain top-k every step")
    parser.add_argument("--activation-bits", type=_bits, default=_TASK_DEFAULT,
                        help="quantise hidden activations to N bits, 1..24, or 'none' (default: "
                        "as the study: fsdd 3 bits, fashion-mnist 4 bits, others none)")
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
    parser.add_argument("--device-file", default=None, metavar="FILE",
                        help="measured read-outs {set, reset} (.npz, or .pt with rramsim[torch]): "
                             "the pairs come from them, not from the device model")


def _config(args: argparse.Namespace, progress: bool) -> ExperimentConfig:
    """The experiment the command line asks for (the task's defaults where it is silent)."""
    from rramsim.nn.experiment import TASK_QUANT, task_train_configs

    limiter = {} if args.flip_threshold is None else {
        "flip_limiter": FlipLimiter(*args.flip_threshold)}
    if args.no_flip_limiter:
        limiter = {"flip_limiter": None}
    tr, base = task_train_configs(args.dataset, progress=progress, epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr, **limiter)
    bits = args.activation_bits
    if bits is _TASK_DEFAULT:
        bits = TASK_QUANT[args.dataset][0]
    return ExperimentConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        hidden=tuple(args.hidden),
        k=args.k,
        train=tr,
        baseline=not args.no_baseline,
        baseline_train=base,
        read_noise=args.read_noise,
        max_train=args.max_train,
        activation_bits=bits,
        in_situ=args.in_situ,
        patches=args.patches,
        device_file=args.device_file,
        test_images=args.test_images,
        weights=args.weights,
        quant=args.quant,
    )


def run(args: argparse.Namespace) -> int:
    """Run the experiment, print a summary, write ``metrics.json`` and the network file."""
    from rramsim.nn.experiment import TrainingStopped
    from rramsim.nn.export import _clean, write_json
    from rramsim.nn.netfile import save_network_file

    progress = not args.no_progress
    config = _config(args, progress)
    from rramsim._rundir import RunFolder

    ckpt_dir = None
    if not args.no_checkpoint and not args.in_situ:
        ckpt_dir = args.checkpoint_dir or args.out.with_name(args.out.name + ".checkpoint")
    elif args.resume:
        from rramsim.nn.experiment import ExperimentError

        raise ExperimentError("--resume needs checkpoints (not with --no-checkpoint or --in-situ)")

    def say(line: str) -> None:
        if progress:
            print(line, file=sys.stderr, flush=True)

    try:
        with RunFolder(args.out, overwrite=args.overwrite,  # --out checked before the training
                       command="rramsim " + " ".join(sys.argv[1:])) as folder:
            result = run_prune(config, seed=args.seed, checkpoint_dir=ckpt_dir,
                               resume=args.resume, stop_after_epochs=args.stop_after_epochs,
                               log=say)
            m = result.metrics
            m["network_file"] = "network.npz"
            path = save_network_file(folder.path / "network.npz", result.network,
                                     device=result.device, dataset=args.dataset,
                                     data_dir=args.data_dir, metadata={"metrics": _clean(m)})
            write_json(folder.path / "metrics.json", m)
            folder.record(config=repr(config), seed=args.seed)
    except TrainingStopped as exc:
        print(f"rramsim prune: {exc}; continue with the same options and --resume",
              file=sys.stdout)
        return 3
    out = folder.final
    path = out / path.name
    lines = [
        f"{m['architecture']} on {m['dataset']} (seed {m['seed']}, {m['n_weights']} weights, "
        f"k = {m['k']})",
        f"  pruned random weights ({m['weights']}): test "
        f"{'pixel ' if 'test_segmentation' in m else ''}accuracy {m['test_accuracy']:.4f}, train "
        f"{m['train_accuracy']:.4f}" + (
            "" if m["test_accuracy_programmed"] is None else
            f" (programmed, read noise {m['read_noise']:g}: {m['test_accuracy_programmed']:.4f})"),
        f"  programming ops {m['programming_ops']} (mask flips per layer {m['mask_flips']})",
    ]
    lv = m.get("quantiser_levels")
    if lv and "test_accuracy_batch_levels" in lv:
        lines.append(f"  quantisers: trained with {lv['training_levels']} levels, inference with "
                     f"fixed levels: {lv['test_accuracy_fixed_levels']:.4f} (per-batch levels: "
                     f"{lv['test_accuracy_batch_levels']:.4f})")
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
    if "test_segmentation" in m:
        g = m["test_segmentation"]
        lines.append(f"  segmentation in the field of view: ROC-AUC {g['roc_auc']:.4f}, PR-AUC "
                     f"{g['pr_auc']:.4f}, F1 {g['f1']:.4f}")
    if "device_source" in m:
        lines.append(f"  pairs: {m['device_source']}")
    lines.append(f"  {m['total_seconds']:.1f} s; wrote {out / 'metrics.json'} and {path}")
    print("\n".join(lines), file=sys.stdout)
    return 0
