#!/usr/bin/env python
"""Benchmarks and the IR-drop placement figure of :mod:`rramsim.mapper`.

``bench``   Map a U-Net-shaped network of the DRIVE study's size (~4.3 M weights, base 32 channels)
            onto 512 x 512 tiles and print, stage by stage, wall time and the process's peak resident
            memory (``ru_maxrss``, monotone: the peak *up to* that stage). Stages: random arrays
            (setup, not mapping), array form (``network_from_layers``), ``map_network``, ``Crossbar``
            tiles, the per-cell ``table`` (pandas), and a check that ``layer_weights()`` equals
            ``weights * masks``. Building the networkx graph form is timed separately on a slice of
            the network (``--graph-edges``) because networkx keeps a dict per edge: the full graph is
            not part of mapping and is extrapolated, not built (``--full-graph`` builds it).
``irdrop``  Solver-measured output error from IR drop, naive vs IR-aware placement, for the study's
            Fashion-MNIST network (conv 3x3 1->64, conv 3x3 64->16, fc 400->128, fc 128->10) on
            256 x 256 tiles with 2 ohm word- and bit-line segments.

Examples
--------
    python scripts/bench_mapper.py bench
    python scripts/bench_mapper.py irdrop
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from rramsim import mapper


def peak_rss_gib() -> float:
    """Peak resident set size of this process so far, GiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def unet_shapes(channels, in_ch: int = 1, out_ch: int = 1) -> list[tuple[int, int, int, int]]:
    """Conv weight shapes (out, in, kh, kw) of a U-Net: two 3x3 convs per level, 2x2 up-convs
    (counted as 2x2 conv weights), skip concatenation, final 1x1 conv."""
    layers, c = [], in_ch
    for ch in channels[:-1]:
        layers += [(ch, c, 3, 3), (ch, ch, 3, 3)]
        c = ch
    b = channels[-1]
    layers += [(b, c, 3, 3), (b, b, 3, 3)]
    c = b
    for ch in reversed(channels[:-1]):
        layers += [(ch, c, 2, 2), (ch, 2 * ch, 3, 3), (ch, ch, 3, 3)]
        c = ch
    layers.append((out_ch, c, 1, 1))
    return layers


def drive_sized_channels(target: float) -> tuple[int, ...]:
    """Base-32 U-Net (32, 64, 128, 256, b) with the bottleneck width b (multiple of 16) whose weight
    count is nearest ``target``."""
    best = min(range(64, 1025, 16), key=lambda b: abs(
        sum(int(np.prod(s)) for s in unet_shapes((32, 64, 128, 256, b))) - target))
    return (32, 64, 128, 256, best)


def random_arrays(shapes, density: float, seed: int):
    """Study-like arrays: G+, G- ~ N(14.2 uS, 2.46 uS) (the formed statistics of
    rramsim.devmodel.TAOX_40NM), random signs, w = s (G+ - G-) / 1 uS,
    masks kept with probability ``density``."""
    rng = np.random.default_rng(seed)
    ws, ms, cs = [], [], []
    for s in shapes:
        gp = np.clip(rng.normal(14.2e-6, 2.46e-6, s), 0, None)
        gm = np.clip(rng.normal(14.2e-6, 2.46e-6, s), 0, None)
        sg = rng.choice(np.array([-1, 1]), s)
        ws.append(sg * (gp - gm) / 1e-6)
        ms.append(rng.random(s) < density)
        cs.append((gp, gm))
    return ws, ms, cs


