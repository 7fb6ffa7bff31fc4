"""Sweeps on Dask: the same table as a serial run after a worker dies, after an interrupt and a
re-run, and on a cluster started by hand (``dask scheduler`` + ``dask worker``) on localhost.

The network is a small random 64-16-10 MLP read from a file (no training), with a short test set,
so that each point takes a fraction of a second; the reference is the point function called in
a loop in this process, without Dask.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

from rramsim._threads import blas_threads  # noqa: E402
from rramsim.studies.sweep import METRICS, expand, load_sweep, sweep  # noqa: E402
from rramsim.studies.sweep import worker as worker_side  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sweep_dict(tmp_path_factory):
    from rramsim import mapper

    d = tmp_path_factory.mktemp("sweepnet")
    rng = np.random.default_rng(3)
    ws = [rng.normal(size=(64, 16)), rng.normal(size=(16, 10))]
    ms = [rng.uniform(size=w.shape) < 0.5 for w in ws]
    net = mapper.save_network(d / "net.npz", mapper.network_from_layers(ws, ms))
    return {"base": {"network": {"path": str(net)}, "run": {"test_samples": 120},
                     "converters": {"calibration_samples": 32},
                     "mapping": {"tile_rows": 32, "tile_cols": 32},
                     "noise": {"repeats": 6}, "cosim": {"tiles": 0}},
            "grid": {"circuit.r_wordline_ohm,circuit.r_bitline_ohm": [1.0, 30.0, 100.0],
                     "converters.adc_bits": [6, 12]},
            "monte_carlo": {"noise_seeds": 2},
            "output": {"plots": False}}


@pytest.fixture(scope="module")
def reference(sweep_dict):
    """The serial run: the point function on every point, fresh state each time, no Dask."""
    rows = []
    with blas_threads(1):
        for p in expand(load_sweep(sweep_dict)):
            rows.append({**p.row(), **worker_side.evaluate(p.cfg, {})})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as c:
        yield c


def _same(table, reference):
    """Every point exactly once, in order, with the serial run's values (bit for bit)."""
    assert list(table["point_id"]) == list(reference["point_id"])
    assert table["point_id"].is_unique
    for col in reference.columns:
        assert list(table[col]) == list(reference[col]), col


def test_reference_varies_with_the_swept_keys(reference):
    # the table is not constant: IR drop grows with the wire resistance, noise seeds differ
    drop = reference.groupby("circuit.r_wordline_ohm")["ir_drop_worst_rel"].first()
    assert drop.is_monotonic_increasing and drop.iloc[0] < drop.iloc[-1]
    assert reference["tile_error_rel"].nunique() > 3
    assert set(METRICS) <= set(reference.columns) and len(reference) == 12


def test_group_tasks_hand_their_network_to_the_point_function(sweep_dict, reference,
                                                               monkeypatch):
    """The network a group task receives from Dask is the one the point function uses: with it
    in the cache, evaluate_point neither trains nor reads a network."""
    from rramsim.studies import pipeline
    from rramsim.studies.loading import load

    pts = expand(load_sweep(sweep_dict))
    loaded = load(pts[0].cfg)

    def no_loading(*a, **k):
        raise AssertionError("evaluate_point loaded the network again")

    monkeypatch.setattr(pipeline, "load", no_loading)
    msgs = worker_side.run_group(loaded, pts[0].group_key, [(p.point_id, p.cfg) for p in pts[:2]],
                                 "unused-topic")
    assert [m["error"] for m in msgs] == [None, None]
    for m, (_, ref) in zip(msgs, reference.iloc[:2].iterrows(), strict=True):
        assert m["id"] == ref["point_id"]
        assert m["values"] == {k: ref[k] for k in METRICS}


