"""``rramsim programming-study``: pruning against precise programming, at many precisions.

Trains the pruned random network and the conventionally trained network of the same
architecture on ``--task``, programs the latter one-shot and by write-and-verify at several
pulse budgets and tolerances, evaluates every point behaviourally and circuit-accurately
(:mod:`rramsim.studies.programming_study.study`), and writes ``points.csv``,
``programming_study.png`` and ``report.md`` into ``--out`` as one transaction.
"""

from __future__ import annotations

import argparse

from rramsim import devmodel
from rramsim.errors import ProgrammingStudyError, RramsimError
from rramsim.studies.cli import (
    _study_outputs,
    add_config_args,
    command_line,
    load_config_from_args,
    record_config,
    run_folder,
)
from rramsim.studies.config import DATASETS
from rramsim.studies.programming_study import comparison, report, study


def _ints(text: str) -> tuple[int, ...]:
    try:
        v = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not v or any(i < 1 for i in v):
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return v


def _fractions(text: str) -> tuple[float, ...]:
    try:
        v = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if any(not 0 < f < 1 for f in v):
        raise argparse.ArgumentTypeError(f"tolerances are relative, in (0, 1): got {text!r}")
    return v


def _positive(text: str) -> int:
    v = _ints(text)
    if len(v) != 1:
        raise argparse.ArgumentTypeError(f"expected one integer >= 1, got {text!r}")
    return v[0]


def _names(text: str) -> tuple[str, ...]:
    v = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [n for n in v if n not in devmodel.ERROR_MODELS]
    if not v or bad:
        raise argparse.ArgumentTypeError(f"error models are {sorted(devmodel.ERROR_MODELS)}, got "
                                         f"{text!r}")
    return v


def _times(text: str) -> tuple[float, ...]:
    try:
        return devmodel.parse_times(text)
    except RramsimError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _faults(text: str) -> tuple[float, ...]:
    try:
        v = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated fractions, got {text!r}") from None
    if not v or any(not 0 <= f <= 0.5 for f in v):
        raise argparse.ArgumentTypeError(f"stuck fractions are in [0, 0.5], got {text!r}")
    return v


def configure(parser: argparse.ArgumentParser) -> None:
    _study_outputs(parser, "rramsim-programming-study",
                   "points.csv, programming_study.png, report.md; default "
                   "./rramsim-programming-study")
    parser.add_argument("--task", choices=DATASETS, default="digits",
                        help="data set and the study's network for it (default digits, embedded)")
    add_config_args(parser, network=False)
    parser.add_argument("--data-dir", metavar="DIR", default=None,
                        help="folder with the task's data set (IDX files, recordings, DRIVE)")
    parser.add_argument("--iterations", type=_ints, default=(1, 2, 4, 8, 16, 40),
                        help="write-verify pulse budgets per cell (default 1,2,4,8,16,40)")
    parser.add_argument("--tolerances", type=_fractions, default=(0.2, 0.1, 0.05, 0.02),
                        help="write-verify tolerances at the largest budget (relative; default "
                             "0.2,0.1,0.05,0.02)")
    parser.add_argument("--iteration-tolerance", type=float, default=0.05,
                        help="tolerance of the pulse-budget points (relative; default 0.05)")
    parser.add_argument("--no-one-shot", action="store_true", help="leave out one-shot writes")
    parser.add_argument("--epochs", type=_positive, default=None,
                        help="training epochs of both networks (default: the task's, as "
                             "`rramsim prune`)")
    parser.add_argument("--batch-size", type=_positive, default=None,
                        help="batch size of both networks (default: the task's)")
    parser.add_argument("--max-train", type=_positive, default=None,
                        help="use only the first N training samples")
    cmp = parser.add_argument_group(
        "the comparison on measured RRAM behaviour (with --error-model: 512 x 512 tiles, 2-ohm "
        "wires, 128 rows per read with the per-group calibration; writes comparison.csv and "
        "report.md)")
    cmp.add_argument("--error-model", type=_names, default=None, metavar="NAME[,NAME]",
                     help=f"programming-error models ({', '.join(devmodel.ERROR_MODELS)}); "
                          "selects the comparison")
    cmp.add_argument("--seeds", type=_positive, default=3, help="seeds (default 3)")
    cmp.add_argument("--first-seed", type=int, default=None,
                     help="first seed (default: [run] seed)")
    cmp.add_argument("--times", type=_times, default=(1.0, 86400.0),
                     help="times after programming (default 1s,1d; units s, min, h, d)")
    cmp.add_argument("--faults", type=_faults, default=devmodel.FAULT_FRACTIONS,
                     help="stuck-on and stuck-off fractions (each; default 0,0.005,0.02)")
    cmp.add_argument("--no-hardware-aware", action="store_true",
                     help="leave out the baseline trained with weight noise")
    cmp.add_argument("--pruned-static", action="store_true",
                     help="a sensitivity check: the pruned network's formed and RESET cells do "
                          "not relax (default: every cell relaxes by the same law)")
    cmp.add_argument("--reprogram", action="store_true",
                     help="also re-program the programmed baselines at every time > 0 (incremental "
                          "write-and-verify from their relaxed cells back to their targets, read "
                          "1 s later) and count the refresh's pulses, reads, energy and time")


def _run_comparison(args: argparse.Namespace) -> int:
    with run_folder(args) as folder:
        cfg = comparison.comparison_config(load_config_from_args(args))
        record_config(folder, cfg)
        folder.record(task=args.task)
        first = cfg.run.seed if args.first_seed is None else args.first_seed
        axes = comparison.Axes(error_models=args.error_model, times=args.times,
                               faults=args.faults, seeds=args.seeds, first_seed=first,
                               hardware_aware=not args.no_hardware_aware,
                               relax_pruned=not args.pruned_static, reprogram=args.reprogram)
        training = study.Training(epochs=args.epochs, batch_size=args.batch_size,
                                  max_train=args.max_train)
        log = None if args.no_progress else (lambda m: print(m, flush=True))
        res = comparison.compare(cfg, args.task, axes=axes, training=training, log=log)
        report.write_comparison(res, cfg, folder.path, command=command_line())
    print(f"rramsim programming-study: wrote {folder.final}/report.md, comparison.csv")
    for line in comparison.verdict(res.rows, res.task) + [""] + report.comparison_table(res):
        print("  " + line)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.error_model is not None:
        return _run_comparison(args)
    if not 0 < args.iteration_tolerance < 1:
        raise ProgrammingStudyError(f"--iteration-tolerance must be in (0, 1), got "
                                       f"{args.iteration_tolerance}")
    points = study.precisions(args.iterations, args.tolerances,
                           iteration_tolerance=args.iteration_tolerance,
                           one_shot=not args.no_one_shot)
    with run_folder(args) as folder:
        cfg = load_config_from_args(args)
        record_config(folder, cfg)
        folder.record(task=args.task)
        training = study.Training(epochs=args.epochs, batch_size=args.batch_size,
                               max_train=args.max_train)
        res = study.programming_study(cfg, args.task, points=points, training=training,
                                   progress=not args.no_progress)
        report.write_study(res, cfg, folder.path, command=command_line())
    print(f"rramsim programming-study: wrote {folder.final}/report.md, points.csv, "
          "programming_study.png")
    for line in res.comparison:
        print("  " + line)
    return 0
