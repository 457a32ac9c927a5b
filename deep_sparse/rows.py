"""What a recorded row is, beyond its numbers, in a module that does not import JAX (the report and
the command lines read it): which test examples a network got wrong, packed; whether a network is
dead; the pre-training reconstruction error a row records."""
from __future__ import annotations

from typing import Optional

import numpy as np


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
