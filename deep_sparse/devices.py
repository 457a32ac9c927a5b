"""Devices for a sweep: the mesh, how a chunk of networks is batched on each backend, how many
networks a chunk holds, and how much memory it needs."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from deep_sparse import results_io

MAX_ACCELERATOR_CHUNK = 256
MAX_CPU_CHUNK = 4
MEMORY_HEADROOM = 0.85


def make_mesh(devices: Optional[Sequence] = None) -> Mesh:
    """A 1-D mesh named ``networks`` over ``devices`` (default: every device JAX sees)."""
    devices = list(jax.devices() if devices is None else devices)
    return Mesh(np.array(devices), ("networks",))


def auto_chunk_size(n_networks: int, mesh: Mesh, bytes_per_network: Optional[int] = None,
                    available_bytes: Optional[int] = None) -> int:
    """Networks per compiled step, always a multiple of the number of devices. On CPU the chunk is
    run network after network (:func:`batch_over_networks`), so its size only sets how often results
    and checkpoints are written: at most ``MAX_CPU_CHUNK`` per device. On accelerators, as many as fit
    in memory, at most ``MAX_ACCELERATOR_CHUNK`` per device."""
    n_devices = mesh.devices.size
    per_device = -(-n_networks // n_devices)
    if mesh.devices.flat[0].platform == "cpu":
        return min(per_device, MAX_CPU_CHUNK) * n_devices
    per_device = min(per_device, MAX_ACCELERATOR_CHUNK)
    if bytes_per_network and available_bytes:
        per_device = max(1, min(per_device, int(available_bytes * MEMORY_HEADROOM // bytes_per_network)))
    return per_device * n_devices


def available_memory_bytes(device) -> Optional[int]:
    """Memory one device can use: the allocator's limit on accelerators, physical RAM on CPU."""
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 - not every backend implements memory_stats
        stats = None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    return results_io._total_memory_bytes()


def compiled_memory_bytes(compiled) -> Optional[int]:
    """Peak bytes XLA plans for one call of ``compiled`` (arguments + outputs + temporaries)."""
    try:
        analysis = compiled.memory_analysis()
    except Exception:  # noqa: BLE001
        return None
    if analysis is None:
        return None
    return int(analysis.argument_size_in_bytes + analysis.output_size_in_bytes
               + analysis.temp_size_in_bytes - analysis.alias_size_in_bytes)



BATCHINGS = ("auto", "vmap", "map")


def resolve_batching(batching: str, mesh: Mesh) -> str:
    """``"vmap"`` or ``"map"``: ``"auto"`` is ``"vmap"`` on accelerators and ``"map"`` on CPU."""
    if batching not in BATCHINGS:
        raise ValueError(f"batching must be one of {', '.join(BATCHINGS)}, got {batching!r}")
    if batching == "auto":
        return "map" if mesh.devices.flat[0].platform == "cpu" else "vmap"
    return batching


def resolve_precompile(precompile: Optional[bool], mesh: Mesh) -> bool:
    """Whether a chunk compiles its fine-tuning programs for every bucket size ahead of time and in
    parallel (:meth:`deep_sparse.executor.ChunkExecutor.precompile`); ``None`` (automatic): on
    accelerators only. There the host's cores are idle while the device trains, and a compacted
    chunk meets about log2(chunk size) bucket programs (7 for Figure 3's chunks of 50: 49.6 s one
    after another on an H200 host of 16 cores), which side by side may take little more than the
    slowest one (``benchmarks/precompile.py`` measures it). On CPU the cores that would compile are
    the ones that train, the chunk is batched by ``lax.map`` (it never compacts: one program), and
    a program for a bucket the chunk never shrinks to is pure loss."""
    if precompile is None:
        return mesh.devices.flat[0].platform != "cpu"
    return bool(precompile)


def batch_over_networks(function: Callable, mesh: Mesh, batching: str = "auto") -> Callable:
    """Lift ``function(x, hparams, data)`` of one network to a chunk (leading network axis on ``x``
    and ``hparams``; ``data`` shared).

    Within one device, ``batching`` (:func:`resolve_batching`) chooses ``"vmap"``, which turns the
    chunk's products into batched products that fill an accelerator, or ``"map"`` (``lax.map``), one
    network after the other inside one compiled program. On XLA:CPU a vmap of mini-batch-10 steps adds
    weight-sized transposes and copies to every step (measured: 0.47x the speed of a loop at K = 8),
    whereas ``lax.map`` runs the unbatched computation at the loop's speed, and its ``lax.cond`` really
    skips networks that have stopped (under vmap it becomes a select: stopped networks keep computing).

    With several devices the network axis is split over them with ``jax.shard_map``: each device runs
    its own slice of networks with the per-device batching above, and no collective is needed (the
    data is replicated, networks are independent).
    """
    if resolve_batching(batching, mesh) == "vmap":
        per_device = jax.vmap(function, in_axes=(0, 0, None))
    else:
        def per_device(x, hparams, data):
            if jax.tree.leaves(hparams)[0].shape[0] == 1:  # one network: no loop at all
                out = function(*jax.tree.map(lambda a: a[0], (x, hparams)), data)
                return jax.tree.map(lambda a: a[None], out)
            return jax.lax.map(lambda pair: function(pair[0], pair[1], data), (x, hparams))

    if mesh.devices.size == 1:
        return per_device
    networks = PartitionSpec("networks")
    return jax.shard_map(per_device, mesh=mesh, in_specs=(networks, networks, PartitionSpec()),
                         out_specs=networks, check_vma=False)
