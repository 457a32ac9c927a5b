"""Table 2 of the workshop paper (Glorot & Bengio, "Sparse Rectifier Neural Networks"): MNIST with
denoising auto-encoder pre-training, "average error of the 5 best models" on test and validation.

Procedure as implemented (the paper's words in quotes):

- "three hidden layers with 1000 units per layer", MNIST "50000/10000/10000 used for training, model
  selection and test", softmax output trained by its negative log-likelihood, SGD with mini-batches of
  10 (AISTATS section 4.1; the workshop paper gives no batch size).
- The paper's two rows: "Rectifier + L1 penalty" (rectifier units, the L1 penalty on the activations in
  pre-training and fine-tuning, as AISTATS section 4.1) and "Tanh" (no L1).
- Greedy layer-wise pre-training: each layer is a denoising auto-encoder whose input is "corrupted
  (here by iid Gaussian noise)" (corruption="gaussian", the noise level being its standard deviation)
  and whose reconstruction "is compared (by squared error, to be minimized) with the uncorrupted
  input"; "encoder and decoder weights are forced to be the transpose of each other" (tied weights,
  deep_sparse.dae); the next layer is pre-trained on the clean code of the layers below, and the noise
  is "only used during training of each auto-encoding layer". The squared-error reconstruction suits
  the activation: rectifier -> rectifier_squared (output max(f, 0), f the linear reconstruction);
  tanh -> linear_squared_after (output f: the squared-error strategy of deep_sparse.dae that can
  reproduce the signed tanh codes of the layers above the first).
- "selected, along with learning rates and L1 penalty using a validation set": every combination of
  the preset's fine-tuning lr, pre-training lr and (rectifier only) L1 grids is one network (one seed
  each). Each row's networks that did not diverge are ranked by VALIDATION error, and the 5 with the
  lowest validation error give the mean and standard deviation of their test error and of their
  validation error (the two columns of the table). Test error never takes part in the selection.

Only MNIST has paper numbers; the generated Shapeset is accepted for the tests and gets none.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import statistics
from typing import Sequence

from deep_sparse import experiment, health, presets, results_io
from deep_sparse.presets import PAPER_LR_GRID, Generated, Subset
from sweeps import common
from sweeps import paper_numbers as pn

NAME = "workshop_table2"
MODULE = "sweeps.workshop_table2"
DATASETS = ("mnist", "shapeset")
BEST = 5
# The paper's rows (deep_sparse.activations names) and the squared-error reconstruction of each.
ACTIVATION_OF_ROW = {"rectifier_l1": "rectifier", "tanh": "tanh"}
SQUARED_STRATEGY = {"rectifier": "rectifier_squared", "tanh": "linear_squared_after"}
SILENT = ("the paper does not state the noise standard deviation, the pre-training and fine-tuning epochs, "
          "the grids, the batch size, the seeds, or whether its 5 best models differ by hyperparameters or by "
          "seed")
# the preset's settings that --name options override (in the order labels list them)
OVERRIDES = ("datasets", "epochs", "pretrain_epochs", "lr", "pretrain_lr", "l1", "noise_std")


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkshopTable2Preset(presets.DatasetPreset):
    """A workshop Table 2 preset: the settings of every preset (architecture, epochs, patience, data
    sets and their sizes) and pretrain_epochs: DAE epochs per layer; lr, pretrain_lr: the fine-tuning
    and pre-training lr grids; l1: the rectifier row's L1 grid (tanh trains without); noise_std: the
    standard deviation of the Gaussian corruption (the hyperparameter noise_level, set by --noise-level;
    several are a grid axis, selected on validation with the others); best: how many networks of lowest
    validation error each row averages; seeds: networks per setting."""

    known_datasets = DATASETS
    hparam_of_field = {"noise_std": "noise_level"}

    pretrain_epochs: int
    lr: tuple[float, ...]
    pretrain_lr: tuple[float, ...]
    l1: tuple[float, ...]
    noise_std: float | tuple[float, ...]
    best: int
    seeds: int


PRESETS = presets.by_name(
    WorkshopTable2Preset(
        name="quick",
        description="REDUCED, for a CPU in minutes: MNIST first 2,000/1,000/1,000 images, 3 x 100 units, 1 "
                    "pre-training epoch per layer, at most 4 fine-tuning epochs (patience 2), lr {0.1, 0.01, 0.001}, "
                    "pre-training lr {0.01, 0.001}, rectifier L1 {0.0001, 0.001}, Gaussian noise std 0.25: 12 "
                    "rectifier and 6 tanh networks, mean and sd of the 5 best on validation",
        hidden_sizes=(100, 100, 100), epochs=4, patience=2, pretrain_epochs=1, lr=(0.1, 0.01, 0.001),
        pretrain_lr=(0.01, 0.001), l1=(0.0001, 0.001), noise_std=0.25, best=BEST, seeds=1, datasets=("mnist",),
        sizes={"mnist": Subset(train_size=2000, valid_size=1000, test_size=1000)},
    ),
    WorkshopTable2Preset(
        name="paper",
        description="PAPER SCALE: MNIST 50k/10k/10k, 3 x 1000 units, mini-batch 10, fine-tuning lr and "
                    "pre-training lr grids {0.1, 0.01, 0.001, 0.0001}, rectifier L1 {0.0001, 0.001, 0.01}, tanh "
                    "without L1: 48 rectifier and 16 tanh networks, one seed each, ranked by validation error, "
                    "mean and sample sd (n - 1) of the test and validation errors of the 5 best. The paper is "
                    "silent on several settings (" + SILENT + "); chosen here: Gaussian noise std 0.25 (a quarter "
                    "of the [0, 1] pixel range, the level of AISTATS' masking noise; fixed, not selected, since the "
                    "paper names only learning rates and L1 as selected), 10 pre-training epochs per layer and at "
                    "most 50 fine-tuning epochs with patience 10 (as the Table 1 paper preset), the AISTATS lr grid "
                    "for both learning rates, L1 a decade either side of AISTATS' 0.001 within Figure 3's range, "
                    "mini-batches of 10 (AISTATS), the 5 best taken over hyperparameter combinations",
        hidden_sizes=(1000, 1000, 1000), epochs=50, patience=10, pretrain_epochs=10, lr=PAPER_LR_GRID,
        pretrain_lr=PAPER_LR_GRID, l1=(0.0001, 0.001, 0.01), noise_std=0.25, best=BEST, seeds=1, datasets=("mnist",),
        sizes={},
    ),
    WorkshopTable2Preset(
        name="tiny",
        description="TESTS ONLY (tests/test_workshop_table2.py): Shapeset 200/100/100, 3 x 16 units, 1 epoch, "
                    "1 pre-training epoch, 6 networks per row; proves the plumbing, measures nothing",
        hidden_sizes=(16, 16, 16), epochs=1, patience=None, pretrain_epochs=1, lr=(0.1, 0.05, 0.02),
        pretrain_lr=(0.01, 0.001), l1=(0.001,), noise_std=0.25, best=BEST, seeds=1, datasets=("shapeset",),
        sizes={"shapeset": Generated(n_train=200, n_valid=100, n_test=100, seed=0)},
    ),
)


def build_parser() -> argparse.ArgumentParser:
    def extra(parser: argparse.ArgumentParser) -> None:
        # L1: the rectifier row's; the noise level: the Gaussian corruption's standard deviation
        common.add_rule_arguments(parser, ("pretrain_epochs", "lr", "pretrain_lr", "l1", "noise_level"))

    return common.dataset_parser(
        MODULE, __doc__, PRESETS, "one folder per data set (results.csv, results.json, cells.json) and summary.md "
                                  "(Table 2 beside the paper's, and the 5 networks of each row) at the top.",
        DATASETS, "runs/workshop_table2", extra=extra)


# ------------------------------------------------------------------------------ grid and selection
def row_of(network: dict) -> str:
    """The paper's row of a network: ``rectifier_l1`` or ``tanh``."""
    return "rectifier_l1" if network["activation"] == "rectifier" else network["activation"]


