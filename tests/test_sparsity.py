"""Exact-zero sparsity metrics against NumPy (sections 3.1, 4.1)."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings, strategies as st

from deep_sparse import mlp, sparsity

RNG = np.random.default_rng(2)


def sparse_array(shape, p):
    a = RNG.normal(size=shape)
    a[RNG.random(shape) < p] = 0.0
    return a.astype(np.float32)


def test_fraction_of_zeros_matches_numpy():
    h = sparse_array((30, 17), 0.6)
    np.testing.assert_allclose(sparsity.fraction_of_zeros(jnp.asarray(h)), np.mean(h == 0), rtol=1e-6)
    # tiny values are not zeros
    assert float(sparsity.fraction_of_zeros(jnp.asarray([1e-30, 0.0, -1e-30, 0.0]))) == 0.5


def test_per_layer_and_mean():
    hidden = [sparse_array((10, 8), 0.2), sparse_array((10, 40), 0.9)]
    per_layer = np.array([np.mean(h == 0) for h in hidden])
    np.testing.assert_allclose(sparsity.fraction_of_zeros_per_layer([jnp.asarray(h) for h in hidden]), per_layer, rtol=1e-6)
    # every layer counts equally, whatever its width
    np.testing.assert_allclose(sparsity.mean_fraction_of_zeros([jnp.asarray(h) for h in hidden]), per_layer.mean(), rtol=1e-6)
    assert sparsity.fraction_of_zeros_per_layer([]).shape == (0,)


def test_active_units_per_example():
    h = sparse_array((12, 9), 0.5)
    np.testing.assert_array_equal(sparsity.active_units_per_example(jnp.asarray(h)), (h != 0).sum(-1))


@functools.partial(jax.jit, static_argnums=1)
def _fresh_layer_sparsity(key, n_in):
    key_w, key_x = jax.random.split(key)
    params = mlp.init(key_w, (n_in, 1000, 10), "rectifier")
    x = jax.random.normal(key_x, (200, n_in))
    _, hidden = mlp.apply(params, x, "rectifier")
    return sparsity.fraction_of_zeros(hidden[0])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_in=st.sampled_from([10, 100]))
def test_fresh_rectifier_layer_is_about_half_sparse(seed, n_in):
    """Section 3.1: after uniform initialization, about 50% of rectifier outputs are exact zeros."""
    fraction = float(_fresh_layer_sparsity(jax.random.PRNGKey(seed), n_in))
    assert 0.40 <= fraction <= 0.60, fraction


def test_softplus_and_tanh_have_no_exact_zeros():
    params = mlp.init(jax.random.PRNGKey(0), (20, 50, 3), "softplus")
    x = jax.random.normal(jax.random.PRNGKey(1), (30, 20))
    for name in ("softplus", "tanh"):
        _, hidden = mlp.apply(params, x, name)
        assert float(sparsity.fraction_of_zeros(hidden[0])) == 0.0


def test_jit_and_vmap():
    h = jnp.asarray(sparse_array((4, 10, 6), 0.5))
    got = jax.jit(jax.vmap(sparsity.fraction_of_zeros))(h)
    np.testing.assert_allclose(got, (np.asarray(h) == 0).mean(axis=(1, 2)), rtol=1e-6)
    got = jax.jit(jax.vmap(sparsity.mean_fraction_of_zeros))([h, h[..., :3]])
    ref = ((np.asarray(h) == 0).mean(axis=(1, 2)) + (np.asarray(h)[..., :3] == 0).mean(axis=(1, 2))) / 2
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    np.testing.assert_array_equal(jax.jit(jax.vmap(sparsity.active_units_per_example))(h), (np.asarray(h) != 0).sum(-1))
