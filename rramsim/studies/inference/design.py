"""Accuracy sweeps over the circuit and the mapping: wire resistance, tile size, placement.

Each point programs the network afresh with :func:`rramsim.studies.programming.program` (the
circuit enters the mapper's tile options there) and evaluates it with ``sweep.noise_repeats``
noisy passes, the same noise draws for every point, so the points compare with each other exactly.
``reuse`` (the configured point's :class:`~rramsim.studies.inference.accuracy.Evaluation`) stands for the
configured value instead of a second run where the sweep reaches it.
"""

from __future__ import annotations

import numpy as np

from rramsim import devmodel
from rramsim.studies.config import StudyConfig
from rramsim.studies.inference import accuracy
from rramsim.studies.inference import modes as infer
from rramsim.studies.programming import program


def _bar(it, desc, progress):
    if not progress:
        return it
    from tqdm import tqdm

    return tqdm(it, desc=desc, unit="point", leave=False)


def accuracy_vs_wire(loaded, cfg: StudyConfig, *, progress: bool = False, reuse=None):
    """Circuit accuracy for each wire resistance of ``sweep.r_wire_ohm`` (both lines).

    Returns a DataFrame with ``r_wire_ohm``, ``software``, ``ideal``, ``behavioural``,
    ``circuit``, ``tile_error_rel`` (the first three do not depend on the wires).
    """
    import pandas as pd

    c = cfg.circuit
    scfg = cfg.replace("noise", repeats=cfg.sweep.noise_repeats)
    same = c.r_wordline_ohm == c.r_bitline_ohm and not c.nonlinear_cells
    beh = reuse or accuracy.evaluate(program(loaded, cfg), loaded, scfg,
                                     modes=("software", "ideal", "behavioural"))
    rows = []
    for r in _bar(cfg.sweep.r_wire_ohm, "wire sweep", progress):
        if reuse is not None and same and float(r) == c.r_wordline_ohm:
            ev = reuse
        else:
            ev = accuracy.evaluate(program(loaded, cfg, r_wire_ohm=float(r)), loaded, scfg,
                                   modes=("circuit",))
        rows.append({"r_wire_ohm": float(r), "software": beh.accuracy["software"],
                     "ideal": beh.accuracy["ideal"], "behavioural": beh.accuracy["behavioural"],
                     "circuit": ev.accuracy["circuit"], "tile_error_rel": ev.tile_error_rel})
    return pd.DataFrame(rows)


def accuracy_vs_tile_size(loaded, cfg: StudyConfig, *, progress: bool = False, reuse=None):
    """Accuracy in every mode with square tiles of ``sweep.tile_sizes``."""
    import pandas as pd

    rows = []
    scfg = cfg.replace("noise", repeats=cfg.sweep.noise_repeats)
    for size in _bar(cfg.sweep.tile_sizes, "tile-size sweep", progress):
        size = int(size)
        if reuse is not None and cfg.mapping.tile_rows == cfg.mapping.tile_cols == size:
            ev = reuse
        else:
            ev = accuracy.evaluate(program(loaded, cfg, tile_shape=(size, size)), loaded, scfg)
        rows.append({"r_wire_ohm": cfg.circuit.r_wordline_ohm, "tile_rows": size,
                     "tile_cols": size, **ev.accuracy, "tile_error_rel": ev.tile_error_rel})
    return pd.DataFrame(rows)


def input_activity(loaded) -> list[np.ndarray]:
    """Mean |input| of every layer input over the calibration batch (for IR-aware placement)."""
    ins = infer.record_inputs(loaded.forward, loaded.data.x_calib)
    return [np.mean(np.abs(x), axis=0) for x in ins]


def accuracy_vs_placement(loaded, cfg: StudyConfig, *, reuse=None):
    """Accuracy and IR-drop output error with placement "naive" and "ir_aware" (mapper)."""
    import pandas as pd

    act = input_activity(loaded)
    scfg = cfg.replace("noise", repeats=cfg.sweep.noise_repeats)
    rows = []
    for placement in ("naive", "ir_aware"):
        if reuse is not None and placement == cfg.mapping.placement:
            ev = reuse
        else:
            hw = program(loaded, cfg, placement=placement, input_activity=act)
            ev = accuracy.evaluate(hw, loaded, scfg)
        rows.append({"placement": placement, **ev.accuracy, "tile_error_rel": ev.tile_error_rel})
    return pd.DataFrame(rows)


def formed_conductance_sampler():
    """``(shape, rng) -> conductances``: freshly electroformed cells of the device model."""
    def sample(shape, rng):
        return np.asarray(devmodel.form(shape, rng=rng).conductance, dtype=float)

    return sample
