"""Atomic writes: a failed write leaves the old file and no temporary behind."""

import os

import pytest

from rramsim._io import atomic_open, atomic_write_text
from rramsim.errors import OutputError


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


def test_new_files_get_the_umask_replaced_files_keep_their_mode(tmp_path):
    old = os.umask(0o027)
    try:
        new = atomic_write_text(tmp_path / "new.txt", "x")
        assert new.stat().st_mode & 0o777 == 0o640
        os.umask(0o022)
        assert atomic_write_text(tmp_path / "b.txt", "x").stat().st_mode & 0o777 == 0o644
        new.chmod(0o604)
        atomic_write_text(new, "y")
        assert new.stat().st_mode & 0o777 == 0o604 and new.read_text() == "y"
    finally:
        os.umask(old)


def test_writing_through_a_symlink_replaces_its_target(tmp_path):
    target = tmp_path / "real" / "f.txt"
    atomic_write_text(target, "first")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    atomic_write_text(link, "second")
    assert link.is_symlink() and target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]


def test_unwritable_targets_raise_output_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="is a directory"):
        atomic_write_text(tmp_path, "x")
    with pytest.raises(OutputError, match="empty name"):
        atomic_write_text("", "x")
    with pytest.raises(OutputError, match=r"cannot write .*file/sub/f.txt"):
        atomic_write_text(tmp_path / "file" / "sub" / "f.txt", "x")  # a file where a folder is
