"""Design-space sweeps and Monte Carlo over device and noise seeds, on Dask.distributed.

:func:`sweep` runs one circuit-accurate study per point of a grid (the product of lists of values
of any study keys) times Monte Carlo repeats over device seeds (forming and pruning of the
network) and read-noise seeds, and gathers one row per point: the point's parameters and seeds,
accuracy in every mode (software, ideal, behavioural, circuit), tile output error, worst IR drop
and energy per inference. ``rramsim sweep --config sweep.toml --out DIR`` is the command.

The sweep file (TOML)::

    [base]                          # the study configuration every point starts from
    file = "study.toml"             # optional, relative to this file; keys below override it
    [base.run]
    test_samples = 200

    [grid]                          # product of the lists; keys are dotted study keys
    "circuit.r_wordline_ohm,circuit.r_bitline_ohm" = [1.0, 2.0, 5.0]   # one value for both
    "mapping.tile_rows,mapping.tile_cols" = [32, 64]
    converters.adc_bits = [8, 14]

    [monte_carlo]
    device_seeds = 2                # a count (seeds derived from `seed`) or a list of seeds
    noise_seeds = 3
    seed = 0                        # default: the base configuration's run.seed
    paired = true                   # the same seeds at every grid point (common random numbers)

    [output]
    plots = true                    # one PNG per swept key, every metric against it
    parquet = true                  # results.parquet beside results.csv when pyarrow is installed

**Seeds.** A point's seeds derive from the base seed and its replicate indices, with
:class:`numpy.random.SeedSequence` (with ``paired = false`` also from a hash of the point's
parameters), never from the worker or the order of completion: the table is the same with 1
worker or 8. The device seed is the study's ``run.seed`` of the point (the formed conductances
and the pruning adapted to them: one chip); the noise seed seeds the read noise.

**Engine.** Without a client, a Dask LocalCluster of one single-threaded process per core (BLAS at
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

import dataclasses
import hashlib
import itertools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rramsim.errors import SweepError
from rramsim.studies.config import ConfigError, StudyConfig, config_from_dict, load_config, to_toml

__all__ = ["SweepError", "SweepSpec", "SweepPoint", "SweepResult", "load_sweep", "expand",
           "sweep", "METRICS"]

METRICS = ("acc_software", "acc_ideal", "acc_behavioural", "acc_circuit", "tile_error_rel",
           "ir_drop_worst_rel", "energy_per_inference_J")
# sections whose keys leave the programmed tiles and transfer matrices unchanged
REUSE_SECTIONS = ("converters", "noise", "energy")
# keys a sweep point does not use (the demo's own sweeps and co-simulation check) or owns itself
NOT_SWEPT = {"run.seed": "the device seed: use [monte_carlo] device_seeds",
             "noise.seed": "the read-noise seed: use [monte_carlo] noise_seeds",
             "cosim": "the co-simulation check is not part of a sweep point",
             "sweep": "the demo's built-in sweeps are not part of a sweep point"}
_TAG_DEVICE, _TAG_NOISE = 1, 2


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: base study configuration, grid, Monte Carlo seeds, outputs.

    Attributes
    ----------
    base : StudyConfig
    grid : tuple of (keys, values)
        ``keys`` a tuple of dotted study keys set together to each value of ``values``.
    device_seeds, noise_seeds : tuple of int or None
        Explicit seeds, or None when derived (``device_count`` / ``noise_count`` of them).
    seed : int
        Base seed of the derived seeds.
    paired : bool
        Same seeds at every grid point (True) or seeds mixed with the point's parameters.
    plots, parquet : bool
    source : str
        Where the sweep came from (file name), for messages.
    """

    base: StudyConfig
    grid: tuple = ()
    device_count: int = 1
    noise_count: int = 1
    device_seeds: tuple | None = None
    noise_seeds: tuple | None = None
    seed: int = 0
    paired: bool = True
    plots: bool = True
    parquet: bool = True
    source: str = "sweep configuration"

    @property
    def swept_keys(self) -> list[str]:
        """Every study key the grid sets (table columns)."""
        return [k for keys, _ in self.grid for k in keys]

    @property
    def plot_keys(self) -> list[str]:
        """One key per grid entry (the first of keys set together)."""
        return [keys[0] for keys, _ in self.grid]


