"""Energy per inference of a mapped network: array (from the solved tiles) plus converters.

For each layer and tile, the drive voltages of every test input (recorded during circuit-accurate
inference) give the array's source power, ``P = v^T Y v`` with the tile's input admittance Y
(:func:`rramsim.studies.energy.input_admittance`, linear tiles) or ``sum V i_in`` from a full
solve (non-linear tiles); the array energy per inference is its mean over the test inputs times
the read time and the layer's reads per inference. DACs convert every driven row, ADCs and TIAs
every read column, per read (:class:`~rramsim.studies.energy.ConverterFigures`).
"""

from __future__ import annotations

import numpy as np

from rramsim.studies.energy import ConverterFigures, EnergyLedger
from rramsim.studies.power import array_power, input_admittance, source_power


def tile_drive(hw, layer: int, v: np.ndarray) -> dict[int, np.ndarray]:
    """Full-tile drive voltages (B, M_tile) per tile of a layer, from layer voltages v (B, fan_in)."""
    out: dict[int, np.ndarray] = {}
    for s in hw.layers[layer].slices:
        xb = hw.tiles[s.tile]
        full = out.setdefault(s.tile, np.zeros((v.shape[0], xb.n_rows)))
        full[:, s.rows] = v[:, s.row_inputs] * s.row_sign
    return out


def used_rows(hw, layer: int) -> dict[int, int]:
    """Rows driven per tile of a layer (each one DAC conversion per read, zero inputs included)."""
    rows: dict[int, set] = {}
    for s in hw.layers[layer].slices:
        rows.setdefault(s.tile, set()).update(s.rows.tolist())
    return {t: len(r) for t, r in rows.items()}


def used_columns(hw, layer: int) -> dict[int, int]:
    """Columns read per tile of a layer (each one TIA + one ADC conversion per read)."""
    cols: dict[int, set] = {}
    for s in hw.layers[layer].slices:
        cols.setdefault(s.tile, set()).update(s.cols.tolist())
    return {t: len(c) for t, c in cols.items()}


def network_energy(hw, drive_records, figures: ConverterFigures, *, dac_bits: int = 1,
                   max_solve_inputs: int = 64, admittances: dict | None = None,
                   progress: bool = False) -> EnergyLedger:
    """Per-inference energy ledger of the network from recorded drive voltages.

    Parameters
    ----------
    hw : rramsim.studies.inference.HardwareNetwork
    drive_records : list of dict
        ``{"layer": k, "v": (B, fan_in) volts}`` as recorded by circuit-mode inference; records of
        the same layer are concatenated.
    figures : ConverterFigures
        Converter energies and the read time.
    dac_bits : int
        Input resolution (scales the DAC energy of per-bit figures).
    max_solve_inputs : int
        Non-linear tiles are solved for at most this many inputs (the mean is taken over them).
    admittances : dict, optional
        Cache of input admittance matrices by tile index (filled in place).
    """
    from rramsim import solver

    cache = {} if admittances is None else admittances
    by_layer: dict[int, list[np.ndarray]] = {}
    for rec in drive_records:
        by_layer.setdefault(int(rec["layer"]), []).append(np.asarray(rec["v"]))
    ledger = EnergyLedger()
    items = sorted(by_layer.items())
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="array energy", unit="layer", leave=False)
    for k, vs in items:
        lp = hw.layers[k]
        v = np.concatenate(vs, axis=0)
        # rows of the (B, fan_in) record: per inference, the layer is read v.shape[0] / B times;
        # the reads per inference come from the plan (1 for a dense layer)
        ncols = used_columns(hw, k)
        nrows = used_rows(hw, k)
        for t, full in tile_drive(hw, k, v).items():
            xb = hw.tiles[t]
            if xb.is_linear:
                if t not in cache:
                    cache[t] = input_admittance(xb)
                p = float(np.mean(source_power(cache[t], full)))
            else:
                sub = full[:max_solve_inputs]
                p = float(np.mean(array_power(xb, solver.solve(xb, sub), sub).source))
            ledger.add_reads(layer=lp.name, tile=t, array_J=p * figures.t_read_s * lp.reads,
                             rows_driven=nrows[t], columns_read=ncols[t], reads=lp.reads,
                             figures=figures, dac_bits=dac_bits)
    return ledger


def power_split(hw, drive_records, *, tiles: int = 4, inputs: int = 16) -> dict[str, float]:
    """Where the array's power goes, from full solves of a sample (fractions of source power).

    Solves up to ``tiles`` tiles of the first recorded layers for ``inputs`` inputs each with
    :func:`rramsim.solver.solve` and splits the power with
    :func:`rramsim.studies.energy.array_power`. Returns fractions for ``cells``, ``access``,
    ``driver``, ``wires`` and ``sense``, plus ``balance_rel``, the worst relative mismatch between
    source power and total dissipation (energy conservation; ~1e-12 expected).
    """
    from rramsim import solver

    totals = {"source": 0.0, "cells": 0.0, "access": 0.0, "driver": 0.0, "wires": 0.0,
              "sense": 0.0}
    worst = 0.0
    done = 0
    for rec in drive_records:
        for t, full in tile_drive(hw, int(rec["layer"]), np.asarray(rec["v"])).items():
            if done >= tiles:
                break
            xb = hw.tiles[t]
            sub = full[:inputs]
            p = array_power(xb, solver.solve(xb, sub), sub)
            for key in totals:
                totals[key] += float(np.sum(getattr(p, key)))
            src = np.maximum(np.abs(p.source), 1e-300)
            worst = max(worst, float(np.max(np.abs(p.dissipated - p.source) / src)))
            done += 1
    src = totals.pop("source")
    out = {k: (v / src if src > 0 else float("nan")) for k, v in totals.items()}
    out["balance_rel"] = worst
    return out
