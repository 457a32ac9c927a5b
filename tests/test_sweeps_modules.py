"""The paper's experiment modules: --help, presets, and tiny smoke runs (whole file well under 90 s).

The smoke runs call each module's ``main`` in-process with the test-only ``tiny`` preset. Table 1 and
the sparsity module get their Shapeset from a small fake loader put in place of
``deep_sparse.experiment.load_splits`` (fast and fixed, so these tests check the modules' plumbing, not
the data generator, which the data tests cover); the sentiment module generates its own SYNTHETIC
reviews file. Figure 4 and the pre-training strategies run their quick presets on a fake sweep engine
(``fakes.fake_sweep``): what they hand it and what they make of its rows, without training.
"""
import dataclasses
import importlib
import json
import os

import numpy as np
import pytest

from deep_sparse import experiment, presets
from deep_sparse.rows import unpack_wrong
from sweeps import common

from fakes import fake_load_splits, fake_sweep

MODULES = ["table1", "sparsity", "figure4", "softplus_alpha", "sentiment", "pretrain_strategies"]
PRESET_MODULES = MODULES + ["figure3", "workshop_table2", "ill_conditioning"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """The modules download missing data sets; the suite never does (CIFAR-10 and NORB are "not run")."""
    monkeypatch.setenv("DEEP_SPARSE_OFFLINE", "1")


@pytest.fixture
def fake_data(monkeypatch):
    monkeypatch.setattr(experiment, "load_splits", fake_load_splits)


@pytest.mark.parametrize("name", PRESET_MODULES + ["report"])
def test_help(name, capsys):
    module = importlib.import_module(f"sweeps.{name}")
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert f"python -m sweeps.{name}" in text
    if name != "report":
        for preset in ("quick", "paper"):
            assert " ".join(module.PRESETS[preset].description.split()) in " ".join(text.split())
        assert "--checkpoint-seconds SECONDS" in text and "--checkpoint-every EPOCHS" in text


@pytest.mark.parametrize("name", PRESET_MODULES)
def test_presets_are_consistent(name):
    module = importlib.import_module(f"sweeps.{name}")
    assert {"quick", "paper"} <= set(module.PRESETS)
    keys = set(module.PRESETS["paper"].settings())
    for preset_name, preset in module.PRESETS.items():
        assert isinstance(preset, presets.Preset) and type(preset) is type(module.PRESETS["paper"])
        assert set(preset.settings()) == keys, f"{name}: preset {preset_name} has other settings than paper"
        assert preset.name == preset_name and preset.label == preset_name and not preset.overrides
    assert "REDUCED" in module.PRESETS["quick"].description
    assert "PAPER SCALE" in module.PRESETS["paper"].description
    if "tiny" in module.PRESETS:
        assert module.PRESETS["tiny"].description.startswith("TESTS ONLY")
    paper = module.PRESETS["paper"].settings()
    if "hidden_sizes" in paper:
        assert tuple(paper["hidden_sizes"]) == (1000, 1000, 1000)
    if isinstance(paper.get("lr"), (list, tuple)):  # a grid (Figure 3 has one chosen lr)
        assert list(paper["lr"]) == [0.1, 0.01, 0.001, 0.0001]
    parser = module.build_parser()
    args = parser.parse_args(["--preset", "paper", "--out", "somewhere"])
    assert args.preset == "paper" and args.out == "somewhere"
    assert parser.parse_args([]).preset == "quick"
    with pytest.raises(SystemExit):
        parser.parse_args(["--preset", "nonsense"])


def test_paper_presets_hold_the_values_the_campaign_runs_with():
    """sweeps.campaign resumes these presets from what results/ records: a changed value would mix
    another experiment's networks into the recorded ones."""
    from deep_sparse.presets import Generated
    from sweeps import figure3, figure4, softplus_alpha, sparsity, table1

    grid = (0.1, 0.01, 0.001, 0.0001)
    shapeset = {"shapeset": Generated(n_train=10_000, n_valid=10_000, n_test=10_000, seed=0)}
    t1 = table1.PRESETS["paper"]
    assert (t1.hidden_sizes, t1.norb_hidden_sizes, t1.epochs, t1.patience, t1.pretrain_epochs, t1.seeds) == (
        (1000, 1000, 1000), (4000, 2000), 50, 10, 10, 1)
    assert (t1.lr, t1.pretrain_lr, t1.l1, t1.l1_activations, t1.noise_level) == (
        grid, grid, 0.001, ("half_negated_rectifier", "rectifier"), 0.25)
    assert t1.activations == ("half_negated_rectifier", "rectifier", "tanh", "softplus") and t1.sizes == shapeset
    assert len(table1.table1_grid(t1)) == 4 * 4 + 4 * 4 * 4
    sp = sparsity.PRESETS["paper"]
    assert (sp.hidden_sizes, sp.epochs, sp.patience, sp.lr, sp.seeds, sp.sizes) == (
        (1000, 1000, 1000), 50, 10, grid, 1, shapeset)
    f3 = figure3.PRESETS["paper"]
    assert (f3.hidden_sizes, f3.epochs, f3.patience, f3.lr, f3.seeds) == ((1000, 1000, 1000), 50, 10, 0.01, 4)
    assert f3.l1 == tuple(float(v) for v in np.linspace(0.0, 0.01, 50)) and f3.train_size is None
    # the paper's L1 0 to 0.01 on a summed cost: our 0 to 0.001 (the summed-cost folder, results/figure3-paper)
    assert [(p["seed"], p["l1"]) for p in figure3.figure3_grid(f3)][49:51] == [(0, 0.001), (1, 0.0)]
    assert (t1.minibatch_cost, f3.minibatch_cost, getattr(sp, "minibatch_cost", None)) == (
        "summed", "summed", None)
    f4 = figure4.PRESETS["paper"]
    assert (f4.hidden_sizes, f4.epochs, f4.patience, f4.pretrain_epochs, f4.lr, f4.pretrain_lr, f4.l1) == (
        (1000, 1000, 1000), 50, 10, 10, grid, grid, 0.001)
    assert f4.fractions == (0.01, 0.05, 0.1, 0.2, 0.5, 1.0) and f4.activations == ("rectifier", "tanh")
    alpha = softplus_alpha.PRESETS["paper"]
    assert (alpha.hidden_sizes, alpha.epochs, alpha.patience, alpha.lr, alpha.l1) == (
        (1000, 1000, 1000), 50, 10, grid, 0.001)
    assert tuple(alpha.alphas) == (1, 1.3, 2, 3, 6, float("inf"))
    assert (f4.minibatch_cost, alpha.minibatch_cost) == ("summed", "summed")


def test_the_paper_presets_of_figure4_pretrain_strategies_and_sentiment():
    from deep_sparse.presets import Generated
    from sweeps import figure4, pretrain_strategies, sentiment

    grid = (0.1, 0.01, 0.001, 0.0001)
    f4 = figure4.PRESETS["paper"]
    assert (f4.hidden_sizes, f4.norb_hidden_sizes, f4.epochs, f4.patience, f4.pretrain_epochs, f4.lr, f4.pretrain_lr,
            f4.l1) == ((1000, 1000, 1000), (4000, 2000), 50, 10, 10, grid, grid, 0.001)
    assert f4.fractions == (0.01, 0.05, 0.1, 0.2, 0.5, 1.0) and f4.datasets == ("norb", "mnist", "shapeset")
    assert f4.activations == ("rectifier", "tanh")
    assert f4.sizes == {"shapeset": Generated(n_train=10_000, n_valid=10_000, n_test=10_000, seed=0)}
    ps = pretrain_strategies.PRESETS["paper"]
    assert (ps.hidden_sizes, ps.epochs, ps.patience, ps.pretrain_epochs, ps.lr, ps.pretrain_lr, ps.l1, ps.datasets,
            ps.sizes) == ((1000, 1000, 1000), 50, 10, 10, grid, grid, 0.001, ("mnist",), {})
    st = sentiment.PRESETS["paper"]
    assert (st.vocabulary, st.width, st.folds, st.run_folds, st.epochs, st.patience, st.pretrain_epochs) == (
        5000, 5000, 10, 10, 50, 10, 10)
    assert (st.lr, st.pretrain_lr, st.l1, st.noise_level, st.n_synthetic, st.n_synthetic_unlabeled) == (
        grid, grid, 0.0001, (0.001, 0.01, 0.1, 0.25), None, None)
    assert st.models == ("no_hidden", "rectifier_1", "rectifier_3", "tanh_3")


@pytest.mark.parametrize("field, value, message", [
    ("models", ("no_hidden", "rbm"), "models must be a non-empty list of models among no_hidden, rectifier_1"),
    ("folds", 2, "folds must be a number of folds >= 3"),
    ("n_synthetic", 0, "n_synthetic must be a positive number of reviews, or None"),
    ("noise_level", (0.1, 1.5), "noise_level must be a masking probability"),
])
def test_a_sentiment_preset_checks_its_own_settings(field, value, message):
    from sweeps import sentiment

    with pytest.raises(ValueError, match=message):
        dataclasses.replace(sentiment.PRESETS["tiny"], **{field: value})


def test_the_dict_preset_adapter_is_gone():
    """Every experiment module holds typed presets: sweeps.common keeps no dict-preset entry point."""
    for name in ("resolve_preset", "open_dataset", "run_sweep", "dataset_data", "main_over_datasets", "load_splits",
                 "split_sizes", "write_cells", "write_not_run", "default_data_dir", "description_of"):
        assert not hasattr(common, name), name


def test_checkpoint_seconds_is_a_run_option(capsys):
    from sweeps import figure3

    parser = figure3.build_parser()
    assert common.sweep_options(parser.parse_args([])).checkpoint_seconds == 0
    assert common.sweep_options(parser.parse_args(["--checkpoint-seconds", "90"])).checkpoint_seconds == 90.0
    for bad in ("-1", "nan", "soon"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--checkpoint-seconds", bad])
    assert "expected a number of seconds >= 0, got 'soon'" in capsys.readouterr().err


def test_figure4_sweeps_every_curve_point_of_its_preset(tmp_path, fake_data, monkeypatch):
    from sweeps import figure4

    calls = []
    monkeypatch.setattr("deep_sparse.sweep.run", fake_sweep(calls))
    out = tmp_path / "figure4"
    assert figure4.main(["--preset", "quick", "--datasets", "shapeset", "mnist", "--out", str(out),
                         "--no-progress"]) == 0
    (config, grid, folder, options), = calls  # MNIST is not run
    assert folder == str(out / "shapeset") and config.hidden_sizes == (100, 100, 100)
    assert (config.labeled_fraction, config.epochs, config.patience, config.batch_size) == (0.05, 4, 2, 10)
    assert len(grid) == 2 * 3 * 2  # activation x labeled fraction x (with, without pre-training), one lr each
    assert {(p["activation"], p["pretrain_epochs"], p["pretrain_lr"], p["lr"], p["l1"]) for p in grid} == {
        (activation, epochs, 0.01, 0.1, 0.001 if activation == "rectifier" else 0.0)
        for activation in ("rectifier", "tanh") for epochs in (1, 0)}
    metadata = options.extra_metadata
    assert (metadata["experiment"], metadata["preset"], metadata["dataset"]) == ("figure4", "quick", "shapeset")
    assert metadata["sizes"] == {"n_train": 2000, "n_valid": 1000, "n_test": 1000}
    assert metadata["preset_settings"] == figure4.PRESETS["quick"].with_overrides(
        datasets=["shapeset", "mnist"]).settings()
    cells = read(out / "cells.json")["cells"]
    swept = [c for c in cells if c["dataset"] == "shapeset"]
    assert len(swept) == 12 and {c["n_labeled"] for c in swept} == {100, 400, 2000}
    assert {c["curve"] for c in swept} == {f"{a}, {w} pre-training" for a in ("rectifier", "tanh")
                                           for w in ("with", "without")}
    missing = [c for c in cells if c["dataset"] == "mnist"]
    assert len(missing) == 4 and all(c["ours"] is None and c["note"].startswith("not run") for c in missing)
    assert (out / "shapeset" / "figure4.png").stat().st_size > 0
    assert "# Figure 4 (quick preset)" in (out / "summary.md").read_text()


def test_figure4_sweeps_the_labeled_fractions_of_its_flag(tmp_path, fake_data, monkeypatch):
    from sweeps import figure4

    calls = []
    monkeypatch.setattr("deep_sparse.sweep.run", fake_sweep(calls))
    out = tmp_path / "figure4"
    assert figure4.main(["--preset", "quick", "--datasets", "shapeset", "--labeled-fractions", "0.1", "0.5",
                         "--out", str(out), "--no-progress"]) == 0
    (config, grid, folder, options), = calls
    assert config.labeled_fraction == 0.1 and {p["labeled_fraction"] for p in grid} == {0.1, 0.5}
    metadata = options.extra_metadata
    assert metadata["preset"] == "quick [--labeled-fractions 0.1 0.5]"
    assert metadata["preset_settings"]["fractions"] == (0.1, 0.5)  # results record the field's name
    assert {c["n_labeled"] for c in read(out / "cells.json")["cells"]} == {200, 1000}


def test_pretrain_strategies_offline_reaches_the_loader_not_the_environment(tmp_path, monkeypatch):
    from deep_sparse import dae
    from sweeps import pretrain_strategies

    monkeypatch.delenv("DEEP_SPARSE_OFFLINE")
    loads, calls = [], []

    def load(name, data_dir, download=True, **options):
        loads.append((name, download))
        return fake_load_splits(name, data_dir, download, **options)

    monkeypatch.setattr(experiment, "load_splits", load)
    monkeypatch.setattr("deep_sparse.sweep.run", fake_sweep(calls))
    out = tmp_path / "strategies"
    argv = ["--preset", "quick", "--offline", "--checkpoint-seconds", "30", "--out", str(out), "--no-progress"]
    assert pretrain_strategies.main(argv) == 0
    assert loads == [("mnist", False), ("shapeset", False)] and "DEEP_SPARSE_OFFLINE" not in os.environ
    (config, grid, folder, options), = calls
    assert options.checkpoint_seconds == 30.0 and options.checkpoint_every == 1
    assert options.download is False  # for sweeps that load their own data (figure3, train)
    assert config.activation == "rectifier" and config.hidden_sizes == (100, 100, 100)
    assert len(grid) == len(dae.PAPER_STRATEGIES) + 1 and all(p["l1"] == 0.001 for p in grid)
    cells = read(out / "cells.json")["cells"]
    assert {c["cell"] for c in cells if c["dataset"] == "shapeset"} == {*dae.PAPER_STRATEGIES, pretrain_strategies.BASELINE}
    assert all(c["ours"] is None and c["note"].startswith("not run") for c in cells if c["dataset"] == "mnist")


def test_mcnemar_exact():
    from sweeps.table1 import mcnemar_exact

    same = np.array([True, False, False, True])
    assert mcnemar_exact(same, same)["p_value"] == 1.0
    a = np.zeros(100, bool)
    b = np.zeros(100, bool)
    b[:10] = True  # B wrong on 10 examples A gets right, never the reverse: p = 2 / 2**10
    result = mcnemar_exact(a, b)
    assert (result["b"], result["c"]) == (0, 10)
    assert result["p_value"] == pytest.approx(2 / 2 ** 10)
    b[:3] = False
    a[:2] = True  # b=2, c=7: p = 2 * sum_{k<=2} C(9,k) / 2**9
    assert mcnemar_exact(a, b)["p_value"] == pytest.approx(2 * (1 + 9 + 36) / 512)
    with pytest.raises(ValueError):
        mcnemar_exact(a, b[:5])


def read(path):
    with open(path) as handle:
        return json.load(handle)


def test_table1_and_sparsity_tiny_then_report(tmp_path, fake_data):
    from sweeps import report, sparsity, table1

    out1 = tmp_path / "runs" / "table1"
    assert table1.main(["--preset", "tiny", "--datasets", "shapeset", "mnist", "--out", str(out1), "--no-progress"]) == 0
    results = read(out1 / "shapeset" / "results.json")
    assert results["experiment"] == "table1" and results["preset"] == "tiny" and results["complete"]
    assert {r["pretrain_epochs"] for r in results["rows"]} == {0, 1}
    significance = read(out1 / "shapeset" / "significance.json")["rectifier"]
    assert 0.0 <= significance["p_value"] <= 1.0
    # the per-example errors come from the rows, and retraining a row (as for rows recorded without
    # them) gives the same network
    assert significance["retrained_test_error"] == {"pretrained": None, "no_pretraining": None}
    preset = table1.PRESETS["tiny"]
    base = preset.train_config("shapeset", activation="rectifier", corruption="mask")
    config, data, _ = experiment.load_dataset("shapeset", preset.sizes_of("shapeset"), base, None, False)
    rows = {r["network"]: r for r in results["rows"]}
    for network in significance["networks"]:
        row = rows[network]
        wrong, error = table1.per_example_errors(config.replace(pretrain_epochs=row["pretrain_epochs"]), row, data)
        np.testing.assert_array_equal(wrong, unpack_wrong(row["test_wrong"]))
        assert error == pytest.approx(row["test_error"], abs=1e-6)
    missing = read(out1 / "mnist" / "results.json")
    assert missing["not_run"].startswith("not run: no files in") and missing["rows"] == []
    summary = (out1 / "summary.md").read_text()
    assert "NOT a paper-scale reproduction" in summary and "not run: no files in" in summary

    out2 = tmp_path / "runs" / "sparsity"
    assert sparsity.main(["--preset", "tiny", "--out", str(out2), "--no-progress"]) == 0
    cells = read(out2 / "cells.json")["cells"]
    layers = [c for c in cells if c["cell"].startswith("layer")]
    assert len(layers) == 6 and all(0.0 <= c["ours"] <= 1.0 for c in layers)
    assert (out2 / "sparsity_layers.png").stat().st_size > 0

    report_path = tmp_path / "report.md"
    assert report.main([str(tmp_path / "runs"), "--out", str(report_path)]) == 0
    text = report_path.read_text()
    listing = text.split("## Every other run")[1]
    assert "[table1](" in listing and "[sparsity](" in listing and "tiny" in listing
    # a tiny preset is a pipeline check: listed without numbers, and the workshop's table keeps its
    # paper numbers with our columns empty (the tiny sparsity run never fills them)
    assert "| Rectifier + L1 penalty | 28.62 |  |  | 1.56 |  |  |" in text and "| table1 | tiny" in listing


def test_preset_label_names_every_override():
    from sweeps import common

    assert presets.preset_label("paper", {}) == "paper"
    label = presets.preset_label("paper", {"epochs": 30, "lr": [0.1, 0.01], "pretrain_epochs": 0})
    assert label == "paper [--epochs 30; --lr 0.1 0.01; --pretrain-epochs 0]"
    assert common.is_paper_scale("paper") and common.is_paper_scale(label)
    assert not common.is_paper_scale("quick") and not common.is_paper_scale("quick [--epochs 9]")
    assert "overrides" in common.preset_banner(label) and "NOT a paper-scale" in common.preset_banner("quick [--epochs 9]")


def test_table1_overrides_are_recorded_and_pretraining_zero_runs_one_arm(tmp_path, fake_data):
    from sweeps import table1

    out = tmp_path / "table1"
    argv = ["--preset", "tiny", "--datasets", "shapeset", "--pretrain-epochs", "0", "--lr", "0.05", "0.02",
            "--patience", "3", "--no-significance", "--out", str(out), "--no-progress"]
    assert table1.main(argv) == 0
    results = read(out / "shapeset" / "results.json")
    assert results["preset"] == "tiny [--pretrain-epochs 0; --lr 0.05 0.02; --patience 3]"
    # one network per lr, none pre-trained and none duplicated
    assert sorted((r["pretrain_epochs"], r["lr"]) for r in results["rows"]) == [(0, 0.02), (0, 0.05)]
    cells = read(out / "cells.json")["cells"]
    assert [c["cell"] for c in cells] == ["rectifier, without pre-training"]
    assert "--lr 0.05 0.02" in (out / "summary.md").read_text()


def test_a_run_whose_data_sets_are_all_missing_says_not_run(tmp_path, fake_data):
    """Only not-run folders under --out (no sweep's plan.json): the run still ends with its summary."""
    from sweeps import table1

    out = tmp_path / "table1"
    assert table1.main(["--preset", "tiny", "--datasets", "mnist", "cifar10", "--out", str(out), "--no-progress"]) == 0
    for dataset in ("mnist", "cifar10"):
        assert read(out / dataset / "results.json")["not_run"].startswith("not run: no files in")
    cells = read(out / "cells.json")["cells"]
    assert len(cells) == 4 and all(c["ours"] is None and c["note"].startswith("not run") for c in cells)
    assert "not run: no files in" in (out / "summary.md").read_text()


def test_sentiment_tiny_is_labelled_synthetic(tmp_path):
    from sweeps import report, sentiment

    out = tmp_path / "runs" / "sentiment"
    assert sentiment.main(["--preset", "tiny", "--out", str(out), "--no-progress"]) == 0
    assert (out / "synthetic_reviews.jsonl").exists()
    fold = read(out / "fold00" / "results.json")
    assert fold["synthetic"] is True and "SYNTHETIC" in fold["dataset"] and fold["fold"] == 0
    assert not (out / "fold02").exists()  # tiny runs 2 of the 10 folds
    cells = read(out / "cells.json")["cells"]
    rmse = [c for c in cells if c["metric"] == "rmse"]
    assert len(rmse) == 2 and all(0.0 < c["ours"] < 4.0 and c["folds"] == 2 for c in rmse)
    assert all(c["paper_key"] is None and "SYNTHETIC" in c["note"] for c in cells)
    # issue 11.6: unlabeled reviews for pre-training; noise and pre-training lr swept and selected
    assert fold["n_unlabeled"] == 100 and (out / "synthetic_unlabeled_reviews.jsonl").exists()
    assert fold["sizes"]["n_train"] == 160  # the supervised folds hold the labeled reviews only
    pretrained = [r for r in fold["rows"] if r["pretrain_epochs"] > 0]
    assert {(r["noise_level"], r["pretrain_lr"]) for r in pretrained} == {(0.05, 0.1), (0.05, 0.01), (0.2, 0.1),
                                                                          (0.2, 0.01)}
    rectifier = next(c for c in rmse if c["cell"].startswith("Rectifier"))
    assert [s["fold"] for s in rectifier["selected"]] == [0, 1]
    assert all(s["noise_level"] in (0.05, 0.2) and s["pretrain_lr"] in (0.1, 0.01) for s in rectifier["selected"])
    # the network with no hidden layer reports the sparsity of its (binary bag-of-words) input
    no_hidden = next(c for c in cells if c["cell"] == "No hidden layer, sparsity")
    assert no_hidden["ours"] == pytest.approx(1.0 - fold["input_density"], abs=0.1) and no_hidden["ours"] > 0.5
    assert "SYNTHETIC" in (out / "summary.md").read_text()
    report_path = tmp_path / "report.md"
    report.main([str(tmp_path / "runs"), "--out", str(report_path)])
    assert "[sentiment](" in report_path.read_text().split("## Every other run")[1]


def test_sentiment_and_figure3_record_their_overrides_in_the_preset_label(tmp_path):
    from sweeps import figure3, sentiment

    out = tmp_path / "sentiment"
    argv = ["--preset", "paper", "--epochs", "2", "--run-folds", "1", "--out", str(out), "--no-progress"]
    assert sentiment.main(argv) == 0  # paper preset, no reviews file: not run, but labelled
    assert read(out / "results.json")["preset"] == "paper [--run-folds 1; --epochs 2]"
    assert "overrides" in (out / "summary.md").read_text()
    with pytest.raises(SystemExit):
        sentiment.main(["--preset", "tiny", "--run-folds", "0", "--out", str(out)])
    args = figure3.build_parser().parse_args(["--preset", "quick", "--epochs", "1"])
    preset = common.chosen_preset(args, figure3.PRESETS, figure3.OVERRIDES)
    assert preset.label == "quick [--epochs 1]" and preset.epochs == 1
    assert preset.description.endswith(" — OVERRIDDEN on the command line: --epochs 1")


def test_sentiment_paper_preset_without_reviews_says_not_run(tmp_path):
    from sweeps import sentiment

    assert sentiment.main(["--preset", "paper", "--out", str(tmp_path), "--no-progress"]) == 0
    assert read(tmp_path / "results.json")["not_run"].startswith("not run: the paper preset needs --reviews")


def test_sentiment_uses_the_reviews_data_module(tmp_path):
    """No private copies of the reviews pipeline: folds and bags of words come from deep_sparse.data.reviews."""
    from deep_sparse.data import reviews
    from sweeps import sentiment

    for name in ("read_reviews", "bag_of_words", "fold_splits", "make_synthetic_reviews"):
        assert not hasattr(sentiment, name)
    path = reviews.make_synthetic_reviews(str(tmp_path / "r.jsonl"), 40, seed=0)
    seen = []
    for fold in range(10):  # as sentiment.main cuts them: test = fold k, valid = fold k + 1
        splits = reviews.load_fold(path, fold, n_folds=10, seed=0, k=20, dense=False)
        sizes = [len(splits[s][0]) for s in ("train", "valid", "test")]
        assert sum(sizes) == 40 and splits["train"][0].num_features <= 20
        seen += splits["test"][1].tolist()
    assert len(seen) == 40  # every review is a test review exactly once


def test_report_over_empty_folder(tmp_path):
    from sweeps import report

    assert report.main([str(tmp_path), "--out", str(tmp_path / "r.md")]) == 0
    assert "not run at the paper preset yet" in (tmp_path / "r.md").read_text()
    with pytest.raises(SystemExit):
        report.main([str(tmp_path / "absent"), "--out", str(tmp_path / "r.md")])


def test_the_shapeset_description_measures_the_generators_grey_levels(tmp_path):
    from deep_sparse.data import shapeset
    from sweeps import shapeset_description

    x, y = shapeset.generate(300, seed=0, split="test")
    measured = shapeset_description.measure(x, y)
    assert np.all(measured["contrast"] >= shapeset.MIN_CONTRAST - 1e-6)  # the generator's contrast floor
    assert np.all((measured["area"] > 0) & (measured["area"] < 0.6))
    assert shapeset_description.main(["--out", str(tmp_path), "--examples", "300"]) == 0
    assert (tmp_path / "examples.png").stat().st_size > 0 and "| contrast |" in (tmp_path / "NOTE.md").read_text()