@dataclass(frozen=True)
class SweepPoint:
    """One study run of a sweep: index in the sweep's order, parameters, replicates, seeds."""

    index: int
    params: tuple          # ((dotted key, value), ...) in grid order
    device_rep: int
    noise_rep: int
    device_seed: int
    noise_seed: int
    cfg: StudyConfig = field(compare=False, repr=False)

    @property
    def point_id(self) -> str:
        """Stable identity: a hash of the parameters and seeds (not of the index)."""
        return _digest({"params": dict(self.params), "device_seed": self.device_seed,
                        "noise_seed": self.noise_seed})[:16]

    def row(self) -> dict:
        """The point's identifying columns of the results table."""
        return {"point": self.index, "point_id": self.point_id, **dict(self.params),
                "device_rep": self.device_rep, "noise_rep": self.noise_rep,
                "device_seed": self.device_seed, "noise_seed": self.noise_seed}

    def _key(self, sections) -> str:
        return _digest({"device_seed": self.device_seed,
                        "params": [(k, v) for k, v in self.params
                                   if k.split(".")[0] in sections]})

    @property
    def network_key(self) -> str:
        """Points with the same key share one trained network (and data)."""
        return self._key(("run", "network", "train")) + (
            f"-{self.cfg.converters.calibration_samples}")

    @property
    def group_key(self) -> str:
        """Points with the same key share programmed tiles and transfer matrices."""
        secs = {f.name for f in dataclasses.fields(StudyConfig)} - set(REUSE_SECTIONS)
        return self._key(tuple(secs)) + f"-{self.network_key}"


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


# --- the sweep file --------------------------------------------------------------------------

def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _study_dict(cfg: StudyConfig) -> dict:
    """A configuration as a plain nested dict (the TOML it writes, parsed back)."""
    out: dict = {}
    for sec in dataclasses.fields(StudyConfig):
        obj = getattr(cfg, sec.name)
        out[sec.name] = {}
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            out[sec.name][f.name] = list(v) if isinstance(v, tuple) else v
    return out


def _flatten(table: Mapping, prefix: str = "") -> dict:
    out = {}
    for k, v in table.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{name}."))
        else:
            out[name] = v
    return out


def _check_key(key: str, where: str) -> None:
    sec, _, name = key.partition(".")
    sections = {f.name: type(getattr(StudyConfig(), f.name)) for f in dataclasses.fields(StudyConfig)}
    if sec not in sections or not name:
        raise ConfigError(f"{where}: [grid] {key!r} is not a study key (section.key); sections: "
                          f"{sorted(sections)}")
    known = {f.name for f in dataclasses.fields(sections[sec])}
    if name not in known:
        raise ConfigError(f"{where}: [grid] {key!r}: unknown key {name!r} of [{sec}]; known: "
                          f"{sorted(known)}")
    for bad, why in NOT_SWEPT.items():
        if key == bad or sec == bad:
            raise ConfigError(f"{where}: [grid] {key!r} cannot be swept: {why}")


def _seeds(value, key: str, where: str) -> tuple[int, tuple | None]:
    """``device_seeds`` / ``noise_seeds``: a count >= 1, or a list of distinct seeds >= 0."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: monte_carlo.{key} must be a count or a list of seeds")
    if isinstance(value, int):
        if not 1 <= value <= 100_000:
            raise ConfigError(f"{where}: monte_carlo.{key} = {value}: a count must be in 1..100000")
        return value, None
    if isinstance(value, list) and value and all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value):
        if len(set(value)) != len(value):
            raise ConfigError(f"{where}: monte_carlo.{key} lists a seed twice: {value}")
        return len(value), tuple(int(s) for s in value)
    raise ConfigError(f"{where}: monte_carlo.{key} must be a count >= 1 or a non-empty list of "
                      f"integer seeds >= 0, got {value!r}")


def _table(data: Mapping, name: str, known: set, where: str) -> dict:
    t = data.get(name, {})
    if not isinstance(t, Mapping):
        raise ConfigError(f"{where}: [{name}] must be a table")
    for k in t:
        if k not in known:
            raise ConfigError(f"{where}: unknown key {name}.{k}; known: {sorted(known)}")
    return dict(t)


def _read_source(config) -> tuple[dict, Path, str]:
    """The sweep's parsed table, the folder its paths are relative to, and its name."""
    from rramsim.studies.config import _load_toml_bytes

    if isinstance(config, (str, os.PathLike)):
        path = Path(config)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read sweep file {path}: {exc}") from exc
        return _load_toml_bytes(raw, str(path)), path.parent, str(path)
    if isinstance(config, Mapping):
        return dict(config), Path.cwd(), "sweep configuration"
    raise ConfigError(f"a sweep configuration is a TOML file or a mapping, got "
                      f"{type(config).__name__}")


