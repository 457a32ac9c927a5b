"""Lean checkpoints and idle slots of a chunk, measured side by side in one run.

    python -m benchmarks.lean_slots [--quick] [--figure3 results/figure3-paper-mean-cost] [--out DIR]

* **Checkpoint bytes**: a small Figure-3-like sweep (rectifier networks over L1 strengths and seeds, early
  stopping, one vmapped chunk, a checkpoint every epoch) run twice: as the library checkpoints now
  (each network's best parameters stored only where they differ from its current ones, and once) and
  in the older form (every leaf in every step). Array bytes written per checkpointed epoch, and their
  ratio; both runs' rows must be identical.
* **Real against computed network-epochs**: a compacted chunk computes, at each epoch, a bucket of the
  networks still running (``deep_sparse.planner.slot_epochs``); its networks really ran
  ``sum(epochs_run)``. Computed from the records of the sweep above, of the run above again with 4
  buckets per octave (its recorded count and rows), and of a recorded Figure 3 folder
  (``chunks/*.json``), at 1, 2, 4 and 8 buckets per octave, with the programs each compiles.

Results go to stdout, ``benchmarks/results/lean_slots.json`` and ``benchmarks/results/lean_slots.md``.
No timing is taken: the measures are bytes and counts.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from deep_sparse import buckets, checkpoints, results_io, sweep
from deep_sparse.checkpoints import ChunkCheckpoint
from deep_sparse.config import TrainConfig
from deep_sparse.data import blobs
from deep_sparse.planner import bucket_size, slot_epochs
from deep_sparse.train import Data
from benchmarks import recording

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PER_OCTAVE = (1, 2, 4, 8)
MiB = 2 ** 20


def toy_data(n: tuple[int, int, int], d: int, classes: int) -> Data:
    """Blobs (``deep_sparse.data.blobs``): train, valid and test of ``n`` points in ``d`` dimensions."""
    return Data.from_arrays(*(array for seed, count in enumerate(n, start=1)
                              for array in blobs(count, seed, d, classes)))


def checkpointed_sweep(config: TrainConfig, grid: dict, data, out: str, lean: bool) -> dict:
    """The sweep with a checkpoint every epoch; its rows, array bytes written and epochs checkpointed."""
    used, saves = {}, []  # the chunks' checkpoints (closed when the sweep returns), their saves
    real_save, real_paths = ChunkCheckpoint.save, checkpoints.shadowed_paths

    def save(self, step, state):
        used[id(self)] = self
        saves.append(step)
        real_save(self, step, state)

    ChunkCheckpoint.save = save
    if not lean:  # the older form: every leaf in every step
        checkpoints.shadowed_paths = lambda leaves: []
    try:
        rows = sweep.run(config, grid, out, data, options=sweep.SweepOptions(
            chunk_size=len(sweep.product(**grid)), batching="vmap", checkpoint_every=1, progress=False,
            log=lambda message: None))
    finally:
        ChunkCheckpoint.save, checkpoints.shadowed_paths = real_save, real_paths
    written = {"bytes": sum(c.bytes_written for c in used.values()), "saves": len(saves)}
    return dict(rows=rows, bytes=written["bytes"], saves=written["saves"],
                bytes_per_epoch=written["bytes"] / max(1, written["saves"]))


def recorded_network_epochs(folder: str) -> int:
    with open(os.path.join(folder, "results.json")) as handle:
        return sum(g["network_epochs"] for g in json.load(handle)["timings"]["groups"])


def accounting(chunks: list[tuple[list[int], int]]) -> dict:
    """Real and computed network-epochs of chunks given as ``(epochs_run of its networks, slots)``,
    with the bucket programs compiled, per number of buckets per octave."""
    real = sum(sum(epochs) for epochs, _ in chunks)
    computed, programs = {}, {}
    for per_octave in PER_OCTAVE:
        computed[per_octave] = sum(slot_epochs(epochs, size, 1, per_octave) for epochs, size in chunks)
        sizes = set()
        for epochs, size in chunks:
            running = [sum(e >= epoch for e in epochs) for epoch in range(1, max(epochs) + 1)]
            sizes |= {min(size, bucket_size(r, 1, per_octave)) for r in running}
        programs[per_octave] = len(sizes)
    return dict(real=real, computed=computed, programs=programs)


def folder_chunks(folder: str) -> list[tuple[list[int], int]]:
    """``(epochs_run, slots)`` of each finished chunk recorded under ``folder/chunks`` (slots: the
    largest chunk's size, as the sweep computes every chunk of a group)."""
    chunks = []
    for name in sorted(os.listdir(os.path.join(folder, "chunks"))):
        with open(os.path.join(folder, "chunks", name)) as handle:
            chunks.append([row["epochs_run"] for row in json.load(handle)["rows"]])
    size = max(len(epochs) for epochs in chunks)
    return [(epochs, size) for epochs in chunks]


def measure(quick: bool, figure3: str | None) -> dict:
    if quick:
        config = TrainConfig(num_classes=3, hidden_sizes=(16, 16), batch_size=10, epochs=6, patience=1)
        grid, data = {"l1": [0.0, 1e-3], "seed": [0, 1, 2]}, toy_data((200, 60, 60), 20, 3)
    else:  # overlapping classes: the networks improve for a while and stop at different epochs
        config = TrainConfig(num_classes=10, hidden_sizes=(128, 128, 128), batch_size=10, epochs=20, patience=3)
        grid = {"l1": [0.0, 1e-4, 1e-3, 3e-3], "seed": [0, 1, 2, 3]}
        data = toy_data((1000, 500, 500), 8, 10)
    result = {"config": dict(hidden_sizes=config.hidden_sizes, epochs=config.epochs, patience=config.patience,
                             networks=len(sweep.product(**grid)))}
    with tempfile.TemporaryDirectory() as scratch:
        lean = checkpointed_sweep(config, grid, data, os.path.join(scratch, "lean"), lean=True)
        full = checkpointed_sweep(config, grid, data, os.path.join(scratch, "full"), lean=False)
        buckets.BUCKETS_PER_OCTAVE = 4
        try:
            fine = sweep.run(config, grid, os.path.join(scratch, "fine"), data, options=sweep.SweepOptions(
                chunk_size=len(lean["rows"]), batching="vmap", checkpoint_every=0, progress=False,
                log=lambda message: None))
            fine_recorded = recorded_network_epochs(os.path.join(scratch, "fine"))
        finally:
            buckets.BUCKETS_PER_OCTAVE = 1
        recorded = recorded_network_epochs(os.path.join(scratch, "lean"))
    result["checkpoints"] = dict(
        lean_bytes_per_epoch=lean["bytes_per_epoch"], full_bytes_per_epoch=full["bytes_per_epoch"],
        ratio=lean["bytes_per_epoch"] / full["bytes_per_epoch"], epochs_checkpointed=lean["saves"],
        rows_identical=json.dumps(lean["rows"]) == json.dumps(full["rows"]))
    epochs = [row["epochs_run"] for row in lean["rows"]]
    result["slots"] = {"sweep": dict(accounting([(epochs, len(epochs))]), recorded=recorded,
                                     recorded_4_per_octave=fine_recorded,
                                     rows_identical_4_per_octave=json.dumps(fine) == json.dumps(lean["rows"]))}
    if figure3:
        result["slots"]["figure3"] = accounting(folder_chunks(figure3))
        result["slots"]["figure3"]["folder"] = os.path.relpath(os.path.abspath(figure3), REPO)
    return result


def markdown(result: dict) -> str:
    c = result["checkpoints"]
    lines = [f"checkpoint bytes per epoch ({result['config']['networks']} networks, hidden "
             f"{result['config']['hidden_sizes']}, {c['epochs_checkpointed']} epochs checkpointed): "
             f"older form {c['full_bytes_per_epoch'] / MiB:.2f} MiB, lean {c['lean_bytes_per_epoch'] / MiB:.2f} MiB, "
             f"ratio **{c['ratio']:.2f}** (rows identical: {c['rows_identical']})", "",
             "| run | real network-epochs | " + " | ".join(f"computed, {p}/octave (programs)" for p in PER_OCTAVE) + " |",
             "|---|---|" + "---|" * len(PER_OCTAVE)]
    for name, a in result["slots"].items():
        cells = " | ".join(f"{a['computed'][p]} ({100 * (a['computed'][p] / a['real'] - 1):.1f}% idle, "
                           f"{a['programs'][p]})" for p in PER_OCTAVE)
        lines.append(f"| {a.get('folder', name)} | {a['real']} | {cells} |")
    s = result["slots"]["sweep"]
    lines += ["", f"the sweep's recorded network-epochs: {s['recorded']} (powers of two), "
              f"{s['recorded_4_per_octave']} (4 per octave; rows identical to the powers of two: "
              f"{s['rows_identical_4_per_octave']})"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny networks (for the tests)")
    parser.add_argument("--figure3", default=None, help="a recorded Figure 3 folder to account for")
    parser.add_argument("--out", default=REPO)
    args = parser.parse_args(argv)
    result = measure(args.quick, args.figure3)
    result["provenance"] = results_io.provenance(["-m", "benchmarks.lean_slots", *(argv or sys.argv[1:])])
    recording.write(args.out, "lean_slots_quick" if args.quick else "lean_slots", result, markdown(result))


if __name__ == "__main__":
    main()
