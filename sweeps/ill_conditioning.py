"""Section 3.1's ill-conditioning, measured: OUR EXPERIMENT, NOT IN THE PAPERS.

A rectifier network computes the same function after ``W_i -> W_i / alpha_i``, ``b_i -> b_i /
(alpha_1 ... alpha_i)`` whenever the alphas' product over the layers (output layer included) is 1; the
paper points out this ill-conditioning of the parametrization and measures nothing. Here one initial
network (one seed) is started from each alpha vector of a grid, so that every network is the same
function at step 0, and all are trained in one batched sweep by the same SGD at the same lr, with and
without the L1 penalty. Plain SGD in the rescaled coordinates is SGD in the original ones with per-layer
learning rates ``lr * alpha_i^2`` (weights) and ``lr * (alpha_1 ... alpha_i)^2`` (biases), and an L1
coefficient divided by ``alpha_1 ... alpha_i`` on hidden layer i: what differs between the networks at
the end (test error, sparsity, the weight norms of each layer) is the parametrization's doing alone.
"""
from __future__ import annotations

import argparse
import dataclasses
import fractions
import math
import os

import deep_sparse as ds
from deep_sparse import experiment, hparam_rules, plots, presets
from deep_sparse.presets import Generated, Subset
from sweeps import common
from sweeps.report_tables import live_rows, read

NAME = "ill_conditioning"
MODULE = "sweeps.ill_conditioning"
DATASETS = ("mnist", "shapeset")  # MNIST, the paper's data set; Shapeset for the tests' fake loader
LABEL = "our experiment, not in the papers"
PAPER_FOLDER = "ill-conditioning-paper"  # under the results folder: what report_lines reads
OVERRIDES = ("datasets", "epochs", "lr")
FORMATS = {"L1": "g", "test error %": ".2f", "valid error %": ".2f", "sparsity %": ".1f"}
# Scale moved between hidden layers (output layer's alpha 1: the last hidden layer's activations and the
# output weights start as they were) apart from scale moved onto the output layer (every hidden activation
# rescaled, and with it the L1 term; the softmax weights rescaled the other way).
ALPHA_VECTORS = ((1, 1, 1, 1),
                 (2, 1 / 2, 1, 1), (1 / 2, 2, 1, 1), (4, 1, 1 / 4, 1),
                 (2, 1, 1, 1 / 2), (1 / 2, 1, 1, 2), (4, 1, 1, 1 / 4), (1 / 2, 1 / 2, 2, 2))


@dataclasses.dataclass(frozen=True, kw_only=True)
class IllConditioningPreset(presets.DatasetPreset):
    """An ill-conditioning preset: the settings of every preset (architecture, epochs, patience, data
    sets and their sizes) and alpha_vectors: the per-layer factors each network starts from (one per
    layer, output layer included, product 1); lr: the learning rate of every network; l1: the L1
    values, each crossed with every alpha vector; seeds: the initial networks (each rescaled by every
    alpha vector); minibatch_cost: the cost lr and l1 are given for, "mean" (this library's) or "summed"
    (Table 1's paper preset's reading: the networks train at :func:`deep_sparse.presets.trained_values`')."""

    known_datasets = DATASETS

    lr: float | tuple[float, ...]
    l1: tuple[float, ...]
    seeds: int | tuple[int, ...]
    minibatch_cost: str
    alpha_vectors: tuple[tuple[float, ...], ...] = presets.setting(
        lambda value: isinstance(value, tuple) and bool(value), "a non-empty list of alpha vectors")

    def __post_init__(self):
        super().__post_init__()
        for index, vector in enumerate(self.alpha_vectors):
            problem = hparam_rules.alpha_vector_problem(vector, len(self.hidden_sizes) + 1)
            if problem:
                raise ValueError(f"preset {self.label!r} ({type(self).__name__}): alpha_vectors[{index}] {problem}")


