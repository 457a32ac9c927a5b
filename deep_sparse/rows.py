"""What a recorded row is, in a module that does not import JAX (the report and the command lines read
it): the fields a finished network's row holds, which test examples it got wrong (packed), whether it
is dead or collapsed, and the pre-training reconstruction error it records. It must not compute
anything but the row: the numbers come from the run's results."""
from __future__ import annotations

from typing import Optional

import numpy as np

from deep_sparse import health


def pack_wrong(wrong) -> dict:
    """Which test examples a network got wrong, compactly for a JSON row: the number of examples and
    the bits (1: wrong, in test-set order) packed into bytes, as hex (2.5 kB for 10,000 examples)."""
    wrong = np.asarray(wrong, bool)
    return {"examples": int(wrong.size), "packed_hex": np.packbits(wrong).tobytes().hex()}


def unpack_wrong(packed: dict) -> np.ndarray:
    """The boolean array :func:`pack_wrong` packed."""
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(packed["packed_hex"]), np.uint8))
    return bits[: packed["examples"]].astype(bool)


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
    pre-training epoch; None without pre-training, inf when pre-training diverged (a diverged epoch
    records NaN and pre-training stops there, so some layer's last epoch is then NaN)."""
    valid_loss = np.asarray(valid_loss, np.float64)
    if valid_loss.size == 0:
        return None
    total = float(valid_loss[:, -1].sum())
    return total if np.isfinite(total) else np.inf


def network_fields(group, network, matmul_precision: str) -> dict:
    """What a row says of the network itself: its place in the sweep, hyperparameters and structure
    (``group`` and ``network`` as :mod:`deep_sparse.planner` makes them), and the matmul precision it
    was computed at."""
    row = {"network": network.index, "group": group.index, "seed": network.seed}
    row.update(network.hparams._asdict())
    row["activation"] = group.config.activation
    row["hidden_sizes"] = "-".join(str(n) for n in group.config.hidden_sizes)
    row["pretrain_epochs"] = group.config.pretrain_epochs
    row["labeled_fraction"] = group.config.labeled_fraction
    row["matmul_precision"] = matmul_precision
    return row


def rows_from_results(results, group, networks: list, matmul_precision: str,
                      baseline: Optional[float] = None) -> list[dict]:
    """One row per network of a finished chunk (``results``: its :class:`~deep_sparse.train.Result`, on
    the host); ``baseline``: the majority-class error of the training labels (None for a task without
    classes), below which a network must get to count as having learned."""
    rows = []
    for position, network in enumerate(networks):
        row = network_fields(group, network, matmul_precision)
        for name in ("test_error", "valid_error", "train_error", "sparsity"):
            row[name] = float(getattr(results, name)[position])
        for layer, value in enumerate(results.sparsity_per_layer[position]):
            row[f"sparsity_layer_{layer + 1}"] = float(value)
        for layer, value in enumerate(results.weight_norm_per_layer[position]):
            row[f"weight_norm_layer_{layer + 1}"] = float(value)
        row["pretrain_reconstruction"] = pretrain_reconstruction(results.curves.pretrain_valid_loss[position])
        row["epochs_run"] = int(results.epochs_run[position])
        row["best_epoch"] = int(results.best_epoch[position])
        row["diverged"] = bool(results.diverged[position])
        row["top_class_share"] = float(results.top_class_share[position])
        silent = [float(v) for v in results.silent_units_per_layer[position]]
        row["dead"] = is_dead(row["diverged"], row["top_class_share"], silent)
        reason = "" if baseline is None else health.collapse_reason(row["train_error"], baseline, row["diverged"])
        row["collapsed"], row["collapse_reason"] = bool(reason), reason
        if group.config.task == "classification":
            row["test_wrong"] = pack_wrong(results.test_example_errors[position] > 0.5)
        row["curves"] = {
            "train_loss": results.curves.train_loss[position].tolist(),
            "valid_error": results.curves.valid_error[position].tolist(),
            "valid_sparsity": results.curves.valid_sparsity[position].tolist(),
            "pretrain_loss": results.curves.pretrain_loss[position].tolist(),
            "pretrain_valid_loss": results.curves.pretrain_valid_loss[position].tolist(),
        }
        rows.append(row)
    return rows
