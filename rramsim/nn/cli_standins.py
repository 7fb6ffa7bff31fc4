"""``rramsim standins``: generate stand-in data sets of the real size and format for benchmarks.

Example::

    rramsim standins --out data --task all

writes ``data/fashion-mnist/`` (IDX, 60,000 + 10,000 images), ``data/fsdd/`` (3,000 WAV files in
FSDD's naming) and ``data/drive/`` (DRIVE's folder layout: TIFF images, GIF annotations and field
of view masks), each with a ``STANDIN.txt`` saying that they are generated. Use them as
``rramsim prune --dataset fashion-mnist --data-dir data/fashion-mnist``; see
:mod:`rramsim.nn.standins` for how they are made.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rramsim.nn import standins


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``standins`` arguments."""
    parser.add_argument("--out", required=True, type=Path, help="folder to write into")
    parser.add_argument("--task", choices=(*standins.TASKS, "all"), default="all",
                        help="which data set (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the real size (e.g. 0.01 for a quick check; default 1)")


def run(args: argparse.Namespace) -> int:
    from rramsim._io import atomic_write_text
    from rramsim.errors import DataError

    if not 0 < args.scale <= 1:
        raise DataError(f"--scale must be in (0, 1], got {args.scale}")
    tasks = list(standins.TASKS) if args.task == "all" else [args.task]
    sizes = {
        "fashion-mnist": {"n_train": max(1, round(60_000 * args.scale)),
                          "n_test": max(1, round(10_000 * args.scale))},
        "fsdd": {"per_digit_speaker": max(6, round(50 * args.scale))},
        "fsdd-features": {"per_digit_speaker": max(6, round(50 * args.scale))},
        "drive": {"n_train": max(1, round(20 * args.scale)), "n_test": max(1, round(20 * args.scale))},
    }
    for task in tasks:
        where = args.out / task
        standins.TASKS[task](where, seed=args.seed, **sizes[task])
        atomic_write_text(where / "STANDIN.txt",
                          f"{task}: {standins.STANDIN_NOTE} (rramsim standins, seed {args.seed}, "
                          f"sizes {sizes[task]}); see rramsim/nn/standins.py\n")
        print(f"wrote {where}: {task} {standins.STANDIN_NOTE} ({sizes[task]})", file=sys.stdout)
    print("These are STAND-INS: accuracies on them say nothing about the study's data sets.")
    return 0
