"""The study-wide comparison: the pruned network against programmed baselines on measured RRAM.

Per seed, :func:`compare` trains three networks of the task's architecture as the study's code
does (the per-task defaults of :mod:`rramsim.nn.experiment`): the pruned random network
(edge-popup on electroformed pairs), the conventionally trained baseline, and, per error model,
the baseline trained hardware-aware (Gaussian weight noise in every training forward pass at the
error model's spread, :func:`weight_noise_for`, as aihwkit's hardware-aware training does). Then,
for every error model (:func:`rramsim.devmodel.error_model`), time after programming and stuck
fraction:

- **programming**: the baselines' weights become target pairs (``TargetMap`` on the intersection
  of the study's 1-28.4 uS with the model's valid range) and are programmed by the model (its
  programming error); the pruned network keeps its formed and RESET cells as the device model
  left them (no programming error of its own: it is not tuned);
- **relaxation**: every cell of every network relaxes by the same law, ``model.relax(G, t)``,
  one seeded path per layer and seed, the same draws for every network and time;
- **stuck cells**: :func:`rramsim.devmodel.stuck_cells` of each layer's ``(2, fan_in, fan_out)``
  array from the seed and the layer only, so every network on the same array has the same stuck
  cells; stuck-on cells at the target map's top, stuck-off cells at 0 S;
- **reading**: each network mapped onto the configured tiles (:func:`comparison_config`: 512 x 512,
  2-ohm wires, circuit mode, 128 rows per read with the per-group calibration) and read through
  the scheme (:mod:`rramsim.studies.readout.reads`): accuracy, or pixel accuracy, ROC-AUC and
  PR-AUC for DRIVE; inference energy of the scheme (board and integrated converter figures) against the GPU.

Programming cost (:mod:`rramsim.devmodel.costs`): pruned = forming + one RESET per cell of every
pruned pair; baselines = forming + rramsim's incremental write-and-verify
(:func:`rramsim.devmodel.write_verify_incremental`, 2 % of g_max, 100 pulses at most) to the same
targets: the measured fits describe what programming leaves, not its pulses, so the pulses are
our device model's (a stated judgement). Energy counts pulses and verify reads; time programs the
cells of a tile row in parallel, rows and tiles one after the other.

Re-programming (``Axes(reprogram=True)``): for every time ``t > 0``, each programmed baseline is
also refreshed at ``t`` (:func:`reprogram`): the device model's cells, placed at the relaxed
conductances, are brought back to their targets by the same incremental write-and-verify, and the
array is read 1 s after the refresh. The fits' cells come out of the refresh with the fit's
programming error (a fresh draw: a write-and-verify leaves what the fit measured, whatever the
start); the filament model's keep the write-and-verify's own outcome. Then 1 s of the model's
relaxation and the stuck cells, which the refresh skips (known from the first programming). The
refresh's pulses, verify reads, energy and time are counted (:func:`refresh_cost`) and added to the
programming cost. The pruned network is not refreshed: its formed cells have no target but their
own as-formed conductance, and tuning them back would be the write-and-verify pruning avoids (a
judgement, ``docs/programming-study.md``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rramsim import devmodel
from rramsim._threads import blas_threads
from rramsim.errors import ProgrammingStudyError
from rramsim.nn.drive import pr_auc, roc_auc
from rramsim.nn.network import softmax
from rramsim.studies.config import (
    PRESET_BOARD,
    PRESET_INTEGRATED,
    STREAM_NOISE,
    StudyConfig,
    stream,
)
from rramsim.studies.costs.energy import GPUBaseline
from rramsim.studies.inference import accuracy
from rramsim.studies.inference import modes as infer
from rramsim.studies.loading import from_network
from rramsim.studies.programming import program
from rramsim.studies.programming_study.study import (
    STUDY_CLAIMS,
    RowsFrame,
    TargetMap,
    Training,
    train_baseline,
    train_networks,
)
from rramsim.studies.readout import cost as latency
from rramsim.studies.readout import reads as readout

#: The network kinds of the comparison, in table order (the last two: baselines re-programmed at t).
NETWORKS = ("pruned", "baseline", "baseline-hwa", "baseline-reprogrammed",
            "baseline-hwa-reprogrammed")

#: Time after a refresh at which the re-programmed array is read, seconds (the fits' first time).
READ_AFTER_REFRESH = 1.0

#: The study's mapping range, siemens (``TargetMap``'s default).
STUDY_RANGE = (TargetMap().g_min, TargetMap().g_max)


@dataclass(frozen=True)
class Axes:
    """What the comparison varies: error models by name, times after programming (s), stuck
    fractions (each of stuck-on and stuck-off), seeds (``first_seed`` .. + ``seeds`` - 1).
    ``relax_pruned=False`` keeps the pruned network's cells at their t = 0 conductances (a
    sensitivity check: formed filaments that do not relax; the comparison's rule is True).
    ``reprogram=True`` adds, for every time > 0, the programmed baselines re-programmed at that
    time (:func:`reprogram`)."""

    error_models: tuple[str, ...] = ("neurram",)
    times: tuple[float, ...] = (1.0, 86400.0)
    faults: tuple[float, ...] = devmodel.FAULT_FRACTIONS
    seeds: int = 3
    first_seed: int = 0
    hardware_aware: bool = True
    relax_pruned: bool = True
    reprogram: bool = False

    def __post_init__(self) -> None:
        if not self.error_models or not self.times or not self.faults:
            raise ProgrammingStudyError("give at least one error model, time and fault fraction")
        for name in self.error_models:
            if name not in devmodel.ERROR_MODELS:
                raise ProgrammingStudyError(f"error model {name!r} is not one of "
                                            f"{sorted(devmodel.ERROR_MODELS)}")
        for t in self.times:
            if not (math.isfinite(t) and t >= 0):
                raise ProgrammingStudyError(f"times must be finite and >= 0 s, got {t!r}")
        for f in self.faults:
            if not 0 <= f <= 0.5:
                raise ProgrammingStudyError(f"fault fractions must be in [0, 0.5], got {f!r}")
        if int(self.seeds) != self.seeds or self.seeds < 1 or self.first_seed < 0:
            raise ProgrammingStudyError(f"seeds must be an integer >= 1 and first_seed >= 0, got "
                                        f"{self.seeds!r}, {self.first_seed!r}")


def comparison_config(cfg: StudyConfig) -> StudyConfig:
    """``cfg`` on the comparison's hardware: 512 x 512 tiles, 2-ohm word and bit line segments,
    128 rows per read with the per-group calibration (``docs/read_schemes.md``: within 1 % of
    behavioural with the 1 % read noise, mean over noise draws, for the spoken-digit CRNN, the
    digits MLP and the Fashion-MNIST CNN on stand-in files)."""
    cfg = cfg.replace("mapping", tile_rows=512, tile_cols=512)
    cfg = cfg.replace("circuit", r_wordline_ohm=2.0, r_bitline_ohm=2.0)
    return cfg.replace("readout", rows_per_read=128, calibration="group")


def target_map(model) -> TargetMap:
    """The weights' target range for ``model``: the study's 1-28.4 uS cut to the model's valid
    targets (cmo-hfox: 9-28.4 uS)."""
    lo, hi = max(STUDY_RANGE[0], model.g_range[0]), min(STUDY_RANGE[1], model.g_range[1])
    if not lo < hi:
        raise ProgrammingStudyError(f"the {model.name} model's range {model.g_range} does not "
                                    f"overlap the study's {STUDY_RANGE}")
    return TargetMap(g_min=lo, g_max=hi)


def weight_noise_for(model, t: float, mapping: TargetMap, *, n: int = 201) -> float:
    """The error model's weight spread at ``t`` as a fraction of max|w|, for hardware-aware
    training: the rms over weights ``w / max|w|`` evenly spaced in [-1, 1] of
    ``sqrt(s(G+)^2 + s(G-)^2) / (g_max - g_min)``, ``s(g)^2`` the programming variance plus the
    relaxation variance at ``t`` (filament: relaxation only; its programming error is the
    incremental write-and-verify's, within 2 % of g_max, added as a uniform band)."""
    u = np.linspace(-1.0, 1.0, n)
    span = mapping.g_max - mapping.g_min
    gp = mapping.g_min + span * np.maximum(u, 0.0)
    gm = mapping.g_min + span * np.maximum(-u, 0.0)

    def var(g):
        v = np.asarray(model.relax_sigma(g, t), float) ** 2
        if hasattr(model, "program_sigma") and model.name != "filament":
            v = v + np.asarray(model.program_sigma(g), float) ** 2
        else:   # a uniform band of half-width tolerance_frac * g_max
            v = v + (model.tolerance_frac * model.g_range[1]) ** 2 / 3
        return v

    return float(np.sqrt(np.mean((var(gp) + var(gm)) / span**2)))


# --------------------------------------------------------------------------------------------
# one network's cells: programmed, relaxed, stuck
# --------------------------------------------------------------------------------------------
def _seed(*parts: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(p) for p in parts]))


