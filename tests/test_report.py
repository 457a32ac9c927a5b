"""sweeps.report: the papers' tables first with our paper-preset numbers, seed spreads and one mark
rule for both signs; diagnostics with verdicts by a stated rule; every other run listed without a
paper number."""
import math
import os
import re

import numpy as np
import pytest

from deep_sparse import results_io
from deep_sparse.rows import pack_wrong, unpack_wrong
from deep_sparse.selection import mcnemar_exact
from sweeps import diagnostics, figure3, paper_numbers, report, report_diagnostics, report_tables, sparsity

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def net(network, activation, lr, valid, test, seed=0, pretrain_epochs=0, **extra):
    return {"network": network, "activation": activation, "lr": lr, "l1": 0.001, "seed": seed, "pretrain_lr": None,
            "pretrain_epochs": pretrain_epochs, "diverged": False, "dead": False, "valid_error": valid,
            "test_error": test, "sparsity": 0.84, "epochs_run": 20,
            "curves": {"valid_error": [0.03, valid], "valid_sparsity": [0.7, 0.84]}, **extra}


def cell(activation, pretrained, ours, lr, preset="paper", **extra):
    return {"experiment": "table1", "preset": preset, "dataset": "mnist", "metric": "test_error", "ours": ours,
            "cell": f"{activation}, {'with' if pretrained else 'without'} pre-training", "lr": lr, "pretrain_lr": None,
            "paper_key": paper_numbers.table1_key_for("mnist", activation, pretrained), "n_test": 10_000, **extra}


def write(root, folder, name, payload):
    results_io.atomic_write_json(str(root / folder / name), payload)


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results"
    write(root, "table1-paper", "cells.json", {"cells": [
        cell("half_negated_rectifier", False, 0.0167, 0.01, p_value=0.0025, equivalent=False),
        cell("tanh", False, 0.0193, 0.01)]})
    write(root, "table1-paper/mnist", "results.json", {"experiment": "table1", "preset": "paper", "rows": [
        net(0, "half_negated_rectifier", 0.1, 0.020, 0.0246), net(1, "half_negated_rectifier", 0.01, 0.0182, 0.0167),
        net(2, "tanh", 0.01, 0.0181, 0.0193)]})
    seeds = next(d for d in diagnostics.DIAGNOSTICS if d.name == "seeds-half-negated")
    folder = report_tables.in_results(diagnostics.folder(seeds))
    write(root, folder, "plan.json", {"grid": [{}, {}, {}]})
    write(root, folder, "results.json", {"experiment": "train", "rows": [
        net(0, "half_negated_rectifier", 0.01, 0.0182, 0.0167), net(1, "half_negated_rectifier", 0.01, 0.0175, 0.0187, 1),
        net(2, "half_negated_rectifier", 0.01, 0.018, 0.0172, 2)]})
    write(root, "table1-quick/mnist", "results.json", {"experiment": "table1", "preset": "quick", "rows": []})
    write(root, "table1-quick", "cells.json", {"cells": [cell("tanh", False, 0.1860, 0.1, preset="quick")]})
    return root


def sections(text):
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_the_interval_is_the_binomial_one_and_the_mark_treats_both_signs_alike():
    assert report_tables.interval(0.0143, 10_000) == pytest.approx(1.96 * math.sqrt(0.0143 * 0.9857 / 10_000))
    for sign in (1, -1):
        assert report_tables.mark(0.0143 + sign * 0.0022, 0.0143, 10_000) == "within"
        assert report_tables.mark(0.0143 + sign * 0.0024, 0.0143, 10_000) == ("+0.24" if sign > 0 else "-0.24")


def test_the_first_section_is_table1_with_the_seed_spread_and_the_mark_of_the_seed_mean(results):
    text = report.render(str(results), str(results / "report.md"))
    first = re.findall(r"^## (.+)$", text, flags=re.M)[0]
    assert first.startswith("AISTATS 2011, Table 1")
    errors = [0.0167, 0.0187, 0.0172]
    row = next(line for line in sections(text)[first].splitlines() if line.startswith("| Rectifier | 1.43"))
    mean, sd = 100 * np.mean(errors), 100 * np.std(errors, ddof=1)
    assert f"{mean:.2f} ± {sd:.2f} (n=3)" in row and f"+{mean - 1.43:.2f}" in row and "| 1.67 |" in row
    tanh = next(line for line in text.splitlines() if line.startswith("| Tanh | 1.57"))
    assert "| 1.93 |" in tanh and "+0.36" in tanh  # one seed: the selected network's mark
    assert os.path.exists(results / "report.json") and os.path.exists(results / "report_table1_curves.png")


