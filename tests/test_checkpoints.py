"""Chunk checkpoints (issues 12.6 and 13.4): leaves keyed by tree path, a structure fingerprint, and
checksums verified on restore; a write that fails, an interrupt during a write, damaged data; best
parameters stored once, where they differ from the current ones."""
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from deep_sparse import checkpoints, sweep
from deep_sparse.checkpoints import CheckpointMismatch, CheckpointWriteError, ChunkCheckpoint, leaf_paths
from deep_sparse.progress import Progress
from deep_sparse.store import read_results
from deep_sparse.sweep import SweepOptions
from test_sweep import CONFIG, QUIET, make_data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))


class State(NamedTuple):
    first: jnp.ndarray
    second: jnp.ndarray
    layers: list


class Swapped(NamedTuple):  # the same two same-shaped fields, declared in the other order
    second: jnp.ndarray
    first: jnp.ndarray
    layers: list


def make_state():
    return State(jnp.arange(4.0), jnp.full((4,), 7.0), [{"w": jnp.eye(3)}, jnp.zeros((0,))])


def saved(tmp_path, state):
    checkpoint = ChunkCheckpoint(str(tmp_path / "ckpt"))
    checkpoint.save(3, state)
    checkpoint.wait()  # on disk
    return checkpoint


def test_round_trip_by_path(tmp_path):
    state = make_state()
    checkpoint = saved(tmp_path, state)
    template = State(jnp.zeros(4), jnp.zeros(4), [{"w": jnp.zeros((3, 3))}, jnp.zeros((0,))])
    restored = checkpoint.restore(3, template)
    for a, b in zip(leaf_paths(restored), leaf_paths(state)):
        assert a[0] == b[0]
        np.testing.assert_array_equal(np.asarray(a[1]), np.asarray(b[1]))
    assert [p for p, _ in leaf_paths(state)] == ["first", "second", "layers.0.w", "layers.1"]


def test_reordered_same_shaped_fields_are_refused(tmp_path):
    state = make_state()
    checkpoint = saved(tmp_path, state)
    with pytest.raises(CheckpointMismatch, match="layout differs"):
        checkpoint.restore(3, Swapped(state.second, state.first, state.layers))


def test_a_flipped_byte_is_refused_naming_the_checkpoint(tmp_path):
    checkpoint = saved(tmp_path, make_state())
    checkpoint.close()
    flipped = 0
    for root, _, names in os.walk(tmp_path / "ckpt" / "3"):
        for name in names:
            path = os.path.join(root, name)
            data = bytearray(open(path, "rb").read())
            if name.endswith(".json") or len(data) < 16:
                continue
            data[len(data) // 2] ^= 0x01
            open(path, "wb").write(bytes(data))
            flipped += 1
    assert flipped
    with pytest.raises(CheckpointMismatch, match=str(tmp_path / "ckpt")):
        ChunkCheckpoint(str(tmp_path / "ckpt")).restore(3, make_state())


def test_a_checkpoint_without_manifest_is_refused(tmp_path):
    checkpoint = saved(tmp_path, make_state())
    os.remove(tmp_path / "ckpt" / "3.manifest.json")
    with pytest.raises(CheckpointMismatch, match="missing"):
        checkpoint.restore(3, make_state())


def test_a_save_is_written_in_the_background_from_a_host_copy(tmp_path, monkeypatch):
    # save() copies the state and returns; the writer thread writes it while the caller goes on
    # (and may overwrite the device buffers, as a donated epoch does); wait() makes it durable.
    release = threading.Event()
    checkpoint = ChunkCheckpoint(str(tmp_path / "ckpt"))
    real_write = checkpoint._write

    def slow_write(step, state):
        release.wait(timeout=30)
        real_write(step, state)

    monkeypatch.setattr(checkpoint, "_write", slow_write)
    state = make_state()
    host = np.asarray(state.first).copy()
    checkpoint.save(3, state)
    assert not os.path.exists(tmp_path / "ckpt" / "3")  # not written yet: save() did not wait
    release.set()
    assert checkpoint.latest_step() == 3  # waits for the pending write
    restored = checkpoint.restore(3, make_state())
    np.testing.assert_array_equal(np.asarray(restored.first), host)
    checkpoint.close()


def test_a_failed_background_write_is_raised_at_the_next_call(tmp_path, monkeypatch):
    checkpoint = ChunkCheckpoint(str(tmp_path / "ckpt"))

    def broken(step, state):
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint, "_write", broken)
    checkpoint.save(1, make_state())
    with pytest.raises(OSError, match="No space left"):
        checkpoint.close()


