"""Bad configurations give a clear ValueError before anything is compiled (issue 4)."""
import contextlib

import jax
import numpy as np
import pytest
from jax import monitoring

from deep_sparse import activations, finetuning, mlp
from deep_sparse.config import Hparams, TrainConfig, from_summed_cost
from deep_sparse.train import Data, make_train
from tests.numpy_reference import numpy_sgd_step


@contextlib.contextmanager
def no_compilation():
    """Fail if XLA compiles anything inside the block."""
    events = []

    def listener(event, *args, **kwargs):
        if "compile" in event:
            events.append(event)

    monitoring.register_event_duration_secs_listener(listener)
    try:
        yield
    finally:
        monitoring.unregister_event_duration_listener(listener)
    assert not events, f"compiled something while checking the config: {events}"


def tiny_data(n_train=30, n_valid=10, n_test=10, d=5):
    rng = np.random.default_rng(0)
    parts = []
    for n in (n_train, n_valid, n_test):
        parts += [rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, 3, n).astype(np.int32)]
    return Data(*parts)


def test_a_good_config_is_accepted():
    with no_compilation():
        config = TrainConfig(num_classes=3, hidden_sizes=(4,), epochs=2, batch_size=10)
        make_train(config, tiny_data())


@pytest.mark.parametrize("epochs", [0, -1])
def test_zero_epochs(epochs):
    with no_compilation(), pytest.raises(ValueError, match="epochs"):
        TrainConfig(num_classes=3, epochs=epochs)


def test_batch_size_larger_than_the_data():
    config = TrainConfig(num_classes=3, hidden_sizes=(4,), epochs=1, batch_size=50)
    data = tiny_data(n_train=30)
    with no_compilation():
        with pytest.raises(ValueError, match=r"batch_size=50.*30 examples"):
            make_train(config, data)
        trainer = make_train(config)  # no data bound: nothing to check yet
        with pytest.raises(ValueError, match="batch_size"):
            trainer.check_data(data)
        with pytest.raises(ValueError, match="batch_size"):
            trainer.init(np.zeros(2, np.uint32), None, data)


def test_labeled_fraction_leaving_less_than_a_batch():
    config = TrainConfig(num_classes=3, hidden_sizes=(4,), epochs=1, batch_size=10, labeled_fraction=0.2)
    with no_compilation(), pytest.raises(ValueError, match="labeled_fraction"):
        make_train(config, tiny_data(n_train=30))


@pytest.mark.parametrize("fraction", [0, 0.0, 1.5, -0.1, float("nan")])
def test_labeled_fraction_outside_unit_interval(fraction):
    with no_compilation(), pytest.raises(ValueError, match=r"labeled_fraction.*\(0, 1\]"):
        TrainConfig(num_classes=3, labeled_fraction=fraction)


@pytest.mark.parametrize("fraction", [1.0, 0.5, 1e-3])
def test_labeled_fraction_inside_unit_interval(fraction):
    assert TrainConfig(num_classes=3, labeled_fraction=fraction).labeled_fraction == fraction


def test_unknown_activation_lists_the_names():
    with no_compilation(), pytest.raises(ValueError) as error:
        TrainConfig(activation="relu6")
    message = str(error.value)
    assert "relu6" in message
    for name in activations.names():
        assert name in message


def test_activation_not_supported_by_the_reconstruction_strategy():
    with no_compilation():
        with pytest.raises(ValueError, match=r"softplus_squared.*tanh|tanh.*softplus_squared"):
            TrainConfig(activation="tanh", pretrain_strategy="softplus_squared", pretrain_epochs=2)
        # Without pre-training the strategy is never used, so it is not checked.
        TrainConfig(activation="tanh", pretrain_strategy="softplus_squared", pretrain_epochs=0)
        # The paper's pairing for tanh is accepted.
        TrainConfig(activation="tanh", pretrain_epochs=2)


def test_unknown_strategy():
    with no_compilation(), pytest.raises(ValueError, match="nonsense"):
        TrainConfig(pretrain_strategy="nonsense", pretrain_epochs=1)


