"""The crossbar tile: one circuit description shared by the netlists and the solver.

Circuit contract (the README's "The tile circuit"), for a tile of M word lines (rows, inputs) and
N bit lines (columns, outputs):

* Cell (i, j) joins word-line node WL(i, j) to bit-line node BL(i, j). It is a linear conductance
  ``conductance[i, j]`` or, when ``sinh_v0`` is set, the filament model's read I-V
  ``I = G * v0 * sinh(V / v0)`` whose slope at 0 V is ``G = conductance[i, j]``; optionally in series
  with an access transistor's on-resistance ``r_access`` (1T1R).
* Row i is driven by an ideal source V_i through ``r_driver`` at the column-0 end, then a word-line
  segment ``r_wordline`` into WL(i, 0) and one between WL(i, j) and WL(i, j+1): N segments per row.
  ``drive="both"`` adds a second source of the same V_i at the far end, through ``r_driver`` and one more
  segment ``r_wordline`` into WL(i, N-1).
* Column j: a segment ``r_bitline`` between BL(i, j) and BL(i+1, j) and between BL(M-1, j) and the
  sense node S_j: M segments per column. S_j is held at virtual ground by an ideal TIA (default), by a
  TIA of finite open-loop gain, or loaded by a sense resistor. Each is a :class:`SenseCircuit`,
  whose methods give what the solver, the netlists and the power account need of it (its
  conductance to ground, output voltage, netlist elements, current read back, power).
* Any resistance may be 0: the nodes it joins are then one node.
* ``i_out[j]`` is the current from the bit line into S_j, amperes, positive for positive inputs.

SI units throughout.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

from rramsim._validate import real_array, real_scalar
from rramsim.errors import CrossbarError

# Currents and voltages a solve may produce: anything larger overflows in the arithmetic that
# forms them (products of conductances, voltages and feedback resistances).
_MAX_MAGNITUDE = 1e300

Drive = Literal["left", "both"]
DRIVES: tuple[str, ...] = ("left", "both")


def _check_resistance(name: str, value: float, *, positive: bool = False) -> float:
    return real_scalar(value, name, CrossbarError, positive=positive, nonnegative=True,
                       unit="ohms")


class SenseElement(NamedTuple):
    """One circuit element of a sense circuit, in terms every netlist writer can spell.

    ``kind`` is one of
    * ``"ammeter"``: a 0 V source from ``nodes[0]`` to ``nodes[1]``, whose branch current is read;
    * ``"resistor"``: ``value`` ohms between ``nodes[0]`` and ``nodes[1]``;
    * ``"ccvs"``: a source ``V(nodes[0]) - V(nodes[1]) = value * I(control)``, ``value`` in ohms and
      ``control`` the name of an ammeter;
    * ``"vcvs"``: a source ``V(nodes[0]) - V(nodes[1]) = value * (V(nodes[2]) - V(nodes[3]))``.
    Node ``"0"`` is ground.
    """

    kind: str
    name: str
    nodes: tuple[str, ...]
    value: float = 0.0
    control: str | None = None


class SenseCircuit(ABC):
    """The circuit at each bit line's end, S_j: what the solver, the netlists and the power
    account need to know of it.

    Column j's circuit joins S_j (netlist node ``s``) to ground, and a TIA has an output node
    ``o_j``. Arrays below are (..., N): the last axis runs over the columns.
    """

    @abstractmethod
    def ground_conductance(self) -> float | None:
        """Conductance from S_j to ground in the nodal equations, siemens; None where S_j is held
        at exactly 0 V (then S_j is ground)."""

    @abstractmethod
    def output_voltage(self, i_out: np.ndarray, v_sense: np.ndarray) -> np.ndarray | None:
        """The circuit's output voltage from the column currents and sense voltages (None: no
        output node)."""

    @abstractmethod
    def output_node(self, j: int) -> str | None:
        """Netlist name of column j's output node (None: the circuit has none)."""

    @abstractmethod
    def elements(self, j: int, s: str) -> tuple[SenseElement, ...]:
        """The netlist elements of column j's circuit, whose sense node is named ``s``."""

    @abstractmethod
    def measured_current(self, v_sense: np.ndarray, v_out: np.ndarray | None,
                         ammeter: Callable[[str], np.ndarray]) -> np.ndarray:
        """``i_out`` from what a SPICE run reports: the sense and output voltages, and the branch
        current of an ammeter element by name (``ammeter(name)``)."""

    @abstractmethod
    def power(self, i_out: np.ndarray, v_sense: np.ndarray) -> np.ndarray:
        """Power the array delivers into the sense circuits, summed over the columns, watts."""

    @abstractmethod
    def max_transimpedance(self) -> float:
        """The largest factor from a column current to a voltage of this circuit, ohms (bounds
        the sense voltages a tile's inputs can produce)."""


