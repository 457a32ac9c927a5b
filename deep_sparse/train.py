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
from Python to checkpoint and stop between epochs. :class:`Trainer` holds the math they are made of.

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

from deep_sparse import activations as activations_lib
from deep_sparse import dae, evaluation, mlp, optimizers, pretraining
from deep_sparse.config import Hparams, TrainConfig
# the run's data, defined beside its checks; still importable from here
from deep_sparse.inputs import (DATA_ARRAYS, DATA_STATIC, Data, as_device_arrays, check_arrays, labels_span,  # noqa: F401
                                 load_data, prepare_data)

Array = jax.Array



class Curves(NamedTuple):
    """Per-epoch learning curves; epochs that did not run (early stop, divergence) stay NaN."""

    train_loss: Array  # [epochs] mean fine-tuning objective (NLL + L1) over the epoch's mini-batches
    valid_error: Array  # [epochs] validation error rate (RMSE for ratings) after the epoch
    valid_sparsity: Array  # [epochs] mean fraction of exact zeros on the validation set
    pretrain_loss: Array  # [hidden layers, pretrain_epochs] mean DAE objective per epoch
    # [hidden layers, pretrain_epochs] reconstruction error alone (no noise, no L1 term) of the clean
    # validation inputs after each epoch: what selects the pre-training learning rate (section 4.1)
    pretrain_valid_loss: Array


class TrainState(NamedTuple):
    """Everything a run carries between epochs (a pytree: checkpointable, vmappable)."""

    params: list
    decoder_biases: list
    decoder_weights: list  # per hidden layer: None with tied weights, else W_dec (units, inputs)
    opt_state: optax.OptState
    pretrain_opt_states: list
    key: Array  # raw uint32 key data, shape (2,)
    epoch: Array  # fine-tuning epochs run
    pretrain_epoch: Array  # [hidden layers] pre-training epochs run per layer
    best_params: list
    best_valid: Array
    best_epoch: Array  # 1-based epoch of best_params, 0 if none (initial parameters)
    bad_epochs: Array
    stopped: Array
    diverged: Array
    curves: Curves


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


def _tree_where(condition, if_true, if_false):
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), if_true, if_false)


def unless_stopped(run: Callable, state: TrainState, hparams: Hparams, data: Data) -> TrainState:
    """``run(state, hparams, data)``, or ``state`` unchanged where ``state.stopped``.

    Unbatched (and under ``lax.map``) this is a ``lax.cond``, which really skips a stopped network.
    Under ``vmap`` JAX turns a ``lax.cond`` with a batched predicate into a select whose operands are
    all broadcast to the batch, the shared training data included: XLA's plan then holds one copy of
    the training images per network (about 150 MiB each for MNIST). Here the batched form runs the
    vmapped epoch on the one shared copy of the data and selects the small per-network results
    instead, the same numbers (a select either way: every network of a vmapped chunk computes).
    ``run`` may close over no traced value: everything traced comes in as an argument.
    """
    @jax.custom_batching.custom_vmap
    def skip_stopped(state, hparams, data):
        return jax.lax.cond(state.stopped, lambda s, h, d: s, run, state, hparams, data)

    @skip_stopped.def_vmap
    def batched(axis_size, in_batched, state, hparams, data):
        in_axes = jax.tree.map(lambda batched: 0 if batched else None, tuple(in_batched))
        ran = jax.vmap(run, in_axes=in_axes, axis_size=axis_size)(state, hparams, data)
        stopped = state.stopped

        def select(before, after):
            condition = jnp.reshape(stopped, stopped.shape + (1,) * (after.ndim - stopped.ndim))
            return jnp.where(condition, before, after)

        return jax.tree.map(select, state, ran), jax.tree.map(lambda _: True, ran)

    return skip_stopped(state, hparams, data)


def _all_finite(tree) -> Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def _raw_key(key) -> Array:
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key


