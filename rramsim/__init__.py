"""rramsim: circuit-level co-simulation of analogue RRAM neural networks.

A crossbar tile is described once (:class:`rramsim.crossbar.Crossbar`), rendered as an ngspice deck
(:mod:`rramsim.netlists`) or solved by the fast nodal solver (:mod:`rramsim.solver`); both return a
:class:`rramsim.solution.Solution`.

Importing this package loads neither PySpice, pandas nor matplotlib; those load where they are used.
"""

__version__ = "0.1.0"

from rramsim.errors import (  # noqa: E402
    ConvergenceError,
    CrossbarError,
    DataError,
    DeviceModelError,
    MappingError,
    RramsimError,
    SolverError,
    SpiceError,
)

__all__ = [
    "__version__",
    "RramsimError",
    "CrossbarError",
    "SolverError",
    "ConvergenceError",
    "SpiceError",
    "MappingError",
    "DeviceModelError",
    "DataError",
]
