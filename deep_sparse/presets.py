"""Experiments' presets as data: typed settings, each checked when a preset is made, and their labels.

A preset is a frozen dataclass: one place lists what it holds (architecture, data sizes, grids, epochs,
patience, selection settings). :class:`Preset` holds what every experiment has, :class:`NetworkPreset`
adds the architecture, :class:`DatasetPreset` the data sets it runs on and their sizes (:class:`Subset`,
:class:`Generated`), and each experiment subclasses one of them with its own fields
(``sweeps.table1.Table1Preset``, ...). Every field is checked when a preset is made, by one rule per
field name (:data:`RULES`, in :mod:`deep_sparse.preset_rules`; an experiment's own field gives its rule
with :func:`setting`), so a bad value is one error line naming the field and the value::

    PRESETS = by_name(Table1Preset(name="quick", ...), Table1Preset(name="paper", ...))
    preset = PRESETS["paper"].with_overrides(epochs=30)  # a new preset: label "paper [--epochs 30]",
                                                         # its description says it was overridden

The papers' procedure that the experiments' presets share (:data:`PAPER_LR_GRID`,
:data:`PAPER_BATCH_SIZE`) and the name results record for a preset (:func:`preset_label`,
:func:`is_paper_scale`) live here too. What an experiment does with a preset (open its data sets,
sweep, write its cells) is in :mod:`deep_sparse.experiment`.
"""
from __future__ import annotations

import dataclasses
import types
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Optional, Sequence

import numpy as np

# The training modules (and JAX) are reached through the package, which imports them on first use: the
# command lines build their parsers from the presets here, and --help must not wait seconds for JAX.
import deep_sparse as ds
from deep_sparse import data as data_lib
from deep_sparse import hparam_rules, names
from deep_sparse.preset_rules import (RULES, as_grid, from_table, grid_of, is_int, names_among, optional_positive_int,
                                      positive_int, setting)

if TYPE_CHECKING:
    from deep_sparse.config import TrainConfig

__all__ = ["PAPER_LR_GRID", "PAPER_BATCH_SIZE", "CELL_SELECTORS", "RULES", "Subset", "Generated", "Preset",
           "NetworkPreset", "DatasetPreset", "setting", "by_name", "preset_label", "is_paper_scale",
           "positive_int", "optional_positive_int", "grid_of", "names_among", "seed_values", "as_grid",
           "trained_values", "L1_ACTIVATIONS", "Stopping"]

# The papers' procedure (AISTATS section 4.1), shared by the experiments' presets.
PAPER_LR_GRID = (0.1, 0.01, 0.001, 0.0001)  # fine-tuning and pre-training learning rates explored
# the networks the L1 penalty applies to: the papers motivate it by the rectifier's unbounded activations
# ("we use the L1 penalty on the activation values"), and section 4.1 adds it in the paragraph on the
# rectifier variant ("Additionally, an L1 penalty on the activations with a coefficient of 0.001 was
# added"); tanh and softplus networks train without it
L1_ACTIVATIONS = ("half_negated_rectifier", "rectifier")
PAPER_BATCH_SIZE = 10  # mini-batches of SGD, pre-training and fine-tuning alike

# Settings that choose which cells run, not how they are computed: overriding them keeps the label.
CELL_SELECTORS = ("datasets", "activations")
OVERRIDDEN = " — OVERRIDDEN on the command line: "


# ------------------------------------------------------------------------------ data set sizes
@dataclasses.dataclass(frozen=True)
class Subset:
    """The first n examples of each split of a stored data set (None: all of them)."""

    train_size: Optional[int] = None
    valid_size: Optional[int] = None
    test_size: Optional[int] = None

    def config_fields(self) -> dict:
        """The ``TrainConfig`` fields that cut the splits (``prepare_data`` applies them)."""
        return dataclasses.asdict(self)

    def loader_options(self) -> dict:
        return {}


