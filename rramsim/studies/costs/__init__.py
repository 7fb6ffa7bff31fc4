"""What a programmed network costs to run.

* :mod:`~rramsim.studies.costs.power` -- the power balance of one solved tile (sources = cells +
  access + drivers + wires + sense), ``v^T Y v``.
* :mod:`~rramsim.studies.costs.energy` -- converter figures with their sources, the GPU baseline,
  the per-inference energy ledger of a programmed network.
"""
