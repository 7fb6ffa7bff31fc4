"""Circuit-accurate inference of a mapped network, beside behavioural and software evaluations.

The network is a stack of dense layers (convolutions arrive unrolled, im2col, as the same
products). Each layer's product runs on the tiles that hold it (a :class:`LayerPlan` of
:class:`TileSlice` s, built from the mapper's placement by :mod:`rramsim.studies.adapters`):

1. **DAC**: the layer input ``x`` (B, fan_in) is quantised to ``dac.bits`` over ``[0, x_fs]``
   (``x_fs`` from the calibration batch, per layer) and driven as ``v = q(x) / x_fs * v_read_V``;
   rows of the "rows" differential scheme are driven with the polarity of their cell.
2. **Tile product**: per tile, ``I = V @ A`` with ``A`` the tile's IR-drop-exact transfer matrix
   T (``mode="circuit"``, linear cells: :func:`rramsim.solver.transfer_matrix`, once per tile) or
   its ideal conductances ``G`` (``mode="behavioural"``, the source study's simulation,
   ``w = G+ - G-``). Non-linear (sinh) cells in circuit mode are solved per batch by
   :func:`rramsim.solver.solve` (Newton).
3. **Read noise** (seeded): each cell's read current has relative Gaussian noise of std
   ``read_noise_rel``; summed on a bit line this is exactly a Gaussian of variance
   ``read_noise_rel^2 * sum_i (V_i G_ij)^2`` (the noise is taken on the ideal cell current, a
   first-order approximation under IR drop), drawn once per column and input.
4. **TIA and ADC**: every bit line's current is digitised by its own TIA and ADC
   (:class:`~rramsim.studies.quantize.Readout`, one TIA gain per layer calibrated on the
   calibration batch's currents in the same mode).
5. **Digital**: differential columns subtracted, partial sums of row-split tiles added,
   scaled back to weight units by ``1 / (g_per_weight * v_read_V / x_fs)``; activation (ReLU)
   digital.

``mode="software"`` is the float network (weights times masks, no converters, no noise);
``mode="ideal"`` is the behavioural product without converters or noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rramsim.errors import RramsimError
from rramsim.studies.quantize import DAC, Readout, calibrate_readout, full_scale

Mode = Literal["software", "ideal", "behavioural", "circuit"]
MODES: tuple[str, ...] = ("software", "ideal", "behavioural", "circuit")


class InferenceError(RramsimError, ValueError):
    """A network plan or its inputs are inconsistent."""


@dataclass(frozen=True, eq=False)
class TileSlice:
    """The part of one tile that computes (part of) one layer's product.

    Attributes
    ----------
    tile : int
        Index into the tile list.
    rows : ndarray of int (m,)
        Tile rows (word lines) used.
    row_inputs : ndarray of int (m,)
        Layer input driving each of those rows.
    row_sign : ndarray of float (m,)
        Drive polarity (+1 or -1; -1 for the negative row of a "rows" differential pair).
    cols : ndarray of int (n,)
        Tile columns (bit lines) read.
    col_outputs : ndarray of int (n,)
        Layer output each column contributes to.
    col_sign : ndarray of float (n,)
        +1 or -1 (the negative column of a "columns" differential pair).
    """

    tile: int
    rows: np.ndarray
    row_inputs: np.ndarray
    row_sign: np.ndarray
    cols: np.ndarray
    col_outputs: np.ndarray
    col_sign: np.ndarray

    def __post_init__(self) -> None:
        for name in ("rows", "row_inputs", "cols", "col_outputs"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.int64))
        for name in ("row_sign", "col_sign"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=float))
        if not (self.rows.shape == self.row_inputs.shape == self.row_sign.shape):
            raise InferenceError(f"tile {self.tile}: rows, row_inputs, row_sign differ in length")
        if not (self.cols.shape == self.col_outputs.shape == self.col_sign.shape):
            raise InferenceError(f"tile {self.tile}: cols, col_outputs, col_sign differ in length")


@dataclass(frozen=True, eq=False)
class LayerPlan:
    """One layer on the hardware.

    Attributes
    ----------
    name : str
    weights : ndarray (fan_in, fan_out)
        Software weights (weights times mask; pruned entries 0).
    g_per_weight : float
        Siemens of differential conductance per unit weight (the mapper's linear map).
    slices : tuple of TileSlice
    activation : {"relu", "none"}
    reads : int
        Tile reads per inference of this layer (1 for a dense layer, output positions for an
        unrolled convolution); used by the energy bookkeeping.
    """

    name: str
    weights: np.ndarray
    g_per_weight: float
    slices: tuple[TileSlice, ...]
    activation: str = "relu"
    reads: int = 1

    @property
    def fan_in(self) -> int:
        return int(self.weights.shape[0])

    @property
    def fan_out(self) -> int:
        return int(self.weights.shape[1])


@dataclass(frozen=True, eq=False)
class HardwareNetwork:
    """Tiles plus layer plans: everything needed to run the network on the circuit."""

    tiles: tuple
    layers: tuple[LayerPlan, ...]

    def hardware_weights(self, layer: int) -> np.ndarray:
        """The (fan_in, fan_out) weights the tiles hold ideally: ``(G+ - G-) / g_per_weight``."""
        lp = self.layers[layer]
        d = np.zeros((lp.fan_in, lp.fan_out))
        for s in lp.slices:
            g = np.asarray(self.tiles[s.tile].effective_conductance())
            sub = g[np.ix_(s.rows, s.cols)] * s.row_sign[:, None] * s.col_sign[None, :]
            np.add.at(d, (s.row_inputs[:, None], s.col_outputs[None, :]), sub)
        return d / lp.g_per_weight


@dataclass
class Converters:
    """Per-layer converter settings after calibration (one mode).

    Attributes
    ----------
    dacs : list of DAC
        One per layer (signed when the layer's calibration inputs had negative values).
    x_full_scale : list of float
        Input full scale per layer, in the unit of the layer's input.
    readouts : list of Readout
        TIA gain and ADC per layer (shared by the layer's columns).
    """

    dacs: list[DAC]
    x_full_scale: list[float]
    readouts: list[Readout]

    @property
    def dac(self) -> DAC:
        """The first layer's DAC (all layers share bits and read voltage)."""
        return self.dacs[0]


@dataclass
class Prepared:
    """Per-tile matrices for a mode, computed once (transfer matrices for circuit mode)."""

    mode: str
    matrices: dict[int, np.ndarray] = field(default_factory=dict)
    g_squared: dict[int, np.ndarray] = field(default_factory=dict)
    nonlinear: set = field(default_factory=set)
    blocks: dict = field(default_factory=dict)

    def block(self, s: TileSlice) -> tuple[np.ndarray, np.ndarray]:
        """The slice's (rows, cols) blocks of A (signed by row polarity) and of G^2, cached."""
        key = id(s)
        got = self.blocks.get(key)
        if got is None or got[0] is not s:
            ix = np.ix_(s.rows, s.cols)
            a = self.matrices.get(s.tile)
            a_blk = None if a is None else np.ascontiguousarray(a[ix] * s.row_sign[:, None])
            got = (s, a_blk, np.ascontiguousarray(self.g_squared[s.tile][ix]))
            self.blocks[key] = got
        return got[1], got[2]


def _activate(y: np.ndarray, act: str) -> np.ndarray:
    if act == "relu":
        return np.maximum(y, 0.0)
    if act == "none":
        return y
    raise InferenceError(f"unknown activation {act!r}")


def prepare(hw: HardwareNetwork, mode: Mode, *, progress: bool = False) -> Prepared:
    """Per-tile matrices: T (circuit, linear tiles), G_eff (behavioural/ideal); G^2 for noise."""
    if mode not in MODES:
        raise InferenceError(f"mode must be one of {MODES}, got {mode!r}")
    prep = Prepared(mode=mode)
    if mode == "software":
        return prep
    used = sorted({s.tile for lp in hw.layers for s in lp.slices})
    it = used
    if progress and mode == "circuit":
        from tqdm import tqdm

        it = tqdm(used, desc="transfer matrices", unit="tile", leave=False)
    for t in it:
        xb = hw.tiles[t]
        g = np.asarray(xb.conductance)
        prep.g_squared[t] = g**2
        if mode == "circuit":
            if xb.is_linear:
                from rramsim import solver

                prep.matrices[t] = np.asarray(solver.transfer_matrix(xb))
            else:
                prep.nonlinear.add(t)
        else:
            prep.matrices[t] = np.asarray(xb.effective_conductance())
    return prep


def _slice_currents(hw, prep: Prepared, s: TileSlice, v: np.ndarray) -> np.ndarray:
    """Currents (B, n) of a slice's columns for layer voltages v (B, fan_in)."""
    if s.tile in prep.nonlinear:
        from rramsim import solver

        xb = hw.tiles[s.tile]
        full = np.zeros((v.shape[0], xb.n_rows))
        full[:, s.rows] = v[:, s.row_inputs] * s.row_sign
        return np.asarray(solver.solve(xb, full).i_out).reshape(v.shape[0], -1)[:, s.cols]
    a_blk, _ = prep.block(s)
    return v[:, s.row_inputs] @ a_blk


def layer_currents(hw, prep: Prepared, layer: int, v: np.ndarray, *, read_noise_rel: float,
                   rng: np.random.Generator | None) -> list[np.ndarray]:
    """Analogue column currents (amperes) of every slice of a layer, noise included."""
    lp = hw.layers[layer]
    out = []
    for s in lp.slices:
        i = _slice_currents(hw, prep, s, v)
        if read_noise_rel > 0:
            if rng is None:
                raise InferenceError("read noise needs an rng")
            _, g2_blk = prep.block(s)
            var = (v[:, s.row_inputs] ** 2) @ g2_blk
            i = i + read_noise_rel * np.sqrt(var) * rng.standard_normal(i.shape)
        out.append(i)
    return out


def _combine(lp: LayerPlan, currents: list[np.ndarray], b: int) -> np.ndarray:
    y = np.zeros((b, lp.fan_out))
    for s, i in zip(lp.slices, currents, strict=True):
        scatter = getattr(s, "_scatter", None)
        if scatter is None or scatter.shape[1] != lp.fan_out:
            scatter = np.zeros((s.cols.size, lp.fan_out))
            scatter[np.arange(s.cols.size), s.col_outputs] = s.col_sign
            object.__setattr__(s, "_scatter", scatter)   # cache (not a field)
        y += i @ scatter
    return y


def calibrate_layers(hw: HardwareNetwork, prep: Prepared, layer_inputs, *, dac: DAC,
                     adc_bits: int, adc_full_scale_V: float, method: str = "max",
                     percentile: float = 99.9) -> Converters:
    """Set each layer's DAC full scale and TIA gain from its calibration inputs.

    Parameters
    ----------
    layer_inputs : list of ndarray (rows, fan_in)
        Each layer's inputs on the calibration batch (training data), e.g. recorded from the
        software network (:func:`record_inputs`).
    dac : DAC
        Bits and read voltage; made signed for a layer whose inputs include negative values.

    The DAC full scale of layer k is ``full_scale(|x_k|, method)``; the TIA gain is set from the
    full scale of the layer's noiseless column currents in this mode with that DAC
    (:func:`~rramsim.studies.quantize.calibrate_readout`).
    """
    dacs, x_fs, readouts = [], [], []
    for k, x in enumerate(layer_inputs):
        x = np.asarray(x, dtype=float)
        fs = full_scale(x, method=method, percentile=percentile)
        d = DAC(bits=dac.bits, v_read_V=dac.v_read_V, signed=bool(np.any(x < 0)) or dac.signed)
        v = d.voltages(x, fs)
        cur = layer_currents(hw, prep, k, v, read_noise_rel=0.0, rng=None)
        allc = np.concatenate([c.ravel() for c in cur])
        dacs.append(d)
        x_fs.append(fs)
        readouts.append(calibrate_readout(allc, bits=adc_bits, v_full_scale_V=adc_full_scale_V,
                                          method=method, percentile=percentile))
    return Converters(dacs=dacs, x_full_scale=x_fs, readouts=readouts)


def calibrate(hw: HardwareNetwork, prep: Prepared, x_calib, *, dac: DAC, adc_bits: int,
              adc_full_scale_V: float, method: str = "max", percentile: float = 99.9
              ) -> Converters:
    """:func:`calibrate_layers` with layer inputs from the plan's own software forward pass."""
    x = np.asarray(x_calib, dtype=float)
    inputs = []
    for lp in hw.layers:
        inputs.append(x)
        x = _activate(x @ lp.weights, lp.activation)
    return calibrate_layers(hw, prep, inputs, dac=dac, adc_bits=adc_bits,
                            adc_full_scale_V=adc_full_scale_V, method=method,
                            percentile=percentile)


def layer_product(hw: HardwareNetwork, k: int, x2d, *, mode: Mode, prep: Prepared | None = None,
                  conv: Converters | None = None, read_noise_rel: float = 0.0,
                  rng: np.random.Generator | None = None, record: list | None = None
                  ) -> np.ndarray:
    """Layer k's product ``x2d @ W_k`` (rows, fan_out) as the chosen mode computes it.

    See the module docstring for the modes. ``record``, when given, receives a dict with the
    layer's drive voltages ``v`` (rows, fan_in) for behavioural and circuit modes.
    """
    lp = hw.layers[k]
    x = np.asarray(x2d, dtype=float)
    if x.ndim != 2 or x.shape[1] != lp.fan_in:
        raise InferenceError(f"layer {lp.name}: inputs must be (rows, {lp.fan_in}), got {x.shape}")
    if mode == "software":
        return x @ lp.weights
    if mode == "ideal":
        if prep is None or prep.mode != "ideal":
            raise InferenceError("mode 'ideal' needs prepare(hw, 'ideal')")
        i = layer_currents(hw, prep, k, x, read_noise_rel=0.0, rng=None)
        return _combine(lp, i, x.shape[0]) / lp.g_per_weight
    if mode not in MODES:
        raise InferenceError(f"mode must be one of {MODES}, got {mode!r}")
    if prep is None or conv is None or prep.mode != mode:
        raise InferenceError(f"mode {mode!r} needs prepare() and calibrate() in that mode")
    fs = conv.x_full_scale[k]
    d = conv.dacs[k]
    v = d.voltages(x, fs)
    if record is not None:
        record.append({"layer": k, "v": v})
    cur = layer_currents(hw, prep, k, v, read_noise_rel=read_noise_rel, rng=rng)
    cur = [conv.readouts[k].quantize(c) for c in cur]
    return _combine(lp, cur, x.shape[0]) / (lp.g_per_weight * d.v_read_V / fs)


def make_matmul(hw: HardwareNetwork, *, mode: Mode, prep: Prepared | None = None,
                conv: Converters | None = None, read_noise_rel: float = 0.0,
                rng: np.random.Generator | None = None, record: list | None = None):
    """A ``matmul(layer_index, x2d, w) -> y2d`` for :meth:`rramsim.nn.Network.forward`.

    The network's own weights ``w`` are ignored except for a shape check: the product comes from
    the hardware plan of that layer in the chosen mode.
    """

    def matmul(layer_index: int, x2d: np.ndarray, w: np.ndarray) -> np.ndarray:
        lp = hw.layers[layer_index]
        if tuple(np.shape(w)) != (lp.fan_in, lp.fan_out):
            raise InferenceError(f"layer {layer_index}: network weight shape {np.shape(w)} does "
                                 f"not match the mapped layer {(lp.fan_in, lp.fan_out)}")
        return layer_product(hw, layer_index, x2d, mode=mode, prep=prep, conv=conv,
                             read_noise_rel=read_noise_rel, rng=rng, record=record)

    return matmul


def record_inputs(forward_fn, x) -> list[np.ndarray]:
    """Each weight layer's input ``x2d`` during ``forward_fn(x, matmul=...)`` (software products).

    ``forward_fn`` is e.g. ``net.forward``; returns one (rows, fan_in) array per weight layer,
    concatenated when a layer is called several times (RNN steps).
    """
    seen: dict[int, list[np.ndarray]] = {}

    def matmul(layer_index, x2d, w):
        seen.setdefault(layer_index, []).append(np.array(x2d, dtype=float))
        return x2d @ w

    forward_fn(np.asarray(x), matmul=matmul)
    return [np.concatenate(seen[k], axis=0) for k in sorted(seen)]


def forward(hw: HardwareNetwork, x, *, mode: Mode, prep: Prepared | None = None,
            conv: Converters | None = None, read_noise_rel: float = 0.0,
            rng: np.random.Generator | None = None, record: list | None = None) -> np.ndarray:
    """Run the plan's own layer stack (product, then activation) on inputs ``x`` (B, fan_in0).

    For networks with pooling, BN or recurrence use :func:`make_matmul` with the network's own
    forward pass instead.
    """
    x = np.array(x, dtype=float)  # a copy: the caller's array is never touched
    if mode not in MODES:
        raise InferenceError(f"mode must be one of {MODES}, got {mode!r}")
    if x.ndim != 2 or x.shape[1] != hw.layers[0].fan_in:
        raise InferenceError(f"inputs must be (B, {hw.layers[0].fan_in}), got {x.shape}")
    for k, lp in enumerate(hw.layers):
        y = layer_product(hw, k, x, mode=mode, prep=prep, conv=conv,
                          read_noise_rel=read_noise_rel, rng=rng, record=record)
        x = _activate(y, lp.activation)
    return x


def accuracy(logits: np.ndarray, labels) -> float:
    """Fraction of rows whose argmax equals the label."""
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels)))
