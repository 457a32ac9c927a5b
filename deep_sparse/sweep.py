"""A hyperparameter grid as one batched, sharded, resumable computation (Figure 3 of the paper).

    grid = ds.sweep.product(l1=[0.0, 0.001, 0.01], seed=range(4), lr=[0.01])
    rows = ds.sweep.run(config, grid, out_dir="runs/demo")

Grid points set any traced hyperparameter (the fields of :class:`~deep_sparse.config.Hparams`), the
``seed`` (network k is initialised and shuffled by ``jax.random.PRNGKey(seed_k)``), and structural
fields of :class:`~deep_sparse.config.TrainConfig` (``activation``, ``hidden_sizes``, ...). Points that
share their structure form a *group*: one compiled program per stage trains all of the group's
networks, ``vmap``-ed over the network axis in chunks of ``chunk_size`` networks, the chunk axis
sharded over every local device (``jax.sharding.Mesh`` + ``NamedSharding``). Each network k gives the
same result as ``make_train(config)(PRNGKey(seed_k), hparams_k, data)`` alone.

Crash safety: the state of the running chunk is checkpointed with orbax at epoch boundaries (orbax
writes to a temporary directory and renames it), finished chunks write their rows atomically, and
``resume=True`` continues from the last checkpoint. Results go to ``results.csv`` and ``results.json``
(atomic writes), rewritten after every finished chunk.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import time
import warnings
from typing import Any, Callable, Iterable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from deep_sparse import results_io
from deep_sparse.checkpoints import ChunkCheckpoint
from deep_sparse.devices import (
    MEMORY_HEADROOM, auto_chunk_size, available_memory_bytes, batch_over_networks, compiled_memory_bytes, make_mesh,
    resolve_batching,
)
from deep_sparse.config import HPARAM_NAMES, Hparams, TrainConfig
from deep_sparse.store import SweepStore, csv_columns, read_results, rows_checksum  # noqa: F401 - public here too
from deep_sparse.train import Data, Trainer, load_data, make_train

STRUCTURAL_NAMES = tuple(
    field.name for field in dataclasses.fields(TrainConfig)
    if field.name not in ("eval_batch_size",)
)
GRID_NAMES = HPARAM_NAMES + ("seed",) + STRUCTURAL_NAMES


# --------------------------------------------------------------------------------------------- grid
def product(**axes: Iterable) -> list[dict]:
    """Cartesian product of named axes, e.g. ``product(l1=[0, 1e-3], seed=range(3))`` (6 points)."""
    names = list(axes)
    values = [list(axes[name]) for name in names]
    for name, axis in zip(names, values):
        _check_name(name)
        if not axis:
            raise ValueError(f"grid axis {name!r} is empty")
    return [dict(zip(names, point)) for point in itertools.product(*values)]


def _check_name(name: str) -> None:
    if name not in GRID_NAMES:
        raise ValueError(f"unknown grid field {name!r}; known fields: {', '.join(GRID_NAMES)}")


def normalize_grid(grid) -> list[dict]:
    """A dict of lists (taken as a product) or a list of dicts (explicit points) -> list of dicts."""
    if isinstance(grid, dict):
        if not grid:
            raise ValueError("the grid has no points (an empty dict, like an empty list); give at least one axis")
        return product(**grid)
    points = [dict(point) for point in grid]
    if not points:
        raise ValueError("the grid has no points")
    for point in points:
        for name in point:
            _check_name(name)
    return points


def check_hparams(values: dict, config: TrainConfig) -> Optional[str]:
    """What is wrong with one network's hyperparameters (``{name: float}``), or None. The one place
    their rules live, for the library and every command line alike: learning rates finite and > 0, L1
    finite and >= 0, the corruption level a probability in [0, 1] for masking and salt-and-pepper noise
    (a standard deviation >= 0 for Gaussian noise), alpha > 0 (inf: the rectifier)."""
    for name in ("lr", "pretrain_lr"):
        if not (np.isfinite(values[name]) and values[name] > 0):
            return f"{name} must be a finite number > 0, got {values[name]!r}"
    if not (np.isfinite(values["l1"]) and values["l1"] >= 0):
        return f"l1 must be a finite number >= 0, got {values['l1']!r}"
    level = values["noise_level"]
    corruptions = {config.corruption, config.first_layer_corruption} - {None}
    if corruptions - {"gaussian"} and not 0.0 <= level <= 1.0:
        return (f"noise_level must be a probability in [0, 1] for {' and '.join(sorted(corruptions - {'gaussian'}))} "
                f"noise, got {level!r}")
    if not (np.isfinite(level) and level >= 0):
        return f"noise_level must be a finite number >= 0, got {level!r}"
    if not values["alpha"] > 0:  # NaN fails too
        return f"alpha must be > 0 (inf for the rectifier), got {values['alpha']!r}"
    return None


@dataclasses.dataclass(frozen=True)
class Network:
    index: int
    seed: int
    hparams: Hparams


@dataclasses.dataclass
class Group:
    """Networks that share one structure, hence one compiled program."""

    index: int
    config: TrainConfig
    structure: dict
    networks: list


def plan(config: TrainConfig, grid, base_hparams: Optional[Hparams] = None) -> list[Group]:
    """Split the grid into structural groups, each network numbered in grid order."""
    base_hparams = base_hparams or Hparams()
    groups: dict[str, Group] = {}
    for index, point in enumerate(normalize_grid(grid)):
        structure = {k: v for k, v in point.items() if k in STRUCTURAL_NAMES}
        if "hidden_sizes" in structure:
            structure["hidden_sizes"] = tuple(structure["hidden_sizes"])
        seed = point.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"grid point {index}: seed must be a non-negative integer, got {seed!r}")
        key = json.dumps(structure, sort_keys=True, default=str)
        if key not in groups:
            groups[key] = Group(len(groups), config.replace(**structure), structure, [])
        values = {}
        for name in HPARAM_NAMES:
            value = point.get(name, getattr(base_hparams, name))
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"grid point {index}: {name} must be a number, got {value!r}") from None
            values[name] = value
        problem = check_hparams(values, groups[key].config)
        if problem:
            raise ValueError(f"grid point {index}: {problem}")
        groups[key].networks.append(Network(index, int(seed), Hparams(**values)))
    return list(groups.values())


# -------------------------------------------------------------------------------------- engine
class _GroupRunner:
    """Compiled, sharded, vmapped stage functions of one group, reused by all of its chunks."""

    def __init__(self, trainer: Trainer, data: Data, mesh: Mesh, batching: str = "auto"):
        self.trainer = trainer
        self.mesh = mesh
        self.batching = batching
        self.network_epochs = 0  # trained network-epochs (every network of a chunk, stopped or not)
        self.train_seconds = 0.0
        self.network_sharding = NamedSharding(mesh, PartitionSpec("networks"))
        self.replicated = NamedSharding(mesh, PartitionSpec())
        self.data = jax.device_put(data, self.replicated)
        self._compiled: dict = {}
        self.compile_seconds = 0.0

    def compiled(self, name: str, function: Callable, *args, donate: bool = False):
        """``function`` batched over the chunk, jitted and compiled for ``args``' shapes (cached);
        ``donate``: the state argument's buffers are reused for the output (an epoch's state in,
        the next epoch's out: half the chunk's state memory)."""
        shapes = tuple(x.shape for x in jax.tree.leaves(args[:2]))
        cache_key = (name, shapes, donate)
        if cache_key not in self._compiled:
            start = time.perf_counter()
            vmapped = batch_over_networks(function, self.mesh, self.batching)
            # Every output has the network axis first (vmap broadcasts unbatched ones): pin it to the
            # mesh, or XLA may hand back replicated constants (e.g. zero biases from init) that the
            # next compiled stage, built for network-sharded inputs, refuses.
            jitted = jax.jit(vmapped, out_shardings=self.network_sharding, donate_argnums=(0,) if donate else ())
            self._compiled[cache_key] = jitted.lower(*args).compile()
            self.compile_seconds += time.perf_counter() - start
        return self._compiled[cache_key]

    def shard(self, networks: list[Network], chunk_size: int):
        padded = networks + [networks[-1]] * (chunk_size - len(networks))
        keys = np.stack([np.asarray(jax.random.PRNGKey(n.seed)) for n in padded])
        hparams = Hparams(*(np.asarray([getattr(n.hparams, f) for n in padded], np.float32) for f in HPARAM_NAMES))
        return jax.device_put((keys, hparams), self.network_sharding)


def _rows_from_results(results, group: Group, networks: list[Network]) -> list[dict]:
    results = _to_host(results)
    rows = []
    for position, network in enumerate(networks):
        row = {"network": network.index, "group": group.index, "seed": network.seed}
        row.update({name: getattr(network.hparams, name) for name in HPARAM_NAMES})
        row["activation"] = group.config.activation
        row["hidden_sizes"] = "-".join(str(n) for n in group.config.hidden_sizes)
        row["pretrain_epochs"] = group.config.pretrain_epochs
        row["labeled_fraction"] = group.config.labeled_fraction
        for name in ("test_error", "valid_error", "train_error", "sparsity"):
            row[name] = float(getattr(results, name)[position])
        for layer, value in enumerate(results.sparsity_per_layer[position]):
            row[f"sparsity_layer_{layer + 1}"] = float(value)
        row["pretrain_reconstruction"] = pretrain_reconstruction(results.curves.pretrain_valid_loss[position])
        row["epochs_run"] = int(results.epochs_run[position])
        row["best_epoch"] = int(results.best_epoch[position])
        row["diverged"] = bool(results.diverged[position])
        row["top_class_share"] = float(results.top_class_share[position])
        silent = [float(v) for v in results.silent_units_per_layer[position]]
        row["dead"] = is_dead(row["diverged"], row["top_class_share"], silent)
        row["curves"] = {
            "train_loss": results.curves.train_loss[position].tolist(),
            "valid_error": results.curves.valid_error[position].tolist(),
            "valid_sparsity": results.curves.valid_sparsity[position].tolist(),
            "pretrain_loss": results.curves.pretrain_loss[position].tolist(),
            "pretrain_valid_loss": results.curves.pretrain_valid_loss[position].tolist(),
        }
        rows.append(row)
    return rows


DEAD_TOP_CLASS_SHARE = 0.99


def is_dead(diverged: bool, top_class_share: float, silent_units_per_layer) -> bool:
    """A network that trained without diverging but computes nothing (e.g. every unit killed by a
    large L1 penalty or learning rate): a hidden layer whose every unit is zero on every validation
    example, or one class given to at least 99% of the validation examples. Such a network's
    sparsity is not a point of Figure 3; summaries and plots leave it out and count it."""
    if diverged:
        return False
    return top_class_share >= DEAD_TOP_CLASS_SHARE or any(v >= 1.0 for v in silent_units_per_layer)


def row_is_dead(row: dict, num_classes: int) -> bool:
    """:func:`is_dead` of a results row. Rows recorded before the flag existed (no ``dead`` field)
    are judged on what they hold: a validation error of at least ``1 - 1.5 / num_classes`` (85% on
    MNIST, where a constant output scores 88.65% on the test set)."""
    if "dead" in row:
        return bool(row["dead"])
    return not row["diverged"] and row["valid_error"] >= 1.0 - 1.5 / num_classes


def pretrain_reconstruction(valid_loss) -> Optional[float]:
    """Sum over layers of the clean validation reconstruction error after each layer's last
    pre-training epoch; None without pre-training, inf when a layer has no finite value (diverged)."""
    valid_loss = np.asarray(valid_loss, np.float64)
    if valid_loss.size == 0:
        return None
    total = 0.0
    for layer in valid_loss:
        finite = layer[np.isfinite(layer)]
        total += float(finite[-1]) if finite.size else np.inf
    return total


def _plan_record(config: TrainConfig, grid: list[dict], base_hparams: Hparams) -> dict:
    return {
        "config": json.loads(json.dumps(config.to_dict(), default=list)),
        "grid": json.loads(json.dumps(grid, default=str)),
        "base_hparams": base_hparams._asdict(),
    }


class DeadlineReached(Exception):
    """``run(..., deadline=...)`` stopped before the deadline: every finished chunk and the running
    chunk's last epoch are saved, and ``resume=True`` continues from them."""


