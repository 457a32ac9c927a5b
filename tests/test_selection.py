"""Issue 11.3 and 11.6: one selection rule for every module that pre-trains (deep_sparse.selection):
the pre-training lr on the clean validation reconstruction error, then the rest on the validation
error; never the test error."""
import math

import pytest

from deep_sparse import selection
from sweeps import figure4, pretrain_strategies, sentiment, table1


def row(**fields) -> dict:
    """A result row as deep_sparse.sweep.run writes it (the fields selection reads, and a test error)."""
    base = dict(activation="rectifier", pretrain_epochs=1, pretrain_lr=0.01, lr=0.1, noise_level=0.25,
                pretrain_reconstruction=10.0, valid_error=0.5, test_error=0.5, diverged=False)
    base.update(fields)
    return base


def test_the_pretraining_lr_is_chosen_on_reconstruction_error_before_the_validation_error():
    rows = [
        row(pretrain_lr=0.1, lr=0.1, pretrain_reconstruction=20.0, valid_error=0.10),  # best validation
        row(pretrain_lr=0.1, lr=0.01, pretrain_reconstruction=20.0, valid_error=0.12),
        row(pretrain_lr=0.01, lr=0.1, pretrain_reconstruction=5.0, valid_error=0.30),
        row(pretrain_lr=0.01, lr=0.01, pretrain_reconstruction=5.0, valid_error=0.20),  # chosen
    ]
    chosen = selection.select(rows, selection.by_fields("activation"))
    assert chosen == {("rectifier",): rows[3]}


def test_the_test_error_never_selects():
    rows = [row(lr=0.1, valid_error=0.2, test_error=0.9), row(lr=0.01, valid_error=0.3, test_error=0.0)]
    assert selection.best_by_validation(rows) is rows[0]


def test_within_chooses_the_pretraining_lr_per_noise_level_and_the_noise_level_on_validation():
    rows = [
        # noise 0.1: lr 0.1 reconstructs best (the lowest reconstruction of all) but classifies worse
        row(noise_level=0.1, pretrain_lr=0.1, pretrain_reconstruction=1.0, valid_error=0.40),
        row(noise_level=0.1, pretrain_lr=0.01, pretrain_reconstruction=2.0, valid_error=0.35),
        # noise 0.25: lr 0.01 reconstructs best there and classifies best of the kept rows
        row(noise_level=0.25, pretrain_lr=0.1, pretrain_reconstruction=4.0, valid_error=0.10),
        row(noise_level=0.25, pretrain_lr=0.01, pretrain_reconstruction=3.0, valid_error=0.30),
    ]
    kept = selection.lowest_reconstruction(rows, within=("noise_level",))
    assert kept == [rows[0], rows[3]]
    assert selection.select(rows, selection.by_fields("activation"), within=("noise_level",))[("rectifier",)] is rows[3]
    # without `within`, one pre-training lr (0.1, of the lowest error of all) for every noise level
    assert selection.select(rows, selection.by_fields("activation"))[("rectifier",)] is rows[2]


def test_diverged_rows_and_rows_without_pretraining():
    rows = [
        row(pretrain_epochs=0, pretrain_reconstruction=None, valid_error=0.4),  # passes step 1 untouched
        row(pretrain_lr=0.1, pretrain_reconstruction=1.0, diverged=True, valid_error=math.nan),
        row(pretrain_lr=0.01, pretrain_reconstruction=3.0, valid_error=0.3),
    ]
    assert selection.reconstruction_error(rows[1]) == math.inf
    assert selection.lowest_reconstruction(rows) == [rows[0], rows[2]]
    assert selection.select(rows, lambda r: "all")["all"] is rows[2]
    every_one_diverged = [row(diverged=True, lr=lr) for lr in (0.1, 0.01)]
    assert selection.best_by_validation(every_one_diverged) is every_one_diverged[0]


