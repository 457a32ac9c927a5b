"""Sparsity of rectifier networks: the workshop paper's Table 1 and AISTATS section 4.1.

- Workshop Table 1 (left): fraction of exact zeros of each hidden layer of a rectifier network on
  MNIST without pre-training, with the L1 activation penalty (0.001) and without it (0).
- Workshop Table 1 (right): test error without pre-training of rectifier + L1, rectifier, softplus
  and tanh networks on Shapeset and MNIST (softplus and tanh without L1).
- AISTATS section 4.1: the average exact sparsity of the hidden layers of rectifier networks
  (83.4% on MNIST, 72.0% on CIFAR-10, 73.8% on NORB) - measured here on the rectifier network with
  L1 0.001 and no pre-training (the paper does not say which of its Table 1 networks it averages).

Sparsity is measured on the test set with the network of the best validation epoch; the learning
rate of each (activation, L1) pair is chosen on the validation set. Every data set at hand is run;
absent ones are reported as "not run".
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics

from deep_sparse import experiment, plots, presets
from deep_sparse.presets import PAPER_LR_GRID, SHAPESET_STOPPING as SHAPESET, Generated, Subset
from sweeps import common
from sweeps import paper_numbers as pn
from sweeps.report_tables import SPARSITY, interval, mark, pct, read

NAME = "sparsity"
MODULE = "sweeps.sparsity"
DATASETS = ("mnist", "cifar10", "norb", "shapeset")
# The mini-batch cost is read as this library's mean, unlike the AISTATS presets' summed reading: the
# workshop paper gives no lr or L1 value ("selected, along with learning rates and L1 penalty using a
# validation set"), so there is nothing of its own to map, and its sparsity column fits the mean reading
# better. Recorded evidence (rectifier + L1 on MNIST, each reading's validation pick): the mean reading
# (lr 0.01, L1 0.001; sparsity-paper/mnist network 5) has 94.0 / 84.2 / 76.1% zeros per layer and 1.78%
# test; the summed reading (our lr 0.1, L1 0.0001; table1-paper/mnist network 5) 92.7 / 87.6 / 83.6% and
# 1.58%; the paper 93.94 / 80.92 / 76.66% and 1.56%. Both errors lie within the paper's interval; the
# mean reading's zeros lie within 3.3 points of each layer's, the summed reading's within 6.9. The other
# three rows train without L1, where the readings differ only by the lr grid's ends: the summed reading
# adds our lr 1, which diverged or collapsed wherever it was trained (tanh, softplus, both rectifiers at
# L1 0.0001; not trained for the rectifier without L1).
L1_PAPER = 0.001
# the preset's settings that --name options override (in the order labels list them)
OVERRIDES = ("datasets", "epochs")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SparsityPreset(presets.DatasetPreset):
    """A sparsity preset: the settings of every preset (architecture, epochs, patience, data sets and
    their sizes) and lr: the lr grid, chosen on the validation error per activation and L1; seeds:
    networks per setting; activations: the neuron types run (the rectifier with L1 0 and L1_PAPER)."""

    known_datasets = DATASETS

    lr: tuple[float, ...]
    seeds: int
    activations: tuple[str, ...]


PRESETS = presets.by_name(
    SparsityPreset(
        name="quick",
        description="REDUCED, for a CPU in minutes: 3 x 200 units, at most 5 epochs (patience 2), lr grid "
                    "{0.1, 0.01} (not the paper's four values), MNIST first 3,000/1,000/2,000 images, Shapeset "
                    "generated 2,000/1,000/2,000, CIFAR-10/NORB subsampled likewise when present",
        hidden_sizes=(200, 200, 200), epochs=5, patience=2, lr=(0.1, 0.01), seeds=1,
        activations=("rectifier", "softplus", "tanh"), datasets=DATASETS,
        sizes={
            "mnist": Subset(train_size=3000, valid_size=1000, test_size=2000),
            "cifar10": Subset(train_size=3000, valid_size=1000, test_size=2000),
            "norb": Subset(train_size=3000, valid_size=1000, test_size=2000),
            "shapeset": Generated(n_train=2000, n_valid=1000, n_test=2000, seed=0),
        },
    ),
    SparsityPreset(
        name="paper",
        description="PAPER SCALE, for a GPU: 3 x 1000 units, full data (MNIST 50k/10k/10k, Shapeset 10k/10k/10k), "
                    "mini-batch 10, lr grid {0.1, 0.01, 0.001, 0.0001}, L1 in {0, 0.001}, at most 50 epochs "
                    f"(patience 10; on Shapeset at most {SHAPESET.epochs}, patience {SHAPESET.patience}: its curves, "
                    "presets.SHAPESET_STOPPING)",
        hidden_sizes=(1000, 1000, 1000), epochs=50, patience=10, lr=PAPER_LR_GRID, seeds=1,
        activations=("rectifier", "softplus", "tanh"), datasets=DATASETS,
        sizes={"shapeset": Generated(n_train=10_000, n_valid=10_000, n_test=10_000, seed=0)},
        stopping={"shapeset": SHAPESET},
    ),
    SparsityPreset(
        name="tiny",
        description="TESTS ONLY (tests/test_sweeps_modules.py): Shapeset 200/100/100, 3 x 16 rectifier units, "
                    "1 epoch, one lr; proves the plumbing, measures nothing",
        hidden_sizes=(16, 16, 16), epochs=1, patience=None, lr=(0.1,), seeds=1,
        activations=("rectifier",), datasets=("shapeset",),
        sizes={"shapeset": Generated(n_train=200, n_valid=100, n_test=100, seed=0)},
    ),
)


def build_parser() -> argparse.ArgumentParser:
    return common.dataset_parser(
        MODULE, __doc__, PRESETS, "one folder per data set (results.csv, results.json, cells.json), "
                                  "sparsity_layers.png and summary.md at the top.",
        DATASETS, "runs/sparsity")


def neuron(row: dict) -> str:
    if row["activation"] == "rectifier":
        return "rectifier_l1" if row["l1"] > 0 else "rectifier"
    return row["activation"]


def sparsity_grid(preset: SparsityPreset) -> list[dict]:
    """The workshop's four neuron types: the rectifier with and without L1, softplus and tanh without;
    each x lr x seed."""
    return [dict(activation=a, l1=l1, lr=lr, seed=s) for a in preset.activations
            for l1 in ([0.0, L1_PAPER] if a == "rectifier" else [0.0]) for lr in preset.lr
            for s in presets.seed_values(preset.seeds)]


def not_run_cells(run: experiment.Run, dataset: str, reason: str) -> list[dict]:
    cells = [run.cell(dataset, "average sparsity, rectifier + L1", "sparsity", None, pn.sparsity_key(dataset),
                      note=reason)]
    if dataset in ("mnist", "shapeset"):
        cells += [run.cell(dataset, f"test error, {pn.WORKSHOP_NEURONS[n]}", "test_error", None,
                           pn.workshop_error_key(dataset, n), note=reason) for n in pn.WORKSHOP_NEURONS]
    if dataset == "mnist":
        cells += [run.cell(dataset, f"layer {k} zeros, {'with' if l1 else 'without'} L1", "sparsity", None,
                           pn.layer_sparsity_key(l1, k), note=reason) for l1 in (True, False) for k in range(1, 4)]
    return cells


def selected_cells(run: experiment.Run, dataset: str, row: dict, n_layers: int, sizes: dict) -> list[dict]:
    """The cells of one selected network: its test error, and for a rectifier its sparsity per layer
    (and on average, with L1)."""
    kind = neuron(row)
    extra = dict(n_test=sizes["n_test"], n_train=sizes["n_train"], lr=row["lr"], l1=row["l1"],
                 diverged=row["diverged"], sparsity_per_layer=[row.get(f"sparsity_layer_{k + 1}")
                                                               for k in range(n_layers)])
    cells = [run.cell(dataset, f"test error, {pn.WORKSHOP_NEURONS[kind]}", "test_error", row["test_error"],
                      pn.workshop_error_key(dataset, kind) if dataset in ("mnist", "shapeset") else None, **extra)]
    if row["activation"] != "rectifier":
        return cells
    if row["l1"] > 0:
        cells.append(run.cell(dataset, "average sparsity, rectifier + L1", "sparsity", row["sparsity"],
                              pn.sparsity_key(dataset), **extra))
    for k in range(n_layers):
        key = pn.layer_sparsity_key(row["l1"] > 0, k + 1) if dataset == "mnist" and n_layers == 3 else None
        cells.append(run.cell(dataset, f"layer {k + 1} zeros, {'with' if row['l1'] > 0 else 'without'} L1",
                              "sparsity", row[f"sparsity_layer_{k + 1}"], key, **extra))
    return cells


def run_dataset(run: experiment.Run, dataset: str) -> list[dict]:
    """Sweep one data set, select each neuron type's lr on validation; returns its cells."""
    preset = run.preset
    base = preset.train_config(dataset, activation=preset.activations[0])
    folder, config, data, reason = run.open_dataset(dataset, base)
    if reason is not None:
        return not_run_cells(run, dataset, reason)
    rows = run.sweep(config, sparsity_grid(preset), folder, data, dataset=dataset)
    sizes = experiment.split_sizes(data)
    cells = [cell for row in common.selected(rows, ["activation", "l1"])
             for cell in selected_cells(run, dataset, row, len(preset.hidden_sizes), sizes)]
    experiment.write_cells(folder, cells)
    return cells


