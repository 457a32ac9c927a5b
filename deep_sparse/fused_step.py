"""One fine-tuning SGD step of an MLP as Pallas kernels: each weight matrix is read once for the
forward product and once for the backward product, and written once, updated (section 4.1's objective:
softmax NLL plus ``l1 * sum_layers mean_examples sum_units |h|``, plain SGD).

The math is the engine's step (:func:`deep_sparse.finetuning.objective`, its gradient and
``optax.sgd``) written out: with ``P`` examples (``B`` real ones), ``h_0 = x``,

    forward   z_l = h_{l-1} W_l + b_l,  h_l = act(z_l)                  l = 1..L (no act on the logits)
    output    dz_L = (softmax(z_L) - onehot(y)) / B
    backward  dh_{l-1} = dz_l W_l^T + (l1 / B) sign(h_{l-1}),  dz_{l-1} = dh_{l-1} * act'(z_{l-1})
    update    W_l <- W_l + (-lr) (h_{l-1}^T dz_l),   b_l <- b_l + (-lr) sum_rows dz_l

Two kernels per layer (the first layer's fused into one in a loop of steps, below), each launched
once for all networks of a vmapped chunk (``pallas_call``'s batching adds the network axis to the grid):

* ``forward``: grid over blocks of ``block`` output units; a program reads its column block of ``W_l``
  once (a loop over row chunks of ``block``) and the whole small ``h_{l-1}``, and writes ``z_l, h_l``.
* ``backward``: grid over blocks of ``block`` input units (rows of ``W_l``); a program reads its row
  block of ``W_l`` chunk by chunk, and from each chunk computes both its part of ``dh_{l-1}`` (complete
  within the program: no reduction across programs) and the updated chunk, written in place
  (``input_output_aliases``); it ends with ``dz_{l-1}`` of its rows, activation slope and L1 included.

The softmax, the loss, the bias updates and the padding of ``x`` are tiny and left to XLA.

Triton's constraints: every array a kernel loads has a power-of-two size and a product needs every
side >= 16. The batch is padded to ``P = 16`` rows (rows past ``B`` weigh 0 in every gradient) and every
width to a multiple of ``block`` (padded units are held at exactly 0: their weights stay 0, their
activation and slope are multiplied by 0). Padding is a copy of every weight, so the hot loop runs on
padded parameters (:func:`pad`, :func:`padded_step`, :func:`unpad` around a ``lax.scan`` of steps);
:func:`fused_step` pads and unpads around one step for the engine's parameter layout.

Memory traffic per step of one 784-1000-1000-1000-10 network, ``block = 32`` (widths 800, 1024, 1024,
1024, 32): the padded weights are 2,949,120 floats (11.80 MB against 11.20 MB unpadded); HBM moves
3 x 11.80 = 35.4 MB (forward read, backward read, backward write), against about 64 MB for XLA's
unfused schedule and the 22.4 MB of one read and one write. At 4.8 TB/s, 35.4 MB is a ceiling of
136k network-steps/s (64% of the 214k of the 22.4 MB floor; the issue's target of 130k would need 96%
of the bandwidth). Reaching 22.4 MB would need each ``W_l`` kept on chip from its forward product to
its backward one, across the products of every layer above it (11 MB of weights, more than one
kernel's share of an H200's on-chip memory): a kernel that cannot synchronise its programs grid-wide
reads ``W_l`` twice. One read does go in a loop of steps (:func:`pipelined_step`, what
:func:`scan_steps` runs by default): the first layer's update kernel, gridded over output columns, also
computes the next step's ``x_{t+1} W_1`` from the updated block it holds (``x_{t+1}`` is known and no
layer lies below), saving the forward read of ``W_1``: 32.1 MB per step, a ceiling of 150k. The small
operands are re-read from L2 by every program (``h_{l-1}``, ``dz_l``: 16 x 1024 floats, 64 KB, 32
programs per layer and network), about 2 MB per pass per layer, and the
products compute 16 rows where 10 are real (1.6x the FLOPs: 8 FLOPs per byte of weight traffic, under
the H200's fp32 balance of about 14, so still memory bound if the full-float32 products run at 57% of
the fp32 peak or more). At K = 1 a layer's grid is 32 programs (``block = 32``) on 132 SMs: one
network alone cannot draw the full bandwidth, and 8 kernels plus XLA's small steps set its latency.

Wiring into the engine (not done here; off by default, since the sums run in another order than XLA's
and results are then not bitwise those of the XLA step): in
:func:`deep_sparse.finetuning.finetune_epoch`, for the default SGD optimizer and an activation of
:data:`KERNEL_ACTIVATIONS`, replace the ``lax.scan`` of ``step`` by
``params, losses = scan_steps(state.params, lr, hparams.l1, data.x_train, data.y_train, batches,
activation=config.activation, kernels=Kernels(interpret=jax.default_backend() != "gpu"))`` with ``lr =
state.opt_state.hyperparams["learning_rate"]``, advance the SGD state's step count by the number of
mini-batches (``opt_state._replace(count=opt_state.count + batches.shape[0])``), and record the choice
with every row.

Products follow the engine's numeric contract (:func:`deep_sparse.runtime.matmul_precision`) unless
:class:`Kernels` says otherwise: full float32 by default (Triton's IEEE dot on the CUDA cores; Triton's
own default would be TF32), TF32 on the tensor cores under any lesser precision. With 16 rows the IEEE
products are 283 MFLOP per step of the 3 x 1000 network: 130k network-steps/s would take 37 TFLOP/s,
55% of the H200's float32 peak, so the CUDA cores may bound the kernels before memory does;
``precision="tf32x3"`` (three TF32 products, about float32's accuracy) moves them to the tensor cores.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from deep_sparse import mlp
# the kernels' public names are the step's too (fused_step.Kernels, fused_step.KERNEL_ACTIVATIONS, ...)
from deep_sparse.fused_kernels import (DOT_PRECISIONS, KERNEL_ACTIVATIONS, PADDED_BATCH, Kernels,  # noqa: F401
                                       backward_layer, check_activation, check_options, first_layer_update,
                                       forward_layer, unit_scale)

Array = jax.Array
Params = list  # list[dict[str, Array]], the layout of deep_sparse.mlp


# ----------------------------------------------------------------- padding
def padded_width(n: int, block: int) -> int:
    """``n`` rounded up to a multiple of ``block``."""
    return -(-n // block) * block


def pad(params: Params, block: int) -> Params:
    """``params`` with every width zero-padded to a multiple of ``block`` (a copy of every weight)."""
    padded = []
    for layer in params:
        n_in, n_out = layer["w"].shape[-2:]
        rows, cols = padded_width(n_in, block) - n_in, padded_width(n_out, block) - n_out
        padded.append({"w": jnp.pad(layer["w"], ((0, rows), (0, cols))), "b": jnp.pad(layer["b"], (0, cols))})
    return padded


def unpad(padded: Params, layer_sizes: Sequence[int]) -> Params:
    """The engine's layout of ``padded`` for a network of ``layer_sizes``."""
    return [{"w": layer["w"][:n_in, :n_out], "b": layer["b"][:n_out]}
            for layer, n_in, n_out in zip(padded, layer_sizes[:-1], layer_sizes[1:])]


