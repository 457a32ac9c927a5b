"""Activations against independent NumPy references (values and gradients), sections 2.1, 3.1, 4.1."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from deep_sparse import activations as A

RNG = np.random.default_rng(0)
X = np.concatenate([RNG.normal(0, 3, 200), [0.0, -1e-3, 1e-3, 30.0, -30.0]]).astype(np.float32)


def np_softplus(x):
    x = np.asarray(x, np.float64)
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def np_sigmoid(x):
    x = np.asarray(x, np.float64)
    return 0.5 * (1 + np.tanh(x / 2))


def np_lif(i, tau=20.0, t_ref=2.0, v_r=0.0, v_th=1.0, r=1.0, e=0.0):
    drive = e + r * np.asarray(i, np.float64)
    out = np.zeros_like(drive)
    above = drive > v_th
    d = drive[above]
    out[above] = 1.0 / (tau * np.log((d - v_r) / (d - v_th)) + t_ref)
    return out


NP_REFERENCE = {
    "rectifier": lambda x: np.maximum(x, 0.0),
    "softplus": np_softplus,
    "tanh": np.tanh,
    "sigmoid": np_sigmoid,
    "rectified_tanh": lambda x: np.maximum(np.tanh(x), 0.0),
    "abs_tanh": lambda x: np.abs(np.tanh(x)),
    "linear": lambda x: x,
}

# Analytic derivatives (away from kinks).
NP_DERIVATIVE = {
    "rectifier": lambda x: (x > 0).astype(np.float64),
    "softplus": np_sigmoid,
    "tanh": lambda x: 1 - np.tanh(x) ** 2,
    "sigmoid": lambda x: np_sigmoid(x) * (1 - np_sigmoid(x)),
    "rectified_tanh": lambda x: np.where(x > 0, 1 - np.tanh(x) ** 2, 0.0),
    "abs_tanh": lambda x: np.sign(x) * (1 - np.tanh(x) ** 2),
    "linear": lambda x: np.ones_like(x),
}


@pytest.mark.parametrize("name", sorted(NP_REFERENCE))
def test_values_match_numpy(name):
    got = np.asarray(A.get(name)(jnp.asarray(X)))
    np.testing.assert_allclose(got, NP_REFERENCE[name](X.astype(np.float64)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(NP_DERIVATIVE))
def test_gradients_match_numpy(name):
    x = X[np.abs(X) > 1e-2]  # away from the kink at 0
    got = np.asarray(jax.vmap(jax.grad(A.get(name)))(jnp.asarray(x)))
    np.testing.assert_allclose(got, NP_DERIVATIVE[name](x.astype(np.float64)), rtol=1e-4, atol=1e-6)


def test_softplus_stable_for_large_inputs():
    x = jnp.array([-1e4, -100.0, 100.0, 1e4])
    np.testing.assert_allclose(A.softplus(x), [0.0, np_softplus(-100.0), 100.0, 1e4], rtol=1e-6, atol=1e-30)
    g = jax.vmap(jax.grad(A.softplus))(x)
    np.testing.assert_allclose(g, [0.0, 0.0, 1.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("name", A.names())
def test_gradients_finite_everywhere(name):
    f = A.get(name)
    x = jnp.asarray([0.0, 1e4, -1e4, 1.0, -1.0, 1e-7, -1e-7, 1e38, -1e38], jnp.float32)
    g = jax.vmap(jax.grad(f))(x) if name != "half_negated_rectifier" else jax.grad(lambda v: jnp.sum(f(v)))(x)
    assert np.all(np.isfinite(np.asarray(g))), (name, g)
    assert np.all(np.isfinite(np.asarray(f(x[:7]))))


@pytest.mark.parametrize("alpha", [1.0, 3.0, 1e3, 1e6, math.inf])
@pytest.mark.parametrize("x", [0.0, 1e-3, -1e-3, 1e4, -1e4])
def test_scaled_softplus_gradients_finite(alpha, x):
    gx = jax.grad(A.scaled_softplus, argnums=0)(jnp.float32(x), alpha)
    ga = jax.grad(A.scaled_softplus, argnums=1)(jnp.float32(x), jnp.float32(alpha))
    assert np.isfinite(gx) and np.isfinite(ga)


def test_scaled_softplus_matches_numpy_and_its_derivative():
    for alpha in [0.5, 1.0, 1.3, 6.0]:
        got = A.scaled_softplus(jnp.asarray(X), alpha)
        np.testing.assert_allclose(got, np_softplus(alpha * X.astype(np.float64)) / alpha, rtol=1e-5, atol=1e-6)
        g = jax.vmap(jax.grad(A.scaled_softplus), in_axes=(0, None))(jnp.asarray(X), alpha)
        np.testing.assert_allclose(g, np_sigmoid(alpha * X.astype(np.float64)), rtol=1e-4, atol=1e-6)
    # derivative with respect to alpha, by central differences of the numpy reference
    x = X.astype(np.float64)[:50]
    for alpha in [0.7, 2.0]:
        fd = (np_softplus((alpha + 1e-6) * x) / (alpha + 1e-6) - np_softplus((alpha - 1e-6) * x) / (alpha - 1e-6)) / 2e-6
        g = jax.vmap(jax.grad(A.scaled_softplus, argnums=1), in_axes=(0, None))(jnp.asarray(x, jnp.float32), alpha)
        np.testing.assert_allclose(g, fd, rtol=2e-3, atol=2e-4)


def test_scaled_softplus_inf_is_rectifier():
    np.testing.assert_array_equal(A.scaled_softplus(jnp.asarray(X), math.inf), np.maximum(X, 0))


@settings(max_examples=25, deadline=None)
@given(alpha=st.floats(1.0, 1e4), x=st.floats(-50, 50))
def test_scaled_softplus_tends_to_rectifier(alpha, x):
    diff = abs(float(A.scaled_softplus(jnp.float32(x), alpha)) - max(x, 0.0))
    # log(2)/alpha is the exact bound; float32 rounding adds at most a few ulps of |x|.
    assert diff <= math.log(2) / alpha + 1e-6 * (1 + abs(x))


_batched_scaled_softplus = jax.jit(jax.vmap(A.scaled_softplus, in_axes=(None, 0)))


@settings(max_examples=25, deadline=None)
@given(alphas=st.lists(st.floats(0.1, 100.0), min_size=4, max_size=4))
def test_vmap_over_alpha_equals_loop(alphas):
    x = jnp.asarray(X[:20])
    batched = _batched_scaled_softplus(x, jnp.asarray(alphas, jnp.float32))
    looped = np.stack([np.asarray(A.scaled_softplus(x, a)) for a in alphas])
    np.testing.assert_allclose(batched, looped, rtol=1e-5, atol=1e-6)


def test_scaled_softplus_bad_alpha():
    with pytest.raises(ValueError, match="alpha > 0, got -1.0"):
        A.scaled_softplus(jnp.ones(3), -1.0)
    with pytest.raises(ValueError, match="alpha > 0, got 0"):
        A.scaled_softplus(jnp.ones(3), 0)


def test_half_negated_rectifier():
    x = jnp.asarray(RNG.normal(size=(6, 5)).astype(np.float32))
    signs = np.array([1, 1, 1, -1, -1], np.float64)
    ref = np.maximum(np.asarray(x, np.float64), 0) * signs
    np.testing.assert_allclose(A.half_negated_rectifier(x), ref, rtol=1e-6)
    g = jax.grad(lambda v: jnp.sum(A.half_negated_rectifier(v)))(x)
    np.testing.assert_allclose(g, (np.asarray(x) > 0) * signs)
    # same exact zeros as the rectifier
    np.testing.assert_array_equal(np.asarray(A.half_negated_rectifier(x)) == 0, np.asarray(x) <= 0)


def test_lif_rate_values_and_threshold():
    i = np.concatenate([np.linspace(-2, 0.999, 20), np.linspace(1.01, 20, 40)]).astype(np.float32)
    got = np.asarray(A.lif_rate(jnp.asarray(i)))
    np.testing.assert_allclose(got, np_lif(i), rtol=1e-4, atol=1e-7)
    assert np.all(got[i <= 1.0] == 0.0)
    assert np.all(got <= 1 / A.LIF_DEFAULTS["t_ref"])
    # custom constants
    got = A.lif_rate(jnp.asarray(i), tau=10.0, t_ref=1.0, v_threshold=0.5, resistance=2.0)
    np.testing.assert_allclose(got, np_lif(i, tau=10.0, t_ref=1.0, v_th=0.5, r=2.0), rtol=1e-4, atol=1e-7)


def test_lif_rate_gradient():
    i = np.linspace(1.1, 10, 30)
    g = jax.vmap(jax.grad(A.lif_rate))(jnp.asarray(i, jnp.float32))
    fd = (np_lif(i + 1e-6) - np_lif(i - 1e-6)) / 2e-6
    np.testing.assert_allclose(g, fd, rtol=1e-3)
    near = jnp.asarray([0.0, 1.0 - 1e-6, 1.0, 1.0 + 1e-7, 1.0 + 1e-6, 1.0 + 1e-5, 1.001], jnp.float32)
    g = jax.vmap(jax.grad(A.lif_rate))(near)
    assert np.all(np.isfinite(g)) and np.all(np.asarray(g) >= 0)
    assert float(g[0]) == 0.0 and float(g[2]) == 0.0


def test_get_unknown_lists_names():
    with pytest.raises(ValueError, match="unknown activation 'relu6'.*rectifier.*softplus"):
        A.get("relu6")


def test_get_binds_params_and_passes_callables():
    f = A.get("scaled_softplus", alpha=2.0)
    np.testing.assert_allclose(f(jnp.asarray(X)), np_softplus(2 * X.astype(np.float64)) / 2, rtol=1e-5, atol=1e-6)
    assert A.get(np.tanh) is np.tanh


def test_jit_and_vmap_every_activation():
    x = jnp.asarray(RNG.normal(size=(3, 4, 6)).astype(np.float32))
    for name in A.names():
        f = A.get(name)
        np.testing.assert_allclose(jax.jit(jax.vmap(f))(x), f(x), rtol=1e-6, atol=1e-7)