@dataclasses.dataclass(frozen=True)
class Generated:
    """The generator's options of a generated data set (Shapeset): examples per split and seed."""

    n_train: int
    n_valid: int
    n_test: int
    seed: int = 0

    def config_fields(self) -> dict:
        return {}

    def loader_options(self) -> dict:
        """Keyword arguments of ``deep_sparse.data.load_splits``."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Stopping:
    """When fine-tuning stops on one data set: at most ``epochs`` epochs, early stopping after
    ``patience`` epochs without a better validation error (None: never)."""

    epochs: int
    patience: Optional[int]


# Shapeset's networks learn far longer than MNIST's: the rectifier at lr 0.01 without L1
# (results/shapeset-rectifier-no-l1-lr-0.01-150-epochs) still set a new best validation error at epoch
# 149 of 150 (46.75% best within 50 epochs, 37.98% at 149), with at most 14 epochs between two new bests;
# so 50 epochs cut it, and patience 10 alone would have stopped it at epoch 91 (42.44%). Patience 20
# covers the longest flat stretch of that curve with room, and a cap of 500 epochs lies far beyond where
# it was still falling, so that early stopping, not the cap, ends the runs.
SHAPESET_STOPPING = Stopping(epochs=500, patience=20)


def seed_values(seeds: int | Sequence[int]) -> Sequence[int]:
    """The seeds of a preset's ``seeds``: a count n is seeds 0 to n - 1, a list is its seeds."""
    return range(seeds) if isinstance(seeds, int) else seeds


def trained_values(minibatch_cost: str, **grids) -> dict[str, tuple[float, ...]]:
    """A preset's ``lr``, ``pretrain_lr`` and ``l1`` values (each one value or a grid) as its networks
    train with them: as they are under a "mean" mini-batch cost; under a "summed" one (the data term
    summed over the paper's mini-batch of 10, the L1 term averaged) their equivalents for this library's
    mean cost (:func:`deep_sparse.config.from_summed_cost`: learning rates x 10, L1 / 10), rounded to 10
    significant digits so that a grid point is the number one types on a command line."""
    if minibatch_cost == "mean":
        return {name: tuple(as_grid(value)) for name, value in grids.items()}

    def ours(name: str, value: float) -> float:
        mapped = ds.config.from_summed_cost(ds.config.Hparams(**{name: value}), PAPER_BATCH_SIZE)
        return float(f"{float(getattr(mapped, name)):.10g}")

    return {name: tuple(ours(name, float(value)) for value in as_grid(value)) for name, value in grids.items()}


