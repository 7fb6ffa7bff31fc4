"""The result type shared by the fast solver and ngspice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Solution:
    """Node voltages and currents of a solved tile, for one input or a batch.

    Shapes below are for one input; a batch (B, M) of inputs adds a leading axis B to each array.

    Attributes
    ----------
    i_out : ndarray (N,)
        Current from each bit line into its sense node S_j, amperes.
    v_wordline : ndarray (M, N)
        Word-line node voltages WL(i, j), volts.
    v_bitline : ndarray (M, N)
        Bit-line node voltages BL(i, j), volts.
    v_sense : ndarray (N,)
        Sense-node voltages S_j, volts (0 for an ideal TIA).
    i_in : ndarray (M,)
        Current delivered by each row's source(s) into the array, amperes (both ends summed when
        ``drive="both"``).
    v_tia : ndarray (N,) or None
        TIA output voltages, volts; None for a sense resistor.
    backend : str
        What produced it ("ngspice-shared", "ngspice-subprocess", "cholmod", "superlu", ...).
    """

    i_out: np.ndarray
    v_wordline: np.ndarray
    v_bitline: np.ndarray
    v_sense: np.ndarray
    i_in: np.ndarray
    v_tia: np.ndarray | None = None
    backend: str = ""
