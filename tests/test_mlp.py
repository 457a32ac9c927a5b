"""MLP init / forward / NLL / L1 penalty against independent NumPy references (sections 3.1, 4.1)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from deep_sparse import mlp

RNG = np.random.default_rng(1)
SIZES = (6, 5, 4, 3)


def np_act(name, z):
    return {"rectifier": lambda z: np.maximum(z, 0), "tanh": np.tanh, "softplus": lambda z: np.logaddexp(z, 0)}[name](z)


def np_forward(params, x, name):
    h = np.asarray(x, np.float64)
    hidden = []
    for layer in params[:-1]:
        h = np_act(name, h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64))
        hidden.append(h)
    return h @ np.asarray(params[-1]["w"], np.float64) + np.asarray(params[-1]["b"], np.float64), hidden


def np_nll(logits, labels):
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -logp[np.arange(len(labels)), labels].mean()


def np_l1(hidden, c):
    return c * sum(np.abs(h).sum(-1).mean() for h in hidden)


def random_params(sizes=SIZES, seed=0):
    params = mlp.init(jax.random.PRNGKey(seed), sizes, "tanh")
    rng = np.random.default_rng(seed)
    return [{"w": l["w"], "b": jnp.asarray(rng.normal(0, 0.3, l["b"].shape), jnp.float32)} for l in params]


def test_init_shapes_range_and_zero_bias():
    sizes = (50, 40, 30, 10)
    params = mlp.init(jax.random.PRNGKey(0), sizes, "rectifier")
    assert [(l["w"].shape, l["b"].shape) for l in params] == [((50, 40), (40,)), ((40, 30), (30,)), ((30, 10), (10,))]
    for layer, (n_in, n_out) in zip(params, zip(sizes[:-1], sizes[1:])):
        limit = np.sqrt(6.0 / (n_in + n_out))
        w = np.asarray(layer["w"])
        assert np.all(np.abs(w) <= limit) and np.abs(w).max() > 0.9 * limit
        assert abs(w.mean()) < 0.1 * limit
        np.testing.assert_allclose(w.var(), limit**2 / 3, rtol=0.2)  # uniform variance
        assert np.all(np.asarray(layer["b"]) == 0)
    assert mlp.layer_sizes_of(params) == sizes


def test_sigmoid_init_has_gain_four_except_output():
    params = mlp.init(jax.random.PRNGKey(0), (30, 20, 10), "sigmoid")
    assert np.abs(np.asarray(params[0]["w"])).max() > 0.9 * 4 * np.sqrt(6 / 50)
    assert np.abs(np.asarray(params[1]["w"])).max() <= np.sqrt(6 / 30)


@pytest.mark.parametrize("name", ["rectifier", "tanh", "softplus"])
def test_apply_matches_numpy(name):
    params = random_params()
    x = RNG.normal(size=(7, SIZES[0])).astype(np.float32)
    logits, hidden = mlp.apply(params, jnp.asarray(x), name)
    ref_logits, ref_hidden = np_forward(params, x, name)
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-4, atol=1e-5)
    assert len(hidden) == len(SIZES) - 2
    for h, r in zip(hidden, ref_hidden):
        np.testing.assert_allclose(h, r, rtol=1e-4, atol=1e-5)


def test_apply_without_hidden_layer():
    params = random_params((4, 3))
    x = RNG.normal(size=(5, 4)).astype(np.float32)
    logits, hidden = mlp.apply(params, jnp.asarray(x))
    assert hidden == []
    np.testing.assert_allclose(logits, np_forward(params, x, "rectifier")[0], rtol=1e-5, atol=1e-6)
    assert float(mlp.l1_penalty(hidden, 0.1)) == 0.0


def test_softmax_nll_value_and_gradient():
    logits = RNG.normal(0, 3, size=(8, 5))
    labels = RNG.integers(0, 5, size=8)
    got = mlp.softmax_nll(jnp.asarray(logits, jnp.float32), jnp.asarray(labels))
    np.testing.assert_allclose(got, np_nll(logits, labels), rtol=1e-5)
    g = jax.grad(mlp.softmax_nll)(jnp.asarray(logits, jnp.float32), jnp.asarray(labels))
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(g, (p - np.eye(5)[labels]) / 8, rtol=1e-4, atol=1e-6)
    big = jnp.asarray([[1e4, -1e4, 0.0]])
    assert np.isfinite(float(mlp.softmax_nll(big, jnp.asarray([1])))) and np.all(np.isfinite(jax.grad(mlp.softmax_nll)(big, jnp.asarray([1]))))


def test_l1_penalty_value_and_gradient():
    hidden = [RNG.normal(size=(6, 4)), RNG.normal(size=(6, 3))]
    got = mlp.l1_penalty([jnp.asarray(h, jnp.float32) for h in hidden], 0.01)
    np.testing.assert_allclose(got, np_l1(hidden, 0.01), rtol=1e-5)
    g = jax.grad(lambda h: mlp.l1_penalty([h], 0.5))(jnp.asarray(hidden[0], jnp.float32))
    np.testing.assert_allclose(g, 0.5 * np.sign(hidden[0]) / 6, rtol=1e-5)


def test_total_loss_gradient_matches_finite_differences():
    """d/dparams [NLL + L1] by jax.grad vs central differences of the float64 NumPy reference."""
    params = random_params()
    x = RNG.normal(size=(5, SIZES[0]))
    labels = RNG.integers(0, SIZES[-1], size=5)
    c = 0.01

    def jax_loss(p):
        logits, hidden = mlp.apply(p, jnp.asarray(x, jnp.float32), "tanh")
        return mlp.softmax_nll(logits, jnp.asarray(labels)) + mlp.l1_penalty(hidden, c)

    def np_loss(p):
        logits, hidden = np_forward(p, x, "tanh")
        return np_nll(logits, labels) + np_l1(hidden, c)

    grads = jax.grad(jax_loss)(params)
    base = [{k: np.asarray(v, np.float64) for k, v in l.items()} for l in params]
    for i, layer in enumerate(base):
        for key in ("w", "b"):
            fd = np.zeros_like(layer[key])
            for idx in np.ndindex(layer[key].shape):
                plus = [{k: v.copy() for k, v in l.items()} for l in base]
                minus = [{k: v.copy() for k, v in l.items()} for l in base]
                plus[i][key][idx] += 1e-6
                minus[i][key][idx] -= 1e-6
                fd[idx] = (np_loss(plus) - np_loss(minus)) / 2e-6
            np.testing.assert_allclose(grads[i][key], fd, rtol=2e-3, atol=2e-5)


def test_error_rate():
    logits = RNG.normal(size=(20, 4))
    labels = RNG.integers(0, 4, size=20)
    np.testing.assert_allclose(mlp.error_rate(jnp.asarray(logits), jnp.asarray(labels)), np.mean(logits.argmax(-1) != labels))


def test_negative_l1_coefficient():
    with pytest.raises(ValueError, match=r"L1 coefficient must be >= 0, got -0.1"):
        mlp.l1_penalty([jnp.ones((2, 3))], -0.1)


def test_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'relu'.*known activations:.*rectifier"):
        mlp.init(jax.random.PRNGKey(0), (3, 2), "relu")
    with pytest.raises(ValueError, match="unknown activation 'relu'"):
        mlp.apply(random_params(), jnp.ones((2, SIZES[0])), "relu")


def test_layers_that_do_not_chain():
    params = [{"w": jnp.ones((4, 5)), "b": jnp.zeros(5)}, {"w": jnp.ones((6, 2)), "b": jnp.zeros(2)}]
    with pytest.raises(ValueError, match="layer 1 expects 6 inputs but layer 0 has 5 outputs"):
        mlp.apply(params, jnp.ones((1, 4)))
    bad_bias = [{"w": jnp.ones((4, 5)), "b": jnp.zeros(3)}]
    with pytest.raises(ValueError, match="bias has 3 entries"):
        mlp.layer_sizes_of(bad_bias)
    with pytest.raises(ValueError, match=r"weights must be \(n_in, n_out\)"):
        mlp.layer_sizes_of([{"w": jnp.ones(4), "b": jnp.zeros(4)}])
    with pytest.raises(ValueError, match="params is empty"):
        mlp.layer_sizes_of([])


def test_mismatched_input_width():
    with pytest.raises(ValueError, match="input has width 7, but the network expects 6"):
        mlp.apply(random_params(), jnp.ones((2, 7)))


@pytest.mark.parametrize("sizes,match", [((5,), "at least an input"), ((5, 0, 2), r"layer_sizes\[1\].*got 0"), ((5, 2.5), r"layer_sizes\[1\]")])
def test_bad_layer_sizes(sizes, match):
    with pytest.raises(ValueError, match=match):
        mlp.init(jax.random.PRNGKey(0), sizes)


_X_L1 = jnp.asarray(RNG.normal(size=(4, SIZES[0])), jnp.float32)


def _l1_loss(p, c):
    logits, hidden = mlp.apply(p, _X_L1, "rectifier")
    return mlp.softmax_nll(logits, jnp.zeros(4, jnp.int32)) + mlp.l1_penalty(hidden, c)


_batched_l1 = jax.jit(jax.vmap(jax.value_and_grad(_l1_loss), in_axes=(None, 0)))
_single_l1 = jax.jit(jax.value_and_grad(_l1_loss))


@settings(max_examples=25, deadline=None)
@given(coefficients=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3))
def test_vmap_over_l1_coefficient_equals_loop(coefficients):
    params = random_params()
    batched = _batched_l1(params, jnp.asarray(coefficients, jnp.float32))
    for k, c in enumerate(coefficients):
        value, grad = _single_l1(params, c)
        np.testing.assert_allclose(batched[0][k], value, rtol=1e-5)
        np.testing.assert_allclose(batched[1][0]["w"][k], grad[0]["w"], rtol=1e-4, atol=1e-6)


def test_jit_and_vmap_over_stacked_networks():
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    stacked = jax.vmap(lambda k: mlp.init(k, SIZES, "rectifier"))(keys)
    x = jnp.asarray(RNG.normal(size=(5, SIZES[0])), jnp.float32)
    logits, hidden = jax.jit(jax.vmap(lambda p: mlp.apply(p, x)))(stacked)
    assert logits.shape == (3, 5, SIZES[-1]) and hidden[0].shape == (3, 5, SIZES[1])
    for n, k in enumerate(keys):
        np.testing.assert_allclose(logits[n], mlp.apply(mlp.init(k, SIZES), x)[0], rtol=1e-5, atol=1e-6)


def signs_moved_into_next_layer(params):
    """``params`` with the rows of each layer's weights that read a negated unit of the half-negated
    rectifier (units ``ceil(n/2)..n-1`` of the layer below) multiplied by -1: an involution."""
    moved = [dict(layer) for layer in params]
    for below, layer in zip(params[:-1], moved[1:]):
        n_units = below["w"].shape[1]
        signs = np.where(np.arange(n_units) < (n_units + 1) // 2, 1.0, -1.0).astype(np.float32)
        layer["w"] = layer["w"] * signs[:, None]
    return moved


@settings(max_examples=12, deadline=None)
@given(hidden=st.lists(st.integers(1, 7), min_size=1, max_size=3), l1=st.sampled_from([0.0, 0.001, 0.1]),
       seed=st.integers(0, 2**16))
def test_a_half_negated_rectifier_network_is_a_rectifier_network_with_its_signs_in_the_next_layer(hidden, l1, seed):
    # Section 4.1's half-negated units: the same objective at P as the plain rectifier's at P with the
    # signs moved into the next layer's rows, and gradients that move the same way, so one SGD step
    # (and so every step) keeps the correspondence; the uniform initialization is sign-symmetric. Only
    # what breaks the symmetry (the DAE's tied decoder and softplus reconstruction) tells them apart.
    key_params, key_bias, key_x, key_y = jax.random.split(jax.random.PRNGKey(seed), 4)
    params = mlp.init(key_params, (5, *hidden, 3))
    params = [dict(layer, b=jax.random.normal(k, layer["b"].shape)) for layer, k in
              zip(params, jax.random.split(key_bias, len(params)))]
    x, y = jax.random.normal(key_x, (8, 5)), jax.random.randint(key_y, (8,), 0, 3)

    def objective(p, activation):
        logits, hidden_codes = mlp.apply(p, x, activation)
        return mlp.softmax_nll(logits, y) + mlp.l1_penalty(hidden_codes, l1)

    loss, grads = jax.value_and_grad(objective)(params, "half_negated_rectifier")
    plain_loss, plain_grads = jax.value_and_grad(objective)(signs_moved_into_next_layer(params), "rectifier")
    np.testing.assert_allclose(loss, plain_loss, rtol=1e-6, atol=1e-7)
    for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(signs_moved_into_next_layer(plain_grads))):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_init_options_change_only_what_they_name():
    key = jax.random.PRNGKey(3)
    sizes = [6, 5, 4, 3]
    plain = mlp.init(key, sizes, "rectifier")
    varied = mlp.init(key, sizes, "rectifier", hidden_bias=0.1, output_layer="zeros")
    for layer, (p, v) in enumerate(zip(plain[:-1], varied[:-1])):
        np.testing.assert_array_equal(np.asarray(v["w"]), np.asarray(p["w"]), err_msg=f"layer {layer}")
        np.testing.assert_array_equal(np.asarray(v["b"]), np.full(sizes[layer + 1], 0.1, np.float32))
    np.testing.assert_array_equal(np.asarray(varied[-1]["w"]), np.zeros((4, 3), np.float32))
    np.testing.assert_array_equal(np.asarray(varied[-1]["b"]), np.zeros(3, np.float32))
    assert np.abs(np.asarray(plain[-1]["w"])).max() > 0
    with pytest.raises(ValueError, match="output_layer must be one of"):
        mlp.init(key, sizes, output_layer="normal")


def test_train_config_refuses_bad_init_options():
    from deep_sparse.config import TrainConfig
    with pytest.raises(ValueError, match="TrainConfig.output_layer_init"):
        TrainConfig(output_layer_init="ones")
    with pytest.raises(ValueError, match="TrainConfig.hidden_bias_init"):
        TrainConfig(hidden_bias_init=float("nan"))
