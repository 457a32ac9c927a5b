"""A hyperparameter grid as one batched, sharded, resumable computation (Figure 3 of the paper).

    grid = ds.sweep.product(l1=[0.0, 0.001, 0.01], seed=range(4), lr=[0.01])
    rows = ds.sweep.run(config, grid, out_dir="runs/demo")

Grid points set any traced hyperparameter (the fields of :class:`~deep_sparse.config.Hparams`), the
``seed`` (network k is initialised and shuffled by ``jax.random.PRNGKey(seed_k)``), and structural
fields of :class:`~deep_sparse.config.TrainConfig` (``activation``, ``hidden_sizes``, ...). Each network
k gives the same result as ``make_train(config)(PRNGKey(seed_k), hparams_k, data)`` alone.

Three parts, each in its module: the planner (:mod:`deep_sparse.planner`: points that share their
structure form a *group*, one compiled program per stage; a group's networks form chunks), the executor
(:mod:`deep_sparse.executor`: a chunk's networks batched on each device by ``vmap`` or ``lax.map``,
the chunk axis split over the devices with ``shard_map``, its epochs driven from Python between the
:class:`~deep_sparse.train.Train`'s stages), and the store (:mod:`deep_sparse.store`: the output folder
and its resume rules). :func:`run` ties them together.

Crash safety: the running chunk is checkpointed with orbax between epochs (in the background; every
``checkpoint_every`` epochs, at least ``checkpoint_seconds`` apart), finished chunks write their rows
atomically with a checksum, and ``resume=True`` continues from them. Results go to ``results.csv`` and
``results.json`` (atomic writes), rewritten after every finished chunk.
"""
from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Callable, Optional, Sequence

from deep_sparse import distributed, health, layer_choice, portable, results_io, reuse, runtime
from deep_sparse.config import Hparams, TrainConfig
from deep_sparse.devices import auto_chunk_size, make_mesh, resolve_batching, resolve_precompile
from deep_sparse.executor import ChunkExecutor, ChunkPolicy, fit_chunk_size
from deep_sparse.metrics_log import MetricsLog
from deep_sparse.planner import (Group, Network, balanced_chunks, chunk_name, chunk_slots, network_epochs,
                                 normalize_grid, plan, product, stack_signature)
from deep_sparse.progress import Progress
from deep_sparse.rows import rows_from_results
from deep_sparse.stacks import SharedStacks, chunk_checkpoint, pretrained_stacks, select_stacks
from deep_sparse.store import SweepStore, is_finetuned
from deep_sparse.sweep_options import SweepOptions
from deep_sparse.train import Data, Trainer, load_data, make_train

# the sweep's public face: run, and the grid (product) and options (SweepOptions) it takes, as the README
# writes them (ds.sweep.run(config, ds.sweep.product(...), options=ds.sweep.SweepOptions(...))); every other
# name lives in, and is imported from, its own module (planner, executor, rows, store, names)
__all__ = ["run", "SweepOptions", "product"]


# -------------------------------------------------------------------------------------- rows
def _plan_record(config: TrainConfig, grid: list[dict], base_hparams: Hparams) -> dict:
    return {
        "config": json.loads(json.dumps(config.to_dict(), default=list)),
        "grid": json.loads(json.dumps(grid, default=str)),
        "base_hparams": base_hparams._asdict(),
    }


