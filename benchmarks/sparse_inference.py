"""Does skipping the exact zeros of a rectifier network make inference faster? Measured on this CPU.

    python -m benchmarks.sparse_inference [--sparsity 0.5 0.75 0.9 0.95 0.99] [--batch 1 10 100]
                                          [--rounds 7] [--calls 20] [--quick] [--out DIR]

A 784-1000-1000-1000-10 rectifier network (normalized uniform weights) whose hidden units are biased
so that each is zero on the wanted fraction of inputs (the bias of a unit is minus the quantile of its
pre-activation over 2,000 calibration inputs; inputs uniform in [0, 1], the benchmark's batches
drawn apart from the calibration ones). The realised fraction of zeros per layer is recorded.

Methods (see :mod:`deep_sparse.sparse_inference`), timed side by side in interleaved rounds (every
method once per round, in a rotating order; ``--calls`` calls per timing), ratios taken within a
round and their median reported:

* ``dense_jax``: the dense forward pass, jitted (the baseline of the JAX paths);
* ``gather_jax``: the union of a batch's active units gathered to a fixed capacity (the batch's own
  count rounded up to 32: one program per capacity);
* ``bcoo_jax``: ``jax.experimental.sparse`` BCOO activations times dense weights;
* ``dense_numpy`` (NumPy BLAS; the baseline of the host paths), ``gather_numpy`` (the union gather with
  dynamic shapes), ``csr_scipy`` (SciPy CSR activations times dense weights, conversion included).

Results go to stdout, ``benchmarks/results/sparse_inference.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from deep_sparse import mlp, results_io
from deep_sparse import sparse_inference as si
from benchmarks import recording

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = (784, 1000, 1000, 1000, 10)
# NumPy's OpenBLAS spins its threads; on a CPU shared with other work set OPENBLAS_NUM_THREADS=1 (recorded)
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "XLA_FLAGS")
BASELINES = {"gather_jax": "dense_jax", "bcoo_jax": "dense_jax", "gather_numpy": "dense_numpy",
             "csr_scipy": "dense_numpy"}


def network_at_sparsity(sizes, sparsity: float, seed: int = 0, n_calibration: int = 2000):
    """Normalized-uniform weights, every hidden unit biased to be zero on ``sparsity`` of the
    calibration inputs (uniform in [0, 1]); layer by layer, each on the code of the biased layers below."""
    params = mlp.init(jax.random.PRNGKey(seed), sizes)
    h = np.random.default_rng(seed).uniform(0.0, 1.0, (n_calibration, sizes[0])).astype(np.float32)
    for layer in params[:-1]:
        z = h @ np.asarray(layer["w"])
        layer["b"] = jnp.asarray(-np.quantile(z, sparsity, axis=0).astype(np.float32))
        h = np.maximum(z + np.asarray(layer["b"]), 0.0)
    return params


def inputs(batch: int, n_in: int, seed: int) -> np.ndarray:
    return np.random.default_rng(10_000 + seed).uniform(0.0, 1.0, (batch, n_in)).astype(np.float32)


def methods(params, x: np.ndarray) -> dict:
    """Each method as a no-argument call on the batch ``x`` (JAX ones block until done)."""
    capacities, nse = si.capacities_for(params, x)
    host = si.numpy_params(params)
    x_dev = jnp.asarray(x)
    return {
        "dense_jax": lambda: si.dense_forward(params, x_dev).block_until_ready(),
        "gather_jax": lambda: si.gather_forward(params, x_dev, capacities).block_until_ready(),
        "bcoo_jax": lambda: si.bcoo_forward(params, x_dev, nse).block_until_ready(),
        "dense_numpy": lambda: si.dense_forward_numpy(host, x),
        "gather_numpy": lambda: si.gather_forward_numpy(host, x),
        "csr_scipy": lambda: si.csr_forward_scipy(host, x),
    }


def interleaved_seconds(calls: dict, rounds: int, n_calls: int) -> list[dict]:
    """Per round, seconds per call of every method (each warmed up once, then a rotating order)."""
    for call in calls.values():
        call()
    names, per_round = list(calls), []
    for r in range(rounds):
        times = {}
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            for _ in range(n_calls):
                calls[name]()
            times[name] = (time.perf_counter() - start) / n_calls
        per_round.append(times)
    return per_round


def measure_point(sparsity: float, batch: int, rounds: int, n_calls: int, sizes=SIZES) -> dict:
    params = network_at_sparsity(sizes, sparsity)
    x = inputs(batch, sizes[0], seed=int(sparsity * 1000) + batch)
    zeros = [float(np.mean(h == 0)) for h in si.hidden_codes(params, x)]
    per_round = interleaved_seconds(methods(params, x), rounds, n_calls)
    ratios = {name: statistics.median(t[base] / t[name] for t in per_round) for name, base in BASELINES.items()}
    ratios["dense_numpy"] = statistics.median(t["dense_jax"] / t["dense_numpy"] for t in per_round)
    seconds = {name: statistics.median(t[name] for t in per_round) for name in per_round[0]}
    capacities, nse = si.capacities_for(params, x)
    return dict(sparsity=sparsity, batch=batch, zeros_per_layer=zeros, capacities=capacities, nse=nse,
                seconds=seconds, speedup=ratios, rounds=per_round)


def multiply_adds_saved(point: dict, sizes) -> tuple[float, float]:
    """Dense multiply-adds over those of (the gather of ``capacities`` rows, the non-zeros alone): the
    speed-up a path could reach if time were multiply-adds. The first layer is dense in every path."""
    batch, first = point["batch"], sizes[0] * sizes[1]
    dense = batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    gathered = batch * (first + sum(c * n for c, n in zip(point["capacities"], sizes[2:])))
    nonzeros = batch * first + sum((1 - z) * batch * width * n
                                   for z, width, n in zip(point["zeros_per_layer"], sizes[1:-1], sizes[2:]))
    return dense / gathered, dense / nonzeros


def markdown(points: list[dict], sizes=SIZES) -> str:
    names = list(BASELINES)
    lines = ["Speed-up over the dense forward pass (median over interleaved rounds of the within-round ratio; "
             "> 1: faster than dense). JAX paths against `dense_jax`, host paths against `dense_numpy`. "
             "Bounds: dense multiply-adds over those of the gathered rows / of the non-zeros alone "
             "(the first layer is dense in every path).", "",
             "| zeros (target) | zeros (realised, layers 1-3) | batch | dense_jax ms | "
             + " | ".join(names) + " | dense_numpy vs dense_jax | bound gather | bound non-zeros |",
             "|---|---|---|---|" + "---|" * len(names) + "---|---|---|"]
    for p in points:
        realised = "/".join(f"{100 * z:.0f}" for z in p["zeros_per_layer"])
        cells = " | ".join(f"{p['speedup'][n]:.2f}x" for n in names)
        bounds = " | ".join(f"{b:.2f}x" for b in multiply_adds_saved(p, sizes))
        lines.append(f"| {100 * p['sparsity']:.0f}% | {realised}% | {p['batch']} | "
                     f"{1000 * p['seconds']['dense_jax']:.3f} | {cells} | {p['speedup']['dense_numpy']:.2f}x | "
                     f"{bounds} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sparsity", type=float, nargs="+", default=[0.5, 0.75, 0.9, 0.95, 0.99])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="a tiny network (for the tests)")
    parser.add_argument("--out", default=REPO)
    parser.add_argument("--redraw", metavar="JSON", help="only rewrite the table of a results file beside it")
    args = parser.parse_args(argv)
    if args.redraw:
        result = results_io.read_json(args.redraw)
        with open(os.path.splitext(args.redraw)[0] + ".md", "w") as f:
            f.write(markdown(result["points"], tuple(result["sizes"])))
        return
    sizes = (20, 32, 32, 32, 3) if args.quick else SIZES
    points = []
    for sparsity in args.sparsity:
        for batch in args.batch:
            points.append(measure_point(sparsity, batch, args.rounds, args.calls, sizes))
            print(markdown(points[-1:], sizes).splitlines()[-1], flush=True)
    threads = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    result = dict(provenance=results_io.provenance(["-m", "benchmarks.sparse_inference", *(argv or sys.argv[1:])]),
                  sizes=sizes, thread_variables=threads, points=points)
    recording.write(args.out, "sparse_inference_quick" if args.quick else "sparse_inference", result,
                    markdown(points, sizes))


if __name__ == "__main__":
    main()
