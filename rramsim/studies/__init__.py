"""rramsim.studies: what a pruned random network really computes and costs on the circuit.

One concept per module; each imports only modules listed before it (and pandas, matplotlib,
PySpice only inside the functions that need them):

* :mod:`~rramsim.studies.config` -- the validated TOML study configuration (units in key names,
  a docstring under every field), the seeded random streams.
* :mod:`~rramsim.studies.inference.quantize` -- input DAC, TIA gain and ADC with range calibration.
* :mod:`~rramsim.studies.loading` -- the network (embedded, trained as ``[train]`` says; a
  network file; or in memory) and the data set it was trained on.
* :mod:`~rramsim.studies.programming` -- the network mapped onto tiles with the configured
  circuit (the mapper's tile options, set once), its execution plan, cached T and Y per tile;
  programming cost of pruning vs write-and-verify.
* :mod:`~rramsim.studies.inference.modes` -- the matmul hook of any :class:`rramsim.nn.Network` in four
  modes (software, ideal, behavioural, circuit) on the mapper's plan: dense layers, im2col
  convolutions, ReLU-RNN steps, with DAC, read noise, TIA/ADC.
* :mod:`~rramsim.studies.inference.accuracy` -- test-set accuracy per mode, the output error of IR drop
  alone, ADC saturation.
* :mod:`~rramsim.studies.inference.design` -- accuracy against wire resistance, tile size, placement.
* :mod:`~rramsim.studies.costs.power` -- the power balance of one solved tile (sources = cells +
  access + drivers + wires + sense), ``v^T Y v``.
* :mod:`~rramsim.studies.costs.energy` -- converter figures with their sources, the GPU baseline, the
  per-inference energy ledger of a programmed network.
* :mod:`~rramsim.studies.irdrop` -- per-cell voltage-drop maps, output error, sweeps.
* :mod:`~rramsim.studies.cosim` -- the co-simulation check against ngspice (or VACASK) on windows
  that hold the network's cells; empty windows are refused.
* :mod:`~rramsim.studies.report.markdown` -- the markdown report: every sentence of it, the CSVs and
  figures.
* :mod:`~rramsim.studies.pipeline` -- the steps with typed results, :func:`run_pipeline` (its
  seeded example runs a small embedded network end to end), and :func:`evaluate_point` (one
  design point as flat metrics, with a cache).
* :mod:`~rramsim.studies.cli` -- the subcommands ``demo``, ``compare``, ``irdrop``, ``netlist``.
* :func:`sweep` (module ``rramsim.studies.sweep``, above the pipeline) -- design-space sweeps and
  Monte Carlo over device and noise seeds on Dask.distributed (``rramsim sweep``).
"""

from rramsim.studies.sweep import sweep  # noqa: E402  (the function; the module stays importable)

__all__ = ["sweep"]
