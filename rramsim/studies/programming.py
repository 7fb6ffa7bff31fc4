"""Programming a loaded network onto tiles: the mapping, its execution plan, per-tile matrices.

:func:`program` maps the network's layers with :func:`rramsim.mapper.map_network`; the circuit of
the configuration (wires, drivers, access transistors, drive, cell I-V) enters the mapper's tile
options there, once: nothing is changed on the tiles afterwards. The result, :class:`Hardware`,
caches each tile's transfer matrix T (``i_out = v @ T``) and input admittance Y (``i_in = Y v``),
both from one pass of the solver per tile, so a programmed network is solved once however many
modes, noise draws and converter settings are evaluated on it.

:func:`programming_costs` compares deployment by pruning with write-and-verify (from the training
run's record).

This module is the studies' one door to the solver: :func:`solve`, :func:`transfer_matrix`,
:func:`input_admittance` and :func:`port_matrices` for any tile (a whole tile or a window of one),
:meth:`Hardware.solve`, :meth:`Hardware.transfer` and :meth:`Hardware.admittance` for the tiles
of a programmed network. No other studies module imports :mod:`rramsim.solver`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rramsim import devmodel, mapper, solver
from rramsim.crossbar import FiniteGainTIA, IdealTIA, SenseResistor
from rramsim.studies.config import CircuitConfig, StudyConfig
from rramsim.studies.loading import at_read


def tile_options(circuit: CircuitConfig, *, r_wire_ohm: float | None = None) -> dict:
    """:class:`rramsim.crossbar.Crossbar` options of the configured circuit.

    ``r_wire_ohm`` overrides both wire resistances (the wire sweep).
    """
    rw = circuit.r_wordline_ohm if r_wire_ohm is None else float(r_wire_ohm)
    rb = circuit.r_bitline_ohm if r_wire_ohm is None else float(r_wire_ohm)
    sense = {"ideal_tia": IdealTIA,   # virtual ground; its feedback sets no array current
             "finite_gain_tia": lambda: FiniteGainTIA(r_feedback=circuit.sense_r_ohm,
                                                      open_loop_gain=circuit.sense_gain),
             "resistor": lambda: SenseResistor(resistance=circuit.sense_r_ohm)}[circuit.sense]()
    opts = {"r_wordline": rw, "r_bitline": rb, "r_driver": circuit.r_driver_ohm,
            "drive": circuit.drive, "sense": sense,
            "r_access": circuit.r_access_ohm if circuit.r_access_ohm > 0 else None}
    if circuit.nonlinear_cells and r_wire_ohm is None and circuit.sinh_v0_V > 0:
        opts["sinh_v0"] = circuit.sinh_v0_V
    return opts


def device_cells(loaded):
    """Per layer, the cells' own sinh read I-V from the device model (``devmodel.tile_cells``):
    ``(pairs, v0_pairs)``, slope conductances and v0 with the signs folded in as the network's
    pairs; None when the network carries no device states (a network file)."""
    states = getattr(loaded, "cell_states", None)
    if not states:
        return None
    pairs, v0s = [], []
    for st, sign in states:
        g, v = (np.asarray(a, float) for a in devmodel.tile_cells(st))
        pos = np.asarray(sign) > 0
        pairs.append((np.where(pos, g[0], g[1]), np.where(pos, g[1], g[0])))
        v0s.append((np.where(pos, v[0], v[1]), np.where(pos, v[1], v[0])))
    return pairs, v0s


def solve(xb, v):
    """The :class:`rramsim.solution.Solution` of tile ``xb`` driven by ``v`` (volts, (B, rows) or
    (rows,)): :func:`rramsim.solver.solve`, Newton's method for sinh cells."""
    return solver.solve(xb, v)


def transfer_matrix(xb):
    """T of a linear tile (``i_out = v @ T``): :func:`rramsim.solver.transfer_matrix`."""
    return solver.transfer_matrix(xb)


def input_admittance(xb):
    """Y of a linear tile (``i_in = Y v``): :func:`rramsim.solver.input_admittance`."""
    return solver.input_admittance(xb)


def port_matrices(xb) -> tuple[np.ndarray, np.ndarray]:
    """(T, Y) of a linear tile from one solver pass (:func:`rramsim.solver.port_matrices`)."""
    pm = solver.port_matrices(xb)
    return np.asarray(pm.transfer), np.asarray(pm.admittance)


@dataclass(eq=False)
class Hardware:
    """A network programmed onto tiles.

    Attributes
    ----------
    mapping : rramsim.mapper.Mapping
    tile_shape : (int, int)
    circuit : dict
        The tile options the mapping was made with.
    """

    mapping: object
    circuit: dict
    _t: dict = field(default_factory=dict)
    _y: dict = field(default_factory=dict)

    @property
    def plan(self):
        """The mapper's execution plan (:meth:`rramsim.mapper.Mapping.plan`)."""
        return self.mapping.plan()

    @property
    def tiles(self):
        return self.mapping.tiles

    @property
    def tile_shape(self) -> tuple[int, int]:
        return tuple(self.mapping.tile_shape)

    def _ports(self, t: int) -> None:
        self._t[t], self._y[t] = port_matrices(self.tiles[t])

    def solve(self, t: int, v):
        """Tile t driven by ``v`` (volts on all its rows): :func:`solve`."""
        return solve(self.tiles[t], v)

    def transfer(self, t: int) -> np.ndarray:
        """Tile t's transfer matrix (linear cells), computed once."""
        if t not in self._t:
            self._ports(t)
        return self._t[t]

    def admittance(self, t: int) -> np.ndarray:
        """Tile t's input admittance matrix (linear cells), computed once."""
        if t not in self._y:
            self._ports(t)
        return self._y[t]

    def summary(self) -> dict:
        """Tiles used, cells, utilisation (the mapper's summary)."""
        return self.mapping.summary()


