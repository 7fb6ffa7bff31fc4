"""Markdown study reports: a headline table, tables and figures inline, and their provenance.

A report names the configuration (embedded as TOML), the seed, the rramsim version and the
command that made it, so the same command can make the same numbers again. It is written
atomically. Nothing in it depends on the clock or the machine unless a caller adds timings
explicitly (they are kept in a separate, clearly labelled section).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rramsim import __version__, netlists
from rramsim.studies._io import atomic_write_csv, atomic_write_text
from rramsim.studies.config import PRESET_BOARD, PRESET_INTEGRATED, StudyConfig, to_toml
from rramsim.studies.costs.energy import CONVERTER_FIGURES, STUDY_IMPROVEMENT, improvement
from rramsim.studies.report import figures


def fmt_number(x, digits: int = 4) -> str:
    """A number for a table: integers as they are, floats with ``digits`` significant digits."""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if f != f:
        return "n/a"
    if f == 0:
        return "0"
    return f"{f:.{digits}g}"


def _cell(text: str) -> str:
    """A table cell: pipes escaped (``|x|`` would end the cell), no line breaks."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header, rows) -> str:
    """A GitHub-flavoured markdown table from a header and rows of cells (numbers formatted)."""
    head = "| " + " | ".join(_cell(h) for h in header) + " |"
    sep = "| " + " | ".join("---" for _ in header) + " |"
    body = ["| " + " | ".join(_cell(fmt_number(c)) for c in r) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def frame_table(frame, digits: int = 4) -> str:
    """A pandas DataFrame as a markdown table."""
    rows = [[fmt_number(v, digits) for v in rec] for rec in frame.itertuples(index=False)]
    return markdown_table(list(frame.columns), rows)


@dataclass
class Report:
    """A study report under construction.

    Attributes
    ----------
    title : str
        First heading.
    provenance : dict
        Names and values shown under the title (command, seed, version, configuration file).
    config_toml : str
        The configuration that made it, embedded verbatim at the end.
    """

    title: str
    provenance: dict = field(default_factory=dict)
    config_toml: str = ""
    _parts: list[str] = field(default_factory=list)

    def headline(self, rows: list[tuple[str, str]]) -> None:
        """The headline table: (quantity, value) pairs, right under the provenance."""
        self._parts.insert(0, "## Headline\n\n" + markdown_table(["quantity", "value"], rows))

    def section(self, heading: str, text: str = "") -> None:
        """A new ``##`` section with optional paragraph text."""
        self._parts.append(f"## {heading}\n\n{text}".rstrip())

    def text(self, text: str) -> None:
        """A paragraph in the current section."""
        self._parts.append(text)

    def table(self, frame_or_header, rows=None) -> None:
        """A table: a DataFrame, or a header and rows."""
        if rows is None:
            self._parts.append(frame_table(frame_or_header))
        else:
            self._parts.append(markdown_table(frame_or_header, rows))

    def image(self, relpath: str, caption: str) -> None:
        """An inline figure (path relative to the report)."""
        self._parts.append(f"![{caption}]({relpath})\n\n*{caption}*")

    def render(self) -> str:
        """The report as markdown text."""
        prov = "\n".join(f"- **{k}**: {v}" for k, v in self.provenance.items())
        out = [f"# {self.title}", prov, *self._parts]
        if self.config_toml:
            out.append("## Configuration\n\n```toml\n" + self.config_toml.rstrip() + "\n```")
        return "\n\n".join(p for p in out if p) + "\n"

    def write(self, path: str | Path) -> Path:
        """Write the report atomically."""
        return atomic_write_text(path, self.render())


# --------------------------------------------------------------------------------------------
# the study report: every sentence of it
# --------------------------------------------------------------------------------------------
def pct(x: float, std: float | None = None) -> str:
    """A fraction as a percentage with one decimal (and its spread)."""
    return f"{100 * x:.1f} %" + ("" if std is None else f" (+- {100 * std:.1f})")


def energy_text(x: float) -> str:
    """Joules with an SI prefix, 3 significant digits."""
    if x == 0:
        return "0"
    for unit, f in (("J", 1.0), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12)):
        if abs(x) >= f:
            return f"{x / f:.3g} {unit}"
    return f"{x / 1e-15:.3g} fJ"


