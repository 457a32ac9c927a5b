"""XLA's memory plan of a vmapped chunk of K networks, per network, before and after the epoch stopped
broadcasting the shared data to every network.

    python -m benchmarks.memory_plan [--k 1 8 32] [--budget-gib 16] [--quick] [--out DIR]

Compiles (never runs) ``jit(vmap(epoch, in_axes=(0, 0, None)))`` with the state donated, as the sweep
engine does, at the full MNIST shape (784-1000-1000-1000-10, 50,000 training, 10,000 validation and
10,000 test images) and reads ``compiled.memory_analysis()``. Two variants side by side in one run:

* ``cond``: the epoch wrapped in a plain ``lax.cond(stopped, ...)`` (what the engine ran before): under
  vmap the cond becomes a select whose operands, the data included, are broadcast to K copies;
* ``current``: the library's epoch as it is now (``deep_sparse.train``).

The largest K that fits a budget is extrapolated from the plans at the two largest K asked for (the
plan is affine in K) and then checked by compiling at that K. Results go to stdout,
``benchmarks/results/memory_plan.json`` and ``benchmarks/results/memory_plan.md``.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from deep_sparse import results_io
from deep_sparse import train as train_lib
from deep_sparse.config import Hparams, TrainConfig
from benchmarks import recording

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = dict(n_train=50_000, n_valid=10_000, n_test=10_000, n_in=784, n_classes=10)
VARIANTS = ("cond", "current")
MiB = 2 ** 20


def _plain_cond(run, state, hparams, data):
    """The epoch's stop guard as it was: one ``lax.cond`` whatever the batching."""
    return jax.lax.cond(state.stopped, lambda s, h, d: s, run, state, hparams, data)


@contextlib.contextmanager
def variant_guard(variant: str):
    """The library as it is (``current``) or with the plain ``lax.cond`` guard (``cond``)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant == "current":
        yield
        return
    saved = train_lib.unless_stopped
    train_lib.unless_stopped = _plain_cond
    try:
        yield
    finally:
        train_lib.unless_stopped = saved


def data_shapes(n_train: int, n_valid: int, n_test: int, n_in: int, n_classes: int) -> train_lib.Data:
    """A :class:`Data` of shapes only: lowering needs no images."""
    def split(n):
        return jax.ShapeDtypeStruct((n, n_in), jnp.float32), jax.ShapeDtypeStruct((n,), jnp.int32)

    return train_lib.Data(*split(n_train), *split(n_valid), *split(n_test), num_classes=n_classes)


def epoch_plan(config: TrainConfig, data: train_lib.Data, k: int, variant: str = "current",
               stage: str = "finetune") -> dict:
    """Bytes of XLA's plan for one vmapped epoch of ``k`` networks (state donated, data shared)."""
    train = train_lib.make_train(config)
    epoch = {s.name: s.epoch for s in train.stages}[stage]
    keys = jax.ShapeDtypeStruct((k, 2), jnp.uint32)
    hparams = Hparams(*(jax.ShapeDtypeStruct((k,), jnp.float32) for _ in Hparams._fields))
    with variant_guard(variant):
        state = jax.eval_shape(jax.vmap(train.init, in_axes=(0, 0, None)), keys, hparams, data)
        started = time.perf_counter()
        batched = jax.jit(jax.vmap(epoch, in_axes=(0, 0, None)), donate_argnums=(0,))
        analysis = batched.lower(state, hparams, data).compile().memory_analysis()
    data_bytes = sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(data))
    plan = dict(argument=analysis.argument_size_in_bytes, output=analysis.output_size_in_bytes,
                temp=analysis.temp_size_in_bytes, alias=analysis.alias_size_in_bytes)
    total = plan["argument"] + plan["output"] + plan["temp"] - plan["alias"]
    return dict(plan, k=k, variant=variant, stage=stage, total=total, data=data_bytes,
                per_network=(total - data_bytes) / k, temp_per_network=plan["temp"] / k,
                compile_seconds=time.perf_counter() - started)


