"""Configuration as data: what a training run is (static) and which numbers it is run with (traced).

:class:`TrainConfig` holds the structural choices — data set, layer sizes, activation, epochs,
batch size, pre-training recipe. Changing one of them means compiling a different program.
:class:`Hparams` holds the numbers a sweep varies — learning rates, L1 coefficient, noise level,
softplus alpha. They are traced values, so ``jax.vmap`` runs many of them in one program.
"""
from __future__ import annotations

import dataclasses
import inspect
import itertools
from typing import NamedTuple, Optional

import jax
import numpy as np

from deep_sparse import dae, hparam_rules


# every default is the rule's (deep_sparse.hparam_rules, docs/hyperparameters.md)
_DEFAULT = {name: rule.default for name, rule in hparam_rules.RULES.items()}


class _HparamFields(NamedTuple):
    lr: float = _DEFAULT["lr"]
    l1: float = _DEFAULT["l1"]
    init_alpha_1: float = _DEFAULT["init_alpha_1"]
    init_alpha_2: float = _DEFAULT["init_alpha_2"]
    init_alpha_3: float = _DEFAULT["init_alpha_3"]
    pretrain_lr: float = _DEFAULT["pretrain_lr"]
    noise_level: float = _DEFAULT["noise_level"]
    alpha: float = _DEFAULT["alpha"]


class Hparams(_HparamFields):
    """Traced hyperparameters of one network (a pytree of scalars; stack them to sweep).

    lr: supervised learning rate (section 4.1 grid: 0.1, 0.01, 0.001, 0.0001); the only source of
        the fine-tuning optimizer's learning rate (see :func:`deep_sparse.train.make_train`).
    l1: coefficient of the L1 activation penalty (section 4.1 uses 0.001; Figure 3 sweeps 0 to 0.01).
    init_alpha_1, init_alpha_2, init_alpha_3: section 3.1's reparametrization of the initial parameters,
        ``W_i / alpha_i`` and ``b_i / prod_{j<=i} alpha_j`` (:func:`deep_sparse.reparam.rescale`) with
        ``alpha_i = init_alpha_i`` for hidden layers 1 to 3 (1 for deeper ones) and the output layer's
        alpha ``1 / prod_i alpha_i``, so that a rectifier network computes the same function at step 0
        whatever their values (:func:`deep_sparse.reparam.initial_alphas`); all 1: the plain initialization.
    pretrain_lr: SGD learning rate of the denoising auto-encoders.
    noise_level: corruption level of the DAEs (masking probability 0.25 for images).
    alpha: the rescaled softplus' alpha (only read when activation == "scaled_softplus").

    Building one checks its concrete values (a negative or NaN value raises ValueError), so that a
    wrong number is caught here, before ``jax.jit`` turns it into a tracer that nothing can check; None
    passes, so ``in_axes=Hparams(lr=0, l1=None, ...)`` still works. JAX's own rebuilding of the pytree
    (tracers, gradients, tree maps) is not checked. Many networks: :meth:`stack` or :meth:`grid`, then
    ``make_train(config).vmap()`` (or ``jax.vmap(train, in_axes=(0, 0, None))``).
    """

    __slots__ = ()

    def __new__(cls, *args, **kwargs):
        hparams = super().__new__(cls, *args, **kwargs)
        _check_values(hparams)
        return hparams

    def _replace(self, **changes) -> "Hparams":
        return type(self)(**{**self._asdict(), **changes})

    @classmethod
    def stack(cls, networks) -> "Hparams":
        """One Hparams whose every field is a float32 vector, entry i from ``networks[i]`` (Hparams or
        dicts of fields, missing fields at their defaults): the argument of a vmapped run."""
        networks = [n if isinstance(n, Hparams) else cls(**n) for n in networks]
        if not networks:
            raise ValueError("Hparams.stack needs at least one network")
        return cls(*(np.asarray([getattr(n, name) for n in networks], np.float32) for name in cls._fields))

    @classmethod
    def grid(cls, **axes) -> "Hparams":
        """The Cartesian product of ``axes`` as a stacked Hparams, e.g. ``Hparams.grid(lr=[0.1, 0.01],
        l1=[0, 1e-3], noise_level=0.1)`` (4 networks, the last axis varying fastest; a scalar is one fixed
        value, unnamed fields keep their defaults)."""
        unknown = sorted(set(axes) - set(cls._fields))
        if unknown:
            raise ValueError(f"Hparams.grid: unknown field(s) {unknown}; the fields are {list(cls._fields)}")
        values = [list(np.atleast_1d(axis)) for axis in axes.values()]
        for name, axis in zip(axes, values):
            if not axis:
                raise ValueError(f"Hparams.grid: axis {name!r} is empty")
        return cls.stack([dict(zip(axes, point)) for point in itertools.product(*values)])

    def stacked_size(self) -> int:
        """The number of networks of a stacked Hparams (every field a vector of one length); ValueError
        naming the fields that are not, for a partly stacked one."""
        shapes = {name: tuple(np.shape(value)) for name, value in self._asdict().items()}
        lengths = {shape[0] for shape in shapes.values() if len(shape) == 1}
        if len(lengths) == 1 and all(len(shape) == 1 for shape in shapes.values()):
            return lengths.pop()
        if len(lengths) > 1:
            counts = ", ".join(f"{name} {shape[0]}" for name, shape in shapes.items() if len(shape) == 1)
            raise ValueError(f"Hparams is stacked to different lengths (networks per field: {counts}); build it "
                             f"with Hparams.stack or Hparams.grid")
        unstacked = [f"{name} (shape {shape})" for name, shape in shapes.items() if len(shape) != 1]
        raise ValueError(f"Hparams is partly stacked: every field must be a vector with one entry per network, but "
                         f"{', '.join(unstacked)} {'is' if len(unstacked) == 1 else 'are'} not; build it with "
                         f"Hparams.stack or Hparams.grid")