def vs_gpu(e: float, e_gpu: float) -> str:
    """The study's improvement ``1 - E/E_gpu`` when positive, else how many times the GPU's."""
    imp = improvement(e, e_gpu)
    return f"{imp * 100:.1f} % lower" if imp > 0 else f"{e / e_gpu:.3g}x the GPU's"


def cosim_line(res) -> str:
    """The headline's co-simulation entry."""
    c = res.cosim
    if c is None or not c.checks:
        return res.cosim_error or "not run"
    return (f"{c.worst_rel_diff:.2e} ({'PASS' if c.passed else 'FAIL'}, tolerance "
            f"{c.tolerance_rel:.0e})")


def headline(res) -> list[tuple[str, str]]:
    """(quantity, value) rows of the report's headline table."""
    ev, en = res.evaluation, res.energy
    cfg = res.cfg
    e_board, e_int = en.totals[PRESET_BOARD]["total_J"], en.totals[PRESET_INTEGRATED]["total_J"]
    preset = cfg.converters.preset
    rows = [
        ("test accuracy, software (float weights)", pct(ev.accuracy["software"])),
        ("test accuracy, behavioural (ideal G+ - G-, converters, read noise)",
         pct(ev.accuracy["behavioural"], ev.accuracy_std.get("behavioural"))),
        ("test accuracy, circuit-accurate (IR drop, converters, read noise)",
         pct(ev.accuracy["circuit"], ev.accuracy_std.get("circuit"))),
        ("tile output error from IR drop, ||VT - VG|| / ||VG||", f"{ev.tile_error_rel:.2e}"),
        ("worst per-cell IR drop (all rows at read voltage)",
         f"{res.irdrop.worst_rel * 100:.2f} % of V_read"),
        (f"tiles ({res.hardware.tile_shape[0]} x {res.hardware.tile_shape[1]}), utilisation",
         f"{res.hardware.summary()['tiles']}, "
         f"{res.hardware.summary()['utilisation'] * 100:.1f} % of cells used"),
        ("energy per inference, board (DAC80508 / ADS8324 / OPA4322)", energy_text(e_board)),
        ("energy per inference, integrated converters (projection)", energy_text(e_int)),
        (f"energy per inference, GPU baseline ({en.macs} MACs)", energy_text(en.gpu_J)),
        ("energy vs GPU baseline, board / integrated",
         f"{vs_gpu(e_board, en.gpu_J)} / {vs_gpu(e_int, en.gpu_J)}"),
        (f"selected converter preset ([converters] preset = \"{preset}\")",
         energy_text(en.totals[preset]["total_J"])),
        ("study's reported improvement over GPU",
         ", ".join(f"{k} {v * 100:.1f} %" for k, v in STUDY_IMPROVEMENT.items())),
        ("co-simulation check (reference vs solver), worst max|diff|/max|i|", cosim_line(res)),
    ]
    if res.programming is not None and res.programming.get("wv_pulses") is not None:
        rows.append(("programming: pruning vs write-and-verify (cell pulses)",
                     f"{res.programming['prune_pulses']} vs {res.programming['wv_pulses']}"))
    return rows


def accuracy_frame(res):
    """accuracy.csv: the configured point and every sweep row."""
    import pandas as pd

    cfg, ev = res.cfg, res.evaluation
    rows = [{"condition": "configured", "r_wire_ohm": cfg.circuit.r_wordline_ohm,
             "tile_rows": cfg.mapping.tile_rows, "tile_cols": cfg.mapping.tile_cols,
             **ev.accuracy, "tile_error_rel": ev.tile_error_rel}]
    sw = res.sweeps
    if sw is not None:
        for r in sw.wire.to_dict("records"):
            rows.append({"condition": "wire sweep", "tile_rows": cfg.mapping.tile_rows,
                         "tile_cols": cfg.mapping.tile_cols, **r})
        for r in sw.size.to_dict("records"):
            rows.append({"condition": "tile-size sweep", **r})
        for r in sw.placement.to_dict("records"):
            r = dict(r)
            rows.append({"condition": f"placement {r.pop('placement')}",
                         "r_wire_ohm": cfg.circuit.r_wordline_ohm,
                         "tile_rows": cfg.mapping.tile_rows, "tile_cols": cfg.mapping.tile_cols,
                         **r})
    return pd.DataFrame(rows, columns=["condition", "r_wire_ohm", "tile_rows", "tile_cols",
                                       "software", "ideal", "behavioural", "circuit",
                                       "tile_error_rel"])


