"""Random weights from electroformed RRAM pairs, mask programming, and the precise-tuning baseline.

Source study (arXiv 2311.07164): every cell of the macro is electroformed with one pulse, and the
stochastic breakdown makes the conductance random. A weight is a differential pair with a random
sign and a signed-constant scale,

.. math:: w = s\\,(G^+ - G^-)/c, \\qquad c = \\overline{|G^+ - G^-|}/\\sigma, \\qquad
          \\sigma = \\mathrm{gain}/\\sqrt{d\\,\\mathrm{fan\\_in}},

with ``s`` = +-1 at random and ``d`` = 0.5 the kept density (the signed-constant initialisation of
edge-popup, Ramanujan et al., CVPR 2020, scaled for 50 % density). The source study writes
``c = mean(G) / std``; this module takes the mean over ``|G+ - G-|`` (a judgement) so that
``E|w| = sigma`` exactly as for a signed constant. Pruning a weight RESETs both cells of its pair
(0.1-1 uS, so a pruned weight is small but not zero); reinstating SETs them.

The baseline the study argues against, "precise weight tuning", maps conventionally trained
weights to conductance pairs and programs them by write-and-verify to a tolerance; inference then
sees the programming error and the read noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rramsim.errors import DeviceModelError
from rramsim.mapper.network import LinearConductanceMap
from rramsim.nn import _device


@dataclass(frozen=True)
class SignedConstantScaling:
    """Signed-constant scaling of random conductance pairs (study, arXiv 2311.07164).

    Attributes
    ----------
    gain : float
        Activation gain (sqrt(2) for ReLU networks), dimensionless.
    density : float
        Kept fraction the scale is computed for (0.5 in the study), in (0, 1].
    """

    gain: float = float(np.sqrt(2.0))
    density: float = 0.5

    def __post_init__(self) -> None:
        if not np.isfinite(self.gain) or self.gain <= 0:
            raise DeviceModelError(f"SignedConstantScaling.gain must be > 0, got {self.gain!r}")
        if not 0.0 < self.density <= 1.0:
            raise DeviceModelError(f"SignedConstantScaling.density must be in (0, 1], got "
                                   f"{self.density!r}")

    def std(self, fan_in: int) -> float:
        """``gain / sqrt(density * fan_in)``: the mean weight magnitude."""
        return self.gain / np.sqrt(self.density * fan_in)


@dataclass(frozen=True)
class ProgrammingSummary:
    """Cost of a programming operation on a network's cell pairs.

    Attributes
    ----------
    resets, sets : int
        Weights (cell pairs) reset (pruned) and set (reinstated).
    cell_ops : int
        Cells programmed (2 per pair).
    pulses : int
        Programming pulses over all cells.
    energy : float
        Programming energy, joules (NaN when unknown).
    """

    resets: int
    sets: int
    cell_ops: int
    pulses: int
    energy: float


@dataclass(eq=False)
class DeviceLayer:
    """The cell pairs of one weight layer.

    Attributes
    ----------
    state : object
        Device-model state of shape ``(2, fan_in, fan_out)``; index 0 is G+, 1 is G-.
    conductance : ndarray, (2, fan_in, fan_out)
        Present noiseless conductances, siemens (RESET level for pruned pairs).
    live : ndarray, (2, fan_in, fan_out)
        Conductances of the pairs in their formed/SET state, siemens: equal to ``conductance`` for
        live pairs, the last formed/SET values for pruned (RESET) pairs. The *logical* weight of a
        pair, the one it has whenever it is kept, comes from these.
    sign : ndarray of int8, (fan_in, fan_out)
        Random +-1 signs.
    scale : float
        Siemens per unit weight, ``c`` of the module docstring.
    programmed : ndarray of bool, (fan_in, fan_out)
        True where the pair is formed or set (a live weight), False where reset (pruned).
    """

    state: object
    conductance: np.ndarray
    sign: np.ndarray
    scale: float
    programmed: np.ndarray
    live: np.ndarray

    def weight(self, conductance: np.ndarray | None = None) -> np.ndarray:
        """``sign * (G+ - G-) / scale`` from ``conductance`` (default: :attr:`live`, the logical
        weight)."""
        g = self.live if conductance is None else conductance
        return self.sign * (g[0] - g[1]) / self.scale

    def pairs(self, conductance: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(G_pos, G_neg)`` with the sign folded in, so ``(G_pos - G_neg) / scale`` is the weight
        (default: the :attr:`live` SET-state pairs)."""
        g = self.live if conductance is None else conductance
        pos = self.sign > 0
        return np.where(pos, g[0], g[1]), np.where(pos, g[1], g[0])


