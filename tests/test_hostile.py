"""Hostile input: every case gets the project's own exception, of the exact type, naming the field.

Groups (as a demanding user tried them): memory on huge tiles, the sense circuits, output paths,
raw errors from the command line, wrongly typed arguments (complex, object, ragged, text),
silent coercions (fractional shapes, text numbers, values a deck cannot hold, overflowing
outputs) and ngspice's own failures. ``HOSTILE`` lists the cases with their exact type and the
field their message must name; ``test_public_api_raises_only_project_errors`` walks the public
API with bad inputs and requires a :class:`~rramsim.errors.RramsimError` from every call.
(Interrupts, the ngspice memory check and hung binaries have their own modules:
``test_interrupts.py``, ``test_netlists.py``.)
"""

from __future__ import annotations

import re
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest

from rramsim import devmodel, mapper, netlists, solver
from rramsim._rundir import RunFolder, check_file_target
from rramsim._validate import integer, real_array, real_scalar, shape
from rramsim.cli import main
from rramsim.crossbar import Crossbar, FiniteGainTIA, IdealTIA, SenseResistor
from rramsim.errors import (
    CrossbarError,
    DeviceModelError,
    MappingError,
    OutputError,
    RramsimError,
    SpiceError,
)
from rramsim.netlists import ngspice

G = np.full((4, 3), 1e-5)
XB = Crossbar(G, r_wordline=1.0, r_bitline=1.0)
RNG = np.random.default_rng(0)
STATE = devmodel.form((2, 3), rng=0).state


def _ragged():
    return [[1e-5, 2e-5], [3e-5]]


def _subnormal_tile():
    g = G.copy()
    g[2, 1] = 5e-324
    return Crossbar(g)


def _layers(w=None, m=None):
    w = [np.ones((3, 2))] if w is None else w
    m = [np.ones((3, 2), bool)] if m is None else m
    return mapper.network_from_layers(w, m)


