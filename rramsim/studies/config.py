"""Study configuration: a validated TOML file, every value with its unit in its key name.

Keys end in their unit (``_ohm``, ``_V``, ``_s``, ``_J``, ``_rel`` for a fraction, ``_bits``);
counts and names carry none. Unknown sections or keys, wrong types and out-of-range values raise
:class:`ConfigError` naming ``section.key``. :func:`to_toml` writes a configuration back (the
report stores the exact configuration that made it). Python 3.11+ reads TOML with :mod:`tomllib`;
on 3.10 the same API from the ``tomli`` package is used when installed.

Example (all keys optional; these are the defaults)::

    [run]
    seed = 0                     # every random draw of the study derives from it
    test_samples = 0             # 0 = the whole test set

    [network]
    path = ""                    # a network file (rramsim prune --out); "" = the embedded default
    dataset = "digits"

    [mapping]
    tile_rows = 64
    tile_cols = 64
    scheme = "columns"           # differential pairs on two columns ("columns") or rows ("rows")
    placement = "naive"          # or "ir_aware" (heavy rows/columns near the line ends)

    [circuit]
    r_wordline_ohm = 2.0         # per segment
    r_bitline_ohm = 2.0          # per segment
    r_driver_ohm = 0.0
    r_access_ohm = 0.0           # 0 = no access transistor (0T1R)
    drive = "left"               # or "both"
    nonlinear_cells = false      # true: sinh read I-V, Newton solves per batch (minutes)
    sinh_v0_V = 0.25

    [converters]
    preset = "board"             # energy figures: "board" (the study's) or "integrated"
    dac_bits = 4
    v_read_V = 0.1
    adc_bits = 14
    adc_full_scale_V = 0.9
    calibration = "max"          # or "percentile"
    calibration_percentile = 99.9
    calibration_samples = 256    # training inputs used to set each TIA gain

    [noise]
    read_noise_rel = 0.01        # relative std of the read current per cell read
    repeats = 5                  # noisy test-set passes averaged per accuracy figure

    [energy]
    gpu_energy_per_mac_J = 3.822e-11

    [cosim]
    tiles = 2                    # tiles checked against ngspice per study
    window = 64                  # larger tiles are checked on a window this size
    inputs = 2                   # input vectors per checked tile
    tolerance_rel = 1e-6         # max |solver - ngspice| / max |ngspice| allowed

    [sweep]
    r_wire_ohm = [0.0, 1.0, 2.0, 5.0, 10.0]
    tile_sizes = [16, 32, 64, 128]
    noise_repeats = 2            # noisy passes per accuracy figure in the sweeps
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

from rramsim.errors import DataError

DRIVES = ("left", "both")
SCHEMES = ("columns", "rows")
PLACEMENTS = ("naive", "ir_aware")
PRESETS = ("board", "integrated")
CALIBRATIONS = ("max", "percentile")
ENGINES = ("ngspice", "vacask")


class ConfigError(DataError):
    """A configuration file or value is invalid; the message names ``section.key``."""


def _load_toml_bytes(data: bytes, where: str) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        try:
            import tomli as tomllib
        except ImportError as exc:
            raise ConfigError("reading TOML on Python 3.10 needs the 'tomli' package") from exc
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from exc


def _need(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}")


@dataclass(frozen=True)
class RunConfig:
    """``[run]``: seed (integer >= 0); test_samples (count, 0 = all)."""

    seed: int = 0
    test_samples: int = 0

    def __post_init__(self) -> None:
        _need(self.seed >= 0, "run.seed", f"must be >= 0, got {self.seed}")
        _need(self.test_samples >= 0, "run.test_samples", "must be >= 0")


@dataclass(frozen=True)
class NetworkConfig:
    """``[network]``: the network and the data set it runs on."""

    path: str = ""
    """Network file (``rramsim prune --out``); "" = the embedded default (digits MLP)."""
    dataset: str = ""
    """Data set: "digits", "fashion-mnist", "fsdd"; "" = the one the network was trained on."""
    data_dir: str = ""
    """Folder with the data set's files (IDX files, recordings); "" = the network file's own."""

    def __post_init__(self) -> None:
        _need(self.dataset in ("", "digits", "fashion-mnist", "fsdd", "drive"),
              "network.dataset", "must be one of '', 'digits', 'fashion-mnist', 'fsdd', 'drive'")


@dataclass(frozen=True)
class MappingConfig:
    """``[mapping]``: tile_rows, tile_cols (cells), scheme, placement."""

    tile_rows: int = 64
    tile_cols: int = 64
    scheme: str = "columns"
    placement: str = "naive"

    def __post_init__(self) -> None:
        _need(self.tile_rows >= 2, "mapping.tile_rows", f"must be >= 2, got {self.tile_rows}")
        _need(self.tile_cols >= 2, "mapping.tile_cols", f"must be >= 2, got {self.tile_cols}")
        _need(self.scheme in SCHEMES, "mapping.scheme", f"must be one of {SCHEMES}")
        _need(self.placement in PLACEMENTS, "mapping.placement", f"must be one of {PLACEMENTS}")


@dataclass(frozen=True)
class CircuitConfig:
    """``[circuit]``: wire, driver and access resistances (ohms), drive, cell non-linearity."""

    r_wordline_ohm: float = 2.0
    r_bitline_ohm: float = 2.0
    r_driver_ohm: float = 0.0
    r_access_ohm: float = 0.0
    drive: str = "left"
    nonlinear_cells: bool = False
    sinh_v0_V: float = 0.25

    def __post_init__(self) -> None:
        for k in ("r_wordline_ohm", "r_bitline_ohm", "r_driver_ohm", "r_access_ohm"):
            _need(getattr(self, k) >= 0, f"circuit.{k}", "must be >= 0 ohms")
        _need(self.drive in DRIVES, "circuit.drive", f"must be one of {DRIVES}")
        _need(self.sinh_v0_V > 0, "circuit.sinh_v0_V", "must be > 0 volts")


@dataclass(frozen=True)
class ConverterConfig:
    """``[converters]``: DAC/ADC bits, read voltage and ADC full scale (V), calibration."""

    preset: str = "board"
    dac_bits: int = 4
    v_read_V: float = 0.1
    adc_bits: int = 14
    adc_full_scale_V: float = 0.9
    calibration: str = "max"
    calibration_percentile: float = 99.9
    calibration_samples: int = 256

    def __post_init__(self) -> None:
        _need(self.preset in PRESETS, "converters.preset", f"must be one of {PRESETS}")
        _need(1 <= self.dac_bits <= 16, "converters.dac_bits", "must be in 1..16")
        _need(2 <= self.adc_bits <= 24, "converters.adc_bits", "must be in 2..24")
        _need(0 < self.v_read_V <= 1.0, "converters.v_read_V", "must be in (0, 1] volts")
        _need(self.adc_full_scale_V > 0, "converters.adc_full_scale_V", "must be > 0 volts")
        _need(self.calibration in CALIBRATIONS, "converters.calibration",
              f"must be one of {CALIBRATIONS}")
        _need(0 < self.calibration_percentile <= 100, "converters.calibration_percentile",
              "must be in (0, 100]")
        _need(self.calibration_samples >= 1, "converters.calibration_samples", "must be >= 1")


@dataclass(frozen=True)
class NoiseConfig:
    """``[noise]``: read_noise_rel (relative std of each cell read, fraction), repeats (count)."""

    read_noise_rel: float = 0.01
    repeats: int = 5
    seed: int = -1

    def __post_init__(self) -> None:
        _need(0 <= self.read_noise_rel < 1, "noise.read_noise_rel", "must be in [0, 1)")
        _need(1 <= self.repeats <= 100, "noise.repeats", "must be in 1..100")


@dataclass(frozen=True)
class EnergyConfig:
    """``[energy]``: gpu_energy_per_mac_J (joules per multiply-accumulate of the GPU baseline)."""

    gpu_energy_per_mac_J: float = 300.0 / 15.7e12 * 2

    def __post_init__(self) -> None:
        _need(self.gpu_energy_per_mac_J > 0, "energy.gpu_energy_per_mac_J", "must be > 0 J")


@dataclass(frozen=True)
class CosimConfig:
    """``[cosim]``: tiles and inputs checked in ngspice, window (cells), tolerance (relative)."""

    tiles: int = 2
    window: int = 64
    inputs: int = 2
    tolerance_rel: float = 1e-6
    engine: str = "ngspice"
    whole_tiles: bool = False

    def __post_init__(self) -> None:
        _need(self.engine in ENGINES, "cosim.engine", f"must be one of {ENGINES}")
        _need(self.tiles >= 0, "cosim.tiles", "must be >= 0")
        _need(2 <= self.window <= 128, "cosim.window", "must be in 2..128 (ngspice cost)")
        _need(self.inputs >= 1, "cosim.inputs", "must be >= 1")
        _need(0 < self.tolerance_rel < 1, "cosim.tolerance_rel", "must be in (0, 1)")


@dataclass(frozen=True)
class SweepConfig:
    """``[sweep]``: wire resistances per segment (ohms), square tile sizes (cells) to sweep,
    noisy passes per sweep accuracy (count)."""

    r_wire_ohm: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0)
    tile_sizes: tuple[int, ...] = (16, 32, 64, 128)
    noise_repeats: int = 2

    def __post_init__(self) -> None:
        _need(len(self.r_wire_ohm) >= 1 and all(r >= 0 for r in self.r_wire_ohm),
              "sweep.r_wire_ohm", "must be a non-empty list of values >= 0 ohms")
        _need(len(self.tile_sizes) >= 1 and all(2 <= s <= 1024 for s in self.tile_sizes),
              "sweep.tile_sizes", "must be a non-empty list of sizes in 2..1024")
        _need(1 <= self.noise_repeats <= 100, "sweep.noise_repeats", "must be in 1..100")


@dataclass(frozen=True)
class StudyConfig:
    """The whole study configuration; sections as in the module docstring."""

    run: RunConfig = field(default_factory=RunConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
    circuit: CircuitConfig = field(default_factory=CircuitConfig)
    converters: ConverterConfig = field(default_factory=ConverterConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    cosim: CosimConfig = field(default_factory=CosimConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)

    def replace(self, section: str, **changes) -> StudyConfig:
        """A copy with keys of one section changed (validated)."""
        sec = getattr(self, section)
        return dataclasses.replace(self, **{section: dataclasses.replace(sec, **changes)})


def _coerce(key: str, value, default):
    """Check a TOML value against the type of the field's default; ints are accepted for floats."""
    if isinstance(default, bool):
        _need(isinstance(value, bool), key, f"must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        _need(isinstance(value, int) and not isinstance(value, bool), key,
              f"must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        _need(isinstance(value, (int, float)) and not isinstance(value, bool), key,
              f"must be a number, got {value!r}")
        v = float(value)
        _need(v == v and abs(v) != float("inf"), key, "must be finite")
        return v
    if isinstance(default, str):
        _need(isinstance(value, str), key, f"must be a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        _need(isinstance(value, list), key, f"must be a list, got {value!r}")
        elem = default[0] if default else 0.0
        return tuple(_coerce(f"{key}[{i}]", v, elem) for i, v in enumerate(value))
    raise ConfigError(f"{key}: unsupported type")  # pragma: no cover


def config_from_dict(data: dict, *, where: str = "configuration") -> StudyConfig:
    """Build a validated :class:`StudyConfig` from a parsed TOML mapping.

    Raises
    ------
    ConfigError
        Unknown section or key, wrong type or out-of-range value (the message names it).
    """
    sections = {f.name: f for f in dataclasses.fields(StudyConfig)}
    kwargs = {}
    for name, content in data.items():
        if name not in sections:
            raise ConfigError(f"{where}: unknown section [{name}]; known: {sorted(sections)}")
        if not isinstance(content, dict):
            raise ConfigError(f"{where}: [{name}] must be a table")
        cls = type(getattr(StudyConfig(), name))
        defaults = cls()
        known = {f.name for f in dataclasses.fields(cls)}
        values = {}
        for key, value in content.items():
            if key not in known:
                raise ConfigError(f"{where}: unknown key {name}.{key}; known: {sorted(known)}")
            values[key] = _coerce(f"{name}.{key}", value, getattr(defaults, key))
        try:
            kwargs[name] = cls(**values)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    return StudyConfig(**kwargs)


def load_config(path: str | Path | None) -> StudyConfig:
    """Read and validate a TOML configuration file; ``None`` gives the defaults."""
    if path is None:
        return StudyConfig()
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {p}: {exc}") from exc
    return config_from_dict(_load_toml_bytes(data, str(p)), where=str(p))


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(type(v))  # pragma: no cover


def to_toml(cfg: StudyConfig) -> str:
    """The configuration as TOML text; ``config_from_dict(tomllib.loads(to_toml(c))) == c``."""
    out = []
    for sec in dataclasses.fields(StudyConfig):
        obj = getattr(cfg, sec.name)
        out.append(f"[{sec.name}]")
        for f in dataclasses.fields(obj):
            out.append(f"{f.name} = {_toml_value(getattr(obj, f.name))}")
        out.append("")
    return "\n".join(out)


def config_from_toml(text: str) -> StudyConfig:
    """Parse and validate TOML text."""
    return config_from_dict(_load_toml_bytes(text.encode("utf-8"), "TOML text"))


# indices of the independent random streams spawned from the run seed
STREAM_NOISE, STREAM_COSIM, STREAM_SWEEP, STREAM_PROGRAM, STREAM_TRAIN = range(5)


def stream(cfg: StudyConfig, purpose: int):
    """The independent generator for one purpose (noise, cosim, sweep, programming, training),
    spawned from ``run.seed`` with :class:`numpy.random.SeedSequence`."""
    import numpy as np

    seed = cfg.run.seed
    if purpose == STREAM_NOISE and cfg.noise.seed >= 0:
        seed = cfg.noise.seed
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(8)[purpose])
