"""Table 2 of Glorot, Bordes & Bengio (2011): star ratings of reviews from a bag of words (section 4.2).

Four networks: no hidden layer, rectifier with 1 hidden layer, rectifier with 3, tanh with 3. Inputs
are binary presence vectors of the most frequent terms; the output is a 5-class softmax and the
prediction is the expected star value; the metric is the RMSE. RMSE and sparsity are given as mean ±
standard deviation over the folds of a 10-fold cross-validation of the labeled reviews (fold k is the
test set, fold k+1 the validation set, the other 8 the training set).

Pre-training (networks with hidden layers): stacked denoising auto-encoders, greedy layer-wise, on the
fold's labeled training reviews AND the unlabeled reviews of --unlabeled (the paper: 10,000 labeled and
300,000 unlabeled); the unlabeled reviews never enter the supervised folds (fine-tuning, validation,
test). The vocabulary (top terms) comes from the fold's training reviews and the unlabeled ones.
Salt-and-pepper noise on the binary first layer, zero masking above (one noise level for both), an L1
penalty during pre-training and fine-tuning, and a sigmoid cross-entropy reconstruction of codes scaled
to [0, 1]:

* rectifier codes h are mapped by u = h / s, s the largest code value over the pre-training inputs
  (a fixed map, not a per-mini-batch maximum), and the map is absorbed by the next layer's weights
  (W_network = W_autoencoder / s; ``deep_sparse.pretraining.code_scale``): the fine-tuned network,
  which sees h, computes exactly the encoder the auto-encoder trained on u;
* tanh codes are mapped by u = (h + 1) / 2 in pre-training only; the fine-tuned network sees h. This
  difference is kept because it is how the training engine pre-trains every tanh network, Table 1's
  included, whose paper-scale run is in progress; the same absorption (an affine map) would remove it.

Selection, per model and fold (``deep_sparse.selection``): the noise level is chosen on classification
and the other pre-training settings on the reconstruction error, as the paper says: for each noise
level the pre-training learning rate of lowest reconstruction error (alone, no noise, no L1 term, of the
clean validation inputs, summed over the layers), then the (noise level, learning rate) of lowest
validation RMSE; never the test RMSE. The sparsity of the network with no hidden layer is the input's
own (the fraction of zeros of the test fold's bag-of-words vectors, the paper's 99.4%); the others' is
the mean fraction of exact zeros of their hidden layers on the test fold.

The paper's OpenTable data is not public: pass your own reviews file (CSV with columns text,rating
or JSON lines with keys text and rating; ratings 1..5) with --reviews, and unlabeled ones (same
formats, rating absent or ignored) with --unlabeled. Without --reviews, the quick and tiny presets
generate small SYNTHETIC labeled and unlabeled files; every output of such a run says SYNTHETIC, and
its numbers say nothing about the paper's.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from typing import TYPE_CHECKING, NamedTuple, Optional

import numpy as np

import deep_sparse as ds
from deep_sparse import experiment, portable, presets, results_io, selection
from deep_sparse.data import reviews as reviews_lib
from deep_sparse.presets import PAPER_BATCH_SIZE, PAPER_LR_GRID, optional_positive_int, positive_int, setting
from sweeps import common
from sweeps import paper_numbers as pn

if TYPE_CHECKING:  # the training modules come through ``ds`` when first used (--help does not import JAX)
    from deep_sparse.config import TrainConfig

NAME = "sentiment"
MODULE = "sweeps.sentiment"
MODELS = {  # name: (activation, hidden layers)
    "no_hidden": ("rectifier", 0),
    "rectifier_1": ("rectifier", 1),
    "rectifier_3": ("rectifier", 3),
    "tanh_3": ("tanh", 3),
}
SYNTHETIC = "SYNTHETIC"
# The paper does not give its noise levels. About 30 of the 5,000 binary inputs of a review are 1, and
# salt-and-pepper noise of level p sets about 2,500 p inputs to 1: the grid spans 2.5 to 625 of them.
NOISE_GRID = (0.001, 0.01, 0.1, 0.25)
# the preset's settings that --name options override (in the order labels list them)
OVERRIDES = ("run_folds", "epochs")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SentimentPreset(presets.Preset):
    """A Table 2 preset: the settings of every preset (epochs, patience) and

    n_synthetic, n_synthetic_unlabeled: the labeled and unlabeled SYNTHETIC reviews generated without
    --reviews (None: the preset needs --reviews); vocabulary: the most frequent terms kept; width: hidden
    units per layer; folds: the folds of the cross-validation; run_folds: how many of them run (the
    first ones); pretrain_epochs: pre-training epochs per layer; lr, pretrain_lr, noise_level: the grids
    of the fine-tuning lr, pre-training lr and noise level; l1: the L1 penalty; models: the networks
    run (names of ``MODELS``).
    """

    n_synthetic: Optional[int] = setting(optional_positive_int,
                                         "a positive number of reviews, or None (the preset needs --reviews)")
    n_synthetic_unlabeled: Optional[int] = setting(optional_positive_int, "a positive number of reviews, or None")
    vocabulary: int = setting(positive_int, "a positive number of terms")
    width: int = setting(positive_int, "a positive number of hidden units per layer")
    folds: int = setting(lambda v: positive_int(v) and v >= 3, "a number of folds >= 3 (test, validation, training)")
    run_folds: int = setting(positive_int, "a positive number of folds to run")
    pretrain_epochs: int
    lr: tuple[float, ...]
    pretrain_lr: tuple[float, ...]
    l1: float
    noise_level: tuple[float, ...]
    models: tuple[str, ...] = setting(presets.names_among(MODELS),
                                      f"a non-empty list of models among {', '.join(MODELS)}")

    def train_config(self) -> TrainConfig:
        """Ratings of reviews (5 classes, expected star value), mini-batches of 10; masking noise, salt
        and pepper on the binary first layer. Each grid point sets the model's structure."""
        return ds.config.TrainConfig(dataset="reviews", task="ratings", hidden_sizes=(), activation="rectifier",
                                     batch_size=PAPER_BATCH_SIZE, epochs=self.epochs, patience=self.patience,
                                     num_classes=5, corruption="mask", first_layer_corruption="salt_and_pepper")


