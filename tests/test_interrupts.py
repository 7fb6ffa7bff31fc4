"""Ctrl-C and SIGTERM stop a command promptly, ngspice included, and leave complete outputs intact.

Each test starts ``rramsim`` in a subprocess, waits until it is inside ngspice (from its own
output), sends the signal and requires the exit status of an interrupted command (130 for SIGINT,
143 for SIGTERM) within 3 s, with the earlier output folder or file unchanged and nothing
half-written beside it.
"""

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rramsim._child import OutputWatch
from rramsim._child import start as _start

STOP_WITHIN = 3.0  # seconds from the signal to the exit


@pytest.fixture(autouse=True)
def _ctrl_c_as_in_a_terminal():
    """Ctrl-C handled as in an interactive terminal, also when the suite itself was started with
    SIGINT ignored (a background job of a non-interactive shell): Python raises
    KeyboardInterrupt here, and the children start with SIGINT at its default (an ignored signal
    would be inherited, a handler is not)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _wait_for(proc: subprocess.Popen, marker: bytes, limit: float = 240.0):
    """Read the command's output until ``marker`` appears.

    Returns a function that, once the process has ended, gives its whole output.
    """
    watch = OutputWatch(proc, marker)
    if not watch.wait(limit):
        proc.kill()
        proc.wait()
        pytest.fail(f"never saw {marker!r}; output:\n{watch.text()[-3000:]}")
    return watch.text


def _check_clean_exit(text: str) -> None:
    """One line saying so, no traceback and no interrupt lost inside a cffi callback."""
    assert "Exception ignored" not in text and "Traceback" not in text, text[-3000:]
    assert "interrupted" in text or "stopped by SIGTERM" in text, text[-3000:]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _interrupt(proc: subprocess.Popen, sig: int) -> tuple[int, float]:
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"still running {STOP_WITHIN} s after signal {sig}")
    return rc, time.monotonic() - t0


@pytest.mark.slow
@pytest.mark.ngspice
def test_sigint_during_demo_cosimulation(tmp_path):
    out = tmp_path / "rramsim-demo"
    out.mkdir()
    (out / "report.md").write_text("an earlier, complete run\n")
    (out / "accuracy.csv").write_text("software,behavioural,circuit\n0.96,0.95,0.96\n")
    before = _snapshot(out)
    proc = _start("demo", "--quick", "--out", str(out), "--overwrite", cwd=tmp_path)
    output = _wait_for(proc, b"co-simulation")
    time.sleep(0.5)  # well inside ngspice: the check takes several seconds
    rc, _ = _interrupt(proc, signal.SIGINT)
    _check_clean_exit(output())
    proc.stdout.close()
    assert rc == 130
    assert _snapshot(out) == before  # the earlier run is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rramsim-demo"]  # no partial folder


@pytest.mark.slow
@pytest.mark.ngspice
@pytest.mark.parametrize("sig, code, backend", [(signal.SIGINT, 130, "shared"),
                                                 (signal.SIGINT, 130, "subprocess"),
                                                 (signal.SIGTERM, 143, "shared")])
def test_signal_during_a_large_tile(tmp_path, sig, code, backend):
    deck = tmp_path / "tile.cir"
    deck.write_text("* an earlier deck\n.end\n")
    # 100 x 100 with wires: about half a minute in ngspice, so the signal lands inside it.
    proc = _start("tile", "--rows", "100", "--cols", "100", "--force", "--backend", backend,
                  "--deck", str(deck), cwd=tmp_path)
    output = _wait_for(proc, b"ngspice running")
    time.sleep(0.5)
    rc, _ = _interrupt(proc, sig)
    _check_clean_exit(output())
    proc.stdout.close()
    assert rc == code
    assert deck.read_text() == "* an earlier deck\n.end\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tile.cir"]


@pytest.mark.ngspice
def test_sigint_in_process_reaches_python_and_ngspice_recovers():
    """In the shared library a Ctrl-C is neither swallowed in a cffi callback nor lost."""
    from rramsim import netlists
    from rramsim.crossbar import Crossbar
    from rramsim.netlists import ngspice

    big = Crossbar(np.full((64, 64), 1e-5), r_wordline=2.0, r_bitline=2.0)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            for _ in range(20):  # about 2 s each: the signal arrives during one of them
                netlists.simulate(big, np.full(64, 0.1), backend="shared")
    finally:
        timer.cancel()
    # The abandoned operating point finishes in ngspice's thread; the next run waits for it.
    # Its time limit covers that wait: on a loaded machine the abandoned 64 x 64 point alone
    # can outlast the 10 s a 2 x 2 tile gets by default.
    small = Crossbar(np.array([[1e-5, 2e-5], [3e-5, 4e-5]]))
    sol = netlists.simulate(small, [0.1, 0.2], backend="shared", timeout=600)
    np.testing.assert_allclose(sol.i_out, np.array([0.1, 0.2]) @ small.conductance, rtol=1e-12)
    assert not ngspice.busy()
