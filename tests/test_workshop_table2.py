"""sweeps.workshop_table2: the workshop paper's Table 2 (DAE pre-training with Gaussian noise, squared
error, tied weights; mean and sd of the 5 best models on validation)."""
import dataclasses
import json
import statistics

import pytest

import fakes
from deep_sparse import experiment
from sweeps import paper_numbers, workshop_table2 as wt2


def network(index, valid, test, activation="rectifier", diverged=False, **extra):
    return dict(network=index, activation=activation, valid_error=valid, test_error=test, diverged=diverged,
                lr=0.01, pretrain_lr=0.01, l1=0.001 if activation == "rectifier" else 0.0, sparsity=0.8,
                epochs_run=3, **extra)


# A row of 7 networks: the diverged one has the lowest validation error, and the 6th best on validation
# has by far the best test error: a selection on test error (or one keeping diverged networks) differs.
ROW = [network(0, 0.012, 0.016), network(1, 0.010, 0.012), network(2, 0.015, 0.001), network(3, 0.011, 0.014),
       network(4, 0.014, 0.020), network(5, 0.005, 0.002, diverged=True), network(6, 0.013, 0.018)]


def test_five_best_are_chosen_on_validation_error():
    best = wt2.best_on_validation(ROW)
    assert [n["network"] for n in best] == [1, 3, 0, 6, 4]  # by validation; no diverged, not network 2


def test_cells_hold_mean_and_sample_sd_of_the_five_best_by_hand():
    test_cell, valid_cell = wt2.row_cells(ROW, "rectifier_l1", "paper", "mnist", {"n_test": 10_000}, 5)
    # test errors of networks 1, 3, 0, 6, 4: 0.012 0.014 0.016 0.018 0.020 -> mean 0.016,
    # sd = sqrt((16 + 4 + 0 + 4 + 16) e-6 / 4) = sqrt(1e-5)
    assert test_cell["ours"] == pytest.approx(0.016)
    assert test_cell["sd"] == pytest.approx(1e-5 ** 0.5)
    # validation errors 0.010 ... 0.014 -> mean 0.012, sd = sqrt((4 + 1 + 0 + 1 + 4) e-6 / 4)
    assert valid_cell["ours"] == pytest.approx(0.012)
    assert valid_cell["sd"] == pytest.approx(2.5e-6 ** 0.5)
    assert test_cell["metric"] == "test_error" and valid_cell["metric"] == "valid_error"
    assert test_cell["paper_key"] == paper_numbers.workshop_pretrained_key("rectifier_l1", "test")
    assert valid_cell["paper_key"] == paper_numbers.workshop_pretrained_key("rectifier_l1", "valid")
    assert paper_numbers.lookup(test_cell["paper_key"])["value"] == pytest.approx(0.0116)
    assert [n["network"] for n in test_cell["selected"]] == [1, 3, 0, 6, 4]
    assert test_cell["models"] == 5 and test_cell["networks"] == 7 and not test_cell["note"]


def test_a_row_with_fewer_live_networks_says_so_and_other_data_sets_get_no_paper_number():
    cells = wt2.row_cells(ROW[:3] + [ROW[5]], "rectifier_l1", "tiny", "shapeset", {}, 5)
    assert cells[0]["models"] == 3 and "only 3" in cells[0]["note"]
    assert cells[0]["ours"] == pytest.approx(statistics.fmean([0.012, 0.016, 0.001]))
    assert all(c["paper_key"] is None for c in cells)


def test_table2_cells_split_the_rows_by_activation():
    tanh = [network(10 + i, 0.02 + 0.001 * i, 0.03, activation="tanh") for i in range(6)]
    cells = wt2.table2_cells(ROW + tanh, "paper", "mnist", {}, 5)
    assert [c["paper_key"] for c in cells] == [paper_numbers.workshop_pretrained_key(r, s)
                                               for r in ("rectifier_l1", "tanh") for s in ("test", "valid")]
    assert cells[2]["networks"] == 6 and cells[2]["ours"] == pytest.approx(0.03)