def fault_seed(seed: int, layer: int) -> int:
    """The fault seed of layer ``layer``'s array in run ``seed`` (any network on that array)."""
    return int(np.random.SeedSequence([int(seed), 7919, int(layer)]).generate_state(1)[0])


def stuck_for(shapes: Sequence[tuple[int, int]], seed: int, fraction: float) -> list:
    """The stuck cells of every layer's ``(2, fan_in, fan_out)`` array: ``fraction`` stuck on and
    ``fraction`` stuck off, drawn from the seed and the layer only."""
    return [devmodel.stuck_cells((2, *s), seed=fault_seed(seed, k), stuck_on=fraction,
                                 stuck_off=fraction) for k, s in enumerate(shapes)]


def cells_at(g0: Sequence[np.ndarray], model, t: float, stuck, *, seed: int, g_on: float
             ) -> list[np.ndarray]:
    """Per layer, ``(2, fan_in, fan_out)`` conductances ``g0`` relaxed to ``t`` by ``model`` (one
    path per layer and seed: the same draws at every time and for every network), then the
    stuck cells set (on: ``g_on``, off: 0 S)."""
    out = []
    for k, g in enumerate(g0):
        gt = model.relax(g, t, rng=_seed(seed, 104729, k)) if t > 0 else np.array(g, float)
        out.append(stuck[k].apply(gt, g_on=g_on, g_off=0.0) if stuck is not None else gt)
    return out


