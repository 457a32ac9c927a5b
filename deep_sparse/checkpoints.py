"""Checkpoints of a running chunk of networks (orbax), for resuming a sweep after a crash or a kill.

Each leaf of the state is stored under its tree path (``.params[0]['w']``), never by position, beside
a small ``manifest.json`` per step: the structure fingerprint (every path with its shape and dtype),
the code version that wrote it, and the SHA-256 of every leaf's bytes. A restore refuses a checkpoint
whose structure differs from the state asked for (two same-shaped fields swapped, a field added) or
whose bytes changed on disk, naming the file; nothing is ever unpickled.

Saving is asynchronous: :meth:`ChunkCheckpoint.save` copies the state to host memory (the device
buffers are donated to the next epoch) and returns; a writer thread hashes and writes it while the
next epoch computes. At most one save is pending: the next save, a restore or :meth:`close` waits
for it, and a failed write is raised there as one line (:class:`CheckpointWriteError`: for a full
disk, the space two checkpoints need). A damaged checkpoint is refused in one line that says the way
out (delete it and resume; the finished chunks are kept).
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Optional

import jax
import numpy as np

from deep_sparse import results_io

MANIFEST = "manifest.json"


class CheckpointMismatch(ValueError):
    """A checkpoint that does not belong to the state being restored, or whose bytes changed."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (e.g. the disk is full); the message is one line."""


# the way out of a damaged checkpoint, said in every refusal
RECOMPUTE = ("; delete {directory} and resume (--resume): that chunk restarts from its first epoch, the finished "
             "chunks recorded under chunks/ are kept and nothing else is lost")
DISK_FULL_MARKERS = ("RESOURCE_EXHAUSTED", "No space left on device")


def short_reason(error: BaseException, limit: int = 200) -> str:
    """``Type: message`` on one line, cut before orbax's tensorstore spec (a page of JSON) and at
    ``limit`` characters."""
    text = " ".join(str(error).split(" [tensorstore_spec")[0].split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(error).__name__}: {text}"


def is_disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    return any(marker in str(error) for marker in DISK_FULL_MARKERS)


def write_failure(directory: str, step: int, state_bytes: int, error: BaseException) -> CheckpointWriteError:
    """The one line said when the checkpoint of ``step`` could not be written in ``directory``."""
    saved = "the finished chunks under chunks/ and the chunk's earlier checkpoint are kept"
    if is_disk_full(error):
        # orbax writes the new step before it removes the old one: two checkpoints at once
        needed = 2 * state_bytes
        return CheckpointWriteError(
            f"{directory}: the disk is full: the checkpoint of epoch {step} could not be written "
            f"({short_reason(error, 120)}); free at least {needed / 2**20:.1f} MiB there (two checkpoints of "
            f"{state_bytes / 2**20:.1f} MiB each while one replaces the other) and resume (--resume); {saved}")
    return CheckpointWriteError(
        f"{directory}: the checkpoint of epoch {step} could not be "
        f"written ({short_reason(error)}); resume (--resume) once the folder is writable; {saved}")


class _OrbaxThreadErrors(logging.Filter):
    """Drops orbax's log record of an error in one of its writer threads (a traceback on stderr): orbax
    raises the same error to :meth:`ChunkCheckpoint._write`, which reports it as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "_SignalingThread.run() raised an exception" not in record.getMessage()


_ORBAX_THREAD_ERRORS = _OrbaxThreadErrors()


class _FailedRestoreTasks(logging.Filter):
    """Drops asyncio's "Task exception was never retrieved" record (a traceback on stderr) of orbax's
    other reads of a restore that already failed: that failure is reported as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.getMessage().startswith("Task exception was never retrieved")
                    and "async_deserialize" in record.getMessage())


_FAILED_RESTORE_TASKS = _FailedRestoreTasks()


def _quiet_failed_restore_reads() -> None:
    """Leaves unsaid what a failed restore's other reads print around the one line that says what
    happened: asyncio's "Task exception was never retrieved" record (logged when a read's task is
    collected, which can be while orbax is still raising) and ``RuntimeError: Event loop is closed``
    (through ``sys.unraisablehook``, once orbax has closed its loop). Other records and errors pass."""
    logging.getLogger("asyncio").addFilter(_FAILED_RESTORE_TASKS)  # a filter is added at most once
    previous = sys.unraisablehook
    if getattr(previous, "ignores_closed_loop_callbacks", False):
        return

    def hook(unraisable) -> None:
        error = unraisable.exc_value
        if not (isinstance(error, RuntimeError) and str(error) == "Event loop is closed"):
            previous(unraisable)

    hook.ignores_closed_loop_callbacks = True
    sys.unraisablehook = hook


def _path_name(path) -> str:
    """``params.0.w`` for the tree path ``.params[0]['w']`` (a name orbax can store as a key)."""
    parts = []
    for entry in path:
        for attribute in ("name", "key", "idx"):
            if hasattr(entry, attribute):
                parts.append(str(getattr(entry, attribute)))
                break
        else:
            parts.append(str(entry))
    return ".".join(parts)


def leaf_paths(tree) -> list[tuple[str, object]]:
    """``[(path name, leaf)]`` of ``tree`` in its flattening order."""
    return [(_path_name(path), leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]]


