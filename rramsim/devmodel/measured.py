"""Measured conductances as a device source: the source study's read-out format.

The study (arXiv 2311.07164; its public code, ``*_hardware_TO.py``) keeps the read-outs of its
512 x 512 array in one file, a dict with two arrays of shape ``[n_reads, 2N]``:

* ``"set"``: every cell read ``n_reads`` times with the pairs in their SET (kept) state;
* ``"reset"``: the same cells read with the pairs' first cells RESET (pruned).

Pair ``i`` (``0 <= i < N``) is the cell ``i`` and the cell ``N + i``. The study's hardware code takes
the weights of its layers one after another from the pairs, each layer's pairs in the order of its
PyTorch weight tensor flattened (``(out, in, kh, kw)``; a recurrent layer's input block, then its
hidden block), and forms for read ``r``

.. math:: G_1 = |\\mathrm{set}[r, i] - \\mathrm{set}[r, N + i]|, \\qquad
          G_0 = |\\mathrm{reset}[r, i] - \\mathrm{set}[r, N + i]|,

the kept and the pruned pair; the weight is ``w = s (G_1 m + G_0 (1 - m)) / c`` with the random sign
``s``, the mask ``m`` and the per-layer scale ``c = mean(G_1) / sigma``, ``sigma = gain /
sqrt(density fan_in)`` (the signed-constant scale, :class:`rramsim.nn.SignedConstantScaling`). Every
test batch uses the next read (the study's ``count``), so read-to-read variation is the reads' own.

Cell positions: cell ``j`` of the ``2N`` sits at row ``j // cols``, column ``j % cols`` of the
``rows x cols`` array (row-major over the 512 x 512 array; this project's reading of the flat
index, which the study does not spell out). :meth:`MeasuredLayer.positions` gives every weight's two
cells.

Reading: :func:`read_measured` takes ``.npz`` (NumPy, no pickles) or ``.pt`` (PyTorch, read with
``torch.load(..., weights_only=True)``; needs the optional extra ``rramsim[torch]``).
:func:`write_standin` writes stand-in data in exactly this format (marked ``standin``; every report
of a network built on them says so), since the study's own file is not public.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rramsim.errors import DataError, DeviceModelError

#: The study's array: 512 x 512 cells, 2N = 262,144, N = 131,072 pairs.
ARRAY_SHAPE = (512, 512)


@dataclass(eq=False)
class MeasuredReads:
    """Repeated read-outs of an array in the study's format.

    Attributes
    ----------
    set, reset : ndarray (n_reads, 2N)
        Conductances (siemens) of every cell, SET and RESET read-outs.
    path : Path or None
        The file read.
    standin : bool
        True for stand-in data (:func:`write_standin`), not measurements.
    array_shape : (int, int)
        Rows and columns of the array the ``2N`` cells fill row by row.
    """

    set: np.ndarray
    reset: np.ndarray
    path: Path | None = None
    standin: bool = False
    array_shape: tuple = ARRAY_SHAPE

    def __post_init__(self) -> None:
        where = self.path or "measured data"
        for name in ("set", "reset"):
            a = np.asarray(getattr(self, name))
            if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 2 or a.shape[1] % 2:
                raise DataError(f"{where}: {name!r} must have shape [n_reads, 2N] with n_reads >= 1 "
                                f"and an even 2N >= 2, got {a.shape}")
            if a.dtype.kind != "f" or not np.all(np.isfinite(a)) or np.any(a < 0):
                raise DataError(f"{where}: {name!r} must hold finite conductances >= 0 (siemens)")
            setattr(self, name, np.asarray(a, dtype=float))
        if self.set.shape != self.reset.shape:
            raise DataError(f"{where}: 'set' {self.set.shape} and 'reset' {self.reset.shape} differ")
        rows, cols = (int(v) for v in self.array_shape)
        if rows * cols < self.set.shape[1]:
            raise DataError(f"{where}: {self.set.shape[1]} cells do not fit a {rows} x {cols} array")
        self.array_shape = (rows, cols)

    @property
    def n_reads(self) -> int:
        return int(self.set.shape[0])

    @property
    def n_pairs(self) -> int:
        """``N``: pairs available (half the cells)."""
        return int(self.set.shape[1] // 2)

    def kept(self, read: int, idx: np.ndarray) -> np.ndarray:
        """``|set[r, i] - set[r, N + i]|`` of the pairs ``idx`` (any shape), siemens."""
        return np.abs(self.set[read, idx] - self.set[read, self.n_pairs + idx])

    def pruned(self, read: int, idx: np.ndarray) -> np.ndarray:
        """``|reset[r, i] - set[r, N + i]|`` of the pairs ``idx``, siemens."""
        return np.abs(self.reset[read, idx] - self.set[read, self.n_pairs + idx])

    def describe(self) -> str:
        what = ("STAND-IN data in the measured format (not measurements)" if self.standin
                else "measured conductances")
        return (f"{what} from {self.path or '(memory)'}: {self.n_reads} reads of "
                f"{self.n_pairs} pairs on a {self.array_shape[0]} x {self.array_shape[1]} array")


def _from_mapping(obj, path: Path) -> MeasuredReads:
    if not hasattr(obj, "keys") or "set" not in obj or "reset" not in obj:
        raise DataError(f"{path}: a measured read-out needs the arrays 'set' and 'reset'")

    def arr(v):
        return v.numpy() if hasattr(v, "numpy") else np.asarray(v)

    flag = obj["standin"] if "standin" in obj else False
    shape = ARRAY_SHAPE
    if "array_shape" in obj:
        a = arr(obj["array_shape"])
        if a.shape != (2,) or a.dtype.kind not in "iu" or np.any(a < 1):
            raise DataError(f"{path}: 'array_shape' must be two positive integers (rows, columns)")
        shape = (int(a[0]), int(a[1]))
    return MeasuredReads(arr(obj["set"]), arr(obj["reset"]), path=path, standin=bool(arr(flag)),
                         array_shape=shape)


def load_pt_safely(path):
    """``torch.load(path, weights_only=True, map_location="cpu")``: tensors and plain containers
    only, nothing of the pickle run. Anything else, or a damaged file, is a :class:`DataError`."""
    path = Path(path)
    try:
        import torch
    except ImportError as exc:
        raise DataError(f"{path}: reading .pt files needs PyTorch (pip install 'rramsim[torch]')") \
            from exc
    import pickle

    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError, TypeError,
            AttributeError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: refused: not a plain tensor file that loads with "
                        f"weights_only=True ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
                        ) from exc


def read_measured(path) -> MeasuredReads:
    """Read the study's ``{"set", "reset"}`` read-out file (``.npz``, or ``.pt`` with torch).

    Raises
    ------
    DataError
        Missing file, another suffix, a file that is not that format, a ``.pt`` that needs more
        than tensors and plain containers to load (anything ``weights_only=True`` refuses), or
        arrays of the wrong shape or values (message names the file and the array).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such measured-data file")
    if path.suffix == ".pt":
        return _from_mapping(load_pt_safely(path), path)
    if path.suffix != ".npz":
        raise DataError(f"{path}: measured data must be .npz or .pt, got {path.suffix!r}")
    try:
        with np.load(path, allow_pickle=False) as z:
            return _from_mapping({k: z[k] for k in z.files}, path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: cannot read measured data: {exc}") from exc


def write_standin(path, *, n_reads: int, n_pairs: int = ARRAY_SHAPE[0] * ARRAY_SHAPE[1] // 2,
                  rng: np.random.Generator, g_set: float = 14.2e-6, g_reset: tuple = (0.1e-6, 1e-6),
                  read_spread: float = 0.01, array_shape: tuple = ARRAY_SHAPE) -> Path:
    """Write stand-in read-outs in the study's format (``.npz``; ``.pt`` needs torch).

    SET cells: log-normal around ``g_set`` (sigma 0.25, the formed spread); RESET cells uniform in
    ``g_reset``; every read multiplies each cell by ``exp(read_spread * N(0, 1))`` (read-to-read
    variation). The file carries ``standin = True`` and, when not 512 x 512, ``array_shape``.
    """
    if n_reads < 1 or n_pairs < 1:
        raise DeviceModelError(f"need n_reads >= 1 and n_pairs >= 1, got {n_reads}, {n_pairs}")
    base = g_set * np.exp(0.25 * rng.standard_normal(2 * n_pairs))
    low = rng.uniform(g_reset[0], g_reset[1], 2 * n_pairs)
    jitter = np.exp(read_spread * rng.standard_normal((2, n_reads, 2 * n_pairs)))
    data = {"set": base * jitter[0], "reset": low * jitter[1]}
    return save_reads(path, data["set"], data["reset"], standin=True, array_shape=array_shape)


def save_reads(path, set_, reset, *, standin: bool, array_shape: tuple = ARRAY_SHAPE) -> Path:
    """Write ``set`` / ``reset`` read-outs (``.npz``, or ``.pt`` through torch) with the flag
    (and the array's ``(rows, columns)`` when not the study's 512 x 512)."""
    path = Path(path)
    MeasuredReads(np.asarray(set_, float), np.asarray(reset, float),
                  array_shape=tuple(array_shape))  # validates
    shape = {} if tuple(array_shape) == ARRAY_SHAPE else {"array_shape": np.asarray(array_shape,
                                                                                    np.int64)}
    if path.suffix == ".pt":
        import torch

        torch.save({"set": torch.as_tensor(np.asarray(set_, np.float32)),
                    "reset": torch.as_tensor(np.asarray(reset, np.float32)),
                    "standin": bool(standin),
                    **{k: torch.as_tensor(v) for k, v in shape.items()}}, path)
        return path
    if path.suffix != ".npz":
        raise DataError(f"{path}: measured data must be written as .npz or .pt")
    np.savez(path, set=np.asarray(set_, float), reset=np.asarray(reset, float),
             standin=np.array(bool(standin)), **shape)
    return path


def pairs_at(reads: MeasuredReads, positions, read: int) -> tuple[tuple, tuple]:
    """The cells a layer placed at ``positions`` (``(5, fan_in, fan_out)``: tile, row and column
    of the ``G+`` cell, row and column of the ``G-`` cell, on the read-out's array) hold at read
    ``read``: ``((G+, G-) kept, (G+, G-) pruned)``, siemens. Kept: both cells' SET read-outs;
    pruned: the pair's first cell (flat index below ``N``) from the RESET read-out, the other
    SET, as the study forms ``G_0``."""
    if not 0 <= read < reads.n_reads:
        raise DeviceModelError(f"read {read} out of range (0..{reads.n_reads - 1})")
    p = np.asarray(positions)
    cols = reads.array_shape[1]
    flat = [p[1] * cols + p[2], p[3] * cols + p[4]]
    if any(np.any(f >= 2 * reads.n_pairs) for f in flat) or np.any(p < 0):
        raise DataError(f"{reads.path or 'measured data'}: positions beyond its "
                        f"{2 * reads.n_pairs} cells")
    kept = tuple(reads.set[read, f] for f in flat)
    pruned = tuple(np.where(f < reads.n_pairs, reads.reset[read, f], reads.set[read, f])
                   for f in flat)
    return kept, pruned


# ------------------------------------------------------------------------------ layer indices
def pair_indices(layers, *, start: int = 0) -> list[np.ndarray]:
    """The study's pair of every weight, per layer, in the crossbar layout ``(fan_in, fan_out)``.

    ``layers``: ``("dense", fan_in, fan_out)``, ``("conv", in_channels, out_channels, kh, kw)`` or
    ``("rnn", input_size, hidden_size)`` (rows ``[input; hidden]``), in network order. Pairs are
    taken one after another from ``start``, each layer's in PyTorch's flattened order.
    """
    out, pos = [], int(start)

    def block(shape):
        nonlocal pos
        n = int(np.prod(shape))
        b = pos + np.arange(n).reshape(shape)
        pos += n
        return b

    for spec in layers:
        kind = spec[0]
        if kind == "dense":
            _, fi, fo = spec
            out.append(block((fo, fi)).T)
        elif kind == "conv":
            _, ci, co, kh, kw = spec
            out.append(block((co, ci, kh, kw)).reshape(co, -1).T)
        elif kind == "rnn":
            _, ni, nh = spec
            out.append(np.concatenate([block((nh, ni)).T, block((nh, nh)).T], axis=0))
        else:
            raise DeviceModelError(f"unknown layer kind {kind!r} (dense, conv, rnn)")
    return [np.ascontiguousarray(a) for a in out]


@dataclass(frozen=True)
class MeasuredProgramming:
    """Mask changes on measured pairs (the read-outs fix the conductances: no pulses modelled)."""

    resets: int
    sets: int
    cell_ops: int
    pulses: int = 0
    energy: float = float("nan")


@dataclass(eq=False)
class MeasuredLayer:
    """The pairs of one weight layer taken from measured read-outs.

    ``live`` / ``conductance`` / ``pairs`` follow :class:`rramsim.nn.hardware.DeviceLayer`
    (``(2, fan_in, fan_out)``, index 0 the ``G+`` cell, 1 the ``G-`` cell) at read
    :attr:`read`. Which of cell ``i`` and cell ``N + i`` is ``G+`` is fixed once, at the read the
    layer was built from (:attr:`swap`: True where cell ``N + i`` read higher), so that
    ``live[0] - live[1] = G_1 >= 0`` there; a circuit wires the pair that way for every read.

    ``scale``: siemens per weight unit, one number, or per crossbar row an array ``(fan_in, 1)``
    (a recurrent layer: the input block's and the hidden block's own scales, as the study's
    ``MaskRNN`` has ``ih_scale`` and ``hh_scale``).
    """

    reads: MeasuredReads
    index: np.ndarray
    sign: np.ndarray
    scale: float | np.ndarray
    programmed: np.ndarray
    read: int = 0
    swap: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.swap is None:
            n = self.reads.n_pairs
            self.swap = self.reads.set[self.read, self.index] < self.reads.set[self.read,
                                                                               n + self.index]

    def _ordered(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return np.stack([np.where(self.swap, second, first), np.where(self.swap, first, second)])

    def cells(self, r: int, kept=True) -> np.ndarray:
        """``(G+, G-)`` cells at read ``r``: both SET where ``kept`` (bool or array), else cell
        ``i`` RESET and cell ``N + i`` SET (the study's ``G_0`` pair)."""
        n = self.reads.n_pairs
        first = np.where(kept, self.reads.set[r, self.index], self.reads.reset[r, self.index])
        return self._ordered(first, self.reads.set[r, n + self.index])

    @property
    def live(self) -> np.ndarray:
        """SET-state cells at read :attr:`read`, siemens."""
        return self.cells(self.read, True)

    @property
    def conductance(self) -> np.ndarray:
        """Present cells: SET pairs where kept, the RESET read-out's first cell where pruned."""
        return self.cells(self.read, self.programmed)

    def magnitude(self, r: int, mask=None) -> np.ndarray:
        """``G_1 m + G_0 (1 - m)`` at read ``r`` (``m`` = ``mask`` or :attr:`programmed`)."""
        m = self.programmed if mask is None else np.asarray(mask, bool)
        return np.where(m, self.reads.kept(r, self.index), self.reads.pruned(r, self.index))

    @property
    def scalar_scale(self) -> float:
        """The scale of the layer's first row (the whole layer's when it has one)."""
        return float(np.ravel(self.scale)[0])

    def weight(self, conductance=None) -> np.ndarray:
        """Logical (kept-state) weight ``s G_1 / c`` at read :attr:`read`."""
        return self.sign * self.reads.kept(self.read, self.index) / self.scale

    def pairs(self, conductance=None) -> tuple[np.ndarray, np.ndarray]:
        """``(G_pos, G_neg)`` with the sign folded in (default: the :attr:`live` SET pairs, whose
        ``(G_pos - G_neg) / scale`` is the kept weight)."""
        g = self.live if conductance is None else np.asarray(conductance)
        pos = self.sign > 0
        return np.where(pos, g[0], g[1]), np.where(pos, g[1], g[0])

    def positions(self) -> tuple[np.ndarray, ...]:
        """``(row_first, col_first, row_second, col_second)`` of every weight's two cells."""
        cols = self.reads.array_shape[1]
        r1, c1 = np.divmod(self.index, cols)
        r2, c2 = np.divmod(self.index + self.reads.n_pairs, cols)
        return r1, c1, r2, c2

    def tile_positions(self) -> np.ndarray:
        """``(5, fan_in, fan_out)``: tile (0, the one array), row and column of the ``G+`` cell,
        row and column of the ``G-`` cell (:attr:`rramsim.mapper.network.Layer.positions`)."""
        r1, c1, r2, c2 = self.positions()
        plus = np.where(self.swap, r2, r1), np.where(self.swap, c2, c1)
        minus = np.where(self.swap, r1, r2), np.where(self.swap, c1, c2)
        return np.stack([np.zeros_like(r1), *plus, *minus]).astype(np.int64)


class MeasuredNetwork:
    """Every weight layer's pairs from measured read-outs (the interface of
    :class:`rramsim.nn.DeviceNetwork`: ``layers``, ``weights``, ``program``, ``read_weights``,
    ``conductance_pairs``); build with :func:`measured_network`."""

    def __init__(self, reads: MeasuredReads, layers: list[MeasuredLayer]) -> None:
        self.reads = reads
        self.layers = layers
        self._next_read = 0

    def describe(self) -> str:
        return self.reads.describe()

    def weights(self) -> list[np.ndarray]:
        """Kept-state weights at each layer's :attr:`MeasuredLayer.read`."""
        return [la.weight() for la in self.layers]

    def physical_weights(self) -> list[np.ndarray]:
        return [la.sign * la.magnitude(la.read) / la.scale for la in self.layers]

    def weights_at(self, read: int, masks=None) -> list[np.ndarray]:
        """The weights the hardware holds at read ``read``: ``s (G_1 m + G_0 (1 - m)) / c``."""
        if not 0 <= read < self.reads.n_reads:
            raise DeviceModelError(f"read {read} out of range (0..{self.reads.n_reads - 1})")
        masks = [None] * len(self.layers) if masks is None else masks
        return [la.sign * la.magnitude(read, m) / la.scale
                for la, m in zip(self.layers, masks, strict=True)]

    def program(self, masks, *, rng=None) -> MeasuredProgramming:
        """Record new masks (RESET where a pair goes pruned, SET where it comes back)."""
        if len(masks) != len(self.layers):
            raise DeviceModelError(f"{len(masks)} masks for {len(self.layers)} layers")
        resets = sets = 0
        for la, m in zip(self.layers, masks, strict=True):
            m = np.asarray(m, bool)
            if m.shape != la.index.shape:
                raise DeviceModelError(f"mask shape {m.shape} != layer shape {la.index.shape}")
            resets += int(np.sum(la.programmed & ~m))
            sets += int(np.sum(~la.programmed & m))
            la.programmed = m.copy()
        return MeasuredProgramming(resets, sets, 2 * (resets + sets))

    def read_weights(self, *, rng=None, noise: float = 0.0) -> list[np.ndarray]:
        """The next read's hardware weights (reads in turn, as the study's ``count``); the
        read-to-read variation is the data's own, so ``noise`` is not added."""
        r = self._next_read % self.reads.n_reads
        self._next_read += 1
        return self.weights_at(r)

    def conductance_pairs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [la.pairs() for la in self.layers]


def measured_network(reads: MeasuredReads, indices, *, signs=None, rng=None, gain: float = 2**0.5,
                     density: float = 0.5, read: int = 0, row_blocks=None) -> MeasuredNetwork:
    """Pairs for layers whose weights sit at the pairs ``indices`` (:func:`pair_indices`).

    ``signs``: per layer +-1 arrays (e.g. the signs of a PyTorch model's weights); else drawn
    from ``rng``. Scale per layer: ``mean over reads and pairs of G_1 / sigma`` with ``sigma =
    gain / sqrt(density fan_in)``. ``read``: which read the logical (stored) pairs come from.
    ``row_blocks``: per layer None or the crossbar rows where a new block with its own scale
    starts (a recurrent layer: ``[input_size]``; each block's ``fan_in`` is its own rows, as the
    study's ``MaskRNN`` scales ``weight_ih`` and ``weight_hh`` apart).
    """
    if not 0 <= read < reads.n_reads:
        raise DeviceModelError(f"read {read} out of range (0..{reads.n_reads - 1})")
    need = max((int(np.max(ix)) + 1 for ix in indices), default=0)
    if need > reads.n_pairs:
        raise DataError(f"{reads.path or 'measured data'}: the network needs {need} pairs, the "
                        f"file has {reads.n_pairs}")
    layers = []
    splits = [None] * len(indices) if row_blocks is None else list(row_blocks)
    for k, ix in enumerate(indices):
        ix = np.asarray(ix, dtype=np.int64)
        if signs is not None:
            s = np.where(np.asarray(signs[k]) < 0, -1, 1).astype(np.int8)
        elif rng is not None:
            s = np.where(rng.random(ix.shape) < 0.5, -1, 1).astype(np.int8)
        else:
            raise DeviceModelError("measured_network needs signs or rng")
        if s.shape != ix.shape:
            raise DeviceModelError(f"layer {k}: signs {s.shape} for pairs {ix.shape}")
        bounds = [0, *(splits[k] or ()), ix.shape[0]]
        scale = np.empty((ix.shape[0], 1))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            g1 = np.abs(reads.set[:, ix[a:b]] - reads.set[:, reads.n_pairs + ix[a:b]])
            mean = float(np.mean(g1))
            if not mean > 0:
                raise DataError(f"layer {k}: its measured kept pairs (rows {a}..{b - 1}) have "
                                "no conductance difference")
            scale[a:b] = mean / (gain / np.sqrt(density * (b - a)))
        sc = float(scale[0, 0]) if len(bounds) == 2 else scale
        layers.append(MeasuredLayer(reads, ix, s, sc, np.ones(ix.shape, bool), read))
    return MeasuredNetwork(reads, layers)


def per_batch_read_accuracy(forward, x, labels, device: MeasuredNetwork, *, batch_size: int,
                            masks=None) -> tuple[float, list[int]]:
    """Accuracy with batch ``b`` run on read ``b mod n_reads`` (the study's test loop).

    ``forward(x, matmul=...)`` is a network's forward pass; weight layer ``k``'s product uses
    :meth:`MeasuredNetwork.weights_at`. Returns the accuracy and the read of each batch.
    """
    if batch_size < 1:
        raise DeviceModelError(f"batch_size must be >= 1, got {batch_size}")
    correct, reads = 0, []
    for b, i in enumerate(range(0, len(x), batch_size)):
        r = b % device.reads.n_reads
        ws = device.weights_at(r, masks)
        out = forward(x[i:i + batch_size],
                      matmul=lambda k, x2d, w, ws=ws: x2d @ ws[k].astype(x2d.dtype, copy=False))
        correct += int(np.sum(np.argmax(out, axis=1) == np.asarray(labels[i:i + batch_size])))
        reads.append(r)
    return correct / max(len(x), 1), reads