def energy_frame(res):
    """energy.csv: per preset, one row per (layer, tile) and a TOTAL row; the GPU's total."""
    import pandas as pd

    frames = []
    for name, led in res.energy.ledgers.items():
        df = led.frame()
        df.insert(0, "preset", name)
        frames += [df, pd.DataFrame([{"preset": name, "layer": "TOTAL",
                                      **res.energy.totals[name]}])]
    frames.append(pd.DataFrame([{"preset": "gpu", "layer": "TOTAL", "total_J": res.energy.gpu_J,
                                 "macs": res.energy.macs}]))
    return pd.concat(frames, ignore_index=True)


def _fmt(x) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.3g}"


def scheme_table(rows, *, reference: float) -> str:
    """The schemes as a Markdown table; ``within 1 %`` marks accuracy within one percentage
    point of ``reference`` (the behavioural accuracy). ``tile error``: the added partial sums
    before the converters against the ideal currents; ``calibrated error``: the layer products
    after converters and calibration against the ideal product ("-": not computed, as for
    today's read taken from the study's evaluation)."""
    head = ("| calibration | rows/read | encoding | circuit acc. | within 1 % | tile error | "
            "calibrated error | "
            "E/inf (integr.) | latency (integr.) | inf/s (integr.) | TOPS/W (integr.) | "
            "E/inf (board) | latency (board) | TOPS/W (board) |")
    out = [head, "|" + "---|" * 14]
    for r in rows:
        ok = r["acc_circuit"] >= reference - 0.01
        out.append(
            f"| {r['calibration']} | {r['rows_per_read']} | {r['encoding']} | "
            f"{r['acc_circuit'] * 100:.1f} % | {'**yes**' if ok else 'no'} | "
            f"{r['tile_error_rel']:.3g} | {_fmt(r.get('calibrated_error_rel'))} | "
            f"{r['integrated_energy_J']:.3g} J | "
            f"{r['integrated_latency_s']:.3g} s | {r['integrated_inferences_per_s']:.3g} | "
            f"{r['integrated_tops_per_w']:.3g} | {r['board_energy_J']:.3g} J | "
            f"{r['board_latency_s']:.3g} s | {r['board_tops_per_w']:.3g} |")
    return "\n".join(out)


def read_scheme_section(rep, result: dict, cfg: StudyConfig, out_dir, *, reference: float) -> None:
    """The report's "Read scheme" section (and its Pareto plot when there are several)."""
    ro, c = cfg.readout, result["configured"]
    rep.section("Read scheme", (
        f"Rows per read {c['rows_per_read']} (partial sums digitised per read and added "
        f"digitally), inactive rows {ro.inactive_rows}, {ro.encoding} inputs, "
        f"{ro.columns_per_adc} column(s) per ADC. **Calibration used: {c['calibration']}** "
        f"(on a calibration batch of {result['n_calib']} training inputs in circuit mode; see "
        "rramsim.studies.readout.reads). Circuit accuracy "
        f"{c['acc_circuit'] * 100:.1f} % (behavioural {reference * 100:.1f} %), output error of "
        f"the added partial sums {c['tile_error_rel']:.3g}. TOPS/W counts 2 operations per "
        f"multiply-accumulate of the kept (unpruned) weights only ({c['kept_macs']:.0f} per "
        "inference). Latency = per read, the ADC conversions it needs times their period plus "
        "the settling; reads of a tile in sequence, tiles in parallel, batch 1. GPU baseline: "
        f"{result['gpu_J']:.3g} J and {result['gpu_s']:.3g} s per inference ({result['macs']} "
        "dense MACs at the V100's peak)."))
    rep.table(["converters", "reads", "cycles", "conversions", "latency (s)", "inferences/s",
               "energy (J)", "TOPS/W"],
              [[p, f"{c[f'{p}_reads']:.0f}", f"{c[f'{p}_cycles']:.0f}",
                f"{c[f'{p}_conversions']:.0f}", f"{c[f'{p}_latency_s']:.3g}",
                f"{c[f'{p}_inferences_per_s']:.3g}", f"{c[f'{p}_energy_J']:.3g}",
                f"{c[f'{p}_tops_per_w']:.3g}"] for p in (PRESET_INTEGRATED, PRESET_BOARD)])
    rows = result["pareto"]
    if rows:
        rep.text(scheme_table(rows, reference=reference))
        figures.pareto_plot(rows, Path(out_dir) / "read_schemes_pareto.png", reference=reference,
                    title=f"read schemes, calibration {c['calibration']}")
        rep.image("read_schemes_pareto.png", "accuracy vs energy vs latency, one point per "
                                             "scheme")


