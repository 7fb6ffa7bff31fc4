"""How a macro reads its tiles: row groups, inactive rows, input encodings, shared ADCs.

A :class:`ReadScheme` says how every :class:`rramsim.mapper.TileRead` of the execution plan is
carried out; :func:`layer_product` computes a layer's product under it and :func:`make_matmul`
gives the ``matmul`` hook of :meth:`rramsim.nn.Network.forward` (the same plan as
:mod:`rramsim.studies.inference.modes`; with the default scheme the numbers are that module's,
bit for bit).

Row groups (``rows_per_read = R``)
    The tile's word lines are read in aligned groups ``[g R, (g + 1) R)``. Per read only the rows
    of one group that carry the read's inputs are driven; each group's column currents go
    through TIA and ADC on their own and the partial sums are added digitally (NeuroSim's
    partial-parallel read [1]_). ``R = 0`` or ``R >= M``: all rows at once (today's read).
Inactive rows
    ``grounded``: driven at 0 V, i.e. zero inputs to the tile's transfer matrix T
    (``i_out = v @ T``). ``floating``: high impedance, a different circuit. With the source
    currents of the floating rows f zero, ``i_in = Y v`` (Y the tile's input admittance) gives
    ``Y_fa v_a + Y_ff v_f = 0``, so ``v_f = -Y_ff^-1 Y_fa v_a`` and the active rows a see the
    reduced transfer matrix ``T_a' = T_a - Y_af Y_ff^-1 T_f`` (Y symmetric) and source power
    ``v_a^T (Y_aa - Y_af Y_ff^-1 Y_fa) v_a``. This holds when each row has one source behind a
    non-zero series resistance (driver plus first word-line segment) and the cells are linear;
    with ``drive="both"`` each row has a source at each end whose currents must vanish
    separately, which the M-port Y cannot express: refused (:class:`ReadSchemeError`), as are
    floating rows with sinh cells or zero entry resistance.
Input encodings (DAC with ``n`` levels, codes ``c = round(q(x) / x_fs * n)``)
    ``amplitude``: ``v = c / n * V_read`` in one read (the inference modes' DAC). ``bit-serial``: bit b
    of ``|c|`` applied as ``sign(c) * V_read`` or 0, one read per bit plane, each plane's
    currents digitised by the ADC (its resolution per plane) and shift-added with weight
    ``2^b / n`` (ISAAC [2]_). ``pwm``: the row is held at ``sign(c) * V_read`` for ``|c|`` of
    ``n`` time slots and the column charge is integrated, then digitised once (aihwkit's
    pulse-width IR-drop mode [3]_). With linear cells the integrated charge equals the
    amplitude read's current times the slot time (superposition), so ``pwm`` computes that
    directly; sinh cells are solved at each of the ``n`` levels (and at each bit plane).
Shared ADCs (``columns_per_adc = k``)
    ADC a serves tile columns ``[a k, (a + 1) k)`` through a multiplexer; a read needs as many
    conversion slots as the largest number of its columns on one ADC. This changes the latency
    and energy (:mod:`rramsim.studies.readout.cost`), not the currents (DC model: the array stays
    biased while the multiplexer steps).

Calibration (``calibration``, on a calibration batch of training inputs, in circuit mode)
    ``ideal_scale``: today's: DAC ranges from the software network's layer inputs, one TIA gain
    per layer from the circuit currents, outputs scaled back with the ideal conductance scale.
    ``column``: as ``ideal_scale``, then per layer output a digital gain and offset fitted by
    least squares so that the circuit outputs of the calibration batch (layers before already
    corrected) match the ideal-conductance product of the same DAC-quantised inputs.
    ``group``: as ``ideal_scale``, then a digital gain and offset per read group and column,
    applied to each group's digitised partial sum before the digital addition, fitted by least
    squares so that the partial sums of the calibration batch (layers before already corrected)
    match the ideal-conductance currents of the same DAC-quantised drives; then the per-layer
    fit of ``column`` on top (it absorbs what the groups share). With one group per
    read (all rows at once) it is a per-column correction of each read; with smaller row groups
    it follows the attenuation along the bit lines and from row group to row group, which one
    gain per column cannot (it costs one digital multiply-add per partial sum).
    ``rerange``: each layer's DAC range (and TIA gain) set from the inputs it receives in circuit
    mode with the layers before it calibrated. ``column_rerange``: both.

References
----------
.. [1] P.-Y. Chen, X. Peng, S. Yu, "NeuroSim: a circuit-level macro model for benchmarking
   neuro-inspired architectures in online learning", IEEE TCAD 37(12), 2018.
.. [2] A. Shafiee et al., "ISAAC: a convolutional neural network accelerator with in-situ analog
   arithmetic in crossbars", ISCA 2016.
.. [3] M. J. Rasch et al., "A flexible and fast PyTorch toolkit for simulating training and
   inference on analog crossbar arrays", IEEE AICAS 2021 (IBM aihwkit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rramsim.errors import ReadSchemeError
from rramsim.studies.inference import modes as infer
from rramsim.studies.inference.quantize import DAC, calibrate_adc, full_scale
from rramsim.studies.readout.scheme import COLUMN_FIT, OUTPUT_CALIBRATIONS
from rramsim.studies.readout.scheme import ENCODINGS as ENCODINGS  # re-exported: the scheme's names
from rramsim.studies.readout.scheme import INACTIVE as INACTIVE
from rramsim.studies.readout.scheme import ReadScheme as ReadScheme


# ---------------------------------------------------------------------------------------------
# codes and planes
# ---------------------------------------------------------------------------------------------
def dac_levels(dac: DAC) -> int:
    """Steps ``n`` of the DAC's magnitude range (2^bits - 1; signed: 2^(bits-1) - 1)."""
    return 2 ** (dac.bits - 1) - 1 if dac.signed else 2**dac.bits - 1


