"""Denoising auto-encoder (section 3.2) against independent NumPy references."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from deep_sparse import corruption as corruption_lib
from deep_sparse import dae, mlp

RNG = np.random.default_rng(3)
N_IN, N_OUT, BATCH = 6, 4, 5


def np_softplus(z):
    return np.logaddexp(z, 0.0)


def np_sigmoid(z):
    return 0.5 * (1 + np.tanh(z / 2))


NP_ACT = {"rectifier": lambda z: np.maximum(z, 0), "tanh": np.tanh, "softplus": np_softplus,
          "sigmoid": np_sigmoid}


def np_recon_loss(w, b, c, x_clean, x_corr, act, strategy, target=None):
    w, b, c = (np.asarray(a, np.float64) for a in (w, b, c))
    t = np.asarray(x_clean if target is None else target, np.float64)
    code = NP_ACT[act](np.asarray(x_corr, np.float64) @ w + b)
    f = code @ w.T + c
    if strategy == "softplus_squared":
        per = (t - np_softplus(f)) ** 2
    elif strategy == "softplus_squared_abs":
        per = (np.abs(t) - np_softplus(f)) ** 2
    elif strategy == "sigmoid_cross_entropy":
        s = np_sigmoid(f)
        per = -t * np.log(s) - (1 - t) * np.log(1 - s)
    elif strategy.startswith("linear_squared"):
        per = (t - f) ** 2
    else:
        per = (t - np.maximum(f, 0)) ** 2
    return per.sum(-1).mean(), code


def make_layer(seed=0):
    rng = np.random.default_rng(seed)
    layer = {"w": jnp.asarray(rng.uniform(-0.8, 0.8, (N_IN, N_OUT)), jnp.float32),
             "b": jnp.asarray(rng.normal(0, 0.3, N_OUT), jnp.float32)}
    return layer, jnp.asarray(rng.normal(0, 0.3, N_IN), jnp.float32)


X01 = RNG.uniform(0, 1, (BATCH, N_IN)).astype(np.float32)

PAIRS = [("rectifier", s) for s in dae.STRATEGIES] + [("tanh", "sigmoid_cross_entropy"), ("softplus", "softplus_squared"),
                                                        ("sigmoid", "linear_squared_after")]


# ---------------------------------------------------------------- auto-encoder
def test_encode_and_tied_decoder():
    layer, c = make_layer()
    x = X01
    code = dae.encode(layer, jnp.asarray(x), "rectifier")
    ref_code = np.maximum(x @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"]), 0)
    np.testing.assert_allclose(code, ref_code, rtol=1e-5, atol=1e-6)
    f = dae.reconstruct_preactivation(layer, c, code)
    np.testing.assert_allclose(f, ref_code @ np.asarray(layer["w"], np.float64).T + np.asarray(c), rtol=1e-5, atol=1e-6)
    assert dae.init_decoder_bias(N_IN).shape == (N_IN,) and not np.any(np.asarray(dae.init_decoder_bias(N_IN)))
    # encoder = the mlp layer's forward pass
    params = mlp.init(jax.random.PRNGKey(0), (N_IN, N_OUT, 2))
    np.testing.assert_allclose(dae.encode(params[0], jnp.asarray(x)), mlp.apply(params, jnp.asarray(x))[1][0], rtol=1e-6)


@pytest.mark.parametrize("activation,strategy", PAIRS)
def test_reconstruction_loss_matches_numpy(activation, strategy):
    layer, c = make_layer(1)
    x_corr = np.asarray(corruption_lib.mask_noise(jax.random.PRNGKey(0), jnp.asarray(X01), 0.3))
    # signed targets where the strategy reads them as they are (pre-activations) or by their magnitude
    signed = strategy in ("linear_squared_before", "softplus_squared_abs")
    target = RNG.normal(size=X01.shape).astype(np.float32) if signed else None
    got = dae.reconstruction_loss(layer, c, jnp.asarray(X01), jnp.asarray(x_corr), activation, strategy,
                                  target=None if target is None else jnp.asarray(target))
    ref, _ = np_recon_loss(layer["w"], layer["b"], c, X01, x_corr, activation, strategy, target)
    np.testing.assert_allclose(got, ref, rtol=1e-5)


@pytest.mark.parametrize("activation,strategy", PAIRS)
def test_reconstruction_gradient_matches_finite_differences(activation, strategy):
    layer, c = make_layer(2)
    x_corr = np.asarray(corruption_lib.mask_noise(jax.random.PRNGKey(1), jnp.asarray(X01), 0.3))
    grads = jax.grad(lambda l, d: dae.reconstruction_loss(l, d, jnp.asarray(X01), jnp.asarray(x_corr), activation, strategy),
                     argnums=(0, 1))(layer, c)
    w, b, d = (np.asarray(a, np.float64) for a in (layer["w"], layer["b"], c))

    def loss(w, b, d):
        return np_recon_loss(w, b, d, X01, x_corr, activation, strategy)[0]

    eps = 1e-6
    for arg, got in ((0, grads[0]["w"]), (1, grads[0]["b"]), (2, grads[1])):
        base = [w, b, d]
        fd = np.zeros_like(base[arg])
        for idx in np.ndindex(fd.shape):
            plus = [a.copy() for a in base]
            minus = [a.copy() for a in base]
            plus[arg][idx] += eps
            minus[arg][idx] -= eps
            fd[idx] = (loss(*plus) - loss(*minus)) / (2 * eps)
        np.testing.assert_allclose(got, fd, rtol=2e-3, atol=2e-4)


def test_sigmoid_cross_entropy_is_stable_for_large_logits():
    logits = jnp.asarray([[1e4, -1e4, 50.0, -50.0]])
    target = jnp.asarray([[1.0, 0.0, 0.5, 0.5]])
    value = dae.sigmoid_cross_entropy(logits, target)
    ref = 0 + 0 + (np.logaddexp(0, 50) - 25) + (np.logaddexp(0, -50) + 25)
    np.testing.assert_allclose(value, ref, rtol=1e-5)
    assert np.all(np.isfinite(jax.grad(dae.sigmoid_cross_entropy)(logits, target)))


def test_scale_to_unit_interval():
    h = np.maximum(RNG.normal(size=(8, 5)), 0).astype(np.float32)
    h[:, 2] = 0.0
    np.testing.assert_allclose(dae.scale_to_unit_interval(jnp.asarray(h)), h / h.max(), rtol=1e-6)
    per_unit = np.where(h.max(0) > 0, h.max(0), 1.0)
    np.testing.assert_allclose(dae.scale_to_unit_interval(jnp.asarray(h), axis=0), h / per_unit, rtol=1e-6)
    np.testing.assert_allclose(dae.scale_to_unit_interval(jnp.asarray(h), max_value=0.5), np.clip(h / 0.5, 0, 1), rtol=1e-6)
    t = np.tanh(RNG.normal(size=(4, 3))).astype(np.float32)
    np.testing.assert_allclose(dae.scale_to_unit_interval(jnp.asarray(t), min_value=-1.0, max_value=1.0), (t + 1) / 2, rtol=1e-6)
    out = np.asarray(dae.scale_to_unit_interval(jnp.asarray(h)))
    assert out.min() >= 0 and abs(out.max() - 1.0) < 1e-6 and np.all((out == 0) == (h == 0))  # sparsity kept
    assert np.all(np.asarray(dae.scale_to_unit_interval(jnp.zeros((3, 2)))) == 0)


def test_default_and_check_strategy():
    assert dae.default_strategy("rectifier") == "softplus_squared"
    assert dae.default_strategy("softplus") == "softplus_squared"
    assert dae.default_strategy("half_negated_rectifier") == "softplus_squared"
    assert dae.default_strategy("tanh") == "sigmoid_cross_entropy"
    assert dae.default_strategy("sigmoid") == "sigmoid_cross_entropy"
    with pytest.raises(ValueError, match="no default reconstruction strategy for activation 'lif_rate'"):
        dae.default_strategy("lif_rate")
    for activation in ("rectifier", "softplus", "tanh", "sigmoid", "half_negated_rectifier"):
        dae.check_strategy(activation, dae.default_strategy(activation))
    with pytest.raises(ValueError, match="unknown reconstruction strategy 'l2'.*softplus_squared"):
        dae.check_strategy("rectifier", "l2")
    with pytest.raises(ValueError, match="unknown activation 'relu'"):
        dae.check_strategy("relu", "softplus_squared")
    for activation, strategy in [("tanh", "softplus_squared"), ("tanh", "rectifier_squared"),
                                 ("linear", "sigmoid_cross_entropy"), ("half_negated_rectifier", "sigmoid_cross_entropy")]:
        with pytest.raises(ValueError, match=f"strategy '{strategy}' is not supported with activation '{activation}'"):
            dae.check_strategy(activation, strategy)
    layer, c = make_layer()
    with pytest.raises(ValueError, match="not supported"):
        dae.reconstruction_loss(layer, c, jnp.asarray(X01), jnp.asarray(X01), "tanh", "softplus_squared")


def test_cross_entropy_rejects_targets_outside_unit_interval():
    layer, c = make_layer()
    with pytest.raises(ValueError, match=r"targets in \[0, 1\].*scale_to_unit_interval"):
        dae.reconstruction_loss(layer, c, jnp.asarray(X01) * 3, jnp.asarray(X01), "rectifier", "sigmoid_cross_entropy")


def test_shape_errors():
    layer, c = make_layer()
    with pytest.raises(ValueError, match="input has width 7, but the layer expects 6"):
        dae.dae_loss(jax.random.PRNGKey(0), layer, c, jnp.ones((2, 7)))
    with pytest.raises(ValueError, match=r"decoder_bias has shape \(3,\), expected \(6,\)"):
        dae.reconstruction_loss(layer, jnp.zeros(3), jnp.asarray(X01), jnp.asarray(X01))
    with pytest.raises(ValueError, match="n_in must be a positive integer, got 0"):
        dae.init_decoder_bias(0)


@pytest.mark.parametrize("order, wrong", [
    ((1, 0, 2, 3), "key must be a PRNG key"),  # layer first
    ((0, 1, 3, 2), "decoder_bias must be a vector"),  # x and decoder_bias swapped
    ((0, 3, 1, 2), "layer must be a dict"),
    ((3, 1, 2, 0), "key must be a PRNG key"),
])
def test_arguments_in_the_wrong_order_are_named(order, wrong):
    layer, c = make_layer()
    args = (jax.random.PRNGKey(0), layer, c, jnp.asarray(X01))
    pattern = wrong + r".*dae_loss\(key, layer, decoder_bias, x"
    with pytest.raises(ValueError, match=pattern):
        dae.dae_loss(*(args[i] for i in order))
    with pytest.raises(ValueError, match=pattern):  # the same check on tracers: it reads types and ranks only
        jax.jit(lambda *a: dae.dae_loss(*a))(*(args[i] for i in order))
    with pytest.raises(ValueError, match=r"layer must be a dict.*reconstruction_loss\(layer, decoder_bias"):
        dae.reconstruction_loss(c, layer, jnp.asarray(X01), jnp.asarray(X01))
    # the right order, with either kind of key, still runs
    assert np.isfinite(float(dae.dae_loss(*args)))
    assert np.isfinite(float(dae.dae_loss(jax.random.key(0), *args[1:])))


def test_dae_loss_is_reconstruction_plus_l1():
    layer, c = make_layer(4)
    key = jax.random.PRNGKey(7)
    for corruption, level in (("mask", 0.25), ("gaussian", 0.1), ("salt_and_pepper", 0.2)):
        got = dae.dae_loss(key, layer, c, jnp.asarray(X01), "rectifier", "softplus_squared", corruption, level, 0.01)
        x_corr = np.asarray(corruption_lib.corrupt(key, jnp.asarray(X01), corruption, level))
        recon, code = np_recon_loss(layer["w"], layer["b"], c, X01, x_corr, "rectifier", "softplus_squared")
        np.testing.assert_allclose(got, recon + 0.01 * np.abs(code).sum(-1).mean(), rtol=1e-5)
    with pytest.raises(ValueError, match="L1 coefficient must be >= 0, got -1"):
        dae.dae_loss(key, layer, c, jnp.asarray(X01), l1=-1)
    with pytest.raises(ValueError, match=r"got 1.2"):
        dae.dae_loss(key, layer, c, jnp.asarray(X01), level=1.2)


def _dae_value_and_grad(layer, c, l1, level):
    return jax.value_and_grad(dae.dae_loss, argnums=(1, 2))(
        jax.random.PRNGKey(0), layer, c, jnp.asarray(X01), "rectifier", "softplus_squared", "mask", level, l1)


_batched_dae = jax.jit(jax.vmap(_dae_value_and_grad, in_axes=(None, None, 0, 0)))
_single_dae = jax.jit(_dae_value_and_grad)


@settings(max_examples=25, deadline=None)
@given(l1s=st.lists(st.floats(0.0, 0.1), min_size=3, max_size=3),
       levels=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3))
def test_vmap_over_l1_and_level_equals_loop(l1s, levels):
    layer, c = make_layer(5)
    values, grads = _batched_dae(layer, c, jnp.asarray(l1s, jnp.float32), jnp.asarray(levels, jnp.float32))
    for k in range(3):
        value, grad = _single_dae(layer, c, jnp.float32(l1s[k]), jnp.float32(levels[k]))
        np.testing.assert_allclose(values[k], value, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(grads[0]["w"][k], grad[0]["w"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(grads[1][k], grad[1], rtol=1e-4, atol=1e-6)
        assert np.all(np.isfinite(grads[0]["w"][k]))


def test_a_decoder_of_its_own_reconstructs_with_its_weights():
    rng = np.random.default_rng(0)
    layer = {"w": jnp.asarray(rng.normal(size=(5, 3)), jnp.float32), "b": jnp.zeros(3, jnp.float32)}
    w_dec = rng.normal(size=(3, 5)).astype(np.float32)
    code = rng.random((4, 3)).astype(np.float32)
    b_dec = rng.normal(size=5).astype(np.float32)
    untied = dae.reconstruct_preactivation(dict(layer, w_dec=jnp.asarray(w_dec)), jnp.asarray(b_dec), code)
    np.testing.assert_allclose(np.asarray(untied), code.astype(np.float64) @ w_dec + b_dec, rtol=1e-5, atol=1e-6)
    tied = dae.reconstruct_preactivation(layer, jnp.asarray(b_dec), code)
    np.testing.assert_allclose(np.asarray(tied), code @ np.asarray(layer["w"]).T + b_dec, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"layer\['w_dec'\] has shape \(5, 3\), expected \(3, 5\)"):
        dae.reconstruction_loss(dict(layer, w_dec=jnp.zeros((5, 3))), jnp.asarray(b_dec), code @ w_dec, code @ w_dec)
