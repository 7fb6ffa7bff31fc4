"""Atomic file writes for study outputs (temp file in the same directory, then ``os.replace``).

A reader never sees a half-written report, CSV or figure: the content goes to a temporary file
beside the target and is renamed over it in one step (atomic on POSIX file systems).
"""

from __future__ import annotations

import os
from pathlib import Path

from rramsim._io import atomic_write_bytes, atomic_write_text

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_csv", "atomic_save_figure"]


def atomic_write_csv(path: str | os.PathLike, frame) -> Path:
    """Write a pandas DataFrame as CSV (no index, full float precision) atomically."""
    return atomic_write_text(path, frame.to_csv(index=False, float_format="%.10g"))


def atomic_save_figure(path: str | os.PathLike, fig, *, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG atomically (no metadata: reruns give the same bytes)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return atomic_write_bytes(path, buf.getvalue())