def _base_config(data: Mapping, root: Path, where: str) -> StudyConfig:
    """``[base]``: the study configuration of ``base.file`` (or the defaults), keys overridden."""
    base_t = data.get("base", {})
    if not isinstance(base_t, Mapping):
        raise ConfigError(f"{where}: [base] must be a table")
    base_t = dict(base_t)
    file = base_t.pop("file", None)
    if file is not None and not isinstance(file, str):
        raise ConfigError(f"{where}: base.file must be a path string, got {file!r}")
    base0 = load_config(root / file) if file else StudyConfig()
    merged = _study_dict(base0)
    for sec, content in base_t.items():
        if not isinstance(content, Mapping):
            raise ConfigError(f"{where}: [base.{sec}] must be a table")
        merged.setdefault(sec, {}).update(content)
    return config_from_dict(merged, where=f"{where} [base]")


def _grid(data: Mapping, base: StudyConfig, where: str) -> list[tuple[tuple, tuple]]:
    """``[grid]``: (keys set together, values as the study configuration reads them) per entry."""
    grid_t = data.get("grid", {})
    if not isinstance(grid_t, Mapping):
        raise ConfigError(f"{where}: [grid] must be a table")
    grid, seen = [], set()
    for spec, values in _flatten(grid_t).items():
        keys = tuple(k.strip() for k in spec.split(","))
        for k in keys:
            _check_key(k, where)
            if k in seen:
                raise ConfigError(f"{where}: [grid] sets {k!r} twice")
            seen.add(k)
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: [grid] {spec!r} must be a non-empty list of values, "
                              f"got {values!r}")
        checked = []
        for v in values:
            cfg = _apply(base, dict.fromkeys(keys, v), f"{where}: [grid] {spec} = {v!r}")
            checked.append(_get(cfg, keys[0]))
        if len(set(map(repr, checked))) != len(checked):
            raise ConfigError(f"{where}: [grid] {spec!r} lists a value twice: {values}")
        grid.append((keys, tuple(checked)))
    return grid


def _monte_carlo(data: Mapping, base: StudyConfig, swept: list[str], where: str) -> dict:
    """``[monte_carlo]``: the SweepSpec fields of the device and noise seeds."""
    mc = _table(data, "monte_carlo", {"device_seeds", "noise_seeds", "seed", "paired"}, where)
    dcount, dseeds = _seeds(mc.get("device_seeds", 1), "device_seeds", where)
    ncount, nseeds = _seeds(mc.get("noise_seeds", 1), "noise_seeds", where)
    seed = mc.get("seed", base.run.seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"{where}: monte_carlo.seed must be an integer >= 0, got {seed!r}")
    paired = mc.get("paired", True)
    if not isinstance(paired, bool):
        raise ConfigError(f"{where}: monte_carlo.paired must be true or false")
    if dcount > 1 and (base.network.path or any(k.startswith("network.") for k in swept)):
        raise ConfigError(f"{where}: monte_carlo.device_seeds > 1 draws devices for the embedded "
                          "network; a network file fixes its conductances (use one device seed)")
    if not paired and (dseeds is not None or nseeds is not None):
        raise ConfigError(f"{where}: monte_carlo.paired = false derives seeds per point; it "
                          "cannot be combined with explicit lists of seeds")
    return {"device_count": dcount, "noise_count": ncount, "device_seeds": dseeds,
            "noise_seeds": nseeds, "seed": int(seed), "paired": paired}


def _outputs(data: Mapping, where: str) -> dict:
    """``[output]``: which files besides results.csv (plots, parquet)."""
    out = _table(data, "output", {"plots", "parquet"}, where)
    for k, v in out.items():
        if not isinstance(v, bool):
            raise ConfigError(f"{where}: output.{k} must be true or false, got {v!r}")
    return {"plots": out.get("plots", True), "parquet": out.get("parquet", True)}


def load_sweep(config) -> SweepSpec:
    """Read and validate a sweep: a TOML file path, a parsed mapping, or a :class:`SweepSpec`.

    Raises
    ------
    rramsim.studies.config.ConfigError
        Unknown section or key, a grid key that is not a study key (or cannot be swept), an empty
        or repeated list, a value the study configuration rejects (named with its key), bad seeds.
    """
    if isinstance(config, SweepSpec):
        return config
    data, root, where = _read_source(config)
    for sec in data:
        if sec not in ("base", "grid", "monte_carlo", "output"):
            raise ConfigError(f"{where}: unknown section [{sec}]; known: [base], [grid], "
                              "[monte_carlo], [output]")
    base = _base_config(data, root, where)
    grid = _grid(data, base, where)
    swept = [k for keys, _ in grid for k in keys]
    return SweepSpec(base=base, grid=tuple(grid), **_monte_carlo(data, base, swept, where),
                     **_outputs(data, where), source=where)


