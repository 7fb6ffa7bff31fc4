"""The whole pipeline on one network: what it computes and costs on the circuit, in one report.

:func:`run_pipeline` evaluates a network (the embedded default: digits, pruned with a fixed seed,
or a user's network file) in software, behavioural and circuit-accurate inference, books its energy
per inference against a GPU baseline, maps its IR drop, sweeps wire resistance and tile size, checks
a sample of tiles against ngspice, compares programming by pruning with write-and-verify, writes one
tile's netlist and a markdown report. Outputs (all written atomically):

``report.md``, ``accuracy.csv``, ``energy.csv``, ``irdrop_sweep.csv``, ``irdrop_tile<k>.png``,
``irdrop_sweep_error.png``, ``irdrop_sweep_accuracy.png``, ``tile<k>.cir``, ``config.toml``,
``timings.json`` (wall times: the only machine-dependent output, kept out of the report so the same
command gives the same report).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rramsim import __version__
from rramsim.studies import study as st
from rramsim.studies._io import atomic_write_csv, atomic_write_text
from rramsim.studies.config import StudyConfig, to_toml
from rramsim.studies.energy import PRESETS, STUDY_IMPROVEMENT, GPUBaseline, improvement
from rramsim.studies.report import Report, fmt_number

MAX_DROP_MAPS = 6


@dataclass
class PipelineResult:
    """Numbers of one pipeline run (what the report and the CLI print)."""

    headline: list = field(default_factory=list)
    accuracy: dict = field(default_factory=dict)
    energy_J: dict = field(default_factory=dict)
    cosim: object = None
    seconds: dict = field(default_factory=dict)
    out_dir: Path | None = None


def _pct(x: float, std: float | None = None) -> str:
    return f"{100 * x:.1f} %" + ("" if std is None else f" (+- {100 * std:.1f})")


def _energy(x: float) -> str:
    if x == 0:
        return "0"
    for unit, f in (("J", 1.0), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12)):
        if abs(x) >= f:
            return f"{x / f:.3g} {unit}"
    return f"{x / 1e-15:.3g} fJ"


def _vs_gpu(e: float, e_gpu: float) -> str:
    """The study's improvement ``1 - E/E_gpu`` when positive, else how many times the GPU's."""
    imp = improvement(e, e_gpu)
    return f"{imp * 100:.1f} % lower" if imp > 0 else f"{e / e_gpu:.3g}x the GPU's"


def blas_threads(n: int | None = 1):
    """Context limiting BLAS to ``n`` threads (threadpoolctl, shipped with scikit-learn).

    The studies' products are many small matrices: on a shared 2-core machine multi-threaded
    OpenBLAS spins and slows them several-fold, and a fixed thread count keeps floating-point
    summation order, hence the numbers, the same on every machine. No-op without threadpoolctl.
    """
    import contextlib

    if n is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(n), user_api="blas")


def run_pipeline(cfg: StudyConfig, out_dir: str | Path, *, command: str, loaded=None,
                 **kwargs) -> PipelineResult:
    """Run every study on one network and write the outputs into ``out_dir``.

    Single-threaded BLAS throughout (:func:`blas_threads`); see :func:`_run_pipeline` for the
    parameters.
    """
    with blas_threads(1):
        return _run_pipeline(cfg, out_dir, command=command, loaded=loaded, **kwargs)


def _run_pipeline(cfg: StudyConfig, out_dir: str | Path, *, command: str, loaded=None,
                 progress: bool = True, sweeps: bool = True, cosim: bool = True,
                 programming: bool = True, max_drop_maps: int = MAX_DROP_MAPS
                 ) -> PipelineResult:
    """Run every study on one network and write the outputs into ``out_dir``.

    Parameters
    ----------
    cfg : StudyConfig
    out_dir : path
    command : str
        The command line that made the report (shown in it).
    loaded : rramsim.studies.adapters.LoadedNetwork, optional
        The network, data and mapping; default: :func:`rramsim.studies.adapters.load` of the
        configuration (embedded default or ``cfg.network.path``).
    progress : bool
        tqdm progress bars.
    sweeps, cosim, programming : bool
        Run the wire/tile-size/placement sweeps, the ngspice check, the programming comparison.
    max_drop_maps : int
        Drop-map PNGs for at most this many tiles (the first ones).

    Raises
    ------
    rramsim.studies.cosim.CosimError
        When the co-simulation check exceeds its tolerance or ngspice cannot run (after the
        report is written, so the failing numbers can be read).
    """
    from tqdm import tqdm

    from rramsim.studies import adapters, irdrop
    from rramsim.studies.cosim import CosimError, check_tiles, require
    from rramsim.studies.network_energy import network_energy, power_split

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res = PipelineResult(out_dir=out)
    secs = res.seconds
    steps = ["network", "inference", "energy", "IR drop", "sweeps", "co-simulation",
             "programming", "report"]
    bar = tqdm(total=len(steps), desc="rramsim pipeline", unit="step", disable=not progress)

    def step(name):
        bar.set_postfix_str(name)

    # 1. network, data, mapping -------------------------------------------------------------
    step("network")
    t0 = time.perf_counter()
    if loaded is None:
        loaded = adapters.load(cfg, progress=progress)
    hw = st.apply_circuit_config(loaded.hardware, cfg)
    data = loaded.data
    secs["network"] = time.perf_counter() - t0
    bar.update()

    # 2. inference ----------------------------------------------------------------------------
    step("inference")
    ev = st.evaluate(hw, loaded.forward, data, cfg, progress=progress)
    secs.update({f"inference_{k}": v for k, v in ev.seconds.items()})
    res.accuracy = dict(ev.accuracy)
    bar.update()

    # 3. energy -------------------------------------------------------------------------------
    step("energy")
    gpu = GPUBaseline(energy_per_mac_J=cfg.energy.gpu_energy_per_mac_J)
    macs = loaded.macs
    e_gpu = gpu.energy(macs)
    import pandas as pd

    frames, totals = [], {}
    adm: dict = {}
    for name, fig in PRESETS.items():
        led = network_energy(hw, ev.records, fig, dac_bits=cfg.converters.dac_bits,
                             admittances=adm)
        df = led.frame()
        df.insert(0, "preset", name)
        tot = led.totals()
        totals[name] = tot
        frames.append(df)
        frames.append(pd.DataFrame([{"preset": name, "layer": "TOTAL", **tot}]))
    frames.append(pd.DataFrame([{"preset": "gpu", "layer": "TOTAL", "total_J": e_gpu,
                                 "macs": macs}]))
    energy_df = pd.concat(frames, ignore_index=True)
    atomic_write_csv(out / "energy.csv", energy_df)
    split = power_split(hw, ev.records)
    res.energy_J = {k: v["total_J"] for k, v in totals.items()} | {"gpu": e_gpu}
    bar.update()

    # 4. IR-drop maps ----------------------------------------------------------------------------
    step("IR drop")
    drop_rows, drop_imgs = [], []
    used = sorted({s.tile for lp in hw.layers for s in lp.slices})
    for t in used[:max(0, int(max_drop_maps))]:
        xb = hw.tiles[t]
        drop, stats = irdrop.tile_drop_map(xb, cfg.converters.v_read_V)
        name = f"irdrop_tile{t}.png"
        irdrop.plot_drop_map(drop, out / name, title=(
            f"tile {t} ({xb.n_rows}x{xb.n_cols}), all rows at {cfg.converters.v_read_V} V, "
            f"{cfg.circuit.r_wordline_ohm:g}/{cfg.circuit.r_bitline_ohm:g} ohm"))
        drop_imgs.append((name, t))
        drop_rows.append([t, f"{xb.n_rows}x{xb.n_cols}", stats.worst_V * 1e3, stats.mean_V * 1e3,
                          stats.worst_rel * 100])
    worst_drop = max((r[4] for r in drop_rows), default=float("nan"))
    bar.update()

    # 5. sweeps ----------------------------------------------------------------------------------
    step("sweeps")
    acc_rows = [{"condition": "configured", "r_wire_ohm": cfg.circuit.r_wordline_ohm,
                 "tile_rows": cfg.mapping.tile_rows, "tile_cols": cfg.mapping.tile_cols,
                 **ev.accuracy, "tile_error_rel": ev.tile_error_rel}]
    sweep_df = size_df = wire_df = place_df = None
    if sweeps:
        t1 = time.perf_counter()
        # sweep rows are evaluated afresh (sweep.noise_repeats passes each, the same noise draws
        # for every point), so that they compare with each other exactly
        wire_df = st.accuracy_vs_wire(hw, loaded.forward, data, cfg, progress=progress)
        for r in wire_df.to_dict("records"):
            acc_rows.append({"condition": "wire sweep", "tile_rows": cfg.mapping.tile_rows,
                             "tile_cols": cfg.mapping.tile_cols, **r})
        size_df = adapters.accuracy_vs_tile_size(loaded, cfg, progress=progress)
        for r in size_df.to_dict("records"):
            acc_rows.append({"condition": "tile-size sweep", **r})
        place_df = adapters.accuracy_vs_placement(loaded, cfg)
        for r in place_df.to_dict("records"):
            acc_rows.append({"condition": f"placement {r.pop('placement')}",
                             "r_wire_ohm": cfg.circuit.r_wordline_ohm,
                             "tile_rows": cfg.mapping.tile_rows,
                             "tile_cols": cfg.mapping.tile_cols, **r})
        sampler = adapters.formed_conductance_sampler()
        sweep_df = irdrop.sweep_wire_and_size(
            sampler, r_wire_ohm=cfg.sweep.r_wire_ohm, tile_sizes=cfg.sweep.tile_sizes,
            v_read_V=cfg.converters.v_read_V, inputs=32, rng=st.stream(cfg, st.STREAM_SWEEP),
            drive=cfg.circuit.drive)
        atomic_write_csv(out / "irdrop_sweep.csv", sweep_df)
        irdrop.plot_sweep(sweep_df, out / "irdrop_sweep_error.png", x="r_wire_ohm",
                          y="rel_output_error", group="tile_size",
                          xlabel="wire resistance per segment (ohm)",
                          ylabel="relative output error ||VT - VG|| / ||VG||",
                          title="IR-drop output error, formed random tiles")
        long = wire_df.melt(id_vars=["r_wire_ohm"],
                            value_vars=["software", "behavioural", "circuit"],
                            var_name="evaluation", value_name="accuracy")
        irdrop.plot_sweep(long, out / "irdrop_sweep_accuracy.png", x="r_wire_ohm",
                          y="accuracy", group="evaluation",
                          xlabel="wire resistance per segment (ohm)", ylabel="test accuracy",
                          title=f"accuracy vs wire resistance ({data.name}; read-noise "
                                f"spread ~{max(ev.accuracy_std.values(), default=0) * 100:.1f} %)")
        secs["sweeps"] = time.perf_counter() - t1
    acc_df = pd.DataFrame(acc_rows, columns=["condition", "r_wire_ohm", "tile_rows", "tile_cols",
                                             "software", "ideal", "behavioural", "circuit",
                                             "tile_error_rel"])
    atomic_write_csv(out / "accuracy.csv", acc_df)
    bar.update()

    # 6. co-simulation ---------------------------------------------------------------------------
    step("co-simulation")
    t1 = time.perf_counter()
    cres = None
    cosim_error = None
    if cosim and cfg.cosim.tiles > 0:
        from rramsim.errors import SpiceError

        try:
            cres = check_tiles([hw.tiles[t] for t in used], n_tiles=cfg.cosim.tiles,
                               window=cfg.cosim.window, inputs=cfg.cosim.inputs,
                               tolerance_rel=cfg.cosim.tolerance_rel,
                               v_read_V=cfg.converters.v_read_V,
                               rng=st.stream(cfg, st.STREAM_COSIM), progress=progress)
        except SpiceError as exc:   # report it, write the outputs, then fail loudly below
            cosim_error = f"CO-SIMULATION CHECK COULD NOT RUN: ngspice failed: {exc}"
    res.cosim = cres
    secs["cosim"] = time.perf_counter() - t1
    bar.update()

    # 7. programming ------------------------------------------------------------------------------
    step("programming")
    prog = adapters.programming_costs(loaded, cfg) if programming else None
    bar.update()

    # 8. netlist + report -------------------------------------------------------------------------
    step("report")
    from rramsim import netlists

    t_net = used[0]
    v_net = np.full(hw.tiles[t_net].n_rows, cfg.converters.v_read_V)
    deck = netlists.render(hw.tiles[t_net], v_net)
    netlists.write_deck(out / f"tile{t_net}.cir", deck)
    atomic_write_text(out / "config.toml", to_toml(cfg))

    e_board, e_int = totals["board"]["total_J"], totals["integrated"]["total_J"]
    ratio = ev.seconds["circuit"] / ev.seconds["behavioural"] if ev.seconds.get(
        "behavioural") else float("nan")
    secs["circuit_over_behavioural"] = ratio
    study_imp = ", ".join(f"{k} {v * 100:.1f} %" for k, v in STUDY_IMPROVEMENT.items())
    headline = [
        ("test accuracy, software (float weights)", _pct(ev.accuracy["software"])),
        ("test accuracy, behavioural (ideal G+ - G-, converters, read noise)",
         _pct(ev.accuracy["behavioural"], ev.accuracy_std.get("behavioural"))),
        ("test accuracy, circuit-accurate (IR drop, converters, read noise)",
         _pct(ev.accuracy["circuit"], ev.accuracy_std.get("circuit"))),
        ("tile output error from IR drop, ||VT - VG|| / ||VG||", f"{ev.tile_error_rel:.2e}"),
        ("worst per-cell IR drop (all rows at read voltage)", f"{worst_drop:.2f} % of V_read"),
        ("energy per inference, board (DAC80508 / ADS8324 / OPA4322)", _energy(e_board)),
        ("energy per inference, integrated converters (projection)", _energy(e_int)),
        (f"energy per inference, GPU baseline ({macs} MACs)", _energy(e_gpu)),
        ("energy vs GPU baseline, board / integrated",
         f"{_vs_gpu(e_board, e_gpu)} / {_vs_gpu(e_int, e_gpu)}"),
        ("study's reported improvement over GPU", study_imp),
        ("co-simulation check (ngspice vs solver), worst max|diff|/max|i|",
         (cosim_error or "not run") if cres is None or not cres.checks else
         f"{cres.worst_rel_diff:.2e} ({'PASS' if cres.passed else 'FAIL'}, tolerance "
         f"{cres.tolerance_rel:.0e})"),
    ]
    if prog is not None:
        headline.append(("programming: pruning vs write-and-verify (cell pulses)",
                         f"{prog['prune_pulses']} vs {prog['wv_pulses']}"))
    res.headline = headline

    rep = Report(
        title=f"rramsim study: {loaded.name}",
        provenance={"command": f"`{command}`", "rramsim version": __version__,
                    "seed": cfg.run.seed, "network": loaded.source,
                    "configuration": "`config.toml` (embedded below)"},
        config_toml=to_toml(cfg))
    rep.headline(headline)
    rep.section("Accuracy", (
        f"Test set: {data.x_test.shape[0]} {data.name} samples; calibration: "
        f"{data.x_calib.shape[0]} training samples. *software*: float weights x masks; "
        "*ideal*: hardware conductances (reset cells included), no converters or noise; "
        f"*behavioural*: ideal G+ - G- products with {cfg.converters.dac_bits}-bit DAC at "
        f"{cfg.converters.v_read_V} V, {cfg.converters.adc_bits}-bit ADC "
        f"({cfg.converters.calibration} calibration), {cfg.noise.read_noise_rel * 100:g} % read "
        "noise; *circuit*: the same with each tile's IR-drop-exact transfer matrix "
        f"({cfg.circuit.r_wordline_ohm:g} / {cfg.circuit.r_bitline_ohm:g} ohm per word/bit-line "
        f"segment). Noisy modes: mean (+- std) over {cfg.noise.repeats} test-set passes with "
        "independent read noise, the same draws for behavioural and circuit (sweep and "
        f"placement rows: {cfg.sweep.noise_repeats} passes each). ADC saturation "
        f"in circuit mode: {ev.adc_saturation * 100:.3f} % of column reads."))
    rep.table(acc_df)
    rep.section("Energy per inference", (
        "Array energy from the solved tiles (source power v^T Y v with each tile's input "
        "admittance, over the recorded test inputs, times the read time); DAC per driven row, "
        "ADC and TIA per read column and read. Board: "
        f"{PRESETS['board'].source}. Integrated: {PRESETS['integrated'].source}. GPU: "
        f"{gpu.source} ({gpu.energy_per_mac_J * 1e12:.1f} pJ/MAC), times the network's "
        f"{macs} dense multiply-accumulates per inference (a GPU runs the masked layers as dense "
        "products); the GPU figure is its peak efficiency, so the comparison favours the GPU."))
    rep.table(["preset", "array", "DAC", "ADC", "TIA", "total", "vs GPU"],
              [[name, _energy(t["array_J"]), _energy(t["dac_J"]), _energy(t["adc_J"]),
                _energy(t["tia_J"]), _energy(t["total_J"]),
                _vs_gpu(t["total_J"], e_gpu)] for name, t in totals.items()]
              + [["GPU", "", "", "", "", _energy(e_gpu), ""]])
    rep.text("Where the array's power goes (full solves of a sample; fractions of source power): "
             + ", ".join(f"{k} {fmt_number(v * 100, 3)} %" for k, v in split.items()
                         if k != "balance_rel")
             + f". Energy balance (source vs dissipated): worst relative mismatch "
               f"{split['balance_rel']:.1e}.")
    rep.section("IR drop", (
        "Per-cell drop |V_ideal - V_cell| with every row at the read voltage (the worst case "
        "of non-negative inputs). Drivers at column 0, sense amplifiers below the last row."))
    rep.table(["tile", "shape", "worst drop (mV)", "mean drop (mV)", "worst (% of V_read)"],
              drop_rows)
    for name, t in drop_imgs:
        rep.image(name, f"tile {t}: per-cell voltage drop")
    if sweep_df is not None:
        rep.text("Output error against wire resistance and tile size (random tiles formed by the "
                 "device model, inputs uniform in [0, V_read]):")
        rep.table(sweep_df)
        rep.image("irdrop_sweep_error.png", "relative output error vs wire resistance")
        rep.image("irdrop_sweep_accuracy.png", "test accuracy vs wire resistance")
    if place_df is not None:
        pr = {r["placement"]: r for r in place_df.to_dict("records")}
        rep.text("Placement (mapper): IR-drop output error of the network's tiles "
                 f"{pr['naive']['tile_error_rel']:.3e} with the naive order, "
                 f"{pr['ir_aware']['tile_error_rel']:.3e} with the IR-aware placement (heavy rows "
                 "near the sense amplifiers, heavy columns near the drivers); circuit accuracy "
                 f"{pr['naive']['circuit'] * 100:.1f} % vs {pr['ir_aware']['circuit'] * 100:.1f} %.")
    rep.section("Co-simulation check", cres.summary() if cres is not None else
                (f"**{cosim_error}**" if cosim_error else "not run (cosim.tiles = 0)"))
    if cres is not None and cres.checks:
        rep.table(["tile", "rows", "cols", "max|diff|/max|i|", "ngspice"],
                  [[c.tile, f"{c.rows[0]}-{c.rows[1]}", f"{c.cols[0]}-{c.cols[1]}",
                    f"{c.rel_diff:.2e}", c.spice_backend] for c in cres.checks])
    if prog is not None:
        rep.section("Programming: pruning vs write-and-verify", prog["text"])
        rep.table(["method", "cell operations", "pulses", "energy"], prog["rows"])
    rep.section("Netlist", f"One tile's ngspice deck: `tile{t_net}.cir` (inputs at "
                           f"{cfg.converters.v_read_V} V on every row). Wall times of each step "
                           "are in `timings.json` (machine-dependent, so kept out of this "
                           "report).")
    rep.write(out / "report.md")
    bar.update()
    bar.close()
    atomic_write_text(out / "timings.json", json.dumps(secs, indent=2, sort_keys=True) + "\n")
    if cosim_error:
        raise CosimError(cosim_error)
    if cres is not None:
        require(cres)
    return res
