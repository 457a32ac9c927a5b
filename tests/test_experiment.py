"""deep_sparse.experiment: typed presets (validation, overrides, labels, settings) and what every
experiment does with one (open a data set at the preset's size, sweep with its metadata, write cells)."""
import dataclasses
import json

import numpy as np
import pytest

from deep_sparse import data as data_lib
from deep_sparse import experiment, results_io
from deep_sparse.experiment import DatasetPreset, Generated, Subset
from deep_sparse.sweep import SweepOptions


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExamplePreset(DatasetPreset):
    known_datasets = ("mnist", "norb", "shapeset")
    known_activations = ("rectifier", "tanh")

    norb_hidden_sizes: tuple[int, ...]
    activations: tuple[str, ...]
    pretrain_epochs: int
    lr: tuple[float, ...]
    l1: float
    seeds: int
    fractions: tuple[float, ...] = experiment.setting(
        lambda v: bool(v) and all(0 < f <= 1 for f in v), "a non-empty list of fractions in (0, 1]", default=(1.0,))


def example(**changes) -> ExamplePreset:
    settings = dict(name="paper", description="PAPER SCALE, for the tests", hidden_sizes=[1000, 1000, 1000],
                    norb_hidden_sizes=(4000, 2000), epochs=50, patience=10, pretrain_epochs=10, lr=[0.1, 0.01],
                    l1=0.001, seeds=2, activations=["rectifier", "tanh"], datasets=["mnist", "shapeset"],
                    sizes={"mnist": Subset(train_size=100, valid_size=50, test_size=60),
                           "shapeset": Generated(n_train=30, n_valid=20, n_test=10, seed=3)})
    settings.update(changes)
    return ExamplePreset(**settings)


# ------------------------------------------------------------------------------ construction
BAD_SIZES = Subset(train_size=0)
BAD_SEED = Generated(n_train=10, n_valid=10, n_test=10, seed=-1)


@pytest.mark.parametrize("field, value, named, shown", [
    ("epochs", 0, "epochs", "0"), ("epochs", 2.5, "epochs", "2.5"), ("epochs", True, "epochs", "True"),
    ("patience", 0, "patience", "0"), ("pretrain_epochs", -1, "pretrain_epochs", "-1"), ("seeds", 0, "seeds", "0"),
    ("hidden_sizes", [], "hidden_sizes", "()"), ("hidden_sizes", [100, 0], "hidden_sizes", "(100, 0)"),
    ("norb_hidden_sizes", (4000, -2), "norb_hidden_sizes", "(4000, -2)"), ("lr", [], "lr", "()"),
    ("lr", [0.1, -0.01], "lr", "(0.1, -0.01)"), ("lr", [0.1, float("nan")], "lr", "(0.1, nan)"),
    ("l1", -0.001, "l1", "-0.001"), ("l1", float("inf"), "l1", "inf"), ("activations", [], "activations", "()"),
    ("activations", ["rectifier", "softplus"], "activations", "('rectifier', 'softplus')"),
    ("datasets", [], "datasets", "()"), ("datasets", ["cifar10"], "datasets", "('cifar10',)"),
    ("description", " ", "description", "' '"), ("fractions", [0.5, 1.5], "fractions", "(0.5, 1.5)"),
    ("sizes", {"mnist": BAD_SIZES}, "sizes['mnist']", repr(BAD_SIZES)),
    ("sizes", {"mnist": {"train_size": 100}}, "sizes['mnist']", "{'train_size': 100}"),
    ("sizes", {"nope": Subset()}, "sizes", repr({"nope": Subset()})), ("sizes", [Subset()], "sizes", repr((Subset(),))),
    ("sizes", {"shapeset": BAD_SEED}, "sizes['shapeset']", repr(BAD_SEED)),
])
def test_a_bad_value_is_one_error_line_naming_the_field_and_the_value(field, value, named, shown):
    with pytest.raises(ValueError) as error:
        example(**{field: value})
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"preset 'paper' (ExamplePreset): {named} must be ")
    assert message.endswith(f", got {shown}")


def test_the_example_and_its_edge_values_are_accepted():
    assert example(patience=None, pretrain_epochs=0, l1=0.0, lr=[1e-6]).patience is None
    assert example(sizes={}).sizes_of("mnist") == Subset()