def _write_figures(res, out: Path) -> list[tuple[str, int]]:
    """The drop map of each mapped tile, the sweep's CSV and plots; returns (file, tile) of the maps."""
    cfg, ev, hw = res.cfg, res.evaluation, res.hardware
    c = cfg.circuit
    wires = f"{c.r_wordline_ohm:g}/{c.r_bitline_ohm:g} ohm"
    drop_imgs = []
    for t, drop in res.irdrop.maps.items():
        name = f"irdrop_tile{t}.png"
        xb = hw.tiles[t]
        figures.plot_drop_map(drop, out / name, title=(
            f"tile {t} ({xb.n_rows}x{xb.n_cols}), all rows at {cfg.converters.v_read_V} V, "
            f"{wires}"))
        drop_imgs.append((name, t))
    sw = res.sweeps
    if sw is not None:
        atomic_write_csv(out / "irdrop_sweep.csv", sw.formed)
        figures.plot_irdrop_sweep(sw.formed, out / "irdrop_sweep_error.png", x="r_wire_ohm",
                          y="rel_output_error", group="tile_size",
                          labels=("wire resistance per segment (ohm)",
                                  "relative output error ||VT - VG|| / ||VG||"),
                          title="IR-drop output error, formed random tiles")
        long = sw.wire.melt(id_vars=["r_wire_ohm"], value_vars=["software", "behavioural",
                                                                  "circuit"],
                            var_name="evaluation", value_name="accuracy")
        figures.plot_irdrop_sweep(long, out / "irdrop_sweep_accuracy.png", x="r_wire_ohm",
                          y="accuracy", group="evaluation",
                          labels=("wire resistance per segment (ohm)", "test accuracy"),
                          title=f"accuracy vs wire resistance ({res.loaded.data.name}; read-noise "
                                f"spread ~{max(ev.accuracy_std.values(), default=0) * 100:.1f} %)")
    return drop_imgs


def _network_section(rep: Report, res) -> None:
    ev, hw = res.evaluation, res.hardware
    summ = hw.summary()
    layers = ", ".join(f"{lp.name} {lp.fan_in}x{lp.fan_out} ({ev.rows_per_inference[k]} "
                       f"read{'s' if ev.rows_per_inference[k] != 1 else ''} per inference)"
                       for k, lp in enumerate(hw.plan.layers))
    rep.section("Network on the tiles", (
        f"{len(hw.plan)} weight layers ({layers}) on {summ['tiles']} tiles of "
        f"{hw.tile_shape[0]} x {hw.tile_shape[1]} cells ({hw.mapping.scheme} differential "
        f"scheme, {hw.mapping.placement} placement): {summ['used']} cells used "
        f"({summ['set']} SET, {summ['reset']} RESET), utilisation "
        f"{summ['utilisation'] * 100:.1f} %. Convolutions run as im2col patches on the tiles, "
        "a recurrent layer's input and recurrent matrices as one stacked matrix, every time "
        "step through DAC, tiles and ADC; BN, pooling, activations and quantisers are digital."))


