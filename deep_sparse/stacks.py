"""Pre-trained stacks of a sweep (section 3.2): each stack pre-trained once, in chunks, and shared by
every fine-tuning learning rate of its group; the pre-training lr selected on reconstruction error
before fine-tuning; stacks kept for a later group that pre-trains the same way. It owns no file: the
store (:mod:`deep_sparse.store`) keeps finished stacks, the executor computes them."""
from __future__ import annotations

import collections
import dataclasses
from typing import Optional

import jax
import numpy as np

from deep_sparse import distributed, layer_choice, runtime, selection
from deep_sparse.checkpoints import ChunkCheckpoint
from deep_sparse.config import TrainConfig
from deep_sparse.executor import ChunkExecutor, ChunkPolicy
from deep_sparse.planner import (Group, Network, balanced_chunks, chunk_slots, pretraining_key,
                                 stack_representatives, stack_signature, stacks_name)
from deep_sparse.progress import Progress
from deep_sparse.rows import network_fields, pretrain_reconstruction
from deep_sparse.store import SweepStore


def stack_row(group: Group, network: Network, stack) -> dict:
    """A row for ``network`` before fine-tuning: its hyperparameters and its pre-trained stack's
    reconstruction error (``diverged``: pre-training diverged in some layer, or gave no finite
    reconstruction error; either way the stack scores inf in the selection)."""
    row = network_fields(group, network, runtime.matmul_precision())
    valid_loss = np.asarray(stack.curves.pretrain_valid_loss)
    row["pretrain_reconstruction"] = pretrain_reconstruction(valid_loss)
    diverged = bool(stack.diverged) or not np.isfinite(row["pretrain_reconstruction"])
    row.update(valid_error=None, diverged=diverged, finetuned=False,
               curves={"pretrain_loss": np.asarray(stack.curves.pretrain_loss).tolist(),
                       "pretrain_valid_loss": valid_loss.tolist()})
    return row

def select_stacks(group: Group, todo: list[Network], stacks: dict, finished: list[dict],
                   within: tuple[str, ...]) -> tuple[list[Network], list[dict]]:
    """The networks of ``todo`` whose pre-training lr has the lowest reconstruction error among the
    group's stacks (those of ``todo`` and the rows ``finished`` before, per ``within`` setting), and
    the rows of the others, marked not fine-tuned."""
    candidates = [stack_row(group, network, stacks[stack_signature(network)]) for network in todo]
    everything = sorted(candidates + finished, key=lambda row: row["network"])  # ties go to the first in the grid
    kept = {row["network"] for row in selection.lowest_reconstruction(everything, within)}
    return [n for n in todo if n.index in kept], [row for row in candidates if row["network"] not in kept]

def chunk_checkpoint(directory: str, policy: ChunkPolicy) -> Optional[ChunkCheckpoint]:
    """The chunk's checkpoints, when wanted; across several processes only finished chunks are kept."""
    if policy.wants_checkpoints() and not distributed.is_multiprocess():
        return ChunkCheckpoint(directory)
    return None

class SharedStacks:
    """Pre-trained stacks kept in memory for a later group of the sweep that pre-trains the same way
    (:func:`deep_sparse.planner.pretraining_key`: Figure 4's labeled fractions below 1); only the stacks
    of groups that share their pre-training with another are kept."""

    def __init__(self, groups: list[Group]):
        keys = collections.Counter(pretraining_key(g.config) for g in groups if g.config.pretrain_epochs)
        self.wanted = {key for key, count in keys.items() if count > 1}
        self.stacks: dict = {}

    def get(self, config: TrainConfig, signature: tuple):
        return self.stacks.get((pretraining_key(config), signature))

    def keep(self, config: TrainConfig, signature: tuple, stack) -> None:
        if pretraining_key(config) in self.wanted:
            self.stacks[(pretraining_key(config), signature)] = stack

