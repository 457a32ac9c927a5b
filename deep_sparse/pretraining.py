"""Greedy layer-wise pre-training (sections 3.2 and 4.2) around the DAE cost of :mod:`deep_sparse.dae`:
the input and reconstruction target of the next auto-encoder (the clean code of the frozen layers below,
scaled into [0, 1] where the cost needs it; a target the decoder can reach), the network's layer written
in the auto-encoder's code units and back, decoders with weights of their own, the validation
reconstruction error that selects the pre-training lr, and one epoch of one layer's auto-encoder.

Pure functions of a :class:`~deep_sparse.config.TrainConfig` and arrays; :mod:`deep_sparse.train` puts
one epoch per hidden layer and pre-training epoch in front of fine-tuning.
"""
from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp
import optax

from deep_sparse import dae, evaluation, mlp, optimizers
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.inputs import Data
from deep_sparse.train_state import TrainState, activation, all_finite, minibatches, tree_where

Array = jax.Array

# (low, span) of the map u = (h - low) / span of tanh codes onto [0, 1], the cross-entropy targets' range
TANH_CODE_SCALE = (-1.0, 2.0)


def to_code_units(layer: dict, code_scale) -> dict:
    """The fine-tuned network's ``layer`` (applied to a code ``h``) as the auto-encoder's encoder on the
    scaled code ``u = (h - low) / span`` (``code_scale = (low, span)``, None: no scaling): the same
    function, ``u (span W) + (b + low sum_rows W) = h W + b``."""
    if code_scale is None:
        return layer
    low, span = code_scale
    return dict(layer, w=layer["w"] * span, b=layer["b"] + low * jnp.sum(layer["w"], axis=0))


def from_code_units(layer: dict, code_scale) -> dict:
    """The inverse of :func:`to_code_units`: the auto-encoder's encoder back as the network's layer."""
    if code_scale is None:
        return layer
    low, span = code_scale
    w = layer["w"] / span
    return dict(layer, w=w, b=layer["b"] - low * jnp.sum(w, axis=0))


def with_decoder(layer: dict, decoder_weights) -> dict:
    """The auto-encoder's parameters of ``layer``: with its decoder's own weights when it has them."""
    return layer if decoder_weights is None else dict(layer, w_dec=decoder_weights)


def without_decoder(layer: dict) -> tuple[dict, Optional[Array]]:
    """The inverse of :func:`with_decoder`: (the network's layer, the decoder's weights or None)."""
    layer = dict(layer)
    return layer, layer.pop("w_dec", None)


# ------------------------------------------------------------------------ the auto-encoder's input
def strategy(config: TrainConfig) -> str:
    """The auto-encoders' reconstruction cost: ``config.pretrain_strategy``, else the activation's
    (:func:`deep_sparse.dae.default_strategy`)."""
    return config.pretrain_strategy or dae.default_strategy(config.activation)


def autoencoder_input(config: TrainConfig, below: list, act, x: Array, input_range=None,
                      code_scale=None) -> tuple[Array, Optional[Array]]:
    """Input of the next auto-encoder (the clean code of the frozen layers ``below``) and its
    reconstruction target when it is not that input (None otherwise).

    ``linear_squared_before`` reconstructs the layer below's pre-activations (section 3.2,
    strategy 3). ``sigmoid_cross_entropy`` needs codes in [0, 1] (strategy 2): with ``code_scale =
    (low, span)`` (:func:`code_scale`) the input is ``(h - low) / span`` and the target that clipped
    to [0, 1] (a validation code may pass the training maximum); without it tanh codes are mapped
    by ``(h + 1) / 2``, other codes divided by their mini-batch maximum
    (:func:`deep_sparse.dae.scale_to_unit_interval`). Raw inputs are their own target when the
    reconstruction layer can produce them; otherwise (``input_range = (low, high)`` of the training
    inputs, e.g. NORB's [-1, 1]) the target is the input mapped affinely onto [0, 1], the range of
    a sigmoid, also reachable by a softplus or rectifier output.
    """
    cost = strategy(config)
    if not below and input_range is not None:
        return x, reachable_target(config, x, *input_range)
    code, pre_activation = x, None
    for layer in below:
        pre_activation = mlp.dense(layer, code)
        code = act(pre_activation)
    if cost == "linear_squared_before" and pre_activation is not None:
        return code, pre_activation
    if cost == "sigmoid_cross_entropy" and below:
        if code_scale is None and config.activation == "tanh":
            code_scale = TANH_CODE_SCALE
        if code_scale is not None:
            low, span = code_scale
            scaled = (code - low) / span
            return scaled, jnp.clip(scaled, 0.0, 1.0)
        code = dae.scale_to_unit_interval(code)
    return code, None


