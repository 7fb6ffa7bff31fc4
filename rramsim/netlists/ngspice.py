"""Running ngspice: PySpice's shared-library mode, or ``ngspice -b`` in a subprocess as a fallback.

This is the one module of :mod:`rramsim.netlists` that does I/O. :func:`run` loads a deck once and runs
a list of steps; each step is a list of interactive ngspice commands (``alter ...``, ``op``,
``tran ...``) and yields the vectors of the plot it produced, at full double precision:

* shared mode reads the vectors straight out of ngspice's memory (``ngGet_Vec_Info``);
* the subprocess writes each plot to a binary rawfile (``write``), which is parsed here.

Keys are lower case: ``"v(node)"`` for node voltages, ``"i(source)"`` for branch currents, and the
plot's scale by its own name (``"time"``, ``"v-sweep"``, ...).

Interrupts, timeouts and memory
-------------------------------
* In shared mode each analysis (``op``, ``dc``, ``tran``, ...) runs in ngspice's background thread
  (``bg_<command>``) while the calling thread waits in Python, so Ctrl-C (SIGINT) and SIGTERM reach
  Python at once instead of being swallowed inside one of PySpice's cffi callbacks. While a run is
  in progress both signals are only noted; the run is abandoned and the signal is re-delivered to
  the handler that was installed before (``KeyboardInterrupt`` for SIGINT). An ``op`` cannot be
  stopped inside ngspice; an abandoned one finishes in the background thread and the next run
  waits for it (see :func:`busy`).
* The subprocess runs in its own session; on an interrupt, an error or a timeout its whole process
  group is killed.
* Every run has a time limit (:func:`default_timeout`, scaled to the deck's size by
  :func:`estimate`; ``timeout=`` or the environment variable ``RRAMSIM_NGSPICE_TIMEOUT`` in seconds
  override it). A run that exceeds it raises :class:`SpiceError`.
* The shared library frees each circuit after its run (``destroy all``, ``remcirc``): without that
  ngspice keeps every circuit ever loaded (about 1.2 MB per 16 x 16 tile).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
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

#: Environment variable that sets the time limit of every ngspice run, seconds.
TIMEOUT_ENV = "RRAMSIM_NGSPICE_TIMEOUT"
#: The default time limit is at least this many seconds (a 16 x 16 tile runs in well under a
#: second, a 64 x 64 one in 3-20 s on a quiet to heavily loaded 2-core machine) ...
TIMEOUT_MIN = 10.0
#: ... and at least this many times the run's estimated duration.
TIMEOUT_FACTOR = 20.0

_lock = threading.RLock()
_shared = None  # the process-wide NgSpiceShared instance, once loaded
_shared_failure: str | None = None
_abandoned = False  # an interrupted or timed-out analysis may still run in ngspice's thread

# Commands that create a plot: run in ngspice's background thread in shared mode.
_ANALYSES = ("op", "dc", "tran", "ac", "noise", "tf", "sens", "pz", "disto", "run")


def _library_path() -> str | None:
    env = os.environ.get("NGSPICE_LIBRARY_PATH")
    if env:
        return env
    import ctypes.util

    return ctypes.util.find_library("ngspice")


def _shared_class():
    """PySpice's NgSpiceShared, with a background-thread callback that records when a run ends.

    (PySpice's own callback returns None where ngspice expects an int, which cffi reports as
    "Exception ignored from cffi callback" on every background run.)
    """
    from PySpice.Spice.NgSpice.Shared import NgSpiceShared, ffi

    class _Shared(NgSpiceShared):
        _instances: dict = {}

        def __init__(self, *args, **kwargs):
            self.bg_done = threading.Event()
            self.bg_done.set()
            super().__init__(*args, **kwargs)

        @staticmethod
        def _background_thread_running(exited, ngspice_id, user_data):
            self = ffi.from_handle(user_data)
            self._is_running = not exited
            if exited:  # ngspice passes its "thread has exited" flag
                self.bg_done.set()
            return 0

    return _Shared


def _restore_python_signal_handlers() -> None:
    """ngSpice_Init installs its own C-level SIGINT handler; put Python's back (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if handler is not None:
            signal.signal(sig, handler)


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
        cls = _shared_class()
        cls.LIBRARY_PATH = path
        _shared = cls.new_instance()
    except Exception as exc:  # noqa: BLE001 - any load failure means: use the subprocess
        _shared_failure = f"{type(exc).__name__}: {exc}"
        log.info("ngspice shared library unavailable (%s); using the ngspice binary", exc)
        return None
    finally:
        _restore_python_signal_handlers()
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


