"""The methods by name, and the entry point of a worker process, which runs one method for one K and
prints its result as one line of JSON:

    python -m benchmarks.throughput.workers METHOD SPEC_JSON

A worker's module is imported only when it runs (the JAX methods import JAX, the PyTorch ones torch):
its process's peak resident memory is its own method's.
"""
from __future__ import annotations

import importlib
import json
import resource
import sys
import time
from typing import Optional, Sequence

WORKERS = {
    "engine": ("benchmarks.throughput.jax_workers", "time_engine"),
    "loop": ("benchmarks.throughput.jax_workers", "time_loop"),
    "vmap": ("benchmarks.throughput.jax_workers", "time_vmap"),
    "torch_eager": ("benchmarks.throughput.torch_workers", "time_torch_eager"),
    "torch_func": ("benchmarks.throughput.torch_workers", "time_torch_func"),
    "ceilings": ("benchmarks.throughput.ceilings", "measure_ceilings"),
}


def run_worker(method: str, spec: dict) -> dict:
    """The method's result, with ``worker_wall_s`` (its seconds, imports included) and
    ``maxrss_bytes`` (this process's peak resident memory)."""
    start = time.perf_counter()
    module, name = WORKERS[method]
    result = getattr(importlib.import_module(module), name)(spec)
    result["worker_wall_s"] = time.perf_counter() - start
    result["maxrss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return result


def main(argv: Optional[Sequence[str]] = None) -> dict:
    method, spec = sys.argv[1:] if argv is None else argv
    result = run_worker(method, json.loads(spec))
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
