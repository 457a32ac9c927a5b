"""What a run carries from epoch to epoch and what every epoch does with it: the state
(:class:`TrainState`, its learning :class:`Curves`), the hidden activation of a config, the order of an
epoch's mini-batches, and the skip of a stopped network. The epochs themselves are in
:mod:`deep_sparse.pretraining` (one denoising auto-encoder epoch) and :mod:`deep_sparse.finetuning`
(one supervised epoch); :mod:`deep_sparse.train` orders them into a run.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from deep_sparse import activations as activations_lib
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.inputs import Data

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


def tree_where(condition, if_true, if_false):
    """``if_true`` where ``condition`` else ``if_false``, leaf by leaf (a select, never a branch)."""
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


def all_finite(tree) -> Array:
    """Whether every entry of every leaf of ``tree`` is finite."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def raw_key(key) -> Array:
    """``key``'s raw uint32 data (a typed key unwrapped; a raw key as it is): what a state carries."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key


def activation(config: TrainConfig, hparams: Hparams) -> Callable[[Array], Array]:
    """The hidden activation of ``config`` as a function (the rescaled softplus with ``hparams.alpha``)."""
    if config.activation == "scaled_softplus":
        return activations_lib.get("scaled_softplus", alpha=hparams.alpha)
    return activations_lib.get(config.activation)


def minibatches(key, n_examples: int, batch_size: int) -> Array:
    """``(batches, batch_size)`` example indices of one epoch in the order of ``key``; the last partial
    mini-batch of each epoch is dropped."""
    n_batches = n_examples // batch_size
    order = jax.random.permutation(key, n_examples)
    return order[: n_batches * batch_size].reshape(n_batches, batch_size)