def magnitude_bits(dac: DAC) -> int:
    """Bit planes of a bit-serial input (the magnitude bits of the DAC code)."""
    return dac.bits - 1 if dac.signed else dac.bits


def planes(encoding: str, dac: DAC, x_fs: float, x, *, per_level: bool) -> list[tuple[float, np.ndarray]]:
    """The voltages applied for inputs ``x`` as ``(weight, v)`` pairs: the read's result is
    ``sum weight * I(v)``.

    ``per_level``: PWM as its ``n`` levels (for sinh cells); otherwise PWM is the amplitude
    drive (exact for linear cells).
    """
    if encoding == "amplitude" or (encoding == "pwm" and not per_level):
        return [(1.0, dac.voltages(x, x_fs))]
    n = dac_levels(dac)
    codes = dac.codes(x, x_fs)
    mag, sgn = np.abs(codes), np.sign(codes).astype(float) * dac.v_read_V
    if encoding == "bit-serial":
        return [(2.0**b / n, sgn * ((mag >> b) & 1)) for b in range(magnitude_bits(dac))]
    if encoding == "pwm":
        return [(1.0 / n, sgn * (mag >= lev)) for lev in range(1, n + 1)]
    raise ReadSchemeError(f"unknown encoding {encoding!r}")


# ---------------------------------------------------------------------------------------------
# row groups and their matrices
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Group:
    """One row group of one read: ``pos`` indexes ``read.rows``; ``a`` the (len(pos), n_cols)
    block of the circuit's matrix (None: sinh cells, solved); ``g``, ``g2`` the ideal
    conductances and their squares; ``power`` the source-power matrix (linear circuit only);
    ``whole``: the group is the whole read (no indexing: the inference modes' exact arithmetic)."""

    pos: np.ndarray
    rows: np.ndarray
    a: np.ndarray | None
    g: np.ndarray
    g2: np.ndarray
    power: np.ndarray | None
    whole: bool


