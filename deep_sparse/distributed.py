"""A sweep across several processes (``jax.distributed``): every process computes, one writes.

On one process each function is a no-op or the identity, so the single-process path pays nothing.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.experimental import multihost_utils


def is_multiprocess() -> bool:
    return jax.process_count() > 1


def is_primary() -> bool:
    """The process that writes files (every process computes; one owns the output folder)."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reaches the barrier ``name``."""
    if is_multiprocess():
        multihost_utils.sync_global_devices(name)


def to_host(tree):
    """``tree`` as NumPy arrays on this host, gathered from every process's devices when needed."""
    if not is_multiprocess():
        return jax.device_get(tree)
    return multihost_utils.process_allgather(tree, tiled=True)


def agreed(decision: bool) -> bool:
    """The primary's ``decision``, the same on every process (clocks differ; programs must not)."""
    if not is_multiprocess():
        return bool(decision)
    return bool(multihost_utils.broadcast_one_to_all(np.bool_(decision)))