PRESETS = presets.by_name(
    IllConditioningPreset(
        name="quick",
        description=f"REDUCED, for a CPU in about 10 minutes ({LABEL}): 3 x 300 rectifier units, MNIST's first "
                    "20,000 training and 5,000 validation images, every test image, at most 10 epochs (patience "
                    "3), one seed, lr 0.01 and L1 {0, 0.001} read as the paper preset reads them (trained at lr "
                    "0.1, L1 0.0001), 8 alpha vectors: 16 networks",
        hidden_sizes=(300, 300, 300), epochs=10, patience=3, lr=0.01, l1=(0.0, 0.001), seeds=(0,),
        minibatch_cost="summed", alpha_vectors=ALPHA_VECTORS, datasets=("mnist",),
        sizes={"mnist": Subset(train_size=20_000, valid_size=5_000, test_size=None)},
    ),
    IllConditioningPreset(
        name="paper",
        description=f"PAPER SCALE, for a GPU ({LABEL}): 3 x 1000 rectifier units, MNIST 50k/10k/10k, mini-batch "
                    "10, at most 50 epochs (patience 10), one seed, lr 0.01 and L1 {0, 0.001} (section 4.1's) "
                    "read as Table 1's paper preset reads them (NLL summed over the mini-batch, L1 averaged: "
                    "trained at lr 0.1, L1 0.0001), 8 alpha vectors: 16 networks",
        hidden_sizes=(1000, 1000, 1000), epochs=50, patience=10, lr=0.01, l1=(0.0, 0.001), seeds=(0,),
        minibatch_cost="summed", alpha_vectors=ALPHA_VECTORS, datasets=("mnist",),
    ),
    IllConditioningPreset(
        name="tiny",
        description="TESTS ONLY (tests/test_ill_conditioning.py): Shapeset 200/100/100, 2 x 16 rectifier units, "
                    "1 epoch, 3 alpha vectors x L1 {0, 0.001}; proves the plumbing, measures nothing",
        hidden_sizes=(16, 16), epochs=1, patience=None, lr=0.1, l1=(0.0, 0.001), seeds=(0,), minibatch_cost="mean",
        alpha_vectors=((1, 1, 1), (2, 1 / 2, 1), (2, 1, 1 / 2)), datasets=("shapeset",),
        sizes={"shapeset": Generated(n_train=200, n_valid=100, n_test=100, seed=0)},
    ),
)


def build_parser() -> argparse.ArgumentParser:
    return common.dataset_parser(
        MODULE, __doc__, PRESETS, "one folder per data set (results.csv, results.json: one row per network, its "
                                  "init_alpha_* and weight_norm_layer_*), ill_conditioning.png and summary.md "
                                  "at the top.",
        DATASETS, "runs/ill_conditioning", extra=lambda parser: common.add_rule_arguments(parser, ("lr",)))


def grid(preset: IllConditioningPreset) -> list[dict]:
    """Every seed x lr x L1 x alpha vector, the alpha vectors innermost (each L1 block a figure)."""
    values = presets.trained_values(preset.minibatch_cost, lr=preset.lr, l1=preset.l1)
    return [{"seed": seed, "lr": lr, "l1": l1, **hparam_rules.init_alpha_values(vector)}
            for seed in presets.seed_values(preset.seeds) for lr in values["lr"] for l1 in values["l1"]
            for vector in preset.alpha_vectors]


def main(argv=None) -> int:
    """Each data set's sweep over the alpha grid, then the figure and the summary."""
    args = build_parser().parse_args(argv)
    run = common.start(args, MODULE, NAME, PRESETS, OVERRIDES, "Ill-conditioning")
    rows = {}
    for dataset in run.preset.datasets:
        folder, config, data, reason = run.open_dataset(dataset, run.preset.train_config(dataset,
                                                                                         activation="rectifier"))
        rows[dataset] = [] if reason else run.sweep(config, grid(run.preset), folder, data, dataset=dataset)
    draw({d: r for d, r in rows.items() if r}, os.path.join(args.out, "ill_conditioning.png"), run.preset.label)
    text = summarize(rows, run.preset.label, run.preset.description)
    common.write_text(os.path.join(args.out, "summary.md"), text)
    print(text)
    return 0