def reduced_matrices(t_mat: np.ndarray, y_mat: np.ndarray, active, cols) -> tuple[np.ndarray,
                                                                                   np.ndarray]:
    """Transfer block and source-power matrix of the active rows when all others float.

    ``T_a' = T_a - Y_af Y_ff^-1 T_f`` (columns ``cols``) and ``S = Y_aa - Y_af Y_ff^-1 Y_fa``.
    """
    import scipy.linalg as sla

    m = t_mat.shape[0]
    a = np.asarray(active, np.int64)
    f = np.setdiff1d(np.arange(m), a)
    cols = np.asarray(cols, np.int64)
    if f.size == 0:
        return np.ascontiguousarray(t_mat[np.ix_(a, cols)]), np.array(y_mat[np.ix_(a, a)])
    y_ff = y_mat[np.ix_(f, f)]
    rhs = np.concatenate([t_mat[np.ix_(f, cols)], y_mat[np.ix_(f, a)]], axis=1)
    try:
        sol = sla.cho_solve(sla.cho_factor(y_ff, check_finite=False), rhs, check_finite=False)
    except np.linalg.LinAlgError:
        sol = np.linalg.lstsq(y_ff, rhs, rcond=None)[0]
    y_af = y_mat[np.ix_(a, f)]
    corr = y_af @ sol
    ta = t_mat[np.ix_(a, cols)] - corr[:, :cols.size]
    s = y_mat[np.ix_(a, a)] - corr[:, cols.size:]
    return np.ascontiguousarray(ta), 0.5 * (s + s.T)


def check_floating(xb) -> None:
    """Refuse tiles whose floating rows the M-port model cannot express."""
    if not xb.is_linear:
        raise ReadSchemeError("floating inactive rows need linear cells (with sinh cells the "
                              "floating rows' voltages are not a linear map; use 'grounded')")
    if xb.drive == "both":
        raise ReadSchemeError("floating inactive rows with drive='both' cannot be modelled from "
                              "the tile's M-port admittance (each end's source current must "
                              "vanish on its own); use drive='left' or 'grounded'")
    if xb.r_driver + xb.r_wordline <= 0:
        raise ReadSchemeError("floating inactive rows need a non-zero driver plus word-line "
                              "segment resistance (r_driver + r_wordline > 0)")


@dataclass(eq=False)
class SchemePrep:
    """A prepared mode (:class:`rramsim.studies.inference.modes.Prepared`) with a read scheme's groups."""

    prep: infer.Prepared
    scheme: ReadScheme
    _groups: dict = field(default_factory=dict)
    _gmat: dict = field(default_factory=dict)

    @property
    def plan(self):
        return self.prep.plan

    @property
    def hardware(self):
        return self.prep.hardware

    @property
    def mode(self) -> str:
        return self.prep.mode

    def ideal_g(self, t: int) -> np.ndarray:
        if t not in self._gmat:
            self._gmat[t] = np.asarray(self.hardware.tiles[t].effective_conductance())
        return self._gmat[t]

    def groups(self, r) -> list[Group]:
        """The row groups of read ``r`` (cached)."""
        got = self._groups.get(id(r))
        if got is not None and got[0] is r:
            return got[1]
        hw, sc = self.hardware, self.scheme
        n_rows = hw.tile_shape[0]
        size = sc.group_size(n_rows)
        win = r.rows // size
        floating = sc.inactive_rows == "floating" and self.mode == "circuit"
        if floating:
            check_floating(hw.tiles[r.tile])
        out = []
        uniq = np.unique(win)
        for u in uniq:
            pos = np.flatnonzero(win == u)
            whole = uniq.size == 1 and not floating
            rows = r.rows[pos]
            gblk = np.ascontiguousarray(self.ideal_g(r.tile)[np.ix_(rows, r.cols)])
            _, g2_full = self.prep.block(r)
            g2 = g2_full if whole else np.ascontiguousarray(g2_full[pos])
            power = None
            if r.tile in self.prep.nonlinear:
                a = None
            elif floating:
                a, power = reduced_matrices(hw.transfer(r.tile), hw.admittance(r.tile), rows,
                                            r.cols)
            else:
                a_full, _ = self.prep.block(r)
                a = a_full if whole else np.ascontiguousarray(a_full[pos])
                if self.mode == "circuit":
                    y = hw.admittance(r.tile)
                    power = np.array(y[np.ix_(rows, rows)])
            out.append(Group(pos=pos, rows=rows, a=a, g=gblk, g2=g2, power=power, whole=whole))
        self._groups[id(r)] = (r, out)
        return out


