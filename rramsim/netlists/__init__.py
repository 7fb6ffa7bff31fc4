"""SPICE netlists of crossbar tiles, and ngspice as the reference solver.

* :func:`render` (pure) writes a complete, deterministic ngspice deck of a tile; node names are
  documented in :mod:`rramsim.netlists.tile`.
* :func:`write_deck` puts a deck in a file (atomically).
* :func:`simulate` solves a tile in ngspice (shared library through PySpice, else the ``ngspice``
  binary) for one input or a batch, and returns a :class:`rramsim.solution.Solution`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rramsim.crossbar import Crossbar
from rramsim.netlists.tile import TileLayout, deck_value, render_tile
from rramsim.solution import Solution

__all__ = ["render", "simulate", "write_deck", "render_tile", "TileLayout"]


def render(xb: Crossbar, v_in=None) -> str:
    """A complete ngspice deck of tile ``xb`` with input voltages ``v_in`` (M,), as a string.

    The deck ends with ``.op``; it runs as it is in ``ngspice -b`` or any SPICE tool. Pure and
    deterministic: the same tile and input give the same text.
    """
    return render_tile(xb, v_in)[0]


def write_deck(path: str | os.PathLike, text: str) -> Path:
    """Write a deck to ``path`` atomically (temporary file in the same folder, then rename).

    A new file gets the user's umask, a replaced one keeps its mode, a symbolic link is followed.

    Raises
    ------
    OutputError
        ``path`` is empty or a directory, or its folder cannot be written; ``text`` is not a str.
    """
    from rramsim._io import atomic_write_text
    from rramsim.errors import OutputError

    if not isinstance(text, str):
        raise OutputError(f"write_deck writes a deck given as a str, got {type(text).__name__}")
    return atomic_write_text(path, text)


def _steps(v: np.ndarray, layout: TileLayout) -> list[list[str]]:
    steps = []
    prev = np.zeros(v.shape[1])
    for b in range(v.shape[0]):
        cmds = []
        for i in np.flatnonzero((v[b] != prev) | (b == 0)):
            value = deck_value(v[b, i], f"v_in[{b}, {i}]")
            cmds.append(f"alter {layout.sources[i]} dc = {value}")
            if layout.far_sources is not None and layout.far_sources[i] is not None:
                cmds.append(f"alter {layout.far_sources[i]} dc = {value}")
        cmds.append("op")
        steps.append(cmds)
        prev = v[b]
    return steps


def simulate(xb: Crossbar, v_in, *, backend: str = "auto", timeout: float | None = None,
             progress: bool = False, engine: str = "ngspice") -> Solution:
    """Solve tile ``xb`` in ngspice (or VACASK) for input ``v_in`` (M,) or a batch (B, M).

    The circuit is loaded once; each input of a batch is applied with ``alter`` and solved with its own
    operating point. Results are read at full double precision.

    Parameters
    ----------
    xb : Crossbar
    v_in : array_like, (M,) or (B, M), volts
    backend : {"auto", "shared", "subprocess"}
        See :func:`rramsim.netlists.ngspice.run` (ngspice only).
    timeout : float, optional
        Time limit, seconds; default scaled to the tile's size
        (:func:`rramsim.netlists.ngspice.default_timeout`; VACASK: the same rule on its own
        estimate, see :func:`rramsim.netlists.vacask.run`).
    progress : bool
        Progress bar (elapsed time against the estimate) while ngspice or VACASK runs.
    engine : {"ngspice", "vacask"}
        The SPICE engine: ngspice (the default and main reference) or VACASK
        (:func:`rramsim.netlists.vacask.simulate`, the optional extra ``vacask``; whole large tiles).

    Raises
    ------
    CrossbarError
        Bad input shape or values.
    SpiceError
        ngspice is missing, failed (its message is included) or exceeded its time limit;
        likewise for VACASK.
    """
    if engine == "vacask":
        from rramsim.netlists import vacask

        return vacask.simulate(xb, v_in, timeout=timeout, progress=progress)
    if engine != "ngspice":
        from rramsim.errors import SpiceError

        raise SpiceError(f"engine must be 'ngspice' or 'vacask', got {engine!r}")
    from rramsim.netlists import ngspice

    if not isinstance(xb, Crossbar):
        from rramsim.errors import CrossbarError

        raise CrossbarError(f"xb must be a Crossbar, got {type(xb).__name__}")
    v, batched = xb.check_input(v_in)
    text, layout = render_tile(xb, None, analysis=None)
    if backend == "auto":
        backend = ngspice.available_backend()
    results = ngspice.run(text, _steps(v, layout), backend=backend, timeout=timeout,
                          progress=progress)
    backend_used = f"ngspice-{backend}"

    def volt(res: dict, node: str) -> float:
        return 0.0 if node == "0" else float(res[f"v({node})"][0])

    m, n = xb.shape
    bsz = v.shape[0]
    vw = np.empty((bsz, m, n))
    vb = np.empty((bsz, m, n))
    vs = np.empty((bsz, n))
    iout = np.empty((bsz, n))
    iin = np.empty((bsz, m))
    vt = None if layout.tia_nodes is None else np.empty((bsz, n))
    wl_nodes = layout.wordline_nodes.ravel()
    bl_nodes = layout.bitline_nodes.ravel()
    for b, res in enumerate(results):
        vw[b] = np.array([volt(res, nd) for nd in wl_nodes]).reshape(m, n)
        vb[b] = np.array([volt(res, nd) for nd in bl_nodes]).reshape(m, n)
        vs[b] = [volt(res, nd) for nd in layout.sense_nodes]
        if vt is not None:
            vt[b] = [volt(res, nd) for nd in layout.tia_nodes]
        iout[b] = xb.sense.measured_current(vs[b], None if vt is None else vt[b],
                                            lambda name, res=res: float(res[f"i({name})"][0]))
        for i in range(m):
            cur = -float(res[f"i({layout.sources[i]})"][0])
            if layout.far_sources is not None and layout.far_sources[i] is not None:
                cur -= float(res[f"i({layout.far_sources[i]})"][0])
            iin[b, i] = cur
    if not batched:
        vw, vb, vs, iout, iin = vw[0], vb[0], vs[0], iout[0], iin[0]
        vt = None if vt is None else vt[0]
    return Solution(i_out=iout, v_wordline=vw, v_bitline=vb, v_sense=vs, i_in=iin, v_tia=vt,
                    backend=backend_used)