PRESETS = presets.by_name(
    SentimentPreset(
        name="quick",
        description="REDUCED, for a CPU in minutes, on GENERATED SYNTHETIC reviews files (1,000 labeled, 2,000 "
                    "unlabeled) unless --reviews is given: top 300 terms, 100 hidden units per layer, 3 of the 10 "
                    "folds, 1 pre-training epoch per layer, at most 4 epochs (patience 2), lr 0.1 only, "
                    "pre-training lr {0.1, 0.01} chosen on the clean validation reconstruction error, noise "
                    "level 0.1 only",
        n_synthetic=1000, n_synthetic_unlabeled=2000, vocabulary=300, width=100, folds=10, run_folds=3, epochs=4,
        patience=2, pretrain_epochs=1, lr=(0.1,), pretrain_lr=(0.1, 0.01), l1=0.0001, noise_level=(0.1,),
        models=tuple(MODELS),
    ),
    SentimentPreset(
        name="paper",
        description="PAPER SCALE, for a GPU, on the reviews file given with --reviews (required) and the "
                    "unlabeled reviews of --unlabeled (the paper: 300,000; without it pre-training sees the "
                    "labeled training reviews only): top 5,000 terms, 5,000 hidden units per layer, all 10 folds, "
                    "mini-batch 10, lr grid {0.1, 0.01, 0.001, 0.0001} and noise level grid "
                    "{0.001, 0.01, 0.1, 0.25} chosen on the validation RMSE, pre-training lr grid "
                    "{0.1, 0.01, 0.001, 0.0001} chosen first, per noise level, on the clean validation "
                    "reconstruction error, 10 pre-training epochs per layer, at most 50 epochs (patience 10)",
        n_synthetic=None, n_synthetic_unlabeled=None, vocabulary=5000, width=5000, folds=10, run_folds=10, epochs=50,
        patience=10, pretrain_epochs=10, lr=PAPER_LR_GRID, pretrain_lr=PAPER_LR_GRID, l1=0.0001,
        noise_level=NOISE_GRID, models=tuple(MODELS),
    ),
    SentimentPreset(
        name="tiny",
        description="TESTS ONLY (tests/test_sweeps_modules.py, tests/test_sentiment.py): 200 labeled and 100 "
                    "unlabeled SYNTHETIC reviews, top 50 terms, 8 units, 2 of the 10 folds, no hidden layer and "
                    "rectifier 1 layer, 1 epoch, pre-training lr {0.1, 0.01}, noise level {0.05, 0.2}; measures "
                    "nothing",
        n_synthetic=200, n_synthetic_unlabeled=100, vocabulary=50, width=8, folds=10, run_folds=2, epochs=1,
        patience=None, pretrain_epochs=1, lr=(0.1,), pretrain_lr=(0.1, 0.01), l1=0.0001, noise_level=(0.05, 0.2),
        models=("no_hidden", "rectifier_1"),
    ),
)


