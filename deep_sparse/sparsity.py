"""Exact sparsity metrics (sections 3.1 and 4.1).

The papers measure sparsity as the fraction of hidden activations that are exactly zero ("true
zeros"), not small. These functions count ``h == 0`` exactly, with no threshold.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

Array = jax.Array


def fraction_of_zeros(h: Array) -> Array:
    """Fraction of entries of ``h`` that are exactly 0: ``mean(h == 0)`` over all axes."""
    return jnp.mean(h == 0)


def fraction_of_zeros_per_layer(hidden: Sequence[Array]) -> Array:
    """``[fraction_of_zeros(h_1), ..., fraction_of_zeros(h_L)]`` as an array of shape (L,)."""
    if len(hidden) == 0:
        return jnp.zeros((0,), jnp.float32)
    return jnp.stack([fraction_of_zeros(h) for h in hidden])


def mean_fraction_of_zeros(hidden: Sequence[Array]) -> Array:
    """Average over hidden layers of the per-layer fraction of zeros (the paper's "average exact
    sparsity of the hidden layers", section 4.1). Each layer counts equally, whatever its width."""
    return jnp.mean(fraction_of_zeros_per_layer(hidden))


def active_units_per_example(h: Array) -> Array:
    """Number of non-zero units of each example: ``sum_j [h_ij != 0]`` over the last axis."""
    return jnp.sum(h != 0, axis=-1)
