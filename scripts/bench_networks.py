"""Benchmark: the source study's networks at circuit level on crossbar tiles.

Prints, side by side in one run, for each network: the time to evaluate the test set
circuit-accurately (transfer matrices counted separately and in the total) against the
behavioural time, the tile count and utilisation, and the accuracy in every mode.

* ``cnn``: the Fashion-MNIST CNN (62,272 weights) trained briefly on the generated IDX stand-in
  files of ``rramsim.nn.standins`` (60,000 + 10,000 images, NOT Fashion-MNIST), on 512 x 512 and
  64 x 64 tiles, 10,000 test images.
* ``crnn``: the spoken-digit CRNN (68,480 weights) on the generated FSDD-format recordings of
  ``rramsim.nn.standins`` (read by ``rramsim.nn.load_fsdd``), on 256 x 256 tiles.
* ``unet``: the DRIVE U-Net (base 32, ~4.3 M weights) on 512 x 512 tiles: one 64 x 64 patch
  circuit-accurately, and one DRIVE-format stand-in test image (584 x 565) in sliding patches
  (``rramsim.nn.drive.sliding_window_predict``).

Usage::

    python scripts/bench_networks.py [cnn|crnn|unet|all] [--quick] [--r-wire OHM ...]
                                     [--no-compare] [--out DIR]

Timings are wall times on this machine with single-threaded BLAS; ratios are measured side by
side in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from rramsim import nn
from rramsim._threads import blas_threads
from rramsim.studies import loading
from rramsim.studies.config import StudyConfig
from rramsim.studies.inference import accuracy
from rramsim.studies.inference import modes as infer
from rramsim.studies.programming import program


def standin(kind: str, folder: Path) -> Path:
    """The generated stand-in files of ``rramsim.nn.standins`` (written once into ``folder``)."""
    from rramsim.nn import standins

    marker = folder / ".complete"
    if not marker.is_file():
        if folder.is_dir():   # an interrupted or foreign earlier write: start afresh
            import shutil

            shutil.rmtree(folder)
        getattr(standins, kind)(folder)
        marker.write_text("ok\n")
    return folder


def train_briefly(net, ds, *, seed, epochs, max_train, lr=0.1, task=None):
    """Edge-popup on formed random pairs (the study's rule), briefly; returns the device pairs.

    ``task``: take the task's training settings of ``rramsim.nn`` (batch, lr, momentum) with
    ``epochs``; otherwise SGD with momentum at ``lr``, batch 64."""
    rng = np.random.default_rng(seed)
    dev, _ = nn.DeviceNetwork.form(net.shapes, rng=rng)
    net.set_weights(dev.weights())
    net.init_scores(rng=rng)
    x, y = ds.x_train[:max_train], ds.y_train[:max_train]
    net.calibrate(x[:2000])
    if task is None:
        cfgt = nn.TrainConfig(epochs=epochs, batch_size=64, lr=lr, progress=True)
    else:
        from rramsim.nn.experiment import task_train_configs

        cfgt = task_train_configs(task, epochs=epochs, progress=True)[0]
    t0 = time.perf_counter()
    nn.train(net, x, y, config=cfgt, rng=rng)
    net.calibrate(x[:2000])
    return dev, time.perf_counter() - t0


def timed_modes(hw, lo, cfg, prepared, *, repeats: int = 2) -> tuple[dict, dict, dict]:
    """Behavioural and circuit passes over the test set, alternated (B C C B ...) ``repeats``
    times; returns (best seconds, accuracy, circuit drive records) per mode."""
    from rramsim.studies.config import STREAM_NOISE, stream

    calib = infer.record_inputs(lo.forward, lo.data.x_calib)
    batch = accuracy.batch_size([len(c) // len(lo.data.x_calib) for c in calib])
    convs = {m: accuracy.calibrate(prepared[m], calib, cfg) for m in ("behavioural", "circuit")}
    secs: dict = {"behavioural": [], "circuit": []}
    acc, records = {}, {}
    for rep in range(repeats):
        for m in (("behavioural", "circuit") if rep % 2 == 0 else ("circuit", "behavioural")):
            rec = records if (m == "circuit" and rep == 0) else None
            mm = infer.make_matmul(prepared[m], conv=convs[m],
                                    read_noise_rel=cfg.noise.read_noise_rel,
                                    rng=stream(cfg, STREAM_NOISE), record=rec)
            t0 = time.perf_counter()
            acc[m] = accuracy.test_accuracy(lo.forward, lo.data.x_test, lo.data.y_test, mm,
                                            batch)
            secs[m].append(time.perf_counter() - t0)
    return {m: min(v) for m, v in secs.items()}, acc, {
        k: np.concatenate(v) for k, v in records.items()}


def evaluate_on_tiles(lo, tile: int, r_wire: float = 2.0) -> dict:
    """Program on tile x tile tiles; accuracy in every mode; behavioural and circuit timed."""
    cfg = StudyConfig().replace("mapping", tile_rows=tile, tile_cols=tile).replace(
        "noise", repeats=1).replace("circuit", r_wordline_ohm=r_wire, r_bitline_ohm=r_wire)
    t0 = time.perf_counter()
    hw = program(lo, cfg)
    t_map = time.perf_counter() - t0
    t1 = time.perf_counter()
    prepared = {"circuit": infer.prepare(hw, "circuit", progress=True)}
    t_transfer = time.perf_counter() - t1
    prepared["behavioural"] = infer.prepare(hw, "behavioural")
    ev = accuracy.evaluate(hw, lo, cfg, prepared=prepared, modes=("software", "ideal"))
    best, acc, records = timed_modes(hw, lo, cfg, prepared)
    s = hw.summary()
    return {"tile": tile, "r_wire_ohm": r_wire, "tiles": s["tiles"], "utilisation": s["utilisation"],
            "map_s": t_map, "transfer_s": t_transfer, "behavioural_s": best["behavioural"],
            "circuit_s": best["circuit"], "software_s": ev.seconds["software"],
            "ratio": best["circuit"] / best["behavioural"],
            "ratio_total": (best["circuit"] + t_transfer) / best["behavioural"],
            "n_test": ev.n_test, "acc_software": ev.accuracy["software"],
            "acc_ideal": ev.accuracy["ideal"], "acc_behavioural": acc["behavioural"],
            "acc_circuit": acc["circuit"],
            "tile_error_rel": accuracy.tile_output_error(prepared["circuit"], records)}


def print_rows(title, rows):
    print(f"\n== {title}")
    print(f"{'tiles':>11} {'wire':>5} {'count':>5} {'util':>6} | {'T (s)':>7} {'behav (s)':>9} "
          f"{'circuit (s)':>11} {'circ/beh':>8} {'(+T)/beh':>8} | {'soft':>6} {'ideal':>6} "
          f"{'behav':>6} {'circ':>6} | {'IR err':>7}")
    for r in rows:
        print(f"{r['tile']:>5} x {r['tile']:<3} {r['r_wire_ohm']:4g}R {r['tiles']:>5} "
              f"{r['utilisation'] * 100:5.1f}% | "
              f"{r['transfer_s']:7.2f} {r['behavioural_s']:9.2f} {r['circuit_s']:11.2f} "
              f"{r['ratio']:8.2f} {r['ratio_total']:8.2f} | "
              + " ".join(f"{r[f'acc_{m}'] * 100:5.1f}%" for m in infer.MODES)
              + f" | {r['tile_error_rel']:7.2e}")
    print(f"   ({rows[0]['n_test']} test inputs per mode; behavioural and circuit passes "
          "alternated twice, best of each; T = transfer matrices of all tiles, once per "
          "programmed network)")


def bench_cnn(out: Path, quick: bool, r_wire=(2.0,), compare: bool = True) -> dict:
    folder = standin("fashion_mnist", out / "fashion-standin")
    ds = nn.load_fashion_mnist(folder)
    print(f"Fashion-MNIST CNN on generated stand-in IDX files ({len(ds.x_train)} + "
          f"{len(ds.x_test)} images, rramsim.nn.standins, not Fashion-MNIST) in {folder}")
    net = nn.fashion_mnist_cnn()
    dev, t_train = train_briefly(net, ds, seed=0, epochs=1, max_train=2000 if quick else 10_000)
    n_test = 1000 if quick else len(ds.x_test)
    data = loading.Data(x_calib=ds.x_train[:256], x_test=ds.x_test[:n_test],
                        y_test=ds.y_test[:n_test], name="fashion-mnist stand-in")
    lo = loading.from_network(net, data, pairs=dev.conductance_pairs(),
                              scales=[la.scale for la in dev.layers])
    print(f"trained {net.n_weights} weights in {t_train:.0f} s; software test accuracy "
          f"{net.accuracy(data.x_test, data.y_test) * 100:.1f} %")
    rows = [evaluate_on_tiles(lo, t, r) for r in r_wire for t in (512, 64)]
    print_rows("Fashion-MNIST CNN (stand-in data)", rows)
    if compare:
        compare_cnn_file(out, net, dev, folder, n_test=min(n_test, 2000))
    return {"cnn": rows, "cnn_train_s": t_train}


def compare_cnn_file(out: Path, net, dev, folder: Path, *, n_test: int) -> None:
    """The same CNN as a network file through ``rramsim compare --network cnn.npz --config``."""
    from rramsim.cli import main as rramsim_main

    path = nn.save_network_file(out / "cnn.npz", net, device=dev, dataset="fashion-mnist",
                                data_dir=str(folder),
                                metadata={"note": "trained briefly on generated stand-in data"})
    toml = out / "cnn.toml"
    toml.write_text(f"[run]\ntest_samples = {n_test}\n[mapping]\ntile_rows = 64\n"
                    "tile_cols = 64\n[noise]\nrepeats = 1\n[cosim]\ntiles = 2\n")
    argv = ["compare", "--network", str(path), "--config", str(toml), "--out",
            str(out / "cnn-compare"), "--overwrite", "--no-progress"]
    print(f"\n== rramsim {' '.join(argv)}")
    t0 = time.perf_counter()
    rc = rramsim_main(argv)
    print(f"   exit {rc} after {time.perf_counter() - t0:.0f} s; report "
          f"{out / 'cnn-compare' / 'report.md'}")


def bench_crnn(out: Path, quick: bool, r_wire=(2.0,)) -> dict:
    ds = nn.load_fsdd(standin("fsdd", out / "fsdd-standin"))
    if quick:
        ds = nn.Dataset(ds.name, ds.x_train, ds.y_train, ds.x_test[:300], ds.y_test[:300])
    net = nn.spoken_digit_net()
    dev, t_train = train_briefly(net, ds, seed=1, epochs=1 if quick else 12,
                                 max_train=len(ds.x_train), task="fsdd")
    data = loading.Data(x_calib=ds.x_train[:256], x_test=ds.x_test, y_test=ds.y_test,
                        name=ds.name)
    lo = loading.from_network(net, data, pairs=dev.conductance_pairs(),
                              scales=[la.scale for la in dev.layers])
    print(f"spoken-digit CRNN: {net.n_weights} weights trained in {t_train:.0f} s on "
          f"{len(ds.x_train)} FSDD-format stand-in recordings (rramsim.nn.standins, not FSDD); "
          f"{len(ds.x_test)} test")
    rows = [evaluate_on_tiles(lo, 256, r) for r in r_wire]
    print_rows("spoken-digit CRNN (stand-in recordings)", rows)
    return {"crnn": rows}


def bench_unet(out: Path, quick: bool) -> dict:
    if not hasattr(nn, "architectures") or not hasattr(nn.architectures, "unet"):
        print("\n== U-Net: rramsim.nn.architectures.unet is not available in this rramsim.nn")
        return {}
    net = nn.architectures.unet(base=32, in_channels=1, n_classes=2)
    rng = np.random.default_rng(2)
    dev, _ = nn.DeviceNetwork.form(net.shapes, rng=rng)
    net.set_weights(dev.weights())
    net.init_scores(rng=rng)
    from rramsim.nn import drive

    folder = standin("drive", out / "drive-standin")
    x_cal, _ = drive.random_patches(drive.load_drive_split(folder, "training"), 4, rng=rng)
    te = drive.load_drive_split(folder, "test")
    x_te, y_te = drive.random_patches(te, 1, rng=rng)
    net.calibrate(np.asarray(x_cal, float))
    data = loading.Data(x_calib=np.asarray(x_cal, float), x_test=np.asarray(x_te, float),
                        y_test=y_te, name="DRIVE-format stand-in patches")
    lo = loading.from_network(net, data, pairs=dev.conductance_pairs(),
                              scales=[la.scale for la in dev.layers])
    cfg = StudyConfig().replace("mapping", tile_rows=512, tile_cols=512).replace(
        "noise", repeats=1)
    t0 = time.perf_counter()
    hw = program(lo, cfg)
    t_map = time.perf_counter() - t0
    t1 = time.perf_counter()
    prep = {"circuit": infer.prepare(hw, "circuit", progress=True),
            "behavioural": infer.prepare(hw, "behavioural")}
    t_transfer = time.perf_counter() - t1
    calib = infer.record_inputs(net.forward, data.x_calib)
    res = {}
    convs = {m: accuracy.calibrate(prep[m], calib, cfg) for m in ("behavioural", "circuit")}
    for order in (("behavioural", "circuit"), ("circuit", "behavioural")):   # side by side
        for mode in order:
            mm = infer.make_matmul(prep[mode], conv=convs[mode], read_noise_rel=0.01,
                                    rng=np.random.default_rng(3))
            t2 = time.perf_counter()
            y = net.forward(data.x_test, matmul=mm)
            dt = time.perf_counter() - t2
            res[mode] = (min(dt, res.get(mode, (np.inf,))[0]), y)
    y_sw = net.forward(data.x_test)
    agree = float(np.mean(np.argmax(res["circuit"][1], 1) == np.argmax(y_sw, 1)))
    agree_b = float(np.mean(np.argmax(res["behavioural"][1], 1) == np.argmax(y_sw, 1)))
    # one DRIVE-format stand-in test image (584 x 565) in 64 x 64 windows, stride 64
    img = np.asarray(te.images[0], float)
    starts = (drive.window_starts(img.shape[0], 64, 64), drive.window_starts(img.shape[1], 64, 64))
    n_win = len(starts[0]) * len(starts[1])
    mm = infer.make_matmul(prep["circuit"], conv=convs["circuit"], read_noise_rel=0.01,
                            rng=np.random.default_rng(4))
    t3 = time.perf_counter()
    prob = drive.sliding_window_predict(net, img, stride=64, matmul=mm, batch_size=8)
    t_img = time.perf_counter() - t3
    assert prob.shape == img.shape
    s = hw.summary()
    print(f"\n== U-Net base 32 ({net.n_weights} weights) on 512 x 512 tiles: {s['tiles']} tiles, "
          f"utilisation {s['utilisation'] * 100:.1f} %")
    print(f"   mapping {t_map:.1f} s, transfer matrices of all tiles {t_transfer:.1f} s (once)")
    print(f"   one 64 x 64 patch: behavioural {res['behavioural'][0]:.2f} s, circuit-accurate "
          f"{res['circuit'][0]:.2f} s (ratio {res['circuit'][0] / res['behavioural'][0]:.2f}); "
          f"pixels agreeing with software: circuit {agree * 100:.1f} %, behavioural "
          f"{agree_b * 100:.1f} % (untrained random-weight network)")
    print(f"   one DRIVE-size image ({img.shape[0]} x {img.shape[1]}, stand-in) = {n_win} sliding "
          f"64 x 64 windows (stride 64): {t_img:.0f} s circuit-accurate, "
          f"{t_img + t_transfer:.0f} s with the transfer matrices")
    return {"unet": {"tiles": s["tiles"], "utilisation": s["utilisation"], "map_s": t_map,
                     "transfer_s": t_transfer, "patch_behavioural_s": res["behavioural"][0],
                     "patch_circuit_s": res["circuit"][0], "image_s": t_img,
                     "windows": n_win, "agree_circuit": agree}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("which", nargs="?", default="all", choices=["cnn", "crnn", "unet", "all"])
    ap.add_argument("--quick", action="store_true", help="smaller data, fewer patches")
    ap.add_argument("--r-wire", type=float, nargs="+", default=[2.0],
                    help="wire resistances per segment to run the CNN and CRNN at (ohms)")
    ap.add_argument("--no-compare", action="store_true", help="skip rramsim compare on the CNN")
    ap.add_argument("--out", default="/tmp/rramsim-bench-networks",
                    help="folder for the generated data and results.json")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "quick": args.quick, "r_wire_ohm": args.r_wire}
    with blas_threads(1):
        if args.which in ("cnn", "all"):
            results.update(bench_cnn(out, args.quick, args.r_wire, compare=not args.no_compare))
        if args.which in ("crnn", "all"):
            results.update(bench_crnn(out, args.quick, args.r_wire))
        if args.which in ("unet", "all"):
            results.update(bench_unet(out, args.quick))
    clean = {k: v for k, v in results.items() if not k.startswith("_")}
    path = out / f"results-{args.which}.json"
    path.write_text(json.dumps(clean, indent=2, default=float) + "\n")
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