def busy() -> bool:
    """True while an interrupted or timed-out analysis still runs in the shared library's thread."""
    return bool(_abandoned and _shared is not None and not _shared.bg_done.is_set())


# ---------------------------------------------------------------------------------- cost model
# ngspice's operating point of a crossbar tile (sparse LU with Markowitz pivoting) measured on this
# project's 2-core machine, one input, wires on both lines (ngspice 39): 16 x 16 0.03-0.05 s,
# 32 x 32 0.09-0.12 s, 48 x 48 0.38-0.43 s, 64 x 64 1.5-2.0 s, 96 x 96 21-28 s; peak memory
# 48 MB (64 x 64) and 100 MB (96 x 96) above the Python process. The model below is fitted
# to the upper end of these figures in the number of deck elements E (about 3 per cell).
_E_REF = 12_500          # elements of a 64 x 64 tile with wires
_T_REF = 2.0             # seconds per operating point at _E_REF
_T_EXP = 3.2             # growth exponent fitted between 64 x 64 and 96 x 96
_T_BASE = 0.02           # per-step overhead, seconds
_BYTES_PER_ELEMENT = 4_000
_BYTES_BASE = 40e6


def estimate(n_elements: int, n_steps: int = 1) -> tuple[float, float]:
    """Estimated (seconds, bytes) of ``n_steps`` operating points of a deck of ``n_elements``.

    Arithmetic only (nothing is allocated); see the measurements above. A crossbar tile with
    wires has about ``3 * M * N`` elements.
    """
    e = max(float(n_elements), 1.0)
    per_op = _T_BASE + _T_REF * (e / _E_REF) ** _T_EXP
    return float(n_steps) * per_op, _BYTES_BASE + _BYTES_PER_ELEMENT * e


def default_timeout(estimated_seconds: float, env_name: str = TIMEOUT_ENV) -> float:
    """The time limit of a run: the environment variable ``env_name`` (seconds) if set, else
    ``max(TIMEOUT_MIN, TIMEOUT_FACTOR * estimated_seconds)``. VACASK's runs use the same rule
    with their own estimate and variable (:func:`rramsim.netlists.vacask.run`)."""
    env = os.environ.get(env_name)
    if env:
        try:
            value = float(env)
        except ValueError:
            value = float("nan")
        if not np.isfinite(value) or value <= 0:
            raise SpiceError(f"{env_name} must be a positive number of seconds, got {env!r}")
        return value
    return max(TIMEOUT_MIN, TIMEOUT_FACTOR * float(estimated_seconds))


def _count_elements(deck: str) -> int:
    return sum(1 for ln in deck.splitlines()
               if ln.strip() and ln.lstrip()[0] not in "*.+")