def flip_array_data(step_dir) -> int:
    """Flip one byte in each of orbax's array data files (``d/`` folders) under ``step_dir``."""
    flipped = 0
    for root, _, names in os.walk(step_dir):
        for name in names:
            path = os.path.join(root, name)
            data = bytearray(open(path, "rb").read())
            if os.path.basename(root) != "d" or len(data) < 16:
                continue
            data[len(data) // 2] ^= 0x01
            open(path, "wb").write(bytes(data))
            flipped += 1
    return flipped


def test_damaged_array_data_is_one_line_with_the_way_out(tmp_path):
    saved(tmp_path, make_state()).close()
    assert flip_array_data(tmp_path / "ckpt" / "3")
    with pytest.raises(CheckpointMismatch) as refused:
        ChunkCheckpoint(str(tmp_path / "ckpt")).restore(3, make_state())
    message = str(refused.value)
    # orbax's reason comes with a page of tensorstore JSON: the line keeps its first words only
    assert "\n" not in message and "tensorstore_spec" not in message
    assert len(message.replace(str(tmp_path / "ckpt"), "")) < 450
    assert message.startswith(f"{tmp_path / 'ckpt'}/3: the checkpoint is damaged (ValueError: DATA_LOSS")
    assert f"delete {tmp_path / 'ckpt'} and resume (--resume)" in message and "nothing else is lost" in message


DAMAGED_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_checkpoints import flip_array_data, make_state
    from deep_sparse.checkpoints import CheckpointMismatch, ChunkCheckpoint

    folder = sys.argv[1]
    checkpoint = ChunkCheckpoint(folder)
    checkpoint.save(3, make_state())
    checkpoint.close()
    flip_array_data(folder + "/3")
    for _ in range(8):  # the stray callbacks come at random moments: try several restores
        try:
            ChunkCheckpoint(folder).restore(3, make_state())
        except CheckpointMismatch as error:
            print(error)
    time.sleep(0.5)  # for the reads still under way
""").format(tests=TESTS)


def test_a_damaged_checkpoint_prints_no_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", DAMAGED_SCRIPT, str(tmp_path / "ckpt")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("the checkpoint is damaged") == 8
    assert "Traceback" not in done.stderr and "Event loop is closed" not in done.stderr, done.stderr[-2000:]


# what orbax raises when the disk fills up during a write (seen on a small tmpfs)
DISK_FULL = ValueError('RESOURCE_EXHAUSTED: Error writing "best_params.0.b/0.0" in OCDBT database at local file '
                       '"/mnt/small/out/checkpoints/x/2/default/": [tensorstore_spec=\'{"driver":"zarr"}\']')


def test_a_full_disk_is_one_line_with_the_space_needed_and_earlier_results_stay(tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_save = ocp.CheckpointManager.save

    def fills_up(self, step, *args, **kwargs):  # the second chunk's second epoch finds the disk full
        if "00001-00001" in str(self.directory) and step == 2:
            raise DISK_FULL
        return real_save(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", fills_up)
    with pytest.raises(CheckpointWriteError) as full:
        sweep.run(CONFIG, {"lr": [0.1, 0.03]}, str(out), make_data(), options=SweepOptions(chunk_size=1, **QUIET))
    message = str(full.value)
    assert "\n" not in message and "tensorstore_spec" not in message
    assert message.startswith(f"{out / 'checkpoints' / 'group000_networks_00001-00001'}: the disk is full")
    assert "free at least" in message and "MiB" in message and "resume (--resume)" in message
    # what was finished before stays: the first chunk's rows, and the second chunk's epoch-1 checkpoint
    assert (out / "chunks" / "group000_networks_00000-00000.json").exists()
    assert len(read_results(str(out))) == 1
    assert ChunkCheckpoint(str(out / "checkpoints" / "group000_networks_00001-00001")).latest_step() == 1


def mounted_tmpfs(folder, size: str) -> bool:
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    return done.returncode == 0


def test_a_real_full_disk_is_one_line_without_orbax_traceback(tmp_path, caplog):
    small = tmp_path / "small"
    if not mounted_tmpfs(small, "400k"):  # needs root (or CAP_SYS_ADMIN)
        pytest.skip("cannot mount a small tmpfs here")
    try:
        with pytest.raises(CheckpointWriteError) as full:  # 0.5 MiB per checkpoint: the first does not fit
            sweep.run(CONFIG.replace(hidden_sizes=(256, 256)), {"lr": [0.1]}, str(small / "out"), make_data(),
                      options=SweepOptions(chunk_size=1, **QUIET))
    finally:
        subprocess.run(["umount", str(small)])
    assert "the disk is full" in str(full.value) and "free at least" in str(full.value)
    # orbax logs its writer thread's error, traceback included, before raising it
    assert not [record.getMessage()[:80] for record in caplog.records if record.levelno >= logging.ERROR]


def test_the_space_asked_for_is_two_checkpoints_of_the_state(tmp_path, monkeypatch):
    checkpoint = ChunkCheckpoint(str(tmp_path / "ckpt"))
    monkeypatch.setattr(checkpoint.manager, "save", lambda *args, **kwargs: (_ for _ in ()).throw(DISK_FULL))
    state = {"w": np.zeros((512, 1024), np.float32)}  # 2 MiB
    checkpoint.save(1, state)
    with pytest.raises(CheckpointWriteError, match=r"free at least 4\.0 MiB there \(two checkpoints of 2\.0 MiB"):
        checkpoint.close()


INTERRUPT_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    sys.path.insert(0, {tests!r})
    from test_sweep import CONFIG, make_data
    from deep_sparse import checkpoints, sweep
    from deep_sparse.checkpoints import ChunkCheckpoint
    from sweeps import common

    point, out = sys.argv[1], sys.argv[2]
    writing = []  # the step the writer thread is on
    fired = []  # one interrupt per run (orbax's close calls wait_until_finished again)

    def interrupt(where, step):
        # the save of epoch 2 is interrupted at ``point``; the writer then goes on a while, as a large
        # checkpoint's would, so that an exit that does not wait for it cuts it off
        if where == point and step == 2 and not fired:
            fired.append(where)
            os.kill(os.getpid(), signal.SIGINT)
            if where != "main thread":
                time.sleep(0.5)

    real_save, real_write, real_init = ChunkCheckpoint.save, ChunkCheckpoint._write, ChunkCheckpoint.__init__

    def save(self, step, state):
        real_save(self, step, state)
        interrupt("main thread", step)

    def write(self, step, state):
        writing.append(step)
        interrupt("before the manifest", step)
        real_write(self, step, state)

    def init(self, directory):
        real_init(self, directory)
        manager_save, finish = self.manager.save, self.manager.wait_until_finished

        def in_save(*args, **kwargs):
            interrupt("in orbax's save", writing[-1])
            return manager_save(*args, **kwargs)

        def after_save(*args, **kwargs):
            interrupt("after orbax's save", writing[-1])
            return finish(*args, **kwargs)

        self.manager.save, self.manager.wait_until_finished = in_save, after_save

    ChunkCheckpoint.save, ChunkCheckpoint._write, ChunkCheckpoint.__init__ = save, write, init

    def main(argv):
        sweep.run(CONFIG.replace(epochs=6), {{"lr": [0.1]}}, out, make_data(),
                  options=sweep.SweepOptions(chunk_size=1, progress=False, log=lambda message: None))
        return 0
    main.__module__ = "interrupt_test"
    sys.exit(common.cli(main, ["--out", out]))
""").format(tests=TESTS)
INTERRUPT_POINTS = ("main thread", "before the manifest", "in orbax's save", "after orbax's save")


