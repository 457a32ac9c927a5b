"""Bad configurations give a clear ValueError before anything is compiled (issue 4)."""
import contextlib

import numpy as np
import pytest
from jax import monitoring

from deep_sparse import activations
from deep_sparse.config import TrainConfig
from deep_sparse.train import Data, make_train


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
