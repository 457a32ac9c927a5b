"""The reconstruction strategies of section 3.2 for pre-training rectifier networks, compared on MNIST.

Denoising auto-encoders on rectifier codes need a reconstruction that suits unbounded, sparse codes;
section 3.2 lists four: (1) a softplus output with a quadratic cost, (2) codes scaled to [0, 1] and a
sigmoid output with cross-entropy, (3) a linear output with a quadratic cost, reconstructing the
layer below's pre-activations (``linear_squared_before``) or its post-activations
(``linear_squared_after``), (4) a rectifier output with a quadratic cost. The paper keeps (1) for its
image experiments and (2) for its text experiments and prints no comparison; here each strategy (the
names of ``deep_sparse.dae.STRATEGIES``) and a no-pre-training baseline are trained with the Table 1
procedure and compared by test error and sparsity.
"""
from __future__ import annotations

import argparse

NAME = "pretrain_strategies"
MODULE = "sweeps.pretrain_strategies"
DATASETS = ("mnist", "shapeset", "cifar10", "norb")

PRESETS = {
    "quick": dict(
        description="REDUCED, for a CPU in minutes: MNIST first 2,000/1,000/2,000 images, plus the generated "
                    "Shapeset 2,000/1,000/2,000 (always available), 3 x 100 rectifier units, 1 pre-training "
                    "epoch per layer, at most 4 epochs (patience 2), lr 0.1 only, pre-training lr 0.01",
        hidden_sizes=(100, 100, 100), epochs=4, patience=2, pretrain_epochs=1, lr=[0.1], pretrain_lr=0.01, l1=0.001,
        datasets=["mnist", "shapeset"],
        sizes={"mnist": dict(train_size=2000, valid_size=1000, test_size=2000),
               "shapeset": dict(n_train=2000, n_valid=1000, n_test=2000, seed=0)},
    ),
    "paper": dict(
        description="PAPER SCALE, for a GPU: MNIST 50k/10k/10k, 3 x 1000 rectifier units, mini-batch 10, lr grid "
                    "{0.1, 0.01, 0.001, 0.0001}, pre-training lr 0.01, L1 0.001, 10 pre-training epochs per layer, "
                    "at most 50 epochs (patience 10)",
        hidden_sizes=(1000, 1000, 1000), epochs=50, patience=10, pretrain_epochs=10, lr=[0.1, 0.01, 0.001, 0.0001],
        pretrain_lr=0.01, l1=0.001, datasets=["mnist"], sizes={},
    ),
}


def build_parser() -> argparse.ArgumentParser:
    from sweeps import common

    return common.dataset_parser(
        MODULE, __doc__, PRESETS, "one folder per data set (results.csv, results.json, cells.json) and "
                                  "summary.md at the top.",
        DATASETS, "runs/pretrain_strategies")


def run_dataset(args, preset_name: str, preset: dict, dataset: str) -> list[dict]:
    import deep_sparse as ds
    from deep_sparse import dae
    from sweeps import common

    base = ds.config.TrainConfig(dataset=dataset, hidden_sizes=tuple(preset["hidden_sizes"]), activation="rectifier",
                                 batch_size=10, epochs=preset["epochs"], patience=preset["patience"])
    out_dir, config, data, reason = common.open_dataset(args, MODULE, NAME, preset_name, preset, dataset, base)
    labels = list(dae.STRATEGIES) + ["no pre-training"]
    if reason is not None:
        return [common.cell(NAME, preset_name, dataset, label, "test_error", None, None, note=reason) for label in labels]
    grid = [dict(pretrain_strategy=s, pretrain_epochs=preset["pretrain_epochs"], lr=lr) for s in dae.STRATEGIES
            for lr in preset["lr"]]
    grid += [dict(pretrain_strategy=None, pretrain_epochs=0, lr=lr) for lr in preset["lr"]]
    for point in grid:
        point.update(l1=preset["l1"], pretrain_lr=preset["pretrain_lr"])
    rows = common.run_sweep(args, MODULE, NAME, preset_name, preset, config, grid, out_dir, data, dataset=dataset)
    strategy_of = {}
    for point, row in zip(grid, rows):
        row["pretrain_strategy"] = point["pretrain_strategy"] or "no pre-training"
        strategy_of[row["network"]] = row["pretrain_strategy"]
    sizes = common.split_sizes(data)
    cells = [common.cell(NAME, preset_name, dataset, row["pretrain_strategy"], "test_error",
                         None if row["diverged"] else row["test_error"], None, n_test=sizes["n_test"], lr=row["lr"],
                         sparsity=row["sparsity"], note="the paper prints no comparison of the strategies")
             for row in common.selected(rows, ["pretrain_strategy"])]
    common.write_cells(out_dir, cells)
    return cells


def main(argv=None) -> int:
    from sweeps import common

    common.main_over_datasets(argv, build_parser(), PRESETS, ["datasets", "epochs"], "Pre-training strategies",
                              run_dataset)
    return 0


if __name__ == "__main__":
    from sweeps import common

    raise SystemExit(common.cli(main))
