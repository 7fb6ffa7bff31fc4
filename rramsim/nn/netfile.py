"""Network files that carry the whole network: architecture, weights, masks, scores, BN statistics,
quantiser settings, the device pairs, and where the data came from.

One ``.npz`` (NumPy's zip of ``.npy`` arrays; no pickles) holds two readers' parts:

* the **mapper's part** (``meta``, ``layer{k}/weight|mask|sign|g_plus|g_minus``, see
  :mod:`rramsim.mapper.io`): every weight layer in the crossbar layout ``(fan_in, fan_out)``, so
  :func:`rramsim.mapper.load_network` reads any such file as before;
* the **network's part**: ``nn`` (0-d unicode array holding JSON) and the arrays ``nn/scores{i}``
  (edge-popup scores of weight layer ``i``), optional ``nn/pruned{i}`` (the pruned weights the
  forward pass takes where the mask is False, device pairs' RESET-state weights; 0 without it),
  ``nn/running_mean{j}``, ``nn/running_var{j}`` (batch norm at position ``j`` of the layer list)
  and, for affine batch norm, ``nn/bn_gamma{j}`` and ``nn/bn_beta{j}``.

``nn`` JSON (format version 2)::

    {"format": "rramsim-nn", "format_version": 2, "name": ..., "input_shape": [...],
     "layers": [{"type": "Conv2d", "args": {"in_channels": 1, ...}, "trainable": "scores"}, ...],
     "has_pairs": true, "dataset": "fashion-mnist", "data_dir": null, "metadata": {...}}

``layers`` lists every layer (weight layers, activations, pooling, BN, quantisers, skip
stashes/concatenations) as type + constructor arguments; :func:`load_network_file` rebuilds the
:class:`~rramsim.nn.network.Network` from it. A file without ``nn`` (written before this format,
"version 1") must be a chain of dense layers and loads as an MLP with ReLUs between them and no
quantisers. Pairs: ``w = (G_pos - G_neg) / scale`` with the sign folded in (arXiv 2311.07164:
``w = sign (G+ - G-) / scale``).
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rramsim.errors import DataError, RramsimError
from rramsim.mapper.io import check_network_path, json_field, load_network, open_npz, read_meta
from rramsim.nn import layers as L
from rramsim.nn.network import Network

FORMAT_NAME = "rramsim-nn"
#: Version written by :func:`save_network_file`; 1 is the mapper-only file of dense layers.
FORMAT_VERSION = 2
LEGACY_VERSION = 1

#: Constructor arguments of every layer type, as attribute names of the layer.
LAYER_ARGS: dict[str, tuple[str, ...]] = {
    "Dense": ("fan_in", "fan_out", "k"),
    "Conv2d": ("in_channels", "out_channels", "kernel", "stride", "padding", "k"),
    "ReLURNN": ("input_size", "hidden_size", "k", "state_bits", "state_max", "state_scale",
                "state_mode", "state_levels", "state_inference", "state_grad", "raw_output"),
    "ReLU": (),
    "Flatten": (),
    "ToSequence": (),
    "TimeMean": (),
    "Upsample2x": (),
    "MaxPool2d": ("size",),
    "BatchNorm": ("channels", "momentum", "eps", "affine"),
    "Quantize": ("bits", "x_max", "calibrate", "mode", "signed", "levels", "inference"),
    "Stash": ("name",),
    "Concat": ("name",),
}


#: Arguments a file may leave out (written before they existed); the constructor's default applies.
OPTIONAL_ARGS: dict[str, frozenset] = {
    "ReLURNN": frozenset({"state_bits", "state_max", "state_scale", "state_mode", "state_levels",
                          "state_inference", "state_grad", "raw_output"}),
    "BatchNorm": frozenset({"affine"}),
    "Quantize": frozenset({"mode", "signed", "levels", "inference"}),
}


@dataclass(eq=False)
class NetworkFile:
    """What :func:`load_network_file` returns.

    Attributes
    ----------
    network : Network
        The rebuilt network (architecture, weights, masks, scores, BN running statistics,
        quantiser settings, each weight layer's ``trainable`` mode).
    pairs : list of (ndarray, ndarray) or None
        Per weight layer the SET-state ``(G_pos, G_neg)`` in siemens, ``(fan_in, fan_out)``, the
        sign folded in (``weight = (G_pos - G_neg) / scale``); None when the file was written
        without device pairs (the mapper then holds its linear map's conductances).
    scales : list of float or None
        Siemens per weight unit of each layer, with ``pairs``.
    signs : list of ndarray or None
        The pairs' random signs (int8, +-1), with ``pairs``.
    dataset : str or None
        Data set the network was trained on (None for version-1 files).
    data_dir : str or None
        Where that data set was read from.
    metadata : dict
        Free JSON metadata (for ``rramsim prune``: the training configuration and metrics).
    format_version : int
        2, or 1 for a dense file written before architectures were stored.
    path : Path
        The file read.
    arrays : dict of str -> ndarray
        Further named arrays stored with ``save_network_file(..., arrays=...)`` (e.g. a
        training checkpoint's momentum buffers).
    layers : list
        The mapper's part of the file as read, one :class:`rramsim.mapper` layer per weight
        layer (signs, pairs, RESET-state cells, cell positions when stored).
    """

    network: Network
    pairs: list | None
    scales: list | None
    signs: list | None
    dataset: str | None
    data_dir: str | None
    metadata: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    path: Path | None = None
    arrays: dict = field(default_factory=dict)
    layers: list = field(default_factory=list)


def _json_value(v):
    if isinstance(v, tuple):
        return [_json_value(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def layer_spec(layer: L.Layer) -> dict:
    """``{"type": ..., "args": {...}}`` (plus ``trainable`` for weight layers) of one layer."""
    kind = type(layer).__name__
    if kind not in LAYER_ARGS:
        raise DataError(f"layer type {kind} cannot be stored in a network file")
    spec = {"type": kind, "args": {a: _json_value(getattr(layer, a)) for a in LAYER_ARGS[kind]}}
    if isinstance(layer, L.WeightLayer):
        spec["trainable"] = layer.trainable
    return spec


def network_spec(net: Network) -> dict:
    """The architecture of ``net`` as JSON-ready data (name, input shape, layer specs)."""
    return {"name": net.name, "input_shape": list(net.input_shape),
            "layers": [layer_spec(la) for la in net.layers]}


def _check_json(obj, where: str) -> str:
    try:
        return json.dumps(obj, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where} is not JSON-serialisable (finite numbers, str, list, dict): "
                        f"{exc}") from exc


def save_network_file(
    path,
    net: Network,
    *,
    device=None,
    dataset: str,
    data_dir: str | None = None,
    metadata: dict | None = None,
    arrays: dict | None = None,
) -> Path:
    """Write the whole network to ``path`` (.npz appended if missing), atomically.

    Parameters
    ----------
    path : str or Path
    net : Network
    device : rramsim.nn.DeviceNetwork, optional
        The formed pairs (SET-state conductances, signs, scales); without it the mapper's part
        holds the weights programmed with its linear map and ``pairs`` reads back as None.
    dataset : str
        The data set the network was trained on (``"digits"``, ``"fashion-mnist"``, ``"fsdd"``,
        ``"drive"``).
    data_dir : str, optional
        Where the data set was read from.
    metadata : dict, optional
        JSON-serialisable extra information (finite numbers).
    arrays : dict of str -> ndarray, optional
        Further numeric arrays to keep in the file (read back as :attr:`NetworkFile.arrays`).

    Returns
    -------
    Path
        The file written.
    """
    from rramsim.nn.export import export_network

    if not isinstance(dataset, str) or not dataset:
        raise DataError(f"dataset must be a non-empty string, got {dataset!r}")
    if data_dir is not None and not isinstance(data_dir, (str, Path)):
        raise DataError(f"data_dir must be a path or None, got {data_dir!r}")
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise DataError(f"metadata must be a dict, got {type(metadata).__name__}")
    spec = network_spec(net)
    spec.update(format=FORMAT_NAME, format_version=FORMAT_VERSION, has_pairs=device is not None,
                dataset=dataset, data_dir=None if data_dir is None else str(data_dir),
                metadata=metadata)
    text = _check_json(spec, "network file metadata")
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    # the mapper's part, then the network's part added to the same archive before the rename
    extra = {"nn": np.array(text)}
    for la in net.weight_layers:
        extra[f"nn/scores{la.index}"] = np.asarray(la.scores, dtype=float)
        if getattr(la, "pruned_weight", None) is not None:  # pruned pairs' RESET-state weights
            extra[f"nn/pruned{la.index}"] = np.asarray(la.pruned_weight, dtype=float)
    for j, la in enumerate(net.layers):
        if isinstance(la, L.BatchNorm):
            extra[f"nn/running_mean{j}"] = np.asarray(la.running_mean, dtype=float)
            extra[f"nn/running_var{j}"] = np.asarray(la.running_var, dtype=float)
            if la.affine:
                extra[f"nn/bn_gamma{j}"] = np.asarray(la.gamma, dtype=float)
                extra[f"nn/bn_beta{j}"] = np.asarray(la.beta, dtype=float)
    for key, arr in (arrays or {}).items():
        a = np.asarray(arr)
        if not isinstance(key, str) or not key or a.dtype.kind not in "biuf":
            raise DataError(f"extra array {key!r} must have a non-empty name and numeric values")
        extra[f"extra/{key}"] = a
    return export_network(path, net, device, extra=extra)


# ------------------------------------------------------------------------------------ loading
def _array(z, key, path, shape, dtype_kind="f"):
    if key not in z.files:
        raise DataError(f"{path}: array {key!r} is missing")
    a = z[key]
    if a.shape != shape or a.dtype.kind != dtype_kind:
        raise DataError(f"{path}: array {key!r} must be {dtype_kind!r}-typed of shape {shape}, "
                        f"got {a.dtype} {a.shape}")
    if dtype_kind == "f" and not np.all(np.isfinite(a)):
        raise DataError(f"{path}: array {key!r} holds non-finite values")
    return a


def _build_layer(spec, path, where):
    kind = json_field(spec, "type", str, path, where)
    if kind not in LAYER_ARGS:
        raise DataError(f"{path}: field {where}.type {kind!r} is not a known layer type "
                        f"({', '.join(LAYER_ARGS)})")
    args = json_field(spec, "args", dict, path, where)
    want = LAYER_ARGS[kind]
    optional = OPTIONAL_ARGS.get(kind, frozenset())
    if not set(want) - optional <= set(args) <= set(want):
        raise DataError(f"{path}: field {where}.args has {sorted(args)}, {kind} needs "
                        f"{sorted(want)}")
    for a, v in args.items():
        # lists: integer shapes, or a quantiser's fixed levels (finite numbers)
        ok = v is None or isinstance(v, (int, float, str, bool)) or (
            isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                        and math.isfinite(x) for x in v))
        if not ok or (isinstance(v, float) and not math.isfinite(v)):
            raise DataError(f"{path}: field {where}.args.{a} has an invalid value {v!r}")
    try:
        layer = getattr(L, kind)(**args)
    except (RramsimError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: field {where}.args: {exc}") from exc
    if isinstance(layer, L.WeightLayer):
        trainable = json_field(spec, "trainable", str, path, where)
        if trainable not in ("scores", "weights"):
            raise DataError(f"{path}: field {where}.trainable must be 'scores' or 'weights', "
                            f"got {trainable!r}")
        layer.trainable = trainable
    return layer


def _legacy_network(mnet, path) -> Network:
    if any(ly.kind != "dense" for ly in mnet.layers) or not all(mnet.chain):
        raise DataError(f"{path}: a version-1 file (no 'nn' entry) must be a chain of dense layers "
                        "to load as an MLP; this one has convolutions or breaks the chain")
    layers: list = []
    for k, ly in enumerate(mnet.layers):
        if k:
            layers.append(L.ReLU())
        layers.append(L.Dense(*ly.shape))
    return Network(layers, input_shape=(mnet.layers[0].shape[0],), name="mlp-v1-file")


def load_network_file(path) -> NetworkFile:
    """Read a network file (:func:`save_network_file`, or a version-1 dense file) back, exactly.

    Raises
    ------
    DataError
        Missing file, a directory, not an .npz (text, truncated), an unknown format version, or a
        missing or mistyped field or array; the message names the file and the field.
    """
    path = check_network_path(path)
    mnet = load_network(path)  # the mapper's part, validated (DataError on any defect)
    try:
        with open_npz(path) as z:
            if "nn" not in z.files:
                net = _legacy_network(mnet, path)
                spec, version = {}, LEGACY_VERSION
                dataset = data_dir = None
                metadata: dict = {}
                has_pairs = all(ly.scale is not None for ly in mnet.layers)
            else:
                spec = read_meta(z, path, "nn")
                fmt = spec.get("format")
                if fmt != FORMAT_NAME:
                    raise DataError(f"{path}: field nn.format is {fmt!r}, expected {FORMAT_NAME!r}")
                version = json_field(spec, "format_version", int, path, "nn")
                if version != FORMAT_VERSION:
                    raise DataError(f"{path}: network file format version {version} is not "
                                    f"supported (this rramsim reads versions {LEGACY_VERSION} and "
                                    f"{FORMAT_VERSION})")
                net = _network_from_spec(spec, path)
                dataset = json_field(spec, "dataset", str, path, "nn")
                data_dir = json_field(spec, "data_dir", (str, type(None)), path, "nn")
                metadata = json_field(spec, "metadata", dict, path, "nn")
                has_pairs = json_field(spec, "has_pairs", bool, path, "nn")
            _fill(net, mnet, z, path, scores=version >= FORMAT_VERSION)
            extra = {k[len("extra/"):]: z[k] for k in z.files if k.startswith("extra/")}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        if isinstance(exc, RramsimError):
            raise
        raise DataError(f"{path}: cannot read network file: {exc}") from exc
    pairs = scales = signs = None
    if has_pairs:
        if any(ly.scale is None for ly in mnet.layers):
            raise DataError(f"{path}: field meta.layers[].scale is null but the file has pairs")
        signs = [np.array(ly.sign) for ly in mnet.layers]
        scales = [float(ly.scale) for ly in mnet.layers]
        pairs = []
        for ly in mnet.layers:
            pos = ly.sign > 0
            pairs.append((np.where(pos, ly.g_plus, ly.g_minus), np.where(pos, ly.g_minus, ly.g_plus)))
    return NetworkFile(net, pairs, scales, signs, dataset, data_dir, metadata, version, path, extra,
                       list(mnet.layers))


def _network_from_spec(spec, path) -> Network:
    name = json_field(spec, "name", str, path, "nn")
    shape = json_field(spec, "input_shape", list, path, "nn")
    if not shape or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise DataError(f"{path}: field nn.input_shape must be positive integers, got {shape!r}")
    specs = json_field(spec, "layers", list, path, "nn")
    if not specs:
        raise DataError(f"{path}: field nn.layers is empty")
    layers = [_build_layer(s, path, f"nn.layers[{j}]") for j, s in enumerate(specs)]
    try:
        return Network(layers, input_shape=tuple(shape), name=name)
    except (RramsimError, ValueError) as exc:
        raise DataError(f"{path}: field nn.layers does not form a network: {exc}") from exc


def _fill(net: Network, mnet, z, path, *, scores: bool) -> None:
    """Weights and masks from the mapper's part, scores and BN statistics from the network's."""
    if len(mnet.layers) != len(net.weight_layers):
        raise DataError(f"{path}: field nn.layers has {len(net.weight_layers)} weight layers, the "
                        f"mapper's part (meta.layers) {len(mnet.layers)}")
    for la, ly in zip(net.weight_layers, mnet.layers, strict=True):
        if ly.shape != (la.fan_in, la.fan_out):
            raise DataError(f"{path}: weight layer {la.index} ({type(la).__name__}) is "
                            f"{(la.fan_in, la.fan_out)} in nn.layers but {ly.shape} in meta.layers")
        la.weight = np.array(ly.weight)
        la.mask = np.array(ly.mask)
        if scores:
            la.scores = np.array(_array(z, f"nn/scores{la.index}", path, ly.shape))
        if f"nn/pruned{la.index}" in z.files:  # optional: what the forward pass takes when pruned
            la.set_pruned_weight(_array(z, f"nn/pruned{la.index}", path, ly.shape))
    for j, la in enumerate(net.layers):
        if isinstance(la, L.BatchNorm):
            la.running_mean = np.array(_array(z, f"nn/running_mean{j}", path, (la.channels,)))
            var = np.array(_array(z, f"nn/running_var{j}", path, (la.channels,)))
            if np.any(var < 0):
                raise DataError(f"{path}: array 'nn/running_var{j}' has negative variances")
            la.running_var = var
            if la.affine:
                la.gamma = np.array(_array(z, f"nn/bn_gamma{j}", path, (la.channels,)))
                la.beta = np.array(_array(z, f"nn/bn_beta{j}", path, (la.channels,)))


__all__ = ["FORMAT_VERSION", "LAYER_ARGS", "NetworkFile", "load_network_file", "network_spec",
           "save_network_file"]
