"""Table 1 of Glorot, Bordes & Bengio (2011): test error of rectifier, tanh and softplus networks
(and the half-negated rectifier variant of section 4.1), with and without denoising auto-encoder
pre-training, on MNIST, CIFAR-10 and NORB (when their files are present) and Shapeset (generated).

Procedure (section 4.1): 3 hidden layers of 1000 units (NORB: 4000-2000), SGD with mini-batches of 10,
an L1 penalty of 0.001 on the activations of the rectifier networks during pre-training and
fine-tuning, masking noise 0.25,
the fine-tuning learning rate chosen on the validation set from {0.1, 0.01, 0.001, 0.0001}; when
several pre-training learning rates are given, the one with the lowest final reconstruction error is
kept first (the paper: "We select the model with the lowest reconstruction error"): the reconstruction
error alone (no noise, no L1 term) of the clean validation inputs, summed over the layers after each
layer's last pre-training epoch.

Significance (the paper's bold cells): for each data set and activation, the selected networks with
and without pre-training are retrained alone (``make_train(config)(PRNGKey(seed), hparams, data)``,
the same computation as in the sweep) to get their per-example test predictions, and compared by an
exact two-sided McNemar test on the examples where exactly one of the two is wrong: under the null
hypothesis, each such disagreement favours either network with probability 1/2. p >= 0.05 means
"statistically equivalent" (bold in the paper). The paper does not name its pairwise test; this is a
standard paired test on per-example errors.

Data sets whose files are absent are reported as "not run: no files in DIR", never as a failure.
"""
from __future__ import annotations

import argparse
import math
import os

NAME = "table1"
MODULE = "sweeps.table1"
ACTIVATIONS = ("half_negated_rectifier", "rectifier", "tanh", "softplus")
L1_ACTIVATIONS = ("half_negated_rectifier", "rectifier")
DATASETS = ("mnist", "cifar10", "norb", "shapeset")
LR_GRID = [0.1, 0.01, 0.001, 0.0001]
ALPHA = 0.05

PRESETS = {
    "quick": dict(
        description="REDUCED, for a CPU in a few minutes: 3 x 100 units, 1 pre-training epoch per layer, at most 3 "
                    "fine-tuning epochs (patience 2), lr grid {0.1, 0.01} in this preset only (the paper's grid is "
                    "{0.1, 0.01, 0.001, 0.0001}), pre-training lr 0.01 only; MNIST: first 1,000 train / 500 valid / "
                    "1,000 test images; Shapeset generated 1,000/500/1,000; CIFAR-10 and NORB likewise subsampled "
                    "when present; the half-negated rectifier (the paper's Rectifier row), tanh and softplus (the plain "
                    "rectifier is left to the paper preset or --activations: on a CPU each activation's networks "
                    "cost mostly compile time)",
        hidden_sizes=(100, 100, 100), norb_hidden_sizes=(100, 100), epochs=3, patience=2, pretrain_epochs=1,
        lr=[0.1, 0.01], pretrain_lr=[0.01], l1=0.001, l1_activations=L1_ACTIVATIONS, noise_level=0.25, seeds=1,
        datasets=list(DATASETS), activations=["half_negated_rectifier", "tanh", "softplus"],
        sizes={
            "mnist": dict(train_size=1000, valid_size=500, test_size=1000),
            "cifar10": dict(train_size=1000, valid_size=500, test_size=1000),
            "norb": dict(train_size=1000, valid_size=500, test_size=1000),
            "shapeset": dict(n_train=1000, n_valid=500, n_test=1000, seed=0),
        },
    ),
    "paper": dict(
        description="PAPER SCALE: 3 x 1000 units (NORB 4000-2000), full data sets (MNIST 50k/10k/10k, "
                    "Shapeset 10k/10k/10k as in the workshop paper), mini-batch 10, lr and pre-training lr grids "
                    "{0.1, 0.01, 0.001, 0.0001}, L1 0.001 on the rectifier networks only (section 4.1), masking "
                    "noise 0.25, 10 pre-training epochs per layer, at most 50 fine-tuning epochs with patience 10 "
                    "(the paper states no epoch counts: 50 because at lr 0.01 tanh's validation error is still "
                    "falling at epoch 20 and the rectifiers' best epochs fall at 10-21, so early stopping, not the "
                    "cap, ends the runs that are done); the half-negated rectifier is the paper's Rectifier row, "
                    "the plain rectifier an extra row; the networks without pre-training run first",
        hidden_sizes=(1000, 1000, 1000), norb_hidden_sizes=(4000, 2000), epochs=50, patience=10,
        pretrain_epochs=10, lr=LR_GRID, pretrain_lr=LR_GRID, l1=0.001, l1_activations=L1_ACTIVATIONS,
        noise_level=0.25, seeds=1,
        datasets=list(DATASETS), activations=list(ACTIVATIONS),
        sizes={"shapeset": dict(n_train=10_000, n_valid=10_000, n_test=10_000, seed=0)},
    ),
    "tiny": dict(
        description="TESTS ONLY (tests/test_sweeps_modules.py): Shapeset 200/100/100, 3 x 16 units, 1 epoch, "
                    "rectifier only, one lr; proves the plumbing, measures nothing",
        hidden_sizes=(16, 16, 16), norb_hidden_sizes=(16, 16), epochs=1, patience=None, pretrain_epochs=1,
        lr=[0.1], pretrain_lr=[0.01], l1=0.001, l1_activations=L1_ACTIVATIONS, noise_level=0.25, seeds=1,
        datasets=["shapeset"], activations=["rectifier"],
        sizes={"shapeset": dict(n_train=200, n_valid=100, n_test=100, seed=0)},
    ),
}


