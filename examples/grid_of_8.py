"""Train a grid of 8 networks, 4 learning rates x 2 L1 coefficients, in one vmapped program.

    python examples/grid_of_8.py

Hparams.grid stacks every hyperparameter into a vector with one entry per network; train.vmap() is
jax.vmap(train, in_axes=(0, 0, None)) after checking that every field is stacked. Each network gets
its own PRNG key; the data is shared.
"""
import jax
import numpy as np

import deep_sparse as ds


def main():
    data = ds.train.Data.from_arrays(*ds.data.blobs(300, 1), *ds.data.blobs(100, 2), *ds.data.blobs(100, 3))
    config = ds.config.TrainConfig(hidden_sizes=(32,), epochs=4, batch_size=10)
    hparams = ds.config.Hparams.grid(lr=[0.1, 0.03, 0.01, 0.003], l1=[0.0, 1e-2])  # the last axis varies fastest
    keys = jax.random.split(jax.random.PRNGKey(0), hparams.stacked_size())
    results = jax.jit(ds.train.make_train(config).vmap())(keys, hparams, data)
    for lr, l1, error, sparsity in zip(hparams.lr, hparams.l1, results.test_error, results.sparsity):
        print(f"lr {lr:<6g} l1 {l1:<6g} test error {float(error):.3f}  sparsity {float(sparsity):.2f}")
    best = int(np.argmin(results.valid_error))  # model selection on the validation error
    print(f"selected: lr {hparams.lr[best]:g}, l1 {hparams.l1[best]:g}")
    return hparams, results


if __name__ == "__main__":
    main()
