"""The plan of a sweep, pure data: a grid of points, split into groups that share one compiled
program, each group's networks split into chunks. Computes nothing and owns no file."""
from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Iterable, Optional, Sequence

from deep_sparse.config import HPARAM_NAMES, Hparams, TrainConfig
from deep_sparse.hparam_rules import INIT_ALPHA_NAMES, RULES

STRUCTURAL_NAMES = tuple(
    field.name for field in dataclasses.fields(TrainConfig)
    if field.name not in ("eval_batch_size",)
)
GRID_NAMES = HPARAM_NAMES + ("seed",) + STRUCTURAL_NAMES


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
    """What is wrong with one network's hyperparameters (``{name: float}``), or None: each value
    against its rule in :mod:`deep_sparse.hparam_rules` (learning rates finite and > 0, L1 finite and
    >= 0, the corruption level a probability for masking and salt-and-pepper noise but a standard
    deviation >= 0 for Gaussian noise, alpha > 0 with inf the rectifier, each init_alpha > 0 and 1 for a
    hidden layer the network does not have)."""
    corruptions = (config.corruption, config.first_layer_corruption)
    for name in HPARAM_NAMES:
        problem = RULES[name].problem(values[name], corruptions)
        if problem:
            return problem
    n_hidden = len(config.hidden_sizes)
    for name in INIT_ALPHA_NAMES[n_hidden:]:  # a layer the network does not have
        if values[name] != 1.0:
            return f"{name} must be 1 for a network of {n_hidden} hidden layer(s), got {values[name]!r}"
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
        if RULES["seed"].problem(seed):
            raise ValueError(f"grid point {index}: {RULES['seed'].problem(seed)}")
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


def balanced_chunks(networks: list, size: int, n_devices: int = 1) -> list[list]:
    """``networks`` in as few chunks of at most ``size`` as possible, of balanced sizes (multiples of
    ``n_devices`` but the last): 200 networks with at most 192 per chunk are 100 + 100, not 192 + 8
    (whose chunk would compute 184 padding slots)."""
    n_chunks = -(-len(networks) // size)
    per_chunk = -(-len(networks) // n_chunks)
    per_chunk += -per_chunk % n_devices
    return [networks[i: i + per_chunk] for i in range(0, len(networks), per_chunk)]


def chunk_slots(chunks: list[list], n_devices: int = 1) -> int:
    """The slots every chunk of ``chunks`` (from :func:`balanced_chunks`) is computed in: its first
    (largest) chunk's size, padded to a multiple of ``n_devices``, so that all compile once."""
    return len(chunks[0]) + (-len(chunks[0]) % n_devices)


def chunk_name(group: Group, networks: list[Network]) -> str:
    """``group000_networks_00004-00007``: a chunk is named by the networks it holds, so that a sweep
    resumed with another chunk size keeps every finished network and its checkpoints cannot be
    mistaken for another chunk's."""
    return f"group{group.index:03d}_networks_{networks[0].index:05d}-{networks[-1].index:05d}"


def stacks_name(group: Group, networks: list[Network]) -> str:
    """``group000_stacks_00000-00003``: a chunk of pre-trained stacks, named by its first and last network."""
    return f"group{group.index:03d}_stacks_{networks[0].index:05d}-{networks[-1].index:05d}"


def stack_signature(network: Network) -> tuple:
    """What a pre-trained stack depends on: the seed and every hyperparameter but the fine-tuning lr
    (plain SGD keeps no state, so the lr enters no computation before fine-tuning)."""
    return (network.seed,) + tuple(getattr(network.hparams, name) for name in HPARAM_NAMES if name != "lr")


def pretraining_key(config: TrainConfig) -> tuple[TrainConfig, bool]:
    """What a group's pre-training depends on besides each stack's :func:`stack_signature`: its config,
    but of the labeled fraction only whether it is below 1. Pre-training reads every training input,
    labeled or not, and a fraction below 1 only shuffles the training set once, the same way for every
    fraction (``labeled_seed``), so Figure 4's fractions below 1 pre-train identical stacks."""
    return dataclasses.replace(config, labeled_fraction=1.0), config.labeled_fraction < 1.0


def stack_representatives(networks: list[Network]) -> list[Network]:
    """The first network of each distinct pre-trained stack, in grid order."""
    return list({stack_signature(n): n for n in reversed(networks)}.values())[::-1]


def network_epochs(config: TrainConfig) -> int:
    """Epochs of one network at most: every pre-training epoch of every layer, and fine-tuning."""
    return config.epochs + config.pretrain_epochs * len(config.hidden_sizes)


def bucket_size(n_running: int, n_devices: int, per_octave: int = 1) -> int:
    """Slots of a compacted chunk for ``n_running`` networks: per device, a power of two (so that a
    chunk shrinking epoch after epoch compiles at most log2(size) programs), or with ``per_octave``
    = 2**j > 1 the next multiple of 2**(b - j) for the power of two 2**b just below it (4: 32, 40,
    48, 56, 64; at most ``per_octave`` programs per doubling, at most 1/per_octave of a bucket idle)."""
    if per_octave < 1 or per_octave & (per_octave - 1):
        raise ValueError(f"buckets per octave must be a power of two >= 1, got {per_octave}")
    per_device = -(-n_running // n_devices)
    power = 1 << max(0, per_device - 1).bit_length()
    step = max(1, power // 2 // per_octave)
    return n_devices * min(power, -(-per_device // step) * step)


def bucket_sizes(n_real: int, size: int, n_devices: int, per_octave: int = 1) -> list[int]:
    """Every size a chunk of ``n_real`` networks in ``size`` slots is computed in as its networks stop
    (each a program of its own), largest first: ``size`` and each smaller :func:`bucket_size` of 1 to
    ``n_real`` running networks."""
    smaller = {bucket_size(n, n_devices, per_octave) for n in range(1, n_real + 1)}
    return [size] + sorted((s for s in smaller if s < size), reverse=True)


def slot_epochs(epochs_run: Sequence[int], size: int, n_devices: int = 1, per_octave: int = 1) -> int:
    """Network-epochs a compacted chunk computes for networks that ran ``epochs_run`` fine-tuning
    epochs in ``size`` slots: at each epoch the bucket of the networks still running (what
    the executor's compacted buckets compute under vmap on one process). Its real network-epochs are
    ``sum(epochs_run)``."""
    epochs = range(1, max(epochs_run, default=0) + 1)
    running = [sum(e >= epoch for e in epochs_run) for epoch in epochs]
    return sum(min(size, bucket_size(r, n_devices, per_octave)) for r in running)
