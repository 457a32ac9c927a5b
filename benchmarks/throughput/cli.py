"""The command line of ``python -m benchmarks.sweep_throughput``: options to a spec, the ceilings
then every method at every K (each in its own process), and the outputs under ``--out``: the raw
numbers (JSON), the plots, and the run's section of BENCHMARKS.md."""
from __future__ import annotations

import argparse
import copy
import importlib.metadata
import json
import os
import statistics
import sys
from typing import Callable, Optional, Sequence

from benchmarks.throughput.plot import plot_throughput
from benchmarks.throughput.problem import BATCH, JAX_METHODS, PAPER_HIDDEN, TORCH_METHODS, flops_per_step, layer_sizes
from benchmarks.throughput.report import (
    add_ratios, machine_description, render_section, slug, summarize, update_markdown,
)
from benchmarks.throughput.spawn import REPO, spawn
from benchmarks.throughput.workers import run_worker
from deep_sparse import results_io

DESCRIPTION = ("Throughput of K small networks trained side by side: the sweep engine against a plain loop, a naive\n"
               "``jax.vmap``, PyTorch, and the machine's own ceilings, all measured in one run (issue 6).")
MODES = {  # the spec of each mode; options override steps, valid, repeats and ks
    "tiny": {"hidden": [32, 32], "steps": 4, "valid": 20, "repeats": 2, "square": 128,
             "inner": 4, "copy_bytes": 4 << 20, "ks": [1, 2], "rounds": 1},
    "quick": {"hidden": list(PAPER_HIDDEN), "steps": 50, "valid": 100, "repeats": 3, "square": 2048,
              "inner": 50, "copy_bytes": 256 << 20, "ks": [1, 8, 32], "rounds": 2},
    "full": {"hidden": list(PAPER_HIDDEN), "steps": 200, "valid": 100, "repeats": 5, "square": 2048,
             "inner": 200, "copy_bytes": 512 << 20, "ks": [1, 8, 32, 200], "rounds": 2},
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep_throughput", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="K in {1, 8, 32}, 50 steps, 3 repetitions")
    parser.add_argument("--tiny", action="store_true", help="tiny layers and few steps (for the test suite only)")
    parser.add_argument("--k", type=int, nargs="+", help="numbers of networks (default 1 8 32 200; --quick: 1 8 32)")
    parser.add_argument("--steps", type=int, help="SGD steps per epoch (n_train = 10 * steps; default 200, --quick 50)")
    parser.add_argument("--valid", type=int, help="validation examples evaluated per epoch (default 100)")
    parser.add_argument("--repeats", type=int, help="timed epochs per method and K (default 5, --quick 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed epochs after compilation (default 1)")
    parser.add_argument("--rounds", type=int,
                        help="times each method runs at each K, each time in a fresh process, the methods in "
                             "alternating order (A B, B A, ...); the epochs of all rounds are pooled, so that a "
                             "drift of the machine's speed (a shared VM) weighs on every method alike "
                             "(default 2, --tiny 1)")
    parser.add_argument("--methods", nargs="+", choices=list(JAX_METHODS + TORCH_METHODS),
                        help="methods to run (default: all)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch methods")
    parser.add_argument("--out", default=REPO, help="root of the outputs (default: the repository root)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per method and K")
    parser.add_argument("--render", metavar="JSON",
                        help="measure nothing: rewrite the BENCHMARKS.md section (under --out) of a raw-numbers file "
                             "written by an earlier run")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one method in this process (what spawn runs)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def mode_of(args: argparse.Namespace) -> str:
    return "tiny" if args.tiny else ("quick" if args.quick else "full")


def build_spec(args: argparse.Namespace) -> dict:
    """The mode's spec with the options' overrides, checked."""
    spec = copy.deepcopy(MODES[mode_of(args)])
    for name in ("steps", "valid", "repeats", "rounds"):
        if getattr(args, name) is not None:
            spec[name] = getattr(args, name)
    if args.k:
        spec["ks"] = sorted(set(args.k))
    spec["warmup"] = args.warmup
    for name in ("steps", "valid", "repeats", "rounds"):
        if spec[name] < 1:
            raise SystemExit(f"--{name} must be >= 1")
    if any(k < 1 for k in spec["ks"]):
        raise SystemExit("--k values must be >= 1")
    return spec


def torch_available() -> Optional[str]:
    """torch's version, or None when it is not installed (read from its metadata: nothing imported)."""
    try:
        return importlib.metadata.version("torch")
    except Exception:  # noqa: BLE001
        return None


def chosen_methods(args: argparse.Namespace, torch_version: Optional[str]) -> tuple[list[str], list[str]]:
    """``(methods to run, notes for the report)``: the PyTorch ones left out when asked or missing."""
    methods, notes = list(args.methods or JAX_METHODS + TORCH_METHODS), []
    if args.no_torch or torch_version is None:
        if torch_version is None and not args.no_torch:
            notes.append("PyTorch is not installed: its methods were not run (pip install torch, CPU build).")
        methods = [m for m in methods if m not in TORCH_METHODS]
    return methods, notes


def log_row(log: Callable[[str], None], row: dict) -> None:
    if "error" not in row:
        log(f"  k={row['k']:4d} {row['method']:12s} {row['network_steps_per_s']:9.1f} net-steps/s  "
            f"{row['gflops']:7.1f} GFLOP/s epoch {row['epoch_s_median']:.3f} s (spread {row['spread_pct']:.0f}%), "
            f"compile {row['compile_s']:.1f} s, eval {row['eval_pct']:.1f}%, RSS {row['maxrss_mib']:.0f} MiB")


def measure(spec: dict, methods: Sequence[str], timeout: float, log: Callable[[str], None]):
    """``(ceilings, raw results, summary rows)``: the ceilings, then every method at every K."""
    ceilings = spawn("ceilings", dict(spec, k=None), timeout, log)
    peak = ceilings.get("peak_gflops")
    if peak:
        log(f"ceilings: square {ceilings['jax_square_gflops']:.1f} (JAX) / {ceilings['numpy_square_gflops']:.1f} "
            f"(NumPy) GFLOP/s, copy {ceilings['copy_gb_per_s']:.1f} GB/s")
    raw, rows = [], []
    for k in spec["ks"]:
        rounds = {method: [] for method in methods}
        for order in round_orders(methods, spec["rounds"]):
            for method in order:
                rounds[method].append(spawn(method, dict(spec, k=k), timeout, log))
        for method in methods:
            result = pool_rounds(rounds[method])
            raw.append({"method": method, "k": k, **result})
            rows.append(summarize(method, k, result, spec, peak))
            log_row(log, rows[-1])
    add_ratios(rows)
    return ceilings, raw, rows


def round_orders(methods: Sequence[str], rounds: int) -> list[list[str]]:
    """The order of the methods in each round: as given, then reversed, alternately (A B, B A, A B, ...),
    so that a drift of the machine's speed during one K's rounds weighs on every method alike."""
    return [list(methods) if r % 2 == 0 else list(reversed(methods)) for r in range(rounds)]


def pool_rounds(results: Sequence[dict]) -> dict:
    """One method's worker results over its rounds as one result: the timed epochs of every round
    together (the row's median and spread then span the rounds; ``round_times`` keeps them apart),
    the median compile and validation seconds, the largest memory, the summed wall times. The first
    failed round's error, if one failed."""
    failed = [r for r in results if "error" in r]
    if failed:
        return failed[0]
    pooled = dict(results[0])
    pooled["times"] = [t for r in results for t in r["times"]]
    for name in ("compile_s", "eval_compile_s", "eval_s"):  # the PyTorch workers report no eval_compile_s
        values = [r[name] for r in results if r.get(name) is not None]
        pooled[name] = statistics.median(values) if values else None
    for name in ("maxrss_bytes", "xla_memory_bytes"):
        values = [r[name] for r in results if r.get(name) is not None]
        pooled[name] = max(values) if values else None
    for name in ("worker_wall_s", "process_wall_s"):
        pooled[name] = sum(r.get(name, 0.0) for r in results)
    pooled["stopped"] = any(r.get("stopped") for r in results)
    pooled["rounds"], pooled["round_times"] = len(results), [r["times"] for r in results]
    return pooled


def write_outputs(out: str, payload: dict, machine_slug: str) -> None:
    """The raw numbers, the plot (and its copy named after the machine and mode), the section."""
    spec, section = payload["spec"], payload["section"]
    results_dir = os.path.join(out, "benchmarks", "results")
    os.makedirs(results_dir, exist_ok=True)
    results_io.atomic_write_json(os.path.join(out, payload["json_name"]), payload)
    title = f"{section}\n{'-'.join(map(str, layer_sizes(spec['hidden'])))}, mini-batch {BATCH}, {spec['steps']} steps"
    plot_throughput(payload["rows"], os.path.join(out, payload["plot_name"]), title)
    plot_throughput(payload["rows"], os.path.join(results_dir, f"throughput_vs_k_{machine_slug}_{payload['mode']}.png"),
                    title)
    update_markdown(os.path.join(out, "BENCHMARKS.md"), section, render_section(payload))


def benchmark(args: argparse.Namespace, argv: Sequence[str]) -> dict:
    """Measure everything ``args`` asks, write the outputs under ``args.out``; the payload written."""
    spec, mode = build_spec(args), mode_of(args)
    torch_version = torch_available()
    methods, notes = chosen_methods(args, torch_version)
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    meta = results_io.provenance(["-m", "benchmarks.sweep_throughput", *argv])
    description = machine_description(meta["machine"])
    log(f"machine: {description}")
    log(f"spec: {spec}; methods: {methods}")
    ceilings, raw, rows = measure(spec, methods, args.timeout, log)
    machine_slug = slug(description)
    payload = {
        "section": f"{description} — {mode}", "machine_description": description, "mode": mode, "spec": spec,
        "flops_per_step": flops_per_step(layer_sizes(spec["hidden"])), "provenance": meta,
        "torch_version": torch_version if any(m in TORCH_METHODS for m in methods) else None,
        "ceilings": ceilings, "rows": rows, "raw": raw, "notes": notes,
        "json_name": f"benchmarks/results/sweep_throughput_{machine_slug}_{mode}.json",
        "plot_name": "benchmarks/results/throughput_vs_k.png",
    }
    write_outputs(args.out, payload, machine_slug)
    log(f"wrote {os.path.join(args.out, 'BENCHMARKS.md')}, {payload['json_name']}, {payload['plot_name']}")
    return payload


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.worker:
        result = run_worker(args.worker, json.loads(args.spec))
        print(json.dumps(result), flush=True)
        return result
    if args.render:
        payload = results_io.read_json(args.render)
        update_markdown(os.path.join(args.out, "BENCHMARKS.md"), payload["section"], render_section(payload))
        return payload
    return benchmark(args, list(sys.argv[1:] if argv is None else argv))
