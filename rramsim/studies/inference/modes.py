"""The matmul hook of any :class:`rramsim.nn.Network` in four modes, on the mapper's execution plan.

A network's forward pass (``net.forward(x, matmul=f)``) calls ``f(layer_index, x2d, w)`` for every
weight-layer product: a dense batch, a batch of im2col patches of a convolution, or one time step
``[x_t, h_{t-1}]`` of a ReLU-RNN (its input and recurrent matrices stacked, both on the tiles).
Everything else (BN, pooling, activations, quantisers, up-sampling, concatenation) stays digital,
as on the study's FPGA (arXiv 2311.07164). :func:`make_matmul` gives ``f`` for a mode:

``software``
    ``x2d @ w``: the float network.
``ideal``
    The tiles' ideal conductances (reset cells included), no converters, no noise.
``behavioural``
    Ideal ``G+ - G-`` products with DAC, read noise, TIA and ADC (the study's own simulation).
``circuit``
    The same with each tile's IR-drop-exact transfer matrix T (linear cells, computed once per
    programmed network) or Newton solves of the whole tile (sinh cells).

Per product, for each :class:`rramsim.mapper.TileRead` of the layer's plan:

1. **DAC**: ``x`` is quantised to ``dac.bits`` over ``[0, x_fs]`` (signed when the layer's
   calibration inputs were) and driven as ``v = q(x) / x_fs * v_read_V`` with the row's polarity.
2. **Tile**: ``I = drive(v) @ A[rows][:, cols]`` with ``A`` = T (circuit) or G (behavioural).
3. **Read noise** (seeded): relative std ``read_noise_rel`` of each cell's read current; summed
   on a bit line a Gaussian of variance ``read_noise_rel^2 sum_i (V_i A_ij)^2``, ``A`` = G in
   behavioural mode (exact) and the transfer matrix T in circuit mode (linear cells): ``V_i T_ij``
   is cell (i, j)'s contribution to its column's output under IR drop, the current the cell
   carries at its attenuated voltage as far as it reaches the TIA. A first-order model, mostly
   above the exact first-order noise of the solved tile (the tile's feedback damps a cell's
   fluctuation further; :mod:`rramsim.studies.inference.readnoise` computes that noise, and
   docs/read_schemes.md gives the measured comparison). With G under heavy IR drop the noise
   would keep its ideal size while the signal shrinks, and a calibration that restores the
   signal's scale would multiply the noise by the attenuation. Sinh cells (solved): ``G``.
4. **TIA and ADC** per bit line (one TIA gain per layer, calibrated on training inputs).
5. **Digital**: signed columns summed into the layer outputs (differential pairs, partial sums of
   row-split layers), scaled back by ``1 / (scale * v_read_V / x_fs)``.

Without converters (``conv=None``) behavioural and circuit products are exact: ``x @ M / scale``
with ``M`` the plan's effective matrix (:meth:`rramsim.mapper.LayerPlan.matrix`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rramsim.errors import InferenceError
from rramsim.studies.inference.quantize import ADC, DAC, calibrate_adc, full_scale

Mode = Literal["software", "ideal", "behavioural", "circuit"]
MODES: tuple[str, ...] = ("software", "ideal", "behavioural", "circuit")

#: Drive records kept per layer (rows of x2d) for the energy, tile-error and saturation figures.
RECORD_ROWS = 8192


@dataclass
class Converters:
    """Per-layer converter settings after calibration (one mode).

    Attributes
    ----------
    dacs : list of DAC
        One per layer (signed when the layer's calibration inputs had negative values).
    x_full_scale : list of float
        Input full scale per layer, in the unit of the layer's input.
    readouts : list of ADC
        TIA gain and ADC per layer (shared by the layer's columns).
    """

    dacs: list[DAC]
    x_full_scale: list[float]
    readouts: list[ADC]


@dataclass(eq=False)
class Prepared:
    """Per-tile matrices of one mode on one programmed network, and per-read blocks (cached).

    ``matrices[t]`` is T (circuit) or G_eff (ideal, behavioural); ``nonlinear`` holds tiles whose
    circuit products need Newton solves; ``g_squared[t]`` = A**2 for the read noise (A = G, or T
    for the linear tiles of circuit mode; see the module docstring).
    """

    mode: str
    hardware: object
    matrices: dict[int, np.ndarray] = field(default_factory=dict)
    g_squared: dict[int, np.ndarray] = field(default_factory=dict)
    nonlinear: set = field(default_factory=set)
    _blocks: dict = field(default_factory=dict)
    _scatter: dict = field(default_factory=dict)

    @property
    def plan(self):
        return self.hardware.plan

    def block(self, r) -> tuple[np.ndarray | None, np.ndarray]:
        """The read's (rows, cols) blocks of A and of G^2."""
        got = self._blocks.get(id(r))
        if got is None or got[0] is not r:
            a = self.matrices.get(r.tile)
            got = (r, None if a is None else r.block(a), r.block(self.g_squared[r.tile]))
            self._blocks[id(r)] = got
        return got[1], got[2]

    def scatter(self, r, fan_out: int) -> np.ndarray:
        got = self._scatter.get(id(r))
        if got is None or got[0] is not r:
            got = (r, r.scatter(fan_out))
            self._scatter[id(r)] = got
        return got[1]


def prepare(hardware, mode: Mode, *, progress: bool = False) -> Prepared:
    """Per-tile matrices of ``mode`` for a programmed network (:class:`~.programming.Hardware`).

    Circuit mode takes the transfer matrices from ``hardware.transfer(t)`` (computed once per
    programmed network and cached there).
    """
    if mode not in MODES:
        raise InferenceError(f"mode must be one of {MODES}, got {mode!r}")
    prep = Prepared(mode=mode, hardware=hardware)
    if mode == "software":
        return prep
    used = hardware.plan.used_tiles
    it = used
    if progress and mode == "circuit":
        from tqdm import tqdm

        it = tqdm(used, desc="transfer matrices", unit="tile", leave=False)
    for t in it:
        xb = hardware.tiles[t]
        if mode == "circuit" and xb.is_linear:
            prep.matrices[t] = hardware.transfer(t)
            # each cell's read noise at its contribution under IR drop (module docstring)
            prep.g_squared[t] = np.asarray(prep.matrices[t]) ** 2
            continue
        prep.g_squared[t] = np.asarray(xb.conductance) ** 2
        if mode == "circuit":
            prep.nonlinear.add(t)
        else:
            prep.matrices[t] = np.asarray(xb.effective_conductance())
    return prep


def layer_currents(prep: Prepared, k: int, v: np.ndarray, *, read_noise_rel: float = 0.0,
                   rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """Analogue column currents (amperes) of every read of layer k for voltages v (B, fan_in)."""
    out = []
    for r in prep.plan[k].reads:
        if r.tile in prep.nonlinear:
            xb = prep.hardware.tiles[r.tile]
            full = np.zeros((v.shape[0], xb.n_rows))
            d = r.drive(v)
            full[:, r.rows] = d
            i = np.asarray(prep.hardware.solve(r.tile, full).i_out).reshape(v.shape[0], -1)[:, r.cols]
        else:
            a_blk, _ = prep.block(r)
            d = r.drive(v)
            i = d @ a_blk
        if read_noise_rel > 0:
            if rng is None:
                raise InferenceError("read noise needs an rng")
            _, g2_blk = prep.block(r)
            var = (d**2) @ g2_blk
            i = i + read_noise_rel * np.sqrt(var) * rng.standard_normal(i.shape)
        out.append(i)
    return out


def combine(prep: Prepared, k: int, currents: list[np.ndarray], b: int) -> np.ndarray:
    """Signed column currents of the layer's reads summed into its (B, fan_out) outputs."""
    lp = prep.plan[k]
    y = np.zeros((b, lp.fan_out))
    for r, i in zip(lp.reads, currents, strict=True):
        y += i @ prep.scatter(r, lp.fan_out)
    return y


def calibrate(prep: Prepared, layer_inputs, *, dac: DAC, adc_bits: int, adc_full_scale_V: float,
              method: str = "max", percentile: float = 99.9) -> Converters:
    """Each layer's DAC full scale and TIA gain from its calibration inputs (training data).

    ``layer_inputs[k]`` are layer k's inputs (rows, fan_in), e.g. from :func:`record_inputs` of the
    software network. The TIA gain comes from the layer's noiseless column currents in this mode.
    """
    dacs, x_fs, readouts = [], [], []
    for k, x in enumerate(layer_inputs):
        x = np.asarray(x, dtype=float)
        fs = full_scale(x, method=method, percentile=percentile)
        d = DAC(bits=dac.bits, v_read_V=dac.v_read_V, signed=bool(np.any(x < 0)) or dac.signed)
        cur = layer_currents(prep, k, d.voltages(x, fs))
        allc = np.concatenate([c.ravel() for c in cur])
        dacs.append(d)
        x_fs.append(fs)
        readouts.append(calibrate_adc(allc, bits=adc_bits, v_full_scale_V=adc_full_scale_V,
                                          method=method, percentile=percentile))
    return Converters(dacs=dacs, x_full_scale=x_fs, readouts=readouts)


def layer_scale(prep: Prepared, k: int) -> float:
    """Layer k's conductance scale (siemens per weight unit), from the plan."""
    s = prep.plan[k].scale
    if s is None:
        raise InferenceError(f"layer {k} has no conductance scale (siemens per weight unit)")
    return float(s)


def layer_product(prep: Prepared, k: int, x2d, *, conv: Converters | None = None,
                  read_noise_rel: float = 0.0, rng: np.random.Generator | None = None,
                  record: dict | None = None) -> np.ndarray:
    """Layer k's product ``x2d @ W_k`` (rows, fan_out) as the prepared mode computes it.

    ``conv=None``: no converters and no noise (exact tile products). ``record``: a dict layer ->
    list of drive voltages (rows, fan_in); at most :data:`RECORD_ROWS` rows are kept per layer.
    """
    lp = prep.plan[k]
    x = np.asarray(x2d, dtype=float)
    if x.ndim != 2 or x.shape[1] != lp.fan_in:
        raise InferenceError(f"layer {lp.name}: inputs must be (rows, {lp.fan_in}), got {x.shape}")
    if prep.mode == "software":
        raise InferenceError("software products use the network's own weights (make_matmul)")
    if conv is None:
        cur = layer_currents(prep, k, x)
        return combine(prep, k, cur, x.shape[0]) / layer_scale(prep, k)
    fs = conv.x_full_scale[k]
    d = conv.dacs[k]
    v = d.voltages(x, fs)
    if record is not None:
        got = record.setdefault(k, [])
        have = sum(len(a) for a in got)
        if have < RECORD_ROWS:
            got.append(v[:RECORD_ROWS - have])
    cur = layer_currents(prep, k, v, read_noise_rel=read_noise_rel, rng=rng)
    cur = [conv.readouts[k].quantize(c) for c in cur]
    return combine(prep, k, cur, x.shape[0]) / (layer_scale(prep, k) * d.v_read_V / fs)


def make_matmul(prep: Prepared | None, *, conv: Converters | None = None,
                read_noise_rel: float = 0.0, rng: np.random.Generator | None = None,
                record: dict | None = None):
    """A ``matmul(layer_index, x2d, w) -> y2d`` hook for :meth:`rramsim.nn.Network.forward`.

    ``prep=None`` or a software-mode ``prep``: ``x2d @ w``. Otherwise the network's weights ``w``
    only fix the shape; the product comes from the tiles in the prepared mode.
    """
    if prep is None or prep.mode == "software":
        return lambda layer_index, x2d, w: x2d @ w

    def matmul(layer_index: int, x2d: np.ndarray, w: np.ndarray) -> np.ndarray:
        lp = prep.plan[layer_index]
        if tuple(np.shape(w)) != (lp.fan_in, lp.fan_out):
            raise InferenceError(f"layer {layer_index}: network weight shape {np.shape(w)} does "
                                 f"not match the mapped layer {(lp.fan_in, lp.fan_out)}")
        return layer_product(prep, layer_index, x2d, conv=conv, read_noise_rel=read_noise_rel,
                             rng=rng, record=record)

    return matmul


def record_inputs(forward_fn, x) -> list[np.ndarray]:
    """Each weight layer's input ``x2d`` during ``forward_fn(x, matmul=...)`` (software products).

    One (rows, fan_in) array per weight layer, concatenated over calls (RNN steps).
    """
    seen: dict[int, list[np.ndarray]] = {}

    def matmul(layer_index, x2d, w):
        seen.setdefault(layer_index, []).append(np.array(x2d, dtype=float))
        return x2d @ w

    forward_fn(np.asarray(x), matmul=matmul)
    return [np.concatenate(seen[k], axis=0) for k in sorted(seen)]


#: Largest number of calibration rows kept per layer (a U-Net's im2col inputs of 256 patches of
#: 64 x 64 are about 20 GB in all; the MLP and CNN of the study stay below it and keep every row).
CALIBRATION_ROWS = 1 << 16


def calibration_inputs(forward_fn, x, *, rng: np.random.Generator,
                       max_rows: int = CALIBRATION_ROWS) -> tuple[list[np.ndarray], list[int]]:
    """:func:`record_inputs` of a calibration set, at most about ``max_rows`` rows per layer.

    Returns each weight layer's inputs and the rows each layer computes per input. Where every
    layer fits, this is :func:`record_inputs` of the whole set; otherwise the set runs 8 inputs at
    a time and the rows of the layers that do not fit are drawn uniformly (seeded by ``rng``), so
    the converters are calibrated on that sample of the rows.
    """
    x = np.asarray(x)
    if len(x) == 0:
        raise InferenceError("no calibration inputs")
    per = [len(c) for c in record_inputs(forward_fn, x[:1])]
    keep = [min(1.0, max_rows / max(1, r * len(x))) for r in per]
    if min(keep) >= 1.0:
        return record_inputs(forward_fn, x), per
    got: list[list] = [[] for _ in per]
    for i in range(0, len(x), 8):
        for k, c in enumerate(record_inputs(forward_fn, x[i:i + 8])):
            got[k].append(c if keep[k] >= 1 else c[rng.random(len(c)) < keep[k]])
    return [np.concatenate(g) for g in got], per


def accuracy(logits: np.ndarray, labels) -> float:
    """Fraction of rows whose argmax equals the label."""
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels)))
