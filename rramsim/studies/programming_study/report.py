"""The programming study's outputs: its figure, its markdown report and ``points.csv``.

:func:`write_study` writes ``points.csv`` (tidy: one row per point and mode),
``programming_study.png`` (:func:`plot`) and ``report.md`` (:func:`report_text`) atomically. The
study itself (:mod:`rramsim.studies.programming_study.study`) returns data only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rramsim.studies._io import atomic_save_figure, atomic_write_csv, atomic_write_text
from rramsim.studies.config import StudyConfig, to_toml
from rramsim.studies.programming_study.comparison import (
    ComparisonResult,
    metric_of,
    summary,
    time_label,
    verdict,
)
from rramsim.studies.programming_study.study import (
    POINT_MODES,
    STUDY_CLAIMS,
    StudyResult,
    claim_metric,
)


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------
def _series(rows: Sequence[dict]) -> tuple[list, list, float, int]:
    """Write-verify rows of one mode as (pulse-budget series at the most common tolerance,
    tolerance series at the largest budget, that tolerance, that budget)."""
    wv = [r for r in rows if r["method"] == "write-verify"]
    if not wv:
        return [], [], float("nan"), 0
    tols = [r["tolerance_rel"] for r in wv]
    tol = max(dict.fromkeys(tols), key=tols.count)
    top = max(r["max_pulses_per_cell"] for r in wv)
    budget = sorted((r for r in wv if r["tolerance_rel"] == tol),
                    key=lambda r: r["max_pulses_per_cell"])
    tolerance = sorted((r for r in wv if r["max_pulses_per_cell"] == top),
                       key=lambda r: -r["tolerance_rel"])
    return budget, tolerance, tol, int(top)


def plot(res: StudyResult):
    """Accuracy against programming pulses per cell and against energy (matplotlib figure):
    circuit-accurate points filled, behavioural ones open; the pruned network a star and a
    dotted line."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key, name = claim_metric(res.rows, res.task)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    for ax, x, xl in ((axes[0], "pulses_per_cell", "programming pulses per cell (forming included)"),
                      (axes[1], "energy_J", "programming energy of the network (J)")):
        for m, face in (("circuit", None), ("behavioural", "none")):
            rows = [r for r in res.rows if r["mode"] == m]
            budget, tolser, tol, top = _series(rows)
            kw = dict(mfc=face, ms=5) if face else dict(ms=5)
            lab = m if face is None else None
            for ser, colour, series, short in (
                    (budget, "tab:blue", f"write-verify, pulse budget at {tol * 100:g} %",
                     lambda r: f"{r['max_pulses_per_cell']:g}"),
                    (tolser, "tab:green", f"write-verify, tolerance at {top} pulses",
                     lambda r: f"{r['tolerance_rel'] * 100:g}%")):
                if not ser:
                    continue
                ax.plot([r[x] for r in ser], [100 * r[key] for r in ser], "o-",
                        color=colour, lw=1 if face else 1.6, alpha=0.6 if face else 1, **kw,
                        label=f"{series} ({m})")
                if face is None:
                    for r in ser:
                        ax.annotate(short(r), (r[x], 100 * r[key]), fontsize=7,
                                    xytext=(3, -9), textcoords="offset points", color=colour)
            for r in rows:
                if r["method"] == "one-shot":
                    ax.plot(r[x], 100 * r[key], "v", color="tab:purple", **kw,
                            label=f"one-shot ({m})")
                if r["network"] == "pruned":
                    ax.plot(r[x], 100 * r[key], "*", color="tab:red",
                            **{**kw, "ms": 14}, label=f"pruned ({m})")
                    if lab:
                        ax.axhline(100 * r[key], color="tab:red", ls=":", lw=1)
        ax.set_xscale("log")
        if x == "pulses_per_cell":   # plain numbers: 2, 3, 4, 6, 10, 20
            ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.set_xlabel(xl)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel(f"test {name} (%)")
    axes[0].legend(fontsize=7, loc="lower right")
    claims = "\n".join(f"{t}: +{v:g} points {m}" for t, (m, v) in STUDY_CLAIMS.items())
    axes[1].text(1.02, 0.98, "study (arXiv 2311.07164):\npruning better than precise\n"
                 "programming by\n" + claims, transform=axes[1].transAxes, va="top", fontsize=8,
                 bbox=dict(boxstyle="round", fc="white", alpha=0.8))
    fig.suptitle(f"{res.task}: pruned random network vs the conventionally trained network "
                 "programmed at each precision (filled: circuit-accurate, open: behavioural)",
                 fontsize=10)
    return fig


