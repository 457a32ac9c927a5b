"""Review ratings (paper, section 4.2): (text, rating 1..5) files to sparse binary bags of words.

Input files:

* CSV with a header row holding (at least) the columns ``text`` and ``rating``;
* JSON Lines (``.jsonl`` / ``.json``): one object ``{"text": ..., "rating": ...}`` per line.

Ratings must be integers 1..5 (``4`` or ``"4"`` or ``4.0``); anything else is a ``ValueError`` naming
the file, the line number and the value. Unlabeled reviews (section 4.2: 300,000 of them, for the
unsupervised pre-training only) come in the same formats with the rating absent or ignored
(:func:`read_unlabeled_reviews`).

Features (as in the paper): a binary bag of words (presence/absence) over the ``k`` most frequent
terms of the *training split* and the unlabeled reviews, never the validation or test folds
(``k = 5000`` by default; ties broken alphabetically), with a simple
tokenizer (:func:`tokenize`: lowercase, runs of ``[a-z0-9']``). The matrix is kept sparse in CSR form
(:class:`SparseBinary`: ``indptr``, ``indices``; NumPy only) until :meth:`SparseBinary.densify` makes a
float32 batch of some rows.

Splits: :func:`kfold_indices` gives 10-fold cross-validation folds (a seeded permutation cut in
``n_folds`` nearly equal parts). Labels are ``rating - 1`` (0..4) for the 5-class model of
:mod:`deep_sparse.ratings`. The binary-polarity variant (Amazon benchmark, Blitzer et al. 2007):
ratings <= 2 are negative (label 0), >= 4 positive (label 1), and 3-star reviews are dropped.

:func:`make_synthetic_reviews` writes a small, clearly synthetic labeled (or unlabeled) file for tests
and smoke runs.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .download import atomic_write_bytes

__all__ = ["read_reviews", "read_unlabeled_reviews", "tokenize", "build_vocabulary", "SparseBinary", "bag_of_words", "kfold_indices",
           "polarity", "make_synthetic_reviews", "load_fold", "DEFAULT_K"]

DEFAULT_K = 5000
_TOKEN = re.compile(r"[a-z0-9']+")


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens: runs of letters, digits and apostrophes."""
    return _TOKEN.findall(text.lower())


def _rating(value, path: str, line: int) -> int:
    try:
        # a JSON true/false is not a rating, though Python would read it as 1/0
        number = float("nan") if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (math.isfinite(number) and number == int(number) and 1 <= number <= 5):
        raise ValueError(f"{path}, line {line}: rating {value!r} is not an integer from 1 to 5")
    return int(number)


