"""Configuration as data: what a training run is (static) and which numbers it is run with (traced).

:class:`TrainConfig` holds the structural choices — data set, layer sizes, activation, epochs,
batch size, pre-training recipe. Changing one of them means compiling a different program.
:class:`Hparams` holds the numbers a sweep varies — learning rates, L1 coefficient, noise level,
softplus alpha. They are traced values, so ``jax.vmap`` runs many of them in one program.
"""
from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple, Optional

from deep_sparse import activations as activations_lib
from deep_sparse import dae, mlp
from deep_sparse.dae import CORRUPTIONS

TASKS = ("classification", "ratings")


class Hparams(NamedTuple):
    """Traced hyperparameters of one network (a pytree of scalars; stack them to sweep).

    lr: supervised SGD learning rate (section 4.1 grid: 0.1, 0.01, 0.001, 0.0001).
    l1: coefficient of the L1 activation penalty (section 4.1 uses 0.001; Figure 3 sweeps 0 to 0.01).
    pretrain_lr: SGD learning rate of the denoising auto-encoders.
    noise_level: corruption level of the DAEs (masking probability 0.25 for images).
    alpha: the rescaled softplus' alpha (only read when activation == "scaled_softplus").
    """

    lr: float = 0.01
    l1: float = 0.0
    pretrain_lr: float = 0.01
    noise_level: float = 0.25
    alpha: float = 1.0


HPARAM_NAMES = Hparams._fields


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
    pretrain_strategy: reconstruction strategy of section 3.2 (None: the paper's pairing for the
        activation, see ``deep_sparse.dae.default_strategy``).
    tied_decoder: whether each auto-encoder's decoder weights are its encoder's transposed (the
        workshop paper's "forced to be the transpose of each other") or a matrix of their own (section
        3.2 of the AISTATS paper writes the parameters as (W_enc, b_enc, W_dec, b_dec)).
    corruption: DAE corruption of every layer's input ("mask" in the paper's image experiments).
    first_layer_corruption: corruption of the first layer's input if different (the text experiments
        use "salt_and_pepper" on binary bag-of-words inputs).
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

    dataset: str = "mnist"
    hidden_sizes: tuple[int, ...] = (1000, 1000, 1000)
    activation: str = "rectifier"
    batch_size: int = 10
    epochs: int = 30
    patience: Optional[int] = 5
    pretrain_epochs: int = 0
    pretrain_strategy: Optional[str] = None
    tied_decoder: bool = True
    corruption: str = "mask"
    first_layer_corruption: Optional[str] = None
    labeled_fraction: float = 1.0
    labeled_seed: int = 0
    task: str = "classification"
    hidden_bias_init: float = 0.0
    output_layer_init: str = "uniform"
    eval_batch_size: int = 1000
    num_classes: Optional[int] = None
    train_size: Optional[int] = None
    valid_size: Optional[int] = None
    test_size: Optional[int] = None

    def __post_init__(self):
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        validate(self)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _positive_int(config, field, allow_none=False):
    value = getattr(config, field)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"TrainConfig.{field} must be a positive integer, got {value!r}")


def validate(config: TrainConfig) -> None:
    """Raise ValueError naming the first bad field of ``config``; nothing is compiled before this."""
    if config.activation not in activations_lib.ACTIVATIONS:
        raise ValueError(
            f"TrainConfig.activation: unknown activation {config.activation!r}; "
            f"known activations: {', '.join(activations_lib.names())}"
        )
    for size in config.hidden_sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"TrainConfig.hidden_sizes must be positive integers, got {config.hidden_sizes!r}")
    for field in ("batch_size", "epochs", "eval_batch_size"):
        _positive_int(config, field)
    for field in ("patience", "num_classes", "train_size", "valid_size", "test_size"):
        _positive_int(config, field, allow_none=True)
    if isinstance(config.pretrain_epochs, bool) or not isinstance(config.pretrain_epochs, int) or config.pretrain_epochs < 0:
        raise ValueError(f"TrainConfig.pretrain_epochs must be an integer >= 0, got {config.pretrain_epochs!r}")
    if not (0.0 < config.labeled_fraction <= 1.0):
        raise ValueError(f"TrainConfig.labeled_fraction must be in (0, 1], got {config.labeled_fraction!r}")
    if not isinstance(config.hidden_bias_init, (int, float)) or not math.isfinite(config.hidden_bias_init):
        raise ValueError(f"TrainConfig.hidden_bias_init must be a finite number, got {config.hidden_bias_init!r}")
    if not isinstance(config.tied_decoder, bool):
        raise ValueError(f"TrainConfig.tied_decoder must be True or False, got {config.tied_decoder!r}")
    if config.output_layer_init not in mlp.OUTPUT_LAYER_INITS:
        raise ValueError(f"TrainConfig.output_layer_init must be one of {mlp.OUTPUT_LAYER_INITS}, "
                         f"got {config.output_layer_init!r}")
    if config.task not in TASKS:
        raise ValueError(f"TrainConfig.task must be one of {TASKS}, got {config.task!r}")
    for field in ("corruption", "first_layer_corruption"):
        value = getattr(config, field)
        if value is not None and value not in CORRUPTIONS:
            raise ValueError(f"TrainConfig.{field} must be one of {CORRUPTIONS}, got {value!r}")
    if config.pretrain_epochs > 0:
        if not config.hidden_sizes:
            raise ValueError("TrainConfig.pretrain_epochs > 0 needs at least one hidden layer")
        strategy = config.pretrain_strategy or dae.default_strategy(config.activation)
        dae.check_strategy(config.activation, strategy)
