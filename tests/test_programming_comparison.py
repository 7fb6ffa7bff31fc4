"""The study-wide comparison: stuck cells shared by every network, costs and spreads by hand,
the verdict from the numbers, and the table filled on a tiny digits run."""

import csv

import numpy as np
import pytest

from rramsim import devmodel
from rramsim.studies.config import load_config
from rramsim.studies.programming_study import comparison as C
from rramsim.studies.programming_study import report
from rramsim.studies.programming_study.study import Training

US = 1e-6


def test_stuck_cells_identical_for_every_network_on_one_array():
    shapes = [(30, 20), (20, 10)]
    rng = np.random.default_rng(0)
    # two networks of the same architecture: a pruned one (formed and RESET cells) and a
    # programmed one (targets across the range)
    pruned = [np.where(rng.random((2, *s)) < 0.5, 14 * US, 0.5 * US) for s in shapes]
    base = [rng.uniform(1 * US, 28.4 * US, size=(2, *s)) for s in shapes]
    model = devmodel.error_model("neurram")
    stuck = C.stuck_for(shapes, seed=3, fraction=0.02)
    again = C.stuck_for(shapes, seed=3, fraction=0.02)
    other = C.stuck_for(shapes, seed=4, fraction=0.02)
    for a, b, o in zip(stuck, again, other, strict=True):
        assert np.array_equal(a.on, b.on) and np.array_equal(a.off, b.off)
        assert not np.array_equal(a.on, o.on)
    g_p = C.cells_at(pruned, model, 86400.0, stuck, seed=3, g_on=28.4 * US)
    g_b = C.cells_at(base, model, 86400.0, stuck, seed=3, g_on=28.4 * US)
    n = sum(2 * a * b for a, b in shapes)
    n_on = sum(int(s.on.sum()) for s in stuck)
    n_off = sum(int(s.off.sum()) for s in stuck)
    # 2 % each, within 4 binomial standard deviations
    for k in (n_on, n_off):
        assert abs(k - 0.02 * n) < 4 * np.sqrt(n * 0.02 * 0.98)
    for s, p, b, p0, b0 in zip(stuck, g_p, g_b, pruned, base, strict=True):
        assert np.all(p[s.on] == 28.4 * US) and np.all(b[s.on] == 28.4 * US)
        assert np.all(p[s.off] == 0.0) and np.all(b[s.off] == 0.0)
        free = ~(s.on | s.off)
        # the other cells relaxed (moved) and are not at the stuck levels
        assert np.mean(p[free] != p0[free]) > 0.99 and np.mean(b[free] != b0[free]) > 0.99
    # the relaxation draws are shared by position: where two networks hold the same level, the
    # cell relaxes to the same value in both
    pick = [rng.random((2, *s)) < 0.5 for s in shapes]
    mixed = [np.where(k, p0, b0) for k, p0, b0 in zip(pick, pruned, base, strict=True)]
    g_m = C.cells_at(mixed, model, 86400.0, None, seed=3, g_on=28.4 * US)
    g_p0 = C.cells_at(pruned, model, 86400.0, None, seed=3, g_on=28.4 * US)
    for k, m, p in zip(pick, g_m, g_p0, strict=True):
        # to rounding: the level-dependent spread is evaluated on different arrays (a different
        # draw would move a cell by about a percent)
        np.testing.assert_allclose(m[k], p[k], rtol=1e-12, atol=0)
    # t = 0: no relaxation
    r0 = C.cells_at(base, model, 0.0, None, seed=3, g_on=28.4 * US)
    assert all(np.array_equal(a, b) for a, b in zip(r0, base, strict=True))


def test_weight_noise_for_by_hand():
    model = devmodel.error_model("neurram")
    mp = C.target_map(model)
    assert (mp.g_min, mp.g_max) == pytest.approx((1 * US, 28.4 * US), rel=1e-12)
    t = 86400.0

    def var(g):
        return float(model.program_sigma(np.array([g]))[0] ** 2
                     + model.relax_sigma(np.array([g]), t)[0] ** 2)

    lo, hi = var(1 * US), var(28.4 * US)
    # w / max|w| = -1, 0, 1: pairs (g_min, g_max), (g_min, g_min), (g_max, g_min)
    want = np.sqrt(((hi + lo) + 2 * lo + (hi + lo)) / 3) / (mp.g_max - mp.g_min)
    assert C.weight_noise_for(model, t, mp, n=3) == pytest.approx(want, rel=1e-12)
    cmo = devmodel.error_model("cmo-hfox")
    assert (C.target_map(cmo).g_min, C.target_map(cmo).g_max) == pytest.approx((9 * US, 28.4 * US), rel=1e-12)


