"""Top-k supermasks and the flip limiter.

Edge-popup (Ramanujan et al., "What's hidden in a randomly weighted neural network?", CVPR 2020)
keeps, in every layer, the fraction k of weights with the largest score magnitude; the source study
(arXiv 2311.07164) uses k = 0.5 in all tasks and adds a *flip limiter* that suppresses mask changes
whose score barely moved, because every mask flip is a RESET or SET of an RRAM cell pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim.errors import MaskError


def n_kept(size: int, k: float) -> int:
    """Number of weights kept by a top-k mask of ``size`` weights: ``round(k * size)``, at least 1."""
    if not 0.0 < k <= 1.0:
        raise MaskError(f"k must be in (0, 1], got {k!r}")
    return max(1, int(round(k * size)))


def topk_mask(scores: np.ndarray, k: float) -> np.ndarray:
    """Boolean mask of the ``n_kept(scores.size, k)`` entries with the largest ``|scores|``.

    Parameters
    ----------
    scores : ndarray
        Scores of one layer (any shape; not modified).
    k : float
        Kept fraction, in (0, 1].

    Returns
    -------
    ndarray of bool
        Same shape as ``scores``; exactly ``n_kept`` entries are True (ties at the threshold are
        broken deterministically by ``numpy.argpartition``, so the count is exact).

    Notes
    -----
    Edge-popup's GetSubnet (Ramanujan et al., CVPR 2020) on ``|scores|``; k = 0.5 in the study.
    """
    scores = np.asarray(scores)
    if not np.all(np.isfinite(scores)):
        raise MaskError("scores contain NaN or inf")
    flat = np.abs(scores).ravel()
    keep = n_kept(flat.size, k)
    mask = np.zeros(flat.size, dtype=bool)
    if keep == flat.size:
        mask[:] = True
    else:
        mask[np.argpartition(flat, flat.size - keep)[flat.size - keep :]] = True
    return mask.reshape(scores.shape)


@dataclass(frozen=True)
class FlipLimiter:
    """Hysteresis on mask flips with a threshold that decays over training.

    A proposed flip (a weight entering or leaving the top-k set) is carried out only if its score
    magnitude has crossed the layer's top-k boundary ``t`` (the k-th largest ``|score|``) by more than
    a relative margin: pruned -> kept needs ``|s| > t (1 + theta)``, kept -> pruned needs
    ``|s| < t (1 - theta)``. Admitted flips are paired (the most decisive entries first) so that the
    number of kept weights stays exactly ``n_kept``. ``theta`` decays linearly from ``start`` to
    ``end`` over the training steps.

    Attributes
    ----------
    start : float
        Relative threshold at the first step (study, Fashion-MNIST: 0.01).
    end : float
        Relative threshold at the last step (study, Fashion-MNIST: 0.007).

    Notes
    -----
    The study (arXiv 2311.07164) states the limiter as "a mask bit changes only if its score moved by
    more than a relative threshold"; the exact boundary-referenced form above is this project's
    reading (a judgement), chosen because it keeps top-k exact and stops flip churn at the boundary.
    """

    start: float = 0.01
    end: float = 0.007

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            v = getattr(self, name)
            if not np.isfinite(v) or not 0.0 <= v < 1.0:
                raise MaskError(f"FlipLimiter.{name} must be in [0, 1), got {v!r}")

    def threshold(self, step: int, total_steps: int) -> float:
        """Relative threshold at ``step`` of ``total_steps`` (linear decay, start -> end)."""
        if total_steps <= 1:
            return self.end
        frac = min(max(step / (total_steps - 1), 0.0), 1.0)
        return self.start + (self.end - self.start) * frac


def limited_update(mask: np.ndarray, scores: np.ndarray, k: float, theta: float) -> np.ndarray:
    """New mask from ``mask`` after a score update, with flips limited by the relative margin ``theta``.

    Parameters
    ----------
    mask : ndarray of bool
        Current mask (exactly ``n_kept`` True); not modified.
    scores : ndarray
        Updated scores, same shape.
    k : float
        Kept fraction.
    theta : float
        Relative margin (see :class:`FlipLimiter`); 0 gives the plain top-k mask.

    Returns
    -------
    ndarray of bool
        The new mask, with exactly ``n_kept(mask.size, k)`` True entries.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != np.shape(scores):
        raise MaskError(f"mask shape {mask.shape} != scores shape {np.shape(scores)}")
    proposed = topk_mask(scores, k)
    if theta <= 0.0:
        return proposed
    a = np.abs(np.asarray(scores, dtype=float)).ravel()
    m = mask.ravel()
    keep = n_kept(a.size, k)
    if m.sum() != keep:
        raise MaskError(f"mask keeps {int(m.sum())} weights, expected {keep}")
    if keep == a.size:
        return mask.copy()
    t = np.partition(a, a.size - keep)[a.size - keep]  # k-th largest |score|
    p = proposed.ravel()
    ins = np.flatnonzero(p & ~m & (a > t * (1.0 + theta)))
    outs = np.flatnonzero(~p & m & (a < t * (1.0 - theta)))
    n = min(ins.size, outs.size)
    new = m.copy()
    if n:
        ins = ins[np.argsort(-a[ins], kind="stable")[:n]]
        outs = outs[np.argsort(a[outs], kind="stable")[:n]]
        new[ins] = True
        new[outs] = False
    return new.reshape(mask.shape)
