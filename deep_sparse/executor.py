"""Runs chunks of one group's networks: the one place where the compiled program is assembled (a
:class:`~deep_sparse.train.Train`'s functions batched over a chunk, sharded over the mesh) and where
a chunk's epochs are driven (checkpoints, the deadline, compaction). It owns no file (the store
does) and makes no plan (the planner does).
"""
from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from deep_sparse import buckets, distributed, portable
from deep_sparse.checkpoints import ChunkCheckpoint
from deep_sparse.config import HPARAM_NAMES, Hparams
from deep_sparse.devices import (
    MEMORY_HEADROOM, available_memory_bytes, batch_over_networks, compiled_memory_bytes, resolve_batching,
)
from deep_sparse.names import DeadlineReached
from deep_sparse.planner import Network, bucket_sizes
from deep_sparse.progress import Progress
from deep_sparse.train import Data, Stage, Train


@dataclasses.dataclass(frozen=True)
class ChunkPolicy:
    """How a chunk's epochs are driven.

    checkpoint_every: checkpoint every this many epochs (0: never, but at a deadline).
    checkpoint_seconds: and at least this many seconds after the previous checkpoint (0: no minimum).
    deadline: a ``time.time()`` value; stop at the first epoch boundary after which the chunk could not
        finish in time (its worst case: every remaining epoch run, at :func:`remaining_seconds`).
    resume: continue from the chunk's latest checkpoint, if any.
    save_last: checkpoint the last epoch whatever the interval (a finished stack of pre-trained layers
        is kept as its last checkpoint).
    precompile: when fine-tuning starts, compile its epoch for every bucket size the chunk can be
        compacted to, and its finalization, side by side (:meth:`ChunkExecutor.precompile`; the
        sweep's default: :func:`deep_sparse.devices.resolve_precompile`).
    """

    checkpoint_every: int = 1
    checkpoint_seconds: float = 0.0
    deadline: Optional[float] = None
    resume: bool = False
    save_last: bool = False
    precompile: bool = False

    def wants_checkpoints(self) -> bool:
        return bool(self.checkpoint_every) or self.deadline is not None or self.save_last


# epochs the plan looks back on: enough for a median that one slow epoch does not move, few enough
# to follow a machine whose speed changes
RECENT_EPOCHS = 9


def epoch_speed(epoch_seconds: list[float]) -> float:
    """Seconds per epoch to plan with: the median of the chunk's recent epochs after its first (which
    pays one-time costs, measured at 2x the others on a CPU) when there are any, else the first. A
    median, not the mean or the latest: on a shared machine one slow epoch (another process, a
    compilation when a chunk shrinks) says little about the next ones."""
    later = epoch_seconds[1:][-RECENT_EPOCHS:] or epoch_seconds
    return float(np.median(later))


def remaining_seconds(epoch_seconds: list[float], epochs_left: int) -> float:
    """Seconds the chunk's ``epochs_left`` epochs may take at most, as planned: the next one as slow as
    the slowest recent epoch, every later one at :func:`epoch_speed`. One slow epoch so adds its own
    excess once, where a plan at its speed would have counted it for every epoch left; and a
    deadline is never crossed by the next epoch alone while it is as slow as one just seen."""
    if epochs_left <= 0:
        return 0.0
    slowest = max(epoch_seconds[1:][-RECENT_EPOCHS:] or epoch_seconds)
    return slowest + (epochs_left - 1) * epoch_speed(epoch_seconds)


# a stage program to compile: (name, function, (state, hparams, data), donate), as ChunkExecutor.compiled takes it
Program = tuple[str, Callable, tuple, bool]

# compiled once per state layout, not once per chunk
_also_stopped = jax.jit(lambda state, stopped: state._replace(stopped=state.stopped | stopped))