def run(config: TrainConfig, grid, out_dir: str, data: Optional[Data] = None, *,
        base_hparams: Optional[Hparams] = None, options: SweepOptions = SweepOptions()) -> list[dict]:
    """Train every network of ``grid`` and write ``results.csv`` / ``results.json`` in ``out_dir``.

    config, grid, base_hparams: what is computed (the grid's points over ``base_hparams``, default
        :class:`~deep_sparse.config.Hparams`).
    data: a :class:`~deep_sparse.train.Data`, or None to load ``config.dataset`` (per group) from
        ``options.data_dir``, downloading missing files unless ``options.download`` is False.
    options: how it runs and is recorded (:class:`~deep_sparse.sweep_options.SweepOptions`: resume,
        chunk size, devices, checkpoints, deadline, progress, pre-training lr selection, reused rows).
    Returns the rows (one dict per fine-tuned network, in grid order).
    """
    mesh = make_mesh(options.devices)
    _check_chunk_size(options.chunk_size, mesh.devices.size)
    base_hparams = base_hparams or Hparams()
    points = normalize_grid(grid)
    groups = plan(config, points, base_hparams)
    batching = resolve_batching(options.batching, mesh)
    store, started_before, all_rows, group_data = _open_store(out_dir, _plan_record(config, points, base_hparams),
                                                             groups, data, options)
    metadata = _run_metadata(options, out_dir, batching, store if started_before else None,
                             _data_hashes(groups, group_data, data,
                                          store.recorded_data_sha256() if started_before else {}))
    timings: dict[str, Any] = {"groups": []}
    started = time.perf_counter()
    policy = ChunkPolicy(options.checkpoint_every, options.checkpoint_seconds, options.deadline, options.resume,
                         precompile=resolve_precompile(options.precompile, mesh))
    metrics_log = MetricsLog(out_dir, {n.index: g.index for g in groups for n in g.networks},
                             primary=distributed.is_primary()) if options.metrics else None
    report = Progress(sum(len(g.networks) * network_epochs(g.config) for g in groups), options.progress,
                      options.log, metrics_log)
    report.advance(sum(network_epochs(g.config) for g in groups for n in g.networks if n.index in all_rows))

    def chunk_finished(name: str, rows: list[dict]) -> None:
        for row in rows:
            all_rows[row["network"]] = row
        if distributed.is_primary():
            store.save_chunk(name, rows)
            store.write_results(all_rows, metadata, timings, started, complete=False)
        report.bar.set_description(f"{len(all_rows)}/{len(points)} networks done", refresh=True)

    shared = SharedStacks([g for g in groups if any(n.index not in all_rows for n in g.networks)])
    recorded_before = report.advanced
    try:
        if options.reuse_rows_from:
            _reuse_rows(groups, all_rows, options.reuse_rows_from, metadata["data_sha256"], chunk_finished, report)
        for group in groups:
            todo = [n for n in group.networks if n.index not in all_rows]
            if todo:
                executor = ChunkExecutor(make_train(group.config), group_data[group.index],
                                         mesh, batching)
                finished = [row for row in all_rows.values() if row["group"] == group.index]
                timings["groups"].append(_run_group(executor, group, todo, options.chunk_size, store, policy,
                                                    report, chunk_finished, finished,
                                                    options.select_pretrain_lr, shared))
    except Exception:
        # a start refused before its first epoch (e.g. a chunk too big for memory) leaves the folder as it was
        if report.advanced == recorded_before and distributed.is_primary():
            store.undo_create()
        raise
    finally:
        report.close()
    if distributed.is_primary():
        store.write_results(all_rows, metadata, timings, started, complete=True)
    distributed.barrier("deep_sparse results written")
    return [all_rows[k] for k in sorted(all_rows) if is_finetuned(all_rows[k])]


def _open_store(out_dir: str, record: dict, groups: list[Group], data: Optional[Data], options: SweepOptions):
    """``(store, started_before, finished rows, {group: data})`` of the sweep in ``out_dir``: every input
    checked (and the data of the unfinished groups loaded) before the plan ``record`` is written there."""
    store = SweepStore(out_dir)
    started_before = store.holds(record, options.resume, {"config": dataclasses.asdict(TrainConfig()),
                                                          "base_hparams": Hparams()._asdict()})
    expected = {n.index: (g.index, n.seed) for g in groups for n in g.networks}
    all_rows: dict[int, dict] = store.finished_rows(expected) if started_before else {}
    group_data = _unfinished_groups_data(groups, all_rows, data, options.data_dir, options.download)
    distributed.barrier("deep_sparse inputs checked")  # every process has read the folder before any writes it
    if distributed.is_primary():
        store.create(record, started_before)
    distributed.barrier("deep_sparse plan written")
    return store, started_before, all_rows, group_data


def _data_hashes(groups: list[Group], group_data: dict, data: Optional[Data], recorded: dict) -> dict[str, str]:
    """``{group: SHA-256 of its data}``: ``recorded`` before, updated with the data at hand (``data``
    for every group, else each group's loaded data), each array hashed once."""
    hashes, by_object = dict(recorded), {}
    at_hand = {g.index: data for g in groups} if data is not None else group_data
    for index, group_arrays in at_hand.items():
        if id(group_arrays) not in by_object:
            by_object[id(group_arrays)] = reuse.data_sha256(group_arrays)
        hashes[str(index)] = by_object[id(group_arrays)]
    return hashes


