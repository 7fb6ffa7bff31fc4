"""Export of a pruned network to the mapper's form, and atomic JSON writes.

The mapper (:mod:`rramsim.mapper`) takes per-layer weight and mask arrays with differential
conductance pairs ``(G+, G-)``, signs and scales; :func:`export_network` is the single place this
package writes that form.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from rramsim._io import atomic_write_bytes


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


def export_network(path: str | Path, net, device=None, *, extra: dict | None = None) -> Path:
    """Write a pruned network in the mapper's form (``rramsim.mapper.save_network``); return the file.

    Parameters
    ----------
    path : str or Path
        Target file (the mapper appends ``.npz`` if missing); written atomically by the mapper.
    net : rramsim.nn.Network
        The trained network: weights, masks; convolution layers are passed as
        ``(out, in, kh, kw)`` weights (same im2col row order as :class:`rramsim.nn.Conv2d`) so the
        mapper records their geometry.
    device : rramsim.nn.DeviceNetwork, optional
        The formed pairs: SET-state conductances, signs and scales (``w = sign (G+ - G-) / scale``,
        arXiv 2311.07164), and each pair's RESET-state cells (``g_plus_pruned``,
        ``g_minus_pruned``: what a pruned pair holds on the array). None lets the mapper program
        the weights with its linear map.
    extra : dict, optional
        Further named arrays stored in the same file (:func:`rramsim.nn.save_network_file` adds
        the architecture this way).

    Returns
    -------
    Path
        The file written; ``rramsim.mapper.load_network`` reads it back.

    Notes
    -----
    Consecutive dense layers separated only by element-wise layers (ReLU, quantisers) are marked as
    chained (the second's inputs are the first's outputs); convolutions, pooling, recurrent and
    averaging layers break the chain.
    """
    from rramsim import mapper
    from rramsim.nn.layers import Conv2d, Dense, Quantize, ReLU

    wl = net.weight_layers

    def shaped(layer, arr):
        arr = np.asarray(arr)
        if isinstance(layer, Conv2d):
            return mapper.fold_conv_weight(arr, layer.kernel)
        return arr

    names = [f"{type(la).__name__.lower()}{la.index}" for la in wl]
    weights = [shaped(la, la.weight) for la in wl]
    masks = [shaped(la, la.mask) for la in wl]
    kwargs: dict = {"names": names}
    if device is not None:
        kwargs["signs"] = [shaped(la, d.sign) for la, d in zip(wl, device.layers, strict=True)]
        kwargs["scales"] = [float(getattr(d, "scalar_scale", d.scale)) for d in device.layers]
        conductances = [
            (shaped(la, d.live[0]), shaped(la, d.live[1]))
            for la, d in zip(wl, device.layers, strict=True)
        ]
        if all(hasattr(d, "tile_positions") for d in device.layers):  # measured cells
            kwargs["positions"] = [d.tile_positions() for d in device.layers]
            kwargs["pruned_conductances"] = [tuple(shaped(la, g) for g in d.cells(d.read, False))
                                             for la, d in zip(wl, device.layers, strict=True)]
        elif all(hasattr(d, "reset_conductance") for d in device.layers):
            # each pair's RESET-state cells (the study's G_zero), what a pruned pair holds
            kwargs["pruned_conductances"] = [
                tuple(shaped(la, g) for g in d.reset_conductance())
                for la, d in zip(wl, device.layers, strict=True)]
    else:
        conductances = None
    positions = [net.layers.index(la) for la in wl]
    chain = []
    for (a, b), la, lb in zip(zip(positions[:-1], positions[1:], strict=True), wl[:-1], wl[1:],
                              strict=True):
        between = net.layers[a + 1 : b]
        chain.append(
            isinstance(la, Dense) and isinstance(lb, Dense) and la.fan_out == lb.fan_in
            and all(isinstance(x, (ReLU, Quantize)) for x in between)
        )
    kwargs["chain"] = chain
    network = mapper.network_from_layers(weights, masks, conductances, **kwargs)
    return mapper.save_network(Path(path), network, extra=extra)
