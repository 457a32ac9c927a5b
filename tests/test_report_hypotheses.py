"""The gap study's hypotheses in the report: each diagnostic tests one hypothesis, each is judged
against the Table 1 it changes, and a hypothesis takes the strongest verdict of its diagnostics while
saying how many are still to run."""
import os

from deep_sparse import results_io
from sweeps import diagnostics, report_diagnostics, report_tables


def net(network, activation, lr, valid, test, seed=0, **extra):
    return {"network": network, "activation": activation, "lr": lr, "l1": 0.0001, "seed": seed, "pretrain_lr": 0.001,
            "pretrain_epochs": 10, "noise_level": 0.25, "diverged": False, "dead": False, "valid_error": valid,
            "test_error": test, "sparsity": 0.9, **extra}


def table1_with(root, folder, row):
    results_io.atomic_write_json(os.path.join(root, folder, "cells.json"), {"cells": [{
        "preset": "paper", "dataset": "mnist", "cell": "half_negated_rectifier, with pre-training",
        "ours": row["test_error"], "lr": row["lr"], "pretrain_lr": row["pretrain_lr"]}]})
    results_io.atomic_write_json(os.path.join(root, folder, "mnist", "results.json"), {"rows": [row]})


def test_every_diagnostic_tests_exactly_one_hypothesis():
    named = [name for hypothesis in diagnostics.HYPOTHESES for name in hypothesis.tested_by]
    assert sorted(named) == sorted(diagnostics.by_name())
    noise = next(h for h in diagnostics.HYPOTHESES if h.label == "noise")
    assert all(diagnostics.by_name()[name].seeds_only for name in noise.tested_by)


def test_a_diagnostic_is_judged_against_the_table1_it_changes(tmp_path):
    root = str(tmp_path)
    summed = net(23, "half_negated_rectifier", 0.1, 0.0154, 0.0154)
    table1_with(root, report_tables.in_results(diagnostics.TABLE1_SUMMED), summed)
    table1_with(root, report_tables.in_results(diagnostics.TABLE1_MEAN_COST),
                net(40, "half_negated_rectifier", 0.01, 0.0190, 0.0206, l1=0.001))
    untied = diagnostics.by_name()["untied-decoder-half-negated"]
    assert untied.table1 == diagnostics.TABLE1_SUMMED and untied.cell == ("half_negated_rectifier", True)
    selected = report_diagnostics.selected_by_table(root)
    results_io.atomic_write_json(os.path.join(root, report_tables.in_results(diagnostics.folder(untied)),
                                              "results.json"), {"rows": [net(0, "half_negated_rectifier", 0.1, 0.0150, 0.0149)]})
    found = report_diagnostics.finding(root, untied, selected[untied.table1])
    assert found.baseline["network"] == 23
    assert round(100 * found.effect, 2) == -0.05


def test_a_hypothesis_takes_its_strongest_verdict_and_counts_what_is_not_run(tmp_path):
    root = str(tmp_path)
    by_name = diagnostics.by_name()
    baseline = net(1, "tanh", 0.01, 0.0181, 0.0193, pretrain_epochs=0, l1=0.0)
    found = []
    for d in diagnostics.DIAGNOSTICS:
        rows = []
        if d.name == "init-zero-softmax-tanh":
            rows = [net(0, "tanh", 0.01, 0.0183, 0.0188, pretrain_epochs=0, l1=0.0)]
        elif d.name == "seeds-tanh":
            rows = [dict(baseline, seed=s, test_error=e) for s, e in ((0, 0.0193), (1, 0.0173), (2, 0.0183))]
        found.append(report_diagnostics.finding_from(d, rows, len(rows) or None, baseline if rows else None))
    spreads = {diagnostics.TABLE1_MEAN_COST: {("tanh", False): report_tables.Spread(0.0183, 0.0010, 3)},
               diagnostics.TABLE1_SUMMED: {}}
    lines = report_diagnostics.hypotheses_table(root, root, found, spreads)
    h1 = next(line for line in lines if line.startswith("| H1 |"))
    assert "init-zero-softmax-tanh): refuted, -0.05 ± 0.10" in h1
    assert h1.endswith("| refuted so far (2 of 3 not run yet) |")
    noise = next(line for line in lines if line.startswith("| noise |"))
    assert "seeds-tanh): 1.83 ± 0.10% (n=3)" in noise and noise.endswith("| s.d. 0.10 to 0.10 points over seeds |")
    h5 = next(line for line in lines if line.startswith("| H5 |"))
    assert "`pretrain-lr-per-layer-half-negated`: not run yet" in h5 and h5.endswith("| not run yet |")
    assert by_name["init-zero-softmax-tanh"].table1 == diagnostics.TABLE1_MEAN_COST


def test_a_missed_cell_lists_the_diagnostics_of_its_own_network_by_verdict():
    tanh = net(2, "tanh", 0.01, 0.0181, 0.0193, pretrain_epochs=0, l1=0.0)
    rectifier_summed = net(23, "half_negated_rectifier", 0.1, 0.0154, 0.0154)
    rectifier_mean = net(40, "half_negated_rectifier", 0.01, 0.0190, 0.0206, l1=0.001)
    selected = {diagnostics.TABLE1_SUMMED: {("tanh", False): tanh, ("half_negated_rectifier", True): rectifier_summed},
                diagnostics.TABLE1_MEAN_COST: {("tanh", False): dict(tanh, network=9),
                                               ("half_negated_rectifier", True): rectifier_mean}}
    by_name = diagnostics.by_name()
    found = [report_diagnostics.finding_from(by_name["lr-grid-finer-tanh"],
                                             [net(0, "tanh", 0.02, 0.0165, 0.0181, pretrain_epochs=0, l1=0.0)], 3, tanh),
             report_diagnostics.finding_from(by_name["init-zero-softmax-tanh"], [], None, None),
             # a diagnostic of the mean-cost table's pre-trained rectifier, another network than the summed cell's
             report_diagnostics.finding_from(by_name["l1-strength-pretrained-half-negated"],
                                             [net(0, "half_negated_rectifier", 0.01, 0.0171, 0.0164)], 2,
                                             rectifier_mean)]
    cells = [{"activation": "tanh", "pretrained": False, "paper": 0.0157, "mark": "+0.26"},
             {"activation": "half_negated_rectifier", "pretrained": True, "paper": 0.012, "mark": "+0.34"},
             {"activation": "softplus", "pretrained": False, "paper": 0.0177, "mark": "within"}]
    lines = report_diagnostics.misses(found, cells, selected)
    assert lines[2] == "- Tanh, without pre-training (+0.26 points): inconclusive: lr-grid-finer-tanh -0.12; " \
                       "not run yet: init-zero-softmax-tanh."
    assert lines[3] == "- Rectifier, with pre-training (+0.34 points): no diagnostic yet."
    assert len(lines) == 4
