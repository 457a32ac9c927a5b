"""The PyTorch methods: the same fine-tuning epoch as the JAX methods (``steps`` SGD steps of
mini-batch 10 on each network's own shuffle, cross-entropy + L1 on the hidden activations, then the
validation pass), timed the same way (``times`` after ``warmup`` untimed epochs; ``eval_s`` the
validation pass alone). Threads: ``torch.set_num_threads(os.cpu_count())``. Nothing is compiled.
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from benchmarks.throughput.problem import BATCH, L1, LR, layer_sizes, synthetic_splits
from benchmarks.throughput.timing import short_call_repeats, median_seconds, warm_then_time


def torch_data(spec: dict):
    """``(x_train, y_train, x_valid, y_valid)`` as tensors: the JAX methods' synthetic splits."""
    splits = synthetic_splits(spec["steps"] * BATCH, spec["valid"])
    (xt, yt), (xv, yv) = splits["train"], splits["valid"]
    return torch.from_numpy(xt), torch.from_numpy(yt).long(), torch.from_numpy(xv), torch.from_numpy(yv).long()


def torch_model(sizes) -> nn.Sequential:
    """``Linear`` layers with ``ReLU`` between them, Glorot-uniform weights and zero biases."""
    layers = []
    for index, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(a, b)
        limit = float(np.sqrt(6.0 / (a + b)))
        with torch.no_grad():
            linear.weight.uniform_(-limit, limit)
            linear.bias.zero_()
        layers.append(linear)
        if index < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def forward_with_codes(model: nn.Sequential, x):
    """Logits and the hidden codes (for the L1 penalty), as a user of nn.Sequential would get them."""
    hidden = []
    for module in model:
        x = module(x)
        if isinstance(module, nn.ReLU):
            hidden.append(x)
    return x, hidden


def l1_objective(logits, hidden, y):
    return F.cross_entropy(logits, y) + L1 * sum(h.abs().sum(-1).mean() for h in hidden)


def torch_start(spec: dict):
    """Threads, seed, data and K freshly initialised models, as both PyTorch methods start."""
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    models = [torch_model(layer_sizes(spec["hidden"])) for _ in range(spec["k"])]
    return (*torch_data(spec), models)


def torch_result(times, eval_s: float) -> dict:
    return {"times": times, "compile_s": 0.0, "eval_s": eval_s,
            "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__}


# ----------------------------------------------------------------------------------------- eager
def time_torch_eager(spec: dict) -> dict:
    """``nn.Sequential`` + ``torch.optim.SGD``: a Python loop over networks and mini-batches, as
    PyTorch's users write it."""
    xt, yt, xv, yv, models = torch_start(spec)
    optimizers = [torch.optim.SGD(m.parameters(), lr=LR) for m in models]
    generators = [torch.Generator().manual_seed(i) for i in range(len(models))]
    n_batches = xt.shape[0] // BATCH

    def evaluate(model):
        with torch.no_grad():
            logits, hidden = forward_with_codes(model, xv)
            zeros = [float((h == 0).float().mean()) for h in hidden]
            return (logits.argmax(-1) != yv).float().mean().item(), zeros

    def one_epoch():
        for model, optimizer, generator in zip(models, optimizers, generators):
            order = torch.randperm(xt.shape[0], generator=generator)[: n_batches * BATCH].view(n_batches, BATCH)
            for indices in order:
                logits, hidden = forward_with_codes(model, xt[indices])
                loss = l1_objective(logits, hidden, yt[indices])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            evaluate(model)

    times = warm_then_time(one_epoch, spec["warmup"], spec["repeats"])
    eval_s = median_seconds(lambda: [evaluate(m) for m in models], short_call_repeats(spec["repeats"]))
    return torch_result(times, eval_s)


# ----------------------------------------------------------------------------------------- torch.func
def functional_forward(base: nn.Sequential, n_hidden: int):
    """``forward(params, buffers, x) -> (logits, hidden codes)`` of one network from its parameter
    dict, through ``functional_call`` on the (meta-device) ``base`` model's ``Linear`` layers."""
    def forward(params, buffers, x):
        hidden, h = [], x
        for layer in range(n_hidden + 1):
            weights = {"weight": params[f"{2 * layer}.weight"], "bias": params[f"{2 * layer}.bias"]}
            h = functional_call(base[2 * layer], (weights, {}), (h,))
            if layer < n_hidden:
                h = torch.relu(h)
                hidden.append(h)
        return h, hidden

    return forward


def time_torch_func(spec: dict) -> dict:
    """``torch.func`` ensembling: ``stack_module_state`` + ``functional_call`` + ``vmap`` of
    ``grad_and_value`` over the K networks, SGD applied to the stacked parameters."""
    xt, yt, xv, yv, models = torch_start(spec)
    k, sizes = len(models), layer_sizes(spec["hidden"])
    params, buffers = stack_module_state(models)
    params = {name: p.detach() for name, p in params.items()}
    forward = functional_forward(torch_model(sizes).to("meta"), len(sizes) - 2)
    generator = torch.Generator().manual_seed(0)
    n_batches = xt.shape[0] // BATCH
    step = vmap(grad_and_value(lambda p, b, x, y: l1_objective(*forward(p, b, x), y)), in_dims=(0, 0, 0, 0))
    evaluate = vmap(lambda p, b: (forward(p, b, xv)[0].argmax(-1) != yv).float().mean(), in_dims=(0, 0))

    def one_epoch():
        orders = torch.stack([torch.randperm(xt.shape[0], generator=generator)[: n_batches * BATCH] for _ in range(k)])
        orders = orders.view(k, n_batches, BATCH)
        for s in range(n_batches):
            indices = orders[:, s]
            grads, _ = step(params, buffers, xt[indices], yt[indices])
            with torch.no_grad():
                for name in params:
                    params[name].sub_(LR * grads[name])
        with torch.no_grad():
            evaluate(params, buffers)

    times = warm_then_time(one_epoch, spec["warmup"], spec["repeats"])
    with torch.no_grad():
        eval_s = median_seconds(lambda: evaluate(params, buffers), short_call_repeats(spec["repeats"]))
    return torch_result(times, eval_s)