class ChunkExecutor:
    """The compiled, sharded, batched functions of one group's :class:`Train`, and the loop that
    drives a chunk of its networks through them."""

    def __init__(self, train: Train, data: Data, mesh: Mesh, batching: str = "auto"):
        self.train = train
        self.mesh = mesh
        self.batching = resolve_batching(batching, mesh)
        self.n_devices = mesh.devices.size
        self.network_epochs = 0  # trained network-epochs (every slot of a chunk, stopped or not)
        self.train_seconds = 0.0
        self.compile_seconds = 0.0  # wall time: programs compiled side by side count once
        self.programs_compiled = 0
        self.network_sharding = NamedSharding(mesh, PartitionSpec("networks"))
        self.data = jax.device_put(data, NamedSharding(mesh, PartitionSpec()))
        self._compiled: dict = {}

    # ----------------------------------------------------------------- the compiled program
    def compiled(self, name: str, function: Callable, *args, donate: bool = False):
        """``function(state, hparams, data)`` batched over the chunk, jitted and compiled for ``args``'
        shapes (cached); ``donate``: the state's buffers are reused for the output (an epoch's state
        in, the next epoch's out: half the chunk's state memory)."""
        cache_key = _cache_key(name, args, donate)
        if cache_key not in self._compiled:
            start = time.perf_counter()
            self._compiled[cache_key] = self._jitted(function, donate).lower(*args).compile()
            self.compile_seconds += time.perf_counter() - start
            self.programs_compiled += 1
        return self._compiled[cache_key]

    def _jitted(self, function: Callable, donate: bool):
        batched = batch_over_networks(function, self.mesh, self.batching)
        # Every output has the network axis first (vmap broadcasts unbatched ones): pin it to the
        # mesh, or XLA may hand back replicated constants (e.g. zero biases from init) that the
        # next compiled stage, built for network-sharded inputs, refuses.
        return jax.jit(batched, out_shardings=self.network_sharding, donate_argnums=(0,) if donate else ())

    def precompile(self, programs: Sequence[Program]) -> None:
        """Compile those of ``programs`` not cached yet side by side, into the cache :meth:`compiled`
        reads. Each is lowered (traced, in Python) here, one after another, and compiled in a thread:
        XLA releases the GIL while it compiles, and JAX's authors advise exactly this split, "you will
        want to multithread the calls to ``compile()``; there isn't much to gain from multithreading
        the ``lower()`` part due to Python GIL contention" (jax-ml/jax issue 11788). Lowering on one
        thread also keeps clear of the crash reported for lowering, printing and compiling in many
        threads at once (jax-ml/jax issue 32354, closed)."""
        todo = {}
        for name, function, args, donate in programs:
            cache_key = _cache_key(name, args, donate)
            if cache_key not in self._compiled:
                todo.setdefault(cache_key, (function, args, donate))
        if not todo:
            return
        start = time.perf_counter()
        lowered = [self._jitted(function, donate).lower(*args) for function, args, donate in todo.values()]
        with ThreadPoolExecutor(max_workers=min(len(lowered), os.cpu_count() or 1)) as pool:
            self._compiled.update(zip(todo, pool.map(lambda program: program.compile(), lowered)))
        self.compile_seconds += time.perf_counter() - start
        self.programs_compiled += len(lowered)

    def bucket_programs(self, stage: Stage, state, hparams, n_real: int) -> list[Program]:
        """What a chunk of ``n_real`` networks in ``state``'s slots runs from the start of its
        fine-tuning ``stage`` on, as shapes for :meth:`precompile`: the epoch at the chunk's size and
        at every smaller size it can be compacted to (:func:`~deep_sparse.planner.bucket_sizes`), and
        ``Train.finalize`` at the chunk's size."""
        size = int(state.stopped.shape[0])
        sizes = (bucket_sizes(n_real, size, self.n_devices, buckets.BUCKETS_PER_OCTAVE) if buckets.compacts(self)
                 else [size])
        programs = [(stage.name, stage.epoch, self._shapes(state, hparams, s), True) for s in sizes]
        return programs + [("finalize", self.train.finalize, self._shapes(state, hparams, size), False)]

    def _precompile_chunk(self, stage: Stage, state, hparams, n_real: int) -> None:
        """The chunk's :meth:`bucket_programs` compiled side by side, and the small programs that
        compact it warmed meanwhile (:func:`~deep_sparse.buckets.warm_compaction`)."""
        programs = self.bucket_programs(stage, state, hparams, n_real)
        # a chunk that never compacts has one size, nothing to warm (and across processes the report's
        # transfer is a collective, kept on the main thread)
        if not buckets.compacts(self):
            self.precompile(programs)
            return
        sizes = [args[0].stopped.shape[0] for name, _, args, _ in programs if name == stage.name]
        with ThreadPoolExecutor(max_workers=1) as warming:
            warmed = warming.submit(buckets.warm_compaction, self, stage, state, hparams, sizes)
            self.precompile(programs)
            warmed.result()

    def _shapes(self, state, hparams, size: int) -> tuple:
        """A program's arguments for ``size`` networks: the state's and hyperparameters' shapes on the
        mesh (as ``ShapeDtypeStruct``), and the data."""
        def resized(x):
            return jax.ShapeDtypeStruct((size,) + x.shape[1:], x.dtype, sharding=self.network_sharding,
                                        weak_type=getattr(x, "weak_type", False))
        return jax.tree.map(resized, state), jax.tree.map(resized, hparams), self.data

    def call(self, name: str, function: Callable, state, hparams, donate: bool = False):
        return self.compiled(name, function, state, hparams, self.data, donate=donate)(state, hparams, self.data)

    def shard(self, networks: Sequence[Network], size: int):
        """The chunk's PRNG keys and stacked hyperparameters, padded to ``size`` with copies of its last
        network, on the mesh."""
        padded = list(networks) + [networks[-1]] * (size - len(networks))
        keys = np.stack([np.asarray(jax.random.PRNGKey(n.seed)) for n in padded])
        hparams = Hparams(*(np.asarray([getattr(n.hparams, f) for n in padded], np.float32) for f in HPARAM_NAMES))
        return jax.device_put((keys, hparams), self.network_sharding)

    def memory_bytes(self, networks: Sequence[Network], size: int) -> Optional[int]:
        """Peak bytes per device XLA plans for a fine-tuning epoch of ``size`` networks."""
        keys, hparams = self.shard(networks[:size], size)
        state = jax.eval_shape(jax.vmap(self.train.init, in_axes=(0, 0, None)), keys, hparams, self.data)
        state = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=self.network_sharding), state)
        stage = self.train.finetune
        return compiled_memory_bytes(self.compiled(stage.name, stage.epoch, state, hparams, self.data, donate=True))

    # ----------------------------------------------------------------- a chunk's states
    def initial_state(self, networks: Sequence[Network], size: int):
        """Fresh networks (``Train.init``), padding slots stopped from the start."""
        keys, hparams = self.shard(networks, size)
        init = self.compiled("init", lambda k, h, d: self.train.init(k, h, d), keys, hparams, self.data)
        return self._stop_padding(init(keys, hparams, self.data), len(networks))

    def stacked(self, states: Sequence, size: int):
        """Host trees (one network's state each) as one chunk state on the mesh, padded to ``size`` with
        copies of the last."""
        padded = list(states) + [states[-1]] * (size - len(states))
        return jax.device_put(jax.tree.map(lambda *leaves: np.stack(leaves), *padded), self.network_sharding)

    def pretraining_state(self, states: Sequence, networks: Sequence[Network], size: int):
        """Networks part way through pre-training (host trees, one per network), padding slots stopped."""
        return self._stop_padding(self.stacked(states, size), len(networks))

    def finetuning_state(self, stacks: Sequence, networks: Sequence[Network], size: int):
        """Each network's pre-trained stack (host trees, one per network) with its fine-tuning
        optimizer (``Train.start_finetuning``), padded to ``size``."""
        state = self.stacked(stacks, size)
        _, hparams = self.shard(networks, size)
        return self._stop_padding(self.call("start_finetuning", self.train.start_finetuning, state, hparams),
                                  len(networks))

    def _stop_padding(self, state, n_real: int):
        """Padding slots (copies of the chunk's last network) stopped: no epoch computes them where
        stopped networks are skipped (lax.map), and none is ever reported."""
        size = state.stopped.shape[0]
        if n_real == size:
            return state
        padding = jax.device_put(np.arange(size) >= n_real, self.network_sharding)
        return _also_stopped(state, padding)

    def results(self, state, networks: Sequence[Network], size: int):
        """``Train.finalize`` of every slot, on the host."""
        _, hparams = self.shard(networks, size)
        return distributed.to_host(self.call("finalize", self.train.finalize, state, hparams))

    # ----------------------------------------------------------------- driving a chunk
    def run_stages(self, state, networks: Sequence[Network], size: int, stages: Sequence[Stage], *,
                   label: str, checkpoint: Optional[ChunkCheckpoint], policy: ChunkPolicy, progress: Progress):
        """Train the chunk's ``state`` through ``stages``, epoch by epoch: checkpointed as ``policy``
        says, resumed from ``checkpoint``, stopped at the deadline (:class:`DeadlineReached`), and
        under vmap compacted as its networks stop (:class:`~deep_sparse.buckets.Bucket`). Returns the
        final state.

        Whatever stops it (Ctrl-C included), the checkpoint being written is finished first: the chunk's
        checkpoints are complete or absent."""
        try:
            return self._run_stages(state, networks, size, stages, label=label, checkpoint=checkpoint,
                                    policy=policy, progress=progress)
        except BaseException:
            if checkpoint is not None:
                checkpoint.close_quietly()
            raise

    def _run_stages(self, state, networks: Sequence[Network], size: int, stages: Sequence[Stage], *,
                    label: str, checkpoint: Optional[ChunkCheckpoint], policy: ChunkPolicy, progress: Progress):
        _, hparams = self.shard(networks, size)
        done = 0
        if checkpoint is not None and policy.resume and checkpoint.latest_step() is not None:
            done = checkpoint.latest_step()
            state = checkpoint.restore(done, state)
        progress.advance(done * len(networks))
        total = sum(stage.epochs for stage in stages)
        clock = _Clock(total, policy)
        epoch_count, saved = 0, done
        for stage in stages:
            bucket = buckets.Bucket(self, state, hparams, len(networks))
            if policy.precompile and stage.name == "finetune":
                self._precompile_chunk(stage, state, hparams, len(networks))
            for _ in range(stage.epochs):
                epoch_count += 1
                if epoch_count <= done:
                    continue
                if stage.name == "finetune" and not bucket.shrink():  # every network has stopped
                    progress.advance(len(networks))
                    continue
                started = time.perf_counter()
                bucket.step(stage)
                clock.epoch_took(time.perf_counter() - started)
                self.network_epochs += bucket.size
                self.train_seconds += time.perf_counter() - started
                progress.advance(len(networks))
                progress.after_epoch(label, stage.name, epoch_count, bucket.state, bucket.chunk_slots(), networks)
                due = clock.checkpoint_due(epoch_count) or (policy.save_last and epoch_count == total)
                if checkpoint is not None and due:
                    checkpoint.save(epoch_count, bucket.full_state())
                    saved = epoch_count
                if distributed.agreed(clock.too_late(epoch_count)):
                    self._stop_at_deadline(checkpoint, saved == epoch_count, epoch_count, bucket, networks, label,
                                           clock)
            state = bucket.full_state()
        if checkpoint is not None:
            if policy.save_last and saved != total:  # its last epochs were skipped (every network stopped)
                checkpoint.save(total, state)
            checkpoint.close()
        return state

    def _stop_at_deadline(self, checkpoint, saved: bool, epoch_count: int, bucket: buckets.Bucket,
                          networks: Sequence[Network], label: str, clock: "_Clock"):
        if checkpoint is not None:
            if not saved:
                checkpoint.save(epoch_count, bucket.full_state())
            checkpoint.close()
        raise DeadlineReached(
            f"{label}: the chunk of networks {networks[0].index}-{networks[-1].index} stopped after epoch "
            f"{epoch_count} of at most {clock.total}: the rest (up to {clock.worst_case(epoch_count) / 60:.0f} min) "
            f"would pass the deadline; "
            + (f"its state is checkpointed in {portable.recorded_path(checkpoint.directory)}" if checkpoint
               else "the chunk restarts from its first epoch"))


