"""The project's exception types. Every error rramsim raises on purpose derives from RramsimError.

The errors of the networks and the studies are defined here too and imported by (so importable
from) the modules that raise them, e.g. ``rramsim.nn.layers.LayerError``.
"""


class RramsimError(Exception):
    """Base class of all rramsim errors."""


class CrossbarError(RramsimError, ValueError):
    """A tile description or its input is invalid (shape, NaN, negative value, wrong batch width)."""


class SolverError(RramsimError):
    """The nodal system cannot be solved (floating node, singular matrix, too large for memory)."""


class ConvergenceError(SolverError):
    """An iterative (e.g. Newton) solve did not converge to its tolerance."""


class NotPositiveDefinite(SolverError):
    """A Cholesky factorisation broke down at an unknown (``column`` in the matrix order)."""

    def __init__(self, column: int):
        super().__init__(f"matrix not positive definite at unknown {column}")
        self.column = column


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



# ---------------------------------- networks (rramsim.nn; each also imports from its module)
class ExperimentError(RramsimError, ValueError):
    """An experiment option is invalid."""


class LayerError(RramsimError, ValueError):
    """A layer parameter or an input shape is invalid."""


class MaskError(RramsimError, ValueError):
    """A mask parameter (k, threshold) or input is invalid."""


class QuantizationError(RramsimError, ValueError):
    """A quantiser parameter is invalid (bits < 1, non-positive or non-finite range)."""


class TrainError(RramsimError, ValueError):
    """A training parameter or the training data is invalid."""


class TrainingStopped(RramsimError):
    """Training stopped on request after a checkpoint (``stop_after_epochs``); resume continues it."""



# ----------------------------- studies (rramsim.studies; each also imports from its module)
class ConfigError(DataError):
    """A configuration file or value is invalid; the message names ``section.key``."""


class CosimError(RramsimError):
    """The fast solver and ngspice disagree beyond the study's tolerance."""


class EnergyError(RramsimError, ValueError):
    """Inconsistent inputs to the energy bookkeeping (shapes, non-positive times or figures)."""


class InferenceError(RramsimError, ValueError):
    """A mode, a plan or the inputs of a product are inconsistent."""


class ProgrammingStudyError(RramsimError, ValueError):
    """An option of the programming study is invalid."""


class QuantizerError(RramsimError, ValueError):
    """A converter parameter or a calibration batch is invalid."""


class ReadSchemeError(RramsimError, ValueError):
    """A read scheme is invalid or cannot be modelled for this tile."""


class SweepError(RramsimError):
    """A sweep cannot run or finish: its folder, its engine or failed points (named)."""
