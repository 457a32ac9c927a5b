"""Model selection over sweep result rows, the same rule for every experiment that pre-trains.

The paper (section 4.1): "The unsupervised learning rate is constant, and the following values have
been explored: {.1, .01, .001, .0001}. We select the model with the lowest reconstruction error. For
the supervised fine-tuning we chose a constant learning rate [...] with respect to the supervised
validation error." Section 4.2 adds that the noise level is "selected based on the classification
performance, other hyperparameters [...] according to the reconstruction error". Hence, for each
group of rows (a table cell: an activation, a model, a curve point):

1. among the pre-trained rows, separately for each combination of the ``within`` fields (e.g. the
   noise level, chosen on classification in section 4.2), keep only the rows of the pre-training
   learning rate with the lowest reconstruction error (:func:`reconstruction_error`: the error
   alone, no noise and no L1 term, of the clean validation inputs, summed over the layers after each
   layer's last pre-training epoch; ``deep_sparse.rows.pretrain_reconstruction``). A pre-training lr
   scores the lowest value among its rows (the rows of one pre-trained stack share one value; a
   diverged row scores inf). Rows without pre-training pass through unchanged;
2. among the rows left, keep the one with the lowest validation error (error rate, or RMSE for
   ratings) that did not diverge nor collapse (:mod:`deep_sparse.health`: a training error no better
   than predicting the most frequent class); if every row diverged or collapsed, the first row.

The test error never takes part. Ties go to the row (or pre-training lr) that comes first in
``rows``. Everything here is a pure function of the rows (dicts as ``deep_sparse.sweep.run`` returns
them, with the fields ``diverged``, ``valid_error``, ``pretrain_epochs``, ``pretrain_lr`` and
``pretrain_reconstruction``).
"""
from __future__ import annotations

import math
from typing import Callable, Hashable, Sequence

import numpy as np

from deep_sparse import health

__all__ = ["reconstruction_error", "validation_error", "lowest_reconstruction", "best_by_validation", "select",
           "by_fields", "mcnemar_exact"]

REQUIRED_FIELDS = ("diverged", "valid_error", "pretrain_epochs", "pretrain_lr")


def _check_rows(rows: Sequence[dict]) -> None:
    for index, row in enumerate(rows):
        missing = [name for name in REQUIRED_FIELDS if name not in row]
        if missing:
            raise ValueError(f"result row {index}: no field {', '.join(map(repr, missing))} to select on; "
                             f"rows need {', '.join(REQUIRED_FIELDS)}")


def reconstruction_error(row: dict) -> float:
    """The pre-training criterion of ``row``: its ``pretrain_reconstruction`` (clean validation
    reconstruction error summed over layers); inf for a diverged row or one without pre-training."""
    value = row.get("pretrain_reconstruction")
    return math.inf if row["diverged"] or value is None else float(value)


def validation_error(row: dict) -> float:
    """The fine-tuning criterion of ``row``: its validation error; inf for a diverged or collapsed row."""
    return math.inf if health.is_excluded(row) else float(row["valid_error"])


def lowest_reconstruction(rows: Sequence[dict], within: Sequence[str] = ()) -> list[dict]:
    """Step 1 of the rule: ``rows`` without the pre-trained rows whose pre-training lr is not the one
    of lowest reconstruction error among the pre-trained rows that share their ``within`` fields.
    Rows without pre-training (``pretrain_epochs == 0``) are all kept; order is kept."""
    _check_rows(rows)
    score: dict = {}  # (within values, pretrain_lr) -> lowest reconstruction error among its rows
    for row in rows:
        if row["pretrain_epochs"] > 0:
            key = (tuple(row[name] for name in within), row["pretrain_lr"])
            score[key] = min(score.get(key, math.inf), reconstruction_error(row))
    best: dict = {}  # within values -> pretrain_lr kept (the first of the lowest score)
    for (setting, pretrain_lr), value in score.items():
        if setting not in best or value < score[(setting, best[setting])]:
            best[setting] = pretrain_lr
    return [row for row in rows if row["pretrain_epochs"] == 0
            or row["pretrain_lr"] == best[tuple(row[name] for name in within)]]


def best_by_validation(rows: Sequence[dict]) -> dict:
    """Step 2 of the rule: the row neither diverged nor collapsed of lowest validation error (the first
    one on a tie), or the first row when every row diverged or collapsed. ``rows`` must not be empty."""
    if not rows:
        raise ValueError("no rows to select from")
    _check_rows(rows)
    return min(rows, key=validation_error)  # min keeps the first of equal keys; all inf -> rows[0]


def select(rows: Sequence[dict], key: Callable[[dict], Hashable], within: Sequence[str] = ()) -> dict:
    """``{key(row): selected row}`` for each group of ``rows`` that share ``key(row)`` (in the order
    their first rows come): the pre-training lr of lowest reconstruction error (per ``within``
    setting), then the row of lowest validation error; see the module docstring."""
    groups: dict = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return {group: best_by_validation(lowest_reconstruction(members, within)) for group, members in groups.items()}


def by_fields(*names: str) -> Callable[[dict], tuple]:
    """A ``key`` for :func:`select`: the tuple of a row's values of ``names``."""
    return lambda row: tuple(row[name] for name in names)


def mcnemar_exact(wrong_a, wrong_b) -> dict:
    """Exact two-sided McNemar test on paired per-example errors (booleans, same examples).

    b: examples only A gets wrong, c: only B. Under H0 (equal error rates), b ~ Binomial(b + c, 1/2);
    p = min(1, 2 * P(X <= min(b, c))). Returns {"b", "c", "n", "p_value"}.
    """
    wrong_a, wrong_b = np.asarray(wrong_a, bool), np.asarray(wrong_b, bool)
    if wrong_a.shape != wrong_b.shape:
        raise ValueError(f"paired errors need the same examples, got shapes {wrong_a.shape} and {wrong_b.shape}")
    b = int(np.sum(wrong_a & ~wrong_b))
    c = int(np.sum(~wrong_a & wrong_b))
    n = b + c
    if n == 0:
        return {"b": 0, "c": 0, "n": int(wrong_a.size), "p_value": 1.0}
    k = min(b, c)
    log_terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    top = max(log_terms)
    tail = math.exp(top) * sum(math.exp(t - top) for t in log_terms)
    return {"b": b, "c": c, "n": int(wrong_a.size), "p_value": min(1.0, 2.0 * tail)}
