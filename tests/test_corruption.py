"""Corruption processes of the auto-encoders' inputs: statistics, dispatch by name, levels checked and
traceable."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deep_sparse import corruption

X01 = np.random.default_rng(3).uniform(0, 1, (5, 6)).astype(np.float32)


def test_mask_noise_statistics():
    x = jnp.ones((200, 100)) * 3.0
    y = np.asarray(corruption.mask_noise(jax.random.PRNGKey(0), x, 0.25))
    assert set(np.unique(y)) <= {0.0, 3.0}
    assert abs((y == 0).mean() - 0.25) < 0.01
    assert np.all(np.asarray(corruption.mask_noise(jax.random.PRNGKey(0), x, 0.0)) == 3.0)
    assert np.all(np.asarray(corruption.mask_noise(jax.random.PRNGKey(0), x, 1.0)) == 0.0)


def test_gaussian_noise_statistics():
    x = jnp.full((200, 100), 2.0)
    noise = np.asarray(corruption.gaussian_noise(jax.random.PRNGKey(1), x, 0.5)) - 2.0
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.5) < 0.01
    np.testing.assert_array_equal(corruption.gaussian_noise(jax.random.PRNGKey(1), x, 0.0), x)


def test_salt_and_pepper_statistics():
    x = jnp.full((200, 100), 0.5)
    y = np.asarray(corruption.salt_and_pepper(jax.random.PRNGKey(2), x, 0.3))
    assert set(np.unique(y)) <= {0.0, 0.5, 1.0}
    assert abs((y == 0).mean() - 0.15) < 0.01 and abs((y == 1).mean() - 0.15) < 0.01
    y = np.asarray(corruption.salt_and_pepper(jax.random.PRNGKey(2), x, 1.0, low=-1.0, high=2.0))
    assert set(np.unique(y)) == {-1.0, 2.0}


def test_corrupt_dispatches_by_name():
    key = jax.random.PRNGKey(4)
    x = jnp.asarray(X01)
    np.testing.assert_array_equal(corruption.corrupt(key, x, "mask", 0.3), corruption.mask_noise(key, x, 0.3))
    np.testing.assert_array_equal(corruption.corrupt(key, x, "gaussian", 0.3), corruption.gaussian_noise(key, x, 0.3))
    np.testing.assert_array_equal(corruption.corrupt(key, x, "salt_and_pepper", 0.3), corruption.salt_and_pepper(key, x, 0.3))
    with pytest.raises(ValueError, match="unknown corruption 'dropout'.*mask, gaussian, salt_and_pepper"):
        corruption.corrupt(key, x, "dropout", 0.3)


@pytest.mark.parametrize("fn,level,match", [
    (corruption.mask_noise, 1.5, r"corruption probability must lie in \[0, 1\], got 1.5"),
    (corruption.mask_noise, -0.1, r"got -0.1"),
    (corruption.salt_and_pepper, 2.0, r"got 2.0"),
    (corruption.gaussian_noise, -1.0, r"std must be >= 0, got -1.0"),
])
def test_bad_corruption_level(fn, level, match):
    with pytest.raises(ValueError, match=match):
        fn(jax.random.PRNGKey(0), jnp.ones((2, 3)), level)


def test_corruption_level_may_be_traced():
    key = jax.random.PRNGKey(5)
    x = jnp.ones((50, 40))
    levels = jnp.asarray([0.0, 0.2, 0.9])
    for kind in corruption.CORRUPTIONS:
        batched = jax.jit(jax.vmap(lambda p: corruption.corrupt(key, x, kind, p)))(levels)
        for k, p in enumerate([0.0, 0.2, 0.9]):
            np.testing.assert_allclose(batched[k], corruption.corrupt(key, x, kind, p), rtol=1e-6, atol=1e-6)


def test_no_corruption_leaves_the_input_as_it_is():
    x = jnp.asarray(np.random.default_rng(1).random((4, 6)), jnp.float32)
    np.testing.assert_array_equal(np.asarray(corruption.corrupt(jax.random.PRNGKey(0), x, "none", 0.9)), np.asarray(x))
