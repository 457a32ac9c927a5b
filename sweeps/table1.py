"""Table 1 of Glorot, Bordes & Bengio (2011): test error of rectifier, tanh and softplus networks
(and the half-negated rectifier variant of section 4.1), with and without denoising auto-encoder
pre-training, on MNIST, CIFAR-10 and NORB (when their files are present) and Shapeset (generated).

Procedure (section 4.1): 3 hidden layers of 1000 units (NORB: 4000-2000), SGD with mini-batches of 10,
an L1 penalty of 0.001 on the activations of the rectifier networks during pre-training and
fine-tuning, masking noise 0.25,
the fine-tuning learning rate chosen on the validation set from {0.1, 0.01, 0.001, 0.0001}. The paper
does not say whether a mini-batch's cost is averaged or summed over its 10 examples; the ``paper`` preset
reads it as summed for the NLL and reconstruction terms and averaged for the L1 term
(``minibatch_cost="summed"``), which for plain SGD is this library's mean cost at 10 times the learning
rates and a tenth of the L1 coefficient (:func:`deep_sparse.config.from_summed_cost`); ``--lr`` values are
in the preset's units (with ``--preset paper``, ``--lr 0.01`` trains at our lr 0.1), and results record
the values the networks trained with. When
several pre-training learning rates are given, the one with the lowest final reconstruction error is
kept first (the paper: "We select the model with the lowest reconstruction error"): the reconstruction
error alone (no noise, no L1 term) of the clean validation inputs, summed over the layers after each
layer's last pre-training epoch. As in the paper, that choice is made before fine-tuning: the stacks of
the other pre-training lrs are not fine-tuned (``not_finetuned`` in ``results.json``, with their
reconstruction errors), a quarter of the fine-tuning of the full grid for the same selected networks.

Significance (the paper's bold cells): for each data set and activation, the selected networks with
and without pre-training give their per-example test errors (recorded by the sweep in each row; a row
recorded before it kept them is retrained alone, ``make_train(config)(PRNGKey(seed), hparams, data)``,
the same computation as in the sweep), and are compared by an
exact two-sided McNemar test on the examples where exactly one of the two is wrong: under the null
hypothesis, each such disagreement favours either network with probability 1/2. p >= 0.05 means
"statistically equivalent" (bold in the paper). The paper does not name its pairwise test; this is a
standard paired test on per-example errors.

Data sets whose files are absent are reported as "not run: no files in DIR", never as a failure.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time
from typing import Optional

import deep_sparse as ds
from deep_sparse import experiment, presets, selection
from deep_sparse.names import DeadlineReached
from deep_sparse.presets import L1_ACTIVATIONS, PAPER_LR_GRID, SHAPESET_STOPPING as SHAPESET, Generated, Subset
from deep_sparse.rows import unpack_wrong
from deep_sparse.selection import mcnemar_exact  # noqa: F401 - the paired test of the bold cells, public here too
from sweeps import common, paper_numbers

NAME = "table1"
MODULE = "sweeps.table1"
ACTIVATIONS = ("half_negated_rectifier", "rectifier", "tanh", "softplus")
DATASETS = ("mnist", "cifar10", "norb", "shapeset")
ALPHA = 0.05
# the preset's settings that --name options override (in the order labels list them)
OVERRIDES = ("datasets", "activations", "epochs", "pretrain_epochs", "lr", "patience")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Table1Preset(presets.DatasetPreset):
    """A Table 1 preset: the settings of every preset (architecture, epochs, patience, data sets and
    their sizes) and

    norb_hidden_sizes: the widths on NORB (the paper's 4000-2000); activations: the rows run;
    pretrain_epochs: DAE epochs per layer of the pre-trained networks (0: only the networks without);
    lr: the fine-tuning lr grid, chosen on the validation error; pretrain_lr: the pre-training lr grid,
    chosen first on the reconstruction error; l1: the L1 penalty on the activations of the
    ``l1_activations`` (the others train without); noise_level: the masking probability; seeds: networks
    per setting; minibatch_cost: the cost the lr and L1 values are given for, "mean" (this library's) or
    "summed" (data term summed over the mini-batch, L1 term averaged: the grid is trained at
    :func:`deep_sparse.config.from_summed_cost`'s values, which results record).
    """

    known_datasets = DATASETS
    known_activations = ACTIVATIONS

    norb_hidden_sizes: tuple[int, ...]
    activations: tuple[str, ...]
    pretrain_epochs: int
    lr: tuple[float, ...]
    pretrain_lr: tuple[float, ...]
    l1: float
    l1_activations: tuple[str, ...]
    noise_level: float
    seeds: int
    minibatch_cost: str


PRESETS = presets.by_name(
    Table1Preset(
        name="quick",
        description="REDUCED, for a CPU in a few minutes: 3 x 100 units, 1 pre-training epoch per layer, at most 3 "
                    "fine-tuning epochs (patience 2), lr grid {0.1, 0.01} in this preset only (the paper's grid is "
                    "{0.1, 0.01, 0.001, 0.0001}), pre-training lr 0.01 only; MNIST: first 1,000 train / 500 valid / "
                    "1,000 test images; Shapeset generated 1,000/500/1,000; CIFAR-10 and NORB likewise subsampled "
                    "when present; the half-negated rectifier (the paper's Rectifier row), tanh and softplus (the plain "
                    "rectifier is left to the paper preset or --activations: on a CPU each activation's networks "
                    "cost mostly compile time)",
        hidden_sizes=(100, 100, 100), norb_hidden_sizes=(100, 100), epochs=3, patience=2, pretrain_epochs=1,
        lr=(0.1, 0.01), pretrain_lr=(0.01,), l1=0.001, l1_activations=L1_ACTIVATIONS, noise_level=0.25, seeds=1,
        minibatch_cost="mean", datasets=DATASETS, activations=("half_negated_rectifier", "tanh", "softplus"),
        sizes={
            "mnist": Subset(train_size=1000, valid_size=500, test_size=1000),
            "cifar10": Subset(train_size=1000, valid_size=500, test_size=1000),
            "norb": Subset(train_size=1000, valid_size=500, test_size=1000),
            "shapeset": Generated(n_train=1000, n_valid=500, n_test=1000, seed=0),
        },
    ),
    # The decoder: section 3.2 names the auto-encoder's parameters "(W_enc, b_enc, W_dec, b_dec)" and
    # writes "f(x, theta) = W_dec max(W_enc x + b_enc, 0) + b_dec", which reads as a decoder of its own;
    # section 4.1 says the models are "stacked denoising auto-encoders (Vincent et al., 2008)", whose
    # decoders are tied, and the workshop version of the same experiments says "the encoder and decoder
    # weights are forced to be the transpose of each other". Section 3.2 writes W_dec to define the linear
    # reconstruction, not to say that it is free, so the preset reads the text as tied weights (TrainConfig's
    # default). The evidence agrees: tanh's pre-trained cell with an untied decoder gave 1.72% test against
    # 1.47% tied (McNemar p = 0.014, results/diagnostics/untied-decoder-tanh); the rectifier's and
    # softplus' untied diagnostics (sweeps/diagnostics.py: untied-decoder-*) are recorded in the report.
    Table1Preset(
        name="paper",
        description="PAPER SCALE: 3 x 1000 units (NORB 4000-2000), full data sets (MNIST 50k/10k/10k, "
                    "Shapeset 10k/10k/10k as in the workshop paper), mini-batch 10, lr and pre-training lr grids "
                    "{0.1, 0.01, 0.001, 0.0001}, L1 0.001 on the rectifier networks only (section 4.1), read as a "
                    "cost whose NLL or reconstruction term is summed over the mini-batch of 10 and whose L1 term "
                    "is averaged over it (the paper does not say how the mini-batch cost is normalised; this "
                    "reading is the one under which the half-negated rectifier reaches the paper's 1.43%, see "
                    "results/diagnostics), so the networks train with this library's mean cost at lr and "
                    "pre-training lr {1, 0.1, 0.01, 0.001} and L1 0.0001; masking "
                    "noise 0.25, 10 pre-training epochs per layer, at most 50 fine-tuning epochs with patience 10 "
                    "(the paper states no epoch counts: 50 because at lr 0.01 tanh's validation error is still "
                    "falling at epoch 20 and the rectifiers' best epochs fall at 10-21, so early stopping, not the "
                    f"cap, ends the runs that are done; on Shapeset at most {SHAPESET.epochs} with patience "
                    f"{SHAPESET.patience}, from its curves: "
                    "presets.SHAPESET_STOPPING); the half-negated rectifier is the paper's Rectifier row, "
                    "the plain rectifier an extra row; the networks without pre-training run first",
        hidden_sizes=(1000, 1000, 1000), norb_hidden_sizes=(4000, 2000), epochs=50, patience=10,
        pretrain_epochs=10, lr=PAPER_LR_GRID, pretrain_lr=PAPER_LR_GRID, l1=0.001, l1_activations=L1_ACTIVATIONS,
        noise_level=0.25, seeds=1, minibatch_cost="summed", datasets=DATASETS, activations=ACTIVATIONS,
        sizes={"shapeset": Generated(n_train=10_000, n_valid=10_000, n_test=10_000, seed=0)},
        stopping={"shapeset": SHAPESET},
    ),
    Table1Preset(
        name="tiny",
        description="TESTS ONLY (tests/test_sweeps_modules.py): Shapeset 200/100/100, 3 x 16 units, 1 epoch, "
                    "rectifier only, one lr; proves the plumbing, measures nothing",
        hidden_sizes=(16, 16, 16), norb_hidden_sizes=(16, 16), epochs=1, patience=None, pretrain_epochs=1,
        lr=(0.1,), pretrain_lr=(0.01,), l1=0.001, l1_activations=L1_ACTIVATIONS, noise_level=0.25, seeds=1,
        minibatch_cost="mean", datasets=("shapeset",), activations=("rectifier",),
        sizes={"shapeset": Generated(n_train=200, n_valid=100, n_test=100, seed=0)},
    ),
)


def build_parser() -> argparse.ArgumentParser:
    def extra(parser: argparse.ArgumentParser) -> None:
        # --pretrain-epochs 0 runs only the networks without pre-training
        common.add_rule_arguments(parser, ("activation", "pretrain_epochs", "lr", "patience"),
                                  choices={"activation": ACTIVATIONS})
        parser.add_argument("--no-significance", action="store_true",
                            help="skip the retraining of the selected networks and the McNemar test")

    return common.dataset_parser(
        MODULE, __doc__, PRESETS, "one folder per data set (results.csv, results.json, cells.json, significance.json), "
                                  "and summary.md (Table 1 beside the paper's) at the top.",
        DATASETS, "runs/table1", extra=extra)


# ------------------------------------------------------------------------------ significance test
def per_example_errors(config, row: dict, data):
    """Retrain the network of ``row`` alone and return (wrong on each test example, its test error)."""
    # a row recorded before a hyperparameter existed ran at its default, which Hparams fills in
    hparams = ds.config.Hparams(**{name: (math.inf if row[name] is None else row[name])
                                   for name in ds.config.HPARAM_NAMES if name in row})
    return ds.train.wrong_on_test(config, hparams, int(row["seed"]), data)


def seconds_per_network_epoch(folder: str) -> Optional[float]:
    """Training seconds per network-epoch over every invocation recorded in ``folder``'s
    ``results.json`` (None when nothing was timed)."""
    path = os.path.join(folder, "results.json")
    if not os.path.exists(path):
        return None
    recorded = ds.results_io.read_json(path)
    groups = [g for run in recorded.get("previous_runs", []) + [recorded]
              for g in (run.get("timings") or {}).get("groups", [])]
    epochs = sum(g.get("network_epochs", 0) for g in groups)
    return sum(g.get("train_seconds", 0.0) for g in groups) / epochs if epochs else None


def check_time_for(pair: list[dict], n_layers: int, deadline: Optional[float], speed: Optional[float]) -> None:
    """Raise DeadlineReached when retraining ``pair`` (its epochs at ``speed`` seconds per
    network-epoch) would not end before ``deadline``; a finished test is kept, so the next run
    continues with this one."""
    if deadline is None or speed is None or not pair:
        return
    needed = speed * sum(row["epochs_run"] + row["pretrain_epochs"] * n_layers for row in pair)
    if time.time() + needed > deadline:
        raise DeadlineReached(
            f"the significance test of networks {[row['network'] for row in pair]} needs about {needed / 60:.0f} "
            "min of retraining, more than the time budget leaves")


def significance_tests(config, preset: Table1Preset, chosen: dict, data, path: str,
                       deadline: Optional[float] = None) -> dict:
    """McNemar test of each activation's selected networks with and without pre-training, written to
    ``path``; a test already recorded there for the same two networks is reused. A network's
    per-example test errors come from its row (``test_wrong``, recorded by the sweep) or, for rows
    recorded before the sweep kept them, from retraining it alone (as costly as training it: about 20
    minutes per network at paper scale on a CPU); a pair that could not be retrained before
    ``deadline`` (at the speed the sweep recorded) is not started."""
    recorded = ds.results_io.read_json(path) if os.path.exists(path) else {}
    speed = seconds_per_network_epoch(os.path.dirname(path))
    significance = {}
    for activation in preset.activations:
        pair = [chosen.get((activation, True)), chosen.get((activation, False))]
        if preset.pretrain_epochs == 0:
            significance[activation] = {"note": "not tested: --pretrain-epochs 0 trains no pre-trained network"}
            continue
        if any(r is None or r["diverged"] for r in pair):
            significance[activation] = {"note": "not tested: a selected network diverged or is missing"}
            continue
        networks = [row["network"] for row in pair]
        if recorded.get(activation, {}).get("networks") == networks:
            significance[activation] = recorded[activation]
            continue
        check_time_for([row for row in pair if "test_wrong" not in row], len(config.hidden_sizes), deadline, speed)
        wrong, retrained = [], []
        for row in pair:
            if "test_wrong" in row:  # recorded by the sweep: nothing to retrain
                wrong.append(unpack_wrong(row["test_wrong"]))
                retrained.append(None)
                continue
            group_config = config.replace(activation=activation, pretrain_epochs=row["pretrain_epochs"])
            w, error = per_example_errors(group_config, row, data)
            wrong.append(w)
            retrained.append(error)
        test = paired_test(wrong[0], wrong[1])
        test.update({
            "test": "exact two-sided McNemar on per-example test errors", "networks": networks, "alpha": ALPHA,
            # None: the per-example errors were recorded in the sweep's row, not retrained
            "retrained_test_error": {"pretrained": retrained[0], "no_pretraining": retrained[1]},
            "sweep_test_error": {"pretrained": pair[0]["test_error"], "no_pretraining": pair[1]["test_error"]},
        })
        significance[activation] = test
        ds.results_io.atomic_write_json(path, {**recorded, **significance})  # each finished test is kept
    ds.results_io.atomic_write_json(path, significance)
    return significance


def paired_test(wrong_with, wrong_without) -> dict:
    """The exact McNemar test of a cell's networks with and without pre-training on their per-example
    test errors, and whether they are ``equivalent`` (p >= ALPHA: bold in the paper)."""
    test = mcnemar_exact(wrong_with, wrong_without)
    return {**test, "equivalent": test["p_value"] >= ALPHA}


def retrained_copy_note(test: dict) -> str:
    """A warning for a McNemar test whose retrained network did not reproduce the sweep's test error
    (XLA's CPU results depend on the number of threads, so a retrain on another core count can follow
    another trajectory): the test then compares the retrained copy, not the network in the table."""
    retrained, recorded = test.get("retrained_test_error") or {}, test.get("sweep_test_error") or {}
    sides = {"pretrained": "with", "no_pretraining": "without"}
    differing = [f"the network {sides[side]} pre-training gave {100 * recorded[side]:.2f}% in the sweep and "
                 f"{100 * value:.2f}% retrained" for side, value in retrained.items()
                 if value is not None and value != recorded.get(side)]
    return ("the McNemar test used a retrained copy that did not reproduce the sweep's network: " + "; ".join(differing)
            if differing else "")


# ------------------------------------------------------------------------------ selection
def select(rows: list[dict]) -> dict:
    """{(activation, pretrained): row}, by the rule of :mod:`deep_sparse.selection` (the pre-training lr
    of lowest clean validation reconstruction error summed over layers, then the fine-tuning lr of
    lowest validation error; never the test error), in the order activation, then without / with
    pre-training."""
    chosen = selection.select(rows, key=cell_key)
    order = [(activation, pretrained) for activation in dict.fromkeys(r["activation"] for r in rows)
             for pretrained in (False, True)]
    return {group: chosen[group] for group in order if group in chosen}


def cell_key(row: dict) -> tuple[str, bool]:
    """The Table 1 cell a network or grid point belongs to: (activation, pre-trained)."""
    return row["activation"], row["pretrain_epochs"] > 0


def table1_grid(preset: Table1Preset) -> list[dict]:
    """The networks of one data set, those without pre-training first (so that a sweep stopped early
    has finished them): activation x fine-tuning lr x seed, and with pre-training also x pre-training
    lr. The L1 penalty goes only to the activations in ``preset.l1_activations`` (the paper's rectifier
    networks); the others train with L1 = 0."""
    grid = []
    lrs, pretrain_lrs, l1 = trained_values(preset)
    for pretrain_epochs in sorted({0, preset.pretrain_epochs}):
        for activation in preset.activations:
            grid += ds.sweep.product(
                activation=[activation], pretrain_epochs=[pretrain_epochs], lr=lrs,
                # a network without pre-training does not depend on the pre-training lr: keep one of them
                pretrain_lr=pretrain_lrs if pretrain_epochs else pretrain_lrs[:1],
                l1=[l1 if activation in preset.l1_activations else 0.0], noise_level=[preset.noise_level],
                seed=presets.seed_values(preset.seeds))
    return grid


def trained_values(preset: Table1Preset) -> tuple[tuple[float, ...], tuple[float, ...], float]:
    """The fine-tuning lrs, pre-training lrs and L1 coefficient the preset's networks train with
    (:func:`deep_sparse.presets.trained_values`)."""
    values = presets.trained_values(preset.minibatch_cost, lr=preset.lr, pretrain_lr=preset.pretrain_lr, l1=preset.l1)
    return values["lr"], values["pretrain_lr"], values["l1"][0]


def cell_label(activation: str, pretrained: bool) -> str:
    return f"{activation}, {'with' if pretrained else 'without'} pre-training"


def run_dataset(run: experiment.Run, dataset: str, significance: bool = True) -> list[dict]:
    """Sweep one data set, select each row's network, test the pairs; returns its cells (ours beside
    the paper's)."""
    preset = run.preset
    base = preset.train_config(dataset, activation=preset.activations[0], corruption="mask")
    folder, config, data, reason = run.open_dataset(dataset, base)
    if reason is not None:
        return [run.cell(dataset, cell_label(a, p), "test_error", None, paper_numbers.table1_key_for(dataset, a, p),
                         note=reason) for a in preset.activations for p in (True, False)]
    # the pre-training lr is chosen on reconstruction error before fine-tuning, as the paper does
    rows = run.sweep(config, table1_grid(preset), folder, data, select_pretrain_lr=(), dataset=dataset)
    chosen = select(rows)
    tests = significance_tests(config, preset, chosen, data, os.path.join(folder, "significance.json"),
                               run.sweep_options.deadline) if significance else {}
    sizes = experiment.split_sizes(data)
    cells = []
    for (activation, pretrained), row in chosen.items():
        test = tests.get(activation, {})
        cells.append(run.cell(
            dataset, cell_label(activation, pretrained), "test_error", None if row["diverged"] else row["test_error"],
            paper_numbers.table1_key_for(dataset, activation, pretrained),
            n_test=sizes["n_test"], n_train=sizes["n_train"],
            networks=sum(cell_key(r) == (activation, pretrained) for r in rows),
            lr=row["lr"], pretrain_lr=row["pretrain_lr"] if pretrained else None, sparsity=row["sparsity"],
            diverged=row["diverged"], equivalent=test.get("equivalent"), p_value=test.get("p_value"),
            **({"note": note} if (note := retrained_copy_note(test)) else {}),
        ))
    experiment.write_cells(folder, cells)
    return cells


def main(argv=None) -> int:
    """Table 1: each data set of the preset in turn, then the table beside the paper's."""
    args = build_parser().parse_args(argv)
    run = common.start(args, MODULE, NAME, PRESETS, OVERRIDES, "Table 1")
    cells = [cell for dataset in run.preset.datasets
             for cell in run_dataset(run, dataset, significance=not args.no_significance)]
    run.finish(cells, summarize(cells, run.preset.label, run.preset.description))
    return 0


def summarize(cells: list[dict], preset: str, description: str) -> str:
    """Table 1 beside the paper's, with the McNemar tests (``preset``: the preset's label)."""
    table = []
    for c in cells:
        paper = paper_numbers.lookup(c["paper_key"])
        table.append({
            "data set": c["dataset"], "network": c["cell"],
            "ours %": None if c["ours"] is None else 100 * c["ours"],
            "paper %": None if paper is None else 100 * paper["value"],
            "equivalent (p>=0.05)": {True: "yes", False: "no"}.get(c.get("equivalent"), ""),
            "p": c.get("p_value"), "sparsity %": None if c.get("sparsity") is None else 100 * c["sparsity"],
            "lr": c.get("lr"), "n test": c.get("n_test"), "note": c.get("note", ""),
        })
    paper = common.compares_with_paper(preset)
    if not paper:
        table = common.without_paper_columns(table)
    lines = [f"# Table 1 ({preset} preset)", "", common.preset_banner(preset), "", description, "",
             ds.results_io.format_table(table, list(table[0]) if table else ["data set"],
                                     {"ours %": ".2f", "paper %": ".2f", "p": ".3g", "sparsity %": ".1f", "lr": "g"})]
    if paper:
        lines += ["", "Equivalence: exact two-sided McNemar test on per-example test errors of the selected networks "
                      "with and without pre-training (p >= 0.05: statistically equivalent, bold in the paper)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(common.cli(main))
