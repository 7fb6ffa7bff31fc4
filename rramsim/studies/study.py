"""The study pipeline on a mapped network: accuracy, energy, IR drop, co-simulation, report.

Each step is a function of a :class:`~rramsim.studies.inference.HardwareNetwork` (tiles plus layer
plans), the network's forward pass (``net_forward(x, matmul=...)``) and the data, so the commands
(``rramsim demo``, ``irdrop``, ``compare``) combine them. Random streams are derived from the
configuration's seed with :class:`numpy.random.SeedSequence`, one independent stream per purpose,
so the same configuration gives the same numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from rramsim.studies import inference as inf
from rramsim.studies.config import StudyConfig
from rramsim.studies.quantize import DAC

# indices of the independent random streams spawned from the run seed
STREAM_NOISE, STREAM_COSIM, STREAM_SWEEP, STREAM_PROGRAM, STREAM_TRAIN = range(5)


def stream(cfg: StudyConfig, purpose: int) -> np.random.Generator:
    """The independent generator for one purpose (noise, cosim, sweep, programming, training)."""
    return np.random.default_rng(np.random.SeedSequence(cfg.run.seed).spawn(8)[purpose])


@dataclass
class Data:
    """Calibration (training) and test inputs with labels; inputs as the network takes them."""

    x_calib: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str = "digits"


@dataclass
class Evaluation:
    """Accuracies of the four evaluations, timings, drive records and tile output error.

    Attributes
    ----------
    accuracy : dict
        ``software``, ``ideal`` (behavioural, no converters or noise), ``behavioural``,
        ``circuit``: fractions correct on the test set (noisy modes: mean over
        ``noise.repeats`` passes with independent read noise).
    accuracy_std : dict
        Standard deviation of the noisy modes' accuracy over the passes.
    seconds : dict
        Wall time of each evaluation over the test set (and ``transfer`` for the transfer
        matrices, ``calibrate_*`` for calibration).
    records : list
        Circuit-mode drive voltages per layer (for the energy ledger).
    tile_error_rel : float
        ``||V T - V G|| / ||V G||`` over all tiles' recorded drives: the output error that IR
        drop alone causes.
    adc_saturation : float
        Fraction of circuit-mode column currents beyond the ADC full scale.
    """

    accuracy: dict
    seconds: dict
    accuracy_std: dict = field(default_factory=dict)
    records: list = field(default_factory=list)
    tile_error_rel: float = float("nan")
    adc_saturation: float = 0.0
    conv_circuit: inf.Converters | None = None


def _acc(net_forward, x, y, matmul, batch: int = 512) -> float:
    preds = []
    for i in range(0, x.shape[0], batch):
        preds.append(np.argmax(net_forward(x[i:i + batch], matmul=matmul), axis=1))
    return float(np.mean(np.concatenate(preds) == y))


def evaluate(hw: inf.HardwareNetwork, net_forward, data: Data, cfg: StudyConfig, *,
             modes=("software", "ideal", "behavioural", "circuit"), progress: bool = False
             ) -> Evaluation:
    """Test-set accuracy of the network in software, behavioural and circuit-accurate inference.

    Behavioural and circuit modes share DAC bits, read voltage, ADC, calibration method and the
    read-noise stream (same seed), so their difference is the circuit (IR drop, non-linearity).
    """
    cv = cfg.converters
    dac = DAC(bits=cv.dac_bits, v_read_V=cv.v_read_V)
    acc, secs = {}, {}
    records: list = []
    ev = Evaluation(accuracy=acc, seconds=secs, records=records)
    calib_inputs = inf.record_inputs(net_forward, data.x_calib)
    it = list(modes)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="inference", unit="mode", leave=False)
    for mode in it:
        t0 = time.perf_counter()
        prep = inf.prepare(hw, mode, progress=progress) if mode != "software" else None
        if mode == "circuit":
            secs["transfer"] = time.perf_counter() - t0
        conv = None
        if mode in ("behavioural", "circuit"):
            t1 = time.perf_counter()
            conv = inf.calibrate_layers(hw, prep, calib_inputs, dac=dac, adc_bits=cv.adc_bits,
                                        adc_full_scale_V=cv.adc_full_scale_V,
                                        method=cv.calibration,
                                        percentile=cv.calibration_percentile)
            secs[f"calibrate_{mode}"] = time.perf_counter() - t1
        noisy = mode in ("behavioural", "circuit") and cfg.noise.read_noise_rel > 0
        rng = stream(cfg, STREAM_NOISE)   # the same draws for behavioural and circuit
        runs = []
        for rep in range(cfg.noise.repeats if noisy else 1):
            rec = records if (mode == "circuit" and rep == 0) else None
            matmul = inf.make_matmul(hw, mode=mode, prep=prep, conv=conv,
                                     read_noise_rel=cfg.noise.read_noise_rel, rng=rng,
                                     record=rec)
            t2 = time.perf_counter()
            runs.append(_acc(net_forward, data.x_test, data.y_test, matmul))
            if rep == 0:
                secs[mode] = time.perf_counter() - t2
        acc[mode] = float(np.mean(runs))
        if noisy:
            ev.accuracy_std[mode] = float(np.std(runs))
        if mode == "circuit":
            ev.conv_circuit = conv
            ev.tile_error_rel = tile_output_error(hw, prep, records)
            ev.adc_saturation = _saturation(hw, prep, conv, records)
    return ev


def tile_output_error(hw, prep_circuit: inf.Prepared, records, *,
                      nonlinear_inputs: int = 16) -> float:
    """``||I_circuit - V G|| / ||V G||`` over the tiles and recorded drives (the circuit alone).

    Linear tiles: ``I_circuit = V T``. Non-linear tiles: full Newton solves of the first
    ``nonlinear_inputs`` recorded drives (``I`` from :func:`rramsim.solver.solve`).
    """
    from rramsim import solver
    from rramsim.studies.network_energy import tile_drive

    num = den = 0.0
    for rec in records:
        for t, full in tile_drive(hw, int(rec["layer"]), rec["v"]).items():
            xb = hw.tiles[t]
            if t in prep_circuit.matrices:
                circ = full @ prep_circuit.matrices[t]
            elif t in prep_circuit.nonlinear:
                full = full[:nonlinear_inputs]
                circ = np.asarray(solver.solve(xb, full).i_out).reshape(len(full), -1)
            else:
                continue
            ideal = full @ np.asarray(xb.effective_conductance())
            num += float(np.sum((circ - ideal) ** 2))
            den += float(np.sum(ideal**2))
    return float(np.sqrt(num / den)) if den > 0 else float("nan")


def _saturation(hw, prep, conv, records) -> float:
    total = clipped = 0
    for rec in records:
        k = int(rec["layer"])
        for c in inf.layer_currents(hw, prep, k, rec["v"], read_noise_rel=0.0, rng=None):
            total += c.size
            clipped += int(np.sum(np.abs(c) > conv.readouts[k].i_full_scale_A))
    return clipped / total if total else 0.0


def with_circuit(hw: inf.HardwareNetwork, *, r_wordline_ohm: float, r_bitline_ohm: float,
                 r_driver_ohm: float = 0.0, r_access_ohm: float = 0.0, drive: str = "left",
                 sinh_v0_V: float | None = None) -> inf.HardwareNetwork:
    """The same plan on tiles with other circuit parameters (conductances unchanged)."""
    tiles = []
    for xb in hw.tiles:
        ch = dict(r_wordline=r_wordline_ohm, r_bitline=r_bitline_ohm, r_driver=r_driver_ohm,
                  drive=drive, r_access=(r_access_ohm if r_access_ohm > 0 else None),
                  sinh_v0=sinh_v0_V)
        tiles.append(xb.replace(**ch))
    return inf.HardwareNetwork(tiles=tuple(tiles), layers=hw.layers)


def apply_circuit_config(hw: inf.HardwareNetwork, cfg: StudyConfig) -> inf.HardwareNetwork:
    """Tiles with the configuration's wire, driver, access resistances, drive and cell I-V."""
    c = cfg.circuit
    return with_circuit(hw, r_wordline_ohm=c.r_wordline_ohm, r_bitline_ohm=c.r_bitline_ohm,
                        r_driver_ohm=c.r_driver_ohm, r_access_ohm=c.r_access_ohm, drive=c.drive,
                        sinh_v0_V=c.sinh_v0_V if c.nonlinear_cells else None)


