"""Co-simulation check: a sample of tiles solved by ngspice beside the fast solver.

Every study runs this check. For each sampled tile of the network (whole, or a ``window x window``
window around one of the network's cells: the sub-tile of those rows and columns with the same
wire, driver, sense and cell parameters, because ngspice 39 without KLU needs ~3.5 s at 64 x 64
and minutes at 128 x 128), the rows that hold the network's cells are driven with random inputs
in ``[0.1, 1] v_read_V`` and solved by :func:`rramsim.netlists.simulate` (ngspice, or another
engine) and :func:`rramsim.solver.solve`. A check must check something: a window without any of
the network's cells, or whose columns carry no current, is refused (:class:`CosimError`), never
passed. Each check records the cells and currents it compared. The figure of merit is

    rel_diff = max |i_out(solver) - i_out(ngspice)| / max |i_out(ngspice)|

over the tile's outputs and inputs; the study's worst value goes into its report. A check whose
worst value exceeds the tolerance raises :class:`CosimError` from :func:`require`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim import netlists
from rramsim.errors import CosimError
from rramsim.studies import programming
from rramsim.studies.config import CosimConfig


@dataclass(frozen=True)
class TileCheck:
    """One tile (or window of it) solved both ways.

    Attributes
    ----------
    tile : int
        Index of the tile in the mapping.
    rows, cols : tuple[int, int]
        Row and column ranges ``[start, stop)`` checked (the whole tile or a window).
    rel_diff : float
        max |solver - reference| / max |reference| over outputs and inputs.
    spice_backend : str
        How the reference simulator ran.
    used_cells : int
        Cells of the network (SET or RESET) inside the checked range.
    currents : int
        Output currents compared (columns x inputs), all non-zero.
    i_max_A : float
        Largest reference output current, amperes.
    engine : str
        Reference simulator ("ngspice" or "vacask").
    """

    tile: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    rel_diff: float
    spice_backend: str
    used_cells: int = 0
    currents: int = 0
    i_max_A: float = 0.0
    engine: str = "ngspice"


@dataclass(frozen=True)
class CosimResult:
    """All checks of a study, their worst difference and the verdict."""

    checks: tuple[TileCheck, ...]
    tolerance_rel: float

    @property
    def worst_rel_diff(self) -> float:
        """Largest relative difference over the checks (nan when nothing was checked)."""
        return max((c.rel_diff for c in self.checks), default=float("nan"))

    @property
    def passed(self) -> bool:
        """True when every check is within tolerance (and at least one ran)."""
        return bool(self.checks) and self.worst_rel_diff <= self.tolerance_rel

    def summary(self) -> str:
        """One paragraph for a report: verdict, what was checked, the worst difference."""
        if not self.checks:
            return "co-simulation check: no tile checked"
        verdict = "PASS" if self.passed else "FAIL"
        eng = sorted({c.engine for c in self.checks})
        cells = sum(c.used_cells for c in self.checks)
        cur = sum(c.currents for c in self.checks)
        sizes = sorted({f"{c.rows[1] - c.rows[0]} x {c.cols[1] - c.cols[0]}"
                        for c in self.checks})
        return (f"co-simulation check {verdict}: {len(self.checks)} tile(s) solved by "
                f"{' and '.join(eng)} and the fast solver ({', '.join(sizes)} cells checked, "
                f"{cells} of them holding the network's weights; {cur} non-zero output currents "
                f"compared, up to {max(c.i_max_A for c in self.checks):.3g} A); worst "
                f"max|diff|/max|i| = {self.worst_rel_diff:.2e} (tolerance "
                f"{self.tolerance_rel:.0e})")


def window_of(xb, rows: tuple[int, int], cols: tuple[int, int]):
    """The sub-tile of ``xb`` on rows ``[r0, r1)`` and columns ``[c0, c1)``, same circuit options."""
    r0, r1 = rows
    c0, c1 = cols
    changes = {"conductance": xb.conductance[r0:r1, c0:c1]}
    if xb.r_access is not None:
        changes["r_access"] = xb.r_access[r0:r1, c0:c1]
    if xb.sinh_v0 is not None:
        changes["sinh_v0"] = xb.sinh_v0[r0:r1, c0:c1]
    return xb.replace(**changes)


def reference_solve(xb, v, engine: str = "ngspice"):
    """The reference simulator's solution (``rramsim.netlists.simulate``)."""
    return netlists.simulate(xb, v, engine=engine)