def test_worker_killed_mid_point_is_rerun_elsewhere(sweep_dict, reference, tmp_path):
    from distributed import Client, LocalCluster

    killed = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as lc, Client(lc) as client:
        pids = client.run(os.getpid)

        def on_point(point, values):
            if killed:
                return
            rec = json.loads((tmp_path / "out" / "points" / f"{point.point_id}.json").read_text())
            busy = client.processing()
            addr = rec["worker"]
            if busy.get(addr):          # the worker that sent this point is on its next one
                recorded = [f.stem for f in (tmp_path / "out" / "points").glob("*.json")]
                killed.update(worker=addr, recorded=recorded, tasks=list(busy[addr]))
                os.kill(pids[addr], signal.SIGKILL)

        res = sweep(sweep_dict, client=client, out=tmp_path / "out", progress=False,
                    on_point=on_point)
    assert killed, "no worker was busy when a point arrived"
    _same(res.table, reference)
    assert sorted(res.computed) == sorted(reference["point_id"]) and not res.failed
    recs = [json.loads(f.read_text()) for f in (tmp_path / "out" / "points").glob("*.json")]
    assert len(recs) == len(reference)
    # every point of the tasks on the killed worker was computed again by another worker (the
    # other one or the one its nanny restarted): recorded from there, or, if the killed worker
    # had sent it before it died, arriving a second time from the rerun (and recorded once)
    lost = {pid for key in killed["tasks"] for pid in res.tasks.get(key, [])}
    assert lost
    elsewhere = {r["id"] for r in recs if r["worker"] != killed["worker"]}
    assert lost <= elsewhere | set(res.repeated)
    assert len(set(res.repeated)) == len(res.repeated)
    csv = pd.read_csv(tmp_path / "out" / "results.csv")
    assert list(csv["point_id"]) == list(reference["point_id"])
    assert np.array_equal(csv["acc_circuit"], reference["acc_circuit"])


def test_interrupted_sweep_resumes_without_recomputing(sweep_dict, reference, cluster,
                                                       tmp_path):
    from distributed import Client

    out = tmp_path / "out"
    seen = []

    def interrupt_after_three(point, values):
        seen.append(point.point_id)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with Client(cluster) as client:
        with pytest.raises(KeyboardInterrupt):
            sweep(sweep_dict, client=client, out=out, progress=False,
                  on_point=interrupt_after_three)
        # a consistent partial table: exactly the recorded points, in point order
        part = pd.read_csv(out / "results.csv")
        files = {f.stem: f for f in (out / "points").glob("*.json")}
        assert set(part["point_id"]) == set(files) == set(seen)
        assert list(part["point"]) == sorted(part["point"])
        before = {k: (f.stat().st_ino, f.stat().st_mtime_ns, json.loads(f.read_text()))
                  for k, f in files.items()}
        res = sweep(sweep_dict, client=client, out=out, progress=False)
    assert sorted(res.skipped) == sorted(seen)
    assert sorted(res.computed) == sorted(set(reference["point_id"]) - set(seen))
    for k, (ino, mtime, rec) in before.items():   # finished points were not written again
        f = out / "points" / f"{k}.json"
        assert (f.stat().st_ino, f.stat().st_mtime_ns) == (ino, mtime)
        assert json.loads(f.read_text())["session"] == rec["session"]
    sessions = {json.loads(f.read_text())["session"] for f in (out / "points").glob("*.json")}
    assert len(sessions) == 2
    _same(res.table, reference)
    _same(pd.read_csv(out / "results.csv"), reference)


