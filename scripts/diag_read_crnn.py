"""Where a network loses accuracy when its tiles are read: per mode, per layer, per converter.

Maps a network as the programming study's comparison does (``comparison_config``: 512 x 512
tiles, 2-ohm wires) and evaluates the test set

- in ideal, behavioural and circuit mode under a read scheme and output calibration;
- with one weight layer at a time read in circuit mode and the others behavioural (which layer
  loses the accuracy);
- with switches: no read noise, ideal ADCs, other rows per read or calibrations;
- beside the engine's behavioural read (``--reference``: all rows, ``ideal_scale``, the reference
  of ``rramsim.studies.inference.accuracy.evaluate``).

Every noisy figure is the mean +- std over ``--draws`` read-noise draws: on 1,000 test inputs one
draw of the 1 % read noise scatters the accuracy by 0.4-0.9 points, so a single draw cannot tell
whether a read is within 1 point of behavioural.

The network comes from a network file (``--network run/network.npz``; pruned pairs at the
file's RESET-state conductances when it carries them). ``--relax T`` first relaxes every cell by
the neurram error model to ``T`` seconds after programming, as the comparison does (seed 0
draws). Usage::

    python scripts/diag_read_crnn.py --network RUN/network.npz --data-dir FEATURES \
        [--rows 128 64 ...] [--calibration group] [--relax 1] [--draws 5] [--per-layer] \
        [--switches] [--reference] [--test N]

Any task whose network file names its data set: the spoken-digit CRNN (``--data-dir`` the
features), the digits MLP (no ``--data-dir``), the Fashion-MNIST CNN (``--data-dir`` the IDX
folder, e.g. the stand-ins of ``rramsim standins``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from rramsim import devmodel
from rramsim.studies.config import STREAM_NOISE, load_config, stream
from rramsim.studies.inference import modes as infer
from rramsim.studies.loading import load
from rramsim.studies.programming import program
from rramsim.studies.programming_study.comparison import cells_at, comparison_config, target_map
from rramsim.studies.readout import reads as readout


def accuracy(lo, matmul, batch: int = 100) -> float:
    x, y = lo.data.x_test, np.asarray(lo.data.y_test)
    out = np.concatenate([lo.forward(x[i:i + batch], matmul=matmul)
                          for i in range(0, len(y), batch)])
    return float(np.mean(np.argmax(out, axis=1) == y))


@dataclasses.dataclass
class Reader:
    """One mode's prepared scheme and converters on a programmed network."""

    sp: object
    conv: object

    def matmul(self, noise: float, seed: int):
        return readout.make_matmul(self.sp, conv=self.conv, read_noise_rel=noise,
                                   rng=np.random.default_rng(seed))


def reader(hw, lo, cfg, mode: str, scheme, calibration: str, adc_bits) -> Reader:
    sp = readout.prepare(hw, mode, scheme)
    spec = readout.ConverterSpec.from_config(cfg.converters)
    spec = dataclasses.replace(spec, adc_bits=adc_bits)
    soft = infer.record_inputs(lo.forward, lo.data.x_calib)
    conv = readout.calibrate(sp, lo.forward, lo.data.x_calib, spec, calibration=calibration,
                             software_inputs=soft)
    return Reader(sp, conv)


def hybrid(readers: dict, circuit_layers: set, noise: float, seed: int):
    """Layers in ``circuit_layers`` read in circuit mode, the others behavioural."""
    mm = {m: r.matmul(noise, seed + i) for i, (m, r) in enumerate(readers.items())}

    def matmul(k, x2d, w):
        return mm["circuit" if k in circuit_layers else "behavioural"](k, x2d, w)

    return matmul