def _accuracy_section(rep: Report, res, acc_df) -> None:
    cfg, ev, data = res.cfg, res.evaluation, res.loaded.data
    c = cfg.circuit
    rep.section("Accuracy", (
        f"Test set: {data.x_test.shape[0]} {data.name} samples; calibration: "
        f"{data.x_calib.shape[0]} training samples. *software*: float weights x masks; "
        "*ideal*: hardware conductances (reset cells included), no converters or noise; "
        f"*behavioural*: ideal G+ - G- products with {cfg.converters.dac_bits}-bit DAC at "
        f"{cfg.converters.v_read_V} V, {cfg.converters.adc_bits}-bit ADC "
        f"({cfg.converters.calibration} calibration), {cfg.noise.read_noise_rel * 100:g} % read "
        "noise; *circuit*: the same with each tile's IR-drop-exact transfer matrix "
        f"({c.r_wordline_ohm:g} / {c.r_bitline_ohm:g} ohm per word/bit-line "
        f"segment{', sinh cells solved by Newton' if c.nonlinear_cells else ''}). Noisy modes: "
        f"mean (+- std) over {cfg.noise.repeats} test-set passes with independent read noise, "
        "the same draws for behavioural and circuit (sweep and placement rows: "
        f"{cfg.sweep.noise_repeats} passes each). ADC saturation in circuit mode: "
        f"{ev.adc_saturation * 100:.3f} % of column reads." + _reads_note(res)))
    rep.table(acc_df)


def _reads_note(res) -> str:
    """Which reads of the measured pairs the hardware modes ran on (empty otherwise)."""
    lo, ev = res.loaded, res.evaluation
    if getattr(lo, "measured", None) is None:
        return ""
    cycle = ev.read_cycle or [lo.read]
    per = f"{ev.read_batch} inputs" if ev.read_batch else "the evaluation's batch"
    return (f" Pairs: {lo.measured.describe()}; cells where they were read out (given "
            "placement), pruned pairs at their measured G_0 cells. Ideal, behavioural and circuit "
            f"modes ran test batch b ({per}) on read number b mod {len(cycle)} of reads {cycle}; "
            f"the batches ran on reads {ev.reads or [cycle[0]]}.")


_LEVELS = {"fixed": "fixed", "batch": "per-batch (each evaluated batch's own)"}


def _level_rows(q: dict) -> list[list[str]]:
    rows = []
    for who, rec in (("pruned network", q["record"]), ("baseline", q["baseline_record"])):
        if not rec:
            continue
        batch = rec.get("test_accuracy_batch_levels")
        cost = rec.get("accuracy_cost_of_fixed_levels")
        rows.append([who, rec.get("training_levels", ""), rec.get("inference_levels", ""),
                     "" if batch is None else
                     f"{pct(batch)} (test batches of {rec.get('test_batch_size', '?')})",
                     pct(rec["test_accuracy_fixed_levels"]),
                     "" if cost is None else f"{100 * cost:+.1f} points"])
    return rows


def _quantiser_section(rep: Report, q: dict | None) -> None:
    """Which activation levels training used, which this study's inference uses, the cost."""
    if q is None:
        return
    layers = ", ".join(f"{name} ({mode}, {_LEVELS[inf]} levels in evaluation)"
                       for name, mode, inf in q["quantisers"])
    heading = "Activation quantisers: training vs inference levels"
    if q["training"] == "fixed ranges" and not q["record"]:
        rep.section(heading, "Training and every mode of this study (software, ideal, "
                    "behavioural, circuit) use the same fixed activation ranges, calibrated on "
                    f"the training set: nothing differs between them. Quantisers: {layers}.")
        return
    text = (f"Training used {q['training']} activation levels. Every mode of this study "
            f"(software, ideal, behavioural, circuit) evaluates the network with the levels it "
            f"holds: {_LEVELS[q['inference']]} levels. Quantisers: {layers}.")
    if q["inference"] == "batch":
        text += (" A chip's DAC has fixed levels: per-batch levels make every result here "
                 "depend on which test samples share a batch.")
    rows = _level_rows(q)
    if rows:
        text += (" What fixed levels cost, from the training run (software evaluation of the "
                 "whole test set: per-batch levels as the source study evaluates, then the "
                 "levels fixed on the training set; cost = per-batch minus fixed):")
    else:
        text += (" The network's training record has no test accuracy with per-batch levels: "
                 "the cost of fixed levels was not measured.")
    rep.section(heading, text)
    if rows:
        rep.table(["network", "training levels", "inference levels", "test accuracy, per-batch "
                   "levels", "test accuracy, fixed levels", "cost of fixed levels"], rows)


