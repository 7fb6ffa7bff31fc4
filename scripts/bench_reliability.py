"""Reliability figures: how fast interrupts stop a command, ngspice's memory over many runs, the
time limit of a hung binary, validation of a huge broadcast tile, and ngspice's cost model.

    python scripts/bench_reliability.py            # everything (about two minutes)
    python scripts/bench_reliability.py --quick    # without the demo (about half a minute)

Every figure is measured here, in this run; nothing is asserted (the tests do that).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _interrupt(args: list[str], marker: bytes, sig: int, cwd: Path) -> tuple[int, float]:
    from rramsim._child import OutputWatch, start

    proc = start(*args, cwd=cwd)
    if not OutputWatch(proc, marker).wait(300):
        proc.kill()
        raise SystemExit(f"never saw {marker!r}")
    time.sleep(0.5)
    t0 = time.monotonic()
    proc.send_signal(sig)
    rc = proc.wait(60)
    return rc, time.monotonic() - t0


def interrupts(quick: bool) -> None:
    print("1. signal -> exit (inside ngspice), seconds and exit status")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for backend in ("shared", "subprocess"):
            for sig, name in ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")):
                rc, dt = _interrupt(["tile", "--rows", "100", "--cols", "100", "--force",
                                     "--backend", backend], b"ngspice running", sig, tmp)
                print(f"   tile 100 x 100, {backend:10s} {name:7s}: {dt:5.2f} s, exit {rc}")
        if not quick:
            out = tmp / "demo"
            out.mkdir()
            (out / "report.md").write_text("earlier run\n")
            rc, dt = _interrupt(["demo", "--quick", "--out", str(out), "--overwrite"],
                                b"co-simulation", signal.SIGINT, tmp)
            intact = (out / "report.md").read_text() == "earlier run\n"
            left = sorted(p.name for p in tmp.iterdir())
            print(f"   demo --quick during co-simulation, SIGINT: {dt:5.2f} s, exit {rc}, "
                  f"earlier folder intact: {intact}, folders left: {left}")


def ngspice_memory(calls: int) -> None:
    from rramsim import netlists
    from rramsim.crossbar import Crossbar

    print(f"2. ngspice shared library: RSS over {calls} simulate calls on a 16 x 16 tile")
    rng = np.random.default_rng(0)
    xb = Crossbar(rng.uniform(1e-6, 2e-5, (16, 16)), r_wordline=2.0, r_bitline=2.0)
    v = rng.uniform(0, 0.2, 16)
    for _ in range(20):
        netlists.simulate(xb, v, backend="shared")
    r0, t0 = _rss_mb(), time.perf_counter()
    marks = []
    for k in range(1, calls + 1):
        netlists.simulate(xb, v, backend="shared")
        if k % (calls // 4) == 0:
            marks.append(f"{k}: +{_rss_mb() - r0:.1f} MB")
    dt = time.perf_counter() - t0
    print(f"   {', '.join(marks)}  ({1e3 * dt / calls:.1f} ms per call)")


def hung_binary() -> None:
    from rramsim.errors import SpiceError
    from rramsim.netlists import ngspice

    print("3. a hung 'ngspice' binary on PATH, timeout=1 s")
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "ngspice"
        exe.write_text("#!/bin/sh\nsleep 600 &\nwait\n")
        exe.chmod(0o755)
        old = os.environ["PATH"]
        os.environ["PATH"] = f"{tmp}{os.pathsep}{old}"
        try:
            t0 = time.monotonic()
            try:
                ngspice.run("t\nv1 a 0 1\nr1 a 0 1\n.end\n", [["op"]], backend="subprocess",
                            timeout=1.0)
            except SpiceError as exc:
                print(f"   SpiceError after {time.monotonic() - t0:.2f} s: {str(exc)[:70]}...")
        finally:
            os.environ["PATH"] = old


def broadcast_tile() -> None:
    from rramsim.crossbar import Crossbar

    print("4. Crossbar from a zero-stride 30000 x 30000 view (7.2 GB if copied)")
    for label, g in (("constant", np.broadcast_to(np.float64(14.2e-6), (30_000, 30_000))),
                     ("varying columns", np.broadcast_to(np.linspace(1e-6, 2e-5, 30_000),
                                                         (30_000, 30_000)))):
        tracemalloc.start()
        t0 = time.perf_counter()
        Crossbar(g, r_wordline=2.0, r_bitline=2.0)
        dt = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"   {label:16s}: {1e3 * dt:7.1f} ms, peak allocation {peak / 1e6:.2f} MB")
    g = np.random.default_rng(0).uniform(1e-6, 2e-5, (4096, 4096))
    tracemalloc.start()
    t0 = time.perf_counter()
    Crossbar(g)
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"   full 4096 x 4096 : {1e3 * dt:7.1f} ms, peak allocation {peak / 1e6:.1f} MB "
          f"(the copy: {g.nbytes / 1e6:.1f} MB)")


def cost_model() -> None:
    from rramsim import netlists
    from rramsim.crossbar import Crossbar
    from rramsim.netlists.cli import tile_estimate

    print("5. ngspice cost model (rramsim tile's estimate) against a measurement, one input")
    rng = np.random.default_rng(0)
    for n in (16, 32, 48, 64):
        xb = Crossbar(rng.normal(14.2e-6, 2.46e-6, (n, n)), r_wordline=2.0, r_bitline=2.0)
        v = rng.uniform(0, 0.2, n)
        t0 = time.perf_counter()
        netlists.simulate(xb.replace(r_wordline=0.0, r_bitline=0.0), v)
        netlists.simulate(xb, v)
        dt = time.perf_counter() - t0
        est = tile_estimate(n, n)[0]
        print(f"   {n:3d} x {n:<3d}: measured {dt:6.2f} s, estimated {est:6.2f} s "
              f"(ratio {est / dt:.2f})")
    for n in (300, 1000):
        est, nbytes = tile_estimate(n, n)
        print(f"   {n:4d} x {n:<4d}: estimated {est:,.0f} s, {nbytes / 2**30:.1f} GiB "
              "(refused by default above 300 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the demo interrupt")
    parser.add_argument("--calls", type=int, default=1000, help="simulate calls for item 2")
    args = parser.parse_args()
    print(f"rramsim reliability benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    # Ctrl-C as in a terminal, even when started as a background job (SIGINT ignored, inherited)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupts(args.quick)
    ngspice_memory(args.calls)
    hung_binary()
    broadcast_tile()
    cost_model()


if __name__ == "__main__":
    main()