def _frozen(value):
    """Lists (and ranges, tuples, arrays) as tuples, NumPy scalars as Python numbers, mappings read-only."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple, range, np.ndarray)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):
        return types.MappingProxyType({k: _frozen(v) for k, v in value.items()})
    return value


def _plain(value):
    """A setting as results record it (JSON-ready): mappings and data set sizes as dicts."""
    if isinstance(value, (Subset, Generated, Stopping)):
        return dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _shown(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, (list, tuple, range)) else str(value)


def _options(overrides: Mapping[str, Any], flags: Mapping[str, str]) -> str:
    """``"--epochs 30; --lr 0.1 0.01"``: the command-line options that gave ``overrides`` (``flags``: the
    spelling of a field's flag where it is not the field's name)."""
    return "; ".join(f"{flags.get(k) or '--' + k.replace('_', '-')} {_shown(v)}" for k, v in overrides.items())


def preset_label(preset_name: str, overrides: Mapping[str, Any], flags: Optional[Mapping[str, str]] = None) -> str:
    """The preset's name as results record it: ``"paper"``, or ``"paper [--epochs 30; --lr 0.1 0.01]"``
    when command-line options changed it, so that no overridden run passes for the preset itself
    (``flags``: the spelling of a field's flag where it is not ``--`` and the field's name)."""
    return f"{preset_name} [{_options(overrides, flags or {})}]" if overrides else preset_name


def is_paper_scale(label: Optional[str]) -> bool:
    """The paper preset, with or without command-line overrides (which its label then lists)."""
    return label == "paper" or str(label).startswith("paper [")


# ------------------------------------------------------------------------------ presets
@dataclasses.dataclass(frozen=True, kw_only=True)
class Preset:
    """What every experiment's preset holds; experiments subclass it (or :class:`NetworkPreset`,
    :class:`DatasetPreset`) with their own fields.

    name: "quick", "paper", "tiny", ...; description: what the preset is, printed and written in
    summary.md; epochs: the most fine-tuning epochs; patience: early stopping after this many epochs
    without a better validation error (None: never); overrides: the settings changed on the command
    line, ``(field, value)`` in the order given, that the label and the description list (set by
    :meth:`with_overrides`, never by hand).

    ``hparam_of_field``: an experiment's fields that hold a hyperparameter under a name of their own,
    ``{field: rule name}`` (:mod:`deep_sparse.hparam_rules`): results record the field's name, the rule's
    flag sets it (``sweeps.common.given_overrides``), labels spell that flag, and the field is checked by
    the rule where :data:`RULES` has no rule of its own for it.
    """

    known_activations: ClassVar[tuple[str, ...]] = names.ACTIVATIONS
    hparam_of_field: ClassVar[Mapping[str, str]] = types.MappingProxyType({})

    name: str
    description: str
    epochs: int
    patience: Optional[int]
    overrides: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name, _frozen(getattr(self, field.name)))
        for field in dataclasses.fields(self):
            self._check(field, getattr(self, field.name))

    def _check(self, field: dataclasses.Field, value) -> None:
        if field.name == "overrides":
            return
        if field.name in ("activations", "l1_activations"):
            known = self.known_activations if field.name == "activations" else names.ACTIVATIONS
            self._require(field.name, value, isinstance(value, tuple) and bool(value) and set(value) <= set(known),
                          f"a non-empty list of activations among {', '.join(known)}")
            return
        rule = field.metadata.get("rule") or RULES.get(field.name)
        if rule is None and field.name in self.hparam_of_field:
            rule = from_table(hparam_rules.RULES[self.hparam_of_field[field.name]])
        if rule is None:
            raise TypeError(f"{type(self).__name__}.{field.name} has no validation rule: give it one with "
                            "deep_sparse.presets.setting(rule, what)")
        self._require(field.name, value, rule[0](value), rule[1])

    def _require(self, field: str, value, holds: bool, what: str) -> None:
        if not holds:
            shown = dict(value) if isinstance(value, Mapping) else value
            raise ValueError(f"preset {self.label!r} ({type(self).__name__}): {field} must be {what}, got {shown!r}")

    @property
    def label(self) -> str:
        """The name results record: ``"paper"``, or ``"paper [--epochs 30]"`` when overridden."""
        return preset_label(self.name, dict(self.overrides), self.flags())

    @classmethod
    def flags(cls) -> dict[str, str]:
        """``{field: flag}`` of the fields in :attr:`hparam_of_field`: the flag that sets each."""
        return {field: hparam_rules.RULES[rule].option for field, rule in cls.hparam_of_field.items()}

    def with_overrides(self, **given) -> "Preset":
        """A new preset with the ``given`` settings (command-line options) in place of the preset's.

        The settings that change how cells are computed are listed, in the order given, in its label
        and at the end of its description (``" — OVERRIDDEN on the command line: --lr 0.1"``); the cell
        selectors (:data:`CELL_SELECTORS`) only choose cells and leave both unchanged.
        """
        settable = [f.name for f in dataclasses.fields(self) if f.name not in ("name", "description", "overrides")]
        for key in given:
            if key not in settable:
                raise ValueError(f"preset {self.label!r} ({type(self).__name__}) has no setting {key!r} to "
                                 f"override; its settings: {', '.join(settable)}")
        if not given:
            return self
        listed = {**dict(self.overrides), **{k: _frozen(v) for k, v in given.items() if k not in CELL_SELECTORS}}
        description = self.description.partition(OVERRIDDEN)[0]
        if listed:
            description += OVERRIDDEN + _options(listed, self.flags())
        return dataclasses.replace(self, **given, description=description, overrides=tuple(listed.items()))

    def settings(self) -> dict:
        """The preset's values as results record them (``preset_settings``): every field but the name
        and the overrides (the label holds them), data set sizes as dicts."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.name not in ("name", "overrides")}