class Trainer:
    """The math of a run for one ``config`` (initialization, the epochs, evaluation); :func:`make_train`
    assembles a :class:`Train` from its methods."""

    def __init__(self, config: TrainConfig, data: Optional[Data] = None,
                 optimizer: Optional[optax.GradientTransformation] = None):
        self.config = config
        self.bound_data = data
        # the learning rates come from Hparams through the optimizer states (see deep_sparse.optimizers)
        self.optimizer = optimizers.sgd() if optimizer is None else optimizers.check(optimizer)
        self.pretrain_optimizer = optimizers.sgd()
        self.n_hidden = len(config.hidden_sizes)
        self.pretrain_strategy = None
        if config.pretrain_epochs > 0:
            self.pretrain_strategy = config.pretrain_strategy or dae.default_strategy(config.activation)
        if data is not None:
            self.check_data(data)

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
        n_train = int(data.x_train.shape[0])
        return int(round(self.config.labeled_fraction * n_train))

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

    def _data(self, data: Optional[Data]) -> Data:
        return as_device_arrays(self._bound(data))

    def activation(self, hparams: Hparams) -> Callable[[Array], Array]:
        """The hidden activation as a function (the rescaled softplus with ``hparams.alpha``)."""
        if self.config.activation == "scaled_softplus":
            return activations_lib.get("scaled_softplus", alpha=hparams.alpha)
        return activations_lib.get(self.config.activation)

    # ----------------------------------------------------------------- init
    def init(self, key, hparams: Hparams, data: Optional[Data] = None) -> TrainState:
        """Fresh parameters (uniform init, see :func:`deep_sparse.mlp.init`) and empty curves."""
        self.check_data(self._bound(data))  # before anything is moved or compiled
        data = self._data(data)
        key = _raw_key(key)
        init_key, run_key = jax.random.split(key)
        sizes = self.layer_sizes(data)
        params = mlp.init(init_key, sizes, self.config.activation, self.config.hidden_bias_init,
                          self.config.output_layer_init)
        decoder_biases = [jnp.zeros((n,), jnp.float32) for n in sizes[: self.n_hidden]]
        decoder_weights = self.init_decoder_weights(init_key, sizes)
        nan = jnp.float32(jnp.nan)
        epochs, pretrain_epochs = self.config.epochs, self.config.pretrain_epochs
        return TrainState(
            params=params,
            decoder_biases=decoder_biases,
            decoder_weights=decoder_weights,
            opt_state=optimizers.init(self.optimizer, params, hparams.lr),
            pretrain_opt_states=[optimizers.init(self.pretrain_optimizer,
                                                 (pretraining.with_decoder(params[i], decoder_weights[i]), decoder_biases[i]),
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

    def with_finetuning_optimizer(self, state: TrainState, hparams: Hparams, data: Optional[Data] = None) -> TrainState:
        """``state`` with a fresh fine-tuning optimizer state for ``hparams.lr`` (the state holds the
        learning rate): where the fine-tuning lr enters a run, so that a pre-trained stack serves every lr."""
        return state._replace(opt_state=optimizers.init(self.optimizer, state.params, hparams.lr))

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, params, hparams: Hparams, x: Array, y: Array) -> tuple[Array, Array]:
        """:func:`deep_sparse.evaluation.evaluate` of this run's activation, task and chunk size."""
        return evaluation.evaluate(params, self.activation(hparams), x, y, self.config.task, self.config.eval_batch_size)

    def example_errors(self, params, hparams: Hparams, x: Array, y: Array) -> Array:
        """:func:`deep_sparse.evaluation.example_errors` of this run's activation, task and chunk size."""
        return evaluation.example_errors(params, self.activation(hparams), x, y, self.config.task,
                                         self.config.eval_batch_size)

    def activity(self, params, hparams: Hparams, x: Array) -> tuple[Array, Array]:
        """:func:`deep_sparse.evaluation.activity` of this run's activation and chunk size."""
        return evaluation.activity(params, self.activation(hparams), x, self.config.eval_batch_size)

    # ----------------------------------------------------------------- one epoch of each kind
    def _minibatches(self, key, n_examples: int) -> Array:
        batch_size = self.config.batch_size
        n_batches = n_examples // batch_size  # the last partial mini-batch of each epoch is dropped
        order = jax.random.permutation(key, n_examples)
        return order[: n_batches * batch_size].reshape(n_batches, batch_size)

    def finetune_objective(self, params, hparams: Hparams, x: Array, y: Array) -> Array:
        """Softmax NLL plus the L1 activation penalty (section 4.1)."""
        logits, hidden = mlp.apply(params, x, self.activation(hparams))
        return mlp.softmax_nll(logits, y) + mlp.l1_penalty(hidden, hparams.l1)

    def finetune_epoch(self, state: TrainState, hparams: Hparams, data: Optional[Data] = None) -> TrainState:
        """One supervised epoch, then validation, model selection and the stopping rule.

        A stopped run (early stop, divergence or last epoch done) passes through unchanged.
        """
        return unless_stopped(self._finetune_run, state, hparams, self._data(data))

    def _finetune_run(self, state: TrainState, hparams: Hparams, data: Data) -> TrainState:
        key, batch_key = jax.random.split(state.key)
        params, opt_state, train_loss = self._sgd_epoch(state, hparams, data, batch_key)
        valid_error, valid_sparsity = self.evaluate(params, hparams, data.x_valid, data.y_valid)
        return self._select_and_stop(state._replace(key=key), params, opt_state, train_loss,
                                     valid_error, valid_sparsity)

    def _sgd_epoch(self, state: TrainState, hparams: Hparams, data: Data, batch_key):
        """One pass of minibatch SGD on the supervised objective; returns (params, opt_state, mean loss)."""
        batches = self._minibatches(batch_key, self.n_labeled(data))
        optimizer = self.optimizer  # its learning rate is in opt_state

        def step(carry, indices):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(self.finetune_objective)(
                params, hparams, data.x_train[indices], data.y_train[indices]
            )
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(step, (state.params, state.opt_state), batches)
        return params, opt_state, jnp.mean(losses)

    def _select_and_stop(self, state: TrainState, params, opt_state, train_loss: Array, valid_error: Array,
                         valid_sparsity: Array) -> TrainState:
        """Record a finished epoch: its curves, the best-validation parameters, and the stopping rule
        (divergence, patience, last epoch)."""
        config = self.config
        diverged = ~(jnp.isfinite(train_loss) & _all_finite(params) & jnp.isfinite(valid_error))
        epoch = state.epoch + 1
        improved = ~diverged & (valid_error < state.best_valid)
        bad_epochs = jnp.where(improved, 0, state.bad_epochs + 1)
        patience_over = bad_epochs >= config.patience if config.patience is not None else jnp.bool_(False)
        index = state.epoch
        curves = state.curves._replace(
            train_loss=state.curves.train_loss.at[index].set(train_loss),
            # The diverged epoch's validation numbers were measured on non-finite parameters.
            valid_error=state.curves.valid_error.at[index].set(jnp.where(diverged, jnp.nan, valid_error)),
            valid_sparsity=state.curves.valid_sparsity.at[index].set(
                jnp.mean(valid_sparsity) if self.n_hidden else jnp.float32(0.0)
            ),
        )
        return state._replace(
            # A diverged network keeps its last finite parameters, so it costs no NaN arithmetic
            # from here on and can never leak non-finite values into a batched computation.
            params=_tree_where(diverged, state.params, params),
            opt_state=_tree_where(diverged, state.opt_state, opt_state),
            epoch=epoch,
            best_params=_tree_where(improved, params, state.best_params),
            best_valid=jnp.where(improved, valid_error, state.best_valid),
            best_epoch=jnp.where(improved, epoch, state.best_epoch),
            bad_epochs=bad_epochs,
            stopped=diverged | patience_over | (epoch >= config.epochs),
            diverged=diverged,
            curves=curves,
        )

    def pretrain_input(self, below: list, act, x: Array, input_range=None,
                       code_scale=None) -> tuple[Array, Optional[Array]]:
        """Input of the next auto-encoder (the clean code of the frozen layers ``below``) and its
        reconstruction target when it is not that input (None otherwise).

        ``linear_squared_before`` reconstructs the layer below's pre-activations (section 3.2,
        strategy 3). ``sigmoid_cross_entropy`` needs codes in [0, 1] (strategy 2): with ``code_scale =
        (low, span)`` (:meth:`code_scale`) the input is ``(h - low) / span`` and the target that clipped
        to [0, 1] (a validation code may pass the training maximum); without it tanh codes are mapped
        by ``(h + 1) / 2``, other codes divided by their mini-batch maximum
        (:func:`deep_sparse.dae.scale_to_unit_interval`). Raw inputs are their own target when the
        reconstruction layer can produce them; otherwise (``input_range = (low, high)`` of the training
        inputs, e.g. NORB's [-1, 1]) the target is the input mapped affinely onto [0, 1], the range of
        a sigmoid, also reachable by a softplus or rectifier output.
        """
        if not below and input_range is not None:
            return x, self._reachable_target(x, *input_range)
        code, pre_activation = x, None
        for layer in below:
            pre_activation = mlp.dense(layer, code)
            code = act(pre_activation)
        if self.pretrain_strategy == "linear_squared_before" and pre_activation is not None:
            return code, pre_activation
        if self.pretrain_strategy == "sigmoid_cross_entropy" and below:
            if code_scale is None and self.config.activation == "tanh":
                code_scale = pretraining.TANH_CODE_SCALE
            if code_scale is not None:
                low, span = code_scale
                scaled = (code - low) / span
                return scaled, jnp.clip(scaled, 0.0, 1.0)
            code = dae.scale_to_unit_interval(code)
        return code, None

    def code_scale(self, below: list, act, x: Array) -> Optional[tuple[Array, Array]]:
        """``(low, span)`` of the fixed map ``u = (h - low) / span`` of the code ``h`` of the frozen layers
        ``below`` onto [0, 1], for a ``sigmoid_cross_entropy`` auto-encoder on non-negative codes
        (section 4.2: "when a new layer is stacked, activation values of the previous layer are scaled
        within the interval [0, 1]"): low 0, span the largest code value over the pre-training inputs
        ``x``; tanh codes: low -1, span 2 (``u = (h + 1) / 2``). A fixed map is absorbed by the encoder's
        weights (:func:`~deep_sparse.pretraining.to_code_units`), so that the fine-tuned network, which sees ``h``, computes
        exactly the encoder the auto-encoder trained. None where codes are not scaled: the first layer
        and other strategies.
        """
        if self.pretrain_strategy != "sigmoid_cross_entropy" or not below:
            return None
        if self.config.activation == "tanh":
            return tuple(jnp.float32(value) for value in pretraining.TANH_CODE_SCALE)

        def chunk_max(x_chunk):
            code = x_chunk
            for layer in below:
                code = act(mlp.dense(layer, code))
            return jnp.max(code)

        top = evaluation.max_over_chunks(chunk_max, x, self.config.eval_batch_size)
        return jnp.float32(0.0), jnp.where(top > 1e-12, top, jnp.float32(1.0))

    def _reachable_target(self, x: Array, low: Array, high: Array) -> Optional[Array]:
        if self.pretrain_strategy in ("linear_squared_before", "linear_squared_after"):
            return None  # a linear reconstruction reaches any value
        outside = (low < 0) | (high > 1) if self.pretrain_strategy == "sigmoid_cross_entropy" else low < 0
        return jnp.where(outside, (x - low) / jnp.maximum(high - low, 1e-12), x)

    def pretrain_objective(self, layer_and_bias, hparams: Hparams, key, code: Array, layer_index: int,
                           target: Optional[Array] = None) -> Array:
        """DAE objective of hidden layer ``layer_index`` on the (clean) code of the layers below."""
        layer, decoder_bias = layer_and_bias
        corruption = self.config.corruption
        if layer_index == 0 and self.config.first_layer_corruption is not None:
            corruption = self.config.first_layer_corruption
        return dae.dae_loss(
            key, layer, decoder_bias, code, self.activation(hparams), self.pretrain_strategy,
            corruption, hparams.noise_level, hparams.l1, target=target,
        )

    def pretrain_valid_loss(self, below: list, layer: dict, decoder_bias: Array, hparams: Hparams, x: Array,
                            input_range=None, code_scale=None) -> Array:
        """Reconstruction error of the auto-encoder of the next layer (``layer`` in the auto-encoder's
        units, see :meth:`code_scale`) on clean inputs ``x`` (the validation set): no corruption and no
        L1 term, the cost the paper selects pre-training on ("the lowest reconstruction error")."""
        act = self.activation(hparams)

        def chunk_total(x_chunk):
            code, target = self.pretrain_input(below, act, x_chunk, input_range, code_scale)
            loss = dae.reconstruction_loss(layer, decoder_bias, code, code, act, self.pretrain_strategy, target=target)
            return loss * x_chunk.shape[0]

        # in chunks, like the evaluation: a whole split's codes at once would not fit a chunk of networks
        return evaluation.sum_over_chunks(chunk_total, (x,), self.config.eval_batch_size) / x.shape[0]

    def init_decoder_weights(self, init_key, sizes: tuple[int, ...]) -> list:
        """None per hidden layer with tied weights; else each decoder ``W_dec`` (units, inputs) drawn from
        the same normalized uniform range as its encoder, from keys of its own (the encoders' draws are
        those of the tied network)."""
        if self.config.tied_decoder:
            return [None] * self.n_hidden
        return [jax.random.uniform(jax.random.fold_in(init_key, 1 + i), (n_out, n_in), jnp.float32,
                                   -mlp.glorot_uniform_limit(n_in, n_out), mlp.glorot_uniform_limit(n_in, n_out))
                for i, (n_in, n_out) in enumerate(zip(sizes[: self.n_hidden], sizes[1: self.n_hidden + 1]))]

    def pretrain_epoch(self, state: TrainState, hparams: Hparams, data: Optional[Data], layer_index: int) -> TrainState:
        """One epoch of denoising auto-encoder training of hidden layer ``layer_index`` (section 3.2).

        Uses the whole training set, labels unused (the semi-supervised setting of Figure 4), or
        ``data.x_pretrain`` when given (section 4.2's unlabeled reviews). The layers below are frozen
        and applied without noise; the corruption touches only this layer's input. Scaled codes
        (:meth:`code_scale`) are trained in the auto-encoder's units and stored in the network's.
        """
        run = functools.partial(self._pretrain_run, layer_index=layer_index)
        return unless_stopped(run, state, hparams, self._data(data))

    def _pretrain_run(self, state: TrainState, hparams: Hparams, data: Data, layer_index: int) -> TrainState:
        act = self.activation(hparams)
        x_pretrain = data.pretrain_inputs
        key, batch_key, noise_key = jax.random.split(state.key, 3)
        below = state.params[:layer_index]
        input_range = (jnp.min(x_pretrain), jnp.max(x_pretrain))
        code_scale = self.code_scale(below, act, x_pretrain)
        start = (pretraining.with_decoder(pretraining.to_code_units(state.params[layer_index], code_scale),
                               state.decoder_weights[layer_index]), state.decoder_biases[layer_index])
        (layer, decoder_bias), opt_state, mean_loss = self._dae_epoch(
            start, state.pretrain_opt_states[layer_index], hparams, below, act, x_pretrain,
            (input_range, code_scale), (batch_key, noise_key), layer_index)
        # every reconstruction cost is >= 0: a negative one left its valid range (an error, kept
        # out like a divergence, never a number to select on)
        diverged = ~(jnp.isfinite(mean_loss) & (mean_loss >= 0) & _all_finite((layer, decoder_bias)))
        layer, decoder_bias = _tree_where(diverged, start, (layer, decoder_bias))
        valid_loss = self.pretrain_valid_loss(below, layer, decoder_bias, hparams, data.x_valid, input_range,
                                              code_scale)
        # measured on the parameters from before the diverged epoch: not this epoch's number, and never
        # a reconstruction error to select a stack on
        valid_loss = jnp.where(diverged, jnp.nan, valid_loss)
        layer, decoder_weights = pretraining.without_decoder(layer)
        layer = _tree_where(diverged, state.params[layer_index], pretraining.from_code_units(layer, code_scale))
        return self._record_pretrain_epoch(state._replace(key=key), layer_index, layer,
                                           (decoder_bias, decoder_weights), opt_state, mean_loss, valid_loss,
                                           diverged)

    def _dae_epoch(self, start, opt_state, hparams: Hparams, below: list, act, x_pretrain: Array, scales, keys,
                   layer_index: int):
        """One pass of minibatch SGD on the auto-encoder of layer ``layer_index``, from ``start`` =
        (layer in code units, decoder bias); ``scales`` = (input range, code scale), ``keys`` = (minibatch
        key, corruption key). Returns ((layer, decoder bias), opt_state, mean loss)."""
        input_range, code_scale = scales
        batch_key, noise_key = keys
        batches = self._minibatches(batch_key, int(x_pretrain.shape[0]))
        noise_keys = jax.random.split(noise_key, batches.shape[0])
        optimizer = self.pretrain_optimizer  # its learning rate is in opt_state

        def step(carry, inputs):
            layer_and_bias, opt_state = carry
            indices, step_key = inputs
            code, target = self.pretrain_input(below, act, x_pretrain[indices], input_range, code_scale)
            loss, grads = jax.value_and_grad(self.pretrain_objective)(
                layer_and_bias, hparams, step_key, code, layer_index, target
            )
            updates, opt_state = optimizer.update(grads, opt_state, layer_and_bias)
            return (optax.apply_updates(layer_and_bias, updates), opt_state), loss

        (layer_and_bias, opt_state), losses = jax.lax.scan(step, (start, opt_state), (batches, noise_keys))
        return layer_and_bias, opt_state, jnp.mean(losses)

    @staticmethod
    def _record_pretrain_epoch(state: TrainState, layer_index: int, layer: dict, decoder: tuple, opt_state,
                               mean_loss: Array, valid_loss: Array, diverged: Array) -> TrainState:
        """Store layer ``layer_index``'s auto-encoder after an epoch (``decoder`` = its (bias, weights or
        None)), its curves, and the stop on divergence."""
        params = list(state.params)
        params[layer_index] = layer
        decoder_biases, decoder_weights = list(state.decoder_biases), list(state.decoder_weights)
        decoder_biases[layer_index], decoder_weights[layer_index] = decoder
        opt_states = list(state.pretrain_opt_states)
        opt_states[layer_index] = opt_state
        epoch_index = state.pretrain_epoch[layer_index]
        curves = state.curves._replace(
            pretrain_loss=state.curves.pretrain_loss.at[layer_index, epoch_index].set(mean_loss),
            pretrain_valid_loss=state.curves.pretrain_valid_loss.at[layer_index, epoch_index].set(valid_loss),
        )
        return state._replace(
            params=params,
            best_params=params,  # fine-tuning starts from the pre-trained parameters
            decoder_biases=decoder_biases,
            decoder_weights=decoder_weights,
            pretrain_opt_states=opt_states,
            pretrain_epoch=state.pretrain_epoch.at[layer_index].add(1),
            stopped=diverged,
            diverged=diverged,
            curves=curves,
        )

    # ----------------------------------------------------------------- result
    def finalize(self, state: TrainState, hparams: Hparams, data: Optional[Data] = None) -> Result:
        """Measure the best-validation parameters on every split."""
        data = self._data(data)
        best = state.best_params
        n_labeled = self.n_labeled(data)
        test_error, test_sparsity = self.evaluate(best, hparams, data.x_test, data.y_test)
        valid_error, _ = self.evaluate(best, hparams, data.x_valid, data.y_valid)
        train_error, _ = self.evaluate(best, hparams, data.x_train[:n_labeled], data.y_train[:n_labeled])
        top_class_share, silent_units = self.activity(best, hparams, data.x_valid)
        return Result(
            test_error=test_error,
            valid_error=valid_error,
            train_error=train_error,
            sparsity=jnp.mean(test_sparsity) if self.n_hidden else jnp.float32(0.0),
            sparsity_per_layer=test_sparsity,
            params=best,
            curves=state.curves,
            epochs_run=state.epoch,
            best_epoch=state.best_epoch,
            diverged=state.diverged,
            top_class_share=top_class_share,
            silent_units_per_layer=silent_units,
            test_example_errors=self.example_errors(best, hparams, data.x_test, data.y_test),
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
        data = self.bound_data if data is None else data
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
        activation=trainer.activation, check_data=trainer.check_data, bound_data=data,
    )


def wrong_on_test(config: TrainConfig, hparams: Hparams, seed: int, data: Data) -> tuple[np.ndarray, float]:
    """Train one network alone (``make_train(config)`` from ``PRNGKey(seed)``): which test examples it
    gets wrong, and its test error (a paired test's input for a row recorded without ``test_wrong``)."""
    trainer = make_train(config)
    result = jax.jit(trainer)(jax.random.PRNGKey(seed), hparams, data)
    logits, _ = mlp.apply(result.params, data.x_test, trainer.activation(hparams))
    return jax.device_get(jnp.argmax(logits, axis=-1) != data.y_test), float(result.test_error)
