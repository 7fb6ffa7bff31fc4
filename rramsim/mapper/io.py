"""Files of pruned networks in the mapper's form (the network trainer writes them, the mapper reads).

Format (``.npz``, NumPy's zip of ``.npy`` arrays, no pickles)
-----------------------------------------------------------
``meta``
    0-d unicode array holding JSON: ``{"format": "rramsim-network", "version": 1,
    "layers": [...]}`` where each layer entry is :meth:`LayeredNetwork.metadata`'s dict (name, kind,
    fan_in, fan_out, source_layer, scale, chain_next and, for convolutions, ``conv`` with
    in_channels, out_channels, kernel).
``layer{k}/weight`` (float64), ``layer{k}/mask`` (bool), ``layer{k}/sign`` (int8),
``layer{k}/g_plus``, ``layer{k}/g_minus`` (float64, siemens)
    Layer ``k``'s arrays in the crossbar layout (fan_in, fan_out) (convolutions unrolled, im2col).
``layer{k}/g_plus_pruned``, ``layer{k}/g_minus_pruned`` (float64), ``layer{k}/positions``
(int64, (5, fan_in, fan_out)), optional
    The pair's cells when pruned and the cells' given places (:class:`Layer`), when the layer
    has them.

Files are written atomically: to a temporary file in the target directory, then renamed over the
target, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from rramsim._io import atomic_open
from rramsim.errors import DataError, MappingError
from rramsim.mapper.network import ConvGeometry, Layer, LayeredNetwork, network_from_graph

FORMAT_NAME = "rramsim-network"
FORMAT_VERSION = 1
_ARRAYS = ("weight", "mask", "sign", "g_plus", "g_minus")
_OPTIONAL = ("g_plus_pruned", "g_minus_pruned", "positions")


def save_network(path, network, *, compress: bool = False, extra: dict | None = None) -> Path:
    """Write a network (array form or graph form) to ``path`` (.npz), atomically.

    Parameters
    ----------
    path : str or Path
        Target file; ``.npz`` is appended if missing.
    network : LayeredNetwork or networkx.DiGraph
    compress : bool
        Deflate the arrays (smaller, slower).
    extra : dict of str -> ndarray, optional
        Further entries stored beside the network's (names must not start with ``layer`` or be
        ``meta``); :func:`load_network` ignores them.

    Returns
    -------
    Path
        The file written.
    """
    if not isinstance(network, LayeredNetwork):
        network = network_from_graph(network)
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "layers": network.metadata()}
    arrays = {"meta": np.array(json.dumps(meta))}
    for k, ly in enumerate(network.layers):
        for name in _ARRAYS + _OPTIONAL:
            if getattr(ly, name) is not None:
                arrays[f"layer{k}/{name}"] = getattr(ly, name)
    for key, arr in (extra or {}).items():
        if key == "meta" or key.startswith("layer") or key in arrays:
            raise DataError(f"extra entry {key!r} collides with the network's own entries")
        arrays[key] = np.asarray(arr)
    with atomic_open(path, "wb") as fh:
        (np.savez_compressed if compress else np.savez)(fh, **arrays)
    return path


def json_field(d, key, types, path, where):
    """``d[key]`` checked to be one of ``types`` (bool only if named); a DataError naming the file
    and the field ``where.key`` otherwise."""
    if not isinstance(d, dict):
        raise DataError(f"{path}: field {where} must be a JSON object, got {type(d).__name__}")
    if key not in d:
        raise DataError(f"{path}: field {where}.{key} is missing")
    v = d[key]
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
        names = "/".join("null" if t is type(None) else t.__name__ for t in types)
        raise DataError(f"{path}: field {where}.{key} must be {names}, got {v!r}")
    return v


def read_meta(z, path, entry: str = "meta") -> dict:
    """The JSON object stored as a 0-d unicode array ``entry`` of an open ``.npz``."""
    if entry not in z.files:
        raise DataError(f"{path}: no {entry!r} entry; not a {FORMAT_NAME} file")
    arr = z[entry]
    if arr.shape != () or arr.dtype.kind != "U":
        raise DataError(f"{path}: entry {entry!r} must be a JSON string, got {arr.dtype} {arr.shape}")
    try:
        meta = json.loads(str(arr[()]))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: entry {entry!r} is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DataError(f"{path}: entry {entry!r} must hold a JSON object")
    return meta


@contextmanager
def open_npz(path):
    """The open ``.npz`` at ``path`` (no pickles); DataError for anything that is not a zip.

    The file is opened here so that its handle is closed even when NumPy fails on a damaged
    archive.
    """
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            raise DataError(f"{path}: not an .npz archive (no zip header)")
        fh.seek(0)
        z = np.load(fh, allow_pickle=False)
        try:
            yield z
        finally:
            z.close()


def check_network_path(path) -> Path:
    """``path`` as a Path if it names an existing regular file, else a DataError saying why."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"network file {path} is a directory")
    if not path.is_file():
        raise DataError(f"network file {path} does not exist")
    return path


