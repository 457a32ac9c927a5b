"""The reconstruction strategies of section 3.2 for pre-training rectifier networks, compared on MNIST.

Denoising auto-encoders on rectifier codes need a reconstruction that suits unbounded, sparse codes;
section 3.2 lists four: (1) a softplus output with a quadratic cost, (2) codes scaled to [0, 1] and a
sigmoid output with cross-entropy, (3) a linear output with a quadratic cost, reconstructing the
layer below's pre-activations (``linear_squared_before``) or its post-activations
(``linear_squared_after``), (4) a rectifier output with a quadratic cost. The paper keeps (1) for its
image experiments and (2) for its text experiments and prints no comparison. For (2) the codes are
divided by their largest value over the training inputs, a fixed map absorbed by the next layer's
weights, so that the fine-tuned network computes what the auto-encoder trained
(``deep_sparse.pretraining.code_scale``). Here each strategy (the
names of ``deep_sparse.dae.PAPER_STRATEGIES``) and a no-pre-training baseline are trained with the Table 1
procedure and compared by test error and sparsity. Each strategy's network is selected by the rule of
``deep_sparse.selection``, as in Table 1: the pre-training learning rate with the lowest reconstruction
error (the strategy's own cost alone, no noise and no L1 term, of the clean validation inputs, summed
over the layers; errors of different strategies are never compared), then the fine-tuning learning
rate with the lowest validation error; never the test error.
"""
from __future__ import annotations

import argparse
import dataclasses

import deep_sparse as ds
from deep_sparse import experiment, presets, selection
from deep_sparse.presets import PAPER_LR_GRID, Generated, Subset
from sweeps import common

NAME = "pretrain_strategies"
MODULE = "sweeps.pretrain_strategies"
DATASETS = ("mnist", "shapeset", "cifar10", "norb")
BASELINE = "no pre-training"
# the preset's settings that --name options override (in the order labels list them)
OVERRIDES = ("datasets", "epochs")


@dataclasses.dataclass(frozen=True, kw_only=True)
class StrategiesPreset(presets.DatasetPreset):
    """A pre-training strategies preset: the settings of every preset (architecture, epochs, patience,
    data sets and their sizes) and pretrain_epochs: pre-training epochs per layer; lr, pretrain_lr:
    the fine-tuning and pre-training lr grids (each strategy gets its own pre-training lr); l1: the L1
    activation penalty. Every strategy of ``deep_sparse.dae.PAPER_STRATEGIES`` runs."""

    known_datasets = DATASETS

    pretrain_epochs: int
    lr: tuple[float, ...]
    pretrain_lr: tuple[float, ...]
    l1: float


PRESETS = presets.by_name(
    StrategiesPreset(
        name="quick",
        description="REDUCED, for a CPU in minutes: MNIST first 2,000/1,000/2,000 images, plus the generated "
                    "Shapeset 2,000/1,000/2,000 (always available), 3 x 100 rectifier units, 1 pre-training "
                    "epoch per layer, at most 4 epochs (patience 2), lr 0.1 only, pre-training lr 0.01 only (so "
                    "nothing to choose on the reconstruction error)",
        hidden_sizes=(100, 100, 100), epochs=4, patience=2, pretrain_epochs=1, lr=(0.1,), pretrain_lr=(0.01,),
        l1=0.001, datasets=("mnist", "shapeset"),
        sizes={"mnist": Subset(train_size=2000, valid_size=1000, test_size=2000),
               "shapeset": Generated(n_train=2000, n_valid=1000, n_test=2000, seed=0)},
    ),
    StrategiesPreset(
        name="paper",
        description="PAPER SCALE, for a GPU: MNIST 50k/10k/10k, 3 x 1000 rectifier units, mini-batch 10, lr grid "
                    "{0.1, 0.01, 0.001, 0.0001} chosen on the validation error, pre-training lr grid "
                    "{0.1, 0.01, 0.001, 0.0001} chosen first, per strategy, on the clean validation reconstruction "
                    "error (summed over layers), L1 0.001, 10 pre-training epochs per layer, at most 50 epochs "
                    "(patience 10)",
        hidden_sizes=(1000, 1000, 1000), epochs=50, patience=10, pretrain_epochs=10, lr=PAPER_LR_GRID,
        pretrain_lr=PAPER_LR_GRID, l1=0.001, datasets=("mnist",), sizes={},
    ),
)


