"""The table of hyperparameter rules drives every check: a value in a rule's range passes Hparams,
TrainConfig, the planner and the command line; one outside is refused by each with a line naming the
field or the flag. Every module spells a hyperparameter's flag the same way, recorded commands still
parse to the sweeps they ran, and docs/hyperparameters.md is the table as generated."""
import argparse
import dataclasses
import glob
import importlib
import json
import math
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from deep_sparse import hparam_rules, planner, results_io, store
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.hparam_rules import FLOAT, INT, RULES
from sweeps import common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUMERIC = [rule for rule in RULES.values() if rule.kind in (FLOAT, INT)]
CONFIG_FIELDS = {field.name for field in dataclasses.fields(TrainConfig)}
# mask noise, the default corruption: the noise level is a probability
BASE = {name: getattr(Hparams(), name) for name in Hparams._fields}
EXAMPLES = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def inside(rule) -> st.SearchStrategy:
    if rule.kind == INT:
        return st.integers(min_value=int(rule.low), max_value=10**6)
    low = -1e6 if rule.low is None else rule.low
    high = 1e6 if rule.high is None else rule.high
    values = st.floats(low, high, exclude_min=rule.low_open, exclude_max=rule.high_open, allow_nan=False,
                       allow_infinity=False)
    return st.one_of(values, st.just(math.inf)) if rule.inf_means else values


def outside(rule) -> st.SearchStrategy:
    if rule.kind == INT:
        return st.integers(max_value=int(rule.low) - 1, min_value=-10**6)
    choices = [st.just(math.nan)] + ([] if rule.inf_means else [st.just(math.inf)])
    if rule.low is not None:
        choices.append(st.floats(max_value=rule.low, exclude_max=not rule.low_open, min_value=-1e6))
    if rule.high is not None:
        choices.append(st.floats(min_value=rule.high, exclude_min=not rule.high_open, max_value=1e6))
    return st.one_of(choices)


def parser_of(rule) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="module")
    common.add_rule_arguments(parser, [rule.name])
    return parser


def test_the_table_holds_every_field_and_its_defaults_are_the_librarys():
    assert tuple(Hparams._fields) == hparam_rules.HPARAM_NAMES
    assert CONFIG_FIELDS | set(Hparams._fields) | {"seed"} == set(RULES)
    for name, rule in RULES.items():
        if rule.traced:
            assert getattr(Hparams(), name) == rule.default, name
        elif name in CONFIG_FIELDS:
            assert getattr(TrainConfig(), name) == rule.default, name
        assert rule.accepts(rule.default), name


@pytest.mark.parametrize("rule", NUMERIC, ids=lambda rule: rule.name)
@EXAMPLES
@given(data=st.data())
def test_a_value_in_range_is_accepted_everywhere(rule, data):
    value = data.draw(inside(rule))
    assert rule.accepts(value) and rule.problem(value, ("mask",)) is None
    if rule.cli:
        parsed = getattr(parser_of(rule).parse_args([f"{rule.option}={value!r}"]), rule.dest)
        assert parsed == ([value] if rule.listed else value)
    if rule.traced:
        assert getattr(Hparams(**{rule.name: value}), rule.name) == value
        assert planner.check_hparams({**BASE, rule.name: value}, TrainConfig()) is None
    elif rule.name in CONFIG_FIELDS:
        assert getattr(TrainConfig(**{rule.name: value}), rule.name) == value
    else:
        assert planner.plan(TrainConfig(), [{rule.name: value}])[0].networks[0].seed == value


@pytest.mark.parametrize("rule", NUMERIC, ids=lambda rule: rule.name)
@EXAMPLES
@given(data=st.data())
def test_a_value_outside_is_refused_with_one_line_naming_the_field_or_flag(rule, data, capsys):
    value = data.draw(outside(rule))
    assert not rule.accepts(value)
    if rule.traced:
        problem = planner.check_hparams({**BASE, rule.name: value}, TrainConfig())
        assert problem.startswith(f"{rule.name} must be ") and "\n" not in problem
        if math.isnan(value) or value < rule.low:  # what Hparams checks: an in_axes prefix holds 0
            with pytest.raises(ValueError, match=f"^Hparams.{rule.name} must be >= 0, got"):
                Hparams(**{rule.name: value})
    elif rule.name in CONFIG_FIELDS:
        with pytest.raises(ValueError, match=f"^TrainConfig.{rule.name} must be [^\n]*, got"):
            TrainConfig(**{rule.name: value})
    else:
        with pytest.raises(ValueError, match=f"grid point 0: {rule.name} must be "):
            planner.plan(TrainConfig(), [{rule.name: value}])
    lifted = rule.high_lifted_by and rule.accepts(value, bounded=False)  # refused once the corruption is known
    if rule.cli and not lifted and repr(value) != rule.cli_none:  # patience 0 on a command line: never stop
        with pytest.raises(SystemExit):
            parser_of(rule).parse_args([f"{rule.option}={value!r}"])
        error = capsys.readouterr().err.splitlines()[-1]
        assert error.startswith(f"module: error: argument {rule.option}") and "expected" in error


