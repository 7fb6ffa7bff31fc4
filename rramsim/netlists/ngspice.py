"""Running ngspice: PySpice's shared-library mode, or ``ngspice -b`` in a subprocess as a fallback.

This is the one module of :mod:`rramsim.netlists` that does I/O. :func:`run` loads a deck once and runs
a list of steps; each step is a list of interactive ngspice commands (``alter ...``, ``op``,
``tran ...``) and yields the vectors of the plot it produced, at full double precision:

* shared mode reads the vectors straight out of ngspice's memory (``ngGet_Vec_Info``);
* the subprocess writes each plot to a binary rawfile (``write``), which is parsed here.

Keys are lower case: ``"v(node)"`` for node voltages, ``"i(source)"`` for branch currents, and the
plot's scale by its own name (``"time"``, ``"v-sweep"``, ...).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from rramsim.errors import SpiceError

log = logging.getLogger(__name__)

Backend = Literal["auto", "shared", "subprocess"]

INSTALL_HINT = (
    "install ngspice from Debian's packages: apt-get install ngspice libngspice0 "
    "(or set NGSPICE_LIBRARY_PATH to libngspice.so)"
)

_lock = threading.Lock()
_shared = None  # the process-wide NgSpiceShared instance, once loaded
_shared_failure: str | None = None


def _library_path() -> str | None:
    env = os.environ.get("NGSPICE_LIBRARY_PATH")
    if env:
        return env
    import ctypes.util

    return ctypes.util.find_library("ngspice")


def _get_shared():
    """The NgSpiceShared instance, or None (with the reason kept) when the library cannot load."""
    global _shared, _shared_failure
    if _shared is not None or _shared_failure is not None:
        return _shared
    path = _library_path()
    if path is None:
        _shared_failure = "libngspice not found"
        return None
    try:
        logging.getLogger("PySpice").setLevel(logging.ERROR)  # "Unsupported Ngspice version 39"
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared

        NgSpiceShared.LIBRARY_PATH = path
        _shared = NgSpiceShared.new_instance()
    except Exception as exc:  # noqa: BLE001 - any load failure means: use the subprocess
        _shared_failure = f"{type(exc).__name__}: {exc}"
        log.info("ngspice shared library unavailable (%s); using the ngspice binary", exc)
        return None
    return _shared


def available_backend() -> str:
    """Which backend :func:`run` with ``backend="auto"`` uses: "shared" or "subprocess".

    Raises
    ------
    SpiceError
        When neither the shared library nor the ``ngspice`` binary is there.
    """
    with _lock:
        if _get_shared() is not None:
            return "shared"
    if shutil.which("ngspice"):
        return "subprocess"
    raise SpiceError(f"ngspice is missing (shared library: {_shared_failure}; no 'ngspice' "
                     f"binary on PATH): {INSTALL_HINT}")


def run(deck: str, steps: Sequence[Sequence[str]], *, backend: Backend = "auto"
        ) -> list[dict[str, np.ndarray]]:
    """Load ``deck`` once and run each step's commands; return one dict of vectors per step.

    Parameters
    ----------
    deck : str
        A complete netlist (title line first, ``.end`` last). Analysis cards in it are not run;
        the steps say what to run.
    steps : sequence of sequences of str
        Interactive commands per step; the last one of each step must create a plot (``op``, ``dc``,
        ``tran``, ...).
    backend : {"auto", "shared", "subprocess"}
        "auto" uses the shared library when it loads, else the binary.

    Raises
    ------
    SpiceError
        ngspice is missing, rejects the deck or a command, or a step produced no plot; the message
        carries ngspice's own output.
    """
    steps = [list(s) for s in steps]
    if not steps or any(not s for s in steps):
        raise SpiceError("run needs at least one step, each with at least one command")
    if backend not in ("auto", "shared", "subprocess"):
        raise SpiceError(f"backend must be 'auto', 'shared' or 'subprocess', got {backend!r}")
    if backend in ("auto", "shared"):
        with _lock:
            ng = _get_shared()
            if ng is not None:
                return _run_shared(ng, deck, steps)
        if backend == "shared":
            raise SpiceError(f"ngspice shared library cannot be loaded ({_shared_failure}); "
                             + INSTALL_HINT)
    return _run_subprocess(deck, steps)


_ERROR_PATTERN = re.compile(
    r"error|singular matrix|timestep too small|no convergence|no such command|unknown|"
    r"not parsed|can't find|cannot|could not", re.IGNORECASE)


def _error_lines(text: str) -> list[str]:
    """ngspice's lines that mean the result must not be trusted (errors, singular matrices)."""
    return [ln.strip() for ln in text.splitlines() if _ERROR_PATTERN.search(ln)]


# ---------------------------------------------------------------------------------- shared mode
def _vector_key(name: str, kind: str) -> str:
    name = name.lower()
    if name.endswith("#branch"):
        return f"i({name[:-7]})"
    if kind == "voltage" and not name.startswith("@") and name not in ("v-sweep",):
        return f"v({name})"
    return name


