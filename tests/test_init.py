"""Import hygiene: ``import rramsim`` stays light: no PySpice, matplotlib or pandas at import."""

import subprocess
import sys


def test_import_loads_no_heavy_modules():
    """Every subpackage, and the CLI with all subcommands configured, loads none of the heavy ones."""
    code = (
        "import sys, rramsim, rramsim.crossbar, rramsim.solution, rramsim.errors, rramsim.cli\n"
        "import rramsim.devmodel, rramsim.netlists, rramsim.solver, rramsim.mapper, rramsim.nn\n"
        "import rramsim.studies\n"
        "rramsim.cli.build_parser()\n"
        "heavy = ('PySpice', 'pandas', 'matplotlib', 'sklearn', 'tqdm')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import rramsim loaded: {out.stdout.strip()}"


def test_cli_help_and_version():
    out = subprocess.run([sys.executable, "-m", "rramsim", "--version"], capture_output=True,
                         text=True, check=True)
    import rramsim

    assert out.stdout.strip() == f"rramsim {rramsim.__version__}"
    out = subprocess.run([sys.executable, "-m", "rramsim", "--help"], capture_output=True,
                         text=True, check=True)
    assert "tile" in out.stdout
