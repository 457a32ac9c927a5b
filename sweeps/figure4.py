"""Figure 4 of Glorot, Bordes & Bengio (2011): the effect of unsupervised pre-training when only part
of the training set is labeled (semi-supervised setting).

Rectifier and tanh networks, with and without denoising auto-encoder pre-training, fine-tuned on a
fixed random labeled fraction of the training set; the pre-training always uses the whole training
set, unlabeled. The paper ran this on NORB; here it runs on NORB when its files are present, and on
MNIST and the generated Shapeset. Each curve point (activation, with or without pre-training, labeled
fraction) is selected by the rule of ``deep_sparse.selection``, as in Table 1: the pre-training learning
rate with the lowest reconstruction error (alone, no noise and no L1 term, of the clean validation
inputs, summed over the layers), then the fine-tuning learning rate with the lowest validation error;
never the test error. The paper's figure has no printed numbers: our numbers are shown without a paper
column.
"""
from __future__ import annotations

import argparse
import dataclasses
import os

import deep_sparse as ds
from deep_sparse import experiment, plots, presets, selection
from deep_sparse.presets import PAPER_LR_GRID, SHAPESET_STOPPING as SHAPESET, Generated, Subset
from sweeps import common

NAME = "figure4"
MODULE = "sweeps.figure4"
DATASETS = ("norb", "mnist", "shapeset")
CURVE_FIELDS = ("activation", "pretrain_epochs", "labeled_fraction")
# the preset's settings that --name options override (in the order labels list them)
OVERRIDES = ("datasets", "fractions", "epochs")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Figure4Preset(presets.DatasetPreset):
    """A Figure 4 preset: the settings of every preset (architecture, epochs, patience, data sets and
    their sizes) and norb_hidden_sizes: the widths on NORB (the paper's 4000-2000); activations: the
    curves' neuron types, each with and without pre-training; pretrain_epochs: pre-training epochs per
    layer; fractions: the labeled fractions of the training set (the hyperparameter labeled_fraction,
    set by --labeled-fractions); lr, pretrain_lr: the fine-tuning and pre-training lr grids; l1: the L1
    activation penalty; minibatch_cost: the cost those values are given for, "mean" (this library's) or
    "summed" (Table 1's paper preset's reading: the networks train at :func:`deep_sparse.presets.trained_values`')."""

    known_datasets = DATASETS
    hparam_of_field = {"fractions": "labeled_fraction"}

    norb_hidden_sizes: tuple[int, ...]
    activations: tuple[str, ...]
    pretrain_epochs: int
    fractions: tuple[float, ...]
    lr: tuple[float, ...]
    pretrain_lr: tuple[float, ...]
    l1: float
    minibatch_cost: str


PRESETS = presets.by_name(
    Figure4Preset(
        name="quick",
        description="REDUCED, for a CPU in minutes: Shapeset generated 2,000/1,000/1,000 and MNIST first "
                    "2,000/1,000/1,000 (NORB likewise when present), 3 x 100 units, labeled fractions "
                    "{5%, 20%, 100%}, 1 pre-training epoch per layer, at most 4 epochs (patience 2), lr 0.1 only, "
                    "pre-training lr 0.01 only (so nothing to choose on the reconstruction error)",
        hidden_sizes=(100, 100, 100), norb_hidden_sizes=(100, 100), epochs=4, patience=2, pretrain_epochs=1,
        fractions=(0.05, 0.2, 1.0), lr=(0.1,), pretrain_lr=(0.01,), l1=0.001, minibatch_cost="mean",
        datasets=("shapeset", "mnist", "norb"),
        activations=("rectifier", "tanh"),
        sizes={"mnist": Subset(train_size=2000, valid_size=1000, test_size=1000),
               "norb": Subset(train_size=2000, valid_size=1000, test_size=1000),
               "shapeset": Generated(n_train=2000, n_valid=1000, n_test=1000, seed=0)},
    ),
    Figure4Preset(
        name="paper",
        description="PAPER SCALE, for a GPU: NORB (4000-2000 units, as the paper) when present, MNIST and Shapeset "
                    "(3 x 1000), full data, labeled fractions {1%, 5%, 10%, 20%, 50%, 100%}, lr grid "
                    "{0.1, 0.01, 0.001, 0.0001} chosen on the validation error, pre-training lr grid "
                    "{0.1, 0.01, 0.001, 0.0001} chosen first on the clean validation reconstruction error "
                    "(summed over layers), L1 0.001, 10 pre-training epochs per layer, at most 50 epochs "
                    f"(patience 10; on Shapeset {SHAPESET.epochs}, patience {SHAPESET.patience}), mini-batch 10; the "
                    "mini-batch cost read as Table 1's paper preset reads it "
                    "(NLL and reconstruction summed over the 10 examples, L1 averaged), so the networks train with "
                    "this library's mean cost at lrs {1, 0.1, 0.01, 0.001} and L1 0.0001",
        hidden_sizes=(1000, 1000, 1000), norb_hidden_sizes=(4000, 2000), epochs=50, patience=10, pretrain_epochs=10,
        fractions=(0.01, 0.05, 0.1, 0.2, 0.5, 1.0), lr=PAPER_LR_GRID, pretrain_lr=PAPER_LR_GRID, l1=0.001,
        minibatch_cost="summed",
        datasets=DATASETS, activations=("rectifier", "tanh"),
        sizes={"shapeset": Generated(n_train=10_000, n_valid=10_000, n_test=10_000, seed=0)},
        stopping={"shapeset": SHAPESET},
    ),
)


