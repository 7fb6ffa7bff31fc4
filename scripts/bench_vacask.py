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
    0-0.3 V, against the solver's Newton on ``Crossbar(*devmodel.tile_cells(state))`` (target 1e-6);
(d) a batch of 16 inputs on a 128 x 128 tile as one swept circuit, against one run per input.

    python scripts/bench_vacask.py                 # all three (a few minutes here)
    python scripts/bench_vacask.py --quick         # 128 for (b), 64 for (c), ngspice to 48, 64 for (d)
    python scripts/bench_vacask.py --size 256 --ngspice-sizes 16 32 64
    python scripts/bench_vacask.py --waveforms docs/vacask_waveforms.png   # only the figure

``--waveforms PNG`` plots the forming, RESET and SET pulses of one cell, the Verilog-A model in VACASK
against the NumPy integrator (gap and current against time).
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


def plot_waveforms(path: str) -> None:
    """Forming, RESET and SET of one device: VACASK (Verilog-A) against devmodel.integrate_waveform."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rramsim._io import atomic_open

    p = dataclasses.replace(devmodel.TAOX_40NM, dg0=0.0)
    pristine = devmodel.pristine((1,), rng=21, params=p)
    formed, _ = devmodel.apply_pulse(pristine, 3.0, 1e-6, compliance=100e-6)
    reset, _ = devmodel.apply_pulse(formed, -2.1, 1e-6)
    cases = [("forming 3 V, 100 uA", pristine, 3.0, 100e-6), ("RESET -2.1 V", formed, -2.1, None),
             ("SET 2.4 V, 100 uA", reset, 2.4, 100e-6)]
    fig, axes = plt.subplots(2, 3, figsize=(11, 5.5), sharex=True)
    for k, (label, start, amp, icc) in enumerate(cases):
        t, v = devmodel.rectangular_pulse(amp, 1e-6, edge=1e-9, delay=1e-9, tail=5e-9)
        w = vacask.filament_transient(start, t, v, compliance=icc)
        ref = devmodel.integrate_waveform(start, t, v, compliance=icc, dt_max=1e-9, dg_max=1e-12,
                                          record=True)
        ax = axes[0, k]
        ax.semilogx(ref.time[1:] * 1e9, ref.gap[1:, 0] * 1e9, lw=3, alpha=0.4, label="NumPy (Heun)")
        ax.semilogx(w.time[1:] * 1e9, w.gap[1:, 0] * 1e9, "k--", lw=1, label="VACASK (Verilog-A)")
        ax.set_title(label)
        ax.set_ylabel("gap (nm)")
        ax = axes[1, k]
        ax.semilogx(ref.time[1:] * 1e9, np.abs(ref.current[1:, 0]) * 1e6, lw=3, alpha=0.4)
        ax.semilogx(w.time[1:] * 1e9, np.abs(w.current[1:, 0]) * 1e6, "k--", lw=1)
        ax.set_ylabel("|current| (uA)")
        ax.set_xlabel("time (ns)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Filament model: one 1 us pulse (1 ns edges), Verilog-A in VACASK vs NumPy")
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512, help="tile size for (b) (default 512)")
    ap.add_argument("--cells-size", type=int, default=256, help="filament-model tile for (c)")
    ap.add_argument("--ngspice-sizes", type=int, nargs="+", default=[16, 32, 48, 64])
    ap.add_argument("--r-wire-ohm", type=float, default=2.0)
    ap.add_argument("--batch-size", type=int, default=128, help="tile for (d)")
    ap.add_argument("--quick", action="store_true",
                    help="128 for (b), 64 for (c), ngspice to 48, 64 for (d)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--waveforms", metavar="PNG", help="only plot VA vs NumPy pulse waveforms")
    args = ap.parse_args()
    if args.waveforms:
        plot_waveforms(args.waveforms)
        return
    if args.quick:
        args.size, args.cells_size, args.ngspice_sizes, args.batch_size = 128, 64, [16, 32, 48], 64
    rng = np.random.default_rng(args.seed)
    t = vacask.tools()
    print(f"VACASK from {vacask.PACKAGE} {t.version}; wire {args.r_wire_ohm} ohm/segment on both lines, "
          "ideal TIAs, one input uniform in [0, 0.2] V")
    # one generator through the parts, in this order: every run draws the same tiles and inputs
    part_a(args, rng)
    part_b(args, rng)
    part_c(args, rng)
    part_d(args, rng)


def part_a(args, rng) -> None:
    """(a) side by side on small tiles, and ngspice's power law extrapolated to 512."""
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


def part_b(args, rng) -> None:
    """(b) the whole tile in VACASK against solver.solve."""
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
          f"wall, {res.cpu_seconds:.1f} s CPU (with the raw file read {t_run:.1f} s); peak memory "
          f"{res.max_rss / 1e9:.2f} GB")
    print(f"solver.solve {t_solver:.3f} s ({ref.backend}); VACASK / solver time "
          f"{res.seconds / t_solver:.0f}x")
    agree = _agreement(sol, ref)
    print("agreement with solver.solve (max |diff| / max |ref|): "
          + ", ".join(f"{k} {val:.1e}" for k, val in agree.items())
          + f"  -> {'MET' if max(agree.values()) <= 1e-9 else 'NOT MET'} (target 1e-9)")


def part_c(args, rng) -> None:
    """(c) a tile of Verilog-A filament cells against the solver's Newton."""
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


def part_d(args, rng) -> None:
    """(d) a batch as one swept circuit against one run per input."""
    n, bsz = args.batch_size, 16
    xbd = _tile(n, args.r_wire_ohm, rng)
    vd = rng.uniform(0, 0.2, (bsz, n))
    print(f"\n(d) {bsz} inputs on a {n} x {n} tile", flush=True)
    t0 = time.perf_counter()
    batch = vacask.simulate(xbd, vd)
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    for b in range(4):
        vacask.simulate(xbd, vd[b])
    t_one = (time.perf_counter() - t0) / 4
    agree = _agreement(batch, solver.solve(xbd, vd))
    print(f"one swept circuit: {t_batch:.2f} s = {t_batch / bsz:.3f} s per input; one run per input: "
          f"{t_one:.3f} s per input ({t_one / (t_batch / bsz):.1f}x); agreement "
          f"{max(agree.values()):.1e}")


if __name__ == "__main__":
    main()