class _Clock:
    """Epoch timing of one chunk: when to checkpoint, and whether the rest still fits the deadline."""

    def __init__(self, total: int, policy: ChunkPolicy):
        self.total = total
        self.policy = policy
        self.epoch_seconds: list[float] = []
        self.last_checkpoint = time.monotonic()

    def epoch_took(self, seconds: float) -> None:
        self.epoch_seconds.append(seconds)

    def checkpoint_due(self, epoch_count: int) -> bool:
        every, seconds = self.policy.checkpoint_every, self.policy.checkpoint_seconds
        if not every or epoch_count % every or time.monotonic() - self.last_checkpoint < seconds:
            return False
        self.last_checkpoint = time.monotonic()
        return True

    def worst_case(self, epoch_count: int) -> float:
        return remaining_seconds(self.epoch_seconds, self.total - epoch_count)

    def too_late(self, epoch_count: int) -> bool:
        deadline = self.policy.deadline
        if deadline is None or epoch_count >= self.total:
            return False
        # from the second epoch on (the first pays one-time costs), unless the deadline has passed
        return time.time() > deadline or (
            len(self.epoch_seconds) > 1 and time.time() + self.worst_case(epoch_count) > deadline)


def _cache_key(name: str, args: tuple, donate: bool) -> tuple:
    """A compiled program is found by its stage, the shapes of its state and hyperparameters (the
    data is the executor's own), and whether it donates the state."""
    return name, tuple(x.shape for x in jax.tree.leaves(args[:2])), donate