# --------------------------------------------------------------------------------------------
# programming costs
# --------------------------------------------------------------------------------------------
def _rows_time(pulses: np.ndarray, reads: np.ndarray, energy, width: float, tile_cols: int
               ) -> float:
    """``devmodel.programming_time`` of a ``(2, fan_in, fan_out)`` layer on tiles of
    ``tile_cols`` columns (pairs in adjacent columns; tiles one after the other)."""
    fi = pulses.shape[1]
    p2 = np.transpose(pulses, (1, 2, 0)).reshape(fi, -1)
    r2 = np.transpose(reads, (1, 2, 0)).reshape(fi, -1)
    e2 = np.transpose(np.broadcast_to(energy, pulses.shape), (1, 2, 0)).reshape(fi, -1)
    total = 0.0
    for c in range(0, p2.shape[1], tile_cols):
        cost = devmodel.ProgramCost(pulses=p2[:, c:c + tile_cols], energy=e2[:, c:c + tile_cols],
                                    reads=r2[:, c:c + tile_cols])
        total += devmodel.programming_time(cost, pulse_width=width)
    return total


@dataclass
class Cost:
    """Programming cost of one network: pulses and verify reads (counts), energy (J: pulses and
    verify reads), time (s)."""

    cells: int = 0
    pulses: int = 0
    reads: int = 0
    energy_J: float = 0.0
    time_s: float = 0.0
    states: list = field(default_factory=list, repr=False)

    def add(self, pulses, reads, energy_J: float, time_s: float) -> None:
        self.pulses += int(np.sum(pulses))
        self.reads += int(np.sum(reads))
        self.energy_J += float(energy_J)
        self.time_s += float(time_s)


def pruned_cost(masks: Sequence[np.ndarray], forming_J: float, reset_J: float, *,
                tile_cols: int = 512, params=devmodel.TAOX_40NM) -> Cost:
    """Forming (one pulse per cell, ``params.form_width``) and one RESET per cell of every pruned
    pair (``params.reset_width``); energies as measured by the training run."""
    c = Cost()
    for m in masks:
        m = np.asarray(m, bool)
        ones = np.ones((2, *m.shape), np.int64)
        zeros = np.zeros_like(ones)
        rs = np.broadcast_to(~m, ones.shape).astype(np.int64)
        c.cells += ones.size
        c.add(ones, zeros, 0.0, _rows_time(ones, zeros, 0.0, params.form_width, tile_cols))
        c.add(rs, zeros, 0.0, _rows_time(rs, zeros, 0.0, params.reset_width, tile_cols))
    c.energy_J = float(forming_J) + float(reset_J)
    return c


