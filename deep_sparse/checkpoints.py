"""Checkpoints of a running chunk of networks (orbax), for resuming a sweep after a crash or a kill."""
from __future__ import annotations

import os
from typing import Optional

import jax


class ChunkCheckpoint:
    """Orbax checkpoints of one chunk's state; the step is the number of epochs done in the chunk."""

    def __init__(self, directory: str):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.manager = ocp.CheckpointManager(
            os.path.abspath(directory),
            options=ocp.CheckpointManagerOptions(max_to_keep=1, enable_async_checkpointing=False),
        )

    def latest_step(self) -> Optional[int]:
        return self.manager.latest_step()

    # Leaves are stored flat, by position: the state's structure comes from the template, so no
    # class or code is ever read back from disk. Orbax refuses zero-size arrays (e.g. the pre-training
    # curves of a run without pre-training); those are taken from the template.
    def save(self, step: int, state) -> None:
        leaves = jax.tree.leaves(state)
        stored = {f"{i:05d}": x for i, x in enumerate(leaves) if x.size}
        self.manager.save(step, args=self._ocp.args.StandardSave(stored))
        self.manager.wait_until_finished()

    def restore(self, step: int, template):
        leaves, treedef = jax.tree.flatten(template)
        abstract = {
            f"{i:05d}": jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
            for i, x in enumerate(leaves) if x.size
        }
        restored = self.manager.restore(step, args=self._ocp.args.StandardRestore(abstract))
        return jax.tree.unflatten(treedef, [restored.get(f"{i:05d}", x) for i, x in enumerate(leaves)])

    def close(self) -> None:
        self.manager.close()