@pytest.mark.parametrize("rule", [r for r in RULES.values() if r.choices], ids=lambda rule: rule.name)
def test_a_choice_outside_the_table_is_refused(rule, capsys):
    name = "blur"
    if rule.name in CONFIG_FIELDS:
        with pytest.raises(ValueError, match=f"TrainConfig.{rule.name} must be one of .*got 'blur'"):
            TrainConfig(**{rule.name: name})
    if rule.cli:
        with pytest.raises(SystemExit):
            parser_of(rule).parse_args([rule.option, name])
        assert rule.option in capsys.readouterr().err.splitlines()[-1]


def sweep_modules() -> list:
    names = sorted(os.path.basename(path)[:-3] for path in glob.glob(os.path.join(ROOT, "sweeps", "*.py")))
    modules = [importlib.import_module(f"sweeps.{name}") for name in names if name != "__init__"]
    return [module for module in modules if hasattr(module, "build_parser")]


def test_every_module_spells_each_hyperparameter_flag_the_same_way():
    spellings = {option: rule for rule in RULES.values() if rule.cli for option in (rule.option, *rule.aliases)}
    seen = {}
    for module in sweep_modules():
        for action in module.build_parser()._actions:
            rules = {spellings[option] for option in action.option_strings if option in spellings}
            if not rules:
                continue
            (rule,) = rules
            where = f"{module.__name__} {action.option_strings}"
            assert action.option_strings == [rule.option, *rule.aliases], where
            assert action.dest == rule.dest, where
            assert action.nargs == ("+" if rule.listed else 0 if rule.kind == hparam_rules.FLAG else None), where
            seen.setdefault(rule.name, set()).add(module.__name__)
    assert seen["lr"] >= {"sweeps.train", "sweeps.table1", "sweeps.figure3", "sweeps.workshop_table2"}
    assert seen["seed"] == {"sweeps.train", "sweeps.figure3"} and "sweeps.table1" in seen["dataset"]


def test_every_help_names_only_presets_that_exist_and_tells_no_history():
    for module in sweep_modules():
        text = " ".join(module.build_parser().format_help().split())
        assert not re.search(r"\bissue \d", text), module.__name__
        presets = getattr(module, "PRESETS", None)
        if presets is not None:
            assert f"--preset {{{','.join(presets)}}}" in text and ("tiny" in presets) == ("tiny" in text)
        if "--matmul-precision" in text:
            assert "it matters on GPUs only" in text


# a preset field that holds a hyperparameter under a name of its own, set by the hyperparameter's flag
RENAMED = [
    ("figure4", ["--labeled-fractions", "0.1", "0.5"], "fractions", (0.1, 0.5), "--labeled-fractions 0.1 0.5"),
    ("figure4", ["--labeled-fraction", "0.2"], "fractions", (0.2,), "--labeled-fractions 0.2"),
    ("softplus_alpha", ["--alpha", "1", "inf"], "alphas", (1.0, math.inf), "--alpha 1.0 inf"),
    ("workshop_table2", ["--noise-level", "0.5", "2"], "noise_std", (0.5, 2.0), "--noise-level 0.5 2.0"),
]


@pytest.mark.parametrize("name, argv, field, value, option", RENAMED, ids=[r[0] + r[1][0] for r in RENAMED])
def test_a_hyperparameters_flag_sets_the_preset_field_that_holds_it_and_the_label_names_the_flag(
        name, argv, field, value, option):
    module = importlib.import_module(f"sweeps.{name}")
    preset = common.chosen_preset(module.build_parser().parse_args(["--preset", "paper", *argv]), module.PRESETS,
                                  module.OVERRIDES)
    assert getattr(preset, field) == value and dict(preset.overrides) == {field: value}
    assert preset.label == f"paper [{option}]"
    assert preset.description.endswith(f"OVERRIDDEN on the command line: {option}")
    assert preset.settings()[field] == value  # results record the field's name


