"""deep_sparse.presets: typed presets (validation, overrides, labels, settings)."""
import dataclasses
import json

import numpy as np
import pytest

from deep_sparse import presets
from deep_sparse.presets import Generated, Stopping, Subset
from fakes import example
from sweeps import figure3


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
    ("stopping", {"shapeset": Stopping(0, 20)}, "stopping['shapeset']", repr(Stopping(0, 20))),
    ("stopping", {"shapeset": Stopping(500, 0)}, "stopping['shapeset']", repr(Stopping(500, 0))),
    ("stopping", {"shapeset": (500, 20)}, "stopping['shapeset']", "(500, 20)"),
    ("stopping", {"nope": Stopping(5, 2)}, "stopping", repr({"nope": Stopping(5, 2)})),
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
    class Unruled(presets.Preset):
        colour: str

    with pytest.raises(TypeError, match="Unruled.colour has no validation rule"):
        Unruled(name="x", description="x", epochs=1, patience=None, colour="red")


def test_the_rules_an_experiment_gives_its_own_settings():
    assert presets.positive_int(3) and not any(presets.positive_int(v) for v in (0, -1, 2.0, True, None))
    assert presets.optional_positive_int(None) and presets.optional_positive_int(1)
    assert not presets.optional_positive_int(0)
    fractions = presets.grid_of(lambda f: 0 < f <= 1)
    assert fractions((0.5, 1)) and not any(fractions(v) for v in ((), 0.5, (0.5, 0), (float("nan"),), ("1",)))
    among_a_b = presets.names_among(("a", "b"))
    assert among_a_b(("b",)) and not any(among_a_b(v) for v in ((), "a", ("a", "c"), ([],)))

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Folds(presets.Preset):
        folds: int = presets.setting(lambda v: presets.positive_int(v) and v >= 3, "a number of folds >= 3")
        models: tuple[str, ...] = presets.setting(among_a_b, "a non-empty list of models among a, b")

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
    assert list(presets.by_name(quick, example())) == ["quick", "paper"]
    with pytest.raises(ValueError, match="two presets are named 'paper'"):
        presets.by_name(example(), example())
    other = presets.NetworkPreset(name="tiny", description="x", hidden_sizes=(1,), epochs=1, patience=None)
    with pytest.raises(TypeError, match="share a class"):
        presets.by_name(example(), other)


# ------------------------------------------------------------------------------ overrides
def test_overrides_give_a_new_preset_whose_label_and_description_list_them_in_order():
    paper = example()
    preset = paper.with_overrides(epochs=30, lr=[0.1, 0.01], datasets=["mnist"], pretrain_epochs=0)
    assert preset is not paper and paper.epochs == 50 and paper.label == "paper" and not paper.overrides
    assert (preset.epochs, preset.lr, preset.datasets, preset.pretrain_epochs) == (30, (0.1, 0.01), ("mnist",), 0)
    assert preset.label == "paper [--epochs 30; --lr 0.1 0.01; --pretrain-epochs 0]"
    assert preset.description == ("PAPER SCALE, for the tests — OVERRIDDEN on the command line: --epochs 30; "
                                  "--lr 0.1 0.01; --pretrain-epochs 0")
    assert presets.is_paper_scale(preset.label) and preset.settings()["description"] == preset.description


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
    assert presets.preset_label("quick", {}) == "quick"
    label = presets.preset_label("paper", {"noise_std": 0.1, "l1": (0.0, 0.1)})
    assert label == "paper [--noise-std 0.1; --l1 0.0 0.1]"
    renamed = presets.preset_label("paper", {"noise_std": (0.5, 2.0), "epochs": 3}, {"noise_std": "--noise-level"})
    assert renamed == "paper [--noise-level 0.5 2.0; --epochs 3]"
    assert presets.is_paper_scale("paper") and presets.is_paper_scale("paper [--epochs 3]")
    assert not any(presets.is_paper_scale(x) for x in ("quick", "quick [--epochs 3]", "papers", None))


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
    plain = presets.NetworkPreset(name="x", description="x", hidden_sizes=(5, 5), epochs=2, patience=None)
    assert plain.hidden_sizes_for("norb") == (5, 5)



def test_a_data_set_with_a_stopping_rule_of_its_own_trains_under_it_unless_the_command_line_sets_one():
    preset = example(stopping={"shapeset": Stopping(500, 20)})
    assert (preset.train_config("shapeset").epochs, preset.train_config("shapeset").patience) == (500, 20)
    assert (preset.train_config("mnist").epochs, preset.train_config("mnist").patience) == (50, 10)
    assert preset.settings()["stopping"] == {"shapeset": {"epochs": 500, "patience": 20}}
    given = preset.with_overrides(epochs=7)  # an --epochs given holds for every data set
    assert given.stopping_for("shapeset") == Stopping(7, 20) and given.stopping_for("mnist") == Stopping(7, 10)
    assert preset.with_overrides(patience=None).stopping_for("shapeset") == Stopping(500, None)
    assert example().stopping_for("shapeset") == Stopping(50, 10)


def test_trained_values_map_a_summed_cost_to_ours_and_leave_a_mean_one():
    assert presets.trained_values("mean", lr=0.01, l1=(0.0, 0.001)) == {"lr": (0.01,), "l1": (0.0, 0.001)}
    summed = presets.trained_values("summed", lr=(0.1, 0.01, 0.001, 0.0001), pretrain_lr=0.001, l1=0.001)
    assert summed == {"lr": (1.0, 0.1, 0.01, 0.001), "pretrain_lr": (0.01,), "l1": (0.0001,)}


def test_figure3s_paper_preset_trains_the_summed_costs_grid_at_our_values():
    paper = figure3.PRESETS["paper"]
    assert paper.minibatch_cost == "summed" and paper.lr == 0.01 and max(paper.l1) == 0.01
    grid = figure3.figure3_grid(paper)
    assert len(grid) == 200 and {row["lr"] for row in grid} == {0.1}
    assert max(row["l1"] for row in grid) == 0.001 and min(row["l1"] for row in grid) == 0.0
    assert {row["lr"] for row in figure3.figure3_grid(figure3.PRESETS["quick"])} == {0.01}
