"""The filament-gap RRAM model as an ngspice subcircuit, and single-cell decks (pure text).

ngspice 39 has no Verilog-A, so the model of :mod:`rramsim.devmodel.physics` is written with
behavioural (B) sources. The gap is the voltage of an internal node ``gap`` in nanometres, held by a
1 nF capacitor; a B current source injects ``dg/dt`` in m/s (1 nF x 1e9 nm/m = 1 A per m/s), so a
transient analysis integrates the gap while a DC analysis (``dyn=0``) keeps it at its initial value
through a 1e18-ohm tie to a reference source (leakage < 1e-18 A, negligible beside any gap velocity that
matters). Internal nodes:

``vf``
    magnitude of the filament voltage behind the ideal compliance, volts:
    ``min(|V|, V0 asinh(I_cc / (I0 exp(-g/g0))))``;
``cur``
    magnitude of the current, amperes: ``I0 exp(-g/g0) sinh(vf / V0)``;
``temp``
    filament temperature, kelvin: ``T0 + cur vf Rth``.

The terminal current is ``sgn(V) min(|I0 exp(-g/g0) sinh(V/V0)|, I_cc)``. The gap velocity is
``-sgn(V) v0 exp(-Ea/kT) sinh(gamma a0 vf / (L kT/q))``, stopped at ``gap_min`` (SET) and ``gap_max``
(RESET). The stochastic term is not rendered: ngspice decks are deterministic references.

Instance parameters: ``i0`` (A), ``ea`` (eV), ``gap`` (initial gap, m), ``icc`` (compliance, A; a
huge value means none) and ``dyn`` (1: the gap moves; 0: frozen, for DC I-V sweeps).
"""

from __future__ import annotations

import numpy as np

from rramsim.devmodel.params import K_B_EV, TAOX_40NM, FilamentParams
from rramsim.errors import DeviceModelError

#: Subcircuit name used by :func:`subcircuit`.
SUBCKT = "rram_filament"
#: Compliance written for "no compliance", amperes.
NO_COMPLIANCE = 1e3
#: Options making ngspice a tight reference for single-cell decks.
OPTIONS = ".options reltol=1e-6 abstol=1e-18 vntol=1e-12 chgtol=1e-24 itl4=200 numdgt=17"


def _f(x: float) -> str:
    """A number as SPICE text that reads back as the same double."""
    return repr(float(x))


def subcircuit(params: FilamentParams = TAOX_40NM, *, name: str = SUBCKT) -> str:
    """The ``.subckt`` text of the filament model with the constants of ``params``.

    Ports: ``te`` (top electrode) and ``be`` (bottom electrode); positive ``V(te, be)`` sets.
    """
    if not isinstance(params, FilamentParams):
        raise DeviceModelError(f"params must be a FilamentParams, got {type(params).__name__}")
    p = params
    cg = _f(1e-9 / p.g0)  # nm of gap -> exponent
    iv0 = _f(1.0 / p.v0)
    v0 = _f(p.v0)
    kb = _f(K_B_EV)
    scale = f"{{i0}}*exp(-v(gap)*{cg})"
    gamma = f"max({_f(p.gamma0)}-{_f(p.beta)}*v(gap)*v(gap)*v(gap),0)"
    lines = [
        "* Filament-gap RRAM model (Stanford-PKU style), rramsim.devmodel; gap node in nm",
        f".subckt {name} te be params: i0={_f(p.i0)} ea={_f(p.ea)} gap={_f(p.gap_pristine)} "
        f"icc={_f(NO_COMPLIANCE)} dyn=1",
        "Cgap gap 0 1e-9 ic={gap*1e9}",
        "Rtie gap gref 1e18",
        "Vref gref 0 dc {gap*1e9}",
        f"Bcell te be I=sgn(v(te,be))*min(abs({scale}*sinh(v(te,be)*{iv0})),{{icc}})",
        f"Bvf vf 0 V=min(abs(v(te,be)),{v0}*asinh({{icc}}/({scale})))",
        f"Bcur cur 0 V={scale}*sinh(v(vf)*{iv0})",
        f"Btemp temp 0 V={_f(p.t0)}+v(cur)*v(vf)*{_f(p.rth)}",
        f"Bgap 0 gap I={{dyn}}*(v(te,be)>0 ? -u(v(gap)-{_f(p.gap_min * 1e9)}) : "
        f"u({_f(p.gap_max * 1e9)}-v(gap)))"
        f"*{_f(p.vel0)}*exp(-{{ea}}/({kb}*v(temp)))"
        f"*sinh({gamma}*{_f(p.a0 / p.tox)}*v(vf)/({kb}*v(temp)))",
        f".ends {name}",
    ]
    return "\n".join(lines) + "\n"


def instance_compliance(name: str, *, i0: float, ea: float, gap: float,
                        compliance: float | None) -> float:
    """Check one model instance's parameters; return its current limit (amperes).

    Shared by the ngspice subcircuit and the Verilog-A instances
    (:mod:`rramsim.netlists.vacask.device`): ``i0``, ``ea`` and ``gap`` must be finite and
    positive, ``compliance`` positive or None (no limit: :data:`NO_COMPLIANCE`).
    """
    for label, v in (("i0", i0), ("ea", ea), ("gap", gap)):
        if not np.isfinite(v) or v <= 0:
            raise DeviceModelError(f"instance {name}: {label} must be finite and > 0, got {v}")
    icc = NO_COMPLIANCE if compliance is None else float(compliance)
    if not np.isfinite(icc) or icc <= 0:
        raise DeviceModelError(f"instance {name}: compliance must be > 0 A, got {compliance}")
    return icc


