"""The fused Pallas SGD step against the engine's XLA step, side by side in one run.

    python -m benchmarks.fused_step [--k 1 8 32 200] [--steps 50] [--rounds 5] [--blocks 32]
                                    [--kernel-precisions engine tf32x3] [--schedules pipelined step]
                                    [--precision highest] [--bandwidth 4.8e12] [--tiny] [--out DIR]

For each K, K networks of 784-1000-1000-1000-10 (rectifier, L1 0.001, lr 0.01, mini-batches of 10
drawn from 50,000 shared training examples, gathered step by step as the engine does) run ``--steps``
SGD steps in one ``lax.scan`` under ``jax.vmap``, timed as one call:

* ``xla``: the engine's step (``value_and_grad`` of :func:`deep_sparse.finetuning.objective`,
  then the engine's optax SGD), what :func:`~deep_sparse.finetuning.finetune_epoch` scans;
* ``fused_b<block>[_<precision>]_<schedule>``: :func:`deep_sparse.fused_step.scan_steps` with that block
  size, kernel precision (``--kernel-precisions``; no suffix: the engine's) and schedule (``step``: each
  step on its own, three passes over the weights; ``pipelined``: each step also computes the next one's
  first-layer product, two passes over the first layer's weights). Each call pads the parameters once
  before its steps and unpads them once after, as an epoch of the engine would.

Methods alternate within each round (rotating order); the ratio to xla is taken within a round and its
median reported, with network-steps per second and their fraction of two memory floors at
``--bandwidth`` bytes/s: ``floor`` (one read and one write of the unpadded weights per step, the 22.4 MB
of the 3 x 1000 network) and ``ceiling`` (the fused kernels' own weight traffic, padded). Both methods
start from the same parameters and batches; the largest difference of their parameters after the steps
is recorded (products at ``--precision`` in both), and the copies of weight-sized arrays in XLA's
optimized program of each (a copy in the loop is one more pass per step).

``--tiny`` (a 16-32-32-10 network; Pallas interpret mode on a CPU) only proves that the script runs.
Results: stdout, ``<out>/fused_step.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import collections
import functools
import math
import os
import re
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from deep_sparse import finetuning, fused_step, mlp, optimizers, results_io, runtime
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.train import Trainer

PAPER_SIZES = (784, 1000, 1000, 1000, 10)
TINY_SIZES = (16, 32, 32, 10)
BATCH, LR, L1, ACTIVATION, EXAMPLES = 10, 0.01, 0.001, "rectifier", 50_000
SCHEDULES = ("pipelined", "step")
# per network and call: the data are shared, the parameters, learning rates and batches are not
IN_AXES = (0, 0, 0, None, None, 0)


def xla_steps(trainer: Trainer, params, opt_state, hparams: Hparams, x, y, batches):
    """The engine's SGD steps, one per row of ``batches`` (indices [S, B] into ``x`` [N, n_0], ``y``
    [N]): ``((params, opt_state), losses)``, the loop :func:`deep_sparse.finetuning.finetune_epoch` runs."""
    def step(carry, indices):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(finetuning.objective, argnums=1)(trainer.config, params, hparams, x[indices],
                                                                           y[indices])
        updates, opt_state = trainer.optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    return jax.lax.scan(step, (params, opt_state), batches)


def problem(sizes, k: int, steps: int, seed: int = 0):
    """K networks' trainer, parameters, SGD states and hyperparameters, the shared examples (uniform
    inputs, random labels) and each network's mini-batches."""
    trainer = Trainer(TrainConfig(hidden_sizes=tuple(sizes[1:-1]), activation=ACTIVATION, num_classes=sizes[-1],
                                  batch_size=BATCH))
    keys = jax.random.split(jax.random.PRNGKey(seed), k)
    params = jax.vmap(lambda key: mlp.init(key, sizes, ACTIVATION))(keys)
    hparams = Hparams.stack([dict(lr=LR, l1=L1)] * k)
    opt_state = jax.vmap(lambda p, h: optimizers.init(trainer.optimizer, p, h.lr))(params, hparams)
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.uniform(0.0, 1.0, (EXAMPLES, sizes[0])).astype(np.float32))
    y = jnp.asarray(rng.integers(0, sizes[-1], EXAMPLES).astype(np.int32))
    batches = jnp.asarray(rng.integers(0, EXAMPLES, (k, steps, BATCH)).astype(np.int32))
    return trainer, params, opt_state, hparams, x, y, batches