def report_mode(lo, m: str, r: Reader, noise: float, seed: int, draws: int) -> None:
    """Accuracy of one mode: mean +- std over ``draws`` noise draws, and without noise."""
    acc = [accuracy(lo, r.matmul(noise, seed + d)) for d in range(draws)]
    print(f"{m}: {100 * np.mean(acc):.2f} +- {100 * np.std(acc):.2f} % (noise {noise:g}, "
          f"{draws} draws: {' '.join(f'{100 * a:.2f}' for a in acc)}), "
          f"{100 * accuracy(lo, r.matmul(0.0, seed)):.2f} % (no noise)", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--network", required=True)
    p.add_argument("--data-dir", default="")
    p.add_argument("--rows", type=int, nargs="+", default=[128],
                   help="rows per read; several: each scheme in turn on the same tiles")
    p.add_argument("--calibration", default="group")
    p.add_argument("--per-layer", action="store_true")
    p.add_argument("--reference", action="store_true",
                   help="also the engine's behavioural read (all rows, ideal_scale), the "
                        "reference of rramsim.studies.inference.accuracy.evaluate")
    p.add_argument("--switches", action="store_true")
    p.add_argument("--draws", type=int, default=1, help="read-noise draws averaged")
    p.add_argument("--relax", type=float, default=0.0, help="seconds after programming")
    p.add_argument("--test", type=int, default=0, help="first N test inputs (0: all)")
    args = p.parse_args(argv)
    cfg = load_config(None).replace("network", path=args.network, data_dir=args.data_dir)
    cfg = comparison_config(cfg).replace("readout", rows_per_read=args.rows[0],
                                         calibration=args.calibration)
    if args.test:
        cfg = cfg.replace("run", test_samples=args.test)
    lo = load(cfg)
    if args.relax > 0:
        lo = relaxed(lo, args.relax)
    t0 = time.perf_counter()
    hw = program(lo, cfg)
    noise = cfg.noise.read_noise_rel
    seed = int(stream(cfg, STREAM_NOISE).integers(1 << 30))
    print(f"{lo.name}: {len(lo.data.y_test)} test inputs; scheme {cfg.readout.scheme().label}, "
          f"calibration {args.calibration}")
    print(f"software {100 * accuracy(lo, None):.2f} %")
    ideal = readout.prepare(hw, "ideal", cfg.readout.scheme())
    print(f"ideal {100 * accuracy(lo, readout.make_matmul(ideal)):.2f} %")
    adc = cfg.converters.adc_bits
    if args.reference:
        sc = dataclasses.replace(cfg.readout.scheme(), rows_per_read=0)
        print(f"-- reference: {sc.label}, calibration ideal_scale")
        report_mode(lo, "behavioural", reader(hw, lo, cfg, "behavioural", sc, "ideal_scale", adc),
                    noise, seed, args.draws)
    for rows in args.rows[1:]:
        sc = dataclasses.replace(cfg.readout.scheme(), rows_per_read=rows)
        print(f"-- {sc.label}, calibration {args.calibration}")
        for m in ("behavioural", "circuit"):
            report_mode(lo, m, reader(hw, lo, cfg, m, sc, args.calibration, adc), noise, seed,
                        args.draws)
    if len(args.rows) > 1:
        print(f"-- {cfg.readout.scheme().label}, calibration {args.calibration}")
    rd = {m: reader(hw, lo, cfg, m, cfg.readout.scheme(), args.calibration, adc)
          for m in ("behavioural", "circuit")}
    for m, r in rd.items():
        report_mode(lo, m, r, noise, seed, args.draws)
    print(f"(transfer matrices and calibration: {time.perf_counter() - t0:.0f} s)")
    if args.per_layer:
        per_layer(lo, hw, rd, seed)
    if args.switches:
        switches(lo, hw, cfg, noise, seed)
    return 0


def relaxed(lo, t: float):
    """``lo`` with every cell relaxed by the neurram model to ``t`` seconds (seed 0 draws)."""
    model = devmodel.error_model("neurram")
    g0 = [np.stack([np.asarray(a, float) for a in pr]) for pr in lo.pairs]
    pruned = lo.pruned_pairs or [None] * len(g0)
    g0 = [g if pp is None else np.where(m, g, np.stack(pp))
          for g, pp, m in zip(g0, pruned, lo.masks, strict=True)]
    g = cells_at(g0, model, t, None, seed=0, g_on=target_map(model).g_max)
    return dataclasses.replace(lo, pairs=[(a[0], a[1]) for a in g], pruned_pairs=None,
                               keep_pairs=True)


def per_layer(lo, hw, rd: dict, seed: int) -> None:
    """One layer read in circuit mode and the rest behavioural, and the converse (no noise)."""
    n = len(hw.plan)
    for k in range(n):
        a = accuracy(lo, hybrid(rd, {k}, 0.0, seed))
        print(f"  circuit on layer {k} ({hw.plan[k].name}) only, no noise: {100 * a:.2f} %")
    for k in range(n):
        a = accuracy(lo, hybrid(rd, set(range(n)) - {k}, 0.0, seed))
        print(f"  circuit on all but layer {k} ({hw.plan[k].name}), no noise: {100 * a:.2f} %")


def switches(lo, hw, cfg, noise: float, seed: int) -> None:
    """Circuit accuracy over rows per read, calibrations and ideal ADCs (one noise draw)."""
    adc = cfg.converters.adc_bits
    for rows in (0, 512, 128, 64, 32):
        for cal in ("ideal_scale", "column", "group"):
            for adc_bits in (adc, None):
                sc = dataclasses.replace(cfg.readout.scheme(), rows_per_read=rows)
                r = reader(hw, lo, cfg, "circuit", sc, cal, adc_bits)
                print(f"  circuit, {rows or 'all'} rows, {cal}, ADC {adc_bits}: "
                      f"{100 * accuracy(lo, r.matmul(noise, seed)):.2f} % "
                      f"(no noise {100 * accuracy(lo, r.matmul(0.0, seed)):.2f} %)", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
