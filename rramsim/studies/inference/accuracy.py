"""Test-set accuracy of a programmed network in the four modes, and what the circuit alone does.

:func:`evaluate` runs the network's own forward pass with the matmul hook of each mode
(:mod:`rramsim.studies.inference.modes`). Behavioural and circuit modes share DAC bits, read voltage, ADC,
calibration method and the read-noise stream (same seed), so their difference is the circuit (IR
drop, non-linearity). The circuit pass records drive voltages (a bounded sample per layer) for the
tile output error, the ADC saturation and the energy ledger.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from rramsim.studies.config import STREAM_CALIB, STREAM_NOISE, StudyConfig, stream
from rramsim.studies.inference import modes as infer
from rramsim.studies.inference.quantize import DAC

MODES = infer.MODES

#: Largest number of layer rows (patches, steps) one forward batch produces.
BATCH_ROWS = 16384


@dataclass
class Evaluation:
    """Accuracies, timings, drive records and tile output error.

    Attributes
    ----------
    accuracy : dict
        ``software``, ``ideal``, ``behavioural``, ``circuit``: fractions correct on the test set
        (noisy modes: mean over ``noise.repeats`` passes with independent read noise).
    accuracy_std : dict
        Standard deviation of the noisy modes' accuracy over the passes.
    seconds : dict
        Wall time of each mode's first test-set pass; ``transfer`` for the transfer matrices,
        ``calibrate_<mode>`` for calibration.
    records : dict
        Circuit-mode drive voltages per layer (at most ``infer.RECORD_ROWS`` rows each).
    rows_per_inference : list of int
        Products each layer computes per input (1 dense, output positions of a convolution,
        time steps of an RNN).
    tile_error_rel : float
        ``||V T - V G|| / ||V G||`` over the recorded drives: the output error of IR drop alone.
    adc_saturation : float
        Fraction of recorded circuit-mode column currents beyond the ADC full scale.
    """

    accuracy: dict
    seconds: dict
    accuracy_std: dict = field(default_factory=dict)
    records: dict = field(default_factory=dict)
    rows_per_inference: list = field(default_factory=list)
    tile_error_rel: float = float("nan")
    adc_saturation: float = 0.0
    n_test: int = 0
    reads: list = field(default_factory=list)
    """Measured pairs: the read each test batch ran on (ideal, behavioural, circuit modes)."""
    read_batch: int = 0
    read_cycle: list = field(default_factory=list)
    """Measured pairs: the reads the test batches cycle through, in order."""


def batch_size(rows_per_inference) -> int:
    """Inputs per forward batch: 512, fewer when a layer computes many rows per input."""
    return int(max(1, min(512, BATCH_ROWS // max(1, max(rows_per_inference, default=1)))))


def test_accuracy(net_forward, x, y, matmul, batch: int) -> float:
    preds = []
    for i in range(0, x.shape[0], batch):
        preds.append(np.argmax(net_forward(x[i:i + batch], matmul=matmul), axis=1))
    return float(np.mean(np.concatenate(preds) == y))


def test_accuracy_reads(net_forward, x, y, matmuls, batch: int) -> tuple[float, list[int]]:
    """Accuracy with test batch ``b`` run through ``matmuls[b mod len]`` (``(read, matmul)``
    pairs: a different read of the measured pairs per batch, as the study's test loop); returns
    the accuracy and the read of each batch."""
    preds, used = [], []
    for b, i in enumerate(range(0, x.shape[0], batch)):
        read, mm = matmuls[b % len(matmuls)]
        preds.append(np.argmax(net_forward(x[i:i + batch], matmul=mm), axis=1))
        used.append(int(read))
    return float(np.mean(np.concatenate(preds) == y)), used


def _run_mode(ev, loaded, cfg, preps, conv, rng, batch, rec):  # noqa: PLR0913 -- one pass
    """One pass of the test set (``preps``: ``(read, Prepared)``, one per read; drives recorded
    into ``rec`` from the first read's batches)."""
    data = loaded.data
    mms = [(r, infer.make_matmul(p, conv=conv, read_noise_rel=cfg.noise.read_noise_rel,
                                  rng=rng, record=rec if j == 0 else None))
           for j, (r, p) in enumerate(preps)]
    if len(mms) == 1 and not ev.read_batch:
        return test_accuracy(loaded.forward, data.x_test, data.y_test, mms[0][1], batch)
    acc, ev.reads = test_accuracy_reads(loaded.forward, data.x_test, data.y_test, mms,
                                        ev.read_batch or batch)
    return acc


def calibrate(prep, calib_inputs, cfg: StudyConfig) -> infer.Converters:
    """Converters of a mode calibrated on the layers' training inputs."""
    cv = cfg.converters
    return infer.calibrate(prep, calib_inputs, dac=DAC(bits=cv.dac_bits, v_read_V=cv.v_read_V),
                            adc_bits=cv.adc_bits, adc_full_scale_V=cv.adc_full_scale_V,
                            method=cv.calibration, percentile=cv.calibration_percentile)


def evaluate(hw, loaded, cfg: StudyConfig, *,  # noqa: PLR0913 -- the modes' options
             modes=("software", "ideal", "behavioural", "circuit"), progress: bool = False,
             prepared: dict | None = None, read_hardware=None) -> Evaluation:
    """Accuracy of ``loaded`` programmed as ``hw`` in each of ``modes``.

    ``prepared``: a cache of :class:`~rramsim.studies.inference.modes.Prepared` by mode for ``hw``
    (filled in place), so that repeated evaluations solve no tile twice. ``read_hardware``:
    measured pairs, ``(read, Hardware)`` per read (:func:`~rramsim.studies.programming.
    program_reads`); test batch ``b`` (``[network] read_batch`` inputs) then runs on read
    ``b mod len``, the converters calibrated on the first; :attr:`Evaluation.reads` records them.
    """
    data = loaded.data
    acc, secs = {}, {}
    ev = Evaluation(accuracy=acc, seconds=secs, n_test=int(len(data.x_test)),
                    read_batch=cfg.network.read_batch if read_hardware else 0)
    ev.read_cycle = [int(r) for r, _ in read_hardware or ()]
    others = [] if not read_hardware else [(r, h) for r, h in read_hardware[1:]]
    other_preps: dict = {}
    calib_inputs, ev.rows_per_inference = infer.calibration_inputs(
        loaded.forward, data.x_calib, rng=stream(cfg, STREAM_CALIB))
    batch = batch_size(ev.rows_per_inference)
    cache = {} if prepared is None else prepared
    it = list(modes)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="inference", unit="mode", leave=False)
    for mode in it:
        t0 = time.perf_counter()
        if mode != "software" and mode not in cache:
            cache[mode] = infer.prepare(hw, mode, progress=progress)
        prep = cache.get(mode)
        if mode == "circuit":
            secs["transfer"] = time.perf_counter() - t0
        conv = None
        if mode in ("behavioural", "circuit"):
            t1 = time.perf_counter()
            conv = calibrate(prep, calib_inputs, cfg)
            secs[f"calibrate_{mode}"] = time.perf_counter() - t1
        noisy = mode in ("behavioural", "circuit") and cfg.noise.read_noise_rel > 0
        rng = stream(cfg, STREAM_NOISE)   # the same draws for behavioural and circuit
        preps = [(read_hardware[0][0] if read_hardware else 0, prep)]
        if mode != "software":
            preps += [(r, other_preps.setdefault((mode, r), infer.prepare(h, mode)))
                      for r, h in others]
        runs = []
        for rep in range(cfg.noise.repeats if noisy else 1):
            t2 = time.perf_counter()
            rec = ev.records if (mode == "circuit" and rep == 0) else None
            runs.append(_run_mode(ev, loaded, cfg, preps, conv, rng, batch, rec))
            if rep == 0:
                secs[mode] = time.perf_counter() - t2
        acc[mode] = float(np.mean(runs))
        if noisy and len(runs) > 1:
            ev.accuracy_std[mode] = float(np.std(runs))
        if mode == "circuit":
            ev.records = {k: np.concatenate(v) for k, v in ev.records.items()}
            ev.tile_error_rel = tile_output_error(prep, ev.records)
            ev.adc_saturation = saturation(prep, conv, ev.records)
    return ev


def tile_output_error(prep_circuit, records, *, nonlinear_inputs: int = 16) -> float:
    """``||I_circuit - V G|| / ||V G||`` over the tiles and recorded drives (the circuit alone).

    Each layer's tiles are driven with all its pieces at once (the recorded layer voltages on the
    plan's rows). Linear tiles: ``I_circuit = V T``. Non-linear tiles: full Newton solves of the
    first ``nonlinear_inputs`` drives.
    """
    hw = prep_circuit.hardware
    num = den = 0.0
    for k, v in sorted(records.items()):
        for t, full in hw.plan[k].tile_drive(v, hw.tile_shape[0]).items():
            xb = hw.tiles[t]
            if t in prep_circuit.matrices:
                circ = full @ prep_circuit.matrices[t]
            elif t in prep_circuit.nonlinear:
                full = full[:nonlinear_inputs]
                circ = np.asarray(hw.solve(t, full).i_out).reshape(len(full), -1)
            else:
                continue
            ideal = full @ np.asarray(xb.effective_conductance())
            num += float(np.sum((circ - ideal) ** 2))
            den += float(np.sum(ideal**2))
    return float(np.sqrt(num / den)) if den > 0 else float("nan")


def saturation(prep, conv, records) -> float:
    """Fraction of recorded noiseless column currents beyond their ADC's full scale."""
    total = clipped = 0
    for k, v in sorted(records.items()):
        for c in infer.layer_currents(prep, k, v):
            total += c.size
            clipped += int(np.sum(np.abs(c) > conv.readouts[k].i_full_scale_A))
    return clipped / total if total else 0.0