def build_parser() -> argparse.ArgumentParser:
    return common.dataset_parser(
        MODULE, __doc__, PRESETS, "one folder per data set (results.csv, results.json, cells.json) and "
                                  "summary.md at the top.",
        DATASETS, "runs/pretrain_strategies")


def strategies_grid(preset: StrategiesPreset) -> list[dict]:
    """Each strategy x fine-tuning lr x pre-training lr, and the baseline without pre-training x
    fine-tuning lr (one pre-training lr: it does not depend on it)."""
    grid = [dict(pretrain_strategy=s, pretrain_epochs=preset.pretrain_epochs, lr=lr, pretrain_lr=plr)
            for s in ds.dae.PAPER_STRATEGIES for plr in preset.pretrain_lr for lr in preset.lr]
    grid += [dict(pretrain_strategy=None, pretrain_epochs=0, lr=lr, pretrain_lr=preset.pretrain_lr[0])
             for lr in preset.lr]
    return [dict(point, l1=preset.l1) for point in grid]


def select_strategies(rows: list[dict]) -> list[dict]:
    """The selected row of each strategy (and of the baseline), by the rule of
    :mod:`deep_sparse.selection`: within a strategy, the pre-training lr of lowest reconstruction
    error, then the lr of lowest validation error."""
    chosen = selection.select(rows, selection.by_fields("pretrain_strategy"))
    return [chosen[strategy] for strategy in sorted(chosen, key=str)]


def strategy_cell(run: experiment.Run, dataset: str, row: dict, sizes: dict) -> dict:
    """The cell of one strategy's selected network: its test error (None if it diverged) and sparsity."""
    return run.cell(dataset, row["pretrain_strategy"], "test_error", None if row["diverged"] else row["test_error"],
                    None, n_test=sizes["n_test"], lr=row["lr"],
                    pretrain_lr=row["pretrain_lr"] if row["pretrain_epochs"] else None, sparsity=row["sparsity"],
                    note="the paper prints no comparison of the strategies")


def run_dataset(run: experiment.Run, dataset: str) -> list[dict]:
    """Sweep one data set with every strategy and the baseline, select each; returns their cells."""
    base = run.preset.train_config(dataset, activation="rectifier")
    folder, config, data, reason = run.open_dataset(dataset, base)
    if reason is not None:
        return [run.cell(dataset, label, "test_error", None, None, note=reason)
                for label in (*ds.dae.PAPER_STRATEGIES, BASELINE)]
    grid = strategies_grid(run.preset)
    rows = run.sweep(config, grid, folder, data, dataset=dataset)
    for point, row in zip(grid, rows):
        row["pretrain_strategy"] = point["pretrain_strategy"] or BASELINE
    sizes = experiment.split_sizes(data)
    cells = [strategy_cell(run, dataset, row, sizes) for row in select_strategies(rows)]
    experiment.write_cells(folder, cells)
    return cells


def main(argv=None) -> int:
    """Each data set of the preset in turn: every strategy's selected network beside the baseline."""
    args = build_parser().parse_args(argv)
    run = common.start(args, MODULE, NAME, PRESETS, OVERRIDES, "Pre-training strategies")
    cells = [cell for dataset in run.preset.datasets for cell in run_dataset(run, dataset)]
    label = run.preset.label
    run.finish(cells, common.cells_summary(f"Pre-training strategies ({label} preset)", cells, label,
                                           run.preset.description))
    return 0


if __name__ == "__main__":
    raise SystemExit(common.cli(main))
