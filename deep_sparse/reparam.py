"""Rescaling symmetry of rectifier networks (section 3.1).

For per-layer positive scalars ``alpha_1..alpha_n`` (one per layer of ``params``, the output layer
included), the reparametrization

    W'_i = W_i / alpha_i,        b'_i = b_i / prod_{j<=i} alpha_j

changes the network's output to ``s' = s / prod_{j=1..n} alpha_j``; in particular the function is
unchanged when the product is 1. Proof sketch: with ``h'_{i-1} = h_{i-1} / prod_{j<i} alpha_j``,
``h'_{i-1} W'_i + b'_i = (h_{i-1} W_i + b_i) / prod_{j<=i} alpha_j`` and ``act(c z) = c act(z)`` for
``c > 0``. So the invariance holds for positively homogeneous activations (rectifier, half-negated
rectifier, linear), NOT for tanh, sigmoid, softplus or the other saturating/smooth ones. It is the
"ill-conditioning of the parametrization" the paper points out.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from deep_sparse.hparam_rules import INIT_ALPHA_NAMES

Array = jax.Array

#: Activations for which :func:`rescale` leaves the function unchanged (up to the output scale).
POSITIVELY_HOMOGENEOUS = frozenset({"rectifier", "half_negated_rectifier", "linear"})


def _as_alpha_vector(alphas) -> Array:
    if isinstance(alphas, (list, tuple)):
        concrete = [a for a in alphas if not isinstance(a, jax.core.Tracer)]
        if concrete and np.any(~(np.asarray(concrete, dtype=np.float64) > 0)):
            raise ValueError(f"every alpha must be > 0, got {list(alphas)!r}")
        alphas = jnp.stack([jnp.asarray(a, jnp.float32) for a in alphas]) if alphas else jnp.zeros((0,))
    alphas = jnp.asarray(alphas)
    if alphas.ndim != 1:
        raise ValueError(f"alphas must be a vector with one entry per layer, got shape {tuple(alphas.shape)}")
    if not isinstance(alphas, jax.core.Tracer):
        values = np.asarray(alphas)
        if np.any(~(values > 0)):
            raise ValueError(f"every alpha must be > 0, got {values.tolist()!r}")
    return alphas


def output_scale(alphas: Sequence[float] | Array) -> Array:
    """Factor by which :func:`rescale` multiplies the output (section 3.1): ``1 / prod_j alpha_j``."""
    return 1.0 / jnp.prod(_as_alpha_vector(alphas))


def rescale(params: list, alphas: Sequence[float] | Array) -> list:
    """Reparametrize an MLP (section 3.1): ``W'_i = W_i / alpha_i``, ``b'_i = b_i / prod_{j<=i} alpha_j``.

    ``params`` is a :mod:`deep_sparse.mlp` params list; ``alphas`` has one positive entry per layer
    (output layer included) and may be traced (vmap over it). For a rectifier (or half-negated
    rectifier) network the logits become ``s / prod_j alpha_j`` (:func:`output_scale`), the hidden
    activations of layer i become ``h_i / prod_{j<=i} alpha_j``, and the function is identical when
    the product is 1. Raises ValueError if ``len(alphas) != len(params)`` or a concrete alpha is <= 0.
    """
    alphas = _as_alpha_vector(alphas)
    if alphas.shape[0] != len(params):
        raise ValueError(f"alphas has {alphas.shape[0]} entries but params has {len(params)} layers")
    cumulative = jnp.cumprod(alphas)
    rescaled = []
    for index, layer in enumerate(params):
        w, b = layer["w"], layer["b"]
        rescaled.append({
            **layer,
            "w": w / alphas[index].astype(w.dtype),
            "b": b / cumulative[index].astype(b.dtype),
        })
    return rescaled


def initial_alphas(hparams, n_hidden: int) -> Array:
    """The alpha vector a network of ``n_hidden`` hidden layers is initialized with (``hparams``: a
    :class:`deep_sparse.config.Hparams`, values traced or not): ``alpha_i = init_alpha_i`` for hidden
    layers 1 to 3, 1 for deeper ones, and ``alpha_out = 1 / prod_i alpha_i``, so the product is 1.
    :func:`deep_sparse.hparam_rules.init_alpha_values` gives the ``init_alpha_*`` of an alpha vector."""
    named = [jnp.asarray(getattr(hparams, name), jnp.float32) for name in INIT_ALPHA_NAMES[:n_hidden]]
    hidden = jnp.stack(named + [jnp.float32(1.0)] * (n_hidden - len(named))) if n_hidden else jnp.zeros((0,))
    return jnp.concatenate([hidden, (1.0 / jnp.prod(hidden))[None]])