def check_window(xb, used, *, tile: int, rows, cols, cfg: CosimConfig, v_read_V: float,
                 rng: np.random.Generator) -> TileCheck:
    """Solve one window (or whole tile) both ways; refuse it when it checks nothing.

    ``used`` is the tile's (M, N) boolean map of cells that hold the network's weights. The rows
    of the window that hold used cells are driven with ``cfg.inputs`` random voltage vectors in
    ``(0, v_read_V]``; ``cfg.engine`` is the reference simulator.

    Raises
    ------
    CosimError
        The window holds no used cell, or the reference output currents are all zero.
    """
    (r0, r1), (c0, c1) = rows, cols
    u = np.asarray(used)[r0:r1, c0:c1]
    n_used = int(u.sum())
    if n_used == 0:
        raise CosimError(f"co-simulation window rows {rows} cols {cols} of tile {tile} holds no "
                         "cell of the network: it would check nothing")
    sub = window_of(xb, rows, cols)
    engine = cfg.engine
    v = np.zeros((int(cfg.inputs), sub.n_rows))
    live = np.flatnonzero(u.any(axis=1))
    v[:, live] = rng.uniform(0.1 * v_read_V, v_read_V, size=(int(cfg.inputs), live.size))
    ref = reference_solve(sub, v, engine)
    fast = programming.solve(sub, v)
    i_ref = np.asarray(ref.i_out).reshape(len(v), -1)
    read = np.flatnonzero(u.any(axis=0))
    i_read = i_ref[:, read]
    den = float(np.max(np.abs(i_read))) if i_read.size else 0.0
    if den == 0 or not np.all(i_read != 0):
        raise CosimError(f"co-simulation window rows {rows} cols {cols} of tile {tile}: the "
                         "columns holding the network's cells carry no current; nothing to check")
    diff = float(np.max(np.abs(np.asarray(fast.i_out).reshape(len(v), -1) - i_ref)))
    return TileCheck(tile=int(tile), rows=tuple(rows), cols=tuple(cols), rel_diff=diff / den,
                     spice_backend=str(getattr(ref, "backend", engine)), used_cells=n_used,
                     currents=int(i_read.size), i_max_A=den, engine=engine)


def _window_around(used: np.ndarray, window: int, rng: np.random.Generator):
    """A window x window range centred (as far as the tile allows) on a random used cell."""
    m, n = used.shape
    cells = np.argwhere(used)
    i, j = cells[int(rng.integers(len(cells)))]
    wr, wc = min(m, window), min(n, window)
    r0 = int(np.clip(i - wr // 2, 0, m - wr))
    c0 = int(np.clip(j - wc // 2, 0, n - wc))
    return (r0, r0 + wr), (c0, c0 + wc)


def check_hardware(hw, cfg: CosimConfig, *, v_read_V: float, rng: np.random.Generator,
                   progress: bool = False) -> CosimResult:
    """Check ``cfg.tiles`` random tiles of a programmed network against the reference simulator.

    Parameters
    ----------
    hw : rramsim.studies.programming.Hardware
    cfg : rramsim.studies.config.CosimConfig
        ``tiles``: tiles to check (all used tiles if fewer; 0 skips). ``window``: largest side
        checked with ngspice; bigger tiles are checked on a ``window x window`` window around a
        random cell of the network (ngspice 39 without KLU needs ~3.5 s at 64 x 64 and minutes at
        128 x 128). ``whole_tiles``: check whole tiles whatever their size (always so with
        ``engine="vacask"``). ``engine``: "ngspice" or "vacask". ``inputs``: random input
        vectors per check. ``tolerance_rel``: the largest relative difference that passes.
    v_read_V : float
        Largest input voltage, volts.
    """
    used_tiles = hw.plan.used_tiles
    k = min(int(cfg.tiles), len(used_tiles))
    picks = sorted(rng.choice(used_tiles, size=k, replace=False).tolist()) if k else []
    engine = cfg.engine
    whole = cfg.whole_tiles or engine == "vacask"
    it = picks
    if progress and picks:
        from tqdm import tqdm

        it = tqdm(picks, desc=f"co-simulation ({engine})", unit="tile", leave=False)
    checks = []
    for t in it:
        xb = hw.tiles[t]
        used = np.asarray(hw.mapping.state[t]) != 0
        if whole:
            rows, cols = (0, xb.n_rows), (0, xb.n_cols)
        else:
            rows, cols = _window_around(used, int(cfg.window), rng)
        checks.append(check_window(xb, used, tile=t, rows=rows, cols=cols, cfg=cfg,
                                   v_read_V=v_read_V, rng=rng))
    return CosimResult(checks=tuple(checks), tolerance_rel=float(cfg.tolerance_rel))


def require(result: CosimResult) -> CosimResult:
    """Raise :class:`CosimError` (naming the worst tile) when the check failed; else return it."""
    if result.checks and not result.passed:
        worst = max(result.checks, key=lambda c: c.rel_diff)
        raise CosimError(
            f"CO-SIMULATION CHECK FAILED: tile {worst.tile} rows {worst.rows} cols {worst.cols}: "
            f"solver vs ngspice max|diff|/max|i| = {worst.rel_diff:.3e} > tolerance "
            f"{result.tolerance_rel:.1e}")
    return result
