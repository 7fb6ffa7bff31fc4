"""rramsim.studies: what a pruned random network really computes and costs on the circuit.

Modules (each imports pandas, matplotlib, PySpice only inside the functions that need them):

* :mod:`~rramsim.studies.quantize` -- input DAC, TIA gain and ADC with range calibration.
* :mod:`~rramsim.studies.inference` -- circuit-accurate inference of a mapped network (tile
  products via the solver's transfer matrices or Newton solves, read noise, per-column ADC,
  partial sums) beside behavioural (ideal ``G+ - G-``) and software evaluations; a ``matmul``
  hook for :meth:`rramsim.nn.Network.forward`.
* :mod:`~rramsim.studies.energy` -- power balance of a solved tile (sources = cells + wires +
  drivers + sense), converter figures with their sources (the study's board, integrated
  converters), the GPU baseline; :mod:`~rramsim.studies.network_energy` -- energy per inference.
* :mod:`~rramsim.studies.irdrop` -- per-cell voltage-drop maps, output error, sweeps over wire
  resistance and tile size.
* :mod:`~rramsim.studies.cosim` -- the co-simulation check: sampled tiles in ngspice beside the
  fast solver, loud failure beyond tolerance.
* :mod:`~rramsim.studies.config` -- the validated TOML study configuration (units in key names).
* :mod:`~rramsim.studies.report` -- markdown reports; :mod:`~rramsim.studies.demo` -- the
  whole pipeline (``rramsim demo``, ``compare``, ``irdrop``); ``cli_*`` -- the subcommands.
* :func:`sweep` (module ``rramsim.studies.sweep``) -- design-space sweeps and Monte Carlo on
  Dask (``rramsim sweep``).
* :mod:`~rramsim.studies.adapters` -- joins ``rramsim.nn``, ``rramsim.mapper`` and
  ``rramsim.devmodel`` for the studies.
"""

from rramsim.studies.sweep import sweep  # noqa: E402  (the function; the module stays importable)

__all__ = ["sweep"]