def run(
    config: TrainConfig,
    grid,
    out_dir: str,
    data: Optional[Data] = None,
    *,
    base_hparams: Optional[Hparams] = None,
    resume: bool = False,
    chunk_size: Optional[int] = None,
    devices: Optional[Sequence] = None,
    batching: str = "auto",
    checkpoint_every: int = 1,
    deadline: Optional[float] = None,
    data_dir: Optional[str] = None,
    progress: bool = True,
    argv: Optional[Sequence[str]] = None,
    extra_metadata: Optional[dict] = None,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Train every network of ``grid`` and write ``results.csv`` / ``results.json`` in ``out_dir``.

    data: a :class:`~deep_sparse.train.Data`, or None to load ``config.dataset`` (per group).
    chunk_size: networks per compiled step (default: :func:`auto_chunk_size`); a multiple of the
        number of devices. A resumed sweep may use another chunk size than the one it started with:
        finished networks are recorded per network (``chunks/``), the others are chunked anew.
    batching: how a device runs its networks: ``"vmap"``, ``"map"`` or ``"auto"``
        (:func:`~deep_sparse.devices.resolve_batching`).
    checkpoint_every: checkpoint the running chunk every this many epochs (0: only finished chunks).
    deadline: a ``time.time()`` value; the sweep raises :class:`DeadlineReached` at the first epoch
        boundary after which the running chunk could not finish in time (its worst case: every
        remaining epoch at the speed measured so far), after checkpointing it.
    Returns the rows (one dict per network, in grid order).
    """
    if checkpoint_every < 0:
        raise ValueError(f"checkpoint_every must be >= 0, got {checkpoint_every}")
    base_hparams = base_hparams or Hparams()
    points = normalize_grid(grid)
    groups = plan(config, points, base_hparams)
    mesh = make_mesh(devices)
    batching = resolve_batching(batching, mesh)
    n_devices = mesh.devices.size
    if chunk_size is not None and (chunk_size < 1 or chunk_size % n_devices):
        raise ValueError(f"chunk_size must be a positive multiple of the {n_devices} devices, got {chunk_size}")
    record = _plan_record(config, points, base_hparams)
    store = SweepStore(out_dir)
    started_before = store.holds(record, resume)
    expected = {n.index: (g.index, n.seed) for g in groups for n in g.networks}
    all_rows: dict[int, dict] = store.finished_rows(expected) if started_before else {}
    # every input is checked (and the data loaded) before the first file is written
    cache: dict = {}
    group_data = {g.index: _group_data(g, data, data_dir, cache) for g in groups
                  if any(n.index not in all_rows for n in g.networks)}
    _barrier("deep_sparse inputs checked")  # every process has read the folder before any writes it
    if _primary():
        store.create(record, started_before)
    _barrier("deep_sparse plan written")

    metadata = results_io.provenance(argv)
    metadata.update(extra_metadata or {})
    metadata["batching"] = batching
    metadata["previous_runs"] = store.previous_runs() if started_before else []
    timings: dict[str, Any] = {"groups": []}
    started = time.perf_counter()

    total_epochs = sum(len(g.networks) * _network_epochs(g.config) for g in groups)
    bar = _progress_bar(total_epochs, progress)
    bar.update(sum(_network_epochs(g.config) for g in groups for n in g.networks if n.index in all_rows))
    try:
        for group in groups:
            todo = [n for n in group.networks if n.index not in all_rows]
            if not todo:
                continue
            group_started = time.perf_counter()
            runner = _GroupRunner(make_train(group.config), group_data[group.index], mesh, batching)
            size = _chunk_size_for(store, group, chunk_size, runner, mesh, log)
            chunks = balanced_chunks(todo, size, n_devices)
            size = len(chunks[0]) + (-len(chunks[0]) % n_devices)
            log(f"group {group.index} {group.structure or '(base config)'}: {len(todo)} of {len(group.networks)} "
                f"networks to train in {len(chunks)} chunk(s) of {size} on {n_devices} "
                f"{mesh.devices.flat[0].platform} device(s), {batching} within a device")
            stacks = _pretrained_stacks(runner, group, todo, size, store, resume, bar, log, deadline)
            for networks in chunks:
                name = _chunk_name(group, networks)
                checkpoint_dir = store.checkpoint_dir(name)
                if stacks is None:
                    rows = _run_chunk(runner, group, networks, size, checkpoint_dir, checkpoint_every, resume, bar,
                                      log, deadline)
                else:
                    rows = _run_chunk(runner, group, networks, size, checkpoint_dir, checkpoint_every, resume, bar,
                                      log, deadline, stages=_finetune_stages(runner.trainer),
                                      start=_stacked_start(runner, stacks, networks, size))
                for row in rows:
                    all_rows[row["network"]] = row
                if _primary():
                    store.save_chunk(name, rows)
                    store.write_results(all_rows, metadata, timings, started, complete=False)
                bar.set_description(f"{len(all_rows)}/{len(points)} networks done", refresh=True)
            timings["groups"].append({
                "group": group.index, "structure": group.structure, "networks": len(todo),
                "chunk_size": size, "compile_seconds": runner.compile_seconds,
                "wall_seconds": time.perf_counter() - group_started,
                "network_epochs": runner.network_epochs, "train_seconds": runner.train_seconds,
            })
            store.discard_pretrained(group.index)
    finally:
        bar.close()
    rows = [all_rows[k] for k in sorted(all_rows)]
    if _primary():
        store.write_results(all_rows, metadata, timings, started, complete=True)
    _barrier("deep_sparse results written")
    return rows


def balanced_chunks(networks: list, size: int, n_devices: int = 1) -> list[list]:
    """``networks`` in as few chunks of at most ``size`` as possible, of balanced sizes (multiples of
    ``n_devices`` but the last): 200 networks with at most 192 per chunk are 100 + 100, not 192 + 8
    (whose chunk would compute 184 padding slots)."""
    n_chunks = -(-len(networks) // size)
    per_chunk = -(-len(networks) // n_chunks)
    per_chunk += -per_chunk % n_devices
    return [networks[i: i + per_chunk] for i in range(0, len(networks), per_chunk)]


def _stack_signature(network: Network) -> tuple:
    """What a pre-trained stack depends on: the seed and every hyperparameter but the fine-tuning lr
    (plain SGD keeps no state, so the lr enters no computation before fine-tuning)."""
    return (network.seed,) + tuple(getattr(network.hparams, name) for name in HPARAM_NAMES if name != "lr")


def _finetune_stages(trainer: Trainer) -> list:
    return [stage for stage in trainer.stages if not stage[0].startswith("pretrain")]


def _pretrained_stacks(runner: _GroupRunner, group: Group, todo: list[Network], size: int, store: SweepStore,
                       resume: bool, bar, log, deadline) -> Optional[dict]:
    """``{signature: state of one network}`` after pre-training, each stack pre-trained once and shared
    by every fine-tuning learning rate (section 4.1's grid); None for a group without pre-training.

    Stacks are pre-trained in chunks like networks; a finished chunk of stacks stays in
    ``out_dir/pretrained`` (local, like checkpoints) until its group is done, so that a resumed sweep
    does not pre-train it again.
    """
    pretrain = [stage for stage in runner.trainer.stages if stage[0].startswith("pretrain")]
    if not pretrain:
        return None
    representatives = list({_stack_signature(n): n for n in reversed(todo)}.values())[::-1]
    stacks: dict = {}
    for first in range(0, len(representatives), size):
        chunk = representatives[first: first + size]
        name = f"group{group.index:03d}_stacks_{chunk[0].index:05d}-{chunk[-1].index:05d}"
        directory = store.pretrained_dir(group.index, name)
        if not resume:  # a sweep started anew never picks up a stack left in its folder
            shutil.rmtree(directory, ignore_errors=True)
        # checkpointed every epoch: the last checkpoint (step = total) is the finished stack
        state = _run_chunk(runner, group, chunk, size, directory, 1, True, bar, log, deadline, stages=pretrain,
                           finalize=False)
        host = _to_host(state)
        for position, network in enumerate(chunk):
            stacks[_stack_signature(network)] = jax.tree.map(lambda a: a[position], host)
    log(f"group {group.index}: {len(representatives)} pre-trained stack(s) shared by {len(todo)} network(s)")
    return stacks


def _stop_padding(runner: _GroupRunner, state, n_real: int):
    """Mark the chunk's padding slots (copies of its last network) as stopped from the start, so that
    no epoch computes them where stopped networks are skipped (lax.map)."""
    size = state.stopped.shape[0]
    if n_real == size:
        return state
    padding = jax.device_put(np.arange(size) >= n_real, runner.network_sharding)
    return _also_stopped(state, padding)


# compiled once per state layout, not once per chunk
_also_stopped = jax.jit(lambda state, stopped: state._replace(stopped=state.stopped | stopped))


def _stacked_start(runner: _GroupRunner, stacks: dict, networks: list[Network], size: int):
    """The fine-tuning chunk's initial state: each network's pre-trained stack, padded to ``size``."""
    padded = networks + [networks[-1]] * (size - len(networks))
    states = [stacks[_stack_signature(n)] for n in padded]
    state = jax.device_put(jax.tree.map(lambda *leaves: np.stack(leaves), *states), runner.network_sharding)
    _, hparams = runner.shard(networks, size)
    trainer = runner.trainer
    start = runner.compiled("finetune_start", lambda s, h, d: trainer.with_finetuning_optimizer(s, h),
                            state, hparams, runner.data)
    return start(state, hparams, runner.data)


def _group_data(group: Group, data: Optional[Data], data_dir: Optional[str], cache: dict) -> Data:
    """The group's data (``data``, or its data set loaded and subset once per sweep, kept in
    ``cache``), checked against the group's network."""
    if data is None:
        key = (group.config.dataset, group.config.train_size, group.config.valid_size, group.config.test_size,
               group.config.labeled_fraction, group.config.labeled_seed)
        if key not in cache:
            cache[key] = load_data(group.config, data_dir=data_dir)
        data = cache[key]
    make_train(group.config).check_data(data)
    return data


def _chunk_name(group: Group, networks: list[Network]) -> str:
    """``group000_networks_00004-00007``: a chunk is named by the networks it holds, so that a sweep
    resumed with another chunk size keeps every finished network and its checkpoints cannot be
    mistaken for another chunk's."""
    return f"group{group.index:03d}_networks_{networks[0].index:05d}-{networks[-1].index:05d}"


def _network_epochs(config: TrainConfig) -> int:
    return config.epochs + config.pretrain_epochs * len(config.hidden_sizes)


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="net-epoch", disable=not enabled, dynamic_ncols=True, smoothing=0.1)


