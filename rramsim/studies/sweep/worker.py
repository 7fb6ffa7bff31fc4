"""What runs on the Dask workers of a sweep: the worker plugin, the network task, the group task.

Workers import this module by name (the tasks are module-level functions), so every worker needs
rramsim importable, at the same version as the client.

* :class:`SweepWorkerPlugin` limits BLAS to one thread in every worker process (each worker is
  one single-threaded process; several BLAS threads per process would fight over the cores and
  change the summation order) and keeps a few per-group caches.
* :func:`load_network` trains or reads the network of one device seed; its result stays in the
  worker's memory and Dask copies it to another worker at most once, when a group there needs it.
* :func:`run_group` evaluates the points of one group (same device seed, mapping and circuit:
  they share the programmed tiles and their transfer matrices) one after the other with
  :func:`rramsim.studies.pipeline.evaluate_point` and one cache, and reports
  each finished point at once through a Dask event, so the client records it before the group
  ends.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from distributed.diagnostics.plugin import WorkerPlugin

from rramsim._threads import blas_threads
from rramsim.studies.loading import load
from rramsim.studies.pipeline import evaluate_point, network_key

PLUGIN_NAME = "rramsim-sweep"
# group caches kept per worker (each holds one group's tiles, transfer matrices, admittances)
CACHED_GROUPS = 2


class SweepWorkerPlugin(WorkerPlugin):
    """Single-threaded BLAS in the worker process, and the worker's group caches."""

    name = PLUGIN_NAME

    def __init__(self, blas_threads: int = 1, ignore_interrupt: bool = False):
        self.blas_threads = int(blas_threads)
        self.ignore_interrupt = bool(ignore_interrupt)
        self.caches: OrderedDict = OrderedDict()
        self._limits = None

    def setup(self, worker=None):
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(limits=self.blas_threads, user_api="blas")
        self.caches = OrderedDict()
        _heap_allocations()
        if self.ignore_interrupt:
            # workers of the client's own LocalCluster share its terminal: Ctrl-C is for the
            # client, which records what finished and then closes them
            import signal
            import threading

            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    def teardown(self, worker=None):
        self.caches.clear()
        if self._limits is not None:
            self._limits.restore_original_limits()

    def cache_for(self, group_key: str) -> dict:
        """The cache of one group (created empty; the oldest group's dropped beyond a few)."""
        if group_key in self.caches:
            self.caches.move_to_end(group_key)
            return self.caches[group_key]
        cache: dict = {}
        self.caches[group_key] = cache
        while len(self.caches) > CACHED_GROUPS:
            self.caches.popitem(last=False)
        return cache


def _heap_allocations() -> None:
    """Undo the fixed trim threshold Dask's nannies set for their workers, if they did.

    Nannies start workers with ``MALLOC_TRIM_THRESHOLD_=65536`` to hand freed memory back to the
    system early. Setting it also freezes glibc's mmap threshold at 128 KiB, so every array of
    more than 16k doubles is a fresh mmap, page-faulted and unmapped again: training the digits
    network takes three to four times as long. Raising both thresholds (32 MiB mmap, 64 MiB trim,
    glibc's own upper defaults) restores the usual behaviour. No-op elsewhere (not glibc).
    """
    import ctypes
    import ctypes.util
    import os

    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 * 2**20)
        libc.mallopt(m_trim_threshold, 64 * 2**20)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def ship(obj):
    """The object itself (a task whose argument is data the client read: e.g. a network file)."""
    return obj


def load_network(cfg):
    """The network of one device seed (``cfg.run.seed``) and its data set."""
    with blas_threads(1):
        return load(cfg)


def network_cache_key(cfg) -> tuple:
    """The key under which :func:`rramsim.studies.pipeline.evaluate_point` caches the network.

    The group task puts the network it received from Dask there, so that the point function
    does not train or read it again on this worker.
    """
    return network_key(cfg)


def evaluate(cfg, cache: dict) -> dict[str, float]:
    """The point function: one circuit-accurate study run of ``cfg`` as flat metrics.

    ``cfg.run.seed`` is the point's device seed (forming and pruning of the embedded network),
    ``cfg.noise.seed`` its read-noise seed. ``cache`` is the group's (programmed tiles, transfer
    and admittance matrices, drop maps, shared by its points).
    """
    return evaluate_point(cfg, cache=cache)


def run_group(loaded, group_key: str, items: list, topic: str) -> list[dict]:
    """Evaluate the points ``items`` (``(point_id, cfg)``) of one group in order.

    Each finished point is sent at once as an event ``{"id", "values", "error", "seconds",
    "worker", "attempt"}`` on ``topic`` (``attempt`` differs between two executions of the same
    task); the same messages are returned. An error of one point is reported
    in its message (type and text) and the group goes on with the next point.
    """
    import uuid

    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:   # pragma: no cover - not on a worker (direct call)
        worker = None
    plugin = worker.plugins.get(PLUGIN_NAME) if worker is not None else None
    cache = plugin.cache_for(group_key) if plugin is not None else {}
    out = []
    attempt = uuid.uuid4().hex
    with blas_threads(1):
        for point_id, cfg in items:
            cache.setdefault(network_cache_key(cfg), loaded)
            t0 = time.perf_counter()
            msg = {"id": point_id, "values": None, "error": None, "attempt": attempt,
                   "worker": worker.address if worker is not None else ""}
            try:
                msg["values"] = evaluate(cfg, cache)
            except Exception as exc:  # reported per point; the client fails the sweep loudly
                msg["error"] = f"{type(exc).__name__}: {exc}"
            msg["seconds"] = time.perf_counter() - t0
            if worker is not None:
                worker.log_event(topic, msg)
            out.append(msg)
    return out