def program(loaded, cfg: StudyConfig, *, tile_shape: tuple[int, int] | None = None,
            placement: str | None = None, r_wire_ohm: float | None = None,
            input_activity=None) -> Hardware:
    """Map ``loaded`` (:class:`~rramsim.studies.loading.LoadedNetwork`) with the configured circuit.

    ``keep_pairs`` networks (trained here) carry their physical pairs, pruned pairs at the device
    model's RESET conductances; network files carry SET-state pairs and, for the pruned ones,
    each pair's RESET-state cells (``loaded.pruned_pairs``), which the mapper puts on the pruned
    cells; files without them get the mapper's RESET level (``mapper.DEFAULT_G_RESET``).
    ``tile_shape``, ``placement`` and ``r_wire_ohm`` override the configuration (for the sweeps);
    ``input_activity`` guides ``placement="ir_aware"``.
    """
    signs = loaded.signs
    if signs is None and loaded.keep_pairs:
        signs = [np.ones(np.shape(w), dtype=np.int8) for w in loaded.weights]
    opts = tile_options(cfg.circuit, r_wire_ohm=r_wire_ohm)
    pairs, cell_v0 = loaded.pairs, None
    c = cfg.circuit
    if c.nonlinear_cells and c.sinh_v0_V == 0 and r_wire_ohm is None:
        cells = device_cells(loaded)
        if cells is None:   # no device states: the preset's V0 for every cell
            opts["sinh_v0"] = float(devmodel.TAOX_40NM.v0)
        else:
            pairs, cell_v0 = cells
    given = getattr(loaded, "positions", None)
    if given is not None:   # measured cells: signs folded into pairs and positions
        signs = [np.ones(np.shape(w), dtype=np.int8) for w in loaded.weights]
    net = mapper.network_from_layers([np.asarray(w, float) for w in loaded.weights],
                                     [np.asarray(m, bool) for m in loaded.masks], pairs,
                                     scales=list(loaded.scales), signs=signs,
                                     names=loaded.layer_names, positions=given,
                                     pruned_conductances=getattr(loaded, "pruned_pairs", None))
    shape = tile_shape or (cfg.mapping.tile_rows, cfg.mapping.tile_cols)
    scheme = cfg.mapping.scheme
    if given is not None and placement is None:   # each cell where it was measured
        placement, shape, scheme = "given", loaded.array_shape, given_scheme(given)
    mapping = mapper.map_network(
        net, tile_shape=shape, scheme=scheme,
        placement=placement or cfg.mapping.placement,
        g_reset=None if loaded.keep_pairs else mapper.DEFAULT_G_RESET,
        input_activity=input_activity, tile_options=opts, cell_v0=cell_v0)
    return Hardware(mapping=mapping, circuit=opts)


def given_scheme(positions) -> str:
    """The differential scheme of given cell positions: "columns" when every pair's two cells
    share a row, else "rows" (the mapper refuses pairs that share neither, naming the cell)."""
    same_row = all(bool(np.all(p[1] == p[3])) for p in positions)
    return "columns" if same_row else "rows"


def program_reads(loaded, cfg: StudyConfig, reads) -> list[tuple[int, Hardware]]:
    """The network programmed at each of ``reads`` of its measured read-outs (same circuit, same
    given positions; :func:`rramsim.studies.loading.at_read` gives each read's cells)."""
    return [(r, program(at_read(loaded, r), cfg)) for r in reads]


def programming_costs(loaded) -> dict | None:
    """Programming cost of deployment by pruning vs write-and-verify, from the training record.

    Pruning: electroform every cell once and RESET the pruned pairs; write-and-verify (the
    "precise tuning" baseline, conventionally trained weights): the same forming plus
    program-and-verify pulses to each target (``devmodel.write_verify``). Returns the numbers
    (``prune_pulses``, ``prune_energy_J``, ``wv_pulses``, ``wv_energy_J``, the table ``rows`` and
    the training figures), or None for a network without a programming record.
    """
    m = loaded.metrics
    if not m or "deploy" not in m:
        return None
    form_p, form_e = int(m["forming"]["pulses"]), float(m["forming"]["energy_j"])
    dep = m["deploy"]
    out = {"prune_pulses": form_p + int(dep["pulses"]),
           "prune_energy_J": form_e + float(dep["energy_j"]), "wv_pulses": None,
           "metrics": m,
           "rows": [["electroforming (both)", m["n_cells"], form_p, form_e],
                    ["pruning: RESET of pruned pairs", dep["cell_ops"], dep["pulses"],
                     float(dep["energy_j"])],
                    ["pruning in situ during training (mask flips x 2 cells)",
                     m["programming_ops"], None, None]]}
    base = m.get("baseline")
    if base:
        out["rows"].append([f"write-and-verify (baseline, tolerance {base['tolerance'] * 100:g} %)",
                            base["cell_ops"], base["pulses"], float(base["energy_j"])])
        out["wv_pulses"] = form_p + int(base["pulses"])
        out["wv_energy_J"] = form_e + float(base["energy_j"])
    return out
