"""How much of each auto-encoder's input can a softplus reconstruction not reach, in a pre-trained
half-negated rectifier stack? For each hidden layer's code on the MNIST validation set: the summed
squares per example, all units and the negated ones (a softplus output is >= 0, so the negated units'
part is a floor under the next layer's reconstruction error), and the negated units' mean.

    python results/table1-paper/analysis/negated_half.py \
        results/table1-paper/mnist/pretrained/group004/group004_stacks_00022-00022/30/default

The stack is the sweep's local pre-training checkpoint (orbax, not committed): run this where the
campaign pre-trained it.
"""
import argparse

import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from deep_sparse import activations
from deep_sparse.config import TrainConfig
from deep_sparse.train import load_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack", help="orbax checkpoint folder of one pre-trained stack (params.K.w / params.K.b)")
    args = parser.parse_args()
    tree = ocp.StandardCheckpointer().restore(args.stack)
    n_hidden = len({name.split(".")[1] for name in tree if name.startswith("params.")}) - 1
    data = load_data(TrainConfig(dataset="mnist", hidden_sizes=(1000,) * n_hidden,
                                 activation="half_negated_rectifier"))
    code = np.asarray(data.x_valid)
    for layer in range(n_hidden):
        w, b = (np.asarray(tree[f"params.{layer}.{name}"])[0] for name in ("w", "b"))
        code = np.asarray(activations.half_negated_rectifier(jnp.asarray(code @ w + b)))
        negated = np.arange(code.shape[1]) >= (code.shape[1] + 1) // 2
        squares = code ** 2
        print(f"layer {layer + 1} code over {code.shape[0]} validation images: summed squares per example "
              f"{squares.sum(1).mean():.1f}, of which the negated units {squares[:, negated].sum(1).mean():.1f}; "
              f"mean value of a negated unit {code[:, negated].mean():.3f}")


if __name__ == "__main__":
    main()
