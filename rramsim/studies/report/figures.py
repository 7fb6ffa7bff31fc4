"""Every figure of the study's outputs, each written atomically as a PNG.

The compute modules return data; these functions draw it: the per-cell voltage-drop maps and
the IR-drop sweeps (from :mod:`rramsim.studies.irdrop` and the pipeline's sweeps), and the read
schemes' Pareto plot (from :mod:`rramsim.studies.readout.evaluate`). matplotlib is imported inside
each function (it is an optional, heavy library).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from rramsim._io import atomic_write_bytes
from rramsim.studies._io import atomic_save_figure
from rramsim.studies.config import PRESET_INTEGRATED
from rramsim.studies.readout import evaluate


def plot_drop_map(drop: np.ndarray, path: str | Path, *, title: str = "") -> Path:
    """Heatmap of an (M, N) drop map in millivolts, rows down, columns across; PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = np.asarray(drop, dtype=float)
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    im = ax.imshow(d * 1e3, cmap="magma", aspect="auto", interpolation="nearest")
    ax.set_xlabel("bit line (column) j  ->  sense amplifiers below")
    ax.set_ylabel("word line (row) i")
    ax.set_title(title or "per-cell voltage drop")
    fig.colorbar(im, ax=ax, label="|V_ideal - V_cell| (mV)")
    try:
        return atomic_save_figure(path, fig)
    finally:
        plt.close(fig)


def plot_irdrop_sweep(frame, path: str | Path, *, x: str, y: str, group: str, labels: tuple[str, str],
               title: str = "", logy: bool = False) -> Path:
    """Line plot of ``y`` against ``x``, one line per value of ``group``; PNG at ``path``.

    ``labels``: the (x, y) axis labels."""
    xlabel, ylabel = labels
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for key, sub in frame.groupby(group, sort=True):
        sub = sub.sort_values(x)
        ax.plot(sub[x], sub[y], marker="o", label=f"{group} = {key}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("symlog", linthresh=1e-6)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    try:
        return atomic_save_figure(path, fig)
    finally:
        plt.close(fig)


def pareto_plot(rows, path, *, title: str, preset: str = PRESET_INTEGRATED,
                reference: float | None = None) -> None:
    """Energy against latency per inference (log axes), colour = circuit accuracy, one point
    per scheme; the Pareto-optimal schemes ringed. Written atomically (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e = np.array([r[f"{preset}_energy_J"] for r in rows])
    t = np.array([r[f"{preset}_latency_s"] for r in rows])
    a = np.array([r["acc_circuit"] for r in rows]) * 100
    front = evaluate.pareto_front(rows, energy=f"{preset}_energy_J", lat=f"{preset}_latency_s")
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
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
