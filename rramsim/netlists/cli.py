"""``rramsim tile``: simulate one crossbar tile in ngspice and check it against the analytic answer."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

# Formed-cell conductance statistics of the source study's 40 nm TaOx macro (arXiv 2311.07164,
# formed cells): N(14.2 uS, 2.46 uS).
G_MEAN = 14.2e-6
G_STD = 2.46e-6


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=32, help="word lines M (default 32)")
    parser.add_argument("--cols", type=int, default=32, help="bit lines N (default 32)")
    parser.add_argument("--r-wire-ohm", type=float, default=2.0,
                        help="word- and bit-line resistance per segment, ohms (default 2)")
    parser.add_argument("--v-read", type=float, default=0.2,
                        help="largest input voltage, volts, > 0 (inputs uniform in [0, v-read])")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--deck", metavar="PATH", help="also write the tile's ngspice deck here")
    parser.add_argument("--backend", choices=("auto", "shared", "subprocess"), default="auto",
                        help="how to run ngspice (default: shared library, else the binary)")
    parser.add_argument("--time-limit", type=float, default=300.0, metavar="SECONDS",
                        help="refuse tiles whose estimated ngspice time exceeds this (default 300)")
    parser.add_argument("--force", action="store_true",
                        help="run even when the estimate exceeds --time-limit or the memory "
                             "available")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="time limit of each ngspice run (default: scaled to the tile, "
                             "see rramsim.netlists.ngspice.default_timeout)")


def tile_estimate(rows: int, cols: int) -> tuple[float, float]:
    """Estimated (seconds, peak bytes) of ``rramsim tile``: both ngspice runs plus the deck text.

    Arithmetic only. The wired run dominates (:func:`rramsim.netlists.ngspice.estimate`); the
    run without wires merges every word and bit line into one node, measured here at 0.17 s /
    0.6 s / 4.7 s for 100 / 200 / 400 squared, about 1.3 kB per cell.
    """
    from rramsim.netlists import ngspice

    cells = float(rows) * float(cols)
    t_wired, b_wired = ngspice.estimate(3 * cells + 2 * (rows + cols))
    t_plain = 0.05 + 0.6 * (cells / 40_000) ** 1.5
    text = 200.0 * cells  # the deck as Python strings while it is rendered and loaded
    return t_wired + t_plain, max(b_wired, 40e6 + 1_300 * cells) + text


def _memory_limit() -> float | None:
    """Bytes the command may use (the solver's limit, which allows for headroom), if known."""
    try:
        from rramsim.solver._factor import available_memory_bytes
    except ImportError:  # pragma: no cover - the solver is part of the package
        return None
    return float(available_memory_bytes())


def _check_size(args: argparse.Namespace) -> tuple[float, float]:
    """Refuse (before anything is allocated) a tile whose estimate exceeds the limits."""
    from rramsim.errors import CrossbarError, SpiceError

    if args.rows < 1 or args.cols < 1:
        raise CrossbarError(f"--rows and --cols must be >= 1, got {args.rows} x {args.cols}")
    if not (np.isfinite(args.time_limit) and args.time_limit > 0):
        raise SpiceError(f"--time-limit must be a positive number of seconds, got "
                         f"{args.time_limit}")
    seconds, nbytes = tile_estimate(args.rows, args.cols)
    print(f"rramsim tile: estimate for {args.rows} x {args.cols} in ngspice: "
          f"{_duration(seconds)}, {nbytes / 2**20:.0f} MiB", flush=True)
    if args.force:
        return seconds, nbytes
    limit = _memory_limit()
    if limit is not None and nbytes > limit:
        raise SpiceError(
            f"a {args.rows} x {args.cols} tile needs about {nbytes / 2**30:.2f} GiB in ngspice, "
            f"more than the {limit / 2**30:.2f} GiB available; use a smaller tile, or "
            "rramsim.solver for large tiles (pass --force to try anyway)")
    if seconds > args.time_limit:
        raise SpiceError(
            f"a {args.rows} x {args.cols} tile takes about {_duration(seconds)} in ngspice, "
            f"more than --time-limit {args.time_limit:g} s; use a smaller tile, raise "
            "--time-limit, or pass --force")
    return seconds, nbytes


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 3:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.3g} days"


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
    from rramsim._rundir import check_file_target
    from rramsim.errors import CrossbarError

    if not (np.isfinite(args.v_read) and args.v_read > 0):
        raise CrossbarError(f"--v-read must be a positive number of volts, got {args.v_read}")
    if args.deck is not None:
        check_file_target(args.deck, option="--deck")
    _check_size(args)
    xb, rng = default_tile(args.rows, args.cols, args.seed, args.r_wire_ohm)
    v = rng.uniform(0.0, args.v_read, size=xb.n_rows)
    ideal = v @ xb.conductance
    print(f"rramsim tile: {xb.n_rows} x {xb.n_cols} crossbar, G ~ N(14.2 uS, 2.46 uS), "
          f"inputs U(0, {args.v_read} V), seed {args.seed}", flush=True)
    progress = sys.stderr.isatty()
    sim = {"backend": args.backend, "timeout": args.timeout, "progress": progress}

    t0 = time.perf_counter()
    no_wire = netlists.simulate(xb.replace(r_wordline=0.0, r_bitline=0.0), v, **sim)
    t1 = time.perf_counter()
    err = np.max(np.abs(no_wire.i_out - ideal)) / np.max(np.abs(ideal))
    print(f"[1] zero wire resistance, ngspice ({no_wire.backend}, {t1 - t0:.2f} s): "
          f"max |i_out - v @ G| / max |v @ G| = {err:.2e}  "
          f"({'AGREES' if err <= 1e-9 else 'DISAGREES'} with the analytic answer to 1e-9)",
          flush=True)

    print(f"[2] {args.r_wire_ohm:g} ohm per segment on both lines, ngspice running ...",
          flush=True)
    t0 = time.perf_counter()
    wired = netlists.simulate(xb, v, **sim)
    t1 = time.perf_counter()
    loss = (ideal - wired.i_out) / ideal
    print(f"    ({t1 - t0:.2f} s): IR drop lowers the outputs by {100 * loss.mean():.3f} % on "
          f"average (worst column {100 * loss.max():.3f} %)")
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
