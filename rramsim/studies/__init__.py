"""rramsim.studies: what a pruned random network really computes and costs on the circuit.

One concept per module, grouped in sub-packages by concept (``inference``, ``readout``,
``costs``, ``report``, ``sweep``, ``programming_study``). The modules, in the order in which they
build on each other: each imports only modules listed before it, all at its top (pandas,
matplotlib, tqdm, Dask and PySpice load inside the functions that need them);
``tests/test_layering.py`` checks this list against the code.

1. :mod:`~rramsim.studies._io` -- atomic CSV and figure writes.
2. :mod:`~rramsim.studies.inference.quantize` -- input DAC, TIA gain and ADC with range
   calibration.
3. :mod:`~rramsim.studies.readout.scheme` -- a read scheme's settings and the names of its
   encodings and output calibrations.
4. :mod:`~rramsim.studies.config` -- the validated TOML study configuration (units in key names,
   a docstring under every field), the data set and converter preset names, the seeded random
   streams.
5. :mod:`~rramsim.studies.loading` -- the network (embedded, trained as ``[train]`` says; a
   network file; or in memory) and the data set it was trained on.
6. :mod:`~rramsim.studies.programming` -- the network mapped onto tiles with the configured
   circuit, its execution plan, cached T and Y per tile (:class:`~.programming.Hardware`); the
   studies' one door to the solver; programming cost of pruning vs write-and-verify.
7. :mod:`~rramsim.studies.costs.power` -- the power balance of one solved tile (sources = cells +
   access + drivers + wires + sense), ``v^T Y v``.
8. :mod:`~rramsim.studies.costs.energy` -- converter figures with their sources, the GPU
   baseline, the per-inference energy ledger of a programmed network.
9. :mod:`~rramsim.studies.inference.modes` -- the matmul hook of any :class:`rramsim.nn.Network`
   in four modes (software, ideal, behavioural, circuit) on the mapper's plan, with DAC, read
   noise, TIA/ADC.
10. :mod:`~rramsim.studies.inference.accuracy` -- test-set accuracy per mode, the output error of
    IR drop alone, ADC saturation.
11. :mod:`~rramsim.studies.inference.design` -- accuracy against wire resistance, tile size,
    placement (the report's design sweeps).
12. :mod:`~rramsim.studies.readout.reads` -- a read scheme run on the plan: groups of rows,
    encodings, shared ADCs, calibrations.
13. :mod:`~rramsim.studies.readout.cost` -- reads, cycles, conversions, latency and energy of a
    scheme.
14. :mod:`~rramsim.studies.readout.evaluate` -- schemes evaluated on a programmed network, their
    Pareto front.
15. :mod:`~rramsim.studies.irdrop` -- per-cell voltage-drop maps, output error, the wire and tile
    size sweep.
16. :mod:`~rramsim.studies.cosim` -- the co-simulation check against ngspice (or VACASK) on
    windows that hold the network's cells; empty windows are refused.
17. :mod:`~rramsim.studies.report.figures` -- every figure of the report.
18. :mod:`~rramsim.studies.report.markdown` -- the markdown report: every sentence of it, the
    CSVs.
19. :mod:`~rramsim.studies.pipeline` -- the steps with typed results, ``run_pipeline`` and
    ``evaluate_point`` (one design point as flat metrics, with a cache).
20. :mod:`~rramsim.studies.cli` -- the subcommands ``demo``, ``compare``, ``irdrop``,
    ``netlist``.
21. :mod:`~rramsim.studies.sweep.spec` -- the sweep file and its points.
22. :mod:`~rramsim.studies.sweep.store` -- the sweep's folder.
23. :mod:`~rramsim.studies.sweep.plot` -- one figure per swept key.
24. :mod:`~rramsim.studies.sweep.worker` -- what runs on the Dask workers.
25. :mod:`~rramsim.studies.sweep.run` -- :func:`sweep`: design-space sweeps and Monte Carlo on
    Dask.distributed.
26. :mod:`~rramsim.studies.sweep.cli` -- ``rramsim sweep``.
27. :mod:`~rramsim.studies.programming_study.study` -- the pruned network against precise
    programming at many precisions.
28. :mod:`~rramsim.studies.programming_study.comparison` -- the study-wide comparison on
    measured RRAM behaviour: error models, times after programming, stuck cells, seeds, the
    hardware-aware baseline, programming costs.
29. :mod:`~rramsim.studies.programming_study.report` -- that study's figure, tables and reports.
30. :mod:`~rramsim.studies.programming_study.cli` -- ``rramsim programming-study``.
31. :mod:`~rramsim.studies.inference.readnoise` -- the exact first-order read noise of a linear
    tile (adjoint solves), a check of circuit mode's noise model; it imports no studies module.
"""

from rramsim.studies.sweep.run import sweep

__all__ = ["sweep"]
