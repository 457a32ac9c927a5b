"""Table 2 of Glorot, Bordes & Bengio (2011): star ratings of reviews from a bag of words (section 4.2).

Four networks: no hidden layer, rectifier with 1 hidden layer, rectifier with 3, tanh with 3. Inputs
are binary presence vectors of the most frequent terms; the output is a 5-class softmax and the
prediction is the expected star value; the metric is the RMSE. Networks with hidden layers are
pre-trained as stacked denoising auto-encoders on the training part of each fold (salt-and-pepper
noise on the binary first layer, zero masking above; rectifier codes scaled to [0, 1] with a sigmoid
cross-entropy reconstruction, as the paper describes), with an L1 penalty during pre-training and
fine-tuning. RMSE and sparsity are given as mean ± standard deviation over the folds of a 10-fold
cross-validation (fold k is the test set, fold k+1 the validation set, the other 8 the training set).

The paper's OpenTable data is not public: pass your own reviews file (CSV with columns text,rating
or JSON lines with keys text and rating; ratings 1..5) with --reviews. Without one, the quick preset
generates a small SYNTHETIC reviews file; every output of such a run says SYNTHETIC, and its numbers
say nothing about the paper's.
"""
from __future__ import annotations

import argparse
import os

NAME = "sentiment"
MODULE = "sweeps.sentiment"
MODELS = {  # name: (activation, hidden layers)
    "no_hidden": ("rectifier", 0),
    "rectifier_1": ("rectifier", 1),
    "rectifier_3": ("rectifier", 3),
    "tanh_3": ("tanh", 3),
}
SYNTHETIC = "SYNTHETIC"

PRESETS = {
    "quick": dict(
        description="REDUCED, for a CPU in minutes, on a GENERATED SYNTHETIC reviews file (1,000 reviews) unless "
                    "--reviews is given: top 300 terms, 100 hidden units per layer, 3 of the 10 folds, 1 pre-training "
                    "epoch per layer, at most 4 epochs (patience 2), lr 0.1 only",
        n_synthetic=1000, vocabulary=300, width=100, folds=10, run_folds=3, epochs=4, patience=2, pretrain_epochs=1,
        lr=[0.1], pretrain_lr=0.01, l1=0.0001, noise_level=0.1, models=list(MODELS),
    ),
    "paper": dict(
        description="PAPER SCALE, for a GPU, on the reviews file given with --reviews (required): top 5,000 terms, "
                    "5,000 hidden units per layer, all 10 folds, mini-batch 10, lr grid {0.1, 0.01, 0.001, 0.0001}, "
                    "10 pre-training epochs per layer, at most 50 epochs (patience 10)",
        n_synthetic=None, vocabulary=5000, width=5000, folds=10, run_folds=10, epochs=50, patience=10,
        pretrain_epochs=10, lr=[0.1, 0.01, 0.001, 0.0001], pretrain_lr=0.01, l1=0.0001, noise_level=0.1,
        models=list(MODELS),
    ),
    "tiny": dict(
        description="TESTS ONLY (tests/test_sweeps_modules.py): 200 SYNTHETIC reviews, top 50 terms, 8 units, "
                    "2 of the 10 folds, no hidden layer and rectifier 1 layer, 1 epoch; measures nothing",
        n_synthetic=200, vocabulary=50, width=8, folds=10, run_folds=2, epochs=1, patience=None, pretrain_epochs=1,
        lr=[0.1], pretrain_lr=0.01, l1=0.0001, noise_level=0.1, models=["no_hidden", "rectifier_1"],
    ),
}


def build_parser() -> argparse.ArgumentParser:
    from sweeps import common

    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=common.preset_epilog(PRESETS, "one folder per fold (results.csv, results.json), cells.json and "
                                              "summary.md (Table 2 beside the paper's) at the top."),
    )
    common.add_preset_argument(parser, PRESETS)
    parser.add_argument("--reviews", default=None,
                        help="reviews file: CSV (text,rating) or JSON lines ({\"text\": ..., \"rating\": 1..5}); "
                             "without it the quick preset generates a SYNTHETIC one in --out")
    def fold_count(text: str) -> int:
        value = int(text)
        if not 1 <= value <= 10:
            raise argparse.ArgumentTypeError(f"expected a number of folds from 1 to 10, got {value}")
        return value

    parser.add_argument("--run-folds", type=fold_count, default=None, help="run only the first N of the 10 folds")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's maximum epochs")
    common.add_run_arguments(parser, default_out="runs/sentiment")
    return parser