def test_a_reduced_run_is_listed_without_any_paper_number(results):
    text = report.render(str(results), str(results / "report.md"))
    listing = next(body for title, body in sections(text).items() if title.startswith("Every other run"))
    assert "table1-quick" in listing and "quick" in listing
    assert "1.57" not in listing and "18.60" not in listing and "equivalent" not in listing
    assert "18.6" not in text  # the reduced cell's number appears nowhere


def test_a_diagnostic_without_networks_is_named_in_its_hypothesis_row_not_given_a_row(results):
    text = report.render(str(results), str(results / "report.md"))
    why = next(body for title, body in sections(text).items() if title.startswith("Why our numbers differ"))
    h4 = next(line for line in why.splitlines() if line.startswith("| H4 |"))
    assert "`untied-decoder-tanh`: not run yet" in h4
    assert not any(line.startswith("| [untied-decoder-tanh]") for line in why.splitlines())
    assert any(line.startswith("| [seeds-half-negated](") for line in why.splitlines())


def test_a_mcnemar_p_of_a_copy_that_did_not_reproduce_the_tables_network_is_not_shown(tmp_path):
    note = "the McNemar test used a retrained copy that did not reproduce the sweep's network: 1.78% against 1.88%"
    write(tmp_path, "t1", "cells.json", {"cells": [
        cell("rectifier", True, 0.0199, 0.01, p_value=0.44, note=note), cell("rectifier", False, 0.0178, 0.01),
        cell("tanh", True, 0.0147, 0.01, p_value=0.00013), cell("tanh", False, 0.0193, 0.01)]})
    lines, _ = report_tables.compact_table1(str(tmp_path), "t1")
    rectifier = next(line for line in lines if line.startswith("| Rectifier, not half-negated"))
    tanh = next(line for line in lines if line.startswith("| Tanh"))
    assert rectifier.endswith("| — * |") and "0.44" not in rectifier and tanh.endswith("| 0.00013 |")
    assert any(line.startswith("\\* Rectifier, not half-negated (extra row): no p shown") and "p = 0.44 for the copy"
               in line for line in lines)


@pytest.mark.parametrize("stored", [True, False])
def test_an_unfinished_sweeps_complete_pair_is_tested_on_its_stored_predictions(stored):
    with_wrong, without_wrong = wrong(range(0, 2)), wrong(range(0, 12))
    rows = [net(0, "half_negated_rectifier", 0.1, 0.015, 0.12, test_wrong=without_wrong),
            net(1, "half_negated_rectifier", 0.1, 0.014, 0.02, pretrain_epochs=10, pretrain_lr=0.01,
                **({"test_wrong": with_wrong} if stored else {})),
            net(2, "tanh", 0.1, 0.02, 0.02, test_wrong=with_wrong)]  # tanh's pre-trained cell: not trained
    cells = report_tables.cells_so_far({"preset": "paper", "preset_settings": {"lr": [0.1]}, "rows": rows})
    pair = [cells[("mnist", "half_negated_rectifier", arm)] for arm in (True, False)]
    expected = mcnemar_exact(unpack_wrong(with_wrong), unpack_wrong(without_wrong))["p_value"] if stored else None
    assert all(c["p_value"] == expected for c in pair) and (not stored or expected < 0.05)
    assert not stored or not pair[0]["equivalent"]
    assert cells[("mnist", "tanh", False)]["p_value"] is None


def test_the_report_goes_to_a_folder_that_does_not_exist_yet(results, tmp_path):
    out = tmp_path / "new" / "report.md"
    assert report.main([str(results), "--out", str(out)]) == 0
    assert out.exists() and (tmp_path / "new" / "report_table1_curves.png").exists()


