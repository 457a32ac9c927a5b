"""Training as one pure function (issue 4), on small synthetic data (Gaussian blobs, NumPy-made)."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deep_sparse import evaluation, pretraining
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.rows import is_dead
from deep_sparse.train import DATA_ARRAYS, Data, Trainer, labels_span, make_train, prepare_data

N_TRAIN, N_VALID, N_TEST, N_IN, N_CLASSES = 300, 100, 100, 20, 3
KEY = jax.random.PRNGKey(0)


def blobs(seed=0, n=(N_TRAIN, N_VALID, N_TEST), d=N_IN, k=N_CLASSES, spread=1.5):
    """Overlapping Gaussian blobs: ``{"train": (x, y), "valid": ..., "test": ...}``."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.0, (k, d))
    splits = {}
    for name, m in zip(("train", "valid", "test"), n):
        y = rng.integers(0, k, m)
        x = centers[y] + rng.normal(0.0, spread, (m, d))
        splits[name] = (x.astype(np.float32), y.astype(np.int32))
    return splits


def small_config(**changes):
    base = dict(num_classes=N_CLASSES, hidden_sizes=(16, 16), batch_size=10, epochs=6, patience=None)
    base.update(changes)
    return TrainConfig(**base)


PRETRAIN_CONFIG = small_config(epochs=1, pretrain_epochs=3)
# Semi-supervised (Figure 4): pre-training on every training example, fine-tuning on half of them.
SEMI_CONFIG = small_config(epochs=3, pretrain_epochs=1, labeled_fraction=0.5)


@pytest.fixture(scope="module")
def data():
    return prepare_data(small_config(), blobs())


@functools.lru_cache(maxsize=None)
def jitted(config):
    return jax.jit(make_train(config))


def run(config, hparams, data, key=KEY):
    return jitted(config)(key, hparams, data)


def leaves_equal(a, b):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# --------------------------------------------------------------------- NumPy references
def np_forward(params, x, activation="rectifier"):
    acts = {"rectifier": lambda z: np.maximum(z, np.float32(0)), "tanh": np.tanh}
    h = np.asarray(x, np.float32)
    hidden = []
    for layer in params[:-1]:
        h = acts[activation](h @ np.asarray(layer["w"]) + np.asarray(layer["b"]))
        hidden.append(h)
    logits = h @ np.asarray(params[-1]["w"]) + np.asarray(params[-1]["b"])
    return logits.astype(np.float64), hidden


