"""Star-rating prediction (section 4.2).

Ratings 1..5 are predicted by a 5-class softmax regression; the predicted rating is the expected star
value under the output probabilities, and performance is measured by the root mean squared error.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

STARS = (1, 2, 3, 4, 5)


def expected_rating(logits: Array, ratings: Sequence[float] | Array = STARS) -> Array:
    """Expected star value (section 4.2): ``sum_k P(k | x) r_k``, ``P = softmax(logits)``.

    ``logits`` has shape ``(..., K)`` with ``K = len(ratings)``; returns shape ``(...)``.
    """
    values = jnp.asarray(ratings, jnp.result_type(logits, jnp.float32))
    if values.ndim != 1 or logits.shape[-1] != values.shape[0]:
        raise ValueError(f"logits have {logits.shape[-1]} classes but ratings has shape {tuple(values.shape)}")
    return jax.nn.softmax(logits, axis=-1) @ values


def rmse(predicted: Array, target: Array) -> Array:
    """Root mean squared error (section 4.2): ``sqrt(mean((predicted - target)^2))``.

    The gradient at zero error (where ``sqrt`` has infinite slope) is taken as 0 so it stays finite.
    """
    predicted = jnp.asarray(predicted)
    target = jnp.asarray(target)
    if predicted.shape != target.shape:
        raise ValueError(f"predicted has shape {tuple(predicted.shape)} but target has {tuple(target.shape)}")
    mse = jnp.mean(jnp.square(predicted - target.astype(predicted.dtype)))
    positive = mse > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, mse, 1.0)), 0.0)


def labels_to_classes(ratings: Array) -> Array:
    """Map star ratings 1..5 to class indices 0..4: ``k = r - 1`` (int32).

    A concrete rating that is not an integer in 1..5 raises ValueError naming it.
    """
    if not isinstance(ratings, jax.core.Tracer):
        values = np.asarray(ratings)
        bad = values[~np.isin(values, STARS)] if values.size else values
        if bad.size:
            raise ValueError(f"ratings must be integers in 1..5, got {bad.ravel()[0].item()!r}")
    return jnp.asarray(ratings).astype(jnp.int32) - 1


def classes_to_ratings(classes: Array) -> Array:
    """Inverse of :func:`labels_to_classes`: class indices 0..4 to ratings 1..5."""
    return jnp.asarray(classes).astype(jnp.int32) + 1