def prepare(hardware, mode: str, scheme: ReadScheme, *, base: infer.Prepared | None = None,
            progress: bool = False) -> SchemePrep:
    """A :class:`SchemePrep` of ``mode`` (reusing ``base``, an inference ``Prepared`` of the mode)."""
    if mode not in ("ideal", "behavioural", "circuit"):
        raise ReadSchemeError(f"read schemes apply to tile modes, not {mode!r}")
    if base is None:
        base = infer.prepare(hardware, mode, progress=progress)
    if base.mode != mode:
        raise ReadSchemeError(f"base prepared for {base.mode!r}, not {mode!r}")
    if scheme.inactive_rows == "floating" and mode == "circuit":
        for t in hardware.plan.used_tiles:
            check_floating(hardware.tiles[t])
    return SchemePrep(prep=base, scheme=scheme)


# ---------------------------------------------------------------------------------------------
# products
# ---------------------------------------------------------------------------------------------
def _group_current(sp: SchemePrep, r, g: Group, dv: np.ndarray) -> np.ndarray:
    if g.a is not None:
        return dv @ g.a
    xb = sp.hardware.tiles[r.tile]
    full = np.zeros((dv.shape[0], xb.n_rows))
    full[:, g.rows] = dv
    return np.asarray(sp.hardware.solve(r.tile, full).i_out).reshape(dv.shape[0], -1)[:, r.cols]


def read_signals(sp: SchemePrep, k: int, pl, *, read_noise_rel: float = 0.0, rng=None):
    """Per read and group of layer k: ``(read, group, [(weight, currents), ...])`` for the
    applied planes ``pl`` (see :func:`planes`), noise included."""
    for r in sp.plan[k].reads:
        for g in sp.groups(r):
            sig = []
            for w, v in pl:
                d = r.drive(v)
                dv = d if g.whole else d[:, g.pos]
                i = _group_current(sp, r, g, dv)
                if read_noise_rel > 0:
                    if rng is None:
                        raise ReadSchemeError("read noise needs an rng")
                    var = (dv**2) @ g.g2
                    i = i + read_noise_rel * np.sqrt(var) * rng.standard_normal(i.shape)
                sig.append((w, i))
            yield r, g, sig


def _adc_inputs(encoding: str, sig):
    """What the ADC sees: each plane (bit-serial) or the weighted sum (one conversion)."""
    if encoding == "bit-serial":
        return [i for _, i in sig]
    acc = None
    for w, i in sig:
        acc = w * i if acc is None else acc + w * i
    return [acc]


@dataclass
class SchemeConverters:
    """Per-layer converters (:class:`rramsim.studies.inference.modes.Converters`; a readout of None is
    an ideal ADC) and the digital per-output gain and offset (None: ideal scale only)."""

    conv: infer.Converters
    gain: list = field(default_factory=list)
    offset: list = field(default_factory=list)
    calibration: str = "ideal_scale"
    #: (layer, n-th read group of the layer) -> (gain, offset) per column of the read
    group_gain: dict = field(default_factory=dict)


def _digitised(encoding: str, sig, ro) -> np.ndarray:
    """A read group's partial sums after the ADC (``ro`` None: ideal), bit planes shift-added."""
    if encoding == "bit-serial":
        acc = None
        for w, i in sig:
            q = i if ro is None else ro.quantize(i)
            acc = w * q if acc is None else acc + w * q
        return acc
    acc = _adc_inputs(encoding, sig)[0]
    return acc if ro is None else ro.quantize(acc)


