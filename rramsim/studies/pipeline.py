"""The study of one network, as steps that each return a typed result, and their orchestration.

Steps: :func:`~rramsim.studies.loading.load` (network and data) ->
:func:`~rramsim.studies.programming.program` (mapping, plan, tiles with the circuit) ->
:func:`~rramsim.studies.inference.accuracy.evaluate` (four modes) -> :func:`energy_step` ->
:func:`irdrop_step` -> :func:`sweeps_step` -> :func:`cosim_step` ->
:func:`~rramsim.studies.programming.programming_costs`; :func:`run_pipeline` runs them and
hands the results to :func:`rramsim.studies.report.markdown.write_outputs`. :func:`evaluate_point` is one
design point reduced to flat metrics (for sweeps over configurations).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rramsim._threads import blas_threads
from rramsim.errors import SpiceError
from rramsim.studies import cosim, irdrop
from rramsim.studies.config import STREAM_COSIM, STREAM_SWEEP, StudyConfig, stream
from rramsim.studies.cosim import CosimError, require
from rramsim.studies.costs.energy import CONVERTER_FIGURES, GPUBaseline, network_energy
from rramsim.studies.costs.power import power_split
from rramsim.studies.inference import accuracy
from rramsim.studies.inference import design as sweeps
from rramsim.studies.loading import load, quantiser_levels, reads_used
from rramsim.studies.programming import program, program_reads, programming_costs
from rramsim.studies.readout.evaluate import evaluate_scheme, read_scheme_step
from rramsim.studies.report import markdown as report

MAX_DROP_MAPS = 6


@dataclass
class EnergyResult:
    """Energy per inference by preset (totals and per-tile ledgers), GPU baseline, power split."""

    totals: dict
    ledgers: dict
    gpu_J: float
    macs: int
    gpu: GPUBaseline
    split: dict


@dataclass
class IRDropResult:
    """Per-tile drop maps (all rows at the read voltage) and their statistics."""

    maps: dict
    stats: dict
    worst_rel: float


@dataclass
class SweepResult:
    """Accuracy sweeps (wire, tile size, placement) and the formed-tile output-error sweep."""

    wire: object = None
    size: object = None
    placement: object = None
    formed: object = None


@dataclass
class PipelineResult:
    """Everything one run computed (what the report and the CLI show)."""

    cfg: StudyConfig
    loaded: object
    hardware: object
    evaluation: accuracy.Evaluation
    energy: EnergyResult
    irdrop: IRDropResult
    sweeps: SweepResult | None = None
    cosim: object = None
    cosim_error: str | None = None
    programming: dict | None = None
    quantisers: dict | None = None
    read_schemes: dict | None = None
    seconds: dict = field(default_factory=dict)
    headline: list = field(default_factory=list)
    out_dir: Path | None = None

    @property
    def accuracy(self) -> dict:
        return self.evaluation.accuracy


def energy_step(hw, ev: accuracy.Evaluation, loaded, cfg: StudyConfig) -> EnergyResult:
    """Energy per inference with each converter preset, the GPU baseline and the power split."""
    gpu = GPUBaseline(energy_per_mac_J=cfg.energy.gpu_energy_per_mac_J)
    ledgers = {name: network_energy(hw, ev.records, ev.rows_per_inference, fig,
                                    dac_bits=cfg.converters.dac_bits)
               for name, fig in CONVERTER_FIGURES.items()}
    macs = loaded.macs
    return EnergyResult(totals={k: v.totals() for k, v in ledgers.items()}, ledgers=ledgers,
                        gpu_J=gpu.energy(macs), macs=macs, gpu=gpu,
                        split=power_split(hw, ev.records))


def irdrop_step(hw, cfg: StudyConfig, *, max_maps: int | None = None) -> IRDropResult:
    """Drop maps of the used tiles (the first ``max_maps``; all when None)."""
    used = hw.plan.used_tiles
    maps, stats = {}, {}
    for t in used if max_maps is None else used[:max(0, int(max_maps))]:
        maps[t], stats[t] = irdrop.tile_drop_map(hw.tiles[t], cfg.converters.v_read_V)
    return IRDropResult(maps=maps, stats=stats,
                        worst_rel=max((s.worst_rel for s in stats.values()), default=float("nan")))


def sweeps_step(loaded, cfg: StudyConfig, *, progress: bool = False) -> SweepResult:
    """The accuracy sweeps and the output-error sweep over formed random tiles."""
    formed = irdrop.sweep_wire_and_size(
        sweeps.formed_conductance_sampler(), r_wire_ohm=cfg.sweep.r_wire_ohm,
        tile_sizes=cfg.sweep.tile_sizes, v_read_V=cfg.converters.v_read_V, inputs=32,
        rng=stream(cfg, STREAM_SWEEP), drive=cfg.circuit.drive)
    return SweepResult(wire=sweeps.accuracy_vs_wire(loaded, cfg, progress=progress),
                       size=sweeps.accuracy_vs_tile_size(loaded, cfg, progress=progress),
                       placement=sweeps.accuracy_vs_placement(loaded, cfg), formed=formed)


def cosim_step(hw, cfg: StudyConfig, *, progress: bool = False):
    """The ngspice co-simulation check of a sample of the network's tiles."""
    return cosim.check_hardware(hw, cfg.cosim, v_read_V=cfg.converters.v_read_V,
                                rng=stream(cfg, STREAM_COSIM), progress=progress)


