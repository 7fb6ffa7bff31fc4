"""The study subcommands: ``rramsim demo``, ``compare``, ``irdrop`` and ``netlist``.

Each is a ``configure(parser)`` / ``run(args)`` pair (``configure_demo``, ``run_demo``, ...)
registered by :mod:`rramsim.cli`. They share ``--config``, ``--seed``, ``--network``,
``--data-dir`` and ``--no-progress``.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from rramsim import netlists
from rramsim._rundir import RunFolder, add_overwrite_argument, check_file_target
from rramsim.errors import MappingError
from rramsim.studies.config import ConfigError, load_config, to_toml
from rramsim.studies.cosim import CosimError
from rramsim.studies.loading import load
from rramsim.studies.pipeline import run_pipeline
from rramsim.studies.programming import program


# --------------------------------------------------------------------------------------------
# shared arguments
# --------------------------------------------------------------------------------------------
def add_config_args(parser: argparse.ArgumentParser, *, network: bool = True) -> None:
    """``--config FILE`` (TOML), ``--seed N``, ``--network FILE``, ``--data-dir DIR``."""
    parser.add_argument("--config", metavar="TOML",
                        help="study configuration (TOML; every key carries its unit, see "
                             "rramsim.studies.config); default values otherwise")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed (overrides [run] seed of the configuration)")
    if network:
        parser.add_argument("--network", metavar="FILE", default=None,
                            help="network file written by `rramsim prune --out` (overrides "
                                 "[network] path); default: the embedded digits network")
        parser.add_argument("--data-dir", metavar="DIR", default=None,
                            help="folder with the network's data set (IDX files, recordings; "
                                 "overrides [network] data_dir)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def load_config_from_args(args: argparse.Namespace):
    """The validated configuration with command-line overrides applied."""
    cfg = load_config(getattr(args, "config", None))
    if getattr(args, "seed", None) is not None:
        if args.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {args.seed}")
        cfg = cfg.replace("run", seed=int(args.seed))
    if getattr(args, "network", None):
        cfg = cfg.replace("network", path=str(args.network))
    if getattr(args, "data_dir", None):
        cfg = cfg.replace("network", data_dir=str(args.data_dir))
    return cfg


def command_line() -> str:
    """The command as typed (program name normalised to ``rramsim``)."""
    return "rramsim " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def run_folder(args: argparse.Namespace):
    """The transactional output folder of a study command (:class:`rramsim._rundir.RunFolder`):
    ``--out`` is checked before any work; a failed co-simulation check still keeps its report."""
    return RunFolder(args.out, overwrite=getattr(args, "overwrite", False),
                     command=command_line(), keep_on=(CosimError,))


def record_config(folder, cfg) -> None:
    """Put the configuration's hash and seed into the run's manifest."""
    folder.record(config=to_toml(cfg), seed=cfg.run.seed)


def _study_outputs(parser: argparse.ArgumentParser, default: str, what: str) -> None:
    parser.add_argument("--out", metavar="DIR", default=default, help=f"output folder ({what})")
    add_overwrite_argument(parser)


def _run_study(args: argparse.Namespace, **kwargs):
    """Configuration, the pipeline into a transactional run folder; returns (result, folder)."""
    with run_folder(args) as folder:
        cfg = load_config_from_args(args)
        record_config(folder, cfg)
        res = run_pipeline(cfg, folder.path, command=command_line(),
                           progress=not args.no_progress, **kwargs)
    return res, folder


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def _print_headline(res) -> None:
    width = max(len(k) for k, _ in res.headline)
    for k, v in res.headline:
        print(f"  {k:<{width}}  {v}")


# --------------------------------------------------------------------------------------------
# rramsim demo
# --------------------------------------------------------------------------------------------
def configure_demo(parser: argparse.ArgumentParser) -> None:
    _study_outputs(parser, "rramsim-demo", "report.md, accuracy.csv, energy.csv, irdrop_*.png, "
                                           "a tile's netlist; default ./rramsim-demo")
    add_config_args(parser)
    parser.add_argument("--quick", action="store_true",
                        help="skip the sweeps (faster; the report then has no sweep tables)")


def run_demo(args: argparse.Namespace) -> int:
    res, folder = _run_study(args, sweeps=not args.quick)
    print(f"rramsim demo: wrote {folder.final}/report.md")
    _print_headline(res)
    return 0


# --------------------------------------------------------------------------------------------
# rramsim compare
# --------------------------------------------------------------------------------------------
def configure_compare(parser: argparse.ArgumentParser) -> None:
    _study_outputs(parser, "rramsim-compare", "report.md, accuracy.csv, energy.csv, drop maps")
    add_config_args(parser)


def run_compare(args: argparse.Namespace) -> int:
    res, folder = _run_study(args, sweeps=False, programming=False)
    acc = res.accuracy
    print(f"rramsim compare: accuracy software {acc['software']:.4f}, behavioural "
          f"{acc['behavioural']:.4f}, circuit {acc['circuit']:.4f}; report "
          f"{folder.final}/report.md")
    if res.cosim is not None:
        print("  " + res.cosim.summary())
    return 0


# --------------------------------------------------------------------------------------------
# rramsim irdrop
# --------------------------------------------------------------------------------------------
def configure_irdrop(parser: argparse.ArgumentParser) -> None:
    _study_outputs(parser, "rramsim-irdrop", "irdrop_*.png, irdrop_sweep.csv, accuracy.csv, "
                                             "report.md")
    parser.add_argument("--maps", type=_nonneg_int, default=16,
                        help="drop-map PNGs for at most this many tiles (>= 0, default 16)")
    add_config_args(parser)


def run_irdrop(args: argparse.Namespace) -> int:
    res, folder = _run_study(args, sweeps=True, programming=False, max_drop_maps=args.maps)
    for k, v in res.headline:
        if "IR drop" in k or "circuit-accurate" in k:
            print(f"  {k}: {v}")
    print(f"rramsim irdrop: wrote {folder.final}/report.md and irdrop_*.png")
    return 0


# --------------------------------------------------------------------------------------------
# rramsim netlist
# --------------------------------------------------------------------------------------------
def configure_netlist(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tile", type=_nonneg_int, default=0, help="tile index (default 0)")
    parser.add_argument("--out", metavar="FILE", default="tile.cir",
                        help="deck to write (default tile.cir)")
    parser.add_argument("--v-read", type=float, default=None,
                        help="input voltage on every row, volts (default: converters.v_read_V)")
    add_config_args(parser)


def run_netlist(args: argparse.Namespace) -> int:
    import numpy as np

    check_file_target(args.out, option="--out")
    cfg = load_config_from_args(args)
    hw = program(load(cfg, progress=not args.no_progress, with_data=False), cfg)
    if not 0 <= args.tile < len(hw.tiles):
        raise MappingError(f"--tile {args.tile}: the mapping has tiles 0..{len(hw.tiles) - 1}")
    xb = hw.tiles[args.tile]
    v = cfg.converters.v_read_V if args.v_read is None else float(args.v_read)
    if not np.isfinite(v):
        raise MappingError(f"--v-read must be finite, got {args.v_read}")
    path = netlists.write_deck(args.out, netlists.render(xb, np.full(xb.n_rows, v)))
    print(f"rramsim netlist: tile {args.tile} ({xb.n_rows} x {xb.n_cols}, "
          f"{xb.r_wordline:g}/{xb.r_bitline:g} ohm wires) -> {path}")
    return 0