def _per_level(sp: SchemePrep, k: int) -> bool:
    return any(r.tile in sp.prep.nonlinear for r in sp.plan[k].reads)


def layer_product(sp: SchemePrep, k: int, x2d, *, conv: SchemeConverters | None = None,
                  read_noise_rel: float = 0.0, rng=None, corrected: bool = True,
                  fit_groups: bool = False) -> np.ndarray:
    """Layer k's product ``x2d @ W_k`` under the scheme (rows, fan_out).

    ``conv=None``: no converters, ``x2d`` are the voltages (amplitude, exact). ``corrected``:
    apply the per-layer digital gain and offset of ``conv`` (when it has them; the per-group
    gains of the ``group`` calibration are always applied). ``fit_groups``: first fit layer k's
    per-group gains of ``conv`` on these inputs (the ``group`` calibration): per read group and
    column, least squares (:func:`fit_gain_offset`) of the digitised partial sums against the
    ideal-conductance currents of the DAC-quantised amplitude drives.
    """
    lp = sp.plan[k]
    x = np.asarray(x2d, dtype=float)
    if x.ndim != 2 or x.shape[1] != lp.fan_in:
        raise ReadSchemeError(f"layer {lp.name}: inputs must be (rows, {lp.fan_in}), "
                              f"got {x.shape}")
    scale = infer.layer_scale(sp.prep, k)
    enc = sp.scheme.encoding
    if conv is None:
        y = np.zeros((x.shape[0], lp.fan_out))
        for r, _, sig in read_signals(sp, k, [(1.0, x)]):
            y += sig[0][1] @ sp.prep.scatter(r, lp.fan_out)
        return y / scale
    d, fs = conv.conv.dacs[k], conv.conv.x_full_scale[k]
    ro = conv.conv.readouts[k]
    pl = planes(enc, d, fs, x, per_level=_per_level(sp, k))
    y = np.zeros((x.shape[0], lp.fan_out))
    v_ideal = d.voltages(x, fs) if fit_groups else None
    sigs = read_signals(sp, k, pl, read_noise_rel=read_noise_rel, rng=rng)
    for n_read, (r, g, sig) in enumerate(sigs):
        acc = _digitised(enc, sig, ro)
        if fit_groups:
            drive = r.drive(v_ideal)
            ideal = (drive if g.whole else drive[:, g.pos]) @ g.g
            conv.group_gain[(k, n_read)] = fit_gain_offset(acc, ideal)
        gg = conv.group_gain.get((k, n_read))
        if gg is not None:
            acc = acc * gg[0] + gg[1]
        y += acc @ sp.prep.scatter(r, lp.fan_out)
    y = y / (scale * d.v_read_V / fs)
    if corrected and conv.gain and conv.gain[k] is not None:
        y = y * conv.gain[k] + conv.offset[k]
    return y


def make_matmul(sp: SchemePrep, *, conv: SchemeConverters | None = None,
                read_noise_rel: float = 0.0, rng=None, record: dict | None = None):
    """A ``matmul(layer_index, x2d, w)`` hook running every product under the scheme.

    ``record``: layer -> list of the layer's inputs (at most ``infer.RECORD_ROWS`` rows kept).
    """
    def matmul(layer_index, x2d, w):
        lp = sp.plan[layer_index]
        if tuple(np.shape(w)) != (lp.fan_in, lp.fan_out):
            raise ReadSchemeError(f"layer {layer_index}: network weight shape {np.shape(w)} "
                                  f"does not match the mapped layer {(lp.fan_in, lp.fan_out)}")
        if record is not None:
            got = record.setdefault(layer_index, [])
            have = sum(len(a) for a in got)
            if have < infer.RECORD_ROWS:
                got.append(np.array(x2d[:infer.RECORD_ROWS - have], dtype=float))
        return layer_product(sp, layer_index, x2d, conv=conv, read_noise_rel=read_noise_rel,
                             rng=rng)

    return matmul


