"""``rramsim demo --out DIR``: the whole pipeline on the embedded default, in one report."""

from __future__ import annotations

import argparse

from rramsim.studies._cli_common import add_config_args, command_line, load_config_from_args


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", default="rramsim-demo",
                        help="output folder (report.md, accuracy.csv, energy.csv, irdrop_*.png, "
                             "a tile's netlist); default ./rramsim-demo")
    add_config_args(parser, network=True)
    parser.add_argument("--quick", action="store_true",
                        help="skip the sweeps (faster; the report then has no sweep tables)")


def run(args: argparse.Namespace) -> int:
    from rramsim.studies.demo import run_pipeline

    cfg = load_config_from_args(args)
    res = run_pipeline(cfg, args.out, command=command_line(), progress=not args.no_progress,
                       sweeps=not args.quick)
    print(f"rramsim demo: wrote {res.out_dir}/report.md")
    width = max(len(k) for k, _ in res.headline)
    for k, v in res.headline:
        print(f"  {k:<{width}}  {v}")
    return 0
