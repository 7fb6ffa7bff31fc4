"""How far circuit mode's read-noise model lies from the exact first-order noise, on a network's tiles.

Maps a network as the programming study's comparison does (``comparison_config``: 512 x 512
tiles, 2-ohm wires, 128 rows per read) and, for a few recorded inputs of every weight layer
(drives at the DAC's levels, full scale from the calibration inputs), compares per row group and
column

- the exact first-order std of the sense current (``rramsim.studies.inference.readnoise``:
  every cell's voltage from the tile's nodal solution, its fluctuation carried to the TIA by the
  adjoint circuit),
- circuit mode's model ``sqrt(sum (V T)^2)`` and the ideal cell currents' ``sqrt(sum (V G)^2)``
  (behavioural mode's noise),

and the attenuation ``(V G) / (V T)`` of the signal, which the ``group`` calibration's gain
undoes: ``att * exact / VG`` is the calibrated circuit read's noise relative to behavioural
(``att * VT / VG`` as circuit mode models it). Usage::

    python scripts/diag_read_noise.py --network RUN/network.npz [--data-dir DIR] \
        [--rows 128] [--inputs 4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rramsim.studies.config import load_config
from rramsim.studies.inference import modes as infer
from rramsim.studies.inference.quantize import DAC, full_scale
from rramsim.studies.inference.readnoise import first_order_noise_std
from rramsim.studies.loading import load
from rramsim.studies.programming import program
from rramsim.studies.programming_study.comparison import comparison_config


def pct(a) -> str:
    return f"{np.median(a):.2f} ({np.percentile(a, 5):.2f}-{np.percentile(a, 95):.2f})"


def layer_drives(lo, cfg, k: int, x_layer, n: int, rng) -> np.ndarray:
    """``n`` of layer k's recorded inputs (non-zero rows) as DAC voltages."""
    calib = infer.record_inputs(lo.forward, lo.data.x_calib)[k]
    fs = full_scale(calib, method=cfg.converters.calibration,
                    percentile=cfg.converters.calibration_percentile)
    dac = DAC(bits=cfg.converters.dac_bits, v_read_V=cfg.converters.v_read_V,
              signed=bool(np.any(calib < 0)))
    x = x_layer[np.any(x_layer != 0, axis=1)]
    x = x[rng.choice(len(x), min(n, len(x)), replace=False)]
    return dac.voltages(x, fs)


def check_read(hw, r, v: np.ndarray, rows: int) -> list[str]:
    """Per row group of read ``r``: attenuation, V T / exact, V G / exact, calibrated noise."""
    xb = hw.tiles[r.tile]
    full = np.zeros((len(v), xb.n_rows))
    full[:, r.rows] = r.drive(v)
    groups = [g for g in range(0, xb.n_rows, rows) if np.any(full[:, g:g + rows])]
    drives = np.concatenate([np.where((np.arange(xb.n_rows) >= g) & (np.arange(xb.n_rows) < g + rows),
                                      full, 0.0) for g in groups])
    exact = first_order_noise_std(xb, drives)[:, r.cols]
    t_mat, g_mat = np.asarray(hw.transfer(r.tile)), np.asarray(xb.conductance)
    vt = np.sqrt((drives**2) @ t_mat**2)[:, r.cols]
    vg = np.sqrt((drives**2) @ g_mat**2)[:, r.cols]
    sig_t, sig_g = (drives @ t_mat)[:, r.cols], (drives @ g_mat)[:, r.cols]
    out = []
    for n_g, g in enumerate(groups):
        sl = slice(n_g * len(v), (n_g + 1) * len(v))
        ok = exact[sl] > 1e-3 * exact[sl].max()
        att = np.abs(sig_g[sl][ok] / sig_t[sl][ok])
        e, t, i = exact[sl][ok], vt[sl][ok], vg[sl][ok]
        out.append(f"  tile {r.tile} rows {g}-{g + rows - 1}: attenuation {pct(att)}, "
                   f"VT/exact {pct(t / e)}, VG/exact {pct(i / e)}, calibrated noise / "
                   f"behavioural: exact {pct(att * e / i)}, model {pct(att * t / i)}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--network", required=True)
    p.add_argument("--data-dir", default="")
    p.add_argument("--rows", type=int, default=128)
    p.add_argument("--inputs", type=int, default=4, help="recorded inputs per layer")
    args = p.parse_args(argv)
    cfg = load_config(None).replace("network", path=args.network, data_dir=args.data_dir)
    cfg = comparison_config(cfg).replace("run", test_samples=20)
    lo = load(cfg)
    hw = program(lo, cfg)
    rng = np.random.default_rng(0)
    xs = infer.record_inputs(lo.forward, lo.data.x_test)
    for k, lp in enumerate(hw.plan):
        t0 = time.perf_counter()
        v = layer_drives(lo, cfg, k, xs[k], args.inputs, rng)
        lines = [ln for r in lp.reads for ln in check_read(hw, r, v, args.rows)]
        print(f"layer {k} ({lp.name}), {len(v)} inputs, {time.perf_counter() - t0:.0f} s:")
        print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
