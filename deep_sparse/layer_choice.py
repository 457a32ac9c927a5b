"""The pre-training lr chosen per layer (``TrainConfig.pretrain_lr_selection == "per_layer"``), against
one lr for the whole stack chosen on the error summed over its layers (``"stack"``, section 4.1).

The *candidates* of a setting are its pre-trained stacks that differ only in their pre-training lr
(same seed, L1, noise level and alpha: :func:`candidates_key`). They are pre-trained layer by layer
together. With ``e_k(i)`` the clean validation reconstruction error of candidate ``k``'s layer-``i``
auto-encoder after its last epoch (no noise, no L1 term; NaN once it diverged), layer ``i`` is the
winner's,

    w(i) = argmin_k e_k(i)   over the k with a finite e_k(i); the first such k on a tie; the first
                             candidate when none is finite (then every candidate stops, diverged),

and every candidate trains layer ``i + 1`` at its own lr on the codes of the winner's layers
``1..i`` (:func:`continue_from`). After the last layer the candidates hold one stack, whose layer ``i``
was trained at the pre-training lr of ``w(i)``.

Pure functions of host trees (one network's :class:`~deep_sparse.train_state.TrainState`, NumPy
leaves); :mod:`deep_sparse.stacks` runs the layers.
"""
from __future__ import annotations

import math
from typing import Sequence

from deep_sparse.config import HPARAM_NAMES
from deep_sparse.planner import stack_signature

# what the candidates of one setting share: every part of a stack's signature but the pre-training lr
SHARED_FIELDS = ("seed",) + tuple(name for name in HPARAM_NAMES if name not in ("lr", "pretrain_lr"))


def candidates_key(network) -> tuple:
    """The setting of ``network`` (a :class:`~deep_sparse.planner.Network`) whose stacks compete:
    its :data:`SHARED_FIELDS`."""
    return (network.seed,) + tuple(getattr(network.hparams, name) for name in SHARED_FIELDS[1:])


def candidate_sets(networks: Sequence) -> list[list]:
    """``networks`` (one per stack, in grid order) split by :func:`candidates_key`: each setting's
    candidates in grid order, the settings in the order their first candidate comes."""
    sets: dict = {}
    for network in networks:
        sets.setdefault(candidates_key(network), []).append(network)
    return list(sets.values())


def layer_winner(errors: Sequence[float]) -> int:
    """``w(i)`` of the module docstring for the candidates' errors ``e_k(i)`` of one layer."""
    finite = [(error, k) for k, error in enumerate(errors) if math.isfinite(error)]
    return min(finite)[1] if finite else 0


def last_error(stack, layer_index: int) -> float:
    """``e_k(i)``: the validation reconstruction error of the stack's layer ``layer_index`` after its
    last pre-training epoch (NaN when that epoch diverged or never ran)."""
    return float(stack.curves.pretrain_valid_loss[layer_index][-1])


def continue_from(stack, winner, layer_index: int):
    """``stack`` after layer ``layer_index`` was chosen: the ``winner``'s state (its layers ``1..i``,
    decoders, curves, key and stop flags) with ``stack``'s own optimizer states for the layers above
    ``i`` (which hold its pre-training lr) and for fine-tuning. Candidates share their seed, so their
    layers above ``i``, still untrained, are the same initial draws in both."""
    own_above = list(stack.pretrain_opt_states[layer_index + 1:])
    return winner._replace(pretrain_opt_states=list(winner.pretrain_opt_states[:layer_index + 1]) + own_above,
                           opt_state=stack.opt_state)


def choose_layer(stacks: dict, sets: Sequence[Sequence], layer_index: int) -> tuple[dict, dict]:
    """Layer ``layer_index`` chosen in every setting: ``(stacks, winners)``, the ``stacks`` (``{stack
    signature: state}``) each continued from its setting's winner (:func:`continue_from`), and
    ``{stack signature: the winning candidate's network}``. ``sets``: :func:`candidate_sets`."""
    stacks, winners = dict(stacks), {}
    for candidates in sets:
        keys = [stack_signature(network) for network in candidates]
        won = layer_winner([last_error(stacks[key], layer_index) for key in keys])
        winner = stacks[keys[won]]
        for key in keys:
            stacks[key] = continue_from(stacks[key], winner, layer_index)
            winners[key] = candidates[won]
    return stacks, winners
