"""rramsim.mapper: pruned layered networks onto crossbar tiles, and back.

* :mod:`rramsim.mapper.network` -- the array form (:class:`LayeredNetwork`) and the networkx graph
  form of a pruned network, and conversions (dense layers and convolutions unrolled by im2col).
* :mod:`rramsim.mapper.plan` -- the execution plan (:class:`ExecutionPlan`, :class:`LayerPlan`,
  :class:`TileRead`), the pieces, and the names of schemes, placements and cell states.
* :mod:`rramsim.mapper.packing` -- splitting layers into pieces and packing them onto tiles.
* :mod:`rramsim.mapper.mapping` -- :func:`map_network` and its result :class:`Mapping` (tiles as
  :class:`rramsim.crossbar.Crossbar`, a per-cell table, utilisation, read-back, layer products through
  per-tile transfer matrices) and :meth:`Mapping.plan`, the execution plan every reader of the
  hardware uses (which tile rows and columns compute which layer inputs and outputs, with signs).
* :mod:`rramsim.mapper.io` -- atomic ``.npz`` files of networks.

pandas is imported only by the methods that return DataFrames.
"""

from rramsim.mapper.io import load_network, save_network
from rramsim.mapper.mapping import Mapping, map_network
from rramsim.mapper.network import (
    ConvGeometry,
    Layer,
    LayeredNetwork,
    LinearConductanceMap,
    fold_conv_weight,
    graph_from_layers,
    layers_from_graph,
    network_from_graph,
    network_from_layers,
    unroll_conv_weight,
)
from rramsim.mapper.plan import (
    DEFAULT_G_RESET,
    PLACEMENTS,
    SCHEMES,
    SHARINGS,
    ExecutionPlan,
    LayerPlan,
    Piece,
    TileRead,
)

__all__ = [
    "ConvGeometry",
    "DEFAULT_G_RESET",
    "ExecutionPlan",
    "Layer",
    "LayerPlan",
    "LayeredNetwork",
    "LinearConductanceMap",
    "Mapping",
    "PLACEMENTS",
    "Piece",
    "SCHEMES",
    "SHARINGS",
    "TileRead",
    "fold_conv_weight",
    "graph_from_layers",
    "layers_from_graph",
    "load_network",
    "map_network",
    "network_from_graph",
    "network_from_layers",
    "save_network",
    "unroll_conv_weight",
]
