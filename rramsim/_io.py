"""Atomic file writes, used wherever rramsim writes a file.

A reader never sees a half-written file: the content goes to a temporary file beside the target,
is flushed to disk and renamed over the target in one step (atomic on POSIX file systems). On any
error (or Ctrl-C) the temporary file is removed and the target is left as it was.

Permissions are those of an ordinary write: a new file gets ``0666 & ~umask`` (0644 under the
usual umask 022), a file that is replaced keeps its mode. A target that is a symbolic link is
followed: the file it points to is replaced and the link stays.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def current_umask() -> int:
    """The process's umask, read without changing it (Linux ``/proc``), else by setting it back."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def resolve_target(path: str | os.PathLike) -> Path:
    """The file a write to ``path`` must replace: symbolic links followed, the link kept."""
    path = Path(path)
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    Parent directories are created. ``mode`` is "wb" or "w" (UTF-8 text).

    Raises
    ------
    OutputError
        The file cannot be written (its folder is not writable, it is a directory, the disk is
        full, ...); the message names the path and the system's reason.
    """
    from rramsim.errors import OutputError

    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes only ('wb' or 'w'), got {mode!r}")
    if str(path).strip() == "":
        raise OutputError("cannot write a file with an empty name")
    path = resolve_target(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            perm = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            perm = 0o666 & ~current_umask()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fchmod(fh.fileno(), perm)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; create parent directories. Returns the path."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))
