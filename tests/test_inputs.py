"""Data from a user's own NumPy or JAX arrays: converted and checked where it is built, run with or
without jax.jit; stacked hyperparameters checked where they enter a vmapped run."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.train import Data, make_train, prepare_data

KEY = jax.random.PRNGKey(0)
CONFIG = TrainConfig(hidden_sizes=(8,), batch_size=10, epochs=2, patience=None)


def numpy_splits(seed=0, n=(40, 20, 20), d=5, k=3):
    """float64 inputs and int64 labels, what NumPy makes by default."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 2.0, (k, d))
    arrays = []
    for m in n:
        y = rng.integers(0, k, m)
        arrays += [centers[y] + rng.normal(size=(m, d)), y]
    return arrays


def test_data_built_by_hand_from_numpy_runs_with_and_without_jit():
    data = Data(*numpy_splits())  # no num_classes: concrete labels give it
    train = make_train(CONFIG)
    eager = train(KEY, Hparams(lr=0.1), data)  # mini-batch indices are traced inside the scan
    jitted = jax.jit(train)(KEY, Hparams(lr=0.1), data)
    assert data.num_classes == 3
    assert jitted.params[-1]["w"].shape == (8, 3)
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5, equal_nan=True)
    assert float(jitted.test_error) < 0.5


def test_from_arrays_converts_like_prepare_data():
    arrays = numpy_splits()
    data = Data.from_arrays(*arrays)
    assert data.num_classes == 3
    for name in ("x_train", "x_valid", "x_test"):
        assert isinstance(getattr(data, name), jax.Array) and getattr(data, name).dtype == jnp.float32
    for name in ("y_train", "y_valid", "y_test"):
        assert getattr(data, name).dtype == jnp.int32
    prepared = prepare_data(TrainConfig(), {"train": arrays[0:2], "valid": arrays[2:4], "test": arrays[4:6]})
    for a, b in zip(jax.tree.leaves(data), jax.tree.leaves(prepared)):
        np.testing.assert_array_equal(a, b)
    # JAX arrays pass through, on the device; pre-training inputs and a class count are kept
    on_device = Data.from_arrays(*(jnp.asarray(a) for a in arrays), x_pretrain=np.zeros((7, 5)), num_classes=4)
    assert on_device.num_classes == 4 and on_device.x_pretrain.shape == (7, 5)
    np.testing.assert_array_equal(on_device.x_train, data.x_train)


@pytest.mark.parametrize("position, value, message", [
    (0, np.zeros(40), r"x_train must have shape \(examples, features\), got shape \(40,\)"),
    (1, np.zeros((40, 1), np.int64), r"y_train must be a vector of class labels, got shape \(40, 1\)"),
    (1, np.zeros(40), "y_train must hold integer class labels, got dtype float64"),
    (3, np.zeros(19, np.int64), "x_valid has 20 examples but y_valid has 19 labels"),
    (4, np.zeros((20, 6)), "x_test has 6 features, x_train has 5"),
    (5, np.full(20, -1), r"y_test holds labels in \[-1, -1\]"),
    (2, np.array([["a"] * 5] * 20), "x_valid must hold real numbers"),
    (1, "labels", "y_train must be a vector"),
])
def test_from_arrays_names_the_wrong_argument(position, value, message):
    arrays = numpy_splits()
    arrays[position] = value
    with pytest.raises(ValueError, match="Data.from_arrays: " + message):
        Data.from_arrays(*arrays)


def test_from_arrays_checks_labels_against_a_given_class_count_and_traced_labels_need_one():
    arrays = numpy_splits()
    with pytest.raises(ValueError, match=r"y_train holds labels in \[0, 2\], outside \[0, 1\] for 2 classes"):
        Data.from_arrays(*arrays, num_classes=2)
    with pytest.raises(ValueError, match="labels are traced.*pass num_classes="):
        jax.jit(lambda *a: Data.from_arrays(*a).x_train)(*arrays)
    assert jax.jit(lambda *a: Data.from_arrays(*a, num_classes=3).x_train.sum())(*arrays).shape == ()


def test_vmap_of_a_grid_equals_jax_vmap_and_names_unstacked_fields():
    data = Data.from_arrays(*numpy_splits())
    train = make_train(CONFIG)
    grid = Hparams.grid(lr=[0.1, 0.01], l1=[0.0, 1e-3])
    keys = jax.random.split(KEY, 4)
    helper = jax.jit(train.vmap())(keys, grid, data)
    plain = jax.jit(jax.vmap(train, in_axes=(0, 0, None)))(keys, grid, data)
    for a, b in zip(jax.tree.leaves(helper), jax.tree.leaves(plain)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert helper.test_error.shape == (4,)
    with pytest.raises(ValueError, match=r"partly stacked.*l1 \(shape \(\)\) is not"):
        train.vmap()(keys, grid._replace(l1=0.0), data)
    with pytest.raises(ValueError, match=r"4 networks need 4 keys.*got keys of shape \(3, 2\)"):
        train.vmap()(keys[:3], grid, data)


def test_data_built_by_hand_is_checked_before_anything_is_compiled():
    arrays = numpy_splits()
    arrays[1] = arrays[1].astype(np.float64)  # labels as floats
    with pytest.raises(ValueError, match="Data.y_train must hold integer class labels, got dtype float64"):
        make_train(CONFIG, Data(*arrays))
    arrays = numpy_splits()
    arrays[4] = arrays[4][:, :3]
    with pytest.raises(ValueError, match="Data.x_test has 3 features, x_train has 5"):
        jax.jit(make_train(CONFIG))(KEY, Hparams(), Data(*arrays))  # the check reads shapes: it runs on tracers


def test_toy_blobs_are_one_problem_whose_seeds_give_independent_splits():
    from deep_sparse import data as data_lib

    x, y = data_lib.blobs(500, seed=1, d=6, classes=4)
    assert x.shape == (500, 6) and y.shape == (500,) and set(np.unique(y)) == {0, 1, 2, 3}
    x2, y2 = data_lib.blobs(500, seed=2, d=6, classes=4)
    assert not np.array_equal(x, x2)
    # the same centres for every seed: class means of two seeds agree within the sampling noise
    for k in range(4):
        np.testing.assert_allclose(x[y == k].mean(0), x2[y2 == k].mean(0), atol=0.5)
    np.testing.assert_array_equal(data_lib.blobs(500, seed=1, d=6, classes=4)[0], x)
