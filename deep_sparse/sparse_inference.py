"""Inference of a rectifier network that skips its exact zeros (the papers' computational argument).

A rectifier layer's output has exact zeros; the next layer's product ``h W`` needs only the rows of
``W`` of the units that are active. These forward passes compute the same logits as the dense one
(:func:`dense_forward`) by touching only those rows:

* :func:`gather_forward` (JAX): per batch, the union of the units active on any of its examples,
  gathered into a fixed ``capacity`` per layer (a static shape, so one compiled program per capacity;
  a batch with more active units than the capacity takes the dense product for that layer, so the
  result never depends on the capacity). With one example per batch this is the per-example gather.
* :func:`bcoo_forward` (JAX): ``jax.experimental.sparse`` BCOO activations with ``nse`` stored
  entries per layer times the dense weights (the same dense fallback when ``nse`` is too small).
* :func:`gather_forward_numpy` and :func:`csr_forward_scipy` (host, NumPy/SciPy): the union gather
  with dynamic shapes, and SciPy CSR activations times the dense weights.

The first layer is dense in every path: its input is the data, not a rectifier's output. ``params``
is a :mod:`deep_sparse.mlp` parameter list; every hidden layer is a rectifier.
"""
from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse
from jax.experimental import sparse as jsparse

Array = jax.Array


def _layer(h, layer):
    return h @ layer["w"] + layer["b"]


@jax.jit
def dense_forward(params, x: Array) -> Array:
    """Logits of the rectifier network ``params`` on ``x``, every product dense."""
    h = x
    for layer in params[:-1]:
        h = jax.nn.relu(_layer(h, layer))
    return _layer(h, params[-1])


def _gathered_product(h: Array, layer: dict, capacity: int) -> Array:
    """``h W + b`` from the rows of ``W`` of the units active on any example of the batch, padded to
    ``capacity`` units (padding slots point at unit 0 and are zeroed)."""
    active = jnp.any(h != 0, axis=0)
    units = jnp.nonzero(active, size=capacity, fill_value=0)[0]
    real = jnp.arange(capacity) < jnp.sum(active)
    h_active = jnp.where(real, h[:, units], 0.0)
    return h_active @ layer["w"][units] + layer["b"]


def _sparse_or_dense(sparse_product, h: Array, layer: dict, fits: Array) -> Array:
    # a batch beyond the static size computes the dense product: same result, no silent truncation
    return jax.lax.cond(fits, sparse_product, _layer, h, layer)


@functools.partial(jax.jit, static_argnames="capacities")
def gather_forward(params, x: Array, capacities: tuple[int, ...]) -> Array:
    """Logits of ``params`` on ``x`` with each layer after the first computed from the active units of
    its input only; ``capacities[i]``: units gathered for layer ``i + 1`` (see :func:`capacities_for`)."""
    h = jax.nn.relu(_layer(x, params[0]))
    for index, (layer, capacity) in enumerate(zip(params[1:], capacities, strict=True), start=1):
        fits = jnp.sum(jnp.any(h != 0, axis=0)) <= capacity
        out = _sparse_or_dense(functools.partial(_gathered_product, capacity=capacity), h, layer, fits)
        h = out if index == len(params) - 1 else jax.nn.relu(out)
    return h


def _bcoo_product(h: Array, layer: dict, nse: int) -> Array:
    return jsparse.BCOO.fromdense(h, nse=nse) @ layer["w"] + layer["b"]


@functools.partial(jax.jit, static_argnames="nse")
def bcoo_forward(params, x: Array, nse: tuple[int, ...]) -> Array:
    """Logits of ``params`` on ``x`` with each hidden code stored as a BCOO matrix of ``nse[i]``
    entries (the non-zeros of the batch) and multiplied by the dense weights."""
    h = jax.nn.relu(_layer(x, params[0]))
    for index, (layer, n) in enumerate(zip(params[1:], nse, strict=True), start=1):
        fits = jnp.sum(h != 0) <= n
        out = _sparse_or_dense(functools.partial(_bcoo_product, nse=n), h, layer, fits)
        h = out if index == len(params) - 1 else jax.nn.relu(out)
    return h


def round_up(n: int, multiple: int) -> int:
    return max(multiple, -(-int(n) // multiple) * multiple)


def hidden_codes(params, x) -> list[np.ndarray]:
    """The hidden codes of ``params`` on ``x``, computed densely in NumPy."""
    h, codes = np.asarray(x, np.float32), []
    for layer in params[:-1]:
        h = np.maximum(h @ np.asarray(layer["w"]) + np.asarray(layer["b"]), 0.0)
        codes.append(h)
    return codes


def capacities_for(params, x, multiple: int = 32) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(capacities, nse)`` that hold the batch ``x``: the union of active units of each hidden code
    and its number of non-zeros, rounded up to ``multiple`` (so nearby batches share one program)."""
    codes = hidden_codes(params, x)
    capacities = tuple(round_up(np.count_nonzero(h.any(axis=0)), multiple) for h in codes)
    nse = tuple(round_up(np.count_nonzero(h), multiple) for h in codes)
    return capacities, nse


def numpy_params(params) -> list[tuple[np.ndarray, np.ndarray]]:
    """``params`` as host ``(W, b)`` pairs (float32, C order) for the NumPy/SciPy paths."""
    return [(np.ascontiguousarray(layer["w"], np.float32), np.asarray(layer["b"], np.float32)) for layer in params]


def dense_forward_numpy(params: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """The dense forward pass in NumPy (BLAS): the reference of the host paths."""
    h = x
    for w, b in params[:-1]:
        h = np.maximum(h @ w + b, 0.0)
    w, b = params[-1]
    return h @ w + b


def gather_forward_numpy(params: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """:func:`gather_forward` with dynamic shapes: each layer after the first multiplies only the
    columns of the units active in the batch by the matching rows of ``W``."""
    w, b = params[0]
    h = np.maximum(x @ w + b, 0.0)
    for index, (w, b) in enumerate(params[1:], start=1):
        units = np.flatnonzero(h.any(axis=0))
        out = h[:, units] @ w[units] + b
        h = out if index == len(params) - 1 else np.maximum(out, 0.0)
    return h


def csr_forward_scipy(params: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """Each hidden code as a SciPy CSR matrix times the dense weights (conversion included)."""
    w, b = params[0]
    h = np.maximum(x @ w + b, 0.0)
    for index, (w, b) in enumerate(params[1:], start=1):
        out = scipy.sparse.csr_matrix(h) @ w + b
        h = out if index == len(params) - 1 else np.maximum(out, 0.0)
    return np.asarray(h)
