"""The study's outputs: the markdown report, its tables and figures.

* :mod:`~rramsim.studies.report.markdown` -- the markdown report: every sentence of it, the CSVs.
* :mod:`~rramsim.studies.report.figures` -- every figure of the report.
"""
