"""Export of a pruned network to the mapper's graph form, and atomic file writes.

The mapper (:mod:`rramsim.mapper`) reads networks given as per-layer ``(fan_in, fan_out)`` weight
and mask arrays with differential conductance pairs ``(G+, G-)``; :func:`export_network` is the
single place this package writes that form.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _clean(obj):
    """JSON-safe copy: NaN/inf -> None, numpy scalars and arrays -> Python values."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str | Path, obj) -> Path:
    """Write ``obj`` as indented JSON atomically (non-finite floats become ``null``)."""
    text = json.dumps(_clean(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"
    return atomic_write_bytes(path, text.encode())


def export_network(
    path: str | Path,
    weights: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    conductances: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    *,
    name: str = "network",
) -> Path:
    """Write a pruned network in the mapper's form and return the file written.

    Parameters
    ----------
    path : str or Path
        Target file.
    weights : sequence of (fan_in, fan_out) arrays
        Weights of each layer (unmasked).
    masks : sequence of bool arrays
        Kept weights.
    conductances : sequence of (G+, G-) pairs, optional
        Programmed conductances, siemens.
    name : str
        Network name stored with the file.

    Notes
    -----
    Uses ``rramsim.mapper.graph_from_layers`` and ``rramsim.mapper.save_network`` when the mapper
    provides them; otherwise an ``.npz`` with arrays ``weight_<i>``, ``mask_<i>``, ``g_pos_<i>``,
    ``g_neg_<i>`` (written atomically).
    """
    from rramsim import mapper

    path = Path(path)
    if hasattr(mapper, "graph_from_layers") and hasattr(mapper, "save_network"):
        graph = mapper.graph_from_layers(list(weights), list(masks), conductances)
        graph.graph.setdefault("name", name)
        path.parent.mkdir(parents=True, exist_ok=True)
        mapper.save_network(path, graph)
        return path
    arrays = {}
    for i, (w, m) in enumerate(zip(weights, masks, strict=True)):
        arrays[f"weight_{i}"] = np.asarray(w, float)
        arrays[f"mask_{i}"] = np.asarray(m, bool)
        if conductances is not None:
            arrays[f"g_pos_{i}"] = np.asarray(conductances[i][0], float)
            arrays[f"g_neg_{i}"] = np.asarray(conductances[i][1], float)
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, name=np.array(name), n_layers=np.array(len(weights)), **arrays)
    return atomic_write_bytes(path.with_suffix(".npz"), buf.getvalue())