def table2_grid(preset: WorkshopTable2Preset) -> list[dict]:
    """One point per (row, L1, noise standard deviation, pre-training lr, fine-tuning lr, seed); L1 only on
    the rectifier row."""
    grid = []
    for row, activation in ACTIVATION_OF_ROW.items():
        l1s = preset.l1 if row == "rectifier_l1" else [0.0]
        axes = (l1s, presets.as_grid(preset.noise_std), preset.pretrain_lr, preset.lr,
                presets.seed_values(preset.seeds))
        for l1, noise_std, pretrain_lr, lr, seed in itertools.product(*axes):
            grid.append(dict(activation=activation, pretrain_strategy=SQUARED_STRATEGY[activation],
                             pretrain_epochs=preset.pretrain_epochs, l1=float(l1), pretrain_lr=pretrain_lr,
                             lr=lr, noise_level=noise_std, seed=seed))
    return grid


def best_on_validation(networks: Sequence[dict], k: int = BEST) -> list[dict]:
    """The ``k`` networks of lowest validation error (diverged and collapsed ones left out; ties by
    network index)."""
    live = [n for n in networks if not health.is_excluded(n)]
    return sorted(live, key=lambda n: (n["valid_error"], n["network"]))[:k]


def mean_and_sd(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n - 1; None for fewer than two values)."""
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def selected_record(network: dict) -> dict:
    """What a cell keeps of each of its 5 networks."""
    return {k: network.get(k) for k in ("network", "lr", "pretrain_lr", "l1", "noise_level", "valid_error",
                                        "test_error", "sparsity", "epochs_run")}


def row_cells(networks: Sequence[dict], row: str, preset_name: str, dataset: str, sizes: dict, k: int) -> list[dict]:
    """The test and validation cells of one row: mean and sd over its ``k`` best networks on validation
    (``preset_name``: the preset's label)."""
    best = best_on_validation(networks, k)
    note = "" if len(best) == k else f"only {len(best)} of the row's networks did not diverge"
    sparsity, _ = mean_and_sd([n["sparsity"] for n in best])
    cells = []
    for split, metric in (("test", "test_error"), ("valid", "valid_error")):
        mean, sd = mean_and_sd([n[metric] for n in best])
        cells.append(experiment.cell(
            NAME, preset_name, dataset, f"{pn.WORKSHOP_NEURONS[row]}, {split} error, mean of the {k} best on "
            "validation", metric, mean, pn.workshop_pretrained_key(row, split) if dataset == "mnist" else None,
            sd=sd, models=len(best), networks=len(networks), sparsity=sparsity, note=note,
            n_test=sizes.get("n_test"), n_valid=sizes.get("n_valid"), n_train=sizes.get("n_train"),
            selected=[selected_record(n) for n in best]))
    return cells


def table2_cells(networks: Sequence[dict], preset_name: str, dataset: str, sizes: dict, k: int) -> list[dict]:
    """Both rows' cells, in the paper's order."""
    return [cell for row in ACTIVATION_OF_ROW
            for cell in row_cells([n for n in networks if row_of(n) == row], row, preset_name, dataset, sizes, k)]


def not_run_cells(preset_name: str, dataset: str, reason: str) -> list[dict]:
    return [experiment.cell(NAME, preset_name, dataset, f"{pn.WORKSHOP_NEURONS[row]}, {split} error",
                            f"{split}_error", None,
                            pn.workshop_pretrained_key(row, split) if dataset == "mnist" else None, note=reason)
            for row in ACTIVATION_OF_ROW for split in ("test", "valid")]


# ------------------------------------------------------------------------------ main
def run_dataset(run: experiment.Run, dataset: str) -> list[dict]:
    """Sweep one data set; returns its cells (ours beside the paper's)."""
    preset = run.preset
    base = preset.train_config(dataset, activation="rectifier", pretrain_epochs=preset.pretrain_epochs,
                               pretrain_strategy=SQUARED_STRATEGY["rectifier"], corruption="gaussian")
    folder, config, data, reason = run.open_dataset(dataset, base)
    if reason is not None:
        return not_run_cells(preset.label, dataset, reason)
    networks = run.sweep(config, table2_grid(preset), folder, data, dataset=dataset)
    cells = table2_cells(networks, preset.label, dataset, experiment.split_sizes(data), preset.best)
    experiment.write_cells(folder, cells)
    return cells


def summarize(cells: list[dict], preset: str, description: str) -> str:
    """Table 2 beside the paper's (mean ± sd), then the networks behind each row."""

    def percent(value, sd):
        return "" if value is None else f"{100 * value:.2f}" + ("" if sd is None else f" ± {100 * sd:.2f}")

    table, chosen = [], []
    for c in cells:
        paper = pn.lookup(c.get("paper_key"))
        table.append({"data set": c["dataset"], "cell": c["cell"], "ours %": percent(c["ours"], c.get("sd")),
                      "paper %": "" if paper is None else percent(paper["value"], paper["sd"]),
                      "models": c.get("models"), "networks": c.get("networks"), "note": c.get("note", "")})
        if c["metric"] == "test_error":
            chosen += [dict(n, row=c["cell"].split(",")[0], dataset=c["dataset"]) for n in c.get("selected", [])]
    columns = ["data set", "cell", "ours %", "paper %", "models", "networks", "note"]
    if not common.compares_with_paper(preset):
        table, columns = common.without_paper_columns(table), [c for c in columns if c not in common.PAPER_COLUMNS]
    lines = [f"# Workshop Table 2 ({preset} preset)", "", common.preset_banner(preset), "", description, "",
             results_io.format_table(table, columns),
             "", "## The networks of each row, by validation error", "",
             results_io.format_table(chosen, ["dataset", "row", "network", "lr", "pretrain_lr", "l1", "noise_level",
                                              "valid_error", "test_error", "sparsity"],
                                     {"valid_error": ".4f", "test_error": ".4f", "sparsity": ".3f", "lr": "g",
                                      "pretrain_lr": "g", "l1": "g", "noise_level": "g"})]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """Each data set of the preset in turn, then Table 2 beside the paper's."""
    args = build_parser().parse_args(argv)
    run = common.start(args, MODULE, NAME, PRESETS, OVERRIDES, "Workshop Table 2")
    cells = [cell for dataset in run.preset.datasets for cell in run_dataset(run, dataset)]
    run.finish(cells, summarize(cells, run.preset.label, run.preset.description))
    return 0


if __name__ == "__main__":
    raise SystemExit(common.cli(main))