def _chunk_size_for(store: SweepStore, group: Group, chunk_size: Optional[int], runner: _GroupRunner, mesh: Mesh,
                    log) -> int:
    """The group's chunk size (explicit, or automatic and fitted to memory), recorded in the store."""
    size = chunk_size or auto_chunk_size(len(group.networks), mesh)
    size = _fit_chunk_size(runner, group, size, mesh.devices.size, chunk_size is None, log)
    if _primary():
        store.record_chunk_size(group.index, size)
    return size


def _fit_chunk_size(runner: _GroupRunner, group: Group, size: int, n_devices: int, automatic: bool, log) -> int:
    """Compile the fine-tuning epoch for ``size`` networks, read XLA's memory plan, and state it;
    shrink an automatic chunk size that does not fit, refuse an explicit one with a suggestion."""
    device = runner.mesh.devices.flat[0]
    available = available_memory_bytes(device)
    while True:
        needed = _chunk_memory(runner, group, size)
        if needed is None or available is None:
            log(f"memory: XLA gives no memory plan on this backend; chunk of {size} networks")
            return size
        per_device = needed  # XLA's plan of a sharded program is already per device
        data_bytes = sum(x.nbytes for x in jax.tree.leaves(runner.data))
        per_network = max(1.0, (per_device - data_bytes) / max(1, size // n_devices))
        fits = per_device <= available * MEMORY_HEADROOM
        log(f"memory: a chunk of {size} networks needs {per_device / 2**30:.2f} GiB per device "
            f"({per_network / 2**20:.1f} MiB per network + {data_bytes / 2**20:.0f} MiB of data); "
            f"{available / 2**30:.1f} GiB available")
        if fits:
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


def _chunk_memory(runner: _GroupRunner, group: Group, size: int) -> Optional[int]:
    keys, hparams = runner.shard(group.networks[:size], size)
    state = jax.eval_shape(jax.vmap(runner.trainer.init, in_axes=(0, 0, None)), keys, hparams, runner.data)
    state = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=runner.network_sharding), state)
    name, _, function = runner.trainer.stages[-1]
    compiled = runner.compiled(name, function, state, hparams, runner.data, donate=True)
    return compiled_memory_bytes(compiled)


