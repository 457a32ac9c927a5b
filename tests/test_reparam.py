"""Rescaling symmetry of rectifier networks (section 3.1) against NumPy."""
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from deep_sparse import mlp, reparam


def np_forward(params, x, act):
    h = np.asarray(x, np.float64)
    for layer in params[:-1]:
        h = act(h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64))
    return h @ np.asarray(params[-1]["w"], np.float64) + np.asarray(params[-1]["b"], np.float64)


def random_net(seed, sizes):
    """A random rectifier network: uniform weights in the mlp.init range, random (non-zero) biases."""
    rng = np.random.default_rng(seed)
    return [{"w": jnp.asarray(rng.uniform(-1, 1, (n_in, n_out)) * np.sqrt(6 / (n_in + n_out)), jnp.float32),
             "b": jnp.asarray(rng.normal(0, 0.5, n_out), jnp.float32)} for n_in, n_out in zip(sizes[:-1], sizes[1:])]


@functools.partial(jax.jit, static_argnums=3)
def _rescaled_apply(params, alphas, x, activation):
    return mlp.apply(params, x, activation), mlp.apply(reparam.rescale(params, alphas), x, activation)


def test_rescale_formula_matches_numpy():
    params = random_net(0, (4, 5, 3, 2))
    alphas = [2.0, 0.5, 3.0]
    out = reparam.rescale(params, alphas)
    cumulative = np.cumprod(alphas)
    for i, (new, old) in enumerate(zip(out, params)):
        np.testing.assert_allclose(new["w"], np.asarray(old["w"]) / alphas[i], rtol=1e-6)
        np.testing.assert_allclose(new["b"], np.asarray(old["b"]) / cumulative[i], rtol=1e-6)
    np.testing.assert_allclose(reparam.output_scale(alphas), 1 / 3.0, rtol=1e-6)


# Widths from a small set keep the number of distinct shapes (hence of compilations) low.
sizes_strategy = st.lists(st.sampled_from([1, 3, 8]), min_size=2, max_size=5)


@settings(max_examples=25, deadline=None)
@given(sizes=sizes_strategy, seed=st.integers(0, 10_000), log_alphas=st.lists(st.floats(-2, 2), min_size=5, max_size=5),
       half_negated=st.booleans())
def test_invariance_when_product_is_one(sizes, seed, log_alphas, half_negated):
    n_layers = len(sizes) - 1
    logs = np.asarray(log_alphas[:n_layers])
    logs = logs - logs.mean()  # product of alphas = 1
    alphas = np.exp(logs)
    params = random_net(seed, sizes)
    x = jnp.asarray(np.random.default_rng(seed).normal(size=(7, sizes[0])), jnp.float32)
    name = "half_negated_rectifier" if half_negated else "rectifier"
    (before, hidden), (after, hidden_after) = _rescaled_apply(params, jnp.asarray(alphas, jnp.float32), x, name)
    scale = float(np.max(np.abs(np.asarray(before)))) + 1e-3
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4 * scale)
    # hidden layer i is divided by prod_{j<=i} alpha_j
    for i, (h, h2) in enumerate(zip(hidden, hidden_after)):
        np.testing.assert_allclose(np.asarray(h2) * np.prod(alphas[: i + 1]), h, rtol=1e-4, atol=1e-4 * (np.abs(h).max() + 1e-3))


@settings(max_examples=25, deadline=None)
@given(sizes=sizes_strategy, seed=st.integers(0, 10_000), alphas=st.lists(st.floats(0.2, 5.0), min_size=5, max_size=5))
def test_output_scaled_by_one_over_product(sizes, seed, alphas):
    n_layers = len(sizes) - 1
    alphas = alphas[:n_layers]
    params = random_net(seed, sizes)
    x = np.random.default_rng(seed + 1).normal(size=(6, sizes[0]))
    _, (after, _) = _rescaled_apply(params, jnp.asarray(alphas, jnp.float32), jnp.asarray(x, jnp.float32), "rectifier")
    # independent reference: numpy forward of the original network, times 1/prod
    ref = np_forward(params, x, lambda z: np.maximum(z, 0)) / math.prod(alphas)
    np.testing.assert_allclose(after, ref, rtol=1e-4, atol=1e-4 * (np.abs(ref).max() + 1e-3))
    np.testing.assert_allclose(reparam.output_scale(alphas), 1 / math.prod(alphas), rtol=1e-5)


def test_not_invariant_for_tanh():
    params = random_net(1, (4, 6, 3))
    x = jnp.asarray(np.random.default_rng(1).normal(size=(5, 4)), jnp.float32)
    before, _ = mlp.apply(params, x, "tanh")
    after, _ = mlp.apply(reparam.rescale(params, [4.0, 0.25]), x, "tanh")
    assert np.max(np.abs(np.asarray(after) - np.asarray(before))) > 1e-2


def test_bad_alphas():
    params = random_net(0, (3, 4, 2))
    with pytest.raises(ValueError, match="alphas has 3 entries but params has 2 layers"):
        reparam.rescale(params, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"every alpha must be > 0, got \[1.0, -2.0\]"):
        reparam.rescale(params, [1.0, -2.0])
    with pytest.raises(ValueError, match=r"every alpha must be > 0"):
        reparam.rescale(params, jnp.asarray([0.0, 1.0]))
    with pytest.raises(ValueError, match="alphas must be a vector"):
        reparam.output_scale(jnp.ones((2, 2)))


def test_jit_and_vmap_over_alphas():
    params = random_net(2, (4, 5, 3))
    x = jnp.asarray(np.random.default_rng(2).normal(size=(5, 4)), jnp.float32)
    alphas = jnp.asarray([[1.0, 1.0], [2.0, 0.5], [3.0, 2.0]], jnp.float32)
    batched = jax.jit(jax.vmap(lambda a: mlp.apply(reparam.rescale(params, a), x)[0]))(alphas)
    for k in range(3):
        np.testing.assert_allclose(batched[k], mlp.apply(reparam.rescale(params, alphas[k]), x)[0], rtol=1e-5, atol=1e-6)
    scales = jax.jit(jax.vmap(reparam.output_scale))(alphas)
    np.testing.assert_allclose(scales, [1.0, 1.0, 1 / 6], rtol=1e-6)
    # gradient of the rescaled network's output with respect to the alphas is finite
    g = jax.grad(lambda a: jnp.sum(mlp.apply(reparam.rescale(params, a), x)[0]))(alphas[1])
    assert np.all(np.isfinite(g))