def plot_layers(cells: list[dict], path: str) -> None:
    """Bars: fraction of zeros per layer, with and without L1, per data set."""
    layered = [c for c in cells if c["cell"].startswith("layer") and c["ours"] is not None]
    figure, axes = plots.new_figure((6.4, 4.0))
    labels = sorted({(c["dataset"], c["cell"].split(" zeros, ")[1]) for c in layered})
    width = 0.8 / max(1, len(labels))
    for i, (dataset, which) in enumerate(labels):
        group = sorted((c for c in layered if c["dataset"] == dataset and c["cell"].endswith(which)),
                       key=lambda c: c["cell"])
        axes.bar([int(c["cell"].split()[1]) + i * width for c in group], [100 * c["ours"] for c in group],
                 width=width, label=f"{dataset}, {which}")
    plots.finish(figure, axes, path, xlabel="hidden layer", ylabel="exact zeros on the test set (%)",
                 legend_fontsize=7 if labels else None, grid=False)


def main(argv=None) -> int:
    """Each data set of the preset in turn, then the per-layer plot and the table beside the papers'."""
    args = build_parser().parse_args(argv)
    run = common.start(args, MODULE, NAME, PRESETS, OVERRIDES, "Sparsity")
    cells = [cell for dataset in run.preset.datasets for cell in run_dataset(run, dataset)]
    run.finish(cells, summarize(cells, run.preset.label, run.preset.description))
    plot_layers(cells, os.path.join(args.out, "sparsity_layers.png"))
    return 0