def largest_k(rows: list[dict], budget: int) -> int:
    """The largest K whose plan fits ``budget`` bytes, from the affine fit through the two largest K."""
    a, b = sorted(rows, key=lambda r: r["k"])[-2:]
    slope = (b["total"] - a["total"]) / (b["k"] - a["k"])
    fixed = b["total"] - slope * b["k"]
    return int((budget - fixed) // slope)


def measure(config: TrainConfig, data: train_lib.Data, ks, budget: int, log=print) -> dict:
    """Plans of every variant at every K (variants interleaved), and the largest K within ``budget``,
    checked by a compile at that K."""
    rows, fits = [], {}
    for k in ks:
        for variant in VARIANTS:
            rows.append(epoch_plan(config, data, k, variant))
            log(_row_line(rows[-1]))
    for variant in VARIANTS:
        mine = [r for r in rows if r["variant"] == variant]
        k_max, check = largest_k(mine, budget), None
        for _ in range(3):  # the plan is affine in K up to alignment: step down until it fits
            if k_max < 1:
                break
            check = epoch_plan(config, data, k_max, variant)
            log(_row_line(check))
            if check["total"] <= budget:
                break
            k_max = min(k_max - 1, int(k_max * budget / check["total"]))
        fits[variant] = dict(k=k_max, checked_total=None if check is None else check["total"],
                             fits=None if check is None else check["total"] <= budget)
    return dict(rows=rows, largest_k=fits, budget_bytes=budget)


def _row_line(r: dict) -> str:
    return (f"{r['variant']:>8} K={r['k']:<5} total {r['total'] / MiB:9.1f} MiB  temp {r['temp'] / MiB:9.1f} MiB  "
            f"per network {r['per_network'] / MiB:7.1f} MiB (temp {r['temp_per_network'] / MiB:7.1f})  "
            f"compiled in {r['compile_seconds']:.0f} s")


def markdown(result: dict) -> str:
    lines = ["| variant | K | total plan (MiB) | temp (MiB) | per network (MiB, total - data over K) | "
             "temp per network (MiB) |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['variant']} | {r['k']} | {r['total'] / MiB:.1f} | {r['temp'] / MiB:.1f} | "
                     f"{r['per_network'] / MiB:.1f} | {r['temp_per_network'] / MiB:.1f} |")
    budget = result["budget_bytes"] / 2 ** 30
    lines.append("")
    for variant, fit in result["largest_k"].items():
        checked = "" if fit["checked_total"] is None else \
            f" (plan at that K: {fit['checked_total'] / 2 ** 30:.2f} GiB, fits: {fit['fits']})"
        lines.append(f"- largest K in {budget:.0f} GiB, `{variant}`: **{fit['k']}**{checked}")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--budget-gib", type=float, default=16.0)
    parser.add_argument("--quick", action="store_true", help="a tiny network and data set (for the tests)")
    parser.add_argument("--out", default=REPO)
    args = parser.parse_args(argv)
    if args.quick:
        config = TrainConfig(hidden_sizes=(16, 16), num_classes=3, epochs=2, eval_batch_size=100)
        data = data_shapes(2000, 200, 200, 32, 3)
    else:
        config = TrainConfig(hidden_sizes=(1000, 1000, 1000), num_classes=10)
        data = data_shapes(**MNIST)
    result = measure(config, data, sorted(set(args.k)), int(args.budget_gib * 2 ** 30))
    result["provenance"] = results_io.provenance(["-m", "benchmarks.memory_plan", *(argv or sys.argv[1:])])
    result["shape"] = dict(hidden_sizes=config.hidden_sizes, n_train=data.x_train.shape[0],
                           n_valid=data.x_valid.shape[0], n_in=data.x_train.shape[1])
    recording.write(args.out, "memory_plan_quick" if args.quick else "memory_plan", result, markdown(result))


if __name__ == "__main__":
    main()