def code_scale(config: TrainConfig, below: list, act, x: Array) -> Optional[tuple[Array, Array]]:
    """``(low, span)`` of the fixed map ``u = (h - low) / span`` of the code ``h`` of the frozen layers
    ``below`` onto [0, 1], for a ``sigmoid_cross_entropy`` auto-encoder on non-negative codes
    (section 4.2: "when a new layer is stacked, activation values of the previous layer are scaled
    within the interval [0, 1]"): low 0, span the largest code value over the pre-training inputs
    ``x``; tanh codes: low -1, span 2 (``u = (h + 1) / 2``). A fixed map is absorbed by the encoder's
    weights (:func:`to_code_units`), so that the fine-tuned network, which sees ``h``, computes exactly
    the encoder the auto-encoder trained. None where codes are not scaled: the first layer and other
    strategies.
    """
    if strategy(config) != "sigmoid_cross_entropy" or not below:
        return None
    if config.activation == "tanh":
        return tuple(jnp.float32(value) for value in TANH_CODE_SCALE)

    def chunk_max(x_chunk):
        code = x_chunk
        for layer in below:
            code = act(mlp.dense(layer, code))
        return jnp.max(code)

    top = evaluation.max_over_chunks(chunk_max, x, config.eval_batch_size)
    return jnp.float32(0.0), jnp.where(top > 1e-12, top, jnp.float32(1.0))


def reachable_target(config: TrainConfig, x: Array, low: Array, high: Array) -> Optional[Array]:
    """The first auto-encoder's target for raw inputs ``x`` in ``[low, high]``: None (``x`` itself) where
    the reconstruction reaches every input value, else ``x`` mapped affinely onto [0, 1]."""
    cost = strategy(config)
    if cost in ("linear_squared_before", "linear_squared_after"):
        return None  # a linear reconstruction reaches any value
    outside = (low < 0) | (high > 1) if cost == "sigmoid_cross_entropy" else low < 0
    return jnp.where(outside, (x - low) / jnp.maximum(high - low, 1e-12), x)


# ------------------------------------------------------------------------ costs
def dae_objective(config: TrainConfig, layer_and_bias, hparams: Hparams, key, code: Array, layer_index: int,
                  target: Optional[Array] = None) -> Array:
    """DAE objective of hidden layer ``layer_index`` on the (clean) code of the layers below."""
    layer, decoder_bias = layer_and_bias
    corruption = config.corruption
    if layer_index == 0 and config.first_layer_corruption is not None:
        corruption = config.first_layer_corruption
    return dae.dae_loss(
        key, layer, decoder_bias, code, activation(config, hparams), strategy(config),
        corruption, hparams.noise_level, hparams.l1, target=target,
    )


def valid_reconstruction(config: TrainConfig, below: list, layer: dict, decoder_bias: Array, hparams: Hparams,
                         x: Array, input_range=None, scale=None) -> Array:
    """Reconstruction error of the auto-encoder of the next layer (``layer`` in the auto-encoder's
    units, see :func:`code_scale`) on clean inputs ``x`` (the validation set): no corruption and no
    L1 term, the cost the paper selects pre-training on ("the lowest reconstruction error")."""
    act = activation(config, hparams)

    def chunk_total(x_chunk):
        code, target = autoencoder_input(config, below, act, x_chunk, input_range, scale)
        loss = dae.reconstruction_loss(layer, decoder_bias, code, code, act, strategy(config), target=target)
        return loss * x_chunk.shape[0]

    # in chunks, like the evaluation: a whole split's codes at once would not fit a chunk of networks
    return evaluation.sum_over_chunks(chunk_total, (x,), config.eval_batch_size) / x.shape[0]


# ------------------------------------------------------------------------ parameters
def optimizer() -> optax.GradientTransformation:
    """The auto-encoders' plain SGD; its rate, ``Hparams.pretrain_lr``, is held in its state."""
    return optimizers.sgd()


def init_optimizer_state(layer: dict, decoder_weights, decoder_bias: Array, pretrain_lr):
    """A fresh SGD state of one auto-encoder (its encoder ``layer``, decoder weights or None, decoder
    bias) at rate ``pretrain_lr``."""
    return optimizers.init(optimizer(), (with_decoder(layer, decoder_weights), decoder_bias), pretrain_lr)


