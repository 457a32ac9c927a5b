"""Why a vmap of K networks is slower than a loop on XLA:CPU at mini-batch 10, and what could beat the loop.

    python -m benchmarks.vmap_cpu [--k 8] [--steps 50] [--repeats 3] [--flags] [--out DIR]

Times the SGD step scan alone (no evaluation) of K networks 784-1000-1000-1000-10 (rectifier, L1, SGD,
mini-batch 10) in several formulations, and the primitive matrix products alone:

* ``loop``: ``jit(scan)`` of one network, called K times from Python;
* ``vmap``: ``jit(vmap(scan))`` (batched ``dot_general`` with a network batch dimension);
* ``vmap1_loop``: ``jit(vmap(scan))`` on chunks of one network, called K times (what the CPU engine ran
  when this was measured; it now runs ``lax.map`` over chunks of up to 4 networks per device, see
  ``deep_sparse.devices.batch_over_networks``);
* ``lax_map``: ``jit(lax.map(scan))``: the networks one after the other inside one program;
* ``unrolled``: one program whose step runs K separate (non-batched) products per layer, a Python loop
  over networks at trace time (same mini-batch order for all networks);
* ``wide_first``: same mini-batch order for every network of the chunk, so the first layer is one wide
  product ``x @ [W_1^1 .. W_1^K]`` (10x784 @ 784x(1000 K)) and its weight gradient ``x^T @ dZ`` one
  wide product too; the other layers batched einsums;
* ``--flags``: ``vmap`` again in subprocesses under a few ``XLA_FLAGS``.

Results go to stdout and ``benchmarks/results/vmap_cpu.json`` (under ``--out``, default the repository).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.throughput.problem import flops_per_step
from deep_sparse import results_io

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = (784, 1000, 1000, 1000, 10)
B, LR, L1 = 10, 0.01, 0.001
STEP_FLOPS = flops_per_step(SIZES, B)
FLAG_SETS = [
    "--xla_cpu_use_thunk_runtime=false",
    "--xla_cpu_use_xnnpack=true",
    "--xla_cpu_use_onednn=true",
    "--xla_cpu_multi_thread_eigen=false",
    "--xla_cpu_experimental_xnn_graph_fusion_mode=greedy",
]


def median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def objective_single(params, x, y):
    h, l1 = x, 0.0
    for w, b in params[:-1]:
        h = jax.nn.relu(h @ w + b)
        l1 = l1 + jnp.mean(jnp.sum(jnp.abs(h), -1))
    logits = h @ params[-1][0] + params[-1][1]
    nll = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], -1))
    return nll + L1 * l1


def make_params(k, rng):
    params = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        limit = np.sqrt(6 / (a + b))
        weights = jnp.asarray(rng.uniform(-limit, limit, (k, a, b)).astype(np.float32))
        params.append((weights, jnp.zeros((k, b), jnp.float32)))
    return params


def sgd(params, grads):
    return jax.tree.map(lambda p, g: p - LR * g, params, grads)


def hlo_ops(compiled) -> dict:
    text = compiled.as_text()
    return {op: text.count(f" {op}(") for op in ("dot", "transpose", "copy", "fusion", "custom-call")}


class Bench(NamedTuple):
    """One measurement's inputs (K networks, their mini-batch orders) and its results ``out``."""
    k: int
    steps: int
    repeats: int
    x_train: jax.Array
    y_train: jax.Array
    order: jax.Array  # (k, steps, B)
    stacked: list
    single: list
    out: dict

    def scan_one(self, params, batches):
        def step(p, idx):
            loss, g = jax.value_and_grad(objective_single)(p, self.x_train[idx], self.y_train[idx])
            return sgd(p, g), loss
        return jax.lax.scan(step, params, batches)

    def time(self, name, fn, lower_args, call):
        """Compile ``fn`` for ``lower_args``, time ``call(compiled)`` and record it under ``name``."""
        t = time.perf_counter()
        compiled = jax.jit(fn).lower(*lower_args).compile()
        compile_s = time.perf_counter() - t
        med, lo, hi = median_time(lambda: jax.block_until_ready(call(compiled)), self.repeats)
        self.out[name] = {"epoch_s": med, "min_s": lo, "max_s": hi, "compile_s": compile_s,
                          "network_steps_per_s": self.k * self.steps / med,
                          "gflops": self.k * self.steps * STEP_FLOPS / med / 1e9}
        print(f"{name:14s} {self.k * self.steps / med:9.1f} net-steps/s {self.out[name]['gflops']:7.1f} GFLOP/s  "
              f"(epoch {med:.3f} s, {lo:.3f}-{hi:.3f}; compile {compile_s:.1f} s)", flush=True)
        return compiled


