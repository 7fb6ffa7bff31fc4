"""Co-simulation check: a sample of tiles solved by ngspice beside the fast solver.

Every study runs this check. For each sampled tile (at most ``window x window`` cells: a larger
tile is checked on a window of it, i.e. the sub-tile of those rows and columns with the same wire,
driver, sense and cell parameters, because ngspice 39 without KLU needs ~3.5 s at 64 x 64 and
minutes at 128 x 128), random inputs in ``[0, v_read_V]`` are solved by
:func:`rramsim.netlists.simulate` and :func:`rramsim.solver.solve`. The figure of merit is

    rel_diff = max |i_out(solver) - i_out(ngspice)| / max |i_out(ngspice)|

over the tile's outputs and inputs; the study's worst value goes into its report. A check whose
worst value exceeds the tolerance raises :class:`CosimError` from :func:`require`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim.errors import RramsimError


class CosimError(RramsimError):
    """The fast solver and ngspice disagree beyond the study's tolerance."""


@dataclass(frozen=True)
class TileCheck:
    """One tile (or window) solved both ways.

    Attributes
    ----------
    tile : int
        Index of the tile in the mapping.
    rows, cols : tuple[int, int]
        Row and column ranges ``[start, stop)`` of the window.
    rel_diff : float
        max |solver - ngspice| / max |ngspice| over outputs and inputs.
    spice_backend : str
        How ngspice ran.
    """

    tile: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    rel_diff: float
    spice_backend: str


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
        """One line for a report."""
        if not self.checks:
            return "co-simulation check: no tile checked"
        verdict = "PASS" if self.passed else "FAIL"
        return (f"co-simulation check {verdict}: {len(self.checks)} tile(s) solved by ngspice and "
                f"the fast solver, worst max|diff|/max|i| = {self.worst_rel_diff:.2e} "
                f"(tolerance {self.tolerance_rel:.0e})")


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


def check_tiles(tiles, *, n_tiles: int, window: int, inputs: int, tolerance_rel: float,
                v_read_V: float, rng: np.random.Generator, progress: bool = False) -> CosimResult:
    """Solve a random sample of ``n_tiles`` tiles (windows) in ngspice and the solver; compare.

    Parameters
    ----------
    tiles : sequence of Crossbar
        The study's tiles.
    n_tiles : int
        How many to check (all if fewer exist; 0 skips the check).
    window : int
        Largest side checked; bigger tiles are checked on a random ``window x window`` window.
    inputs : int
        Random input vectors per tile, uniform in ``[0, v_read_V]``.
    tolerance_rel : float
        Allowed relative difference.
    rng : numpy.random.Generator
        Chooses tiles, windows and inputs.
    """
    from rramsim import netlists, solver

    tiles = list(tiles)
    k = min(int(n_tiles), len(tiles))
    picks = sorted(rng.choice(len(tiles), size=k, replace=False).tolist()) if k else []
    checks = []
    it = picks
    if progress and picks:
        from tqdm import tqdm

        it = tqdm(picks, desc="co-simulation (ngspice)", unit="tile", leave=False)
    for t in it:
        xb = tiles[t]
        m, n = xb.shape
        r0 = int(rng.integers(0, m - min(m, window) + 1))
        c0 = int(rng.integers(0, n - min(n, window) + 1))
        rows, cols = (r0, r0 + min(m, window)), (c0, c0 + min(n, window))
        sub = window_of(xb, rows, cols)
        v = rng.uniform(0.0, v_read_V, size=(int(inputs), sub.n_rows))
        ref = netlists.simulate(sub, v)
        fast = solver.solve(sub, v)
        den = float(np.max(np.abs(ref.i_out)))
        diff = float(np.max(np.abs(np.asarray(fast.i_out) - np.asarray(ref.i_out))))
        rel = diff / den if den > 0 else diff
        checks.append(TileCheck(tile=int(t), rows=rows, cols=cols, rel_diff=rel,
                                spice_backend=ref.backend))
    return CosimResult(checks=tuple(checks), tolerance_rel=float(tolerance_rel))


def require(result: CosimResult) -> CosimResult:
    """Raise :class:`CosimError` (naming the worst tile) when the check failed; else return it."""
    if result.checks and not result.passed:
        worst = max(result.checks, key=lambda c: c.rel_diff)
        raise CosimError(
            f"CO-SIMULATION CHECK FAILED: tile {worst.tile} rows {worst.rows} cols {worst.cols}: "
            f"solver vs ngspice max|diff|/max|i| = {worst.rel_diff:.3e} > tolerance "
            f"{result.tolerance_rel:.1e}")
    return result
