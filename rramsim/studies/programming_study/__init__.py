"""The source study's central comparison: a pruned random network against precise programming.

* :mod:`~rramsim.studies.programming_study.study` -- the precisions, the networks, the points.
* :mod:`~rramsim.studies.programming_study.report` -- the study's figure, table and report.
* :mod:`~rramsim.studies.programming_study.cli` -- ``rramsim programming-study``.
"""

from rramsim.errors import ProgrammingStudyError
from rramsim.studies.programming_study.report import plot, report_text, write_study
from rramsim.studies.programming_study.study import (
    POINT_MODES,
    STUDY_CLAIMS,
    Networks,
    Precision,
    ProgrammedLayers,
    StudyResult,
    TargetMap,
    Training,
    baseline_loaded,
    claim_metric,
    comparison_text,
    experiment_for,
    precisions,
    program_weights,
    programming_study,
    train_networks,
)
from rramsim.studies.programming_study.study import (
    _evaluate as _evaluate,  # re-exported: the evaluation of one loaded network (tests use it)
)

__all__ = ["ProgrammingStudyError", "plot", "report_text", "write_study", "POINT_MODES",
           "STUDY_CLAIMS", "Networks", "Precision", "ProgrammedLayers", "StudyResult",
           "TargetMap", "Training", "baseline_loaded", "claim_metric", "comparison_text", "experiment_for",
           "precisions", "program_weights", "programming_study", "train_networks"]
