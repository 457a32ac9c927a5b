"""The Pallas kernels of :mod:`deep_sparse.fused_step` (Triton on a GPU, interpret mode anywhere else).

Each kernel computes one layer's part of an SGD step for a batch padded to ``PADDED_BATCH = 16`` rows
and widths padded to multiples of ``block``; a program of the grid owns ``block`` units and loops
over chunks of ``block`` of the other side of its weights, so that every load is a ``[16, block]`` or
``[block, block]`` tile (Triton's constraints: power-of-two sizes, products of sides >= 16):

* :func:`forward_layer`: ``z = h W + b``, ``h' = act(z)``, gridded over output units;
* :func:`backward_layer`: ``dh = dz W^T`` and ``W <- W + (-lr) h^T dz`` from one read of each tile,
  gridded over input units, then the layer below's ``dz`` (activation slope and L1 term);
* :func:`first_layer_update`: the first layer's update and the next batch's ``z = x' W + b`` from one
  read of each tile, gridded over output units.

Activations carry a per-unit ``unit_scale`` (0 on padded units, -1 on the negated half of
``half_negated_rectifier``), which holds padded units at exactly 0.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Optional

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as pl_triton

from deep_sparse import runtime

Array = jax.Array

PADDED_BATCH = 16  # Triton's smallest product side; the paper's mini-batch of 10 fits
FULL_FLOAT32 = ("highest", "float32")  # JAX's names of full float32 products


# ----------------------------------------------------------------- activations in the kernels
def _rectifier(z, sign):
    return jnp.maximum(z, 0.0) * sign, jnp.where(z > 0, sign, 0.0)


def _softplus(z, scale):
    h = jnp.maximum(z, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(z)))
    return h * scale, jnp.exp(z - h) * scale


def _tanh(z, scale):
    h = jnp.tanh(z)
    return h * scale, (1.0 - h * h) * scale


# name -> f(z, unit_scale) = (h, act'(z)); unit_scale is 0 on padded units (and -1 on the negated half)
KERNEL_ACTIVATIONS: dict[str, Callable] = {
    "rectifier": _rectifier,
    "half_negated_rectifier": _rectifier,
    "softplus": _softplus,
    "tanh": _tanh,
}


def check_activation(activation) -> str:
    """``activation`` if the kernels implement it; ValueError naming the ones they do otherwise."""
    if activation not in KERNEL_ACTIVATIONS:
        raise ValueError(f"the fused step has no kernel for activation {activation!r}; it implements "
                         f"{', '.join(sorted(KERNEL_ACTIVATIONS))}")
    return activation


def unit_scale(activation: str, n_units: int, padded_units: int) -> Array:
    """Per unit: 0 past ``n_units`` (padding), -1 on the negated half of ``half_negated_rectifier``
    (units from ``ceil(n/2)`` on, as :func:`deep_sparse.activations.half_negated_rectifier`), else 1."""
    index = jnp.arange(padded_units)
    scale = jnp.where(index < n_units, 1.0, 0.0)
    if activation == "half_negated_rectifier":
        scale = jnp.where(index < (n_units + 1) // 2, scale, -scale)
    return scale.astype(jnp.float32)


# ----------------------------------------------------------------- kernels
def _forward_kernel(h_ref, w_ref, b_ref, scale_ref, z_ref, a_ref, *, activation, block: int, precision):
    """Program j: ``z[:, j] = h @ W[:, j] + b[j]`` over row chunks of W, then ``h_out = act(z)``."""
    def chunk(k, acc):
        rows = pl.ds(pl.multiple_of(k * block, block), block)
        return acc + jnp.dot(h_ref[:, rows], w_ref[rows, :], precision=precision)

    acc = lax.fori_loop(0, w_ref.shape[0] // block, chunk, jnp.zeros(z_ref.shape, jnp.float32))
    z = acc + b_ref[...][None, :]
    z_ref[...] = z
    if activation is not None:
        a_ref[...] = KERNEL_ACTIVATIONS[activation](z, scale_ref[...][None, :])[0]


def _backward_kernel(lr_ref, dz_ref, h_ref, w_ref, *rest, activation, block: int, precision):
    """Program i (rows i of W, units i of the layer below): for each column chunk c,
    ``dh[:, i] += dz[:, c] W[i, c]^T`` and ``W[i, c] <- W[i, c] + (-lr) h[:, i]^T dz[:, c]``; then, when
    the layer below is hidden, ``dz_below[:, i] = (dh + l1_rows sign(h)) act'(z_below)``."""
    if activation is None:
        (w_out_ref,) = rest
    else:
        z_ref, scale_ref, l1_ref, w_out_ref, dz_below_ref = rest
    h = h_ref[...]
    step = -lr_ref[0]

    def chunk(c, dh):
        cols = pl.ds(pl.multiple_of(c * block, block), block)
        w, dz = w_ref[:, cols], dz_ref[:, cols]
        grad = lax.dot_general(h, dz, (((0,), (0,)), ((), ())), precision=precision)
        w_out_ref[:, cols] = w + step * grad
        return dh + lax.dot_general(dz, w, (((1,), (1,)), ((), ())), precision=precision)

    dh = lax.fori_loop(0, w_ref.shape[1] // block, chunk, jnp.zeros(h.shape, jnp.float32))
    if activation is not None:
        _, slope = KERNEL_ACTIVATIONS[activation](z_ref[...], scale_ref[...][None, :])
        dz_below_ref[...] = (dh + l1_ref[...] * jnp.sign(h)) * slope


def _first_layer_kernel(lr_ref, dz_ref, x_ref, x_next_ref, w_ref, b_ref, scale_ref, w_out_ref, b_out_ref, z_ref,
                        a_ref, *, activation, block: int, precision):
    """Program j (columns j of the first layer's W): for each row chunk r, ``W[r, j] <- W[r, j] + (-lr)
    x[:, r]^T dz[:, j]`` and ``z_next[:, j] += x_next[:, r] W[r, j]`` from the updated chunk; then
    ``b[j] <- b[j] + (-lr) sum_rows dz[:, j]`` and the next step's ``z_next + b``, ``act``."""
    dz = dz_ref[...]
    step = -lr_ref[0]

    def chunk(r, acc):
        rows = pl.ds(pl.multiple_of(r * block, block), block)
        w = w_ref[rows, :] + step * lax.dot_general(x_ref[:, rows], dz, (((0,), (0,)), ((), ())), precision=precision)
        w_out_ref[rows, :] = w
        return acc + jnp.dot(x_next_ref[:, rows], w, precision=precision)

    acc = lax.fori_loop(0, w_ref.shape[0] // block, chunk, jnp.zeros(z_ref.shape, jnp.float32))
    b = b_ref[...] + step * jnp.sum(dz, axis=0)
    b_out_ref[...] = b
    z = acc + b[None, :]
    z_ref[...] = z
    a_ref[...] = KERNEL_ACTIVATIONS[activation](z, scale_ref[...][None, :])[0]


# Triton's products: IEEE float32 on the CUDA cores, three TF32 products on the tensor cores (about
# float32's accuracy), or one TF32 product
DOT_PRECISIONS = {"ieee": lax.Precision.HIGHEST, "tf32x3": lax.DotAlgorithmPreset.TF32_TF32_F32_X3,
                  "tf32": lax.Precision.HIGH}


@dataclasses.dataclass(frozen=True)
class Kernels:
    """How the kernels run: ``block`` (a power of two >= 16: the units per program and per chunk of its
    loop), ``interpret`` (run the kernels as JAX code, on any backend: True on a CPU), ``precision`` of
    the products (a key of :data:`DOT_PRECISIONS`; None: the engine's matmul precision,
    :func:`deep_sparse.runtime.matmul_precision`, ``"ieee"`` for full float32 and ``"tf32"`` otherwise),
    and Triton's ``num_warps`` and ``num_stages`` (None: Triton's defaults)."""

    block: int = 32
    interpret: bool = False
    precision: Optional[str] = None
    num_warps: Optional[int] = None
    num_stages: Optional[int] = None

    def dot_precision(self):
        """The ``precision`` argument of the kernels' products (resolving None at trace time)."""
        precision = self.precision
        if precision is None:
            precision = "ieee" if runtime.matmul_precision() in FULL_FLOAT32 else "tf32"
        return DOT_PRECISIONS[precision]

    def call(self, kernel, **kwargs):
        """``pl.pallas_call`` of ``kernel`` (given ``block`` and the products' precision) with these options."""
        return pl.pallas_call(
            functools.partial(kernel, block=self.block, precision=self.dot_precision()),
            compiler_params=pl_triton.CompilerParams(num_warps=self.num_warps, num_stages=self.num_stages),
            interpret=self.interpret, **kwargs)


def check_options(activation: str, kernels: Kernels, batch_size: int) -> None:
    """ValueError for what the kernels cannot run: an activation without a kernel, a ``block`` that is
    not a power of two >= 16, an unknown precision, or a mini-batch over 16 examples."""
    check_activation(activation)
    block = kernels.block
    if block < 16 or block & (block - 1):
        raise ValueError(f"fused step: block must be a power of two >= 16 (Triton's product sides), got {block}")
    if kernels.precision is not None and kernels.precision not in DOT_PRECISIONS:
        raise ValueError(f"fused step: precision must be one of {', '.join(DOT_PRECISIONS)} or None, got "
                         f"{kernels.precision!r}")
    if not 1 <= batch_size <= PADDED_BATCH:
        raise ValueError(f"fused step: the mini-batch must hold 1 to {PADDED_BATCH} examples, got {batch_size}")


def forward_layer(h, w, b, scale, *, activation, kernels: Kernels):
    """``(z, act(z) * scale)`` of one layer for a padded batch ``h`` [P, n_in]; ``activation=None``:
    the logits, returned twice. One read of ``w``."""
    (rows, n_in), n_out, block = h.shape, w.shape[1], kernels.block
    out = jax.ShapeDtypeStruct((rows, n_out), jnp.float32)
    return kernels.call(
        functools.partial(_forward_kernel, activation=activation),
        out_shape=(out, out),
        grid=(n_out // block,),
        in_specs=[pl.BlockSpec((rows, n_in), lambda j: (0, 0)), pl.BlockSpec((n_in, block), lambda j: (0, j)),
                  pl.BlockSpec((block,), lambda j: (j,)), pl.BlockSpec((block,), lambda j: (j,))],
        out_specs=(pl.BlockSpec((rows, block), lambda j: (0, j)), pl.BlockSpec((rows, block), lambda j: (0, j))),
        name="fused_step_forward",
    )(h, w, b, scale)


def backward_layer(lr, dz, h, w, below=None, *, activation, kernels: Kernels):
    """``W`` updated in place from ``dz`` [P, n_out] and its input ``h`` [P, n_in], and, with ``below =
    (z_below, scale_below, l1_rows)`` (the layer under ``W`` is hidden), ``dz_below`` [P, n_in]. One read
    and one write of ``w``."""
    (rows, n_in), n_out, block = h.shape, w.shape[1], kernels.block
    lr = jnp.reshape(lr, (1,)).astype(jnp.float32)
    in_specs = [pl.BlockSpec((1,), lambda i: (0,)), pl.BlockSpec((rows, n_out), lambda i: (0, 0)),
                pl.BlockSpec((rows, block), lambda i: (0, i)), pl.BlockSpec((block, n_out), lambda i: (i, 0))]
    out_shape = [jax.ShapeDtypeStruct(w.shape, w.dtype)]
    out_specs = [pl.BlockSpec((block, n_out), lambda i: (i, 0))]
    operands = [lr, dz, h, w]
    if below is not None:
        z_below, scale_below, l1_rows = below
        operands += [z_below, scale_below, l1_rows]
        in_specs += [pl.BlockSpec((rows, block), lambda i: (0, i)), pl.BlockSpec((block,), lambda i: (i,)),
                     pl.BlockSpec((rows, 1), lambda i: (0, 0))]
        out_shape.append(jax.ShapeDtypeStruct((rows, n_in), jnp.float32))
        out_specs.append(pl.BlockSpec((rows, block), lambda i: (0, i)))
    outputs = kernels.call(
        functools.partial(_backward_kernel, activation=activation if below is not None else None),
        out_shape=tuple(out_shape),
        grid=(n_in // block,),
        in_specs=in_specs,
        out_specs=tuple(out_specs),
        input_output_aliases={3: 0},
        name="fused_step_backward",
    )(*operands)
    return outputs[0], (outputs[1] if below is not None else None)


def first_layer_update(lr, dz, x, x_next, w, b, scale, *, activation, kernels: Kernels):
    """The first layer's ``(W, b)`` updated in place from ``dz`` [P, n_1] and the batch ``x`` [P, n_0],
    and the next step's ``(z, act(z) * scale)`` for the next batch ``x_next``, from the updated weights:
    one read and one write of ``w``, where an update and the next forward product read it twice."""
    (rows, n_in), n_out, block = x.shape, w.shape[1], kernels.block
    columns, units, whole = (lambda j: (0, j)), (lambda j: (j,)), (lambda j: (0, 0))
    out = jax.ShapeDtypeStruct((rows, n_out), jnp.float32)
    return kernels.call(
        functools.partial(_first_layer_kernel, activation=activation),
        out_shape=(jax.ShapeDtypeStruct(w.shape, w.dtype), jax.ShapeDtypeStruct(b.shape, b.dtype), out, out),
        grid=(n_out // block,),
        in_specs=[pl.BlockSpec((1,), lambda j: (0,)), pl.BlockSpec((rows, block), columns),
                  pl.BlockSpec((rows, n_in), whole), pl.BlockSpec((rows, n_in), whole),
                  pl.BlockSpec((n_in, block), columns), pl.BlockSpec((block,), units), pl.BlockSpec((block,), units)],
        out_specs=(pl.BlockSpec((n_in, block), columns), pl.BlockSpec((block,), units),
                   pl.BlockSpec((rows, block), columns), pl.BlockSpec((rows, block), columns)),
        input_output_aliases={4: 0, 5: 1},
        name="fused_step_first_layer",
    )(jnp.reshape(lr, (1,)).astype(jnp.float32), dz, x, x_next, w, b, scale)
