#!/usr/bin/env python
"""Time ngspice on square crossbar tiles: the cost of the SPICE reference.

Prints, per size, the deck's element count and the wall time of ``netlists.simulate`` for one input
(median of --repeats runs; the circuit load is included, as a user pays it).

    python scripts/bench_ngspice.py            # 16, 32, 48, 64
    python scripts/bench_ngspice.py --large    # adds 96 (about a minute here)
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from rramsim import netlists
from rramsim.crossbar import Crossbar


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large", action="store_true", help="also time 96 x 96")
    ap.add_argument("--repeats", type=int, default=3, help="runs per size (default 3)")
    ap.add_argument("--r-wire-ohm", type=float, default=2.0)
    ap.add_argument("--backend", default="auto", choices=("auto", "shared", "subprocess"))
    args = ap.parse_args()
    sizes = [16, 32, 48, 64] + ([96] if args.large else [])
    rng = np.random.default_rng(0)
    print(f"ngspice DC operating point, wire {args.r_wire_ohm} ohm/segment on both lines, ideal TIAs")
    print(f"{'size':>7} {'elements':>9} {'median s':>9} {'min s':>8} {'max s':>8}  backend")
    for n in sizes:
        xb = Crossbar(rng.normal(14.2e-6, 2.46e-6, (n, n)), r_wordline=args.r_wire_ohm,
                      r_bitline=args.r_wire_ohm)
        v = rng.uniform(0, 0.2, n)
        n_el = sum(1 for ln in netlists.render(xb, v).splitlines() if ln and ln[0] in "rvbhe")
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            sol = netlists.simulate(xb, v, backend=args.backend)
            times.append(time.perf_counter() - t0)
        print(f"{n:>3}x{n:<3} {n_el:>9} {statistics.median(times):>9.3f} {min(times):>8.3f} "
              f"{max(times):>8.3f}  {sol.backend}", flush=True)


if __name__ == "__main__":
    main()