def test_ctrl_c_during_a_checkpoint_write_says_how_to_resume_and_leaves_it_complete_or_absent(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # the last run starts with SIGINT ignored, as a shell script's background job inherits it: the
    # command still stops cleanly on it
    for index, (point, ignored) in enumerate([(p, False) for p in INTERRUPT_POINTS] + [("main thread", True)]):
        out = tmp_path / f"out{index}"
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN if ignored else signal.default_int_handler)
        try:
            done = subprocess.run([sys.executable, "-c", INTERRUPT_SCRIPT, point, str(out)], env=env,
                                  capture_output=True, text=True, timeout=300)
        finally:
            signal.signal(signal.SIGINT, handler)
        said = done.stdout + done.stderr
        assert done.returncode == 130, f"{point}: {said}"
        assert "interrupted:" in said and "--resume" in said, f"{point}: {said}"
        assert "Traceback" not in said and "cannot schedule" not in said, f"{point}: {said}"
        folder = out / "checkpoints" / "group000_networks_00000-00000"
        names = os.listdir(folder)
        assert not [n for n in names if "tmp" in n], f"{point}: a half-written step is left: {names}"
        # each step with its manifest and each manifest with its step: the save under way was finished
        steps = sorted(int(n) for n in names if n.isdigit())
        manifests = sorted(int(n.split(".")[0]) for n in names if n.endswith(".manifest.json"))
        assert steps and steps == manifests, f"{point}: {names}"
        checkpoint = ChunkCheckpoint(str(folder))
        assert checkpoint.latest_step() in (1, 2), point
        checkpoint.close()


