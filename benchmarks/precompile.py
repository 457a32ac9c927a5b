"""Compile time of a chunk's bucket programs, one after another against side by side, in one run.

    python -m benchmarks.precompile [--tiny] [--k 50 200] [--rounds 2] [--out DIR]

A chunk of K networks that stop early at different epochs is compacted to ever smaller buckets
(``deep_sparse.planner.bucket_sizes``: K and the powers of two below it), each a fine-tuning program
of its own, plus ``Train.finalize`` at K. Both ways compile exactly these programs through the
executor: **sequential** as the lazy path meets them (``ChunkExecutor.compiled``, one after another),
**parallel** as ``ChunkExecutor.precompile`` does when a chunk starts (lowered in turn, compiled in
threads). Each measure runs in a fresh process (nothing cached in memory, XLA's autotuning included;
the persistent compilation cache is not turned on), the two orders alternating over the rounds; the
ratio is the median sequential wall time over the median parallel one, measured on this machine in
this run. CPU seconds over wall seconds (the process's, while compiling) tell how many cores the
compilations kept busy: above 1 in parallel, the threads did overlap. Default sizes are Figure 3's
paper preset (3 x 1000 rectifier units, 784 inputs, 10 classes, mini-batch 10, 50k/10k/10k examples
of blobs standing in for MNIST: compile time depends on shapes, not values); ``--tiny``: 2 x 16
units, K = 8, for the tests. The small gather, scatter and report programs that a precompiling
chunk also warms (``deep_sparse.executor``) are not part of the measure.

Results go to stdout, ``benchmarks/results/precompile[_tiny].json`` and ``.md``. No timed assertion
anywhere: the numbers are for reading.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import jax
import numpy as np

from deep_sparse import results_io
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.data import blobs
from deep_sparse.devices import make_mesh
from deep_sparse.executor import ChunkExecutor
from deep_sparse.planner import Network
from deep_sparse.train import Data, make_train
from benchmarks import recording

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = ("sequential", "parallel")
SIZES = {  # hidden sizes, input dimension, classes, examples per split
    "paper": dict(hidden_sizes=(1000, 1000, 1000), d=784, classes=10, n=(50_000, 10_000, 10_000)),
    "tiny": dict(hidden_sizes=(16, 16), d=20, classes=3, n=(60, 20, 20)),
}


def problem(scale: str) -> tuple[TrainConfig, Data]:
    sizes = SIZES[scale]
    config = TrainConfig(num_classes=sizes["classes"], hidden_sizes=sizes["hidden_sizes"], batch_size=10,
                         epochs=50, patience=10, pretrain_epochs=0)
    data = Data.from_arrays(*(array for seed, count in enumerate(sizes["n"], start=1)
                              for array in blobs(count, seed, sizes["d"], sizes["classes"])))
    return config, data


def compile_buckets(scale: str, k: int, mode: str) -> dict:
    """Compile the fine-tuning programs of every bucket of a K-network chunk and its finalize, as
    ``mode`` says, in this process; the wall seconds and the number of programs."""
    config, data = problem(scale)
    executor = ChunkExecutor(make_train(config), data, make_mesh(jax.devices()[:1]), "vmap")
    networks = [Network(i, i, Hparams(lr=0.01, l1=1e-3 * i / k)) for i in range(k)]
    state = executor.initial_state(networks, k)  # compiles init: not part of the measure
    _, hparams = executor.shard(networks, k)
    programs = executor.bucket_programs(executor.train.finetune, state, hparams, k)
    before = executor.programs_compiled
    start, cpu_start = time.perf_counter(), time.process_time()
    if mode == "parallel":
        executor.precompile(programs)
    else:
        for name, function, args, donate in programs:
            executor.compiled(name, function, *args, donate=donate)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "programs": executor.programs_compiled - before,
            "bucket_sizes": [args[0].stopped.shape[0] for _, _, args, _ in programs[:-1]]}


def measure(scale: str, k: int, mode: str) -> dict:
    """:func:`compile_buckets` in a fresh process."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.precompile", "--worker", mode, "--k", str(k)]
                          + (["--tiny"] if scale == "tiny" else []), capture_output=True, text=True, cwd=REPO)
    if done.returncode:
        raise RuntimeError(f"the {mode} worker at K = {k} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(scale: str, ks: list[int], rounds: int) -> dict:
    result = {"machine": results_io.machine(), "jax": jax.__version__, "scale": scale, "rounds": rounds, "k": {}}
    for k in ks:
        runs = {mode: [] for mode in MODES}
        for round_index in range(rounds):
            for mode in MODES[::-1] if round_index % 2 else MODES:
                runs[mode].append(measure(scale, k, mode))
        seconds = {mode: float(np.median([r["seconds"] for r in runs[mode]])) for mode in MODES}
        cores_busy = {mode: float(np.median([r["cpu_seconds"] / r["seconds"] for r in runs[mode]])) for mode in MODES}
        result["k"][str(k)] = {
            "programs": runs["parallel"][0]["programs"], "bucket_sizes": runs["parallel"][0]["bucket_sizes"],
            "seconds": {mode: [r["seconds"] for r in runs[mode]] for mode in MODES},
            "median_seconds": seconds, "sequential_over_parallel": seconds["sequential"] / seconds["parallel"],
            "cpu_over_wall": cores_busy}
    return result


def table(result: dict) -> str:
    machine = result["machine"]
    lines = [f"# Bucket programs compiled one after another vs side by side ({result['scale']} sizes)", "",
             f"{', '.join(machine['device_kinds'])} (backend {machine['jax_backend']}), {machine['cpu']}, "
             f"{machine['cpu_count']} CPU cores, jax {result['jax']}; "
             f"median of {result['rounds']} round(s), each in a fresh process", "",
             "| K | programs | bucket sizes | sequential s | parallel s | sequential / parallel "
             "| CPU s / wall s, sequential | CPU s / wall s, parallel |",
             "|---|---|---|---|---|---|---|---|"]
    for k, row in result["k"].items():
        seconds = row["median_seconds"]
        lines.append(f"| {k} | {row['programs']} | {', '.join(map(str, row['bucket_sizes']))} | "
                     f"{seconds['sequential']:.2f} | {seconds['parallel']:.2f} | "
                     f"{row['sequential_over_parallel']:.2f}x | "
                     f"{row['cpu_over_wall']['sequential']:.2f} | {row['cpu_over_wall']['parallel']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny networks, K = 8 (for the tests)")
    parser.add_argument("--k", type=int, nargs="+", default=None, help="chunk sizes (default 50, Figure 3's chunk)")
    parser.add_argument("--rounds", type=int, default=2, help="measures of each mode per K, orders alternating")
    parser.add_argument("--out", default=REPO)
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    scale = "tiny" if args.tiny else "paper"
    ks = args.k or ([8] if args.tiny else [50])
    if args.worker:
        print(json.dumps(compile_buckets(scale, ks[0], args.worker)))
        return
    result = run(scale, ks, args.rounds)
    recording.write(args.out, "precompile_tiny" if args.tiny else "precompile", result, table(result))


if __name__ == "__main__":
    main()
