"""sweeps.report: three sections by scale (paper, paper with overrides, pipeline checks), seeds of
sweeps.train runs summarised by their validation pick and mean +- sd, no local path anywhere."""
import re

import pytest

from deep_sparse import results_io
from sweeps import common, figure3, paper_numbers, report

DATA_DIR_NOTE = ("not run: no files in /root/.cache/deep_sparse (norb: data directory /root/.cache/deep_sparse/norb "
                 "does not exist; place the files there)")


def net(seed, lr, valid, test, activation="rectifier", l1=0.001, network=0):
    return {"network": network, "activation": activation, "lr": lr, "l1": l1, "seed": seed, "pretrain_epochs": 0,
            "diverged": False, "valid_error": valid, "test_error": test, "sparsity": 0.85, "epochs_run": 20}


def write_run(root, folder, payload, cells=None):
    results_io.atomic_write_json(str(root / folder / "results.json"), payload)
    if cells is not None:
        results_io.atomic_write_json(str(root / folder / "cells.json"), {"cells": cells})


def cell(preset, label, ours, key, **extra):
    return {"experiment": "table1", "preset": preset, "dataset": "mnist", "cell": label, "metric": "test_error",
            "ours": ours, "paper_key": key, "n_test": 10_000, **extra}


def train_command(extra):
    return "python -m sweeps.train --dataset mnist " + extra


@pytest.fixture
def results(tmp_path):
    """A results folder with one run of each kind the report sorts."""
    root = tmp_path / "results"
    hn_key = paper_numbers.table1_key_for("mnist", "half_negated_rectifier", False)
    write_run(root, "table1-paper/mnist", {"experiment": "table1", "preset": "paper", "dataset": "mnist",
                                           "complete": True, "rows": [net(0, 0.01, 0.014, 0.015)]},
              [cell("paper", "half_negated_rectifier, without pre-training", 0.0150, hn_key)])
    write_run(root, "table1-override/mnist", {"experiment": "table1", "preset": "paper [--epochs 25]",
                                              "dataset": "mnist", "complete": True, "rows": [net(0, 0.1, 0.03, 0.03)]},
              [cell("paper [--epochs 25]", "tanh, without pre-training", 0.0353,
                    paper_numbers.table1_key_for("mnist", "tanh", False))])
    figure3_rows = [net(0, 0.01, 0.017, 0.018 + 0.001 * k, l1=l1, network=k) for k, l1 in enumerate([0, 0.005, 0.01])]
    write_run(root, "figure3-paper", {"experiment": "figure3", "preset": "paper", "complete": False,
                                      "command": "python3 -m sweeps.figure3 --out /root/out/figure3-paper",
                                      "preset_settings": {"l1": [0, 0.005, 0.01], "seeds": 2, "description": "PAPER"},
                                      "rows": figure3_rows})
    (root / "figure3-paper" / "figure3.png").write_bytes(b"png")
    # plain rectifier, seed 0 twice (an lr-grid run capped at 15 epochs, a run capped at 40), seeds 1 and 2;
    # lr 0.1 has the best test error of all (1.0%) but a bad validation error
    write_run(root, "mnist-rect-grid", {"experiment": "train", "command": train_command(
        "--activation rectifier --lr 0.1 0.01 --epochs 15"), "rows": [net(0, 0.1, 0.030, 0.010),
                                                                       net(0, 0.01, 0.0185, 0.0175, network=1)]})
    write_run(root, "mnist-rect-40", {"experiment": "train", "command": train_command(
        "--activation rectifier --lr 0.01 --epochs 40"), "rows": [net(0, 0.01, 0.018, 0.017)]})
    write_run(root, "mnist-rect-seeds", {"experiment": "train", "command": train_command(
        "--activation rectifier --lr 0.01 --seed 1 2 --epochs 30 --out /tmp/runs/rect-seeds"),
        "rows": [net(1, 0.01, 0.017, 0.018), net(2, 0.01, 0.016, 0.019, network=1)]})
    write_run(root, "mnist-hn-seeds", {"experiment": "train", "command": train_command(
        "--activation half_negated_rectifier --lr 0.01 --seed 0 1"),
        "rows": [net(0, 0.01, 0.016, 0.015, "half_negated_rectifier"),
                 net(1, 0.01, 0.017, 0.017, "half_negated_rectifier", network=1)]})
    write_run(root, "mnist-reduced", {"experiment": "train", "command": train_command(
        "--activation tanh --train-size 1000 --hidden-sizes 100-100-100"),
        "rows": [net(0, 0.1, 0.2, 0.21, "tanh", l1=0.0)]})
    write_run(root, "table1-quick/mnist", {"experiment": "table1", "preset": "quick", "dataset": "mnist",
                                           "complete": True, "rows": [net(0, 0.1, 0.2, 0.177)]},
              [cell("quick", "half_negated_rectifier, without pre-training", 0.177, hn_key,
                    note="SYNTHETIC data: not comparable with the paper (paper: 0.885)")])
    write_run(root, "table1-quick/norb", {"experiment": "table1", "preset": "quick", "dataset": "norb",
                                          "not_run": DATA_DIR_NOTE, "rows": []},
              [dict(cell("quick", "rectifier, with pre-training", None, None, note=DATA_DIR_NOTE), dataset="norb")])
    return root