# ------------------------------------------------------------- best parameters stored where they differ
class Networks(NamedTuple):  # the fields of a chunk's state that lean checkpoints treat apart
    params: list
    best_params: list
    epoch: jnp.ndarray


def networks_state(params, best, epoch):
    return Networks([{"w": jnp.asarray(params)}], [{"w": jnp.asarray(best)}], jnp.asarray(epoch))


def assert_bitwise(restored, state):
    for (path, a), (_, b) in zip(leaf_paths(restored), leaf_paths(state)):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), path


def best_items(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".best"))


def test_best_parameters_are_stored_once_where_they_differ_and_restore_bitwise(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "ckpt"
    checkpoint = ChunkCheckpoint(str(folder))
    params = rng.normal(size=(4, 5, 3)).astype(np.float32)
    row_bytes = params[0].nbytes
    # epoch 1: every network improved (best == params): the step alone
    checkpoint.save(1, networks_state(params, params, 1))
    checkpoint.wait()
    assert checkpoint.bytes_written == params.nbytes + 4 and best_items(folder) == []
    # epoch 2: networks 1 and 3 did not improve (their best is epoch 1's); network 3's best is NaN
    best = params.copy()
    best[3] = np.nan
    params = params + 1
    best[0], best[2] = params[0], params[2]
    state2 = networks_state(params, best, 2)
    checkpoint.save(2, state2)
    checkpoint.wait()
    assert checkpoint.bytes_written == 2 * (params.nbytes + 4) + 2 * row_bytes and best_items(folder) == ["2.best"]
    # epoch 3: the same bests are not written again; network 0 stops improving
    best[0] = params[0]
    params = params + 1
    best[2] = params[2]
    state3 = networks_state(params, best, 3)
    checkpoint.save(3, state3)
    checkpoint.close()
    assert checkpoint.bytes_written == 3 * (params.nbytes + 4) + 3 * row_bytes
    assert best_items(folder) == ["2.best", "3.best"]
    manifest = json.load(open(folder / "3.manifest.json"))
    assert manifest["best_rows"] == [["3.best", 0], ["2.best", 0], None, ["2.best", 1]]
    template = networks_state(np.zeros((4, 5, 3), np.float32), np.zeros((4, 5, 3), np.float32), 0)
    resumed = ChunkCheckpoint(str(folder))
    assert_bitwise(resumed.restore(3, template), state3)
    # a resumed chunk refers to the items it restored: network 1 improves, nothing else changes
    best[1] = params[1] + 1
    params = params + 1
    best[2] = params[2]
    state4 = networks_state(params, best, 4)
    resumed.save(4, state4)
    resumed.close()
    assert resumed.bytes_written == params.nbytes + 4 and best_items(folder) == ["2.best", "3.best"]
    best[1] = params[1]  # stored as network 1's current parameters
    assert_bitwise(ChunkCheckpoint(str(folder)).restore(4, template), state4)


def test_a_checkpoint_of_the_older_form_is_restored(tmp_path, monkeypatch):
    # written before best parameters were stored apart: every leaf in the step, no best_rows
    rng = np.random.default_rng(1)
    params = rng.normal(size=(3, 4)).astype(np.float32)
    state = networks_state(params, params[::-1].copy(), 5)
    monkeypatch.setattr(checkpoints, "shadowed_paths", lambda leaves: [])
    written = ChunkCheckpoint(str(tmp_path / "ckpt"))
    written.save(5, state)
    written.close()
    monkeypatch.undo()
    assert "best_rows" not in json.load(open(tmp_path / "ckpt" / "5.manifest.json"))
    template = networks_state(np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float32), 0)
    assert_bitwise(ChunkCheckpoint(str(tmp_path / "ckpt")).restore(5, template), state)


