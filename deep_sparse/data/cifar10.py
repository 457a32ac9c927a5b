"""CIFAR-10, binary version only (``cifar-10-binary.tar.gz``), split 50k / 5k / 5k as in the paper.

Each record of a ``.bin`` batch file is 1 label byte (0..9) followed by 3072 pixel bytes (1024 red,
1024 green, 1024 blue, each a 32x32 image in row-major order). The pickled Python version is never
read (no pickle, ever).

Where the files are looked for, in ``DIR`` (the ``cifar10`` folder of the data directory):
``DIR/data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``, or the same names under
``DIR/cifar-10-batches-bin/`` (the tarball's layout), or the tarball ``DIR/cifar-10-binary.tar.gz``
itself (its members are read by exact name into memory; nothing is extracted).

Splits (the paper reports 50k / 5k / 5k): ``train`` is the five training batches (50,000), ``valid``
the FIRST 5,000 records of ``test_batch.bin``, ``test`` its LAST 5,000. Inputs are ``uint8 / 255`` as
float32 in [0, 1], flattened to 3072 in the file's channel-major order (R plane, G plane, B plane).
"""
from __future__ import annotations

import os

import numpy as np

from .download import read_tar_members

__all__ = ["TRAIN_FILES", "TEST_FILE", "RECORD", "NUM_CLASSES", "parse_batch", "encode_batch", "load_splits",
           "info"]

NUM_CLASSES = 10
RECORD = 1 + 3072
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
TARBALL = "cifar-10-binary.tar.gz"
SUBDIR = "cifar-10-batches-bin"
SIZES = {"train": 50_000, "valid": 5_000, "test": 5_000}


def parse_batch(data: bytes, name: str = "<bytes>") -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 pixels [n, 3072], uint8 labels [n])`` from a binary batch; validates length and labels."""
    if len(data) == 0 or len(data) % RECORD:
        raise ValueError(f"{name}: expected a whole number of {RECORD}-byte records (1 label + 3072 pixels), "
                         f"got {len(data)} bytes")
    records = np.frombuffer(data, np.uint8).reshape(-1, RECORD)
    labels = records[:, 0].copy()
    if labels.max() >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise ValueError(f"{name}: record {bad} has label {int(labels[bad])}, expected 0..9")
    return records[:, 1:].copy(), labels


def encode_batch(pixels, labels) -> bytes:
    """The binary batch encoding of ``uint8 pixels [n, 3072]`` and ``labels [n]``."""
    pixels = np.asarray(pixels, np.uint8).reshape(len(labels), -1)
    if pixels.shape[1] != RECORD - 1:
        raise ValueError(f"expected 3072 pixel bytes per record, got {pixels.shape[1]}")
    labels = np.asarray(labels, np.uint8).reshape(-1, 1)
    return np.concatenate([labels, pixels], axis=1).tobytes()


def _read_files(directory: str) -> dict[str, tuple[str, bytes]]:
    names = TRAIN_FILES + (TEST_FILE,)
    for folder in (directory, os.path.join(directory, SUBDIR)):
        if all(os.path.isfile(os.path.join(folder, n)) for n in names):
            out = {}
            for n in names:
                path = os.path.join(folder, n)
                with open(path, "rb") as f:
                    out[n] = (path, f.read())
            return out
    tarball = os.path.join(directory, TARBALL)
    if os.path.isfile(tarball):
        data = read_tar_members(tarball, {f"{SUBDIR}/{n}": None for n in names})
        return {n: (f"{tarball}:{SUBDIR}/{n}", data[f"{SUBDIR}/{n}"]) for n in names}
    raise FileNotFoundError(f"CIFAR-10 binary files not found in {directory}: expected {', '.join(names)} "
                            f"(directly or under {SUBDIR}/) or {TARBALL}; download the binary version "
                            "from https://www.cs.toronto.edu/~kriz/cifar.html and place it there")


def load_splits(directory: str, n_valid: int = 5_000) -> dict:
    """``{"train", "valid", "test"}`` -> ``(x float32 [n, 3072], y int32 [n])``; see the module docstring."""
    files = _read_files(directory)
    xs, ys = [], []
    for n in TRAIN_FILES:
        x, y = parse_batch(files[n][1], files[n][0])
        xs.append(x)
        ys.append(y)
    tx, ty = parse_batch(files[TEST_FILE][1], files[TEST_FILE][0])
    if not 0 < n_valid < tx.shape[0]:
        raise ValueError(f"{files[TEST_FILE][0]}: has {tx.shape[0]} records, expected more than n_valid={n_valid}")

    def xy(x, y):
        return x.astype(np.float32) / np.float32(255.0), y.astype(np.int32)

    return {"train": xy(np.concatenate(xs), np.concatenate(ys)), "valid": xy(tx[:n_valid], ty[:n_valid]),
            "test": xy(tx[n_valid:], ty[n_valid:])}


def info(directory: str) -> dict:
    """Files present with sizes and record counts, and the split rule."""
    files, missing = [], []
    for n in TRAIN_FILES + (TEST_FILE,):
        found = [p for p in (os.path.join(directory, n), os.path.join(directory, SUBDIR, n)) if os.path.isfile(p)]
        if found:
            size = os.path.getsize(found[0])
            files.append({"name": n, "path": found[0], "size": size, "records": size / RECORD})
        else:
            missing.append(n)
    tarball = os.path.join(directory, TARBALL)
    if os.path.isfile(tarball):
        files.append({"name": TARBALL, "path": tarball, "size": os.path.getsize(tarball)})
    return {"files": files, "missing": missing if not os.path.isfile(tarball) else [], "splits": dict(SIZES),
            "split_rule": "train = data_batch_1..5, valid = first 5,000 of test_batch, test = last 5,000"}