class DeviceNetwork:
    """Electroformed random cell pairs for every weight layer of a network.

    Use :meth:`form` to create one; :meth:`program` moves the pairs to a set of masks (RESET for
    newly pruned weights, SET for reinstated ones) and returns the cost.
    """

    def __init__(self, layers: Sequence[DeviceLayer]) -> None:
        self.layers = list(layers)

    @classmethod
    def form(
        cls,
        shapes: Sequence[tuple[int, int]],
        *,
        rng: np.random.Generator,
        scaling: SignedConstantScaling = SignedConstantScaling(),  # noqa: B008
        scale_fan_ins: Sequence[int] | None = None,
    ) -> tuple[DeviceNetwork, ProgrammingSummary]:
        """Electroform one pair per weight (``devmodel.form``) and draw the random signs.

        Parameters
        ----------
        shapes : sequence of (fan_in, fan_out)
        rng : numpy.random.Generator
        scaling : SignedConstantScaling
        scale_fan_ins : sequence of int, optional
            The fan-in each layer's scale is computed for (default: its rows; a recurrent layer's
            stacked matrix takes the fan-in of its input block, see
            :func:`rramsim.nn.architectures.spoken_digit_net`).

        Returns
        -------
        DeviceNetwork
            All pairs formed (``programmed`` all True).
        ProgrammingSummary
            The forming cost (one pulse per cell).
        """
        layers, pulses, energy = [], 0, 0.0
        if scale_fan_ins is None:
            scale_fan_ins = [a for a, _ in shapes]
        if len(scale_fan_ins) != len(shapes) or min(scale_fan_ins, default=1) < 1:
            raise DeviceModelError(f"scale_fan_ins must give one fan-in >= 1 per layer, got "
                                   f"{scale_fan_ins!r}")
        for (fan_in, fan_out), scale_fan_in in zip(shapes, scale_fan_ins, strict=True):
            res = _device.form((2, fan_in, fan_out), rng=rng)
            g = np.array(res.conductance, dtype=float)
            sign = np.where(rng.random((fan_in, fan_out)) < 0.5, -1, 1).astype(np.int8)
            mean_abs = float(np.mean(np.abs(g[0] - g[1])))
            if not mean_abs > 0:
                raise DeviceModelError("formed pairs have identical conductances; cannot scale")
            scale = mean_abs / scaling.std(scale_fan_in)
            layers.append(
                DeviceLayer(res.state, g, sign, scale, np.ones((fan_in, fan_out), bool), g.copy())
            )
            pulses += int(np.sum(res.cost.pulses))
            energy += float(np.sum(res.cost.energy))
        n = sum(a * b for a, b in shapes)
        return cls(layers), ProgrammingSummary(0, 0, 2 * n, pulses, energy)

    def weights(self) -> list[np.ndarray]:
        """Logical weights of every layer: each pair's weight in its formed/SET state."""
        return [la.weight() for la in self.layers]

    def physical_weights(self) -> list[np.ndarray]:
        """Noiseless present weights (pruned pairs give their small RESET residual)."""
        return [la.weight(la.conductance) for la in self.layers]

    def program(
        self, masks: Sequence[np.ndarray], *, rng: np.random.Generator
    ) -> ProgrammingSummary:
        """Program the pairs to ``masks``: RESET pairs that go False, SET pairs that go True.

        Parameters
        ----------
        masks : sequence of bool arrays, (fan_in, fan_out)
        rng : numpy.random.Generator

        Returns
        -------
        ProgrammingSummary
        """
        if len(masks) != len(self.layers):
            raise DeviceModelError(f"{len(masks)} masks for {len(self.layers)} layers")
        resets = sets = pulses = 0
        energy = 0.0
        for la, m in zip(self.layers, masks, strict=True):
            m = np.asarray(m, dtype=bool)
            if m.shape != la.sign.shape:
                raise DeviceModelError(f"mask shape {m.shape} != layer shape {la.sign.shape}")
            for op, cells in (
                (_device.reset, la.programmed & ~m),
                (_device.set_, ~la.programmed & m),
            ):
                if not cells.any():
                    continue
                both = np.broadcast_to(cells, (2, *cells.shape)).copy()
                res = op(la.state, both, rng=rng)
                la.state = res.state
                la.conductance = np.array(res.conductance, dtype=float)
                if op is _device.set_:
                    la.live = np.where(both, la.conductance, la.live)
                pulses += int(np.sum(res.cost.pulses))
                energy += float(np.sum(res.cost.energy))
                if op is _device.reset:
                    resets += int(cells.sum())
                else:
                    sets += int(cells.sum())
            la.programmed = m.copy()
        return ProgrammingSummary(resets, sets, 2 * (resets + sets), pulses, energy)

    def read_weights(self, *, rng: np.random.Generator, noise: float = 0.0) -> list[np.ndarray]:
        """Weights from one read of every cell with relative read noise ``noise`` (``devmodel``)."""
        out = []
        for la in self.layers:
            g = _device.read_conductance(la.state, rng=rng, noise=noise if noise > 0 else None)
            out.append(la.weight(np.asarray(g, dtype=float)))
        return out

    def conductance_pairs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """SET-state ``(G_pos, G_neg)`` per layer, signs folded in (the mapper's convention: a
        pruned weight's cells are RESET on hardware, its pair says what it is when kept)."""
        return [la.pairs() for la in self.layers]