def test_programming_time_and_pulses_by_hand():
    p = devmodel.TAOX_40NM
    # one layer, 3 inputs x 2 outputs; the weight (1, 0) and (2, 1) pruned
    mask = np.ones((3, 2), bool)
    mask[1, 0] = mask[2, 1] = False
    c = C.pruned_cost([mask], forming_J=1e-9, reset_J=2e-9, tile_cols=512)
    assert c.cells == 12 and c.pulses == 12 + 2 * 2 and c.reads == 0
    assert c.energy_J == pytest.approx(3e-9, rel=1e-12)
    # forming: 3 rows of one pulse each; RESET: rows 1 and 2 have a pruned pair
    assert c.time_s == pytest.approx(3 * p.form_width + 2 * p.reset_width, rel=1e-12)
    # tiles of 2 columns: a (2, 2, 2) layer becomes 2 rows of 4 columns in two tiles
    pulses = np.array([[[1, 5], [2, 0]], [[3, 1], [0, 4]]])   # (pair, input, output)
    reads = pulses + 1
    # row 0: columns (G+, G-) of output 0 = (1, 3), of output 1 = (5, 1); row 1: (2, 0), (0, 4)
    # tile 1 (output 0): row maxima 3 and 2 pulses, 4 and 3 reads; tile 2: 5 and 4, 6 and 5
    want = (3 + 2 + 5 + 4) * 1e-7 + (4 + 3 + 6 + 5) * 10e-9
    got = C._rows_time(pulses, reads, 0.0, 1e-7, 2)
    assert got == pytest.approx(want, rel=1e-12)


def test_write_verify_cost_counts_forming_pulses_reads_and_read_energy():
    rng_t = np.random.default_rng(0)
    tg = [rng_t.uniform(1 * US, 28.4 * US, size=(2, 4, 3))]
    c = C.write_verify_cost(tg, rng=np.random.default_rng(5))
    # the same calls by hand
    gen = np.random.default_rng(5)
    f = devmodel.form(tg[0].shape, rng=gen)
    r = devmodel.write_verify_incremental(tg[0], rng=gen, state=f.state, tolerance_frac=0.02,
                                          g_max=28.4 * US)
    pulses = int(np.sum(f.cost.pulses) + np.sum(r.cost.pulses))
    assert c.pulses == pulses and c.reads == int(np.sum(r.cost.reads))
    read_j = float(np.sum(r.cost.reads * 0.1**2 * r.conductance * 10e-9))
    want = float(np.sum(f.cost.energy) + np.sum(r.cost.energy)) + read_j
    assert c.energy_J == pytest.approx(want, rel=1e-12)
    assert read_j > 0


def _row(seed, net, acc, t=1.0, f=0.0, model="neurram"):
    return {"seed": seed, "error_model": model, "network": net, "time_s": t,
            "stuck_fraction": f, "accuracy": acc, "pulses_per_cell": 1.5 if net == "pruned" else 30,
            "verify_reads": 0 if net == "pruned" else 100, "program_energy_J": 1.0 if
            net == "pruned" else 3.0, "program_time_s": 1.0 if net == "pruned" else 4.0,
            "inference_board_J": 1e-6, "inference_integrated_J": 1e-9, "gpu_J": 1e-8}


def test_verdict_and_flip_follow_the_numbers():
    rows = []
    for seed, jitter in ((0, 0.0), (1, 0.02)):
        rows += [_row(seed, "pruned", 0.90 + jitter), _row(seed, "baseline", 0.95 + jitter),
                 _row(seed, "baseline-hwa", 0.93),
                 _row(seed, "pruned", 0.88, t=86400.0), _row(seed, "baseline", 0.80, t=86400.0),
                 _row(seed, "baseline-hwa", 0.85, t=86400.0)]
    text = "\n".join(C.verdict(rows, "fsdd"))
    # t = 1 s: pruned 91 +- 1, best baseline 96 +- 1: the baseline by 5 points
    assert "the baseline wins by 5.0 points accuracy (pruned 91.0 +- 1.0 %" in text
    assert "best baseline baseline 96.0 +- 1.0 %" in text
    # one day: pruned 88, best baseline (hwa) 85: flips by +3
    assert "flips at: neurram, t = 1d, stuck 0 % (+3.0)" in text
    assert "+19.9 points accuracy" in text and "margin is -5.0" in text
    assert "30.0 programming pulses per cell against the pruned network's 1.5 (3.0x the energy, " \
           "4.0x the time)" in text