def bench(args) -> int:
    channels = tuple(args.channels) if args.channels else drive_sized_channels(args.target)
    shapes = unet_shapes(channels)
    n_w = sum(int(np.prod(s)) for s in shapes)
    print(f"U-Net channels {channels}: {len(shapes)} conv layers, {n_w:,} weights "
          f"(target {args.target:,.0f}); tiles {args.tile}x{args.tile}, scheme {args.scheme}, "
          f"placement {args.placement}, share {args.share}, pack_sparse {args.pack_sparse}, "
          f"density {args.density}")
    rows = []

    def stage(name, fn):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        rows.append((name, dt, peak_rss_gib()))
        print(f"  {name:<38s} {dt:8.2f} s   peak RSS so far {rows[-1][2]:.2f} GiB", flush=True)
        return out

    ws, ms, cs = stage("setup: random arrays (not mapping)",
                       lambda: random_arrays(shapes, args.density, args.seed))
    net = stage("array form: network_from_layers", lambda: mapper.network_from_layers(ws, ms, cs))
    m = stage("map_network", lambda: mapper.map_network(
        net, tile_shape=(args.tile, args.tile), scheme=args.scheme, placement=args.placement,
        pack_sparse=args.pack_sparse, share_tiles=args.share))
    tiles = stage("Mapping.tiles (Crossbar objects)", lambda: m.tiles)
    table = stage("Mapping.table (pandas, one row per cell)", lambda: m.table)
    ok = stage("check: layer_weights() == w * mask", lambda: all(
        np.array_equal(a, np.where(mk, w, 0.0))
        for a, w, mk in zip(m.layer_weights(), ws, ms, strict=True)))
    s = m.summary()
    mapping_time = sum(dt for name, dt, _ in rows[1:4])
    print(f"tiles {len(tiles)}, cells used {s['used']:,} of {s['cells']:,} "
          f"(utilisation {s['utilisation']:.3f}), table rows {len(table):,}, round trip exact: {ok}")
    print(f"MAPPING (array form + map_network + tiles): {mapping_time:.2f} s; "
          f"with the table: {mapping_time + rows[4][1]:.2f} s; "
          f"peak RSS of the whole run {peak_rss_gib():.2f} GiB")
    del table, tiles
    # networkx graph form, timed on a slice (or in full on request)
    if args.full_graph:
        t0 = time.perf_counter()
        g = net.to_graph()
        print(f"graph form, full: {g.number_of_edges():,} edges in {time.perf_counter() - t0:.1f} s,"
              f" peak RSS {peak_rss_gib():.2f} GiB")
        t0 = time.perf_counter()
        m2 = mapper.map_network(g, tile_shape=(args.tile, args.tile), scheme=args.scheme,
                                placement=args.placement, pack_sparse=args.pack_sparse,
                                share_tiles=args.share)
        print(f"map_network(graph) (read back + map): {time.perf_counter() - t0:.1f} s, "
              f"{m2.n_tiles} tiles, peak RSS {peak_rss_gib():.2f} GiB")
    else:
        take, n = [], 0
        for k, ly in enumerate(net.layers):
            if n + ly.weight.size > args.graph_edges:
                break
            take.append(k)
            n += ly.weight.size
        take = take or [0]
        sub = mapper.LayeredNetwork(tuple(net.layers[k] for k in take))
        import networkx  # noqa: F401  (import time is not graph-building time)
        t0 = time.perf_counter()
        g = sub.to_graph()
        dt_g = time.perf_counter() - t0
        t0 = time.perf_counter()
        mapper.network_from_graph(g)
        dt_r = time.perf_counter() - t0
        ne = g.number_of_edges()
        print(f"graph form on the first {len(take)} layers ({ne:,} edges): build {dt_g:.2f} s, "
              f"read back {dt_r:.2f} s -> {1e6 * dt_g / ne:.2f} + {1e6 * dt_r / ne:.2f} us per edge; "
              f"extrapolated to {n_w:,} edges: ~{(dt_g + dt_r) * n_w / ne:.0f} s "
              "(not built; --full-graph builds it)")
    return 0


def fashion_mnist_net(seed: int):
    shapes = [(64, 1, 3, 3), (16, 64, 3, 3), (400, 128), (128, 10)]
    ws, ms, cs = random_arrays(shapes, 0.5, seed)
    return mapper.network_from_layers(ws, ms, cs, names=["conv1", "conv2", "fc1", "fc2"])


