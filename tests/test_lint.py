"""The package, its scripts and its tests pass ruff with the project's rules (pyproject.toml:
style, imports, bugbear, NumPy, upgrades, and the complexity limits C90 / PLR0913 / PLR0915)."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    exe = Path(sys.executable).with_name("ruff")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("ruff")
    if found is None:
        raise AssertionError("ruff is not installed: it is a development dependency "
                             "(pip install -e '.[dev]', which `bash setup.sh test` does)")
    return [found]


def test_ruff_is_clean_with_the_complexity_rules():
    cfg = (ROOT / "pyproject.toml").read_text()
    for rule in ("C90", "PLR0913", "PLR0915"):
        assert f'"{rule}"' in cfg, f"ruff rule {rule} is not selected in pyproject.toml"
    run = subprocess.run([*_ruff(), "check", "--no-cache", "rramsim", "scripts", "tests"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
