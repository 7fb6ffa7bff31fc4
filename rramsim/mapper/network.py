"""Pruned layered networks in array form and in the mapper's networkx graph form.

Two forms of the same thing:

* **Array form** (:class:`LayeredNetwork`, a tuple of :class:`Layer`): each weight layer is a set of
  (fan_in, fan_out) arrays (weight, mask, sign, G+, G-). This is what :func:`map_network` works on;
  it is cheap for the study's largest network (the DRIVE U-Net, ~4.3 M weights).
* **Graph form** (:class:`networkx.DiGraph`): nodes are neurons, edges are weights. Convenient for
  small networks and for inspection; building it for millions of edges is slow and memory-hungry
  (networkx stores a dict per edge), so the two forms convert into each other in one pass.

Graph form
----------
Node keys are tuples ``(layer, index)``; every node carries the attributes ``layer`` (int, the node
layer, 0 = network inputs) and ``index`` (int, position within its node layer). Weight layer ``l`` joins
node layer ``source_layer`` to ``source_layer + 1``. Consecutive dense layers whose sizes match share
their node layer (a proper neuron graph); a convolution layer starts a fresh pair of node layers,
because its crossbar rows (kernel taps x input channels) are not the previous layer's output neurons.

Every edge carries:

``weight`` (float)
    The logical weight before pruning (the network's weight is ``weight * kept``).
``sign`` (+1 or -1)
    The pair's sign: the hardware realises ``sign * (g_plus - g_minus)``.
``g_plus``, ``g_minus`` (float, siemens, >= 0)
    The conductance pair when the weight is kept (SET state).
``kept`` (bool)
    False for a pruned weight; on hardware its cells are RESET.

Following the study (arXiv 2311.07164), ``w = sign * (G+ - G-) / scale`` with a per-layer scale.
``G.graph["rramsim_layers"]`` holds per-layer metadata (name, kind, sizes, convolution geometry,
scale, source node layer); a graph without it is read with one dense layer per pair of adjacent node
layers joined by edges.

Convolutions (im2col)
---------------------
A convolution weight of PyTorch layout ``(out_channels, in_channels, kh, kw)`` runs on a crossbar as
the (in_channels * kh * kw, out_channels) matrix ``weight.reshape(out_channels, -1).T``: row
``(c * kh + ky) * kw + kx`` carries input channel ``c`` at kernel tap ``(ky, kx)`` of the im2col patch
vector, column ``o`` is output channel ``o``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rramsim._validate import real_array
from rramsim.errors import MappingError
from rramsim.mapper import _checks

LayerKind = Literal["dense", "conv"]
LAYER_KINDS: tuple[str, ...] = ("dense", "conv")

#: Graph attribute that holds the per-layer metadata.
GRAPH_META_KEY = "rramsim_layers"
#: Edge attributes every edge of the graph form must carry.
EDGE_ATTRIBUTES: tuple[str, ...] = ("weight", "sign", "g_plus", "g_minus", "kept")


# ----------------------------------------------------------------------------- helpers
def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def unroll_conv_weight(weight) -> np.ndarray:
    """Convolution weight (out, in, kh, kw) -> crossbar matrix (in * kh * kw, out) (im2col order).

    Parameters
    ----------
    weight : array_like, shape (out_channels, in_channels, kh, kw)

    Returns
    -------
    ndarray, shape (in_channels * kh * kw, out_channels)
        A new array; row ``(c * kh + ky) * kw + kx``, column ``o`` holds ``weight[o, c, ky, kx]``.
    """
    w = np.asarray(weight)
    if w.ndim != 4:
        raise MappingError(f"a convolution weight must be 4-D (out, in, kh, kw), got shape {w.shape}")
    return np.ascontiguousarray(w.reshape(w.shape[0], -1).T)


def fold_conv_weight(matrix, kernel: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`unroll_conv_weight`: (in * kh * kw, out) -> (out, in, kh, kw)."""
    m = np.asarray(matrix)
    kh, kw = kernel
    if m.ndim != 2 or m.shape[0] % (kh * kw):
        raise MappingError(f"cannot fold a matrix of shape {m.shape} with kernel {kernel}")
    return np.ascontiguousarray(m.T.reshape(m.shape[1], m.shape[0] // (kh * kw), kh, kw))


@dataclass(frozen=True)
class ConvGeometry:
    """How a convolution layer is unrolled onto crossbar rows (im2col).

    Attributes
    ----------
    in_channels, out_channels : int
        Channel counts (> 0).
    kernel : tuple of int
        Kernel height and width (kh, kw), each > 0. Crossbar rows = in_channels * kh * kw.
    """

    in_channels: int
    out_channels: int
    kernel: tuple[int, int]

    def __post_init__(self) -> None:
        k = tuple(int(x) for x in self.kernel)
        if len(k) != 2 or min(k) < 1 or self.in_channels < 1 or self.out_channels < 1:
            raise MappingError(f"invalid convolution geometry {self}")
        object.__setattr__(self, "kernel", k)

    @property
    def rows(self) -> int:
        """Crossbar rows of the unrolled layer, in_channels * kh * kw."""
        return self.in_channels * self.kernel[0] * self.kernel[1]


@dataclass(frozen=True)
class LinearConductanceMap:
    """The package's linear weight-to-conductance map: a layer's largest ``|w|`` at ``g_max``.

    Per layer, ``scale = (g_max - g_min) / max|w|`` in siemens per weight unit (``g_max - g_min``
    when every weight is 0; :meth:`scale`) and, for each weight, the differential pair
    (:meth:`pair`)

    ``G+ = g_min + scale * max(w, 0)``,  ``G- = g_min + scale * max(-w, 0)``,

    so that ``(G+ - G-) / scale = w``. The mapper stores the pair with the sign folded out
    (:meth:`program`): ``sign = +1 if w >= 0 else -1``, ``G+ = g_min + |w| * scale``, ``G- = g_min``,
    so that ``sign * (G+ - G-) = w * scale`` (the study's ``w = sign (G+ - G-) / scale``,
    arXiv 2311.07164).

    Two callers use it with their own range (both judgements within the formed-cell statistics of
    :data:`rramsim.devmodel.TAOX_40NM`, N(14.2 uS, 2.46 uS)):

    * the mapper (:func:`network_from_layers` without conductance pairs): this class's defaults,
      1 uS to 30 uS;
    * the precise-tuning baseline (:class:`rramsim.nn.hardware.PreciseProgramming`): 1 uS to
      28.4 uS, twice the formed mean, the pairs then programmed by write-and-verify.

    Attributes
    ----------
    g_min : float
        Conductance of the reference cell and of a zero weight, siemens (>= 0). Default 1 uS.
    g_max : float
        Conductance of the largest-magnitude weight, siemens (> g_min). Default 30 uS, about the top
        of the formed-cell distribution N(14.2 uS, 2.46 uS) plus the differential spread (the
        formed statistics of :data:`rramsim.devmodel.TAOX_40NM`).
    """

    g_min: float = 1e-6
    g_max: float = 30e-6

    def __post_init__(self) -> None:
        if not (np.isfinite(self.g_min) and np.isfinite(self.g_max)):
            raise MappingError(f"conductance map bounds must be finite, got {self}")
        if self.g_min < 0 or self.g_max <= self.g_min:
            raise MappingError(f"need 0 <= g_min < g_max (siemens), got {self}")

    def scale(self, w_max: float) -> float:
        """Siemens per weight unit that puts a weight of magnitude ``w_max`` at ``g_max``
        (``g_max - g_min`` when ``w_max`` is 0)."""
        span = self.g_max - self.g_min
        return span / w_max if w_max > 0 else span

    def pair(self, weight: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Differential pair ``(g_min + scale max(w, 0), g_min + scale max(-w, 0))`` (new arrays)."""
        return self.g_min + scale * np.maximum(weight, 0), self.g_min + scale * np.maximum(-weight, 0)

    def program(self, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Return (sign, g_plus, g_minus, scale) for one layer's weights (new arrays), sign folded.

        Examples
        --------
        >>> import numpy as np
        >>> from rramsim.mapper import LinearConductanceMap
        >>> sign, g_plus, g_minus, scale = LinearConductanceMap().program(np.array([[0.5, -1.0]]))
        >>> sign.tolist(), (g_plus * 1e6).round(3).tolist(), g_minus.tolist(), round(scale * 1e6, 3)
        ([[1, -1]], [[15.5, 30.0]], [[1e-06, 1e-06]], 29.0)
        """
        w = np.asarray(weight, dtype=float)
        scale = self.scale(float(np.max(np.abs(w))) if w.size else 0.0)
        sign = np.where(w >= 0, 1, -1).astype(np.int8)
        pos, neg = self.pair(w, scale)
        positive = sign > 0
        return sign, np.where(positive, pos, neg), np.where(positive, neg, pos), scale


# ----------------------------------------------------------------------------- array form
def _checked_weight(weight, where: str) -> np.ndarray:
    """A layer's weight as a new non-empty, finite 2-D float array."""
    w = np.array(weight, dtype=float)
    if w.ndim != 2 or min(w.shape) < 1:
        raise MappingError(f"{where}: weight must be a non-empty 2-D array, got shape {w.shape}")
    if not np.isfinite(w).all():
        i, j = np.argwhere(~np.isfinite(w))[0]
        raise MappingError(f"{where}: weight[{i}, {j}] is not finite")
    return w


def _checked_mask(mask, shape: tuple[int, int], where: str) -> np.ndarray:
    """A layer's mask as a new bool array of ``shape`` (from bools or 0/1)."""
    m = np.asarray(mask)
    if m.shape != shape:
        raise MappingError(f"{where}: mask shape {m.shape} differs from weight shape {shape}")
    if m.dtype != bool:
        if not np.isin(m, (0, 1)).all():
            raise MappingError(f"{where}: mask must be boolean or 0/1")
    return np.array(m, dtype=bool)


def _checked_conductance(g, name: str, shape: tuple[int, int], where: str) -> np.ndarray:
    """One side of a layer's conductance pair as a new read-only float array, finite and >= 0."""
    g = np.array(g, dtype=float)
    if g.shape != shape:
        raise MappingError(f"{where}: {name} shape {g.shape} differs from {shape}")
    bad = ~np.isfinite(g) | (g < 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise MappingError(f"{where}: {name}[{i}, {j}] = {g[i, j]} is not a conductance >= 0")
    return _frozen(g)


def _check_kind(kind, conv, shape: tuple[int, int], where: str) -> None:
    """A conv layer has a :class:`ConvGeometry` matching its unrolled ``shape``; a dense one none."""
    if kind not in LAYER_KINDS:
        raise MappingError(f"{where}: kind must be one of {LAYER_KINDS}, got {kind!r}")
    if kind == "conv":
        if not isinstance(conv, ConvGeometry):
            raise MappingError(f"{where}: a conv layer needs a ConvGeometry")
        if conv.rows != shape[0] or conv.out_channels != shape[1]:
            raise MappingError(f"{where}: geometry {conv} does not match unrolled shape {shape}")
    elif conv is not None:
        raise MappingError(f"{where}: a dense layer has no convolution geometry")


@dataclass(frozen=True, eq=False)
class Layer:
    """One weight layer in array form; all arrays (fan_in, fan_out), read-only copies.

    Attributes
    ----------
    name : str
        Unique layer name.
    weight : ndarray of float
        Logical weights before pruning.
    mask : ndarray of bool
        True where the weight is kept.
    sign : ndarray of int8
        +1 or -1: the hardware realises ``sign * (g_plus - g_minus)``.
    g_plus, g_minus : ndarray of float
        Conductance pair in the SET state, siemens (>= 0, finite).
    kind : {"dense", "conv"}
        Dense layer or unrolled convolution.
    conv : ConvGeometry or None
        Required for ``kind="conv"`` (its ``rows`` must equal fan_in).
    scale : float or None
        Siemens per weight unit (``w = sign (G+ - G-) / scale``) when known.
    g_plus_pruned, g_minus_pruned : ndarray of float or None
        The pair's two cells when the weight is pruned, siemens (measured read-outs: the
        ``G_zero`` cells of :mod:`rramsim.devmodel.measured`); None: the mapper's ``g_reset``.
        Given together or not at all.
    positions : ndarray of int64 (5, fan_in, fan_out) or None
        Where each weight's cells sit for ``placement="given"``: tile, row and column of the
        ``g_plus`` cell, row and column of the ``g_minus`` cell (both cells on the same tile).
    """

    name: str
    weight: np.ndarray
    mask: np.ndarray
    sign: np.ndarray
    g_plus: np.ndarray
    g_minus: np.ndarray
    kind: LayerKind = "dense"
    conv: ConvGeometry | None = None
    scale: float | None = None
    g_plus_pruned: np.ndarray | None = None
    g_minus_pruned: np.ndarray | None = None
    positions: np.ndarray | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        where = f"layer {self.name!r}"
        self._check_extras(where)
        w = _checked_weight(self.weight, where)
        m = _checked_mask(self.mask, w.shape, where)
        s = np.array(self.sign)
        if s.shape != w.shape or not np.isin(s, (-1, 1)).all():
            raise MappingError(f"{where}: sign must be +1/-1 with shape {w.shape}")
        s = s.astype(np.int8)
        gs = [_checked_conductance(getattr(self, nm), nm, w.shape, where)
              for nm in ("g_plus", "g_minus")]
        _check_kind(self.kind, self.conv, w.shape, where)
        if self.scale is not None:
            sc = float(self.scale)
            if not np.isfinite(sc) or sc <= 0:
                raise MappingError(f"{where}: scale must be finite and > 0, got {self.scale}")
            set_(self, "scale", sc)
        set_(self, "weight", _frozen(w))
        set_(self, "mask", _frozen(m))
        set_(self, "sign", _frozen(s))
        set_(self, "g_plus", gs[0])
        set_(self, "g_minus", gs[1])

    def _check_extras(self, where: str) -> None:
        """The optional pruned pair and cell positions, checked and stored read-only."""
        shape = np.shape(self.weight)
        pruned = (self.g_plus_pruned, self.g_minus_pruned)
        if (pruned[0] is None) != (pruned[1] is None):
            raise MappingError(f"{where}: give both g_plus_pruned and g_minus_pruned or neither")
        if pruned[0] is not None:
            for nm, g in zip(("g_plus_pruned", "g_minus_pruned"), pruned, strict=True):
                object.__setattr__(self, nm, _checked_conductance(g, nm, shape, where))
        if self.positions is not None:
            pos = np.asarray(self.positions)
            if pos.shape != (5, *shape) or pos.dtype.kind not in "iu":
                raise MappingError(f"{where}: positions must be integers of shape (5, {shape[0]}, "
                                   f"{shape[1]}) (tile, row+, column+, row-, column-), got "
                                   f"{pos.dtype} {pos.shape}")
            object.__setattr__(self, "positions", _frozen(np.array(pos, dtype=np.int64)))

    @property
    def shape(self) -> tuple[int, int]:
        """(fan_in, fan_out)."""
        return self.weight.shape  # type: ignore[return-value]

    def masked_weight(self) -> np.ndarray:
        """``weight * mask`` (pruned entries exactly 0), a new array."""
        return np.where(self.mask, self.weight, 0.0)

    def original_weight(self, masked: bool = True) -> np.ndarray:
        """The weight in its original layout ((out, in, kh, kw) for convolutions), a new array."""
        w = self.masked_weight() if masked else self.weight.copy()
        return fold_conv_weight(w, self.conv.kernel) if self.kind == "conv" else w


@dataclass(frozen=True, eq=False)
class LayeredNetwork:
    """A pruned layered network in array form: a tuple of :class:`Layer` in execution order.

    Attributes
    ----------
    layers : tuple of Layer
    chain : tuple of bool
        ``chain[l]`` is True when layer ``l + 1``'s inputs are layer ``l``'s outputs (shared node
        layer in the graph form); length ``len(layers) - 1``. Default: True for consecutive dense
        layers of matching size.
    """

    layers: tuple[Layer, ...]
    chain: tuple[bool, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers:
            raise MappingError("a network needs at least one layer")
        names = [ly.name for ly in layers]
        if len(set(names)) != len(names):
            raise MappingError(f"layer names must be unique, got {names}")
        for ly in layers:
            if not isinstance(ly, Layer):
                raise MappingError(f"layers must be Layer objects, got {type(ly).__name__}")
        if self.chain is None:
            chain = tuple(
                a.kind == "dense" and b.kind == "dense" and a.shape[1] == b.shape[0]
                for a, b in zip(layers[:-1], layers[1:], strict=True))
        else:
            chain = tuple(bool(c) for c in self.chain)
            if len(chain) != len(layers) - 1:
                raise MappingError(f"chain needs {len(layers) - 1} entries, got {len(chain)}")
            for k, c in enumerate(chain):
                if c and layers[k].shape[1] != layers[k + 1].shape[0]:
                    raise MappingError(
                        f"chain[{k}]: layer {layers[k].name!r} has {layers[k].shape[1]} outputs "
                        f"but {layers[k + 1].name!r} has {layers[k + 1].shape[0]} inputs")
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "chain", chain)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, key: int | str) -> Layer:
        return self.layers[self.index(key)]

    def index(self, key: int | str) -> int:
        """Position of a layer given its index or name."""
        if isinstance(key, str):
            for k, ly in enumerate(self.layers):
                if ly.name == key:
                    return k
            raise MappingError(f"no layer named {key!r}; layers are {[ly.name for ly in self.layers]}")
        k = int(key)
        if not -len(self.layers) <= k < len(self.layers):
            raise MappingError(f"layer index {k} out of range for {len(self.layers)} layers")
        return k % len(self.layers)

    @property
    def n_weights(self) -> int:
        """Total number of weights (kept and pruned)."""
        return sum(ly.weight.size for ly in self.layers)

    def source_layers(self) -> list[int]:
        """Node layer of each weight layer's inputs in the graph form."""
        out, k = [], 0
        for idx in range(len(self.layers)):
            out.append(k)
            k += 1 if (idx < len(self.chain) and self.chain[idx]) else 2
        return out

    def weights(self, *, original_layout: bool = True) -> list[np.ndarray]:
        """Masked weights (pruned = 0), convolutions in (out, in, kh, kw) unless asked otherwise."""
        if original_layout:
            return [ly.original_weight() for ly in self.layers]
        return [ly.masked_weight() for ly in self.layers]

    def masks(self) -> list[np.ndarray]:
        """Masks in each layer's original layout (new arrays)."""
        return [fold_conv_weight(ly.mask, ly.conv.kernel) if ly.kind == "conv" else ly.mask.copy()
                for ly in self.layers]

    def metadata(self) -> list[dict]:
        """JSON-ready per-layer metadata (what the graph form and the file format store)."""
        src = self.source_layers()
        out = []
        for k, ly in enumerate(self.layers):
            d = {"name": ly.name, "kind": ly.kind, "fan_in": ly.shape[0], "fan_out": ly.shape[1],
                 "source_layer": src[k], "scale": ly.scale,
                 "chain_next": bool(self.chain[k]) if k < len(self.chain) else False}
            if ly.conv is not None:
                d["conv"] = {"in_channels": ly.conv.in_channels,
                             "out_channels": ly.conv.out_channels, "kernel": list(ly.conv.kernel)}
            out.append(d)
        return out

    # ------------------------------------------------------------------ graph form
    def to_graph(self):
        """The networkx ``DiGraph`` form (see the module docstring). Slow for millions of edges."""
        import networkx as nx

        g = nx.DiGraph()
        g.graph[GRAPH_META_KEY] = self.metadata()
        src = self.source_layers()
        added: set[int] = set()
        for k, ly in enumerate(self.layers):
            a, b = src[k], src[k] + 1
            for lay, n in ((a, ly.shape[0]), (b, ly.shape[1])):
                if lay not in added:
                    g.add_nodes_from(((lay, i), {"layer": lay, "index": i}) for i in range(n))
                    added.add(lay)
            fi, fo = ly.shape
            ii = np.repeat(np.arange(fi), fo).tolist()
            jj = np.tile(np.arange(fo), fi).tolist()
            w = ly.weight.ravel().tolist()
            s = ly.sign.ravel().tolist()
            gp = ly.g_plus.ravel().tolist()
            gm = ly.g_minus.ravel().tolist()
            kp = ly.mask.ravel().tolist()
            g.add_edges_from(
                ((a, i), (b, j), {"weight": wv, "sign": sv, "g_plus": p, "g_minus": m, "kept": kv})
                for i, j, wv, sv, p, m, kv in zip(ii, jj, w, s, gp, gm, kp, strict=True))
        return g


# ----------------------------------------------------------------------------- builders
def _as_list(x, name: str) -> list:
    if isinstance(x, np.ndarray) or not isinstance(x, Sequence):
        raise MappingError(f"{name} must be a list of arrays, one per layer")
    return list(x)


def _one_per_layer(x, name: str, what: str, n: int) -> list:
    """``x`` as a list of ``n`` entries, one per weight layer."""
    x = _as_list(x, name)
    if len(x) != n:
        raise MappingError(f"got {n} weight arrays but {len(x)} {what}")
    return x


def network_from_layers(  # noqa: PLR0913 -- one optional array list per layer attribute
    weights,
    masks,
    conductances=None,
    *,
    signs=None,
    names: Sequence[str] | None = None,
    scales: Sequence[float | None] | None = None,
    conductance_map: LinearConductanceMap | None = None,
    chain: Sequence[bool] | None = None,
    pruned_conductances=None,
    positions=None,
) -> LayeredNetwork:
    """Array form of a layered pruned network (the fast path of :func:`graph_from_layers`).

    Parameters
    ----------
    weights : list of array_like
        Per layer, a dense (fan_in, fan_out) matrix or a convolution weight (out, in, kh, kw),
        unrolled as in :func:`unroll_conv_weight`.
    masks : list of array_like
        Same shapes as ``weights``; True (or 1) = kept.
    conductances : list of (g_plus, g_minus) or None
        Conductance pairs in siemens, each array in its weight's shape. None: programmed from the
        weights by ``conductance_map`` (:class:`LinearConductanceMap`).
    signs : list of array_like or None
        +1/-1 per weight. Default with ``conductances``: ``sign(w * (G+ - G-))`` (+1 where zero), so
        that the pair realises the weight's sign.
    names : list of str, optional
        Layer names; default ``"layer0"``, ``"layer1"``, ...
    scales : list of float or None, optional
        Siemens per weight unit, when known (filled in by the conductance map otherwise).
    conductance_map : LinearConductanceMap, optional
        Map used without ``conductances``; default ``LinearConductanceMap()``.
    chain : list of bool, optional
        See :class:`LayeredNetwork`.
    pruned_conductances : list of (g_plus, g_minus) or None, optional
        Per layer (None entries allowed), the pair's cells when the weight is pruned, in the
        weight's shape (:attr:`Layer.g_plus_pruned`).
    positions : list of ndarray (5, fan_in, fan_out) or None, optional
        Per layer (None entries allowed), the cells' given places in the crossbar layout
        (convolutions unrolled): :attr:`Layer.positions`, for ``placement="given"``.

    Returns
    -------
    LayeredNetwork
        Owns copies; the caller's arrays are not modified.
    """
    weights = _as_list(weights, "weights")
    n = len(weights)
    masks = _one_per_layer(masks, "masks", "masks", n)
    if conductances is not None:
        conductances = _one_per_layer(conductances, "conductances", "conductance pairs", n)
    if signs is not None:
        signs = _one_per_layer(signs, "signs", "sign arrays", n)
    names = [f"layer{k}" for k in range(n)] if names is None else [str(x) for x in names]
    if len(names) != n:
        raise MappingError(f"got {n} weight arrays but {len(names)} names")
    scales = [None] * n if scales is None else list(scales)
    cmap = LinearConductanceMap() if conductance_map is None else conductance_map
    pruned = ([None] * n if pruned_conductances is None else
              _one_per_layer(pruned_conductances, "pruned_conductances", "pruned pairs", n))
    places = [None] * n if positions is None else _one_per_layer(positions, "positions",
                                                                  "position arrays", n)
    layers = []
    for k in range(n):
        ly = _layer_from_arrays(names[k], weights[k], masks[k],
                                None if conductances is None else conductances[k],
                                None if signs is None else signs[k], scales[k], cmap)
        if pruned[k] is not None or places[k] is not None:
            gpp = gmp = None
            if pruned[k] is not None:
                if len(pruned[k]) != 2:
                    raise MappingError(f"layer {names[k]!r}: pruned_conductances must be a "
                                       "(g_plus, g_minus) pair")
                gpp, gmp = (_unrolled_like(a, weights[k], f"layer {names[k]!r}: pruned pair")
                            for a in pruned[k])
            ly = dataclasses.replace(ly, g_plus_pruned=gpp, g_minus_pruned=gmp,
                                     positions=places[k])
        layers.append(ly)
    return LayeredNetwork(tuple(layers), chain=None if chain is None else tuple(chain))


def _unrolled_like(arr, weight, what: str) -> np.ndarray:
    """``arr`` in ``weight``'s shape, unrolled (im2col) when that is a convolution weight."""
    a = real_array(arr, what, MappingError)
    if a.shape != np.shape(weight):
        raise MappingError(f"{what}: shape {a.shape} differs from weight shape {np.shape(weight)}")
    return unroll_conv_weight(a) if a.ndim == 4 else a


def _layer_from_arrays(name: str, weight, mask, pair, sign, scale, cmap) -> Layer:
    """One :class:`Layer` of :func:`network_from_layers`: a dense or convolution weight (unrolled),
    its mask, its conductance pair (or the map's) and its signs."""
    where = f"layer {name!r}"
    w0 = real_array(weight, f"{where}: weight", MappingError)

    def unroll(arr, what):
        a = real_array(arr, f"{where}: {what}", MappingError)
        if a.shape != np.shape(weight):
            raise MappingError(
                f"{where}: {what} shape {a.shape} differs from weight shape {np.shape(weight)}")
        return unroll_conv_weight(a) if a.ndim == 4 else a

    if w0.ndim == 4:
        kind, geo = "conv", ConvGeometry(w0.shape[1], w0.shape[0], (w0.shape[2], w0.shape[3]))
    elif w0.ndim == 2:
        kind, geo = "dense", None
    else:
        raise MappingError(
            f"{where}: weight must be (fan_in, fan_out) or (out, in, kh, kw), got shape {w0.shape}")
    w = unroll(w0, "weight")
    m = unroll(mask, "mask")
    if m.size and not np.isin(m, (0.0, 1.0)).all():
        raise MappingError(f"{where}: mask must be boolean (or 0/1)")
    m = m.astype(bool)
    if pair is None:
        s, gp, gm, sc = cmap.program(w)
        scale = sc if scale is None else scale
    else:
        if len(pair) != 2:
            raise MappingError(f"{where}: conductances must be a (g_plus, g_minus) pair")
        gp = unroll(pair[0], "g_plus")
        gm = unroll(pair[1], "g_minus")
        s = None
    if sign is not None:
        s = unroll(sign, "sign")
    elif s is None:
        s = np.where(w * (np.asarray(gp, float) - np.asarray(gm, float)) < 0, -1, 1)
    return Layer(name, w, m, s, gp, gm, kind=kind, conv=geo, scale=scale)


def graph_from_layers(weights, masks, conductances=None, **kwargs):
    """The networkx ``DiGraph`` form of a layered pruned network.

    Same parameters as :func:`network_from_layers` (dense (fan_in, fan_out) matrices or convolution
    weights (out, in, kh, kw); masks; optional (G+, G-) pairs, otherwise the linear map of
    :class:`LinearConductanceMap`). Every weight becomes an edge, kept or pruned; see the module
    docstring for the attributes. For networks of millions of weights prefer the array form.
    """
    return network_from_layers(weights, masks, conductances, **kwargs).to_graph()


def _layer_of(g, node) -> int:
    data = g.nodes[node]
    if "layer" not in data:
        raise MappingError(f"node {node!r} has no 'layer' attribute")
    lay = data["layer"]
    if isinstance(lay, (bool, np.bool_)) or not isinstance(lay, (int, np.integer)) or lay < 0:
        raise MappingError(f"node {node!r}: 'layer' must be a non-negative int, got {lay!r}")
    return int(lay)


def _indices_in_layer(graph, lay: int, nodes: list) -> dict:
    """Position of each node of one node layer: its ``index`` attribute (all or none of the layer's
    nodes carry one; then 0..n-1), else the sorted order of the node keys (insertion order if they
    do not sort)."""
    has = ["index" in graph.nodes[v] for v in nodes]
    if all(has):
        idx = [graph.nodes[v]["index"] for v in nodes]
        for v, i in zip(nodes, idx, strict=True):
            if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
                raise MappingError(f"node {v!r}: 'index' must be an int, got {i!r}")
        if sorted(idx) != list(range(len(nodes))):
            raise MappingError(f"node layer {lay}: 'index' values must be 0..{len(nodes) - 1}")
        return dict(zip(nodes, (int(i) for i in idx), strict=True))
    if any(has):
        v = nodes[has.index(False)]
        raise MappingError(f"node {v!r} lacks 'index' while others in layer {lay} have it")
    try:
        order = sorted(nodes)
    except TypeError:
        order = nodes
    return {v: i for i, v in enumerate(order)}


def _node_indices(graph, layer: dict) -> tuple[dict, dict[int, int]]:
    """Node indices within their layer, and the size of every node layer."""
    by_layer: dict[int, list] = {}
    for v, lay in layer.items():
        by_layer.setdefault(lay, []).append(v)
    index: dict = {}
    sizes: dict[int, int] = {}
    for lay, nodes in by_layer.items():
        index.update(_indices_in_layer(graph, lay, nodes))
        sizes[lay] = len(nodes)
    return index, sizes


def _name_bad_edge(edges: list) -> None:
    """Raise a :class:`MappingError` naming the first edge that lacks an attribute or has a
    non-numeric one (the slow pass after the vectorised read failed)."""
    for u, v, d in edges:
        for a in EDGE_ATTRIBUTES:
            if a not in d:
                raise MappingError(f"edge ({u!r}, {v!r}) lacks the attribute {a!r}") from None
            if a != "kept":
                try:
                    float(d[a])
                except (TypeError, ValueError):
                    raise MappingError(
                        f"edge ({u!r}, {v!r}): attribute {a!r} = {d[a]!r} is not a number"
                    ) from None


def _edge_columns(edges: list, layer: dict):
    """The edges, one pass: node layers of both ends, the numeric attributes as float columns
    (weight, sign, g_plus, g_minus) and the raw ``kept`` values."""
    # vectorised where possible; on any failure, a slow pass names the first offending edge
    try:
        src_l = np.fromiter((layer[u] for u, _, _ in edges), np.int64, len(edges))
        dst_l = np.fromiter((layer[v] for _, v, _ in edges), np.int64, len(edges))
        cols = [np.fromiter((d[a] for _, _, d in edges), float, len(edges))
                for a in ("weight", "sign", "g_plus", "g_minus")]
        kept_raw = [d["kept"] for _, _, d in edges]
    except (KeyError, TypeError, ValueError):
        _name_bad_edge(edges)
        raise
    return src_l, dst_l, np.stack(cols, axis=1), kept_raw


def _check_layered(graph, edges: list, layer: dict, src_l: np.ndarray, dst_l: np.ndarray) -> None:
    """Every edge joins node layer k to k + 1; otherwise name a cycle or the first bad edge."""
    import networkx as nx

    not_layered = dst_l != src_l + 1
    if not not_layered.any():
        return
    try:  # only now can there be a cycle; name it if there is one
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        raise MappingError(f"the graph has a cycle through edges {cycle}: not a layered network")
    u, v, _ = edges[int(np.argmax(not_layered))]
    raise MappingError(
        f"edge ({u!r}, {v!r}) goes from node layer {layer[u]} to {layer[v]}: not a layered "
        "network (edges must join layer k to k + 1)")


def _check_edge_values(edges: list, vals: np.ndarray, kept_raw: list) -> np.ndarray:
    """Check ``kept`` (bool or 0/1) and the values (finite, sign +-1, conductances >= 0); return
    ``kept`` as a bool array."""
    bad_kept = [i for i, kv in enumerate(kept_raw) if kv is not True and kv is not False
                and not (isinstance(kv, (int, np.integer, np.bool_)) and kv in (0, 1))]
    if bad_kept:
        u, v, d = edges[bad_kept[0]]
        raise MappingError(f"edge ({u!r}, {v!r}): 'kept' must be a bool, got {d['kept']!r}")
    kept = np.array(kept_raw, dtype=bool)
    bad = ~np.isfinite(vals).all(axis=1) | ~np.isin(vals[:, 1], (-1, 1)) | (vals[:, 2:] < 0).any(1)
    if bad.any():
        e = int(np.argmax(bad))
        u, v, _ = edges[e]
        raise MappingError(
            f"edge ({u!r}, {v!r}) has invalid values (weight, sign, g_plus, g_minus) = {vals[e]}: "
            "need finite numbers, sign +1/-1, conductances >= 0")
    return kept


def _layer_metadata(graph, src_l: np.ndarray, sizes: dict[int, int]) -> list[dict]:
    """The graph's per-layer metadata, or (without it) one dense layer per source node layer."""
    meta = graph.graph.get(GRAPH_META_KEY)
    used = sorted(set(src_l.tolist()))
    if meta is None:
        meta = []
        for k, a in enumerate(used):
            chain_next = k + 1 < len(used) and used[k + 1] == a + 1
            meta.append({"name": f"layer{k}", "kind": "dense", "fan_in": sizes[a],
                         "fan_out": sizes.get(a + 1, 0), "source_layer": a, "scale": None,
                         "chain_next": chain_next})
        return meta
    extra = set(used) - {m["source_layer"] for m in meta}
    if extra:
        raise MappingError(f"edges leave node layer(s) {sorted(extra)} that no layer describes")
    return meta


def _layer_from_edges(m: dict, sizes: dict[int, int], ends: tuple[np.ndarray, np.ndarray],
                      vals: np.ndarray, kept: np.ndarray) -> Layer:
    """One :class:`Layer` from the edges ``ends = (source index, target index)`` leaving its
    source node layer; weights without an edge are absent (0, pruned, G+ = G- = 0, sign +1)."""
    a = m["source_layer"]
    fi, fo = sizes.get(a, 0), sizes.get(a + 1, 0)
    if (fi, fo) != (m["fan_in"], m["fan_out"]):
        raise MappingError(
            f"layer {m['name']!r}: metadata says {m['fan_in']}x{m['fan_out']} but node layers "
            f"{a} and {a + 1} hold {fi} and {fo} nodes")
    w = np.zeros((fi, fo))
    mk = np.zeros((fi, fo), bool)
    sg = np.ones((fi, fo), np.int8)
    gp = np.zeros((fi, fo))
    gm = np.zeros((fi, fo))
    w[ends] = vals[:, 0]
    sg[ends] = vals[:, 1]
    gp[ends] = vals[:, 2]
    gm[ends] = vals[:, 3]
    mk[ends] = kept
    conv = None
    if m["kind"] == "conv":
        c = m["conv"]
        conv = ConvGeometry(int(c["in_channels"]), int(c["out_channels"]), tuple(c["kernel"]))
    return Layer(m["name"], w, mk, sg, gp, gm, kind=m["kind"], conv=conv, scale=m.get("scale"))


def network_from_graph(graph) -> LayeredNetwork:
    """Read the graph form back into the array form.

    Edges absent from the graph count as structurally absent weights: weight 0, pruned,
    G+ = G- = 0, sign +1.

    Raises
    ------
    MappingError
        Not a ``DiGraph``; a cycle; a node without an int ``layer`` (or with a bad ``index``); an edge
        that does not join node layer k to k + 1 (not layered); an edge missing one of
        ``weight, sign, g_plus, g_minus, kept``; bad values; metadata inconsistent with the nodes.
    """
    import networkx as nx

    if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
        raise MappingError(f"expected a networkx DiGraph, got {type(graph).__name__}")
    if graph.number_of_edges() == 0:
        raise MappingError("the graph has no edges (no weights)")
    edges = list(graph.edges(data=True))
    _checks.check_graph(graph, edges, GRAPH_META_KEY)
    layer = {v: _layer_of(graph, v) for v in graph.nodes}
    index, sizes = _node_indices(graph, layer)
    src_l, dst_l, vals, kept_raw = _edge_columns(edges, layer)
    _check_layered(graph, edges, layer, src_l, dst_l)
    kept = _check_edge_values(edges, vals, kept_raw)
    src_i = np.fromiter((index[u] for u, _, _ in edges), np.int64, len(edges))
    dst_i = np.fromiter((index[v] for _, v, _ in edges), np.int64, len(edges))
    meta = _layer_metadata(graph, src_l, sizes)
    # the edges of each layer: those leaving its source node layer (a stable sort keeps their order)
    order = np.argsort(src_l, kind="stable")
    sorted_l = src_l[order]
    layers = []
    for m in meta:
        a = m["source_layer"]
        sel = order[np.searchsorted(sorted_l, a, "left"):np.searchsorted(sorted_l, a, "right")]
        layers.append(_layer_from_edges(m, sizes, (src_i[sel], dst_i[sel]), vals[sel], kept[sel]))
    chain = tuple(bool(m.get("chain_next", False)) for m in meta[:-1])
    return LayeredNetwork(tuple(layers), chain=chain)


def layers_from_graph(graph) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple]]:
    """Arrays back from the graph form: (weights, masks, conductances).

    Weights are the logical weights before masking, in each layer's original layout (convolutions
    (out, in, kh, kw)); ``weights[k] * masks[k]`` is the pruned network. ``conductances[k]`` is the
    (g_plus, g_minus) pair in the same layout.
    """
    net = network_from_graph(graph)
    ws, ms, cs = [], [], []
    for ly in net.layers:
        fold = (lambda a, ly=ly: fold_conv_weight(a, ly.conv.kernel)) if ly.kind == "conv" \
            else (lambda a: a.copy())
        ws.append(fold(ly.weight))
        ms.append(fold(ly.mask))
        cs.append((fold(ly.g_plus), fold(ly.g_minus)))
    return ws, ms, cs
