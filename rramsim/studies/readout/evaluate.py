"""Read schemes on a programmed network: accuracy, tile error, energy, latency, TOPS/W, Pareto.

:func:`evaluate_scheme` runs one :class:`~rramsim.studies.readout.reads.ReadScheme` with one
calibration through the network's forward pass (circuit mode, the mapper's plan) and returns
flat metrics; :func:`pareto_front` marks the schemes no other beats on accuracy, energy and
latency together; :func:`pareto_plot` draws them; :func:`markdown_table` tabulates them.
"""

from __future__ import annotations

import time

import numpy as np

from rramsim.studies.config import STREAM_NOISE, StudyConfig, stream
from rramsim.studies.inference import accuracy
from rramsim.studies.inference import modes as engine
from rramsim.studies.readout import cost as latency
from rramsim.studies.readout import reads as readout


def evaluate_scheme(hw, loaded, cfg: StudyConfig, scheme: readout.ReadScheme, *,
                    calibration: str | None = None, base: engine.Prepared | None = None,
                    software_inputs=None, timings=("integrated", "board")) -> dict:
    """Circuit-mode accuracy and costs of ``loaded`` on ``hw`` read with ``scheme``.

    ``calibration``: default ``cfg.readout.calibration``. ``base``: a circuit-mode
    :class:`~rramsim.studies.inference.modes.Prepared` of ``hw`` (its transfer matrices are reused).
    Read noise as ``cfg.noise`` (one pass, the noise stream of the run). Energy and latency per
    timing preset of :data:`rramsim.studies.readout.cost.TIMINGS`, from the drives of the test pass.
    """
    cal = calibration or cfg.readout.calibration
    cv = cfg.converters
    t0 = time.perf_counter()
    sp = readout.prepare(hw, "circuit", scheme, base=base)
    data = loaded.data
    soft = software_inputs or engine.record_inputs(loaded.forward, data.x_calib)
    conv = readout.calibrate(sp, loaded.forward, data.x_calib,
                             readout.ConverterSpec.from_config(cv), calibration=cal,
                             software_inputs=soft)
    rpi = [len(c) // len(data.x_calib) for c in soft]
    rec: dict = {}
    mm = readout.make_matmul(sp, conv=conv, read_noise_rel=cfg.noise.read_noise_rel,
                             rng=stream(cfg, STREAM_NOISE), record=rec)
    acc = accuracy.test_accuracy(loaded.forward, data.x_test, data.y_test, mm,
                                 accuracy.batch_size(rpi))
    volts = {k: conv.conv.dacs[k].voltages(np.concatenate(v), conv.conv.x_full_scale[k])
             for k, v in rec.items()}
    out = {"rows_per_read": scheme.group_size(hw.tile_shape[0]),
           "inactive_rows": scheme.inactive_rows, "encoding": scheme.encoding,
           "columns_per_adc": scheme.columns_per_adc, "calibration": cal, "acc_circuit": acc,
           "tile_error_rel": readout.tile_output_error(sp, volts),
           "calibrated_error_rel": readout.calibrated_output_error(sp, conv, rec),
           "n_test": len(data.x_test)}
    kept = latency.kept_macs(loaded, rpi)
    for name in timings:
        c = latency.scheme_cost(sp, rpi, conv.conv.dacs, latency.TIMINGS[name], kept_macs=kept,
                                voltages=volts, calibration=cal)
        out.update({f"{name}_{k}": v for k, v in c.as_dict().items()})
    out["kept_macs"] = kept
    out["seconds"] = time.perf_counter() - t0
    return out


def pareto_front(rows, *, acc="acc_circuit", energy="integrated_energy_J",
                 lat="integrated_latency_s") -> list[bool]:
    """Per row: True when no other row has accuracy >= and energy <= and latency <=, one of
    them strictly."""
    pts = np.array([[-r[acc], r[energy], r[lat]] for r in rows], dtype=float)
    out = []
    for p in pts:
        dom = np.all(pts <= p, axis=1) & np.any(pts < p, axis=1)
        out.append(not bool(np.any(dom)))
    return out


def pareto_plot(rows, path, *, title: str, preset: str = "integrated",
                reference: float | None = None) -> None:
    """Energy against latency per inference (log axes), colour = circuit accuracy, one point
    per scheme; the Pareto-optimal schemes ringed. Written atomically (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rramsim._io import atomic_write_bytes

    e = np.array([r[f"{preset}_energy_J"] for r in rows])
    t = np.array([r[f"{preset}_latency_s"] for r in rows])
    a = np.array([r["acc_circuit"] for r in rows]) * 100
    front = pareto_front(rows, energy=f"{preset}_energy_J", lat=f"{preset}_latency_s")
    markers = {"amplitude": "o", "bit-serial": "s", "pwm": "^"}
    lo, hi = float(a.min()), float(max(a.max(), a.min() + 1.0))
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    sc = None
    for enc, mk in markers.items():
        idx = [i for i, r in enumerate(rows) if r["encoding"] == enc]
        if idx:
            sc = ax.scatter(e[idx], t[idx], c=a[idx], cmap="viridis", vmin=lo, vmax=hi,
                            marker=mk, s=60, label=enc, edgecolors="k", linewidths=0.4)
    for i, r in enumerate(rows):
        ax.annotate(str(r["rows_per_read"]), (e[i], t[i]), textcoords="offset points",
                    xytext=(4, 4), fontsize=7)
        if front[i]:
            ax.scatter([e[i]], [t[i]], s=200, facecolors="none", edgecolors="red",
                       linewidths=1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.tick_params(axis="x", which="minor", labelsize=7, labelrotation=35)
    ax.set_xlabel(f"energy per inference, J ({preset} converters)")
    ax.set_ylabel("latency per inference, s")
    ref = "" if reference is None else f"; behavioural {reference * 100:.1f} %"
    ax.set_title(f"{title}\n(labels: rows per read; red rings: Pareto-optimal{ref})", fontsize=9)
    ax.legend(loc="best", fontsize=8)
    if sc is not None:
        fig.colorbar(sc, ax=ax, label="circuit accuracy, %")
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _fmt(x) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.3g}"


def markdown_table(rows, *, reference: float) -> str:
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


def default_scheme_row(hw, loaded, cfg: StudyConfig, ev, *,
                       timings=("integrated", "board")) -> dict:
    """The row of today's read (all rows, amplitude, ideal scale) from an
    :class:`~rramsim.studies.inference.accuracy.Evaluation`: its circuit accuracy and tile error, and the
    costs of the scheme from its recorded circuit drives (no further test pass)."""
    from rramsim.studies.inference.quantize import DAC

    scheme = cfg.readout.scheme()
    sp = readout.prepare(hw, "circuit", scheme, base=engine.prepare(hw, "circuit"))
    rpi = ev.rows_per_inference
    dacs = [DAC(bits=cfg.converters.dac_bits, v_read_V=cfg.converters.v_read_V,
                signed=bool(np.any(np.asarray(ev.records.get(k, 0.0)) < 0)))
            for k in range(len(hw.plan))]
    out = {"rows_per_read": scheme.group_size(hw.tile_shape[0]),
           "inactive_rows": scheme.inactive_rows, "encoding": scheme.encoding,
           "columns_per_adc": scheme.columns_per_adc, "calibration": "ideal_scale",
           "acc_circuit": ev.accuracy["circuit"],
           "tile_error_rel": readout.tile_output_error(sp, ev.records),
           "n_test": ev.n_test}
    kept = latency.kept_macs(loaded, rpi)
    for name in timings:
        c = latency.scheme_cost(sp, rpi, dacs, latency.TIMINGS[name], kept_macs=kept,
                                voltages=ev.records)
        out.update({f"{name}_{k}": v for k, v in c.as_dict().items()})
    out["kept_macs"] = kept
    return out


def read_scheme_step(hw, loaded, cfg: StudyConfig, ev, *, progress: bool = False) -> dict:
    """The configured read scheme (``[readout]``) and, when ``pareto_rows_per_read`` is set,
    every encoding at each of those rows per read: ``{"configured": row, "pareto": rows,
    "gpu_J", "gpu_s", "macs"}``. Today's read (the default section) reuses the evaluation
    ``ev`` (its accuracy and drives)."""
    from rramsim.studies.config import ReadoutConfig
    from rramsim.studies.costs.energy import GPUBaseline

    ro = cfg.readout
    default = (ro.scheme() == ReadoutConfig().scheme() and ro.calibration == "ideal_scale"
               and ro.columns_per_adc == 1)
    base = engine.prepare(hw, "circuit")
    soft = engine.record_inputs(loaded.forward, loaded.data.x_calib)
    conf = (default_scheme_row(hw, loaded, cfg, ev) if default else
            evaluate_scheme(hw, loaded, cfg, ro.scheme(), base=base, software_inputs=soft))
    combos = [(int(r), e) for r in ro.pareto_rows_per_read for e in readout.ENCODINGS]
    if progress and combos:
        from tqdm import tqdm

        combos = tqdm(combos, desc="read schemes", unit="scheme", leave=False)
    par = [evaluate_scheme(hw, loaded, cfg, readout.ReadScheme(
        rows_per_read=r, inactive_rows=ro.inactive_rows, encoding=e,
        columns_per_adc=ro.columns_per_adc), base=base, software_inputs=soft)
        for r, e in combos]
    gpu = GPUBaseline(energy_per_mac_J=cfg.energy.gpu_energy_per_mac_J)
    return {"configured": conf, "pareto": par, "n_calib": len(loaded.data.x_calib),
            "gpu_J": gpu.energy(loaded.macs),
            "gpu_s": latency.gpu_time_s(loaded.macs), "macs": loaded.macs}


def report_section(rep, result: dict, cfg: StudyConfig, out_dir, *, reference: float) -> None:
    """The report's "Read scheme" section (and its Pareto plot when there are several)."""
    from pathlib import Path

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
                f"{c[f'{p}_tops_per_w']:.3g}"] for p in ("integrated", "board")])
    rows = result["pareto"]
    if rows:
        rep.text(markdown_table(rows, reference=reference))
        pareto_plot(rows, Path(out_dir) / "read_schemes_pareto.png", reference=reference,
                    title=f"read schemes, calibration {c['calibration']}")
        rep.image("read_schemes_pareto.png", "accuracy vs energy vs latency, one point per "
                                             "scheme")
