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

Running a sweep: :mod:`rramsim.studies.sweep.run`.
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
from rramsim.studies.config import (
    ConfigError,
    StudyConfig,
    _load_toml_bytes,
    config_from_dict,
    load_config,
    to_toml,
)

__all__ = ["SweepError", "SweepSpec", "SweepPoint", "load_sweep", "expand", "METRICS"]

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
# names the point function in the sweep folder's manifest: results of another one are not mixed
POINT_FUNCTION = "rramsim.studies.pipeline.evaluate_point/1"


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
    text = to_toml(spec.base)
    return {"base_config_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "point_function": POINT_FUNCTION, "base_config": _study_dict(spec.base)}
