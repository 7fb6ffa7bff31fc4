"""A network's inference on its tiles: converters, the four modes, accuracy.

* :mod:`~rramsim.studies.inference.quantize` -- input DAC, TIA gain and ADC with range
  calibration.
* :mod:`~rramsim.studies.inference.modes` -- the matmul hook of a network in four modes
  (software, ideal, behavioural, circuit) on the mapper's plan.
* :mod:`~rramsim.studies.inference.accuracy` -- test-set accuracy per mode, the output error of IR
  drop alone, ADC saturation.
* :mod:`~rramsim.studies.inference.design` -- accuracy against wire resistance, tile size,
  placement (the report's design sweeps).
"""