def test_a_diagnostic_is_listed_once_under_its_question_not_again_among_the_other_runs(results):
    text = report.render(str(results), str(results / "report.md"))
    listing = next(body for title, body in sections(text).items() if title.startswith("Every other run"))
    why = next(body for title, body in sections(text).items() if title.startswith("Why our numbers differ"))
    assert "[seeds-half-negated](" in why and "seeds-half-negated" not in listing


def wrong(indices, n=100):
    flags = np.zeros(n, bool)
    flags[list(indices)] = True
    return pack_wrong(flags)


@pytest.mark.parametrize("pick_wrong, expected", [
    (range(0, 2), "confirmed"),    # 2 of 100 wrong: far better than Table 1's 20, and at the paper's 1.43%
    (range(0, 10), "partly"),      # significantly better, still far from the paper
    (range(0, 19), "refuted"),     # one example better: no evidence
])
def test_a_change_diagnostic_gets_its_verdict_by_the_stated_rule(pick_wrong, expected):
    baseline = net(1, "half_negated_rectifier", 0.01, 0.0182, 0.20, test_wrong=wrong(range(0, 20)))
    pick = net(7, "half_negated_rectifier", 0.1, 0.0150, len(pick_wrong) / 100, test_wrong=wrong(pick_wrong))
    if expected == "confirmed":
        pick["test_error"] = 0.0143
    diagnostic = next(d for d in diagnostics.DIAGNOSTICS if d.name == "l1-strength-lr")
    found = report_diagnostics.finding_from(diagnostic, [baseline | {"reused_from": "x"}, pick], 2, baseline)
    assert found.verdict.startswith(expected), found.verdict


def test_validation_picking_table1s_own_network_refutes_the_change():
    baseline = net(1, "half_negated_rectifier", 0.01, 0.0182, 0.0167)
    other = net(7, "half_negated_rectifier", 0.1, 0.0190, 0.0100)  # better on test, worse on validation
    diagnostic = next(d for d in diagnostics.DIAGNOSTICS if d.name == "l1-strength-lr")
    found = report_diagnostics.finding_from(diagnostic, [dict(baseline, reused_from="t1"), other], 2, baseline)
    assert found.verdict.startswith("refuted: validation still picks Table 1's own network")


def test_the_recorded_results_report_fits_two_screens_of_tables_then_the_rest(tmp_path):
    text = report.render(os.path.join(REPO, "results"), str(tmp_path / "report.md"))
    titles = re.findall(r"^## (.+)$", text, flags=re.M)
    assert titles[0].startswith("AISTATS 2011, Table 1") and titles[-1].startswith("Every other run")
    assert len(text.splitlines()) < 240  # grows by a row per diagnostic (26 defined)
    paper_part = text.split("## Why our numbers differ")[0]
    for folder in ("table1-quick", "figure3-quick", "table1-paper-mnist-rectifier"):
        assert folder not in paper_part


def test_the_sparsity_analysis_names_the_lr_closest_to_the_workshops_sparsity(tmp_path):
    rows = [{"activation": "rectifier", "l1": 0.0, "lr": lr, "valid_error": valid, "test_error": valid,
             "sparsity_layer_1": z[0], "sparsity_layer_2": z[1], "sparsity_layer_3": z[2],
             "curves": {"valid_sparsity": [0.70, None, 0.84]}}
            for lr, valid, z in ((0.1, 0.014, (0.82, 0.76, 0.70)), (0.01, 0.018, (0.50, 0.37, 0.32)))]
    write(tmp_path, "sparsity-paper/mnist", "results.json", {"rows": rows})
    text = "\n".join(sparsity.sparsity_without_l1(str(tmp_path), str(tmp_path)))
    assert "Closest to the paper's sparsity: lr 0.01 (50.0 / 37.0 / 32.0% zeros, 4.8 points away); validation " \
           "picks lr 0.1, 31.6 points away" in text
    assert "| 0.01 | 1.80 | 1.80 | 50.0 / 37.0 / 32.0 |" in text
    # the pick's own sparsity curve says whether fewer epochs could explain it
    assert "Over its 2 epochs its zeros on the validation set stay between 70.0 and 84.0% (the paper's layers " \
           "average 44.4%)" in text
    # the workshop's rectifier test error is 1.70 +- 0.25%: 1.80% lies inside, 1.40% outside
    assert text.endswith("has 1.70% test error; only lr 0.01's network lies within its interval.")


