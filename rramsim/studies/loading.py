"""Loading the network and the data set a study runs on.

:func:`load` gives a :class:`LoadedNetwork`: a :class:`rramsim.nn.Network` (anything with
``forward(x, matmul=...)``), the per-layer arrays the mapper programs, and :class:`Data` (the data
set the network was trained on: calibration inputs from its training split, the test split). The
embedded default is the digits MLP pruned by :func:`rramsim.nn.run_prune` with the configuration's
seed (the network ``rramsim prune --dataset digits --seed N`` makes). A network file is read with
``rramsim.nn.load_network_file`` when the installed ``rramsim.nn`` provides it (whole networks:
architecture, BN statistics, quantisers, masks, pairs), else with
:func:`rramsim.mapper.load_network` (dense layers only). :func:`from_network` wraps an in-memory
network (benchmarks, tests).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from rramsim import mapper, nn
from rramsim.devmodel import measured
from rramsim.errors import DataError, MappingError
from rramsim.nn import drive, experiment
from rramsim.studies.config import DATASETS, STREAM_PATCHES, StudyConfig, stream


@dataclass(eq=False)
class Data:
    """Calibration (training) and test inputs with labels, shaped as the network takes them."""

    x_calib: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str = "digits"


@dataclass(eq=False)
class LoadedNetwork:
    """A network ready to be programmed and evaluated.

    Attributes
    ----------
    name, source : str
        Network name and where it came from (for the report).
    network : object
        ``forward(x, matmul=...)`` and ``weight_layers`` (a :class:`rramsim.nn.Network`, or the
        dense stack of a legacy network file).
    data : Data
    weights, masks : list of ndarray (fan_in, fan_out)
        Logical (unmasked) weights and masks per weight layer.
    pairs : list of (G_pos, G_neg)
        Conductances with signs folded in, siemens.
    scales : list of float
        Siemens per unit weight per layer.
    cell_states : list of (state, sign) or None
        Device-model states of each layer's pairs (networks trained here), for the cells' own
        sinh read I-V.
    positions : list of ndarray (5, fan_in, fan_out) or None
        Measured pairs: each weight's cells on the read-out's array (tile, row and column of the
        ``G_pos`` cell, of the ``G_neg`` cell; signs folded in as ``pairs``), for the mapper's
        ``placement="given"``.
    pruned_pairs : list of (G_pos, G_neg) or None
        The cells of each pair when pruned (the study's ``G_0`` cells): a network file's
        RESET-state pairs or a measured array's; None: the mapper's RESET level on pruned cells.
    measured : rramsim.devmodel.measured.MeasuredReads or None
        The read-outs the pairs came from (every read), when the file is at hand.
    read : int or None
        The read ``pairs`` are at (measured pairs).
    keep_pairs : bool
        True: ``pairs`` are physical (pruned pairs at their RESET values); False: SET-state pairs
        (the mapper puts its RESET level on pruned cells).
    signs : list of ndarray or None
        Per-weight signs of the file's pairs (None: folded into ``pairs``).
    metrics : dict
        Training record (``rramsim.nn.run_prune`` or the file's metadata).
    """

    name: str
    source: str
    network: object
    data: Data
    weights: list
    masks: list
    pairs: list
    scales: list
    keep_pairs: bool = True
    signs: list | None = None
    metrics: dict = field(default_factory=dict)
    layer_names: list | None = None
    cell_states: list | None = None
    positions: list | None = None
    pruned_pairs: list | None = None
    measured: object | None = None
    read: int | None = None

    @property
    def array_shape(self) -> tuple[int, int] | None:
        """The measured array's (rows, columns) when the cells have given positions on it."""
        return None if self.measured is None else tuple(self.measured.array_shape)

    @property
    def forward(self):
        return self.network.forward

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one inference in software (dense count; the GPU's work)."""
        rows = _rows_per_inference(self.network, self.data.x_calib[:1])
        return int(sum(r * np.shape(w)[0] * np.shape(w)[1]
                       for r, w in zip(rows, self.weights, strict=True)))


def _rows_per_inference(network, x1) -> list[int]:
    """How many rows each weight layer computes for one input (patches, time steps)."""
    seen: dict[int, int] = {}

    def mm(k, x2d, w):
        seen[k] = seen.get(k, 0) + x2d.shape[0]
        return x2d @ w

    network.forward(np.asarray(x1), matmul=mm)
    return [seen.get(k, 0) // len(x1) for k in range(len(seen))]


class _DenseStack:
    """Forward pass of a dense ReLU stack (no activation after the last layer)."""

    def __init__(self, weights_eff):
        self.weights_eff = [np.asarray(w, float) for w in weights_eff]
        self.input_shape = (self.weights_eff[0].shape[0],)

    def forward(self, x, matmul=None):
        h = np.asarray(x, dtype=float).reshape(len(x), -1)
        for k, w in enumerate(self.weights_eff):
            h = h @ w if matmul is None else matmul(k, h, w)
            if k < len(self.weights_eff) - 1:
                h = np.maximum(h, 0.0)
        return h


def load_data(cfg: StudyConfig, input_shape: tuple[int, ...] | None = None) -> Data:
    """The configured data set: calibration inputs from the training split, the test split.

    ``network.dataset``: ``digits`` (embedded), ``fashion-mnist`` (IDX files) or ``fsdd``
    (recordings) from ``network.data_dir``; ``converters.calibration_samples`` training inputs
    calibrate the converters; ``run.test_samples`` > 0 keeps only the first test inputs.
    ``input_shape`` reshapes the inputs to what the network takes.
    """
    name = cfg.network.dataset or "digits"
    if name == "digits":
        ds = nn.load_digits()
    elif name in ("fashion-mnist", "fsdd"):
        if not cfg.network.data_dir:
            raise DataError(f"network.dataset {name!r} is read from files: set [network] "
                            "data_dir (or --data-dir) to the folder that holds them")
        ds = (nn.load_fashion_mnist if name == "fashion-mnist" else nn.load_fsdd)(
            cfg.network.data_dir)
    elif name == "drive":
        return _drive_data(cfg, input_shape)
    else:
        raise DataError(f"network.dataset {name!r}: the studies read {DATASETS}")
    n_cal = min(cfg.converters.calibration_samples, len(ds.x_train))
    n_test = cfg.run.test_samples or len(ds.x_test)
    shape = tuple(input_shape) if input_shape is not None else (-1,)

    def fit(x):
        x = np.asarray(x, dtype=float)
        try:
            return x.reshape(len(x), *shape)
        except ValueError as exc:
            raise DataError(f"{ds.name}: inputs of shape {x.shape[1:]} do not fit the network's "
                            f"input {shape}") from exc

    return Data(x_calib=fit(ds.x_train[:n_cal]), x_test=fit(ds.x_test[:n_test]),
                y_test=np.asarray(ds.y_test)[:n_test], name=ds.name)


def _drive_data(cfg: StudyConfig, input_shape) -> Data:
    """DRIVE: calibration patches from the training split, test patches with per-pixel labels
    from the test split (``rramsim.nn.drive``), at the network's patch size; accuracy is then
    the fraction of pixels classified right. Patch positions are seeded by ``run.seed``."""
    if not cfg.network.data_dir:
        raise DataError("network.dataset 'drive' is read from files: set [network] data_dir "
                        "(or --data-dir) to the folder with training/ and test/")
    size = int(input_shape[-1]) if input_shape is not None else 64
    rng = stream(cfg, STREAM_PATCHES)
    x_cal, _ = drive.random_patches(drive.load_drive_split(cfg.network.data_dir, "training"),
                                    cfg.converters.calibration_samples, size=size, rng=rng)
    x_te, y_te = drive.random_patches(drive.load_drive_split(cfg.network.data_dir, "test"),
                                      cfg.run.test_samples or 256, size=size, rng=rng)
    return Data(x_calib=np.asarray(x_cal, float), x_test=np.asarray(x_te, float), y_test=y_te,
                name=f"drive ({size} x {size} test patches, pixel accuracy)")


def from_network(network, data: Data, *, pairs, scales, keep_pairs: bool = False,
                 name: str | None = None, source: str = "in memory",
                 device=None) -> LoadedNetwork:
    """Wrap an in-memory :class:`rramsim.nn.Network` with its conductance pairs and scales.

    ``pairs[k] = (G_pos, G_neg)`` with signs folded in, such that ``(G_pos - G_neg) / scales[k]``
    is layer k's logical weight (e.g. :meth:`rramsim.nn.DeviceNetwork.conductance_pairs`, SET
    state: ``keep_pairs=False``). ``device`` (the :class:`rramsim.nn.DeviceNetwork`) gives the
    cells' device states for their own sinh read I-V. A training record goes into the result's
    ``metrics`` (``dataclasses.replace(loaded, metrics=...)``).
    """
    wl = network.weight_layers
    weights = [np.asarray(la.weight, float) for la in wl]
    masks = [np.asarray(la.mask, bool) for la in wl]
    if len(pairs) != len(wl) or len(scales) != len(wl):
        raise MappingError(f"{len(wl)} weight layers but {len(pairs)} pairs and {len(scales)} "
                           "scales")
    return LoadedNetwork(name=name or network.name, source=source, network=network, data=data,
                         weights=weights, masks=masks, pairs=[tuple(p) for p in pairs],
                         scales=[float(s) for s in scales], keep_pairs=keep_pairs,
                         layer_names=layer_names(network),
                         cell_states=None if device is None else
                         [(la.state, la.sign) for la in device.layers])


def training_record(metadata) -> dict:
    """The training record in a network file's metadata: ``rramsim prune`` keeps its metrics
    under ``"metrics"``; other metadata is taken as it is."""
    meta = dict(metadata or {})
    inner = meta.get("metrics")
    return dict(inner) if isinstance(inner, dict) else meta


def _quantisers(network) -> list[tuple[str, str, str]]:
    """``(layer, mode, levels used in evaluation)`` of every activation quantiser of
    ``network`` (a recurrent layer's fed-back state included)."""
    out = []
    for k, la in enumerate(getattr(network, "layers", None) or []):
        name = f"{type(la).__name__.lower()}{k}"
        if isinstance(la, nn.Quantize):
            out.append((name, la.mode, la.inference))
        elif isinstance(la, nn.ReLURNN) and la.state_bits is not None:
            out.append((f"{name} state", la.state_mode, la.state_inference))
    return out


def quantiser_levels(loaded: LoadedNetwork) -> dict | None:
    """Which activation levels the network was trained with, which the study's inference uses
    and what the difference cost, or None for a network without activation quantisers.

    ``quantisers``: ``(layer, mode, levels in evaluation)`` as the network holds them now, which
    is what every mode of the study (software, ideal, behavioural, circuit) runs: "fixed" (a fixed
    range, or per-batch levels fixed after training) or "batch" (levels recomputed from each
    evaluated batch). ``training``: "per-batch MODE/..." or "fixed ranges". ``inference``: "fixed"
    or "batch" (any quantiser on per-batch levels). ``record`` / ``baseline_record``: the training
    run's ``quantiser_levels`` (:func:`rramsim.nn.run_prune`'s metrics: the test accuracy with
    per-batch and with fixed levels and their difference), None where the record does not say.
    """
    qs = _quantisers(loaded.network)
    if not qs:
        return None
    per_batch = sorted({mode for _, mode, _ in qs if mode != "fixed"})
    m = loaded.metrics or {}
    base = m.get("baseline") if isinstance(m.get("baseline"), dict) else {}
    return {"quantisers": qs,
            "training": "per-batch " + "/".join(per_batch) if per_batch else "fixed ranges",
            "inference": "batch" if any(inf == "batch" for *_, inf in qs) else "fixed",
            "record": m.get("quantiser_levels"),
            "baseline_record": base.get("quantiser_levels")}


def layer_names(network) -> list[str]:
    """Names of the weight layers for tables: kind and index (``conv2d0``, ``relurnn2``, ...)."""
    return [f"{type(la).__name__.lower()}{k}" for k, la in enumerate(network.weight_layers)]


def _scale_fit(weights_eff: np.ndarray, d: np.ndarray) -> float:
    """Siemens per unit weight by least squares over kept weights: (G+ - G-) ~ g * w."""
    w = np.asarray(weights_eff)
    kept = w != 0
    den = float(np.sum(w[kept] ** 2))
    if den == 0:
        raise MappingError("cannot infer the conductance scale: a layer has no kept weight")
    return float(np.sum(d[kept] * w[kept]) / den)


def _no_data(input_shape) -> Data:
    shape = tuple(input_shape)
    return Data(x_calib=np.zeros((0, *shape)), x_test=np.zeros((0, *shape)),
                y_test=np.zeros(0, int), name="(no data set read)")


def _load_file(cfg: StudyConfig, with_data: bool = True) -> LoadedNetwork:
    path = cfg.network.path
    if hasattr(nn, "load_network_file"):
        nf = nn.load_network_file(path)
        net = nf.network
        if not cfg.network.dataset:   # the data set the network was trained on
            cfg = cfg.replace("network", dataset=getattr(nf, "dataset", None) or "digits",
                              data_dir=cfg.network.data_dir or getattr(nf, "data_dir", "") or "")
        data = load_data(cfg, net.input_shape) if with_data else _no_data(net.input_shape)
        wl = net.weight_layers
        eff = [la.effective_weight() for la in wl]
        if nf.pairs is None:
            cmap = mapper.LinearConductanceMap()
            progs = [cmap.program(np.asarray(la.weight, float)) for la in wl]
            pairs = [(np.where(s > 0, gp, gm), np.where(s > 0, gm, gp))
                     for s, gp, gm, _ in progs]
            scales = [sc for *_, sc in progs]
        else:
            pairs = [tuple(np.asarray(a, float) for a in p) for p in nf.pairs]
            scales = (list(nf.scales) if nf.scales is not None else
                      [_scale_fit(e, p[0] - p[1]) for e, p in zip(eff, pairs, strict=True)])
        lo = from_network(net, data, pairs=pairs, scales=scales, keep_pairs=False,
                          name=f"{net.name} from {path}", source=f"file `{path}`")
        meta = dict(getattr(nf, "metadata", None) or {})
        lo = dataclasses.replace(lo, metrics=training_record(meta))
        return _with_measured(lo, cfg, meta, nf.layers) if nf.pairs is not None else lo
    # legacy: dense layers through the mapper's file format
    lnet = mapper.load_network(path)
    if any(ly.kind != "dense" for ly in lnet.layers):
        raise MappingError(f"{path}: convolution layers need the whole-network file format "
                           "(rramsim.nn.load_network_file), which this rramsim.nn lacks")
    weights = [np.asarray(ly.weight, float) for ly in lnet.layers]
    masks = [np.asarray(ly.mask, bool) for ly in lnet.layers]
    eff = [w * m for w, m in zip(weights, masks, strict=True)]
    scales = [float(ly.scale) if ly.scale else
              _scale_fit(e, ly.sign * (ly.g_plus - ly.g_minus))
              for ly, e in zip(lnet.layers, eff, strict=True)]
    stack = _DenseStack(eff)
    data = load_data(cfg, stack.input_shape) if with_data else _no_data(stack.input_shape)
    name = "-".join([str(weights[0].shape[0])] + [str(w.shape[1]) for w in weights])
    return LoadedNetwork(name=f"MLP {name} from {path}", source=f"file `{path}`", network=stack,
                         data=data, weights=weights, masks=masks,
                         pairs=[(np.asarray(ly.g_plus), np.asarray(ly.g_minus))
                                for ly in lnet.layers],
                         scales=scales, keep_pairs=False,
                         signs=[np.asarray(ly.sign) for ly in lnet.layers])


def _pruned_pairs(layers) -> list | None:
    """Each layer's RESET-state pairs (``g_plus_pruned``, ``g_minus_pruned`` of the mapper's
    part of a network file, signs folded in as the loaded pairs), or None when a layer lacks
    them (files written before they were stored: the mapper's RESET level then)."""
    if any(ly.g_plus_pruned is None for ly in layers):
        return None
    return [(np.where(ly.sign > 0, ly.g_plus_pruned, ly.g_minus_pruned),
             np.where(ly.sign > 0, ly.g_minus_pruned, ly.g_plus_pruned)) for ly in layers]


def _with_measured(lo: LoadedNetwork, cfg: StudyConfig, meta: dict, layers) -> LoadedNetwork:
    """A network file's pruned pairs at their RESET-state cells (the mapper's part of the file,
    signs folded in as ``lo.pairs``), when it carries them; for measured cells also their
    positions and the read-outs they came from (``[network] device_file`` or the file the
    network file records); ``layers``: the mapper's part of the file, as the file was read."""
    pruned = _pruned_pairs(layers)
    if pruned is None:
        return lo
    if any(ly.positions is None for ly in layers):
        return dataclasses.replace(lo, pruned_pairs=pruned)
    positions = []
    for ly in layers:
        t, r1, c1, r2, c2 = ly.positions
        pos = ly.sign > 0
        positions.append(np.stack([t, np.where(pos, r1, r2), np.where(pos, c1, c2),
                                   np.where(pos, r2, r1), np.where(pos, c2, c1)]))
    where = meta.get("metrics", {}) if isinstance(meta.get("metrics"), dict) else {}
    path = cfg.network.device_file or meta.get("device_file") or where.get("device_file")
    if not path:
        raise DataError(f"{cfg.network.path}: its pairs are measured cells but it names no "
                        "read-out file: set [network] device_file")
    reads = measured.read_measured(path)
    read = int(meta.get("read", 0) or 0)
    kept, _ = measured.pairs_at(reads, positions[0], read)
    if not np.allclose(np.stack(kept), np.stack(lo.pairs[0]), rtol=1e-6, atol=0):
        raise DataError(f"{path}: its read {read} does not hold the pairs of "
                        f"{cfg.network.path} (another read-out file?)")
    return dataclasses.replace(lo, positions=positions, pruned_pairs=pruned, measured=reads,
                               read=read, source=f"{lo.source}; {reads.describe()}")


def at_read(lo: LoadedNetwork, read: int) -> LoadedNetwork:
    """``lo`` with every measured pair (kept and pruned) at read ``read`` of its read-outs."""
    if lo.measured is None:
        raise DataError(f"{lo.name}: no measured read-outs to take read {read} from")
    kept, pruned = zip(*(measured.pairs_at(lo.measured, p, read) for p in lo.positions),
                       strict=True)
    return dataclasses.replace(lo, pairs=list(kept), pruned_pairs=list(pruned), read=read)


def reads_used(lo: LoadedNetwork, cfg: StudyConfig) -> list[int] | None:
    """The reads the test batches cycle through (``[network] reads``), or None (no read-outs)."""
    if lo.measured is None:
        return None
    n = lo.measured.n_reads if cfg.network.reads == 0 else min(cfg.network.reads,
                                                               lo.measured.n_reads)
    rest = [r for r in range(lo.measured.n_reads) if r != lo.read]
    return [lo.read, *rest][:n]


def experiment_config(cfg: StudyConfig, *, progress: bool = False):
    """The :class:`rramsim.nn.ExperimentConfig` of ``[train]`` (and ``[network] data_dir``).

    The task's own training, as ``rramsim prune --dataset TASK`` runs it
    (:func:`rramsim.nn.experiment.task_train_configs`: optimiser, precision, the conventional
    baseline's settings; 3-bit activations for spoken digits), with ``[train]`` epochs, batch and
    lr for the pruning (the scores) and its flip limiter, kept fraction and MLP sizes.
    """
    t = cfg.train
    limiter = (nn.FlipLimiter(t.limiter_start_rel, t.limiter_end_rel)
               if t.limiter_start_rel > 0 else None)
    tr, base = experiment.task_train_configs(t.task, flip_limiter=limiter, progress=progress)
    return nn.ExperimentConfig(
        dataset=t.task, data_dir=cfg.network.data_dir or None, hidden=tuple(t.hidden), k=t.k,
        train=dataclasses.replace(tr, epochs=t.epochs, batch_size=t.batch, lr=t.lr),
        baseline=t.baseline, baseline_train=base, max_train=t.max_train or None,
        activation_bits=3 if t.task == "fsdd" else None)


def train_embedded(cfg: StudyConfig, *, progress: bool = False):
    """Train the embedded network as ``[train]`` says (``rramsim.nn.run_prune``, run seed)."""
    if cfg.train.task != "digits" and not cfg.network.data_dir:
        raise DataError(f"[train] task = {cfg.train.task!r} reads its data set from files: set "
                        "[network] data_dir (or --data-dir)")
    return nn.run_prune(experiment_config(cfg, progress=progress), seed=cfg.run.seed)


def load(cfg: StudyConfig, *, progress: bool = False, with_data: bool = True) -> LoadedNetwork:
    """The configured network (embedded default or ``network.path``) and its data.

    ``with_data=False`` skips reading a network file's data set (for commands that only need
    the tiles, e.g. ``rramsim netlist``).
    """
    if cfg.network.path:
        lo = _load_file(cfg, with_data)
        if not with_data:
            return lo
    else:
        if cfg.network.dataset not in ("", cfg.train.task):
            raise DataError(f"network.dataset {cfg.network.dataset!r}: the embedded network is "
                            f"trained on [train] task = {cfg.train.task!r}; set the task or give "
                            "a network trained on that data set ([network] path)")
        cfg = cfg.replace("network", dataset=cfg.train.task)
        run = train_embedded(cfg, progress=progress)
        net = run.network
        data = load_data(cfg, net.input_shape)
        t = cfg.train
        lo = LoadedNetwork(
            name=f"{net.name} on {t.task}, pruned (edge-popup, k = {t.k:g}), seed {cfg.run.seed}",
            source=f"trained here: rramsim.nn.run_prune({t.task}, seed={cfg.run.seed}) as "
                   "[train] says",
            network=net, data=data,
            weights=[np.asarray(w, float) for w in run.device.weights()],
            masks=[np.asarray(m, bool) for m in net.masks()],
            # physical pairs: pruned weights at the device model's RESET conductances
            pairs=[la.pairs(la.conductance) for la in run.device.layers],
            scales=[float(la.scale) for la in run.device.layers], keep_pairs=True,
            metrics=run.metrics,
            cell_states=[(la.state, la.sign) for la in run.device.layers])
    shape_in = tuple(getattr(lo.network, "input_shape", lo.data.x_test.shape[1:]))
    if tuple(lo.data.x_test.shape[1:]) != shape_in:
        raise DataError(f"the network takes inputs {shape_in} but {lo.data.name} has "
                        f"{lo.data.x_test.shape[1:]}")
    return lo
