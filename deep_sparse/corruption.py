"""Corruption processes of the denoising auto-encoders' inputs (greedy pre-training, section 3.2).

Each takes a PRNG key, a batch ``x`` and a level, and returns ``x~``, the corrupted batch:

===================  ===============================================  =====================
name                 ``x~_j``                                         level
===================  ===============================================  =====================
``mask``             ``m_j x_j``, ``m_j ~ Bernoulli(1 - p)``          p (section 4.1: 0.25)
``gaussian``         ``x_j + std eps_j``, ``eps_j ~ N(0, 1)``         std (workshop paper)
``salt_and_pepper``  ``low`` or ``high`` (p/2 each), else ``x_j``   p (section 4.2)
``none``             ``x_j``                                          unused
===================  ===============================================  =====================

Only the input is corrupted; the auto-encoder's target stays clean (:mod:`deep_sparse.dae`). Everything
is pure and jit-, grad- and vmap-safe; the level may be traced, so a sweep can ``vmap`` over it.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from deep_sparse import names

Array = jax.Array

CORRUPTIONS = names.CORRUPTIONS


def _is_concrete(value) -> bool:
    return not isinstance(value, jax.core.Tracer)


def _check_probability(p, what: str = "corruption probability") -> None:
    if _is_concrete(p):
        value = np.asarray(p)
        if np.any(~((value >= 0) & (value <= 1))):
            raise ValueError(f"{what} must lie in [0, 1], got {value.tolist()!r}")


def _check_std(std) -> None:
    if _is_concrete(std):
        value = np.asarray(std)
        if np.any(~(value >= 0)):
            raise ValueError(f"Gaussian noise std must be >= 0, got {value.tolist()!r}")


def _float(x) -> Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def mask_noise(key: Array, x: Array, p: Array | float) -> Array:
    """Masking noise (section 4.1, Vincent et al. 2008): ``x~_j = m_j x_j``, ``m_j ~ Bernoulli(1 - p)``.

    Each entry is set to 0 independently with probability ``p`` (the paper uses p = 0.25 on images).
    ``p`` may be traced; a concrete ``p`` outside [0, 1] raises ValueError.
    """
    _check_probability(p)
    x = _float(x)
    dropped = jax.random.uniform(key, x.shape) < p
    return jnp.where(dropped, jnp.zeros_like(x), x)


def gaussian_noise(key: Array, x: Array, std: Array | float) -> Array:
    """Additive i.i.d. Gaussian noise (workshop paper): ``x~ = x + std * eps``, ``eps ~ N(0, 1)``.

    ``std`` may be traced; a concrete negative ``std`` raises ValueError.
    """
    _check_std(std)
    x = _float(x)
    return x + jnp.asarray(std, x.dtype) * jax.random.normal(key, x.shape, x.dtype)


def salt_and_pepper(
    key: Array, x: Array, p: Array | float, low: float = 0.0, high: float = 1.0
) -> Array:
    """Salt-and-pepper noise (section 4.2): each entry is replaced with probability ``p``, by ``low``
    with probability ``p / 2`` and by ``high`` with probability ``p / 2``; kept otherwise.

    With one uniform draw ``u_j``: ``x~_j = low`` if ``u_j < p/2``, ``high`` if ``p/2 <= u_j < p``,
    else ``x_j``. Suited to the binary bag-of-words inputs of section 4.2 (low = 0, high = 1).
    ``p`` may be traced; a concrete ``p`` outside [0, 1] raises ValueError.
    """
    _check_probability(p)
    x = _float(x)
    u = jax.random.uniform(key, x.shape)
    low_value = jnp.asarray(low, x.dtype)
    high_value = jnp.asarray(high, x.dtype)
    return jnp.where(u < p / 2, low_value, jnp.where(u < p, high_value, x))


def no_noise(key: Array, x: Array, level: Array | float) -> Array:
    """No corruption: ``x`` itself (an ordinary auto-encoder; e.g. the layers above the first when
    only the input pixels are corrupted)."""
    del key, level
    return x


_CORRUPTION_FUNCTIONS: dict[str, Callable[..., Array]] = {
    "mask": mask_noise,
    "gaussian": gaussian_noise,
    "salt_and_pepper": salt_and_pepper,
    "none": no_noise,
}


def corrupt(key: Array, x: Array, kind: str, level: Array | float) -> Array:
    """Corrupt ``x`` with the process called ``kind`` at ``level``.

    ``kind`` is one of :data:`CORRUPTIONS`: ``"mask"`` (``level`` = probability of zeroing),
    ``"gaussian"`` (``level`` = standard deviation), ``"salt_and_pepper"`` (``level`` = probability of
    replacing an entry, by 0 or 1 with equal chance), ``"none"`` (``x`` unchanged). ``level`` may be traced. An unknown ``kind``
    raises ValueError listing the known names.
    """
    if kind not in _CORRUPTION_FUNCTIONS:
        raise ValueError(f"unknown corruption {kind!r}; known corruptions: {', '.join(CORRUPTIONS)}")
    return _CORRUPTION_FUNCTIONS[kind](key, x, level)
