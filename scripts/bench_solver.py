#!/usr/bin/env python
"""Benchmark of rramsim.solver against ngspice and SciPy's default sparse solve.

Prints one side-by-side table:

(a) ``netlists.simulate`` (ngspice) vs ``solver.solve``, one input, 32/48/64 square tiles;
(b) ``scipy.sparse.linalg.spsolve`` with its defaults on the same nodal system vs ``solver.solve``,
    one input, 256 and 512 (same answer checked to 1e-9);
(c) ``solver.transfer_matrix`` at 512 (compared with that one spsolve) and 1024 (the multifrontal
    method that ``method="auto"`` picks; the ports-last sparse factorisation once for comparison);
(d) a batch of 1000 inputs on 512 x 512 (full Solution, and i_out through the transfer matrix) and a
    single 1024 x 1024 solve, with peak memory.

Every case runs in its own Python subprocess so that its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which includes C allocations) is its own.
Tiles: conductances uniform in 1-100 uS, 1-ohm wire segments on both lines, ideal TIAs, inputs
uniform in 0-0.2 V; fixed seeds.

Usage::

    python scripts/bench_solver.py            # everything (several minutes)
    python scripts/bench_solver.py --quick    # skips 512 spsolve, 1024 and the 1000-input batch
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def tile(k: int, seed: int = 0):
    from rramsim.crossbar import Crossbar

    rng = np.random.default_rng(seed)
    g = rng.uniform(1e-6, 100e-6, (k, k))
    v = rng.uniform(0.0, 0.2, (1000, k))
    return Crossbar(g, r_wordline=1.0, r_bitline=1.0), v


def best_of(fn, repeats: int):
    times = []
    out = None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


# ---------------------------------------------------------------------- cases (run in a child)
def case_ngspice(k: int) -> dict:
    from rramsim import netlists

    xb, v = tile(k)
    t, ref = best_of(lambda: netlists.simulate(xb, v[0]), 1)
    np.save(f"/tmp/rramsim_bench_ng_{k}.npy", ref.i_out)
    return {"time": t}


def case_solve(k: int, repeats: int = 5) -> dict:
    from rramsim import solver

    xb, v = tile(k)
    solver.solve(xb, v[0])  # warm caches (ordering, imports)
    t, s = best_of(lambda: solver.solve(xb, v[0]), repeats)
    out = {"time": t, "backend": s.backend}
    ref_file = f"/tmp/rramsim_bench_ng_{k}.npy"
    if os.path.exists(ref_file):
        ref = np.load(ref_file)
        out["err"] = float(np.abs(s.i_out - ref).max() / np.abs(ref).max())
    np.save(f"/tmp/rramsim_bench_solve_{k}.npy", s.i_out)
    return out


def case_spsolve(k: int) -> dict:
    """SciPy's spsolve with its defaults on the nodal system in natural node numbering."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    from rramsim.solver._nodal import build_network

    xb, v = tile(k)
    net = build_network(xb)
    lower, diag, bsrc = net.build(xb.conductance)
    full = (lower + lower.T - sp.dia_array((diag[None, :], [0]), shape=lower.shape)).tocsc()
    nat = np.argsort(net.rep)  # row-major WL nodes, then BL nodes: the conventional numbering
    a_nat = full[nat][:, nat].tocsc()
    b_nat = np.asarray(bsrc @ v[0])[nat]
    t, x_nat = best_of(lambda: spsolve(a_nat, b_nat), 1)
    x = np.empty_like(x_nat)
    x[nat] = x_nat
    vw = net.expand(x[None], v[:1], net.wl)[0]
    vb = net.expand(x[None], v[:1], net.bl)[0]
    i_out = (xb.conductance * (vw - vb)).sum(axis=0)
    out = {"time": t}
    mine = f"/tmp/rramsim_bench_solve_{k}.npy"
    if os.path.exists(mine):
        ref = np.load(mine)
        out["err"] = float(np.abs(i_out - ref).max() / np.abs(ref).max())
    return out


