"""The project's exception types. Every error rramsim raises on purpose derives from RramsimError."""


class RramsimError(Exception):
    """Base class of all rramsim errors."""


class CrossbarError(RramsimError, ValueError):
    """A tile description or its input is invalid (shape, NaN, negative value, wrong batch width)."""


class SolverError(RramsimError):
    """The nodal system cannot be solved (floating node, singular matrix, too large for memory)."""


class ConvergenceError(SolverError):
    """An iterative (e.g. Newton) solve did not converge to its tolerance."""


class SpiceError(RramsimError):
    """ngspice failed or is missing; the message carries ngspice's own output."""


class MappingError(RramsimError, ValueError):
    """A network graph cannot be mapped onto tiles (not layered, cycles, missing attribute, ...)."""


class DeviceModelError(RramsimError, ValueError):
    """A device-model parameter or operation is outside its valid range."""


class DataError(RramsimError, ValueError):
    """A data file is missing or malformed."""


class OutputError(RramsimError):
    """An output path cannot be used: empty, a file where a folder is expected (or the reverse),
    not writable, or a folder that already holds results (and ``--overwrite`` was not given)."""
