"""Running a sweep (:func:`sweep`): the points of a :class:`~rramsim.studies.sweep.spec.SweepSpec`
on Dask.distributed, recorded in the sweep's folder as they finish.

**Cluster.** Without a client, a Dask LocalCluster of one single-threaded process per core (BLAS at
one thread); ``client="tcp://host:8786"`` joins an existing cluster. The network of each device
seed is trained (or read) once by a task on one worker and copied to another worker at most once;
points sharing the device seed, mapping and circuit (they differ only in converters, noise or
noise seed) form groups that run on one worker and reuse the programmed tiles.

**Folder.** With ``out``: ``points/<id>.json`` (one file per finished point, written atomically
as it finishes), ``results.csv`` (+ ``results.parquet``), ``plot_<key>.png``, ``sweep.json`` (the
manifest: base configuration and its hash) and ``base_config.toml``. Running the same sweep again
computes only the missing points; a folder of another base configuration is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rramsim.errors import SweepError
from rramsim.studies.loading import load
from rramsim.studies.sweep.plot import plot_sweep
from rramsim.studies.sweep.spec import SweepPoint, expand, load_sweep
from rramsim.studies.sweep.store import SweepStore

__all__ = ["SweepResult", "sweep", "cores"]


@dataclass
class SweepResult:
    """What a sweep returned: the table and what this run did.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per finished point of the sweep, in point order.
    points : list of SweepPoint
    computed, skipped : list of str
        Point ids computed by this run, and found finished already (in ``out``).
    failed : dict
        Point id -> error message, for points that raised (the sweep then raises SweepError
        after writing the table of the others).
    out_dir : Path or None
    seconds : float
        Wall time of this run's computation.
    tasks : dict
        Dask task key -> the point ids it computes (one task per group of points).
    repeated : list of str
        Point ids whose result arrived again after they were recorded (their task ran a second
        time, after a worker died); recorded once.
    """

    table: object
    points: list
    computed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)
    out_dir: Path | None = None
    seconds: float = 0.0
    tasks: dict = field(default_factory=dict)
    repeated: list = field(default_factory=list)




# --- the cluster ------------------------------------------------------------------------------

def cores() -> int:
    """Cores this process may use (the default number of LocalCluster workers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class _Cluster:
    """The Dask client of a sweep: given, joined by address, or a LocalCluster started here."""

    def __init__(self, client=None, *, workers: int | None = None,
                 dashboard: str | None = ":8787", log=print):
        scheduler = client if isinstance(client, str) else None
        client = None if scheduler is not None else client
        if client is not None and workers is not None:
            raise SweepError("give a client, or workers / a scheduler address, not both")
        if workers is not None and scheduler is not None:
            raise SweepError("--workers starts a local cluster; --scheduler joins an existing "
                             "one: give one of them")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise SweepError(f"workers must be an integer >= 1, got {workers!r}")
        self.client, self.cluster, self.own = client, None, client is None
        self._args = (workers, scheduler, dashboard)
        self.log = log

    def __enter__(self):
        if self.client is not None:
            return self.client
        import importlib.util
        import logging

        from distributed import Client, LocalCluster

        workers, scheduler, dashboard = self._args
        try:
            if scheduler is not None:
                self.client = Client(scheduler, timeout="20s")
                n = len(self.client.scheduler_info(n_workers=-1)["workers"])
                self.log(f"rramsim sweep: joined the cluster at {scheduler} ({n} workers)")
            else:
                if dashboard and importlib.util.find_spec("bokeh") is None:
                    dashboard = None      # the dashboard needs bokeh (optional dependency)
                import dask

                n = workers or cores()
                # one BLAS thread per worker process; no fixed malloc trim threshold (it slows
                # the many mid-sized arrays of training several-fold, see _sweep_worker)
                env = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ",
                                                        {}).items()
                       if k != "MALLOC_TRIM_THRESHOLD_"}
                env.update(OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1, MKL_NUM_THREADS=1)
                with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
                    self.cluster = LocalCluster(n_workers=n, threads_per_worker=1,
                                                processes=True,
                                                # the scheduler serves HTTP in any case: without
                                                # a dashboard, on a free port
                                                dashboard_address=dashboard or ":0",
                                                # (shutdown races log tracebacks at ERROR;
                                                # task errors reach the client as results)
                                                silence_logs=logging.CRITICAL)
                self.client = Client(self.cluster)
                self.log(f"rramsim sweep: local cluster of {n} single-threaded worker "
                         f"process{'es' if n > 1 else ''}")
        except OSError as exc:
            self.close()
            raise SweepError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from exc
        if dashboard is not None or scheduler is not None:
            self.log(f"rramsim sweep: dashboard {self.client.dashboard_link}")
        elif self._args[2]:
            self.log("rramsim sweep: no dashboard (install bokeh for it)")
        return self.client

    def close(self):
        if self.own:
            if self.client is not None:
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()

    def __exit__(self, *exc):
        self.close()
        return False


