"""One seeded pruning experiment: data, random device weights, edge-popup training, programming,
and the precise-programming baseline; the engine of ``rramsim prune``.

Reproduces the comparison of the source study (arXiv 2311.07164): a network whose random weights
are electroformed RRAM pairs, trained only by pruning (edge-popup, Ramanujan et al., CVPR 2020),
against the same network trained conventionally and programmed by write-and-verify.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rramsim.errors import DataError, RramsimError
from rramsim.nn import architectures, data
from rramsim.nn.hardware import DeviceNetwork, PreciseProgramming, program_precise
from rramsim.nn.masks import FlipLimiter
from rramsim.nn.network import Network
from rramsim.nn.train import TrainConfig, blas_threads, train

DatasetName = Literal["digits", "fashion-mnist", "fsdd"]
DATASETS: tuple[str, ...] = ("digits", "fashion-mnist", "fsdd")


class ExperimentError(RramsimError, ValueError):
    """An experiment option is invalid."""


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything a pruning run needs besides the seed.

    Attributes
    ----------
    dataset : {"digits", "fashion-mnist", "fsdd"}
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
        Quantise the digits MLP's hidden activations to this many bits (range calibrated on the
        training set before and after training); None keeps them in floating point.
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

    def __post_init__(self) -> None:
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
        if self.max_train is not None and self.max_train < 1:
            raise ExperimentError(f"max_train must be >= 1, got {self.max_train!r}")


def load_dataset(config: ExperimentConfig) -> data.Dataset:
    """The data set named by ``config``."""
    if config.dataset == "digits":
        return data.load_digits()
    if config.dataset == "fashion-mnist":
        return data.load_fashion_mnist(config.data_dir)
    return data.load_fsdd(config.data_dir)


def build_network(config: ExperimentConfig, input_shape: tuple[int, ...]) -> Network:
    """The architecture for ``config.dataset`` (MLP, Fashion-MNIST CNN or spoken-digit net)."""
    if config.dataset == "digits":
        return architectures.mlp(int(np.prod(input_shape)), tuple(config.hidden), k=config.k,
                                 activation_bits=config.activation_bits)
    if config.dataset == "fashion-mnist":
        return architectures.fashion_mnist_cnn(k=config.k)
    return architectures.spoken_digit_net(k=config.k)


@dataclass(eq=False)
class PruneRun:
    """Result of :func:`run_prune`: the trained network, its devices and the metrics."""

    network: Network
    device: DeviceNetwork
    metrics: dict


def run_prune(config: ExperimentConfig, *, seed: int) -> PruneRun:
    """Run one seeded experiment; same seed and config, same metrics (timings aside).

    Steps: (1) electroform one RRAM pair per weight (``devmodel.form``), signed-constant scaled;
    (2) draw scores and the first top-k mask; (3) train the scores (edge-popup with flip limiter),
    counting mask flips; (4) program the final mask on the formed pairs (RESET the pruned ones)
    and evaluate with read noise; (5) optionally the baseline: conventional training of the same
    architecture, write-and-verify programming, evaluation with read noise.

    Returns
    -------
    PruneRun
        ``metrics`` holds ``test_accuracy`` (ideal masked weights), ``test_accuracy_programmed``
        (programmed conductances, pruned pairs at their reset residual, read noise),
        ``programming_ops`` (cell operations of in-situ pruning: 2 per pair for the initial RESET
        of the pruned half and for every training flip), ``mask_flips`` per layer, ``seed``, the
        programming cost of deployment and of the baseline, and timings.
    """
    with blas_threads(config.train.blas_threads):
        return _run_prune(config, int(seed))


def _run_prune(config: ExperimentConfig, seed: int) -> PruneRun:
    t0 = time.perf_counter()
    seeds = np.random.SeedSequence(int(seed)).spawn(6)
    rng_form, rng_scores, rng_train, rng_prog, rng_base, rng_wv = (
        np.random.default_rng(s) for s in seeds
    )
    ds = load_dataset(config)
    xtr, ytr = ds.x_train, ds.y_train
    if config.max_train is not None:
        xtr, ytr = xtr[: config.max_train], ytr[: config.max_train]
    if len(xtr) == 0 or len(ds.x_test) == 0:
        raise DataError(f"data set {ds.name}: empty training or test split")

    net = build_network(config, ds.input_shape)
    device, forming = DeviceNetwork.form(net.shapes, rng=rng_form)
    net.set_weights(device.weights())
    net.init_scores(rng=rng_scores)
    initial_pruned = sum(int((~la.mask).sum()) for la in net.weight_layers)
    net.calibrate(xtr)
    in_situ: list = []
    on_epoch = None
    if config.in_situ:
        rng_situ = np.random.default_rng(seeds[0].spawn(1)[0])

        def on_epoch(epoch: int, network: Network) -> None:
            in_situ.append(device.program(network.masks(), rng=rng_situ))
            network.set_weights(device.weights())

        on_epoch(-1, net)
    t_train = time.perf_counter()
    result = train(net, xtr, ytr, config=config.train, rng=rng_train, on_epoch=on_epoch)
    train_seconds = time.perf_counter() - t_train
    net.calibrate(xtr)
    acc_ideal = net.accuracy(ds.x_test, ds.y_test)

    masks = net.masks()
    deploy = device.program(masks, rng=rng_prog)
    hw_w = device.read_weights(rng=rng_prog, noise=config.read_noise)
    acc_prog = net.accuracy(ds.x_test, ds.y_test, matmul=lambda i, x2d, w: x2d @ hw_w[i])

    metrics: dict = {
        "dataset": ds.name,
        "architecture": net.name,
        "seed": int(seed),
        "n_weights": net.n_weights,
        "n_cells": 2 * net.n_weights,
        "k": config.k,
        "n_train": len(xtr),
        "n_test": len(ds.x_test),
        "test_accuracy": acc_ideal,
        "test_accuracy_programmed": acc_prog,
        "train_accuracy": net.accuracy(xtr, ytr),
        "read_noise": config.read_noise,
        "activation_bits": config.activation_bits,
        "programming_ops": 2 * (initial_pruned + sum(result.mask_flips)),
        "initial_pruned_pairs": initial_pruned,
        "mask_flips": list(result.mask_flips),
        "flip_limiter": (
            None
            if config.train.flip_limiter is None
            else {"start": config.train.flip_limiter.start, "end": config.train.flip_limiter.end}
        ),
        "epoch_loss": list(result.epoch_loss),
        "forming": {"pulses": forming.pulses, "energy_j": forming.energy},
        "deploy": {
            "resets": deploy.resets,
            "sets": deploy.sets,
            "cell_ops": deploy.cell_ops,
            "pulses": deploy.pulses,
            "energy_j": deploy.energy,
        },
        "train_seconds": train_seconds,
    }
    if config.in_situ:
        metrics["in_situ"] = {
            "resets": sum(p.resets for p in in_situ),
            "sets": sum(p.sets for p in in_situ),
            "cell_ops": sum(p.cell_ops for p in in_situ),
            "pulses": sum(p.pulses for p in in_situ),
            "energy_j": sum(p.energy for p in in_situ),
        }

    if config.baseline:
        base = build_network(config, ds.input_shape)
        base.make_dense(rng=rng_base)
        base.calibrate(xtr)
        t_b = time.perf_counter()
        train(base, xtr, ytr, config=config.baseline_train, rng=rng_base)
        base.calibrate(xtr)
        precise = program_precise(base.effective_weights(), rng=rng_wv, config=config.precise)
        metrics["baseline"] = {
            "test_accuracy_software": base.accuracy(ds.x_test, ds.y_test),
            "test_accuracy_programmed": base.accuracy(
                ds.x_test, ds.y_test, matmul=lambda i, x2d, w: x2d @ precise.weights[i]
            ),
            "tolerance": config.precise.tolerance,
            "read_noise": config.precise.read_noise,
            "cell_ops": precise.summary.cell_ops,
            "pulses": precise.summary.pulses,
            "energy_j": precise.summary.energy,
            "converged_fraction": precise.converged,
            "train_seconds": time.perf_counter() - t_b,
        }
    metrics["total_seconds"] = time.perf_counter() - t0
    return PruneRun(net, device, metrics)
