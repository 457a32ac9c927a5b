"""Chunk checkpoints (issues 12.6 and 13.4): leaves keyed by tree path, a structure fingerprint, and
checksums verified on restore."""
import os
import threading
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import pytest

from deep_sparse.checkpoints import CheckpointMismatch, ChunkCheckpoint, leaf_paths


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
