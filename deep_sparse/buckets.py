"""The buckets of a compacted chunk: the slots of its still-running networks gathered into a smaller,
fixed-size batch at a fine-tuning epoch boundary (:class:`Bucket`), the jitted gather and scatter that
move networks between a chunk's state and its bucket, and the warm-up that compiles them (and the
progress report's values) for every bucket size before the chunk first shrinks
(:func:`warm_compaction`). The :class:`~deep_sparse.executor.ChunkExecutor` drives a chunk's epochs
through them.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Optional, Sequence

import jax
import numpy as np

from deep_sparse import distributed
from deep_sparse.planner import bucket_size
from deep_sparse.progress import latest_values
from deep_sparse.train import Stage

if TYPE_CHECKING:
    from deep_sparse.executor import ChunkExecutor

# bucket sizes per doubling of a compacted chunk (planner.bucket_size): 1 (powers of two) compiles the
# fewest programs, more compute fewer idle slots (benchmarks/lean_slots.py measures both)
BUCKETS_PER_OCTAVE = 1


class Bucket:
    """The slots a chunk's epoch computes. Under vmap a stopped network's ``lax.cond`` becomes a
    select and it keeps computing until the whole chunk stops; so at each fine-tuning epoch boundary
    the still-running networks are gathered into a smaller bucket (:func:`bucket_size`) when one fits,
    and scattered back into the chunk's state before it is checkpointed or returned. Under lax.map
    stopped networks are skipped anyway, and across processes compaction is off: the bucket stays the
    whole chunk.

    The bucket depends only on which networks are still running, so a resumed chunk recomputes the
    same buckets as the run it continues (bitwise resume)."""

    def __init__(self, executor: ChunkExecutor, state, hparams, n_real: int):
        self.executor = executor
        self.full, self.full_hparams = state, hparams
        self.state, self.hparams = state, hparams
        self.slots: Optional[np.ndarray] = None  # chunk slot of each bucket slot (None: the whole chunk)
        self.n_live = n_real  # bucket slots holding distinct networks (the rest are padding)
        self.compacts = compacts(executor)

    @property
    def size(self) -> int:
        return int(self.state.stopped.shape[0])

    def shrink(self) -> bool:
        """Compact to the running networks when a smaller bucket holds them; False when none runs."""
        stopped = np.asarray(distributed.to_host(self.state.stopped))[: self.n_live]
        running = np.flatnonzero(~stopped)
        if not len(running):
            return False
        size = bucket_size(len(running), self.executor.n_devices, BUCKETS_PER_OCTAVE)
        if self.compacts and size < self.size:
            chunk_slots = running if self.slots is None else self.slots[running]
            self.full = self.full_state()
            padded = np.concatenate([chunk_slots, np.repeat(chunk_slots[-1:], size - len(chunk_slots))])
            self.state, self.hparams = _gather((self.full, self.full_hparams), padded, self.executor.network_sharding)
            self.slots, self.n_live = chunk_slots, len(chunk_slots)
        return True

    def step(self, stage: Stage) -> None:
        self.state = jax.block_until_ready(
            self.executor.call(stage.name, stage.epoch, self.state, self.hparams, donate=True))

    def full_state(self):
        """The whole chunk's state, the bucket's networks written back into their slots."""
        if self.slots is None:
            return self.state
        self.full = _scatter(self.full, self.state, self.slots, self.executor.network_sharding)
        return self.full

    def chunk_slots(self) -> Sequence[int]:
        """The chunk slot of each of the bucket's live slots."""
        return range(self.n_live) if self.slots is None else self.slots


def compacts(executor: ChunkExecutor) -> bool:
    """Whether ``executor``'s chunks are compacted as their networks stop: under vmap, in one process
    only (gathering a chunk spread over several processes' devices is not tested)."""
    return executor.batching == "vmap" and not distributed.is_multiprocess()


@functools.lru_cache(maxsize=None)
def _gather_onto(sharding):
    """``(tree, slots) -> tree's chunk slots`` with the network axis on ``sharding`` (one jitted function
    per mesh, compiled once per bucket size)."""
    return jax.jit(lambda tree, slots: jax.tree.map(lambda a: a[slots], tree), out_shardings=sharding)


@functools.lru_cache(maxsize=None)
def _scatter_onto(sharding):
    """``(full, bucket, slots) -> full`` with chunk slot ``slots[i]`` replaced by the bucket's slot ``i``;
    a slot past the chunk's end writes nothing (padding), so that the program depends on the bucket's
    size only, not on how many of its slots are live."""
    return jax.jit(lambda full, bucket, slots: jax.tree.map(lambda x, y: x.at[slots].set(y, mode="drop"),
                                                            full, bucket), out_shardings=sharding)


def _gather(tree, slots: np.ndarray, sharding):
    return _gather_onto(sharding)(tree, slots)


def _scatter(full, bucket, slots: np.ndarray, sharding):
    """``full`` with the chunk slots ``slots`` replaced by the bucket's first ``len(slots)`` slots."""
    padding = np.full(bucket.stopped.shape[0] - len(slots), full.stopped.shape[0], dtype=np.int64)
    return _scatter_onto(sharding)(full, bucket, np.concatenate([np.asarray(slots, np.int64), padding]))


def warm_compaction(executor: ChunkExecutor, stage: Stage, state, hparams, sizes: Sequence[int]) -> None:
    """Run once what an epoch runs besides the stage program: at the chunk's size the progress
    report's values, at each smaller bucket size the gather, the scatter back (writing nothing here)
    and those values, so that ``jax.jit`` compiles them now rather than when the chunk shrinks. Calling jitted
    functions from another thread while others compile is safe (the way JAX's authors suggest to
    warm its cache in parallel: jax-ml/jax issue 11788)."""
    latest_values(state, stage.name, sizes[0])
    for size in sizes[1:]:
        bucket, _ = _gather((state, hparams), np.zeros(size, np.int64), executor.network_sharding)
        _scatter(state, bucket, np.zeros(0, np.int64), executor.network_sharding)
        latest_values(bucket, stage.name, size)