def write_verify_cost(targets: Sequence[np.ndarray], *, rng, tile_cols: int = 512,
                      tolerance_frac: float = 0.02, g_max: float = STUDY_RANGE[1],
                      params=devmodel.TAOX_40NM, keep_states: bool = False) -> Cost:
    """Forming and incremental write-and-verify of every ``(2, fan_in, fan_out)`` target array
    (``devmodel.write_verify_incremental``, band ``tolerance_frac * g_max``); with
    ``keep_states`` the programmed device states are kept in ``Cost.states`` (for
    :func:`reprogram`; a U-Net's are hundreds of MB)."""
    width = devmodel.StepPulses().width
    c = Cost()
    for tg in targets:
        f = devmodel.form(tg.shape, rng=rng, params=params)
        zeros = np.zeros(tg.shape, np.int64)
        c.cells += tg.size
        c.add(f.cost.pulses, zeros, np.sum(f.cost.energy),
              _rows_time(np.asarray(f.cost.pulses), zeros, 0.0, params.form_width, tile_cols))
        res = devmodel.write_verify_incremental(tg, rng=rng, state=f.state,
                                                tolerance_frac=tolerance_frac, g_max=g_max)
        e = devmodel.programming_energy(res.cost, res.conductance, v_read=params.v_read)
        c.add(res.cost.pulses, res.cost.reads, e.total,
              _rows_time(np.asarray(res.cost.pulses), np.asarray(res.cost.reads),
                         np.asarray(res.cost.energy), width, tile_cols))
        if keep_states:
            c.states.append(res.state)
    return c


def state_at(state: devmodel.CellState, g) -> devmodel.CellState:
    """``state``'s devices with their gaps set so that they read ``g`` (siemens, >= 0) at
    ``v_read``: ``gap = g0 ln(I0 sinh(v_read / V0) / (v_read g))``, kept within the gap limits
    (0 S: ``gap_max``)."""
    p = state.params
    g = np.asarray(g, float)
    top = state.i0 * np.sinh(p.v_read / p.v0) / p.v_read       # the conductance at gap 0
    with np.errstate(divide="ignore"):
        gap = p.g0 * np.log(top / np.where(g > 0, g, 0.0))
    return state.with_gap(np.clip(np.where(g > 0, gap, p.gap_max), p.gap_min, p.gap_max))


def reprogram(states: Sequence, relaxed: Sequence[np.ndarray], targets: Sequence[np.ndarray], *,
              rng, tolerance_frac: float = 0.02, g_max: float = STUDY_RANGE[1]) -> list:
    """Per layer, the refresh of a programmed array: its device cells (``states``, as programmed)
    placed at the ``relaxed`` conductances (:func:`state_at`) and brought back to ``targets`` by
    ``devmodel.write_verify_incremental`` (band ``tolerance_frac * g_max``, 100 pulses at most):
    the :class:`~rramsim.devmodel.IncrementalResult` of every layer."""
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return [devmodel.write_verify_incremental(tg, rng=gen, state=state_at(st, g),
                                              tolerance_frac=tolerance_frac, g_max=g_max)
            for st, g, tg in zip(states, relaxed, targets, strict=True)]


def refresh_cost(results: Sequence, stuck, *, tile_cols: int = 512,
                 params=devmodel.TAOX_40NM) -> Cost:
    """Pulses, verify reads, energy (pulses and reads, ``devmodel.programming_energy``) and time
    (``devmodel.programming_time`` per tile) of the refreshes ``results`` (:func:`reprogram`), the
    stuck cells (``stuck``, per layer, or None) skipped: they cost nothing."""
    width = devmodel.StepPulses().width
    c = Cost()
    for k, res in enumerate(results):
        keep = np.ones(res.conductance.shape, bool) if stuck is None else ~(
            stuck[k].on | stuck[k].off)
        cost = devmodel.ProgramCost(pulses=res.cost.pulses * keep, energy=res.cost.energy * keep,
                                    reads=res.cost.reads * keep)
        e = devmodel.programming_energy(cost, res.conductance, v_read=params.v_read)
        c.cells += int(keep.size)
        c.add(cost.pulses, cost.reads, e.total,
              _rows_time(cost.pulses, cost.reads, cost.energy, width, tile_cols))
    return c