def _utf8_text(path: str) -> io.StringIO:
    """The file's text; a file that is not UTF-8 is refused naming the line of the first bad byte."""
    raw = open(path, "rb").read()
    try:
        return io.StringIO(raw.decode("utf-8"), newline="")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: not UTF-8 text (byte {raw[error.start]:#04x} at offset "
                         f"{error.start}); save the file as UTF-8") from None


def _text(value: str, path: str, line: int) -> str:
    if not value.strip():  # a review with no words has no bag of words to learn from
        raise ValueError(f"{path}, line {line}: the review text is empty")
    return value


def _json_records(f, path: str, keys: tuple[str, ...]):
    """``(line number, record)`` of each non-blank JSON Lines line, a dict holding ``keys``."""
    for number, line in enumerate(f, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not a JSON object ({error.msg})") from None
        if not isinstance(record, dict) or not set(keys) <= set(record):
            raise ValueError(f"{path}, line {number}: expected an object with keys {' and '.join(map(repr, keys))}")
        if not isinstance(record["text"], str):
            raise ValueError(f"{path}, line {number}: 'text' must be a string, got {record['text']!r}")
        yield number, record


def _csv_records(f, path: str, keys: tuple[str, ...]):
    """``(line number, row)`` of each CSV row after a header holding the columns ``keys``."""
    reader = csv.DictReader(f)
    if reader.fieldnames is None or not set(keys) <= set(reader.fieldnames):
        raise ValueError(f"{path}, line 1: expected a CSV header with columns {' and '.join(map(repr, keys))}, "
                         f"got {reader.fieldnames}")
    for row in reader:
        if any(row.get(key) is None for key in keys):
            raise ValueError(f"{path}, line {reader.line_num}: expected {' and '.join(keys)}, got {row}")
        yield reader.line_num, row


def _records(path: str, keys: tuple[str, ...]):
    """``(line number, record)`` of every review of a CSV or JSON Lines file, each holding ``keys``, in
    file order (so that a reader's error names the first bad line); a file with none is an error."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"reviews file {path} not found")
    count = 0
    with _utf8_text(path) as f:
        is_json = path.endswith((".jsonl", ".json", ".ndjson"))
        for count, record in enumerate(_json_records(f, path, keys) if is_json else _csv_records(f, path, keys), 1):
            yield record
    if count == 0:
        raise ValueError(f"{path}: expected at least one review, found none")


def read_reviews(path: str) -> tuple[list[str], np.ndarray]:
    """``(texts, ratings int32 1..5)`` from a CSV (``text,rating`` header) or JSON Lines file."""
    texts, ratings = [], []
    for number, record in _records(path, ("text", "rating")):  # errors name the first bad line
        texts.append(_text(record["text"], path, number))
        ratings.append(_rating(record["rating"], path, number))
    return texts, np.asarray(ratings, np.int32)


def read_unlabeled_reviews(path: str) -> list[str]:
    """The texts of an unlabeled reviews file: the formats of :func:`read_reviews` (a CSV with a
    ``text`` column, or JSON Lines objects with a ``text`` key); a rating, if present, is ignored."""
    return [_text(record["text"], path, number) for number, record in _records(path, ("text",))]


def build_vocabulary(texts: Sequence[str], k: int = DEFAULT_K) -> dict[str, int]:
    """The ``k`` terms in the most documents of ``texts`` (ties alphabetical) -> column index."""
    counts = Counter()
    for text in texts:
        counts.update(set(tokenize(text)))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:k]
    return {term: i for i, (term, _) in enumerate(ranked)}


@dataclass(frozen=True)
class SparseBinary:
    """A binary matrix in CSR form: row ``i`` has ones at ``indices[indptr[i]:indptr[i + 1]]``."""

    indptr: np.ndarray  # int64 [n + 1]
    indices: np.ndarray  # int32 [nnz], sorted within each row
    num_features: int

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.indptr) - 1, self.num_features)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def density(self) -> float:
        """Fraction of non-zero entries."""
        n, d = self.shape
        return float(len(self.indices)) / max(n * d, 1)

    def take(self, rows) -> "SparseBinary":
        """The sub-matrix of ``rows`` (in that order)."""
        rows = np.asarray(rows, np.int64).reshape(-1)
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        pos = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return SparseBinary(indptr, self.indices[pos], self.num_features)

    def densify(self, rows=None) -> np.ndarray:
        """A float32 dense ``[len(rows), num_features]`` batch of 0/1 (all rows if ``rows`` is None)."""
        sub = self if rows is None else self.take(rows)
        out = np.zeros(sub.shape, np.float32)
        row_of = np.repeat(np.arange(len(sub)), np.diff(sub.indptr))
        out[row_of, sub.indices] = 1.0
        return out


def bag_of_words(texts: Sequence[str], vocabulary: dict[str, int]) -> SparseBinary:
    """Binary presence of the ``vocabulary`` terms in each text, as :class:`SparseBinary`."""
    indptr, indices = [0], []
    for text in texts:
        cols = sorted({vocabulary[t] for t in tokenize(text) if t in vocabulary})
        indices.extend(cols)
        indptr.append(len(indices))
    return SparseBinary(np.asarray(indptr, np.int64), np.asarray(indices, np.int32), len(vocabulary))


def kfold_indices(n: int, n_folds: int = 10, seed: int = 0) -> list[np.ndarray]:
    """``n_folds`` disjoint index arrays covering ``range(n)`` (a seeded permutation, nearly equal parts)."""
    if not 2 <= n_folds <= n:
        raise ValueError(f"expected 2 <= n_folds <= n, got n_folds={n_folds} for n={n}")
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, n_folds)]


def polarity(ratings) -> tuple[np.ndarray, np.ndarray]:
    """``(kept row indices, labels)``: ratings <= 2 -> 0 (negative), >= 4 -> 1 (positive), 3 dropped."""
    ratings = np.asarray(ratings)
    keep = np.flatnonzero(ratings != 3)
    return keep, (ratings[keep] >= 4).astype(np.int32)


def load_fold(path: str, fold: int = 0, n_folds: int = 10, seed: int = 0, k: int = DEFAULT_K,
              binary_polarity: bool = False, dense: bool = True, unlabeled: str | None = None) -> dict:
    """Cross-validation fold ``fold`` of the reviews in ``path`` as ``{"train", "valid", "test"}`` splits.

    ``test`` is fold ``fold``, ``valid`` fold ``(fold + 1) % n_folds``, ``train`` the other folds; the
    vocabulary (``k`` terms) is built from ``train`` (and the unlabeled reviews) only. Labels:
    ``rating - 1`` (0..4), or 0/1 with ``binary_polarity`` (3-star reviews dropped before the folds
    are cut). With ``dense=False`` the inputs are :class:`SparseBinary`; otherwise float32 arrays.
    ``unlabeled``: a file of unlabeled reviews (:func:`read_unlabeled_reviews`), returned as the extra
    split ``"unlabeled": (x, None)``, for pre-training only; it never enters the folds.
    """
    texts, ratings = read_reviews(path)
    if binary_polarity:
        keep, labels = polarity(ratings)
        texts = [texts[i] for i in keep]
    else:
        labels = ratings - 1
    folds = kfold_indices(len(texts), n_folds, seed)
    if not 0 <= fold < n_folds:
        raise ValueError(f"expected 0 <= fold < {n_folds}, got {fold}")
    test, valid = folds[fold], folds[(fold + 1) % n_folds]
    train = np.sort(np.concatenate([f for i, f in enumerate(folds) if i not in (fold, (fold + 1) % n_folds)]))
    extra = [] if unlabeled is None else read_unlabeled_reviews(unlabeled)
    vocabulary = build_vocabulary([texts[i] for i in train] + extra, k)
    matrix = bag_of_words(texts, vocabulary)
    out = {}
    for name, rows in (("train", train), ("valid", valid), ("test", test)):
        x = matrix.take(rows)
        out[name] = (x.densify() if dense else x, labels[rows].astype(np.int32))
    if unlabeled is not None:
        x = bag_of_words(extra, vocabulary)
        out["unlabeled"] = (x.densify() if dense else x, None)
    return out


_NEUTRAL = ("the", "food", "service", "table", "we", "was", "and", "a", "our", "dinner", "waiter", "menu")
_BY_RATING = {
    1: ("awful", "cold", "rude", "never", "worst", "terrible"),
    2: ("bland", "slow", "disappointing", "noisy", "mediocre", "overpriced"),
    3: ("okay", "average", "decent", "fine", "ordinary", "acceptable"),
    4: ("good", "tasty", "friendly", "nice", "fresh", "pleasant"),
    5: ("excellent", "superb", "wonderful", "amazing", "perfect", "outstanding"),
}


def make_synthetic_reviews(path: str, n: int = 200, seed: int = 0, labeled: bool = True) -> str:
    """Write ``n`` SYNTHETIC reviews to ``path`` (CSV, or JSON Lines if it ends in ``.jsonl``).

    Each review draws 8..20 words from a neutral vocabulary and a rating-dependent one (words typical of
    its star rating, with some from the neighbouring ratings), and starts with the marker word
    ``synthetic``. Ratings are uniform on 1..5. With ``labeled=False`` the file has no rating (column
    or key): unlabeled reviews drawn the same way, for pre-training. Deterministic given ``seed``.
    Returns ``path``.
    """
    rng = np.random.default_rng(seed)
    ratings = rng.integers(1, 6, n)
    rows = []
    for r in ratings:
        length = int(rng.integers(8, 21))
        words = ["synthetic"]
        for _ in range(length):
            u = rng.uniform()
            if u < 0.5:
                words.append(_NEUTRAL[rng.integers(len(_NEUTRAL))])
            else:
                near = int(np.clip(r + (rng.integers(-1, 2) if u > 0.85 else 0), 1, 5))
                pool = _BY_RATING[near]
                words.append(pool[rng.integers(len(pool))])
        rows.append((" ".join(words), int(r)))
    columns = ("text", "rating") if labeled else ("text",)
    rows = [row[: len(columns)] for row in rows]
    if path.endswith((".jsonl", ".json", ".ndjson")):
        text = "".join(json.dumps(dict(zip(columns, row))) + "\n" for row in rows)
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        text = buffer.getvalue()
    return atomic_write_bytes(path, text.encode("utf-8"))