def build_parser() -> argparse.ArgumentParser:
    return common.dataset_parser(
        MODULE, __doc__, PRESETS, "one folder per data set (results.csv, results.json, cells.json, "
                                  "figure4.png) and summary.md at the top.",
        DATASETS, "runs/figure4", extra=lambda parser: common.add_rule_arguments(parser, ("labeled_fraction",)))


def plot(cells: list[dict], path: str, title: str) -> None:
    figure, axes = plots.new_figure()
    for label in sorted({c["curve"] for c in cells}):
        points = sorted((c["labeled_fraction"], 100 * c["ours"]) for c in cells
                        if c["curve"] == label and c["ours"] is not None)
        if points:
            axes.plot(*zip(*points), marker="o", label=label)
    axes.set_xscale("log")
    plots.finish(figure, axes, path, title=title, xlabel="fraction of the training set labeled",
                 ylabel="test error (%)")


def figure4_grid(preset: Figure4Preset, fractions: list[float]) -> list[dict]:
    """Activation x labeled fraction x fine-tuning lr, with pre-training also x pre-training lr (a
    network without pre-training does not depend on it: one of them), at the values the networks train
    with (:func:`deep_sparse.presets.trained_values`). The L1 penalty goes to the rectifier networks only
    (``presets.L1_ACTIVATIONS``), as in Table 1; tanh trains without it."""
    grid = []
    values = presets.trained_values(preset.minibatch_cost, lr=preset.lr, pretrain_lr=preset.pretrain_lr, l1=preset.l1)
    for pretrain_epochs in (preset.pretrain_epochs, 0):
        for activation in preset.activations:
            grid += ds.sweep.product(
                activation=[activation], pretrain_epochs=[pretrain_epochs], labeled_fraction=fractions,
                lr=values["lr"], l1=values["l1"] if activation in presets.L1_ACTIVATIONS else [0.0],
                pretrain_lr=values["pretrain_lr"] if pretrain_epochs else values["pretrain_lr"][:1])
    return grid


def select_points(rows: list[dict]) -> list[dict]:
    """The selected row of each curve point (activation, pre-training or not, labeled fraction), by
    the rule of :mod:`deep_sparse.selection` (pre-training lr on the reconstruction error, then lr on
    the validation error)."""
    chosen = selection.select(rows, selection.by_fields(*CURVE_FIELDS))
    return [chosen[point] for point in sorted(chosen, key=str)]


def curve(row: dict) -> str:
    return f"{row['activation']}, {'with' if row['pretrain_epochs'] else 'without'} pre-training"


def point_cell(run: experiment.Run, dataset: str, row: dict, sizes: dict) -> dict:
    """The cell of one selected curve point: its test error (None if it diverged), labeled examples, lrs."""
    return run.cell(
        dataset, f"{curve(row)}, {100 * row['labeled_fraction']:g}% labeled", "test_error",
        None if row["diverged"] else row["test_error"], None, curve=curve(row),
        labeled_fraction=row["labeled_fraction"], n_labeled=int(round(row["labeled_fraction"] * sizes["n_train"])),
        n_test=sizes["n_test"], lr=row["lr"], pretrain_lr=row["pretrain_lr"] if row["pretrain_epochs"] else None,
        sparsity=row["sparsity"], note="Figure 4 prints no numbers")


def run_dataset(run: experiment.Run, dataset: str) -> list[dict]:
    """Sweep one data set, select each curve point as Table 1 does; returns its cells (and plots them)."""
    preset = run.preset
    fractions = [float(f) for f in presets.as_grid(preset.fractions)]
    # One random order of the training set, fixed by labeled_seed, shared by every fraction: the first
    # round(f * n) examples are the labeled ones (what prepare_data does for one fraction).
    base = preset.train_config(dataset, activation=preset.activations[0], labeled_fraction=min(min(fractions), 0.5))
    folder, config, data, reason = run.open_dataset(dataset, base)
    if reason is not None:
        return [run.cell(dataset, f"{a}, {'with' if p else 'without'} pre-training", "test_error", None, None,
                         note=reason) for a in preset.activations for p in (True, False)]
    rows = run.sweep(config, figure4_grid(preset, fractions), folder, data, dataset=dataset)
    sizes = experiment.split_sizes(data)
    cells = [point_cell(run, dataset, row, sizes) for row in select_points(rows)]
    experiment.write_cells(folder, cells)
    plot(cells, os.path.join(folder, "figure4.png"), f"Figure 4 ({preset.label} preset), {dataset}")
    return cells


def main(argv=None) -> int:
    """Each data set of the preset in turn: the test error of each curve against the labeled fraction."""
    args = build_parser().parse_args(argv)
    run = common.start(args, MODULE, NAME, PRESETS, OVERRIDES, "Figure 4")
    cells = [cell for dataset in run.preset.datasets for cell in run_dataset(run, dataset)]
    label = run.preset.label
    run.finish(cells, common.cells_summary(f"Figure 4 ({label} preset)", cells, label, run.preset.description))
    return 0


if __name__ == "__main__":
    raise SystemExit(common.cli(main))