def _epoch_summary(state, group: Group, stage: str, epoch_count: int, n_networks: int) -> str:
    """Mean loss / validation error / sparsity of the chunk's networks after their latest epoch."""
    if stage == "finetune":
        index = np.asarray(_to_host(state.epoch))[:n_networks] - 1
        curves = _to_host(state.curves)
        rows = np.arange(n_networks)
        loss = curves.train_loss[rows, index]
        valid = curves.valid_error[rows, index]
        zeros = curves.valid_sparsity[rows, index]
        with warnings.catch_warnings():  # all-NaN (every network diverged) is reported as nan
            warnings.simplefilter("ignore", RuntimeWarning)
            return (f"group {group.index} finetune epoch {int(index.max()) + 1}: loss {np.nanmean(loss):.4f} "
                    f"valid {100 * np.nanmean(valid):.2f}% zeros {100 * np.nanmean(zeros):.1f}%")
    return f"group {group.index} {stage} (epoch {epoch_count} of the chunk)"


def _epoch_speed(epoch_seconds: list[float]) -> float:
    """Seconds per epoch to plan with: the mean after the chunk's first epoch (which pays one-time costs,
    measured at 2x the others on a CPU) when there is one, else the first."""
    later = epoch_seconds[1:] or epoch_seconds
    return sum(later) / len(later)


