"""Networks that trained without diverging yet learned nothing, and the rule that keeps them out.

A network whose loss stays finite can still end where it started: at lr 1000 a rectifier network on
MNIST ends at 91% training error (its loss finite, so not ``diverged``, and not one constant class,
so not ``dead``). Such a network is *collapsed*: its training error is no better than predicting the
most frequent class of its training labels. Its row says so (``collapsed``) and why
(``collapse_reason``); selection leaves it out like a diverged one (a collapsed network is chosen
only when every candidate diverged or collapsed), and summaries count it.
"""
from __future__ import annotations

import numpy as np

# float32 error rates of the same labels can differ by an ulp from the float64 baseline
TOLERANCE = 1e-6


def majority_error(labels) -> float:
    """The error rate of always predicting the most frequent class of ``labels``."""
    labels = np.asarray(labels).ravel()
    if not labels.size:
        return 1.0
    return 1.0 - np.bincount(labels.astype(np.int64)).max() / labels.size


def collapse_reason(train_error: float, baseline: float, diverged: bool) -> str:
    """Why a network is collapsed (``""`` when it is not): its training error ``train_error`` is no
    better than ``baseline``, the majority-class error of its training labels. A diverged network is
    flagged as such, not as collapsed."""
    if diverged or not train_error >= baseline - TOLERANCE:
        return ""
    return (f"training error {100 * train_error:.2f}% is no better than always predicting the most frequent "
            f"training class ({100 * baseline:.2f}%)")


def is_collapsed(row: dict) -> bool:
    """Whether a results row is flagged collapsed (rows recorded before the flag: not collapsed)."""
    return bool(row.get("collapsed"))


def is_excluded(row: dict) -> bool:
    """Whether selection leaves the row out: it diverged, or it collapsed."""
    return bool(row["diverged"]) or is_collapsed(row)
