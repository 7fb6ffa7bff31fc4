"""``rramsim sweep --config sweep.toml --out DIR [--workers N | --scheduler ADDRESS]``."""

from __future__ import annotations

import argparse
import sys

from rramsim.studies.sweep.run import sweep


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="TOML", required=True,
                        help="the sweep: [base] study configuration, [grid] lists of values of "
                             "study keys, [monte_carlo] device and noise seeds, [output]")
    parser.add_argument("--out", metavar="DIR", required=True,
                        help="the sweep's folder (points/, results.csv, plots); running the same "
                             "command again computes only the points not yet finished")
    engine = parser.add_mutually_exclusive_group()
    engine.add_argument("--workers", type=int, default=None, metavar="N",
                        help="single-threaded worker processes of a local Dask cluster "
                             "(default: one per core)")
    engine.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="run on an existing Dask cluster, e.g. tcp://host:8786 (start it "
                             "with `dask scheduler` and `dask worker ADDRESS`)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    try:
        res = sweep(args.config, args.scheduler, out=args.out, workers=args.workers,
                    progress=not args.no_progress, log=print)
    except KeyboardInterrupt:   # Ctrl-C, or SIGTERM (rramsim.cli gives the exit status)
        print(f"rramsim sweep: the finished points are recorded in {args.out} (results.csv); "
              "run the same command again to compute the rest", file=sys.stderr)
        raise
    print(f"rramsim sweep: {len(res.table)} of {len(res.points)} points in {res.out_dir}/"
          f"results.csv ({len(res.computed)} computed now, {len(res.skipped)} found finished, "
          f"{res.seconds:.1f} s)")
    return 0
