"""One seeded pruning experiment: data, random device weights, edge-popup training, programming,
and the precise-programming baseline; the engine of ``rramsim prune``.

Reproduces the comparison of the source study (arXiv 2311.07164): a network whose random weights
are electroformed RRAM pairs, trained only by pruning (edge-popup, Ramanujan et al., CVPR 2020),
against the same network trained conventionally and programmed by write-and-verify.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from rramsim._threads import blas_threads
from rramsim.errors import DataError, ExperimentError, TrainingStopped
from rramsim.nn import _device, architectures, data
from rramsim.nn.hardware import (
    WEIGHT_SOURCES,
    DeviceNetwork,
    PreciseProgramming,
    program_precise,
    random_weights,
)
from rramsim.nn.layers import ReLURNN
from rramsim.nn.masks import FlipLimiter
from rramsim.nn.network import Network
from rramsim.nn.quant import MODES as QUANT_MODES
from rramsim.nn.quant import calibrate_levels
from rramsim.nn.train import TrainConfig, TrainState, train

DatasetName = Literal["digits", "fashion-mnist", "fsdd", "drive"]
DATASETS: tuple[str, ...] = ("digits", "fashion-mnist", "fsdd", "drive")

#: Training defaults per task. Fashion-MNIST and spoken digits: the source study's software scripts
#: (lyd126/Pruning_random_resistive_memory_for_optimizing_analogue_AI,
#: ``CNN_FashionMNIST_TO/FashionMNIST_software_TO.py``, ``CRNN_Spoken_Digit_TO/Spoken_digit_software_TO.py``):
#: SGD, learning rate 0.1, momentum 0.9, weight decay 5e-4, cosine schedule; 65 epochs of batch 60
#: and 60 epochs of batch 30. DRIVE: the study's software run
#: (``UNET_DRIVE_TO/DRIVE_software_TO.py``): Adam, learning rate 1e-4, weight decay 5e-4, cosine
#: annealing stepped per epoch, batch 64, 50 epochs, the batch-norm scale and shift trained with
#: the scores; the DRIVE baseline trains the weights with the same recipe. The baselines'
#: settings are this project's choices (the study trains none): the recurrent baseline uses
#: gradient-norm clipping at 1 and a learning rate of 0.05.
TASK_DEFAULTS: dict[str, dict] = {
    "digits": {"train": dict(epochs=20, batch_size=64, lr=0.1),
               "baseline": dict(epochs=20, batch_size=64, lr=0.05)},
    "fashion-mnist": {"train": dict(epochs=65, batch_size=60, lr=0.1, dtype="float32"),
                      "baseline": dict(epochs=65, batch_size=60, lr=0.05, dtype="float32")},
    "fsdd": {"train": dict(epochs=60, batch_size=30, lr=0.1, momentum=0.9, weight_decay=5e-4,
                           dtype="float32"),
             "baseline": dict(epochs=60, batch_size=30, lr=0.05, clip_grad_norm=1.0,
                              dtype="float32")},
    "drive": {"train": dict(epochs=50, batch_size=64, lr=1e-4, optimizer="adam", weight_decay=5e-4,
                            schedule="cosine-epoch", dtype="float32"),
              "baseline": dict(epochs=50, batch_size=64, lr=1e-4, optimizer="adam",
                               weight_decay=5e-4, schedule="cosine-epoch", dtype="float32")},
}


#: The flip limiter's thresholds per task: the study's hardware scripts (start, end); 0.01 -> 0.007
#: elsewhere.
TASK_FLIP_LIMITER: dict[str, tuple[float, float]] = {
    "digits": (0.01, 0.007), "fashion-mnist": (0.01, 0.007), "fsdd": (0.009, 0.007),
    "drive": (0.001, 0.0008)}

#: Activation quantisers per task when none are named: (bits, mode) of the study's scripts.
TASK_QUANT: dict[str, tuple] = {"digits": (None, "fixed"), "fashion-mnist": (4, "minmax"),
                                "fsdd": (3, None), "drive": (None, "fixed")}

#: Negative slope ``a`` of the scores' Kaiming-uniform initialisation per task (0: bound
#: ``sqrt(6 / fan_in)``); DRIVE: the study's ``a = sqrt(5)``, bound ``1 / sqrt(fan_in)``, which
#: its Adam steps of 1e-4 are scaled to.
TASK_SCORE_SLOPE: dict[str, float] = {"drive": 5**0.5}

_TASK = object()  # "the task's default" for task_train_configs' flip limiter


def task_train_configs(dataset: str, *, flip_limiter=_TASK, progress: bool = False,
                       **overrides) -> tuple[TrainConfig, TrainConfig]:
    """``(edge-popup, baseline)`` training configurations of a task (:data:`TASK_DEFAULTS`), with
    ``overrides`` (``epochs``, ``batch_size``; ``lr`` for the scores only) where not None; the flip
    limiter defaults to the task's (:data:`TASK_FLIP_LIMITER`), None for none."""
    if dataset not in TASK_DEFAULTS:
        raise ExperimentError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if flip_limiter is _TASK:
        flip_limiter = FlipLimiter(*TASK_FLIP_LIMITER[dataset])
    d = TASK_DEFAULTS[dataset]
    common = {k: v for k, v in overrides.items() if v is not None and k in ("epochs", "batch_size")}
    lr = overrides.get("lr")
    tr = TrainConfig(**{**d["train"], **common, **({"lr": lr} if lr is not None else {})},
                     flip_limiter=flip_limiter, progress=progress)
    base = TrainConfig(**{**d["baseline"], **common}, flip_limiter=None, progress=progress)
    return tr, base


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything a pruning run needs besides the seed.

    Attributes
    ----------
    dataset : {"digits", "fashion-mnist", "fsdd", "drive"}
        ``digits`` is embedded; the others read ``data_dir``.
    data_dir : str or None
        Directory with the IDX files / wav recordings.
    hidden : tuple of int
        Hidden sizes of the digits MLP.
    k : float
        Kept fraction per layer (study: 0.5).
    train : TrainConfig
        Edge-popup training (scores).
    baseline : bool
        Also train and program the conventional baseline.
    baseline_train : TrainConfig
        Conventional training (weights).
    precise : PreciseProgramming
        Write-and-verify programming of the baseline.
    read_noise : float
        Relative read noise when evaluating the programmed pruned network.
    max_train : int or None
        Use only the first ``max_train`` training samples (for the large data sets on 2 cores).
    in_situ : bool
        Program the masks on the device pairs at the start and after every epoch (RESET newly
        pruned pairs, SET reinstated ones) and continue training with the conductances the device
        model returns (a reinstated pair gets a new random weight); default False: training sees
        the formed weights and only the final mask is programmed.
    activation_bits : int or None
        Quantise the hidden activations (the digits MLP's; for spoken digits every layer's input
        and the recurrent state, 3 bits in the study) to this many bits, with the range calibrated
        on the training set before and after training and the straight-through estimator in the
        training loop; None keeps them in floating point.
    device_file : str or None
        Measured read-outs in the source study's ``{set, reset}`` format (``.npz`` / ``.pt``):
        the pairs come from them (:mod:`rramsim.devmodel.measured`) instead of the device model.
    patches : int
        DRIVE: 64 x 64 training patches centred in the field of view, drawn once (seeded) from the
        training images; the last 10 % are held out for validation (the study's recipe, see
        :mod:`rramsim.nn.drive`).
    test_images : int or None
        DRIVE: evaluate on the first ``test_images`` test images only (None: all 20).
    weights : {"device", "signed-constant", "kaiming"}
        The random weights: electroformed device pairs (the study's hardware runs), or the software
        weights of its software runs (:func:`rramsim.nn.hardware.random_weights`), which have no
        devices to program (no programmed accuracy).
    quant : {"fixed", "minmax", "quantile"} or None
        Activation quantisers of the Fashion-MNIST and spoken-digit networks (see
        :func:`rramsim.nn.architectures.spoken_digit_net`); None: the study's for the task and the
        weights (spoken digits: "quantile" with software weights, as its software script,
        "minmax" with device pairs, as its hardware script; Fashion-MNIST: "minmax"). Per-batch
        levels are fixed after training for inference (:func:`rramsim.nn.quant.calibrate_levels`).
    """

    dataset: DatasetName = "digits"
    data_dir: str | None = None
    hidden: tuple = (256, 256)
    k: float = 0.5
    train: TrainConfig = TrainConfig(epochs=20, lr=0.1, flip_limiter=FlipLimiter(0.01, 0.007))  # noqa: RUF009
    baseline: bool = True
    baseline_train: TrainConfig = TrainConfig(epochs=20, lr=0.05, flip_limiter=None)  # noqa: RUF009
    precise: PreciseProgramming = field(default_factory=PreciseProgramming)
    read_noise: float = 0.01
    max_train: int | None = None
    activation_bits: int | None = None
    in_situ: bool = False
    patches: int = 5000
    test_images: int | None = None
    device_file: str | None = None
    weights: str = "device"
    quant: str | None = None

    def _check_weights(self) -> None:
        if self.weights not in WEIGHT_SOURCES:
            raise ExperimentError(f"weights must be one of {WEIGHT_SOURCES}, got {self.weights!r}")
        if self.quant not in (None, *QUANT_MODES):
            raise ExperimentError(f"quant must be None or one of {QUANT_MODES}, got {self.quant!r}")
        if self.in_situ and self.weights != "device":
            raise ExperimentError(f"in-situ programming needs device-pair weights, not "
                                  f"{self.weights!r}")
        if self.device_file and self.weights != "device":
            raise ExperimentError(f"a device file gives device pairs: weights must be 'device', not "
                                  f"{self.weights!r}")

    def __post_init__(self) -> None:
        self._check_weights()
        if not self.hidden or any(int(h) != h or h < 1 for h in self.hidden):
            raise ExperimentError(f"hidden sizes must be integers >= 1, got {self.hidden!r}")
        if self.dataset not in DATASETS:
            raise ExperimentError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.dataset != "digits" and not self.data_dir:
            raise ExperimentError(f"dataset {self.dataset!r} needs data_dir")
        if not 0.0 < self.k <= 1.0:
            raise ExperimentError(f"k must be in (0, 1], got {self.k!r}")
        if not 0.0 <= self.read_noise < 1.0:
            raise ExperimentError(f"read_noise must be in [0, 1), got {self.read_noise!r}")
        if self.activation_bits is not None and not (
                int(self.activation_bits) == self.activation_bits and 1 <= self.activation_bits <= 24):
            raise ExperimentError(f"activation_bits must be None (no quantiser) or an integer in "
                                  f"[1, 24], got {self.activation_bits!r}")
        _check_drive_options(self)
        if self.max_train is not None and self.max_train < 1:
            raise ExperimentError(f"max_train must be >= 1, got {self.max_train!r}")


def _check_drive_options(config) -> None:
    """DRIVE's options: patches >= 1, test_images None or >= 1 (integers)."""
    if int(config.patches) != config.patches or config.patches < 1:
        raise ExperimentError(f"patches must be an integer >= 1, got {config.patches!r}")
    ti = config.test_images
    if ti is not None and (int(ti) != ti or ti < 1):
        raise ExperimentError(f"test_images must be None or an integer >= 1, got {ti!r}")


def load_dataset(config: ExperimentConfig, *, rng: np.random.Generator | None = None):
    """The data set named by ``config`` (for DRIVE: training patches drawn with ``rng``, the test
    images whole, as :class:`SegmentationData`)."""
    if config.dataset == "digits":
        return data.load_digits()
    if config.dataset == "fashion-mnist":
        return data.load_fashion_mnist(config.data_dir)
    if config.dataset == "drive":
        from rramsim.nn import drive

        tr = drive.load_drive_split(config.data_dir, "training")
        te = drive.load_drive_split(config.data_dir, "test")
        if config.test_images is not None:  # the first N (the study's quick runs: 5)
            n = config.test_images
            te = drive.DriveSplit(te.ids[:n], te.images[:n], te.vessels[:n], te.fov[:n])
        x, y = drive.fov_centred_patches(tr, config.patches, rng=rng or np.random.default_rng(0))
        xt, yt, xv, yv = drive.split_validation(x, y, 0.1)
        return SegmentationData("drive", xt, yt, te, xv, yv)
    return data.load_fsdd(config.data_dir)


@dataclass(frozen=True, eq=False)
class SegmentationData:
    """Training patches, held-out validation patches and whole test images of a segmentation task
    (DRIVE). The network trains on random crops of the patches (:func:`rramsim.nn.drive.augment`)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    test: object  # rramsim.nn.drive.DriveSplit
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        from rramsim.nn.drive import TRAIN_CROP

        return (self.x_train.shape[1], TRAIN_CROP, TRAIN_CROP)

    @staticmethod
    def augment(x, y, rng):
        from rramsim.nn.drive import augment

        return augment(x, y, rng)


def build_network(config: ExperimentConfig, input_shape: tuple[int, ...]) -> Network:
    """The architecture for ``config.dataset`` (MLP, Fashion-MNIST CNN or spoken-digit net)."""
    if config.dataset == "digits":
        return architectures.mlp(int(np.prod(input_shape)), tuple(config.hidden), k=config.k,
                                 activation_bits=config.activation_bits)
    if config.dataset == "fashion-mnist":
        return architectures.fashion_mnist_cnn(k=config.k, activation_bits=config.activation_bits,
                                               quant=quant_mode(config))
    if config.dataset == "drive":
        return architectures.unet(k=config.k, patch=int(input_shape[-1]))
    return architectures.spoken_digit_net(k=config.k, activation_bits=config.activation_bits,
                                          quant=quant_mode(config))


def quant_mode(config: ExperimentConfig) -> str:
    """The activation quantiser mode of a run (``config.quant`` or the task's, see there)."""
    if config.quant is not None:
        return config.quant
    if config.dataset == "fsdd":
        return "minmax" if config.weights == "device" else "quantile"
    if config.activation_bits is None:  # the input quantiser alone keeps its fixed range
        return "fixed"
    return TASK_QUANT[config.dataset][1] or "fixed"


def scale_fan_ins(net: Network) -> list[int]:
    """The fan-in each weight layer's random weights are scaled for (a recurrent layer: its input
    block's, the recurrent block taking its own scale from ``state_scale``)."""
    return [la.input_size if isinstance(la, ReLURNN) else la.fan_in for la in net.weight_layers]


@dataclass(eq=False)
class PruneRun:
    """Result of :func:`run_prune`: the trained network, its devices and the metrics."""

    network: Network
    device: DeviceNetwork
    metrics: dict


def run_prune(
    config: ExperimentConfig,
    *,
    seed: int,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    stop_after_epochs: int | None = None,
    log: Callable[[str], None] | None = None,
) -> PruneRun:
    """Run one seeded experiment; same seed and config, same metrics (timings aside).

    Steps: (1) electroform one RRAM pair per weight (``devmodel.form``), signed-constant scaled;
    (2) draw scores and the first top-k mask; (3) train the scores (edge-popup with flip limiter),
    counting mask flips; (4) program the final mask on the formed pairs (RESET the pruned ones)
    and evaluate with read noise; (5) optionally the baseline: conventional training of the same
    architecture, write-and-verify programming, evaluation with read noise.

    Parameters
    ----------
    config : ExperimentConfig
    seed : int
    checkpoint_dir : path, optional
        Write a checkpoint after every epoch (``prune.npz``, then ``baseline.npz``: the network
        file with the optimiser state; see :mod:`rramsim.nn.netfile`).
    resume : bool
        Continue from the checkpoints in ``checkpoint_dir``: the run ends with the same metrics as
        an uninterrupted one (the configuration and seed must be the same; refused for in-situ
        programming, whose device history is not stored).
    stop_after_epochs : int, optional
        Raise :class:`TrainingStopped` once this many epochs (edge-popup and baseline together)
        are done and checkpointed, as if the run had been killed there.
    log : callable, optional
        Receives progress lines (one per epoch, with the estimated time left).

    Returns
    -------
    PruneRun
        ``metrics`` holds ``test_accuracy`` (ideal masked weights; pixel accuracy inside the field
        of view for DRIVE, with ``test_segmentation``: ROC-AUC, PR-AUC, F1), ``test_accuracy_programmed``
        (programmed conductances, pruned pairs at their reset residual, read noise),
        ``programming_ops`` (cell operations of in-situ pruning: 2 per pair for the initial RESET
        of the pruned half and for every training flip), ``mask_flips`` per layer, ``seed``, the
        programming cost of deployment and of the baseline, and timings.

    Examples
    --------
    A perceptron (64 inputs, 64 hidden units, 10 classes) on random formed pairs, trained by
    pruning alone for ten epochs on 600 samples of the embedded 8 x 8 digits (scikit-learn's copy;
    no download), without the baseline:

    >>> from rramsim.nn import ExperimentConfig, TrainConfig, run_prune
    >>> config = ExperimentConfig(hidden=(64,), train=TrainConfig(epochs=10, batch_size=50),
    ...                           baseline=False, max_train=600)
    >>> run = run_prune(config, seed=0)
    >>> m = run.metrics
    >>> m["architecture"], m["n_weights"], m["n_cells"], m["n_train"], m["n_test"]
    ('mlp-64-64', 4736, 9472, 600, 360)

    Half of the pairs start pruned (``k = 0.5``) and every layer keeps half of its weights; the
    random weights themselves never change, yet the pruned network classifies most test digits
    (chance is 0.1), in software and read from the programmed pairs with 1 % read noise:

    >>> m["initial_pruned_pairs"], [float(mask.mean()) for mask in run.network.masks()]
    (2368, [0.5, 0.5])
    >>> round(m["test_accuracy"], 2), round(m["test_accuracy_programmed"], 2)
    (0.85, 0.85)

    Every training flip of a mask is one more RESET or SET of a pair (two cells):

    >>> m["programming_ops"] == 2 * (m["initial_pruned_pairs"] + sum(m["mask_flips"]))
    True
    """
    if resume and checkpoint_dir is None:
        raise ExperimentError("resume needs checkpoint_dir")
    if config.in_situ and (resume or checkpoint_dir is not None):
        raise ExperimentError("in-situ programming cannot be checkpointed or resumed (the device "
                              "history is not stored); run it without checkpoints")
    ckpt = None
    if checkpoint_dir is not None:
        ckpt = _Checkpoints(Path(checkpoint_dir), _fingerprint(config, int(seed)), resume=resume,
                            stop_after=stop_after_epochs)
        if ckpt.note and log is not None:
            log(ckpt.note)
    try:
        with blas_threads(config.train.blas_threads):
            run = _run_prune(config, int(seed), ckpt, log)
        if ckpt is not None:
            ckpt.finish()
    finally:
        if ckpt is not None:
            ckpt.release()
    return run


def _fingerprint(config: ExperimentConfig, seed: int) -> dict:
    """What must be equal for a checkpoint to continue: everything but progress display."""
    def cfg(tc: TrainConfig):
        d = dataclasses.asdict(tc)
        d.pop("progress")
        return d

    d = dataclasses.asdict(config)
    d["train"], d["baseline_train"] = cfg(config.train), cfg(config.baseline_train)
    from rramsim.nn.export import _clean

    return _clean({"seed": seed, **d})


class _Checkpoints:
    """The per-epoch checkpoints of one run (one network file per training phase)."""

    def __init__(self, directory: Path, fingerprint: dict, *, resume: bool,
                 stop_after: int | None) -> None:
        self.fingerprint, self.stop_after = fingerprint, stop_after
        self.note = None
        if stop_after is not None and stop_after < 1:
            raise ExperimentError(f"stop_after_epochs must be >= 1, got {stop_after!r}")
        if directory.exists() and not directory.is_dir():
            raise ExperimentError(f"checkpoint folder {directory} is a file")
        self._lock = _lock_folder(directory)
        if self._lock is None:  # a live run uses it (two runs into one --out)
            if resume:
                raise ExperimentError(f"another running rramsim prune uses {directory}")
            own = directory.with_name(f"{directory.name}-{os.getpid()}")
            self._lock = _lock_folder(own)
            self.note = (f"{directory} is in use by another run; this run's checkpoints go to "
                         f"{own} (resume with --checkpoint-dir {own})")
            directory = own
        self.dir = directory
        files = [directory / f"{ph}.npz" for ph in ("prune", "baseline")]
        try:
            if resume and not any(f.is_file() for f in files):
                raise ExperimentError(f"nothing to resume: no checkpoint in {directory}")
            if not resume and any(f.is_file() for f in files):
                raise ExperimentError(f"{directory} holds checkpoints of an earlier run; resume "
                                      "it (--resume) or delete the folder")
        except ExperimentError:
            self.release()
            raise
        self.done_epochs = 0  # over both phases, for stop_after

    def release(self) -> None:
        """Let other runs use the folder (the lock is an open file with an exclusive flock)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def load(self, phase: str):
        """``(NetworkFile, TrainState)`` of a phase, or None if it has no checkpoint."""
        from rramsim.nn.netfile import load_network_file

        path = self.dir / f"{phase}.npz"
        if not path.is_file():
            return None
        f = load_network_file(path)
        meta = f.metadata
        if meta.get("fingerprint") != self.fingerprint:
            old, new = meta.get("fingerprint") or {}, self.fingerprint
            diff = _differences(old, new)
            raise ExperimentError(f"checkpoint {path} is of another run (differs in {diff}); "
                                  "use the same options or delete the folder")
        st = meta["train_state"]
        velocity = []
        while f"velocity{len(velocity)}" in f.arrays:  # optimiser buffers (train.parameter_slots)
            velocity.append(f.arrays[f"velocity{len(velocity)}"])
        state = TrainState(st["epochs_done"], st["step"], velocity, st["flips"], st["losses"],
                           st["rng_state"], st["seconds"])
        self.done_epochs += state.epochs_done
        return f, state

    def saver(self, phase: str, dataset: str, n_epochs: int):
        from rramsim.nn.netfile import save_network_file

        def save(state: TrainState, net: Network) -> None:
            save_network_file(
                self.dir / f"{phase}.npz", net, dataset=dataset,
                metadata={"fingerprint": self.fingerprint, "phase": phase,
                          "train_state": state.to_json()},
                arrays={f"velocity{i}": v for i, v in enumerate(state.velocity)})
            self.done_epochs += 1
            if self.stop_after is not None and self.done_epochs >= self.stop_after:
                raise TrainingStopped(f"stopped after {self.done_epochs} epochs ({phase} epoch "
                                      f"{state.epochs_done}/{n_epochs}); checkpoints in {self.dir}")
        return save

    def finish(self) -> None:
        """The run completed: the checkpoints are no longer needed."""
        shutil.rmtree(self.dir, ignore_errors=True)
        self.release()


def _lock_folder(directory: Path):
    """An exclusive, non-blocking lock on ``directory/.lock`` (created), or None if held."""
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    fh = open(directory / ".lock", "a+")  # noqa: SIM115 - held open for the run
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted names of the entries that differ between two nested dicts."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(prefix + k)
    return out


def _restore(net: Network, saved: Network) -> None:
    """Copy a checkpoint's parameters, masks, BN statistics and quantiser ranges into ``net``."""
    for a, b in zip(net.weight_layers, saved.weight_layers, strict=True):
        a.weight, a.mask, a.scores, a.trainable = b.weight, b.mask, b.scores, b.trainable
    for a, b in zip(net.layers, saved.layers, strict=True):
        for attr in ("running_mean", "running_var", "gamma", "beta", "x_max", "state_max",
                     "levels", "inference", "state_levels", "state_inference"):
            if hasattr(b, attr):
                setattr(a, attr, getattr(b, attr))


@dataclass(frozen=True)
class _Phases:
    """The training phases of one run ("prune", then "baseline"): checkpoints (``ckpt``, None for
    none), the progress log and the data set's name (kept in the checkpoints)."""

    ckpt: object
    log: Callable[[str], None] | None
    dataset: str

    def train(self, net, phase: str, data: tuple, tconfig: TrainConfig, rng, on_epoch=None):
        """Train one phase on ``data = (x, y)``, resuming it from its checkpoint if there is one.

        Activation quantisers keep the ranges calibrated before training (a fixed DAC full scale
        the network learns to use, with the straight-through estimator); they are not
        re-calibrated afterwards, which would change the function that was trained.
        Re-calibrating between epochs was tried and kills 3-bit networks: the 99.9th percentile
        jumps as activations grow and most values then round to 0.
        """
        ckpt = self.ckpt
        resume_state = None
        if ckpt is not None:
            loaded = ckpt.load(phase)
            if loaded is not None:
                saved, resume_state = loaded
                _restore(net, saved.network)
        saver = None if ckpt is None else ckpt.saver(phase, self.dataset, tconfig.epochs)
        augment = data[2] if len(data) > 2 else None
        return train(net, data[0], data[1], config=tconfig, rng=rng, on_epoch=on_epoch,
                     resume=resume_state, on_checkpoint=saver, log=self.log, augment=augment)


def _evaluate(net: Network, ds, matmul=None, dtype: str = "float64") -> dict:
    """Test metrics: accuracy for classifiers; for DRIVE the FOV metrics of the sliding-window
    probability maps (accuracy = pixel accuracy in the FOV). Computed in ``dtype``, the precision
    the network was trained in."""
    saved, net.dtype = net.dtype, np.dtype(dtype)
    try:
        return _evaluate_in(net, ds, matmul)
    finally:
        net.dtype = saved


def _evaluate_in(net: Network, ds, matmul) -> dict:
    if isinstance(ds, SegmentationData):
        from rramsim.nn import drive

        weights = getattr(matmul, "weights", None)
        with _weights_swapped(net, weights):  # device weights as layer weights: the fast paths
            mm = None if weights is not None else matmul
            prob = np.stack([drive.sliding_window_predict(net, im, matmul=mm)
                             for im in ds.test.images])
        seg = drive.segmentation_metrics(prob, ds.test.vessels, ds.test.fov)
        return {"accuracy": seg["accuracy"], "segmentation": seg}
    return {"accuracy": net.accuracy(ds.x_test, ds.y_test, matmul=matmul)}


def _train_metric(net: Network, x, y, dtype: str) -> float:
    saved, net.dtype = net.dtype, np.dtype(dtype)
    try:
        if y.ndim > 1:  # per-pixel labels: pixel accuracy over the whole (uncropped) patches
            from rramsim.nn.drive import at_input_size

            with at_input_size(net, x.shape[2:]) as sized:
                return float(np.mean(sized.predict(x, batch_size=64) == y))
        return net.accuracy(x, y)
    finally:
        net.dtype = saved


def _training_data(config: ExperimentConfig, rng: np.random.Generator):
    """The data set, its training split (cut to ``max_train``) and the test-set size."""
    ds = load_dataset(config, rng=rng)
    xtr, ytr = ds.x_train, ds.y_train
    if config.max_train is not None:
        xtr, ytr = xtr[: config.max_train], ytr[: config.max_train]
    n_test = len(ds.test.images) if isinstance(ds, SegmentationData) else len(ds.x_test)
    if len(xtr) == 0 or n_test == 0:
        raise DataError(f"data set {ds.name}: empty training or test split")
    return ds, xtr, ytr, n_test


def _formed_network(config: ExperimentConfig, ds, xtr, rng_form, rng_scores):
    """Steps 1-2: the network on freshly formed random pairs, its scores and first top-k mask,
    quantisers calibrated on ``xtr``. Returns ``(net, device, forming cost, pruned pairs)``."""
    net = build_network(config, ds.input_shape)
    fans = scale_fan_ins(net)
    if config.device_file:  # measured pairs: nothing is formed here
        device = _device.measured_pairs(net, config.device_file, rng=rng_form)
        forming = device.program([np.ones(s, bool) for s in net.shapes])
        net.set_weights(device.weights())
    elif config.weights == "device":
        device, forming = DeviceNetwork.form(net.shapes, rng=rng_form, scale_fan_ins=fans)
        net.set_weights(device.weights())
        _set_pruned(net, device)
    else:
        device, forming = None, None
        net.set_weights(random_weights(config.weights, net.shapes, rng=rng_form,
                                       scale_fan_ins=fans))
    net.init_scores(rng=rng_scores, a=TASK_SCORE_SLOPE.get(config.dataset, 0.0))
    initial_pruned = sum(int((~la.mask).sum()) for la in net.weight_layers)
    net.calibrate(_fit_input(ds, xtr))
    return net, device, forming, initial_pruned


def _set_pruned(net: Network, device) -> None:
    """Pruned weights in the forward pass at their pairs' RESET-state values (the source study's
    hardware runs train with ``G_zero`` where the mask is 0), when the device gives them."""
    if hasattr(device, "pruned_weights"):
        for la, w in zip(net.weight_layers, device.pruned_weights(), strict=True):
            la.set_pruned_weight(w)


def _fit_input(ds, x: np.ndarray) -> np.ndarray:
    """``x`` at the network's input size: segmentation patches cut to their centre crop."""
    want = ds.input_shape
    if x.shape[1:] == tuple(want):
        return x
    r0, c0 = (x.shape[2] - want[1]) // 2, (x.shape[3] - want[2]) // 2
    return x[:, :, r0 : r0 + want[1], c0 : c0 + want[2]]


def _train_data(ds, x, y) -> tuple:
    """``(x, y)``, with the task's augmentation for segmentation data."""
    return (x, y, ds.augment) if isinstance(ds, SegmentationData) else (x, y)


#: Test batch size of the study's scripts, for the accuracy with per-batch levels.
TASK_TEST_BATCH = {"digits": 64, "fashion-mnist": 20, "fsdd": 10, "drive": 64}


def fix_levels(net: Network, ds, xtr, *, batch_size: int, dtype: str) -> dict | None:
    """After training: the test accuracy with per-batch levels (the study's test batches), then the
    per-batch quantisers' levels fixed on the training set (:func:`calibrate_levels`), as a chip's
    DAC needs; every later evaluation uses the fixed levels. Returns what goes to the metrics
    (None if the network has no per-batch quantiser)."""
    qs = [la for la in net.layers if getattr(la, "per_batch", False)]
    if not qs:
        return None
    modes = sorted({getattr(q, "mode", None) or q.state_mode for q in qs})
    out: dict = {"training_levels": "per-batch " + "/".join(modes),
                 "inference_levels": "fixed (mean per-batch levels on the training set)"}
    saved, net.dtype = net.dtype, np.dtype(dtype)
    try:
        if not isinstance(ds, SegmentationData):
            for q in qs:
                q.inference = "batch"
            tb = TASK_TEST_BATCH.get(ds.name, 64)
            pred = net.predict(ds.x_test, batch_size=tb)
            out["test_accuracy_batch_levels"] = float(np.mean(pred == ds.y_test))
            out["test_batch_size"] = tb
        else:  # DRIVE: the study's evaluation, per-batch levels over batches of 64 windows
            for q in qs:
                q.inference = "batch"
            out["test_segmentation_batch_levels"] = _evaluate_in(net, ds, None)["segmentation"]
        calibrate_levels(net, _fit_input(ds, xtr), batch_size=batch_size)
    finally:
        net.dtype = saved
    return out


def _level_metrics(fixed: dict | None, ev: dict) -> dict | None:
    if fixed is None:
        return None
    out = dict(fixed, test_accuracy_fixed_levels=ev["accuracy"])
    if "test_accuracy_batch_levels" in out:
        out["accuracy_cost_of_fixed_levels"] = out["test_accuracy_batch_levels"] - ev["accuracy"]
    return out


def _cost_totals(costs) -> dict:
    """Resets, sets, cell operations, pulses and energy summed over programming summaries."""
    costs = list(costs)
    return {"resets": sum(p.resets for p in costs), "sets": sum(p.sets for p in costs),
            "cell_ops": sum(p.cell_ops for p in costs), "pulses": sum(p.pulses for p in costs),
            "energy_j": sum(p.energy for p in costs)}


def _device_matmul(weights: list):
    """A ``matmul`` for :func:`_evaluate` that uses ``weights[i]`` (read from the devices) for
    weight layer ``i`` (also kept as its ``weights`` attribute)."""
    def matmul(i, x2d, w):
        return x2d @ weights[i].astype(x2d.dtype, copy=False)

    matmul.weights = weights
    return matmul


@contextlib.contextmanager
def _weights_swapped(net: Network, weights: list | None):
    """``net`` with every weight layer's effective weight replaced by ``weights[i]`` (masks all
    ones) inside the block: the same products as :func:`_device_matmul`, through the layers' own
    fast paths; restored afterwards. No-op for None."""
    if weights is None:
        yield net
        return
    saved = [(la.weight, la.mask) for la in net.weight_layers]
    try:
        for la, w in zip(net.weight_layers, weights, strict=True):
            la.weight, la.mask = np.asarray(w, dtype=float), np.ones(w.shape, dtype=bool)
        yield net
    finally:
        for la, (w, m) in zip(net.weight_layers, saved, strict=True):
            la.weight, la.mask = w, m


def _baseline_metrics(config: ExperimentConfig, ds, data: tuple, phases: _Phases,
                      rngs: tuple) -> dict:
    """Step 5: the same architecture trained conventionally, programmed by write-and-verify and
    read with noise; ``rngs = (training, write-verify)``."""
    rng_base, rng_wv = rngs
    base = build_network(config, ds.input_shape)
    base.make_dense(rng=rng_base)
    base.calibrate(_fit_input(ds, data[0]))
    t_b = time.perf_counter()
    phases.train(base, "baseline", data, config.baseline_train, rng_base)
    train_seconds = time.perf_counter() - t_b
    bdt = config.baseline_train.dtype
    levels = fix_levels(base, ds, data[0], batch_size=config.baseline_train.batch_size, dtype=bdt)
    precise = program_precise(base.effective_weights(), rng=rng_wv, config=config.precise)
    bev = _evaluate(base, ds, dtype=bdt)
    bev_prog = _evaluate(base, ds, dtype=bdt, matmul=_device_matmul(precise.weights))
    out = {
        "test_accuracy_software": bev["accuracy"],
        "test_accuracy_programmed": bev_prog["accuracy"],
        "tolerance": config.precise.tolerance,
        "read_noise": config.precise.read_noise,
        "cell_ops": precise.summary.cell_ops,
        "pulses": precise.summary.pulses,
        "energy_j": precise.summary.energy,
        "converged_fraction": precise.converged,
        "train_seconds": train_seconds,
        "train_accuracy": _train_metric(base, data[0], data[1], bdt),
        "quantiser_levels": _level_metrics(levels, bev),
        "training": {"epochs": config.baseline_train.epochs,
                     "batch_size": config.baseline_train.batch_size,
                     "lr": config.baseline_train.lr,
                     "clip_grad_norm": config.baseline_train.clip_grad_norm},
    }
    if "segmentation" in bev:
        out["test_segmentation_software"] = bev["segmentation"]
        out["test_segmentation_programmed"] = bev_prog["segmentation"]
    return out


def _prune_metrics(config: ExperimentConfig, run: dict) -> dict:
    """The metrics of steps 1-4 from what the run produced (``run``: the names below)."""
    net, result, ev, ev_prog = run["net"], run["result"], run["ev"], run["ev_prog"]
    tc = config.train
    metrics: dict = {
        "dataset": run["dataset"],
        "architecture": net.name,
        "seed": run["seed"],
        "n_weights": net.n_weights,
        "n_cells": 2 * net.n_weights,
        "k": config.k,
        "n_train": run["n_train"],
        "n_test": run["n_test"],
        "test_accuracy": ev["accuracy"],
        "test_accuracy_programmed": None if ev_prog is None else ev_prog["accuracy"],
        "train_accuracy": run["train_accuracy"],
        "read_noise": config.read_noise,
        "weights": config.weights,
        "activation_bits": config.activation_bits,
        "quant": quant_mode(config),
        "quantiser_levels": _level_metrics(run["levels"], ev),
        "programming_ops": 2 * (run["initial_pruned"] + sum(result.mask_flips)),
        "initial_pruned_pairs": run["initial_pruned"],
        "mask_flips": list(result.mask_flips),
        "flip_limiter": (
            None if tc.flip_limiter is None
            else {"start": tc.flip_limiter.start, "end": tc.flip_limiter.end}
        ),
        "training": {"epochs": tc.epochs, "batch_size": tc.batch_size, "lr": tc.lr,
                     "momentum": tc.momentum, "weight_decay": tc.weight_decay,
                     "schedule": "cosine", "dtype": tc.dtype},
        "epoch_loss": list(result.epoch_loss),
        "epoch_seconds": run["train_seconds"] / max(tc.epochs, 1),
        "forming": (None if run["forming"] is None
                    else {"pulses": run["forming"].pulses, "energy_j": run["forming"].energy}),
        "deploy": None if run["deploy"] is None else _cost_totals([run["deploy"]]),
        "train_seconds": run["train_seconds"],
    }
    if "segmentation" in ev:
        metrics["test_segmentation"] = ev["segmentation"]
        if ev_prog is not None:
            metrics["test_segmentation_programmed"] = ev_prog["segmentation"]
    if config.in_situ:
        metrics["in_situ"] = _cost_totals(run["in_situ"])
    return metrics


def _run_prune(config: ExperimentConfig, seed: int, ckpt=None, log=None) -> PruneRun:
    t0 = time.perf_counter()
    seeds = np.random.SeedSequence(int(seed)).spawn(6)
    rng_form, rng_scores, rng_train, rng_prog, rng_base, rng_wv = (
        np.random.default_rng(s) for s in seeds
    )
    ds, xtr, ytr, n_test = _training_data(config, np.random.default_rng(seeds[1].spawn(1)[0]))
    phases = _Phases(ckpt, log, ds.name)
    net, device, forming, initial_pruned = _formed_network(config, ds, xtr, rng_form, rng_scores)
    in_situ: list = []
    on_epoch = None
    if config.in_situ:
        rng_situ = np.random.default_rng(seeds[0].spawn(1)[0])

        def on_epoch(epoch: int, network: Network) -> None:
            in_situ.append(device.program(network.masks(), rng=rng_situ))
            network.set_weights(device.weights())
            _set_pruned(network, device)

        on_epoch(-1, net)
    # step 3: train the scores
    t_train = time.perf_counter()
    result = phases.train(net, "prune", _train_data(ds, xtr, ytr), config.train, rng_train,
                          on_epoch)
    train_seconds = time.perf_counter() - t_train
    dt = config.train.dtype
    levels = fix_levels(net, ds, xtr, batch_size=config.train.batch_size, dtype=dt)
    ev = _evaluate(net, ds, dtype=dt)
    # step 4: program the final mask, read with noise (device pairs only)
    deploy = ev_prog = None
    if device is not None:
        deploy = device.program(net.masks(), rng=rng_prog)
        hw_w = device.read_weights(rng=rng_prog, noise=config.read_noise)
        ev_prog = _evaluate(net, ds, dtype=dt, matmul=_device_matmul(hw_w))
    metrics = _prune_metrics(config, {
        "net": net, "result": result, "ev": ev, "ev_prog": ev_prog, "dataset": ds.name,
        "seed": int(seed), "n_train": len(xtr), "n_test": n_test,
        "train_accuracy": _train_metric(net, xtr, ytr, dt), "initial_pruned": initial_pruned,
        "forming": forming, "deploy": deploy, "train_seconds": train_seconds, "in_situ": in_situ,
        "levels": levels})
    if config.baseline:
        metrics["baseline"] = _baseline_metrics(config, ds, _train_data(ds, xtr, ytr), phases,
                                                (rng_base, rng_wv))
    if config.device_file:
        metrics["device_source"] = device.describe()
        metrics["device_file"] = os.path.abspath(config.device_file)
    metrics["total_seconds"] = time.perf_counter() - t0
    return PruneRun(net, device, metrics)