def _run_shared(ng, deck: str, steps: list[list[str]]) -> list[dict[str, np.ndarray]]:
    from PySpice.Spice.NgSpice.Shared import NgSpiceCommandError

    lines = [ln for ln in deck.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not re.match(r"\s*\.(op|tran|dc|ac)\b", ln, re.IGNORECASE)]
    try:
        ng.load_circuit("\n".join(lines))
    except Exception as exc:  # noqa: BLE001
        raise SpiceError(f"ngspice rejected the deck: {exc}\n{ng.stdout}\n{ng.stderr}") from exc
    if "circuit not parsed" in ng.stdout.lower() or "error" in ng.stderr.lower():
        raise SpiceError(f"ngspice rejected the deck:\n{ng.stdout}\n{ng.stderr}")
    results = []
    voltage = ng.simulation_type.voltage
    # (ngspice 39 ignores 'remcirc' in shared mode: loaded circuits stay; their plots are destroyed.)
    for step in steps:
        before = ng.plot_names[0] if ng.plot_names else None
        for cmd in step:
            try:
                ng.exec_command(cmd)
            except NgSpiceCommandError:
                # PySpice flags any stderr line that is not a warning, notes included; judge here.
                pass
            bad = _error_lines(ng.stdout + "\n" + ng.stderr)
            if bad:
                raise SpiceError(f"ngspice command {cmd!r} failed: " + "; ".join(bad)
                                 + f"\n--- ngspice output ---\n{ng.stdout}\n{ng.stderr}")
        plot_name = ng.last_plot
        if plot_name == before or plot_name == "const":
            raise SpiceError(f"step {step!r} produced no plot:\n{ng.stdout}\n{ng.stderr}")
        plot = ng.plot(None, plot_name)
        out = {}
        for name, vec in plot.items():
            kind = "voltage" if vec._type == voltage else "other"
            out[_vector_key(name, kind)] = np.array(vec._data, dtype=float)
        results.append(out)
        ng.destroy(plot_name)
    return results


# ---------------------------------------------------------------------------------- subprocess
def _run_subprocess(deck: str, steps: list[list[str]]) -> list[dict[str, np.ndarray]]:
    exe = shutil.which("ngspice")
    if exe is None:
        raise SpiceError(f"ngspice is missing (no 'ngspice' binary on PATH): {INSTALL_HINT}")
    lines = [ln for ln in deck.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not re.match(r"\s*\.(op|tran|dc|ac|end)\b", ln, re.IGNORECASE)]
    with tempfile.TemporaryDirectory(prefix="rramsim-ngspice-") as tmp:
        tmpdir = Path(tmp)
        control = [".control", "set filetype=binary"]
        for k, step in enumerate(steps):
            control.extend(step)
            control.append(f"write {tmpdir / f'step{k}.raw'}")
            control.append("destroy all")
        control += ["quit", ".endc", ".end"]
        path = tmpdir / "deck.cir"
        path.write_text("\n".join(lines + control) + "\n")
        try:
            proc = subprocess.run([exe, "-b", str(path)], capture_output=True, text=True,
                                  timeout=3600, cwd=tmp)
        except subprocess.TimeoutExpired as exc:
            raise SpiceError("ngspice did not finish within an hour") from exc
        out = []
        for k, step in enumerate(steps):
            raw = tmpdir / f"step{k}.raw"
            if not raw.exists():
                raise SpiceError(f"ngspice produced no result for step {step!r} "
                                 f"(exit code {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
            out.append(read_rawfile(raw.read_bytes()))
        errors = _error_lines(proc.stdout + "\n" + proc.stderr)
        if errors:
            raise SpiceError("ngspice reported errors: " + "; ".join(errors)
                             + f"\n--- ngspice output ---\n{proc.stdout}\n{proc.stderr}")
    return out


def read_rawfile(data: bytes) -> dict[str, np.ndarray]:
    """Parse the first plot of an ngspice/SPICE3 binary rawfile (real data) into named vectors."""
    marker = b"Binary:\n"
    pos = data.find(marker)
    if pos < 0:
        raise SpiceError("not a binary rawfile (no 'Binary:' section)")
    header = data[:pos].decode("ascii", errors="replace").splitlines()
    n_vars = n_points = None
    names: list[tuple[str, str]] = []
    in_vars = False
    for line in header:
        if line.startswith("Flags:") and "complex" in line:
            raise SpiceError("complex rawfiles are not supported")
        if line.startswith("No. Variables:"):
            n_vars = int(line.split(":")[1])
        elif line.startswith("No. Points:"):
            n_points = int(line.split(":")[1])
        elif line.startswith("Variables:"):
            in_vars = True
        elif in_vars:
            parts = line.split()
            if len(parts) >= 3:
                names.append((parts[1], parts[2]))
    if n_vars is None or n_points is None or len(names) != n_vars:
        raise SpiceError("malformed rawfile header")
    values = np.frombuffer(data, dtype="<f8", count=n_vars * n_points, offset=pos + len(marker))
    values = values.reshape(n_points, n_vars)
    out = {}
    for k, (name, kind) in enumerate(names):
        name = name.lower()
        if name.startswith("i(") and kind == "current":
            key = name
        elif name.startswith("v(") and kind == "voltage":
            key = name
        elif name.endswith("#branch"):
            key = f"i({name[:-7]})"
        elif kind == "voltage":
            key = f"v({name})"
        else:
            key = name
        out[key] = values[:, k].copy()
    return out
