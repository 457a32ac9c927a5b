"""The rescaled softplus of section 4.1: ``softplus(alpha * x) / alpha`` for alpha in
{1, 1.3, 2, 3, 6, inf}, which interpolates between the softplus (alpha = 1) and the rectifier
(alpha = inf). The paper reports NORB test errors 17.68%, 17.53%, 16.9%, 16.66%, 16.54%, 16.40%:
no trade-off, the closer to the rectifier the better. Here it runs on every data set at hand (NORB
when its files are present, with the paper's 4000-2000 architecture at paper scale), without
pre-training, L1 0.001, the learning rate chosen on the validation set per alpha.
"""
from __future__ import annotations

import argparse
import dataclasses
import math

import deep_sparse as ds
from deep_sparse import experiment, presets
from deep_sparse.presets import PAPER_LR_GRID, SHAPESET_STOPPING as SHAPESET, Generated, Subset
from sweeps import common
from sweeps import paper_numbers as pn

NAME = "softplus_alpha"
MODULE = "sweeps.softplus_alpha"
DATASETS = ("norb", "mnist", "cifar10", "shapeset")
ALPHAS = tuple(pn.AISTATS_SOFTPLUS_ALPHA_NORB)  # the paper's: 1, 1.3, 2, 3, 6, inf
# the preset's settings that --name options override (in the order labels list them)
OVERRIDES = ("datasets", "alphas", "epochs")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SoftplusAlphaPreset(presets.DatasetPreset):
    """A rescaled-softplus preset: the settings of every preset (architecture, epochs, patience, data
    sets and their sizes) and norb_hidden_sizes: the widths on NORB (the paper's 4000-2000); lr: the lr
    grid, chosen on the validation error per alpha; l1: the L1 penalty; alphas: the alphas run (the
    hyperparameter alpha, set by --alpha); minibatch_cost: the cost the lr and L1 values are given for,
    "mean" (this library's) or "summed" (Table 1's paper preset's reading: the networks train at
    :func:`deep_sparse.presets.trained_values`')."""

    known_datasets = DATASETS
    hparam_of_field = {"alphas": "alpha"}

    norb_hidden_sizes: tuple[int, ...]
    lr: tuple[float, ...]
    l1: float
    alphas: tuple[float, ...]
    minibatch_cost: str


PRESETS = presets.by_name(
    SoftplusAlphaPreset(
        name="quick",
        description="REDUCED, for a CPU in minutes: 3 x 100 units (NORB 100-100), at most 4 epochs (patience 2), "
                    "lr grid {0.1, 0.01} (not the paper's four values), Shapeset generated 2,000/1,000/2,000, MNIST "
                    "first 2,000/1,000/2,000 (NORB and CIFAR-10 likewise when present)",
        hidden_sizes=(100, 100, 100), norb_hidden_sizes=(100, 100), epochs=4, patience=2, lr=(0.1, 0.01), l1=0.001,
        alphas=ALPHAS, minibatch_cost="mean", datasets=DATASETS,
        sizes={name: Subset(train_size=2000, valid_size=1000, test_size=2000) for name in ("mnist", "cifar10", "norb")}
        | {"shapeset": Generated(n_train=2000, n_valid=1000, n_test=2000, seed=0)},
    ),
    SoftplusAlphaPreset(
        name="paper",
        description="PAPER SCALE, for a GPU: NORB 4000-2000 units (the paper's), other data sets 3 x 1000, full data, "
                    "mini-batch 10, lr grid {0.1, 0.01, 0.001, 0.0001}, L1 0.001, at most 50 epochs (patience 10; on "
                    f"Shapeset {SHAPESET.epochs}, patience {SHAPESET.patience}); "
                    "the mini-batch cost read as Table 1's paper preset reads it (NLL summed over the 10 examples, L1 "
                    "averaged), so the networks train with this library's mean cost at lrs {1, 0.1, 0.01, 0.001} and "
                    "L1 0.0001",
        hidden_sizes=(1000, 1000, 1000), norb_hidden_sizes=(4000, 2000), epochs=50, patience=10,
        lr=PAPER_LR_GRID, l1=0.001, alphas=ALPHAS, minibatch_cost="summed", datasets=DATASETS,
        sizes={"shapeset": Generated(n_train=10_000, n_valid=10_000, n_test=10_000, seed=0)},
        stopping={"shapeset": SHAPESET},
    ),
)


def build_parser() -> argparse.ArgumentParser:
    return common.dataset_parser(
        MODULE, __doc__, PRESETS, "one folder per data set (results.csv, results.json, cells.json) and "
                                  "summary.md at the top. alpha = inf is stored as null in JSON.",
        DATASETS, "runs/softplus_alpha", extra=lambda parser: common.add_rule_arguments(parser, ("alpha",)))


def run_dataset(run: experiment.Run, dataset: str) -> list[dict]:
    """Sweep one data set (every alpha x lr, without pre-training), select each alpha's lr on
    validation; returns its cells (beside the paper's on NORB)."""
    preset = run.preset
    base = preset.train_config(dataset, activation="scaled_softplus")
    folder, config, data, reason = run.open_dataset(dataset, base)
    key = (lambda alpha: pn.alpha_key(dataset, alpha)) if dataset == "norb" else (lambda alpha: None)
    if reason is not None:
        return [run.cell(dataset, f"alpha = {pn.alpha_label(a)}", "test_error", None, key(a), note=reason)
                for a in presets.as_grid(preset.alphas)]
    values = presets.trained_values(preset.minibatch_cost, lr=preset.lr, l1=preset.l1)
    grid = ds.sweep.product(alpha=presets.as_grid(preset.alphas), lr=values["lr"], l1=values["l1"])
    rows = run.sweep(config, grid, folder, data, dataset=dataset)
    for row in rows:  # JSON has no inf: a reloaded alpha = inf reads null
        if row["alpha"] is None:
            row["alpha"] = math.inf
    sizes = experiment.split_sizes(data)
    cells = [run.cell(dataset, f"alpha = {pn.alpha_label(row['alpha'])}", "test_error",
                      None if row["diverged"] else row["test_error"], key(row["alpha"]),
                      alpha=pn.alpha_label(row["alpha"]), n_test=sizes["n_test"], lr=row["lr"],
                      sparsity=row["sparsity"])
             for row in sorted(common.selected(rows, ["alpha"]), key=lambda r: r["alpha"])]
    experiment.write_cells(folder, cells)
    return cells


def main(argv=None) -> int:
    """Each data set of the preset in turn, then the table beside the paper's."""
    args = build_parser().parse_args(argv)
    run = common.start(args, MODULE, NAME, PRESETS, OVERRIDES, "Rescaled softplus")
    cells = [cell for dataset in run.preset.datasets for cell in run_dataset(run, dataset)]
    run.finish(cells, common.cells_summary(f"Rescaled softplus ({run.preset.label} preset)", cells,
                                           run.preset.label, run.preset.description))
    return 0


if __name__ == "__main__":
    raise SystemExit(common.cli(main))
