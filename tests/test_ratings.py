"""Star ratings (section 4.2) against NumPy."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deep_sparse import ratings

RNG = np.random.default_rng(5)


def np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_expected_rating_value_and_gradient():
    logits = RNG.normal(0, 2, size=(9, 5))
    got = ratings.expected_rating(jnp.asarray(logits, jnp.float32))
    p = np_softmax(logits)
    r = np.arange(1, 6, dtype=np.float64)
    np.testing.assert_allclose(got, p @ r, rtol=1e-5)
    assert np.all((np.asarray(got) >= 1) & (np.asarray(got) <= 5))
    # d E[r] / d z_k = p_k (r_k - E[r])
    g = jax.grad(lambda z: ratings.expected_rating(z)[0])(jnp.asarray(logits, jnp.float32))
    np.testing.assert_allclose(g[0], p[0] * (r - p[0] @ r), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g[1:], 0.0)
    custom = ratings.expected_rating(jnp.asarray(logits[:, :3], jnp.float32), ratings=(0.0, 0.5, 1.0))
    np.testing.assert_allclose(custom, np_softmax(logits[:, :3]) @ np.array([0, 0.5, 1.0]), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="logits have 4 classes"):
        ratings.expected_rating(jnp.zeros((2, 4)))


def test_expected_rating_extremes():
    logits = jnp.asarray([[1e4, 0, 0, 0, 0], [0, 0, 0, 0, 1e4], [0.0] * 5])
    np.testing.assert_allclose(ratings.expected_rating(logits), [1.0, 5.0, 3.0], rtol=1e-6)


def test_rmse_value_and_gradient():
    pred = RNG.uniform(1, 5, 20)
    target = RNG.integers(1, 6, 20).astype(np.float64)
    got = ratings.rmse(jnp.asarray(pred, jnp.float32), jnp.asarray(target, jnp.float32))
    ref = np.sqrt(np.mean((pred - target) ** 2))
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    g = jax.grad(ratings.rmse)(jnp.asarray(pred, jnp.float32), jnp.asarray(target, jnp.float32))
    np.testing.assert_allclose(g, (pred - target) / (20 * ref), rtol=1e-4, atol=1e-7)
    zero_grad = jax.grad(ratings.rmse)(jnp.ones(3), jnp.ones(3))
    assert float(ratings.rmse(jnp.ones(3), jnp.ones(3))) == 0.0 and np.all(np.isfinite(zero_grad))
    with pytest.raises(ValueError, match=r"predicted has shape \(3,\) but target has \(4,\)"):
        ratings.rmse(jnp.ones(3), jnp.ones(4))


def test_labels_to_classes():
    np.testing.assert_array_equal(ratings.labels_to_classes(np.array([1, 2, 3, 4, 5])), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(ratings.classes_to_ratings(ratings.labels_to_classes(jnp.asarray([5, 1]))), [5, 1])
    assert ratings.labels_to_classes(jnp.asarray([3])).dtype == jnp.int32
    with pytest.raises(ValueError, match="integers in 1..5, got 6"):
        ratings.labels_to_classes(np.array([1, 6]))
    with pytest.raises(ValueError, match="got 0"):
        ratings.labels_to_classes(jnp.asarray([0, 3]))
    with pytest.raises(ValueError, match="got 2.5"):
        ratings.labels_to_classes(np.array([2.5]))


def test_jit_and_vmap():
    logits = jnp.asarray(RNG.normal(size=(3, 4, 5)), jnp.float32)
    got = jax.jit(jax.vmap(ratings.expected_rating))(logits)
    np.testing.assert_allclose(got, np_softmax(np.asarray(logits, np.float64)) @ np.arange(1, 6), rtol=1e-5)
    target = jnp.asarray(RNG.integers(1, 6, (3, 4)), jnp.float32)
    got = jax.jit(jax.vmap(ratings.rmse))(jax.vmap(ratings.expected_rating)(logits), target)
    ref = np.sqrt(np.mean((np.asarray(jax.vmap(ratings.expected_rating)(logits)) - np.asarray(target)) ** 2, axis=1))
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    classes = jax.jit(ratings.labels_to_classes)(jnp.asarray([1, 5]))  # traced: no check, still maps
    np.testing.assert_array_equal(classes, [0, 4])
