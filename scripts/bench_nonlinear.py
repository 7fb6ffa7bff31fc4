"""Benchmark: batches of inputs on sinh tiles against linear tiles, and against today's Newton.

For each tile size, one tile of formed cells (``devmodel.form`` then ``devmodel.tile_cells``: every
cell its own slope conductance and v0), wires of ``--r-wire`` ohm per segment, and a batch of
``--inputs`` random read voltages in [0, ``--v-read``] (a third of the rows at 0 V, as after a ReLU)
is solved side by side, in one run:

* linear cells through their transfer matrix T (``i_out = v @ T``; T's own time printed apart);
* sinh cells by ``solver.solve`` (``method="auto"``: the batched cell-current solve on small tiles);
* sinh cells by the batched cell-current method (``method="newton-batch"``) and by today's Newton
  with Schur-complement CG steps (``method="newton-cg"``) on the same inputs;
* a fully converged reference, Newton per input at KCL relative residual 1e-14, on ``--ref`` inputs,
  against which the largest relative difference of each method's outputs is printed.

With ``--cnn N``: instead, the Fashion-MNIST CNN of the source study (trained briefly on the
generated stand-in files of ``rramsim.nn.standins``, NOT Fashion-MNIST) programmed on 64 x 64 and
256 x 256 tiles, circuit-accurate inference of N test images (calibration on 8 training images)
with linear cells (through T) and sinh cells (v0 of the device model), and sinh cells by today's
path (per-input Newton, no shared inputs), side by side.

Usage::

    PYTHONPATH=$PWD python scripts/bench_nonlinear.py [--sizes 64 256 512] [--inputs 256]
    PYTHONPATH=$PWD python scripts/bench_nonlinear.py --cnn 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rramsim import solver
from rramsim.crossbar import Crossbar
from rramsim.devmodel import program, read
from rramsim.errors import ConvergenceError
from rramsim.solver import _newton


def make_tile(m: int, r_wire: float, seed: int) -> Crossbar:
    state = program.form((m, m), rng=seed).state
    g, v0 = read.tile_cells(state)
    return Crossbar(g, r_wordline=r_wire, r_bitline=r_wire, sinh_v0=v0)


def inputs(m: int, count: int, v_read: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.0, v_read, (count, m))
    v[rng.random((count, m)) < 1 / 3] = 0.0
    return v


def timed(repeat: int, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` and the shortest of ``repeat`` wall-clock times (shared machine)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return out, best


def converged(xb, v1):
    old = _newton.RTOL
    try:
        for tol in (1e-14, 1e-13):
            _newton.RTOL = tol
            try:
                return solver.solve(xb, v1, method="newton-cg").i_out
            except ConvergenceError:
                continue
    finally:
        _newton.RTOL = old
    raise RuntimeError("reference Newton did not converge")


def rel(a, b) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def bench_cnn(n_test: int, tiles=(64, 256), r_wire: float = 2.0) -> None:
    """Circuit-accurate CNN inference with linear and sinh cells (see the module docstring)."""
    import sys
    import tempfile
    from pathlib import Path
    from unittest import mock

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_networks import standin, train_briefly

    from rramsim import nn
    from rramsim.studies import loading
    from rramsim.studies.config import StudyConfig
    from rramsim.studies.inference import accuracy
    from rramsim.studies.inference import modes as infer
    from rramsim.studies.programming import program

    folder = standin("fashion_mnist", Path(tempfile.gettempdir()) / "rramsim-fashion-standin")
    ds = nn.load_fashion_mnist(folder)
    net = nn.fashion_mnist_cnn()
    dev, t_train = train_briefly(net, ds, seed=0, epochs=1, max_train=2000)
    data = loading.Data(x_calib=ds.x_train[:8], x_test=ds.x_test[:n_test],
                        y_test=ds.y_test[:n_test], name="fashion-mnist stand-in")
    lo = loading.from_network(net, data, pairs=dev.conductance_pairs(),
                              scales=[la.scale for la in dev.layers])
    calib = infer.record_inputs(lo.forward, data.x_calib)
    batch = accuracy.batch_size([len(c) // len(data.x_calib) for c in calib])
    print(f"Fashion-MNIST CNN (stand-in data, trained {t_train:.0f} s), {n_test} test images, "
          f"{r_wire} ohm wires; times in seconds")
    print(f"{'tile':>8} {'cells':>7} {'prepare':>8} {'calib':>8} {'test':>8} {'per image':>10} "
          f"{'accuracy':>8}")

    def run(cfg, label, tile):
        t0 = time.perf_counter()
        hw = program(lo, cfg)
        prep = infer.prepare(hw, "circuit")
        t_prep = time.perf_counter() - t0
        t0 = time.perf_counter()
        conv = accuracy.calibrate(prep, calib, cfg)
        t_cal = time.perf_counter() - t0
        mm = infer.make_matmul(prep, conv=conv)
        t0 = time.perf_counter()
        acc = accuracy.test_accuracy(lo.forward, data.x_test, data.y_test, mm, batch)
        t_test = time.perf_counter() - t0
        print(f"{tile:>4} x{tile:<3} {label:>7} {t_prep:8.2f} {t_cal:8.2f} {t_test:8.2f} "
              f"{t_test / n_test:10.3f} {acc * 100:7.1f}%", flush=True)
        return t_test

    for tile in tiles:
        cfg = StudyConfig().replace("mapping", tile_rows=tile, tile_cols=tile).replace(
            "noise", repeats=1).replace("circuit", r_wordline_ohm=r_wire, r_bitline_ohm=r_wire)
        t_lin = run(cfg, "linear", tile)
        cfg_nl = cfg.replace("circuit", nonlinear_cells=True, sinh_v0_V=0.0)
        t_nl = run(cfg_nl, "sinh", tile)
        # today's path: per-input Newton with CG steps, every input solved
        with mock.patch.object(solver, "BATCH_SINH_MAX_CELLS", 0), \
                mock.patch.object(solver, "_distinct_inputs", lambda v: (None, None)):
            t_old = run(cfg_nl, "today", tile)
        print(f"   {tile} x {tile}: sinh / linear test time {t_nl / t_lin:.1f}x; today's path / "
              f"sinh {t_old / t_nl:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 512])
    ap.add_argument("--inputs", type=int, nargs="+", default=[256],
                    help="batch size per tile size (the last one repeats)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="repeats of the faster timings (the shortest is printed)")
    ap.add_argument("--ref", type=int, default=6, help="inputs solved by the converged reference")
    ap.add_argument("--r-wire", type=float, default=1.0)
    ap.add_argument("--v-read", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-today", action="store_true", help="do not run today's Newton")
    ap.add_argument("--cnn", type=int, default=0, metavar="N",
                    help="the CNN benchmark on N test images instead of the tile table")
    args = ap.parse_args()
    if args.cnn:
        bench_cnn(args.cnn)
        return

    head = (f"{'tile':>9} {'B':>4} {'T (s)':>7} {'lin v@T':>9} {'sinh auto':>10} {'batched':>9} "
            f"{'newton-cg':>10} {'auto/lin':>9} {'speed-up':>8} {'dev lin':>8} "
            f"{'err auto':>9} {'err cg':>8}")
    print(head)
    rows = []
    for q, m in enumerate(args.sizes):
        count = args.inputs[min(q, len(args.inputs) - 1)]
        rep = args.repeat if m <= 128 else 1
        xb = make_tile(m, args.r_wire, args.seed)
        v = inputs(m, count, args.v_read, args.seed + 1)
        lin = xb.replace(sinh_v0=None)
        t_mat, t_t = timed(rep, solver.transfer_matrix, lin)
        i_lin, t_lin = timed(5, np.matmul, v, t_mat)
        s_auto, t_auto = timed(rep, solver.solve, xb, v)
        s_bat, t_bat = timed(rep, solver.solve, xb, v, method="newton-batch")
        if args.skip_today:
            s_cg, t_cg = None, float("nan")
        else:
            s_cg, t_cg = timed(rep, solver.solve, xb, v, method="newton-cg")
        k = min(args.ref, count)
        ref = np.stack([converged(xb, v[b]) for b in range(k)])
        err_auto = rel(s_auto.i_out[:k], ref)
        err_bat = rel(s_bat.i_out[:k], ref)
        err_cg = float("nan") if s_cg is None else rel(s_cg.i_out[:k], ref)
        dev = rel(i_lin, s_auto.i_out)  # how far the sinh outputs are from the linear model
        speed = t_cg / t_auto
        print(f"{m:>4} x{m:<4} {count:>4} {t_t:7.3f} {t_lin * 1e3:7.2f}ms {t_auto:9.3f}s "
              f"{t_bat:8.3f}s {t_cg:9.3f}s {t_auto / t_lin:8.0f}x {speed:7.2f}x {dev:8.1e} "
              f"{max(err_auto, err_bat):9.1e} {err_cg:8.1e}", flush=True)
        rows.append((m, t_auto, t_lin, t_t, t_cg))
    print()
    print("columns: T = transfer matrix of the linear tile (once per tile); lin v@T = the batch "
          "through T; sinh auto = solver.solve(xb, v); batched = method='newton-batch'; newton-cg = "
          "today's per-input Newton; auto/lin = sinh time over linear batch time; speed-up = "
          "newton-cg over sinh auto; dev lin = largest relative difference of the sinh outputs "
          "from the linear ones; err = largest relative difference from Newton converged to 1e-14 "
          f"on {args.ref} inputs.")
    for m, ta, tl, tt, _ in rows:
        print(f"{m} x {m}: sinh auto / (T + v@T) = {ta / (tl + tt):.1f}x")


if __name__ == "__main__":
    main()
