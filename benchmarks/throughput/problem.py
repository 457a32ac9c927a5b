"""The problem every method solves: the paper's network 784-1000-1000-1000-10 (rectifier, L1 on the
activations, SGD on mini-batches of 10) on synthetic inputs of MNIST's shape, its FLOP count, and the
names of the methods that train it."""
from __future__ import annotations

from typing import Sequence

import numpy as np

PAPER_HIDDEN = (1000, 1000, 1000)
INPUT_DIM, N_CLASSES, BATCH = 784, 10, 10
LR, L1 = 0.01, 0.001
JAX_METHODS = ("engine", "loop", "vmap")
TORCH_METHODS = ("torch_eager", "torch_func")
LABELS = {
    "engine": "sweep engine",
    "loop": "plain JAX loop",
    "vmap": "naive jax.vmap",
    "torch_eager": "PyTorch eager loop",
    "torch_func": "torch.func vmap",
}


def layer_sizes(hidden: Sequence[int]) -> tuple[int, ...]:
    """``(784, *hidden, 10)``."""
    return (INPUT_DIM, *hidden, N_CLASSES)


def flops_per_step(sizes: Sequence[int], batch: int = BATCH) -> int:
    """Forward + backward + SGD update FLOPs of one mini-batch step of one network::

        forward           2 B sum_l n_{l-1} n_l
        weight gradients  2 B sum_l n_{l-1} n_l
        input gradients   2 B sum_{l>=2} n_{l-1} n_l      (none for the data: x needs no gradient)
        SGD update        2 P                             (p - lr * g; P = number of parameters)

    The elementwise work (biases, rectifiers, L1, softmax) is O(B * units), under 1% here, and not
    counted."""
    products = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    n_params = sum(products) + sum(sizes[1:])
    return 2 * batch * sum(products) * 2 + 2 * batch * sum(products[1:]) + 2 * n_params


def flops_per_eval(sizes: Sequence[int], n_examples: int) -> int:
    """Forward FLOPs of one network on ``n_examples`` (the validation pass that ends every epoch)."""
    return 2 * n_examples * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def step_products(sizes: Sequence[int], batch: int = BATCH) -> list[tuple[str, tuple, tuple]]:
    """The matrix products of one SGD step, as ``(label, shape_a, shape_b)``: per layer the forward
    product, the weight gradient and (above the first layer) the input gradient. The labels
    (``"fwd 10x784 @ 784x1000"``) are what the raw numbers record and the report parses."""
    products = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        products.append((f"fwd {batch}x{fan_in} @ {fan_in}x{fan_out}", (batch, fan_in), (fan_in, fan_out)))
        products.append((f"dW {fan_in}x{batch} @ {batch}x{fan_out}", (fan_in, batch), (batch, fan_out)))
        if index:
            products.append((f"dx {batch}x{fan_out} @ {fan_out}x{fan_in}", (batch, fan_out), (fan_out, fan_in)))
    return products


def synthetic_splits(n_train: int, n_valid: int, seed: int = 0) -> dict:
    """``{"train": (x, y), "valid": ..., "test": ...}``: inputs of MNIST's shape and range ([0, 1],
    784 wide, float32), labels 0..9 (int32); the test split has ``n_valid`` examples."""
    rng = np.random.default_rng(seed)
    splits = {}
    for name, n in (("train", n_train), ("valid", n_valid), ("test", n_valid)):
        splits[name] = (rng.random((n, INPUT_DIM), dtype=np.float32), rng.integers(0, N_CLASSES, n).astype(np.int32))
    return splits
