"""Output folders as transactions: a run's folder appears complete, or not at all.

A command that writes a folder of results (``rramsim demo``, ``compare``, ``irdrop``, ``prune``)
does so through :class:`RunFolder`:

1. Before any work the target is checked: ``--out ''`` and an existing file are refused, an
   existing non-empty folder is refused unless ``overwrite`` is given, and a fresh temporary
   sibling folder ``.<name>.partial-XXXX`` is created (which proves the parent is writable).
2. The run writes every file into that temporary folder.
3. On success a manifest ``run.json`` is added (command, configuration hash, seed, rramsim
   version, start and end time in UTC, and every file with its size and SHA-256) and the folder is
   renamed into place in one step. With ``overwrite`` an existing folder is exchanged for the new
   one atomically (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames) and then deleted,
   so the target holds either the old run or the new one, never a mixture.
4. On an error or an interrupt (Ctrl-C, SIGTERM) the temporary folder is deleted and the target
   is left exactly as it was.

Two runs into the same target: both work in their own temporary folders; the first to finish
takes the target. The second, without ``overwrite``, is refused with an :class:`OutputError` that
names where its complete results were kept instead (``<name>-<UTC time>``); with ``overwrite`` it
replaces the first run whole.

A folder holding ``run.json`` is a complete run; :func:`verify_manifest` checks that the files
present are exactly the ones listed, with the listed digests.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from rramsim._io import atomic_write_text, current_umask
from rramsim.errors import OutputError

MANIFEST = "run.json"
PARTIAL = ".partial-"

__all__ = ["MANIFEST", "RunFolder", "add_overwrite_argument", "check_file_target",
           "check_out_dir", "read_manifest", "verify_manifest"]


def add_overwrite_argument(parser: argparse.ArgumentParser) -> None:
    """``--overwrite``: replace an existing, non-empty ``--out`` folder whole."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing non-empty --out folder whole (by default such "
                             "a folder is refused)")


def _is_blank(path) -> bool:
    return path is None or str(path).strip() == ""


def check_file_target(path, *, option: str = "--out") -> Path:
    """Check, before any work, that a single output file can be written at ``path``.

    Refused with :class:`OutputError`: an empty name, an existing directory, a parent that is a
    file, and a folder that cannot be written. Symbolic links are followed (the target file is
    what is written).
    """
    if _is_blank(path):
        raise OutputError(f"{option} is empty; give a file name")
    target = Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)
    if target.is_dir():
        raise OutputError(f"{option} {path}: is a directory; give a file name")
    parent = _nearest_existing(target.parent)
    if not parent.is_dir():
        raise OutputError(f"{option} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: the folder {parent} is not writable")
    if target.exists() and not os.access(target, os.W_OK) and not os.access(target.parent,
                                                                              os.W_OK):
        raise OutputError(f"{option} {path}: the file is not writable")
    return target


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _protected(path: Path) -> str | None:
    """Why ``path`` must never be replaced whole, or None."""
    real = Path(os.path.realpath(path))
    if real == Path(real.anchor):
        return "it is the root of the file system"
    home = Path(os.path.realpath(Path.home()))
    if real == home:
        return "it is the home folder"
    cwd = Path(os.path.realpath(os.getcwd()))
    if real == cwd or real in cwd.parents:
        return "it is the current folder or one of its parents"
    if (real / ".git").exists():
        return "it holds a git repository"
    return None


def check_out_dir(out, *, overwrite: bool = False, option: str = "--out") -> Path:
    """Check, before any work, that a run may write the folder ``out``; return its final path.

    Raises
    ------
    OutputError
        ``out`` is empty, is a file, is a non-empty folder and ``overwrite`` is false, is a folder
        that must never be replaced (the current folder or a parent of it, the home folder, a git
        repository), or its parent is not a writable folder.
    """
    if _is_blank(out):
        raise OutputError(f"{option} is empty; give a folder name (for the current folder's "
                          f"subfolder 'run', {option} run)")
    given = Path(out)
    final = Path(os.path.realpath(given)) if given.is_symlink() else Path(os.path.abspath(given))
    if final.exists() and not final.is_dir():
        raise OutputError(f"{option} {out}: is a file, not a folder; give a folder name")
    if final.is_dir() and any(final.iterdir()):
        reason = _protected(final)
        if reason:
            raise OutputError(f"{option} {out}: not replaced, {reason}; give a new folder name")
        if not overwrite:
            raise OutputError(f"{option} {out}: the folder exists and is not empty; give a new "
                              "folder, or --overwrite to replace it whole")
    parent = _nearest_existing(final.parent)
    if not parent.is_dir():
        raise OutputError(f"{option} {out}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {out}: the folder {parent} is not writable")
    return final


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _listing(folder: Path) -> list[dict]:
    files = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.relative_to(folder).as_posix() != MANIFEST:
            files.append({"path": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size,
                          "sha256": _sha256(p)})
    return files


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="seconds")


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


