"""``rramsim tile``: simulate one crossbar tile in ngspice and check it against the analytic answer."""

from __future__ import annotations

import argparse
import time

import numpy as np

# Formed-cell conductance statistics of the study group's 40 nm TaOx macro (BRIEF.md: ESGNN code,
# nonzero cells): N(14.2 uS, 2.46 uS).
G_MEAN = 14.2e-6
G_STD = 2.46e-6


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=32, help="word lines M (default 32)")
    parser.add_argument("--cols", type=int, default=32, help="bit lines N (default 32)")
    parser.add_argument("--r-wire-ohm", type=float, default=2.0,
                        help="word- and bit-line resistance per segment, ohms (default 2)")
    parser.add_argument("--v-read", type=float, default=0.2,
                        help="largest input voltage, volts (inputs uniform in [0, v-read])")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--deck", metavar="PATH", help="also write the tile's ngspice deck here")
    parser.add_argument("--backend", choices=("auto", "shared", "subprocess"), default="auto",
                        help="how to run ngspice (default: shared library, else the binary)")


def default_tile(rows: int, cols: int, seed: int, r_wire: float):
    """The embedded default: conductances drawn from the macro's formed-cell statistics."""
    from rramsim.crossbar import Crossbar
    from rramsim.errors import CrossbarError

    if rows < 1 or cols < 1:
        raise CrossbarError(f"--rows and --cols must be >= 1, got {rows} x {cols}")
    rng = np.random.default_rng(seed)
    g = rng.normal(G_MEAN, G_STD, size=(rows, cols))
    return Crossbar(g, r_wordline=r_wire, r_bitline=r_wire), rng


def run(args: argparse.Namespace) -> int:
    from rramsim import netlists

    xb, rng = default_tile(args.rows, args.cols, args.seed, args.r_wire_ohm)
    v = rng.uniform(0.0, args.v_read, size=xb.n_rows)
    ideal = v @ xb.conductance
    print(f"rramsim tile: {xb.n_rows} x {xb.n_cols} crossbar, G ~ N(14.2 uS, 2.46 uS), "
          f"inputs U(0, {args.v_read} V), seed {args.seed}")

    t0 = time.perf_counter()
    no_wire = netlists.simulate(xb.replace(r_wordline=0.0, r_bitline=0.0), v, backend=args.backend)
    t1 = time.perf_counter()
    err = np.max(np.abs(no_wire.i_out - ideal)) / np.max(np.abs(ideal))
    print(f"[1] zero wire resistance, ngspice ({no_wire.backend}, {t1 - t0:.2f} s): "
          f"max |i_out - v @ G| / max |v @ G| = {err:.2e}  "
          f"({'AGREES' if err <= 1e-9 else 'DISAGREES'} with the analytic answer to 1e-9)")

    t0 = time.perf_counter()
    wired = netlists.simulate(xb, v, backend=args.backend)
    t1 = time.perf_counter()
    loss = (ideal - wired.i_out) / ideal
    print(f"[2] {args.r_wire_ohm:g} ohm per segment on both lines, ngspice ({t1 - t0:.2f} s): "
          f"IR drop lowers the outputs by {100 * loss.mean():.3f} % on average "
          f"(worst column {100 * loss.max():.3f} %)")
    drop = v[:, None] - (wired.v_wordline - wired.v_bitline)
    print(f"    cell voltage lost to IR drop: worst {1e3 * drop.max():.3f} mV, "
          f"mean {1e3 * drop.mean():.3f} mV")
    try:
        from rramsim import solver
    except ImportError:
        solver = None
    if solver is not None and hasattr(solver, "solve"):
        t0 = time.perf_counter()
        fast = solver.solve(xb, v)
        t1 = time.perf_counter()
        d = np.max(np.abs(fast.i_out - wired.i_out)) / np.max(np.abs(wired.i_out))
        print(f"[3] fast solver ({fast.backend}, {1e3 * (t1 - t0):.1f} ms) vs ngspice: "
              f"max relative difference {d:.2e} ({'AGREES' if d <= 1e-9 else 'DISAGREES'} to 1e-9)")
    k = min(8, xb.n_cols)
    print(f"    first {k} outputs, uA:   analytic (no wires) | ngspice with wires")
    for j in range(k):
        print(f"      column {j:3d}: {1e6 * ideal[j]:10.4f} | {1e6 * wired.i_out[j]:10.4f}")
    if args.deck:
        path = netlists.write_deck(args.deck, netlists.render(xb, v))
        print(f"    deck written to {path}")
    return 0 if err <= 1e-9 else 1