def fold_count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 10:
        raise argparse.ArgumentTypeError(f"expected a number of folds from 1 to 10, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=common.preset_epilog(PRESETS, "one folder per fold (results.csv, results.json), cells.json and "
                                              "summary.md (Table 2 beside the paper's) at the top."),
    )
    common.add_preset_argument(parser, PRESETS)
    parser.add_argument("--reviews", default=None,
                        help="reviews file: CSV (text,rating) or JSON lines ({\"text\": ..., \"rating\": 1..5}); "
                             "without it the quick and tiny presets generate SYNTHETIC ones in --out")
    parser.add_argument("--unlabeled", default=None,
                        help="unlabeled reviews for the pre-training only (same formats, rating absent or "
                             "ignored); needs --reviews")
    parser.add_argument("--run-folds", type=fold_count, default=None, help="run only the first N of the 10 folds")
    common.add_rule_arguments(parser, ("epochs",))
    common.add_run_arguments(parser, default_out="runs/sentiment")
    return parser


# ------------------------------------------------------------------------------ grid and selection
def sentiment_grid(preset: SentimentPreset) -> list[tuple[str, dict]]:
    """``(model, grid point)`` pairs: for a model with hidden layers every fine-tuning lr x pre-training
    lr x noise level; for the one without, every lr (pre-training settings do not touch it)."""
    pairs = []
    for model in preset.models:
        activation, depth = MODELS[model]
        structure = dict(activation=activation, hidden_sizes=(preset.width,) * depth,
                         pretrain_epochs=preset.pretrain_epochs if depth else 0,
                         pretrain_strategy="sigmoid_cross_entropy" if depth else None)
        pretrain_lrs = preset.pretrain_lr if depth else preset.pretrain_lr[:1]
        noise_levels = preset.noise_level if depth else preset.noise_level[:1]
        pairs += [(model, dict(structure, lr=lr, l1=preset.l1, pretrain_lr=plr, noise_level=noise))
                  for noise in noise_levels for plr in pretrain_lrs for lr in preset.lr]
    return pairs


def select_models(rows: list[dict]) -> dict:
    """``{model: row}``: per model, for each noise level the pre-training lr of lowest reconstruction
    error, then the (noise level, lr) of lowest validation RMSE (:mod:`deep_sparse.selection`: the noise
    level on classification, the other pre-training settings on reconstruction, section 4.2)."""
    return {model: row for (model,), row in
            selection.select(rows, selection.by_fields("model"), within=("noise_level",)).items()}


def input_sparsity(x) -> float:
    """Fraction of zeros of the binary bag-of-words inputs ``x`` (a ``SparseBinary``)."""
    return 1.0 - x.density()


def reported_sparsity(model: str, row: dict, test_inputs) -> float:
    """Table 2's sparsity of ``model``: for the network with no hidden layer, the input's own sparsity
    (the paper's 99.4%: "the original very high degree of sparsity of the training data"); otherwise the
    row's mean fraction of exact zeros of the hidden layers on the test fold."""
    return input_sparsity(test_inputs) if MODELS[model][1] == 0 else float(row["sparsity"])


