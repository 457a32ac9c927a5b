"""The rules of every hyperparameter, one row each: name, type, valid range or choices, what it applies
to, default, help text and command-line flag. Imports no JAX (``--help`` reads it).

Everything else is derived from :data:`RULES`: the value checks of :class:`deep_sparse.config.Hparams`
and :class:`deep_sparse.config.TrainConfig`, the planner's grid checks, the flags of every command line
(``sweeps.common.add_rule_arguments``) and the table in ``docs/hyperparameters.md``
(:func:`markdown_table`). This module owns no computation and no file.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
from typing import Any, Optional

from deep_sparse import names

FLOAT, INT, CHOICE, NAME, FLAG, WIDTHS = "float", "int", "choice", "name", "flag", "widths"
MODEL, TRAINING, PRETRAINING = "model and data", "training (section 4.1)", "pre-training (section 3.2)"


@dataclasses.dataclass(frozen=True)
class Rule:
    """One hyperparameter.

    name: the field of ``Hparams`` (``traced``) or ``TrainConfig``, or ``seed``, the grid's seed axis.
    kind: float, int, choice (one of ``choices``), name (free text), flag (True or False), widths (layer
        widths, ``1000-1000-1000`` on a command line).
    low, high: the bounds of a number (None: unbounded), inclusive unless ``low_open`` / ``high_open``;
        inf is refused unless ``inf_means`` says what it stands for (alpha's inf is the rectifier).
        ``optional``: None is a value too.
    high_lifted_by: corruptions under which ``high`` does not hold (Gaussian noise's level is a
        standard deviation, the others' a probability: ``bounded_name``).
    listed: the flag takes a list, one network (or run) per value; sweeping makes sense for it.
    flag: the command-line spelling; ``aliases``: other spellings it accepts (a list flag's singular,
        which recorded commands in ``results/`` use).
    cli_none: the command-line word that means None (patience 0: never stop early).
    """

    name: str
    kind: str
    default: Any
    help: str
    section: str = TRAINING
    applies_to: str = "every network"
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    high_open: bool = False
    inf_means: str = ""
    optional: bool = False
    choices: tuple = ()
    high_lifted_by: tuple = ()
    bounded_name: str = "a finite number"
    traced: bool = False
    listed: bool = False
    flag: str = ""
    aliases: tuple = ()
    cli: bool = True
    cli_none: Optional[str] = None

    @property
    def option(self) -> str:
        """The flag as typed: ``--pretrain-lr``."""
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments."""
        return self.option[2:].replace("-", "_")

    def expected(self, bounded: bool = True) -> str:
        """What a valid value is, in words (``bounded``: with ``high``)."""
        if self.kind in (CHOICE, FLAG, NAME, WIDTHS):
            what = {CHOICE: f"one of {', '.join(map(str, self.choices))}", FLAG: "True or False",
                    NAME: "a non-empty name", WIDTHS: "positive integer layer widths"}[self.kind]
        elif self.kind == INT:
            what = "a positive integer" if self.low == 1 else f"an integer >= {self.low:g}"
        elif self.inf_means:
            what = f"{self._bounds(bounded).strip()} (inf: {self.inf_means})"
        else:
            name = self.bounded_name if bounded and self.high is not None else "a finite number"
            what = name + self._bounds(bounded)
        return what + (", or None" if self.optional else "")

    def _bounds(self, bounded: bool) -> str:
        high = self.high if bounded else None
        if self.low is not None and high is not None:
            return (f" in {'(' if self.low_open else '['}{self.low:g}, {high:g}{')' if self.high_open else ']'}")
        if self.low is not None:
            return f" {'>' if self.low_open else '>='} {self.low:g}"
        return f" {'<' if self.high_open else '<='} {high:g}" if high is not None else ""

    def accepts(self, value, bounded: bool = True) -> bool:
        """Whether ``value`` is valid (``bounded``: within ``high``, see ``high_lifted_by``)."""
        if value is None:
            return self.optional
        if self.kind == CHOICE:
            return value in self.choices
        if self.kind == NAME:
            return isinstance(value, str) and bool(value.strip())
        if self.kind == FLAG:
            return isinstance(value, bool)
        if self.kind == WIDTHS:
            return isinstance(value, tuple) and all(_is_int(v) and v >= 1 for v in value)
        if self.kind == INT and not _is_int(value):
            return False
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or math.isnan(value):
            return False
        return self._within(float(value), bounded)

    def _within(self, value: float, bounded: bool) -> bool:
        if not self.inf_means and not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        high = self.high if bounded else None
        return high is None or (value < high or (not self.high_open and value == high))

    def problem(self, value, corruptions=()) -> Optional[str]:
        """``"lr must be a finite number > 0, got -1.0"``, or None for a valid value; ``corruptions``:
        the network's, which may lift ``high`` (``high_lifted_by``)."""
        bounding = sorted(set(corruptions) - set(self.high_lifted_by) - {None})
        bounded = not self.high_lifted_by or bool(bounding)
        if self.accepts(value, bounded):
            return None
        where = f" for {' and '.join(bounding)} noise" if self.high_lifted_by and bounding else ""
        return f"{self.name} must be {self.expected(bounded)}{where}, got {value!r}"

    def parse(self, text: str):
        """A command-line word as a value (an argparse ``type``): ArgumentTypeError, which argparse
        prints as one line naming the flag, for a word that is not a valid value. A rule's upper bound
        that a corruption lifts is checked once the corruption is known (the planner)."""
        if self.cli_none is not None and text == self.cli_none:
            return None
        try:
            value = {INT: int, FLOAT: float, WIDTHS: parse_widths}.get(self.kind, str)(text)
        except ValueError:
            value = text
        if not self.accepts(value, bounded=not self.high_lifted_by):
            raise argparse.ArgumentTypeError(f"expected {self.expected(bounded=not self.high_lifted_by)}, "
                                             f"got {text!r}")
        return value

    def range_text(self) -> str:
        """The valid values as the docs' table shows them."""
        text = self.expected()
        if self.high_lifted_by:
            text += f" ({' and '.join(self.high_lifted_by)} noise: {self.expected(bounded=False)})"
        return text


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def parse_widths(text: str) -> tuple[int, ...]:
    """``1000-1000-1000`` (or ``1000,1000,1000``) as a tuple of layer widths (ValueError if not)."""
    values = tuple(int(part) for part in text.replace(",", "-").split("-") if part)
    if not values:
        raise ValueError(f"no layer widths in {text!r}")
    return values


# the hidden layers section 3.1's rescaling reaches (every network of the papers has at most three);
# deeper layers keep alpha 1, the output layer's alpha makes the product 1
RESCALED_HIDDEN_LAYERS = 3
INIT_ALPHA_NAMES = tuple(f"init_alpha_{layer}" for layer in range(1, RESCALED_HIDDEN_LAYERS + 1))
ALPHA_PRODUCT_TOLERANCE = 1e-6  # float rounding of factors such as 1/3 and 3


def alpha_vector_problem(alphas, n_layers: Optional[int] = None) -> Optional[str]:
    """What is wrong with ``alphas`` as section 3.1's per-layer factors of a network's initial parameters
    (``"must have a product of 1 ..., got (2.0, 1.0) (product 2)"``), or None: each a finite number > 0,
    their product 1 within :data:`ALPHA_PRODUCT_TOLERANCE` (the same function at step 0), one per layer
    (output layer included) when ``n_layers`` is given, and none beyond the third hidden layer but 1."""
    values = tuple(alphas) if isinstance(alphas, (list, tuple)) else alphas
    if not isinstance(values, tuple) or not values or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in values):
        return f"must be a non-empty list of finite numbers > 0, got {values!r}"
    if n_layers is not None and len(values) != n_layers:
        return f"must have one alpha per layer ({n_layers}, the output layer included), got {values!r}"
    product = math.prod(values)
    if abs(product - 1.0) > ALPHA_PRODUCT_TOLERANCE:
        return f"must have a product of 1 (the same function at step 0), got {values!r} (product {product:g})"
    if any(v != 1 for v in values[RESCALED_HIDDEN_LAYERS:-1]):
        return f"may differ from 1 only on the first {RESCALED_HIDDEN_LAYERS} hidden layers, got {values!r}"
    return None


def init_alpha_values(alphas) -> dict[str, float]:
    """``{init_alpha_1: ..., init_alpha_3: ...}``: the hyperparameters that start a network from its
    initial parameters rescaled by the alpha vector ``alphas`` (one per layer, output layer included,
    product 1; its output alpha is implied); ValueError naming the vector if it is not one
    (:func:`alpha_vector_problem`)."""
    problem = alpha_vector_problem(alphas)
    if problem:
        raise ValueError(f"alphas {problem}")
    hidden = [float(v) for v in alphas[:-1]]
    return {name: (hidden[i] if i < len(hidden) else 1.0) for i, name in enumerate(INIT_ALPHA_NAMES)}


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {rule.name: rule for rule in rules}


PRETRAINED = "networks with pre-training (pretrain_epochs > 0)"
RULES: dict[str, Rule] = _rules(
    # traced: fields of Hparams, vmapped within one compiled program
    Rule("lr", FLOAT, 0.01, "fine-tuning SGD learning rate; section 4.1 chooses it on the validation error from "
         "0.1, 0.01, 0.001, 0.0001", low=0, low_open=True, traced=True, listed=True),
    Rule("l1", FLOAT, 0.0, "coefficient of the L1 penalty on the hidden activations (section 4.1: 0.001; "
         "Figure 3 sweeps 0 to 0.01)", low=0, traced=True, listed=True),
    *(Rule(name, FLOAT, 1.0, f"section 3.1's alpha_{layer}, applied to the initial parameters: W_{layer} / "
           f"alpha_{layer}, b_i / (alpha_1 ... alpha_i); the output layer's alpha is 1 / (product of the hidden "
           "layers'), so that a rectifier network computes the same function at step 0 (deep_sparse.reparam)",
           section=MODEL, applies_to=f"networks with at least {layer} hidden layer(s)", low=0, low_open=True,
           traced=True, listed=True, cli=False)
      for layer, name in enumerate(INIT_ALPHA_NAMES, start=1)),
    Rule("pretrain_lr", FLOAT, 0.01, "SGD learning rate of the denoising auto-encoders", section=PRETRAINING,
         applies_to=PRETRAINED, low=0, low_open=True, traced=True, listed=True),
    Rule("noise_level", FLOAT, 0.25, "corruption level of the auto-encoders' inputs: the masking probability "
         "(0.25 for images, section 4.1), the salt-and-pepper probability, or the Gaussian standard deviation",
         section=PRETRAINING, applies_to=PRETRAINED, low=0, high=1, high_lifted_by=("gaussian",),
         bounded_name="a probability", traced=True, listed=True),
    Rule("alpha", FLOAT, 1.0, "alpha of the rescaled softplus log(1 + exp(alpha x)) / alpha",
         applies_to="activation scaled_softplus", section=MODEL, low=0, low_open=True, inf_means="the rectifier", traced=True,
         listed=True),
    # the grid's seed axis
    Rule("seed", INT, 0, "random seeds: every setting is trained once per seed", low=0, listed=True,
         flag="--seeds", aliases=("--seed",)),
    # structural: fields of TrainConfig, each value its own compiled program
    Rule("dataset", NAME, "mnist", "data sets, each swept in turn", section=MODEL, listed=True, flag="--datasets",
         aliases=("--dataset",)),
    Rule("activation", CHOICE, "rectifier", "hidden activations (deep_sparse.activations)", section=MODEL,
         choices=names.ACTIVATIONS, listed=True, flag="--activations", aliases=("--activation",)),
    Rule("hidden_sizes", WIDTHS, (1000, 1000, 1000), "hidden layer widths, e.g. 1000-1000-1000 (the paper's)",
         section=MODEL),
    Rule("batch_size", INT, 10, "SGD mini-batch size, 10 in the paper (pre-training and fine-tuning alike)", low=1),
    Rule("epochs", INT, 30, "maximum supervised epochs", low=1),
    Rule("patience", INT, 5, "stop after this many epochs without a better validation error (None, on a "
         "command line 0: never stop early)", low=1, optional=True, cli_none="0"),
    Rule("pretrain_epochs", INT, 0, "greedy layer-wise DAE pre-training epochs per hidden layer (0: none)",
         section=PRETRAINING, low=0),
    Rule("pretrain_strategy", NAME, None, "reconstruction strategy: one of section 3.2's, or softplus_squared_abs "
         "(deep_sparse.dae; None: the paper's pairing for the activation)", section=PRETRAINING,
         applies_to=PRETRAINED, optional=True),
    Rule("tied_decoder", FLAG, True, "each auto-encoder's decoder is its encoder transposed (the workshop paper's); "
         "the flag gives each a decoder of its own, (W_enc, b_enc, W_dec, b_dec) as section 3.2 writes them",
         section=PRETRAINING, applies_to=PRETRAINED, flag="--untied-decoder"),
    Rule("corruption", CHOICE, "mask", "corruption of every auto-encoder's input (mask: the paper's)",
         section=PRETRAINING, applies_to=PRETRAINED, choices=names.CORRUPTIONS),
    Rule("first_layer_corruption", CHOICE, None, "the first layer's corruption when it differs from the others' "
         "(salt_and_pepper on the sentiment experiment's binary bag-of-words)", section=PRETRAINING,
         applies_to=PRETRAINED, choices=names.CORRUPTIONS, optional=True),
    Rule("pretrain_lr_selection", CHOICE, "stack", "how the pre-training lr is chosen among a sweep's "
         "--pretrain-lr values: stack (one lr for the whole stack, the lowest validation reconstruction error summed "
         "over its layers) or per_layer (after each layer's epochs, that layer's auto-encoder of lowest validation "
         "reconstruction error is kept and every lr trains the next layer on its codes; the one stack so chosen is "
         "fine-tuned once per --lr)", section=PRETRAINING, applies_to=PRETRAINED,
         choices=names.PRETRAIN_LR_SELECTIONS),
    Rule("labeled_fraction", FLOAT, 1.0, "fractions of the training labels fine-tuning uses, one network per "
         "fraction (Figure 4); pre-training reads every training input", low=0, low_open=True, high=1, listed=True,
         flag="--labeled-fractions", aliases=("--labeled-fraction",)),
    Rule("labeled_seed", INT, 0, "NumPy seed of the fixed choice of the labeled subset", low=0, cli=False),
    Rule("task", CHOICE, "classification", "classification (error rate) or ratings (RMSE of the expected star "
         "value, section 4.2)", choices=names.TASKS, cli=False),
    Rule("hidden_bias_init", FLOAT, 0.0, "the constant every hidden bias starts at (0: the paper's)", section=MODEL),
    Rule("output_layer_init", CHOICE, "uniform", "the softmax layer's initial weights: uniform (the paper's) or "
         "zeros", section=MODEL, choices=names.OUTPUT_LAYER_INITS),
    Rule("eval_batch_size", INT, 1000, "examples per forward pass when evaluating (memory only)", low=1, cli=False),
    Rule("num_classes", INT, None, "width of the softmax output (None: from the labels)", low=1, optional=True,
         cli=False),
    Rule("train_size", INT, None, "use only the first N training examples (None: all)", section=MODEL, low=1,
         optional=True),
    Rule("valid_size", INT, None, "use only the first N validation examples (None: all)", section=MODEL, low=1,
         optional=True),
    Rule("test_size", INT, None, "use only the first N test examples (None: all)", section=MODEL, low=1,
         optional=True),
)
HPARAM_NAMES = tuple(name for name, rule in RULES.items() if rule.traced)
CLI_NAMES = tuple(name for name, rule in RULES.items() if rule.cli)
DESTS = frozenset(rule.dest for rule in RULES.values() if rule.cli)  # the flags' attributes once parsed


def markdown_document() -> str:
    """``docs/hyperparameters.md``: the rules as a Markdown table, with a note on how to read it
    (rewrite the file with ``python -m deep_sparse.hparam_rules > docs/hyperparameters.md``)."""
    return ("# Hyperparameters\n\nEvery hyperparameter of a network, as `deep_sparse.hparam_rules` defines it: the "
            "checks of `Hparams` and `TrainConfig`, the sweep planner's grid checks and the flags of every "
            "`python -m sweeps.*` command are derived from this table (generated by "
            "`python -m deep_sparse.hparam_rules`). *Traced* values are fields of `Hparams`: networks that "
            "differ only in them are trained in one compiled program. A flag given a list trains one network "
            "(or, for data sets, one sweep) per value; a command's flags override its `--preset`'s values.\n\n"
            + markdown_table())


def markdown_table() -> str:
    """The rules as a Markdown table."""
    lines = ["| name | flag | type | valid values | applies to | default | help |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for rule in RULES.values():
        kind = ("traced, " if rule.traced else "") + rule.kind
        flag = f"`{rule.option}{' VALUE [VALUE ...]' if rule.listed else ''}`" if rule.cli else "(library only)"
        flag += "".join(f" (also `{alias}`)" for alias in rule.aliases)
        lines.append(f"| {rule.name} | {flag} | {kind} | {rule.range_text()} | {rule.applies_to} | "
                     f"{rule.default!r} | {rule.help} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_document(), end="")
