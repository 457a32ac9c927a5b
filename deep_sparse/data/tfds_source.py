"""Optional source: any TFDS image-classification data set through ``tfds.data_source``.

Needs the extra ``pip install .[tfds]`` (``tensorflow-datasets`` and ``importlib_resources``;
TensorFlow itself is not needed). ``tensorflow_datasets`` is imported lazily, only when this source is
used. Data set names are ``"tfds:NAME"`` in :func:`deep_sparse.data.load` (for example
``"tfds:fashion_mnist"``); MNIST also falls back on it when the files cannot be fetched otherwise.

Each example must have an ``image`` (uint8 ``H x W x C``) and an integer ``label``. Inputs are
``image / 255`` flattened to float32, labels int32. Splits: ``train`` = the TFDS ``train`` split
without its last ``n_valid`` examples, ``valid`` = those last ``n_valid``, ``test`` = the TFDS ``test``
split (for MNIST with ``n_valid = 10000`` this is the paper's split).
"""
from __future__ import annotations

import importlib.util

import numpy as np

__all__ = ["available", "load_arrays", "load_splits", "mnist_splits", "num_classes"]


def available() -> bool:
    """Whether ``tensorflow_datasets`` can be imported."""
    return importlib.util.find_spec("tensorflow_datasets") is not None


def _tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise ImportError("the TFDS source needs the optional extra: pip install 'deep-sparse[tfds]' "
                          f"(tensorflow-datasets, importlib_resources): {error}") from error
    return tfds


def load_arrays(name: str, split: str, data_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x float32 [n, d] in [0, 1], y int32 [n])`` of TFDS ``name``/``split`` via ``tfds.data_source``."""
    tfds = _tfds()
    source = tfds.data_source(name, split=split, data_dir=data_dir)
    n = len(source)
    if n == 0:
        raise ValueError(f"TFDS {name}/{split}: expected examples, the split is empty")
    first = source[0]
    if "image" not in first or "label" not in first:
        raise ValueError(f"TFDS {name}: expected examples with 'image' and 'label', got keys {sorted(first)}")
    d = int(np.asarray(first["image"]).size)
    x = np.empty((n, d), np.float32)
    y = np.empty(n, np.int32)
    for i in range(n):
        example = first if i == 0 else source[i]
        image = np.asarray(example["image"])
        if image.size != d:
            raise ValueError(f"TFDS {name}/{split}: example {i} has {image.size} pixels, expected {d}")
        x[i] = image.reshape(-1)
        y[i] = int(example["label"])
    x /= np.float32(255.0)
    return x, y


def load_splits(name: str, n_valid: int = 10_000, data_dir: str | None = None) -> dict:
    """``{"train", "valid", "test"}`` of TFDS ``name``; ``valid`` = the last ``n_valid`` of ``train``."""
    x, y = load_arrays(name, "train", data_dir)
    if not 0 < n_valid < x.shape[0]:
        raise ValueError(f"TFDS {name}/train has {x.shape[0]} examples, expected more than n_valid={n_valid}")
    return {"train": (x[:-n_valid], y[:-n_valid]), "valid": (x[-n_valid:], y[-n_valid:]),
            "test": load_arrays(name, "test", data_dir)}


def mnist_splits(n_valid: int = 10_000, data_dir: str | None = None) -> dict:
    """MNIST from TFDS with the paper's 50k / 10k / 10k split."""
    return load_splits("mnist", n_valid, data_dir)


def num_classes(name: str) -> int:
    """Number of classes of TFDS ``name`` (from its ``label`` feature)."""
    return int(_tfds().builder(name).info.features["label"].num_classes)
