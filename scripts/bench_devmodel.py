#!/usr/bin/env python
"""Benchmark and summary of the device model: forming a macro-sized array, reset, set, write-verify.

Prints the wall time of ``devmodel.form`` on an N x N array (best and median of ``--repeat`` runs; the
target is < 1 s at 512 x 512) and the statistics of the outcome against the calibration targets
(formed cells N(14.2 uS, 2.46 uS); reset cells 0.1-1 uS).

    python scripts/bench_devmodel.py              # 512 x 512, 5 repeats
    python scripts/bench_devmodel.py --size 256 --repeat 3 --sweep
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from rramsim import devmodel


def _timed(fn, repeat: int):
    """Result, best and median wall time, best CPU time of this process (s) over ``repeat`` runs."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return out, min(times), statistics.median(times), min(cpu)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512, help="array is size x size (default 512)")
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the numpy Generator")
    parser.add_argument("--sweep", action="store_true",
                        help="also sweep forming amplitude and width (10,000 cells each)")
    args = parser.parse_args(argv)
    if args.size < 1 or args.repeat < 1:
        parser.error("--size and --repeat must be >= 1")
    shape = (args.size, args.size)
    p = devmodel.TAOX_40NM

    devmodel.form((8, 8), rng=0)  # warm-up (imports, first-call overheads)
    res, best, med, cpu = _timed(
        lambda: devmodel.form(shape, rng=np.random.default_rng(args.seed)), args.repeat)
    g = res.conductance[res.formed]
    print(f"form {shape[0]}x{shape[1]}: best {best:.3f} s, median {med:.3f} s wall, "
          f"best {cpu:.3f} s CPU ({args.repeat} runs; pulse {p.form_amplitude} V, "
          f"{p.form_width * 1e9:.0f} ns, compliance {p.form_compliance * 1e6:.0f} uA)")
    print(f"  formed fraction {res.formed.mean():.4f}; formed G mean {g.mean() * 1e6:.3f} uS "
          f"(target 14.2), std {g.std() * 1e6:.3f} uS (target 2.46); "
          f"energy {res.cost.total_energy * 1e6:.3f} uJ total, "
          f"{res.cost.energy.mean() * 1e12:.1f} pJ/cell")

    rng = np.random.default_rng(args.seed + 1)
    mask = res.formed & (rng.random(shape) < 0.5)
    pruned, best_r, _, _ = _timed(lambda: devmodel.reset(res.state, mask, rng=rng), 1)
    gr = pruned.conductance[mask]
    print(f"reset {mask.sum()} cells: {best_r:.3f} s; G {gr.min() * 1e6:.3f}-{gr.max() * 1e6:.3f} uS "
          f"(median {np.median(gr) * 1e6:.3f}; target 0.1-1), "
          f"{pruned.cost.energy[mask].mean() * 1e12:.1f} pJ/cell")
    back, best_s, _, _ = _timed(lambda: devmodel.set(pruned.state, mask, rng=rng), 1)
    gs = back.conductance[mask]
    print(f"set {mask.sum()} cells: {best_s:.3f} s; set fraction {back.formed[mask].mean():.4f}, "
          f"G mean {gs.mean() * 1e6:.3f} uS, std {gs.std() * 1e6:.3f} uS, "
          f"{back.cost.energy[mask].mean() * 1e12:.1f} pJ/cell")

    n_wv = min(args.size, 128)
    target = rng.uniform(2e-6, 40e-6, size=(n_wv, n_wv))
    wv, best_w, _, _ = _timed(lambda: devmodel.write_verify(target, rng=rng, tolerance=0.05), 1)
    print(f"write-verify {n_wv}x{n_wv} (targets U(2, 40) uS, 5 %, 1 % read noise): {best_w:.3f} s; "
          f"converged {wv.converged.mean():.4f}, pulses mean {wv.cost.pulses.mean():.2f} "
          f"(max {wv.cost.pulses.max()}), {wv.cost.energy.mean() * 1e12:.1f} pJ/cell")

    if args.sweep:
        print("forming sweep (10,000 cells, seed fixed): value, formed fraction, mean, std (uS)")
        for kind, values in (("amplitude", (2.5, 2.7, 2.9, 3.1)),
                             ("width", (1e-8, 1e-7, 1e-6, 1e-5))):
            for v in values:
                r = devmodel.form((100, 100), rng=77, **{kind: v})
                gf = r.conductance[r.formed]
                print(f"  {kind} {v:g}: {r.formed.mean():.4f} {gf.mean() * 1e6:.3f} "
                      f"{gf.std() * 1e6:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
