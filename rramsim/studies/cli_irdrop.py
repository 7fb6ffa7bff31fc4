"""``rramsim irdrop``: IR-drop maps of a network's tiles and sweeps over wire resistance and size."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from rramsim._rundir import add_overwrite_argument
    from rramsim.studies._cli_common import add_config_args

    parser.add_argument("--out", metavar="DIR", default="rramsim-irdrop",
                        help="output folder (irdrop_*.png, irdrop_sweep.csv, accuracy.csv, "
                             "report.md)")
    parser.add_argument("--maps", type=int, default=16,
                        help="drop-map PNGs for at most this many tiles (default 16)")
    add_overwrite_argument(parser)
    add_config_args(parser, network=True)


def run(args: argparse.Namespace) -> int:
    from rramsim.studies._cli_common import command_line, load_config_from_args, record_config, run_folder
    from rramsim.studies.demo import run_pipeline

    with run_folder(args) as folder:
        cfg = load_config_from_args(args)
        record_config(folder, cfg)
        res = run_pipeline(cfg, folder.path, command=command_line(),
                           progress=not args.no_progress, sweeps=True, programming=False,
                           max_drop_maps=args.maps)
    for k, v in res.headline:
        if "IR drop" in k or "circuit-accurate" in k:
            print(f"  {k}: {v}")
    print(f"rramsim irdrop: wrote {folder.final}/report.md and irdrop_*.png")
    return 0
