"""Plots of a sweep: every metric against each swept key, the seed spread as a band.

One PNG per swept key (``plot_<key>.png``), one panel per metric. A line is the mean over the
device and noise seeds at each value of the key, the band their minimum to maximum; the other
swept keys give one line per combination of their values (up to :data:`MAX_LINES`, beyond which
they join the band). Text values (``mapping.placement``) are placed evenly along the axis.
"""

from __future__ import annotations

from pathlib import Path

from rramsim.studies._io import atomic_save_figure
from rramsim.studies.sweep.spec import METRICS

MAX_LINES = 6
LABELS = {"acc_software": "accuracy, software", "acc_ideal": "accuracy, ideal",
          "acc_behavioural": "accuracy, behavioural", "acc_circuit": "accuracy, circuit",
          "tile_error_rel": "tile output error (rel.)",
          "ir_drop_worst_rel": "worst IR drop (of V_read)",
          "energy_per_inference_J": "energy per inference (J)"}


def plot_sweep(table, keys: list[str], out_dir) -> list[Path]:
    """Write ``plot_<key>.png`` for every key of ``keys`` with more than one value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for key in keys:
        values = list(dict.fromkeys(table[key]))
        if len(values) < 2:
            continue
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        order = sorted(values) if numeric else values
        xpos = {v: (float(v) if numeric else i) for i, v in enumerate(order)}
        others = [k for k in keys if k != key and table[k].nunique() > 1]
        if others and table.groupby(others).ngroups > MAX_LINES:
            others = []
        fig, axes = plt.subplots(2, 4, figsize=(15, 6.5))
        for ax, metric in zip(axes.flat, METRICS, strict=False):
            groups = table.groupby(others, sort=True) if others else [((), table)]
            for label, sub in groups:
                stats = sub.groupby(key, sort=False)[metric].agg(["mean", "min", "max"])
                stats = stats.loc[[v for v in order if v in stats.index]]
                x = [xpos[v] for v in stats.index]
                name = ", ".join(f"{k}={v}" for k, v in zip(others, (label if isinstance(
                    label, tuple) else (label,)), strict=True)) or "mean over seeds"
                (line,) = ax.plot(x, stats["mean"], marker="o", label=name)
                ax.fill_between(x, stats["min"], stats["max"], color=line.get_color(),
                                alpha=0.2, linewidth=0)
            ax.set_title(LABELS[metric], fontsize=9)
            ax.set_xlabel(key, fontsize=8)
            if not numeric:
                ax.set_xticks(list(xpos.values()), [str(v) for v in order])
            ax.grid(True, alpha=0.3)
        handles, names = axes.flat[0].get_legend_handles_labels()
        axes.flat[-1].axis("off")
        axes.flat[-1].legend(handles, names, loc="center", fontsize=8,
                             title="band: min-max over seeds")
        fig.suptitle(f"sweep metrics against {key}")
        fig.tight_layout()
        try:
            paths.append(atomic_save_figure(Path(out_dir) / f"plot_{key}.png", fig))
        finally:
            plt.close(fig)
    return paths