def test_a_field_without_a_rule_is_refused_when_a_preset_is_made():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Unruled(experiment.Preset):
        colour: str

    with pytest.raises(TypeError, match="Unruled.colour has no validation rule"):
        Unruled(name="x", description="x", epochs=1, patience=None, colour="red")


def test_the_rules_an_experiment_gives_its_own_settings():
    assert experiment.positive_int(3) and not any(experiment.positive_int(v) for v in (0, -1, 2.0, True, None))
    assert experiment.optional_positive_int(None) and experiment.optional_positive_int(1)
    assert not experiment.optional_positive_int(0)
    fractions = experiment.grid_of(lambda f: 0 < f <= 1)
    assert fractions((0.5, 1)) and not any(fractions(v) for v in ((), 0.5, (0.5, 0), (float("nan"),), ("1",)))
    among_a_b = experiment.names_among(("a", "b"))
    assert among_a_b(("b",)) and not any(among_a_b(v) for v in ((), "a", ("a", "c"), ([],)))

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Folds(experiment.Preset):
        folds: int = experiment.setting(lambda v: experiment.positive_int(v) and v >= 3, "a number of folds >= 3")
        models: tuple[str, ...] = experiment.setting(among_a_b, "a non-empty list of models among a, b")

    assert Folds(name="x", description="x", epochs=1, patience=None, folds=3, models=["a"]).models == ("a",)
    with pytest.raises(ValueError, match=r"\(Folds\): models must be a non-empty list of models among a, b, got "
                                         r"\('a', 'c'\)"):
        Folds(name="x", description="x", epochs=1, patience=None, folds=3, models=["a", "c"])


def test_a_preset_is_frozen_and_its_lists_are_tuples():
    preset = example(lr=np.array([0.1, 0.01]), l1=np.float64(0.001))
    assert preset.hidden_sizes == (1000, 1000, 1000) and preset.lr == (0.1, 0.01) and preset.datasets == ("mnist",
                                                                                                        "shapeset")
    assert type(preset.lr[0]) is float and type(preset.l1) is float
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset.epochs = 3
    with pytest.raises(TypeError):
        preset.sizes["norb"] = Subset()


def test_by_name_keys_presets_by_their_names_and_refuses_duplicates_and_mixed_classes():
    quick = example(name="quick", description="REDUCED")
    assert list(experiment.by_name(quick, example())) == ["quick", "paper"]
    with pytest.raises(ValueError, match="two presets are named 'paper'"):
        experiment.by_name(example(), example())
    other = experiment.NetworkPreset(name="tiny", description="x", hidden_sizes=(1,), epochs=1, patience=None)
    with pytest.raises(TypeError, match="share a class"):
        experiment.by_name(example(), other)


# ------------------------------------------------------------------------------ overrides
def test_overrides_give_a_new_preset_whose_label_and_description_list_them_in_order():
    paper = example()
    preset = paper.with_overrides(epochs=30, lr=[0.1, 0.01], datasets=["mnist"], pretrain_epochs=0)
    assert preset is not paper and paper.epochs == 50 and paper.label == "paper" and not paper.overrides
    assert (preset.epochs, preset.lr, preset.datasets, preset.pretrain_epochs) == (30, (0.1, 0.01), ("mnist",), 0)
    assert preset.label == "paper [--epochs 30; --lr 0.1 0.01; --pretrain-epochs 0]"
    assert preset.description == ("PAPER SCALE, for the tests — OVERRIDDEN on the command line: --epochs 30; "
                                  "--lr 0.1 0.01; --pretrain-epochs 0")
    assert experiment.is_paper_scale(preset.label) and preset.settings()["description"] == preset.description


def test_cell_selectors_choose_cells_and_leave_label_and_description_alone():
    preset = example().with_overrides(datasets=["shapeset"], activations=["tanh"])
    assert preset.label == "paper" and preset.description == example().description
    assert preset.datasets == ("shapeset",) and preset.activations == ("tanh",)
    assert example().with_overrides() == example()


def test_overrides_accumulate_without_repeating_the_note():
    preset = example().with_overrides(epochs=30).with_overrides(patience=3, epochs=20)
    assert preset.label == "paper [--epochs 20; --patience 3]"
    assert preset.description.count("OVERRIDDEN") == 1 and preset.description.endswith("--epochs 20; --patience 3")


