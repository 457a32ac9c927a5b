"""Compiling a chunk's bucket programs ahead of time, side by side: the rows are bitwise those of the
lazy compilation, and once the first fine-tuning epoch has run XLA compiles nothing more for the
chunk (neither its stage programs nor the small ones that compact it and report its progress)."""
import argparse
import json

import jax
import pytest
from jax import monitoring
from hypothesis import given, strategies as st

from deep_sparse import executor as executor_module
from deep_sparse import sweep
from deep_sparse.devices import make_mesh, resolve_precompile
from deep_sparse.planner import bucket_size, bucket_sizes
from deep_sparse.progress import Progress
from deep_sparse.sweep_options import SweepOptions
from sweeps import common
from test_sweep import CONFIG as TEST_CONFIG, QUIET, make_data

# early stopping at different epochs: a chunk of 4 is compacted to buckets of 2 and 1
EARLY_CONFIG = TEST_CONFIG.replace(epochs=6, patience=1)
EARLY_GRID = [{"lr": lr, "seed": seed, "l1": 1e-3} for lr in (0.5, 0.02) for seed in (0, 1)]


def sweep_counting_compiles(out, data, precompile: bool, monkeypatch):
    """The sweep's rows, and after each epoch and at the end: the executor's count of compiled stage
    programs, and XLA's count of compilations of any kind (a ``jax.monitoring`` listener)."""
    executors, after_epochs, compiles = [], [], []
    real_init, real_after_epoch = executor_module.ChunkExecutor.__init__, Progress.after_epoch

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        executors.append(self)

    def after_epoch(self, *args, **kwargs):
        after_epochs.append((executors[-1].programs_compiled, len(compiles)))
        return real_after_epoch(self, *args, **kwargs)

    def listener(event, *args, **kwargs):
        if "backend_compile" in event:
            compiles.append(event)

    monkeypatch.setattr(executor_module.ChunkExecutor, "__init__", init)
    monkeypatch.setattr(Progress, "after_epoch", after_epoch)
    monitoring.register_event_duration_secs_listener(listener)
    try:
        rows = sweep.run(EARLY_CONFIG, EARLY_GRID, str(out), data, options=SweepOptions(
            chunk_size=4, batching="vmap", checkpoint_every=0, precompile=precompile, **QUIET))
    finally:
        monitoring.unregister_event_duration_listener(listener)
        monkeypatch.undo()
    (executor,) = executors
    return rows, after_epochs, (executor.programs_compiled, len(compiles))


def test_precompiled_rows_are_bitwise_the_lazy_ones_and_nothing_compiles_after_the_first_epoch(tmp_path, monkeypatch):
    data = make_data(EARLY_CONFIG)
    # precompiled first: the lazy run would leave the gather, scatter and report programs it compiles
    # in jax.jit's caches
    rows, counts, final = sweep_counting_compiles(tmp_path / "precompiled", data, True, monkeypatch)
    lazy_rows, lazy_counts, lazy_final = sweep_counting_compiles(tmp_path / "lazy", data, False, monkeypatch)
    assert json.dumps(rows) == json.dumps(lazy_rows)
    epochs_run = sorted(row["epochs_run"] for row in rows)
    assert epochs_run[0] < epochs_run[-1] <= EARLY_CONFIG.epochs  # the chunk stopped unevenly: it compacted
    # lazily, stage programs for the smaller buckets (and finalize) are compiled after the first epoch ...
    assert lazy_counts[0][0] < lazy_counts[-1][0] < lazy_final[0]
    assert lazy_counts[0][1] < lazy_final[1]
    # ... ahead of time, every one of them, and every other program the epochs run, is compiled before
    assert counts == [counts[0]] * len(counts) and final == counts[0]
    assert final[0] >= lazy_final[0] and len(bucket_sizes(4, 4, 1)) == 3
    with open(tmp_path / "precompiled" / "results.json") as handle:
        group = json.load(handle)["timings"]["groups"][0]
    assert group["precompile"] is True and group["programs_compiled"] == final[0]


def test_lazy_and_precompiled_chunks_give_the_same_rows_under_lax_map(tmp_path, monkeypatch):
    # lax.map never compacts: one fine-tuning program, compiled ahead with finalize
    data = make_data(EARLY_CONFIG)
    grid = EARLY_GRID[:2]
    rows = [sweep.run(EARLY_CONFIG, grid, str(tmp_path / str(flag)), data, options=SweepOptions(
        chunk_size=2, batching="map", checkpoint_every=0, precompile=flag, **QUIET)) for flag in (False, True)]
    assert json.dumps(rows[0]) == json.dumps(rows[1])


@given(st.integers(1, 300), st.integers(0, 64), st.sampled_from([1, 2, 4]), st.sampled_from([1, 2, 4]))
def test_bucket_sizes_are_every_size_a_shrinking_chunk_meets(n_real, extra, n_devices, per_octave):
    size = -(-(n_real + extra) // n_devices) * n_devices
    sizes = bucket_sizes(n_real, size, n_devices, per_octave)
    assert sizes[0] == size and sizes == sorted(set(sizes), reverse=True)
    met = {bucket_size(n, n_devices, per_octave) for n in range(1, n_real + 1)}
    assert set(sizes) == {size} | {s for s in met if s < size}
    # at most per_octave programs per doubling below the chunk's size
    assert len(sizes) <= 1 + per_octave * max(1, size // n_devices).bit_length()


def test_bucket_sizes_of_a_chunk_of_four_and_of_six():
    assert bucket_sizes(4, 4, 1) == [4, 2, 1]
    assert bucket_sizes(6, 6, 1) == [6, 4, 2, 1]
    assert bucket_sizes(3, 8, 2) == [8, 4, 2]


def test_precompilation_is_off_on_cpu_unless_asked_for():
    cpu = make_mesh(jax.devices("cpu")[:1])
    assert resolve_precompile(None, cpu) is False
    assert resolve_precompile(True, cpu) is True and resolve_precompile(False, cpu) is False
    assert SweepOptions().precompile is None
    with pytest.raises(ValueError, match="precompile must be True, False or None"):
        SweepOptions(precompile="yes")


def test_the_commands_flag_reaches_the_options():
    parser = argparse.ArgumentParser()
    common.add_run_arguments(parser, default_out="runs/x")
    assert common.sweep_options(parser.parse_args([])).precompile is None
    assert common.sweep_options(parser.parse_args(["--precompile"])).precompile is True
    assert common.sweep_options(parser.parse_args(["--no-precompile"])).precompile is False