@dataclass(frozen=True)
class IdealTIA(SenseCircuit):
    """Ideal transimpedance amplifier: S_j is held at exactly 0 V, output ``-r_feedback * i_out``.

    In a netlist: an ammeter (0 V source) from S_j to ground and a current-controlled source of
    gain ``-r_feedback`` at the output ``o_j``.

    Attributes
    ----------
    r_feedback : float
        Feedback resistance, ohms (> 0). Sets only the output voltage; the array sees a virtual ground.
    """

    r_feedback: float = 10e3

    def __post_init__(self) -> None:
        _check_resistance("IdealTIA.r_feedback", self.r_feedback, positive=True)

    def ground_conductance(self) -> None:
        return None

    def output_voltage(self, i_out, v_sense):
        return -float(self.r_feedback) * i_out

    def output_node(self, j: int) -> str:
        return f"o_{j}"

    def elements(self, j: int, s: str) -> tuple[SenseElement, ...]:
        return (SenseElement("ammeter", f"vam_{j}", (s, "0")),
                SenseElement("ccvs", f"h_{j}", (f"o_{j}", "0"), -self.r_feedback,
                             control=f"vam_{j}"))

    def measured_current(self, v_sense, v_out, ammeter):
        return np.stack([ammeter(f"vam_{j}") for j in range(np.shape(v_sense)[-1])], axis=-1)

    def power(self, i_out, v_sense):
        return np.zeros(np.shape(i_out)[:-1])  # S_j at 0 V absorbs nothing

    def max_transimpedance(self) -> float:
        return self.r_feedback


@dataclass(frozen=True)
class FiniteGainTIA(SenseCircuit):
    """TIA built from an op-amp of finite open-loop gain A with feedback resistance R_f.

    The op-amp output is ``V_o = -A * V_S`` (non-inverting input grounded) and R_f joins S_j to V_o, so
    ``V_S = i * R_f / (1 + A)`` and ``V_o = -A * R_f * i / (1 + A)``. The current into S_j,
    ``(V_S - V_o) / R_f = (1 + A) V_S / R_f``, makes it a conductance ``(1 + A) / R_f`` to ground.

    Attributes
    ----------
    r_feedback : float
        Feedback resistance, ohms (> 0).
    open_loop_gain : float
        Open-loop voltage gain A, V/V (> 0; e.g. 1e4 for 80 dB).
    """

    r_feedback: float = 10e3
    open_loop_gain: float = 1e4

    def __post_init__(self) -> None:
        _check_resistance("FiniteGainTIA.r_feedback", self.r_feedback, positive=True)
        real_scalar(self.open_loop_gain, "FiniteGainTIA.open_loop_gain", CrossbarError,
                    positive=True, unit="V/V")

    def ground_conductance(self) -> float:
        return (1.0 + float(self.open_loop_gain)) / float(self.r_feedback)

    def output_voltage(self, i_out, v_sense):
        return -float(self.open_loop_gain) * v_sense

    def output_node(self, j: int) -> str:
        return f"o_{j}"

    def elements(self, j: int, s: str) -> tuple[SenseElement, ...]:
        return (SenseElement("vcvs", f"e_{j}", (f"o_{j}", "0", "0", s), self.open_loop_gain),
                SenseElement("resistor", f"rf_{j}", (s, f"o_{j}"), self.r_feedback))

    def measured_current(self, v_sense, v_out, ammeter):
        return (v_sense - v_out) / self.r_feedback

    def power(self, i_out, v_sense):
        return np.sum(i_out * v_sense, axis=-1)

    def max_transimpedance(self) -> float:
        return self.r_feedback * max(1.0, self.open_loop_gain)


@dataclass(frozen=True)
class SenseResistor(SenseCircuit):
    """A plain sense resistor from S_j to ground; the sense voltage is ``resistance * i_out``.

    Attributes
    ----------
    resistance : float
        Ohms (> 0).
    """

    resistance: float = 1e3

    def __post_init__(self) -> None:
        _check_resistance("SenseResistor.resistance", self.resistance, positive=True)

    def ground_conductance(self) -> float:
        return 1.0 / float(self.resistance)

    def output_voltage(self, i_out, v_sense) -> None:
        return None

    def output_node(self, j: int) -> None:
        return None

    def elements(self, j: int, s: str) -> tuple[SenseElement, ...]:
        return (SenseElement("resistor", f"rs_{j}", (s, "0"), self.resistance),)

    def measured_current(self, v_sense, v_out, ammeter):
        return v_sense / self.resistance

    def power(self, i_out, v_sense):
        return np.sum(i_out * v_sense, axis=-1)

    def max_transimpedance(self) -> float:
        return self.resistance


