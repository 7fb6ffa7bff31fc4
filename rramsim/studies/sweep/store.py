"""A sweep's folder: one atomically written record per finished point, the table, the manifest.

``points/<id>.json`` holds one finished point (its parameters, seeds, metrics, and the worker and
wall time that made it). Each is written to a temporary file and renamed, so a point is recorded
entirely or not at all, whatever interrupts the sweep; the id hashes the point's parameters and
seeds, so a point recorded twice is the same file. ``results.csv`` (and ``results.parquet``) are
rebuilt from the records, also atomically. ``sweep.json`` ties the folder to the base
configuration: a sweep of another base configuration is refused.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from rramsim import __version__
from rramsim._io import atomic_write_bytes, atomic_write_text
from rramsim.studies.config import to_toml
from rramsim.studies.sweep.spec import METRICS, SweepError, SweepPoint, SweepSpec, base_fingerprint

FORMAT = 1
# results.csv is rewritten at most this often while points arrive (and always at the end)
TABLE_EVERY_S = 2.0


class SweepStore:
    """Finished points of a sweep, kept in a folder (``out``) or in memory (``out=None``)."""

    def __init__(self, out, spec: SweepSpec):
        if out is not None and (not isinstance(out, (str, os.PathLike)) or not str(out).strip()):
            raise SweepError(f"the sweep folder must be a path, got {out!r}")
        self.dir = Path(out) if out is not None else None
        if self.dir is not None and self.dir.exists() and not self.dir.is_dir():
            raise SweepError(f"{self.dir} is a file, not a folder; use another --out")
        self.spec = spec
        self.records: dict[str, dict] = {}
        self._written = 0.0
        if self.dir is not None:
            try:
                self._open()
            except BaseException:
                self.close()
                raise

    # folder -------------------------------------------------------------------------------
    def _open(self) -> None:
        fp = base_fingerprint(self.spec)
        man = self.dir / "sweep.json"
        if man.exists():
            try:
                old = json.loads(man.read_text())
            except (OSError, ValueError) as exc:
                raise SweepError(f"{man}: unreadable sweep manifest ({exc}); use a new --out "
                                 "folder") from exc
            if old.get("point_function") != fp["point_function"]:
                raise SweepError(
                    f"{self.dir} holds points computed by {old.get('point_function')!r}, not by "
                    f"{fp['point_function']!r}; use a new --out folder")
            if old.get("base_config_sha256") != fp["base_config_sha256"]:
                raise SweepError(f"{self.dir} holds a sweep of another base configuration "
                                 f"({_differences(old.get('base_config', {}), fp['base_config'])}"
                                 "); use a new --out folder, or delete this one to start over")
        elif self.dir.exists() and any(self.dir.iterdir()):
            raise SweepError(f"{self.dir} is not empty and is not a sweep folder (no sweep.json); "
                             "use a new --out folder")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SweepError(f"cannot create the sweep folder {self.dir}: {exc}") from exc
        self._lock()
        if not man.exists():
            atomic_write_text(self.dir / "base_config.toml", to_toml(self.spec.base))
            atomic_write_text(man, json.dumps({"format": FORMAT, "rramsim_version": __version__,
                                               **fp}, indent=1, sort_keys=True) + "\n")
        (self.dir / "points").mkdir(parents=True, exist_ok=True)
        for f in sorted((self.dir / "points").glob("*.json")):
            try:
                rec = json.loads(f.read_text())
                self.records[rec["id"]] = rec
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise SweepError(f"{f}: unreadable point record ({exc}); delete the file to "
                                 "compute that point again") from exc

    def _lock(self) -> None:
        """Hold ``.lock`` while this sweep runs: a second sweep into the folder is refused."""
        import fcntl

        self._lock_fh = open(self.dir / ".lock", "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_fh.seek(0)
            pid = self._lock_fh.read().strip() or "?"
            self._lock_fh.close()
            self._lock_fh = None
            raise SweepError(f"another sweep is running in {self.dir} (process {pid}); wait for "
                             "it or use another --out folder") from None
        self._lock_fh.seek(0)
        self._lock_fh.truncate()
        self._lock_fh.write(str(os.getpid()))
        self._lock_fh.flush()

    def close(self) -> None:
        """Release the folder."""
        fh = getattr(self, "_lock_fh", None)
        if fh is not None:
            fh.close()    # closing releases the lock
            self._lock_fh = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # points -------------------------------------------------------------------------------
    def done(self, point: SweepPoint) -> bool:
        return point.point_id in self.records

    def record(self, point: SweepPoint, values: dict, *, seconds: float, worker: str,
               session: str) -> None:
        """Record a finished point (atomically when in a folder)."""
        missing = [m for m in METRICS if m not in values]
        if missing:
            raise SweepError(f"point {point.index} ({point.point_id}): the point function gave "
                             f"no {', '.join(missing)}")
        rec = {"id": point.point_id, "row": {**point.row(), **{m: values[m] for m in METRICS}},
               "seconds": float(seconds), "worker": worker, "session": session}
        if self.dir is not None:
            atomic_write_text(self.dir / "points" / f"{point.point_id}.json",
                              json.dumps(rec, indent=1) + "\n")
        self.records[point.point_id] = rec

    # outputs ------------------------------------------------------------------------------
    def table(self, points: list[SweepPoint]):
        """One row per finished point of ``points``, in point order (a pandas DataFrame)."""
        import pandas as pd

        rows = []
        for p in points:
            rec = self.records.get(p.point_id)
            if rec is not None:
                rows.append({**p.row(), **{m: rec["row"][m] for m in METRICS}})
        cols = list(points[0].row()) + list(METRICS) if points else list(METRICS)
        return pd.DataFrame(rows, columns=cols)

    def write_table(self, points: list[SweepPoint], *, force: bool = True,
                    failed: dict | None = None):
        """Rewrite results.csv from the records (and results.parquet when ``force``); unless
        ``force``, at most every couple of seconds. ``failed`` (point id -> error) goes to
        ``failed.json`` (removed when empty). Returns the table."""
        now = time.monotonic()
        if self.dir is None or (not force and now - self._written < TABLE_EVERY_S):
            return None
        self._written = now
        frame = self.table(points)
        if failed:
            by_id = {p.point_id: p for p in points}
            atomic_write_text(self.dir / "failed.json", json.dumps(
                [{**by_id[k].row(), "error": v} for k, v in failed.items() if k in by_id],
                indent=1) + "\n")
        elif failed is not None:
            (self.dir / "failed.json").unlink(missing_ok=True)
        atomic_write_text(self.dir / "results.csv", frame.to_csv(index=False))
        if self.spec.parquet and force:     # Parquet at the end (and on an interrupt) only
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                pass
            else:
                import io

                buf = io.BytesIO()
                frame.to_parquet(buf, index=False)
                atomic_write_bytes(self.dir / "results.parquet", buf.getvalue())
        return frame


def _differences(old: dict, new: dict) -> str:
    diffs = []
    for sec in sorted(set(old) | set(new)):
        a, b = old.get(sec, {}), new.get(sec, {})
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                diffs.append(f"{sec}.{k}: {a.get(k)!r} -> {b.get(k)!r}")
    return "; ".join(diffs[:5]) + (" ..." if len(diffs) > 5 else "") if diffs else "its hash"