def _run_chunk(runner: _GroupRunner, group: Group, networks: list[Network], size: int, checkpoint_dir: str,
               checkpoint_every: int, resume: bool, bar, log, deadline: Optional[float] = None, *,
               stages: Optional[list] = None, start=None, finalize: bool = True):
    """Train one chunk through ``stages`` (default: all of the trainer's) from ``start`` (default: the
    initial state), checkpointing and honouring ``deadline``; its rows, or its state when not
    ``finalize``."""
    trainer = runner.trainer
    stages = trainer.stages if stages is None else stages
    keys, hparams = runner.shard(networks, size)
    if start is None:
        init = runner.compiled("init", lambda k, h, d: trainer.init(k, h, d), keys, hparams, runner.data)
        start = init(keys, hparams, runner.data)
    state = _stop_padding(runner, start, len(networks))
    # Across several processes only finished chunks are kept (per-epoch checkpoints are single-process).
    wanted = (checkpoint_every or deadline is not None) and not _multiprocess()
    checkpoint = ChunkCheckpoint(checkpoint_dir) if wanted else None
    done = 0
    if checkpoint is not None and resume and checkpoint.latest_step() is not None:
        done = checkpoint.latest_step()
        state = checkpoint.restore(done, state)
    bar.update(done * len(networks))
    total = sum(n_epochs for _, n_epochs, _ in stages)
    epoch_count, epoch_seconds = 0, []
    for name, n_epochs, function in stages:
        compiled = runner.compiled(name, function, state, hparams, runner.data, donate=True)
        for _ in range(n_epochs):
            epoch_count += 1
            if epoch_count <= done:
                continue
            if name == "finetune" and bool(jnp.all(state.stopped)):
                bar.update(len(networks))  # every network has stopped: nothing left to compute
                continue
            epoch_started = time.perf_counter()
            state = jax.block_until_ready(compiled(state, hparams, runner.data))
            epoch_seconds.append(time.perf_counter() - epoch_started)
            runner.network_epochs += size
            runner.train_seconds += time.perf_counter() - epoch_started
            saved = checkpoint is not None and checkpoint_every and epoch_count % checkpoint_every == 0
            if saved:
                checkpoint.save(epoch_count, state)
            bar.update(len(networks))
            summary = _epoch_summary(state, group, name, epoch_count, len(networks))
            bar.set_postfix_str(summary, refresh=False)
            if bar.disable:
                log(summary)
            worst_case = (total - epoch_count) * _epoch_speed(epoch_seconds)
            late = deadline is not None and epoch_count < total and (
                time.time() > deadline or (len(epoch_seconds) > 1 and time.time() + worst_case > deadline))
            if _agreed(late):
                if checkpoint is not None:
                    if not saved:
                        checkpoint.save(epoch_count, state)
                    checkpoint.close()
                raise DeadlineReached(
                    f"group {group.index}: the chunk of networks {networks[0].index}-{networks[-1].index} stopped after "
                    f"epoch {epoch_count} of at most {total}: the rest (up to {worst_case / 60:.0f} min) would "
                    f"pass the deadline; " + (f"its state is checkpointed in {checkpoint_dir}" if checkpoint else
                                              "the chunk restarts from its first epoch"))
    if checkpoint is not None:
        checkpoint.close()
    if not finalize:
        return state
    measure = runner.compiled("finalize", lambda s, h, d: trainer.finalize(s, h, d), state, hparams, runner.data)
    return _rows_from_results(measure(state, hparams, runner.data), group, networks)


# ------------------------------------------------------------------ several processes (jax.distributed)
def _multiprocess() -> bool:
    return jax.process_count() > 1


def _primary() -> bool:
    """The process that writes files (every process computes; one owns the output folder)."""
    return jax.process_index() == 0


def _barrier(name: str) -> None:
    if _multiprocess():
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _to_host(tree):
    """``tree`` as NumPy arrays on this host, gathered from every process's devices when needed."""
    if not _multiprocess():
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


def _agreed(decision: bool) -> bool:
    """The primary's ``decision``, the same on every process (clocks differ; programs must not)."""
    if not _multiprocess():
        return bool(decision)
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.bool_(decision)))
