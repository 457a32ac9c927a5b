"""Denoising auto-encoders with tied weights, for greedy layer-wise pre-training (section 3.2).

One auto-encoder sits on ONE layer of an :mod:`deep_sparse.mlp` params list,
``layer = {"w": (n_in, n_out), "b": (n_out,)}``, plus its own decoder bias of shape ``(n_in,)``.
The decoder is the encoder transposed (tied weights, as in the workshop paper):

    code           c = act(x~ W + b)                          (encoder, x~ the corrupted input)
    f(x~, theta)     = c W^T + b_dec                          (linear reconstruction, section 3.2)

and a reconstruction strategy puts an output non-linearity and a cost on top of ``f``:

=========================  ==================  ============================  ===========================
strategy                   output              cost                          target
=========================  ==================  ============================  ===========================
``softplus_squared``       softplus(f)         squared error                 clean input (strategy 1)
``sigmoid_cross_entropy``  sigmoid(f)          cross-entropy (from logits)   clean input in [0, 1] (2)
``linear_squared_before``  f                   squared error                 previous pre-activations (3)
``linear_squared_after``   f                   squared error                 previous post-activations (3)
``rectifier_squared``      max(f, 0)           squared error                 clean input (strategy 4)
``softplus_squared_abs``   softplus(f)         squared error                 |clean input|
=========================  ==================  ============================  ===========================

``softplus_squared_abs`` is not one of section 3.2's strategies: it is a reading of section 4.1's
"quadratic cost over a softplus reconstruction layer" for the half-negated rectifier, whose codes are
<= 0 on the negated half: the reconstruction aims at the codes' magnitudes (each unit's output before
its sign flip), which a softplus output can reach, instead of the signed codes, which it cannot.

``sigmoid_cross_entropy`` is also the reconstruction the paper uses for tanh networks (section 4.1).
Costs are summed over input units and averaged over examples. Corruption (masking noise, section 4.1;
i.i.d. Gaussian noise, workshop paper; salt-and-pepper noise, section 4.2; :mod:`deep_sparse.corruption`)
is applied to the input only; the target is always clean.

Everything is pure and jit-, grad- and vmap-safe; corruption levels and the L1 coefficient may be
traced, so a sweep can ``vmap`` over them.
"""
from __future__ import annotations

from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from deep_sparse import activations as activations_lib
from deep_sparse import corruption as corruption_lib
from deep_sparse import mlp as mlp_lib

Array = jax.Array

# section 3.2's reconstruction strategies (3 in two variants: the targets before or after the activation)
PAPER_STRATEGIES = (
    "softplus_squared",
    "sigmoid_cross_entropy",
    "linear_squared_before",
    "linear_squared_after",
    "rectifier_squared",
)
STRATEGIES = (*PAPER_STRATEGIES, "softplus_squared_abs")


def _is_concrete(value) -> bool:
    return not isinstance(value, jax.core.Tracer)


def _float(x) -> Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


# ----------------------------------------------------------------------------------------------
# Tied-weights auto-encoder over one layer
# ----------------------------------------------------------------------------------------------
def init_decoder_bias(n_in: int) -> Array:
    """Decoder bias ``b_dec``, initialized to zeros, shape ``(n_in,)`` (section 3.2)."""
    if isinstance(n_in, bool) or not isinstance(n_in, (int, np.integer)) or n_in < 1:
        raise ValueError(f"n_in must be a positive integer, got {n_in!r}")
    return jnp.zeros((int(n_in),), jnp.float32)


def _describe(value) -> str:
    if isinstance(value, dict):
        return f"a dict with keys {sorted(value)}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"an array of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def _check_arguments(function: str, signature: str, key=None, layer=None, decoder_bias=None, **inputs) -> None:
    """The types and ranks of ``function``'s arguments (static facts, so this also runs on tracers):
    arguments given in the wrong order get a ValueError that names the one that is wrong and the
    expected order, rather than a shape error from deep inside the math."""
    problem = None
    if key is not None and not (hasattr(key, "dtype") and (jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
                                                           or (key.dtype == jnp.uint32 and key.ndim >= 1))):
        problem = f"key must be a PRNG key (jax.random.key(0) or jax.random.PRNGKey(0)), got {_describe(key)}"
    elif not (isinstance(layer, Mapping) and "w" in layer and "b" in layer):
        problem = f"layer must be a dict {{'w': (n_in, n_out), 'b': (n_out,)}}, got {_describe(layer)}"
    elif decoder_bias is not None and getattr(decoder_bias, "ndim", None) != 1:
        problem = f"decoder_bias must be a vector (n_in,), got {_describe(decoder_bias)}"
    else:
        for name, x in inputs.items():
            if x is not None and (isinstance(x, Mapping) or np.ndim(x) < 1):
                problem = f"{name} must be an array of examples (n, n_in), got {_describe(x)}"
                break
    if problem:
        raise ValueError(f"{function}: {problem}; the arguments are {function}({signature})")


