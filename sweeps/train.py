"""Train networks with the paper's procedure and pick the learning rate on the validation set.

Each combination of --activations, --lr, --l1, --seeds, --pretrain-lr, --noise-level (and --alpha,
--labeled-fractions) is one network, all of them trained as one batched sweep; the summary gives, per activation, L1 and seed,
the network with the lowest validation error, as section 4.1 does ("a constant learning rate ... with
respect to the supervised validation error"). Several --datasets are swept in turn, one folder each.

Example (section 4.1's lr grid at paper scale on CPU):
  python -m sweeps.train --datasets mnist --activations rectifier tanh softplus --l1 0.001 \\
      --lr 0.1 0.01 0.001 0.0001 --out results/mnist-no-pretraining
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

import deep_sparse as ds
from deep_sparse import data as data_lib
from deep_sparse import experiment, hparam_rules, presets
from deep_sparse.presets import PAPER_BATCH_SIZE, PAPER_LR_GRID
from sweeps import common

NAME = "train"
MODULE = "sweeps.train"
RULES = hparam_rules.RULES
# every hyperparameter a command line sets is a setting of the preset, in the table's order
SETTINGS = tuple(RULES[name].dest for name in hparam_rules.CLI_NAMES)
_OWN = tuple(name for name in hparam_rules.CLI_NAMES if name not in ("hidden_sizes", "epochs", "patience"))


def _preset_default(rule: hparam_rules.Rule) -> Any:
    """A setting's value where a preset gives none: the rule's default (a flag: not given)."""
    if rule.kind == hparam_rules.FLAG:
        return False
    return (rule.default,) if rule.listed else rule.default


TrainPreset = dataclasses.make_dataclass(
    "TrainPreset", [(RULES[name].dest, Any, dataclasses.field(default=_preset_default(RULES[name]))) for name in _OWN],
    bases=(presets.NetworkPreset,), frozen=True, kw_only=True)
TrainPreset.__module__ = __name__
TrainPreset.__doc__ = ("A sweeps.train preset: one setting per flag (deep_sparse.hparam_rules), the hyperparameters "
                       "a grid of values each; settings a preset does not give hold the rule's default.")

PRESETS = presets.by_name(
    TrainPreset(
        name="quick",
        description="REDUCED, for a CPU in minutes: 3 x 300 units, the first 10,000 training and 2,000 validation "
                    "examples, every test example, at most 8 epochs (patience 3), lr grid {0.1, 0.01}, L1 0.001",
        hidden_sizes=(300, 300, 300), epochs=8, patience=3, train_size=10_000, valid_size=2_000,
        lr=(0.1, 0.01), l1=(0.001,),
    ),
    TrainPreset(
        name="paper",
        description="PAPER SCALE (section 4.1): 3 x 1000 units, whole data sets, mini-batch 10, lr chosen on "
                    "validation from {0.1, 0.01, 0.001, 0.0001}, L1 0.001, at most 50 epochs with patience 10 (the "
                    "paper states no epoch count: Table 1's paper preset's)",
        hidden_sizes=(1000, 1000, 1000), epochs=50, patience=10, batch_size=PAPER_BATCH_SIZE, lr=PAPER_LR_GRID,
        l1=(0.001,),
    ),
)
DEFAULT_PRESET = "paper"  # a command without --preset trains the paper's network on the whole data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=common.preset_epilog(PRESETS, "results.csv (one row per network), results.json (the same with "
                                             "learning curves, command, versions, devices, timings), summary.md; "
                                             "one folder per data set when several are given."))
    common.add_preset_argument(parser, PRESETS, default=DEFAULT_PRESET)
    for section in (hparam_rules.MODEL, hparam_rules.TRAINING, hparam_rules.PRETRAINING):
        group = parser.add_argument_group(section)
        common.add_rule_arguments(group, [name for name in hparam_rules.CLI_NAMES if RULES[name].section == section],
                                  choices={"dataset": data_lib.NAMES})
    common.add_run_arguments(parser, default_out="runs/train")
    return parser


def structure(preset, dataset: str) -> dict:
    """The ``TrainConfig`` fields of ``preset`` on ``dataset`` (the activation is a grid axis, the labeled
    fraction one when several are given)."""
    fields = {name: getattr(preset, RULES[name].dest) for name in hparam_rules.CLI_NAMES
              if not RULES[name].listed and RULES[name].kind != hparam_rules.FLAG}
    fractions = presets.as_grid(preset.labeled_fractions)
    return dict(fields, **({"labeled_fraction": fractions[0]} if len(fractions) == 1 else {}), dataset=dataset,
                tied_decoder=not preset.untied_decoder, num_classes=data_lib.num_classes(dataset))


def grid(preset) -> tuple[list[dict], Any]:
    """The networks of ``preset`` (activation outermost, as recorded sweeps list them) and the base
    hyperparameters: alpha and the labeled fraction are axes only when several are given, else the
    base's value and the configuration's (:func:`structure`)."""
    alpha, fractions = presets.as_grid(preset.alpha), presets.as_grid(preset.labeled_fractions)
    points = ds.sweep.product(activation=preset.activations, lr=presets.as_grid(preset.lr),
                              l1=presets.as_grid(preset.l1), seed=presets.as_grid(preset.seeds),
                              pretrain_lr=presets.as_grid(preset.pretrain_lr),
                              noise_level=presets.as_grid(preset.noise_level),
                              **({"alpha": alpha} if len(alpha) > 1 else {}),
                              **({"labeled_fraction": fractions} if len(fractions) > 1 else {}))
    return points, ds.config.Hparams(alpha=alpha[0])


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    run = common.start(args, MODULE, NAME, PRESETS, SETTINGS, "Train")
    preset, several = run.preset, len(run.preset.datasets) > 1
    points, base = grid(preset)
    for dataset in preset.datasets:  # every structural choice is checked before anything runs
        for activation in preset.activations:
            ds.config.TrainConfig(**structure(preset, dataset), activation=activation)
    for dataset in preset.datasets:
        folder = os.path.join(args.out, dataset) if several else args.out
        config = ds.config.TrainConfig(**structure(preset, dataset), activation=preset.activations[0])
        rows = experiment.run_sweep(config, points, folder, None, argv=run.argv, metadata=run.metadata(),
                                    base_hparams=base, options=run.sweep_options)
        common.write_text(os.path.join(folder, "summary.md"), summary(dataset, rows, preset.label))
        print(summary(dataset, rows, preset.label))
    return 0


def summary(dataset: str, rows: list[dict], label: str) -> str:
    """Every network, then the one selected on validation per activation, L1 and seed, in Markdown."""
    columns = ["activation", "lr", "l1", "seed", "valid_error", "test_error", "train_error", "sparsity",
               "epochs_run", "best_epoch", "diverged"]
    formats = {"valid_error": ".4f", "test_error": ".4f", "train_error": ".4f", "sparsity": ".3f", "lr": "g", "l1": "g"}
    best = common.best_by_validation(rows, ["activation", "l1", "seed"])
    return "\n".join([
        f"# {dataset}: every network", "", common.preset_banner(label), "",
        ds.results_io.format_table(rows, columns, formats), "",
        "# Selected on validation (per activation, L1 and seed)", "",
        ds.results_io.format_table(best, columns, formats), "",
    ])


if __name__ == "__main__":
    raise SystemExit(common.cli(main))