def case_transfer(k: int, factor: int = 0) -> dict:
    from rramsim import solver

    xb, v = tile(k)
    method = "factor" if factor else "auto"
    t, tm = best_of(lambda: solver.transfer_matrix(xb, method=method), 1)
    s = solver.solve(xb, v[0], method="cg")
    return {"time": t, "err": float(np.abs(v[0] @ tm - s.i_out).max() / np.abs(s.i_out).max())}


def case_batch(k: int, b: int) -> dict:
    from rramsim import solver

    xb, v = tile(k)
    method = "direct" if b <= solver.CG_MAX_BATCH else "auto"  # small b: show the factor route
    t, s = best_of(lambda: solver.solve(xb, v[:b], method=method), 1)
    one = solver.solve(xb, v[b - 1], method="cg")
    return {"time": t, "backend": s.backend,
            "err": float(np.abs(s.i_out[-1] - one.i_out).max() / np.abs(one.i_out).max())}


def case_batch_transfer(k: int, b: int) -> dict:
    from rramsim import solver

    xb, v = tile(k)
    t0 = time.perf_counter()
    tm = solver.transfer_matrix(xb)
    i_out = v[:b] @ tm
    t = time.perf_counter() - t0
    one = solver.solve(xb, v[b - 1], method="cg")
    return {"time": t, "err": float(np.abs(i_out[-1] - one.i_out).max() / np.abs(one.i_out).max())}


CASES = {"ngspice": case_ngspice, "solve": case_solve, "spsolve": case_spsolve,
         "transfer": case_transfer, "batch": case_batch, "batch_transfer": case_batch_transfer}


def run_children(name: str, repeats: int, *args) -> dict:
    """Run a case ``repeats`` times in fresh processes; the median time, its spread, the last result."""
    runs = [run_child(name, *args) for _ in range(max(1, repeats))]
    ok = [r for r in runs if "time" in r]
    if not ok:
        return runs[-1]
    out = dict(ok[-1])
    times = sorted(r["time"] for r in ok)
    out["time"] = float(np.median(times))
    out["spread"] = f"median of {len(times)}: {times[0]:.3g}-{times[-1]:.3g} s" if len(times) > 1 else ""
    return out


def run_child(name: str, *args) -> dict:
    cmd = [sys.executable, __file__, "--case", name, *map(str, args)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:80],
                "wall": time.perf_counter() - t}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- table
def fmt_t(r: dict) -> str:
    if "error" in r:
        return "ERROR: " + r["error"]
    return f"{r['time']:.4g} s"


def fmt_mem(r: dict) -> str:
    return f"{r['maxrss_gb']:.2f} GB" if "maxrss_gb" in r else "-"


def part_a(add) -> None:
    """(a) ngspice against solve, one input, 32/48/64."""
    for k in (32, 48, 64):
        ng = run_child("ngspice", k)
        so = run_child("solve", k)
        ratio = (f"{ng['time'] / so['time']:.0f}x"
                 if "time" in ng and "time" in so else "-")
        note = f"max rel diff {so['err']:.1e}" if "err" in so else ""
        add("(a)", f"{k}x{k}, 1 input: ngspice vs solve [{so.get('backend', '')}]",
            fmt_t(ng), fmt_t(so), ratio + (" (target >= 300x at 64)" if k == 64 else ""),
            note)


def part_b(add, args) -> dict:
    """(b) spsolve's defaults against solve, one input; returns the spsolve times by size."""
    sp_times = {}
    for k in (256,) if args.quick else (256, 512):
        so = run_child("solve", k)
        spr = run_children("spsolve", args.repeats, k)
        sp_times[k] = spr.get("time")
        ratio = f"{spr['time'] / so['time']:.0f}x" if "time" in spr and "time" in so else "-"
        note = f"same answer: max rel diff {spr['err']:.1e}" if "err" in spr else ""
        note += f"; spsolve {spr['spread']}" if spr.get("spread") else ""
        add("(b)", f"{k}x{k}, 1 input: spsolve defaults vs solve [{so.get('backend', '')}]",
            fmt_t(spr), fmt_t(so), ratio + (" (target >= 20x at 512)" if k == 512 else ""), note)
    return sp_times