def summarize(cells: list[dict], preset: str, description: str) -> str:
    return common.cells_summary(f"Sparsity ({preset} preset)", cells, preset, description)


# ------------------------------------------------------------------------------ the report's part
def workshop_table1(root: str) -> tuple[list[str], list[dict]]:
    """The workshop's Table 1 for the report (``sweeps/report.py``): sparsity per layer (MNIST) and test
    error (Shapeset, MNIST) of the paper preset's cells recorded under the results folder ``root``,
    beside the paper's numbers; the lines and their machine-readable records."""
    record = read(root, f"{SPARSITY}/cells.json") or {"cells": []}
    ours = {c["paper_key"]: c for c in record["cells"] if c.get("preset") == "paper" and c.get("paper_key")}
    lines = ["Left: fraction of zeros per layer, rectifier, MNIST, no pre-training.", "",
             "| Layer | with L1: paper | ours | mark | w/o L1: paper | ours | mark |", "|---|---|---|---|---|---|---|"]
    records = []
    for layer in (1, 2, 3):
        parts = []
        for with_l1 in (True, False):
            key = pn.layer_sparsity_key(with_l1, layer)
            paper, cell = pn.PAPER[key]["value"], ours.get(key)
            value = None if cell is None else cell["ours"]
            parts.append(f"{pct(paper)} | {pct(value)} | {'' if value is None else f'{100 * (value - paper):+.1f}'}")
            records.append({"table": "workshop.table1.left", "key": key, "paper": paper, "ours": value})
        lines.append(f"| Layer {layer} | {' | '.join(parts)} |")
    lines += ["", "(Sparsity has no sampling interval here: the mark is the signed difference in points.)", "",
              "Right: test error without pre-training. Shapeset is our generated set, not the paper's"
              + ("." if any(c.get("dataset") == "shapeset" for c in ours.values()) else
                 f"; not run yet at its own cap ({SHAPESET.epochs} epochs, patience {SHAPESET.patience}, chosen from "
                 "its learning curves: `deep_sparse.presets.SHAPESET_STOPPING`)."), "",
              "| Neuron type | Shapeset: paper | ours | mark | MNIST: paper | ours | mark |",
              "|---|---|---|---|---|---|---|"]
    for neuron, label in pn.WORKSHOP_NEURONS.items():
        parts = []
        for dataset in ("shapeset", "mnist"):
            key = pn.workshop_error_key(dataset, neuron)
            paper, cell = pn.PAPER[key]["value"], ours.get(key)
            value = None if cell is None else cell["ours"]
            parts.append(f"{pct(paper)} | {pct(value)} | {mark(value, paper, 10_000)}")
            records.append({"table": "workshop.table1.right", "key": key, "paper": paper, "ours": value,
                            "mark": mark(value, paper, 10_000)})
        lines.append(f"| {label} | {' | '.join(parts)} |")
    return lines, records