def build_parser() -> argparse.ArgumentParser:
    from sweeps import common

    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--activations", nargs="+", choices=ACTIVATIONS, default=None,
                            help="override the preset's activations")
        parser.add_argument("--pretrain-epochs", type=int, default=None,
                            help="override the pre-training epochs per layer; 0 runs only the networks "
                                 "without pre-training")
        parser.add_argument("--lr", type=float, nargs="+", default=None,
                            help="override the preset's fine-tuning learning-rate grid")
        parser.add_argument("--patience", type=int, default=None,
                            help="override the preset's early-stopping patience in epochs")
        parser.add_argument("--no-significance", action="store_true",
                            help="skip the retraining of the selected networks and the McNemar test")

    return common.dataset_parser(
        MODULE, __doc__, PRESETS, "one folder per data set (results.csv, results.json, cells.json, significance.json), "
                                  "and summary.md (Table 1 beside the paper's) at the top.",
        DATASETS, "runs/table1", extra=extra)


# ------------------------------------------------------------------------------ significance test
def mcnemar_exact(wrong_a, wrong_b) -> dict:
    """Exact two-sided McNemar test on paired per-example errors (booleans, same examples).

    b: examples only A gets wrong, c: only B. Under H0 (equal error rates), b ~ Binomial(b + c, 1/2);
    p = min(1, 2 * P(X <= min(b, c))). Returns {"b", "c", "n", "p_value"}.
    """
    import numpy as np

    wrong_a, wrong_b = np.asarray(wrong_a, bool), np.asarray(wrong_b, bool)
    if wrong_a.shape != wrong_b.shape:
        raise ValueError(f"paired errors need the same examples, got shapes {wrong_a.shape} and {wrong_b.shape}")
    b = int(np.sum(wrong_a & ~wrong_b))
    c = int(np.sum(~wrong_a & wrong_b))
    n = b + c
    if n == 0:
        return {"b": 0, "c": 0, "n": int(wrong_a.size), "p_value": 1.0}
    k = min(b, c)
    log_terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    top = max(log_terms)
    tail = math.exp(top) * sum(math.exp(t - top) for t in log_terms)
    return {"b": b, "c": c, "n": int(wrong_a.size), "p_value": min(1.0, 2.0 * tail)}