def irdrop(args) -> int:
    from rramsim import solver  # noqa: F401  (fails early if the solver is missing)

    net = fashion_mnist_net(args.seed)
    wires = {"r_wordline": args.r_wire, "r_bitline": args.r_wire}
    rng = np.random.default_rng(args.seed + 1)
    print(f"Fashion-MNIST network of the study, {net.n_weights:,} weights, 50 % kept; tiles "
          f"{args.tile}x{args.tile}, {args.r_wire} ohm per word- and bit-line segment, ideal TIAs; "
          f"{args.batch} random inputs per layer in [0, {args.v_read}] V.")
    print("error = ||x T_eff - x G|| / ||x G|| per layer (T_eff from rramsim.solver.transfer_matrix "
          "of every tile, G the ideal differential conductances)")
    for activity in ("uniform", "skewed"):
        # skewed: per-input mean activity ~ Exp(1)^2 (many near-silent inputs, a few busy ones, as
        # after ReLU or at image borders); the IR-aware placement is told these means
        acts = [np.ones(ly.shape[0]) if activity == "uniform"
                else rng.exponential(1.0, ly.shape[0]) ** 2 for ly in net.layers]
        xs = [rng.uniform(0, 1, (args.batch, ly.shape[0])) * a / a.max() * args.v_read
              for ly, a in zip(net.layers, acts, strict=True)]
        for scheme, share in ((s, sh) for sh in args.share for s in mapper.SCHEMES):
            res = {}
            for placement in mapper.PLACEMENTS:
                t0 = time.perf_counter()
                m = mapper.map_network(net, tile_shape=(args.tile, args.tile), scheme=scheme,
                                       placement=placement, input_activity=acts,
                                       share_tiles=share, tile_options=wires)
                t = m.transfer_matrices()
                errs = []
                for k, x in enumerate(xs):
                    ideal = x @ m.layer_matrix(k)
                    errs.append(np.linalg.norm(x @ m.layer_matrix(k, t) - ideal)
                                / np.linalg.norm(ideal))
                res[placement] = (np.array(errs), m.n_tiles, time.perf_counter() - t0)
            (en, tn, _), (ea, ta, _) = res["naive"], res["ir_aware"]
            per = "  ".join(f"{ly.name} {a:.3f}->{b:.3f}"
                            for ly, a, b in zip(net.layers, en, ea, strict=True))
            print(f"  {activity:8s} {scheme:7s} share {share:8s} naive->ir_aware: {per}   "
                  f"mean {en.mean():.3f}->"
                  f"{ea.mean():.3f} ({100 * (1 - ea.mean() / en.mean()):.0f} % lower); "
                  f"tiles {tn}->{ta}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench", help="map a DRIVE-sized U-Net onto 512x512 tiles, time and memory")
    b.add_argument("--target", type=float, default=4.3e6, help="weights (default 4.3e6)")
    b.add_argument("--channels", type=int, nargs="+", help="U-Net channels (overrides --target)")
    b.add_argument("--tile", type=int, default=512)
    b.add_argument("--scheme", choices=mapper.SCHEMES, default="columns")
    b.add_argument("--placement", choices=mapper.PLACEMENTS, default="naive")
    b.add_argument("--pack-sparse", action="store_true")
    b.add_argument("--share", choices=mapper.SHARINGS, default="lines")
    b.add_argument("--density", type=float, default=0.5)
    b.add_argument("--graph-edges", type=int, default=200_000,
                   help="edges of the networkx slice that is timed (default 200000)")
    b.add_argument("--full-graph", action="store_true", help="build the full networkx graph")
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(fn=bench)
    r = sub.add_parser("irdrop", help="solver-measured IR-drop error, naive vs IR-aware placement")
    r.add_argument("--tile", type=int, default=256)
    r.add_argument("--r-wire", type=float, default=2.0, help="ohms per segment (default 2)")
    r.add_argument("--v-read", type=float, default=0.2, help="largest input, volts (default 0.2)")
    r.add_argument("--batch", type=int, default=64)
    r.add_argument("--share", nargs="+", choices=mapper.SHARINGS, default=list(mapper.SHARINGS),
                   help="tile-sharing modes to compare (default both)")
    r.add_argument("--seed", type=int, default=1)
    r.set_defaults(fn=irdrop)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