# ----------------------------------------------------------------- the step
def _padded_batch(x: Array, width: int) -> Array:
    return jnp.zeros((PADDED_BATCH, width), jnp.float32).at[: x.shape[0], : x.shape[1]].set(x)


def _unit_scales(padded: Params, layer_sizes: Sequence[int], activation: str) -> list:
    last = len(padded) - 1
    return [unit_scale(activation if index < last else "linear", layer_sizes[index + 1], layer["w"].shape[1])
            for index, layer in enumerate(padded)]


def _forward(padded: Params, start: int, h: Array, scales: list, activation: str, kernels: Kernels):
    """``(z, h)`` lists of layers ``start``.. of the padded batch ``h`` entering layer ``start``."""
    pre_activations, codes = [], []
    for index in range(start, len(padded)):
        hidden = index < len(padded) - 1
        z, h = forward_layer(h, padded[index]["w"], padded[index]["b"], scales[index],
                             activation=activation if hidden else None, kernels=kernels)
        pre_activations.append(z)
        codes.append(h)
    return pre_activations, codes


def _loss_and_output_slope(logits: Array, codes: list, y: Array, l1, layer_sizes: Sequence[int]):
    """The engine's objective on the real rows and units, and its gradient at the padded logits."""
    batch = y.shape[0]
    nll, dlogits = jax.value_and_grad(mlp.softmax_nll)(logits[:batch, : layer_sizes[-1]], y)
    loss = nll + mlp.l1_penalty([h[:batch, :n] for h, n in zip(codes, layer_sizes[1:-1])], l1)
    return loss, jnp.zeros(logits.shape, jnp.float32).at[:batch, : layer_sizes[-1]].set(dlogits)


def _backward(padded: Params, lr, l1, batch: int, dz: Array, inputs: list, pre_activations: list, scales: list,
              stop: int, activation: str, kernels: Kernels):
    """Layers from the last down to ``stop`` updated, and the gradient at layer ``stop - 1``'s
    pre-activations (None for ``stop = 0``)."""
    # d(l1 * mean_examples sum_units |h|)/dh = (l1 / B) sign(h) on the real rows, 0 on the padding
    l1_rows = jnp.where(jnp.arange(PADDED_BATCH) < batch, l1 / batch, 0.0).astype(jnp.float32)[:, None]
    updated = list(padded)
    for index in reversed(range(stop, len(padded))):
        layer = padded[index]
        below = (pre_activations[index - 1], scales[index - 1], l1_rows) if index > 0 else None
        w, dz_below = backward_layer(lr, dz, inputs[index], layer["w"], below, activation=activation,
                                     kernels=kernels)
        updated[index] = {"w": w, "b": layer["b"] + (-lr) * jnp.sum(dz, axis=0)}
        dz = dz_below
    return updated, dz


