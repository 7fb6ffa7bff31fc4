"""Output folders as transactions: complete or absent, a manifest that matches, clear refusals."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rramsim._rundir import MANIFEST, RunFolder, check_file_target, read_manifest, verify_manifest
from rramsim.errors import OutputError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def test_commit_writes_manifest_matching_the_files(tmp_path, umask022):
    out = tmp_path / "run"
    with RunFolder(out, command="rramsim test") as run:
        (run.path / "a.txt").write_text("alpha")
        (run.path / "sub").mkdir()
        (run.path / "sub" / "b.bin").write_bytes(b"\x00\x01")
        run.record(config="x = 1\n", seed=7)
        assert not out.exists()  # nothing appears before the run is complete
    man = read_manifest(out)
    assert man["status"] == "complete" and man["seed"] == 7 and man["command"] == "rramsim test"
    assert man["config_sha256"] == hashlib.sha256(b"x = 1\n").hexdigest()
    assert [f["path"] for f in man["files"]] == ["a.txt", "sub/b.bin"]
    assert man["files"][0]["sha256"] == hashlib.sha256(b"alpha").hexdigest()
    assert man["files"][0]["bytes"] == 5
    assert verify_manifest(out) == []
    assert _siblings(out) == []  # no temporary folder left
    assert (out.stat().st_mode & 0o777) == 0o755
    (out / "a.txt").write_text("changed")
    (out / "extra").write_text("")
    assert verify_manifest(out) == ["not listed: extra", "changed: a.txt"]


def test_error_or_interrupt_leaves_the_old_folder_intact(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("old")
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with RunFolder(out, overwrite=True) as run:
                (run.path / "new.txt").write_text("half")
                raise exc
        assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
        assert _siblings(out) == []


def test_overwrite_replaces_the_folder_whole(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale_sweep.csv").write_text("old sweep")
    with pytest.raises(OutputError, match="--overwrite"):
        RunFolder(out)
    assert (out / "stale_sweep.csv").exists()
    with RunFolder(out, overwrite=True) as run:
        (run.path / "report.md").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["report.md", MANIFEST]
    assert verify_manifest(out) == [] and _siblings(out) == []


def test_empty_folder_is_used_and_kept_on_errors_listed(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    with pytest.raises(ValueError):
        with RunFolder(out, keep_on=(ValueError,)) as run:
            (run.path / "report.md").write_text("figures of a failed check")
            raise ValueError("check failed")
    man = read_manifest(out)
    assert man["status"] == "failed: ValueError: check failed"
    assert [f["path"] for f in man["files"]] == ["report.md"]


@pytest.mark.parametrize("bad, match", [("", "empty"), ("  ", "empty")])
def test_blank_out_is_refused(bad, match):
    with pytest.raises(OutputError, match=match):
        RunFolder(bad)
    with pytest.raises(OutputError, match=match):
        check_file_target(bad)


def test_file_targets_and_protected_folders_are_refused(tmp_path, monkeypatch):
    f = tmp_path / "config.toml"
    f.write_text("keep me")
    with pytest.raises(OutputError, match="is a file"):
        RunFolder(f, overwrite=True)
    with pytest.raises(OutputError, match="is a directory"):
        check_file_target(tmp_path, option="--deck")
    with pytest.raises(OutputError, match="not a directory"):
        check_file_target(f / "deck.cir")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError, match="current folder"):
        RunFolder(".", overwrite=True)
    assert f.read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_parent_is_refused_up_front(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="not writable"):
            RunFolder(locked / "run")
    finally:
        locked.chmod(0o755)


def test_unwritable_parent_is_refused_up_front_even_as_root(tmp_path, monkeypatch):
    # (os.access says yes to root everywhere; the temporary folder is the real test.)
    import rramsim._rundir as rd

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(rd.tempfile, "mkdtemp", refuse)
    with pytest.raises(OutputError, match="Permission denied"):
        RunFolder(tmp_path / "run")


def test_second_of_two_runs_is_refused_and_its_results_kept(tmp_path):
    out = tmp_path / "run"
    first, second = RunFolder(out), RunFolder(out)
    (first.path / "who").write_text("first")
    (second.path / "who").write_text("second")
    first.commit()
    with pytest.raises(OutputError, match="another run filled") as info:
        second.commit()
    assert (out / "who").read_text() == "first" and verify_manifest(out) == []
    kept = second.committed
    assert kept is not None and str(kept) in str(info.value)
    assert (kept / "who").read_text() == "second" and verify_manifest(kept) == []


def _prune(out: Path, seed: int, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rramsim", "prune", "--out", str(out), "--seed", str(seed),
           "--epochs", "1", "--max-train", "120", "--hidden", "8", "--no-baseline",
           "--no-progress", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


@pytest.mark.slow
def test_two_concurrent_runs_then_overwrite(tmp_path):
    out = tmp_path / "run"
    procs = [_prune(out, seed) for seed in (1, 2)]
    results = [(p.communicate(timeout=300), p.returncode)[::-1] for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 1], results
    refused = next(err for rc, (_, err) in results if rc == 1)
    assert "another run filled" in refused or "not empty" in refused
    man = read_manifest(out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["seed"] == man["seed"]  # one run's files, consistent with its manifest
    assert verify_manifest(out) == []
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "network.npz", MANIFEST]
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]

    (out / "leftover.txt").write_text("from an older run")
    p = _prune(out, 3, "--overwrite")
    output = p.communicate(timeout=300)
    assert p.returncode == 0, output
    man = read_manifest(out)
    assert man["seed"] == 3 and json.loads((out / "metrics.json").read_text())["seed"] == 3
    assert sorted(f["path"] for f in man["files"]) == ["metrics.json", "network.npz"]
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "network.npz", MANIFEST]
    assert verify_manifest(out) == []


def test_overwrite_without_an_atomic_exchange(tmp_path, monkeypatch):
    """Where renameat2 is missing, two renames replace the folder; a failure puts the old back."""
    import rramsim._rundir as rd

    monkeypatch.setattr(rd, "_exchange", lambda a, b: False)
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with RunFolder(out, overwrite=True) as run:
        (run.path / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt", MANIFEST]
    assert _siblings(out) == []

    real_rename = os.rename

    def failing_rename(src, dst):
        # The direct rename meets the full folder (ENOTEMPTY); the one after the old run was
        # moved aside fails.
        if Path(src).name.startswith(".run.partial-") and not out.exists():
            raise OSError(28, "No space left on device")
        return real_rename(src, dst)

    monkeypatch.setattr(rd.os, "rename", failing_rename)
    with pytest.raises(OutputError, match="No space left"):
        with RunFolder(out, overwrite=True) as run:
            (run.path / "newer.txt").write_text("newer")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt", MANIFEST]  # the old run is back
    assert _siblings(out) == []


def test_interrupt_while_committing_leaves_no_partial_folder(tmp_path, monkeypatch):
    import rramsim._rundir as rd

    def interrupted(folder):
        raise KeyboardInterrupt

    monkeypatch.setattr(rd, "_listing", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with RunFolder(tmp_path / "run") as run:
            (run.path / "a.txt").write_text("a")
    assert list(tmp_path.iterdir()) == []