def _energy_section(rep: Report, res) -> None:
    cfg, en = res.cfg, res.energy
    rep.section("Energy per inference", (
        "Array energy from the solved tiles (source power v^T Y v with each tile's input "
        "admittance, over the recorded test inputs, times the read time); DAC per driven row, "
        "ADC and TIA per read column and read. Board: "
        f"{CONVERTER_FIGURES[PRESET_BOARD].source}. Integrated: "
        f"{CONVERTER_FIGURES[PRESET_INTEGRATED].source}. GPU: "
        f"{en.gpu.source} ({en.gpu.energy_per_mac_J * 1e12:.1f} pJ/MAC), times the network's "
        f"{en.macs} dense multiply-accumulates per inference (a GPU runs the masked layers as "
        "dense products); the GPU figure is its peak efficiency, so the comparison favours the "
        f"GPU. The configuration selects the \"{cfg.converters.preset}\" preset "
        "([converters] preset); both are shown."))
    rep.table(["preset", "array", "DAC", "ADC", "TIA", "total", "vs GPU"],
              [[name, energy_text(t["array_J"]), energy_text(t["dac_J"]),
                energy_text(t["adc_J"]), energy_text(t["tia_J"]), energy_text(t["total_J"]),
                vs_gpu(t["total_J"], en.gpu_J)] for name, t in en.totals.items()]
              + [["GPU", "", "", "", "", energy_text(en.gpu_J), ""]])
    rep.text("Where the array's power goes (full solves of a sample; fractions of source power): "
             + ", ".join(f"{k} {fmt_number(v * 100, 3)} %" for k, v in en.split.items()
                         if k != "balance_rel")
             + f". Energy balance (source vs dissipated): worst relative mismatch "
               f"{en.split['balance_rel']:.1e}.")


def _irdrop_section(rep: Report, res, drop_imgs) -> None:
    hw, sw = res.hardware, res.sweeps
    rep.section("IR drop", (
        "Per-cell drop |V_ideal - V_cell| with every row at the read voltage (the worst case "
        "of non-negative inputs). Drivers at column 0, sense amplifiers below the last row."))
    rep.table(["tile", "shape", "worst drop (mV)", "mean drop (mV)", "worst (% of V_read)"],
              [[t, f"{hw.tiles[t].n_rows}x{hw.tiles[t].n_cols}", s.worst_V * 1e3,
                s.mean_V * 1e3, s.worst_rel * 100] for t, s in res.irdrop.stats.items()])
    for name, t in drop_imgs:
        rep.image(name, f"tile {t}: per-cell voltage drop")
    if sw is not None:
        rep.text("Output error against wire resistance and tile size (random tiles formed by the "
                 "device model, inputs uniform in [0, V_read]):")
        rep.table(sw.formed)
        rep.image("irdrop_sweep_error.png", "relative output error vs wire resistance")
        rep.image("irdrop_sweep_accuracy.png", "test accuracy vs wire resistance")
        pr = {r["placement"]: r for r in sw.placement.to_dict("records")}
        rep.text("Placement (mapper): IR-drop output error of the network's tiles "
                 f"{pr['naive']['tile_error_rel']:.3e} with the naive order, "
                 f"{pr['ir_aware']['tile_error_rel']:.3e} with the IR-aware placement (heavy rows "
                 "near the sense amplifiers, heavy columns near the drivers); circuit accuracy "
                 f"{pr['naive']['circuit'] * 100:.1f} % vs {pr['ir_aware']['circuit'] * 100:.1f} %.")


def _cosim_section(rep: Report, res) -> None:
    cres = res.cosim
    rep.section("Co-simulation check", cres.summary() if cres is not None else
                (f"**{res.cosim_error}**" if res.cosim_error else "not run (cosim.tiles = 0)"))
    if cres is not None and cres.checks:
        rep.table(["tile", "rows", "cols", "network cells", "currents compared", "max |i| (A)",
                   "max|diff|/max|i|", "reference"],
                  [[k.tile, f"{k.rows[0]}-{k.rows[1]}", f"{k.cols[0]}-{k.cols[1]}",
                    k.used_cells, k.currents, k.i_max_A, f"{k.rel_diff:.2e}",
                    f"{k.engine} ({k.spice_backend})"] for k in cres.checks])


