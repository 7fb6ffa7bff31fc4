"""``rramsim demo --out DIR``: the whole pipeline on the embedded default, in one report."""

from __future__ import annotations

import argparse

from rramsim._rundir import add_overwrite_argument
from rramsim.studies._cli_common import (
    add_config_args,
    command_line,
    load_config_from_args,
    record_config,
    run_folder,
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", default="rramsim-demo",
                        help="output folder (report.md, accuracy.csv, energy.csv, irdrop_*.png, "
                             "a tile's netlist); default ./rramsim-demo")
    add_overwrite_argument(parser)
    add_config_args(parser, network=True)
    parser.add_argument("--quick", action="store_true",
                        help="skip the sweeps (faster; the report then has no sweep tables)")


def run(args: argparse.Namespace) -> int:
    from rramsim.studies.demo import run_pipeline

    with run_folder(args) as folder:
        cfg = load_config_from_args(args)
        record_config(folder, cfg)
        res = run_pipeline(cfg, folder.path, command=command_line(),
                           progress=not args.no_progress, sweeps=not args.quick)
    print(f"rramsim demo: wrote {folder.final}/report.md")
    width = max(len(k) for k, _ in res.headline)
    for k, v in res.headline:
        print(f"  {k:<{width}}  {v}")
    return 0
