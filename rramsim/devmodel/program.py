"""Programming whole arrays of model cells: electroforming, RESET (prune), SET (reinstate), write-verify.

Time discretisation
-------------------
Programming pulses are rectangular (ideal edges). During one pulse the applied voltage is constant, so
the deterministic gap equation of :mod:`rramsim.devmodel.physics` is autonomous, ``dg/dt = -s F(g)``
with ``s = sign(V_a)``. Instead of stepping time (stiff: a forming cell's gap collapses in picoseconds,
then creeps for microseconds) each cell's trajectory is integrated in *gap space*: the time to travel
from the start gap to ``g`` is

.. math:: t(g) = \\int \\frac{dg'}{F(g')},

evaluated on ``n_grid`` equal gap intervals between the start gap and the limit in the pulse's direction,
with ``ln F`` linear inside each interval (exact for the exponential laws of the model), and the end gap
is where ``t(g)`` equals the pulse width. With the default ``n_grid = 16`` the formed-cell mean and
standard deviation of :data:`TAOX_40NM` are within 0.3 % of their ``n_grid = 200`` values, and single
pulses agree with the time-stepping reference to 1 % in conductance (tests). The dissipated energy
``|V_a| \\int I dt`` is integrated the same way (``ln(I/F)`` linear per interval) and the noise exposure
``\\int w(T)^2 dt`` by the trapezoidal rule in ``w^2`` over each interval's time. The stochastic term
of the model (one normal
``xi`` per ``dt_noise``, weight ``w(T)``) adds independent increments ``dg0 w(T) xi dt_noise``; their sum
over the pulse is normal with variance ``dg0^2 dt_noise \\int w^2 dt``, which is added to the end gap
(the increments are summed along the deterministic path: a small-noise approximation that ignores
the feedback of the fluctuation on the drift). The result is then held within the gap limits.
:func:`rramsim.devmodel.integrate.integrate_waveform` is the time-stepping reference for the same
equations and arbitrary waveforms; tests check that both agree and that ngspice agrees with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rramsim._validate import integer, real_array, real_scalar
from rramsim._validate import shape as as_shape
from rramsim.devmodel.params import K_B_EV, TAOX_40NM, FilamentParams
from rramsim.devmodel.physics import LN2, noise_weight
from rramsim.devmodel.read import ReadNoise, as_rng, read_conductance
from rramsim.devmodel.state import CellState, ProgramCost, ProgramResult
from rramsim.errors import DeviceModelError

#: Gap intervals per pulse in the gap-space integration (see the module docstring).
N_GRID = 16
_CHUNK = 4096
_LN_CLIP = 300.0


def _expint(lo: np.ndarray, hi: np.ndarray, length: np.ndarray) -> np.ndarray:
    """``integral_0^length exp(lo + (hi - lo) x / length) dx``, stable for any lo, hi."""
    d = np.abs(hi - lo)
    with np.errstate(invalid="ignore", divide="ignore"):
        shape = np.where(d < 1e-12, 1.0, -np.expm1(-d) / d)
    return length * np.exp(np.maximum(lo, hi)) * shape


def _check_scalar(name: str, value, *, positive: bool = True, allow_inf: bool = False) -> float:
    v = real_scalar(value, name, DeviceModelError, finite=False)
    if np.isnan(v) or (np.isinf(v) and not allow_inf) or (positive and v <= 0):
        raise DeviceModelError(f"{name} must be {'positive' if positive else 'finite'}, got {v}")
    return v


def _broadcast(name: str, value, shape: tuple[int, ...]) -> np.ndarray:
    arr = real_array(value, name, DeviceModelError)
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise DeviceModelError(f"{name} of shape {arr.shape} does not broadcast to the cells' "
                               f"shape {shape}") from None


def _mask_array(mask) -> np.ndarray:
    if isinstance(mask, np.ndarray) and mask.dtype == bool:
        return mask
    m = real_array(mask, "mask", DeviceModelError)
    if not np.isin(m, (0.0, 1.0)).all():
        raise DeviceModelError("mask must be boolean (or 0/1)")
    return m.astype(bool)


def _logmean_integral(a_lo, a_hi, ln_lo, ln_hi, length):
    """``length`` times the logarithmic mean of ``a_lo``, ``a_hi`` (> 0) with logs ``ln_lo``, ``ln_hi``.

    That is the integral over the interval of a quantity that is exponential (log-linear) in the
    path coordinate: ``length (a_hi - a_lo) / (ln_hi - ln_lo)``; the arithmetic mean where the logs
    differ by less than 1e-6.
    """
    d = ln_hi - ln_lo
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (a_hi - a_lo) / d
    small = np.abs(d) < 1e-6
    if small.any():
        out[small] = 0.5 * (a_lo[small] + a_hi[small])
    return out * length


def _grid_current(g, i0, va, icc, p: FilamentParams):
    """Current along the gap grid ``g`` (K+1, n) at applied voltage ``va`` (>= 0) under the
    compliance ``icc``: ``(cur, ln_cur, vf)`` with ``vf`` the voltage across the filament (the
    transistor takes the rest when the compliance limits the current)."""
    ln_scale = np.log(i0) - g * (1.0 / p.g0)  # log of I0 e^{-g/g0}
    scale = np.exp(ln_scale)
    sinh_va = np.sinh(va / p.v0)
    cur = scale * sinh_va
    ln_cur = ln_scale + np.log(sinh_va)
    vf = va
    if np.isfinite(icc).any() and (cur > icc).any():
        # V_f = min(V_a, V0 asinh(I_cc / scale)) = V0 asinh(min(sinh(V_a/V0), I_cc / scale))
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            y = np.minimum(icc / scale, sinh_va)
            vf = p.v0 * np.log(y + np.sqrt(y * y + 1.0))
        cur = scale * y
        ln_cur = np.minimum(ln_cur, np.log(icc))
    return cur, ln_cur, vf


def _log_velocity(g, cur, vf, ea, p: FilamentParams):
    """Local temperature and the log of the gap speed ``v0 e^{-Ea/kT} sinh(gamma a0 q V / (tox k
    T))`` along the grid, clipped to +-``_LN_CLIP``: ``(temp, ln_f)``."""
    temp = p.t0 + (cur * vf) * p.rth
    inv_kt = 1.0 / (K_B_EV * temp)
    gn = g * 1e9
    gamma = np.maximum(p.gamma0 - p.beta * (gn * gn * gn), 0.0)
    arg = gamma * (p.a0 / p.tox) * vf * inv_kt
    ln_f = arg - ea * inv_kt + (np.log(p.vel0) - LN2)  # log of v0 e^{-Ea/kT} sinh(arg)
    small = arg < 20.0  # log sinh(x) = x - ln 2 + log1p(-e^{-2x}); the last term < 5e-18 above 20
    if small.any():
        with np.errstate(divide="ignore"):
            ln_f[small] += np.log1p(-np.exp(-2.0 * arg[small]))
    np.clip(ln_f, -_LN_CLIP, _LN_CLIP, out=ln_f)
    return temp, ln_f


def _completed_intervals(dt, width, n_grid: int):
    """Per cell, the grid intervals completed within the pulse ``width`` from the interval times
    ``dt`` (K, n): ``(k, rem, done)``, the count 0..K, the time left after them and the (K, n)
    mask of completed intervals."""
    # time to reach each grid point (row by row: cheap, cache friendly)
    t_cum = np.empty((n_grid + 1, dt.shape[1]), dtype=dt.dtype)
    t_cum[0] = 0.0
    for j in range(n_grid):
        np.add(t_cum[j], dt[j], out=t_cum[j + 1])
    k = np.sum(t_cum[1:] <= width, axis=0)  # completed intervals, 0..K
    kk = k[None, :]
    t_k = np.take_along_axis(t_cum, kk, 0)[0]
    rem = np.maximum(width - t_k, 0.0)
    done = np.arange(n_grid)[:, None] < kk
    return k, rem, done


def _travel_in_interval(ln_f, length, kc, rem):
    """Distance travelled in time ``rem`` into interval ``kc`` (1, n), where ``ln F = a + c x``
    is linear in the distance ``x``: ``x = -log(1 - rem c e^a) / c`` (``rem e^a`` when ``c x`` is
    tiny), clipped to the interval."""
    a = np.take_along_axis(ln_f, kc, 0)[0]
    c = (np.take_along_axis(ln_f, kc + 1, 0)[0] - a) / np.where(length > 0, length, 1.0)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        z = c * np.exp(np.log(np.maximum(rem, 1e-300)) + a)  # rem c e^a, < 1 when c > 0
        x = np.where(np.abs(c * length) < 1e-9, rem * np.exp(a), -np.log1p(-z) / c)
    return np.clip(np.nan_to_num(x, nan=0.0, posinf=0.0), 0.0, length)


def _pulse_chunk(g_start, i0, ea, amplitude, width, icc, p: FilamentParams, n_grid: int):
    """Gap-space integration of one rectangular pulse for a chunk of cells (1-D arrays).

    Same equations as :mod:`rramsim.devmodel.physics`, written out for speed: the current is
    ``min(I0 e^{-g/g0} sinh(|V_a|/V0), I_cc)``, so the sinh of the applied voltage is taken once per
    cell, and logs of exponential laws are formed directly. Returns the end gap (before noise), the
    energy (J) and the noise exposure ``int w^2 dt`` (s).
    """
    s = np.sign(amplitude)
    va = np.abs(amplitude)
    g_bound = np.where(s > 0, p.gap_min, p.gap_max)
    frac = np.linspace(0.0, 1.0, n_grid + 1)[:, None]
    g = g_start + (g_bound - g_start) * frac  # (K+1, n)
    length = np.abs(g_bound - g_start) / n_grid  # path length per interval, (n,)
    cur, ln_cur, vf = _grid_current(g, i0, va, icc, p)
    temp, ln_f = _log_velocity(g, cur, vf, ea, p)
    inv_f = np.exp(-ln_f)  # seconds per metre of gap travel
    dt = _logmean_integral(inv_f[:-1], inv_f[1:], -ln_f[:-1], -ln_f[1:], length)
    q = (va * cur) * inv_f  # energy per metre of travel
    ln_q = np.log(va) + ln_cur - ln_f
    de = _logmean_integral(q[:-1], q[1:], ln_q[:-1], ln_q[1:], length)
    w2 = noise_weight(temp, p) ** 2
    dw = dt * 0.5 * (w2[:-1] + w2[1:])
    k, rem, done = _completed_intervals(dt, width, n_grid)
    energy = np.sum(de * done, axis=0)
    wexp = np.sum(dw * done, axis=0)
    # the others stop inside interval k
    kc = np.minimum(k, n_grid - 1)[None, :]
    x = _travel_in_interval(ln_f, length, kc, rem)
    at_bound = k == n_grid
    x = np.where(at_bound | (rem <= 0), 0.0, x)
    # cells at the limit sit there for the rest of the pulse; others travel x into interval k
    w2_k = np.take_along_axis(w2, k[None, :], 0)[0]
    wexp = wexp + w2_k * rem
    lq_a = np.take_along_axis(ln_q, kc, 0)[0]
    lq_b = np.take_along_axis(ln_q, kc + 1, 0)[0]
    e_part = _expint(lq_a, lq_a + (lq_b - lq_a) * x / np.where(length > 0, length, 1.0), x)
    power_end = va * np.exp(ln_cur[-1])
    energy = energy + np.where(at_bound, power_end * rem, e_part)
    g_k = np.take_along_axis(g, kc, 0)[0]
    g_end = np.where(at_bound, g_bound, g_k - s * x)
    return g_end, energy, wexp


def apply_pulse(state: CellState, amplitude, width, *, rng=None, compliance=None, mask=None,
                n_grid: int = N_GRID) -> tuple[CellState, np.ndarray]:
    """Apply one rectangular pulse to the cells of ``mask``; return the new state and energy (J).

    Parameters
    ----------
    state : CellState
    amplitude : float or ndarray
        Applied voltage, volts (positive: SET/forming, negative: RESET); broadcast to ``state.shape``.
    width : float or ndarray
        Pulse width, seconds (> 0).
    rng : numpy.random.Generator or int, optional
        Draws the stochastic gap fluctuation; required unless ``state.params.dg0 == 0``.
    compliance : float or ndarray, optional
        Current limit of the access transistor, amperes (> 0), scaled per cell by
        ``state.icc_scale``; None for no limit.
    mask : ndarray of bool, optional
        Cells to pulse (default all).
    n_grid : int
        Gap intervals of the gap-space integration (see the module docstring).

    Returns
    -------
    state : CellState
    energy : ndarray
        Energy drawn from the driver per cell, joules (0 outside the mask).
    """
    p = state.params
    shape = state.shape
    amp = _broadcast("pulse amplitude", amplitude, shape)
    wid = _broadcast("pulse width", width, shape)
    icc = _broadcast("compliance", np.inf if compliance is None else compliance, shape)
    if not np.isfinite(amp).all():
        raise DeviceModelError("pulse amplitude must be finite")
    if not (np.isfinite(wid).all() and (wid > 0).all()):
        raise DeviceModelError("pulse width must be finite and > 0 (seconds)")
    if np.isnan(icc).any() or (icc <= 0).any():
        raise DeviceModelError("compliance must be > 0 amperes (or None for no limit)")
    n_grid = integer(n_grid, "n_grid", DeviceModelError, minimum=2)
    sel = np.ones(shape, bool) if mask is None else _mask_array(mask)
    if sel.shape != shape:
        raise DeviceModelError(f"mask must have shape {shape}, got {sel.shape}")
    sel = sel & (amp != 0)
    idx = np.flatnonzero(sel)
    gap = state.gap.ravel().copy()
    energy = np.zeros(gap.size)
    wexp = np.zeros(gap.size)
    args = [a.ravel() for a in (state.i0, state.ea, amp, wid, icc * state.icc_scale)]
    for lo in range(0, idx.size, _CHUNK):
        j = idx[lo:lo + _CHUNK]
        i0, ea, a, w, c = (arr[j] for arr in args)
        gap[j], energy[j], wexp[j] = _pulse_chunk(gap[j], i0, ea, a, w, c, p, int(n_grid))
    if p.dg0 > 0 and idx.size:
        gen = as_rng(rng)
        sigma = p.dg0 * np.sqrt(p.dt_noise * wexp[idx])
        gap[idx] += sigma * gen.standard_normal(idx.size)
    gap = np.clip(gap, p.gap_min, p.gap_max)
    return state.with_gap(gap.reshape(shape)), energy.reshape(shape)


def pristine(shape, *, rng, params: FilamentParams = TAOX_40NM) -> CellState:
    """Fresh, unformed cells: each device draws its own parameters.

    ``I0 = params.i0 exp(i0_dtod N)`` (log-normal, median ``params.i0``), ``Ea = params.ea +
    ea_dtod N``, the pristine gap ``params.gap_pristine + gap_pristine_dtod N`` (held within the gap
    limits) and the compliance factor ``exp(icc_dtod N)``, independent standard normals ``N`` per
    cell.
    """
    if not isinstance(params, FilamentParams):
        raise DeviceModelError(f"params must be a FilamentParams, got {type(params).__name__}")
    shape = as_shape(shape, "shape", DeviceModelError)
    gen = as_rng(rng)
    try:
        return _draw_pristine(shape, gen, params)
    except (MemoryError, ValueError, OverflowError) as exc:  # numpy: "array is too big", ...
        if isinstance(exc, DeviceModelError):
            raise
        raise DeviceModelError(f"shape {shape}: {math.prod(shape)} cells do not fit in memory "
                               "(each cell keeps about 100 bytes of state)") from None


def _draw_pristine(shape: tuple[int, ...], gen: np.random.Generator,
                   params: FilamentParams) -> CellState:
    i0 = params.i0 * np.exp(params.i0_dtod * gen.standard_normal(shape))
    ea = params.ea + params.ea_dtod * gen.standard_normal(shape)
    if (ea <= 0).any():
        raise DeviceModelError("ea_dtod is so large that a device drew Ea <= 0")
    gap = np.clip(params.gap_pristine + params.gap_pristine_dtod * gen.standard_normal(shape),
                  params.gap_min, params.gap_max)
    icc_scale = np.exp(params.icc_dtod * gen.standard_normal(shape))
    return CellState(gap=gap, i0=i0, ea=ea, params=params, icc_scale=icc_scale)


def _result(state: CellState, pulses, energy, reads=None) -> ProgramResult:
    g = read_conductance(state)
    return ProgramResult(state=state, conductance=g,
                         cost=ProgramCost(pulses=pulses, energy=energy, reads=reads),
                         formed=g >= state.params.formed_threshold)


def form(shape, *, rng, params: FilamentParams = TAOX_40NM, amplitude=None, width=None,
         compliance=None, n_grid: int = N_GRID) -> ProgramResult:
    """Electroform an array of pristine cells with one pulse; its stochastic outcome is the weight.

    Every cell gets its own device parameters (:func:`pristine`), then one rectangular pulse of
    ``amplitude`` volts and ``width`` seconds through a transistor limiting the current to
    ``compliance`` amperes. Dielectric breakdown (the runaway collapse of the gap) happens in some
    cells during the pulse; the compliance then holds them while the gap creeps on, which sets the
    formed conductance. Cells that do not break down stay near the pristine conductance.

    Parameters
    ----------
    shape : tuple of int
        Array shape, e.g. (512, 512).
    rng : numpy.random.Generator or int
        Source of device-to-device and cycle-to-cycle variation.
    params : FilamentParams
        Default :data:`TAOX_40NM`, calibrated so the default pulse gives formed-cell conductances of
        mean 14.2 uS and standard deviation 2.46 uS at ``v_read``.
    amplitude, width, compliance : float, optional
        Pulse (V, s, A); default ``params.form_amplitude``, ``form_width``, ``form_compliance``.
        Larger amplitude or width forms more cells and narrows the formed distribution.

    Returns
    -------
    ProgramResult
        ``conductance`` (siemens, at ``params.v_read``), ``formed`` mask, ``cost`` (one pulse per
        cell and its energy), ``state``.

    Examples
    --------
    Electroform a 64 x 64 array with the default pulse: the formed cells' conductances are random,
    about 14 uS on average (the preset's calibration):

    >>> import numpy as np
    >>> from rramsim import devmodel
    >>> res = devmodel.form((64, 64), rng=np.random.default_rng(0))
    >>> res.conductance.shape
    (64, 64)
    >>> bool(10e-6 < res.conductance[res.formed].mean() < 20e-6)
    True
    """
    gen = as_rng(rng)
    state = pristine(shape, rng=gen, params=params)
    amp = params.form_amplitude if amplitude is None else amplitude
    wid = params.form_width if width is None else width
    icc = params.form_compliance if compliance is None else compliance
    if np.any(real_array(amp, "forming amplitude", DeviceModelError) <= 0):
        raise DeviceModelError(f"forming amplitude must be positive volts, got {amplitude}")
    state, energy = apply_pulse(state, amp, wid, rng=gen, compliance=icc, n_grid=n_grid)
    return _result(state, np.ones(state.shape, np.int64), energy)


def _mask(state: CellState, mask) -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype != bool:
        raise DeviceModelError(f"mask must be a boolean array, got dtype {m.dtype}")
    if m.shape != state.shape:
        raise DeviceModelError(f"mask must have the state's shape {state.shape}, got {m.shape}")
    return m


def _pulse_train(state: CellState, m: np.ndarray, amplitude, width, compliance, pulses: int,
                 gen: np.random.Generator, n_grid: int) -> ProgramResult:
    """``pulses`` identical pulses on the cells of mask ``m``; energy summed, pulses counted."""
    pulses = integer(pulses, "pulses", DeviceModelError)
    if pulses < 1:
        raise DeviceModelError(f"pulses must be >= 1, got {pulses}")
    energy = np.zeros(state.shape)
    for _ in range(int(pulses)):
        state, e = apply_pulse(state, amplitude, width, rng=gen, compliance=compliance, mask=m,
                               n_grid=n_grid)
        energy += e
    return _result(state, np.where(m, int(pulses), 0), energy)


def reset(state: CellState, mask, *, rng, amplitude=None, width=None, pulses: int = 1,
          n_grid: int = N_GRID) -> ProgramResult:
    """RESET (prune) the cells of ``mask``: negative pulses widen the gap; others are untouched.

    Parameters
    ----------
    state : CellState
    mask : ndarray of bool
        Cells to reset.
    rng : numpy.random.Generator or int
    amplitude : float, optional
        Pulse magnitude, volts (> 0, applied as ``-amplitude``); default ``params.reset_amplitude``.
    width : float, optional
        Seconds; default ``params.reset_width``.
    pulses : int
        Identical pulses per cell (>= 1).

    Returns
    -------
    ProgramResult
        With the preset's default pulse, reset cells land at 0.1-1 uS.
    """
    m = _mask(state, mask)
    p = state.params
    amp = _check_scalar("reset amplitude", p.reset_amplitude if amplitude is None else amplitude)
    wid = p.reset_width if width is None else width
    return _pulse_train(state, m, -amp, wid, None, pulses, as_rng(rng), n_grid)


def set_cells(state: CellState, mask, *, rng, amplitude=None, width=None, compliance=None,
              pulses: int = 1, n_grid: int = N_GRID) -> ProgramResult:
    """SET (reinstate) the cells of ``mask``: positive pulses under compliance shrink the gap.

    Parameters
    ----------
    state : CellState
    mask : ndarray of bool
    rng : numpy.random.Generator or int
    amplitude, width, compliance : float or ndarray, optional
        Volts (> 0), seconds, amperes; defaults ``params.set_*``. The compliance sets the final
        conductance (higher compliance, higher conductance).
    pulses : int
        Identical pulses per cell (>= 1).
    """
    m = _mask(state, mask)
    p = state.params
    amp = p.set_amplitude if amplitude is None else amplitude
    if np.any(np.asarray(amp) <= 0):
        raise DeviceModelError(f"SET amplitude must be positive volts, got {amplitude}")
    wid = p.set_width if width is None else width
    icc = p.set_compliance if compliance is None else compliance
    return _pulse_train(state, m, amp, wid, icc, pulses, as_rng(rng), n_grid)


@dataclass(frozen=True, eq=False)
class WriteVerifyResult(ProgramResult):
    """:class:`ProgramResult` of :func:`write_verify`, plus which cells met the tolerance.

    Attributes
    ----------
    converged : ndarray of bool
        Cells whose last verify read was within the tolerance of the target.
    """

    converged: np.ndarray | None = None


# one program-and-verify algorithm; its options are keyword-only, with defaults, documented below
def state_for(target: np.ndarray, state, params: FilamentParams, gen: np.random.Generator) -> CellState:
    """The cells to program towards ``target`` (siemens): ``state`` checked (a :class:`CellState`
    of ``target``'s shape), or, when None, a fresh array formed with ``gen`` and ``params``."""
    if state is None:
        state = form(target.shape, rng=gen, params=params).state
    elif not isinstance(state, CellState):
        raise DeviceModelError(f"state must be a CellState, got {type(state).__name__}")
    if state.shape != target.shape:
        raise DeviceModelError(f"state has shape {state.shape}, target_g {target.shape}")
    return state


def write_verify(  # noqa: PLR0913
    target_g, *, rng, tolerance: float = 0.05, params: FilamentParams = TAOX_40NM,
    state: CellState | None = None, max_pulses: int = 40,
    read_noise: ReadNoise | float | None = 0.01, width=None, n_grid: int = N_GRID,
) -> WriteVerifyResult:
    """Program every cell to a target conductance by program-and-verify (the precise baseline).

    Each round reads every unfinished cell (with read noise); a cell within ``tolerance`` (relative) of
    its target is finished; a cell above it gets one RESET pulse (default amplitude); a cell below it
    gets one SET pulse whose compliance is its own, adapted after each read that follows a SET as
    ``I_cc <- I_cc (target / G_read)^0.8`` (ratio held to [0.5, 2]): the formed conductance grows
    with the compliance (about as ``I_cc^1.2`` for :data:`TAOX_40NM`). The first compliance is
    ``set_compliance (target / 14.2 uS)^(1/1.2)``.

    Parameters
    ----------
    target_g : array_like
        Target conductances at ``params.v_read``, siemens (> 0). Reachable with the preset: about
        1-60 uS; cells aimed elsewhere end unconverged.
    rng : numpy.random.Generator or int
    tolerance : float
        Relative tolerance of the verify read (0 < tolerance < 1).
    params : FilamentParams
        Used when ``state`` is None.
    state : CellState, optional
        Cells to program (same shape as ``target_g``). None electroforms fresh cells first with the
        default pulse; the forming cost is not counted (it is :func:`form`'s).
    max_pulses : int
        Programming pulses allowed per cell.
    read_noise : ReadNoise or float or None
        Noise of the verify reads (a float is a relative sigma).
    width : float, optional
        Width of the SET and RESET pulses, seconds; default ``params.set_width``/``reset_width``.

    Returns
    -------
    WriteVerifyResult
        New state, noiseless conductance, cost (pulses, energy of the programming pulses, verify reads)
        and the ``converged`` mask.
    """
    target = np.array(real_array(target_g, "target_g", DeviceModelError))
    if not np.isfinite(target).all() or (target <= 0).any():
        raise DeviceModelError("target_g must be finite and > 0 siemens")
    tol = _check_scalar("tolerance", tolerance)
    if tol >= 1:
        raise DeviceModelError(f"tolerance must be < 1 (relative), got {tol}")
    max_pulses = integer(max_pulses, "max_pulses", DeviceModelError)
    if max_pulses < 0:
        raise DeviceModelError(f"max_pulses must be >= 0, got {max_pulses}")
    gen = as_rng(rng)
    state = state_for(target, state, params, gen)
    p = state.params
    icc = p.set_compliance * (target / 14.2e-6) ** (1 / 1.2)
    pulses = np.zeros(target.shape, np.int64)
    reads = np.zeros(target.shape, np.int64)
    energy = np.zeros(target.shape)
    converged = np.zeros(target.shape, bool)
    active = np.ones(target.shape, bool)
    after_set = np.zeros(target.shape, bool)  # the cell's last pulse was a SET
    noise = read_noise
    for _ in range(int(max_pulses) + 1):
        g_read = read_conductance(state, rng=gen, noise=noise) if noise is not None else \
            read_conductance(state)
        reads += active
        ratio = np.where(g_read > 0, target / np.maximum(g_read, 1e-300), 2.0)
        ok = active & (np.abs(g_read - target) <= tol * target)
        converged |= ok
        active &= ~ok & (pulses < int(max_pulses))
        if not active.any():
            break
        high = active & (g_read > target)
        low = active & ~high
        # learn from the last SET only: a RESET lands near the same low state whatever I_cc was
        icc = np.where(active & after_set, icc * np.clip(ratio, 0.5, 2.0) ** 0.8, icc)
        after_set = low
        if high.any():
            state, e = apply_pulse(state, -p.reset_amplitude,
                                   p.reset_width if width is None else width,
                                   rng=gen, mask=high, n_grid=n_grid)
            energy += e
        if low.any():
            state, e = apply_pulse(state, p.set_amplitude, p.set_width if width is None else width,
                                   rng=gen, compliance=icc, mask=low, n_grid=n_grid)
            energy += e
        pulses += active
    g = read_conductance(state)
    return WriteVerifyResult(state=state, conductance=g,
                             cost=ProgramCost(pulses=pulses, energy=energy, reads=reads),
                             formed=g >= p.formed_threshold, converged=converged)
