"""Train one sparse rectifier network on NumPy arrays of your own.

    python examples/train_from_numpy.py

Data.from_arrays converts the arrays (float32 inputs, int32 labels), checks them and reads the number
of classes from the labels; make_train describes the run as one pure function, which runs as it is or
under jax.jit. The trained parameters are plain arrays, here also wrapped as a Flax NNX module.
"""
import jax
import numpy as np
import optax

import deep_sparse as ds


def main():
    data = ds.train.Data.from_arrays(*ds.data.blobs(300, 1), *ds.data.blobs(100, 2), *ds.data.blobs(100, 3))
    config = ds.config.TrainConfig(hidden_sizes=(32, 32), activation="rectifier", epochs=5, batch_size=10)
    train = ds.train.make_train(config)
    result = jax.jit(train)(jax.random.PRNGKey(0), ds.config.Hparams(lr=0.05, l1=1e-3), data)
    print(f"SGD:  test error {float(result.test_error):.3f}, sparsity {float(result.sparsity):.2f}, "
          f"best epoch {int(result.best_epoch)}")

    # Any optax optimizer with an injected learning rate; Hparams.lr sets it (0.0 is a placeholder).
    adam = optax.inject_hyperparams(optax.adam)(learning_rate=0.0)
    with_adam = jax.jit(ds.train.make_train(config, optimizer=adam))(
        jax.random.PRNGKey(0), ds.config.Hparams(lr=1e-3, l1=1e-3), data)
    print(f"Adam: test error {float(with_adam.test_error):.3f}")

    model = ds.nn.SparseMLPNNX.from_mlp_params(result.params, config.activation)  # the network in Flax NNX
    logits, hidden = model(data.x_test)
    assert np.array_equal(np.argmax(logits, -1) != np.asarray(data.y_test), np.asarray(result.test_example_errors) > 0)
    return result, with_adam


if __name__ == "__main__":
    main()