# ---------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------
def ideal_matrix(sp: SchemePrep, k: int) -> np.ndarray:
    """The layer's (fan_in, fan_out) matrix of ideal conductances over its scale (the digital
    reference a chip's host computes from the programmed weights)."""
    return sp.plan[k].matrix(sp.ideal_g) / infer.layer_scale(sp.prep, k)


def _inputs_at(sp, forward, x_calib, k, done: SchemeConverters, software_inputs):
    """Layer k's inputs on the calibration batch with layers < k run under the scheme."""
    if k == 0:
        return software_inputs[0]
    seen: list = []

    def matmul(li, x2d, w):
        if li < k:
            return layer_product(sp, li, x2d, conv=done)
        if li == k:
            seen.append(np.array(x2d, dtype=float))
        return x2d @ w

    forward(np.asarray(x_calib), matmul=matmul)
    return np.concatenate(seen, axis=0)


@dataclass(frozen=True)
class ConverterSpec:
    """What :func:`calibrate` builds the converters from: DAC bits and read voltage, ADC bits
    (None: ideal ADCs, no output quantisation) and full scale, and how full scales are set from
    the batch ("max" or "percentile", with ``percentile`` in percent)."""

    dac_bits: int
    v_read_V: float
    adc_bits: int | None
    adc_full_scale_V: float = 0.9
    method: str = "max"
    percentile: float = 99.9

    @classmethod
    def from_config(cls, cv) -> ConverterSpec:
        """From a study's ``[converters]`` section (:class:`~rramsim.studies.config.ConverterConfig`)."""
        return cls(dac_bits=cv.dac_bits, v_read_V=cv.v_read_V, adc_bits=cv.adc_bits,
                   adc_full_scale_V=cv.adc_full_scale_V, method=cv.calibration,
                   percentile=cv.calibration_percentile)


def calibrate(sp: SchemePrep, forward, x_calib, spec: ConverterSpec, *,
              calibration: str = "ideal_scale", software_inputs=None) -> SchemeConverters:
    """Converters (and digital corrections) of every layer from a calibration batch.

    ``forward``: the network's ``forward(x, matmul=...)``; ``x_calib``: training inputs;
    ``spec``: the converters. See the module docstring for the ``calibration`` choices.
    """
    if calibration not in OUTPUT_CALIBRATIONS:
        raise ReadSchemeError(f"calibration must be one of {OUTPUT_CALIBRATIONS}, got {calibration!r}")
    soft = software_inputs if software_inputs is not None else infer.record_inputs(forward,
                                                                                    x_calib)
    rerange = calibration in ("rerange", "column_rerange")
    column = calibration in COLUMN_FIT
    n = len(sp.plan)
    out = SchemeConverters(conv=infer.Converters(dacs=[], x_full_scale=[], readouts=[]),
                           calibration=calibration)
    for k in range(n):
        x_soft = np.asarray(soft[k], dtype=float)
        x_circ = (_inputs_at(sp, forward, x_calib, k, out, soft)
                  if (rerange or column) else x_soft)
        x_rng = x_circ if rerange else x_soft
        fs = full_scale(x_rng, method=spec.method, percentile=spec.percentile)
        d = DAC(bits=spec.dac_bits, v_read_V=spec.v_read_V, signed=bool(np.any(x_rng < 0)))
        pl = planes(sp.scheme.encoding, d, fs, x_rng, per_level=_per_level(sp, k))
        if spec.adc_bits is None:
            ro = None
        else:
            allc = np.concatenate([c.ravel() for _, _, sig in read_signals(sp, k, pl)
                                   for c in _adc_inputs(sp.scheme.encoding, sig)])
            ro = calibrate_adc(allc, bits=spec.adc_bits, v_full_scale_V=spec.adc_full_scale_V,
                                   method=spec.method, percentile=spec.percentile)
        out.conv.dacs.append(d)
        out.conv.x_full_scale.append(fs)
        out.conv.readouts.append(ro)
        out.gain.append(None)
        out.offset.append(None)
        if column:
            y_c = layer_product(sp, k, x_circ, conv=out, corrected=False,
                                fit_groups=calibration == "group")
            y_ref = d.quantize(x_circ, fs) @ ideal_matrix(sp, k)
            out.gain[k], out.offset[k] = fit_gain_offset(y_c, y_ref)
    return out


