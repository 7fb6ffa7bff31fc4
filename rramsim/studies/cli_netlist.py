"""``rramsim netlist``: write the ngspice deck of one tile of a mapped network."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from rramsim.studies._cli_common import add_config_args

    parser.add_argument("--tile", type=int, default=0, help="tile index (default 0)")
    parser.add_argument("--out", metavar="FILE", default="tile.cir",
                        help="deck to write (default tile.cir)")
    parser.add_argument("--v-read", type=float, default=None,
                        help="input voltage on every row, volts (default: converters.v_read_V)")
    add_config_args(parser, network=True)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from rramsim import netlists
    from rramsim._rundir import check_file_target
    from rramsim.errors import MappingError
    from rramsim.studies import adapters
    from rramsim.studies._cli_common import load_config_from_args
    from rramsim.studies.study import apply_circuit_config

    check_file_target(args.out, option="--out")
    cfg = load_config_from_args(args)
    loaded = adapters.load(cfg, progress=not args.no_progress)
    hw = apply_circuit_config(loaded.hardware, cfg)
    if not 0 <= args.tile < len(hw.tiles):
        raise MappingError(f"--tile {args.tile}: the mapping has tiles 0..{len(hw.tiles) - 1}")
    xb = hw.tiles[args.tile]
    v = cfg.converters.v_read_V if args.v_read is None else float(args.v_read)
    path = netlists.write_deck(args.out, netlists.render(xb, np.full(xb.n_rows, v)))
    print(f"rramsim netlist: tile {args.tile} ({xb.n_rows} x {xb.n_cols}, "
          f"{xb.r_wordline:g}/{xb.r_bitline:g} ohm wires) -> {path}")
    return 0