def fingerprint(tree) -> str:
    """SHA-256 of every leaf's path, shape and dtype: equal exactly when two states have the same layout."""
    layout = [(path, list(leaf.shape), str(leaf.dtype)) for path, leaf in leaf_paths(tree)]
    return hashlib.sha256(json.dumps(layout).encode()).hexdigest()


def leaf_checksum(leaf) -> str:
    return hashlib.sha256(np.ascontiguousarray(jax.device_get(leaf)).tobytes()).hexdigest()


class ChunkCheckpoint:
    """Orbax checkpoints of one chunk's state; the step is the number of epochs done in the chunk."""

    def __init__(self, directory: str):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        logging.getLogger("absl").addFilter(_ORBAX_THREAD_ERRORS)  # once: a filter is added at most once
        self.directory = os.path.abspath(directory)
        self.code_version = results_io.git_commit()
        self.manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=1, enable_async_checkpointing=False),
        )
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deep-sparse-checkpoint")
        self._pending: Optional[Future] = None
        self._closed = False

    def latest_step(self) -> Optional[int]:
        self.wait()
        return self.manager.latest_step()

    def wait(self) -> None:
        """Block until the pending save (if any) is on disk; raise its error if it failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _manifest_path(self, step: int) -> str:
        return os.path.join(self.directory, f"{step}.{MANIFEST}")

    # Orbax refuses zero-size arrays (e.g. the pre-training curves of a run without pre-training);
    # those are taken from the template on restore.
    def save(self, step: int, state) -> None:
        """Copy ``state`` to host memory now and write it in the background (see the module docstring)."""
        self.wait()
        host = jax.device_get(state)
        self._pending = self._writer.submit(self._write, step, host)

    def _write(self, step: int, state) -> None:
        try:
            self._write_step(step, state)
        except Exception as error:  # noqa: BLE001 - orbax raises ValueError for an I/O failure
            state_bytes = sum(np.asarray(leaf).nbytes for leaf in jax.tree.leaves(state))
            raise write_failure(self.directory, step, state_bytes, error) from error

    def _write_step(self, step: int, state) -> None:
        leaves = [(path, leaf) for path, leaf in leaf_paths(state) if leaf.size]
        # The manifest goes first and the older ones last, so that a kill at any point leaves the
        # latest step orbax committed with its manifest.
        manifest = {"fingerprint": fingerprint(state), "code_version": self.code_version,
                    "checksums": {path: leaf_checksum(leaf) for path, leaf in leaves}}
        results_io.atomic_write_json(self._manifest_path(step), manifest)
        self.manager.save(step, args=self._ocp.args.StandardSave(dict(leaves)))
        self.manager.wait_until_finished()
        for name in os.listdir(self.directory):  # manifests of steps orbax has dropped
            if name.endswith(MANIFEST) and name != f"{step}.{MANIFEST}":
                os.remove(os.path.join(self.directory, name))

    def restore(self, step: int, template):
        """The state saved at ``step``, laid out as ``template``; :class:`CheckpointMismatch` if it
        was written for another layout or its bytes changed since."""
        self.wait()
        path = self._manifest_path(step)
        if not os.path.exists(path):
            raise CheckpointMismatch(f"{path}: missing: the checkpoint in {self.directory} was written by an older "
                                     "version or not finished" + RECOMPUTE.format(directory=self.directory))
        manifest = results_io.read_json(path)
        if manifest.get("fingerprint") != fingerprint(template):
            raise CheckpointMismatch(
                f"{path}: the checkpoint's state layout differs from this code's (written by code version "
                f"{manifest.get('code_version')})" + RECOMPUTE.format(directory=self.directory))
        pairs = leaf_paths(template)
        abstract = {p: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding) for p, x in pairs if x.size}
        # before the restore: asyncio may report its failed reads while orbax is still raising
        _quiet_failed_restore_reads()
        try:
            restored = self.manager.restore(step, args=self._ocp.args.StandardRestore(abstract))
        except Exception as error:  # noqa: BLE001 - orbax raises many kinds on damaged files
            raise CheckpointMismatch(f"{self.directory}/{step}: the checkpoint is damaged ({short_reason(error)})"
                                     + RECOMPUTE.format(directory=self.directory)) from error
        for leaf_path, leaf in restored.items():
            if leaf_checksum(leaf) != manifest["checksums"].get(leaf_path):
                raise CheckpointMismatch(
                    f"{self.directory}/{step}: leaf {leaf_path} does not match its checksum in {path}: the "
                    "checkpoint changed on disk" + RECOMPUTE.format(directory=self.directory))
        treedef = jax.tree_util.tree_structure(template)
        return jax.tree_util.tree_unflatten(treedef, [restored.get(p, x) for p, x in pairs])

    def close(self) -> None:
        """Finish the pending save, then release orbax's resources (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.wait()
        finally:
            self._writer.shutdown(wait=True)
            self.manager.close()

    def close_quietly(self) -> None:
        """:meth:`close` when another error (Ctrl-C included) is already on its way: the pending save
        is finished before the interpreter exits (an orbax write cut off at exit fails with a
        traceback and may leave its step half-written), and its own error, if any, gives way."""
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the error already raised is the one to report
            pass
