"""The source study's central comparison: a pruned random network against precise programming.

* :mod:`~rramsim.studies.programming_study.study` -- the precisions, the networks, the points.
* :mod:`~rramsim.studies.programming_study.report` -- the study's figure, table and report.
* :mod:`~rramsim.studies.programming_study.cli` -- ``rramsim programming-study``.
"""
