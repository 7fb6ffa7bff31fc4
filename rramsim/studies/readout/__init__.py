"""Read schemes: how a macro reads the execution plan's products, what that costs, and how a
scheme does on a network.

* :mod:`~rramsim.studies.readout.reads` -- a read scheme (rows per read, input encoding, shared
  ADCs, calibration) run on the plan.
* :mod:`~rramsim.studies.readout.cost` -- reads, cycles, conversions, latency and energy of a
  scheme.
* :mod:`~rramsim.studies.readout.evaluate` -- schemes evaluated on a programmed network, their
  Pareto front.
"""