def test_figure3_leaves_dead_diverged_and_collapsed_networks_out_and_counts_them(tmp_path):
    rows = [dict(net(k, "rectifier", 0.01, 0.017, 0.018), l1=0.001 * k, sparsity=0.5 + 0.1 * k) for k in range(4)]
    rows[1].update(collapsed=True)
    rows[2].update(diverged=True)
    rows[3].update(dead=True)
    write(tmp_path, "figure3-paper", "results.json", {"rows": rows})
    text = "\n".join(figure3.report_lines(str(tmp_path), str(tmp_path)))
    assert "4 networks recorded; 3 left out as dead, diverged or collapsed (L1 0.001 to 0.003)" in text
    assert "| 0-85% | 1 | 1.80 |" in text


def test_a_pick_inside_the_papers_interval_but_no_better_than_table1s_network_is_inconclusive():
    baseline = net(1, "half_negated_rectifier", 0.01, 0.0182, 0.0167)  # no per-example errors recorded
    pick = net(7, "half_negated_rectifier", 0.1, 0.0154, 0.0155)
    diagnostic = next(d for d in diagnostics.DIAGNOSTICS if d.name == "l1-strength-lr")
    found = report_diagnostics.finding_from(diagnostic, [dict(baseline, reused_from="t1"), pick], 2, baseline)
    assert found.verdict.startswith("inconclusive: -0.12 points on test against Table 1's network, inside")


def test_only_the_seeds_of_the_cells_own_configuration_fill_its_seed_column(results):
    weak = next(d for d in diagnostics.DIAGNOSTICS if d.name == "seeds-l1-weak-lr-0.1-half-negated")
    assert weak.seeds_only and weak.cell == ("half_negated_rectifier", False)
    write(results, report_tables.in_results(diagnostics.folder(weak)), "results.json", {"rows": [
        net(0, "half_negated_rectifier", 0.1, 0.0154, 0.0155), net(1, "half_negated_rectifier", 0.1, 0.0155, 0.0149, 1)]})
    spreads = report_tables.seed_spreads(str(results), report_tables.table1_selected(str(results)))
    assert spreads[("half_negated_rectifier", False)].n == 3  # the preset's seeds
    # a cell whose selected network is the weak diagnostic's configuration takes those seeds instead
    chosen = {("half_negated_rectifier", False): net(9, "half_negated_rectifier", 0.1, 0.0154, 0.0155, l1=0.001)}
    weak_spread = report_tables.seed_spreads(str(results), chosen)[("half_negated_rectifier", False)]
    assert weak_spread.n == 2 and abs(weak_spread.mean - 0.0152) < 1e-9


def test_an_unfinished_table1_sweep_shows_its_cells_so_far_without_a_mark(tmp_path):
    rows = [net(k, "half_negated_rectifier", lr, valid, test, l1=0.0001)
            for k, (lr, valid, test) in enumerate([(1.0, 0.9, 0.9), (0.1, 0.0154, 0.0155), (0.01, 0.0164, 0.0171)])]
    rows[0]["diverged"] = True
    rows.append(net(3, "tanh", 1.0, 0.89, 0.897, l1=0.0, collapsed=True))  # the cell's only network so far
    rows.append(net(4, "tanh", 0.01, 0.0181, 0.0147, pretrain_epochs=10, l1=0.0))  # taken before its stacks ran
    write(tmp_path, "table1-paper/mnist", "results.json",
          {"experiment": "table1", "preset": "paper", "preset_settings": {"lr": [0.1, 0.01, 0.001, 0.0001]},
           "rows": rows})
    cells = report_tables.table1_cells(str(tmp_path))
    assert cells[("mnist", "half_negated_rectifier", False)]["ours"] == 0.0155
    assert cells[("mnist", "half_negated_rectifier", False)]["partial"] == "3 of 4"
    text = "\n".join(report_tables.aistats_table1(str(tmp_path))[0])
    line = next(line for line in text.splitlines() if line.startswith("| Rectifier |") and "1.43" in line)
    assert "1.55 (so far: 3 of 4 lrs trained)" in line and "within" not in line
    assert cells[("mnist", "tanh", False)]["ours"] is None and ("mnist", "tanh", True) not in cells
    assert "| Tanh | 1.57 | — (so far: 1 of 4 lrs trained) |" in text and "| Tanh | 1.16 (bold) | not run yet |" in text