def methods(sizes, k: int, steps: int, variants: dict) -> dict:
    """Per method, ``(jitted function, its arguments, parameters of its result, (Kernels, schedule) or
    None)``: ``steps`` steps of K networks from the same parameters and batches; ``variants`` maps names
    to the ``(Kernels, schedule)`` of each fused method."""
    trainer, params, opt_state, hparams, x, y, batches = problem(sizes, k, steps)
    found = {"xla": (jax.jit(jax.vmap(functools.partial(xla_steps, trainer), in_axes=IN_AXES)),
                     (params, opt_state, hparams, x, y, batches), lambda out: out[0][0], None)}
    for name, (kernels, schedule) in variants.items():
        run = functools.partial(fused_step.scan_steps, activation=ACTIVATION, kernels=kernels,
                                pipelined=schedule == "pipelined")
        found[name] = (jax.jit(jax.vmap(run, in_axes=IN_AXES)), (params, hparams.lr, hparams.l1, x, y, batches),
                       lambda out: out[0], (kernels, schedule))
    return found


def variants(blocks, precisions, schedules, interpret: bool, num_warps=None) -> dict:
    """``fused_b<block>[_<precision>]_<schedule>`` -> its (Kernels, schedule), for every block, kernel
    precision ("engine": the engine's matmul precision, no suffix) and schedule."""
    return {f"fused_b{block}" + ("" if precision == "engine" else f"_{precision}") + f"_{schedule}":
            (fused_step.Kernels(block=block, interpret=interpret, num_warps=num_warps,
                                precision=None if precision == "engine" else precision), schedule)
            for block in blocks for precision in precisions for schedule in schedules}


def kernel_bytes(sizes, block: int, schedule: str) -> int:
    """HBM bytes of weights the fused kernels move per step: two reads and one write of every padded
    weight and bias, less the first layer's forward read when pipelined."""
    widths = [fused_step.padded_width(n, block) for n in sizes]
    floats = [a * b + b for a, b in zip(widths[:-1], widths[1:])]
    return 4 * (3 * sum(floats) - (floats[0] if schedule == "pipelined" else 0))


def large_copies(compiled, min_elements: int) -> dict[str, int]:
    """How many copies of each shape of at least ``min_elements`` floats XLA's optimized program holds: a
    copy of a weight array is a pass over memory that neither method's model counts."""
    text = compiled.as_text()
    shapes = re.findall(r"= f32\[([\d,]+)\][^ ]* copy\(", text)
    return dict(collections.Counter(shape for shape in shapes
                                    if math.prod(int(n) for n in shape.split(",")) >= min_elements))


def largest_difference(a, b) -> float:
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def compile_all(found: dict):
    """Per method that compiles and runs: its compiled program, compile seconds, a blocking call and the
    parameters of its first call's result; and the error of each fused method that fails (a kernel that
    Triton refuses leaves the others' numbers). The XLA step's failure stops the run."""
    compiled, compile_s, calls, outputs, errors = {}, {}, {}, {}, {}
    for name, (function, args, result_params, fused) in found.items():
        try:
            start = time.perf_counter()
            compiled[name] = function.lower(*args).compile()
            compile_s[name] = time.perf_counter() - start
            calls[name] = functools.partial(lambda f, a: jax.block_until_ready(f(*a)), compiled[name], args)
            outputs[name] = result_params(calls[name]())  # also the warm-up call
        except Exception as error:  # noqa: BLE001 - recorded with the results, the other methods still run
            if fused is None:
                raise
            errors[name] = f"{type(error).__name__}: {error}"[:2000]
            print(f"{name}: {errors[name][:300]}", file=sys.stderr, flush=True)
            for table in (compiled, compile_s, calls, outputs):
                table.pop(name, None)
    return compiled, compile_s, calls, outputs, errors


def measure(sizes, k: int, steps: int, rounds: int, fused_variants: dict, bandwidth: float) -> dict:
    found = methods(sizes, k, steps, fused_variants)
    compiled, compile_s, calls, outputs, errors = compile_all(found)
    names, per_round = list(calls), []
    for r in range(rounds):
        seconds = {}
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            calls[name]()
            seconds[name] = time.perf_counter() - start
        per_round.append(seconds)
    reference = outputs["xla"]
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    floor_bytes = 2 * 4 * n_params
    half_a_weight = k * max(a * b for a, b in zip(sizes[:-1], sizes[1:])) // 2
    point = dict(k=k, steps=steps, compile_s=compile_s, rounds=per_round, floor_bytes=floor_bytes, methods={},
                 errors=errors,
                 large_copies={name: large_copies(program, half_a_weight) for name, program in compiled.items()})
    for name in names:
        rate = k * steps / statistics.median(t[name] for t in per_round)
        entry = dict(network_steps_per_s=rate, fraction_of_floor=rate * floor_bytes / bandwidth,
                     vs_xla=statistics.median(t["xla"] / t[name] for t in per_round))
        fused = found[name][3]
        if fused is not None:
            moved = kernel_bytes(sizes, fused[0].block, fused[1])
            entry.update(kernel_bytes=moved, fraction_of_ceiling=rate * moved / bandwidth,
                         max_abs_difference_vs_xla=largest_difference(outputs[name], reference))
        point["methods"][name] = entry
    return point