def make_bench(k, steps, repeats, rng) -> Bench:
    x_train = jnp.asarray(rng.random((steps * B, SIZES[0]), dtype=np.float32))
    y_train = jnp.asarray(rng.integers(0, 10, steps * B).astype(np.int32))
    order = jnp.asarray(np.stack([rng.permutation(steps * B).reshape(steps, B) for _ in range(k)]))
    stacked = make_params(k, rng)
    single = [jax.tree.map(lambda a, i=i: a[i], stacked) for i in range(k)]
    return Bench(k, steps, repeats, x_train, y_train, order, stacked, single, {})


def time_loop_and_vmap(bench: Bench, only_vmap: bool) -> None:
    """``loop``, ``vmap``, and unless ``only_vmap`` ``vmap1_loop`` and ``lax_map``, with their HLO op counts."""
    k, order, single, stacked = bench.k, bench.order, bench.single, bench.stacked
    loop_fn = bench.time("loop", bench.scan_one, (single[0], order[0]),
                         lambda f: [f(single[i], order[i]) for i in range(k)])
    vmap_fn = bench.time("vmap", jax.vmap(bench.scan_one), (stacked, order), lambda f: f(stacked, order))
    bench.out["vmap_hlo_ops"] = hlo_ops(vmap_fn)
    if only_vmap:
        return
    # what the CPU engine ran when this was measured: vmap over a chunk of 1 network, called K times
    chunks = [jax.tree.map(lambda a, i=i: a[i: i + 1], stacked) for i in range(k)]
    vmap1_fn = bench.time("vmap1_loop", jax.vmap(bench.scan_one), (chunks[0], order[:1]),
                          lambda f: [f(chunks[i], order[i: i + 1]) for i in range(k)])
    bench.out["vmap1_hlo_ops"] = hlo_ops(vmap1_fn)
    bench.out["loop_hlo_ops"] = hlo_ops(loop_fn)
    bench.time("lax_map", lambda p, o: jax.lax.map(lambda po: bench.scan_one(*po), (p, o)), (stacked, order),
               lambda f: f(stacked, order))


def time_unrolled(bench: Bench) -> None:
    """K separate products per layer in one program, shared mini-batch order."""
    def unrolled_scan(params_list, batches):
        def step(ps, idx):
            x, y = bench.x_train[idx], bench.y_train[idx]
            loss, g = jax.value_and_grad(lambda qs: sum(objective_single(q, x, y) for q in qs))(ps)
            return sgd(ps, g), loss
        return jax.lax.scan(step, params_list, batches)

    bench.time("unrolled", unrolled_scan, (bench.single, bench.order[0]), lambda f: f(bench.single, bench.order[0]))


def wide_objective(params, x, y, k):
    """The K networks' summed objective with W1 stored as (784, K, 1000): one wide first-layer product."""
    (w1, b1), rest = params[0], params[1:]
    z = (x @ w1.reshape(SIZES[0], -1)).reshape(B, k, SIZES[1]) + b1  # (B, K, 1000)
    h = jax.nn.relu(z)
    l1 = jnp.sum(jnp.mean(jnp.sum(jnp.abs(h), -1), 0))
    for index, (w, b) in enumerate(rest):
        z = jnp.einsum("bki,kio->bko", h, w) + b
        if index < len(rest) - 1:
            h = jax.nn.relu(z)
            l1 = l1 + jnp.sum(jnp.mean(jnp.sum(jnp.abs(h), -1), 0))
    logp = jax.nn.log_softmax(z)  # (B, K, 10)
    nll = -jnp.sum(jnp.mean(jnp.take_along_axis(logp, y[:, None, None], -1), 0))
    return nll + L1 * l1


def time_wide_first(bench: Bench) -> None:
    """W1 stored as (784, K, 1000), shared mini-batch order."""
    def wide_scan(params, batches):
        def step(p, idx):
            loss, g = jax.value_and_grad(wide_objective)(p, bench.x_train[idx], bench.y_train[idx], bench.k)
            return sgd(p, g), loss
        return jax.lax.scan(step, params, batches)

    wide_params = [(jnp.transpose(bench.stacked[0][0], (1, 0, 2)), bench.stacked[0][1])] + bench.stacked[1:]
    bench.time("wide_first", wide_scan, (wide_params, bench.order[0]), lambda f: f(wide_params, bench.order[0]))


