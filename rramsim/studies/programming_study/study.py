"""The source study's central comparison: a pruned random network against precise programming.

The study (arXiv 2311.07164) claims that a random network trained only by pruning, deployed by
electroforming every cell and RESETting the pruned pairs, beats the same architecture trained
conventionally and programmed into RRAM "precisely" on the same noisy hardware: +17.3 % accuracy
on Fashion-MNIST, +19.9 % on spoken digits, +9.8 % PR-AUC on DRIVE, at a fraction of the
programming operations. How precise "precise" is decides the comparison, so
:func:`programming_study` programs the conventionally trained network at a range of precision and
cost and evaluates every point on the same device model, read noise and circuit:

- **pruned**: the edge-popup network on its electroformed pairs (:func:`rramsim.nn.run_prune`);
  cost = forming (one pulse per cell) + one RESET per cell of every pruned pair;
- **one-shot**: every cell formed, RESET, then one SET pulse with the compliance
  ``devmodel.write_verify`` would start from (an open-loop write, no verify: the device model's
  programming error as it is);
- **write-and-verify** (``devmodel.write_verify``) with a pulse budget of 1, 2, 4, ... pulses per
  cell at one tolerance, and with the full budget at several tolerances.

Targets map trained weights as :class:`rramsim.nn.PreciseProgramming` does (``G+ = g_min + a
max(w, 0)``, ``G- = g_min + a max(-w, 0)``, the largest ``|w|`` of a layer at ``g_max``). Every
point is mapped onto tiles (:func:`rramsim.studies.programming.program`) and evaluated by
:func:`rramsim.studies.inference.accuracy.evaluate` in the ideal (programmed conductances, no
converters, no noise), behavioural and circuit-accurate modes, with the configuration's converters and read
noise (the same noise stream for every point). The study returns data;
:mod:`rramsim.studies.programming_study.report` writes its outputs.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rramsim import devmodel, nn
from rramsim._threads import blas_threads
from rramsim.errors import ProgrammingStudyError
from rramsim.mapper import LinearConductanceMap
from rramsim.nn import experiment
from rramsim.nn.drive import pr_auc
from rramsim.nn.network import softmax
from rramsim.studies.config import (
    DATASETS,
    STREAM_NOISE,
    STREAM_PROGRAM,
    STREAM_TRAIN,
    StudyConfig,
    stream,
    stream_seed,
)
from rramsim.studies.inference import accuracy
from rramsim.studies.inference import modes as infer
from rramsim.studies.loading import from_network, load_data
from rramsim.studies.programming import program

#: The study's reported improvement of pruning over precise programming (arXiv 2311.07164),
#: per task: (metric, points). Read as percentage points of the metric.
STUDY_CLAIMS: dict[str, tuple[str, float]] = {
    "fashion-mnist": ("accuracy", 17.3),
    "fsdd": ("accuracy", 19.9),
    "drive": ("PR-AUC", 9.8),
}

#: Modes every point is evaluated in (software only once: it is the same for every programming).
POINT_MODES = ("ideal", "behavioural", "circuit")


@dataclass(frozen=True)
class Precision:
    """One way of programming the conventionally trained weights.

    Attributes
    ----------
    method : {"one-shot", "write-verify"}
    max_pulses : int
        Pulse budget per cell (one-shot: the single SET; its RESET is counted in the cost).
    tolerance : float
        Relative tolerance of the verify reads (one-shot: the tolerance its one read uses to
        skip a cell already at its target).
    """

    method: str
    max_pulses: int
    tolerance: float

    def __post_init__(self) -> None:
        if self.method not in ("one-shot", "write-verify"):
            raise ProgrammingStudyError(f"method must be 'one-shot' or 'write-verify', got "
                                        f"{self.method!r}")
        if int(self.max_pulses) != self.max_pulses or not 1 <= self.max_pulses <= 10_000:
            raise ProgrammingStudyError(f"max_pulses must be an integer in 1..10000, got "
                                        f"{self.max_pulses!r}")
        if not 0 < self.tolerance < 1:
            raise ProgrammingStudyError(f"tolerance must be in (0, 1), got {self.tolerance!r}")

    @property
    def label(self) -> str:
        if self.method == "one-shot":
            return "one-shot (RESET + 1 SET)"
        return f"write-verify {self.max_pulses} pulses, {self.tolerance * 100:g} %"


def precisions(iterations: Sequence[int] = (1, 2, 4, 8, 16, 40),
               tolerances: Sequence[float] = (0.2, 0.1, 0.05, 0.02), *,
               iteration_tolerance: float = 0.05, one_shot: bool = True) -> list[Precision]:
    """The study's programming precisions: one-shot, write-verify with each pulse budget of
    ``iterations`` at ``iteration_tolerance``, and with the largest budget at each of
    ``tolerances`` (duplicates removed, in that order)."""
    its = [int(i) for i in iterations]
    if not its:
        raise ProgrammingStudyError("iterations: give at least one pulse budget")
    out = [Precision("one-shot", 1, iteration_tolerance)] if one_shot else []
    out += [Precision("write-verify", i, float(iteration_tolerance)) for i in its]
    out += [Precision("write-verify", max(its), float(t)) for t in tolerances]
    seen, uniq = set(), []
    for p in out:
        if p not in seen:
            seen.add(p)
            uniq.append(p)
    return uniq


@dataclass(frozen=True)
class TargetMap:
    """Weights to target conductances (as :class:`rramsim.nn.PreciseProgramming`), siemens."""

    g_min: float = 1e-6
    g_max: float = 28.4e-6

    def __post_init__(self) -> None:
        if not 0 < self.g_min < self.g_max or not np.isfinite(self.g_max):
            raise ProgrammingStudyError(f"need 0 < g_min < g_max, got {self.g_min}, {self.g_max}")

    def targets(self, w: np.ndarray) -> tuple[np.ndarray, float]:
        """``(target (2, fan_in, fan_out), a)``: ``G+ - G- = a w``."""
        w = np.asarray(w, dtype=float)
        cmap = LinearConductanceMap(self.g_min, self.g_max)
        a = cmap.scale(max(float(np.max(np.abs(w))), 1e-30))
        # the largest |w| lands on g_max to rounding (an ulp above it fails a model's range check)
        return np.minimum(np.stack(cmap.pair(w, a)), self.g_max), a


@dataclass
class ProgrammedLayers:
    """The outcome of programming every weight layer at one precision.

    ``pairs[k] = (G+, G-)`` noiseless programmed conductances (siemens), ``scales[k]`` = ``a``,
    ``states[k]`` the device-model states; costs summed over the network's cells (forming
    included); ``converged`` the fraction of cells within the tolerance, ``error_rel`` and
    ``error_median_rel`` the rms and median of ``|G - target| / target`` over the cells.
    """

    pairs: list
    scales: list
    states: list
    pulses: int
    energy_J: float
    reads: int
    converged: float
    error_rel: float
    error_median_rel: float

    def weights(self) -> list[np.ndarray]:
        """The weights the programmed conductances represent: ``(G+ - G-) / a``."""
        return [(gp - gm) / a for (gp, gm), a in zip(self.pairs, self.scales, strict=True)]


def program_weights(weights: Sequence[np.ndarray], precision: Precision, *,
                    rng: np.random.Generator, mapping: TargetMap = TargetMap()  # noqa: B008
                    ) -> ProgrammedLayers:
    """Electroform fresh cells for ``weights`` and program them at ``precision``.

    Write-verify: ``devmodel.write_verify(target, state=formed, max_pulses=..., tolerance=...)``.
    One-shot: ``devmodel.reset`` of every cell, then ``write_verify`` with a budget of one pulse
    (its first read finds every RESET cell below target, so it gives each one SET pulse with its
    initial compliance; no verify follows). Pulses and energy include the forming pulse.
    """
    pairs, scales, states = [], [], []
    pulses = reads = 0
    energy = 0.0
    conv = cells = 0
    err2 = 0.0
    rel = []
    for w in weights:
        target, a = mapping.targets(w)
        formed = devmodel.form(target.shape, rng=rng)
        pulses += int(np.sum(formed.cost.pulses))
        energy += float(np.sum(formed.cost.energy))
        state = formed.state
        if precision.method == "one-shot":
            rs = devmodel.reset(state, np.ones(target.shape, bool), rng=rng)
            pulses += int(np.sum(rs.cost.pulses))
            energy += float(np.sum(rs.cost.energy))
            state = rs.state
        res = devmodel.write_verify(target, rng=rng, state=state, tolerance=precision.tolerance,
                                    max_pulses=int(precision.max_pulses))
        pulses += int(np.sum(res.cost.pulses))
        energy += float(np.sum(res.cost.energy))
        reads += int(np.sum(res.cost.reads))
        g = np.asarray(res.conductance, dtype=float)
        conv += int(np.count_nonzero(res.converged))
        cells += g.size
        e = (g - target) / target
        err2 += float(np.sum(e**2))
        rel.append(np.abs(e).ravel())
        pairs.append((g[0], g[1]))
        scales.append(float(a))
        states.append(res.state)
    return ProgrammedLayers(pairs=pairs, scales=scales, states=states, pulses=pulses,
                            energy_J=energy, reads=reads, converged=conv / max(cells, 1),
                            error_rel=float(np.sqrt(err2 / max(cells, 1))),
                            error_median_rel=float(np.median(np.concatenate(rel))))


# --------------------------------------------------------------------------------------------
# the networks
# --------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Networks:
    """The pruned network (studies' :class:`~rramsim.studies.loading.LoadedNetwork`), the
    conventionally trained network of the same architecture, and the pruned deployment cost."""

    pruned: object
    baseline: object
    prune_pulses: int
    prune_energy_J: float
    baseline_training: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def experiment_for(cfg: StudyConfig, task: str, *, epochs: int | None = None,
                   batch_size: int | None = None, max_train: int | None = None):
    """(study configuration with its data set set to ``task``, the ``rramsim.nn``
    :class:`~rramsim.nn.ExperimentConfig` without its built-in baseline).

    Training follows the task's defaults, as ``rramsim prune --dataset TASK`` does
    (:func:`rramsim.nn.experiment.task_train_configs`: epochs, batch, learning rate, optimiser;
    3-bit activations for spoken digits), with ``epochs``, ``batch_size`` and ``max_train`` where
    given; ``[train]`` gives the kept fraction, the MLP's hidden sizes and the flip limiter.
    """
    if task not in DATASETS:
        raise ProgrammingStudyError(f"task must be one of {DATASETS}, got {task!r}")
    if task != "digits" and not cfg.network.data_dir:
        raise ProgrammingStudyError(f"task {task!r} reads its data set from files: give "
                                    "--data-dir (or [network] data_dir)")
    for name, v in (("epochs", epochs), ("batch_size", batch_size), ("max_train", max_train)):
        if v is not None and (int(v) != v or v < 1):
            raise ProgrammingStudyError(f"{name} must be an integer >= 1, got {v!r}")
    if task != "digits":
        cfg = cfg.replace("train", task=task)
    cfg = cfg.replace("network", dataset=task, path="")
    t = cfg.train
    limiter = (nn.FlipLimiter(t.limiter_start_rel, t.limiter_end_rel)
               if t.limiter_start_rel > 0 else None)
    tr, base = experiment.task_train_configs(task, flip_limiter=limiter, epochs=epochs,
                                             batch_size=batch_size)
    mt = max_train if max_train is not None else (t.max_train or None)
    exp = nn.ExperimentConfig(dataset=task, data_dir=cfg.network.data_dir or None,
                              hidden=tuple(t.hidden), k=t.k, train=tr, baseline=False,
                              baseline_train=base, max_train=mt,
                              activation_bits=3 if task == "fsdd" else None)
    return cfg, exp


def train_networks(cfg: StudyConfig, task: str, *, epochs: int | None = None,
                   batch_size: int | None = None, max_train: int | None = None,
                   progress: bool = False, log: Callable[[str], None] | None = None) -> Networks:
    """Train the pruned network (``rramsim.nn.run_prune``, run seed) and the conventionally
    trained network of the same architecture (``make_dense`` + ``rramsim.nn.train`` with the
    task's baseline settings); see :func:`experiment_for`."""
    cfg, exp = experiment_for(cfg, task, epochs=epochs, batch_size=batch_size,
                              max_train=max_train)
    exp = dataclasses.replace(exp, train=dataclasses.replace(exp.train, progress=progress),
                              baseline_train=dataclasses.replace(exp.baseline_train,
                                                                 progress=progress))
    t0 = time.perf_counter()
    run = nn.run_prune(exp, seed=cfg.run.seed, log=log)
    net = run.network
    data = load_data(cfg, net.input_shape)
    m = run.metrics
    # the network's weights are its pairs' formed-state weights; the physical pairs keep the
    # pruned ones at the device model's RESET conductances
    pruned = from_network(net, data, pairs=[la.pairs(la.conductance) for la in run.device.layers],
                          scales=[float(la.scale) for la in run.device.layers], keep_pairs=True,
                          name=f"{net.name} on {task}, pruned (edge-popup, k = {exp.k:g})",
                          source=f"rramsim.nn.run_prune({task}, seed={cfg.run.seed})",
                          device=run.device)
    pruned = dataclasses.replace(pruned, metrics=dict(m))
    t1 = time.perf_counter()

    base, training = _train_baseline(cfg, exp, log=log)
    t2 = time.perf_counter()
    return Networks(pruned=pruned, baseline=base,
                    prune_pulses=int(m["forming"]["pulses"]) + int(m["deploy"]["pulses"]),
                    prune_energy_J=float(m["forming"]["energy_j"]) + float(m["deploy"]["energy_j"]),
                    baseline_training=training,
                    seconds={"train_pruned": t1 - t0, "train_baseline": t2 - t1})


def _train_baseline(cfg: StudyConfig, exp, *, weight_noise: float = 0.0,
                    log: Callable[[str], None] | None = None):
    """(the conventionally trained network of ``exp``'s architecture, its training settings):
    ``make_dense`` + ``rramsim.nn.train`` with ``exp.baseline_train``, ``weight_noise`` for
    hardware-aware training (:class:`rramsim.nn.TrainConfig`); the same initial weights and
    sample order streams for any ``weight_noise``."""
    base_cfg = dataclasses.replace(exp.baseline_train, weight_noise=float(weight_noise))
    ds = experiment.load_dataset(exp, rng=stream(cfg, STREAM_TRAIN))
    xtr, ytr = ds.x_train, ds.y_train
    if exp.max_train is not None:
        xtr, ytr = xtr[: exp.max_train], ytr[: exp.max_train]
    rng = stream(cfg, STREAM_TRAIN)
    base = experiment.build_network(exp, ds.input_shape)
    base.make_dense(rng=rng)
    base.calibrate(xtr)
    nn.train(base, xtr, ytr, config=base_cfg, rng=rng, log=log)
    training = {"epochs": base_cfg.epochs, "batch_size": base_cfg.batch_size, "lr": base_cfg.lr,
                "momentum": base_cfg.momentum, "clip_grad_norm": base_cfg.clip_grad_norm,
                "n_train": int(len(xtr))}
    if weight_noise:
        training["weight_noise"] = float(weight_noise)
    return base, training


def train_baseline(cfg: StudyConfig, task: str, *, weight_noise: float = 0.0,
                   epochs: int | None = None, batch_size: int | None = None,
                   max_train: int | None = None, progress: bool = False,
                   log: Callable[[str], None] | None = None):
    """(the conventionally trained network of ``task``, its training settings), as
    :func:`train_networks` trains its baseline, with ``weight_noise`` (hardware-aware training:
    Gaussian weight noise of ``weight_noise * max|w|`` in every training forward pass)."""
    cfg, exp = experiment_for(cfg, task, epochs=epochs, batch_size=batch_size,
                              max_train=max_train)
    exp = dataclasses.replace(exp, baseline_train=dataclasses.replace(exp.baseline_train,
                                                                      progress=progress))
    return _train_baseline(cfg, exp, weight_noise=weight_noise, log=log)


def baseline_loaded(baseline, data, programmed: ProgrammedLayers, name: str):
    """The programmed baseline as a :class:`~rramsim.studies.loading.LoadedNetwork`: physical
    pairs (every weight kept), scales ``a``, the cells' device states (for sinh read I-V)."""
    lo = from_network(baseline, data, pairs=programmed.pairs, scales=programmed.scales,
                      keep_pairs=True, name=name, source="conventionally trained (make_dense)")
    lo.cell_states = [(st, np.ones(np.shape(w), np.int8))
                      for st, w in zip(programmed.states, lo.weights, strict=True)]
    return lo


# --------------------------------------------------------------------------------------------
# the study
# --------------------------------------------------------------------------------------------
class RowsFrame:
    """A result whose ``rows`` (dicts, one per table row) give its pandas ``frame()``."""

    rows: list

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)


@dataclass
class StudyResult(RowsFrame):
    """Rows of the tidy table (dicts), the software accuracies and the comparison text."""

    task: str
    rows: list
    software: dict
    networks: Networks
    comparison: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    programmed: dict = field(default_factory=dict)


def _evaluate(loaded, cfg: StudyConfig, modes) -> dict:
    """``{mode: {"accuracy", "accuracy_std", "pr_auc", "pr_auc_std"}}`` of ``loaded`` programmed
    with the configured circuit (PR-AUC NaN for classifiers)."""
    hw = program(loaded, cfg)
    if np.ndim(loaded.data.y_test) > 1:
        return _evaluate_segmentation(hw, loaded, cfg, modes)
    ev = accuracy.evaluate(hw, loaded, cfg, modes=modes)
    nan = float("nan")
    return {m: {"accuracy": float(ev.accuracy[m]),
                "accuracy_std": float(ev.accuracy_std.get(m, 0.0)), "pr_auc": nan,
                "pr_auc_std": nan} for m in modes}


def _evaluate_segmentation(hw, loaded, cfg: StudyConfig, modes) -> dict:
    """Pixel accuracy and PR-AUC (``rramsim.nn.drive.pr_auc`` of the class-1 softmax) of a
    per-pixel classifier on the test patches, per mode, from the same passes: the converters,
    read noise and its stream as :func:`rramsim.studies.inference.accuracy.evaluate` uses them."""
    data = loaded.data
    y = np.asarray(data.y_test)
    calib, rows = infer.calibration_inputs(loaded.forward, data.x_calib,
                                            rng=stream(cfg, STREAM_PROGRAM))
    batch = accuracy.batch_size(rows)
    out = {}
    for mode in modes:
        prep = None if mode == "software" else infer.prepare(hw, mode)
        noisy = mode in ("behavioural", "circuit")
        conv = accuracy.calibrate(prep, calib, cfg) if noisy else None
        rng = stream(cfg, STREAM_NOISE)
        accs, aucs = [], []
        for _ in range(cfg.noise.repeats if noisy and cfg.noise.read_noise_rel > 0 else 1):
            mm = infer.make_matmul(prep, conv=conv, read_noise_rel=cfg.noise.read_noise_rel,
                                    rng=rng)
            prob = np.concatenate([softmax(loaded.forward(data.x_test[i:i + batch], matmul=mm),
                                           axis=1)[:, 1] for i in range(0, len(y), batch)])
            accs.append(float(np.mean((prob >= 0.5) == (y == 1))))
            aucs.append(float(pr_auc(prob, y == 1)))
        out[mode] = {"accuracy": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
                     "pr_auc": float(np.mean(aucs)), "pr_auc_std": float(np.std(aucs))}
    return out


def _point(network: str, programming: str, method: str, n_cells: int, pulses: int,
           energy: float) -> dict:
    """The programming columns of a point's rows (no verify: the pruned network's)."""
    return {"network": network, "programming": programming, "method": method,
            "max_pulses_per_cell": None, "tolerance_rel": None, "cells": n_cells,
            "pulses": pulses, "pulses_per_cell": pulses / n_cells, "energy_J": energy,
            "verify_reads": 0, "converged_fraction": None, "programming_error_rel": None,
            "programming_error_median_rel": None}


def _baseline_point(p: Precision, pr: ProgrammedLayers, n_cells: int) -> dict:
    """The programming columns of the baseline programmed at precision ``p``."""
    return {**_point("baseline", p.label, p.method, n_cells, pr.pulses, pr.energy_J),
            "max_pulses_per_cell": p.max_pulses, "tolerance_rel": p.tolerance,
            "verify_reads": pr.reads, "converged_fraction": pr.converged,
            "programming_error_rel": pr.error_rel,
            "programming_error_median_rel": pr.error_median_rel}


def _rows(point: dict, accs: dict) -> list[dict]:
    """One row per mode: the point's programming columns, the mode, its metrics."""
    return [{**point, "mode": mode, **metrics} for mode, metrics in accs.items()]


@dataclass(frozen=True)
class Training:
    """Overrides of the task's training defaults for :func:`train_networks` (None: the task's
    own; see :func:`experiment_for`)."""

    epochs: int | None = None
    batch_size: int | None = None
    max_train: int | None = None


def programming_study(cfg: StudyConfig, task: str = "digits", *,
                      points: Sequence[Precision] | None = None, mapping: TargetMap = TargetMap(),  # noqa: B008
                      networks: Networks | None = None, training: Training = Training(),  # noqa: B008
                      progress: bool = False, log: Callable[[str], None] | None = None
                      ) -> StudyResult:
    """Run the comparison on ``task``: train both networks (or take ``networks``), program the
    baseline at every precision of ``points`` (default :func:`precisions`), evaluate every
    point. ``training`` overrides the task's training defaults (epochs, batch size, training
    inputs; :func:`experiment_for`). Seeded by ``cfg.run.seed``; single-threaded BLAS."""
    pts = list(points) if points is not None else precisions()
    if len(pts) == 0:
        raise ProgrammingStudyError("no programming precisions given")
    secs: dict = {}
    with blas_threads(1):
        if networks is None:
            networks = train_networks(cfg, task, **dataclasses.asdict(training),
                                      progress=progress, log=log)
        secs.update(networks.seconds)
        pruned = networks.pruned
        n_cells = 2 * sum(int(np.size(w)) for w in pruned.weights)
        t0 = time.perf_counter()
        accs = _evaluate(pruned, cfg, ("software",) + POINT_MODES)
        software = {"pruned": accs.pop("software")["accuracy"]}
        rows = _rows(_point("pruned", "forming + RESET of pruned pairs", "prune", n_cells,
                            networks.prune_pulses, networks.prune_energy_J), accs)
        secs["evaluate_pruned"] = time.perf_counter() - t0
        base_w = networks.baseline.effective_weights()
        programmed = {}
        it = pts
        if progress:
            from tqdm import tqdm

            it = tqdm(pts, desc="programming precisions", unit="point")
        for i, p in enumerate(it):
            t1 = time.perf_counter()
            rng = np.random.default_rng(stream_seed(cfg, STREAM_PROGRAM).spawn(i + 1)[i])
            pr = program_weights(base_w, p, rng=rng, mapping=mapping)
            lo = baseline_loaded(networks.baseline, pruned.data, pr, name=f"baseline, {p.label}")
            # software mode on the baseline's own (trained) weights, once
            accs = _evaluate(lo, cfg, (("software",) if i == 0 else ()) + POINT_MODES)
            if i == 0:
                software["baseline"] = accs.pop("software")["accuracy"]
            rows += _rows(_baseline_point(p, pr, n_cells), accs)
            pr.states = []   # the device states are only needed while the tiles are made
            programmed[p.label] = pr
            secs[f"point {p.label}"] = time.perf_counter() - t1
    res = StudyResult(task=task, rows=rows, software=software, networks=networks, seconds=secs,
                      programmed=programmed)
    res.comparison = comparison_text(rows, task)
    return res


# --------------------------------------------------------------------------------------------
# what the numbers say
# --------------------------------------------------------------------------------------------
def claim_metric(rows: Sequence[dict], task: str) -> tuple[str, str]:
    """(row key, name) of the figure the task's claim is about: PR-AUC for DRIVE when the rows
    carry it, accuracy otherwise."""
    claim = STUDY_CLAIMS.get(task)
    if claim and claim[0] == "PR-AUC" and all(np.isfinite(r.get("pr_auc", np.nan)) for r in rows):
        return "pr_auc", "PR-AUC"
    return "accuracy", "accuracy"


def comparison_text(rows: Sequence[dict], task: str, *, mode: str = "circuit") -> list[str]:
    """Markdown lines comparing pruning with every baseline precision in ``mode``, and with the
    study's claim for ``task`` (:data:`STUDY_CLAIMS`), generated from ``rows``."""
    sel = [r for r in rows if r["mode"] == mode]
    pr = [r for r in sel if r["network"] == "pruned"]
    base = sorted((r for r in sel if r["network"] == "baseline"), key=lambda r: r["pulses"])
    if len(pr) != 1 or not base:
        raise ProgrammingStudyError(f"the rows need one pruned point and baseline points in mode "
                                    f"{mode!r}")
    key, name = claim_metric(sel, task)
    p = pr[0]
    pa = 100 * p[key]

    def margin(r) -> float:
        return pa - 100 * r[key]

    lines = [f"In {mode} mode the pruned network scores {pa:.1f} % {name} with "
             f"{p['pulses_per_cell']:.2f} programming pulses per cell "
             f"({p['energy_J']:.3g} J for the whole network)."]
    wins = [r for r in base if margin(r) > 0]
    losses = [r for r in base if margin(r) <= 0]
    for r in base:
        d = margin(r)
        who = "pruning better" if d > 0 else ("equal" if d == 0 else "baseline better")
        lines.append(f"- {r['programming']}: baseline {100 * r[key]:.1f} % at "
                     f"{r['pulses_per_cell']:.2f} pulses/cell, {r['energy_J']:.3g} J "
                     f"({r['pulses'] / max(p['pulses'], 1):.2f}x the pruned network's pulses): "
                     f"{who} by {abs(d):.1f} points.")
    if not losses:
        lines.append("Pruning beats the baseline at every programming precision tried.")
    elif not wins:
        lines.append("The baseline matches or beats pruning at every programming precision "
                     "tried.")
    else:
        lines.append(f"Pruning wins against {', '.join(r['programming'] for r in wins)}; the "
                     f"baseline wins or ties with {', '.join(r['programming'] for r in losses)}.")
    claim = STUDY_CLAIMS.get(task)
    if claim is None:
        lines.append(f"The study reports no improvement for the {task!r} task; its claims are "
                     + ", ".join(f"+{v:g} points {m} on {t}" for t, (m, v) in STUDY_CLAIMS.items())
                     + ".")
        return lines
    metric, pts = claim
    held = [r for r in base if margin(r) >= pts]
    note = "" if metric == name else (f" (rramsim's figure here is {name}, not {metric}: "
                                      "compare the direction, not the size)")
    said = f"the study's claim (pruning better by +{pts:g} points {metric}){note}"
    if held and len(held) == len(base):
        lines.append(f"{said[0].upper()}{said[1:]} holds at every precision tried.")
    elif held:
        rest = [r for r in base if r not in held]
        hi = max(r["pulses_per_cell"] for r in held)
        where = (f"baseline programming with at most {hi:.2f} pulses per cell"
                 if hi < min(r["pulses_per_cell"] for r in rest) else "those precisions only")
        lines.append(f"rramsim differs from {said}: the claim holds against "
                     f"{', '.join(r['programming'] for r in held)} ({where}); against "
                     + ", ".join(f"{r['programming']} ({margin(r):+.1f})" for r in rest)
                     + " pruning's margin is smaller.")
    else:
        lines.append(f"rramsim differs from {said}: at no programming precision tried does "
                     f"pruning win by that much (its largest margin is "
                     f"{max(margin(r) for r in base):+.1f} points).")
    return lines
