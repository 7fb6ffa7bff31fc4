"""The sweep file: validation, the points it expands to, their seeds and groups (no Dask)."""

import json

import numpy as np
import pytest

from rramsim.errors import RramsimError
from rramsim.studies.config import ConfigError, StudyConfig
from rramsim.studies.sweep import SweepError, expand, load_sweep

GRID = {"circuit.r_wordline_ohm,circuit.r_bitline_ohm": [1.0, 5.0],
        "converters": {"adc_bits": [8, 14]}}


def _spec(**mc):
    return load_sweep({"base": {"run": {"test_samples": 40}}, "grid": GRID,
                       "monte_carlo": {"device_seeds": 2, "noise_seeds": 3, **mc}})


def test_grid_is_the_product_in_file_order_with_seeds_innermost():
    pts = expand(_spec())
    assert len(pts) == 2 * 2 * 2 * 3
    assert [p.index for p in pts] == list(range(24))
    first = dict(pts[0].params)
    assert first == {"circuit.r_wordline_ohm": 1.0, "circuit.r_bitline_ohm": 1.0,
                     "converters.adc_bits": 8}
    assert [(p.device_rep, p.noise_rep) for p in pts[:6]] == [(d, n) for d in range(2)
                                                              for n in range(3)]
    assert dict(pts[6].params)["converters.adc_bits"] == 14
    assert dict(pts[12].params)["circuit.r_bitline_ohm"] == 5.0
    # the point's configuration carries its parameters and its device seed as run.seed
    p = pts[13]
    assert p.cfg.circuit.r_wordline_ohm == p.cfg.circuit.r_bitline_ohm == 5.0
    assert p.cfg.converters.adc_bits == 8 and p.cfg.run.test_samples == 40
    assert p.cfg.run.seed == p.device_seed and p.cfg.noise.seed == p.noise_seed


def test_seeds_derive_from_base_seed_and_replicate_only_when_paired():
    pts = expand(_spec())
    # paired (default): the same device and noise seeds at every grid point
    per_grid = {}
    for p in pts:
        per_grid.setdefault(p.params, []).append((p.device_seed, p.noise_seed))
    assert len({tuple(v) for v in per_grid.values()}) == 1
    seeds = next(iter(per_grid.values()))
    assert len({d for d, _ in seeds}) == 2 and len({n for _, n in seeds}) == 3
    # the derivation is SeedSequence([base seed, tag, replicate]): fixed numbers
    ss = np.random.SeedSequence([0, 1, 1]).generate_state(1, dtype=np.uint32)[0]
    assert pts[3].device_seed == int(ss)
    # another base seed gives other seeds; the same gives the same
    assert expand(_spec(seed=7))[0].device_seed != pts[0].device_seed
    assert [p.point_id for p in expand(_spec())] == [p.point_id for p in pts]
    # unpaired: seeds depend on the point's parameters too
    un = expand(_spec(paired=False))
    assert len({(p.device_seed, p.noise_seed) for p in un}) == len(un)
    assert [(p.device_seed, p.noise_seed) for p in un if p.params == un[0].params] == \
        [(p.device_seed, p.noise_seed) for p in expand(_spec(paired=False))[:6]]


def test_explicit_seed_lists_are_used_as_given():
    pts = expand(_spec(device_seeds=[0, 5], noise_seeds=[11]))
    assert [(p.device_seed, p.noise_seed) for p in pts[:2]] == [(0, 11), (5, 11)]


def test_groups_share_tiles_only_across_converters_noise_and_noise_seed():
    pts = expand(_spec())
    g = {}
    for p in pts:
        g.setdefault(p.group_key, set()).add((dict(p.params)["circuit.r_wordline_ohm"],
                                             p.device_seed))
    # 2 wire values x 2 device seeds; ADC bits and noise seeds within a group
    assert len(g) == 4 and all(len(v) == 1 for v in g.values())
    assert len({p.network_key for p in pts}) == 2


def test_base_file_and_inline_overrides(tmp_path):
    (tmp_path / "study.toml").write_text("[circuit]\nr_wordline_ohm = 3.0\n[noise]\nrepeats = 4\n")
    f = tmp_path / "sweep.toml"
    f.write_text('[base]\nfile = "study.toml"\n[base.noise]\nrepeats = 2\n'
                 '[grid]\nmapping.tile_rows = [16, 32]\n')
    spec = load_sweep(f)
    assert spec.base.circuit.r_wordline_ohm == 3.0 and spec.base.noise.repeats == 2
    assert spec.grid == ((("mapping.tile_rows",), (16, 32)),)
    assert spec.device_count == spec.noise_count == 1
    assert len(expand(spec)) == 2


