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

Files are written atomically: to a temporary file in the target directory, then renamed over the
target, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from rramsim._io import atomic_open
from rramsim.errors import DataError, MappingError
from rramsim.mapper.network import ConvGeometry, Layer, LayeredNetwork, network_from_graph

FORMAT_NAME = "rramsim-network"
FORMAT_VERSION = 1
_ARRAYS = ("weight", "mask", "sign", "g_plus", "g_minus")


def save_network(path, network, *, compress: bool = False) -> Path:
    """Write a network (array form or graph form) to ``path`` (.npz), atomically.

    Parameters
    ----------
    path : str or Path
        Target file; ``.npz`` is appended if missing.
    network : LayeredNetwork or networkx.DiGraph
    compress : bool
        Deflate the arrays (smaller, slower).

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
        for name in _ARRAYS:
            arrays[f"layer{k}/{name}"] = getattr(ly, name)
    with atomic_open(path, "wb") as fh:
        (np.savez_compressed if compress else np.savez)(fh, **arrays)
    return path


def load_network(path) -> LayeredNetwork:
    """Read a file written by :func:`save_network` (array form; ``.to_graph()`` for the graph).

    Raises
    ------
    DataError
        Missing file, not an .npz of this format, unknown version, missing arrays.
    MappingError
        The arrays do not form a valid network.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"network file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "meta" not in z.files:
                raise DataError(f"{path}: no 'meta' entry; not a {FORMAT_NAME} file")
            try:
                meta = json.loads(str(z["meta"][()]))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: 'meta' is not valid JSON") from exc
            if meta.get("format") != FORMAT_NAME:
                raise DataError(f"{path}: format {meta.get('format')!r}, expected {FORMAT_NAME!r}")
            if meta.get("version") != FORMAT_VERSION:
                raise DataError(f"{path}: version {meta.get('version')!r} is not supported "
                                f"(this rramsim reads version {FORMAT_VERSION})")
            layers = []
            for k, m in enumerate(meta["layers"]):
                arr = {}
                for name in _ARRAYS:
                    key = f"layer{k}/{name}"
                    if key not in z.files:
                        raise DataError(f"{path}: missing array {key!r}")
                    arr[name] = z[key]
                conv = None
                if m["kind"] == "conv":
                    c = m["conv"]
                    conv = ConvGeometry(int(c["in_channels"]), int(c["out_channels"]),
                                        tuple(c["kernel"]))
                layers.append(Layer(m["name"], kind=m["kind"], conv=conv, scale=m.get("scale"),
                                    **arr))
    except (OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        if isinstance(exc, (DataError, MappingError)):
            raise
        raise DataError(f"{path}: cannot read network file: {exc}") from exc
    chain = tuple(bool(m.get("chain_next", False)) for m in meta["layers"][:-1])
    return LayeredNetwork(tuple(layers), chain=chain)