def per_example_errors(config, row: dict, data):
    """Retrain the network of ``row`` alone and return (wrong on each test example, its test error)."""
    import jax
    import jax.numpy as jnp

    import deep_sparse as ds

    hparams = ds.config.Hparams(**{name: (math.inf if row[name] is None else row[name])
                                   for name in ds.config.HPARAM_NAMES})
    trainer = ds.train.make_train(config)
    result = jax.jit(trainer)(jax.random.PRNGKey(int(row["seed"])), hparams, data)
    logits, _ = ds.mlp.apply(result.params, data.x_test, trainer.activation(hparams))
    wrong = jax.device_get(jnp.argmax(logits, axis=-1) != data.y_test)
    return wrong, float(result.test_error)


def significance_tests(config, preset: dict, chosen: dict, data, path: str) -> dict:
    """McNemar test of each activation's selected networks with and without pre-training, written to
    ``path``; a test already recorded there for the same two networks is reused (retraining them
    alone costs as much as training them: about 40 minutes per pair at paper scale on a CPU)."""
    import deep_sparse as ds

    recorded = ds.results_io.read_json(path) if os.path.exists(path) else {}
    significance = {}
    for activation in preset["activations"]:
        pair = [chosen.get((activation, True)), chosen.get((activation, False))]
        if preset["pretrain_epochs"] == 0:
            significance[activation] = {"note": "not tested: --pretrain-epochs 0 trains no pre-trained network"}
            continue
        if any(r is None or r["diverged"] for r in pair):
            significance[activation] = {"note": "not tested: a selected network diverged or is missing"}
            continue
        networks = [row["network"] for row in pair]
        if recorded.get(activation, {}).get("networks") == networks:
            significance[activation] = recorded[activation]
            continue
        wrong, retrained = [], []
        for row in pair:
            group_config = config.replace(activation=activation, pretrain_epochs=row["pretrain_epochs"])
            w, error = per_example_errors(group_config, row, data)
            wrong.append(w)
            retrained.append(error)
        test = mcnemar_exact(wrong[0], wrong[1])
        test.update({
            "test": "exact two-sided McNemar on per-example test errors", "networks": networks,
            "alpha": ALPHA, "equivalent": test["p_value"] >= ALPHA,
            "retrained_test_error": {"pretrained": retrained[0], "no_pretraining": retrained[1]},
            "sweep_test_error": {"pretrained": pair[0]["test_error"], "no_pretraining": pair[1]["test_error"]},
        })
        significance[activation] = test
        ds.results_io.atomic_write_json(path, {**recorded, **significance})  # each finished test is kept
    ds.results_io.atomic_write_json(path, significance)
    return significance


# ------------------------------------------------------------------------------ selection
def reconstruction_error(row: dict) -> float:
    """The pre-training selection criterion: the clean validation reconstruction error summed over
    layers (``pretrain_reconstruction``, no noise, no L1 term); inf for a diverged network."""
    value = row.get("pretrain_reconstruction")
    return math.inf if row["diverged"] or value is None else float(value)


def select(rows: list[dict]) -> dict:
    """{(activation, pretrained): row}: pre-training lr by reconstruction error, then lr by validation."""
    from sweeps import common

    chosen = {}
    for activation in dict.fromkeys(r["activation"] for r in rows):
        for pretrained in (False, True):
            group = [r for r in rows if r["activation"] == activation and (r["pretrain_epochs"] > 0) == pretrained]
            if not group:
                continue
            if pretrained and len({r["pretrain_lr"] for r in group}) > 1:
                best_plr = min({r["pretrain_lr"] for r in group},
                               key=lambda p: min(reconstruction_error(r) for r in group if r["pretrain_lr"] == p))
                group = [r for r in group if r["pretrain_lr"] == best_plr]
            chosen[(activation, pretrained)] = common.selected(group, ["activation"])[0]
    return chosen


