"""How JAX runs deep-sparse's programs: one numeric contract on every backend, and compiled programs
kept between processes.

Matmul precision: JAX lets an accelerator multiply float32 matrices in TF32 (or bfloat16 passes)
unless told otherwise, while a CPU computes in full float32, so the same sweep would give different
numbers on a GPU for a reason no row records. Importing this module pins full float32
(``"highest"``) unless the process chose a precision itself (``JAX_DEFAULT_MATMUL_PRECISION`` or
``jax.config.update("jax_default_matmul_precision", ...)`` before the import);
:func:`set_matmul_precision` chooses another (``"tensorfloat32"``: faster on GPUs, not the contract),
and :func:`matmul_precision` is what every result records.

Compilation cache: a small sweep spends most of its time compiling, and paid it again on every start.
:func:`use_compilation_cache` keeps compiled programs in a user cache folder (``$DEEP_SPARSE_CACHE``,
else ``$XDG_CACHE_HOME/deep_sparse/jax-cache``, else ``~/.cache/deep_sparse/jax-cache``); the
commands turn it on unless given ``--no-compilation-cache``.
"""
from __future__ import annotations

import os

import jax

from deep_sparse.names import CACHE_ENV, DEFAULT_MATMUL_PRECISION, MATMUL_PRECISIONS  # noqa: F401 - public here



def set_matmul_precision(precision: str) -> None:
    """Every float32 product of the programs compiled from now on at ``precision``: ``"highest"``
    (full float32 on every backend), ``"tensorfloat32"`` (TF32 where the device has it),
    ``"default"`` (the backend's own choice)."""
    if precision not in MATMUL_PRECISIONS:
        raise ValueError(f"matmul precision {precision!r}: expected one of {', '.join(MATMUL_PRECISIONS)}")
    jax.config.update("jax_default_matmul_precision", None if precision == "default" else precision)


def matmul_precision() -> str:
    """The matmul precision programs compile with now (what results record)."""
    return jax.config.jax_default_matmul_precision or "default"


def compilation_cache_dir() -> str:
    """``$DEEP_SPARSE_CACHE``, else the user cache folder's ``deep_sparse/jax-cache``."""
    if os.environ.get(CACHE_ENV):
        return os.path.expanduser(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "deep_sparse", "jax-cache")


def use_compilation_cache(enabled: bool = True, directory: str | None = None) -> str | None:
    """Keep every compiled program in ``directory`` (default :func:`compilation_cache_dir`) for later
    processes, or, ``enabled=False``, neither read nor write one. Returns the folder used."""
    if not enabled:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    directory = directory or compilation_cache_dir()
    os.makedirs(directory, exist_ok=True)
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", directory)
    # every program, however small or quick to compile: a CPU sweep's epochs compile in under JAX's
    # default threshold of one second each, and there are many of them
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory


def initialize_distributed(coordinator_address: str, num_processes: int, process_id: int) -> None:
    """``jax.distributed.initialize``; CPU processes exchange results through gloo (accelerators use
    their own collectives)."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address, num_processes, process_id)


if jax.config.jax_default_matmul_precision is None:
    set_matmul_precision(DEFAULT_MATMUL_PRECISION)
