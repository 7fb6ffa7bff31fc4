"""Study configuration: a validated TOML file, every value with its unit in its key name.

Keys end in their unit (``_ohm``, ``_V``, ``_s``, ``_J``, ``_rel`` for a fraction, ``_bits``);
counts and names carry none; every field's docstring (below its declaration) states its meaning
and unit. Numbers are range-checked when the configuration is read, before anything is
allocated. Unknown sections or keys, wrong types and out-of-range values raise
:class:`ConfigError` naming ``section.key``. :func:`to_toml` writes a configuration back (the
report stores the exact configuration that made it). Python 3.11+ reads TOML with :mod:`tomllib`;
on 3.10 the same API from the ``tomli`` package is used when installed.

Example (all keys optional; these are the defaults)::

    [run]
    seed = 0                     # every random draw of the study derives from it
    test_samples = 0             # 0 = the whole test set

    [network]
    path = ""                    # a network file (rramsim prune --out); "" = train as [train] says
    dataset = ""                 # "" = the data set the network was trained on
    data_dir = ""                # folder of the data set's files (IDX, recordings)

    [train]                      # the embedded network: rramsim.nn.run_prune
    task = "digits"              # or "fashion-mnist", "fsdd", "drive" (from [network] data_dir)
    architecture = ""            # "" = the task's own: mlp / fashion-mnist-cnn / spoken-digit-net / unet
    hidden = [256, 256]
    epochs = 20                  # epochs, batch, lr: default the task's own (digits: these)
    batch = 64
    lr = 0.1
    k = 0.5                      # kept fraction per layer
    limiter_start_rel = 0.01     # flip limiter (fraction of masks per update), 0 = none
    limiter_end_rel = 0.007
    max_train = 0                # 0 = the whole training split
    baseline = true              # also write-and-verify a conventionally trained network

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
    sense = "ideal_tia"          # or "finite_gain_tia" (sense_gain), "resistor" (sense_r_ohm)
    sense_gain = 10000.0
    sense_r_ohm = 1000.0
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
    seed = -1                    # read-noise seed; -1 = derived from [run] seed

    [energy]
    gpu_energy_per_mac_J = 3.822e-11

    [cosim]
    tiles = 2                    # tiles checked against ngspice per study
    window = 64                  # larger tiles are checked on a window this size
    inputs = 2                   # input vectors per checked tile
    tolerance_rel = 1e-6         # max |solver - ngspice| / max |ngspice| allowed
    engine = "ngspice"           # or "vacask" (whole tiles)
    whole_tiles = false          # true: whole tiles even with ngspice

    [readout]                    # how the macro reads (rramsim.studies.readout.reads)
    rows_per_read = 0            # word lines per read, 0 = all; partial sums added digitally
    inactive_rows = "grounded"   # or "floating"
    encoding = "amplitude"       # or "bit-serial", "pwm"
    columns_per_adc = 1          # columns sharing one ADC through a multiplexer
    calibration = "ideal_scale"  # or "column", "group", "rerange", "column_rerange"
    pareto_rows_per_read = []    # e.g. [512, 64, 8]: every encoding at each, for the Pareto plot

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

import numpy as np

from rramsim.errors import ConfigError
from rramsim.nn.experiment import TASK_DEFAULTS
from rramsim.studies.inference.quantize import RANGE_CALIBRATIONS
from rramsim.studies.readout.scheme import ENCODINGS, INACTIVE, OUTPUT_CALIBRATIONS, ReadScheme

DRIVES = ("left", "both")
SENSES = ("ideal_tia", "finite_gain_tia", "resistor")
SCHEMES = ("columns", "rows")
PLACEMENTS = ("naive", "ir_aware")
#: The converter presets: the study's board, and published integrated converters (their figures:
#: :mod:`rramsim.studies.costs.energy`, their timings: :mod:`rramsim.studies.readout.cost`).
PRESET_BOARD, PRESET_INTEGRATED = "board", "integrated"
PRESETS = (PRESET_BOARD, PRESET_INTEGRATED)
#: The data sets the studies read (one network task each).
DATASETS = ("digits", "fashion-mnist", "fsdd", "drive")
TASK_ARCHITECTURE = {"digits": "mlp", "fashion-mnist": "fashion-mnist-cnn",
                     "fsdd": "spoken-digit-net", "drive": "unet"}
ENGINES = ("ngspice", "vacask")


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


MAX_INT = 2**63 - 1          # largest integer a TOML value may hold here (int64)
MAX_TILE = 4096              # largest tile side, cells (a 4096 x 4096 tile is 16.8 M cells)


def _within(sec: str, key: str, value, lo, hi, unit: str = "") -> None:
    _need(lo <= value <= hi, f"{sec}.{key}", f"must be in {lo}..{hi}{unit}, got {value}")


@dataclass(frozen=True)
class RunConfig:
    """``[run]``: the seed and how much of the test set to use."""

    seed: int = 0
    """Seed of every random draw of the study (integer >= 0, no unit)."""
    test_samples: int = 0
    """Test inputs evaluated (count; 0 = the whole test split)."""

    def __post_init__(self) -> None:
        _within("run", "seed", self.seed, 0, MAX_INT)
        _within("run", "test_samples", self.test_samples, 0, 10**8)


@dataclass(frozen=True)
class NetworkConfig:
    """``[network]``: the network and the data set it runs on."""

    path: str = ""
    """Network file (``rramsim prune --out``); "" = train the embedded default as ``[train]``
    says."""
    dataset: str = ""
    """Data set: "digits", "fashion-mnist", "fsdd", "drive" (patches, pixel accuracy); "" = the
    one the network was trained on."""
    data_dir: str = ""
    """Folder with the data set's files (IDX files, recordings); "" = the network file's own."""
    device_file: str = ""
    """Measured read-outs (``{set, reset}``, :mod:`rramsim.devmodel.measured`) of a network whose
    pairs came from them; "" = the file the network file records (``rramsim prune
    --device-file``, ``rramsim import-torch --device-file``)."""
    reads: int = 0
    """Reads of the measured read-outs the test batches cycle through (batch b on read
    b mod reads, as the study's test loop; count); 0 = every read of the file, 1 = the stored
    read only."""
    read_batch: int = 0
    """Test inputs per read (the study's test batch, e.g. 9 for spoken digits; inputs); 0 = the
    evaluation's own batch."""

    def __post_init__(self) -> None:
        _need(self.dataset in ("",) + DATASETS, "network.dataset",
              f"must be one of {('',) + DATASETS}")
        _need(self.reads >= 0, "network.reads", "must be >= 0")
        _need(self.read_batch >= 0, "network.read_batch", "must be >= 0")


@dataclass(frozen=True)
class TrainConfig:
    """``[train]``: how the embedded network is trained (``rramsim.nn.run_prune``) when
    ``[network] path`` is empty; the report embeds it, so the run can be reproduced."""

    task: str = "digits"
    """Data set trained on: "digits" (embedded), "fashion-mnist", "fsdd" or "drive" (read from
    ``[network] data_dir``)."""
    architecture: str = ""
    """"mlp", "fashion-mnist-cnn", "spoken-digit-net" or "unet"; "" = the task's own (the
    study's)."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer sizes of the MLP (neurons)."""
    epochs: int = 20
    """Training epochs of the scores (count); read from a file, the task's own when not given
    (:data:`rramsim.nn.experiment.TASK_DEFAULTS`; digits: 20)."""
    batch: int = 64
    """Mini-batch size (inputs); the task's own when not given (digits: 64)."""
    lr: float = 0.1
    """Learning rate of the scores (per unit gradient, no unit); the task's own when not given
    (digits: 0.1). The task also sets the optimiser and the baseline's training."""
    k: float = 0.5
    """Kept fraction of the weights per layer (fraction; the study: 0.5)."""
    limiter_start_rel: float = 0.01
    """Flip limiter: largest fraction of masks that may flip per update at the start (fraction;
    0 = no limiter)."""
    limiter_end_rel: float = 0.007
    """Flip limiter: the same at the end of training (fraction)."""
    max_train: int = 0
    """Training inputs used (count; 0 = the whole training split)."""
    baseline: bool = True
    """Also train the conventional baseline and program it by write-and-verify."""

    def __post_init__(self) -> None:
        _need(self.task in TASK_ARCHITECTURE, "train.task",
              "must be 'digits', 'fashion-mnist', 'fsdd' or 'drive'")
        own = TASK_ARCHITECTURE[self.task]
        _need(self.architecture in ("", own), "train.architecture",
              f"task {self.task!r} trains the study's {own!r} (or leave it empty), got "
              f"{self.architecture!r}")
        _need(len(self.hidden) >= 1 and all(1 <= h <= 65536 for h in self.hidden),
              "train.hidden", "must be a non-empty list of sizes in 1..65536")
        _within("train", "epochs", self.epochs, 1, 10000)
        _within("train", "batch", self.batch, 1, 10**6)
        _need(0 < self.lr <= 100, "train.lr", f"must be in (0, 100], got {self.lr}")
        _need(0 < self.k <= 1, "train.k", f"must be in (0, 1], got {self.k}")
        _need(0 <= self.limiter_end_rel <= 1 and 0 <= self.limiter_start_rel <= 1,
              "train.limiter_start_rel", "limiter fractions must be in [0, 1]")
        _within("train", "max_train", self.max_train, 0, 10**8)

    @classmethod
    def for_task(cls, task: str = "digits", **keys) -> TrainConfig:
        """``[train]`` of ``task`` with its own epochs, batch size and learning rate
        (:data:`rramsim.nn.experiment.TASK_DEFAULTS`, as ``rramsim prune --dataset TASK``
        trains), then ``keys`` over them (validated). An unknown task is refused."""
        if task not in TASK_ARCHITECTURE:
            return cls(task=task, **keys)   # refused, with the message of train.task
        own = TASK_DEFAULTS[task]["train"]
        return cls(**{"task": task, "epochs": own["epochs"], "batch": own["batch_size"],
                      "lr": own["lr"], **keys})


@dataclass(frozen=True)
class MappingConfig:
    """``[mapping]``: tile size and how the layers are placed on the tiles."""

    tile_rows: int = 64
    """Word lines per tile (cells; the study's macro: 512)."""
    tile_cols: int = 64
    """Bit lines per tile (cells)."""
    scheme: str = "columns"
    """Differential pair on two adjacent columns ("columns") or rows ("rows")."""
    placement: str = "naive"
    """"naive" (network order) or "ir_aware" (heavy rows/columns near the line ends)."""

    def __post_init__(self) -> None:
        _within("mapping", "tile_rows", self.tile_rows, 2, MAX_TILE, " cells")
        _within("mapping", "tile_cols", self.tile_cols, 2, MAX_TILE, " cells")
        _need(self.scheme in SCHEMES, "mapping.scheme", f"must be one of {SCHEMES}")
        _need(self.placement in PLACEMENTS, "mapping.placement", f"must be one of {PLACEMENTS}")


@dataclass(frozen=True)
class CircuitConfig:
    """``[circuit]``: the tile circuit (set in the mapper's tile options, once)."""

    r_wordline_ohm: float = 2.0
    """Word-line resistance per segment between neighbouring cells, ohms."""
    r_bitline_ohm: float = 2.0
    """Bit-line resistance per segment, ohms."""
    r_driver_ohm: float = 0.0
    """Output resistance of each row driver, ohms."""
    r_access_ohm: float = 0.0
    """On-resistance of each cell's access transistor, ohms (0 = no transistor, 0T1R)."""
    drive: str = "left"
    """Rows driven from one end ("left") or both ends ("both")."""
    sense: str = "ideal_tia"
    """Sense circuit at each bit line: "ideal_tia" (virtual ground), "finite_gain_tia" (op-amp
    of open-loop gain ``sense_gain``) or "resistor" (``sense_r_ohm`` to ground)."""
    sense_gain: float = 1e4
    """Open-loop voltage gain of the finite-gain TIA, V/V."""
    sense_r_ohm: float = 1e3
    """Sense resistance ("resistor") or the finite-gain TIA's feedback resistance, ohms."""
    nonlinear_cells: bool = False
    """True: cells follow the sinh read I-V ``I = G v0 sinh(V / v0)``, Newton solves per batch
    (slow); False: linear cells (transfer matrices)."""
    sinh_v0_V: float = 0.25
    """v0 of the sinh I-V, volts (used with ``nonlinear_cells``); 0 = per cell from the
    programmed cells' device model (``devmodel.tile_cells``: slope conductance g0 and v0 of each
    cell) for networks trained here, the device preset's V0 for network files."""

    def __post_init__(self) -> None:
        for k in ("r_wordline_ohm", "r_bitline_ohm", "r_driver_ohm", "r_access_ohm"):
            _need(0 <= getattr(self, k) <= 1e9, f"circuit.{k}", "must be in 0..1e9 ohms")
        _need(self.drive in DRIVES, "circuit.drive", f"must be one of {DRIVES}")
        _need(self.sense in SENSES, "circuit.sense", f"must be one of {SENSES}")
        _need(0 < self.sense_gain <= 1e12, "circuit.sense_gain", "must be in (0, 1e12] V/V")
        _need(0 < self.sense_r_ohm <= 1e12, "circuit.sense_r_ohm", "must be in (0, 1e12] ohms")
        _need(0 <= self.sinh_v0_V <= 100, "circuit.sinh_v0_V",
              "must be in [0, 100] volts (0 = from the cells)")


@dataclass(frozen=True)
class ConverterConfig:
    """``[converters]``: DAC, TIA/ADC, their calibration, and the energy figures used."""

    preset: str = PRESET_BOARD
    """Energy figures of the converters the headline reports: "board" (the study's DAC80508 /
    ADS8324 / OPA4322) or "integrated" (published on-chip converters); both are tabulated."""
    dac_bits: int = 4
    """Input DAC resolution (bits)."""
    v_read_V: float = 0.1
    """Read voltage at full-scale input, volts."""
    adc_bits: int = 14
    """ADC resolution (bits, signed)."""
    adc_full_scale_V: float = 0.9
    """ADC input full scale, volts (the TIA gain maps the calibrated current onto it)."""
    calibration: str = "max"
    """How full scales are set from the calibration batch: "max" or "percentile"."""
    calibration_percentile: float = 99.9
    """Percentile of |x| for ``calibration = "percentile"`` (percent)."""
    calibration_samples: int = 256
    """Training inputs used to calibrate the DAC ranges and TIA gains (count)."""

    def __post_init__(self) -> None:
        _need(self.preset in PRESETS, "converters.preset", f"must be one of {PRESETS}")
        _need(1 <= self.dac_bits <= 16, "converters.dac_bits", "must be in 1..16")
        _need(2 <= self.adc_bits <= 24, "converters.adc_bits", "must be in 2..24")
        _need(0 < self.v_read_V <= 1.0, "converters.v_read_V", "must be in (0, 1] volts")
        _need(0 < self.adc_full_scale_V <= 100, "converters.adc_full_scale_V",
              "must be in (0, 100] volts")
        _need(self.calibration in RANGE_CALIBRATIONS, "converters.calibration",
              f"must be one of {RANGE_CALIBRATIONS}")
        _need(0 < self.calibration_percentile <= 100, "converters.calibration_percentile",
              "must be in (0, 100]")
        _within("converters", "calibration_samples", self.calibration_samples, 1, 10**6)


@dataclass(frozen=True)
class NoiseConfig:
    """``[noise]``: read noise and how many noisy passes are averaged."""

    read_noise_rel: float = 0.01
    """Relative standard deviation of each cell's read current (fraction)."""
    repeats: int = 5
    """Noisy test-set passes averaged per accuracy figure (count)."""
    seed: int = -1
    """Seed of the read-noise draws (integer >= 0); -1 = derived from ``[run] seed``."""

    def __post_init__(self) -> None:
        _need(0 <= self.read_noise_rel < 1, "noise.read_noise_rel", "must be in [0, 1)")
        _need(1 <= self.repeats <= 100, "noise.repeats", "must be in 1..100")
        _within("noise", "seed", self.seed, -1, MAX_INT)


@dataclass(frozen=True)
class EnergyConfig:
    """``[energy]``: the GPU baseline."""

    gpu_energy_per_mac_J: float = 300.0 / 15.7e12 * 2
    """Energy per multiply-accumulate of the GPU baseline, joules (V100 at peak: 300 W /
    15.7 TFLOPS x 2 FLOP per MAC)."""

    def __post_init__(self) -> None:
        _need(0 < self.gpu_energy_per_mac_J < 1, "energy.gpu_energy_per_mac_J",
              "must be in (0, 1) J")


@dataclass(frozen=True)
class CosimConfig:
    """``[cosim]``: the co-simulation check against a reference circuit simulator."""

    tiles: int = 2
    """Tiles of the network checked per study (count; 0 = no check)."""
    window: int = 64
    """Largest side checked with ngspice, cells: bigger tiles are checked on a window this
    size around one of the network's cells."""
    inputs: int = 2
    """Random input vectors per checked tile (count)."""
    tolerance_rel: float = 1e-6
    """Largest allowed max|solver - reference| / max|reference| (fraction)."""
    engine: str = "ngspice"
    """Reference simulator: "ngspice" or "vacask" (vacask checks whole tiles)."""
    whole_tiles: bool = False
    """Check whole tiles whatever their size (slow with ngspice beyond ~64 x 64)."""

    def __post_init__(self) -> None:
        _need(self.engine in ENGINES, "cosim.engine", f"must be one of {ENGINES}")
        _within("cosim", "tiles", self.tiles, 0, 10000)
        _need(2 <= self.window <= 128, "cosim.window", "must be in 2..128 (ngspice cost)")
        _within("cosim", "inputs", self.inputs, 1, 1000)
        _need(0 < self.tolerance_rel < 1, "cosim.tolerance_rel", "must be in (0, 1)")


@dataclass(frozen=True)
class ReadoutConfig:
    """``[readout]``: how the macro reads its tiles (:mod:`rramsim.studies.readout.reads`)."""

    rows_per_read: int = 0
    """Word lines active per read (count; 0 = all rows of the tile); each group's partial sums
    are digitised and added digitally."""
    inactive_rows: str = "grounded"
    """Rows outside the active group: "grounded" (driven at 0 V) or "floating" (open)."""
    encoding: str = "amplitude"
    """Input encoding: "amplitude" (multi-level DAC), "bit-serial" (0 / V_read per bit plane,
    ADC per plane, shift-add) or "pwm" (pulse width, charge integrated)."""
    columns_per_adc: int = 1
    """Columns sharing one ADC through a multiplexer (count)."""
    calibration: str = "ideal_scale"
    """Output calibration on the calibration batch in circuit mode: "ideal_scale" (the ideal
    conductance scale), "column" (per-output digital gain and offset), "group" (a gain and
    offset per read group and column on each digitised partial sum, then the per-output fit),
    "rerange" (each layer's DAC range from its circuit-mode inputs) or "column_rerange" (column
    and rerange)."""
    pareto_rows_per_read: tuple[int, ...] = ()
    """Rows per read at which the report also evaluates every encoding for its Pareto plot of
    accuracy, energy and latency (counts; empty = only the configured scheme)."""

    def __post_init__(self) -> None:
        _within("readout", "rows_per_read", self.rows_per_read, 0, MAX_TILE, " rows")
        _within("readout", "columns_per_adc", self.columns_per_adc, 1, MAX_TILE, " columns")
        _need(self.inactive_rows in INACTIVE, "readout.inactive_rows", f"must be one of {INACTIVE}")
        _need(self.encoding in ENCODINGS, "readout.encoding", f"must be one of {ENCODINGS}")
        _need(self.calibration in OUTPUT_CALIBRATIONS, "readout.calibration",
              f"must be one of {OUTPUT_CALIBRATIONS}")
        _need(len(self.pareto_rows_per_read) <= 16
              and all(1 <= r <= MAX_TILE and float(r).is_integer()
                      for r in self.pareto_rows_per_read),
              "readout.pareto_rows_per_read", f"must be at most 16 whole counts in 1..{MAX_TILE}")

    @property
    def is_default_read(self) -> bool:
        """True when the section asks for today's read: all rows at once, amplitude inputs, one
        ADC per column, the ideal-scale calibration (whatever ``pareto_rows_per_read`` asks)."""
        return dataclasses.replace(self, pareto_rows_per_read=()) == ReadoutConfig()

    def scheme(self) -> ReadScheme:
        """The :class:`rramsim.studies.readout.scheme.ReadScheme` of this section."""
        return ReadScheme(rows_per_read=self.rows_per_read, inactive_rows=self.inactive_rows,
                          encoding=self.encoding, columns_per_adc=self.columns_per_adc)


@dataclass(frozen=True)
class SweepConfig:
    """``[sweep]``: the accuracy and IR-drop sweeps."""

    r_wire_ohm: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0)
    """Wire resistances per segment swept (ohms, both lines)."""
    tile_sizes: tuple[int, ...] = (16, 32, 64, 128)
    """Square tile sides swept (cells)."""
    noise_repeats: int = 2
    """Noisy passes per sweep accuracy figure (count)."""

    def __post_init__(self) -> None:
        _need(1 <= len(self.r_wire_ohm) <= 100 and all(0 <= r <= 1e9 for r in self.r_wire_ohm),
              "sweep.r_wire_ohm", "must be a list of 1..100 values in 0..1e9 ohms")
        _need(1 <= len(self.tile_sizes) <= 100 and all(2 <= s <= 1024 for s in self.tile_sizes),
              "sweep.tile_sizes", "must be a list of 1..100 sizes in 2..1024")
        _need(1 <= self.noise_repeats <= 100, "sweep.noise_repeats", "must be in 1..100")


@dataclass(frozen=True)
class StudyConfig:
    """The whole study configuration; sections as in the module docstring."""

    run: RunConfig = field(default_factory=RunConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
    circuit: CircuitConfig = field(default_factory=CircuitConfig)
    converters: ConverterConfig = field(default_factory=ConverterConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    cosim: CosimConfig = field(default_factory=CosimConfig)
    readout: ReadoutConfig = field(default_factory=ReadoutConfig)
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
        _need(-MAX_INT <= value <= MAX_INT, key, "must fit in 64 bits (|value| < 2**63)")
        return value
    if isinstance(default, float):
        _need(isinstance(value, (int, float)) and not isinstance(value, bool), key,
              f"must be a number, got {value!r}")
        try:
            v = float(value)
        except OverflowError:
            raise ConfigError(f"{key}: {str(value)[:20]}... is too large for a number") from None
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
            # [train]: the task's own training defaults under the keys given
            kwargs[name] = cls.for_task(**values) if cls is TrainConfig else cls(**values)
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
STREAM_NOISE, STREAM_COSIM, STREAM_SWEEP, STREAM_PROGRAM, STREAM_TRAIN, STREAM_CALIB = range(6)
STREAM_PATCHES = 6   # the DRIVE patch positions


def stream_seed(cfg: StudyConfig, purpose: int) -> np.random.SeedSequence:
    """The seed sequence of one purpose (``STREAM_*``), spawned from ``run.seed`` (``noise.seed``
    for the noise when it is set) with :class:`numpy.random.SeedSequence`; spawn it further for
    one generator per item."""
    seed = cfg.run.seed
    if purpose == STREAM_NOISE and cfg.noise.seed >= 0:
        seed = cfg.noise.seed
    return np.random.SeedSequence(seed).spawn(8)[purpose]


def stream(cfg: StudyConfig, purpose: int) -> np.random.Generator:
    """The independent generator for one purpose (noise, cosim, sweep, programming, training,
    calibration sample, DRIVE patches): :func:`stream_seed`'s generator."""
    return np.random.default_rng(stream_seed(cfg, purpose))