def sections(text):
    """{title: text} of the report's ## sections."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def render(results):
    return report.render(str(results), str(results / "report.md"))


def test_three_sections_in_order_then_the_runs(results):
    text = render(results)
    titles = re.findall(r"^## (.+)$", text, flags=re.M)
    assert titles == ["Paper scale", "Paper scale with overrides", "Pipeline checks (reduced presets)",
                      "Runs (every results file)"]


def test_paper_section_holds_only_the_unmodified_preset_beside_the_paper(results):
    paper = sections(render(results))["Paper scale"]
    line = next(l for l in paper.splitlines() if "half_negated_rectifier, without pre-training" in l)
    assert "1.500" in line and "1.430" in line and "+0.070" in line
    assert "tanh" not in paper and "17.700" not in paper and "sweeps.train" not in paper
    # Figure 3's paper sweep: its summary, how many networks it holds, its figure linked relatively
    assert "3 of its 6 networks" in paper and "Sweep not finished" in paper
    assert "| L1 | networks |" in paper and "](figure3-paper/figure3.png)" in paper


def test_overrides_are_labelled_with_what_differed(results):
    overrides = sections(render(results))["Paper scale with overrides"]
    line = next(l for l in overrides.splitlines() if "tanh, without pre-training" in l)
    assert "--epochs 25" in line and "3.530" in line and "1.570" in line and "+1.960" in line
    assert "full-scale run of sweeps.train" in overrides and "quick" not in overrides


def test_train_seeds_give_the_validation_pick_and_mean_and_sd_never_the_best_test(results):
    overrides = sections(render(results))["Paper scale with overrides"]
    line = next(l for l in overrides.splitlines() if "| rectifier, without pre-training, lr 0.01, L1 0.001" in l)
    cells = [c.strip() for c in line.split("|")]
    # seed 0 counts once, from the 40-epoch run (test 1.7, not the 15-epoch run's 1.75): tests 1.7 1.8 1.9
    assert "3" in cells and "1.800 ± 0.100" in cells
    assert "seed 2: valid 1.600, test 1.900" in cells  # lowest validation error among the seeds
    assert "{0.1, 0.01}" in cells  # lr chosen on validation from both
    assert "1.430" not in line and "no paper number" in line and "half-negated" in line  # plain rectifier
    assert "1.000" not in overrides and "1.750" not in overrides  # best test error, the shadowed duplicate
    line = next(l for l in overrides.splitlines() if "| half_negated_rectifier, without pre-training" in l)
    # tests 1.5 and 1.7: mean 1.6, sd 0.1414; paper 1.43
    assert "1.600 ± 0.141" in line and "1.430" in line and "+0.170" in line and "seed 0: valid 1.600" in line


def test_pipeline_checks_carry_no_paper_number(results):
    text = render(results)
    pipeline = sections(text)["Pipeline checks (reduced presets)"]
    assert "17.700" in pipeline and "quick: quick preset (reduced)" in pipeline
    assert "1.430" not in pipeline and "difference" not in pipeline and "(paper:" not in pipeline
    assert "paper source" not in pipeline and "SYNTHETIC data: not comparable with the paper" in pipeline
    assert "mnist-reduced" in pipeline and "21.000" in pipeline  # a reduced sweeps.train run is a check
    assert "### Could not be run" in pipeline and "table1 / norb" in pipeline


def test_no_local_path_appears(results, tmp_path):
    text = render(results)
    assert str(tmp_path) not in text and "/root" not in text and "/tmp" not in text and ".cache" not in text
    assert report.local_paths(text) == []
    assert "no files in DATA_DIR (norb: data directory DATA_DIR/norb" in text
    assert "--out …/rect-seeds" in text and "--out …/figure3-paper" in text


def test_without_local_paths_keeps_relative_paths():
    text = report.without_local_paths("see /home/me/.cache/deep_sparse/mnist, ~/.cache/deep_sparse and /tmp/a/b/; "
                                      "keep results/x/y, train/valid/test, ../up, http://host/p and 1/2")
    assert text == ("see DATA_DIR/mnist, DATA_DIR and …/b; keep results/x/y, train/valid/test, ../up, "
                    "http://host/p and 1/2")
    assert report.local_paths(text) == []


def test_plots_only_for_the_compared_sections(results):
    render(results)
    assert (results / "report_paper.png").stat().st_size > 0
    assert (results / "report_overrides.png").stat().st_size > 0
    assert not (results / "report_pipeline.png").exists()


def test_a_mean_and_sd_cell_is_shown_beside_the_papers_mean_and_sd(tmp_path):
    key = paper_numbers.workshop_pretrained_key("rectifier_l1", "test")
    write_run(tmp_path, "workshop_table2-paper/mnist", {"experiment": "workshop_table2", "preset": "paper",
                                                        "dataset": "mnist", "complete": True, "rows": []},
              [dict(cell("paper", "Rectifier + L1 penalty, test error", 0.0126, key, sd=0.0005),
                    experiment="workshop_table2")])
    paper = sections(report.render(str(tmp_path), str(tmp_path / "r.md")))["Paper scale"]
    line = next(l for l in paper.splitlines() if "Rectifier + L1 penalty" in l)
    assert "1.260 ± 0.050" in line and "1.160 ± 0.070" in line and "+0.100" in line


def test_seed_summary_and_lr_choice_are_on_validation():
    networks = [dict(net(s, lr, v, t), max_epochs=30, patience=5, folder="f")
                for s, lr, v, t in [(0, 0.1, 0.05, 0.001), (1, 0.1, 0.01, 0.002), (0, 0.01, 0.02, 0.03),
                                    (1, 0.01, 0.021, 0.04)]]
    # mean validation: lr 0.1 -> 0.03, lr 0.01 -> 0.0205
    assert report.choose_lr(networks) == {report.setting_of(networks[0]): 0.01}
    summary = report.seed_summary(networks[2:])
    assert summary["pick"]["seed"] == 0 and summary["mean"] == pytest.approx(0.035)
    assert summary["sd"] == pytest.approx((2 * 0.005 ** 2) ** 0.5) and summary["seeds"] == [0, 1]


def test_collapsed_seeds_are_counted_and_left_out_of_the_means():
    networks = [dict(net(0, 1000.0, 0.80, 0.90), collapsed=True), net(1, 1000.0, 0.02, 0.03)]
    summary = report.seed_summary(networks)
    assert summary["collapsed"] == 1 and summary["diverged"] == 0
    assert summary["pick"]["seed"] == 1 and summary["mean"] == pytest.approx(0.03)
    assert report.mean_valid_error(networks) == pytest.approx(0.02)
    assert common.best_by_validation([networks[1] | {"valid_error": 0.9}, networks[0]], ["lr"]) == [
        networks[1] | {"valid_error": 0.9}]


def test_figure3_counts_collapsed_networks_apart():
    rows = [dict(network=k, l1=0.0, seed=k, diverged=False, dead=False, collapsed=k == 1, test_error=0.1 * (k + 1),
                 valid_error=0.1, sparsity=0.5) for k in range(3)]
    summary = figure3.summarize(rows, "tiny", "")
    assert "collapsed 1 (a training error no better than the most frequent class)" in summary
    line = next(l for l in summary.splitlines() if l.startswith("| 0 "))
    # networks, diverged, dead, collapsed, and the mean test error of networks 0 and 2
    assert line.split(" | ")[1:6] == ["3", "0", "0", "1", "20.00"]


def test_an_unfinished_sweep_lists_its_stacks_and_where_rows_come_from(tmp_path):
    trained = dict(net(0, 0.01, 0.018, 0.019, network=4), pretrain_epochs=10, pretrain_lr=0.01,
                   pretrain_reconstruction=41.5, reused_from="results/other: network 2")
    skipped = {"network": 5, "activation": "rectifier", "lr": 0.01, "l1": 0.001, "seed": 0, "pretrain_epochs": 10,
               "pretrain_lr": 0.1, "pretrain_reconstruction": 57.25, "diverged": False, "valid_error": None,
               "finetuned": False}
    broken = dict(skipped, network=6, pretrain_lr=1.0, pretrain_reconstruction=None, diverged=True)
    write_run(tmp_path, "table1-paper/mnist", {"experiment": "table1", "preset": "paper", "dataset": "mnist",
                                               "complete": False, "rows": [net(0, 0.1, 0.02, 0.021), trained],
                                               "not_finetuned": [skipped, broken]})
    text = report.render(str(tmp_path), str(tmp_path / "report.md"))
    lines = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "| pre-training lr | reconstruction |" in lines["network"]
    assert "| 0.01 | 41.5 |" in lines["4"] and "from results/other: network 2" in lines["4"]
    assert "| 0.1 | 57.25 |" in lines["5"] and "not fine-tuned: pre-training lr not selected" in lines["5"]
    assert "not fine-tuned: pre-training diverged" in lines["6"]
    assert "| 1.90 | 1.90 |" not in lines["5"] and lines["0"].count("|  |") >= 2  # no pre-training: empty cells


def test_an_unfinished_table1_sweep_shows_the_cells_whose_networks_are_all_recorded(tmp_path):
    def point(activation, pretrain_epochs, lr, pretrain_lr=0.1):
        return {"activation": activation, "pretrain_epochs": pretrain_epochs, "lr": lr, "pretrain_lr": pretrain_lr}

    grid = ([point("half_negated_rectifier", 0, lr) for lr in (0.1, 0.01)] + [point("tanh", 0, lr) for lr in (0.1, 0.01)]
            + [point("half_negated_rectifier", 10, lr, plr) for plr in (0.1, 0.01) for lr in (0.1, 0.01)])
    # the half-negated rectifier without pre-training: both recorded, lr 0.1 has the better test error but
    # the worse validation error; tanh: one of two recorded (not settled)
    rows = [dict(net(0, 0.1, 0.020, 0.012, "half_negated_rectifier", network=0), pretrain_lr=0.1),
            dict(net(0, 0.01, 0.018, 0.0167, "half_negated_rectifier", network=1), pretrain_lr=0.1),
            dict(net(0, 0.1, 0.019, 0.019, "tanh", l1=0.0, network=2), pretrain_lr=0.1)]
    # with pre-training: the stacks of pre-training lr 0.01 were selected, both fine-tuned
    rows += [dict(net(0, lr, valid, 0.015, "half_negated_rectifier", network=n), pretrain_epochs=10, pretrain_lr=0.01,
                  pretrain_reconstruction=40.0) for n, lr, valid in [(6, 0.1, 0.0170), (7, 0.01, 0.0175)]]
    skipped = [{"network": n, "activation": "half_negated_rectifier", "lr": lr, "l1": 0.001, "seed": 0,
                "pretrain_epochs": 10, "pretrain_lr": 0.1, "pretrain_reconstruction": 57.0, "diverged": False,
                "valid_error": None, "finetuned": False} for n, lr in [(4, 0.1), (5, 0.01)]]
    write_run(tmp_path, "table1-paper/mnist", {"experiment": "table1", "preset": "paper", "dataset": "mnist",
                                               "complete": False, "sizes": {"n_test": 10_000}, "rows": rows,
                                               "not_finetuned": skipped})
    results_io.atomic_write_json(str(tmp_path / "table1-paper/mnist/plan.json"), {"grid": grid})
    paper = sections(report.render(str(tmp_path), str(tmp_path / "r.md")))["Paper scale"]
    settled = {line.split(" | ")[1]: line for line in paper.splitlines() if line.startswith("| mnist | ")}
    without = settled["half_negated_rectifier, without pre-training"]
    assert "| 1.670 | 1.430 | +0.240 |" in without and "among 2 networks: lr 0.01, valid 1.80%" in without
    assert "among 2 networks: pre-training lr 0.01, lr 0.1, valid 1.70%" in settled[
        "half_negated_rectifier, with pre-training"]
    assert not any(label.startswith("tanh") for label in settled)
    assert "![Paper scale: ours against the paper](r_paper.png)" in paper and (tmp_path / "r_paper.png").exists()


def test_a_note_beside_the_results_is_quoted_in_its_runs_section_only(results):
    (results / "table1-paper" / "NOTE.md").write_text("# Why tanh misses\n\nNot the epoch cap: flat for 15 epochs.\n")
    (results / "table1-quick" / "mnist" / "NOTE.md").write_text("quick run note\n")
    (results / "NOTE.md").write_text("a note on everything\n")  # no run's folder: not shown
    text = render(results)
    parts = sections(text)
    paper, pipeline = parts["Paper scale"], parts["Pipeline checks (reduced presets)"]
    assert "### Developers' note: `table1-paper/NOTE.md`\n\n> # Why tanh misses\n>\n> Not the epoch cap" in paper
    assert "quick run note" not in paper and "> quick run note" in pipeline
    assert "Why tanh" not in pipeline and "a note on everything" not in text
    assert text.count("Developers' note") == 2


def test_a_damaged_results_file_is_one_line_naming_it(tmp_path, capsys):
    from sweeps import common
    (tmp_path / "results" / "x").mkdir(parents=True)
    (tmp_path / "results" / "x" / "results.json").write_text('{"rows": [')
    assert common.cli(report.main, [str(tmp_path / "results"), "--out", str(tmp_path / "r.md")]) == common.EXIT_ERROR
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "x/results.json: not valid JSON" in error
    assert not (tmp_path / "r.md").exists()


def test_a_table1_cell_shows_its_mcnemar_test_and_its_own_note():
    cell = {"dataset": "mnist", "cell": "tanh, with pre-training", "metric": "test_error", "ours": 0.0147,
            "paper_key": None, "preset": "paper", "experiment": "table1", "p_value": 0.000126,
            "equivalent": False, "note": "a note"}
    assert report.compared_row(cell)["note"] == ("no paper number for this cell; with vs without pre-training: "
                                                 "McNemar p = 0.00013, different; a note")
    cell.update(p_value=0.44, equivalent=True, note="")
    assert report.compared_row(cell)["note"].endswith("McNemar p = 0.44, statistically equivalent")
    del cell["p_value"]
    assert report.compared_row(cell)["note"] == "no paper number for this cell"


def test_the_paper_section_lists_every_network_of_a_finished_sweep():
    row = {"network": 0, "activation": "tanh", "pretrain_epochs": 0, "pretrain_lr": 0.01, "lr": 0.1, "l1": 0.0,
           "valid_error": 0.02, "test_error": 0.021, "sparsity": 0.0, "best_epoch": 3, "epochs_run": 5,
           "diverged": False}
    run = {"experiment": "table1", "preset": "paper", "dataset": "mnist", "folder": "t/mnist", "rows": [row],
           "not_finetuned": []}
    cell = {"experiment": "table1", "preset": "paper", "dataset": "mnist"}
    lines = report.grid_lines([run], [cell])
    assert lines[0] == "### The networks behind the cells" and any("| 0 | tanh |" in line for line in lines)
    assert report.grid_lines([run], []) == []  # unfinished: listed with the pending sweeps instead
