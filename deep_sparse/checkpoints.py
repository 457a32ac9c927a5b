"""Checkpoints of a running chunk of networks (orbax), for resuming a sweep after a crash or a kill.

Each leaf of the state is stored under its tree path (``.params[0]['w']``), never by position, beside
a small ``manifest.json`` per step: the structure fingerprint (every path with its shape and dtype),
the code version that wrote it, and the SHA-256 of every leaf's bytes. A restore refuses a checkpoint
whose structure differs from the state asked for (two same-shaped fields swapped, a field added) or
whose bytes changed on disk, naming the file; nothing is ever unpickled.

Each network's best-validation parameters (``best_params``, a copy of ``params`` at the network's best
epoch) are stored only where they differ from its current ``params``, and only when they changed
since the checkpoint before: a network that improved in its latest epoch has ``best_params ==
params`` and stores nothing more, one whose best is older stores it once, in a small orbax item
``{step}.best`` beside the step that first needed it (:class:`BestRows`). Every later step's manifest
names the item and row of each network's best parameters; an item no manifest names is removed.
A checkpoint written before this (no ``best_rows`` in its manifest) holds every leaf in its step and
is restored as such.

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
import shutil
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Optional

import jax
import numpy as np

from deep_sparse import results_io

MANIFEST = "manifest.json"
BEST_ITEM = ".best"  # ``{step}.best``: the best parameters first stored at ``step``
# the field that holds, per network, either a copy of the other field or one of its earlier values
SHADOW, ORIGINAL = "best_params.", "params."


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


def shadowed_paths(leaves: dict) -> list[str]:
    """The ``best_params`` leaves of ``leaves`` (``{path: host array}``) stored per network apart from
    the rest; none (everything in the step) unless each has its ``params`` partner of the same shape
    and dtype, with the networks on its first axis."""
    shadows = [path for path in leaves if path.startswith(SHADOW)]
    for path in shadows:
        partner = leaves.get(ORIGINAL + path[len(SHADOW):])
        leaf = leaves[path]
        if partner is None or partner.shape != leaf.shape or partner.dtype != leaf.dtype or not leaf.ndim:
            return []
    return shadows


def _row_bytes(leaf: np.ndarray) -> np.ndarray:
    """``leaf`` as ``[networks, bytes]``, compared bit for bit (NaN equals itself)."""
    return np.ascontiguousarray(leaf).view(np.uint8).reshape(leaf.shape[0], -1)


class BestRows:
    """Where each network's best parameters are stored: ``None`` where they equal its current
    parameters, else ``(item, row)`` of a ``{step}.best`` item (with the digest of the row's bytes,
    so that an unchanged best is not written again)."""

    def __init__(self):
        self.rows: dict[int, tuple[str, int, str]] = {}  # network slot -> (item, row, digest)

    @staticmethod
    def digest(leaves: dict, paths: list[str], slot: int) -> str:
        sha = hashlib.sha256()
        for path in paths:
            sha.update(_row_bytes(leaves[path])[slot].tobytes())
        return sha.hexdigest()

    def plan(self, leaves: dict, paths: list[str], item: str) -> tuple[list, list[int]]:
        """``(entries, new)`` for a save: each slot's entry (``None`` or ``[item, row]``) and the slots
        whose rows go into the new ``item``, in row order. ``self.rows`` is updated by :meth:`commit`."""
        n = leaves[paths[0]].shape[0]
        same = np.ones(n, bool)
        for path in paths:
            same &= (_row_bytes(leaves[path]) == _row_bytes(leaves[ORIGINAL + path[len(SHADOW):]])).all(axis=1)
        entries, new, self._next = [], [], {}
        for slot in map(int, np.flatnonzero(~same)):
            digest = self.digest(leaves, paths, slot)
            stored = self.rows.get(slot)
            if stored is None or stored[2] != digest:
                stored = (item, len(new), digest)
                new.append(slot)
            self._next[slot] = stored
        for slot in range(n):
            entries.append(list(self._next[slot][:2]) if slot in self._next else None)
        return entries, new

    def commit(self) -> None:
        """The planned save is on disk: its rows are the ones the next save can refer to."""
        self.rows = self._next


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
        self.items = ocp.Checkpointer(ocp.StandardCheckpointHandler())  # the best items, written in the writer thread
        self.best = BestRows()
        self._stored_items: dict = {}  # the best items the latest step's manifest names
        self.bytes_written = 0  # array bytes written by this object's saves
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
        leaves = {path: np.asarray(leaf) for path, leaf in leaf_paths(state) if leaf.size}
        shadows = shadowed_paths(leaves)
        kept = {path: leaf for path, leaf in leaves.items() if path not in shadows}
        # The manifest goes first and the older ones last, so that a kill at any point leaves the
        # latest step orbax committed with its manifest (and the best items it names).
        manifest = {"fingerprint": fingerprint(state), "code_version": self.code_version,
                    "checksums": {path: leaf_checksum(leaf) for path, leaf in kept.items()}}
        written = sum(leaf.nbytes for leaf in kept.values())
        if shadows:
            item = f"{step}{BEST_ITEM}"
            if item in self._stored_items:  # a step saved again (never by the executor): keep the item named
                item = f"{step}.{len(self._stored_items)}{BEST_ITEM}"
            entries, new = self.best.plan(leaves, shadows, item)
            manifest["best_rows"] = entries
            manifest["best_items"] = {name: self._stored_items[name]
                                      for name in {entry[0] for entry in entries if entry} if name != item}
            if new:
                rows = {path: leaves[path][new] for path in shadows}
                manifest["best_items"][item] = {"rows": len(new),
                                                "checksums": {p: leaf_checksum(x) for p, x in rows.items()}}
                self._write_item(item, rows)
                written += sum(x.nbytes for x in rows.values())
        results_io.atomic_write_json(self._manifest_path(step), manifest)
        self.manager.save(step, args=self._ocp.args.StandardSave(kept))
        self.manager.wait_until_finished()
        if shadows:
            self.best.commit()
        self._stored_items = manifest.get("best_items", {})
        self.bytes_written += written
        for name in os.listdir(self.directory):  # manifests of steps orbax has dropped, best items none names
            stale = (name.endswith(MANIFEST) and name != f"{step}.{MANIFEST}") or (
                BEST_ITEM in name and name not in self._stored_items)
            if stale:
                path = os.path.join(self.directory, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)

    def _write_item(self, item: str, rows: dict) -> None:
        path = os.path.join(self.directory, item)
        if os.path.exists(path):  # left by a run killed before its step was committed
            shutil.rmtree(path)
        self.items.save(path, args=self._ocp.args.StandardSave(rows))

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
        host = {p: x for p, x in pairs if x.size}
        shadows = shadowed_paths(host) if "best_rows" in manifest else []
        abstract = {p: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
                    for p, x in host.items() if p not in shadows}
        restored = self._restore_item(str(step), manifest["checksums"], path,
                                      lambda: self.manager.restore(step, args=self._ocp.args.StandardRestore(abstract)))
        if shadows:
            restored.update(self._restore_best(manifest, path, shadows, restored, template=host))
        treedef = jax.tree_util.tree_structure(template)
        return jax.tree_util.tree_unflatten(treedef, [restored.get(p, x) for p, x in pairs])

    def _restore_item(self, name: str, checksums: dict, manifest_path: str, read) -> dict:
        """``read()``'s leaves, each checked against ``checksums``; a failure is one line."""
        # before the restore: asyncio may report its failed reads while orbax is still raising
        _quiet_failed_restore_reads()
        try:
            restored = read()
        except Exception as error:  # noqa: BLE001 - orbax raises many kinds on damaged files
            raise CheckpointMismatch(f"{self.directory}/{name}: the checkpoint is damaged ({short_reason(error)})"
                                     + RECOMPUTE.format(directory=self.directory)) from error
        for leaf_path, leaf in restored.items():
            if leaf_checksum(leaf) != checksums.get(leaf_path):
                raise CheckpointMismatch(
                    f"{self.directory}/{name}: leaf {leaf_path} does not match its checksum in {manifest_path}: "
                    "the checkpoint changed on disk" + RECOMPUTE.format(directory=self.directory))
        return restored

    def _restore_best(self, manifest: dict, manifest_path: str, shadows: list[str], restored: dict,
                      template: dict) -> dict:
        """The ``best_params`` leaves: each network's current parameters, or its row of a best item."""
        best = {path: np.array(restored[ORIGINAL + path[len(SHADOW):]]) for path in shadows}
        items = manifest["best_items"]
        for name, stored in items.items():
            abstract = {p: jax.ShapeDtypeStruct((stored["rows"],) + best[p].shape[1:], best[p].dtype)
                        for p in shadows}
            rows = self._restore_item(name, stored["checksums"], manifest_path, lambda: self.items.restore(
                os.path.join(self.directory, name), args=self._ocp.args.StandardRestore(abstract)))
            for slot, entry in enumerate(manifest["best_rows"]):
                if entry and entry[0] == name:
                    for p in shadows:
                        best[p][slot] = np.asarray(rows[p])[entry[1]]
        self.best.rows = {slot: (entry[0], entry[1], BestRows.digest(best, shadows, slot))
                          for slot, entry in enumerate(manifest["best_rows"]) if entry}
        self._stored_items = items
        return {p: jax.device_put(x, template[p].sharding) for p, x in best.items()}

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
            self.items.close()

    def close_quietly(self) -> None:
        """:meth:`close` when another error (Ctrl-C included) is already on its way: the pending save
        is finished before the interpreter exits (an orbax write cut off at exit fails with a
        traceback and may leave its step half-written), and its own error, if any, gives way."""
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the error already raised is the one to report
            pass