# ------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from sweeps import common

    common.initialize_distributed(args)
    import numpy as np

    import deep_sparse as ds
    from deep_sparse.data import reviews as reviews_lib
    from sweeps import paper_numbers as pn

    preset, preset_name = common.resolve_preset(args, PRESETS, ["run_folds", "epochs"])
    ds.results_io.check_output_folder(args.out)  # created once its inputs are checked
    synthetic = args.reviews is None
    metadata = {"experiment": NAME, "preset": preset_name, "preset_settings": preset}
    if synthetic and preset["n_synthetic"] is None:
        reason = "not run: the paper preset needs --reviews (the OpenTable data of the paper is not public)"
        print(reason)
        common.write_not_run(args.out, reason, common.command_line(MODULE), dict(metadata, dataset="reviews"))
        cells = [common.cell(NAME, preset_name, "reviews", m, metric, None, pn.sentiment_key(m, metric), note=reason)
                 for m in preset["models"] for metric in ("rmse", "sparsity")]
        common.write_cells(args.out, cells)
        common.write_text(os.path.join(args.out, "summary.md"), common.cells_summary(
            f"Table 2 ({preset_name} preset)", cells, preset_name, preset["description"]))
        return 0
    path = args.reviews or reviews_lib.make_synthetic_reviews(os.path.join(args.out, "synthetic_reviews.jsonl"),
                                                              preset["n_synthetic"], seed=0)
    dataset = f"{SYNTHETIC} reviews" if synthetic else os.path.basename(path)
    label = f"{SYNTHETIC} DATA (generated, not OpenTable): " if synthetic else ""
    print(f"{label}Table 2, preset {preset_name}: {preset['description']}; reviews: {path}")
    _, ratings = reviews_lib.read_reviews(path)
    metadata.update(dataset=dataset, synthetic=synthetic, reviews_file=os.path.abspath(path), n_reviews=len(ratings))
    per_fold: dict = {m: [] for m in preset["models"]}
    for fold in range(min(preset["run_folds"], preset["folds"])):
        # the vocabulary (top terms) is built from the fold's training part only (deep_sparse.data.reviews)
        sparse = reviews_lib.load_fold(path, fold, n_folds=preset["folds"], seed=0, k=preset["vocabulary"], dense=False)
        splits = {name: (x.densify(), y) for name, (x, y) in sparse.items()}
        metadata.update(vocabulary=sparse["train"][0].num_features, input_density=sparse["train"][0].density())
        base = ds.config.TrainConfig(dataset="reviews", task="ratings", hidden_sizes=(), activation="rectifier",
                                     batch_size=10, epochs=preset["epochs"], patience=preset["patience"], num_classes=5,
                                     corruption="mask", first_layer_corruption="salt_and_pepper")
        data = ds.train.prepare_data(base, splits)
        grid = []
        for model in preset["models"]:
            activation, depth = MODELS[model]
            structure = dict(activation=activation, hidden_sizes=(preset["width"],) * depth,
                             pretrain_epochs=preset["pretrain_epochs"] if depth else 0,
                             pretrain_strategy="sigmoid_cross_entropy" if depth else None)
            grid += [dict(structure, lr=lr, l1=preset["l1"], pretrain_lr=preset["pretrain_lr"],
                          noise_level=preset["noise_level"]) for lr in preset["lr"]]
        rows = common.run_sweep(args, MODULE, NAME, preset_name, preset, base, grid,
                                os.path.join(args.out, f"fold{fold:02d}"), data, fold=fold,
                                **{k: v for k, v in metadata.items() if k not in ("experiment", "preset", "preset_settings")})
        names = [m for m in preset["models"] for _ in preset["lr"]]
        for row, model in zip(rows, names):
            row["model"] = model
        for row in common.selected(rows, ["model"]):
            per_fold[row["model"]].append(row)
    cells = []
    for model, rows in per_fold.items():
        kept = [r for r in rows if not r["diverged"]]
        for metric, column in (("rmse", "test_error"), ("sparsity", "sparsity")):
            values = [r[column] for r in kept]
            cells.append(common.cell(
                NAME, preset_name, dataset, f"{pn.AISTATS_TABLE2_LABELS[model]}, {metric}", metric,
                float(np.mean(values)) if values else None, None if synthetic else pn.sentiment_key(model, metric),
                sd=float(np.std(values)) if values else None, folds=len(values), n_test=int(len(ratings) / preset["folds"]),
                synthetic=synthetic,
                note=(f"{SYNTHETIC} data: not comparable with the paper (paper: "
                      f"{pn.lookup(pn.sentiment_key(model, metric))['value']:g})") if synthetic else
                     f"{len(values)} of {preset['folds']} folds, mean; sd {np.std(values):.3f}" if values else "diverged",
            ))
    common.write_cells(args.out, cells)
    summary = common.cells_summary(f"{label}Table 2 ({preset_name} preset)", cells, preset_name, preset["description"])
    if synthetic:
        summary = (f"**{SYNTHETIC} DATA**: the reviews were generated by this module ({path}); these numbers test the "
                   "pipeline only and are not comparable with the paper's OpenTable results.\n\n" + summary)
    common.write_text(os.path.join(args.out, "summary.md"), summary)
    print(summary)
    return 0


if __name__ == "__main__":
    from sweeps import common

    raise SystemExit(common.cli(main))