Hparams.__signature__ = inspect.signature(_HparamFields)  # what help() and the API reference show


def _check_values(hparams: Hparams) -> None:
    """Raise ValueError for a concrete value of a field below its rule's lower bound (``hparam_rules``),
    or NaN. The bound counts as allowed even where the rule excludes it: an ``in_axes`` prefix puts 0
    (an axis) in a field. Upper bounds and finiteness are the planner's (they may depend on the
    config); tracers pass unchecked."""
    for name, value in hparams._asdict().items():
        if value is None or isinstance(value, (bool, str)) or isinstance(value, jax.core.Tracer):
            continue
        if isinstance(value, jax.Array) and not value.is_fully_addressable:
            continue
        try:
            array = np.asarray(value, np.float64)
        except (TypeError, ValueError):
            continue  # not a number: a placeholder JAX put there
        low = hparam_rules.RULES[name].low
        if np.any(np.isnan(array)) or np.any(array < low):
            raise ValueError(f"Hparams.{name} must be >= {low:g}, got {np.asarray(value).tolist()!r}")


def _flatten_with_keys(hparams: Hparams):
    return tuple((jax.tree_util.GetAttrKey(name), value) for name, value in zip(hparams._fields, hparams)), None


# JAX rebuilds Hparams from tracers, gradients and placeholders: it goes around the checks of __new__
jax.tree_util.register_pytree_with_keys(
    Hparams, _flatten_with_keys, lambda _, children: Hparams._make(children), lambda h: (tuple(h), None))


HPARAM_NAMES = Hparams._fields