def accuracy_vs_wire(hw: inf.HardwareNetwork, net_forward, data: Data, cfg: StudyConfig, *,
                     progress: bool = False, reuse: Evaluation | None = None):
    """Behavioural and circuit accuracy for each wire resistance of ``cfg.sweep.r_wire_ohm``.

    Returns a DataFrame with ``r_wire_ohm``, ``software``, ``ideal``, ``behavioural``,
    ``circuit``, ``tile_error_rel``. ``reuse``: the evaluation of ``hw`` with the configured
    circuit (its numbers stand for the configured wire resistance instead of a second run).
    Other points average ``sweep.noise_repeats`` noisy passes.
    """
    import pandas as pd

    rows = []
    c = cfg.circuit
    scfg = cfg.replace("noise", repeats=cfg.sweep.noise_repeats)
    same = c.r_wordline_ohm == c.r_bitline_ohm and not c.nonlinear_cells
    beh = reuse or evaluate(hw, net_forward, data, scfg,
                            modes=("software", "ideal", "behavioural"))
    it = cfg.sweep.r_wire_ohm
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="wire sweep", unit="R", leave=False)
    for r in it:
        if reuse is not None and same and float(r) == c.r_wordline_ohm:
            ev = reuse
        else:
            hw_r = with_circuit(hw, r_wordline_ohm=r, r_bitline_ohm=r,
                                r_driver_ohm=c.r_driver_ohm, r_access_ohm=c.r_access_ohm,
                                drive=c.drive)
            ev = evaluate(hw_r, net_forward, data, scfg, modes=("circuit",))
        rows.append({"r_wire_ohm": float(r), "software": beh.accuracy["software"],
                     "ideal": beh.accuracy["ideal"], "behavioural": beh.accuracy["behavioural"],
                     "circuit": ev.accuracy["circuit"], "tile_error_rel": ev.tile_error_rel})
    return pd.DataFrame(rows)
