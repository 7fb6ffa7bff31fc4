#!/usr/bin/env python3
"""Benchmark: circuit-accurate vs behavioural inference time on the digits test set.

Both evaluations run the same network with the same converters (DAC, per-column TIA + ADC), read
noise and digital partial sums; behavioural uses each tile's ideal conductances G, circuit-accurate
each tile's IR-drop-exact transfer matrix T (computed once per tile by the fast solver, timed
separately as set-up). Prints wall times (best of ``--repeat``) and the ratio; the target is
circuit / behavioural <= 3.

Usage: python scripts/bench_studies.py [--repeat 5] [--seed 0] [--config FILE]
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    from rramsim._threads import blas_threads

    with blas_threads(1):     # as the studies run (see rramsim._threads.blas_threads)
        return _main(argv)


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=15, help="timing repetitions (best is kept)")
    p.add_argument("--seed", type=int, default=None, help="overrides [run] seed")
    p.add_argument("--config", default=None, help="study configuration (TOML)")
    args = p.parse_args(argv)

    from rramsim.studies.config import STREAM_NOISE, load_config, stream
    from rramsim.studies.inference import accuracy
    from rramsim.studies.inference import modes as infer
    from rramsim.studies.loading import load
    from rramsim.studies.programming import program

    cfg = load_config(args.config)
    if args.seed is not None:
        cfg = cfg.replace("run", seed=args.seed)
    loaded = load(cfg, progress=False)
    hw = program(loaded, cfg)
    data = loaded.data
    calib = infer.record_inputs(loaded.forward, data.x_calib)
    print(f"network {loaded.name}: {len(hw.plan)} layers on {hw.summary()['tiles']} tiles "
          f"{cfg.mapping.tile_rows}x{cfg.mapping.tile_cols}, wires "
          f"{cfg.circuit.r_wordline_ohm:g}/{cfg.circuit.r_bitline_ohm:g} ohm; "
          f"test set {data.x_test.shape[0]} samples")

    # set-up per mode, then timed passes alternating between the modes (best of --repeat each),
    # so that load from other processes on the shared cores affects both alike
    state = {}
    for mode in ("behavioural", "circuit"):
        t0 = time.perf_counter()
        prep = infer.prepare(hw, mode)
        setup = time.perf_counter() - t0
        state[mode] = (prep, accuracy.calibrate(prep, calib, cfg), setup)
    best = {m: float("inf") for m in state}
    acc = {}
    for _ in range(max(1, args.repeat)):
        for mode, (prep, conv, _setup) in state.items():
            mm = infer.make_matmul(prep, conv=conv, read_noise_rel=cfg.noise.read_noise_rel,
                                    rng=stream(cfg, STREAM_NOISE))
            t1 = time.perf_counter()
            logits = loaded.forward(data.x_test, matmul=mm)
            best[mode] = min(best[mode], time.perf_counter() - t1)
            acc[mode] = infer.accuracy(logits, data.y_test)
    results = {}
    for mode, (_p, _c, setup) in state.items():
        results[mode] = (setup, best[mode], acc[mode])
        print(f"{mode:12s} set-up {setup * 1e3:8.1f} ms   inference {best[mode] * 1e3:8.2f} ms   "
              f"accuracy {acc[mode] * 100:.2f} % (one noise draw)")
    (s_b, t_b, _), (s_c, t_c, _) = results["behavioural"], results["circuit"]
    ratio = t_c / t_b
    ratio_setup = (s_c + t_c) / (s_b + t_b)
    print(f"circuit / behavioural inference time: {ratio:.2f}x (target <= 3x: "
          f"{'MET' if ratio <= 3 else 'NOT MET'}); including set-up (transfer matrices): "
          f"{ratio_setup:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