def run_pipeline(cfg: StudyConfig, out_dir: str | Path, *, command: str, loaded=None,
                 progress: bool = True, sweeps: bool = True, programming: bool = True,
                 max_drop_maps: int = MAX_DROP_MAPS) -> PipelineResult:
    """Run every study on one network and write the outputs into ``out_dir``.

    ``loaded``: the network and data (default :func:`~rramsim.studies.loading.load` of ``cfg``).
    ``sweeps`` and ``programming`` switch those steps off; the co-simulation check runs when
    ``cfg.cosim.tiles > 0``. Single-threaded BLAS.

    Raises
    ------
    rramsim.studies.cosim.CosimError
        When the co-simulation check fails or cannot run (after the report is written).

    Examples
    --------
    The embedded digits network, trained small and briefly (seed 0), on 32 x 32 tiles with the
    default 1-ohm wires, without the sweeps, the co-simulation and the programming comparison:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from rramsim.studies.config import config_from_dict
    >>> cfg = config_from_dict({
    ...     "run": {"seed": 0, "test_samples": 100},
    ...     "train": {"hidden": [32], "epochs": 3, "baseline": False},
    ...     "mapping": {"tile_rows": 32, "tile_cols": 32},
    ...     "converters": {"calibration_samples": 20}, "noise": {"repeats": 1},
    ...     "cosim": {"tiles": 0}})
    >>> with tempfile.TemporaryDirectory() as out:
    ...     res = run_pipeline(cfg, out, command="doctest", progress=False, sweeps=False,
    ...                        programming=False, max_drop_maps=1)
    ...     written = sorted(p.name for p in Path(out).iterdir())
    >>> print(*written)
    accuracy.csv config.toml energy.csv irdrop_tile0.png report.md tile0.cir timings.json
    >>> {mode: round(acc, 2) for mode, acc in res.accuracy.items()}
    {'software': 0.57, 'ideal': 0.57, 'behavioural': 0.54, 'circuit': 0.54}
    >>> res.hardware.summary()["tiles"], f"{res.evaluation.tile_error_rel:.3f}"
    (5, '0.011')
    >>> sorted(res.energy.totals), res.energy.macs
    (['board', 'integrated'], 2368)
    """
    from tqdm import tqdm

    steps = ["network", "inference", "energy", "IR drop", "read schemes", "sweeps",
             "co-simulation", "report"]
    bar = tqdm(total=len(steps), desc="rramsim pipeline", unit="step", disable=not progress)
    secs: dict = {}

    def timed(name, fn, *a, **kw):
        bar.set_postfix_str(name)
        t0 = time.perf_counter()
        out = fn(*a, **kw)
        secs[name] = time.perf_counter() - t0
        bar.update()
        return out

    with blas_threads(1):
        loaded = loaded or timed("network", load, cfg, progress=progress)
        hw = program(loaded, cfg)
        reads = reads_used(loaded, cfg)   # measured pairs: one programmed array per read
        ev = timed("inference", accuracy.evaluate, hw, loaded, cfg, progress=progress,
                   read_hardware=None if reads is None else
                   [(reads[0], hw), *program_reads(loaded, cfg, reads[1:])])
        secs.update({f"inference_{k}": v for k, v in ev.seconds.items()})
        res = PipelineResult(cfg=cfg, loaded=loaded, hardware=hw, evaluation=ev,
                             energy=timed("energy", energy_step, hw, ev, loaded, cfg),
                             irdrop=timed("IR drop", irdrop_step, hw, cfg,
                                          max_maps=max_drop_maps),
                             seconds=secs)

        res.read_schemes = timed("read schemes", read_scheme_step, hw, loaded, cfg, ev,
                                 progress=progress)
        if sweeps:
            res.sweeps = timed("sweeps", sweeps_step, loaded, cfg, progress=progress)
        if cfg.cosim.tiles > 0:
            try:
                res.cosim = timed("co-simulation", cosim_step, hw, cfg, progress=progress)
            except cosim_errors() as exc:   # report it, write the outputs, then fail loudly
                res.cosim_error = f"CO-SIMULATION CHECK COULD NOT RUN: {exc}"
        res.programming = programming_costs(loaded) if programming else None
        res.quantisers = quantiser_levels(loaded)
        timed("report", report.write_outputs, res, out_dir, command=command)
    bar.close()
    if res.cosim_error:
        raise CosimError(res.cosim_error)
    if res.cosim is not None:
        require(res.cosim)
    return res


