"""Benchmark: how a macro reads, for the Fashion-MNIST CNN on 512 x 512 tiles with 2-ohm wires.

For rows_per_read in 512, 128, 64, 32, 16, 8 and each input encoding (amplitude, bit-serial,
pwm), with today's ideal-scale correction, with per-column digital gain and offset, and with a
gain and offset per read group and column (``group``; all calibrated on 256 training images in
circuit mode), prints circuit accuracy, tile output error, the output error after calibration,
energy per inference, latency, inferences per second and TOPS/W (2 ops per MAC of the kept
weights) with the integrated and the board converters, the GPU baseline beside, and marks where
the circuit accuracy comes within 1 % (one percentage point) of the behavioural accuracy.
Inactive rows grounded, 8 columns per ADC (the board's 8-channel multiplexers) unless
``--floating`` / ``--columns-per-adc``; no read noise unless ``--read-noise`` (one pass).

The network: ``--network FILE`` (``rramsim prune --dataset fashion-mnist --out``), else the CNN
trained briefly (1 epoch on 10,000 images) on the generated IDX stand-in files of
``rramsim.nn.standins`` (NOT Fashion-MNIST) written into ``--out``.

Usage::

    python scripts/bench_read_schemes.py [--test-samples N] [--network FILE] [--out DIR]
        [--rows 512 128 ...] [--encodings amplitude ...] [--calibrations ideal_scale column group]
        [--floating] [--columns-per-adc K] [--quick]

Writes ``DIR/read_schemes.json``, ``DIR/read_schemes.md`` and the Pareto plots
``DIR/pareto_<calibration>.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_networks import standin, train_briefly  # noqa: E402

from rramsim import nn  # noqa: E402
from rramsim._threads import blas_threads  # noqa: E402
from rramsim.studies import loading  # noqa: E402
from rramsim.studies.config import StudyConfig  # noqa: E402
from rramsim.studies.costs.energy import GPUBaseline  # noqa: E402
from rramsim.studies.inference import accuracy  # noqa: E402
from rramsim.studies.inference import modes as infer  # noqa: E402
from rramsim.studies.programming import program  # noqa: E402
from rramsim.studies.readout import cost as latency  # noqa: E402
from rramsim.studies.readout import evaluate as schemes  # noqa: E402
from rramsim.studies.readout import reads as readout  # noqa: E402
from rramsim.studies.report import figures  # noqa: E402
from rramsim.studies.report import markdown as report_md  # noqa: E402


def load_cnn(args, out: Path):
    if args.network:
        cfg = StudyConfig().replace("network", path=str(args.network))
        lo = loading.load(cfg)
        return lo, f"network file {args.network}"
    folder = standin("fashion_mnist", out / "fashion-standin")
    ds = nn.load_fashion_mnist(folder)
    net = nn.fashion_mnist_cnn()
    dev, t_train = train_briefly(net, ds, seed=0, epochs=1, max_train=2000 if args.quick
                                 else 10_000)
    data = loading.Data(x_calib=ds.x_train[:256], x_test=ds.x_test, y_test=ds.y_test,
                        name="fashion-mnist stand-in")
    lo = loading.from_network(net, data, pairs=dev.conductance_pairs(),
                              scales=[la.scale for la in dev.layers])
    return lo, (f"CNN trained {t_train:.0f} s (1 epoch) on generated stand-in IDX files "
                f"(rramsim.nn.standins, not Fashion-MNIST) in {folder}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--test-samples", type=int, default=1000)
    ap.add_argument("--network", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("/tmp/rramsim-bench-read-schemes"))
    ap.add_argument("--rows", type=int, nargs="+", default=[512, 128, 64, 32, 16, 8])
    ap.add_argument("--encodings", nargs="+", default=list(readout.ENCODINGS))
    ap.add_argument("--calibrations", nargs="+", default=["ideal_scale", "column", "group"])
    ap.add_argument("--floating", action="store_true")
    ap.add_argument("--columns-per-adc", type=int, default=8)
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--r-wire", type=float, default=2.0)
    ap.add_argument("--read-noise", type=float, default=0.0,
                    help="relative read noise per cell read (default 0: the circuit alone)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with blas_threads(1):
        lo, what = load_cnn(args, args.out)
        n = min(args.test_samples, len(lo.data.x_test))
        lo.data = loading.Data(x_calib=lo.data.x_calib, x_test=lo.data.x_test[:n],
                               y_test=lo.data.y_test[:n], name=lo.data.name)
        cfg = StudyConfig().replace("mapping", tile_rows=args.tile, tile_cols=args.tile).replace(
            "circuit", r_wordline_ohm=args.r_wire, r_bitline_ohm=args.r_wire).replace(
            "noise", repeats=1, read_noise_rel=args.read_noise)
        hw = program(lo, cfg)
        print(f"{what}; {hw.summary()['tiles']} tile(s) of {args.tile} x {args.tile}, "
              f"{args.r_wire:g}-ohm segments; {n} test images")
        t0 = time.perf_counter()
        ev = accuracy.evaluate(hw, lo, cfg, modes=("software", "behavioural", "circuit"))
        base = infer.prepare(hw, "circuit")
        print(f"reference (engine, all rows, amplitude, ideal scale): software "
              f"{ev.accuracy['software'] * 100:.1f} %, behavioural "
              f"{ev.accuracy['behavioural'] * 100:.1f} %, circuit "
              f"{ev.accuracy['circuit'] * 100:.1f} %, tile error {ev.tile_error_rel:.3f} "
              f"({time.perf_counter() - t0:.0f} s)")
        soft = infer.record_inputs(lo.forward, lo.data.x_calib)
        ref = ev.accuracy["behavioural"]
        rows = []
        from tqdm import tqdm

        from rramsim._io import atomic_write_text

        combos = [(c, r, e) for c in args.calibrations for r in args.rows for e in args.encodings]
        for cal, rpr, enc in tqdm(combos, desc="schemes", unit="scheme"):
            sc = readout.ReadScheme(rows_per_read=rpr, encoding=enc,
                                    inactive_rows="floating" if args.floating else "grounded",
                                    columns_per_adc=args.columns_per_adc)
            rows.append(schemes.evaluate_scheme(hw, lo, cfg, sc, calibration=cal, base=base,
                                                software_inputs=soft))
            r = rows[-1]
            atomic_write_text(args.out / "read_schemes.partial.json",
                              json.dumps(rows, indent=1, default=float))
            tqdm.write(f"{cal:>12} {rpr:>4} {enc:>10}: acc {r['acc_circuit'] * 100:5.1f} % "
                       f"err {r['tile_error_rel']:.3g} cal. err {r['calibrated_error_rel']:.3g} "
                       f"E {r['integrated_energy_J']:.3g} J "
                       f"lat {r['integrated_latency_s']:.3g} s "
                       f"TOPS/W {r['integrated_tops_per_w']:.3g} ({r['seconds']:.0f} s)")
    gpu = GPUBaseline()
    macs = lo.macs
    gpu_line = (f"GPU baseline (V100 at peak): {gpu.energy(macs):.3g} J and "
                f"{latency.gpu_time_s(macs):.3g} s per inference ({macs} dense MACs, "
                f"{gpu.energy_per_mac_J * 1e12:.1f} pJ/MAC, 15.7 TFLOPS); "
                f"kept MACs {rows[0]['kept_macs']:.0f}")
    table = report_md.scheme_table(rows, reference=ref)
    inactive = "floating" if args.floating else "grounded"
    header = (f"{what}; {args.tile} x {args.tile} tiles, {args.r_wire:g}-ohm wire segments, "
              f"inactive rows {inactive}, {args.columns_per_adc} columns per ADC, 4-bit DAC, "
              f"14-bit ADC per read (per bit plane for bit-serial), read noise "
              f"{args.read_noise * 100:g} % per cell read; {n} test "
              f"images. Behavioural (all rows, amplitude): {ref * 100:.1f} %; circuit today "
              f"(all rows, amplitude, ideal scale): {ev.accuracy['circuit'] * 100:.1f} %.")
    print("\n" + header + "\n\n" + table + "\n\n" + gpu_line)
    for cal in args.calibrations:
        sub = [r for r in rows if r["calibration"] == cal]
        figures.pareto_plot(sub, args.out / f"pareto_{cal}.png", reference=ref,
                            title=f"Fashion-MNIST CNN, {args.tile} x {args.tile}, "
                                  f"{args.r_wire:g} ohm, calibration {cal}")
    summary = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "command": "python scripts/bench_read_schemes.py " + " ".join(
                   sys.argv[1:] if argv is None else argv),
               "header": header, "behavioural": ref, "software": ev.accuracy["software"],
               "circuit_today": ev.accuracy["circuit"], "gpu": gpu_line, "rows": rows}
    atomic_write_text(args.out / "read_schemes.json", json.dumps(summary, indent=1,
                                                                 default=float))
    atomic_write_text(args.out / "read_schemes.md", header + "\n\n" + table + "\n\n" + gpu_line
                      + "\n")
    print(f"wrote {args.out}/read_schemes.md, .json, pareto_*.png")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