def fit_chunk_size(executor: ChunkExecutor, networks: Sequence[Network], size: int, automatic: bool, log) -> int:
    """Compile the fine-tuning epoch for ``size`` networks, read XLA's memory plan, and state it;
    shrink an automatic chunk size that does not fit, refuse an explicit one with a suggestion."""
    n_devices = executor.n_devices
    available = available_memory_bytes(executor.mesh.devices.flat[0])
    while True:
        needed = executor.memory_bytes(networks, size)
        if needed is None or available is None:
            log(f"memory: XLA gives no memory plan on this backend; chunk of {size} networks")
            return size
        per_device = needed  # XLA's plan of a sharded program is already per device
        data_bytes = sum(x.nbytes for x in jax.tree.leaves(executor.data))
        per_network = max(1.0, (per_device - data_bytes) / max(1, size // n_devices))
        log(f"memory: a chunk of {size} networks needs {per_device / 2**30:.2f} GiB per device "
            f"({per_network / 2**20:.1f} MiB per network + {data_bytes / 2**20:.0f} MiB of data); "
            f"{available / 2**30:.1f} GiB available")
        if per_device <= available * MEMORY_HEADROOM:
            return size
        suggestion = int((available * MEMORY_HEADROOM - data_bytes) // per_network) * n_devices
        suggestion -= suggestion % n_devices
        if suggestion < n_devices:
            raise MemoryError(
                f"even one network per device does not fit: a chunk of {size} networks needs "
                f"{per_device / 2**30:.2f} GiB per device ({data_bytes / 2**20:.0f} MiB of it data) but "
                f"{available / 2**30:.2f} GiB is available; use smaller layers, a smaller eval_batch_size, "
                f"less data, or a device with more memory"
            )
        if not automatic or suggestion >= size:
            raise MemoryError(
                f"a chunk of {size} networks needs {per_device / 2**30:.2f} GiB per device but "
                f"{available / 2**30:.2f} GiB is available; use a chunk size of at most {suggestion}"
            )
        size = suggestion