def cosim_errors() -> tuple:
    """Exceptions that mean "the reference simulator could not run" (not a disagreement)."""
    return (SpiceError,)


# --------------------------------------------------------------------------------------------
# one design point, flat metrics (the sweep's unit of work)
# --------------------------------------------------------------------------------------------
def _cached(cache: dict | None, key, make):
    if cache is None:
        return make()
    if key not in cache:
        cache[key] = make()
    return cache[key]


def network_key(cfg: StudyConfig) -> tuple:
    """The key under which :func:`evaluate_point` caches the loaded network and data: the parts
    of the configuration they depend on (a caller may put a network it already has there)."""
    return ("loaded", cfg.network, cfg.train, cfg.run, cfg.converters.calibration_samples)


def evaluate_point(cfg: StudyConfig, *, cache: dict | None = None,
                   progress: bool = False) -> dict[str, float]:
    """Flat metrics of one circuit-accurate run of ``cfg``.

    Returns ``acc_software``, ``acc_ideal``, ``acc_behavioural``, ``acc_circuit`` (fractions),
    ``tile_error_rel`` (output error from IR drop alone), ``ir_drop_worst_rel`` (worst per-cell
    drop over the used tiles with every row at the read voltage, fraction of it) and
    ``energy_per_inference_J`` (with ``converters.preset``'s figures).

    ``cache`` (any dict, kept by the caller) holds the loaded network and data, the programmed
    tiles with their transfer and admittance matrices and the drop maps, keyed by the parts of
    the configuration they depend on, so points that differ only in noise or converter settings
    solve no tile again.
    """
    with blas_threads(1):
        net_key = network_key(cfg)
        loaded = _cached(cache, net_key, lambda: load(cfg, progress=progress))
        hw_key = ("hardware", net_key, cfg.mapping, cfg.circuit)
        hw = _cached(cache, hw_key, lambda: program(loaded, cfg))
        prepared = _cached(cache, ("prepared", hw_key), dict)
        ev = accuracy.evaluate(hw, loaded, cfg, progress=progress, prepared=prepared)
        drop = _cached(cache, ("irdrop", hw_key, cfg.converters.v_read_V),
                       lambda: irdrop_step(hw, cfg))
        fig = CONVERTER_FIGURES[cfg.converters.preset]
        led = network_energy(hw, ev.records, ev.rows_per_inference, fig,
                             dac_bits=cfg.converters.dac_bits)

        scheme = None
        if not cfg.readout.is_default_read:
            scheme = evaluate_scheme(hw, loaded, cfg, cfg.readout.scheme(),
                                     base=prepared.get("circuit"),
                                     timings=(cfg.converters.preset,))
    out = {f"acc_{m}": float(ev.accuracy[m]) for m in accuracy.MODES}
    out.update(tile_error_rel=float(ev.tile_error_rel), ir_drop_worst_rel=float(drop.worst_rel),
               energy_per_inference_J=float(led.totals()["total_J"]))
    if scheme is not None:   # the [readout] scheme: its accuracy and costs (converters.preset)
        p = cfg.converters.preset
        out.update(acc_scheme=float(scheme["acc_circuit"]),
                   scheme_tile_error_rel=float(scheme["tile_error_rel"]),
                   scheme_energy_per_inference_J=float(scheme[f"{p}_energy_J"]),
                   scheme_latency_s=float(scheme[f"{p}_latency_s"]),
                   scheme_tops_per_w=float(scheme[f"{p}_tops_per_w"]))
    return out


def headline_numbers(res: PipelineResult) -> dict[str, float]:
    """The run's main figures as numbers (accuracy per mode, energies, IR drop)."""
    ev, en = res.evaluation, res.energy
    return {**{f"acc_{m}": ev.accuracy[m] for m in ev.accuracy},
            "tile_error_rel": ev.tile_error_rel, "ir_drop_worst_rel": res.irdrop.worst_rel,
            **{f"energy_{k}_J": v["total_J"] for k, v in en.totals.items()},
            "energy_gpu_J": en.gpu_J, "macs": float(en.macs),
            "cosim_worst_rel": (res.cosim.worst_rel_diff if res.cosim is not None
                                else float(np.nan))}