def init_decoder_weights(config: TrainConfig, init_key, sizes: tuple[int, ...]) -> list:
    """None per hidden layer with tied weights; else each decoder ``W_dec`` (units, inputs) drawn from
    the same normalized uniform range as its encoder, from keys of its own (the encoders' draws are
    those of the tied network)."""
    n_hidden = len(config.hidden_sizes)
    if config.tied_decoder:
        return [None] * n_hidden
    return [jax.random.uniform(jax.random.fold_in(init_key, 1 + i), (n_out, n_in), jnp.float32,
                               -mlp.glorot_uniform_limit(n_in, n_out), mlp.glorot_uniform_limit(n_in, n_out))
            for i, (n_in, n_out) in enumerate(zip(sizes[:n_hidden], sizes[1: n_hidden + 1]))]


# ------------------------------------------------------------------------ one epoch
def pretrain_epoch(config: TrainConfig, state: TrainState, hparams: Hparams, data: Data,
                   layer_index: int) -> TrainState:
    """One epoch of denoising auto-encoder training of hidden layer ``layer_index`` (section 3.2).

    Uses the whole training set, labels unused (the semi-supervised setting of Figure 4), or
    ``data.x_pretrain`` when given (section 4.2's unlabeled reviews). The layers below are frozen
    and applied without noise; the corruption touches only this layer's input. Scaled codes
    (:func:`code_scale`) are trained in the auto-encoder's units and stored in the network's. An epoch
    whose cost leaves its valid range keeps the layer from before it and stops the run (diverged).
    """
    act = activation(config, hparams)
    x_pretrain = data.pretrain_inputs
    key, batch_key, noise_key = jax.random.split(state.key, 3)
    below = state.params[:layer_index]
    input_range = (jnp.min(x_pretrain), jnp.max(x_pretrain))
    scale = code_scale(config, below, act, x_pretrain)
    start = (with_decoder(to_code_units(state.params[layer_index], scale), state.decoder_weights[layer_index]),
             state.decoder_biases[layer_index])
    (layer, decoder_bias), opt_state, mean_loss = _dae_epoch(
        config, start, state.pretrain_opt_states[layer_index], hparams, below, act, x_pretrain,
        (input_range, scale), (batch_key, noise_key), layer_index)
    # every reconstruction cost is >= 0: a negative one left its valid range (an error, kept
    # out like a divergence, never a number to select on)
    diverged = ~(jnp.isfinite(mean_loss) & (mean_loss >= 0) & all_finite((layer, decoder_bias)))
    layer, decoder_bias = tree_where(diverged, start, (layer, decoder_bias))
    valid_loss = valid_reconstruction(config, below, layer, decoder_bias, hparams, data.x_valid, input_range, scale)
    # measured on the parameters from before the diverged epoch: not this epoch's number, and never
    # a reconstruction error to select a stack on
    valid_loss = jnp.where(diverged, jnp.nan, valid_loss)
    layer, decoder_weights = without_decoder(layer)
    layer = tree_where(diverged, state.params[layer_index], from_code_units(layer, scale))
    return _record_epoch(state._replace(key=key), layer_index, layer, (decoder_bias, decoder_weights), opt_state,
                         mean_loss, valid_loss, diverged)


def _dae_epoch(config: TrainConfig, start, opt_state, hparams: Hparams, below: list, act, x_pretrain: Array, scales,
               keys, layer_index: int):
    """One pass of minibatch SGD on the auto-encoder of layer ``layer_index``, from ``start`` =
    (layer in code units, decoder bias); ``scales`` = (input range, code scale), ``keys`` = (minibatch
    key, corruption key). Returns ((layer, decoder bias), opt_state, mean loss)."""
    input_range, scale = scales
    batch_key, noise_key = keys
    batches = minibatches(batch_key, int(x_pretrain.shape[0]), config.batch_size)
    noise_keys = jax.random.split(noise_key, batches.shape[0])
    sgd = optimizer()  # its learning rate is in opt_state
    objective = functools.partial(dae_objective, config)

    def step(carry, inputs):
        layer_and_bias, opt_state = carry
        indices, step_key = inputs
        code, target = autoencoder_input(config, below, act, x_pretrain[indices], input_range, scale)
        loss, grads = jax.value_and_grad(objective)(layer_and_bias, hparams, step_key, code, layer_index, target)
        updates, opt_state = sgd.update(grads, opt_state, layer_and_bias)
        return (optax.apply_updates(layer_and_bias, updates), opt_state), loss

    (layer_and_bias, opt_state), losses = jax.lax.scan(step, (start, opt_state), (batches, noise_keys))
    return layer_and_bias, opt_state, jnp.mean(losses)


def _record_epoch(state: TrainState, layer_index: int, layer: dict, decoder: tuple, opt_state, mean_loss: Array,
                  valid_loss: Array, diverged: Array) -> TrainState:
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
