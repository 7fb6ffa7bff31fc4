"""Reading the mapper's placement table into layer plans (hand-written tables, both schemes)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from rramsim.crossbar import Crossbar
from rramsim.errors import MappingError
from rramsim.studies.adapters import _scale, hardware_from_mapping
from rramsim.studies.inference import forward, prepare


def _mapping(w, gp, gn, scheme):
    """One tile holding a (2, 2) layer: columns scheme (2 x 4) or rows scheme (4 x 2)."""
    recs = []
    if scheme == "columns":
        g = np.zeros((2, 4))
        for i in range(2):
            for o in range(2):
                g[i, 2 * o], g[i, 2 * o + 1] = gp[i, o], gn[i, o]
                recs += [(0, i, o, 0, i, 2 * o, 1), (0, i, o, 0, i, 2 * o + 1, -1)]
    else:
        g = np.zeros((4, 2))
        for i in range(2):
            for o in range(2):
                g[2 * i, o], g[2 * i + 1, o] = gp[i, o], gn[i, o]
                recs += [(0, i, o, 0, 2 * i, o, 1), (0, i, o, 0, 2 * i + 1, o, -1)]
    table = pd.DataFrame(recs, columns=["layer", "source", "target", "tile", "row", "column",
                                        "polarity"])
    return SimpleNamespace(tiles=[Crossbar(conductance=g)], table=table)


@pytest.mark.parametrize("scheme", ["columns", "rows"])
def test_plan_from_table_reproduces_weights(scheme):
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    gr = 0.3e-6
    gp = gr + np.maximum(w, 0) * 5e-6
    gn = gr + np.maximum(-w, 0) * 5e-6
    hw = hardware_from_mapping(_mapping(w, gp, gn, scheme), [w], [5e-6])
    np.testing.assert_allclose(hw.hardware_weights(0), w, atol=1e-12)
    x = np.array([[1.0, 2.0], [0.0, 3.0]])
    np.testing.assert_allclose(forward(hw, x, mode="ideal", prep=prepare(hw, "ideal")), x @ w,
                               atol=1e-12)
    assert _scale(w, (gp, gn)) == pytest.approx(5e-6)


def test_tuple_node_ids_and_bad_tables():
    w = np.array([[1.0, -1.0], [1.0, 1.0]])
    gp, gn = np.maximum(w, 0) * 1e-5, np.maximum(-w, 0) * 1e-5
    m = _mapping(w, gp, gn, "columns")
    m.table["source"] = [(0, int(s)) for s in m.table["source"]]
    m.table["target"] = [f"L1:{int(t)}" for t in m.table["target"]]
    hw = hardware_from_mapping(m, [w], [1e-5])
    np.testing.assert_allclose(hw.hardware_weights(0), w, atol=1e-12)
    bad = _mapping(w, gp, gn, "columns")
    bad.table.loc[0, "polarity"] = -1          # mixed polarity on a row and a column
    with pytest.raises(MappingError, match="polarity"):
        hardware_from_mapping(bad, [w], [1e-5])
    with pytest.raises(MappingError, match="layer 1 has no cells"):
        hardware_from_mapping(_mapping(w, gp, gn, "columns"), [w, w], [1e-5, 1e-5])
