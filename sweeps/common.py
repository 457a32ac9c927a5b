"""Command-line plumbing shared by the experiment modules (arguments, devices, summaries)."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence


def add_run_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    """Output, resume, data and device options every sweep module takes."""
    group = parser.add_argument_group("run")
    group.add_argument("--out", default=default_out,
                       help="output directory: results.csv, results.json, plots, checkpoints (default: %(default)s)")
    group.add_argument("--resume", action="store_true",
                       help="continue the sweep already in --out from its last checkpoint (same settings only)")
    group.add_argument("--data-dir", default=None,
                       help="data directory (default: $DEEP_SPARSE_DATA, else ~/.cache/deep_sparse); "
                            "MNIST is fetched there if missing")
    group.add_argument("--chunk-size", type=int, default=None,
                       help="networks trained together in one compiled step (default: automatic; one per "
                            "device on CPU, as many as fit in memory on a GPU)")
    group.add_argument("--checkpoint-every", type=int, default=1, metavar="EPOCHS",
                       help="checkpoint the running chunk every this many epochs; 0 keeps only finished "
                            "chunks (default: %(default)s)")
    group.add_argument("--no-progress", action="store_true", help="no progress bar")
    dist = parser.add_argument_group("multi-host (jax.distributed)")
    dist.add_argument("--coordinator-address", default=None,
                      help="host:port of process 0; with --num-processes and --process-id, calls "
                           "jax.distributed.initialize so that the sweep spans every host's devices")
    dist.add_argument("--num-processes", type=int, default=None)
    dist.add_argument("--process-id", type=int, default=None)


def initialize_distributed(args: argparse.Namespace) -> None:
    """Call ``jax.distributed.initialize`` when the multi-host options are given."""
    if args.coordinator_address is None:
        return
    if args.num_processes is None or args.process_id is None:
        raise SystemExit("--coordinator-address needs --num-processes and --process-id")
    import jax

    jax.distributed.initialize(args.coordinator_address, args.num_processes, args.process_id)


def float_list(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def sizes(text: str) -> tuple[int, ...]:
    """Parse ``1000-1000-1000`` (or ``1000,1000,1000``) into a tuple of layer widths."""
    parts = text.replace(",", "-").split("-")
    try:
        values = tuple(int(p) for p in parts if p)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths like 1000-1000-1000, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive widths like 1000-1000-1000, got {text!r}")
    return values


def best_by_validation(rows: Sequence[dict], keys: Sequence[str]) -> list[dict]:
    """For each combination of ``keys``, the non-diverged row with the lowest validation error."""
    best: dict = {}
    for row in rows:
        if row["diverged"]:
            continue
        group = tuple(row[k] for k in keys)
        if group not in best or row["valid_error"] < best[group]["valid_error"]:
            best[group] = row
    return [best[k] for k in sorted(best, key=str)]


def write_text(path: str, text: str) -> None:
    from deep_sparse import results_io

    results_io.atomic_write_text(path, text)


def command_line(module: str) -> list[str]:
    """The command as typed: ``["-m", module, *arguments]`` (recorded in every results file)."""
    return ["-m", module, *sys.argv[1:]]