def _reuse_rows(groups: list[Group], all_rows: dict, folders: Sequence[str], hashes: dict,
                chunk_finished: Callable[[str, list[dict]], None], report: Progress) -> None:
    """Record, as finished chunks, the rows of the unfinished networks that the sweeps in ``folders``
    computed already (:func:`deep_sparse.reuse.reused_rows`)."""
    donors: dict = {}
    for group in groups:
        todo = [n for n in group.networks if n.index not in all_rows]
        rows = reuse.reused_rows(folders, group, todo, hashes.get(str(group.index)), donors) if todo else []
        if rows:
            chunk_finished(f"group{group.index:03d}_reused_{rows[0]['network']:05d}-{rows[-1]['network']:05d}", rows)
            report.advance(network_epochs(group.config) * len(rows))
            report.log(f"group {group.index}: {len(rows)} of {len(todo)} network(s) taken from "
                       f"{', '.join(sorted({r['reused_from'].rsplit(': network ', 1)[0] for r in rows}))} (the same "
                       "computation: data, seed, and the settings they read)")


def _check_chunk_size(chunk_size: Optional[int], n_devices: int) -> None:
    """A chunk is split evenly over the devices: refuse a chunk size that is not a multiple of them."""
    if chunk_size is not None and chunk_size % n_devices:
        raise ValueError(f"chunk_size must be a positive multiple of the {n_devices} devices, got {chunk_size}")


def _run_metadata(options: SweepOptions, out_dir: str, batching: str, previous: Optional[SweepStore],
                  data_sha256: dict) -> dict:
    """What ``results.json`` records of this invocation: its provenance, the earlier invocations of a
    resumed sweep (``previous``: its store, None for a new sweep) and the data it trained on."""
    metadata = results_io.provenance(options.argv, out=out_dir)
    metadata.update(options.extra_metadata or {})
    metadata["batching"] = batching
    metadata["matmul_precision"] = runtime.matmul_precision()
    metadata["previous_runs"] = previous.previous_runs() if previous is not None else []
    metadata["data_sha256"] = data_sha256
    if options.reuse_rows_from:
        metadata["reuse_rows_from"] = [portable.recorded_path(f) for f in options.reuse_rows_from]
    return metadata


def _run_group(executor: ChunkExecutor, group: Group, todo: list[Network], chunk_size: Optional[int],
               store: SweepStore, policy: ChunkPolicy, report: Progress,
               chunk_finished: Callable[[str, list[dict]], None], finished: list[dict],
               select_pretrain_lr: Optional[tuple[str, ...]], shared: SharedStacks) -> dict:
    """Train the group's unfinished networks ``todo`` chunk after chunk (``finished``: its rows
    recorded before); its timing record."""
    started = time.perf_counter()
    mesh, n_devices = executor.mesh, executor.n_devices
    group_size = _chunk_size_for(store, group, chunk_size, executor, report.log)
    chunks = balanced_chunks(todo, group_size, n_devices)
    size = chunk_slots(chunks, n_devices)
    report.log(f"group {group.index} {group.structure or '(base config)'}: {len(todo)} of {len(group.networks)} "
               f"networks to train in {len(chunks)} chunk(s) of {size} on {n_devices} "
               f"{mesh.devices.flat[0].platform} device(s), {executor.batching} within a device")
    pretrained = pretrained_stacks(executor, group, todo, group_size, store, policy, report, shared)
    stacks, layer_lrs = pretrained if pretrained is not None else (None, {})
    if layer_lrs and select_pretrain_lr is None:
        # the candidates of a setting hold one stack: fine-tuned once, under its first pre-training lr
        select_pretrain_lr = layer_choice.SHARED_FIELDS
    if stacks is not None and select_pretrain_lr is not None:
        kept, skipped = select_stacks(group, todo, stacks, finished, select_pretrain_lr)
        skipped = with_layer_lrs(skipped, group, layer_lrs)
        if skipped:
            chunk_finished(skipped_name(group, skipped), skipped)
            report.advance(group.config.epochs * len(skipped))
            report.log(f"group {group.index}: {len(kept)} of {len(todo)} network(s) fine-tuned, those of the "
                       "pre-training lr of lowest reconstruction error")
        chunks = balanced_chunks(kept, size, n_devices) if kept else []
    for networks in chunks:
        chunk_finished(chunk_name(group, networks), with_layer_lrs(
            _run_chunk(executor, group, networks, size, stacks, store, policy, report), group, layer_lrs))
    store.discard_pretrained(group.index)
    return {
        "group": group.index, "structure": group.structure, "networks": len(todo),
        "chunk_size": size, "compile_seconds": executor.compile_seconds,
        "programs_compiled": executor.programs_compiled, "precompile": policy.precompile,
        "wall_seconds": time.perf_counter() - started,
        "network_epochs": executor.network_epochs, "train_seconds": executor.train_seconds,
    }