def test_paper_grid_is_the_papers_rows_with_squared_error_strategies():
    grid = wt2.table2_grid(wt2.PRESETS["paper"])
    rectifier = [p for p in grid if p["activation"] == "rectifier"]
    tanh = [p for p in grid if p["activation"] == "tanh"]
    assert len(rectifier) == 4 * 4 * 3 and len(tanh) == 4 * 4 and len(grid) == 64
    assert {p["l1"] for p in tanh} == {0.0} and min(p["l1"] for p in rectifier) > 0
    assert {p["pretrain_strategy"] for p in rectifier} == {"rectifier_squared"}
    assert {p["pretrain_strategy"] for p in tanh} == {"linear_squared_after"}
    assert {p["noise_level"] for p in grid} == {wt2.PRESETS["paper"].noise_std}
    assert {p["pretrain_epochs"] for p in grid} == {wt2.PRESETS["paper"].pretrain_epochs} != {0}


def test_several_noise_levels_are_a_grid_axis_and_one_leaves_the_grid_as_it_was():
    paper = wt2.PRESETS["paper"]
    swept = wt2.table2_grid(dataclasses.replace(paper, noise_std=(0.1, 0.5)))
    assert len(swept) == 2 * len(wt2.table2_grid(paper)) and {p["noise_level"] for p in swept} == {0.1, 0.5}
    for level in (0.1, 0.5):
        at_level = [{k: v for k, v in p.items() if k != "noise_level"} for p in swept if p["noise_level"] == level]
        assert at_level == [{k: v for k, v in p.items() if k != "noise_level"} for p in wt2.table2_grid(paper)]
    assert wt2.table2_grid(dataclasses.replace(paper, noise_std=(0.25,))) == wt2.table2_grid(paper)


@pytest.mark.parametrize("activation", sorted(wt2.SQUARED_STRATEGY))
def test_each_strategy_is_a_squared_error_the_library_accepts(activation):
    from deep_sparse import config, dae

    strategy = wt2.SQUARED_STRATEGY[activation]
    assert strategy in dae.STRATEGIES and "squared" in strategy
    dae.check_strategy(activation, strategy)
    config.TrainConfig(activation=activation, pretrain_strategy=strategy, pretrain_epochs=1, corruption="gaussian")


def test_presets_and_help(capsys):
    assert all(type(p) is wt2.WorkshopTable2Preset for p in wt2.PRESETS.values())
    assert "REDUCED" in wt2.PRESETS["quick"].description
    assert "PAPER SCALE" in wt2.PRESETS["paper"].description
    assert wt2.PRESETS["tiny"].description.startswith("TESTS ONLY")
    paper = wt2.PRESETS["paper"]
    assert paper.hidden_sizes == (1000, 1000, 1000) and paper.lr == (0.1, 0.01, 0.001, 0.0001)
    assert paper.datasets == ("mnist",) and paper.sizes == {} and paper.best == 5
    with pytest.raises(SystemExit) as exit_info:
        wt2.main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "python -m sweeps.workshop_table2" in text and "VALIDATION error" in text and "Gaussian" in text
    for preset in ("quick", "paper"):
        assert " ".join(wt2.PRESETS[preset].description.split()) in text


def fake_load_splits(name, data_dir, download=True, **options):
    return fakes.fake_load_splits(name, data_dir, download, width=32, block=10, **options)


def test_tiny_run_writes_cells_from_the_five_best_on_validation(tmp_path, monkeypatch):
    monkeypatch.setattr(experiment, "load_splits", fake_load_splits)
    out = tmp_path / "wt2"
    assert wt2.main(["--preset", "tiny", "--out", str(out), "--no-progress"]) == 0
    results = json.loads((out / "shapeset" / "results.json").read_text())
    assert results["experiment"] == "workshop_table2" and results["preset"] == "tiny" and results["complete"]
    rows = results["rows"]
    assert len(rows) == 12 and all(r["pretrain_epochs"] == 1 for r in rows)
    cells = json.loads((out / "cells.json").read_text())["cells"]
    assert len(cells) == 4 and all(c["models"] == 5 and c["networks"] == 6 for c in cells)
    for row_name, activation in wt2.ACTIVATION_OF_ROW.items():
        live = sorted((r for r in rows if r["activation"] == activation and not r["diverged"]),
                      key=lambda r: (r["valid_error"], r["network"]))
        test_cell = next(c for c in cells if c["metric"] == "test_error" and c["cell"].startswith(
            paper_numbers.WORKSHOP_NEURONS[row_name]))
        assert [n["network"] for n in test_cell["selected"]] == [r["network"] for r in live[:5]]
        assert test_cell["ours"] == pytest.approx(statistics.fmean(r["test_error"] for r in live[:5]))
    summary = (out / "summary.md").read_text()
    assert "Workshop Table 2 (tiny preset)" in summary and "NOT a paper-scale reproduction" in summary
