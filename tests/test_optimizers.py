"""Any optax optimizer fine-tunes; Hparams.lr is its one learning rate, traced and vmappable."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from deep_sparse import finetuning, optimizers
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.train import Data, make_train

KEY = jax.random.PRNGKey(0)
# one mini-batch per epoch (the whole training set): an epoch is one optimizer step
CONFIG = TrainConfig(hidden_sizes=(8,), batch_size=40, epochs=1, patience=None)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    arrays = []
    for m in (40, 20, 20):
        arrays += [rng.normal(size=(m, 5)), rng.integers(0, 3, m)]
    return Data.from_arrays(*arrays)


def adam(placeholder=0.0):
    return optax.inject_hyperparams(optax.adam)(learning_rate=placeholder)


def test_adam_step_against_numpy_with_the_learning_rate_of_each_network(data):
    train = make_train(CONFIG, optimizer=adam(0.5))  # 0.5 is never used
    hparams = Hparams.grid(lr=[0.01, 0.001], l1=1e-3)
    keys = jax.random.split(KEY, 2)
    start = jax.vmap(train.init, in_axes=(0, 0, None))(keys, hparams, data)
    after = jax.jit(jax.vmap(train.finetune.epoch, in_axes=(0, 0, None)))(start, hparams, data)
    for n, lr in enumerate([0.01, 0.001]):
        params = jax.tree.map(lambda a: a[n], start.params)
        network = jax.tree.map(lambda a: a[n], hparams)
        grads = jax.grad(functools.partial(finetuning.objective, CONFIG))(params, network, data.x_train, data.y_train)
        for layer, got_layer, grad_layer in zip(params, after.params, grads):
            for name in ("w", "b"):
                p0, g = np.asarray(layer[name], np.float64), np.asarray(grad_layer[name], np.float64)
                # Adam's first step: bias-corrected moments are g and g**2, so the step is lr g / (|g| + eps)
                expected = p0 - lr * g / (np.abs(g) + 1e-8)
                np.testing.assert_allclose(np.asarray(got_layer[name])[n], expected, rtol=1e-4, atol=2e-6)


def test_the_number_given_to_the_optimizer_is_never_used(data):
    hparams = Hparams(lr=0.05, l1=1e-3)
    config = CONFIG.replace(batch_size=10, epochs=2)
    default = jax.jit(make_train(config))(KEY, hparams, data)
    explicit = jax.jit(make_train(config, optimizer=optimizers.sgd(0.7)))(KEY, hparams, data)
    for a, b in zip(jax.tree.leaves(default), jax.tree.leaves(explicit)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # ... and a pre-trained stack's fine-tuning starts a fresh optimizer state at Hparams.lr
    train = make_train(config.replace(pretrain_epochs=1), optimizer=adam(0.5))
    state = train.pretrain[0].epoch(train.init(KEY, hparams, data), hparams, data)
    state = train.start_finetuning(state, hparams._replace(lr=0.003), data)
    assert float(state.opt_state.hyperparams["learning_rate"]) == np.float32(0.003)
    assert int(state.opt_state.count) == 0


def test_a_schedule_multiplies_the_injected_rate(data):
    decay = optax.chain(adam(), optax.scale_by_schedule(lambda step: 0.5 ** step))
    state = optimizers.init(decay, {"w": jnp.ones(3)}, 0.02)
    assert float(optax.tree_utils.tree_get(state, "learning_rate")) == np.float32(0.02)
    result = jax.jit(make_train(CONFIG, optimizer=decay))(KEY, Hparams(lr=0.01), data)
    assert np.isfinite(float(result.test_error))


def test_an_optimizer_that_would_ignore_hparams_lr_is_refused(data):
    with pytest.raises(ValueError, match="no learning_rate for Hparams.lr to set.*inject_hyperparams"):
        make_train(CONFIG, optimizer=optax.adam(1e-3))(KEY, Hparams(), data)
    scheduled = optax.inject_hyperparams(optax.sgd)(learning_rate=optax.linear_schedule(0.1, 0.0, 10))
    with pytest.raises(ValueError, match="is a schedule, which would override Hparams.lr"):
        jax.jit(make_train(CONFIG, optimizer=scheduled))(KEY, Hparams(), data)
    with pytest.raises(TypeError, match="must be an optax.GradientTransformation.*got str"):
        make_train(CONFIG, optimizer="adam")
