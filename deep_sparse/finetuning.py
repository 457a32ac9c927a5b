"""Supervised fine-tuning (section 4.1): the objective (softmax NLL plus the L1 activation penalty) and
one epoch of it, followed by validation, the choice of the best-validation parameters and the stopping
rule (divergence, patience, last epoch). Pure functions of a :class:`~deep_sparse.config.TrainConfig`,
an optax optimizer whose learning rate is in its state (:mod:`deep_sparse.optimizers`) and arrays;
:mod:`deep_sparse.train` runs the epochs after pre-training.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from deep_sparse import evaluation, mlp
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.inputs import Data
from deep_sparse.train_state import TrainState, activation, all_finite, minibatches, tree_where

Array = jax.Array


def objective(config: TrainConfig, params, hparams: Hparams, x: Array, y: Array) -> Array:
    """Softmax NLL plus the L1 activation penalty (section 4.1)."""
    logits, hidden = mlp.apply(params, x, activation(config, hparams))
    return mlp.softmax_nll(logits, y) + mlp.l1_penalty(hidden, hparams.l1)


def n_labeled(config: TrainConfig, n_train: int) -> int:
    """How many of ``n_train`` training examples fine-tuning reads (the first ``labeled_fraction``)."""
    return int(round(config.labeled_fraction * n_train))


def finetune_epoch(config: TrainConfig, optimizer: optax.GradientTransformation, state: TrainState,
                   hparams: Hparams, data: Data) -> TrainState:
    """One supervised epoch, then validation, model selection and the stopping rule."""
    key, batch_key = jax.random.split(state.key)
    params, opt_state, train_loss = _sgd_epoch(config, optimizer, state, hparams, data, batch_key)
    valid_error, valid_sparsity = evaluation.evaluate(params, activation(config, hparams), data.x_valid, data.y_valid,
                                                      config.task, config.eval_batch_size)
    return _select_and_stop(config, state._replace(key=key), params, opt_state, train_loss, valid_error,
                            valid_sparsity)


def _sgd_epoch(config: TrainConfig, optimizer: optax.GradientTransformation, state: TrainState, hparams: Hparams,
               data: Data, batch_key):
    """One pass of minibatch SGD on the supervised objective; returns (params, opt_state, mean loss)."""
    batches = minibatches(batch_key, n_labeled(config, int(data.x_train.shape[0])), config.batch_size)
    loss_of = functools.partial(objective, config)

    def step(carry, indices):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(loss_of)(params, hparams, data.x_train[indices], data.y_train[indices])
        updates, opt_state = optimizer.update(grads, opt_state, params)  # its learning rate is in opt_state
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, opt_state), losses = jax.lax.scan(step, (state.params, state.opt_state), batches)
    return params, opt_state, jnp.mean(losses)


def _select_and_stop(config: TrainConfig, state: TrainState, params, opt_state, train_loss: Array,
                     valid_error: Array, valid_sparsity: Array) -> TrainState:
    """Record a finished epoch: its curves, the best-validation parameters, and the stopping rule
    (divergence, patience, last epoch)."""
    diverged = ~(jnp.isfinite(train_loss) & all_finite(params) & jnp.isfinite(valid_error))
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
            jnp.mean(valid_sparsity) if config.hidden_sizes else jnp.float32(0.0)
        ),
    )
    return state._replace(
        # A diverged network keeps its last finite parameters, so it costs no NaN arithmetic
        # from here on and can never leak non-finite values into a batched computation.
        params=tree_where(diverged, state.params, params),
        opt_state=tree_where(diverged, state.opt_state, opt_state),
        epoch=epoch,
        best_params=tree_where(improved, params, state.best_params),
        best_valid=jnp.where(improved, valid_error, state.best_valid),
        best_epoch=jnp.where(improved, epoch, state.best_epoch),
        bad_epochs=bad_epochs,
        stopped=diverged | patience_over | (epoch >= config.epochs),
        diverged=diverged,
        curves=curves,
    )
