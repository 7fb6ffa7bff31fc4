"""Atomic writes: a failed write leaves the old file and no temporary behind."""

import pytest

from rramsim._io import atomic_open, atomic_write_text


def test_atomic_write_replaces_and_cleans_up(tmp_path):
    target = tmp_path / "a" / "f.txt"
    atomic_write_text(target, "first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as fh:
            fh.write("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]
    with pytest.raises(ValueError, match="writes only"):
        with atomic_open(target, "r"):
            pass
