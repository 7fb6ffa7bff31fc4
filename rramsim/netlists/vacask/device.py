"""The filament model (``va/rram_filament.va``) in VACASK: model cards, instances, DC and transient runs.

The Verilog-A module has the equations of :mod:`rramsim.devmodel.physics`; its gap is the potential of
an internal node ``gapn`` in nanometres, held at the instance's ``gap`` in DC analyses and integrated
in transients. The functions here build VACASK netlists around it and read the results back:

* :func:`model_card` / :func:`instance` / :func:`instances`: netlist text;
* :func:`iv` : DC read I-V of frozen cells (one operating point per voltage, one parsed circuit);
* :func:`transient`: programming waveforms (PWL corners, VACASK breakpoints) on an array of cells,
  each through an optional access transistor (``rram_access``) or an ideal limit, returning the time
  points, gaps and currents per cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim.devmodel.params import K_B_EV, TAOX_40NM, FilamentParams
from rramsim.errors import DeviceModelError, SpiceError
from rramsim.netlists.device import instance_compliance
from rramsim.netlists.vacask import engine as vacask

#: Model name used in the netlists.
MODEL = "rram"

_CONSTANTS = ("g0", "v0", "vel0", "a0", "tox", "gamma0", "beta", "t0", "rth", "gap_min", "gap_max",
              "dg0", "t_crit", "t_smth", "dt_noise")


def _f(x: float) -> str:
    return repr(float(x))


def model_card(params: FilamentParams = TAOX_40NM, *, name: str = MODEL) -> str:
    """``model <name> rram_filament ...`` with the shared constants of ``params``."""
    if not isinstance(params, FilamentParams):
        raise DeviceModelError(f"params must be a FilamentParams, got {type(params).__name__}")
    vals = " ".join(f"{k}={_f(getattr(params, k))}" for k in _CONSTANTS)
    return f"model {name} rram_filament {vals} kb={_f(K_B_EV)}"


# one instance line: its keyword-only arguments are the instance parameters of the model
def instance(name: str, te: str, be: str, *, i0: float, ea: float, gap: float,  # noqa: PLR0913
             compliance: float | None = None, dynamic: bool = True, noise: bool = False,
             seed: int = 1, model: str = MODEL) -> str:
    """One instance line of the filament model.

    Parameters
    ----------
    i0, ea, gap : float
        The device's I0 (A), Ea (eV) and initial gap (m).
    compliance : float, optional
        Ideal current limit, amperes; None for none.
    dynamic : bool
        False freezes the gap (a read).
    noise, seed :
        The stochastic term and its stream (a non-negative integer).
    """
    icc = instance_compliance(name, i0=i0, ea=ea, gap=gap, compliance=compliance)
    if int(seed) < 0 or int(seed) >= 2**31:
        raise DeviceModelError(f"instance {name}: seed must be in [0, 2^31), got {seed}")
    return (f"{name} ({te} {be}) {model} i0={_f(i0)} ea={_f(ea)} gap={_f(gap)} icc={_f(icc)} "
            f"dyn={1 if dynamic else 0} noise={1 if noise else 0} seed={int(seed)}")


def _seeds(shape, seed) -> np.ndarray:
    """One stream per cell, drawn from ``seed`` (an int or a numpy Generator)."""
    from rramsim.devmodel.read import as_rng

    return as_rng(seed).integers(0, 2**31 - 1, size=shape)


def instances(state, te_nodes, be_nodes, *, prefix: str = "fc", compliance: float | None = None,
              dynamic: bool = False, noise_seed=None) -> list[str]:
    """Instance lines for an array of cells (C order), each with its device's parameters and gap.

    ``compliance`` (A) is scaled per cell by ``state.icc_scale``. ``noise_seed`` (an int or a numpy
    Generator) switches the stochastic term on, with one stream per cell drawn from it.
    """
    te = np.asarray(te_nodes, dtype=object)
    be = np.asarray(be_nodes, dtype=object)
    if te.shape != state.shape or be.shape != state.shape:
        raise DeviceModelError(f"node arrays must have the state's shape {state.shape}, "
                               f"got {te.shape} and {be.shape}")
    seeds = None if noise_seed is None else _seeds(state.shape, noise_seed)
    lines = []
    for idx in np.ndindex(state.shape):
        icc = None if compliance is None else float(compliance) * float(state.icc_scale[idx])
        name = prefix + "_" + "_".join(str(i) for i in idx)
        lines.append(instance(name, str(te[idx]), str(be[idx]), i0=float(state.i0[idx]),
                              ea=float(state.ea[idx]), gap=float(state.gap[idx]), compliance=icc,
                              dynamic=dynamic, noise=seeds is not None,
                              seed=0 if seeds is None else int(seeds[idx])))
    return lines


def _header(title: str, params: FilamentParams, osdi: str, *, access: str | None = None) -> list[str]:
    lines = [title, "", "ground 0", f'load "{osdi}"']
    if access:
        lines.append(f'load "{access}"')
    lines += ["model vsource vsource", model_card(params)]
    if access:
        lines.append("model acc rram_access")
    return lines


def _modules(access: bool) -> tuple[str, str | None]:
    fil = str(vacask.compile_va(vacask.va_source("rram_filament.va")))
    acc = str(vacask.compile_va(vacask.va_source("rramsim_elements.va"))) if access else None
    return fil, acc


def iv(state, volts, *, timeout: float | None = None) -> np.ndarray:
    """DC read I-V of frozen cells: current of every cell at every voltage, amperes, shape (V, cells).

    Each cell of ``state`` (flattened) sits between a common node driven by one source and ground;
    the source's value is swept over ``volts``, one operating point per value on one parsed circuit.
    """
    v = np.atleast_1d(np.asarray(volts, dtype=float))
    if v.ndim != 1 or not np.isfinite(v).all():
        raise DeviceModelError("volts must be a finite 1-D array")
    fil, _ = _modules(False)
    flat = type(state)(gap=state.gap.ravel(), i0=state.i0.ravel(), ea=state.ea.ravel(),
                       params=state.params, icc_scale=state.icc_scale.ravel())
    n = flat.shape[0]
    lines = _header("rramsim: DC I-V of filament-model cells (gaps frozen)", state.params, fil)
    lines.append("vin (top 0) vsource dc=0")
    lines += [f"vs_{k} (b_{k} 0) vsource dc=0" for k in range(n)]
    lines += instances(flat, ["top"] * n, [f"b_{k}" for k in range(n)], dynamic=False)
    values = ", ".join(_f(x) for x in v)
    lines += ["control", "  abort always", "  " + vacask.OPTIONS,
              f'  sweep vv instance="vin" parameter="dc" values=[{values}]',
              "    analysis op1 op", "endc"]
    res = vacask.run("\n".join(lines) + "\n", ["op1"], timeout=timeout)
    plot = res.plots["op1"]
    cur = np.stack([plot[f"vs_{k}:flow(br)"] for k in range(n)], axis=1)
    return cur


#: Transient options: tight enough that the gap is integrated to ~1e-5 relative per pulse.
TRAN_OPTIONS = 'options rawfile="binary" reltol=1e-6 vntol=1e-9 abstol=1e-15 gmin=0'


@dataclass(frozen=True, eq=False)
class Waveforms:
    """Result of :func:`transient`.

    Attributes
    ----------
    time : ndarray (S,)
        Time points, seconds.
    gap : ndarray (S, *shape)
        Gap of every cell, metres.
    current : ndarray (S, *shape)
        Current through every cell (top to bottom electrode), amperes.
    volts : ndarray (S,)
        The applied (source) voltage.
    seconds : float
        VACASK's wall time.
    """

    time: np.ndarray
    gap: np.ndarray
    current: np.ndarray
    volts: np.ndarray
    seconds: float


# one analysis: the cells, their waveform and the keyword-only settings of the transient
def transient(state, times, volts, *,  # noqa: PLR0913
              compliance: float | None = None, access_ron: float | None = None,
              dt_max: float = 1e-9, noise_seed=None, timeout: float | None = None,
              options: str = TRAN_OPTIONS) -> Waveforms:
    """Programming transient of an array of cells under one PWL waveform ``(times, volts)``.

    Every cell's top electrode is driven by the source (node ``top``); its bottom electrode goes to
    ground through a 0 V source that measures its current. With ``access_ron`` each cell is a 1T1R
    cell: an access transistor ``rram_access`` (on-resistance ``access_ron`` ohms, saturation current
    ``compliance`` scaled by ``state.icc_scale``) in series with the filament; otherwise the filament's
    own ideal limit ``icc`` is the compliance. The gap starts at ``state.gap`` (operating point at
    t = 0, the gap held) and is integrated with VACASK's trapezoidal rule, its step bounded by
    ``dt_max`` and the PWL corners as breakpoints.
    """
    t = np.asarray(times, dtype=float)
    v = np.asarray(volts, dtype=float)
    if t.ndim != 1 or t.shape != v.shape or t.size < 2 or np.any(np.diff(t) <= 0) or t[0] != 0:
        raise DeviceModelError("PWL needs 1-D times from 0, strictly increasing, and equal-length volts")
    if access_ron is not None and (compliance is None or access_ron <= 0):
        raise DeviceModelError("a 1T1R cell needs access_ron > 0 ohms and a compliance (A)")
    fil, acc = _modules(access_ron is not None)
    shape = state.shape
    cells = list(np.ndindex(shape))
    tag = ["_".join(str(i) for i in idx) for idx in cells]
    lines = _header("rramsim: transient of filament-model cells", state.params, fil, access=acc)
    wave = ", ".join(f"{_f(a)}, {_f(b)}" for a, b in zip(t, v, strict=True))
    lines.append(f'vin (top 0) vsource type="pwl" wave=[{wave}]')
    lines += [f"vs_{s} (b_{s} 0) vsource dc=0" for s in tag]
    if access_ron is not None:
        for s, idx in zip(tag, cells, strict=True):
            icc = float(compliance) * float(state.icc_scale[idx])
            lines.append(f"ta_{s} (top c_{s}) acc ron={_f(access_ron)} icc={_f(icc)}")
        te = np.array([f"c_{s}" for s in tag], dtype=object).reshape(shape)
        lines += instances(state, te, np.array([f"b_{s}" for s in tag], dtype=object).reshape(shape),
                           dynamic=True, noise_seed=noise_seed)
    else:
        te = np.full(shape, "top", dtype=object)
        lines += instances(state, te, np.array([f"b_{s}" for s in tag], dtype=object).reshape(shape),
                           compliance=compliance, dynamic=True, noise_seed=noise_seed)
    stop = float(t[-1])
    lines += ["control", "  abort always", "  " + options,
              f"  analysis tran1 tran step={_f(min(dt_max, stop / 100))} stop={_f(stop)} "
              f"maxstep={_f(dt_max)}", "endc"]
    res = vacask.run("\n".join(lines) + "\n", ["tran1"], timeout=timeout)
    plot = res.plots["tran1"]
    time_ = plot["time"]
    gap = np.stack([_gap_vector(plot, f"fc_{s}") for s in tag], axis=1) * 1e-9
    cur = np.stack([plot[f"vs_{s}:flow(br)"] for s in tag], axis=1)
    return Waveforms(time=time_, gap=gap.reshape((-1, *shape)), current=cur.reshape((-1, *shape)),
                     volts=plot["top"], seconds=res.seconds)


def _gap_vector(plot, inst: str) -> np.ndarray:
    for name in (f"{inst}:gapn", f"{inst}.gapn"):
        if name in plot:
            return plot[name]
    raise SpiceError(f"no gap node of {inst} in VACASK's output")