def run(deck: str, steps: Sequence[Sequence[str]], *, backend: Backend = "auto",
        timeout: float | None = None, progress: bool = False) -> list[dict[str, np.ndarray]]:
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
    timeout : float, optional
        Time limit of the whole run, seconds; default :func:`default_timeout` of :func:`estimate`.
    progress : bool
        Show a progress bar (elapsed time against the estimate) on stderr.

    Raises
    ------
    SpiceError
        ngspice is missing, rejects the deck or a command, a step produced no plot, or the run
        exceeded its time limit; the message carries ngspice's own output.
    KeyboardInterrupt
        SIGINT arrived during the run (the run is abandoned; see the module docstring).
    """
    if not isinstance(deck, str):
        raise SpiceError(f"deck must be the netlist as a str, got {type(deck).__name__}")
    if isinstance(steps, str) or not all(
            isinstance(st, Sequence) and not isinstance(st, str) for st in steps):
        raise SpiceError("steps must be a list of steps, each a list of command strings")
    steps = [list(st) for st in steps]
    if not steps or any(not st for st in steps):
        raise SpiceError("run needs at least one step, each with at least one command")
    if not all(isinstance(cmd, str) for st in steps for cmd in st):
        raise SpiceError("steps must hold ngspice commands as str")
    if backend not in ("auto", "shared", "subprocess"):
        raise SpiceError(f"backend must be 'auto', 'shared' or 'subprocess', got {backend!r}")
    est, _ = estimate(_count_elements(deck), len(steps))
    if timeout is None:
        timeout = default_timeout(est)
    else:
        try:
            timeout = float(timeout)
        except (TypeError, ValueError):
            timeout = float("nan")
        if not np.isfinite(timeout) or timeout <= 0:
            raise SpiceError(f"timeout must be a positive number of seconds, got {timeout!r}")
    clock = _Clock(timeout, est, progress)
    try:
        if backend in ("auto", "shared"):
            with _lock:
                ng = _get_shared()
                if ng is not None:
                    return _run_shared(ng, deck, steps, clock)
            if backend == "shared":
                raise SpiceError(f"ngspice shared library cannot be loaded ({_shared_failure}); "
                                 + INSTALL_HINT)
        return _run_subprocess(deck, steps, clock)
    finally:
        clock.close()


_ERROR_PATTERN = re.compile(
    r"error|singular matrix|timestep too small|no convergence|no such command|unknown|"
    r"not parsed|can't find|cannot|could not", re.IGNORECASE)


def _error_lines(text: str) -> list[str]:
    """ngspice's lines that mean the result must not be trusted (errors, singular matrices)."""
    return [ln.strip() for ln in text.splitlines() if _ERROR_PATTERN.search(ln)]


