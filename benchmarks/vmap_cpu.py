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

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = (784, 1000, 1000, 1000, 10)
B, LR, L1 = 10, 0.01, 0.001
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
    import jax
    import jax.numpy as jnp

    h, l1 = x, 0.0
    for w, b in params[:-1]:
        h = jax.nn.relu(h @ w + b)
        l1 = l1 + jnp.mean(jnp.sum(jnp.abs(h), -1))
    logits = h @ params[-1][0] + params[-1][1]
    nll = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], -1))
    return nll + L1 * l1


def make_params(k, rng):
    import jax.numpy as jnp

    params = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        limit = np.sqrt(6 / (a + b))
        params.append((jnp.asarray(rng.uniform(-limit, limit, (k, a, b)).astype(np.float32)), jnp.zeros((k, b), jnp.float32)))
    return params


def experiments(k, steps, repeats, only_vmap=False):
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    x_train = jnp.asarray(rng.random((steps * B, SIZES[0]), dtype=np.float32))
    y_train = jnp.asarray(rng.integers(0, 10, steps * B).astype(np.int32))
    order = jnp.asarray(np.stack([rng.permutation(steps * B).reshape(steps, B) for _ in range(k)]))  # (k, steps, B)
    stacked = make_params(k, rng)
    single = [jax.tree.map(lambda a, i=i: a[i], stacked) for i in range(k)]
    flops = 4 * B * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:])) + 2 * B * sum(
        a * b for a, b in zip(SIZES[1:-1], SIZES[2:])) + 2 * sum(a * b + b for a, b in zip(SIZES[:-1], SIZES[1:]))
    out = {}

    def sgd(params, grads):
        return jax.tree.map(lambda p, g: p - LR * g, params, grads)

    def scan_one(params, batches):
        def step(p, idx):
            loss, g = jax.value_and_grad(objective_single)(p, x_train[idx], y_train[idx])
            return sgd(p, g), loss
        return jax.lax.scan(step, params, batches)

    def record(name, seconds, compile_s):
        med, lo, hi = seconds
        out[name] = {"epoch_s": med, "min_s": lo, "max_s": hi, "compile_s": compile_s,
                     "network_steps_per_s": k * steps / med, "gflops": k * steps * flops / med / 1e9}
        print(f"{name:14s} {k * steps / med:9.1f} net-steps/s {out[name]['gflops']:7.1f} GFLOP/s  "
              f"(epoch {med:.3f} s, {lo:.3f}-{hi:.3f}; compile {compile_s:.1f} s)", flush=True)

    # loop
    t = time.perf_counter()
    loop_fn = jax.jit(scan_one).lower(single[0], order[0]).compile()
    compile_s = time.perf_counter() - t
    record("loop", median_time(lambda: jax.block_until_ready([loop_fn(single[i], order[i]) for i in range(k)]), repeats), compile_s)

    # vmap
    t = time.perf_counter()
    vmap_fn = jax.jit(jax.vmap(scan_one)).lower(stacked, order).compile()
    compile_s = time.perf_counter() - t
    record("vmap", median_time(lambda: jax.block_until_ready(vmap_fn(stacked, order)), repeats), compile_s)
    hlo = vmap_fn.as_text()
    out["vmap_hlo_ops"] = {op: hlo.count(f" {op}(") for op in ("dot", "transpose", "copy", "fusion", "custom-call")}
    if only_vmap:
        return out

    # what the CPU engine ran when this was measured: vmap over a chunk of 1 network, called K times
    chunks = [jax.tree.map(lambda a, i=i: a[i : i + 1], stacked) for i in range(k)]
    t = time.perf_counter()
    vmap1_fn = jax.jit(jax.vmap(scan_one)).lower(chunks[0], order[:1]).compile()
    compile_s = time.perf_counter() - t
    record("vmap1_loop", median_time(
        lambda: jax.block_until_ready([vmap1_fn(chunks[i], order[i : i + 1]) for i in range(k)]), repeats), compile_s)
    hlo1 = vmap1_fn.as_text()
    out["vmap1_hlo_ops"] = {op: hlo1.count(f" {op}(") for op in ("dot", "transpose", "copy", "fusion", "custom-call")}
    out["loop_hlo_ops"] = {op: loop_fn.as_text().count(f" {op}(") for op in ("dot", "transpose", "copy", "fusion", "custom-call")}

    # lax.map
    t = time.perf_counter()
    map_fn = jax.jit(lambda p, o: jax.lax.map(lambda po: scan_one(*po), (p, o))).lower(stacked, order).compile()
    compile_s = time.perf_counter() - t
    record("lax_map", median_time(lambda: jax.block_until_ready(map_fn(stacked, order)), repeats), compile_s)

    # unrolled: K separate products per layer in one program, shared mini-batch order
    def unrolled_scan(params_list, batches):
        def step(ps, idx):
            x, y = x_train[idx], y_train[idx]
            loss, g = jax.value_and_grad(lambda qs: sum(objective_single(q, x, y) for q in qs))(ps)
            return sgd(ps, g), loss
        return jax.lax.scan(step, params_list, batches)

    t = time.perf_counter()
    unrolled_fn = jax.jit(unrolled_scan).lower(single, order[0]).compile()
    compile_s = time.perf_counter() - t
    record("unrolled", median_time(lambda: jax.block_until_ready(unrolled_fn(single, order[0])), repeats), compile_s)

    # wide first layer: W1 stored as (784, K, 1000), shared mini-batch order
    def wide_objective(params, x, y):
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

    def wide_scan(params, batches):
        def step(p, idx):
            loss, g = jax.value_and_grad(wide_objective)(p, x_train[idx], y_train[idx])
            return sgd(p, g), loss
        return jax.lax.scan(step, params, batches)

    wide_params = [(jnp.transpose(stacked[0][0], (1, 0, 2)), stacked[0][1])] + stacked[1:]
    t = time.perf_counter()
    wide_fn = jax.jit(wide_scan).lower(wide_params, order[0]).compile()
    compile_s = time.perf_counter() - t
    record("wide_first", median_time(lambda: jax.block_until_ready(wide_fn(wide_params, order[0])), repeats), compile_s)

    # primitives: one layer's forward product, K networks
    prims = {}
    for label, (n_in, n_out) in (("784x1000", (784, 1000)), ("1000x1000", (1000, 1000))):
        x = jnp.asarray(rng.random((k, B, n_in), dtype=np.float32))
        w = jnp.asarray(rng.random((k, n_in, n_out), dtype=np.float32))
        inner = 20
        def rep(f):
            return jax.jit(lambda x, w: jax.lax.fori_loop(0, inner, lambda i, acc: acc + f(x + i.astype(jnp.float32), w),
                                                          jnp.zeros((k, B, n_out), jnp.float32)))
        batched = rep(lambda x, w: jnp.einsum("kbi,kio->kbo", x, w))
        separate = rep(lambda x, w: jnp.stack([x[i] @ w[i] for i in range(k)]))
        wide_w = w.transpose(1, 0, 2).reshape(n_in, k * n_out)
        wide = jax.jit(lambda x, w: jax.lax.fori_loop(0, inner, lambda i, acc: acc + (x + i.astype(jnp.float32)) @ w,
                                                      jnp.zeros((B, k * n_out), jnp.float32)))
        dw_batched = jax.jit(lambda x, d: jax.lax.fori_loop(
            0, inner, lambda i, acc: acc + jnp.einsum("kbi,kbo->kio", x + i.astype(jnp.float32), d),
            jnp.zeros((k, n_in, n_out), jnp.float32)))
        d = jnp.asarray(rng.random((k, B, n_out), dtype=np.float32))
        f = 2 * k * B * n_in * n_out * inner
        row = {}
        for name, fn, args in (("batched_dot", batched, (x, w)), ("separate_dots", separate, (x, w)),
                               ("wide_dot", wide, (x[0], wide_w)), ("batched_dW", dw_batched, (x, d))):
            med = median_time(lambda: jax.block_until_ready(fn(*args)), repeats)[0]
            row[name] = f / med / 1e9
        prims[label] = row
        print(f"primitive {label} fwd, K={k}: " + ", ".join(f"{n} {v:.1f} GFLOP/s" for n, v in row.items()), flush=True)
    out["primitives_gflops"] = prims
    return out


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
    from deep_sparse import results_io

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