# --------------------------------------------------------------------------------------------
# reading a network through the scheme
# --------------------------------------------------------------------------------------------
def _task_metrics(lo, matmul, batch: int) -> dict:
    """``{"accuracy"}`` of a classifier; pixel ``accuracy``, ``roc_auc`` and ``pr_auc`` of the
    class-1 softmax of a per-pixel classifier."""
    data = lo.data
    y = np.asarray(data.y_test)
    outs = [lo.forward(data.x_test[i:i + batch], matmul=matmul) for i in range(0, len(y), batch)]
    if y.ndim == 1:
        return {"accuracy": float(np.mean(np.argmax(np.concatenate(outs), axis=1) == y))}
    prob = np.concatenate([softmax(o, axis=1)[:, 1] for o in outs])
    return {"accuracy": float(np.mean((prob >= 0.5) == (y == 1))),
            "roc_auc": float(roc_auc(prob, y == 1)), "pr_auc": float(pr_auc(prob, y == 1))}


def read_network(lo, cfg: StudyConfig) -> dict:
    """Map ``lo`` with ``cfg``'s circuit and read it through ``cfg``'s read scheme and output
    calibration (circuit mode, read noise, one pass): the task's metrics, the inference energy
    with each converter preset (the study's board, an integrated macro) and the GPU's for the
    same network."""
    hw = program(lo, cfg)
    scheme = cfg.readout.scheme()
    sp = readout.prepare(hw, "circuit", scheme)
    data = lo.data
    soft = infer.record_inputs(lo.forward, data.x_calib)
    conv = readout.calibrate(sp, lo.forward, data.x_calib,
                             readout.ConverterSpec.from_config(cfg.converters),
                             calibration=cfg.readout.calibration, software_inputs=soft)
    rpi = [len(c) // len(data.x_calib) for c in soft]
    rec: dict = {}
    mm = readout.make_matmul(sp, conv=conv, read_noise_rel=cfg.noise.read_noise_rel,
                             rng=stream(cfg, STREAM_NOISE), record=rec)
    out = _task_metrics(lo, mm, accuracy.batch_size(rpi))
    volts = {k: conv.conv.dacs[k].voltages(np.concatenate(v), conv.conv.x_full_scale[k])
             for k, v in rec.items()}
    for preset in (PRESET_BOARD, PRESET_INTEGRATED):
        sc = latency.scheme_cost(sp, rpi, conv.conv.dacs, latency.TIMINGS[preset],
                                 kept_macs=latency.kept_macs(lo, rpi), voltages=volts,
                                 calibration=cfg.readout.calibration)
        out[f"inference_{preset}_J"] = float(sc.energy_J)
    out["gpu_J"] = GPUBaseline(energy_per_mac_J=cfg.energy.gpu_energy_per_mac_J).energy(lo.macs)
    return out


# --------------------------------------------------------------------------------------------
# the comparison
# --------------------------------------------------------------------------------------------
@dataclass
class ComparisonResult(RowsFrame):
    """Per-seed rows (dicts) and the settings they came from."""

    task: str
    axes: Axes
    rows: list
    seconds: dict = field(default_factory=dict)
    weight_noise: dict = field(default_factory=dict)
    software: list = field(default_factory=list)


def _loaded(like, network, pairs, scales, name: str):
    """A LoadedNetwork of ``network`` with physical ``pairs`` (no device states: the read I-V is
    the preset's)."""
    lo = from_network(network, like.data, pairs=pairs, scales=scales, keep_pairs=True, name=name,
                      source=name)
    lo.cell_states = None
    return lo


@dataclass
class _Seed:
    """One seed's trained networks and the pruned network's cells."""

    seed: int
    cfg: StudyConfig
    pruned: object
    pruned_g0: list
    pruned_cost: Cost
    baseline: object
    hwa: dict


def _train_seed(cfg: StudyConfig, task: str, seed: int, axes: Axes, training: Training,
                noise: dict, log) -> _Seed:
    c = cfg.replace("run", seed=int(seed))
    nets = train_networks(c, task, **dataclasses.asdict(training), log=log)
    p = nets.pruned
    g0 = [np.stack([np.asarray(gp, float), np.asarray(gm, float)]) for gp, gm in p.pairs]
    m = p.metrics
    cost = pruned_cost(p.masks, float(m["forming"]["energy_j"]), float(m["deploy"]["energy_j"]),
                       tile_cols=c.mapping.tile_cols)
    hwa = {}
    if axes.hardware_aware:
        for name in axes.error_models:
            hwa[name], _ = train_baseline(c, task, weight_noise=noise[name],
                                          **dataclasses.asdict(training), log=log)
    return _Seed(seed=int(seed), cfg=c, pruned=p, pruned_g0=g0, pruned_cost=cost,
                 baseline=nets.baseline, hwa=hwa)


def _programmed(s: _Seed, net, kind: str, model, mapping: TargetMap, tile_cols: int,
                keep: bool):
    """(t = 0 cells per layer, scales, cost, targets) of baseline ``net`` programmed by ``model``
    (``cost.states``: the device model's programmed cells)."""
    tg, scales = zip(*(mapping.targets(w) for w in net.effective_weights()), strict=True)
    k = NETWORKS.index(kind)
    g0 = [model.program(t, rng=_seed(s.seed, 31, k, i)).conductance for i, t in enumerate(tg)]
    cost = write_verify_cost(tg, rng=_seed(s.seed, 37, k), tile_cols=tile_cols, keep_states=keep)
    return g0, list(scales), cost, list(tg)


def _cost_columns(c: Cost) -> dict:
    return {"cells": c.cells, "pulses": c.pulses, "pulses_per_cell": c.pulses / max(c.cells, 1),
            "verify_reads": c.reads, "program_energy_J": c.energy_J, "program_time_s": c.time_s}


def _networks_of(s: _Seed, name: str, model, mapping: TargetMap, tile_cols: int, keep: bool):
    """(kind, network for reading, t = 0 cells, scales, cost, targets or None) of every network
    under ``model``."""
    p = s.pruned
    yield "pruned", p, s.pruned_g0, list(p.scales), s.pruned_cost, None
    for kind, net in (("baseline", s.baseline), ("baseline-hwa", s.hwa.get(name))):
        if net is not None:
            yield kind, net, *_programmed(s, net, kind, model, mapping, tile_cols, keep)


def _refreshed(s: _Seed, kind: str, model, g0, cost: Cost, targets, t: float) -> tuple:
    """(per-layer refresh results, cells right after the refresh) of baseline ``kind`` refreshed at
    ``t``: the device cells at the relaxed conductances (no stuck cells) written back to the
    targets; the fits' cells then drawn afresh from their programming error, the filament's kept."""
    k, ti = NETWORKS.index(kind), int(round(t * 1000))
    relaxed = cells_at(g0, model, t, None, seed=s.seed, g_on=0.0)
    res = reprogram(cost.states, relaxed, targets, rng=_seed(s.seed, 41, k, ti))
    if model.name == "filament":
        return res, [r.conductance for r in res]
    return res, [model.program(tg, rng=_seed(s.seed, 43, k, ti, i)).conductance
                 for i, tg in enumerate(targets)]


def _reprogrammed_rows(s: _Seed, kind: str, model, g0, cost: Cost, targets, axes: Axes,
                       base: dict) -> list[dict]:
    """Rows of baseline ``kind`` re-programmed at every time > 0 of ``axes``, read 1 s later."""
    rows = []
    shapes = [np.shape(w) for w in s.pruned.weights]
    g_on = target_map(model).g_max
    for t in (t for t in axes.times if t > 0):
        res, fresh = _refreshed(s, kind, model, g0, cost, targets, t)
        after = int(np.random.SeedSequence([s.seed, 47, NETWORKS.index(kind), int(round(t * 1000))]
                                           ).generate_state(1)[0])
        for f in axes.faults:
            stuck = stuck_for(shapes, s.seed, f) if f > 0 else None
            ref = refresh_cost(res, stuck, tile_cols=s.cfg.mapping.tile_cols)
            g = cells_at(fresh, model, READ_AFTER_REFRESH, stuck, seed=after, g_on=g_on)
            total = Cost(cells=cost.cells, pulses=cost.pulses + ref.pulses,
                         reads=cost.reads + ref.reads, energy_J=cost.energy_J + ref.energy_J,
                         time_s=cost.time_s + ref.time_s)
            rows.append({**base, "network": f"{kind}-reprogrammed", "time_s": float(t),
                         "stuck_fraction": float(f), **_cost_columns(total),
                         "reprogram_pulses_per_cell": ref.pulses / max(ref.cells, 1),
                         "reprogram_verify_reads": ref.reads, "reprogram_energy_J": ref.energy_J,
                         "reprogram_time_s": ref.time_s, "pairs": [(a[0], a[1]) for a in g]})
    return rows


def _seed_rows(s: _Seed, task: str, axes: Axes, noise: dict) -> list[dict]:
    rows = []
    cfg = s.cfg
    shapes = [np.shape(w) for w in s.pruned.weights]
    for name in axes.error_models:
        model = devmodel.error_model(name)
        mapping = target_map(model)
        for kind, net, g0, scales, cost, targets in _networks_of(s, name, model, mapping,
                                                                  cfg.mapping.tile_cols,
                                                                  axes.reprogram):
            head = {"task": task, "seed": s.seed, "error_model": name}
            wn = noise.get(name, 0.0) if kind == "baseline-hwa" else 0.0
            if axes.reprogram and targets is not None:
                base = {**head, "weight_noise": wn}
                for r in _reprogrammed_rows(s, kind, model, g0, cost, targets, axes, base):
                    lo = _loaded(s.pruned, net, r.pop("pairs"), scales,
                                 f"{kind}, {name}, re-programmed")
                    rows.append({**r, **read_network(lo, cfg)})
            for f in axes.faults:
                stuck = stuck_for(shapes, s.seed, f) if f > 0 else None
                for t in axes.times:
                    t_eff = t if (kind != "pruned" or axes.relax_pruned) else 0.0
                    g = cells_at(g0, model, t_eff, stuck, seed=s.seed, g_on=mapping.g_max)
                    pairs = [(a[0], a[1]) for a in g]
                    lo = (dataclasses.replace(s.pruned, pairs=pairs, cell_states=None)
                          if kind == "pruned" else
                          _loaded(s.pruned, net, pairs, scales, f"{kind}, {name}"))
                    rows.append({**head, "network": kind, "time_s": float(t),
                                 "stuck_fraction": float(f), "weight_noise": wn,
                                 **_cost_columns(cost), **read_network(lo, cfg)})
    return rows


def compare(cfg: StudyConfig, task: str = "digits", *, axes: Axes = Axes(),  # noqa: B008
            training: Training = Training(),  # noqa: B008
            log: Callable[[str], None] | None = None) -> ComparisonResult:
    """The comparison on ``task`` over ``axes`` (see the module docstring); ``cfg`` is taken as
    given (:func:`comparison_config` sets the study's hardware). Returns one row per seed, error
    model, network, stuck fraction and time."""
    noise = {}
    for name in axes.error_models:
        model = devmodel.error_model(name)
        noise[name] = weight_noise_for(model, max(axes.times), target_map(model))
    rows, secs, soft = [], {}, []
    with blas_threads(1):
        for seed in range(axes.first_seed, axes.first_seed + axes.seeds):
            t0 = time.perf_counter()
            s = _train_seed(cfg, task, seed, axes, training, noise, log)
            t1 = time.perf_counter()
            soft.append({"seed": seed, **{k: v for k, v in s.pruned.metrics.items()
                                          if k in ("test_accuracy", "test_pr_auc")}})
            rows += _seed_rows(s, task, axes, noise)
            secs[f"seed {seed}: train"] = t1 - t0
            secs[f"seed {seed}: program and read"] = time.perf_counter() - t1
            if log is not None:
                log(f"seed {seed}: trained in {t1 - t0:.0f} s, read in "
                    f"{time.perf_counter() - t1:.0f} s")
    return ComparisonResult(task=task, axes=axes, rows=rows, seconds=secs, weight_noise=noise,
                            software=soft)


# --------------------------------------------------------------------------------------------
# what the numbers say
# --------------------------------------------------------------------------------------------
def metric_of(task: str) -> tuple[str, str]:
    """(row key, name) of the task's headline metric: PR-AUC for DRIVE, accuracy otherwise."""
    return ("pr_auc", "PR-AUC") if task == "drive" else ("accuracy", "accuracy")


def summary(rows: Sequence[dict], task: str) -> list[dict]:
    """Mean and standard deviation over seeds per (error model, network, time, stuck fraction),
    in table order; the margin of the pruned network over that row (points, mean)."""
    key, _ = metric_of(task)
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["error_model"], r["network"], r["time_s"], r["stuck_fraction"]),
                          []).append(r)
    out = []
    for (name, kind, t, f), rs in groups.items():
        def stat(k, rs=rs):
            v = np.array([r[k] for r in rs if k in r], float)
            return (float(np.mean(v)), float(np.std(v))) if v.size else (float("nan"),) * 2

        row = {"error_model": name, "network": kind, "time_s": t, "stuck_fraction": f,
               "seeds": len(rs)}
        for k in ("accuracy", "roc_auc", "pr_auc", "pulses_per_cell", "verify_reads",
                  "program_energy_J", "program_time_s", "inference_board_J",
                  "inference_integrated_J", "gpu_J", "weight_noise", "reprogram_pulses_per_cell",
                  "reprogram_energy_J", "reprogram_time_s"):
            row[k], row[f"{k}_std"] = stat(k)
        pr = groups.get((name, "pruned", t, f), [])
        if pr:
            row["pruned_margin"] = 100 * (float(np.mean([r[key] for r in pr])) - row[key])
        out.append(row)
    order = {k: i for i, k in enumerate(NETWORKS)}
    models = {m: i for i, m in enumerate(dict.fromkeys(r["error_model"] for r in rows))}
    out.sort(key=lambda r: (models[r["error_model"]], r["stuck_fraction"], r["time_s"],
                            order[r["network"]]))
    return out