def report_text(res: StudyResult, cfg: StudyConfig, *, command: str) -> str:
    """The markdown report: setup, the table (circuit and behavioural), the comparison."""
    nw = res.networks
    key, name = claim_metric(res.rows, res.task)
    lines = [f"# Programming study: {res.task}", "", f"Command: `{command}`", "",
             "Pruned random network (edge-popup on electroformed pairs; deployment = forming + "
             "RESET of the pruned pairs) against the conventionally trained network of the same "
             "architecture, programmed by one-shot writes and by write-and-verify at several "
             "pulse budgets and tolerances. Every point: the same device model, read noise "
             f"{cfg.noise.read_noise_rel:g} (relative, {cfg.noise.repeats} passes), DAC "
             f"{cfg.converters.dac_bits} bits, ADC {cfg.converters.adc_bits} bits, "
             f"{cfg.mapping.tile_rows} x {cfg.mapping.tile_cols} tiles, wires "
             f"{cfg.circuit.r_wordline_ohm:g}/{cfg.circuit.r_bitline_ohm:g} ohm.", "",
             f"Software accuracy: pruned {100 * res.software['pruned']:.2f} %, baseline "
             f"{100 * res.software['baseline']:.2f} % (baseline training: "
             + ", ".join(f"{k} {v}" for k, v in nw.baseline_training.items()) + ").", "",
             "## Comparison (circuit-accurate)", "", *res.comparison, "",
             "## Study's claims (arXiv 2311.07164)", "",
             "| task | metric | pruning better by |", "| --- | --- | --- |",
             *[f"| {t} | {m} | +{v:g} points |" for t, (m, v) in STUDY_CLAIMS.items()], "",
             "## Points", "",
             "| network | programming | pulses/cell | energy (J) | converged | G error (median, rms) "
             f"| ideal {name} | behavioural | circuit |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    by = {}
    for r in res.rows:
        by.setdefault((r["network"], r["programming"]), {})[r["mode"]] = r
    for (net, prog), ms in by.items():
        r = next(iter(ms.values()))
        conv = "" if r["converged_fraction"] is None else f"{r['converged_fraction']:.3f}"
        err = ("" if r["programming_error_rel"] is None else
               f"{r['programming_error_median_rel']:.3f}, {r['programming_error_rel']:.3f}")
        acc = " | ".join(f"{100 * ms[m][key]:.2f} %" if m in ms else "" for m in POINT_MODES)
        lines.append(f"| {net} | {prog} | {r['pulses_per_cell']:.2f} | {r['energy_J']:.3g} | "
                     f"{conv} | {err} | {acc} |")
    lines += ["", "Pulses and energy count the programming pulses (forming included); verify "
              "reads are counted in `points.csv` (`verify_reads`) but not in the energy.", "",
              *_timings_and_configuration(res.seconds, cfg, ".1f")]
    return "\n".join(lines)


def _timings_and_configuration(seconds: dict, cfg: StudyConfig, fmt: str) -> list[str]:
    """A report's last two sections: the timings (``fmt`` seconds) and the configuration."""
    return ["## Timings (s)", "", *[f"- {k}: {v:{fmt}}" for k, v in seconds.items()], "",
            "## Configuration", "", "```toml", to_toml(cfg).rstrip(), "```", ""]


def write_study(res: StudyResult, cfg: StudyConfig, out_dir: str | Path, *,
                command: str) -> dict[str, Path]:
    """``points.csv``, ``programming_study.png`` and ``report.md`` in ``out_dir`` (atomic)."""
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    paths = {"csv": atomic_write_csv(out / "points.csv", res.frame())}
    fig = plot(res)
    try:
        paths["plot"] = atomic_save_figure(out / "programming_study.png", fig)
    finally:
        plt.close(fig)
    paths["report"] = atomic_write_text(out / "report.md",
                                        report_text(res, cfg, command=command))
    return paths


# --------------------------------------------------------------------------------------------
# the study-wide comparison (comparison.py): one table
# --------------------------------------------------------------------------------------------
def _pm(mean: float, std: float, scale: float = 1.0, fmt: str = ".1f") -> str:
    if not np.isfinite(mean):
        return ""
    return f"{scale * mean:{fmt}} +- {scale * std:{fmt}}"


def comparison_table(res: ComparisonResult) -> list[str]:
    """The markdown table of a comparison: one line per error model, network, stuck fraction and
    time; metrics as mean +- std over seeds (percent), costs as means. With re-programmed rows, a
    column of the refresh's own cost (already in the programming columns of those rows)."""
    task = res.task
    summ = summary(res.rows, task)
    refresh = any(np.isfinite(r["reprogram_pulses_per_cell"]) for r in summ)
    metrics = (("accuracy", "accuracy (%)"),) if task != "drive" else (
        ("accuracy", "pixel accuracy (%)"), ("roc_auc", "ROC-AUC (%)"), ("pr_auc", "PR-AUC (%)"))
    claim = STUDY_CLAIMS.get(task)
    said = f"+{claim[1]:g} ({claim[0]})" if claim else "not reported"
    head = (["task", "error model", "network", "t", "stuck"] + [m for _, m in metrics]
            + ["pruned ahead by (points)", "pulses/cell", "verify reads", "prog. energy (J)",
               "prog. time (s)", "inference E, board / integrated (J)", "GPU E (J)",
               "study's improvement"] + (["refresh at t: pulses/cell, energy (J), time (s)"]
                                          if refresh else []))
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in summ:
        margin = ("reference" if r["network"] == "pruned" else
                  f"{r.get('pruned_margin', np.nan):+.1f}")
        kind = r["network"] + (f" (weight noise {r['weight_noise']:.3f} of max abs w)"
                               if r["network"].startswith("baseline-hwa") else "")
        cells = [task, r["error_model"], kind, time_label(r["time_s"]), f"{100 * r['stuck_fraction']:g} %",
                 *[_pm(r[k], r[f"{k}_std"], 100) for k, _ in metrics], margin,
                 f"{r['pulses_per_cell']:.2f}", f"{r['verify_reads']:.3g}",
                 f"{r['program_energy_J']:.3g}", f"{r['program_time_s']:.3g}",
                 f"{r['inference_board_J']:.3g} / {r['inference_integrated_J']:.3g}",
                 f"{r['gpu_J']:.3g}", said]
        if refresh:
            cells.append("" if not np.isfinite(r["reprogram_pulses_per_cell"]) else
                         f"{r['reprogram_pulses_per_cell']:.2f}, {r['reprogram_energy_J']:.3g}, "
                         f"{r['reprogram_time_s']:.3g}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def comparison_text(res: ComparisonResult, cfg: StudyConfig, *, command: str) -> str:
    """The comparison's report: setup, the verdict, the table, timings, the configuration."""
    ax = res.axes
    key, name = metric_of(res.task)
    ro = cfg.readout
    lines = [f"# Programming study on measured RRAM behaviour: {res.task}", "",
             f"Command: `{command}`", "",
             f"Seeds {ax.first_seed}-{ax.first_seed + ax.seeds - 1}; error models "
             f"{', '.join(ax.error_models)}; times after programming "
             f"{', '.join(time_label(t) for t in ax.times)}; stuck fractions "
             f"{', '.join(f'{100 * f:g} %' for f in ax.faults)} (each of stuck-on and "
             f"stuck-off). Hardware: {cfg.mapping.tile_rows} x {cfg.mapping.tile_cols} tiles, "
             f"wires {cfg.circuit.r_wordline_ohm:g}/{cfg.circuit.r_bitline_ohm:g} ohm per "
             f"segment, circuit mode (IR-drop-exact transfer matrices), read scheme: "
             f"{ro.rows_per_read or 'all'} rows per read, {ro.encoding} inputs, calibration "
             f"'{ro.calibration}', read noise {cfg.noise.read_noise_rel:g} (one pass per seed), "
             f"DAC {cfg.converters.dac_bits} bits, ADC {cfg.converters.adc_bits} bits.", "",
             "Hardware-aware baselines train with Gaussian weight noise of "
             + ", ".join(f"{v:.3f} max|w| ({k})" for k, v in res.weight_noise.items())
             + f" (the model's spread at {time_label(max(ax.times))}).", "",
             "## Verdict", "", *verdict(res.rows, res.task), "",
             "Reading it: the pruned network's kept weights are differences of two formed cells "
             "(both near 14 uS), so an absolute spread of the formed cells' conductance enters its "
             "weights at full size, while a programmed baseline's small weights sit near g_min, "
             "where the measured spreads are smallest. "
             + ("Here the pruned network's formed and RESET cells relax by the error model's law "
                "at their own level, like programmed cells (a judgement: the fits were measured on "
                "programmed cells); with `--pruned-static` they do not relax at all, which bounds "
                "the other side." if ax.relax_pruned else
                "In this run the pruned network's cells do NOT relax (`--pruned-static`, a "
                "sensitivity check); the baselines' do.")
             + " Stuck-on cells sit at the target map's top, stuck-off cells at 0 S: for the "
             "pruned network a stuck cell is an error of about 14 uS against weights of a few uS.",
             "",
             f"## Table ({name}: mean +- std over seeds)", "", *comparison_table(res), "",
             "Pulses and verify reads: forming included; the baselines' from rramsim's "
             "incremental write-and-verify to the same targets (2 % of g_max), the pruned "
             "network's forming and RESET of its pruned pairs. Energy: pulses and verify reads. "
             "Time: the cells of a tile row in parallel, rows and tiles in sequence. Inference "
             "energy per input with the scheme's reads; GPU: the same network's MACs on a V100.",
             "", *(["Re-programmed rows (`--reprogram`): the baseline refreshed at t by the same "
                    "incremental write-and-verify from its relaxed cells back to its targets "
                    "(stuck cells skipped), read 1 s after the refresh; their programming columns "
                    "hold the first programming plus the refresh, the last column the refresh "
                    "alone. The pruned network is not refreshed: its formed cells have no target.",
                    ""] if ax.reprogram else []),
             *_timings_and_configuration(res.seconds, cfg, ".0f")]
    return "\n".join(lines)


def write_comparison(res: ComparisonResult, cfg: StudyConfig, out_dir: str | Path, *,
                     command: str) -> dict[str, Path]:
    """``comparison.csv`` (one row per seed and condition) and ``report.md`` in ``out_dir``."""
    out = Path(out_dir)
    return {"csv": atomic_write_csv(out / "comparison.csv", res.frame()),
            "report": atomic_write_text(out / "report.md",
                                        comparison_text(res, cfg, command=command))}