def markdown(points, bandwidth: float) -> str:
    lines = [f"Network-steps per second, side by side in one run; `floor`: fraction of {bandwidth / 1e12:.2f} TB/s "
             "spent on one read and one write of the weights per step; `ceiling`: fraction of it spent on the fused "
             "kernels' own weight traffic (padded). `vs xla`: median within-round ratio.", "",
             "| K | method | net-steps/s | vs xla | floor | ceiling | compile s | max diff vs xla "
             "| weight-size copies |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p in points:
        for name, m in p["methods"].items():
            ceiling = f"{100 * m['fraction_of_ceiling']:.1f}%" if "fraction_of_ceiling" in m else ""
            diff = f"{m['max_abs_difference_vs_xla']:.2e}" if "max_abs_difference_vs_xla" in m else ""
            lines.append(f"| {p['k']} | {name} | {m['network_steps_per_s']:.1f} | {m['vs_xla']:.2f} | "
                         f"{100 * m['fraction_of_floor']:.1f}% | {ceiling} | {p['compile_s'][name]:.1f} | {diff} | "
                         f"{sum(p['large_copies'][name].values())} |")
        for name, error in p.get("errors", {}).items():
            lines.append(f"| {p['k']} | {name} | failed: {error[:100]} |" + " |" * 6)
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 8, 32, 200])
    parser.add_argument("--steps", type=int, default=50, help="SGD steps per timed call")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--blocks", type=int, nargs="+", default=[32], help="fused kernels' block sizes to time")
    parser.add_argument("--bandwidth", type=float, default=4.8e12, help="memory bandwidth, bytes/s (H200: 4.8e12)")
    parser.add_argument("--kernel-precisions", nargs="+", default=["engine"],
                        choices=["engine", *fused_step.DOT_PRECISIONS],
                        help="the fused kernels' products (engine: at --precision, ieee for highest)")
    parser.add_argument("--schedules", nargs="+", default=list(SCHEDULES), choices=SCHEDULES,
                        help="pipelined: each step computes the next one's first-layer product")
    parser.add_argument("--num-warps", type=int, help="Triton warps per program (default: Triton's, 4)")
    parser.add_argument("--precision", choices=runtime.MATMUL_PRECISIONS, default=runtime.DEFAULT_MATMUL_PRECISION,
                        help="matmul precision of both methods (deep_sparse.runtime)")
    parser.add_argument("--tiny", action="store_true", help="a 16-32-32-10 network (proves the script runs)")
    parser.add_argument("--out", default=".")
    args = parser.parse_args(argv)
    runtime.set_matmul_precision(args.precision)
    interpret = jax.default_backend() != "gpu"  # the kernels are Triton's: anywhere else, interpret them
    fused_variants = variants(args.blocks, args.kernel_precisions, args.schedules, interpret, args.num_warps)
    for kernels, _ in fused_variants.values():
        fused_step.check_options(ACTIVATION, kernels, BATCH)
    sizes = TINY_SIZES if args.tiny else PAPER_SIZES
    points = []
    for k in args.k:
        points.append(measure(sizes, k, args.steps, args.rounds, fused_variants, args.bandwidth))
        print("\n".join(markdown(points[-1:], args.bandwidth).splitlines()[4:]), flush=True)
        result = dict(provenance=results_io.provenance(["-m", "benchmarks.fused_step", *(argv or sys.argv[1:])]),
                      sizes=sizes, backend=jax.default_backend(), devices=[str(d) for d in jax.devices()],
                      interpret=interpret, bandwidth=args.bandwidth, num_warps=args.num_warps,
                      matmul_precision=runtime.matmul_precision(), points=points)
        os.makedirs(args.out, exist_ok=True)  # written after every K: a run cut short keeps what it measured
        results_io.atomic_write_json(os.path.join(args.out, "fused_step.json"), result)
        with open(os.path.join(args.out, "fused_step.md"), "w") as f:
            f.write(markdown(points, args.bandwidth))
    print(markdown(points, args.bandwidth))


if __name__ == "__main__":
    main()