class _Clock:
    """A run's deadline and its optional progress bar (elapsed seconds against the estimate)."""

    def __init__(self, timeout: float, estimate_s: float, progress: bool) -> None:
        self.timeout = timeout
        self.start = time.monotonic()
        self.deadline = self.start + timeout
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=max(round(estimate_s, 1), 0.1), unit="s", leave=False,
                            desc="ngspice (est. time)", bar_format="{desc}: {percentage:3.0f}%|"
                            "{bar}| {n:.1f}/{total:.1f} s")

    def tick(self) -> None:
        if self.bar is not None:
            self.bar.n = round(min(time.monotonic() - self.start, self.bar.total), 1)
            self.bar.refresh()

    def expired(self) -> bool:
        return time.monotonic() > self.deadline

    def timeout_error(self, what: str) -> SpiceError:
        return SpiceError(f"ngspice {what} did not finish within its time limit of "
                          f"{self.timeout:.0f} s (set timeout= or {TIMEOUT_ENV} to change it)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Interrupted(BaseException):
    """Internal: a signal arrived during a run; the guard re-delivers it on the way out."""


class _SignalGuard:
    """Note SIGINT / SIGTERM during a run instead of raising inside an ngspice callback.

    On exit the noted signal is re-delivered to the handler that was installed before, so the
    caller sees ``KeyboardInterrupt`` (or its own SIGTERM handling) right after ngspice returns.
    Outside the main thread (where Python delivers no signals) it does nothing.
    """

    def __init__(self) -> None:
        self.pending: int | None = None
        self.old: dict[int, object] = {}

    def __enter__(self) -> _SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                old = signal.getsignal(sig)
                if old in (signal.SIG_IGN, None):
                    continue
                self.old[sig] = old
                signal.signal(sig, self._note)
        return self

    def _note(self, signum, frame) -> None:
        if self.pending is None:
            self.pending = signum

    def check(self) -> None:
        if self.pending is not None:
            raise _Interrupted(self.pending)

    def __exit__(self, exc_type, exc, tb) -> bool:
        for sig, handler in self.old.items():
            signal.signal(sig, handler)
        if self.pending is not None:
            signal.raise_signal(self.pending)  # the previous handler runs here
            if exc_type is _Interrupted:
                raise SpiceError(f"ngspice run stopped by signal {self.pending}") from None
        return False


# ---------------------------------------------------------------------------------- shared mode
def _vector_key(name: str, kind: str) -> str:
    name = name.lower()
    if name.endswith("#branch"):
        return f"i({name[:-7]})"
    if kind == "voltage" and not name.startswith("@") and name not in ("v-sweep",):
        return f"v({name})"
    return name


def _command(ng, cmd: str, guard: _SignalGuard) -> str:
    """Run one command in the foreground; return its output (ngspice judged by the caller)."""
    from PySpice.Spice.NgSpice.Shared import NgSpiceCommandError

    try:
        ng.exec_command(cmd)
    except NgSpiceCommandError:
        pass  # PySpice flags any stderr line that is not a warning, notes included; judged here
    out = ng.stdout + "\n" + ng.stderr
    if "Interrupted" in ng.stderr and guard.pending is None:
        guard.pending = signal.SIGINT  # ngspice's own handler caught a Ctrl-C during the command
    guard.check()
    return out


def _background(ng, cmd: str, clock: _Clock, guard: _SignalGuard) -> str:
    """Run an analysis in ngspice's background thread; wait for it in Python."""
    global _abandoned
    ng.bg_done.clear()
    _command(ng, "bg_" + cmd, guard)
    try:
        while not ng.bg_done.wait(0.05):
            guard.check()
            clock.tick()
            if clock.expired():
                raise clock.timeout_error(f"command {cmd!r}")
    except BaseException:
        _abandoned = True
        if cmd.split(None, 1)[0].lower() != "op":  # ngspice cannot stop an 'op': don't wait 1 s
            try:
                ng.exec_command("bg_halt")  # stops sweeps and transient runs
            except Exception:  # noqa: BLE001
                pass
        raise
    clock.tick()
    return ng.stdout + "\n" + ng.stderr


def _wait_idle(ng, clock: _Clock, guard: _SignalGuard) -> None:
    """Wait for an analysis abandoned by an earlier run; then free what it left behind."""
    global _abandoned
    if not _abandoned:
        return
    while not ng.bg_done.wait(0.05):
        guard.check()
        if clock.expired():
            raise SpiceError("ngspice is still busy with an earlier run that was interrupted "
                             "or timed out")
    _abandoned = False
    _free(ng)


def _free(ng) -> None:
    """Destroy every plot and remove the loaded circuit (ngspice keeps both otherwise)."""
    from PySpice.Spice.NgSpice.Shared import NgSpiceCommandError

    for cmd in ("destroy all", "remcirc"):
        try:
            ng.exec_command(cmd)
        except NgSpiceCommandError:
            pass


def _run_shared(ng, deck: str, steps: list[list[str]], clock: _Clock
                ) -> list[dict[str, np.ndarray]]:
    lines = [ln for ln in deck.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not re.match(r"\s*\.(op|tran|dc|ac)\b", ln, re.IGNORECASE)]
    with _SignalGuard() as guard:
        _wait_idle(ng, clock, guard)
        try:
            ng.load_circuit("\n".join(lines))
        except Exception as exc:  # noqa: BLE001
            guard.check()
            _free(ng)
            raise SpiceError(f"ngspice rejected the deck: {exc}\n{ng.stdout}\n{ng.stderr}") from exc
        guard.check()
        try:
            if "circuit not parsed" in ng.stdout.lower() or "error" in ng.stderr.lower():
                raise SpiceError(f"ngspice rejected the deck:\n{ng.stdout}\n{ng.stderr}")
            return _shared_steps(ng, steps, clock, guard)
        finally:
            if not _abandoned:
                _free(ng)


def _shared_steps(ng, steps, clock: _Clock, guard: _SignalGuard) -> list[dict[str, np.ndarray]]:
    results = []
    voltage = ng.simulation_type.voltage
    for step in steps:
        before = ng.plot_names[0] if ng.plot_names else None
        for cmd in step:
            verb = cmd.split(None, 1)[0].lower() if cmd.strip() else ""
            if verb in _ANALYSES:
                text = _background(ng, cmd, clock, guard)
            else:
                text = _command(ng, cmd, guard)
            bad = _error_lines(text)
            if bad:
                raise SpiceError(f"ngspice command {cmd!r} failed: " + "; ".join(bad)
                                 + f"\n--- ngspice output ---\n{text}")
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
def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process that survives SIGKILL
        pass


def _run_subprocess(deck: str, steps: list[list[str]], clock: _Clock
                    ) -> list[dict[str, np.ndarray]]:
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
        out_path, err_path = tmpdir / "stdout.txt", tmpdir / "stderr.txt"
        with open(out_path, "wb") as fout, open(err_path, "wb") as ferr:
            # Own session: a Ctrl-C at the terminal reaches Python only, and the whole group
            # (ngspice and anything it started) is killed on an interrupt, error or timeout.
            proc = subprocess.Popen([exe, "-b", str(path)], stdin=subprocess.DEVNULL,
                                    stdout=fout, stderr=ferr, cwd=tmp, start_new_session=True)
            try:
                while True:
                    try:
                        proc.wait(timeout=0.1)
                        break
                    except subprocess.TimeoutExpired:
                        clock.tick()
                        if clock.expired():
                            raise clock.timeout_error(f"binary {exe}") from None
            except BaseException:
                _kill_group(proc)
                raise
        stdout = out_path.read_text(errors="replace")
        stderr = err_path.read_text(errors="replace")
        out = []
        for k, step in enumerate(steps):
            raw = tmpdir / f"step{k}.raw"
            if not raw.exists():
                raise SpiceError(f"ngspice produced no result for step {step!r} "
                                 f"(exit code {proc.returncode}):\n{stdout}\n{stderr}")
            out.append(read_rawfile(raw.read_bytes()))
        errors = _error_lines(stdout + "\n" + stderr)
        if errors:
            raise SpiceError("ngspice reported errors: " + "; ".join(errors)
                             + f"\n--- ngspice output ---\n{stdout}\n{stderr}")
    return out


def read_rawfile(data: bytes) -> dict[str, np.ndarray]:
    """Parse the first plot of an ngspice/SPICE3 binary rawfile (real data) into named vectors."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SpiceError(f"a rawfile is read from bytes, got {type(data).__name__}")
    data = bytes(data)
    marker = b"Binary:\n"
    pos = data.find(marker)
    if pos < 0:
        raise SpiceError("not a binary rawfile (no 'Binary:' section)")
    n_vars, n_points, names = _rawfile_header(data[:pos].decode("ascii", errors="replace"))
    values = np.frombuffer(data, dtype="<f8", count=n_vars * n_points, offset=pos + len(marker))
    values = values.reshape(n_points, n_vars)
    return {_rawfile_key(name, kind): values[:, k].copy() for k, (name, kind) in enumerate(names)}


def _rawfile_header(text: str) -> tuple[int, int, list[tuple[str, str]]]:
    """Number of variables, number of points and each variable's (name, kind) of a rawfile."""
    n_vars = n_points = None
    names: list[tuple[str, str]] = []
    in_vars = False
    for line in text.splitlines():
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
    return n_vars, n_points, names


def _rawfile_key(name: str, kind: str) -> str:
    """The name a rawfile vector is returned under: ``v(node)`` for voltages, ``i(source)`` for
    branch currents (ngspice's ``source#branch``), lower case."""
    name = name.lower()
    if name.startswith("i(") and kind == "current":
        return name
    if name.startswith("v(") and kind == "voltage":
        return name
    if name.endswith("#branch"):
        return f"i({name[:-7]})"
    if kind == "voltage":
        return f"v({name})"
    return name
