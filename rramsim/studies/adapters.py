"""Joins the project's parts for the studies: data and network (``rramsim.nn``), placement
(``rramsim.mapper``), formed conductances and programming cost (``rramsim.devmodel``).

:func:`load` gives a :class:`LoadedNetwork`: the network's forward pass, the data, and the
:class:`~rramsim.studies.inference.HardwareNetwork` built from the mapper's placement
(:func:`hardware_from_mapping`). The embedded default is the digits MLP pruned by
:func:`rramsim.nn.run_prune` with the configuration's seed (the same network ``rramsim prune
--dataset digits --seed N`` makes); a user's network file (``rramsim prune --out``) is read with
:func:`rramsim.mapper.load_network`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rramsim.errors import DataError, MappingError
from rramsim.studies import inference as inf
from rramsim.studies.config import StudyConfig
from rramsim.studies.study import Data


@dataclass(eq=False)
class LoadedNetwork:
    """A network ready for the studies.

    Attributes
    ----------
    name, source : str
        Network name and where it came from (for the report).
    forward : callable
        ``forward(x, matmul=f)`` of the network (``rramsim.nn.Network.forward`` or the dense
        ReLU stack of a network file).
    data : Data
    hardware : HardwareNetwork
        Tiles (without the configuration's circuit parameters) and layer plans.
    macs : int
        Multiply-accumulates of one inference in software (dense count, the GPU's work).
    weights, masks, pairs, g_per_weight : lists per layer
        Unmasked weights, masks, (G+, G-) with signs folded in (siemens), siemens per unit
        weight; kept for re-mapping at other tile sizes.
    metrics : dict
        Training metrics (``rramsim.nn.run_prune``) when the network was trained here.
    """

    name: str
    source: str
    forward: object
    data: Data
    hardware: inf.HardwareNetwork
    macs: int
    weights: list
    masks: list
    pairs: list
    g_per_weight: list
    metrics: dict = field(default_factory=dict)
    signs: list | None = None


def load_data(cfg: StudyConfig) -> Data:
    """The configured data set: calibration inputs from the training split, the test split.

    The digits split is fixed by :func:`rramsim.nn.load_digits`; calibration uses the first
    ``converters.calibration_samples`` training images; ``run.test_samples`` > 0 keeps only the
    first test images.
    """
    from rramsim import nn

    if cfg.network.dataset not in ("", "digits"):
        raise DataError(f"network.dataset {cfg.network.dataset!r}: the studies embed only "
                        "'digits'; other data sets go through `rramsim prune` first")
    ds = nn.load_digits()
    n_cal = min(cfg.converters.calibration_samples, len(ds.x_train))
    n_test = cfg.run.test_samples or len(ds.x_test)
    x_test = ds.x_test.reshape(len(ds.x_test), -1)[:n_test]
    return Data(x_calib=ds.x_train.reshape(len(ds.x_train), -1)[:n_cal], x_test=x_test,
                y_test=np.asarray(ds.y_test)[:n_test], name=ds.name)


def _dense_forward(weights_eff: list[np.ndarray]):
    """Forward pass of a dense ReLU stack (no activation after the last layer)."""

    def forward(x, matmul=None):
        h = np.asarray(x, dtype=float).reshape(len(x), -1)
        for k, w in enumerate(weights_eff):
            h = h @ w if matmul is None else matmul(k, h, w)
            if k < len(weights_eff) - 1:
                h = np.maximum(h, 0.0)
        return h

    return forward


def _require_mapper():
    from rramsim import mapper

    missing = [n for n in ("network_from_layers", "map_network", "load_network")
               if not hasattr(mapper, n)]
    if missing:
        raise MappingError(f"rramsim.mapper does not provide {', '.join(missing)} yet; the "
                           "studies need the mapper's placement")
    return mapper


def _scale(weights_eff: np.ndarray, pairs) -> float:
    """Siemens per unit weight by least squares over kept weights: (G+ - G-) ~ g * w."""
    d = np.asarray(pairs[0]) - np.asarray(pairs[1])
    w = np.asarray(weights_eff)
    kept = w != 0
    den = float(np.sum(w[kept] ** 2))
    if den == 0:
        raise MappingError("cannot infer the conductance scale: a layer has no kept weight")
    return float(np.sum(d[kept] * w[kept]) / den)


def hardware_from_mapping(mapping, weights_eff: list[np.ndarray], g_per_weight: list[float],
                          *, activations: list[str] | None = None) -> inf.HardwareNetwork:
    """Layer plans from the mapper's placement (:attr:`rramsim.mapper.Mapping.pieces`).

    A piece puts weight ``(sources[a], targets[b])`` on cells ``(rows_pos[a], cols_pos[b])`` (+)
    and ``(rows_neg[a], cols_neg[b])`` (-) of one tile. Columns scheme (``rows_pos ==
    rows_neg``): the piece's rows carry its sources with polarity +1, its (+) and (-) columns its
    targets with polarity +1 and -1. Rows scheme (``cols_pos == cols_neg``): (+) rows driven with
    +v, (-) rows with -v, one column per target. Pieces of the same layer and column block are
    partial sums of the same outputs; :func:`rramsim.studies.inference.layer_product` adds them
    after each column's ADC.
    """
    tiles = tuple(mapping.tiles)
    n_layers = len(weights_eff)
    acts = activations or (["relu"] * (n_layers - 1) + ["none"])
    per_layer: list[list[inf.TileSlice]] = [[] for _ in range(n_layers)]
    for p in mapping.pieces:
        k = int(p.layer)
        if not 0 <= k < n_layers:
            raise MappingError(f"piece on tile {p.tile} belongs to layer {k}, but the network "
                               f"has {n_layers} layers")
        src, dst = np.asarray(p.sources), np.asarray(p.targets)
        rp, rn = np.asarray(p.rows_pos), np.asarray(p.rows_neg)
        cp, cn = np.asarray(p.cols_pos), np.asarray(p.cols_neg)
        if np.array_equal(rp, rn):          # columns scheme
            sl = inf.TileSlice(tile=int(p.tile), rows=rp, row_inputs=src,
                               row_sign=np.ones(rp.size), cols=np.concatenate([cp, cn]),
                               col_outputs=np.concatenate([dst, dst]),
                               col_sign=np.concatenate([np.ones(cp.size), -np.ones(cn.size)]))
        elif np.array_equal(cp, cn):        # rows scheme
            sl = inf.TileSlice(tile=int(p.tile), rows=np.concatenate([rp, rn]),
                               row_inputs=np.concatenate([src, src]),
                               row_sign=np.concatenate([np.ones(rp.size), -np.ones(rn.size)]),
                               cols=cp, col_outputs=dst, col_sign=np.ones(cp.size))
        else:
            raise MappingError(f"layer {k} tile {p.tile}: a piece whose (+) and (-) cells share "
                               "neither rows nor columns; unknown differential scheme")
        per_layer[k].append(sl)
    layers = []
    for k in range(n_layers):
        if not per_layer[k]:
            raise MappingError(f"layer {k} has no cells in the mapping")
        layers.append(inf.LayerPlan(name=f"layer{k}", weights=np.asarray(weights_eff[k], float),
                                    g_per_weight=float(g_per_weight[k]),
                                    slices=tuple(per_layer[k]), activation=acts[k]))
    return inf.HardwareNetwork(tiles=tiles, layers=tuple(layers))


def map_layers(weights, masks, pairs, g_per_weight, cfg: StudyConfig, *,
               tile_shape: tuple[int, int] | None = None, keep_pairs: bool = True,
               signs=None, placement: str | None = None, input_activity=None
               ) -> inf.HardwareNetwork:
    """Map the layers with :func:`rramsim.mapper.map_network` and build the hardware network.

    ``keep_pairs=True``: ``pairs`` are the physical conductances (pruned pairs at their RESET
    values from the device model, signs folded in, ``signs`` all +1) and the mapper keeps them
    (``g_reset=None``). ``keep_pairs=False``: ``pairs`` are SET-state pairs (a network file) and
    the mapper puts its default RESET level on pruned cells. ``placement`` overrides the
    configured one; ``input_activity`` (mean |input| per layer input) guides ``"ir_aware"``.
    """
    mapper = _require_mapper()
    if signs is None and keep_pairs:
        signs = [np.ones(np.shape(w), dtype=np.int8) for w in weights]
    net = mapper.network_from_layers([np.asarray(w, float) for w in weights],
                                     [np.asarray(m, bool) for m in masks], pairs,
                                     scales=list(g_per_weight), signs=signs)
    shape = tile_shape or (cfg.mapping.tile_rows, cfg.mapping.tile_cols)
    g_reset = None if keep_pairs else mapper.DEFAULT_G_RESET
    mapping = mapper.map_network(net, tile_shape=shape, scheme=cfg.mapping.scheme,
                                 placement=placement or cfg.mapping.placement, g_reset=g_reset,
                                 input_activity=input_activity)
    eff = [np.asarray(w, float) * np.asarray(m, bool) for w, m in zip(weights, masks, strict=True)]
    return hardware_from_mapping(mapping, eff, g_per_weight)


def load(cfg: StudyConfig, *, progress: bool = False) -> LoadedNetwork:
    """The configured network (embedded default or file), its data and its hardware network."""
    data = load_data(cfg)
    if cfg.network.path:
        mapper = _require_mapper()
        if not hasattr(mapper, "load_network"):
            raise MappingError("rramsim.mapper does not provide load_network yet")
        net = mapper.load_network(cfg.network.path)
        if any(ly.kind != "dense" for ly in net.layers):
            raise MappingError(f"{cfg.network.path}: the studies run dense (MLP) network files; "
                               "convolution layers need their architecture's forward pass")
        weights = [np.asarray(ly.weight, float) for ly in net.layers]
        masks = [np.asarray(ly.mask, bool) for ly in net.layers]
        pairs = [(np.asarray(ly.g_plus), np.asarray(ly.g_minus)) for ly in net.layers]
        file_signs = [np.asarray(ly.sign) for ly in net.layers]
        eff = [w * m for w, m in zip(weights, masks, strict=True)]
        scales = [float(ly.scale) if ly.scale else _scale(e, (ly.sign * ly.g_plus,
                                                             ly.sign * ly.g_minus))
                  for ly, e in zip(net.layers, eff, strict=True)]
        forward = _dense_forward(eff)
        name = "-".join([str(weights[0].shape[0])] + [str(w.shape[1]) for w in weights])
        name = f"MLP {name} from {cfg.network.path}"
        source = f"file `{cfg.network.path}`"
        metrics: dict = {}
    else:
        import dataclasses

        from rramsim import nn

        exp = nn.ExperimentConfig()
        exp = dataclasses.replace(exp, train=dataclasses.replace(exp.train, progress=progress))
        run = nn.run_prune(exp, seed=cfg.run.seed)
        net = run.network
        masks = [np.asarray(m, bool) for m in net.masks()]
        eff = [np.asarray(w, float) for w in net.effective_weights()]
        weights = [np.asarray(w, float) for w in run.device.weights()]   # logical (SET-state)
        # physical pairs: pruned weights at the device model's RESET conductances
        pairs = [la.pairs(la.conductance) for la in run.device.layers]
        scales = [float(la.scale) for la in run.device.layers]
        forward = net.forward
        name = f"{net.name} on digits, pruned (edge-popup, k = 0.5), seed {cfg.run.seed}"
        source = f"embedded default: rramsim.nn.run_prune(digits, seed={cfg.run.seed})"
        metrics = run.metrics
    for k, (e, m) in enumerate(zip(eff, masks, strict=True)):
        if e.shape != m.shape:
            raise MappingError(f"layer {k}: weights {e.shape} and mask {m.shape} differ")
    if eff[0].shape[0] != data.x_test.shape[1]:
        raise DataError(f"the network takes {eff[0].shape[0]} inputs but {data.name} has "
                        f"{data.x_test.shape[1]}")
    signs = file_signs if cfg.network.path else None
    hw = map_layers(weights, masks, pairs, scales, cfg, keep_pairs=not cfg.network.path,
                    signs=signs)
    macs = int(sum(w.shape[0] * w.shape[1] for w in eff))
    return LoadedNetwork(name=name, source=source, forward=forward, data=data, hardware=hw,
                         macs=macs, weights=list(weights), masks=masks, pairs=list(pairs),
                         g_per_weight=scales, metrics=metrics, signs=signs)


def input_activity(loaded: LoadedNetwork) -> list[np.ndarray]:
    """Mean |input| of every layer input over the calibration batch (for IR-aware placement)."""
    ins = inf.record_inputs(loaded.forward, loaded.data.x_calib)
    return [np.mean(np.abs(x), axis=0) for x in ins]


def accuracy_vs_placement(loaded: LoadedNetwork, cfg: StudyConfig, *, reuse=None):
    """Accuracy and IR-drop output error with placement "naive" and "ir_aware" (mapper).

    ``reuse``: the evaluation of the configured placement. Returns a DataFrame with
    ``placement``, ``software``, ``ideal``, ``behavioural``, ``circuit``, ``tile_error_rel``.
    """
    import pandas as pd

    from rramsim.studies import study as st

    act = input_activity(loaded)
    scfg = cfg.replace("noise", repeats=cfg.sweep.noise_repeats)
    rows = []
    for placement in ("naive", "ir_aware"):
        if reuse is not None and placement == cfg.mapping.placement:
            ev = reuse
        else:
            hw = map_layers(loaded.weights, loaded.masks, loaded.pairs, loaded.g_per_weight, cfg,
                            keep_pairs=not cfg.network.path, signs=loaded.signs,
                            placement=placement, input_activity=act)
            ev = st.evaluate(st.apply_circuit_config(hw, cfg), loaded.forward, loaded.data, scfg)
        rows.append({"placement": placement, **ev.accuracy, "tile_error_rel": ev.tile_error_rel})
    return pd.DataFrame(rows)


def accuracy_vs_tile_size(loaded: LoadedNetwork, cfg: StudyConfig, *, progress: bool = False,
                          reuse=None):
    """Software, behavioural and circuit accuracy with square tiles of ``cfg.sweep.tile_sizes``.

    ``reuse``: the evaluation of the configured tile shape (used for that size if square).
    """
    import pandas as pd

    from rramsim.studies import study as st

    rows = []
    it = cfg.sweep.tile_sizes
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="tile-size sweep", unit="size", leave=False)
    for size in it:
        if reuse is not None and cfg.mapping.tile_rows == cfg.mapping.tile_cols == int(size):
            rows.append({"r_wire_ohm": cfg.circuit.r_wordline_ohm, "tile_rows": int(size),
                         "tile_cols": int(size), **reuse.accuracy,
                         "tile_error_rel": reuse.tile_error_rel})
            continue
        hw = map_layers(loaded.weights, loaded.masks, loaded.pairs, loaded.g_per_weight, cfg,
                        tile_shape=(int(size), int(size)), keep_pairs=not cfg.network.path,
                        signs=loaded.signs)
        hw = st.apply_circuit_config(hw, cfg)
        ev = st.evaluate(hw, loaded.forward, loaded.data,
                         cfg.replace("noise", repeats=cfg.sweep.noise_repeats),
                         modes=("software", "ideal", "behavioural", "circuit"))
        rows.append({"r_wire_ohm": cfg.circuit.r_wordline_ohm, "tile_rows": int(size),
                     "tile_cols": int(size), **ev.accuracy, "tile_error_rel": ev.tile_error_rel})
    return pd.DataFrame(rows)


def formed_conductance_sampler():
    """``(shape, rng) -> conductances``: freshly electroformed cells of the device model."""
    from rramsim import devmodel

    def sample(shape, rng):
        return np.asarray(devmodel.form(shape, rng=rng).conductance, dtype=float)

    return sample


def programming_costs(loaded: LoadedNetwork, cfg: StudyConfig) -> dict | None:
    """Programming cost of deployment by pruning vs write-and-verify, from ``rramsim.nn``'s run.

    Pruning: electroform every cell once (one pulse each) and RESET the pruned pairs;
    write-and-verify (the "precise tuning" baseline, conventionally trained weights): the same
    forming plus program-and-verify pulses to each target (``devmodel.write_verify``).
    Returns None for networks not trained here (no programming history).
    """
    m = loaded.metrics
    if not m or "deploy" not in m:
        return None
    form_p, form_e = int(m["forming"]["pulses"]), float(m["forming"]["energy_j"])
    dep = m["deploy"]
    rows = [["electroforming (both)", m["n_cells"], form_p, f"{form_e * 1e6:.3g} uJ"],
            ["pruning: RESET of pruned pairs", dep["cell_ops"], dep["pulses"],
             f"{dep['energy_j'] * 1e6:.3g} uJ"],
            ["pruning in situ during training (mask flips x 2 cells)", m["programming_ops"],
             "", ""]]
    out = {"prune_pulses": form_p + int(dep["pulses"]),
           "prune_energy_J": form_e + float(dep["energy_j"])}
    base = m.get("baseline")
    text = (f"From the training run (rramsim.nn.run_prune, seed {m['seed']}): {m['n_weights']} "
            f"weights on {m['n_cells']} cells. Pruned network's test accuracy with programmed "
            f"conductances and read noise: {m['test_accuracy_programmed'] * 100:.1f} %.")
    if base:
        rows.append(["write-and-verify (baseline, tolerance "
                     f"{base['tolerance'] * 100:g} %)", base["cell_ops"], base["pulses"],
                     f"{base['energy_j'] * 1e6:.3g} uJ"])
        out["wv_pulses"] = form_p + int(base["pulses"])
        out["wv_energy_J"] = form_e + float(base["energy_j"])
        text += (f" Baseline (conventionally trained, write-and-verify): "
                 f"{base['test_accuracy_programmed'] * 100:.1f} % programmed, "
                 f"{base['test_accuracy_software'] * 100:.1f} % in software"
                 + (" (write-verify stand-in)" if base.get("write_verify_stand_in") else "")
                 + f". Deployment pulses including forming: pruning {out['prune_pulses']}, "
                   f"write-and-verify {out['wv_pulses']}; energy "
                   f"{out['prune_energy_J'] * 1e6:.3g} uJ vs {out['wv_energy_J'] * 1e6:.3g} uJ.")
    else:
        out["wv_pulses"] = "n/a"
    out["rows"] = rows
    out["text"] = text
    return out
