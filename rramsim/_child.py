"""A ``rramsim`` command in a child process, and a reader of its output.

The interrupt tests and the reliability benchmark start a command, wait until its output says it
is inside ngspice, then signal it. :func:`start` runs ``python -m rramsim ARGS`` with this
package first on the child's path (the child runs the same rramsim as its parent), unbuffered,
stderr merged into stdout; :class:`OutputWatch` reads that output on a thread, as bytes (tqdm
writes carriage returns, not lines), and tells when a marker has appeared.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["OutputWatch", "ROOT", "start"]


def start(*args: str, cwd: str | os.PathLike) -> subprocess.Popen:
    """``python -m rramsim ARGS`` in ``cwd``; its output (stdout and stderr) on ``proc.stdout``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "rramsim", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


class OutputWatch:
    """Everything a child process writes, read on a daemon thread, and when ``marker`` appeared."""

    def __init__(self, proc: subprocess.Popen, marker: bytes):
        self.marker = marker
        self._seen = bytearray()
        self._found = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        while chunk := stream.read1(4096):
            self._seen.extend(chunk)
            if self.marker in self._seen:
                self._found.set()

    def wait(self, timeout: float) -> bool:
        """True once the marker has appeared; False if it did not within ``timeout`` seconds."""
        return self._found.wait(timeout)

    def text(self, join_timeout: float = 5.0) -> str:
        """The output so far (after the process ended: all of it, once the reader has finished,
        waiting at most ``join_timeout`` seconds for that)."""
        self._thread.join(join_timeout)
        return self._seen.decode(errors="replace")