@dataclass(frozen=True)
class PreciseProgramming:
    """Mapping of trained weights to conductance pairs programmed by write-and-verify.

    ``G+ = g_min + a max(w, 0)``, ``G- = g_min + a max(-w, 0)``, with ``a`` per layer such that the
    largest ``|w|`` maps to ``g_max``; read back ``w = (G+ - G-) / a``. This is the package's linear
    map, :class:`rramsim.mapper.LinearConductanceMap` (:attr:`conductance_map`), with this baseline's
    own range.

    Attributes
    ----------
    g_min, g_max : float
        Conductance range of the mapping, siemens (default 1 uS - 28.4 uS: reset level to twice the
        formed mean 14.2 uS of :data:`rramsim.devmodel.TAOX_40NM`, so that a precisely tuned weight
        spans the range the formed cells themselves cover; a judgement. The mapper's default top,
        30 uS, is a little higher: the top of the formed distribution plus the differential spread).
    tolerance : float
        Relative write-verify tolerance (default 0.05; a judgement).
    read_noise : float
        Relative read noise at inference (default 0.01, inside the study code's 0.0015-0.02).
    """

    g_min: float = 1e-6
    g_max: float = 28.4e-6
    tolerance: float = 0.05
    read_noise: float = 0.01

    def __post_init__(self) -> None:
        if not 0 < self.g_min < self.g_max or not np.isfinite(self.g_max):
            raise DeviceModelError(f"need 0 < g_min < g_max, got {self.g_min}, {self.g_max}")
        if not 0 < self.tolerance < 1:
            raise DeviceModelError(f"tolerance must be in (0, 1), got {self.tolerance}")
        if not 0 <= self.read_noise < 1:
            raise DeviceModelError(f"read_noise must be in [0, 1), got {self.read_noise}")

    @property
    def conductance_map(self) -> LinearConductanceMap:
        """The linear map ``g_min .. g_max`` the trained weights are programmed to."""
        return LinearConductanceMap(g_min=self.g_min, g_max=self.g_max)


@dataclass(frozen=True)
class PreciseResult:
    """Outcome of :func:`program_precise`.

    Attributes
    ----------
    weights : list of ndarray
        Read-back weights (programming error and one noisy read), ``(fan_in, fan_out)`` each.
    pairs : list of (ndarray, ndarray)
        Programmed noiseless ``(G+, G-)`` per layer, siemens.
    summary : ProgrammingSummary
        Write-and-verify pulses and energy.
    converged : float
        Fraction of cells that met the tolerance within the device model's pulse budget.
    """

    weights: list
    pairs: list
    summary: ProgrammingSummary
    converged: float