def test_verdict_starts_at_the_first_error_model_given_and_labels_two_days():
    rows = []
    for model in ("neurram", "cmo-hfox"):          # not alphabetical: the user's order counts
        for t in (1.0, 172800.0):
            rows += [_row(0, "pruned", 0.90, t=t, model=model),
                     _row(0, "baseline", 0.95 if t == 1.0 else 0.85, t=t, model=model),
                     _row(0, "baseline-hwa", 0.80, t=t, model=model)]
    text = "\n".join(C.verdict(rows, "fsdd"))
    assert text.startswith("**fsdd** (neurram, t = 1 s, stuck 0 %): the baseline wins by 5.0")
    assert "neurram, t = 2d, stuck 0 % (+5.0); cmo-hfox, t = 2d, stuck 0 % (+5.0)" in text
    assert [r["error_model"] for r in C.summary(rows, "fsdd")][::6] == ["neurram", "cmo-hfox"]


@pytest.mark.parametrize("seconds, label", [(1.0, "1 s"), (60.0, "1min"), (5400.0, "90min"),
                                            (3600.0, "1h"), (86400.0, "1d"),
                                            (172800.0, "2d"), (90000.0, "25h")])
def test_time_label(seconds, label):
    assert C.time_label(seconds) == label


@pytest.mark.slow
def test_table_filled_on_a_tiny_digits_run(tmp_path):
    cfg = load_config(None).replace("train", hidden=(24,), max_train=300)
    cfg = C.comparison_config(cfg.replace("run", test_samples=60))
    assert (cfg.mapping.tile_rows, cfg.readout.rows_per_read, cfg.readout.calibration) == (
        512, 128, "group")
    # small tiles keep the test fast (the study's 512 x 512 tiles take minutes here)
    cfg = cfg.replace("mapping", tile_rows=64, tile_cols=64).replace("readout", rows_per_read=32)
    axes = C.Axes(seeds=2, times=(86400.0,), faults=(0.0, 0.02))
    res = C.compare(cfg, "digits", axes=axes, training=Training(epochs=1))
    assert len(res.rows) == 2 * 3 * 1 * 2
    paths = report.write_comparison(res, cfg, tmp_path, command="test")
    with open(paths["csv"], newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(res.rows)
    table = [ln for ln in report.comparison_table(res)[2:]]
    assert len(table) == 3 * 1 * 2
    for ln in table:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        assert len(cells) == 14 and all(cells), ln          # every column filled
    text = paths["report"].read_text()
    assert "32 rows per read" in text and "'group'" in text and "64 x 64 tiles" in text
    # costs: the baselines take more pulses than the pruned network's forming + RESET
    summ = C.summary(res.rows, "digits")
    pr = [r for r in summ if r["network"] == "pruned"]
    assert all(1 < r["pulses_per_cell"] < 2 for r in pr)
    assert all(r["pulses_per_cell"] > 2 for r in summ if r["network"] != "pruned")
    # stuck cells change at least one accuracy
    accs = {(r["network"], r["time_s"], r["stuck_fraction"]): r["accuracy"] for r in summ}
    assert len(set(accs.values())) > 1


def test_cli_refuses_bad_comparison_options(tmp_path, capsys):
    from rramsim.cli import main

    for args, msg in ((["--error-model", "ideal"], "error models are"),
                      (["--error-model", "neurram", "--times", "1 fortnight"], "time after"),
                      (["--error-model", "neurram", "--faults", "0,0.7"], "[0, 0.5]")):
        with pytest.raises(SystemExit) as exc:
            main(["programming-study", *args, "--out", str(tmp_path / "a")])
        assert exc.value.code == 2 and msg in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(C.ProgrammingStudyError, match="error model 'x'"):
        C.Axes(error_models=("x",))


def test_state_at_reads_back_the_conductances():
    """A device state placed at given conductances reads them back (the sinh law's chord at
    v_read is exp(-gap / g0) times a per-device constant); 0 S goes to the largest gap."""
    st = devmodel.form((3, 4), rng=20).state
    g = np.linspace(0.5 * US, 30 * US, 12).reshape(3, 4)
    np.testing.assert_allclose(devmodel.read_conductance(C.state_at(st, g)), g, rtol=1e-12)
    zero = C.state_at(st, np.zeros((3, 4)))
    assert np.all(zero.gap == st.params.gap_max)


def test_reprogrammed_cells_are_back_within_the_write_verify_band():
    """Filament-model cells programmed, relaxed to one day (most leave the 2 %-of-g_max band),
    then refreshed: every converged cell is back within the band, up to the 1 % read noise of
    its verify reads (5 sigmas of the target), and at least 95 % converge."""
    rng = np.random.default_rng(21)
    tg = [rng.uniform(1 * US, 28.4 * US, size=(2, 20, 10))]
    prog = C.write_verify_cost(tg, rng=np.random.default_rng(22), keep_states=True)
    band = 0.02 * 28.4 * US
    relaxed = C.cells_at([devmodel.read_conductance(prog.states[0])],
                         devmodel.error_model("filament"), 86400.0, None, seed=23, g_on=0.0)
    assert np.mean(np.abs(relaxed[0] - tg[0]) > band) > 0.5
    res = C.reprogram(prog.states, relaxed, tg, rng=24)
    r = res[0]
    assert r.tolerance == pytest.approx(band, rel=1e-12)
    assert r.converged.mean() >= 0.95
    err = np.abs(r.conductance - tg[0])
    assert np.all(err[r.converged] <= band + 0.05 * tg[0][r.converged])
    # the refresh starts from the relaxed cells: the cells left in the band cost one read, no pulse
    inside = np.abs(relaxed[0] - tg[0]) < 0.5 * band
    assert np.all(r.cost.reads[inside & (r.cost.pulses == 0)] == 1)


def test_refresh_cost_by_hand_on_a_toy_array():
    """Two refreshed layers' pulses, reads, energies by hand; the stuck cells cost nothing; time
    per tile row as devmodel.programming_time counts it."""
    from types import SimpleNamespace

    pulses = np.array([[[2, 0], [1, 3]], [[0, 4], [5, 1]]])          # (pair, input, output)
    reads = pulses + 1
    energy = pulses * 1e-12
    g = np.full((2, 2, 2), 10 * US)
    res = [SimpleNamespace(conductance=g, cost=devmodel.ProgramCost(pulses=pulses, energy=energy,
                                                                    reads=reads))]
    on = np.zeros((2, 2, 2), bool)
    on[1, 1, 0] = True                      # the cell with 5 pulses and 6 reads is stuck on
    stuck = [SimpleNamespace(on=on, off=np.zeros_like(on))]
    c = C.refresh_cost(res, stuck, tile_cols=4)
    assert c.cells == 8 and c.pulses == 16 - 5 and c.reads == 24 - 6
    read_j = 18 * 0.1 ** 2 * 10 * US * 10e-9        # v_read 0.1 V, 10 ns reads at 10 uS
    assert c.energy_J == pytest.approx(11e-12 + read_j, rel=1e-12)
    # one tile of 4 columns: row 0 columns (G+, G-) = (2, 0), (0, 4); row 1 = (1, 0 stuck), (3, 1)
    # row maxima 4 and 3 pulses, 5 and 4 reads; 100 ns pulses, 10 ns reads
    assert c.time_s == pytest.approx((4 + 3) * 1e-7 + (5 + 4) * 10e-9, rel=1e-12)
    free = C.refresh_cost(res, None, tile_cols=4)
    assert free.pulses == 16 and free.reads == 24
    assert free.time_s == pytest.approx((4 + 5) * 1e-7 + (5 + 6) * 10e-9, rel=1e-12)


@pytest.mark.slow
def test_cli_reprogram_on_tiny_digits(tmp_path):
    """--reprogram adds one re-programmed row per baseline and time > 0, whose programming cost
    is the first programming plus the refresh's own, and a refresh column to the table."""
    from rramsim.cli import main

    cfg = tmp_path / "tiny.toml"
    cfg.write_text("[run]\ntest_samples = 40\n[train]\nhidden = [12]\n")
    out = tmp_path / "rp"
    assert main(["programming-study", "--config", str(cfg), "--error-model", "filament",
                 "--reprogram", "--seeds", "1", "--epochs", "1", "--max-train", "150",
                 "--times", "1d", "--faults", "0", "--no-hardware-aware", "--no-progress",
                 "--out", str(out)]) == 0
    with open(out / "comparison.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["network"] for r in rows].count("baseline-reprogrammed") == 1
    assert len(rows) == 3
    by = {r["network"]: r for r in rows}
    base, again = by["baseline"], by["baseline-reprogrammed"]
    cells = int(base["cells"])
    assert float(again["pulses_per_cell"]) == pytest.approx(
        float(base["pulses_per_cell"]) + float(again["reprogram_pulses_per_cell"]), rel=1e-9)
    assert float(again["program_energy_J"]) == pytest.approx(
        float(base["program_energy_J"]) + float(again["reprogram_energy_J"]), rel=1e-9)
    assert float(again["program_time_s"]) == pytest.approx(
        float(base["program_time_s"]) + float(again["reprogram_time_s"]), rel=1e-9)
    # every cell is read at least once by the refresh's verify; one day moves most cells
    assert int(again["verify_reads"]) - int(base["verify_reads"]) >= cells
    assert float(again["reprogram_pulses_per_cell"]) > 1
    text = (out / "report.md").read_text()
    assert "refresh at t: pulses/cell" in text and "baseline-reprogrammed" in text