@pytest.mark.parametrize("name, option, word", [
    ("figure4", "--labeled-fractions", "0"), ("figure4", "--labeled-fractions", "1.5"),
    ("figure4", "--labeled-fraction", "nan"), ("softplus_alpha", "--alpha", "0"), ("softplus_alpha", "--alpha", "-1"),
    ("workshop_table2", "--noise-level", "-0.1"), ("workshop_table2", "--noise-level", "inf"),
])
def test_a_value_outside_the_rule_is_refused_by_each_module_with_one_line_naming_the_flag(name, option, word, capsys):
    module = importlib.import_module(f"sweeps.{name}")
    with pytest.raises(SystemExit):
        module.build_parser().parse_args([option, "0.5", word])
    (line,) = capsys.readouterr().err.splitlines()[-1:]
    rule = next(rule for rule in RULES.values() if option in (rule.option, *rule.aliases))
    assert line == (f"python -m sweeps.{name}: error: argument {'/'.join([rule.option, *rule.aliases])}: "
                    f"expected {rule.expected(bounded=not rule.high_lifted_by)}, got {word!r}")


def test_every_field_a_preset_holds_under_another_name_has_its_flag_and_reaches_the_preset():
    renamed = 0
    for module in sweep_modules():
        presets = getattr(module, "PRESETS", {})
        for field, name in (type(next(iter(presets.values()))).hparam_of_field if presets else {}).items():
            options = {option for action in module.build_parser()._actions for option in action.option_strings}
            assert RULES[name].option in options and field in module.OVERRIDES, (module.__name__, field)
            renamed += 1
    assert renamed == 3


def test_a_preset_field_named_otherwise_is_checked_by_its_hyperparameters_rule():
    from sweeps import figure4, softplus_alpha, workshop_table2

    with pytest.raises(ValueError, match=r"fractions must be a finite number in \(0, 1\] or a non-empty grid of "
                                         r"them, got \(0.5, 1.5\)$"):
        dataclasses.replace(figure4.PRESETS["quick"], fractions=(0.5, 1.5))
    with pytest.raises(ValueError, match=r"alphas must be > 0 \(inf: the rectifier\) or a non-empty grid"):
        dataclasses.replace(softplus_alpha.PRESETS["quick"], alphas=(1.0, 0.0))
    gaussian = dataclasses.replace(workshop_table2.PRESETS["quick"], noise_std=(0.5, 3.0))  # a standard deviation
    assert gaussian.noise_std == (0.5, 3.0)
    with pytest.raises(ValueError, match="noise_std must be a noise standard deviation >= 0"):
        dataclasses.replace(workshop_table2.PRESETS["quick"], noise_std=-0.5)


def recorded_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "results", "**", "results.json"), recursive=True)):
        argv = results_io.read_json(path).get("argv") or []
        if argv[:1] == ["-m"] and argv[1].startswith("sweeps."):
            found.append((os.path.dirname(path), argv))
    return found


def test_every_recorded_command_parses_and_a_recorded_train_sweep_is_the_one_it_would_run_again():
    from sweeps import train

    commands = recorded_commands()
    assert len(commands) > 20  # the results folder is read
    resumable = {"config": dataclasses.asdict(TrainConfig()), "base_hparams": Hparams()._asdict()}
    for folder, argv in commands:
        args = importlib.import_module(argv[1]).build_parser().parse_args(argv[2:])
        if argv[1] != "sweeps.train" or not os.path.exists(os.path.join(folder, "plan.json")):
            continue
        preset = common.chosen_preset(args, train.PRESETS, train.SETTINGS)
        points, base = train.grid(preset)
        (dataset,) = preset.datasets
        config = TrainConfig(**train.structure(preset, dataset), activation=preset.activations[0])
        asked = json.loads(json.dumps({"config": config.to_dict(), "grid": points, "base_hparams": base._asdict()}))
        plan = store.with_new_defaults(results_io.read_json(os.path.join(folder, "plan.json")), resumable)
        for field in ("config", "grid", "base_hparams"):
            assert plan[field] == asked[field], (folder, field)


def test_the_docs_table_is_the_table():
    with open(os.path.join(ROOT, "docs", "hyperparameters.md"), encoding="utf-8") as handle:
        assert handle.read() == hparam_rules.markdown_document(), \
            "docs/hyperparameters.md is stale: python -m deep_sparse.hparam_rules > docs/hyperparameters.md"
