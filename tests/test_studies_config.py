"""Study configuration (TOML) and report writer."""

import sys

import numpy as np
import pytest

from rramsim.solution import Solution
from rramsim.studies.config import (
    ConfigError,
    StudyConfig,
    config_from_dict,
    config_from_toml,
    load_config,
    to_toml,
)
from rramsim.studies.irdrop import cell_voltage_drop, drop_stats
from rramsim.studies.report.figures import plot_drop_map
from rramsim.studies.report.markdown import Report, fmt_number, markdown_table


def test_defaults_round_trip_through_toml():
    cfg = StudyConfig()
    assert config_from_toml(to_toml(cfg)) == cfg
    changed = cfg.replace("circuit", r_wordline_ohm=5.0, drive="both")
    changed = changed.replace("sweep", r_wire_ohm=(0.5, 1.0))
    assert config_from_toml(to_toml(changed)) == changed


def test_load_file_ints_for_floats(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[circuit]\nr_wordline_ohm = 3\n[run]\nseed = 7\n[sweep]\ntile_sizes = [8, 16]\n")
    cfg = load_config(p)
    assert cfg.circuit.r_wordline_ohm == 3.0 and isinstance(cfg.circuit.r_wordline_ohm, float)
    assert cfg.run.seed == 7
    assert cfg.sweep.tile_sizes == (8, 16)
    assert load_config(None) == StudyConfig()


@pytest.mark.parametrize("data, match", [
    ({"circuit": {"r_wordline": 2.0}}, r"unknown key circuit\.r_wordline"),
    ({"circuits": {}}, r"unknown section \[circuits\]"),
    ({"circuit": {"r_bitline_ohm": -1.0}}, r"circuit\.r_bitline_ohm"),
    ({"circuit": {"r_bitline_ohm": "2"}}, r"circuit\.r_bitline_ohm: must be a number"),
    ({"circuit": {"drive": "right"}}, r"circuit\.drive"),
    ({"run": {"seed": 1.5}}, r"run\.seed: must be an integer"),
    ({"run": {"seed": True}}, r"run\.seed: must be an integer"),
    ({"converters": {"calibration": "mean"}}, r"converters\.calibration"),
    ({"converters": {"v_read_V": 5.0}}, r"converters\.v_read_V"),
    ({"sweep": {"tile_sizes": [16, "x"]}}, r"sweep\.tile_sizes\[1\]"),
    ({"cosim": {"window": 512}}, r"cosim\.window"),
    ({"noise": {"read_noise_rel": 1.5}}, r"noise\.read_noise_rel"),
])
def test_invalid_values_name_the_key(data, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(data)


def test_load_config_rejects_missing_and_malformed_toml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    p = tmp_path / "bad.toml"
    p.write_text("[run\nseed = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)


def test_report_render_and_atomic_write(tmp_path):
    rep = Report("Study", provenance={"seed": 3, "rramsim": "0.1.0"}, config_toml="[run]\nseed = 3")
    rep.section("Accuracy", "Three evaluations.")
    rep.table(["a", "b"], [[1, 0.123456789], ["x", float("nan")]])
    rep.image("irdrop_tile0.png", "drop map")
    rep.headline([("accuracy", "90 %")])
    text = rep.render()
    assert text.startswith("# Study\n")
    assert text.index("## Headline") < text.index("## Accuracy") < text.index("## Configuration")
    assert "| 1 | 0.1235 |" in text and "| x | n/a |" in text
    assert "![drop map](irdrop_tile0.png)" in text
    out = rep.write(tmp_path / "sub" / "report.md")
    assert out.read_text() == text
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["report.md"]  # no temp file left
    assert fmt_number(7) == "7" and fmt_number(0.0) == "0"
    assert markdown_table(["q"], [[1e-12]]).endswith("| 1e-12 |")
    assert markdown_table(["max|d|"], [["||a||"]]).splitlines()[2] == "| \\|\\|a\\|\\| |"


def test_drop_map_by_hand_and_png(tmp_path):
    # 1 x 2 tile: word line 0.1 -> 0.098, 0.097; bit line 0.001, 0.002
    sol = Solution(i_out=np.zeros(2), v_wordline=np.array([[0.098, 0.097]]),
                   v_bitline=np.array([[0.001, 0.002]]), v_sense=np.zeros(2), i_in=np.zeros(1))
    drop = cell_voltage_drop(sol, [0.1])
    np.testing.assert_allclose(drop, [[0.003, 0.005]], rtol=1e-12)
    st = drop_stats(drop, [0.1])
    assert st.worst_V == pytest.approx(0.005) and st.mean_V == pytest.approx(0.004)
    assert st.worst_rel == pytest.approx(0.05)
    p = plot_drop_map(np.random.default_rng(0).uniform(0, 1e-3, (8, 8)), tmp_path / "d.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "matplotlib" in sys.modules


def test_every_config_field_has_a_docstring():
    """Each field of each section is followed by its docstring (meaning and unit)."""
    import ast
    import dataclasses
    import inspect

    from rramsim.studies import config as cmod

    tree = ast.parse(inspect.getsource(cmod))
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    for sec in dataclasses.fields(StudyConfig):
        cls = type(getattr(StudyConfig(), sec.name))
        body = classes[cls.__name__].body
        documented = {a.target.id for a, b in zip(body, body[1:], strict=False)
                      if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr)
                      and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str)}
        missing = {f.name for f in dataclasses.fields(cls)} - documented
        assert not missing, f"[{sec.name}] fields without docstring: {missing}"


@pytest.mark.parametrize("data, match", [
    ({"mapping": {"tile_rows": 1_000_000_000}}, r"mapping\.tile_rows: must be in 2\.\.4096"),
    ({"run": {"seed": 10**400}}, r"run\.seed: must fit in 64 bits"),
    ({"circuit": {"r_wordline_ohm": 10**400}}, r"circuit\.r_wordline_ohm: .* too large"),
    ({"cosim": {"inputs": 10**9}}, r"cosim\.inputs: must be in 1\.\.1000"),
    ({"train": {"task": "fsdd", "architecture": "mlp"}}, r"train\.architecture"),
    ({"train": {"epochs": 0}}, r"train\.epochs"),
    ({"cosim": {"engine": "hspice"}}, r"cosim\.engine"),
    ({"network": {"dataset": "mnist"}}, r"network\.dataset"),
])
def test_out_of_range_numbers_fail_before_any_allocation(data, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(data)


def test_train_section_round_trips_and_drives_the_experiment():
    from rramsim.studies.loading import experiment_config

    cfg = config_from_dict({"train": {"task": "fashion-mnist", "epochs": 2, "batch": 32,
                                      "lr": 0.05, "k": 0.4, "limiter_start_rel": 0.0},
                            "network": {"data_dir": "/data/fm"}})
    assert config_from_toml(to_toml(cfg)) == cfg
    exp = experiment_config(cfg)
    assert (exp.dataset, exp.data_dir, exp.k) == ("fashion-mnist", "/data/fm", 0.4)
    assert (exp.train.epochs, exp.train.batch_size, exp.train.lr) == (2, 32, 0.05)
    assert exp.train.flip_limiter is None
    default = experiment_config(StudyConfig())
    assert default.train.flip_limiter.start == 0.01 and default.train.flip_limiter.end == 0.007
    assert (default.dataset, default.train.epochs, default.hidden) == ("digits", 20, (256, 256))


@pytest.mark.parametrize("task, epochs, batch, lr, baseline, bits", [
    # the source study's epochs and batch sizes (arXiv 2311.07164); rates and baselines as
    # `rramsim prune --dataset TASK` trains them
    ("digits", 20, 64, 0.1, (20, 64, 0.05), None),
    ("fashion-mnist", 65, 60, 0.1, (65, 60, 0.05), None),
    ("fsdd", 60, 30, 0.1, (60, 30, 0.05), 3),
    ("drive", 50, 64, 1e-4, (50, 64, 1e-4), None),  # the study's software run: Adam
])
def test_train_section_resolves_to_each_tasks_own_training(task, epochs, batch, lr, baseline,
                                                           bits):
    from rramsim.studies.loading import experiment_config

    cfg = config_from_dict({"train": {"task": task}, "network": {"data_dir": "/data"}})
    assert (cfg.train.epochs, cfg.train.batch, cfg.train.lr) == (epochs, batch, lr)
    assert config_from_toml(to_toml(cfg)) == cfg
    exp = experiment_config(cfg)
    assert (exp.dataset, exp.train.epochs, exp.train.batch_size, exp.train.lr) == (
        task, epochs, batch, lr)
    b = exp.baseline_train
    assert (b.epochs, b.batch_size, b.lr, b.flip_limiter) == (*baseline, None)
    assert exp.activation_bits == bits
    assert exp.train.flip_limiter.start == 0.01 and exp.train.flip_limiter.end == 0.007
    if task == "fsdd":   # the study's SGD with momentum, gradient clipping for the baseline
        assert (exp.train.momentum, b.clip_grad_norm) == (0.9, 1.0)
    if task != "digits":
        assert exp.train.dtype == b.dtype == "float32"
    # explicit keys override the task's defaults, for the pruning only; the rest stays the task's
    over = config_from_dict({"train": {"task": task, "epochs": 3, "lr": 0.2},
                             "network": {"data_dir": "/data"}})
    assert (over.train.epochs, over.train.batch, over.train.lr) == (3, batch, 0.2)
    exp = experiment_config(over)
    assert (exp.train.epochs, exp.train.batch_size, exp.train.lr) == (3, batch, 0.2)
    assert (exp.baseline_train.epochs, exp.baseline_train.lr) == (baseline[0], baseline[2])


