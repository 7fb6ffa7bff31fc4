"""Checks of the mapper's inputs that come before any conversion or allocation.

:func:`check_graph` (called by :func:`rramsim.mapper.network_from_graph`): the node integers
``layer`` and ``index`` within range, the numeric edge attributes real numbers (not text, bytes or
bools, which NumPy would convert silently; not integers beyond double precision) and the per-layer
metadata complete and well typed. :func:`check_tile_memory` (called by
:func:`rramsim.mapper.map_network`): the tiles' cell arrays fit in memory, refused before they are
allocated. Every refusal is a :class:`~rramsim.errors.MappingError` naming the field.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from rramsim._validate import integer
from rramsim.errors import MappingError

#: Largest node layer, node index, fan-in or fan-out accepted (int64 arithmetic on them never
#: overflows: the mapper adds 1 to layers and multiplies fan-ins by kernel sizes).
INT_MAX = 2**40

#: Edge attributes that must be real numbers (``kept`` is checked as a bool by the reader).
NUMERIC_EDGE_ATTRIBUTES = ("weight", "sign", "g_plus", "g_minus")

#: Bytes per tile cell of :func:`rramsim.mapper.map_network`'s arrays: conductance and logical
#: weight (float64), state and polarity (int8), owner (int16 or int32); plus 8 with per-cell v0.
BYTES_PER_CELL = 8 + 8 + 1 + 1 + 4



class _Missing:
    """Marks an absent attribute (its type is discarded from the types seen)."""


_MISSING = _Missing()


def _is_real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def check_nodes(graph) -> None:
    """Integer node attributes ``layer`` and ``index`` (where given) within 0..INT_MAX."""
    for v, data in graph.nodes(data=True):
        for key in ("layer", "index"):
            x = data.get(key, _MISSING)
            if x is not _MISSING and isinstance(x, numbers.Integral):
                integer(x, f"node {v!r}: {key!r}", MappingError, minimum=0, maximum=INT_MAX)


def check_edges(edges: list) -> None:
    """The numeric edge attributes are real numbers a double can hold (missing ones are left to
    the reader, which names them)."""
    for a in NUMERIC_EDGE_ATTRIBUTES:
        col = [d.get(a, _MISSING) for _, _, d in edges]
        kinds = set(map(type, col))
        kinds.discard(_Missing)
        bad = {t for t in kinds
               if not issubclass(t, numbers.Real) or issubclass(t, (bool, np.bool_))}
        if bad:
            i = next(i for i, x in enumerate(col) if type(x) in bad)
            u, v, _ = edges[i]
            raise MappingError(f"edge ({u!r}, {v!r}): attribute {a!r} = {col[i]!r} is a "
                               f"{type(col[i]).__name__}, not a number")
        if int in kinds:  # Python ints are unbounded; NumPy's are not
            for i, x in enumerate(col):
                if type(x) is int and not _fits_double(x):
                    u, v, _ = edges[i]
                    raise MappingError(f"edge ({u!r}, {v!r}): attribute {a!r} is an integer of "
                                       f"{x.bit_length()} bits, beyond double precision")


def _fits_double(x: int) -> bool:
    try:
        float(x)
    except OverflowError:
        return False
    return True


def _check_conv(c, where: str) -> None:
    if not isinstance(c, Mapping):
        raise MappingError(f"{where}: 'conv' must be a dict, got {type(c).__name__}")
    for key in ("in_channels", "out_channels"):
        if key not in c:
            raise MappingError(f"{where}: 'conv' lacks the key {key!r}")
        integer(c[key], f"{where}: conv {key!r}", MappingError, minimum=1, maximum=INT_MAX)
    k = c.get("kernel", _MISSING)
    if k is _MISSING:
        raise MappingError(f"{where}: 'conv' lacks the key 'kernel'")
    if isinstance(k, (str, bytes)) or not isinstance(k, Sequence) or len(k) != 2:
        raise MappingError(f"{where}: conv 'kernel' must be two integers, got {k!r}")
    for x in k:
        integer(x, f"{where}: conv 'kernel'", MappingError, minimum=1, maximum=INT_MAX)


def _check_layer_meta(k: int, m, key: str) -> None:
    where = f"graph metadata {key!r}[{k}]"
    if not isinstance(m, Mapping):
        raise MappingError(f"{where} must be a dict, got {type(m).__name__}")
    for req in ("name", "kind", "fan_in", "fan_out", "source_layer"):
        if req not in m:
            raise MappingError(f"{where} lacks the key {req!r}")
    if not isinstance(m["name"], str):
        raise MappingError(f"{where}: 'name' must be a str, got {m['name']!r}")
    if m["kind"] not in ("dense", "conv"):
        raise MappingError(f"{where}: 'kind' must be 'dense' or 'conv', got {m['kind']!r}")
    for req in ("fan_in", "fan_out", "source_layer"):
        integer(m[req], f"{where}: {req!r}", MappingError, minimum=0, maximum=INT_MAX)
    scale = m.get("scale")
    if scale is not None and not _is_real(scale):
        raise MappingError(f"{where}: 'scale' must be a number or None, got {scale!r}")
    chain = m.get("chain_next", False)
    if not isinstance(chain, (bool, np.bool_)):
        raise MappingError(f"{where}: 'chain_next' must be a bool, got {chain!r}")
    if m["kind"] == "conv":
        if "conv" not in m:
            raise MappingError(f"{where} lacks the key 'conv' (its kind is 'conv')")
        _check_conv(m["conv"], where)


def check_metadata(graph, key: str) -> None:
    """The per-layer metadata ``graph.graph[key]`` (when present): a list of dicts, each with
    ``name``, ``kind``, ``fan_in``, ``fan_out`` and ``source_layer`` of the right types."""
    meta = graph.graph.get(key)
    if meta is None:
        return
    if isinstance(meta, (str, bytes, Mapping)) or not isinstance(meta, Sequence):
        raise MappingError(f"graph metadata {key!r} must be a list of dicts, one per layer, got "
                           f"{type(meta).__name__}")
    for k, m in enumerate(meta):
        _check_layer_meta(k, m, key)


def check_graph(graph, edges: list, key: str) -> None:
    """All checks of the graph form before it is read (see the module docstring)."""
    check_metadata(graph, key)
    check_nodes(graph)
    check_edges(edges)


def check_tile_memory(n_tiles: int, shape: tuple[int, int], per_cell_v0: bool) -> None:
    """Refuse tiles whose cell arrays would not fit in the memory that may be used now (the
    solver's :func:`rramsim.solver.memory_limit`), before anything is allocated."""
    from rramsim.solver._factor import gb, memory_limit

    cells = float(n_tiles) * float(shape[0]) * float(shape[1])
    need = cells * (BYTES_PER_CELL + (8 if per_cell_v0 else 0))
    limit, source = memory_limit()
    if need > limit:
        raise MappingError(
            f"tile_shape {tuple(shape)}: {n_tiles} tile(s) of {shape[0]} x {shape[1]} cells need "
            f"about {gb(need)} for their cell arrays but only {gb(limit)} may be used ({source}); "
            "use a smaller tile_shape")