# ------------------------------------------------------------------------------ the reviews
class ReviewFiles(NamedTuple):
    """The labeled reviews, the unlabeled ones for pre-training (None: none), and whether this module
    generated them (SYNTHETIC)."""

    reviews: str
    unlabeled: Optional[str]
    synthetic: bool


def input_files(run: experiment.Run, args: argparse.Namespace) -> ReviewFiles:
    """The files given (--reviews, --unlabeled), or SYNTHETIC ones generated in the run's folder."""
    if args.reviews is not None:
        return ReviewFiles(args.reviews, args.unlabeled, synthetic=False)
    results_io.claim_output_folder(run.out)
    labeled = reviews_lib.make_synthetic_reviews(os.path.join(run.out, "synthetic_reviews.jsonl"),
                                                 run.preset.n_synthetic, seed=0)
    unlabeled = reviews_lib.make_synthetic_reviews(os.path.join(run.out, "synthetic_unlabeled_reviews.jsonl"),
                                                   run.preset.n_synthetic_unlabeled, seed=1, labeled=False)
    return ReviewFiles(labeled, unlabeled, synthetic=True)


def reviews_metadata(files: ReviewFiles) -> dict:
    """What every fold's results record about the reviews: data set name, files, numbers of reviews."""
    _, ratings = reviews_lib.read_reviews(files.reviews)
    return dict(dataset=f"{SYNTHETIC} reviews" if files.synthetic else os.path.basename(files.reviews),
                synthetic=files.synthetic, reviews_file=portable.recorded_path(files.reviews), n_reviews=len(ratings),
                n_unlabeled=0 if files.unlabeled is None else len(reviews_lib.read_unlabeled_reviews(files.unlabeled)),
                unlabeled_file=None if files.unlabeled is None else portable.recorded_path(files.unlabeled))


# ------------------------------------------------------------------------------ one fold
def fold_data(config: TrainConfig, sparse: dict):
    """The fold's ``Data``: the supervised splits densified, and as ``x_pretrain`` the training inputs
    followed by the unlabeled ones when ``sparse`` has an ``"unlabeled"`` split (else None)."""
    splits = {name: (sparse[name][0].densify(), sparse[name][1]) for name in ("train", "valid", "test")}
    data = ds.train.prepare_data(config, splits)
    if "unlabeled" not in sparse:
        return data
    unlabeled = np.asarray(sparse["unlabeled"][0].densify(), dtype=data.x_train.dtype)
    return data.replace(x_pretrain=np.concatenate([np.asarray(data.x_train), unlabeled]))


def run_fold(run: experiment.Run, files: ReviewFiles, fold: int, reviews: dict) -> dict:
    """Sweep one fold (test fold k, validation fold k + 1); ``{model: (selected row, reported sparsity)}``."""
    preset = run.preset
    sparse = reviews_lib.load_fold(files.reviews, fold, n_folds=preset.folds, seed=0, k=preset.vocabulary,
                                   dense=False, unlabeled=files.unlabeled)
    base = preset.train_config()
    pairs = sentiment_grid(preset)
    rows = run.sweep(base, [point for _, point in pairs], os.path.join(run.out, f"fold{fold:02d}"),
                     fold_data(base, sparse), fold=fold, **reviews, vocabulary=sparse["train"][0].num_features,
                     input_density=sparse["train"][0].density())
    for row, (model, _) in zip(rows, pairs):
        row["model"] = model
    return {model: (row, reported_sparsity(model, row, sparse["test"][0]))
            for model, row in select_models(rows).items()}