@dataclasses.dataclass(frozen=True, kw_only=True)
class NetworkPreset(Preset):
    """A preset whose networks share one architecture: hidden_sizes, the widths of the hidden layers
    (an experiment with a NORB architecture of its own adds ``norb_hidden_sizes``)."""

    hidden_sizes: tuple[int, ...]

    def hidden_sizes_for(self, dataset: str) -> tuple[int, ...]:
        """The hidden widths on ``dataset``: a preset's ``norb_hidden_sizes`` on NORB where it has them
        (the paper's 4000-2000), else ``hidden_sizes``."""
        norb = getattr(self, "norb_hidden_sizes", None)
        return norb if dataset == "norb" and norb is not None else self.hidden_sizes

    def train_config(self, dataset: str, **structure) -> TrainConfig:
        """The ``TrainConfig`` of this preset on ``dataset``: its hidden widths there, epochs, patience
        and the paper's mini-batches of 10; ``structure`` gives the rest (activation, corruption, ...)."""
        stopping = self.stopping_for(dataset)
        return ds.config.TrainConfig(dataset=dataset, hidden_sizes=self.hidden_sizes_for(dataset),
                                     batch_size=PAPER_BATCH_SIZE, epochs=stopping.epochs,
                                     patience=stopping.patience, **structure)

    def stopping_for(self, dataset: str) -> Stopping:
        """When fine-tuning stops on ``dataset``: the preset's epochs and patience."""
        return Stopping(self.epochs, self.patience)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatasetPreset(NetworkPreset):
    """A preset that runs its procedure on each of several data sets in turn.

    datasets: the data sets run, in order (among the experiment's ``known_datasets``); sizes: the
    subset of each data set (:class:`Subset`, :class:`Generated`; a data set not listed runs whole).
    """

    known_datasets: ClassVar[tuple[str, ...]] = data_lib.NAMES

    datasets: tuple[str, ...]
    sizes: Mapping[str, Subset | Generated] = dataclasses.field(default_factory=dict)
    # the data sets whose networks need another epoch cap or patience than ``epochs`` and ``patience``
    stopping: Mapping[str, Stopping] = dataclasses.field(default_factory=dict)

    def _check(self, field: dataclasses.Field, value) -> None:
        if field.name == "datasets":
            self._require("datasets", value, isinstance(value, tuple) and bool(value)
                          and set(value) <= set(self.known_datasets),
                          f"a non-empty list of data sets among {', '.join(self.known_datasets)}")
        elif field.name == "sizes":
            self._require("sizes", value, isinstance(value, Mapping) and all(name in data_lib.NAMES for name in value),
                          f"a mapping keyed by data sets among {', '.join(data_lib.NAMES)}")
            for name, size in value.items():
                self._require(f"sizes[{name!r}]", size, isinstance(size, (Subset, Generated)) and _valid_sizes(size),
                              "a Subset (positive sizes or None) or Generated (positive sizes, seed >= 0)")
        elif field.name == "stopping":
            self._require("stopping", value, isinstance(value, Mapping) and set(value) <= set(self.known_datasets),
                          f"a mapping keyed by data sets among {', '.join(self.known_datasets)}")
            for name, stopping in value.items():
                self._require(f"stopping[{name!r}]", stopping, isinstance(stopping, Stopping)
                              and positive_int(stopping.epochs) and optional_positive_int(stopping.patience),
                              "a Stopping (epochs >= 1, patience >= 1 or None)")
        else:
            super()._check(field, value)

    def sizes_of(self, dataset: str) -> Subset | Generated:
        return self.sizes.get(dataset, Subset())

    def stopping_for(self, dataset: str) -> Stopping:
        """When fine-tuning stops on ``dataset``: its entry of ``stopping`` where it has one, else the
        preset's epochs and patience; an --epochs or --patience given on the command line holds for
        every data set."""
        own = self.stopping.get(dataset, Stopping(self.epochs, self.patience))
        given = dict(self.overrides)
        return Stopping(given.get("epochs", own.epochs), given.get("patience", own.patience))


def _valid_sizes(size: Subset | Generated) -> bool:
    if isinstance(size, Subset):
        return all(optional_positive_int(v) for v in dataclasses.astuple(size))
    return all(positive_int(v) for v in (size.n_train, size.n_valid, size.n_test)) and is_int(size.seed) \
        and size.seed >= 0


def by_name(*presets: Preset) -> dict[str, Preset]:
    """``{name: preset}`` of one experiment's presets (one class, distinct names), in the order given."""
    named: dict[str, Preset] = {}
    for preset in presets:
        if type(preset) is not type(presets[0]):
            raise TypeError(f"presets of one experiment share a class: {preset.name!r} is a {type(preset).__name__}, "
                            f"{presets[0].name!r} a {type(presets[0]).__name__}")
        if preset.name in named:
            raise ValueError(f"two presets are named {preset.name!r}")
        named[preset.name] = preset
    return named
