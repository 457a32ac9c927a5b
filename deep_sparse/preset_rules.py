"""The rules a preset's fields are checked by: one per field name (:data:`RULES`), the hyperparameters'
taken from their table (:mod:`deep_sparse.hparam_rules`), and the helpers with which an experiment gives
its own fields a rule (:func:`setting`, :func:`positive_int`, :func:`grid_of`, ...). Each rule is a
predicate with the words of what it asks for, for the one-line error naming the field and the value.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

from deep_sparse import hparam_rules, names

__all__ = ["RULES", "as_grid", "from_table", "is_int", "setting", "positive_int", "optional_positive_int", "grid_of",
           "names_among"]


def is_int(value) -> bool:
    """An integer (a bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def positive_int(value) -> bool:
    """An integer >= 1 (a bool is not one)."""
    return is_int(value) and value >= 1


def optional_positive_int(value) -> bool:
    """An integer >= 1, or None."""
    return value is None or positive_int(value)


def _text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _widths(value) -> bool:
    return isinstance(value, tuple) and bool(value) and all(positive_int(v) for v in value)


def _seeds(value) -> bool:
    seed = hparam_rules.RULES["seed"]
    return positive_int(value) or (isinstance(value, tuple) and bool(value) and all(map(seed.accepts, value)))


def from_table(rule: hparam_rules.Rule) -> tuple[Callable[[Any], bool], str]:
    """A preset field's rule from the hyperparameter's (:mod:`deep_sparse.hparam_rules`): one valid value,
    or, for a hyperparameter a flag takes a list of, a non-empty grid of them too."""
    if not rule.listed:
        return rule.accepts, rule.expected()
    return (lambda value: bool(as_grid(value)) and all(map(rule.accepts, as_grid(value))),
            f"{rule.expected()} or a non-empty grid of them")


def _noise_levels(bounded: bool) -> Callable[[Any], bool]:
    """Noise levels, one or a non-empty grid: probabilities (``bounded``) or standard deviations."""
    return lambda value: bool(as_grid(value)) and all(hparam_rules.RULES["noise_level"].accepts(v, bounded)
                                                   for v in as_grid(value))


# field name -> (rule, what the rule asks for); one rule per name for every experiment's presets: the
# hyperparameters' from their table (a field is named like its flag, or maps to its hyperparameter with
# Preset.hparam_of_field), then the experiments' own
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    **{rule.dest: from_table(rule) for rule in hparam_rules.RULES.values() if rule.cli},
    "name": (_text, "a non-empty name"),
    "description": (_text, "a non-empty description"),
    "hidden_sizes": (_widths, "a non-empty sequence of positive layer widths"),
    "norb_hidden_sizes": (_widths, "a non-empty sequence of positive layer widths"),
    "seeds": (_seeds, "a positive number of seeds (0 to n - 1), or a non-empty list of seeds >= 0"),
    "best": (positive_int, "a positive integer"),
    "noise_level": (_noise_levels(bounded=True), "a masking probability in [0, 1]"),
    "noise_std": (_noise_levels(bounded=False), "a noise standard deviation >= 0 or a non-empty grid of them"),
    "minibatch_cost": (lambda value: value in names.MINIBATCH_COSTS, f"one of {', '.join(names.MINIBATCH_COSTS)}"),
}


def as_grid(value) -> tuple:
    """A preset's hyperparameter as a grid axis: a grid as it is, one value as a grid of one."""
    return value if isinstance(value, tuple) else (value,)


def setting(rule: Callable[[Any], bool], what: str, **field_options) -> Any:
    """A preset field of an experiment's own with its rule (``what``: what the rule asks for, for the
    error message); fields whose name has a rule in :data:`RULES` need none."""
    return dataclasses.field(metadata={"rule": (rule, what)}, **field_options)


# rules for an experiment's own settings, to give with setting(rule, what)
def grid_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """The rule of a grid: a non-empty sequence (a tuple, once frozen) of numbers that each pass ``check``."""
    return lambda value: isinstance(value, tuple) and bool(value) and all(_is_number(v) and check(v) for v in value)


def names_among(known: Sequence[str]) -> Callable[[Any], bool]:
    """The rule of a choice of names: a non-empty sequence (a tuple, once frozen) of names among ``known``."""
    return lambda value: isinstance(value, tuple) and bool(value) and all(v in tuple(known) for v in value)