def _programming_section(rep: Report, prog: dict) -> None:
    m = prog["metrics"]
    text = (f"From the training run (rramsim.nn.run_prune, seed {m['seed']}): "
            f"{m['n_weights']} weights on {m['n_cells']} cells. Pruned network's test "
            "accuracy with programmed conductances and read noise: "
            f"{m['test_accuracy_programmed'] * 100:.1f} %.")
    base = m.get("baseline")
    if base:
        text += (" Baseline (conventionally trained, write-and-verify): "
                 f"{base['test_accuracy_programmed'] * 100:.1f} % programmed, "
                 f"{base['test_accuracy_software'] * 100:.1f} % in software"
                 + (" (write-verify stand-in)" if base.get("write_verify_stand_in") else "")
                 + f". Deployment pulses including forming: pruning {prog['prune_pulses']}, "
                   f"write-and-verify {prog['wv_pulses']}; energy "
                   f"{prog['prune_energy_J'] * 1e6:.3g} uJ vs "
                   f"{prog['wv_energy_J'] * 1e6:.3g} uJ.")
    rep.section("Programming: pruning vs write-and-verify", text)
    rep.table(["method", "cell operations", "pulses", "energy"],
              [[a, b, "" if p is None else p, "" if e is None else f"{e * 1e6:.3g} uJ"]
               for a, b, p, e in prog["rows"]])


def study_report(res, out: Path, *, command: str, acc_df, drop_imgs, netlist: str) -> Report:
    """The study's report: provenance, headline, one section per step, the configuration.

    ``netlist`` names the tile deck written beside it; a read-scheme section writes its plot
    into ``out``.
    """
    cfg, ev, loaded = res.cfg, res.evaluation, res.loaded
    rep = Report(title=f"rramsim study: {loaded.name}",
                 provenance={"command": f"`{command}`", "rramsim version": __version__,
                             "seed": cfg.run.seed, "network": loaded.source,
                             "configuration": "`config.toml` (embedded below)"},
                 config_toml=to_toml(cfg))
    rep.headline(res.headline)
    _network_section(rep, res)
    _accuracy_section(rep, res, acc_df)
    _quantiser_section(rep, getattr(res, "quantisers", None))
    _energy_section(rep, res)
    if getattr(res, "read_schemes", None):
        read_scheme_section(rep, res.read_schemes, cfg, out, reference=ev.accuracy["behavioural"])
    _irdrop_section(rep, res, drop_imgs)
    _cosim_section(rep, res)
    if res.programming is not None:
        _programming_section(rep, res.programming)
    rep.section("Netlist", f"One tile's ngspice deck: `{netlist}` (inputs at "
                           f"{cfg.converters.v_read_V} V on every row). Wall times of each step "
                           "are in `timings.json` (machine-dependent, so kept out of this "
                           "report).")
    return rep


def write_outputs(res, out_dir, *, command: str) -> Path:
    """Write report.md, the CSVs, the figures, one tile's netlist, config.toml, timings.json.

    All files are written atomically; wall times (machine-dependent) go only to timings.json so
    the same command gives the same report.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res.out_dir = out
    cfg, ev, hw = res.cfg, res.evaluation, res.hardware
    # the tables, the figures, one tile's deck and the configuration
    acc_df = accuracy_frame(res)
    atomic_write_csv(out / "accuracy.csv", acc_df)
    atomic_write_csv(out / "energy.csv", energy_frame(res))
    drop_imgs = _write_figures(res, out)
    t_net = hw.plan.used_tiles[0]
    xb0 = hw.tiles[t_net]
    netlists.write_deck(out / f"tile{t_net}.cir",
                        netlists.render(xb0, np.full(xb0.n_rows, cfg.converters.v_read_V)))
    atomic_write_text(out / "config.toml", to_toml(cfg))
    # the report, and the wall times beside it
    secs = dict(res.seconds)
    if ev.seconds.get("behavioural"):
        secs["circuit_over_behavioural"] = ev.seconds["circuit"] / ev.seconds["behavioural"]
    res.headline = headline(res)
    study_report(res, out, command=command, acc_df=acc_df, drop_imgs=drop_imgs,
                 netlist=f"tile{t_net}.cir").write(out / "report.md")
    atomic_write_text(out / "timings.json", json.dumps(secs, indent=2, sort_keys=True) + "\n")
    return out