def _run_chunk(executor: ChunkExecutor, group: Group, networks: list[Network], size: int, stacks: Optional[dict],
               store: SweepStore, policy: ChunkPolicy, report: Progress) -> list[dict]:
    """Train one chunk from its initial state (or, with pre-training, from its networks' shared
    pre-trained stacks); its rows."""
    train = executor.train
    if stacks is None:
        state, stages = executor.initial_state(networks, size), train.stages
    else:
        state = executor.finetuning_state([stacks[stack_signature(n)] for n in networks], networks, size)
        stages = (train.finetune,)
    state = executor.run_stages(state, networks, size, stages, label=f"group {group.index}",
                                checkpoint=chunk_checkpoint(store.checkpoint_dir(chunk_name(group, networks)), policy),
                                policy=policy, progress=report)
    return rows_from_results(executor.results(state, networks, size), group, networks, runtime.matmul_precision(),
                             _baseline(executor, group))


def _baseline(executor: ChunkExecutor, group: Group) -> Optional[float]:
    """The majority-class error of the labels the group's networks are trained on (None: no classes)."""
    if group.config.task != "classification":
        return None
    data = executor.data
    return health.majority_error(distributed.to_host(data.y_train)[: Trainer(group.config).n_labeled(data)])


def with_layer_lrs(rows: list[dict], group: Group, layer_lrs: dict) -> list[dict]:
    """``rows`` of ``group``'s networks, each with ``pretrain_lr_per_layer`` (the pre-training lr its
    stack's layer i was trained at, in ``layer_lrs`` by stack signature) where the lr was chosen per
    layer; as they are otherwise."""
    if not layer_lrs:
        return rows
    signatures = {network.index: stack_signature(network) for network in group.networks}
    return [dict(row, pretrain_lr_per_layer=list(layer_lrs[signatures[row["network"]]])) for row in rows]


def skipped_name(group: Group, rows: list[dict]) -> str:
    """``group001_not_finetuned_00016-00031``: the record of the networks a group did not fine-tune."""
    return f"group{group.index:03d}_not_finetuned_{rows[0]['network']:05d}-{rows[-1]['network']:05d}"


def _unfinished_groups_data(groups: list[Group], finished: dict, data: Optional[Data], data_dir: Optional[str],
                            download: bool) -> dict[int, Data]:
    """``{group: its data}`` for the groups with networks not yet ``finished``, each data set loaded once."""
    cache: dict = {}
    return {g.index: _group_data(g, data, data_dir, download, cache) for g in groups
            if any(n.index not in finished for n in g.networks)}


def _group_data(group: Group, data: Optional[Data], data_dir: Optional[str], download: bool, cache: dict) -> Data:
    """The group's data (``data``, or its data set loaded and subset once per sweep, kept in
    ``cache``), checked against the group's network, with its number of classes counted from the labels
    when neither the data nor the config gives it."""
    if data is None:
        key = (group.config.dataset, group.config.train_size, group.config.valid_size, group.config.test_size,
               group.config.labeled_fraction, group.config.labeled_seed)
        if key not in cache:
            cache[key] = load_data(group.config, data_dir=data_dir, download=download)
        data = cache[key]
    trainer = Trainer(group.config)
    trainer.check_data(data)
    if data.num_classes is None and group.config.task == "classification":
        # counted here, while the labels are concrete: the sweep traces the data
        data = data.replace(num_classes=trainer.num_classes(data))
    return data


def _chunk_size_for(store: SweepStore, group: Group, chunk_size: Optional[int], executor: ChunkExecutor, log) -> int:
    """The group's chunk size (explicit, or automatic and fitted to memory), recorded in the store."""
    size = chunk_size or auto_chunk_size(len(group.networks), executor.mesh)
    size = fit_chunk_size(executor, group.networks, size, chunk_size is None, log)
    if distributed.is_primary():
        store.record_chunk_size(group.index, size)
    return size