@pytest.mark.parametrize("damage", ["flipped", "removed"])
def test_a_damaged_best_item_is_one_line_with_the_way_out(tmp_path, damage):
    params = np.arange(12, dtype=np.float32).reshape(3, 4)
    checkpoint = ChunkCheckpoint(str(tmp_path / "ckpt"))
    checkpoint.save(2, networks_state(params, params - 1, 2))
    checkpoint.close()
    item = tmp_path / "ckpt" / "2.best"
    if damage == "flipped":
        assert flip_array_data(item)
    else:
        shutil.rmtree(item)
    template = networks_state(np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float32), 0)
    with pytest.raises(CheckpointMismatch) as refused:
        ChunkCheckpoint(str(tmp_path / "ckpt")).restore(2, template)
    message = str(refused.value)
    assert "\n" not in message and "tensorstore_spec" not in message
    assert message.startswith(f"{item}: ") and f"delete {tmp_path / 'ckpt'} and resume (--resume)" in message


def test_a_chunk_interrupted_with_best_parameters_apart_resumes_bitwise(tmp_path, monkeypatch):
    # four networks, early stopping under vmap (compacted buckets): at the interruption some networks'
    # best parameters are older than their current ones, so the checkpoint holds best items
    config = CONFIG.replace(epochs=8, patience=2)
    grid = {"lr": [0.3, 0.01], "seed": [0, 1]}
    options = dict(chunk_size=4, batching="vmap", **QUIET)
    reference = sweep.run(config, grid, str(tmp_path / "reference"), make_data(),
                          options=sweep.SweepOptions(checkpoint_every=0, **options))
    real_epoch = Progress.epoch

    def interrupted(self, summary):
        if "finetune epoch 6:" in summary:
            raise KeyboardInterrupt
        real_epoch(self, summary)

    monkeypatch.setattr(Progress, "epoch", interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        sweep.run(config, grid, str(out), make_data(), options=sweep.SweepOptions(**options))
    monkeypatch.undo()
    folder = out / "checkpoints" / "group000_networks_00000-00003"
    manifest = json.load(open(folder / "5.manifest.json"))
    assert any(manifest["best_rows"]) and best_items(folder)
    assert any(math.isnan(value) for row in reference for value in row["curves"]["valid_error"])  # stopped early
    resumed = sweep.run(config, grid, str(out), make_data(), options=sweep.SweepOptions(resume=True, **options))
    # as JSON: the curves of networks that stopped end in NaN, equal to themselves there
    assert json.dumps(resumed) == json.dumps(reference)