def from_summed_cost(hparams: Hparams, batch_size: int) -> Hparams:
    """The hyperparameters under which this library's SGD takes exactly the steps that SGD takes on a
    mini-batch cost whose data term is summed over the mini-batch and whose L1 term is averaged.

    With ``B = batch_size``, ``l_b`` the NLL (or reconstruction cost) of example b and ``h_b`` its codes:

        summed:  C_s(theta) = sum_b l_b + lambda * (1/B) sum_b ||h_b||_1
        ours:    C_m(theta) = (1/B) sum_b l_b + lambda' * (1/B) sum_b ||h_b||_1

    ``C_s = B * C_m`` when ``lambda' = lambda / B``, so ``theta - eta * grad C_s = theta - (B eta) *
    grad C_m``: the learning rates (``lr`` and ``pretrain_lr``) are multiplied by B and ``l1`` divided
    by B. The steps are the same for plain SGD only (an adaptive optimizer such as Adam divides the
    scale out). ``noise_level`` and ``alpha`` are unchanged.

    Args:
      hparams: the values in the summed cost's units (one network or stacked).
      batch_size: the mini-batch size B.

    Returns:
      An :class:`Hparams` in this library's (mean cost) units.
    """
    scale = float(batch_size)
    return hparams._replace(lr=np.asarray(hparams.lr) * scale, pretrain_lr=np.asarray(hparams.pretrain_lr) * scale,
                            l1=np.asarray(hparams.l1) / scale)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Static description of a training run (sections 4.1 and 4.2).

    dataset: name for ``deep_sparse.data`` (only used by helpers that load the data for you).
    hidden_sizes: widths of the hidden layers; input and output widths come from the data.
    activation: hidden activation, a name from ``deep_sparse.activations.names()``.
    batch_size: mini-batch size of SGD, 10 in the paper (pre-training and fine-tuning alike).
    epochs: maximum number of supervised epochs.
    patience: stop after this many epochs without a better validation error (None: never stop early).
    pretrain_epochs: epochs of greedy layer-wise DAE pre-training per hidden layer (0: none).
    pretrain_strategy: reconstruction strategy, one of ``deep_sparse.dae.STRATEGIES`` (None: the
        paper's pairing for the activation, see ``deep_sparse.dae.default_strategy``).
    tied_decoder: whether each auto-encoder's decoder weights are its encoder's transposed (the
        workshop paper's "forced to be the transpose of each other") or a matrix of their own (section
        3.2 of the AISTATS paper writes the parameters as (W_enc, b_enc, W_dec, b_dec)).
    corruption: DAE corruption of every layer's input ("mask" in the paper's image experiments).
    first_layer_corruption: corruption of the first layer's input if different (the text experiments
        use "salt_and_pepper" on binary bag-of-words inputs).
    pretrain_lr_selection: how a sweep chooses the pre-training lr among its candidates (networks that
        differ only in it): "stack" (one lr per stack, the lowest validation reconstruction error summed
        over the layers, section 4.1) or "per_layer" (greedily per layer on that layer's own error,
        :mod:`deep_sparse.layer_choice`). A run of one network has one candidate: it reads neither.
    labeled_fraction: fraction of the training set whose labels fine-tuning uses (Figure 4); the
        pre-training always uses the whole training set, unlabeled.
    labeled_seed: NumPy seed of the fixed random choice of the labeled subset.
    task: "classification" (softmax NLL, error rate) or "ratings" (5-class softmax, the prediction is
        the expected star value, the metric is RMSE; section 4.2).
    num_classes: width of the softmax output (None: 1 + the largest label in the data, which needs
        concrete data; set it when the data is an argument of a jitted function).
    hidden_bias_init: the constant every hidden bias starts at (0: the paper's initialization).
    output_layer_init: "uniform" (the paper's) or "zeros" (the softmax layer starts at W = 0, b = 0); see
        ``deep_sparse.mlp.init``.
    eval_batch_size: examples per forward pass when evaluating (memory only, no effect on results).
    train_size, valid_size, test_size: use only the first n examples of each split (None: all).
    """

    dataset: str = _DEFAULT["dataset"]
    hidden_sizes: tuple[int, ...] = _DEFAULT["hidden_sizes"]
    activation: str = _DEFAULT["activation"]
    batch_size: int = _DEFAULT["batch_size"]
    epochs: int = _DEFAULT["epochs"]
    patience: Optional[int] = _DEFAULT["patience"]
    pretrain_epochs: int = _DEFAULT["pretrain_epochs"]
    pretrain_strategy: Optional[str] = _DEFAULT["pretrain_strategy"]
    tied_decoder: bool = _DEFAULT["tied_decoder"]
    corruption: str = _DEFAULT["corruption"]
    first_layer_corruption: Optional[str] = _DEFAULT["first_layer_corruption"]
    pretrain_lr_selection: str = _DEFAULT["pretrain_lr_selection"]
    labeled_fraction: float = _DEFAULT["labeled_fraction"]
    labeled_seed: int = _DEFAULT["labeled_seed"]
    task: str = _DEFAULT["task"]
    hidden_bias_init: float = _DEFAULT["hidden_bias_init"]
    output_layer_init: str = _DEFAULT["output_layer_init"]
    eval_batch_size: int = _DEFAULT["eval_batch_size"]
    num_classes: Optional[int] = _DEFAULT["num_classes"]
    train_size: Optional[int] = _DEFAULT["train_size"]
    valid_size: Optional[int] = _DEFAULT["valid_size"]
    test_size: Optional[int] = _DEFAULT["test_size"]

    def __post_init__(self):
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        validate(self)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes`` (checked like a new one)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The fields as a plain dict (what a sweep records)."""
        return dataclasses.asdict(self)


def validate(config: TrainConfig) -> None:
    """Raise ValueError naming the first bad field of ``config`` (its rule in ``hparam_rules``), and a
    pre-training strategy the activation cannot use; nothing is compiled before this."""
    for field in dataclasses.fields(config):
        problem = hparam_rules.RULES[field.name].problem(getattr(config, field.name))
        if problem:
            raise ValueError(f"TrainConfig.{problem}")
    if config.pretrain_epochs > 0:
        if not config.hidden_sizes:
            raise ValueError("TrainConfig.pretrain_epochs > 0 needs at least one hidden layer")
        strategy = config.pretrain_strategy or dae.default_strategy(config.activation)
        dae.check_strategy(config.activation, strategy)