def _rectifiers_without_l1(root: str) -> list[dict]:
    """The plain rectifiers without L1 of the workshop Table 1 sweep on MNIST, one per lr."""
    record = read(root, f"{SPARSITY}/mnist/results.json")
    return [] if record is None else [r for r in record["rows"] if r["activation"] == "rectifier" and r["l1"] == 0
                                      and r.get("sparsity_layer_1") is not None]


def _distance_to_workshop(row: dict) -> float:
    """Mean absolute difference, over the layers, between a network's zeros and the workshop's without L1."""
    return statistics.mean(abs(row[f"sparsity_layer_{layer}"] - pn.WORKSHOP_TABLE1_SPARSITY[(False, layer)])
                           for layer in (1, 2, 3))


def _zeros(row: dict) -> str:
    return " / ".join(f"{100 * row[f'sparsity_layer_{layer}']:.1f}" for layer in (1, 2, 3))


def lr_of_workshop_sparsity(root: str) -> str:
    """One sentence: the lr whose network has the workshop's sparsity without L1, and the lr validation
    picks ("" when the sweep has no such networks yet)."""
    rows = _rectifiers_without_l1(root)
    if not rows:
        return ""
    closest, pick = min(rows, key=_distance_to_workshop), min(rows, key=lambda r: r["valid_error"])
    text = (f"Closest to the paper's sparsity: lr {closest['lr']:g} ({_zeros(closest)}% zeros, "
            f"{100 * _distance_to_workshop(closest):.1f} points away); validation picks lr {pick['lr']:g}"
            + ("" if closest is pick else f", {100 * _distance_to_workshop(pick):.1f} points away: the paper's "
               "sparsity column fits a network trained at a smaller lr than its best one, or is not the network of "
               "its test-error row (the workshop names no lr)") + ".")
    # the epoch count and the measurement set: the pick's zeros over all layers on the validation set, by epoch
    curve = [z for z in pick.get("curves", {}).get("valid_sparsity", []) if z is not None]
    if closest is pick or not curve:
        return text
    paper = statistics.mean(pn.WORKSHOP_TABLE1_SPARSITY[(False, layer)] for layer in (1, 2, 3))
    text += (f" Over its {len(curve)} epochs its zeros on the validation set stay between "
             f"{100 * min(curve):.1f} and {100 * max(curve):.1f}% (the paper's layers average {100 * paper:.1f}%): "
             "neither fewer epochs nor the validation set instead of the test set brings it there.")
    # whether one network can be both the sparsity column's and the test-error row's
    error = pn.WORKSHOP_TABLE1_ERROR[("mnist", "rectifier")]
    inside = [r for r in (closest, pick) if abs(r["test_error"] - error) <= interval(error, 10_000)]
    return text + (f" The workshop's rectifier without L1 has {100 * error:.2f}% test error; "
                   + ("both networks lie" if len(inside) == 2 else
                      f"only lr {inside[0]['lr']:g}'s network lies" if inside else "neither network lies")
                   + " within its interval.")


def sparsity_without_l1(root: str, out_dir: str) -> list[str]:
    """Which learning rate gives the workshop's sparsity without L1 (52 / 44 / 37% zeros per layer),
    read from the rectifiers without L1 of the workshop Table 1 sweep (no run of its own)."""
    rows = _rectifiers_without_l1(root)
    if not rows:
        return []
    paper = [pn.WORKSHOP_TABLE1_SPARSITY[(False, layer)] for layer in (1, 2, 3)]
    link = os.path.relpath(os.path.join(root, SPARSITY, "mnist"), out_dir)
    lines = ["Analysis of recorded rows: which lr gives the workshop's sparsity without L1 (rectifier, MNIST, "
             f"[{SPARSITY}/mnist]({link}), no run of its own):", "",
             "| lr | valid % | test % | zeros per layer % | mean distance to the paper's "
             f"{' / '.join(f'{100 * p:.1f}' for p in paper)} (points) |", "|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: -r["lr"]):
        lines.append(f"| {row['lr']:g} | {100 * row['valid_error']:.2f} | {100 * row['test_error']:.2f} | "
                     f"{_zeros(row)} | {100 * _distance_to_workshop(row):.1f} |")
    return lines + ["", lr_of_workshop_sparsity(root)]


if __name__ == "__main__":
    raise SystemExit(common.cli(main))
