"""Figure 4 of Glorot, Bordes & Bengio (2011): the effect of unsupervised pre-training when only part
of the training set is labeled (semi-supervised setting).

Rectifier and tanh networks, with and without denoising auto-encoder pre-training, fine-tuned on a
fixed random labeled fraction of the training set; the pre-training always uses the whole training
set, unlabeled. The paper ran this on NORB; here it runs on NORB when its files are present, and on
MNIST and the generated Shapeset. The learning rate is chosen on the validation set per curve point.
The paper's figure has no printed numbers: our numbers are shown without a paper column.
"""
from __future__ import annotations

import argparse
import os

NAME = "figure4"
MODULE = "sweeps.figure4"
DATASETS = ("norb", "mnist", "shapeset")

PRESETS = {
    "quick": dict(
        description="REDUCED, for a CPU in minutes: Shapeset generated 2,000/1,000/1,000 and MNIST first "
                    "2,000/1,000/1,000 (NORB likewise when present), 3 x 100 units, labeled fractions "
                    "{5%, 20%, 100%}, 1 pre-training epoch per layer, at most 4 epochs (patience 2), lr 0.1 only",
        hidden_sizes=(100, 100, 100), norb_hidden_sizes=(100, 100), epochs=4, patience=2, pretrain_epochs=1,
        fractions=[0.05, 0.2, 1.0], lr=[0.1], pretrain_lr=0.01, l1=0.001, datasets=["shapeset", "mnist", "norb"],
        activations=["rectifier", "tanh"],
        sizes={"mnist": dict(train_size=2000, valid_size=1000, test_size=1000),
               "norb": dict(train_size=2000, valid_size=1000, test_size=1000),
               "shapeset": dict(n_train=2000, n_valid=1000, n_test=1000, seed=0)},
    ),
    "paper": dict(
        description="PAPER SCALE, for a GPU: NORB (4000-2000 units, as the paper) when present, MNIST and Shapeset "
                    "(3 x 1000), full data, labeled fractions {1%, 5%, 10%, 20%, 50%, 100%}, lr grid "
                    "{0.1, 0.01, 0.001, 0.0001}, L1 0.001, 10 pre-training epochs per layer, at most 50 epochs "
                    "(patience 10), mini-batch 10",
        hidden_sizes=(1000, 1000, 1000), norb_hidden_sizes=(4000, 2000), epochs=50, patience=10, pretrain_epochs=10,
        fractions=[0.01, 0.05, 0.1, 0.2, 0.5, 1.0], lr=[0.1, 0.01, 0.001, 0.0001], pretrain_lr=0.01, l1=0.001,
        datasets=list(DATASETS), activations=["rectifier", "tanh"],
        sizes={"shapeset": dict(n_train=10_000, n_valid=10_000, n_test=10_000, seed=0)},
    ),
}


def build_parser() -> argparse.ArgumentParser:
    from sweeps import common

    return common.dataset_parser(
        MODULE, __doc__, PRESETS, "one folder per data set (results.csv, results.json, cells.json, "
                                  "figure4.png) and summary.md at the top.",
        DATASETS, "runs/figure4", extra=lambda p: p.add_argument(
            "--fractions", nargs="+", type=float, default=None, help="override the labeled fractions"))


def plot(cells: list[dict], path: str, title: str) -> None:
    from deep_sparse import plots

    figure, axes = plots.new_figure()
    for label in sorted({c["curve"] for c in cells}):
        points = sorted((c["labeled_fraction"], 100 * c["ours"]) for c in cells if c["curve"] == label and c["ours"] is not None)
        if points:
            axes.plot(*zip(*points), marker="o", label=label)
    axes.set_xscale("log")
    plots.finish(figure, axes, path, title=title, xlabel="fraction of the training set labeled",
                 ylabel="test error (%)")


def run_dataset(args, preset_name: str, preset: dict, dataset: str) -> list[dict]:
    import deep_sparse as ds
    from sweeps import common

    fractions = [float(f) for f in preset["fractions"]]
    hidden = tuple(preset["norb_hidden_sizes"] if dataset == "norb" else preset["hidden_sizes"])
    # One random order of the training set, fixed by labeled_seed, shared by every fraction: the first
    # round(f * n) examples are the labeled ones (what prepare_data does for one fraction).
    base = ds.config.TrainConfig(dataset=dataset, hidden_sizes=hidden, activation=preset["activations"][0],
                                 batch_size=10, epochs=preset["epochs"], patience=preset["patience"],
                                 labeled_fraction=min(min(fractions), 0.5))
    out_dir, config, data, reason = common.open_dataset(args, MODULE, NAME, preset_name, preset, dataset, base)
    if reason is not None:
        return [common.cell(NAME, preset_name, dataset, f"{a}, {'with' if p else 'without'} pre-training", "test_error",
                            None, None, note=reason) for a in preset["activations"] for p in (True, False)]
    grid = ds.sweep.product(activation=preset["activations"], pretrain_epochs=[preset["pretrain_epochs"], 0],
                            labeled_fraction=fractions, lr=preset["lr"], l1=[preset["l1"]],
                            pretrain_lr=[preset["pretrain_lr"]])
    rows = common.run_sweep(args, MODULE, NAME, preset_name, preset, config, grid, out_dir, data, dataset=dataset)
    sizes = common.split_sizes(data)
    cells = []
    for row in common.selected(rows, ["activation", "pretrain_epochs", "labeled_fraction"]):
        curve = f"{row['activation']}, {'with' if row['pretrain_epochs'] else 'without'} pre-training"
        cells.append(common.cell(
            NAME, preset_name, dataset, f"{curve}, {100 * row['labeled_fraction']:g}% labeled", "test_error",
            None if row["diverged"] else row["test_error"], None, curve=curve,
            labeled_fraction=row["labeled_fraction"], n_labeled=int(round(row["labeled_fraction"] * sizes["n_train"])),
            n_test=sizes["n_test"], lr=row["lr"], sparsity=row["sparsity"],
            note="Figure 4 prints no numbers"))
    common.write_cells(out_dir, cells)
    plot(cells, os.path.join(out_dir, "figure4.png"), f"Figure 4 ({preset_name} preset), {dataset}")
    return cells


def main(argv=None) -> int:
    from sweeps import common

    common.main_over_datasets(argv, build_parser(), PRESETS, ["datasets", "fractions", "epochs"], "Figure 4",
                              run_dataset)
    return 0


if __name__ == "__main__":
    from sweeps import common

    raise SystemExit(common.cli(main))
