"""A read scheme's settings: rows per read, inactive rows, input encoding, columns per ADC, and
the names of its encodings and output calibrations (:class:`ReadScheme`).

How a scheme is run on the plan: :mod:`rramsim.studies.readout.reads`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rramsim.errors import ReadSchemeError

ENCODINGS: tuple[str, ...] = ("amplitude", "bit-serial", "pwm")
INACTIVE: tuple[str, ...] = ("grounded", "floating")
#: How the outputs of a read scheme are calibrated (see ``[readout] calibration``).
OUTPUT_CALIBRATIONS: tuple[str, ...] = ("ideal_scale", "column", "group", "rerange", "column_rerange")
#: The calibrations that end with the per-layer output gain and offset fit of ``column``.
COLUMN_FIT: tuple[str, ...] = ("column", "group", "column_rerange")


@dataclass(frozen=True)
class ReadScheme:
    """How the tiles are read (see the module docstring).

    Attributes
    ----------
    rows_per_read : int
        Word lines active per read (0 = all rows of the tile).
    inactive_rows : str
        "grounded" or "floating".
    encoding : str
        "amplitude", "bit-serial" or "pwm".
    columns_per_adc : int
        Columns sharing one ADC through a multiplexer (1 = one ADC per column).
    """

    rows_per_read: int = 0
    inactive_rows: str = "grounded"
    encoding: str = "amplitude"
    columns_per_adc: int = 1

    def __post_init__(self) -> None:
        r = self.rows_per_read
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 0 <= r <= 1 << 20:
            raise ReadSchemeError(f"rows_per_read must be an integer in 0..{1 << 20} "
                                  f"(0 = all rows), got {r!r}")
        k = self.columns_per_adc
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 1 << 20:
            raise ReadSchemeError(f"columns_per_adc must be an integer >= 1, got {k!r}")
        if self.inactive_rows not in INACTIVE:
            raise ReadSchemeError(f"inactive_rows must be one of {INACTIVE}, "
                                  f"got {self.inactive_rows!r}")
        if self.encoding not in ENCODINGS:
            raise ReadSchemeError(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")

    def group_size(self, n_rows: int) -> int:
        """Rows per group on a tile of ``n_rows`` word lines."""
        r = int(self.rows_per_read)
        return int(n_rows) if r == 0 or r >= n_rows else r

    @property
    def label(self) -> str:
        rpr = self.rows_per_read or "all"
        return (f"{rpr} rows/{self.inactive_rows}/{self.encoding}/"
                f"{self.columns_per_adc} col/ADC")