@pytest.mark.parametrize("data, words", [
    ({"grid": {"circuit.r_wordline_ohm": [1.0, -2.0]}}, ["circuit.r_wordline_ohm", "-2.0"]),
    ({"grid": {"circuit.r_wire": [1.0]}}, ["unknown key", "r_wire"]),
    ({"grid": {"wires.r": [1.0]}}, ["not a study key"]),
    ({"grid": {"run.seed": [1, 2]}}, ["run.seed", "device_seeds"]),
    ({"grid": {"noise.seed": [1, 2]}}, ["noise.seed", "noise_seeds"]),
    ({"grid": {"cosim.tiles": [1]}}, ["cannot be swept"]),
    ({"grid": {"mapping.tile_rows": 32}}, ["non-empty list"]),
    ({"grid": {"mapping.tile_rows": []}}, ["non-empty list"]),
    ({"grid": {"mapping.tile_rows": [32, 32]}}, ["twice"]),
    ({"grid": {"mapping.placement": ["naive", "best"]}}, ["mapping.placement"]),
    ({"grid": {"converters.adc_bits": [8.5]}}, ["converters.adc_bits", "integer"]),
    ({"grid": {"mapping.tile_rows": [8], "mapping.tile_rows,mapping.tile_cols": [8]}},
     ["twice"]),
    ({"monte_carlo": {"device_seeds": 0}}, ["device_seeds"]),
    ({"monte_carlo": {"noise_seeds": [1, 1]}}, ["twice"]),
    ({"monte_carlo": {"noise_seeds": [1, -1]}}, ["noise_seeds"]),
    ({"monte_carlo": {"repeats": 3}}, ["unknown key monte_carlo.repeats"]),
    ({"monte_carlo": {"paired": False, "noise_seeds": [1, 2]}}, ["paired"]),
    ({"base": {"network": {"path": "net.npz"}}, "monte_carlo": {"device_seeds": 2}},
     ["device_seeds", "network file"]),
    ({"output": {"plots": "yes"}}, ["output.plots"]),
    ({"grids": {}}, ["unknown section [grids]"]),
    ({"base": {"noise": {"repeats": 0}}}, ["noise.repeats"]),
])
def test_invalid_sweeps_are_refused_naming_what_is_wrong(data, words):
    with pytest.raises(ConfigError) as err:
        load_sweep(data)
    assert isinstance(err.value, RramsimError)
    for w in words:
        assert w in str(err.value)


def test_unreadable_sweep_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read sweep file"):
        load_sweep(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_sweep(bad)


def test_store_refuses_another_base_configuration_and_foreign_folders(tmp_path):
    from rramsim.studies.sweep.store import SweepStore

    spec = _spec()
    pts = expand(spec)
    with SweepStore(tmp_path / "s", spec) as store:
        _store_checks(store, spec, pts, tmp_path)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "report.md").write_text("a demo")
    with pytest.raises(SweepError, match="not a sweep folder"):
        SweepStore(tmp_path / "x", spec)


def _store_checks(store, spec, pts, tmp_path):
    from rramsim.studies.sweep.store import SweepStore

    values = {m: 0.5 for m in ("acc_software", "acc_ideal", "acc_behavioural", "acc_circuit",
                               "tile_error_rel", "ir_drop_worst_rel", "energy_per_inference_J")}
    store.record(pts[3], values, seconds=1.0, worker="w", session="a")
    rec = json.loads((tmp_path / "s" / "points" / f"{pts[3].point_id}.json").read_text())
    assert rec["row"]["point"] == 3 and rec["row"]["acc_circuit"] == 0.5
    assert not list((tmp_path / "s" / "points").glob(".*"))      # no temporary file left
    # a record missing a metric is refused
    with pytest.raises(SweepError, match="energy_per_inference_J"):
        store.record(pts[4], {"acc_software": 1.0}, seconds=0.0, worker="", session="")
    # while this store holds the folder, another is refused
    with pytest.raises(SweepError, match="another sweep is running"):
        SweepStore(tmp_path / "s", spec)
    store.close()
    # the same sweep reopens with the point finished; its table has that one row
    with SweepStore(tmp_path / "s", spec) as again:
        assert again.done(pts[3]) and not again.done(pts[4])
        assert list(again.table(pts)["point"]) == [3]
    # a changed base configuration is refused, naming the key
    other = load_sweep({"base": {"run": {"test_samples": 50}}, "grid": GRID})
    with pytest.raises(SweepError, match=r"run.test_samples: 40 -> 50"):
        SweepStore(tmp_path / "s", other)
    # a grid change on the same base is accepted (points are identified by parameters and seeds)
    SweepStore(tmp_path / "s", load_sweep({"base": {"run": {"test_samples": 40}},
                                           "grid": {"mapping.tile_rows": [8]}})).close()


def test_bad_folders_are_refused(tmp_path):
    from rramsim.studies.sweep.store import SweepStore

    spec = load_sweep({})
    (tmp_path / "f").write_text("x")
    for bad, words in (("", "must be a path"), (3, "must be a path"),
                       (tmp_path / "f", "is a file"), (tmp_path / "f" / "sub", "cannot create")):
        with pytest.raises(SweepError, match=words):
            SweepStore(bad, spec)


def test_defaults_need_no_grid():
    spec = load_sweep({})
    assert spec.base == StudyConfig() and len(expand(spec)) == 1
