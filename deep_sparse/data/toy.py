"""A toy classification problem for examples and quick experiments: Gaussian blobs, made by NumPy
(no file, no download)."""
from __future__ import annotations

import numpy as np


def blobs(n: int, seed: int, d: int = 20, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points around ``classes`` fixed centres (drawn once, the same for every ``seed``) in ``d``
    dimensions, unit spread: inputs ``(n, d)`` float64, labels ``(n,)`` int64. Different seeds give
    independent splits of the same problem."""
    centers = np.random.default_rng(0).normal(0.0, 1.0, (classes, d))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    return centers[y] + rng.normal(0.0, 1.0, (n, d)), y
