"""Evaluation of a network over a whole split, in chunks of examples (sections 4.1 and 4.2): the error
rate or RMSE, the exact sparsity of each hidden layer, the per-example errors a paired test needs, and
the activity that tells a dead network, and all of them at once for a finished run (:func:`measure`).
Pure functions of the parameters and the data; the training loop (:mod:`deep_sparse.train`) calls them
with its activation, task and chunk size.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from deep_sparse import mlp, ratings
from deep_sparse.inputs import Data

Array = jax.Array


def reduce_over_chunks(fn: Callable, arrays: tuple, chunk: int, reduce: Callable, combine: Callable):
    """``fn(*chunk_of_arrays)`` (a pytree) reduced over consecutive chunks of ``chunk`` examples (the last
    one shorter; ``reduce`` over the stacked full chunks, ``combine`` with the last): a whole split is
    evaluated without holding all its activations at once."""
    n = int(arrays[0].shape[0])
    chunk = min(chunk, n)
    n_full = n // chunk
    head = tuple(a[: n_full * chunk].reshape(n_full, chunk, *a.shape[1:]) for a in arrays)
    total = jax.tree.map(lambda t: reduce(t, axis=0), jax.lax.map(lambda xs: fn(*xs), head))
    if n % chunk:
        total = jax.tree.map(combine, total, fn(*(a[n_full * chunk:] for a in arrays)))
    return total


def sum_over_chunks(fn: Callable, arrays: tuple, chunk: int):
    """The sum of ``fn(*chunk_of_arrays)`` (a pytree) over consecutive chunks of ``chunk`` examples."""
    return reduce_over_chunks(fn, arrays, chunk, jnp.sum, jnp.add)


def concat_over_chunks(fn: Callable, arrays: tuple, chunk: int) -> Array:
    """``fn(*chunk_of_arrays)`` (one value per example) over consecutive chunks, concatenated."""
    return reduce_over_chunks(fn, arrays, chunk, lambda t, axis: t.reshape((-1,) + t.shape[2:]),
                               lambda a, b: jnp.concatenate([a, b]))


def max_over_chunks(fn: Callable, x: Array, chunk: int) -> Array:
    """The largest of the scalars ``fn(chunk_of_x)`` over consecutive chunks of ``chunk`` examples."""
    return reduce_over_chunks(fn, (x,), chunk, jnp.max, jnp.maximum)


def errors_of(logits: Array, y: Array, task: str) -> Array:
    """Per example: 1.0 where ``argmax(logits)`` is not ``y``, else 0.0; for the ``"ratings"`` task the
    squared error of the expected star value against ``y + 1`` stars."""
    if task == "ratings":
        return (ratings.expected_rating(logits) - (y + 1).astype(jnp.float32)) ** 2
    return (jnp.argmax(logits, axis=-1) != y).astype(jnp.float32)


def evaluate(params, act: Callable, x: Array, y: Array, task: str, chunk: int) -> tuple[Array, Array]:
    """``(metric, sparsity_per_layer)`` over all of ``x``: error rate (``sqrt`` of the mean squared error,
    the RMSE, for ratings) and the fraction of exact zeros of each hidden layer, in chunks of ``chunk``
    examples."""
    widths = jnp.asarray([layer["w"].shape[-1] for layer in params[:-1]], jnp.float32)

    def chunk_sums(x_chunk, y_chunk):
        logits, hidden = mlp.apply(params, x_chunk, act)
        errors = jnp.sum(errors_of(logits, y_chunk, task))
        zeros = jnp.stack([jnp.sum(h == 0).astype(jnp.float32) for h in hidden]) if hidden else jnp.zeros((0,))
        return errors, zeros

    n = int(x.shape[0])
    errors, zeros = sum_over_chunks(chunk_sums, (x, y), chunk)
    metric = jnp.sqrt(errors / n) if task == "ratings" else errors / n
    return metric, zeros / (n * widths) if len(params) > 1 else zeros


def example_errors(params, act: Callable, x: Array, y: Array, task: str, chunk: int) -> Array:
    """Per example of ``x``: :func:`errors_of` its prediction, in chunks of ``chunk`` examples."""

    def chunk_errors(x_chunk, y_chunk):
        return errors_of(mlp.apply(params, x_chunk, act)[0], y_chunk, task)

    return concat_over_chunks(chunk_errors, (x, y), chunk)


def activity(params, act: Callable, x: Array, chunk: int) -> tuple[Array, Array]:
    """``(top_class_share, silent_units_per_layer)`` over all of ``x`` (in chunks of ``chunk``): the
    largest fraction of examples predicted as one class, and for each hidden layer the fraction of its
    units that are exactly zero on every example."""
    n = int(x.shape[0])
    chunk = min(chunk, n)
    n_chunks = -(-n // chunk)
    padded = jnp.zeros((n_chunks * chunk, x.shape[1]), x.dtype).at[:n].set(x)
    real = (jnp.arange(n_chunks * chunk) < n).reshape(n_chunks, chunk, 1)  # padding counts for nothing

    def chunk_counts(inputs):
        x_chunk, real_chunk = inputs
        logits, hidden = mlp.apply(params, x_chunk, act)
        counts = jnp.sum(jax.nn.one_hot(jnp.argmax(logits, axis=-1), logits.shape[-1]) * real_chunk, axis=0)
        return counts, [jnp.any((h != 0) & real_chunk, axis=0) for h in hidden]

    counts, active = jax.lax.map(chunk_counts, (padded.reshape(n_chunks, chunk, -1), real))
    silent = jnp.stack([1.0 - jnp.mean(jnp.any(a, axis=0)) for a in active]) if active else jnp.zeros((0,))
    return jnp.max(jnp.sum(counts, axis=0)) / n, silent


class Measures(NamedTuple):
    """What a finished run is measured by (the fields of :class:`deep_sparse.train.Result` of the same
    names): the metric of :func:`evaluate` on each split, the test set's sparsity per hidden layer, the
    :func:`activity` of the validation set and the test set's :func:`example_errors`."""

    test_error: Array
    valid_error: Array
    train_error: Array
    sparsity_per_layer: Array
    top_class_share: Array
    silent_units_per_layer: Array
    test_example_errors: Array


def measure(params, act: Callable, data: Data, task: str, chunk: int, n_labeled: int) -> Measures:
    """:class:`Measures` of ``params`` on ``data``; the training error is measured on the ``n_labeled``
    examples fine-tuning read."""
    test_error, test_sparsity = evaluate(params, act, data.x_test, data.y_test, task, chunk)
    valid_error, _ = evaluate(params, act, data.x_valid, data.y_valid, task, chunk)
    train_error, _ = evaluate(params, act, data.x_train[:n_labeled], data.y_train[:n_labeled], task, chunk)
    top_class_share, silent_units = activity(params, act, data.x_valid, chunk)
    return Measures(test_error, valid_error, train_error, test_sparsity, top_class_share, silent_units,
                    example_errors(params, act, data.x_test, data.y_test, task, chunk))