# ------------------------------------------------------------------------------ reading the rows
def alpha_vector(row: dict) -> tuple[float, ...]:
    """The alpha vector a row's network started from: its ``init_alpha_*`` for its hidden layers, and the
    output layer's ``1 / prod_i alpha_i``."""
    n_hidden = len(row["hidden_sizes"].split("-"))
    hidden = [row.get(name, 1.0) for name in hparam_rules.INIT_ALPHA_NAMES[:n_hidden]]
    return (*hidden, *[1.0] * (n_hidden - len(hidden)), 1.0 / math.prod(hidden))


def vector_label(vector) -> str:
    """``(2, 1/2, 1, 1)``."""
    return "(" + ", ".join(str(fractions.Fraction(v).limit_denominator(64)) for v in vector) + ")"


def moved(vector) -> str:
    """Where the vector moves scale: nowhere, between hidden layers, or onto (or off) the output layer."""
    if all(math.isclose(v, 1.0) for v in vector):
        return "none"
    return "between hidden layers" if math.isclose(vector[-1], 1.0) else "to/from the output layer"


def norms(row: dict) -> list[float]:
    """``||W_i||_F`` of each layer at the end (the best validation epoch's parameters)."""
    return [row[f"weight_norm_layer_{i}"] for i in range(1, len(alpha_vector(row)) + 1)]


def table(rows: list[dict]) -> list[dict]:
    """One line per network: its alpha vector, L1, errors, sparsity, and each layer's weight norm at the
    end with, beside it, the norm times alpha_i (the trained network written back in the unscaled
    coordinates: what the unscaled run's norm would be were SGD blind to the parametrization)."""
    lines = []
    for row in rows:
        vector = alpha_vector(row)
        line = {"alpha vector": vector_label(vector), "scale moved": moved(vector), "L1": row["l1"],
                "test error %": 100 * row["test_error"], "valid error %": 100 * row["valid_error"],
                "sparsity %": 100 * row["sparsity"], "best epoch": row["best_epoch"], "diverged": row["diverged"]}
        for layer, (norm, alpha) in enumerate(zip(norms(row), vector), start=1):
            line[f"|W{layer}| (x alpha)"] = f"{norm:.2f} ({norm * alpha:.2f})"
        lines.append(line)
    return lines


def summarize(rows_by_dataset: dict, label: str, description: str) -> str:
    """The summary, in Markdown: per data set one line per network and the spread the alpha vectors
    cause at each L1 value."""
    lines = [f"# Section 3.1's ill-conditioning, measured ({label} preset): {LABEL}", "",
             common.preset_banner(label), "", description, "",
             "Every network of a seed starts as the same function (the seed's initial network rescaled by its "
             "alpha vector, product 1); they differ only by their parametrization. SGD in the rescaled "
             "coordinates is SGD in the unscaled ones with per-layer learning rates lr alpha_i^2 (weights) and "
             "lr (alpha_1 ... alpha_i)^2 (biases), and hidden layer i's L1 coefficient divided by alpha_1 ... "
             "alpha_i. Norms are those of the parameters the error is measured with (best validation epoch); "
             "beside each, the norm times alpha_i: the trained network written back in the unscaled coordinates.",
             ""]
    for dataset, rows in rows_by_dataset.items():
        if not rows:
            lines += [f"## {dataset}", "", "Not run (no data).", ""]
            continue
        networks = table(rows)
        lines += [f"## {dataset}", "", ds.results_io.format_table(networks, list(networks[0]), FORMATS), "",
                  "Spread over the alpha vectors (diverged, dead and collapsed networks left out):", "",
                  spread_table(rows), ""]
    return "\n".join(lines)


