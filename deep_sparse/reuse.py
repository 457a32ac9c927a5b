"""Rows of another sweep that are the same computation as networks of this one, taken instead of
retrained: experiments that share networks train them once (the workshop's Table 1 on MNIST holds
the networks of Table 1 without pre-training).

Two networks are the same computation when they train on the same data (the SHA-256 of its arrays,
recorded by every sweep in ``results.json`` as ``data_sha256`` per group) with equal
:func:`computation_key`: the seed, and the configuration and hyperparameters without the fields that
the network never reads. A donor folder is read through its :class:`~deep_sparse.store.SweepStore`
(plan and finished chunks, checksums checked), never written.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Optional, Sequence

import numpy as np

from deep_sparse import portable, results_io
from deep_sparse.config import HPARAM_NAMES, Hparams, TrainConfig
from deep_sparse.planner import Group, Network, normalize_grid, plan
from deep_sparse.store import SweepStore, is_finetuned
from deep_sparse.train import DATA_ARRAYS

# read only by pre-training: a network that does not pre-train computes the same without them
PRETRAINING_FIELDS = ("pretrain_strategy", "tied_decoder", "corruption", "first_layer_corruption",
                      "pretrain_lr_selection")
PRETRAINING_HPARAMS = ("pretrain_lr", "noise_level")


def computation_key(config: TrainConfig, network: Network) -> str:
    """What a network's results depend on besides its data: its seed, its configuration and its
    hyperparameters, less what it never reads (pre-training's fields without pre-training, ``alpha``
    unless the activation is the rescaled softplus, ``labeled_seed`` when every label is used). Kept
    to the letter otherwise (``eval_batch_size`` and the data set's name and sizes included)."""
    settings = dataclasses.asdict(config)
    hparams = network.hparams._asdict()
    if config.pretrain_epochs == 0:
        for name in PRETRAINING_FIELDS:
            settings.pop(name)
        for name in PRETRAINING_HPARAMS:
            hparams.pop(name)
    if config.activation != "scaled_softplus":
        hparams.pop("alpha")
    if config.labeled_fraction == 1.0:
        settings.pop("labeled_seed")
    return json.dumps({"config": settings, "hparams": hparams, "seed": network.seed}, sort_keys=True, default=list)


def data_sha256(data) -> str:
    """SHA-256 of a :class:`~deep_sparse.train.Data`'s arrays (dtype, shape and bytes of each field)."""
    digest = hashlib.sha256()
    for name in DATA_ARRAYS:
        array = getattr(data, name)
        digest.update(name.encode())
        if array is None:
            digest.update(b"None")
            continue
        array = np.ascontiguousarray(np.asarray(array))
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def donor_rows(folder: str) -> dict[tuple[str, str], dict]:
    """``{(computation key, data SHA-256): row}`` of every fine-tuned network finished in the sweep
    folder ``folder`` whose data it recorded and whose row holds what a row records today
    (:func:`complete_record`)."""
    store = SweepStore(folder)
    if not os.path.exists(store.plan_path):
        raise FileNotFoundError(f"{folder}: no plan.json; --reuse-rows-from takes the folder of a sweep")
    record = results_io.read_json(store.plan_path)
    groups = plan(TrainConfig(**record["config"]), normalize_grid(record["grid"]), Hparams(**record["base_hparams"]))
    expected = {n.index: (g.index, n.seed) for g in groups for n in g.networks}
    hashes = store.recorded_data_sha256()
    keys = {n.index: computation_key(g.config, n) for g in groups for n in g.networks}
    tasks = {n.index: g.config.task for g in groups for n in g.networks}
    return {(keys[index], hashes[str(row["group"])]): row for index, row in store.finished_rows(expected).items()
            if str(row["group"]) in hashes and is_finetuned(row) and complete_record(row, tasks[index])}


def complete_record(row: dict, task: str) -> bool:
    """Whether a donor's row holds everything this sweep records: a classifier's per-example test
    errors (``test_wrong``, which a paired test of two networks reads) are missing from rows recorded
    before they were kept, and such a network is trained again rather than taken without them."""
    return task != "classification" or row.get("test_wrong") is not None


def reused_rows(folders: Sequence[str], group: Group, networks: Sequence[Network], data_hash: Optional[str],
                donors: dict[str, dict]) -> list[dict]:
    """Rows for those of ``networks`` (of ``group``, trained on data of SHA-256 ``data_hash``) that a
    sweep of ``folders`` already computed: the donor's row with this sweep's network, group and
    hyperparameters, and ``reused_from`` saying where it comes from. ``donors`` caches
    :func:`donor_rows` per folder. A network whose pre-training lr is chosen per layer depends on the
    other candidates of its group (:mod:`deep_sparse.layer_choice`), which its key does not hold: it
    is never taken."""
    if group.config.pretrain_epochs and group.config.pretrain_lr_selection == "per_layer":
        return []
    rows = []
    for network in networks:
        key = (computation_key(group.config, network), data_hash)
        for folder in folders:
            if folder not in donors:
                donors[folder] = donor_rows(folder)
            row = donors[folder].get(key)
            if row is not None:
                rows.append({**row, "network": network.index, "group": group.index,
                             **{name: getattr(network.hparams, name) for name in HPARAM_NAMES},
                             "reused_from": f"{portable.recorded_path(folder)}: network {row['network']}"})
                break
    return rows