def fit_gain_offset(y, target) -> tuple[np.ndarray, np.ndarray]:
    """Per column least-squares ``target ~ gain * y + offset``; a column that does not vary on
    the batch keeps gain 1 and takes the mean difference as offset."""
    y = np.asarray(y, float)
    t = np.asarray(target, float)
    ym, tm = y.mean(axis=0), t.mean(axis=0)
    dy, dt = y - ym, t - tm
    var = np.sum(dy * dy, axis=0)
    cov = np.sum(dy * dt, axis=0)
    scale_ref = np.maximum(np.sum(dt * dt, axis=0), 1e-300)
    ok = var > 1e-18 * scale_ref
    gain = np.where(ok, cov / np.where(ok, var, 1.0), 1.0)
    offset = tm - gain * ym
    return gain, offset


# ---------------------------------------------------------------------------------------------
# the circuit alone: tile output error per scheme
# ---------------------------------------------------------------------------------------------
def tile_output_error(sp: SchemePrep, voltages: dict, *, nonlinear_inputs: int = 16) -> float:
    """``||I_circuit - I_ideal|| / ||I_ideal||`` of every read's digitally added partial sums
    (before the converters) against its ideal-conductance currents, for the recorded drive
    voltages (layer -> (rows, fan_in) volts, amplitude drives). With linear cells and grounded
    inactive rows this does not depend on ``rows_per_read`` (superposition: the grounded rows
    are zero inputs of the same circuit); floating rows change the circuit."""
    num = den = 0.0
    for k, v in sorted(voltages.items()):
        v = np.asarray(v, float)
        for r in sp.plan[k].reads:
            d = r.drive(v)
            if any(g.a is None for g in sp.groups(r)):
                d = d[:nonlinear_inputs]
            circ = np.zeros((d.shape[0], r.cols.size))
            ideal = np.zeros_like(circ)
            for g in sp.groups(r):
                dv = d if g.whole else d[:, g.pos]
                circ += _group_current(sp, r, g, dv)
                ideal += dv @ g.g
            num += float(np.sum((circ - ideal) ** 2))
            den += float(np.sum(ideal**2))
    return float(np.sqrt(num / den)) if den > 0 else float("nan")


def calibrated_output_error(sp: SchemePrep, conv: SchemeConverters, inputs: dict, *,
                            max_rows: int = 4096) -> float:
    """``||y - y_ideal|| / ||y_ideal||`` of every layer's product after the converters and the
    digital corrections of ``conv``, against the ideal-conductance product of the same
    DAC-quantised inputs (what the calibration aims at), over ``inputs`` (layer -> list of
    recorded (rows, fan_in) layer inputs, as :func:`make_matmul` records them; the first
    ``max_rows`` rows of each layer)."""
    num = den = 0.0
    for k, xs in sorted(inputs.items()):
        x = np.concatenate([np.asarray(a, float) for a in xs], axis=0)[:max_rows]
        if x.size == 0:
            continue
        y = layer_product(sp, k, x, conv=conv)
        ref = conv.conv.dacs[k].quantize(x, conv.conv.x_full_scale[k]) @ ideal_matrix(sp, k)
        num += float(np.sum((y - ref) ** 2))
        den += float(np.sum(ref**2))
    return float(np.sqrt(num / den)) if den > 0 else float("nan")