def program_precise(
    weights: Sequence[np.ndarray],
    *,
    rng: np.random.Generator,
    config: PreciseProgramming = PreciseProgramming(),  # noqa: B008
) -> PreciseResult:
    """Program trained weights by write-and-verify (``devmodel.write_verify``) and read them back.

    Parameters
    ----------
    weights : sequence of (fan_in, fan_out) arrays
        Trained weights (not modified).
    rng : numpy.random.Generator
    config : PreciseProgramming

    Returns
    -------
    PreciseResult
    """
    out_w, out_pairs = [], []
    pulses, energy, conv, cells = 0, 0.0, 0, 0
    noise = config.read_noise if config.read_noise > 0 else None
    cmap = config.conductance_map
    for w in weights:
        w = np.asarray(w, dtype=float)
        # the floor keeps an all-zero layer's read-back at ~0 (not its read noise over the span)
        a = cmap.scale(max(float(np.max(np.abs(w))), 1e-30))
        target = np.stack(cmap.pair(w, a))
        res = _device.write_verify(target, rng=rng, tolerance=config.tolerance)
        g = np.asarray(_device.read_conductance(res.state, rng=rng, noise=noise), dtype=float)
        out_w.append((g[0] - g[1]) / a)
        gc = np.asarray(res.conductance, dtype=float)
        out_pairs.append((gc[0], gc[1]))
        pulses += int(np.sum(res.cost.pulses))
        energy += float(np.sum(res.cost.energy))
        conv += int(np.count_nonzero(getattr(res, "converged", np.ones(gc.shape, bool))))
        cells += gc.size
    n = sum(np.size(w) for w in weights)
    summary = ProgrammingSummary(0, 0, 2 * n, pulses, energy)
    return PreciseResult(out_w, out_pairs, summary, conv / max(cells, 1))


#: Weight sources of a pruning run (:class:`rramsim.nn.ExperimentConfig`).
WEIGHT_SOURCES = ("device", "signed-constant", "kaiming")


def random_weights(source: str, shapes: Sequence[tuple[int, int]], *,
                   rng: np.random.Generator, scale_fan_ins: Sequence[int] | None = None,
                   scaling: SignedConstantScaling = SignedConstantScaling()  # noqa: B008
                   ) -> list[np.ndarray]:
    """Software random weights of the source study's software runs, ``(fan_in, fan_out)`` each.

    ``"signed-constant"``: ``sign(u) * std`` with random signs and
    ``std = gain / sqrt(density * fan_in)`` (its ``init_bin`` initialisation, edge-popup's
    signed constant scaled for 50 % density; its spoken-digit software run). ``"kaiming"``:
    normal with standard deviation ``gain / sqrt(fan_in)`` (PyTorch's ``kaiming_normal_``, fan-in
    mode, ReLU gain; its Fashion-MNIST software run). ``fan_in`` is ``scale_fan_ins[i]`` when
    given (see :meth:`DeviceNetwork.form`). Device pairs (``"device"``) come from
    :meth:`DeviceNetwork.form` instead.
    """
    if source not in ("signed-constant", "kaiming"):
        raise DeviceModelError(f"software weight source must be 'signed-constant' or 'kaiming', "
                               f"got {source!r}")
    fans = [a for a, _ in shapes] if scale_fan_ins is None else list(scale_fan_ins)
    if len(fans) != len(shapes) or min(fans, default=1) < 1:
        raise DeviceModelError(f"scale_fan_ins must give one fan-in >= 1 per layer, got {fans!r}")
    out = []
    for (a, b), fan in zip(shapes, fans, strict=True):
        if source == "signed-constant":
            sign = np.where(rng.random((a, b)) < 0.5, -1.0, 1.0)
            out.append(sign * scaling.std(fan))
        else:
            out.append(rng.normal(0.0, scaling.gain / np.sqrt(fan), size=(a, b)))
    return out
