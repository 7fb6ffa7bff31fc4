"""``rramsim compare``: software vs behavioural vs circuit-accurate inference of a network."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from rramsim._rundir import add_overwrite_argument
    from rramsim.studies._cli_common import add_config_args

    parser.add_argument("--out", metavar="DIR", default="rramsim-compare",
                        help="output folder (report.md, accuracy.csv, energy.csv)")
    add_overwrite_argument(parser)
    add_config_args(parser, network=True)


def run(args: argparse.Namespace) -> int:
    from rramsim.studies._cli_common import command_line, load_config_from_args, record_config, run_folder
    from rramsim.studies.demo import run_pipeline

    with run_folder(args) as folder:
        cfg = load_config_from_args(args)
        record_config(folder, cfg)
        res = run_pipeline(cfg, folder.path, command=command_line(),
                           progress=not args.no_progress, sweeps=False, programming=False)
    acc = res.accuracy
    print(f"rramsim compare: accuracy software {acc['software']:.4f}, behavioural "
          f"{acc['behavioural']:.4f}, circuit {acc['circuit']:.4f}; report {folder.final}/report.md")
    if res.cosim is not None:
        print("  " + res.cosim.summary())
    return 0
