"""Multi-layer perceptrons as pure functions over a list of layers (sections 3 and 4.1).

Parameters are a list of dicts, one per layer, input side first::

    params = [{"w": (n_0, n_1), "b": (n_1,)}, ..., {"w": (n_{L-1}, n_L), "b": (n_L,)}]

Layers 0..L-2 are hidden layers with the chosen activation; the last is the softmax output layer,
``logits = h_{L-1} W_L + b_L``. Being a plain pytree, ``params`` works with ``jax.tree_util``, optax
and orbax, and a stack of them (leading network axis) is what a vmapped sweep trains.
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from deep_sparse import activations as activations_lib
from deep_sparse import names
from deep_sparse import runtime  # noqa: F401 - pins the matmul precision before anything compiles

Array = jax.Array
Params = list  # list[dict[str, Array]]


def _is_concrete(value) -> bool:
    return not isinstance(value, jax.core.Tracer)


def check_layer_sizes(layer_sizes: Sequence[int]) -> tuple[int, ...]:
    """Validate ``layer_sizes`` (input, hidden..., output): at least two positive integers."""
    sizes = tuple(layer_sizes)
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes needs at least an input and an output size, got {sizes!r}")
    for position, size in enumerate(sizes):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"layer_sizes[{position}] must be a positive integer, got {size!r}")
    return tuple(int(size) for size in sizes)


def glorot_uniform_limit(fan_in: int, fan_out: int) -> float:
    """Half-width of the normalized uniform initialization: ``sqrt(6 / (fan_in + fan_out))``."""
    return float(np.sqrt(6.0 / (fan_in + fan_out)))


OUTPUT_LAYER_INITS = names.OUTPUT_LAYER_INITS


def init(key: Array, layer_sizes: Sequence[int], activation: str = "rectifier", hidden_bias: float = 0.0,
         output_layer: str = "uniform") -> Params:
    """Initialize an MLP with ``W ~ U[-r, r]``, ``r = sqrt(6 / (fan_in + fan_out))``, and ``b = 0``.

    This is the normalized uniform initialization of Bengio & Glorot (2010), the "uniform
    initialization of the weights" the paper refers to (section 3.1) from the same authors. With zero
    biases and weights symmetric around 0, each rectifier unit is zero on about half of the inputs,
    which gives the ~50% initial sparsity the paper states. For sigmoid units the range is multiplied
    by 4, as Bengio & Glorot (2010) recommend; every other activation uses the plain range.

    Two departures, for testing what the papers leave unsaid: ``hidden_bias`` is the constant every
    hidden bias starts at (a positive one makes more rectifier units active at the start), and
    ``output_layer="zeros"`` starts the softmax layer at ``W = 0, b = 0``, the convention of the
    logistic regression of the LISA lab's tutorials of the time. Neither changes the random draws of
    the other layers: the keys are split the same way whatever the options.
    """
    sizes = check_layer_sizes(layer_sizes)
    activations_lib.get(activation)  # fail early on an unknown name
    if output_layer not in OUTPUT_LAYER_INITS:
        raise ValueError(f"output_layer must be one of {OUTPUT_LAYER_INITS}, got {output_layer!r}")
    gain = 4.0 if activation == "sigmoid" else 1.0
    keys = jax.random.split(key, len(sizes) - 1)
    params = []
    for index, (layer_key, fan_in, fan_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        # The output layer is a softmax regression: plain range whatever the hidden activation.
        is_output = index == len(sizes) - 2
        limit = glorot_uniform_limit(fan_in, fan_out) * (1.0 if is_output else gain)
        w = jax.random.uniform(layer_key, (fan_in, fan_out), jnp.float32, -limit, limit)
        if is_output and output_layer == "zeros":
            w = jnp.zeros_like(w)
        bias = 0.0 if is_output else hidden_bias
        params.append({"w": w, "b": jnp.full((fan_out,), bias, jnp.float32)})
    return params


def layer_sizes_of(params: Params) -> tuple[int, ...]:
    """The layer sizes ``(n_0, ..., n_L)`` of ``params``; raises ValueError if the layers do not chain."""
    if not params:
        raise ValueError("params is empty: an MLP needs at least one layer")
    sizes = None
    for index, layer in enumerate(params):
        w, b = layer["w"], layer["b"]
        if w.ndim < 2 or b.ndim < 1:
            raise ValueError(
                f"layer {index}: weights must be (n_in, n_out) and bias (n_out,), got shapes "
                f"{tuple(w.shape)} and {tuple(b.shape)}"
            )
        if sizes is None:
            sizes = [int(w.shape[-2])]
        if w.shape[-2] != sizes[-1]:
            raise ValueError(
                f"layer {index} expects {w.shape[-2]} inputs but layer {index - 1} has {sizes[-1]} outputs"
            )
        if b.shape[-1] != w.shape[-1]:
            raise ValueError(f"layer {index}: bias has {b.shape[-1]} entries, weights have {w.shape[-1]} outputs")
        sizes.append(int(w.shape[-1]))
    return tuple(sizes)


def dense(layer: dict, x: Array) -> Array:
    """Affine map of one layer: ``x W + b``."""
    return x @ layer["w"] + layer["b"]


def apply(
    params: Params,
    x: Array,
    activation: str | Callable[[Array], Array] = "rectifier",
    **activation_params,
) -> tuple[Array, list[Array]]:
    """Forward pass: ``h_0 = x``, ``h_i = act(h_{i-1} W_i + b_i)`` for hidden layers, then the logits.

    Returns ``(logits, hidden)`` where ``hidden`` is the list of every hidden layer's activations
    (empty for a network with no hidden layer). ``activation_params`` go to the activation (e.g.
    ``alpha=3.0`` for ``scaled_softplus``) and may be traced.
    """
    sizes = layer_sizes_of(params)
    if x.shape[-1] != sizes[0]:
        raise ValueError(f"input has width {x.shape[-1]}, but the network expects {sizes[0]} inputs")
    act = activations_lib.get(activation, **activation_params)
    hidden = []
    h = x
    for layer in params[:-1]:
        h = act(dense(layer, h))
        hidden.append(h)
    return dense(params[-1], h), hidden


def softmax_nll(logits: Array, labels: Array) -> Array:
    """Mean negative log-likelihood ``-log P(correct class | x)`` of a softmax output (section 4.1)."""
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[..., None].astype(jnp.int32), axis=-1))


def check_l1_coefficient(coefficient) -> None:
    """Raise ValueError for a concrete negative (or NaN) L1 coefficient; traced values pass through."""
    if _is_concrete(coefficient):
        value = np.asarray(coefficient)
        if np.any(~(value >= 0)):
            raise ValueError(f"L1 coefficient must be >= 0, got {coefficient!r}")


def l1_penalty(hidden: Sequence[Array], coefficient: Array | float) -> Array:
    """L1 penalty on activations (sections 3.1, 4.1).

    ``coefficient * sum_layers mean_examples sum_units |h|``: the L1 norm of each example's code,
    averaged over the mini-batch and summed over hidden layers. With the paper's coefficient 0.001 and
    1000-unit layers this is of the order of the NLL, which is what drives the 70-85% sparsity of
    Figure 3. ``coefficient`` may be traced (vmap over it); a concrete negative value raises ValueError.
    """
    check_l1_coefficient(coefficient)
    total = sum(jnp.mean(jnp.sum(jnp.abs(h), axis=-1)) for h in hidden) if hidden else jnp.float32(0.0)
    return coefficient * total


def error_rate(logits: Array, labels: Array) -> Array:
    """Fraction of examples whose arg-max class differs from the label."""
    return jnp.mean(jnp.argmax(logits, axis=-1) != labels)
