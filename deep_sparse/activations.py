"""Activation functions of Glorot, Bordes & Bengio (2011), as pure elementwise JAX functions.

Every function maps an array ``x`` of pre-activations to an array of the same shape and dtype. All of
them are jit-, grad- and vmap-safe, and their gradients are finite everywhere (at 0 included: the
rectifier's derivative at 0 is taken as 0, the subgradient ``jax.nn.relu`` uses).

Functions that take a hyperparameter (``scaled_softplus``'s ``alpha``, the LIF constants) accept it as
a traced value, so a sweep can ``vmap`` over it.

Use :func:`get` to look an activation up by name::

    act = get("rectifier")
    act = get("scaled_softplus", alpha=3.0)
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from deep_sparse import names as names_lib

Array = jax.Array


def rectifier(x: Array) -> Array:
    """Rectifier (section 3.1): ``max(0, x)``. Exact zeros for x <= 0; derivative 0 at x = 0."""
    return jax.nn.relu(x)


def softplus(x: Array) -> Array:
    """Softplus (section 3.1, Dugas et al. 2001): ``log(1 + e^x)``.

    Computed as ``max(x, 0) + log1p(exp(-|x|))``, which neither overflows for large x nor loses
    precision for very negative x.
    """
    return jnp.logaddexp(x, 0.0)


def scaled_softplus(x: Array, alpha: Array | float = 1.0) -> Array:
    """Rescaled softplus (section 4.1): ``softplus(alpha * x) / alpha``.

    ``alpha = 1`` is the softplus; as ``alpha -> inf`` it tends to the rectifier (uniformly, with
    error at most ``log(2) / alpha``); ``alpha = inf`` returns the rectifier exactly. ``alpha`` may be a
    traced scalar (vmap over it) and must be positive (a concrete alpha <= 0 raises ValueError).
    """
    if not isinstance(alpha, jax.core.Tracer) and np.any(~(np.asarray(alpha) > 0)):
        raise ValueError(f"scaled_softplus needs alpha > 0, got {alpha!r}")
    alpha = jnp.asarray(alpha, dtype=jnp.result_type(x, jnp.float32))
    is_infinite = jnp.isinf(alpha)
    # Substitute a harmless finite alpha on the rectifier branch so that neither branch (nor its
    # gradient) produces inf * 0 = NaN under jnp.where.
    finite_alpha = jnp.where(is_infinite, 1.0, alpha)
    smooth = softplus(finite_alpha * x) / finite_alpha
    return jnp.where(is_infinite, rectifier(x), smooth)


def tanh(x: Array) -> Array:
    """Hyperbolic tangent ``tanh(x)`` (section 2.1)."""
    return jnp.tanh(x)


def sigmoid(x: Array) -> Array:
    """Logistic sigmoid ``1 / (1 + e^-x)`` (section 2.1)."""
    return jax.nn.sigmoid(x)


def half_negated_rectifier(x: Array) -> Array:
    """Rectifier with half of the units negated (section 4.1).

    ``h_j = max(0, x_j)`` for the first ``ceil(n/2)`` units of the last axis and ``h_j = -max(0, x_j)``
    for the remaining ``floor(n/2)``. The paper uses this to cancel out the mean activation of a layer;
    the output keeps exactly the rectifier's zeros, so sparsity is unchanged.
    """
    n_units = x.shape[-1]
    signs = jnp.where(jnp.arange(n_units) < (n_units + 1) // 2, 1.0, -1.0).astype(x.dtype)
    return rectifier(x) * signs


# Default constants of the leaky integrate-and-fire rate (section 2.1, Dayan & Abbott 2001), in units
# where the rate is in spikes per ms and the current is dimensionless: membrane time constant
# tau = 20 ms, refractory period t_ref = 2 ms, resting potential V_r = 0, threshold V_th = 1, membrane
# resistance R = 1 and potential E = 0, so the neuron fires once the input current exceeds 1.
LIF_DEFAULTS = dict(tau=20.0, t_ref=2.0, v_reset=0.0, v_threshold=1.0, resistance=1.0, potential=0.0)


def lif_rate(
    current: Array,
    tau: float = LIF_DEFAULTS["tau"],
    t_ref: float = LIF_DEFAULTS["t_ref"],
    v_reset: float = LIF_DEFAULTS["v_reset"],
    v_threshold: float = LIF_DEFAULTS["v_threshold"],
    resistance: float = LIF_DEFAULTS["resistance"],
    potential: float = LIF_DEFAULTS["potential"],
) -> Array:
    """Firing rate of the leaky integrate-and-fire neuron (section 2.1, equation for f(I)).

    ``f(I) = [tau * log((E + R I - V_r) / (E + R I - V_th)) + t_ref]^-1`` if ``E + R I > V_th``,
    else 0. Defaults in :data:`LIF_DEFAULTS`. The rate rises from exactly 0 at threshold with infinite
    slope, so the gradient is clipped there: just above threshold the log term is evaluated on a
    drive of at least ``V_th + 1e-6`` (the rate there, about 0.0036 with the defaults, is under 1% of the
    maximum ``1 / t_ref``),
    which keeps values and gradients finite everywhere.
    """
    drive = potential + resistance * current
    above = drive > v_threshold
    safe_drive = jnp.where(above, jnp.maximum(drive, v_threshold + 1e-6), v_threshold + 1.0)
    rate = 1.0 / (tau * jnp.log((safe_drive - v_reset) / (safe_drive - v_threshold)) + t_ref)
    return jnp.where(above, rate, 0.0).astype(jnp.result_type(current, jnp.float32))


def rectified_tanh(x: Array) -> Array:
    """``max(tanh(x), 0)`` (section 4.1, footnote 3): exact zeros like the rectifier, bounded like tanh."""
    return jax.nn.relu(jnp.tanh(x))


def abs_tanh(x: Array) -> Array:
    """``|tanh(x)|`` (Jarrett et al. 2009; section 3.1 footnote 1): sign-symmetric. Derivative 0 at 0."""
    # jnp.abs has derivative sign(x) = 0 at 0, which is finite.
    return jnp.abs(jnp.tanh(x))


def linear(x: Array) -> Array:
    """Identity, used for linear reconstruction layers (section 3.2, strategy 3)."""
    return x


# the functions of the names listed without JAX in deep_sparse.names (what --help shows)
ACTIVATIONS: dict[str, Callable[..., Array]] = {name: globals()[name] for name in names_lib.ACTIVATIONS}

# Activations whose outputs are exactly zero on a set of positive measure: only for these does the
# fraction of exact zeros measure a learned sparsity.
EXACTLY_SPARSE = frozenset({"rectifier", "half_negated_rectifier", "lif_rate", "rectified_tanh"})


def names() -> tuple[str, ...]:
    """The names :func:`get` knows, sorted."""
    return tuple(sorted(ACTIVATIONS))


def get(name: str | Callable[..., Array], **params) -> Callable[[Array], Array]:
    """Return the activation called ``name`` as a function of ``x`` alone.

    Extra keyword arguments (``alpha`` for ``scaled_softplus``, the LIF constants for ``lif_rate``)
    are bound with :func:`functools.partial`; they may be traced values. A callable is returned as is
    (with ``params`` bound, if any). An unknown name raises ``ValueError`` listing the known names.
    """
    if callable(name):
        return functools.partial(name, **params) if params else name
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known activations: {', '.join(names())}")
    function = ACTIVATIONS[name]
    return functools.partial(function, **params) if params else function