def padded_step(padded: Params, lr, l1, x: Array, y: Array, *, layer_sizes: Sequence[int], activation: str,
                kernels: Kernels) -> tuple[Params, Array]:
    """One SGD step on padded parameters (:func:`pad`): ``(padded parameters after the step, loss before
    it)``, the loss being the engine's objective, NLL + L1 penalty, on the mini-batch ``x`` [B, n_0],
    ``y`` [B] (B <= 16). ``lr``, ``l1``: scalars (traced; vmap over them)."""
    scales = _unit_scales(padded, layer_sizes, activation)
    h = _padded_batch(x, padded[0]["w"].shape[0])
    pre_activations, codes = _forward(padded, 0, h, scales, activation, kernels)
    loss, dz = _loss_and_output_slope(pre_activations[-1], codes[:-1], y, l1, layer_sizes)
    updated, _ = _backward(padded, lr, l1, x.shape[0], dz, [h, *codes], pre_activations, scales, 0, activation,
                           kernels)
    return updated, loss


def pipelined_step(carry, lr, l1, x: Array, y: Array, x_next: Array, *, layer_sizes: Sequence[int],
                   activation: str, kernels: Kernels):
    """:func:`padded_step` for a network with a hidden layer, whose first layer's forward product was
    computed by the previous step: ``carry = (padded parameters, z_1, h_1 of x)``; the step updates the
    first layer and computes ``z_1, h_1`` of the next batch ``x_next`` in the same pass
    (:func:`first_layer_update`). Returns ``((parameters, z_1, h_1 of x_next), loss)``."""
    padded, z_first, h_first = carry
    scales = _unit_scales(padded, layer_sizes, activation)
    h = _padded_batch(x, padded[0]["w"].shape[0])
    pre_activations, codes = _forward(padded, 1, h_first, scales, activation, kernels)
    pre_activations, codes = [z_first, *pre_activations], [h_first, *codes]
    loss, dz = _loss_and_output_slope(pre_activations[-1], codes[:-1], y, l1, layer_sizes)
    updated, dz = _backward(padded, lr, l1, x.shape[0], dz, [h, *codes], pre_activations, scales, 1, activation,
                            kernels)
    w, b, z_first, h_first = first_layer_update(lr, dz, h, _padded_batch(x_next, h.shape[1]), padded[0]["w"],
                                                padded[0]["b"], scales[0], activation=activation, kernels=kernels)
    updated[0] = {"w": w, "b": b}
    return (updated, z_first, h_first), loss


def fused_step(params: Params, lr, l1, x: Array, y: Array, *, activation: str = "rectifier",
               kernels: Kernels = Kernels()) -> tuple[Params, Array]:
    """The engine's SGD step (``value_and_grad`` of NLL + L1, then ``optax.sgd``) on parameters in the
    engine's layout: ``(parameters after the step, loss before it)``. Pads and unpads around the step
    (two extra copies of every weight): a loop of steps should call :func:`padded_step` between one
    :func:`pad` and one :func:`unpad` (:func:`scan_steps`). ValueError (at trace time, from static
    values) for what :func:`check_options` refuses."""
    check_options(activation, kernels, x.shape[0])
    sizes = mlp.layer_sizes_of(params)
    padded, loss = padded_step(pad(params, kernels.block), lr, l1, x, y, layer_sizes=sizes, activation=activation,
                               kernels=kernels)
    return unpad(padded, sizes), loss


def scan_steps(params: Params, lr, l1, x: Array, y: Array, batches: Array, *, activation: str = "rectifier",
               kernels: Kernels = Kernels(), pipelined: bool = True) -> tuple[Params, Array]:
    """One SGD step per row of ``batches`` (indices [S, B] into the examples ``x`` [N, n_0], ``y`` [N],
    gathered step by step as the engine's epoch does) in a ``lax.scan`` on padded parameters, padded once
    before and unpadded once after: ``(parameters after, loss of each step)``, the engine's epoch loop
    with the fused step in place of XLA's. ``pipelined`` (networks with a hidden layer): each step also
    computes the next one's first-layer product (:func:`pipelined_step`; the last step's, of the first
    batch again, is dropped). ValueError as :func:`fused_step`."""
    check_options(activation, kernels, batches.shape[-1])
    sizes = mlp.layer_sizes_of(params)
    padded = pad(params, kernels.block)
    options = dict(layer_sizes=sizes, activation=activation, kernels=kernels)
    if not pipelined or len(padded) < 2:
        padded, losses = lax.scan(lambda p, i: padded_step(p, lr, l1, x[i], y[i], **options), padded, batches)
        return unpad(padded, sizes), losses
    scale = unit_scale(activation, sizes[1], padded[0]["w"].shape[1])
    first = forward_layer(_padded_batch(x[batches[0]], padded[0]["w"].shape[0]), padded[0]["w"], padded[0]["b"],
                          scale, activation=activation, kernels=kernels)
    following = jnp.concatenate([batches[1:], batches[:1]])
    (padded, _, _), losses = lax.scan(
        lambda carry, i: pipelined_step(carry, lr, l1, x[i[0]], y[i[0]], x[i[1]], **options),
        (padded, *first), (batches, following))
    return unpad(padded, sizes), losses