def _check_layer(layer: dict, decoder_bias: Array | None, x: Array | None) -> None:
    w, b = layer["w"], layer["b"]
    if w.ndim != 2:
        raise ValueError(f"layer['w'] must be a matrix (n_in, n_out), got shape {tuple(w.shape)}")
    if b.shape != (w.shape[1],):
        raise ValueError(f"layer['b'] has shape {tuple(b.shape)}, expected ({w.shape[1]},) to match the weights")
    if decoder_bias is not None and tuple(decoder_bias.shape) != (w.shape[0],):
        raise ValueError(
            f"decoder_bias has shape {tuple(decoder_bias.shape)}, expected ({w.shape[0]},) = the layer's inputs"
        )
    if x is not None and x.shape[-1] != w.shape[0]:
        raise ValueError(f"input has width {x.shape[-1]}, but the layer expects {w.shape[0]} inputs")
    if "w_dec" in layer and tuple(layer["w_dec"].shape) != (w.shape[1], w.shape[0]):
        raise ValueError(f"layer['w_dec'] has shape {tuple(layer['w_dec'].shape)}, expected "
                         f"({w.shape[1]}, {w.shape[0]}) = (units, inputs)")


def encode(layer: dict, x: Array, activation: str | Callable = "rectifier", **activation_params) -> Array:
    """Encoder (section 3.2): ``c = act(x W + b)``, the layer's ordinary forward pass."""
    _check_layer(layer, None, x)
    act = activations_lib.get(activation, **activation_params)
    return act(mlp_lib.dense(layer, x))


def reconstruct_preactivation(layer: dict, decoder_bias: Array, code: Array) -> Array:
    """Linear reconstruction (section 3.2): ``f = c W_dec + b_dec``.

    Tied weights (the workshop paper's, and the default): ``W_dec = W_enc^T``, so only ``b_dec`` is
    extra. A decoder of its own, ``(W_enc, b_enc, W_dec, b_dec)`` as section 3.2 of the AISTATS paper
    writes the parameters, is ``layer["w_dec"]`` of shape (units, inputs) when present.
    """
    if code.shape[-1] != layer["w"].shape[-1]:
        raise ValueError(f"code has width {code.shape[-1]}, but the layer has {layer['w'].shape[-1]} units")
    w_dec = layer["w_dec"] if "w_dec" in layer else layer["w"].T
    return code @ w_dec + decoder_bias


