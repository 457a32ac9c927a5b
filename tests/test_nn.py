"""Flax wrapper (deep_sparse.nn) against the pure functions and NumPy."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from deep_sparse import mlp, nn as dsnn

SIZES = (6, 8, 5, 3)
X = jnp.asarray(np.random.default_rng(6).normal(size=(4, SIZES[0])), jnp.float32)


def np_forward(params, x):
    h = np.asarray(x, np.float64)
    hidden = []
    for layer in params[:-1]:
        h = np.maximum(h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64), 0)
        hidden.append(h)
    return h @ np.asarray(params[-1]["w"], np.float64) + np.asarray(params[-1]["b"], np.float64), hidden


def test_init_layout_and_initializer():
    model = dsnn.SparseMLP(layer_sizes=SIZES, activation="rectifier")
    variables = model.init(jax.random.PRNGKey(0), X)
    params = variables["params"]
    assert sorted(params) == ["layer_0", "layer_1", "layer_2"]
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        w, b = np.asarray(params[f"layer_{i}"]["w"]), np.asarray(params[f"layer_{i}"]["b"])
        assert w.shape == (n_in, n_out) and b.shape == (n_out,)
        assert np.all(np.abs(w) <= np.sqrt(6 / (n_in + n_out))) and np.all(b == 0) and np.any(w != 0)
    # mlp.init's sigmoid gain is used too: the initializer is mlp.init itself
    wide = dsnn.SparseMLP(layer_sizes=(200, 200, 2), activation="sigmoid").init(jax.random.PRNGKey(1), jnp.ones((1, 200)))
    assert np.abs(np.asarray(wide["params"]["layer_0"]["w"])).max() > np.sqrt(6 / 400) * 2


def test_apply_equals_mlp_apply_and_numpy():
    model = dsnn.SparseMLP(layer_sizes=SIZES)
    variables = model.init(jax.random.PRNGKey(2), X)
    logits, hidden = model.apply(variables, X)
    ref_logits, ref_hidden = mlp.apply(dsnn.to_mlp_params(variables["params"]), X, "rectifier")
    np.testing.assert_array_equal(logits, ref_logits)
    for h, r in zip(hidden, ref_hidden):
        np.testing.assert_array_equal(h, r)
    np_logits, _ = np_forward(dsnn.to_mlp_params(variables), X)
    np.testing.assert_allclose(logits, np_logits, rtol=1e-5, atol=1e-6)


def test_converters_round_trip_and_mlp_params_run_in_flax():
    params = mlp.init(jax.random.PRNGKey(3), SIZES, "tanh")
    flax_params = dsnn.from_mlp_params(params)
    back = dsnn.to_mlp_params(flax_params)
    for a, b in zip(params, back):
        np.testing.assert_array_equal(a["w"], b["w"])
        np.testing.assert_array_equal(a["b"], b["b"])
    logits, _ = dsnn.SparseMLP(layer_sizes=SIZES, activation="tanh").apply({"params": flax_params}, X)
    np.testing.assert_allclose(logits, mlp.apply(params, X, "tanh")[0], rtol=1e-6)
    with pytest.raises(ValueError, match="expected layers named"):
        dsnn.to_mlp_params({"layer_0": flax_params["layer_0"], "dense": flax_params["layer_1"]})


def test_activation_params_and_gradients_agree():
    params = mlp.init(jax.random.PRNGKey(4), SIZES, "scaled_softplus")
    model = dsnn.SparseMLP(layer_sizes=SIZES, activation="scaled_softplus")

    def flax_loss(p):
        return jnp.sum(model.apply({"params": p}, X, alpha=3.0)[0])

    def pure_loss(p):
        return jnp.sum(mlp.apply(p, X, "scaled_softplus", alpha=3.0)[0])

    g_flax = dsnn.to_mlp_params(jax.grad(flax_loss)(dsnn.from_mlp_params(params)))
    g_pure = jax.grad(pure_loss)(params)
    for a, b in zip(g_flax, g_pure):
        np.testing.assert_allclose(a["w"], b["w"], rtol=1e-6)


def test_bad_input():
    model = dsnn.SparseMLP(layer_sizes=SIZES)
    variables = model.init(jax.random.PRNGKey(0), X)
    with pytest.raises(ValueError, match="input has width 7, but the network expects 6"):
        model.apply(variables, jnp.ones((2, 7)))
    with pytest.raises(ValueError, match="unknown activation 'relu'"):
        dsnn.SparseMLP(layer_sizes=SIZES, activation="relu").init(jax.random.PRNGKey(0), X)
    with pytest.raises(ValueError, match="at least an input"):
        dsnn.SparseMLP(layer_sizes=(6,)).init(jax.random.PRNGKey(0), X)


def test_jit_and_vmap():
    model = dsnn.SparseMLP(layer_sizes=SIZES)
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    stacked = jax.jit(jax.vmap(lambda k: model.init(k, X)))(keys)
    logits = jax.jit(jax.vmap(lambda v: model.apply(v, X)[0]))(stacked)
    assert logits.shape == (3, 4, SIZES[-1])
    for n in range(3):
        one = jax.tree_util.tree_map(lambda a: a[n], stacked)
        np.testing.assert_allclose(logits[n], mlp.apply(dsnn.to_mlp_params(one), X)[0], rtol=1e-5, atol=1e-6)
    per_example = jax.jit(jax.vmap(lambda x: model.apply(jax.tree_util.tree_map(lambda a: a[0], stacked), x[None])[0][0]))(X)
    np.testing.assert_allclose(per_example, logits[0], rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------- Flax NNX
def test_nnx_module_has_the_linen_parameters_and_gives_the_same_outputs():
    linen = dsnn.SparseMLP(layer_sizes=SIZES, activation="tanh")
    variables = linen.init(jax.random.PRNGKey(7), X)
    model = dsnn.SparseMLPNNX.from_mlp_params(dsnn.to_mlp_params(variables), "tanh")
    # the same parameter tree: names, shapes, values
    state = nnx.state(model, nnx.Param).to_pure_dict()
    assert jax.tree.structure(state) == jax.tree.structure(variables["params"])
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(variables["params"])):
        np.testing.assert_array_equal(a, b)
    logits, hidden = model(X)
    ref_logits, ref_hidden = linen.apply(variables, X)
    np.testing.assert_array_equal(logits, ref_logits)
    for h, r in zip(hidden, ref_hidden):
        np.testing.assert_array_equal(h, r)
    # against NumPy, for the rectifier
    relu = dsnn.SparseMLPNNX.from_mlp_params(dsnn.to_mlp_params(variables), "rectifier")
    np.testing.assert_allclose(relu(X)[0], np_forward(dsnn.to_mlp_params(variables), X)[0], rtol=1e-5, atol=1e-6)


def test_nnx_init_draws_mlp_init_and_trains_with_nnx_grad():
    model = dsnn.SparseMLPNNX(SIZES, "rectifier", rngs=nnx.Rngs(params=3))
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layer = getattr(model, f"layer_{i}")
        w, b = np.asarray(layer.w[...]), np.asarray(layer.b[...])
        assert w.shape == (n_in, n_out) and np.all(b == 0)
        assert np.all(np.abs(w) <= np.sqrt(6 / (n_in + n_out))) and np.any(w != 0)
    expected = mlp.init(nnx.Rngs(params=3).params(), SIZES, "rectifier")  # the same draw
    for got, want in zip(model.mlp_params(), expected):
        np.testing.assert_array_equal(got["w"], want["w"])
    # gradients through NNX equal those of the pure function
    grads = nnx.grad(lambda m: jnp.sum(m(X)[0] ** 2))(model)
    pure = jax.grad(lambda p: jnp.sum(mlp.apply(p, X)[0] ** 2))(model.mlp_params())
    np.testing.assert_allclose(grads["layer_0"]["w"][...], pure[0]["w"], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown activation"):
        dsnn.SparseMLPNNX(SIZES, "relu", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="expected"):
        dsnn.SparseMLPNNX(SIZES[:-1], rngs=nnx.Rngs(0), params=expected)