def spread_table(rows: list[dict]) -> str:
    """Per L1 value, the range of test error and sparsity over the alpha vectors (live networks)."""
    spread = []
    for l1 in sorted({r["l1"] for r in rows}):
        live = [r for r in live_rows(rows) if r["l1"] == l1]
        errors = [100 * r["test_error"] for r in live]
        zeros = [100 * r["sparsity"] for r in live]
        spread.append({"L1": l1, "networks": sum(r["l1"] == l1 for r in rows), "trained": len(live),
                       "test error % min": min(errors, default=None), "test error % max": max(errors, default=None),
                       "sparsity % min": min(zeros, default=None), "sparsity % max": max(zeros, default=None)})
    return ds.results_io.format_table(spread, list(spread[0]), {
        "L1": "g", "test error % min": ".2f", "test error % max": ".2f", "sparsity % min": ".1f",
        "sparsity % max": ".1f"})


def draw(rows_by_dataset: dict, path: str, label: str) -> None:
    """Test error, sparsity and ``alpha_i ||W_i||`` at the end against the alpha vector, one marker per
    L1 value (diverged, dead and collapsed networks left out)."""
    for dataset, rows in rows_by_dataset.items():
        figure, (error_axes, sparsity_axes, norm_axes) = plots.new_panels(3, (17.0, 4.6))
        vectors = list(dict.fromkeys(alpha_vector(r) for r in rows))
        names = [vector_label(v) for v in vectors]
        for l1, marker in zip(sorted({r["l1"] for r in rows}), "os^v"):
            live = [r for r in live_rows(rows) if r["l1"] == l1]
            x = [vectors.index(alpha_vector(r)) for r in live]
            error_axes.plot(x, [100 * r["test_error"] for r in live], marker, label=f"L1 {l1:g}")
            sparsity_axes.plot(x, [100 * r["sparsity"] for r in live], marker, label=f"L1 {l1:g}")
            for layer in range(len(vectors[0])):
                norm_axes.plot(x, [norms(r)[layer] * alpha_vector(r)[layer] for r in live], marker,
                               color=f"C{layer}", fillstyle="full" if l1 == 0 else "none",
                               label=f"layer {layer + 1}, L1 {l1:g}")
        for axes, ylabel in ((error_axes, "test error (%)"), (sparsity_axes, "exact zeros on the test set (%)"),
                             (norm_axes, "alpha_i x ||W_i|| at the end")):
            axes.set_xticks(range(len(vectors)), names, rotation=35, ha="right", fontsize=8)
            axes.set_ylabel(ylabel)
            axes.grid(alpha=0.3)
            axes.legend(fontsize=7)
        norm_axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
        norm_axes.set_yscale("log")
        figure.tight_layout()
        error_axes.set_title(f"{dataset}, {label} preset: {LABEL}")
        plots.finish(figure, norm_axes, path if len(rows_by_dataset) == 1 else path.replace(".png", f"_{dataset}.png"),
                     xlabel="alpha vector (W_i / alpha_i)", legend_fontsize=None)


def report_lines(root: str, out_dir: str) -> list[str]:
    """The report's section: the paper preset's networks recorded under the results folder ``root``
    (``ill-conditioning-paper/mnist``), drawn to ``report_ill_conditioning.png`` in ``out_dir``, and their
    table; labelled as our experiment, with no paper number (the papers have none)."""
    record = read(root, f"{PAPER_FOLDER}/mnist/results.json")
    if record is None or not record["rows"]:
        return [f"Section 3.1's ill-conditioning ({LABEL}): not run at the paper preset yet."]
    rows = record["rows"]
    path = os.path.join(out_dir, "report_ill_conditioning.png")
    draw({"mnist": rows}, path, record.get("preset", "paper"))
    summary = os.path.relpath(os.path.join(root, PAPER_FOLDER, "summary.md"), out_dir)
    return [f"Section 3.1's ill-conditioning, {LABEL}: {len(rows)} rectifier networks, each the same function "
            "at step 0 (one initial network rescaled by an alpha vector of product 1), trained alike; each "
            f"network's errors, sparsity and weight norms in [summary.md]({summary}). Spread over the alpha "
            "vectors:", "", *spread_table(rows).splitlines(), "",
            f"![ill-conditioning, ours]({os.path.relpath(path, out_dir)})"]


if __name__ == "__main__":
    raise SystemExit(common.cli(main))