def scale_to_unit_interval(
    h: Array,
    axis: int | tuple[int, ...] | None = None,
    max_value: Array | float | None = None,
    min_value: Array | float = 0.0,
    eps: float = 1e-12,
) -> Array:
    """Scale a code into [0, 1] (section 3.2 strategy 2, section 4.2): ``clip((h - lo) / (hi - lo), 0, 1)``.

    For a rectifier code (``lo = min_value = 0``) this is ``h / max(h)``: zeros stay exact zeros, so
    sparsity is preserved. ``hi`` is ``max_value`` when given (e.g. a running maximum of the code over
    the training set, recorded when the layer below was trained: a fixed scale, which is what we
    recommend for pre-training a stack, since it can then be folded into the next layer's weights for
    fine-tuning); otherwise the maximum of ``h`` over ``axis`` (``None``: one maximum over the whole
    mini-batch, the default; ``0``: one per unit, over the examples of the batch). A range shorter than
    ``eps`` is replaced by 1 (an all-zero code stays 0). For tanh codes use ``min_value=-1,
    max_value=1``, i.e. ``(h + 1) / 2``. Values outside ``[lo, hi]`` (possible with a fixed
    ``max_value``) are clipped. Differentiable almost everywhere.
    """
    h = _float(h)
    lo = jnp.asarray(min_value, h.dtype)
    if max_value is None:
        hi = jnp.max(h, axis=axis, keepdims=True)
    else:
        hi = jnp.asarray(max_value, h.dtype)
    span = hi - lo
    span = jnp.where(span > eps, span, jnp.ones_like(span))
    return jnp.clip((h - lo) / span, 0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# Reconstruction strategies
# ----------------------------------------------------------------------------------------------
_DEFAULT_STRATEGY = {
    "rectifier": "softplus_squared",
    "softplus": "softplus_squared",
    "scaled_softplus": "softplus_squared",
    "half_negated_rectifier": "softplus_squared",
    "tanh": "sigmoid_cross_entropy",
    "sigmoid": "sigmoid_cross_entropy",
}

# Unsupported (activation, strategy) pairs and why. The target of a layer above the first is the code
# of the layer below, which has the same activation, so the activation fixes the range of targets.
_REJECTED = {
    ("tanh", "softplus_squared"): "a softplus reconstruction is > 0 and cannot reconstruct the negative "
    "half of tanh codes; use 'sigmoid_cross_entropy' (the paper's choice) or a linear strategy",
    ("tanh", "rectifier_squared"): "a rectifier reconstruction is >= 0 and cannot reconstruct the negative "
    "half of tanh codes (and gets no gradient there); use 'sigmoid_cross_entropy' or a linear strategy",
    ("linear", "softplus_squared"): "a linear code is signed and unbounded; a softplus reconstruction is > 0",
    ("linear", "rectifier_squared"): "a linear code is signed and unbounded; a rectifier reconstruction is >= 0",
    ("linear", "sigmoid_cross_entropy"): "a signed, unbounded linear code cannot be scaled into [0, 1] as "
    "cross-entropy targets need",
    ("half_negated_rectifier", "sigmoid_cross_entropy"): "half of a half-negated rectifier code is <= 0 and "
    "unbounded below, so dividing it by its maximum does not give the [0, 1] targets cross-entropy needs; "
    "use 'softplus_squared' (the paper's choice)",
}


def default_strategy(activation: str) -> str:
    """The paper's reconstruction for an activation (section 4.1): ``"softplus_squared"`` (softplus
    output, quadratic cost) for rectifier, softplus (also rescaled) and half-negated rectifier networks;
    ``"sigmoid_cross_entropy"`` for tanh and sigmoid networks. Other names raise ValueError."""
    if activation not in _DEFAULT_STRATEGY:
        raise ValueError(
            f"no default reconstruction strategy for activation {activation!r}; defaults exist for: "
            f"{', '.join(sorted(_DEFAULT_STRATEGY))}"
        )
    return _DEFAULT_STRATEGY[activation]


def check_strategy(activation: str | Callable, strategy: str) -> None:
    """Raise ValueError for an unknown strategy or activation, or an unsupported pair.

    Rejected pairs (the targets of a layer above the first are codes of the same activation):

    - tanh with ``softplus_squared`` or ``rectifier_squared``: non-negative reconstructions cannot
      match the negative half of tanh codes;
    - linear with ``softplus_squared``, ``rectifier_squared`` or ``sigmoid_cross_entropy``: signed,
      unbounded codes;
    - half-negated rectifier with ``sigmoid_cross_entropy``: half of its code is negative and unbounded,
      so it cannot be scaled to the [0, 1] targets cross-entropy needs (``softplus_squared``, the
      paper's pairing, is allowed; the negated half is then reconstructed towards 0).

    Every other pair is accepted (``sigmoid_cross_entropy`` requires the caller to scale targets into
    [0, 1] with :func:`scale_to_unit_interval`; :func:`reconstruction_loss` checks concrete targets). A
    callable activation is accepted with every strategy (its range is unknown).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown reconstruction strategy {strategy!r}; known strategies: {', '.join(STRATEGIES)}")
    if callable(activation):
        return
    activations_lib.get(activation)  # unknown name -> ValueError listing the names
    reason = _REJECTED.get((activation, strategy))
    if reason is not None:
        raise ValueError(f"strategy {strategy!r} is not supported with activation {activation!r}: {reason}")


def _sum_units_mean_examples(per_entry: Array) -> Array:
    per_example = jnp.sum(per_entry, axis=-1)
    return jnp.mean(per_example)


def squared_error(reconstruction: Array, target: Array) -> Array:
    """Quadratic cost ``mean_examples sum_units (target - reconstruction)^2`` (section 3.2)."""
    return _sum_units_mean_examples(jnp.square(target - reconstruction))


def sigmoid_cross_entropy(logits: Array, target: Array) -> Array:
    """Cross-entropy of a sigmoid reconstruction (section 3.2, strategy 2), from its logits ``f``.

    ``-t log sigmoid(f) - (1 - t) log(1 - sigmoid(f)) = softplus(f) - t f``, summed over units and
    averaged over examples; computed as ``logaddexp(0, f) - t f``, finite for any ``f``.
    """
    return _sum_units_mean_examples(jnp.logaddexp(0.0, logits) - target * logits)


def reconstruction_loss(
    layer: dict,
    decoder_bias: Array,
    x_clean: Array,
    x_corrupted: Array,
    activation: str | Callable = "rectifier",
    strategy: str = "softplus_squared",
    target: Array | None = None,
    **activation_params,
) -> Array:
    """Reconstruction cost of one tied-weights denoising auto-encoder (section 3.2).

    ``f = act(x~ W + b) W^T + b_dec`` from the corrupted input ``x~``; then, by ``strategy``:
    ``softplus_squared``: ``||t - softplus(f)||^2``; ``sigmoid_cross_entropy``:
    ``-t log sigmoid(f) - (1 - t) log(1 - sigmoid(f))``; ``linear_squared_before`` /
    ``linear_squared_after``: ``||t - f||^2``; ``rectifier_squared``: ``||t - max(f, 0)||^2``;
    ``softplus_squared_abs``: ``|| |t| - softplus(f)||^2``. Costs are summed over units and averaged
    over examples.

    The target ``t`` is ``target`` when given, else ``x_clean``. For ``linear_squared_before`` pass the
    previous layer's pre-activations as ``target`` (for the first layer leave it None: raw inputs are
    the target); for ``linear_squared_after`` the clean input (the previous layer's post-activations)
    is already the target. ``sigmoid_cross_entropy`` needs targets in [0, 1] (scale with
    :func:`scale_to_unit_interval`): a concrete target outside raises ValueError.
    """
    _check_arguments("reconstruction_loss", "layer, decoder_bias, x_clean, x_corrupted, ...", layer=layer,
                     decoder_bias=decoder_bias, x_clean=x_clean, x_corrupted=x_corrupted)
    check_strategy(activation, strategy)
    _check_layer(layer, decoder_bias, x_corrupted)
    if x_clean.shape != x_corrupted.shape:
        raise ValueError(f"x_clean has shape {tuple(x_clean.shape)} but x_corrupted has {tuple(x_corrupted.shape)}")
    t = x_clean if target is None else target
    if t.shape != x_clean.shape:
        raise ValueError(f"target has shape {tuple(t.shape)}, expected {tuple(x_clean.shape)} (the input's shape)")
    code = encode(layer, x_corrupted, activation, **activation_params)
    return _loss_from_code(layer, decoder_bias, code, t, strategy)


def _loss_from_code(layer: dict, decoder_bias: Array, code: Array, t: Array, strategy: str) -> Array:
    f = reconstruct_preactivation(layer, decoder_bias, code)
    if strategy == "softplus_squared":
        return squared_error(activations_lib.softplus(f), t)
    if strategy == "softplus_squared_abs":
        return squared_error(activations_lib.softplus(f), jnp.abs(t))
    if strategy == "sigmoid_cross_entropy":
        if _is_concrete(t):
            values = np.asarray(t)
            if values.size and (values.min() < 0 or values.max() > 1):
                raise ValueError(
                    f"sigmoid_cross_entropy needs targets in [0, 1], got values in "
                    f"[{values.min()!r}, {values.max()!r}]; scale them with scale_to_unit_interval"
                )
        return sigmoid_cross_entropy(f, t)
    if strategy in ("linear_squared_before", "linear_squared_after"):
        return squared_error(f, t)
    return squared_error(activations_lib.rectifier(f), t)  # rectifier_squared


def dae_loss(
    key: Array,
    layer: dict,
    decoder_bias: Array,
    x: Array,
    activation: str | Callable = "rectifier",
    strategy: str = "softplus_squared",
    corruption: str = "mask",
    level: Array | float = 0.25,
    l1: Array | float = 0.0,
    target: Array | None = None,
    **activation_params,
) -> Array:
    """Per-mini-batch denoising auto-encoder cost (sections 3.2 and 4.1).

    ``L = reconstruction_loss(x, corrupt(x)) + l1 * mean_examples sum_units |c(corrupt(x))|``: the
    reconstruction cost of the corrupted input against the clean one plus the L1 penalty on the code,
    with the same convention as :func:`deep_sparse.mlp.l1_penalty` (the paper uses 0.001); ``corruption``
    at ``level`` is the process of :func:`deep_sparse.corruption.corrupt`. Grad-able with respect to
    ``(layer, decoder_bias)``; ``level`` and ``l1`` may be traced (vmap over them).
    """
    _check_arguments("dae_loss", "key, layer, decoder_bias, x, activation, strategy, corruption, level, l1, ...",
                     key=key, layer=layer, decoder_bias=decoder_bias, x=x)
    check_strategy(activation, strategy)
    _check_layer(layer, decoder_bias, x)
    x = _float(x)
    x_corrupted = corruption_lib.corrupt(key, x, corruption, level)
    t = x if target is None else target
    if t.shape != x.shape:
        raise ValueError(f"target has shape {tuple(t.shape)}, expected {tuple(x.shape)} (the input's shape)")
    code = encode(layer, x_corrupted, activation, **activation_params)
    return _loss_from_code(layer, decoder_bias, code, t, strategy) + mlp_lib.l1_penalty([code], l1)