def primitive_gflops(k, repeats, rng, n_in, n_out, inner=20) -> dict:
    """GFLOP/s of one layer's forward product for K networks, batched, separate and wide, and of the
    batched weight gradient (each repeated ``inner`` times in one program)."""
    x = jnp.asarray(rng.random((k, B, n_in), dtype=np.float32))
    w = jnp.asarray(rng.random((k, n_in, n_out), dtype=np.float32))
    d = jnp.asarray(rng.random((k, B, n_out), dtype=np.float32))

    def repeated(f, shape):
        return jax.jit(lambda a, b: jax.lax.fori_loop(
            0, inner, lambda i, acc: acc + f(a + i.astype(jnp.float32), b), jnp.zeros(shape, jnp.float32)))

    cases = {
        "batched_dot": (repeated(lambda a, b: jnp.einsum("kbi,kio->kbo", a, b), (k, B, n_out)), (x, w)),
        "separate_dots": (repeated(lambda a, b: jnp.stack([a[i] @ b[i] for i in range(k)]), (k, B, n_out)), (x, w)),
        "wide_dot": (repeated(lambda a, b: a @ b, (B, k * n_out)), (x[0], w.transpose(1, 0, 2).reshape(n_in, -1))),
        "batched_dW": (repeated(lambda a, b: jnp.einsum("kbi,kbo->kio", a, b), (k, n_in, n_out)), (x, d)),
    }
    flops = 2 * k * B * n_in * n_out * inner
    return {name: flops / median_time(lambda: jax.block_until_ready(fn(*args)), repeats)[0] / 1e9
            for name, (fn, args) in cases.items()}


def experiments(k, steps, repeats, only_vmap=False):
    rng = np.random.default_rng(0)
    bench = make_bench(k, steps, repeats, rng)
    time_loop_and_vmap(bench, only_vmap)
    if only_vmap:
        return bench.out
    time_unrolled(bench)
    time_wide_first(bench)
    prims = {}
    for label, (n_in, n_out) in (("784x1000", (784, 1000)), ("1000x1000", (1000, 1000))):
        prims[label] = primitive_gflops(k, repeats, rng, n_in, n_out)
        print(f"primitive {label} fwd, K={k}: " + ", ".join(f"{n} {v:.1f} GFLOP/s" for n, v in prims[label].items()),
              flush=True)
    bench.out["primitives_gflops"] = prims
    return bench.out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--flags", action="store_true", help="also time vmap and loop under a few XLA_FLAGS")
    parser.add_argument("--only-vmap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=REPO)
    args = parser.parse_args(argv)
    if args.only_vmap:
        print(json.dumps(experiments(args.k, args.steps, args.repeats, only_vmap=True)))
        return
    result = {"provenance": results_io.provenance(["-m", "benchmarks.vmap_cpu", *(argv or sys.argv[1:])]),
              "k": args.k, "steps": args.steps, "default": experiments(args.k, args.steps, args.repeats)}
    if args.flags:
        result["flags"] = {}
        for flags in FLAG_SETS:
            env = dict(os.environ, XLA_FLAGS=flags, PYTHONPATH=REPO)
            done = subprocess.run([sys.executable, "-m", "benchmarks.vmap_cpu", "--only-vmap", "--k", str(args.k),
                                   "--steps", str(args.steps), "--repeats", str(args.repeats)],
                                  capture_output=True, text=True, env=env, cwd=REPO)
            lines = [l for l in done.stdout.splitlines() if l.startswith("{")]
            result["flags"][flags] = json.loads(lines[-1]) if lines else {"error": done.stderr.strip()[-300:]}
            summary = {n: round(v["network_steps_per_s"], 1) for n, v in result["flags"][flags].items()
                       if isinstance(v, dict) and "network_steps_per_s" in v}
            print(f"XLA_FLAGS={flags}: {summary or result['flags'][flags]}", flush=True)
    results_io.atomic_write_json(os.path.join(args.out, "benchmarks", "results", "vmap_cpu.json"), result)


if __name__ == "__main__":
    main()