class RunFolder:
    """One run's output folder, written as a transaction (see the module docstring).

    Use as a context manager; write into :attr:`path`; :attr:`final` is where the folder appears::

        with RunFolder(args.out, overwrite=args.overwrite, command=cmd) as run:
            run.record(config=toml_text, seed=seed)
            write_outputs(run.path)
        print(run.final)

    Parameters
    ----------
    out : path
        The folder to create or replace.
    overwrite : bool
        Replace an existing non-empty folder whole.
    command : str, optional
        The command line, for the manifest.
    keep_on : tuple of exception types
        Errors after which the run's outputs are still committed (for example a check that failed
        after the report was written, so its figures can be read); the manifest records them.
    option : str
        The option's name in messages.
    """

    def __init__(self, out, *, overwrite: bool = False, command: str | None = None,
                 keep_on: tuple[type[BaseException], ...] = (), option: str = "--out") -> None:
        self.final = check_out_dir(out, overwrite=overwrite, option=option)
        self.overwrite = overwrite
        self.option = option
        self.keep_on = tuple(keep_on)
        self.info: dict = {"command": command, "config_sha256": None, "seed": None}
        self.started = time.time()
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.final.name}{PARTIAL}",
                                              dir=self.final.parent))
        except OSError as exc:
            raise OutputError(f"{option} {out}: cannot create a folder beside it "
                              f"({exc.strerror or exc})") from exc
        self.committed: Path | None = None

    # ------------------------------------------------------------------ recording
    def record(self, *, config: str | bytes | None = None, seed=None, **extra) -> None:
        """Put the configuration's hash (of its text), the seed and other facts into the manifest."""
        if config is not None:
            data = config.encode("utf-8") if isinstance(config, str) else bytes(config)
            self.info["config_sha256"] = hashlib.sha256(data).hexdigest()
        if seed is not None:
            self.info["seed"] = seed
        self.info.update(extra)

    def manifest(self, status: str = "complete") -> dict:
        from rramsim import __version__

        return {"rramsim_version": __version__, **self.info, "status": status,
                "started_utc": _utc(self.started), "finished_utc": _utc(time.time()),
                "files": _listing(self.path)}

    # ------------------------------------------------------------------ commit / abort
    def commit(self, status: str = "complete") -> Path:
        """Write ``run.json`` and move the folder into place; return where it went."""
        try:
            atomic_write_text(self.path / MANIFEST,
                              json.dumps(self.manifest(status), indent=2) + "\n")
            os.chmod(self.path, 0o777 & ~current_umask())
            self.committed = self._move_into_place()
        except OutputError:
            if self.committed is None:  # (a conflict keeps its results beside the target)
                self.abort()
            raise
        except BaseException as exc:  # an OS error, or Ctrl-C while committing
            if self.committed is None:
                self.abort()
            if isinstance(exc, OSError):
                raise OutputError(f"{self.option} {self.final}: cannot move the results into "
                                  f"place ({exc.strerror or exc})") from exc
            raise
        return self.committed

    def _move_into_place(self) -> Path:
        final = self.final
        try:
            os.rename(self.path, final)  # also replaces an empty folder
            return final
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise
        if final.is_dir() and self.overwrite and _protected(final) is None:
            if _exchange(self.path, final):
                self.committed = final
                shutil.rmtree(self.path, ignore_errors=True)  # the old run, now at our name
                return final
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            os.rename(final, old / "run")
            try:
                os.rename(self.path, final)
            except BaseException:
                os.rename(old / "run", final)  # put the old run back
                shutil.rmtree(old, ignore_errors=True)
                raise
            self.committed = final
            shutil.rmtree(old, ignore_errors=True)
            return final
        # Another run took the target meanwhile: keep these results beside it, and say so.
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        kept = final.with_name(f"{final.name}-{stamp}")
        k = 1
        while kept.exists():
            kept = final.with_name(f"{final.name}-{stamp}-{k}")
            k += 1
        os.rename(self.path, kept)
        self.committed = kept
        raise OutputError(f"{self.option} {final}: another run filled this folder while this one "
                          f"ran, so it was not replaced (use --overwrite to replace it); this "
                          f"run's complete results are in {kept}")

    def abort(self) -> None:
        """Delete the temporary folder; the target is left as it was."""
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.commit()
        elif self.keep_on and issubclass(exc_type, self.keep_on):
            self.commit(status=f"failed: {type(exc).__name__}: {exc}")
        else:
            self.abort()
        return False


def read_manifest(folder) -> dict:
    """The parsed ``run.json`` of a run folder (OutputError when missing or unreadable)."""
    path = Path(folder) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path}: not a readable run manifest ({exc})") from exc


def verify_manifest(folder) -> list[str]:
    """Differences between a run folder and its manifest (empty when they agree exactly)."""
    folder = Path(folder)
    listed = {f["path"]: f for f in read_manifest(folder).get("files", [])}
    present = {f["path"]: f for f in _listing(folder)}
    problems = [f"missing: {p}" for p in sorted(set(listed) - set(present))]
    problems += [f"not listed: {p}" for p in sorted(set(present) - set(listed))]
    problems += [f"changed: {p}" for p in sorted(set(listed) & set(present))
                 if listed[p]["sha256"] != present[p]["sha256"]]
    return problems