# (id, call, exact exception type, text the message must contain)
HOSTILE = [
    # ---- wrongly typed arrays (complex, object, ragged, text) -------------------------------
    ("crossbar-complex", lambda: Crossbar(G + 1j * G), CrossbarError, "conductance must be real"),
    ("crossbar-object", lambda: Crossbar(np.array([[object()]])), CrossbarError, "conductance"),
    ("crossbar-ragged", lambda: Crossbar(_ragged()), CrossbarError, "conductance must be a rect"),
    ("crossbar-text", lambda: Crossbar([["1e-5", "2e-5"]]), CrossbarError, "conductance"),
    ("crossbar-text-scalar", lambda: Crossbar("1e-5"), CrossbarError, "conductance"),
    ("crossbar-1d", lambda: Crossbar(np.ones(3)), CrossbarError, "conductance must be a 2-D"),
    ("crossbar-empty", lambda: Crossbar(np.ones((0, 3))), CrossbarError, "conductance"),
    ("crossbar-nan", lambda: Crossbar([[1e-5, np.nan]]), CrossbarError, "conductance[0, 1]"),
    ("crossbar-negative", lambda: Crossbar([[1e-5, -1.0]]), CrossbarError, "conductance[0, 1]"),
    ("r-wordline-text", lambda: Crossbar(G, r_wordline="2"), CrossbarError, "r_wordline"),
    ("r-bitline-complex", lambda: Crossbar(G, r_bitline=2j), CrossbarError, "r_bitline"),
    ("r-driver-list", lambda: Crossbar(G, r_driver=[1.0]), CrossbarError, "r_driver"),
    ("r-driver-bool", lambda: Crossbar(G, r_driver=True), CrossbarError, "r_driver"),
    ("drive-list", lambda: Crossbar(G, drive=["left"]), CrossbarError, "drive"),
    ("r-access-complex", lambda: Crossbar(G, r_access=G + 1j), CrossbarError, "r_access"),
    ("r-access-shape", lambda: Crossbar(G, r_access=np.ones((2, 2))), CrossbarError, "r_access"),
    ("sinh-v0-text", lambda: Crossbar(G, sinh_v0="0.25"), CrossbarError, "sinh_v0"),
    ("sinh-v0-zero", lambda: Crossbar(G, sinh_v0=0.0), CrossbarError, "sinh_v0"),
    ("v-in-complex", lambda: XB.check_input(np.ones(4) * (1 + 1j)), CrossbarError, "v_in"),
    ("v-in-text", lambda: XB.check_input(["0.1"] * 4), CrossbarError, "v_in"),
    ("v-in-ragged", lambda: XB.check_input([[0.1] * 4, [0.1]]), CrossbarError, "v_in"),
    ("v-in-object", lambda: XB.check_input(np.array([None] * 4)), CrossbarError, "v_in"),
    ("v-in-3d", lambda: XB.check_input(np.ones((1, 1, 4))), CrossbarError, "v_in"),
    ("v-in-width", lambda: XB.check_input(np.ones(5)), CrossbarError, "width 5"),
    ("v-in-inf", lambda: XB.check_input([0, 0, np.inf, 0]), CrossbarError, "v_in[0, 2]"),
    # ---- sense circuits ---------------------------------------------------------------------
    ("tia-gain-text", lambda: FiniteGainTIA(open_loop_gain="big"), CrossbarError,
     "FiniteGainTIA.open_loop_gain"),
    ("tia-gain-zero", lambda: FiniteGainTIA(open_loop_gain=0.0), CrossbarError,
     "FiniteGainTIA.open_loop_gain"),
    ("tia-feedback-none", lambda: IdealTIA(None), CrossbarError, "IdealTIA.r_feedback"),
    ("sense-r-text", lambda: SenseResistor("1k"), CrossbarError, "SenseResistor.resistance"),
    ("sense-r-negative", lambda: SenseResistor(-1.0), CrossbarError, "SenseResistor.resistance"),
    ("sense-wrong-type", lambda: Crossbar(G, sense="tia"), CrossbarError, "sense"),
    # ---- silent coercions that are now refused ----------------------------------------------
    ("overflowing-outputs", lambda: Crossbar(np.full((16, 16), 1e305)).check_input(
        np.full(16, 0.2)), CrossbarError, "beyond what double precision"),
    ("overflow-in-solve", lambda: solver.solve(Crossbar(np.full((16, 16), 1e305)),
                                               np.full(16, 0.2)), CrossbarError, "v_in up to"),
    ("deck-subnormal-g", lambda: netlists.render(_subnormal_tile()), CrossbarError,
     "cell [2, 1]"),
    ("deck-sinh-overflow", lambda: netlists.render(Crossbar(np.full((1, 1), 1e300),
                                                            sinh_v0=1e10)),
     CrossbarError, "cell [0, 0]"),
    ("deck-subnormal-input", lambda: netlists.render(XB, [0, 1e-320, 0, 0]), CrossbarError,
     "v_in[1]"),
    ("deck-subnormal-wire", lambda: netlists.render(Crossbar(G, r_bitline=1e-310)),
     CrossbarError, "r_bitline"),
    ("simulate-bad-input-first", lambda: netlists.simulate(XB, "0.1"), CrossbarError, "v_in"),
    ("render-batch", lambda: netlists.render(XB, np.zeros((2, 4))), CrossbarError, "batch"),
    ("form-fractional-shape", lambda: devmodel.form((3.7, 2), rng=0), DeviceModelError,
     "shape[0]"),
    ("form-text-shape", lambda: devmodel.form("3x3", rng=0), DeviceModelError, "shape"),
    ("form-negative-shape", lambda: devmodel.form((-1, 2), rng=0), DeviceModelError, "shape[0]"),
    ("form-bool-shape", lambda: devmodel.form((True, 2), rng=0), DeviceModelError, "shape[0]"),
    ("form-huge-shape", lambda: devmodel.form((10**200, 10**200), rng=0), DeviceModelError,
     "do not fit in memory"),
    ("form-no-rng", lambda: devmodel.form((2, 2), rng=None), DeviceModelError, "rng"),
    ("form-text-amplitude", lambda: devmodel.form((2, 2), rng=0, amplitude="3"),
     DeviceModelError, "forming amplitude"),
    ("pulse-complex-amplitude", lambda: devmodel.apply_pulse(STATE, 1 + 1j, 1e-6, rng=0),
     DeviceModelError, "pulse amplitude"),
    ("pulse-shape-mismatch", lambda: devmodel.apply_pulse(STATE, np.ones(5), 1e-6, rng=0),
     DeviceModelError, "pulse amplitude"),
    ("pulse-fractional-grid", lambda: devmodel.apply_pulse(STATE, 1.0, 1e-6, rng=0, n_grid=8.5),
     DeviceModelError, "n_grid"),
    ("pulse-mask-values", lambda: devmodel.apply_pulse(STATE, 1.0, 1e-6, rng=0,
                                                       mask=np.full((2, 3), 0.5)),
     DeviceModelError, "mask"),
    ("reset-fractional-pulses", lambda: devmodel.reset(STATE, np.ones((2, 3), bool), rng=0,
                                                       pulses=2.5), DeviceModelError, "pulses"),
    ("reset-int-mask", lambda: devmodel.reset(STATE, np.ones((2, 3)), rng=0), DeviceModelError,
     "mask"),
    ("verify-text-target", lambda: devmodel.write_verify([["1e-5"]], rng=0), DeviceModelError,
     "target_g"),
    ("verify-complex-target", lambda: devmodel.write_verify([[1e-5j]], rng=0), DeviceModelError,
     "target_g"),
    ("verify-fractional-max", lambda: devmodel.write_verify([[1e-5]], rng=0, max_pulses=3.7),
     DeviceModelError, "max_pulses"),
    ("read-text-voltage", lambda: devmodel.read_current(STATE, "0.2"), DeviceModelError,
     "read voltage"),
    ("read-complex-v-read", lambda: devmodel.read_conductance(STATE, v_read=0.2j),
     DeviceModelError, "v_read"),
    ("read-text-noise", lambda: devmodel.read_conductance(STATE, noise="1%", rng=0),
     DeviceModelError, "noise"),
    ("read-noise-text", lambda: devmodel.ReadNoise(sigma_rel="0.01"), DeviceModelError,
     "ReadNoise.sigma_rel"),
    ("relax-text-time", lambda: devmodel.relax(STATE, "1h", rng=0), DeviceModelError, "t "),
    ("params-text", lambda: devmodel.FilamentParams(v0="0.25"), DeviceModelError,
     "FilamentParams.v0"),
    ("state-complex-gap", lambda: devmodel.CellState(gap=STATE.gap + 1j, i0=STATE.i0,
                                                     ea=STATE.ea, params=STATE.params),
     DeviceModelError, "CellState.gap"),
    ("waveform-ragged", lambda: devmodel.integrate_waveform(STATE, [[0, 1], [2]], [0, 1]),
     DeviceModelError, "times"),
    ("waveform-text-compliance", lambda: devmodel.integrate_waveform(
        STATE, [0, 1e-9], [0, 1], compliance="1mA"), DeviceModelError, "compliance"),
    ("weights-text", lambda: _layers(w=[np.array([["0.5", "1"]] * 3)]), MappingError,
     "weight"),
    ("weights-complex", lambda: _layers(w=[np.ones((3, 2)) * 1j]), MappingError, "weight"),
    ("weights-ragged", lambda: _layers(w=[[[1.0, 2.0], [3.0]]]), MappingError, "weight"),
    ("weights-object", lambda: _layers(w=[np.array([[None, 1]] * 3)]), MappingError, "weight"),
    ("mask-values", lambda: _layers(m=[np.full((3, 2), 0.5)]), MappingError, "mask"),
    ("mask-text", lambda: _layers(m=[np.full((3, 2), "yes")]), MappingError, "mask"),
    ("weights-not-a-list", lambda: mapper.network_from_layers(np.ones((3, 2)), [True]),
     MappingError, "weights"),
    ("map-fractional-tile", lambda: mapper.map_network(_layers(), tile_shape=(64.5, 64)),
     MappingError, "tile_shape[0]"),
    ("map-text-tile", lambda: mapper.map_network(_layers(), tile_shape="64x64"), MappingError,
     "tile_shape"),
    ("map-three-dims", lambda: mapper.map_network(_layers(), tile_shape=(8, 8, 8)),
     MappingError, "tile_shape"),
    ("map-text-g-unused", lambda: mapper.map_network(_layers(), tile_shape=(8, 8),
                                                     g_unused="0"), MappingError, "g_unused"),
    ("map-bad-tile-option", lambda: mapper.map_network(_layers(), tile_shape=(8, 8),
                                                       tile_options={"r_wordline": "2"}),
     MappingError, "r_wordline"),
    # ---- the helper itself ------------------------------------------------------------------
    ("helper-integer-float", lambda: integer(3.0, "n", MappingError), MappingError, "n must"),
    ("helper-integer-text", lambda: integer("3", "n", DeviceModelError), DeviceModelError, "n"),
    ("helper-shape-nested", lambda: shape(((2,), 2), "s", CrossbarError), CrossbarError, "s[0]"),
    ("helper-scalar-array", lambda: real_scalar(np.ones(2), "x", CrossbarError), CrossbarError,
     "x must"),
    ("helper-array-bytes", lambda: real_array(b"12", "x", CrossbarError), CrossbarError, "x"),
    ("helper-array-dates", lambda: real_array(np.array(["2020-01-01"], "datetime64[D]"), "x",
                                              CrossbarError), CrossbarError, "datetimes"),
    # ---- output paths -----------------------------------------------------------------------
    ("out-empty", lambda: RunFolder(""), OutputError, "--out is empty"),
    ("deck-empty-name", lambda: netlists.write_deck("", "t\n.end\n"), OutputError, "empty"),
    ("deck-into-folder", lambda: netlists.write_deck("/", "t\n.end\n"), OutputError,
     "is a directory"),
    ("file-target-folder", lambda: check_file_target("/tmp", option="--deck"), OutputError,
     "--deck /tmp"),
    # ---- ngspice ----------------------------------------------------------------------------
    ("deck-not-text", lambda: netlists.write_deck("/tmp/x.cir", b"t"), OutputError, "str"),
    ("spice-deck-not-text", lambda: ngspice.run(XB, [["op"]]), SpiceError, "deck must be"),
    ("spice-steps-text", lambda: ngspice.run("t\n.end\n", "op"), SpiceError, "steps must"),
    ("spice-command-not-text", lambda: ngspice.run("t\n.end\n", [[1]]), SpiceError,
     "commands as str"),
    ("replace-unknown-field", lambda: XB.replace(r_wordlines=1.0), CrossbarError,
     "'r_wordlines'"),
    ("render-title-lines", lambda: netlists.render_tile(XB, title="a\nb"), CrossbarError,
     "title"),
    ("rawfile-text", lambda: ngspice.read_rawfile("Binary:\n"), SpiceError, "bytes"),
    ("spice-bad-backend", lambda: ngspice.run("t\n.end\n", [["op"]], backend="gpu"), SpiceError,
     "backend"),
    ("spice-no-steps", lambda: ngspice.run("t\n.end\n", []), SpiceError, "at least one step"),
    ("spice-text-timeout", lambda: ngspice.run("t\n.end\n", [["op"]], timeout="1m"), SpiceError,
     "timeout"),
    ("spice-nan-timeout", lambda: netlists.simulate(XB, np.zeros(4), timeout=float("nan")),
     SpiceError, "timeout"),
]