def _groups(points: list[SweepPoint], n_workers: int) -> list[list[SweepPoint]]:
    """Points of a group in chunks: few enough tasks to share tiles, enough to fill the workers."""
    by_key: dict[str, list[SweepPoint]] = {}
    for p in points:
        by_key.setdefault(p.group_key, []).append(p)
    chunk = max(1, -(-len(points) // (3 * max(1, n_workers))))
    out = []
    for members in by_key.values():
        size = -(-len(members) // -(-len(members) // chunk))   # even chunks of <= chunk
        out.extend(members[i:i + size] for i in range(0, len(members), size))
    return out


def sweep(config, client=None, *, out=None, workers: int | None = None, progress: bool = True,
          on_point=None, dashboard: str | None = ":8787", log=None) -> SweepResult:
    """Run a sweep on Dask and return its table (and write its folder when ``out`` is given).

    Parameters
    ----------
    config : path, mapping or SweepSpec
        The sweep (see the module docstring); validated by :func:`load_sweep`.
    client : distributed.Client or str, optional
        A client of the cluster to use, or the address of a running cluster's scheduler to join
        (``"tcp://host:8786"``, as :class:`distributed.Client` takes it). Default: a LocalCluster
        of ``workers`` single-threaded processes (default one per core).
    out : path, optional
        The sweep's folder: finished points are recorded there as they finish, and points found
        there are not computed again (the base configuration must be the same).
    progress : bool
        A progress bar over points with the estimated time left.
    on_point : callable ``(point, values) -> None``, optional
        Called after each point is recorded (in the calling thread).
    dashboard : str or None
        Dashboard address of a LocalCluster started here (needs bokeh); None for none.
    log : callable, optional
        Where messages go (default: print when ``progress``, else nowhere).

    Raises
    ------
    ConfigError
        An invalid sweep.
    SweepError
        A folder of another base configuration, an unreachable scheduler, or failed points
        (after the others are recorded and the table is written).
    KeyboardInterrupt
        Re-raised after the finished points are recorded and the partial table written.
    """
    import time
    import uuid

    spec = load_sweep(config)
    points = expand(spec)
    if len({p.point_id for p in points}) != len(points):   # pragma: no cover - ids hash seeds
        raise SweepError("two points of the sweep have the same parameters and seeds")

    store = SweepStore(out, spec)
    say = log if log is not None else (print if progress else (lambda *a, **k: None))
    res = SweepResult(table=None, points=points, out_dir=store.dir)
    t0 = time.perf_counter()
    try:
        todo = [p for p in points if not store.done(p)]
        res.skipped = [p.point_id for p in points if store.done(p)]
        if res.skipped:
            say(f"rramsim sweep: {len(res.skipped)} of {len(points)} points already finished "
                f"in {store.dir}")
        if todo:
            cluster = _Cluster(client, workers=workers, dashboard=dashboard, log=say)
            rec = _Recorder(points, todo, store, res, session=uuid.uuid4().hex,
                            on_point=on_point)
            with cluster as cl:
                _run(cl, rec, progress=progress, local=cluster.cluster is not None, say=say)
        res.seconds = time.perf_counter() - t0
        res.table = store.table(points)
        store.write_table(points, failed=res.failed)
        if store.dir is not None and spec.plots and len(res.table):
            plot_sweep(res.table, spec.plot_keys, store.dir)
    except BaseException:   # interrupted or failed: the finished points' table, then out
        res.table = store.table(points)
        store.write_table(points, failed=res.failed)
        raise
    finally:
        store.close()
    if res.failed:
        first = next(iter(res.failed.items()))
        raise SweepError(f"{len(res.failed)} of {len(points)} points failed (the others are "
                         f"recorded); first: point {first[0]}: {first[1]}")
    return res


class _Recorder:
    """The points of one run as their events and their tasks' results arrive: each recorded
    once (in ``store`` and ``res``), a point computed twice (its worker died) noted once."""

    def __init__(self, points, todo, store, res: SweepResult, *, session: str, on_point=None):
        self.points, self.todo, self.store, self.res = points, todo, store, res
        self.session, self.on_point = session, on_point
        self.by_id = {p.point_id: p for p in todo}
        self.attempts: dict[str, set] = {}
        self.bar = None

    def open_bar(self, progress: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=len(self.points), initial=len(self.points) - len(self.todo),
                        desc="rramsim sweep", unit="point", disable=not progress, smoothing=0.1)

    def handle(self, msg) -> None:
        pid = msg.get("id")
        if pid not in self.by_id:
            return
        res, store = self.res, self.store
        runs = self.attempts.setdefault(pid, set())
        if msg.get("attempt") not in runs:
            runs.add(msg.get("attempt"))
            if len(runs) == 2:          # a second execution of its task (a worker died)
                res.repeated.append(pid)
        if store.done(self.by_id[pid]) or pid in res.failed:
            return     # recorded already: its event and its task's result both arrive
        if msg.get("error"):
            res.failed[pid] = msg["error"]
        else:
            store.record(self.by_id[pid], msg["values"], seconds=msg.get("seconds", 0.0),
                         worker=msg.get("worker", ""), session=self.session)
            res.computed.append(pid)
            store.write_table(self.points, force=False)
            if self.on_point is not None:
                self.on_point(self.by_id[pid], msg["values"])
        self.bar.update(1)


@dataclass
class _Tasks:
    """The Dask futures of one run: a network per network key, the group tasks (future -> the
    point ids it computes), the group tasks still to settle, and how many need each network."""

    nets: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)
    net_of: dict = field(default_factory=dict)
    left: dict = field(default_factory=dict)
    pending: set = field(default_factory=set)

    def release(self, fut) -> None:
        """A settled group task: not to be computed again; its network once no group needs it."""
        fut.release()
        self.left[self.net_of[fut]] -= 1
        if not self.left[self.net_of[fut]]:
            self.nets.pop(self.net_of[fut]).release()


def _submit_networks(client, todo, tasks: _Tasks, session: str) -> None:
    """One network per device seed (and data), first to run."""
    from rramsim.studies.sweep import worker as w

    for p in todo:
        if p.network_key in tasks.nets:
            continue
        key = f"rramsim-network-{p.network_key}-{session}"
        if p.cfg.network.path:
            # a network file is read here (workers need not see it) and goes into the task
            # itself, so the scheduler can hand it to a new worker if its holder dies
            import warnings

            with warnings.catch_warnings():   # a large network file is sent once, on purpose
                warnings.filterwarnings("ignore", message="Sending large graph")
                tasks.nets[p.network_key] = client.submit(w.ship, load(p.cfg), key=key,
                                                          priority=10)
        else:   # the embedded default: trained by a worker
            tasks.nets[p.network_key] = client.submit(w.load_network, p.cfg, key=key,
                                                      priority=10)


def _submit_groups(client, rec: _Recorder, tasks: _Tasks, topic: str, n_workers: int) -> None:
    """One task per group of points sharing their tiles, on the group's network."""
    from rramsim.studies.sweep import worker as w

    for i, members in enumerate(_groups(rec.todo, max(1, n_workers))):
        items = [(p.point_id, p.cfg) for p in members]
        net = members[0].network_key
        fut = client.submit(w.run_group, tasks.nets[net], members[0].group_key, items, topic,
                            key=f"rramsim-group-{i}-{rec.session}", retries=0)
        tasks.groups[fut] = [p.point_id for p in members]
        rec.res.tasks[fut.key] = tasks.groups[fut]
        tasks.left[net] = tasks.left.get(net, 0) + 1
        tasks.net_of[fut] = net


def _settle(rec: _Recorder, tasks: _Tasks, fut) -> None:
    """Record the points of a done group task from its result (or its error)."""
    status = fut.status
    if status not in ("finished", "error", "cancelled"):
        return    # "lost": its worker died holding it; Dask computes it again
    if status == "finished":
        # (if its worker dies now, Dask computes it again before the result comes)
        try:
            msgs = fut.result()
        except Exception as exc:  # lost in between: wait for it, else report it
            if fut.status not in ("finished", "error", "cancelled"):
                return
            msgs = [{"id": pid, "error": f"{type(exc).__name__}: {exc}"}
                    for pid in tasks.groups[fut]]
    else:
        exc = fut.exception() if status == "error" else None
        why = f"{type(exc).__name__}: {exc}" if exc is not None else f"its task was {status}"
        msgs = [{"id": pid, "error": why} for pid in tasks.groups[fut]]
    tasks.pending.discard(fut)
    for msg in msgs:
        rec.handle(msg)
    tasks.release(fut)    # its points are recorded


def _collect(rec: _Recorder, inbox, tasks: _Tasks) -> None:
    """Record points from their events and from their tasks' results until every task settled."""
    import queue

    tasks.pending.update(tasks.groups)
    while tasks.pending:
        try:
            rec.handle(inbox.get(timeout=0.2))
        except queue.Empty:
            pass
        for fut in [f for f in tasks.pending if f.done()]:
            _settle(rec, tasks, fut)
    while True:   # events that arrived after their group's result
        try:
            rec.handle(inbox.get_nowait())
        except queue.Empty:
            break


def _run(client, rec: _Recorder, *, progress: bool, local: bool = False, say=print) -> None:
    """Submit the network tasks and the group tasks; record points as their events arrive.

    ``local``: the workers are this process's LocalCluster; they then ignore Ctrl-C (the
    terminal sends it to them too), and this process shuts them down after recording.
    """
    import queue

    from rramsim.studies.sweep import worker as w

    client.register_plugin(w.SweepWorkerPlugin(blas_threads=1, ignore_interrupt=local),
                           name=w.PLUGIN_NAME)
    n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
    if n_workers == 0:
        say("rramsim sweep: the cluster has no workers yet; the points wait for `dask worker "
            "ADDRESS` to join")
    topic = f"rramsim-sweep-{rec.session}"
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    client.subscribe_topic(topic, lambda event: inbox.put(event[1]))
    rec.open_bar(progress)
    tasks = _Tasks()
    try:
        _submit_networks(client, rec.todo, tasks, rec.session)
        _submit_groups(client, rec, tasks, topic, n_workers)
        _collect(rec, inbox, tasks)
    finally:
        rec.bar.close()
        try:
            client.unsubscribe_topic(topic)
        except ValueError:   # pragma: no cover
            pass
        client.cancel(list(tasks.pending) + list(tasks.nets.values()), force=True)
        try:
            client.unregister_worker_plugin(w.PLUGIN_NAME)
        except (ValueError, KeyError):   # pragma: no cover - already gone
            pass