def _write_sweep(sweep_dict, path):
    from rramsim.studies.config import _toml_value

    lines = []
    for sec, content in sweep_dict.items():
        for sub, val in content.items():
            if isinstance(val, dict):
                lines.append(f"[{sec}.{sub}]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in val.items()]
        lines.append(f"[{sec}]")
        for k, v in content.items():
            if not isinstance(v, dict):
                key = f'"{k}"' if "," in k else k
                lines.append(f"{key} = {_toml_value(tuple(v) if isinstance(v, list) else v)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_ctrl_c_on_the_command_leaves_a_consistent_partial_table(sweep_dict, reference,
                                                                 tmp_path):
    cfg = _write_sweep(sweep_dict, tmp_path / "sweep.toml")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "rramsim", "sweep", "--config", str(cfg), "--out", str(out),
           "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, env=_env(), start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("points/*.json")):     # wait for the first finished point
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)          # Ctrl-C: the whole process group
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    files = {f.stem for f in (out / "points").glob("*.json")}
    part = pd.read_csv(out / "results.csv")
    assert set(part["point_id"]) == files and len(files) >= 1
    ref = reference.set_index("point_id")
    for _, row in part.iterrows():
        assert row["acc_circuit"] == ref.loc[row["point_id"], "acc_circuit"]
        assert row["energy_per_inference_J"] == ref.loc[row["point_id"], "energy_per_inference_J"]
    if len(files) < len(reference):                 # interrupted before the end
        assert proc.returncode == 130, stderr
        assert "run the same command again" in stderr


def test_explicit_scheduler_and_workers_on_localhost_give_the_same_table(sweep_dict, reference,
                                                                         tmp_path):
    cfg = _write_sweep(sweep_dict, tmp_path / "sweep.toml")
    sched_file = tmp_path / "scheduler.json"
    dask = str(Path(sys.executable).with_name("dask"))
    procs = []
    try:
        procs.append(subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                    "--scheduler-file", str(sched_file)],
            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while not sched_file.exists():
            assert time.monotonic() < deadline and procs[0].poll() is None
            time.sleep(0.05)
        time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(subprocess.Popen(
            [dask, "worker", address, "--nworkers", "2",
             "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"],
            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        out = tmp_path / "out"
        run = subprocess.run([sys.executable, "-m", "rramsim", "sweep", "--config", str(cfg),
                              "--out", str(out), "--scheduler", address, "--no-progress"],
                             env=_env(), capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert f"joined the cluster at {address}" in run.stdout
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    table = pd.read_csv(out / "results.csv")
    assert list(table["point_id"]) == list(reference["point_id"])
    for col in METRICS:
        assert np.array_equal(table[col].to_numpy(), reference[col].to_numpy()), col
    workers = {json.loads(f.read_text())["worker"] for f in (out / "points").glob("*.json")}
    assert len(workers) >= 1 and all(w.startswith("tcp://127.0.0.1:") for w in workers)


def test_failed_points_are_reported_and_computed_on_the_next_run(sweep_dict, reference,
                                                                 tmp_path, monkeypatch):
    """A point whose study raises: the others are recorded, failed.json names it with the
    error, the sweep raises SweepError; the next run computes only that point."""
    from distributed import Client, LocalCluster

    from rramsim.errors import DataError
    from rramsim.studies.sweep import SweepError

    real = worker_side.evaluate

    def flaky(cfg, cache):
        if cfg.circuit.r_wordline_ohm == 30.0 and cfg.converters.adc_bits == 12:
            raise DataError("test: this point cannot be evaluated")
        return real(cfg, cache)

    out = tmp_path / "out"
    bad = set(reference[(reference["circuit.r_wordline_ohm"] == 30.0)
                        & (reference["converters.adc_bits"] == 12)]["point_id"])
    assert len(bad) == 2
    # in-process workers (threads), so that the patched point function is the one they run
    with LocalCluster(n_workers=1, processes=False, threads_per_worker=1,
                      dashboard_address=":0") as lc, Client(lc) as client:
        monkeypatch.setattr(worker_side, "evaluate", flaky)
        with pytest.raises(SweepError, match=r"2 of 12 points failed.*DataError: test: this "):
            sweep(sweep_dict, client=client, out=out, progress=False)
        failed = json.loads((out / "failed.json").read_text())
        assert {f["point_id"] for f in failed} == bad
        assert all("cannot be evaluated" in f["error"] for f in failed)
        part = pd.read_csv(out / "results.csv")
        assert set(part["point_id"]) == set(reference["point_id"]) - bad
        monkeypatch.setattr(worker_side, "evaluate", real)
        res = sweep(sweep_dict, client=client, out=out, progress=False)
    assert set(res.computed) == bad and len(res.skipped) == 10
    assert not (out / "failed.json").exists()
    _same(res.table, reference)


def test_a_second_sweep_into_a_running_sweeps_folder_is_refused(sweep_dict, tmp_path):
    from rramsim.studies.sweep import SweepError
    from rramsim.studies.sweep.store import SweepStore

    spec = load_sweep(sweep_dict)
    first = SweepStore(tmp_path / "out", spec)
    try:
        with pytest.raises(SweepError, match=f"another sweep is running.*{os.getpid()}"):
            sweep(sweep_dict, out=tmp_path / "out", progress=False)
    finally:
        first.close()
    SweepStore(tmp_path / "out", spec).close()     # free again
