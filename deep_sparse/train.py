"""A whole training run as one pure function (sections 4.1 and 4.2), in the spirit of PureJaxRL.

    train = make_train(config)                          # validates config, compiles nothing
    result = jax.jit(train)(key, hparams, data)         # data = load_data(config) or Data.from_arrays(...)
    results = jax.jit(train.vmap())(keys, Hparams.grid(lr=[...], l1=[...]), data)     # many networks
    result.test_error, result.valid_error, result.sparsity, result.params, result.curves

The run is a sequence of *stages* of epochs: for each hidden layer, ``pretrain_epochs`` epochs of
denoising auto-encoder training on the code of the layers below it (greedy layer-wise; decoder weights
tied to the encoder's by default),
then up to ``epochs`` epochs of supervised fine-tuning on mini-batches, with SGD at the constant rate
``Hparams.lr`` or any optax optimizer (``make_train(config, optimizer=...)``, see
:mod:`deep_sparse.optimizers`). Every epoch is one ``lax.scan`` over mini-batches; model selection
(best validation epoch, early stopping with a patience) and divergence handling are array operations
inside the compiled function, so that ``jax.vmap(train, in_axes=(0, 0, None))`` (``train.vmap()``,
which checks the stacked Hparams first) trains many networks at once. ``make_train`` returns a
:class:`Train`, a frozen dataclass of the run's pure functions (``init``, the stages, ``start_finetuning``,
``finalize``): its call is the single compiled run, and the sweep engine drives the same functions
from Python to checkpoint and stop between epochs. :class:`Trainer` orders the stages; the math they run
is in :mod:`deep_sparse.pretraining` (one auto-encoder epoch), :mod:`deep_sparse.finetuning` (one
supervised epoch) and :mod:`deep_sparse.evaluation` (the measures of the result), the state they pass
along in :mod:`deep_sparse.train_state`.

Why ``data`` is an argument: a closed-over array becomes a constant of the compiled program (for
MNIST, 313 MB of HLO text, measured here). ``make_train(config, data)`` still binds it for
convenience, so ``jax.jit(make_train(config, data))(key, hparams)`` works; pass large data explicitly.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from deep_sparse import evaluation, finetuning, mlp, optimizers, pretraining, reparam, train_state
from deep_sparse.config import Hparams, TrainConfig
# the run's data, defined beside its checks; still importable from here
from deep_sparse.inputs import (DATA_ARRAYS, DATA_STATIC, Data, as_device_arrays, check_arrays, labels_span,  # noqa: F401
                                 load_data, prepare_data)
# the state a run carries, still importable from here; unless_stopped is looked up here at every stage,
# so that a benchmark can put another stop guard in its place (benchmarks/memory_plan.py)
from deep_sparse.train_state import Curves, TrainState, unless_stopped  # noqa: F401

Array = jax.Array


class Result(NamedTuple):
    """Outcome of a run, measured with the parameters of the best validation epoch.

    For ``task == "ratings"`` the *_error fields hold the RMSE of the expected star value.
    """

    test_error: Array
    valid_error: Array
    train_error: Array
    sparsity: Array  # mean over hidden layers of the fraction of exact zeros on the test set
    sparsity_per_layer: Array
    params: list
    curves: Curves
    epochs_run: Array
    best_epoch: Array
    diverged: Array
    # A collapsed ("dead") network, told apart from a diverged one: the share of validation examples
    # given the most frequent predicted class (about 1/classes for a working network, 1.0 for a
    # constant output), and per hidden layer the fraction of units that are zero on every example.
    top_class_share: Array
    silent_units_per_layer: Array
    # Per test example: 1.0 where the prediction is wrong, else 0.0 (ratings: the squared error of the
    # expected star value); what a paired test of two networks (McNemar, sweeps.table1) needs.
    test_example_errors: Array
    # Per layer, output layer included: the Frobenius norm of W_i of ``params`` (section 3.1's
    # rescaling moves it from layer to layer without changing the function).
    weight_norm_per_layer: Array


class Trainer:
    """The stages of a run for one ``config``, in their order: :meth:`init`, a :meth:`pretrain_epoch` per
    hidden layer and pre-training epoch, :meth:`with_finetuning_optimizer`, :meth:`finetune_epoch` until
    the stopping rule, :meth:`finalize`; and the checks of the data at the run's boundary.
    :func:`make_train` assembles a :class:`Train` from them."""

    def __init__(self, config: TrainConfig, data: Optional[Data] = None,
                 optimizer: Optional[optax.GradientTransformation] = None):
        self.config = config
        # the learning rates come from Hparams through the optimizer states (see deep_sparse.optimizers)
        self.optimizer = optimizers.sgd() if optimizer is None else optimizers.check(optimizer)
        self.n_hidden = len(config.hidden_sizes)
        if data is not None:
            self.check_data(data)
        self.bound_data = None if data is None else as_device_arrays(data)

    # ----------------------------------------------------------------- shapes and checks
    def layer_sizes(self, data: Data) -> tuple[int, ...]:
        """``(inputs, hidden..., classes)`` of the network for ``data``."""
        n_classes = 5 if self.config.task == "ratings" else int(self.num_classes(data))
        return (int(data.x_train.shape[-1]), *self.config.hidden_sizes, n_classes)

    def num_classes(self, data: Data) -> int:
        """The softmax width: ``TrainConfig.num_classes``, else ``data.num_classes``, else read from
        concrete labels (1 + the largest)."""
        if self.config.num_classes is not None:
            return self.config.num_classes
        if data.num_classes is not None:
            return data.num_classes
        if isinstance(data.y_train, jax.core.Tracer):
            raise ValueError("TrainConfig.num_classes or Data.num_classes must be set when the data is traced "
                             "(passed through jit/vmap); Data.from_arrays and load_data set Data.num_classes")
        return labels_span(data.y_train, data.y_valid, data.y_test)

    def n_labeled(self, data: Data) -> int:
        """How many training examples fine-tuning reads (the first ``labeled_fraction`` of them)."""
        return finetuning.n_labeled(self.config, int(data.x_train.shape[0]))

    def check_data(self, data: Data) -> None:
        """Raise ValueError for data this config cannot train on (before anything is compiled)."""
        check_arrays(data)
        n_train = int(data.x_train.shape[0])
        batch_size = self.config.batch_size
        if batch_size > n_train:
            raise ValueError(f"TrainConfig.batch_size={batch_size} is larger than the training set ({n_train} examples)")
        if self.n_labeled(data) < batch_size:
            raise ValueError(
                f"TrainConfig.labeled_fraction={self.config.labeled_fraction} leaves {self.n_labeled(data)} labeled "
                f"examples, fewer than one mini-batch of {batch_size}"
            )
        if data.pretrain_inputs.shape[0] < batch_size:
            raise ValueError(f"x_pretrain has {data.pretrain_inputs.shape[0]} examples, fewer than one mini-batch "
                             f"of {batch_size}")
        if isinstance(data.y_train, jax.core.Tracer):  # inside jit: checked at the boundary already
            return
        classes = self.num_classes(data)
        for name in ("y_train", "y_valid", "y_test"):
            labels = np.asarray(getattr(data, name))
            if labels.size and (labels.min() < 0 or labels.max() >= classes):
                raise ValueError(f"{name} holds labels in [{labels.min()}, {labels.max()}] but the network has "
                                 f"{classes} classes (TrainConfig.num_classes={self.config.num_classes})")

    def _bound(self, data: Optional[Data]) -> Data:
        if data is None:
            if self.bound_data is None:
                raise ValueError("no data: call train(key, hparams, data) or make_train(config, data)")
            return self.bound_data
        return data

    def activation(self, hparams: Hparams) -> Callable[[Array], Array]:
        """The hidden activation as a function (the rescaled softplus with ``hparams.alpha``)."""
        return train_state.activation(self.config, hparams)

    # ----------------------------------------------------------------- the stages
    def init(self, key, hparams: Hparams, data: Optional[Data] = None) -> TrainState:
        """Fresh parameters (uniform init, see :func:`deep_sparse.mlp.init`, rescaled by the network's
        ``init_alpha_*``: :func:`deep_sparse.reparam.initial_alphas`) and empty curves."""
        self.check_data(self._bound(data))  # before anything is moved or compiled
        data = as_device_arrays(self._bound(data))
        init_key, run_key = jax.random.split(train_state.raw_key(key))
        sizes = self.layer_sizes(data)
        params = mlp.init(init_key, sizes, self.config.activation, self.config.hidden_bias_init,
                          self.config.output_layer_init)
        # section 3.1's rescaling (product 1); alphas all 1 divide by 1.0, which leaves every bit as it was
        params = reparam.rescale(params, reparam.initial_alphas(hparams, self.n_hidden))
        decoder_biases = [jnp.zeros((n,), jnp.float32) for n in sizes[: self.n_hidden]]
        decoder_weights = pretraining.init_decoder_weights(self.config, init_key, sizes)
        nan = jnp.float32(jnp.nan)
        epochs, pretrain_epochs = self.config.epochs, self.config.pretrain_epochs
        return TrainState(
            params=params,
            decoder_biases=decoder_biases,
            decoder_weights=decoder_weights,
            opt_state=optimizers.init(self.optimizer, params, hparams.lr),
            pretrain_opt_states=[pretraining.init_optimizer_state(params[i], decoder_weights[i], decoder_biases[i],
                                                                  hparams.pretrain_lr)
                                 for i in range(self.n_hidden)],
            key=run_key,
            epoch=jnp.int32(0),
            pretrain_epoch=jnp.zeros((self.n_hidden,), jnp.int32),
            best_params=params,
            best_valid=jnp.float32(jnp.inf),
            best_epoch=jnp.int32(0),
            bad_epochs=jnp.int32(0),
            stopped=jnp.bool_(False),
            diverged=jnp.bool_(False),
            curves=Curves(
                train_loss=jnp.full((epochs,), nan),
                valid_error=jnp.full((epochs,), nan),
                valid_sparsity=jnp.full((epochs,), nan),
                pretrain_loss=jnp.full((self.n_hidden, pretrain_epochs), nan),
                pretrain_valid_loss=jnp.full((self.n_hidden, pretrain_epochs), nan),
            ),
        )

    def pretrain_epoch(self, state: TrainState, hparams: Hparams, data: Optional[Data], layer_index: int) -> TrainState:
        """:func:`deep_sparse.pretraining.pretrain_epoch` of hidden layer ``layer_index``; a stopped run
        (a diverged auto-encoder) passes through unchanged."""
        run = functools.partial(pretraining.pretrain_epoch, self.config, layer_index=layer_index)
        return unless_stopped(run, state, hparams, self._bound(data))

    def with_finetuning_optimizer(self, state: TrainState, hparams: Hparams, data: Optional[Data] = None) -> TrainState:
        """``state`` with a fresh fine-tuning optimizer state for ``hparams.lr`` (the state holds the
        learning rate): where the fine-tuning lr enters a run, so that a pre-trained stack serves every lr."""
        return state._replace(opt_state=optimizers.init(self.optimizer, state.params, hparams.lr))

    def finetune_epoch(self, state: TrainState, hparams: Hparams, data: Optional[Data] = None) -> TrainState:
        """:func:`deep_sparse.finetuning.finetune_epoch`: one supervised epoch, then validation, model
        selection and the stopping rule. A stopped run (early stop, divergence or last epoch done)
        passes through unchanged."""
        run = functools.partial(finetuning.finetune_epoch, self.config, self.optimizer)
        return unless_stopped(run, state, hparams, self._bound(data))

    def finalize(self, state: TrainState, hparams: Hparams, data: Optional[Data] = None) -> Result:
        """Measure the best-validation parameters on every split (:func:`deep_sparse.evaluation.measure`)."""
        data = self._bound(data)
        best = state.best_params
        measured = evaluation.measure(best, self.activation(hparams), data, self.config.task,
                                      self.config.eval_batch_size, self.n_labeled(data))
        return Result(
            test_error=measured.test_error,
            valid_error=measured.valid_error,
            train_error=measured.train_error,
            sparsity=jnp.mean(measured.sparsity_per_layer) if self.n_hidden else jnp.float32(0.0),
            sparsity_per_layer=measured.sparsity_per_layer,
            params=best,
            curves=state.curves,
            epochs_run=state.epoch,
            best_epoch=state.best_epoch,
            diverged=state.diverged,
            top_class_share=measured.top_class_share,
            silent_units_per_layer=measured.silent_units_per_layer,
            test_example_errors=measured.test_example_errors,
            weight_norm_per_layer=jnp.stack([jnp.linalg.norm(layer["w"]) for layer in best]),
        )


class Stage(NamedTuple):
    """``epochs`` epochs of one kind: ``epoch(state, hparams, data) -> state`` (stopped networks pass
    through unchanged)."""

    name: str
    epochs: int
    epoch: Callable[[TrainState, Hparams, Data], TrainState]


@dataclasses.dataclass(frozen=True, eq=False)
class Train:
    """A whole training run described once, as pure functions (optax's ``GradientTransformation``,
    PureJaxRL's ``make_train``; a frozen dataclass rather than a NamedTuple because ``jax.jit`` keeps a
    weak reference to what it compiles): the single compiled run (:meth:`__call__`) and the sweep engine
    (which calls each stage's epoch from Python, to checkpoint and stop between epochs) both run

        state = init(key, hparams, data)
        for stage in pretrain: state = stage.epoch(...) x stage.epochs     # one stage per hidden layer
        state = start_finetuning(state, hparams, data)
        state = finetune.epoch(...) x finetune.epochs                      # early stopping inside
        result = finalize(state, hparams, data)

    A pre-trained stack depends on every hyperparameter but the fine-tuning ``lr``, which enters
    only at ``start_finetuning``: a sweep pre-trains a stack once and fine-tunes it at every lr.
    """

    config: TrainConfig
    init: Callable[..., TrainState]
    pretrain: tuple[Stage, ...]
    start_finetuning: Callable[[TrainState, Hparams, Data], TrainState]
    finetune: Stage
    finalize: Callable[[TrainState, Hparams, Data], Result]
    activation: Callable[[Hparams], Callable[[Array], Array]]
    check_data: Callable[[Data], None]
    bound_data: Optional[Data] = None

    @property
    def stages(self) -> tuple[Stage, ...]:
        """Every stage in execution order (pre-training layer by layer, then fine-tuning)."""
        return (*self.pretrain, self.finetune)

    def vmap(self) -> Callable[..., Result]:
        """The run of many networks, ``run(keys, hparams, data=None) -> Result`` (every leaf with one
        entry per network): ``jax.vmap(self, in_axes=(0, 0, None))``, after checking that every field of
        ``hparams`` is stacked (:meth:`Hparams.stacked_size`: build it with ``Hparams.grid`` or
        ``Hparams.stack``) and that there is one key per network. Jit it."""
        batched = jax.vmap(self, in_axes=(0, 0, None))

        def run(keys, hparams: Hparams, data: Optional[Data] = None) -> Result:
            networks = hparams.stacked_size()
            if jnp.shape(keys)[:1] != (networks,):
                raise ValueError(f"{networks} networks need {networks} keys (jax.random.split(key, {networks})), "
                                 f"got keys of shape {jnp.shape(keys)}")
            return batched(keys, hparams, data)

        return run

    def __call__(self, key, hparams: Hparams, data: Optional[Data] = None) -> Result:
        """The whole run: ``Result`` of the best-validation network (jit it; vmap it over networks)."""
        data = as_device_arrays(self.bound_data if data is None else data)  # once, for every stage
        state = self.init(key, hparams, data)
        for stage in self.pretrain:
            state = _repeat(stage, state, hparams, data)
        state = self.start_finetuning(state, hparams, data)
        state = _repeat(self.finetune, state, hparams, data)
        return self.finalize(state, hparams, data)


def _repeat(stage: Stage, state: TrainState, hparams: Hparams, data: Data) -> TrainState:
    return jax.lax.fori_loop(0, stage.epochs, lambda _, s: stage.epoch(s, hparams, data), state)


def make_train(config: TrainConfig, data: Optional[Data] = None,
               optimizer: Optional[optax.GradientTransformation] = None) -> Train:
    """Validate ``config`` (and ``data`` when given, bound for calls without it) and describe the run:
    the :class:`Train` whose call ``train(key, hparams, data=None) -> Result`` is one pure function.

    ``optimizer``: the fine-tuning optimizer, any ``optax.GradientTransformation`` whose learning rate is
    injected (``optax.inject_hyperparams(optax.adam)(learning_rate=0.0)``), so that ``Hparams.lr`` sets
    it (see :mod:`deep_sparse.optimizers`); None: the paper's SGD at the constant rate ``Hparams.lr``."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"make_train expects a TrainConfig, got {type(config).__name__}")
    trainer = Trainer(config, data, optimizer)
    pretrain = tuple(
        Stage(f"pretrain_layer_{i + 1}", config.pretrain_epochs, functools.partial(trainer.pretrain_epoch, layer_index=i))
        for i in range(trainer.n_hidden) if config.pretrain_epochs > 0
    )
    return Train(
        config=config, init=trainer.init, pretrain=pretrain, start_finetuning=trainer.with_finetuning_optimizer,
        finetune=Stage("finetune", config.epochs, trainer.finetune_epoch), finalize=trainer.finalize,
        activation=trainer.activation, check_data=trainer.check_data, bound_data=trainer.bound_data,
    )


def wrong_on_test(config: TrainConfig, hparams: Hparams, seed: int, data: Data) -> tuple[np.ndarray, float]:
    """Train one network alone (``make_train(config)`` from ``PRNGKey(seed)``): which test examples it
    gets wrong, and its test error (a paired test's input for a row recorded without ``test_wrong``)."""
    trainer = make_train(config)
    result = jax.jit(trainer)(jax.random.PRNGKey(seed), hparams, data)
    logits, _ = mlp.apply(result.params, data.x_test, trainer.activation(hparams))
    return jax.device_get(jnp.argmax(logits, axis=-1) != data.y_test), float(result.test_error)