# one instance line: its keyword-only arguments are the instance parameters of the subcircuit
def instance(name: str, te: str, be: str, *, i0: float, ea: float, gap: float,  # noqa: PLR0913
             compliance: float | None = None, dynamic: bool = True, subckt: str = SUBCKT) -> str:
    """One instance line of the subcircuit (``name`` without the leading X is fine).

    Parameters
    ----------
    i0 : float
        Device's I0, amperes. ``ea``: activation energy, eV. ``gap``: initial gap, metres.
    compliance : float, optional
        Ideal current limit, amperes; None for none.
    dynamic : bool
        False freezes the gap (for DC analyses).
    """
    icc = instance_compliance(name, i0=i0, ea=ea, gap=gap, compliance=compliance)
    xname = name if name.lower().startswith("x") else "x" + name
    return (f"{xname} {te} {be} {subckt} i0={_f(i0)} ea={_f(ea)} gap={_f(gap)} icc={_f(icc)} "
            f"dyn={1 if dynamic else 0}")


def instances(state, te_nodes, be_nodes, *, prefix: str = "xc", compliance: float | None = None,
              dynamic: bool = False) -> list[str]:
    """Instance lines for an array of model cells (e.g. a tile's cells), one per cell in C order.

    Parameters
    ----------
    state : rramsim.devmodel.CellState
        Cells; each instance carries its device's ``i0``, ``ea`` and current gap.
    te_nodes, be_nodes : array_like of str, shape ``state.shape``
        Node names of each cell's top and bottom electrode (e.g. word-line and bit-line nodes).
    prefix : str
        Instance names are ``{prefix}_{i}_{j}...``.
    compliance : float, optional
        Ideal current limit, amperes (scaled per cell by ``state.icc_scale``); None for none.
    dynamic : bool
        False (default) freezes the gaps: the cells are then exactly the read I-V
        ``I0 exp(-g/g0) sinh(V/V0)`` (what :func:`rramsim.devmodel.tile_cells` hands to a
        :class:`~rramsim.crossbar.Crossbar`); True lets a transient move them.
    """
    te = np.asarray(te_nodes, dtype=object)
    be = np.asarray(be_nodes, dtype=object)
    if te.shape != state.shape or be.shape != state.shape:
        raise DeviceModelError(f"node arrays must have the state's shape {state.shape}, "
                               f"got {te.shape} and {be.shape}")
    lines = []
    for idx in np.ndindex(state.shape):
        icc = None if compliance is None else float(compliance) * float(state.icc_scale[idx])
        name = prefix + "_" + "_".join(str(i) for i in idx)
        lines.append(instance(name, str(te[idx]), str(be[idx]), i0=float(state.i0[idx]),
                              ea=float(state.ea[idx]), gap=float(state.gap[idx]),
                              compliance=icc, dynamic=dynamic))
    return lines


def iv_deck(params: FilamentParams = TAOX_40NM, *, i0: float, ea: float, gap: float) -> str:
    """Deck for a DC I-V sweep of one frozen cell driven by source ``vin`` (node ``te``).

    Run it with ``steps = [["dc vin -1 1 0.01"]]``; the cell current is ``-i(vin)``.
    """
    return "\n".join([
        "* rramsim: DC I-V of one filament-model cell (gap frozen)",
        OPTIONS,
        subcircuit(params).rstrip(),
        "vin te 0 dc 0",
        instance("x1", "te", "0", i0=i0, ea=ea, gap=gap, dynamic=False),
        ".end",
    ]) + "\n"


def pwl_source(name: str, node: str, times, volts) -> str:
    """A PWL voltage source line (corners become ngspice breakpoints)."""
    t = np.asarray(times, dtype=float)
    v = np.asarray(volts, dtype=float)
    if t.ndim != 1 or t.shape != v.shape or t.size < 2 or np.any(np.diff(t) <= 0):
        raise DeviceModelError("PWL needs 1-D times (strictly increasing) and volts of equal length")
    pairs = " ".join(f"{_f(a)} {_f(b)}" for a, b in zip(t, v, strict=True))
    return f"{name} {node} 0 pwl({pairs})"


def transient_deck(params: FilamentParams = TAOX_40NM, *, i0: float, ea: float, gap: float,
                   times, volts, compliance: float | None = None) -> str:
    """Deck for one cell pulsed by the PWL waveform ``(times, volts)`` from source ``vin``.

    Run it with :func:`transient_steps`. Vectors: ``v(x1.gap)`` (gap in nm), ``i(vin)`` (minus the
    cell current), ``time``.
    """
    return "\n".join([
        "* rramsim: transient of one filament-model cell",
        OPTIONS,
        subcircuit(params).rstrip(),
        pwl_source("vin", "te", times, volts),
        instance("x1", "te", "0", i0=i0, ea=ea, gap=gap, compliance=compliance, dynamic=True),
        ".end",
    ]) + "\n"


def transient_steps(times, *, dt_max: float = 1e-9) -> list[list[str]]:
    """The ``tran`` command for :func:`transient_deck`: to the last corner, maximum step ``dt_max``,
    from the initial gap (``uic``)."""
    t = np.asarray(times, dtype=float)
    stop = float(t[-1])
    step = min(dt_max, stop / 100)
    return [[f"tran {_f(step)} {_f(stop)} 0 {_f(dt_max)} uic"]]