def verdict(rows: Sequence[dict], task: str) -> list[str]:
    """Per task: who wins at the first condition (first error model, earliest time, no stuck
    cells, or the fewest), by how much against the best baseline there, and under which of the
    conditions tried (error model, time, stuck fraction) the winner changes; the study's claim
    beside it; the programming budget of each."""
    key, name = metric_of(task)
    summ = summary(rows, task)
    conds = list(dict.fromkeys((r["error_model"], r["time_s"], r["stuck_fraction"]) for r in summ))
    if not conds:
        raise ProgrammingStudyError("no rows to judge")

    def margin(c):
        sel = [r for r in summ if (r["error_model"], r["time_s"], r["stuck_fraction"]) == c]
        pr = next(r for r in sel if r["network"] == "pruned")
        best = max((r for r in sel if r["network"] != "pruned"), key=lambda r: r[key])
        return 100 * (pr[key] - best[key]), pr, best

    first = min(conds, key=lambda c: (c[2], c[1]))
    d0, pr0, best0 = margin(first)
    win0 = d0 > 0
    lines = [f"**{task}** ({first[0]}, t = {time_label(first[1])}, stuck {100 * first[2]:g} %): "
             f"{'pruning wins' if win0 else 'the baseline wins'} by {abs(d0):.1f} points {name} "
             f"(pruned {100 * pr0[key]:.1f} +- {100 * pr0[key + '_std']:.1f} %, best baseline "
             f"{best0['network']} {100 * best0[key]:.1f} +- {100 * best0[key + '_std']:.1f} %)."]
    flips = [c for c in conds if (margin(c)[0] > 0) != win0]
    if flips:
        lines.append("The verdict flips at: " + "; ".join(
            f"{c[0]}, t = {time_label(c[1])}, stuck {100 * c[2]:g} % ({margin(c)[0]:+.1f})" for c in flips)
            + ".")
    else:
        lines.append(f"It holds at every error model, time and stuck fraction tried (margins "
                     f"{min(margin(c)[0] for c in conds):+.1f} to "
                     f"{max(margin(c)[0] for c in conds):+.1f} points).")
    claim = STUDY_CLAIMS.get(task)
    if claim is not None:
        lines.append(f"The study reports +{claim[1]:g} points {claim[0]} for pruning; here the "
                     f"margin is {d0:+.1f} at that condition.")
    lines.append(f"Budget: the best baseline takes {best0['pulses_per_cell']:.1f} programming "
                 f"pulses per cell against the pruned network's {pr0['pulses_per_cell']:.1f} "
                 f"({best0['program_energy_J'] / max(pr0['program_energy_J'], 1e-30):.1f}x the "
                 f"energy, {best0['program_time_s'] / max(pr0['program_time_s'], 1e-30):.1f}x "
                 "the time).")
    return lines


def time_label(seconds: float) -> str:
    """``"2d"``, ``"1h"``, ``"30min"`` for whole days, hours or minutes, else ``"1 s"``."""
    for unit, s in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= s and seconds % s == 0:
            return f"{int(seconds // s)}{unit}"
    return f"{seconds:g} s"
