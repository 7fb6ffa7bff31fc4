"""Default time limits of the external SPICE binaries (ngspice and VACASK): scaled to the circuit,
a minute for small tiles, set by ``timeout=`` or an environment variable, and a ``SpiceError``
naming the limit when a run exceeds it (the hung binary is killed). The binaries here are stand-ins
that never finish, so no SPICE engine needs to be installed; ngspice's own cases are in
``test_netlists.py``."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from helpers import process_gone

from rramsim import netlists
from rramsim.crossbar import Crossbar
from rramsim.errors import SpiceError
from rramsim.netlists import ngspice, vacask
from rramsim.netlists.vacask import engine as vacask_engine

TINY = "t\nground 0\nmodel r resistor\nr1 (a 0) r r=1\ncontrol\n  analysis op1 op\nendc\n"


@pytest.fixture
def hanging_vacask(tmp_path, monkeypatch):
    """A VACASK (and OpenVAF) that never finishes; ``pid`` holds its process id."""
    pid = tmp_path / "pid"
    exe = tmp_path / "vacask"
    exe.write_text(f"#!/bin/sh\necho $$ > {pid}\nexec sleep 600\n")
    exe.chmod(0o755)
    monkeypatch.setenv("RRAMSIM_VACASK", str(exe))
    monkeypatch.setenv("RRAMSIM_OPENVAF", str(exe))
    monkeypatch.delenv(vacask.TIMEOUT_ENV, raising=False)
    return pid




def test_hung_vacask_is_stopped_by_the_environment_limit(hanging_vacask, monkeypatch):
    monkeypatch.setenv(vacask.TIMEOUT_ENV, "0.5")
    t0 = time.monotonic()
    with pytest.raises(SpiceError, match=r"time limit of 0\.5 s.*RRAMSIM_VACASK_TIMEOUT"):
        vacask.run(TINY, ["op1"])
    assert time.monotonic() - t0 < 30.0   # not the default minute: the variable was used
    assert process_gone(int(hanging_vacask.read_text()))


def test_hung_vacask_is_stopped_by_timeout_argument(hanging_vacask):
    with pytest.raises(SpiceError, match=r"VACASK did not finish within its time limit of 0\.3 s"):
        vacask.run(TINY, ["op1"], timeout=0.3)
    assert process_gone(int(hanging_vacask.read_text()))


@pytest.mark.parametrize("bad", ["1m", -1.0, 0.0, float("nan"), float("inf"), True, [5]])
def test_vacask_timeout_must_be_positive_seconds(bad, hanging_vacask):
    with pytest.raises(SpiceError, match="timeout must be a positive number of seconds"):
        vacask.run(TINY, ["op1"], timeout=bad)


def test_vacask_timeout_variable_must_be_a_number(hanging_vacask, monkeypatch):
    monkeypatch.setenv(vacask.TIMEOUT_ENV, "soon")
    with pytest.raises(SpiceError, match="RRAMSIM_VACASK_TIMEOUT must be a positive number"):
        vacask.run(TINY, ["op1"])


def test_vacask_default_limit_scales_with_the_circuit(monkeypatch):
    """A minute for small tiles; 20x the estimate for large ones (a 512 x 512 tile, estimated
    at about 90 s, gets 30 minutes); transients count their time steps."""
    monkeypatch.delenv(vacask.TIMEOUT_ENV, raising=False)
    small = vacask.render(Crossbar(np.full((16, 16), 1e-5), r_wordline=2.0, r_bitline=2.0),
                          np.full(16, 0.1))
    assert vacask_engine._time_limit(small, None) == ngspice.TIMEOUT_MIN
    # the estimate from the line count alone: 512 x 512 with wires is 786,432 + lines
    big = "x\n" * 786_432
    assert vacask.estimate(big) == pytest.approx(90.05, rel=1e-9)
    assert vacask_engine._time_limit(big, None) == pytest.approx(20 * 90.05, rel=1e-9)
    # a transient of 1e-3 s in 1e-9 s steps: 1e6 steps of this 7-line netlist, about 7 s more
    tran = TINY.replace("analysis op1 op",
                        "analysis tran1 tran step=1e-09 stop=0.001 maxstep=1e-09")
    assert tran.count("\n") == 7
    assert vacask.estimate(tran) == pytest.approx(vacask.estimate(TINY) + 1e-6 * 7 * 1e6,
                                                  rel=1e-9)
    assert vacask_engine._time_limit(tran, None) > ngspice.TIMEOUT_MIN
    assert vacask_engine._time_limit(small, 2.5) == 2.5


def test_netlists_simulate_passes_the_limit_to_vacask(hanging_vacask):
    """The engine-neutral entry point gives VACASK the caller's limit (and its modules compile
    with the stand-in OpenVAF only for filament cells, not for a plain tile)."""
    xb = Crossbar(np.full((2, 2), 1e-5), r_wordline=1.0, r_bitline=1.0)
    with pytest.raises(SpiceError, match="time limit of 0.3 s"):
        netlists.simulate(xb, [0.1, 0.2], engine="vacask", timeout=0.3)
    assert os.path.exists(hanging_vacask)
