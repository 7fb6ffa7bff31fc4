"""The ``rramsim`` command.

Subcommands live beside the code they drive; each module named in ``SUBCOMMANDS`` exposes
``configure(parser)`` (adds its arguments) and ``run(args) -> int``; an entry ``"module:stem"``
names a module holding several commands as ``configure_<stem>`` and ``run_<stem>``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from rramsim import __version__

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "tile": ("rramsim.netlists.cli", "simulate one crossbar tile in ngspice and check it"),
    "prune": ("rramsim.nn.cli", "train a pruned random-weight network (edge-popup)"),
    "standins": ("rramsim.nn.cli_standins", "generate stand-in data sets (real size and format)"),
    "demo": ("rramsim.studies.cli:demo", "run the whole pipeline on the embedded default"),
    "irdrop": ("rramsim.studies.cli:irdrop", "IR-drop analysis of a network file"),
    "compare": ("rramsim.studies.cli:compare", "behavioural vs circuit simulation of a network"),
    "netlist": ("rramsim.studies.cli:netlist", "write one tile's ngspice deck"),
    "sweep": ("rramsim.studies.sweep.cli", "design-space sweep and Monte Carlo on Dask"),
    "programming-study": ("rramsim.studies.programming_study.cli",
                          "pruned random network vs precise programming at many precisions"),
    "import-torch": ("rramsim.torch_cli", "a PyTorch model (.pt weights) as an rramsim network file"),
}


def _available() -> dict[str, tuple[str, str]]:
    out = {}
    for name, (entry, help_) in SUBCOMMANDS.items():
        if importlib.util.find_spec(entry.partition(":")[0]) is not None:
            out[name] = (entry, help_)
    return out


def _command(entry: str, what: str):
    """The ``configure`` or ``run`` function of a SUBCOMMANDS entry (``module`` or ``module:stem``)."""
    module, _, stem = entry.partition(":")
    return getattr(importlib.import_module(module), f"{what}_{stem}" if stem else what)


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
        _command(module, "configure")(p)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while a command ran (raised by the handler :func:`main` installs).

    A KeyboardInterrupt, so every clean-up that runs on Ctrl-C runs on SIGTERM too.
    """


#: Exit statuses of an interrupted command (128 + the signal's number, as a shell reports it).
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def _raise_terminated(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Run the ``rramsim`` command; return its exit status.

    0 success; 1 a project error (printed as one line); 2 usage; 130 interrupted by SIGINT
    (Ctrl-C); 143 stopped by SIGTERM. On an interrupt, outputs already complete stay as they were
    and nothing half-written is left behind.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    import signal
    import threading

    from rramsim.errors import RramsimError

    in_main = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, _raise_terminated) if in_main else None
    code = 0
    try:
        code = int(_command(args._module, "run")(args) or 0)
    except RramsimError as exc:
        print(f"rramsim {args.command}: error: {exc}", file=sys.stderr)
        code = 1
    except Terminated:
        print(f"\nrramsim {args.command}: stopped by SIGTERM", file=sys.stderr)
        code = EXIT_SIGTERM
    except KeyboardInterrupt:
        print(f"\nrramsim {args.command}: interrupted", file=sys.stderr)
        code = EXIT_SIGINT
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, old_term if old_term is not None else signal.SIG_DFL)
    if code in (EXIT_SIGINT, EXIT_SIGTERM):
        ng = sys.modules.get("rramsim.netlists.ngspice")
        if ng is not None and ng.busy():
            # An abandoned operating point still runs inside libngspice's own thread and calls
            # back into Python; leave at once rather than let the interpreter shut down under it.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