def test_an_override_is_validated_and_an_unknown_setting_is_refused():
    with pytest.raises(ValueError, match=r"preset 'paper \[--epochs 0\]' \(ExamplePreset\): epochs must be a positive"):
        example().with_overrides(epochs=0)
    with pytest.raises(ValueError, match="no setting 'learning_rate' to override; its settings: epochs, patience"):
        example().with_overrides(learning_rate=[0.1])
    for fixed in ("name", "description", "overrides"):
        with pytest.raises(ValueError, match=f"no setting '{fixed}'"):
            example().with_overrides(**{fixed: "x"})


def test_labels_and_paper_scale():
    assert experiment.preset_label("quick", {}) == "quick"
    label = experiment.preset_label("paper", {"noise_std": 0.1, "l1": (0.0, 0.1)})
    assert label == "paper [--noise-std 0.1; --l1 0.0 0.1]"
    assert experiment.is_paper_scale("paper") and experiment.is_paper_scale("paper [--epochs 3]")
    assert not any(experiment.is_paper_scale(x) for x in ("quick", "quick [--epochs 3]", "papers", None))


# ------------------------------------------------------------------------------ settings and configs
def test_settings_are_every_field_but_name_and_overrides_as_results_record_them():
    preset = example().with_overrides(epochs=3)
    settings = preset.settings()
    assert "name" not in settings and "overrides" not in settings
    assert set(settings) == {f.name for f in dataclasses.fields(preset)} - {"name", "overrides"}
    assert settings["sizes"] == {"mnist": {"train_size": 100, "valid_size": 50, "test_size": 60},
                                 "shapeset": {"n_train": 30, "n_valid": 20, "n_test": 10, "seed": 3}}
    assert settings["epochs"] == 3 and settings["lr"] == (0.1, 0.01)
    assert json.loads(json.dumps(settings))["hidden_sizes"] == [1000, 1000, 1000]


def test_train_config_uses_the_preset_and_norb_widths_on_norb():
    preset = example()
    config = preset.train_config("mnist", activation="tanh", corruption="gaussian")
    assert (config.hidden_sizes, config.epochs, config.patience, config.batch_size) == ((1000, 1000, 1000), 50, 10, 10)
    assert config.activation == "tanh" and config.corruption == "gaussian"
    assert preset.train_config("norb").hidden_sizes == (4000, 2000)
    plain = experiment.NetworkPreset(name="x", description="x", hidden_sizes=(5, 5), epochs=2, patience=None)
    assert plain.hidden_sizes_for("norb") == (5, 5)


# ------------------------------------------------------------------------------ data sets
SMALL = experiment.NetworkPreset(name="small", description="small", hidden_sizes=(4,), epochs=1, patience=None)


def fake_splits(n_train=80, n_valid=40, n_test=30, **_):
    rng = np.random.default_rng(0)
    return {split: (rng.random((n, 6)).astype(np.float32), rng.integers(0, 3, n).astype(np.int32))
            for split, n in (("train", n_train), ("valid", n_valid), ("test", n_test))}


def test_load_dataset_cuts_a_stored_set_and_passes_a_generators_options(monkeypatch):
    calls = []

    def load(name, data_dir=None, download=True, **options):
        calls.append((name, download, options))
        return fake_splits(**options)

    monkeypatch.setattr(data_lib, "load_splits", load)
    base = SMALL.train_config("x")
    config, data, reason = experiment.load_dataset("mnist", Subset(train_size=50, test_size=7), base, download=False)
    assert reason is None and calls[-1] == ("mnist", False, {})
    assert (config.dataset, config.num_classes, config.train_size, config.valid_size) == ("mnist", 10, 50, None)
    assert experiment.split_sizes(data) == {"n_train": 50, "n_valid": 40, "n_test": 7}
    config, data, reason = experiment.load_dataset("shapeset", Generated(n_train=12, n_valid=9, n_test=5), base)
    assert calls[-1] == ("shapeset", True, {"n_train": 12, "n_valid": 9, "n_test": 5, "seed": 0})
    assert config.num_classes == data_lib.num_classes("shapeset") and config.train_size is None
    assert experiment.split_sizes(data) == {"n_train": 12, "n_valid": 9, "n_test": 5}


