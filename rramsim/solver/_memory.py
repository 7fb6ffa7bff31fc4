"""Memory estimates of every solver method, the check of a batch against them, and the way out.

:func:`estimate` is the peak a method will need, by arithmetic on the tile's shape and options alone
(:func:`rramsim.solver.memory_estimate` is its public face); :func:`way_out` names what a refused
computation can do instead, trying only alternatives whose own estimate fits the memory limit now.

The dependencies run one way: this module reads the size arithmetic of the method modules
(:mod:`rramsim.solver._newton`, :mod:`rramsim.solver._batch_sinh`,
:mod:`rramsim.solver._multifrontal`, :mod:`rramsim.solver._factor`), and none of them imports it.
Where a method module refuses a computation itself (:class:`rramsim.solver._direct.Factorized`,
:func:`rramsim.solver._multifrontal.port_schur`), the entry points of :mod:`rramsim.solver` hand it
:func:`way_out` as a callable, which it calls only when it refuses.
"""

from __future__ import annotations

import types

from rramsim.crossbar import Crossbar
from rramsim.solver import _batch_sinh, _factor, _multifrontal, _newton
from rramsim.solver._grid import is_grid
from rramsim.solver._nodal import count_unknowns


def estimate(xb, method: str, batch: int, backend: str) -> float:
    """Bytes for ``method`` in {"direct", "cg", "newton", "multifrontal", "ports-factor"}; ``xb``
    needs only the shape and circuit options (any object with them, for tiles of other sizes)."""
    m, n = xb.shape
    n_unk, kind = count_unknowns(xb)
    out = 8.0 * batch * (2 * m * n + 2 * n + m) * 1.2
    if method == "cg":
        return 8.0 * n_unk * (12 + 16 * batch) + out
    if method == "newton":
        if is_grid(xb):
            cells = min(batch * m * n, max(_batch_sinh.CHUNK_ENTRIES, m * n))  # the batched chunk
            return max(8.0 * n_unk * (12 + 40 * _newton.grid_newton_chunk(m, n, batch)),
                       8.0 * 14 * cells) + out
        fac = _factor.factor_memory_bytes(n_unk, kind, _factor.pick_backend(backend))
        return 2 * fac + 8.0 * n_unk * 16 * batch + out
    if method == "multifrontal":
        return _multifrontal.memory_bytes(m, n, xb.drive == "both")
    if method == "ports-factor":
        return _factor.factor_memory_bytes(n_unk, kind, _factor.pick_backend(backend),
                                           ports_last=True)
    return _factor.factor_memory_bytes(n_unk, kind, _factor.pick_backend(backend)) + out


def way_out(xb: Crossbar, method: str, batch: int = 1, backend: str = "auto") -> str:
    """What a refused computation (``method`` as for :func:`estimate`) can do instead; only
    alternatives whose own estimate fits the memory limit now are named."""
    limit = _factor.available_memory_bytes()
    m, n = xb.shape
    tips = []
    if batch > 1 and estimate(xb, method, 1, backend) <= limit:
        lo, hi = 1, batch  # largest batch that fits (the estimate grows with the batch)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if estimate(xb, method, mid, backend) <= limit else (lo, mid - 1)
        tips.append(f"solve at most {lo} inputs at once (split the batch)")
    alts = {"direct": [("cg", "method='cg' for up to a few inputs at once")] if is_grid(xb) else [],
            "multifrontal": [("ports-factor", "method='factor'")],
            "ports-factor": [("multifrontal", "method='multifrontal'")] if is_grid(xb) else []}
    for alt, text in alts.get(method, []):
        need = estimate(xb, alt, 1, backend)
        if need <= limit:
            tips.append(f"{text} (about {_factor.gb(need)})")
    def fits(k: int) -> bool:
        shape = (max(1, round(k * m / max(m, n))), max(1, round(k * n / max(m, n))))
        like = types.SimpleNamespace(shape=shape, r_wordline=xb.r_wordline, r_bitline=xb.r_bitline,
                                     r_driver=xb.r_driver, drive=xb.drive, sense=xb.sense)
        return estimate(like, method, batch, backend) <= limit

    lo, hi = 0, max(m, n) - 1  # largest tile of the same aspect ratio that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    if lo >= 1:
        k = (max(1, round(lo * m / max(m, n))), max(1, round(lo * n / max(m, n))))
        tips.append(f"use tiles of at most {k[0]} x {k[1]} cells (the mapper's tile size)"
                    + (f" for {batch} inputs at once" if batch > 1 else ""))
    if not tips:
        tips.append("free memory or raise the limit: no smaller tile of these options fits")
    return "; or ".join(tips)


def check_batch(xb: Crossbar, method: str, batch: int, backend: str) -> None:
    """Refuse a solve of ``batch`` inputs up front when its estimate exceeds the memory limit; the
    way out is worked out only then."""
    m, n = xb.shape
    _factor.check_memory(estimate(xb, method, batch, backend),
                         f"solving {batch} input(s) on a {m} x {n} tile ({method})",
                         lambda: way_out(xb, method, batch, backend))