def part_c(add, args, sp_times: dict) -> None:
    """(c) transfer_matrix (multifrontal, and the ports-last factor for comparison)."""
    for k in (512,) if args.quick else (512, 1024):
        tr = run_children("transfer", args.repeats, k)
        base = sp_times.get(k)
        if base and "time" in tr:
            ratio = f"{tr['time'] / base:.2f} of one spsolve (target < 0.25)"
        elif k == 1024 and "time" in tr:
            ratio = "target < 10 s"
        else:
            ratio = "-"
        note = (f"max rel err vs CG {tr['err']:.1e}; peak {fmt_mem(tr)}" if "err" in tr else "")
        note += f"; {tr['spread']}" if tr.get("spread") else ""
        add("(c)", f"transfer_matrix {k}x{k} [multifrontal]", f"{base:.4g} s" if base else "-",
            fmt_t(tr), ratio, note)
        fa = run_child("transfer", k, 1)
        note = (f"max rel err vs CG {fa['err']:.1e}; peak {fmt_mem(fa)}" if "err" in fa else "")
        add("(c)", f"transfer_matrix {k}x{k} [ports-last factor, for comparison]", "-",
            fmt_t(fa), "-", note)


def part_d(add) -> None:
    """(d) 1000 inputs on 512 x 512 (full Solution, and through the transfer matrix), 1024 x 1024."""
    bt = run_child("batch", 512, 1000)
    add("(d)", "512x512, 1000 inputs: solve, full Solution", "-", fmt_t(bt),
        f"{bt['time'] / 1000 * 1e3:.1f} ms/input" if "time" in bt else "-",
        f"peak {fmt_mem(bt)}; [{bt.get('backend', '')}]; rel diff vs CG "
        f"{bt.get('err', float('nan')):.1e}")
    bt2 = run_child("batch_transfer", 512, 1000)
    add("(d)", "512x512, 1000 inputs: i_out = v @ transfer_matrix", "-", fmt_t(bt2),
        f"{bt2['time'] / 1000 * 1e3:.2f} ms/input" if "time" in bt2 else "-",
        f"peak {fmt_mem(bt2)}; rel diff vs CG {bt2.get('err', float('nan')):.1e}")
    one = run_child("solve", 1024, 1)
    add("(d)", "1024x1024, 1 input: solve", "-", fmt_t(one), "-",
        f"peak {fmt_mem(one)}; [{one.get('backend', '')}]")
    onedir = run_child("batch", 1024, 2)
    add("(d)", "1024x1024, 2 inputs: solve (direct: factor + 2 solves)", "-", fmt_t(onedir),
        "-", f"peak {fmt_mem(onedir)}; [{onedir.get('backend', '')}]")


def print_table(rows: list[tuple[str, str, str, str, str]]) -> None:
    print()
    head = ("part", "case", "baseline", "rramsim.solver", "ratio / target")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    line = " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="skip the 512 spsolve, everything at 1024 and the 1000-input batch")
    p.add_argument("--no-ngspice", action="store_true", help="skip part (a)")
    p.add_argument("--repeats", type=int, default=3,
                   help="fresh-process runs of spsolve (b) and transfer_matrix (c); medians are "
                        "compared (default 3)")
    p.add_argument("--case", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.case:
        name, *rest = args.case
        out = CASES[name](*map(int, rest))
        out["maxrss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(json.dumps(out))
        return 0

    from rramsim.solver import available_backends

    rows: list[tuple[str, str, str, str, str]] = []
    print(f"rramsim.solver benchmark; direct backend: {available_backends()[0]}; "
          f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores", flush=True)

    def add(part, what, base, ours, ratio, note=""):
        rows.append((part, what, base, ours, ratio + (f"  {note}" if note else "")))
        print(" | ".join(rows[-1]), flush=True)

    if not args.no_ngspice:
        part_a(add)
    sp_times = part_b(add, args)
    part_c(add, args, sp_times)
    if not args.quick:
        part_d(add)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
