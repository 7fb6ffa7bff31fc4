#!/usr/bin/env python
"""The programming-error models against the published fits they reproduce, in one unit.

A layer of 2,000 Laplace-distributed weights is mapped to differential pairs on a conductance range
(``G+ = g_min + a max(w, 0)``, ``G- = g_min + a max(-w, 0)``, the largest ``|w|`` at ``g_max``), each
cell is programmed by the error model and relaxed to t = 1 s and 1 day, and the weights are read back
as ``(G+ - G-) / a``. The figure is the rms weight error divided by the largest ``|w|``.

Beside it, the same figure computed in closed form from the published fit's own constants (typed
out below from their sources, not taken from rramsim): the expected squared error of each pair
from the fit's spread at the cell's target, floored at 0 S where the source floors (aihwkit's
NeuRRAM model), and the mean decay of the CMO/HfOx fit, which is the same on both cells of a pair
and cancels. Sources:

* NeuRRAM, aihwkit fit: IBM/aihwkit ``src/aihwkit/inference/noise/reram.py``,
  ``ReRamWan2022NoiseModel`` (4th-order polynomials in ``g / 40 uS`` at 1 s, 1 day, 2 days), fitted
  to Wan et al., Nature 608, 504-512 (2022), Extended Data Fig. 3;
* NeuRRAM, CrossSim fit: sandialabs/cross-sim ``simulator/devices/custom/RRAM_Wan.py`` (cubic in
  ``G / uS``, t = 1 s only; no floor);
* CMO/HfOx: IBM/aihwkit, same file, ``ReRamCMONoiseModel`` (programming spread per acceptance range,
  relaxation fits in ``ln t``; its 1/f read-noise term and its clamp to [g_min, g_max] left out on
  both sides).

    python scripts/bench_error_models.py
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from rramsim import devmodel

US = 1e-6
T_1S, T_1D = 1.0, 86400.0

# published constants (uS), typed from the sources named above
AIH_WAN = {T_1S: (0.348, 16.030, -43.853, 45.393, -16.815),
           T_1D: (0.701, 22.086, -50.773, 47.095, -16.458)}
XSIM_WAN_1S = (1.053, 2.374e-1, -1.167e-2, 1.536e-4)
AIH_CMO_PROG = {0.02: (0.0112185391, 0.01129027418), 0.002: (0.00081107, 0.00106879)}
AIH_CMO_STD = (0.41183342, 0.04201137)


def _phi(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _cdf(x):
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2)))


def _moments(g, sigma, floor: bool):
    """Mean and mean square of the error of ``max(g + sigma N, 0)`` (or without the floor)."""
    if not floor:
        return np.zeros_like(g), sigma ** 2
    a = np.where(sigma > 0, g / np.maximum(sigma, 1e-300), np.inf)
    m1 = sigma * _phi(a) - g * _cdf(-a)
    m2 = sigma ** 2 * (_cdf(a) - a * _phi(a)) + g ** 2 * _cdf(-a)
    return m1, m2


def published(gp, gn, sigma_fn, span, *, floor: bool) -> float:
    """rms of ``(e+ - e-) / span`` over the pairs, in closed form (errors independent per cell)."""
    m1p, m2p = _moments(gp, sigma_fn(gp), floor)
    m1n, m2n = _moments(gn, sigma_fn(gn), floor)
    return float(np.sqrt(np.mean(m2p + m2n - 2 * m1p * m1n)) / span)


def _poly(c, x):
    return sum(ci * x ** i for i, ci in enumerate(c))


def pairs(w, g_min, g_max):
    a = (g_max - g_min) / np.abs(w).max()
    # the largest |w| lands on g_max to rounding; held at g_max so no target leaves the range
    return (np.minimum(g_min + a * np.maximum(w, 0), g_max),
            np.minimum(g_min + a * np.maximum(-w, 0), g_max), a)


def measured(model, w, g_min, g_max, seed):
    """rms weight error / max|w| of the model right after programming, at 1 s and at 1 day."""
    gp, gn, a = pairs(w, g_min, g_max)
    prog = model.program(np.concatenate([gp, gn]), rng=np.random.default_rng(seed))
    out = []
    for t in (0.0, T_1S, T_1D):
        g = model.at(prog, t, rng=np.random.default_rng(seed + 1))
        w_hat = (g[: w.size] - g[w.size:]) / a
        out.append(float(np.sqrt(np.mean((w_hat - w) ** 2)) / np.abs(w).max()))
    return out


def rows(w, seed):
    wan = {t: (lambda g, c=c: np.maximum(_poly(c, g / (40 * US)), 0) * US) for t, c in AIH_WAN.items()}
    xsim = lambda g: np.maximum(_poly(XSIM_WAN_1S, g / US), 0) * US  # noqa: E731 - one-line fit

    def cmo(acc, t):
        c0, c1 = AIH_CMO_PROG[acc]
        s_r = (AIH_CMO_STD[0] + AIH_CMO_STD[1] * math.log(t)) * US
        return lambda g: np.sqrt(((c0 + c1 * g / US) * US) ** 2 + s_r ** 2)

    out = []
    for label, model, (lo, hi), pub in [
        ("neurram (aihwkit fit)", devmodel.error_model("neurram"), (0.0, 40 * US),
         (("aihwkit 1 s", wan[T_1S], True), ("aihwkit 1 day", wan[T_1D], True))),
        ("neurram (CrossSim 1 s fit)", devmodel.error_model("neurram", program_fit="crosssim"),
         (0.0, 39.26 * US), (("CrossSim 1 s", xsim, False), None)),
        ("neurram (aihwkit fit), 1-28.4 uS", devmodel.error_model("neurram"), (1 * US, 28.4 * US),
         (("aihwkit 1 s", wan[T_1S], True), ("aihwkit 1 day", wan[T_1D], True))),
        ("cmo-hfox, 2 % acceptance", devmodel.error_model("cmo-hfox"), (9 * US, 88.19 * US),
         (("aihwkit 1 s", cmo(0.02, T_1S), False), ("aihwkit 1 day", cmo(0.02, T_1D), False))),
        ("cmo-hfox, 0.2 % acceptance", devmodel.error_model("cmo-hfox", acceptance=0.002),
         (9 * US, 88.19 * US),
         (("aihwkit 1 s", cmo(0.002, T_1S), False), ("aihwkit 1 day", cmo(0.002, T_1D), False))),
        ("filament (2 % of g_max)", devmodel.error_model("filament"), (1 * US, 28.4 * US),
         (None, None)),
    ]:
        t0, *m = measured(model, w, lo, hi, seed)
        gp, gn, _ = pairs(w, lo, hi)
        p = [None if spec is None else (spec[0], published(gp, gn, spec[1], hi - lo, floor=spec[2]))
             for spec in pub]
        if label.startswith("filament"):
            # its programming error is rramsim's own, so at 1 s the reference is its own figure
            # right after programming (the fit's relaxation starts at 1 s); its relaxation is
            # calibrated to the NeuRRAM fit: at 1 day, its own 1 s figure grown by the aihwkit
            # NeuRRAM fit's growth from 1 s to 1 day on the same pairs
            p[0] = ("its t = 0 figure, as the fit adds nothing before 1 s; not a published "
                    "figure", t0)
            grow = published(gp, gn, wan[T_1D], hi - lo, floor=True) ** 2 - published(
                gp, gn, wan[T_1S], hi - lo, floor=True) ** 2
            p[1] = ("its 1 s grown as the aihwkit NeuRRAM fit grows", math.sqrt(m[0] ** 2 + grow))
        out.append((label, f"{lo / US:g}-{hi / US:g}", m, p))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the models")
    args = parser.parse_args(argv)
    w = np.random.default_rng(args.seed).laplace(size=2000)
    print("| model | range (uS) | 1 s | published 1 s | 1 day | published 1 day |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, rng_txt, m, p in rows(w, args.seed + 1):
        cells = []
        for k in range(2):
            if p[k] is None:
                cells += [f"{m[k]:.4f}", "-"]
            else:
                src, val = p[k]
                cells += [f"{m[k]:.4f}", f"{val:.4f} ({src}; {100 * (m[k] / val - 1):+.0f} %)"]
        print(f"| {label} | {rng_txt} | " + " | ".join(cells) + " |")
    cost_table(w, args.seed + 1)
    return 0


def cost_table(w, seed):
    """Programming cost of the filament model's 4,000 cells, laid out as 40 rows x 100 columns."""
    gp, gn, _ = pairs(w, 1 * US, 28.4 * US)
    target = np.concatenate([gp, gn])
    for frac in (0.02, 0.05):
        model = devmodel.error_model("filament", tolerance_frac=frac)
        prog = model.program(target, rng=np.random.default_rng(seed))
        cost = devmodel.ProgramCost(pulses=prog.cost.pulses.reshape(40, 100),
                                    energy=prog.cost.energy.reshape(40, 100),
                                    reads=prog.cost.reads.reshape(40, 100))
        e = devmodel.programming_energy(cost, prog.conductance.reshape(40, 100))
        t = devmodel.programming_time(cost, pulse_width=devmodel.StepPulses().width)
        conv = np.mean(np.abs(prog.conductance - target) <= frac * 28.4 * US)
        print(f"filament, tolerance {frac:g} g_max: {100 * conv:.1f} % within the band; "
              f"{cost.pulses.mean():.1f} pulses and "
              f"{cost.reads.mean():.1f} verify reads per cell (at most {cost.pulses.max()}); "
              f"pulse energy {e.pulses / target.size * 1e12:.1f} pJ, verify reads "
              f"{e.reads / target.size * 1e12:.3f} pJ per cell; {t * 1e3:.3f} ms for 40 x 100 cells "
              "(rows in sequence, 100 ns pulses, 10 ns reads)")


if __name__ == "__main__":
    raise SystemExit(main())