@pytest.mark.parametrize("failure, reason", [
    (FileNotFoundError("no mnist files"), "not run: no files in DATA_DIR (no mnist files)"),
    (ValueError("bad header"), "not run: loading mnist from DATA_DIR failed (ValueError: bad header)"),
])
def test_a_data_set_that_cannot_be_had_is_a_reason(monkeypatch, tmp_path, failure, reason):
    def load(name, **_):
        raise failure

    monkeypatch.setattr(data_lib, "load_splits", load)
    base = SMALL.train_config("x")
    # the reason is committed with the results: the data folder is written DATA_DIR
    assert experiment.load_dataset("mnist", Subset(), base, str(tmp_path)) == (None, None, reason)


def test_a_subset_larger_than_the_data_set_is_a_reason(monkeypatch):
    monkeypatch.setattr(data_lib, "load_splits", lambda name, **options: fake_splits())
    base = SMALL.train_config("x")
    _, _, reason = experiment.load_dataset("mnist", Subset(train_size=1000), base)
    assert reason.startswith("not run: mnist: TrainConfig.train_size=1000")


# ------------------------------------------------------------------------------ a run
def make_run(tmp_path, preset=None, log=None):
    return experiment.Run("example", preset or example().with_overrides(epochs=3), str(tmp_path / "out"),
                          argv=("-m", "sweeps.example", "--epochs", "3"), sweep_options=SweepOptions(resume=True),
                          log=log or (lambda line: None))


def test_a_run_records_a_missing_data_set_as_not_run(tmp_path, monkeypatch):
    monkeypatch.setattr(data_lib, "load_splits", lambda name, **_: (_ for _ in ()).throw(FileNotFoundError(name)))
    lines = []
    run = make_run(tmp_path, log=lines.append)
    folder, config, data, reason = run.open_dataset("mnist", run.preset.train_config("mnist"))
    assert folder == str(tmp_path / "out" / "mnist") and config is None and data is None
    assert reason.startswith("not run: no files in") and lines == [f"mnist: {reason}"]
    written = results_io.read_json(str(tmp_path / "out" / "mnist" / "results.json"))
    assert written["not_run"] == reason and written["rows"] == [] and not written["complete"]
    assert (written["experiment"], written["preset"], written["dataset"]) == ("example", "paper [--epochs 3]", "mnist")
    assert written["preset_settings"]["epochs"] == 3 and written["argv"] == ["-m", "sweeps.example", "--epochs", "3"]
    assert results_io.is_ours(str(tmp_path / "out"))  # --out is claimed, so the run can write its summary there


def test_a_run_sweeps_with_its_options_and_metadata_and_finishes_with_cells_and_summary(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(data_lib, "load_splits", lambda name, **options: fake_splits(**options))
    monkeypatch.setattr("deep_sparse.sweep.run", lambda config, grid, folder, **kwargs: calls.append(
        (config, grid, folder, kwargs)) or [{"network": 0}])
    run = make_run(tmp_path)
    folder, config, data, reason = run.open_dataset("shapeset", run.preset.train_config("shapeset"))
    assert reason is None and config.num_classes == 3
    assert run.sweep(config, [{"lr": 0.1}], folder, data, dataset="shapeset") == [{"network": 0}]
    (_, grid, swept, kwargs), = calls
    options = kwargs["options"]
    assert grid == [{"lr": 0.1}] and swept == folder and options.resume is True and kwargs["data"] is data
    assert options.argv == ("-m", "sweeps.example", "--epochs", "3")
    assert options.extra_metadata == {"experiment": "example", "preset": "paper [--epochs 3]",
                                      "preset_settings": run.preset.settings(), "dataset": "shapeset",
                                      "sizes": {"n_train": 30, "n_valid": 20, "n_test": 10}}
    cell = run.cell("shapeset", "rectifier", "test_error", np.float32(0.25), None, n_test=10)
    assert cell == {"experiment": "example", "preset": "paper [--epochs 3]", "dataset": "shapeset",
                    "cell": "rectifier", "metric": "test_error", "ours": 0.25, "paper_key": None, "n_test": 10}
    run.finish([cell], "# summary\n")
    assert results_io.read_json(str(tmp_path / "out" / "cells.json")) == {"cells": [cell]}
    assert (tmp_path / "out" / "summary.md").read_text() == "# summary\n"