@pytest.mark.parametrize("errors, expected", [
    ((0.0155, 0.0149, 0.0156), "+0.10 points from the paper's 1.43%, inside its interval (± 0.23)"),
    ((0.0167, 0.0187, 0.0172), "+0.32 points from the paper's 1.43%, outside its interval (± 0.23)"),
    ((0.0118, 0.0116, 0.0117), "-0.26 points from the paper's 1.43%, outside its interval (± 0.23)"),
])
def test_a_seed_mean_is_set_against_the_papers_interval_on_either_side(errors, expected):
    diagnostic = next(d for d in diagnostics.DIAGNOSTICS if d.name == "seeds-half-negated")
    rows = [net(k, "half_negated_rectifier", 0.01, 0.018, error, seed=k) for k, error in enumerate(errors)]
    found = report_diagnostics.finding_from(diagnostic, rows, 3, rows[0])
    assert found.verdict.endswith(expected), found.verdict


def test_a_diagnostic_that_completes_another_ones_grid_selects_over_both(results):
    ends = next(d for d in diagnostics.DIAGNOSTICS if d.name == "l1-weak-grid-ends-half-negated")
    assert ends.selects_with == ("l1-strength-lr",) and ends.values("--l1") == ("0.0001",)
    write(results, report_tables.in_results(diagnostics.folder(ends)), "plan.json", {"grid": [{}, {}]})
    write(results, report_tables.in_results(diagnostics.folder(ends)), "results.json", {"rows": [
        net(0, "half_negated_rectifier", 0.001, 0.0196, 0.0213, l1=0.0001)]})
    write(results, report_tables.in_results(diagnostics.folder_of("l1-strength-lr")), "results.json", {"rows": [
        net(0, "half_negated_rectifier", 0.1, 0.0154, 0.0155, l1=0.0001),
        net(1, "half_negated_rectifier", 0.1, 0.0150, 0.0140, l1=0.001)]})  # another L1: not in its grid
    found = report_diagnostics.finding(str(results), ends, {})
    assert (found.pick["lr"], found.pick["l1"], found.recorded, found.planned) == (0.1, 0.0001, 2, 3)


def test_a_diagnostic_whose_networks_all_failed_is_refuted_not_inconclusive():
    diagnostic = next(d for d in diagnostics.DIAGNOSTICS if d.name == "lr-grid-top-tanh")
    collapsed = net(0, "tanh", 1.0, 0.891, 0.897, l1=0.0, collapsed=True)
    baseline = net(9, "tanh", 0.01, 0.0181, 0.0193, l1=0.0)
    found = report_diagnostics.finding_from(diagnostic, [collapsed], 1, baseline)
    assert found.pick is None and found.verdict == "refuted: every network diverged, died or collapsed"


@pytest.mark.parametrize("finer_valid, expected", [
    (0.0190, "refuted: validation still picks Table 1's own network"),  # the finer grid loses on validation
    (0.0181, "refuted: validation still picks Table 1's own network"),  # a tie leaves Table 1's choice standing
    (0.0170, "inconclusive: -0.13 points"),  # it wins on validation, and its test error decides the rest
])
def test_a_finer_grid_competes_with_table1s_selected_network_on_validation(finer_valid, expected):
    baseline = net(9, "tanh", 0.01, 0.0181, 0.0193)
    finer = net(0, "tanh", 0.02, finer_valid, 0.0180)  # better on test in every case: never the criterion
    diagnostic = next(d for d in diagnostics.DIAGNOSTICS if d.name == "lr-grid-finer-tanh")
    assert diagnostic.extends_grid and diagnostic.cell == ("tanh", False)
    found = report_diagnostics.finding_from(diagnostic, [finer], 1, baseline)
    assert found.verdict.startswith(expected), found.verdict
    assert found.pick is (finer if finer_valid < 0.0181 else baseline)
