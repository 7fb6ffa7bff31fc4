"""The one place rramsim.nn calls :mod:`rramsim.devmodel` (form, reset, set, write-verify, read)."""

from __future__ import annotations

import numpy as np


def form(shape, *, rng):
    """``devmodel.form(shape, rng=rng)`` with the default 40 nm TaOx preset."""
    from rramsim import devmodel

    return devmodel.form(shape, rng=rng)


def reset(state, mask, *, rng):
    """``devmodel.reset(state, mask, rng=rng)``: pruned cells land at 0.1-1 uS."""
    from rramsim import devmodel

    return devmodel.reset(state, mask, rng=rng)


def merged_state(state, other, mask):
    """``state`` with the filament gaps of ``other`` (the same cells after another operation)
    where ``mask`` is True; each device's own parameters are the same in both."""
    import dataclasses

    return dataclasses.replace(state, gap=np.where(mask, other.gap, state.gap))


def set_(state, mask, *, rng):
    """``devmodel.set(state, mask, rng=rng)``: reinstated cells."""
    from rramsim import devmodel

    return devmodel.set(state, mask, rng=rng)


def read_conductance(state, *, rng=None, noise=None):
    """``devmodel.read_conductance(state, rng=rng, noise=noise)``, siemens."""
    from rramsim import devmodel

    return devmodel.read_conductance(state, rng=rng, noise=noise)


def write_verify(target_g: np.ndarray, *, rng: np.random.Generator, tolerance: float):
    """``devmodel.write_verify(target_g, rng=rng, tolerance=tolerance)`` on freshly formed cells."""
    from rramsim import devmodel

    return devmodel.write_verify(target_g, rng=rng, tolerance=tolerance)


def measured_pairs(net, source, *, signs=None, rng=None, read: int = 0):
    """Pairs of ``net``'s weight layers from measured read-outs (``source``: a path or
    :class:`rramsim.devmodel.measured.MeasuredReads`), laid out as the source study's hardware code
    takes them: :func:`rramsim.devmodel.measured.pair_indices` in network order."""
    from rramsim.devmodel import measured
    from rramsim.nn.layers import Conv2d, ReLURNN

    reads = source if isinstance(source, measured.MeasuredReads) else measured.read_measured(source)
    specs, blocks = [], []
    for la in net.weight_layers:
        if isinstance(la, Conv2d):
            specs.append(("conv", la.in_channels, la.out_channels, *la.kernel))
        elif isinstance(la, ReLURNN):   # input and hidden blocks scaled apart, as the study's
            specs.append(("rnn", la.input_size, la.hidden_size))
            blocks.append([la.input_size])
            continue
        else:
            specs.append(("dense", la.fan_in, la.fan_out))
        blocks.append(None)
    return measured.measured_network(reads, measured.pair_indices(specs), signs=signs, rng=rng,
                                     read=read, row_blocks=blocks)