@pytest.mark.parametrize("field", ["corruption", "first_layer_corruption"])
def test_unknown_corruption(field):
    with no_compilation(), pytest.raises(ValueError, match=rf"{field}.*'blur'") as error:
        TrainConfig(**{field: "blur"})
    assert "mask" in str(error.value)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"hidden_sizes": (10, 0)}, "hidden_sizes"),
        ({"patience": 0}, "patience"),
        ({"pretrain_epochs": -1}, "pretrain_epochs"),
        ({"task": "regression"}, "task"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_other_bad_fields_are_named(changes, field):
    with no_compilation(), pytest.raises(ValueError, match=field):
        TrainConfig(**changes)


def test_replace_validates():
    config = TrainConfig(num_classes=3)
    with pytest.raises(ValueError, match="epochs"):
        config.replace(epochs=0)


def test_make_train_rejects_a_non_config():
    with pytest.raises(TypeError):
        make_train({"epochs": 3})


# --------------------------------------------------------------------- Hparams
def test_a_negative_or_nan_hyperparameter_is_refused_where_it_is_written():
    # under jax.jit the value becomes a tracer nothing can check: building the Hparams is the check
    for field in Hparams._fields:
        with no_compilation(), pytest.raises(ValueError, match=f"Hparams.{field} must be >= 0"):
            Hparams(**{field: -0.1})
    with pytest.raises(ValueError, match="Hparams.lr must be >= 0, got nan"):
        Hparams()._replace(lr=float("nan"))
    with pytest.raises(ValueError, match=r"Hparams.l1 must be >= 0, got \[0.0, -1.0\]"):
        Hparams(l1=np.array([0.0, -1.0]))
    # in_axes prefixes, JAX's own rebuilding (gradients, tree maps) and tracers are not hyperparameters
    Hparams(lr=0, l1=None, pretrain_lr=None, noise_level=None, alpha=None)
    grads = jax.grad(lambda h: -h.lr)(Hparams())
    assert float(grads.lr) == -1.0
    assert jax.tree.map(lambda v: -v, Hparams()).lr == -0.01
    assert float(jax.jit(lambda h: h.lr)(Hparams(lr=0.5))) == 0.5


def test_stack_and_grid_build_every_field_as_a_vector():
    networks = [Hparams(lr=0.1), {"lr": 0.01, "l1": 1e-3}]
    stacked = Hparams.stack(networks)
    assert stacked.stacked_size() == 2
    for name in Hparams._fields:
        value = getattr(stacked, name)
        assert value.dtype == np.float32 and value.shape == (2,)
    np.testing.assert_array_equal(stacked.lr, np.float32([0.1, 0.01]))
    np.testing.assert_array_equal(stacked.l1, np.float32([0.0, 1e-3]))
    np.testing.assert_array_equal(stacked.alpha, np.float32([1.0, 1.0]))
    grid = Hparams.grid(lr=[0.1, 0.01, 0.001, 0.0001], l1=[0.0, 1e-3], noise_level=0.1)
    expected = [(lr, l1) for lr in [0.1, 0.01, 0.001, 0.0001] for l1 in [0.0, 1e-3]]  # the last axis fastest
    assert grid.stacked_size() == 8
    np.testing.assert_array_equal(grid.lr, np.float32([lr for lr, _ in expected]))
    np.testing.assert_array_equal(grid.l1, np.float32([l1 for _, l1 in expected]))
    np.testing.assert_array_equal(grid.noise_level, np.full(8, 0.1, np.float32))
    np.testing.assert_array_equal(grid.pretrain_lr, np.full(8, Hparams().pretrain_lr, np.float32))
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['learning_rate'\]"):
        Hparams.grid(learning_rate=[0.1])
    with pytest.raises(ValueError, match="axis 'l1' is empty"):
        Hparams.grid(l1=[])
    with pytest.raises(ValueError, match="Hparams.lr must be >= 0"):
        Hparams.grid(lr=[0.1, -0.1])


def test_a_partly_stacked_hparams_names_its_unstacked_fields():
    partly = Hparams(lr=np.float32([0.1, 0.01]), l1=np.float32([0.0, 1e-3]))
    with pytest.raises(ValueError, match=r"partly stacked.*pretrain_lr \(shape \(\)\), noise_level \(shape \(\)\), "
                                         r"alpha \(shape \(\)\) are not.*Hparams.stack or Hparams.grid"):
        partly.stacked_size()
    uneven = Hparams.grid(lr=[0.1, 0.01])._replace(l1=np.float32([0.0, 0.1, 0.2]))
    with pytest.raises(ValueError, match="different lengths.*lr 2, l1 3"):
        uneven.stacked_size()
    with pytest.raises(ValueError, match=r"partly stacked.*l1 \(shape \(\)\) is not"):
        Hparams.grid(lr=[0.1, 0.01])._replace(l1=0.0).stacked_size()


@pytest.mark.parametrize("activation", ["rectifier", "tanh"])
def test_sgd_on_the_summed_cost_is_our_sgd_at_the_mapped_hparams(activation):
    """One SGD step on the cost whose NLL is summed over the mini-batch (the L1 term averaged), by hand in
    NumPy, equals one step of the library's objective at ``from_summed_cost``'s lr and L1."""
    sizes, batch, lr, l1 = (12, 20, 16, 5), 10, 0.01, 0.001
    config = TrainConfig(hidden_sizes=sizes[1:-1], activation=activation, batch_size=batch)
    params = mlp.init(jax.random.PRNGKey(3), sizes, activation)
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 1.0, (batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch).astype(np.int32)
    ours = from_summed_cost(Hparams(lr=lr, l1=l1), batch)
    np.testing.assert_allclose([ours.lr, ours.l1], [lr * batch, l1 / batch], rtol=1e-12)
    grads = jax.grad(finetuning.objective, argnums=1)(config, params, ours, x, y)
    stepped = jax.tree_util.tree_map(lambda p, g: p - np.float32(ours.lr) * g, params, grads)
    expected, _ = numpy_sgd_step(params, lr, l1, x, y, activation, nll="sum")
    for layer, reference in zip(stepped, expected, strict=True):
        np.testing.assert_allclose(np.asarray(layer["w"]), reference["w"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(layer["b"]), reference["b"], rtol=1e-5, atol=1e-6)
    # and the mean-cost reference at the unmapped values takes another step (the test can fail)
    unmapped, _ = numpy_sgd_step(params, lr, l1, x, y, activation, nll="mean")
    assert not np.allclose(unmapped[0]["w"], expected[0]["w"], rtol=1e-5, atol=1e-6)


def test_from_summed_cost_maps_only_the_rates_and_the_l1_coefficient():
    stacked = Hparams.grid(lr=[0.1, 0.01], l1=[0.0, 0.001], pretrain_lr=0.001, noise_level=0.3, alpha=2.0)
    mapped = from_summed_cost(stacked, 10)
    np.testing.assert_allclose(mapped.lr, np.asarray(stacked.lr) * 10, rtol=1e-6)
    np.testing.assert_allclose(mapped.pretrain_lr, np.asarray(stacked.pretrain_lr) * 10, rtol=1e-6)
    np.testing.assert_allclose(mapped.l1, np.asarray(stacked.l1) / 10, rtol=1e-6)
    np.testing.assert_array_equal(mapped.noise_level, stacked.noise_level)
    np.testing.assert_array_equal(mapped.alpha, stacked.alpha)