@pytest.mark.parametrize("call, exc_type, field", [pytest.param(c, e, f, id=i)
                                                    for i, c, e, f in HOSTILE])
def test_hostile_input(call, exc_type, field):
    with pytest.raises(RramsimError) as info:
        call()
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value}"
    assert field in str(info.value), str(info.value)


def test_fractions_and_numpy_scalars_are_numbers():
    """What is refused is what is not a real number; exact reals are accepted and converted."""
    xb = Crossbar(np.array([[Fraction(1, 100000)]], dtype=object), r_wordline=np.float32(2))
    assert xb.conductance.dtype == np.float64 and xb.conductance[0, 0] == 1e-5
    assert xb.r_wordline == 2.0 and isinstance(xb.r_wordline, float)
    assert devmodel.form(np.array([2, 3]), rng=0).state.shape == (2, 3)
    assert devmodel.form((np.int64(2), 3), rng=0).state.shape == (2, 3)


def test_zero_stride_view_is_validated_without_copying():
    """A 30000 x 30000 broadcast view (7.2 GB if copied) is checked in blocks, never copied."""
    g = np.broadcast_to(np.float64(14.2e-6), (30_000, 30_000))
    tracemalloc.start()
    try:
        xb = Crossbar(g, r_wordline=2.0, r_bitline=2.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50e6, f"validation allocated {peak / 1e6:.1f} MB"
    assert np.shares_memory(xb.conductance, g) and xb.shape == (30_000, 30_000)
    # A view whose values vary along the columns is scanned (blocks), and a bad cell is named.
    row = np.full(30_000, 14.2e-6)
    row[12_345] = np.nan
    with pytest.raises(CrossbarError, match=r"conductance\[0, 12345\] is not finite"):
        Crossbar(np.broadcast_to(row, (30_000, 30_000)))
    # A full (non-broadcast) array is scanned in row blocks too: the first bad cell is named.
    g = np.full((3000, 400), 1e-5)
    g[2999, 7] = -1e-6
    with pytest.raises(CrossbarError, match=r"conductance\[2999, 7\] = -1e-06"):
        Crossbar(g)


def test_memory_estimate_of_a_huge_tile_returns_at_once():
    xb = Crossbar(np.broadcast_to(np.float64(14.2e-6), (30_000, 30_000)), r_wordline=2.0,
                  r_bitline=2.0)
    tracemalloc.start()
    try:
        need = solver.memory_estimate(xb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert need > 1e9 and peak < 200e6


# ---- the command line: refusals before any work, one line each, exit status 1 ---------------
CLI_REFUSALS = [
    (["tile", "--v-read", "0"], "--v-read"),
    (["tile", "--v-read", "nan"], "--v-read"),
    (["tile", "--rows", "0"], "--rows"),
    (["tile", "--rows", "300", "--cols", "300"], "--time-limit"),  # 1.1 GB: time, not memory
    (["tile", "--rows", "100000", "--cols", "100000"], "GiB"),
    (["tile", "--deck", "/tmp"], "--deck /tmp"),
    (["tile", "--time-limit", "-1"], "--time-limit"),
    (["netlist", "--out", "/tmp"], "--out /tmp"),
    (["demo", "--out", ""], "--out is empty"),
]


@pytest.mark.parametrize("argv, field", CLI_REFUSALS)
def test_command_line_refusals(argv, field, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err, err


def test_prune_into_a_file_is_refused_before_training(tmp_path, capsys):
    target = tmp_path / "config.toml"
    target.write_text("keep")
    assert main(["prune", "--out", str(target), "--no-progress"]) == 1
    assert "is a file" in capsys.readouterr().err and target.read_text() == "keep"


def test_existing_results_are_refused_without_overwrite(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "report.md").write_text("old")
    assert main(["demo", "--quick", "--out", str(tmp_path / "run"), "--no-progress"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "run" / "report.md").read_text() == "old"


# ---- a walk over the public API: every exception is a project error --------------------------
# Not numbers in any form; None where None is not a default; a 3-D array where 1-D/2-D is needed.
BAD_ARRAYS = ["text", np.array([1 + 2j]), np.array([object()]), [[1.0], [1.0, 2.0]],
              {"a": 1}, np.array(["1.0"]), b"\x00\x01"]


def _walk_cases():
    cases = []
    for bad in BAD_ARRAYS + [None, np.ones((2, 2, 2))]:
        cases += [
            ("Crossbar", lambda b=bad: Crossbar(b)),
            ("check_input", lambda b=bad: XB.check_input(b)),
            ("simulate", lambda b=bad: netlists.simulate(XB, b)),
            ("solver.solve", lambda b=bad: solver.solve(XB, b)),
            ("devmodel.form", lambda b=bad: devmodel.form(b, rng=0)),
            ("devmodel.read_current", lambda b=bad: devmodel.read_current(STATE, b)),
            ("devmodel.apply_pulse", lambda b=bad: devmodel.apply_pulse(STATE, b, 1e-6, rng=0)),
            ("network_from_layers", lambda b=bad: mapper.network_from_layers([b], [b])),
            ("map_network.tile_shape", lambda b=bad: mapper.map_network(_layers(), tile_shape=b)),
        ]
    for bad in BAD_ARRAYS:  # None is the default of these; any shape of target is legal
        cases += [
            ("Crossbar.r_access", lambda b=bad: Crossbar(G, r_access=b)),
            ("render", lambda b=bad: netlists.render(XB, b)),
            ("devmodel.write_verify", lambda b=bad: devmodel.write_verify(b, rng=0)),
        ]
    for bad in ("x", None, 1 + 1j, -1.0, float("nan"), [1.0]):
        cases += [
            ("IdealTIA", lambda b=bad: IdealTIA(b)),
            ("FiniteGainTIA", lambda b=bad: FiniteGainTIA(1e4, b)),
            ("SenseResistor", lambda b=bad: SenseResistor(b)),
            ("Crossbar.r_wordline", lambda b=bad: Crossbar(G, r_wordline=b)),
            ("ReadNoise", lambda b=bad: devmodel.ReadNoise(sigma_rel=b)),
            ("relax", lambda b=bad: devmodel.relax(STATE, b, rng=0)),
            ("FilamentParams", lambda b=bad: devmodel.FilamentParams(g0=b)),
        ]
        if bad is not None:  # v_read=None reads at the model's own voltage
            cases.append(("read_conductance",
                          lambda b=bad: devmodel.read_conductance(STATE, v_read=b)))
    for bad in ("tile", None, 3, G):
        cases += [
            ("solver.solve(xb)", lambda b=bad: solver.solve(b, np.zeros(4))),
            ("solver.transfer_matrix", lambda b=bad: solver.transfer_matrix(b)),
            ("solver.memory_estimate", lambda b=bad: solver.memory_estimate(b)),
            ("netlists.render(xb)", lambda b=bad: netlists.render(b)),
            ("netlists.simulate(xb)", lambda b=bad: netlists.simulate(b, np.zeros(4))),
            ("devmodel.tile_cells", lambda b=bad: devmodel.tile_cells(b)),
            ("map_network(net)", lambda b=bad: mapper.map_network(b)),
        ]
    return cases


WALK = _walk_cases()


def test_public_api_raises_only_project_errors():
    leaks = []
    for name, call in WALK:
        try:
            call()
        except RramsimError:
            continue
        except Exception as exc:  # noqa: BLE001 - the point is to catch what leaks
            leaks.append(f"{name}: {type(exc).__name__}: {exc}")
        else:
            leaks.append(f"{name}: accepted a bad input")
    assert not leaks, "\n".join(leaks)


def test_count_of_cases():
    """The module's case count, for the record (printed with ``pytest -s``)."""
    n_cli = len(CLI_REFUSALS) + 2  # and the prune and existing-folder cases
    total = len(HOSTILE) + len(WALK) + n_cli
    print(f"\nhostile cases: {len(HOSTILE)} typed + {len(WALK)} API-walk + {n_cli} CLI = {total}")
    assert len(HOSTILE) >= 80 and len(WALK) >= 100
    assert all(re.search(r"\S", f) for _, _, _, f in HOSTILE)