def _layer_metas(z, path) -> list:
    """``meta.layers`` of an open network file, after checking its format name and version."""
    meta = read_meta(z, path)
    fmt = meta.get("format")
    if fmt != FORMAT_NAME:
        raise DataError(f"{path}: field meta.format is {fmt!r}, expected {FORMAT_NAME!r}")
    version = meta.get("version")
    if version != FORMAT_VERSION:
        raise DataError(f"{path}: version {version!r} is not supported "
                        f"(this rramsim reads version {FORMAT_VERSION})")
    metas = json_field(meta, "layers", list, path, "meta")
    if not metas:
        raise DataError(f"{path}: field meta.layers is empty")
    return metas


def _conv_geometry(m, path, where: str) -> ConvGeometry:
    """The ``conv`` field of a conv layer's metadata."""
    c = json_field(m, "conv", dict, path, where)
    kernel = json_field(c, "kernel", list, path, where + ".conv")
    if len(kernel) != 2 or not all(isinstance(v, int) for v in kernel):
        raise DataError(f"{path}: field {where}.conv.kernel must be two integers")
    return ConvGeometry(json_field(c, "in_channels", int, path, where + ".conv"),
                        json_field(c, "out_channels", int, path, where + ".conv"),
                        tuple(kernel))


def _read_layer(z, path, k: int, m) -> Layer:
    """Layer ``k`` of an open network file from its metadata ``m`` and its 2-D arrays."""
    where = f"meta.layers[{k}]"
    name = json_field(m, "name", str, path, where)
    kind = json_field(m, "kind", str, path, where)
    scale = m.get("scale") if isinstance(m, dict) else None
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))):
        raise DataError(f"{path}: field {where}.scale must be a number or null")
    arr = {}
    for nm in _ARRAYS:
        key = f"layer{k}/{nm}"
        if key not in z.files:
            raise DataError(f"{path}: missing array {key!r}")
        arr[nm] = z[key]
        if arr[nm].ndim != 2:
            raise DataError(f"{path}: array {key!r} must be 2-D, got shape {arr[nm].shape}")
    for nm in _OPTIONAL:
        key = f"layer{k}/{nm}"
        if key in z.files:
            arr[nm] = z[key]
    conv = _conv_geometry(m, path, where) if kind == "conv" else None
    try:
        return Layer(name, kind=kind, conv=conv, scale=scale, **arr)
    except MappingError as exc:
        raise DataError(f"{path}: {where}: {exc}") from exc


def load_network(path) -> LayeredNetwork:
    """Read a file written by :func:`save_network` (array form; ``.to_graph()`` for the graph).

    Entries other than ``meta`` and the layer arrays (as the network trainer adds, see
    :func:`rramsim.nn.save_network_file`) are ignored.

    Raises
    ------
    DataError
        Missing file or a directory, not an .npz of this format, unknown version, missing or
        mistyped fields or arrays (the message names the file and the field).
    MappingError
        The arrays do not form a valid network.
    """
    path = check_network_path(path)
    try:
        with open_npz(path) as z:
            metas = _layer_metas(z, path)
            layers = [_read_layer(z, path, k, m) for k, m in enumerate(metas)]
            chain = tuple(bool(m.get("chain_next", False)) for m in metas[:-1])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        if isinstance(exc, (DataError, MappingError)):
            raise
        raise DataError(f"{path}: cannot read network file: {exc}") from exc
    try:
        return LayeredNetwork(tuple(layers), chain=chain)
    except MappingError as exc:
        raise DataError(f"{path}: field meta.layers: {exc}") from exc