# ------------------------------------------------------------------------------ cells and summary
def model_cells(run: experiment.Run, dataset: str, model: str, chosen: list, synthetic: bool,
                n_test: int) -> list[dict]:
    """The RMSE and sparsity cells of ``model``: mean and sd over the folds of its selected networks
    (``chosen``: ``(fold, row, reported sparsity)``; diverged ones left out)."""
    kept = [(fold, row, sparsity) for fold, row, sparsity in chosen if not row["diverged"]]
    settings = [dict(fold=fold, lr=row["lr"], pretrain_lr=row["pretrain_lr"] if row["pretrain_epochs"] else None,
                     noise_level=row["noise_level"] if row["pretrain_epochs"] else None) for fold, row, _ in chosen]
    cells = []
    for metric, values in (("rmse", [row["test_error"] for _, row, _ in kept]), ("sparsity", [s for *_, s in kept])):
        paper_key = pn.sentiment_key(model, metric)
        if synthetic:
            paper = pn.lookup(paper_key)["value"]
            shown = f"{100 * paper:g}%" if common.percent_metric(metric) else f"{paper:g}"
            note = f"{SYNTHETIC} data: not comparable with the paper (paper: {shown})"
        else:
            note = f"{len(values)} of {run.preset.folds} folds, mean; sd {np.std(values):.3f}" if values else "diverged"
        cells.append(run.cell(
            dataset, f"{pn.AISTATS_TABLE2_LABELS[model]}, {metric}", metric,
            float(np.mean(values)) if values else None, None if synthetic else paper_key,
            sd=float(np.std(values)) if values else None, folds=len(values), n_test=n_test, synthetic=synthetic,
            selected=settings, note=note))
    return cells


def summary(run: experiment.Run, cells: list, files: ReviewFiles, n_unlabeled: int) -> str:
    """Table 2 beside the paper's, after what the pre-training saw (and a SYNTHETIC warning if so)."""
    label = run.preset.label
    synthetic = f"{SYNTHETIC} DATA (generated, not OpenTable): " if files.synthetic else ""
    table = common.cells_summary(f"{synthetic}Table 2 ({label} preset)", cells, label, run.preset.description)
    pretraining = (f"Pre-training on the labeled training reviews of each fold and {n_unlabeled} unlabeled reviews "
                   f"({portable.recorded_path(files.unlabeled)})." if files.unlabeled else
                   "Pre-training on the labeled training reviews of each fold only: no --unlabeled file (the paper "
                   "adds 300,000 unlabeled reviews).")
    text = f"{pretraining}\n\n{table}"
    if files.synthetic:
        text = (f"**{SYNTHETIC} DATA**: the reviews were generated by this module "
                f"({portable.recorded_path(files.reviews)}); these "
                "numbers test the pipeline only and are not comparable with the paper's OpenTable results.\n\n"
                + text)
    return text


def not_run(run: experiment.Run) -> int:
    """The paper preset without --reviews: every cell "not run", with the reason."""
    reason = "not run: the paper preset needs --reviews (the OpenTable data of the paper is not public)"
    print(reason)
    experiment.write_not_run(run.out, reason, run.argv, run.metadata(dataset="reviews"))
    cells = [run.cell("reviews", model, metric, None, pn.sentiment_key(model, metric), note=reason)
             for model in run.preset.models for metric in ("rmse", "sparsity")]
    label = run.preset.label
    run.finish(cells, common.cells_summary(f"Table 2 ({label} preset)", cells, label, run.preset.description))
    return 0


# ------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    """Table 2: on each fold, every model's networks, each model selected on the fold's validation set;
    then the mean and sd over the folds beside the paper's numbers."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.unlabeled is not None and args.reviews is None:
        parser.error("--unlabeled needs --reviews (unlabeled reviews are added to a labeled data set)")
    run = common.start(args, MODULE, NAME, PRESETS, OVERRIDES, "Table 2")
    preset = run.preset
    if args.reviews is None and preset.n_synthetic is None:
        return not_run(run)
    files = input_files(run, args)
    reviews = reviews_metadata(files)
    print(f"{SYNTHETIC + ' DATA (generated, not OpenTable): ' if files.synthetic else ''}reviews: {files.reviews}; "
          f"unlabeled: {files.unlabeled or 'none (pre-training on the labeled training reviews only)'}")
    chosen: dict = {model: [] for model in preset.models}
    for fold in range(min(preset.run_folds, preset.folds)):
        for model, (row, sparsity) in run_fold(run, files, fold, reviews).items():
            chosen[model].append((fold, row, sparsity))
    n_test = int(reviews["n_reviews"] / preset.folds)
    cells = [cell for model, picked in chosen.items()
             for cell in model_cells(run, reviews["dataset"], model, picked, files.synthetic, n_test)]
    run.finish(cells, summary(run, cells, files, reviews["n_unlabeled"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(common.cli(main))