def np_softmax(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------- tests
def test_loss_decreases(data):
    result = run(small_config(), Hparams(lr=0.05), data)
    loss = np.asarray(result.curves.train_loss)
    assert np.all(np.isfinite(loss))
    assert loss[-1] < 0.5 * loss[0]
    assert np.all(np.diff(loss) < 0), loss  # small lr, separable-ish data: monotone
    assert not bool(result.diverged)
    assert int(result.epochs_run) == 6
    # It learned something: well under chance (2/3) error.
    assert float(result.test_error) < 0.3


def test_model_selection_returns_the_best_validation_epoch(data):
    config = small_config()
    hparams = Hparams(lr=0.1)
    result = run(config, hparams, data)
    curve = np.asarray(result.curves.valid_error)
    assert np.all(np.isfinite(curve))
    best = int(np.argmin(curve))  # the first minimum
    assert int(result.best_epoch) == best + 1
    # The constructed case is informative: the best epoch is not the last one.
    assert best + 1 < config.epochs, curve
    assert float(result.valid_error) == pytest.approx(curve[best], abs=1e-6)
    assert int(result.epochs_run) == config.epochs  # patience=None: never stops early

    # The same run, stopped by hand after exactly best_epoch epochs with the stage functions.
    train = make_train(config)
    epoch = jax.jit(train.finetune.epoch)
    state = jax.jit(train.init)(KEY, hparams, data)
    for _ in range(best + 1):
        state = epoch(state, hparams, data)
    for got, expected in zip(jax.tree.leaves(result.params), jax.tree.leaves(state.params)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6)
    # ... and it differs from the parameters at the end of the run.
    for _ in range(config.epochs - best - 1):
        state = epoch(state, hparams, data)
    assert not np.allclose(np.asarray(state.params[0]["w"]), np.asarray(result.params[0]["w"]))


def test_patience_stops_at_the_first_run_of_bad_epochs(data):
    hparams = Hparams(lr=0.1)
    full = run(small_config(), hparams, data)
    curve = np.asarray(full.curves.valid_error)
    patience = 1
    best, bad, expected_stop = np.inf, 0, len(curve)
    for epoch, value in enumerate(curve, start=1):
        bad = 0 if value < best else bad + 1
        best = min(best, value)
        if bad >= patience:
            expected_stop = epoch
            break
    assert expected_stop < len(curve), curve  # the constructed case stops early
    stopped = run(small_config(patience=patience), hparams, data)
    assert int(stopped.epochs_run) == expected_stop
    assert int(stopped.best_epoch) == int(np.argmin(curve[:expected_stop])) + 1
    stopped_curve = np.asarray(stopped.curves.valid_error)
    np.testing.assert_allclose(stopped_curve[:expected_stop], curve[:expected_stop], rtol=1e-6)
    assert np.all(np.isnan(stopped_curve[expected_stop:]))


def test_pretraining_lowers_the_reconstruction_error(data):
    config = PRETRAIN_CONFIG
    hparams = Hparams(lr=0.05, pretrain_lr=0.01, l1=0.0)
    result = run(config, hparams, data)
    pretrain = np.asarray(result.curves.pretrain_loss)
    assert pretrain.shape == (2, 3)
    assert np.all(np.isfinite(pretrain))
    assert np.all(np.diff(pretrain, axis=1) < 0), pretrain
    assert not bool(result.diverged)

    # Held-out data (the validation set), same noise key: DAE loss after pre-training < at init.
    train, trainer = make_train(config), Trainer(config)
    act = trainer.activation(hparams)
    state = jax.jit(train.init)(KEY, hparams, data)
    initial = state
    noise_key = jax.random.PRNGKey(42)
    for layer_index, (_, n_epochs, epoch_fn) in enumerate(train.pretrain):
        epoch = jax.jit(epoch_fn)
        for _ in range(n_epochs):
            state = epoch(state, hparams, data)

        @jax.jit
        def held_out_loss(s, trained, layer_index=layer_index):
            # Input of this layer's auto-encoder: the clean code of the (pre-trained) layers below.
            input_range = (jnp.min(data.x_train), jnp.max(data.x_train))  # as in training
            code, target = pretraining.autoencoder_input(config, trained.params[:layer_index], act, data.x_valid,
                                                         input_range)
            return pretraining.dae_objective(
                config, (s.params[layer_index], s.decoder_biases[layer_index]), hparams, noise_key, code, layer_index,
                target
            )

        def held_out(s):
            return float(held_out_loss(s, state))

        before, after = held_out(initial), held_out(state)
        assert after < 0.9 * before, (layer_index, before, after)
    # Fine-tuning starts from the pre-trained parameters.
    fine_tune_start = jax.jit(train.finetune.epoch)(state, hparams, data)
    for got, expected in zip(jax.tree.leaves(result.params), jax.tree.leaves(fine_tune_start.best_params)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hparams", [Hparams(lr=1e4), Hparams(lr=1e4, l1=0.01)])
def test_huge_learning_rate_is_reported_as_diverged(data, hparams):
    result = run(small_config(), hparams, data)  # does not raise
    assert bool(result.diverged)
    for leaf in jax.tree.leaves(result.params):
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert np.isfinite(float(result.test_error))
    assert int(result.epochs_run) < 6  # stopped at the divergence
    assert int(result.best_epoch) <= int(result.epochs_run)


def test_huge_pretraining_learning_rate_is_reported_as_diverged(data):
    result = run(PRETRAIN_CONFIG, Hparams(lr=0.05, pretrain_lr=1e4), data)
    assert bool(result.diverged)
    # the diverged epoch's reconstruction error is not a number (it would be the pre-divergence one)
    assert np.all(np.isnan(np.asarray(result.curves.pretrain_valid_loss)))
    for leaf in jax.tree.leaves(result.params):
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert int(result.epochs_run) == 0


def test_same_key_same_result_bit_for_bit(data):
    config = small_config()
    hparams = Hparams(lr=0.1, l1=1e-3)
    first = run(config, hparams, data)
    second = jax.jit(make_train(config))(KEY, hparams, data)  # a fresh compilation
    leaves_equal(first, second)
    other = run(config, hparams, data, key=jax.random.PRNGKey(1))
    assert not np.array_equal(np.asarray(first.params[0]["w"]), np.asarray(other.params[0]["w"]))


def test_vmap_equals_separate_runs(data):
    config = small_config(patience=1)  # early stopping under vmap: lax.cond becomes a select
    trainer = make_train(config)
    hparams = [Hparams(lr=0.1, l1=0.0), Hparams(lr=0.03, l1=1e-3)]
    keys = [jax.random.PRNGKey(3), jax.random.PRNGKey(4)]
    stacked = Hparams(*(jnp.asarray([getattr(h, f) for h in hparams], jnp.float32) for f in Hparams._fields))
    batched = jax.jit(jax.vmap(trainer, in_axes=(0, 0, None)))(jnp.stack(keys), stacked, data)
    for k in range(2):
        alone = run(config, hparams[k], data, key=keys[k])
        for got, expected in zip(jax.tree.leaves(batched), jax.tree.leaves(alone)):
            np.testing.assert_allclose(np.asarray(got)[k], np.asarray(expected), rtol=1e-5, atol=1e-6,
                                       equal_nan=True)


def test_semi_supervised_fine_tunes_on_the_labeled_part_only():
    config = SEMI_CONFIG
    data = prepare_data(config, blobs())
    hparams = Hparams(lr=0.1)
    n_labeled = N_TRAIN // 2
    assert Trainer(config).n_labeled(data) == n_labeled
    result = run(config, hparams, data)
    assert not bool(result.diverged)

    # train_error is measured on the n_labeled labeled examples.
    logits, _ = np_forward(result.params, np.asarray(data.x_train)[:n_labeled])
    errors = np.sum(np.argmax(logits, axis=-1) != np.asarray(data.y_train)[:n_labeled])
    assert float(result.train_error) == pytest.approx(errors / n_labeled, abs=1e-6)

    # The labels of the unlabeled part are never read: scrambling them changes nothing.
    y = np.asarray(data.y_train).copy()
    y[n_labeled:] = (y[n_labeled:] + 1) % N_CLASSES
    scrambled = data.replace(y_train=jnp.asarray(y))
    leaves_equal(result, run(config, hparams, scrambled))
    # ... but pre-training reads the inputs of the unlabeled part.
    x = np.asarray(data.x_train).copy()
    x[n_labeled:] *= -1.0
    changed = run(config, hparams, data.replace(x_train=jnp.asarray(x)))
    assert not np.allclose(np.asarray(result.curves.pretrain_loss), np.asarray(changed.curves.pretrain_loss))
    # A run with every label differs.
    full = run(config.replace(labeled_fraction=1.0), hparams, data)
    assert not np.allclose(np.asarray(full.params[0]["w"]), np.asarray(result.params[0]["w"]))
    assert float(full.train_error) != float(result.train_error) or float(full.test_error) != float(result.test_error)


def test_prepare_data_picks_a_random_labeled_subset():
    splits = blobs()
    full = prepare_data(small_config(), splits)
    half = prepare_data(small_config(labeled_fraction=0.5), splits)
    np.testing.assert_array_equal(np.asarray(full.x_train), splits["train"][0])
    # The same examples, in a fixed shuffled order.
    assert not np.array_equal(np.asarray(half.x_train), splits["train"][0])
    order = np.lexsort(np.asarray(half.x_train).T)
    np.testing.assert_array_equal(np.asarray(half.x_train)[order], splits["train"][0][np.lexsort(splits["train"][0].T)])
    again = prepare_data(small_config(labeled_fraction=0.5), splits)
    np.testing.assert_array_equal(np.asarray(half.x_train), np.asarray(again.x_train))
    np.testing.assert_array_equal(np.asarray(half.x_valid), splits["valid"][0])


def ratings_data(seed=1):
    """Ratings 1..5 (classes 0..4) that grow with a linear score of the input, with noise."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=N_IN) / np.sqrt(N_IN)
    splits = {}
    for name, m in zip(("train", "valid", "test"), (N_TRAIN, N_VALID, N_TEST)):
        x = rng.normal(size=(m, N_IN))
        score = x @ direction + 0.3 * rng.normal(size=m)
        y = np.clip(np.round(score * 1.5 + 2), 0, 4)
        splits[name] = (x.astype(np.float32), y.astype(np.int32))
    return splits


def test_ratings_task_gives_a_sane_rmse():
    config = small_config(task="ratings", epochs=5, num_classes=None)
    splits = ratings_data()
    data = prepare_data(config, splits)
    result = run(config, Hparams(lr=0.05), data)
    assert result.params[-1]["w"].shape[-1] == 5
    rmse = float(result.test_error)
    stars = splits["test"][1] + 1.0
    baseline = np.sqrt(np.mean((stars - (splits["train"][1] + 1.0).mean()) ** 2))
    assert 0.0 < rmse < 0.8 * baseline, (rmse, baseline)
    # Independent NumPy RMSE of the expected star value.
    logits, _ = np_forward(result.params, splits["test"][0])
    predicted = np_softmax(logits) @ np.arange(1, 6)
    assert rmse == pytest.approx(np.sqrt(np.mean((predicted - stars) ** 2)), rel=1e-4)
    np.testing.assert_allclose(np.asarray(result.test_example_errors), (predicted - stars) ** 2, rtol=1e-4, atol=1e-5)


def test_sparsity_matches_a_numpy_forward_pass(data):
    result = run(small_config(), Hparams(lr=0.1, l1=0.01), data)
    _, hidden = np_forward(result.params, np.asarray(data.x_test))
    per_layer = np.array([np.mean(h == 0) for h in hidden])
    assert 0.0 < per_layer.min() and per_layer.max() < 1.0
    # Exact zeros; allow one borderline unit per layer from float32 rounding differences.
    tolerance = 1.0 / (N_TEST * 16)
    np.testing.assert_allclose(np.asarray(result.sparsity_per_layer), per_layer, atol=tolerance)
    assert float(result.sparsity) == pytest.approx(per_layer.mean(), abs=tolerance)
    # The test error too.
    logits, _ = np_forward(result.params, np.asarray(data.x_test))
    assert float(result.test_error) == pytest.approx(np.mean(np.argmax(logits, -1) != np.asarray(data.y_test)), abs=1e-6)
    # and which examples are wrong, evaluated in chunks of 30 (the last one shorter)
    chunked = run(small_config(eval_batch_size=30), Hparams(lr=0.1, l1=0.01), data)
    wrong = (np.argmax(logits, -1) != np.asarray(data.y_test)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(result.test_example_errors), wrong)
    np.testing.assert_array_equal(np.asarray(chunked.test_example_errors), wrong)


def test_traced_data_carries_its_number_of_classes(data):
    # prepare_data records the class count as static data, which jax.jit keeps: no config needs it
    config = small_config(epochs=1, num_classes=None)
    assert data.num_classes == small_config().num_classes
    result = jax.jit(make_train(config))(KEY, Hparams(), data)
    assert result.params[-1]["w"].shape[-1] == data.num_classes
    expected = run(small_config(epochs=1), Hparams(), data)
    np.testing.assert_array_equal(np.asarray(result.test_example_errors), np.asarray(expected.test_example_errors))
    # concrete labels give it whenever a Data is built, by hand too
    assert data.replace(num_classes=None).num_classes == data.num_classes
    # data built from traced labels cannot tell its classes: one line naming both places to set them
    arrays = [getattr(data, name) for name in DATA_ARRAYS[:6]]
    with pytest.raises(ValueError, match="TrainConfig.num_classes or Data.num_classes must be set"):
        jax.jit(lambda *arrays: make_train(config)(KEY, Hparams(), Data(*arrays)))(*arrays)


def test_prepared_data_counts_classes_from_its_labels_unless_the_config_names_them():
    splits = {name: (np.zeros((4, 3), np.float32), np.array(labels, np.int32))
              for name, labels in (("train", [0, 1, 0, 1]), ("valid", [0, 0, 0, 0]), ("test", [4, 0, 0, 0]))}
    assert prepare_data(TrainConfig(num_classes=None), splits).num_classes == 5  # the test split's 4
    assert prepare_data(TrainConfig(num_classes=7), splits).num_classes == 7
    splits["valid"] = (np.zeros((0, 3), np.float32), np.zeros((0,), np.int32))  # an empty split counts nothing
    assert prepare_data(TrainConfig(num_classes=None), splits).num_classes == 5
    with pytest.raises(ValueError, match="every split is empty"):
        labels_span(np.zeros((0,), np.int32))


@pytest.mark.parametrize("eval_batch_size", [1000, 7])  # one chunk; 4 chunks of 7 and a rest of 2
def test_pretraining_records_the_clean_validation_reconstruction_error(eval_batch_size):
    """Issue 11.3: the pre-training lr is selected on the reconstruction error alone (no noise, no L1)
    of the clean validation inputs, checked here against NumPy for the rectifier's softplus_squared."""
    rng = np.random.default_rng(3)
    splits = {name: (rng.random((n, 12), np.float32), rng.integers(0, 3, n).astype(np.int32))
              for name, n in (("train", 40), ("valid", 30), ("test", 20))}
    config = TrainConfig(num_classes=3, hidden_sizes=(8, 6), batch_size=10, epochs=1, pretrain_epochs=2,
                         eval_batch_size=eval_batch_size)
    data = prepare_data(config, splits)
    trainer = Trainer(config)
    hparams = Hparams(l1=0.5, noise_level=0.5, pretrain_lr=0.05)
    state = trainer.init(jax.random.PRNGKey(0), hparams, data)
    state = trainer.pretrain_epoch(state, hparams, data, layer_index=0)
    w, b = np.asarray(state.params[0]["w"], np.float64), np.asarray(state.params[0]["b"], np.float64)
    b_dec = np.asarray(state.decoder_biases[0], np.float64)
    x = np.asarray(data.x_valid, np.float64)
    code = np.maximum(x @ w + b, 0.0)
    reconstruction = np.log1p(np.exp(code @ w.T + b_dec))
    expected = np.mean(np.sum((x - reconstruction) ** 2, axis=1))
    recorded = np.asarray(state.curves.pretrain_valid_loss)
    np.testing.assert_allclose(recorded[0, 0], expected, rtol=1e-4)
    assert np.isnan(recorded[0, 1]) and np.isnan(recorded[1]).all()  # epochs not run yet stay NaN
    # not the training objective, which adds noise and the (large) L1 term
    assert abs(float(state.curves.pretrain_loss[0, 0]) - expected) > 1e-3


def test_activity_against_numpy():
    """Issue 13.3: top-class share and silent units, against NumPy, with a padded last chunk."""
    rng = np.random.default_rng(5)
    splits = {name: (rng.normal(size=(n, 12)).astype(np.float32), rng.integers(0, 3, n).astype(np.int32))
              for name, n in (("train", 40), ("valid", 37), ("test", 20))}
    config = TrainConfig(num_classes=3, hidden_sizes=(8, 6), batch_size=10, epochs=1, eval_batch_size=10)
    data = prepare_data(config, splits)
    trainer = Trainer(config)
    state = trainer.init(jax.random.PRNGKey(1), Hparams(), data)
    params = state.params
    params[1]["b"] = params[1]["b"].at[:3].set(-100.0)  # three units of layer 2 can never fire
    share, silent = evaluation.activity(params, trainer.activation(Hparams()), data.x_valid, config.eval_batch_size)
    x = np.asarray(data.x_valid, np.float64)
    h1 = np.maximum(x @ np.asarray(params[0]["w"]) + np.asarray(params[0]["b"]), 0)
    h2 = np.maximum(h1 @ np.asarray(params[1]["w"]) + np.asarray(params[1]["b"]), 0)
    logits = h2 @ np.asarray(params[2]["w"]) + np.asarray(params[2]["b"])
    expected_share = np.bincount(logits.argmax(1), minlength=3).max() / 37
    np.testing.assert_allclose(float(share), expected_share, rtol=1e-6)
    expected_silent = [np.mean(~(h != 0).any(0)) for h in (h1, h2)]
    np.testing.assert_allclose(np.asarray(silent), expected_silent, atol=1e-6)
    assert float(silent[1]) >= 3 / 6


def test_a_collapsed_network_is_dead_not_diverged():
    """Issue 13.3: at lr 1e3 every unit dies; the run is flagged dead, not diverged."""
    rng = np.random.default_rng(0)
    splits = {name: (rng.random((n, 12), np.float32), rng.integers(0, 3, n).astype(np.int32))
              for name, n in (("train", 50), ("valid", 37), ("test", 20))}
    config = TrainConfig(num_classes=3, hidden_sizes=(8, 6), batch_size=10, epochs=2)
    data = prepare_data(config, splits)
    for lr, dead in ((0.1, False), (1e3, True)):
        result = jax.jit(make_train(config))(jax.random.PRNGKey(0), Hparams(lr=lr), data)
        assert not bool(result.diverged)
        flagged = is_dead(False, float(result.top_class_share), np.asarray(result.silent_units_per_layer))
        assert flagged is dead


@pytest.mark.parametrize("activation", ["tanh", "rectifier", "softplus"])
def test_signed_inputs_are_reconstructed_in_the_range_the_decoder_reaches(activation):
    """Issue 11.5: inputs in [-1, 1] (NORB): the first layer's target is mapped onto [0, 1], so that
    the tanh network's cross-entropy keeps its lower bound 0 and a softplus output can reach it."""
    rng = np.random.default_rng(2)
    splits = {name: (rng.uniform(-1, 1, (n, 12)).astype(np.float32), rng.integers(0, 3, n).astype(np.int32))
              for name, n in (("train", 60), ("valid", 30), ("test", 20))}
    config = TrainConfig(num_classes=3, hidden_sizes=(8, 6), batch_size=10, epochs=1, pretrain_epochs=3,
                         activation=activation)
    data = prepare_data(config, splits)
    x = data.x_train[:10]
    low, high = jnp.min(data.x_train), jnp.max(data.x_train)
    code, target = pretraining.autoencoder_input(config, [], None, x, (low, high))
    np.testing.assert_allclose(np.asarray(target), (np.asarray(x) - float(low)) / float(high - low), rtol=1e-6)
    result = jax.jit(make_train(config))(jax.random.PRNGKey(0), Hparams(pretrain_lr=0.1), data)
    assert not bool(result.diverged)
    assert np.all(np.asarray(result.curves.pretrain_loss) >= 0)
    assert np.all(np.asarray(result.curves.pretrain_valid_loss) >= 0)
    # inputs the decoder reaches as they are (MNIST's [0, 1]) stay their own target, bit for bit
    unit = jnp.asarray(rng.random((10, 12), np.float32))
    _, same = pretraining.autoencoder_input(config, [], None, unit, (jnp.float32(0.0), jnp.float32(1.0)))
    assert np.array_equal(np.asarray(same), np.asarray(unit))


def test_a_pretrained_tanh_layer_is_the_encoder_its_autoencoder_trained(data):
    """Tanh codes h reach layer 2's auto-encoder as u = (h + 1) / 2 (cross-entropy needs targets in
    [0, 1]). The recorded clean reconstruction error is that of an auto-encoder whose encoder is exactly
    the fine-tuned network's layer 2 on h (in u's units: weights 2 W2, bias b2 - sum_rows W2), with the
    tied decoder 2 W2^T: what pre-training trained is what fine-tuning starts from."""
    config = small_config(activation="tanh", epochs=1, pretrain_epochs=1)
    hparams = Hparams(lr=0.05, pretrain_lr=0.01, l1=0.0)
    train = make_train(config)
    state = jax.jit(train.init)(KEY, hparams, data)
    for _, _, epoch_fn in train.pretrain:
        state = jax.jit(epoch_fn)(state, hparams, data)
    (w1, b1), (w2, b2) = [(np.asarray(p["w"], np.float64), np.asarray(p["b"], np.float64)) for p in state.params[:2]]
    h = np.tanh(np.asarray(data.x_valid, np.float64) @ w1 + b1)
    code = np.tanh(h @ w2 + b2)  # what the fine-tuned network computes
    logits = code @ (2.0 * w2).T + np.asarray(state.decoder_biases[1], np.float64)
    target = (h + 1.0) / 2.0
    expected = np.mean(np.sum(np.logaddexp(0.0, logits) - target * logits, axis=1))
    np.testing.assert_allclose(float(state.curves.pretrain_valid_loss[1, 0]), expected, rtol=1e-4)


def test_the_run_starts_from_the_configured_initialization(data):
    config = small_config(hidden_bias_init=0.1, output_layer_init="zeros")
    state = Trainer(config).init(KEY, Hparams(), data)
    plain = Trainer(small_config()).init(KEY, Hparams(), data)
    np.testing.assert_array_equal(np.asarray(state.params[-1]["w"]), 0.0)
    np.testing.assert_array_equal(np.asarray(state.params[0]["b"]), np.float32(0.1))
    np.testing.assert_array_equal(np.asarray(state.params[0]["w"]), np.asarray(plain.params[0]["w"]))


def test_an_untied_decoder_learns_weights_of_its_own_and_is_the_one_reconstructing():
    """Section 3.2 of the AISTATS paper: (W_enc, b_enc, W_dec, b_dec); the recorded clean validation
    reconstruction error uses W_dec, checked against NumPy; the tied network's encoder draws are kept."""
    rng = np.random.default_rng(3)
    splits = {name: (rng.random((n, 12), np.float32), rng.integers(0, 3, n).astype(np.int32))
              for name, n in (("train", 40), ("valid", 30), ("test", 20))}
    tied = TrainConfig(num_classes=3, hidden_sizes=(8, 6), batch_size=10, epochs=1, pretrain_epochs=1)
    untied = tied.replace(tied_decoder=False)
    data = prepare_data(tied, splits)
    hparams = Hparams(l1=0.0, noise_level=0.25, pretrain_lr=0.05)
    start = Trainer(untied).init(jax.random.PRNGKey(0), hparams, data)
    start_tied = Trainer(tied).init(jax.random.PRNGKey(0), hparams, data)
    leaves_equal(start.params, start_tied.params)
    assert start_tied.decoder_weights == [None, None]
    assert [w.shape for w in start.decoder_weights] == [(8, 12), (6, 8)]
    state = Trainer(untied).pretrain_epoch(start, hparams, data, layer_index=0)
    w_dec = np.asarray(state.decoder_weights[0], np.float64)
    assert np.abs(w_dec - np.asarray(start.decoder_weights[0])).max() > 0  # trained
    np.testing.assert_array_equal(np.asarray(state.decoder_weights[1]), np.asarray(start.decoder_weights[1]))
    w, b = np.asarray(state.params[0]["w"], np.float64), np.asarray(state.params[0]["b"], np.float64)
    x = np.asarray(data.x_valid, np.float64)
    reconstruction = np.log1p(np.exp(np.maximum(x @ w + b, 0.0) @ w_dec + np.asarray(state.decoder_biases[0])))
    expected = np.mean(np.sum((x - reconstruction) ** 2, axis=1))
    np.testing.assert_allclose(np.asarray(state.curves.pretrain_valid_loss)[0, 0], expected, rtol=1e-4)
    assert "w_dec" not in state.params[0]  # the network itself has no decoder
    result = jax.jit(make_train(untied))(KEY, hparams, data)  # the whole run, pre-training and fine-tuning
    assert np.isfinite(float(result.test_error))
