"""Read schemes on a programmed network: accuracy, tile error, energy, latency, TOPS/W, Pareto.

:func:`evaluate_scheme` runs one :class:`~rramsim.studies.readout.reads.ReadScheme` with one
calibration through the network's forward pass (circuit mode, the mapper's plan) and returns
flat metrics; :func:`pareto_front` marks the schemes no other beats on accuracy, energy and
latency together. The report draws and tabulates them
(:mod:`rramsim.studies.report.figures`, :mod:`rramsim.studies.report.markdown`).
"""

from __future__ import annotations

import time

import numpy as np

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
from rramsim.studies.inference.quantize import DAC
from rramsim.studies.readout import cost as latency
from rramsim.studies.readout import reads as readout


def evaluate_scheme(hw, loaded, cfg: StudyConfig, scheme: readout.ReadScheme, *,
                    calibration: str | None = None, base: infer.Prepared | None = None,
                    software_inputs=None, timings=(PRESET_INTEGRATED, PRESET_BOARD)) -> dict:
    """Circuit-mode accuracy and costs of ``loaded`` on ``hw`` read with ``scheme``.

    ``calibration``: default ``cfg.readout.calibration``. ``base``: a circuit-mode
    :class:`~rramsim.studies.inference.modes.Prepared` of ``hw`` (its transfer matrices are reused).
    Read noise as ``cfg.noise`` (one pass, the noise stream of the run). Energy and latency per
    timing preset of :data:`rramsim.studies.readout.cost.TIMINGS`, from the drives of the test pass.
    """
    cal = calibration or cfg.readout.calibration
    cv = cfg.converters
    t0 = time.perf_counter()
    sp = readout.prepare(hw, "circuit", scheme, base=base)
    data = loaded.data
    soft = software_inputs or infer.record_inputs(loaded.forward, data.x_calib)
    conv = readout.calibrate(sp, loaded.forward, data.x_calib,
                             readout.ConverterSpec.from_config(cv), calibration=cal,
                             software_inputs=soft)
    rpi = [len(c) // len(data.x_calib) for c in soft]
    rec: dict = {}
    mm = readout.make_matmul(sp, conv=conv, read_noise_rel=cfg.noise.read_noise_rel,
                             rng=stream(cfg, STREAM_NOISE), record=rec)
    acc = accuracy.test_accuracy(loaded.forward, data.x_test, data.y_test, mm,
                                 accuracy.batch_size(rpi))
    volts = {k: conv.conv.dacs[k].voltages(np.concatenate(v), conv.conv.x_full_scale[k])
             for k, v in rec.items()}
    out = {"rows_per_read": scheme.group_size(hw.tile_shape[0]),
           "inactive_rows": scheme.inactive_rows, "encoding": scheme.encoding,
           "columns_per_adc": scheme.columns_per_adc, "calibration": cal, "acc_circuit": acc,
           "tile_error_rel": readout.tile_output_error(sp, volts),
           "calibrated_error_rel": readout.calibrated_output_error(sp, conv, rec),
           "n_test": len(data.x_test)}
    kept = latency.kept_macs(loaded, rpi)
    for name in timings:
        c = latency.scheme_cost(sp, rpi, conv.conv.dacs, latency.TIMINGS[name], kept_macs=kept,
                                voltages=volts, calibration=cal)
        out.update({f"{name}_{k}": v for k, v in c.as_dict().items()})
    out["kept_macs"] = kept
    out["seconds"] = time.perf_counter() - t0
    return out


def pareto_front(rows, *, acc="acc_circuit", energy="integrated_energy_J",
                 lat="integrated_latency_s") -> list[bool]:
    """Per row: True when no other row has accuracy >= and energy <= and latency <=, one of
    them strictly."""
    pts = np.array([[-r[acc], r[energy], r[lat]] for r in rows], dtype=float)
    out = []
    for p in pts:
        dom = np.all(pts <= p, axis=1) & np.any(pts < p, axis=1)
        out.append(not bool(np.any(dom)))
    return out


def default_scheme_row(hw, loaded, cfg: StudyConfig, ev, *,
                       timings=(PRESET_INTEGRATED, PRESET_BOARD)) -> dict:
    """The row of today's read (all rows, amplitude, ideal scale) from an
    :class:`~rramsim.studies.inference.accuracy.Evaluation`: its circuit accuracy and tile error, and the
    costs of the scheme from its recorded circuit drives (no further test pass)."""
    scheme = cfg.readout.scheme()
    sp = readout.prepare(hw, "circuit", scheme, base=infer.prepare(hw, "circuit"))
    rpi = ev.rows_per_inference
    dacs = [DAC(bits=cfg.converters.dac_bits, v_read_V=cfg.converters.v_read_V,
                signed=bool(np.any(np.asarray(ev.records.get(k, 0.0)) < 0)))
            for k in range(len(hw.plan))]
    out = {"rows_per_read": scheme.group_size(hw.tile_shape[0]),
           "inactive_rows": scheme.inactive_rows, "encoding": scheme.encoding,
           "columns_per_adc": scheme.columns_per_adc, "calibration": "ideal_scale",
           "acc_circuit": ev.accuracy["circuit"],
           "tile_error_rel": readout.tile_output_error(sp, ev.records),
           "n_test": ev.n_test}
    kept = latency.kept_macs(loaded, rpi)
    for name in timings:
        c = latency.scheme_cost(sp, rpi, dacs, latency.TIMINGS[name], kept_macs=kept,
                                voltages=ev.records)
        out.update({f"{name}_{k}": v for k, v in c.as_dict().items()})
    out["kept_macs"] = kept
    return out


def read_scheme_step(hw, loaded, cfg: StudyConfig, ev, *, progress: bool = False) -> dict:
    """The configured read scheme (``[readout]``) and, when ``pareto_rows_per_read`` is set,
    every encoding at each of those rows per read: ``{"configured": row, "pareto": rows,
    "gpu_J", "gpu_s", "macs"}``. Today's read (the default section) reuses the evaluation
    ``ev`` (its accuracy and drives)."""
    ro = cfg.readout
    default = ro.is_default_read
    base = infer.prepare(hw, "circuit")
    soft = infer.record_inputs(loaded.forward, loaded.data.x_calib)
    conf = (default_scheme_row(hw, loaded, cfg, ev) if default else
            evaluate_scheme(hw, loaded, cfg, ro.scheme(), base=base, software_inputs=soft))
    combos = [(int(r), e) for r in ro.pareto_rows_per_read for e in readout.ENCODINGS]
    if progress and combos:
        from tqdm import tqdm

        combos = tqdm(combos, desc="read schemes", unit="scheme", leave=False)
    par = [evaluate_scheme(hw, loaded, cfg, readout.ReadScheme(
        rows_per_read=r, inactive_rows=ro.inactive_rows, encoding=e,
        columns_per_adc=ro.columns_per_adc), base=base, software_inputs=soft)
        for r, e in combos]
    gpu = GPUBaseline(energy_per_mac_J=cfg.energy.gpu_energy_per_mac_J)
    return {"configured": conf, "pareto": par, "n_calib": len(loaded.data.x_calib),
            "gpu_J": gpu.energy(loaded.macs),
            "gpu_s": latency.gpu_time_s(loaded.macs), "macs": loaded.macs}
