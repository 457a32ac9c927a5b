"""The rescaled softplus of section 4.1: ``softplus(alpha * x) / alpha`` for alpha in
{1, 1.3, 2, 3, 6, inf}, which interpolates between the softplus (alpha = 1) and the rectifier
(alpha = inf). The paper reports NORB test errors 17.68%, 17.53%, 16.9%, 16.66%, 16.54%, 16.40%:
no trade-off, the closer to the rectifier the better. Here it runs on every data set at hand (NORB
when its files are present, with the paper's 4000-2000 architecture at paper scale), without
pre-training, L1 0.001, the learning rate chosen on the validation set per alpha.
"""
from __future__ import annotations

import argparse
import math

NAME = "softplus_alpha"
MODULE = "sweeps.softplus_alpha"
DATASETS = ("norb", "mnist", "cifar10", "shapeset")
ALPHAS = [1.0, 1.3, 2.0, 3.0, 6.0, math.inf]

PRESETS = {
    "quick": dict(
        description="REDUCED, for a CPU in minutes: 3 x 100 units (NORB 100-100), at most 4 epochs (patience 2), "
                    "lr grid {0.1, 0.01} (not the paper's four values), Shapeset generated 2,000/1,000/2,000, MNIST "
                    "first 2,000/1,000/2,000 (NORB and CIFAR-10 likewise when present)",
        hidden_sizes=(100, 100, 100), norb_hidden_sizes=(100, 100), epochs=4, patience=2, lr=[0.1, 0.01], l1=0.001,
        alphas=ALPHAS, datasets=list(DATASETS),
        sizes={name: dict(train_size=2000, valid_size=1000, test_size=2000) for name in ("mnist", "cifar10", "norb")}
        | {"shapeset": dict(n_train=2000, n_valid=1000, n_test=2000, seed=0)},
    ),
    "paper": dict(
        description="PAPER SCALE, for a GPU: NORB 4000-2000 units (the paper's), other data sets 3 x 1000, full data, "
                    "mini-batch 10, lr grid {0.1, 0.01, 0.001, 0.0001}, L1 0.001, at most 50 epochs (patience 10)",
        hidden_sizes=(1000, 1000, 1000), norb_hidden_sizes=(4000, 2000), epochs=50, patience=10,
        lr=[0.1, 0.01, 0.001, 0.0001], l1=0.001, alphas=ALPHAS, datasets=list(DATASETS),
        sizes={"shapeset": dict(n_train=10_000, n_valid=10_000, n_test=10_000, seed=0)},
    ),
}


def build_parser() -> argparse.ArgumentParser:
    from sweeps import common

    return common.dataset_parser(
        MODULE, __doc__, PRESETS, "one folder per data set (results.csv, results.json, cells.json) and "
                                  "summary.md at the top. alpha = inf is stored as null in JSON.",
        DATASETS, "runs/softplus_alpha")


def run_dataset(args, preset_name: str, preset: dict, dataset: str) -> list[dict]:
    import deep_sparse as ds
    from sweeps import common, paper_numbers as pn

    hidden = tuple(preset["norb_hidden_sizes"] if dataset == "norb" else preset["hidden_sizes"])
    base = ds.config.TrainConfig(dataset=dataset, hidden_sizes=hidden, activation="scaled_softplus", batch_size=10,
                                 epochs=preset["epochs"], patience=preset["patience"])
    out_dir, config, data, reason = common.open_dataset(args, MODULE, NAME, preset_name, preset, dataset, base)
    key = (lambda alpha: pn.alpha_key(dataset, alpha)) if dataset == "norb" else (lambda alpha: None)
    if reason is not None:
        return [common.cell(NAME, preset_name, dataset, f"alpha = {pn.alpha_label(a)}", "test_error", None, key(a),
                            note=reason) for a in preset["alphas"]]
    grid = ds.sweep.product(alpha=[float(a) for a in preset["alphas"]], lr=preset["lr"], l1=[preset["l1"]])
    rows = common.run_sweep(args, MODULE, NAME, preset_name, preset, config, grid, out_dir, data, dataset=dataset)
    for row in rows:  # JSON has no inf: a reloaded alpha = inf reads null
        if row["alpha"] is None:
            row["alpha"] = math.inf
    sizes = common.split_sizes(data)
    cells = [common.cell(NAME, preset_name, dataset, f"alpha = {pn.alpha_label(row['alpha'])}", "test_error",
                         None if row["diverged"] else row["test_error"], key(row["alpha"]),
                         alpha=pn.alpha_label(row["alpha"]), n_test=sizes["n_test"], lr=row["lr"],
                         sparsity=row["sparsity"])
             for row in sorted(common.selected(rows, ["alpha"]), key=lambda r: r["alpha"])]
    common.write_cells(out_dir, cells)
    return cells


def main(argv=None) -> int:
    from sweeps import common

    common.main_over_datasets(argv, build_parser(), PRESETS, ["datasets", "epochs"], "Rescaled softplus",
                              run_dataset)
    return 0


if __name__ == "__main__":
    from sweeps import common

    raise SystemExit(common.cli(main))
