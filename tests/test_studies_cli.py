"""The study subcommands on a user's network file and TOML configuration."""

import numpy as np
import pandas as pd
import pytest

from rramsim import mapper
from rramsim.cli import main


@pytest.fixture()
def network_file(tmp_path):
    """A random pruned 64-16-10 MLP with its conductance pairs (digits-sized input)."""
    rng = np.random.default_rng(0)
    ws, ms = [rng.normal(size=(64, 16)), rng.normal(size=(16, 10))], []
    for w in ws:
        ms.append(rng.uniform(size=w.shape) < 0.5)
    net = mapper.network_from_layers(ws, ms)        # the mapper's linear conductance map
    return mapper.save_network(tmp_path / "net.npz", net)


def _config(tmp_path, extra=""):
    p = tmp_path / "study.toml"
    p.write_text("[run]\ntest_samples = 40\n[converters]\ncalibration_samples = 32\n"
                 "[mapping]\ntile_rows = 32\ntile_cols = 32\n[cosim]\ntiles = 0\n" + extra)
    return p


def test_netlist_command_writes_a_deck(tmp_path, network_file, capsys):
    deck = tmp_path / "t1.cir"
    rc = main(["netlist", "--network", str(network_file), "--config", str(_config(tmp_path)),
               "--tile", "1", "--out", str(deck), "--no-progress"])
    assert rc == 0
    text = deck.read_text()
    assert ".end" in text.lower() and text.count("\n") > 32 * 32
    assert "tile 1 (32 x 32" in capsys.readouterr().out


def test_bad_config_and_tile_fail_cleanly(tmp_path, network_file, capsys):
    bad = _config(tmp_path, "[circuit]\nr_wordline_ohm = -2.0\n")
    assert main(["netlist", "--network", str(network_file), "--config", str(bad)]) == 1
    assert "circuit.r_wordline_ohm" in capsys.readouterr().err
    assert main(["netlist", "--network", str(network_file), "--config",
                 str(_config(tmp_path)), "--tile", "99", "--no-progress"]) == 1
    assert "--tile 99" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_command_on_a_network_file(tmp_path, network_file, capsys):
    out = tmp_path / "cmp"
    rc = main(["compare", "--network", str(network_file), "--config", str(_config(tmp_path)),
               "--out", str(out), "--no-progress"])
    assert rc == 0
    acc = pd.read_csv(out / "accuracy.csv")
    assert {"software", "behavioural", "circuit"} <= set(acc.columns)
    assert (out / "report.md").read_text().count("## ") >= 5
    assert "accuracy software" in capsys.readouterr().out


def test_irdrop_refuses_negative_maps(tmp_path, network_file, capsys):
    with pytest.raises(SystemExit):
        main(["irdrop", "--network", str(network_file), "--maps", "-5"])
    assert "--maps" in capsys.readouterr().err
