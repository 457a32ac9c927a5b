"""python -m sweeps.train: its --preset, the banner that says whether a run is at paper scale, and
flags that take lists (seeds, learning rates) like every other module's."""
import json

from sweeps import common, train

TINY = ["--datasets", "shapeset", "--hidden-sizes", "8", "--epochs", "1", "--train-size", "200", "--valid-size",
        "100", "--test-size", "100", "--lr", "0.1", "--seeds", "0", "1", "--chunk-size", "2", "--quiet"]


def test_a_quick_run_is_labelled_not_paper_scale_and_sweeps_every_seed(tmp_path, capsys):
    out = tmp_path / "out"
    assert common.cli(train.main, ["--preset", "quick", *TINY, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Train, preset quick [--lr 0.1; --seeds 0 1; --hidden-sizes 8; --epochs 1; ")
    record = json.loads((out / "results.json").read_text())
    assert record["preset"].startswith("quick [") and record["experiment"] == "train"
    assert [(row["seed"], row["lr"], row["l1"]) for row in record["rows"]] == [(0, 0.1, 0.001), (1, 0.1, 0.001)]
    assert "NOT a paper-scale reproduction" in (out / "summary.md").read_text()


def test_without_a_preset_a_run_is_the_paper_preset_with_its_overrides_named():
    args = train.build_parser().parse_args(["--epochs", "3", "--seed", "4"])
    preset = common.chosen_preset(args, train.PRESETS, train.SETTINGS)
    assert preset.label == "paper [--seeds 4; --epochs 3]" and "paper scale" in common.preset_banner(preset.label)
    assert (preset.hidden_sizes, preset.batch_size, preset.lr, preset.l1) == (
        (1000, 1000, 1000), 10, (0.1, 0.01, 0.001, 0.0001), (0.001,))
    points, base = train.grid(preset)
    assert points == [{"activation": "rectifier", "lr": lr, "l1": 0.001, "seed": 4, "pretrain_lr": 0.01,
                       "noise_level": 0.25} for lr in (0.1, 0.01, 0.001, 0.0001)]
    assert base.alpha == 1.0
    alphas = common.chosen_preset(train.build_parser().parse_args(["--alpha", "1", "inf", "--lr", "0.1"]),
                                  train.PRESETS, train.SETTINGS)
    assert [point["alpha"] for point in train.grid(alphas)[0]] == [1.0, float("inf")]


def test_one_labeled_fraction_is_the_configurations_and_several_are_a_grid_axis():
    parse = train.build_parser().parse_args
    one = common.chosen_preset(parse(["--labeled-fraction", "0.5", "--lr", "0.1"]), train.PRESETS, train.SETTINGS)
    assert one.label == "paper [--lr 0.1; --labeled-fractions 0.5]"  # in the table's order
    assert train.structure(one, "mnist")["labeled_fraction"] == 0.5
    assert all("labeled_fraction" not in point for point in train.grid(one)[0])
    several = common.chosen_preset(parse(["--labeled-fractions", "0.5", "1", "--lr", "0.1"]), train.PRESETS,
                                   train.SETTINGS)
    assert "labeled_fraction" not in train.structure(several, "mnist")
    assert [point["labeled_fraction"] for point in train.grid(several)[0]] == [0.5, 1.0]
    assert train.structure(common.chosen_preset(parse([]), train.PRESETS, train.SETTINGS), "mnist")[
        "labeled_fraction"] == 1.0