def _get(cfg: StudyConfig, key: str):
    sec, name = key.split(".", 1)
    return getattr(getattr(cfg, sec), name)


def _apply(base: StudyConfig, values: Mapping, where: str) -> StudyConfig:
    d = _study_dict(base)
    for key, v in values.items():
        sec, name = key.split(".", 1)
        d[sec][name] = v
    try:
        return config_from_dict(d, where=where)
    except ConfigError as exc:
        raise ConfigError(str(exc)) from None


def _derive(seed: int, tag: int, rep: int, salt: tuple = ()) -> int:
    ss = np.random.SeedSequence([int(seed), tag, int(rep), *salt])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def expand(spec: SweepSpec) -> list[SweepPoint]:
    """Every point of the sweep in its fixed order: grid (file order), device seed, noise seed."""
    points = []
    names = [keys for keys, _ in spec.grid]
    for combo in itertools.product(*[vals for _, vals in spec.grid]):
        params = tuple((k, v) for keys, v in zip(names, combo, strict=True) for k in keys)
        salt = () if spec.paired else tuple(
            int(x) for x in np.frombuffer(bytes.fromhex(_digest(dict(params))[:32]), np.uint32))
        for d in range(spec.device_count):
            dseed = (spec.device_seeds[d] if spec.device_seeds is not None
                     else _derive(spec.seed, _TAG_DEVICE, d, salt))
            for n in range(spec.noise_count):
                nseed = (spec.noise_seeds[n] if spec.noise_seeds is not None
                         else _derive(spec.seed, _TAG_NOISE, n, salt))
                cfg = _apply(spec.base, {**dict(params), "run.seed": dseed, "noise.seed": nseed},
                             spec.source)
                points.append(SweepPoint(index=len(points), params=params, device_rep=d,
                                         noise_rep=n, device_seed=dseed, noise_seed=nseed,
                                         cfg=cfg))
    return points


def base_fingerprint(spec: SweepSpec) -> dict:
    """What a sweep folder is tied to: the base configuration (TOML and hash), point function."""
    from rramsim.studies._sweep_worker import POINT_FUNCTION

    text = to_toml(spec.base)
    return {"base_config_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "point_function": POINT_FUNCTION, "base_config": _study_dict(spec.base)}


# --- the engine ------------------------------------------------------------------------------

def cores() -> int:
    """Cores this process may use (the default number of LocalCluster workers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class _Engine:
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
    from rramsim.studies._sweep_store import SweepStore

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
            engine = _Engine(client, workers=workers, dashboard=dashboard, log=say)
            rec = _Recorder(points, todo, store, res, session=uuid.uuid4().hex,
                            on_point=on_point)
            with engine as cl:
                _run(cl, rec, progress=progress, local=engine.cluster is not None, say=say)
        res.seconds = time.perf_counter() - t0
        res.table = store.table(points)
        store.write_table(points, failed=res.failed)
        if store.dir is not None and spec.plots and len(res.table):
            from rramsim.studies._sweep_plot import plot_sweep

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
    from rramsim.studies import _sweep_worker as w

    for p in todo:
        if p.network_key in tasks.nets:
            continue
        key = f"rramsim-network-{p.network_key}-{session}"
        if p.cfg.network.path:
            # a network file is read here (workers need not see it) and goes into the task
            # itself, so the scheduler can hand it to a new worker if its holder dies
            import warnings

            from rramsim.studies.loading import load

            with warnings.catch_warnings():   # a large network file is sent once, on purpose
                warnings.filterwarnings("ignore", message="Sending large graph")
                tasks.nets[p.network_key] = client.submit(w.ship, load(p.cfg), key=key,
                                                          priority=10)
        else:   # the embedded default: trained by a worker
            tasks.nets[p.network_key] = client.submit(w.load_network, p.cfg, key=key,
                                                      priority=10)


def _submit_groups(client, rec: _Recorder, tasks: _Tasks, topic: str, n_workers: int) -> None:
    """One task per group of points sharing their tiles, on the group's network."""
    from rramsim.studies import _sweep_worker as w

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

    from rramsim.studies import _sweep_worker as w

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
