"""The ``rramsim`` command.

Subcommands live beside the code they drive; each module named in ``SUBCOMMANDS`` exposes
``configure(parser)`` (adds its arguments) and ``run(args) -> int``. Modules are imported only when
their subcommand runs, so ``rramsim --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rramsim import __version__

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "tile": ("rramsim.netlists.cli", "simulate one crossbar tile in ngspice and check it"),
    "prune": ("rramsim.nn.cli", "train a pruned random-weight network (edge-popup)"),
    "demo": ("rramsim.studies.cli_demo", "run the whole pipeline on the embedded default"),
    "irdrop": ("rramsim.studies.cli_irdrop", "IR-drop analysis of a network file"),
    "compare": ("rramsim.studies.cli_compare", "behavioural vs circuit simulation of a network"),
    "netlist": ("rramsim.studies.cli_netlist", "write one tile's ngspice deck"),
    "sweep": ("rramsim.studies.sweep_cli", "design-space sweep and Monte Carlo on Dask"),
}


def _available() -> dict[str, tuple[str, str]]:
    out = {}
    for name, (module, help_) in SUBCOMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            out[name] = (module, help_)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rramsim",
        description="Circuit-level co-simulation of analogue RRAM neural networks "
        "(ngspice netlists and a fast nodal solver).",
    )
    parser.add_argument("--version", action="version", version=f"rramsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in _available().items():
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(_module=module)
        importlib.import_module(module).configure(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from rramsim.errors import RramsimError

    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except RramsimError as exc:
        print(f"rramsim {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
