#!/usr/bin/env python
"""VACASK on whole tiles: a 512 x 512 tile with 2-ohm wires on both lines, against the solver, and
ngspice's time on the sizes it finishes, extrapolated to 512.

Prints, in one run:

(a) ngspice and VACASK side by side on 16 / 32 / 48 / 64 (one input, wall time including the circuit
    load and, for VACASK, writing the netlist), and ngspice's power-law fit t = c n^p (least squares
    in log-log over its three largest sizes), extrapolated to 512 x 512;
(b) VACASK on the 512 x 512 tile: wall time (netlist text, the VACASK process, reading the raw file),
    the peak memory of the VACASK process, and the agreement of every output with ``solver.solve``
    (largest relative difference per quantity; target 1e-9);
(c) a formed 256 x 256 tile whose cells are the Verilog-A filament model (gaps frozen), read at
    0-0.3 V, against the solver's Newton on ``Crossbar(*devmodel.tile_cells(state))`` (target 1e-6).

    python scripts/bench_vacask.py                 # all three (a few minutes here)
    python scripts/bench_vacask.py --quick         # 128 x 128 for (b), 64 x 64 for (c), ngspice to 48
    python scripts/bench_vacask.py --size 256 --ngspice-sizes 16 32 64
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from tqdm import tqdm

from rramsim import devmodel, netlists, solver
from rramsim.crossbar import Crossbar
from rramsim.netlists import vacask


def _tile(n: int, r_wire: float, rng) -> Crossbar:
    g = np.clip(rng.normal(14.2e-6, 2.46e-6, (n, n)), 1e-7, None)
    return Crossbar(g, r_wordline=r_wire, r_bitline=r_wire)


def _agreement(got, ref) -> dict[str, float]:
    out = {}
    for name in ("i_out", "v_wordline", "v_bitline", "i_in"):
        a, b = getattr(got, name), getattr(ref, name)
        out[name] = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512, help="tile size for (b) (default 512)")
    ap.add_argument("--cells-size", type=int, default=256, help="filament-model tile for (c)")
    ap.add_argument("--ngspice-sizes", type=int, nargs="+", default=[16, 32, 48, 64])
    ap.add_argument("--r-wire-ohm", type=float, default=2.0)
    ap.add_argument("--quick", action="store_true", help="128 for (b), 64 for (c), ngspice to 48")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.quick:
        args.size, args.cells_size, args.ngspice_sizes = 128, 64, [16, 32, 48]
    rng = np.random.default_rng(args.seed)
    t = vacask.tools()
    print(f"VACASK from {vacask.PACKAGE} {t.version}; wire {args.r_wire_ohm} ohm/segment on both lines, "
          "ideal TIAs, one input uniform in [0, 0.2] V")

    # (a) side by side on small tiles
    print("\n(a) ngspice vs VACASK, one input (wall time, s)")
    print(f"{'size':>9} {'ngspice':>9} {'VACASK':>9} {'ratio':>7} {'agree':>9}")
    warm = _tile(4, args.r_wire_ohm, rng)  # load ngspice's library and compile nothing in the loop
    netlists.simulate(warm, np.full(4, 0.1))
    vacask.simulate(warm, np.full(4, 0.1))
    sizes, t_ng = [], []
    for n in tqdm(args.ngspice_sizes, desc="small tiles", leave=False):
        xb = _tile(n, args.r_wire_ohm, rng)
        v = rng.uniform(0, 0.2, n)
        t0 = time.perf_counter()
        ng = netlists.simulate(xb, v)
        a = time.perf_counter() - t0
        t0 = time.perf_counter()
        va = vacask.simulate(xb, v)
        b = time.perf_counter() - t0
        agree = float(np.max(np.abs(va.i_out - ng.i_out)) / np.max(np.abs(ng.i_out)))
        sizes.append(n)
        t_ng.append(a)
        tqdm.write(f"{n:>4}x{n:<4} {a:>9.3f} {b:>9.3f} {a / b:>6.1f}x {agree:>9.1e}")
    if len(sizes) >= 2:
        k = 3 if len(sizes) >= 3 else 2  # least squares in log-log over the largest sizes
        p, c = np.polyfit(np.log(sizes[-k:]), np.log(t_ng[-k:]), 1)
        t512 = float(np.exp(c) * 512.0**p)
        print(f"ngspice fit over {sizes[-k]}..{sizes[-1]}: t ~ n^{p:.2f}; extrapolated to 512 x 512: "
              f"{t512:.3g} s = {t512 / 3600:.3g} h")

    # (b) the whole tile
    n = args.size
    xb = _tile(n, args.r_wire_ohm, rng)
    v = rng.uniform(0, 0.2, n)
    print(f"\n(b) VACASK on one {n} x {n} tile ({3 * n * n} resistors)", flush=True)
    t0 = time.perf_counter()
    text, layout = vacask.render_tile(xb, v)
    t_text = time.perf_counter() - t0
    res = vacask.run(text, ["op1"])
    sol = vacask.solution_from_plot(xb, v, layout, res.plots["op1"])
    t_run = time.perf_counter() - t0 - t_text
    t0 = time.perf_counter()
    ref = solver.solve(xb, v)
    t_solver = time.perf_counter() - t0
    print(f"netlist text {t_text:.2f} s ({len(text) / 1e6:.0f} MB); VACASK process {res.seconds:.1f} s "
          f"(with the raw file read {t_run:.1f} s); peak memory {res.max_rss / 1e9:.2f} GB")
    print(f"solver.solve {t_solver:.3f} s ({ref.backend}); VACASK / solver time "
          f"{res.seconds / t_solver:.0f}x")
    agree = _agreement(sol, ref)
    print("agreement with solver.solve (max |diff| / max |ref|): "
          + ", ".join(f"{k} {val:.1e}" for k, val in agree.items())
          + f"  -> {'MET' if max(agree.values()) <= 1e-9 else 'NOT MET'} (target 1e-9)")

    # (c) a tile of Verilog-A filament cells
    n = args.cells_size
    params = dataclasses.replace(devmodel.TAOX_40NM, dg0=0.0)
    state = devmodel.form((n, n), rng=args.seed + 1, params=params).state
    g, v0 = devmodel.tile_cells(state)
    xbc = Crossbar(g, sinh_v0=v0, r_wordline=args.r_wire_ohm, r_bitline=args.r_wire_ohm)
    vc = rng.uniform(0, 0.3, n)
    print(f"\n(c) {n} x {n} tile of Verilog-A filament cells (formed, gaps frozen), one read",
          flush=True)
    t0 = time.perf_counter()
    solc = vacask.simulate(xbc, vc, cells=state)
    t_c = time.perf_counter() - t0
    t0 = time.perf_counter()
    refc = solver.solve(xbc, vc)
    t_newton = time.perf_counter() - t0
    agree = _agreement(solc, refc)
    print(f"VACASK {t_c:.1f} s, solver Newton {t_newton:.2f} s ({refc.backend}); agreement: "
          + ", ".join(f"{k} {val:.1e}" for k, val in agree.items())
          + f"  -> {'MET' if max(agree.values()) <= 1e-6 else 'NOT MET'} (target 1e-6)")


if __name__ == "__main__":
    main()