def pretrained_stacks(executor: ChunkExecutor, group: Group, todo: list[Network], size: int, store: SweepStore,
                       policy: ChunkPolicy, report: Progress, shared: SharedStacks) -> Optional[tuple[dict, dict]]:
    """``({stack signature: state of one network}, {stack signature: pre-training lr of each layer})``
    after pre-training, each stack pre-trained once and shared by every fine-tuning learning rate
    (section 4.1's grid); None for a group without pre-training. The lrs per layer are given where
    they are chosen per layer (``TrainConfig.pretrain_lr_selection``), else ``{}``.

    Stacks are pre-trained in chunks of at most ``size`` (the group's chunk size); a finished chunk of
    stacks stays in ``out_dir/pretrained`` (local, like checkpoints) until its group is done, so that a
    resumed sweep does not pre-train it again. A chunk whose stacks an earlier group of this run
    pre-trained the same way (``shared``) is taken from it.
    """
    if not executor.train.pretrain:
        return None
    if not policy.resume:  # a sweep started anew never picks up a stack left in its folder
        store.discard_pretrained(group.index)
    # the group's stacks are chunked as they were first trained, so that a resume with fewer networks left
    # to fine-tune finds the folders of the stacks it finished (named by each chunk's first and last
    # network); a resume asked for smaller chunks (memory) gets them, and pre-trains those stacks again
    size = min(size, store.stack_chunk_size(group.index) or size)
    if not distributed.is_multiprocess():  # where stacks are kept (see _checkpoint)
        store.record_stack_chunk_size(group.index, size)
    representatives = stack_representatives(group.networks)
    # the last epoch is always saved: that checkpoint is the finished stack a resumed sweep reuses
    stack_policy = dataclasses.replace(policy, resume=True, save_last=True)
    chunks = balanced_chunks(representatives, size, executor.n_devices)
    slots = chunk_slots(chunks, executor.n_devices)
    if group.config.pretrain_lr_selection == "per_layer":
        return stacks_chosen_per_layer(executor, group, chunks, slots, store, stack_policy, report)
    needed = {stack_signature(network) for network in todo}
    stacks: dict = {}
    taken = 0
    for chunk in chunks:
        if needed.isdisjoint(stack_signature(network) for network in chunk):
            continue
        earlier = [shared.get(group.config, stack_signature(network)) for network in chunk]
        if all(stack is not None for stack in earlier):
            stacks.update((stack_signature(network), stack) for network, stack in zip(chunk, earlier))
            taken += len(chunk)
            continue
        directory = store.pretrained_dir(group.index, stacks_name(group, chunk))
        state = executor.run_stages(executor.initial_state(chunk, slots), chunk, slots, executor.train.pretrain,
                                    label=f"group {group.index}", checkpoint=chunk_checkpoint(directory, stack_policy),
                                    policy=stack_policy, progress=report)
        host = distributed.to_host(state)
        for position, network in enumerate(chunk):
            stacks[stack_signature(network)] = jax.tree.map(lambda a: a[position], host)
            shared.keep(group.config, stack_signature(network), stacks[stack_signature(network)])
    report.log(f"group {group.index}: {len(stacks)} pre-trained stack(s) shared by {len(todo)} network(s)"
               + (f", {taken} of them taken from an earlier group that pre-trained them the same way" if taken else ""))
    return stacks, {}


def stacks_chosen_per_layer(executor: ChunkExecutor, group: Group, chunks: list[list[Network]], slots: int,
                            store: SweepStore, policy: ChunkPolicy, report: Progress) -> tuple[dict, dict]:
    """Every stack of ``chunks`` pre-trained layer by layer, each layer's pre-training lr chosen among
    the candidates of each setting on that layer's own reconstruction error
    (:mod:`deep_sparse.layer_choice`): ``({stack signature: state}, {stack signature: [pre-training lr
    of each layer]})``, the candidates of a setting holding one stack at the end.

    All chunks train a layer, then it is chosen on the host, so a setting's candidates may lie in any
    chunks; every stack of the group is pre-trained, a resume with fewer networks left included (the
    choice reads every candidate). Each chunk's layer is checkpointed in a folder of its own
    (``..._layer2``): a resumed sweep restores the layers it finished and chooses them again the same
    way (the choice reads their curves). The deadline is checked per chunk and layer.
    A stack so chosen depends on its setting's other candidates: it is never shared with another group
    (:class:`SharedStacks`).
    """
    sets = layer_choice.candidate_sets([network for chunk in chunks for network in chunk])
    stacks: dict = {}
    layer_lrs: dict = {stack_signature(network): [] for chunk in chunks for network in chunk}
    for layer_index, stage in enumerate(executor.train.pretrain):
        for chunk in chunks:
            start = (executor.initial_state(chunk, slots) if layer_index == 0 else
                     executor.pretraining_state([stacks[stack_signature(n)] for n in chunk], chunk, slots))
            directory = store.pretrained_dir(group.index, f"{stacks_name(group, chunk)}_layer{layer_index + 1}")
            state = executor.run_stages(start, chunk, slots, (stage,), label=f"group {group.index}",
                                        checkpoint=chunk_checkpoint(directory, policy), policy=policy, progress=report)
            host = distributed.to_host(state)
            for position, network in enumerate(chunk):
                stacks[stack_signature(network)] = jax.tree.map(lambda a, p=position: a[p], host)
        errors = {key: layer_choice.last_error(stack, layer_index) for key, stack in stacks.items()}
        stacks, winners = layer_choice.choose_layer(stacks, sets, layer_index)
        for key, winner in winners.items():
            layer_lrs[key].append(winner.hparams.pretrain_lr)
        report.log(f"group {group.index}: layer {layer_index + 1}'s pre-training lr chosen on its own validation "
                   f"reconstruction error: {'; '.join(_choice(c, winners, errors) for c in sets)}")
    return stacks, layer_lrs


def _choice(candidates: list[Network], winners: dict, errors: dict) -> str:
    """``0.01 among 0.1 (nan), 0.01 (12.5), 0.001 (14.1)``: a setting's chosen lr and each candidate's error."""
    chosen = winners[stack_signature(candidates[0])].hparams.pretrain_lr
    return f"{chosen:g} among " + ", ".join(f"{n.hparams.pretrain_lr:g} ({errors[stack_signature(n)]:.6g})"
                                           for n in candidates)
