"""``rramsim netlist``: registered by :mod:`rramsim.cli` under this module name; the command lives in
:mod:`rramsim.studies.cli` with the other study subcommands."""

from rramsim.studies.cli import configure_netlist as configure
from rramsim.studies.cli import run_netlist as run

__all__ = ["configure", "run"]
