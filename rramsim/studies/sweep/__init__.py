"""Design-space sweeps and Monte Carlo over device and noise seeds, on Dask.distributed.

In the order in which they build on each other:

* :mod:`~rramsim.studies.sweep.spec` -- the sweep file: grid, Monte Carlo seeds, outputs, and
  its expansion into points (:func:`load_sweep`, :func:`expand`).
* :mod:`~rramsim.studies.sweep.store` -- the sweep's folder: one file per finished point, the
  table, the manifest.
* :mod:`~rramsim.studies.sweep.plot` -- one figure per swept key.
* :mod:`~rramsim.studies.sweep.worker` -- what runs on the Dask workers.
* :mod:`~rramsim.studies.sweep.run` -- :func:`sweep`: the points on a cluster.
* :mod:`~rramsim.studies.sweep.cli` -- ``rramsim sweep``.
"""

from rramsim.studies.sweep.run import SweepResult, cores, sweep
from rramsim.studies.sweep.spec import (
    METRICS,
    SweepError,
    SweepPoint,
    SweepSpec,
    base_fingerprint,
    expand,
    load_sweep,
)

__all__ = ["SweepError", "SweepSpec", "SweepPoint", "SweepResult", "load_sweep", "expand",
           "sweep", "cores", "base_fingerprint", "METRICS"]