Sense = IdealTIA | FiniteGainTIA | SenseResistor


# Validation scans cell arrays in blocks of about this many elements, so that checking a tile
# allocates only O(block) temporaries however large the tile (or a zero-stride view of it) is.
_BLOCK = 1 << 20


def _scan_cells(name: str, arr: np.ndarray, *, allow_zero: bool) -> tuple[float, float]:
    """Check every cell is finite and positive (or >= 0); return the largest column and row sums.

    Axes broadcast with stride 0 are checked once. Only blocks of ``_BLOCK`` elements are
    allocated.
    """
    m, n = arr.shape
    core = arr
    reps = [1, 1]
    if arr.strides[0] == 0 and m > 1:
        core, reps[0] = core[:1], m
    if arr.strides[1] == 0 and n > 1:
        core, reps[1] = core[:, :1], n
    cm, cn = core.shape
    colsum = np.zeros(cn)
    rowmax = 0.0
    rows = max(1, _BLOCK // max(cn, 1))
    for r0 in range(0, cm, rows):
        blk = core[r0:r0 + rows]
        bad = ~np.isfinite(blk)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise CrossbarError(f"{name}[{r0 + i}, {j}] is not finite ({blk[i, j]})")
        neg = blk < 0 if allow_zero else blk <= 0
        if neg.any():
            i, j = np.argwhere(neg)[0]
            kind = "non-negative" if allow_zero else "positive"
            raise CrossbarError(f"{name} must be {kind}; {name}[{r0 + i}, {j}] = {blk[i, j]}")
        with np.errstate(over="ignore"):
            colsum += blk.sum(axis=0)
            rowmax = max(rowmax, float(blk.sum(axis=1).max()))
    with np.errstate(over="ignore"):
        return float(colsum.max()) * reps[0], rowmax * reps[1]


def _as_cell_array(name: str, value, shape: tuple[int, int] | None, *, allow_zero: bool
                   ) -> tuple[np.ndarray, tuple[float, float]]:
    """A validated, read-only (M, N) float array; the caller's writeable array is copied, a
    read-only one (for example a zero-stride ``np.broadcast_to`` view) is kept as it is."""
    arr = real_array(value, name, CrossbarError)
    if shape is None:
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise CrossbarError(f"{name} must be a 2-D (M, N) array, got shape {arr.shape}")
        shape = arr.shape
    if arr.ndim == 0:
        arr = np.broadcast_to(arr, shape)
    if arr.shape != shape:
        raise CrossbarError(f"{name} must be a scalar or have shape {shape}, got shape {arr.shape}")
    sums = _scan_cells(name, arr, allow_zero=allow_zero)
    if arr.flags.writeable:
        arr = arr.copy()
        arr.setflags(write=False)
    return arr, sums


@dataclass(frozen=True, eq=False)
class Crossbar:
    """A crossbar tile circuit (see the module docstring for the exact circuit).

    Attributes
    ----------
    conductance : ndarray, shape (M, N)
        Cell conductances, siemens (>= 0; 0 means no cell). For non-linear cells, the slope at 0 V.
    r_wordline : float
        Word-line resistance per segment, ohms (>= 0).
    r_bitline : float
        Bit-line resistance per segment, ohms (>= 0).
    r_driver : float
        Output resistance of each row driver, ohms (>= 0).
    drive : {"left", "both"}
        Rows driven at the column-0 end only, or at both ends with the same voltage.
    sense : IdealTIA | FiniteGainTIA | SenseResistor
        The circuit at each bit line's end.
    r_access : None, float or ndarray (M, N)
        Access-transistor on-resistance in series with each cell (1T1R), ohms (> 0); None for 0T1R.
    sinh_v0 : None, float or ndarray (M, N)
        When set, cells are non-linear, ``I = G v0 sinh(V / v0)`` with ``v0`` in volts (> 0), the read
        I-V of the filament model (:mod:`rramsim.devmodel`). None means linear cells.

    Examples
    --------
    A 2 x 3 tile of 10 uS cells with 1-ohm segments on both lines, read by ideal TIAs:

    >>> import numpy as np
    >>> from rramsim.crossbar import Crossbar
    >>> xb = Crossbar(conductance=np.full((2, 3), 10e-6), r_wordline=1.0, r_bitline=1.0)
    >>> xb.shape, xb.is_linear
    ((2, 3), True)
    """

    conductance: np.ndarray
    r_wordline: float = 0.0
    r_bitline: float = 0.0
    r_driver: float = 0.0
    drive: Drive = "left"
    sense: Sense = field(default_factory=IdealTIA)
    r_access: np.ndarray | float | None = None
    sinh_v0: np.ndarray | float | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        g, sums = _as_cell_array("conductance", self.conductance, None, allow_zero=True)
        set_(self, "conductance", g)
        set_(self, "_sums", sums)
        for name in ("r_wordline", "r_bitline", "r_driver"):
            set_(self, name, _check_resistance(name, getattr(self, name)))
        if not isinstance(self.drive, str) or self.drive not in DRIVES:
            raise CrossbarError(f"drive must be one of {DRIVES}, got {self.drive!r}")
        if not isinstance(self.sense, SenseCircuit):
            raise CrossbarError(
                "sense must be a SenseCircuit (an IdealTIA, FiniteGainTIA or SenseResistor), "
                f"got {type(self.sense).__name__}")
        if self.r_access is not None:
            set_(self, "r_access",
                 _as_cell_array("r_access", self.r_access, g.shape, allow_zero=False)[0])
        if self.sinh_v0 is not None:
            set_(self, "sinh_v0",
                 _as_cell_array("sinh_v0", self.sinh_v0, g.shape, allow_zero=False)[0])

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple[int, int]:
        """(M, N): word lines (rows, inputs) by bit lines (columns, outputs)."""
        return self.conductance.shape  # type: ignore[return-value]

    @property
    def n_rows(self) -> int:
        return self.shape[0]

    @property
    def n_cols(self) -> int:
        return self.shape[1]

    @property
    def is_linear(self) -> bool:
        """True when every cell is a linear conductance (``sinh_v0`` is None)."""
        return self.sinh_v0 is None

    def effective_conductance(self) -> np.ndarray:
        """Series combination of each linear cell with its access resistance, siemens.

        ``G_eff = G / (1 + G r_access)``; equals ``conductance`` without access transistors.
        """
        if self.r_access is None:
            return self.conductance
        return self.conductance / (1.0 + self.conductance * self.r_access)

    def check_input(self, v_in) -> tuple[np.ndarray, bool]:
        """Validate input voltages; return them as a (B, M) float array and whether a batch was given.

        Raises
        ------
        CrossbarError
            If ``v_in`` is not (M,) or (B, M), or holds NaN or infinite values.
        """
        v = real_array(v_in, "v_in", CrossbarError)
        m = self.n_rows
        if v.ndim == 1:
            batched = False
            v = v[None, :]
        elif v.ndim == 2:
            batched = True
        else:
            raise CrossbarError(f"v_in must have shape (M,) or (B, M) with M={m}, got {v.shape}")
        if v.shape[1] != m:
            raise CrossbarError(
                f"v_in has width {v.shape[1]} but the tile has M={m} word lines (shape {v.shape})")
        if v.shape[0] == 0:
            raise CrossbarError("v_in batch is empty (B = 0)")
        bad = ~np.isfinite(v)
        if bad.any():
            b, i = np.argwhere(bad)[0]
            raise CrossbarError(f"v_in[{b}, {i}] is not finite ({v[b, i]})")
        self._check_range(float(np.abs(v).max()))
        return v, batched

    def _check_range(self, v_max: float) -> None:
        """Refuse inputs whose currents or sense voltages could overflow double precision.

        Bound: every output current is at most ``v_max`` times the largest column (or row) sum
        of conductances; the sense circuit multiplies it by at most its resistance.
        """
        col, row = self._sums  # type: ignore[attr-defined]
        sense = self.sense
        scale = sense.max_transimpedance()
        with np.errstate(over="ignore"):
            bound = v_max * max(col, row) * max(1.0, scale)
        if not bound < _MAX_MAGNITUDE:
            raise CrossbarError(
                f"v_in up to {v_max:g} V on conductances summing to {max(col, row):g} S per line "
                f"(sense {type(sense).__name__}) gives currents or sense voltages up to {bound:g}, "
                "beyond what double precision represents; scale the conductances or inputs")

    def replace(self, **changes) -> Crossbar:
        """A copy with some fields changed (``dataclasses.replace``)."""
        import dataclasses

        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise CrossbarError(f"Crossbar has no field {unknown[0]!r} (fields: {sorted(known)})")
        return dataclasses.replace(self, **changes)