def test_bad_rows_are_refused_with_the_field_named():
    with pytest.raises(ValueError, match="result row 1: no field 'pretrain_lr'"):
        selection.lowest_reconstruction([row(), {"diverged": False, "valid_error": 0.1, "pretrain_epochs": 1}])
    with pytest.raises(ValueError, match="no rows"):
        selection.best_by_validation([])


def test_table1_selects_by_the_rule_in_its_order():
    rows = [
        row(activation="tanh", pretrain_epochs=0, pretrain_reconstruction=None, valid_error=0.3),
        row(activation="tanh", pretrain_lr=0.1, pretrain_reconstruction=9.0, valid_error=0.1),
        row(activation="tanh", pretrain_lr=0.01, pretrain_reconstruction=8.0, valid_error=0.2),
        row(activation="softplus", pretrain_epochs=0, pretrain_reconstruction=None, valid_error=0.3),
    ]
    chosen = table1.select(rows)
    assert list(chosen) == [("tanh", False), ("tanh", True), ("softplus", False)]
    assert chosen[("tanh", True)] is rows[2] and chosen[("tanh", False)] is rows[0]


def test_figure4_and_pretrain_strategies_select_the_pretraining_lr_on_reconstruction():
    for module in (figure4, pretrain_strategies, sentiment):
        paper = module.PRESETS["paper"]
        assert paper.pretrain_lr == (0.1, 0.01, 0.001, 0.0001)
        assert all(1 <= len(p.pretrain_lr) <= 2 for name, p in module.PRESETS.items() if name != "paper")
        assert "reconstruction error" in paper.description
    points = [row(labeled_fraction=0.1, pretrain_lr=0.1, pretrain_reconstruction=9.0, valid_error=0.1),
              row(labeled_fraction=0.1, pretrain_lr=0.01, pretrain_reconstruction=8.0, valid_error=0.2)]
    assert figure4.select_points(points) == [points[1]]
    strategies = [row(pretrain_strategy="softplus_squared", pretrain_lr=0.1, pretrain_reconstruction=9.0, valid_error=0.1),
                  row(pretrain_strategy="softplus_squared", pretrain_lr=0.01, pretrain_reconstruction=8.0, valid_error=0.2),
                  # another strategy's (lower) reconstruction errors are not compared with these
                  row(pretrain_strategy="sigmoid_cross_entropy", pretrain_reconstruction=1.0, valid_error=0.3)]
    assert pretrain_strategies.select_strategies(strategies) == [strategies[2], strategies[1]]


def test_the_grids_pretrain_every_pretraining_lr_and_leave_one_for_networks_without():
    preset = figure4.PRESETS["paper"].with_overrides(activations=["rectifier"], lr=[0.1], fractions=[0.5])
    grid = figure4.figure4_grid(preset, [0.5])
    # the paper preset's pre-training lrs {0.1, ..., 0.0001} on a summed cost: ours {1, ..., 0.001}
    assert sorted((p["pretrain_epochs"] > 0, p["pretrain_lr"]) for p in grid) == [
        (False, 1.0), (True, 0.001), (True, 0.01), (True, 0.1), (True, 1.0)]
    grid = pretrain_strategies.strategies_grid(pretrain_strategies.PRESETS["paper"].with_overrides(lr=[0.1]))
    baseline = [p for p in grid if p["pretrain_strategy"] is None]
    assert len(baseline) == 1 and len(grid) == 1 + 4 * len({p["pretrain_strategy"] for p in grid} - {None})


def test_a_collapsed_network_is_left_out_like_a_diverged_one():
    # a collapsed network (training error no better than the most frequent class) may still score a
    # lower validation error than one that learned, on a small or skewed validation set
    collapsed = row(lr=1000.0, valid_error=0.40, collapsed=True)
    learned = row(lr=0.1, valid_error=0.45)
    assert selection.best_by_validation([collapsed, learned]) is learned
    assert selection.select([collapsed, learned], selection.by_fields("activation")) == {("rectifier",): learned}
    assert selection.best_by_validation([collapsed, row(diverged=True)]) is collapsed  # nothing else: the first