# ------------------------------------------------------------------------------ main
def table1_grid(preset: dict) -> list[dict]:
    """The networks of one data set, those without pre-training first (so that a sweep stopped early
    has finished them): activation x fine-tuning lr x seed, and with pre-training also x pre-training
    lr. The L1 penalty goes only to the activations in ``preset["l1_activations"]`` (the paper's
    rectifier networks); the others train with L1 = 0."""
    import deep_sparse as ds

    grid = []
    for pretrain_epochs in sorted({0, preset["pretrain_epochs"]}):
        # a network without pre-training does not depend on the pre-training lr: keep one of them
        pretrain_lrs = preset["pretrain_lr"] if pretrain_epochs else preset["pretrain_lr"][:1]
        for activation in preset["activations"]:
            l1 = preset["l1"] if activation in preset["l1_activations"] else 0.0
            grid += ds.sweep.product(activation=[activation], pretrain_epochs=[pretrain_epochs], lr=preset["lr"],
                               pretrain_lr=pretrain_lrs, l1=[l1], noise_level=[preset["noise_level"]],
                               seed=range(preset["seeds"]))
    return grid


def run_dataset(args, preset_name: str, preset: dict, dataset: str) -> list[dict]:
    """Sweep one data set; returns its cells (ours beside the paper's)."""
    import deep_sparse as ds
    from sweeps import common, paper_numbers

    hidden = tuple(preset["norb_hidden_sizes"] if dataset == "norb" else preset["hidden_sizes"])
    base = ds.config.TrainConfig(
        dataset=dataset, hidden_sizes=hidden, activation=preset["activations"][0], batch_size=10,
        epochs=preset["epochs"], patience=preset["patience"], corruption="mask",
    )
    out_dir, config, data, reason = common.open_dataset(args, MODULE, NAME, preset_name, preset, dataset, base)
    if reason is not None:
        return [common.cell(NAME, preset_name, dataset, f"{a}, {'with' if p else 'without'} pre-training",
                            "test_error", None, paper_numbers.table1_key_for(dataset, a, p), note=reason)
                for a in preset["activations"] for p in (True, False)]
    grid = table1_grid(preset)
    rows = common.run_sweep(args, MODULE, NAME, preset_name, preset, config, grid, out_dir, data, dataset=dataset)
    chosen = select(rows)
    sizes = common.split_sizes(data)
    significance = {}
    if not args.no_significance:
        significance = significance_tests(config, preset, chosen, data, os.path.join(out_dir, "significance.json"))
    cells = []
    for (activation, pretrained), row in chosen.items():
        test = significance.get(activation, {})
        cells.append(common.cell(
            NAME, preset_name, dataset, f"{activation}, {'with' if pretrained else 'without'} pre-training",
            "test_error", None if row["diverged"] else row["test_error"],
            paper_numbers.table1_key_for(dataset, activation, pretrained),
            n_test=sizes["n_test"], n_train=sizes["n_train"], networks=len(
                [r for r in rows if r["activation"] == activation and (r["pretrain_epochs"] > 0) == pretrained]),
            lr=row["lr"], pretrain_lr=row["pretrain_lr"] if pretrained else None, sparsity=row["sparsity"],
            diverged=row["diverged"], equivalent=test.get("equivalent"), p_value=test.get("p_value"),
        ))
    common.write_cells(out_dir, cells)
    return cells


def main(argv=None) -> int:
    from sweeps import common

    common.main_over_datasets(argv, build_parser(), PRESETS,
                              ["datasets", "activations", "epochs", "pretrain_epochs", "lr", "patience"],
                              "Table 1", run_dataset, summarize=summarize)
    return 0


def summarize(cells: list[dict], preset: str, description: str) -> str:
    from deep_sparse import results_io
    from sweeps import common, paper_numbers

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
    lines = [f"# Table 1 ({preset} preset)", "", common.preset_banner(preset), "", description, "",
             results_io.format_table(table, list(table[0]) if table else ["data set"],
                                     {"ours %": ".2f", "paper %": ".2f", "p": ".3g", "sparsity %": ".1f", "lr": "g"}),
             "", "Equivalence: exact two-sided McNemar test on per-example test errors of the selected networks "
                 "with and without pre-training (p >= 0.05: statistically equivalent, bold in the paper)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    from sweeps import common

    raise SystemExit(common.cli(main))
