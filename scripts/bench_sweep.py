"""Benchmark: a 16-point sweep of the digits demo network on 1 and on 2 Dask workers.

The sweep: wire resistance per segment 1 / 10 ohm (word and bit lines) x ADC 8 / 14 bits x 4
device seeds (four chips, each formed and pruned: Monte Carlo over device-to-device spread), the
demo's other settings. The points of one chip and wire share their programmed tiles. Each
LocalCluster (single-threaded worker processes) is started first and timed apart; then the same
sweep runs on it into its own folder. Printed side by side: wall time of each, the speed-up
(target >= 1.7x on 2 cores) and whether the two results.csv are byte for byte identical. The
workers' CPU time, the load average and what two plain CPU-bound processes gain side by side
(before and after the sweeps) are printed too: when other work holds the cores, the workers are
busy for less than their wall time and the speed-up says more about the machine.

    python scripts/bench_sweep.py [--rounds N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

SWEEP = {
    "base": {"cosim": {"tiles": 0}},
    "grid": {"circuit.r_wordline_ohm,circuit.r_bitline_ohm": [1.0, 10.0],
             "converters.adc_bits": [8, 14]},
    "monte_carlo": {"device_seeds": 4, "noise_seeds": 1},
    "output": {"plots": False},
}


_BURN = "x = 0\nfor i in range(20_000_000):\n    x += i\n"


def machine_parallelism() -> float:
    """What two cores give right now: the throughput of two CPU-bound processes side by side over
    one alone (2.0 on an idle 2-core machine; less when other work holds the cores)."""
    import subprocess

    def run(n: int) -> float:
        t0 = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", _BURN]) for _ in range(n)]
        for p in procs:
            p.wait()
        return time.perf_counter() - t0

    one = run(1)
    two = run(2)
    return 2 * one / two


def _cpu_seconds() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_once(n_workers: int, out: Path) -> tuple[float, float, float, object]:
    """Cluster start time, sweep wall time, worker CPU seconds during the sweep, result."""
    import logging

    from distributed import Client, LocalCluster

    from rramsim.studies.sweep import sweep

    t0 = time.perf_counter()
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as lc, \
            Client(lc) as client:
        client.wait_for_workers(n_workers)
        t_start = time.perf_counter() - t0
        cpu0 = client.run(_cpu_seconds)
        t1 = time.perf_counter()
        res = sweep(SWEEP, client=client, out=out, progress=False)
        t_sweep = time.perf_counter() - t1
        cpu1 = client.run(_cpu_seconds)
    cpu = sum(cpu1[w] - cpu0[w] for w in cpu1 if w in cpu0)
    return t_start, t_sweep, cpu, res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1, help="run both configurations N times")
    ap.add_argument("--keep", metavar="DIR", help="keep the sweep folders here")
    args = ap.parse_args(argv)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    print(f"bench_sweep: 16-point sweep of the digits demo network; {os.cpu_count()} cores; "
          f"load average before {os.getloadavg()[0]:.2f}")
    rows = []
    try:
        for r in range(args.rounds):
            times = {}
            tables = {}
            print(f"  round {r}: two CPU-bound processes side by side run "
                  f"{machine_parallelism():.2f}x as fast as one (the most 2 workers can give now)")
            for n in (1, 2):
                out = root / f"round{r}_workers{n}"
                shutil.rmtree(out, ignore_errors=True)
                t_start, t_sweep, cpu, res = run_once(n, out)
                assert len(res.table) == 16 and len(res.computed) == 16, res
                times[n] = t_sweep
                tables[n] = (out / "results.csv").read_bytes()
                # workers' CPU time over (wall time x workers): below 1 when the machine's other
                # work (or waiting) kept them from their cores
                print(f"  round {r}: {n} worker{'s' if n > 1 else ' '}: cluster start "
                      f"{t_start:5.1f} s, sweep {t_sweep:6.1f} s "
                      f"({16 / t_sweep:.2f} points/s), worker CPU {cpu:6.1f} s "
                      f"(busy {cpu / (t_sweep * n) * 100:3.0f} %), load average "
                      f"{os.getloadavg()[0]:.2f}")
            same = tables[1] == tables[2]
            rows.append((times[1], times[2], same))
            print(f"  round {r}: speed-up 2 workers vs 1: {times[1] / times[2]:.2f}x "
                  f"(target >= 1.7x); results.csv identical: {same}")
            print(f"  round {r}: two CPU-bound processes side by side, after the sweeps: "
                  f"{machine_parallelism():.2f}x")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    best = max(t1 / t2 for t1, t2, _ in rows)
    print(f"bench_sweep: speed-up {best:.2f}x (best of {len(rows)} round"
          f"{'s' if len(rows) > 1 else ''}); tables identical in every round: "
          f"{all(s for *_, s in rows)}; load average after {os.getloadavg()[0]:.2f}")
    return 0 if all(s for *_, s in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
