"""Arguments shared by the study subcommands (``demo``, ``irdrop``, ``compare``, ``netlist``)."""

from __future__ import annotations

import argparse
import shlex
import sys


def add_config_args(parser: argparse.ArgumentParser, *, network: bool) -> None:
    """``--config FILE`` (TOML), ``--seed N`` (overrides ``run.seed``), optionally ``--network``."""
    parser.add_argument("--config", metavar="TOML",
                        help="study configuration (TOML; every key carries its unit, see "
                             "rramsim.studies.config); default values otherwise")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed (overrides [run] seed of the configuration)")
    if network:
        parser.add_argument("--network", metavar="FILE", default=None,
                            help="network file written by `rramsim prune --out` (overrides "
                                 "[network] path); default: the embedded digits network")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def load_config_from_args(args: argparse.Namespace):
    """The validated configuration with command-line overrides applied."""
    from rramsim.studies.config import load_config

    cfg = load_config(getattr(args, "config", None))
    if getattr(args, "seed", None) is not None:
        cfg = cfg.replace("run", seed=int(args.seed))
    if getattr(args, "network", None):
        cfg = cfg.replace("network", path=str(args.network))
    return cfg


def command_line() -> str:
    """The command as typed (program name normalised to ``rramsim``)."""
    argv = list(sys.argv[1:])
    return "rramsim " + " ".join(shlex.quote(a) for a in argv)


def run_folder(args: argparse.Namespace):
    """The transactional output folder of a study command (:class:`rramsim._rundir.RunFolder`):
    ``--out`` is checked before any work; a failed co-simulation check still keeps its report."""
    from rramsim._rundir import RunFolder
    from rramsim.studies.cosim import CosimError

    return RunFolder(args.out, overwrite=getattr(args, "overwrite", False),
                     command=command_line(), keep_on=(CosimError,))


def record_config(folder, cfg) -> None:
    """Put the configuration's hash and seed into the run's manifest."""
    from rramsim.studies.config import to_toml

    folder.record(config=to_toml(cfg), seed=cfg.run.seed)
