"""Table 1's McNemar tests are recorded and reused for the same pair of selected networks."""
import dataclasses
import time

import numpy as np
import pytest

from deep_sparse import presets, results_io
from deep_sparse.names import DeadlineReached
from deep_sparse.rows import pack_wrong
from sweeps import figure4, table1


def test_a_recorded_test_is_not_retrained(tmp_path, monkeypatch):
    calls = []

    def fake_errors(config, row, data):
        calls.append(row["network"])
        rng = np.random.default_rng(row["network"])
        return rng.random(100) < 0.1, 0.1

    monkeypatch.setattr(table1, "per_example_errors", fake_errors)

    class Config:
        hidden_sizes = (16, 16)

        def replace(self, **changes):
            return self

    row = {"diverged": False, "test_error": 0.1, "pretrain_epochs": 0}
    chosen = {("tanh", True): dict(row, network=5), ("tanh", False): dict(row, network=1)}
    preset = table1.PRESETS["tiny"].with_overrides(activations=["tanh"])
    path = str(tmp_path / "significance.json")
    first = table1.significance_tests(Config(), preset, chosen, None, path)
    assert calls == [5, 1] and first["tanh"]["networks"] == [5, 1]
    again = table1.significance_tests(Config(), preset, chosen, None, path)
    assert calls == [5, 1] and again == first
    chosen[("tanh", False)] = dict(row, network=2)  # another selection: tested anew
    table1.significance_tests(Config(), preset, chosen, None, path)
    assert calls == [5, 1, 5, 2]


def test_a_pair_is_not_started_without_time_to_retrain_it(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(table1, "per_example_errors", lambda config, row, data: (
        calls.append(row["network"]) or (np.zeros(10, bool), 0.1)))
    # the sweep recorded 10 s per network-epoch over two invocations
    results_io.atomic_write_json(str(tmp_path / "results.json"), {
        "timings": {"groups": [{"network_epochs": 50, "train_seconds": 400.0}]},
        "previous_runs": [{"timings": {"groups": [{"network_epochs": 50, "train_seconds": 600.0}]}}]})
    assert table1.seconds_per_network_epoch(str(tmp_path)) == 10.0

    class Config:
        hidden_sizes = (16, 16)

        def replace(self, **changes):
            return self

    row = {"diverged": False, "test_error": 0.1, "epochs_run": 20}
    # 20 + 20 + 2 layers x 5 pre-training epochs = 50 network-epochs: about 500 s
    chosen = {("tanh", True): dict(row, network=5, pretrain_epochs=5), ("tanh", False): dict(row, network=1,
                                                                                            pretrain_epochs=0)}
    preset = table1.PRESETS["tiny"].with_overrides(activations=["tanh"])
    path = str(tmp_path / "significance.json")
    with pytest.raises(DeadlineReached, match=r"networks \[5, 1\] needs about 8 min"):
        table1.significance_tests(Config(), preset, chosen, None, path, deadline=time.time() + 400)
    assert calls == []
    table1.significance_tests(Config(), preset, chosen, None, path, deadline=time.time() + 600)
    assert calls == [5, 1]


def test_rows_with_their_test_errors_are_not_retrained(tmp_path, monkeypatch):
    monkeypatch.setattr(table1, "per_example_errors", lambda *args: pytest.fail("retrained"))

    class Config:
        hidden_sizes = (16, 16)

        def replace(self, **changes):
            return self

    rng = np.random.default_rng(0)
    a, b = rng.random(1000) < 0.1, rng.random(1000) < 0.2
    row = {"diverged": False, "test_error": 0.1, "pretrain_epochs": 0, "epochs_run": 5}
    chosen = {("tanh", True): dict(row, network=5, test_wrong=pack_wrong(a)),
              ("tanh", False): dict(row, network=1, test_wrong=pack_wrong(b))}
    preset = table1.PRESETS["tiny"].with_overrides(activations=["tanh"])
    results_io.atomic_write_json(str(tmp_path / "results.json"),
                                 {"timings": {"groups": [{"network_epochs": 10, "train_seconds": 100.0}]}})
    test = table1.significance_tests(Config(), preset, chosen, None, str(tmp_path / "significance.json"),
                                     deadline=time.time() - 1)  # no time left: none is needed
    expected = table1.mcnemar_exact(a, b)
    assert {k: test["tanh"][k] for k in expected} == expected and expected["b"] + expected["c"] > 100
    assert test["tanh"]["retrained_test_error"] == {"pretrained": None, "no_pretraining": None}


def test_a_retrained_copy_that_misses_the_sweep_is_named_in_the_cell_note():
    test = {"retrained_test_error": {"pretrained": None, "no_pretraining": 0.0188},
            "sweep_test_error": {"pretrained": 0.0199, "no_pretraining": 0.0178}}
    note = table1.retrained_copy_note(test)
    assert "the network without pre-training gave 1.78% in the sweep and 1.88% retrained" in note
    assert "1.99%" not in note
    reproduced = {"retrained_test_error": {"pretrained": None, "no_pretraining": 0.0167},
                  "sweep_test_error": {"pretrained": 0.0206, "no_pretraining": 0.0167}}
    assert table1.retrained_copy_note(reproduced) == ""
    assert table1.retrained_copy_note({"note": "not tested"}) == ""


def test_the_paper_preset_trains_the_summed_costs_grid_at_our_mean_costs_values():
    paper, quick = table1.PRESETS["paper"], table1.PRESETS["quick"]
    assert paper.minibatch_cost == "summed" and (paper.lr, paper.l1) == ((0.1, 0.01, 0.001, 0.0001), 0.001)
    grid = table1.table1_grid(paper)
    assert sorted({row["lr"] for row in grid}) == [0.001, 0.01, 0.1, 1.0]
    assert sorted({row["pretrain_lr"] for row in grid if row["pretrain_epochs"]}) == [0.001, 0.01, 0.1, 1.0]
    assert {row["l1"] for row in grid if row["activation"] in presets.L1_ACTIVATIONS} == {0.0001}
    assert {row["l1"] for row in grid if row["activation"] not in presets.L1_ACTIVATIONS} == {0.0}
    # a preset that reads the cost as a mean trains at its own values
    assert quick.minibatch_cost == "mean"
    assert sorted({row["lr"] for row in table1.table1_grid(quick)}) == [0.01, 0.1]
    with pytest.raises(ValueError, match="minibatch_cost must be one of mean, summed"):
        dataclasses.replace(quick, minibatch_cost="sum")


@pytest.mark.parametrize("name", ["quick", "paper"])
def test_figure4_puts_the_l1_penalty_on_the_rectifier_networks_only_as_table1_does(name):
    grid = figure4.figure4_grid(figure4.PRESETS[name], [0.1, 1.0])
    rectifier = {row["l1"] for row in grid if row["activation"] == "rectifier"}
    assert {row["activation"] for row in grid} == {"rectifier", "tanh"}
    assert rectifier == {0.001 if name == "quick" else 0.0001}
    assert {row["l1"] for row in grid if row["activation"] == "tanh"} == {0.0}
